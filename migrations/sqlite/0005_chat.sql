-- Chat: rooms, members with their read positions, messages numbered per room

CREATE TABLE chat_rooms (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    title            TEXT,
    -- Set for direct rooms only (see domain::direct_key); UNIQUE admits many NULLs.
    direct_key       TEXT UNIQUE,
    listing_id       TEXT REFERENCES posts(id),
    created_by       TEXT NOT NULL REFERENCES users(id),
    created_at       INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL,
    last_seq         INTEGER NOT NULL DEFAULT 0,
    last_message_id  TEXT
) STRICT;

CREATE TABLE chat_members (
    room_id       TEXT NOT NULL REFERENCES chat_rooms(id),
    user_id       TEXT NOT NULL REFERENCES users(id),
    position      INTEGER NOT NULL,
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX chat_members_by_user ON chat_members(user_id, room_id);

CREATE TABLE chat_messages (
    id         TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL REFERENCES chat_rooms(id),
    seq        INTEGER NOT NULL,
    author_id  TEXT NOT NULL REFERENCES users(id),
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (room_id, seq)
) STRICT;
