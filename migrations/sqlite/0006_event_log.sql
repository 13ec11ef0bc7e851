-- Event log: every published domain event, tailed by every instance on this file.
-- AUTOINCREMENT so numbers are never reused after old entries are pruned.

CREATE TABLE event_log (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    at   INTEGER NOT NULL,
    body TEXT NOT NULL
) STRICT;
CREATE INDEX event_log_by_time ON event_log(at);
