//! `basalt build` as a user runs it: the offline minimal profile against the shared boot repository,
//! reproducible across directories, umask, time zone and user; atomic output; `--locked`.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_basalt");

fn profile() -> PathBuf {
    support::offline_profile()
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// How one `basalt build` is run: through `sh`, so that umask, TZ, the working directory and
/// (as root) the user can be chosen.
struct Run<'a> {
    cwd: &'a Path,
    umask: &'a str,
    tz: &'a str,
    user: Option<&'a str>,
}

fn build(repo: &Path, profile: &Path, out: &Path, run: &Run<'_>, extra: &[&str]) -> Output {
    let cache = out.with_extension("cache");
    let mut command = match run.user {
        Some(user) => {
            let mut c = Command::new("setpriv");
            // Numeric ids: the group of `nobody` has different names on different systems.
            c.args([
                &format!("--reuid={user}"),
                &format!("--regid={user}"),
                "--clear-groups",
                "--",
            ]);
            c.arg("sh");
            c
        }
        None => Command::new("sh"),
    };
    command
        .arg("-c")
        .arg(format!("umask {} && exec \"$@\"", run.umask))
        .arg("sh")
        .arg(BIN)
        .arg("build")
        .arg(profile)
        .arg("--repository")
        .arg(repo)
        .arg("--offline")
        .arg("--cache-dir")
        .arg(&cache)
        .arg("--out")
        .arg(out)
        .args(extra)
        .current_dir(run.cwd)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", run.cwd)
        .env("TZ", run.tz)
        .env("SOURCE_DATE_EPOCH", "1700000000");
    command.output().unwrap()
}

fn image(out: &Path) -> Vec<u8> {
    fs_err::read(out.join("minimal-1.0.0.tar.gz")).unwrap()
}

fn open_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    // Readable and writable by an unprivileged user, for the builds run as `nobody`.
    let status = Command::new("chmod")
        .arg("0777")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

#[test]
fn builds_are_byte_identical_across_directories_umask_and_time_zone() {
    let Some(data) =
        support::shared_data("builds_are_byte_identical_across_directories_umask_and_time_zone")
    else {
        return;
    };
    let repo = data.join("alpine/repos/v3.19-boot");
    let (a, b) = (open_dir(), open_dir());
    let first = build(
        &repo,
        &profile(),
        &a.path().join("out"),
        &Run {
            cwd: a.path(),
            umask: "022",
            tz: "UTC",
            user: None,
        },
        &[],
    );
    assert!(first.status.success(), "{first:?}");
    let second = build(
        &repo,
        &profile(),
        &b.path().join("elsewhere/out"),
        &Run {
            cwd: b.path(),
            umask: "077",
            tz: "Pacific/Chatham",
            user: None,
        },
        &[],
    );
    assert!(second.status.success(), "{second:?}");
    let (x, y) = (a.path().join("out"), b.path().join("elsewhere/out"));
    assert_eq!(image(&x), image(&y));
    for file in [
        "minimal-1.0.0.manifest",
        "minimal-1.0.0.spdx.json",
        "minimal-1.0.0.report.json",
    ] {
        assert_eq!(
            fs_err::read(x.join(file)).unwrap(),
            fs_err::read(y.join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn a_build_as_nobody_equals_a_build_as_root() {
    let test = "a_build_as_nobody_equals_a_build_as_root";
    let Some(data) = support::shared_data(test) else {
        return;
    };
    if !is_root() {
        eprintln!("SKIPPED {test}: needs root to run one build as root and one as `nobody`");
        return;
    }
    let repo = data.join("alpine/repos/v3.19-boot");
    let (a, b) = (open_dir(), open_dir());
    let root = build(
        &repo,
        &profile(),
        &a.path().join("out"),
        &Run {
            cwd: a.path(),
            umask: "022",
            tz: "UTC",
            user: None,
        },
        &[],
    );
    assert!(root.status.success(), "{root:?}");
    let nobody = build(
        &repo,
        &profile(),
        &b.path().join("out"),
        &Run {
            cwd: b.path(),
            umask: "022",
            tz: "UTC",
            user: Some("65534"),
        },
        &[],
    );
    assert!(nobody.status.success(), "{nobody:?}");
    assert_eq!(image(&a.path().join("out")), image(&b.path().join("out")));
}

#[test]
fn a_failed_build_leaves_nothing() {
    let Some(data) = support::shared_data("a_failed_build_leaves_nothing") else {
        return;
    };
    let repo = data.join("alpine/repos/v3.19-boot");
    let dir = open_dir();
    let text = fs_err::read_to_string(profile()).unwrap();
    let broken = text.replace(
        "default = [\"chronyd\", \"sshd\"]",
        "default = [\"chronyd\", \"no-such-service\"]",
    );
    assert_ne!(text, broken);
    let path = dir.path().join("broken.toml");
    fs_err::write(&path, broken).unwrap();
    let out = dir.path().join("out");
    let result = build(
        &repo,
        &path,
        &out,
        &Run {
            cwd: dir.path(),
            umask: "022",
            tz: "UTC",
            user: None,
        },
        &[],
    );
    assert_eq!(result.status.code(), Some(2), "{result:?}");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("no-such-service"), "{stderr}");
    let left: Vec<_> = fs_err::read_dir(&out)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn locked_builds_refuse_a_missing_or_stale_lock() {
    let Some(data) = support::shared_data("locked_builds_refuse_a_missing_or_stale_lock") else {
        return;
    };
    let repo = data.join("alpine/repos/v3.19-boot");
    let dir = open_dir();
    let path = dir.path().join("minimal.toml");
    fs_err::copy(profile(), &path).unwrap();
    let out = dir.path().join("out");
    let missing = build(
        &repo,
        &path,
        &out,
        &Run {
            cwd: dir.path(),
            umask: "022",
            tz: "UTC",
            user: None,
        },
        &["--locked"],
    );
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(!out.exists());

    let lock = Command::new(BIN)
        .arg("lock")
        .arg(&path)
        .arg("--repository")
        .arg(&repo)
        .arg("--offline")
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(lock.status.success(), "{lock:?}");
    let fresh = build(
        &repo,
        &path,
        &out,
        &Run {
            cwd: dir.path(),
            umask: "022",
            tz: "UTC",
            user: None,
        },
        &["--locked"],
    );
    assert!(fresh.status.success(), "{fresh:?}");

    let text = fs_err::read_to_string(&path).unwrap();
    fs_err::write(
        &path,
        text.replace("\"chrony\"]", "\"chrony\", \"tzdata\"]"),
    )
    .unwrap();
    let stale = build(
        &repo,
        &path,
        &dir.path().join("out2"),
        &Run {
            cwd: dir.path(),
            umask: "022",
            tz: "UTC",
            user: None,
        },
        &["--locked"],
    );
    assert_eq!(stale.status.code(), Some(1), "{stale:?}");
    assert!(
        String::from_utf8_lossy(&stale.stderr).contains("stale"),
        "{stale:?}"
    );
}

#[test]
fn the_built_image_works_and_apk_audit_shows_only_the_profiles_files() {
    let test = "the_built_image_works_and_apk_audit_shows_only_the_profiles_files";
    let Some(apk) = support::alpine_apk(test) else {
        return;
    };
    let data = support::shared_data(test).unwrap();
    let repo = data.join("alpine/repos/v3.19-boot");
    let dir = open_dir();
    let out = dir.path().join("out");
    let result = build(
        &repo,
        &profile(),
        &out,
        &Run {
            cwd: dir.path(),
            umask: "022",
            tz: "UTC",
            user: None,
        },
        &["--format", "json"],
    );
    assert!(result.status.success(), "{result:?}");
    let report: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    let profile_files: Vec<String> = report["profile_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().trim_start_matches('/').to_owned())
        .collect();
    assert!(!profile_files.is_empty());

    let root = dir.path().join("root");
    fs_err::create_dir(&root).unwrap();
    let status = Command::new("tar")
        .arg("-xpzf")
        .arg(out.join("minimal-1.0.0.tar.gz"))
        .arg("-C")
        .arg(&root)
        .status()
        .unwrap();
    assert!(status.success());
    let audit = Command::new(&apk)
        .arg("--root")
        .arg(&root)
        .arg("audit")
        .output()
        .unwrap();
    let text = String::from_utf8(audit.stdout).unwrap();
    // apk lists everything under etc/apk in its default audit, as it does on any Alpine host;
    // beyond that, only what the profile wrote and the account files may differ.
    let unexpected: Vec<&str> = text
        .lines()
        .filter(|line| {
            let path = line.split_once(' ').map_or("", |(_, p)| p);
            !path.starts_with("etc/apk/")
                && !profile_files
                    .iter()
                    .any(|f| f == path || path.starts_with(&format!("{f}/")))
                && !matches!(path, "etc/passwd" | "etc/group" | "etc/shadow")
        })
        .collect();
    assert!(unexpected.is_empty(), "{text}");

    if !is_root() {
        eprintln!("SKIPPED chroot part of {test}: needs root");
        return;
    }
    let run = Command::new("chroot")
        .arg(&root)
        .args(["/bin/sh", "-c", "ls /bin && apk info"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let listing = String::from_utf8(run.stdout).unwrap();
    assert!(listing.lines().any(|l| l == "sh"), "{listing}");
    assert!(listing.lines().any(|l| l == "chrony"), "{listing}");
}
