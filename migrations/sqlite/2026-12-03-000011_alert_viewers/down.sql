DROP TABLE alert_viewers;
