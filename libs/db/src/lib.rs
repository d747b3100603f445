//! Database access shared by the services: connect to PostgreSQL (deployment) or SQLite (the
//! embedded default), each service in its own schema (PostgreSQL) or its own file (SQLite),
//! and apply the service's migrations at start.
//!
//! SQLite runs in WAL mode behind a single connection, so every write is serialised and
//! concurrent requests never see `SQLITE_BUSY`.

mod migrate;

use std::time::Duration;

pub use migrate::{Migration, migrate};
pub use sea_orm;
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend};

/// What can go wrong reaching or preparing a database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database url must start with postgres://, postgresql:// or sqlite:")]
    UnsupportedUrl,
    #[error("schema name {0:?} must be lowercase letters, digits and underscores")]
    BadSchemaName(String),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sea_orm::DbErr),
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        #[source]
        source: sea_orm::DbErr,
    },
    #[error("database error: {0}")]
    Query(#[from] sea_orm::DbErr),
}

/// Which engine a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// The backend a URL names.
    pub fn of_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(DbError::UnsupportedUrl)
        }
    }
}

/// A connection pool bound to one service's schema.
#[derive(Clone, Debug)]
pub struct Database {
    conn: DatabaseConnection,
    backend: Backend,
    schema: String,
}

/// How large a PostgreSQL pool to open.
#[derive(Debug, Clone, Copy)]
pub struct PoolSize {
    pub max: u32,
    pub min: u32,
}

impl Default for PoolSize {
    fn default() -> Self {
        Self { max: 16, min: 1 }
    }
}

impl Database {
    /// Connect to `url` and bind the pool to `schema` (PostgreSQL `search_path`; ignored for
    /// SQLite, where each service has its own file). The schema is created by [`migrate`].
    pub async fn connect(url: &str, schema: &str, pool: PoolSize) -> Result<Self, DbError> {
        if schema.is_empty()
            || !schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(DbError::BadSchemaName(schema.to_owned()));
        }
        let backend = Backend::of_url(url)?;
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        match backend {
            Backend::Postgres => {
                options
                    .max_connections(pool.max)
                    .min_connections(pool.min)
                    .set_schema_search_path(schema.to_owned());
            }
            Backend::Sqlite => {
                // One connection: writes are serialised and SQLITE_BUSY cannot happen.
                options
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None::<Duration>)
                    .max_lifetime(None::<Duration>);
            }
        }
        let conn = sea_orm::Database::connect(options)
            .await
            .map_err(DbError::Connect)?;
        if backend == Backend::Sqlite {
            conn.execute_unprepared(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;",
            )
            .await
            .map_err(DbError::Connect)?;
        }
        Ok(Self {
            conn,
            backend,
            schema: schema.to_owned(),
        })
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn db_backend(&self) -> DbBackend {
        match self.backend {
            Backend::Postgres => DbBackend::Postgres,
            Backend::Sqlite => DbBackend::Sqlite,
        }
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Is the database answering? Used by readiness.
    pub async fn ping(&self) -> bool {
        self.conn.ping().await.is_ok()
    }

    /// Close the pool (at shutdown).
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// The URL of a SQLite database file `name.db` in `dir`, created when absent.
pub fn sqlite_url(dir: &std::path::Path, name: &str) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        dir.join(format!("{name}.db")).display()
    )
}
