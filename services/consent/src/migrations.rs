//! The consent schema.
//!
//! - `blocks`: the citizens' blocks; times are unix microseconds; `created_by`/`revoked_by`
//!   are encoded `pmd.common.v1.Actor`s.
//! - `consent_revisions`: a per-patient revision that every block change bumps in the same
//!   transaction (the cache compares against it, so a decision computed before a block is
//!   never served after).
//! - `pending_invalidations`: the revision each patient's cache entries still have to be
//!   invalidated to; written with the block change, deleted once Redis confirmed.
//! - `audit_outbox`: BLOCK/UNBLOCK events written with the block change, deleted once the
//!   audit service confirmed (so every committed change is audited, even after a crash).
//! - `known_names`: practitioners' (and organisations') display names seen in `Check`
//!   requests, for `Block.target_display`. Never a national id.

use pmd_db::Migration;

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "blocks, revisions, pending invalidations, audit outbox, known names",
    postgres: &[
        "CREATE TABLE blocks (
            id TEXT PRIMARY KEY,
            patient_id TEXT NOT NULL,
            target_kind TEXT NOT NULL CHECK (target_kind IN ('hpr', 'org')),
            target_value TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            created_by BYTEA NOT NULL,
            revoked_at BIGINT,
            revoked_by BYTEA,
            valid_until BIGINT,
            policy_text TEXT NOT NULL DEFAULT '',
            target_display TEXT NOT NULL DEFAULT ''
        )",
        "CREATE INDEX blocks_by_patient ON blocks (patient_id, created_at)",
        "CREATE TABLE consent_revisions (
            patient_id TEXT PRIMARY KEY,
            revision BIGINT NOT NULL
        )",
        "CREATE TABLE pending_invalidations (
            patient_id TEXT PRIMARY KEY,
            revision BIGINT NOT NULL,
            since BIGINT NOT NULL
        )",
        "CREATE TABLE audit_outbox (
            event_id TEXT PRIMARY KEY,
            block_id TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            body BYTEA NOT NULL
        )",
        "CREATE INDEX audit_outbox_by_block ON audit_outbox (block_id)",
        "CREATE TABLE known_names (
            kind TEXT NOT NULL CHECK (kind IN ('hpr', 'org')),
            value TEXT NOT NULL,
            name TEXT NOT NULL,
            seen_at BIGINT NOT NULL,
            PRIMARY KEY (kind, value)
        )",
    ],
    sqlite: &[
        "CREATE TABLE blocks (
            id TEXT PRIMARY KEY,
            patient_id TEXT NOT NULL,
            target_kind TEXT NOT NULL CHECK (target_kind IN ('hpr', 'org')),
            target_value TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            created_by BLOB NOT NULL,
            revoked_at INTEGER,
            revoked_by BLOB,
            valid_until INTEGER,
            policy_text TEXT NOT NULL DEFAULT '',
            target_display TEXT NOT NULL DEFAULT ''
        )",
        "CREATE INDEX blocks_by_patient ON blocks (patient_id, created_at)",
        "CREATE TABLE consent_revisions (
            patient_id TEXT PRIMARY KEY,
            revision INTEGER NOT NULL
        )",
        "CREATE TABLE pending_invalidations (
            patient_id TEXT PRIMARY KEY,
            revision INTEGER NOT NULL,
            since INTEGER NOT NULL
        )",
        "CREATE TABLE audit_outbox (
            event_id TEXT PRIMARY KEY,
            block_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            body BLOB NOT NULL
        )",
        "CREATE INDEX audit_outbox_by_block ON audit_outbox (block_id)",
        "CREATE TABLE known_names (
            kind TEXT NOT NULL CHECK (kind IN ('hpr', 'org')),
            value TEXT NOT NULL,
            name TEXT NOT NULL,
            seen_at INTEGER NOT NULL,
            PRIMARY KEY (kind, value)
        )",
    ],
}];
