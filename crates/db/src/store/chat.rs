//! Agents, chat sessions and messages, settings and agent executions, with listing and paging.

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::{Db, Error, Result};
pub use a2e_abi::{Agent, AgentExecution, ChatMessage, ChatSession, Page, Setting};

/// Largest page any list operation returns.
pub const MAX_PAGE: u32 = 1000;

/// A page's limit and offset as SQL parameters, after checking the limit.
fn page_bounds(page: Page) -> Result<(i64, i64)> {
    if page.limit == 0 || page.limit > MAX_PAGE {
        return Err(Error::InvalidInput(format!("page limit must be 1 to {MAX_PAGE}")));
    }
    Ok((i64::from(page.limit), i64::from(page.offset)))
}

/// Input for creating or replacing an agent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgentInput {
    /// Caller-chosen id (1 to 128 characters).
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the agent is for.
    #[serde(default)]
    pub description: String,
    /// Model it runs on.
    pub model_name: String,
    /// Its system prompt.
    #[serde(default)]
    pub system_prompt: String,
    /// Whether it is active.
    #[serde(default = "default_true")]
    pub is_active: bool,
    /// The user it belongs to; `None` for a shared agent.
    #[serde(default)]
    pub user_uuid: Option<String>,
    /// Model settings as a JSON object (default `{}`).
    #[serde(default = "empty_object")]
    pub options: String,
}

fn empty_object() -> String {
    "{}".into()
}

impl Default for AgentInput {
    fn default() -> Self {
        AgentInput {
            id: String::new(),
            name: String::new(),
            description: String::new(),
            model_name: String::new(),
            system_prompt: String::new(),
            is_active: true,
            user_uuid: None,
            options: empty_object(),
        }
    }
}

fn default_true() -> bool {
    true
}

/// Input for creating a chat session.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChatSessionInput {
    /// Caller-chosen id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Model used, if fixed.
    #[serde(default)]
    pub model_name: Option<String>,
    /// Agent driving it, if any (must exist).
    #[serde(default)]
    pub agent_id: Option<String>,
    /// The user it belongs to, if any.
    #[serde(default)]
    pub user_uuid: Option<String>,
}

/// Input for adding a message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChatMessageInput {
    /// Caller-chosen id.
    pub id: String,
    /// The session it belongs to (must exist).
    pub session_id: String,
    /// "user", "assistant" or "system".
    pub role: String,
    /// Message text.
    pub content: String,
    /// Model that produced it.
    #[serde(default)]
    pub model_name: Option<String>,
    /// The message it follows (must be in the same session).
    #[serde(default)]
    pub parent_id: Option<String>,
    /// "done" (default), "streaming", "stopped" or "failed".
    #[serde(default = "done")]
    pub status: String,
}

fn done() -> String {
    "done".into()
}

impl Default for ChatMessageInput {
    fn default() -> Self {
        ChatMessageInput {
            id: String::new(),
            session_id: String::new(),
            role: String::new(),
            content: String::new(),
            model_name: None,
            parent_id: None,
            status: done(),
        }
    }
}

/// Input for starting an execution.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AgentExecutionInput {
    /// Caller-chosen id.
    pub id: String,
    /// The agent (must exist).
    pub agent_id: String,
    /// The chat session, if any (must exist).
    #[serde(default)]
    pub session_id: Option<String>,
    /// Input given to the agent.
    #[serde(default)]
    pub input: String,
    /// The message it writes, if any.
    #[serde(default)]
    pub message_id: Option<String>,
}

/// Input for finishing or progressing an execution.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExecutionUpdate {
    /// New status.
    pub status: String,
    /// Output to record.
    #[serde(default)]
    pub output: Option<String>,
    /// Error to record.
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

/// Filter for [`Db::list_agent_executions`]; unset fields match everything.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExecutionFilter {
    /// Only this agent's runs.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Only runs in this chat session.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Only runs with this status.
    #[serde(default)]
    pub status: Option<String>,
}

const AGENT_COLUMNS: &str =
    "id, name, description, model_name, system_prompt, is_active, created_at, updated_at, user_uuid, options";
const CHAT_SESSION_COLUMNS: &str = "id, title, model_name, agent_id, created_at, updated_at, user_uuid";
const MESSAGE_COLUMNS: &str = "id, session_id, role, content, model_name, created_at, parent_id, status";
const EXECUTION_COLUMNS: &str = "id, agent_id, session_id, status, input, output, error, started_at, completed_at, \
     message_id, first_token_ms, total_ms, prompt_tokens, completion_tokens";

fn agent_from_row(row: &Row<'_>) -> rusqlite::Result<Agent> {
    Ok(Agent {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        model_name: row.get(3)?,
        system_prompt: row.get(4)?,
        is_active: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        user_uuid: row.get(8)?,
        options: row.get(9)?,
    })
}

fn chat_session_from_row(row: &Row<'_>) -> rusqlite::Result<ChatSession> {
    Ok(ChatSession {
        id: row.get(0)?,
        title: row.get(1)?,
        model_name: row.get(2)?,
        agent_id: row.get(3)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
        user_uuid: row.get(6)?,
    })
}

fn message_from_row(row: &Row<'_>) -> rusqlite::Result<ChatMessage> {
    Ok(ChatMessage {
        id: row.get(0)?,
        session_id: row.get(1)?,
        role: row.get(2)?,
        content: row.get(3)?,
        model_name: row.get(4)?,
        created_at: row.get(5)?,
        parent_id: row.get(6)?,
        status: row.get(7)?,
    })
}

fn execution_from_row(row: &Row<'_>) -> rusqlite::Result<AgentExecution> {
    Ok(AgentExecution {
        id: row.get(0)?,
        agent_id: row.get(1)?,
        session_id: row.get(2)?,
        status: row.get(3)?,
        input: row.get(4)?,
        output: row.get(5)?,
        error: row.get(6)?,
        started_at: row.get(7)?,
        completed_at: row.get(8)?,
        message_id: row.get(9)?,
        first_token_ms: row.get(10)?,
        total_ms: row.get(11)?,
        prompt_tokens: row.get(12)?,
        completion_tokens: row.get(13)?,
    })
}

fn query_all<T>(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let rows = stmt.query_map(params, map)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

impl Db {
    /// Creates an agent.
    pub fn create_agent(&self, input: &AgentInput, now: i64) -> Result<Agent> {
        self.write(|tx| {
            Ok(tx.query_row(
                &format!(
                    "INSERT INTO agents (id, name, description, model_name, system_prompt, is_active, created_at, updated_at, user_uuid, options)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9) RETURNING {AGENT_COLUMNS}"
                ),
                params![input.id, input.name, input.description, input.model_name, input.system_prompt, input.is_active, now, input.user_uuid, input.options],
                agent_from_row,
            )?)
        })
    }

    /// Fetches an agent.
    pub fn get_agent(&self, id: &str) -> Result<Agent> {
        self.read(|conn| {
            conn.query_row(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?1"), [id], agent_from_row)
                .optional()?
                .ok_or(Error::NotFound { entity: "agent" })
        })
    }

    /// Replaces an agent's fields (the id stays).
    pub fn update_agent(&self, input: &AgentInput, now: i64) -> Result<Agent> {
        self.write(|tx| {
            tx.query_row(
                &format!(
                    "UPDATE agents SET name = ?2, description = ?3, model_name = ?4, system_prompt = ?5, is_active = ?6, updated_at = ?7,
                        user_uuid = ?8, options = ?9
                     WHERE id = ?1 RETURNING {AGENT_COLUMNS}"
                ),
                params![input.id, input.name, input.description, input.model_name, input.system_prompt, input.is_active, now, input.user_uuid, input.options],
                agent_from_row,
            )
            .optional()?
            .ok_or(Error::NotFound { entity: "agent" })
        })
    }

    /// Deletes an agent (its executions go with it; chat sessions keep running without it).
    pub fn delete_agent(&self, id: &str) -> Result<bool> {
        self.write(|tx| Ok(tx.execute("DELETE FROM agents WHERE id = ?1", [id])? == 1))
    }

    /// Lists agents by name, optionally only active ones; with `user_uuid`, only that user's
    /// agents and the shared ones.
    pub fn list_agents(&self, active_only: bool, user_uuid: Option<&str>, page: Page) -> Result<Vec<Agent>> {
        let (limit, offset) = page_bounds(page)?;
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {AGENT_COLUMNS} FROM agents WHERE (?1 = 0 OR is_active = 1)
                   AND (?4 IS NULL OR user_uuid IS NULL OR user_uuid = ?4)
                 ORDER BY name, id LIMIT ?2 OFFSET ?3"
            ))?;
            query_all(&mut stmt, params![active_only, limit, offset, user_uuid], agent_from_row)
        })
    }

    /// Creates a chat session.
    pub fn create_chat_session(&self, input: &ChatSessionInput, now: i64) -> Result<ChatSession> {
        self.write(|tx| {
            Ok(tx.query_row(
                &format!(
                    "INSERT INTO chat_sessions (id, title, model_name, agent_id, created_at, updated_at, user_uuid)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) RETURNING {CHAT_SESSION_COLUMNS}"
                ),
                params![input.id, input.title, input.model_name, input.agent_id, now, input.user_uuid],
                chat_session_from_row,
            )?)
        })
    }

    /// Fetches a chat session.
    pub fn get_chat_session(&self, id: &str) -> Result<ChatSession> {
        self.read(|conn| {
            conn.query_row(
                &format!("SELECT {CHAT_SESSION_COLUMNS} FROM chat_sessions WHERE id = ?1"),
                [id],
                chat_session_from_row,
            )
            .optional()?
            .ok_or(Error::NotFound { entity: "chat session" })
        })
    }

    /// Renames a chat session.
    pub fn update_chat_session_title(&self, id: &str, title: &str, now: i64) -> Result<ChatSession> {
        self.write(|tx| {
            tx.query_row(
                &format!("UPDATE chat_sessions SET title = ?2, updated_at = ?3 WHERE id = ?1 RETURNING {CHAT_SESSION_COLUMNS}"),
                params![id, title, now],
                chat_session_from_row,
            )
            .optional()?
            .ok_or(Error::NotFound { entity: "chat session" })
        })
    }

    /// Deletes a chat session and its messages.
    pub fn delete_chat_session(&self, id: &str) -> Result<bool> {
        self.write(|tx| Ok(tx.execute("DELETE FROM chat_sessions WHERE id = ?1", [id])? == 1))
    }

    /// Lists chat sessions, most recently updated first; with `user_uuid`, only that user's.
    pub fn list_chat_sessions(&self, user_uuid: Option<&str>, page: Page) -> Result<Vec<ChatSession>> {
        let (limit, offset) = page_bounds(page)?;
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {CHAT_SESSION_COLUMNS} FROM chat_sessions WHERE (?3 IS NULL OR user_uuid = ?3)
                 ORDER BY updated_at DESC, id LIMIT ?1 OFFSET ?2"
            ))?;
            query_all(&mut stmt, params![limit, offset, user_uuid], chat_session_from_row)
        })
    }

    /// Adds a message and bumps its session's `updated_at`, in one transaction.
    pub fn add_chat_message(&self, input: &ChatMessageInput, now: i64) -> Result<ChatMessage> {
        self.write(|tx| {
            if let Some(parent) = &input.parent_id {
                let session: Option<String> = tx
                    .query_row("SELECT session_id FROM chat_messages WHERE id = ?1", [parent], |r| r.get(0))
                    .optional()?;
                if session.as_deref() != Some(input.session_id.as_str()) {
                    return Err(Error::InvalidInput(format!("parent message `{parent}` is not in this session")));
                }
            }
            let message = tx.query_row(
                &format!(
                    "INSERT INTO chat_messages (id, session_id, role, content, model_name, created_at, parent_id, status)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING {MESSAGE_COLUMNS}"
                ),
                params![input.id, input.session_id, input.role, input.content, input.model_name, now, input.parent_id, input.status],
                message_from_row,
            )?;
            tx.execute("UPDATE chat_sessions SET updated_at = ?2 WHERE id = ?1", params![input.session_id, now])?;
            Ok(message)
        })
    }

    /// Fetches one message.
    pub fn get_chat_message(&self, id: &str) -> Result<ChatMessage> {
        self.read(|conn| {
            conn.query_row(
                &format!("SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE id = ?1"),
                [id],
                message_from_row,
            )
            .optional()?
            .ok_or(Error::NotFound { entity: "chat message" })
        })
    }

    /// Lists a session's messages, oldest first.
    pub fn list_chat_messages(&self, session_id: &str, page: Page) -> Result<Vec<ChatMessage>> {
        let (limit, offset) = page_bounds(page)?;
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE session_id = ?1 ORDER BY created_at, rowid LIMIT ?2 OFFSET ?3"
            ))?;
            query_all(&mut stmt, params![session_id, limit, offset], message_from_row)
        })
    }

    /// Replaces a message's content and status (an answer as it is written) and bumps its
    /// session's `updated_at`.
    pub fn update_chat_message(&self, id: &str, content: &str, status: &str, now: i64) -> Result<ChatMessage> {
        self.write(|tx| {
            let message = tx
                .query_row(
                    &format!(
                        "UPDATE chat_messages SET content = ?2, status = ?3 WHERE id = ?1 RETURNING {MESSAGE_COLUMNS}"
                    ),
                    params![id, content, status],
                    message_from_row,
                )
                .optional()?
                .ok_or(Error::NotFound { entity: "chat message" })?;
            tx.execute("UPDATE chat_sessions SET updated_at = ?2 WHERE id = ?1", params![message.session_id, now])?;
            Ok(message)
        })
    }

    /// Finds messages whose text contains every word of `query` (full-text, SQLite FTS5; words
    /// match by prefix), best match first; with `user_uuid`, only in that user's sessions.
    pub fn search_chat_messages(&self, query: &str, user_uuid: Option<&str>, page: Page) -> Result<Vec<ChatMessage>> {
        let (limit, offset) = page_bounds(page)?;
        let terms: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(16)
            .map(|w| format!("\"{}\"*", w.replace('"', "")))
            .collect();
        if terms.is_empty() {
            return Err(Error::InvalidInput("the search needs at least one word".into()));
        }
        let fts = terms.join(" ");
        let columns: String = MESSAGE_COLUMNS.split(", ").map(|c| format!("m.{c}")).collect::<Vec<_>>().join(", ");
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {columns} FROM chat_messages_fts f
                 JOIN chat_messages m ON m.rowid = f.rowid
                 JOIN chat_sessions s ON s.id = m.session_id
                 WHERE chat_messages_fts MATCH ?1 AND (?2 IS NULL OR s.user_uuid = ?2)
                 ORDER BY f.rank, m.created_at DESC LIMIT ?3 OFFSET ?4"
            ))?;
            query_all(&mut stmt, params![fts, user_uuid, limit, offset], message_from_row)
        })
    }

    /// Deletes one message.
    pub fn delete_chat_message(&self, id: &str) -> Result<bool> {
        self.write(|tx| Ok(tx.execute("DELETE FROM chat_messages WHERE id = ?1", [id])? == 1))
    }

    /// Reads a setting.
    pub fn get_setting(&self, key: &str) -> Result<Setting> {
        self.read(|conn| {
            conn.query_row("SELECT key, value, updated_at FROM settings WHERE key = ?1", [key], |row| {
                Ok(Setting { key: row.get(0)?, value: row.get(1)?, updated_at: row.get(2)? })
            })
            .optional()?
            .ok_or(Error::NotFound { entity: "setting" })
        })
    }

    /// Creates or replaces a setting.
    pub fn set_setting(&self, key: &str, value: &str, now: i64) -> Result<Setting> {
        self.write(|tx| {
            Ok(tx.query_row(
                "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                 RETURNING key, value, updated_at",
                params![key, value, now],
                |row| Ok(Setting { key: row.get(0)?, value: row.get(1)?, updated_at: row.get(2)? }),
            )?)
        })
    }

    /// Deletes a setting.
    pub fn delete_setting(&self, key: &str) -> Result<bool> {
        self.write(|tx| Ok(tx.execute("DELETE FROM settings WHERE key = ?1", [key])? == 1))
    }

    /// Lists settings by key.
    pub fn list_settings(&self, page: Page) -> Result<Vec<Setting>> {
        let (limit, offset) = page_bounds(page)?;
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT key, value, updated_at FROM settings ORDER BY key LIMIT ?1 OFFSET ?2")?;
            query_all(&mut stmt, params![limit, offset], |row| {
                Ok(Setting { key: row.get(0)?, value: row.get(1)?, updated_at: row.get(2)? })
            })
        })
    }

    /// Records the start of an agent run, in status "running".
    pub fn create_agent_execution(&self, input: &AgentExecutionInput, now: i64) -> Result<AgentExecution> {
        self.write(|tx| {
            Ok(tx.query_row(
                &format!(
                    "INSERT INTO agent_executions (id, agent_id, session_id, status, input, started_at, message_id)
                     VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6) RETURNING {EXECUTION_COLUMNS}"
                ),
                params![input.id, input.agent_id, input.session_id, input.input, now, input.message_id],
                execution_from_row,
            )?)
        })
    }

    /// Updates an execution's status and figures; "completed", "failed" and "stopped" also set
    /// `completed_at`.
    pub fn update_agent_execution(&self, id: &str, update: &ExecutionUpdate, now: i64) -> Result<AgentExecution> {
        let finished = matches!(update.status.as_str(), "completed" | "failed" | "stopped");
        self.write(|tx| {
            tx.query_row(
                &format!(
                    "UPDATE agent_executions SET status = ?2, output = coalesce(?3, output), error = coalesce(?4, error),
                        completed_at = CASE WHEN ?5 THEN ?6 ELSE completed_at END,
                        first_token_ms = coalesce(?7, first_token_ms), total_ms = coalesce(?8, total_ms),
                        prompt_tokens = coalesce(?9, prompt_tokens), completion_tokens = coalesce(?10, completion_tokens)
                     WHERE id = ?1 RETURNING {EXECUTION_COLUMNS}"
                ),
                params![
                    id,
                    update.status,
                    update.output,
                    update.error,
                    finished,
                    now,
                    update.first_token_ms,
                    update.total_ms,
                    update.prompt_tokens,
                    update.completion_tokens
                ],
                execution_from_row,
            )
            .optional()?
            .ok_or(Error::NotFound { entity: "agent execution" })
        })
    }

    /// Fetches one execution.
    pub fn get_agent_execution(&self, id: &str) -> Result<AgentExecution> {
        self.read(|conn| {
            conn.query_row(
                &format!("SELECT {EXECUTION_COLUMNS} FROM agent_executions WHERE id = ?1"),
                [id],
                execution_from_row,
            )
            .optional()?
            .ok_or(Error::NotFound { entity: "agent execution" })
        })
    }

    /// Lists executions, newest first, filtered by agent, session and status.
    pub fn list_agent_executions(&self, filter: &ExecutionFilter, page: Page) -> Result<Vec<AgentExecution>> {
        let (limit, offset) = page_bounds(page)?;
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EXECUTION_COLUMNS} FROM agent_executions
                 WHERE (?1 IS NULL OR agent_id = ?1) AND (?2 IS NULL OR session_id = ?2) AND (?3 IS NULL OR status = ?3)
                 ORDER BY started_at DESC, id LIMIT ?4 OFFSET ?5"
            ))?;
            query_all(
                &mut stmt,
                params![filter.agent_id, filter.session_id, filter.status, limit, offset],
                execution_from_row,
            )
        })
    }
}
