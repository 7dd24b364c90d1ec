-- mod_scep: upgrade a MariaDB database made by an earlier schema (before
-- renewal was bound to its profile and the throttle had its own table).
-- Run it, then the schema file, then restart httpd (safe to run twice):
--   mariadb scep < upgrade-0.2-mysql.sql && mariadb scep < schema-mysql.sql
-- (MariaDB: ADD COLUMN IF NOT EXISTS; MySQL 8 lacks it: drop those words and
-- run it once.)
ALTER TABLE scep_certificates
    ADD COLUMN IF NOT EXISTS profile VARCHAR(255),
    ADD COLUMN IF NOT EXISTS lineage VARCHAR(64),
    ADD COLUMN IF NOT EXISTS renewed_by VARCHAR(64),
    ADD KEY IF NOT EXISTS scep_certificates_lineage (ca, lineage);
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
-- its chain of renewals: the first certificate of a chain is its own, and
-- each pass of the loop reaches one renewal further
UPDATE scep_certificates c SET lineage = serial
WHERE lineage IS NULL AND NOT EXISTS (
    SELECT 1 FROM scep_transactions t WHERE t.ca = c.ca AND t.serial = c.serial
    AND t.status = 'ISSUED' AND t.renewal_of IS NOT NULL AND t.renewal_of <> '');
DELIMITER //
BEGIN NOT ATOMIC
    REPEAT
        UPDATE scep_certificates c
            JOIN scep_transactions t ON t.ca = c.ca AND t.serial = c.serial AND t.status = 'ISSUED'
            JOIN scep_certificates p ON p.ca = t.ca AND p.serial = t.renewal_of
        SET c.lineage = p.lineage WHERE c.lineage IS NULL AND p.lineage IS NOT NULL;
    UNTIL ROW_COUNT() = 0 END REPEAT;
END //
DELIMITER ;
UPDATE scep_certificates SET lineage = serial WHERE lineage IS NULL;
-- failed attempts are counted in their own table (the schema file makes it)
ALTER TABLE scep_transactions DROP INDEX IF EXISTS scep_transactions_auth;
