-- Issue 14: administrators manage questionnaires from the workspace.

-- A file the service refused (it failed validation), by questionnaire id (the file's stem):
-- kept here, not only in memory, so every instance and a restarted one list it. `errors` is a
-- JSON list of `path:line:col: message`; `source` the refused text (its offending lines are
-- shown). Deleted when the file loads again.
CREATE TABLE questionnaire_refusals (
    questionnaire_id TEXT PRIMARY KEY NOT NULL,
    path TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    errors TEXT NOT NULL,
    source TEXT NOT NULL,
    refused_at TIMESTAMP NOT NULL
);

-- Which version each running instance serves, refreshed by its sync loop (`seen_at`). The
-- newest row of a questionnaire is its last good version, served after a restart when the
-- file is broken; an instance seen lately with another hash is shown to administrators.
CREATE TABLE questionnaire_loads (
    instance_id TEXT NOT NULL,
    questionnaire_id TEXT NOT NULL,
    content_hash TEXT NOT NULL REFERENCES questionnaire_versions (content_hash),
    version TEXT NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    seen_at TIMESTAMP NOT NULL,
    PRIMARY KEY (instance_id, questionnaire_id)
);
CREATE INDEX questionnaire_loads_latest ON questionnaire_loads (questionnaire_id, loaded_at);

-- Who published what from the workspace (also in the audit log, with the report's counts).
CREATE TABLE questionnaire_publications (
    id TEXT PRIMARY KEY NOT NULL,
    questionnaire_id TEXT NOT NULL,
    content_hash TEXT NOT NULL REFERENCES questionnaire_versions (content_hash),
    old_version TEXT,
    new_version TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('publish', 'rollback')),
    published_by TEXT,
    published_at TIMESTAMP NOT NULL
);
CREATE INDEX questionnaire_publications_by_id ON questionnaire_publications (questionnaire_id, published_at);

-- A questionnaire withdrawn from riders: not deleted, its versions stay so stored screenings
-- remain explainable.
CREATE TABLE questionnaire_withdrawals (
    questionnaire_id TEXT PRIMARY KEY NOT NULL,
    withdrawn_at TIMESTAMP NOT NULL,
    withdrawn_by TEXT
);

-- The what-would-change report reads the screenings of one version in a window.
CREATE INDEX screenings_hash_submitted ON screenings (content_hash, submitted_at);
