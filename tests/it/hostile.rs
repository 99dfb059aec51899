//! The hostile corpus: basalt as a local user, a hostile package, a hostile host and a careless
//! operator attack it, one case per attack, each asserting the exact outcome (the error or
//! finding, the exit code, nothing written outside the output, no file left behind).
//!
//! Every command runs with a deadline: an attack that makes basalt hang or read without end
//! fails its case instead of stalling the suite.

use crate::support;

use std::io::Read as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BASALT: &str = env!("CARGO_BIN_EXE_basalt");

/// How a command ended.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `command`, killing it (and failing the case) when it outlives `seconds`.
fn finish(mut command: Command, seconds: u64) -> Run {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let readers = (
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = out.read_to_end(&mut s);
            s
        }),
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            s
        }),
    );
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish within {seconds} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: text(readers.0.join().unwrap()),
        stderr: text(readers.1.join().unwrap()),
    }
}

fn basalt(args: &[&str]) -> Run {
    let mut command = Command::new(BASALT);
    command.args(args);
    finish(command, 60)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn is_root() -> bool {
    let probe = tempfile::tempdir().unwrap();
    std::fs::metadata(probe.path()).unwrap().uid() == 0
}

/// Every name in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A small root the verify cases tamper with: `/etc` (with `shadow` and `sub/`), `/tmp`,
/// `/var/lib/docker` (state) and `/usr/bin`.
fn small_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    for d in ["etc/sub", "tmp", "var/lib/docker", "usr/bin"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    write(&root.join("etc/shadow"), "root:!::0:::::\n");
    std::fs::set_permissions(root.join("etc/shadow"), PermissionsExt::from_mode(0o640)).unwrap();
    write(&root.join("etc/sub/a"), "a\n");
    write(&root.join("usr/bin/tool"), "#!/bin/sh\n");
    std::fs::set_permissions(root.join("tmp"), PermissionsExt::from_mode(0o1777)).unwrap();
    root
}

/// `basalt manifest` of `root` with ephemeral `/tmp`, state `/var/lib/docker` and the given
/// mutable paths.
fn manifest_of(root: &Path, dir: &Path, mutable: &[&str]) -> PathBuf {
    let manifest = dir.join("manifest");
    let mut args = vec![
        "manifest",
        s(root),
        "--ephemeral",
        "/tmp",
        "--state",
        "/var/lib/docker",
        "--out",
        s(&manifest),
    ];
    for m in mutable {
        args.extend(["--mutable", m]);
    }
    let run = basalt(&args);
    assert_eq!(run.code, 0, "{run:?}");
    manifest
}

/// `basalt verify --no-signature --format json`: exit code and findings as
/// `(path, kind, expected, actual)`.
fn verify(manifest: &Path, root: &Path) -> (i32, Vec<(String, String, Value, Value)>) {
    let run = basalt(&[
        "verify",
        "--no-signature",
        "--manifest",
        s(manifest),
        "--format",
        "json",
        s(root),
    ]);
    let json: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"));
    let findings = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["kind"].as_str().unwrap().to_owned(),
                f["expected"].clone(),
                f["actual"].clone(),
            )
        })
        .collect();
    (run.code, findings)
}

fn finding(
    path: &str,
    kind: &str,
    expected: Value,
    actual: Value,
) -> (String, String, Value, Value) {
    (path.to_owned(), kind.to_owned(), expected, actual)
}

fn shared_repo(test: &str) -> Option<PathBuf> {
    Some(support::shared_data(test)?.join("alpine/repos/v3.19-boot"))
}

/// The offline profile: it builds from the shared repository.
fn minimal_profile() -> String {
    std::fs::read_to_string(support::offline_profile()).unwrap()
}

// ------------------------------------------------------------------------------------------
// 1. Outputs are never written through names planted in a shared output directory.

/// The names the outputs' temporary files once had (`.NAME.tmp-PID`, `.NAME.tmpPID`), for a
/// given process id.
fn old_temporary_names(names: &[&str], pid: u32) -> Vec<String> {
    names
        .iter()
        .flat_map(|n| [format!(".{n}.tmp-{pid}"), format!(".{n}.tmp{pid}")])
        .collect()
}

#[test]
fn build_and_lock_never_write_through_planted_symlinks() {
    let Some(repo) = shared_repo("build_and_lock_never_write_through_planted_symlinks") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    write(&victim, "precious\n");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let outputs = [
        "minimal-1.0.0.tar.gz",
        "minimal-1.0.0.manifest",
        "minimal-1.0.0.spdx.json",
        "minimal-1.0.0.report.txt",
        "minimal-1.0.0.report.json",
    ];
    // The final names are planted too: the outputs must replace the links, not follow them.
    for name in outputs {
        symlink(&victim, out.join(name)).unwrap();
    }
    let profile = dir.path().join("minimal.toml");
    write(&profile, &minimal_profile());
    let mut command = Command::new(BASALT);
    command.args([
        "build",
        s(&profile),
        "--repository",
        s(&repo),
        "--offline",
        "--cache-dir",
        s(&dir.path().join("cache")),
        "--out",
        s(&out),
    ]);
    // The attacker learns the process id and plants links at every name it could use.
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let planted = old_temporary_names(&outputs, child.id());
    for name in &planted {
        symlink(&victim, out.join(name)).unwrap();
    }
    let result = child.wait_with_output().unwrap();
    assert_eq!(result.status.code(), Some(0), "{result:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    for name in outputs {
        let meta = std::fs::symlink_metadata(out.join(name)).unwrap();
        assert!(
            meta.is_file(),
            "{name} is not the regular file basalt wrote"
        );
    }
    for name in &planted {
        std::fs::remove_file(out.join(name)).unwrap();
    }
    let mut expected: Vec<String> = outputs.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    assert_eq!(
        names(&out),
        expected,
        "nothing else is left in the output directory"
    );

    // The lock beside the profile, the same way.
    let lock = dir.path().join("minimal.lock");
    symlink(&victim, &lock).unwrap();
    let mut command = Command::new(BASALT);
    command.args(["lock", s(&profile), "--repository", s(&repo), "--offline"]);
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let planted = old_temporary_names(&["minimal.lock"], child.id());
    for name in &planted {
        symlink(&victim, dir.path().join(name)).unwrap();
    }
    let result = child.wait_with_output().unwrap();
    assert_eq!(result.status.code(), Some(0), "{result:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(std::fs::symlink_metadata(&lock).unwrap().is_file());
    for name in &planted {
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }
    assert_eq!(
        names(dir.path()),
        ["minimal.lock", "minimal.toml", "out", "victim"]
    );
}

#[test]
fn keygen_sign_and_manifest_refuse_to_follow_planted_names() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    write(&victim, "precious\n");
    // keygen never replaces a key, nor writes through a link at its name.
    let base = dir.path().join("k");
    symlink(&victim, dir.path().join("k.key")).unwrap();
    let run = basalt(&["keygen", "--out", s(&base)]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        format!(
            "error: `{}` already exists; basalt does not overwrite keys\n\nhint: choose another --out, or remove the old key pair first\n",
            dir.path().join("k.key").display()
        )
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    // manifest --out replaces a planted link with the file it writes.
    let root = small_root(dir.path());
    let out = dir.path().join("m");
    symlink(&victim, &out).unwrap();
    assert_eq!(basalt(&["manifest", s(&root), "--out", s(&out)]).code, 0);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(std::fs::symlink_metadata(&out).unwrap().is_file());
    assert_eq!(names(dir.path()), ["k.key", "m", "root", "victim"]);
}

/// The child half of [`an_interrupted_output_leaves_no_temporary_file`]: starts an output,
/// says where, and waits to be interrupted.
#[test]
fn output_child_waiting_for_a_signal() {
    let Ok(dir) = std::env::var("BASALT_HOSTILE_CHILD_DIR") else {
        return;
    };
    let target = Path::new(&dir).join("image.tar.gz");
    let mut output = basalt::output::create(&target, 0o644).unwrap();
    std::io::Write::write_all(&mut output, b"half an image").unwrap();
    println!("READY");
    std::thread::sleep(Duration::from_secs(60));
    unreachable!("the parent interrupts this process");
}

#[test]
fn an_interrupted_output_leaves_no_temporary_file() {
    for signal in ["INT", "TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "hostile::output_child_waiting_for_a_signal",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("BASALT_HOSTILE_CHILD_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !String::from_utf8_lossy(&seen).contains("READY") {
            assert_eq!(stdout.read(&mut byte).unwrap(), 1, "the child ended early");
            seen.push(byte[0]);
        }
        let pending = names(dir.path());
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert!(
            pending[0].starts_with(".image.tar.gz.") && pending[0].ends_with(".tmp"),
            "{pending:?}"
        );
        let killed = Command::new("sh")
            .args(["-c", &format!("kill -{signal} {}", child.id())])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        assert_eq!(
            status.code(),
            None,
            "ended by the signal itself: {status:?}"
        );
        assert_eq!(names(dir.path()), Vec::<String>::new(), "after SIG{signal}");
    }
}

// ------------------------------------------------------------------------------------------
// 4. Mutable paths may change their content only.

#[test]
fn a_mutable_path_may_change_its_content_only() {
    if !is_root() {
        eprintln!("SKIPPED a_mutable_path_may_change_its_content_only: needs root (chown)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = small_root(dir.path());
    write(&root.join("etc/hostname"), "image\n");
    let manifest = manifest_of(&root, dir.path(), &["/etc/hostname", "/etc/resolv.conf"]);
    // Content may change, in place or by replacement.
    write(&root.join("etc/hostname"), "renamed-host\n");
    write(&root.join("etc/resolv.conf"), "nameserver 192.0.2.1\n");
    assert_eq!(verify(&manifest, &root), (0, vec![]));
    // Setuid root, owned by someone else, with an extended attribute: none of it may.
    // (chown clears setuid bits: the owner first.)
    let hostname = root.join("etc/hostname");
    std::os::unix::fs::chown(&hostname, Some(1000), Some(1000)).unwrap();
    std::fs::set_permissions(&hostname, PermissionsExt::from_mode(0o4755)).unwrap();
    xattr::set(&hostname, "user.capability", b"cap_setuid+ep").unwrap();
    // A mutable path the image does not ship must be a plain root-owned file.
    let resolv = root.join("etc/resolv.conf");
    std::os::unix::fs::chown(&resolv, Some(1000), Some(0)).unwrap();
    std::fs::set_permissions(&resolv, PermissionsExt::from_mode(0o6777)).unwrap();
    let (code, findings) = verify(&manifest, &root);
    assert_eq!(code, 1);
    let xattr_digest = findings
        .iter()
        .find(|f| f.0 == "/etc/hostname" && f.1 == "xattrs")
        .map(|f| f.3.clone())
        .expect("an xattrs finding");
    assert_eq!(
        findings,
        vec![
            finding("/etc/hostname", "mode", json!("0644"), json!("4755")),
            finding("/etc/hostname", "owner", json!("0:0"), json!("1000:1000")),
            finding("/etc/hostname", "xattrs", json!("none"), xattr_digest),
            finding(
                "/etc/resolv.conf",
                "mode",
                json!("0644 or stricter (a mutable path not in the image)"),
                json!("6777")
            ),
            finding(
                "/etc/resolv.conf",
                "owner",
                json!("0:0 (a mutable path not in the image)"),
                json!("1000:0")
            ),
        ]
    );
    // Replaced by a symlink, or gone: its type.
    std::fs::remove_file(&resolv).unwrap();
    symlink("/etc/shadow", &resolv).unwrap();
    std::fs::remove_file(&hostname).unwrap();
    let (code, findings) = verify(&manifest, &root);
    assert_eq!(code, 1);
    assert_eq!(
        findings,
        vec![
            finding(
                "/etc/hostname",
                "missing",
                json!("file 0644 0:0"),
                Value::Null
            ),
            finding(
                "/etc/resolv.conf",
                "type",
                json!("file (a mutable path not in the image)"),
                json!("symlink")
            ),
        ]
    );
}

// ------------------------------------------------------------------------------------------
// 6. Paths longer than the kernel's limit are walked like any other.

/// Creates `parts` nested directories named `name` under `base`, each relative to the one
/// before (their full path is longer than the kernel takes in one call); returns the deepest
/// one, open, and its path below `base`.
fn deep_dirs(base: &Path, name: &str, parts: usize) -> (std::os::fd::OwnedFd, String) {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir = rustix::fs::open(base, flags, Mode::empty()).unwrap();
    let mut below = String::new();
    for _ in 0..parts {
        rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o755)).unwrap();
        dir = rustix::fs::openat(&dir, name, flags, Mode::empty()).unwrap();
        below.push('/');
        below.push_str(name);
    }
    (dir, below)
}

#[test]
fn a_setuid_file_at_a_very_long_path_is_found() {
    use rustix::fs::{Mode, OFlags};
    let dir = tempfile::tempdir().unwrap();
    let root = small_root(dir.path());
    let (deepest, below) = deep_dirs(&root.join("usr"), &"d".repeat(200), 20);
    let deep = format!("/usr{below}");
    assert!(deep.len() > 4000);
    let manifest = manifest_of(&root, dir.path(), &[]);
    assert_eq!(verify(&manifest, &root), (0, vec![]));
    // A new directory past 4096 bytes, holding a setuid file.
    let name = "e".repeat(70);
    rustix::fs::mkdirat(&deepest, name.as_str(), Mode::from_raw_mode(0o755)).unwrap();
    let evil = rustix::fs::openat(
        &deepest,
        name.as_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let file = rustix::fs::openat(
        &evil,
        "evil",
        OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .unwrap();
    rustix::io::write(&file, b"x").unwrap();
    rustix::fs::fchmod(&file, Mode::from_raw_mode(0o4755)).unwrap();
    let evil_dir = format!("{deep}/{name}");
    assert!(evil_dir.len() + "/evil".len() > 4096);
    let owner = ids(&root);
    let (code, findings) = verify(&manifest, &root);
    assert_eq!(code, 1);
    assert_eq!(
        findings,
        vec![
            finding(
                &evil_dir,
                "persisted",
                Value::Null,
                json!(format!("dir 0755 {owner}"))
            ),
            finding(
                &format!("{evil_dir}/evil"),
                "persisted",
                Value::Null,
                json!(format!("file 4755 {owner}"))
            ),
        ]
    );
    // And `manifest` describes such a tree.
    let run = basalt(&["manifest", s(&root)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&format!("{evil_dir}/evil file 4755 ")));
}

// ------------------------------------------------------------------------------------------
// 7. Inputs are regular files, read within bounds.

fn signed_small_root(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let root = small_root(dir);
    let manifest = manifest_of(&root, dir, &[]);
    let key = dir.join("key");
    assert_eq!(basalt(&["keygen", "--out", s(&key)]).code, 0);
    assert_eq!(
        basalt(&["sign", "--key", s(&key.with_extension("key")), s(&manifest)]).code,
        0
    );
    (root, manifest, key.with_extension("pub"))
}

#[test]
fn endless_or_blocking_inputs_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (root, manifest, public) = signed_small_root(dir.path());
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let zero_link = dir.path().join("manifest.minisig.link");
    symlink("/dev/zero", &zero_link).unwrap();
    let verify_with = |extra: &[&str]| {
        let mut args = vec!["verify", "--manifest", s(&manifest), "--key", s(&public)];
        args.extend_from_slice(extra);
        args.push(s(&root));
        basalt(&args)
    };
    // A revocation list that never ends.
    let run = verify_with(&["--revoked", "/dev/zero"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            2,
            "error: `/dev/zero` is not a regular file but a character device\n"
        )
    );
    // A signature that is a FIFO nobody writes, or a link to /dev/zero (a mutable path at
    // boot): a bad signature, at once.
    for (sig, what) in [(&fifo, "a FIFO"), (&zero_link, "a character device")] {
        let run = verify_with(&["--signature", s(sig)]);
        assert_eq!(run.code, 1, "{run:?}");
        assert_eq!(
            run.stderr,
            format!(
                "error: the manifest's signature is not valid: `{}` is not a regular file but {what}\n",
                sig.display()
            )
        );
    }
    // A key that is a FIFO, a manifest that is a device.
    let run = verify_with(&["--key", s(&fifo)]);
    assert_eq!(
        (run.code, run.stderr),
        (
            2,
            format!(
                "error: `{}` is not a regular file but a FIFO\n",
                fifo.display()
            )
        )
    );
    let run = basalt(&[
        "verify",
        "--no-signature",
        "--manifest",
        "/dev/zero",
        s(&root),
    ]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            2,
            "error: `/dev/zero` is not a regular file but a character device\n"
        )
    );
    // An image that is a FIFO.
    let run = basalt(&[
        "verify",
        "--no-signature",
        "--manifest",
        s(&manifest),
        s(&fifo),
    ]);
    assert_eq!(
        (run.code, run.stderr),
        (
            2,
            format!(
                "error: failed to read `{f}`: `{f}` is not a regular file but a FIFO\n",
                f = fifo.display()
            )
        )
    );
    // Nothing was written beside the inputs.
    assert_eq!(
        names(dir.path()),
        [
            "fifo",
            "key.key",
            "key.pub",
            "manifest",
            "manifest.minisig",
            "manifest.minisig.link",
            "root"
        ]
    );
}

// ------------------------------------------------------------------------------------------
// 8. Mount points, bind mounts of the same filesystem included.

#[test]
fn a_bind_mount_over_a_listed_directory_is_found() {
    if !is_root() {
        eprintln!("SKIPPED a_bind_mount_over_a_listed_directory_is_found: needs root (mount)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = small_root(dir.path());
    write(&root.join("etc/signed"), "placeholder\n");
    let manifest = manifest_of(&root, dir.path(), &["/etc/signed"]);
    // An exact copy of /etc/sub from the writable state area mounted over it (the same
    // filesystem: the same device), a file mounted over a listed file, and the ephemeral
    // /tmp mounted as it should be; a file mounted over the mutable /etc/signed (content
    // only: the same mode and owner) is what a mutable path allows.
    let copy = root.join("var/lib/docker/sub");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(root.join("etc/sub/a"), copy.join("a")).unwrap();
    write(&root.join("var/lib/docker/signed"), "the real content\n");
    let script = "mount --bind \"$1/var/lib/docker/sub\" \"$1/etc/sub\" \
        && mount --bind \"$1/var/lib/docker/sub/a\" \"$1/usr/bin/tool\" \
        && mount --bind \"$1/var/lib/docker/signed\" \"$1/etc/signed\" \
        && mount --bind \"$1/var/lib/docker\" \"$1/tmp\" \
        && exec \"$2\" verify --no-signature --format json --manifest \"$3\" \"$1\"";
    let mut command = Command::new("unshare");
    command.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
        s(&root),
        BASALT,
        s(&manifest),
    ]);
    let run = finish(command, 60);
    assert_eq!(run.code, 1, "{run:?}");
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let findings: Vec<(String, String, Value, Value)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["kind"].as_str().unwrap().to_owned(),
                f["expected"].clone(),
                f["actual"].clone(),
            )
        })
        .collect();
    // The ephemeral /tmp is where a filesystem is mounted: no finding.
    assert_eq!(
        findings,
        vec![
            finding(
                "/etc/sub",
                "type",
                json!("dir"),
                json!("dir with another filesystem mounted over its content")
            ),
            finding(
                "/usr/bin/tool",
                "type",
                json!("file"),
                json!("file with another file mounted over it")
            ),
        ]
    );
}

// ------------------------------------------------------------------------------------------
// 9. Ephemeral mount points must be the manifest's directories.

#[test]
fn an_ephemeral_mount_point_removed_or_made_a_symlink_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_root(dir.path());
    let manifest = manifest_of(&root, dir.path(), &[]);
    std::fs::remove_dir(root.join("tmp")).unwrap();
    assert_eq!(
        verify(&manifest, &root),
        (
            1,
            vec![finding(
                "/tmp",
                "missing",
                json!(format!("dir 1777 {}", ids(&root))),
                Value::Null
            )]
        )
    );
    symlink("/etc", root.join("tmp")).unwrap();
    assert_eq!(
        verify(&manifest, &root),
        (
            1,
            vec![finding("/tmp", "type", json!("dir"), json!("symlink"))]
        )
    );
    // The state path itself, the same.
    std::fs::remove_file(root.join("tmp")).unwrap();
    std::fs::create_dir(root.join("tmp")).unwrap();
    std::fs::set_permissions(root.join("tmp"), PermissionsExt::from_mode(0o1777)).unwrap();
    std::fs::remove_dir_all(root.join("var/lib/docker")).unwrap();
    symlink("/etc", root.join("var/lib/docker")).unwrap();
    assert_eq!(
        verify(&manifest, &root),
        (
            1,
            vec![finding(
                "/var/lib/docker",
                "type",
                json!("dir"),
                json!("symlink")
            )]
        )
    );
}

fn ids(dir: &Path) -> String {
    let meta = std::fs::metadata(dir).unwrap();
    format!("{}:{}", meta.uid(), meta.gid())
}

// ------------------------------------------------------------------------------------------
// 10. A run without the signature says so.

#[test]
fn an_unchecked_signature_is_never_reported_as_a_signed_run() {
    let dir = tempfile::tempdir().unwrap();
    let (root, manifest, public) = signed_small_root(dir.path());
    let entries = std::fs::read_to_string(&manifest)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("entries ").map(str::to_owned))
        .unwrap();
    let unchecked = basalt(&[
        "verify",
        "--no-signature",
        "--manifest",
        s(&manifest),
        s(&root),
    ]);
    assert_eq!(unchecked.code, 0);
    assert_eq!(
        unchecked.stderr,
        format!(
            "warning: the manifest's signature was NOT checked (--no-signature): the result is only as trustworthy as the manifest file\n\
         clean: the tree matches all {entries} entries of the manifest (signature NOT checked)\n"
        )
    );
    let signed = basalt(&[
        "verify",
        "--key",
        s(&public),
        "--manifest",
        s(&manifest),
        s(&root),
    ]);
    assert_eq!(signed.code, 0);
    assert_eq!(
        signed.stderr,
        format!(
            "clean: the tree matches all {entries} entries of the manifest (signature verified)\n"
        )
    );
    for (args, state) in [
        (vec!["--no-signature"], "unchecked"),
        (vec!["--key", s(&public)], "verified"),
    ] {
        let mut all = vec!["verify", "--format", "json", "--manifest", s(&manifest)];
        all.extend(args);
        all.push(s(&root));
        let run = basalt(&all);
        let json: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(
            json,
            json!({"image": "root", "version": "0", "clean": true, "signature": state, "findings": []})
        );
    }
}

// ------------------------------------------------------------------------------------------
// 11. Hard links from outside the verified tree.

#[test]
fn a_hard_link_to_a_listed_file_from_a_state_path_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_root(dir.path());
    let manifest = manifest_of(&root, dir.path(), &[]);
    std::fs::hard_link(root.join("etc/shadow"), root.join("var/lib/docker/shadow")).unwrap();
    std::fs::hard_link(root.join("usr/bin/tool"), root.join("tmp/tool")).unwrap();
    std::fs::hard_link(root.join("etc/sub/a"), dir.path().join("outside")).unwrap();
    let why = "of them outside the verified tree (a hard link in an ephemeral or state path, or outside the root)";
    assert_eq!(
        verify(&manifest, &root),
        (
            1,
            vec![
                finding(
                    "/etc/shadow",
                    "target",
                    json!("1 link"),
                    json!(format!("2 links, 1 {why}"))
                ),
                finding(
                    "/etc/sub/a",
                    "target",
                    json!("1 link"),
                    json!(format!("2 links, 1 {why}"))
                ),
                finding(
                    "/usr/bin/tool",
                    "target",
                    json!("1 link"),
                    json!(format!("2 links, 1 {why}"))
                ),
            ]
        )
    );
}

// ------------------------------------------------------------------------------------------
// 13. Untrusted strings reach a person escaped.

#[test]
fn a_package_cannot_forge_lines_of_the_listing_or_drive_the_terminal() {
    use support::apk::{ApkBuilder, TestKey};
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::primary();
    let apk = ApkBuilder::new("forger", "1-r0")
        .description("\u{1b}[2Jcleared \u{202e}desrever")
        .dir("usr", 0o755)
        .file("usr/a\n-rwsr-xr-x root:root 0 usr/bin/fake", b"x", 0o644)
        .file("usr/b\u{1b}]0;pwned\u{7}", b"y", 0o644)
        .build_signed(key);
    let file = dir.path().join("forger-1-r0.apk");
    std::fs::write(&file, &apk.bytes).unwrap();
    let keys = key.write_public(dir.path());
    let run = basalt(&["apk", "inspect", s(&file), "--keys", s(&keys)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{7}'),
        "{:?}",
        run.stdout
    );
    let files: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| *l != "files:")
        .skip(1)
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(
        files[1].contains(" usr/a\\n-rwsr-xr-x root:root 0 usr/bin/fake "),
        "{files:?}"
    );
    assert!(files[2].contains(" usr/b\\e]0;pwned\\x07 "), "{files:?}");
    assert!(
        run.stdout
            .contains("pkgdesc = \\e[2Jcleared \\u{202e}desrever\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_secdb_cannot_drive_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(
        &root.join("lib/apk/db/installed"),
        "P:busybox\nV:1.36.1-r0\no:busybox\nA:x86_64\n\n",
    );
    let secdb = dir.path().join("main.json");
    std::fs::write(
        &secdb,
        serde_json::to_vec(&json!({
            "distroversion": "v3.19", "reponame": "main", "archs": ["x86_64"],
            "packages": [{"pkg": {"name": "busybox", "secfixes": {
                "1.36.1-r5": ["CVE-2024-0001\u{1b}[2K\u{1b}[1A\u{9b}31m"]
            }}}]
        }))
        .unwrap(),
    )
    .unwrap();
    let run = basalt(&["scan", s(&root), "--secdb", s(&secdb)]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
    assert!(
        run.stdout
            .contains("    CVE-2024-0001\\e[2K\\e[1A\\x9b31m  fixed in 1.36.1-r5\n"),
        "{:?}",
        run.stdout
    );
}

// ------------------------------------------------------------------------------------------
// 15. Signatures, revocation lists and diagnostics say what is wrong.

#[test]
fn a_non_utf8_signature_is_a_bad_signature_and_revocation_comments_are_comments() {
    let dir = tempfile::tempdir().unwrap();
    let (root, manifest, public) = signed_small_root(dir.path());
    let sig = dir.path().join("bad.minisig");
    std::fs::write(&sig, b"untrusted comment: \xff\xfe\n").unwrap();
    let run = basalt(&[
        "verify",
        "--manifest",
        s(&manifest),
        "--key",
        s(&public),
        "--signature",
        s(&sig),
        s(&root),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "error: the manifest's signature is not valid: failed to read `{}`: not UTF-8 (at byte 19)\n",
            sig.display()
        )
    );
    // `KEYID # comment` revokes KEYID.
    let id = std::fs::read_to_string(&public)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let revoked = dir.path().join("revoked");
    write(
        &revoked,
        &format!("# keys we no longer trust\n{id}   # leaked 2024-05-01\n"),
    );
    let run = basalt(&[
        "verify",
        "--manifest",
        s(&manifest),
        "--key",
        s(&public),
        "--revoked",
        s(&revoked),
        s(&root),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "error: the manifest's signature is not valid: the signature was made by key {id}, which is revoked\n"
        )
    );
}

// ------------------------------------------------------------------------------------------
// 2. A user's home is a new directory of its own; the audit finds system directories owned
//    by users.

/// The number of the first line of the file `path` that starts with `start`.
fn line_of(path: &Path, start: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.starts_with(start))
        .unwrap()
        + 1
}

fn profile_with(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let path = dir.join(name);
    write(&path, &edit(minimal_profile()));
    path
}

#[test]
fn a_home_is_never_a_system_or_package_directory() {
    let dir = tempfile::tempdir().unwrap();
    for home in ["/etc", "/usr/bin", "/root", "/etc/ssh", "/home"] {
        let profile = profile_with(dir.path(), "etc.toml", |p| {
            p.replace("uid = 1000\n", &format!("uid = 1000\nhome = \"{home}\"\n"))
        });
        let run = basalt(&["profile", "check", s(&profile)]);
        assert_eq!(run.code, 2, "{home}: {run:?}");
        let line = line_of(&profile, "home = ");
        assert_eq!(
            run.stderr,
            format!(
                "error: {}:{line}:8: home `{home}` of user `admin` is not below `/home` or a state path\n   |\n{line} | home = \"{home}\"\n   |        {}\n\nhint: a home is a new directory the user owns: use the default `/home/admin`, or a directory below a [[filesystem.state]] path\n",
                profile.display(),
                "^".repeat(home.len() + 2)
            )
        );
    }
    // Below a state path, but a directory a package ships: refused when the image is built.
    let Some(repo) = shared_repo("a_home_is_never_a_system_or_package_directory") else {
        return;
    };
    let profile = profile_with(dir.path(), "chrony.toml", |p| {
        p.replace(
            "[filesystem]",
            "[[users]]\nname = \"svc\"\nuid = 1001\nhome = \"/var/lib/chrony\"\n\n[filesystem]",
        )
    });
    let out = dir.path().join("out");
    let run = basalt(&[
        "build",
        s(&profile),
        "--repository",
        s(&repo),
        "--offline",
        "--out",
        s(&out),
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.ends_with(
            "error: failed to assemble `minimal`: home `/var/lib/chrony` of user `svc` already exists in the image (package `chrony` ships it): a home must be a new directory\n"
        ),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "nothing is written");
}

/// An image archive of directories and files, with owners and modes.
fn image_of(path: &Path, entries: &[(&str, Option<&str>, u32, u32, u32)]) {
    let file = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for (name, content, mode, uid, gid) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(*mode);
        header.set_uid(u64::from(*uid));
        header.set_gid(u64::from(*gid));
        match content {
            Some(text) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(text.len() as u64);
                builder
                    .append_data(&mut header, name, text.as_bytes())
                    .unwrap();
            }
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder.append_data(&mut header, name, &[][..]).unwrap();
            }
        }
    }
    builder.into_inner().unwrap().finish().unwrap();
}

fn audit_findings(target: &Path) -> (i32, Vec<Value>) {
    let run = basalt(&["audit", s(target), "--format", "json"]);
    let json: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"));
    (run.code, json["findings"].as_array().unwrap().clone())
}

#[test]
fn the_audit_finds_system_directories_owned_by_users() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.tar.gz");
    image_of(
        &image,
        &[
            ("etc", None, 0o750, 1000, 1000),
            (
                "etc/passwd",
                Some("root:x:0:0::/root:/bin/sh\nops:x:1000:1000::/etc:/bin/sh\n"),
                0o644,
                0,
                0,
            ),
            ("etc/group", Some("root:x:0:\nops:x:1000:\n"), 0o644, 0, 0),
            ("usr/local/bin", None, 0o775, 0, 1000),
            ("home/ops", None, 0o700, 1000, 1000),
        ],
    );
    let (code, findings) = audit_findings(&image);
    assert_eq!(code, 1);
    let owned: Vec<(&str, &str, &str)> = findings
        .iter()
        .filter(|f| f["check"] == "system-dir-owner")
        .map(|f| {
            (
                f["path"].as_str().unwrap(),
                f["message"].as_str().unwrap(),
                f["evidence"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        owned,
        [
            (
                "/etc",
                "system directory `/etc` is owned by `ops`, which is not a system account",
                "dir mode 0750 owner 1000:1000 (ops:ops)"
            ),
            (
                "/usr/local/bin",
                "system directory `/usr/local/bin` is writable by group `ops`, which is not a system group",
                "dir mode 0775 owner 0:1000 (root:ops)"
            ),
        ]
    );
}

// ------------------------------------------------------------------------------------------
// 3. sshd Includes that fan out.

fn sshd_root(dir: &Path, files: usize) -> PathBuf {
    let root = dir.join(format!("root{files}"));
    write(
        &root.join("etc/ssh/sshd_config"),
        "Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\nAllowUsers ops\n",
    );
    for i in 0..files {
        write(
            &root.join(format!("etc/ssh/sshd_config.d/{i:02}.conf")),
            "Include /etc/ssh/sshd_config.d/*.conf\nX11Forwarding no\n",
        );
    }
    root
}

#[test]
fn sshd_includes_that_include_each_other_end_quickly_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // Three files that each include their whole directory: every chain is read once.
    let (_, findings) = audit_findings(&sshd_root(dir.path(), 3));
    let ssh: Vec<&Value> = findings
        .iter()
        .filter(|f| {
            f["check"].as_str().unwrap().starts_with("ssh-")
                || f["path"].as_str().unwrap().starts_with("/etc/ssh")
        })
        .collect();
    assert_eq!(ssh, Vec::<&Value>::new());
    // Twelve (12! chains): the expansion stops at its bound, and says so.
    let (_, findings) = audit_findings(&sshd_root(dir.path(), 12));
    let stopped: Vec<(&str, &str)> = findings
        .iter()
        .filter(|f| f["check"] == "unreadable-file")
        .map(|f| (f["path"].as_str().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        stopped,
        [(
            "/etc/ssh/sshd_config",
            "the sshd configuration is not read to its end: its Includes expand too far"
        )]
    );
}

// ------------------------------------------------------------------------------------------
// 5. Profile ids never take the image's accounts' ids.

#[test]
fn profile_ids_never_collide_with_the_images_accounts() {
    let Some(repo) = shared_repo("profile_ids_never_collide_with_the_images_accounts") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (edit, message) in [
        (
            "uid = 22\n",
            "uid 22 of user `admin` is already used by `sshd` in the image's /etc/passwd",
        ),
        (
            "uid = 100\n",
            "uid 100 of user `admin` is already used by `chrony` in the image's /etc/passwd",
        ),
        (
            "uid = 1000\ngid = 101\n",
            "gid 101 of group `admin` is already used by `chrony` in the image's /etc/group",
        ),
    ] {
        let profile = profile_with(dir.path(), "ids.toml", |p| p.replace("uid = 1000\n", edit));
        let out = dir.path().join("out");
        let run = basalt(&[
            "build",
            s(&profile),
            "--repository",
            s(&repo),
            "--offline",
            "--out",
            s(&out),
        ]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .ends_with(&format!("error: failed to assemble `minimal`: {message}\n")),
            "{edit}: {}",
            run.stderr
        );
        assert!(!out.exists());
    }
}

// ------------------------------------------------------------------------------------------
// 12. A trusted package's data member swapped for a bomb stops at its installed size.

#[test]
fn a_swapped_data_member_stops_at_the_installed_size() {
    use support::apk::{ApkBuilder, TestKey};
    let key = TestKey::primary();
    let trusted = ApkBuilder::new("tiny", "1-r0")
        .dir("usr", 0o755)
        .file("usr/tiny", b"x", 0o644)
        .build_signed(key);
    // The same signed control member (installed size 1), followed by a data member that
    // inflates to 64 MiB.
    let bomb = ApkBuilder::new("tiny", "1-r0")
        .dir("usr", 0o755)
        .zero_file("usr/tiny", 64 << 20)
        .build_signed(key);
    let data = trusted.members.len() - 1;
    let mut bytes = trusted.bytes[..trusted.members[data].start].to_vec();
    bytes.extend_from_slice(&bomb.bytes[bomb.members[data].clone()]);
    let err = basalt::build::pipeline::read_apk(
        &bytes,
        "tiny-1-r0.apk",
        &key.keyring(),
        None,
        basalt::build::unpack::Limits::default(),
    )
    .unwrap_err();
    let chain: Vec<String> =
        std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
            .map(ToString::to_string)
            .collect();
    let limit = 2 + (16 << 20);
    assert!(
        chain
            .iter()
            .any(|m| m.contains(&format!("inflates beyond the limit of {limit} bytes"))),
        "{chain:?}"
    );
}

// ------------------------------------------------------------------------------------------
// 14. The hardened defaults cannot be undone silently; Docker's case-insensitive JSON.

#[test]
fn weakening_daemon_or_sshd_settings_needs_an_explicit_acceptance() {
    let dir = tempfile::tempdir().unwrap();
    let docker_host = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/docker-host.toml"),
    )
    .unwrap();
    let weak = docker_host.replace(
        "\"max-concurrent-downloads\" = 3\n",
        "\"max-concurrent-downloads\" = 3\nhosts = [\"unix:///run/docker.sock\", \"tcp://0.0.0.0:2375\"]\nicc = true\n\"no-new-privileges\" = false\n",
    );
    let profile = dir.path().join("weak.toml");
    write(&profile, &weak);
    let run = basalt(&["profile", "check", s(&profile)]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "error: failed to render profile `{}`: the profile's configuration fails audit checks it does not accept:\n  \
             - `docker-tcp-without-tls` (critical) /etc/docker/daemon.json: Docker daemon setting `hosts` is `tcp://0.0.0.0:2375`: the API listens on TCP without TLS\n  \
             - `docker-icc` (medium) /etc/docker/daemon.json: Docker daemon setting `icc` is `true`\n  \
             - `docker-no-new-privileges` (medium) /etc/docker/daemon.json: Docker daemon setting `no-new-privileges` is `false`\n\n\
             hint: change the profile, or accept each check on purpose, with the reason, in an `[accept]` table (`\"docker-tcp-without-tls\" = \"why\"`); the audit of the host still reports it\n",
            profile.display()
        )
    );
    // A template of the profile's own that turns password and root logins back on.
    let templates = dir.path().join("templates/etc/ssh");
    write(
        &templates.join("sshd_config"),
        "PasswordAuthentication yes\nPermitRootLogin yes\nKbdInteractiveAuthentication no\nAllowUsers ops\n",
    );
    let profile = dir.path().join("sshd.toml");
    write(
        &profile,
        &format!("{docker_host}\n[files]\ntemplates = \"templates\"\n"),
    );
    let run = basalt(&["profile", "check", s(&profile)]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(
            "  - `ssh-password-auth` (high) /etc/ssh/sshd_config:1: sshd effective setting `passwordauthentication yes`\n  - `ssh-root-login` (high) /etc/ssh/sshd_config:2: sshd effective setting `permitrootlogin yes`\n"
        ),
        "{}",
        run.stderr
    );
    // Accepted on purpose, with a reason: the profile is valid and says so.
    write(
        &profile,
        &format!(
            "{docker_host}\n[files]\ntemplates = \"templates\"\n\n[accept]\n\"ssh-password-auth\" = \"jump host of the migration\"\n\"ssh-root-login\" = \"break-glass access\"\n"
        ),
    );
    let run = basalt(&["profile", "check", s(&profile)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(
            "accepted     ssh-password-auth (jump host of the migration), ssh-root-login (break-glass access)\n"
        ),
        "{}",
        run.stdout
    );
    // An acceptance names a real check, and gives a reason.
    write(
        &profile,
        &format!(
            "{docker_host}\n[accept]\n\"docker-icc\" = \"  \"\n\"ssh-pasword-auth\" = \"x\"\n"
        ),
    );
    let run = basalt(&["profile", "check", s(&profile)]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("accepting `docker-icc` needs a reason"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("`ssh-pasword-auth` is not an audit check")
            && run.stderr.contains("did you mean `ssh-password-auth`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_privileged_container_is_found_whatever_the_case_of_its_json() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.tar.gz");
    let id = "0123456789abcdef";
    let config = format!("var/lib/docker/containers/{id}/config.v2.json");
    let host = format!("var/lib/docker/containers/{id}/hostconfig.json");
    image_of(
        &image,
        &[
            ("usr/bin/dockerd", Some("elf"), 0o755, 0, 0),
            (&config, Some(r#"{"Name":"/web"}"#), 0o600, 0, 0),
            (
                &host,
                Some(r#"{"Privileged":false,"pRiViLeGeD":true,"networkmode":"host"}"#),
                0o600,
                0,
                0,
            ),
        ],
    );
    let (code, findings) = audit_findings(&image);
    assert_eq!(code, 1);
    let containers: Vec<&str> = findings
        .iter()
        .filter_map(|f| f["check"].as_str())
        .filter(|c| c.starts_with("container-"))
        .collect();
    // The settings under test, whatever else the bare container state lacks.
    let containers: Vec<&str> = containers
        .into_iter()
        .filter(|c| ["container-privileged", "container-host-network"].contains(c))
        .collect();
    assert_eq!(
        containers,
        ["container-privileged", "container-host-network"]
    );
}

// ------------------------------------------------------------------------------------------
// 15. A diagnostic names the actual problem.

#[test]
fn an_invalid_uid_is_not_reported_as_a_missing_user() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile_with(dir.path(), "uid.toml", |p| {
        p.replace("uid = 1000\n", "uid = 70000\n")
    });
    let run = basalt(&["profile", "check", s(&profile)]);
    assert_eq!(run.code, 2);
    let line = line_of(&profile, "uid = 70000");
    assert_eq!(
        run.stderr,
        format!(
            "error: {}:{line}:7: uid 70000 is out of range (expected 1 to 65533)\n   |\n{line} | uid = 70000\n   |       ^^^^^\n",
            profile.display()
        )
    );
}
