//! Helpers for tonic handlers and clients.

use tonic::metadata::MetadataValue;
use tonic::{Request, Status};

use crate::principal::Principal;

/// The principal [`crate::AuthLayer`] attached to this call, or `Unauthenticated`.
pub fn principal_from_request<T>(request: &Request<T>) -> Result<&Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))
}

/// Sets `authorization: Bearer <token>` on an outgoing call, so the next service sees
/// the original caller.
pub fn authorize_outgoing<T>(request: &mut Request<T>, principal: &Principal) {
    // A verified token is base64url segments and dots, always a valid metadata value.
    match MetadataValue::try_from(principal.token.authorization_value()) {
        Ok(value) => {
            request.metadata_mut().insert("authorization", value);
        }
        Err(_) => tracing::warn!("bearer token is not a valid metadata value, not forwarded"),
    }
}
