//! Opening the database: keying, verification, pragmas, migrations, one writer and a pool of readers.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::keys::{DataKey, KeySource, KeyStore};
use crate::{migrations, Error, Result};

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "a2e.db";

/// Tunables for [`Db::open_with`].
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Read-only connections kept for concurrent readers.
    pub readers: usize,
    /// Page cache per connection, in KiB. Encrypted point reads slow down sharply once the working
    /// set falls out of the cache, since every page read from disk is decrypted and authenticated.
    pub cache_kib: u32,
    /// How long a connection waits for another process's lock before reporting [`Error::Busy`].
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { readers: 4, cache_kib: 64 * 1024, busy_timeout: Duration::from_secs(10) }
    }
}

/// A handle on an open a2e database. Cheap to clone; every clone shares the same connections.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    key: Option<DataKey>,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    reader_returned: Condvar,
    /// How long a read waits for a free reader before reporting [`Error::ReadersBusy`].
    reader_wait: Duration,
    watcher: Mutex<Connection>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.inner.path).field("encrypted", &self.is_encrypted()).finish()
    }
}

impl Db {
    /// Opens, creating on first use, the encrypted database in `data_dir`, with default options.
    pub fn open(data_dir: &Path, source: &KeySource) -> Result<Db> {
        Db::open_with(data_dir, source, OpenOptions::default())
    }

    /// Opens, creating on first use, the encrypted database in `data_dir`.
    ///
    /// The data key is unwrapped from the key store with `source`; a second (pending) key left by an
    /// interrupted rekey or restore is tried next, and whichever opens the file becomes the only key.
    pub fn open_with(data_dir: &Path, source: &KeySource, options: OpenOptions) -> Result<Db> {
        create_private_dir(data_dir)?;
        let db_path = data_dir.join(DB_FILE);
        let db_exists = fs::metadata(&db_path).map(|m| m.len() > 0).unwrap_or(false);
        let key = match KeyStore::load(data_dir)? {
            None if db_exists => {
                return Err(Error::KeyUnavailable(format!(
                    "{} exists but its key store {} is missing",
                    db_path.display(),
                    KeyStore::path(data_dir).display()
                )))
            }
            None => {
                let key = DataKey::generate();
                KeyStore::new(source, &key)?.save(data_dir)?;
                key
            }
            Some(store) => {
                let keys = store.unwrap_all(source)?;
                let (index, key) =
                    if db_exists { first_key_that_opens(&db_path, &keys)? } else { (0, keys[0].clone()) };
                if keys.len() > 1 {
                    // Finish (or roll back) an interrupted rekey or restore.
                    store.only(source, &key)?.save(data_dir)?;
                    tracing::info!(kept = index, "completed an interrupted key change");
                }
                key
            }
        };
        Db::open_file(&db_path, Some(key), &options)
    }

    /// Opens an unencrypted database file. Only for benchmarks that compare against plain SQLite;
    /// nothing in a2e opens a plain database by default.
    pub fn open_plain(path: &Path, options: OpenOptions) -> Result<Db> {
        Db::open_file(path, None, &options)
    }

    fn open_file(path: &Path, key: Option<DataKey>, options: &OpenOptions) -> Result<Db> {
        let mut writer = open_connection(path, key.as_ref(), options, false)?;
        migrations::migrate(&mut writer)?;
        let readers = (0..options.readers.max(1))
            .map(|_| open_connection(path, key.as_ref(), options, true))
            .collect::<Result<Vec<_>>>()?;
        let watcher = open_connection(path, key.as_ref(), options, true)?;
        Ok(Db {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                key,
                writer: Mutex::new(writer),
                readers: Mutex::new(readers),
                reader_returned: Condvar::new(),
                reader_wait: options.busy_timeout,
                watcher: Mutex::new(watcher),
            }),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Whether the file is encrypted with SQLCipher.
    pub fn is_encrypted(&self) -> bool {
        self.inner.key.is_some()
    }

    /// Fingerprint of the data key (not the key), if encrypted.
    pub fn key_fingerprint(&self) -> Option<String> {
        self.inner.key.as_ref().map(DataKey::fingerprint)
    }

    pub(crate) fn data_key(&self) -> Option<&DataKey> {
        self.inner.key.as_ref()
    }

    /// A number that changes whenever any connection, in this process or another, commits to the
    /// database (`PRAGMA data_version` on a dedicated connection). Cheap: no disk read. Callers use
    /// it to know when a cache of database state must be reloaded.
    pub fn data_version(&self) -> Result<i64> {
        let conn = self.inner.watcher.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn.prepare_cached("PRAGMA data_version")?;
        Ok(stmt.query_row([], |row| row.get(0))?)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer; commits on `Ok`, rolls back on `Err`.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on a pooled read-only connection, waiting for one to be free at most the busy
    /// timeout; then [`Error::ReadersBusy`].
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = {
            let deadline = std::time::Instant::now() + self.inner.reader_wait;
            let mut pool = self.inner.readers.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(conn) = pool.pop() {
                    break conn;
                }
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Err(Error::ReadersBusy(self.inner.reader_wait));
                }
                pool = self.inner.reader_returned.wait_timeout(pool, left).unwrap_or_else(PoisonError::into_inner).0;
            }
        };
        let guard = ReaderGuard { db: self, conn: Some(conn) };
        f(guard.conn.as_ref().expect("reader present until drop"))
    }
}

struct ReaderGuard<'a> {
    db: &'a Db,
    conn: Option<Connection>,
}

impl Drop for ReaderGuard<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.db.inner.readers.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
            self.db.inner.reader_returned.notify_one();
        }
    }
}

/// Opens one connection: key first, prove SQLCipher is present, prove the key with a read, then pragmas.
pub(crate) fn open_connection(
    path: &Path,
    key: Option<&DataKey>,
    options: &OpenOptions,
    read_only: bool,
) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    if let Some(key) = key {
        key_connection(&conn, key)?;
    }
    conn.busy_timeout(options.busy_timeout)?;
    conn.execute_batch(&format!(
        "PRAGMA cache_size = -{}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
        options.cache_kib
    ))?;
    if !read_only {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Sqlite(format!("could not switch to WAL (journal mode is {mode})")));
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
    } else {
        conn.execute_batch("PRAGMA query_only = ON;")?;
    }
    Ok(conn)
}

/// Keys a fresh connection and verifies the key with a read of the schema.
pub(crate) fn key_connection(conn: &Connection, key: &DataKey) -> Result<()> {
    let version: Option<String> =
        conn.query_row("PRAGMA cipher_version", [], |row| row.get(0)).map(Some).or_else(|err| match err {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            other => Err(other),
        })?;
    if version.is_none() {
        return Err(Error::NoCipher);
    }
    // A wrong key is reported as a typed error; SQLCipher's own stderr log would only add noise.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    conn.pragma_update(None, "key", &*key.pragma_value())?;
    // Page HMACs with SHA-256: half the cost of SQLCipher's default SHA-512 on CPUs with SHA
    // extensions, with the same 256-bit key. Every a2e connection, backup and restore uses it.
    conn.execute_batch("PRAGMA cipher_hmac_algorithm = HMAC_SHA256;")?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get::<_, i64>(0)).map_err(|err| {
        match Error::from_sqlite(err) {
            Error::WrongKey(_) | Error::Corrupt(_) => {
                Error::WrongKey(format!("{} cannot be decrypted with this key", conn.path().unwrap_or("database")))
            }
            other => other,
        }
    })?;
    Ok(())
}

fn first_key_that_opens(path: &Path, keys: &[DataKey]) -> Result<(usize, DataKey)> {
    let mut last = None;
    for (index, key) in keys.iter().enumerate() {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        match key_connection(&conn, key) {
            Ok(()) => return Ok((index, key.clone())),
            Err(err @ Error::WrongKey(_)) => last = Some(err),
            Err(other) => return Err(other),
        }
    }
    Err(last.unwrap_or_else(|| Error::WrongKey("no key in the key store".into())))
}

/// Creates `dir` (and parents) readable only by its owner.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| Error::io("creating data dir", dir, e))
}
