//! The same objects in every encoding a catalogue comes in, from PyPI's `gpconf`
//! 0.7.0 fixtures (installed by `bash .ci/deps`, read where pip put them): the TLE,
//! the OMM in KVN (seven syntax variants) and XML, and CelesTrak's JSON and CSV give
//! the same element sets, equal between the OMM encodings and equal to the TLE's
//! within the TLE's precision, and so the same SGP4 states. Six-digit catalogue
//! numbers (Alpha-5 in a TLE) are kept. Then the bad inputs: a file that is no
//! catalogue is an error, and a file with some bad objects keeps its good ones and
//! names each bad one, its field and the rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nano_pipeline::catalog::{Catalog, CatalogError, CatalogFormat, ElementSet, Refusal, Sgp4};
use nano_testing::packages;
use serde_json::Value;

/// gpconf's corpus directory (python asked once).
fn corpus() -> &'static Path {
    static CORPUS: OnceLock<PathBuf> = OnceLock::new();
    CORPUS.get_or_init(|| packages::python_package("gpconf", "0.7.0").join("corpus"))
}

fn read(file: &str, format: Option<CatalogFormat>) -> Result<Catalog, CatalogError> {
    Catalog::read(&packages::read(corpus(), file), format)
}

fn by_number(c: &Catalog) -> BTreeMap<u32, ElementSet> {
    c.objects.iter().map(|e| (e.norad_id, e.clone())).collect()
}

/// A TLE's element set against the same object's OMM: equal but for what the TLE's
/// columns cannot hold (gpconf's `tle-values-match-omm-within-tle-precision`): the
/// eccentricity's 7 digits, BSTAR's and n-ddot/6's 5-digit mantissas, the epoch to
/// 1e-8 day.
fn assert_same_within_tle_precision(tle: &ElementSet, omm: &ElementSet) {
    let who = tle.norad_id;
    assert_eq!(tle.norad_id, omm.norad_id);
    assert_eq!(tle.name, omm.name, "{who}");
    assert_eq!(tle.object_id, omm.object_id, "{who}");
    let dt_ns = tle.epoch.unix_nanos() - omm.epoch.unix_nanos();
    assert!(
        dt_ns.abs() <= 432_000,
        "{who}: epochs {} and {}",
        tle.epoch,
        omm.epoch
    );
    for (name, a, b) in [
        (
            "mean motion",
            tle.mean_motion_rev_day,
            omm.mean_motion_rev_day,
        ),
        ("inclination", tle.inclination_deg, omm.inclination_deg),
        ("node", tle.raan_deg, omm.raan_deg),
        ("perigee", tle.arg_perigee_deg, omm.arg_perigee_deg),
        ("anomaly", tle.mean_anomaly_deg, omm.mean_anomaly_deg),
        ("n-dot/2", tle.mean_motion_dot, omm.mean_motion_dot),
    ] {
        assert!((a - b).abs() < 1e-12, "{who}: {name} {a} vs {b}");
    }
    let de = omm.eccentricity - tle.eccentricity;
    assert!(
        (0.0..1e-7).contains(&de),
        "{who}: eccentricity {} vs {}",
        tle.eccentricity,
        omm.eccentricity
    );
    for (name, a, b) in [
        ("bstar", tle.bstar, omm.bstar),
        ("n-ddot/6", tle.mean_motion_ddot, omm.mean_motion_ddot),
    ] {
        assert!(
            (a - b).abs() <= 5e-5 * b.abs() + 1e-15,
            "{who}: {name} {a} vs {b}"
        );
    }
    assert_eq!(
        (
            tle.classification,
            tle.ephemeris_type,
            tle.element_set_no,
            tle.rev_at_epoch
        ),
        (
            omm.classification,
            omm.ephemeris_type,
            omm.element_set_no,
            omm.rev_at_epoch
        ),
        "{who}"
    );
}

/// SGP4 states of two element sets of one object at the same instants (a day from
/// the first's epoch, every 90 minutes): the largest distance between them, in km.
fn max_distance_km(a: &ElementSet, b: &ElementSet) -> f64 {
    let (sa, sb) = (Sgp4::new(a).unwrap(), Sgp4::new(b).unwrap());
    let shift_min = (a.epoch.unix_nanos() - b.epoch.unix_nanos()) as f64 / 60e9;
    (0..=16)
        .map(|i| {
            let t = i as f64 * 90.0;
            let (ra, rb) = (sa.teme(t).unwrap(), sb.teme(t + shift_min).unwrap());
            (0..3).map(|k| (ra[k] - rb[k]).powi(2)).sum::<f64>().sqrt()
        })
        .fold(0.0, f64::max)
}

fn states(e: &ElementSet) -> Vec<[f64; 6]> {
    let sgp4 = Sgp4::new(e).unwrap();
    (0..=16)
        .map(|i| sgp4.teme(i as f64 * 90.0).unwrap())
        .collect()
}

#[test]
fn one_object_reads_the_same_from_tle_kvn_xml_json_and_csv() {
    let tle = read("derived/corrupt-input/unedited-sets.tle", None).unwrap();
    let json = read("derived/corrupt-input/unedited-array.json", None).unwrap();
    let csv = read("derived/corrupt-input/unedited-rows.csv", None).unwrap();
    assert_eq!(
        (tle.format, json.format, csv.format),
        (CatalogFormat::Tle, CatalogFormat::Json, CatalogFormat::Csv)
    );
    for c in [&tle, &json, &csv] {
        assert!(c.refused.is_empty(), "{:?}", c.refused);
        assert_eq!(c.objects.len(), 3);
    }
    let (tle, json, csv) = (by_number(&tle), by_number(&json), by_number(&csv));
    assert_eq!(json, csv, "JSON and CSV give the same element sets");
    assert_eq!(tle.keys().collect::<Vec<_>>(), [&20453, &25544, &69999]);
    let mut worst = 0.0f64;
    for (n, omm) in &json {
        assert_same_within_tle_precision(&tle[n], omm);
        worst = worst.max(max_distance_km(&tle[n], omm));
    }
    let iss = &json[&25544];
    assert_eq!(iss.epoch.to_string(), "1998-11-20T06:49:59.999808Z");
    assert_eq!(
        (iss.eccentricity, iss.mean_motion_ddot),
        (0.0125362, 0.000011563)
    );

    // The KVN variants (blank lines, comments, units, day-of-year epochs, signs,
    // lowercase exponents, LF or CRLF, version 3.0) and the XML: the JSON's ISS.
    let variants = [
        ("v01-baseline-reserialised.kvn", CatalogFormat::Kvn),
        ("v02-day-of-year-epoch-Z.kvn", CatalogFormat::Kvn),
        ("v03-units-brackets-leading-zeros.kvn", CatalogFormat::Kvn),
        (
            "v04-comments-blank-lines-whitespace-LF.kvn",
            CatalogFormat::Kvn,
        ),
        (
            "v06-signed-integers-lowercase-exponent.kvn",
            CatalogFormat::Kvn,
        ),
        ("v07-xml-ndm-reserialised.xml", CatalogFormat::Xml),
    ];
    for (file, format) in variants {
        let c = read(&format!("derived/kvn-variants/{file}"), None).unwrap();
        assert_eq!(c.format, format, "{file}");
        assert!(c.refused.is_empty(), "{file}: {:?}", c.refused);
        assert_eq!(c.objects, std::slice::from_ref(iss), "{file}");
        assert_eq!(states(&c.objects[0]), states(iss), "{file}");
    }
    // Version 3.0 with the TLE parameters left out: without its catalogue number an
    // object cannot be named, so it is refused by that keyword.
    match read(
        "derived/kvn-variants/v05-omm-3.0-header-optional-keywords-omitted.kvn",
        None,
    ) {
        Err(CatalogError::NothingGood { refused, .. }) => {
            assert_eq!(
                (refused[0].object.as_str(), refused[0].field.as_str()),
                ("line 1", "NORAD_CAT_ID")
            );
        }
        other => panic!("{other:?}"),
    }
    println!(
        "TLE against OMM states: at most {:.1} m apart over a day",
        worst * 1e3
    );
    assert!(worst < 0.05, "{worst} km");
}

/// SARAMAGO, catalogue number 100000: its Alpha-5 TLE (`A0000`) from the corpus, and
/// its OMM values (gpconf's `six-digit-omm-saramago`, as CelesTrak's CSV gave them)
/// written here in each OMM encoding, JSON with numbers as strings as Space-Track
/// writes them.
#[test]
fn six_digit_catalogue_numbers_are_kept_in_alpha_5_and_every_omm_encoding() {
    let tle = read(
        "derived/alpha5-tle/alpha5-A-100000-saramago-first.tle",
        None,
    )
    .unwrap();
    assert_eq!(tle.objects[0].norad_id, 100_000);
    let expected: Value = serde_json::from_slice(&packages::read(
        corpus(),
        "fixtures/six-digit-omm-saramago/expected.json",
    ))
    .unwrap();
    let record = expected["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["set"] == "saramago-first")
        .expect("the first SARAMAGO record");
    let pairs: Vec<(String, String)> = record["canonical"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.to_ascii_uppercase(), text)
        })
        .collect();
    let kvn: String = std::iter::once("CCSDS_OMM_VERS = 2.0\n".to_string())
        .chain(pairs.iter().map(|(k, v)| format!("{k} = {v}\n")))
        .collect();
    let leaves: String = pairs
        .iter()
        .map(|(k, v)| format!("<{k}>{v}</{k}>"))
        .collect();
    let xml = format!("<ndm><omm id=\"CCSDS_OMM_VERS\" version=\"2.0\"><body><segment><data>{leaves}</data></segment></body></omm></ndm>");
    let json = Value::Array(vec![Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )])
    .to_string();
    let csv = format!(
        "{}\n{}\n",
        pairs
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(","),
        pairs
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut read_back = Vec::new();
    for text in [kvn, xml, json, csv] {
        let c = Catalog::read(text.as_bytes(), None).unwrap();
        assert!(c.refused.is_empty(), "{:?}", c.refused);
        assert_eq!(c.objects[0].norad_id, 100_000, "{:?}", c.format);
        read_back.push(c.objects[0].clone());
    }
    assert!(read_back.windows(2).all(|w| w[0] == w[1]), "{read_back:#?}");
    assert_same_within_tle_precision(&tle.objects[0], &read_back[0]);
    let apart = max_distance_km(&tle.objects[0], &read_back[0]);
    println!(
        "SARAMAGO TLE against OMM: at most {:.1} m apart over a day",
        apart * 1e3
    );
    assert!(apart < 0.05, "{apart} km");
}

#[test]
fn a_file_that_is_no_catalogue_is_an_error_in_every_format() {
    let file = "recorded/celestrak-no-gp-data-found.txt";
    assert!(matches!(
        read(file, None),
        Err(CatalogError::Unrecognised { .. })
    ));
    for format in CatalogFormat::ALL {
        let err = read(file, Some(format)).unwrap_err();
        assert!(
            matches!(
                err,
                CatalogError::NotACatalog { .. } | CatalogError::NothingGood { .. }
            ),
            "{format}: {err}"
        );
    }
}

/// Each corrupt file of the corpus: the refusal, and the good objects exactly as the
/// unedited file gives them.
#[test]
fn a_file_with_bad_objects_keeps_the_good_ones_and_names_each_bad_one() {
    let unedited = by_number(&read("derived/corrupt-input/unedited-sets.tle", None).unwrap());
    let unedited_rows = by_number(&read("derived/corrupt-input/unedited-rows.csv", None).unwrap());
    // (file, object, field, part of the rule, where the kept objects are read whole)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a BTreeMap<u32, ElementSet>,
    );
    let cases: [Case; 6] = [
        (
            "c1-checksum-digit.tle",
            "line 5 (catalogue number 69999)",
            "checksum (column 69)",
            "must be 6",
            &unedited,
        ),
        (
            "c2-line-2-short.tle",
            "line 6 (catalogue number 69999)",
            "line",
            "69 characters",
            &unedited,
        ),
        (
            "c3-letter-in-epoch.tle",
            "line 5 (catalogue number 69999)",
            "epoch (columns 19-32)",
            "YYDDD",
            &unedited,
        ),
        (
            "c4-line-2-missing.tle",
            "line 5 (catalogue number 69999)",
            "line 2",
            "followed by its line 2",
            &unedited,
        ),
        (
            "c5-cut-closing-bracket.json",
            "record 4",
            "JSON",
            "cut",
            &unedited_rows,
        ),
        (
            "c5-cut-last-row.csv",
            "line 4",
            "row",
            "17 fields, got 16",
            &unedited_rows,
        ),
    ];
    for (file, object, field, rule, good) in cases {
        let c = read(&format!("derived/corrupt-input/{file}"), None).unwrap();
        let refusals: Vec<&Refusal> = c.refused.iter().collect();
        assert_eq!(refusals.len(), 1, "{file}: {refusals:?}");
        let r = refusals[0];
        println!("{file}: {r}");
        assert_eq!(
            (r.object.as_str(), r.field.as_str()),
            (object, field),
            "{file}: {r}"
        );
        assert!(r.rule.contains(rule), "{file}: {r}");
        let kept = by_number(&c);
        let expected_kept = if file.ends_with(".json") { 3 } else { 2 };
        assert_eq!(kept.len(), expected_kept, "{file}");
        for (n, e) in &kept {
            assert_eq!(e, &good[n], "{file}: {n} as in the unedited file");
        }
    }
}
