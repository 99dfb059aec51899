//! `basalt diff`: what a redeploy changes between two images or roots.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::terminal::shown;
use super::{ExitStatus, Format};
use crate::posture::diff::{self, Diff, FileChange, PackageChange};
use crate::posture::target;

/// Show what a redeploy changes from A to B: packages added, removed, upgraded, downgraded
/// or rebuilt, and files added, removed or changed
///
/// A and B are manifests (`basalt manifest`), locks (`basalt lock`), images (.tar.gz) or root
/// directories, in any mix: images and roots are read completely and described as a manifest
/// would describe them; a lock lists packages only, so files are compared only when neither
/// side is a lock. Exits 0 when they are the same, 1 when they differ.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The old side: a manifest, a lock, an image (.tar.gz) or a root directory
    old: PathBuf,
    /// The new side: a manifest, a lock, an image (.tar.gz) or a root directory
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

/// Runs `basalt diff`.
///
/// # Errors
/// When a side cannot be read.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let Args { old, new, format } = args;
    let result = diff::diff(&target::diff_side(&old)?, &target::diff_side(&new)?);
    match format {
        Format::Json => {
            let mut out = io::stdout().lock();
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
        Format::Human => write_human(&mut super::terminal::stdout(), &result)?,
    }
    Ok(ExitStatus::problem_if(!result.is_empty()))
}

fn write_human(out: &mut impl Write, diff: &Diff) -> io::Result<()> {
    // Names and versions come from the two sides: each stays on its line (paths are escaped
    // as in manifests already).
    for change in &diff.packages {
        match change {
            PackageChange::Added { name, version } => {
                writeln!(out, "added      {} {}", shown(name), shown(version))?;
            }
            PackageChange::Removed { name, version } => {
                writeln!(out, "removed    {} {}", shown(name), shown(version))?;
            }
            PackageChange::Upgraded { name, from, to } => {
                writeln!(
                    out,
                    "upgraded   {} {} -> {}",
                    shown(name),
                    shown(from),
                    shown(to)
                )?;
            }
            PackageChange::Downgraded { name, from, to } => {
                writeln!(
                    out,
                    "downgraded {} {} -> {}",
                    shown(name),
                    shown(from),
                    shown(to)
                )?;
            }
            PackageChange::Rebuilt { name, from, to } => {
                writeln!(
                    out,
                    "rebuilt    {} {} -> {}",
                    shown(name),
                    shown(from),
                    shown(to)
                )?;
            }
        }
    }
    let owner = |p: &Option<String>| {
        p.as_ref()
            .map_or_else(String::new, |p| format!(" ({})", shown(p)))
    };
    for change in &diff.files {
        match change {
            FileChange::Added { path, package, .. } => {
                writeln!(out, "added      {}{}", path, owner(package))?;
            }
            FileChange::Removed { path, package, .. } => {
                writeln!(out, "removed    {}{}", path, owner(package))?;
            }
            FileChange::Changed {
                path,
                what,
                package,
            } => writeln!(
                out,
                "changed    {}{}: {}",
                path,
                owner(package),
                what.join(", ")
            )?,
        }
    }
    let count = |f: fn(&PackageChange) -> bool| diff.packages.iter().filter(|c| f(c)).count();
    writeln!(
        out,
        "{} packages: {} added, {} removed, {} upgraded, {} downgraded, {} rebuilt; {}",
        diff.packages.len(),
        count(|c| matches!(c, PackageChange::Added { .. })),
        count(|c| matches!(c, PackageChange::Removed { .. })),
        count(|c| matches!(c, PackageChange::Upgraded { .. })),
        count(|c| matches!(c, PackageChange::Downgraded { .. })),
        count(|c| matches!(c, PackageChange::Rebuilt { .. })),
        if diff.files_compared {
            format!("{} files changed", diff.files.len())
        } else {
            "files not compared (a lock lists packages only)".to_owned()
        }
    )
}
