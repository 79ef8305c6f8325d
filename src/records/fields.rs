//! Parsers for the typed cells of cadena's CSV formats.
//!
//! Each parser takes one trimmed, non-empty cell and returns its canonical form or a
//! reason that names the offending value, ready to be prefixed with `file:line: field:`.

use chrono::NaiveDate;
use serde_json::Value;

/// The type of a record field: how a CSV cell is validated and how the value is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text, kept as written (trimmed).
    Text,
    /// `|`-separated values; stored as a JSON array of strings.
    List,
    /// ISO 3166-1 country; alpha-2, alpha-3 or English name accepted, stored as alpha-2.
    Country,
    /// A calendar date; several spellings accepted, stored as `YYYY-MM-DD`.
    Date,
    /// A decimal number; `1234.5`, `1.234,5` and `1,234.5` are all accepted.
    Number,
    /// Yes or no, in English, Spanish or Portuguese.
    Bool,
    /// ISO 4217 currency code, stored upper-case.
    Currency,
    /// A recruitment licence status, mapped onto [`LICENCE_STATUSES`].
    LicenceStatus,
}

impl FieldType {
    /// Parses one non-empty cell into the JSON value that the record struct deserialises.
    pub fn parse(self, cell: &str) -> Result<Value, String> {
        match self {
            FieldType::Text => Ok(Value::String(cell.to_owned())),
            FieldType::List => Ok(Value::from(split_list(cell))),
            FieldType::Country => parse_country(cell).map(Value::String),
            FieldType::Date => parse_date(cell).map(|date| Value::String(date.to_string())),
            FieldType::Number => parse_number(cell).map(Value::from),
            FieldType::Bool => parse_bool(cell).map(Value::Bool),
            FieldType::Currency => parse_currency(cell).map(Value::String),
            FieldType::LicenceStatus => parse_licence_status(cell).map(|s| Value::String(s.to_owned())),
        }
    }
}

/// The canonical licence statuses, in the order the README documents them.
pub const LICENCE_STATUSES: &[&str] = &["active", "pending", "suspended", "expired", "revoked", "unlicensed"];

/// Splits a multi-valued cell on `|`, trimming each value and dropping empty ones.
pub fn split_list(cell: &str) -> Vec<String> {
    cell.split('|').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect()
}

/// Lower-cases and strips accents so that "Perú", "PERU" and "peru" compare equal.
pub fn fold(text: &str) -> String {
    deunicode::deunicode(text).to_lowercase()
}

/// Parses an ISO 3166-1 country into its alpha-2 code.
pub fn parse_country(cell: &str) -> Result<String, String> {
    let upper = cell.to_uppercase();
    let by_code = match upper.len() {
        2 => rust_iso3166::from_alpha2(&upper),
        3 => rust_iso3166::from_alpha3(&upper),
        _ => None,
    };
    let found = by_code.or_else(|| {
        let folded = fold(cell);
        let alias = COUNTRY_ALIASES.iter().find(|(name, _)| *name == folded).map(|(_, code)| *code);
        alias
            .and_then(rust_iso3166::from_alpha2)
            .or_else(|| rust_iso3166::ALL.iter().find(|country| fold(country.name) == folded).copied())
    });
    found
        .map(|country| country.alpha2.to_owned())
        .ok_or_else(|| format!("{cell:?} is not an ISO 3166-1 country (use a code such as PE or PER)"))
}

/// Country names, folded, that people in the region write and the ISO English short
/// names do not cover (Spanish and Portuguese names, and short forms such as "Bolivia").
/// The Spanish and Portuguese country names (and other aliases) that cadena reads, folded.
pub fn country_alias_names() -> impl Iterator<Item = &'static str> {
    COUNTRY_ALIASES.iter().map(|(name, _)| *name)
}

const COUNTRY_ALIASES: &[(&str, &str)] = &[
    ("alemania", "DE"),
    ("alemanha", "DE"),
    ("belice", "BZ"),
    ("bolivia", "BO"),
    ("brasil", "BR"),
    ("canada", "CA"),
    ("china", "CN"),
    ("corea del sur", "KR"),
    ("coreia do sul", "KR"),
    ("espana", "ES"),
    ("espanha", "ES"),
    ("estados unidos", "US"),
    ("estados unidos de america", "US"),
    ("estados unidos da america", "US"),
    ("eeuu", "US"),
    ("eua", "US"),
    ("usa", "US"),
    ("francia", "FR"),
    ("franca", "FR"),
    ("guayana francesa", "GF"),
    ("guiana francesa", "GF"),
    ("haiti", "HT"),
    ("holanda", "NL"),
    ("paises bajos", "NL"),
    ("india", "IN"),
    ("italia", "IT"),
    ("japon", "JP"),
    ("japao", "JP"),
    ("mexico", "MX"),
    ("panama", "PA"),
    ("peru", "PE"),
    ("reino unido", "GB"),
    ("republica dominicana", "DO"),
    ("rusia", "RU"),
    ("russia", "RU"),
    ("suiza", "CH"),
    ("suica", "CH"),
    ("trinidad y tobago", "TT"),
    ("turquia", "TR"),
    ("venezuela", "VE"),
];

/// Resolves a region to its ISO 3166-2 code, given as a code (`PE-MDD`) or as the
/// subdivision's name within `country` ("Madre de Dios"). Returns `None` when unknown:
/// regions are free text and an unrecognised one is kept as written.
pub fn region_code(country: Option<&str>, region: &str) -> Option<String> {
    let upper = region.trim().to_uppercase();
    if let Some(subdivision) = rust_iso3166::iso3166_2::from_code(&upper) {
        return Some(subdivision.code.to_owned());
    }
    let country = rust_iso3166::from_alpha2(country?)?;
    if let Some(subdivision) = rust_iso3166::iso3166_2::from_code(&format!("{}-{upper}", country.alpha2)) {
        return Some(subdivision.code.to_owned());
    }
    let folded = fold(region);
    country
        .subdivisions()?
        .iter()
        .find(|subdivision| fold(subdivision.name) == folded)
        .map(|subdivision| subdivision.code.to_owned())
}

/// Parses a date written as `YYYY-MM-DD`, `YYYY/MM/DD`, `DD/MM/YYYY`, `DD-MM-YYYY` or
/// an ISO 8601 timestamp (its date part is kept). Day-first is the Latin American
/// convention; month-first dates are not accepted.
pub fn parse_date(cell: &str) -> Result<NaiveDate, String> {
    let date_part = match cell.find('T') {
        // `T` at byte 10 is a char boundary, so the slice is safe.
        Some(10) => &cell[..10],
        _ => cell,
    };
    const FORMATS: &[&str] = &["%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"];
    FORMATS
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(date_part, format).ok())
        .ok_or_else(|| format!("{cell:?} is not a date (use YYYY-MM-DD or DD/MM/YYYY)"))
}

/// Parses a decimal number with either `.` or `,` as the decimal separator.
///
/// When both appear, the last one is the decimal separator (`1.234,56`, `1,234.56`).
/// When only one kind appears once, it is the decimal separator (`1234,5`); when it
/// appears several times, it groups thousands (`1.234.567`).
pub fn parse_number(cell: &str) -> Result<f64, String> {
    let compact: String = cell.chars().filter(|c| !c.is_whitespace() && *c != '\'').collect();
    let n_dots = compact.matches('.').count();
    let n_commas = compact.matches(',').count();
    let canonical = match (n_dots, n_commas) {
        (_, 0) if n_dots > 1 => compact.replace('.', ""),
        (0, 1) => compact.replace(',', "."),
        (0, _) => compact.replace(',', ""),
        _ if compact.rfind(',') > compact.rfind('.') => compact.replace('.', "").replace(',', "."),
        _ => compact.replace(',', ""),
    };
    canonical.parse::<f64>().ok().filter(|number| number.is_finite()).ok_or_else(|| format!("{cell:?} is not a number"))
}

/// Parses yes/no in English, Spanish or Portuguese.
pub fn parse_bool(cell: &str) -> Result<bool, String> {
    match fold(cell).as_str() {
        "yes" | "y" | "true" | "t" | "1" | "si" | "s" | "sim" | "x" => Ok(true),
        "no" | "n" | "false" | "f" | "0" | "nao" => Ok(false),
        _ => Err(format!("{cell:?} is not yes or no (use yes/no, si/no, sim/nao, true/false, 1/0)")),
    }
}

/// Parses an ISO 4217 currency code.
pub fn parse_currency(cell: &str) -> Result<String, String> {
    let upper = cell.to_uppercase();
    if upper.len() == 3 && upper.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(upper)
    } else {
        Err(format!("{cell:?} is not an ISO 4217 currency code (such as PEN, USD, BRL)"))
    }
}

/// Maps a licence status written in English, Spanish or Portuguese onto the canonical
/// statuses of [`LICENCE_STATUSES`].
pub fn parse_licence_status(cell: &str) -> Result<&'static str, String> {
    let status = match fold(cell).as_str() {
        "active" | "valid" | "licensed" | "current" | "vigente" | "activa" | "activo" | "habilitada" | "habilitado"
        | "ativa" | "ativo" | "valida" | "valido" => "active",
        "pending" | "pendiente" | "en tramite" | "pendente" | "em tramite" => "pending",
        "suspended" | "suspendida" | "suspendido" | "suspensa" | "suspenso" => "suspended",
        "expired" | "vencida" | "vencido" | "caducada" | "caducado" | "expirada" | "expirado" => "expired",
        "revoked" | "cancelled" | "canceled" | "revocada" | "revocado" | "cancelada" | "cancelado" | "revogada"
        | "revogado" | "cassada" => "revoked",
        "unlicensed" | "none" | "sin licencia" | "no autorizada" | "sem licenca" => "unlicensed",
        _ => {
            return Err(format!("{cell:?} is not a licence status (use one of: {})", LICENCE_STATUSES.join(", ")));
        }
    };
    Ok(status)
}

/// The comparison key of a tax id: upper-case letters and digits only, so that
/// `20-12345678-9`, `20.123.456.789` and `2012345678 9` compare equal. Validation per
/// country (check digits) belongs to matching; here the id is only made comparable.
pub fn tax_id_key(tax_id: &str) -> Option<String> {
    let key: String = tax_id.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect();
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_accept_codes_and_names() {
        for (cell, expected) in [
            ("PE", "PE"),
            ("pe", "PE"),
            ("PER", "PE"),
            ("Brazil", "BR"),
            ("  co", "CO"),
            ("Perú", "PE"),
            ("Brasil", "BR"),
            ("México", "MX"),
            ("Bolivia", "BO"),
            ("Estados Unidos", "US"),
            ("España", "ES"),
            ("EUA", "US"),
        ] {
            assert_eq!(parse_country(cell.trim()).as_deref(), Ok(expected), "{cell}");
        }
        assert!(parse_country("Pery").unwrap_err().contains("\"Pery\""));
        assert!(parse_country("XX").is_err());
    }

    #[test]
    fn regions_resolve_from_code_or_name() {
        assert_eq!(region_code(Some("PE"), "Madre de Dios").as_deref(), Some("PE-MDD"));
        assert_eq!(region_code(Some("PE"), "MADRE DE DIOS").as_deref(), Some("PE-MDD"));
        assert_eq!(region_code(None, "PE-MDD").as_deref(), Some("PE-MDD"));
        assert_eq!(region_code(Some("PE"), "MDD").as_deref(), Some("PE-MDD"));
        assert_eq!(region_code(Some("PE"), "Junín").as_deref(), Some("PE-JUN"));
        assert_eq!(region_code(Some("PE"), "Atlantis"), None);
    }

    #[test]
    fn dates_accept_iso_and_day_first() {
        for cell in ["2023-03-09", "2023/03/09", "09/03/2023", "09-03-2023", "2023-03-09T10:00:00Z"] {
            assert_eq!(parse_date(cell).unwrap().to_string(), "2023-03-09", "{cell}");
        }
        assert!(parse_date("31/02/2023").is_err());
        assert!(parse_date("03/31/2023").is_err());
        assert!(parse_date("yesterday").unwrap_err().contains("YYYY-MM-DD"));
    }

    #[test]
    fn numbers_accept_both_decimal_separators() {
        for (cell, expected) in [
            ("1234.5", 1234.5),
            ("1234,5", 1234.5),
            ("1.234,56", 1234.56),
            ("1,234.56", 1234.56),
            ("1.234.567", 1234567.0),
            ("1,234,567", 1234567.0),
            ("12 500", 12500.0),
            ("-3", -3.0),
        ] {
            assert_eq!(parse_number(cell), Ok(expected), "{cell}");
        }
        assert!(parse_number("12abc").is_err());
        assert!(parse_number("inf").is_err());
    }

    #[test]
    fn booleans_in_three_languages() {
        for cell in ["yes", "Sí", "SIM", "true", "1"] {
            assert_eq!(parse_bool(cell), Ok(true), "{cell}");
        }
        for cell in ["no", "Não", "false", "0"] {
            assert_eq!(parse_bool(cell), Ok(false), "{cell}");
        }
        assert!(parse_bool("maybe").is_err());
    }

    #[test]
    fn licence_statuses_map_onto_canonical_ones() {
        for (cell, expected) in [
            ("Vigente", "active"),
            ("SUSPENDIDA", "suspended"),
            ("revogada", "revoked"),
            ("Vencida", "expired"),
            ("en trámite", "pending"),
        ] {
            assert_eq!(parse_licence_status(cell), Ok(expected), "{cell}");
        }
        assert!(parse_licence_status("great").unwrap_err().contains("active, pending"));
    }

    #[test]
    fn tax_id_keys_ignore_punctuation() {
        assert_eq!(tax_id_key("20-12345678-9").as_deref(), Some("20123456789"));
        assert_eq!(tax_id_key("12.345.678/0001-95").as_deref(), Some("12345678000195"));
        assert_eq!(tax_id_key("abc-123").as_deref(), Some("ABC123"));
        assert_eq!(tax_id_key(" - "), None);
    }

    #[test]
    fn lists_split_on_pipes() {
        assert_eq!(split_list(" a | b ||c "), vec!["a", "b", "c"]);
        assert!(split_list(" | ").is_empty());
    }
}
