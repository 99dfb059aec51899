//! `basalt outdated` as a user runs it: the v3.19 boot packages against the full v3.19 main
//! index agree with the real apk (`apk version -l '<'`); signatures are enforced; exit 1 means
//! "rebuild".

use crate::support;

use support::{apkindex_text, run_basalt};

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// A root whose `lib/apk/db/installed` is `db`, laid out so the real apk can read it too.
fn root_with(db: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("lib/apk/db")).unwrap();
    std::fs::create_dir_all(root.path().join("etc/apk")).unwrap();
    std::fs::write(root.path().join("lib/apk/db/installed"), db).unwrap();
    std::fs::write(root.path().join("etc/apk/arch"), "x86_64\n").unwrap();
    root
}

/// A repository directory whose `x86_64/APKINDEX.tar.gz` is a copy of `index`.
fn repo_with(index: &Path) -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join("x86_64")).unwrap();
    std::fs::copy(index, repo.path().join("x86_64/APKINDEX.tar.gz")).unwrap();
    repo
}

#[test]
fn boot_packages_against_the_v3_19_main_index_agree_with_real_apk() {
    let test = "boot_packages_against_the_v3_19_main_index_agree_with_real_apk";
    let (Some(data), Some(apk)) = (support::shared_data(test), support::alpine_apk(test)) else {
        return;
    };
    let boot = data.join("alpine/repos/v3.19-boot/x86_64/APKINDEX.tar.gz");
    let root = root_with(&apkindex_text(&boot));
    let repo = repo_with(&data.join("alpine/indexes/v3.19-main-x86_64.APKINDEX.tar.gz"));
    let cache = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run_basalt(&[
        "outdated",
        root.path().to_str().unwrap(),
        "--repository",
        repo.path().to_str().unwrap(),
        "--cache-dir",
        cache.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["arch"], "x86_64");
    assert_eq!(json["checked"], 100);
    let ours: BTreeSet<(String, String, String)> = json["outdated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let s = |k: &str| u[k].as_str().unwrap().to_owned();
            (s("name"), s("current"), s("available"))
        })
        .collect();

    // The real apk on the same root and repository: `NAME-VERSION  < NEWER` lines.
    let reference = tempfile::tempdir().unwrap();
    let prepared = Command::new(apk.with_file_name("alpine-apk-root"))
        .arg(reference.path())
        .status()
        .unwrap();
    assert!(prepared.success());
    std::fs::write(
        reference.path().join("lib/apk/db/installed"),
        apkindex_text(&boot),
    )
    .unwrap();
    std::fs::write(reference.path().join("etc/apk/arch"), "x86_64\n").unwrap();
    let out = Command::new(&apk)
        .arg("--root")
        .arg(reference.path())
        .arg("--repository")
        .arg(repo.path())
        .args(["version", "-l", "<"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: BTreeSet<(String, String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (installed, op, newer) = (words.next()?, words.next()?, words.next()?);
            assert_eq!(op, "<");
            // NAME-VERSION: the version is the last two dash-separated parts.
            let mut parts = installed.rsplitn(3, '-');
            let (release, version, name) = (parts.next()?, parts.next()?, parts.next()?);
            Some((
                name.to_owned(),
                format!("{version}-{release}"),
                newer.to_owned(),
            ))
        })
        .collect();
    assert!(!theirs.is_empty());
    assert_eq!(ours, theirs);

    // Against its own repository nothing is newer.
    let own = repo_with(&boot);
    let (code, stdout, stderr) = run_basalt(&[
        "outdated",
        root.path().to_str().unwrap(),
        "--repository",
        own.path().to_str().unwrap(),
        "--cache-dir",
        cache.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.ends_with("100 packages checked, 0 with newer versions\n"),
        "{stdout}"
    );
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
        header.set_cksum();
        tar.append_data(&mut header, name, body.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn unsigned_indexes_need_allow_untrusted_and_missing_packages_are_listed() {
    let root = root_with(
        "C:Q1a\nP:musl\nV:1.2.4-r2\nA:x86_64\n\nC:Q1b\nP:local-tool\nV:1.0-r0\nA:x86_64\n\n",
    );
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join("x86_64")).unwrap();
    unsigned_index(
        &repo.path().join("x86_64/APKINDEX.tar.gz"),
        "C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:musl\nV:1.2.5-r0\nA:x86_64\nS:1\nI:1\nT:libc\nU:u\nL:MIT\n\n",
    );
    let cache = tempfile::tempdir().unwrap();
    let args = |extra: &[&'static str]| {
        let mut args = vec![
            "outdated".to_owned(),
            root.path().to_str().unwrap().to_owned(),
            "--repository".to_owned(),
            repo.path().to_str().unwrap().to_owned(),
            "--cache-dir".to_owned(),
            cache.path().to_str().unwrap().to_owned(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };
    let run = |extra: &[&'static str]| {
        let args = args(extra);
        run_basalt(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (code, _, stderr) = run(&[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("signature not trusted"), "{stderr}");
    let (code, stdout, stderr) = run(&["--allow-untrusted"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("warning: index of"), "{stderr}");
    assert!(
        stdout.starts_with("musl 1.2.4-r2 -> 1.2.5-r0 ("),
        "{stdout}"
    );
    assert!(
        stdout.contains("local-tool 1.0-r0: in no repository\n"),
        "{stdout}"
    );

    // No repository at all, and a target that is not an image or a root: exit 2.
    let (code, _, stderr) = run_basalt(&["outdated", root.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("hint: pass --repository"), "{stderr}");
    let file = root.path().join("etc/apk/arch");
    let (code, _, stderr) = run_basalt(&["outdated", file.to_str().unwrap(), "--repository", "/x"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("is not a manifest, a lock file, an image"),
        "{stderr}"
    );
}
