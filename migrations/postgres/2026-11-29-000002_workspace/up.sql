-- Stations. A screening's site names one of these, or none.
CREATE TABLE sites (
    slug TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Staff accounts. One role each; no employer or platform role exists, by design.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('counselor', 'supervisor', 'admin')),
    password_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    locale TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- The sites a user serves; none means all.
CREATE TABLE user_sites (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    site TEXT NOT NULL REFERENCES sites (slug) ON DELETE CASCADE,
    PRIMARY KEY (user_id, site)
);

-- Every signed-in session; a token is honoured only while its row is live.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX sessions_user ON sessions (user_id);

-- One alert per yellow or red screening, or per identified rider while one is open.
-- priority: 0 urgent red, 1 red, 2 yellow (the queue's first sort key).
CREATE TABLE alerts (
    id TEXT PRIMARY KEY NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    tier TEXT NOT NULL CHECK (tier IN ('yellow', 'red')),
    urgent BOOLEAN NOT NULL,
    priority INTEGER NOT NULL,
    site TEXT REFERENCES sites (slug) ON DELETE SET NULL,
    reasons TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    assignee_id TEXT REFERENCES users (id),
    rider_key TEXT,
    created_at TIMESTAMP NOT NULL,
    deadline_at TIMESTAMP NOT NULL,
    acknowledged_at TIMESTAMP,
    resolved_at TIMESTAMP,
    outcome TEXT CHECK (outcome IN ('contacted_safe', 'referred', 'emergency_services', 'unreachable', 'false_positive', 'other')),
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX alerts_queue ON alerts (status, priority, deadline_at);
CREATE INDEX alerts_rider ON alerts (rider_key, status);

-- The screenings behind an alert: the first, and later ones of the same rider.
CREATE TABLE alert_screenings (
    screening_id TEXT PRIMARY KEY NOT NULL REFERENCES screenings (id),
    alert_id TEXT NOT NULL REFERENCES alerts (id)
);
CREATE INDEX alert_screenings_alert ON alert_screenings (alert_id);

-- The alert's timeline: append-only.
CREATE TABLE alert_events (
    id TEXT PRIMARY KEY NOT NULL,
    alert_id TEXT NOT NULL REFERENCES alerts (id),
    at TIMESTAMP NOT NULL,
    actor_id TEXT REFERENCES users (id),
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, at);

-- Who did or saw what, when, from where: append-only (the triggers below refuse changes).
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    ip TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

-- An identified rider (consented contact) is known by a keyed hash of the phone number.
ALTER TABLE contacts ADD COLUMN rider_key TEXT;
CREATE INDEX contacts_rider ON contacts (rider_key);

CREATE FUNCTION careline_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION careline_append_only();
CREATE TRIGGER alert_events_append_only BEFORE UPDATE OR DELETE ON alert_events
    FOR EACH ROW EXECUTE FUNCTION careline_append_only();
-- Row triggers do not see TRUNCATE: refuse it too.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION careline_append_only();
CREATE TRIGGER alert_events_no_truncate BEFORE TRUNCATE ON alert_events
    FOR EACH STATEMENT EXECUTE FUNCTION careline_append_only();
