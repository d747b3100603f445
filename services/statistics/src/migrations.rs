//! The statistics schema: the follower's checkpoint and the aggregates, updated in one
//! transaction keyed by audit sequence number (exactly-once counting). Only pseudonyms are
//! stored, never a national id.

use pmd_db::Migration;

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "checkpoint and daily aggregates",
    postgres: &[
        "CREATE TABLE follow_checkpoint (
            id SMALLINT PRIMARY KEY CHECK (id = 1),
            last_seq BIGINT NOT NULL
        )",
        "CREATE TABLE daily_counts (
            day DATE NOT NULL,
            metric TEXT NOT NULL,
            dimension TEXT NOT NULL,
            value TEXT NOT NULL,
            count BIGINT NOT NULL,
            PRIMARY KEY (day, metric, dimension, value)
        )",
        "CREATE TABLE daily_distinct (
            day DATE NOT NULL,
            metric TEXT NOT NULL,
            subject BYTEA NOT NULL,
            PRIMARY KEY (day, metric, subject)
        )",
    ],
    sqlite: &[
        "CREATE TABLE follow_checkpoint (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_seq INTEGER NOT NULL
        )",
        "CREATE TABLE daily_counts (
            day TEXT NOT NULL,
            metric TEXT NOT NULL,
            dimension TEXT NOT NULL,
            value TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (day, metric, dimension, value)
        )",
        "CREATE TABLE daily_distinct (
            day TEXT NOT NULL,
            metric TEXT NOT NULL,
            subject BLOB NOT NULL,
            PRIMARY KEY (day, metric, subject)
        )",
    ],
}];
