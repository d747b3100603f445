//! Demo data for `pmd up`: a few synthetic patients (valid synthetic national ids) with four
//! weeks of realistic home measurements, sent through the normal write path (REST edge →
//! ingestion → storage) as batch Bundles from two sources. Identifiers and values are
//! deterministic, so a restart adds the new days and answers the rest as already stored.

use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{Days, FixedOffset, NaiveTime, TimeZone, Utc};
use pmd_auth::{DevIssuer, TokenRequest};
use serde_json::{Value, json};

/// A synthetic demo patient.
#[derive(Debug, Clone)]
pub struct DemoPatient {
    /// Synthetic fødselsnummer (month +80).
    pub id: String,
    /// What the patient is followed up for (shown in the demo sign-in).
    pub follow_up: &'static str,
}

/// The demo patients, in a stable order.
pub fn demo_patients() -> Vec<DemoPatient> {
    [
        (11, "hjertesvikt"),
        (23, "KOLS"),
        (37, "diabetes type 2"),
        (41, "hypertensjon"),
        (58, "etter hjerteinfarkt"),
    ]
    .into_iter()
    .map(|(seed, follow_up)| DemoPatient {
        id: pmd_domain::synthetic_fnr(seed),
        follow_up,
    })
    .collect()
}

/// The two demo sources: a hospital's home-monitoring platform and a municipality.
pub fn demo_sources() -> [String; 2] {
    [
        pmd_domain::valid_org_number(101),
        pmd_domain::valid_org_number(202),
    ]
}

const DAYS: u64 = 28;

/// Send the demo data to the edge at `base`. Returns how many measurements were acknowledged.
pub async fn seed(base: &str, issuer: &DevIssuer) -> anyhow::Result<usize> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let [hospital, municipality] = demo_sources();
    let mut acknowledged = 0;
    for (n, patient) in demo_patients().iter().enumerate() {
        // Odd patients are followed by the municipality, even ones by the hospital.
        let source = if n % 2 == 0 { &hospital } else { &municipality };
        let token = issuer.mint(&TokenRequest::system(source.clone()))?;
        let bundle = patient_bundle(n, patient);
        let response = client
            .post(format!("{base}/fhir"))
            .bearer_auth(&token)
            .header("content-type", "application/fhir+json")
            .json(&bundle)
            .send()
            .await
            .context("sending demo data")?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .context("reading the demo batch-response")?;
        if !status.is_success() {
            bail!("demo data refused with {status}: {body}");
        }
        for entry in body["entry"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let status = entry["response"]["status"].as_str().unwrap_or_default();
            if status.starts_with("201") || status.starts_with("200") {
                acknowledged += 1;
            } else {
                bail!("a demo measurement was refused: {entry}");
            }
        }
    }
    Ok(acknowledged)
}

fn patient_bundle(n: usize, patient: &DemoPatient) -> Value {
    let oslo = FixedOffset::east_opt(3600)
        .unwrap_or_else(|| FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!()));
    let today = Utc::now().with_timezone(&oslo).date_naive();
    let mut entries = Vec::new();
    for day in 1..=DAYS {
        let Some(date) = today.checked_sub_days(Days::new(day)) else {
            continue;
        };
        let seed = (n as u64) * 1000 + day;
        let wobble =
            |k: u64, span: f64| ((seed * 7919 + k * 104_729) % 1000) as f64 / 1000.0 * span;
        let at = |hour: u32, minute: u32| {
            let time = NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or_default();
            oslo.from_local_datetime(&date.and_time(time))
                .single()
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        };
        let id = |kind: &str| format!("demo-{}-{date}-{kind}", n + 1);
        let mut add = |kind: &str, observation: Value| {
            entries.push(json!({
                "fullUrl": format!("urn:pmd:demo:{}", id(kind)),
                "resource": observation,
                "request": {"method": "POST", "url": "Observation"},
            }));
        };
        let bp_sys = 128.0 + wobble(1, 22.0) + if n == 3 { 15.0 } else { 0.0 };
        let bp_dia = 76.0 + wobble(2, 12.0);
        add(
            "bp",
            with_id(
                crate::bench::observation(1, &patient.id, &at(7, 45), &id("bp"), 0),
                bp_sys,
                bp_dia,
            ),
        );
        add(
            "hr",
            set_value(
                crate::bench::observation(0, &patient.id, &at(7, 46), &id("hr"), 0),
                62.0 + wobble(3, 25.0),
                0,
            ),
        );
        add(
            "spo2",
            set_value(
                crate::bench::observation(2, &patient.id, &at(7, 50), &id("spo2"), 0),
                (if n == 1 { 89.0 } else { 94.0 }) + wobble(4, 5.0),
                0,
            ),
        );
        if day % 2 == 0 {
            add(
                "temp",
                set_value(
                    crate::bench::observation(3, &patient.id, &at(20, 5), &id("temp"), 0),
                    36.4 + wobble(5, 1.2),
                    1,
                ),
            );
        }
        if day % 7 == 0 || n == 0 {
            add(
                "weight",
                set_value(
                    crate::bench::observation(4, &patient.id, &at(7, 30), &id("weight"), 0),
                    82.0 - (n as f64) * 6.0 + wobble(6, 2.5),
                    1,
                ),
            );
        }
        if n == 2 {
            add(
                "glucose",
                glucose(
                    &patient.id,
                    &at(8, 15),
                    &id("glucose"),
                    5.8 + wobble(7, 4.0),
                ),
            );
        }
    }
    json!({"resourceType": "Bundle", "type": "batch", "entry": entries})
}

fn round(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

fn set_value(mut observation: Value, value: f64, decimals: i32) -> Value {
    observation["valueQuantity"]["value"] = json!(round(value, decimals));
    observation
}

fn with_id(mut observation: Value, systolic: f64, diastolic: f64) -> Value {
    observation["component"][0]["valueQuantity"]["value"] = json!(round(systolic, 0));
    observation["component"][1]["valueQuantity"]["value"] = json!(round(diastolic, 0));
    observation
}

fn glucose(patient: &str, effective: &str, identifier: &str, value: f64) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "15074-8", "display": "Glucose [Moles/volume] in Blood"}]},
        "subject": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": patient}},
        "identifier": [{"system": "urn:pmd:synthetic", "value": identifier}],
        "effectiveDateTime": effective,
        "valueQuantity": {"value": round(value, 1), "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_patients_have_valid_synthetic_ids() {
        let policy = pmd_domain::IdPolicy::embedded();
        for patient in demo_patients() {
            let id = pmd_domain::NationalId::parse(&patient.id, &policy);
            assert!(id.is_ok_and(|id| id.is_synthetic()));
        }
        assert!(
            pmd_domain::NationalId::parse(&demo_patients()[0].id, &pmd_domain::IdPolicy::default())
                .is_err()
        );
    }

    #[test]
    fn demo_bundles_are_deterministic() {
        let patient = &demo_patients()[0];
        let a = patient_bundle(0, patient);
        let b = patient_bundle(0, patient);
        assert_eq!(a, b);
        assert!(a["entry"].as_array().is_some_and(|e| e.len() >= 28 * 3));
    }
}
