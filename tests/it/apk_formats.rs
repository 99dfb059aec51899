//! The APK readers against packages and indexes written by the test support: good files read
//! back exactly; signatures, identities and checksums are checked.

use crate::support;

use basalt::apk::keys::{SignatureAlgorithm, SignatureStatus};
use basalt::apk::package::{self, ReadOptions};
use basalt::apk::tar::EntryKind;
use basalt::apk::{Checksum, DataEntry, Keyring, Limits, index};
use support::apk::{ApkBuilder, IndexBuilder, TestKey};

type Seen = (DataEntry, Vec<u8>);

fn read(bytes: &[u8], ring: &Keyring) -> Result<(package::Package, Vec<Seen>), package::Error> {
    let mut seen = Vec::new();
    let pkg = package::read_package(bytes, "test.apk", &ReadOptions::new(ring), |e, content| {
        let mut data = Vec::new();
        content.read_to_end(&mut data)?;
        seen.push((e.clone(), data));
        Ok(())
    })?;
    Ok((pkg, seen))
}

fn busybox() -> ApkBuilder {
    ApkBuilder::new("busybox", "1.36.1-r0")
        .depend("so:libc.musl-x86_64.so.1")
        .provide("cmd:busybox=1.36.1-r0")
        .install_if("busybox-base")
        .replaces("busybox-initscripts")
        .trigger("/bin")
        .dir("bin", 0o755)
        .file("bin/busybox", b"\x7fELF busybox", 0o755)
        .symlink("bin/sh", "/bin/busybox")
        .hardlink("bin/ash", "bin/busybox")
        .file("etc/shadow", b"root:*:::::::\n", 0o640)
        .owned("root", 0, "shadow", 42)
        .file("usr/bin/ping", b"ping", 0o755)
        .pax("SCHILY.xattr.security.capability", b"\x01\x00\x00\x02")
        .script(".post-install", b"#!/bin/sh\necho hi\n")
}

#[test]
fn signed_package_reads_back_exactly() {
    let key = TestKey::primary();
    let built = busybox().build_signed(key);
    let (pkg, entries) = read(&built.bytes, &key.keyring()).unwrap();
    assert_eq!(
        pkg.signature,
        SignatureStatus::Verified {
            key: key.name.clone(),
            algorithm: SignatureAlgorithm::RsaSha1
        }
    );
    assert_eq!(pkg.identity.to_string(), built.identity);
    assert_eq!(pkg.datahash, built.datahash);
    assert!(pkg.datahash_checked);
    assert_eq!(pkg.pkginfo.name(), "busybox");
    assert_eq!(pkg.pkginfo.depends(), ["so:libc.musl-x86_64.so.1"]);
    assert_eq!(pkg.pkginfo.install_if(), ["busybox-base"]);
    assert_eq!(pkg.scripts.len(), 1);
    assert_eq!(pkg.scripts[0].name, ".post-install");
    assert_eq!(pkg.scripts[0].bytes, b"#!/bin/sh\necho hi\n");
    let paths: Vec<_> = entries.iter().map(|(e, _)| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "bin",
            "bin/busybox",
            "bin/sh",
            "bin/ash",
            "etc/shadow",
            "usr/bin/ping"
        ]
    );
    let (bb, content) = &entries[1];
    assert_eq!((bb.kind, bb.mode, bb.size), (EntryKind::File, 0o755, 12));
    assert_eq!(content, b"\x7fELF busybox");
    assert!(bb.sha1.is_some());
    assert_eq!(entries[2].0.link_target.as_deref(), Some("/bin/busybox"));
    assert_eq!(entries[2].0.kind, EntryKind::Symlink);
    assert_eq!(entries[3].0.kind, EntryKind::HardLink);
    assert_eq!(entries[3].0.link_target.as_deref(), Some("bin/busybox"));
    assert_eq!(
        (entries[4].0.gname.as_str(), entries[4].0.gid),
        ("shadow", 42)
    );
    assert_eq!(
        entries[5]
            .0
            .xattrs
            .get("security.capability")
            .map(String::as_bytes),
        Some(&b"\x01\x00\x00\x02"[..])
    );
}

#[test]
fn every_signature_algorithm_verifies() {
    let key = TestKey::primary();
    for alg in [
        SignatureAlgorithm::RsaSha1,
        SignatureAlgorithm::RsaSha256,
        SignatureAlgorithm::RsaSha512,
    ] {
        let built = ApkBuilder::new("a", "1-r0")
            .file("a", b"a", 0o644)
            .algorithm(alg)
            .build_signed(key);
        let (pkg, _) = read(&built.bytes, &key.keyring()).unwrap();
        assert_eq!(
            pkg.signature,
            SignatureStatus::Verified {
                key: key.name.clone(),
                algorithm: alg
            }
        );
        let index = IndexBuilder::new()
            .package(&built)
            .algorithm(alg)
            .build_signed(key);
        let index = index::read_index(
            index.as_slice(),
            "APKINDEX.tar.gz",
            &key.keyring(),
            &Limits::default(),
        )
        .unwrap();
        assert!(index.signature.is_verified(), "{alg}: {}", index.signature);
    }
}

#[test]
fn index_lists_packages_with_their_identities() {
    let key = TestKey::primary();
    let a = busybox()
        .provider_priority(10)
        .replaces_priority(3)
        .build_signed(key);
    let b = ApkBuilder::new("musl", "1.2.4-r2")
        .arch("aarch64")
        .provide("so:libc.musl-aarch64.so.1")
        .build_signed(key);
    let bytes = IndexBuilder::new()
        .description("v3.19.1-1-gtest")
        .package(&a)
        .package(&b)
        .build_signed(key);
    let index = index::read_index(
        bytes.as_slice(),
        "APKINDEX.tar.gz",
        &key.keyring(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(index.description.as_deref(), Some("v3.19.1-1-gtest"));
    assert!(index.signature.is_verified());
    assert_eq!(index.entries.len(), 2);
    let e = &index.entries[0];
    assert_eq!(e.checksum.to_string(), a.identity);
    assert_eq!(
        (e.name.as_str(), e.version.as_str()),
        ("busybox", "1.36.1-r0")
    );
    assert_eq!(e.size, Some(a.bytes.len() as u64));
    assert_eq!(e.depends, ["so:libc.musl-x86_64.so.1"]);
    assert_eq!(e.provides, ["cmd:busybox=1.36.1-r0"]);
    assert_eq!(e.install_if, ["busybox-base"]);
    assert_eq!(e.replaces, ["busybox-initscripts"]);
    assert_eq!(
        (e.provider_priority, e.replaces_priority),
        (Some(10), Some(3))
    );
    assert_eq!(index.entries[1].arch.as_deref(), Some("aarch64"));

    // The package's identity matches its index entry; another package's does not.
    let ring = key.keyring();
    let mut opts = ReadOptions::new(&ring);
    opts.expected_identity = Some(&e.checksum);
    package::read_package(a.bytes.as_slice(), "busybox.apk", &opts, |_, _| Ok(())).unwrap();
    let err =
        package::read_package(b.bytes.as_slice(), "musl.apk", &opts, |_, _| Ok(())).unwrap_err();
    assert!(matches!(err, package::Error::Identity { .. }), "{err}");
    assert!(err.is_check_failure());
    assert!(err.to_string().contains("musl.apk"), "{err}");
}

#[test]
fn unknown_index_fields_are_kept() {
    let key = TestKey::primary();
    let a = ApkBuilder::new("a", "1-r0").build_signed(key);
    let stanza = format!("{}\nZ:something new\nF:usr/bin", a.stanza);
    let bytes = IndexBuilder::new().stanza(&stanza).build_unsigned();
    let index = index::read_index(
        bytes.as_slice(),
        "APKINDEX.tar.gz",
        &Keyring::empty(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(index.signature, SignatureStatus::Unsigned);
    assert_eq!(
        index.entries[0].other,
        [
            ('Z', "something new".to_owned()),
            ('F', "usr/bin".to_owned())
        ]
    );
    assert!(index.require_verified("APKINDEX.tar.gz").is_err());
}

#[test]
fn large_files_stream_through_the_visitor() {
    let key = TestKey::primary();
    let size = 24 << 20;
    let built = ApkBuilder::new("big", "1-r0")
        .zero_file("usr/share/big", size)
        .build_signed(key);
    assert!(built.bytes.len() < 1 << 20, "compressed zeros stay small");
    let ring = key.keyring();
    let mut total = 0u64;
    let pkg = package::read_package(
        built.bytes.as_slice(),
        "big.apk",
        &ReadOptions::new(&ring),
        |e, content| {
            assert_eq!(e.size, size);
            let mut buf = [0u8; 4096];
            loop {
                let n = content.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(total, size);
    assert_eq!(pkg.data_size, size + 512 * 2 + 1024 + 512);
}

#[test]
fn identity_parses_from_the_index_form() {
    let key = TestKey::primary();
    let built = ApkBuilder::new("a", "1-r0").build_signed(key);
    let parsed: Checksum = built.identity.parse().unwrap();
    assert_eq!(parsed.to_string(), built.identity);
}

#[test]
fn every_control_field_the_writer_sets_reads_back() {
    use support::apk::{Content, TestEntry};
    let key = TestKey::primary();
    let built = ApkBuilder::new("chrony", "4.5-r0")
        .arch("aarch64")
        .description("NTP client and server")
        .origin("chrony-src")
        .maintainer("Jane Doe <jane@example.org>")
        .license("GPL-2.0-only")
        .build_date(1_712_345_678)
        .commit("0123456789abcdef0123456789abcdef01234567")
        .without_datahash()
        .entry(TestEntry {
            path: "etc/chrony/chrony.conf".to_owned(),
            typeflag: b'0',
            mode: 0o640,
            uname: "root".to_owned(),
            gname: "chrony".to_owned(),
            uid: 0,
            gid: 123,
            link: String::new(),
            content: Content::Bytes(b"pool pool.ntp.org iburst\n".to_vec()),
            checksum: None,
            pax: Vec::new(),
        })
        .build_signed(key);
    assert_eq!(built.arch, "aarch64");
    // Signature, control and data: three gzip members covering the file.
    assert_eq!(built.members.len(), 3);
    assert_eq!(built.members[0].start, 0);
    assert_eq!(built.members[2].end, built.bytes.len());
    for member in &built.members {
        assert_eq!(&built.bytes[member.start..member.start + 2], &[0x1f, 0x8b]);
    }
    let (pkg, entries) = read(&built.bytes, &key.keyring()).unwrap();
    let info = &pkg.pkginfo;
    assert_eq!(info.arch(), Some("aarch64"));
    assert_eq!(info.get("pkgdesc"), Some("NTP client and server"));
    assert_eq!(info.get("origin"), Some("chrony-src"));
    assert_eq!(info.get("maintainer"), Some("Jane Doe <jane@example.org>"));
    assert_eq!(info.get("license"), Some("GPL-2.0-only"));
    assert_eq!(info.get("builddate"), Some("1712345678"));
    assert_eq!(
        info.get("commit"),
        Some("0123456789abcdef0123456789abcdef01234567")
    );
    assert_eq!(info.datahash(), None);
    assert!(!pkg.datahash_checked);
    let (entry, content) = &entries[0];
    assert_eq!(entry.path, "etc/chrony/chrony.conf");
    assert_eq!(
        (entry.mode, entry.gid, entry.gname.as_str()),
        (0o640, 123, "chrony")
    );
    assert_eq!(content, b"pool pool.ntp.org iburst\n");
}
