//! FHIR search parameters → storage requests (no I/O).
//!
//! The routes hand over the parameters as ordered `(name, value)` pairs, already
//! percent-decoded (query string and, for `POST /fhir/Observation/_search`, the form body),
//! the optional `X-Pmd-Patient` header (it counts as a `patient` parameter), whether the
//! client sent `Prefer: handling=lenient`, and the national-id policy. Out come typed
//! [`SearchParams`] / [`LastnParams`], or one `400` [`ServiceError`] listing every problem
//! at once, each issue naming its parameter in `expression`. No diagnostic ever echoes a
//! national id.
//!
//! Decisions (FHIR R4 search, narrowed to one patient's vital signs):
//! - **Patient**: exactly one per search, in any of these forms: `patient=Patient/<id>`,
//!   `patient=<id>`, `patient.identifier=<oid>|<id>` (or a bare `<id>`, or `|<id>`),
//!   `patient:identifier=…`, `subject=Patient/<id>`, `subject=<id>`,
//!   `subject:Patient=<id>`, `subject.identifier=…`, `subject:identifier=…`, or the
//!   header (`<id>`, `Patient/<id>` or `<oid>|<id>`). The same patient given several
//!   times, in any forms, is one patient; different patients or a comma list are `400
//!   invalid`; a bad id is `400 value`.
//! - **Code**: a comma list is OR; repeated `code` parameters are AND. A measurement has
//!   one catalogue code, so AND is the intersection of the catalogue entries each
//!   parameter names. Known codes are normalised to the entry's primary coding; codes
//!   the catalogue does not know are no error, they find nothing.
//! - **Category**: `vital-signs` (bare or with the observation-category system) means
//!   every catalogue code; any other category matches nothing.
//! - **Nothing can match** (only unknown codes, disjoint `code` parameters, another
//!   category): [`SearchParams::matches_nothing`] is set and the storage request carries a
//!   code no catalogue entry has ([`NO_MATCH`]), so storage still checks access, audits and
//!   answers with an empty page. A search that can match nothing never widens to "every
//!   code".
//! - **Dates**: every `date` parameter must hold (AND); each is a prefix and the implicit
//!   range `[start, end)` of its value (`2024` is all of 2024, UTC for date-only values).
//! - **Paging**: `_count` defaults to 50; above 1000 it is clamped to 1000 (FHIR lets a
//!   server return fewer); 0, negatives and non-numbers are `400 value`. `_cursor` (the
//!   `next` link) carries the whole search, so only `_count`, `_format` and `_pretty` may
//!   accompany it; the header patient is then ignored (clients that always send it keep
//!   working) and [`SearchParams::patient`] is empty.
//! - **Unknown or unsupported** parameters (also `_summary`, `_elements`, modifiers such
//!   as `code:text`) are `400 not-supported`, unless lenient, when they are ignored and
//!   left out of the `self` link.
//! - A single-valued parameter (`_count`, `_sort`, `_total`, `_cursor`, `_format`, `max`)
//!   given twice with different values is `400 invalid`; the same value twice (query
//!   string and form body) is fine.

use std::fmt;

use pmd_domain::{Catalogue, DateParam, DateParamError, Entry, IdError, IdPolicy, NationalId};
use pmd_error::{ErrorCode, Issue, ServiceError};
use pmd_proto::common::v1::{Coding, Identifier, SortOrder, TimeRange};
use pmd_proto::storage::v1::{
    DateFilter, DatePrefix, LatestRequest, MeasurementView, QueryRequest,
};

/// Page size when `_count` is absent.
pub const DEFAULT_COUNT: u32 = 50;
/// Largest page; a larger `_count` is clamped to it.
pub const MAX_COUNT: u32 = 1000;
/// `$lastn` `max` when absent.
pub const DEFAULT_MAX: u32 = 1;
/// Largest `$lastn` `max` (per code).
pub const MAX_LASTN: u32 = 100;

/// The identifier system of an H-number, which has no OID among the ones we accept
/// (ingestion stores H-numbers under the same system; storage matches the value only).
pub const H_NUMBER_SYSTEM: &str = "urn:pmd:h-number";

/// FHIR's observation-category code system (`vital-signs`).
pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// The one category we hold.
pub const VITAL_SIGNS: &str = "vital-signs";

/// System of the coding [`to_query_request`] sends when the search can match nothing: no
/// catalogue entry has it, and storage answers unknown codes with no rows.
pub const NO_MATCH_SYSTEM: &str = "https://pmd.nhn.no/fhir/CodeSystem/no-match";

/// The coding that matches nothing (see [`NO_MATCH_SYSTEM`]).
pub const NO_MATCH: &str = "no-match";

/// Names under which a patient is given as a reference (`Patient/<id>` or `<id>`).
const PATIENT_REFERENCE_PARAMS: [&str; 4] =
    ["patient", "patient:Patient", "subject", "subject:Patient"];
/// Names under which a patient is given as an identifier token (`<oid>|<id>` or `<id>`).
const PATIENT_IDENTIFIER_PARAMS: [&str; 4] = [
    "patient.identifier",
    "patient:identifier",
    "subject.identifier",
    "subject:identifier",
];
/// Expression used for problems with the header.
const HEADER: &str = "X-Pmd-Patient";

/// A parsed `GET /fhir/Observation` (or `POST /fhir/Observation/_search`).
#[derive(Clone, PartialEq)]
pub struct SearchParams {
    /// The one patient, with the OID of the id's kind. Empty when [`cursor`](Self::cursor)
    /// is set (the cursor carries the patient).
    pub patient: Identifier,
    /// Codes to match, any of them (OR); empty = every code (unless
    /// [`matches_nothing`](Self::matches_nothing)). Known codes as the catalogue entry's
    /// primary coding, unknown ones as given (an empty system = any system).
    pub codes: Vec<Coding>,
    /// The filters cannot match any stored measurement (see the module docs).
    pub matches_nothing: bool,
    /// Every filter must hold (AND).
    pub dates: Vec<DateFilter>,
    /// Page size, 1..=1000.
    pub count: u32,
    /// Newest first unless `_sort=date`.
    pub order: SortOrder,
    /// `_total=accurate`: ask storage for the number of matches.
    pub total: bool,
    /// The opaque cursor of a `next` link.
    pub cursor: Option<String>,
    /// The accepted `code`, `category` and `date` parameters as given, in order: the
    /// filters [`self_link`] describes. Never a patient parameter.
    pub filters: Vec<(String, String)>,
}

impl fmt::Debug for SearchParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchParams")
            .field("patient", &MaskedPatient(&self.patient))
            .field("codes", &self.codes)
            .field("matches_nothing", &self.matches_nothing)
            .field("dates", &self.dates)
            .field("count", &self.count)
            .field("order", &self.order)
            .field("total", &self.total)
            .field("cursor", &self.cursor.as_ref().map(|_| "…"))
            .field("filters", &self.filters)
            .finish()
    }
}

/// A parsed `GET /fhir/Observation/$lastn`.
#[derive(Clone, PartialEq)]
pub struct LastnParams {
    /// The one patient, with the OID of the id's kind.
    pub patient: Identifier,
    /// As [`SearchParams::codes`]; empty = every vital-sign code.
    pub codes: Vec<Coding>,
    /// As [`SearchParams::matches_nothing`].
    pub matches_nothing: bool,
    /// Measurements per code, 1..=100.
    pub max: u32,
    /// The accepted `code` and `category` parameters as given, for [`lastn_self_link`].
    pub filters: Vec<(String, String)>,
}

impl fmt::Debug for LastnParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LastnParams")
            .field("patient", &MaskedPatient(&self.patient))
            .field("codes", &self.codes)
            .field("matches_nothing", &self.matches_nothing)
            .field("max", &self.max)
            .field("filters", &self.filters)
            .finish()
    }
}

/// Prints an identifier's system and a mask instead of the id.
struct MaskedPatient<'a>(&'a Identifier);

impl fmt::Debug for MaskedPatient<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mask = if self.0.value.is_empty() { "" } else { "***" };
        write!(f, "Identifier({}, {mask})", self.0.system)
    }
}

/// The identifier storage keys a patient by: the OID of the id's kind (H-numbers:
/// [`H_NUMBER_SYSTEM`]) and the digits.
pub fn patient_identifier(id: &NationalId) -> Identifier {
    Identifier {
        system: id.system_uri().unwrap_or(H_NUMBER_SYSTEM).to_owned(),
        value: id.expose_secret().to_owned(),
    }
}

/// Parses the parameters of an Observation search.
pub fn parse_search(
    params: &[(String, String)],
    header_patient: Option<&str>,
    lenient: bool,
    ids: &IdPolicy,
) -> Result<SearchParams, ServiceError> {
    let mut parser = Parser::new(ids, lenient);
    let paging = params.iter().any(|(name, _)| name == "_cursor");
    let mut count = Single::new("_count");
    let mut sort = Single::new("_sort");
    let mut total = Single::new("_total");
    let mut cursor = Single::new("_cursor");
    let mut dates = Vec::new();
    for (name, value) in params {
        let name = name.as_str();
        if paging && cursor_excludes(name) {
            parser.issue(
                "invalid",
                format!(
                    "{name} cannot be combined with _cursor: the next link carries the whole \
                     search; follow it as given (only _count may change)"
                ),
                name,
            );
            continue;
        }
        match name {
            "_count" => count.set(value, &mut parser.issues),
            "_sort" => sort.set(value, &mut parser.issues),
            "_total" => total.set(value, &mut parser.issues),
            "_cursor" => cursor.set(value, &mut parser.issues),
            "date" => {
                if let Some(filter) = parser.date(value) {
                    dates.push(filter);
                    parser.filters.push((name.to_owned(), value.clone()));
                }
            }
            _ => parser.common(name, value),
        }
    }
    let cursor = cursor.value;
    if cursor.as_deref() == Some("") {
        parser.issue("value", "_cursor is empty", "_cursor");
    }
    if cursor.is_none() {
        if let Some(header) = header_patient {
            parser.header_patient(header);
        }
        parser.require_patient();
    }
    let count = count
        .value
        .map_or(Some(DEFAULT_COUNT), |v| parse_count(&v, &mut parser.issues))
        .unwrap_or(DEFAULT_COUNT);
    let order = match sort.value.as_deref() {
        None | Some("-date") => SortOrder::NewestFirst,
        Some("date") => SortOrder::OldestFirst,
        Some(_) => {
            parser.issue(
                "not-supported",
                "_sort supports date (oldest first) and -date (newest first, the default)",
                "_sort",
            );
            SortOrder::NewestFirst
        }
    };
    let total = match total.value.as_deref() {
        None | Some("none" | "estimate") => false,
        Some("accurate") => true,
        Some(_) => {
            parser.issue(
                "value",
                "_total must be none, estimate or accurate",
                "_total",
            );
            false
        }
    };
    let (codes, matches_nothing) = parser.codes();
    let patient = parser.finish()?;
    Ok(SearchParams {
        patient,
        codes,
        matches_nothing,
        dates,
        count,
        order,
        total,
        cursor,
        filters: parser.filters,
    })
}

/// Parses the parameters of `$lastn`: the patient, `code`, `category` and `max`.
pub fn parse_lastn(
    params: &[(String, String)],
    header_patient: Option<&str>,
    lenient: bool,
    ids: &IdPolicy,
) -> Result<LastnParams, ServiceError> {
    let mut parser = Parser::new(ids, lenient);
    let mut max = Single::new("max");
    for (name, value) in params {
        match name.as_str() {
            "max" => max.set(value, &mut parser.issues),
            name => parser.common(name, value),
        }
    }
    if let Some(header) = header_patient {
        parser.header_patient(header);
    }
    parser.require_patient();
    let max = match max.value {
        None => DEFAULT_MAX,
        Some(value) => match value.parse::<u32>() {
            Ok(n) if (1..=MAX_LASTN).contains(&n) => n,
            _ => {
                parser.issue(
                    "value",
                    format!("max must be a whole number from 1 to {MAX_LASTN}"),
                    "max",
                );
                DEFAULT_MAX
            }
        },
    };
    let (codes, matches_nothing) = parser.codes();
    let patient = parser.finish()?;
    Ok(LastnParams {
        patient,
        codes,
        matches_nothing,
        max,
        filters: parser.filters,
    })
}

/// The storage request for a search (the FHIR view: the edge splices the stored renderings
/// into the Bundle).
pub fn to_query_request(params: &SearchParams) -> QueryRequest {
    QueryRequest {
        patient: (!params.patient.value.is_empty()).then(|| params.patient.clone()),
        codes: request_codes(&params.codes, params.matches_nothing),
        dates: params.dates.clone(),
        order: params.order as i32,
        page_size: i32::try_from(params.count).unwrap_or(i32::MAX),
        cursor: params.cursor.clone().unwrap_or_default(),
        include_total: params.total,
        view: MeasurementView::Fhir as i32,
    }
}

/// The storage request for `$lastn`.
pub fn to_latest_request(params: &LastnParams) -> LatestRequest {
    LatestRequest {
        patient: Some(params.patient.clone()),
        codes: request_codes(&params.codes, params.matches_nothing),
        max: i32::try_from(params.max).unwrap_or(i32::MAX),
        view: MeasurementView::Fhir as i32,
    }
}

fn request_codes(codes: &[Coding], matches_nothing: bool) -> Vec<Coding> {
    if matches_nothing {
        vec![coding(NO_MATCH_SYSTEM, NO_MATCH)]
    } else {
        codes.to_vec()
    }
}

/// The `self` link of a search page: `<base><path>?<filters>&_sort=…&_count=…` (and
/// `_total=accurate` when asked), or `<base><path>?_cursor=…&_count=…` for a later page.
/// It describes the search performed and never holds the patient: the client knows whom
/// it asked about, and URLs end up in logs.
pub fn self_link(base: &str, path: &str, params: &SearchParams) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(cursor) = &params.cursor {
        query.append_pair("_cursor", cursor);
    } else {
        for (name, value) in &params.filters {
            query.append_pair(name, value);
        }
        let sort = match params.order {
            SortOrder::OldestFirst => "date",
            SortOrder::NewestFirst | SortOrder::Unspecified => "-date",
        };
        query.append_pair("_sort", sort);
        if params.total {
            query.append_pair("_total", "accurate");
        }
    }
    query.append_pair("_count", &params.count.to_string());
    format!("{base}{path}?{}", query.finish())
}

/// The `next` link for a storage cursor: `<base>/fhir/Observation?_cursor=…&_count=…`.
pub fn next_link(base: &str, cursor: &str, count: u32) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("_cursor", cursor)
        .append_pair("_count", &count.to_string())
        .finish();
    format!("{base}/fhir/Observation?{query}")
}

/// The `self` link of a `$lastn` answer: its code filters and `max`, never the patient.
pub fn lastn_self_link(base: &str, params: &LastnParams) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &params.filters {
        query.append_pair(name, value);
    }
    query.append_pair("max", &params.max.to_string());
    format!("{base}/fhir/Observation/$lastn?{}", query.finish())
}

/// Parameters that `_cursor` replaces.
fn cursor_excludes(name: &str) -> bool {
    matches!(name, "code" | "category" | "date" | "_sort" | "_total") || is_patient_param(name)
}

fn is_patient_param(name: &str) -> bool {
    PATIENT_REFERENCE_PARAMS.contains(&name) || PATIENT_IDENTIFIER_PARAMS.contains(&name)
}

fn parse_count(value: &str, issues: &mut Vec<Issue>) -> Option<u32> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    if !digits {
        issues.push(
            Issue::error(
                "value",
                format!("_count must be a whole number from 1 to {MAX_COUNT}"),
            )
            .at("_count"),
        );
        return None;
    }
    if value.bytes().all(|b| b == b'0') {
        issues.push(Issue::error("value", "_count must be at least 1").at("_count"));
        return None;
    }
    // Digits only and not zero: anything that does not fit is far above the limit.
    Some(value.parse::<u32>().map_or(MAX_COUNT, |n| n.min(MAX_COUNT)))
}

/// A parameter that may be given once (or repeated with the same value).
struct Single {
    name: &'static str,
    value: Option<String>,
}

impl Single {
    fn new(name: &'static str) -> Self {
        Self { name, value: None }
    }

    fn set(&mut self, value: &str, issues: &mut Vec<Issue>) {
        match &self.value {
            None => self.value = Some(value.to_owned()),
            Some(previous) if previous == value => {}
            Some(_) => issues.push(
                Issue::error(
                    "invalid",
                    format!(
                        "{} is given more than once with different values",
                        self.name
                    ),
                )
                .at(self.name),
            ),
        }
    }
}

/// One `code` token, resolved against the catalogue.
#[derive(Clone)]
enum Token {
    Known(&'static Entry),
    Unknown(Coding),
}

/// What the search and `$lastn` share: the patient, `code`, `category`, `_format`, the
/// unsupported and unknown parameters.
struct Parser<'a> {
    ids: &'a IdPolicy,
    lenient: bool,
    issues: Vec<Issue>,
    patient: Option<NationalId>,
    /// A patient parameter was given (valid or not): no "required" issue then.
    patient_given: bool,
    /// Several different patients were reported already (report it once).
    patient_conflict: bool,
    code_groups: Vec<Vec<Token>>,
    /// Per `category` parameter: whether it includes vital-signs.
    categories: Vec<bool>,
    format: Single,
    filters: Vec<(String, String)>,
}

impl<'a> Parser<'a> {
    fn new(ids: &'a IdPolicy, lenient: bool) -> Self {
        Self {
            ids,
            lenient,
            issues: Vec::new(),
            patient: None,
            patient_given: false,
            patient_conflict: false,
            code_groups: Vec::new(),
            categories: Vec::new(),
            format: Single::new("_format"),
            filters: Vec::new(),
        }
    }

    fn issue(&mut self, code: &str, diagnostics: impl Into<String>, expression: &str) {
        self.issues
            .push(Issue::error(code, diagnostics).at(expression));
    }

    /// The parameters every Observation read understands; anything else is unknown.
    fn common(&mut self, name: &str, value: &str) {
        match name {
            _ if PATIENT_REFERENCE_PARAMS.contains(&name) => {
                self.patient_value(name, value, PatientForm::Reference);
            }
            _ if PATIENT_IDENTIFIER_PARAMS.contains(&name) => {
                self.patient_value(name, value, PatientForm::Identifier);
            }
            "code" => {
                if let Some(tokens) = self.code_tokens(value) {
                    self.code_groups.push(tokens);
                    self.filters.push((name.to_owned(), value.to_owned()));
                }
            }
            "category" => {
                if let Some(vital) = self.category(value) {
                    self.categories.push(vital);
                    self.filters.push((name.to_owned(), value.to_owned()));
                }
            }
            "_format" => {
                let mut issues = Vec::new();
                self.format.set(value, &mut issues);
                self.issues.append(&mut issues);
                // `+` arrives as a space when the client did not percent-encode it.
                let json = matches!(
                    value,
                    "json" | "application/json" | "application/fhir+json" | "application/fhir json"
                );
                if !json && !self.lenient {
                    self.issue(
                        "not-supported",
                        "_format: this server speaks FHIR JSON only (json or application/fhir+json)",
                        "_format",
                    );
                }
            }
            // Formatting only; the answer is the same.
            "_pretty" => {}
            "_summary" | "_elements" => {
                if !self.lenient {
                    self.issue(
                        "not-supported",
                        format!(
                            "{name} is not supported; send Prefer: handling=lenient to have it \
                             ignored"
                        ),
                        name,
                    );
                }
            }
            _ => self.unknown(name),
        }
    }

    fn unknown(&mut self, name: &str) {
        if self.lenient {
            return;
        }
        let issue = match printable_name(name) {
            Some(name) => Issue::error(
                "not-supported",
                format!(
                    "unknown or unsupported search parameter {name}; send Prefer: \
                     handling=lenient to have unknown parameters ignored"
                ),
            )
            .at(name),
            None => Issue::error(
                "not-supported",
                "unknown or unsupported search parameter; send Prefer: handling=lenient to have \
                 unknown parameters ignored",
            ),
        };
        self.issues.push(issue);
    }

    fn header_patient(&mut self, value: &str) {
        let form = if value.contains('|') {
            PatientForm::Identifier
        } else {
            PatientForm::Reference
        };
        self.patient_value(HEADER, value, form);
    }

    fn patient_value(&mut self, name: &str, value: &str, form: PatientForm) {
        self.patient_given = true;
        match parse_patient(value, form, self.ids) {
            Ok(id) => match &self.patient {
                None => self.patient = Some(id),
                Some(first) if first.expose_secret() == id.expose_secret() => {}
                Some(_) => {
                    if !self.patient_conflict {
                        self.patient_conflict = true;
                        self.issue(
                            "invalid",
                            "a search covers exactly one patient, but the parameters name \
                             different patients",
                            name,
                        );
                    }
                }
            },
            Err(issue) => self.issues.push(issue.at(name)),
        }
    }

    fn require_patient(&mut self) {
        if !self.patient_given {
            self.issue(
                "required",
                "a search needs exactly one patient: patient=Patient/<id>, \
                 patient.identifier=<system>|<id>, subject=Patient/<id> or the X-Pmd-Patient \
                 header",
                "patient",
            );
        }
    }

    fn code_tokens(&mut self, value: &str) -> Option<Vec<Token>> {
        let catalogue = Catalogue::standard();
        let mut tokens = Vec::new();
        for token in value.split(',') {
            let (system, code) = token.split_once('|').unwrap_or(("", token));
            if code.is_empty() {
                let diagnostics = if token.is_empty() {
                    "code has an empty token: give system|code or code, comma-separated"
                } else {
                    "code: a system without a code (system|) is not supported; give system|code"
                };
                self.issue("invalid", diagnostics, "code");
                return None;
            }
            let entry = if system.is_empty() {
                catalogue.lookup_code(code)
            } else {
                catalogue.lookup(system, code)
            };
            tokens.push(match entry {
                Some(entry) => Token::Known(entry),
                None => Token::Unknown(coding(system, code)),
            });
        }
        Some(tokens)
    }

    /// Whether a `category` parameter includes vital-signs.
    fn category(&mut self, value: &str) -> Option<bool> {
        let mut vital = false;
        for token in value.split(',') {
            let (system, code) = token.split_once('|').unwrap_or(("", token));
            if code.is_empty() {
                self.issue(
                    "invalid",
                    "category has an empty token: give vital-signs or \
                     http://terminology.hl7.org/CodeSystem/observation-category|vital-signs",
                    "category",
                );
                return None;
            }
            vital |= code == VITAL_SIGNS && (system.is_empty() || system == OBSERVATION_CATEGORY);
        }
        Some(vital)
    }

    fn date(&mut self, value: &str) -> Option<DateFilter> {
        match DateParam::parse(value) {
            Ok(param) => Some(date_filter(&param)),
            Err(error) => {
                let diagnostics = match error {
                    _ if value.contains(',') => "date: a list of dates is not supported; repeat \
                                                 date to combine conditions (AND)"
                        .to_owned(),
                    DateParamError::UnknownPrefix(_) => format!("date: {error}"),
                    DateParamError::Value(inner) => format!(
                        "date: {inner}; a date is [prefix]YYYY, YYYY-MM, YYYY-MM-DD or \
                         YYYY-MM-DDThh:mm:ss with Z or ±hh:mm"
                    ),
                };
                self.issue("value", diagnostics, "date");
                None
            }
        }
    }

    /// The codes to send and whether nothing can match.
    fn codes(&self) -> (Vec<Coding>, bool) {
        let other_category = self.categories.iter().any(|vital| !vital);
        let (codes, nothing) = match self.code_groups.as_slice() {
            [] => (Vec::new(), false),
            [only] => {
                let mut codes: Vec<Coding> = Vec::new();
                let mut known = false;
                for token in only {
                    let coding = match token {
                        Token::Known(entry) => {
                            known = true;
                            primary(entry)
                        }
                        Token::Unknown(coding) => coding.clone(),
                    };
                    if !codes.contains(&coding) {
                        codes.push(coding);
                    }
                }
                (codes, !known)
            }
            [first, rest @ ..] => {
                // AND of ORs: a measurement has one catalogue code, so only entries every
                // parameter names can match; unknown codes match nothing.
                let mut codes: Vec<Coding> = Vec::new();
                for token in first {
                    let Token::Known(entry) = token else { continue };
                    let in_all = rest.iter().all(|group| {
                        group
                            .iter()
                            .any(|t| matches!(t, Token::Known(e) if e.id() == entry.id()))
                    });
                    let coding = primary(entry);
                    if in_all && !codes.contains(&coding) {
                        codes.push(coding);
                    }
                }
                let nothing = codes.is_empty();
                (codes, nothing)
            }
        };
        if other_category {
            (Vec::new(), true)
        } else {
            (codes, nothing)
        }
    }

    /// The patient, or every problem found.
    fn finish(&mut self) -> Result<Identifier, ServiceError> {
        if !self.issues.is_empty() {
            return Err(bad_request(std::mem::take(&mut self.issues)));
        }
        Ok(self
            .patient
            .as_ref()
            .map(patient_identifier)
            .unwrap_or_default())
    }
}

#[derive(Clone, Copy)]
enum PatientForm {
    /// `Patient/<id>` or `<id>`.
    Reference,
    /// `<system>|<id>`, `|<id>` or `<id>`.
    Identifier,
}

/// The national id a patient parameter names; the issue has no expression yet.
fn parse_patient(value: &str, form: PatientForm, ids: &IdPolicy) -> Result<NationalId, Issue> {
    if value.is_empty() {
        return Err(Issue::error("value", "the patient parameter is empty"));
    }
    if value.contains(',') {
        return Err(Issue::error(
            "invalid",
            "a search covers exactly one patient: a list of patients is not allowed",
        ));
    }
    match form {
        PatientForm::Reference => {
            let id = value.strip_prefix("Patient/").unwrap_or(value);
            if id.contains('/') || id.contains('|') {
                return Err(Issue::error(
                    "invalid",
                    "the patient must be given as Patient/<national id> or a bare national id",
                ));
            }
            NationalId::parse(id, ids).map_err(id_issue)
        }
        PatientForm::Identifier => match value.split_once('|') {
            Some((system, id)) if !system.is_empty() => {
                NationalId::parse_with_system(system, id, ids).map_err(id_issue)
            }
            Some((_, id)) => NationalId::parse(id, ids).map_err(id_issue),
            None => NationalId::parse(value, ids).map_err(id_issue),
        },
    }
}

/// An issue for a bad national id (the messages never hold the id).
pub(crate) fn id_issue(error: IdError) -> Issue {
    match error {
        IdError::UnknownSystem => Issue::error(
            "invalid",
            "the patient identifier system must be the OID of a fødselsnummer \
             (urn:oid:2.16.578.1.12.4.1.4.1), d-number (urn:oid:2.16.578.1.12.4.1.4.2) or \
             fh-number (urn:oid:2.16.578.1.12.4.1.4.3)",
        ),
        other => Issue::error("value", format!("invalid patient: {other}")),
    }
}

/// A `400 Bad Request` holding every issue.
pub(crate) fn bad_request(issues: Vec<Issue>) -> ServiceError {
    let message = match issues.as_slice() {
        [only] => only.diagnostics.clone(),
        _ => format!("{} problems with the request", issues.len()),
    };
    ServiceError::with_issues(ErrorCode::BadRequest, message, issues)
}

/// The name of an unknown parameter when it is safe to print: short, the characters of a
/// parameter name, and no long run of digits (so a misplaced national id is not echoed).
fn printable_name(name: &str) -> Option<&str> {
    let shaped = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    let longest_digits = name
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    (shaped && longest_digits < 6).then_some(name)
}

fn date_filter(param: &DateParam) -> DateFilter {
    use pmd_domain::DatePrefix as P;
    let prefix = match param.prefix {
        P::Eq => DatePrefix::Eq,
        P::Ne => DatePrefix::Ne,
        P::Gt => DatePrefix::Gt,
        P::Lt => DatePrefix::Lt,
        P::Ge => DatePrefix::Ge,
        P::Le => DatePrefix::Le,
        P::Sa => DatePrefix::Sa,
        P::Eb => DatePrefix::Eb,
        P::Ap => DatePrefix::Ap,
    };
    DateFilter {
        prefix: prefix as i32,
        range: Some(TimeRange {
            start_unix_micros: Some(param.value.start_utc().timestamp_micros()),
            end_unix_micros: Some(param.value.end_utc().timestamp_micros()),
        }),
    }
}

fn primary(entry: &Entry) -> Coding {
    let primary = entry.primary_coding();
    coding(primary.system, primary.code)
}

fn coding(system: &str, code: &str) -> Coding {
    Coding {
        system: system.to_owned(),
        code: code.to_owned(),
        display: String::new(),
    }
}

#[cfg(test)]
mod tests;
