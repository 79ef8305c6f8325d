//! The OpenAPI document, generated from the handlers' annotations and the types they
//! exchange, served at `/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "cadena", description = "Supply-chain trafficking-risk screening: suppliers, recruitment agencies, procurements."),
    paths(
        super::index,
        super::healthz,
        super::readyz,
        super::metrics::metrics,
        super::list_datasets,
        super::get_dataset,
        super::list_rejected_rows,
        super::ingest::upload,
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
    ),
    modifiers(&ApiKeyScheme)
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

/// `GET /openapi.json`.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
