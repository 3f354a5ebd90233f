//! Integration tests of a2e-db against real encrypted database files in temp dirs.

mod auth; // sessions, one-time tokens, refresh rotation
mod chat; // agents, chat sessions and messages, settings, executions
mod concurrency; // many writer threads, single-use consumption under contention
mod crash; // SIGKILL during writes, rekey, key-source change and restore
mod fsfaults; // a full disk and a read-only data dir (a tmpfs the test mounts)
mod keys; // wrong key, plaintext check, rekey, key-source change, interrupted key changes
mod maintenance; // stats, verify, integrity, backup and restore
mod migrations; // from empty, idempotent, from every earlier version, newer refused
mod plugin; // kv isolation and prefix listing, grants, audit, rate limits, host secrets
mod users; // create, look up, update, uniqueness on normalised email

use a2e_db::{Db, KeySource, NewOneTimeToken, NewUser, User};
use tempfile::TempDir;

/// A fixed start time for every test clock.
pub const T0: i64 = 1_700_000_000_000;

/// A fresh encrypted database in a temp dir, keyed by the embedded-default key file.
pub fn open_temp() -> (TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), &key_file(&dir)).unwrap();
    (dir, db)
}

/// The embedded-default key source of a temp data dir.
pub fn key_file(dir: &TempDir) -> KeySource {
    KeySource::KeyFile(dir.path().join(a2e_db::keys::KEY_FILE))
}

/// A secret-string key source.
pub fn secret(text: &str) -> KeySource {
    KeySource::secret(text.to_owned()).unwrap()
}

/// Creates a user with a placeholder hash.
pub fn user(db: &Db, name: &str, email: &str) -> User {
    db.create_user(
        &NewUser {
            name: name.into(),
            email: email.into(),
            password_hash: "$argon2id$v=19$stub".into(),
            ..Default::default()
        },
        T0,
    )
    .unwrap()
}

/// A distinct 64-hex-digit token hash.
pub fn hash(n: u32) -> String {
    format!("{n:064x}")
}

/// A one-time token for `user`, hash `hash(n)`, valid for 100 ms after [`T0`].
pub fn one_time(user: &User, n: u32) -> NewOneTimeToken {
    NewOneTimeToken {
        token_hash: hash(n),
        user_uuid: user.uuid.clone(),
        email: user.email.clone(),
        expires_at: T0 + 100,
    }
}
