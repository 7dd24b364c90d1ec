-- mod_scep: upgrade an SQLite database made by an earlier schema (before
-- each transaction kept the trace of its decisions). Run it once, then the
-- schema file (which adds the fleet view's tables and indexes), then
-- restart httpd:
--   sqlite3 /var/lib/mod_scep/scep.sqlite < upgrade-0.3-sqlite3.sql
--   sqlite3 /var/lib/mod_scep/scep.sqlite < schema-sqlite3.sql
-- (A second run stops at the ALTER: "duplicate column name".)
.bail on
ALTER TABLE scep_transactions ADD COLUMN trace TEXT;
