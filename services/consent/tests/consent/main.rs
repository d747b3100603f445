//! Behaviour of the consent service and its decision cache, against the real PostgreSQL and
//! Redis (SQLite and the in-process cache where that is the point).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod blocks;
mod cache;
mod decisions;
mod faults;
mod harness;
