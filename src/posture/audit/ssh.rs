//! Family `ssh`: sshd's effective settings (after `Include` and `Match`) allow key-only logins
//! by the declared users.

use super::CheckId;
use super::config;
use super::host::{Host, glob_match, join_list};

impl Host<'_> {
    /// The files an sshd `Include` argument names, with their text; each argument is read
    /// from the root once however often it is included.
    pub(super) fn sshd_include(&mut self, arg: &str) -> Vec<(String, String)> {
        let path = if arg.starts_with('/') {
            arg.to_owned()
        } else {
            format!("/etc/ssh/{arg}")
        };
        if let Some(files) = self.sshd_includes.get(&path) {
            return files.clone();
        }
        let files = self.sshd_include_read(&path);
        self.sshd_includes.insert(path, files.clone());
        files
    }

    fn sshd_include_read(&mut self, path: &str) -> Vec<(String, String)> {
        let path = path.to_owned();
        let (dir, pattern) = match path.rfind('/') {
            Some(i) => (path[..i].to_owned(), path[i + 1..].to_owned()),
            None => return Vec::new(),
        };
        if !pattern.contains(['*', '?', '[']) {
            return self
                .text(&path)
                .map(|t| vec![(path, t)])
                .unwrap_or_default();
        }
        let mut out = Vec::new();
        for (name, _) in self.list(if dir.is_empty() { "/" } else { &dir }) {
            if glob_match(&pattern, &name) {
                let file = format!("{dir}/{name}");
                if let Some(t) = self.text(&file) {
                    out.push((file, t));
                }
            }
        }
        out
    }

    pub(super) fn ssh(&mut self) {
        const ID: [CheckId; 8] = [
            CheckId::SshPasswordAuth,
            CheckId::SshKbdInteractive,
            CheckId::SshRootLogin,
            CheckId::SshEmptyPasswords,
            CheckId::SshPubkeyOff,
            CheckId::SshAllowList,
            CheckId::SshMatchOverride,
            CheckId::FirewallSshOpen,
        ];
        let file = "/etc/ssh/sshd_config";
        let text = self.text(file);
        let installed = text.is_some()
            || self.exists("/usr/sbin/sshd")
            || self.installed.iter().any(|p| p.name == "openssh-server");
        if !installed {
            for id in ID {
                self.skip(id, "openssh-server is not installed");
            }
            return;
        }
        let text = text.unwrap_or_default();
        let config = {
            let mut include = |arg: &str| self.sshd_include(arg);
            config::parse_sshd(&text, file, &mut include)
        };
        if let Some(why) = &config.truncated {
            self.emit(
                CheckId::UnreadableFile,
                file,
                None,
                "the sshd configuration is not read to its end: its Includes expand too far"
                    .to_owned(),
                why.clone(),
            );
        }
        // (keyword, aliases, weak when, check, default is weak)
        let value = |keyword: &str, alias: Option<&str>| -> (Option<String>, String, Option<u32>) {
            let d = config
                .get(keyword)
                .or_else(|| alias.and_then(|a| config.get(a)));
            match d {
                Some(d) => (
                    d.args.first().map(|a| a.to_ascii_lowercase()),
                    d.file.clone(),
                    Some(d.line),
                ),
                None => (None, file.to_owned(), None),
            }
        };
        let settings: [SshSetting; 5] = [
            (
                "passwordauthentication",
                None,
                "yes",
                CheckId::SshPasswordAuth,
                |v| v != "no",
            ),
            (
                "kbdinteractiveauthentication",
                Some("challengeresponseauthentication"),
                "yes",
                CheckId::SshKbdInteractive,
                |v| v != "no",
            ),
            (
                "permitrootlogin",
                None,
                "prohibit-password",
                CheckId::SshRootLogin,
                |v| v != "no",
            ),
            (
                "permitemptypasswords",
                None,
                "no",
                CheckId::SshEmptyPasswords,
                |v| v == "yes",
            ),
            (
                "pubkeyauthentication",
                None,
                "yes",
                CheckId::SshPubkeyOff,
                |v| v == "no",
            ),
        ];
        for (keyword, alias, default, id, weak) in settings {
            let (v, where_, line) = value(keyword, alias);
            let shown = v.clone().unwrap_or_else(|| default.to_owned());
            if weak(&shown) {
                let evidence = match line {
                    Some(l) => format!("{where_}:{l}: {keyword} {shown}"),
                    None => format!("{keyword} not set: OpenSSH's default is `{default}`"),
                };
                self.emit(
                    id,
                    &where_,
                    line,
                    format!("sshd effective setting `{keyword} {shown}`"),
                    evidence,
                );
            }
            for block in &config.matches {
                for d in &block.directives {
                    if d.keyword == keyword || alias.is_some_and(|a| d.keyword == a) {
                        let v = d
                            .args
                            .first()
                            .map(|a| a.to_ascii_lowercase())
                            .unwrap_or_default();
                        if weak(&v) && !weak(&shown) {
                            self.emit(
                                CheckId::SshMatchOverride,
                                &d.file,
                                Some(d.line),
                                format!("`Match {}` sets `{keyword} {v}`", block.criteria),
                                format!(
                                    "global value `{shown}`; {}:{}: {keyword} {v}",
                                    d.file, d.line
                                ),
                            );
                        }
                    }
                }
            }
        }
        // AllowUsers / AllowGroups.
        let users: Vec<String> = config
            .all("allowusers")
            .flat_map(|d| d.args.iter().cloned())
            .collect();
        let groups: Vec<String> = config
            .all("allowgroups")
            .flat_map(|d| d.args.iter().cloned())
            .collect();
        if users.is_empty() && groups.is_empty() {
            self.emit(
                CheckId::SshAllowList,
                file,
                None,
                "sshd admits every account (no AllowUsers or AllowGroups)".to_owned(),
                "neither AllowUsers nor AllowGroups is set".to_owned(),
            );
        } else {
            let strip = |u: &String| u.split('@').next().unwrap_or("").to_owned();
            let extra_users: Vec<String> = users
                .iter()
                .map(strip)
                .filter(|u| !self.policy.ssh_users.is_empty() && !self.policy.ssh_users.contains(u))
                .collect();
            let extra_groups: Vec<String> = groups
                .iter()
                .filter(|g| {
                    !self.policy.ssh_groups.is_empty() && !self.policy.ssh_groups.contains(*g)
                })
                .cloned()
                .collect();
            if !extra_users.is_empty() || !extra_groups.is_empty() {
                self.emit(
                    CheckId::SshAllowList,
                    file,
                    None,
                    "sshd admits users or groups beyond the declared ones".to_owned(),
                    format!(
                        "undeclared users: {}; undeclared groups: {}",
                        join_list(&extra_users),
                        join_list(&extra_groups)
                    ),
                );
            }
        }
        self.sshd = Some(config);
    }
}

/// An sshd setting: keyword, alias, OpenSSH's default, the check, and when a value is weak.
type SshSetting = (
    &'static str,
    Option<&'static str>,
    &'static str,
    CheckId,
    fn(&str) -> bool,
);
