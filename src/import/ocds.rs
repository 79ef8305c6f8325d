//! Open Contracting Data Standard (OCDS): release packages, record packages, single
//! releases or records, and JSON lines of any of these, into suppliers and procurement
//! lines.
//!
//! Suppliers are the parties with role `supplier` or `tenderer`, and the organisations
//! named in awards (OCDS 1.0 publishers, such as Paraguay's DNCP in 2016, put them
//! there rather than in `parties`). Identifier schemes (`PY-RUC`, `CO-NIT`, or the
//! publisher's own words, such as "Registro Único de Contribuyente … Paraguay" or
//! "Nit de Persona Jurídica") give the supplier's country and tax id.
//!
//! One procurement line is made per awarded item: the items of each active award, or,
//! where an award lists none, the items of its contracts (a contract without items is one
//! line, and so is an award with neither). A contract's suppliers are its own
//! (`contracts[].suppliers`, an extension some publishers use), else its award's, else,
//! for a contract whose award is not in the release, the release's parties with the role
//! `supplier`. Tender items never become lines; a file that gives no line says why
//! (`OcdsData::no_lines`). A record's `compiledRelease` is used when present, else its
//! `versionedRelease` (each field at its latest version), else its embedded releases; a
//! key seen twice keeps its last version.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::{ImportError, Located, RejectedRow, dedupe_last, non_empty};
use crate::records::fields::{parse_country, parse_currency, parse_date, parse_number};
use crate::records::{ProcurementLine, Record, Supplier};

/// What an OCDS file holds, as cadena records.
#[derive(Debug, Clone, Default)]
pub struct OcdsData {
    pub suppliers: Vec<Located<Supplier>>,
    pub lines: Vec<Located<ProcurementLine>>,
    /// What could not be read: whole releases or documents (both loads report these).
    pub rejected: Vec<RejectedRow>,
    /// Suppliers that could not be read (only the supplier load reports these).
    pub rejected_suppliers: Vec<RejectedRow>,
    /// How many releases were read (compiled releases count once per record).
    pub n_releases: usize,
    /// Why the file gave no procurement lines, when it gave none (the procurement load
    /// and a screening report it as a rejection of the whole file).
    pub no_lines: Option<RejectedRow>,
    /// Awards that were not active, and cancelled contracts, which give no lines.
    pub n_skipped_awards: usize,
    pub n_skipped_contracts: usize,
    /// The line ids given in the release being read, to tell repeated item ids apart.
    line_ids_of_release: std::collections::HashSet<String>,
}

impl OcdsData {
    /// Why a file gave no procurement lines, for the one rejection that says so.
    fn why_no_lines(&self) -> String {
        if self.n_releases == 0 {
            return "no procurement lines: no OCDS release could be read (see the other rejections)".to_owned();
        }
        let mut reason = format!(
            "no procurement lines: {} release(s) read, none with an active award or a contract",
            self.n_releases
        );
        if self.n_skipped_awards + self.n_skipped_contracts > 0 {
            reason.push_str(&format!(
                " ({} award(s) not active and {} contract(s) cancelled were left out)",
                self.n_skipped_awards, self.n_skipped_contracts
            ));
        }
        reason.push_str("; tender items are never lines, as nothing was bought yet");
        reason
    }
}

/// Parses an OCDS file. Fails only when no JSON can be read at all; a release that is
/// not an OCDS release is rejected with its path and the rest are kept. Never panics.
pub fn parse(bytes: &[u8]) -> Result<OcdsData, ImportError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut data = OcdsData::default();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ImportError("the file is empty".to_owned()));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(document) => read_document(&document, 1, "", &mut data),
        Err(whole_err) => {
            // JSON lines: one package, release or record per line.
            let mut n_documents = 0;
            for (idx, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let line_no = idx as i64 + 1;
                match serde_json::from_slice::<Value>(line) {
                    Ok(document) => {
                        n_documents += 1;
                        read_document(&document, line_no, "", &mut data);
                    }
                    Err(err) => data.rejected.push(RejectedRow {
                        line: line_no,
                        field: "$".to_owned(),
                        reason: format!("not JSON: {err}"),
                    }),
                }
            }
            if n_documents == 0 {
                return Err(ImportError(format!("not JSON or JSON lines: {whole_err}")));
            }
        }
    }
    if data.lines.is_empty() {
        data.no_lines = Some(RejectedRow { line: 0, field: "$".to_owned(), reason: data.why_no_lines() });
    }
    data.suppliers = dedupe_last(std::mem::take(&mut data.suppliers), |s| s.supplier_id.clone());
    data.lines = dedupe_last(std::mem::take(&mut data.lines), |l| format!("{}\u{0}{}", l.procurement_id, l.line_id));
    Ok(data)
}

/// Reads one JSON document: a package, a record, a release or an array of them.
fn read_document(document: &Value, line: i64, prefix: &str, data: &mut OcdsData) {
    match document {
        Value::Array(items) => {
            for (idx, item) in items.iter().enumerate() {
                let item_line = if prefix.is_empty() && line == 1 { idx as i64 + 1 } else { line };
                read_document(item, item_line, &format!("{prefix}[{idx}]"), data);
            }
        }
        Value::Object(object) => {
            let in_document = prefix.is_empty() && line == 1;
            if let Some(Value::Array(records)) = object.get("records") {
                for (idx, record) in records.iter().enumerate() {
                    let record_line = if in_document { idx as i64 + 1 } else { line };
                    read_record(record, record_line, &join(prefix, &format!("records[{idx}]")), data);
                }
            } else if object.contains_key("compiledRelease") || object.contains_key("versionedRelease") {
                read_record(document, line, prefix, data);
            } else if let Some(Value::Array(releases)) = object.get("releases") {
                for (idx, release) in releases.iter().enumerate() {
                    let release_line = if in_document { idx as i64 + 1 } else { line };
                    read_release(release, release_line, &join(prefix, &format!("releases[{idx}]")), data);
                }
            } else {
                read_release(document, line, prefix, data);
            }
        }
        _ => data.rejected.push(RejectedRow {
            line,
            field: path_or_root(prefix),
            reason: "not an OCDS package, record or release (expected a JSON object)".to_owned(),
        }),
    }
}

fn read_record(record: &Value, line: i64, path: &str, data: &mut OcdsData) {
    if let Some(compiled) = record.get("compiledRelease").filter(|v| v.is_object()) {
        read_release(compiled, line, &join(path, "compiledRelease"), data);
        return;
    }
    if let Some(versioned) = record.get("versionedRelease").filter(|v| v.is_object()) {
        read_release(&latest_versions(versioned), line, &join(path, "versionedRelease"), data);
        return;
    }
    let mut n_read = 0;
    if let Some(Value::Array(releases)) = record.get("releases") {
        for (idx, release) in releases.iter().enumerate() {
            // Linked releases (only `url`, `date`, `tag`) carry no data.
            let has_data = ["awards", "contracts", "parties"].iter().any(|key| release.get(key).is_some());
            if has_data {
                n_read += 1;
                read_release(release, line, &join(path, &format!("releases[{idx}]")), data);
            }
        }
    }
    if n_read == 0 {
        data.rejected.push(RejectedRow {
            line,
            field: path_or_root(path),
            reason: "the record has no compiledRelease, no versionedRelease and no embedded release with awards, \
                     contracts or parties"
                .to_owned(),
        });
    }
}

/// A versioned release as a release: each field's history (`[{"releaseDate", "releaseID",
/// "value", …}]`) replaced by its latest value; objects and arrays of objects (whose `id`
/// is not versioned) are walked as they are.
fn latest_versions(value: &Value) -> Value {
    fn is_version(item: &Value) -> bool {
        item.as_object().is_some_and(|version| {
            version.contains_key("value") && (version.contains_key("releaseDate") || version.contains_key("releaseID"))
        })
    }
    match value {
        Value::Array(items) if !items.is_empty() && items.iter().all(is_version) => {
            items.last().and_then(|version| version.get("value")).cloned().unwrap_or(Value::Null)
        }
        Value::Array(items) => Value::Array(items.iter().map(latest_versions).collect()),
        Value::Object(object) => {
            Value::Object(object.iter().map(|(key, value)| (key.clone(), latest_versions(value))).collect())
        }
        other => other.clone(),
    }
}

fn join(prefix: &str, part: &str) -> String {
    if prefix.is_empty() { part.to_owned() } else { format!("{prefix}.{part}") }
}

fn path_or_root(path: &str) -> String {
    if path.is_empty() { "$".to_owned() } else { path.to_owned() }
}

// The parts of a release cadena reads. Every field is optional and ids may be numbers
// or strings (SECOP writes item ids as numbers), so real files read without surprises.

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Release {
    ocid: Option<Value>,
    id: Option<Value>,
    date: Option<Value>,
    buyer: Option<Party>,
    tender: Option<Tender>,
    parties: Vec<Party>,
    awards: Vec<Award>,
    contracts: Vec<Contract>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Tender {
    procuring_entity: Option<Party>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Party {
    id: Option<Value>,
    name: Option<Value>,
    identifier: Option<Identifier>,
    additional_identifiers: Vec<Identifier>,
    /// Strings in a release; anything else (versioned records) is ignored.
    roles: Vec<Value>,
    address: Option<Address>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Identifier {
    scheme: Option<Value>,
    id: Option<Value>,
    legal_name: Option<Value>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Address {
    country_name: Option<Value>,
    region: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Award {
    id: Option<Value>,
    title: Option<Value>,
    description: Option<Value>,
    status: Option<Value>,
    date: Option<Value>,
    value: Option<Amount>,
    suppliers: Vec<Party>,
    items: Vec<Item>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Contract {
    id: Option<Value>,
    #[serde(rename = "awardID")]
    award_id: Option<Value>,
    title: Option<Value>,
    description: Option<Value>,
    status: Option<Value>,
    date_signed: Option<Value>,
    value: Option<Amount>,
    items: Vec<Item>,
    /// The contract's own suppliers (an extension some publishers use; Paraguay's DNCP
    /// writes one supplier as an object rather than a list of one).
    #[serde(deserialize_with = "one_or_many")]
    suppliers: Vec<Party>,
}

/// A list, or a single object standing for a list of one (as some publishers write
/// extension fields); `null` is an empty list.
fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
        None(()),
    }
    Ok(match OneOrMany::<T>::deserialize(deserializer)? {
        OneOrMany::Many(items) => items,
        OneOrMany::One(item) => vec![item],
        OneOrMany::None(()) => Vec::new(),
    })
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Item {
    id: Option<Value>,
    description: Option<Value>,
    classification: Option<Classification>,
    quantity: Option<Value>,
    unit: Option<Unit>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct Classification {
    scheme: Option<Value>,
    id: Option<Value>,
    description: Option<Value>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct Unit {
    value: Option<Amount>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct Amount {
    amount: Option<Value>,
    currency: Option<Value>,
}

/// A JSON scalar as text: strings trimmed, numbers written plainly (`801116`, not `801116.0`).
fn text(value: &Option<Value>) -> Option<String> {
    match value.as_ref()? {
        Value::String(s) => non_empty(Some(s)),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Some(i.to_string()),
            (_, Some(u), _) => Some(u.to_string()),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => Some(format!("{f:.0}")),
            (_, _, Some(f)) => Some(f.to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn number(value: &Option<Value>) -> Option<f64> {
    match value.as_ref()? {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => parse_number(s.trim()).ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// The country an identifier scheme belongs to: `XX-…` codes from org-id.guide, or the
/// words Latin American publishers use instead.
pub fn scheme_country(scheme: &str) -> Option<&'static str> {
    let upper = scheme.trim().to_uppercase();
    const CODES: &[(&str, &str)] = &[
        ("PY-", "PY"),
        ("CO-", "CO"),
        ("MX-", "MX"),
        ("PE-", "PE"),
        ("EC-", "EC"),
        ("CL-", "CL"),
        ("AR-", "AR"),
        ("BR-", "BR"),
        ("UY-", "UY"),
        ("BO-", "BO"),
        ("GT-", "GT"),
        ("HN-", "HN"),
        ("SV-", "SV"),
        ("CR-", "CR"),
        ("PA-", "PA"),
        ("DO-", "DO"),
        ("VE-", "VE"),
        ("NI-", "NI"),
    ];
    if let Some((_, country)) = CODES.iter().find(|(prefix, _)| upper.starts_with(prefix)) {
        return Some(country);
    }
    let folded = crate::records::fields::fold(scheme);
    let words: Vec<&str> = folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let has = |word: &str| words.contains(&word);
    if has("paraguay") {
        Some("PY")
    } else if has("nit") || folded.contains("cedula de ciudadania") || has("colombia") {
        Some("CO")
    } else if has("rfc") || has("mexico") {
        Some("MX")
    } else if has("cuit") {
        Some("AR")
    } else if has("cnpj") || has("cpf") {
        Some("BR")
    } else if has("rut") {
        Some("CL")
    } else {
        None
    }
}

/// A party made into a supplier, with the key that awards refer to it by.
fn supplier_of(party: &Party) -> Result<Supplier, String> {
    let identifier = party.identifier.clone().unwrap_or_default();
    let legal_name = text(&identifier.legal_name);
    let name = text(&party.name).or(legal_name.clone()).ok_or("the supplier has no name")?;
    let scheme = text(&identifier.scheme);
    let address = party.address.clone().unwrap_or_default();
    let country = scheme
        .as_deref()
        .and_then(scheme_country)
        .map(str::to_owned)
        .or_else(|| text(&address.country_name).and_then(|name| parse_country(&name).ok()));
    let tax_id = text(&identifier.id);
    let supplier_id = supplier_key(party, country.as_deref()).ok_or("the supplier has no name")?;
    let mut extra = crate::records::Extra::new();
    if let Some(scheme) = &scheme {
        extra.insert("identifier_scheme".to_owned(), scheme.clone());
    }
    if let Some(party_id) = text(&party.id) {
        extra.insert("ocds_party_id".to_owned(), party_id);
    }
    let more_ids: Vec<String> = party
        .additional_identifiers
        .iter()
        .filter_map(|other| Some(format!("{}:{}", text(&other.scheme).unwrap_or_default(), text(&other.id)?)))
        .collect();
    if !more_ids.is_empty() {
        extra.insert("additional_identifiers".to_owned(), more_ids.join("|"));
    }
    let aliases = legal_name.filter(|legal| legal != &name).into_iter().collect();
    let mut supplier = Supplier {
        supplier_id,
        name,
        aliases,
        tax_id,
        country,
        region: text(&address.region),
        extra,
        ..Supplier::default()
    };
    supplier.derive();
    Ok(supplier)
}

/// A supplier's id: `COUNTRY-TAXID` when its identifier is known (stable across
/// releases and publishers), else the OCDS party id, else its name.
fn supplier_key(party: &Party, country: Option<&str>) -> Option<String> {
    let identifier = party.identifier.clone().unwrap_or_default();
    if let Some(tax_id) = text(&identifier.id) {
        return Some(format!("{}-{tax_id}", country.unwrap_or("XX")));
    }
    if let Some(id) = text(&party.id) {
        return Some(format!("ocds-party-{id}"));
    }
    text(&party.name).or(text(&identifier.legal_name)).map(|name| format!("name-{name}"))
}

fn has_role(party: &Party, wanted: &[&str]) -> bool {
    party.roles.iter().any(|role| role.as_str().is_some_and(|role| wanted.contains(&role)))
}

/// Reads one release into suppliers and procurement lines.
fn read_release(value: &Value, line: i64, path: &str, data: &mut OcdsData) {
    let path = path_or_root(path);
    if !value.is_object() {
        data.rejected.push(RejectedRow {
            line,
            field: path,
            reason: "not an OCDS release (expected a JSON object)".to_owned(),
        });
        return;
    }
    let release: Release = match Release::deserialize(value) {
        Ok(release) => release,
        Err(err) => {
            data.rejected.push(RejectedRow { line, field: path, reason: format!("not an OCDS release: {err}") });
            return;
        }
    };
    data.n_releases += 1;
    data.line_ids_of_release.clear();
    let ocid = text(&release.ocid);
    let procurement_id = match ocid.clone().or_else(|| text(&release.id)) {
        Some(id) => id,
        None => {
            data.rejected.push(RejectedRow {
                line,
                field: path,
                reason: "the release has neither ocid nor id".to_owned(),
            });
            return;
        }
    };

    // Parties by id, to resolve the organisation references in awards.
    let parties_by_id: HashMap<String, &Party> =
        release.parties.iter().filter_map(|party| Some((text(&party.id)?, party))).collect();
    let buyer = release
        .buyer
        .as_ref()
        .and_then(|buyer| {
            text(&buyer.name).or_else(|| parties_by_id.get(&text(&buyer.id)?).and_then(|p| text(&p.name)))
        })
        .or_else(|| release.parties.iter().find(|p| has_role(p, &["buyer"])).and_then(|p| text(&p.name)))
        .or_else(|| release.tender.as_ref()?.procuring_entity.as_ref().and_then(|p| text(&p.name)))
        .or_else(|| release.parties.iter().find(|p| has_role(p, &["procuringEntity"])).and_then(|p| text(&p.name)));

    for (idx, party) in release.parties.iter().enumerate() {
        if has_role(party, &["supplier", "tenderer"]) {
            push_supplier(party, line, &format!("{path}.parties[{idx}]"), data);
        }
    }

    let release_date = text(&release.date);
    // Suppliers named by reference are resolved through `parties`; OCDS 1.0 awards name
    // them inline (name and identifier), which is read as it stands.
    let resolve = |references: &[Party], references_path: &str, data: &mut OcdsData| -> Vec<Supplier> {
        let mut suppliers = Vec::new();
        for (supplier_idx, reference) in references.iter().enumerate() {
            let party = text(&reference.id)
                .and_then(|id| parties_by_id.get(&id).copied())
                .filter(|party| party.identifier.is_some() || reference.identifier.is_none())
                .unwrap_or(reference);
            if let Some(supplier) = push_supplier(party, line, &format!("{references_path}[{supplier_idx}]"), data) {
                suppliers.push(supplier);
            }
        }
        suppliers
    };
    let mut awarded_ids: Vec<String> = Vec::new();
    for (award_idx, award) in release.awards.iter().enumerate() {
        let award_path = format!("{path}.awards[{award_idx}]");
        let status = text(&award.status).unwrap_or_default().to_lowercase();
        if !(status.is_empty() || status == "active") {
            data.n_skipped_awards += 1;
            continue;
        }
        let award_id = text(&award.id).unwrap_or_else(|| format!("award-{award_idx}"));
        awarded_ids.push(award_id.clone());
        let suppliers = resolve(&award.suppliers, &format!("{award_path}.suppliers"), data);
        let contracts: Vec<(usize, &Contract)> = release
            .contracts
            .iter()
            .enumerate()
            .filter(|(_, contract)| text(&contract.award_id).as_deref() == Some(award_id.as_str()))
            .collect();
        let award_date = text(&award.date)
            .or_else(|| contracts.iter().find_map(|(_, c)| text(&c.date_signed)))
            .or(release_date.clone());
        let context = LineContext {
            procurement_id: &procurement_id,
            buyer: buyer.as_deref(),
            suppliers: &suppliers,
            award_date: award_date.as_deref(),
            ocid: ocid.as_deref(),
        };
        if !award.items.is_empty() {
            let value = award.value.as_ref();
            for (item_idx, item) in award.items.iter().enumerate() {
                let line_value = if award.items.len() == 1 { value } else { None };
                let item_path = format!("{award_path}.items[{item_idx}]");
                context.push_line(&award_id, item_idx, item, line_value, line, &item_path, data);
            }
        } else if !contracts.is_empty() {
            for (contract_idx, contract) in contracts {
                let contract_path = format!("{path}.contracts[{contract_idx}]");
                // A contract that names its own suppliers (an extension) is theirs.
                let own = resolve(&contract.suppliers, &format!("{contract_path}.suppliers"), data);
                let context = LineContext { suppliers: if own.is_empty() { &suppliers } else { &own }, ..context };
                context.push_contract_lines(&award_id, contract, line, &contract_path, data);
            }
        } else {
            // An award with neither items nor contracts is one line: what was awarded.
            let item = Item {
                description: text(&award.title).or(text(&award.description)).map(Value::String),
                ..Item::default()
            };
            context.push_line(&award_id, 0, &item, award.value.as_ref(), line, &award_path, data);
        }
    }
    // Contracts whose award is not in this release (a separate contract release, or a
    // publisher that writes no awards): their suppliers are their own (`suppliers`, an
    // extension), else the release's parties with the role `supplier`.
    let supplier_parties: Vec<Party> =
        release.parties.iter().filter(|party| has_role(party, &["supplier"])).cloned().collect();
    for (contract_idx, contract) in release.contracts.iter().enumerate() {
        let award_id = text(&contract.award_id);
        if award_id.as_ref().is_some_and(|id| awarded_ids.contains(id)) {
            continue;
        }
        let status = text(&contract.status).unwrap_or_default().to_lowercase();
        if status == "cancelled" {
            data.n_skipped_contracts += 1;
            continue;
        }
        let contract_path = format!("{path}.contracts[{contract_idx}]");
        let own = resolve(&contract.suppliers, &format!("{contract_path}.suppliers"), data);
        let suppliers = if own.is_empty() {
            supplier_parties.iter().filter_map(|party| supplier_of(party).ok()).collect()
        } else {
            own
        };
        let award_id = award_id.or_else(|| text(&contract.id)).unwrap_or_else(|| format!("contract-{contract_idx}"));
        let award_date = text(&contract.date_signed).or(release_date.clone());
        let context = LineContext {
            procurement_id: &procurement_id,
            buyer: buyer.as_deref(),
            suppliers: &suppliers,
            award_date: award_date.as_deref(),
            ocid: ocid.as_deref(),
        };
        context.push_contract_lines(&award_id, contract, line, &contract_path, data);
    }
}

fn push_supplier(party: &Party, line: i64, path: &str, data: &mut OcdsData) -> Option<Supplier> {
    match supplier_of(party) {
        Ok(supplier) => {
            data.suppliers.push(Located { line, path: path.to_owned(), record: supplier.clone() });
            Some(supplier)
        }
        Err(reason) => {
            data.rejected_suppliers.push(RejectedRow { line, field: path.to_owned(), reason: reason.to_owned() });
            None
        }
    }
}

/// What the lines of one award share.
#[derive(Clone, Copy)]
struct LineContext<'a> {
    procurement_id: &'a str,
    buyer: Option<&'a str>,
    suppliers: &'a [Supplier],
    award_date: Option<&'a str>,
    ocid: Option<&'a str>,
}

impl LineContext<'_> {
    /// A contract's lines: one per item, or one for the whole contract when it lists none.
    fn push_contract_lines(&self, award_id: &str, contract: &Contract, line: i64, path: &str, data: &mut OcdsData) {
        if contract.items.is_empty() {
            let description = text(&contract.title).or(text(&contract.description));
            // Under its award the line is `award/contract`; a contract standing alone is its own award.
            let id = contract.id.clone().filter(|_| text(&contract.id).as_deref() != Some(award_id));
            let item = Item { id, description: description.map(Value::String), ..Item::default() };
            self.push_line(award_id, 0, &item, contract.value.as_ref(), line, path, data);
            return;
        }
        for (item_idx, item) in contract.items.iter().enumerate() {
            let line_value = if contract.items.len() == 1 { contract.value.as_ref() } else { None };
            let item_path = format!("{path}.items[{item_idx}]");
            self.push_line(award_id, item_idx, item, line_value, line, &item_path, data);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push_line(
        &self,
        award_id: &str,
        item_idx: usize,
        item: &Item,
        whole_value: Option<&Amount>,
        line: i64,
        path: &str,
        data: &mut OcdsData,
    ) {
        let classification = item.classification.clone().unwrap_or_default();
        let item_id = text(&item.id).unwrap_or_else(|| item_idx.to_string());
        let scheme = text(&classification.scheme);
        // SECOP gives the UNSPSC class as the item id and no classification id.
        let item_code = text(&classification.id).or_else(|| {
            let is_unspsc = scheme.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("UNSPSC"));
            text(&item.id).filter(|id| is_unspsc && id.len() >= 6 && id.bytes().all(|b| b.is_ascii_digit()))
        });
        let description = text(&item.description).or_else(|| text(&classification.description));
        let quantity = number(&item.quantity);
        let unit_value = item.unit.as_ref().and_then(|unit| unit.value.clone());
        let unit_amount = unit_value.as_ref().and_then(|v| number(&v.amount));
        let value = match (unit_amount, quantity) {
            (Some(unit), Some(quantity)) => Some(unit * quantity),
            (Some(unit), None) => Some(unit),
            _ => whole_value.and_then(|v| number(&v.amount)),
        };
        let currency_text =
            unit_value.as_ref().and_then(|v| text(&v.currency)).or(whole_value.and_then(|v| text(&v.currency)));
        let currency = currency_text.as_deref().and_then(|c| parse_currency(c).ok());
        let award_date = self.award_date.and_then(|d| parse_date(d.trim()).ok());
        let supplier = self.suppliers.first();
        let mut extra = crate::records::Extra::new();
        if let Some(ocid) = self.ocid {
            extra.insert("ocid".to_owned(), ocid.to_owned());
        }
        extra.insert("award_id".to_owned(), award_id.to_owned());
        if let Some(scheme) = scheme {
            extra.insert("classification_scheme".to_owned(), scheme);
        }
        if self.suppliers.len() > 1 {
            let others: Vec<&str> = self.suppliers[1..].iter().map(|s| s.supplier_id.as_str()).collect();
            extra.insert("other_supplier_ids".to_owned(), others.join("|"));
        }
        if let (Some(text), None) = (&currency_text, &currency) {
            extra.insert("currency_as_published".to_owned(), text.clone());
        }
        let mut record = ProcurementLine {
            procurement_id: self.procurement_id.to_owned(),
            line_id: format!("{award_id}/{item_id}"),
            buyer: self.buyer.map(str::to_owned),
            supplier_id: supplier.map(|s| s.supplier_id.clone()),
            supplier_name: supplier.map(|s| s.name.clone()),
            supplier_tax_id: supplier.and_then(|s| s.tax_id.clone()),
            supplier_tax_id_key: None,
            item_description: description,
            item_code,
            origin_country: None,
            origin_region: None,
            origin_region_code: None,
            quantity,
            value,
            currency,
            award_date,
            agency_ids: Vec::new(),
            extra,
        };
        record.derive();
        // Two items with the same id in one award are two lines.
        if !data.line_ids_of_release.insert(record.line_id.clone()) {
            record.line_id = format!("{award_id}/{item_id}#{item_idx}");
            data.line_ids_of_release.insert(record.line_id.clone());
        }
        data.lines.push(Located { line, path: path.to_owned(), record });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_package_gives_suppliers_and_awarded_lines() {
        let package = serde_json::json!({
            "releases": [{
                "ocid": "ocds-test-1",
                "id": "r1",
                "buyer": {"id": "B", "name": "Ministerio Ficticio"},
                "parties": [
                    {"id": "S1", "name": "Ejemplo S.A.", "roles": ["supplier"],
                     "identifier": {"scheme": "PY-RUC", "id": "80002612-8"}},
                    {"id": "T1", "name": "Otro Postor SRL", "roles": ["tenderer"]}
                ],
                "tender": {"items": [{"id": "x", "description": "no adjudicado"}]},
                "awards": [
                    {"id": "A1", "status": "active", "date": "2020-03-04T10:00:00Z",
                     "suppliers": [{"id": "S1", "name": "Ejemplo S.A."}],
                     "items": [
                        {"id": 1, "description": "Azúcar refinada", "quantity": "10",
                         "classification": {"scheme": "UNSPSC", "id": "50161509"},
                         "unit": {"value": {"amount": 2.5, "currency": "PYG"}}},
                        {"id": 2, "description": "Café", "quantity": 1}
                     ]},
                    {"id": "A2", "status": "cancelled", "items": [{"id": 9}]}
                ]
            }, 42, [1, 2]]
        });
        let data = parse(package.to_string().as_bytes()).unwrap();
        assert_eq!(data.suppliers.len(), 2);
        let supplier = &data.suppliers[0].record;
        assert_eq!((supplier.supplier_id.as_str(), supplier.country.as_deref()), ("PY-80002612-8", Some("PY")));
        assert_eq!(data.lines.len(), 2);
        let line = &data.lines[0];
        assert_eq!(line.path, "releases[0].awards[0].items[0]");
        assert_eq!(line.record.line_id, "A1/1");
        assert_eq!(line.record.supplier_id.as_deref(), Some("PY-80002612-8"));
        assert_eq!(line.record.value, Some(25.0));
        assert_eq!(line.record.currency.as_deref(), Some("PYG"));
        assert_eq!(line.record.buyer.as_deref(), Some("Ministerio Ficticio"));
        assert_eq!(line.record.award_date.map(|d| d.to_string()).as_deref(), Some("2020-03-04"));
        assert_eq!(data.rejected.len(), 2);
        assert_eq!((data.rejected[0].line, data.rejected[0].field.as_str()), (2, "releases[1]"));
        assert_eq!((data.rejected[1].line, data.rejected[1].field.as_str()), (3, "releases[2]"));
    }

    #[test]
    fn a_contract_supplier_written_as_one_object_is_read() {
        // As Paraguay's DNCP publishes its contract releases.
        let text = r#"{"ocid":"ocds-03ad3f-1","id":"r1","contracts":[{"id":"c1","awardID":"a1","status":"active",
            "suppliers":{"name":"DATA LAB SA","identifier":{"id":"80030218-4","scheme":"PY-RUC"}},
            "items":[{"id":"i1","description":"Computadoras"}]}]}"#;
        let data = parse(text.as_bytes()).unwrap();
        assert!(data.rejected.is_empty(), "{:?}", data.rejected);
        assert_eq!(data.lines.len(), 1);
        assert_eq!(data.lines[0].record.supplier_name.as_deref(), Some("DATA LAB SA"));
    }

    #[test]
    fn json_lines_and_bad_lines() {
        let text =
            "{\"ocid\":\"o1\",\"awards\":[{\"id\":\"a\",\"items\":[{\"id\":\"i\"}]}]}\nnot json\n\n{\"ocid\":\"o2\"}\n";
        let data = parse(text.as_bytes()).unwrap();
        assert_eq!(data.lines.len(), 1);
        assert_eq!(data.rejected.len(), 1);
        assert_eq!(data.rejected[0].line, 2);
        assert_eq!(data.n_releases, 2);
    }

    #[test]
    fn garbage_never_panics() {
        for input in [
            &b""[..],
            b"   ",
            b"null",
            b"[[[]]]",
            b"{\"releases\": 3}",
            b"{\"awards\": [1, {\"items\": 5}]}",
            b"\xff\xfe",
        ] {
            let _ = parse(input);
        }
        let deep = "[".repeat(10_000);
        let _ = parse(deep.as_bytes());
    }

    #[test]
    fn identifier_schemes_give_countries() {
        assert_eq!(scheme_country("PY-RUC"), Some("PY"));
        assert_eq!(scheme_country("CO-NIT"), Some("CO"));
        assert_eq!(scheme_country("Nit de Persona Jurídica"), Some("CO"));
        assert_eq!(
            scheme_country(
                "Registro Único de Contribuyente emitido por el Ministerio de Hacienda del Gobierno de Paraguay"
            ),
            Some("PY")
        );
        assert_eq!(scheme_country("XI-LEI"), None);
    }
}
