//! The routes, one file per concern: the pages and assets, the run API (`api`: nano
//! runs by seed; `runs`: runs by scenario), the element-set catalogues (`catalogs`), progress events, the accuracy report,
//! the operational endpoints, reads of orbit runs by window, the versions of an orbit
//! run made by manoeuvres, and their conjunctions.

pub mod accuracy;
pub mod api;
pub mod catalogs;
pub mod conjunctions;
pub mod events;
pub mod ops;
pub mod page;
pub mod runs;
pub mod screenings;
pub mod versions;
pub mod windows;

use axum::http::{header, HeaderMap, StatusCode};

use crate::error::ApiError;

/// A request whose body must be JSON (`POST /api/runs`, a manoeuvre): 415 unless its
/// `Content-Type` says so.
pub fn json_body(headers: &HeaderMap) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::Refused {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: "the body must be sent as Content-Type: application/json".into(),
        })
    }
}

/// Runs `work` (a read or write of the log, a parse that may take a while) on the
/// blocking pool, never on an async worker thread; its error becomes the response's.
pub async fn blocking<T: Send + 'static, E: Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    ApiError: From<E>,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}
