//! The `.PKGINFO` parser on arbitrary bytes; a parsed value renders and parses back to itself.
//! `tests/it/apk_props.rs` runs the same calls.
#![no_main]

use basalt::apk::PkgInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = PkgInfo::parse(data) {
        let again = PkgInfo::parse(info.to_string().as_bytes()).expect("rendered .PKGINFO parses");
        assert_eq!(again, info);
    }
});
