-- The mail path's health, shared by every instance: one row per transport (`smtp` or
-- `outbox`). failing_since is set by the first transient failure after a success and
-- cleared by the next success; failing longer than mail.alarm_after is an operational alarm.
CREATE TABLE mail_health (
    id TEXT PRIMARY KEY NOT NULL,
    failing_since TIMESTAMP,
    last_failure_at TIMESTAMP,
    last_success_at TIMESTAMP,
    last_error TEXT
);

-- The sign-in throttle, shared by every instance: failed sign-ins per key (`ip:<address>` or
-- `account:<email>`), with the time of the last one. A success deletes its account's row.
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY NOT NULL,
    count INTEGER NOT NULL,
    last_at TIMESTAMP NOT NULL
);
