-- Issue 13: staff phone numbers (E.164, e.g. +8613800138000) for SMS and voice pages. Staff
-- data, never a rider's: riders' numbers stay in the encrypted contacts table.
ALTER TABLE users ADD COLUMN phone TEXT;
