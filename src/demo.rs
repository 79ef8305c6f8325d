//! The bundled demo dataset (files under `demo/`, embedded in the binary), loaded by
//! `cadena serve --demo` so that a new user sees cadena work with one command. Every
//! name in it is fictional.

use crate::ingest::{self, LoadReport, LoadRequest};
use crate::records::RecordKind;
use crate::store::Store;

/// The source the demo records are loaded into.
pub const DEMO_SOURCE: &str = "demo";

/// The demo files in load order: each kind, its file name and its contents.
pub const DEMO_FILES: [(RecordKind, &str, &[u8]); 5] = [
    (RecordKind::Watchlist, "demo/watchlist.csv", include_bytes!("../demo/watchlist.csv")),
    (RecordKind::Licences, "demo/licences.csv", include_bytes!("../demo/licences.csv")),
    (RecordKind::Agencies, "demo/agencies.csv", include_bytes!("../demo/agencies.csv")),
    (RecordKind::Suppliers, "demo/suppliers.csv", include_bytes!("../demo/suppliers.csv")),
    (RecordKind::Procurements, "demo/procurements.csv", include_bytes!("../demo/procurements.csv")),
];

/// Loads the demo dataset; loading it again leaves the records unchanged.
pub async fn load_demo(store: &Store) -> anyhow::Result<Vec<LoadReport>> {
    let mut reports = Vec::new();
    for (kind, file_name, bytes) in DEMO_FILES {
        let request = LoadRequest {
            kind,
            source: DEMO_SOURCE.to_owned(),
            file_name: file_name.to_owned(),
            bytes: bytes.to_vec(),
        };
        reports.push(ingest::load_file(store, request).await?);
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv_reader::CsvFile;

    /// The demo's tax ids pass their country's check digits, so that an exact tax-id
    /// match in the demo shows as the strong evidence it is (never beside `invalid_tax_id`).
    #[test]
    fn every_demo_tax_id_is_valid() {
        let mut n_checked = 0;
        for (kind, file_name, bytes) in DEMO_FILES {
            let file = CsvFile::from_bytes(file_name, bytes.to_vec());
            let (header, rows) = file.rows().unwrap();
            let column = |names: &[&str]| header.iter().position(|name| names.contains(&name.as_str()));
            let tax_id = column(&["tax_id", "supplier_tax_id"]).unwrap();
            // A procurement line's supplier is in the country of its supplier record;
            // the demo's lines buy from suppliers of their origin country.
            let country = column(&["country", "origin_country"]).unwrap();
            for row in rows {
                let row = row.unwrap();
                let cells = row.cells();
                let (tax_id, country) = (cells[tax_id].trim(), cells[country].trim());
                if tax_id.is_empty() {
                    continue;
                }
                let check = crate::taxid::validate(Some(country), tax_id);
                assert!(check.is_valid(), "{file_name}:{}: {kind} tax id {tax_id} ({country}): {check:?}", row.line);
                n_checked += 1;
            }
        }
        assert!(n_checked >= 20, "{n_checked}");
    }
}
