//! `basalt scan`: installed packages against Alpine's security database.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;

use super::repo_args;
use super::target::{self, Document, Target};
use super::terminal::shown;
use super::{ExitStatus, Format};
use crate::apk::Limits;
use crate::apk::index;
use crate::apk::keys::Keyring;
use crate::lock::Lockfile;
use crate::repo::{Fetcher, RepoOptions, Repository};
use crate::scan::{self, Report, ScannedPackage, SecDb};

/// Check installed packages against Alpine's security database (secdb)
///
/// Reads the packages of a root directory or an image (.tar.gz, its apk database), a lock or a
/// manifest, maps each package to its origin, and lists the advisories its version is not
/// fixed for. A lock does not record origins: they are read from the indexes it was locked
/// against (pinned by digest, through the cache). Exits 1 when a package is vulnerable.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A root directory, an image (.tar.gz), a lock (`basalt lock`) or a manifest
    #[arg(default_value = "/")]
    target: PathBuf,
    /// A secdb JSON document, a file or an http(s) URL (such as
    /// https://secdb.alpinelinux.org/v3.19/main.json); repeat for main and community
    #[arg(long, required = true, value_name = "FILE|URL")]
    secdb: Vec<String>,
    /// Cache directory for secdb URLs [default: `$XDG_CACHE_HOME/basalt` or `~/.cache/basalt`]
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Use the cached copy of secdb URLs; never touch the network
    #[arg(long)]
    offline: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    target: String,
    release: Option<String>,
    #[serde(flatten)]
    report: &'a Report,
}

/// Runs `basalt scan`.
///
/// # Errors
/// When the target or a secdb document cannot be read.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let Args {
        target,
        secdb,
        cache_dir,
        offline,
        format,
    } = args;
    let mut db = SecDb::default();
    let mut fetcher = None;
    for source in &secdb {
        let bytes = if is_url(source) {
            if fetcher.is_none() {
                fetcher = Some(make_fetcher(cache_dir.clone(), offline)?);
            }
            let fetcher = fetcher.as_ref().expect("set above");
            fetcher
                .fetch_url(source.clone(), scan::MAX_SECDB_BYTES)
                .map_err(repo_args::with_hint)
                .with_context(|| format!("failed to fetch secdb `{source}`"))?
                .bytes
        } else {
            read_secdb(std::path::Path::new(source))?
        };
        db.add_document(source, &bytes)?;
    }
    let detected = Target::detect(&target)
        .with_context(|| format!("failed to open scan target `{}`", target.display()))?;
    let (packages, release) = match &detected {
        Target::Root(_) | Target::Image(_) => {
            let (installed, release) = target::read_installed_and_release(&detected)?;
            let packages = installed
                .packages
                .into_iter()
                .map(|p| ScannedPackage {
                    name: p.name,
                    version: p.version,
                    origin: p.origin,
                })
                .collect();
            (packages, release)
        }
        Target::Other(path) => match target::read_document(path)? {
            Document::Manifest(manifest) => (
                manifest
                    .header
                    .packages
                    .into_iter()
                    .map(|p| ScannedPackage {
                        name: p.name,
                        version: p.version,
                        origin: p.origin,
                    })
                    .collect(),
                None,
            ),
            Document::Lock(lock) => {
                if fetcher.is_none() {
                    fetcher = Some(make_fetcher(cache_dir.clone(), offline)?);
                }
                let fetcher = fetcher.as_ref().expect("set above");
                (lock_packages(&lock, path, fetcher)?, None)
            }
        },
    };
    if let Some(release) = &release {
        let mut stderr = super::terminal::stderr();
        for source in db.sources.iter().filter(|s| s.is_for_other_branch(release)) {
            writeln!(
                stderr,
                "warning: `{}` runs Alpine {release}, but secdb `{}` is for {}: its advisories may not apply",
                target.display(),
                source.name,
                source.distro_version.as_deref().unwrap_or("another branch")
            )?;
        }
    }
    let report = scan::scan(&packages, &db);
    match format {
        Format::Json => {
            let mut out = io::stdout().lock();
            serde_json::to_writer_pretty(
                &mut out,
                &JsonReport {
                    target: target.display().to_string(),
                    release: release.clone(),
                    report: &report,
                },
            )?;
            writeln!(out)?;
        }
        Format::Human => write_human(
            &mut super::terminal::stdout(),
            &target.display().to_string(),
            &report,
        )?,
    }
    Ok(ExitStatus::problem_if(report.has_findings()))
}

/// The packages of a lock with their origins, which a lock does not record: they are read from
/// the very indexes the lock was resolved against (pinned by their SHA-256, from the cache or
/// the repository).
fn lock_packages(
    lock: &Lockfile,
    path: &Path,
    fetcher: &Fetcher,
) -> anyhow::Result<Vec<ScannedPackage>> {
    let shown = path.display();
    let mut origins: BTreeMap<(&str, String, String), Option<String>> = BTreeMap::new();
    for locked in &lock.repositories {
        let repository = Repository::parse(&locked.url)
            .map_err(repo_args::with_hint)
            .with_context(|| format!("lock `{shown}`: repository `{}`", locked.url))?;
        let digest: [u8; 32] = hex::decode(&locked.index)
            .ok()
            .and_then(|d| d.try_into().ok())
            .with_context(|| {
                format!(
                    "lock `{shown}`: index digest `{}` of `{}` is not SHA-256 hex",
                    locked.index, locked.url
                )
            })?;
        let fetched = fetcher
            .fetch_index_pinned(&repository, &lock.image.arch, &digest)
            .map_err(repo_args::with_hint)
            .with_context(|| {
                format!(
                    "failed to read the index `{}` was locked against (to learn package origins)",
                    locked.url
                )
            })?;
        // The digest pins the bytes that were verified when the lock was written.
        let index = index::read_index(
            &fetched.bytes[..],
            &locked.url,
            &Keyring::alpine(),
            &Limits::default(),
        )?;
        for entry in index.entries {
            origins.insert(
                (locked.url.as_str(), entry.name, entry.version),
                entry.origin,
            );
        }
    }
    lock.packages
        .iter()
        .map(|p| {
            let key = (p.repository.as_str(), p.name.clone(), p.version.clone());
            let origin = origins.get(&key).with_context(|| {
                format!(
                    "lock `{shown}`: package `{}` is not in the index of `{}` it was locked against",
                    p.id(),
                    p.repository
                )
            })?;
            Ok(ScannedPackage {
                name: p.name.clone(),
                version: p.version.clone(),
                origin: origin.clone(),
            })
        })
        .collect()
}

fn is_url(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn make_fetcher(cache_dir: Option<PathBuf>, offline: bool) -> anyhow::Result<Fetcher> {
    let cache_dir = match cache_dir {
        Some(dir) => dir,
        None => RepoOptions::default_cache_dir().map_err(repo_args::with_hint)?,
    };
    let mut options = RepoOptions::new(cache_dir);
    options.offline = offline;
    Fetcher::new(options)
        .map_err(repo_args::with_hint)
        .context("failed to set up secdb fetching")
}

fn read_secdb(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let file = crate::input::open(path)?;
    let mut bytes = Vec::new();
    file.take(scan::MAX_SECDB_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("failed to read secdb `{}`", path.display()))?;
    if bytes.len() as u64 > scan::MAX_SECDB_BYTES {
        bail!(
            "secdb `{}` is larger than {} bytes",
            path.display(),
            scan::MAX_SECDB_BYTES
        );
    }
    Ok(bytes)
}

fn write_human(out: &mut impl Write, target: &str, report: &Report) -> io::Result<()> {
    for v in &report.vulnerable {
        let origin = if v.origin == v.package {
            String::new()
        } else {
            format!(" (origin {})", shown(&v.origin))
        };
        // Package names and versions come from the host, ids and versions from the secdb.
        writeln!(
            out,
            "{} {} {}{origin}: {} {}, fixed in {}",
            v.severity,
            shown(&v.package),
            shown(&v.version),
            v.advisories.len(),
            if v.advisories.len() == 1 {
                "advisory"
            } else {
                "advisories"
            },
            shown(&v.fixed_in)
        )?;
        for a in &v.advisories {
            writeln!(out, "    {}  fixed in {}", shown(&a.id), shown(&a.fixed_in))?;
        }
    }
    let advisories: usize = report.vulnerable.iter().map(|v| v.advisories.len()).sum();
    writeln!(
        out,
        "{target}: {} packages scanned, {} vulnerable ({advisories} advisories)",
        report.scanned,
        report.vulnerable.len()
    )
}
