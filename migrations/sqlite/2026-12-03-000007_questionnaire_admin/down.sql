DROP INDEX screenings_hash_submitted;
DROP TABLE questionnaire_withdrawals;
DROP TABLE questionnaire_publications;
DROP TABLE questionnaire_loads;
DROP TABLE questionnaire_refusals;
