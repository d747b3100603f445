//! The statistics schema: the follower's checkpoint, the daily aggregates and the
//! de-identified events, all updated in one transaction per batch of audit events and keyed
//! by audit sequence number (exactly-once counting). Only pseudonyms are stored, never a
//! national id or a name.
//!
//! Days are `YYYY-MM-DD` text (UTC) in both engines, so range filters and ordering are the
//! same everywhere; `week` (the ISO week's Monday) and `month` (its first day) are stored
//! beside `day` so the aggregates group by any bucket with plain SQL.
//!
//! - `follow_checkpoint`: the last audit seq applied (one row).
//! - `daily_counts`: additive counts per day, metric, organisation, code and purpose, with
//!   the organisation's kind, municipality and region as the register said when counted.
//! - `daily_distinct`: members (patient pseudonyms) of the distinct sets per day, metric
//!   and organisation; a partial index serves "patients whose citizen looked".
//! - `events`: one row per audit event for the raw export: hour, action, outcome, actor
//!   kind, organisation numbers, purpose, patient pseudonym (empty for events about no
//!   patient), codes and counts.

use pmd_db::Migration;

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "checkpoint, daily aggregates and de-identified events",
    postgres: &[
        "CREATE TABLE follow_checkpoint (
            id SMALLINT PRIMARY KEY CHECK (id = 1),
            last_seq BIGINT NOT NULL,
            last_event_micros BIGINT NOT NULL,
            updated_micros BIGINT NOT NULL
        )",
        "INSERT INTO follow_checkpoint (id, last_seq, last_event_micros, updated_micros) VALUES (1, 0, 0, 0)",
        "CREATE TABLE daily_counts (
            metric TEXT NOT NULL,
            day TEXT NOT NULL,
            org TEXT NOT NULL,
            code TEXT NOT NULL,
            purpose TEXT NOT NULL,
            week TEXT NOT NULL,
            month TEXT NOT NULL,
            org_type TEXT NOT NULL,
            municipality TEXT NOT NULL,
            region TEXT NOT NULL,
            count BIGINT NOT NULL,
            PRIMARY KEY (metric, day, org, code, purpose)
        )",
        "CREATE TABLE daily_distinct (
            metric TEXT NOT NULL,
            day TEXT NOT NULL,
            org TEXT NOT NULL,
            subject BYTEA NOT NULL,
            week TEXT NOT NULL,
            month TEXT NOT NULL,
            org_type TEXT NOT NULL,
            municipality TEXT NOT NULL,
            region TEXT NOT NULL,
            PRIMARY KEY (metric, day, org, subject)
        )",
        "CREATE INDEX daily_distinct_viewers ON daily_distinct (subject, day) WHERE metric = 'citizens_viewing'",
        "CREATE TABLE events (
            seq BIGINT PRIMARY KEY,
            hour BIGINT NOT NULL,
            action TEXT NOT NULL,
            outcome TEXT NOT NULL,
            actor_kind TEXT NOT NULL,
            org_parent TEXT NOT NULL,
            org_child TEXT NOT NULL,
            org_type TEXT NOT NULL,
            municipality TEXT NOT NULL,
            purpose TEXT NOT NULL,
            patient BYTEA NOT NULL,
            codes TEXT NOT NULL,
            count BIGINT NOT NULL
        )",
        "CREATE INDEX events_hour_seq ON events (hour, seq)",
    ],
    sqlite: &[
        "CREATE TABLE follow_checkpoint (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_seq INTEGER NOT NULL,
            last_event_micros INTEGER NOT NULL,
            updated_micros INTEGER NOT NULL
        )",
        "INSERT INTO follow_checkpoint (id, last_seq, last_event_micros, updated_micros) VALUES (1, 0, 0, 0)",
        "CREATE TABLE daily_counts (
            metric TEXT NOT NULL,
            day TEXT NOT NULL,
            org TEXT NOT NULL,
            code TEXT NOT NULL,
            purpose TEXT NOT NULL,
            week TEXT NOT NULL,
            month TEXT NOT NULL,
            org_type TEXT NOT NULL,
            municipality TEXT NOT NULL,
            region TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (metric, day, org, code, purpose)
        )",
        "CREATE TABLE daily_distinct (
            metric TEXT NOT NULL,
            day TEXT NOT NULL,
            org TEXT NOT NULL,
            subject BLOB NOT NULL,
            week TEXT NOT NULL,
            month TEXT NOT NULL,
            org_type TEXT NOT NULL,
            municipality TEXT NOT NULL,
            region TEXT NOT NULL,
            PRIMARY KEY (metric, day, org, subject)
        )",
        "CREATE INDEX daily_distinct_viewers ON daily_distinct (subject, day) WHERE metric = 'citizens_viewing'",
        "CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            hour INTEGER NOT NULL,
            action TEXT NOT NULL,
            outcome TEXT NOT NULL,
            actor_kind TEXT NOT NULL,
            org_parent TEXT NOT NULL,
            org_child TEXT NOT NULL,
            org_type TEXT NOT NULL,
            municipality TEXT NOT NULL,
            purpose TEXT NOT NULL,
            patient BLOB NOT NULL,
            codes TEXT NOT NULL,
            count INTEGER NOT NULL
        )",
        "CREATE INDEX events_hour_seq ON events (hour, seq)",
    ],
}];
