//! The host configuration parsers of the audit on arbitrary text: no panic.
#![no_main]

use basalt::posture::audit::{config, docker, shell};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let mut include = |_: &str| vec![("/etc/ssh/inc".to_owned(), text.to_string())];
    let _ = config::parse_sshd(&text, "/etc/ssh/sshd_config", &mut include);
    let _ = config::parse_fstab(&text);
    let _ = config::parse_passwd(&text);
    let _ = config::parse_shadow(&text);
    let _ = config::parse_group(&text);
    let _ = config::parse_audit_rules(&text);
    for chain in config::parse_nft(&text).inputs {
        for rule in chain.rules {
            let _ = config::rule_values(&rule.words, "saddr");
            let _ = config::rule_verdict(&rule.words);
            let _ = config::rule_unconditional(&rule.words);
        }
    }
    let _ = config::parse_iptables_save(&text);
    let _ = config::parse_doas(&text);
    let _ = config::parse_sudoers(&text);
    let _ = config::parse_syslog_ng(&text);
    let _ = config::parse_rsyslog(&text);
    let _ = config::parse_busybox_syslog(&text);
    let _ = basalt::profile::Cidr::lenient(&text);
    let _ = docker::parse_container("id", Some(bytes), Some(bytes));
    let vars = shell::source(&text, &shell::Vars::new());
    let (words, _) = shell::words(&text, &vars);
    let options = docker::Options::parse(&words);
    if let Ok(mut settings) = docker::DaemonSettings::from_daemon_json(bytes, "daemon.json") {
        settings.apply(&options, "/etc/conf.d/docker:1");
        let _ = settings.tcp_hosts();
        let _ = settings.unix_sockets();
        let _ = settings.data_root();
    }
});
