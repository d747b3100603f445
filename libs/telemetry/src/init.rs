//! Process-wide installation of the tracing subscriber and the OpenTelemetry tracer provider.
//!
//! Many services may run in one process (`pmd up`, tests), each calling [`init`]. The
//! subscriber is installed once; its OpenTelemetry layer uses a [`SharedTracer`] whose
//! underlying SDK tracer can be swapped, so that:
//!
//! * every live [`TelemetryGuard`] from [`init`] shares one provider (reference counted);
//! * when the last one is shut down the provider is flushed and shut down, and replaced by an
//!   exporter-less one, so spans keep getting trace ids for anything still running;
//! * a later [`init`] (e.g. the next test starting a server) installs a fresh provider.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use opentelemetry::trace::{SpanBuilder, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use tracing::{Dispatch, Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::Registry;
use tracing_subscriber::util::SubscriberInitExt;

use crate::TelemetryError;
use crate::config::{DEFAULT_LOG_FILTER, LogFormat, TelemetryConfig};

/// Name of the instrumentation scope of the spans this crate produces.
const TRACER_NAME: &str = "pmd-telemetry";

/// Targets whose spans/events never go to OpenTelemetry (transport internals, and the
/// exporter's own stack, which would otherwise trace its own exports).
const OTEL_EXCLUDED_TARGETS: &[&str] = &[
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "h2",
    "hyper",
    "hyper_util",
    "tonic",
    "tower",
];

// ----------------------------------------------------------------------------------------
// Swappable tracer

/// An OpenTelemetry tracer delegating to an SDK tracer that can be replaced at run time.
#[derive(Clone)]
struct SharedTracer(Arc<RwLock<SdkTracer>>);

impl SharedTracer {
    fn new(tracer: SdkTracer) -> Self {
        Self(Arc::new(RwLock::new(tracer)))
    }

    fn replace(&self, tracer: SdkTracer) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = tracer;
    }
}

impl opentelemetry::trace::Tracer for SharedTracer {
    type Span = opentelemetry_sdk::trace::Span;

    fn build_with_context(
        &self,
        builder: SpanBuilder,
        parent_cx: &opentelemetry::Context,
    ) -> Self::Span {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .build_with_context(builder, parent_cx)
    }
}

// ----------------------------------------------------------------------------------------
// Provider

fn build_provider(
    service_name: &str,
    otlp_endpoint: Option<&str>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    let mut builder = SdkTracerProvider::builder()
        // always sample new traces; follow the caller's decision for propagated ones
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_resource(resource);
    if let Some(endpoint) = otlp_endpoint {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(TelemetryError::NoRuntime);
        }
        use opentelemetry_otlp::WithExportConfig as _;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// A provider without exporter: ids only. Cannot fail.
fn idle_provider(service_name: &str) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        )
        .build()
}

fn tracer_of(provider: &SdkTracerProvider) -> SdkTracer {
    provider.tracer(Cow::Borrowed(TRACER_NAME))
}

/// Runs a blocking provider operation without starving a multi-threaded Tokio runtime (the
/// OTLP exporter's channel is driven by that runtime).
fn run_blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn shutdown_provider(provider: &SdkTracerProvider) -> Result<(), TelemetryError> {
    match run_blocking(|| provider.shutdown()) {
        Ok(()) | Err(opentelemetry_sdk::error::OTelSdkError::AlreadyShutdown) => Ok(()),
        Err(e) => Err(TelemetryError::Shutdown(e.to_string())),
    }
}

fn flush_provider(provider: &SdkTracerProvider) -> Result<(), TelemetryError> {
    run_blocking(|| provider.force_flush()).map_err(|e| TelemetryError::Shutdown(e.to_string()))
}

// ----------------------------------------------------------------------------------------
// Layers

fn parse_filter(filter: &str) -> Result<EnvFilter, TelemetryError> {
    let filter = if filter.trim().is_empty() {
        DEFAULT_LOG_FILTER
    } else {
        filter
    };
    EnvFilter::builder()
        .parse(filter)
        .map_err(|e| TelemetryError::InvalidLogFilter {
            filter: filter.to_owned(),
            message: e.to_string(),
        })
}

fn target_excluded(target: &str) -> bool {
    OTEL_EXCLUDED_TARGETS.iter().any(|prefix| {
        target
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync + 'static>;

/// The fmt layer (filtered by `log_filter`) and the OpenTelemetry layer (all spans at INFO or
/// above, whatever the log filter says, so trace ids exist even with `RUST_LOG=warn`; plus
/// the events the log filter lets through, as span events).
fn build_layers<W, T>(
    cfg: &TelemetryConfig,
    format: LogFormat,
    ansi: bool,
    writer: W,
    tracer: T,
) -> Result<Vec<BoxedLayer>, TelemetryError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    T: opentelemetry::trace::Tracer + Send + Sync + 'static,
    T::Span: Send + Sync,
{
    let log_filter = parse_filter(&cfg.log_filter)?;
    let otel_events = parse_filter(&cfg.log_filter)?;

    let fmt_layer: BoxedLayer = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer)
            .with_filter(log_filter)
            .boxed(),
        LogFormat::Pretty | LogFormat::Auto => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer)
            .with_filter(log_filter)
            .boxed(),
    };

    let spans_at_info =
        filter_fn(|meta: &Metadata<'_>| meta.is_span() && *meta.level() <= Level::INFO);
    let otel_filter = spans_at_info
        .or(otel_events)
        .and(filter_fn(|meta: &Metadata<'_>| {
            !target_excluded(meta.target())
        }));
    let otel_layer: BoxedLayer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(otel_filter)
        .boxed();

    Ok(vec![otel_layer, fmt_layer])
}

// ----------------------------------------------------------------------------------------
// Global state

struct GlobalState {
    tracer: SharedTracer,
    provider: SdkTracerProvider,
    service_name: String,
    /// Live guards handed out by [`init`].
    guards: usize,
}

impl GlobalState {
    fn install_provider(&mut self, provider: SdkTracerProvider) -> SdkTracerProvider {
        self.tracer.replace(tracer_of(&provider));
        opentelemetry::global::set_tracer_provider(provider.clone());
        std::mem::replace(&mut self.provider, provider)
    }
}

/// Whether a global (not thread-scoped) subscriber is installed. Asked from a fresh thread,
/// which has no scoped default of its own (`tracing::dispatcher::has_been_set` also counts
/// scoped ones).
fn global_subscriber_set() -> bool {
    std::thread::spawn(|| {
        tracing::dispatcher::get_default(|d| !d.is::<tracing::subscriber::NoSubscriber>())
    })
    .join()
    .unwrap_or(true)
}

/// `None` until [`init`] installed the subscriber.
static GLOBAL: Mutex<Option<GlobalState>> = Mutex::new(None);

fn global() -> std::sync::MutexGuard<'static, Option<GlobalState>> {
    GLOBAL.lock().unwrap_or_else(PoisonError::into_inner)
}

enum GuardKind {
    /// Does nothing (subscriber installed by someone else, or already shut down).
    Inert,
    /// Holds one reference to the process-wide provider installed by [`init`].
    Global,
    /// Owns a provider of its own ([`subscriber_with_writer`]).
    Owned(SdkTracerProvider),
}

/// Keeps trace export alive; [`TelemetryGuard::shutdown`] (or drop) flushes pending spans and
/// shuts the exporter down.
///
/// Guards returned by [`init`] share one process-wide provider: shutting one down flushes;
/// the provider is shut down when the last of them goes (afterwards spans still get trace
/// ids, they are just not exported any more until the next [`init`]).
///
/// With OTLP export on, shut down from a multi-threaded Tokio runtime or outside any
/// runtime: on a current-thread runtime the final flush cannot make progress and waits for
/// the export timeout.
#[must_use = "dropping the guard shuts telemetry export down"]
pub struct TelemetryGuard {
    kind: GuardKind,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            GuardKind::Inert => "inert",
            GuardKind::Global => "global",
            GuardKind::Owned(_) => "owned",
        };
        f.debug_struct("TelemetryGuard")
            .field("kind", &kind)
            .finish()
    }
}

impl TelemetryGuard {
    /// `true` when this guard keeps a tracer provider alive (i.e. dropping it flushes).
    #[must_use]
    pub fn is_active(&self) -> bool {
        !matches!(self.kind, GuardKind::Inert)
    }

    /// Flushes pending spans and shuts the exporter down (see the type docs for shared
    /// guards). Failures (e.g. an unreachable collector) are reported on stderr: at shutdown
    /// there is nothing better to do with them.
    pub fn shutdown(mut self) {
        let result = self.shutdown_inner();
        report(result);
    }

    fn shutdown_inner(&mut self) -> Result<(), TelemetryError> {
        match std::mem::replace(&mut self.kind, GuardKind::Inert) {
            GuardKind::Inert => Ok(()),
            GuardKind::Owned(provider) => shutdown_provider(&provider),
            GuardKind::Global => {
                let (provider, last) = {
                    let mut state = global();
                    let Some(state) = state.as_mut() else {
                        return Ok(());
                    };
                    state.guards = state.guards.saturating_sub(1);
                    if state.guards == 0 {
                        let idle = idle_provider(&state.service_name);
                        (state.install_provider(idle), true)
                    } else {
                        (state.provider.clone(), false)
                    }
                };
                if last {
                    shutdown_provider(&provider)
                } else {
                    flush_provider(&provider)
                }
            }
        }
    }
}

fn report(result: Result<(), TelemetryError>) {
    if let Err(e) = result {
        eprintln!("pmd-telemetry: {e}");
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let result = self.shutdown_inner();
        report(result);
    }
}

/// Installs telemetry for this process: the global `tracing` subscriber (logs to stderr in
/// the configured format, filtered by `log_filter`), an OpenTelemetry layer giving every span
/// a W3C trace id (exported by OTLP/gRPC when `otlp_endpoint` is set), the W3C TraceContext
/// propagator as global text-map propagator, and the global tracer provider.
///
/// Safe to call many times (embedded mode, tests): the subscriber is installed by the first
/// call only, and its log format and filter stay fixed. Later calls return a guard sharing
/// the live provider; if none is live (all guards were shut down) the call installs a new
/// provider from its own `cfg`. If another crate already installed a global subscriber, this
/// returns an inert guard and changes nothing.
///
/// When `otlp_endpoint` is set, call this from inside a Tokio runtime (the gRPC exporter
/// needs one).
///
/// # Errors
///
/// [`TelemetryError::InvalidLogFilter`], [`TelemetryError::NoRuntime`],
/// [`TelemetryError::Exporter`].
pub fn init(cfg: TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let mut state = global();
    if let Some(state) = state.as_mut() {
        if state.guards == 0 {
            let provider = build_provider(&cfg.service_name, cfg.otlp_endpoint.as_deref())?;
            state.service_name.clone_from(&cfg.service_name);
            let idle = state.install_provider(provider);
            let _ = idle.shutdown();
        }
        state.guards += 1;
        return Ok(TelemetryGuard {
            kind: GuardKind::Global,
        });
    }
    if global_subscriber_set() {
        return Ok(TelemetryGuard {
            kind: GuardKind::Inert,
        });
    }

    let format = cfg.log_format.resolve();
    let ansi = format == LogFormat::Pretty && std::io::IsTerminal::is_terminal(&std::io::stderr());
    // validate the filter before starting an exporter
    parse_filter(&cfg.log_filter)?;
    let provider = build_provider(&cfg.service_name, cfg.otlp_endpoint.as_deref())?;
    let tracer = SharedTracer::new(tracer_of(&provider));
    let layers = build_layers(&cfg, format, ansi, std::io::stderr, tracer.clone())?;

    // The global default is free (checked above, under our lock), so an error here can only
    // mean that the `log` → `tracing` bridge was already taken: harmless.
    let _ = tracing_subscriber::registry().with(layers).try_init();

    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    *state = Some(GlobalState {
        tracer,
        provider,
        service_name: cfg.service_name,
        guards: 1,
    });
    Ok(TelemetryGuard {
        kind: GuardKind::Global,
    })
}

/// Builds the same subscriber [`init`] would install, but writing log lines to `writer` and
/// without installing anything globally — for tests (`tracing::dispatcher::set_default`) and
/// tools. The returned guard owns the subscriber's own tracer provider.
///
/// [`LogFormat::Auto`] is treated as [`LogFormat::Json`]; no ANSI colours.
///
/// # Errors
///
/// As for [`init`].
pub fn subscriber_with_writer<W>(
    cfg: &TelemetryConfig,
    writer: W,
) -> Result<(Dispatch, TelemetryGuard), TelemetryError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let format = match cfg.log_format {
        LogFormat::Auto => LogFormat::Json,
        other => other,
    };
    parse_filter(&cfg.log_filter)?;
    let provider = build_provider(&cfg.service_name, cfg.otlp_endpoint.as_deref())?;
    let layers = build_layers(cfg, format, false, writer, tracer_of(&provider))?;
    let dispatch = Dispatch::new(Registry::default().with(layers));
    Ok((
        dispatch,
        TelemetryGuard {
            kind: GuardKind::Owned(provider),
        },
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn excluded_targets_match_whole_segments() {
        assert!(target_excluded("h2"));
        assert!(target_excluded("hyper::proto::h1"));
        assert!(target_excluded("opentelemetry_sdk::trace"));
        assert!(!target_excluded("pmd_telemetry::http_layer"));
        assert!(!target_excluded("hyperlocal"));
    }

    #[test]
    fn invalid_filter_is_rejected_naming_it() {
        let mut cfg = TelemetryConfig::new("t");
        cfg.log_filter = "info,[[[".to_owned();
        let err = subscriber_with_writer(&cfg, std::io::sink).unwrap_err();
        assert!(err.to_string().contains("invalid log filter"), "{err}");
    }
}
