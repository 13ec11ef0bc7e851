-- Notifications, numbered per recipient; one per (event, recipient) whichever instance
-- processes the event

CREATE TABLE notifications (
    id           TEXT PRIMARY KEY,
    recipient_id TEXT NOT NULL REFERENCES users(id),
    seq          INTEGER NOT NULL,
    event_seq    INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    actor_id     TEXT,
    post_id      TEXT,
    comment_id   TEXT,
    message_id   TEXT,
    order_id     TEXT,
    created_at   INTEGER NOT NULL,
    read_at      INTEGER,
    UNIQUE (recipient_id, seq),
    UNIQUE (event_seq, recipient_id)
) STRICT;
CREATE INDEX notifications_unread ON notifications(recipient_id, seq) WHERE read_at IS NULL;
