//! The QRangeStore: records `[t0, t1) -> value` and the query "every value whose range
//! contains `t`".
//!
//! This crate holds the storage side of sedaro-nano. [`QRangeStore`] is the abstraction
//! the model is written against; [`TimeRange`] is a validated left-inclusive,
//! right-exclusive interval; [`MemoryRangeStore`] is the in-memory form, an augmented
//! balanced interval tree that answers a query without scanning every record.
//!
//! ```
//! use nano_store::{MemoryRangeStore, QRangeStore};
//!
//! let mut store = MemoryRangeStore::new();
//! store.insert(0.0, 3.0, "A")?;
//! store.insert(2.0, 4.0, "D")?;
//! assert_eq!(store.get(2.1)?, vec!["A", "D"]);
//! assert!(store.get(5.0).is_err());
//! # Ok::<(), nano_store::Error>(())
//! ```

mod memory;
mod range_store;

pub use memory::MemoryRangeStore;
pub use range_store::{QRangeStore, TimeRange};

/// Everything that can go wrong in the store, with the values that were wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A range must have `t0 < t1`, and neither end may be NaN.
    #[error("invalid range [{t0}, {t1}): a range needs t0 < t1 and no NaN")]
    InvalidRange { t0: f64, t1: f64 },
    /// No stored range contains the queried time.
    #[error("no stored range contains t = {t}")]
    NotFound { t: f64 },
}

/// The store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
