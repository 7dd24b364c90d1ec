# Earlier enrollments for the benchmarks: SQL that fills a mod_scep database
# (schema already loaded) with ROWS enrollments of realistic size and shape.
# Sourced (POSIX sh) by bench/run.sh (BENCH_GROWTH) and bench/admin-scale.sh;
# it defines functions only.
#
#   records_ca_fp CA.pem
#       the `ca` column for that CA: the hex SHA-256 of its DER, upper case,
#       as scep_cert_fingerprint (scep/scep_ossl.c, scep_hex) writes it
#   records_sql sqlite|pgsql ROWS CA NOW SCHEMA.sql   (ROWS >= 1000: check it first,
#       since in a pipeline only the database client's exit status counts)
#       the SQL on stdout; pipe it into `sqlite3 -bail DB` or `psql -v ON_ERROR_STOP=1`
#
# What the rows look like (ROWS >= 1000; enrollment i has id i):
#   - created_at spread evenly over the 3 years before NOW, oldest first, so
#     ids grow with time as they do in a live table (any 30 days hold ~1/36)
#   - status by i % 50: 0 PENDING (2%), 1-4 REJECTED (8%), else ISSUED (90%)
#   - profile (the Location) by i % 3: /scep, /scep-vpn, /scep-wifi
#   - subject CN=device<i>; client address 10.a.b.c from i (distinct);
#     transactionID 32 random hex digits + i (distinct); ISSUED ones have a
#     serial of 24 random hex digits + i (distinct) and a certificate valid
#     for one year from issuance (so ~1/36 expire within the next 30 days)
#   - the columns the engine fills, at their real sizes: certificate DER
#     ~1,050 bytes (1,400 characters), CSR ~900 and signer certificate
#     ~1,050 characters on ISSUED and PENDING rows, fingerprints and dedup
#     keys of 64; REJECTED rows are automatic refusals (no dedup key, CSR or
#     signer certificate, fail_info 2; one in four a wrong challenge)
#   - scep_names: the lower-case CN and a dNSName SAN <cn>.example.com of
#     every enrollment
#   - scep_audit: ROWS/100 administrator actions spread over the same years,
#     in turn approve (an ISSUED enrollment, then marked decided), reject (a
#     REJECTED one, decided), revoke (a certificate, then revoked) and
#     challenge (an id), by four actors from 20 addresses
#   - PENDING rows have no plan_subject / plan_san (the page then shows the
#     requested subject): SQLite has no base64 to make that DER in SQL
# The column values are incompressible (random hex) so that PostgreSQL's
# TOAST stores them at full size, as it does real base64.
#
# Speed: the indexes the schema names are dropped before the bulk insert and
# made again after it by running the schema file once more (every statement
# of it is IF NOT EXISTS), so the result has exactly the schema's indexes.
# The table constraints (primary keys, UNIQUE dedup_key) stay throughout.

records_ca_fp() { # CA.pem
    openssl x509 -in "$1" -outform DER | sha256sum | awk '{ print toupper($1) }'
}

# the names of the indexes SCHEMA makes (CREATE INDEX IF NOT EXISTS name ON ...)
records_schema_indexes() { # SCHEMA
    sed -n 's/^CREATE INDEX IF NOT EXISTS \([A-Za-z0-9_]*\) .*/\1/p' "$1"
}

records_sql() { # sqlite|pgsql ROWS CA NOW SCHEMA
    _rd=$1 _rn=$2 _rca=$3 _rnow=$4 _rschema=$5
    [ "$_rn" -ge 1000 ] 2>/dev/null || { echo "records_sql: ROWS must be a number >= 1000" >&2; return 1; }
    # three years, the certificates' year, the audit rows
    _rspan=94608000
    _ryear=31536000
    _raudit=$((_rn / 100))
    # the status of enrollment i (SQL expression over i)
    _rstatus="CASE WHEN i % 50 = 0 THEN 'PENDING' WHEN i % 50 < 5 THEN 'REJECTED' ELSE 'ISSUED' END"
    _rprofile="CASE i % 3 WHEN 0 THEN '/scep' WHEN 1 THEN '/scep-vpn' ELSE '/scep-wifi' END"
    _rcreated="($_rnow - $_rspan + (i * $_rspan) / $_rn)"
    _raddr="'10.' || ((i / 65536) % 256) || '.' || ((i / 256) % 256) || '.' || (i % 256)"
    _rfail="CASE WHEN i % 200 = 1 THEN 'wrong challenge password' ELSE 'profile ' || $_rprofile
            || ': RSA key of 1024 bits is outside 2048..8192 (SCEPRSAKeySize)' END"
    # audit row j: at, and the enrollment near that time it acts on
    # (base - base % 50 + k has i % 50 = k: 10 is ISSUED, 1 REJECTED)
    _rat="($_rnow - $_rspan + (j * $_rspan) / $_raudit)"
    _rbase="(((j - 1) * $_rn) / $_raudit)"
    _ractions="CASE j % 4 WHEN 0 THEN 'approve' WHEN 1 THEN 'reject' WHEN 2 THEN 'revoke' ELSE 'challenge' END"
    _ractor="CASE j % 7 WHEN 0 THEN 'carol' WHEN 1 THEN 'mdm-jamf' WHEN 2 THEN 'mdm-jamf'
             WHEN 3 THEN 'bob' ELSE 'alice' END"

    if [ "$_rd" = sqlite ]; then
        cat <<EOS
-- bulk load: no WAL and no syncs while filling (WAL again at the end), a
-- 1 GiB page cache for the random-key constraint indexes and the index builds
PRAGMA journal_mode = DELETE;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -1048576;
EOS
        for _ri in $(records_schema_indexes "$_rschema"); do echo "DROP INDEX IF EXISTS $_ri;"; done
        cat <<EOS
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $_rn),
r AS (SELECT i, $_rstatus AS status, $_rcreated AS t FROM n)
INSERT INTO scep_transactions (id, ca, transaction_id, message_type, status, dedup_key,
       key_fp, signer_fp, signer_cert, csr, subject, renewal_of, profile, client_addr,
       serial, fail_info, fail_text, auth_failed, created_at, updated_at)
SELECT i, '$_rca', hex(randomblob(16)) || printf('%08X', i), 19, status,
       CASE WHEN status = 'REJECTED' THEN NULL ELSE hex(randomblob(28)) || printf('%08X', i) END,
       hex(randomblob(32)), hex(randomblob(32)),
       CASE WHEN status = 'REJECTED' THEN NULL ELSE hex(randomblob(525)) END,
       CASE WHEN status = 'REJECTED' THEN NULL ELSE hex(randomblob(450)) END,
       'CN=device' || i, '', $_rprofile, $_raddr,
       CASE WHEN status = 'ISSUED' THEN hex(randomblob(12)) || printf('%08X', i) END,
       CASE WHEN status = 'REJECTED' THEN 2 END,
       CASE WHEN status = 'REJECTED' THEN $_rfail END,
       CASE WHEN status = 'REJECTED' AND i % 200 = 1 THEN 1 ELSE 0 END, t, t
FROM r;
-- (SQLite does not check the foreign key, so the certificates may follow)
INSERT INTO scep_certificates (ca, serial, subject, not_before, not_after, der, issued_at,
       profile, lineage)
SELECT ca, serial, subject, created_at - 300, created_at + $_ryear, hex(randomblob(700)),
       created_at, profile, serial
FROM scep_transactions WHERE status = 'ISSUED' ORDER BY id;
INSERT INTO scep_names (ca, name, txn)
SELECT ca, lower(substr(subject, 4)), id FROM scep_transactions
UNION ALL
SELECT ca, lower(substr(subject, 4)) || '.example.com', id FROM scep_transactions;
WITH RECURSIVE a(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM a WHERE j < $_raudit)
INSERT INTO scep_audit (id, ca, at, actor, client_addr, action, target, detail)
SELECT j, '$_rca', $_rat, $_ractor, '10.250.0.' || (j % 20 + 1), $_ractions,
       CASE j % 4
           WHEN 0 THEN CAST($_rbase - $_rbase % 50 + 10 AS TEXT)
           WHEN 1 THEN CAST($_rbase - $_rbase % 50 + 1 AS TEXT)
           WHEN 2 THEN (SELECT serial FROM scep_transactions WHERE id = $_rbase - $_rbase % 50 + 20)
           ELSE CAST(j AS TEXT) END,
       CASE j % 4
           WHEN 1 THEN 'unknown device'
           WHEN 2 THEN CASE j % 3 WHEN 0 THEN 'keyCompromise' WHEN 1 THEN 'superseded'
                                  ELSE 'cessationOfOperation' END
           ELSE CASE j % 3 WHEN 0 THEN '/scep' WHEN 1 THEN '/scep-vpn' ELSE '/scep-wifi' END END
FROM a;
UPDATE scep_transactions SET decided_by = a.actor, decided_at = a.at
FROM scep_audit a
WHERE a.action IN ('approve', 'reject') AND scep_transactions.id = CAST(a.target AS INTEGER);
UPDATE scep_certificates SET revoked_at = a.at,
       revocation_reason = CASE a.detail WHEN 'keyCompromise' THEN 1 WHEN 'superseded' THEN 4 ELSE 5 END
FROM scep_audit a
WHERE a.action = 'revoke' AND scep_certificates.ca = a.ca AND scep_certificates.serial = a.target;
COMMIT;
-- the schema again: it makes the indexes dropped above, and nothing else
EOS
        sed '/journal_mode/d' "$_rschema"
        echo "PRAGMA journal_mode = WAL;"
    else
        cat <<EOS
SET client_min_messages = warning;
SET maintenance_work_mem = '512MB';
EOS
        for _ri in $(records_schema_indexes "$_rschema"); do echo "DROP INDEX IF EXISTS $_ri;"; done
        # serials are a function of i (md5 of a per-run salt), so that the
        # certificates, which the transactions' foreign key needs first, and
        # the transactions agree without a join. The large columns are hex of
        # slices of a 32 kB random bytea made once per statement: incompressible,
        # so TOAST stores them whole, and cheap (a bytea substring is O(1),
        # unlike substr of UTF-8 text; a CTE, not a table, so the pool is not
        # fetched back from TOAST for every row)
        _rserial="upper(substr(md5('$_rnow-' || i), 1, 24)) || lpad(upper(to_hex(i)), 8, '0')"
        _rpool="WITH pool AS MATERIALIZED (SELECT decode(string_agg(md5(random()::text), ''), 'hex') AS rp
              FROM generate_series(1, 2048))"
        _records_slice() { # MULTIPLIER BYTES: hex of BYTES bytes of the pool at an offset from i
            echo "encode(substring(rp from 1 + ((i * $1) % 30000)::int for $2), 'hex')"
        }
        cat <<EOS
BEGIN;
$_rpool
INSERT INTO scep_certificates (ca, serial, subject, not_before, not_after, der, issued_at,
       profile, lineage)
SELECT '$_rca', s, 'CN=device' || i, t - 300, t + $_ryear, $(_records_slice 7919 700),
       t, $_rprofile, s
FROM (SELECT i, $_rserial AS s, $_rcreated AS t FROM generate_series(1::bigint, $_rn) AS i) g,
     pool
WHERE $_rstatus = 'ISSUED';
$_rpool
INSERT INTO scep_transactions (id, ca, transaction_id, message_type, status, dedup_key,
       key_fp, signer_fp, signer_cert, csr, subject, renewal_of, profile, client_addr,
       serial, fail_info, fail_text, auth_failed, created_at, updated_at)
SELECT i, '$_rca', upper(md5(random()::text)) || lpad(upper(to_hex(i)), 8, '0'), 19, status,
       CASE WHEN status = 'REJECTED' THEN NULL
            ELSE upper(md5(random()::text) || substr(md5(random()::text), 1, 24))
                 || lpad(upper(to_hex(i)), 8, '0') END,
       upper(md5(random()::text) || md5(random()::text)),
       upper(md5(random()::text) || md5(random()::text)),
       CASE WHEN status = 'REJECTED' THEN NULL ELSE $(_records_slice 104729 525) END,
       CASE WHEN status = 'REJECTED' THEN NULL ELSE $(_records_slice 15485863 450) END,
       'CN=device' || i, '', $_rprofile, $_raddr,
       CASE WHEN status = 'ISSUED' THEN $_rserial END,
       CASE WHEN status = 'REJECTED' THEN 2 END,
       CASE WHEN status = 'REJECTED' THEN $_rfail END,
       CASE WHEN status = 'REJECTED' AND i % 200 = 1 THEN 1 ELSE 0 END, t, t
FROM (SELECT i, $_rstatus AS status, $_rcreated AS t FROM generate_series(1::bigint, $_rn) AS i) g,
     pool;
INSERT INTO scep_names (ca, name, txn)
SELECT ca, lower(substr(subject, 4)), id FROM scep_transactions
UNION ALL
SELECT ca, lower(substr(subject, 4)) || '.example.com', id FROM scep_transactions;
INSERT INTO scep_audit (id, ca, at, actor, client_addr, action, target, detail)
SELECT j, '$_rca', $_rat, $_ractor, '10.250.0.' || (j % 20 + 1), $_ractions,
       CASE j % 4
           WHEN 0 THEN ($_rbase - $_rbase % 50 + 10)::text
           WHEN 1 THEN ($_rbase - $_rbase % 50 + 1)::text
           WHEN 2 THEN (SELECT serial FROM scep_transactions WHERE id = $_rbase - $_rbase % 50 + 20)
           ELSE j::text END,
       CASE j % 4
           WHEN 1 THEN 'unknown device'
           WHEN 2 THEN CASE j % 3 WHEN 0 THEN 'keyCompromise' WHEN 1 THEN 'superseded'
                                  ELSE 'cessationOfOperation' END
           ELSE CASE j % 3 WHEN 0 THEN '/scep' WHEN 1 THEN '/scep-vpn' ELSE '/scep-wifi' END END
FROM generate_series(1::bigint, $_raudit) AS j;
UPDATE scep_transactions t SET decided_by = a.actor, decided_at = a.at
FROM scep_audit a
WHERE a.action IN ('approve', 'reject')
  -- (the CASE: a revoke's target, a serial, is never cast)
  AND t.id = CASE WHEN a.action IN ('approve', 'reject') THEN a.target::bigint END;
UPDATE scep_certificates c SET revoked_at = a.at,
       revocation_reason = CASE a.detail WHEN 'keyCompromise' THEN 1 WHEN 'superseded' THEN 4 ELSE 5 END
FROM scep_audit a
WHERE a.action = 'revoke' AND c.ca = a.ca AND c.serial = a.target;
-- explicit ids: the sequences continue after them
SELECT setval(pg_get_serial_sequence('scep_transactions', 'id'), $_rn);
SELECT setval(pg_get_serial_sequence('scep_audit', 'id'), $_raudit);
COMMIT;
-- the schema again: it makes the indexes dropped above, and nothing else
EOS
        cat "$_rschema"
        # what autovacuum would have done by the time a table is this old:
        # statistics for the planner, a visibility map for index-only scans
        echo "VACUUM ANALYZE;"
    fi
}
