//! `parse_head` on arbitrary bytes: see `fuzz/src/head.rs` for the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| reactor_fuzz::head::check(data));
