//! Redaction helpers for places that must log a URI.

/// The URI's path, with the query (which may hold national ids, e.g. `?patient=…`) replaced
/// by `?<redacted>` when present. Scheme and authority are dropped too.
///
/// ```
/// let uri: http::Uri = "/fhir/Observation?patient=01010112345".parse().unwrap();
/// assert_eq!(pmd_telemetry::redact_query(&uri), "/fhir/Observation?<redacted>");
/// ```
#[must_use]
pub fn redact_query(uri: &http::Uri) -> String {
    match uri.query() {
        Some(_) => format!("{}?<redacted>", uri.path()),
        None => uri.path().to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn query_is_replaced_and_path_kept() {
        let uri: http::Uri = "https://pmd.example/fhir/Observation?patient=01010112345&x=1"
            .parse()
            .unwrap();
        assert_eq!(redact_query(&uri), "/fhir/Observation?<redacted>");
        let uri: http::Uri = "/fhir/metadata".parse().unwrap();
        assert_eq!(redact_query(&uri), "/fhir/metadata");
        let uri: http::Uri = "/a?".parse().unwrap();
        assert_eq!(redact_query(&uri), "/a?<redacted>");
    }
}
