-- Who has an alert's page open (issue 13): each open page of a signed-in staff member
-- refreshes its row every few seconds; a row seen within the last minute means "open now".
-- Kept in the database, not in memory, so that staff on different instances see each other.
CREATE TABLE alert_viewers (
    alert_id TEXT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seen_at TIMESTAMP NOT NULL,
    PRIMARY KEY (alert_id, user_id)
);
CREATE INDEX alert_viewers_seen ON alert_viewers (seen_at);
