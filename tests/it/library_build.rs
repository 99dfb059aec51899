//! The main job, `basalt build PROFILE`, done by the library alone: lock, fetch, build,
//! verify, for the offline minimal profile from the real Alpine 3.19 boot repository. The command line adds
//! nothing to the image: the binary's output is byte for byte the library's.

use std::path::Path;

use crate::support;

use basalt::build::fetch;
use basalt::build::lock::{self, LockProfile};
use basalt::build::pipeline::{self, BuildOptions, Built};
use basalt::integrity::verify;
use basalt::repo::{Access, Repository, Trust};

const EPOCH: u64 = 1_714_981_135;

fn build(profile_path: &Path, repository: &Path, cache: &Path) -> Built {
    let profile = basalt::profile::load(profile_path).unwrap();
    let core = LockProfile::from_profile(&profile, profile_path).unwrap();
    let access = Access {
        repositories: vec![Repository::parse(repository.to_str().unwrap()).unwrap()],
        trust: Trust::default(),
        cache_dir: Some(cache.to_owned()),
        offline: true,
    };
    let locked = lock::lock(&core, &access).unwrap();
    assert!(locked.warnings.is_empty(), "{:?}", locked.warnings);
    let packages = fetch::fetch(&locked.lock, &access, &|_| {}).unwrap();
    pipeline::build(
        &profile,
        &locked.lock,
        packages,
        BuildOptions {
            source_date_epoch: Some(EPOCH),
            ..BuildOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn the_library_builds_what_the_binary_builds() {
    let Some(data) = support::shared_data("the_library_builds_what_the_binary_builds") else {
        return;
    };
    let repository = data.join("alpine/repos/v3.19-boot");
    let profile = support::offline_profile();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");

    let built = build(&profile, &repository, &cache);
    // The image verifies clean against its own manifest, and a changed file is drift.
    let findings = verify::verify_archive(
        &built.manifest,
        &built.image[..],
        Path::new(&built.image_file),
    )
    .unwrap();
    assert_eq!(findings, Vec::new());
    assert!(
        built
            .manifest
            .header
            .packages
            .iter()
            .any(|p| p.name == "openssh-server")
    );

    // The binary, given the same profile, repository and date, writes the same bytes.
    let out = dir.path().join("out");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args([
            "build",
            profile.to_str().unwrap(),
            "--repository",
            repository.to_str().unwrap(),
            "--offline",
            "--cache-dir",
            cache.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .output()
        .unwrap();
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let from_binary = std::fs::read(out.join(&built.image_file)).unwrap();
    assert!(from_binary == built.image, "the binary's image differs");
    let manifest = std::fs::read(out.join(format!("{}.manifest", built.stem()))).unwrap();
    assert_eq!(manifest, built.manifest.render());

    // And the library builds the same bytes twice.
    let again = build(&profile, &repository, &cache);
    assert!(again.image == built.image, "two library builds differ");
}
