DROP TABLE spent_challenges;
DROP INDEX alerts_site_created;
DROP INDEX alerts_cluster;
ALTER TABLE alerts DROP COLUMN cluster_id;
DROP TABLE flood_clusters;
DROP INDEX screenings_site_submitted;
DROP INDEX screenings_source_fp;
ALTER TABLE screenings DROP COLUMN source_fp;
