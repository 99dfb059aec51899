//! Reporting a verification to syslog: one message per finding and one summary, each a JSON
//! document, sent to a local Unix datagram socket (`/dev/log`) as busybox `syslogd`,
//! syslog-ng's `system()` source and rsyslog read it.
//!
//! The wire format is the local one of `syslog(3)` without a timestamp (the daemon stamps the
//! time of receipt and the host name): `<PRI>basalt-verify[PID]: {JSON}`, facility `auth`.
//! The JSON documents are described in `docs/verify-syslog.md`.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::integrity::verify::{Finding, Report};

/// The tag (program name) of every message.
pub const TAG: &str = "basalt-verify";
/// The facility: security and authorisation messages.
const FACILITY_AUTH: u8 = 4;
/// At most this many findings are sent one by one; the summary counts them all.
pub const MAX_FINDING_MESSAGES: usize = 200;
/// A syslog daemon that does not take a message within this time is given up on.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Syslog severities used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The verification could not be done, or the signature was refused.
    Err = 3,
    /// A finding; the summary of a run that found any.
    Warning = 4,
    /// The summary of a clean run.
    Info = 6,
}

/// `<PRI>basalt-verify[PID]: ` followed by the document.
#[must_use]
pub fn message(severity: Severity, pid: u32, document: &str) -> Vec<u8> {
    let pri = u16::from(FACILITY_AUTH) * 8 + severity as u16;
    format!("<{pri}>{TAG}[{pid}]: {document}").into_bytes()
}

/// The image a run verified against (from the manifest's header), when it got that far.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Image {
    /// `image` of the manifest.
    pub image: Option<String>,
    /// `version` of the manifest.
    pub version: Option<String>,
}

#[derive(Serialize)]
struct FindingEvent<'a> {
    event: &'static str,
    #[serde(flatten)]
    image: &'a Image,
    #[serde(flatten)]
    finding: &'a Finding,
}

#[derive(Serialize)]
struct SummaryEvent<'a> {
    event: &'static str,
    #[serde(flatten)]
    image: &'a Image,
    clean: bool,
    entries: usize,
    findings: usize,
    kinds: BTreeMap<&'static str, usize>,
    unlogged: usize,
}

#[derive(Serialize)]
struct FailureEvent<'a> {
    event: &'static str,
    #[serde(flatten)]
    image: &'a Image,
    status: u8,
    error: &'a str,
}

/// A connection to the syslog socket. Failing to reach it is reported once on stderr (the
/// verification itself goes on and keeps its exit code).
pub struct Syslog {
    path: PathBuf,
    socket: Option<UnixDatagram>,
    pid: u32,
}

impl Syslog {
    /// Connects to the datagram socket at `path`; when that fails, warns on stderr and
    /// returns a logger that sends nothing.
    pub fn open(path: &Path) -> Syslog {
        let socket = UnixDatagram::unbound()
            .and_then(|s| {
                s.set_write_timeout(Some(SEND_TIMEOUT))?;
                s.connect(path)?;
                Ok(s)
            })
            .map_err(|e| warn(path, &e))
            .ok();
        Syslog {
            path: path.to_owned(),
            socket,
            pid: std::process::id(),
        }
    }

    fn send<T: Serialize>(&mut self, severity: Severity, event: &T) {
        let Some(socket) = &self.socket else {
            return;
        };
        // Serialising plain structs of strings and numbers cannot fail.
        let document = serde_json::to_string(event).unwrap_or_default();
        if let Err(e) = socket.send(&message(severity, self.pid, &document)) {
            warn(&self.path, &e);
            self.socket = None;
        }
    }

    /// Sends one message per finding (at most [`MAX_FINDING_MESSAGES`]) and the summary.
    pub fn report(&mut self, image: &Image, report: &Report, entries: usize) {
        for finding in report.findings.iter().take(MAX_FINDING_MESSAGES) {
            self.send(
                Severity::Warning,
                &FindingEvent {
                    event: "finding",
                    image,
                    finding,
                },
            );
        }
        let mut kinds = BTreeMap::new();
        for f in &report.findings {
            *kinds.entry(f.kind.as_str()).or_insert(0) += 1;
        }
        let severity = if report.clean {
            Severity::Info
        } else {
            Severity::Warning
        };
        self.send(
            severity,
            &SummaryEvent {
                event: "summary",
                image,
                clean: report.clean,
                entries,
                findings: report.findings.len(),
                kinds,
                unlogged: report.findings.len().saturating_sub(MAX_FINDING_MESSAGES),
            },
        );
    }

    /// Sends why the verification ended without a report: a refused signature (`status` 1)
    /// or an error (`status` 2).
    pub fn failure(&mut self, image: &Image, status: u8, error: &str) {
        self.send(
            Severity::Err,
            &FailureEvent {
                event: "failure",
                image,
                status,
                error,
            },
        );
    }
}

fn warn(path: &Path, error: &io::Error) {
    use std::io::Write as _;
    let _ = writeln!(
        io::stderr().lock(),
        "warning: cannot report to syslog at `{}`: {error}",
        path.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_facility_auth_and_the_tag() {
        assert_eq!(
            message(Severity::Warning, 42, "{}"),
            b"<36>basalt-verify[42]: {}".to_vec()
        );
        assert!(message(Severity::Info, 1, "x").starts_with(b"<38>"));
        assert!(message(Severity::Err, 1, "x").starts_with(b"<35>"));
    }
}
