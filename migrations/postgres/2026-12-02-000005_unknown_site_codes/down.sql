DROP TABLE unknown_site_codes;
