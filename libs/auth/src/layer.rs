//! One tower layer that authenticates both the REST edge (axum) and the gRPC servers
//! (tonic): it verifies the bearer token, puts the [`Principal`] into the request
//! extensions and answers failures itself, as HTTP 401/403 with a FHIR
//! `OperationOutcome` or as a gRPC `Unauthenticated`/`PermissionDenied` status.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Request, Response};
use tower::{Layer, Service};

use crate::error::AuthError;
use crate::principal::Principal;
use crate::verifier::Verifier;

/// FHIR's JSON media type.
pub const FHIR_JSON: &str = "application/fhir+json";

/// A response body the layer can build its error responses in.
pub trait ErrorBody: Default + Send + 'static {
    fn from_text(text: String) -> Self;
}

impl ErrorBody for axum::body::Body {
    fn from_text(text: String) -> Self {
        axum::body::Body::from(text)
    }
}

impl ErrorBody for tonic::body::Body {
    fn from_text(text: String) -> Self {
        tonic::body::Body::new(text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Http,
    Grpc,
}

type PathPredicate = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Authenticates every request not on an anonymous path.
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Verifier,
    mode: Mode,
    anonymous: Option<PathPredicate>,
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("mode", &self.mode)
            .field("anonymous", &self.anonymous.is_some())
            .finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// For HTTP (axum): failures become 401/403 with `WWW-Authenticate` and a FHIR
    /// `OperationOutcome`.
    pub fn http(verifier: Verifier) -> Self {
        Self {
            verifier,
            mode: Mode::Http,
            anonymous: None,
        }
    }

    /// For gRPC (tonic): failures become a gRPC status (code 16 `Unauthenticated`, or 7
    /// `PermissionDenied` for a token without a pmd scope).
    pub fn grpc(verifier: Verifier) -> Self {
        Self {
            verifier,
            mode: Mode::Grpc,
            anonymous: None,
        }
    }

    /// Requests whose path satisfies `is_public` pass without a token (and without a
    /// principal): health, readiness, metrics, documentation.
    pub fn allow_anonymous(
        mut self,
        is_public: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.anonymous = Some(Arc::new(is_public));
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The paths every gRPC server serves without a token: `grpc.health.v1` and reflection.
pub fn grpc_public_path(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// The paths the REST edge serves without a token.
pub fn http_public_path(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics" | "/openapi.json")
        || path == "/docs"
        || path.starts_with("/docs/")
}

/// The service [`AuthLayer`] wraps around `S`.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S: fmt::Debug> fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: ErrorBody,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        if self
            .layer
            .anonymous
            .as_ref()
            .is_some_and(|is_public| is_public(request.uri().path()))
        {
            return Box::pin(self.inner.call(request));
        }
        // The ready service goes into the future; a fresh clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.layer.verifier.clone();
        let mode = self.layer.mode;
        let token = bearer_token(request.headers());
        Box::pin(async move {
            let verified = match token {
                Some(token) => verifier.verify(&token).await,
                None => Err(AuthError::MissingToken),
            };
            match verified {
                Ok(principal) => {
                    request.extensions_mut().insert(principal);
                    inner.call(request).await
                }
                Err(err) => {
                    tracing::debug!(reason = %err, "request not authenticated");
                    Ok(match mode {
                        Mode::Http => http_rejection(&err),
                        Mode::Grpc => tonic::Status::from(err).into_http(),
                    })
                }
            }
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// The FHIR `OperationOutcome` for an authentication failure.
pub fn operation_outcome(err: &AuthError) -> serde_json::Value {
    let code = if err.http_status() == http::StatusCode::FORBIDDEN {
        "forbidden"
    } else {
        "login"
    };
    serde_json::json!({
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": "error",
            "code": code,
            "diagnostics": err.to_string(),
        }]
    })
}

/// The HTTP response for an authentication failure: 401 (403 for scope errors) with
/// `WWW-Authenticate` and an `OperationOutcome` body.
pub fn http_rejection<B: ErrorBody>(err: &AuthError) -> Response<B> {
    let mut response = Response::new(B::from_text(operation_outcome(err).to_string()));
    *response.status_mut() = err.http_status();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    if let Ok(value) = HeaderValue::from_str(&err.www_authenticate()) {
        headers.insert(WWW_AUTHENTICATE, value);
    }
    response
}

/// An axum rejection carrying an [`AuthError`]; renders as [`http_rejection`].
#[derive(Debug, Clone)]
pub struct AuthRejection(pub AuthError);

impl From<AuthError> for AuthRejection {
    fn from(err: AuthError) -> Self {
        Self(err)
    }
}

impl axum::response::IntoResponse for AuthRejection {
    fn into_response(self) -> axum::response::Response {
        http_rejection(&self.0)
    }
}

/// `Principal` as an axum extractor: the one [`AuthLayer`] put into the extensions, or
/// a 401 when the route is not behind the layer (or is anonymous).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Principal {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(AuthRejection(AuthError::MissingToken))
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("bearer abc.def.ghi"),
        );
        assert_eq!(bearer_token(&headers).as_deref(), Some("abc.def.ghi"));
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpwdw=="),
        );
        assert_eq!(bearer_token(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&headers), None);
    }

    #[test]
    fn public_paths() {
        assert!(grpc_public_path("/grpc.health.v1.Health/Check"));
        assert!(grpc_public_path(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
        assert!(!grpc_public_path("/pmd.storage.v1.Storage/Query"));
        assert!(http_public_path("/healthz"));
        assert!(http_public_path("/docs/index.html"));
        assert!(!http_public_path("/docsx"));
        assert!(!http_public_path("/fhir/Observation"));
    }

    #[test]
    fn www_authenticate_values() {
        assert_eq!(
            AuthError::MissingToken.www_authenticate(),
            "Bearer realm=\"pmd\""
        );
        assert_eq!(
            AuthError::Expired.www_authenticate(),
            "Bearer realm=\"pmd\", error=\"invalid_token\", error_description=\"token expired\""
        );
    }
}
