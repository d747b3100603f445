//! The audit schema: one append-only table of hash-chained events. `seq` is dense and
//! increasing; `event_id` makes producers' retries harmless.

use pmd_db::Migration;

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "audit events",
    postgres: &[
        "CREATE TABLE audit_events (
            seq BIGINT PRIMARY KEY,
            event_id UUID NOT NULL UNIQUE,
            recorded_at TIMESTAMPTZ NOT NULL,
            patient_key BYTEA,
            action SMALLINT NOT NULL,
            outcome SMALLINT NOT NULL,
            body BYTEA NOT NULL,
            prev_hash BYTEA NOT NULL,
            hash BYTEA NOT NULL
        )",
        "CREATE INDEX audit_events_patient_time ON audit_events (patient_key, recorded_at DESC, seq DESC)",
        "CREATE RULE audit_events_no_update AS ON UPDATE TO audit_events DO INSTEAD NOTHING",
        "CREATE RULE audit_events_no_delete AS ON DELETE TO audit_events DO INSTEAD NOTHING",
    ],
    sqlite: &[
        "CREATE TABLE audit_events (
            seq INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            recorded_at INTEGER NOT NULL,
            patient_key BLOB,
            action INTEGER NOT NULL,
            outcome INTEGER NOT NULL,
            body BLOB NOT NULL,
            prev_hash BLOB NOT NULL,
            hash BLOB NOT NULL
        )",
        "CREATE INDEX audit_events_patient_time ON audit_events (patient_key, recorded_at DESC, seq DESC)",
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    ],
}];
