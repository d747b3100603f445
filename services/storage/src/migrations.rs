//! The storage schema. PostgreSQL: measurements partitioned by effective time, an
//! unpartitioned key table that enforces idempotency across partitions (a partitioned table
//! cannot hold a unique constraint without the partition key), and an audit outbox committed
//! in the same transaction as the rows. The index on (patient, code, time) serves a search
//! by code and `$lastn` (latest N per code) without a scan; the one on (patient, time) a
//! search over all codes. Each row keeps its FHIR rendering beside the stored message.

use pmd_db::Migration;

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "measurements, idempotency keys and audit outbox",
        postgres: &[
            "CREATE TABLE measurement_keys (
            source_org TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            measurement_id UUID NOT NULL,
            effective_at TIMESTAMPTZ NOT NULL,
            content_hash BYTEA NOT NULL,
            version BIGINT NOT NULL DEFAULT 1,
            PRIMARY KEY (source_org, idempotency_key)
        )",
            "CREATE TABLE measurements (
            id UUID NOT NULL,
            patient_id TEXT NOT NULL,
            code TEXT NOT NULL,
            effective_at TIMESTAMPTZ NOT NULL,
            received_at TIMESTAMPTZ NOT NULL,
            last_updated TIMESTAMPTZ NOT NULL,
            version BIGINT NOT NULL DEFAULT 1,
            status SMALLINT NOT NULL,
            source_org TEXT NOT NULL,
            body BYTEA NOT NULL,
            PRIMARY KEY (id, effective_at)
        ) PARTITION BY RANGE (effective_at)",
            "CREATE TABLE measurements_default PARTITION OF measurements DEFAULT",
            "CREATE INDEX measurements_patient_code_time ON measurements (patient_id, code, effective_at DESC, id)",
            "CREATE TABLE audit_outbox (
            id BIGSERIAL PRIMARY KEY,
            event_id UUID NOT NULL UNIQUE,
            body BYTEA NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
        ],
        sqlite: &[
            "CREATE TABLE measurement_keys (
            source_org TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            measurement_id TEXT NOT NULL,
            effective_at INTEGER NOT NULL,
            content_hash BLOB NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (source_org, idempotency_key)
        )",
            "CREATE TABLE measurements (
            id TEXT PRIMARY KEY,
            patient_id TEXT NOT NULL,
            code TEXT NOT NULL,
            effective_at INTEGER NOT NULL,
            received_at INTEGER NOT NULL,
            last_updated INTEGER NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,
            status INTEGER NOT NULL,
            source_org TEXT NOT NULL,
            body BLOB NOT NULL
        )",
            "CREATE INDEX measurements_patient_code_time ON measurements (patient_id, code, effective_at DESC, id)",
            "CREATE TABLE audit_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            body BLOB NOT NULL,
            created_at INTEGER NOT NULL
        )",
        ],
    },
    Migration {
        version: 2,
        name: "stored FHIR rendering and the (patient, time) index",
        // `fhir`: the Observation as readers get it, rendered once when stored, so a search
        // serves it without decoding and re-serialising (NULL for rows stored before this
        // migration: rendered on read). The index serves a search without a code filter
        // (the common "everything since" search) in time order, without reading all of a
        // patient's rows.
        postgres: &[
            "ALTER TABLE measurements ADD COLUMN fhir BYTEA",
            "CREATE INDEX measurements_patient_time ON measurements (patient_id, effective_at DESC, id DESC)",
        ],
        sqlite: &[
            "ALTER TABLE measurements ADD COLUMN fhir BLOB",
            "CREATE INDEX measurements_patient_time ON measurements (patient_id, effective_at DESC, id DESC)",
        ],
    },
];
