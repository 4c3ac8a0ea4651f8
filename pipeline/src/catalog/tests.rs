//! The readers' rules, one by one, and the SGP4 and frame wrappers' own checks.

use super::tle::{catalogue_number, checksum};
use super::*;

const ISS: &str = "ISS (ZARYA)
1 25544U 98067A   20194.88612269 -.00002218  00000-0 -31515-4 0  9992
2 25544  51.6461 221.2784 0001413  89.1723 280.4612 15.49507896236008
";

/// A TLE line with its column 69 replaced by the right checksum.
fn with_checksum(line: &str) -> String {
    format!("{}{}", &line[..68], checksum(&line[..68]))
}

/// Replaces `columns` (1-based, inclusive) of a line and fixes its checksum.
fn edit(line: &str, from: usize, text: &str) -> String {
    let mut s = line.to_string();
    s.replace_range(from - 1..from - 1 + text.len(), text);
    with_checksum(&s)
}

fn read_tle(text: &str) -> Result<Catalog, CatalogError> {
    Catalog::read(text.as_bytes(), Some(CatalogFormat::Tle))
}

fn lines() -> (String, String) {
    let mut l = ISS.lines().skip(1);
    (l.next().unwrap().to_string(), l.next().unwrap().to_string())
}

/// The one refusal of a file holding one good ISS and the given bad pair.
fn refusal_of(l1: &str, l2: &str) -> Refusal {
    let text = format!("{ISS}{l1}\n{l2}\n");
    let catalog = read_tle(&text).expect("the ISS is good");
    assert_eq!(catalog.objects.len(), 1, "{:?}", catalog.refused);
    assert_eq!(catalog.refused.len(), 1, "{:?}", catalog.refused);
    catalog.refused[0].clone()
}

#[test]
fn a_three_line_tle_reads_every_field() {
    let c = read_tle(ISS).unwrap();
    assert_eq!(c.format, CatalogFormat::Tle);
    assert!(c.refused.is_empty());
    let e = &c.objects[0];
    assert_eq!(e.norad_id, 25544);
    assert_eq!(e.name.as_deref(), Some("ISS (ZARYA)"));
    assert_eq!(e.object_id.as_deref(), Some("1998-067A"));
    assert_eq!(e.classification, 'U');
    // Day 194 of 2020 is 12 July; 0.88612269 day = 76_561.000_416 s.
    assert_eq!(e.epoch.to_string(), "2020-07-12T21:16:01.000416Z");
    assert_eq!(e.mean_motion_dot, -0.00002218);
    assert_eq!(e.mean_motion_ddot, 0.0);
    assert_eq!(e.bstar, -0.31515e-4);
    assert_eq!(e.ephemeris_type, 0);
    assert_eq!(e.element_set_no, 999);
    assert_eq!(e.inclination_deg, 51.6461);
    assert_eq!(e.raan_deg, 221.2784);
    assert_eq!(e.eccentricity, 0.0001413);
    assert_eq!(e.arg_perigee_deg, 89.1723);
    assert_eq!(e.mean_anomaly_deg, 280.4612);
    assert_eq!(e.mean_motion_rev_day, 15.49507896);
    assert_eq!(e.rev_at_epoch, 23600);
    assert_eq!(c.id, CatalogId::of(ISS.as_bytes()));
}

#[test]
fn names_with_and_without_the_zero_prefix_and_two_line_sets_without() {
    let (l1, l2) = lines();
    let text = format!("0 ISS (ZARYA)\n{l1}\n{l2}\n{l1}\n{l2}\nSTATION\n{l1}\n{l2}\n");
    let c = read_tle(&text).unwrap();
    let names: Vec<_> = c.objects.iter().map(|e| e.name.clone()).collect();
    assert_eq!(
        names,
        [Some("ISS (ZARYA)".into()), None, Some("STATION".into())]
    );
    assert_eq!(c.objects[1].display_name(), "25544");
}

#[test]
fn a_wrong_checksum_refuses_the_object_naming_line_and_number() {
    let (l1, l2) = lines();
    let bad = format!("{}3", &l1[..68]);
    let r = refusal_of(&bad, &l2);
    assert_eq!(r.object, "line 4 (catalogue number 25544)");
    assert_eq!(r.field, "checksum (column 69)");
    assert!(r.rule.contains("must be 2"), "{r}");
    // A minus sign counts 1.
    assert_eq!(checksum("-"), 1);
    assert_eq!(checksum("1 -.5+A"), 7);
}

#[test]
fn columns_are_checked_where_the_format_puts_them() {
    let (l1, l2) = lines();
    // Shifted by one column: column 9 is no longer blank.
    let shifted = with_checksum(&format!("1 25544U98067A    {}", &l1[18..]));
    let r = refusal_of(&shifted, &l2);
    assert_eq!(r.field, "column 9", "{r}");
    // Too short.
    let r = refusal_of(&l1[..68], &l2);
    assert_eq!(
        (r.field.as_str(), r.rule.as_str()),
        ("line", "must be 69 characters long, got 68")
    );
    // Letters in a number.
    let r = refusal_of(&l1, &edit(&l2, 9, " 51.64x1"));
    assert_eq!(r.object, "line 5 (catalogue number 25544)");
    assert_eq!(r.field, "inclination (columns 9-16)");
    // Line 2 of another object.
    let r = refusal_of(&l1, &edit(&l2, 3, "25545"));
    assert!(r.rule.contains("must be line 1's (25544)"), "{r}");
    // An epoch day past the year's end.
    let r = refusal_of(&edit(&l1, 19, "19366"), &l2);
    assert_eq!(r.field, "epoch (columns 19-32)");
    assert!(r.rule.contains("from 1 to 365 in 2019"), "{r}");
    // A bad exponent field.
    let r = refusal_of(&edit(&l1, 54, "-31515x4"), &l2);
    assert_eq!(r.field, "bstar (columns 54-61)");
    // An inclination past 180 degrees.
    let r = refusal_of(&l1, &edit(&l2, 9, "181.0000"));
    assert_eq!(r.field, "inclination");
    assert!(r.rule.contains("between 0 and 180"), "{r}");
}

#[test]
fn alpha5_numbers_decode_and_skip_i_and_o() {
    assert_eq!(catalogue_number("00005"), Ok(5));
    assert_eq!(catalogue_number("   12"), Ok(12));
    assert_eq!(catalogue_number("99999"), Ok(99_999));
    assert_eq!(catalogue_number("A0000"), Ok(100_000));
    assert_eq!(catalogue_number("E8493"), Ok(148_493));
    assert_eq!(catalogue_number("H9999"), Ok(179_999));
    assert_eq!(catalogue_number("J0000"), Ok(180_000));
    assert_eq!(catalogue_number("N9999"), Ok(229_999));
    assert_eq!(catalogue_number("P0000"), Ok(230_000));
    assert_eq!(catalogue_number("Z9999"), Ok(339_999));
    for bad in ["I0000", "O1234", "a0000", "A 123", "12a45", "     ", "1234"] {
        assert!(catalogue_number(bad).is_err(), "{bad:?} was read");
    }
    let (l1, l2) = lines();
    let text = format!("{}\n{}\n", edit(&l1, 3, "T0002"), edit(&l2, 3, "T0002"));
    assert_eq!(read_tle(&text).unwrap().objects[0].norad_id, 270_002);
    let r = refusal_of(&edit(&l1, 3, "I0002"), &edit(&l2, 3, "I0002"));
    assert_eq!(r.object, "line 4");
    assert_eq!(r.field, "catalogue number (columns 3-7)");
}

#[test]
fn implied_decimal_points_and_the_century_of_the_year() {
    let (l1, l2) = lines();
    let l1 = edit(&edit(&l1, 45, "-12345-5"), 54, " 98765+1");
    let l1 = edit(&l1, 19, "57001.50000000");
    let l2 = edit(&l2, 27, "9876543");
    let e = &read_tle(&format!("{l1}\n{l2}\n")).unwrap().objects[0];
    assert_eq!(e.mean_motion_ddot, -0.12345e-5);
    assert_eq!(e.bstar, 0.98765e1);
    assert_eq!(e.eccentricity, 0.9876543);
    assert_eq!(e.epoch.to_string(), "1957-01-01T12:00:00Z");
    let e = &read_tle(&format!("{}\n{l2}\n", edit(&l1, 19, "56366.00000000")))
        .unwrap()
        .objects[0];
    assert_eq!(e.epoch.to_string(), "2056-12-31T00:00:00Z");
}

#[test]
fn orphan_lines_and_stray_text_are_refused_and_the_rest_read() {
    let (l1, l2) = lines();
    let text = format!("{l1}\nnot a tle\n{ISS}{l2}\n\n\u{feff}");
    let c = read_tle(&format!("\u{feff}{text}")).unwrap();
    assert_eq!(c.objects.len(), 1);
    let said: Vec<String> = c.refused.iter().map(Refusal::to_string).collect();
    assert_eq!(said.len(), 4, "{said:?}");
    assert!(
        said[0].starts_with(
            "line 1 (catalogue number 25544): line 2: a line 1 must be followed by its line 2"
        ),
        "{said:?}"
    );
    assert!(
        said[1].starts_with("line 2: name line: a name line must be followed"),
        "{said:?}"
    );
    assert!(
        said[2].starts_with(
            "line 6 (catalogue number 25544): line 1: a line 2 must follow its line 1"
        ),
        "{said:?}"
    );
    assert!(said[3].starts_with("line 8: name line"), "{said:?}");
}

#[test]
fn a_file_with_no_good_object_or_no_catalogue_is_an_error() {
    let (l1, l2) = lines();
    let bad = format!("{}0\n{l2}\n", &l1[..68]);
    let err = read_tle(&bad).unwrap_err();
    assert!(matches!(err, CatalogError::NothingGood { count: 1, .. }));
    assert!(
        err.to_string()
            .contains("line 1 (catalogue number 25544): checksum"),
        "{err}"
    );
    let err = Catalog::read(b"hello, world\n", None).unwrap_err();
    assert!(matches!(err, CatalogError::Unrecognised { .. }), "{err}");
    let err = Catalog::read(b"", Some(CatalogFormat::Tle)).unwrap_err();
    assert!(err.to_string().contains("no element set"), "{err}");
    let err = Catalog::read(b"\xff\xfe1 2", Some(CatalogFormat::Tle)).unwrap_err();
    assert!(err.to_string().contains("not UTF-8"), "{err}");
}

#[test]
fn formats_by_name_content_type_and_content() {
    for f in CatalogFormat::ALL {
        assert_eq!(f.to_string().parse::<CatalogFormat>(), Ok(f));
    }
    assert!("TLE".parse::<CatalogFormat>().is_err());
    assert_eq!(
        CatalogFormat::from_content_type("application/json; charset=utf-8"),
        Some(CatalogFormat::Json)
    );
    assert_eq!(
        CatalogFormat::from_content_type("text/xml"),
        Some(CatalogFormat::Xml)
    );
    assert_eq!(
        CatalogFormat::from_content_type("application/xml"),
        Some(CatalogFormat::Xml)
    );
    assert_eq!(
        CatalogFormat::from_content_type("text/csv"),
        Some(CatalogFormat::Csv)
    );
    assert_eq!(CatalogFormat::from_content_type("text/plain"), None);
    assert_eq!(
        CatalogFormat::sniff(ISS.as_bytes()),
        Some(CatalogFormat::Tle)
    );
    assert_eq!(
        CatalogFormat::sniff(b"\xEF\xBB\xBF  <?xml version"),
        Some(CatalogFormat::Xml)
    );
    assert_eq!(
        CatalogFormat::sniff(b" [{\"OBJECT_NAME\""),
        Some(CatalogFormat::Json)
    );
    assert_eq!(
        CatalogFormat::sniff(b"COMMENT x\nCCSDS_OMM_VERS = 2.0\n"),
        Some(CatalogFormat::Kvn)
    );
    assert_eq!(
        CatalogFormat::sniff(b"OBJECT_NAME,OBJECT_ID,EPOCH,NORAD_CAT_ID\n"),
        Some(CatalogFormat::Csv)
    );
    assert_eq!(CatalogFormat::sniff(b"hello"), None);
}

#[test]
fn catalogue_ids_are_32_lowercase_hex_digits() {
    let id = CatalogId::of(b"abc");
    // SHA-256("abc") begins ba7816bf8f01cfea414140de5dae2223.
    assert_eq!(id.to_string(), "ba7816bf8f01cfea414140de5dae2223");
    assert_eq!(id.to_string().parse::<CatalogId>(), Ok(id));
    for bad in [
        "BA7816BF8F01CFEA414140DE5DAE2223",
        "ba7816bf",
        "ba7816bf8f01cfea414140de5dae2223a",
        "zz7816bf8f01cfea414140de5dae2223",
    ] {
        assert!(bad.parse::<CatalogId>().is_err(), "{bad}");
    }
    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(serde_json::from_str::<CatalogId>(&json).unwrap(), id);
}

#[test]
fn element_sets_round_trip_through_json() {
    let e = read_tle(ISS).unwrap().objects.remove(0);
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(serde_json::from_str::<ElementSet>(&json).unwrap(), e);
}

#[test]
fn perigee_and_apogee_follow_sgp4s_semi_major_axis() {
    let e = read_tle(ISS).unwrap().objects.remove(0);
    // The ISS in July 2020: about 420 km, nearly circular.
    let (p, a) = (e.perigee_km(), e.apogee_km());
    assert!(p > 400.0 && a < 440.0 && a > p, "{p} {a}");
    assert!((a - p - 2.0 * e.eccentricity * (6378.135 + (a + p) / 2.0)).abs() < 1e-6);
}

#[test]
fn sgp4_gives_teme_states_and_vallados_codes() {
    let e = read_tle(ISS).unwrap().objects.remove(0);
    let sgp4 = Sgp4::new(&e).unwrap();
    let s = sgp4.teme(0.0).unwrap();
    let r = (s[0] * s[0] + s[1] * s[1] + s[2] * s[2]).sqrt();
    let v = (s[3] * s[3] + s[4] * s[4] + s[5] * s[5]).sqrt();
    assert!(
        (r - 6790.0).abs() < 20.0 && (v - 7.66).abs() < 0.05,
        "{r} {v}"
    );
    // At perigee 665 km from the Earth's centre: decayed.
    let mut decayed = e.clone();
    decayed.eccentricity = 0.9;
    decayed.mean_motion_rev_day = 16.0;
    decayed.mean_anomaly_deg = 0.0;
    let sgp4 = Sgp4::new(&decayed).unwrap();
    let err = sgp4.teme(0.0).unwrap_err();
    assert_eq!(err.code, 6, "{err}");
    let mut hyperbolic = e.clone();
    hyperbolic.eccentricity = 1.5;
    assert_eq!(Sgp4::new(&hyperbolic).unwrap_err().code, 1);
}

#[test]
fn teme_to_eme2000_is_a_rotation_near_identity_that_grows_with_time() {
    let angle = |m: &frame::Rotation| {
        ((m[0][0] + m[1][1] + m[2][2] - 1.0) / 2.0)
            .clamp(-1.0, 1.0)
            .acos()
    };
    let at_j2000 = frame::teme_to_eme2000(946_728_000.0 - 64.184);
    // At J2000 only nutation and the equation of the equinoxes remain: under 20".
    assert!(angle(&at_j2000).to_degrees() * 3600.0 < 20.0);
    let in_2022 = frame::teme_to_eme2000(1_660_000_000.0);
    // 22.6 years of precession: about 50.3"/year, about the pole of the ecliptic
    // (nutation adds or takes up to about 20").
    let a = angle(&in_2022).to_degrees() * 3600.0;
    assert!((a - 50.29 * 22.6).abs() < 25.0, "{a}");
    for m in [at_j2000, in_2022] {
        for i in 0..3 {
            for j in 0..3 {
                let dot: f64 = (0..3).map(|k| m[i][k] * m[j][k]).sum();
                assert!((dot - if i == j { 1.0 } else { 0.0 }).abs() < 1e-14);
            }
        }
    }
    let s = frame::rotate(&in_2022, &[7000.0, 0.0, 0.0, 0.0, 7.5, 0.0]);
    assert!(((s[0] * s[0] + s[1] * s[1] + s[2] * s[2]).sqrt() - 7000.0).abs() < 1e-9);
}

#[test]
fn nutation_matches_the_published_example() {
    // Meeus, Astronomical Algorithms, example 22.a: 1987 April 10, 0h TD:
    // dpsi = -3.788", deps = +9.443", eps0 = 23 26' 27.407".
    let t = (2_446_895.5 - 2_451_545.0) / 36_525.0;
    let (dpsi, deps, eps0) = frame::nutation(t);
    let arcsec = |x: f64| x.to_degrees() * 3600.0;
    assert!((arcsec(dpsi) + 3.788).abs() < 0.002, "{}", arcsec(dpsi));
    assert!((arcsec(deps) - 9.443).abs() < 0.002, "{}", arcsec(deps));
    assert!((arcsec(eps0) - (23.0 * 3600.0 + 26.0 * 60.0 + 27.407)).abs() < 0.001);
    assert_eq!(frame::tai_minus_utc(1_483_228_799.0), 36.0);
    assert_eq!(frame::tai_minus_utc(1_483_228_800.0), 37.0);
    assert_eq!(frame::tai_minus_utc(0.0), 10.0);
}
