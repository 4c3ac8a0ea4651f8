//! The routes, one file per concern: the pages and assets, the run API, progress
//! events, the accuracy report, and the operational endpoints.

pub mod accuracy;
pub mod api;
pub mod events;
pub mod ops;
pub mod page;
