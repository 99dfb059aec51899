//! `basalt profile check` and `basalt profile render`, run as a user runs them.

use std::path::Path;
use std::process::{Command, Output};

fn basalt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_prints_the_normalised_summary() {
    let out = basalt(&["profile", "check", "profiles/minimal.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("profile `profiles/minimal.toml`: valid\n"),
        "{text}"
    );
    assert!(text.contains("image        minimal 1.0.0 (x86_64)"));
    assert!(text.contains("ssh          port 22, key-only, no root login, allow users: admin"));
    assert!(text.contains("services     default: chronyd, sshd, sshd-keygen"));
    assert!(stderr(&out).is_empty());
}

#[test]
fn check_json_is_one_document() {
    let out = basalt(&[
        "profile",
        "check",
        "--format",
        "json",
        "profiles/docker-host.toml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["profile"]["image"]["name"], "docker-host");
    assert_eq!(doc["profile"]["docker"]["daemon"]["icc"], false);
    assert_eq!(doc["digest"].as_str().unwrap().len(), 64);
    assert_eq!(doc["lock_digest"].as_str().unwrap().len(), 64);
    assert!(
        doc["runtime_policy"]["state"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("/var/lib/docker"))
    );
}

#[test]
fn an_invalid_profile_exits_2_with_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    fs_err::write(
        &path,
        "[image]\nname = \"x\"\nversion = \"1\"\narch = \"x86_64\"\n\n[repositories]\nurls = []\n\n[packages]\ninstal = [\"alpine-base\"]\n",
    )
    .unwrap();
    let out = basalt(&["profile", "check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty());
    assert_eq!(
        stderr(&out),
        format!(
            "error: {}:10:1: unknown key `instal`\n   |\n10 | instal = [\"alpine-base\"]\n   | ^^^^^^\n\nhint: did you mean `install`?\n",
            path.display()
        )
    );
}

#[test]
fn a_missing_profile_exits_2() {
    let out = basalt(&["profile", "check", "no/such/profile.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: failed to read profile `no/such/profile.toml`: "),
        "{err}"
    );
}

#[test]
fn render_writes_the_files_for_review() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = basalt(&[
        "profile",
        "render",
        "profiles/docker-host.toml",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("f 0600 0:0 /etc/ssh/sshd_config\n"));
    assert!(stdout(&out).contains("d 0700 1000:1000 /home/alice/.ssh\n"));
    let sshd = fs_err::read_to_string(out_dir.join("etc/ssh/sshd_config")).unwrap();
    assert!(sshd.contains("PasswordAuthentication no"));
    assert!(out_dir.join("etc/docker/daemon.json").is_file());
    // Nothing else is left beside the output.
    let names: Vec<_> = fs_err::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["out"]);

    // A non-empty output directory is refused, and left alone.
    let again = basalt(&[
        "profile",
        "render",
        "profiles/minimal.toml",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("is not empty"),
        "{}",
        stderr(&again)
    );
    assert!(Path::new(&out_dir.join("etc/docker/daemon.json")).is_file());
}

#[test]
fn help_names_both_subcommands() {
    let out = basalt(&["profile", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("check") && text.contains("render"), "{text}");
}

#[test]
fn manifest_takes_the_validated_profile() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir(dir.path().join("etc")).unwrap();
    fs_err::write(dir.path().join("etc/motd"), "hi\n").unwrap();
    let root = dir.path().to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args([
            "manifest",
            root,
            "--profile",
            "profiles/docker-host.toml",
            "--format",
            "json",
        ])
        .env("SOURCE_DATE_EPOCH", "0")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = basalt::profile::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/docker-host.toml"),
    )
    .unwrap();
    let policy = p.runtime_policy();
    assert_eq!(doc["image"], "docker-host");
    assert_eq!(doc["profile_digest"], format!("sha256:{}", p.digest()));
    assert_eq!(doc["policy"]["state"], serde_json::json!(policy.state));
    assert_eq!(
        doc["policy"]["ephemeral"],
        serde_json::json!(policy.ephemeral)
    );
    assert_eq!(doc["policy"]["mutable"], serde_json::json!(policy.mutable));

    // An invalid profile stops the manifest with its located error.
    let bad = dir.path().join("bad.toml");
    fs_err::write(&bad, "[image]\nname = 1\n").unwrap();
    let out = basalt(&["manifest", root, "--profile", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.toml:2:8: invalid type: integer `1`, expected a string"),
        "{}",
        stderr(&out)
    );
}
