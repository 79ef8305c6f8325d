//! Reference lists under `rules/lists/`: keyed tables of facts (the ILAB goods by
//! country, high-risk regions, country risk) and the goods mapping that turns item
//! descriptions and codes into ILAB goods. Each list cites its source and edition.

use std::collections::HashMap;

/// A reference list: entries keyed by one or more columns, indexed on the first.
#[derive(Debug, Clone)]
pub(crate) struct RefList {
    pub id: String,
    pub title: String,
    pub source: String,
    pub edition: String,
    pub key: Vec<String>,
    /// The non-key columns, in first-seen order; each entry has one value per column.
    pub attributes: Vec<String>,
    pub entries: Vec<ListEntry>,
    /// Entries by their first key value.
    index: HashMap<String, Vec<usize>>,
}

#[derive(Debug, Clone)]
pub(crate) struct ListEntry {
    pub keys: Vec<String>,
    pub attributes: Vec<AttrValue>,
    /// The entry as evidence shows it: key values and attributes.
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AttrValue {
    Bool(bool),
    Num(f64),
    Text(String),
    Missing,
}

impl RefList {
    pub(crate) fn new(
        id: String,
        title: String,
        source: String,
        edition: String,
        key: Vec<String>,
        attributes: Vec<String>,
        entries: Vec<ListEntry>,
    ) -> RefList {
        let mut index: HashMap<String, Vec<usize>> = HashMap::new();
        for (entry_idx, entry) in entries.iter().enumerate() {
            if let Some(first) = entry.keys.first() {
                index.entry(first.clone()).or_default().push(entry_idx);
            }
        }
        RefList { id, title, source, edition, key, attributes, entries, index }
    }

    /// The index of the entry with these keys (the second only for two-key lists).
    pub(crate) fn find(&self, first: &str, second: Option<&str>) -> Option<usize> {
        self.index
            .get(first)?
            .iter()
            .copied()
            .find(|idx| second.is_none_or(|second| self.entries[*idx].keys.get(1).is_some_and(|key| key == second)))
    }

    pub(crate) fn attribute_index(&self, name: &str) -> Option<usize> {
        self.attributes.iter().position(|attribute| attribute == name)
    }

    /// The citation shown with evidence from this list.
    pub(crate) fn citation(&self) -> String {
        format!("{} ({})", self.source, self.edition)
    }
}

/// The goods mapping: keywords and UNSPSC code prefixes to good names.
#[derive(Debug, Clone, Default)]
pub(crate) struct GoodsMap {
    pub id: String,
    pub title: String,
    pub source: String,
    pub edition: String,
    /// Good names, in file order.
    pub names: Vec<String>,
    /// Normalised keyword phrase → goods (indices into `names`).
    phrases: HashMap<String, Vec<usize>>,
    max_phrase_words: usize,
    /// Code prefix → goods.
    codes: HashMap<String, Vec<usize>>,
    max_code_len: usize,
}

impl GoodsMap {
    pub(crate) fn new(id: String, title: String, source: String, edition: String) -> GoodsMap {
        GoodsMap { id, title, source, edition, ..GoodsMap::default() }
    }

    /// Adds a good; returns its index.
    pub(crate) fn add_good(&mut self, name: String, keywords: &[String], codes: &[String]) -> usize {
        let good_idx = self.names.len();
        self.names.push(name);
        for keyword in keywords {
            let phrase = normalise_text(keyword);
            self.max_phrase_words = self.max_phrase_words.max(phrase.split(' ').count());
            let goods = self.phrases.entry(phrase).or_default();
            if !goods.contains(&good_idx) {
                goods.push(good_idx);
            }
        }
        for code in codes {
            let code: String = code.chars().filter(char::is_ascii_alphanumeric).collect();
            self.max_code_len = self.max_code_len.max(code.len());
            self.codes.entry(code).or_default().push(good_idx);
        }
        good_idx
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|known| known == name)
    }

    /// The goods an item code names: the goods of its longest listed prefix.
    pub(crate) fn goods_of_code(&self, code: &str) -> Vec<&str> {
        let code = code.trim();
        let digits_end = code.char_indices().find(|(_, c)| !c.is_ascii_alphanumeric()).map_or(code.len(), |(i, _)| i);
        let code = &code[..digits_end];
        (1..=code.len().min(self.max_code_len))
            .rev()
            .find_map(|len| self.codes.get(&code[..len]))
            .map(|goods| goods.iter().map(|idx| self.names[*idx].as_str()).collect())
            .unwrap_or_default()
    }

    /// The goods a free-text description names.
    pub(crate) fn goods_of_text(&self, text: &str) -> Vec<&str> {
        self.goods_of_normalised(&normalise_text(text))
    }

    /// The goods a description, already normalised by [`normalise_text`], names: those
    /// of the longest keyword phrase found in it (the first one on a tie).
    pub(crate) fn goods_of_normalised(&self, text: &str) -> Vec<&str> {
        let words: Vec<(usize, usize)> = word_spans(text);
        let mut best: Option<(usize, &Vec<usize>)> = None;
        for start in 0..words.len() {
            let longest = self.max_phrase_words.min(words.len() - start);
            for n_words in (1..=longest).rev() {
                if best.is_some_and(|(best_len, _)| best_len >= n_words) {
                    break;
                }
                let phrase = &text[words[start].0..words[start + n_words - 1].1];
                let found = self.phrases.get(phrase).or_else(|| {
                    (n_words == 1).then(|| singular_forms(phrase).find_map(|word| self.phrases.get(word))).flatten()
                });
                if let Some(goods) = found {
                    best = Some((n_words, goods));
                    break;
                }
            }
        }
        best.map(|(_, goods)| goods.iter().map(|idx| self.names[*idx].as_str()).collect()).unwrap_or_default()
    }
}

/// Byte spans of the words of a normalised text (words are separated by one space).
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (idx, byte) in text.bytes().enumerate() {
        if byte == b' ' {
            if idx > start {
                spans.push((start, idx));
            }
            start = idx + 1;
        }
    }
    if text.len() > start {
        spans.push((start, text.len()));
    }
    spans
}

/// A word without a final "s" or "es", so that keywords in the singular match plurals.
fn singular_forms(word: &str) -> impl Iterator<Item = &str> {
    let without_s = word.strip_suffix('s').filter(|stem| stem.len() > 2);
    let without_es = word.strip_suffix("es").filter(|stem| stem.len() > 2);
    without_s.into_iter().chain(without_es)
}

/// Lower-cases, removes accents and turns every run of characters other than letters
/// and digits into one space: "Lingotes de ORO, 99.9%" → "lingotes de oro 99 9".
pub(crate) fn normalise_text(text: &str) -> String {
    let folded = crate::records::fields::fold(text);
    let mut normalised = String::with_capacity(folded.len());
    for c in folded.chars() {
        if c.is_alphanumeric() {
            normalised.push(c);
        } else if !normalised.is_empty() && !normalised.ends_with(' ') {
            normalised.push(' ');
        }
    }
    if normalised.ends_with(' ') {
        normalised.pop();
    }
    normalised
}

/// Whether a normalised text contains a normalised phrase as whole words.
pub(crate) fn contains_phrase(text: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    text.match_indices(phrase).any(|(start, _)| {
        let end = start + phrase.len();
        (start == 0 || text.as_bytes()[start - 1] == b' ') && (end == text.len() || text.as_bytes()[end] == b' ')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn goods() -> GoodsMap {
        let mut map = GoodsMap::new("goods".into(), "Goods".into(), "test".into(), "1".into());
        let words = |list: &[&str]| list.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        map.add_good("Gold".into(), &words(&["oro", "lingote de oro"]), &words(&["11101700"]));
        map.add_good("Bricks".into(), &words(&["ladrillo"]), &[]);
        map.add_good("Bricks (clay)".into(), &words(&["ladrillo"]), &[]);
        map.add_good("Charcoal".into(), &words(&["carvao vegetal", "carvao"]), &[]);
        map.add_good("Coal".into(), &words(&["carvao mineral"]), &[]);
        map
    }

    #[test]
    fn descriptions_map_to_goods() {
        let map = goods();
        assert_eq!(map.goods_of_text("Lingotes de ORO 99.9%"), vec!["Gold"]);
        assert_eq!(map.goods_of_text("Ladrillos de arcilla"), vec!["Bricks", "Bricks (clay)"]);
        assert_eq!(map.goods_of_text("Carvão vegetal para siderurgia"), vec!["Charcoal"]);
        assert_eq!(map.goods_of_text("carvão mineral"), vec!["Coal"]);
        assert!(map.goods_of_text("Papel bond A4, decorado").is_empty());
        assert!(map.goods_of_text("").is_empty());
    }

    #[test]
    fn codes_map_by_longest_prefix() {
        let map = goods();
        assert_eq!(map.goods_of_code("11101700"), vec!["Gold"]);
        assert_eq!(map.goods_of_code("11101700-01"), vec!["Gold"]);
        assert!(map.goods_of_code("14111507").is_empty());
        assert!(map.goods_of_code("").is_empty());
    }

    #[test]
    fn phrases_match_whole_words() {
        assert_eq!(normalise_text("  Castaña  amazónica; 1kg "), "castana amazonica 1kg");
        assert!(contains_phrase("mineria de oro", "oro"));
        assert!(contains_phrase("mineria de oro", "de oro"));
        assert!(!contains_phrase("decorado", "oro"));
        assert!(!contains_phrase("oro", ""));
    }
}
