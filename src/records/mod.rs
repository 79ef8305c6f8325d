//! The records cadena keeps: suppliers, recruitment agencies, procurement lines,
//! watchlist entries and licence-register entries.
//!
//! Each kind is a typed struct (what the rest of the code reads) plus one schema table
//! of [`Field`]s (what CSV validation, the SQL columns and the content hash are driven
//! by). A CSV row becomes a record through [`parse_row`]; columns the schema does not
//! know are kept in the record's `extra` attributes, never rejected.

pub mod fields;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use fields::FieldType;

/// The record kinds, as named on the command line (`cadena ingest suppliers …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// Entities linked to forced labour, trafficking, unlicensed recruitment or debarment.
    #[value(alias = "watchlists")]
    Watchlist,
    #[value(alias = "supplier")]
    Suppliers,
    /// Recruitment and placement agencies (OAS WP3 ¶39–40).
    #[value(alias = "agency")]
    Agencies,
    /// Procurement lines, one per item bought.
    #[value(alias = "procurement")]
    Procurements,
    /// The licence register: the allow-list of licensed recruitment agencies.
    #[value(alias = "licence", alias = "licenses", alias = "license")]
    Licences,
}

impl RecordKind {
    pub const ALL: [RecordKind; 5] = [
        RecordKind::Watchlist,
        RecordKind::Suppliers,
        RecordKind::Agencies,
        RecordKind::Procurements,
        RecordKind::Licences,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Watchlist => "watchlist",
            RecordKind::Suppliers => "suppliers",
            RecordKind::Agencies => "agencies",
            RecordKind::Procurements => "procurements",
            RecordKind::Licences => "licences",
        }
    }

    pub fn parse(name: &str) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The SQL table holding records of this kind.
    pub fn table(self) -> &'static str {
        match self {
            RecordKind::Watchlist => "watchlist_entries",
            RecordKind::Suppliers => "suppliers",
            RecordKind::Agencies => "agencies",
            RecordKind::Procurements => "procurement_lines",
            RecordKind::Licences => "licences",
        }
    }

    /// The schema of this kind: every field, in column order.
    pub fn fields(self) -> &'static [Field] {
        match self {
            RecordKind::Watchlist => WATCHLIST_FIELDS,
            RecordKind::Suppliers => SUPPLIER_FIELDS,
            RecordKind::Agencies => AGENCY_FIELDS,
            RecordKind::Procurements => PROCUREMENT_FIELDS,
            RecordKind::Licences => LICENCE_FIELDS,
        }
    }

    /// The fields that identify a record within its source; re-ingesting a row with the
    /// same key updates the record instead of adding another.
    pub fn key_fields(self) -> &'static [&'static str] {
        match self {
            RecordKind::Watchlist => &["entity_id"],
            RecordKind::Suppliers => &["supplier_id"],
            RecordKind::Agencies => &["agency_id"],
            RecordKind::Procurements => &["procurement_id", "line_id"],
            RecordKind::Licences => &["licence_number"],
        }
    }

    /// The CSV columns this kind knows, in documented order.
    pub fn csv_columns(self) -> impl Iterator<Item = &'static str> {
        self.fields().iter().filter(|f| f.origin == Origin::Csv).map(|f| f.name)
    }
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One field of a record kind's schema.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
    /// A required field must be a column of the file and non-empty in every row.
    pub required: bool,
    pub origin: Origin,
}

/// Where a field's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A CSV column of the same name.
    Csv,
    /// Computed from other fields by [`Record::derive`] (for example `tax_id_key`).
    Derived,
}

const fn csv(name: &'static str, ty: FieldType) -> Field {
    Field { name, ty, required: false, origin: Origin::Csv }
}

const fn required(name: &'static str) -> Field {
    Field { name, ty: FieldType::Text, required: true, origin: Origin::Csv }
}

const fn derived(name: &'static str) -> Field {
    Field { name, ty: FieldType::Text, required: false, origin: Origin::Derived }
}

use FieldType::{Bool, Country, Currency, Date, LicenceStatus, List, Number, Text};

const WATCHLIST_FIELDS: &[Field] = &[
    required("entity_id"),
    csv("list", Text),
    required("name"),
    csv("aliases", List),
    csv("tax_id", Text),
    derived("tax_id_key"),
    csv("country", Country),
    csv("reason", Text),
    csv("listed_on", Date),
    csv("source_url", Text),
];

const SUPPLIER_FIELDS: &[Field] = &[
    required("supplier_id"),
    required("name"),
    csv("aliases", List),
    csv("tax_id", Text),
    derived("tax_id_key"),
    csv("country", Country),
    csv("region", Text),
    derived("region_code"),
    csv("sector", Text),
    csv("products", List),
    csv("agency_ids", List),
    csv("charges_worker_fees", Bool),
    csv("retains_identity_documents", Bool),
    csv("migrant_workers_pct", Number),
    csv("agency_workers_pct", Number),
    csv("subcontracting_depth", Number),
    csv("has_code_of_conduct", Bool),
    csv("has_grievance_mechanism", Bool),
    csv("public_official_linked", Bool),
    csv("forced_labour_finding", Bool),
    csv("credible_social_audit", Bool),
    csv("certified_recruiter", Bool),
];

const AGENCY_FIELDS: &[Field] = &[
    required("agency_id"),
    required("name"),
    csv("aliases", List),
    csv("tax_id", Text),
    derived("tax_id_key"),
    csv("country", Country),
    csv("region", Text),
    derived("region_code"),
    csv("licence_number", Text),
    csv("licence_status", LicenceStatus),
    csv("licence_expires", Date),
    csv("charges_worker_fees", Bool),
];

const PROCUREMENT_FIELDS: &[Field] = &[
    required("procurement_id"),
    required("line_id"),
    csv("buyer", Text),
    csv("supplier_id", Text),
    csv("supplier_name", Text),
    csv("supplier_tax_id", Text),
    derived("supplier_tax_id_key"),
    csv("item_description", Text),
    csv("item_code", Text),
    csv("origin_country", Country),
    csv("origin_region", Text),
    derived("origin_region_code"),
    csv("quantity", Number),
    csv("value", Number),
    csv("currency", Currency),
    csv("award_date", Date),
    csv("agency_ids", List),
];

const LICENCE_FIELDS: &[Field] = &[
    required("licence_number"),
    required("holder_name"),
    csv("tax_id", Text),
    derived("tax_id_key"),
    csv("country", Country),
    csv("status", LicenceStatus),
    csv("issued_on", Date),
    csv("expires_on", Date),
    csv("authority", Text),
];

/// Attributes from CSV columns that the schema does not know, by column name.
pub type Extra = BTreeMap<String, String>;

/// A typed record of one kind. The struct's fields are exactly the kind's schema
/// fields plus `extra`; the round-trip tests in this module keep the two in step.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    const KIND: RecordKind;

    /// Computes the [`Origin::Derived`] fields from the others.
    fn derive(&mut self);
}

/// An entity on a forced-labour, trafficking, unlicensed-recruitment or debarment list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchlistEntry {
    pub entity_id: String,
    /// The list the entity is on, such as "CBP WRO" or "Lista Suja".
    pub list: Option<String>,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The tax id as written in the source, kept for display.
    pub tax_id: Option<String>,
    /// The tax id reduced to letters and digits, for exact comparison.
    #[serde(default)]
    pub tax_id_key: Option<String>,
    pub country: Option<String>,
    pub reason: Option<String>,
    pub listed_on: Option<NaiveDate>,
    pub source_url: Option<String>,
    #[serde(default)]
    pub extra: Extra,
}

/// A supplier that a public buyer may award a contract to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Supplier {
    /// The supplier's id in its source; a name-only screening may leave it out (then
    /// no reviewer's decision can apply to it).
    #[serde(default)]
    pub supplier_id: String,
    /// Not blank, at most 500 characters.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub tax_id: Option<String>,
    #[serde(default)]
    /// Derived from the other fields when the record is read (not part of a request).
    #[schema(ignore)]
    pub tax_id_key: Option<String>,
    pub country: Option<String>,
    /// The region as written; `region_code` is its ISO 3166-2 code when recognised.
    pub region: Option<String>,
    #[serde(default)]
    /// Derived from the other fields when the record is read (not part of a request).
    #[schema(ignore)]
    pub region_code: Option<String>,
    pub sector: Option<String>,
    /// Product descriptions or codes the supplier sells.
    #[serde(default)]
    pub products: Vec<String>,
    /// The recruitment agencies the supplier uses, by `agency_id`.
    #[serde(default)]
    pub agency_ids: Vec<String>,
    // The supplier's labour profile, declared by the supplier or found by a buyer or an
    // inspector. Each is `None` when not known, which the risk rules report as a data
    // gap to ask the supplier about rather than treating it as good news.
    /// Whether workers pay recruitment fees or related costs (OAS WP3 ¶39, ILO C181 Art. 7).
    #[serde(default)]
    pub charges_worker_fees: Option<bool>,
    /// Whether the supplier or its agents keep workers' passports or identity documents.
    #[serde(default)]
    pub retains_identity_documents: Option<bool>,
    /// Share of the workforce that are migrant workers, in percent (0–100).
    #[serde(default)]
    pub migrant_workers_pct: Option<f64>,
    /// Share of the workforce hired through recruitment or staffing agencies, in percent.
    #[serde(default)]
    pub agency_workers_pct: Option<f64>,
    /// How many tiers of subcontractors stand between the supplier and the work (0: none).
    #[serde(default)]
    pub subcontracting_depth: Option<f64>,
    /// Whether the supplier has a code of conduct protecting workers along its supply chain (¶38).
    #[serde(default)]
    pub has_code_of_conduct: Option<bool>,
    /// Whether workers can raise complaints through a grievance mechanism (¶38).
    #[serde(default)]
    pub has_grievance_mechanism: Option<bool>,
    /// Whether a public official is linked to the supplier or to trafficking through it (¶36).
    #[serde(default)]
    pub public_official_linked: Option<bool>,
    /// Whether a court, labour inspection or other authority found trafficking or forced labour.
    #[serde(default)]
    pub forced_labour_finding: Option<bool>,
    /// Whether an independent social audit in the last two years found no forced-labour indicators.
    #[serde(default)]
    pub credible_social_audit: Option<bool>,
    /// Whether the supplier recruits only through recruiters certified for fair recruitment.
    #[serde(default)]
    pub certified_recruiter: Option<bool>,
    /// Columns beyond the known ones, kept as written.
    #[serde(default)]
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub extra: Extra,
}

/// A recruitment or placement agency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Agency {
    pub agency_id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub tax_id: Option<String>,
    #[serde(default)]
    /// Derived from the other fields when the record is read (not part of a request).
    #[schema(ignore)]
    pub tax_id_key: Option<String>,
    pub country: Option<String>,
    pub region: Option<String>,
    #[serde(default)]
    /// Derived from the other fields when the record is read (not part of a request).
    #[schema(ignore)]
    pub region_code: Option<String>,
    /// The licence the agency claims; the licence register says whether it holds.
    pub licence_number: Option<String>,
    pub licence_status: Option<String>,
    /// `YYYY-MM-DD`.
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub licence_expires: Option<NaiveDate>,
    /// Whether workers pay recruitment fees (OAS WP3 ¶39); `None` when not known.
    pub charges_worker_fees: Option<bool>,
    /// Columns beyond the known ones, kept as written.
    #[serde(default)]
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub extra: Extra,
}

/// One line (one item) of a procurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProcurementLine {
    pub procurement_id: String,
    pub line_id: String,
    pub buyer: Option<String>,
    /// The supplier by id, name or tax id, whichever the buyer's system exports.
    pub supplier_id: Option<String>,
    pub supplier_name: Option<String>,
    pub supplier_tax_id: Option<String>,
    #[serde(default)]
    /// Derived from the other fields when the record is read (not part of a request).
    #[schema(ignore)]
    pub supplier_tax_id_key: Option<String>,
    pub item_description: Option<String>,
    /// A classification code such as UNSPSC.
    pub item_code: Option<String>,
    pub origin_country: Option<String>,
    pub origin_region: Option<String>,
    #[serde(default)]
    /// Derived from the other fields when the record is read (not part of a request).
    #[schema(ignore)]
    pub origin_region_code: Option<String>,
    pub quantity: Option<f64>,
    pub value: Option<f64>,
    pub currency: Option<String>,
    /// `YYYY-MM-DD`.
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub award_date: Option<NaiveDate>,
    #[serde(default)]
    pub agency_ids: Vec<String>,
    /// Columns beyond the known ones, kept as written.
    #[serde(default)]
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub extra: Extra,
}

/// An entry of a recruitment-agency licence register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LicenceEntry {
    pub licence_number: String,
    pub holder_name: String,
    pub tax_id: Option<String>,
    #[serde(default)]
    pub tax_id_key: Option<String>,
    pub country: Option<String>,
    pub status: Option<String>,
    pub issued_on: Option<NaiveDate>,
    pub expires_on: Option<NaiveDate>,
    /// The authority that issued the licence, such as a ministry of labour.
    pub authority: Option<String>,
    #[serde(default)]
    pub extra: Extra,
}

fn region_code_of(country: &Option<String>, region: &Option<String>) -> Option<String> {
    fields::region_code(country.as_deref(), region.as_deref()?)
}

fn tax_id_key_of(tax_id: &Option<String>) -> Option<String> {
    fields::tax_id_key(tax_id.as_deref()?)
}

impl Record for WatchlistEntry {
    const KIND: RecordKind = RecordKind::Watchlist;
    fn derive(&mut self) {
        self.tax_id_key = tax_id_key_of(&self.tax_id);
    }
}

impl Record for Supplier {
    const KIND: RecordKind = RecordKind::Suppliers;
    fn derive(&mut self) {
        self.tax_id_key = tax_id_key_of(&self.tax_id);
        self.region_code = region_code_of(&self.country, &self.region);
    }
}

impl Record for Agency {
    const KIND: RecordKind = RecordKind::Agencies;
    fn derive(&mut self) {
        self.tax_id_key = tax_id_key_of(&self.tax_id);
        self.region_code = region_code_of(&self.country, &self.region);
    }
}

impl Record for ProcurementLine {
    const KIND: RecordKind = RecordKind::Procurements;
    fn derive(&mut self) {
        self.supplier_tax_id_key = tax_id_key_of(&self.supplier_tax_id);
        self.origin_region_code = region_code_of(&self.origin_country, &self.origin_region);
    }
}

impl Record for LicenceEntry {
    const KIND: RecordKind = RecordKind::Licences;
    fn derive(&mut self) {
        self.tax_id_key = tax_id_key_of(&self.tax_id);
    }
}

/// What is wrong with one field of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Where each column of a file goes: a schema field, or an extra attribute.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    /// For each schema field of the kind, the index of its column in the file.
    field_columns: Vec<(Field, Option<usize>)>,
    /// Columns the schema does not know: (index, header name).
    extra_columns: Vec<(usize, String)>,
}

impl ColumnMap {
    /// Maps a file's header onto a kind's schema. Header names are compared after
    /// trimming, lower-casing, removing accents and turning spaces, hyphens, slashes and
    /// dots into underscores, so `Supplier ID` is `supplier_id`; a column that is no
    /// field's name but a known Spanish, Portuguese or English name for one
    /// ([`header_aliases`]: `Razón Social`, `RUC`, `CNPJ`, `país`, …) maps onto that field
    /// when no column has the field's own name. Fails, naming every missing column, when
    /// a required column is absent.
    pub fn new(kind: RecordKind, header: &[String]) -> Result<ColumnMap, Vec<&'static str>> {
        ColumnMap::with_map(kind, header, &[])
    }

    /// As [`ColumnMap::new`], with the columns of `map` (header name, field name) sent to
    /// those fields first, as `--map 'Razón Social=name'` asks. Unknown field names in
    /// `map` are ignored here; [`check_column_map`] reports them.
    pub fn with_map(
        kind: RecordKind,
        header: &[String],
        map: &[(String, String)],
    ) -> Result<ColumnMap, Vec<&'static str>> {
        let names: Vec<String> = header.iter().map(|name| normalise_header(name)).collect();
        let csv_fields: Vec<Field> =
            kind.fields().iter().filter(|field| field.origin == Origin::Csv).copied().collect();
        let claimed = claim_columns(kind, &names, map);
        let field_columns: Vec<(Field, Option<usize>)> = csv_fields
            .iter()
            .map(|field| (*field, claimed.iter().position(|claim| *claim == Some(field.name))))
            .collect();
        let missing: Vec<&'static str> = field_columns
            .iter()
            .filter(|(field, column)| field.required && column.is_none())
            .map(|(field, _)| field.name)
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        // Extra attributes keep their names as written (lower case, `_` for spaces).
        let extra_columns = header
            .iter()
            .enumerate()
            .filter(|(idx, _)| !names[*idx].is_empty() && claimed[*idx].is_none())
            .map(|(idx, name)| {
                (idx, name.trim().trim_start_matches('\u{feff}').to_lowercase().replace([' ', '-'], "_"))
            })
            .collect();
        Ok(ColumnMap { field_columns, extra_columns })
    }

    /// Whether a header has a column for `field` of `kind` (by the operator's map, the
    /// field's own name or an alias), whatever else the header lacks: how a file's kind
    /// is told from its header.
    pub fn has_column_for(kind: RecordKind, header: &[String], map: &[(String, String)], field: &str) -> bool {
        let names: Vec<String> = header.iter().map(|name| normalise_header(name)).collect();
        claim_columns(kind, &names, map).contains(&Some(field))
    }

    /// The names of the columns kept as extra attributes.
    pub fn extra_column_names(&self) -> impl Iterator<Item = &str> {
        self.extra_columns.iter().map(|(_, name)| name.as_str())
    }

    /// Which column (by index) each mapped field reads.
    pub fn mapped_fields(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
        self.field_columns.iter().filter_map(|(field, column)| Some((field.name, (*column)?)))
    }
}

/// Which field each column of a header (names normalised) goes to: the operator's map
/// first, then the fields' own names, then the aliases; `None` for an extra column.
fn claim_columns(kind: RecordKind, names: &[String], map: &[(String, String)]) -> Vec<Option<&'static str>> {
    let csv_fields: Vec<Field> = kind.fields().iter().filter(|field| field.origin == Origin::Csv).copied().collect();
    let mut claimed: Vec<Option<&'static str>> = vec![None; names.len()];
    // The operator's map first, then the fields' own names, then the aliases.
    for (column, field_name) in map {
        let column = normalise_header(column);
        let field_name = normalise_header(field_name);
        let field = csv_fields.iter().find(|field| field.name == field_name);
        if let (Some(idx), Some(field)) = (names.iter().position(|name| *name == column), field)
            && !claimed.contains(&Some(field.name))
        {
            claimed[idx] = Some(field.name);
        }
    }
    for field in &csv_fields {
        if claimed.contains(&Some(field.name)) {
            continue;
        }
        if let Some(idx) = names.iter().enumerate().position(|(idx, name)| claimed[idx].is_none() && name == field.name)
        {
            claimed[idx] = Some(field.name);
        }
    }
    for (alias, field_name) in header_aliases(kind) {
        if claimed.contains(&Some(*field_name)) {
            continue;
        }
        if let Some(idx) = names.iter().enumerate().position(|(idx, name)| claimed[idx].is_none() && name == alias) {
            claimed[idx] = Some(field_name);
        }
    }
    claimed
}

/// A column map as an upload or a query parameter writes it, `COLUMN=FIELD;COLUMN=FIELD`,
/// as the entries `--map` takes one by one (empty entries dropped); check them with
/// [`check_column_map`].
pub fn map_entries(text: Option<&str>) -> Vec<String> {
    text.into_iter().flat_map(|text| text.split(';')).filter(|e| !e.trim().is_empty()).map(str::to_owned).collect()
}

/// Parses `--map` entries (`Column Name=field`), checking that each field is a CSV field
/// of the kind; the error names every bad entry and the fields there are.
pub fn check_column_map(kind: RecordKind, entries: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut map = Vec::new();
    let mut problems = Vec::new();
    for entry in entries {
        match entry.rsplit_once('=') {
            Some((column, field)) if kind.csv_columns().any(|name| name == normalise_header(field)) => {
                map.push((column.trim().to_owned(), normalise_header(field)));
            }
            Some((_, field)) => problems.push(format!("{field:?} is not a {kind} field")),
            None => problems.push(format!("{entry:?} is not COLUMN=FIELD")),
        }
    }
    if problems.is_empty() {
        Ok(map)
    } else {
        Err(format!(
            "--map: {} (the {kind} fields: {})",
            problems.join("; "),
            kind.csv_columns().collect::<Vec<_>>().join(", ")
        ))
    }
}

/// Header names that other systems export, in Spanish, Portuguese and English, as
/// normalised by the column map (lower case, no accents, `_` for spaces), with the
/// field each stands for. A field's own name always wins over an alias; of two aliased
/// columns for one field, the alias listed first wins.
pub fn header_aliases(kind: RecordKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        RecordKind::Watchlist => &[
            ("id", "entity_id"),
            ("codigo", "entity_id"),
            ("razon_social", "name"),
            ("razao_social", "name"),
            ("nombre", "name"),
            ("nome", "name"),
            ("denominacion", "name"),
            ("empresa", "name"),
            ("empregador", "name"),
            ("company", "name"),
            ("company_name", "name"),
            ("entity_name", "name"),
            ("lista", "list"),
            ("list_name", "list"),
            ("alias", "aliases"),
            ("aka", "aliases"),
            ("tambien_conocido_como", "aliases"),
            ("ruc", "tax_id"),
            ("nit", "tax_id"),
            ("cnpj", "tax_id"),
            ("cnpj_cpf", "tax_id"),
            ("cpf", "tax_id"),
            ("rut", "tax_id"),
            ("rfc", "tax_id"),
            ("cuit", "tax_id"),
            ("tax_number", "tax_id"),
            ("pais", "country"),
            ("country_name", "country"),
            ("motivo", "reason"),
            ("causa", "reason"),
            ("fecha_de_inclusion", "listed_on"),
            ("fecha_inclusion", "listed_on"),
            ("data_de_inclusao", "listed_on"),
            ("date_listed", "listed_on"),
            ("url", "source_url"),
            ("fuente", "source_url"),
            ("fonte", "source_url"),
        ],
        RecordKind::Suppliers => &[
            ("id", "supplier_id"),
            ("id_proveedor", "supplier_id"),
            ("codigo_proveedor", "supplier_id"),
            ("vendor_id", "supplier_id"),
            ("razon_social", "name"),
            ("razao_social", "name"),
            ("nombre", "name"),
            ("nome", "name"),
            ("nombre_o_razon_social", "name"),
            ("denominacion", "name"),
            ("proveedor", "name"),
            ("fornecedor", "name"),
            ("empresa", "name"),
            ("supplier_name", "name"),
            ("company_name", "name"),
            ("vendor_name", "name"),
            ("alias", "aliases"),
            ("nombre_comercial", "aliases"),
            ("nome_fantasia", "aliases"),
            ("ruc", "tax_id"),
            ("nit", "tax_id"),
            ("cnpj", "tax_id"),
            ("cnpj_cpf", "tax_id"),
            ("rut", "tax_id"),
            ("rfc", "tax_id"),
            ("cuit", "tax_id"),
            ("tax_number", "tax_id"),
            ("vat_number", "tax_id"),
            ("pais", "country"),
            ("country_name", "country"),
            ("departamento", "region"),
            ("provincia", "region"),
            ("estado", "region"),
            ("uf", "region"),
            ("state", "region"),
            ("sector_economico", "sector"),
            ("actividad", "sector"),
            ("rubro", "sector"),
            ("productos", "products"),
            ("produtos", "products"),
        ],
        RecordKind::Agencies => &[
            ("id", "agency_id"),
            ("razon_social", "name"),
            ("razao_social", "name"),
            ("nombre", "name"),
            ("nome", "name"),
            ("agencia", "name"),
            ("agency_name", "name"),
            ("ruc", "tax_id"),
            ("nit", "tax_id"),
            ("cnpj", "tax_id"),
            ("rut", "tax_id"),
            ("rfc", "tax_id"),
            ("cuit", "tax_id"),
            ("pais", "country"),
            ("departamento", "region"),
            ("provincia", "region"),
            ("estado", "region"),
            ("uf", "region"),
            ("numero_de_licencia", "licence_number"),
            ("licencia", "licence_number"),
            ("license_number", "licence_number"),
            ("licence_no", "licence_number"),
            ("license_no", "licence_number"),
            ("rl_no", "licence_number"),
            ("estado_de_licencia", "licence_status"),
            ("license_status", "licence_status"),
            ("vencimiento_licencia", "licence_expires"),
            ("license_expires", "licence_expires"),
        ],
        RecordKind::Procurements => &[
            ("ocid", "procurement_id"),
            ("id_proceso", "procurement_id"),
            ("numero_de_proceso", "procurement_id"),
            ("proceso", "procurement_id"),
            ("item", "line_id"),
            ("linea", "line_id"),
            ("numero_de_item", "line_id"),
            ("item_no", "line_id"),
            ("entidad", "buyer"),
            ("entidad_contratante", "buyer"),
            ("comprador", "buyer"),
            ("orgao", "buyer"),
            ("buyer_name", "buyer"),
            ("id_proveedor", "supplier_id"),
            ("razon_social", "supplier_name"),
            ("razao_social", "supplier_name"),
            ("proveedor", "supplier_name"),
            ("nombre_proveedor", "supplier_name"),
            ("fornecedor", "supplier_name"),
            ("ruc", "supplier_tax_id"),
            ("ruc_proveedor", "supplier_tax_id"),
            ("nit", "supplier_tax_id"),
            ("nit_proveedor", "supplier_tax_id"),
            ("cnpj", "supplier_tax_id"),
            ("rut", "supplier_tax_id"),
            ("rfc", "supplier_tax_id"),
            ("cuit", "supplier_tax_id"),
            ("descripcion", "item_description"),
            ("descricao", "item_description"),
            ("detalle", "item_description"),
            ("description", "item_description"),
            ("unspsc", "item_code"),
            ("codigo_unspsc", "item_code"),
            ("cubso", "item_code"),
            ("pais_de_origen", "origin_country"),
            ("pais_origen", "origin_country"),
            ("pais_de_origem", "origin_country"),
            ("country_of_origin", "origin_country"),
            ("origen", "origin_country"),
            ("region_de_origen", "origin_region"),
            ("cantidad", "quantity"),
            ("quantidade", "quantity"),
            ("qty", "quantity"),
            ("valor", "value"),
            ("monto", "value"),
            ("importe", "value"),
            ("valor_total", "value"),
            ("monto_total", "value"),
            ("amount", "value"),
            ("moneda", "currency"),
            ("moeda", "currency"),
            ("fecha_de_adjudicacion", "award_date"),
            ("fecha_adjudicacion", "award_date"),
            ("data_de_adjudicacao", "award_date"),
        ],
        RecordKind::Licences => &[
            ("numero_de_licencia", "licence_number"),
            ("licencia", "licence_number"),
            ("license_number", "licence_number"),
            ("licence_no", "licence_number"),
            ("license_no", "licence_number"),
            ("rl_no", "licence_number"),
            ("numero_de_registro", "licence_number"),
            ("titular", "holder_name"),
            ("holder", "holder_name"),
            ("agency_name", "holder_name"),
            ("razon_social", "holder_name"),
            ("razao_social", "holder_name"),
            ("nombre", "holder_name"),
            ("name", "holder_name"),
            ("ruc", "tax_id"),
            ("nit", "tax_id"),
            ("cnpj", "tax_id"),
            ("rut", "tax_id"),
            ("rfc", "tax_id"),
            ("cuit", "tax_id"),
            ("pais", "country"),
            ("estado", "status"),
            ("situacion", "status"),
            ("situacao", "status"),
            ("fecha_de_emision", "issued_on"),
            ("issue_date", "issued_on"),
            ("fecha_de_vencimiento", "expires_on"),
            ("vencimiento", "expires_on"),
            ("expiry_date", "expires_on"),
            ("valid_until", "expires_on"),
            ("autoridad", "authority"),
        ],
    }
}

/// A header name as the column map compares it: trimmed, lower case, accents removed,
/// spaces, hyphens, slashes and dots as single underscores (`Razón Social` → `razon_social`,
/// `CNPJ/CPF` → `cnpj_cpf`).
pub fn normalise_header(name: &str) -> String {
    let trimmed = name.trim().trim_start_matches('\u{feff}').trim();
    let folded = if trimmed.is_ascii() { trimmed.to_lowercase() } else { fields::fold(trimmed) };
    let mut out = String::with_capacity(folded.len());
    for c in folded.chars() {
        if matches!(c, ' ' | '-' | '/' | '.' | '_') {
            if !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.push(c);
        }
    }
    out.trim_matches('_').to_owned()
}

/// Validates one row's cells and builds the record, or reports every bad field.
pub fn parse_row<R: Record>(columns: &ColumnMap, cells: &[&str]) -> Result<R, Vec<FieldError>> {
    let cell = |idx: usize| cells.get(idx).map(|c| c.trim()).filter(|c| !c.is_empty());
    let mut object = Map::new();
    let mut errors = Vec::new();
    for (field, column) in &columns.field_columns {
        match (column.and_then(cell), field.required) {
            (None, true) => {
                errors.push(FieldError { field: field.name.to_owned(), reason: "is empty but required".to_owned() })
            }
            (None, false) => {}
            (Some(text), _) => match field.ty.parse(text) {
                Ok(value) => {
                    object.insert(field.name.to_owned(), value);
                }
                Err(reason) => errors.push(FieldError { field: field.name.to_owned(), reason }),
            },
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let extra: Map<String, Value> = columns
        .extra_columns
        .iter()
        .filter_map(|(idx, name)| Some((name.clone(), Value::String(cell(*idx)?.to_owned()))))
        .collect();
    object.insert("extra".to_owned(), Value::Object(extra));
    let mut record: R = serde_json::from_value(Value::Object(object)).map_err(|err| {
        vec![FieldError { field: "row".to_owned(), reason: format!("could not build record: {err}") }]
    })?;
    record.derive();
    Ok(record)
}

/// The key that identifies a record within its source: the key field itself, or for
/// kinds with several key fields a JSON array of them (unambiguous whatever the ids hold).
pub fn record_key(kind: RecordKind, record: &Value) -> String {
    let parts: Vec<&str> = kind.key_fields().iter().map(|name| record[*name].as_str().unwrap_or_default()).collect();
    match parts.as_slice() {
        [single] => (*single).to_owned(),
        _ => serde_json::to_string(&parts).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &str) -> Vec<String> {
        names.split(',').map(str::to_owned).collect()
    }

    /// Every schema field must be a struct field and vice versa, or records would lose
    /// data between CSV, SQL and the code that reads them.
    #[test]
    fn schemas_match_structs() {
        fn check<R: Record>(cells: &[&str]) {
            let names: Vec<String> = R::KIND.csv_columns().map(str::to_owned).collect();
            let columns = ColumnMap::new(R::KIND, &names).unwrap();
            let record: R = parse_row(&columns, cells).unwrap();
            let value = serde_json::to_value(&record).unwrap();
            let mut struct_fields: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
            let mut schema_fields: Vec<&str> = R::KIND.fields().iter().map(|f| f.name).collect();
            schema_fields.push("extra");
            struct_fields.sort_unstable();
            schema_fields.sort_unstable();
            assert_eq!(struct_fields, schema_fields, "{}", R::KIND);
        }
        check::<WatchlistEntry>(&["W1", "CBP", "Ejemplo SAC", "a|b", "20-1", "PE", "r", "2023-01-01", "u"]);
        check::<Supplier>(&[
            "S1",
            "n",
            "",
            "1",
            "PE",
            "Madre de Dios",
            "mining",
            "gold",
            "A1",
            "yes",
            "no",
            "40",
            "10,5",
            "2",
            "sí",
            "no",
            "no",
            "no",
            "yes",
            "no",
        ]);
        check::<Agency>(&["A1", "n", "", "1", "PE", "Lima", "L-1", "vigente", "2025-01-01", "no"]);
        check::<ProcurementLine>(&[
            "P1",
            "1",
            "b",
            "S1",
            "n",
            "1",
            "oro",
            "1010",
            "PE",
            "MDD",
            "2",
            "3,5",
            "PEN",
            "2024-01-01",
            "A1",
        ]);
        check::<LicenceEntry>(&["L-1", "h", "1", "PE", "active", "2020-01-01", "2025-01-01", "MTPE"]);
    }

    #[test]
    fn columns_in_any_order_and_unknown_ones_kept() {
        let columns = ColumnMap::new(RecordKind::Suppliers, &header("Country,NAME,Supplier ID,email")).unwrap();
        let supplier: Supplier = parse_row(&columns, &["pe", " Minera Ficticia SAC ", "S-1", "a@b.example"]).unwrap();
        assert_eq!(supplier.supplier_id, "S-1");
        assert_eq!(supplier.name, "Minera Ficticia SAC");
        assert_eq!(supplier.country.as_deref(), Some("PE"));
        assert_eq!(supplier.extra.get("email").map(String::as_str), Some("a@b.example"));
        assert_eq!(columns.extra_column_names().collect::<Vec<_>>(), vec!["email"]);
    }

    #[test]
    fn spanish_portuguese_and_english_headers_are_recognised() {
        let columns = ColumnMap::new(RecordKind::Suppliers, &header("Razón Social,RUC,País,Código")).unwrap_err();
        assert_eq!(columns, vec!["supplier_id"]);
        let columns =
            ColumnMap::new(RecordKind::Suppliers, &header("ID,Razón Social,RUC,País,Departamento,Teléfono")).unwrap();
        let supplier: Supplier =
            parse_row(&columns, &["S-1", "Ejemplo SAC", "20100070970", "Perú", "Lima", "1"]).unwrap();
        assert_eq!(supplier.name, "Ejemplo SAC");
        assert_eq!(supplier.tax_id.as_deref(), Some("20100070970"));
        assert_eq!(supplier.country.as_deref(), Some("PE"));
        assert_eq!(supplier.region.as_deref(), Some("Lima"));
        assert_eq!(columns.extra_column_names().collect::<Vec<_>>(), vec!["teléfono"]);
        // A field's own name wins over an alias, which is then an extra column.
        let columns = ColumnMap::new(RecordKind::Watchlist, &header("entity_id,Nome,name,CNPJ/CPF")).unwrap();
        let entry: WatchlistEntry = parse_row(&columns, &["W", "apelido", "Nome Oficial", "1"]).unwrap();
        assert_eq!((entry.name.as_str(), entry.tax_id.as_deref()), ("Nome Oficial", Some("1")));
        assert_eq!(entry.extra.get("nome").map(String::as_str), Some("apelido"));
    }

    #[test]
    fn the_operator_map_comes_first() {
        let map =
            check_column_map(RecordKind::Suppliers, &["Cód. Prov=supplier_id".to_owned(), "Firma=Name".to_owned()])
                .unwrap();
        let columns = ColumnMap::with_map(RecordKind::Suppliers, &header("Cód. Prov,Firma,nombre"), &map).unwrap();
        let supplier: Supplier = parse_row(&columns, &["P-9", "Firma Uno", "otro"]).unwrap();
        assert_eq!((supplier.supplier_id.as_str(), supplier.name.as_str()), ("P-9", "Firma Uno"));
        let err = check_column_map(RecordKind::Suppliers, &["x=colour".to_owned(), "nothing".to_owned()]).unwrap_err();
        assert!(
            err.starts_with("--map: \"colour\" is not a suppliers field; \"nothing\" is not COLUMN=FIELD"),
            "{err}"
        );
    }

    #[test]
    fn missing_required_columns_are_all_named() {
        let missing = ColumnMap::new(RecordKind::Procurements, &header("buyer,value")).unwrap_err();
        assert_eq!(missing, vec!["procurement_id", "line_id"]);
    }

    #[test]
    fn every_bad_field_of_a_row_is_reported() {
        let columns = ColumnMap::new(RecordKind::Agencies, &header("agency_id,name,country,licence_expires")).unwrap();
        let errors = parse_row::<Agency>(&columns, &["A-1", "", "Narnia", "soon"]).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["name", "country", "licence_expires"]);
        assert_eq!(errors[0].to_string(), "name: is empty but required");
    }

    #[test]
    fn derived_fields_are_computed() {
        let columns = ColumnMap::new(
            RecordKind::Procurements,
            &header("procurement_id,line_id,supplier_tax_id,origin_country,origin_region"),
        )
        .unwrap();
        let line: ProcurementLine = parse_row(&columns, &["P", "1", "20-123", "PE", "Madre de Dios"]).unwrap();
        assert_eq!(line.supplier_tax_id_key.as_deref(), Some("20123"));
        assert_eq!(line.origin_region_code.as_deref(), Some("PE-MDD"));
    }

    #[test]
    fn composite_keys_are_unambiguous() {
        let a = serde_json::json!({"procurement_id": "a/b", "line_id": "c"});
        let b = serde_json::json!({"procurement_id": "a", "line_id": "b/c"});
        assert_ne!(record_key(RecordKind::Procurements, &a), record_key(RecordKind::Procurements, &b));
        let w = serde_json::json!({"entity_id": "W-1"});
        assert_eq!(record_key(RecordKind::Watchlist, &w), "W-1");
    }
}
