//! a2e-db: the storage layer of a2e.
//!
//! An embedded SQLite database encrypted with SQLCipher, opened as one writer plus a pool of
//! readers in WAL mode, migrated to the current schema on open, and reached only through typed
//! operations on [`Db`]. Keys are managed as an envelope (see [`keys`]): a random data key is the
//! SQLCipher raw key, wrapped by a key-encryption key from `A2E_DB_KEY`, `A2E_DB_KEY_FILE`, a
//! passphrase, or a key file in the data dir.
//!
//! Every timestamp is Unix time in milliseconds and is supplied by the caller, so the caller's clock
//! (which tests control) is the only clock.
//!
//! ```no_run
//! use a2e_db::{Db, KeySource, NewUser};
//! # fn main() -> a2e_db::Result<()> {
//! let dir = std::path::Path::new("/tmp/a2e-example");
//! let db = Db::open(dir, &KeySource::from_env(dir)?)?;
//! let user = db.create_user(
//!     &NewUser { name: "ada".into(), email: "Ada@Example.com".into(), password_hash: "$argon2id$...".into(), ..Default::default() },
//!     1_700_000_000_000,
//! )?;
//! assert_eq!(db.get_user_by_email("ada@example.com")?.uuid, user.uuid);
//! # Ok(()) }
//! ```

mod conn;
mod error;
pub mod keys;
mod maintenance;
pub mod migrations;
pub mod store;

pub use conn::{Db, OpenOptions, DB_FILE};
pub use error::{Error, Result};
pub use keys::{DataKey, KekKind, KeySource, KeyStore};
pub use maintenance::{
    backup_keystore_path, change_key_source, rekey, restore, BackupReport, IntegrityReport, RekeyReport, SchemaReport,
    Stats,
};
pub use store::auth::{NewOneTimeToken, NewRefreshToken, NewSession, OneTimeToken, RefreshToken, Rotation, Session};
pub use store::chat::{
    Agent, AgentExecution, AgentExecutionInput, AgentInput, ChatMessage, ChatMessageInput, ChatSession,
    ChatSessionInput, ExecutionFilter, ExecutionUpdate, Page, Setting, MAX_PAGE,
};
pub use store::plugin::{
    AuditEvent, AuditFilter, Grant, KvEntry, NewAuditEvent, RateDecision, SecretInfo, MAX_KV_VALUE,
};
pub use store::users::{normalize_email, NewUser, ProfileUpdate, User, MAX_EMAIL_LEN};
