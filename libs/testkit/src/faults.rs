//! Breaking servers on purpose, without touching the shared ones: a private `redis-server`
//! that a test may stop and start, and a TCP proxy that delays or cuts traffic.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

/// A `redis-server` of this test's own, on a free loopback port, keeping nothing on disk.
pub struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    /// Start one (needs `redis-server` on the PATH).
    pub async fn start() -> anyhow::Result<Self> {
        let port = free_port().await?;
        let mut redis = Self { port, child: None };
        redis.restart().await?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stop the server (its data is gone: it keeps nothing on disk).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }

    /// Start it again on the same port.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting redis-server (is it installed and on the PATH?)")?;
        self.child = Some(child);
        for _ in 0..100 {
            if crate::redis_ping(&self.url()).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("own redis-server did not answer PING on port {}", self.port)
    }
}

async fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    Ok(listener.local_addr()?.port())
}

/// A TCP proxy on a loopback port in front of `target` that can add latency to every chunk
/// or cut all connections.
#[derive(Clone)]
pub struct FaultProxy {
    addr: SocketAddr,
    target: Arc<std::sync::Mutex<Option<SocketAddr>>>,
    delay_ms: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
    generation: Arc<AtomicU64>,
}

impl FaultProxy {
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let proxy = Self::start_deferred().await?;
        proxy.set_target(target);
        Ok(proxy)
    }

    /// A proxy whose target is set later (for a server that starts after the proxy's
    /// address must be known); connections before that are closed at once.
    pub async fn start_deferred() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let proxy = Self {
            addr: listener.local_addr()?,
            target: Arc::new(std::sync::Mutex::new(None)),
            delay_ms: Arc::new(AtomicU64::new(0)),
            down: Arc::new(AtomicBool::new(false)),
            generation: Arc::new(AtomicU64::new(0)),
        };
        let state = proxy.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let target = state.target.lock().ok().and_then(|t| *t);
                let Some(target) = target.filter(|_| !state.down.load(Ordering::SeqCst)) else {
                    drop(inbound);
                    continue;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(target).await {
                        state.pipe(inbound, outbound).await;
                    }
                });
            }
        });
        Ok(proxy)
    }

    pub fn set_target(&self, target: SocketAddr) {
        if let Ok(mut slot) = self.target.lock() {
            *slot = Some(target);
        }
    }

    /// `http://` URL of the proxy (for gRPC clients).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Delay every chunk in either direction by `delay`.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Cut every open connection and refuse new ones until [`FaultProxy::up`].
    pub fn down(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    async fn pipe(&self, inbound: TcpStream, outbound: TcpStream) {
        let generation = self.generation.load(Ordering::SeqCst);
        let (ri, wi) = inbound.into_split();
        let (ro, wo) = outbound.into_split();
        let a = self.copy(ri, wo, generation);
        let b = self.copy(ro, wi, generation);
        tokio::select! {
            () = a => {},
            () = b => {},
        }
    }

    async fn copy(
        &self,
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        generation: u64,
    ) {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n =
                match tokio::time::timeout(Duration::from_millis(100), from.read(&mut buf)).await {
                    Ok(Ok(0) | Err(_)) => return,
                    Ok(Ok(n)) => n,
                    Err(_) => {
                        if self.generation.load(Ordering::SeqCst) != generation {
                            return;
                        }
                        continue;
                    }
                };
            if self.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            let delay = self.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            if to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }
}
