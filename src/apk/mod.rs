//! Alpine's package formats, pure: bytes or `impl Read` in, values out.
//!
//! The formats follow apk-tools 2.x: an `.apk` is three concatenated gzip members (signature,
//! control, data); an `APKINDEX.tar.gz` is two (signature, index). Nothing here opens files,
//! resolves dependencies or knows about images.

pub mod installed;
pub mod version;
