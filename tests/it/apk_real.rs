//! The APK readers against real Alpine data (`../shared/data/alpine`): every package of the
//! boot repository and every shared index verify with the built-in keys, every identity and
//! datahash matches, and the indexes parse completely; cross-checked with an independent
//! decoder and with the real apk-tools.

use crate::support;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use basalt::apk::keys::SignatureStatus;
use basalt::apk::package::{self, ReadOptions};
use basalt::apk::tar::EntryKind;
use basalt::apk::{Keyring, Limits, index};
use sha1::{Digest as _, Sha1};

const BOOT_KEY: &str = "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub";

fn boot_dir(data: &Path) -> PathBuf {
    data.join("alpine/repos/v3.19-boot/x86_64")
}

fn read_index_file(path: &Path) -> index::Index {
    let file = fs_err::File::open(path).unwrap();
    index::read_index(
        std::io::BufReader::new(file),
        &path.display().to_string(),
        &Keyring::alpine(),
        &Limits::default(),
    )
    .unwrap()
}

/// `P:` lines counted by an independent decoder (flate2's multi-member reader and the `tar`
/// crate), to compare with basalt's entry count.
fn independent_p_count(path: &Path) -> usize {
    let bytes = fs_err::read(path).unwrap();
    let gz = flate2::read::MultiGzDecoder::new(bytes.as_slice());
    let mut archive = tar::Archive::new(gz);
    let mut count = 0;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("APKINDEX") {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            count = text.lines().filter(|l| l.starts_with("P:")).count();
        }
    }
    count
}

#[test]
fn every_boot_package_verifies_and_matches_its_index() {
    let Some(data) = support::shared_data("every_boot_package_verifies_and_matches_its_index")
    else {
        return;
    };
    let dir = boot_dir(&data);
    let index = read_index_file(&dir.join("APKINDEX.tar.gz"));
    assert_eq!(
        index.signature,
        SignatureStatus::Verified {
            key: BOOT_KEY.to_owned(),
            algorithm: basalt::apk::keys::SignatureAlgorithm::RsaSha1
        }
    );
    let by_file: BTreeMap<String, &index::IndexEntry> = index
        .entries
        .iter()
        .map(|e| (format!("{}-{}.apk", e.name, e.version), e))
        .collect();
    let mut files: Vec<PathBuf> = fs_err::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "apk"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        index.entries.len(),
        "one package per index entry"
    );
    let ring = Keyring::alpine();
    let mut regular_files = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let entry = by_file
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the index"));
        let mut opts = ReadOptions::new(&ring);
        opts.expected_identity = Some(&entry.checksum);
        opts.require_verified = true;
        let bytes = fs_err::read(path).unwrap();
        let mut checked_here = 0;
        let pkg = package::read_package(bytes.as_slice(), name, &opts, |e, content| {
            if e.kind == EntryKind::File {
                // Hash independently of the reader's own check.
                let mut h = Sha1::new();
                let mut buf = [0u8; 8192];
                loop {
                    let n = content.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                assert_eq!(
                    Some(<[u8; 20]>::from(h.finalize())),
                    e.sha1,
                    "{name}: {}",
                    e.path
                );
                checked_here += 1;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        regular_files += checked_here;
        assert!(pkg.signature.is_verified(), "{name}: {}", pkg.signature);
        assert!(pkg.datahash_checked, "{name} has a datahash");
        assert_eq!(pkg.identity, entry.checksum, "{name}");
        assert_eq!(pkg.pkginfo.name(), entry.name);
        assert_eq!(pkg.pkginfo.version(), entry.version);
        assert_eq!(Some(bytes.len() as u64), entry.size, "{name}: S:");
        assert_eq!(pkg.pkginfo.size(), entry.installed_size, "{name}: I:");
        assert_eq!(pkg.file_size, bytes.len() as u64);
        let depends: Vec<&str> = entry.depends.iter().map(String::as_str).collect();
        assert_eq!(pkg.pkginfo.depends(), depends, "{name}: D:");
    }
    assert!(regular_files > 1000, "{regular_files} files hashed");
}

#[test]
fn shared_indexes_verify_and_parse_completely() {
    let Some(data) = support::shared_data("shared_indexes_verify_and_parse_completely") else {
        return;
    };
    for (rel, key) in [
        ("alpine/indexes/v3.19-main-x86_64.APKINDEX.tar.gz", BOOT_KEY),
        (
            "alpine/indexes/v3.19-community-x86_64.APKINDEX.tar.gz",
            BOOT_KEY,
        ),
        (
            "alpine/repos/v3.17-main/aarch64/APKINDEX.tar.gz",
            "alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub",
        ),
        ("alpine/repos/v3.19-boot/x86_64/APKINDEX.tar.gz", BOOT_KEY),
    ] {
        let path = data.join(rel);
        let index = read_index_file(&path);
        assert!(
            matches!(&index.signature, SignatureStatus::Verified { key: k, .. } if k == key),
            "{rel}: {}",
            index.signature
        );
        assert_eq!(index.entries.len(), independent_p_count(&path), "{rel}");
        assert!(index.description.as_deref().is_some_and(|d| !d.is_empty()));
        // Every field was understood: nothing landed in `other` for these apk-written files.
        for e in &index.entries {
            assert!(e.other.is_empty(), "{rel}: {}: {:?}", e.name, e.other);
        }
    }
}

#[test]
fn index_text_round_trips_byte_for_byte() {
    let Some(data) = support::shared_data("index_text_round_trips_byte_for_byte") else {
        return;
    };
    let path = data.join("alpine/indexes/v3.19-main-x86_64.APKINDEX.tar.gz");
    let bytes = fs_err::read(&path).unwrap();
    let gz = flate2::read::MultiGzDecoder::new(bytes.as_slice());
    let mut archive = tar::Archive::new(gz);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("APKINDEX") {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            let parsed = index::parse_apkindex(text.as_bytes()).unwrap();
            assert_eq!(index::render_apkindex(&parsed), text);
            return;
        }
    }
    panic!("no APKINDEX in {}", path.display());
}

#[test]
fn real_apk_agrees_on_every_shared_file() {
    let Some(apk) = support::alpine_apk("real_apk_agrees_on_every_shared_file") else {
        return;
    };
    let data = support::shared_data("real_apk_agrees_on_every_shared_file").unwrap();
    let dir = boot_dir(&data);
    let mut files: Vec<PathBuf> = fs_err::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(data.join("alpine/indexes/v3.19-main-x86_64.APKINDEX.tar.gz"));
    files.push(data.join("alpine/repos/v3.17-main/aarch64/APKINDEX.tar.gz"));
    files.sort();
    let out = Command::new(&apk)
        .arg("--keys-dir")
        .arg(data.join("alpine/keys"))
        .arg("verify")
        .args(&files)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "apk verify failed: {stdout}");
    let ring = Keyring::alpine();
    for path in &files {
        let shown = path.display().to_string();
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{shown}:")))
            .unwrap_or_else(|| panic!("apk said nothing about {shown}"));
        let apk_ok = line.ends_with("OK");
        let bytes = fs_err::read(path).unwrap();
        let ours = if shown.ends_with(".apk") {
            package::read_package(
                bytes.as_slice(),
                &shown,
                &ReadOptions::new(&ring),
                |_, _| Ok(()),
            )
            .map(|p| p.signature.is_verified())
        } else {
            Ok(
                index::read_index(bytes.as_slice(), &shown, &ring, &Limits::default())
                    .unwrap()
                    .signature
                    .is_verified(),
            )
        };
        assert_eq!(ours.ok(), Some(apk_ok), "{line}");
    }
    // And on a tampered copy both refuse.
    let tmp = tempfile::tempdir().unwrap();
    let original = fs_err::read(dir.join("busybox-1.36.1-r15.apk")).unwrap();
    let members = support::apk::gzip_members(&original);
    let mut tampered = original.clone();
    let at = members[2].start + 100;
    tampered[at] ^= 1;
    let path = tmp.path().join("busybox-1.36.1-r15.apk");
    fs_err::write(&path, &tampered).unwrap();
    let status = Command::new(&apk)
        .arg("--keys-dir")
        .arg(data.join("alpine/keys"))
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap()
        .status;
    assert!(!status.success());
    let ours = package::read_package(
        tampered.as_slice(),
        "busybox.apk",
        &ReadOptions::new(&ring),
        |_, _| Ok(()),
    );
    assert!(ours.is_err());
}
