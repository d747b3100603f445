//! Pure FHIR R4 JSON helpers shared by the edge, ingestion and storage: no I/O, no clocks.
//!
//! - [`render_observation`]: a stored Observation as the API returns it (server id and
//!   meta, the value in the catalogue's canonical unit, the quantity as received kept in
//!   an extension);
//! - [`observation`]: the same from a stored measurement message, as storage renders it once
//!   when it stores the measurement;
//! - [`batch_response`], [`transaction_response`] and [`searchset`] (and [`searchset_json`], which splices
//!   stored resources in as they are): response Bundles;
//! - [`parse_bundle`] and [`IncomingEntry::check`]: an incoming `batch`/`transaction`
//!   Bundle taken apart, with every problem reported as an [`Issue`](pmd_error::Issue)
//!   naming the element by FHIRPath;
//! - [`parse_identifier_query`]: `identifier=<system>|<value>` from a conditional request.
//!
//! Nothing here fails on odd input: what cannot be matched is left as it was.

mod bundle;
mod incoming;
mod json;
mod render;
mod stored;

pub use bundle::{
    RawResource, ResponseEntry, batch_response, searchset, searchset_json, transaction_response,
    weak_etag,
};
pub use incoming::{
    BundleKind, IncomingBundle, IncomingEntry, parse_bundle, parse_identifier_query,
};
pub use json::{Coding, Quantity, codings, decimal, instant};
pub use render::{RenderComponent, RenderInput, render_observation, render_observation_owned};
pub use stored::{observation, observation_json};

/// The canonical base of the definitions this service publishes.
pub const CANONICAL_BASE: &str = "https://pmd.nhn.no/fhir";

/// Extension on a `valueQuantity` holding the quantity exactly as the source sent it, when
/// the element itself carries the value converted to the catalogue's canonical unit.
pub const RECEIVED_QUANTITY_URL: &str =
    "https://pmd.nhn.no/fhir/StructureDefinition/received-quantity";

/// UCUM's code system URI, the `system` of every quantity we send.
pub const UCUM: &str = "http://unitsofmeasure.org";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_quantity_url_lives_under_the_canonical_base() {
        assert_eq!(
            RECEIVED_QUANTITY_URL,
            format!("{CANONICAL_BASE}/StructureDefinition/received-quantity")
        );
    }
}
