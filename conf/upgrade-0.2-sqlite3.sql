-- mod_scep: upgrade an SQLite database made by an earlier schema (before
-- renewal was bound to its profile and the throttle had its own table).
-- Run it once, then the schema file, then restart httpd:
--   sqlite3 /var/lib/mod_scep/scep.sqlite < upgrade-0.2-sqlite3.sql
--   sqlite3 /var/lib/mod_scep/scep.sqlite < schema-sqlite3.sql
-- (A second run stops at the first ALTER: "duplicate column name".)
.bail on
BEGIN;
ALTER TABLE scep_certificates ADD COLUMN profile TEXT;
ALTER TABLE scep_certificates ADD COLUMN lineage TEXT;
ALTER TABLE scep_certificates ADD COLUMN renewed_by TEXT;
-- each certificate's profile: the one its transaction recorded
UPDATE scep_certificates SET profile = (
    SELECT t.profile FROM scep_transactions t
    WHERE t.ca = scep_certificates.ca AND t.serial = scep_certificates.serial
      AND t.status = 'ISSUED' ORDER BY t.id LIMIT 1);
-- its successor: the first renewal issued from it
UPDATE scep_certificates SET renewed_by = (
    SELECT t.serial FROM scep_transactions t
    WHERE t.ca = scep_certificates.ca AND t.renewal_of = scep_certificates.serial
      AND t.status = 'ISSUED' ORDER BY t.id LIMIT 1);
-- its chain of renewals: the serial of the first certificate of the chain
WITH RECURSIVE chain(ca, serial, lineage) AS (
    SELECT c.ca, c.serial, c.serial FROM scep_certificates c
    WHERE NOT EXISTS (SELECT 1 FROM scep_transactions t WHERE t.ca = c.ca
                      AND t.serial = c.serial AND t.status = 'ISSUED'
                      AND t.renewal_of IS NOT NULL AND t.renewal_of <> '')
    UNION ALL
    SELECT t.ca, t.serial, chain.lineage FROM scep_transactions t
    JOIN chain ON t.ca = chain.ca AND t.renewal_of = chain.serial
    WHERE t.status = 'ISSUED')
UPDATE scep_certificates SET lineage = (
    SELECT chain.lineage FROM chain
    WHERE chain.ca = scep_certificates.ca AND chain.serial = scep_certificates.serial);
UPDATE scep_certificates SET lineage = serial WHERE lineage IS NULL;
-- failed attempts are counted in their own table (the schema file makes it)
DROP INDEX IF EXISTS scep_transactions_auth;
COMMIT;
