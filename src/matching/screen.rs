//! Batch screening of a supplier file: one report row per input row, in input order.
//!
//! Rows are screened on all cores (each thread takes every n-th row); a row that cannot
//! be read is reported with its line, field and reason, and the others go on.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::{Match, Matcher, ScreeningQuery, Signal, Strength};
use crate::csv_reader::CsvFile;
use crate::records::{ColumnMap, RecordKind, Supplier, parse_row};

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
    "error",
];

/// One row of the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReportRow {
    /// The input row's line number in its file.
    pub row: u64,
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
    pub error: String,
}

/// What a batch screening did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScreeningSummary {
    pub rows: usize,
    pub strong: usize,
    pub possible: usize,
    pub none: usize,
    pub errors: usize,
}

/// Screens every row of a supplier CSV file and returns the report rows in input order.
pub fn screen_suppliers(
    matcher: &Matcher,
    file_name: &str,
    bytes: Vec<u8>,
    threads: usize,
) -> anyhow::Result<Vec<ReportRow>> {
    let file = CsvFile::from_bytes(file_name, bytes);
    let (header, rows) = file.rows().map_err(|err| anyhow::anyhow!("{err}"))?;
    let columns = ColumnMap::new(RecordKind::Suppliers, &header).map_err(|missing| {
        anyhow::anyhow!(crate::ingest::missing_columns_message(file_name, &header, RecordKind::Suppliers, &missing))
    })?;
    let rows: Vec<_> = rows.collect();
    let threads = threads.max(1);
    let mut report: Vec<ReportRow> = vec![ReportRow::default(); rows.len()];
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let rows = &rows;
                let columns = &columns;
                scope.spawn(move || -> anyhow::Result<Vec<(usize, ReportRow)>> {
                    let mut done = Vec::new();
                    for (index, row) in rows.iter().enumerate().skip(thread).step_by(threads) {
                        let report_row = match row {
                            Ok(row) => match parse_row::<Supplier>(columns, &row.cells()) {
                                Ok(supplier) => screen_one(matcher, row.line, &supplier)?,
                                Err(errors) => ReportRow {
                                    row: row.line,
                                    input_id: row.record.get(0).unwrap_or_default().to_owned(),
                                    error: errors
                                        .iter()
                                        .map(|err| format!("{}:{}: {}: {}", file_name, row.line, err.field, err.reason))
                                        .collect::<Vec<_>>()
                                        .join("; "),
                                    ..ReportRow::default()
                                },
                            },
                            Err(err) => ReportRow {
                                row: err.line,
                                error: format!("{}:{}: row: {}", file_name, err.line, err.reason),
                                ..ReportRow::default()
                            },
                        };
                        done.push((index, report_row));
                    }
                    Ok(done)
                })
            })
            .collect();
        for worker in workers {
            let done = worker.join().map_err(|_| anyhow::anyhow!("a screening thread panicked"))??;
            for (index, row) in done {
                report[index] = row;
            }
        }
        Ok(())
    })?;
    Ok(report)
}

/// Screens one supplier and fills its report row from the best match.
pub fn screen_one(matcher: &Matcher, line: u64, supplier: &Supplier) -> anyhow::Result<ReportRow> {
    let query = ScreeningQuery {
        name: supplier.name.clone(),
        aliases: supplier.aliases.clone(),
        tax_id: supplier.tax_id.clone(),
        country: supplier.country.clone(),
    };
    let matches = matcher.screen(&query)?;
    let mut row = ReportRow {
        row: line,
        input_id: supplier.supplier_id.clone(),
        input_name: supplier.name.clone(),
        input_tax_id: supplier.tax_id.clone().unwrap_or_default(),
        match_strength: Strength::None.as_str().to_owned(),
        ..ReportRow::default()
    };
    if let Some(best) = matches.first() {
        row.match_entity_id = best.entity.entity_id.clone();
        row.match_list = best.entity.list.clone().unwrap_or_default();
        row.match_name = best.explanation.matched_name.clone();
        row.match_score = format!("{:.3}", best.score);
        row.match_strength = best.strength.as_str().to_owned();
        row.match_signals =
            best.explanation.signals.iter().map(|signal| signal_name(*signal)).collect::<Vec<_>>().join("|");
        row.match_explanation = explain(best);
        row.other_matches = matches.len() - 1;
    }
    Ok(row)
}

/// The signal's name as written in reports.
pub fn signal_name(signal: Signal) -> &'static str {
    match signal {
        Signal::SameTaxId => "same_tax_id",
        Signal::SameTaxIdDifferentName => "same_tax_id_different_name",
        Signal::SameNameDifferentTaxId => "same_name_different_tax_id",
        Signal::InvalidQueryTaxId => "invalid_tax_id",
        Signal::CountryMismatch => "country_mismatch",
    }
}

/// A one-line explanation of a match for a report cell.
pub fn explain(found: &Match) -> String {
    let e = &found.explanation;
    let pairs: Vec<String> =
        e.word_pairs.iter().map(|pair| format!("{}~{} {:.2}", pair.query, pair.listed, pair.similarity)).collect();
    let mut text =
        format!("\"{}\" matched \"{}\" (name {:.3}: {})", e.query_name, e.matched_name, e.name_score, pairs.join(", "));
    if !e.unmatched_query_words.is_empty() || !e.unmatched_listed_words.is_empty() {
        text.push_str(&format!(
            "; unpaired: [{}] / [{}]",
            e.unmatched_query_words.join(" "),
            e.unmatched_listed_words.join(" ")
        ));
    }
    match &e.tax_id {
        super::TaxIdEvidence::Same { tax_id, valid, scheme } => {
            let validity = match valid {
                Some(true) => "valid",
                Some(false) => "invalid",
                None => "unchecked",
            };
            text.push_str(&format!("; same tax id {tax_id} ({} {validity})", scheme.as_deref().unwrap_or("no scheme")));
        }
        super::TaxIdEvidence::Different { query, listed } => {
            text.push_str(&format!("; different tax ids {query} / {listed}"));
        }
        super::TaxIdEvidence::NotCompared => {}
    }
    if e.signals.contains(&Signal::CountryMismatch) {
        text.push_str(&format!(
            "; countries differ {} / {}",
            e.query_country.as_deref().unwrap_or("?"),
            e.listed_country.as_deref().unwrap_or("?")
        ));
    }
    text
}

/// Counts the report rows by outcome.
pub fn summarize(rows: &[ReportRow]) -> ScreeningSummary {
    let mut summary = ScreeningSummary { rows: rows.len(), ..ScreeningSummary::default() };
    for row in rows {
        match row.match_strength.as_str() {
            _ if !row.error.is_empty() => summary.errors += 1,
            "strong" => summary.strong += 1,
            "possible" => summary.possible += 1,
            _ => summary.none += 1,
        }
    }
    summary
}

/// Writes the report as CSV. Cells that a spreadsheet would run as a formula (starting
/// with `=`, `+`, `-`, `@`, tab or carriage return) are prefixed with `'`.
pub fn write_report_csv(rows: &[ReportRow], out: impl Write) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(REPORT_COLUMNS)?;
    for row in rows {
        let cells = [
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
            row.error.clone(),
        ];
        writer.write_record(cells.iter().map(|cell| neutralise_formula(cell).into_owned()))?;
    }
    writer.flush()?;
    Ok(())
}

/// Guards a CSV cell against formula injection.
pub fn neutralise_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// `cadena screen` without the printing: reads `input`, writes the report to `output`.
pub fn screen_file(matcher: &Matcher, input: &Path, output: &Path, threads: usize) -> anyhow::Result<ScreeningSummary> {
    let file_name = input.display().to_string();
    let bytes = std::fs::read(input).with_context(|| format!("{file_name}: cannot read the file"))?;
    let rows = screen_suppliers(matcher, &file_name, bytes, threads)?;
    let out =
        std::fs::File::create(output).with_context(|| format!("{}: cannot create the report", output.display()))?;
    write_report_csv(&rows, std::io::BufWriter::new(out))?;
    Ok(summarize(&rows))
}
