//! `basalt scan`: installed packages against Alpine's security database.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

use super::terminal::shown;
use super::{ExitStatus, Format};
use crate::posture::scan::{self, Report, SecDb};
use crate::posture::target::{self, Target};
use crate::repo::{Access, Fetcher, SetupError};

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
    // This doc comment is the `--help` text, where a bare URL is what a reader wants to copy.
    #[allow(rustdoc::bare_urls)]
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
    let access = Access {
        cache_dir,
        offline,
        ..Access::default()
    };
    let fetcher = std::cell::OnceCell::new();
    let fetcher = || -> anyhow::Result<&Fetcher> {
        if let Some(fetcher) = fetcher.get() {
            return Ok(fetcher);
        }
        let made = access.fetcher().map_err(|e| match e {
            SetupError::CacheDir(e) => anyhow::Error::new(e),
            SetupError::Fetcher(e) => {
                anyhow::Error::new(e).context("failed to set up secdb fetching")
            }
        })?;
        Ok(fetcher.get_or_init(|| made))
    };
    let mut db = SecDb::default();
    for source in &secdb {
        let bytes = if target::is_url(source) {
            fetcher()?
                .fetch_url(source.clone(), scan::MAX_SECDB_BYTES)
                .with_context(|| format!("failed to fetch secdb `{source}`"))?
                .bytes
        } else {
            target::read_secdb(std::path::Path::new(source))?
        };
        db.add_document(source, &bytes)?;
    }
    let detected = Target::detect(&target)
        .with_context(|| format!("failed to open scan target `{}`", target.display()))?;
    let (packages, release) = target::scan_packages(&detected, || fetcher().map_err(Into::into))?;
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
