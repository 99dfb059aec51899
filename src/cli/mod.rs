//! The command line: argument parsing, output and exit codes.
//!
//! Invariant: this is the only module that prints, uses clap or anyhow, or decides an exit
//! code. Each subcommand lives in its own file with its `Args` and one `run` function.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod profile;

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
    /// Check a host profile, or render the configuration files it generates
    Profile(profile::Args),
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Profile(args) => profile::run(args),
    }
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
            let mut stderr = io::stderr().lock();
            let _ = writeln!(stderr, "error: {err:#}");
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
