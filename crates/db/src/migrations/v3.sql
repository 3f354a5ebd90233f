-- Schema v3: chat as a tree of messages owned by users, agents with options, executions that
-- can be stopped and carry timings and token counts, and full-text search over messages.
ALTER TABLE chat_sessions ADD COLUMN user_uuid TEXT;
CREATE INDEX chat_sessions_user_uuid ON chat_sessions (user_uuid, updated_at);

ALTER TABLE chat_messages ADD COLUMN parent_id TEXT REFERENCES chat_messages (id) ON DELETE CASCADE;
ALTER TABLE chat_messages ADD COLUMN status TEXT NOT NULL DEFAULT 'done'
    CHECK (status IN ('done', 'streaming', 'stopped', 'failed'));
CREATE INDEX chat_messages_parent_id ON chat_messages (parent_id);

ALTER TABLE agents ADD COLUMN user_uuid TEXT;
ALTER TABLE agents ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
CREATE INDEX agents_user_uuid ON agents (user_uuid);

CREATE TABLE agent_executions_v3 (
    id                TEXT    PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    agent_id          TEXT    NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    session_id        TEXT    REFERENCES chat_sessions (id) ON DELETE SET NULL,
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'stopped')),
    input             TEXT    NOT NULL DEFAULT '',
    output            TEXT,
    error             TEXT,
    started_at        INTEGER NOT NULL,
    completed_at      INTEGER,
    message_id        TEXT,
    first_token_ms    INTEGER,
    total_ms          INTEGER,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER
) STRICT;
INSERT INTO agent_executions_v3 (id, agent_id, session_id, status, input, output, error, started_at, completed_at)
    SELECT id, agent_id, session_id, status, input, output, error, started_at, completed_at FROM agent_executions;
DROP TABLE agent_executions;
ALTER TABLE agent_executions_v3 RENAME TO agent_executions;
CREATE INDEX agent_executions_agent_id ON agent_executions (agent_id);
CREATE INDEX agent_executions_session_id ON agent_executions (session_id);
CREATE INDEX agent_executions_status ON agent_executions (status);
CREATE INDEX agent_executions_started_at ON agent_executions (started_at);

CREATE VIRTUAL TABLE chat_messages_fts USING fts5 (content, content = 'chat_messages', content_rowid = 'rowid');
INSERT INTO chat_messages_fts (rowid, content) SELECT rowid, content FROM chat_messages;
CREATE TRIGGER chat_messages_fts_insert AFTER INSERT ON chat_messages BEGIN
    INSERT INTO chat_messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER chat_messages_fts_delete AFTER DELETE ON chat_messages BEGIN
    INSERT INTO chat_messages_fts (chat_messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
END;
CREATE TRIGGER chat_messages_fts_update AFTER UPDATE OF content ON chat_messages BEGIN
    INSERT INTO chat_messages_fts (chat_messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
    INSERT INTO chat_messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;
