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
