//! Envelope key management: a random data key (the SQLCipher raw key) wrapped by a key-encryption key.
//!
//! The data key never changes when a passphrase changes: only its wrapping does. The key store
//! (`keystore.json` in the data dir) holds the wrapped data key and, while a rekey or restore is in
//! flight, a second "pending" wrapped key. Opening tries the keys in order, so a crash at any point of
//! those operations leaves a database that opens with either the old or the new key.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::{Error, Result};

/// File name of the key store inside the data dir.
pub const KEYSTORE_FILE: &str = "keystore.json";
/// File name of the embedded-default key file inside the data dir.
pub const KEY_FILE: &str = "db.key";
/// Minimum length of a secret from `A2E_DB_KEY` / `A2E_DB_KEY_FILE`.
pub const MIN_SECRET_LEN: usize = 16;
/// Minimum length of an interactive passphrase.
pub const MIN_PASSPHRASE_LEN: usize = 8;

const WRAP_AAD: &[u8] = b"a2e-db-data-key-v1";
const FORMAT: u32 = 1;

/// A 32-byte SQLCipher raw key. Zeroed on drop and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// Draws a fresh key from the operating system's CSPRNG.
    pub fn generate() -> DataKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        DataKey(bytes)
    }

    /// The `PRAGMA key` value: `x'<64 hex digits>'`, which skips SQLCipher's per-connection PBKDF2.
    pub(crate) fn pragma_value(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("x'{}'", hex::encode(self.0.as_ref())))
    }

    /// A short fingerprint (first 8 bytes of SHA-256) to tell keys apart in status output.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(&Sha256::digest(self.0.as_ref())[..8])
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({})", self.fingerprint())
    }
}

/// Where the key-encryption key comes from.
#[derive(Clone)]
pub enum KeySource {
    /// A secret string of at least 16 characters (`A2E_DB_KEY` or the contents of `A2E_DB_KEY_FILE`),
    /// stretched with Argon2id and never stored.
    Secret(Zeroizing<String>),
    /// A passphrase typed by a person, stretched with Argon2id and never stored.
    Passphrase(Zeroizing<String>),
    /// The embedded default: 32 random bytes in a 0600 file in the data dir.
    KeyFile(PathBuf),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Secret(_) => f.write_str("KeySource::Secret(..)"),
            KeySource::Passphrase(_) => f.write_str("KeySource::Passphrase(..)"),
            KeySource::KeyFile(path) => write!(f, "KeySource::KeyFile({})", path.display()),
        }
    }
}

/// The kind of key source recorded in the key store, so a later open can say what it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KekKind {
    /// See [`KeySource::Secret`].
    Secret,
    /// See [`KeySource::Passphrase`].
    Passphrase,
    /// See [`KeySource::KeyFile`].
    KeyFile,
}

impl KeySource {
    /// Picks the key source from the environment: `A2E_DB_KEY`, then `A2E_DB_KEY_FILE`, then the
    /// key file in `data_dir`. A passphrase is never read from the environment; callers ask for it.
    pub fn from_env(data_dir: &Path) -> Result<KeySource> {
        if let Some(secret) = std::env::var_os("A2E_DB_KEY") {
            let secret =
                secret.into_string().map_err(|_| Error::InvalidInput("A2E_DB_KEY is not valid UTF-8".into()))?;
            return KeySource::secret(secret);
        }
        if let Some(path) = std::env::var_os("A2E_DB_KEY_FILE") {
            let path = PathBuf::from(path);
            let text = fs::read_to_string(&path).map_err(|e| Error::io("reading A2E_DB_KEY_FILE", &path, e))?;
            return KeySource::secret(text.trim_end_matches(['\r', '\n']).to_owned());
        }
        Ok(KeySource::KeyFile(data_dir.join(KEY_FILE)))
    }

    /// A secret-string source; refuses secrets shorter than [`MIN_SECRET_LEN`] characters.
    pub fn secret(secret: String) -> Result<KeySource> {
        let secret = Zeroizing::new(secret);
        if secret.chars().count() < MIN_SECRET_LEN {
            return Err(Error::InvalidInput(format!(
                "the database secret must be at least {MIN_SECRET_LEN} characters"
            )));
        }
        Ok(KeySource::Secret(secret))
    }

    /// A passphrase source; refuses passphrases shorter than [`MIN_PASSPHRASE_LEN`] characters.
    pub fn passphrase(passphrase: String) -> Result<KeySource> {
        let passphrase = Zeroizing::new(passphrase);
        if passphrase.chars().count() < MIN_PASSPHRASE_LEN {
            return Err(Error::InvalidInput(format!(
                "the passphrase must be at least {MIN_PASSPHRASE_LEN} characters"
            )));
        }
        Ok(KeySource::Passphrase(passphrase))
    }

    /// The kind recorded in the key store.
    pub fn kind(&self) -> KekKind {
        match self {
            KeySource::Secret(_) => KekKind::Secret,
            KeySource::Passphrase(_) => KekKind::Passphrase,
            KeySource::KeyFile(_) => KekKind::KeyFile,
        }
    }

    /// Derives the key-encryption key. A missing key file is created when `create` is set.
    fn kek(&self, kdf: Option<&KdfParams>, create: bool) -> Result<Zeroizing<[u8; 32]>> {
        match self {
            KeySource::Secret(text) | KeySource::Passphrase(text) => {
                let kdf = kdf.ok_or_else(|| Error::Corrupt("key store lacks KDF parameters".into()))?;
                kdf.derive(text.as_bytes())
            }
            KeySource::KeyFile(path) => read_or_create_key_file(path, create),
        }
    }
}

/// Argon2id parameters and salt for stretching a secret or passphrase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Always "argon2id".
    pub alg: String,
    /// Memory in KiB.
    pub m: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
    /// 16 random bytes, hex.
    pub salt: String,
}

impl KdfParams {
    fn fresh() -> KdfParams {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        // OWASP's argon2id recommendation; the derivation runs once per open.
        KdfParams { alg: "argon2id".into(), m: 19_456, t: 2, p: 1, salt: hex::encode(salt) }
    }

    fn derive(&self, secret: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        if self.alg != "argon2id" || self.m > 1 << 21 || self.t > 64 || self.p > 16 {
            return Err(Error::Corrupt("key store has unsupported KDF parameters".into()));
        }
        let salt = hex::decode(&self.salt).map_err(|_| Error::Corrupt("key store salt is not hex".into()))?;
        let params = Params::new(self.m, self.t, self.p, Some(32))
            .map_err(|e| Error::Corrupt(format!("key store KDF parameters: {e}")))?;
        let mut out = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(secret, &salt, out.as_mut())
            .map_err(|e| Error::Corrupt(format!("key derivation failed: {e}")))?;
        Ok(out)
    }
}

/// One wrapped data key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// Fingerprint of the data key, for status output.
    pub id: String,
    /// 24-byte XChaCha20-Poly1305 nonce, hex.
    pub nonce: String,
    /// The encrypted data key with its tag, hex.
    pub wrapped: String,
}

/// The on-disk key store.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyStore {
    /// Format version of this file.
    pub format: u32,
    /// Which key source wraps the data key.
    pub kek: KekKind,
    /// Argon2id parameters when the source is a secret or a passphrase.
    pub kdf: Option<KdfParams>,
    /// The current wrapped data key first; a second entry is a rekey or restore in flight.
    pub keys: Vec<WrappedKey>,
}

impl KeyStore {
    /// Path of the key store in `data_dir`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(KEYSTORE_FILE)
    }

    /// Reads the key store, or `None` when the data dir has none yet.
    pub fn load(data_dir: &Path) -> Result<Option<KeyStore>> {
        KeyStore::load_file(&KeyStore::path(data_dir))
    }

    /// Reads a key store from an explicit path (such as the one beside a backup).
    pub fn load_file(path: &Path) -> Result<Option<KeyStore>> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading key store", path, e)),
        };
        let store: KeyStore = serde_json::from_str(&text)
            .map_err(|e| Error::Corrupt(format!("{} is not a valid key store: {e}", path.display())))?;
        if store.format != FORMAT || store.keys.is_empty() || store.keys.len() > 2 {
            return Err(Error::Corrupt(format!("{} has an unsupported layout", path.display())));
        }
        Ok(Some(store))
    }

    /// Creates a key store for `key` wrapped by `source`.
    pub fn new(source: &KeySource, key: &DataKey) -> Result<KeyStore> {
        let kdf = match source {
            KeySource::KeyFile(_) => None,
            _ => Some(KdfParams::fresh()),
        };
        let kek = source.kek(kdf.as_ref(), true)?;
        Ok(KeyStore { format: FORMAT, kek: source.kind(), kdf, keys: vec![wrap(&kek, key)?] })
    }

    /// Unwraps every key in the store (current first) with `source`.
    pub fn unwrap_all(&self, source: &KeySource) -> Result<Vec<DataKey>> {
        if source.kind() != self.kek {
            return Err(Error::KeyUnavailable(describe_needed(self.kek)));
        }
        let kek = source.kek(self.kdf.as_ref(), false)?;
        self.keys.iter().map(|w| unwrap(&kek, w)).collect()
    }

    /// Wraps `key` with `source` (which must be the store's source) as an additional pending key.
    pub fn with_pending(&self, source: &KeySource, key: &DataKey) -> Result<KeyStore> {
        if source.kind() != self.kek {
            return Err(Error::KeyUnavailable(describe_needed(self.kek)));
        }
        let kek = source.kek(self.kdf.as_ref(), false)?;
        let mut next = self.clone();
        next.keys.truncate(1);
        next.keys.push(wrap(&kek, key)?);
        Ok(next)
    }

    /// A store holding only `key`, wrapped by `source` (a fresh salt when the source is stretched).
    pub fn only(&self, source: &KeySource, key: &DataKey) -> Result<KeyStore> {
        if source.kind() == self.kek {
            let kek = source.kek(self.kdf.as_ref(), false)?;
            let mut next = self.clone();
            next.keys = vec![wrap(&kek, key)?];
            Ok(next)
        } else {
            KeyStore::new(source, key)
        }
    }

    /// Writes the store atomically: a temp file, fsync, rename over the old one, fsync the directory.
    pub fn save(&self, data_dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("key store serialises");
        write_atomic(&KeyStore::path(data_dir), text.as_bytes(), "writing key store")
    }
}

fn describe_needed(kind: KekKind) -> String {
    match kind {
        KekKind::Secret => {
            "this database's key is wrapped by a secret: set A2E_DB_KEY or A2E_DB_KEY_FILE".into()
        }
        KekKind::Passphrase => "this database's key is wrapped by a passphrase: supply it with --passphrase-stdin or at the prompt".into(),
        KekKind::KeyFile => format!(
            "this database's key is wrapped by the key file {KEY_FILE} in the data dir: unset A2E_DB_KEY and A2E_DB_KEY_FILE"
        ),
    }
}

fn wrap(kek: &[u8; 32], key: &DataKey) -> Result<WrappedKey> {
    let cipher = XChaCha20Poly1305::new(kek.into());
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let wrapped = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: key.0.as_ref(), aad: WRAP_AAD })
        .map_err(|_| Error::Corrupt("wrapping the data key failed".into()))?;
    Ok(WrappedKey { id: key.fingerprint(), nonce: hex::encode(nonce), wrapped: hex::encode(wrapped) })
}

fn unwrap(kek: &[u8; 32], wrapped: &WrappedKey) -> Result<DataKey> {
    let nonce = hex::decode(&wrapped.nonce).ok().filter(|n| n.len() == 24);
    let body = hex::decode(&wrapped.wrapped).ok();
    let (Some(nonce), Some(body)) = (nonce, body) else {
        return Err(Error::Corrupt("key store entry is not valid hex".into()));
    };
    let cipher = XChaCha20Poly1305::new(kek.into());
    let mut plain = Zeroizing::new(
        cipher.decrypt(XNonce::from_slice(&nonce), Payload { msg: &body, aad: WRAP_AAD }).map_err(|_| {
            Error::WrongKey(
                "the key-encryption key does not unwrap the data key (wrong secret, passphrase or key file)".into(),
            )
        })?,
    );
    let bytes: [u8; 32] =
        plain.as_slice().try_into().map_err(|_| Error::Corrupt("unwrapped data key has the wrong length".into()))?;
    plain.zeroize();
    Ok(DataKey(Zeroizing::new(bytes)))
}

fn read_or_create_key_file(path: &Path, create: bool) -> Result<Zeroizing<[u8; 32]>> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let bytes = Zeroizing::new(
                hex::decode(text.trim())
                    .map_err(|_| Error::Corrupt(format!("{} is not a hex key file", path.display())))?,
            );
            let key: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| Error::Corrupt(format!("{} does not hold a 32-byte key", path.display())))?;
            Ok(Zeroizing::new(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let mut key = Zeroizing::new([0u8; 32]);
            rand::rngs::OsRng.fill_bytes(key.as_mut());
            let text = Zeroizing::new(format!("{}\n", hex::encode(key.as_ref())));
            write_atomic(path, text.as_bytes(), "writing key file")?;
            tracing::warn!(
                path = %path.display(),
                "the database key is protected only by a key file next to the database; set A2E_DB_KEY or use a passphrase for stronger protection"
            );
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::KeyUnavailable(format!(
            "the key file {} is missing; without it the database cannot be decrypted",
            path.display()
        ))),
        Err(e) => Err(Error::io("reading key file", path, e)),
    }
}

/// Writes `bytes` to `path` atomically with mode 0600: temp file, fsync, rename, fsync of the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], action: &'static str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(|e| Error::io(action, &tmp, e))?;
    file.write_all(bytes).map_err(|e| Error::io(action, &tmp, e))?;
    file.sync_all().map_err(|e| Error::io(action, &tmp, e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| Error::io(action, path, e))?;
    sync_dir(dir)
}

/// Flushes a directory entry change (a rename or a new file) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let handle = fs::File::open(dir).map_err(|e| Error::io("opening directory", dir, e))?;
        handle.sync_all().map_err(|e| Error::io("syncing directory", dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_shorter_than_sixteen_characters_is_refused() {
        assert!(matches!(KeySource::secret("short".into()), Err(Error::InvalidInput(_))));
        assert!(KeySource::secret("sixteen-chars-ok".into()).is_ok());
    }

    #[test]
    fn wrap_round_trips_and_a_wrong_kek_is_a_wrong_key_error() {
        let key = DataKey::generate();
        let store = KeyStore::new(&KeySource::secret("correct horse battery".into()).unwrap(), &key).unwrap();
        let got = store.unwrap_all(&KeySource::secret("correct horse battery".into()).unwrap()).unwrap();
        assert_eq!(got, vec![key]);
        let err = store.unwrap_all(&KeySource::secret("incorrect horse battery".into()).unwrap()).unwrap_err();
        assert!(matches!(err, Error::WrongKey(_)), "{err}");
    }

    #[test]
    fn a_store_for_another_source_kind_says_what_it_needs() {
        let store =
            KeyStore::new(&KeySource::secret("correct horse battery".into()).unwrap(), &DataKey::generate()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = store.unwrap_all(&KeySource::KeyFile(dir.path().join(KEY_FILE))).unwrap_err();
        assert!(err.to_string().contains("A2E_DB_KEY"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_key_bytes() {
        let key = DataKey::generate();
        let shown = format!("{key:?} {:?}", KeySource::secret("a-very-secret-value".into()).unwrap());
        assert!(!shown.contains(&hex::encode(key.0.as_ref())));
        assert!(!shown.contains("a-very-secret-value"));
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        KeyStore::new(&KeySource::KeyFile(path.clone()), &DataKey::generate()).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
