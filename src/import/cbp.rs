//! US Customs and Border Protection Withhold Release Orders and Findings: the entities
//! named by each order, one per row, with their a/k/a aliases (`|`-separated) and the
//! order's original text, as in the OpenSanctions crawler's curated lookups.

use super::{ImportError, Located, RejectedRow, non_empty};
use crate::csv_reader::CsvFile;
use crate::records::fields::{parse_country, split_list};
use crate::records::{Extra, Record, WatchlistEntry};

/// The list name given to the entries.
pub const LIST_NAME: &str = "CBP WRO";

/// Where the orders are published.
pub const SOURCE_URL: &str = "https://www.cbp.gov/newsroom/stats/trade/withhold-release-orders-findings-dashboard";

/// Parses the file. Rows are keyed `cluster_id-n`, the n-th entity of one order.
pub fn parse(bytes: &[u8]) -> Result<(Vec<Located<WatchlistEntry>>, Vec<RejectedRow>), ImportError> {
    let file = CsvFile::from_bytes("cbp", bytes.to_vec());
    let (header, rows) = file.rows().map_err(|err| ImportError(err.to_string()))?;
    let column = |name: &str| header.iter().position(|column| column.trim().eq_ignore_ascii_case(name));
    let (Some(cluster_col), Some(name_col)) = (column("cluster_id"), column("name")) else {
        return Err(ImportError(format!(
            "the header lacks the CBP columns cluster_id and name (found: {})",
            header.join(", ")
        )));
    };
    let (aliases_col, raw_col, notes_col, country_col, address_col) =
        (column("aliases"), column("raw_cbp_text"), column("notes"), column("country"), column("address"));
    let mut entries = Vec::new();
    let mut rejected = Vec::new();
    let mut n_in_cluster: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for row in super::readable_rows(rows, &mut rejected) {
        let line = row.line as i64;
        let cells = row.cells();
        let cell = |idx: Option<usize>| non_empty(idx.and_then(|idx| cells.get(idx).copied()));
        let (Some(cluster), Some(name)) = (cell(Some(cluster_col)), cell(Some(name_col))) else {
            rejected.push(RejectedRow {
                line,
                field: "cluster_id+name".to_owned(),
                reason: "is empty but required".to_owned(),
            });
            continue;
        };
        let country = match cell(country_col) {
            Some(country) => match parse_country(&country) {
                Ok(code) => Some(code),
                Err(reason) => {
                    rejected.push(RejectedRow { line, field: "country".to_owned(), reason });
                    continue;
                }
            },
            None => None,
        };
        let n = n_in_cluster.entry(cluster.clone()).or_default();
        *n += 1;
        let mut extra = Extra::new();
        extra.insert("cluster_id".to_owned(), cluster.clone());
        for (key, idx) in [("notes", notes_col), ("address", address_col)] {
            if let Some(value) = cell(idx) {
                extra.insert(key.to_owned(), value);
            }
        }
        let mut entry = WatchlistEntry {
            entity_id: format!("{cluster}-{n}"),
            list: Some(LIST_NAME.to_owned()),
            name,
            aliases: cell(aliases_col).map(|a| split_list(&a)).unwrap_or_default(),
            tax_id: None,
            tax_id_key: None,
            country,
            reason: Some(match cell(raw_col) {
                Some(raw) => format!("Withhold Release Order: {raw}"),
                None => "Withhold Release Order".to_owned(),
            }),
            listed_on: None,
            source_url: Some(SOURCE_URL.to_owned()),
            extra,
        };
        entry.derive();
        entries.push(Located { line, path: String::new(), record: entry });
    }
    Ok((entries, rejected))
}
