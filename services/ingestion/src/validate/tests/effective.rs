//! `effective[x]` and `status`: one test per class of bad input.

use super::*;

fn with_effective(text: &str) -> Value {
    let mut resource = heart_rate();
    resource["effectiveDateTime"] = json!(text);
    resource
}

#[test]
fn a_missing_effective_time_is_required() {
    let mut resource = heart_rate();
    remove(&mut resource, "effectiveDateTime");
    only(&resource, "required", "effective[x]");
}

#[test]
fn an_effective_timing_is_not_accepted() {
    let mut resource = heart_rate();
    remove(&mut resource, "effectiveDateTime");
    resource["effectiveTiming"] = json!({"event": ["2024-03-05T08:00:00Z"]});
    let issue = only(&resource, "required", "effective[x]");
    assert!(issue.diagnostics.contains("effectiveTiming"));
}

#[test]
fn a_malformed_effective_time_is_invalid() {
    for text in [
        "05.03.2024",
        "2024-03-05T08:15",
        "2024-03-05T08:15:00",
        "2024-02-30",
        "2024-03-05 08:15:00Z",
        "",
    ] {
        only(&with_effective(text), "invalid", "effectiveDateTime");
    }
    let mut resource = heart_rate();
    resource["effectiveDateTime"] = json!(1_709_626_500);
    only(&resource, "invalid", "effectiveDateTime");
}

#[test]
fn an_effective_period_without_start_is_required() {
    let mut resource = heart_rate();
    remove(&mut resource, "effectiveDateTime");
    resource["effectivePeriod"] = json!({"end": "2024-03-05T08:00:00Z"});
    only(&resource, "required", "effectivePeriod.start");
    resource["effectivePeriod"] = json!({"start": "yesterday"});
    only(&resource, "invalid", "effectivePeriod.start");
    resource["effectivePeriod"] = json!("2024-03-05");
    only(&resource, "invalid", "effectivePeriod");
}

#[test]
fn two_effective_forms_at_once_are_invalid() {
    let mut resource = heart_rate();
    resource["effectivePeriod"] = json!({"start": "2024-03-05T08:00:00Z"});
    only(&resource, "invalid", "effective[x]");
}

#[test]
fn an_effective_time_more_than_five_minutes_ahead_is_refused() {
    for ahead in ["2024-03-05T12:06:00Z", "2024-03-05T12:05:01Z", "2024-03-06"] {
        let issue = only(&with_effective(ahead), "value", "effectiveDateTime");
        assert!(issue.diagnostics.contains("future"), "{issue:?}");
    }
    let mut resource = heart_rate();
    remove(&mut resource, "effectiveDateTime");
    resource["effectivePeriod"] = json!({"start": "2024-03-05T13:06:00+01:00"});
    only(&resource, "value", "effectivePeriod.start");
}

#[test]
fn an_effective_instant_needs_a_full_time() {
    let mut resource = heart_rate();
    remove(&mut resource, "effectiveDateTime");
    resource["effectiveInstant"] = json!("2024-03-05");
    only(&resource, "invalid", "effectiveInstant");
}

#[test]
fn a_missing_status_is_required() {
    let mut resource = heart_rate();
    remove(&mut resource, "status");
    let issue = only(&resource, "required", "status");
    assert!(issue.diagnostics.contains("final"));
}

#[test]
fn other_statuses_are_values_in_error() {
    for status in [
        json!("cancelled"),
        json!("entered-in-error"),
        json!("unknown"),
        json!("Final"),
        json!(""),
        json!(1),
    ] {
        let mut resource = heart_rate();
        resource["status"] = status;
        let issue = only(&resource, "value", "status");
        assert!(
            issue
                .diagnostics
                .contains("registered, preliminary, final, amended, corrected")
        );
    }
}
