//! The streaming `.apk` reader on arbitrary bytes, with small inflation limits: errors are
//! fine, panics, path escapes and unbounded work are not. `tests/it/apk_props.rs` runs the same
//! calls.
#![no_main]

use basalt::apk::package::{ReadOptions, read_package};
use basalt::apk::{Keyring, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ring = Keyring::alpine();
    let mut opts = ReadOptions::new(&ring);
    opts.limits = Limits {
        signature_member: 1 << 16,
        control_member: 1 << 20,
        data_member: 1 << 22,
        index_member: 1 << 22,
    };
    let _ = read_package(data, "fuzz", &opts, |entry, content| {
        assert!(!entry.path.starts_with('/') && !entry.path.split('/').any(|p| p == ".."));
        std::io::copy(content, &mut std::io::sink()).map(|_| ())
    });
});
