//! The audit schema: one append-only table of hash-chained events. `seq` is dense and
//! increasing; `event_id` makes producers' retries harmless.
//!
//! `body` holds the whole prost-encoded event (seq, hashes included); the other columns are
//! copies of its fields for lookups, and `Verify` checks that they still agree with it.
//! `patient_id` is the patient identifier's value (the citizen's log is looked up by it);
//! `recorded_at` is the event's own time.
//!
//! The table refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE) with an error rather than
//! ignoring them silently, so an attempt to rewrite history fails loudly.

use pmd_db::Migration;

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "audit events",
    postgres: &[
        "CREATE TABLE audit_events (
            seq BIGINT PRIMARY KEY,
            event_id UUID NOT NULL UNIQUE,
            recorded_at TIMESTAMPTZ NOT NULL,
            patient_id TEXT,
            action SMALLINT NOT NULL,
            outcome SMALLINT NOT NULL,
            body BYTEA NOT NULL,
            prev_hash BYTEA NOT NULL,
            hash BYTEA NOT NULL
        )",
        "CREATE INDEX audit_events_patient_seq ON audit_events (patient_id, seq)",
        "CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             RAISE EXCEPTION 'audit events are append-only';
         END
         $$",
        "CREATE TRIGGER audit_events_append_only
            BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
            FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()",
    ],
    sqlite: &[
        "CREATE TABLE audit_events (
            seq INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            recorded_at INTEGER NOT NULL,
            patient_id TEXT,
            action INTEGER NOT NULL,
            outcome INTEGER NOT NULL,
            body BLOB NOT NULL,
            prev_hash BLOB NOT NULL,
            hash BLOB NOT NULL
        )",
        "CREATE INDEX audit_events_patient_seq ON audit_events (patient_id, seq)",
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    ],
}];
