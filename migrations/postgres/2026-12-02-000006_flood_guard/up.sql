-- Issue 11: a flood of fake screenings must never bury a real red alert.
--
-- Each screening keeps a short-lived source fingerprint: a keyed hash (HMAC-SHA256 under a key
-- derived from privacy.contact_key) of the client's network (IPv4 /24, IPv6 /48) and user
-- agent; never an address in clear. It is cleared after abuse.retention.
ALTER TABLE screenings ADD COLUMN source_fp TEXT;
CREATE INDEX screenings_source_fp ON screenings (source_fp, submitted_at);
CREATE INDEX screenings_site_submitted ON screenings (site, submitted_at);

-- A suspected flood: the yellow and red alerts one fingerprint (kind `source`) or one site
-- beyond its usual rate (kind `site`) raised past the abuse thresholds. One row in the queue;
-- never dropped, never resolved by itself. `active` while it still takes new alerts (until
-- abuse.window passes without one), then `closed` (its alerts stay until someone resolves them).
CREATE TABLE flood_clusters (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    source_key TEXT NOT NULL,
    site TEXT,
    status TEXT NOT NULL,
    first_at TIMESTAMP NOT NULL,
    last_at TIMESTAMP NOT NULL,
    alert_count INTEGER NOT NULL,
    paged_at TIMESTAMP,
    paged_count INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX flood_clusters_one_active ON flood_clusters (kind, source_key) WHERE status = 'active';

-- The cluster an alert joined (NULL: in the queue as usual).
ALTER TABLE alerts ADD COLUMN cluster_id TEXT REFERENCES flood_clusters (id);
CREATE INDEX alerts_cluster ON alerts (cluster_id, status);
-- Alerts outside clusters at a site in the window: counted at each yellow or red screening.
CREATE INDEX alerts_site_created ON alerts (site, created_at);

-- Proof-of-work challenges already used (ALTCHA signatures): each is accepted once.
CREATE TABLE spent_challenges (
    signature TEXT PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
