-- Screenings whose `?site=` named no known site, counted per code and China-time day, so a
-- misprinted or retired poster is noticed (the screening itself is stored with no site).
-- Only codes of the slug alphabet (`[a-z0-9_-]{1,64}`) are counted, at most 100 new codes a
-- day (a flood of made-up codes cannot grow the table without bound).
CREATE TABLE unknown_site_codes (
    code TEXT NOT NULL,
    day DATE NOT NULL,
    count INTEGER NOT NULL,
    last_seen TIMESTAMP NOT NULL,
    PRIMARY KEY (code, day)
);
