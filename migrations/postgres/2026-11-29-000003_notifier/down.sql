ALTER TABLE alerts DROP COLUMN policy;
DROP TABLE shift_sites;
DROP TABLE shifts;
DROP TABLE workers;
DROP TABLE jobs;
