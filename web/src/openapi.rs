//! The API's OpenAPI 3 document, served at `/api/openapi.json`: derived with `utoipa`
//! from the `#[utoipa::path]` attribute on each handler (its route, parameters,
//! statuses and bodies) and the body types of [`crate::schemas`], which mirror the JSON
//! the handlers write. `tests/openapi.rs` runs schemathesis against a live server to hold the two
//! together: a response outside the document fails it.

use axum::Json;
use utoipa::OpenApi;

use crate::schemas::*;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "sedaro-nano",
        description = "Two-body propagation runs computed by a timely dataflow, logged in sled, cached, served over HTTP. A request that would start computation needs the API token when one is set (`Authorization: Bearer`, or `access_token=`); reads of logged runs are open."
    ),
    paths(
        crate::routes::api::run,
        crate::routes::api::runs,
        crate::routes::windows::states,
        crate::routes::windows::positions,
        crate::routes::windows::track,
        crate::routes::events::events,
        crate::routes::runs::create,
        crate::routes::runs::status,
        crate::routes::runs::data,
        crate::routes::runs::run_events,
        crate::routes::catalogs::upload,
        crate::routes::catalogs::list,
        crate::routes::catalogs::detail,
        crate::routes::versions::manoeuvre,
        crate::routes::versions::versions,
        crate::routes::conjunctions::conjunctions,
        crate::routes::conjunctions::events,
        crate::routes::screenings::create,
        crate::routes::screenings::list,
        crate::routes::screenings::status,
        crate::routes::screenings::events,
        crate::routes::page::index,
        crate::routes::page::go,
        crate::routes::page::run_page,
        crate::routes::page::orbit_page,
        crate::routes::page::asset,
        crate::routes::accuracy::json,
        crate::routes::accuracy::page,
        crate::routes::ops::healthz,
        crate::routes::ops::readyz,
        crate::routes::ops::metrics,
        document,
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        Running,
        RunBody,
        RunDocument,
        Series,
        Runs,
        States,
        Track,
        RunRequest,
        RunStatus,
        StoppedRun,
        RunLinks,
        OrbitRunDocument,
        Status,
        Ready,
        AccuracyReport,
        AccuracyRow,
        ManoeuvreRequest,
        Manoeuvre,
        ManoeuvreResult,
        ConjunctionChanges,
        Conjunction,
        Conjunctions,
        ScreeningRequest,
        Screening,
        KeptScreening,
        Screenings,
        VersionEntry,
        Versions,
        CatalogRefusal,
        CatalogLinks,
        CatalogSummary,
        CatalogUpload,
        Catalogs,
        CatalogObject,
        CatalogDetail,
        CatalogRefused,
        CatalogRefusedDetail
    ))
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`: this document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json", body = Object)))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
