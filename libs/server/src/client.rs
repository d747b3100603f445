//! Channels to other PMD services. Connection is lazy (a service starts even when its
//! dependency is not up yet), every call has a deadline, and every call carries the current
//! W3C trace context (`traceparent`) so a trace flows edge → service → service.

use std::time::Duration;

use tonic::transport::Endpoint;

use crate::StartError;

/// A channel to another service that propagates the trace context.
pub type Channel = pmd_telemetry::PropagateTrace<tonic::transport::Channel>;

/// A lazily connecting channel to `url` whose calls time out after `request_timeout`.
pub fn connect_lazy(url: &str, request_timeout: Duration) -> Result<Channel, StartError> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| StartError::Other(format!("bad service url {url:?}: {e}")))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(request_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    Ok(tower::ServiceBuilder::new()
        .layer(pmd_telemetry::PropagateTraceLayer)
        .service(endpoint.connect_lazy()))
}
