//! basalt against the reference tools: the real `minisign` verifies basalt's signatures and
//! signs what basalt verifies; NetBSD `mtree` accepts basalt's exported specification.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BASALT: &str = env!("CARGO_BIN_EXE_basalt");

/// The reference tool on PATH; skips visibly when absent, fails when CI requires it.
fn tool(test: &str, name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("BASALT_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
            "{test}: `{name}` is not installed (ci/install-test-deps installs it)"
        );
        eprintln!("SKIPPED {test}: `{name}` is not installed");
    }
    found
}

fn run(program: &Path, args: &[&str], cwd: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(out: &Output) -> bool {
    out.status.success()
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A small tree with a manifest in it, the thing usually signed.
fn manifest_file(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/motd"), "welcome\n").unwrap();
    let manifest = dir.join("image.manifest");
    let out = Command::new(BASALT)
        .args(["manifest", "--image", "web", "--image-version", "1.2"])
        .arg(&root)
        .arg("--out")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(ok(&out), "{}", show(&out));
    manifest
}

#[test]
fn minisign_verifies_basalt_signatures() {
    let Some(minisign) = tool("minisign_verifies_basalt_signatures", "minisign") else {
        return;
    };
    let basalt = Path::new(BASALT);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let manifest = manifest_file(d);
    assert!(ok(&run(basalt, &["keygen", "--out", "release"], d)));
    let mode = std::fs::metadata(d.join("release.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let out = run(
        basalt,
        &["sign", "--key", "release.key", "image.manifest"],
        d,
    );
    assert!(ok(&out), "{}", show(&out));

    let out = run(
        &minisign,
        &["-Vm", "image.manifest", "-p", "release.pub"],
        d,
    );
    assert!(ok(&out), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Trusted comment: basalt image=web version=1.2 manifest=sha256:"),
        "{stdout}"
    );

    // minisign refuses the signature once the manifest changes.
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes.extend_from_slice(b"x");
    std::fs::write(&manifest, bytes).unwrap();
    let out = run(
        &minisign,
        &["-Vm", "image.manifest", "-p", "release.pub"],
        d,
    );
    assert!(!ok(&out), "{}", show(&out));

    // minisign signs with basalt's secret key too (unencrypted, as `-W` writes).
    std::fs::write(d.join("other"), "data\n").unwrap();
    let out = run(&minisign, &["-S", "-s", "release.key", "-m", "other"], d);
    assert!(ok(&out), "{}", show(&out));
    let out = run(&minisign, &["-Vm", "other", "-p", "release.pub"], d);
    assert!(ok(&out), "{}", show(&out));
}

#[test]
fn basalt_verifies_minisign_signatures() {
    let Some(minisign) = tool("basalt_verifies_minisign_signatures", "minisign") else {
        return;
    };
    let basalt = Path::new(BASALT);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    manifest_file(d);
    let out = run(&minisign, &["-G", "-W", "-p", "ms.pub", "-s", "ms.key"], d);
    assert!(ok(&out), "{}", show(&out));
    let verify = |sig: &str| {
        run(
            basalt,
            &[
                "verify",
                "--manifest",
                "image.manifest",
                "--signature",
                sig,
                "--key",
                "ms.pub",
                "root",
            ],
            d,
        )
    };

    // Prehashed (minisign's default) and legacy signatures.
    let out = run(
        &minisign,
        &["-S", "-s", "ms.key", "-m", "image.manifest"],
        d,
    );
    assert!(ok(&out), "{}", show(&out));
    let out = verify("image.manifest.minisig");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = run(
        &minisign,
        &[
            "-S",
            "-l",
            "-s",
            "ms.key",
            "-m",
            "image.manifest",
            "-x",
            "legacy.minisig",
        ],
        d,
    );
    assert!(ok(&out), "{}", show(&out));
    let out = verify("legacy.minisig");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // An altered trusted comment fails the global signature.
    let text = std::fs::read_to_string(d.join("image.manifest.minisig")).unwrap();
    let forged: String = text
        .lines()
        .map(|l| {
            if l.starts_with("trusted comment: ") {
                "trusted comment: forged".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(d.join("forged.minisig"), forged + "\n").unwrap();
    let out = verify("forged.minisig");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));

    // basalt signs with minisign's secret key, and minisign accepts the result.
    let out = run(basalt, &["sign", "--key", "ms.key", "image.manifest"], d);
    assert!(ok(&out), "{}", show(&out));
    let out = run(&minisign, &["-Vm", "image.manifest", "-p", "ms.pub"], d);
    assert!(ok(&out), "{}", show(&out));

    // A secret key that others may read is refused, as ssh refuses one.
    std::fs::set_permissions(d.join("ms.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(basalt, &["sign", "--key", "ms.key", "image.manifest"], d);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("readable or writable by group or others")
    );
}

#[test]
fn mtree_accepts_the_exported_specification() {
    let Some(mtree) = tool("mtree_accepts_the_exported_specification", "mtree") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc/sub dir")).unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/sub dir/a b"), "space").unwrap();
    std::fs::write(root.join("etc/new\nline"), "newline").unwrap();
    std::fs::write(root.join("etc/g*?[x]"), "glob").unwrap();
    std::fs::write(
        root.join(std::ffi::OsStr::from_bytes(b"etc/\xff\xfe")),
        "bytes",
    )
    .unwrap();
    std::fs::write(root.join("etc/h#sh"), "hash").unwrap();
    std::fs::set_permissions(
        root.join("etc/passwd"),
        std::fs::Permissions::from_mode(0o4751),
    )
    .unwrap();
    symlink("passwd", root.join("etc/link to")).unwrap();
    std::fs::hard_link(root.join("etc/passwd"), root.join("etc/hard")).unwrap();
    let status = Command::new("mkfifo")
        .arg(root.join("etc/fifo"))
        .status()
        .unwrap();
    assert!(status.success());

    let spec = dir.path().join("spec");
    let out = Command::new(BASALT)
        .arg("manifest")
        .arg(&root)
        .args(["--format", "mtree", "--out"])
        .arg(&spec)
        .output()
        .unwrap();
    assert!(ok(&out), "{}", show(&out));
    let check = || {
        Command::new(&mtree)
            .arg("-f")
            .arg(&spec)
            .arg("-p")
            .arg(&root)
            .output()
            .unwrap()
    };
    let out = check();
    assert!(ok(&out) && out.stdout.is_empty(), "{}", show(&out));

    // mtree sees a tamper through the same specification.
    std::fs::write(root.join("etc/new\nline"), "changed").unwrap();
    let out = check();
    assert!(!ok(&out), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sha256"),
        "{}",
        show(&out)
    );
}
