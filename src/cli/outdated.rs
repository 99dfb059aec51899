//! `basalt outdated`: which packages of an image (or root) have newer versions in the
//! repositories now.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Serialize;

use super::repo_args::RepoArgs;
use super::terminal::shown;
use super::{ExitStatus, Format};
use crate::posture::outdated::{self, Report};
use crate::posture::target::{self, OutdatedInput, Target};
use crate::repo::Repository;

/// List packages with newer versions in the repositories: exit 1 means "rebuild and
/// redeploy"
///
/// Reads the packages of an image (.tar.gz) or a root directory (its apk database), a lock or
/// a manifest, and compares every package with the newest version of the same name across
/// the repositories' signed indexes, fetched now. A lock is compared with its own repositories
/// unless --repository is given.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A lock (`basalt lock`), an image (.tar.gz), a root directory or a manifest
    target: PathBuf,
    /// The architecture of the indexes to read (default: the packages' own)
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
    #[command(flatten)]
    repo: RepoArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    target: String,
    arch: &'a str,
    repositories: Vec<&'a str>,
    #[serde(flatten)]
    report: &'a Report,
}

/// Runs `basalt outdated`.
///
/// # Errors
/// When the target, a repository or an index cannot be read, or an index is not signed by a
/// trusted key (unless `--allow-untrusted`).
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let Args {
        target,
        arch,
        repo,
        format,
    } = args;
    let detected = Target::detect(&target)
        .with_context(|| format!("failed to open `{}`", target.display()))?;
    // What is checked, the architecture it is for, and the repositories a lock names.
    let OutdatedInput {
        current,
        arch: own_arch,
        repositories: lock_repositories,
    } = target::outdated_packages(&detected)?;
    let Some(arch) = arch.or(own_arch) else {
        bail!(
            "cannot tell the architecture of `{}`\n\nhint: pass --arch",
            target.display()
        );
    };
    let access = repo.access(&lock_repositories, &[]);
    let repositories = &access.repositories;
    if repositories.is_empty() {
        bail!(
            "no repository to compare with\n\nhint: pass --repository, for example --repository https://dl-cdn.alpinelinux.org/alpine/v3.19/main"
        );
    }

    let mut stderr = super::terminal::stderr();
    let available = target::available(&access, &arch, &mut |warning| {
        let _ = writeln!(stderr, "warning: {warning}");
    })?;
    let report = outdated::check(&current, &available);

    match format {
        Format::Json => {
            let mut out = io::stdout().lock();
            serde_json::to_writer_pretty(
                &mut out,
                &JsonReport {
                    target: target.display().to_string(),
                    arch: &arch,
                    repositories: repositories.iter().map(Repository::location_str).collect(),
                    report: &report,
                },
            )?;
            writeln!(out)?;
        }
        Format::Human => {
            let mut out = super::terminal::stdout();
            for u in &report.outdated {
                writeln!(
                    out,
                    "{} {} -> {} ({})",
                    shown(&u.name),
                    shown(&u.current),
                    shown(&u.available),
                    shown(&u.repository)
                )?;
            }
            for m in &report.missing {
                writeln!(
                    out,
                    "{} {}: in no repository",
                    shown(&m.name),
                    shown(&m.current)
                )?;
            }
            writeln!(
                out,
                "{}: {} packages checked, {} with newer versions{}",
                target.display(),
                report.checked,
                report.outdated.len(),
                if report.has_updates() {
                    ": rebuild and redeploy"
                } else {
                    ""
                }
            )?;
        }
    }
    Ok(ExitStatus::problem_if(report.has_updates()))
}
