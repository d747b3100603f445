//! The vital-signs catalogue: which codes we accept, what they mean, and in which unit and
//! range their values are stored (DESIGN.md §5).
//!
//! Each [`Entry`] has a stable [`id`](Entry::id) used for storage: its LOINC code where it
//! has one (`"8867-4"`), otherwise its SNOMED CT code (the VKP scores). Every alternative
//! code (SNOMED CT, NPU, a second LOINC code) maps to the same entry, so a measurement
//! sent with any of them is stored under the one id.
//!
//! Codes that are known but not supported (a vital-signs panel without a value, head
//! circumference, mean arterial pressure, blood-pressure components sent on their own)
//! are not in the catalogue; [`Catalogue::refusal_reason`] explains why.

use std::fmt::Write as _;

use crate::units::{AcceptedUnit, Conversion, PlausibleRange, QuantitySpec};

/// LOINC's code system URI.
pub const LOINC: &str = "http://loinc.org";
/// SNOMED CT's code system URI.
pub const SNOMED_CT: &str = "http://snomed.info/sct";
/// NPU's code system (Nomenclature for Properties and Units) as used in Norway.
pub const NPU: &str = "urn:oid:2.16.578.1.12.4.1.1.7280";

/// The stable ids of the catalogue entries and panel components.
pub mod ids {
    /// Heart rate.
    pub const HEART_RATE: &str = "8867-4";
    /// Respiratory rate.
    pub const RESPIRATORY_RATE: &str = "9279-1";
    /// Oxygen saturation.
    pub const OXYGEN_SATURATION: &str = "2708-6";
    /// Body temperature.
    pub const BODY_TEMPERATURE: &str = "8310-5";
    /// Blood pressure panel.
    pub const BLOOD_PRESSURE: &str = "85354-9";
    /// Systolic blood pressure (component of [`BLOOD_PRESSURE`]).
    pub const SYSTOLIC: &str = "8480-6";
    /// Diastolic blood pressure (component of [`BLOOD_PRESSURE`]).
    pub const DIASTOLIC: &str = "8462-4";
    /// Body weight.
    pub const BODY_WEIGHT: &str = "29463-7";
    /// Body height.
    pub const BODY_HEIGHT: &str = "8302-2";
    /// Body mass index.
    pub const BMI: &str = "39156-5";
    /// Blood glucose.
    pub const BLOOD_GLUCOSE: &str = "15074-8";
    /// NEWS2 total score (SNOMED CT).
    pub const NEWS2_TOTAL: &str = "1104051000000101";
    /// Clinical Frailty Scale score (SNOMED CT).
    pub const CLINICAL_FRAILTY_SCALE: &str = "763264000";
    /// Level of consciousness, ACVPU (SNOMED CT).
    pub const ACVPU: &str = "1104441000000107";
}

/// A code in a code system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Coding {
    /// Code system URI, e.g. [`LOINC`].
    pub system: &'static str,
    /// The code.
    pub code: &'static str,
}

impl Coding {
    const fn loinc(code: &'static str) -> Self {
        Self {
            system: LOINC,
            code,
        }
    }

    const fn sct(code: &'static str) -> Self {
        Self {
            system: SNOMED_CT,
            code,
        }
    }

    const fn npu(code: &'static str) -> Self {
        Self { system: NPU, code }
    }

    fn matches(&self, system: &str, code: &str) -> bool {
        self.system == system && self.code == code
    }

    fn system_name(&self) -> &'static str {
        match self.system {
            LOINC => "LOINC",
            SNOMED_CT => "SNOMED CT",
            NPU => "NPU",
            other => other,
        }
    }
}

/// How a score's value is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreValueKind {
    /// An integer (`valueInteger`), e.g. NEWS2 total or Clinical Frailty Scale.
    Integer,
    /// A coded value (`valueCodeableConcept`), e.g. ACVPU.
    Coded,
}

/// What kind of value an entry carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EntryKind {
    /// One quantity, converted to a canonical unit and range-checked.
    Quantity(QuantitySpec),
    /// A panel without a value of its own; every component is required. The blood
    /// pressure panel also requires diastolic below systolic
    /// ([`check_blood_pressure`](crate::units::check_blood_pressure)).
    Panel(&'static [Component]),
    /// A score a source computed. Stored as sent: no unit conversion, no range check,
    /// no interpretation.
    Score(ScoreValueKind),
}

/// One component of a panel (e.g. systolic blood pressure).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Component {
    id: &'static str,
    display_en: &'static str,
    display_nb: &'static str,
    codings: &'static [Coding],
    quantity: QuantitySpec,
}

impl Component {
    /// Stable id (the LOINC code), e.g. `"8480-6"`.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// English display name.
    pub fn display_en(&self) -> &'static str {
        self.display_en
    }

    /// Bokmål display name.
    pub fn display_nb(&self) -> &'static str {
        self.display_nb
    }

    /// Every accepted coding, the primary LOINC coding first.
    pub fn codings(&self) -> &'static [Coding] {
        self.codings
    }

    /// Unit and range of the component's value.
    pub fn quantity(&self) -> &QuantitySpec {
        &self.quantity
    }

    /// Whether `system`/`code` denotes this component.
    pub fn has_code(&self, system: &str, code: &str) -> bool {
        self.codings.iter().any(|c| c.matches(system, code))
    }
}

/// One supported measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    id: &'static str,
    display_en: &'static str,
    display_nb: &'static str,
    codings: &'static [Coding],
    kind: EntryKind,
}

impl Entry {
    /// Stable id for storage: the LOINC code, or the SNOMED CT code for scores.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// English display name.
    pub fn display_en(&self) -> &'static str {
        self.display_en
    }

    /// Bokmål display name.
    pub fn display_nb(&self) -> &'static str {
        self.display_nb
    }

    /// Every accepted coding; the first is the primary one (its code is the id).
    pub fn codings(&self) -> &'static [Coding] {
        self.codings
    }

    /// The primary coding, to send in FHIR output.
    pub fn primary_coding(&self) -> Coding {
        // Every entry has at least one coding (checked by a test); the fallback keeps
        // this total.
        self.codings.first().copied().unwrap_or(Coding {
            system: LOINC,
            code: self.id,
        })
    }

    /// The kind of value.
    pub fn kind(&self) -> &EntryKind {
        &self.kind
    }

    /// Unit and range when the entry is a single quantity.
    pub fn quantity(&self) -> Option<&QuantitySpec> {
        match &self.kind {
            EntryKind::Quantity(spec) => Some(spec),
            EntryKind::Panel(_) | EntryKind::Score(_) => None,
        }
    }

    /// The panel's components (empty for other kinds).
    pub fn components(&self) -> &'static [Component] {
        match self.kind {
            EntryKind::Panel(components) => components,
            EntryKind::Quantity(_) | EntryKind::Score(_) => &[],
        }
    }

    /// The component `system`/`code` denotes, for panels.
    pub fn component(&self, system: &str, code: &str) -> Option<&'static Component> {
        self.components().iter().find(|c| c.has_code(system, code))
    }

    /// The component with this id, for panels.
    pub fn component_by_id(&self, id: &str) -> Option<&'static Component> {
        self.components().iter().find(|c| c.id == id)
    }

    /// Whether `system`/`code` denotes this entry.
    pub fn has_code(&self, system: &str, code: &str) -> bool {
        self.codings.iter().any(|c| c.matches(system, code))
    }
}

/// The set of supported measurements.
#[derive(Debug)]
pub struct Catalogue {
    entries: &'static [Entry],
}

impl Catalogue {
    /// The catalogue of DESIGN.md §5 plus the VKP scores.
    pub fn standard() -> &'static Catalogue {
        &STANDARD
    }

    /// Every entry, in a fixed order.
    pub fn entries(&self) -> &'static [Entry] {
        self.entries
    }

    /// The entry `system`/`code` denotes. Matching is exact (case-sensitive).
    /// Known-but-unsupported codes give `None`; see [`refusal_reason`](Self::refusal_reason).
    pub fn lookup(&self, system: &str, code: &str) -> Option<&'static Entry> {
        self.entries.iter().find(|e| e.has_code(system, code))
    }

    /// The entry with this stable id.
    pub fn lookup_id(&self, id: &str) -> Option<&'static Entry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// The entry a bare code denotes in any code system (for FHIR search `code=8867-4`
    /// without a system). Codes are unique across the catalogue's systems.
    pub fn lookup_code(&self, code: &str) -> Option<&'static Entry> {
        self.entries
            .iter()
            .find(|e| e.codings.iter().any(|c| c.code == code))
    }

    /// Why a known code is refused, for a clearer error than "unsupported code". `None`
    /// for supported codes and for codes we know nothing about.
    pub fn refusal_reason(&self, system: &str, code: &str) -> Option<&'static str> {
        REFUSALS
            .iter()
            .find(|(coding, _)| coding.matches(system, code))
            .map(|(_, reason)| *reason)
    }

    /// A one-line list of the supported measurements and their codes, for error
    /// diagnostics, e.g. `heart rate: LOINC 8867-4, SNOMED CT 364075005; …`.
    pub fn supported_codes_text(&self) -> String {
        let mut text = String::from("supported codes: ");
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                text.push_str("; ");
            }
            text.push_str(&entry.display_en.to_lowercase());
            text.push(':');
            for (j, coding) in entry.codings.iter().enumerate() {
                let separator = if j == 0 { " " } else { ", " };
                // Writing to a String cannot fail.
                let _ = write!(text, "{separator}{} {}", coding.system_name(), coding.code);
            }
        }
        text
    }
}

const fn unit(code: &'static str) -> AcceptedUnit {
    AcceptedUnit {
        code,
        conversion: Conversion::Identity,
    }
}

const fn range(min: f64, max: f64) -> PlausibleRange {
    PlausibleRange { min, max }
}

const PER_MINUTE: &[AcceptedUnit] = &[unit("/min")];
const MM_HG: &[AcceptedUnit] = &[unit("mm[Hg]")];

const BLOOD_PRESSURE_COMPONENTS: &[Component] = &[
    Component {
        id: ids::SYSTOLIC,
        display_en: "Systolic blood pressure",
        display_nb: "Systolisk blodtrykk",
        codings: &[Coding::loinc(ids::SYSTOLIC), Coding::sct("271649006")],
        quantity: QuantitySpec::new(
            "systolic blood pressure",
            "mm[Hg]",
            MM_HG,
            range(40.0, 300.0),
        ),
    },
    Component {
        id: ids::DIASTOLIC,
        display_en: "Diastolic blood pressure",
        display_nb: "Diastolisk blodtrykk",
        codings: &[Coding::loinc(ids::DIASTOLIC), Coding::sct("271650006")],
        quantity: QuantitySpec::new(
            "diastolic blood pressure",
            "mm[Hg]",
            MM_HG,
            range(20.0, 200.0),
        ),
    },
];

static STANDARD: Catalogue = Catalogue {
    entries: &[
        Entry {
            id: ids::HEART_RATE,
            display_en: "Heart rate",
            display_nb: "Puls",
            codings: &[Coding::loinc(ids::HEART_RATE), Coding::sct("364075005")],
            kind: EntryKind::Quantity(QuantitySpec::new(
                "heart rate",
                "/min",
                PER_MINUTE,
                range(20.0, 300.0),
            )),
        },
        Entry {
            id: ids::RESPIRATORY_RATE,
            display_en: "Respiratory rate",
            display_nb: "Respirasjonsfrekvens",
            codings: &[
                Coding::loinc(ids::RESPIRATORY_RATE),
                Coding::sct("86290005"),
            ],
            kind: EntryKind::Quantity(QuantitySpec::new(
                "respiratory rate",
                "/min",
                PER_MINUTE,
                range(2.0, 80.0),
            )),
        },
        Entry {
            id: ids::OXYGEN_SATURATION,
            display_en: "Oxygen saturation",
            display_nb: "Oksygenmetning",
            codings: &[
                Coding::loinc(ids::OXYGEN_SATURATION),
                Coding::loinc("59408-5"),
                Coding::sct("431314004"),
            ],
            kind: EntryKind::Quantity(QuantitySpec::new(
                "oxygen saturation",
                "%",
                &[unit("%")],
                range(50.0, 100.0),
            )),
        },
        Entry {
            id: ids::BODY_TEMPERATURE,
            display_en: "Body temperature",
            display_nb: "Kroppstemperatur",
            codings: &[
                Coding::loinc(ids::BODY_TEMPERATURE),
                Coding::sct("276885007"),
            ],
            kind: EntryKind::Quantity(QuantitySpec::new(
                "body temperature",
                "Cel",
                &[
                    unit("Cel"),
                    AcceptedUnit {
                        code: "[degF]",
                        conversion: Conversion::FahrenheitToCelsius,
                    },
                ],
                range(25.0, 45.0),
            )),
        },
        Entry {
            id: ids::BLOOD_PRESSURE,
            display_en: "Blood pressure",
            display_nb: "Blodtrykk",
            codings: &[Coding::loinc(ids::BLOOD_PRESSURE), Coding::sct("75367002")],
            kind: EntryKind::Panel(BLOOD_PRESSURE_COMPONENTS),
        },
        Entry {
            id: ids::BODY_WEIGHT,
            display_en: "Body weight",
            display_nb: "Kroppsvekt",
            codings: &[Coding::loinc(ids::BODY_WEIGHT), Coding::sct("27113001")],
            kind: EntryKind::Quantity(QuantitySpec::new(
                "body weight",
                "kg",
                &[
                    unit("kg"),
                    AcceptedUnit {
                        code: "g",
                        conversion: Conversion::Divide(1000.0),
                    },
                    AcceptedUnit {
                        code: "[lb_av]",
                        conversion: Conversion::Multiply(0.453_592_37),
                    },
                ],
                range(0.3, 500.0),
            )),
        },
        Entry {
            id: ids::BODY_HEIGHT,
            display_en: "Body height",
            display_nb: "Kroppshøyde",
            codings: &[Coding::loinc(ids::BODY_HEIGHT), Coding::sct("50373000")],
            kind: EntryKind::Quantity(QuantitySpec::new(
                "body height",
                "cm",
                &[
                    unit("cm"),
                    AcceptedUnit {
                        code: "[in_i]",
                        conversion: Conversion::Multiply(2.54),
                    },
                ],
                range(20.0, 280.0),
            )),
        },
        Entry {
            id: ids::BMI,
            display_en: "Body mass index",
            display_nb: "Kroppsmasseindeks",
            codings: &[Coding::loinc(ids::BMI), Coding::sct("60621009")],
            kind: EntryKind::Quantity(QuantitySpec::new(
                "body mass index",
                "kg/m2",
                &[unit("kg/m2")],
                range(5.0, 150.0),
            )),
        },
        Entry {
            id: ids::BLOOD_GLUCOSE,
            display_en: "Blood glucose",
            display_nb: "Blodsukker",
            codings: &[
                Coding::loinc(ids::BLOOD_GLUCOSE),
                Coding::loinc("2339-0"),
                Coding::sct("434912009"),
                Coding::npu("NPU02187"),
            ],
            kind: EntryKind::Quantity(QuantitySpec::new(
                "blood glucose",
                "mmol/L",
                &[
                    unit("mmol/L"),
                    AcceptedUnit {
                        code: "mg/dL",
                        conversion: Conversion::Divide(18.016),
                    },
                ],
                range(0.5, 60.0),
            )),
        },
        Entry {
            id: ids::NEWS2_TOTAL,
            display_en: "NEWS2 total score",
            display_nb: "NEWS2 totalskår",
            codings: &[Coding::sct(ids::NEWS2_TOTAL)],
            kind: EntryKind::Score(ScoreValueKind::Integer),
        },
        Entry {
            id: ids::CLINICAL_FRAILTY_SCALE,
            display_en: "Clinical Frailty Scale score",
            display_nb: "Klinisk skrøpelighetsskala (CFS)",
            codings: &[Coding::sct(ids::CLINICAL_FRAILTY_SCALE)],
            kind: EntryKind::Score(ScoreValueKind::Integer),
        },
        Entry {
            id: ids::ACVPU,
            display_en: "Level of consciousness (ACVPU)",
            display_nb: "Bevissthetsnivå (ACVPU)",
            codings: &[Coding::sct(ids::ACVPU)],
            kind: EntryKind::Score(ScoreValueKind::Coded),
        },
    ],
};

/// Known codes we refuse, with the reason given to the source.
const REFUSALS: &[(Coding, &str)] = &[
    (
        Coding::loinc("85353-1"),
        "the vital signs panel 85353-1 has no value; send each vital sign as its own observation",
    ),
    (
        Coding::loinc("9843-4"),
        "head circumference 9843-4 is not supported yet",
    ),
    (
        Coding::loinc("8478-0"),
        "mean arterial pressure 8478-0 is not supported yet; send the blood pressure panel 85354-9",
    ),
    (
        Coding::loinc(ids::SYSTOLIC),
        "systolic blood pressure 8480-6 must be sent as a component of the blood pressure panel 85354-9",
    ),
    (
        Coding::loinc(ids::DIASTOLIC),
        "diastolic blood pressure 8462-4 must be sent as a component of the blood pressure panel 85354-9",
    ),
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashSet;

    use super::*;
    use crate::units::{KNOWN_UNITS, PlausibilityError, Quantity, UnitError, check_blood_pressure};

    fn catalogue() -> &'static Catalogue {
        Catalogue::standard()
    }

    fn spec(id: &str) -> &'static QuantitySpec {
        catalogue().lookup_id(id).unwrap().quantity().unwrap()
    }

    fn approx(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    #[test]
    fn every_design_code_is_found() {
        let cases = [
            (LOINC, "8867-4", ids::HEART_RATE),
            (SNOMED_CT, "364075005", ids::HEART_RATE),
            (LOINC, "9279-1", ids::RESPIRATORY_RATE),
            (SNOMED_CT, "86290005", ids::RESPIRATORY_RATE),
            (LOINC, "2708-6", ids::OXYGEN_SATURATION),
            (LOINC, "59408-5", ids::OXYGEN_SATURATION),
            (SNOMED_CT, "431314004", ids::OXYGEN_SATURATION),
            (LOINC, "8310-5", ids::BODY_TEMPERATURE),
            (SNOMED_CT, "276885007", ids::BODY_TEMPERATURE),
            (LOINC, "85354-9", ids::BLOOD_PRESSURE),
            (SNOMED_CT, "75367002", ids::BLOOD_PRESSURE),
            (LOINC, "29463-7", ids::BODY_WEIGHT),
            (SNOMED_CT, "27113001", ids::BODY_WEIGHT),
            (LOINC, "8302-2", ids::BODY_HEIGHT),
            (SNOMED_CT, "50373000", ids::BODY_HEIGHT),
            (LOINC, "39156-5", ids::BMI),
            (SNOMED_CT, "60621009", ids::BMI),
            (LOINC, "15074-8", ids::BLOOD_GLUCOSE),
            (LOINC, "2339-0", ids::BLOOD_GLUCOSE),
            (SNOMED_CT, "434912009", ids::BLOOD_GLUCOSE),
            (NPU, "NPU02187", ids::BLOOD_GLUCOSE),
            (SNOMED_CT, "1104051000000101", ids::NEWS2_TOTAL),
            (SNOMED_CT, "763264000", ids::CLINICAL_FRAILTY_SCALE),
            (SNOMED_CT, "1104441000000107", ids::ACVPU),
        ];
        for (system, code, id) in cases {
            let entry = catalogue().lookup(system, code);
            assert_eq!(entry.map(Entry::id), Some(id), "{system} {code}");
            assert_eq!(
                catalogue().lookup_code(code).map(Entry::id),
                Some(id),
                "{code}"
            );
        }
        assert_eq!(catalogue().entries().len(), 12);
    }

    #[test]
    fn system_uris_are_exact() {
        assert_eq!(LOINC, "http://loinc.org");
        assert_eq!(SNOMED_CT, "http://snomed.info/sct");
        assert_eq!(NPU, "urn:oid:2.16.578.1.12.4.1.1.7280");
    }

    #[test]
    fn code_in_the_wrong_system_is_not_found() {
        assert!(catalogue().lookup(SNOMED_CT, "8867-4").is_none());
        assert!(catalogue().lookup(LOINC, "364075005").is_none());
        assert!(catalogue().lookup("http://loinc.org/", "8867-4").is_none());
        assert!(catalogue().lookup(LOINC, "8867-4 ").is_none());
        assert!(catalogue().lookup(NPU, "npu02187").is_none());
    }

    #[test]
    fn unsupported_codes_are_not_in_the_catalogue_and_have_reasons() {
        for code in ["85353-1", "9843-4", "8478-0", "8480-6", "8462-4"] {
            assert!(catalogue().lookup(LOINC, code).is_none(), "{code}");
            let reason = catalogue().refusal_reason(LOINC, code).unwrap();
            assert!(reason.contains(code));
            assert_eq!(reason, reason.to_lowercase());
        }
        assert!(catalogue().refusal_reason(LOINC, "8867-4").is_none());
        assert!(catalogue().refusal_reason(LOINC, "1234-5").is_none());
        assert!(catalogue().lookup(LOINC, "1234-5").is_none());
    }

    #[test]
    fn ids_are_unique_and_the_primary_code() {
        let mut ids = HashSet::new();
        for entry in catalogue().entries() {
            assert!(ids.insert(entry.id()), "{}", entry.id());
            assert_eq!(entry.primary_coding().code, entry.id());
            assert!(!entry.codings().is_empty());
            assert_eq!(catalogue().lookup_id(entry.id()), Some(entry));
            for component in entry.components() {
                assert!(ids.insert(component.id()));
                assert_eq!(component.codings()[0], Coding::loinc(component.id()));
            }
        }
    }

    #[test]
    fn codes_are_unique_across_the_catalogue() {
        let mut codes = HashSet::new();
        for entry in catalogue().entries() {
            let component_codings = entry.components().iter().flat_map(|c| c.codings());
            for coding in entry.codings().iter().chain(component_codings) {
                assert!(codes.insert(coding.code), "{}", coding.code);
            }
        }
    }

    #[test]
    fn entries_with_a_loinc_code_use_it_as_id() {
        for entry in catalogue().entries() {
            match entry.kind() {
                EntryKind::Score(_) => assert_eq!(entry.primary_coding().system, SNOMED_CT),
                _ => assert_eq!(entry.primary_coding().system, LOINC),
            }
        }
    }

    #[test]
    fn display_names_are_set_in_both_languages() {
        for entry in catalogue().entries() {
            assert!(!entry.display_en().is_empty());
            assert!(!entry.display_nb().is_empty());
            if let Some(spec) = entry.quantity() {
                assert_eq!(spec.measurement(), entry.display_en().to_lowercase());
            }
            for component in entry.components() {
                assert!(!component.display_nb().is_empty());
                assert_eq!(
                    component.quantity().measurement(),
                    component.display_en().to_lowercase()
                );
            }
        }
    }

    #[test]
    fn accepted_units_are_known_and_canonical_first() {
        let specs = catalogue()
            .entries()
            .iter()
            .filter_map(Entry::quantity)
            .chain(
                catalogue()
                    .entries()
                    .iter()
                    .flat_map(|e| e.components().iter().map(Component::quantity)),
            );
        for spec in specs {
            let first = spec.accepted_units()[0];
            assert_eq!(first.code, spec.canonical_unit());
            assert_eq!(first.conversion, Conversion::Identity);
            for unit in spec.accepted_units() {
                assert!(KNOWN_UNITS.contains(&unit.code), "{}", unit.code);
            }
        }
    }

    #[test]
    fn ranges_follow_the_design() {
        let cases = [
            (ids::HEART_RATE, "/min", 20.0, 300.0),
            (ids::RESPIRATORY_RATE, "/min", 2.0, 80.0),
            (ids::OXYGEN_SATURATION, "%", 50.0, 100.0),
            (ids::BODY_TEMPERATURE, "Cel", 25.0, 45.0),
            (ids::BODY_WEIGHT, "kg", 0.3, 500.0),
            (ids::BODY_HEIGHT, "cm", 20.0, 280.0),
            (ids::BMI, "kg/m2", 5.0, 150.0),
            (ids::BLOOD_GLUCOSE, "mmol/L", 0.5, 60.0),
        ];
        for (id, unit, min, max) in cases {
            let spec = spec(id);
            assert_eq!(spec.canonical_unit(), unit, "{id}");
            assert_eq!(spec.range(), PlausibleRange { min, max }, "{id}");
            assert!(spec.check_plausible(min).is_ok(), "{id} min");
            assert!(spec.check_plausible(max).is_ok(), "{id} max");
            assert!(spec.check_plausible(min - 0.01).is_err(), "{id} below");
            assert!(spec.check_plausible(max + 0.01).is_err(), "{id} above");
        }
    }

    #[test]
    fn blood_pressure_panel_has_systolic_and_diastolic() {
        let bp = catalogue().lookup(LOINC, "85354-9").unwrap();
        assert!(bp.quantity().is_none());
        assert_eq!(bp.components().len(), 2);
        let systolic = bp.component(LOINC, "8480-6").unwrap();
        assert_eq!(bp.component(SNOMED_CT, "271649006"), Some(systolic));
        assert_eq!(systolic.id(), ids::SYSTOLIC);
        assert_eq!(systolic.quantity().canonical_unit(), "mm[Hg]");
        assert_eq!(systolic.quantity().range(), range(40.0, 300.0));
        let diastolic = bp.component(LOINC, "8462-4").unwrap();
        assert_eq!(bp.component(SNOMED_CT, "271650006"), Some(diastolic));
        assert_eq!(diastolic.quantity().range(), range(20.0, 200.0));
        assert_eq!(bp.component_by_id(ids::DIASTOLIC), Some(diastolic));
        assert!(bp.component(LOINC, "8867-4").is_none());
        assert!(spec_of_heart_rate_has_no_components());
    }

    fn spec_of_heart_rate_has_no_components() -> bool {
        let hr = catalogue().lookup_id(ids::HEART_RATE).unwrap();
        hr.components().is_empty() && hr.component(LOINC, "8480-6").is_none()
    }

    #[test]
    fn blood_pressure_values_are_checked_per_component_and_together() {
        let bp = catalogue().lookup_id(ids::BLOOD_PRESSURE).unwrap();
        let sys = bp.component_by_id(ids::SYSTOLIC).unwrap().quantity();
        let dia = bp.component_by_id(ids::DIASTOLIC).unwrap().quantity();
        assert!(sys.normalise(120.0, "mm[Hg]").is_ok());
        assert!(dia.normalise(80.0, "mm[Hg]").is_ok());
        assert!(sys.check_plausible(39.0).is_err());
        assert!(dia.check_plausible(201.0).is_err());
        assert!(matches!(
            sys.convert(120.0, "mmHg"),
            Err(UnitError::Unknown { .. })
        ));
        assert!(matches!(
            sys.convert(120.0, "mm[hg]"),
            Err(UnitError::Unknown { .. })
        ));
        assert_eq!(
            check_blood_pressure(120.0, 130.0),
            Err(PlausibilityError::DiastolicNotBelowSystolic {
                systolic: 120.0,
                diastolic: 130.0
            })
        );
    }

    #[test]
    fn scores_are_kept_uninterpreted() {
        let news2 = catalogue().lookup(SNOMED_CT, "1104051000000101").unwrap();
        assert_eq!(news2.kind(), &EntryKind::Score(ScoreValueKind::Integer));
        assert!(news2.quantity().is_none());
        let cfs = catalogue().lookup(SNOMED_CT, "763264000").unwrap();
        assert_eq!(cfs.kind(), &EntryKind::Score(ScoreValueKind::Integer));
        let acvpu = catalogue().lookup(SNOMED_CT, "1104441000000107").unwrap();
        assert_eq!(acvpu.kind(), &EntryKind::Score(ScoreValueKind::Coded));
    }

    #[test]
    fn grams_convert_to_kilograms() {
        let q = spec(ids::BODY_WEIGHT).convert(3500.0, "g").unwrap();
        assert_eq!(
            q,
            Quantity {
                value: 3.5,
                unit: "kg"
            }
        );
    }

    #[test]
    fn pounds_convert_to_kilograms() {
        let q = spec(ids::BODY_WEIGHT).convert(150.0, "[lb_av]").unwrap();
        assert_eq!(q.unit, "kg");
        approx(q.value, 68.0388555);
        approx(
            spec(ids::BODY_WEIGHT)
                .convert(1.0, "[lb_av]")
                .unwrap()
                .value,
            0.45359237,
        );
    }

    #[test]
    fn kilograms_stay_kilograms() {
        let q = spec(ids::BODY_WEIGHT).convert(72.4, "kg").unwrap();
        assert_eq!(
            q,
            Quantity {
                value: 72.4,
                unit: "kg"
            }
        );
    }

    #[test]
    fn fahrenheit_converts_to_celsius() {
        let q = spec(ids::BODY_TEMPERATURE).convert(98.6, "[degF]").unwrap();
        assert_eq!(
            q,
            Quantity {
                value: 37.0,
                unit: "Cel"
            }
        );
        let fever = spec(ids::BODY_TEMPERATURE)
            .convert(102.2, "[degF]")
            .unwrap();
        approx(fever.value, 39.0);
        let celsius = spec(ids::BODY_TEMPERATURE).convert(36.8, "Cel").unwrap();
        assert_eq!(celsius.value, 36.8);
    }

    #[test]
    fn inches_convert_to_centimetres() {
        let q = spec(ids::BODY_HEIGHT).convert(70.0, "[in_i]").unwrap();
        assert_eq!(
            q,
            Quantity {
                value: 177.8,
                unit: "cm"
            }
        );
        assert_eq!(
            spec(ids::BODY_HEIGHT).convert(180.0, "cm").unwrap().value,
            180.0
        );
    }

    #[test]
    fn glucose_mg_per_dl_converts_to_mmol_per_l() {
        let q = spec(ids::BLOOD_GLUCOSE).convert(90.072, "mg/dL").unwrap();
        assert_eq!(q.unit, "mmol/L");
        approx(q.value, 90.072 / 18.016);
        approx(
            spec(ids::BLOOD_GLUCOSE)
                .convert(180.16, "mg/dL")
                .unwrap()
                .value,
            10.0,
        );
        assert_eq!(
            spec(ids::BLOOD_GLUCOSE)
                .convert(5.4, "mmol/L")
                .unwrap()
                .value,
            5.4
        );
    }

    #[test]
    fn lower_case_mmol_per_litre_is_tolerated_but_other_cases_are_not() {
        let glucose = spec(ids::BLOOD_GLUCOSE);
        assert_eq!(glucose.convert(5.4, "mmol/l").unwrap().unit, "mmol/L");
        assert!(matches!(
            glucose.convert(5.4, "MMOL/L"),
            Err(UnitError::Unknown { .. })
        ));
        assert!(matches!(
            glucose.convert(5.4, "mg/dl"),
            Err(UnitError::Unknown { .. })
        ));
        assert!(matches!(
            glucose.convert(5.4, "Mmol/L"),
            Err(UnitError::Unknown { .. })
        ));
    }

    #[test]
    fn celsius_is_case_sensitive() {
        let temperature = spec(ids::BODY_TEMPERATURE);
        assert!(temperature.convert(37.0, "Cel").is_ok());
        assert!(matches!(
            temperature.convert(37.0, "cel"),
            Err(UnitError::Unknown { .. })
        ));
        assert!(matches!(
            temperature.convert(37.0, "CEL"),
            Err(UnitError::Unknown { .. })
        ));
        assert!(matches!(
            temperature.convert(37.0, "°C"),
            Err(UnitError::Unknown { .. })
        ));
        assert!(matches!(
            temperature.convert(98.6, "[degf]"),
            Err(UnitError::Unknown { .. })
        ));
    }

    #[test]
    fn rates_accept_per_minute_with_annotations() {
        for id in [ids::HEART_RATE, ids::RESPIRATORY_RATE] {
            for unit in ["/min", "{beats}/min", "{breaths}/min", "1/min"] {
                let q = spec(id).convert(30.0, unit).unwrap();
                assert_eq!(
                    q,
                    Quantity {
                        value: 30.0,
                        unit: "/min"
                    },
                    "{id} {unit}"
                );
            }
            assert!(matches!(
                spec(id).convert(30.0, "/s"),
                Err(UnitError::Unknown { .. })
            ));
            assert!(matches!(
                spec(id).convert(30.0, "/Min"),
                Err(UnitError::Unknown { .. })
            ));
        }
    }

    #[test]
    fn incompatible_units_are_refused() {
        assert!(matches!(
            spec(ids::HEART_RATE).convert(70.0, "kg"),
            Err(UnitError::Incompatible { .. })
        ));
        assert!(matches!(
            spec(ids::BODY_WEIGHT).convert(70.0, "cm"),
            Err(UnitError::Incompatible { .. })
        ));
        assert!(matches!(
            spec(ids::OXYGEN_SATURATION).convert(97.0, "/min"),
            Err(UnitError::Incompatible { .. })
        ));
        assert!(matches!(
            spec(ids::BMI).convert(24.0, "kg"),
            Err(UnitError::Incompatible { .. })
        ));
        assert!(matches!(
            spec(ids::BODY_HEIGHT).convert(70.0, "mg/dL"),
            Err(UnitError::Incompatible { .. })
        ));
        assert_eq!(
            spec(ids::BODY_WEIGHT)
                .convert(70.0, "cm")
                .unwrap_err()
                .to_string(),
            "unit cm is not accepted for body weight (accepted: kg, g, [lb_av])"
        );
    }

    #[test]
    fn range_is_checked_after_conversion() {
        let weight = spec(ids::BODY_WEIGHT);
        assert!(weight.normalise(300.0, "g").is_ok());
        assert!(weight.normalise(299.0, "g").is_err());
        assert!(weight.normalise(1100.0, "[lb_av]").is_ok());
        assert!(weight.normalise(1110.0, "[lb_av]").is_err());
        let temperature = spec(ids::BODY_TEMPERATURE);
        assert!(temperature.normalise(113.0, "[degF]").is_ok());
        assert!(temperature.normalise(113.5, "[degF]").is_err());
        let glucose = spec(ids::BLOOD_GLUCOSE);
        assert!(glucose.normalise(9.008, "mg/dL").is_ok());
        assert!(glucose.normalise(9.0, "mg/dL").is_err());
    }

    #[test]
    fn range_message_for_weight() {
        assert_eq!(
            spec(ids::BODY_WEIGHT)
                .check_plausible(600.0)
                .unwrap_err()
                .to_string(),
            "value 600 kg is outside the plausible range 0.3–500 kg"
        );
    }

    #[test]
    fn supported_codes_text_lists_every_code() {
        let text = catalogue().supported_codes_text();
        assert!(
            text.starts_with("supported codes: heart rate: LOINC 8867-4, SNOMED CT 364075005;")
        );
        for entry in catalogue().entries() {
            for coding in entry.codings() {
                assert!(text.contains(coding.code), "{}", coding.code);
            }
        }
        assert!(text.contains("NPU NPU02187"));
        assert!(!text.contains("85353-1"));
    }
}
