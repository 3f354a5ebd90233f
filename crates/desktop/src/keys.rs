//! The database key source of the desktop app: a secret kept in the OS keyring when one is
//! available, falling back as the storage layer does (`A2E_DB_KEY`, `A2E_DB_KEY_FILE`, then the
//! key file in the data dir).

use std::path::Path;

use a2e_db::{KekKind, KeySource, KeyStore};

/// Where a secret can be kept: the OS keyring in the app, something else in tests.
pub trait SecretStore {
    /// The stored secret, `Ok(None)` when there is none yet.
    fn get(&self) -> Result<Option<String>, String>;
    /// Stores `secret`.
    fn set(&self, secret: &str) -> Result<(), String>;
}

/// The OS keyring (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows),
/// one entry per data dir.
pub struct OsKeyring {
    entry: Result<keyring::Entry, String>,
}

impl OsKeyring {
    /// The keyring entry of `data_dir`.
    pub fn for_dir(data_dir: &Path) -> OsKeyring {
        OsKeyring {
            entry: keyring::Entry::new("a2e-desktop", &data_dir.display().to_string()).map_err(|e| e.to_string()),
        }
    }
}

impl SecretStore for OsKeyring {
    fn get(&self) -> Result<Option<String>, String> {
        match self.entry.as_ref()?.get_password() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn set(&self, secret: &str) -> Result<(), String> {
        self.entry.as_ref()?.set_password(secret).map_err(|e| e.to_string())
    }
}

/// The key source for `data_dir`, with the OS keyring.
pub fn key_source(data_dir: &Path) -> Result<KeySource, String> {
    key_source_with(data_dir, &OsKeyring::for_dir(data_dir))
}

/// The key source for `data_dir`: the environment when it names a key; otherwise the secret in
/// `store` (created on first use and read back before it is relied on) unless the database was
/// created with another kind of key; otherwise the key file in the data dir.
pub fn key_source_with(data_dir: &Path, store: &dyn SecretStore) -> Result<KeySource, String> {
    let from_env = || KeySource::from_env(data_dir).map_err(|e| e.to_string());
    if std::env::var_os("A2E_DB_KEY").is_some() || std::env::var_os("A2E_DB_KEY_FILE").is_some() {
        return from_env();
    }
    let existing = KeyStore::load(data_dir).map_err(|e| e.to_string())?.map(|k| k.kek);
    if existing.is_some_and(|kind| kind != KekKind::Secret) {
        return from_env();
    }
    let secret = match store.get() {
        Ok(Some(secret)) => secret,
        Ok(None) if existing.is_none() => {
            let secret = hex::encode(rand::random::<[u8; 32]>());
            match store.set(&secret).and_then(|()| store.get()) {
                Ok(Some(back)) if back == secret => secret,
                Ok(_) => {
                    tracing::warn!("the OS keyring did not keep the database secret; using the key file");
                    return from_env();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no usable OS keyring; using the key file");
                    return from_env();
                }
            }
        }
        Ok(None) => {
            return Err("the database's key is kept in the OS keyring, but the keyring has no entry for it".into())
        }
        Err(e) if existing.is_none() => {
            tracing::warn!(error = %e, "no usable OS keyring; using the key file");
            return from_env();
        }
        Err(e) => return Err(format!("the database's key is kept in the OS keyring, which is unavailable: {e}")),
    };
    KeySource::secret(secret).map_err(|e| e.to_string())
}
