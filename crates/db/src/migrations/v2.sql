-- Schema v2: fixed-window rate limit counters, checked and incremented in one transaction.
CREATE TABLE rate_limits (
    scope        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (scope, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX rate_limits_window_start ON rate_limits (window_start);
