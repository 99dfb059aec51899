//! Fuzz target `manifest`: its body is `bodies::manifest` (see `fuzz/bodies.rs`), which the normal
//! test suite also runs on every input saved in `fuzz/regressions/manifest/`.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::manifest(data));
