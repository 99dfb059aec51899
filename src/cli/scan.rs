//! `basalt scan`: installed packages against Alpine's security database.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Serialize;

use super::target::{self, Target};
use super::{ExitStatus, Format};
use crate::scan::{self, Report, ScannedPackage, SecDb};

/// Check installed packages against Alpine's security database (secdb)
///
/// Reads the apk database of a root directory or an image (.tar.gz), maps each package to its
/// origin, and lists the advisories its version is not fixed for. Exits 1 when a package is
/// vulnerable.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A root directory or an image (.tar.gz)
    #[arg(default_value = "/")]
    target: PathBuf,
    /// A secdb JSON document (such as v3.19/main.json); repeat for main and community
    #[arg(long, required = true, value_name = "FILE")]
    secdb: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    target: String,
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
        format,
    } = args;
    let mut db = SecDb::default();
    for path in &secdb {
        let bytes = read_secdb(path)?;
        db.add_document(&path.display().to_string(), &bytes)?;
    }
    let detected = Target::detect(&target)
        .with_context(|| format!("failed to open scan target `{}`", target.display()))?;
    let packages: Vec<ScannedPackage> = match &detected {
        Target::Root(_) | Target::Image(_) => target::read_installed(&detected)?
            .packages
            .into_iter()
            .map(|p| ScannedPackage {
                name: p.name,
                version: p.version,
                origin: p.origin,
            })
            .collect(),
        Target::Other(path) => bail!(
            "`{}` is neither a root directory nor an image (.tar.gz)",
            path.display()
        ),
    };
    let report = scan::scan(&packages, &db);
    let mut out = io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(
                &mut out,
                &JsonReport {
                    target: target.display().to_string(),
                    report: &report,
                },
            )?;
            writeln!(out)?;
        }
        Format::Human => write_human(&mut out, &target.display().to_string(), &report)?,
    }
    Ok(ExitStatus::problem_if(report.has_findings()))
}

fn read_secdb(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let file = fs_err::File::open(path)?;
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
            format!(" (origin {})", v.origin)
        };
        writeln!(
            out,
            "{} {} {}{origin}: {} {}, fixed in {}",
            v.severity,
            v.package,
            v.version,
            v.advisories.len(),
            if v.advisories.len() == 1 {
                "advisory"
            } else {
                "advisories"
            },
            v.fixed_in
        )?;
        for a in &v.advisories {
            writeln!(out, "    {}  fixed in {}", a.id, a.fixed_in)?;
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
