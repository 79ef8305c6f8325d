//! The US Department of Labor's *List of Goods Produced by Child Labor or Forced Labor*
//! (ILAB), in its published XML (`<Goods><Good><Good_Name>…<Countries><Country>…`) or
//! the flattened CSV of several editions, into the reference list the risk rules read
//! (`rules/lists/ilab_goods.toml`, same format as the bundled one, with the edition).
//!
//! The rules see goods through the goods mapping (`rules/lists/goods.toml`); entries
//! for goods the mapping does not know could never fire, so they are left out and
//! listed for the operator.

use std::collections::BTreeMap;

use super::{ImportError, RejectedRow};
use crate::csv_reader::CsvFile;
use crate::records::fields::{fold, parse_country};

/// One good in one country, as the list states it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IlabEntry {
    pub good: String,
    pub sector: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub child_labor: bool,
    pub forced_labor: bool,
    pub forced_child_labor: bool,
    /// Made with inputs produced with forced labour (from the 2022 edition).
    pub derived_labor_exploitation: bool,
}

/// An edition of the list.
#[derive(Debug, Clone, Default)]
pub struct IlabList {
    pub edition: String,
    pub entries: Vec<IlabEntry>,
    pub rejected: Vec<RejectedRow>,
}

/// DOL's file names for the editions (the archived DOL app's assets, see
/// `../shared/data/ilab/SOURCE.txt`): `goods_2021.xml` holds the 2022 edition.
fn edition_of_file(file: &str) -> String {
    match file.trim() {
        "goods_2021.xml" => "2022".to_owned(),
        "goods_2019.xml" => "2020".to_owned(),
        other => other.trim_end_matches(".xml").trim_start_matches("goods_").to_owned(),
    }
}

/// Country names ILAB writes that are not ISO short names.
fn ilab_country(name: &str) -> Result<String, String> {
    const NAMES: &[(&str, &str)] = &[
        ("burma", "MM"),
        ("congo, democratic republic of the", "CD"),
        ("democratic republic of the congo", "CD"),
        ("congo, republic of the", "CG"),
        ("cote d'ivoire", "CI"),
        ("iran", "IR"),
        ("kyrgyz republic", "KG"),
        ("north korea", "KP"),
        ("korea, north", "KP"),
        ("russia", "RU"),
        ("taiwan", "TW"),
        ("tanzania", "TZ"),
        ("turkey (turkiye)", "TR"),
        ("turkey", "TR"),
        ("venezuela", "VE"),
        ("vietnam", "VN"),
        ("laos", "LA"),
        ("syria", "SY"),
        ("bolivia", "BO"),
        ("moldova", "MD"),
    ];
    let folded = fold(name.trim());
    match NAMES.iter().find(|(known, _)| *known == folded) {
        Some((_, code)) => Ok((*code).to_owned()),
        None => parse_country(name.trim()),
    }
}

fn yes(text: &str) -> bool {
    matches!(text.trim().to_lowercase().as_str(), "yes" | "true" | "1" | "x")
}

/// The text of the first `<tag>…</tag>` in `xml`, with entities decoded.
fn tag_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml.get(start..)?.find(&close)?;
    let text = xml.get(start..end)?.trim();
    Some(
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}

/// The `<tag>…</tag>` blocks of `xml`, with the line each starts on.
fn blocks<'a>(xml: &'a str, tag: &str) -> Vec<(usize, &'a str)> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest_start = 0;
    while let Some(start) = xml.get(rest_start..).and_then(|rest| rest.find(&open)) {
        let start = rest_start + start;
        let Some(end) = xml.get(start..).and_then(|rest| rest.find(&close)) else { break };
        let end = start + end + close.len();
        let line = xml.get(..start).map_or(0, |before| before.matches('\n').count()) + 1;
        found.push((line, &xml[start..end]));
        rest_start = end;
    }
    found
}

/// Parses DOL's XML (`goods_YYYY.xml`). `edition` is the file's name or an edition given
/// by the operator. Never panics.
pub fn parse_xml(bytes: &[u8], edition: &str) -> Result<IlabList, ImportError> {
    let text = String::from_utf8_lossy(bytes);
    let goods = blocks(&text, "Good");
    if goods.is_empty() {
        return Err(ImportError("no <Good> elements: not the ILAB list of goods XML".to_owned()));
    }
    let mut list = IlabList { edition: edition_of_file(edition), ..IlabList::default() };
    for (good_idx, (line, good)) in goods.iter().enumerate() {
        let Some(name) = tag_text(good, "Good_Name").filter(|name| !name.is_empty()) else {
            list.rejected.push(reject(*line, format!("Goods/Good[{good_idx}]"), "has no Good_Name"));
            continue;
        };
        let sector = tag_text(good, "Good_Sector").filter(|s| !s.is_empty());
        for (country_idx, (country_line, country)) in blocks(good, "Country").iter().enumerate() {
            let line = line + country_line - 1;
            let path = format!("Goods/Good[{good_idx}]/Countries/Country[{country_idx}]");
            let flag = |tag: &str| tag_text(country, tag).is_some_and(|text| yes(&text));
            match tag_text(country, "Country_Name").map(|name| ilab_country(&name)) {
                Some(Ok(code)) => list.entries.push(IlabEntry {
                    good: name.clone(),
                    sector: sector.clone(),
                    country: code,
                    child_labor: flag("Child_Labor"),
                    forced_labor: flag("Forced_Labor"),
                    forced_child_labor: flag("Forced_Child_Labor"),
                    derived_labor_exploitation: flag("Derived_Labor_Exploitation"),
                }),
                Some(Err(reason)) => list.rejected.push(reject(line, path, &reason)),
                None => list.rejected.push(reject(line, path, "has no Country_Name")),
            }
        }
    }
    Ok(list)
}

/// Parses the flattened CSV (`edition_file, good, sector, country, child_labor,
/// forced_labor, forced_child_labor, derived_labor_exploitation`), keeping the newest
/// edition in the file (or the file's only one).
pub fn parse_flat_csv(bytes: &[u8]) -> Result<IlabList, ImportError> {
    let file = CsvFile::from_bytes("ilab", bytes.to_vec());
    let (header, rows) = file.rows().map_err(|err| ImportError(err.to_string()))?;
    let column = |name: &str| header.iter().position(|column| column.trim().eq_ignore_ascii_case(name));
    let (Some(good_col), Some(country_col)) = (column("good"), column("country")) else {
        return Err(ImportError(format!(
            "the header lacks the columns good and country (found: {})",
            header.join(", ")
        )));
    };
    let [edition_col, sector_col, child_col, forced_col, forced_child_col, derived_col] =
        ["edition_file", "sector", "child_labor", "forced_labor", "forced_child_labor", "derived_labor_exploitation"]
            .map(column);
    let rows: Vec<_> = rows.collect();
    let cell = |row: &crate::csv_reader::CsvRow, idx: Option<usize>| -> String {
        idx.and_then(|idx| row.record.get(idx)).unwrap_or_default().trim().to_owned()
    };
    let newest =
        rows.iter().filter_map(|row| row.as_ref().ok()).map(|row| cell(row, edition_col)).max().unwrap_or_default();
    let mut list = IlabList { edition: edition_of_file(&newest), ..IlabList::default() };
    for row in rows {
        let row = match row {
            Ok(row) => row,
            Err(err) => {
                list.rejected.push(reject(err.line as usize, "row".to_owned(), &err.reason));
                continue;
            }
        };
        if cell(&row, edition_col) != newest {
            continue;
        }
        let good = cell(&row, Some(good_col));
        if good.is_empty() {
            list.rejected.push(reject(row.line as usize, "good".to_owned(), "is empty but required"));
            continue;
        }
        match ilab_country(&cell(&row, Some(country_col))) {
            Ok(country) => list.entries.push(IlabEntry {
                good,
                sector: Some(cell(&row, sector_col)).filter(|s| !s.is_empty()),
                country,
                child_labor: yes(&cell(&row, child_col)),
                forced_labor: yes(&cell(&row, forced_col)),
                forced_child_labor: yes(&cell(&row, forced_child_col)),
                derived_labor_exploitation: yes(&cell(&row, derived_col)),
            }),
            Err(reason) => list.rejected.push(reject(row.line as usize, "country".to_owned(), &reason)),
        }
    }
    Ok(list)
}

fn reject(line: usize, path: String, reason: &str) -> RejectedRow {
    RejectedRow { line: line as i64, field: path, reason: reason.to_owned() }
}

/// What writing the list for the rules kept and left out.
#[derive(Debug, Clone, Default)]
pub struct RulesList {
    /// The list file, in the format of `rules/lists/ilab_goods.toml`.
    pub toml: String,
    pub n_entries: usize,
    /// Goods of the list that the goods mapping does not know, left out.
    pub unmapped_goods: Vec<String>,
}

/// Writes the list as the rules' `ilab_goods` list, keeping the goods that `known_goods`
/// (the goods mapping's names) holds, spelt as the mapping spells them.
pub fn to_rules_list(list: &IlabList, known_goods: &[String], source_file: &str) -> RulesList {
    let known: BTreeMap<String, &String> = known_goods.iter().map(|good| (fold(good), good)).collect();
    let mut merged: BTreeMap<(String, String), IlabEntry> = BTreeMap::new();
    let mut unmapped: Vec<String> = Vec::new();
    for entry in &list.entries {
        let Some(good) = known.get(&fold(&entry.good)) else {
            if !unmapped.contains(&entry.good) {
                unmapped.push(entry.good.clone());
            }
            continue;
        };
        let slot = merged.entry(((*good).clone(), entry.country.clone())).or_default();
        slot.child_labor |= entry.child_labor;
        slot.forced_labor |= entry.forced_labor;
        slot.forced_child_labor |= entry.forced_child_labor;
        slot.derived_labor_exploitation |= entry.derived_labor_exploitation;
    }
    unmapped.sort();
    let quote = |text: &str| toml::Value::String(text.to_owned()).to_string();
    let mut toml = format!(
        "# US Department of Labor, Bureau of International Labor Affairs (ILAB):\n\
         # List of Goods Produced by Child Labor or Forced Labor, {edition} edition,\n\
         # imported by `cadena ingest --format ilab` from {file}.\n\
         # Only goods the goods mapping (lists/goods.toml) knows; public domain (17 USC 105).\n\n\
         [list]\n\
         id = \"ilab_goods\"\n\
         title = \"ILAB List of Goods Produced by Child Labor or Forced Labor\"\n\
         source = \"US Department of Labor, ILAB, List of Goods Produced by Child Labor or Forced Labor\"\n\
         edition = {edition_quoted}\n\
         url = \"https://www.dol.gov/agencies/ilab/reports/child-labor/list-of-goods\"\n\
         key = [\"good\", \"country\"]\n",
        edition = list.edition.replace('\n', " "),
        file = source_file.replace('\n', " "),
        edition_quoted = quote(&list.edition),
    );
    for ((good, country), entry) in &merged {
        toml.push_str(&format!(
            "\n[[entry]]\ngood = {}\ncountry = {}\nchild_labor = {}\nforced_labor = {}\n",
            quote(good),
            quote(country),
            entry.child_labor || entry.forced_child_labor,
            entry.forced_labor || entry.forced_child_labor,
        ));
        if entry.derived_labor_exploitation {
            toml.push_str("derived_labor_exploitation = true\n");
        }
    }
    RulesList { toml, n_entries: merged.len(), unmapped_goods: unmapped }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = "<Goods>\n  <Good>\n    <Good_Name>Gold</Good_Name>\n    <Good_Sector>Mining</Good_Sector>\n    <Countries>\n      <Country>\n        <Country_Name>Peru</Country_Name>\n        <Child_Labor>Yes</Child_Labor>\n        <Forced_Labor>Yes</Forced_Labor>\n      </Country>\n      <Country>\n        <Country_Name>Narnia</Country_Name>\n      </Country>\n    </Countries>\n  </Good>\n  <Good>\n    <Good_Name>Fish &amp; Chips</Good_Name>\n    <Countries><Country><Country_Name>Burma</Country_Name><Forced_Labor>Yes</Forced_Labor></Country></Countries>\n  </Good>\n</Goods>\n";

    #[test]
    fn the_xml_gives_entries_and_rejects_unknown_countries() {
        let list = parse_xml(XML.as_bytes(), "goods_2021.xml").unwrap();
        assert_eq!(list.edition, "2022");
        assert_eq!(list.entries.len(), 2);
        assert_eq!((list.entries[0].country.as_str(), list.entries[0].forced_labor), ("PE", true));
        assert_eq!((list.entries[1].good.as_str(), list.entries[1].country.as_str()), ("Fish & Chips", "MM"));
        assert_eq!(list.rejected.len(), 1);
        assert_eq!(list.rejected[0].line, 11);
        let written = to_rules_list(&list, &["Gold".to_owned()], "goods_2021.xml");
        assert_eq!(written.n_entries, 1);
        assert_eq!(written.unmapped_goods, vec!["Fish & Chips"]);
        assert!(written.toml.contains("edition = \"2022\""));
    }

    #[test]
    fn garbage_never_panics() {
        for input in
            [&b""[..], b"<Goods><Good>", b"<Good></Good>", b"<Good><Good_Name>x</Good_Name><Country>", b"\xff\xfe<"]
        {
            let _ = parse_xml(input, "x");
            let _ = parse_flat_csv(input);
        }
    }
}
