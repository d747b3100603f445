//! [`IdentifierSystem`]: which register a FHIR identifier's `system` URI names.

use std::fmt;

use super::national_id::IdKind;
use super::oid;

/// A Norwegian identifier system, named by its OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentifierSystem {
    /// Fødselsnummer, [`oid::FODSELSNUMMER`].
    Fodselsnummer,
    /// D-number, [`oid::D_NUMBER`].
    DNumber,
    /// FH-number, [`oid::FH_NUMBER`].
    FhNumber,
    /// HPR number, [`oid::HPR`].
    Hpr,
    /// Organisation number, [`oid::ORG_NUMBER`] (also HelseID's [`oid::ORG_NUMBER_HELSEID`]).
    OrgNumber,
    /// RESH id, [`oid::RESH`].
    Resh,
}

impl IdentifierSystem {
    /// Every system, in a fixed order.
    pub const ALL: [IdentifierSystem; 6] = [
        Self::Fodselsnummer,
        Self::DNumber,
        Self::FhNumber,
        Self::Hpr,
        Self::OrgNumber,
        Self::Resh,
    ];

    /// The system a URI names, or `None` for an unknown URI. Matching is exact.
    pub fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            oid::FODSELSNUMMER => Some(Self::Fodselsnummer),
            oid::D_NUMBER => Some(Self::DNumber),
            oid::FH_NUMBER => Some(Self::FhNumber),
            oid::HPR => Some(Self::Hpr),
            oid::ORG_NUMBER | oid::ORG_NUMBER_HELSEID => Some(Self::OrgNumber),
            oid::RESH => Some(Self::Resh),
            _ => None,
        }
    }

    /// The canonical URI of the system.
    pub fn uri(self) -> &'static str {
        match self {
            Self::Fodselsnummer => oid::FODSELSNUMMER,
            Self::DNumber => oid::D_NUMBER,
            Self::FhNumber => oid::FH_NUMBER,
            Self::Hpr => oid::HPR,
            Self::OrgNumber => oid::ORG_NUMBER,
            Self::Resh => oid::RESH,
        }
    }

    /// A short English label for messages, e.g. `"organisation number"`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Fodselsnummer => "fødselsnummer",
            Self::DNumber => "d-number",
            Self::FhNumber => "fh-number",
            Self::Hpr => "hpr number",
            Self::OrgNumber => "organisation number",
            Self::Resh => "resh id",
        }
    }

    /// The national id kind this system carries, or `None` for systems that do not name
    /// persons (HPR, organisation number, RESH).
    ///
    /// H-numbers have no OID of their own here, so no system maps to [`IdKind::HNumber`].
    pub fn national_id_kind(self) -> Option<IdKind> {
        match self {
            Self::Fodselsnummer => Some(IdKind::Fodselsnummer),
            Self::DNumber => Some(IdKind::DNumber),
            Self::FhNumber => Some(IdKind::FhNumber),
            Self::Hpr | Self::OrgNumber | Self::Resh => None,
        }
    }
}

impl fmt::Display for IdentifierSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.uri())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_system_round_trips_through_its_uri() {
        for system in IdentifierSystem::ALL {
            assert_eq!(IdentifierSystem::from_uri(system.uri()), Some(system));
        }
    }

    #[test]
    fn helseid_organisation_oid_is_an_alias() {
        assert_eq!(
            IdentifierSystem::from_uri("urn:oid:2.16.578.1.12.4.1.2.101"),
            Some(IdentifierSystem::OrgNumber)
        );
        assert_eq!(
            IdentifierSystem::OrgNumber.uri(),
            "urn:oid:2.16.578.1.12.4.1.4.101"
        );
    }

    #[test]
    fn uris_are_the_norwegian_oids() {
        assert_eq!(
            IdentifierSystem::Fodselsnummer.uri(),
            "urn:oid:2.16.578.1.12.4.1.4.1"
        );
        assert_eq!(
            IdentifierSystem::DNumber.uri(),
            "urn:oid:2.16.578.1.12.4.1.4.2"
        );
        assert_eq!(
            IdentifierSystem::FhNumber.uri(),
            "urn:oid:2.16.578.1.12.4.1.4.3"
        );
        assert_eq!(IdentifierSystem::Hpr.uri(), "urn:oid:2.16.578.1.12.4.1.4.4");
        assert_eq!(
            IdentifierSystem::Resh.uri(),
            "urn:oid:2.16.578.1.12.4.1.4.102"
        );
    }

    #[test]
    fn unknown_and_near_miss_uris_are_rejected() {
        for uri in [
            "",
            "urn:oid:2.16.578.1.12.4.1.4",
            "urn:oid:2.16.578.1.12.4.1.4.10",
            "urn:oid:2.16.578.1.12.4.1.4.1 ",
            "URN:OID:2.16.578.1.12.4.1.4.1",
            "2.16.578.1.12.4.1.4.1",
            "http://hl7.org/fhir/sid/us-ssn",
        ] {
            assert_eq!(IdentifierSystem::from_uri(uri), None, "{uri:?}");
        }
    }

    #[test]
    fn only_person_systems_carry_national_id_kinds() {
        assert_eq!(
            IdentifierSystem::Fodselsnummer.national_id_kind(),
            Some(IdKind::Fodselsnummer)
        );
        assert_eq!(
            IdentifierSystem::DNumber.national_id_kind(),
            Some(IdKind::DNumber)
        );
        assert_eq!(
            IdentifierSystem::FhNumber.national_id_kind(),
            Some(IdKind::FhNumber)
        );
        assert_eq!(IdentifierSystem::Hpr.national_id_kind(), None);
        assert_eq!(IdentifierSystem::OrgNumber.national_id_kind(), None);
        assert_eq!(IdentifierSystem::Resh.national_id_kind(), None);
    }

    #[test]
    fn display_is_the_uri() {
        assert_eq!(
            IdentifierSystem::Hpr.to_string(),
            "urn:oid:2.16.578.1.12.4.1.4.4"
        );
    }
}
