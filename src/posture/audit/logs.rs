//! Family `logs`: an enabled syslog daemon forwards the logs to a remote host, over TCP.

use super::CheckId;
use super::config;
use super::host::{Host, join_list};

impl Host<'_> {
    pub(super) fn log_forwarding(&mut self) {
        let mut forwards: Vec<(String, config::Forward)> = Vec::new();
        let mut configured_but_off = Vec::new();
        // syslog-ng
        let mut ng = Vec::new();
        if let Some(t) = self.text("/etc/syslog-ng/syslog-ng.conf") {
            ng.push(("/etc/syslog-ng/syslog-ng.conf".to_owned(), t));
        }
        ng.extend(self.dir_files("/etc/syslog-ng/conf.d", ".conf"));
        // A destination may be defined in one file and used in another: parse them together,
        // and attribute the result to the main file.
        if !ng.is_empty() {
            let all: String = ng
                .iter()
                .map(|(_, t)| t.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let found = config::parse_syslog_ng(&all);
            let main = ng[0].0.clone();
            if self.is_enabled("syslog-ng") {
                forwards.extend(found.into_iter().map(|f| (main.clone(), f)));
            } else if !found.is_empty() {
                configured_but_off.push(format!("{main} (syslog-ng is not enabled)"));
            }
        }
        // busybox syslogd
        if let Some(t) = self.text("/etc/conf.d/syslog") {
            let found = config::parse_busybox_syslog(&t);
            if self.is_enabled("syslog") {
                forwards.extend(
                    found
                        .into_iter()
                        .map(|f| ("/etc/conf.d/syslog".to_owned(), f)),
                );
            } else if !found.is_empty() {
                configured_but_off.push("/etc/conf.d/syslog (syslog is not enabled)".to_owned());
            }
        }
        // rsyslog
        let mut rs = Vec::new();
        if let Some(t) = self.text("/etc/rsyslog.conf") {
            rs.push(("/etc/rsyslog.conf".to_owned(), t));
        }
        rs.extend(self.dir_files("/etc/rsyslog.d", ".conf"));
        for (path, text) in rs {
            let found = config::parse_rsyslog(&text);
            if self.is_enabled("rsyslog") {
                forwards.extend(found.into_iter().map(|f| (path.clone(), f)));
            } else if !found.is_empty() {
                configured_but_off.push(format!("{path} (rsyslog is not enabled)"));
            }
        }
        if forwards.is_empty() {
            let daemons: Vec<&str> = ["syslog", "syslog-ng", "rsyslog"]
                .into_iter()
                .filter(|d| self.is_enabled(d))
                .collect();
            // The file to fix: that of the daemon that runs (busybox syslogd's options, rsyslog's
            // or syslog-ng's configuration).
            let file = match daemons.first() {
                Some(&"syslog") => "/etc/conf.d/syslog",
                Some(&"rsyslog") => "/etc/rsyslog.conf",
                _ => "/etc/syslog-ng/syslog-ng.conf",
            };
            self.emit(
                CheckId::LogForwarding,
                file,
                None,
                "no enabled syslog daemon forwards logs to a remote host".to_owned(),
                format!(
                    "enabled syslog daemons: {}; forwarding configured but not running: {}",
                    join_list(&daemons),
                    join_list(&configured_but_off)
                ),
            );
        } else if forwards.iter().all(|(_, f)| f.transport == "udp") {
            for (path, f) in forwards {
                self.emit(
                    CheckId::LogForwardingUdp,
                    &path,
                    Some(f.line),
                    format!("logs are forwarded over UDP to `{}`", f.target),
                    format!("{path}:{}: {}", f.line, f.target),
                );
            }
        }
    }
}
