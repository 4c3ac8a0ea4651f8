//! `/api/catalogs`: element-set catalogues (TLE, OMM) uploaded once and kept in the log
//! by their content hash, for scenarios to name (`"catalog": {"id": ...}`).
//!
//! - `POST /api/catalogs`: the file as the body (up to [`CATALOG_BODY_BYTES`]), its
//!   format from `?format=`, else the content type, else its first characters. It is
//!   read object by object on a blocking thread; a file with a good object is kept
//!   (201, or 200 when the same bytes were kept before) and answered with its id, its
//!   counts and its refusals. A file that is not a catalogue, or has no good object, is
//!   refused (422, naming what was wrong) and nothing is kept.
//! - `GET /api/catalogs`: the kept catalogues with their counts ([`Summaries`]: read
//!   once per process, then remembered).
//! - `GET /api/catalogs/{id}`: one catalogue's counts and a page of its objects.
//!
//! Writing a catalogue is writing the log: it needs the token and takes one from the
//! client's allowance, as a new run does. Reading them is open.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nano_pipeline::catalog::{
    Catalog, CatalogError, CatalogFormat, CatalogId, CatalogSource, Refusal,
};
use nano_store::Log;
use serde_json::{json, Value};

use super::api::peer_ip;
use super::blocking;
use crate::error::ApiError;
use crate::params::{self, Query};
use crate::AppState;

/// The largest catalogue file `POST /api/catalogs` takes: what the log keeps of one.
pub const CATALOG_BODY_BYTES: usize = nano_store::encoding::ELEMENT_FILE_MAX_BYTES;

/// The most refusals an answer lists (`refused_count` says how many there are).
pub const MAX_REFUSALS: usize = 1000;

/// Objects listed by `GET /api/catalogs/{id}` when `limit` is not given, and at most.
pub const DEFAULT_OBJECTS: usize = 1000;
pub const MAX_OBJECTS: usize = 10_000;

/// What reading a catalogue holds beside its file, per byte of it: its element sets
/// (about 200 bytes for a three-line set of 165) and their refusals.
const READ_BYTES_PER_FILE_BYTE: u64 = 2;

/// What the service says of a kept catalogue without reading it again.
#[derive(Debug, Clone)]
pub struct Summary {
    pub id: CatalogId,
    pub format: CatalogFormat,
    pub bytes: u64,
    pub objects: usize,
    pub refused: usize,
}

impl Summary {
    fn of(catalog: &Catalog, bytes: u64) -> Summary {
        Summary {
            id: catalog.id,
            format: catalog.format,
            bytes,
            objects: catalog.objects.len(),
            refused: catalog.refused.len(),
        }
    }

    fn json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "format": self.format.name(),
            "bytes": self.bytes,
            "objects": self.objects,
            "refused_count": self.refused,
            "links": {"self": format!("/api/catalogs/{}", self.id)},
        })
    }
}

/// The summaries of the catalogues this process has read (some tens of bytes each, one
/// per kept file): a list of the kept catalogues reads each file once, not per request.
#[derive(Default)]
pub struct Summaries(Mutex<HashMap<CatalogId, Summary>>);

impl Summaries {
    fn get(&self, id: CatalogId) -> Option<Summary> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    fn keep(&self, summary: Summary) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(summary.id, summary);
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        let message = e.to_string();
        match e {
            CatalogError::UnknownFormat { given } => ApiError::bad(
                "format",
                &given,
                "must be one of tle, kvn, xml, json, csv (or left out: the content type, else the file's first characters, tell)",
            ),
            CatalogError::BadId { given } => ApiError::bad(
                "id",
                &given,
                "must be a catalogue id: 32 lowercase hexadecimal digits",
            ),
            CatalogError::NothingGood { refused, .. } => ApiError::Catalog {
                message,
                refused: refused.into_iter().take(20).collect(),
            },
            CatalogError::Unreadable { .. } => ApiError::internal(e),
            CatalogError::NotACatalog { .. } | CatalogError::Unrecognised { .. } => {
                ApiError::Catalog {
                    message,
                    refused: Vec::new(),
                }
            }
        }
    }
}

/// The refusals as the answers list them.
fn refusals(refused: &[Refusal]) -> Vec<Value> {
    refused
        .iter()
        .take(MAX_REFUSALS)
        .map(|r| json!({"object": r.object, "field": r.field, "rule": r.rule}))
        .collect()
}

/// The format a request names: `?format=`, else its content type when that names one
/// without doubt, else none (the file's first characters tell).
fn named_format(query: &Query, headers: &HeaderMap) -> Result<Option<CatalogFormat>, ApiError> {
    if let Some(text) = query.get("format") {
        return Ok(Some(text.parse::<CatalogFormat>()?));
    }
    Ok(headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(CatalogFormat::from_content_type))
}

/// Reads `bytes` as a catalogue and keeps it: `(catalog, newly kept)`. A kept file is
/// read again by its content alone (scenarios name only its id), so a file whose
/// content does not say the format it was read in is refused rather than kept unusable.
fn read_and_keep(
    log: &Log,
    bytes: &[u8],
    format: Option<CatalogFormat>,
) -> Result<(Catalog, bool), ApiError> {
    let catalog = Catalog::read(bytes, format)?;
    if format.is_some() && CatalogFormat::sniff(bytes) != Some(catalog.format) {
        return Err(ApiError::Catalog {
            message: format!(
                "the file reads as {} only when told so, but a kept catalogue is read again by its content, which {}: send a file that starts as its format does",
                catalog.format.name(),
                match CatalogFormat::sniff(bytes) {
                    Some(other) => format!("says {}", other.name()),
                    None => "names no format".to_owned(),
                }
            ),
            refused: Vec::new(),
        });
    }
    let fresh = log.keep_element_file(catalog.id.0, bytes)?;
    Ok((catalog, fresh))
}

/// Reads the kept catalogue `id`, or `None` when the log keeps none by that id.
pub fn read_kept(log: &Log, id: CatalogId) -> Result<Option<(Catalog, u64)>, ApiError> {
    let Some(bytes) = log.element_file(id.0)? else {
        return Ok(None);
    };
    let catalog = Catalog::read(&bytes, None)
        .map_err(|e| ApiError::internal(format!("the kept catalogue {id} no longer reads: {e}")))?;
    Ok(Some((catalog, bytes.len() as u64)))
}

/// `POST /api/catalogs`: reads the file and keeps it.
#[utoipa::path(post, path = "/api/catalogs", tag = "catalogs",
    request_body(description = "The catalogue file: two- or three-line TLEs, or CCSDS OMMs in KVN, XML, JSON or CSV; at most 64 MiB", content(
        (String = "text/plain"),
        (String = "application/octet-stream"),
        (String = "application/json"),
        (String = "application/xml"),
        (String = "text/csv"),
    )),
    params(
        ("format" = Option<String>, Query, description = "The file's format, when neither its content type nor its first characters say it", pattern = "^(tle|kvn|xml|json|csv)$"),
        ("access_token" = Option<String>, Query, description = "The API token, for clients that cannot send headers"),
    ),
    responses(
        (status = 201, description = "Read and kept: its id (a hash of its bytes), format, counts and the objects refused", body = crate::schemas::CatalogUpload, headers(
            ("Location" = String, description = "The catalogue's URL"),
        )),
        (status = 200, description = "The same bytes were kept before: the same answer", body = crate::schemas::CatalogUpload, headers(
            ("Location" = String, description = "The catalogue's URL"),
        )),
        (status = 400, description = "A bad parameter (format), named", body = crate::schemas::ErrorBody),
        (status = 401, description = "Keeping a catalogue needs the API token", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A file over 64 MiB", body = crate::schemas::ErrorBody),
        (status = 422, description = "Not a catalogue, or no object of it could be read (the first refusals listed): nothing is kept", body = crate::schemas::CatalogRefused),
        (status = 429, description = "Too many writes from this client", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
        (status = 503, description = "The upload does not fit in the memory budget now (Retry-After)", body = crate::schemas::ErrorBody),
        (status = 507, description = "The log is read-only (its volume full) or the file would pass its quota", body = crate::schemas::ErrorBody),
    )
)]
pub async fn upload(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Body,
) -> Result<Response, ApiError> {
    let query = params::query(raw.as_deref())?;
    state
        .access
        .authorize(&headers, query.get("access_token"))?;
    let format = named_format(&query, &headers)?;
    state
        .access
        .admit(state.access.client(peer_ip(&peer), &headers))?;
    // The file and what reading it makes, within the readers' share of the memory
    // budget (all of it for a body of unknown length), taken before the body is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(CATALOG_BODY_BYTES as u64)
        .min(CATALOG_BODY_BYTES as u64);
    let weight = (declared * (1 + READ_BYTES_PER_FILE_BYTE)).min(state.readers.capacity());
    let _permit = state
        .readers
        .admit_within(weight, "reading a catalogue", crate::budget::DOCUMENT_WAIT)
        .await?;
    let bytes = axum::body::to_bytes(body, CATALOG_BODY_BYTES)
        .await
        .map_err(|e| ApiError::Refused {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!(
                "the catalogue could not be read whole within its limit of {CATALOG_BODY_BYTES} bytes: {e}"
            ),
        })?;
    let size = bytes.len() as u64;
    let log = state.log.clone();
    let (catalog, fresh) = blocking(move || read_and_keep(&log, &bytes, format)).await?;
    let summary = Summary::of(&catalog, size);
    state.catalog_summaries.keep(summary.clone());
    let mut answer = summary.json();
    answer["refused"] = Value::Array(refusals(&catalog.refused));
    let location = HeaderValue::from_str(&format!("/api/catalogs/{}", catalog.id))
        .expect("hex digits and ASCII");
    let status = if fresh {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, [(header::LOCATION, location)], Json(answer)).into_response())
}

/// `GET /api/catalogs`: the kept catalogues.
#[utoipa::path(get, path = "/api/catalogs", tag = "catalogs",
    responses(
        (status = 200, description = "The kept catalogues, with their counts", body = crate::schemas::Catalogs),
        (status = 400, description = "A bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
        (status = 503, description = "A catalogue not read yet by this process does not fit in the memory budget now (Retry-After)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let state = state.clone();
    let catalogs = blocking(move || {
        let mut listed = Vec::new();
        for (id, bytes) in state.log.element_files()? {
            let id = CatalogId(id);
            let summary = match state.catalog_summaries.get(id) {
                Some(summary) => summary,
                None => {
                    // Read once, within the readers' share, as `detail` reads one.
                    let _permit = state.readers.admit(
                        (bytes * (1 + READ_BYTES_PER_FILE_BYTE)).min(state.readers.capacity()),
                        "reading a catalogue",
                    )?;
                    let Some((catalog, bytes)) = read_kept(&state.log, id)? else {
                        continue;
                    };
                    let summary = Summary::of(&catalog, bytes);
                    state.catalog_summaries.keep(summary.clone());
                    summary
                }
            };
            debug_assert_eq!(summary.bytes, bytes);
            listed.push(summary.json());
        }
        Ok::<_, ApiError>(listed)
    })
    .await?;
    Ok(Json(json!({ "catalogs": catalogs })))
}

/// A whole number parameter from `min` to `max`, `default` when absent.
fn count(
    query: &Query,
    field: &'static str,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ApiError> {
    match query.get(field) {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ApiError::bad(
                field,
                text,
                format!(
                    "must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        },
    }
}

/// `GET /api/catalogs/{id}?offset=&limit=`: a kept catalogue's counts, refusals and a
/// page of its objects.
#[utoipa::path(get, path = "/api/catalogs/{id}", tag = "catalogs",
    params(
        ("id" = String, Path, description = "The catalogue's id: 32 lowercase hex digits", example = "0123456789abcdef0123456789abcdef"),
        ("offset" = Option<u32>, Query, description = "The first object listed, in file order (default 0)", minimum = 0),
        ("limit" = Option<u32>, Query, description = "Objects listed at most (default 1000)", minimum = 0, maximum = 10000),
    ),
    responses(
        (status = 200, description = "The catalogue's counts, refusals, and its objects from offset", body = crate::schemas::CatalogDetail),
        (status = 400, description = "A malformed id or a bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No catalogue is kept by that id", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
        (status = 503, description = "The read does not fit in the memory budget now (Retry-After)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query = params::query(raw.as_deref())?;
    let id: CatalogId = id.parse()?;
    let offset = count(&query, "offset", 0, 0..=u32::MAX as usize)?;
    let limit = count(&query, "limit", DEFAULT_OBJECTS, 0..=MAX_OBJECTS)?;
    let state = state.clone();
    let answer = blocking(move || {
        // The catalogue read (or the one the service keeps read), about twice its
        // file's size, within the readers' share while it is listed.
        let bytes = match state.catalog_summaries.get(id) {
            Some(summary) => Some(summary.bytes),
            None => state
                .log
                .element_files()?
                .into_iter()
                .find(|(kept, _)| *kept == id.0)
                .map(|(_, bytes)| bytes),
        };
        let Some(bytes) = bytes else {
            return Err(ApiError::NotFound(format!("catalogue {id}")));
        };
        let _permit = state.readers.admit(
            (bytes * (1 + READ_BYTES_PER_FILE_BYTE)).min(state.readers.capacity()),
            "reading a catalogue",
        )?;
        let Some(catalog) = state.catalogs.catalog(id)? else {
            return Err(ApiError::NotFound(format!("catalogue {id}")));
        };
        let summary = Summary::of(&catalog, bytes);
        state.catalog_summaries.keep(summary.clone());
        let objects: Vec<Value> = catalog
            .objects
            .iter()
            .skip(offset)
            .take(limit)
            .map(|o| {
                json!({
                    "norad_id": o.norad_id,
                    "name": o.display_name(),
                    "object_id": o.object_id,
                    "epoch": o.epoch.to_string(),
                    "perigee_km": o.perigee_km(),
                    "apogee_km": o.apogee_km(),
                })
            })
            .collect();
        let mut answer = summary.json();
        answer["refused"] = Value::Array(refusals(&catalog.refused));
        answer["offset"] = json!(offset);
        answer["element_sets"] = Value::Array(objects);
        Ok(answer)
    })
    .await?;
    Ok(Json(answer))
}
