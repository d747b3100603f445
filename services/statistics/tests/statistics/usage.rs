//! Usage and adoption through the edge's JSON API: small cells hidden (and the cells that
//! would give them away), fixed calendar buckets, the organisation register's denominators.

use std::collections::BTreeMap;

use pmd_auth::TokenRequest;
use pmd_proto::audit::v1::Outcome;
use pmd_testkit::{Backend, TestMesh, spawn_mesh, spawn_mesh_on};
use serde_json::Value;

use crate::common::*;

async fn api(mesh: &TestMesh, path: &str) -> Value {
    let token = mesh.token(&TokenRequest::statistics());
    let response = mesh
        .http
        .get(mesh.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// The cell of `metric` for `period` (and group values), as (count, suppressed).
fn cell(answer: &Value, metric: &str, period: &str, group: &[(&str, &str)]) -> (Value, bool) {
    let row = answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["metric"] == metric
                && r["period"] == period
                && r["group"].as_object().unwrap().len() == group.len()
                && group.iter().all(|(k, v)| r["group"][*k] == *v)
        })
        .unwrap_or_else(|| panic!("no {metric} {period} {group:?} in {answer}"));
    (row["count"].clone(), row["suppressed"].as_bool().unwrap())
}

fn shown(n: i64) -> (Value, bool) {
    (Value::from(n), false)
}

fn hidden() -> (Value, bool) {
    (Value::Null, true)
}

/// Every published row: no count from 1 to 4, and (when the period's total is shown) no
/// period with exactly one hidden group.
fn assert_protected(answer: &Value, totals: &Value) {
    let mut hidden_per_period: BTreeMap<(String, String), usize> = BTreeMap::new();
    for row in answer["rows"].as_array().unwrap() {
        if let Some(n) = row["count"].as_i64() {
            assert!(!(1..=4).contains(&n), "small count shown: {row}");
            assert_eq!(row["suppressed"], false);
        } else {
            assert_eq!(row["suppressed"], true, "{row}");
        }
        let key = (
            row["metric"].as_str().unwrap().to_owned(),
            row["period"].as_str().unwrap().to_owned(),
        );
        *hidden_per_period.entry(key).or_insert(0) += usize::from(row["count"].is_null());
    }
    for ((metric, period), n) in hidden_per_period {
        let total_shown = totals["rows"].as_array().unwrap().iter().any(|r| {
            r["metric"] == metric.as_str()
                && r["period"] == period.as_str()
                && !r["count"].is_null()
        });
        if total_shown {
            assert_ne!(
                n, 1,
                "{metric} {period}: one hidden group next to a shown total"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_count_from_1_to_4_is_suppressed_and_so_is_the_cell_that_would_reveal_it() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let patient = pmd_domain::synthetic_fnr(7);
    let mut events = Vec::new();
    // March 2025: 1, 2, 3, 4 and 5 searches by Oslo kommune on Monday 3 to Friday 7.
    for (day, n) in [
        ("2025-03-03", 1),
        ("2025-03-04", 2),
        ("2025-03-05", 3),
        ("2025-03-06", 4),
        ("2025-03-07", 5),
    ] {
        for i in 0..n {
            events.push(search(
                OSLO_KOMMUNE,
                &patient,
                Outcome::Success,
                at(day, 8 + i),
            ));
        }
    }
    // April 2025, Monday 14: 3 searches by Oslo kommune and 40 by OUS.
    for i in 0..43 {
        let org = if i < 3 { OSLO_KOMMUNE } else { OUS };
        events.push(search(
            org,
            &patient,
            Outcome::Success,
            at("2025-04-14", i % 24),
        ));
    }
    record(&mesh, events).await.unwrap();
    settle(&mesh).await.unwrap();

    let march = api(&mesh, "/api/statistics/usage?from=2025-03-01&to=2025-03-31").await;
    assert_eq!(march["from"], "2025-03-01");
    assert_eq!(march["granularity"], "day");
    for day in ["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06"] {
        assert_eq!(cell(&march, "searches", day, &[]), hidden(), "{day}");
    }
    assert_eq!(cell(&march, "searches", "2025-03-07", &[]), shown(5));
    assert_eq!(
        cell(&march, "searches", "2025-03-08", &[]),
        shown(0),
        "0 is shown as 0"
    );
    // The same cells, asked for in a narrower window, are decided the same way.
    let narrow = api(&mesh, "/api/statistics/usage?from=2025-03-06&to=2025-03-07").await;
    assert_eq!(cell(&narrow, "searches", "2025-03-06", &[]), hidden());
    assert_eq!(cell(&narrow, "searches", "2025-03-07", &[]), shown(5));
    let month = api(
        &mesh,
        "/api/statistics/usage?from=2025-03-01&to=2025-04-30&granularity=month",
    )
    .await;
    assert_eq!(cell(&month, "searches", "2025-03-01", &[]), shown(15));
    assert_eq!(cell(&month, "searches", "2025-04-01", &[]), shown(43));

    // Grouped by kind of organisation: the municipality's 3 is hidden, and since the day's
    // total (43) is published, OUS's 40 would give it away: hidden too.
    let april = api(&mesh, "/api/statistics/usage?from=2025-04-01&to=2025-04-30").await;
    assert_eq!(cell(&april, "searches", "2025-04-14", &[]), shown(43));
    let grouped = api(
        &mesh,
        "/api/statistics/usage?from=2025-04-01&to=2025-04-30&group_by=org_type",
    )
    .await;
    assert_eq!(
        cell(
            &grouped,
            "searches",
            "2025-04-14",
            &[("org_type", "municipality")]
        ),
        hidden()
    );
    assert_eq!(
        cell(
            &grouped,
            "searches",
            "2025-04-14",
            &[("org_type", "hospital_trust")]
        ),
        hidden()
    );
    assert_protected(&grouped, &april);
    let by_purpose = api(
        &mesh,
        "/api/statistics/usage?from=2025-04-01&to=2025-04-30&group_by=org_type,purpose",
    )
    .await;
    assert_eq!(
        cell(
            &by_purpose,
            "searches",
            "2025-04-14",
            &[("org_type", "hospital_trust"), ("purpose", "TREAT")]
        ),
        hidden()
    );
    assert_protected(&by_purpose, &april);
    // Distinct patients: one patient had data… nobody here; one citizen: none. The single
    // patient searched for never appears as a number.
    assert_protected(&march, &march);
    mesh.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn periods_are_iso_weeks_and_calendar_months_across_the_new_year() {
    let mesh = spawn_mesh().await.unwrap();
    let patient = pmd_domain::synthetic_fnr(8);
    // Sunday 2025-12-28 is in 2025-W52; Monday 2025-12-29 to Sunday 2026-01-04 is 2026-W01;
    // Monday 2026-01-05 starts 2026-W02.
    let events = vec![
        write(OSLO_KOMMUNE, &patient, "8867-4", 10, at("2025-12-28", 23)),
        write(OSLO_KOMMUNE, &patient, "8867-4", 20, at("2025-12-29", 0)),
        write(OSLO_KOMMUNE, &patient, "8867-4", 30, at("2026-01-04", 23)),
        write(OSLO_KOMMUNE, &patient, "8867-4", 40, at("2026-01-05", 0)),
    ];
    record(&mesh, events).await.unwrap();
    settle(&mesh).await.unwrap();

    let weeks = api(
        &mesh,
        "/api/statistics/usage?from=2025-12-24&to=2026-01-06&granularity=week",
    )
    .await;
    assert_eq!(weeks["from"], "2025-12-22", "widened to the Monday");
    assert_eq!(weeks["to"], "2026-01-11", "widened to the Sunday");
    assert_eq!(weeks["granularity"], "week");
    assert_eq!(
        cell(&weeks, "measurements_received", "2025-12-22", &[]),
        shown(10)
    );
    assert_eq!(
        cell(&weeks, "measurements_received", "2025-12-29", &[]),
        shown(50)
    );
    assert_eq!(
        cell(&weeks, "measurements_received", "2026-01-05", &[]),
        shown(40)
    );
    let periods: Vec<&str> = weeks["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["metric"] == "measurements_received")
        .map(|r| r["period"].as_str().unwrap())
        .collect();
    assert_eq!(periods, ["2025-12-22", "2025-12-29", "2026-01-05"]);

    let months = api(
        &mesh,
        "/api/statistics/usage?from=2025-12-24&to=2026-01-06&granularity=month",
    )
    .await;
    assert_eq!(months["from"], "2025-12-01");
    assert_eq!(months["to"], "2026-01-31");
    assert_eq!(
        cell(&months, "measurements_received", "2025-12-01", &[]),
        shown(30)
    );
    assert_eq!(
        cell(&months, "measurements_received", "2026-01-01", &[]),
        shown(70)
    );

    let days = api(&mesh, "/api/statistics/usage?from=2025-12-28&to=2026-01-05").await;
    assert_eq!(
        cell(&days, "measurements_received", "2025-12-28", &[]),
        shown(10)
    );
    assert_eq!(
        cell(&days, "measurements_received", "2026-01-01", &[]),
        shown(0)
    );
    // Grouped by code and by region the buckets are the same.
    let by_code = api(
        &mesh,
        "/api/statistics/usage?from=2025-12-24&to=2026-01-06&granularity=week&group_by=code",
    )
    .await;
    assert_eq!(
        cell(
            &by_code,
            "measurements_received",
            "2025-12-29",
            &[("code", "8867-4")]
        ),
        shown(50)
    );
    let by_region = api(
        &mesh,
        "/api/statistics/usage?from=2025-12-24&to=2026-01-06&granularity=week&group_by=region,municipality",
    )
    .await;
    assert_eq!(
        cell(
            &by_region,
            "measurements_received",
            "2026-01-05",
            &[("region", "helse_sor_ost"), ("municipality", "0301")]
        ),
        shown(40)
    );
    mesh.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adoption_counts_sources_and_consumers_against_the_register() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let register = pmd_orgs::Register::embedded();
    let municipalities: Vec<String> = register
        .iter()
        .filter(|o| o.org_type == pmd_orgs::OrgType::Municipality)
        .map(|o| o.orgnr.clone())
        .collect();
    let patients: Vec<String> = (0..12)
        .map(|i| pmd_domain::synthetic_fnr(100 + i))
        .collect();
    let mut events = Vec::new();
    // Seven municipalities send data for 12 patients; three hospital trusts search.
    for (i, patient) in patients.iter().enumerate() {
        events.push(write(
            &municipalities[i % 7],
            patient,
            "8867-4",
            2,
            at("2026-02-10", 9),
        ));
    }
    for (i, org) in [OUS, HELSE_BERGEN, "100100207"].iter().enumerate() {
        events.push(search(
            org,
            &patients[i],
            Outcome::Success,
            at("2026-02-11", 9),
        ));
    }
    // Ten of the 12 citizens look at their own data, and one who has no data.
    for patient in &patients[..10] {
        events.push(citizen_read(patient, at("2026-02-12", 9)));
    }
    events.push(citizen_read(
        &pmd_domain::synthetic_fnr(999),
        at("2026-02-12", 9),
    ));
    record(&mesh, events).await.unwrap();
    settle(&mesh).await.unwrap();

    let answer = api(&mesh, "/api/statistics/adoption?period=2026-02").await;
    assert_eq!(answer["from"], "2026-02-01");
    assert_eq!(answer["to"], "2026-02-28");
    let indicator = |id: &str| {
        answer["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {answer}"))
    };
    let sources = indicator("municipalities_as_sources");
    assert_eq!(sources["role"], "source");
    assert_eq!(sources["numerator"]["count"], 7);
    assert_eq!(sources["denominator"]["count"], municipalities.len());
    let share = sources["share"].as_f64().unwrap();
    assert!((share - 7.0 / municipalities.len() as f64).abs() < 1e-9);
    // Three hospital trusts as consumers: hidden, and no share that would give it away.
    let consumers = indicator("hospital_trusts_as_consumers");
    assert_eq!(consumers["numerator"]["suppressed"], true);
    assert_eq!(consumers["numerator"]["count"], Value::Null);
    assert_eq!(consumers["share"], Value::Null);
    assert_eq!(
        consumers["denominator"]["count"],
        register.count(pmd_orgs::OrgType::HospitalTrust)
    );
    assert_eq!(indicator("gp_offices_as_sources")["numerator"]["count"], 0);
    // 12 patients with data, 10 of whom looked: 2 did not, so 10 is hidden too.
    let patients_share = indicator("patients_with_data_viewed_by_citizen");
    assert_eq!(patients_share["denominator"]["count"], 12);
    assert_eq!(patients_share["numerator"]["suppressed"], true);
    assert_eq!(patients_share["share"], Value::Null);

    // The same through the default window (the last 30 days) has none of it.
    let recent = api(&mesh, "/api/statistics/adoption").await;
    let today = chrono::Utc::now().date_naive();
    assert_eq!(recent["to"], today.format("%Y-%m-%d").to_string());
    assert_eq!(
        recent["from"],
        (today - chrono::Days::new(29))
            .format("%Y-%m-%d")
            .to_string()
    );
    mesh.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_parameters_are_refused_by_name() {
    let mesh = spawn_mesh_on(Backend::Sqlite).await.unwrap();
    let token = mesh.token(&TokenRequest::statistics());
    for (path, name) in [
        ("/api/statistics/usage?from=2026-13-01", "from"),
        ("/api/statistics/usage?granularity=year", "granularity"),
        ("/api/statistics/usage?group_by=hpr", "group_by"),
        (
            "/api/statistics/usage?from=2026-02-01&to=2026-01-01",
            "from",
        ),
        (
            "/api/statistics/usage?from=2024-01-01&to=2026-01-01",
            "from",
        ),
        ("/api/statistics/usage?patient=1", "patient"),
        ("/api/statistics/adoption?period=2026-W60", "period"),
        (
            "/api/statistics/export?from=2026-01-01&to=2027-06-01",
            "from",
        ),
    ] {
        let response = mesh
            .http
            .get(mesh.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let outcome: Value = response.json().await.unwrap();
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(
            outcome["issue"][0]["expression"][0], name,
            "{path}: {outcome}"
        );
    }
    mesh.stop().await.unwrap();
}
