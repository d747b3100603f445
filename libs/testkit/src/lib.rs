//! Test support: find the real PostgreSQL and Redis, give each test a fresh database, start
//! the real services on port 0 (`spawn_mesh`), and break servers on purpose (a private
//! `redis-server`, a fault-injecting TCP proxy).

#[cfg(feature = "docker")]
mod docker;
mod faults;
mod mesh;
mod servers;

pub use faults::{FaultProxy, OwnRedis};
pub use mesh::{
    Backend, MeshOptions, TestMesh, spawn_mesh, spawn_mesh_on, spawn_mesh_with, with_token,
};
pub use servers::{TestDatabase, fresh_database, postgres_admin_url, redis_ping, redis_url};
