//! The consent schema: blocks and a per-patient revision that every block change bumps (the
//! cache compares against it, so a decision computed before a block is never served after).

use pmd_db::Migration;

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "blocks and consent revisions",
    postgres: &[
        "CREATE TABLE blocks (
            id UUID PRIMARY KEY,
            patient_key BYTEA NOT NULL,
            body BYTEA NOT NULL,
            target_kind SMALLINT NOT NULL,
            target_value TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            revoked_at TIMESTAMPTZ,
            valid_until TIMESTAMPTZ
        )",
        "CREATE INDEX blocks_patient ON blocks (patient_key) WHERE revoked_at IS NULL",
        "CREATE TABLE consent_revisions (
            patient_key BYTEA PRIMARY KEY,
            revision BIGINT NOT NULL
        )",
    ],
    sqlite: &[
        "CREATE TABLE blocks (
            id TEXT PRIMARY KEY,
            patient_key BLOB NOT NULL,
            body BLOB NOT NULL,
            target_kind INTEGER NOT NULL,
            target_value TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER,
            valid_until INTEGER
        )",
        "CREATE INDEX blocks_patient ON blocks (patient_key)",
        "CREATE TABLE consent_revisions (
            patient_key BLOB PRIMARY KEY,
            revision INTEGER NOT NULL
        )",
    ],
}];
