//! The `pmd` command: `pmd up` (every service in one process), `pmd token` (development
//! tokens), `pmd jwks`. The [`mesh`] module is also what the integration tests start.

pub mod bench;
pub mod bench_read;
pub mod cli;
pub mod mesh;
pub mod seed;
pub mod token;
pub mod up;

pub use mesh::{Mesh, MeshAddrs, MeshConfig};
