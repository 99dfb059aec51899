//! `audit`: checks a host root or an image against what a hardened Alpine Docker host should
//! be (and, when given, against its profile), and reports findings with evidence.
//!
//! The checks are data ([`CHECKS`], [`check`]): each has a typed id ([`CheckId`], stable
//! kebab-case text), a title, a severity, the CIS Docker Benchmark (v1.6.0) section it maps to
//! where there is one (the benchmark assumes systemd: `docker.service` is OpenRC's
//! `/etc/init.d/docker`, `docker.socket` is `/run/docker.sock`, `/etc/default/docker` is
//! `/etc/conf.d/docker`), and a remediation. Each family of checks is one module, run in
//! this order over the facts that the private `host` module loads once:
//!
//! [`release`], [`services`], [`packages`], [`ssh`], [`accounts`], [`privileges`],
//! [`docker_daemon`], [`audit_rules`], [`logs`], [`firewall`], [`docker_files`],
//! [`containers`], [`immutability`].
//!
//! [`cis`] is the CIS Docker Benchmark v1.6.0 item by item: which checks answer each item
//! offline, and why the others need the running daemon. Every finding carries the item it
//! fails, where there is one; a check that could not be answered is listed as skipped, with
//! the file it needed (and, for an image, the checks only a live host can answer).
//!
//! Invariants: the audit only reads the root through [`RootFs`] (never the machine it runs
//! on); the time is passed in, never read; findings are sorted, so the same root gives the
//! same report; a file that cannot be read becomes an `unreadable-file` finding rather than
//! an abort.

pub mod check;
pub mod cis;
pub mod config;
pub mod docker;
mod host;
pub mod policy;
pub mod sarif;
pub mod shell;

pub mod accounts;
pub mod audit_rules;
pub mod containers;
pub mod docker_daemon;
pub mod docker_files;
pub mod firewall;
pub mod immutability;
pub mod logs;
pub mod packages;
pub mod privileges;
pub mod release;
pub mod services;
pub mod ssh;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::finding::Severity;
use crate::integrity::rootfs::RootFs;

pub use check::{Area, CHECKS, Check, CheckId, Family};
pub use packages::APPLICATIONS;
pub use policy::AuditPolicy;
pub use release::{ALPINE_RELEASES, days_from_date};

use host::Host;

/// One problem found, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// The check's id.
    pub check: CheckId,
    /// The check's severity.
    pub severity: Severity,
    /// The CIS Docker Benchmark v1.6.0 item this finding fails, when the check maps to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cis: Option<&'static str>,
    /// The file concerned, absolute inside the root.
    pub path: String,
    /// The line in that file, when one line is the cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// What was found.
    pub message: String,
    /// The facts that show it (setting values, where they come from).
    pub evidence: String,
}

/// A check (or one CIS item of it) that was not answered for this root, and why: it does not
/// apply, a file it needs is absent, or only a live host can answer it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Skipped {
    /// The check's id.
    pub check: CheckId,
    /// The CIS Docker Benchmark v1.6.0 item not answered, when the check maps to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cis: Option<&'static str>,
    /// The file it needed, absolute inside the root, when one is the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Why it was not answered.
    pub reason: String,
}

/// The result of an audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The root audited, as given.
    pub root: String,
    /// Whether the root is an image archive (checks only a live host can answer are then
    /// listed as skipped).
    pub image: bool,
    /// The Alpine release found, when known.
    pub release: Option<String>,
    /// The number of checks in the table.
    pub checks: usize,
    /// Findings, most severe first, then by check and path.
    pub findings: Vec<Finding>,
    /// Checks that did not apply.
    pub skipped: Vec<Skipped>,
}

impl Report {
    /// The most severe finding's severity.
    #[must_use]
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Whether any finding is at or above `threshold`.
    #[must_use]
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= threshold)
    }

    /// The number of findings at each severity.
    #[must_use]
    pub fn counts(&self) -> BTreeMap<Severity, usize> {
        let mut out = BTreeMap::new();
        for f in &self.findings {
            *out.entry(f.severity).or_insert(0) += 1;
        }
        out
    }

    /// The ids of the checks that fired, sorted and deduplicated.
    #[must_use]
    pub fn fired(&self) -> BTreeSet<CheckId> {
        self.findings.iter().map(|f| f.check).collect()
    }
}

/// Checks a root against a policy. `now` is the time of the audit in seconds since the epoch
/// (`SOURCE_DATE_EPOCH` or the clock, read by the caller).
#[must_use]
pub fn audit(fs: &RootFs, policy: &AuditPolicy, now: i64) -> Report {
    let mut host = Host::new(fs, policy);
    let release = host.os_release(now);
    host.services();
    host.packages();
    host.ssh();
    host.accounts();
    host.privileges();
    // The daemon's settings first: the audit rules watch its data-root and sockets.
    host.docker_daemon();
    host.audit_rules();
    host.log_forwarding();
    host.firewall();
    host.docker_files();
    host.containers();
    host.immutability();
    let Host {
        mut findings,
        mut skipped,
        ..
    } = host;
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.check.cmp(&b.check))
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.line.cmp(&b.line))
            .then_with(|| a.message.cmp(&b.message))
    });
    findings.dedup();
    skipped.sort();
    skipped.dedup();
    Report {
        root: fs.location().display().to_string(),
        image: fs.is_image(),
        release,
        checks: CHECKS.len(),
        findings,
        skipped,
    }
}

#[cfg(test)]
mod tests;
