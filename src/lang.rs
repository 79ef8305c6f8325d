//! The languages cadena speaks to people: Spanish, Portuguese and English, the
//! languages of the OAS member states whose officers use it. Rule texts carry all
//! three ([`Texts`]); a request picks one with `?lang=` or `Accept-Language`.

use serde::{Deserialize, Serialize};

/// A language of the texts people read (rule titles, actions, questions, evidence).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Es,
    Pt,
    /// The default when nothing asks for another.
    #[default]
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Es, Lang::Pt, Lang::En];

    /// The ISO 639-1 code: `es`, `pt`, `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::Pt => "pt",
            Lang::En => "en",
        }
    }

    /// A language tag (`es`, `es-PE`, `PT-br`) read by its primary subtag.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?;
        Lang::ALL.into_iter().find(|lang| primary.eq_ignore_ascii_case(lang.code()))
    }

    /// The first language of an `Accept-Language` header, in the client's order of
    /// preference, that cadena speaks.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        accept_language::parse(header).iter().find_map(|tag| Lang::parse(tag))
    }

    /// What a caller is told when it asks for a language cadena does not speak.
    pub fn unknown(tag: &str) -> String {
        let codes: Vec<&str> = Lang::ALL.iter().map(|lang| lang.code()).collect();
        format!("{tag:?} is not a language cadena speaks ({})", codes.join(", "))
    }
}

impl std::str::FromStr for Lang {
    type Err = String;

    /// Reads a tag as [`Lang::parse`] does (for `--lang`).
    fn from_str(tag: &str) -> Result<Lang, String> {
        Lang::parse(tag).ok_or_else(|| Lang::unknown(tag))
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.code())
    }
}

/// One text in every language cadena speaks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Texts {
    pub es: String,
    pub pt: String,
    pub en: String,
}

impl Texts {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Es => &self.es,
            Lang::Pt => &self.pt,
            Lang::En => &self.en,
        }
    }
}

/// One text in each language as a `match` writes it: `pick(lang, ["es", "pt", "en"])`.
pub fn pick<T>(lang: Lang, [es, pt, en]: [T; 3]) -> T {
    match lang {
        Lang::Es => es,
        Lang::Pt => pt,
        Lang::En => en,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_by_their_primary_subtag() {
        assert_eq!(Lang::parse("es"), Some(Lang::Es));
        assert_eq!(Lang::parse("es-PE"), Some(Lang::Es));
        assert_eq!(Lang::parse("PT_br"), Some(Lang::Pt));
        assert_eq!(Lang::parse("en-GB"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::parse(""), None);
        assert_eq!(Lang::parse("esp"), None);
    }

    #[test]
    fn accept_language_takes_the_first_spoken_language_by_preference() {
        assert_eq!(Lang::from_accept_language("fr-FR, pt-BR;q=0.8, es;q=0.9"), Some(Lang::Es));
        assert_eq!(Lang::from_accept_language("de, pt;q=0.5"), Some(Lang::Pt));
        assert_eq!(Lang::from_accept_language("de, fr"), None);
        assert_eq!(Lang::from_accept_language(""), None);
        assert_eq!(Lang::from_accept_language(";;;q=x,,"), None);
    }
}
