//! Testcontainers, only where Docker runs (feature `docker`). The containers live as long
//! as the test process.

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::sync::OnceCell;

static POSTGRES: OnceCell<ContainerAsync<GenericImage>> = OnceCell::const_new();
static REDIS: OnceCell<ContainerAsync<GenericImage>> = OnceCell::const_new();

pub async fn postgres() -> anyhow::Result<String> {
    let container = POSTGRES
        .get_or_try_init(|| async {
            GenericImage::new("postgres", "15")
                .with_exposed_port(5432.tcp())
                .with_wait_for(WaitFor::message_on_stderr(
                    "database system is ready to accept connections",
                ))
                .with_env_var("POSTGRES_HOST_AUTH_METHOD", "trust")
                .start()
                .await
        })
        .await?;
    let port = container.get_host_port_ipv4(5432).await?;
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

pub async fn redis() -> anyhow::Result<String> {
    let container = REDIS
        .get_or_try_init(|| async {
            GenericImage::new("redis", "7")
                .with_exposed_port(6379.tcp())
                .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
                .start()
                .await
        })
        .await?;
    let port = container.get_host_port_ipv4(6379).await?;
    Ok(format!("redis://127.0.0.1:{port}"))
}
