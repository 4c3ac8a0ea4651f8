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
/// `b` (by index in their run) come closest at `tca_s` seconds, `miss_km` apart. What
/// the pair means is the screener's (`nano-pipeline`); the log keeps the numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScreenedPair {
    pub a: u32,
    pub b: u32,
    pub tca_s: f64,
    pub miss_km: f64,
}

/// Bytes of one [`ScreenedPair`] in a kept screening: `a u32, b u32, tca_s f64,
/// miss_km f64`, little-endian.
pub const SCREENED_PAIR_BYTES: usize = 24;

/// A kept screening whose length is not a whole number of [`ScreenedPair`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a kept screening of {bytes} bytes is not whole conjunctions")]
pub struct PartialScreening {
    /// The screening's length.
    pub bytes: usize,
}

/// The bytes of a screening of `pairs`, in their order, as [`crate::Log::put_screening`]
/// keeps them.
pub fn encode_screening(pairs: impl IntoIterator<Item = ScreenedPair>) -> Vec<u8> {
    let pairs = pairs.into_iter();
    let mut out = Vec::with_capacity(pairs.size_hint().0 * SCREENED_PAIR_BYTES);
    for p in pairs {
        out.extend_from_slice(&p.a.to_le_bytes());
        out.extend_from_slice(&p.b.to_le_bytes());
        out.extend_from_slice(&p.tca_s.to_le_bytes());
        out.extend_from_slice(&p.miss_km.to_le_bytes());
    }
    out
}

/// The pairs of a screening [`encode_screening`] wrote, in order; bytes that are not
/// whole pairs are refused.
pub fn decode_screening(bytes: &[u8]) -> Result<Vec<ScreenedPair>, PartialScreening> {
    if !bytes.len().is_multiple_of(SCREENED_PAIR_BYTES) {
        return Err(PartialScreening { bytes: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(SCREENED_PAIR_BYTES)
        .map(|pair| {
            let mut r = Reader(pair);
            ScreenedPair {
                a: r.u32(),
                b: r.u32(),
                tca_s: r.f64(),
                miss_km: r.f64(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screened_pairs_round_trip_in_their_documented_layout() {
        let pairs = [
            ScreenedPair {
                a: 3,
                b: 70_000,
                tca_s: 5400.25,
                miss_km: 4.99,
            },
            ScreenedPair {
                a: 0,
                b: 1,
                tca_s: -0.0,
                miss_km: f64::MIN_POSITIVE,
            },
        ];
        let bytes = encode_screening(pairs);
        assert_eq!(bytes.len(), 2 * SCREENED_PAIR_BYTES);
        // The layout, written out: a, b as u32, then tca_s, miss_km as f64, all LE.
        let mut expected = Vec::new();
        expected.extend_from_slice(&[3, 0, 0, 0]);
        expected.extend_from_slice(&[0x70, 0x11, 0x01, 0x00]);
        expected.extend_from_slice(&5400.25f64.to_bits().to_le_bytes());
        expected.extend_from_slice(&4.99f64.to_bits().to_le_bytes());
        assert_eq!(bytes[..SCREENED_PAIR_BYTES], expected[..]);
        let back = decode_screening(&bytes).unwrap();
        assert_eq!(back, pairs);
        assert_eq!(back[1].tca_s.to_bits(), (-0.0f64).to_bits());
        assert_eq!(decode_screening(&[]), Ok(vec![]));
    }

    #[test]
    fn a_screening_of_part_of_a_pair_is_refused_with_its_length() {
        let bytes = encode_screening([ScreenedPair {
            a: 1,
            b: 2,
            tca_s: 3.0,
            miss_km: 4.0,
        }]);
        for len in [1, 23, 25, 47] {
            let mut cut = bytes.repeat(2);
            cut.truncate(len);
            assert_eq!(decode_screening(&cut), Err(PartialScreening { bytes: len }));
        }
        assert_eq!(
            PartialScreening { bytes: 25 }.to_string(),
            "a kept screening of 25 bytes is not whole conjunctions"
        );
    }
}
