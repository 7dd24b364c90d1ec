-- mod_scep: upgrade a MySQL/MariaDB database made by an earlier schema
-- (before the fleet view: search, filters, counts, audit trail, and the
-- trace of each transaction's decisions). Run it once,
-- then the schema file (which adds scep_names and scep_audit), then restart
-- httpd:
--   mysql scep < upgrade-0.3-mysql.sql
--   mysql scep < schema-mysql.sql
ALTER TABLE scep_transactions
    ADD COLUMN trace TEXT,
    ADD KEY scep_transactions_serial (ca, serial),
    ADD KEY scep_transactions_client (ca, client_addr, id),
    ADD KEY scep_transactions_profile (ca, profile, id),
    ADD KEY scep_transactions_created (ca, created_at, profile, status);
