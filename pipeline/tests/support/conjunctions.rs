//! The comparison of two conjunction sets every screening test makes, under the
//! accuracy the definition of `docs/orbits.md` ("Conjunctions") allows two
//! implementations: pairs equal (in the same order), TCA within 1 ms, miss distance
//! within 1 m. Shared by `pipeline/tests/screening.rs` and `tests/screen.rs` (which
//! includes it by path).

use nano_pipeline::screening::Conjunction;

/// Pairs equal (in the same order), TCA within 1 ms, miss within 1 m.
pub fn assert_same(got: &[Conjunction], want: &[Conjunction], what: &str) {
    let pairs = |c: &[Conjunction]| c.iter().map(|c| (c.a, c.b)).collect::<Vec<_>>();
    assert_eq!(pairs(got), pairs(want), "{what}: the pairs differ");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g.tca_s - w.tca_s).abs() < 1e-3,
            "{what}: TCA {g:?} against {w:?}"
        );
        assert!(
            (g.miss_km - w.miss_km).abs() < 1e-3,
            "{what}: miss {g:?} against {w:?}"
        );
    }
}
