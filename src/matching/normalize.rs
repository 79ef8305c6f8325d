//! Name normalisation: from a raw organisation name to classified words.
//!
//! `"Minera Ficticia Oro Verde S.A.C."` becomes `minera ficticia oro verde sac`, with
//! `sac` tagged as a legal form. The steps, in order:
//!
//! 0. HTML character references decoded (`&amp;`, `&#233;`, `&AMP`);
//! 1. transliteration to ASCII ([`deunicode`]: accents folded, non-Latin scripts romanised);
//! 2. lower case; apostrophes dropped inside words (`EHLEKTR'ONIKS` → `ehlektroniks`);
//! 3. split on everything that is not a letter or digit;
//! 4. runs of single letters joined (`S.A.C.` → `sac`, `N. V.` → `nv`, `D S M` → `dsm`);
//! 5. each word classified: legal form (longest phrase from `legal_forms.txt` or
//!    `legal_form_kinds.txt`, which cite their sources; the second also gives each form's
//!    kind, so that `ООО`, `LLC` and `Limited Liability Company` are known to be one form), generic business word, particle, or a regular (distinctive) word.
//!
//! Classification never drops a word: scoring down-weights legal forms, generic words and
//! particles so that they can neither create a match nor, by their absence, break one.

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, OnceLock};

use rphonetic::DoubleMetaphone;

/// What a word contributes to a name's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WordClass {
    /// A distinctive word: `akzo`, `oro`, `verde`.
    Regular,
    /// A common business word: `servicios`, `comercial`, `company`, `group`.
    Generic,
    /// Where or which branch: a place name, words in parentheses, or words after the
    /// legal form and a comma (`Cargill B.V., Bergen op Zoom`).
    Qualifier,
    /// Part of a legal form: `sac`, `ltda`, `sa de cv`, `gmbh`.
    LegalForm,
    /// A joining word (`de`, `del`, `da`, `dos`, `y`, `and`) or a lone initial.
    Particle,
}

/// One word of a normalised name. Two words are equal when their text and class are.
#[derive(Debug, Clone)]
pub struct Word {
    pub text: String,
    pub class: WordClass,
    /// The word's Double Metaphone codes, worked out the first time a comparison asks
    /// for them (indexing never does), so that a query word is encoded once for all its
    /// candidates.
    codes: OnceLock<Codes>,
}

impl PartialEq for Word {
    fn eq(&self, other: &Word) -> bool {
        self.text == other.text && self.class == other.class
    }
}

impl Eq for Word {}

impl Word {
    pub fn new(text: String, class: WordClass) -> Word {
        Word { text, class, codes: OnceLock::new() }
    }

    /// Whether the two words sound alike: both of at least [`MIN_SOUND_WORD`] plain
    /// letters, starting with the same letter (or with `c` and `k`, which
    /// transliterations swap: `kompel` / `compel`), with the same vowels (`y` read as
    /// `i`), and a Double Metaphone code of one, of at least two sounds, is a code of
    /// the other. Transliterations differ in how they write consonants; the first letter
    /// and the vowels keep apart words that Double Metaphone codes alike but that are
    /// other words (`east` / `west`, `bayer` / `boyer`). Short words sound alike too
    /// easily (`alfa` / `alva`) and are never compared by sound.
    ///
    /// The letters are checked first, so the codes are worked out only for the few
    /// pairs that could sound alike, and once per word.
    pub fn sounds_like(&self, other: &Word) -> bool {
        let (ours, theirs) = (self.text.as_bytes(), other.text.as_bytes());
        let sound_comparable = |word: &[u8]| word.len() >= MIN_SOUND_WORD && word.iter().all(u8::is_ascii_alphabetic);
        if !sound_comparable(ours) || !sound_comparable(theirs) {
            return false;
        }
        let same_start = ours[0] == theirs[0] || (b"ck".contains(&ours[0]) && b"ck".contains(&theirs[0]));
        same_start && vowels(ours).eq(vowels(theirs)) && self.codes().shares_code_with(other.codes())
    }

    fn codes(&self) -> &Codes {
        self.codes.get_or_init(|| Codes::of(&self.text))
    }
}

/// The shortest word compared by sound.
const MIN_SOUND_WORD: usize = 5;

/// A word's vowels in order, `y` read as `i` (Double Metaphone drops vowels).
fn vowels(word: &[u8]) -> impl Iterator<Item = u8> + '_ {
    word.iter()
        .filter_map(|&letter| if letter == b'y' { Some(b'i') } else { b"aeiou".contains(&letter).then_some(letter) })
}

/// A word's two Double Metaphone codes, primary and alternate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Codes {
    primary: String,
    alternate: String,
}

impl Codes {
    fn of(word: &str) -> Codes {
        static ENCODER: LazyLock<DoubleMetaphone> = LazyLock::new(|| DoubleMetaphone::new(None));
        let codes = ENCODER.double_metaphone(word);
        Codes { primary: codes.primary(), alternate: codes.alternate() }
    }

    /// Whether a code of ours of at least two sounds is one of theirs.
    fn shares_code_with(&self, other: &Codes) -> bool {
        [&self.primary, &self.alternate]
            .iter()
            .any(|code| code.len() >= 2 && (**code == other.primary || **code == other.alternate))
    }
}

/// A name after normalisation: its words in their original order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NormalizedName {
    pub words: Vec<Word>,
}

impl NormalizedName {
    /// All words joined by single spaces.
    pub fn text(&self) -> String {
        self.words.iter().map(|word| word.text.as_str()).collect::<Vec<_>>().join(" ")
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

/// The longest legal-form phrase, in words.
const MAX_LEGAL_FORM_WORDS: usize = 5;

/// A word at least this long that is this similar to a one-word legal form is taken for
/// a misspelling of it (`Aktiengeselschaft`).
const FUZZY_LEGAL_FORM_MIN_LEN: usize = 9;
const FUZZY_LEGAL_FORM_SIMILARITY: f64 = 0.95;

/// The first column of a tab-separated table, without comments and blank lines.
fn table_lines(table: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    table.lines().filter(|line| !line.starts_with('#') && !line.trim().is_empty()).map(|line| {
        let (first, rest) = line.split_once('\t').unwrap_or((line, ""));
        (first.trim(), rest.trim())
    })
}

/// Legal forms of one kind across languages and scripts (`ooo`, `llc`, `obshchestvo s
/// ogranichennoi otvetstvennostiu` → `limited liability company`), from
/// `legal_form_kinds.txt`, which cites its sources.
static LEGAL_FORM_KINDS: LazyLock<HashMap<&'static str, &'static str>> =
    LazyLock::new(|| table_lines(include_str!("legal_form_kinds.txt")).collect());

static LEGAL_FORMS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    table_lines(include_str!("legal_forms.txt")).map(|(form, _)| form).chain(LEGAL_FORM_KINDS.keys().copied()).collect()
});

/// The canonical kind of a legal form written as normalised words (`"ooo"`, `"joint stock
/// company"`, `"you xian gong si"`), when the kinds table knows it.
pub fn legal_form_kind(form: &str) -> Option<&'static str> {
    LEGAL_FORM_KINDS.get(form).copied()
}

/// The long one-word legal forms, for recognising misspellings.
static LONG_LEGAL_FORMS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut long: Vec<&str> = LEGAL_FORMS
        .iter()
        .copied()
        .filter(|form| !form.contains(' ') && form.len() >= FUZZY_LEGAL_FORM_MIN_LEN)
        .collect();
    long.sort_unstable();
    long
});

/// Common business words in Spanish, Portuguese and English (and a few from other
/// languages seen in supplier files). They say what a company does, not which one it is.
const GENERIC_WORDS: &[&str] = &[
    // Spanish
    "servicios",
    "servicio",
    "comercial",
    "comerciales",
    "comercializadora",
    "comercio",
    "empresa",
    "empresas",
    "grupo",
    "corporativo",
    "corporacion",
    "industrial",
    "industriales",
    "industrias",
    "industria",
    "internacional",
    "inversiones",
    "negocios",
    "distribuidora",
    "distribuciones",
    "importadora",
    "exportadora",
    "importaciones",
    "exportaciones",
    "general",
    "generales",
    "nacional",
    "global",
    "soluciones",
    "consultores",
    "consultoria",
    "asociados",
    "hermanos",
    "hnos",
    "sociedad",
    "proyectos",
    "representaciones",
    "operadora",
    "productos",
    "compania",
    "negociacion",
    // Portuguese
    "servicos",
    "industria",
    "solucoes",
    "associados",
    "irmaos",
    "produtos",
    "participacoes",
    "importacao",
    "exportacao",
    "companhia",
    // English
    "company",
    "companies",
    "group",
    "international",
    "intl",
    "industries",
    "services",
    "service",
    "solutions",
    "trading",
    "enterprises",
    "enterprise",
    "national",
    "products",
    "systems",
    "associates",
    "partners",
    "ventures",
    "worldwide",
    "imports",
    "exports",
    "import",
    "export",
    "technologies",
    "technology",
    "tech",
    // Other languages common in company names
    "gruppe",
    "groep",
    "internationale",
];

/// Joining words that carry no identity: articles, prepositions and conjunctions.
const PARTICLES: &[&str] = &[
    "de", "del", "la", "las", "los", "el", "y", "e", "da", "das", "do", "dos", "di", "du", "des", "le", "les", "et",
    "and", "the", "of", "for", "van", "von", "der", "den", "het", "und", "en", "a",
];

/// Place words that are not country names: continents and common local names of countries.
const PLACE_WORDS: &[&str] = &[
    "europe",
    "europa",
    "asia",
    "africa",
    "america",
    "americas",
    "latinoamerica",
    "latam",
    "iberica",
    "andina",
    "holland",
    "nederland",
    "deutschland",
    "schweiz",
    "suisse",
    "svizzera",
    "espana",
    "italia",
    "nippon",
    "usa",
    "uk",
];

static GENERIC: LazyLock<HashSet<&'static str>> = LazyLock::new(|| GENERIC_WORDS.iter().copied().collect());
static PARTICLE: LazyLock<HashSet<&'static str>> = LazyLock::new(|| PARTICLES.iter().copied().collect());

/// One-word country names (ISO 3166 English short names and the Spanish and Portuguese
/// names cadena reads) and [`PLACE_WORDS`].
static PLACES: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let iso_names = rust_iso3166::ALL.iter().map(|country| crate::records::fields::fold(country.name));
    let aliases = crate::records::fields::country_alias_names().map(str::to_owned);
    iso_names
        .chain(aliases)
        .chain(PLACE_WORDS.iter().map(|word| (*word).to_owned()))
        .filter(|name| !name.contains(' '))
        .collect()
});

/// A word as split from the raw name, with where it stood.
#[derive(Debug, Clone)]
struct RawWord {
    text: String,
    in_parentheses: bool,
    /// How many commas (or semicolons) come before it in the name.
    clause: usize,
    /// Made of single letters so far (`s`, `sa`), so a following single letter joins it.
    joinable_run: bool,
}

/// Normalises a raw name into classified words.
pub fn normalize(raw: &str) -> NormalizedName {
    NormalizedName { words: classify(numbers_as_digits(split_at_most(raw)), true) }
}

/// Steps 1–4, keeping the first [`MAX_WORDS`] words: word pairing is quadratic in the
/// words of the two names; no real name is this long, and a hostile one must not cost seconds.
fn split_at_most(raw: &str) -> Vec<RawWord> {
    let mut words = split(raw);
    words.truncate(MAX_WORDS);
    words
}

/// Which part of a written name a [`Reading`] is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NamePart {
    /// The name as written.
    #[default]
    Whole,
    /// The name without the words in parentheses, when those are another name of it.
    OutsideParentheses,
    /// The words in parentheses alone, when they are another name of the entity (`ООО
    /// «СЕРВИС-СН»` in `Общество с ограниченной ответственностью «СЕРВИС-СН» (ООО «СЕРВИС-СН»)`).
    InParentheses,
}

/// One way of reading a written name: the whole of it, or one of its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub part: NamePart,
    pub name: NormalizedName,
}

/// The ways a name can be read: as written and, when its words in parentheses are
/// another name of the same entity, also without them and as those words alone.
///
/// Words in parentheses are another name when they share a distinctive word with the
/// rest (`Closed Joint Stock Company Turborus (Turborus)`, `(АО «Элара»)`), or when one
/// part is the initials of the other (`Korean National Insurance Company (KNIC)`,
/// `N.T.A. (National Teachers Academy)`). Otherwise they only qualify the name (`Reavis
/// (Blended)`, `MFK Fulcrum (Russia)`) and the name is read whole only. A single word
/// in parentheses (an acronym) is not read on its own: alone it is weak evidence, which
/// the acronym pairing of [`super::score::compare`] weighs with the rest of the name.
pub fn readings(raw: &str) -> Vec<Reading> {
    let words = split_at_most(raw);
    let whole = NormalizedName { words: classify(numbers_as_digits(words.clone()), true) };
    let mut readings = vec![Reading { part: NamePart::Whole, name: whole }];
    let (inside, outside): (Vec<RawWord>, Vec<RawWord>) = words.into_iter().partition(|word| word.in_parentheses);
    if inside.is_empty() || outside.is_empty() {
        return readings;
    }
    let inside: Vec<RawWord> = inside.into_iter().map(|word| RawWord { in_parentheses: false, ..word }).collect();
    let inside = NormalizedName { words: classify(numbers_as_digits(inside), true) };
    let outside = NormalizedName { words: classify(numbers_as_digits(outside), true) };
    if names_one_another(&inside, &outside) {
        readings.push(Reading { part: NamePart::OutsideParentheses, name: outside });
        if inside.words.len() > 1 {
            readings.push(Reading { part: NamePart::InParentheses, name: inside });
        }
    }
    readings
}

/// Whether the words in parentheses and the rest of a name are two names of one entity:
/// they share a distinctive word, or one is a single word made of the other's initials.
fn names_one_another(inside: &NormalizedName, outside: &NormalizedName) -> bool {
    let distinctive = |name: &NormalizedName| -> Vec<String> {
        name.words
            .iter()
            .filter(|word| word.class == WordClass::Regular && word.text.bytes().any(|byte| byte.is_ascii_alphabetic()))
            .map(|word| word.text.clone())
            .collect()
    };
    let (ours, theirs) = (distinctive(inside), distinctive(outside));
    let shares_a_word = ours.iter().any(|word| theirs.contains(word));
    shares_a_word || is_initials_of(inside, outside) || is_initials_of(outside, inside)
}

/// Whether one word of `short` is the initials of consecutive words of `long`, particles
/// skipped (`knic` / `korean national insurance company`).
fn is_initials_of(short: &NormalizedName, long: &NormalizedName) -> bool {
    let initials: String = long
        .words
        .iter()
        .filter(|word| word.class != WordClass::Particle)
        .filter_map(|word| word.text.chars().next())
        .collect();
    short.words.iter().any(|word| {
        word.class == WordClass::Regular
            && word.text.len() >= 2
            && word.text.bytes().all(|byte| byte.is_ascii_alphabetic())
            && initials.contains(&word.text)
    })
}

/// Whether a name has a distinctive word of its own: not only legal forms, places,
/// generic words and particles (`IRIB` has, `Thailand` and `Pvt. Ltd.` have not).
pub fn has_distinctive_word(raw: &str) -> bool {
    let mut words = split_at_most(raw);
    for word in &mut words {
        word.in_parentheses = false;
        word.clause = 0;
    }
    classify(numbers_as_digits(words), false).iter().any(|word| word.class == WordClass::Regular)
}

/// The most words of a name that matching looks at; the rest are ignored.
pub const MAX_WORDS: usize = 40;

const UNITS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: &[&str] = &["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
const ORDINALS: &[&str] =
    &["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"];

/// English number words and ordinals as digits: `first` and `1st` → `1`, `forty four` → `44`.
fn numbers_as_digits(words: Vec<RawWord>) -> Vec<RawWord> {
    let mut out: Vec<RawWord> = Vec::with_capacity(words.len());
    for mut word in words {
        let text = word.text.as_str();
        let value = UNITS
            .iter()
            .position(|unit| *unit == text)
            .or_else(|| ORDINALS.iter().skip(1).position(|ordinal| *ordinal == text).map(|index| index + 1))
            .or_else(|| {
                let digits = text.strip_suffix("st").or(text.strip_suffix("nd")).or(text.strip_suffix("rd"));
                let digits = digits.or(text.strip_suffix("th"))?;
                (!digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit())).then(|| digits.parse().ok())?
            });
        if let Some(tens) = TENS.iter().position(|tens| !tens.is_empty() && *tens == text) {
            word.text = (tens * 10).to_string();
        } else if let Some(value) = value {
            word.text = value.to_string();
        }
        // "forty four" / "forty-four" / "forty 4": a tens word followed by a unit digit.
        if let Some(previous) = out.last_mut() {
            let is_round_tens = previous.text.len() == 2 && previous.text.ends_with('0') && previous.text != "00";
            let is_unit = word.text.len() == 1 && word.text != "0" && word.text.as_bytes()[0].is_ascii_digit();
            if is_round_tens && is_unit && previous.clause == word.clause {
                previous.text.pop();
                previous.text.push_str(&word.text);
                continue;
            }
        }
        out.push(word);
    }
    out
}

/// Steps 1–4: ASCII, lower case, split, single letters joined.
fn split(raw: &str) -> Vec<RawWord> {
    let ascii = deunicode::deunicode(&decode_html(raw)).to_ascii_lowercase();
    let mut words: Vec<RawWord> = Vec::new();
    let mut current = String::new();
    let mut depth: usize = 0;
    let mut clause = 0;
    let mut chars = ascii.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch.is_ascii_alphanumeric() {
            current.push(ch);
            continue;
        }
        if ch == '\'' || ch == '`' {
            // Apostrophes join: "d'Oro" -> "doro", "EHLEKTR'ONIKS" -> "ehlektroniks"; an
            // English possessive goes: "Bank's" -> "bank".
            if chars.peek() == Some(&'s') && !current.is_empty() {
                let mut ahead = chars.clone();
                ahead.next();
                if ahead.peek().is_none_or(|next| !next.is_ascii_alphanumeric()) {
                    chars.next();
                }
            }
            continue;
        }
        push_word(&mut words, &mut current, depth > 0, clause);
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            ',' | ';' => clause += 1,
            _ => {}
        }
    }
    push_word(&mut words, &mut current, depth > 0, clause);
    words
}

/// The HTML5 references that are also recognised in upper case and without their `;`
/// (the "legacy" entries of the WHATWG named character reference table), as names copied
/// out of web pages carry them: `PHARMACIA &AMP UPJOHN`.
const LEGACY_HTML_REFERENCES: &[(&str, &str)] =
    &[("&amp", "&"), ("&quot", "\""), ("&lt", "<"), ("&gt", ">"), ("&apos", "'"), ("&nbsp", " ")];

/// Step 0: HTML character references decoded (`&amp;`, `&#39;`, `&eacute;`, `&AMP`), so
/// that markup left in a name is read as the characters it stands for, not as words.
fn decode_html(raw: &str) -> std::borrow::Cow<'_, str> {
    if !raw.contains('&') {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut text = html_escape::decode_html_entities(raw).into_owned();
    for (reference, character) in LEGACY_HTML_REFERENCES {
        let mut start = 0;
        while let Some(found) = text[start..].to_ascii_lowercase().find(reference) {
            let at = start + found;
            let mut end = at + reference.len();
            if text[end..].starts_with(';') {
                end += 1;
            } else if text[end..].starts_with(|ch: char| ch.is_ascii_alphanumeric()) {
                // `&ampere`, `&AMPLE`: not a reference.
                start = end;
                continue;
            }
            text.replace_range(at..end, character);
            start = at + character.len();
        }
    }
    std::borrow::Cow::Owned(text)
}

/// Ends the current word; a single letter following another single letter joins it.
fn push_word(words: &mut Vec<RawWord>, current: &mut String, in_parentheses: bool, clause: usize) {
    if current.is_empty() {
        return;
    }
    let text = std::mem::take(current);
    let is_letter = |text: &str| text.len() == 1 && text.as_bytes()[0].is_ascii_alphabetic();
    if is_letter(&text)
        && let Some(previous) = words.last_mut()
        && previous.joinable_run
    {
        previous.text.push_str(&text);
        return;
    }
    words.push(RawWord { joinable_run: is_letter(&text), text, in_parentheses, clause });
}

/// Step 5: tags legal-form phrases (longest first), then particles, generic words,
/// places and qualifiers; with `keep_identity`, a name without a distinctive word keeps
/// its legal forms and qualifiers as regular words.
fn classify(words: Vec<RawWord>, keep_identity: bool) -> Vec<Word> {
    let texts: Vec<&str> = words.iter().map(|word| word.text.as_str()).collect();
    let mut classes = vec![WordClass::Regular; words.len()];
    let mut start = 0;
    let mut legal_form_end: Option<usize> = None;
    // The phrases of one to MAX_LEGAL_FORM_WORDS words from `start`, written once into
    // one buffer: `phrase[..ends[n - 1]]` is the phrase of n words.
    let mut phrase = String::new();
    let mut ends = Vec::with_capacity(MAX_LEGAL_FORM_WORDS);
    while start < texts.len() {
        phrase.clear();
        ends.clear();
        for text in &texts[start..texts.len().min(start + MAX_LEGAL_FORM_WORDS)] {
            if !ends.is_empty() {
                phrase.push(' ');
            }
            phrase.push_str(text);
            ends.push(phrase.len());
        }
        let longest = (1..=ends.len())
            .rev()
            .find(|&len| LEGAL_FORMS.contains(&phrase[..ends[len - 1]]))
            .or_else(|| is_misspelt_legal_form(texts[start]).then_some(1));
        match longest {
            Some(len) => {
                classes[start..start + len].fill(WordClass::LegalForm);
                if start > 0 && legal_form_end.is_none() {
                    legal_form_end = Some(start + len - 1);
                }
                start += len;
            }
            None => start += 1,
        }
    }
    for (index, (word, class)) in words.iter().zip(classes.iter_mut()).enumerate() {
        if *class != WordClass::Regular {
            continue;
        }
        let text = word.text.as_str();
        let after_legal_form_clause = legal_form_end.is_some_and(|end| index > end && word.clause > words[end].clause);
        *class = if PARTICLE.contains(text) || (text.len() == 1 && text.as_bytes()[0].is_ascii_alphabetic()) {
            WordClass::Particle
        } else if word.in_parentheses || after_legal_form_clause || PLACES.contains(text) {
            WordClass::Qualifier
        } else if GENERIC.contains(text) {
            WordClass::Generic
        } else {
            WordClass::Regular
        };
    }
    // A name with no distinctive word ("Compañía S.A.", "Holland") keeps its words as its identity.
    if keep_identity && !classes.contains(&WordClass::Regular) {
        for class in classes.iter_mut().filter(|class| matches!(class, WordClass::LegalForm | WordClass::Qualifier)) {
            *class = WordClass::Regular;
        }
    }
    words.into_iter().zip(classes).map(|(word, class)| Word::new(word.text, class)).collect()
}

fn is_misspelt_legal_form(word: &str) -> bool {
    // Jaro-Winkler is at most 0.6 + 0.4 × Jaro, and Jaro at most (2 + shorter / longer) / 3
    // in letters, so a form whose length is too far from the word's cannot reach the
    // similarity and is skipped without comparing: every word of nine letters or more
    // of every candidate name comes here.
    let least_jaro = (FUZZY_LEGAL_FORM_SIMILARITY - 0.6) / 0.4;
    let least_length_ratio = 3.0 * least_jaro - 2.0;
    let letters = word.chars().count();
    let comparable_length = |form: &str| {
        let form_letters = form.chars().count();
        form_letters.min(letters) as f64 >= least_length_ratio * form_letters.max(letters) as f64
    };
    letters >= FUZZY_LEGAL_FORM_MIN_LEN
        && LONG_LEGAL_FORMS
            .iter()
            .filter(|form| form.as_bytes()[0] == word.as_bytes()[0] && comparable_length(form))
            .any(|form| strsim::jaro_winkler(form, word) >= FUZZY_LEGAL_FORM_SIMILARITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(raw: &str) -> Vec<(String, WordClass)> {
        normalize(raw).words.into_iter().map(|word| (word.text, word.class)).collect()
    }

    #[test]
    fn dotted_legal_forms_become_one_tagged_word() {
        use WordClass::*;
        assert_eq!(
            described("Minera Ficticia Oro Verde S.A.C."),
            vec![
                ("minera".into(), Regular),
                ("ficticia".into(), Regular),
                ("oro".into(), Regular),
                ("verde".into(), Regular),
                ("sac".into(), LegalForm)
            ]
        );
        assert_eq!(normalize("Colocaciones Imaginarias S.A. de C.V.").text(), "colocaciones imaginarias sa de cv");
        assert!(normalize("Colocaciones Imaginarias S.A. de C.V.").words[2..].iter().all(|w| w.class == LegalForm));
    }

    #[test]
    fn accents_case_and_scripts_fold_to_ascii() {
        assert_eq!(normalize("Carvoaria Imaginária do Cerrado LTDA").text(), "carvoaria imaginaria do cerrado ltda");
        assert_eq!(normalize("ÑANDÚ Comercial").text(), "nandu comercial");
        assert_eq!(normalize("Общество Ромашка").text(), "obshchestvo romashka");
        assert!(!normalize("北京华为").is_empty());
    }

    #[test]
    fn composed_and_decomposed_accents_agree() {
        let composed = "Compa\u{f1}\u{ed}a Minera Per\u{fa}";
        let decomposed = "Compan\u{303}i\u{301}a Minera Peru\u{301}";
        assert_eq!(normalize(composed), normalize(decomposed));
        assert_eq!(normalize(decomposed).text(), "compania minera peru");
    }

    #[test]
    fn apostrophes_join_and_punctuation_splits() {
        assert_eq!(normalize("KONINKLEJKE FILIPS EHLEKTR'ONIKS N.V.").text(), "koninklejke filips ehlektroniks nv");
        assert_eq!(normalize("GIST-BROCADES B.V.").text(), "gist brocades bv");
        assert_eq!(normalize("* AKZO NOBEL N. V.").text(), "akzo nobel nv");
    }

    #[test]
    fn generic_words_and_particles_are_tagged() {
        let name = normalize("Servicios Comerciales del Sur y Asociados");
        let classes: Vec<_> = name.words.iter().map(|w| w.class).collect();
        use WordClass::*;
        assert_eq!(classes, vec![Generic, Generic, Particle, Regular, Particle, Generic]);
    }

    #[test]
    fn html_references_are_read_as_characters() {
        // PATSTAT dev cluster 26809672 carries "PHARMACIA &AMP" for Pharmacia & Upjohn.
        assert_eq!(normalize("PHARMACIA &AMP UPJOHN").text(), "pharmacia upjohn");
        assert_eq!(normalize("Pharmacia &amp; Upjohn").text(), "pharmacia upjohn");
        assert_eq!(normalize("Caf&eacute; O&#39;Brien").text(), "cafe obrien");
        assert_eq!(normalize("AMPLE &AMPLIFIERS").text(), "ample amplifiers");
    }

    #[test]
    fn legal_forms_of_one_kind_across_scripts_are_known() {
        for (raw, kind) in [
            ("ООО", "limited liability company"),
            ("OOO", "limited liability company"),
            ("Limited Liability Company", "limited liability company"),
            ("Общество с ограниченной ответственностью", "limited liability company"),
            ("mas'uliyati cheklangan jamiyati", "limited liability company"),
            ("有限公司", "limited liability company"),
            ("Co., Ltd.", "limited liability company"),
            ("АО", "joint stock company"),
            ("J.S.C.", "joint stock company"),
            ("ПАО", "public joint stock company"),
            ("ЗАО", "closed joint stock company"),
            ("ОАО", "open joint stock company"),
        ] {
            let name = normalize(&format!("Kompel {raw}"));
            assert!(name.words[1..].iter().all(|word| word.class == WordClass::LegalForm), "{raw}: {name:?}");
            let form: Vec<&str> = name.words[1..].iter().map(|word| word.text.as_str()).collect();
            assert_eq!(legal_form_kind(&form.join(" ")), Some(kind), "{raw}: {name:?}");
        }
    }

    #[test]
    fn a_name_of_legal_form_words_only_keeps_them() {
        let name = normalize("Compañía S.A.");
        assert!(name.words.iter().all(|w| w.class == WordClass::Regular), "{name:?}");
    }

    fn parts(raw: &str) -> Vec<(NamePart, String)> {
        readings(raw).into_iter().map(|reading| (reading.part, reading.name.text())).collect()
    }

    #[test]
    fn words_in_parentheses_that_name_the_entity_are_read_on_their_own() {
        use NamePart::*;
        // EU sanctions aliases dev: the short name with its legal form, in parentheses.
        assert_eq!(
            parts("Общество с Ограниченной Ответственностью «СЕРВИС-СН» (ООО «СЕРВИС-СН»)"),
            [
                (Whole, "obshchestvo s ogranichennoi otvetstvennostiu servis sn ooo servis sn".to_owned()),
                (OutsideParentheses, "obshchestvo s ogranichennoi otvetstvennostiu servis sn".to_owned()),
                (InParentheses, "ooo servis sn".to_owned()),
            ]
        );
        // An acronym of the name: the name is also read without it, but a lone acronym
        // is not a reading of its own.
        assert_eq!(
            parts("Korean National Insurance Company (KNIC)"),
            [
                (Whole, "korean national insurance company knic".to_owned()),
                (OutsideParentheses, "korean national insurance company".to_owned()),
            ]
        );
        // Chicago sites dev: the name written out in parentheses after its initials.
        assert_eq!(parts("CHICAGO PUBLIC SCHOOLS N.T.A. (NATIONAL TEACHERS ACADEMY)").len(), 3);
    }

    #[test]
    fn words_in_parentheses_that_only_qualify_the_name_are_not_another_name() {
        for raw in
            ["Reavis (Blended)", "MFK Fulcrum (Russia)", "Texel F.C.G. Technology (2100) Ltd", "Minera Oro Verde"]
        {
            assert_eq!(parts(raw).len(), 1, "{raw}: {:?}", parts(raw));
            assert_eq!(readings(raw)[0].name, normalize(raw), "{raw}: the whole reading is the normalised name");
        }
    }

    #[test]
    fn misspelt_legal_forms_are_found_and_the_length_bound_skips_only_forms_that_cannot_match() {
        assert!(is_misspelt_legal_form("aktiengeselschaft") && is_misspelt_legal_form("aktiengesellschaf"));
        assert!(!is_misspelt_legal_form("aktienbank"));
        let compared_with_every_form = |word: &str| {
            LONG_LEGAL_FORMS
                .iter()
                .filter(|form| form.as_bytes()[0] == word.as_bytes()[0])
                .any(|form| strsim::jaro_winkler(form, word) >= FUZZY_LEGAL_FORM_SIMILARITY)
        };
        // Every form cut short and run on into another, at every length from nine letters
        // to twice its own: the words whose lengths sit on either side of the bound.
        for form in LONG_LEGAL_FORMS.iter() {
            for other in LONG_LEGAL_FORMS.iter() {
                let run_on: Vec<char> = form.chars().chain(other.chars()).collect();
                for len in FUZZY_LEGAL_FORM_MIN_LEN..=(2 * form.chars().count()).min(run_on.len()) {
                    let word: String = run_on[..len].iter().collect();
                    assert_eq!(is_misspelt_legal_form(&word), compared_with_every_form(&word), "{word}");
                }
            }
        }
    }
}
