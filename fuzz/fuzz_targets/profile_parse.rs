//! Fuzz target `profile_parse`: its body is `bodies::profile_parse` (see `fuzz/bodies.rs`), which the normal
//! test suite also runs on every input saved in `fuzz/regressions/profile_parse/`.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::profile_parse(data));
