-- The job table is the outbox: what must happen later (a page, the next escalation step, a
-- reminder, a digest) is a row here, written in the same transaction as its cause.
-- status: pending (waiting or leased), done, failed (a permanent error, e.g. a 5xx from the
-- mail server), dead (kept failing), cancelled (no longer needed, e.g. the alert was resolved).
CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    unique_key TEXT NOT NULL UNIQUE,
    alert_id TEXT REFERENCES alerts (id),
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed', 'dead', 'cancelled')),
    run_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL,
    lease_token TEXT,
    locked_by TEXT,
    locked_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX jobs_ready ON jobs (status, run_at);
CREATE INDEX jobs_alert ON jobs (alert_id, status);

-- Workers seen recently (readiness fails when none has been seen for a minute).
CREATE TABLE workers (
    id TEXT PRIMARY KEY NOT NULL,
    started_at TIMESTAMP NOT NULL,
    seen_at TIMESTAMP NOT NULL
);

-- Duty rosters: a person's shift (stored in UTC); sites empty means the person's own sites.
CREATE TABLE shifts (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX shifts_time ON shifts (starts_at, ends_at);

CREATE TABLE shift_sites (
    shift_id TEXT NOT NULL REFERENCES shifts (id) ON DELETE CASCADE,
    site TEXT NOT NULL REFERENCES sites (slug) ON DELETE CASCADE,
    PRIMARY KEY (shift_id, site)
);

-- The escalation policy in force when the alert opened (JSON): later edits apply to new alerts.
ALTER TABLE alerts ADD COLUMN policy TEXT;
