//! Test support shared by the integration tests: locating the real-world data set beside the
//! project, the reference apk-tools, and a writer of APK fixtures ([`apk`]).

use std::path::{Path, PathBuf};

/// The shared real-world data (`../shared/data`, or `$BASALT_SHARED_DATA`).
///
/// Returns `None`, after printing a visible skip message, when it is absent; panics instead
/// when `BASALT_REQUIRE_SHARED_DATA=1` (as in CI), so that real-data tests cannot silently
/// skip there.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("BASALT_SHARED_DATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
        PathBuf::from,
    );
    if dir.join("alpine").is_dir() {
        return Some(dir);
    }
    if std::env::var("BASALT_REQUIRE_SHARED_DATA").is_ok_and(|v| v == "1") {
        panic!(
            "{test}: shared data not found at `{}` and BASALT_REQUIRE_SHARED_DATA=1",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED {test}: shared data not found at `{}` (set BASALT_SHARED_DATA)",
        dir.display()
    );
    None
}

/// The real apk-tools wrapper (`../shared/tools/alpine-apk`), when the shared data is present.
pub fn alpine_apk(test: &str) -> Option<PathBuf> {
    let data = shared_data(test)?;
    let tool = data.join("../tools/alpine-apk");
    if tool.is_file() {
        Some(tool)
    } else if std::env::var("BASALT_REQUIRE_SHARED_DATA").is_ok_and(|v| v == "1") {
        panic!("{test}: `{}` not found", tool.display());
    } else {
        eprintln!("SKIPPED {test}: `{}` not found", tool.display());
        None
    }
}

/// The minimal host on Alpine 3.19 that the shared offline boot repository
/// (`alpine/repos/v3.19-boot`) can build: the profile of the tests and benchmarks that build
/// real hosts offline. The shipped `profiles/minimal.toml` targets a supported release,
/// whose packages only the mirror has.
pub fn offline_profile() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(OFFLINE_PROFILE)
}

/// [`offline_profile`], relative to the project.
pub const OFFLINE_PROFILE: &str = "tests/data/profiles/alpine-3.19-offline.toml";

pub mod apk;
pub mod boot;
pub mod built;
pub mod tools;
pub mod vm;

/// Runs the `basalt` binary as a user would; returns its exit code, stdout and stderr.
pub fn run_basalt(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The `APKINDEX` text inside an `APKINDEX.tar.gz` (its signature is not checked).
pub fn apkindex_text(path: &Path) -> String {
    use std::io::Read as _;
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("APKINDEX") {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            return text;
        }
    }
    panic!("no APKINDEX in `{}`", path.display());
}
