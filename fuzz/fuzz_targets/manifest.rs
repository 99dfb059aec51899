//! Fuzzes the manifest parser: arbitrary bytes must never panic, and anything accepted must be
//! canonical (rendering it back gives the same bytes). The same property runs in the normal
//! test suite (`tests/it/manifest_formats.rs`) on bounded random input.
#![no_main]

use basalt::integrity::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = Manifest::parse(data) {
        assert_eq!(manifest.render(), data);
        let _ = manifest.to_mtree();
        let _ = manifest.to_json();
    }
});
