//! The checks behind the fuzz targets, as plain functions of the input bytes, so the
//! seed corpus can also run under `cargo test` (`tests/fuzz_seeds.rs` at the top
//! level includes these files).

pub mod connection;
pub mod head;
