//! The integration tests, as one binary: each module is one area, and `support` holds the
//! fixture builders they share (a writer of APK packages and indexes, the shared real-world
//! data, the boot helpers).

#[path = "../support/mod.rs"]
mod support;

mod apk_cli;
mod apk_formats;
mod apk_hostile;
mod apk_props;
mod apk_real;
mod apk_version_cli;
mod architecture;
mod audit;
mod audit_docker;
mod boot;
mod boot_vm;
mod build_boot;
mod build_cli;
mod build_fixtures;
mod build_kernel;
mod build_vs_apk;
mod build_vs_apk_scripts;
mod ca_certificates;
mod ci_recipes;
mod cli_help;
mod cli_profile;
mod default_profiles;
mod diff;
mod disk_parts;
mod disk_vm;
mod fleet_ansible;
mod fuzz_regressions;
mod hostile;
mod hostile_image;
mod installed;
mod interop;
mod library_build;
mod lock_cli;
mod lock_datahash;
mod lock_inputs;
mod manifest_formats;
mod outdated;
mod profile;
mod profile_build;
mod profile_host;
mod readme;
mod render;
mod repo;
mod resolve_vs_apk;
mod scan;
mod verify;
mod verify_periodic;
mod verify_syslog;
mod version_vs_apk;

/// With `autotests = false`, a test file that is not a module here would never run: every
/// `tests/it/*.rs` is declared above, and no test file is left at the top of `tests/`.
#[test]
fn every_test_file_is_a_module_of_this_binary() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let rust_files = |dir: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        rust_files(&dir),
        Vec::<String>::new(),
        "move these into tests/it/ and declare them in tests/it/main.rs"
    );
    let main = std::fs::read_to_string(dir.join("it/main.rs")).unwrap();
    let undeclared: Vec<String> = rust_files(&dir.join("it"))
        .into_iter()
        .filter(|m| m != "main" && !main.contains(&format!("\nmod {m};\n")))
        .collect();
    assert_eq!(
        undeclared,
        Vec::<String>::new(),
        "declare these in tests/it/main.rs"
    );
}
