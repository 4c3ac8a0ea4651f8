//! The routes, one file per concern: the pages and assets, the run API (`api`: nano
//! runs by seed; `runs`: runs by scenario), progress events, the accuracy report,
//! the operational endpoints, and reads of orbit runs by window.

pub mod accuracy;
pub mod api;
pub mod events;
pub mod ops;
pub mod page;
pub mod runs;
pub mod windows;
