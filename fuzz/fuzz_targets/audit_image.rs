//! An arbitrary file opened as an image and audited: either a clean error or a report, never
//! a panic or a read outside the image.
#![no_main]

use basalt::integrity::rootfs::RootFs;
use basalt::posture::audit::{AuditPolicy, audit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let path = std::env::temp_dir().join(format!("basalt-fuzz-image-{}", std::process::id()));
    if std::fs::write(&path, bytes).is_err() {
        return;
    }
    if let Ok(fs) = RootFs::open_image(&path) {
        let _ = audit(&fs, &AuditPolicy::default(), 0);
    }
    let _ = std::fs::remove_file(&path);
});
