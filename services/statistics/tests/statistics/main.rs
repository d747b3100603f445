//! The statistics service against the real mesh (audit → statistics → edge), on PostgreSQL
//! and on SQLite: exactly-once aggregation (restart, replay, two replicas), suppression and
//! calendar buckets through the API, who may ask, and the de-identified export.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod common;
mod exactly_once;
mod export;
mod usage;
