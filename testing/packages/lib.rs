//! Empty: this package only names the packages whose files the tests read (see
//! `Cargo.toml`).
