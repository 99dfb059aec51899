//! Family `firewall`: a firewall is enabled at boot, drops inbound traffic by default and admits
//! SSH from the trusted networks only.

use std::collections::BTreeSet;

use super::CheckId;
use crate::profile::Cidr;

use super::config;
use super::host::{Host, glob_match, join_list};

impl Host<'_> {
    pub(super) fn firewall(&mut self) {
        let nft = self.is_enabled("nftables");
        let ipt = self.is_enabled("iptables");
        if !nft && !ipt {
            self.emit(
                CheckId::FirewallNotEnabled,
                "/etc/runlevels",
                None,
                "neither nftables nor iptables is enabled at boot".to_owned(),
                format!(
                    "enabled services: {}",
                    join_list(&self.enabled.keys().cloned().collect::<Vec<_>>())
                ),
            );
            self.skip(CheckId::FirewallInputPolicy, "no firewall is enabled");
            self.skip(CheckId::FirewallSshOpen, "no firewall is enabled");
            return;
        }
        let mut chains: Vec<(String, config::InputChain)> = Vec::new();
        let mut files = Vec::new();
        if nft {
            let rules_file = self
                .text("/etc/conf.d/nftables")
                .and_then(|t| config::shell_assignments(&t, "rules_file").pop())
                .map_or_else(|| "/etc/nftables.nft".to_owned(), |(_, v)| v);
            let mut queue = vec![rules_file];
            let mut seen = BTreeSet::new();
            while let Some(path) = queue.pop() {
                if !seen.insert(path.clone()) || seen.len() > 64 {
                    continue;
                }
                for (file, text) in self.sshd_like_glob(&path, "/etc") {
                    let ruleset = config::parse_nft(&text);
                    files.push(file.clone());
                    queue.extend(ruleset.includes.iter().cloned());
                    chains.extend(ruleset.inputs.into_iter().map(|c| (file.clone(), c)));
                }
            }
        }
        if ipt {
            let save = self
                .text("/etc/conf.d/iptables")
                .and_then(|t| config::shell_assignments(&t, "IPTABLES_SAVE").pop())
                .map_or_else(|| "/etc/iptables/rules-save".to_owned(), |(_, v)| v);
            if let Some(text) = self.text(&save) {
                files.push(save.clone());
                chains.extend(
                    config::parse_iptables_save(&text)
                        .inputs
                        .into_iter()
                        .map(|c| (save.clone(), c)),
                );
            }
        }
        let drops = chains.iter().any(|(_, c)| {
            let policy_drop = matches!(c.policy.as_str(), "drop" | "reject");
            let final_drop = c.rules.last().is_some_and(|r| {
                config::rule_unconditional(&r.words)
                    && matches!(config::rule_verdict(&r.words), Some("drop" | "reject"))
            });
            let open = c.rules.iter().any(|r| {
                config::rule_unconditional(&r.words)
                    && config::rule_verdict(&r.words) == Some("accept")
            });
            (policy_drop || final_drop) && !open
        });
        let first = files
            .first()
            .cloned()
            .unwrap_or_else(|| "/etc/nftables.nft".to_owned());
        if !drops {
            let evidence = if chains.is_empty() {
                format!("no input chain found in {}", join_list(&files))
            } else {
                chains
                    .iter()
                    .map(|(f, c)| format!("{f}:{}: {} policy {}", c.line, c.name, c.policy))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            self.emit(
                CheckId::FirewallInputPolicy,
                &first,
                chains.first().map(|(_, c)| c.line),
                "inbound traffic is not dropped by default".to_owned(),
                evidence,
            );
        }
        // SSH: ports from sshd_config, 22 by default.
        let mut ports: BTreeSet<String> = self
            .sshd
            .as_ref()
            .map(|c| {
                c.all("port")
                    .filter_map(|d| d.args.first().cloned())
                    .collect()
            })
            .unwrap_or_default();
        if ports.is_empty() {
            ports.insert("22".to_owned());
        }
        ports.insert("ssh".to_owned());
        let mut found = Vec::new();
        for (file, chain) in &chains {
            for rule in &chain.rules {
                if config::rule_verdict(&rule.words) != Some("accept") {
                    continue;
                }
                let Some(dports) = config::rule_values(&rule.words, "dport") else {
                    continue;
                };
                if !dports.iter().any(|p| ports.contains(p)) {
                    continue;
                }
                let text = rule.words.join(" ");
                match config::rule_values(&rule.words, "saddr") {
                    None => found.push((
                        file.clone(),
                        rule.line,
                        "SSH is admitted from any source".to_owned(),
                        format!("{file}:{}: {text}", rule.line),
                    )),
                    Some(sources) if !self.policy.trusted_networks.is_empty() => {
                        let outside: Vec<String> = sources
                            .iter()
                            .filter(|s| {
                                Cidr::lenient(s).is_none_or(|c| {
                                    !self.policy.trusted_networks.iter().any(|t| c.within(*t))
                                })
                            })
                            .cloned()
                            .collect();
                        if !outside.is_empty() {
                            found.push((
                                file.clone(),
                                rule.line,
                                format!("SSH is admitted from {}", outside.join(", ")),
                                format!(
                                    "{file}:{}: {text}; trusted networks: {}",
                                    rule.line,
                                    self.policy
                                        .trusted_networks
                                        .iter()
                                        .map(ToString::to_string)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            ));
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        for (file, line, message, evidence) in found {
            self.emit(
                CheckId::FirewallSshOpen,
                &file,
                Some(line),
                message,
                evidence,
            );
        }
    }

    /// Files named by an include argument (absolute, or relative to `base`), with a glob in
    /// the last component.
    pub(super) fn sshd_like_glob(&mut self, arg: &str, base: &str) -> Vec<(String, String)> {
        let path = if arg.starts_with('/') {
            arg.to_owned()
        } else {
            format!("{base}/{arg}")
        };
        let Some(i) = path.rfind('/') else {
            return Vec::new();
        };
        let (dir, pattern) = (&path[..i], &path[i + 1..]);
        if !pattern.contains(['*', '?', '[']) {
            return self
                .text(&path)
                .map(|t| vec![(path.clone(), t)])
                .unwrap_or_default();
        }
        let dir = if dir.is_empty() { "/" } else { dir };
        let mut out = Vec::new();
        for (name, _) in self.list(dir) {
            if glob_match(pattern, &name) {
                let file = format!("{}/{name}", dir.trim_end_matches('/'));
                if let Some(t) = self.text(&file) {
                    out.push((file, t));
                }
            }
        }
        out
    }
}
