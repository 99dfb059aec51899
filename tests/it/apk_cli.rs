//! `basalt apk index` and `basalt apk inspect`, run as a user runs them: output, exit codes
//! (0 verified, 1 untrusted or failed check, 2 unreadable or malformed), nothing written.

use crate::support;

use std::path::Path;
use std::process::{Command, Output};

use support::apk::{ApkBuilder, IndexBuilder, TestKey, flip_in_member};

fn basalt(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_basalt"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir(dir.path().join("keys")).unwrap();
        TestKey::primary().write_public(&dir.path().join("keys"));
        fs_err::create_dir(dir.path().join("work")).unwrap();
        Fixture { dir }
    }

    fn put(&self, name: &str, bytes: &[u8]) -> String {
        fs_err::write(self.dir.path().join(name), bytes).unwrap();
        self.dir.path().join(name).display().to_string()
    }

    fn keys(&self) -> String {
        self.dir.path().join("keys").display().to_string()
    }

    /// Runs in an empty working directory and checks that nothing was written there.
    fn run(&self, args: &[&str]) -> Output {
        let work = self.dir.path().join("work");
        let out = basalt(&work, args);
        assert_eq!(
            fs_err::read_dir(&work).unwrap().count(),
            0,
            "nothing is written"
        );
        out
    }
}

fn package() -> ApkBuilder {
    ApkBuilder::new("hello", "2.12-r1")
        .depend("so:libc.musl-x86_64.so.1")
        .dir("usr/bin", 0o755)
        .file("usr/bin/hello", b"#!/bin/sh\necho hello\n", 0o4755)
        .symlink("usr/bin/hi", "hello")
        .script(".post-install", b"#!/bin/sh\n")
}

#[test]
fn index_verified_with_user_keys_exits_0() {
    let fx = Fixture::new();
    let key = TestKey::primary();
    let apk = package().build_signed(key);
    let path = fx.put(
        "APKINDEX.tar.gz",
        &IndexBuilder::new()
            .description("v1-test")
            .package(&apk)
            .build_signed(key),
    );
    let out = fx.run(&["apk", "index", &path, "--keys", &fx.keys()]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("verified (RSA-SHA1, key `{}`)", key.name)),
        "{stdout}"
    );
    assert!(stdout.contains("description: v1-test"), "{stdout}");
    assert!(stdout.contains("packages:    1"), "{stdout}");

    // A key file (not a directory) works too, and JSON is one document.
    let key_file = format!("{}/{}", fx.keys(), key.name);
    let out = fx.run(&[
        "apk", "index", &path, "--keys", &key_file, "--format", "json",
    ]);
    assert_eq!(code(&out), 0);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["signature"]["status"], "verified");
    assert_eq!(json["signature"]["key"], key.name.as_str());
    assert_eq!(json["packages"], 1);
    assert_eq!(json["description"], "v1-test");
}

#[test]
fn index_untrusted_or_unsigned_exits_1() {
    let fx = Fixture::new();
    let key = TestKey::primary();
    let apk = package().build_signed(key);
    let signed = fx.put(
        "signed.tar.gz",
        &IndexBuilder::new().package(&apk).build_signed(key),
    );
    let out = fx.run(&["apk", "index", &signed]);
    assert_eq!(code(&out), 1);
    assert!(text(&out.stdout).contains("signed by untrusted key"));
    let unsigned = fx.put(
        "unsigned.tar.gz",
        &IndexBuilder::new().package(&apk).build_unsigned(),
    );
    let out = fx.run(&["apk", "index", &unsigned, "--keys", &fx.keys()]);
    assert_eq!(code(&out), 1);
    assert!(text(&out.stdout).contains("signature:   unsigned"));
}

#[test]
fn index_malformed_or_missing_exits_2() {
    let fx = Fixture::new();
    let garbage = fx.put("garbage.tar.gz", b"not an index at all");
    let out = fx.run(&["apk", "index", &garbage]);
    assert_eq!(code(&out), 2);
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("garbage.tar.gz"), "{stderr}");
    assert!(stderr.contains("gzip magic"), "{stderr}");
    let out = fx.run(&["apk", "index", "/nonexistent/APKINDEX.tar.gz"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("/nonexistent/APKINDEX.tar.gz"));
    let bad_key = fx.put(
        "bad.rsa.pub",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    );
    let out = fx.run(&["apk", "index", &garbage, "--keys", &bad_key]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("bad.rsa.pub"));
}

#[test]
fn inspect_shows_identity_datahash_metadata_and_files() {
    let fx = Fixture::new();
    let key = TestKey::primary();
    let apk = package().build_signed(key);
    let path = fx.put("hello-2.12-r1.apk", &apk.bytes);
    let out = fx.run(&["apk", "inspect", &path, "--keys", &fx.keys()]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}{}", text(&out.stderr));
    for expected in [
        "package:   hello 2.12-r1".to_owned(),
        format!("identity:  {}", apk.identity),
        format!("datahash:  {} (matches .PKGINFO)", apk.datahash),
        "  depend = so:libc.musl-x86_64.so.1".to_owned(),
        "  0755 .post-install 10 bytes".to_owned(),
        "  -rwsr-xr-x root:root         21 usr/bin/hello  sha1:".to_owned(),
        "  lrwxrwxrwx root:root          0 usr/bin/hi -> hello".to_owned(),
    ] {
        assert!(
            stdout.contains(&expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
    let out = fx.run(&[
        "apk",
        "inspect",
        &path,
        "--keys",
        &fx.keys(),
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 0);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["identity"], apk.identity.as_str());
    assert_eq!(json["datahash"], apk.datahash.as_str());
    assert_eq!(json["signature"]["status"], "verified");
    assert_eq!(json["files"][1]["path"], "usr/bin/hello");
    assert_eq!(json["files"][1]["mode"], 0o4755);
    assert_eq!(json["files"][1]["kind"], "file");
    assert_eq!(json["files"][2]["link_target"], "hello");
}

#[test]
fn inspect_untrusted_or_failed_check_exits_1() {
    let fx = Fixture::new();
    let key = TestKey::primary();
    let apk = package().build_signed(TestKey::other());
    let path = fx.put("other.apk", &apk.bytes);
    let out = fx.run(&["apk", "inspect", &path, "--keys", &fx.keys()]);
    assert_eq!(code(&out), 1);
    assert!(text(&out.stdout).contains("signed by untrusted key `someone-else"));

    let bad = package()
        .file("etc/x", b"x", 0o644)
        .checksum_record("1111111111111111111111111111111111111111")
        .build_signed(key);
    let path = fx.put("bad.apk", &bad.bytes);
    let out = fx.run(&["apk", "inspect", &path, "--keys", &fx.keys()]);
    assert_eq!(code(&out), 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bad.apk") && stderr.contains("`etc/x` has SHA-1"),
        "{stderr}"
    );
}

#[test]
fn inspect_malformed_exits_2() {
    let fx = Fixture::new();
    let key = TestKey::primary();
    let apk = package().build_signed(key);
    let truncated = fx.put("truncated.apk", &apk.bytes[..apk.bytes.len() - 20]);
    let out = fx.run(&["apk", "inspect", &truncated, "--keys", &fx.keys()]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("truncated.apk"));
    let flipped = fx.put("flipped.apk", &flip_in_member(&apk.bytes, 2));
    let out = fx.run(&["apk", "inspect", &flipped, "--keys", &fx.keys()]);
    assert_ne!(code(&out), 0);
    assert!(text(&out.stderr).contains("flipped.apk"));
    let escape = package()
        .file("../../etc/cron.d/x", b"* * * * * root sh\n", 0o644)
        .build_signed(key);
    let path = fx.put("escape.apk", &escape.bytes);
    let out = fx.run(&["apk", "inspect", &path, "--keys", &fx.keys()]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("`../../etc/cron.d/x`"));
    assert!(out.stdout.is_empty());
}

#[test]
fn real_package_and_index_verify_with_builtin_keys() {
    let Some(data) = support::shared_data("real_package_and_index_verify_with_builtin_keys") else {
        return;
    };
    let fx = Fixture::new();
    let dir = data.join("alpine/repos/v3.19-boot/x86_64");
    let out = fx.run(&[
        "apk",
        "inspect",
        dir.join("busybox-1.36.1-r15.apk").to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(stdout.contains("alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"));
    assert!(stdout.contains("bin/busybox"));
    let out = fx.run(&[
        "apk",
        "index",
        dir.join("APKINDEX.tar.gz").to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0);
    assert!(text(&out.stdout).contains("packages:    100"));
}
