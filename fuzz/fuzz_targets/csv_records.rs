//! Any bytes as an uploaded CSV file: decoding, delimiter detection, rows with their
//! lines, and every record kind's cell parsing. Nothing may panic.
#![no_main]

use cadena::csv_reader::CsvFile;
use cadena::records::{Agency, ColumnMap, LicenceEntry, ProcurementLine, Record, Supplier, WatchlistEntry, parse_row};
use libfuzzer_sys::fuzz_target;

fn parse_all<R: Record>(header: &[String], rows: &[Vec<String>]) {
    let Ok(columns) = ColumnMap::new(R::KIND, header) else { return };
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        let _ = parse_row::<R>(&columns, &cells);
    }
}

fuzz_target!(|data: &[u8]| {
    let file = CsvFile::from_bytes("fuzz.csv", data.to_vec());
    let Ok((header, rows)) = file.rows() else { return };
    let rows: Vec<Vec<String>> = rows
        .filter_map(Result::ok)
        .map(|row| row.cells().into_iter().map(str::to_owned).collect())
        .collect();
    parse_all::<WatchlistEntry>(&header, &rows);
    parse_all::<Supplier>(&header, &rows);
    parse_all::<Agency>(&header, &rows);
    parse_all::<ProcurementLine>(&header, &rows);
    parse_all::<LicenceEntry>(&header, &rows);
});
