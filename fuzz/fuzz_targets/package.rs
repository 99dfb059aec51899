//! Fuzz target `package`: its body is `bodies::package` (see `fuzz/bodies.rs`), which the normal
//! test suite also runs on every input saved in `fuzz/regressions/package/`.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::package(data));
