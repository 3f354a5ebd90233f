//! Users: create, look up by email or uuid, and update password, verification and profile.

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::{Db, Error, Result};
pub use a2e_abi::User;

/// Longest accepted email address, in characters (RFC 5321's path limit, counted the way the API
/// schema counts lengths).
pub const MAX_EMAIL_LEN: usize = 254;

/// Input for [`Db::create_user`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NewUser {
    /// Unique display name.
    pub name: String,
    /// Email address; uniqueness is checked on its normalised form.
    pub email: String,
    /// PHC-format password hash (the storage layer never sees passwords).
    pub password_hash: String,
    /// "user" (default when empty) or "admin".
    #[serde(default)]
    pub role: String,
    /// Whether the email starts out verified.
    #[serde(default)]
    pub email_verified: bool,
}

/// Input for [`Db::update_user_profile`]; `None` leaves a field unchanged.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProfileUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New avatar (empty string clears it).
    pub avatar: Option<String>,
    /// New biography (empty string clears it).
    pub bio: Option<String>,
}

/// Normalises an email for uniqueness: trimmed, Unicode NFC, lower-cased with Unicode rules.
///
/// SQLite's `lower()` and NOCASE fold ASCII only, so this runs in Rust before the UNIQUE index sees it.
pub fn normalize_email(raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_EMAIL_LEN {
        return Err(Error::InvalidInput(format!("email must be 1 to {MAX_EMAIL_LEN} characters")));
    }
    if trimmed.chars().any(|c| c.is_control()) {
        return Err(Error::InvalidInput("email must not contain control characters".into()));
    }
    let (local, domain) =
        trimmed.rsplit_once('@').ok_or_else(|| Error::InvalidInput("email must contain '@'".into()))?;
    if local.is_empty() || domain.is_empty() || trimmed.chars().any(char::is_whitespace) {
        return Err(Error::InvalidInput("email must look like name@domain without spaces".into()));
    }
    let lowered: String = trimmed.nfc().collect::<String>().to_lowercase();
    Ok(lowered.nfc().collect())
}

const USER_COLUMNS: &str =
    "id, uuid, name, email, password_hash, email_verified, avatar, bio, role, disabled, created_at, updated_at";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        uuid: row.get(1)?,
        name: row.get(2)?,
        email: row.get(3)?,
        password_hash: row.get(4)?,
        email_verified: row.get(5)?,
        avatar: row.get(6)?,
        bio: row.get(7)?,
        role: row.get(8)?,
        disabled: row.get(9)?,
        created_at: row.get(10)?,
        updated_at: row.get(11)?,
    })
}

fn check_name(name: &str) -> Result<()> {
    let name_len = name.chars().count();
    if name.trim().is_empty() || name_len > 200 || name.chars().any(char::is_control) {
        return Err(Error::InvalidInput("name must be 1 to 200 characters without control characters".into()));
    }
    Ok(())
}

impl Db {
    /// Creates a user with a fresh uuid. Fails with `AlreadyExists { field: "email" | "name" }`.
    pub fn create_user(&self, new: &NewUser, now: i64) -> Result<User> {
        check_name(&new.name)?;
        let normalized = normalize_email(&new.email)?;
        if new.password_hash.is_empty() {
            return Err(Error::InvalidInput("password_hash must not be empty".into()));
        }
        let role = if new.role.is_empty() { "user" } else { new.role.as_str() };
        let uuid = uuid::Uuid::new_v4().to_string();
        self.write(|tx| {
            let sql = format!(
                "INSERT INTO users (uuid, name, email, email_normalized, password_hash, email_verified, role, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) RETURNING {USER_COLUMNS}"
            );
            Ok(tx.query_row(
                &sql,
                params![uuid, new.name, new.email.trim(), normalized, new.password_hash, new.email_verified, role, now],
                user_from_row,
            )?)
        })
    }

    /// Looks a user up by email, comparing normalised forms.
    pub fn get_user_by_email(&self, email: &str) -> Result<User> {
        let normalized = normalize_email(email)?;
        self.read(|conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE email_normalized = ?1"),
                [normalized],
                user_from_row,
            )
            .optional()?
            .ok_or(Error::NotFound { entity: "user" })
        })
    }

    /// Looks a user up by uuid.
    pub fn get_user_by_uuid(&self, uuid: &str) -> Result<User> {
        self.read(|conn| {
            conn.query_row(&format!("SELECT {USER_COLUMNS} FROM users WHERE uuid = ?1"), [uuid], user_from_row)
                .optional()?
                .ok_or(Error::NotFound { entity: "user" })
        })
    }

    /// The first user (oldest account) with `role`, such as the administrator who set a2e up.
    pub fn first_user_with_role(&self, role: &str) -> Result<User> {
        self.read(|conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE role = ?1 AND disabled = 0 ORDER BY created_at, rowid LIMIT 1"),
                [role],
                user_from_row,
            )
            .optional()?
            .ok_or(Error::NotFound { entity: "user" })
        })
    }

    /// Replaces a user's password hash.
    pub fn update_user_password(&self, uuid: &str, password_hash: &str, now: i64) -> Result<()> {
        if password_hash.is_empty() {
            return Err(Error::InvalidInput("password_hash must not be empty".into()));
        }
        self.update_user("password_hash = ?2, updated_at = ?3", params![uuid, password_hash, now])
    }

    /// Replaces the password hash only if it still equals `expected` (re-hash on login without races).
    /// Returns whether the row was changed.
    pub fn replace_user_password_hash(&self, uuid: &str, expected: &str, new_hash: &str, now: i64) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE users SET password_hash = ?3, updated_at = ?4 WHERE uuid = ?1 AND password_hash = ?2",
                params![uuid, expected, new_hash, now],
            )? == 1)
        })
    }

    /// Sets whether a user's email is verified.
    pub fn update_user_email_verified(&self, uuid: &str, verified: bool, now: i64) -> Result<()> {
        self.update_user("email_verified = ?2, updated_at = ?3", params![uuid, verified, now])
    }

    /// Sets a user's role ("user" or "admin").
    pub fn update_user_role(&self, uuid: &str, role: &str, now: i64) -> Result<()> {
        self.update_user("role = ?2, updated_at = ?3", params![uuid, role, now])
    }

    /// Enables or disables an account.
    pub fn update_user_disabled(&self, uuid: &str, disabled: bool, now: i64) -> Result<()> {
        self.update_user("disabled = ?2, updated_at = ?3", params![uuid, disabled, now])
    }

    /// Updates the fields of `update` that are set, and returns the new row.
    pub fn update_user_profile(&self, uuid: &str, update: &ProfileUpdate, now: i64) -> Result<User> {
        if let Some(name) = &update.name {
            check_name(name)?;
        }
        let empty_to_none = |v: &Option<String>| v.as_ref().map(|s| if s.is_empty() { None } else { Some(s.clone()) });
        let avatar = empty_to_none(&update.avatar);
        let bio = empty_to_none(&update.bio);
        self.write(|tx| {
            tx.query_row(
                &format!(
                    "UPDATE users SET
                        name = coalesce(?2, name),
                        avatar = CASE WHEN ?3 THEN ?4 ELSE avatar END,
                        bio = CASE WHEN ?5 THEN ?6 ELSE bio END,
                        updated_at = ?7
                     WHERE uuid = ?1 RETURNING {USER_COLUMNS}"
                ),
                params![uuid, update.name, avatar.is_some(), avatar.flatten(), bio.is_some(), bio.flatten(), now],
                user_from_row,
            )
            .optional()?
            .ok_or(Error::NotFound { entity: "user" })
        })
    }

    /// Number of user accounts.
    pub fn count_users(&self) -> Result<i64> {
        self.read(|conn| Ok(conn.query_row("SELECT count(*) FROM users", [], |row| row.get(0))?))
    }

    /// Number of users with `role` ("user" or "admin").
    pub fn count_users_with_role(&self, role: &str) -> Result<i64> {
        self.read(|conn| Ok(conn.query_row("SELECT count(*) FROM users WHERE role = ?1", [role], |row| row.get(0))?))
    }

    fn update_user(&self, set: &str, params: &[&dyn rusqlite::ToSql]) -> Result<()> {
        let changed = self.write(|tx| Ok(tx.execute(&format!("UPDATE users SET {set} WHERE uuid = ?1"), params)?))?;
        if changed == 0 {
            return Err(Error::NotFound { entity: "user" });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_folds_case_and_unicode_forms() {
        let nfc = "J\u{00F6}rg@Example.COM";
        let nfd = "jo\u{0308}rg@example.com";
        assert_eq!(normalize_email(nfc).unwrap(), normalize_email(nfd).unwrap());
        assert_eq!(normalize_email("  \u{00C4}BC@x.org ").unwrap(), "\u{00E4}bc@x.org");
    }

    #[test]
    fn normalisation_rejects_malformed_addresses() {
        for bad in ["", "no-at-sign", "@x.org", "a@", "a\r\n@x.org", "a\0@x.org", "a b@x.org"] {
            assert!(matches!(normalize_email(bad), Err(Error::InvalidInput(_))), "{bad:?}");
        }
        let long = format!("{}@x.org", "a".repeat(250));
        assert!(matches!(normalize_email(&long), Err(Error::InvalidInput(_))));
    }
}
