//! Family `accounts`: no usable or empty passwords, login shells only for declared users, and
//! only trusted members in the `docker` group.

use std::collections::BTreeMap;

use super::CheckId;
use super::config;
use super::host::{Host, join_or_none};

impl Host<'_> {
    pub(super) fn accounts(&mut self) {
        let shadow = self
            .text("/etc/shadow")
            .map(|t| config::parse_shadow(&t))
            .unwrap_or_default();
        let hashes: BTreeMap<&str, &config::ShadowEntry> =
            shadow.iter().map(|s| (s.name.as_str(), s)).collect();
        let mut found = Vec::new();
        for account in &self.passwd {
            let (hash, file, line) = match hashes.get(account.name.as_str()) {
                Some(s) => (s.hash.as_str(), "/etc/shadow", s.line),
                None => (account.password.as_str(), "/etc/passwd", account.line),
            };
            if hash.is_empty() {
                found.push((
                    CheckId::AccountEmptyPassword,
                    file,
                    line,
                    format!("account `{}` has an empty password", account.name),
                    format!("{file}:{line}: password field is empty"),
                ));
            } else if config::password_usable(hash)
                && !self.policy.password_users.contains(&account.name)
            {
                let scheme = hash.split('$').nth(1).unwrap_or("des");
                found.push((
                    CheckId::AccountPassword,
                    file,
                    line,
                    format!("account `{}` has a usable password", account.name),
                    format!("{file}:{line}: password hash of scheme `{scheme}`"),
                ));
            }
            if !config::NO_LOGIN_SHELLS.contains(&account.shell.as_str())
                && !self.policy.login_users.contains(&account.name)
            {
                found.push((
                    CheckId::AccountLoginShell,
                    "/etc/passwd",
                    account.line,
                    format!(
                        "account `{}` has login shell `{}`",
                        account.name, account.shell
                    ),
                    format!(
                        "/etc/passwd:{}: uid {} shell {}",
                        account.line, account.uid, account.shell
                    ),
                ));
            }
        }
        // The docker group: its members and the accounts whose primary group it is.
        if let Some(group) = self.groups.iter().find(|g| g.name == "docker") {
            let mut members: BTreeMap<String, String> = group
                .members
                .iter()
                .map(|m| (m.clone(), format!("/etc/group:{}: member", group.line)))
                .collect();
            for account in &self.passwd {
                if account.gid == group.gid {
                    members
                        .entry(account.name.clone())
                        .or_insert_with(|| format!("/etc/passwd:{}: primary group", account.line));
                }
            }
            for (member, how) in members {
                if !self.policy.docker_members.contains(&member) {
                    found.push((
                        CheckId::DockerGroupMember,
                        "/etc/group",
                        group.line,
                        format!("`{member}` is in the docker group"),
                        format!(
                            "{how}; trusted members: {}",
                            join_or_none(Some(&self.policy.docker_members))
                        ),
                    ));
                }
            }
        }
        for (id, file, line, message, evidence) in found {
            self.emit(id, file, Some(line), message, evidence);
        }
    }
}
