//! `basalt audit`: checks a host root or an image against the hardened-host checklist.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;

use crate::finding::Severity;
use crate::integrity::rootfs::RootFs;
use crate::posture::audit::{self, AuditPolicy, Report};
use crate::posture::outdated::Available;
use crate::posture::target;

use super::ExitStatus;
use super::repo_args::RepoArgs;
use super::terminal::shown;

/// Output formats of `basalt audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum AuditFormat {
    /// Text for people.
    #[default]
    Human,
    /// One JSON document.
    Json,
    /// SARIF 2.1.0, for code-scanning systems.
    Sarif,
}

/// Check a host root or an image against the hardened Docker host checklist
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The root directory of a host, or an image (`IMAGE.tar.gz`)
    #[arg(default_value = "/")]
    root: PathBuf,
    /// The host profile the root was built from: its services, packages, users, SSH
    /// allow-lists, trusted networks and audit watches become the expectations
    #[arg(long, value_name = "PROFILE")]
    profile: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = AuditFormat::Human)]
    format: AuditFormat,
    /// With --repository: the architecture of the indexes to read (default: the installed
    /// packages' own)
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
    /// The repositories whose signed indexes tell whether the Docker engine packages are up
    /// to date (CIS 1.2.2); without any, that check is listed as skipped
    #[command(flatten)]
    repo: RepoArgs,
    /// Exit with 1 when a finding at or above this severity is present
    #[arg(long, value_name = "SEVERITY", default_value = "high", value_parser = parse_severity)]
    fail_on: Severity,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    text.parse::<Severity>().map_err(|e| e.to_string())
}

/// Runs `basalt audit`.
///
/// # Errors
/// When the root cannot be opened or the output cannot be written.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let Args {
        root,
        profile,
        format,
        arch,
        repo,
        fail_on,
    } = args;
    // The time of the audit: `SOURCE_DATE_EPOCH` when set, the clock otherwise.
    let now = i64::try_from(super::build_time()?).unwrap_or(i64::MAX);
    let fs = RootFs::open(&root).with_context(|| format!("failed to open `{}`", root.display()))?;
    let mut policy = match &profile {
        Some(path) => AuditPolicy::from_profile(
            &crate::profile::load(path)
                .with_context(|| format!("failed to load profile `{}`", path.display()))?,
        ),
        None => AuditPolicy::default(),
    };
    if !repo.repositories.is_empty() {
        policy.repository_packages = Some(repository_packages(&fs, arch, &repo)?);
    }
    let report = audit::audit(&fs, &policy, now);
    let out = match format {
        AuditFormat::Human => human(&report, fail_on),
        AuditFormat::Json => {
            let mut s =
                serde_json::to_string_pretty(&report).context("failed to encode the report")?;
            s.push('\n');
            s
        }
        AuditFormat::Sarif => {
            let log = audit::sarif::to_sarif(&report, env!("CARGO_PKG_VERSION"));
            let mut s = serde_json::to_string_pretty(&log).context("failed to encode SARIF")?;
            s.push('\n');
            s
        }
    };
    if format == AuditFormat::Human {
        let mut stdout = super::terminal::stdout();
        stdout.write_all(out.as_bytes())?;
        stdout.flush()?;
    } else {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(out.as_bytes())?;
        stdout.flush()?;
    }
    Ok(ExitStatus::problem_if(report.fails(fail_on)))
}

/// What the repositories offer now, from their signed indexes, for the architecture of the
/// root's installed packages (or `arch`).
fn repository_packages(
    fs: &RootFs,
    arch: Option<String>,
    repo: &RepoArgs,
) -> anyhow::Result<Vec<Available>> {
    let arch = match arch {
        Some(a) => a,
        None => {
            let db = match fs.read("/lib/apk/db/installed") {
                Ok(Some(bytes)) => crate::apk::installed::Database::parse(&bytes).ok(),
                _ => None,
            };
            db.as_ref().and_then(target::packages_arch).context(
                "cannot tell the architecture of the root's packages to read the repositories' indexes\n\nhint: pass --arch",
            )?
        }
    };
    let access = repo.access(&[], &[]);
    let mut stderr = super::terminal::stderr();
    let available = target::available(&access, &arch, &mut |warning| {
        let _ = writeln!(stderr, "warning: {warning}");
    })?;
    Ok(available)
}

/// The report as text for people: one block per finding, then a summary.
#[must_use]
pub fn human(report: &Report, fail_on: Severity) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "audit of `{}`{}",
        report.root,
        report
            .release
            .as_ref()
            .map(|r| format!(" (Alpine {r})"))
            .unwrap_or_default()
    );
    for f in &report.findings {
        let place = match f.line {
            Some(line) => format!("{}:{line}", shown(&f.path)),
            None => shown(&f.path).into_owned(),
        };
        let cis = match f.cis {
            None => String::new(),
            Some(cis) => format!(" [CIS {cis}]"),
        };
        let _ = writeln!(
            out,
            "\n{:<8} {}{cis}  {place}",
            f.severity.as_str(),
            f.check
        );
        // Messages and evidence quote the host's files: each stays on its line.
        let _ = writeln!(out, "  {}", shown(&f.message));
        let _ = writeln!(out, "  evidence: {}", shown(&f.evidence));
        let _ = writeln!(out, "  fix: {}", f.check.remediation());
    }
    if !report.skipped.is_empty() {
        let _ = writeln!(out, "\nnot answered:");
        for s in &report.skipped {
            let cis = s.cis.map(|c| format!(" [CIS {c}]")).unwrap_or_default();
            let path = s
                .path
                .as_ref()
                .map(|p| format!("  {}", shown(p)))
                .unwrap_or_default();
            let _ = writeln!(out, "  {}{cis}{path}: {}", s.check, shown(&s.reason));
        }
    }
    let counts = report.counts();
    let summary: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter_map(|s| counts.get(s).map(|n| format!("{n} {s}")))
        .collect();
    let _ = writeln!(
        out,
        "\n{} finding(s){}; {} of {} checks did not apply; failing at `{fail_on}`: {}",
        report.findings.len(),
        if summary.is_empty() {
            String::new()
        } else {
            format!(" ({})", summary.join(", "))
        },
        report
            .skipped
            .iter()
            .map(|s| s.check)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        report.checks,
        if report.fails(fail_on) { "yes" } else { "no" }
    );
    out
}
