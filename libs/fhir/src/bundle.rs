//! Response Bundles: `batch-response`, `transaction-response` and `searchset`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::CANONICAL_BASE;
use crate::json::instant;

/// One entry of a `batch-response` or `transaction-response`: the outcome of the request
/// entry at the same position.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResponseEntry {
    /// The request entry's `fullUrl`, echoed.
    pub full_url: Option<String>,
    /// HTTP status line, e.g. `201 Created`, `200 OK`, `422 Unprocessable Entity`.
    pub status: String,
    /// `Observation/<id>/_history/<version>` for a stored resource.
    pub location: Option<String>,
    /// e.g. `W/"1"` ([`weak_etag`]).
    pub etag: Option<String>,
    pub last_modified: Option<DateTime<Utc>>,
    /// An `OperationOutcome` explaining a failure (or a warning).
    pub outcome: Option<Value>,
}

impl ResponseEntry {
    fn to_json(&self) -> Value {
        let mut response = Map::new();
        response.insert("status".into(), json!(self.status));
        if let Some(location) = &self.location {
            response.insert("location".into(), json!(location));
        }
        if let Some(etag) = &self.etag {
            response.insert("etag".into(), json!(etag));
        }
        if let Some(at) = &self.last_modified {
            response.insert("lastModified".into(), json!(instant(at)));
        }
        if let Some(outcome) = &self.outcome {
            response.insert("outcome".into(), outcome.clone());
        }
        let mut entry = Map::new();
        if let Some(full_url) = &self.full_url {
            entry.insert("fullUrl".into(), json!(full_url));
        }
        entry.insert("response".into(), Value::Object(response));
        Value::Object(entry)
    }
}

/// A `batch-response` Bundle, one entry per request entry in the same order.
pub fn batch_response(entries: Vec<ResponseEntry>) -> Value {
    response_bundle("batch-response", &entries)
}

/// A `transaction-response` Bundle, one entry per request entry in the same order.
pub fn transaction_response(entries: Vec<ResponseEntry>) -> Value {
    response_bundle("transaction-response", &entries)
}

fn response_bundle(kind: &str, entries: &[ResponseEntry]) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": kind,
        "entry": entries.iter().map(ResponseEntry::to_json).collect::<Vec<_>>(),
    })
}

/// A weak ETag for a version, as FHIR writes it: `W/"3"`.
pub fn weak_etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// A `searchset` Bundle with a `self` link, a `next` link when there is another page, and
/// each resource as a `match` entry.
///
/// An entry's `fullUrl` is `<base>/<resourceType>/<id>`, the base being `self_url` up to
/// the resource type's path segment (`https://host/fhir/Observation?code=…` →
/// `https://host/fhir`), or [`CANONICAL_BASE`] when `self_url` has no such segment. A
/// resource without `resourceType` or `id` gets no `fullUrl`.
pub fn searchset(
    self_url: &str,
    next_url: Option<&str>,
    entries: Vec<Value>,
    total: Option<u64>,
) -> Value {
    let mut links = vec![json!({"relation": "self", "url": self_url})];
    if let Some(next) = next_url {
        links.push(json!({"relation": "next", "url": next}));
    }
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|resource| {
            let mut entry = Map::new();
            if let Some(full_url) = full_url(self_url, &resource) {
                entry.insert("fullUrl".into(), json!(full_url));
            }
            entry.insert("resource".into(), resource);
            entry.insert("search".into(), json!({"mode": "match"}));
            Value::Object(entry)
        })
        .collect();
    let mut bundle = Map::new();
    bundle.insert("resourceType".into(), json!("Bundle"));
    bundle.insert("type".into(), json!("searchset"));
    if let Some(total) = total {
        bundle.insert("total".into(), json!(total));
    }
    bundle.insert("link".into(), Value::Array(links));
    bundle.insert("entry".into(), Value::Array(entries));
    Value::Object(bundle)
}

fn full_url(self_url: &str, resource: &Value) -> Option<String> {
    let resource_type = resource.get("resourceType")?.as_str()?;
    let id = resource.get("id")?.as_str()?;
    Some(full_url_for(self_url, resource_type, id))
}

/// `<base>/<resource_type>/<id>`, the base taken from `self_url` as [`searchset`] says.
fn full_url_for(self_url: &str, resource_type: &str, id: &str) -> String {
    let path = self_url.split(['?', '#']).next().unwrap_or_default();
    let segment = format!("/{resource_type}");
    let base = path
        .rmatch_indices(segment.as_str())
        .map(|(at, _)| at)
        .find(|&at| {
            let after = &path[at + segment.len()..];
            after.is_empty() || after.starts_with('/')
        })
        .map_or(CANONICAL_BASE, |at| &path[..at]);
    format!("{base}/{resource_type}/{id}")
}

/// One already serialised resource for [`searchset_json`].
#[derive(Debug, Clone, Copy)]
pub struct RawResource<'a> {
    pub resource_type: &'a str,
    pub id: &'a str,
    /// The resource as JSON text. It is spliced in unchecked: it must be one valid JSON
    /// object (as stored by the service that rendered it).
    pub json: &'a [u8],
}

/// The same `searchset` Bundle as [`searchset`], written straight to JSON text with each
/// resource spliced in as the bytes it was stored as, so a page of 100 Observations is not
/// parsed and re-serialised on every search.
pub fn searchset_json(
    self_url: &str,
    next_url: Option<&str>,
    entries: &[RawResource<'_>],
    total: Option<u64>,
) -> Vec<u8> {
    let size: usize = entries.iter().map(|e| e.json.len() + 160).sum();
    let mut out = Vec::with_capacity(size + 512);
    out.extend_from_slice(br#"{"resourceType":"Bundle","type":"searchset","#);
    if let Some(total) = total {
        out.extend_from_slice(format!(r#""total":{total},"#).as_bytes());
    }
    let mut links = vec![json!({"relation": "self", "url": self_url})];
    if let Some(next) = next_url {
        links.push(json!({"relation": "next", "url": next}));
    }
    out.extend_from_slice(br#""link":"#);
    out.extend_from_slice(Value::Array(links).to_string().as_bytes());
    out.extend_from_slice(br#","entry":["#);
    for (n, entry) in entries.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"fullUrl":"#);
        let full_url = full_url_for(self_url, entry.resource_type, entry.id);
        out.extend_from_slice(Value::String(full_url).to_string().as_bytes());
        out.extend_from_slice(br#","resource":"#);
        out.extend_from_slice(entry.json);
        out.extend_from_slice(br#","search":{"mode":"match"}}"#);
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;

    use super::*;

    #[test]
    fn batch_response_has_one_entry_per_request_in_order() {
        let at = Utc.with_ymd_and_hms(2024, 3, 5, 8, 16, 2).unwrap();
        let bundle = batch_response(vec![
            ResponseEntry {
                full_url: Some("urn:uuid:1".into()),
                status: "201 Created".into(),
                location: Some("Observation/abc/_history/1".into()),
                etag: Some(weak_etag(1)),
                last_modified: Some(at),
                outcome: None,
            },
            ResponseEntry {
                full_url: Some("urn:uuid:2".into()),
                status: "422 Unprocessable Entity".into(),
                outcome: Some(json!({"resourceType": "OperationOutcome", "issue": []})),
                ..ResponseEntry::default()
            },
        ]);
        assert_eq!(
            bundle,
            json!({
                "resourceType": "Bundle",
                "type": "batch-response",
                "entry": [
                    {
                        "fullUrl": "urn:uuid:1",
                        "response": {
                            "status": "201 Created",
                            "location": "Observation/abc/_history/1",
                            "etag": "W/\"1\"",
                            "lastModified": "2024-03-05T08:16:02Z",
                        },
                    },
                    {
                        "fullUrl": "urn:uuid:2",
                        "response": {
                            "status": "422 Unprocessable Entity",
                            "outcome": {"resourceType": "OperationOutcome", "issue": []},
                        },
                    },
                ],
            })
        );
    }

    #[test]
    fn transaction_response_differs_only_in_type() {
        let entry = ResponseEntry {
            status: "200 OK".into(),
            ..ResponseEntry::default()
        };
        let bundle = transaction_response(vec![entry]);
        assert_eq!(bundle["type"], "transaction-response");
        assert_eq!(
            bundle["entry"][0],
            json!({"response": {"status": "200 OK"}})
        );
        assert_eq!(batch_response(Vec::new())["entry"], json!([]));
    }

    #[test]
    fn searchset_links_self_and_next_and_marks_matches() {
        let bundle = searchset(
            "https://pmd.example/fhir/Observation?code=8867-4",
            Some("https://pmd.example/fhir/Observation?_cursor=abc"),
            vec![json!({"resourceType": "Observation", "id": "o1"})],
            Some(1),
        );
        assert_eq!(
            bundle,
            json!({
                "resourceType": "Bundle",
                "type": "searchset",
                "total": 1,
                "link": [
                    {"relation": "self", "url": "https://pmd.example/fhir/Observation?code=8867-4"},
                    {"relation": "next", "url": "https://pmd.example/fhir/Observation?_cursor=abc"},
                ],
                "entry": [{
                    "fullUrl": "https://pmd.example/fhir/Observation/o1",
                    "resource": {"resourceType": "Observation", "id": "o1"},
                    "search": {"mode": "match"},
                }],
            })
        );
    }

    #[test]
    fn the_spliced_searchset_equals_the_built_one() {
        let resources = [
            json!({"resourceType": "Observation", "id": "o1", "note": [{"text": "\"quoted\" æøå"}]}),
            json!({"resourceType": "Observation", "id": "o2"}),
        ];
        let texts: Vec<Vec<u8>> = resources
            .iter()
            .map(|r| serde_json::to_vec(r).unwrap())
            .collect();
        let raw: Vec<RawResource> = ["o1", "o2"]
            .iter()
            .zip(&texts)
            .map(|(id, json)| RawResource {
                resource_type: "Observation",
                id,
                json,
            })
            .collect();
        for (next, total) in [
            (None, None),
            (Some("https://h/fhir/Observation?_cursor=a\"b"), Some(7)),
        ] {
            let self_url = "https://h/fhir/Observation/_search?date=ge2024";
            let spliced: Value =
                serde_json::from_slice(&searchset_json(self_url, next, &raw, total)).unwrap();
            assert_eq!(
                spliced,
                searchset(self_url, next, resources.to_vec(), total)
            );
        }
        let empty: Value = serde_json::from_slice(&searchset_json(
            "https://h/fhir/Observation",
            None,
            &[],
            None,
        ))
        .unwrap();
        assert_eq!(empty["entry"], json!([]));
    }

    #[test]
    fn searchset_without_next_or_total_leaves_them_out() {
        let bundle = searchset("https://h/fhir/Observation", None, Vec::new(), None);
        assert!(bundle.get("total").is_none());
        assert_eq!(bundle["link"].as_array().unwrap().len(), 1);
        assert_eq!(bundle["entry"], json!([]));
    }

    #[test]
    fn full_urls_take_the_base_from_the_self_link() {
        let resource = json!({"resourceType": "Observation", "id": "x"});
        for (self_url, expected) in [
            (
                "https://h/fhir/Observation/$lastn?max=1",
                "https://h/fhir/Observation/x",
            ),
            (
                "https://h/fhir/Observation/_search",
                "https://h/fhir/Observation/x",
            ),
            (
                "https://h/fhir/ObservationX/Observation",
                "https://h/fhir/ObservationX/Observation/x",
            ),
            (
                "https://h/fhir/AuditEvent?patient=1",
                "https://pmd.nhn.no/fhir/Observation/x",
            ),
        ] {
            assert_eq!(
                full_url(self_url, &resource).unwrap(),
                expected,
                "{self_url}"
            );
        }
        assert_eq!(
            full_url("https://h/fhir/Observation", &json!({"id": "x"})),
            None
        );
        assert_eq!(
            full_url(
                "https://h/fhir/Observation",
                &json!({"resourceType": "Observation"})
            ),
            None
        );
    }
}
