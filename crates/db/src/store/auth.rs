//! Sessions, email-verification and password-reset tokens, and refresh-token rotation.
//!
//! Every token is stored as the hex SHA-256 of the token the user holds; the raw token never
//! reaches the database.

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::{Db, Error, Result};
pub use a2e_abi::{OneTimeToken, RefreshToken, Rotation, Session};

/// Input for [`Db::create_session`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewSession {
    /// SHA-256 of the session token, hex (64 characters).
    pub id: String,
    /// Owner.
    pub user_uuid: String,
    /// Expiry, Unix ms.
    pub expires_at: i64,
}

/// Input for creating a one-time token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewOneTimeToken {
    /// SHA-256 of the token, hex (64 characters).
    pub token_hash: String,
    /// The user it is issued to.
    pub user_uuid: String,
    /// The email address it is sent to.
    pub email: String,
    /// Expiry, Unix ms.
    pub expires_at: i64,
}

/// Input for [`Db::create_refresh_token`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewRefreshToken {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Family id (new for a login).
    pub family_id: String,
    /// Owner.
    pub user_uuid: String,
    /// The session it belongs to, if any.
    pub session_id: Option<String>,
    /// Expiry, Unix ms.
    pub expires_at: i64,
}

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: row.get(0)?,
        user_uuid: row.get(1)?,
        created_at: row.get(2)?,
        last_seen_at: row.get(3)?,
        expires_at: row.get(4)?,
    })
}

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<OneTimeToken> {
    Ok(OneTimeToken {
        token_hash: row.get(0)?,
        user_uuid: row.get(1)?,
        email: row.get(2)?,
        created_at: row.get(3)?,
        expires_at: row.get(4)?,
    })
}

fn refresh_from_row(row: &Row<'_>) -> rusqlite::Result<RefreshToken> {
    Ok(RefreshToken {
        token_hash: row.get(0)?,
        family_id: row.get(1)?,
        user_uuid: row.get(2)?,
        session_id: row.get(3)?,
        parent_hash: row.get(4)?,
        created_at: row.get(5)?,
        expires_at: row.get(6)?,
        revoked_at: row.get(7)?,
    })
}

const SESSION_COLUMNS: &str = "id, user_uuid, created_at, last_seen_at, expires_at";
const TOKEN_COLUMNS: &str = "token_hash, user_uuid, email, created_at, expires_at";
const REFRESH_COLUMNS: &str =
    "token_hash, family_id, user_uuid, session_id, parent_hash, created_at, expires_at, revoked_at";

/// Which one-time token table an operation works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokenKind {
    EmailVerification,
    PasswordReset,
}

impl TokenKind {
    fn table(self) -> &'static str {
        match self {
            TokenKind::EmailVerification => "email_verification_tokens",
            TokenKind::PasswordReset => "password_reset_tokens",
        }
    }

    fn entity(self) -> &'static str {
        match self {
            TokenKind::EmailVerification => "email verification token",
            TokenKind::PasswordReset => "password reset token",
        }
    }
}

fn check_hash(hash: &str) -> Result<()> {
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::InvalidInput("token hash must be 64 hex digits (SHA-256)".into()));
    }
    Ok(())
}

impl Db {
    /// Stores a new session.
    pub fn create_session(&self, new: &NewSession, now: i64) -> Result<Session> {
        check_hash(&new.id)?;
        self.write(|tx| {
            Ok(tx.query_row(
                &format!(
                    "INSERT INTO sessions (id, user_uuid, created_at, last_seen_at, expires_at)
                     VALUES (?1, ?2, ?3, ?3, ?4) RETURNING {SESSION_COLUMNS}"
                ),
                params![new.id, new.user_uuid, now, new.expires_at],
                session_from_row,
            )?)
        })
    }

    /// Fetches a session by id (expired or not: callers compare `expires_at` with their clock).
    pub fn get_session(&self, id: &str) -> Result<Session> {
        self.read(|conn| {
            conn.query_row(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"), [id], session_from_row)
                .optional()?
                .ok_or(Error::NotFound { entity: "session" })
        })
    }

    /// Records a successful verification and moves the expiry (sliding idle timeout).
    pub fn touch_session(&self, id: &str, now: i64, expires_at: i64) -> Result<()> {
        let changed = self.write(|tx| {
            Ok(tx.execute(
                "UPDATE sessions SET last_seen_at = ?2, expires_at = ?3 WHERE id = ?1 AND expires_at > ?2",
                params![id, now, expires_at],
            )?)
        })?;
        if changed == 0 {
            return Err(Error::NotFound { entity: "session" });
        }
        Ok(())
    }

    /// Lists a user's sessions, newest first.
    pub fn list_user_sessions(&self, user_uuid: &str) -> Result<Vec<Session>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_uuid = ?1 ORDER BY created_at DESC, id"
            ))?;
            let rows = stmt.query_map([user_uuid], session_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Deletes one session; returns whether it existed.
    pub fn delete_session(&self, id: &str) -> Result<bool> {
        self.write(|tx| Ok(tx.execute("DELETE FROM sessions WHERE id = ?1", [id])? == 1))
    }

    /// Deletes every session of a user; returns how many.
    pub fn delete_user_sessions(&self, user_uuid: &str) -> Result<u64> {
        self.write(|tx| Ok(tx.execute("DELETE FROM sessions WHERE user_uuid = ?1", [user_uuid])? as u64))
    }

    /// Deletes sessions whose expiry is at or before `now`; returns how many.
    pub fn cleanup_expired_sessions(&self, now: i64) -> Result<u64> {
        self.write(|tx| Ok(tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])? as u64))
    }

    /// Stores an email-verification token.
    pub fn create_email_verification_token(&self, new: &NewOneTimeToken, now: i64) -> Result<OneTimeToken> {
        self.create_token(TokenKind::EmailVerification, new, now)
    }

    /// Fetches an email-verification token by hash.
    pub fn get_email_verification_token(&self, token_hash: &str) -> Result<OneTimeToken> {
        self.get_token(TokenKind::EmailVerification, token_hash)
    }

    /// Deletes an email-verification token; returns whether it existed.
    pub fn delete_email_verification_token(&self, token_hash: &str) -> Result<bool> {
        self.delete_token(TokenKind::EmailVerification, token_hash)
    }

    /// Deletes and returns an email-verification token in one statement, so it can be used once.
    /// An expired token is deleted too and reported as not found.
    pub fn consume_email_verification_token(&self, token_hash: &str, now: i64) -> Result<OneTimeToken> {
        self.consume_token(TokenKind::EmailVerification, token_hash, now)
    }

    /// Deletes every email-verification token of a user; returns how many.
    pub fn delete_user_email_verification_tokens(&self, user_uuid: &str) -> Result<u64> {
        self.delete_user_tokens(TokenKind::EmailVerification, user_uuid)
    }

    /// Stores a password-reset token.
    pub fn create_password_reset_token(&self, new: &NewOneTimeToken, now: i64) -> Result<OneTimeToken> {
        self.create_token(TokenKind::PasswordReset, new, now)
    }

    /// Fetches a password-reset token by hash.
    pub fn get_password_reset_token(&self, token_hash: &str) -> Result<OneTimeToken> {
        self.get_token(TokenKind::PasswordReset, token_hash)
    }

    /// Deletes a password-reset token; returns whether it existed.
    pub fn delete_password_reset_token(&self, token_hash: &str) -> Result<bool> {
        self.delete_token(TokenKind::PasswordReset, token_hash)
    }

    /// Deletes and returns a password-reset token in one statement (single use).
    pub fn consume_password_reset_token(&self, token_hash: &str, now: i64) -> Result<OneTimeToken> {
        self.consume_token(TokenKind::PasswordReset, token_hash, now)
    }

    /// Replaces every password-reset token of the token's user with this one, in one transaction,
    /// so that a new request invalidates the older links atomically.
    pub fn replace_password_reset_token(&self, new: &NewOneTimeToken, now: i64) -> Result<OneTimeToken> {
        check_hash(&new.token_hash)?;
        self.write(|tx| {
            tx.execute("DELETE FROM password_reset_tokens WHERE user_uuid = ?1", [&new.user_uuid])?;
            Ok(tx.query_row(
                &format!(
                    "INSERT INTO password_reset_tokens (token_hash, user_uuid, email, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING {TOKEN_COLUMNS}"
                ),
                params![new.token_hash, new.user_uuid, new.email, now, new.expires_at],
                token_from_row,
            )?)
        })
    }

    /// Deletes every password-reset token of a user; returns how many.
    pub fn delete_user_password_reset_tokens(&self, user_uuid: &str) -> Result<u64> {
        self.delete_user_tokens(TokenKind::PasswordReset, user_uuid)
    }

    fn create_token(&self, kind: TokenKind, new: &NewOneTimeToken, now: i64) -> Result<OneTimeToken> {
        check_hash(&new.token_hash)?;
        self.write(|tx| {
            Ok(tx.query_row(
                &format!(
                    "INSERT INTO {} (token_hash, user_uuid, email, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING {TOKEN_COLUMNS}",
                    kind.table()
                ),
                params![new.token_hash, new.user_uuid, new.email, now, new.expires_at],
                token_from_row,
            )?)
        })
    }

    fn get_token(&self, kind: TokenKind, token_hash: &str) -> Result<OneTimeToken> {
        self.read(|conn| {
            conn.query_row(
                &format!("SELECT {TOKEN_COLUMNS} FROM {} WHERE token_hash = ?1", kind.table()),
                [token_hash],
                token_from_row,
            )
            .optional()?
            .ok_or(Error::NotFound { entity: kind.entity() })
        })
    }

    fn delete_token(&self, kind: TokenKind, token_hash: &str) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(&format!("DELETE FROM {} WHERE token_hash = ?1", kind.table()), [token_hash])? == 1)
        })
    }

    fn delete_user_tokens(&self, kind: TokenKind, user_uuid: &str) -> Result<u64> {
        self.write(|tx| {
            Ok(tx.execute(&format!("DELETE FROM {} WHERE user_uuid = ?1", kind.table()), [user_uuid])? as u64)
        })
    }

    fn consume_token(&self, kind: TokenKind, token_hash: &str, now: i64) -> Result<OneTimeToken> {
        let token = self.write(|tx| {
            Ok(tx
                .query_row(
                    &format!("DELETE FROM {} WHERE token_hash = ?1 RETURNING {TOKEN_COLUMNS}", kind.table()),
                    [token_hash],
                    token_from_row,
                )
                .optional()?)
        })?;
        match token {
            Some(token) if token.expires_at > now => Ok(token),
            _ => Err(Error::NotFound { entity: kind.entity() }),
        }
    }

    /// Stores the first refresh token of a family.
    pub fn create_refresh_token(&self, new: &NewRefreshToken, now: i64) -> Result<RefreshToken> {
        check_hash(&new.token_hash)?;
        self.write(|tx| insert_refresh(tx, new, None, now))
    }

    /// Fetches a refresh token by hash.
    pub fn get_refresh_token(&self, token_hash: &str) -> Result<RefreshToken> {
        self.read(|conn| {
            conn.query_row(
                &format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = ?1"),
                [token_hash],
                refresh_from_row,
            )
            .optional()?
            .ok_or(Error::NotFound { entity: "refresh token" })
        })
    }

    /// Uses a refresh token once: marks it used and issues its successor in one transaction.
    ///
    /// Presenting a token that was already used revokes its whole family (reuse detection).
    pub fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        new_expires_at: i64,
        now: i64,
    ) -> Result<Rotation> {
        check_hash(new_hash)?;
        self.write(|tx| {
            let old = tx
                .query_row(
                    &format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = ?1"),
                    [old_hash],
                    refresh_from_row,
                )
                .optional()?;
            let Some(old) = old else { return Ok(Rotation::NotFound) };
            if old.revoked_at.is_some() {
                revoke_family(tx, &old.family_id, now)?;
                return Ok(Rotation::Reused { family_id: old.family_id, user_uuid: old.user_uuid });
            }
            tx.execute("UPDATE refresh_tokens SET revoked_at = ?2 WHERE token_hash = ?1", params![old_hash, now])?;
            if old.expires_at <= now {
                return Ok(Rotation::Expired);
            }
            let new = NewRefreshToken {
                token_hash: new_hash.to_owned(),
                family_id: old.family_id.clone(),
                user_uuid: old.user_uuid.clone(),
                session_id: old.session_id.clone(),
                expires_at: new_expires_at,
            };
            Ok(Rotation::Rotated { token: insert_refresh(tx, &new, Some(old_hash), now)? })
        })
    }

    /// Revokes every live token of a family; returns how many.
    pub fn revoke_refresh_family(&self, family_id: &str, now: i64) -> Result<u64> {
        self.write(|tx| revoke_family(tx, family_id, now))
    }

    /// Revokes every live refresh token of a user; returns how many.
    pub fn revoke_user_refresh_tokens(&self, user_uuid: &str, now: i64) -> Result<u64> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE refresh_tokens SET revoked_at = ?2 WHERE user_uuid = ?1 AND revoked_at IS NULL",
                params![user_uuid, now],
            )? as u64)
        })
    }
}

fn insert_refresh(
    tx: &rusqlite::Transaction<'_>,
    new: &NewRefreshToken,
    parent: Option<&str>,
    now: i64,
) -> Result<RefreshToken> {
    Ok(tx.query_row(
        &format!(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_uuid, session_id, parent_hash, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING {REFRESH_COLUMNS}"
        ),
        params![new.token_hash, new.family_id, new.user_uuid, new.session_id, parent, now, new.expires_at],
        refresh_from_row,
    )?)
}

fn revoke_family(tx: &rusqlite::Transaction<'_>, family_id: &str, now: i64) -> Result<u64> {
    Ok(tx.execute(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
        params![family_id, now],
    )? as u64)
}
