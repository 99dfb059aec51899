//! An image whose archive holds `lib/apk/db/installed` twice: extraction keeps the second,
//! so every command that reads an image must read the second. A command that read the first
//! would show one set of packages while `verify` checked another.
//!
//! The first database lists `redis` (an application, vulnerable, with a newer version in the
//! repository), the second `nginx` (the same on all three counts). Every command must speak of
//! `nginx` and never of `redis`.

use std::path::Path;

use crate::support;

use support::run_basalt;

/// An installed-database record.
fn record(name: &str, version: &str) -> String {
    format!(
        "C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:{name}\nV:{version}\nA:x86_64\nS:1\nI:1\nT:t\nU:u\nL:l\no:{name}\n\n"
    )
}

/// Owned by root, dated at the epoch.
fn owned(header: &mut tar::Header) {
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
}

/// An image archive with these (name, content) regular files, in this order.
fn image(path: &Path, files: &[(&str, &str)]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for dir in ["./", "./etc/", "./lib/", "./lib/apk/", "./lib/apk/db/"] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        header.set_mode(0o755);
        owned(&mut header);
        tar.append_data(&mut header, dir, &[][..]).unwrap();
    }
    for (name, body) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        owned(&mut header);
        tar.append_data(&mut header, name, body.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// An unsigned `APKINDEX.tar.gz` listing `stanzas`.
fn unsigned_index(path: &Path, stanzas: &str) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for (name, body) in [("DESCRIPTION", "test repository\n"), ("APKINDEX", stanzas)] {
        let mut header = tar::Header::new_ustar();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        owned(&mut header);
        tar.append_data(&mut header, name, body.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

fn run(args: &[&str]) -> (i32, String, String) {
    run_basalt(args)
}

#[test]
fn every_command_reads_the_last_database_of_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let release = ("./etc/alpine-release", "3.19.1\n");
    let first = record("redis", "7.2.4-r0");
    let second = record("nginx", "1.24.0-r15");
    // The hostile image: the database twice (once spelled `lib/./apk//db/installed`, which
    // extracts to the same file), the second one last.
    image(
        Path::new(&at("hostile.tar.gz")),
        &[
            release,
            ("./lib/apk/db/installed", &first),
            ("lib/./apk//db/installed", &second),
        ],
    );
    // The images each database alone would make.
    image(
        Path::new(&at("first.tar.gz")),
        &[release, ("./lib/apk/db/installed", &first)],
    );
    image(
        Path::new(&at("second.tar.gz")),
        &[release, ("./lib/apk/db/installed", &second)],
    );
    let hostile = at("hostile.tar.gz");

    // manifest and verify: the header lists nginx; the image verifies clean against the
    // manifest of the second database's image and drifts from the first's.
    let (code, text, stderr) = run(&["manifest", &hostile]);
    assert_eq!(code, 0, "{stderr}");
    assert!(text.contains("\npackage nginx 1.24.0-r15 "), "{text}");
    assert!(!text.contains("redis"), "{text}");
    for (side, clean) in [("second", true), ("first", false)] {
        let manifest = at(&format!("{side}.manifest"));
        let (code, _, stderr) = run(&[
            "manifest",
            &at(&format!("{side}.tar.gz")),
            "--image",
            "hostile",
            "--out",
            &manifest,
        ]);
        assert_eq!(code, 0, "{stderr}");
        let (code, stdout, stderr) = run(&[
            "verify",
            "--manifest",
            &manifest,
            "--no-signature",
            "--format",
            "json",
            &hostile,
        ]);
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        if clean {
            assert_eq!(code, 0, "{stdout}{stderr}");
        } else {
            assert_eq!(code, 1, "{stdout}{stderr}");
            assert!(
                report["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["kind"] == "package"),
                "{stdout}"
            );
        }
    }

    // scan: only nginx's advisory applies.
    let secdb = at("main.json");
    std::fs::write(
        &secdb,
        r#"{"distroversion":"v3.19","reponame":"main","packages":[
            {"pkg":{"name":"nginx","secfixes":{"1.24.0-r16":["CVE-2024-7347"]}}},
            {"pkg":{"name":"redis","secfixes":{"7.2.5-r0":["CVE-2024-31449"]}}}]}"#,
    )
    .unwrap();
    let (code, stdout, stderr) = run(&["scan", &hostile, "--secdb", &secdb]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("nginx 1.24.0-r15: 1 advisory"), "{stdout}");
    assert!(!stdout.contains("redis"), "{stdout}");
    assert!(stdout.contains("1 packages scanned"), "{stdout}");

    // outdated: only nginx is compared with the repository.
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("x86_64")).unwrap();
    unsigned_index(
        &repo.join("x86_64/APKINDEX.tar.gz"),
        &format!(
            "{}{}",
            record("nginx", "1.26.2-r0"),
            record("redis", "7.2.5-r0")
        ),
    );
    let (code, stdout, stderr) = run(&[
        "outdated",
        &hostile,
        "--repository",
        repo.to_str().unwrap(),
        "--allow-untrusted",
        "--cache-dir",
        &at("cache"),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stdout.starts_with("nginx 1.24.0-r15 -> 1.26.2-r0 ("),
        "{stdout}"
    );
    assert!(!stdout.contains("redis"), "{stdout}");

    // audit: the application installed is nginx.
    let (_, stdout, stderr) = run(&["audit", &hostile, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("{e}: {stdout}{stderr}");
    });
    let applications: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "package-application")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        applications,
        ["application package `nginx` is installed on the host"]
    );

    // diff: the same packages as the second database's image, not the first's.
    let (code, stdout, stderr) = run(&["diff", &at("second.tar.gz"), &hostile]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, _) = run(&["diff", &at("first.tar.gz"), &hostile]);
    assert_eq!(code, 1);
    assert!(stdout.contains("added      nginx 1.24.0-r15"), "{stdout}");
    assert!(stdout.contains("removed    redis 7.2.4-r0"), "{stdout}");
}

/// The database counts only as the regular file at its path: a symbolic link or a hard link
/// there is not a database to any command.
#[test]
fn a_linked_database_is_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("linked.tar.gz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let body = record("nginx", "1.24.0-r15");
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    owned(&mut header);
    tar.append_data(&mut header, "./var/db", body.as_bytes())
        .unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Link);
    header.set_size(0);
    header.set_mode(0o644);
    owned(&mut header);
    tar.append_link(&mut header, "./lib/apk/db/installed", "./var/db")
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    let image = path.to_str().unwrap();

    let (code, stdout, stderr) = run(&["manifest", image]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("\npackage "), "{stdout}");
    let secdb = dir.path().join("main.json");
    std::fs::write(
        &secdb,
        r#"{"distroversion":"v3.19","reponame":"main","packages":[]}"#,
    )
    .unwrap();
    let (code, _, stderr) = run(&["scan", image, "--secdb", secdb.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is not a regular file"), "{stderr}");
    let (_, stdout, _) = run(&["audit", image, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let unreadable: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "unreadable-file" && f["path"] == "/lib/apk/db/installed")
        .collect();
    assert_eq!(unreadable.len(), 1, "{stdout}");
    assert!(
        !stdout.contains("package `nginx`"),
        "the audit read the linked database: {stdout}"
    );
}
