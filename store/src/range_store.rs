//! The range-store abstraction and its interval type.

use crate::{Error, Result};

/// A half-open time interval `[start, end)` with `start < end` and no NaN.
///
/// The ends may be infinite: the record that holds a run's initial state covers
/// `[-inf, 0)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeRange {
    start: f64,
    end: f64,
}

impl TimeRange {
    /// Validates `[t0, t1)`; `t0 >= t1` or a NaN end is [`Error::InvalidRange`].
    pub fn new(t0: f64, t1: f64) -> Result<Self> {
        // `t0 < t1` is false when either is NaN, so one comparison covers both rules.
        if t0 < t1 {
            Ok(Self { start: t0, end: t1 })
        } else {
            Err(Error::InvalidRange { t0, t1 })
        }
    }

    /// The inclusive start.
    pub fn start(&self) -> f64 {
        self.start
    }

    /// The exclusive end.
    pub fn end(&self) -> f64 {
        self.end
    }

    /// Whether `t` lies in `[start, end)`.
    pub fn contains(&self, t: f64) -> bool {
        self.start <= t && t < self.end
    }
}

/// A store of values keyed by time ranges, queried by a point in time.
///
/// This is the seed project's QRangeStore: insert `[t0, t1) -> value`; `get(t)` returns
/// every value whose range contains `t`, in the order they were inserted, or
/// [`Error::NotFound`] when there is none.
pub trait QRangeStore<V> {
    /// Stores `value` for `[t0, t1)`; an invalid range is rejected and nothing is stored.
    fn insert(&mut self, t0: f64, t1: f64, value: V) -> Result<()>;

    /// Every value whose range contains `t`, in insertion order.
    fn get(&self, t: f64) -> Result<Vec<V>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_left_inclusive_and_right_exclusive() {
        let r = TimeRange::new(1.0, 2.0).unwrap();
        assert!(r.contains(1.0));
        assert!(r.contains(1.5));
        assert!(!r.contains(2.0));
        assert!(!r.contains(0.999));
    }

    #[test]
    fn empty_reversed_and_nan_ranges_are_rejected() {
        for (t0, t1) in [(2.0, 0.0), (1.0, 1.0), (f64::NAN, 1.0), (0.0, f64::NAN)] {
            let err = TimeRange::new(t0, t1).unwrap_err();
            assert!(
                matches!(err, Error::InvalidRange { .. }),
                "{t0}, {t1}: {err}"
            );
        }
    }

    #[test]
    fn infinite_ends_are_allowed() {
        let r = TimeRange::new(f64::NEG_INFINITY, 0.0).unwrap();
        assert!(r.contains(-1e300));
        assert!(!r.contains(0.0));
    }
}
