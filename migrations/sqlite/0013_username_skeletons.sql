-- Usernames' confusable skeletons (Unicode TR39), unique so that two names that look
-- alike cannot both exist; the migration runner (`src/store/sqlite/migrate.rs`) fills them
-- in for the users stored before

ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_username_skeleton ON users(username_skeleton);
