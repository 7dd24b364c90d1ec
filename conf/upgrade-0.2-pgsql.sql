-- mod_scep: upgrade a PostgreSQL database made by an earlier schema (before
-- renewal was bound to its profile and the throttle had its own table).
-- Run it, then the schema file, then restart httpd (safe to run twice):
--   psql -d scep -f upgrade-0.2-pgsql.sql && psql -d scep -f schema-pgsql.sql
BEGIN;
ALTER TABLE scep_certificates ADD COLUMN IF NOT EXISTS profile TEXT;
ALTER TABLE scep_certificates ADD COLUMN IF NOT EXISTS lineage TEXT;
ALTER TABLE scep_certificates ADD COLUMN IF NOT EXISTS renewed_by TEXT;
-- each certificate's profile: the one its transaction recorded
UPDATE scep_certificates c SET profile = (
    SELECT t.profile FROM scep_transactions t
    WHERE t.ca = c.ca AND t.serial = c.serial AND t.status = 'ISSUED' ORDER BY t.id LIMIT 1)
WHERE c.profile IS NULL;
-- its successor: the first renewal issued from it
UPDATE scep_certificates c SET renewed_by = (
    SELECT t.serial FROM scep_transactions t
    WHERE t.ca = c.ca AND t.renewal_of = c.serial AND t.status = 'ISSUED' ORDER BY t.id LIMIT 1)
WHERE c.renewed_by IS NULL;
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
UPDATE scep_certificates c SET lineage = chain.lineage FROM chain
WHERE c.lineage IS NULL AND chain.ca = c.ca AND chain.serial = c.serial;
UPDATE scep_certificates SET lineage = serial WHERE lineage IS NULL;
-- failed attempts are counted in their own table (the schema file makes it)
DROP INDEX IF EXISTS scep_transactions_auth;
COMMIT;
