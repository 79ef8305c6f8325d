//! Reading CSV files as people export them from spreadsheets and procurement systems.
//!
//! The encoding is detected (UTF-8 with or without BOM, UTF-16 with BOM, and otherwise
//! the legacy encoding chardetng guesses, in practice Windows-1252 / Latin-1), and so is
//! the delimiter (`,`, `;` or tab, from the header line). Quoted newlines are kept, blank
//! lines skipped, short rows padded with empty cells. A row with more non-empty cells
//! than the header has columns is reported rather than guessed at.

use std::fmt;

use csv::StringRecord;
use encoding_rs::{Encoding, UTF_8};

/// A whole CSV file, decoded to text, with its detected encoding and delimiter.
pub struct CsvFile {
    /// The name used in messages (`suppliers.csv:17: …`).
    pub name: String,
    pub encoding: &'static Encoding,
    pub delimiter: u8,
    text: String,
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("{file}: the file is empty or has no header line")]
    NoHeader { file: String },
    #[error("{file}:{line}: could not read the header: {source}")]
    Header { file: String, line: u64, source: csv::Error },
}

/// One data row: its line number in the file (where the row starts) and its cells.
#[derive(Debug)]
pub struct CsvRow {
    pub line: u64,
    pub record: StringRecord,
}

impl CsvRow {
    pub fn cells(&self) -> Vec<&str> {
        self.record.iter().collect()
    }
}

/// A row that could not be split into cells matching the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

impl CsvFile {
    /// Decodes a file's bytes and detects its delimiter.
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> CsvFile {
        let (text, encoding) = decode(bytes);
        let delimiter = detect_delimiter(&text);
        CsvFile { name: name.into(), encoding, delimiter, text }
    }

    /// The file's text, decoded to UTF-8.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Reads the header and returns it with an iterator over the data rows.
    pub fn rows(&self) -> Result<(Vec<String>, CsvRows<'_>), CsvError> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .flexible(true)
            .has_headers(false)
            .from_reader(self.text.as_bytes());
        let mut header = StringRecord::new();
        let has_header = reader.read_record(&mut header).map_err(|source| CsvError::Header {
            file: self.name.clone(),
            line: 1,
            source,
        })?;
        let header: Vec<String> = header.iter().map(|name| name.trim().to_owned()).collect();
        if !has_header || header.iter().all(String::is_empty) {
            return Err(CsvError::NoHeader { file: self.name.clone() });
        }
        let n_columns = header.len();
        let rows = CsvRows { text: self.text.as_bytes(), reader, n_columns, counted_to: 0, line_at_counted_to: 1 };
        Ok((header, rows))
    }

    /// The detected delimiter, spelled for people.
    pub fn delimiter_name(&self) -> &'static str {
        match self.delimiter {
            b';' => "semicolon",
            b'\t' => "tab",
            _ => "comma",
        }
    }
}

impl fmt::Debug for CsvFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsvFile")
            .field("name", &self.name)
            .field("encoding", &self.encoding.name())
            .field("delimiter", &(self.delimiter as char))
            .finish_non_exhaustive()
    }
}

/// The data rows of a [`CsvFile`], each with its line number. Rows whose cells are all
/// empty (blank lines, or `;;;;` lines from spreadsheets) are skipped.
pub struct CsvRows<'a> {
    text: &'a [u8],
    reader: csv::Reader<&'a [u8]>,
    n_columns: usize,
    /// Line numbers are counted from byte offsets, incrementally: the csv crate's own
    /// line count does not include the blank lines it skips.
    counted_to: usize,
    line_at_counted_to: u64,
}

impl Iterator for CsvRows<'_> {
    type Item = Result<CsvRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut record = StringRecord::new();
        loop {
            match self.reader.read_record(&mut record) {
                Ok(false) => return None,
                Ok(true) if record.iter().all(|cell| cell.trim().is_empty()) => continue,
                Ok(true) => {
                    let line = self.line_at(record.position().map_or(0, |position| position.byte()));
                    return Some(self.check_width(line, record));
                }
                Err(err) => {
                    let line = self.line_at(err.position().map_or(0, |position| position.byte()));
                    return Some(Err(RowError { line, reason: format!("could not read the row: {err}") }));
                }
            }
        }
    }
}

impl CsvRows<'_> {
    /// The line a record starting at byte `offset` is on, past the line breaks the csv
    /// reader counts as part of the record's start.
    fn line_at(&mut self, offset: u64) -> u64 {
        let mut start = (offset as usize).min(self.text.len());
        while start < self.text.len() && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        if start < self.counted_to {
            return self.line_at_counted_to;
        }
        let n_newlines = self.text[self.counted_to..start].iter().filter(|byte| **byte == b'\n').count();
        self.counted_to = start;
        self.line_at_counted_to += n_newlines as u64;
        self.line_at_counted_to
    }

    fn check_width(&self, line: u64, record: StringRecord) -> Result<CsvRow, RowError> {
        let n_extra_cells = record.iter().skip(self.n_columns).filter(|c| !c.trim().is_empty()).count();
        if n_extra_cells > 0 {
            return Err(RowError {
                line,
                reason: format!(
                    "row has {} cells but the header has {} columns (an unquoted delimiter in a value?)",
                    record.len(),
                    self.n_columns
                ),
            });
        }
        Ok(CsvRow { line, record })
    }
}

/// Decodes a file's bytes: by its BOM if it has one, as UTF-8 if it is valid UTF-8,
/// and otherwise in the legacy encoding chardetng detects.
pub fn decode(bytes: Vec<u8>) -> (String, &'static Encoding) {
    if let Some((encoding, bom_len)) = Encoding::for_bom(&bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        return (text.into_owned(), encoding);
    }
    let bytes = match String::from_utf8(bytes) {
        Ok(text) => return (text, UTF_8),
        Err(err) => err.into_bytes(),
    };
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(&bytes, true);
    let encoding = detector.guess(None, chardetng::Utf8Detection::Deny);
    let (text, _) = encoding.decode_without_bom_handling(&bytes);
    (text.into_owned(), encoding)
}

/// Picks the delimiter that occurs most often, outside quotes, in the first non-blank
/// line; a comma when none occurs.
pub fn detect_delimiter(text: &str) -> u8 {
    const CANDIDATES: [u8; 3] = [b',', b';', b'\t'];
    let header = text.lines().find(|line| !line.trim().is_empty()).unwrap_or_default();
    let mut counts = [0usize; CANDIDATES.len()];
    let mut in_quotes = false;
    for byte in header.bytes() {
        if byte == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes && let Some(idx) = CANDIDATES.iter().position(|c| *c == byte) {
            counts[idx] += 1;
        }
    }
    let (best_idx, best_count) =
        counts.iter().enumerate().max_by_key(|(idx, count)| (**count, usize::MAX - idx)).unwrap_or((0, &0));
    if *best_count == 0 { b',' } else { CANDIDATES[best_idx] }
}

#[cfg(test)]
mod tests {
    use super::*;

    type LineAndCells = (u64, Vec<String>);

    fn read(bytes: &[u8]) -> (Vec<String>, Vec<Result<LineAndCells, RowError>>) {
        let file = CsvFile::from_bytes("t.csv", bytes.to_vec());
        let (header, rows) = file.rows().unwrap();
        let rows =
            rows.map(|row| row.map(|row| (row.line, row.cells().into_iter().map(str::to_owned).collect()))).collect();
        (header, rows)
    }

    #[test]
    fn delimiters_are_detected_from_the_header() {
        assert_eq!(detect_delimiter("a,b,c\n1;2;3"), b',');
        assert_eq!(detect_delimiter("a;b;c\n1,5;2;3"), b';');
        assert_eq!(detect_delimiter("a\tb\tc"), b'\t');
        assert_eq!(detect_delimiter("\n\n\"x;y\",b,c"), b',');
        assert_eq!(detect_delimiter("single"), b',');
    }

    #[test]
    fn utf8_bom_is_removed() {
        let (text, encoding) = decode(b"\xEF\xBB\xBFname\nJos\xC3\xA9".to_vec());
        assert_eq!(encoding, UTF_8);
        assert_eq!(text, "name\nJosé");
    }

    #[test]
    fn windows_1252_is_detected() {
        let (encoded, _, _) = encoding_rs::WINDOWS_1252
            .encode("nombre;país\nCompañía Ficticia de Construcción;Perú\nIndústria Fictícia Ltda;Brasil\n");
        let (text, encoding) = decode(encoded.into_owned());
        assert_eq!(encoding, encoding_rs::WINDOWS_1252);
        assert!(text.contains("Compañía Ficticia de Construcción"));
        assert!(text.contains("Indústria Fictícia"));
    }

    #[test]
    fn quoted_newlines_blank_lines_and_short_rows() {
        let (header, rows) = read(b"id,name,note\n\n1,\"Two\nlines\",x\n\n2,short\r\n\r\n3,c,d\n,,\n4,e");
        assert_eq!(header, vec!["id", "name", "note"]);
        let ok: Vec<(u64, Vec<String>)> = rows.into_iter().map(Result::unwrap).collect();
        assert_eq!(ok[0], (3, vec!["1".into(), "Two\nlines".into(), "x".into()]));
        assert_eq!(ok[1].0, 6);
        assert_eq!(ok[1].1, vec!["2", "short"]);
        assert_eq!(ok[2].0, 8);
        assert_eq!(ok[3].0, 10, "a row of empty cells is skipped, not counted as data");
    }

    #[test]
    fn rows_wider_than_the_header_are_reported_unless_the_extra_cells_are_empty() {
        let (_, rows) = read(b"id,name\n1,a,,\n2,b,oops\n");
        assert!(rows[0].is_ok());
        let err = rows[1].clone().unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.reason.contains("3 cells but the header has 2"), "{}", err.reason);
    }

    #[test]
    fn an_empty_file_has_no_header() {
        let file = CsvFile::from_bytes("empty.csv", b"\n\n".to_vec());
        let err = file.rows().err().unwrap();
        assert_eq!(err.to_string(), "empty.csv: the file is empty or has no header line");
    }
}
