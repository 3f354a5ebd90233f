//! Versioned, forward-only schema migrations; `PRAGMA user_version` is the one schema version.

use std::sync::LazyLock;

use rusqlite::Connection;
use rusqlite_migration::{Migrations, SchemaVersion, M};

use crate::{Error, Result};

/// The SQL of every schema version, oldest first. Version N is `SCRIPTS[N - 1]`.
pub const SCRIPTS: &[&str] =
    &[include_str!("v1.sql"), include_str!("v2.sql"), include_str!("v3.sql"), include_str!("v4.sql")];

/// The schema version this build writes and expects.
pub const LATEST_VERSION: u32 = SCRIPTS.len() as u32;

/// Tables every current database has.
pub const EXPECTED_TABLES: &[&str] = &[
    "agent_executions",
    "agents",
    "audit_events",
    "chat_messages",
    "chat_messages_fts",
    "chat_messages_fts_config",
    "chat_messages_fts_data",
    "chat_messages_fts_docsize",
    "chat_messages_fts_idx",
    "chat_sessions",
    "email_verification_tokens",
    "host_secrets",
    "password_reset_tokens",
    "plugin_grants",
    "plugin_kv",
    "plugin_secrets",
    "rate_limits",
    "refresh_tokens",
    "sessions",
    "settings",
    "users",
];

/// Named indexes every current database has.
pub const EXPECTED_INDEXES: &[&str] = &[
    "agent_executions_agent_id",
    "agent_executions_session_id",
    "agent_executions_started_at",
    "agent_executions_status",
    "agents_is_active",
    "agents_model_name",
    "agents_user_uuid",
    "audit_events_at",
    "audit_events_kind",
    "audit_events_user_uuid",
    "chat_messages_created_at",
    "chat_messages_parent_id",
    "chat_messages_role",
    "chat_messages_session_id",
    "chat_sessions_agent_id",
    "chat_sessions_created_at",
    "chat_sessions_updated_at",
    "chat_sessions_user_uuid",
    "email_verification_tokens_user_uuid",
    "password_reset_tokens_user_uuid",
    "rate_limits_window_start",
    "refresh_tokens_family_id",
    "refresh_tokens_session_id",
    "refresh_tokens_user_uuid",
    "sessions_expires_at",
    "sessions_user_uuid",
];

/// The schema version that introduced `table`.
pub fn table_since(table: &str) -> u32 {
    match table {
        "rate_limits" => 2,
        t if t.starts_with("chat_messages_fts") => 3,
        _ => 1,
    }
}

static MIGRATIONS: LazyLock<Migrations<'static>> =
    LazyLock::new(|| Migrations::new(SCRIPTS.iter().map(|sql| M::up(sql)).collect()));

/// Reads the schema version of an open database (0 for an empty one).
pub fn current_version(conn: &Connection) -> Result<u32> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    u32::try_from(version).map_err(|_| Error::Corrupt(format!("schema version {version} is invalid")))
}

/// Brings the database up to [`LATEST_VERSION`]. Running it again is a no-op.
///
/// A database written by a newer a2e (a version above this build's) is refused, never touched.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, LATEST_VERSION)
}

/// Brings the database up to `version` (used by tests to build every earlier version).
pub fn migrate_to(conn: &mut Connection, version: u32) -> Result<()> {
    let found = current_version(conn)?;
    if found > LATEST_VERSION {
        return Err(Error::Migration(format!(
            "database schema version {found} is newer than this a2e supports ({LATEST_VERSION}); upgrade a2e"
        )));
    }
    if found >= version {
        return Ok(());
    }
    match MIGRATIONS.current_version(conn) {
        Ok(SchemaVersion::Outside(_)) => {
            return Err(Error::Migration("schema version is outside the known range".into()))
        }
        Ok(_) => {}
        Err(err) => return Err(Error::Migration(err.to_string())),
    }
    MIGRATIONS.to_version(conn, version as usize).map_err(|err| Error::Migration(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        MIGRATIONS.validate().expect("migrations validate");
    }

    #[test]
    fn expected_lists_match_the_scripts() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let names = |kind: &str| -> Vec<String> {
            let mut stmt = conn
                .prepare("SELECT name FROM sqlite_schema WHERE type = ?1 AND name NOT LIKE 'sqlite_%' ORDER BY name")
                .unwrap();
            stmt.query_map([kind], |row| row.get(0)).unwrap().map(|r| r.unwrap()).collect()
        };
        assert_eq!(names("table"), EXPECTED_TABLES);
        assert_eq!(names("index"), EXPECTED_INDEXES);
    }
}
