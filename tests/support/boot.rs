//! Support for tests that run the verifier inside an image: a statically linked basalt, root
//! detection, OpenRC's output helpers, and readable process output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A process's exit status and output, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether the tests run as root (chroot needs it).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let probe = tempfile::tempdir().unwrap();
    std::fs::metadata(probe.path()).unwrap().uid() == 0
}

/// Whether `readelf` says `bin` names a program interpreter (is dynamically linked).
pub fn has_interpreter(bin: &Path) -> bool {
    Command::new("readelf")
        .arg("-l")
        .arg(bin)
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("program interpreter")
        })
}

/// A statically linked basalt: `$BASALT_STATIC_BIN`; or, when `BASALT_REQUIRE_SHARED_DATA=1`
/// (as in CI), what `ci/build-static` builds from this checkout, run once per test process so
/// that no binary of older sources is embedded (cargo rebuilds only what changed); or else what
/// `ci/build-static` left in `target/`. `None`, after a visible skip message, otherwise.
pub fn static_basalt(test: &str) -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("BASALT_STATIC_BIN") {
        return Some(PathBuf::from(bin));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if std::env::var("BASALT_REQUIRE_SHARED_DATA").is_ok_and(|v| v == "1") {
        static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
        let built = BUILT.get_or_init(|| {
            let out = Command::new("bash")
                .arg(root.join("ci/build-static"))
                .output()
                .unwrap();
            if !out.status.success() {
                return Err(show(&out));
            }
            let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
            Ok(if path.is_absolute() {
                path
            } else {
                root.join(path)
            })
        });
        return match built {
            Ok(path) => Some(path.clone()),
            Err(why) => panic!("{test}: ci/build-static: {why}"),
        };
    }
    let candidates = [
        root.join("target/x86_64-unknown-linux-musl/release/basalt"),
        root.join("target/x86_64-unknown-linux-gnu/release/basalt"),
    ];
    if let Some(found) = candidates
        .iter()
        .find(|p| p.is_file() && !has_interpreter(p))
    {
        return Some(found.clone());
    }
    eprintln!("SKIPPED {test}: no static basalt (run ci/build-static, or set BASALT_STATIC_BIN)");
    None
}

/// OpenRC's output helpers, so that the `basalt-verify` service's `start` runs under the
/// image's own `sh` exactly as `openrc-run` would call it (conf.d first, then the script).
pub const OPENRC_SHIM: &str = r#"
ebegin() { echo " * $*"; }
eend() { _s=$1; shift; [ "$_s" = 0 ] || echo " * ERROR: $*"; return "$_s"; }
ewarn() { echo " * WARNING: $*"; }
eerror() { echo " * ERROR: $*"; }
. /etc/conf.d/basalt-verify
. /etc/init.d/basalt-verify
start
"#;
