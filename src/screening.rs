//! Screening: matching and the risk rules together, for a supplier, a procurement line
//! or a whole file of either (`cadena screen`).
//!
//! A file's rows are parsed first; the records they refer to (the suppliers of
//! procurement lines, the agencies, the agencies' licence-register entries) are read from
//! the store in a few queries into a [`Context`]; then the rows are screened on all cores
//! (a rayon pool) and the report keeps the input order. A row that
//! cannot be read is reported with its line, field and reason; the others go on.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;

use anyhow::Context as _;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::csv_reader::CsvFile;
use crate::decisions::{Decisions, DismissedMatch, Review, ReviewedMatch};
use crate::import::{Format, Purpose, RejectedRow};
use crate::lang::{Lang, pick};
use crate::matching::index::IndexView;
use crate::matching::normalize::NamePart;
use crate::matching::score::PairBasis;
use crate::matching::{Match, Matcher, ScreeningQuery, Signal, Strength, TaxIdEvidence};
use crate::progress::Progress;
use crate::records::{
    Agency, ColumnMap, LicenceEntry, ProcurementLine, RecordKind, Supplier, check_column_map, parse_row,
};
use crate::rules::{AgencyFacts, Assessment, MatchStrength, Ruleset, Subject, WatchlistHit};
use crate::store::Store;

/// The report's columns, in order.
pub const REPORT_COLUMNS: &[&str] = &[
    "row",
    "input_id",
    "input_name",
    "input_tax_id",
    "match_entity_id",
    "match_list",
    "match_name",
    "match_score",
    "match_strength",
    "match_signals",
    "match_explanation",
    "other_matches",
    "risk_score",
    "risk_band",
    "rules_fired",
    "data_gaps",
    "goods",
    "error",
    "dataset_version",
    "ruleset_digest",
    "dismissed_matches",
    "reopened_matches",
];

/// One row of the report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportRow {
    /// The input row's line number in its file.
    pub row: u64,
    /// The supplier id, or `procurement_id/line_id` for a procurement line.
    pub input_id: String,
    pub input_name: String,
    pub input_tax_id: String,
    pub match_entity_id: String,
    pub match_list: String,
    pub match_name: String,
    pub match_score: String,
    pub match_strength: String,
    pub match_signals: String,
    pub match_explanation: String,
    /// How many more entities reached the *possible* threshold.
    pub other_matches: usize,
    pub risk_score: String,
    pub risk_band: String,
    /// The ids of the rules that fired, `|`-separated.
    pub rules_fired: String,
    /// The ids of the rules that missing data left unknown, `|`-separated.
    pub data_gaps: String,
    /// The ILAB goods a procurement line's item maps to, `|`-separated.
    #[serde(default)]
    pub goods: String,
    pub error: String,
    /// The store version of the index the row was matched against, and the digest of
    /// the rules that scored it: what reproduces the row.
    #[serde(default)]
    pub dataset_version: i64,
    #[serde(default)]
    pub ruleset_digest: String,
    /// The matches a reviewer's false-positive decision dismissed, `|`-separated, each as
    /// `source/entity_id (decision N)`; the rules did not count them.
    #[serde(default)]
    pub dismissed_matches: String,
    /// The matches whose false-positive decision no longer holds because the listed entity
    /// changed, `|`-separated, as `source/entity_id (decision N: changed fields)`.
    #[serde(default)]
    pub reopened_matches: String,
    /// Why the row could not be read, problem by problem (line, field, reason); empty
    /// for a row that was screened. Not a column of the CSV report, whose `error` says the
    /// same in one cell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RejectedRow>,
}

/// What a file screening did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScreeningSummary {
    pub rows: usize,
    pub strong: usize,
    pub possible: usize,
    pub none: usize,
    pub errors: usize,
    /// Rows with a match dismissed by a reviewer's decision.
    pub dismissed: usize,
    /// Rows with a false-positive decision reopened by a change of the listed entity.
    pub reopened: usize,
    /// Rows per risk band, in band order (low, medium, high, critical).
    pub bands: Vec<(String, usize)>,
}

/// The records a screening refers to, read from the store once per file.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub suppliers: HashMap<String, Supplier>,
    pub agencies: HashMap<String, Agency>,
    pub licences: HashMap<String, LicenceEntry>,
    /// Reviewers' decisions on matches, which the screening honours.
    pub decisions: Decisions,
}

impl Context {
    /// Reads the given suppliers and agencies, and the licence entries of those agencies.
    /// Where several sources hold the same id, the first source (by name) wins.
    pub async fn load(store: &Store, supplier_ids: &[String], agency_ids: &[String]) -> anyhow::Result<Context> {
        let mut context = Context::default();
        for stored in store.records_by_keys::<Supplier>(supplier_ids).await? {
            context.suppliers.entry(stored.key).or_insert(stored.record);
        }
        let mut agency_ids: BTreeSet<String> = agency_ids.iter().cloned().collect();
        agency_ids.extend(context.suppliers.values().flat_map(|supplier| supplier.agency_ids.iter().cloned()));
        let agency_ids: Vec<String> = agency_ids.into_iter().collect();
        for stored in store.records_by_keys::<Agency>(&agency_ids).await? {
            context.agencies.entry(stored.key).or_insert(stored.record);
        }
        let licence_numbers: Vec<String> =
            context.agencies.values().filter_map(|agency| agency.licence_number.clone()).collect();
        for stored in store.records_by_keys::<LicenceEntry>(&licence_numbers).await? {
            context.licences.entry(stored.key).or_insert(stored.record);
        }
        Ok(context)
    }

    /// The agencies a line and its supplier use (line's first), each with its licence entry.
    pub fn agency_facts(&self, line: Option<&ProcurementLine>, supplier: Option<&Supplier>) -> Vec<AgencyFacts> {
        let mut ids: Vec<&String> = Vec::new();
        for id in line.iter().flat_map(|line| &line.agency_ids).chain(supplier.iter().flat_map(|s| &s.agency_ids)) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids.into_iter()
            .map(|agency_id| {
                let agency = self.agencies.get(agency_id).cloned();
                let licence = agency
                    .as_ref()
                    .and_then(|agency| agency.licence_number.as_ref())
                    .and_then(|number| self.licences.get(number).cloned());
                AgencyFacts { agency_id: agency_id.clone(), agency, licence }
            })
            .collect()
    }
}

/// One thing to screen.
#[derive(Debug, Clone)]
pub enum Input {
    Supplier(Supplier),
    Line(ProcurementLine),
}

/// The matches and the risk assessment of one input.
#[derive(Debug, Clone, Serialize)]
pub struct Screening {
    /// The matches that count (the rules saw these), best first.
    pub matches: Vec<ReviewedMatch>,
    /// The matches a false-positive decision dismissed.
    pub dismissed: Vec<DismissedMatch>,
    pub assessment: Assessment,
}

/// Screens inputs with one matcher in one index view, a rule set and a context.
pub struct Screener<'a> {
    pub matcher: &'a Matcher,
    /// The index commit every search of this screener uses, so that its results name one version.
    pub view: &'a IndexView,
    pub ruleset: &'a Ruleset,
    pub context: &'a Context,
    /// The language of the assessments' texts.
    pub lang: Lang,
}

impl Screener<'_> {
    /// Screens a supplier, or a procurement line with its supplier, agencies and matches.
    pub fn screen(&self, input: &Input) -> anyhow::Result<Screening> {
        let review = self.review(input)?;
        let assessment = self.assess(input, &review.counted());
        Ok(Screening { matches: review.matches, dismissed: review.dismissed, assessment })
    }

    /// The matches of an input's supplier sorted by the decisions in force on them:
    /// those that count, and those a false-positive decision dismisses.
    pub fn review(&self, input: &Input) -> anyhow::Result<Review> {
        Ok(self.context.decisions.review(supplier_id(input), self.matches(input)?))
    }

    /// The line and supplier of an input (a line's supplier from the context).
    fn parties(&self, input: &Input) -> (Option<ProcurementLine>, Option<Supplier>) {
        match input {
            Input::Supplier(supplier) => (None, Some(supplier.clone())),
            Input::Line(line) => {
                let supplier = line.supplier_id.as_ref().and_then(|id| self.context.suppliers.get(id)).cloned();
                (Some(line.clone()), supplier)
            }
        }
    }

    /// Who to look for on the watchlists: the supplier, or the names a line gives.
    pub fn matching_query(&self, input: &Input) -> Option<ScreeningQuery> {
        match self.parties(input) {
            (_, Some(supplier)) => Some(ScreeningQuery {
                name: supplier.name,
                aliases: supplier.aliases,
                tax_id: supplier.tax_id,
                country: supplier.country,
            }),
            (Some(line), None) if line.supplier_name.is_some() || line.supplier_tax_id.is_some() => {
                Some(ScreeningQuery {
                    name: line.supplier_name.unwrap_or_default(),
                    tax_id: line.supplier_tax_id,
                    ..ScreeningQuery::default()
                })
            }
            _ => None,
        }
    }

    /// The watchlist matches of an input's supplier, best first.
    pub fn matches(&self, input: &Input) -> anyhow::Result<Vec<Match>> {
        match self.matching_query(input) {
            Some(query) => self.matcher.screen_in(self.view, &query),
            None => Ok(Vec::new()),
        }
    }

    /// The risk assessment of an input, given its supplier's matches.
    pub fn assess(&self, input: &Input, matches: &[Match]) -> Assessment {
        let (line, supplier) = self.parties(input);
        let agencies = self.context.agency_facts(line.as_ref(), supplier.as_ref());
        let watchlist_matches = matches.iter().filter_map(watchlist_hit).collect();
        self.ruleset.evaluate(&Subject { line, supplier, agencies, watchlist_matches }, self.lang)
    }

    /// Screens an input and fills its report row.
    pub fn report_row(&self, line_number: u64, input: &Input) -> anyhow::Result<ReportRow> {
        let screening = self.screen(input)?;
        let mut row = match input {
            Input::Supplier(supplier) => ReportRow {
                input_id: supplier.supplier_id.clone(),
                input_name: supplier.name.clone(),
                input_tax_id: supplier.tax_id.clone().unwrap_or_default(),
                ..ReportRow::default()
            },
            Input::Line(line) => {
                let supplier = line.supplier_id.as_ref().and_then(|id| self.context.suppliers.get(id));
                ReportRow {
                    input_id: format!("{}/{}", line.procurement_id, line.line_id),
                    input_name: supplier.map(|s| s.name.clone()).or(line.supplier_name.clone()).unwrap_or_default(),
                    input_tax_id: supplier
                        .and_then(|s| s.tax_id.clone())
                        .or(line.supplier_tax_id.clone())
                        .unwrap_or_default(),
                    ..ReportRow::default()
                }
            }
        };
        row.row = line_number;
        row.match_strength = Strength::None.as_str().to_owned();
        if let Some(best) = screening.matches.first() {
            row.match_entity_id = best.entity.entity_id.clone();
            row.match_list = best.entity.list.clone().unwrap_or_default();
            row.match_name = best.explanation.matched_name.clone();
            row.match_score = score_text(best.score, 3);
            row.match_strength = best.strength.as_str().to_owned();
            row.match_signals =
                best.explanation.signals.iter().map(|signal| signal.as_str()).collect::<Vec<_>>().join("|");
            row.match_explanation = explain(best, self.lang);
            row.other_matches = screening.matches.len() - 1;
        }
        let dismissed: Vec<String> = screening
            .dismissed
            .iter()
            .map(|found| {
                format!(
                    "{}/{} (decision {})",
                    found.found.entity.source, found.found.entity.entity_id, found.decision.id
                )
            })
            .collect();
        row.dismissed_matches = dismissed.join("|");
        let reopened: Vec<String> = screening
            .matches
            .iter()
            .filter_map(|found| {
                let reopened = found.reopened.as_ref()?;
                let fields: Vec<&str> = reopened.changed_fields.iter().map(|field| field.as_str()).collect();
                Some(format!(
                    "{}/{} (decision {}: {})",
                    found.entity.source,
                    found.entity.entity_id,
                    reopened.decision.id,
                    fields.join(", ")
                ))
            })
            .collect();
        row.reopened_matches = reopened.join("|");
        let assessment = &screening.assessment;
        row.risk_score = format!("{:.1}", assessment.score);
        row.risk_band = assessment.band.as_str().to_owned();
        row.rules_fired = assessment.fired.iter().map(|rule| rule.id.as_str()).collect::<Vec<_>>().join("|");
        row.data_gaps = assessment.data_gaps.iter().map(|gap| gap.rule_id.as_str()).collect::<Vec<_>>().join("|");
        if let Input::Line(line) = input {
            row.goods =
                self.ruleset.goods_of_item(line.item_code.as_deref(), line.item_description.as_deref()).join("|");
        }
        Ok(row)
    }
}

/// The supplier id an input's decisions are kept under.
pub fn supplier_id(input: &Input) -> Option<&str> {
    match input {
        Input::Supplier(supplier) => Some(supplier.supplier_id.as_str()),
        Input::Line(line) => line.supplier_id.as_deref(),
    }
}

/// A match as the rules see it; matches below *possible* are not hits.
fn watchlist_hit(found: &Match) -> Option<WatchlistHit> {
    let strength = match found.strength {
        Strength::Strong => MatchStrength::Strong,
        Strength::Possible => MatchStrength::Possible,
        Strength::None => return None,
    };
    Some(WatchlistHit {
        entity_id: found.entity.entity_id.clone(),
        list: found.entity.list.clone(),
        name: found.explanation.matched_name.clone(),
        strength,
        score: found.score,
        reason: found.entity.reason.clone(),
        source: Some(found.entity.source.clone()),
    })
}

/// A one-line explanation of a match for a report cell, in `lang`.
pub fn explain(found: &Match, lang: Lang) -> String {
    let e = &found.explanation;
    let words = |texts: [&'static str; 3]| pick(lang, texts);
    let pairs: Vec<String> = e
        .word_pairs
        .iter()
        .map(|pair| {
            let note = pair_basis_note(pair.basis, lang);
            let note = if note.is_empty() { String::new() } else { format!(" ({note})") };
            format!("{}~{} {}{note}", pair.query, pair.listed, score_text(pair.similarity, 2))
        })
        .collect();
    let mut text = format!(
        "\"{}\"{} {} \"{}\"{} ({} {}: {})",
        e.query_name,
        name_part_note(e.query_part, lang),
        words(["coincide con", "corresponde a", "matched"]),
        e.matched_name,
        name_part_note(e.matched_part, lang),
        words(["nombre", "nome", "name"]),
        score_text(e.name_score, 3),
        pairs.join(", ")
    );
    if !e.unmatched_query_words.is_empty() || !e.unmatched_listed_words.is_empty() {
        text.push_str(&format!(
            "; {}: [{}] / [{}]",
            words(["sin pareja", "sem par", "unpaired"]),
            e.unmatched_query_words.join(" "),
            e.unmatched_listed_words.join(" ")
        ));
    }
    match &e.tax_id {
        TaxIdEvidence::Same { tax_id, valid, scheme } => {
            let validity = match valid {
                Some(true) => words(["válida", "válida", "valid"]),
                Some(false) => words(["no válida", "inválida", "invalid"]),
                None => words(["sin verificar", "não verificada", "unchecked"]),
            };
            let scheme = scheme.as_deref().unwrap_or(words(["sin esquema", "sem esquema", "no scheme"]));
            let same = words(["misma identificación tributaria", "mesma identificação fiscal", "same tax id"]);
            text.push_str(&format!("; {same} {tax_id} ({scheme} {validity})"));
        }
        TaxIdEvidence::Different { query, listed } => {
            let different = words([
                "identificaciones tributarias distintas",
                "identificações fiscais diferentes",
                "different tax ids",
            ]);
            text.push_str(&format!("; {different} {query} / {listed}"));
        }
        TaxIdEvidence::NotCompared => {}
    }
    if e.signals.contains(&Signal::CountryMismatch) {
        text.push_str(&format!(
            "; {} {} / {}",
            words(["países distintos", "países diferentes", "countries differ"]),
            e.query_country.as_deref().unwrap_or("?"),
            e.listed_country.as_deref().unwrap_or("?")
        ));
    }
    text
}

/// Which part of a name matched, as a report says it after the name; empty for the whole.
fn name_part_note(part: NamePart, lang: Lang) -> String {
    let note = match part {
        NamePart::Whole => return String::new(),
        NamePart::OutsideParentheses => pick(
            lang,
            ["sin lo que va entre paréntesis", "sem o que está entre parênteses", "without the words in parentheses"],
        ),
        NamePart::InParentheses => {
            pick(lang, ["lo que va entre paréntesis", "o que está entre parênteses", "the words in parentheses"])
        }
    };
    format!(" ({note})")
}

/// Why two words were paired, as a report says it; empty for plain spelling.
fn pair_basis_note(basis: PairBasis, lang: Lang) -> &'static str {
    match basis {
        PairBasis::Spelling => "",
        PairBasis::Joined => pick(lang, ["unidas", "unidas", "joined"]),
        PairBasis::Abbreviation => pick(lang, ["abreviatura", "abreviatura", "abbreviation"]),
        PairBasis::Acronym => pick(lang, ["sigla", "sigla", "acronym"]),
        PairBasis::LegalFormEquivalent => {
            pick(lang, ["forma jurídica equivalente", "forma jurídica equivalente", "legal-form equivalent"])
        }
        PairBasis::LegalForm => pick(lang, ["forma jurídica", "forma jurídica", "legal form"]),
        PairBasis::Sound => pick(lang, ["por el sonido", "pelo som", "by sound"]),
    }
}

/// A row of a file that could not be screened.
#[derive(Debug, Clone)]
struct RowError {
    /// The id the row's key columns name, and the name it gives, if any (its report
    /// row keeps them).
    input_id: String,
    input_name: String,
    /// Every problem of the row, with its line and field.
    problems: Vec<RejectedRow>,
}

impl RowError {
    fn unnamed(problem: RejectedRow) -> RowError {
        RowError { input_id: String::new(), input_name: String::new(), problems: vec![problem] }
    }
}

/// A file's rows, parsed: each is an input or the errors that kept it from being one.
struct ParsedFile {
    /// The file's name, for the messages of the rows that cannot be read.
    file_name: String,
    rows: Vec<(u64, Result<Input, RowError>)>,
    /// Suppliers the file itself describes (an OCDS package's parties), used where the
    /// store does not hold them.
    suppliers: Vec<Supplier>,
}

impl ParsedFile {
    fn supplier_ids(&self) -> Vec<String> {
        let ids: BTreeSet<String> = self
            .rows
            .iter()
            .filter_map(|(_, row)| match row {
                Ok(Input::Line(line)) => line.supplier_id.clone(),
                _ => None,
            })
            .collect();
        ids.into_iter().collect()
    }

    fn agency_ids(&self) -> Vec<String> {
        let ids: BTreeSet<String> = self
            .rows
            .iter()
            .flat_map(|(_, row)| match row {
                Ok(Input::Line(line)) => line.agency_ids.clone(),
                Ok(Input::Supplier(supplier)) => supplier.agency_ids.clone(),
                Err(_) => Vec::new(),
            })
            .collect();
        ids.into_iter().collect()
    }
}

/// The column map of a CSV file to screen as `kind` (which `import::resolve` told from
/// its header), or why its header (or the `--map` entries, `COLUMN=FIELD`) will not do.
fn screening_columns(
    file_name: &str,
    kind: RecordKind,
    header: &[String],
    map_entries: &[String],
) -> Result<ColumnMap, String> {
    let map = check_column_map(kind, map_entries)?;
    ColumnMap::with_map(kind, header, &map)
        .map_err(|missing| crate::ingest::missing_columns_message(file_name, header, kind, &missing))
}

/// The id a row names in its key columns (`supplier_id`, or `procurement_id/line_id`)
/// and the name it gives (`name`, or `supplier_name`), as far as it gives them, so that a
/// row that cannot be read can still be found in the report.
fn row_identity(kind: RecordKind, columns: &ColumnMap, cells: &[&str]) -> (String, String) {
    let cell = |field: &str| {
        columns
            .mapped_fields()
            .find(|(name, _)| *name == field)
            .and_then(|(_, idx)| cells.get(idx))
            .map(|cell| cell.trim().to_owned())
            .unwrap_or_default()
    };
    match kind {
        RecordKind::Procurements => {
            let (procurement, line) = (cell("procurement_id"), cell("line_id"));
            let id =
                if procurement.is_empty() && line.is_empty() { String::new() } else { format!("{procurement}/{line}") };
            (id, cell("supplier_name"))
        }
        _ => (cell("supplier_id"), cell("name")),
    }
}

/// Parses a file to screen, read as `import::resolve` decides (an OCDS file, or a CSV
/// file of suppliers or procurement lines).
fn parse_file(file_name: &str, bytes: Vec<u8>, map_entries: &[String]) -> anyhow::Result<ParsedFile> {
    let (format, kinds) = crate::import::resolve(file_name, &bytes, None, None, Purpose::Screening, map_entries)
        .map_err(|message| anyhow::anyhow!(message))?;
    if format == Format::Ocds {
        if !map_entries.is_empty() {
            anyhow::bail!("{file_name}: --map applies to CSV files, not to OCDS files");
        }
        return parse_ocds(file_name, &bytes);
    }
    let kind = kinds[0];
    let file = CsvFile::from_bytes(file_name, bytes);
    let (header, rows) = file.rows().map_err(|err| anyhow::anyhow!("{err}"))?;
    let columns =
        screening_columns(file_name, kind, &header, map_entries).map_err(|message| anyhow::anyhow!(message))?;
    let rows = rows
        .map(|row| match row {
            Ok(row) => {
                let cells = row.cells();
                let input = match kind {
                    RecordKind::Procurements => parse_row::<ProcurementLine>(&columns, &cells).map(Input::Line),
                    _ => parse_row::<Supplier>(&columns, &cells).map(Input::Supplier),
                };
                let line = row.line as i64;
                let input = input.map_err(|errors| {
                    let problems = errors
                        .into_iter()
                        .map(|err| RejectedRow { line, field: err.field, reason: err.reason })
                        .collect();
                    let (input_id, input_name) = row_identity(kind, &columns, &cells);
                    RowError { input_id, input_name, problems }
                });
                (row.line, input)
            }
            Err(err) => (
                err.line,
                Err(RowError::unnamed(RejectedRow {
                    line: err.line as i64,
                    field: "row".to_owned(),
                    reason: err.reason,
                })),
            ),
        })
        .collect();
    Ok(ParsedFile { file_name: file_name.to_owned(), rows, suppliers: Vec::new() })
}

/// An OCDS file's awarded lines as inputs, in file order, with its suppliers; the parts
/// that could not be read are rows with their JSON path and reason.
fn parse_ocds(file_name: &str, bytes: &[u8]) -> anyhow::Result<ParsedFile> {
    let data = crate::import::ocds::parse(bytes).map_err(|err| anyhow::anyhow!("{file_name}: {err}"))?;
    let mut rows: Vec<(u64, Result<Input, RowError>)> = data
        .rejected
        .into_iter()
        .chain(data.no_lines)
        .map(|reject| (reject.line.max(0) as u64, Err(RowError::unnamed(reject))))
        .collect();
    rows.extend(data.lines.into_iter().map(|located| (located.line.max(0) as u64, Ok(Input::Line(located.record)))));
    rows.sort_by_key(|(line, _)| *line);
    let suppliers = data.suppliers.into_iter().map(|located| located.record).collect();
    Ok(ParsedFile { file_name: file_name.to_owned(), rows, suppliers })
}

/// How many rows a screening of this file has (its report has one per row), or why the
/// file cannot be screened: what a batch audit checks before it queues a file. The
/// file is read as a screening reads it, store aside.
pub fn count_rows(file_name: &str, bytes: Vec<u8>, map_entries: &[String]) -> Result<usize, String> {
    parse_file(file_name, bytes, map_entries).map(|parsed| parsed.rows.len()).map_err(|err| format!("{err:#}"))
}

/// A file ready to screen: its rows parsed and the records they refer to read.
pub struct PreparedFile {
    parsed: ParsedFile,
    context: Context,
    /// The language of the report's texts (English unless [`Self::in_language`] says).
    lang: Lang,
}

impl PreparedFile {
    /// Parses a supplier or procurement CSV file (the kind is told by its header), or an
    /// OCDS file (one row per awarded line, its suppliers from the file itself), and
    /// reads from the store the suppliers, agencies and licence entries its rows refer to.
    pub async fn read(store: &Store, file_name: &str, bytes: Vec<u8>) -> anyhow::Result<PreparedFile> {
        PreparedFile::read_mapped(store, file_name, bytes, &[]).await
    }

    /// As [`Self::read`], with a CSV file's columns sent to fields by `--map` entries
    /// (`COLUMN=FIELD`, checked against the kind the header tells).
    pub async fn read_mapped(
        store: &Store,
        file_name: &str,
        bytes: Vec<u8>,
        map_entries: &[String],
    ) -> anyhow::Result<PreparedFile> {
        let parsed = parse_file(file_name, bytes, map_entries)?;
        let mut context = Context::load(store, &parsed.supplier_ids(), &parsed.agency_ids()).await?;
        context.decisions = store.all_decisions_in_force().await?;
        for supplier in &parsed.suppliers {
            // A supplier the store holds may know more (its labour profile); it wins.
            context.suppliers.entry(supplier.supplier_id.clone()).or_insert_with(|| supplier.clone());
        }
        Ok(PreparedFile { parsed, context, lang: Lang::default() })
    }

    /// The file, its report's texts (match explanations) written in `lang`.
    pub fn in_language(self, lang: Lang) -> PreparedFile {
        PreparedFile { lang, ..self }
    }

    pub fn len(&self) -> usize {
        self.parsed.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parsed.rows.is_empty()
    }

    /// Screens every row in one index view on `threads` threads (this blocks: run it off
    /// the async executor); the report rows come back in input order. `progress` counts
    /// the rows screened.
    pub fn screen(
        &self,
        matcher: &Matcher,
        view: &IndexView,
        ruleset: &Ruleset,
        threads: usize,
        progress: &Progress,
    ) -> anyhow::Result<Vec<ReportRow>> {
        let screener = Screener { matcher, view, ruleset, context: &self.context, lang: self.lang };
        screen_rows(&screener, &self.parsed.file_name, &self.parsed.rows, threads, progress)
    }

    /// Screens the rows with these indexes (0-based, in file order), as [`Self::screen`].
    pub fn screen_range(
        &self,
        matcher: &Matcher,
        view: &IndexView,
        ruleset: &Ruleset,
        range: std::ops::Range<usize>,
        threads: usize,
    ) -> anyhow::Result<Vec<ReportRow>> {
        let screener = Screener { matcher, view, ruleset, context: &self.context, lang: self.lang };
        let start = range.start.min(self.len());
        let end = range.end.min(self.len());
        screen_rows(&screener, &self.parsed.file_name, &self.parsed.rows[start..end], threads, &Progress::hidden())
    }
}

/// Screens parsed rows on a pool of `threads` threads; the report keeps the rows' order.
fn screen_rows(
    screener: &Screener,
    file_name: &str,
    rows: &[(u64, Result<Input, RowError>)],
    threads: usize,
    progress: &Progress,
) -> anyhow::Result<Vec<ReportRow>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|at| format!("cadena-screen-{at}"))
        .build()
        .context("starting the screening threads")?;
    pool.install(|| {
        rows.par_iter()
            .map(|(line, row)| {
                let mut report_row = match row {
                    Ok(input) => screener.report_row(*line, input)?,
                    Err(error) => ReportRow {
                        row: *line,
                        input_id: error.input_id.clone(),
                        input_name: error.input_name.clone(),
                        error: error
                            .problems
                            .iter()
                            .map(|problem| problem.message(file_name))
                            .collect::<Vec<_>>()
                            .join("; "),
                        rejected: error.problems.clone(),
                        ..ReportRow::default()
                    },
                };
                report_row.dataset_version = screener.view.version();
                report_row.ruleset_digest = screener.ruleset.digest().to_owned();
                progress.inc(1);
                Ok(report_row)
            })
            .collect()
    })
}

/// Counts the report rows by outcome.
pub fn summarize(rows: &[ReportRow]) -> ScreeningSummary {
    let mut summary = ScreeningSummary { rows: rows.len(), ..ScreeningSummary::default() };
    let mut bands: HashMap<&str, usize> = HashMap::new();
    for row in rows {
        if !row.error.is_empty() {
            summary.errors += 1;
            continue;
        }
        summary.dismissed += usize::from(!row.dismissed_matches.is_empty());
        summary.reopened += usize::from(!row.reopened_matches.is_empty());
        match row.match_strength.as_str() {
            "strong" => summary.strong += 1,
            "possible" => summary.possible += 1,
            _ => summary.none += 1,
        }
        *bands.entry(row.risk_band.as_str()).or_default() += 1;
    }
    summary.bands = crate::rules::Band::ALL
        .iter()
        .map(|band| (band.as_str().to_owned(), bands.get(band.as_str()).copied().unwrap_or(0)))
        .collect();
    summary
}

/// How a report file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// CSV in UTF-8.
    #[default]
    Csv,
    /// CSV in UTF-8 with a byte-order mark, which Excel needs to read accents right.
    CsvBom,
    /// An Excel workbook (`.xlsx`) with one sheet.
    Xlsx,
}

impl ReportFormat {
    pub fn parse(name: &str) -> Option<ReportFormat> {
        match name {
            "csv" => Some(ReportFormat::Csv),
            "csv-bom" => Some(ReportFormat::CsvBom),
            "xlsx" => Some(ReportFormat::Xlsx),
            _ => None,
        }
    }

    /// The media type of a report in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Csv | ReportFormat::CsvBom => "text/csv; charset=utf-8",
            ReportFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    /// The file extension of a report in this format.
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Csv | ReportFormat::CsvBom => "csv",
            ReportFormat::Xlsx => "xlsx",
        }
    }
}

/// Writes the report in a format.
pub fn write_report(rows: &[ReportRow], format: ReportFormat, mut out: impl Write) -> anyhow::Result<()> {
    match format {
        ReportFormat::Csv => write_report_csv(rows, out),
        ReportFormat::CsvBom => {
            out.write_all(b"\xef\xbb\xbf")?;
            write_report_csv(rows, out)
        }
        ReportFormat::Xlsx => {
            out.write_all(&report_xlsx(rows)?)?;
            out.flush()?;
            Ok(())
        }
    }
}

/// The report as an Excel workbook: the columns of the CSV, counts and scores as
/// numbers, everything else as text (a text cell is never run as a formula).
fn report_xlsx(rows: &[ReportRow]) -> anyhow::Result<Vec<u8>> {
    const NUMERIC: &[&str] = &["row", "match_score", "other_matches", "risk_score", "dataset_version"];
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("report")?;
    for (col, name) in REPORT_COLUMNS.iter().enumerate() {
        sheet.write_string(0, col as u16, *name)?;
    }
    for (idx, row) in rows.iter().enumerate() {
        let line = idx as u32 + 1;
        for (col, cell) in report_cells(row).iter().enumerate() {
            let number = NUMERIC.contains(&REPORT_COLUMNS[col]).then(|| cell.parse::<f64>().ok()).flatten();
            match number {
                Some(number) => sheet.write_number(line, col as u16, number)?,
                None if cell.is_empty() => continue,
                None => sheet.write_string(line, col as u16, cell)?,
            };
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(workbook.save_to_buffer()?)
}

/// Writes the report as CSV. Cells that a spreadsheet would run as a formula (starting
/// with `=`, `+`, `-`, `@`, tab or carriage return) are prefixed with `'`.
pub fn write_report_csv(rows: &[ReportRow], out: impl Write) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(REPORT_COLUMNS)?;
    for row in rows {
        let cells = report_cells(row);
        writer.write_record(cells.iter().map(|cell| neutralise_formula(cell).into_owned()))?;
    }
    writer.flush()?;
    Ok(())
}

/// A report row's cells, in [`REPORT_COLUMNS`] order.
fn report_cells(row: &ReportRow) -> [String; 22] {
    [
        row.row.to_string(),
        row.input_id.clone(),
        row.input_name.clone(),
        row.input_tax_id.clone(),
        row.match_entity_id.clone(),
        row.match_list.clone(),
        row.match_name.clone(),
        row.match_score.clone(),
        row.match_strength.clone(),
        row.match_signals.clone(),
        row.match_explanation.clone(),
        row.other_matches.to_string(),
        row.risk_score.clone(),
        row.risk_band.clone(),
        row.rules_fired.clone(),
        row.data_gaps.clone(),
        row.goods.clone(),
        row.error.clone(),
        row.dataset_version.to_string(),
        row.ruleset_digest.clone(),
        row.dismissed_matches.clone(),
        row.reopened_matches.clone(),
    ]
}

/// A score (0–1) as shown to people: truncated, never rounded, to `decimals` places, so
/// that a score below a threshold never shows as the threshold (0.916 is `0.91`, not the
/// `0.92` of the strong threshold).
pub fn score_text(score: f64, decimals: usize) -> String {
    let scale = 10f64.powi(decimals as i32);
    // The small nudge keeps 0.29 (0.28999… in binary) at 0.29.
    let truncated = ((score * scale) + 1e-9).floor() / scale;
    format!("{truncated:.decimals$}")
}

/// Guards a CSV cell against formula injection.
pub fn neutralise_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_truncated_never_rounded_across_a_threshold() {
        for (score, decimals, shown) in [
            (0.916, 2, "0.91"),
            (0.92, 2, "0.92"),
            (0.29, 2, "0.29"),
            (0.999, 2, "0.99"),
            (1.0, 2, "1.00"),
            (0.0, 2, "0.00"),
            (0.9196, 3, "0.919"),
            (0.75, 3, "0.750"),
        ] {
            assert_eq!(score_text(score, decimals), shown, "{score} to {decimals} places");
        }
    }

    #[test]
    fn an_explanation_says_which_part_of_a_name_matched_and_by_what() {
        use crate::matching::index::{EntityIndex, IndexedEntity};
        let dir = tempfile::tempdir().unwrap();
        let index = EntityIndex::open_or_create(dir.path()).unwrap();
        let entity = IndexedEntity {
            kind: "watchlist".to_owned(),
            source: "eu".to_owned(),
            entity_id: "1".to_owned(),
            names: vec!["SERVIS-SN".to_owned()],
            ..IndexedEntity::default()
        };
        let matcher = Matcher::new(index, crate::matching::Thresholds::default());
        let query = ScreeningQuery {
            name: "Общество с Ограниченной Ответственностью «СЕРВИС-СН» (ООО «СЕРВИС-СН»)".to_owned(),
            ..ScreeningQuery::default()
        };
        let found = matcher.compare(&query, entity.clone());
        assert_eq!(found.explanation.query_part, NamePart::OutsideParentheses);
        assert!(explain(&found, Lang::En).contains("(without the words in parentheses) matched \"SERVIS-SN\""));
        assert!(explain(&found, Lang::Es).contains("(sin lo que va entre paréntesis)"));
        let query = ScreeningQuery { name: "Kompel".to_owned(), ..ScreeningQuery::default() };
        let found = matcher.compare(&query, IndexedEntity { names: vec!["Compel".to_owned()], ..entity });
        assert!(explain(&found, Lang::En).contains("kompel~compel 0.90 (by sound)"), "{}", explain(&found, Lang::En));
        assert!(explain(&found, Lang::Pt).contains("(pelo som)"));
    }
}
