//! The OpenAPI document, generated from the handlers' annotations and the types they
//! exchange, served at `/openapi.json`.
//!
//! Handlers document what is particular to them (their 400s, 404s and 409s, with a
//! description each); [`StandardResponses`] adds, in one place, the answers every
//! operation of a kind can give: 401, 403 and 429 for an operation that needs a key,
//! 413 for one with a body, 408 for all, and the JSON error body of every 4xx.

use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cadena",
        description = "Supply-chain trafficking-risk screening: suppliers, recruitment agencies, procurements.",
        license(name = "No licence has been granted yet: all rights reserved by the cadena authors"),
    ),
    paths(
        super::index,
        super::healthz,
        super::readyz,
        super::metrics::metrics,
        openapi,
        super::list_datasets,
        super::get_dataset,
        super::list_rejected_rows,
        super::ingest::upload,
        super::audits::list,
        super::audits::create,
        super::audits::get,
        super::audits::cancel,
        super::audits::report,
        super::screening::create,
        super::screening::get,
        super::screening::reproduce,
        super::screening::search,
        super::screening::record,
        super::screening::agency_suppliers,
        super::screening::ruleset,
        super::screening::matching,
        super::monitoring::decide,
        super::monitoring::list_decisions,
        super::monitoring::withdraw_decision,
        super::monitoring::list_alerts,
        super::monitoring::get_alert,
        super::monitoring::close_alert,
        super::yente::match_entities,
        super::reconcile::manifest_or_queries,
        super::reconcile::queries_by_form,
        super::reconcile::suggest_entity,
        super::reconcile::preview,
    ),
    components(schemas(
        super::error::ErrorBody,
        super::screening::SearchKind,
        super::screening::RecordLookupKind,
        super::audits::ReportFormat,
        super::audits::ReportRows,
        super::reconcile::ReconcileType,
        crate::import::Format,
        crate::records::RecordKind,
        crate::decisions::DecisionStatus,
        crate::monitoring::AlertStatus,
        crate::monitoring::AlertKind,
    )),
    modifiers(&ApiKeyScheme, &StandardResponses, &RecordFieldsAsCells, &ScreeningNeedsASubject, &MatchRequestQueries)
)]
pub struct ApiDoc;

/// `Authorization: Bearer <key>`, as `cadena keys create` makes them.
struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("An API key from `cadena keys create`"))
            .build();
        components.add_security_scheme("api_key", SecurityScheme::Http(scheme));
    }
}

/// The answers that depend on what an operation is, not on what it does.
struct StandardResponses;

impl Modify for StandardResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                add_standard_responses(operation);
            }
        }
    }
}

fn add_standard_responses(operation: &mut Operation) {
    let needs_key = operation.security.as_ref().is_some_and(|security| !security.is_empty());
    let mut statuses = vec![408];
    if needs_key {
        statuses.extend([401, 403, 429]);
    }
    if operation.request_body.is_some() {
        statuses.push(413);
    }
    let responses = &mut operation.responses.responses;
    for status in statuses {
        responses.entry(status.to_string()).or_insert_with(|| RefOr::T(Response::new("")));
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else { continue };
        if response.description.is_empty() {
            response.description = standard_description(status).to_owned();
        }
        if status.starts_with('4') && response.content.is_empty() {
            *response = error_response(status, &response.description);
        }
    }
}

/// What a status says when the handler does not say more.
fn standard_description(status: &str) -> &'static str {
    match status {
        "400" => "The request is malformed or a value is invalid; `error` names the field and the value",
        "401" => "No API key, or one that is unknown or revoked",
        "403" => "The key's role may not use this endpoint (checked before anything else in the request)",
        "404" => "No such resource",
        "408" => "The request took longer than the server allows (60 s by default)",
        "409" => "The request does not fit the resource's state",
        "413" => "The body is larger than the endpoint accepts (2 MiB; 64 MiB for file uploads)",
        "429" => "The key has used up its rate; retry after `Retry-After` seconds",
        _ => "See the operation's description",
    }
}

fn error_response(status: &str, description: &str) -> Response {
    let mut builder = ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorBody"))));
    if status == "429" {
        let seconds = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1));
        let header = utoipa::openapi::header::HeaderBuilder::new()
            .schema(Some(seconds))
            .description(Some("Seconds to wait before the next request"))
            .build();
        builder = builder.header("Retry-After", header);
    }
    builder.build()
}

/// The records of a request are read as CSV cells (`request`): a number or yes/no may
/// also be a text (`"12,5"`, `"sí"`), a list one text with `|` between values, a date
/// any spelling a CSV cell takes, and a field the kind does not have is refused. The
/// derive sees only the Rust types, so the schema of each such field is rewritten here
/// from the kind's schema table.
struct RecordFieldsAsCells;

impl Modify for RecordFieldsAsCells {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use crate::records::{FieldType, Origin, RecordKind};
        let Some(components) = openapi.components.as_mut() else { return };
        for (name, kind) in [
            ("Supplier", RecordKind::Suppliers),
            ("Agency", RecordKind::Agencies),
            ("ProcurementLine", RecordKind::Procurements),
        ] {
            let Some(RefOr::T(Schema::Object(record))) = components.schemas.get_mut(name) else { continue };
            record.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            for field in kind.fields().iter().filter(|field| field.origin == Origin::Csv) {
                let Some(property) = record.properties.get_mut(field.name) else { continue };
                let doc = match &*property {
                    RefOr::T(Schema::Object(object)) => object.description.clone(),
                    RefOr::T(Schema::Array(array)) => array.description.clone(),
                    _ => None,
                };
                let described =
                    |what: &str| Some(doc.as_ref().map_or_else(|| what.to_owned(), |doc| format!("{doc} {what}")));
                let nullable = |ty: Type| SchemaType::from_iter([ty, Type::String, Type::Null]);
                let rewritten: Schema = match field.ty {
                    FieldType::Number => ObjectBuilder::new()
                        .schema_type(nullable(Type::Number))
                        .description(described("A number, or a text such as `1.234,5` or `1,234.5`."))
                        .build()
                        .into(),
                    FieldType::Bool => ObjectBuilder::new()
                        .schema_type(nullable(Type::Boolean))
                        .description(described("true or false, or a text such as yes/no, sí/no, sim/não, 1/0."))
                        .build()
                        .into(),
                    FieldType::Date => ObjectBuilder::new()
                        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                        .description(described("A date: `YYYY-MM-DD`, `YYYY/MM/DD`, `DD/MM/YYYY`, `DD-MM-YYYY` or `DD.MM.YYYY`."))
                        .build()
                        .into(),
                    FieldType::List => AnyOfBuilder::new()
                        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)))
                        .item(ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])))
                        .description(described("A list of texts, or one text with `|` between values."))
                        .build()
                        .into(),
                    FieldType::Country => ObjectBuilder::new()
                        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                        .description(described(
                            "An ISO 3166-1 country: alpha-2 or alpha-3 code, or its English, Spanish or Portuguese name; stored as alpha-2.",
                        ))
                        .build()
                        .into(),
                    FieldType::Currency | FieldType::LicenceStatus | FieldType::Text => continue,
                };
                *property = RefOr::T(rewritten);
            }
        }
    }
}

/// A screening request needs a `supplier` or at least one procurement line, which the
/// struct's fields (both optional) cannot say.
struct ScreeningNeedsASubject;

impl Modify for ScreeningNeedsASubject {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(schemas) = openapi.components.as_mut().map(|components| &mut components.schemas) else { return };
        let Some(fields) = schemas.remove("ScreeningRequest") else { return };
        let with_supplier = ObjectBuilder::new()
            .required("supplier")
            .property("supplier", ObjectBuilder::new().schema_type(Type::Object));
        let with_lines =
            ObjectBuilder::new().required("lines").property("lines", ArrayBuilder::new().min_items(Some(1)));
        let subject = AnyOfBuilder::new().item(with_supplier).item(with_lines);
        let request = AllOfBuilder::new()
            .description(Some("A supplier (`supplier`), or procurement lines (`lines`) with the supplier if known"))
            .item(fields)
            .item(subject);
        schemas.insert("ScreeningRequest".to_owned(), RefOr::T(Schema::AllOf(request.build())));
    }
}

/// A yente match request carries 1 to 100 queries (a constraint on a map, which the
/// derive cannot state).
struct MatchRequestQueries;

impl Modify for MatchRequestQueries {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else { return };
        let Some(RefOr::T(Schema::Object(request))) = components.schemas.get_mut("MatchRequest") else { return };
        if let Some(RefOr::T(Schema::Object(queries))) = request.properties.get_mut("queries") {
            queries.min_properties = Some(1);
            queries.max_properties = Some(super::yente::MAX_QUERIES);
        }
    }
}

/// The document as served.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /openapi.json`: this document.
#[utoipa::path(get, path = "/openapi.json", tag = "service", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
