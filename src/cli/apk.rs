//! `basalt apk`: tools for people debugging Alpine repositories and packages.

use clap::Subcommand;

use super::ExitStatus;
use super::apk_version;

/// The `basalt apk` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApkCommand {
    /// Compare two versions as apk does: prints `<`, `=` or `>`
    Version(apk_version::Args),
}

/// Runs one `basalt apk` subcommand.
///
/// # Errors
///
/// Whatever the subcommand reports as an error (exit status 2).
pub fn run(command: ApkCommand) -> anyhow::Result<ExitStatus> {
    match command {
        ApkCommand::Version(args) => apk_version::run(&args),
    }
}
