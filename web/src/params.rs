//! Request parameters, parsed by hand so that every refusal names the field and its
//! rule.

use std::collections::HashMap;

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

/// The query string as name -> value (the last value of a repeated name wins).
pub fn query(raw: Option<&str>) -> HashMap<&str, &str> {
    raw.unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect()
}

/// `n` from the path and `seed` from the query.
pub fn run_request(
    n: &str,
    query: &HashMap<&str, &str>,
    max_steps: u64,
) -> Result<RunRequest, ApiError> {
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
pub fn format(query: &HashMap<&str, &str>) -> Result<Format, ApiError> {
    match query.get("format") {
        None => Ok(Format::Json),
        Some(f) => f
            .parse()
            .map_err(|_| ApiError::bad("format", f, "must be json or csv")),
    }
}

/// `points`: how many points per agent a decimated series keeps, if asked.
pub fn points(query: &HashMap<&str, &str>) -> Result<Option<usize>, ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_requests_parse() {
        let q = query(Some("seed=42&points=500"));
        assert!(run_request("2000", &q, 10).is_err());
        assert_eq!(
            run_request("2000", &q, 10_000).unwrap(),
            RunRequest { n: 2000, seed: 42 }
        );
        assert_eq!(points(&q).unwrap(), Some(500));
        assert_eq!(run_request("7", &query(None), 10).unwrap().seed, 0);
        assert_eq!(format(&query(Some("format=csv"))).unwrap(), Format::Csv);
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
            let err = run_request(n, &query(Some(q)), 10_000_000).unwrap_err();
            assert!(
                matches!(err, ApiError::BadParam { field: f, .. } if f == field),
                "{n} {q}: {err}"
            );
        }
        assert!(matches!(
            points(&query(Some("points=1"))),
            Err(ApiError::BadParam {
                field: "points",
                ..
            })
        ));
        assert!(matches!(
            format(&query(Some("format=xml"))),
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
            let q = query(Some(&raw));
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
    fn long_values_are_shortened_in_errors() {
        let long = "9".repeat(10_000);
        let err = run_request(&long, &query(None), 10).unwrap_err();
        assert!(err.to_string().len() < 200, "{}", err.to_string().len());
    }
}
