//! `basalt apk version A B`: compares two version strings exactly as `apk version -t` does.

use std::io::Write;

use crate::apk::version;

use super::ExitStatus;

/// Arguments of `basalt apk version`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The first version
    #[arg(allow_hyphen_values = true)]
    pub a: String,
    /// The second version
    #[arg(allow_hyphen_values = true)]
    pub b: String,
}

/// Prints `<`, `=` or `>`. Strings that are not valid versions are compared as apk compares
/// them (apk prints a result for any two strings), so this always succeeds.
///
/// # Errors
///
/// Only when stdout cannot be written.
pub fn run(args: &Args) -> anyhow::Result<ExitStatus> {
    let Args { a, b } = args;
    let sign = match version::compare(a, b) {
        std::cmp::Ordering::Less => "<",
        std::cmp::Ordering::Equal => "=",
        std::cmp::Ordering::Greater => ">",
    };
    writeln!(std::io::stdout().lock(), "{sign}")?;
    Ok(ExitStatus::Clean)
}
