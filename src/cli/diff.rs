//! `basalt diff`: what a redeploy changes between two images or roots.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;

use super::target::{self, Target};
use super::{ExitStatus, Format};
use crate::diff::{self, Diff, FileChange, PackageChange};

/// Show what changes from A to B: packages added, removed, upgraded, downgraded or rebuilt,
/// and files added, removed or changed
///
/// A and B are root directories or images (.tar.gz); their apk databases are compared, files
/// by the checksums, owners and modes apk records. Exits 0 when they are the same, 1 when they
/// differ.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The old side: a root directory or an image (.tar.gz)
    old: PathBuf,
    /// The new side: a root directory or an image (.tar.gz)
    new: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Serialize)]
struct JsonDiff<'a> {
    old: String,
    new: String,
    #[serde(flatten)]
    diff: &'a Diff,
}

fn load(path: &Path) -> anyhow::Result<crate::apk::installed::Database> {
    let detected = Target::detect(path)
        .with_context(|| format!("failed to open diff side `{}`", path.display()))?;
    match &detected {
        Target::Root(_) | Target::Image(_) => target::read_installed(&detected),
        Target::Other(p) => bail!(
            "`{}` is neither a root directory nor an image (.tar.gz)",
            p.display()
        ),
    }
}

/// Runs `basalt diff`.
///
/// # Errors
/// When a side cannot be read.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let Args { old, new, format } = args;
    let (before, after) = (load(&old)?, load(&new)?);
    let result = Diff {
        packages: diff::packages(&diff::package_set(&before), &diff::package_set(&after)),
        files: diff::files(&diff::file_set(&before), &diff::file_set(&after)),
    };
    let mut out = io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(
                &mut out,
                &JsonDiff {
                    old: old.display().to_string(),
                    new: new.display().to_string(),
                    diff: &result,
                },
            )?;
            writeln!(out)?;
        }
        Format::Human => write_human(&mut out, &result)?,
    }
    Ok(ExitStatus::problem_if(!result.is_empty()))
}

fn write_human(out: &mut impl Write, diff: &Diff) -> io::Result<()> {
    for change in &diff.packages {
        match change {
            PackageChange::Added { name, version } => writeln!(out, "added      {name} {version}")?,
            PackageChange::Removed { name, version } => {
                writeln!(out, "removed    {name} {version}")?;
            }
            PackageChange::Upgraded { name, from, to } => {
                writeln!(out, "upgraded   {name} {from} -> {to}")?;
            }
            PackageChange::Downgraded { name, from, to } => {
                writeln!(out, "downgraded {name} {from} -> {to}")?;
            }
            PackageChange::Rebuilt { name, from, to } => {
                writeln!(out, "rebuilt    {name} {from} -> {to}")?;
            }
        }
    }
    let owner = |p: &Option<String>| p.as_ref().map_or_else(String::new, |p| format!(" ({p})"));
    for change in &diff.files {
        match change {
            FileChange::Added { path, package, .. } => {
                writeln!(out, "added      /{path}{}", owner(package))?;
            }
            FileChange::Removed { path, package, .. } => {
                writeln!(out, "removed    /{path}{}", owner(package))?;
            }
            FileChange::Changed {
                path,
                what,
                package,
            } => writeln!(
                out,
                "changed    /{path}{}: {}",
                owner(package),
                what.join(", ")
            )?,
        }
    }
    let count = |f: fn(&PackageChange) -> bool| diff.packages.iter().filter(|c| f(c)).count();
    writeln!(
        out,
        "{} packages: {} added, {} removed, {} upgraded, {} downgraded, {} rebuilt; {} files changed",
        diff.packages.len(),
        count(|c| matches!(c, PackageChange::Added { .. })),
        count(|c| matches!(c, PackageChange::Removed { .. })),
        count(|c| matches!(c, PackageChange::Upgraded { .. })),
        count(|c| matches!(c, PackageChange::Downgraded { .. })),
        count(|c| matches!(c, PackageChange::Rebuilt { .. })),
        diff.files.len()
    )
}
