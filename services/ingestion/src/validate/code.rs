//! `Observation.code`: which catalogue measurement this is.

use pmd_domain::catalogue::{LOINC, NPU, SNOMED_CT};
use pmd_domain::{Catalogue, Entry};
use pmd_error::Issue;
use serde_json::{Map, Value};

use super::{CodingOut, Context, present};

pub(super) fn check(
    observation: &Map<String, Value>,
    ctx: &Context,
    issues: &mut Vec<Issue>,
) -> Option<(&'static Entry, Vec<CodingOut>)> {
    let catalogue = Catalogue::standard();
    let path = ctx.at("code");
    let Some(concept) = present(observation, "code") else {
        issues.push(
            Issue::error(
                "required",
                format!("code is required; {}", catalogue.supported_codes_text()),
            )
            .at(path),
        );
        return None;
    };
    let Some(code) = concept.as_object() else {
        issues.push(
            Issue::error("invalid", "code must be a codeableconcept (a json object)").at(path),
        );
        return None;
    };
    let coding_path = ctx.at("code.coding");
    match present(code, "coding") {
        Some(Value::Array(items)) if !items.is_empty() => {}
        Some(Value::Array(_)) | None => {
            issues.push(
                Issue::error(
                    "required",
                    format!(
                        "code.coding is required, with a supported code; {}",
                        catalogue.supported_codes_text()
                    ),
                )
                .at(coding_path),
            );
            return None;
        }
        Some(_) => {
            issues.push(Issue::error("invalid", "code.coding must be an array").at(coding_path));
            return None;
        }
    }
    let codings = pmd_fhir::codings(concept);

    let mut entries: Vec<&'static Entry> = Vec::new();
    for coding in &codings {
        if let (Some(system), Some(code)) = (&coding.system, &coding.code)
            && let Some(entry) = catalogue.lookup(system, code)
            && !entries.iter().any(|known| known.id() == entry.id())
        {
            entries.push(entry);
        }
    }
    match entries.as_slice() {
        [entry] => Some((entry, codings)),
        [] => {
            issues.push(Issue::error("not-supported", unsupported(&codings, catalogue)).at(path));
            None
        }
        several => {
            let names: Vec<String> = several
                .iter()
                .map(|entry| entry.display_en().to_lowercase())
                .collect();
            issues.push(
                Issue::error(
                    "invalid",
                    format!(
                        "the codings name different measurements ({}); send one measurement per observation",
                        names.join(", ")
                    ),
                )
                .at(coding_path),
            );
            None
        }
    }
}

/// Why none of the codings is accepted: a refusal reason for a known code, a hint for a
/// supported code sent with the wrong system, else the list of supported codes.
fn unsupported(codings: &[CodingOut], catalogue: &Catalogue) -> String {
    let refusal = codings.iter().find_map(|coding| {
        catalogue.refusal_reason(coding.system.as_deref()?, coding.code.as_deref()?)
    });
    if let Some(reason) = refusal {
        return reason.to_owned();
    }
    let misplaced = codings.iter().find_map(|coding| {
        let code = coding.code.as_deref()?;
        let entry = catalogue.lookup_code(code)?;
        let known = entry.codings().iter().find(|known| known.code == code)?;
        Some(format!(
            "code {code} ({}) belongs to the code system {}; {}",
            entry.display_en().to_lowercase(),
            known.system,
            catalogue.supported_codes_text()
        ))
    });
    misplaced.unwrap_or_else(|| {
        format!(
            "code is not a supported measurement; {}",
            catalogue.supported_codes_text()
        )
    })
}

/// Short name of a code system for messages.
pub(super) fn system_name(system: &str) -> &str {
    match system {
        LOINC => "LOINC",
        SNOMED_CT => "SNOMED CT",
        NPU => "NPU",
        other => other,
    }
}
