//! Channels to other PMD services. Connection is lazy (a service starts even when its
//! dependency is not up yet) and every call has a deadline.

use std::time::Duration;

pub use tonic::transport::Channel;
use tonic::transport::Endpoint;

use crate::StartError;

/// A lazily connecting channel to `url` whose calls time out after `request_timeout`.
pub fn connect_lazy(url: &str, request_timeout: Duration) -> Result<Channel, StartError> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| StartError::Other(format!("bad service url {url:?}: {e}")))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(request_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    Ok(endpoint.connect_lazy())
}
