//! Shutdown plumbing: one trigger, many cloned signals.

use tokio::sync::watch;

/// Fires the shutdown of everything holding a [`ShutdownSignal`] made from it.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Resolves when shutdown was triggered (or the trigger was dropped).
#[derive(Debug, Clone)]
pub struct ShutdownSignal(watch::Receiver<bool>);

/// A trigger and its first signal.
pub fn shutdown_channel() -> (ShutdownTrigger, ShutdownSignal) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), ShutdownSignal(rx))
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }

    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal(self.0.subscribe())
    }
}

impl ShutdownSignal {
    /// Wait until shutdown is triggered. A dropped trigger counts as triggered.
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends).
pub async fn os_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_signal_fires_once_triggered() {
        let (trigger, signal) = shutdown_channel();
        let other = trigger.signal();
        assert!(!signal.is_triggered());
        trigger.trigger();
        signal.wait().await;
        other.wait().await;
    }

    #[tokio::test]
    async fn a_dropped_trigger_counts_as_shutdown() {
        let (trigger, signal) = shutdown_channel();
        drop(trigger);
        tokio::time::timeout(std::time::Duration::from_secs(1), signal.wait())
            .await
            .expect("signal resolves when the trigger is gone");
    }
}
