-- mod_scep records for MySQL/MariaDB (apr_dbd driver "mysql", InnoDB).
-- Load before starting httpd: mariadb scep < schema-mysql.sql
-- mod_dbd prepares an enrollment's statements when it connects, so the tables must exist first.

-- Every certificate this CA issued. The row is committed before the reply
-- carrying the certificate is sent.
CREATE TABLE IF NOT EXISTS scep_certificates (
    ca                VARCHAR(64)  NOT NULL,     -- hex SHA-256 of the CA certificate
    serial            VARCHAR(64)  NOT NULL,     -- uppercase hex
    subject           TEXT         NOT NULL,     -- RFC 2253
    not_before        BIGINT       NOT NULL,     -- seconds since the epoch
    not_after         BIGINT       NOT NULL,
    der               MEDIUMTEXT   NOT NULL,     -- base64 DER
    issued_at         BIGINT       NOT NULL,
    revoked_at        BIGINT,
    revocation_reason INTEGER,
    profile           VARCHAR(255),              -- the profile (Location) that issued it
    lineage           VARCHAR(64),               -- serial of the first of its chain of renewals
    renewed_by        VARCHAR(64),               -- serial of the certificate that renewed it
    PRIMARY KEY (ca, serial),
    KEY scep_certificates_lineage (ca, lineage),
    KEY scep_certificates_not_after (ca, not_after),
    KEY scep_certificates_revoked (ca, revoked_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Every enrollment attempt that reached a decision.
CREATE TABLE IF NOT EXISTS scep_transactions (
    id             BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    ca             VARCHAR(64)  NOT NULL,
    -- as sent, or "hex:" and 2 digits a byte if not printable: up to 2052
    -- characters for the longest accepted (1024 bytes). Tables made with the
    -- former VARCHAR(1100): ALTER TABLE scep_transactions MODIFY
    -- transaction_id VARCHAR(2100) NOT NULL; and scep_challenges' used_tid.
    transaction_id VARCHAR(2100) NOT NULL,
    message_type   INTEGER      NOT NULL,
    status         VARCHAR(8)   NOT NULL CHECK (status IN ('PENDING', 'ISSUED', 'REJECTED')),
    dedup_key      VARCHAR(64)  UNIQUE,          -- set on live rows: one answer per request
    key_fp         VARCHAR(64),
    signer_fp      VARCHAR(64),
    signer_cert    MEDIUMTEXT,
    csr            MEDIUMTEXT,
    subject        TEXT,
    renewal_of     VARCHAR(64),
    profile        VARCHAR(255),
    client_addr    VARCHAR(64),
    serial         VARCHAR(64),
    fail_info      INTEGER,
    fail_text      TEXT,
    plan_subject   TEXT,                         -- PENDING: subject the profile decided (base64 DER)
    plan_san       TEXT,                         -- PENDING: subjectAltNames (base64 DER)
    decided_by     VARCHAR(255),
    decided_at     BIGINT,
    auth_failed    INTEGER      NOT NULL DEFAULT 0,
    created_at     BIGINT       NOT NULL,
    updated_at     BIGINT       NOT NULL,
    trace          TEXT,                         -- the decisions taken, one a line (admin detail)
    KEY scep_transactions_tid (ca, transaction_id(255)),
    KEY scep_transactions_status (ca, status, id),
    KEY scep_transactions_recent (ca, id),
    -- the fleet view: search by serial and address, filters by Location and date
    KEY scep_transactions_serial (ca, serial),
    KEY scep_transactions_client (ca, client_addr, id),
    KEY scep_transactions_profile (ca, profile, id),
    KEY scep_transactions_created (ca, created_at, profile, status),
    FOREIGN KEY (ca, serial) REFERENCES scep_certificates (ca, serial)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- CRLs the CA built: the newest is served; the number only grows.
CREATE TABLE IF NOT EXISTS scep_crls (
    ca            VARCHAR(64) NOT NULL,
    number        BIGINT      NOT NULL,
    this_update   BIGINT      NOT NULL,
    next_update   BIGINT      NOT NULL,
    revoked_count BIGINT      NOT NULL,
    der           MEDIUMTEXT  NOT NULL,
    PRIMARY KEY (ca, number)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One-time challenges: only the SHA-256 of the secret is stored, consumed
-- by a conditional UPDATE in the transaction that records the certificate.
CREATE TABLE IF NOT EXISTS scep_challenges (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    ca          VARCHAR(64)  NOT NULL,
    hash        VARCHAR(64)  NOT NULL UNIQUE,
    profile     VARCHAR(255) NOT NULL,
    subject     TEXT,
    san         TEXT,
    created_by  VARCHAR(255),
    created_at  BIGINT       NOT NULL,
    expires_at  BIGINT       NOT NULL,
    used_at     BIGINT,
    used_tid    VARCHAR(2100),                   -- a transaction_id (see above)
    revoked_at  BIGINT,
    KEY scep_challenges_open (ca, expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Failed attempts per address and profile (SCEPChallengeThrottle): a wrong
-- challenge, or a message whose content cannot be read. A table of their
-- own, so that counting them does not depend on recording the refusal.
CREATE TABLE IF NOT EXISTS scep_auth_failures (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    ca          VARCHAR(64)  NOT NULL,
    profile     VARCHAR(255) NOT NULL,
    client_addr VARCHAR(64)  NOT NULL,
    created_at  BIGINT       NOT NULL,
    KEY scep_auth_failures_addr (ca, profile, client_addr, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Notifications (SCEPNotifyWebhook, Intune), written in the transaction of
-- the record they tell of and delivered by one worker, oldest first;
-- delivered ones are kept a week, failed ones until they go through.
CREATE TABLE IF NOT EXISTS scep_outbox (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    ca           VARCHAR(64)  NOT NULL,
    sink         VARCHAR(16)  NOT NULL,         -- webhook, intune
    profile      VARCHAR(255) NOT NULL,         -- whose configuration delivers it
    event        VARCHAR(16)  NOT NULL,         -- issued, refused, pending, ...
    event_key    VARCHAR(255) NOT NULL,         -- serial, else transactionID
    payload      MEDIUMTEXT   NOT NULL,         -- JSON
    created_at   BIGINT       NOT NULL,
    attempts     INT          NOT NULL DEFAULT 0,
    next_at      BIGINT       NOT NULL,         -- not before (back-off)
    delivered_at BIGINT       NULL,
    last_error   VARCHAR(512) NULL,
    KEY scep_outbox_undelivered (delivered_at, id),
    KEY scep_outbox_key (event_key, delivered_at, id)      -- the head of each key
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Who delivers the outbox: one holder among every process and node.
CREATE TABLE IF NOT EXISTS scep_leases (
    name       VARCHAR(64)  NOT NULL PRIMARY KEY,
    holder     VARCHAR(255) NOT NULL,
    expires_at BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The names a transaction's certificate carries (each value of its subject
-- and of its subjectAltNames, lower case), written with the transaction,
-- so that a search by name is an index range, not a scan of every row.
CREATE TABLE IF NOT EXISTS scep_names (
    ca   VARCHAR(64)  NOT NULL,
    name VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    txn  BIGINT       NOT NULL,              -- scep_transactions.id
    KEY scep_names_name (ca, name, txn)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Every action of an administrator (approve, reject, revoke, challenges),
-- written in the database transaction of the action itself.
CREATE TABLE IF NOT EXISTS scep_audit (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    ca          VARCHAR(64)  NOT NULL,
    at          BIGINT       NOT NULL,
    actor       VARCHAR(255) NOT NULL,       -- the authenticated user
    client_addr VARCHAR(64)  NULL,           -- where from
    action      VARCHAR(32)  NOT NULL,       -- approve, reject, revoke, challenge, ...
    target      VARCHAR(255) NULL,           -- enrollment id, serial or challenge id
    detail      VARCHAR(512) NULL,           -- reason, profile, ...
    KEY scep_audit_recent (ca, id),
    KEY scep_audit_target (ca, target, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
