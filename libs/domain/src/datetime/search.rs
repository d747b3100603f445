//! FHIR search date parameters: `date=ge2024-01-01`, `date=lt2024-03-05T10:00:00+01:00`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::{DateTimeError, FhirDateTime};

/// The comparison prefix of a FHIR search date (`eq` when none is given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatePrefix {
    /// `eq`: within the value's range.
    Eq,
    /// `ne`: outside the value's range.
    Ne,
    /// `gt`: after the value's range.
    Gt,
    /// `lt`: before the value's range.
    Lt,
    /// `ge`: from the start of the value's range on.
    Ge,
    /// `le`: up to the end of the value's range.
    Le,
    /// `sa`: starts after the value's range.
    Sa,
    /// `eb`: ends before the value's range.
    Eb,
    /// `ap`: approximately; treated as `eq` (see [`DateParam::instant_filter`]).
    Ap,
}

impl DatePrefix {
    /// Every prefix.
    pub const ALL: [DatePrefix; 9] = [
        Self::Eq,
        Self::Ne,
        Self::Gt,
        Self::Lt,
        Self::Ge,
        Self::Le,
        Self::Sa,
        Self::Eb,
        Self::Ap,
    ];

    /// The two-letter code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Gt => "gt",
            Self::Lt => "lt",
            Self::Ge => "ge",
            Self::Le => "le",
            Self::Sa => "sa",
            Self::Eb => "eb",
            Self::Ap => "ap",
        }
    }

    /// The prefix a two-letter code names (lowercase only, as FHIR defines them).
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == code)
    }
}

impl fmt::Display for DatePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a search date parameter is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DateParamError {
    /// Letters before the date that are not a FHIR prefix.
    #[error("unknown date prefix {0:?}: expected eq, ne, gt, lt, ge, le, sa, eb or ap")]
    UnknownPrefix(String),
    /// The date after the prefix is invalid.
    #[error(transparent)]
    Value(#[from] DateTimeError),
}

/// Which instants a [`DateParam`] selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstantFilter {
    /// `from <= t < until`, either side unbounded when `None`.
    Within {
        /// Inclusive lower bound.
        from: Option<DateTime<Utc>>,
        /// Exclusive upper bound.
        until: Option<DateTime<Utc>>,
    },
    /// `t < from || t >= until`.
    Outside {
        /// Start of the excluded range (inclusive).
        from: DateTime<Utc>,
        /// End of the excluded range (exclusive).
        until: DateTime<Utc>,
    },
}

impl InstantFilter {
    /// Whether the instant passes the filter.
    pub fn matches(&self, t: DateTime<Utc>) -> bool {
        match *self {
            Self::Within { from, until } => {
                from.is_none_or(|from| from <= t) && until.is_none_or(|until| t < until)
            }
            Self::Outside { from, until } => t < from || t >= until,
        }
    }
}

/// A FHIR search date parameter value: a prefix and a date/time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DateParam {
    /// The comparison.
    pub prefix: DatePrefix,
    /// The date/time compared with.
    pub value: FhirDateTime,
}

impl DateParam {
    /// Parses `[prefix]value`, e.g. `ge2024-01-01`, `lt2024-03-05T10:00:00+01:00` or
    /// `2024` (prefix `eq`). The value follows the `dateTime` grammar: a time needs
    /// seconds and a zone.
    pub fn parse(s: &str) -> Result<Self, DateParamError> {
        let letters = s.bytes().take_while(u8::is_ascii_alphabetic).count();
        // The leading run is ASCII, so `letters` is a char boundary.
        let (code, rest) = s.split_at(letters);
        let prefix = if code.is_empty() {
            DatePrefix::Eq
        } else {
            DatePrefix::from_code(code)
                .ok_or_else(|| DateParamError::UnknownPrefix(code.chars().take(8).collect()))?
        };
        Ok(Self {
            prefix,
            value: FhirDateTime::parse(rest)?,
        })
    }

    /// The instants (e.g. a measurement's effective time) this parameter selects, with
    /// the value's implicit range `[start, end)`:
    ///
    /// | prefix | selects |
    /// | --- | --- |
    /// | `eq`, `ap` | `start <= t < end` |
    /// | `ne` | `t < start` or `t >= end` |
    /// | `gt`, `sa` | `t >= end` |
    /// | `ge` | `t >= start` |
    /// | `lt`, `eb` | `t < start` |
    /// | `le` | `t < end` |
    ///
    /// FHIR leaves the width of `ap` to the server; without a clock this crate cannot
    /// apply the usual "10 % of the distance to now", so `ap` is `eq`.
    pub fn instant_filter(&self) -> InstantFilter {
        let start = self.value.start_utc();
        let end = self.value.end_utc();
        match self.prefix {
            DatePrefix::Eq | DatePrefix::Ap => InstantFilter::Within {
                from: Some(start),
                until: Some(end),
            },
            DatePrefix::Ne => InstantFilter::Outside {
                from: start,
                until: end,
            },
            DatePrefix::Gt | DatePrefix::Sa => InstantFilter::Within {
                from: Some(end),
                until: None,
            },
            DatePrefix::Ge => InstantFilter::Within {
                from: Some(start),
                until: None,
            },
            DatePrefix::Lt | DatePrefix::Eb => InstantFilter::Within {
                from: None,
                until: Some(start),
            },
            DatePrefix::Le => InstantFilter::Within {
                from: None,
                until: Some(end),
            },
        }
    }

    /// Whether an instant is selected; see [`instant_filter`](Self::instant_filter).
    pub fn matches_instant(&self, t: DateTime<Utc>) -> bool {
        self.instant_filter().matches(t)
    }
}

impl fmt::Display for DateParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.prefix, self.value)
    }
}

impl FromStr for DateParam {
    type Err = DateParamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
