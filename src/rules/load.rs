//! Reading, checking and compiling the rule files. Every problem in every file is
//! collected with its file and line, so `cadena rules check` shows them all at once.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;
use serde::de::IntoDeserializer;
use sha2::{Digest, Sha256};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::condition::{CmpOp, Condition, EntryFilter, ValueTest};
use super::fields::{FieldInfo, TextKind, ValueKind, field_by_name};
use super::lists::{AttrValue, GoodsMap, ListEntry, RefList, normalise_text};
use super::testing::{Expect, RuleCase, subject_from_facts};
use super::{Band, BandCutoffs, Family, Rule, Ruleset};
use crate::lang::{Lang, Texts};
use crate::records::fields::{parse_country, region_code};

/// The bundled rule set: every file under `rules/` that the engine reads, embedded at
/// build time. A test checks that this list and the directory agree.
pub const BUNDLED_FILES: &[(&str, &str)] = &[
    ("ruleset.toml", include_str!("../../rules/ruleset.toml")),
    ("watchlist.toml", include_str!("../../rules/watchlist.toml")),
    ("findings.toml", include_str!("../../rules/findings.toml")),
    ("product.toml", include_str!("../../rules/product.toml")),
    ("recruitment.toml", include_str!("../../rules/recruitment.toml")),
    ("workforce.toml", include_str!("../../rules/workforce.toml")),
    ("governance.toml", include_str!("../../rules/governance.toml")),
    ("country.toml", include_str!("../../rules/country.toml")),
    ("mitigation.toml", include_str!("../../rules/mitigation.toml")),
    ("lists/goods.toml", include_str!("../../rules/lists/goods.toml")),
    ("lists/ilab_goods.toml", include_str!("../../rules/lists/ilab_goods.toml")),
    ("lists/high_risk_regions.toml", include_str!("../../rules/lists/high_risk_regions.toml")),
    ("lists/country_risk.toml", include_str!("../../rules/lists/country_risk.toml")),
];

/// One problem in a rule or list file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// 1-based; 0 when the problem is about the file as a whole.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file, self.message),
            line => write!(f, "{}:{line}: {}", self.file, self.message),
        }
    }
}

/// Every problem found while loading a rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for RulesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (idx, problem) in self.problems.iter().enumerate() {
            if idx > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RulesError {}

impl Ruleset {
    /// Loads the rule set in `dir`: `ruleset.toml`, every other `*.toml` as a rule file
    /// and `lists/*.toml` as reference lists. Other files (such as `README.md`) are ignored.
    pub fn load_dir(dir: &Path) -> Result<Ruleset, RulesError> {
        let root = dir.display().to_string();
        let mut files = Vec::new();
        let mut problems = Vec::new();
        collect_toml_files(dir, "", &mut files, &mut problems);
        if !problems.is_empty() {
            return Err(RulesError { problems });
        }
        Ruleset::from_files(&root, files)
    }

    /// The rule set bundled with cadena (the repository's `rules/`), which works from any
    /// directory.
    pub fn bundled() -> Ruleset {
        match Ruleset::load_bundled() {
            Ok(ruleset) => ruleset,
            // The bundled files are checked by the tests; failing here is a build defect.
            Err(err) => panic!("the bundled rule set does not load:\n{err}"),
        }
    }

    /// The bundled rule set, or its problems (for `cadena rules check`).
    pub fn load_bundled() -> Result<Ruleset, RulesError> {
        let files = BUNDLED_FILES.iter().map(|(path, text)| ((*path).to_owned(), (*text).to_owned())).collect();
        Ruleset::from_files("rules", files)
    }

    /// The bundled rule set with some of its files replaced (such as a newer edition of
    /// `lists/ilab_goods.toml` loaded by an operator); `root` names the replacements in
    /// problems.
    pub fn load_bundled_with(root: &str, replacements: &[(String, String)]) -> Result<Ruleset, RulesError> {
        let files = BUNDLED_FILES
            .iter()
            .map(|(path, text)| {
                let replaced = replacements.iter().find(|(replaced, _)| replaced == path);
                ((*path).to_owned(), replaced.map_or_else(|| (*text).to_owned(), |(_, text)| text.clone()))
            })
            .collect();
        Ruleset::from_files(root, files)
    }

    /// Loads a rule set from `(path within the rules directory, contents)` pairs;
    /// problems name files as `root/path`.
    pub fn from_files(root: &str, mut files: Vec<(String, String)>) -> Result<Ruleset, RulesError> {
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let digest = digest_files(&files);
        let mut loader = Loader { root: root.to_owned(), problems: Vec::new() };
        let ruleset = loader.load(&files, digest);
        match ruleset {
            Some(ruleset) if loader.problems.is_empty() => Ok(ruleset),
            _ => Err(RulesError { problems: loader.problems }),
        }
    }
}

fn collect_toml_files(dir: &Path, prefix: &str, files: &mut Vec<(String, String)>, problems: &mut Vec<Problem>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            problems.push(Problem { file: dir.display().to_string(), line: 0, message: format!("cannot read: {err}") });
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() {
            collect_toml_files(&path, &format!("{prefix}{name}/"), files, problems);
        } else if name.ends_with(".toml") {
            match std::fs::read_to_string(&path) {
                Ok(text) => files.push((format!("{prefix}{name}"), text)),
                Err(err) => problems.push(Problem {
                    file: path.display().to_string(),
                    line: 0,
                    message: format!("cannot read: {err}"),
                }),
            }
        }
    }
}

/// SHA-256 over each file's path and contents (length-prefixed), in path order.
fn digest_files(files: &[(String, String)]) -> String {
    let mut hasher = Sha256::new();
    for (path, text) in files {
        hasher.update((path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleset {
    version: String,
    unknown_weight: f64,
    unknown_cap: f64,
    overall_cap: f64,
    bands: RawBands,
    family: Vec<Spanned<RawFamily>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBands {
    medium: f64,
    high: f64,
    critical: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFamily {
    id: String,
    title: RawTexts,
    cap: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListFile {
    list: RawListHeader,
    #[serde(default)]
    entry: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    good: Vec<Spanned<RawGood>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListHeader {
    id: String,
    #[serde(default)]
    kind: Option<String>,
    title: String,
    source: String,
    edition: String,
    /// Where the source can be read; for people, not shown in assessments.
    #[serde(default)]
    #[allow(dead_code)]
    url: Option<String>,
    #[serde(default)]
    key: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGood {
    name: String,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    unspsc: Vec<String>,
}

/// A text people read, in every language cadena speaks: `title.es = "…"`,
/// `title.pt = "…"`, `title.en = "…"`. A single string is read so that the check can
/// say which languages it lacks.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawTexts {
    One(#[allow(dead_code)] String),
    Each(std::collections::BTreeMap<String, String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    title: RawTexts,
    family: String,
    legal_basis: Vec<String>,
    weight: f64,
    #[serde(default)]
    band_floor: Option<String>,
    action: RawTexts,
    data_gap: RawTexts,
    /// Why the rule exists and how it was calibrated; not shown in assessments.
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
    when: Spanned<RawCondition>,
    #[serde(default)]
    test: Vec<Spanned<RawCase>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    all: Option<Vec<Spanned<RawCondition>>>,
    any: Option<Vec<Spanned<RawCondition>>>,
    not: Option<Box<Spanned<RawCondition>>>,
    field: Option<String>,
    eq: Option<toml::Value>,
    #[serde(rename = "in")]
    in_set: Option<Vec<toml::Value>>,
    gt: Option<f64>,
    gte: Option<f64>,
    lt: Option<f64>,
    lte: Option<f64>,
    present: Option<bool>,
    keywords: Option<Vec<String>>,
    starts_with: Option<Vec<String>>,
    list: Option<String>,
    key: Option<Vec<String>>,
    flag: Option<String>,
    attribute: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    expect: String,
    #[serde(default)]
    facts: toml::Table,
}

/// One file being read: its display name and text, for turning offsets into lines.
struct Source<'f> {
    name: String,
    text: &'f str,
}

impl Source<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|byte| **byte == b'\n').count() + 1
    }
}

struct Loader {
    root: String,
    problems: Vec<Problem>,
}

impl Loader {
    fn source<'f>(&self, path: &str, text: &'f str) -> Source<'f> {
        Source { name: format!("{}/{path}", self.root), text }
    }

    fn problem(&mut self, source: &Source<'_>, offset: Option<usize>, message: impl Into<String>) {
        let line = offset.map_or(0, |offset| source.line_of(offset));
        self.problems.push(Problem { file: source.name.clone(), line, message: message.into() });
    }

    /// Reads a text in every language, reporting each language it lacks or leaves
    /// empty and each key that is not a language (`what` names the text: `rule x: title`).
    fn texts(&mut self, source: &Source<'_>, offset: Option<usize>, what: &str, raw: &RawTexts) -> Texts {
        let codes: Vec<&str> = Lang::ALL.iter().map(|lang| lang.code()).collect();
        let each = match raw {
            RawTexts::Each(each) => each,
            RawTexts::One(_) => {
                let message = format!(
                    "{what} must be given in every language ({}), as {what}.es = \"…\" and so on",
                    codes.join(", ")
                );
                self.problem(source, offset, message);
                return Texts::default();
            }
        };
        for key in each.keys().filter(|key| !codes.contains(&key.as_str())) {
            self.problem(source, offset, format!("{what}: {}", Lang::unknown(key)));
        }
        let mut text_in = |lang: Lang| match each.get(lang.code()).map(|text| text.trim()) {
            Some(text) if !text.is_empty() => text.to_owned(),
            Some(_) => {
                self.problem(source, offset, format!("{what}: the {lang} text is empty"));
                String::new()
            }
            None => {
                self.problem(source, offset, format!("{what}: no {lang} text ({what}.{lang} = \"…\")"));
                String::new()
            }
        };
        Texts { es: text_in(Lang::Es), pt: text_in(Lang::Pt), en: text_in(Lang::En) }
    }

    fn toml_problem(&mut self, source: &Source<'_>, err: &toml::de::Error, fallback: Option<usize>) {
        let offset = err.span().map(|span| span.start).or(fallback);
        let message = err.message().trim().replace('\n', " ");
        self.problem(source, offset, message);
    }

    fn load(&mut self, files: &[(String, String)], digest: String) -> Option<Ruleset> {
        let settings = match files.iter().find(|(path, _)| path == "ruleset.toml") {
            Some((path, text)) => self.load_settings(&self.source(path, text)),
            None => {
                self.problems.push(Problem {
                    file: format!("{}/ruleset.toml", self.root),
                    line: 0,
                    message: "is missing (it gives the version, band cut-offs and caps)".to_owned(),
                });
                None
            }
        };
        let list_files: Vec<&(String, String)> = files.iter().filter(|(path, _)| path.starts_with("lists/")).collect();
        let parsed_lists: Vec<(Source<'_>, RawListFile)> = list_files
            .iter()
            .filter_map(|(path, text)| {
                let source = self.source(path, text);
                match toml::from_str::<RawListFile>(text) {
                    Ok(raw) => Some((source, raw)),
                    Err(err) => {
                        self.toml_problem(&source, &err, None);
                        None
                    }
                }
            })
            .collect();
        let goods = self.load_goods(&parsed_lists);
        let mut lists = Vec::new();
        for (source, raw) in &parsed_lists {
            match raw.list.kind.as_deref() {
                None | Some("table") => {}
                Some("goods") => continue,
                Some(other) => {
                    self.problem(source, Some(0), format!("list kind {other:?} is not \"table\" or \"goods\""));
                    continue;
                }
            }
            let Some(list) = self.load_list(source, raw, &goods) else { continue };
            if lists.iter().any(|known: &RefList| known.id == list.id) {
                self.problem(source, Some(0), format!("list id {:?} is used by another list", list.id));
            }
            lists.push(list);
        }
        let families = settings.as_ref().map(|(_, families)| families.clone()).unwrap_or_default();
        let mut rules = Vec::new();
        for (path, text) in files {
            if path == "ruleset.toml" || path.starts_with("lists/") {
                continue;
            }
            let source = self.source(path, text);
            self.load_rule_file(&source, &families, &lists, &goods, &mut rules);
        }
        let mut seen: HashMap<String, String> = HashMap::new();
        for rule in &rules {
            if let Some(first) = seen.insert(rule.id.clone(), rule.location.clone()) {
                let (file, line) = split_location(&rule.location);
                self.problems.push(Problem {
                    file,
                    line,
                    message: format!("rule id {:?} is already used at {first}", rule.id),
                });
            }
        }
        let (settings, families) = settings?;
        Some(Ruleset {
            version: settings.version,
            digest,
            bands: settings.bands,
            overall_cap: settings.overall_cap,
            unknown_weight: settings.unknown_weight,
            unknown_cap: settings.unknown_cap,
            families,
            rules,
            lists,
            goods,
        })
    }

    fn load_settings(&mut self, source: &Source<'_>) -> Option<(Settings, Vec<Family>)> {
        let raw: RawRuleset = match toml::from_str(source.text) {
            Ok(raw) => raw,
            Err(err) => {
                self.toml_problem(source, &err, None);
                return None;
            }
        };
        let n_problems = self.problems.len();
        let bands = BandCutoffs { medium: raw.bands.medium, high: raw.bands.high, critical: raw.bands.critical };
        if !(0.0 < bands.medium && bands.medium < bands.high && bands.high < bands.critical) {
            self.problem(source, None, "band cut-offs must rise: 0 < medium < high < critical");
        }
        if !(0.0..=1.0).contains(&raw.unknown_weight) {
            self.problem(source, None, format!("unknown_weight {} must be between 0 and 1", raw.unknown_weight));
        }
        if !(raw.unknown_cap >= 0.0 && raw.overall_cap > 0.0) {
            self.problem(source, None, "unknown_cap must be at least 0 and overall_cap above 0");
        }
        let mut families: Vec<Family> = Vec::new();
        for family in &raw.family {
            let offset = Some(family.span().start);
            let family = family.get_ref();
            if families.iter().any(|known| known.id == family.id) {
                self.problem(source, offset, format!("family {:?} is declared twice", family.id));
            }
            if !(family.cap > 0.0 && family.cap.is_finite()) {
                self.problem(source, offset, format!("family {:?}: cap must be above 0", family.id));
            }
            let title = self.texts(source, offset, &format!("family {:?}: title", family.id), &family.title);
            families.push(Family { id: family.id.clone(), title, cap: family.cap });
        }
        let settings = Settings {
            version: raw.version,
            bands,
            overall_cap: raw.overall_cap,
            unknown_weight: raw.unknown_weight,
            unknown_cap: raw.unknown_cap,
        };
        (self.problems.len() == n_problems).then_some((settings, families))
    }

    fn load_goods(&mut self, parsed: &[(Source<'_>, RawListFile)]) -> GoodsMap {
        let mut goods_files = parsed.iter().filter(|(_, raw)| raw.list.kind.as_deref() == Some("goods"));
        let Some((source, raw)) = goods_files.next() else {
            self.problems.push(Problem {
                file: format!("{}/lists", self.root),
                line: 0,
                message: "no goods mapping (a list with kind = \"goods\")".to_owned(),
            });
            return GoodsMap::default();
        };
        for (other, _) in goods_files {
            self.problem(other, Some(0), format!("a second goods mapping; {} is the first", source.name));
        }
        if !raw.entry.is_empty() {
            self.problem(source, Some(raw.entry[0].span().start), "a goods mapping has [[good]] tables, not [[entry]]");
        }
        let header = &raw.list;
        let mut goods =
            GoodsMap::new(header.id.clone(), header.title.clone(), header.source.clone(), header.edition.clone());
        for good in &raw.good {
            let offset = Some(good.span().start);
            let good = good.get_ref();
            if goods.contains(&good.name) {
                self.problem(source, offset, format!("good {:?} is listed twice", good.name));
            }
            if good.keywords.is_empty() && good.unspsc.is_empty() {
                self.problem(source, offset, format!("good {:?} has no keywords and no codes", good.name));
            }
            goods.add_good(good.name.clone(), &good.keywords, &good.unspsc);
        }
        goods
    }

    fn load_list(&mut self, source: &Source<'_>, raw: &RawListFile, goods: &GoodsMap) -> Option<RefList> {
        let header = &raw.list;
        if !raw.good.is_empty() {
            self.problem(
                source,
                Some(raw.good[0].span().start),
                "[[good]] tables belong in a list with kind = \"goods\"",
            );
        }
        if !matches!(header.key.len(), 1 | 2) {
            self.problem(source, None, format!("list {:?}: key must name one or two columns", header.id));
            return None;
        }
        let mut attributes: Vec<String> = Vec::new();
        for entry in &raw.entry {
            for column in entry.get_ref().keys() {
                if !header.key.contains(column) && !attributes.contains(column) {
                    attributes.push(column.clone());
                }
            }
        }
        let mut entries = Vec::new();
        let mut seen_keys: HashSet<Vec<String>> = HashSet::new();
        for entry in &raw.entry {
            let offset = Some(entry.span().start);
            let table = entry.get_ref();
            let mut keys = Vec::new();
            for column in &header.key {
                match table.get(column) {
                    Some(toml::Value::String(value)) => match canonical_list_value(column, value, goods) {
                        Ok(value) => keys.push(value),
                        Err(message) => self.problem(source, offset, format!("{column}: {message}")),
                    },
                    _ => self.problem(source, offset, format!("entry has no text {column:?} (a key column)")),
                }
            }
            if keys.len() != header.key.len() {
                continue;
            }
            if !seen_keys.insert(keys.clone()) {
                self.problem(source, offset, format!("entry {} repeats an earlier entry's key", keys.join(", ")));
                continue;
            }
            let mut values = Vec::new();
            let mut described: Vec<String> = Vec::new();
            for attribute in &attributes {
                let value = match table.get(attribute) {
                    None => AttrValue::Missing,
                    Some(toml::Value::Boolean(flag)) => AttrValue::Bool(*flag),
                    Some(toml::Value::Integer(number)) => AttrValue::Num(*number as f64),
                    Some(toml::Value::Float(number)) => AttrValue::Num(*number),
                    Some(toml::Value::String(text)) => AttrValue::Text(text.clone()),
                    Some(_) => {
                        self.problem(source, offset, format!("{attribute}: must be text, a number or true/false"));
                        AttrValue::Missing
                    }
                };
                match &value {
                    AttrValue::Bool(true) => described.push(attribute.clone()),
                    AttrValue::Num(number) => described.push(format!("{attribute} {number}")),
                    AttrValue::Text(text) => described.push(text.clone()),
                    AttrValue::Bool(false) | AttrValue::Missing => {}
                }
                values.push(value);
            }
            let description = match described.is_empty() {
                true => keys.join(", "),
                false => format!("{}: {}", keys.join(", "), described.join(", ")),
            };
            entries.push(ListEntry { keys, attributes: values, description });
        }
        Some(RefList::new(
            header.id.clone(),
            header.title.clone(),
            header.source.clone(),
            header.edition.clone(),
            header.key.clone(),
            attributes,
            entries,
        ))
    }

    fn load_rule_file(
        &mut self,
        source: &Source<'_>,
        families: &[Family],
        lists: &[RefList],
        goods: &GoodsMap,
        rules: &mut Vec<Rule>,
    ) {
        let document = match DeTable::parse(source.text) {
            Ok(document) => document,
            Err(err) => {
                self.toml_problem(source, &err, None);
                return;
            }
        };
        for (key, value) in document.get_ref() {
            if key.get_ref().as_ref() != "rule" {
                let message = format!("unknown key {:?}: a rule file holds only [[rule]] tables", key.get_ref());
                self.problem(source, Some(key.span().start), message);
                continue;
            }
            let DeValue::Array(array) = value.get_ref() else {
                self.problem(source, Some(value.span().start), "`rule` must be an array of tables ([[rule]])");
                continue;
            };
            // Each rule is read on its own, so that one malformed rule does not hide
            // the problems of the others.
            for element in array.iter() {
                let start = element.span().start;
                match RawRule::deserialize(element.clone().into_deserializer()) {
                    Ok(raw) => {
                        if let Some(rule) = self.compile_rule(source, start, raw, families, lists, goods) {
                            rules.push(rule);
                        }
                    }
                    Err(err) => self.toml_problem(source, &err, Some(start)),
                }
            }
        }
    }

    fn compile_rule(
        &mut self,
        source: &Source<'_>,
        start: usize,
        raw: RawRule,
        families: &[Family],
        lists: &[RefList],
        goods: &GoodsMap,
    ) -> Option<Rule> {
        let n_problems = self.problems.len();
        let at = Some(start);
        let id = raw.id.trim().to_owned();
        if id.is_empty() || id.contains(char::is_whitespace) {
            self.problem(source, at, format!("rule id {:?} must be non-empty and without spaces", raw.id));
        }
        let family = families.iter().position(|family| family.id == raw.family);
        if family.is_none() && !families.is_empty() {
            let known: Vec<&str> = families.iter().map(|family| family.id.as_str()).collect();
            let message =
                format!("rule {id}: family {:?} is not declared in ruleset.toml ({})", raw.family, known.join(", "));
            self.problem(source, at, message);
        }
        if !raw.weight.is_finite() || raw.weight == 0.0 {
            self.problem(source, at, format!("rule {id}: weight must be a non-zero number"));
        }
        let band_floor = match raw.band_floor.as_deref().map(|name| (name, Band::parse(name))) {
            None => None,
            Some((_, Some(band))) if raw.weight > 0.0 => Some(band),
            Some((_, Some(_))) => {
                self.problem(source, at, format!("rule {id}: a mitigant (negative weight) cannot have a band floor"));
                None
            }
            Some((name, None)) => {
                self.problem(
                    source,
                    at,
                    format!("rule {id}: band_floor {name:?} is not low, medium, high or critical"),
                );
                None
            }
        };
        if raw.legal_basis.iter().all(|basis| basis.trim().is_empty()) {
            self.problem(source, at, format!("rule {id}: legal_basis names no basis"));
        }
        let title = self.texts(source, at, &format!("rule {id}: title"), &raw.title);
        let action = self.texts(source, at, &format!("rule {id}: action"), &raw.action);
        let data_gap = self.texts(source, at, &format!("rule {id}: data_gap"), &raw.data_gap);
        let condition = self.compile_condition(source, &raw.when, lists, goods);
        let mut tests = Vec::new();
        for case in &raw.test {
            let offset = Some(case.span().start);
            let location = format!("{}:{}", source.name, source.line_of(case.span().start));
            let case = case.get_ref();
            let expect = match Expect::parse(&case.expect) {
                Some(expect) => expect,
                None => {
                    let message = format!(
                        "rule {id}: test {:?}: expect {:?} is not fire, pass or unknown",
                        case.name, case.expect
                    );
                    self.problem(source, offset, message);
                    continue;
                }
            };
            match subject_from_facts(&case.facts) {
                Ok(subject) => tests.push(RuleCase {
                    name: case.name.clone(),
                    expect,
                    no_facts: case.facts.is_empty(),
                    subject,
                    location,
                }),
                Err(errors) => {
                    for error in errors {
                        self.problem(source, offset, format!("rule {id}: test {:?}: {error}", case.name));
                    }
                }
            }
        }
        for (needed, has) in [
            ("fires (expect = \"fire\")", tests.iter().any(|case| case.expect == Expect::Fire)),
            ("does not fire (expect = \"pass\")", tests.iter().any(|case| case.expect == Expect::Pass)),
            (
                "lacks data (expect = \"unknown\", or no facts)",
                tests.iter().any(|case| case.expect == Expect::Unknown || case.no_facts),
            ),
        ] {
            if !has && raw.test.len() == tests.len() {
                self.problem(source, at, format!("rule {id}: no test case that {needed}"));
            }
        }
        let (Some(condition), Some(family)) = (condition, family) else { return None };
        (self.problems.len() == n_problems).then(|| Rule {
            id,
            title,
            family,
            legal_basis: raw.legal_basis,
            condition,
            weight: raw.weight,
            band_floor,
            action,
            data_gap,
            tests,
            location: format!("{}:{}", source.name, source.line_of(start)),
        })
    }

    fn compile_condition(
        &mut self,
        source: &Source<'_>,
        node: &Spanned<RawCondition>,
        lists: &[RefList],
        goods: &GoodsMap,
    ) -> Option<Condition> {
        let at = Some(node.span().start);
        let raw = node.get_ref();
        let shapes = [raw.all.is_some(), raw.any.is_some(), raw.not.is_some(), raw.field.is_some(), raw.list.is_some()];
        if shapes.iter().filter(|shape| **shape).count() != 1 {
            self.problem(source, at, "a condition needs exactly one of all, any, not, field or list");
            return None;
        }
        if let Some(parts) = raw.all.as_ref().or(raw.any.as_ref()) {
            if parts.is_empty() {
                self.problem(source, at, "all/any needs at least one condition");
                return None;
            }
            let compiled: Vec<Option<Condition>> =
                parts.iter().map(|part| self.compile_condition(source, part, lists, goods)).collect();
            let compiled: Option<Vec<Condition>> = compiled.into_iter().collect();
            return compiled.map(|parts| if raw.all.is_some() { Condition::All(parts) } else { Condition::Any(parts) });
        }
        if let Some(part) = &raw.not {
            return self.compile_condition(source, part, lists, goods).map(|part| Condition::Not(Box::new(part)));
        }
        if let Some(list_id) = &raw.list {
            return self.compile_lookup(source, at, raw, list_id, lists);
        }
        let name = raw.field.as_deref().unwrap_or_default();
        let Some(field) = field_by_name(name) else {
            self.problem(source, at, format!("unknown field {name:?} (rules/README.md lists the fields)"));
            return None;
        };
        self.compile_field_test(source, at, raw, field, goods)
    }

    fn compile_field_test(
        &mut self,
        source: &Source<'_>,
        at: Option<usize>,
        raw: &RawCondition,
        field: &FieldInfo,
        goods: &GoodsMap,
    ) -> Option<Condition> {
        let comparison = comparison_of(raw);
        let n_tests = [
            raw.eq.is_some(),
            raw.in_set.is_some(),
            comparison.is_some(),
            raw.present.is_some(),
            raw.keywords.is_some(),
            raw.starts_with.is_some(),
        ]
        .iter()
        .filter(|test| **test)
        .count();
        let n_comparisons = [raw.gt, raw.gte, raw.lt, raw.lte].iter().filter(|bound| bound.is_some()).count();
        if n_tests != 1 || n_comparisons > 1 || raw.key.is_some() || raw.flag.is_some() || raw.attribute.is_some() {
            let message = format!(
                "field {}: give exactly one test (eq, in, gt, gte, lt, lte, present, keywords or starts_with)",
                field.name
            );
            self.problem(source, at, message);
            return None;
        }
        let id = field.id;
        if let Some(expected) = raw.present {
            return Some(Condition::Present { field: id, expected });
        }
        if let Some((op, threshold)) = comparison {
            if field.kind != ValueKind::Number {
                self.problem(source, at, format!("field {} is not a number and cannot be compared", field.name));
                return None;
            }
            return Some(Condition::Test { field: id, test: ValueTest::Compare(op, threshold) });
        }
        if let Some(keywords) = &raw.keywords {
            if field.kind != ValueKind::Text(TextKind::Free) {
                self.problem(source, at, format!("keywords apply to free-text fields; {} is not one", field.name));
                return None;
            }
            let phrases: Vec<String> =
                keywords.iter().map(|keyword| normalise_text(keyword)).filter(|phrase| !phrase.is_empty()).collect();
            if phrases.is_empty() {
                self.problem(source, at, "keywords is empty");
                return None;
            }
            return Some(Condition::Test { field: id, test: ValueTest::Keywords(phrases) });
        }
        if let Some(prefixes) = &raw.starts_with {
            if !matches!(field.kind, ValueKind::Text(TextKind::Code | TextKind::Free)) {
                self.problem(
                    source,
                    at,
                    format!("starts_with applies to code and text fields; {} is not one", field.name),
                );
                return None;
            }
            return Some(Condition::Test { field: id, test: ValueTest::StartsWith(prefixes.clone()) });
        }
        let literals: Vec<&toml::Value> = match (&raw.eq, &raw.in_set) {
            (Some(value), _) => vec![value],
            (_, Some(values)) if !values.is_empty() => values.iter().collect(),
            _ => {
                self.problem(source, at, format!("field {}: `in` needs at least one value", field.name));
                return None;
            }
        };
        let test = match field.kind {
            ValueKind::Bool => match literals.as_slice() {
                [toml::Value::Boolean(flag)] => Some(ValueTest::Bool(*flag)),
                _ => None,
            },
            ValueKind::Number => {
                let numbers: Option<Vec<f64>> = literals
                    .iter()
                    .map(|literal| match literal {
                        toml::Value::Integer(number) => Some(*number as f64),
                        toml::Value::Float(number) => Some(*number),
                        _ => None,
                    })
                    .collect();
                numbers.map(ValueTest::Numbers)
            }
            ValueKind::Text(kind) => {
                let mut set = HashSet::new();
                for literal in &literals {
                    let toml::Value::String(text) = literal else {
                        self.problem(source, at, format!("field {} holds text; {literal} is not text", field.name));
                        return None;
                    };
                    match canonical_literal(kind, text, goods) {
                        Ok(value) => {
                            set.insert(value);
                        }
                        Err(message) => {
                            self.problem(source, at, format!("field {}: {message}", field.name));
                            return None;
                        }
                    }
                }
                Some(ValueTest::Texts { set, folded: kind == TextKind::Free })
            }
        };
        match test {
            Some(test) => Some(Condition::Test { field: id, test }),
            None => {
                let expected = match field.kind {
                    ValueKind::Bool => "one true or false (eq)",
                    _ => "numbers",
                };
                self.problem(source, at, format!("field {}: expects {expected}", field.name));
                None
            }
        }
    }

    fn compile_lookup(
        &mut self,
        source: &Source<'_>,
        at: Option<usize>,
        raw: &RawCondition,
        list_id: &str,
        lists: &[RefList],
    ) -> Option<Condition> {
        let Some(list_idx) = lists.iter().position(|list| list.id == list_id) else {
            let known: Vec<&str> = lists.iter().map(|list| list.id.as_str()).collect();
            self.problem(source, at, format!("unknown list {list_id:?} (lists: {})", known.join(", ")));
            return None;
        };
        let list = &lists[list_idx];
        if raw.eq.is_some() || raw.in_set.is_some() || raw.present.is_some() || raw.keywords.is_some() {
            self.problem(source, at, "a list look-up takes key, and flag or attribute with a comparison");
            return None;
        }
        let key_names = raw.key.clone().unwrap_or_default();
        if key_names.len() != list.key.len() {
            let message = format!(
                "list {list_id} is keyed by {} ({}); key names {} field(s)",
                list.key.len(),
                list.key.join(", "),
                key_names.len()
            );
            self.problem(source, at, message);
            return None;
        }
        let mut keys = Vec::new();
        for name in &key_names {
            match field_by_name(name) {
                Some(field) if matches!(field.kind, ValueKind::Text(_)) => keys.push(field.id),
                Some(_) => self.problem(source, at, format!("key field {name} is not text")),
                None => self.problem(source, at, format!("unknown field {name:?} (rules/README.md lists the fields)")),
            }
        }
        if keys.len() != key_names.len() {
            return None;
        }
        let attribute_of = |loader: &mut Loader, name: &str| {
            let idx = list.attribute_index(name);
            if idx.is_none() {
                let message = format!("list {list_id} has no column {name:?} ({})", list.attributes.join(", "));
                loader.problem(source, at, message);
            }
            idx
        };
        let filter = match (&raw.flag, &raw.attribute, comparison_of(raw)) {
            (None, None, None) => EntryFilter::Any,
            (Some(flag), None, None) => EntryFilter::Flag(attribute_of(self, flag)?),
            (None, Some(attribute), Some((op, threshold))) => {
                EntryFilter::Compare(attribute_of(self, attribute)?, op, threshold)
            }
            _ => {
                self.problem(source, at, "a list look-up takes either flag, or attribute with one comparison");
                return None;
            }
        };
        Some(Condition::Lookup { list: list_idx, keys, filter })
    }
}

struct Settings {
    version: String,
    bands: BandCutoffs,
    overall_cap: f64,
    unknown_weight: f64,
    unknown_cap: f64,
}

fn comparison_of(raw: &RawCondition) -> Option<(CmpOp, f64)> {
    [(CmpOp::Gt, raw.gt), (CmpOp::Gte, raw.gte), (CmpOp::Lt, raw.lt), (CmpOp::Lte, raw.lte)]
        .into_iter()
        .find_map(|(op, bound)| Some((op, bound?)))
}

/// A text literal of a rule in the canonical form of its field's values.
fn canonical_literal(kind: TextKind, text: &str, goods: &GoodsMap) -> Result<String, String> {
    match kind {
        TextKind::Free => Ok(normalise_text(text)),
        TextKind::Code => Ok(text.trim().to_owned()),
        TextKind::Country => parse_country(text.trim()),
        TextKind::Region => {
            region_code(None, text).ok_or_else(|| format!("{text:?} is not an ISO 3166-2 region code (such as PE-MDD)"))
        }
        TextKind::Good if goods.contains(text) => Ok(text.to_owned()),
        TextKind::Good => Err(format!("{text:?} is not a good of the goods mapping (lists/goods.toml)")),
        TextKind::Enum(allowed) if allowed.contains(&text) => Ok(text.to_owned()),
        TextKind::Enum(allowed) => Err(format!("{text:?} is not one of: {}", allowed.join(", "))),
    }
}

/// A key value of a list entry in canonical form: columns named `country`, `region` and
/// `good` hold countries, ISO 3166-2 regions and goods of the goods mapping.
fn canonical_list_value(column: &str, value: &str, goods: &GoodsMap) -> Result<String, String> {
    match column {
        "country" => canonical_literal(TextKind::Country, value, goods),
        "region" => canonical_literal(TextKind::Region, value, goods),
        "good" => canonical_literal(TextKind::Good, value, goods),
        _ => Ok(value.to_owned()),
    }
}

fn split_location(location: &str) -> (String, usize) {
    match location.rsplit_once(':') {
        Some((file, line)) => (file.to_owned(), line.parse().unwrap_or(0)),
        None => (location.to_owned(), 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded list must hold exactly the directory's files, or `bundled()` and
    /// `load_dir("rules")` would differ.
    #[test]
    fn bundled_files_are_the_rules_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let mut on_disk = Vec::new();
        let mut problems = Vec::new();
        collect_toml_files(&dir, "", &mut on_disk, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let mut on_disk: Vec<(String, String)> = on_disk;
        on_disk.sort();
        let mut bundled: Vec<(String, String)> =
            BUNDLED_FILES.iter().map(|(path, text)| ((*path).to_owned(), (*text).to_owned())).collect();
        bundled.sort();
        let names = |files: &[(String, String)]| files.iter().map(|(path, _)| path.clone()).collect::<Vec<_>>();
        assert_eq!(names(&bundled), names(&on_disk));
        assert_eq!(digest_files(&bundled), digest_files(&on_disk));
    }

    #[test]
    fn lines_are_counted_from_offsets() {
        let source = Source { name: "x".into(), text: "a\nb\nc" };
        assert_eq!(source.line_of(0), 1);
        assert_eq!(source.line_of(2), 2);
        assert_eq!(source.line_of(99), 3);
    }
}
