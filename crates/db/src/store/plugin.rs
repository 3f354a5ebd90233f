//! Per-plugin key-value store, plugin grants, audit events, rate-limit counters and host secrets.

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::store::chat::Page;
use crate::{Db, Error, Result};
pub use a2e_abi::{RateDecision, SecretInfo};
use zeroize::Zeroizing;

/// Largest value the key-value store accepts, in bytes.
pub const MAX_KV_VALUE: usize = 1 << 20;

/// One key-value entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    /// The key.
    pub key: String,
    /// The value bytes.
    pub value: Vec<u8>,
    /// Last update time, Unix ms.
    pub updated_at: i64,
}

/// One stored grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Plugin name.
    pub plugin: String,
    /// Grant name, such as "db.users.read".
    pub grant: String,
    /// When it was granted, Unix ms.
    pub granted_at: i64,
}

/// An audit event to record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAuditEvent {
    /// Event kind, such as "login.failed".
    pub kind: String,
    /// Plugin that emitted it, if any.
    #[serde(default)]
    pub plugin: Option<String>,
    /// User it concerns, if any.
    #[serde(default)]
    pub user_uuid: Option<String>,
    /// Client address, if known.
    #[serde(default)]
    pub client_addr: Option<String>,
    /// Further details as a JSON object (never secrets).
    #[serde(default)]
    pub data: serde_json::Value,
}

/// A recorded audit event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Sequence number.
    pub id: i64,
    /// Time, Unix ms.
    pub at: i64,
    /// Event kind.
    pub kind: String,
    /// Plugin that emitted it.
    pub plugin: Option<String>,
    /// User it concerns.
    pub user_uuid: Option<String>,
    /// Client address.
    pub client_addr: Option<String>,
    /// Details.
    pub data: serde_json::Value,
}

/// Filter for [`Db::list_audit_events`]; unset fields match everything.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Only this kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Only this plugin.
    #[serde(default)]
    pub plugin: Option<String>,
    /// Only this user.
    #[serde(default)]
    pub user_uuid: Option<String>,
    /// Only events with a smaller id (for paging backwards from the newest).
    #[serde(default)]
    pub before_id: Option<i64>,
}

fn check_kv_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 512 {
        return Err(Error::InvalidInput("kv key must be 1 to 512 bytes".into()));
    }
    Ok(())
}

fn audit_from_row(row: &Row<'_>) -> rusqlite::Result<AuditEvent> {
    let data: String = row.get(6)?;
    Ok(AuditEvent {
        id: row.get(0)?,
        at: row.get(1)?,
        kind: row.get(2)?,
        plugin: row.get(3)?,
        user_uuid: row.get(4)?,
        client_addr: row.get(5)?,
        data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
    })
}

impl Db {
    /// Reads a plugin's key.
    pub fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<KvEntry>> {
        check_kv_key(key)?;
        self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT key, value, updated_at FROM plugin_kv WHERE plugin = ?1 AND key = ?2",
                    params![plugin, key],
                    |row| Ok(KvEntry { key: row.get(0)?, value: row.get(1)?, updated_at: row.get(2)? }),
                )
                .optional()?)
        })
    }

    /// Writes a plugin's key.
    pub fn kv_set(&self, plugin: &str, key: &str, value: &[u8], now: i64) -> Result<()> {
        check_kv_key(key)?;
        if value.len() > MAX_KV_VALUE {
            return Err(Error::InvalidInput(format!("kv value exceeds {MAX_KV_VALUE} bytes")));
        }
        self.write(|tx| {
            tx.execute(
                "INSERT INTO plugin_kv (plugin, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![plugin, key, value, now],
            )?;
            Ok(())
        })
    }

    /// Writes many of a plugin's keys in one transaction (all or none), as an import would.
    pub fn kv_set_many(&self, plugin: &str, entries: &[(String, Vec<u8>)], now: i64) -> Result<()> {
        for (key, value) in entries {
            check_kv_key(key)?;
            if value.len() > MAX_KV_VALUE {
                return Err(Error::InvalidInput(format!("kv value of `{key}` exceeds {MAX_KV_VALUE} bytes")));
            }
        }
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO plugin_kv (plugin, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )?;
            for (key, value) in entries {
                stmt.execute(params![plugin, key, value, now])?;
            }
            Ok(())
        })
    }

    /// Deletes a plugin's key; returns whether it existed.
    pub fn kv_delete(&self, plugin: &str, key: &str) -> Result<bool> {
        check_kv_key(key)?;
        self.write(|tx| {
            Ok(tx.execute("DELETE FROM plugin_kv WHERE plugin = ?1 AND key = ?2", params![plugin, key])? == 1)
        })
    }

    /// Lists a plugin's keys starting with `prefix`, in key order.
    pub fn kv_list(&self, plugin: &str, prefix: &str, page: Page) -> Result<Vec<KvEntry>> {
        self.kv_list_after(plugin, prefix, None, page)
    }

    /// Lists a plugin's keys starting with `prefix` and sorting after `after` (keyset paging:
    /// a seek on the primary key, however far into the list), in key order.
    pub fn kv_list_after(&self, plugin: &str, prefix: &str, after: Option<&str>, page: Page) -> Result<Vec<KvEntry>> {
        let (limit, offset) = (i64::from(page.limit.clamp(1, 1000)), i64::from(page.offset));
        // Range scan on the primary key from one lower bound (SQLite seeks to one bound; a
        // second would be a filter over every key from the prefix on): keys after `after` when
        // it sorts at or past the prefix, else from the prefix, up to prefix + U+10FFFF.
        let upper = format!("{prefix}\u{10FFFF}");
        let (sql, lower) = match after {
            Some(after) if after >= prefix => (
                "SELECT key, value, updated_at FROM plugin_kv
                 WHERE plugin = ?1 AND key > ?2 AND key < ?3 ORDER BY key LIMIT ?4 OFFSET ?5",
                after,
            ),
            _ => (
                "SELECT key, value, updated_at FROM plugin_kv
                 WHERE plugin = ?1 AND key >= ?2 AND key < ?3 ORDER BY key LIMIT ?4 OFFSET ?5",
                prefix,
            ),
        };
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map(params![plugin, lower, upper, limit, offset], |row| {
                Ok(KvEntry { key: row.get(0)?, value: row.get(1)?, updated_at: row.get(2)? })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Deletes all of a plugin's keys (used when a plugin is removed).
    pub fn kv_clear(&self, plugin: &str) -> Result<u64> {
        self.write(|tx| Ok(tx.execute("DELETE FROM plugin_kv WHERE plugin = ?1", [plugin])? as u64))
    }

    /// Stores (or replaces) the secret `name` of `plugin`, bound to `origin`. The caller checks
    /// the name, value and origin.
    pub fn set_plugin_secret(
        &self,
        plugin: &str,
        name: &str,
        value: &str,
        origin: &str,
        now: i64,
    ) -> Result<SecretInfo> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO plugin_secrets (plugin, name, value, origin, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (plugin, name) DO UPDATE SET value = excluded.value, origin = excluded.origin,
                 updated_at = excluded.updated_at",
                params![plugin, name, value, origin, now],
            )?;
            Ok(())
        })?;
        Ok(SecretInfo { name: name.to_owned(), origin: origin.to_owned(), updated_at: now })
    }

    /// The secrets of `plugin` by name, without their values.
    pub fn list_plugin_secrets(&self, plugin: &str) -> Result<Vec<SecretInfo>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, origin, updated_at FROM plugin_secrets WHERE plugin = ?1 ORDER BY name",
            )?;
            let rows = stmt.query_map([plugin], |r| {
                Ok(SecretInfo { name: r.get(0)?, origin: r.get(1)?, updated_at: r.get(2)? })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The value of the secret `name` of `plugin` and the origin it is bound to.
    pub fn plugin_secret(&self, plugin: &str, name: &str) -> Result<Option<(Zeroizing<String>, String)>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT value, origin FROM plugin_secrets WHERE plugin = ?1 AND name = ?2")?
                .query_row(params![plugin, name], |r| Ok((Zeroizing::new(r.get(0)?), r.get(1)?)))
                .optional()?)
        })
    }

    /// Deletes one secret; returns whether it existed.
    pub fn delete_plugin_secret(&self, plugin: &str, name: &str) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute("DELETE FROM plugin_secrets WHERE plugin = ?1 AND name = ?2", params![plugin, name])? == 1)
        })
    }

    /// Deletes every secret of a plugin (used when a plugin is removed).
    pub fn delete_plugin_secrets(&self, plugin: &str) -> Result<u64> {
        self.write(|tx| Ok(tx.execute("DELETE FROM plugin_secrets WHERE plugin = ?1", [plugin])? as u64))
    }

    /// Grants `grants` to `plugin` (existing grants stay).
    pub fn grant(&self, plugin: &str, grants: &[String], now: i64) -> Result<()> {
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO plugin_grants (plugin, grant_name, granted_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (plugin, grant_name) DO NOTHING",
            )?;
            for grant in grants {
                stmt.execute(params![plugin, grant, now])?;
            }
            Ok(())
        })
    }

    /// Revokes one grant; returns whether it was held.
    pub fn revoke(&self, plugin: &str, grant: &str) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute("DELETE FROM plugin_grants WHERE plugin = ?1 AND grant_name = ?2", params![plugin, grant])?
                == 1)
        })
    }

    /// Revokes every grant of a plugin.
    pub fn revoke_all(&self, plugin: &str) -> Result<u64> {
        self.write(|tx| Ok(tx.execute("DELETE FROM plugin_grants WHERE plugin = ?1", [plugin])? as u64))
    }

    /// Lists a plugin's grants by name.
    pub fn list_grants(&self, plugin: &str) -> Result<Vec<Grant>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT plugin, grant_name, granted_at FROM plugin_grants WHERE plugin = ?1 ORDER BY grant_name",
            )?;
            let rows = stmt.query_map([plugin], |row| {
                Ok(Grant { plugin: row.get(0)?, grant: row.get(1)?, granted_at: row.get(2)? })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Records an audit event and returns it with its id.
    pub fn record_audit_event(&self, event: &NewAuditEvent, now: i64) -> Result<AuditEvent> {
        if event.kind.is_empty() || event.kind.len() > 128 {
            return Err(Error::InvalidInput("audit event kind must be 1 to 128 bytes".into()));
        }
        let data = if event.data.is_null() { "{}".to_owned() } else { event.data.to_string() };
        self.write(|tx| {
            Ok(tx.query_row(
                "INSERT INTO audit_events (at, kind, plugin, user_uuid, client_addr, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 RETURNING id, at, kind, plugin, user_uuid, client_addr, data",
                params![now, event.kind, event.plugin, event.user_uuid, event.client_addr, data],
                audit_from_row,
            )?)
        })
    }

    /// Lists audit events, newest first.
    pub fn list_audit_events(&self, filter: &AuditFilter, page: Page) -> Result<Vec<AuditEvent>> {
        let (limit, offset) = (i64::from(page.limit.clamp(1, 1000)), i64::from(page.offset));
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, at, kind, plugin, user_uuid, client_addr, data FROM audit_events
                 WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR plugin = ?2) AND (?3 IS NULL OR user_uuid = ?3)
                   AND (?4 IS NULL OR id < ?4)
                 ORDER BY id DESC LIMIT ?5 OFFSET ?6",
            )?;
            let rows = stmt.query_map(
                params![filter.kind, filter.plugin, filter.user_uuid, filter.before_id, limit, offset],
                audit_from_row,
            )?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Counts one hit against a fixed-window budget of `max` per `window_ms`, atomically.
    ///
    /// The check and the increment are one transaction, so N concurrent hits can never exceed `max`
    /// allowed ones.
    pub fn rate_limit_hit(&self, scope: &str, key: &str, max: u32, window_ms: i64, now: i64) -> Result<RateDecision> {
        if window_ms <= 0 {
            return Err(Error::InvalidInput("rate limit window must be positive".into()));
        }
        self.write(|tx| {
            let row: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT window_start, count FROM rate_limits WHERE scope = ?1 AND key = ?2",
                    params![scope, key],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let (start, count) = match row {
                Some((start, count)) if now < start + window_ms => (start, count),
                _ => (now, 0),
            };
            let allowed = count < i64::from(max);
            let count = if allowed { count + 1 } else { count };
            tx.execute(
                "INSERT INTO rate_limits (scope, key, window_start, count) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (scope, key) DO UPDATE SET window_start = excluded.window_start, count = excluded.count",
                params![scope, key, start, count],
            )?;
            Ok(RateDecision {
                allowed,
                count: u32::try_from(count).unwrap_or(u32::MAX),
                retry_after_ms: if allowed { 0 } else { start + window_ms - now },
            })
        })
    }

    /// Reads a counter without counting a hit.
    pub fn rate_limit_peek(&self, scope: &str, key: &str, window_ms: i64, now: i64) -> Result<u32> {
        self.read(|conn| {
            let row: Option<(i64, i64)> = conn
                .query_row(
                    "SELECT window_start, count FROM rate_limits WHERE scope = ?1 AND key = ?2",
                    params![scope, key],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            Ok(match row {
                Some((start, count)) if now < start + window_ms => u32::try_from(count).unwrap_or(u32::MAX),
                _ => 0,
            })
        })
    }

    /// Clears a counter (a successful login resets its failure count).
    pub fn rate_limit_reset(&self, scope: &str, key: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM rate_limits WHERE scope = ?1 AND key = ?2", params![scope, key])?;
            Ok(())
        })
    }

    /// Deletes counters whose window started before `before`; returns how many.
    pub fn rate_limit_cleanup(&self, before: i64) -> Result<u64> {
        self.write(|tx| Ok(tx.execute("DELETE FROM rate_limits WHERE window_start < ?1", [before])? as u64))
    }

    /// Returns the host secret `name`, creating it with `make` on first use (in one transaction).
    /// The database is encrypted, so the secret is stored encrypted at rest.
    pub fn host_secret(&self, name: &str, now: i64, make: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>> {
        self.write(|tx| {
            let existing: Option<Vec<u8>> =
                tx.query_row("SELECT value FROM host_secrets WHERE name = ?1", [name], |row| row.get(0)).optional()?;
            if let Some(value) = existing {
                return Ok(value);
            }
            let value = make();
            tx.execute(
                "INSERT INTO host_secrets (name, value, created_at) VALUES (?1, ?2, ?3)",
                params![name, value, now],
            )?;
            Ok(value)
        })
    }
}
