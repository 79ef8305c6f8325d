//! Importers: published formats turned into cadena's records.
//!
//! Each format has a module with a pure, panic-free `parse(&[u8])` that returns the
//! records it found, each with its location in the source (a line, or a JSON path such as
//! `releases[12].awards[0].items[3]`), and the parts it had to reject, each with its
//! location and reason. The records then go through the same load pipeline as CSV files
//! (`ingest`), so dataset versions, stored rejected rows, content-hash idempotence and
//! the one-transaction load hold for every format.
//!
//! [`Format::detect`] tells formats apart from a file's name and first bytes, and
//! [`resolve`] decides a file's format and kinds for `cadena ingest` and uploads alike;
//! both accept an explicit format and kind too.

pub mod cbp;
pub mod ilab;
pub mod lista_suja;
pub mod ocds;
pub mod opensanctions;

use serde::{Deserialize, Serialize};

use crate::records::RecordKind;

/// The file formats cadena reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// cadena's own CSV columns, or a CSV whose headers the column mapping recognises.
    Csv,
    /// Open Contracting Data Standard release or record packages, or JSON lines of them.
    Ocds,
    /// Brazil's register of employers caught using labour analogous to slavery.
    ListaSuja,
    /// US CBP Withhold Release Orders, one entity per row with its aliases.
    Cbp,
    /// OpenSanctions FollowTheMoney entities, one JSON object per line.
    Ftm,
    /// OpenSanctions `targets.simple.csv`.
    OpensanctionsCsv,
    /// The ILAB List of Goods Produced by Child Labor or Forced Labor (XML or flat CSV):
    /// not records, but the reference list the risk rules use.
    Ilab,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Csv,
        Format::Ocds,
        Format::ListaSuja,
        Format::Cbp,
        Format::Ftm,
        Format::OpensanctionsCsv,
        Format::Ilab,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ocds => "ocds",
            Format::ListaSuja => "lista-suja",
            Format::Cbp => "cbp",
            Format::Ftm => "ftm",
            Format::OpensanctionsCsv => "opensanctions-csv",
            Format::Ilab => "ilab",
        }
    }

    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|format| format.as_str() == name)
    }

    /// Guesses a file's format from its name and first bytes: JSON is OCDS, and a CSV
    /// header tells the published lists from cadena's own columns.
    pub fn detect(file_name: &str, bytes: &[u8]) -> Format {
        let head = &bytes[..bytes.len().min(4096)];
        let text = String::from_utf8_lossy(head);
        let text = text.trim_start_matches('\u{feff}').trim_start();
        let lower_name = file_name.to_lowercase();
        if text.starts_with('{')
            || text.starts_with('[')
            || lower_name.ends_with(".json")
            || lower_name.ends_with(".jsonl")
        {
            // A FollowTheMoney entity has a schema and properties; OCDS has neither.
            let first_line = text.lines().next().unwrap_or_default();
            if first_line.contains("\"schema\"") && first_line.contains("\"properties\"") {
                return Format::Ftm;
            }
            return Format::Ocds;
        }
        if text.starts_with('<') && text.contains("<Good") {
            return Format::Ilab;
        }
        let header = text.lines().next().unwrap_or_default().to_lowercase();
        if header.contains("good") && header.contains("forced_labor") && header.contains("country") {
            return Format::Ilab;
        }
        if header.contains("empregador") && header.contains("cnpj") {
            return Format::ListaSuja;
        }
        if header.contains("cluster_id") && header.contains("raw_cbp_text") {
            return Format::Cbp;
        }
        let simple = header.replace('"', "");
        if simple.starts_with("id,schema,name,aliases") {
            return Format::OpensanctionsCsv;
        }
        Format::Csv
    }

    /// The record kinds a file of this format yields, in load order.
    pub fn kinds(self) -> &'static [RecordKind] {
        match self {
            Format::Csv | Format::Ilab => &[],
            Format::Ocds => &[RecordKind::Suppliers, RecordKind::Procurements],
            Format::ListaSuja | Format::Cbp | Format::Ftm | Format::OpensanctionsCsv => &[RecordKind::Watchlist],
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// How a file is loaded: its format (the one given, else the one detected from its name
/// and first bytes) and the record kinds it is loaded as (the one given, else those its
/// format holds). The one place that decides both, for `cadena ingest` and uploads; the
/// error names the file and the kinds there are.
pub fn resolve(
    file_name: &str,
    bytes: &[u8],
    kind: Option<RecordKind>,
    format: Option<Format>,
) -> Result<(Format, Vec<RecordKind>), String> {
    let format = format.unwrap_or_else(|| Format::detect(file_name, bytes));
    let kinds = match kind {
        Some(kind) => vec![kind],
        None if format.kinds().is_empty() => {
            let kinds: Vec<&str> = RecordKind::ALL.iter().map(|kind| kind.as_str()).collect();
            return Err(format!(
                "{file_name}: a {format} file does not say what it holds, so name what the file holds ({}), as \
                 in `cadena ingest suppliers {file_name}` or `kind=suppliers`, or give its format",
                kinds.join(", ")
            ));
        }
        None => format.kinds().to_vec(),
    };
    Ok((format, kinds))
}

/// A record with where it came from in its source.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<R> {
    /// The line of a line-based source (1 is a CSV header; JSON lines count from 1), or
    /// for a single JSON document the position of the release or record (from 1).
    pub line: i64,
    /// The JSON path (`releases[3].awards[0].items[1]`), or the column, of the record.
    pub path: String,
    pub record: R,
}

/// A part of the source that could not become a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reject {
    pub line: i64,
    /// The JSON path or field at fault.
    pub path: String,
    pub reason: String,
}

/// The rows of a CSV file that could be read; each one that could not is added to
/// `rejected` with its line.
fn readable_rows(rows: crate::csv_reader::CsvRows<'_>, rejected: &mut Vec<Reject>) -> Vec<crate::csv_reader::CsvRow> {
    rows.filter_map(|row| {
        row.map_err(|err| rejected.push(Reject { line: err.line as i64, path: "row".to_owned(), reason: err.reason }))
            .ok()
    })
    .collect()
}

/// Why a whole file could not be read (not JSON, not the expected columns).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ImportError(pub String);

/// Keeps one record per key, the last one seen (a later release of the same contracting
/// process supersedes an earlier one).
pub(crate) fn dedupe_last<R>(records: Vec<Located<R>>, key: impl Fn(&R) -> String) -> Vec<Located<R>> {
    let mut position: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut kept: Vec<Option<Located<R>>> = Vec::with_capacity(records.len());
    for record in records {
        let record_key = key(&record.record);
        match position.get(&record_key) {
            Some(&idx) => kept[idx] = Some(record),
            None => {
                position.insert(record_key, kept.len());
                kept.push(Some(record));
            }
        }
    }
    kept.into_iter().flatten().collect()
}

/// Trims a string and drops it when empty.
pub(crate) fn non_empty(text: Option<&str>) -> Option<String> {
    text.map(str::trim).filter(|text| !text.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected_from_name_and_first_bytes() {
        assert_eq!(Format::detect("x.json", b"  {\"releases\": []}"), Format::Ocds);
        assert_eq!(Format::detect("x.txt", b"\xef\xbb\xbf[{}]"), Format::Ocds);
        assert_eq!(Format::detect("lista.csv", "secao,ID,UF,Empregador,CNPJ/CPF\n".as_bytes()), Format::ListaSuja);
        assert_eq!(Format::detect("c.csv", b"cluster_id,raw_cbp_text,name\n"), Format::Cbp);
        assert_eq!(Format::detect("e.json", b"{\"id\":\"x\",\"schema\":\"Company\",\"properties\":{}}\n"), Format::Ftm);
        assert_eq!(
            Format::detect("t.csv", b"\"id\",\"schema\",\"name\",\"aliases\",\"birth_date\"\n"),
            Format::OpensanctionsCsv
        );
        assert_eq!(Format::detect("s.csv", b"supplier_id,name\n"), Format::Csv);
        assert_eq!(Format::detect("g.xml", b"<Goods>\n  <Good>"), Format::Ilab);
        assert_eq!(
            Format::detect("g.csv", b"edition_file,good,sector,country,region,child_labor,forced_labor\n"),
            Format::Ilab
        );
        assert_eq!(Format::detect("empty.csv", b""), Format::Csv);
    }
}
