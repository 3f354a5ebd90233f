-- Secrets an administrator gives a plugin (API keys). The host puts a secret into the headers of
-- the plugin's outbound requests to the one origin it is bound to; no host function returns it.
CREATE TABLE plugin_secrets (
    plugin TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    origin TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (plugin, name)
) WITHOUT ROWID;
