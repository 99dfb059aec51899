//! Family `audit-rules`: auditd runs at boot and its rules watch Docker's files (CIS
//! 1.1.3-1.1.18; a file only some installations have, when the root has it) and the login
//! and account records, and sshd does not hide authentication events (`LogLevel`).

use crate::profile::hardening::{self, Needed};

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
            let p = canonical(p);
            watches.iter().any(|(_, w)| canonical(&w.path) == p)
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
            self.docker_watches(&watches, &rule_file, &rules_where);
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

/// `/var/run/...` is `/run/...` on Alpine (a symlink).
fn canonical(path: &str) -> String {
    let path = crate::integrity::rootfs::normalize(path);
    match path.strip_prefix("/var/run/") {
        Some(rest) => format!("/run/{rest}"),
        None if path == "/var/run" => "/run".to_owned(),
        None => path,
    }
}

impl Host<'_> {
    fn docker_watches(
        &mut self,
        watches: &[(String, config::AuditWatch)],
        rule_file: &str,
        rules_where: &str,
    ) {
        // A watch on a directory covers everything below it (auditd's watches are
        // recursive); a watch on `/` is not taken for one.
        let watched_paths: Vec<String> = watches.iter().map(|(_, w)| canonical(&w.path)).collect();
        let watched = |p: &str| {
            let p = canonical(p);
            watched_paths.iter().any(|w| {
                *w == p
                    || (w.len() > 1 && p.starts_with(w.as_str()) && p.as_bytes()[w.len()] == b'/')
            })
        };
        let settings = self.daemon.clone().unwrap_or_default();
        let mut wanted: Vec<(String, Option<&'static str>, Needed)> = Vec::new();
        for w in hardening::DOCKER_WATCHES {
            let cis = w.cis;
            match cis {
                "1.1.5" => wanted.push((settings.data_root(), Some(cis), w.needed)),
                "1.1.9" if w.path == "/run/docker.sock" => {
                    for socket in settings.unix_sockets() {
                        wanted.push((canonical(&socket), Some(cis), w.needed));
                    }
                }
                _ => wanted.push((w.path.to_owned(), Some(cis), w.needed)),
            }
        }
        wanted.extend(
            self.policy
                .audit_watches
                .iter()
                .map(|p| (p.clone(), None, Needed::Always)),
        );
        let mut seen = Vec::new();
        for (path, cis, needed) in wanted {
            if seen.contains(&path) {
                continue;
            }
            seen.push(path.clone());
            if needed == Needed::WhenPresent && !self.exists(&path) {
                self.skip_path(
                    CheckId::AuditDockerWatch,
                    cis,
                    &path,
                    "absent from the root: nothing to watch",
                );
                continue;
            }
            if watched(&path) {
                continue;
            }
            let why = cis.map_or("the profile".to_owned(), |c| format!("CIS {c}"));
            self.emit_cis(
                CheckId::AuditDockerWatch,
                cis,
                rule_file,
                None,
                format!("`{path}` is not watched by an audit rule ({why})"),
                rules_where.to_owned(),
            );
        }
    }
}
