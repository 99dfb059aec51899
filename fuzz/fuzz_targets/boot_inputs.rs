//! Fuzz target `boot_inputs`: its body is `bodies::boot_inputs` (see `fuzz/bodies.rs`), which
//! the normal test suite also runs on every input saved in `fuzz/regressions/boot_inputs/`.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::boot_inputs(data));
