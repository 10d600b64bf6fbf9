DROP TABLE login_failures;
DROP TABLE mail_health;
