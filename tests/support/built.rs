//! Host images built by `basalt build` from the offline minimal profile and the shared boot
//! repository, with the static verifier embedded, extracted as chroots: the hosts of the
//! fleet and periodic-verification tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::boot::{is_root, show, static_basalt};

const BIN: &str = env!("CARGO_BIN_EXE_basalt");

/// The offline minimal profile's text ([`super::offline_profile`]).
pub fn minimal_profile() -> String {
    std::fs::read_to_string(super::offline_profile()).unwrap()
}

/// What the hosts are built with: the boot repository, a key pair, the static verifier.
pub struct Builder {
    /// Holds the keys, the cache and every build.
    pub dir: PathBuf,
    repo: PathBuf,
    verifier: PathBuf,
    /// The signing key pair's base path (`.key`, `.pub`).
    pub key: PathBuf,
}

impl Builder {
    /// `None`, after a visible skip message, without root (chroot), the shared data or a
    /// static basalt.
    pub fn new(test: &str, dir: &Path) -> Option<Builder> {
        if !is_root() {
            eprintln!("SKIPPED {test}: chroot needs root");
            return None;
        }
        let data = super::shared_data(test)?;
        let verifier = static_basalt(test)?;
        let key = dir.join("release");
        let out = Command::new(BIN)
            .arg("keygen")
            .arg("--out")
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        Some(Builder {
            dir: dir.to_owned(),
            repo: data.join("alpine/repos/v3.19-boot"),
            verifier,
            key,
        })
    }

    /// Builds `profile` (TOML text) as `NAME.toml` and returns the image archive.
    pub fn build(&self, name: &str, profile: &str) -> PathBuf {
        let path = self.dir.join(format!("{name}.toml"));
        std::fs::write(&path, profile).unwrap();
        let out_dir = self.dir.join(format!("{name}-out"));
        let out = Command::new(BIN)
            .arg("build")
            .arg(&path)
            .arg("--repository")
            .arg(&self.repo)
            .arg("--offline")
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .arg("--out")
            .arg(&out_dir)
            .arg("--sign-key")
            .arg(self.key.with_extension("key"))
            .arg("--verifier")
            .arg(&self.verifier)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
            .unwrap()
    }
}

/// Extracts `image` into `root` (created), owners and modes as the archive says.
pub fn extract(image: &Path, root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    let status = Command::new("tar")
        .arg("-xpzf")
        .arg(image)
        .arg("-C")
        .arg(root)
        .status()
        .unwrap();
    assert!(status.success(), "tar -xpzf {}", image.display());
}
