//! The command line: argument parsing, output and exit codes.
//!
//! Invariant: this is the only module that prints, uses clap or anyhow, or decides an exit
//! code. Each subcommand lives in its own file with its `Args` and one `run` function.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub mod apk;
pub mod apk_version;
pub mod audit;
pub mod boot;
pub mod build;
pub mod completions;
pub mod diff;
pub mod disk;
pub mod initramfs;
pub mod keygen;
pub mod lock;
pub mod man;
pub mod manifest;
pub mod outdated;
pub mod profile;
pub mod repo_args;
pub mod scan;
pub mod sign;
pub mod syslog;
pub mod verify;

/// How a command ended, mapped to the process exit code in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: the job was done and nothing at the failing level was found.
    Clean,
    /// 1: the check ran and said no (drift, a bad signature, a finding over threshold, a stale
    /// lock).
    Problem,
    /// 2: the job could not be done (bad input, I/O, an unsatisfiable resolution).
    Error,
}

impl ExitStatus {
    /// `Problem` when `found` is true, `Clean` otherwise.
    #[must_use]
    pub fn problem_if(found: bool) -> Self {
        if found {
            ExitStatus::Problem
        } else {
            ExitStatus::Clean
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Clean => ExitCode::SUCCESS,
            ExitStatus::Problem => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
        }
    }
}

/// Output format for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// Text for people.
    #[default]
    Human,
    /// One JSON document on stdout.
    Json,
}

/// basalt: build, sign, verify and audit minimal, hardened Alpine container hosts.
#[derive(Debug, Parser)]
#[command(name = "basalt", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a host image from a profile: image, manifest, SBOM and report
    Build(build::Args),
    /// Resolve a profile's packages and write (or check) its lock file
    Lock(lock::Args),
    /// Describe every entry of a root directory or an image archive
    Manifest(manifest::Args),
    /// Create a signing key pair (minisign's formats)
    Keygen(keygen::Args),
    /// Sign a file (a manifest) with a secret key
    Sign(sign::Args),
    /// Check a host or an image against a signed manifest
    Verify(verify::Args),
    /// Check a host root or an image against the hardened Docker host checklist
    Audit(audit::Args),
    Scan(scan::Args),
    Outdated(outdated::Args),
    Diff(diff::Args),
    /// Check a host profile, or render the configuration files it generates
    Profile(profile::Args),
    /// Inspect Alpine repository indexes and packages
    Apk(apk::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(completions::Args),
    /// Write a manual page for basalt and each subcommand into a directory
    Man(man::Args),
    Initramfs(initramfs::Args),
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Build(args) => build::run(&args),
        Command::Lock(args) => lock::run(&args),
        Command::Manifest(args) => manifest::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Outdated(args) => outdated::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Profile(args) => profile::run(args),
        Command::Apk(args) => apk::run(args),
        Command::Completions(args) => completions::run(&args),
        Command::Man(args) => man::run(&args),
        Command::Initramfs(args) => initramfs::run(args),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// that a failure leaves nothing behind and readers never see a partial file.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use fs_err::os::unix::fs::OpenOptionsExt as _;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("`{}` is not a file path", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| -> std::io::Result<()> {
        let mut file = fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs_err::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs_err::remove_file(&tmp);
    }
    result
        .map_err(|e| anyhow::Error::new(e).context(format!("failed to write `{}`", path.display())))
}

/// The time outputs carry: `SOURCE_DATE_EPOCH` when set (reproducible builds), else the
/// clock.
pub(crate) fn build_time() -> anyhow::Result<u64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(crate::epoch::or_now(
        std::env::var(crate::epoch::VARIABLE).ok().as_deref(),
        now,
    )?)
}

/// Parses the command line, runs the command and maps its outcome to an exit code.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let hint = repo_args::hint(&err)
                .map(|h| format!("\n\nhint: {h}"))
                .unwrap_or_default();
            let mut stderr = io::stderr().lock();
            let _ = writeln!(stderr, "error: {err:#}{hint}");
            ExitStatus::Error.into()
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn exit_codes_follow_the_table() {
        assert_eq!(ExitCode::from(ExitStatus::Clean), ExitCode::SUCCESS);
        assert_eq!(ExitCode::from(ExitStatus::Problem), ExitCode::from(1));
        assert_eq!(ExitCode::from(ExitStatus::Error), ExitCode::from(2));
        assert_eq!(ExitStatus::problem_if(true), ExitStatus::Problem);
    }
}
