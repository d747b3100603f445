//! Pure domain logic for Pasientens måledata.
//!
//! Everything here is free of I/O, clocks, environment and networking, so it is tested
//! exhaustively and fast:
//!
//! - [`ident`]: Norwegian identifiers (fødselsnummer, D-, H- and FH-numbers, organisation
//!   and HPR numbers) and their OIDs;
//! - [`catalogue`]: the supported vital signs (LOINC, SNOMED CT, NPU) with units and
//!   plausible ranges;
//! - [`units`]: UCUM unit matching, conversion to the canonical unit and plausibility checks;
//! - [`datetime`]: FHIR `dateTime`/`date`/`instant` values with their precision, and FHIR
//!   search date parameters.

pub mod catalogue;
pub mod datetime;
pub mod ident;
pub mod units;

pub use catalogue::{Catalogue, Coding, Component, Entry, EntryKind, ScoreValueKind};
pub use datetime::{
    DateParam, DateParamError, DatePrefix, DateTimeError, FhirDateTime, InstantFilter, Precision,
};
pub use ident::{
    HprError, HprNumber, IdError, IdKind, IdPolicy, IdentifierSystem, NationalId, OrgNumber,
    OrgNumberError, synthetic_fnr, valid_org_number,
};
pub use units::{
    AcceptedUnit, Conversion, PlausibilityError, PlausibleRange, Quantity, QuantityError,
    QuantitySpec, UnitError, check_blood_pressure,
};
