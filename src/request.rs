//! Records as API clients send them, read with the parsers of a CSV cell.
//!
//! A JSON record (a supplier, an agency, a procurement line) is read field by field
//! through its kind's schema table, so `"Perú"`, `"PER"` and `"pe"` become `PE`,
//! `"09/03/2023"` a date, `"1.234,5"` a number and `"sí"` true, exactly as in a CSV
//! file. A value that cannot be read is an [`InvalidField`] naming the field (as a path
//! into the body, `lines[2].origin_country`) and the value; every bad field of a body is
//! reported, not the first. Derived fields (`tax_id_key`, `region_code`) are computed
//! here, never taken from the client.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::lang::Lang;
use crate::records::{Agency, FieldType, Origin, ProcurementLine, Record, Supplier};
use crate::service::ScreeningRequest;

/// One field of a request body that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct InvalidField {
    /// Where the field is in the body: `supplier.country`, `lines[0].award_date`.
    pub field: String,
    /// The value as sent (JSON text for a value that is not a string).
    pub value: String,
    /// Why it cannot be read, naming the value.
    pub reason: String,
}

impl std::fmt::Display for InvalidField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Every field of a body that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldErrors(pub Vec<InvalidField>);

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let messages: Vec<String> = self.0.iter().map(InvalidField::to_string).collect();
        f.write_str(&messages.join("; "))
    }
}

impl std::error::Error for FieldErrors {}

impl FieldErrors {
    fn push(&mut self, field: impl Into<String>, value: &Value, reason: impl Into<String>) {
        let value = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        self.0.push(InvalidField { field: field.into(), value, reason: reason.into() });
    }
}

impl ScreeningRequest {
    /// Reads a screening request from its JSON body, every record field through the
    /// parser of its CSV cell; fails naming every field that cannot be read (and any
    /// field the request does not have).
    pub fn parse(body: Value) -> Result<ScreeningRequest, FieldErrors> {
        let mut errors = FieldErrors::default();
        let body = match body {
            Value::Object(body) => body,
            other => {
                errors.push("", &other, "a screening request is a JSON object");
                return Err(errors);
            }
        };
        let mut request = ScreeningRequest::default();
        for (key, value) in body {
            match key.as_str() {
                "supplier" if value.is_null() => {}
                "supplier" => request.supplier = parse_record::<Supplier>(value, "supplier", &mut errors),
                "lines" => request.lines = parse_records::<ProcurementLine>(value, "lines", &mut errors),
                "agencies" => request.agencies = parse_records::<Agency>(value, "agencies", &mut errors),
                "lang" => match value.as_str().map(|tag| (tag, Lang::parse(tag))) {
                    Some((_, Some(lang))) => request.lang = Some(lang),
                    Some((tag, None)) => errors.push(key.clone(), &value, Lang::unknown(tag)),
                    None => errors.push(key.clone(), &value, "must be a language code (es, pt, en)"),
                },
                _ => errors.push(
                    key.clone(),
                    &value,
                    "is not a field of a screening request (supplier, lines, agencies, lang)",
                ),
            }
        }
        if errors.0.is_empty() { Ok(request) } else { Err(errors) }
    }
}

/// Reads a JSON array of records of one kind.
fn parse_records<R: Record>(value: Value, path: &str, errors: &mut FieldErrors) -> Vec<R> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .filter_map(|(idx, item)| parse_record(item, &format!("{path}[{idx}]"), errors))
            .collect(),
        other => {
            errors.push(path, &other, format!("must be an array of {} records", R::KIND));
            Vec::new()
        }
    }
}

/// Reads one JSON record of kind `R`, each field as its CSV cell would be read, and
/// computes its derived fields. Reports each bad field under `path`.
pub fn parse_record<R: Record>(value: Value, path: &str, errors: &mut FieldErrors) -> Option<R> {
    let fields = match value {
        Value::Object(fields) => fields,
        other => {
            errors.push(path, &other, format!("must be an object (a {} record)", R::KIND));
            return None;
        }
    };
    let n_errors = errors.0.len();
    let schema = R::KIND.fields();
    let mut object = Map::new();
    for (name, value) in fields {
        let field_path = format!("{path}.{name}");
        if name == "extra" {
            match &value {
                Value::Object(extra) if extra.values().all(Value::is_string) => {
                    object.insert(name, value);
                }
                _ => errors.push(field_path, &value, "must be an object of text values"),
            }
            continue;
        }
        let Some(field) = schema.iter().find(|field| field.name == name) else {
            let known: Vec<&str> = R::KIND.csv_columns().chain(["extra"]).collect();
            errors.push(field_path, &value, format!("is not a field of {} ({})", R::KIND, known.join(", ")));
            continue;
        };
        if field.origin == Origin::Derived {
            errors.push(field_path, &value, "is computed by cadena from the other fields; leave it out");
            continue;
        }
        match parse_value(field.ty, field.required, &value) {
            Ok(Some(parsed)) => {
                object.insert(name, parsed);
            }
            Ok(None) => {}
            Err(reason) => errors.push(field_path, &value, reason),
        }
    }
    if errors.0.len() > n_errors {
        return None;
    }
    match serde_json::from_value::<R>(Value::Object(object)) {
        Ok(mut record) => {
            record.derive();
            Some(record)
        }
        Err(err) => {
            errors.push(path, &Value::Null, err.to_string());
            None
        }
    }
}

/// Reads one JSON value of a field: a string as its CSV cell (trimmed; empty is absent,
/// except for a required text field, whose emptiness the caller reports), a number for a
/// number, a boolean for yes/no and an array of strings for a list as themselves; null is
/// absent, except for a required field (an id or a name).
fn parse_value(ty: FieldType, required: bool, value: &Value) -> Result<Option<Value>, String> {
    match (ty, value) {
        (_, Value::Null) if required => Err("must not be null".to_owned()),
        (_, Value::Null) => Ok(None),
        (FieldType::Text, Value::String(text)) if required => Ok(Some(Value::String(text.trim().to_owned()))),
        (_, Value::String(text)) if text.trim().is_empty() => Ok(None),
        (_, Value::String(text)) => ty.parse(text.trim()).map(Some),
        (FieldType::Number, Value::Number(_)) | (FieldType::Bool, Value::Bool(_)) => Ok(Some(value.clone())),
        (FieldType::List, Value::Array(items)) => {
            let mut list = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(text) if text.trim().is_empty() => {}
                    Value::String(text) => list.push(Value::String(text.trim().to_owned())),
                    other => return Err(format!("{other} is not text (a list holds text values)")),
                }
            }
            Ok(Some(Value::Array(list)))
        }
        (_, other) => Err(format!("{other} is not {}", expected(ty))),
    }
}

/// What a field of a type takes, for messages.
fn expected(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Text => "text",
        FieldType::List => "a list of text values (or one text with `|` between values)",
        FieldType::Country => "a country (a text such as PE, PER or Perú)",
        FieldType::Date => "a date (a text such as 2024-03-09 or 09/03/2024)",
        FieldType::Number => "a number",
        FieldType::Bool => "yes or no (true, false or a text such as sí or no)",
        FieldType::Currency => "a currency code (a text such as PEN)",
        FieldType::LicenceStatus => "a licence status (a text such as active or vigente)",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn record_fields_are_read_as_csv_cells() {
        let request = ScreeningRequest::parse(json!({
            "supplier": { "name": " Carvoaria Imaginaria ", "country": "Brasil", "region": "Pará",
                "migrant_workers_pct": "12,5", "charges_worker_fees": "sí", "products": "carvão | gado",
                "tax_id": "12.345.678/0001-95" },
            "lines": [{ "procurement_id": "P", "line_id": "1", "origin_country": "Perú",
                "origin_region": "Madre de Dios", "award_date": "09/03/2024", "value": "1.234,5",
                "currency": "pen", "agency_ids": [" A-1 ", ""] }],
            "agencies": [{ "agency_id": "A-1", "name": "Agencia", "country": "pe",
                "licence_status": "Vigente", "licence_expires": "2025-01-31" }]
        }))
        .unwrap();
        let supplier = request.supplier.unwrap();
        assert_eq!(supplier.name, "Carvoaria Imaginaria");
        assert_eq!(supplier.country.as_deref(), Some("BR"));
        assert_eq!(supplier.region_code.as_deref(), Some("BR-PA"));
        assert_eq!(supplier.migrant_workers_pct, Some(12.5));
        assert_eq!(supplier.charges_worker_fees, Some(true));
        assert_eq!(supplier.products, vec!["carvão", "gado"]);
        assert_eq!(supplier.tax_id_key.as_deref(), Some("12345678000195"));
        let line = &request.lines[0];
        assert_eq!(line.origin_country.as_deref(), Some("PE"));
        assert_eq!(line.origin_region_code.as_deref(), Some("PE-MDD"));
        assert_eq!(line.award_date.map(|date| date.to_string()).as_deref(), Some("2024-03-09"));
        assert_eq!((line.value, line.currency.as_deref()), (Some(1234.5), Some("PEN")));
        assert_eq!(line.agency_ids, vec!["A-1"]);
        let agency = &request.agencies[0];
        assert_eq!((agency.country.as_deref(), agency.licence_status.as_deref()), (Some("PE"), Some("active")));
    }

    #[test]
    fn every_bad_field_is_named_with_its_value() {
        let errors = ScreeningRequest::parse(json!({
            "supplier": { "name": "X", "country": "Narnia", "tax_id_key": "1", "colour": "red", "extra": null },
            "lines": [{ "procurement_id": "P", "line_id": "1" }, { "procurement_id": "P", "line_id": "2",
                "award_date": "soon", "quantity": true }],
            "suplier": {}
        }))
        .unwrap_err();
        let mut named: Vec<(&str, &str)> =
            errors.0.iter().map(|error| (error.field.as_str(), error.value.as_str())).collect();
        named.sort_unstable();
        assert_eq!(
            named,
            vec![
                ("lines[1].award_date", "soon"),
                ("lines[1].quantity", "true"),
                ("suplier", "{}"),
                ("supplier.colour", "red"),
                ("supplier.country", "Narnia"),
                ("supplier.extra", "null"),
                ("supplier.tax_id_key", "1"),
            ]
        );
        assert!(errors.to_string().contains("supplier.country: \"Narnia\" is not an ISO 3166-1 country"), "{errors}");
        let errors = ScreeningRequest::parse(json!({ "lines": [{ "line_id": "1" }] })).unwrap_err();
        assert_eq!(errors.to_string(), "lines[0]: missing field `procurement_id`");
        let errors = ScreeningRequest::parse(json!({ "supplier": { "name": 3 } })).unwrap_err();
        assert_eq!(errors.to_string(), "supplier.name: 3 is not text");
    }
}
