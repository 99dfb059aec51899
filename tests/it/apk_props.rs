//! Properties of the APK parsers: they never panic on any input (the same entry points as the
//! fuzz targets in `fuzz/fuzz_targets/{index,pkginfo,package}.rs`), and rendered values parse
//! back to themselves.

use crate::support;

use basalt::apk::index::{self, IndexEntry};
use basalt::apk::package::{self, ReadOptions};
use basalt::apk::pkginfo::{Field, PkgInfo};
use basalt::apk::{Checksum, Keyring, Limits};
use proptest::prelude::*;
use support::apk::{ApkBuilder, IndexBuilder, TestKey};

fn small_limits() -> Limits {
    Limits {
        signature_member: 1 << 16,
        control_member: 1 << 20,
        data_member: 1 << 22,
        index_member: 1 << 22,
    }
}

fn keyring() -> &'static Keyring {
    static RING: std::sync::OnceLock<Keyring> = std::sync::OnceLock::new();
    RING.get_or_init(Keyring::alpine)
}

/// What the fuzz targets run on each input: every reader, all errors tolerated.
fn exercise(data: &[u8]) {
    if let Ok(entries) = index::parse_apkindex(data) {
        let text = index::render_apkindex(&entries);
        assert_eq!(index::parse_apkindex(text.as_bytes()).unwrap(), entries);
    }
    if let Ok(info) = PkgInfo::parse(data) {
        assert_eq!(PkgInfo::parse(info.to_string().as_bytes()).unwrap(), info);
    }
    let ring = keyring();
    let _ = index::read_index(data, "fuzz", ring, &small_limits());
    let mut opts = ReadOptions::new(ring);
    opts.limits = small_limits();
    let _ = package::read_package(data, "fuzz", &opts, |_, content| {
        std::io::copy(content, &mut std::io::sink()).map(|_| ())
    });
}

fn line_soup() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        "[CPVASITULomtckDpirqZ]:[ -~]{0,40}",
        "[a-z_]{1,12} = [ -~\\r]{0,40}",
        "",
        "#[ -~]{0,20}",
        "pkgname = [a-z]{1,5}",
        "pkgver = [0-9.]{1,5}",
        "[ -~]{0,30}",
        "C:Q1[A-Za-z0-9+/]{27}=",
        "[SItkq]:[0-9]{0,25}",
    ];
    prop::collection::vec(line, 0..30).prop_map(|lines| lines.join("\n").into_bytes())
}

fn atom() -> impl Strategy<Value = String> {
    "[a-z0-9:._+=<>~-]{1,20}"
}

fn text() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[ -~]{0,30}")
}

prop_compose! {
    fn entry()(
        digest in prop::array::uniform20(any::<u8>()),
        name in "[a-z0-9][a-z0-9._+-]{0,20}",
        version in "[0-9][0-9a-z._-]{0,15}",
        (arch, description, url, license) in (text(), text(), text(), text()),
        (origin, maintainer, commit) in (text(), text(), text()),
        (size, installed_size, build_time, provider_priority, replaces_priority) in (
            prop::option::of(any::<u64>()), prop::option::of(any::<u64>()),
            prop::option::of(any::<u64>()), prop::option::of(any::<u64>()),
            prop::option::of(any::<u64>())),
        depends in prop::collection::vec(atom(), 0..4),
        provides in prop::collection::vec(atom(), 0..4),
        install_if in prop::collection::vec(atom(), 0..3),
        replaces in prop::collection::vec(atom(), 0..3),
        other in prop::collection::vec(("[BEFGHJKMNOQRWXYZabdefghjlnsuvwxyz]", "[ -~]{0,20}"), 0..3),
    ) -> IndexEntry {
        IndexEntry {
            checksum: Checksum::Sha1(digest),
            name, version, arch, size, installed_size, description, url, license, origin,
            maintainer, build_time, commit, provider_priority, depends, provides, install_if,
            replaces, replaces_priority,
            other: other.into_iter().map(|(c, v)| (c.chars().next().unwrap(), v)).collect(),
        }
    }
}

proptest! {
    // 96 cases by default; `PROPTEST_CASES` runs more (a longer fuzzing session).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96),
        ..ProptestConfig::default()
    })]

    #[test]
    fn readers_never_panic_on_bytes(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&data);
    }

    #[test]
    fn readers_never_panic_on_line_soup(data in line_soup()) {
        exercise(&data);
    }

    #[test]
    fn index_entries_round_trip(entries in prop::collection::vec(entry(), 0..5)) {
        let text = index::render_apkindex(&entries);
        prop_assert_eq!(index::parse_apkindex(text.as_bytes()).unwrap(), entries);
    }

    #[test]
    fn pkginfo_round_trips(
        name in "[a-z][a-z0-9-]{0,10}",
        version in "[0-9][0-9a-z._-]{0,10}",
        extra in prop::collection::vec(("[a-z_]{1,12}", "[!-~][ -~]{0,30}"), 0..10),
    ) {
        let mut fields = vec![
            Field { key: "pkgname".into(), value: name },
            Field { key: "pkgver".into(), value: version },
        ];
        fields.extend(extra.into_iter().map(|(key, value)| Field { key, value }));
        let info = PkgInfo { fields };
        prop_assert_eq!(PkgInfo::parse(info.to_string().as_bytes()).unwrap(), info);
    }
}

#[test]
fn damaged_fixtures_never_panic() {
    // Deterministic damage (a fixed xorshift sequence) of real fixture bytes: flips, cuts and
    // splices in every member, far more likely than random bytes to reach deep code paths.
    let key = TestKey::primary();
    let apk = ApkBuilder::new("fuzzed", "1-r0")
        .depend("musl")
        .dir("etc", 0o755)
        .file("etc/a", b"alpha", 0o644)
        .symlink("etc/b", "a")
        .hardlink("etc/c", "etc/a")
        .script(".post-install", b"#!/bin/sh\n")
        .build_signed(key);
    let index = IndexBuilder::new()
        .description("d")
        .package(&apk)
        .build_signed(key);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for seed in [&apk.bytes, &index] {
        for _ in 0..400 {
            let mut bytes = seed.clone();
            let len = bytes.len() as u64;
            match next() % 3 {
                0 => {
                    for _ in 0..=(next() % 4) {
                        let at = usize::try_from(next() % len).unwrap();
                        bytes[at] ^= 1 << (next() % 8);
                    }
                }
                1 => bytes.truncate(usize::try_from(next() % len).unwrap()),
                _ => {
                    let at = usize::try_from(next() % len).unwrap();
                    let from = usize::try_from(next() % len).unwrap();
                    let chunk = seed[from..].iter().take(64).copied().collect::<Vec<_>>();
                    bytes.splice(at..at, chunk);
                }
            }
            exercise(&bytes);
        }
    }
}
