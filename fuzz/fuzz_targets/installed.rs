//! Fuzz target `installed`: its body is `bodies::installed` (see `fuzz/bodies.rs`), which the normal
//! test suite also runs on every input saved in `fuzz/regressions/installed/`.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::installed(data));
