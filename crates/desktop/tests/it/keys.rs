//! The desktop key source: OS keyring when usable, the storage layer's fallbacks otherwise.

use std::cell::RefCell;

use a2e_db::KeySource;
use a2e_desktop::keys::{key_source_with, SecretStore};

/// A store that keeps the secret in memory (a keyring that works).
#[derive(Default)]
struct Working(RefCell<Option<String>>);

impl SecretStore for Working {
    fn get(&self) -> Result<Option<String>, String> {
        Ok(self.0.borrow().clone())
    }
    fn set(&self, secret: &str) -> Result<(), String> {
        *self.0.borrow_mut() = Some(secret.to_owned());
        Ok(())
    }
}

/// A keyring that is not there (no Secret Service on the session bus, say).
struct Missing;

impl SecretStore for Missing {
    fn get(&self) -> Result<Option<String>, String> {
        Err("no Secret Service on the session bus".into())
    }
    fn set(&self, _: &str) -> Result<(), String> {
        Err("no Secret Service on the session bus".into())
    }
}

/// A keyring that accepts a secret and forgets it.
struct Forgetful;

impl SecretStore for Forgetful {
    fn get(&self) -> Result<Option<String>, String> {
        Ok(None)
    }
    fn set(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
}

fn clear_env() {
    std::env::remove_var("A2E_DB_KEY");
    std::env::remove_var("A2E_DB_KEY_FILE");
}

#[test]
fn a_working_keyring_keeps_the_secret_and_reopens_the_database() {
    clear_env();
    let dir = tempfile::tempdir().unwrap();
    let store = Working::default();
    let source = key_source_with(dir.path(), &store).unwrap();
    assert!(matches!(source, KeySource::Secret(_)));
    let secret = store.0.borrow().clone().unwrap();
    assert_eq!(secret.len(), 64);
    a2e_db::Db::open(dir.path(), &source).unwrap();
    assert!(!dir.path().join("db.key").exists(), "no key file next to the database");
    // Next start: the same secret opens it.
    let again = key_source_with(dir.path(), &store).unwrap();
    a2e_db::Db::open(dir.path(), &again).unwrap();
    // Without the keyring entry the database is not silently re-keyed: a clear error.
    let err = key_source_with(dir.path(), &Forgetful).unwrap_err();
    assert!(err.contains("keyring"), "{err}");
    let err = key_source_with(dir.path(), &Missing).unwrap_err();
    assert!(err.contains("unavailable"), "{err}");
}

#[test]
fn without_a_keyring_the_key_file_is_used() {
    clear_env();
    for store in [&Missing as &dyn SecretStore, &Forgetful] {
        let dir = tempfile::tempdir().unwrap();
        let source = key_source_with(dir.path(), store).unwrap();
        assert!(matches!(source, KeySource::KeyFile(_)), "{source:?}");
        a2e_db::Db::open(dir.path(), &source).unwrap();
    }
}

#[test]
fn a_database_keyed_another_way_keeps_its_key_source() {
    clear_env();
    let dir = tempfile::tempdir().unwrap();
    a2e_db::Db::open(dir.path(), &KeySource::KeyFile(dir.path().join("db.key"))).unwrap();
    let store = Working::default();
    let source = key_source_with(dir.path(), &store).unwrap();
    assert!(matches!(source, KeySource::KeyFile(_)));
    assert!(store.0.borrow().is_none(), "nothing was put into the keyring");
    a2e_db::Db::open(dir.path(), &source).unwrap();
}
