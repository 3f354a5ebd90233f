use std::fs;

use a2e_db::{change_key_source, rekey, Db, Error, KeySource, KeyStore, OpenOptions};

use crate::{key_file, open_temp, secret, user};

fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        out.extend(fs::read(entry.unwrap().path()).unwrap_or_default());
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn database_files_do_not_contain_plaintext() {
    let (dir, db) = open_temp();
    user(&db, "Plaintext-Canary-Name", "canary-email@example.com");
    db.kv_set("p", "k", b"kv-canary-value", 0).unwrap();
    assert!(db.stats().unwrap().wal_bytes > 0, "the canary is in the WAL too");
    let bytes = all_bytes(dir.path());
    for canary in
        ["Plaintext-Canary-Name", "canary-email@example.com", "kv-canary-value", "CREATE TABLE", "SQLite format 3"]
    {
        assert!(!contains(&bytes, canary), "{canary} found in plaintext");
    }
}

#[test]
fn the_plaintext_check_detects_a_plain_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_plain(&dir.path().join("plain.db"), OpenOptions::default()).unwrap();
    user(&db, "Plaintext-Canary-Name", "canary-email@example.com");
    assert!(!db.is_encrypted());
    assert!(contains(&all_bytes(dir.path()), "canary-email@example.com"));
}

#[test]
fn cipher_is_really_compiled_in() {
    let (_dir, db) = open_temp();
    let stats = db.stats().unwrap();
    assert!(stats.encrypted);
    assert!(stats.cipher_version.as_deref().is_some_and(|v| v.starts_with('4')), "{:?}", stats.cipher_version);
}

#[test]
fn wrong_secret_is_a_wrong_key_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(Db::open(dir.path(), &secret("the right secret value")).unwrap());
    let err = Db::open(dir.path(), &secret("the wrong secret value")).unwrap_err();
    assert!(matches!(err, Error::WrongKey(_)), "{err}");
    assert!(err.to_string().starts_with("wrong key or not an a2e database"), "{err}");
}

#[test]
fn a_data_key_that_does_not_match_the_file_is_a_wrong_key_error() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let source = secret("one shared secret value");
    drop(Db::open(a.path(), &source).unwrap());
    let db_b = Db::open(b.path(), &source).unwrap();
    user(&db_b, "x", "x@x.com");
    drop(db_b);
    fs::copy(KeyStore::path(a.path()), KeyStore::path(b.path())).unwrap();
    let err = Db::open(b.path(), &source).unwrap_err();
    assert!(matches!(err, Error::WrongKey(_)), "{err}");
}

#[test]
fn a_foreign_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plain = Db::open_plain(&dir.path().join(a2e_db::DB_FILE), OpenOptions::default()).unwrap();
    drop(plain);
    let err = Db::open(dir.path(), &secret("sixteen-plus-secret")).unwrap_err();
    assert!(matches!(err, Error::KeyUnavailable(_)), "database without key store: {err}");
}

#[test]
fn secret_database_needs_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    drop(Db::open(dir.path(), &secret("the right secret value")).unwrap());
    let err = Db::open(dir.path(), &key_file(&dir)).unwrap_err();
    assert!(matches!(err, Error::KeyUnavailable(_)), "{err}");
    assert!(err.to_string().contains("A2E_DB_KEY"), "{err}");
}

#[test]
fn missing_key_file_is_key_unavailable_and_not_recreated() {
    let (dir, db) = open_temp();
    drop(db);
    fs::remove_file(dir.path().join(a2e_db::keys::KEY_FILE)).unwrap();
    let err = Db::open(dir.path(), &key_file(&dir)).unwrap_err();
    assert!(matches!(err, Error::KeyUnavailable(_)), "{err}");
    assert!(!dir.path().join(a2e_db::keys::KEY_FILE).exists());
}

#[test]
fn rekey_keeps_data_and_retires_the_old_key() {
    let (dir, db) = open_temp();
    let u = user(&db, "ada", "ada@example.com");
    let before = db.key_fingerprint().unwrap();
    drop(db);
    let old_store = fs::read(KeyStore::path(dir.path())).unwrap();
    let report = rekey(dir.path(), &key_file(&dir)).unwrap();
    assert_eq!(report.old_key, before);
    assert_ne!(report.new_key, before);
    let db = Db::open(dir.path(), &key_file(&dir)).unwrap();
    assert_eq!(db.key_fingerprint().unwrap(), report.new_key);
    assert_eq!(db.get_user_by_uuid(&u.uuid).unwrap(), u);
    drop(db);
    fs::write(KeyStore::path(dir.path()), old_store).unwrap();
    assert!(matches!(Db::open(dir.path(), &key_file(&dir)), Err(Error::WrongKey(_))));
}

#[test]
fn change_key_source_rewraps_without_touching_data() {
    let dir = tempfile::tempdir().unwrap();
    let old = secret("the original secret");
    let db = Db::open(dir.path(), &old).unwrap();
    let u = user(&db, "ada", "ada@example.com");
    let key = db.key_fingerprint();
    drop(db);
    let new = KeySource::passphrase("a new passphrase".into()).unwrap();
    change_key_source(dir.path(), &old, &new).unwrap();
    assert!(matches!(Db::open(dir.path(), &old), Err(Error::KeyUnavailable(_))));
    let wrong = KeySource::passphrase("not the passphrase".into()).unwrap();
    assert!(matches!(Db::open(dir.path(), &wrong), Err(Error::WrongKey(_))));
    let db = Db::open(dir.path(), &new).unwrap();
    assert_eq!(db.key_fingerprint(), key, "the data key is unchanged");
    assert_eq!(db.get_user_by_uuid(&u.uuid).unwrap().email, "ada@example.com");
    drop(db);
    // A wrong old key changes nothing.
    let err = change_key_source(dir.path(), &wrong, &old).unwrap_err();
    assert!(matches!(err, Error::WrongKey(_)), "{err}");
    assert!(Db::open(dir.path(), &new).is_ok());
}

#[test]
fn interrupted_rekey_before_the_file_changed_opens_with_the_old_key() {
    let (dir, db) = open_temp();
    let u = user(&db, "ada", "ada@example.com");
    let key = db.key_fingerprint();
    drop(db);
    let store = KeyStore::load(dir.path()).unwrap().unwrap();
    store.with_pending(&key_file(&dir), &a2e_db::DataKey::generate()).unwrap().save(dir.path()).unwrap();
    let db = Db::open(dir.path(), &key_file(&dir)).unwrap();
    assert_eq!(db.key_fingerprint(), key);
    assert_eq!(db.get_user_by_uuid(&u.uuid).unwrap(), u);
    assert_eq!(KeyStore::load(dir.path()).unwrap().unwrap().keys.len(), 1, "the pending key is dropped");
}

#[test]
fn interrupted_rekey_after_the_file_changed_opens_with_the_new_key() {
    let (dir, db) = open_temp();
    let u = user(&db, "ada", "ada@example.com");
    drop(db);
    let before = KeyStore::load(dir.path()).unwrap().unwrap();
    let report = rekey(dir.path(), &key_file(&dir)).unwrap();
    let after = KeyStore::load(dir.path()).unwrap().unwrap();
    // The state a crash between PRAGMA rekey and the final key-store write leaves behind.
    let mut crashed = after.clone();
    crashed.keys = vec![before.keys[0].clone(), after.keys[0].clone()];
    crashed.save(dir.path()).unwrap();
    let db = Db::open(dir.path(), &key_file(&dir)).unwrap();
    assert_eq!(db.key_fingerprint().unwrap(), report.new_key);
    assert_eq!(db.get_user_by_uuid(&u.uuid).unwrap(), u);
    assert_eq!(KeyStore::load(dir.path()).unwrap().unwrap().keys[0].id, report.new_key);
}

#[test]
fn corrupt_key_store_is_a_clear_error() {
    let (dir, db) = open_temp();
    drop(db);
    fs::write(KeyStore::path(dir.path()), "{not json").unwrap();
    let err = Db::open(dir.path(), &key_file(&dir)).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("keystore.json"), "{err}");
}
