//! The rules' own test cases (`[[rule.test]]`): a small table of facts, and whether the
//! rule should fire, pass or be unknown on them. `cadena rules test` and `cargo test`
//! run them all.

use serde_json::{Map, Value};

use super::condition::Truth;
use super::fields::Facts;
use super::{AgencyFacts, MatchStrength, Ruleset, Subject, WatchlistHit};
use crate::records::{Agency, LicenceEntry, ProcurementLine, Record, RecordKind, Supplier};

/// What a test case expects of its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    Fire,
    Pass,
    Unknown,
}

impl Expect {
    pub(crate) fn parse(name: &str) -> Option<Expect> {
        match name {
            "fire" => Some(Expect::Fire),
            "pass" => Some(Expect::Pass),
            "unknown" => Some(Expect::Unknown),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Expect::Fire => "fire",
            Expect::Pass => "pass",
            Expect::Unknown => "unknown",
        }
    }

    fn of(truth: Truth) -> Expect {
        match truth {
            Truth::True => Expect::Fire,
            Truth::False => Expect::Pass,
            Truth::Unknown => Expect::Unknown,
        }
    }
}

/// One compiled test case of a rule.
#[derive(Debug, Clone)]
pub(crate) struct RuleCase {
    pub name: String,
    pub expect: Expect,
    /// A case without facts is the missing-data case of a rule that cannot be unknown.
    pub no_facts: bool,
    pub subject: Subject,
    /// `rules/product.toml:40`.
    pub location: String,
}

/// A test case whose rule did not do what the case expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFailure {
    pub rule_id: String,
    pub case: String,
    pub location: String,
    pub expected: String,
    pub actual: String,
}

impl std::fmt::Display for CaseFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: rule {}: test {:?}: expected {}, got {}",
            self.location, self.rule_id, self.case, self.expected, self.actual
        )
    }
}

/// The outcome of running every rule's cases.
#[derive(Debug, Clone, Default)]
pub struct TestReport {
    pub n_rules: usize,
    pub n_cases: usize,
    pub failures: Vec<CaseFailure>,
    /// Rules that no case fires: a rule that cannot be shown to fire is not tested.
    pub rules_never_fired: Vec<String>,
}

impl TestReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.rules_never_fired.is_empty()
    }
}

impl Ruleset {
    /// Runs every rule's test cases.
    pub fn run_tests(&self) -> TestReport {
        let mut report = TestReport { n_rules: self.rules.len(), ..TestReport::default() };
        for rule in &self.rules {
            let mut fired = false;
            for case in &rule.tests {
                report.n_cases += 1;
                let facts = Facts::new(&self.goods, &case.subject);
                let actual = Expect::of(rule.condition.eval(&facts, &self.lists, None));
                fired |= actual == Expect::Fire;
                if actual != case.expect {
                    report.failures.push(CaseFailure {
                        rule_id: rule.id.clone(),
                        case: case.name.clone(),
                        location: case.location.clone(),
                        expected: case.expect.as_str().to_owned(),
                        actual: actual.as_str().to_owned(),
                    });
                }
            }
            if !fired {
                report.rules_never_fired.push(format!("{}: rule {}", rule.location, rule.id));
            }
        }
        report
    }
}

/// Builds a subject from a test case's facts: keys are `line.*`, `supplier.*`,
/// `agency.*` (one agency's record), `licence.*` (its register entry) and `match.*`
/// (one watchlist hit), named as the CSV columns are, with values as in CSV files or
/// as TOML booleans, numbers and arrays.
pub(crate) fn subject_from_facts(facts: &toml::Table) -> Result<Subject, Vec<String>> {
    let mut parts: [Map<String, Value>; 4] = Default::default();
    let mut hit = Map::new();
    let mut errors = Vec::new();
    for (key, value) in facts {
        let Some((prefix, name)) = key.split_once('.') else {
            errors.push(format!("fact {key:?} must be prefixed: line., supplier., agency., licence. or match."));
            continue;
        };
        let (kind, part) = match prefix {
            "line" => (RecordKind::Procurements, 0),
            "supplier" => (RecordKind::Suppliers, 1),
            "agency" => (RecordKind::Agencies, 2),
            "licence" => (RecordKind::Licences, 3),
            "match" => {
                match value {
                    toml::Value::String(text) => hit.insert(name.to_owned(), Value::from(text.as_str())),
                    toml::Value::Integer(number) => hit.insert(name.to_owned(), Value::from(*number as f64)),
                    toml::Value::Float(number) => hit.insert(name.to_owned(), Value::from(*number)),
                    _ => {
                        errors.push(format!("fact {key}: must be text or a number"));
                        continue;
                    }
                };
                continue;
            }
            _ => {
                errors.push(format!("fact {key:?}: unknown prefix {prefix:?}"));
                continue;
            }
        };
        let Some(field) = kind.fields().iter().find(|field| field.name == name) else {
            errors.push(format!("fact {key:?}: {kind} have no column {name:?}"));
            continue;
        };
        let parsed = match value {
            toml::Value::String(text) => field.ty.parse(text),
            toml::Value::Boolean(flag) if field.ty == crate::records::FieldType::Bool => Ok(Value::Bool(*flag)),
            toml::Value::Integer(number) if field.ty == crate::records::FieldType::Number => {
                Ok(Value::from(*number as f64))
            }
            toml::Value::Float(number) if field.ty == crate::records::FieldType::Number => Ok(Value::from(*number)),
            toml::Value::Array(items) if field.ty == crate::records::FieldType::List => {
                Ok(Value::from(items.iter().filter_map(|item| item.as_str().map(str::to_owned)).collect::<Vec<_>>()))
            }
            other => Err(format!("{other} does not fit a {:?} column", field.ty)),
        };
        match parsed {
            Ok(parsed) => {
                parts[part].insert(name.to_owned(), parsed);
            }
            Err(reason) => errors.push(format!("fact {key}: {reason}")),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let [line, supplier, agency, licence] = parts;
    let mut subject = Subject::default();
    let mut build_errors = Vec::new();
    if !line.is_empty() {
        subject.line =
            record::<ProcurementLine>(line, &[("procurement_id", "TEST-P"), ("line_id", "1")], &mut build_errors);
    }
    if !supplier.is_empty() {
        subject.supplier =
            record::<Supplier>(supplier, &[("supplier_id", "TEST-S"), ("name", "Test")], &mut build_errors);
    }
    if !agency.is_empty() || !licence.is_empty() {
        let agency = (!agency.is_empty())
            .then(|| record::<Agency>(agency, &[("agency_id", "TEST-A"), ("name", "Test")], &mut build_errors))
            .flatten();
        let licence = (!licence.is_empty())
            .then(|| {
                record::<LicenceEntry>(
                    licence,
                    &[("licence_number", "TEST-L"), ("holder_name", "Test")],
                    &mut build_errors,
                )
            })
            .flatten();
        let agency_id = agency.as_ref().map_or_else(|| "TEST-A".to_owned(), |agency| agency.agency_id.clone());
        subject.agencies.push(AgencyFacts { agency_id, agency, licence });
    }
    if !hit.is_empty() {
        match watchlist_hit(&hit) {
            Ok(hit) => subject.watchlist_matches.push(hit),
            Err(reason) => build_errors.push(reason),
        }
    }
    if build_errors.is_empty() { Ok(subject) } else { Err(build_errors) }
}

fn record<R: Record>(mut object: Map<String, Value>, defaults: &[(&str, &str)], errors: &mut Vec<String>) -> Option<R> {
    for (name, value) in defaults {
        object.entry(*name).or_insert_with(|| Value::from(*value));
    }
    object.insert("extra".to_owned(), Value::Object(Map::new()));
    match serde_json::from_value::<R>(Value::Object(object)) {
        Ok(mut record) => {
            record.derive();
            Some(record)
        }
        Err(err) => {
            errors.push(format!("could not build a {} record: {err}", R::KIND));
            None
        }
    }
}

fn watchlist_hit(facts: &Map<String, Value>) -> Result<WatchlistHit, String> {
    let text = |name: &str| facts.get(name).and_then(Value::as_str).map(str::to_owned);
    for name in facts.keys() {
        if !["entity_id", "list", "name", "strength", "score", "reason", "source"].contains(&name.as_str()) {
            return Err(format!(
                "fact match.{name}: a match has entity_id, list, name, strength, score, reason, source"
            ));
        }
    }
    let strength = match text("strength").as_deref() {
        Some("strong") => MatchStrength::Strong,
        Some("possible") => MatchStrength::Possible,
        other => return Err(format!("fact match.strength: {other:?} is not strong or possible")),
    };
    Ok(WatchlistHit {
        entity_id: text("entity_id").unwrap_or_else(|| "TEST-W".to_owned()),
        list: text("list"),
        name: text("name").unwrap_or_else(|| "Test".to_owned()),
        strength,
        score: facts.get("score").and_then(Value::as_f64).unwrap_or(1.0),
        reason: text("reason"),
        source: text("source"),
    })
}
