//! The storage error type and the one place where SQLite errors are mapped onto it.

use std::path::PathBuf;

/// Everything a storage operation can fail with.
///
/// SQLite result codes are translated into these variants in exactly one function,
/// [`Error::from_sqlite`], so callers never see raw constraint text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The requested row does not exist (or a token has expired or been used).
    #[error("{entity} not found")]
    NotFound {
        /// The kind of row that was looked up, such as "user" or "session".
        entity: &'static str,
    },
    /// A unique field already holds this value.
    #[error("a row with this {field} already exists")]
    AlreadyExists {
        /// The logical field that collided, such as "email" or "name".
        field: &'static str,
    },
    /// The input breaks a rule of the schema or of the operation.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The key does not open this database, or the file is not an a2e database.
    #[error("wrong key or not an a2e database: {0}")]
    WrongKey(String),
    /// The database's key is wrapped by a key source that was not provided.
    #[error("database key unavailable: {0}")]
    KeyUnavailable(String),
    /// The SQLite library in this build has no SQLCipher; refusing to write plaintext.
    #[error("SQLCipher is not compiled into this build; refusing to open an unencrypted database")]
    NoCipher,
    /// The database stayed locked by another process for longer than the busy timeout.
    #[error("database is busy; another process holds the write lock")]
    Busy,
    /// Every read connection stayed in use for the whole wait.
    #[error("database is busy: no read connection became free within {0:?}; retry")]
    ReadersBusy(std::time::Duration),
    /// The file system is full; the write was rolled back, and earlier writes are intact.
    #[error("the disk is full: free some space and retry; this write was not saved ({0})")]
    DiskFull(String),
    /// The database file or its directory cannot be written (read-only file system or permissions).
    #[error("the database is read-only: make its data dir writable ({0})")]
    ReadOnly(String),
    /// The file is damaged: a page fails its checksum or the schema is not what a2e expects.
    #[error("database is corrupt: {0}")]
    Corrupt(String),
    /// A schema migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A file-system operation on a database, key or backup file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, such as "writing key store".
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Any other SQLite failure, with SQLite's message.
    #[error("sqlite: {0}")]
    Sqlite(String),
}

/// Shorthand for storage results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Maps a rusqlite error onto the storage error type. This is the only such mapping.
    pub fn from_sqlite(err: rusqlite::Error) -> Error {
        use rusqlite::ffi::ErrorCode;
        match &err {
            rusqlite::Error::QueryReturnedNoRows => Error::NotFound { entity: "row" },
            rusqlite::Error::SqliteFailure(code, message) => {
                let message = message.clone().unwrap_or_default();
                match code.code {
                    ErrorCode::ConstraintViolation => constraint_error(code.extended_code, &message),
                    ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Error::Busy,
                    ErrorCode::NotADatabase => {
                        Error::WrongKey("the file cannot be decrypted with this key (SQLITE_NOTADB)".into())
                    }
                    ErrorCode::DatabaseCorrupt => Error::Corrupt(message),
                    ErrorCode::TooBig => Error::InvalidInput("value too large".into()),
                    ErrorCode::DiskFull => Error::DiskFull(if message.is_empty() { err.to_string() } else { message }),
                    ErrorCode::ReadOnly | ErrorCode::CannotOpen => {
                        Error::ReadOnly(if message.is_empty() { err.to_string() } else { message })
                    }
                    _ => Error::Sqlite(if message.is_empty() { err.to_string() } else { message }),
                }
            }
            _ => Error::Sqlite(err.to_string()),
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { action, path: path.into(), source }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Error::from_sqlite(err)
    }
}

fn constraint_error(extended: i32, message: &str) -> Error {
    use rusqlite::ffi;
    match extended {
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            Error::AlreadyExists { field: unique_field(message) }
        }
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Error::InvalidInput("a referenced row does not exist".into()),
        ffi::SQLITE_CONSTRAINT_CHECK => Error::InvalidInput(format!("value out of range ({})", check_name(message))),
        ffi::SQLITE_CONSTRAINT_NOTNULL => Error::InvalidInput("a required field is missing".into()),
        _ => Error::InvalidInput("constraint violated".into()),
    }
}

/// Turns "UNIQUE constraint failed: users.email_normalized" into the logical field "email".
fn unique_field(message: &str) -> &'static str {
    let column = message
        .rsplit(':')
        .next()
        .and_then(|cols| cols.split(',').next())
        .and_then(|col| col.trim().rsplit('.').next())
        .unwrap_or("");
    match column {
        "email_normalized" | "email" => "email",
        "name" => "name",
        "uuid" => "uuid",
        "key" => "key",
        _ => "id",
    }
}

fn check_name(message: &str) -> String {
    message.rsplit(':').next().unwrap_or("").trim().chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_field_names_the_logical_column() {
        assert_eq!(unique_field("UNIQUE constraint failed: users.email_normalized"), "email");
        assert_eq!(unique_field("UNIQUE constraint failed: users.name"), "name");
        assert_eq!(unique_field("UNIQUE constraint failed: agents.id"), "id");
        assert_eq!(unique_field("garbage"), "id");
    }
}
