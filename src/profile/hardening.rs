//! `hardening`: the defaults of a hardened container host, in one place. Validation fills a
//! profile's absent sections from them, rendering writes them into the configuration, and the
//! audit expects them of a host that has no profile.
//!
//! Invariant: what validation may enable by default the audit accepts by default (a default
//! image audits clean against the default expectations), and every default is as strict as,
//! or stricter than, what the package would do on its own.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::model::{Runlevel, SSH_KEYGEN_SERVICE, VERIFY_SERVICE};

/// Services every host enables, by runlevel: OpenRC's own base (`localmount` mounts the
/// `fstab` volumes the image declares).
pub const BASE_SERVICES: &[(Runlevel, &[&str])] = &[
    (Runlevel::Sysinit, &["devfs", "dmesg", "hwdrivers", "mdev"]),
    (
        Runlevel::Boot,
        &[
            "bootmisc",
            "hostname",
            "hwclock",
            "localmount",
            "modules",
            "sysctl",
        ],
    ),
    (Runlevel::Default, &[]),
    (Runlevel::Shutdown, &["killprocs", "mount-ro", "savecache"]),
];

/// What a profile installs that decides its default services.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct Installed {
    /// An SSH server is configured.
    pub ssh: bool,
    /// Docker is installed.
    pub docker: bool,
    /// auditd is installed.
    pub audit: bool,
    /// A firewall (nftables) is configured.
    pub firewall: bool,
    /// syslog-ng is installed (else busybox syslogd logs).
    pub syslog_ng: bool,
    /// chrony is installed.
    pub chrony: bool,
}

impl Installed {
    /// Everything installed: the widest set of default services.
    pub const ALL: Installed = Installed {
        ssh: true,
        docker: true,
        audit: true,
        firewall: true,
        syslog_ng: true,
        chrony: true,
    };
}

/// The services a profile without `[services]` enables, by runlevel.
#[must_use]
pub fn default_services(installed: &Installed) -> BTreeMap<Runlevel, BTreeSet<String>> {
    let mut runlevels: BTreeMap<Runlevel, BTreeSet<String>> = BASE_SERVICES
        .iter()
        .map(|(level, names)| (*level, names.iter().map(|s| (*s).to_owned()).collect()))
        .collect();
    let mut enable = |level: Runlevel, service: &str| {
        runlevels
            .entry(level)
            .or_default()
            .insert(service.to_owned());
    };
    enable(
        Runlevel::Boot,
        if installed.syslog_ng {
            "syslog-ng"
        } else {
            "syslog"
        },
    );
    if installed.firewall {
        enable(Runlevel::Boot, "nftables");
    }
    if installed.audit {
        enable(Runlevel::Boot, "auditd");
    }
    if installed.ssh {
        enable(Runlevel::Default, "sshd");
    }
    if installed.chrony {
        enable(Runlevel::Default, "chronyd");
    }
    if installed.docker {
        enable(Runlevel::Default, "docker");
    }
    runlevels
}

/// The services the generated configuration adds wherever its owner runs: the SSH host keys
/// are made before `sshd` (in `sshd`'s runlevel), the image verifies itself at boot.
pub const COMPANION_SERVICES: &[(Runlevel, &str)] = &[
    (Runlevel::Default, SSH_KEYGEN_SERVICE),
    (Runlevel::Boot, VERIFY_SERVICE),
];

/// Services a hardened Alpine container host may also run, which the audit accepts without a
/// profile: networking and entropy at boot, the legacy iptables firewall, cgroups, and
/// containerd, cron, acpid and `local` by default.
pub const ALSO_ACCEPTED: &[(Runlevel, &[&str])] = &[
    (Runlevel::Sysinit, &["cgroups"]),
    (
        Runlevel::Boot,
        &[
            "seedrng",
            "urandom",
            "swap",
            "networking",
            "iptables",
            "ip6tables",
            "apparmor",
        ],
    ),
    (
        Runlevel::Default,
        &[
            "containerd",
            "nftables",
            "auditd",
            "syslog-ng",
            "crond",
            "acpid",
            "local",
        ],
    ),
];

/// The services an audit without a profile accepts, by runlevel: every service a profile may
/// enable by default, its companions, and [`ALSO_ACCEPTED`].
#[must_use]
pub fn accepted_services() -> BTreeMap<Runlevel, BTreeSet<String>> {
    let mut runlevels = default_services(&Installed::ALL);
    // Busybox syslogd is the default without syslog-ng.
    runlevels
        .entry(Runlevel::Boot)
        .or_default()
        .insert("syslog".to_owned());
    for (level, service) in COMPANION_SERVICES {
        runlevels
            .entry(*level)
            .or_default()
            .insert((*service).to_owned());
    }
    for (level, services) in ALSO_ACCEPTED {
        runlevels
            .entry(*level)
            .or_default()
            .extend(services.iter().map(|s| (*s).to_owned()));
    }
    runlevels
}

/// Paths mounted as tmpfs when a profile has no `[filesystem] ephemeral`.
pub const EPHEMERAL: &[&str] = &["/run", "/tmp", "/var/cache", "/var/log", "/var/tmp"];

/// tmpfs options per ephemeral path: world-writable temporary directories are sticky and
/// never executable; `/run` keeps exec for the helpers some services run from it.
#[must_use]
pub fn tmpfs_options(path: &str) -> &'static str {
    match path {
        "/tmp" | "/var/tmp" => "nosuid,nodev,noexec,mode=1777",
        "/run" => "nosuid,nodev,mode=0755",
        _ => "nosuid,nodev,noexec,mode=0755",
    }
}

/// Where world-writable entries are expected on any host (tmpfs at runtime): the audit does
/// not report them there.
pub const TEMPORARY_PATHS: &[&str] = &[
    "/tmp",
    "/var/tmp",
    "/dev/shm",
    "/run",
    "/var/run",
    "/var/lock",
];

/// The setuid and setgid binaries a hardened host may have.
pub const SETUID_ALLOWED: &[&str] = &["/bin/bbsuid", "/usr/bin/doas"];

/// Docker's `daemon.json` safe defaults (CIS Docker Benchmark, section 2).
#[must_use]
pub fn docker_daemon() -> Map<String, Value> {
    let Value::Object(map) = json!({
        "icc": false,
        "live-restore": true,
        "no-new-privileges": true,
        "userland-proxy": false,
        "log-driver": "syslog",
        "log-opts": { "syslog-facility": "daemon", "tag": "docker/{{.Name}}" },
    }) else {
        return Map::new();
    };
    map
}

/// Whether the audit requires a watch on a Docker path always, or only when the root has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    /// Always: Docker's own places on Alpine (a watch on a path that appears later still
    /// applies).
    Always,
    /// When the root has it: files only some installations have.
    WhenPresent,
}

/// One path auditd watches on a host that runs Docker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DockerWatch {
    /// The watched path.
    pub path: &'static str,
    /// The CIS Docker Benchmark (v1.6.0) item that asks for the watch.
    pub cis: &'static str,
    /// When the audit requires it.
    pub needed: Needed,
    /// Whether generated audit rules carry it: the places of an Alpine host (systemd units
    /// and other distributions' option files are only checked where a root has them).
    pub rendered: bool,
}

const fn watch(
    path: &'static str,
    cis: &'static str,
    needed: Needed,
    rendered: bool,
) -> DockerWatch {
    DockerWatch {
        path,
        cis,
        needed,
        rendered,
    }
}

/// The paths auditd watches on every host that runs Docker (CIS Docker Benchmark v1.6.0
/// 1.1.3-1.1.18, at their OpenRC and Alpine places): the daemon, containerd and its shims,
/// runc, their state, sockets and configuration, and the OpenRC counterparts of
/// `docker.service`, `docker.socket` and `/etc/default/docker`. `/var/lib/docker` and the
/// Docker socket stand for the daemon's `data-root` and Unix sockets when its settings move
/// them.
pub const DOCKER_WATCHES: &[DockerWatch] = &[
    watch("/usr/bin/dockerd", "1.1.3", Needed::Always, true),
    watch("/run/containerd", "1.1.4", Needed::Always, true),
    watch("/var/lib/docker", "1.1.5", Needed::Always, true),
    watch("/etc/docker", "1.1.6", Needed::Always, true),
    watch("/etc/init.d/docker", "1.1.7", Needed::Always, true),
    watch(
        "/usr/lib/systemd/system/docker.service",
        "1.1.7",
        Needed::WhenPresent,
        false,
    ),
    watch(
        "/lib/systemd/system/docker.service",
        "1.1.7",
        Needed::WhenPresent,
        false,
    ),
    watch(
        "/etc/systemd/system/docker.service",
        "1.1.7",
        Needed::WhenPresent,
        false,
    ),
    watch(
        "/run/containerd/containerd.sock",
        "1.1.8",
        Needed::Always,
        true,
    ),
    watch("/run/docker.sock", "1.1.9", Needed::Always, true),
    watch(
        "/usr/lib/systemd/system/docker.socket",
        "1.1.9",
        Needed::WhenPresent,
        false,
    ),
    watch(
        "/lib/systemd/system/docker.socket",
        "1.1.9",
        Needed::WhenPresent,
        false,
    ),
    watch(
        "/etc/systemd/system/docker.socket",
        "1.1.9",
        Needed::WhenPresent,
        false,
    ),
    watch("/etc/conf.d/docker", "1.1.10", Needed::Always, true),
    watch("/etc/default/docker", "1.1.10", Needed::WhenPresent, false),
    watch("/etc/docker/daemon.json", "1.1.11", Needed::Always, true),
    watch(
        "/etc/containerd/config.toml",
        "1.1.12",
        Needed::WhenPresent,
        true,
    ),
    watch(
        "/etc/sysconfig/docker",
        "1.1.13",
        Needed::WhenPresent,
        false,
    ),
    watch("/usr/bin/containerd", "1.1.14", Needed::Always, true),
    watch(
        "/usr/bin/containerd-shim",
        "1.1.15",
        Needed::WhenPresent,
        true,
    ),
    watch(
        "/usr/bin/containerd-shim-runc-v1",
        "1.1.16",
        Needed::WhenPresent,
        true,
    ),
    watch(
        "/usr/bin/containerd-shim-runc-v2",
        "1.1.17",
        Needed::WhenPresent,
        true,
    ),
    watch("/usr/bin/runc", "1.1.18", Needed::Always, true),
];

/// Login and authentication events: account databases, privilege rules, session records
/// and the SSH daemon's configuration, with the audit key each is watched under.
pub const LOGIN_WATCHES: &[(&str, &str)] = &[
    ("/etc/passwd", "identity"),
    ("/etc/group", "identity"),
    ("/etc/shadow", "identity"),
    ("/etc/doas.conf", "privileges"),
    ("/etc/doas.d", "privileges"),
    ("/etc/ssh/sshd_config", "sshd"),
    ("/var/log/lastlog", "logins"),
    ("/var/run/utmp", "session"),
    ("/var/log/wtmp", "session"),
    ("/var/log/btmp", "session"),
];

/// Kernel hardening defaults (KSPP and CIS). Forwarding is left alone on Docker hosts, whose
/// daemon turns it on.
#[must_use]
pub fn sysctl(docker: bool) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = [
        ("fs.protected_fifos", "2"),
        ("fs.protected_hardlinks", "1"),
        ("fs.protected_regular", "2"),
        ("fs.protected_symlinks", "1"),
        ("fs.suid_dumpable", "0"),
        ("kernel.dmesg_restrict", "1"),
        ("kernel.kptr_restrict", "2"),
        ("kernel.randomize_va_space", "2"),
        ("kernel.sysrq", "0"),
        ("kernel.unprivileged_bpf_disabled", "1"),
        ("net.core.bpf_jit_harden", "2"),
        ("net.ipv4.conf.all.accept_redirects", "0"),
        ("net.ipv4.conf.all.accept_source_route", "0"),
        ("net.ipv4.conf.all.log_martians", "1"),
        ("net.ipv4.conf.all.rp_filter", "1"),
        ("net.ipv4.conf.all.secure_redirects", "0"),
        ("net.ipv4.conf.all.send_redirects", "0"),
        ("net.ipv4.conf.default.accept_redirects", "0"),
        ("net.ipv4.conf.default.accept_source_route", "0"),
        ("net.ipv4.conf.default.log_martians", "1"),
        ("net.ipv4.conf.default.rp_filter", "1"),
        ("net.ipv4.conf.default.secure_redirects", "0"),
        ("net.ipv4.conf.default.send_redirects", "0"),
        ("net.ipv4.icmp_echo_ignore_broadcasts", "1"),
        ("net.ipv4.icmp_ignore_bogus_error_responses", "1"),
        ("net.ipv4.tcp_rfc1337", "1"),
        ("net.ipv4.tcp_syncookies", "1"),
        ("net.ipv6.conf.all.accept_redirects", "0"),
        ("net.ipv6.conf.all.accept_source_route", "0"),
        ("net.ipv6.conf.default.accept_redirects", "0"),
        ("net.ipv6.conf.default.accept_source_route", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if !docker {
        map.insert("net.ipv4.ip_forward".into(), "0".into());
        map.insert("net.ipv6.conf.all.forwarding".into(), "0".into());
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever a profile enables by default, the audit accepts without a profile: the
    /// disagreement this module exists to prevent (`localmount` was once enabled at boot and
    /// reported by the audit).
    #[test]
    fn the_audit_accepts_every_default_service() {
        let accepted = accepted_services();
        for bits in 0u8..64 {
            let installed = Installed {
                ssh: bits & 1 != 0,
                docker: bits & 2 != 0,
                audit: bits & 4 != 0,
                firewall: bits & 8 != 0,
                syslog_ng: bits & 16 != 0,
                chrony: bits & 32 != 0,
            };
            for (level, services) in default_services(&installed) {
                for service in services {
                    assert!(
                        accepted.get(&level).is_some_and(|s| s.contains(&service)),
                        "{service} in {level:?} ({installed:?})"
                    );
                }
            }
        }
        for (level, service) in COMPANION_SERVICES {
            assert!(accepted[level].contains(*service), "{service}");
        }
        assert!(accepted[&Runlevel::Boot].contains("localmount"));
    }

    #[test]
    fn ephemeral_defaults_are_mounted_without_exec_where_world_writable() {
        for path in EPHEMERAL {
            let options = tmpfs_options(path);
            assert!(options.contains("nosuid,nodev"), "{path}");
        }
        assert!(tmpfs_options("/tmp").contains("noexec,mode=1777"));
    }
}
