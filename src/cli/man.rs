//! `basalt man DIR`: one manual page per command, generated from the command-line definition.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;

use super::{Cli, ExitStatus};

/// Write manual pages for basalt and each of its subcommands into a directory
///
/// `basalt.1` for the command, `basalt-build.1`, `basalt-profile-check.1` and so on for the
/// subcommands (the name joins the words with `-`, as git's pages do). The directory is
/// created when missing; pages already there are replaced. Read one with `man -l FILE`, or
/// install the directory's pages under `/usr/share/man/man1/`. The pages are dated
/// `SOURCE_DATE_EPOCH` when it is set (so they are reproducible), else today.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory to write the pages into
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Every page, as (file name, roff text), the command first then its subcommands depth first.
/// `date` (`YYYY-MM-DD`) goes into each page's title line.
///
/// # Errors
/// Only when rendering into memory fails, which it does not.
pub fn pages(date: &str) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    fn walk(
        cmd: &clap::Command,
        date: &str,
        out: &mut Vec<(String, Vec<u8>)>,
    ) -> std::io::Result<()> {
        let man = clap_mangen::Man::new(cmd.clone())
            .date(date)
            .source(concat!("basalt ", env!("CARGO_PKG_VERSION")))
            .manual("basalt manual");
        let mut text = Vec::new();
        man.render(&mut text)?;
        out.push((man.get_filename(), text));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, date, out)?;
        }
        Ok(())
    }
    // Building the command names each subcommand (`basalt-profile-check`) and its usage
    // (`basalt profile check`); the generated `help` subcommand has no page.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, date, &mut out)?;
    Ok(out)
}

/// Runs `basalt man`.
///
/// # Errors
/// When the directory cannot be created or a page cannot be written.
pub fn run(args: &Args) -> anyhow::Result<ExitStatus> {
    let dir: &Path = &args.dir;
    fs_err::create_dir_all(dir)?;
    // The date of the title lines: SOURCE_DATE_EPOCH when set (reproducible pages), else today.
    let date = crate::build::sbom::rfc3339(super::build_time()?)[..10].to_owned();
    let pages = pages(&date)?;
    for (name, text) in &pages {
        super::write_atomic(&dir.join(name), text, 0o644)?;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "wrote {} manual pages into `{}`",
        pages.len(),
        dir.display()
    )?;
    Ok(ExitStatus::Clean)
}
