//! The body of `POST /v1/screenings`: any bytes as JSON, read as the handler reads it
//! (`ScreeningRequest::parse`), then (when it is a valid request)
//! the whole screening, matching against an index of the demo watchlist and the bundled
//! rules, as the service does after reading its context from the store.
#![no_main]

use std::sync::OnceLock;

use cadena::matching::index::{EntityIndex, Indexable};
use cadena::matching::{Matcher, Thresholds};
use cadena::csv_reader::CsvFile;
use cadena::records::{ColumnMap, RecordKind, WatchlistEntry, parse_row};
use cadena::rules::Ruleset;
use cadena::screening::{Context, Screener};
use cadena::service::{ScreeningRequest, add_request_records, screen_request};
use libfuzzer_sys::fuzz_target;

struct Setup {
    matcher: Matcher,
    ruleset: Ruleset,
    _dir: tempfile::TempDir,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let index = EntityIndex::open_or_create(dir.path()).unwrap();
        let (_, _, bytes) = cadena::demo::DEMO_FILES[0];
        let file = CsvFile::from_bytes("watchlist.csv", bytes.to_vec());
        let (header, rows) = file.rows().unwrap();
        let columns = ColumnMap::new(RecordKind::Watchlist, &header).unwrap();
        let entities: Vec<_> = rows
            .map(|row| parse_row::<WatchlistEntry>(&columns, &row.unwrap().cells()).unwrap().to_entity("demo"))
            .collect();
        index.add_entities(&entities).unwrap();
        Setup { matcher: Matcher::new(index, Thresholds::default()), ruleset: Ruleset::bundled(), _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    // As the handler reads a body: JSON, then every field as its CSV cell.
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok(request) = ScreeningRequest::parse(body) else { return };
    if request.problem().is_some() {
        return;
    }
    let setup = setup();
    let mut context = Context::default();
    add_request_records(&mut context, &request);
    let view = setup.matcher.index().view();
    let screener = Screener {
        matcher: &setup.matcher,
        view: &view,
        ruleset: &setup.ruleset,
        context: &context,
        lang: request.lang.unwrap_or_default(),
    };
    if let Ok(result) = screen_request(&screener, &request) {
        serde_json::to_string(&result).unwrap();
    }
});
