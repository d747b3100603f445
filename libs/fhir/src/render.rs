//! A stored Observation as the API returns it.

use chrono::{DateTime, Utc};
use pmd_domain::{Catalogue, Component};
use serde_json::{Map, Value, json};

use crate::json::{Coding, Quantity, codings, decimal, instant};
use crate::{RECEIVED_QUANTITY_URL, UCUM};

/// What the server adds to an Observation as the source sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderInput<'a> {
    /// The server-assigned logical id.
    pub id: &'a str,
    /// `meta.versionId` (1 for a new measurement).
    pub version_id: i64,
    /// `meta.lastUpdated`.
    pub last_updated: DateTime<Utc>,
    /// A status to show instead of the one sent (e.g. after a correction).
    pub status_override: Option<&'a str>,
    /// The top-level value: (canonical, as received). `None` leaves `value[x]` as sent.
    pub value: Option<(Quantity, Quantity)>,
    /// Panel components to rewrite the same way.
    pub components: Vec<RenderComponent>,
}

/// One panel component's value: which component, canonical and as received.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderComponent {
    /// The catalogue component id (`8480-6`); any coding the catalogue maps to this id
    /// matches (e.g. SNOMED CT `271649006` for systolic), and so does this code itself.
    pub code: String,
    pub canonical: Quantity,
    pub received: Quantity,
}

/// The Observation `original` (as the source sent it) with the server's id and meta, and
/// every quantity it can match replaced by the canonical one with the received quantity
/// in a [`RECEIVED_QUANTITY_URL`] extension inside the `valueQuantity` element.
///
/// Everything else is kept: unknown fields, `meta.profile`, other extensions, components
/// that match no [`RenderComponent`]. Never fails: a non-object `original` renders as a
/// bare Observation holding only what `input` says.
pub fn render_observation(original: &Value, input: &RenderInput) -> Value {
    render_observation_owned(original.clone(), input)
}

/// [`render_observation`] on an Observation the caller owns (no copy of it is made).
pub fn render_observation_owned(original: Value, input: &RenderInput) -> Value {
    let mut resource = match original {
        Value::Object(object) => object,
        _ => {
            let mut object = Map::new();
            object.insert("resourceType".into(), json!("Observation"));
            object
        }
    };
    resource.insert("id".into(), json!(input.id));

    let meta = resource
        .entry("meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Some(meta) = meta.as_object_mut() {
        meta.insert("versionId".into(), json!(input.version_id.to_string()));
        meta.insert("lastUpdated".into(), json!(instant(&input.last_updated)));
    }

    if let Some(status) = input.status_override {
        resource.insert("status".into(), json!(status));
    }

    if let Some((canonical, received)) = &input.value {
        let rendered = render_quantity(resource.get("valueQuantity"), canonical, received);
        resource.insert("valueQuantity".into(), rendered);
    }

    if !input.components.is_empty()
        && let Some(Value::Array(components)) = resource.get_mut("component")
    {
        for component in components.iter_mut().filter_map(Value::as_object_mut) {
            let sent_codings = component.get("code").map(codings).unwrap_or_default();
            let Some(wanted) = input
                .components
                .iter()
                .find(|wanted| denotes(&sent_codings, &wanted.code))
            else {
                continue;
            };
            let rendered = render_quantity(
                component.get("valueQuantity"),
                &wanted.canonical,
                &wanted.received,
            );
            component.insert("valueQuantity".into(), rendered);
        }
    }

    Value::Object(resource)
}

/// Whether any of `sent` denotes the catalogue component `id` (or is that code).
fn denotes(sent: &[Coding], id: &str) -> bool {
    sent.iter().any(|coding| {
        let code = coding.code.as_deref().unwrap_or_default();
        let system = coding.system.as_deref().unwrap_or_default();
        code == id || catalogue_component(system, code).is_some_and(|c| c.id() == id)
    })
}

fn catalogue_component(system: &str, code: &str) -> Option<&'static Component> {
    Catalogue::standard()
        .entries()
        .iter()
        .find_map(|entry| entry.component(system, code))
}

/// The canonical quantity, built on the element as sent (so `comparator` and the like
/// survive), carrying the received quantity as an extension.
fn render_quantity(sent: Option<&Value>, canonical: &Quantity, received: &Quantity) -> Value {
    let sent = sent.and_then(Value::as_object);
    let mut element = sent.cloned().unwrap_or_default();

    let (earlier, mut extensions): (Vec<Value>, Vec<Value>) = match element.remove("extension") {
        Some(Value::Array(extensions)) => extensions.into_iter().partition(is_received_extension),
        _ => (Vec::new(), Vec::new()),
    };
    // The quantity as sent: from an earlier rendering's extension, else the element
    // itself, when either holds exactly the received quantity; else built from it.
    let received_json = earlier
        .iter()
        .filter_map(|extension| extension.get("valueQuantity"))
        .find(|quantity| quantity.as_object().is_some_and(|o| is_same(o, received)))
        .cloned()
        .or_else(|| {
            sent.filter(|o| is_same(o, received)).map(|o| {
                let mut o = o.clone();
                o.remove("extension");
                Value::Object(o)
            })
        })
        .unwrap_or_else(|| received.to_json());

    element.insert("value".into(), decimal(canonical.value));
    element.insert("unit".into(), json!(canonical.unit));
    element.insert("system".into(), json!(UCUM));
    element.insert("code".into(), json!(canonical.unit));
    extensions.push(json!({
        "url": RECEIVED_QUANTITY_URL,
        "valueQuantity": received_json,
    }));
    element.insert("extension".into(), Value::Array(extensions));
    Value::Object(element)
}

fn is_received_extension(extension: &Value) -> bool {
    extension.get("url").and_then(Value::as_str) == Some(RECEIVED_QUANTITY_URL)
}

/// Whether a sent quantity element holds exactly `quantity` (same number, same unit code).
fn is_same(element: &Map<String, Value>, quantity: &Quantity) -> bool {
    element.get("value").and_then(Value::as_f64) == Some(quantity.value)
        && element.get("code").and_then(Value::as_str) == Some(quantity.unit.as_str())
}

#[cfg(test)]
mod tests;
