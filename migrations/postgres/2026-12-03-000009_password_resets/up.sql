-- Password reset links sent by email (issue 13). Only the SHA-256 of a link's token is
-- stored, so a copy of the database cannot be used to reset anyone's password. A link is
-- single-use (used_at) and short-lived (expires_at); a new request ends the older links of
-- the same user (used_at set).
CREATE TABLE password_resets (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX password_resets_user ON password_resets (user_id);
