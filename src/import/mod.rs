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
//! [`resolve`] decides a file's format and kinds for `cadena ingest`, uploads, `cadena
//! screen` and batch audits alike; both accept an explicit format and kind too.

pub mod cbp;
pub mod ilab;
pub mod lista_suja;
pub mod ocds;
pub mod opensanctions;

use serde::{Deserialize, Serialize};

use crate::records::{ColumnMap, RecordKind};

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

/// What a file is read for, which decides the kinds a CSV of cadena's columns holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A load (`cadena ingest`, `POST /v1/datasets`): such a CSV file is told its kind.
    Load,
    /// A screening of suppliers or procurement lines (`cadena screen`, a batch audit): a
    /// CSV file holds procurement lines when its header has a column for `procurement_id`
    /// (by its own name, an alias such as `ocid` or `Procurement ID`, or the column map),
    /// else suppliers; an OCDS file holds procurement lines (with their suppliers).
    Screening,
}

/// How a file is read: its format (the one given, else the one detected from its name
/// and first bytes) and the record kinds it is read as (the one given, else those its
/// format holds, else for a screening those its CSV header tells). The one place that
/// decides both, for `cadena ingest`, uploads, `cadena screen` and batch audits; the
/// error names the file and the kinds there are. `map_entries` are the column map's
/// `COLUMN=FIELD` entries (checked later, against the kind decided here).
pub fn resolve(
    file_name: &str,
    bytes: &[u8],
    kind: Option<RecordKind>,
    format: Option<Format>,
    purpose: Purpose,
    map_entries: &[String],
) -> Result<(Format, Vec<RecordKind>), String> {
    let format = format.unwrap_or_else(|| Format::detect(file_name, bytes));
    if purpose == Purpose::Screening {
        return match format {
            Format::Ocds => Ok((format, vec![RecordKind::Procurements])),
            Format::Csv => {
                let header = csv_header(file_name, bytes)?;
                Ok((format, vec![screening_kind(&header, &unchecked_map(map_entries))]))
            }
            _ => Err(format!(
                "{file_name}: a {format} file cannot be screened: screen a CSV file of suppliers or procurement \
                 lines, or an OCDS file"
            )),
        };
    }
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

/// Which kind a CSV file to screen holds: procurement lines if its header has a column
/// for their `procurement_id` (by its own name, an alias, or the map), else suppliers.
fn screening_kind(header: &[String], map: &[(String, String)]) -> RecordKind {
    if ColumnMap::has_column_for(RecordKind::Procurements, header, map, "procurement_id") {
        RecordKind::Procurements
    } else {
        RecordKind::Suppliers
    }
}

/// `COLUMN=FIELD` entries as pairs, field names normalised, before they are checked
/// against a kind (entries that are not `COLUMN=FIELD` are left for that check).
fn unchecked_map(map_entries: &[String]) -> Vec<(String, String)> {
    map_entries
        .iter()
        .filter_map(|entry| entry.rsplit_once('='))
        .map(|(column, field)| (column.trim().to_owned(), crate::records::normalise_header(field)))
        .collect()
}

/// A CSV file's header, read from its first lines (the rest of a large file need not be
/// decoded for it), or why it has none.
pub fn csv_header(file_name: &str, bytes: &[u8]) -> Result<Vec<String>, String> {
    const HEAD_BYTES: usize = 64 * 1024;
    let head = match bytes.get(..HEAD_BYTES) {
        Some(head) => head.iter().rposition(|&byte| byte == b'\n').map_or(head, |end| &head[..=end]),
        None => bytes,
    };
    let file = crate::csv_reader::CsvFile::from_bytes(file_name.to_owned(), head.to_vec());
    let (header, _) = file.rows().map_err(|err| err.to_string())?;
    Ok(header)
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

/// A row, or a part of a source, that could not become a record: what a load stores
/// with its rejected rows, what an importer reports, and what a screening report says
/// of a row it could not read. The one rejected-row type of every read path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RejectedRow {
    /// The line the row starts on (1 is a CSV header), or for a single JSON document the
    /// position of the release or record (from 1; 0 for the whole file).
    pub line: i64,
    /// The field at fault, the JSON path of the part at fault, or `row` when the row as a
    /// whole could not be read.
    pub field: String,
    pub reason: String,
}

impl RejectedRow {
    /// The message as printed: `file:line: field: reason`.
    pub fn message(&self, file_name: &str) -> String {
        format!("{file_name}:{}: {}: {}", self.line, self.field, self.reason)
    }
}

/// The rows of a CSV file that could be read; each one that could not is added to
/// `rejected` with its line.
fn readable_rows(
    rows: crate::csv_reader::CsvRows<'_>,
    rejected: &mut Vec<RejectedRow>,
) -> Vec<crate::csv_reader::CsvRow> {
    rows.filter_map(|row| {
        row.map_err(|err| {
            rejected.push(RejectedRow { line: err.line as i64, field: "row".to_owned(), reason: err.reason })
        })
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

    #[test]
    fn a_screening_tells_procurement_lines_from_suppliers_by_the_header() {
        let screening = |name: &str, bytes: &str, map: &[&str]| {
            let map: Vec<String> = map.iter().map(|entry| entry.to_string()).collect();
            resolve(name, bytes.as_bytes(), None, None, Purpose::Screening, &map)
                .map(|(format, kinds)| (format, kinds[0]))
        };
        let procurements = Ok((Format::Csv, RecordKind::Procurements));
        for (header, map) in [
            ("procurement_id,line_id,supplier_name\n", &[][..]),
            ("Procurement ID;Item;Proveedor\n", &[]),
            ("ocid,Nº Ítem,Proveedor\n", &[]),
            ("Nº Proceso,Ítem,Proveedor\n", &["Nº Proceso=procurement_id"]),
        ] {
            assert_eq!(screening("compras.csv", header, map), procurements, "{header:?} with {map:?}");
        }
        assert_eq!(screening("p.csv", "supplier_id,name\n", &[]), Ok((Format::Csv, RecordKind::Suppliers)));
        assert_eq!(screening("p.json", "{\"releases\": []}", &[]), Ok((Format::Ocds, RecordKind::Procurements)));
        let refused = screening("c.csv", "cluster_id,raw_cbp_text,name\n", &[]).unwrap_err();
        assert!(refused.contains("a cbp file cannot be screened"), "{refused}");
        // A load of cadena's CSV columns is still told its kind.
        let load = resolve("compras.csv", b"procurement_id,line_id\n", None, None, Purpose::Load, &[]);
        assert!(load.unwrap_err().contains("does not say what it holds"));
    }
}
