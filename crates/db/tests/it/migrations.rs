use a2e_db::migrations::{current_version, migrate, migrate_to, LATEST_VERSION};
use a2e_db::{Db, Error};
use rusqlite::Connection;

use crate::{key_file, open_temp, user, T0};

#[test]
fn fresh_database_is_at_the_latest_version() {
    let (_dir, db) = open_temp();
    let report = db.verify_schema().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.version, LATEST_VERSION);
}

#[test]
fn reopening_is_idempotent_and_keeps_data() {
    let (dir, db) = open_temp();
    let u = user(&db, "ada", "ada@example.com");
    drop(db);
    for _ in 0..3 {
        let db = Db::open(dir.path(), &key_file(&dir)).unwrap();
        assert_eq!(db.get_user_by_uuid(&u.uuid).unwrap(), u);
        assert_eq!(db.verify_schema().unwrap().version, LATEST_VERSION);
    }
}

#[test]
fn every_earlier_version_migrates_to_the_latest_keeping_rows() {
    for start in 0..LATEST_VERSION {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, start).unwrap();
        assert_eq!(current_version(&conn).unwrap(), start);
        if start >= 1 {
            conn.execute(
                "INSERT INTO users (uuid, name, email, email_normalized, password_hash, created_at, updated_at)
                 VALUES ('u', 'n', 'e@x', 'e@x', 'h', ?1, ?1)",
                [T0],
            )
            .unwrap();
        }
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(current_version(&conn).unwrap(), LATEST_VERSION, "from {start}");
        let users: i64 = conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0)).unwrap();
        assert_eq!(users, i64::from(start >= 1), "from {start}");
    }
}

#[test]
fn a_database_from_a_newer_a2e_is_refused_untouched() {
    let mut conn = Connection::open_in_memory().unwrap();
    migrate(&mut conn).unwrap();
    conn.execute_batch(&format!("PRAGMA user_version = {}", LATEST_VERSION + 1)).unwrap();
    let err = migrate(&mut conn).unwrap_err();
    assert!(matches!(err, Error::Migration(_)), "{err}");
    assert!(err.to_string().contains("upgrade a2e"), "{err}");
    assert_eq!(current_version(&conn).unwrap(), LATEST_VERSION + 1);
}
