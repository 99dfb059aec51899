//! `basalt build` of a profile that verifies itself at boot (`[verify] at_boot = "enforce"`):
//! the image carries the verifier at `/usr/sbin/basalt`, the signing key's public half in
//! `/etc/basalt/keys/`, its own signed manifest and signature under `/etc/basalt/`, and the
//! `basalt-verify` service in the boot runlevel; it verifies clean against the manifest it
//! carries. As root, with a statically linked basalt (`ci/build-static`, or
//! `BASALT_STATIC_BIN`), the verifier also runs inside the extracted image (chroot), clean
//! and then tampered, alone and through the image's own `basalt-verify` service (enforce).

use crate::support;

use support::boot::{OPENRC_SHIM, has_interpreter, is_root, show, static_basalt};

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_basalt");
const IMAGE: &str = "minimal-1.0.0.tar.gz";

/// The offline minimal profile with `[verify] at_boot = "enforce"`, a key pair made by
/// `basalt keygen`, and the shared boot repository.
struct Setup {
    dir: tempfile::TempDir,
    repo: PathBuf,
    profile: PathBuf,
    key: PathBuf,
}

impl Setup {
    fn new(test: &str) -> Option<Setup> {
        let data = support::shared_data(test)?;
        let dir = tempfile::tempdir().unwrap();
        let mut text = fs_err::read_to_string(support::offline_profile()).unwrap();
        text.push_str("\n[verify]\nat_boot = \"enforce\"\n");
        let profile = dir.path().join("minimal.toml");
        fs_err::write(&profile, text).unwrap();
        let key = dir.path().join("release");
        let out = Command::new(BIN)
            .arg("keygen")
            .arg("--out")
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        Some(Setup {
            repo: data.join("alpine/repos/v3.19-boot"),
            dir,
            profile,
            key,
        })
    }

    fn build(&self, out: &Path, extra: &[&std::ffi::OsStr]) -> Output {
        Command::new(BIN)
            .arg("build")
            .arg(&self.profile)
            .arg("--repository")
            .arg(&self.repo)
            .arg("--offline")
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .arg("--out")
            .arg(out)
            .args(extra)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap()
    }

    fn secret(&self) -> PathBuf {
        self.key.with_extension("key")
    }

    fn public(&self) -> PathBuf {
        self.key.with_extension("pub")
    }
}

/// Every entry of a `.tar.gz`: path (without `./`) → (mode, uid, gid, content).
fn entries(image: &Path) -> std::collections::BTreeMap<String, (u32, u64, u64, Vec<u8>)> {
    let file = fs_err::File::open(image).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut all = std::collections::BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let path = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_owned();
        let header = entry.header();
        let meta = (
            header.mode().unwrap(),
            header.uid().unwrap(),
            header.gid().unwrap(),
        );
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        all.insert(path, (meta.0, meta.1, meta.2, content));
    }
    all
}

fn extract(image: &Path, root: &Path) {
    fs_err::create_dir_all(root).unwrap();
    let status = Command::new("tar")
        .arg("-xpzf")
        .arg(image)
        .arg("-C")
        .arg(root)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_profile_that_verifies_at_boot_needs_a_signing_key() {
    let Some(setup) = Setup::new("a_profile_that_verifies_at_boot_needs_a_signing_key") else {
        return;
    };
    let out_dir = setup.dir.path().join("out");
    let out = setup.build(&out_dir, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--sign-key"), "{stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");
    assert!(!out_dir.exists(), "nothing is written");

    // A verifier that cannot be read stops the build before anything is fetched.
    let missing = setup.dir.path().join("no-such-basalt");
    let out = setup.build(
        &out_dir,
        &[
            "--sign-key".as_ref(),
            setup.secret().as_os_str(),
            "--verifier".as_ref(),
            missing.as_os_str(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no-such-basalt"), "{stderr}");
    assert!(!out_dir.exists(), "nothing is written");
}

#[test]
fn the_image_carries_its_verifier_key_and_signed_manifest_and_verifies_clean() {
    let test = "the_image_carries_its_verifier_key_and_signed_manifest_and_verifies_clean";
    let Some(setup) = Setup::new(test) else {
        return;
    };
    // Any small dynamically linked executable stands in for the verifier here: the build
    // embeds it as it is, and warns that it will not run on the image.
    let verifier = Path::new("/bin/true");
    let out_dir = setup.dir.path().join("out");
    let out = setup.build(
        &out_dir,
        &[
            "--sign-key".as_ref(),
            setup.secret().as_os_str(),
            "--verifier".as_ref(),
            verifier.as_os_str(),
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.contains("is dynamically linked"),
        has_interpreter(verifier),
        "{stderr}"
    );

    let image = out_dir.join(IMAGE);
    let all = entries(&image);
    let (mode, uid, gid, bytes) = &all["usr/sbin/basalt"];
    assert_eq!((*mode & 0o7777, *uid, *gid), (0o755, 0, 0));
    assert_eq!(bytes, &fs_err::read(verifier).unwrap());

    let public = fs_err::read_to_string(setup.public()).unwrap();
    let keys: Vec<&String> = all
        .keys()
        .filter(|p| p.starts_with("etc/basalt/keys/") && p.ends_with(".pub"))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(all[keys[0]].3, public.as_bytes());

    let manifest = &all["etc/basalt/manifest"].3;
    let signature = &all["etc/basalt/manifest.minisig"].3;
    assert_eq!(
        manifest,
        &fs_err::read(out_dir.join("minimal-1.0.0.manifest")).unwrap()
    );
    assert_eq!(
        signature,
        &fs_err::read(out_dir.join("minimal-1.0.0.manifest.minisig")).unwrap()
    );
    let text = String::from_utf8_lossy(manifest);
    for path in ["/etc/basalt/manifest", "/etc/basalt/manifest.minisig"] {
        assert!(text.contains(&format!("\nmutable {path}\n")), "{text}");
    }
    assert!(all.contains_key("etc/init.d/basalt-verify"));
    assert!(all.contains_key("etc/conf.d/basalt-verify"));
    assert!(all.contains_key("etc/runlevels/boot/basalt-verify"));

    // The manifest and signature taken out of the image verify the image itself.
    let root = setup.dir.path().join("root");
    extract(&image, &root);
    assert!(
        fs_err::symlink_metadata(root.join("etc/runlevels/boot/basalt-verify"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let verify = |tree: &Path| {
        Command::new(BIN)
            .arg("verify")
            .arg("--manifest")
            .arg(root.join("etc/basalt/manifest"))
            .arg("--signature")
            .arg(root.join("etc/basalt/manifest.minisig"))
            .arg("--key")
            .arg(root.join("etc/basalt/keys"))
            .arg(tree)
            .output()
            .unwrap()
    };
    let out = verify(&image);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // A key other than the build's does not verify it.
    let other = setup.dir.path().join("other");
    let made = Command::new(BIN)
        .arg("keygen")
        .arg("--out")
        .arg(&other)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", show(&made));
    let out = Command::new(BIN)
        .arg("verify")
        .arg("--manifest")
        .arg(root.join("etc/basalt/manifest"))
        .arg("--key")
        .arg(other.with_extension("pub"))
        .arg(&image)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[test]
fn the_embedded_static_verifier_checks_the_image_from_inside() {
    let test = "the_embedded_static_verifier_checks_the_image_from_inside";
    let Some(setup) = Setup::new(test) else {
        return;
    };
    if !is_root() {
        eprintln!("SKIPPED {test}: needs root (chroot)");
        return;
    }
    let Some(verifier) = static_basalt(test) else {
        return;
    };
    let out_dir = setup.dir.path().join("out");
    let out = setup.build(
        &out_dir,
        &[
            "--sign-key".as_ref(),
            setup.secret().as_os_str(),
            "--verifier".as_ref(),
            verifier.as_os_str(),
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("warning"), "{stderr}");

    let root = setup.dir.path().join("root");
    extract(&out_dir.join(IMAGE), &root);
    // The paths of the image's own /etc/conf.d/basalt-verify.
    let conf = fs_err::read_to_string(root.join("etc/conf.d/basalt-verify")).unwrap();
    let setting = |name: &str| -> String {
        conf.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {conf}"))
            .trim_matches('"')
            .to_owned()
    };
    let chroot = || {
        Command::new("chroot")
            .arg(&root)
            .arg("/usr/sbin/basalt")
            .arg("verify")
            .arg("--manifest")
            .arg(setting("basalt_manifest"))
            .arg("--signature")
            .arg(setting("basalt_signature"))
            .arg("--key")
            .arg(setting("basalt_keys"))
            .arg("/")
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .unwrap()
    };
    let out = chroot();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = service(&root);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!root.join("run/basalt/boot-failed").exists());

    // /etc/motd is neither ephemeral, state nor mutable: any change to it is drift.
    let motd = root.join("etc/motd");
    let mut text = fs_err::read(&motd).unwrap();
    text.extend_from_slice(b"tampered\n");
    fs_err::write(&motd, text).unwrap();
    let out = chroot();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("content") && l.contains("/etc/motd")),
        "{stdout}"
    );
    // The image's own service, in its own mode (enforce), fails and marks the boot failed.
    let out = service(&root);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let failed = fs_err::read_to_string(root.join("run/basalt/boot-failed")).unwrap();
    assert!(failed.contains("/etc/motd"), "{failed}");
}

/// Runs the image's `basalt-verify` service under the image's own `sh`, as `openrc-run`
/// would: its conf.d first, then the script, then `start`, with OpenRC's output helpers.
fn service(root: &Path) -> Output {
    Command::new("chroot")
        .arg(root)
        .args(["/bin/sh", "-c", OPENRC_SHIM])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .unwrap()
}
