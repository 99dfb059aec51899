//! `basalt manifest`, `sign` and `verify` on the real Alpine minirootfs, run as a user runs
//! them: clean after manifest + sign, then one case per tamper, each giving exactly the
//! expected finding.

use crate::support;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BASALT: &str = env!("CARGO_BIN_EXE_basalt");

fn is_root() -> bool {
    // The test tree's own owner tells whether we are root (no libc call needed).
    let probe = tempfile::tempdir().unwrap();
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(probe.path()).unwrap()) == 0
}

fn minirootfs(test: &str) -> Option<PathBuf> {
    let data = support::shared_data(test)?;
    let dir = data.join("alpine/minirootfs");
    let mut tarballs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    tarballs.sort();
    tarballs.pop()
}

/// Extracts the tarball with its modes (and, as root, its owners).
fn extract(tarball: &Path, into: &Path) {
    let file = std::fs::File::open(tarball).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(is_root());
    archive.set_unpack_xattrs(false);
    archive.unpack(into).unwrap();
}

fn run(args: &[&str]) -> Output {
    Command::new(BASALT).args(args).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Signed {
    _dir: tempfile::TempDir,
    manifest: PathBuf,
    key: PathBuf,
    tarball: PathBuf,
}

/// Extracts the minirootfs, writes its manifest under a policy (ephemeral `/tmp`, state
/// `/var/lib/docker`, mutable `/etc/hostname`), signs it.
fn signed(test: &str) -> Option<Signed> {
    let tarball = minirootfs(test)?;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    extract(&tarball, &root);
    let base = dir.path().join("key");
    assert!(run(&["keygen", "--out", s(&base)]).status.success());
    let manifest = dir.path().join("manifest");
    let out = run(&[
        "manifest",
        s(&root),
        "--image",
        "minirootfs",
        "--image-version",
        "3.20.3",
        "--ephemeral",
        "/tmp",
        "--state",
        "/var/lib/docker",
        "--mutable",
        "/etc/hostname",
        "--out",
        s(&manifest),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = dir.path().join("key.key");
    let out = run(&["sign", "--key", s(&key), s(&manifest)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(Signed {
        _dir: dir,
        manifest,
        key: base.with_extension("pub"),
        tarball,
    })
}

/// Verifies `tree` and returns the exit code and `(path, kind)` of every finding.
fn verify(signed: &Signed, tree: &Path) -> (i32, Vec<(String, String)>, Value) {
    let out = run(&[
        "verify",
        "--manifest",
        s(&signed.manifest),
        "--key",
        s(&signed.key),
        "--format",
        "json",
        s(tree),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (out.status.code().unwrap(), findings, json)
}

/// A fresh copy of the tree, tampered by `tamper`, verified: exactly `expected` findings.
#[track_caller]
fn case(signed: &Signed, tamper: impl FnOnce(&Path), expected: &[(&str, &str)]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    extract(&signed.tarball, &root);
    tamper(&root);
    let (code, findings, json) = verify(signed, &root);
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(p, k)| ((*p).to_owned(), (*k).to_owned()))
        .collect();
    assert_eq!(findings, expected, "{json:#}");
    assert_eq!(code, i32::from(!expected.is_empty()), "{json:#}");
    assert_eq!(json["clean"], Value::Bool(expected.is_empty()));
    json
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_pristine_tree_is_clean_and_every_tamper_is_one_finding() {
    let Some(signed) = signed("a_pristine_tree_is_clean_and_every_tamper_is_one_finding") else {
        return;
    };
    case(&signed, |_| {}, &[]);

    let json = case(
        &signed,
        |r| {
            let p = r.join("etc/passwd");
            let mut bytes = std::fs::read(&p).unwrap();
            bytes[0] ^= 1;
            std::fs::write(&p, bytes).unwrap();
        },
        &[("/etc/passwd", "content")],
    );
    let f = &json["findings"][0];
    assert_ne!(f["expected"], f["actual"]);
    assert!(f["expected"].as_str().unwrap().starts_with("sha256:"));

    let json = case(
        &signed,
        |r| chmod(&r.join("etc/shadow"), 0o644),
        &[("/etc/shadow", "mode")],
    );
    assert_eq!(json["findings"][0]["expected"], "0640");
    assert_eq!(json["findings"][0]["actual"], "0644");

    let json = case(
        &signed,
        |r| chmod(&r.join("bin/busybox"), 0o4755),
        &[("/bin/busybox", "mode")],
    );
    assert_eq!(json["findings"][0]["actual"], "4755");

    case(
        &signed,
        |r| {
            std::fs::remove_file(r.join("etc/motd")).unwrap();
            symlink("/tmp/motd", r.join("etc/motd")).unwrap();
        },
        &[("/etc/motd", "type")],
    );

    let json = case(
        &signed,
        |r| {
            std::fs::remove_file(r.join("bin/sh")).unwrap();
            symlink("/tmp/evil", r.join("bin/sh")).unwrap();
        },
        &[("/bin/sh", "target")],
    );
    assert_eq!(json["findings"][0]["expected"], "/bin/busybox");
    assert_eq!(json["findings"][0]["actual"], "/tmp/evil");

    case(
        &signed,
        |r| std::fs::remove_file(r.join("etc/fstab")).unwrap(),
        &[("/etc/fstab", "missing")],
    );

    case(
        &signed,
        |r| std::fs::write(r.join("etc/evil.conf"), "x").unwrap(),
        &[("/etc/evil.conf", "persisted")],
    );

    case(
        &signed,
        |r| std::fs::write(r.join("root/.ash_history"), "curl | sh\n").unwrap(),
        &[("/root/.ash_history", "persisted")],
    );

    case(
        &signed,
        |r| std::fs::write(r.join("etc/periodic/hourly/backdoor"), "#!/bin/sh\n").unwrap(),
        &[("/etc/periodic/hourly/backdoor", "persisted")],
    );

    case(
        &signed,
        |r| {
            std::fs::create_dir(r.join("root/.ssh")).unwrap();
            std::fs::write(r.join("root/.ssh/authorized_keys"), "ssh-ed25519 AAAA x\n").unwrap();
        },
        &[
            ("/root/.ssh", "persisted"),
            ("/root/.ssh/authorized_keys", "persisted"),
        ],
    );

    // State: anything goes, including the state path itself appearing.
    case(
        &signed,
        |r| {
            std::fs::create_dir_all(r.join("var/lib/docker/containers/abc")).unwrap();
            std::fs::write(r.join("var/lib/docker/containers/abc/config.v2.json"), "{}").unwrap();
        },
        &[],
    );

    // Ephemeral: skipped, whatever is there.
    case(
        &signed,
        |r| {
            std::fs::write(r.join("tmp/dropper"), "x").unwrap();
            chmod(&r.join("tmp/dropper"), 0o4755);
        },
        &[],
    );

    // Mutable: the content may change; the mode (as the owner, extended attributes and
    // type) may not.
    case(
        &signed,
        |r| std::fs::write(r.join("etc/hostname"), "web-01\n").unwrap(),
        &[],
    );
    case(
        &signed,
        |r| {
            std::fs::write(r.join("etc/hostname"), "web-01\n").unwrap();
            chmod(&r.join("etc/hostname"), 0o600);
        },
        &[("/etc/hostname", "mode")],
    );
    case(
        &signed,
        |r| {
            std::fs::remove_file(r.join("etc/hostname")).unwrap();
            std::fs::create_dir(r.join("etc/hostname")).unwrap();
        },
        &[("/etc/hostname", "type")],
    );

    // A FIFO is reported and never opened (opening it would block the walk).
    case(
        &signed,
        |r| {
            let status = Command::new("mkfifo")
                .arg(r.join("etc/pipe"))
                .status()
                .unwrap();
            assert!(status.success());
        },
        &[("/etc/pipe", "persisted")],
    );
}

#[test]
fn edited_and_foreign_apk_database_records_are_package_findings() {
    let Some(signed) = signed("edited_and_foreign_apk_database_records_are_package_findings")
    else {
        return;
    };
    let db = "lib/apk/db/installed";
    let json = case(
        &signed,
        |r| {
            let p = r.join(db);
            let text = std::fs::read_to_string(&p).unwrap();
            let edited = text.replacen("P:musl\nV:1.2.5-r0", "P:musl\nV:1.2.5-r9", 1);
            assert_ne!(text, edited);
            std::fs::write(&p, edited).unwrap();
        },
        &[("/lib/apk/db/installed", "package")],
    );
    let f = &json["findings"][0];
    assert!(
        f["expected"]
            .as_str()
            .unwrap()
            .starts_with("musl 1.2.5-r0 "),
        "{f}"
    );
    assert!(
        f["actual"].as_str().unwrap().starts_with("musl 1.2.5-r9 "),
        "{f}"
    );

    let json = case(
        &signed,
        |r| {
            let p = r.join(db);
            let mut text = std::fs::read_to_string(&p).unwrap();
            text.push_str(
                "C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:rootkit\nV:1.0-r0\nF:usr/bin\nR:rk\n\n",
            );
            std::fs::write(&p, text).unwrap();
        },
        &[("/lib/apk/db/installed", "package")],
    );
    assert!(json["findings"][0]["expected"].is_null());
    assert!(
        json["findings"][0]["actual"]
            .as_str()
            .unwrap()
            .starts_with("rootkit 1.0-r0")
    );

    // A change that edits no record (a trailing blank line) is still a content change.
    case(
        &signed,
        |r| {
            let p = r.join(db);
            let mut text = std::fs::read_to_string(&p).unwrap();
            text.push('\n');
            std::fs::write(&p, text).unwrap();
        },
        &[("/lib/apk/db/installed", "content")],
    );
}

#[test]
fn owner_changes_are_found() {
    if !is_root() {
        eprintln!("SKIPPED owner_changes_are_found: changing owners needs root");
        return;
    }
    let Some(signed) = signed("owner_changes_are_found") else {
        return;
    };
    let json = case(
        &signed,
        |r| std::os::unix::fs::chown(r.join("etc/hosts"), Some(1000), Some(1000)).unwrap(),
        &[("/etc/hosts", "owner")],
    );
    assert_eq!(json["findings"][0]["expected"], "0:0");
    assert_eq!(json["findings"][0]["actual"], "1000:1000");
}

#[test]
fn the_image_archive_verifies_like_the_tree() {
    let Some(signed) = signed("the_image_archive_verifies_like_the_tree") else {
        return;
    };
    let (code, findings, _) = verify(&signed, &signed.tarball);
    if is_root() {
        // Extracted as root, the tree has the archive's owners: identical descriptions.
        assert_eq!((code, findings), (0, vec![]));
    } else {
        // Extracted by a user, owners differ; nothing else does.
        assert_eq!(code, 1);
        assert!(
            findings.iter().all(|(_, kind)| kind == "owner"),
            "{findings:?}"
        );
    }
}

#[test]
fn the_signature_comes_first() {
    let Some(signed) = signed("the_signature_comes_first") else {
        return;
    };
    let dir = signed.manifest.parent().unwrap();
    let root = dir.join("root");
    let verify_with = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--manifest",
            s(&signed.manifest),
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        args.push(s(&root));
        run(&args)
    };
    let key = s(&signed.key);

    // A manifest edited after signing: exit 1, nothing walked, nothing on stdout.
    let original = std::fs::read(&signed.manifest).unwrap();
    let mut edited = original.clone();
    edited.extend_from_slice(b"\n");
    std::fs::write(&signed.manifest, &edited).unwrap();
    let out = verify_with(&["--key", key]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not match the data"), "{stderr}");
    std::fs::write(&signed.manifest, &original).unwrap();

    // Signed by a key that is not trusted.
    let other = dir.join("other");
    assert!(run(&["keygen", "--out", s(&other)]).status.success());
    let out = verify_with(&["--key", s(&other.with_extension("pub"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not among the trusted keys"));

    // Trusted through a directory of keys, then revoked.
    let keys = dir.join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::copy(&signed.key, keys.join("release.pub")).unwrap();
    std::fs::copy(other.with_extension("pub"), keys.join("other.pub")).unwrap();
    let out = verify_with(&["--key", s(&keys)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let revoked = dir.join("revoked");
    std::fs::copy(&signed.key, &revoked).unwrap();
    let out = verify_with(&["--key", s(&keys), "--revoked", s(&revoked)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("revoked"));

    // A missing signature.
    let out = verify_with(&["--key", key, "--signature", s(&dir.join("nope.minisig"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is missing"));

    // Skipping the check takes an explicit flag; a key is required otherwise.
    let out = verify_with(&["--no-signature"]);
    assert_eq!(out.status.code(), Some(0));
    let out = verify_with(&[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_input_exits_two() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m");
    std::fs::write(&manifest, "not a manifest\n").unwrap();
    let out = run(&[
        "verify",
        "--manifest",
        s(&manifest),
        "--no-signature",
        s(dir.path()),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a basalt manifest"));
    let out = run(&["manifest", s(&dir.path().join("absent"))]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_profile_names_the_image_and_sets_the_runtime_policy() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("var/lib/docker")).unwrap();
    std::fs::write(root.join("var/lib/docker/x"), "x").unwrap();
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/docker-host.toml");
    let out = run(&["manifest", s(&root), "--profile", s(&profile)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("basalt-manifest 1\nimage docker-host\nversion "),
        "{text}"
    );
    assert!(text.contains("\nprofile sha256:"), "{text}");
    assert!(text.contains("\nephemeral /tmp\n"), "{text}");
    assert!(text.contains("\nstate /var/lib/docker\n"), "{text}");
    assert!(text.contains("\nmutable /etc/resolv.conf\n"), "{text}");
    let out = run(&[
        "manifest",
        s(&root),
        "--profile",
        s(&dir.path().join("absent.toml")),
    ]);
    assert_eq!(out.status.code(), Some(2));
}
