-- Every questionnaire version that scored a screening, by the SHA-256 of its file.
CREATE TABLE questionnaire_versions (
    content_hash TEXT PRIMARY KEY NOT NULL,
    questionnaire_id TEXT NOT NULL,
    version TEXT NOT NULL,
    source TEXT NOT NULL,
    first_used_at TIMESTAMP NOT NULL
);

CREATE TABLE screenings (
    id TEXT PRIMARY KEY NOT NULL,
    questionnaire_id TEXT NOT NULL,
    content_hash TEXT NOT NULL REFERENCES questionnaire_versions (content_hash),
    answers TEXT NOT NULL,
    scores TEXT NOT NULL,
    bands TEXT NOT NULL,
    reasons TEXT NOT NULL,
    tier TEXT NOT NULL CHECK (tier IN ('green', 'yellow', 'red')),
    urgent BOOLEAN NOT NULL,
    locale TEXT NOT NULL,
    site TEXT,
    submitted_at TIMESTAMP NOT NULL,
    idempotency_key TEXT UNIQUE,
    request_hash TEXT,
    response TEXT,
    contact_token_hash TEXT
);
CREATE INDEX screenings_submitted_at ON screenings (submitted_at);
CREATE INDEX screenings_site_tier ON screenings (site, tier);

-- Contact details, only with consent, kept apart from the answers and encrypted at rest.
CREATE TABLE contacts (
    screening_id TEXT PRIMARY KEY NOT NULL REFERENCES screenings (id) ON DELETE CASCADE,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    delete_after TIMESTAMP NOT NULL
);
CREATE INDEX contacts_delete_after ON contacts (delete_after);
