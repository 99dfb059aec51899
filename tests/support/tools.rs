//! Reference tools the tests run (shells, linters, ansible): found on PATH, or in the
//! virtual environment `ci/install-test-deps` makes for PyPI tools.

use std::path::PathBuf;

/// Where `ci/install-test-deps` installs the PyPI tools (`actionlint`, `check-jsonschema`).
pub const VENV_BIN: &str = "/opt/basalt-test-tools/bin";

/// The tool `name` on PATH or in [`VENV_BIN`]; `None` after a visible skip message when it is
/// absent, and a failure instead when CI requires every tool (`BASALT_REQUIRE_SHARED_DATA=1`).
pub fn tool(test: &str, name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&paths)
        .chain(std::iter::once(PathBuf::from(VENV_BIN)))
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("BASALT_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
            "{test}: `{name}` is not installed (ci/install-test-deps installs it)"
        );
        eprintln!("SKIPPED {test}: `{name}` is not installed");
    }
    found
}
