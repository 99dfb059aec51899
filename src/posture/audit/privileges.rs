//! Family `privileges`: doas and sudo rules grant privileges only to trusted users, and never
//! without a password.

use super::CheckId;
use super::config;
use super::host::{Host, join_or_none};

impl Host<'_> {
    pub(super) fn privileges(&mut self) {
        let mut rules = Vec::new();
        let mut files = Vec::new();
        if let Some(t) = self.text("/etc/doas.conf") {
            files.push(("/etc/doas.conf".to_owned(), t, true));
        }
        for (p, t) in self.dir_files("/etc/doas.d", ".conf") {
            files.push((p, t, true));
        }
        if let Some(t) = self.text("/etc/sudoers") {
            files.push(("/etc/sudoers".to_owned(), t, false));
        }
        for (p, t) in self.dir_files("/etc/sudoers.d", "") {
            files.push((p, t, false));
        }
        for (path, text, doas) in files {
            let parsed = if doas {
                config::parse_doas(&text)
            } else {
                config::parse_sudoers(&text)
            };
            rules.extend(parsed.into_iter().map(|r| (path.clone(), r)));
        }
        for (path, rule) in rules {
            if !self.policy.privileged.contains(&rule.identity) {
                self.emit(
                    CheckId::PrivilegeRule,
                    &path,
                    Some(rule.line),
                    format!("`{}` is granted privileges", rule.identity),
                    format!(
                        "{path}:{}: {}; trusted: {}",
                        rule.line,
                        rule.text,
                        join_or_none(Some(&self.policy.privileged))
                    ),
                );
            }
            if rule.nopass {
                self.emit(
                    CheckId::PrivilegeNopass,
                    &path,
                    Some(rule.line),
                    format!("`{}` gains privileges without a password", rule.identity),
                    format!("{path}:{}: {}", rule.line, rule.text),
                );
            }
        }
    }
}
