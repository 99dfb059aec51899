//! The APKINDEX text parser and the whole `APKINDEX.tar.gz` reader on arbitrary bytes: errors
//! are fine, panics and unbounded work are not. `tests/it/apk_props.rs` runs the same calls.
#![no_main]

use basalt::apk::{Keyring, Limits, index};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = index::parse_apkindex(data) {
        let text = index::render_apkindex(&entries);
        assert_eq!(index::parse_apkindex(text.as_bytes()).unwrap(), entries);
    }
    let limits = Limits {
        signature_member: 1 << 16,
        control_member: 1 << 20,
        data_member: 1 << 22,
        index_member: 1 << 22,
    };
    let _ = index::read_index(data, "fuzz", &Keyring::alpine(), &limits);
});
