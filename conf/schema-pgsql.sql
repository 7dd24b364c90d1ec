-- mod_scep records for PostgreSQL (apr_dbd driver "pgsql").
-- Load before starting httpd: psql -d scep -f schema-pgsql.sql
-- mod_dbd prepares statements when it connects, so the tables must exist first.

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
    PRIMARY KEY (ca, serial)
);
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
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    FOREIGN KEY (ca, serial) REFERENCES scep_certificates (ca, serial)
);
CREATE INDEX IF NOT EXISTS scep_transactions_tid ON scep_transactions (ca, transaction_id);
