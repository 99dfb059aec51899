//! Fuzz target `version`: its body is `bodies::version` (see `fuzz/bodies.rs`), which the normal
//! test suite also runs on every input saved in `fuzz/regressions/version/`.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::version(data));
