//! `basalt audit`: checks a host root or an image against the hardened-host checklist.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;

use crate::audit::{self, AuditPolicy, CHECKS, Report};
use crate::finding::Severity;
use crate::rootfs::RootFs;

use super::ExitStatus;
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
    /// Exit with 1 when a finding at or above this severity is present
    #[arg(long, value_name = "SEVERITY", default_value = "high", value_parser = parse_severity)]
    fail_on: Severity,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    text.parse::<Severity>().map_err(|e| e.to_string())
}

/// The time of the audit: `SOURCE_DATE_EPOCH` when set, the clock otherwise.
fn now() -> anyhow::Result<i64> {
    if let Ok(value) = std::env::var("SOURCE_DATE_EPOCH") {
        return value.trim().parse().with_context(|| {
            format!("invalid SOURCE_DATE_EPOCH `{value}` (expected seconds since 1970)")
        });
    }
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    Ok(i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
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
        fail_on,
    } = args;
    let now = now()?;
    let fs = RootFs::open(&root).with_context(|| format!("failed to open `{}`", root.display()))?;
    let policy = match &profile {
        Some(path) => AuditPolicy::from_profile(
            &crate::profile::load(path)
                .with_context(|| format!("failed to load profile `{}`", path.display()))?,
        ),
        None => AuditPolicy::default(),
    };
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
        let check = CHECKS.iter().find(|c| c.id == f.check);
        let cis = check
            .filter(|c| !c.cis.is_empty())
            .map(|c| format!(" [CIS {}]", c.cis))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\n{:<8} {}{cis}  {place}",
            f.severity.as_str(),
            f.check
        );
        // Messages and evidence quote the host's files: each stays on its line.
        let _ = writeln!(out, "  {}", shown(&f.message));
        let _ = writeln!(out, "  evidence: {}", shown(&f.evidence));
        if let Some(c) = check {
            let _ = writeln!(out, "  fix: {}", c.remediation);
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
