//! How a service proves who it is when it acts as itself (the outbox relay recording audit
//! events, the statistics follower reading the audit stream): a bearer token with scope
//! `pmd:internal`, from a file the platform keeps fresh (e.g. a HelseID client-credentials
//! sidecar) or, in the embedded mode and tests, minted by the dev issuer.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pmd_error::ServiceError;

type Mint = dyn Fn() -> Result<String, String> + Send + Sync;

/// The source of this service's own token.
#[derive(Clone)]
pub struct ServiceCredentials {
    source: Source,
    cache: Arc<Mutex<Option<(String, Instant)>>>,
}

#[derive(Clone)]
enum Source {
    File(PathBuf),
    Minted(Arc<Mint>),
    None,
}

/// How long a token is reused before it is read or minted again.
const REUSE: Duration = Duration::from_secs(60);

impl ServiceCredentials {
    /// Read the token from `path` (re-read every minute, so rotation needs no restart).
    pub fn file(path: PathBuf) -> Self {
        Self::with(Source::File(path))
    }

    /// Mint tokens with `mint` (the dev issuer). Tokens must live well over a minute.
    pub fn minted(mint: impl Fn() -> Result<String, String> + Send + Sync + 'static) -> Self {
        Self::with(Source::Minted(Arc::new(mint)))
    }

    /// No credentials: calls that need them fail with UNAVAILABLE.
    pub fn none() -> Self {
        Self::with(Source::None)
    }

    fn with(source: Source) -> Self {
        Self {
            source,
            cache: Arc::new(Mutex::new(None)),
        }
    }

    /// The current token.
    pub fn token(&self) -> Result<String, ServiceError> {
        if let Ok(guard) = self.cache.lock()
            && let Some((token, at)) = guard.as_ref()
            && at.elapsed() < REUSE
        {
            return Ok(token.clone());
        }
        let token = match &self.source {
            Source::File(path) => std::fs::read_to_string(path)
                .map(|t| t.trim().to_owned())
                .map_err(|e| {
                    ServiceError::unavailable(format!(
                        "service token file {} unreadable: {e}",
                        path.display()
                    ))
                })?,
            Source::Minted(mint) => mint().map_err(|e| {
                ServiceError::unavailable(format!("cannot mint a service token: {e}"))
            })?,
            Source::None => {
                return Err(ServiceError::unavailable(
                    "no service credentials configured (--service-token-file)",
                ));
            }
        };
        if token.is_empty() {
            return Err(ServiceError::unavailable("the service token is empty"));
        }
        if let Ok(mut guard) = self.cache.lock() {
            *guard = Some((token.clone(), Instant::now()));
        }
        Ok(token)
    }

    /// A request carrying this service's own token.
    pub fn request<T>(&self, message: T) -> Result<tonic::Request<T>, ServiceError> {
        let token = self.token()?;
        let mut request = tonic::Request::new(message);
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| ServiceError::internal("service token is not valid metadata"))?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

/// What every service's `build` receives besides its configuration.
#[derive(Clone)]
pub struct Context {
    /// Verifies the callers' tokens.
    pub verifier: pmd_auth::Verifier,
    /// This service's own identity towards the others.
    pub credentials: ServiceCredentials,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_is_reused_within_a_minute() {
        let count = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = count.clone();
        let credentials = ServiceCredentials::minted(move || {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(format!("token-{n}"))
        });
        assert_eq!(credentials.token().ok().as_deref(), Some("token-0"));
        assert_eq!(credentials.token().ok().as_deref(), Some("token-0"));
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn missing_credentials_are_unavailable_not_a_panic() {
        let error = ServiceCredentials::none().token().unwrap_err();
        assert_eq!(error.code, pmd_error::ErrorCode::Unavailable);
        let error = ServiceCredentials::file("/nonexistent/token".into())
            .token()
            .unwrap_err();
        assert_eq!(error.code, pmd_error::ErrorCode::Unavailable);
    }
}
