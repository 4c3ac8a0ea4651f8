//! `Idempotency-Key` on the POSTs that make something (`POST /api/runs`, `POST
//! /api/runs/{id}/manoeuvres`): a client that lost an answer sends the request again
//! with the same key and gets the first answer (the same status and body), and
//! nothing is made twice; the same key with another body is a 422 naming
//! `Idempotency-Key`.
//!
//! A key is 1 to [`MAX_KEY_BYTES`] visible ASCII characters (a UUID fits); anything
//! else is a 400 naming it. Requests are compared by a digest of their body (SHA-256,
//! the first 16 bytes).
//!
//! **Where the answers are kept.** A manoeuvre's key is kept in the log with the
//! version it made, written in the version's own last batch
//! ([`nano_store::Log::put_version_keyed`]): a retry finds that version, after a
//! restart too, for as long as the version is in the log (a run has at most
//! `--max-versions` of them, 40 bytes a key). Its answer is made again from the log:
//! the version, and what it changed of the conjunctions at each distance whose
//! screenings of both versions the log keeps (those the first answer listed). Runs'
//! answers are kept in memory ([`Answers`]): at most [`MAX_KEPT`] keys and
//! [`MAX_KEPT_BYTES`] of answers, each for [`KEPT_FOR`]; the oldest are forgotten
//! first, and a restart forgets them all (a run asked for again joins or reads the
//! same run: nothing is computed twice either way).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The header's name.
pub const HEADER: &str = "idempotency-key";
/// The longest key.
pub const MAX_KEY_BYTES: usize = 255;
/// The most runs' answers kept at once.
pub const MAX_KEPT: usize = 10_000;
/// The most bytes of runs' answers (and their keys) kept at once.
pub const MAX_KEPT_BYTES: u64 = 4 << 20;
/// How long a run's answer is kept.
pub const KEPT_FOR: Duration = Duration::from_secs(24 * 3600);

/// The first 16 bytes of the SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> [u8; 16] {
    let full = Sha256::digest(bytes);
    full[..16].try_into().expect("a SHA-256 has 32 bytes")
}

/// The request's `Idempotency-Key`, if it sent one: 400 naming it when malformed.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let rule = format!("must be 1 to {MAX_KEY_BYTES} visible ASCII characters (a UUID, say)");
    match value.to_str() {
        Ok(text)
            if !text.is_empty()
                && text.len() <= MAX_KEY_BYTES
                && text.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(text.to_owned()))
        }
        _ => Err(ApiError::BadField {
            field: "Idempotency-Key".into(),
            rule,
        }),
    }
}

/// The 422 for a key sent again with another request.
pub fn reused(key: &str) -> ApiError {
    let shown: String = key.chars().take(40).collect();
    ApiError::Refused {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        message: format!(
            "Idempotency-Key '{shown}' was sent before with another request: a key names one request \
             (send the same body to get its first answer, or a new key for a new request)"
        ),
    }
}

/// An answer as it was sent: its status, the headers that say where to look next,
/// and its body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Answer {
    fn bytes(&self, key: &str) -> u64 {
        (key.len() + self.body.len() + 64) as u64
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

struct Kept {
    request: [u8; 16],
    answer: Answer,
    at: Instant,
}

#[derive(Default)]
struct Inner {
    kept: HashMap<String, Kept>,
    /// Keys in the order they were kept (a key is kept once).
    order: VecDeque<String>,
    bytes: u64,
}

/// Runs' answers by key, bounded (see the module docs).
#[derive(Default)]
pub struct Answers {
    inner: Mutex<Inner>,
}

impl Answers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first answer to `key`, if it is kept and was to the same `request`; 422
    /// when it was to another.
    pub fn find(&self, key: &str, request: [u8; 16]) -> Result<Option<Answer>, ApiError> {
        let mut inner = self.lock();
        inner.expire(Instant::now());
        match inner.kept.get(key) {
            None => Ok(None),
            Some(kept) if kept.request == request => Ok(Some(kept.answer.clone())),
            Some(_) => Err(reused(key)),
        }
    }

    /// Keeps `answer` to `request` under `key` (unless a first answer is kept already),
    /// forgetting the oldest to stay within the bounds.
    pub fn keep(&self, key: String, request: [u8; 16], answer: Answer) {
        let bytes = answer.bytes(&key);
        if bytes > MAX_KEPT_BYTES {
            return;
        }
        let mut inner = self.lock();
        inner.expire(Instant::now());
        if inner.kept.contains_key(&key) {
            return;
        }
        while inner.kept.len() >= MAX_KEPT || inner.bytes + bytes > MAX_KEPT_BYTES {
            if !inner.forget_oldest() {
                break;
            }
        }
        inner.bytes += bytes;
        inner.order.push_back(key.clone());
        inner.kept.insert(
            key,
            Kept {
                request,
                answer,
                at: Instant::now(),
            },
        );
    }

    /// How many answers are kept, and their bytes.
    pub fn kept(&self) -> (usize, u64) {
        let inner = self.lock();
        (inner.kept.len(), inner.bytes)
    }
}

impl Inner {
    fn forget_oldest(&mut self) -> bool {
        let Some(key) = self.order.pop_front() else {
            return false;
        };
        if let Some(kept) = self.kept.remove(&key) {
            self.bytes = self.bytes.saturating_sub(kept.answer.bytes(&key));
        }
        true
    }

    fn expire(&mut self, now: Instant) {
        while let Some(oldest) = self.order.front() {
            let old = self
                .kept
                .get(oldest)
                .is_none_or(|k| now.duration_since(k.at) >= KEPT_FOR);
            if !old {
                break;
            }
            self.forget_oldest();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> Answer {
        Answer {
            status: StatusCode::ACCEPTED,
            headers: vec![(header::LOCATION, HeaderValue::from_static("/api/runs/x"))],
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn the_first_answer_is_kept_another_request_is_refused_and_the_bounds_hold() {
        let answers = Answers::default();
        let (a, b) = (digest(b"one"), digest(b"two"));
        assert!(answers.find("k", a).unwrap().is_none());
        answers.keep("k".into(), a, answer("first"));
        answers.keep("k".into(), a, answer("second"));
        assert_eq!(answers.find("k", a).unwrap().unwrap().body, "first");
        let refused = answers.find("k", b).unwrap_err().to_string();
        assert!(refused.contains("Idempotency-Key 'k'"), "{refused}");
        // The count's bound: the oldest go first.
        for i in 0..MAX_KEPT + 5 {
            answers.keep(format!("key-{i}"), a, answer("x"));
        }
        let (count, bytes) = answers.kept();
        assert_eq!(count, MAX_KEPT);
        assert!(bytes <= MAX_KEPT_BYTES);
        assert!(answers.find("k", a).unwrap().is_none());
        assert!(answers.find("key-0", a).unwrap().is_none());
        assert!(answers
            .find(&format!("key-{}", MAX_KEPT + 4), a)
            .unwrap()
            .is_some());
        // The bytes' bound: large answers push the others out.
        let large = "y".repeat(1 << 20);
        for i in 0..6 {
            answers.keep(format!("large-{i}"), a, answer(&large));
        }
        let (count, bytes) = answers.kept();
        assert!(bytes <= MAX_KEPT_BYTES && count <= 4, "{count} {bytes}");
    }

    #[test]
    fn a_key_is_visible_ascii_of_at_most_255_bytes() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(HEADER, HeaderValue::from_str(v).unwrap());
            key(&h)
        };
        assert_eq!(key(&HeaderMap::new()).unwrap(), None);
        assert_eq!(with("a-uuid-1").unwrap().as_deref(), Some("a-uuid-1"));
        for bad in ["", "has space", &"x".repeat(256)] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains("Idempotency-Key"), "{bad}: {e}");
        }
    }
}
