//! OpenSanctions exports: FollowTheMoney entities as JSON lines (`entities.ftm.json`,
//! one entity per line) and the flat `targets.simple.csv`, into watchlist entries with
//! all their names, aliases, identifiers, countries and source datasets.
//!
//! Only legal entities and people are read (`Person`, `Company`, `Organization`,
//! `LegalEntity`, `PublicBody`); the other FtM entities of a full export (addresses,
//! sanctions, ownership links) are skipped, as are entities marked `"target": false`.

use serde::Deserialize;
use serde_json::Value;

use super::{ImportError, Located, RejectedRow, non_empty};
use crate::csv_reader::CsvFile;
use crate::records::fields::{parse_country, parse_date};
use crate::records::{Extra, Record, WatchlistEntry};

/// The FtM schemata read as watchlist entries.
pub const SCHEMATA: &[&str] = &["Person", "Company", "Organization", "LegalEntity", "PublicBody"];

/// What a file gave: entries, rejects, and how many entities were not of a kind read.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub entries: Vec<Located<WatchlistEntry>>,
    pub rejected: Vec<RejectedRow>,
    pub n_skipped: usize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Entity {
    id: Option<Value>,
    schema: Option<Value>,
    caption: Option<Value>,
    properties: serde_json::Map<String, Value>,
    datasets: Vec<Value>,
    target: Option<bool>,
    first_seen: Option<Value>,
}

/// The text values of an FtM property (always a list of strings; anything else is ignored).
fn values<'a>(properties: &'a serde_json::Map<String, Value>, name: &str) -> impl Iterator<Item = String> + 'a {
    let list = properties.get(name).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    list.iter().filter_map(|value| non_empty(value.as_str()))
}

fn scalar(value: &Option<Value>) -> Option<String> {
    match value.as_ref()? {
        Value::String(s) => non_empty(Some(s)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Identifier properties, in the order the first one found becomes the entry's tax id.
const TAX_ID_PROPERTIES: &[&str] = &["taxNumber", "innCode", "vatCode", "registrationNumber", "ogrnCode", "leiCode"];

/// Parses FtM JSON lines. Never panics; a line that is not an entity is rejected.
pub fn parse_ftm(bytes: &[u8]) -> Result<Parsed, ImportError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut parsed = Parsed::default();
    let mut n_lines = 0;
    for (idx, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        n_lines += 1;
        let line_no = idx as i64 + 1;
        let reject = |reason: String| RejectedRow { line: line_no, field: "$".to_owned(), reason };
        let entity = match serde_json::from_slice::<Value>(line) {
            Ok(value) if !value.is_object() => {
                parsed.rejected.push(reject("not a FollowTheMoney entity (expected a JSON object)".to_owned()));
                continue;
            }
            Ok(value) => Entity::deserialize(value),
            Err(err) => Err(err),
        };
        let entity: Entity = match entity {
            Ok(entity) => entity,
            Err(err) => {
                parsed.rejected.push(reject(format!("not a FollowTheMoney entity: {err}")));
                continue;
            }
        };
        let schema = scalar(&entity.schema).unwrap_or_default();
        if !SCHEMATA.contains(&schema.as_str()) || entity.target == Some(false) {
            parsed.n_skipped += 1;
            continue;
        }
        let Some(id) = scalar(&entity.id) else {
            parsed.rejected.push(reject("the entity has no id".to_owned()));
            continue;
        };
        let props = &entity.properties;
        let mut names: Vec<String> = scalar(&entity.caption).into_iter().collect();
        for property in ["name", "alias", "weakAlias", "previousName", "abbreviation"] {
            for name in values(props, property) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        if names.is_empty() {
            parsed.rejected.push(RejectedRow {
                line: line_no,
                field: "properties.name".to_owned(),
                reason: "the entity has no name".to_owned(),
            });
            continue;
        }
        let countries: Vec<String> = ["country", "jurisdiction", "nationality", "citizenship", "mainCountry"]
            .iter()
            .flat_map(|property| values(props, property))
            .filter_map(|country| parse_country(&country).ok())
            .fold(Vec::new(), |mut all, code| {
                if !all.contains(&code) {
                    all.push(code);
                }
                all
            });
        let identifiers: Vec<(String, String)> = TAX_ID_PROPERTIES
            .iter()
            .flat_map(|property| values(props, property).map(move |value| ((*property).to_owned(), value)))
            .collect();
        let datasets: Vec<String> = entity.datasets.iter().filter_map(|d| non_empty(d.as_str())).collect();
        let topics: Vec<String> = values(props, "topics").collect();
        let mut extra = Extra::new();
        extra.insert("schema".to_owned(), schema.clone());
        if !datasets.is_empty() {
            extra.insert("datasets".to_owned(), datasets.join("|"));
        }
        if !identifiers.is_empty() {
            let all: Vec<String> = identifiers.iter().map(|(scheme, value)| format!("{scheme}:{value}")).collect();
            extra.insert("identifiers".to_owned(), all.join("|"));
        }
        if countries.len() > 1 {
            extra.insert("countries".to_owned(), countries.join("|"));
        }
        if !topics.is_empty() {
            extra.insert("topics".to_owned(), topics.join("|"));
        }
        let programs: Vec<String> = values(props, "program").collect();
        let mut reason = match topics.is_empty() {
            true => "listed by OpenSanctions".to_owned(),
            false => format!("OpenSanctions topics: {}", topics.join(", ")),
        };
        if !programs.is_empty() {
            reason.push_str(&format!("; programme: {}", programs.join(", ")));
        }
        let listed_on = scalar(&entity.first_seen)
            .or_else(|| values(props, "createdAt").next())
            .and_then(|date| parse_date(date.get(..10).unwrap_or(&date)).ok());
        let source_url = values(props, "sourceUrl").next().unwrap_or_else(|| entity_url(&id));
        let mut entry = WatchlistEntry {
            entity_id: id,
            list: Some(list_name(datasets.first().map(String::as_str))),
            name: names.remove(0),
            aliases: names,
            tax_id: identifiers.first().map(|(_, value)| value.clone()),
            tax_id_key: None,
            country: countries.first().cloned(),
            reason: Some(reason),
            listed_on,
            source_url: Some(source_url),
            extra,
        };
        entry.derive();
        parsed.entries.push(Located { line: line_no, path: String::new(), record: entry });
    }
    if n_lines == 0 {
        return Err(ImportError("the file is empty".to_owned()));
    }
    Ok(parsed)
}

fn entity_url(id: &str) -> String {
    format!("https://www.opensanctions.org/entities/{id}/")
}

fn list_name(dataset: Option<&str>) -> String {
    match dataset {
        Some(dataset) => format!("OpenSanctions: {dataset}"),
        None => "OpenSanctions".to_owned(),
    }
}

/// Parses `targets.simple.csv` (`id`, `schema`, `name`, `aliases`, `countries`,
/// `identifiers`, `sanctions`, `dataset`, `first_seen`, …; multiple values `;`-separated).
pub fn parse_simple_csv(bytes: &[u8]) -> Result<Parsed, ImportError> {
    let file = CsvFile::from_bytes("targets.simple.csv", bytes.to_vec());
    let (header, rows) = file.rows().map_err(|err| ImportError(err.to_string()))?;
    let column = |name: &str| header.iter().position(|column| column.trim().eq_ignore_ascii_case(name));
    let (Some(id_col), Some(name_col)) = (column("id"), column("name")) else {
        return Err(ImportError(format!(
            "the header lacks the targets.simple.csv columns id and name (found: {})",
            header.join(", ")
        )));
    };
    let [
        schema_col,
        aliases_col,
        countries_col,
        identifiers_col,
        sanctions_col,
        dataset_col,
        first_seen_col,
        programs_col,
    ] = ["schema", "aliases", "countries", "identifiers", "sanctions", "dataset", "first_seen", "program_ids"]
        .map(column);
    let mut parsed = Parsed::default();
    for row in super::readable_rows(rows, &mut parsed.rejected) {
        let line = row.line as i64;
        let cells = row.cells();
        let cell = |idx: Option<usize>| non_empty(idx.and_then(|idx| cells.get(idx).copied()));
        let many = |idx: Option<usize>| -> Vec<String> {
            cell(idx).map(|text| text.split(';').filter_map(|v| non_empty(Some(v))).collect()).unwrap_or_default()
        };
        let schema = cell(schema_col).unwrap_or_default();
        if !schema.is_empty() && !SCHEMATA.contains(&schema.as_str()) {
            parsed.n_skipped += 1;
            continue;
        }
        let (Some(id), Some(name)) = (cell(Some(id_col)), cell(Some(name_col))) else {
            parsed.rejected.push(RejectedRow {
                line,
                field: "id+name".to_owned(),
                reason: "is empty but required".to_owned(),
            });
            continue;
        };
        let countries: Vec<String> = many(countries_col).iter().filter_map(|c| parse_country(c).ok()).collect();
        let identifiers = many(identifiers_col);
        let datasets = many(dataset_col);
        let mut extra = Extra::new();
        extra.insert("schema".to_owned(), schema);
        for (key, values) in [("datasets", &datasets), ("identifiers", &identifiers), ("countries", &countries)] {
            if values.len() > usize::from(key == "countries") {
                extra.insert(key.to_owned(), values.join("|"));
            }
        }
        if let Some(programs) = cell(programs_col) {
            extra.insert("program_ids".to_owned(), programs);
        }
        let sanctions = many(sanctions_col);
        let reason = match sanctions.is_empty() {
            true => "listed by OpenSanctions".to_owned(),
            false => format!("sanctions: {}", sanctions.join("; ")),
        };
        let mut entry = WatchlistEntry {
            entity_id: id.clone(),
            list: Some(list_name(datasets.first().map(String::as_str))),
            name: name.clone(),
            aliases: many(aliases_col).into_iter().filter(|alias| *alias != name).collect(),
            tax_id: identifiers.first().cloned(),
            tax_id_key: None,
            country: countries.first().cloned(),
            reason: Some(reason),
            listed_on: cell(first_seen_col).and_then(|date| parse_date(date.get(..10).unwrap_or(&date)).ok()),
            source_url: Some(entity_url(&id)),
            extra,
        };
        entry.derive();
        parsed.entries.push(Located { line, path: String::new(), record: entry });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ftm_lines_become_entries_and_other_schemata_are_skipped() {
        let text = r#"{"id":"NK-1","schema":"Company","caption":"Ejemplo Minera SAC","properties":{"name":["Ejemplo Minera SAC"],"alias":["EMSAC"],"country":["pe"],"taxNumber":["20100070970"],"topics":["sanction"]},"datasets":["us_ofac_sdn"],"first_seen":"2022-03-01T10:00:00","target":true}
{"id":"addr-1","schema":"Address","properties":{"full":["Lima"]}}
{"id":"NK-2","schema":"Person","properties":{}}
[1,2]
"#;
        let parsed = parse_ftm(text.as_bytes()).unwrap();
        assert_eq!(parsed.entries.len(), 1);
        assert_eq!(parsed.n_skipped, 1);
        let entry = &parsed.entries[0].record;
        assert_eq!(entry.aliases, vec!["EMSAC"]);
        assert_eq!((entry.country.as_deref(), entry.tax_id.as_deref()), (Some("PE"), Some("20100070970")));
        assert_eq!(entry.list.as_deref(), Some("OpenSanctions: us_ofac_sdn"));
        let lines: Vec<i64> = parsed.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4]);
    }

    #[test]
    /// Garbage gets an error or rejected lines saying what is wrong, never a panic and
    /// never an entry: (input, FtM outcome, simple-CSV outcome). An outcome is `Err`
    /// with the start of the message, or the rejected (line, path, start of reason).
    fn garbage_is_refused_with_a_reason() {
        type Outcome = Result<&'static [(i64, &'static str, &'static str)], &'static str>;
        let no_columns = Err("the header lacks the targets.simple.csv columns id and name");
        let cases: [(&[u8], Outcome, Outcome); 6] = [
            (b"", Err("the file is empty"), Err("targets.simple.csv: the file is empty")),
            (b"\n\n", Err("the file is empty"), Err("targets.simple.csv: the file is empty")),
            (b"{}", Ok(&[]), no_columns),
            (b"{\"properties\": 3}", Ok(&[(1, "$", "not a FollowTheMoney entity: invalid type")]), no_columns),
            (b"\xff", Ok(&[(1, "$", "not a FollowTheMoney entity: expected value")]), no_columns),
            (
                b"null\n{\"schema\":\"Person\",\"id\":1}",
                Ok(&[
                    (1, "$", "not a FollowTheMoney entity (expected a JSON object)"),
                    (2, "properties.name", "the entity has no name"),
                ]),
                no_columns,
            ),
        ];
        let check = |what: &str, input: &[u8], parsed: Result<Parsed, ImportError>, expected: Outcome| {
            let shown = String::from_utf8_lossy(input);
            match (parsed, expected) {
                (Err(err), Err(start)) => assert!(err.0.starts_with(start), "{what} {shown:?}: {}", err.0),
                (Ok(parsed), Ok(rejected)) => {
                    assert!(parsed.entries.is_empty(), "{what} {shown:?}: no entry from garbage");
                    assert_eq!(parsed.rejected.len(), rejected.len(), "{what} {shown:?}: {:?}", parsed.rejected);
                    for (got, (line, path, reason)) in parsed.rejected.iter().zip(rejected) {
                        assert_eq!((got.line, got.field.as_str()), (*line, *path), "{what} {shown:?}");
                        assert!(got.reason.starts_with(reason), "{what} {shown:?}: {}", got.reason);
                    }
                }
                (got, expected) => panic!("{what} {shown:?}: {:?}, expected {expected:?}", got.map(|p| p.rejected)),
            }
        };
        for (input, ftm, simple) in cases {
            check("FtM", input, parse_ftm(input), ftm);
            check("targets.simple.csv", input, parse_simple_csv(input), simple);
        }
    }
}
