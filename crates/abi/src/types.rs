//! Request and response types of the host functions. Timestamps are Unix milliseconds.
//! Byte strings (kv values, random bytes) travel as standard base64.

use serde::{Deserialize, Serialize};

/// A request or response without fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Empty {}

/// Names a row by uuid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ByUuid {
    /// The uuid.
    pub uuid: String,
}

/// Names a row by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ById {
    /// The id.
    pub id: String,
}

/// Names a user's rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ByUserUuid {
    /// The user's uuid.
    pub user_uuid: String,
}

/// Names a token by the SHA-256 (hex) of its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ByTokenHash {
    /// SHA-256 of the token, 64 hex digits.
    pub token_hash: String,
}

/// Names an entry by key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ByKey {
    /// The key.
    pub key: String,
}

/// Whether a delete found its row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Deleted {
    /// True when a row was deleted.
    pub deleted: bool,
}

/// How many rows an operation touched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Count {
    /// The number of rows.
    pub count: u64,
}

/// A page of a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Page {
    /// Rows to return, 1 to 1000.
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Rows to skip.
    #[serde(default)]
    pub offset: u32,
}

fn default_limit() -> u32 {
    50
}

impl Default for Page {
    fn default() -> Self {
        Page { limit: default_limit(), offset: 0 }
    }
}

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct User {
    /// Internal row id.
    pub id: i64,
    /// Stable public id.
    pub uuid: String,
    /// Unique display name.
    pub name: String,
    /// Email as entered.
    pub email: String,
    /// PHC-format password hash.
    pub password_hash: String,
    /// Whether the email is verified.
    pub email_verified: bool,
    /// Avatar.
    pub avatar: Option<String>,
    /// Biography.
    pub bio: Option<String>,
    /// "user" or "admin".
    pub role: String,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
    /// Creation time.
    pub created_at: i64,
    /// Last update time.
    pub updated_at: i64,
}

/// Request of `db_create_user`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreateUser {
    /// Unique display name.
    pub name: String,
    /// Email; unique after normalisation (trim, NFC, Unicode lower case).
    pub email: String,
    /// PHC-format hash from `crypto_hash_password`.
    pub password_hash: String,
    /// "user" (default) or "admin".
    #[serde(default)]
    pub role: Option<String>,
}

/// Request of `db_get_user_by_email`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ByEmail {
    /// The email, in any case or Unicode form.
    pub email: String,
}

/// Request of `db_update_user_password`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UpdatePassword {
    /// The user.
    pub uuid: String,
    /// The new PHC-format hash.
    pub password_hash: String,
}

/// Request of `db_replace_user_password_hash`: a compare-and-swap used to re-hash on login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReplacePasswordHash {
    /// The user.
    pub uuid: String,
    /// The hash the row must still hold.
    pub expected: String,
    /// The new hash.
    pub password_hash: String,
}

/// Response of `db_replace_user_password_hash`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Replaced {
    /// Whether the row still held `expected` and was updated.
    pub replaced: bool,
}

/// Request of `db_update_user_email_verified`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UpdateEmailVerified {
    /// The user.
    pub uuid: String,
    /// New state.
    pub verified: bool,
}

/// Request of `db_update_user_profile`; absent fields stay unchanged, "" clears avatar or bio.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UpdateProfile {
    /// The user.
    pub uuid: String,
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New avatar.
    #[serde(default)]
    pub avatar: Option<String>,
    /// New biography.
    #[serde(default)]
    pub bio: Option<String>,
}

/// A login session (`id` is the SHA-256 of the session token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Session {
    /// SHA-256 of the token, hex.
    pub id: String,
    /// Owner.
    pub user_uuid: String,
    /// Creation time.
    pub created_at: i64,
    /// Last verification.
    pub last_seen_at: i64,
    /// Expiry; expired at exactly this instant.
    pub expires_at: i64,
}

/// Request of `db_create_session`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreateSession {
    /// SHA-256 of the token, hex.
    pub id: String,
    /// Owner.
    pub user_uuid: String,
    /// Expiry.
    pub expires_at: i64,
}

/// Request of `db_touch_session`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TouchSession {
    /// The session.
    pub id: String,
    /// New expiry.
    pub expires_at: i64,
}

/// An email-verification or password-reset token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OneTimeToken {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// The user it was issued to.
    pub user_uuid: String,
    /// The address it was sent to.
    pub email: String,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
}

/// Request creating a one-time token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreateOneTimeToken {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// The user.
    pub user_uuid: String,
    /// The address it is sent to.
    pub email: String,
    /// Expiry.
    pub expires_at: i64,
}

/// A refresh token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RefreshToken {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Rotation family.
    pub family_id: String,
    /// Owner.
    pub user_uuid: String,
    /// Session, if any.
    pub session_id: Option<String>,
    /// The token it replaced.
    pub parent_hash: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// When used or revoked.
    pub revoked_at: Option<i64>,
}

/// Request of `db_create_refresh_token`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreateRefreshToken {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Family id.
    pub family_id: String,
    /// Owner.
    pub user_uuid: String,
    /// Session, if any.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Expiry.
    pub expires_at: i64,
}

/// Request of `db_rotate_refresh_token`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RotateRefreshToken {
    /// Hash of the presented token.
    pub old_hash: String,
    /// Hash of its successor.
    pub new_hash: String,
    /// Successor's expiry.
    pub expires_at: i64,
}

/// Response of `db_rotate_refresh_token`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Rotation {
    /// Rotated; `token` is the successor.
    Rotated {
        /// The successor.
        token: RefreshToken,
    },
    /// The token was already used: its family is now revoked.
    Reused {
        /// The revoked family.
        family_id: String,
        /// Its owner.
        user_uuid: String,
    },
    /// The token expired.
    Expired,
    /// No such token.
    NotFound,
}

/// Request of `db_revoke_refresh_family`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ByFamily {
    /// The family.
    pub family_id: String,
}

/// Request of `ratelimit_hit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RateLimitHit {
    /// Counter family, such as "login".
    pub scope: String,
    /// Counter key, such as an email or client address.
    pub key: String,
    /// Hits allowed per window.
    pub max: u32,
    /// Window length in ms.
    pub window_ms: i64,
}

/// Request of `ratelimit_peek` and `ratelimit_reset`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RateLimitKey {
    /// Counter family.
    pub scope: String,
    /// Counter key.
    pub key: String,
    /// Window length in ms (used by peek).
    #[serde(default)]
    pub window_ms: i64,
}

/// Response of `ratelimit_hit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RateDecision {
    /// Whether the hit is within budget.
    pub allowed: bool,
    /// Hits in the window, this one included.
    pub count: u32,
    /// Ms until the window resets.
    pub retry_after_ms: i64,
}

/// An agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Agent {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Model.
    pub model_name: String,
    /// System prompt.
    pub system_prompt: String,
    /// Active flag.
    pub is_active: bool,
    /// Creation time.
    pub created_at: i64,
    /// Last update time.
    pub updated_at: i64,
    /// The user it belongs to; absent for an agent shared with everyone.
    #[serde(default)]
    pub user_uuid: Option<String>,
    /// Model settings as a JSON object (its owner defines the fields).
    #[serde(default)]
    pub options: String,
}

/// Request of `db_create_agent` and `db_update_agent`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgentInput {
    /// Id (1 to 128 characters).
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Model.
    pub model_name: String,
    /// System prompt.
    #[serde(default)]
    pub system_prompt: String,
    /// Active flag (default true).
    #[serde(default)]
    pub is_active: Option<bool>,
    /// The user it belongs to; absent for a shared agent.
    #[serde(default)]
    pub user_uuid: Option<String>,
    /// Model settings as a JSON object (default `{}`).
    #[serde(default)]
    pub options: Option<String>,
}

/// Request of `db_list_agents`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ListAgents {
    /// Only active agents.
    #[serde(default)]
    pub active_only: bool,
    /// Page.
    #[serde(default)]
    pub page: Page,
    /// Only this user's agents and the shared ones.
    #[serde(default)]
    pub user_uuid: Option<String>,
}

/// A chat session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ChatSession {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Model.
    pub model_name: Option<String>,
    /// Agent.
    pub agent_id: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last update time.
    pub updated_at: i64,
    /// The user it belongs to, if any.
    #[serde(default)]
    pub user_uuid: Option<String>,
}

/// Request of `db_create_chat_session`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreateChatSession {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Model.
    #[serde(default)]
    pub model_name: Option<String>,
    /// Agent (must exist).
    #[serde(default)]
    pub agent_id: Option<String>,
    /// The user it belongs to, if any.
    #[serde(default)]
    pub user_uuid: Option<String>,
}

/// Request of `db_update_chat_session_title`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UpdateTitle {
    /// Session id.
    pub id: String,
    /// New title.
    pub title: String,
}

/// A chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ChatMessage {
    /// Id.
    pub id: String,
    /// Session.
    pub session_id: String,
    /// "user", "assistant" or "system".
    pub role: String,
    /// Text.
    pub content: String,
    /// Model.
    pub model_name: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// The message it follows; absent for the first of a session. Messages with the same parent
    /// are the branches of a conversation.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// "done", "streaming" (still being written), "stopped" or "failed".
    #[serde(default)]
    pub status: String,
}

/// Request of `db_add_chat_message`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AddChatMessage {
    /// Id.
    pub id: String,
    /// Session (must exist).
    pub session_id: String,
    /// "user", "assistant" or "system".
    pub role: String,
    /// Text.
    pub content: String,
    /// Model.
    #[serde(default)]
    pub model_name: Option<String>,
    /// The message it follows (in the same session).
    #[serde(default)]
    pub parent_id: Option<String>,
    /// "done" (default), "streaming", "stopped" or "failed".
    #[serde(default)]
    pub status: Option<String>,
}

/// Request of `db_list_chat_messages`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ListChatMessages {
    /// Session.
    pub session_id: String,
    /// Page.
    #[serde(default)]
    pub page: Page,
}
/// Request of `db_list_chat_sessions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ListChatSessions {
    /// Only this user's sessions.
    #[serde(default)]
    pub user_uuid: Option<String>,
    /// Rows to return, 1 to 1000.
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Rows to skip.
    #[serde(default)]
    pub offset: u32,
}

impl Default for ListChatSessions {
    fn default() -> Self {
        ListChatSessions { user_uuid: None, limit: default_limit(), offset: 0 }
    }
}

/// Request of `db_update_chat_message`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UpdateChatMessage {
    /// Message id.
    pub id: String,
    /// The whole new content.
    pub content: String,
    /// "done", "streaming", "stopped" or "failed".
    pub status: String,
}

/// Request of `db_search_chat_messages`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SearchChatMessages {
    /// Words to find (each matches by prefix; every word must occur).
    pub query: String,
    /// Only in this user's sessions.
    #[serde(default)]
    pub user_uuid: Option<String>,
    /// Paging.
    #[serde(default)]
    pub page: Page,
}

/// A setting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Setting {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
    /// Last update time.
    pub updated_at: i64,
}

/// Request of `db_set_setting`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SetSetting {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// An agent execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgentExecution {
    /// Id.
    pub id: String,
    /// Agent.
    pub agent_id: String,
    /// Chat session.
    pub session_id: Option<String>,
    /// "pending", "running", "completed" or "failed".
    pub status: String,
    /// Input.
    pub input: String,
    /// Output.
    pub output: Option<String>,
    /// Error.
    pub error: Option<String>,
    /// Start time.
    pub started_at: i64,
    /// Completion time.
    pub completed_at: Option<i64>,
    /// The message it wrote, if any.
    #[serde(default)]
    pub message_id: Option<String>,
    /// Time to the first output, in ms.
    #[serde(default)]
    pub first_token_ms: Option<i64>,
    /// Total time, in ms.
    #[serde(default)]
    pub total_ms: Option<i64>,
    /// Prompt tokens, as the model counted them.
    #[serde(default)]
    pub prompt_tokens: Option<i64>,
    /// Generated tokens.
    #[serde(default)]
    pub completion_tokens: Option<i64>,
}

/// Request of `db_create_agent_execution`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreateAgentExecution {
    /// Id.
    pub id: String,
    /// Agent (must exist).
    pub agent_id: String,
    /// Chat session (must exist).
    #[serde(default)]
    pub session_id: Option<String>,
    /// Input.
    #[serde(default)]
    pub input: String,
    /// The message it writes, if any.
    #[serde(default)]
    pub message_id: Option<String>,
}

/// Request of `db_update_agent_execution`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UpdateAgentExecution {
    /// Id.
    pub id: String,
    /// New status.
    pub status: String,
    /// Output.
    #[serde(default)]
    pub output: Option<String>,
    /// Error.
    #[serde(default)]
    pub error: Option<String>,
    /// Time to the first output, in ms.
    #[serde(default)]
    pub first_token_ms: Option<i64>,
    /// Total time, in ms.
    #[serde(default)]
    pub total_ms: Option<i64>,
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: Option<i64>,
    /// Generated tokens.
    #[serde(default)]
    pub completion_tokens: Option<i64>,
}

/// Request of `db_list_agent_executions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ListAgentExecutions {
    /// Agent filter.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Session filter.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Status filter.
    #[serde(default)]
    pub status: Option<String>,
    /// Page.
    #[serde(default)]
    pub page: Page,
}

/// Request of `kv_set`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KvSet {
    /// Key (1 to 512 bytes).
    pub key: String,
    /// Value, base64 (at most 1 MiB decoded).
    pub value: String,
}

/// Response of `kv_get`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KvValue {
    /// Value, base64; null when the key is absent.
    pub value: Option<String>,
}

/// Request of `kv_list`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KvList {
    /// Key prefix ("" for all).
    #[serde(default)]
    pub prefix: String,
    /// Page.
    #[serde(default)]
    pub page: Page,
    /// Only keys after this one: keyset paging, which stays fast on long lists where a large
    /// offset does not (the offset then counts from this key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// One entry of `kv_list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KvEntry {
    /// Key.
    pub key: String,
    /// Value, base64.
    pub value: String,
    /// Last update time.
    pub updated_at: i64,
}

/// Response of `time_now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Now {
    /// Unix time in ms from the host clock.
    pub unix_ms: i64,
}

/// Request of `random_bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RandomRequest {
    /// Bytes wanted, 1 to 65536.
    pub len: u32,
}

/// Response of `random_bytes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RandomBytes {
    /// The bytes, base64.
    pub bytes: String,
}

/// Request of `log`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LogRequest {
    /// "trace", "debug", "info", "warn" or "error".
    pub level: String,
    /// The message (truncated to 4 KiB).
    pub message: String,
}

/// Response of `config_get`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ConfigValue {
    /// The value; null when unset.
    pub value: Option<String>,
}

/// Response of `context_get`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallContext {
    /// Address of the client whose request led to this call, when the caller passed one.
    pub client_addr: Option<String>,
    /// The signed-in user whose request led to this call (through the HTTP API or the desktop
    /// app); absent for schedules, events, rooms and the CLI.
    #[serde(default)]
    pub user: Option<CallUser>,
    /// The plugin that called this one through `plugin_call`; absent when the host called it
    /// (for a request, a room, a schedule, an event or the CLI).
    #[serde(default)]
    pub caller: Option<String>,
}

/// The signed-in user behind a call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallUser {
    /// The user's uuid.
    pub uuid: String,
    /// Display name.
    pub name: String,
    /// "user" or "admin".
    pub role: String,
}

/// Request of `event_emit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EmitEvent {
    /// Event kind, such as "login.failed".
    pub kind: String,
    /// The user it concerns.
    #[serde(default)]
    pub user_uuid: Option<String>,
    /// Details (never secrets).
    #[serde(default)]
    pub data: serde_json::Value,
}

/// Response of `event_emit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EventId {
    /// Audit event id.
    pub id: i64,
}

/// Request of `crypto_hash_password`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HashPassword {
    /// The password (at most 1024 bytes).
    pub password: String,
}

/// Response of `crypto_hash_password`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PasswordHash {
    /// PHC string `$argon2id$v=19$m=19456,t=2,p=1$...`.
    pub hash: String,
}

/// Request of `crypto_verify_password`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VerifyPassword {
    /// The password.
    pub password: String,
    /// A stored argon2id or bcrypt hash; null runs a dummy verification (same cost) and fails.
    pub hash: Option<String>,
}

/// Response of `crypto_verify_password`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PasswordCheck {
    /// Whether the password matches.
    pub valid: bool,
    /// Whether the hash should be replaced (legacy or weaker than policy).
    pub needs_rehash: bool,
}

/// Request of `token_sign`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SignToken {
    /// Claims to sign; `iat`, `exp`, `iss` and `aud` are set by the host.
    pub claims: serde_json::Value,
    /// Lifetime in seconds (1 to 86400).
    pub ttl_secs: u32,
}

/// Response of `token_sign`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SignedToken {
    /// A compact JWS (HS256).
    pub token: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

/// Request of `token_verify`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VerifyToken {
    /// The token.
    pub token: String,
}

/// Response of `token_verify`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VerifiedClaims {
    /// The verified claims.
    pub claims: serde_json::Value,
}

/// Request of `email_send`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SendEmail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
}

/// Response of `email_send`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EmailSent {
    /// The message id the mailer assigned.
    pub message_id: String,
}
