//! FHIR R4 `dateTime`, `date` and `instant` values, kept with their precision, and FHIR
//! search date parameters ([`DateParam`]).
//!
//! A FHIR date/time stands for an implicit range: `2024-03` is all of March 2024. Every
//! [`FhirDateTime`] therefore carries a start and an exclusive end in UTC.
//!
//! Date-only values (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`) carry no zone; they are interpreted
//! in UTC. This makes a search like `date=2024-03-05` cover 00:00–24:00 UTC rather than
//! Norwegian local midnight to midnight; a measurement taken at 00:30 Norwegian time is
//! the previous day in UTC. Sources send full timestamps with offsets, so this only
//! affects date-only search values, and it keeps the crate free of a time-zone database.

mod search;

pub use search::{DateParam, DateParamError, DatePrefix, InstantFilter};

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use thiserror::Error;

/// How much of a date/time was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Precision {
    /// `YYYY`
    Year,
    /// `YYYY-MM`
    Month,
    /// `YYYY-MM-DD`
    Day,
    /// `YYYY-MM-DDThh:mm:ss(.sss)(Z|±hh:mm)`; fractional seconds narrow the implicit
    /// range further (see [`FhirDateTime::end_utc`]).
    Second,
}

/// Why a string is not a valid FHIR date/time. Messages never echo the whole input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DateTimeError {
    /// The string is empty.
    #[error("date/time is empty")]
    Empty,
    /// The string does not have the FHIR shape.
    #[error(
        "invalid date/time format: expected YYYY, YYYY-MM, YYYY-MM-DD or \
         YYYY-MM-DDThh:mm:ss[.sss] followed by Z or ±hh:mm"
    )]
    Format,
    /// Year 0000.
    #[error("year 0000 is not allowed")]
    YearZero,
    /// Month outside 01–12.
    #[error("month {0:02} is out of range 01–12")]
    Month(u32),
    /// A day the month does not have (e.g. 30 February).
    #[error("day {day:02} does not exist in {year:04}-{month:02}")]
    Day {
        /// Year.
        year: i32,
        /// Month.
        month: u32,
        /// Day.
        day: u32,
    },
    /// Hour outside 00–23 (FHIR has no 24:00).
    #[error("hour {0:02} is out of range 00–23")]
    Hour(u32),
    /// Minute outside 00–59.
    #[error("minute {0:02} is out of range 00–59")]
    Minute(u32),
    /// Second outside 00–59 (leap seconds are not supported).
    #[error("second {0:02} is out of range 00–59")]
    Second(u32),
    /// A time with hours and minutes but no seconds.
    #[error("a time must include seconds (hh:mm:ss)")]
    MissingSeconds,
    /// A time without `Z` or an offset.
    #[error("a time must have a zone: Z or ±hh:mm")]
    MissingZone,
    /// An offset outside −14:00 to +14:00 or with minutes over 59.
    #[error("zone offset must be between -14:00 and +14:00")]
    Offset,
    /// A `date` was expected, but a time was given.
    #[error("a date must not include a time")]
    NotADate,
    /// An `instant` was expected, but the value is less precise than seconds.
    #[error("an instant must include a time with seconds and a zone")]
    NotAnInstant,
}

/// A FHIR `dateTime` (or `date`, or `instant`), with its precision and implicit range.
///
/// Equality compares the original text, so `2024-01-01T00:00:00Z` and
/// `2024-01-01T01:00:00+01:00` are different values that denote the same instant;
/// compare [`start_utc`](Self::start_utc) for the instant. `Display` and serde use the
/// original text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FhirDateTime {
    original: String,
    precision: Precision,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    offset: Option<FixedOffset>,
}

impl FhirDateTime {
    /// Parses a FHIR `dateTime`: `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or
    /// `YYYY-MM-DDThh:mm:ss(.s+)?(Z|±hh:mm)`. A time needs seconds and a zone.
    pub fn parse(s: &str) -> Result<Self, DateTimeError> {
        parse(s)
    }

    /// Parses a FHIR `date`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub fn parse_date(s: &str) -> Result<Self, DateTimeError> {
        let value = parse(s)?;
        if value.precision == Precision::Second {
            return Err(DateTimeError::NotADate);
        }
        Ok(value)
    }

    /// Parses a FHIR `instant`: a full time with seconds and a zone.
    pub fn parse_instant(s: &str) -> Result<Self, DateTimeError> {
        let value = parse(s)?;
        if value.precision != Precision::Second {
            return Err(DateTimeError::NotAnInstant);
        }
        Ok(value)
    }

    /// The text as given.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// How much was given.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The start of the implicit range, in UTC. For a full time this is the instant.
    pub fn start_utc(&self) -> DateTime<Utc> {
        self.start
    }

    /// The exclusive end of the implicit range, in UTC: the next year, month or day for
    /// date-only values; for a full time, the start plus one unit of the last digit given
    /// (1 s for `10:00:00Z`, 1 ms for `10:00:00.123Z`, at least 1 ns).
    pub fn end_utc(&self) -> DateTime<Utc> {
        self.end
    }

    /// The zone offset as given (`Z` is +00:00), or `None` for date-only values.
    pub fn offset(&self) -> Option<FixedOffset> {
        self.offset
    }

    /// The instant with its original offset, for full times; `None` for date-only values.
    pub fn to_fixed_offset(&self) -> Option<DateTime<FixedOffset>> {
        self.offset.map(|offset| self.start.with_timezone(&offset))
    }
}

impl fmt::Display for FhirDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl FromStr for FhirDateTime {
    type Err = DateTimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for FhirDateTime {
    type Error = DateTimeError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<FhirDateTime> for String {
    fn from(value: FhirDateTime) -> Self {
        value.original
    }
}

/// A cursor over the ASCII bytes of the input.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), DateTimeError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(DateTimeError::Format)
        }
    }

    /// Exactly `n` digits as a number.
    fn digits(&mut self, n: usize) -> Result<u32, DateTimeError> {
        let slice = self
            .bytes
            .get(self.pos..self.pos + n)
            .ok_or(DateTimeError::Format)?;
        let mut value = 0u32;
        for &byte in slice {
            if !byte.is_ascii_digit() {
                return Err(DateTimeError::Format);
            }
            value = value * 10 + u32::from(byte - b'0');
        }
        self.pos += n;
        Ok(value)
    }

    /// One or more digits (fractional seconds): nanoseconds from the first nine, and the
    /// number of digits given.
    fn fraction(&mut self) -> Result<(u32, usize), DateTimeError> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = &self.bytes[start..self.pos];
        if digits.is_empty() {
            return Err(DateTimeError::Format);
        }
        let mut nanos = 0u32;
        for i in 0..9 {
            let digit = digits.get(i).map_or(0, |b| u32::from(b - b'0'));
            nanos = nanos * 10 + digit;
        }
        Ok((nanos, digits.len()))
    }
}

fn parse(s: &str) -> Result<FhirDateTime, DateTimeError> {
    if s.is_empty() {
        return Err(DateTimeError::Empty);
    }
    if !s.is_ascii() {
        return Err(DateTimeError::Format);
    }
    let mut cursor = Cursor {
        bytes: s.as_bytes(),
        pos: 0,
    };

    let year_digits = cursor.digits(4)?;
    if year_digits == 0 {
        return Err(DateTimeError::YearZero);
    }
    let year = i32::try_from(year_digits).map_err(|_| DateTimeError::Format)?;
    if cursor.at_end() {
        let start = date(year, 1, 1)?;
        let end = date(year + 1, 1, 1)?;
        return Ok(date_only(s, Precision::Year, start, end));
    }

    cursor.expect(b'-')?;
    let month = cursor.digits(2)?;
    if !(1..=12).contains(&month) {
        return Err(DateTimeError::Month(month));
    }
    if cursor.at_end() {
        let start = date(year, month, 1)?;
        let end = if month == 12 {
            date(year + 1, 1, 1)?
        } else {
            date(year, month + 1, 1)?
        };
        return Ok(date_only(s, Precision::Month, start, end));
    }

    cursor.expect(b'-')?;
    let day = cursor.digits(2)?;
    let day_date =
        NaiveDate::from_ymd_opt(year, month, day).ok_or(DateTimeError::Day { year, month, day })?;
    if cursor.at_end() {
        let end = day_date.succ_opt().ok_or(DateTimeError::Format)?;
        return Ok(date_only(s, Precision::Day, day_date, end));
    }

    cursor.expect(b'T')?;
    let hour = cursor.digits(2)?;
    cursor.expect(b':')?;
    let minute = cursor.digits(2)?;
    if cursor.at_end() {
        return Err(DateTimeError::MissingSeconds);
    }
    cursor.expect(b':')?;
    let second = cursor.digits(2)?;
    if hour > 23 {
        return Err(DateTimeError::Hour(hour));
    }
    if minute > 59 {
        return Err(DateTimeError::Minute(minute));
    }
    if second > 59 {
        return Err(DateTimeError::Second(second));
    }
    let (nanos, fraction_digits) = if cursor.peek() == Some(b'.') {
        cursor.pos += 1;
        cursor.fraction()?
    } else {
        (0, 0)
    };

    let offset = match cursor.peek() {
        None => return Err(DateTimeError::MissingZone),
        Some(b'Z') => {
            cursor.pos += 1;
            FixedOffset::east_opt(0).ok_or(DateTimeError::Offset)?
        }
        Some(sign @ (b'+' | b'-')) => {
            cursor.pos += 1;
            let hours = cursor.digits(2)?;
            cursor.expect(b':')?;
            let minutes = cursor.digits(2)?;
            if minutes > 59 || hours > 14 || (hours == 14 && minutes > 0) {
                return Err(DateTimeError::Offset);
            }
            let seconds =
                i32::try_from(hours * 3600 + minutes * 60).map_err(|_| DateTimeError::Offset)?;
            let seconds = if sign == b'-' { -seconds } else { seconds };
            FixedOffset::east_opt(seconds).ok_or(DateTimeError::Offset)?
        }
        Some(_) => return Err(DateTimeError::Format),
    };
    if !cursor.at_end() {
        return Err(DateTimeError::Format);
    }

    let time =
        NaiveTime::from_hms_nano_opt(hour, minute, second, nanos).ok_or(DateTimeError::Format)?;
    let local = NaiveDateTime::new(day_date, time);
    let start = local
        .checked_sub_signed(TimeDelta::seconds(i64::from(offset.local_minus_utc())))
        .ok_or(DateTimeError::Format)?
        .and_utc();
    let step = match fraction_digits {
        0 => TimeDelta::seconds(1),
        digits => TimeDelta::nanoseconds(10i64.pow(9u32.saturating_sub(digits_u32(digits)))),
    };
    let end = start
        .checked_add_signed(step)
        .ok_or(DateTimeError::Format)?;
    Ok(FhirDateTime {
        original: s.to_owned(),
        precision: Precision::Second,
        start,
        end,
        offset: Some(offset),
    })
}

fn digits_u32(n: usize) -> u32 {
    u32::try_from(n.min(9)).unwrap_or(9)
}

fn date(year: i32, month: u32, day: u32) -> Result<NaiveDate, DateTimeError> {
    NaiveDate::from_ymd_opt(year, month, day).ok_or(DateTimeError::Day { year, month, day })
}

fn date_only(s: &str, precision: Precision, start: NaiveDate, end: NaiveDate) -> FhirDateTime {
    FhirDateTime {
        original: s.to_owned(),
        precision,
        start: start.and_time(NaiveTime::MIN).and_utc(),
        end: end.and_time(NaiveTime::MIN).and_utc(),
        offset: None,
    }
}

#[cfg(test)]
mod tests;
