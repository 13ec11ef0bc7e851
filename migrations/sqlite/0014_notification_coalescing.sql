-- Notification coalescing: one unread notification per recipient and coalescing key.
-- Rows stored before have no key and never coalesce (giving them one could break the new
-- UNIQUE index on the duplicates the flood left behind).

ALTER TABLE notifications ADD COLUMN coalesce_key TEXT;
CREATE UNIQUE INDEX notifications_coalesce_unread
    ON notifications(recipient_id, coalesce_key)
    WHERE read_at IS NULL AND coalesce_key IS NOT NULL;
CREATE INDEX notifications_by_coalesce_key
    ON notifications(recipient_id, coalesce_key, event_seq)
    WHERE coalesce_key IS NOT NULL;
