//! An incoming `batch` or `transaction` Bundle (HL7 Norway `PmdBundleObservation`) taken
//! apart, and the conditional-request identifier query.

use pmd_error::Issue;
use serde_json::{Map, Value};

/// How the entries of a Bundle are processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    /// Each entry stands alone.
    Batch,
    /// All or nothing.
    Transaction,
}

/// A `batch` or `transaction` Bundle whose own shape is fine; its entries are checked one
/// by one ([`IncomingEntry::check`]), so a bad entry in a batch fails only itself.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingBundle {
    pub kind: BundleKind,
    pub entries: Vec<IncomingEntry>,
}

/// One request entry with its raw fields. A field whose JSON type is wrong is `None` and
/// its problem is in [`problems`](Self::problems).
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEntry {
    /// Position in `Bundle.entry`, from 0.
    pub index: usize,
    pub full_url: Option<String>,
    /// `request.method` as sent (`POST`, `PUT`, ...).
    pub method: Option<String>,
    /// `request.url` as sent.
    pub url: Option<String>,
    /// `request.ifNoneExist` as sent.
    pub if_none_exist: Option<String>,
    pub resource: Option<Value>,
    /// Problems with the JSON shape of the entry found while parsing (an entry or field of
    /// the wrong type). [`check`](Self::check) includes them.
    pub problems: Vec<Issue>,
}

impl IncomingEntry {
    /// FHIRPath of this entry: `Bundle.entry[3]`.
    pub fn path(&self) -> String {
        format!("Bundle.entry[{}]", self.index)
    }

    /// FHIRPath of this entry's resource, the prefix for validating it:
    /// `Bundle.entry[3].resource`.
    pub fn resource_path(&self) -> String {
        format!("{}.resource", self.path())
    }

    /// Every problem with this entry as a request (not with its resource): its shape, a
    /// missing `fullUrl`, a method other than POST or PUT, a PUT without
    /// `Observation?identifier=<system>|<value>`, a POST whose `ifNoneExist` is not
    /// `identifier=<system>|<value>`, a missing resource. Empty when the entry is fine.
    pub fn check(&self) -> Vec<Issue> {
        let mut issues = self.problems.clone();
        let entry = self.path();
        let blamed = |path: &str| {
            self.problems.iter().any(|issue| {
                issue.expression.as_deref().is_some_and(|blamed| {
                    path == blamed
                        || path
                            .strip_prefix(blamed)
                            .is_some_and(|rest| rest.starts_with(['.', '[']))
                })
            })
        };
        let mut report = |path: String, issue: Issue| {
            if !blamed(&path) {
                issues.push(issue.at(path));
            }
        };

        if self.full_url.as_deref().is_none_or(str::is_empty) {
            report(
                format!("{entry}.fullUrl"),
                Issue::error("required", "every entry needs a fullUrl"),
            );
        }
        let method_path = format!("{entry}.request.method");
        match self.method.as_deref() {
            None | Some("") => report(
                method_path,
                Issue::error("required", "request.method is required: post or put"),
            ),
            Some("POST") => {
                if let Some(query) = &self.if_none_exist
                    && parse_identifier_query(query).is_none()
                {
                    report(
                        format!("{entry}.request.ifNoneExist"),
                        Issue::error(
                            "invalid",
                            "request.ifNoneExist must be identifier=<system>|<value>",
                        ),
                    );
                }
            }
            Some("PUT") => {
                if self
                    .url
                    .as_deref()
                    .and_then(parse_identifier_query)
                    .is_none()
                {
                    report(
                        format!("{entry}.request.url"),
                        Issue::error(
                            "invalid",
                            "a put entry needs request.url Observation?identifier=<system>|<value> \
                             (a conditional update by the source's identifier)",
                        ),
                    );
                }
            }
            Some(_) => report(
                method_path,
                Issue::error(
                    "not-supported",
                    "request.method must be post (create) or put (conditional update)",
                ),
            ),
        }
        if self.resource.is_none() {
            report(
                format!("{entry}.resource"),
                Issue::error("required", "every entry needs a resource"),
            );
        }
        issues
    }

    /// The source identifier the request names: from `request.url` for PUT, from
    /// `request.ifNoneExist` for POST.
    pub fn request_identifier(&self) -> Option<(String, String)> {
        let query = match self.method.as_deref() {
            Some("PUT") => self.url.as_deref(),
            Some("POST") => self.if_none_exist.as_deref(),
            _ => None,
        };
        query.and_then(parse_identifier_query)
    }
}

/// Takes a `batch` or `transaction` Bundle apart. Problems with the Bundle itself (not an
/// object, not a Bundle, another type, `entry` not an array) are all reported together;
/// entry problems are left to [`IncomingEntry::check`]. A Bundle without entries has none.
pub fn parse_bundle(bundle: &Value) -> Result<IncomingBundle, Vec<Issue>> {
    let Some(object) = bundle.as_object() else {
        return Err(vec![
            Issue::error("invalid", "the body must be a json object (a bundle)").at("Bundle"),
        ]);
    };
    let mut issues = Vec::new();
    if object.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        issues
            .push(Issue::error("invalid", "resourceType must be Bundle").at("Bundle.resourceType"));
    }
    let kind = match present(object, "type") {
        None => {
            issues.push(
                Issue::error("required", "bundle type is required: batch or transaction")
                    .at("Bundle.type"),
            );
            None
        }
        Some(Value::String(kind)) if kind == "batch" => Some(BundleKind::Batch),
        Some(Value::String(kind)) if kind == "transaction" => Some(BundleKind::Transaction),
        Some(_) => {
            issues.push(
                Issue::error("not-supported", "bundle type must be batch or transaction")
                    .at("Bundle.type"),
            );
            None
        }
    };
    let entries = match present(object, "entry") {
        None => Vec::new(),
        Some(Value::Array(entries)) => entries
            .iter()
            .enumerate()
            .map(|(index, entry)| parse_entry(index, entry))
            .collect(),
        Some(_) => {
            issues.push(Issue::error("invalid", "entry must be an array").at("Bundle.entry"));
            Vec::new()
        }
    };
    match kind {
        Some(kind) if issues.is_empty() => Ok(IncomingBundle { kind, entries }),
        _ => Err(issues),
    }
}

/// A field that is there and not `null`.
fn present<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).filter(|value| !value.is_null())
}

fn parse_entry(index: usize, entry: &Value) -> IncomingEntry {
    let mut parsed = IncomingEntry {
        index,
        full_url: None,
        method: None,
        url: None,
        if_none_exist: None,
        resource: None,
        problems: Vec::new(),
    };
    let path = parsed.path();
    let Some(object) = entry.as_object() else {
        parsed
            .problems
            .push(Issue::error("invalid", "entry must be a json object").at(path));
        return parsed;
    };
    let mut problems = Vec::new();
    let mut string = |value: Option<&Value>, name: &str| -> Option<String> {
        match value.filter(|value| !value.is_null()) {
            None => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                problems.push(
                    Issue::error("invalid", format!("{name} must be a string"))
                        .at(format!("{path}.{name}")),
                );
                None
            }
        }
    };
    parsed.full_url = string(object.get("fullUrl"), "fullUrl");
    match present(object, "request") {
        None => {}
        Some(Value::Object(request)) => {
            parsed.method = string(request.get("method"), "request.method");
            parsed.url = string(request.get("url"), "request.url");
            parsed.if_none_exist = string(request.get("ifNoneExist"), "request.ifNoneExist");
        }
        Some(_) => problems.push(
            Issue::error("invalid", "request must be a json object").at(format!("{path}.request")),
        ),
    }
    match present(object, "resource") {
        None => {}
        Some(resource @ Value::Object(_)) => parsed.resource = Some(resource.clone()),
        Some(_) => problems.push(
            Issue::error("invalid", "resource must be a json object")
                .at(format!("{path}.resource")),
        ),
    }
    parsed.problems = problems;
    parsed
}

/// The `(system, value)` of a conditional request's identifier query:
/// `identifier=<system>|<value>`, also after `Observation?` or an absolute URL ending in
/// `/Observation?`. Percent-encoding is decoded (`%7C` for the bar included; `+` stays a
/// plus). Exactly one parameter, `identifier`, with a non-empty system and value.
pub fn parse_identifier_query(query: &str) -> Option<(String, String)> {
    let query = match query.split_once('?') {
        Some((path, query)) => {
            let path = path.trim_end_matches('/');
            (path == "Observation" || path.ends_with("/Observation")).then_some(query)?
        }
        None => query,
    };
    let token = query.strip_prefix("identifier=")?;
    if token.contains(['&', '#']) {
        return None;
    }
    let token = percent_decode(token)?;
    let (system, value) = token.split_once('|')?;
    if system.is_empty() || value.is_empty() {
        return None;
    }
    Some((system.to_owned(), value.to_owned()))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(
                u8::from_str_radix(hex, 16)
                    .ok()
                    .filter(|_| hex.bytes().all(|b| b.is_ascii_hexdigit()))?,
            );
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
