//! `Observation.value[x]` and `Observation.component`: the value, converted to the
//! catalogue's canonical unit and checked against its plausible range.

use pmd_domain::catalogue::ids;
use pmd_domain::{
    Component, Entry, EntryKind, PlausibilityError, QuantitySpec, ScoreValueKind, UnitError,
    check_blood_pressure,
};
use pmd_error::Issue;
use pmd_fhir::UCUM;
use serde_json::{Map, Value};

use super::code::system_name;
use super::{ComponentOut, Context, Quantity, ValueOut, echo, echo_number, present};

/// The value and the panel components.
type Checked = (ValueOut, Vec<ComponentOut>);

pub(super) fn check(
    observation: &Map<String, Value>,
    entry: &Entry,
    ctx: &Context,
    issues: &mut Vec<Issue>,
) -> Option<Checked> {
    let measurement = entry.display_en().to_lowercase();
    match entry.kind() {
        EntryKind::Quantity(spec) => {
            if present(observation, "valueQuantity").is_none() {
                issues.push(missing_value(
                    observation,
                    "valueQuantity",
                    &measurement,
                    ctx,
                ));
                return None;
            }
            let (canonical, received) = quantity(
                present(observation, "valueQuantity"),
                spec,
                &ctx.at("valueQuantity"),
                issues,
            )?;
            Some((
                ValueOut::Quantity {
                    canonical,
                    received,
                },
                Vec::new(),
            ))
        }
        EntryKind::Score(ScoreValueKind::Integer) => {
            integer_score(observation, &measurement, ctx, issues)
                .map(|n| (ValueOut::Integer(n), Vec::new()))
        }
        EntryKind::Score(ScoreValueKind::Coded) => {
            coded_score(observation, &measurement, ctx, issues)
                .map(|c| (ValueOut::Coded(c), Vec::new()))
        }
        EntryKind::Panel(components) => panel(observation, entry, components, ctx, issues),
    }
}

/// The `value[x]` elements present, e.g. `["valueString"]`.
fn value_keys(observation: &Map<String, Value>) -> Vec<&str> {
    observation
        .iter()
        .filter(|(key, value)| {
            key.strip_prefix("value")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
                && !value.is_null()
        })
        .map(|(key, _)| key.as_str())
        .collect()
}

/// `required` for a missing value, naming a `value[x]` of the wrong type when one came.
fn missing_value(
    observation: &Map<String, Value>,
    wanted: &str,
    measurement: &str,
    ctx: &Context,
) -> Issue {
    let others = value_keys(observation);
    let mut diagnostics = format!("{wanted} is required for {measurement}");
    if !others.is_empty() {
        diagnostics.push_str(&format!("; {} is not accepted", others.join(", ")));
    }
    Issue::error("required", diagnostics).at(ctx.at(wanted))
}

/// A `Quantity` element at `path`, converted and range-checked against `spec`:
/// (canonical, as received).
fn quantity(
    element: Option<&Value>,
    spec: &QuantitySpec,
    path: &str,
    issues: &mut Vec<Issue>,
) -> Option<(Quantity, Quantity)> {
    let measurement = spec.measurement();
    let accepted = accepted_units(spec);
    let Some(element) = element else {
        issues.push(
            Issue::error(
                "required",
                format!("valueQuantity is required for {measurement} (units: {accepted})"),
            )
            .at(path),
        );
        return None;
    };
    let Some(element) = element.as_object() else {
        issues.push(Issue::error("invalid", "valueQuantity must be a json object").at(path));
        return None;
    };

    let value = match present(element, "value") {
        None => {
            issues.push(
                Issue::error(
                    "required",
                    format!("valueQuantity.value is required for {measurement}"),
                )
                .at(format!("{path}.value")),
            );
            None
        }
        Some(Value::Number(number)) => number.as_f64(),
        Some(_) => {
            issues.push(
                Issue::error("invalid", "valueQuantity.value must be a json number")
                    .at(format!("{path}.value")),
            );
            None
        }
    };

    if let Some(system) = present(element, "system")
        && system.as_str() != Some(UCUM)
    {
        issues.push(
            Issue::error(
                "not-supported",
                format!("valueQuantity.system must be {UCUM} (ucum)"),
            )
            .at(format!("{path}.system")),
        );
    }

    let code_path = format!("{path}.code");
    let unit = match present(element, "code") {
        None => {
            issues.push(
                Issue::error(
                    "required",
                    format!(
                        "valueQuantity.code is required: the ucum unit of {measurement} ({accepted})"
                    ),
                )
                .at(code_path.clone()),
            );
            None
        }
        Some(Value::String(code)) => Some(code.as_str()),
        Some(_) => {
            issues.push(
                Issue::error("invalid", "valueQuantity.code must be a string")
                    .at(code_path.clone()),
            );
            None
        }
    };

    let (value, unit) = (value?, unit?);
    let canonical = match spec.convert(value, unit) {
        Ok(canonical) => canonical,
        Err(error) => {
            let (code, diagnostics) = unit_problem(&error, unit, measurement, &accepted);
            issues.push(Issue::error(code, diagnostics).at(code_path));
            return None;
        }
    };
    if let Err(error) = spec.check_plausible(canonical.value) {
        let mut diagnostics = range_problem(&error, measurement);
        if canonical.unit != unit
            && let (Some(sent), Some(unit)) = (echo_number(value), echo(unit))
        {
            diagnostics.push_str(&format!(" (converted from {sent} {unit})"));
        }
        issues.push(Issue::error("value", diagnostics).at(format!("{path}.value")));
        return None;
    }
    Some((canonical.into(), Quantity::new(value, unit)))
}

fn accepted_units(spec: &QuantitySpec) -> String {
    let codes: Vec<&str> = spec.accepted_units().iter().map(|unit| unit.code).collect();
    codes.join(", ")
}

/// Issue type and message for a unit that cannot be used. Our own wording rather than
/// the error's `Display`, which echoes the unit whatever it holds.
fn unit_problem(
    error: &UnitError,
    unit: &str,
    measurement: &str,
    accepted: &str,
) -> (&'static str, String) {
    let shown = echo(unit)
        .map(|unit| format!("unit {unit}"))
        .unwrap_or_else(|| "the unit".to_owned());
    match error {
        UnitError::MissingUnit { .. } => (
            "required",
            format!("valueQuantity.code is required: the ucum unit of {measurement} ({accepted})"),
        ),
        UnitError::NotFinite => (
            "invalid",
            "valueQuantity.value must be a finite number".to_owned(),
        ),
        UnitError::Incompatible { .. } => (
            "not-supported",
            format!("{shown} is not accepted for {measurement} (accepted: {accepted})"),
        ),
        UnitError::Unknown { .. } => (
            "not-supported",
            format!(
                "{shown} is not a ucum code accepted for {measurement} (accepted: {accepted}; ucum codes are case-sensitive)"
            ),
        ),
    }
}

fn range_problem(error: &PlausibilityError, measurement: &str) -> String {
    match error {
        PlausibilityError::OutOfRange {
            value,
            unit,
            min,
            max,
            ..
        } => match echo_number(*value) {
            Some(value) => format!(
                "{measurement} {value} {unit} is outside the plausible range {min}–{max} {unit}"
            ),
            None => format!("{measurement} is outside the plausible range {min}–{max} {unit}"),
        },
        other => format!("{measurement}: {other}"),
    }
}

/// NEWS2 total, Clinical Frailty Scale: `valueInteger`, or a `valueQuantity` whose value
/// is whole. Kept as sent: no range, no interpretation.
fn integer_score(
    observation: &Map<String, Value>,
    measurement: &str,
    ctx: &Context,
    issues: &mut Vec<Issue>,
) -> Option<i64> {
    if let Some(value) = present(observation, "valueInteger") {
        return match value.as_i64() {
            Some(n) => Some(n),
            None => {
                issues.push(
                    Issue::error("invalid", "valueInteger must be a whole json number")
                        .at(ctx.at("valueInteger")),
                );
                None
            }
        };
    }
    if let Some(quantity) = present(observation, "valueQuantity") {
        let path = ctx.at("valueQuantity.value");
        let Some(quantity) = quantity.as_object() else {
            issues.push(
                Issue::error("invalid", "valueQuantity must be a json object")
                    .at(ctx.at("valueQuantity")),
            );
            return None;
        };
        return match present(quantity, "value") {
            None => {
                issues.push(
                    Issue::error(
                        "required",
                        format!("valueQuantity.value is required for {measurement}"),
                    )
                    .at(path),
                );
                None
            }
            Some(value) => match whole(value) {
                Some(n) => Some(n),
                None => {
                    issues.push(
                        Issue::error("invalid", format!("{measurement} must be a whole number"))
                            .at(path),
                    );
                    None
                }
            },
        };
    }
    issues.push(missing_value(observation, "valueInteger", measurement, ctx));
    None
}

/// A JSON number with no fractional part (`5` or `5.0`), within `i64`'s exact range.
fn whole(value: &Value) -> Option<i64> {
    if let Some(n) = value.as_i64() {
        return Some(n);
    }
    let x = value.as_f64()?;
    (x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0).then_some(x as i64)
}

/// ACVPU: `valueCodeableConcept`, its first coding kept.
fn coded_score(
    observation: &Map<String, Value>,
    measurement: &str,
    ctx: &Context,
    issues: &mut Vec<Issue>,
) -> Option<pmd_fhir::Coding> {
    let path = ctx.at("valueCodeableConcept");
    let Some(concept) = present(observation, "valueCodeableConcept") else {
        issues.push(missing_value(
            observation,
            "valueCodeableConcept",
            measurement,
            ctx,
        ));
        return None;
    };
    let Some(concept) = concept.as_object() else {
        issues.push(Issue::error("invalid", "valueCodeableConcept must be a json object").at(path));
        return None;
    };
    let coding_path = format!("{path}.coding");
    let first = match present(concept, "coding") {
        Some(Value::Array(items)) if !items.is_empty() => &items[0],
        Some(Value::Array(_)) | None => {
            issues.push(
                Issue::error(
                    "required",
                    format!("valueCodeableConcept.coding is required for {measurement}"),
                )
                .at(coding_path),
            );
            return None;
        }
        Some(_) => {
            issues.push(
                Issue::error("invalid", "valueCodeableConcept.coding must be an array")
                    .at(coding_path),
            );
            return None;
        }
    };
    let Some(coding) = pmd_fhir::Coding::from_json(first) else {
        issues.push(
            Issue::error(
                "invalid",
                "valueCodeableConcept.coding[0] must be a json object",
            )
            .at(format!("{coding_path}[0]")),
        );
        return None;
    };
    if coding.code.as_deref().is_none_or(str::is_empty) {
        issues.push(
            Issue::error(
                "required",
                "valueCodeableConcept.coding[0].code is required",
            )
            .at(format!("{coding_path}[0].code")),
        );
        return None;
    }
    Some(coding)
}

/// A panel: no value of its own, every catalogue component present once with a valid
/// quantity; for blood pressure, diastolic below systolic.
fn panel(
    observation: &Map<String, Value>,
    entry: &Entry,
    wanted: &'static [Component],
    ctx: &Context,
    issues: &mut Vec<Issue>,
) -> Option<Checked> {
    let measurement = entry.display_en().to_lowercase();
    let before = issues.len();
    for key in value_keys(observation) {
        issues.push(
            Issue::error(
                "invalid",
                format!(
                    "the {measurement} panel has no value of its own; send {} as components",
                    names(wanted)
                ),
            )
            .at(ctx.at(key)),
        );
    }

    let path = ctx.at("component");
    let items = match present(observation, "component") {
        None => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => {
            issues.push(Issue::error("invalid", "component must be an array").at(path));
            return None;
        }
    };

    // For each wanted component: seen at all, and its value when valid.
    let mut found: Vec<(bool, Option<ComponentOut>)> = vec![(false, None); wanted.len()];
    for (index, item) in items.iter().enumerate() {
        let codings = item.get("code").map(pmd_fhir::codings).unwrap_or_default();
        let which = wanted.iter().position(|component| {
            codings.iter().any(|coding| {
                component.has_code(
                    coding.system.as_deref().unwrap_or_default(),
                    coding.code.as_deref().unwrap_or_default(),
                )
            })
        });
        // Components the catalogue does not name are kept in the resource, unchecked.
        let Some(which) = which else { continue };
        let component = &wanted[which];
        let item_path = format!("{path}[{index}]");
        if found[which].0 {
            issues.push(
                Issue::error(
                    "invalid",
                    format!("{} is given twice", component.display_en().to_lowercase()),
                )
                .at(item_path),
            );
            continue;
        }
        found[which].0 = true;
        let checked = quantity(
            item.get("valueQuantity").filter(|v| !v.is_null()),
            component.quantity(),
            &format!("{item_path}.valueQuantity"),
            issues,
        );
        found[which].1 = checked.map(|(canonical, received)| ComponentOut {
            code: component.id(),
            codings,
            canonical,
            received,
        });
    }
    for (component, (seen, _)) in wanted.iter().zip(&found) {
        if !seen {
            issues.push(
                Issue::error(
                    "required",
                    format!(
                        "the {measurement} panel needs a {} component ({})",
                        component.display_en().to_lowercase(),
                        codes(component)
                    ),
                )
                .at(path.clone()),
            );
        }
    }

    let components: Vec<ComponentOut> = found.into_iter().filter_map(|(_, out)| out).collect();
    if components.len() != wanted.len() || issues.len() != before {
        return None;
    }
    if entry.id() == ids::BLOOD_PRESSURE {
        let value_of = |id: &str| {
            components
                .iter()
                .find(|component| component.code == id)
                .map(|component| component.canonical.value)
        };
        if let (Some(systolic), Some(diastolic)) =
            (value_of(ids::SYSTOLIC), value_of(ids::DIASTOLIC))
            && let Err(error) = check_blood_pressure(systolic, diastolic)
        {
            issues.push(Issue::error("value", error.to_string()).at(path));
            return None;
        }
    }
    Some((ValueOut::Panel, components))
}

/// `systolic blood pressure and diastolic blood pressure`.
fn names(components: &[Component]) -> String {
    let names: Vec<String> = components
        .iter()
        .map(|component| component.display_en().to_lowercase())
        .collect();
    names.join(" and ")
}

/// `LOINC 8480-6 or SNOMED CT 271649006`.
fn codes(component: &Component) -> String {
    let codes: Vec<String> = component
        .codings()
        .iter()
        .map(|coding| format!("{} {}", system_name(coding.system), coding.code))
        .collect();
    codes.join(" or ")
}
