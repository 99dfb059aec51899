//! `basalt scan`: the library on real Alpine data against an independent computation that
//! uses the real apk for every version comparison, and the command as a user runs it.

use crate::support;

use support::apkindex_text;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use basalt::posture::scan::{self, ScannedPackage, SecDb};

/// (name, version, origin) of every stanza, read with plain string handling.
fn index_packages(text: &str) -> Vec<(String, String, Option<String>)> {
    text.split("\n\n")
        .filter_map(|stanza| {
            let field = |key: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .map(str::to_owned)
            };
            Some((field("P:")?, field("V:")?, field("o:")))
        })
        .collect()
}

fn boot_data(test: &str) -> Option<(PathBuf, PathBuf, Vec<PathBuf>)> {
    let data = support::shared_data(test)?;
    let apk = support::alpine_apk(test)?;
    let index = data.join("alpine/repos/v3.19-boot/x86_64/APKINDEX.tar.gz");
    let secdb = ["main", "community"]
        .iter()
        .map(|r| data.join(format!("alpine/secdb/v3.19/{r}.json")))
        .collect();
    Some((apk, index, secdb))
}

/// `apk version -t A B` for every pair, in two threads.
fn apk_less_than(
    apk: &Path,
    pairs: &BTreeSet<(String, String)>,
) -> BTreeMap<(String, String), bool> {
    let pairs: Vec<_> = pairs.iter().cloned().collect();
    let (left, right) = pairs.split_at(pairs.len() / 2);
    let run = |chunk: &[(String, String)]| {
        chunk
            .iter()
            .map(|(a, b)| {
                let out = Command::new(apk)
                    .args(["version", "-t", a, b])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "apk version -t {a} {b} failed");
                let verdict = String::from_utf8(out.stdout).unwrap();
                ((a.clone(), b.clone()), verdict.trim() == "<")
            })
            .collect::<Vec<_>>()
    };
    std::thread::scope(|s| {
        let l = s.spawn(|| run(left));
        let mut all = run(right);
        all.extend(l.join().unwrap());
        all.into_iter().collect()
    })
}

#[test]
fn boot_repository_scan_matches_an_independent_computation_with_real_apk() {
    let Some((apk, index, secdb_paths)) =
        boot_data("boot_repository_scan_matches_an_independent_computation_with_real_apk")
    else {
        return;
    };
    let packages = index_packages(&apkindex_text(&index));
    assert_eq!(packages.len(), 100);

    // basalt.
    let mut db = SecDb::default();
    for path in &secdb_paths {
        db.add_document(&path.display().to_string(), &std::fs::read(path).unwrap())
            .unwrap();
    }
    let scanned: Vec<ScannedPackage> = packages
        .iter()
        .map(|(name, version, origin)| ScannedPackage {
            name: name.clone(),
            version: version.clone(),
            origin: origin.clone(),
        })
        .collect();
    let report = scan::scan(&scanned, &db);

    // Independently: the JSON as untyped values, every comparison by the real apk.
    let mut listings: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for path in &secdb_paths {
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for entry in doc["packages"].as_array().unwrap() {
            let origin = entry["pkg"]["name"].as_str().unwrap().to_owned();
            for (fixed, ids) in entry["pkg"]["secfixes"].as_object().unwrap() {
                for id in ids.as_array().into_iter().flatten() {
                    let id = id.as_str().unwrap().split(' ').next().unwrap().to_owned();
                    listings
                        .entry(origin.clone())
                        .or_default()
                        .entry(id)
                        .or_default()
                        .push(fixed.clone());
                }
            }
        }
    }
    let mut pairs = BTreeSet::new();
    for (name, version, origin) in &packages {
        let origin = origin.as_deref().unwrap_or(name);
        for fixes in listings.get(origin).into_iter().flat_map(BTreeMap::values) {
            for fixed in fixes {
                pairs.insert((version.clone(), fixed.clone()));
                for other in fixes {
                    pairs.insert((fixed.clone(), other.clone()));
                }
            }
        }
    }
    let less = apk_less_than(&apk, &pairs);
    let mut expected = BTreeSet::new();
    for (name, version, origin) in &packages {
        let origin = origin.as_deref().unwrap_or(name);
        for (id, fixes) in listings.get(origin).into_iter().flatten() {
            if fixes.iter().any(|f| f == "0") {
                continue;
            }
            if fixes.iter().any(|f| less[&(version.clone(), f.clone())]) {
                let newest = fixes
                    .iter()
                    .find(|f| fixes.iter().all(|o| !less[&((*f).clone(), o.clone())]))
                    .unwrap();
                expected.insert((name.clone(), version.clone(), id.clone(), newest.clone()));
            }
        }
    }
    let actual: BTreeSet<_> = report
        .vulnerable
        .iter()
        .flat_map(|v| {
            v.advisories.iter().map(|a| {
                (
                    v.package.clone(),
                    v.version.clone(),
                    a.id.clone(),
                    a.fixed_in.clone(),
                )
            })
        })
        .collect();
    assert_eq!(actual, expected);

    // The cases named in the specification.
    let has = |pkg: &str, version: &str, id: &str, fixed: &str| {
        actual.contains(&(pkg.into(), version.into(), id.into(), fixed.into()))
    };
    assert!(has(
        "openssh-server",
        "9.6_p1-r0",
        "CVE-2024-6387",
        "9.6_p1-r1"
    ));
    assert!(has("libcrypto3", "3.1.4-r5", "CVE-2024-2511", "3.1.4-r6"));
    assert!(
        !actual
            .iter()
            .any(|(p, _, id, _)| p == "libcrypto3" && id == "CVE-2024-0727")
    );
    assert!(
        !actual.iter().any(|(_, _, id, _)| id == "CVE-2023-38408"),
        "\"0\" is not affected"
    );
    let ssl = report
        .vulnerable
        .iter()
        .find(|v| v.package == "libcrypto3")
        .unwrap();
    assert_eq!(ssl.origin, "openssl");
}

fn basalt(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A root whose `lib/apk/db/installed` holds `db`.
fn root_with(db: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("lib/apk/db");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("installed"), db).unwrap();
    root
}

#[test]
fn scan_command_on_the_boot_packages_exits_1_and_names_the_fixes() {
    let Some((_apk, index, secdb)) =
        boot_data("scan_command_on_the_boot_packages_exits_1_and_names_the_fixes")
    else {
        return;
    };
    // An index stanza has the header layout of an installed-database entry.
    let root = root_with(&apkindex_text(&index));
    let target = root.path().to_str().unwrap();
    let (main, community) = (secdb[0].to_str().unwrap(), secdb[1].to_str().unwrap());
    let (code, stdout, stderr) = basalt(&[
        "scan", target, "--secdb", main, "--secdb", community, "--format", "json",
    ]);
    assert_eq!(code, 1, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["scanned"], 100);
    let ssh = json["vulnerable"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["package"] == "openssh-server")
        .unwrap();
    assert_eq!(ssh["code"], "known-vulnerability");
    assert_eq!(ssh["origin"], "openssh");
    assert!(
        ssh["advisories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "CVE-2024-6387" && a["fixed_in"] == "9.6_p1-r1")
    );

    let (code, stdout, _) = basalt(&["scan", target, "--secdb", main]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("high libcrypto3 3.1.4-r5 (origin openssl)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("    CVE-2024-2511  fixed in 3.1.4-r6\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("CVE-2024-0727"), "{stdout}");
}

const SECDB: &str = r#"{"distroversion":"v3.19","reponame":"main","packages":[
    {"pkg":{"name":"zlib","secfixes":{"1.3.1-r0":["CVE-2023-45853"],"0":["CVE-2018-25032"]}}}]}"#;

fn installed(name: &str, version: &str, origin: &str) -> String {
    format!(
        "C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:{name}\nV:{version}\nA:x86_64\nS:1\nI:1\nT:t\nU:u\nL:l\no:{origin}\n\n"
    )
}

#[test]
fn scan_command_exit_codes_and_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let secdb = dir.path().join("main.json");
    std::fs::write(&secdb, SECDB).unwrap();
    let secdb = secdb.to_str().unwrap();

    let old = root_with(&installed("zlib", "1.3-r0", "zlib"));
    let (code, stdout, _) = basalt(&["scan", old.path().to_str().unwrap(), "--secdb", secdb]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("high zlib 1.3-r0: 1 advisory, fixed in 1.3.1-r0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 packages scanned, 1 vulnerable (1 advisories)"),
        "{stdout}"
    );

    let new = root_with(&installed("zlib", "1.3.1-r0", "zlib"));
    let (code, stdout, _) = basalt(&["scan", new.path().to_str().unwrap(), "--secdb", secdb]);
    assert_eq!(code, 0, "{stdout}");

    // The same database inside an image (members named `./…`, as Alpine's tarballs are).
    let image = dir.path().join("image.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&image).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let body = installed("zlib-dev", "1.2.13-r0", "zlib");
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, "./lib/apk/db/installed", body.as_bytes())
            .unwrap();
        tar.into_inner().unwrap().finish().unwrap();
    }
    let (code, stdout, _) = basalt(&[
        "scan",
        image.to_str().unwrap(),
        "--secdb",
        secdb,
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["vulnerable"][0]["package"], "zlib-dev");
    assert_eq!(json["vulnerable"][0]["origin"], "zlib");

    // Could not do the job: exit 2, with the reason on stderr.
    let (code, _, stderr) = basalt(&[
        "scan",
        new.path().to_str().unwrap(),
        "--secdb",
        "/nonexistent.json",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent.json"), "{stderr}");
    let bad = root_with("P:x\nV:1\nS:notanumber\n\n");
    let (code, _, stderr) = basalt(&["scan", bad.path().to_str().unwrap(), "--secdb", secdb]);
    assert_eq!(code, 2);
    assert!(stderr.contains("line 3"), "{stderr}");
    let empty = tempfile::tempdir().unwrap();
    let (code, _, stderr) = basalt(&["scan", empty.path().to_str().unwrap(), "--secdb", secdb]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no installed-package database"), "{stderr}");
    let (code, _, stderr) = basalt(&[
        "scan",
        new.path().to_str().unwrap(),
        "--secdb",
        new.path().join("lib/apk/db/installed").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not a valid security database"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn scan_command_does_not_follow_symlinks_out_of_the_root() {
    let outside = root_with(&installed("zlib", "1.3-r0", "zlib"));
    let root = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path().join("lib"), root.path().join("lib")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secdb = dir.path().join("main.json");
    std::fs::write(&secdb, SECDB).unwrap();
    let (code, _, stderr) = basalt(&[
        "scan",
        root.path().to_str().unwrap(),
        "--secdb",
        secdb.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("symbolic link"), "{stderr}");
}

/// Serves `body` over HTTP for each connection until the test ends; returns the base URL.
fn serve(body: &'static str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn scan_command_fetches_a_secdb_url_and_reuses_the_cache_offline() {
    let url = format!("{}/v3.19/main.json", serve(SECDB));
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let old = root_with(&installed("zlib", "1.3-r0", "zlib"));
    let target = old.path().to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["scan", target, "--secdb", &url, "--cache-dir", cache_dir];
        args.extend_from_slice(extra);
        let out = Command::new(env!("CARGO_BIN_EXE_basalt"))
            .args(&args)
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY")
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (code, stdout, stderr) = run(&[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("CVE-2023-45853"), "{stdout}");
    let (code, stdout, stderr) = run(&["--offline"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("CVE-2023-45853"), "{stdout}");

    // Offline with nothing cached: the job cannot be done.
    let empty = tempfile::tempdir().unwrap();
    let (code, _, stderr) = basalt(&[
        "scan",
        target,
        "--secdb",
        &url,
        "--cache-dir",
        empty.path().to_str().unwrap(),
        "--offline",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains(&url), "{stderr}");
}

#[test]
fn scan_command_warns_when_the_secdb_is_for_another_branch() {
    let Some(data) =
        support::shared_data("scan_command_warns_when_the_secdb_is_for_another_branch")
    else {
        return;
    };
    let image = data.join("alpine/minirootfs/alpine-minirootfs-3.20.3-x86_64.tar.gz");
    let secdb = data.join("alpine/secdb/v3.19/main.json");
    let (code, stdout, stderr) = basalt(&[
        "scan",
        image.to_str().unwrap(),
        "--secdb",
        secdb.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json_len(&stdout), 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["release"], "3.20.3");
    assert_eq!(json["scanned"], 14);
    assert!(stderr.contains("runs Alpine 3.20.3, but secdb"), "{stderr}");
    assert!(stderr.contains("is for v3.19"), "{stderr}");

    // A root of the same branch: no warning.
    let root = root_with(&installed("zlib", "1.3.1-r0", "zlib"));
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    std::fs::write(root.path().join("etc/alpine-release"), "3.19.1\n").unwrap();
    let (code, stdout, stderr) = basalt(&[
        "scan",
        root.path().to_str().unwrap(),
        "--secdb",
        secdb.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["release"], "3.19.1");
}

/// The number of vulnerable packages in a JSON report.
fn json_len(stdout: &str) -> usize {
    let json: serde_json::Value = serde_json::from_str(stdout).unwrap();
    json["vulnerable"].as_array().unwrap().len()
}
