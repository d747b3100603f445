//! `Observation.effective[x]` and `Observation.status`.

use chrono::TimeDelta;
use pmd_domain::FhirDateTime;
use pmd_error::Issue;
use serde_json::{Map, Value};

use super::{Context, ObservationStatus, echo, present};

/// How far after the server's clock an effective time may lie (clock skew on devices).
pub const MAX_FUTURE_SKEW: TimeDelta = TimeDelta::minutes(5);

/// The `effective[x]` forms we read, and where their date/time sits.
const FORMS: [(&str, &str); 3] = [
    ("effectiveDateTime", "effectiveDateTime"),
    ("effectivePeriod", "effectivePeriod.start"),
    ("effectiveInstant", "effectiveInstant"),
];

pub(super) fn check_effective(
    observation: &Map<String, Value>,
    ctx: &Context,
    issues: &mut Vec<Issue>,
) -> Option<FhirDateTime> {
    let given: Vec<&str> = observation
        .iter()
        .filter(|(key, value)| key.starts_with("effective") && !value.is_null())
        .map(|(key, _)| key.as_str())
        .collect();
    let readable: Vec<(&str, &str)> = FORMS
        .into_iter()
        .filter(|(key, _)| given.contains(key))
        .collect();
    let (key, element) = match readable.as_slice() {
        [one] => *one,
        [] => {
            let mut diagnostics =
                "effectiveDateTime (or effectivePeriod.start) is required".to_owned();
            if let Some(other) = given.first() {
                diagnostics.push_str(&format!("; {other} is not accepted"));
            }
            issues.push(Issue::error("required", diagnostics).at(ctx.at("effective[x]")));
            return None;
        }
        _ => {
            issues.push(
                Issue::error("invalid", "give only one effective[x]").at(ctx.at("effective[x]")),
            );
            return None;
        }
    };

    let path = ctx.at(element);
    let text = match present(observation, key) {
        Some(Value::String(text)) if key != "effectivePeriod" => Some(text.as_str()),
        Some(Value::Object(period)) if key == "effectivePeriod" => match present(period, "start") {
            Some(Value::String(text)) => Some(text.as_str()),
            Some(_) => {
                issues.push(
                    Issue::error("invalid", "effectivePeriod.start must be a string").at(path),
                );
                return None;
            }
            None => {
                issues.push(Issue::error("required", "effectivePeriod.start is required").at(path));
                return None;
            }
        },
        _ => None,
    };
    let Some(text) = text else {
        let what = if key == "effectivePeriod" {
            "a json object"
        } else {
            "a string"
        };
        issues.push(Issue::error("invalid", format!("{key} must be {what}")).at(ctx.at(key)));
        return None;
    };
    let parsed = if key == "effectiveInstant" {
        FhirDateTime::parse_instant(text)
    } else {
        FhirDateTime::parse(text)
    };
    let effective = match parsed {
        Ok(effective) => effective,
        Err(error) => {
            issues.push(Issue::error("invalid", format!("{element}: {error}")).at(path));
            return None;
        }
    };
    if effective.start_utc() > ctx.now + MAX_FUTURE_SKEW {
        issues.push(
            Issue::error(
                "value",
                format!(
                    "{element} is in the future: more than {} minutes after the server's time",
                    MAX_FUTURE_SKEW.num_minutes()
                ),
            )
            .at(path),
        );
        return None;
    }
    Some(effective)
}

pub(super) fn check_status(
    observation: &Map<String, Value>,
    ctx: &Context,
    issues: &mut Vec<Issue>,
) -> Option<ObservationStatus> {
    let accepted: Vec<&str> = ObservationStatus::ALL
        .iter()
        .map(|status| status.as_str())
        .collect();
    let accepted = accepted.join(", ");
    let path = ctx.at("status");
    match present(observation, "status") {
        None => {
            issues.push(
                Issue::error("required", format!("status is required: one of {accepted}")).at(path),
            );
            None
        }
        Some(Value::String(code)) => {
            let status = ObservationStatus::parse(code);
            if status.is_none() {
                let shown = echo(code)
                    .map(|code| format!("status {code}"))
                    .unwrap_or_else(|| "status".to_owned());
                issues.push(
                    Issue::error(
                        "value",
                        format!("{shown} is not accepted: use one of {accepted}"),
                    )
                    .at(path),
                );
            }
            status
        }
        Some(_) => {
            issues.push(
                Issue::error(
                    "value",
                    format!("status must be a string: one of {accepted}"),
                )
                .at(path),
            );
            None
        }
    }
}
