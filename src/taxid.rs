//! Tax-id validation per country, with check digits where the scheme has them.
//!
//! An exact match on a *valid* tax id is strong evidence in matching; an invalid id is
//! kept and flagged, never dropped. Schemes covered: RUC (Peru, Ecuador, Paraguay), NIT
//! (Colombia), RUT (Chile), RFC (Mexico), CUIT (Argentina), CNPJ and CPF (Brazil).

use serde::Serialize;

/// A national tax-id scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxIdScheme {
    PeRuc,
    EcRuc,
    PyRuc,
    CoNit,
    ClRut,
    MxRfc,
    ArCuit,
    BrCnpj,
    BrCpf,
}

impl TaxIdScheme {
    /// The scheme's usual name, for messages.
    pub fn label(self) -> &'static str {
        match self {
            TaxIdScheme::PeRuc | TaxIdScheme::EcRuc | TaxIdScheme::PyRuc => "RUC",
            TaxIdScheme::CoNit => "NIT",
            TaxIdScheme::ClRut => "RUT",
            TaxIdScheme::MxRfc => "RFC",
            TaxIdScheme::ArCuit => "CUIT",
            TaxIdScheme::BrCnpj => "CNPJ",
            TaxIdScheme::BrCpf => "CPF",
        }
    }
}

/// What validation says of one tax id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "validity", rename_all = "snake_case")]
pub enum TaxIdCheck {
    /// Well-formed for the scheme, check digit included.
    Valid { scheme: TaxIdScheme, normalised: String },
    /// Not a valid id of the country's scheme; `reason` says why, naming the value.
    Invalid { scheme: TaxIdScheme, reason: String },
    /// No scheme is known for the country (or the country is not known).
    Unchecked,
}

impl TaxIdCheck {
    pub fn is_valid(&self) -> bool {
        matches!(self, TaxIdCheck::Valid { .. })
    }
}

/// Validates `tax_id` against the scheme of `country` (ISO 3166-1 alpha-2).
pub fn validate(country: Option<&str>, tax_id: &str) -> TaxIdCheck {
    let normalised: String =
        tax_id.chars().filter(|c| c.is_alphanumeric() || *c == '&').flat_map(char::to_uppercase).collect();
    let Some(scheme) = scheme_for(country, &normalised) else {
        return TaxIdCheck::Unchecked;
    };
    let outcome = match scheme {
        TaxIdScheme::PeRuc => check_pe_ruc(&normalised),
        TaxIdScheme::EcRuc => check_ec_ruc(&normalised),
        TaxIdScheme::PyRuc => check_py_ruc(&normalised),
        TaxIdScheme::CoNit => check_co_nit(&normalised),
        TaxIdScheme::ClRut => check_cl_rut(&normalised),
        TaxIdScheme::MxRfc => check_mx_rfc(&normalised),
        TaxIdScheme::ArCuit => check_ar_cuit(&normalised),
        TaxIdScheme::BrCnpj => check_br_cnpj(&normalised),
        TaxIdScheme::BrCpf => check_br_cpf(&normalised),
    };
    match outcome {
        Ok(()) => TaxIdCheck::Valid { scheme, normalised },
        Err(problem) => {
            TaxIdCheck::Invalid { scheme, reason: format!("{tax_id:?} is not a valid {} ({problem})", scheme.label()) }
        }
    }
}

fn scheme_for(country: Option<&str>, normalised: &str) -> Option<TaxIdScheme> {
    let scheme = match country? {
        "PE" => TaxIdScheme::PeRuc,
        "EC" => TaxIdScheme::EcRuc,
        "PY" => TaxIdScheme::PyRuc,
        "CO" => TaxIdScheme::CoNit,
        "CL" => TaxIdScheme::ClRut,
        "MX" => TaxIdScheme::MxRfc,
        "AR" => TaxIdScheme::ArCuit,
        // Brazil has two schemes: companies (14 characters) and people (11 digits).
        "BR" if normalised.len() == 11 => TaxIdScheme::BrCpf,
        "BR" => TaxIdScheme::BrCnpj,
        _ => return None,
    };
    Some(scheme)
}

type Check = Result<(), String>;

fn digits(text: &str, expected_len: std::ops::RangeInclusive<usize>) -> Result<Vec<u32>, String> {
    if !expected_len.contains(&text.len()) {
        let length = if expected_len.start() == expected_len.end() {
            format!("{}", expected_len.start())
        } else {
            format!("{} to {}", expected_len.start(), expected_len.end())
        };
        return Err(format!("has {} characters, expected {length}", text.len()));
    }
    text.chars().map(|c| c.to_digit(10).ok_or_else(|| format!("{c:?} is not a digit"))).collect()
}

fn weighted_sum(digits: &[u32], weights: &[u32]) -> u32 {
    digits.iter().zip(weights).map(|(digit, weight)| digit * weight).sum()
}

fn expect_check_digit(found: u32, expected: u32) -> Check {
    if found == expected { Ok(()) } else { Err(format!("check digit is {found}, expected {expected}")) }
}

/// The modulo-11 check digit 11 − (sum mod 11), for the two results that are not one
/// digit: `eleven` for 11 and `ten` for 10 (`None`: no id has that sum).
fn mod11(sum: u32, eleven: u32, ten: Option<u32>) -> Option<u32> {
    match 11 - sum % 11 {
        11 => Some(eleven),
        10 => ten,
        digit => Some(digit),
    }
}

/// SUNAT's RUC: type prefix, eight digits, and a modulo-11 check digit where a result of
/// 10 gives 0 and a result of 11 gives 1 (SUNAT's rule; `20476200751` has sum ≡ 0 and
/// check digit 1). Prefix 16 is kept beside python-stdnum's 10, 15, 17 and 20: SUNAT
/// issued it to natural persons without a DNI.
fn check_pe_ruc(id: &str) -> Check {
    let d = digits(id, 11..=11)?;
    if !["10", "15", "16", "17", "20"].contains(&&id[..2]) {
        return Err(format!("starts with {}, expected 10, 15, 16, 17 or 20", &id[..2]));
    }
    let expected = mod11(weighted_sum(&d[..10], &[5, 4, 3, 2, 7, 6, 5, 4, 3, 2]), 1, Some(0)).unwrap_or(0);
    expect_check_digit(d[10], expected)
}

/// AFIP's CUIT: type prefix, eight digits, modulo-11 check digit where 11 gives 0 and 10
/// gives 9. (For a person whose number would give 10, AFIP assigns prefix 23 instead;
/// companies whose number gives 10 carry 9, as `30307055509` does, and python-stdnum
/// agrees.) Prefixes 50, 51 and 55 are AFIP's for international purposes.
fn check_ar_cuit(id: &str) -> Check {
    const PREFIXES: [&str; 10] = ["20", "23", "24", "27", "30", "33", "34", "50", "51", "55"];
    let d = digits(id, 11..=11)?;
    if !PREFIXES.contains(&&id[..2]) {
        return Err(format!("starts with {}, expected {}", &id[..2], PREFIXES.join(", ")));
    }
    let expected = mod11(weighted_sum(&d[..10], &[5, 4, 3, 2, 7, 6, 5, 4, 3, 2]), 0, Some(9)).unwrap_or(0);
    expect_check_digit(d[10], expected)
}

/// The SRI's RUC: province (01–24, 30 for Ecuadorians abroad and foreigners, 50 as
/// python-stdnum accepts), the kind of taxpayer in the third digit, and an establishment
/// number that is not zero. Only a natural person's RUC (third digit 0–5) carries a
/// check digit that always verifies, the cédula's. The SRI has stated that the RUCs of
/// companies (third digit 9) and public bodies (6) are not generated with an algorithm
/// and that their modulo-11 digit is not a requirement: real, active companies such as
/// CARNADA S.A.S., `1793213150001`, fail it (python-stdnum issue 497). So those are
/// checked for their form only; rejecting them would call a real supplier's id false.
fn check_ec_ruc(id: &str) -> Check {
    let d = digits(id, 13..=13)?;
    let province = d[0] * 10 + d[1];
    if !(1..=24).contains(&province) && province != 30 && province != 50 {
        return Err(format!("province code {province:02} does not exist"));
    }
    if id.ends_with("000") {
        return Err("establishment number 000 does not exist".to_owned());
    }
    match d[2] {
        // A natural person: the cédula (modulo 10) followed by an establishment number.
        0..=5 => {
            let sum: u32 = d[..9]
                .iter()
                .zip([2, 1, 2, 1, 2, 1, 2, 1, 2])
                .map(|(digit, coefficient)| {
                    let product = digit * coefficient;
                    if product > 9 { product - 9 } else { product }
                })
                .sum();
            expect_check_digit(d[9], (10 - sum % 10) % 10)
        }
        // A public body or a company: no check digit to verify (see above).
        6 | 9 => Ok(()),
        other => Err(format!("third digit is {other}, expected 0–6 or 9")),
    }
}

fn check_py_ruc(id: &str) -> Check {
    let d = digits(id, 2..=9)?;
    let (body, check) = d.split_at(d.len() - 1);
    // SET's algorithm: weights 2, 3, … 11 from the right, cycling.
    let sum: u32 = body.iter().rev().zip((2..=11).cycle()).map(|(digit, weight)| digit * weight).sum();
    let remainder = sum % 11;
    expect_check_digit(check[0], if remainder > 1 { 11 - remainder } else { 0 })
}

fn check_co_nit(id: &str) -> Check {
    let d = digits(id, 6..=16)?;
    let (body, check) = d.split_at(d.len() - 1);
    const WEIGHTS: [u32; 15] = [3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71];
    let sum: u32 = body.iter().rev().zip(WEIGHTS).map(|(digit, weight)| digit * weight).sum();
    let remainder = sum % 11;
    expect_check_digit(check[0], if remainder > 1 { 11 - remainder } else { remainder })
}

fn check_cl_rut(id: &str) -> Check {
    if !(2..=9).contains(&id.len()) {
        return Err(format!("has {} characters, expected 2 to 9", id.len()));
    }
    let (body, check) = id.split_at(id.len() - 1);
    let body = digits(body, 1..=8)?;
    let sum: u32 = body.iter().rev().zip((2..=7).cycle()).map(|(digit, weight)| digit * weight).sum();
    let expected = match 11 - sum % 11 {
        11 => '0',
        10 => 'K',
        digit => char::from_digit(digit, 10).unwrap_or('?'),
    };
    let found = check.chars().next().unwrap_or('?');
    if found == expected { Ok(()) } else { Err(format!("check digit is {found}, expected {expected}")) }
}

fn check_mx_rfc(id: &str) -> Check {
    const ALPHABET: &str = "0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ Ñ";
    let chars: Vec<char> = id.chars().collect();
    let n_letters = match chars.len() {
        12 => 3,
        13 => 4,
        n => return Err(format!("has {n} characters, expected 12 (company) or 13 (person)")),
    };
    if !chars[..n_letters].iter().all(|c| c.is_ascii_uppercase() || *c == '&' || *c == 'Ñ') {
        return Err(format!("does not start with {n_letters} letters"));
    }
    let date: String = chars[n_letters..n_letters + 6].iter().collect();
    if chrono::NaiveDate::parse_from_str(&date, "%y%m%d").is_err() {
        return Err(format!("{date} is not a date (YYMMDD)"));
    }
    // A company's RFC is padded with a space in front to 13 characters.
    let padded: Vec<char> =
        if n_letters == 3 { std::iter::once(' ').chain(chars.iter().copied()).collect() } else { chars };
    let mut sum = 0;
    for (idx, c) in padded[..12].iter().enumerate() {
        let value = ALPHABET.chars().position(|a| a == *c).ok_or_else(|| format!("{c:?} is not allowed"))?;
        sum += value as u32 * (13 - idx as u32);
    }
    let expected = match 11 - sum % 11 {
        11 => '0',
        10 => 'A',
        digit => char::from_digit(digit, 10).unwrap_or('?'),
    };
    let found = padded[12];
    if found == expected { Ok(()) } else { Err(format!("check digit is {found}, expected {expected}")) }
}

/// Brazil's check digits for CNPJ and CPF: 0 when the remainder is below 2.
fn br_check_digit(values: &[u32], weights: &[u32]) -> u32 {
    let remainder = weighted_sum(values, weights) % 11;
    if remainder < 2 { 0 } else { 11 - remainder }
}

fn check_br_cnpj(id: &str) -> Check {
    if id.len() != 14 {
        return Err(format!("has {} characters, expected 14", id.len()));
    }
    // Since 2026 the first twelve characters may be letters: each counts as its ASCII
    // code minus 48, which leaves digits as they are.
    let values: Vec<u32> = id
        .chars()
        .enumerate()
        .map(|(idx, c)| match c {
            '0'..='9' => Ok(c as u32 - 48),
            'A'..='Z' if idx < 12 => Ok(c as u32 - 48),
            _ => Err(format!("{c:?} is not allowed at position {}", idx + 1)),
        })
        .collect::<Result<_, _>>()?;
    if values.iter().all(|v| *v == values[0]) {
        return Err("all characters are the same".to_owned());
    }
    let first = br_check_digit(&values[..12], &[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]);
    let second = br_check_digit(&values[..13], &[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]);
    expect_check_digit(values[12], first)?;
    expect_check_digit(values[13], second)
}

fn check_br_cpf(id: &str) -> Check {
    let d = digits(id, 11..=11)?;
    if d.iter().all(|v| *v == d[0]) {
        return Err("all digits are the same".to_owned());
    }
    let check = |n: usize| {
        let weights: Vec<u32> = (2..=n as u32 + 1).rev().collect();
        (weighted_sum(&d[..n], &weights) * 10 % 11) % 10
    };
    expect_check_digit(d[9], check(9))?;
    expect_check_digit(d[10], check(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published ids of public bodies and well-known specimen numbers, as written.
    #[test]
    fn valid_ids_per_country() {
        for (country, tax_id, scheme) in [
            ("PE", "20131312955", TaxIdScheme::PeRuc),   // SUNAT
            ("PE", "20-13131295-5", TaxIdScheme::PeRuc), // the same, with separators
            ("EC", "1790016919001", TaxIdScheme::EcRuc), // a private company (modulo 11)
            ("EC", "1710034065001", TaxIdScheme::EcRuc), // a natural person (cédula, modulo 10)
            ("EC", "1793213150001", TaxIdScheme::EcRuc), // CARNADA S.A.S., modulo 11 fails
            ("PE", "20476200751", TaxIdScheme::PeRuc),   // sum ≡ 0 (mod 11): check digit 1
            ("PE", "10589525481", TaxIdScheme::PeRuc),
            ("AR", "30307055509", TaxIdScheme::ArCuit), // remainder gives 10: check digit 9
            ("PY", "80009735-1", TaxIdScheme::PyRuc),
            ("CO", "800.197.268-4", TaxIdScheme::CoNit), // DIAN
            ("CL", "12.345.678-5", TaxIdScheme::ClRut),
            ("CL", "11.111.111-1", TaxIdScheme::ClRut),
            ("MX", "GODE561231GR8", TaxIdScheme::MxRfc), // the SAT's specimen person RFC
            ("AR", "33-69345023-9", TaxIdScheme::ArCuit), // AFIP
            ("BR", "11.222.333/0001-81", TaxIdScheme::BrCnpj), // the usual specimen CNPJ
            ("BR", "00.000.000/0001-91", TaxIdScheme::BrCnpj), // Banco do Brasil
            ("BR", "529.982.247-25", TaxIdScheme::BrCpf), // the usual specimen CPF
        ] {
            match validate(Some(country), tax_id) {
                TaxIdCheck::Valid { scheme: found, .. } => assert_eq!(found, scheme, "{country} {tax_id}"),
                other => panic!("{country} {tax_id} should be valid: {other:?}"),
            }
        }
    }

    #[test]
    fn invalid_ids_say_why() {
        for (country, tax_id, reason) in [
            ("PE", "20131312956", "check digit is 6, expected 5"),
            ("PE", "2013131295", "has 10 characters, expected 11"),
            ("PE", "99131312955", "starts with 99"),
            ("EC", "1710034064001", "check digit is 4, expected 5"),
            ("EC", "1790016919000", "establishment number 000"),
            ("EC", "9990016919001", "province code 99"),
            ("PY", "80009735-2", "check digit is 2, expected 1"),
            ("CO", "800197268-5", "check digit is 5, expected 4"),
            ("CL", "12.345.678-K", "check digit is K, expected 5"),
            ("MX", "GODE561231GR9", "check digit is 9, expected 8"),
            ("MX", "GODE561331GR8", "561331 is not a date"),
            ("AR", "33-69345023-8", "check digit is 8, expected 9"),
            ("BR", "11.222.333/0001-82", "check digit is 2, expected 1"),
            ("BR", "11.111.111/1111-11", "all characters are the same"),
            ("BR", "529.982.247-24", "check digit is 4, expected 5"),
            ("BR", "111.111.111-11", "all digits are the same"),
        ] {
            match validate(Some(country), tax_id) {
                TaxIdCheck::Invalid { reason: found, .. } => {
                    assert!(found.contains(reason), "{country} {tax_id}: {found:?} should mention {reason:?}");
                    assert!(found.contains(&format!("{tax_id:?}")), "{found:?} should name the value");
                }
                other => panic!("{country} {tax_id} should be invalid: {other:?}"),
            }
        }
    }

    /// Every scheme against python-stdnum, an independent implementation, over 1,080
    /// generated ids (`tests/fixtures/taxid/generate.py`: 60 valid per scheme and 60 with
    /// one digit changed). They agree on every id but one kind: an Ecuadorian company or
    /// public body's RUC whose modulo-11 digit fails, which stdnum rejects and the SRI
    /// does not (see `check_ec_ruc`).
    #[test]
    fn every_scheme_agrees_with_python_stdnum() {
        let vectors = include_str!("../tests/fixtures/taxid/vectors.csv");
        let mut n_checked = 0;
        let mut disagreements = Vec::new();
        for line in vectors.lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            let [country, scheme, tax_id, stdnum_valid] = fields[..] else { panic!("bad vector line {line:?}") };
            let stdnum_valid = stdnum_valid == "true";
            let check = validate(Some(country), tax_id);
            let ec_company = scheme == "ec_ruc" && matches!(&tax_id[2..3], "6" | "9");
            let agreed = check.is_valid() == stdnum_valid || (ec_company && check.is_valid() && !stdnum_valid);
            if !agreed {
                disagreements.push(format!("{scheme} {tax_id}: stdnum {stdnum_valid}, cadena {check:?}"));
            }
            n_checked += 1;
        }
        assert_eq!(n_checked, 1080);
        assert!(disagreements.is_empty(), "{} disagreements:\n{}", disagreements.len(), disagreements.join("\n"));
    }

    #[test]
    fn countries_without_a_scheme_are_unchecked() {
        assert_eq!(validate(Some("BD"), "RL-1234"), TaxIdCheck::Unchecked);
        assert_eq!(validate(None, "20131312955"), TaxIdCheck::Unchecked);
    }

    #[test]
    fn alphanumeric_cnpj_from_2026() {
        // The Receita Federal's published example of the new format.
        assert!(validate(Some("BR"), "12.ABC.345/01DE-35").is_valid());
        assert!(!validate(Some("BR"), "12.ABC.345/01DE-36").is_valid());
    }
}
