//! `basalt diff`: what a redeploy changes between two images or roots.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;

use super::target::Target;
use super::{ExitStatus, Format};
use crate::diff::{self, Diff, FileChange, PackageChange};
use crate::host::{self, ScanOptions};
use crate::manifest::{self, Header, Manifest};

/// Show what a redeploy changes from A to B: packages added, removed, upgraded, downgraded
/// or rebuilt, and files added, removed or changed
///
/// A and B are manifests (`basalt manifest`), images (.tar.gz) or root directories, in any
/// mix: images and roots are read completely and described as a manifest would describe them.
/// Exits 0 when they are the same, 1 when they differ.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The old side: a manifest, an image (.tar.gz) or a root directory
    old: PathBuf,
    /// The new side: a manifest, an image (.tar.gz) or a root directory
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

/// Reads one side as a manifest: parsed when it is one, described when it is a tree.
fn load(path: &Path) -> anyhow::Result<Manifest> {
    let detected = Target::detect(path)
        .with_context(|| format!("failed to open diff side `{}`", path.display()))?;
    match &detected {
        Target::Root(_) | Target::Image(_) => {
            let scan = super::manifest::scan_tree(path, &ScanOptions::default())
                .with_context(|| format!("failed to read `{}`", path.display()))?;
            host::manifest_from_scan(scan, Header::default())
                .with_context(|| format!("failed to describe `{}`", path.display()))
        }
        Target::Other(p) => {
            let bytes = read_small(p)?;
            if !bytes.starts_with(manifest::MAGIC.as_bytes()) {
                bail!(
                    "`{}` is not a manifest, an image (.tar.gz) or a root directory",
                    p.display()
                );
            }
            Manifest::parse(&bytes)
                .with_context(|| format!("failed to read the manifest `{}`", p.display()))
        }
    }
}

/// The largest manifest read.
const MAX_MANIFEST_BYTES: u64 = 1 << 30;

fn read_small(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    fs_err::File::open(path)?
        .take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        bail!(
            "`{}` is larger than {MAX_MANIFEST_BYTES} bytes",
            path.display()
        );
    }
    Ok(bytes)
}

/// Runs `basalt diff`.
///
/// # Errors
/// When a side cannot be read.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let Args { old, new, format } = args;
    let (before, after) = (load(&old)?, load(&new)?);
    let result = Diff {
        packages: diff::packages(
            &diff::manifest_packages(&before),
            &diff::manifest_packages(&after),
        ),
        files: diff::files(
            &diff::manifest_files(&before),
            &diff::manifest_files(&after),
        ),
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
                writeln!(out, "added      {path}{}", owner(package))?;
            }
            FileChange::Removed { path, package, .. } => {
                writeln!(out, "removed    {path}{}", owner(package))?;
            }
            FileChange::Changed {
                path,
                what,
                package,
            } => writeln!(
                out,
                "changed    {path}{}: {}",
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
