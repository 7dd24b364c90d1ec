-- mod_scep records for PostgreSQL (apr_dbd driver "pgsql").
-- Load before starting httpd: psql -d scep -f schema-pgsql.sql
-- mod_dbd prepares an enrollment's statements when it connects, so the tables must exist first.

-- Every certificate this CA issued. The row is committed before the reply
-- carrying the certificate is sent.
CREATE TABLE IF NOT EXISTS scep_certificates (
    ca                TEXT    NOT NULL,          -- hex SHA-256 of the CA certificate
    serial            TEXT    NOT NULL,          -- uppercase hex
    subject           TEXT    NOT NULL,          -- RFC 2253
    not_before        BIGINT  NOT NULL,          -- seconds since the epoch
    not_after         BIGINT  NOT NULL,
    der               TEXT    NOT NULL,          -- base64 DER
    issued_at         BIGINT  NOT NULL,
    revoked_at        BIGINT,
    revocation_reason INTEGER,
    profile           TEXT,                      -- the profile (Location) that issued it
    lineage           TEXT,                      -- serial of the first of its chain of renewals
    renewed_by        TEXT,                      -- serial of the certificate that renewed it
    PRIMARY KEY (ca, serial)
);
-- a keyCompromise anywhere in a chain of renewals stops its renewal
CREATE INDEX IF NOT EXISTS scep_certificates_lineage ON scep_certificates (ca, lineage);
CREATE INDEX IF NOT EXISTS scep_certificates_not_after ON scep_certificates (ca, not_after);

-- Every enrollment attempt that reached a decision.
CREATE TABLE IF NOT EXISTS scep_transactions (
    id             BIGSERIAL PRIMARY KEY,
    ca             TEXT    NOT NULL,
    transaction_id TEXT    NOT NULL,             -- as sent ("hex:..." if not printable)
    message_type   INTEGER NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('PENDING', 'ISSUED', 'REJECTED')),
    dedup_key      TEXT    UNIQUE,               -- set on live rows: one answer per request
    key_fp         TEXT,
    signer_fp      TEXT,
    signer_cert    TEXT,
    csr            TEXT,
    subject        TEXT,
    renewal_of     TEXT,
    profile        TEXT,
    client_addr    TEXT,
    serial         TEXT,
    fail_info      INTEGER,
    fail_text      TEXT,
    plan_subject   TEXT,                         -- PENDING: subject the profile decided (base64 DER)
    plan_san       TEXT,                         -- PENDING: subjectAltNames (base64 DER)
    decided_by     TEXT,                         -- manual approval or rejection: who
    decided_at     BIGINT,
    auth_failed    INTEGER NOT NULL DEFAULT 0,   -- 1: refused for a wrong or unusable challenge
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    trace          TEXT,                         -- the decisions taken, one a line (admin detail)
    FOREIGN KEY (ca, serial) REFERENCES scep_certificates (ca, serial)
);
CREATE INDEX IF NOT EXISTS scep_transactions_tid ON scep_transactions (ca, transaction_id);
CREATE INDEX IF NOT EXISTS scep_transactions_status ON scep_transactions (ca, status, id);
-- the admin list, newest first: without it, ORDER BY id sorts every row of the CA
CREATE INDEX IF NOT EXISTS scep_transactions_recent ON scep_transactions (ca, id);
CREATE INDEX IF NOT EXISTS scep_certificates_revoked ON scep_certificates (ca, revoked_at);

-- One-time challenges: only the SHA-256 of the secret is stored. A challenge
-- is consumed by a conditional UPDATE in the transaction that records the
-- certificate, so two requests (or two nodes) cannot both use it.
CREATE TABLE IF NOT EXISTS scep_challenges (
    id          BIGSERIAL PRIMARY KEY,
    ca          TEXT    NOT NULL,
    hash        TEXT    NOT NULL UNIQUE,       -- hex SHA-256 of the secret
    profile     TEXT    NOT NULL,              -- the profile (Location) it is for
    subject     TEXT,                          -- bound subject, e.g. /CN=device1/O=Example
    san         TEXT,                          -- bound subjectAltNames, one type:value a line
    created_by  TEXT,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    used_at     BIGINT,
    used_tid    TEXT,
    revoked_at  BIGINT
);
CREATE INDEX IF NOT EXISTS scep_challenges_open ON scep_challenges (ca, expires_at);

-- CRLs the CA built: the newest is served; the number only grows.
CREATE TABLE IF NOT EXISTS scep_crls (
    ca            TEXT    NOT NULL,
    number        BIGINT  NOT NULL,
    this_update   BIGINT  NOT NULL,
    next_update   BIGINT  NOT NULL,
    revoked_count BIGINT  NOT NULL,                 -- revocations it lists
    der           TEXT    NOT NULL,             -- base64 DER
    PRIMARY KEY (ca, number)
);

-- Failed attempts per address and profile (SCEPChallengeThrottle): a wrong
-- challenge, or a message whose content cannot be read. A table of their
-- own, so that counting them does not depend on recording the refusal.
CREATE TABLE IF NOT EXISTS scep_auth_failures (
    id          BIGSERIAL PRIMARY KEY,
    ca          TEXT    NOT NULL,
    profile     TEXT    NOT NULL,
    client_addr TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX IF NOT EXISTS scep_auth_failures_addr ON scep_auth_failures (ca, profile, client_addr, created_at);

-- Notifications (SCEPNotifyWebhook, Intune), written in the transaction of
-- the record they tell of and delivered by one worker, oldest first;
-- delivered ones are kept a week, failed ones until they go through.
CREATE TABLE IF NOT EXISTS scep_outbox (
    id           BIGSERIAL PRIMARY KEY,
    ca           TEXT    NOT NULL,
    sink         TEXT    NOT NULL,              -- webhook, intune
    profile      TEXT    NOT NULL,              -- whose configuration delivers it
    event        TEXT    NOT NULL,              -- issued, refused, pending, ...
    event_key    TEXT    NOT NULL,              -- serial, else transactionID: order kept per key
    payload      TEXT    NOT NULL,              -- JSON
    created_at   BIGINT  NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      BIGINT  NOT NULL,              -- not before (back-off)
    delivered_at BIGINT,
    last_error   TEXT
);
CREATE INDEX IF NOT EXISTS scep_outbox_undelivered ON scep_outbox (delivered_at, id);
-- the head of each key (scep_outbox_due)
CREATE INDEX IF NOT EXISTS scep_outbox_key ON scep_outbox (event_key, delivered_at, id);

-- Who delivers the outbox: one holder among every process and node.
CREATE TABLE IF NOT EXISTS scep_leases (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL
);

-- The fleet view (admin page and API): search by serial and client address,
-- filters by Location and date, counts per Location and status.
CREATE INDEX IF NOT EXISTS scep_transactions_serial ON scep_transactions (ca, serial);
CREATE INDEX IF NOT EXISTS scep_transactions_client ON scep_transactions (ca, client_addr, id);
CREATE INDEX IF NOT EXISTS scep_transactions_profile ON scep_transactions (ca, profile, id);
CREATE INDEX IF NOT EXISTS scep_transactions_created ON scep_transactions (ca, created_at, profile, status);

-- The names a transaction's certificate carries (each value of its subject
-- and of its subjectAltNames, lower case), written with the transaction,
-- so that a search by name is an index range, not a scan of every row.
-- COLLATE "C": a prefix is a range of bytes, whatever the database's locale.
CREATE TABLE IF NOT EXISTS scep_names (
    ca   TEXT    NOT NULL,
    name TEXT    COLLATE "C" NOT NULL,
    txn  BIGINT  NOT NULL                    -- scep_transactions.id
);
CREATE INDEX IF NOT EXISTS scep_names_name ON scep_names (ca, name, txn);

-- Every action of an administrator (approve, reject, revoke, challenges),
-- written in the database transaction of the action itself.
CREATE TABLE IF NOT EXISTS scep_audit (
    id          BIGSERIAL PRIMARY KEY,
    ca          TEXT    NOT NULL,
    at          BIGINT  NOT NULL,
    actor       TEXT    NOT NULL,            -- the authenticated user
    client_addr TEXT,                        -- where from
    action      TEXT    NOT NULL,            -- approve, reject, revoke, challenge, ...
    target      TEXT,                        -- enrollment id, serial or challenge id
    detail      TEXT                         -- reason, profile, ...
);
CREATE INDEX IF NOT EXISTS scep_audit_recent ON scep_audit (ca, id);
CREATE INDEX IF NOT EXISTS scep_audit_target ON scep_audit (ca, target, id);
