//! `basalt outdated`: which packages of an image (or root) have newer versions in the
//! repositories now.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Serialize;

use super::repo_args::{self, RepoArgs};
use super::target::{self, Document, Target};
use super::terminal::shown;
use super::{ExitStatus, Format};
use crate::apk::Limits;
use crate::apk::index;
use crate::outdated::{self, Available, Current, Report};
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
    let (current, own_arch, lock_repositories): (Vec<Current>, Option<String>, Vec<Repository>) =
        match &detected {
            Target::Root(_) | Target::Image(_) => {
                let db = target::read_installed(&detected)?;
                let current = db
                    .packages
                    .iter()
                    .map(|p| Current {
                        name: p.name.clone(),
                        version: p.version.clone(),
                    })
                    .collect();
                (current, packages_arch(&db), Vec::new())
            }
            Target::Other(path) => match target::read_document(path)? {
                Document::Lock(lock) => {
                    let repositories = lock
                        .repositories
                        .iter()
                        .map(|r| {
                            let text = match &r.tag {
                                Some(tag) => format!("@{tag} {}", r.url),
                                None => r.url.clone(),
                            };
                            Repository::parse(&text).map_err(repo_args::with_hint)
                        })
                        .collect::<anyhow::Result<_>>()?;
                    let current = lock
                        .packages
                        .iter()
                        .map(|p| Current {
                            name: p.name.clone(),
                            version: p.version.clone(),
                        })
                        .collect();
                    (current, Some(lock.image.arch.clone()), repositories)
                }
                Document::Manifest(manifest) => {
                    let current = manifest
                        .header
                        .packages
                        .iter()
                        .map(|p| Current {
                            name: p.name.clone(),
                            version: p.version.clone(),
                        })
                        .collect();
                    (current, None, Vec::new())
                }
            },
        };
    let Some(arch) = arch.or(own_arch) else {
        bail!(
            "cannot tell the architecture of `{}`\n\nhint: pass --arch",
            target.display()
        );
    };
    let repositories = repo.repositories_or(lock_repositories);
    if repositories.is_empty() {
        bail!(
            "no repository to compare with\n\nhint: pass --repository, for example --repository https://dl-cdn.alpinelinux.org/alpine/v3.19/main"
        );
    }

    let ring = super::apk::load_keyring(&repo.keys)?;
    let fetcher = repo.fetcher()?;
    let mut available = Vec::new();
    let mut stderr = super::terminal::stderr();
    for repository in &repositories {
        let label = repository.location_str().to_owned();
        let fetched = fetcher
            .fetch_index(repository, &arch)
            .map_err(repo_args::with_hint)
            .with_context(|| format!("failed to fetch the index of `{label}`"))?;
        let index = index::read_index(&fetched.bytes[..], &label, &ring, &Limits::default())?;
        if !index.signature.is_verified() {
            if repo.allow_untrusted {
                writeln!(
                    stderr,
                    "warning: index of `{label}` is not signed by a trusted key ({}); using it because of --allow-untrusted",
                    index.signature
                )?;
            } else {
                index.require_verified(&label)?;
            }
        }
        available.extend(index.entries.into_iter().map(|e| Available {
            name: e.name,
            version: e.version,
            repository: label.clone(),
        }));
    }
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

/// The most common architecture of the installed packages, ignoring `noarch`.
fn packages_arch(db: &crate::apk::installed::Database) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for arch in db.packages.iter().filter_map(|p| p.arch.as_deref()) {
        if arch != "noarch" {
            *counts.entry(arch).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(arch, _)| arch.to_owned())
}
