//! Hostile packages and indexes: each one fails with an error that names the file and what
//! is wrong, within bounded memory and time, and is never reported as verified.

use crate::support;

use basalt::apk::keys::SignatureStatus;
use basalt::apk::package::{self, ReadOptions};
use basalt::apk::{Keyring, Limits, gzip, index, pkginfo};
use support::apk::{
    ApkBuilder, IndexBuilder, TestKey, flip_in_member, gzip_members, splice_members, with_trailing,
};

const FILE: &str = "hostile-1.0-r0.apk";

fn read_with(
    bytes: &[u8],
    ring: &Keyring,
    limits: Limits,
) -> Result<package::Package, package::Error> {
    let mut opts = ReadOptions::new(ring);
    opts.limits = limits;
    package::read_package(bytes, FILE, &opts, |_, content| {
        std::io::copy(content, &mut std::io::sink()).map(|_| ())
    })
}

fn read(bytes: &[u8], ring: &Keyring) -> Result<package::Package, package::Error> {
    read_with(bytes, ring, Limits::default())
}

fn read_index(bytes: &[u8], ring: &Keyring) -> Result<index::Index, index::Error> {
    index::read_index(bytes, "APKINDEX.tar.gz", ring, &Limits::default())
}

fn good() -> ApkBuilder {
    ApkBuilder::new("hostile", "1.0-r0")
        .depend("musl")
        .dir("etc", 0o755)
        .file("etc/motd", b"welcome\n", 0o644)
        .file("usr/bin/tool", &[7u8; 3000], 0o755)
        .symlink("usr/bin/alias", "tool")
}

#[track_caller]
fn assert_names_file(err: &dyn std::fmt::Display, file: &str, what: &str) {
    let text = err.to_string();
    assert!(text.contains(file), "error does not name `{file}`: {text}");
    assert!(text.contains(what), "error does not say `{what}`: {text}");
}

#[test]
fn unsigned_package_is_reported_and_refused_when_required() {
    let ring = TestKey::primary().keyring();
    let built = good().build_unsigned();
    let pkg = read(&built.bytes, &ring).unwrap();
    assert_eq!(pkg.signature, SignatureStatus::Unsigned);
    assert_eq!(pkg.identity.to_string(), built.identity);
    let mut opts = ReadOptions::new(&ring);
    opts.require_verified = true;
    let mut visited = 0;
    let err = package::read_package(built.bytes.as_slice(), FILE, &opts, |_, _| {
        visited += 1;
        Ok(())
    })
    .unwrap_err();
    assert_eq!(
        visited, 0,
        "no data is handed out before the signature is trusted"
    );
    assert!(err.is_check_failure());
    assert_names_file(&err, FILE, "unsigned");
}

#[test]
fn unsigned_index_is_reported() {
    let built = good().build_signed(TestKey::primary());
    let bytes = IndexBuilder::new().package(&built).build_unsigned();
    let index = read_index(&bytes, &TestKey::primary().keyring()).unwrap();
    assert_eq!(index.signature, SignatureStatus::Unsigned);
    let err = index.require_verified("APKINDEX.tar.gz").unwrap_err();
    assert_names_file(&err, "APKINDEX.tar.gz", "unsigned");
}

#[test]
fn signature_by_an_untrusted_key() {
    let other = TestKey::other();
    let ring = TestKey::primary().keyring();
    let built = good().build_signed(other);
    assert_eq!(
        read(&built.bytes, &ring).unwrap().signature,
        SignatureStatus::Untrusted {
            keys: vec![other.name.clone()]
        }
    );
    let index = IndexBuilder::new().package(&built).build_signed(other);
    let status = read_index(&index, &ring).unwrap().signature;
    assert!(
        matches!(status, SignatureStatus::Untrusted { .. }),
        "{status}"
    );
    // The built-in Alpine keys do not trust test keys either.
    let status = read(&built.bytes, &Keyring::alpine()).unwrap().signature;
    assert!(matches!(status, SignatureStatus::Untrusted { .. }));
}

#[test]
fn signature_over_other_bytes_is_bad() {
    // The signature member of one package on the control and data of another: a trusted
    // key's signature that does not match.
    let key = TestKey::primary();
    let a = good().build_signed(key);
    let b = good().file("etc/extra", b"x", 0o644).build_signed(key);
    let forged = splice_members(&a.bytes, &b.bytes, &[1, 2]);
    let status = read(&forged, &key.keyring()).unwrap().signature;
    assert!(matches!(status, SignatureStatus::Bad { .. }), "{status}");
    assert!(status.to_string().contains("bad signature"));
}

#[test]
fn one_flipped_byte_in_each_package_member_is_caught() {
    let key = TestKey::primary();
    let built = good().build_signed(key);
    assert_eq!(gzip_members(&built.bytes).len(), 3);
    for member in 0..3 {
        let bytes = flip_in_member(&built.bytes, member);
        match read(&bytes, &key.keyring()) {
            Ok(pkg) => assert!(
                !pkg.signature.is_verified(),
                "member {member}: a flipped byte still verifies"
            ),
            Err(err) => assert_names_file(&err, FILE, ""),
        }
    }
}

#[test]
fn one_flipped_byte_in_each_index_member_is_caught() {
    let key = TestKey::primary();
    let built = good().build_signed(key);
    let bytes = IndexBuilder::new()
        .description("d")
        .package(&built)
        .build_signed(key);
    for member in 0..2 {
        let flipped = flip_in_member(&bytes, member);
        match read_index(&flipped, &key.keyring()) {
            Ok(index) => assert!(!index.signature.is_verified(), "member {member}"),
            Err(err) => assert_names_file(&err, "APKINDEX.tar.gz", ""),
        }
    }
}

#[test]
fn every_flipped_byte_of_a_package_fails_or_is_not_verified() {
    let key = TestKey::primary();
    let ring = key.keyring();
    let built = ApkBuilder::new("tiny", "1-r0")
        .file("a", b"abc", 0o644)
        .build_signed(key);
    for at in 0..built.bytes.len() {
        let mut bytes = built.bytes.clone();
        bytes[at] ^= 0x20;
        if let Ok(pkg) = read(&bytes, &ring)
            && pkg.signature.is_verified()
        {
            // Only bytes outside the signed and hashed regions (the signature member's own
            // gzip header, for example) may change and still verify: the package is then the
            // same package.
            assert_eq!(pkg.identity.to_string(), built.identity, "byte {at}");
            assert_eq!(pkg.datahash, built.datahash, "byte {at}");
        }
    }
}

#[test]
fn truncation_at_any_point_fails_with_the_file_named() {
    let key = TestKey::primary();
    let built = good().build_signed(key);
    for cut in (0..built.bytes.len()).step_by(7) {
        let err = read(&built.bytes[..cut], &key.keyring()).unwrap_err();
        assert_names_file(&err, FILE, "");
        assert!(!err.is_check_failure(), "cut {cut}: {err}");
    }
    let index = IndexBuilder::new().package(&built).build_signed(key);
    for cut in (0..index.len()).step_by(5) {
        let err = read_index(&index[..cut], &key.keyring()).unwrap_err();
        assert_names_file(&err, "APKINDEX.tar.gz", "");
    }
}

#[test]
fn trailing_garbage_fails() {
    let key = TestKey::primary();
    let built = good().build_signed(key);
    let err = read(&with_trailing(&built.bytes, b"garbage"), &key.keyring()).unwrap_err();
    assert_names_file(&err, FILE, "trailing data");
    let index = IndexBuilder::new().package(&built).build_signed(key);
    let err = read_index(&with_trailing(&index, &[0u8; 10]), &key.keyring()).unwrap_err();
    assert_names_file(&err, "APKINDEX.tar.gz", "trailing data");
    // A whole extra gzip member is trailing data too.
    let extra = with_trailing(
        &built.bytes,
        &built.bytes[gzip_members(&built.bytes)[2].clone()],
    );
    let err = read(&extra, &key.keyring()).unwrap_err();
    assert_names_file(&err, FILE, "trailing data");
}

#[test]
fn gzip_bomb_in_the_data_member_stops_at_the_limit() {
    let key = TestKey::primary();
    let built = ApkBuilder::new("bomb", "1-r0")
        .zero_file("bomb", 40 << 20)
        .build_signed(key);
    assert!(built.bytes.len() < 100_000);
    let limits = Limits {
        data_member: 8 << 20,
        ..Limits::default()
    };
    let err = read_with(&built.bytes, &key.keyring(), limits).unwrap_err();
    assert!(
        matches!(
            &err,
            package::Error::Gzip {
                source: gzip::Error::TooLarge { member: 3, .. },
                ..
            }
        ),
        "{err}"
    );
    assert_names_file(&err, FILE, "inflates beyond the limit");
}

#[test]
fn gzip_bomb_in_the_control_member_stops_at_the_default_limit() {
    let key = TestKey::primary();
    let built = ApkBuilder::new("bomb", "1-r0")
        .zero_script(".pre-install", Limits::default().control_member + 1)
        .build_signed(key);
    let err = read(&built.bytes, &key.keyring()).unwrap_err();
    assert_names_file(&err, FILE, "gzip member 2 inflates beyond the limit");
}

#[test]
fn gzip_bomb_in_an_index_stops_at_the_limit() {
    let key = TestKey::primary();
    let mut stanza = String::from("C:Q1mcpyM8ftLHlvmaMjdLoBo6zq/Fo=\nP:a\nV:1\nT:");
    stanza.push_str(&"x".repeat(100_000));
    let bytes = IndexBuilder::new().stanza(&stanza).build_signed(key);
    let limits = Limits {
        index_member: 50_000,
        ..Limits::default()
    };
    let err = index::read_index(bytes.as_slice(), "APKINDEX.tar.gz", &key.keyring(), &limits)
        .unwrap_err();
    assert_names_file(&err, "APKINDEX.tar.gz", "inflates beyond the limit");
}

#[test]
fn names_with_dotdot_or_a_leading_slash_are_refused() {
    let key = TestKey::primary();
    for (name, builder) in [
        ("../etc/passwd", good().file("../etc/passwd", b"x", 0o644)),
        ("usr/../../x", good().file("usr/../../x", b"x", 0o644)),
        ("/etc/shadow", good().file("/etc/shadow", b"x", 0o644)),
        ("/abs", good().dir("/abs", 0o755)),
        (
            "x => ../../etc/passwd",
            good().hardlink("x", "../../etc/passwd"),
        ),
    ] {
        let built = builder.build_signed(key);
        let mut visited = Vec::new();
        let ring = key.keyring();
        let err = package::read_package(
            built.bytes.as_slice(),
            FILE,
            &ReadOptions::new(&ring),
            |e, _| {
                visited.push(e.path.clone());
                Ok(())
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, package::Error::UnsafePath { .. }),
            "{name}: {err}"
        );
        assert_names_file(&err, FILE, name);
        assert!(
            visited
                .iter()
                .all(|p| !p.contains("..") && !p.starts_with('/')),
            "{visited:?}"
        );
    }
}

#[test]
fn pkginfo_of_megabytes_fails() {
    let key = TestKey::primary();
    let built = good()
        .pkginfo_field("x-padding", &"p".repeat(200_000))
        .pkginfo_field("x-padding", &"p".repeat(200_000))
        .pkginfo_field("x-padding", &"p".repeat(200_000))
        .pkginfo_field("x-padding", &"p".repeat(200_000))
        .pkginfo_field("x-padding", &"p".repeat(200_000))
        .pkginfo_field("x-padding", &"p".repeat(200_000))
        .build_signed(key);
    let err = read(&built.bytes, &key.keyring()).unwrap_err();
    assert!(
        matches!(
            &err,
            package::Error::PkgInfo {
                source: pkginfo::Error::TooLarge { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_names_file(&err, FILE, ".PKGINFO is larger than");
}

#[test]
fn version_of_megabytes_fails_in_pkginfo_and_index() {
    let key = TestKey::primary();
    let version = format!("1.{}", "0".repeat(3 << 20));
    let built = ApkBuilder::new("v", &version).build_signed(key);
    let err = read(&built.bytes, &key.keyring()).unwrap_err();
    assert_names_file(&err, FILE, ".PKGINFO is larger than");

    let stanza = format!("C:Q1mcpyM8ftLHlvmaMjdLoBo6zq/Fo=\nP:v\nV:{version}");
    let bytes = IndexBuilder::new().stanza(&stanza).build_signed(key);
    let err = read_index(&bytes, &key.keyring()).unwrap_err();
    assert_names_file(&err, "APKINDEX.tar.gz", "line 3 is longer than");
}

#[test]
fn wrong_file_checksum_fails() {
    let key = TestKey::primary();
    let built = good()
        .file("etc/issue", b"hello", 0o644)
        .checksum_record("0000000000000000000000000000000000000000")
        .build_signed(key);
    let err = read(&built.bytes, &key.keyring()).unwrap_err();
    assert!(err.is_check_failure());
    assert_names_file(&err, FILE, "`etc/issue` has SHA-1");
    let built = good()
        .symlink("etc/link", "target")
        .checksum_record("0000000000000000000000000000000000000001")
        .build_signed(key);
    let err = read(&built.bytes, &key.keyring()).unwrap_err();
    assert_names_file(&err, FILE, "`etc/link` has SHA-1");
    let built = good()
        .file("etc/x", b"x", 0o644)
        .checksum_record("zz")
        .build_signed(key);
    let err = read(&built.bytes, &key.keyring()).unwrap_err();
    assert_names_file(&err, FILE, "malformed APK-TOOLS.checksum.SHA1");
}

#[test]
fn wrong_datahash_fails() {
    let key = TestKey::primary();
    let built = good().wrong_datahash(&"ab".repeat(32)).build_signed(key);
    let err = read(&built.bytes, &key.keyring()).unwrap_err();
    assert!(err.is_check_failure());
    assert_names_file(&err, FILE, "datahash");
    // A data member swapped for another package's: signature still verifies (it covers the
    // control member), datahash catches it.
    let a = good().build_signed(key);
    let b = good().file("etc/evil", b"evil", 0o644).build_signed(key);
    let err = read(&splice_members(&a.bytes, &b.bytes, &[2]), &key.keyring()).unwrap_err();
    assert!(matches!(err, package::Error::DataHash { .. }), "{err}");
}

#[test]
fn malformed_control_members_fail() {
    let key = TestKey::primary();
    let cases: [(ApkBuilder, &str); 4] = [
        (good().raw_pkginfo(b"pkgname = a\n"), "has no `pkgver`"),
        (good().raw_pkginfo(b"garbage\n"), "is not `key = value`"),
        (good().script("not-dotted", b"x"), "control files are named"),
        (good().script("../.x", b"x"), "control files are named"),
    ];
    for (builder, what) in cases {
        let err = read(&builder.build_signed(key).bytes, &key.keyring()).unwrap_err();
        assert_names_file(&err, FILE, what);
    }
}

#[test]
fn not_gzip_and_empty_files_fail() {
    let ring = Keyring::alpine();
    let err = read(b"", &ring).unwrap_err();
    assert_names_file(&err, FILE, "empty file");
    let err = read(b"PK\x03\x04 this is a zip", &ring).unwrap_err();
    assert_names_file(&err, FILE, "gzip magic");
    let err = read_index(b"", &ring).unwrap_err();
    assert_names_file(&err, "APKINDEX.tar.gz", "empty file");
}

#[test]
fn visitor_sees_content_that_is_then_checked() {
    // The visitor reads only part of a file; the rest is still read and checked.
    let key = TestKey::primary();
    let built = good().build_signed(key);
    let ring = key.keyring();
    let pkg = package::read_package(
        built.bytes.as_slice(),
        FILE,
        &ReadOptions::new(&ring),
        |_, content| {
            let mut first = [0u8; 10];
            let _ = content.read(&mut first)?;
            Ok(())
        },
    )
    .unwrap();
    assert!(pkg.signature.is_verified());
    // A visitor error names the entry.
    let err = package::read_package(
        built.bytes.as_slice(),
        FILE,
        &ReadOptions::new(&ring),
        |e, _| {
            if e.path == "etc/motd" {
                Err(std::io::Error::other("disk full"))
            } else {
                Ok(())
            }
        },
    )
    .unwrap_err();
    assert_names_file(&err, FILE, "etc/motd");
}
