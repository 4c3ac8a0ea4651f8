//! The web service: an axum server for `/propagate/<n>`, its page and assets, the hot
//! cache (Redis, or in-process) and progress events.
//!
//! Nothing is here yet: the service arrives with its own issue, on top of the
//! pipeline (`nano-pipeline`) and the store (`nano-store`).
