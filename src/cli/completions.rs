//! `basalt completions SHELL`: a completion script generated from the command-line definition.

use std::io::Write as _;

use clap::CommandFactory as _;

use super::{Cli, ExitStatus};

/// Print a shell completion script for basalt, generated from its command-line definition
///
/// bash: `basalt completions bash > /usr/share/bash-completion/completions/basalt`;
/// zsh: `basalt completions zsh > "${fpath[1]}/_basalt"`;
/// fish: `basalt completions fish > ~/.config/fish/completions/basalt.fish`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Runs `basalt completions`.
///
/// # Errors
/// When stdout cannot be written.
pub fn run(args: &Args) -> anyhow::Result<ExitStatus> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "basalt", &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script)?;
    stdout.flush()?;
    Ok(ExitStatus::Clean)
}
