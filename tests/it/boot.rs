//! The embedded verifier inside a real Alpine tree (chroot): the statically linked basalt at
//! `/usr/sbin/basalt`, the signed manifest and the key under `/etc/basalt/`, and the OpenRC
//! service from `templates/` with its exit codes for `warn` and `enforce`, clean and tampered.
//!
//! Needs root (chroot) and the static binary of `ci/build-static`; skips visibly otherwise,
//! and in CI (`BASALT_REQUIRE_SHARED_DATA=1`) builds the binary when it is absent.

use crate::support;

use support::boot::{OPENRC_SHIM, is_root, show, static_basalt};

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BASALT: &str = env!("CARGO_BIN_EXE_basalt");
const TEMPLATES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");

fn minirootfs(test: &str) -> Option<PathBuf> {
    let data = support::shared_data(test)?;
    let mut tarballs: Vec<PathBuf> = std::fs::read_dir(data.join("alpine/minirootfs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    tarballs.sort();
    tarballs.pop()
}

fn render(template: &str, mode: &str) -> String {
    let text = std::fs::read_to_string(Path::new(TEMPLATES).join(template)).unwrap();
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .unwrap(),
    );
    env.add_template("t", &text).unwrap();
    env.get_template("t")
        .unwrap()
        .render(minijinja::context! {
            image => minijinja::context! { name => "boot-test" },
            verify => minijinja::context! { at_boot => mode, every => () },
        })
        .unwrap()
}

fn install(root: &Path, path: &str, content: &[u8], mode: u32) {
    let dest = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(&dest, content).unwrap();
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).unwrap();
}

struct Image {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Image {
    fn chroot(&self, args: &[&str]) -> Output {
        Command::new("chroot")
            .arg(&self.root)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .unwrap()
    }

    fn service(&self, mode: &str) -> Output {
        install(
            &self.root,
            "/etc/conf.d/basalt-verify",
            render("etc/conf.d/basalt-verify", mode).as_bytes(),
            0o644,
        );
        install(&self.root, "/run/shim", OPENRC_SHIM.as_bytes(), 0o644);
        self.chroot(&["/bin/sh", "/run/shim"])
    }
}

/// An image as the build lays it out: the minirootfs with the verifier, its service, its
/// key, and a signed manifest that describes everything but itself.
fn image(test: &str) -> Option<Image> {
    if !is_root() {
        eprintln!("SKIPPED {test}: chroot needs root");
        return None;
    }
    let tarball = minirootfs(test)?;
    let basalt = static_basalt(test)?;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let file = std::fs::File::open(&tarball).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.unpack(&root).unwrap();

    install(
        &root,
        "/usr/sbin/basalt",
        &std::fs::read(&basalt).unwrap(),
        0o755,
    );
    install(
        &root,
        "/etc/init.d/basalt-verify",
        &std::fs::read(Path::new(TEMPLATES).join("etc/init.d/basalt-verify")).unwrap(),
        0o755,
    );
    let key = dir.path().join("release");
    let out = Command::new(BASALT)
        .arg("keygen")
        .arg("--out")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    install(
        &root,
        "/etc/basalt/keys/release.pub",
        &std::fs::read(key.with_extension("pub")).unwrap(),
        0o644,
    );
    // The conf.d file is rewritten per mode by the test: mutable. The manifest and its
    // signature cannot describe themselves: they may appear where the policy says.
    install(&root, "/etc/conf.d/basalt-verify", b"", 0o644);
    let manifest = dir.path().join("manifest");
    let out = Command::new(BASALT)
        .arg("manifest")
        .arg(&root)
        .args([
            "--image",
            "boot-test",
            "--ephemeral",
            "/run",
            "--ephemeral",
            "/tmp",
        ])
        // A booted host has devtmpfs on /dev; the chroot has a plain directory.
        .args(["--ephemeral", "/dev"])
        .args(["--mutable", "/etc/conf.d/basalt-verify"])
        .args(["--mutable", "/etc/basalt/manifest"])
        .args(["--mutable", "/etc/basalt/manifest.minisig"])
        .arg("--out")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let out = Command::new(BASALT)
        .arg("sign")
        .arg("--key")
        .arg(key.with_extension("key"))
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    install(
        &root,
        "/etc/basalt/manifest",
        &std::fs::read(&manifest).unwrap(),
        0o644,
    );
    let mut sig = manifest.into_os_string();
    sig.push(".minisig");
    install(
        &root,
        "/etc/basalt/manifest.minisig",
        &std::fs::read(sig).unwrap(),
        0o644,
    );
    Some(Image { _dir: dir, root })
}

#[test]
fn the_embedded_verifier_runs_inside_the_image() {
    let Some(image) = image("the_embedded_verifier_runs_inside_the_image") else {
        return;
    };
    let verify = [
        "/usr/sbin/basalt",
        "verify",
        "--manifest",
        "/etc/basalt/manifest",
        "--key",
        "/etc/basalt/keys",
        "/",
    ];

    // Clean: the binary and both service modes succeed.
    let out = image.chroot(&verify);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    for mode in ["warn", "enforce"] {
        let out = image.service(mode);
        let findings = std::fs::read_to_string(image.root.join("run/basalt/findings"));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{mode}: {}\n{findings:?}",
            show(&out)
        );
        assert!(!image.root.join("run/basalt/boot-failed").exists());
    }

    // Tampered: a new authorized_keys for root.
    install(
        &image.root,
        "/root/.ssh/authorized_keys",
        b"ssh-ed25519 AAAA x\n",
        0o600,
    );
    let out = image.chroot(&verify);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("persisted  /root/.ssh/authorized_keys"),
        "{stdout}"
    );

    // warn: logs and lets the boot go on.
    let out = image.service("warn");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("WARNING: basalt verify: drift"));
    assert!(!image.root.join("run/basalt/boot-failed").exists());
    let findings = std::fs::read_to_string(image.root.join("run/basalt/findings")).unwrap();
    assert!(
        findings.contains("/root/.ssh/authorized_keys"),
        "{findings}"
    );

    // enforce: the service fails (sshd and docker need it) and the boot is marked failed.
    let out = image.service("enforce");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sshd and docker will not start"));
    let failed = std::fs::read_to_string(image.root.join("run/basalt/boot-failed")).unwrap();
    assert!(failed.contains("/root/.ssh/authorized_keys"), "{failed}");

    // A forged manifest (signature no longer matches) fails enforce too.
    std::fs::remove_file(image.root.join("root/.ssh/authorized_keys")).unwrap();
    std::fs::remove_dir(image.root.join("root/.ssh")).unwrap();
    let path = image.root.join("etc/basalt/manifest");
    let mut text = std::fs::read(&path).unwrap();
    text.extend_from_slice(b"\n");
    std::fs::write(&path, text).unwrap();
    let out = image.service("enforce");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[test]
fn enforce_makes_sshd_and_docker_need_the_verifier() {
    let enforce = render("etc/rc.conf.d/basalt-verify.conf", "enforce");
    for service in ["sshd", "docker", "containerd"] {
        assert!(
            enforce.contains(&format!("rc_{service}_need=\"basalt-verify\"")),
            "{enforce}"
        );
    }
    let warn = render("etc/rc.conf.d/basalt-verify.conf", "warn");
    assert!(!warn.contains("_need="), "{warn}");
    let conf = render("etc/conf.d/basalt-verify", "warn");
    assert!(conf.contains("basalt_verify_mode=\"warn\""), "{conf}");
}
