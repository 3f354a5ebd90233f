use std::fs;

use a2e_db::{backup_keystore_path, rekey, restore, Db, Error};

use crate::{key_file, open_temp, secret, user};

#[test]
fn stats_verify_integrity_and_health() {
    let (_dir, db) = open_temp();
    user(&db, "ada", "ada@example.com");
    let stats = db.stats().unwrap();
    assert_eq!(stats.schema_version, a2e_db::migrations::LATEST_VERSION);
    assert_eq!(stats.tables["users"], 1);
    let data_tables = a2e_db::migrations::EXPECTED_TABLES.iter().filter(|t| !t.contains("_fts")).count();
    assert_eq!(stats.tables.len(), data_tables);
    assert!(stats.file_bytes > 0 && stats.page_size > 0 && stats.key_fingerprint.is_some());
    assert!(db.verify_schema().unwrap().ok);
    let integrity = db.integrity_check().unwrap();
    assert!(integrity.ok, "{integrity:?}");
    db.health().unwrap();
}

#[test]
fn backup_then_restore_round_trips() {
    let (dir, db) = open_temp();
    let kept = user(&db, "kept", "kept@example.com");
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("nested/backup.db");
    let report = db.backup_to(&path, &key_file(&dir)).unwrap();
    assert!(report.bytes > 0);
    assert_eq!(report.keystore_path.as_deref(), Some(backup_keystore_path(&path).as_path()));
    let later = user(&db, "later", "later@example.com");
    drop(db);

    restore(dir.path(), &key_file(&dir), &path).unwrap();
    let db = Db::open(dir.path(), &key_file(&dir)).unwrap();
    assert_eq!(db.get_user_by_uuid(&kept.uuid).unwrap(), kept);
    assert!(matches!(db.get_user_by_uuid(&later.uuid), Err(Error::NotFound { .. })));
    assert!(db.integrity_check().unwrap().ok);
}

#[test]
fn backup_refuses_to_overwrite() {
    let (dir, db) = open_temp();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("b.db");
    fs::write(&path, b"precious").unwrap();
    let err = db.backup_to(&path, &key_file(&dir)).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert_eq!(fs::read(&path).unwrap(), b"precious");
}

#[test]
fn corrupt_backup_is_refused_and_nothing_is_replaced() {
    let (dir, db) = open_temp();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("b.db");
    for i in 0..200 {
        user(&db, &format!("u{i}"), &format!("u{i}@example.com"));
    }
    db.backup_to(&path, &key_file(&dir)).unwrap();
    let survivor = user(&db, "survivor", "survivor@example.com");
    drop(db);
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 64] {
        *b ^= 0xA5;
    }
    fs::write(&path, bytes).unwrap();
    let err = restore(dir.path(), &key_file(&dir), &path).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    let db = Db::open(dir.path(), &key_file(&dir)).unwrap();
    assert_eq!(db.get_user_by_uuid(&survivor.uuid).unwrap(), survivor);
    assert_eq!(db.count_users().unwrap(), 201);
}

#[test]
fn restore_without_the_backup_key_store_is_refused() {
    let (dir, db) = open_temp();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("b.db");
    db.backup_to(&path, &key_file(&dir)).unwrap();
    drop(db);
    fs::remove_file(backup_keystore_path(&path)).unwrap();
    let err = restore(dir.path(), &key_file(&dir), &path).unwrap_err();
    assert!(matches!(err, Error::KeyUnavailable(_)), "{err}");
    let err = restore(dir.path(), &key_file(&dir), &out.path().join("missing.db")).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}

#[test]
fn restore_of_a_backup_taken_before_a_rekey() {
    let (dir, db) = open_temp();
    let u = user(&db, "ada", "ada@example.com");
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("b.db");
    db.backup_to(&path, &key_file(&dir)).unwrap();
    drop(db);
    rekey(dir.path(), &key_file(&dir)).unwrap();
    restore(dir.path(), &key_file(&dir), &path).unwrap();
    let db = Db::open(dir.path(), &key_file(&dir)).unwrap();
    assert_eq!(db.get_user_by_uuid(&u.uuid).unwrap(), u);
}

#[test]
fn restore_into_an_empty_data_dir_with_a_secret() {
    let src = tempfile::tempdir().unwrap();
    let source = secret("disaster recovery secret");
    let db = Db::open(src.path(), &source).unwrap();
    let u = user(&db, "ada", "ada@example.com");
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("b.db");
    db.backup_to(&path, &source).unwrap();
    drop(db);
    let fresh = tempfile::tempdir().unwrap();
    let err = restore(fresh.path(), &secret("not the right secret"), &path).unwrap_err();
    assert!(matches!(err, Error::WrongKey(_)), "{err}");
    restore(fresh.path(), &source, &path).unwrap();
    assert_eq!(Db::open(fresh.path(), &source).unwrap().get_user_by_uuid(&u.uuid).unwrap(), u);
}
