#![allow(clippy::unwrap_used)]

use chrono::{Datelike, TimeZone};
use proptest::prelude::*;

use super::*;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn parse_ok(s: &str) -> FhirDateTime {
    FhirDateTime::parse(s).unwrap()
}

#[test]
fn year_covers_the_whole_year() {
    let v = parse_ok("2024");
    assert_eq!(v.precision(), Precision::Year);
    assert_eq!(v.start_utc(), utc(2024, 1, 1, 0, 0, 0));
    assert_eq!(v.end_utc(), utc(2025, 1, 1, 0, 0, 0));
    assert_eq!(v.offset(), None);
    assert_eq!(v.to_fixed_offset(), None);
    assert_eq!(v.original(), "2024");
}

#[test]
fn month_covers_the_whole_month() {
    let v = parse_ok("2024-03");
    assert_eq!(v.precision(), Precision::Month);
    assert_eq!(v.start_utc(), utc(2024, 3, 1, 0, 0, 0));
    assert_eq!(v.end_utc(), utc(2024, 4, 1, 0, 0, 0));
    let december = parse_ok("2023-12");
    assert_eq!(december.end_utc(), utc(2024, 1, 1, 0, 0, 0));
}

#[test]
fn day_covers_the_whole_utc_day() {
    let v = parse_ok("2024-02-29");
    assert_eq!(v.precision(), Precision::Day);
    assert_eq!(v.start_utc(), utc(2024, 2, 29, 0, 0, 0));
    assert_eq!(v.end_utc(), utc(2024, 3, 1, 0, 0, 0));
    let new_year = parse_ok("2023-12-31");
    assert_eq!(new_year.end_utc(), utc(2024, 1, 1, 0, 0, 0));
}

#[test]
fn time_with_offset_is_converted_to_utc_and_keeps_the_offset() {
    let v = parse_ok("2024-03-05T10:00:00+01:00");
    assert_eq!(v.precision(), Precision::Second);
    assert_eq!(v.start_utc(), utc(2024, 3, 5, 9, 0, 0));
    assert_eq!(v.end_utc(), utc(2024, 3, 5, 9, 0, 1));
    assert_eq!(v.offset(), FixedOffset::east_opt(3600));
    let local = v.to_fixed_offset().unwrap();
    assert_eq!(local.to_rfc3339(), "2024-03-05T10:00:00+01:00");
    assert_eq!(v.original(), "2024-03-05T10:00:00+01:00");
}

#[test]
fn zulu_and_negative_offsets() {
    let z = parse_ok("2024-03-05T10:00:00Z");
    assert_eq!(z.start_utc(), utc(2024, 3, 5, 10, 0, 0));
    assert_eq!(z.offset(), FixedOffset::east_opt(0));
    let minus = parse_ok("2024-03-05T23:30:00-02:30");
    assert_eq!(minus.start_utc(), utc(2024, 3, 6, 2, 0, 0));
    assert_eq!(minus.offset(), FixedOffset::west_opt(2 * 3600 + 30 * 60));
    let minus_zero = parse_ok("2024-03-05T10:00:00-00:00");
    assert_eq!(minus_zero.start_utc(), z.start_utc());
    assert_ne!(minus_zero, z);
}

#[test]
fn offsets_up_to_fourteen_hours() {
    assert!(FhirDateTime::parse("2024-01-01T00:00:00+14:00").is_ok());
    assert!(FhirDateTime::parse("2024-01-01T00:00:00-14:00").is_ok());
    assert!(FhirDateTime::parse("2024-01-01T00:00:00+13:59").is_ok());
    for bad in [
        "2024-01-01T00:00:00+14:01",
        "2024-01-01T00:00:00+15:00",
        "2024-01-01T00:00:00+01:60",
        "2024-01-01T00:00:00-99:00",
    ] {
        assert_eq!(
            FhirDateTime::parse(bad),
            Err(DateTimeError::Offset),
            "{bad}"
        );
    }
}

#[test]
fn fractional_seconds_of_any_length_narrow_the_range() {
    let ms = parse_ok("2024-03-05T10:00:00.123Z");
    assert_eq!(
        ms.start_utc(),
        utc(2024, 3, 5, 10, 0, 0) + TimeDelta::milliseconds(123)
    );
    assert_eq!(ms.end_utc() - ms.start_utc(), TimeDelta::milliseconds(1));
    let one = parse_ok("2024-03-05T10:00:00.5+01:00");
    assert_eq!(
        one.start_utc(),
        utc(2024, 3, 5, 9, 0, 0) + TimeDelta::milliseconds(500)
    );
    assert_eq!(
        one.end_utc() - one.start_utc(),
        TimeDelta::milliseconds(100)
    );
    let long = parse_ok("2024-03-05T10:00:00.123456789123Z");
    assert_eq!(
        long.start_utc(),
        utc(2024, 3, 5, 10, 0, 0) + TimeDelta::nanoseconds(123_456_789)
    );
    assert_eq!(long.end_utc() - long.start_utc(), TimeDelta::nanoseconds(1));
    assert_eq!(long.original(), "2024-03-05T10:00:00.123456789123Z");
    assert_eq!(long.precision(), Precision::Second);
}

#[test]
fn invalid_calendar_values_are_rejected() {
    assert_eq!(
        FhirDateTime::parse("2024-13"),
        Err(DateTimeError::Month(13))
    );
    assert_eq!(
        FhirDateTime::parse("2024-00-01"),
        Err(DateTimeError::Month(0))
    );
    assert_eq!(
        FhirDateTime::parse("2024-02-30"),
        Err(DateTimeError::Day {
            year: 2024,
            month: 2,
            day: 30
        })
    );
    assert!(matches!(
        FhirDateTime::parse("2023-02-29"),
        Err(DateTimeError::Day { .. })
    ));
    assert!(matches!(
        FhirDateTime::parse("1900-02-29"),
        Err(DateTimeError::Day { .. })
    ));
    assert!(FhirDateTime::parse("2000-02-29").is_ok());
    assert!(matches!(
        FhirDateTime::parse("2024-04-31"),
        Err(DateTimeError::Day { .. })
    ));
    assert!(matches!(
        FhirDateTime::parse("2024-04-00"),
        Err(DateTimeError::Day { .. })
    ));
    assert_eq!(FhirDateTime::parse("0000"), Err(DateTimeError::YearZero));
    assert!(FhirDateTime::parse("0001").is_ok());
    assert!(FhirDateTime::parse("9999-12-31T23:59:59-14:00").is_ok());
}

#[test]
fn invalid_times_are_rejected() {
    assert_eq!(
        FhirDateTime::parse("2024-03-05T24:00:00Z"),
        Err(DateTimeError::Hour(24))
    );
    assert_eq!(
        FhirDateTime::parse("2024-03-05T10:60:00Z"),
        Err(DateTimeError::Minute(60))
    );
    assert_eq!(
        FhirDateTime::parse("2024-03-05T10:00:60Z"),
        Err(DateTimeError::Second(60))
    );
}

#[test]
fn a_time_needs_seconds_and_a_zone() {
    assert_eq!(
        FhirDateTime::parse("2024-03-05T10:00:00"),
        Err(DateTimeError::MissingZone)
    );
    assert_eq!(
        FhirDateTime::parse("2024-03-05T10:00:00.123"),
        Err(DateTimeError::MissingZone)
    );
    assert_eq!(
        FhirDateTime::parse("2024-03-05T10:00"),
        Err(DateTimeError::MissingSeconds)
    );
    assert_eq!(
        FhirDateTime::parse("2024-03-05T10:00Z"),
        Err(DateTimeError::Format)
    );
}

#[test]
fn malformed_shapes_are_format_errors() {
    for bad in [
        "24",
        "20245",
        "2024-3",
        "2024-03-5",
        "2024/03/05",
        "2024-03-05 10:00:00Z",
        "2024-03-05t10:00:00Z",
        "2024-03-05T10:00:00z",
        "2024-03-05T10:00:00+0100",
        "2024-03-05T10:00:00+01",
        "2024-03-05T10:00:00.Z",
        "2024-03-05T10:00:00Z ",
        " 2024",
        "2024-",
        "2024-03-",
        "2024-03-05T",
        "+2024",
        "-2024",
        "2024-03-05T10:00:00ZZ",
        "2024-03-05T10:00:00+01:00:00",
        "２０２４",
    ] {
        assert_eq!(
            FhirDateTime::parse(bad),
            Err(DateTimeError::Format),
            "{bad:?}"
        );
    }
    assert_eq!(FhirDateTime::parse(""), Err(DateTimeError::Empty));
}

#[test]
fn date_and_instant_variants_restrict_precision() {
    assert!(FhirDateTime::parse_date("2024").is_ok());
    assert!(FhirDateTime::parse_date("2024-03-05").is_ok());
    assert_eq!(
        FhirDateTime::parse_date("2024-03-05T10:00:00Z"),
        Err(DateTimeError::NotADate)
    );
    assert!(FhirDateTime::parse_instant("2024-03-05T10:00:00Z").is_ok());
    for s in ["2024", "2024-03", "2024-03-05"] {
        assert_eq!(
            FhirDateTime::parse_instant(s),
            Err(DateTimeError::NotAnInstant)
        );
    }
    assert_eq!(
        FhirDateTime::parse_instant("2024-03-05T10:00:00"),
        Err(DateTimeError::MissingZone)
    );
}

#[test]
fn display_serde_and_from_str_use_the_original() {
    let v: FhirDateTime = "2024-03-05T10:00:00.10+01:00".parse().unwrap();
    assert_eq!(v.to_string(), "2024-03-05T10:00:00.10+01:00");
    assert_eq!(String::from(v.clone()), "2024-03-05T10:00:00.10+01:00");
    assert_eq!(
        FhirDateTime::try_from("2024-13".to_owned()),
        Err(DateTimeError::Month(13))
    );
}

#[test]
fn error_messages_start_lowercase_without_period() {
    let errors = [
        DateTimeError::Empty,
        DateTimeError::Format,
        DateTimeError::YearZero,
        DateTimeError::Month(13),
        DateTimeError::Day {
            year: 2024,
            month: 2,
            day: 30,
        },
        DateTimeError::Hour(24),
        DateTimeError::Minute(60),
        DateTimeError::Second(60),
        DateTimeError::MissingSeconds,
        DateTimeError::MissingZone,
        DateTimeError::Offset,
        DateTimeError::NotADate,
        DateTimeError::NotAnInstant,
    ];
    for err in errors {
        let text = err.to_string();
        assert!(text.starts_with(|c: char| c.is_lowercase()), "{text}");
        assert!(!text.ends_with('.'), "{text}");
    }
    assert_eq!(
        DateTimeError::Day {
            year: 2024,
            month: 2,
            day: 30
        }
        .to_string(),
        "day 30 does not exist in 2024-02"
    );
    assert_eq!(
        DateTimeError::Hour(24).to_string(),
        "hour 24 is out of range 00–23"
    );
}

#[test]
fn date_param_defaults_to_eq() {
    let p = DateParam::parse("2024").unwrap();
    assert_eq!(p.prefix, DatePrefix::Eq);
    assert_eq!(p.value, parse_ok("2024"));
    assert_eq!(p.to_string(), "eq2024");
}

#[test]
fn date_param_reads_every_prefix() {
    for prefix in DatePrefix::ALL {
        let p = DateParam::parse(&format!("{prefix}2024-01-01")).unwrap();
        assert_eq!(p.prefix, prefix);
        assert_eq!(p.value.precision(), Precision::Day);
    }
    let p: DateParam = "lt2024-03-05T10:00:00+01:00".parse().unwrap();
    assert_eq!(p.prefix, DatePrefix::Lt);
    assert_eq!(p.value.start_utc(), utc(2024, 3, 5, 9, 0, 0));
}

#[test]
fn date_param_rejects_unknown_prefixes_and_bad_values() {
    assert_eq!(
        DateParam::parse("gte2024"),
        Err(DateParamError::UnknownPrefix("gte".to_owned()))
    );
    assert_eq!(
        DateParam::parse("GE2024"),
        Err(DateParamError::UnknownPrefix("GE".to_owned()))
    );
    assert!(matches!(
        DateParam::parse("x2024"),
        Err(DateParamError::UnknownPrefix(_))
    ));
    assert_eq!(
        DateParam::parse("abcdefghijklmnop"),
        Err(DateParamError::UnknownPrefix("abcdefgh".to_owned()))
    );
    assert_eq!(
        DateParam::parse("ge"),
        Err(DateParamError::Value(DateTimeError::Empty))
    );
    assert_eq!(
        DateParam::parse(""),
        Err(DateParamError::Value(DateTimeError::Empty))
    );
    assert_eq!(
        DateParam::parse("ge2024-13"),
        Err(DateParamError::Value(DateTimeError::Month(13)))
    );
    assert_eq!(
        DateParam::parse("ge 2024"),
        Err(DateParamError::Value(DateTimeError::Format))
    );
    assert_eq!(
        DateParam::parse("ge2024-03-05T10:00:00")
            .unwrap_err()
            .to_string(),
        "a time must have a zone: Z or ±hh:mm"
    );
}

#[test]
fn date_param_filters_instants_by_prefix() {
    let before = utc(2024, 3, 4, 23, 59, 59);
    let first = utc(2024, 3, 5, 0, 0, 0);
    let inside = utc(2024, 3, 5, 12, 0, 0);
    let end = utc(2024, 3, 6, 0, 0, 0);
    let cases = [
        ("eq", [false, true, true, false]),
        ("ap", [false, true, true, false]),
        ("ne", [true, false, false, true]),
        ("gt", [false, false, false, true]),
        ("sa", [false, false, false, true]),
        ("ge", [false, true, true, true]),
        ("lt", [true, false, false, false]),
        ("eb", [true, false, false, false]),
        ("le", [true, true, true, false]),
    ];
    for (prefix, expected) in cases {
        let p = DateParam::parse(&format!("{prefix}2024-03-05")).unwrap();
        let actual = [before, first, inside, end].map(|t| p.matches_instant(t));
        assert_eq!(actual, expected, "{prefix}");
    }
}

#[test]
fn date_param_filter_bounds() {
    let p = DateParam::parse("ge2024-03-05T10:00:00+01:00").unwrap();
    assert_eq!(
        p.instant_filter(),
        InstantFilter::Within {
            from: Some(utc(2024, 3, 5, 9, 0, 0)),
            until: None
        }
    );
    let p = DateParam::parse("ne2024").unwrap();
    assert_eq!(
        p.instant_filter(),
        InstantFilter::Outside {
            from: utc(2024, 1, 1, 0, 0, 0),
            until: utc(2025, 1, 1, 0, 0, 0)
        }
    );
}

/// Generated valid dateTime parts: year, month, day, and an optional time part
/// (hour, minute, second, fraction digits, offset minutes or `None` for `Z`).
type TimeParts = (u32, u32, u32, Option<String>, Option<i32>);

fn days_in_month(year: i32, month: u32) -> u32 {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    next.unwrap().pred_opt().unwrap().day()
}

fn valid_date() -> impl Strategy<Value = (i32, u32, u32)> {
    (1i32..=9999, 1u32..=12, 1u32..=31).prop_map(|(y, m, d)| (y, m, d.min(days_in_month(y, m))))
}

fn valid_time() -> impl Strategy<Value = TimeParts> {
    (
        0u32..24,
        0u32..60,
        0u32..60,
        proptest::option::of("[0-9]{1,12}"),
        proptest::option::of(-(14 * 60)..=(14 * 60)),
    )
}

fn format_offset(minutes: Option<i32>) -> String {
    match minutes {
        None => "Z".to_owned(),
        Some(m) => {
            let sign = if m < 0 { '-' } else { '+' };
            let m = m.abs();
            format!("{sign}{:02}:{:02}", m / 60, m % 60)
        }
    }
}

proptest! {
    #[test]
    fn generated_full_datetimes_round_trip(
        (year, month, day) in valid_date(),
        (hour, minute, second, fraction, offset) in valid_time(),
    ) {
        let fraction_text = fraction.as_deref().map(|f| format!(".{f}")).unwrap_or_default();
        let s = format!(
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction_text}{}",
            format_offset(offset)
        );
        let v = FhirDateTime::parse(&s).unwrap();
        prop_assert_eq!(v.original(), s.as_str());
        prop_assert_eq!(v.precision(), Precision::Second);
        let offset_seconds = offset.unwrap_or(0) * 60;
        prop_assert_eq!(v.offset(), FixedOffset::east_opt(offset_seconds));

        let nanos = fraction
            .as_deref()
            .map(|f| format!("{f:0<9}")[..9].parse::<u32>().unwrap())
            .unwrap_or(0);
        let local = NaiveDate::from_ymd_opt(year, month, day)
            .unwrap()
            .and_hms_nano_opt(hour, minute, second, nanos)
            .unwrap();
        let expected = local - TimeDelta::seconds(i64::from(offset_seconds));
        prop_assert_eq!(v.start_utc(), expected.and_utc());
        prop_assert!(v.end_utc() > v.start_utc());
        prop_assert!(v.end_utc() - v.start_utc() <= TimeDelta::seconds(1));

        let local_again = v.to_fixed_offset().unwrap();
        prop_assert_eq!(local_again.naive_local(), local);

        let reparsed: FhirDateTime = v.to_string().parse().unwrap();
        prop_assert_eq!(reparsed, v);
    }

    #[test]
    fn generated_dates_round_trip_at_every_precision(
        (year, month, day) in valid_date(),
        precision in prop::sample::select(vec![Precision::Year, Precision::Month, Precision::Day]),
    ) {
        let s = match precision {
            Precision::Year => format!("{year:04}"),
            Precision::Month => format!("{year:04}-{month:02}"),
            _ => format!("{year:04}-{month:02}-{day:02}"),
        };
        let v = FhirDateTime::parse_date(&s).unwrap();
        prop_assert_eq!(v.precision(), precision);
        prop_assert_eq!(v.original(), s.as_str());
        prop_assert_eq!(v.offset(), None);
        let start = v.start_utc();
        prop_assert_eq!(start.year(), year);
        prop_assert!(v.end_utc() > start);
        let span = v.end_utc() - start;
        match precision {
            Precision::Year => prop_assert!(span == TimeDelta::days(365) || span == TimeDelta::days(366)),
            Precision::Month => prop_assert_eq!(span, TimeDelta::days(i64::from(days_in_month(year, month)))),
            _ => prop_assert_eq!(span, TimeDelta::days(1)),
        }
    }

    #[test]
    fn generated_date_params_round_trip(
        prefix in prop::sample::select(DatePrefix::ALL.to_vec()),
        (year, month, day) in valid_date(),
    ) {
        let s = format!("{prefix}{year:04}-{month:02}-{day:02}");
        let p = DateParam::parse(&s).unwrap();
        prop_assert_eq!(p.prefix, prefix);
        prop_assert_eq!(p.to_string(), s);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in "\\PC{0,40}") {
        let _ = FhirDateTime::parse(&s);
        let _ = FhirDateTime::parse_date(&s);
        let _ = FhirDateTime::parse_instant(&s);
        let _ = DateParam::parse(&s);
    }

    #[test]
    fn near_miss_strings_never_panic(s in "[a-z]{0,2}[0-9TZ:+.\\-]{0,40}") {
        if let Ok(v) = FhirDateTime::parse(&s) {
            prop_assert!(v.end_utc() > v.start_utc());
            prop_assert_eq!(v.original(), s.as_str());
        }
        let _ = DateParam::parse(&s);
    }
}
