//! A small, ordered migration runner. Each service lists its migrations as SQL statements for
//! both engines; applied versions are kept in the service schema's `schema_migrations`.
//! On PostgreSQL the whole run happens in one transaction under an advisory lock, so replicas
//! starting at once neither race nor half-apply.

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use crate::{Backend, Database, DbError};

/// One step of a service's schema.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Increasing, never reused.
    pub version: i64,
    pub name: &'static str,
    pub postgres: &'static [&'static str],
    pub sqlite: &'static [&'static str],
}

/// Apply every migration not yet applied, in version order. Returns how many ran.
pub async fn migrate(db: &Database, migrations: &[Migration]) -> Result<usize, DbError> {
    let txn = db.conn().begin().await?;
    if db.backend() == Backend::Postgres {
        let lock_key = lock_key(db.schema());
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [lock_key.into()],
        ))
        .await?;
        txn.execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS {}", db.schema()))
            .await?;
        txn.execute_unprepared(&format!("SET LOCAL search_path TO {}", db.schema()))
            .await?;
    }
    txn.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .await?;
    let applied: Vec<i64> = txn
        .query_all_raw(Statement::from_string(
            db.db_backend(),
            "SELECT version FROM schema_migrations",
        ))
        .await?
        .iter()
        .filter_map(|row| row.try_get_by_index::<i64>(0).ok())
        .collect();
    let mut ordered: Vec<&Migration> = migrations.iter().collect();
    ordered.sort_by_key(|m| m.version);
    let mut ran = 0;
    for migration in ordered {
        if applied.contains(&migration.version) {
            continue;
        }
        let statements = match db.backend() {
            Backend::Postgres => migration.postgres,
            Backend::Sqlite => migration.sqlite,
        };
        for sql in statements {
            txn.execute_unprepared(sql)
                .await
                .map_err(|source| DbError::Migration {
                    version: migration.version,
                    name: migration.name,
                    source,
                })?;
        }
        let insert = match db.backend() {
            Backend::Postgres => {
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)"
            }
            Backend::Sqlite => {
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"
            }
        };
        txn.execute_raw(Statement::from_sql_and_values(
            db.db_backend(),
            insert,
            [
                migration.version.into(),
                migration.name.into(),
                chrono::Utc::now().to_rfc3339().into(),
            ],
        ))
        .await?;
        ran += 1;
    }
    txn.commit().await?;
    if ran > 0 {
        tracing::info!(schema = db.schema(), ran, "database migrations applied");
    }
    Ok(ran)
}

fn lock_key(schema: &str) -> i64 {
    // FNV-1a: stable across builds, unlike the std hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in schema.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}
