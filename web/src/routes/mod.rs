//! The routes, one file per concern: the pages and assets, the run API, progress
//! events, and the operational endpoints.

pub mod api;
pub mod events;
pub mod ops;
pub mod page;
