-- Schema v1: accounts, tokens, chat, settings, plugin state and audit.
-- Every timestamp is Unix time in milliseconds, supplied by the caller's clock.

CREATE TABLE users (
    id               INTEGER PRIMARY KEY,
    uuid             TEXT    NOT NULL UNIQUE,
    name             TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    email            TEXT    NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    email_normalized TEXT    NOT NULL UNIQUE,
    password_hash    TEXT    NOT NULL,
    email_verified   INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    avatar           TEXT,
    bio              TEXT,
    role             TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    disabled         INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    id           TEXT    PRIMARY KEY CHECK (length(id) = 64),
    user_uuid    TEXT    NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL CHECK (expires_at >= created_at)
) STRICT;
CREATE INDEX sessions_user_uuid ON sessions (user_uuid);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE email_verification_tokens (
    token_hash TEXT    PRIMARY KEY CHECK (length(token_hash) = 64),
    user_uuid  TEXT    NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    email      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL CHECK (expires_at >= created_at)
) STRICT;
CREATE INDEX email_verification_tokens_user_uuid ON email_verification_tokens (user_uuid);

CREATE TABLE password_reset_tokens (
    token_hash TEXT    PRIMARY KEY CHECK (length(token_hash) = 64),
    user_uuid  TEXT    NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    email      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL CHECK (expires_at >= created_at)
) STRICT;
CREATE INDEX password_reset_tokens_user_uuid ON password_reset_tokens (user_uuid);

CREATE TABLE refresh_tokens (
    token_hash  TEXT    PRIMARY KEY CHECK (length(token_hash) = 64),
    family_id   TEXT    NOT NULL,
    user_uuid   TEXT    NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    session_id  TEXT    REFERENCES sessions (id) ON DELETE SET NULL,
    parent_hash TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL CHECK (expires_at >= created_at),
    revoked_at  INTEGER
) STRICT;
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_uuid ON refresh_tokens (user_uuid);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

CREATE TABLE agents (
    id            TEXT    PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    name          TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description   TEXT    NOT NULL DEFAULT '',
    model_name    TEXT    NOT NULL,
    system_prompt TEXT    NOT NULL DEFAULT '',
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX agents_is_active ON agents (is_active);
CREATE INDEX agents_model_name ON agents (model_name);

CREATE TABLE chat_sessions (
    id         TEXT    PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    title      TEXT    NOT NULL,
    model_name TEXT,
    agent_id   TEXT    REFERENCES agents (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX chat_sessions_created_at ON chat_sessions (created_at);
CREATE INDEX chat_sessions_updated_at ON chat_sessions (updated_at);
CREATE INDEX chat_sessions_agent_id ON chat_sessions (agent_id);

CREATE TABLE chat_messages (
    id         TEXT    PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    session_id TEXT    NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content    TEXT    NOT NULL,
    model_name TEXT,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX chat_messages_session_id ON chat_messages (session_id);
CREATE INDEX chat_messages_created_at ON chat_messages (created_at);
CREATE INDEX chat_messages_role ON chat_messages (role);

CREATE TABLE settings (
    key        TEXT    PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 256),
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE agent_executions (
    id           TEXT    PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    agent_id     TEXT    NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    session_id   TEXT    REFERENCES chat_sessions (id) ON DELETE SET NULL,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    input        TEXT    NOT NULL DEFAULT '',
    output       TEXT,
    error        TEXT,
    started_at   INTEGER NOT NULL,
    completed_at INTEGER
) STRICT;
CREATE INDEX agent_executions_agent_id ON agent_executions (agent_id);
CREATE INDEX agent_executions_session_id ON agent_executions (session_id);
CREATE INDEX agent_executions_status ON agent_executions (status);
CREATE INDEX agent_executions_started_at ON agent_executions (started_at);

CREATE TABLE plugin_kv (
    plugin     TEXT    NOT NULL,
    key        TEXT    NOT NULL CHECK (length(key) BETWEEN 1 AND 512),
    value      BLOB    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (plugin, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE plugin_grants (
    plugin     TEXT    NOT NULL,
    grant_name TEXT    NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (plugin, grant_name)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    plugin      TEXT,
    user_uuid   TEXT,
    client_addr TEXT,
    data        TEXT    NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_kind ON audit_events (kind);
CREATE INDEX audit_events_user_uuid ON audit_events (user_uuid);

-- Host-held secrets such as the token signing key. Never reachable from a plugin.
CREATE TABLE host_secrets (
    name       TEXT    PRIMARY KEY,
    value      BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
