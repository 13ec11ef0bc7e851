-- Ephemeral event-log entries (typing), pruned within a minute or two

ALTER TABLE event_log ADD COLUMN ephemeral INTEGER NOT NULL DEFAULT 0;
CREATE INDEX event_log_ephemeral_by_time ON event_log(at) WHERE ephemeral = 1;
