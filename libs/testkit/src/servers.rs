//! Finding the real PostgreSQL and Redis a test talks to: the URL from the environment
//! (`PMD_TEST_DATABASE_URL`, `PMD_TEST_REDIS_URL`), else the local default ports, else (with
//! the `docker` feature, where Docker runs) a testcontainer. None → the test fails with a
//! message saying how to provide one; it never silently skips.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use pmd_db::sea_orm::{ConnectionTrait, Database as SeaDatabase, DatabaseConnection};
use tokio::sync::OnceCell;

const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const LOCAL_REDIS: &str = "redis://127.0.0.1:6379";

static POSTGRES_ADMIN: OnceCell<String> = OnceCell::const_new();
static REDIS: OnceCell<String> = OnceCell::const_new();

/// A fresh, empty PostgreSQL database for one test.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    pub name: String,
    /// URL of the fresh database.
    pub url: String,
}

/// The admin URL of a reachable PostgreSQL server (connects to its `postgres` database).
pub async fn postgres_admin_url() -> anyhow::Result<String> {
    POSTGRES_ADMIN
        .get_or_try_init(|| async {
            let candidates: Vec<String> = std::env::var("PMD_TEST_DATABASE_URL")
                .ok()
                .into_iter()
                .chain([LOCAL_POSTGRES.to_owned()])
                .collect();
            let mut tried = Vec::new();
            for url in candidates {
                match connect(&url).await {
                    Ok(conn) => {
                        let _ = conn.close().await;
                        return Ok(url);
                    }
                    Err(e) => tried.push(format!("{}: {e:#}", redact(&url))),
                }
            }
            #[cfg(feature = "docker")]
            if let Ok(url) = crate::docker::postgres().await {
                return Ok(url);
            }
            bail!(
                "no PostgreSQL for the tests. Tried {}. Start one (e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`), or set PMD_TEST_DATABASE_URL=postgres://user@host:port/postgres, or run with `--features pmd-testkit/docker` where Docker runs",
                tried.join("; ")
            )
        })
        .await
        .cloned()
}

/// A new empty database on the test server, named `pmd_test_<time>_<random>`. Databases
/// of earlier runs older than two hours are dropped on the way.
pub async fn fresh_database() -> anyhow::Result<TestDatabase> {
    let admin_url = postgres_admin_url().await?;
    let admin = connect(&admin_url).await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    drop_stale_databases(&admin, now).await;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("pmd_test_{now}_{}", &suffix[..12]);
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .with_context(|| format!("creating test database {name}"))?;
    let _ = admin.close().await;
    let url = replace_database(&admin_url, &name);
    Ok(TestDatabase { name, url })
}

async fn drop_stale_databases(admin: &DatabaseConnection, now: u64) {
    use pmd_db::sea_orm::Statement;
    let Ok(rows) = admin
        .query_all_raw(Statement::from_string(
            admin.get_database_backend(),
            "SELECT datname FROM pg_database WHERE datname LIKE 'pmd_test_%'",
        ))
        .await
    else {
        return;
    };
    for row in rows {
        let Ok(name) = row.try_get_by_index::<String>(0) else {
            continue;
        };
        let created = name
            .trim_start_matches("pmd_test_")
            .split('_')
            .next()
            .and_then(|t| t.parse::<u64>().ok());
        if created.is_some_and(|t| now.saturating_sub(t) > 2 * 3600) {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

/// The URL of a reachable Redis server.
pub async fn redis_url() -> anyhow::Result<String> {
    REDIS
        .get_or_try_init(|| async {
            let candidates: Vec<String> = std::env::var("PMD_TEST_REDIS_URL")
                .ok()
                .into_iter()
                .chain([LOCAL_REDIS.to_owned()])
                .collect();
            let mut tried = Vec::new();
            for url in candidates {
                match redis_ping(&url).await {
                    Ok(()) => return Ok(url),
                    Err(e) => tried.push(format!("{}: {e:#}", redact(&url))),
                }
            }
            #[cfg(feature = "docker")]
            if let Ok(url) = crate::docker::redis().await {
                return Ok(url);
            }
            bail!(
                "no Redis for the tests. Tried {}. Start one (e.g. `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no`), or set PMD_TEST_REDIS_URL=redis://host:port, or run with `--features pmd-testkit/docker` where Docker runs",
                tried.join("; ")
            )
        })
        .await
        .cloned()
}

/// PING a Redis server.
pub async fn redis_ping(url: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(url)?;
    let mut conn = tokio::time::timeout(
        Duration::from_secs(2),
        client.get_multiplexed_async_connection(),
    )
    .await
    .context("timed out connecting")??;
    let pong: String = redis::cmd("PING").query_async(&mut conn).await?;
    anyhow::ensure!(pong == "PONG", "unexpected PING answer");
    Ok(())
}

async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = pmd_db::sea_orm::ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(3))
        .max_connections(1)
        .sqlx_logging(false);
    Ok(SeaDatabase::connect(options).await?)
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced_and_query_kept() {
        assert_eq!(
            replace_database("postgres://u@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
    }

    #[test]
    fn passwords_are_not_shown_in_messages() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }
}
