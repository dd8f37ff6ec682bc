//! The connection state machine on an arbitrary schedule: see
//! `fuzz/src/connection.rs` for the input format and the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| reactor_fuzz::connection::check(data));
