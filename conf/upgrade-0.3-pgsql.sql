-- mod_scep: upgrade a PostgreSQL database made by an earlier schema (before
-- each transaction kept the trace of its decisions). Run it once, then the
-- schema file (which adds the fleet view's tables and indexes), then
-- restart httpd:
--   psql -d scep -f upgrade-0.3-pgsql.sql && psql -d scep -f schema-pgsql.sql
ALTER TABLE scep_transactions ADD COLUMN IF NOT EXISTS trace TEXT;
