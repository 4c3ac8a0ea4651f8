//! Screenings kept for a version: their parts, laid out as a series' are, and what
//! the parts hold, the pairs the screening found ([`ScreenedPair`]).

use super::{check, decode_key, Invalid, Key, Reader, SERIES_HEADER, SERIES_PART_BYTES};

/// Verifies and decodes a screening part: the whole screening's length and this
/// part's bytes.
pub fn decode_screening_part<'a>(key: &[u8], value: &'a [u8]) -> Result<(u64, &'a [u8]), Invalid> {
    if !matches!(decode_key(key), Ok(Key::Screening { .. })) {
        return Err("not a screening key");
    }
    if value.len() < SERIES_HEADER || value.len() > SERIES_HEADER + SERIES_PART_BYTES {
        return Err("screening part of the wrong length");
    }
    check(key, value)?;
    let total = Reader(&value[4..]).u64();
    let bytes = &value[SERIES_HEADER..];
    if (bytes.len() as u64) > total || (bytes.is_empty() && total != 0) {
        return Err("screening part longer than its screening, or empty in a non-empty one");
    }
    Ok((total, bytes))
}

/// One pair of bodies a screening found, as a kept screening holds it: bodies `a` and
/// `b` (by index in their run) come closest at `tca_s` seconds, `miss_km` apart, `b`
/// moving at `rel_speed_kms` relative to `a` and lying at `ric_km` from it in `a`'s
/// radial, in-track and cross-track directions. What the pair means is the
/// screener's (`nano-pipeline`); the log keeps the numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScreenedPair {
    pub a: u32,
    pub b: u32,
    pub tca_s: f64,
    pub miss_km: f64,
    /// NaN in a screening kept before the encounter was written (layout 1).
    pub rel_speed_kms: f64,
    pub ric_km: [f64; 3],
}

/// What a kept screening of layout 2 starts with. Layout 1 (no mark, 24 bytes a pair)
/// cannot start so: its first pair's `a` and `b` would be these bytes read as two u32,
/// `a` above `b`, and a screening's pairs have `a < b`.
pub const SCREENING_MARK: &[u8; 8] = b"nanoscr2";

/// Bytes of one [`ScreenedPair`] in a kept screening of layout 2, after the mark: `a
/// u32, b u32, tca_s f64, miss_km f64, rel_speed_kms f64, ric_km 3 x f64`,
/// little-endian.
pub const SCREENED_PAIR_BYTES: usize = 56;

/// Bytes of a pair of layout 1 (`a u32, b u32, tca_s f64, miss_km f64`), which kept
/// screenings written before the encounter's numbers still have.
pub const SCREENED_PAIR_BYTES_1: usize = 24;

/// A kept screening whose length is not a whole number of [`ScreenedPair`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a kept screening of {bytes} bytes is not whole conjunctions")]
pub struct PartialScreening {
    /// The screening's length.
    pub bytes: usize,
}

/// The bytes of a screening of `pairs`, in their order, as [`crate::Log::put_screening`]
/// keeps them (layout 2: the mark, then the pairs).
pub fn encode_screening(pairs: impl IntoIterator<Item = ScreenedPair>) -> Vec<u8> {
    let pairs = pairs.into_iter();
    let mut out = Vec::with_capacity(8 + pairs.size_hint().0 * SCREENED_PAIR_BYTES);
    out.extend_from_slice(SCREENING_MARK);
    for p in pairs {
        out.extend_from_slice(&p.a.to_le_bytes());
        out.extend_from_slice(&p.b.to_le_bytes());
        for x in [p.tca_s, p.miss_km, p.rel_speed_kms] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        for x in p.ric_km {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

/// The pairs of a screening [`encode_screening`] wrote (or, without the mark, one of
/// layout 1, its encounters NaN), in order; bytes that are not whole pairs are
/// refused.
pub fn decode_screening(bytes: &[u8]) -> Result<Vec<ScreenedPair>, PartialScreening> {
    let (body, size) = match bytes.strip_prefix(SCREENING_MARK) {
        Some(body) => (body, SCREENED_PAIR_BYTES),
        None => (bytes, SCREENED_PAIR_BYTES_1),
    };
    if !body.len().is_multiple_of(size) {
        return Err(PartialScreening { bytes: bytes.len() });
    }
    Ok(body
        .chunks_exact(size)
        .map(|pair| {
            let mut r = Reader(pair);
            let (a, b, tca_s, miss_km) = (r.u32(), r.u32(), r.f64(), r.f64());
            let (rel_speed_kms, ric_km) = if size == SCREENED_PAIR_BYTES {
                (r.f64(), [r.f64(), r.f64(), r.f64()])
            } else {
                (f64::NAN, [f64::NAN; 3])
            };
            ScreenedPair {
                a,
                b,
                tca_s,
                miss_km,
                rel_speed_kms,
                ric_km,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: u32, b: u32, tca_s: f64, miss_km: f64) -> ScreenedPair {
        ScreenedPair {
            a,
            b,
            tca_s,
            miss_km,
            rel_speed_kms: 14.25,
            ric_km: [0.5, -3.75, 1e-3],
        }
    }

    #[test]
    fn screened_pairs_round_trip_in_their_documented_layout() {
        let pairs = [
            pair(3, 70_000, 5400.25, 4.99),
            pair(0, 1, -0.0, f64::MIN_POSITIVE),
        ];
        let bytes = encode_screening(pairs);
        assert_eq!(bytes.len(), 8 + 2 * SCREENED_PAIR_BYTES);
        // The layout, written out: the mark; a, b as u32, then tca_s, miss_km,
        // rel_speed_kms and the three of ric_km as f64, all LE.
        let mut expected = b"nanoscr2".to_vec();
        expected.extend_from_slice(&[3, 0, 0, 0]);
        expected.extend_from_slice(&[0x70, 0x11, 0x01, 0x00]);
        for x in [5400.25f64, 4.99, 14.25, 0.5, -3.75, 1e-3] {
            expected.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        assert_eq!(bytes[..8 + SCREENED_PAIR_BYTES], expected[..]);
        let back = decode_screening(&bytes).unwrap();
        assert_eq!(back, pairs);
        assert_eq!(back[1].tca_s.to_bits(), (-0.0f64).to_bits());
        assert_eq!(decode_screening(&[]), Ok(vec![]));
        assert_eq!(decode_screening(SCREENING_MARK), Ok(vec![]));
    }

    #[test]
    fn a_screening_kept_in_layout_1_reads_back_with_its_encounters_unknown() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&7u32.to_le_bytes());
        bytes.extend_from_slice(&9u32.to_le_bytes());
        bytes.extend_from_slice(&12.5f64.to_le_bytes());
        bytes.extend_from_slice(&0.25f64.to_le_bytes());
        let back = decode_screening(&bytes).unwrap();
        assert_eq!(back.len(), 1);
        let p = back[0];
        assert_eq!((p.a, p.b, p.tca_s, p.miss_km), (7, 9, 12.5, 0.25));
        assert!(p.rel_speed_kms.is_nan() && p.ric_km.iter().all(|x| x.is_nan()));
    }

    #[test]
    fn a_screening_of_part_of_a_pair_is_refused_with_its_length() {
        let bytes = encode_screening([pair(1, 2, 3.0, 4.0)]);
        let pair_bytes = &bytes[8..];
        for len in [1, 23, 25, 55, 57, 111] {
            let mut cut = SCREENING_MARK.to_vec();
            cut.extend_from_slice(&pair_bytes.repeat(2));
            cut.truncate(8 + len);
            assert_eq!(
                decode_screening(&cut),
                Err(PartialScreening { bytes: 8 + len })
            );
        }
        // Layout 1 too.
        assert_eq!(
            decode_screening(&[0; 25]),
            Err(PartialScreening { bytes: 25 })
        );
        assert_eq!(
            PartialScreening { bytes: 25 }.to_string(),
            "a kept screening of 25 bytes is not whole conjunctions"
        );
    }
}
