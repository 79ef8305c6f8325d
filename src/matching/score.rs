//! Name comparison: a weighted, explainable similarity between two normalised names.
//!
//! Words of the two names are paired greedily, most similar pair first, each word used
//! at most once; a word may also pair with two adjacent words of the other name run
//! together (`siemensag` ↔ `siemens ag`). A pair counts only if its words are similar
//! enough ([`MIN_WORD_SIMILARITY`]). The score is a weighted Dice coefficient:
//!
//! ```text
//! score = Σ over pairs of similarity × (weight of both words) / (total weight of both names)
//! ```
//!
//! A word's weight is its class weight ([`class_weight`]), so legal forms, generic words,
//! qualifiers and particles move the score little either way; word order does not matter.

use serde::{Deserialize, Serialize};

use super::normalize::{NormalizedName, Word, WordClass, legal_form_kind};

/// Below this, two words are treated as different (similarity 0).
pub const MIN_WORD_SIMILARITY: f64 = 0.8;

/// The weight of a word of each class.
pub fn class_weight(class: WordClass) -> f64 {
    match class {
        WordClass::Regular => 1.0,
        WordClass::Generic => 0.5,
        WordClass::Qualifier => 0.3,
        WordClass::LegalForm => 0.1,
        WordClass::Particle => 0.05,
    }
}

/// Why two words (or runs of words) were paired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PairBasis {
    /// The same letters, or nearly (a typo, a missing accent).
    Spelling,
    /// One word of one name is several of the other run together (`stmicroelectronics` ↔
    /// `st microelectronics`).
    Joined,
    /// A short form of the word (`intl` ↔ `international`).
    Abbreviation,
    /// The initials of several words (`pla` ↔ `peoples liberation army`).
    Acronym,
    /// Two legal forms of the same kind in different languages or scripts (`ooo` ↔ `llc`,
    /// `ao` ↔ `joint stock company`), by `legal_form_kinds.txt`.
    LegalFormEquivalent,
    /// Two legal forms not known to be of one kind: they neither make nor break a match.
    LegalForm,
    /// Spelt apart but sounding alike by Double Metaphone, as two transliterations of one
    /// word often are (`kompel` ↔ `compel`, `eniks` ↔ `enics`).
    Sound,
}

/// One pairing of words between the query name and the listed name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WordPair {
    /// The query word (two words run together appear joined by a space).
    pub query: String,
    pub listed: String,
    /// 0–1, Jaro-Winkler or normalised Levenshtein for short words.
    pub similarity: f64,
    /// The combined weight of the words in the pair.
    pub weight: f64,
    /// Why the words were paired.
    pub basis: PairBasis,
}

/// The result of comparing two names, with everything needed to explain it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameComparison {
    pub score: f64,
    pub pairs: Vec<WordPair>,
    /// Query words left without a partner.
    pub unmatched_query: Vec<String>,
    /// Listed words left without a partner.
    pub unmatched_listed: Vec<String>,
}

/// The similarity of two single words, 0 when below [`MIN_WORD_SIMILARITY`].
pub fn word_similarity(a: &str, b: &str) -> f64 {
    word_evidence(a, b).0
}

/// [`word_similarity`] and what it rests on.
fn word_evidence(a: &str, b: &str) -> (f64, PairBasis) {
    if a == b {
        return (1.0, PairBasis::Spelling);
    }
    let longest = a.len().max(b.len());
    let mut similarity = if longest <= 4 {
        // Jaro-Winkler is generous with short words ("oro" / "orb"); count edits instead.
        strsim::normalized_levenshtein(a, b)
    } else {
        strsim::jaro_winkler(a, b)
    };
    let mut basis = PairBasis::Spelling;
    if (is_abbreviation(a, b) || is_abbreviation(b, a)) && similarity < ABBREVIATION_SIMILARITY {
        similarity = ABBREVIATION_SIMILARITY;
        basis = PairBasis::Abbreviation;
    }
    if similarity >= MIN_WORD_SIMILARITY { (similarity, basis) } else { (0.0, basis) }
}

/// The similarity given to two words that sound alike but are spelt apart.
pub const SOUND_SIMILARITY: f64 = 0.9;

/// Spelling evidence raised to [`SOUND_SIMILARITY`] when the two words sound alike.
fn sound_evidence(spelling: (f64, PairBasis), ours: &Word, theirs: &Word) -> (f64, PairBasis) {
    if spelling.0 < SOUND_SIMILARITY && ours.sounds_like(theirs) {
        (SOUND_SIMILARITY, PairBasis::Sound)
    } else {
        spelling
    }
}

/// The similarity given to an abbreviation and its word (`intl` ↔ `international`).
pub const ABBREVIATION_SIMILARITY: f64 = 0.9;

/// Whether `short` abbreviates `long`: same first letter, its letters found in order in
/// `long`, and `long` at least twice as long (`intl` / `international`, `mfg` / `manufacturing`).
fn is_abbreviation(short: &str, long: &str) -> bool {
    if short.len() < 3 || long.len() < 2 * short.len() || short.as_bytes()[0] != long.as_bytes()[0] {
        return false;
    }
    let mut rest = long.bytes();
    short.bytes().all(|letter| rest.any(|candidate| candidate == letter))
}

/// How much an imperfect word pair counts: a pair at similarity `s` counts
/// `1 - (1 - s) × IMPERFECT_PAIR_PENALTY` of its weight, so one typo in a long word costs
/// little and a merely similar word (`sparkles` / `sporks`) counts for little.
pub const IMPERFECT_PAIR_PENALTY: f64 = 2.0;

/// The similarity given to an acronym and the words it stands for (`pla` ↔ `peoples liberation army`).
pub const ACRONYM_SIMILARITY: f64 = 0.95;

/// The most words of one name that can pair with a single word of the other
/// (`van der bilt` ↔ `vanderbilt`).
const MAX_RUN_TOGETHER: usize = 3;

/// The longest acronym recognised, in letters.
const MAX_ACRONYM: usize = 6;

fn counted(similarity: f64) -> f64 {
    (1.0 - (1.0 - similarity) * IMPERFECT_PAIR_PENALTY).max(0.0)
}

struct Side<'a> {
    words: &'a [Word],
    texts: Vec<&'a str>,
    classes: Vec<WordClass>,
    /// Each run of legal-form words, with its kind when the kinds table knows it.
    legal_runs: Vec<(Span, Option<&'static str>)>,
    weights: Vec<f64>,
    used: Vec<bool>,
}

impl<'a> Side<'a> {
    fn new(name: &'a NormalizedName) -> Side<'a> {
        let texts: Vec<&str> = name.words.iter().map(|word| word.text.as_str()).collect();
        let mut weights: Vec<f64> = name.words.iter().map(|word| class_weight(word.class)).collect();
        // A legal form weighs the same whether written in one word or several ("OAO" / "open joint stock company").
        let mut legal_runs = Vec::new();
        let mut start = 0;
        while start < name.words.len() {
            let run = name.words[start..].iter().take_while(|word| word.class == WordClass::LegalForm).count();
            for weight in &mut weights[start..start + run] {
                *weight /= run as f64;
            }
            if run > 0 {
                let kind = legal_form_kind(&texts[start..start + run].join(" "));
                legal_runs.push((Span { start, len: run }, kind));
            }
            start += run.max(1);
        }
        let classes = name.words.iter().map(|word| word.class).collect();
        Side { used: vec![false; texts.len()], words: &name.words, texts, classes, legal_runs, weights }
    }

    fn is_legal_form(&self, index: usize) -> bool {
        self.classes[index] == WordClass::LegalForm
    }

    /// The words left without a partner whose class is one of `classes`, by index.
    fn unmatched_of<'s>(&'s self, classes: &'s [WordClass]) -> impl Iterator<Item = usize> + 's {
        (0..self.texts.len()).filter(|&i| !self.used[i] && classes.contains(&self.classes[i]))
    }

    /// The weight of the words left without a partner whose class is one of `classes`.
    fn unmatched_weight(&self, classes: &[WordClass]) -> f64 {
        self.unmatched_of(classes).map(|i| self.weights[i]).sum()
    }

    /// Whether every word that says which entity this is (a distinctive, generic or
    /// qualifying word) found a partner: the other name holds all of this one.
    fn is_contained(&self) -> bool {
        self.unmatched_weight(&[WordClass::Regular, WordClass::Generic, WordClass::Qualifier]) == 0.0
    }

    /// The kind of the legal form that word `index` belongs to, when known.
    fn kind_of(&self, index: usize) -> Option<&'static str> {
        self.legal_runs
            .iter()
            .find(|(span, _)| (span.start..span.start + span.len).contains(&index))
            .and_then(|(_, kind)| *kind)
    }

    fn total_weight(&self) -> f64 {
        self.weights.iter().sum()
    }

    fn span_weight(&self, span: Span) -> f64 {
        self.weights[span.start..span.start + span.len].iter().sum()
    }

    fn span_text(&self, span: Span, separator: &str) -> String {
        self.texts[span.start..span.start + span.len].join(separator)
    }

    fn is_free(&self, span: Span) -> bool {
        self.used[span.start..span.start + span.len].iter().all(|used| !used)
    }

    fn take(&mut self, span: Span) {
        self.used[span.start..span.start + span.len].fill(true);
    }

    fn unmatched(&self) -> Vec<String> {
        self.texts.iter().zip(&self.used).filter(|(_, used)| !**used).map(|(text, _)| (*text).to_owned()).collect()
    }
}

/// Consecutive words of one name.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
}

/// A possible pairing of a span of the query with a span of the listed name.
struct Candidate {
    similarity: f64,
    basis: PairBasis,
    words: usize,
    weight: f64,
    query: Span,
    listed: Span,
}

/// Compares a query name with a listed name.
pub fn compare(query: &NormalizedName, listed: &NormalizedName) -> NameComparison {
    let mut q = Side::new(query);
    let mut l = Side::new(listed);
    let total = q.total_weight() + l.total_weight();

    let mut candidates = Vec::new();
    for i in 0..q.texts.len() {
        for j in 0..l.texts.len() {
            let single = |start| Span { start, len: 1 };
            let evidence = if q.is_legal_form(i) && l.is_legal_form(j) {
                // Any legal form stands for any other ("Ltd" and "Limited", "S.A." and
                // "S.A.C."); the explanation says when the two are known to be one kind
                // across languages ("ООО" and "LLC").
                let basis = if q.texts[i] == l.texts[j] {
                    PairBasis::Spelling
                } else if q.kind_of(i).is_some() && q.kind_of(i) == l.kind_of(j) {
                    PairBasis::LegalFormEquivalent
                } else {
                    PairBasis::LegalForm
                };
                (1.0, basis)
            } else {
                sound_evidence(word_evidence(q.texts[i], l.texts[j]), &q.words[i], &l.words[j])
            };
            push_candidate(&mut candidates, &q, &l, single(i), single(j), evidence);
            for len in 2..=MAX_ACRONYM {
                if j + len <= l.texts.len() {
                    let span = Span { start: j, len };
                    push_candidate(&mut candidates, &q, &l, single(i), span, span_similarity(q.texts[i], &l, span));
                }
                if i + len <= q.texts.len() {
                    let span = Span { start: i, len };
                    push_candidate(&mut candidates, &q, &l, span, single(j), span_similarity(l.texts[j], &q, span));
                }
            }
        }
    }
    // Greedy one-to-one pairing: most similar first, then the fewest words, then the heaviest.
    candidates.sort_by(|x, y| {
        y.similarity
            .total_cmp(&x.similarity)
            .then(x.words.cmp(&y.words))
            .then(y.weight.total_cmp(&x.weight))
            .then(x.query.start.cmp(&y.query.start))
            .then(x.listed.start.cmp(&y.listed.start))
    });
    let mut pairs = Vec::new();
    for candidate in candidates {
        if !q.is_free(candidate.query) || !l.is_free(candidate.listed) {
            continue;
        }
        q.take(candidate.query);
        l.take(candidate.listed);
        pairs.push(WordPair {
            query: q.span_text(candidate.query, " "),
            listed: l.span_text(candidate.listed, " "),
            similarity: candidate.similarity,
            weight: candidate.weight,
            basis: candidate.basis,
        });
    }

    let matched: f64 = pairs.iter().map(|pair| counted(pair.similarity) * pair.weight).sum();
    let total = total - extra_detail_discount(&q, &l) + contradiction_weight(&q, &l);
    let score = if total > 0.0 { (matched / total).clamp(0.0, 1.0) } else { 0.0 };
    NameComparison { score, pairs, unmatched_query: q.unmatched(), unmatched_listed: l.unmatched() }
}

/// How much of a qualifier's weight it loses when it is only extra detail: the other
/// name is wholly contained in this one, and the qualifier says where or which branch
/// (`CARGILL B.V., BERGEN OP ZOOM` against `CARGILL B.V.`), so it does not contradict.
pub const EXTRA_QUALIFIER_DISCOUNT: f64 = 0.8;

/// How much more a distinctive word weighs when each name has one the other lacks: two
/// names that share a long prefix but end in different distinctive words (`Mary Crane
/// League - Morse` and `… - West`) name two branches, so the words that tell them apart
/// weigh more than the words they share.
pub const CONTRADICTION_WEIGHT: f64 = 2.0;

/// The weight taken off unpaired qualifiers of a name that holds all of the other.
fn extra_detail_discount(q: &Side, l: &Side) -> f64 {
    let discount = |extra: &Side, other: &Side| {
        if other.is_contained() {
            extra.unmatched_weight(&[WordClass::Qualifier]) * EXTRA_QUALIFIER_DISCOUNT
        } else {
            0.0
        }
    };
    discount(q, l) + discount(l, q)
}

/// The weight added when both names keep a distinctive word of their own (a word the
/// name repeats, `Gads Hill Center - Gads Hill Center/Cullerton`, says nothing new).
fn contradiction_weight(q: &Side, l: &Side) -> f64 {
    let distinct = |side: &Side| {
        side.unmatched_of(&[WordClass::Regular])
            .filter(|&i| !side.texts[..i].contains(&side.texts[i]))
            .map(|i| side.weights[i])
            .sum::<f64>()
    };
    distinct(q).min(distinct(l)) * CONTRADICTION_WEIGHT
}

fn push_candidate(
    candidates: &mut Vec<Candidate>,
    q: &Side,
    l: &Side,
    query: Span,
    listed: Span,
    (similarity, basis): (f64, PairBasis),
) {
    if similarity > 0.0 {
        let weight = q.span_weight(query) + l.span_weight(listed);
        candidates.push(Candidate { similarity, basis, words: query.len + listed.len, weight, query, listed });
    }
}

/// How similar one word is to several words of the other name: run together
/// (`gistbrocades` ↔ `gist brocades`) or as their acronym (`pla` ↔ `peoples liberation army`).
fn span_similarity(word: &str, side: &Side, span: Span) -> (f64, PairBasis) {
    let mut similarity = 0.0;
    let mut basis = PairBasis::Joined;
    if span.len <= MAX_RUN_TOGETHER {
        let joined_len: usize = side.texts[span.start..span.start + span.len].iter().map(|text| text.len()).sum();
        if joined_len.abs_diff(word.len()) <= 2 {
            similarity = word_similarity(word, &side.span_text(span, ""));
        }
    }
    let is_acronym = word.len() == span.len
        && word.bytes().all(|byte| byte.is_ascii_alphabetic())
        && side.texts[span.start..span.start + span.len]
            .iter()
            .zip(word.bytes())
            .all(|(text, initial)| text.as_bytes()[0] == initial);
    if is_acronym && similarity < ACRONYM_SIMILARITY {
        similarity = ACRONYM_SIMILARITY;
        basis = PairBasis::Acronym;
    }
    (similarity, basis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::normalize::normalize;

    fn score(a: &str, b: &str) -> f64 {
        compare(&normalize(a), &normalize(b)).score
    }

    #[test]
    fn identical_names_score_one() {
        assert!((score("Akzo Nobel N.V.", "AKZO NOBEL NV") - 1.0).abs() < 1e-9);
    }

    #[test]
    fn word_order_does_not_matter() {
        assert!((score("Oro Verde Minera", "Minera Oro Verde") - 1.0).abs() < 1e-9);
    }

    #[test]
    fn run_together_words_pair_with_their_parts() {
        assert!(score("SiemensAG", "Siemens AG") > 0.95, "{}", score("SiemensAG", "Siemens AG"));
        assert!(score("ST Microelectronics", "STMicroelectronics") > 0.95);
    }

    #[test]
    fn legal_forms_neither_make_nor_break_a_match() {
        assert!(score("Minera Oro Verde S.A.C.", "Minera Oro Verde") > 0.9);
        assert!(score("Alfa S.A.C.", "Omega S.A.C.") < 0.2);
    }

    #[test]
    fn legal_forms_of_one_kind_pair_whole_and_say_so() {
        // EU sanctions aliases dev, cluster eu32006R0765-39: two aliases of one company.
        let comparison = compare(
            &normalize("OOO ‘Рузэкспедиция’"),
            &normalize("OBSHCHESTVO S OGRANICHENNOI OTVETSTVENNOSTYU RUZEKSPEDITSIYA"),
        );
        let form = comparison.pairs.iter().find(|pair| pair.query == "ooo").expect("ooo paired");
        assert_eq!(form.basis, PairBasis::LegalFormEquivalent);
        assert!(comparison.score >= 0.9, "{comparison:?}");
        // Forms of different kinds still neither make nor break a match, but are not called equivalent.
        let comparison = compare(&normalize("Alfa LLC"), &normalize("Alfa GmbH"));
        assert_eq!(
            comparison.pairs.iter().find(|pair| pair.query == "llc").map(|pair| pair.basis),
            Some(PairBasis::LegalForm)
        );
    }

    #[test]
    fn explanation_lists_pairs_and_leftovers() {
        let comparison = compare(&normalize("Minera Oro Verdi"), &normalize("Minera Oro Verde Andino"));
        assert_eq!(comparison.pairs.len(), 3);
        assert!(comparison.pairs.iter().any(|p| p.query == "verdi" && p.listed == "verde" && p.similarity < 1.0));
        assert_eq!(comparison.unmatched_listed, vec!["andino".to_owned()]);
        assert!(comparison.unmatched_query.is_empty());
    }

    #[test]
    fn transliterations_that_sound_alike_pair_by_sound() {
        // The issue's example from the EU sanctions aliases: `AO Kompel` / `JSC Compel`
        // (c and k begin the same sound).
        let comparison = compare(&normalize("AO Kompel"), &normalize("JSC Compel"));
        let pair = comparison.pairs.iter().find(|pair| pair.query == "kompel").expect("kompel paired");
        assert_eq!((pair.listed.as_str(), pair.basis), ("compel", PairBasis::Sound));
        assert!(comparison.score >= 0.8, "{comparison:?}");
        let sounds_alike = |a: &str, b: &str| {
            Word::new(a.into(), WordClass::Regular).sounds_like(&Word::new(b.into(), WordClass::Regular))
        };
        assert!(sounds_alike("kompel", "compel") && sounds_alike("eniks", "enics"));
        // Words that Double Metaphone codes alike but that begin apart, or differ in a
        // vowel, are other words; short words are not compared by sound at all.
        assert!(!sounds_alike("easter", "wester") && !sounds_alike("bayer", "boyer") && !sounds_alike("alfa", "alva"));
        // PATSTAT dev against Faker distractors.
        assert!(score("Bayer AG", "Boyer Ltd") < 0.8, "{}", score("Bayer AG", "Boyer Ltd"));
        assert!(
            compare(&normalize("Mary Crane East"), &normalize("Mary Crane West"))
                .pairs
                .iter()
                .all(|p| p.query != "east")
        );
    }

    #[test]
    fn a_distinguishing_word_on_each_side_outweighs_a_long_shared_prefix() {
        // Chicago sites dev: two branches of one organisation.
        assert!(score("Mary Crane League - Mary Crane - Morse", "Mary Crane League - Mary Crane - West") < 0.8);
        assert!(
            score(
                "ERIE NEIGHBORHOOD HOUSE FCCH-MARIA MAHECHA SITE",
                "ERIE NEIGHBORHOOD HOUSE FCCH-MARIA BAUTISTA SITE"
            ) < 0.8
        );
        // A word only one side has is not a contradiction: the same typo-free name with
        // one extra word scores as it did.
        let extra = score("Minera Oro Verde Andino", "Minera Oro Verde");
        assert!((extra - 6.0 / 7.0).abs() < 1e-9, "{extra}");
    }

    #[test]
    fn where_a_full_name_is_only_extra_detail_it_costs_little() {
        // PATSTAT dev cluster of CARGILL B.V.: a place after the legal form and a comma.
        assert!(score("CARGILL B.V., BERGEN OP ZOOM, NL", "CARGILL B.V.") >= 0.8);
        // The same qualifiers against another qualifier still count in full.
        assert!(
            score("CARGILL B.V., BERGEN OP ZOOM", "CARGILL B.V., AMSTERDAM")
                < score("CARGILL B.V., BERGEN OP ZOOM", "CARGILL B.V.")
        );
    }
}
