DROP TABLE contacts;
DROP TABLE screenings;
DROP TABLE questionnaire_versions;
