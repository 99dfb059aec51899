//! Family `audit-rules`: auditd runs at boot and its rules watch Docker's files (CIS
//! 1.1.3-1.1.18) and the login and account records, and sshd does not hide authentication
//! events (`LogLevel`).

use crate::profile::hardening;

use super::CheckId;
use super::config;
use super::host::{Host, join_list};

impl Host<'_> {
    pub(super) fn audit_rules(&mut self) {
        let mut watches = Vec::new();
        let mut sources = Vec::new();
        if let Some(t) = self.text("/etc/audit/audit.rules") {
            sources.push(("/etc/audit/audit.rules".to_owned(), t));
        }
        sources.extend(self.dir_files("/etc/audit/rules.d", ".rules"));
        for (path, text) in &sources {
            for w in config::parse_audit_rules(text) {
                watches.push((path.clone(), w));
            }
        }
        let watched = |p: &str| {
            let alt = p
                .strip_prefix("/run/")
                .map(|r| format!("/var/run/{r}"))
                .unwrap_or_default();
            watches.iter().any(|(_, w)| w.path == p || w.path == alt)
        };
        let rules_where = if sources.is_empty() {
            "no audit rules (/etc/audit/audit.rules, /etc/audit/rules.d/*.rules)".to_owned()
        } else {
            format!(
                "rules read from {}",
                join_list(&sources.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>())
            )
        };
        let installed = self.installed.iter().any(|p| p.name == "audit")
            || self.exists("/sbin/auditd")
            || self.exists("/usr/sbin/auditd");
        if !self.is_enabled("auditd") {
            self.emit(
                CheckId::AuditdNotEnabled,
                "/etc/runlevels",
                None,
                "auditd is not enabled in any runlevel".to_owned(),
                if installed {
                    "the audit package is installed but auditd is not in /etc/runlevels".to_owned()
                } else {
                    "the audit package is not installed".to_owned()
                },
            );
        }
        let rule_file = sources
            .first()
            .map_or("/etc/audit/audit.rules".to_owned(), |(p, _)| p.clone());
        if self.docker_installed {
            let mut wanted: Vec<(String, String)> = docker_watches()
                .map(|(p, c)| (p.to_owned(), format!("CIS {c}")))
                .collect();
            wanted.extend(
                self.policy
                    .audit_watches
                    .iter()
                    .map(|p| (p.clone(), "profile".to_owned())),
            );
            for (path, why) in wanted {
                if !watched(&path) {
                    self.emit(
                        CheckId::AuditDockerWatch,
                        &rule_file,
                        None,
                        format!("`{path}` is not watched by an audit rule ({why})"),
                        rules_where.clone(),
                    );
                }
            }
        } else {
            self.skip(CheckId::AuditDockerWatch, "Docker is not installed");
        }
        let identity = ["/etc/passwd", "/etc/shadow", "/etc/group"];
        let logins = [
            "/var/log/lastlog",
            "/var/log/wtmp",
            "/var/log/btmp",
            "/var/run/utmp",
            "/run/utmp",
            "/var/log/faillog",
        ];
        let mut missing: Vec<String> = identity
            .iter()
            .filter(|p| !watched(p))
            .map(|p| (*p).to_owned())
            .collect();
        if !logins.iter().any(|p| watched(p)) {
            missing.push("a login record (/var/log/lastlog, /var/log/wtmp...)".to_owned());
        }
        if !missing.is_empty() {
            self.emit(
                CheckId::AuditAuthEvents,
                &rule_file,
                None,
                format!("not audited: {}", missing.join(", ")),
                rules_where,
            );
        }
        // sshd's own logging of authentication (its effective configuration, read by `ssh`).
        let level = self
            .sshd
            .as_ref()
            .and_then(|config| config.get("loglevel"))
            .cloned();
        if let Some(level) = level {
            let v = level
                .args
                .first()
                .map(|a| a.to_ascii_uppercase())
                .unwrap_or_default();
            if matches!(v.as_str(), "QUIET" | "FATAL" | "ERROR") {
                self.emit(
                    CheckId::AuditAuthEvents,
                    &level.file,
                    Some(level.line),
                    format!("sshd logs at `{v}`, which hides authentication events"),
                    format!("{}:{}: LogLevel {v}", level.file, level.line),
                );
            }
        }
    }
}

/// The Docker paths every audit rule set must watch (the OpenRC places of CIS 1.1.3-1.1.18),
/// with the CIS section each maps to: the hardening defaults' watches that CIS asks for.
pub fn docker_watches() -> impl Iterator<Item = (&'static str, &'static str)> {
    hardening::DOCKER_WATCHES
        .iter()
        .filter_map(|(path, cis)| Some((*path, (*cis)?)))
}
