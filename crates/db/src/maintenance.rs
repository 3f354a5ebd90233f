//! Maintenance: stats, schema verification, integrity checks, online backup, verified restore,
//! rekey and key-source changes. Every key change is crash-safe (see `keys`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

use crate::conn::{create_private_dir, key_connection, open_connection, OpenOptions, DB_FILE};
use crate::keys::{sync_dir, DataKey, KeySource, KeyStore, KEY_FILE};
use crate::migrations::{self, EXPECTED_INDEXES, EXPECTED_TABLES, LATEST_VERSION};
use crate::{Db, Error, Result};

/// Suffix of the key-store file written next to a backup.
pub const BACKUP_KEYSTORE_SUFFIX: &str = ".keystore.json";

/// Sizes, counts and cipher settings of an open database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = DbStats))]
pub struct Stats {
    /// Schema version (`PRAGMA user_version`).
    pub schema_version: u32,
    /// Whether SQLCipher encrypts the file.
    pub encrypted: bool,
    /// SQLCipher version, when encrypted.
    pub cipher_version: Option<String>,
    /// Crypto provider, when encrypted.
    pub cipher_provider: Option<String>,
    /// Fingerprint of the data key (never the key), when encrypted.
    pub key_fingerprint: Option<String>,
    /// Page size in bytes.
    pub page_size: i64,
    /// Pages in the file.
    pub page_count: i64,
    /// Size of the database file, in bytes.
    pub file_bytes: u64,
    /// Size of the write-ahead log, in bytes.
    pub wal_bytes: u64,
    /// Rows per table.
    pub tables: BTreeMap<String, i64>,
}

/// How the database's schema compares with the one this build expects ([`Db::verify_schema`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = DbSchemaReport))]
pub struct SchemaReport {
    /// Version found.
    pub version: u32,
    /// Version this build expects.
    pub expected_version: u32,
    /// Expected tables that are missing.
    pub missing_tables: Vec<String>,
    /// Expected indexes that are missing.
    pub missing_indexes: Vec<String>,
    /// Whether everything matches.
    pub ok: bool,
}

/// What the page checks of the database found ([`Db::integrity_check`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = DbIntegrityReport))]
pub struct IntegrityReport {
    /// Problems reported by `PRAGMA quick_check` (empty when fine).
    pub quick_check: Vec<String>,
    /// Pages failing their HMAC in `PRAGMA cipher_integrity_check` (empty when fine).
    pub cipher_integrity_check: Vec<String>,
    /// Whether both checks passed.
    pub ok: bool,
}

/// Where a backup was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = DbBackupReport))]
pub struct BackupReport {
    /// The backup database file.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub path: PathBuf,
    /// The key store needed to restore it (absent for a plain database).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub keystore_path: Option<PathBuf>,
    /// Size of the backup, in bytes.
    pub bytes: u64,
}

/// Result of a rekey.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekeyReport {
    /// Fingerprint of the retired data key.
    pub old_key: String,
    /// Fingerprint of the new data key.
    pub new_key: String,
}

impl Db {
    /// Row counts, file sizes, cipher settings and schema version.
    pub fn stats(&self) -> Result<Stats> {
        let file_bytes = fs::metadata(self.path()).map(|m| m.len()).unwrap_or(0);
        let wal_bytes = fs::metadata(wal_path(self.path())).map(|m| m.len()).unwrap_or(0);
        self.read(|conn| {
            let pragma = |name: &str| -> Result<Option<String>> {
                match conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, String>(0)) {
                    Ok(v) => Ok(Some(v)),
                    Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            };
            let mut tables = BTreeMap::new();
            // The full-text index's own tables are not data of their own.
            for table in EXPECTED_TABLES.iter().filter(|t| !t.contains("_fts")) {
                let count: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0))?;
                tables.insert((*table).to_owned(), count);
            }
            let encrypted = self.is_encrypted();
            Ok(Stats {
                schema_version: migrations::current_version(conn)?,
                encrypted,
                cipher_version: if encrypted { pragma("cipher_version")? } else { None },
                cipher_provider: if encrypted { pragma("cipher_provider")? } else { None },
                key_fingerprint: self.key_fingerprint(),
                page_size: pragma_int(conn, "page_size")?,
                page_count: pragma_int(conn, "page_count")?,
                file_bytes,
                wal_bytes,
                tables,
            })
        })
    }

    /// Checks the schema version and that every expected table and index exists.
    pub fn verify_schema(&self) -> Result<SchemaReport> {
        self.read(verify_schema_on)
    }

    /// Runs `PRAGMA quick_check` and, when encrypted, `PRAGMA cipher_integrity_check`.
    pub fn integrity_check(&self) -> Result<IntegrityReport> {
        let encrypted = self.is_encrypted();
        self.read(|conn| integrity_on(conn, encrypted))
    }

    /// A cheap liveness probe: one read on a pooled connection.
    pub fn health(&self) -> Result<()> {
        // Reading the schema proves the key decrypts the file; the writer is left alone, so a
        // probe never waits behind (or holds up) a write.
        self.read(|conn| Ok(conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get::<_, i64>(0))?))?;
        Ok(())
    }

    /// Copies the live database to `dest` with SQLite's online backup, encrypted with the same data
    /// key, and writes `dest` + ".keystore.json" holding that key wrapped by `source`.
    /// Refuses to overwrite an existing file.
    pub fn backup_to(&self, dest: &Path, source: &KeySource) -> Result<BackupReport> {
        let keystore_path = self.data_key().map(|_| backup_keystore_path(dest));
        for path in std::iter::once(dest).chain(keystore_path.as_deref()) {
            if path.exists() {
                return Err(Error::InvalidInput(format!(
                    "{} already exists; refusing to overwrite it",
                    path.display()
                )));
            }
        }
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        let partial = with_suffix(dest, ".partial");
        let _ = fs::remove_file(&partial);
        let result = (|| {
            let mut out = Connection::open(&partial)?;
            if let Some(key) = self.data_key() {
                key_connection(&out, key)?;
            }
            self.read(|conn| {
                let backup = rusqlite::backup::Backup::new(conn, &mut out)?;
                backup.run_to_completion(1024, std::time::Duration::ZERO, None)?;
                Ok(())
            })?;
            let report = integrity_on(&out, self.data_key().is_some())?;
            if !report.ok {
                return Err(Error::Corrupt(format!("backup copy failed its integrity check: {report:?}")));
            }
            drop(out);
            fs::File::open(&partial)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io("syncing backup", &partial, e))?;
            if let (Some(key), Some(path)) = (self.data_key(), &keystore_path) {
                let text = serde_json::to_string_pretty(&KeyStore::new(source, key)?).expect("key store serialises");
                crate::keys::write_atomic(path, text.as_bytes(), "writing backup key store")?;
            }
            fs::rename(&partial, dest).map_err(|e| Error::io("renaming backup", dest, e))?;
            sync_dir(dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
        })();
        if let Err(err) = result {
            let _ = fs::remove_file(&partial);
            return Err(err);
        }
        let bytes = fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
        Ok(BackupReport { path: dest.to_owned(), keystore_path, bytes })
    }
}

/// Path of the key store written beside a backup.
pub fn backup_keystore_path(backup: &Path) -> PathBuf {
    with_suffix(backup, BACKUP_KEYSTORE_SUFFIX)
}

/// Replaces the database in `data_dir` with the backup at `backup`, after verifying the backup.
///
/// The backup's key store (beside it) is unwrapped with `source`; the backup must open, pass
/// `quick_check` and `cipher_integrity_check`, and carry a known schema, or nothing is touched.
/// Run it while no a2e process has the database open.
pub fn restore(data_dir: &Path, source: &KeySource, backup: &Path) -> Result<()> {
    if !backup.is_file() {
        return Err(Error::InvalidInput(format!("backup file {} not found", backup.display())));
    }
    let sidecar = backup_keystore_path(backup);
    let backup_store = KeyStore::load_file(&sidecar)?
        .ok_or_else(|| Error::KeyUnavailable(format!("the backup's key store {} is missing", sidecar.display())))?;
    let backup_key = backup_store.unwrap_all(source)?.remove(0);
    verify_backup(backup, &backup_key)?;

    create_private_dir(data_dir)?;
    let db_path = data_dir.join(DB_FILE);
    let staged = with_suffix(&db_path, ".restoring");
    fs::copy(backup, &staged).map_err(|e| Error::io("staging backup", &staged, e))?;
    fs::File::open(&staged).and_then(|f| f.sync_all()).map_err(|e| Error::io("syncing staged backup", &staged, e))?;

    let current = KeyStore::load(data_dir)?;
    match &current {
        Some(store) => store.with_pending(source, &backup_key)?.save(data_dir)?,
        None => KeyStore::new(source, &backup_key)?.save(data_dir)?,
    }
    if db_path.exists() {
        checkpoint_if_possible(&db_path, current.as_ref(), source);
        for path in [wal_path(&db_path), with_suffix(&db_path, "-shm")] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("removing old write-ahead log", &path, e)),
            }
        }
    }
    fs::rename(&staged, &db_path).map_err(|e| Error::io("replacing database", &db_path, e))?;
    sync_dir(data_dir)?;
    let finished = match current {
        Some(store) => store.only(source, &backup_key)?,
        None => KeyStore::new(source, &backup_key)?,
    };
    finished.save(data_dir)
}

/// Replaces the data key with a fresh one (`PRAGMA rekey`). Run while no other process has the
/// database open. A crash at any point leaves a database that opens with the old or the new key.
pub fn rekey(data_dir: &Path, source: &KeySource) -> Result<RekeyReport> {
    // Opening first completes any interrupted key change and migrates.
    let db = Db::open_with(data_dir, source, OpenOptions { readers: 1, ..OpenOptions::default() })?;
    let old = db.data_key().cloned().ok_or(Error::NoCipher)?;
    drop(db);
    let store = KeyStore::load(data_dir)?.ok_or_else(|| Error::KeyUnavailable("key store missing".into()))?;
    let new = DataKey::generate();
    store.with_pending(source, &new)?.save(data_dir)?;
    let db_path = data_dir.join(DB_FILE);
    let conn = open_connection(&db_path, Some(&old), &OpenOptions::default(), false)?;
    conn.pragma_update(None, "rekey", &*new.pragma_value())?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    drop(conn);
    // Prove the new key opens the file before the old one is forgotten.
    let check = Connection::open_with_flags(&db_path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    key_connection(&check, &new)?;
    drop(check);
    store.only(source, &new)?.save(data_dir)?;
    Ok(RekeyReport { old_key: old.fingerprint(), new_key: new.fingerprint() })
}

/// Re-wraps the data key under a new key source (a new passphrase, secret or key file).
/// The database file is not touched; the key store is replaced atomically.
pub fn change_key_source(data_dir: &Path, old: &KeySource, new: &KeySource) -> Result<()> {
    let db = Db::open_with(data_dir, old, OpenOptions { readers: 1, ..OpenOptions::default() })?;
    let key = db.data_key().cloned().ok_or(Error::NoCipher)?;
    drop(db);
    KeyStore::new(new, &key)?.save(data_dir)?;
    if let (KeySource::KeyFile(path), false) = (old, matches!(new, KeySource::KeyFile(_))) {
        if path.file_name().is_some_and(|n| n == KEY_FILE) {
            let _ = fs::remove_file(path);
        }
    }
    Ok(())
}

fn verify_backup(path: &Path, key: &DataKey) -> Result<()> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| Error::Corrupt(format!("cannot open backup {}: {e}", path.display())))?;
    key_connection(&conn, key).map_err(|e| match e {
        Error::WrongKey(_) => Error::Corrupt(format!("{} is not a readable a2e backup for this key", path.display())),
        other => other,
    })?;
    let integrity = integrity_on(&conn, true).map_err(|e| Error::Corrupt(format!("backup check failed: {e}")))?;
    if !integrity.ok {
        return Err(Error::Corrupt(format!(
            "backup {} failed its integrity check: {:?} {:?}",
            path.display(),
            integrity.quick_check,
            integrity.cipher_integrity_check
        )));
    }
    let version = migrations::current_version(&conn)?;
    if version == 0 || version > LATEST_VERSION {
        return Err(Error::Corrupt(format!("backup has schema version {version}, expected 1 to {LATEST_VERSION}")));
    }
    let expected: Vec<&str> =
        EXPECTED_TABLES.iter().copied().filter(|t| migrations::table_since(t) <= version).collect();
    let missing = missing_names(&conn, "table", &expected)?;
    if !missing.is_empty() {
        return Err(Error::Corrupt(format!("backup lacks tables: {}", missing.join(", "))));
    }
    Ok(())
}

fn checkpoint_if_possible(db_path: &Path, store: Option<&KeyStore>, source: &KeySource) {
    let Some(keys) = store.and_then(|s| s.unwrap_all(source).ok()) else { return };
    for key in keys {
        if let Ok(conn) = Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_WRITE) {
            if key_connection(&conn, &key).is_ok() {
                let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
                return;
            }
        }
    }
}

fn verify_schema_on(conn: &Connection) -> Result<SchemaReport> {
    let version = migrations::current_version(conn)?;
    let missing_tables = missing_names(conn, "table", EXPECTED_TABLES)?;
    let missing_indexes = missing_names(conn, "index", EXPECTED_INDEXES)?;
    let ok = version == LATEST_VERSION && missing_tables.is_empty() && missing_indexes.is_empty();
    Ok(SchemaReport { version, expected_version: LATEST_VERSION, missing_tables, missing_indexes, ok })
}

fn missing_names(conn: &Connection, kind: &str, expected: &[&str]) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT 1 FROM sqlite_schema WHERE type = ?1 AND name = ?2")?;
    let mut missing = Vec::new();
    for name in expected {
        if !stmt.exists([kind, name])? {
            missing.push((*name).to_owned());
        }
    }
    Ok(missing)
}

fn integrity_on(conn: &Connection, encrypted: bool) -> Result<IntegrityReport> {
    let rows = |sql: &str| -> Result<Vec<String>> {
        let mut stmt = conn.prepare(sql)?;
        let out = stmt.query_map([], |row| row.get::<_, String>(0))?;
        Ok(out.collect::<rusqlite::Result<Vec<_>>>()?)
    };
    let quick_check: Vec<String> = rows("PRAGMA quick_check")?.into_iter().filter(|r| r != "ok").collect();
    let cipher_integrity_check = if encrypted { rows("PRAGMA cipher_integrity_check")? } else { Vec::new() };
    let ok = quick_check.is_empty() && cipher_integrity_check.is_empty();
    Ok(IntegrityReport { quick_check, cipher_integrity_check, ok })
}

/// Reads an integer pragma; SQLCipher reports some of them as text.
fn pragma_int(conn: &Connection, name: &str) -> Result<i64> {
    let value: rusqlite::types::Value = conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))?;
    match value {
        rusqlite::types::Value::Integer(n) => Ok(n),
        rusqlite::types::Value::Text(t) => t.parse().map_err(|_| Error::Sqlite(format!("PRAGMA {name} returned {t}"))),
        other => Err(Error::Sqlite(format!("PRAGMA {name} returned {other:?}"))),
    }
}

fn wal_path(db: &Path) -> PathBuf {
    with_suffix(db, "-wal")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut os = path.as_os_str().to_owned();
    os.push(suffix);
    PathBuf::from(os)
}
