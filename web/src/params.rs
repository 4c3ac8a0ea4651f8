//! Request parameters, parsed by hand so that every refusal names the field and its
//! rule.

use std::collections::HashMap;

use nano_pipeline::scenario::RunId;
use nano_pipeline::Format;

use crate::error::ApiError;

/// The most points per agent a decimated series may ask for.
pub const MAX_POINTS: usize = 100_000;

/// What a run request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRequest {
    pub n: u64,
    pub seed: u64,
}

/// The query string, percent-decoded as RFC 3986 says: `%XX` is the byte `XX`, and a
/// `+` is a plus sign (not a space, as HTML forms would have it; send a space as
/// `%20`), so a base64 token such as `k9+Zx/Qw=R2` may be sent as it is or encoded.
/// Names and values are decoded alike; the last value of a repeated name wins.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Query(HashMap<String, String>);

impl Query {
    /// The decoded value of `name`, if the query has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// Parses and decodes a raw query string; a malformed escape or bytes that are not
/// UTF-8 are a 400 naming the parameter.
pub fn query(raw: Option<&str>) -> Result<Query, ApiError> {
    let mut pairs = HashMap::new();
    for pair in raw.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let refuse = || {
            ApiError::bad(
                "query",
                pair,
                "must be UTF-8 text, percent-encoded as RFC 3986 says (%XX with two hex digits)",
            )
        };
        let name = percent_decode(name).ok_or_else(refuse)?;
        let value = percent_decode(value).ok_or_else(refuse)?;
        pairs.insert(name, value);
    }
    Ok(Query(pairs))
}

/// `%XX` to the byte `XX`; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `n` from the path and `seed` from the query.
pub fn run_request(n: &str, query: &Query, max_steps: u64) -> Result<RunRequest, ApiError> {
    let rule = format!("must be a whole number from 1 to {max_steps}");
    let n = match n.parse::<u64>() {
        Ok(v) if (1..=max_steps).contains(&v) => v,
        _ => return Err(ApiError::bad("n", n, rule)),
    };
    let seed = match query.get("seed") {
        None => 0,
        Some(s) => s.parse::<u64>().map_err(|_| {
            ApiError::bad(
                "seed",
                s,
                format!("must be a whole number from 0 to {}", u64::MAX),
            )
        })?,
    };
    Ok(RunRequest { n, seed })
}

/// `format`: `json` (the default) or `csv`.
pub fn format(query: &Query) -> Result<Format, ApiError> {
    match query.get("format") {
        None => Ok(Format::Json),
        Some(f) => f
            .parse()
            .map_err(|_| ApiError::bad("format", f, "must be json or csv")),
    }
}

/// The longest `wait` a request may ask for, in seconds.
pub const MAX_WAIT_SECONDS: u64 = 30;

/// `wait`: seconds to hold the request until the run completes (0 to 30), if asked.
pub fn wait(query: &Query) -> Result<Option<std::time::Duration>, ApiError> {
    match query.get("wait") {
        None => Ok(None),
        Some(w) => match w.parse::<u64>() {
            Ok(v) if v <= MAX_WAIT_SECONDS => Ok(Some(std::time::Duration::from_secs(v))),
            _ => Err(ApiError::bad(
                "wait",
                w,
                format!("must be a whole number of seconds from 0 to {MAX_WAIT_SECONDS}"),
            )),
        },
    }
}

/// `points`: how many points per agent a decimated series keeps, if asked.
pub fn points(query: &Query) -> Result<Option<usize>, ApiError> {
    match query.get("points") {
        None => Ok(None),
        Some(p) => match p.parse::<usize>() {
            Ok(v) if (2..=MAX_POINTS).contains(&v) => Ok(Some(v)),
            _ => Err(ApiError::bad(
                "points",
                p,
                format!("must be a whole number from 2 to {MAX_POINTS}"),
            )),
        },
    }
}

/// A run's id in a path (`/runs/{id}`, `/api/runs/{id}...`): [`RunId`]'s `Display`
/// form, or 400 naming `id`.
pub fn run_id(text: &str) -> Result<RunId, ApiError> {
    text.parse::<RunId>().map_err(|_| {
        ApiError::bad(
            "id",
            text,
            "must be 32 lowercase hex digits (an orbit run) or a decimal seed without a sign or leading zeros (a nano run)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_requests_parse() {
        let q = query(Some("seed=42&points=500")).unwrap();
        assert!(run_request("2000", &q, 10).is_err());
        assert_eq!(
            run_request("2000", &q, 10_000).unwrap(),
            RunRequest { n: 2000, seed: 42 }
        );
        assert_eq!(points(&q).unwrap(), Some(500));
        assert_eq!(run_request("7", &query(None).unwrap(), 10).unwrap().seed, 0);
        assert_eq!(
            format(&query(Some("format=csv")).unwrap()).unwrap(),
            Format::Csv
        );
    }

    #[test]
    fn every_refusal_names_its_field() {
        let cases = [
            ("0", "", "n"),
            ("-1", "", "n"),
            ("abc", "", "n"),
            ("99999999999", "", "n"),
            ("10", "seed=-1", "seed"),
            ("10", "seed=x", "seed"),
            ("10", "seed=18446744073709551616", "seed"),
        ];
        for (n, q, field) in cases {
            let err = run_request(n, &query(Some(q)).unwrap(), 10_000_000).unwrap_err();
            assert!(
                matches!(err, ApiError::BadParam { field: f, .. } if f == field),
                "{n} {q}: {err}"
            );
        }
        assert!(matches!(
            points(&query(Some("points=1")).unwrap()),
            Err(ApiError::BadParam {
                field: "points",
                ..
            })
        ));
        for bad in ["wait=31", "wait=-1", "wait=x", "wait=1.5"] {
            assert!(
                matches!(
                    wait(&query(Some(bad)).unwrap()),
                    Err(ApiError::BadParam { field: "wait", .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            wait(&query(Some("wait=30")).unwrap()).unwrap(),
            Some(std::time::Duration::from_secs(30))
        );
        assert!(matches!(
            format(&query(Some("format=xml")).unwrap()),
            Err(ApiError::BadParam {
                field: "format",
                ..
            })
        ));
    }

    proptest::proptest! {
        /// The fuzz target of the request parameters, as a property: any path segment
        /// and query string is either accepted with values inside the rules or refused
        /// with an error naming one of the fields; nothing panics.
        #[test]
        fn any_request_is_accepted_within_the_rules_or_refused_by_field(
            n in "\\PC{0,30}|[0-9]{1,25}",
            raw in "\\PC{0,60}|(seed|points|format)=[0-9a-z-]{0,22}(&(seed|points|format)=[0-9a-z-]{0,8})?",
        ) {
            let q = match query(Some(&raw)) {
                Ok(q) => q,
                Err(ApiError::BadParam { field: "query", .. }) => return Ok(()),
                Err(other) => return Err(proptest::test_runner::TestCaseError::fail(other.to_string())),
            };
            match run_request(&n, &q, 10_000_000) {
                Ok(r) => proptest::prop_assert!((1..=10_000_000).contains(&r.n)),
                Err(ApiError::BadParam { field, .. }) => proptest::prop_assert!(field == "n" || field == "seed"),
                Err(other) => proptest::prop_assert!(false, "{other}"),
            }
            match points(&q) {
                Ok(Some(p)) => proptest::prop_assert!((2..=MAX_POINTS).contains(&p)),
                Ok(None) => {}
                Err(e) => {
                    let named = matches!(e, ApiError::BadParam { field: "points", .. });
                    proptest::prop_assert!(named, "{}", e);
                }
            }
            let _ = format(&q);
        }
    }

    #[test]
    fn run_ids_are_hex_or_seeds_and_anything_else_is_refused_naming_the_id() {
        let hex = "0123456789abcdef0123456789abcdef";
        assert_eq!(run_id(hex).unwrap().to_string(), hex);
        assert_eq!(run_id("42").unwrap().to_string(), "42");
        // 32 bytes whose two-byte characters start at odd offsets: refused, not sliced
        // inside a character (a panic).
        let wide = format!("a{}b", "é".repeat(15));
        assert_eq!(wide.len(), 32);
        for bad in [wide.as_str(), &hex.to_uppercase(), "xyz", "", "-1"] {
            assert!(
                matches!(run_id(bad), Err(ApiError::BadParam { field: "id", .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn query_values_are_percent_decoded_and_plus_is_a_plus() {
        let q = query(Some(
            "seed=%35&access_token=k9%2BZx%2FQw%3DR2&raw=k9+Zx/Qw=R2&s%65ed2=%20x",
        ))
        .unwrap();
        assert_eq!(run_request("10", &q, 100).unwrap().seed, 5);
        assert_eq!(q.get("access_token"), Some("k9+Zx/Qw=R2"));
        assert_eq!(
            q.get("raw"),
            Some("k9+Zx/Qw=R2"),
            "the first = splits, + stays"
        );
        assert_eq!(q.get("seed2"), Some(" x"), "names are decoded too");
        assert_eq!(query(Some("a=%C3%A9")).unwrap().get("a"), Some("é"));
    }

    #[test]
    fn malformed_escapes_and_invalid_utf8_are_refused_naming_the_query() {
        for raw in [
            "seed=%", "seed=%3", "seed=%zz", "seed=%FF", "%FF=1", "a=%C3",
        ] {
            match query(Some(raw)) {
                Err(ApiError::BadParam {
                    field: "query",
                    value,
                    ..
                }) => {
                    assert_eq!(value, raw, "the pair is echoed")
                }
                other => panic!("{raw}: {other:?}"),
            }
        }
    }

    #[test]
    fn long_values_are_shortened_in_errors() {
        let long = "9".repeat(10_000);
        let err = run_request(&long, &query(None).unwrap(), 10).unwrap_err();
        assert!(err.to_string().len() < 200, "{}", err.to_string().len());
    }
}
