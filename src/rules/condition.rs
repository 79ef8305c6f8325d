//! Compiled rule conditions and their three-valued evaluation.
//!
//! A condition is a tree of `all` / `any` / `not` over leaves that test one field or
//! look keys up in a reference list. Missing data makes a leaf *unknown*; `all` is
//! false if any part is false, else unknown if any part is unknown; `any` is true if
//! any part is true, else unknown if any part is unknown. A leaf over a field with
//! several values (one per agency or watchlist match) holds if it holds for any value.

use std::collections::HashSet;

use super::ListEntryRef;
use super::fields::{FactValue, Facts, FieldId, Val, Whose, field_name};
use super::lists::{AttrValue, RefList, contains_phrase, normalise_text};

/// The three truth values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn from_found(found: bool, saw_unknown: bool) -> Truth {
        match (found, saw_unknown) {
            (true, _) => Truth::True,
            (false, true) => Truth::Unknown,
            (false, false) => Truth::False,
        }
    }
}

/// A comparison of a number with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl CmpOp {
    fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            CmpOp::Gt => value > threshold,
            CmpOp::Gte => value >= threshold,
            CmpOp::Lt => value < threshold,
            CmpOp::Lte => value <= threshold,
        }
    }
}

/// A test of one field value, compiled from a rule file.
#[derive(Debug, Clone)]
pub(crate) enum ValueTest {
    Bool(bool),
    /// `eq` or `in` over numbers.
    Numbers(Vec<f64>),
    /// `eq` or `in` over text; `folded` when the field is free text, whose values are
    /// compared after normalising (the set holds normalised literals).
    Texts {
        set: HashSet<String>,
        folded: bool,
    },
    Compare(CmpOp, f64),
    /// Whole-word phrases, normalised, looked for in free text.
    Keywords(Vec<String>),
    StartsWith(Vec<String>),
}

/// Which entries of a list a look-up accepts.
#[derive(Debug, Clone)]
pub(crate) enum EntryFilter {
    Any,
    /// The attribute (by index) must be `true`.
    Flag(usize),
    /// The numeric attribute must compare with the threshold.
    Compare(usize, CmpOp, f64),
}

#[derive(Debug, Clone)]
pub(crate) enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    /// True when the field has at least one known value; never unknown.
    Present {
        field: FieldId,
        expected: bool,
    },
    Test {
        field: FieldId,
        test: ValueTest,
    },
    /// Keys (one or two fields) looked up in a list (by index into the ruleset's lists).
    Lookup {
        list: usize,
        keys: Vec<FieldId>,
        filter: EntryFilter,
    },
}

/// One fact that made a condition true, as the evaluation found it; the rule set
/// turns it into [`super::Evidence`] in the reader's language.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fact {
    /// The field, or the key fields of a list look-up.
    pub fields: Vec<FieldId>,
    pub value: FactValue,
    pub whose: Whose,
    /// The reference-list entry the value was found in.
    pub list_entry: Option<ListEntryRef>,
}

/// What an evaluation collects when asked to explain itself.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    pub evidence: Vec<Fact>,
    /// Fields whose missing values made the result unknown.
    pub missing: Vec<&'static str>,
}

impl Trace {
    fn absorb(&mut self, other: Trace) {
        self.evidence.extend(other.evidence);
        for field in other.missing {
            if !self.missing.contains(&field) {
                self.missing.push(field);
            }
        }
    }

    fn missing(&mut self, field: FieldId) {
        let name = field_name(field);
        if !self.missing.contains(&name) {
            self.missing.push(name);
        }
    }
}

impl Condition {
    /// Evaluates the condition; with a trace, also records the evidence of a true
    /// result and the missing fields of an unknown one.
    pub(crate) fn eval(&self, facts: &Facts<'_>, lists: &[RefList], mut trace: Option<&mut Trace>) -> Truth {
        match self {
            Condition::All(parts) => {
                let mut result = Truth::True;
                for part in parts {
                    match part.eval(facts, lists, trace.as_deref_mut()) {
                        Truth::False => return Truth::False,
                        Truth::Unknown => result = Truth::Unknown,
                        Truth::True => {}
                    }
                }
                result
            }
            Condition::Any(parts) => {
                let mut result = Truth::False;
                for part in parts {
                    let Some(outer) = trace.as_deref_mut() else {
                        match part.eval(facts, lists, None) {
                            Truth::True => return Truth::True,
                            Truth::Unknown => result = Truth::Unknown,
                            Truth::False => {}
                        }
                        continue;
                    };
                    // Only the part that made `any` true explains it.
                    let mut inner = Trace::default();
                    match part.eval(facts, lists, Some(&mut inner)) {
                        Truth::True => {
                            outer.evidence.extend(inner.evidence);
                            return Truth::True;
                        }
                        Truth::Unknown => {
                            result = Truth::Unknown;
                            inner.evidence.clear();
                            outer.absorb(inner);
                        }
                        Truth::False => {}
                    }
                }
                result
            }
            Condition::Not(part) => match part.eval(facts, lists, trace) {
                Truth::True => Truth::False,
                Truth::False => Truth::True,
                Truth::Unknown => Truth::Unknown,
            },
            Condition::Present { field, expected } => {
                let mut known: Option<(FactValue, Whose)> = None;
                facts.visit(*field, &mut |value, owner| match value {
                    Some(value) => {
                        known = Some((value.to_fact(), owner.to_whose()));
                        true
                    }
                    None => false,
                });
                let is_present = known.is_some();
                if let (Some(trace), Some((value, whose)), true) = (trace, known, is_present == *expected) {
                    trace.evidence.push(Fact { fields: vec![*field], value, whose, list_entry: None });
                }
                if is_present == *expected { Truth::True } else { Truth::False }
            }
            Condition::Test { field, test } => {
                let mut saw_unknown = false;
                let mut matched: Option<Option<(FactValue, Whose)>> = None;
                let want_evidence = trace.is_some();
                facts.visit(*field, &mut |value, owner| match value {
                    None => {
                        saw_unknown = true;
                        false
                    }
                    Some(value) => {
                        let holds = test.holds(value, facts.normalised(*field));
                        if holds {
                            matched = Some(want_evidence.then(|| (value.to_fact(), owner.to_whose())));
                        }
                        holds
                    }
                });
                let result = Truth::from_found(matched.is_some(), saw_unknown);
                if let Some(trace) = trace {
                    match (result, matched) {
                        (Truth::True, Some(Some((value, whose)))) => {
                            trace.evidence.push(Fact { fields: vec![*field], value, whose, list_entry: None })
                        }
                        (Truth::Unknown, _) => trace.missing(*field),
                        _ => {}
                    }
                }
                result
            }
            Condition::Lookup { list, keys, filter } => lookup(facts, &lists[*list], keys, filter, trace),
        }
    }
}

impl ValueTest {
    /// Whether one known value passes; `normalised` is the value already normalised
    /// for keyword matching, when the facts hold it.
    fn holds(&self, value: Val<'_>, normalised: Option<&str>) -> bool {
        match (self, value) {
            (ValueTest::Bool(expected), Val::Bool(actual)) => *expected == actual,
            (ValueTest::Numbers(set), Val::Num(actual)) => set.contains(&actual),
            (ValueTest::Compare(op, threshold), Val::Num(actual)) => op.holds(actual, *threshold),
            (ValueTest::Texts { set, folded: false }, Val::Str(actual)) => set.contains(actual),
            (ValueTest::Texts { set, folded: true }, Val::Str(actual)) => set.contains(&normalise_text(actual)),
            (ValueTest::Keywords(phrases), Val::Str(actual)) => match normalised {
                Some(text) => phrases.iter().any(|phrase| contains_phrase(text, phrase)),
                None => {
                    let text = normalise_text(actual);
                    phrases.iter().any(|phrase| contains_phrase(&text, phrase))
                }
            },
            (ValueTest::StartsWith(prefixes), Val::Str(actual)) => {
                prefixes.iter().any(|prefix| actual.trim_start().starts_with(prefix.as_str()))
            }
            // Types are checked when the rules load; a mismatch cannot hold.
            _ => false,
        }
    }
}

/// Looks the values of one or two key fields up in a list. With several values per
/// key (goods, agencies), any combination found counts.
fn lookup(
    facts: &Facts<'_>,
    list: &RefList,
    keys: &[FieldId],
    filter: &EntryFilter,
    trace: Option<&mut Trace>,
) -> Truth {
    let mut saw_unknown = false;
    let mut found: Option<(String, usize)> = None;
    let accepts = |entry_idx: usize| {
        let entry = &list.entries[entry_idx];
        match filter {
            EntryFilter::Any => true,
            EntryFilter::Flag(attr) => entry.attributes.get(*attr) == Some(&AttrValue::Bool(true)),
            EntryFilter::Compare(attr, op, threshold) => {
                matches!(entry.attributes.get(*attr), Some(AttrValue::Num(value)) if op.holds(*value, *threshold))
            }
        }
    };
    match keys {
        [first] => facts.visit(*first, &mut |value, _| match value {
            None => {
                saw_unknown = true;
                false
            }
            Some(Val::Str(first_value)) => match list.find(first_value, None) {
                Some(entry_idx) if accepts(entry_idx) => {
                    found = Some((first_value.to_owned(), entry_idx));
                    true
                }
                _ => false,
            },
            Some(_) => false,
        }),
        [first, second] => facts.visit(*first, &mut |value, _| match value {
            None => {
                saw_unknown = true;
                false
            }
            Some(Val::Str(first_value)) => {
                let mut stop = false;
                facts.visit(*second, &mut |value, _| match value {
                    None => {
                        saw_unknown = true;
                        false
                    }
                    Some(Val::Str(second_value)) => match list.find(first_value, Some(second_value)) {
                        Some(entry_idx) if accepts(entry_idx) => {
                            found = Some((format!("{first_value}, {second_value}"), entry_idx));
                            stop = true;
                            true
                        }
                        _ => false,
                    },
                    Some(_) => false,
                });
                stop
            }
            Some(_) => false,
        }),
        _ => {}
    }
    let result = Truth::from_found(found.is_some(), saw_unknown);
    if let Some(trace) = trace {
        match (result, found) {
            (Truth::True, Some((value, entry_idx))) => {
                trace.evidence.push(Fact {
                    fields: keys.to_vec(),
                    value: FactValue::Text(value),
                    whose: Whose::Subject,
                    list_entry: Some(ListEntryRef {
                        list: list.id.clone(),
                        entry: list.entries[entry_idx].description.clone(),
                        source: list.citation(),
                    }),
                });
            }
            (Truth::Unknown, _) => {
                for key in keys {
                    let mut key_unknown = false;
                    facts.visit(*key, &mut |value, _| {
                        key_unknown |= value.is_none();
                        key_unknown
                    });
                    if key_unknown {
                        trace.missing(*key);
                    }
                }
            }
            _ => {}
        }
    }
    result
}
