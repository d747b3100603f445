//! Behaviour of pmd-auth through its public API: one test binary (faster to link),
//! one module per area.
#![allow(clippy::unwrap_used)]

mod common;
mod dev_issuer;
mod jwks;
mod layer;
mod rejections;
