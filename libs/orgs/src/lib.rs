//! The organisation register: organisation number → name, kind (municipality, hospital
//! trust, GP office, other) and municipality number.
//!
//! Used where people read organisation numbers (the citizen's log of use) and where
//! statistics group by kind of organisation or municipality and need denominators ("how
//! many municipalities are there").
//!
//! A sample register of Norwegian organisations is compiled in
//! ([`Register::embedded`], from `data/organisations.csv`); a deployment replaces it with its
//! own file of the same columns ([`Register::load`], [`Register::from_config`]):
//!
//! ```text
//! orgnr,name,type,municipality_number
//! 974589095,Oslo universitetssykehus HF,hospital_trust,0301
//! ```
//!
//! `type` is `municipality`, `hospital_trust`, `gp_office` or `other`;
//! `municipality_number` is four digits or empty. Lines starting with `#` are comments.
//! Every organisation number must pass the mod-11 check, and appear once.
//!
//! Organisation numbers and names are public (Enhetsregisteret), not personal data: they
//! may appear in logs and errors.
//!
//! Pure: no I/O except [`Register::load`] reading the file it is given.

mod csv;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

/// The sample register compiled into the binaries.
pub const EMBEDDED_CSV: &str = include_str!("../data/organisations.csv");

/// The header every register file starts with (after comments).
pub const HEADER: [&str; 4] = ["orgnr", "name", "type", "municipality_number"];

/// The kind of organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrgType {
    /// A municipality (*kommune*), e.g. its home care service.
    Municipality,
    /// A hospital trust (*helseforetak*).
    HospitalTrust,
    /// A GP office (*fastlegekontor*).
    GpOffice,
    /// Anything else (private hospitals, agencies, vendors).
    Other,
}

impl OrgType {
    pub const ALL: [OrgType; 4] = [
        OrgType::Municipality,
        OrgType::HospitalTrust,
        OrgType::GpOffice,
        OrgType::Other,
    ];

    /// The code in the register file and in statistics: `municipality`, `hospital_trust`,
    /// `gp_office`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgType::Municipality => "municipality",
            OrgType::HospitalTrust => "hospital_trust",
            OrgType::GpOffice => "gp_office",
            OrgType::Other => "other",
        }
    }

    /// The Norwegian (bokmål) name for people.
    pub fn label_nb(self) -> &'static str {
        match self {
            OrgType::Municipality => "Kommune",
            OrgType::HospitalTrust => "Helseforetak",
            OrgType::GpOffice => "Fastlegekontor",
            OrgType::Other => "Annen virksomhet",
        }
    }
}

impl fmt::Display for OrgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not one of the organisation type codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown organisation type; use municipality, hospital_trust, gp_office or other")]
pub struct UnknownOrgType;

impl FromStr for OrgType {
    type Err = UnknownOrgType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrgType::ALL
            .into_iter()
            .find(|t| t.as_str() == s.trim())
            .ok_or(UnknownOrgType)
    }
}

/// One organisation of the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    /// Nine digits, mod-11 valid.
    pub orgnr: String,
    pub name: String,
    pub org_type: OrgType,
    /// The municipality the organisation is in (four digits), when known.
    pub municipality_number: Option<String>,
}

/// One problem in a register file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the file.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Why a register could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("reading the organisation register {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the organisation register {} has {} problem(s): {}", .path.as_deref().map_or_else(|| "(text)".into(), |p| p.display().to_string()), .problems.len(), join(.problems))]
    Invalid {
        path: Option<PathBuf>,
        problems: Vec<Problem>,
    },
}

fn join(problems: &[Problem]) -> String {
    let shown: Vec<String> = problems.iter().take(10).map(Problem::to_string).collect();
    let more = problems.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{}; and {more} more", shown.join("; "))
    } else {
        shown.join("; ")
    }
}

/// Organisations by number. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Register {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// In file order.
    organisations: Vec<Organisation>,
    by_orgnr: HashMap<String, usize>,
}

// A test parses the embedded file, so it cannot fail in a released binary; an empty register
// (numbers shown without names) would be the harmless fallback.
static EMBEDDED: LazyLock<Register> =
    LazyLock::new(|| Register::parse(EMBEDDED_CSV).unwrap_or_default());

impl Register {
    /// The sample register compiled in (`data/organisations.csv`).
    pub fn embedded() -> Self {
        EMBEDDED.clone()
    }

    /// The register in the file at `path` (the columns of [`HEADER`]).
    pub fn load(path: &Path) -> Result<Self, RegisterError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegisterError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|error| match error {
            RegisterError::Invalid { problems, .. } => RegisterError::Invalid {
                path: Some(path.to_path_buf()),
                problems,
            },
            other => other,
        })
    }

    /// The file at `path` when configured, else the embedded sample.
    pub fn from_config(path: Option<&Path>) -> Result<Self, RegisterError> {
        match path {
            Some(path) => Self::load(path),
            None => Ok(Self::embedded()),
        }
    }

    /// Parse register text, reporting every problem at once.
    pub fn parse(text: &str) -> Result<Self, RegisterError> {
        let mut problems = Vec::new();
        let mut problem = |line: usize, message: String| problems.push(Problem { line, message });
        let mut records = csv::records(text).into_iter();
        match records.next() {
            Some(Ok(header)) => {
                let names: Vec<&str> = header.fields.iter().map(|f| f.trim()).collect();
                if names != HEADER {
                    problem(
                        header.line,
                        format!("the header must be {}", HEADER.join(",")),
                    );
                }
            }
            Some(Err((line, reason))) => problem(line, reason.to_owned()),
            None => problem(
                1,
                format!("empty: the header {} is missing", HEADER.join(",")),
            ),
        }
        let mut organisations = Vec::new();
        let mut by_orgnr = HashMap::new();
        for record in records {
            let record = match record {
                Ok(record) => record,
                Err((line, reason)) => {
                    problem(line, reason.to_owned());
                    continue;
                }
            };
            let line = record.line;
            let [orgnr, name, kind, municipality] = match <[String; 4]>::try_from(record.fields) {
                Ok(fields) => fields.map(|f| f.trim().to_owned()),
                Err(fields) => {
                    problem(line, format!("4 fields expected, found {}", fields.len()));
                    continue;
                }
            };
            let mut ok = true;
            if let Err(error) = pmd_domain::OrgNumber::parse(&orgnr) {
                problem(line, format!("orgnr {orgnr:?} is not valid: {error}"));
                ok = false;
            }
            if name.is_empty() {
                problem(line, "name is empty".into());
                ok = false;
            }
            let org_type = kind.parse::<OrgType>().unwrap_or_else(|error| {
                problem(line, format!("type {kind:?}: {error}"));
                ok = false;
                OrgType::Other
            });
            let municipality_number = if municipality.is_empty() {
                None
            } else if municipality.len() == 4 && municipality.bytes().all(|b| b.is_ascii_digit()) {
                Some(municipality)
            } else {
                problem(
                    line,
                    format!("municipality_number {municipality:?} must be four digits or empty"),
                );
                ok = false;
                None
            };
            if ok {
                if by_orgnr.contains_key(&orgnr) {
                    problem(line, format!("orgnr {orgnr} appears more than once"));
                    continue;
                }
                by_orgnr.insert(orgnr.clone(), organisations.len());
                organisations.push(Organisation {
                    orgnr,
                    name,
                    org_type,
                    municipality_number,
                });
            }
        }
        if !problems.is_empty() {
            return Err(RegisterError::Invalid {
                path: None,
                problems,
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                organisations,
                by_orgnr,
            }),
        })
    }

    /// The organisation with this number.
    pub fn get(&self, orgnr: &str) -> Option<&Organisation> {
        self.inner
            .by_orgnr
            .get(orgnr.trim())
            .and_then(|&i| self.inner.organisations.get(i))
    }

    /// The organisation's name.
    pub fn name(&self, orgnr: &str) -> Option<&str> {
        self.get(orgnr).map(|o| o.name.as_str())
    }

    /// The organisation's kind; [`OrgType::Other`] for numbers the register does not know.
    pub fn org_type(&self, orgnr: &str) -> OrgType {
        self.get(orgnr).map_or(OrgType::Other, |o| o.org_type)
    }

    /// The municipality the organisation is in, when known.
    pub fn municipality_number(&self, orgnr: &str) -> Option<&str> {
        self.get(orgnr)?.municipality_number.as_deref()
    }

    /// Every organisation, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Organisation> {
        self.inner.organisations.iter()
    }

    /// How many organisations of `kind` the register holds (statistics denominators).
    pub fn count(&self, kind: OrgType) -> usize {
        self.iter().filter(|o| o.org_type == kind).count()
    }

    pub fn len(&self) -> usize {
        self.inner.organisations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.organisations.is_empty()
    }
}

#[cfg(test)]
mod tests;
