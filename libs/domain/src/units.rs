//! UCUM units: matching a source's unit code, converting to the one canonical unit of a
//! measurement, and checking that the converted value is plausible.
//!
//! Unit codes are matched case-sensitively, as UCUM defines them (`mmol/L` but not
//! `MMOL/L`, `Cel` but not `cel`), with three tolerated spellings:
//!
//! - `mmol/l` (common in Norwegian lab systems) is read as `mmol/L`;
//! - `1/min` is read as `/min`;
//! - a UCUM annotation in front of `/min`, such as `{beats}/min` or `{breaths}/min`, is
//!   read as `/min`: UCUM defines annotations to have no effect on the unit's meaning.
//!
//! Converted values (anything other than the canonical unit) are rounded to 10 decimal
//! places, so `98.6 [degF]` becomes `37 Cel` rather than `36.99999999999999 Cel`.

use std::borrow::Cow;

use thiserror::Error;

/// Every UCUM code the catalogue understands, in canonical spelling. A unit outside this
/// list is reported as unknown; a unit in it but not accepted for the measurement is
/// reported as incompatible.
pub const KNOWN_UNITS: &[&str] = &[
    "/min", "%", "Cel", "[degF]", "mm[Hg]", "kg", "g", "[lb_av]", "cm", "[in_i]", "kg/m2",
    "mmol/L", "mg/dL",
];

/// Echoed unit codes are cut to this many characters in error messages.
const MAX_ECHOED_UNIT: usize = 32;

/// How a value in an accepted unit becomes a value in the canonical unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Conversion {
    /// Already the canonical unit.
    Identity,
    /// Multiply by the factor (e.g. `[lb_av]` → `kg`: 0.45359237).
    Multiply(f64),
    /// Divide by the divisor (e.g. `g` → `kg`: 1000; `mg/dL` → `mmol/L` for glucose:
    /// 18.016).
    Divide(f64),
    /// `(F − 32) × 5/9`.
    FahrenheitToCelsius,
}

impl Conversion {
    /// Applies the conversion. Non-identity results are rounded to 10 decimal places.
    pub fn apply(self, value: f64) -> f64 {
        match self {
            Self::Identity => value,
            Self::Multiply(factor) => tidy(value * factor),
            Self::Divide(divisor) => tidy(value / divisor),
            Self::FahrenheitToCelsius => tidy((value - 32.0) * 5.0 / 9.0),
        }
    }
}

/// Rounds to 10 decimal places to hide binary floating-point noise, when that is exact
/// enough to do (very large values are left alone).
fn tidy(value: f64) -> f64 {
    let scaled = value * 1e10;
    if scaled.is_finite() && scaled.abs() < 1e15 {
        scaled.round() / 1e10
    } else {
        value
    }
}

/// A unit a measurement accepts, and how it converts to the canonical unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AcceptedUnit {
    /// The UCUM code.
    pub code: &'static str,
    /// The conversion to the canonical unit.
    pub conversion: Conversion,
}

/// An inclusive range of plausible values in the canonical unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlausibleRange {
    /// Smallest plausible value (inclusive).
    pub min: f64,
    /// Largest plausible value (inclusive).
    pub max: f64,
}

impl PlausibleRange {
    /// Whether `value` lies in the range, bounds included. `NaN` never does.
    pub fn contains(&self, value: f64) -> bool {
        self.min <= value && value <= self.max
    }
}

/// A value in a canonical unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    /// The value.
    pub value: f64,
    /// The canonical UCUM code.
    pub unit: &'static str,
}

/// What a quantity-valued measurement (or panel component) accepts: its canonical unit,
/// the other units it converts from, and its plausible range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantitySpec {
    measurement: &'static str,
    canonical_unit: &'static str,
    accepted: &'static [AcceptedUnit],
    range: PlausibleRange,
}

impl QuantitySpec {
    /// A spec. `accepted` lists every accepted unit, the canonical one (with
    /// [`Conversion::Identity`]) included. `measurement` is a lowercase English name used
    /// in error messages.
    pub const fn new(
        measurement: &'static str,
        canonical_unit: &'static str,
        accepted: &'static [AcceptedUnit],
        range: PlausibleRange,
    ) -> Self {
        Self {
            measurement,
            canonical_unit,
            accepted,
            range,
        }
    }

    /// Lowercase English name of the measurement, for messages.
    pub fn measurement(&self) -> &'static str {
        self.measurement
    }

    /// The canonical UCUM unit values are stored in.
    pub fn canonical_unit(&self) -> &'static str {
        self.canonical_unit
    }

    /// Every accepted unit, canonical first.
    pub fn accepted_units(&self) -> &'static [AcceptedUnit] {
        self.accepted
    }

    /// The plausible range in the canonical unit.
    pub fn range(&self) -> PlausibleRange {
        self.range
    }

    /// The accepted unit a UCUM code denotes, if any (after the tolerated spellings
    /// described in the module docs).
    pub fn accepted_unit(&self, ucum: &str) -> Option<&'static AcceptedUnit> {
        let normalised = normalise_ucum(ucum);
        self.accepted.iter().find(|unit| unit.code == normalised)
    }

    /// Converts `value` in unit `ucum` to the canonical unit.
    ///
    /// Does not check plausibility; see [`check_plausible`](Self::check_plausible).
    pub fn convert(&self, value: f64, ucum: &str) -> Result<Quantity, UnitError> {
        if !value.is_finite() {
            return Err(UnitError::NotFinite);
        }
        if ucum.is_empty() {
            return Err(UnitError::MissingUnit {
                measurement: self.measurement,
                accepted: self.accepted_list(),
            });
        }
        let Some(unit) = self.accepted_unit(ucum) else {
            let normalised = normalise_ucum(ucum);
            let unit = echo(ucum);
            let accepted = self.accepted_list();
            return Err(if KNOWN_UNITS.contains(&normalised.as_ref()) {
                UnitError::Incompatible {
                    unit,
                    measurement: self.measurement,
                    accepted,
                }
            } else {
                UnitError::Unknown {
                    unit,
                    measurement: self.measurement,
                    accepted,
                }
            });
        };
        Ok(Quantity {
            value: unit.conversion.apply(value),
            unit: self.canonical_unit,
        })
    }

    /// Checks that a value in the canonical unit lies in the plausible range (bounds
    /// included).
    pub fn check_plausible(&self, value: f64) -> Result<(), PlausibilityError> {
        if !value.is_finite() {
            return Err(PlausibilityError::NotFinite);
        }
        if self.range.contains(value) {
            Ok(())
        } else {
            Err(PlausibilityError::OutOfRange {
                measurement: self.measurement,
                value,
                unit: self.canonical_unit,
                min: self.range.min,
                max: self.range.max,
            })
        }
    }

    /// [`convert`](Self::convert) followed by [`check_plausible`](Self::check_plausible).
    pub fn normalise(&self, value: f64, ucum: &str) -> Result<Quantity, QuantityError> {
        let quantity = self.convert(value, ucum)?;
        self.check_plausible(quantity.value)?;
        Ok(quantity)
    }

    fn accepted_list(&self) -> String {
        let codes: Vec<&str> = self.accepted.iter().map(|unit| unit.code).collect();
        codes.join(", ")
    }
}

/// Checks the blood-pressure rule that the diastolic value is below the systolic one.
/// Both values are in the canonical `mm[Hg]`.
pub fn check_blood_pressure(systolic: f64, diastolic: f64) -> Result<(), PlausibilityError> {
    if diastolic < systolic {
        Ok(())
    } else {
        Err(PlausibilityError::DiastolicNotBelowSystolic {
            systolic,
            diastolic,
        })
    }
}

/// Reads the tolerated spellings described in the module docs as their UCUM code.
pub fn normalise_ucum(ucum: &str) -> Cow<'_, str> {
    match ucum {
        "mmol/l" => return Cow::Borrowed("mmol/L"),
        "1/min" => return Cow::Borrowed("/min"),
        _ => {}
    }
    if let Some(annotation) = ucum
        .strip_suffix("/min")
        .and_then(|rest| rest.strip_prefix('{'))
        .and_then(|rest| rest.strip_suffix('}'))
        && is_annotation_text(annotation)
    {
        return Cow::Borrowed("/min");
    }
    Cow::Borrowed(ucum)
}

/// UCUM annotation text: printable ASCII except curly braces, at least one character.
fn is_annotation_text(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'{' && b != b'}')
}

fn echo(unit: &str) -> String {
    if unit.chars().count() <= MAX_ECHOED_UNIT {
        unit.to_owned()
    } else {
        let mut cut: String = unit.chars().take(MAX_ECHOED_UNIT).collect();
        cut.push('…');
        cut
    }
}

/// Why a unit cannot be used for a measurement.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum UnitError {
    /// The value is `NaN` or infinite.
    #[error("value must be a finite number")]
    NotFinite,
    /// No unit was given.
    #[error("unit is missing for {measurement} (accepted: {accepted})")]
    MissingUnit {
        /// The measurement.
        measurement: &'static str,
        /// The accepted UCUM codes, comma separated.
        accepted: String,
    },
    /// A unit we know, but of another dimension (e.g. `kg` for heart rate).
    #[error("unit {unit} is not accepted for {measurement} (accepted: {accepted})")]
    Incompatible {
        /// The unit as given (cut to 32 characters).
        unit: String,
        /// The measurement.
        measurement: &'static str,
        /// The accepted UCUM codes, comma separated.
        accepted: String,
    },
    /// Not a UCUM code we know (including wrong case, e.g. `MMOL/L`).
    #[error("unit {unit} is not a known ucum code for {measurement} (accepted: {accepted})")]
    Unknown {
        /// The unit as given (cut to 32 characters).
        unit: String,
        /// The measurement.
        measurement: &'static str,
        /// The accepted UCUM codes, comma separated.
        accepted: String,
    },
}

/// Why a value in the canonical unit is not plausible.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PlausibilityError {
    /// The value is `NaN` or infinite.
    #[error("value must be a finite number")]
    NotFinite,
    /// Outside the inclusive plausible range.
    #[error("value {value} {unit} is outside the plausible range {min}–{max} {unit}")]
    OutOfRange {
        /// The measurement (lowercase English).
        measurement: &'static str,
        /// The value in the canonical unit.
        value: f64,
        /// The canonical unit.
        unit: &'static str,
        /// Smallest plausible value.
        min: f64,
        /// Largest plausible value.
        max: f64,
    },
    /// A blood pressure whose diastolic value is not below the systolic one.
    #[error("diastolic {diastolic} mm[Hg] must be below systolic {systolic} mm[Hg]")]
    DiastolicNotBelowSystolic {
        /// Systolic value in `mm[Hg]`.
        systolic: f64,
        /// Diastolic value in `mm[Hg]`.
        diastolic: f64,
    },
}

/// Either step of [`QuantitySpec::normalise`] failed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum QuantityError {
    /// The unit cannot be used.
    #[error(transparent)]
    Unit(#[from] UnitError),
    /// The converted value is not plausible.
    #[error(transparent)]
    Plausibility(#[from] PlausibilityError),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    const RATE: QuantitySpec = QuantitySpec::new(
        "heart rate",
        "/min",
        &[AcceptedUnit {
            code: "/min",
            conversion: Conversion::Identity,
        }],
        PlausibleRange {
            min: 20.0,
            max: 300.0,
        },
    );

    #[test]
    fn conversions_apply_their_formula() {
        assert_eq!(Conversion::Identity.apply(72.5), 72.5);
        assert_eq!(Conversion::Divide(1000.0).apply(3500.0), 3.5);
        assert_eq!(Conversion::Multiply(2.54).apply(70.0), 177.8);
        assert_eq!(Conversion::FahrenheitToCelsius.apply(98.6), 37.0);
        assert_eq!(Conversion::FahrenheitToCelsius.apply(32.0), 0.0);
        assert_eq!(Conversion::FahrenheitToCelsius.apply(-40.0), -40.0);
    }

    #[test]
    fn tidy_removes_float_noise_but_leaves_huge_values() {
        assert_eq!(tidy(36.99999999999999), 37.0);
        assert_eq!(tidy(0.1 + 0.2), 0.3);
        assert_eq!(tidy(1e300), 1e300);
    }

    #[test]
    fn normalise_ucum_tolerates_the_documented_spellings_only() {
        assert_eq!(normalise_ucum("mmol/l"), "mmol/L");
        assert_eq!(normalise_ucum("1/min"), "/min");
        assert_eq!(normalise_ucum("{beats}/min"), "/min");
        assert_eq!(normalise_ucum("{breaths}/min"), "/min");
        assert_eq!(normalise_ucum("{h.b}/min"), "/min");
        assert_eq!(normalise_ucum("{}/min"), "{}/min");
        assert_eq!(normalise_ucum("{a b}/min"), "{a b}/min");
        assert_eq!(normalise_ucum("{{x}}/min"), "{{x}}/min");
        assert_eq!(normalise_ucum("{beats}/h"), "{beats}/h");
        assert_eq!(normalise_ucum("MMOL/L"), "MMOL/L");
        assert_eq!(normalise_ucum("Mmol/l"), "Mmol/l");
        assert_eq!(normalise_ucum("cel"), "cel");
    }

    #[test]
    fn range_bounds_are_inclusive() {
        assert!(RATE.check_plausible(20.0).is_ok());
        assert!(RATE.check_plausible(300.0).is_ok());
        assert!(RATE.check_plausible(19.999).is_err());
        assert!(RATE.check_plausible(300.001).is_err());
    }

    #[test]
    fn out_of_range_message_names_value_range_and_unit() {
        let err = RATE.check_plausible(400.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "value 400 /min is outside the plausible range 20–300 /min"
        );
    }

    #[test]
    fn non_finite_values_are_rejected() {
        assert_eq!(RATE.convert(f64::NAN, "/min"), Err(UnitError::NotFinite));
        assert_eq!(
            RATE.convert(f64::INFINITY, "/min"),
            Err(UnitError::NotFinite)
        );
        assert_eq!(
            RATE.check_plausible(f64::NAN),
            Err(PlausibilityError::NotFinite)
        );
        assert_eq!(
            RATE.check_plausible(f64::NEG_INFINITY),
            Err(PlausibilityError::NotFinite)
        );
    }

    #[test]
    fn unknown_and_incompatible_units_are_told_apart() {
        assert!(matches!(
            RATE.convert(70.0, "kg"),
            Err(UnitError::Incompatible { .. })
        ));
        assert!(matches!(
            RATE.convert(70.0, "bpm"),
            Err(UnitError::Unknown { .. })
        ));
        assert!(matches!(
            RATE.convert(70.0, "/MIN"),
            Err(UnitError::Unknown { .. })
        ));
        assert!(matches!(
            RATE.convert(70.0, ""),
            Err(UnitError::MissingUnit { .. })
        ));
        assert_eq!(
            RATE.convert(70.0, "kg").unwrap_err().to_string(),
            "unit kg is not accepted for heart rate (accepted: /min)"
        );
        assert_eq!(
            RATE.convert(70.0, "bpm").unwrap_err().to_string(),
            "unit bpm is not a known ucum code for heart rate (accepted: /min)"
        );
    }

    #[test]
    fn long_units_are_cut_in_messages() {
        let long = "x".repeat(100);
        let text = RATE.convert(70.0, &long).unwrap_err().to_string();
        assert!(text.contains(&format!("{}…", "x".repeat(32))));
        assert!(!text.contains(&"x".repeat(33)));
    }

    #[test]
    fn blood_pressure_needs_diastolic_below_systolic() {
        assert!(check_blood_pressure(120.0, 80.0).is_ok());
        assert_eq!(
            check_blood_pressure(120.0, 120.0).unwrap_err().to_string(),
            "diastolic 120 mm[Hg] must be below systolic 120 mm[Hg]"
        );
        assert!(check_blood_pressure(110.0, 120.0).is_err());
        assert!(check_blood_pressure(f64::NAN, 80.0).is_err());
    }

    #[test]
    fn normalise_combines_both_steps() {
        assert_eq!(
            RATE.normalise(72.0, "{beats}/min"),
            Ok(Quantity {
                value: 72.0,
                unit: "/min"
            })
        );
        assert!(matches!(
            RATE.normalise(72.0, "kg"),
            Err(QuantityError::Unit(_))
        ));
        assert!(matches!(
            RATE.normalise(400.0, "/min"),
            Err(QuantityError::Plausibility(_))
        ));
    }

    #[test]
    fn messages_are_lowercase_apart_from_unit_codes() {
        let texts = [
            UnitError::NotFinite.to_string(),
            PlausibilityError::NotFinite.to_string(),
            RATE.convert(1.0, "").unwrap_err().to_string(),
            RATE.check_plausible(1.0).unwrap_err().to_string(),
        ];
        for text in texts {
            assert_eq!(text, text.to_lowercase(), "{text}");
            assert!(!text.ends_with('.'));
        }
    }

    proptest! {
        #[test]
        fn arbitrary_units_never_panic(unit in "\\PC{0,40}", value in any::<f64>()) {
            let _ = RATE.convert(value, &unit);
            let _ = RATE.normalise(value, &unit);
        }

        #[test]
        fn any_annotation_before_per_minute_means_per_minute(text in "[!-z|~]{1,12}") {
            let unit = format!("{{{text}}}/min");
            prop_assert_eq!(RATE.convert(60.0, &unit).unwrap().unit, "/min");
        }
    }
}
