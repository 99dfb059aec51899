//! `audit`: checks a host root or an image against what a hardened Alpine Docker host should
//! be (and, when given, against its profile), and reports findings with evidence.
//!
//! The checks are data ([`CHECKS`]): each has a stable kebab-case id, a title, a severity, the
//! CIS Docker Benchmark (v1.6.0) section it maps to where there is one (the benchmark assumes
//! systemd: `docker.service` is OpenRC's `/etc/init.d/docker`, `docker.socket` is
//! `/run/docker.sock`, `/etc/default/docker` is `/etc/conf.d/docker`), and a remediation.
//!
//! Invariants: the audit only reads the root through [`RootFs`] (never the machine it runs
//! on); the time is passed in, never read; findings are sorted, so the same root gives the
//! same report; a file that cannot be read becomes an `unreadable-file` finding rather than
//! an abort.

pub mod config;
pub mod docker;
pub mod live;
pub mod sarif;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::finding::Severity;
use crate::profile::Profile;
use crate::rootfs::{Kind, Metadata, RootFs};

use config::{Cidr, SshdConfig};

/// The area of the host a check belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    /// Release, services, packages.
    Os,
    /// SSH, accounts, privileges.
    Access,
    /// Audit rules and log forwarding.
    Logging,
    /// The firewall.
    Network,
    /// The Docker daemon and its files.
    Docker,
    /// Running containers' settings.
    Containers,
    /// Read-only root, permissions.
    Immutability,
    /// The audit itself.
    Audit,
}

impl Area {
    /// The stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Os => "os",
            Area::Access => "access",
            Area::Logging => "logging",
            Area::Network => "network",
            Area::Docker => "docker",
            Area::Containers => "containers",
            Area::Immutability => "immutability",
            Area::Audit => "audit",
        }
    }
}

/// One check, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable kebab-case id (the SARIF rule id).
    pub id: &'static str,
    /// What is wrong when it fires, in one line.
    pub title: &'static str,
    /// The area it belongs to.
    pub area: Area,
    /// How serious a finding is.
    pub severity: Severity,
    /// CIS Docker Benchmark v1.6.0 sections, mapped to OpenRC and Alpine places.
    pub cis: &'static str,
    /// How to fix it.
    pub remediation: &'static str,
}

macro_rules! checks {
    ($( $id:literal, $area:ident, $sev:ident, $cis:literal, $title:literal, $fix:literal; )*) => {
        /// Every check the audit runs, in report order.
        pub const CHECKS: &[Check] = &[
            $( Check { id: $id, title: $title, area: Area::$area, severity: Severity::$sev, cis: $cis, remediation: $fix }, )*
        ];
    };
}

checks! {
    "os-release-unknown", Os, Medium, "",
        "the Alpine release cannot be determined",
        "Ship /etc/alpine-release and /etc/os-release from alpine-release and alpine-baselayout-data.";
    "os-release-unsupported", Os, High, "",
        "the Alpine release is past its end of support, or is not a stable release",
        "Rebuild the host on a supported Alpine stable release and redeploy.";
    "os-release-ending", Os, Low, "",
        "the Alpine release reaches its end of support within 90 days",
        "Plan the move to the next Alpine stable release and redeploy before the end of support.";
    "os-release-unlisted", Os, Info, "",
        "the Alpine release is newer than basalt's release table; its support window is not checked",
        "Update basalt to a version that knows this release.";
    "service-not-in-profile", Os, Medium, "",
        "an OpenRC service is enabled that the profile does not declare",
        "Remove the service from its runlevel (rc-update del SERVICE RUNLEVEL), or declare it in the profile's [services].";
    "service-not-enabled", Os, Medium, "",
        "a service the profile declares is not enabled in its runlevel",
        "Enable the service in the declared runlevel (rc-update add SERVICE RUNLEVEL) and rebuild.";
    "package-not-in-profile", Os, Medium, "",
        "a package is installed on request (in /etc/apk/world) that the profile does not list",
        "Remove the package (apk del NAME) and rebuild from the profile, or add it to the profile's [packages].";
    "package-application", Os, Medium, "",
        "an application that belongs in a container is installed on the host",
        "Run the application in a container and remove the package and whatever pulled it in from the host.";
    "ssh-password-auth", Access, High, "",
        "SSH accepts password logins",
        "Set `PasswordAuthentication no` in /etc/ssh/sshd_config (before any Include that could set it first).";
    "ssh-kbd-interactive", Access, High, "",
        "SSH accepts keyboard-interactive logins",
        "Set `KbdInteractiveAuthentication no` in /etc/ssh/sshd_config.";
    "ssh-root-login", Access, High, "",
        "SSH permits root logins",
        "Set `PermitRootLogin no` in /etc/ssh/sshd_config; administrators log in as themselves and use doas.";
    "ssh-empty-passwords", Access, Critical, "",
        "SSH permits accounts with empty passwords to log in",
        "Set `PermitEmptyPasswords no` in /etc/ssh/sshd_config.";
    "ssh-pubkey-off", Access, Medium, "",
        "SSH public key authentication is turned off",
        "Set `PubkeyAuthentication yes` in /etc/ssh/sshd_config.";
    "ssh-allow-list", Access, Medium, "",
        "SSH logins are not restricted to the declared users or groups",
        "Set `AllowUsers` or `AllowGroups` in /etc/ssh/sshd_config to the profile's SSH users or groups.";
    "ssh-match-override", Access, High, "",
        "a Match block re-enables a login method the global settings turn off",
        "Remove the weakening directive from the Match block in the sshd configuration.";
    "account-empty-password", Access, Critical, "",
        "an account has an empty password",
        "Lock the password (passwd -l NAME) or remove the account.";
    "account-password", Access, High, "",
        "an account has a usable password",
        "Lock the password (passwd -l NAME); logins use SSH keys.";
    "account-login-shell", Access, Medium, "",
        "a system or undeclared account has a login shell",
        "Set the account's shell to /sbin/nologin, or declare the user in the profile.";
    "docker-group-member", Access, High, "1.1.2",
        "an account is in the docker group without being trusted (docker group members are root-equivalent)",
        "Remove the account from the docker group (/etc/group), or declare it in the profile's docker members.";
    "privilege-rule", Access, High, "",
        "a doas or sudo rule grants privileges to a user or group that is not trusted",
        "Remove the rule from /etc/doas.conf (or /etc/doas.d, /etc/sudoers), or grant it to the trusted administrators only.";
    "privilege-nopass", Access, Medium, "",
        "a doas or sudo rule needs no password",
        "Remove `nopass` (doas) or `NOPASSWD:` (sudo) from the rule.";
    "auditd-not-enabled", Logging, Medium, "1.1.3",
        "auditd is not enabled at boot",
        "Install audit and enable it: rc-update add auditd default.";
    "audit-docker-watch", Logging, Medium, "1.1.3-1.1.18",
        "a Docker path is not watched by an audit rule",
        "Add `-w PATH -p rwxa -k docker` for the path to /etc/audit/rules.d/docker.rules (or /etc/audit/audit.rules).";
    "audit-auth-events", Logging, Medium, "",
        "login and authentication events are not all audited",
        "Watch the account files and login records: `-w /etc/passwd -p wa -k identity`, `-w /etc/shadow -p wa -k identity`, `-w /etc/group -p wa -k identity`, `-w /var/log/lastlog -p wa -k logins`, and keep sshd's LogLevel at INFO or above.";
    "log-forwarding", Logging, Medium, "",
        "logs are not forwarded to a remote host by an enabled syslog daemon",
        "Forward every facility (auth included) to the log host: a syslog-ng network() destination used by a log statement, or busybox syslogd -R HOST in /etc/conf.d/syslog, and enable that service.";
    "log-forwarding-udp", Logging, Low, "",
        "logs are forwarded over UDP, without delivery guarantee or encryption",
        "Forward over TCP, with TLS where the log host supports it (syslog-ng network(transport(\"tls\"))).";
    "firewall-not-enabled", Network, High, "",
        "no firewall is enabled at boot",
        "Install nftables, write the ruleset to /etc/nftables.nft and enable it: rc-update add nftables boot.";
    "firewall-input-policy", Network, High, "",
        "the firewall does not drop inbound traffic by default",
        "Give the input chain `policy drop;` and admit only loopback, established/related traffic and the declared services.";
    "firewall-ssh-open", Network, Medium, "",
        "the firewall admits SSH from sources outside the trusted networks",
        "Restrict the SSH rule to the trusted networks, e.g. `tcp dport 22 ip saddr { 10.0.0.0/8 } accept`.";
    "docker-daemon-json-invalid", Docker, High, "",
        "/etc/docker/daemon.json is not a valid JSON object (dockerd will not start)",
        "Fix the JSON syntax of /etc/docker/daemon.json.";
    "docker-icc", Docker, Medium, "2.2",
        "containers on the default bridge can talk to each other (icc)",
        "Set `\"icc\": false` in /etc/docker/daemon.json.";
    "docker-log-level", Docker, Low, "2.3",
        "the Docker daemon does not log at info level",
        "Remove `log-level` or set it to \"info\" in /etc/docker/daemon.json.";
    "docker-iptables", Docker, Medium, "2.4",
        "Docker is not allowed to manage iptables rules",
        "Remove `\"iptables\": false` from /etc/docker/daemon.json.";
    "docker-insecure-registry", Docker, High, "2.5",
        "Docker trusts insecure (plain HTTP or unverified) registries",
        "Remove `insecure-registries` from /etc/docker/daemon.json and serve registries over verified TLS.";
    "docker-tcp-without-tls", Docker, Critical, "2.7",
        "the Docker API listens on TCP without TLS client verification",
        "Listen on the Unix socket only, or set tlsverify with tlscacert, tlscert and tlskey in /etc/docker/daemon.json.";
    "docker-userns-remap", Docker, Low, "2.9",
        "user namespace remapping is not enabled",
        "Set `\"userns-remap\": \"default\"` in /etc/docker/daemon.json where the workloads allow it.";
    "docker-log-driver", Docker, Medium, "2.13",
        "container logs stay on the host instead of going to central logging",
        "Set `\"log-driver\": \"syslog\"` in /etc/docker/daemon.json (forwarded with the host's logs).";
    "docker-no-new-privileges", Docker, Medium, "2.14",
        "containers may acquire new privileges by default",
        "Set `\"no-new-privileges\": true` in /etc/docker/daemon.json.";
    "docker-live-restore", Docker, Low, "2.15",
        "live restore is not enabled",
        "Set `\"live-restore\": true` in /etc/docker/daemon.json.";
    "docker-userland-proxy", Docker, Low, "2.16",
        "the userland proxy is enabled",
        "Set `\"userland-proxy\": false` in /etc/docker/daemon.json.";
    "docker-experimental", Docker, Low, "2.18",
        "experimental Docker features are enabled",
        "Remove `\"experimental\": true` from /etc/docker/daemon.json.";
    "docker-file-owner", Docker, Medium, "3.1, 3.5, 3.7, 3.9, 3.11, 3.13, 3.15, 3.17, 3.19, 3.23",
        "a Docker file is not owned as the benchmark requires",
        "chown the file to root:root (the Docker socket: root:docker).";
    "docker-file-mode", Docker, Medium, "3.2, 3.6, 3.8, 3.10, 3.12, 3.14, 3.16, 3.18, 3.20, 3.24",
        "a Docker file's permissions are wider than the benchmark allows",
        "chmod the file to the mode named in the finding or stricter.";
    "container-privileged", Containers, Critical, "5.4",
        "a container runs privileged",
        "Run the container without --privileged; add only the capabilities it needs.";
    "container-sensitive-mount", Containers, High, "5.5",
        "a container mounts a sensitive host directory",
        "Remove the bind mount; give the container a volume or only the files it needs, read-only.";
    "container-sensitive-path", Containers, Medium, "5.5",
        "a container mounts a path inside a sensitive host directory",
        "Move the file out of the sensitive directory into a dedicated volume, mounted read-only.";
    "container-docker-socket", Containers, Critical, "5.31",
        "a container mounts the Docker socket (root on the host)",
        "Remove the Docker socket bind mount.";
    "container-host-network", Containers, High, "5.9",
        "a container shares the host's network namespace",
        "Run the container on a bridge or user-defined network instead of --network host.";
    "container-host-pid", Containers, High, "5.15",
        "a container shares the host's process namespace",
        "Remove --pid host.";
    "container-host-ipc", Containers, Medium, "5.16",
        "a container shares the host's IPC namespace",
        "Remove --ipc host.";
    "root-not-readonly", Immutability, High, "",
        "the root file system is not mounted read-only",
        "Mount / read-only in /etc/fstab (`ro` option) and keep state on the declared volumes.";
    "state-volume-missing", Immutability, High, "",
        "a state volume is not mounted where /etc/fstab puts it, so what is written there does not survive a reboot (a live host only)",
        "Attach the volume /etc/fstab names (its LABEL= or UUID=) and reboot; until then nothing written below its path is kept.";
    "world-writable", Immutability, Medium, "",
        "a file or directory outside the temporary paths is world-writable",
        "Remove the write permission for others (chmod o-w PATH).";
    "setuid-binary", Immutability, Medium, "",
        "a setuid or setgid binary is outside the allow-list",
        "Remove the setuid/setgid bit (chmod u-s,g-s PATH) or the package that ships it.";
    "unreadable-file", Audit, Low, "",
        "a file the audit needs could not be read, so its checks are incomplete",
        "Run the audit with permission to read the file, or repair it.";
}

/// The check with `id`.
#[must_use]
pub fn check(id: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|c| c.id == id)
}

/// One problem found, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// The check's id.
    pub check: &'static str,
    /// The check's severity.
    pub severity: Severity,
    /// The file concerned, absolute inside the root.
    pub path: String,
    /// The line in that file, when one line is the cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// What was found.
    pub message: String,
    /// The facts that show it (setting values, where they come from).
    pub evidence: String,
}

/// A check that did not apply to this root, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Skipped {
    /// The check's id.
    pub check: &'static str,
    /// Why it did not apply.
    pub reason: String,
}

/// The result of an audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The root audited, as given.
    pub root: String,
    /// The Alpine release found, when known.
    pub release: Option<String>,
    /// The number of checks in the table.
    pub checks: usize,
    /// Findings, most severe first, then by check and path.
    pub findings: Vec<Finding>,
    /// Checks that did not apply.
    pub skipped: Vec<Skipped>,
}

impl Report {
    /// The most severe finding's severity.
    #[must_use]
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Whether any finding is at or above `threshold`.
    #[must_use]
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= threshold)
    }

    /// The number of findings at each severity.
    #[must_use]
    pub fn counts(&self) -> BTreeMap<Severity, usize> {
        let mut out = BTreeMap::new();
        for f in &self.findings {
            *out.entry(f.severity).or_insert(0) += 1;
        }
        out
    }

    /// The ids of the checks that fired, sorted and deduplicated.
    #[must_use]
    pub fn fired(&self) -> BTreeSet<&'static str> {
        self.findings.iter().map(|f| f.check).collect()
    }
}

/// What the host is expected to be: built from a profile, or [`AuditPolicy::default`] for a
/// hardened Docker host when there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPolicy {
    /// Services allowed in each runlevel (`sysinit`, `boot`, `default`, `shutdown`).
    pub services: BTreeMap<String, BTreeSet<String>>,
    /// Whether every service above must be enabled (true when it comes from a profile).
    pub require_services: bool,
    /// Packages the profile installs on request; `None` skips `package-not-in-profile`.
    pub packages: Option<BTreeSet<String>>,
    /// Accounts that may have a login shell.
    pub login_users: BTreeSet<String>,
    /// Accounts that may have a usable password.
    pub password_users: BTreeSet<String>,
    /// Trusted members of the `docker` group.
    pub docker_members: BTreeSet<String>,
    /// Users and `:groups` that doas/sudo rules may name.
    pub privileged: BTreeSet<String>,
    /// Users SSH should admit (`AllowUsers`); empty: any restriction is accepted.
    pub ssh_users: BTreeSet<String>,
    /// Groups SSH should admit (`AllowGroups`).
    pub ssh_groups: BTreeSet<String>,
    /// Networks SSH may be reached from; empty: any source restriction is accepted.
    pub trusted_networks: Vec<Cidr>,
    /// Whether a missing `userns-remap` is reported (a profile that does not enable it turns
    /// the check off).
    pub userns_remap: bool,
    /// Setuid/setgid binaries allowed.
    pub setuid_allowed: BTreeSet<String>,
    /// Paths where world-writable entries are expected (tmpfs at runtime).
    pub temporary_paths: Vec<String>,
    /// Extra paths the audit rules must watch (the profile's own watches).
    pub audit_watches: Vec<String>,
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for AuditPolicy {
    fn default() -> Self {
        let mut services = BTreeMap::new();
        services.insert(
            "sysinit".to_owned(),
            set(&["devfs", "dmesg", "mdev", "hwdrivers", "cgroups"]),
        );
        services.insert(
            "boot".to_owned(),
            set(&[
                "bootmisc",
                "hostname",
                "hwclock",
                "modules",
                "sysctl",
                "syslog",
                "syslog-ng",
                "seedrng",
                "urandom",
                "swap",
                "networking",
                "nftables",
                "iptables",
                "ip6tables",
                "auditd",
            ]),
        );
        services.insert(
            "default".to_owned(),
            set(&[
                "sshd",
                "chronyd",
                "docker",
                "containerd",
                "nftables",
                "auditd",
                "syslog-ng",
                "crond",
                "acpid",
                "local",
            ]),
        );
        services.insert(
            "shutdown".to_owned(),
            set(&["killprocs", "mount-ro", "savecache"]),
        );
        AuditPolicy {
            services,
            require_services: false,
            packages: None,
            login_users: set(&["root"]),
            password_users: BTreeSet::new(),
            docker_members: BTreeSet::new(),
            privileged: set(&["root", ":wheel"]),
            ssh_users: BTreeSet::new(),
            ssh_groups: BTreeSet::new(),
            trusted_networks: Vec::new(),
            userns_remap: true,
            setuid_allowed: set(&["/bin/bbsuid", "/usr/bin/doas"]),
            temporary_paths: vec![
                "/tmp".to_owned(),
                "/var/tmp".to_owned(),
                "/dev/shm".to_owned(),
                "/run".to_owned(),
                "/var/run".to_owned(),
                "/var/lock".to_owned(),
            ],
            audit_watches: Vec::new(),
        }
    }
}

impl AuditPolicy {
    /// The expectations of a host built from `profile`: exactly its services, its packages,
    /// its users and docker group members, its SSH allow-lists, trusted networks, audit
    /// watches and temporary paths.
    #[must_use]
    pub fn from_profile(profile: &Profile) -> Self {
        let mut p = AuditPolicy {
            require_services: true,
            ..AuditPolicy::default()
        };
        p.services = crate::profile::Runlevel::ALL
            .iter()
            .map(|level| {
                (
                    level.as_str().to_owned(),
                    profile
                        .services
                        .runlevels
                        .get(level)
                        .cloned()
                        .unwrap_or_default(),
                )
            })
            .collect();
        p.packages = Some(
            profile
                .packages
                .install
                .iter()
                .filter(|a| !a.starts_with('!'))
                .map(|a| crate::profile::atom_name(a).to_owned())
                .collect(),
        );
        p.login_users
            .extend(profile.users.iter().map(|u| u.name.clone()));
        p.docker_members = profile
            .group("docker")
            .map(|g| g.members.clone())
            .unwrap_or_default();
        p.docker_members.extend(
            profile
                .users
                .iter()
                .filter(|u| u.group == "docker")
                .map(|u| u.name.clone()),
        );
        if let Some(ssh) = &profile.ssh {
            p.ssh_users.clone_from(&ssh.allow_users);
            p.ssh_groups.clone_from(&ssh.allow_groups);
        }
        if let Some(firewall) = &profile.firewall {
            p.trusted_networks = firewall
                .trusted
                .iter()
                .map(|c| Cidr {
                    addr: c.addr(),
                    prefix: c.prefix(),
                })
                .collect();
        }
        p.userns_remap = profile
            .docker
            .as_ref()
            .is_some_and(|d| d.userns_remap.is_some());
        for path in &profile.filesystem.ephemeral {
            if !p.temporary_paths.contains(path) {
                p.temporary_paths.push(path.clone());
            }
        }
        if let Some(audit) = &profile.audit {
            p.audit_watches = audit.watches.iter().map(|w| w.path.clone()).collect();
        }
        p
    }
}

/// The Docker paths every audit rule set must watch (the OpenRC places of CIS 1.1.3-1.1.18),
/// with the CIS section each maps to.
pub const DOCKER_WATCHES: &[(&str, &str)] = &[
    ("/usr/bin/dockerd", "1.1.3"),
    ("/usr/bin/containerd", "1.1.14"),
    ("/usr/bin/runc", "1.1.18"),
    ("/var/lib/docker", "1.1.5"),
    ("/etc/docker", "1.1.6"),
    ("/etc/docker/daemon.json", "1.1.11"),
    ("/etc/init.d/docker", "1.1.7"),
    ("/etc/conf.d/docker", "1.1.10"),
    ("/run/docker.sock", "1.1.9"),
];

/// Alpine stable releases and the day their `main` repository support ends.
pub const ALPINE_RELEASES: &[(&str, &str)] = &[
    ("3.12", "2022-05-01"),
    ("3.13", "2022-11-01"),
    ("3.14", "2023-05-01"),
    ("3.15", "2023-11-01"),
    ("3.16", "2024-05-23"),
    ("3.17", "2024-11-22"),
    ("3.18", "2025-05-09"),
    ("3.19", "2025-11-01"),
    ("3.20", "2026-04-01"),
    ("3.21", "2026-11-01"),
    ("3.22", "2027-05-01"),
    ("3.23", "2027-11-01"),
];

/// Packages that are applications rather than host plumbing: they belong in containers.
/// An entry ending in `*` matches a prefix.
pub const APPLICATIONS: &[&str] = &[
    "apache2",
    "nginx",
    "lighttpd",
    "haproxy",
    "caddy",
    "traefik",
    "squid",
    "varnish",
    "mariadb",
    "mysql",
    "postgresql*",
    "redis",
    "valkey",
    "memcached",
    "mongodb*",
    "sqlite",
    "influxdb",
    "couchdb",
    "rabbitmq-server",
    "mosquitto",
    "kafka",
    "zookeeper",
    "elasticsearch",
    "php*",
    "nodejs",
    "npm",
    "python3",
    "py3-pip",
    "ruby",
    "perl",
    "openjdk*",
    "go",
    "rust",
    "cargo",
    "gcc",
    "g++",
    "clang",
    "make",
    "build-base",
    "abuild",
    "git",
    "subversion",
    "postfix",
    "exim",
    "dovecot",
    "opensmtpd",
    "bind",
    "dnsmasq",
    "unbound",
    "samba",
    "nfs-utils",
    "vsftpd",
    "proftpd",
    "tftp-hpa",
    "busybox-extras",
    "telnet",
    "xorg-server",
    "xfce4",
    "grafana",
    "prometheus",
    "gitea",
    "jenkins",
    "wordpress",
    "nextcloud",
    "tomcat*",
];

fn is_application(name: &str) -> bool {
    APPLICATIONS
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *pattern,
        })
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian).
#[must_use]
pub fn days_from_date(date: &str) -> Option<i64> {
    let mut parts = date.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Checks a root against a policy. `now` is the time of the audit in seconds since the epoch
/// (`SOURCE_DATE_EPOCH` or the clock, read by the caller).
#[must_use]
pub fn audit(fs: &RootFs, policy: &AuditPolicy, now: i64) -> Report {
    let mut host = Host::new(fs, policy);
    let release = host.os_release(now);
    host.services();
    host.packages();
    host.ssh();
    host.accounts();
    host.privileges();
    host.audit_rules();
    host.log_forwarding();
    host.firewall();
    host.docker_daemon();
    host.docker_files();
    host.containers();
    host.immutability();
    host.state_volumes();
    let Host {
        mut findings,
        mut skipped,
        ..
    } = host;
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.check.cmp(b.check))
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.line.cmp(&b.line))
            .then_with(|| a.message.cmp(&b.message))
    });
    findings.dedup();
    skipped.sort();
    skipped.dedup();
    Report {
        root: fs.location().display().to_string(),
        release,
        checks: CHECKS.len(),
        findings,
        skipped,
    }
}

/// An installed package as the audit needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Package {
    name: String,
    depends: Vec<String>,
    provides: Vec<String>,
}

/// The name part of a dependency or world atom (`name>=1.0`, `name@tag`, `!name`).
fn atom_name(atom: &str) -> &str {
    let atom = atom.trim_start_matches('!');
    let end = atom.find(['<', '>', '=', '~', '@']).unwrap_or(atom.len());
    &atom[..end]
}

/// An sshd setting: keyword, alias, OpenSSH's default, the check, and when a value is weak.
type SshSetting = (
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
    fn(&str) -> bool,
);

struct Host<'a> {
    fs: &'a RootFs,
    policy: &'a AuditPolicy,
    findings: Vec<Finding>,
    skipped: Vec<Skipped>,
    /// service -> runlevels it is enabled in.
    enabled: BTreeMap<String, BTreeSet<String>>,
    runlevels_present: bool,
    world: Vec<String>,
    installed: Vec<Package>,
    passwd: Vec<config::PasswdEntry>,
    groups: Vec<config::GroupEntry>,
    sshd: Option<SshdConfig>,
    docker_installed: bool,
    daemon: Option<docker::DaemonSettings>,
}

impl<'a> Host<'a> {
    fn new(fs: &'a RootFs, policy: &'a AuditPolicy) -> Self {
        let mut host = Host {
            fs,
            policy,
            findings: Vec::new(),
            skipped: Vec::new(),
            enabled: BTreeMap::new(),
            runlevels_present: false,
            world: Vec::new(),
            installed: Vec::new(),
            passwd: Vec::new(),
            groups: Vec::new(),
            sshd: None,
            docker_installed: false,
            daemon: None,
        };
        host.load();
        host
    }

    fn emit(
        &mut self,
        id: &'static str,
        path: &str,
        line: Option<u32>,
        message: String,
        evidence: String,
    ) {
        let severity = check(id).map_or(Severity::Info, |c| c.severity);
        self.findings.push(Finding {
            check: id,
            severity,
            path: path.to_owned(),
            line,
            message,
            evidence,
        });
    }

    fn skip(&mut self, id: &'static str, reason: &str) {
        self.skipped.push(Skipped {
            check: id,
            reason: reason.to_owned(),
        });
    }

    /// The text of a file, or `None` when absent; an unreadable file is reported.
    fn text(&mut self, path: &str) -> Option<String> {
        match self.fs.read(path) {
            Ok(Some(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Ok(None) => None,
            Err(err) => {
                self.emit(
                    "unreadable-file",
                    path,
                    None,
                    format!("cannot read `{path}`"),
                    format!("{err}"),
                );
                None
            }
        }
    }

    fn meta(&mut self, path: &str) -> Option<Metadata> {
        match self.fs.symlink_metadata(path) {
            Ok(m) => m,
            Err(err) => {
                self.emit(
                    "unreadable-file",
                    path,
                    None,
                    format!("cannot inspect `{path}`"),
                    format!("{err}"),
                );
                None
            }
        }
    }

    fn exists(&mut self, path: &str) -> bool {
        matches!(self.fs.metadata(path), Ok(Some(_)))
    }

    fn list(&mut self, dir: &str) -> Vec<(String, Metadata)> {
        match self.fs.list_dir(dir) {
            Ok(list) => list.unwrap_or_default(),
            Err(err) => {
                self.emit(
                    "unreadable-file",
                    dir,
                    None,
                    format!("cannot list `{dir}`"),
                    format!("{err}"),
                );
                Vec::new()
            }
        }
    }

    /// The files of `dir` whose names end with `suffix`, sorted, with their text.
    fn dir_files(&mut self, dir: &str, suffix: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, meta) in self.list(dir) {
            if name.ends_with(suffix) && matches!(meta.kind, Kind::File | Kind::Symlink) {
                let path = format!("{dir}/{name}");
                if let Some(text) = self.text(&path) {
                    out.push((path, text));
                }
            }
        }
        out
    }

    fn load(&mut self) {
        // Services: /etc/runlevels/<level>/<service>.
        let levels = self.list("/etc/runlevels");
        self.runlevels_present = !levels.is_empty();
        for (level, meta) in levels {
            if meta.kind != Kind::Dir {
                continue;
            }
            for (service, _) in self.list(&format!("/etc/runlevels/{level}")) {
                if service.starts_with('.') {
                    continue;
                }
                self.enabled
                    .entry(service)
                    .or_default()
                    .insert(level.clone());
            }
        }
        if let Some(world) = self.text("/etc/apk/world") {
            self.world = world
                .split_whitespace()
                .map(|a| atom_name(a).to_owned())
                .filter(|a| !a.is_empty())
                .collect();
        }
        let db_path = "/lib/apk/db/installed";
        match self.fs.read(db_path) {
            Ok(Some(bytes)) => match crate::apk::installed::Database::parse(&bytes) {
                Ok(db) => {
                    self.installed = db
                        .packages
                        .into_iter()
                        .map(|p| Package {
                            name: p.name,
                            depends: p.depends,
                            provides: p.provides,
                        })
                        .collect();
                }
                Err(err) => self.emit(
                    "unreadable-file",
                    db_path,
                    None,
                    "the installed package database cannot be parsed".to_owned(),
                    err.to_string(),
                ),
            },
            Ok(None) => {}
            Err(err) => self.emit(
                "unreadable-file",
                db_path,
                None,
                format!("cannot read `{db_path}`"),
                err.to_string(),
            ),
        }
        if let Some(text) = self.text("/etc/passwd") {
            self.passwd = config::parse_passwd(&text);
        }
        if let Some(text) = self.text("/etc/group") {
            self.groups = config::parse_group(&text);
        }
        let installed = |name: &str, host: &Self| {
            host.installed.iter().any(|p| p.name == name) || host.world.iter().any(|w| w == name)
        };
        self.docker_installed = installed("docker", self)
            || installed("docker-engine", self)
            || self.exists("/usr/bin/dockerd")
            || self.exists("/etc/init.d/docker");
    }

    fn is_enabled(&self, service: &str) -> bool {
        self.enabled.contains_key(service)
    }

    // ------------------------------------------------------------ OS

    fn os_release(&mut self, now: i64) -> Option<String> {
        let mut path = "/etc/alpine-release";
        let mut version = self
            .text(path)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        if version.is_none() {
            path = "/etc/os-release";
            if let Some(text) = self.text(path) {
                let id = config::shell_assignments(&text, "ID");
                let vid = config::shell_assignments(&text, "VERSION_ID");
                if id.first().is_some_and(|(_, v)| v == "alpine") {
                    version = vid.first().map(|(_, v)| v.clone());
                }
            }
        }
        let Some(version) = version else {
            self.emit(
                "os-release-unknown",
                "/etc/alpine-release",
                None,
                "no Alpine release found".to_owned(),
                "neither /etc/alpine-release nor an Alpine /etc/os-release is present".to_owned(),
            );
            return None;
        };
        let branch: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
        let stable = version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && version.split('.').count() >= 2;
        if !stable {
            self.emit(
                "os-release-unsupported",
                path,
                Some(1),
                format!("Alpine `{version}` is not a stable release"),
                format!("{path}: {version}"),
            );
            return Some(version);
        }
        let today = now.div_euclid(86_400);
        match ALPINE_RELEASES.iter().find(|(b, _)| *b == branch) {
            Some((_, eol)) => {
                let end = days_from_date(eol).unwrap_or(i64::MAX);
                if today >= end {
                    self.emit(
                        "os-release-unsupported",
                        path,
                        Some(1),
                        format!("Alpine {version} reached its end of support on {eol}"),
                        format!("{path}: {version}; v{branch} supported until {eol}"),
                    );
                } else if end - today <= 90 {
                    self.emit(
                        "os-release-ending",
                        path,
                        Some(1),
                        format!("Alpine {version} reaches its end of support on {eol}"),
                        format!("{path}: {version}; {} days left", end - today),
                    );
                }
            }
            None => {
                let newest = ALPINE_RELEASES.last().map_or("", |(b, _)| *b);
                let older = version_key(&branch) < version_key(newest);
                if older {
                    self.emit(
                        "os-release-unsupported",
                        path,
                        Some(1),
                        format!("Alpine {version} is older than every release still tracked"),
                        format!("{path}: {version}"),
                    );
                } else {
                    self.emit(
                        "os-release-unlisted",
                        path,
                        Some(1),
                        format!("Alpine {version} is not in basalt's release table"),
                        format!("{path}: {version}; newest known branch v{newest}"),
                    );
                }
            }
        }
        Some(version)
    }

    fn services(&mut self) {
        let enabled = self.enabled.clone();
        for (service, levels) in &enabled {
            for level in levels {
                let allowed = self
                    .policy
                    .services
                    .get(level)
                    .is_some_and(|s| s.contains(service));
                if !allowed {
                    self.emit(
                        "service-not-in-profile",
                        &format!("/etc/runlevels/{level}/{service}"),
                        None,
                        format!("service `{service}` is enabled in runlevel `{level}`"),
                        format!(
                            "allowed in `{level}`: {}",
                            join_or_none(self.policy.services.get(level))
                        ),
                    );
                }
            }
        }
        if self.policy.require_services {
            let wanted = self.policy.services.clone();
            for (level, services) in &wanted {
                for service in services {
                    if !enabled.get(service).is_some_and(|l| l.contains(level)) {
                        self.emit(
                            "service-not-enabled",
                            &format!("/etc/runlevels/{level}/{service}"),
                            None,
                            format!("service `{service}` is not enabled in runlevel `{level}`"),
                            format!("/etc/runlevels/{level}/{service} does not exist"),
                        );
                    }
                }
            }
        } else {
            self.skip(
                "service-not-enabled",
                "no profile: the enabled services are not required",
            );
        }
    }

    fn packages(&mut self) {
        let by_name: BTreeMap<&str, &Package> = self
            .installed
            .iter()
            .map(|p| (p.name.as_str(), p))
            .collect();
        let mut providers: BTreeMap<&str, &str> = BTreeMap::new();
        for p in &self.installed {
            for provided in &p.provides {
                providers.entry(atom_name(provided)).or_insert(&p.name);
            }
        }
        let closure = |roots: &[&str]| -> BTreeSet<String> {
            let mut seen = BTreeSet::new();
            let mut stack: Vec<String> = roots.iter().map(|r| (*r).to_owned()).collect();
            while let Some(name) = stack.pop() {
                let Some(pkg) = by_name
                    .get(name.as_str())
                    .or_else(|| providers.get(name.as_str()).and_then(|p| by_name.get(p)))
                else {
                    continue;
                };
                if !seen.insert(pkg.name.clone()) {
                    continue;
                }
                for dep in &pkg.depends {
                    if dep.starts_with('!') {
                        continue;
                    }
                    stack.push(atom_name(dep).to_owned());
                }
            }
            seen
        };
        let mut found = Vec::new();
        if let Some(allowed) = &self.policy.packages {
            {
                let allowed_roots: Vec<&str> = self
                    .world
                    .iter()
                    .map(String::as_str)
                    .filter(|w| allowed.contains(*w))
                    .collect();
                let base = closure(&allowed_roots);
                for w in &self.world {
                    if allowed.contains(w) {
                        continue;
                    }
                    let extra: Vec<String> = closure(&[w.as_str()])
                        .into_iter()
                        .filter(|p| p != w && !base.contains(p))
                        .collect();
                    let evidence = if extra.is_empty() {
                        format!("/etc/apk/world lists `{w}`; it pulls in nothing else")
                    } else {
                        format!(
                            "/etc/apk/world lists `{w}`; it also pulls in: {}",
                            extra.join(", ")
                        )
                    };
                    found.push((
                        "package-not-in-profile",
                        format!("package `{w}` is installed but not in the profile"),
                        evidence,
                    ));
                }
            }
        }
        // Applications: installed ones, and why they are there.
        let names: BTreeSet<&str> = if self.installed.is_empty() {
            self.world.iter().map(String::as_str).collect()
        } else {
            self.installed.iter().map(|p| p.name.as_str()).collect()
        };
        for name in names {
            if !is_application(name) {
                continue;
            }
            let why = if self.world.iter().any(|w| w == name) {
                "requested in /etc/apk/world".to_owned()
            } else {
                let pulled_by: Vec<&str> = self
                    .world
                    .iter()
                    .map(String::as_str)
                    .filter(|w| closure(&[w]).contains(name))
                    .collect();
                format!("a dependency of: {}", join_list(&pulled_by))
            };
            found.push((
                "package-application",
                format!("application package `{name}` is installed on the host"),
                why,
            ));
        }
        if self.policy.packages.is_none() {
            self.skip(
                "package-not-in-profile",
                "no profile: the package list is not known",
            );
        }
        for (id, message, evidence) in found {
            self.emit(id, "/etc/apk/world", None, message, evidence);
        }
    }

    // ------------------------------------------------------------ access

    fn sshd_include(&mut self, arg: &str) -> Vec<(String, String)> {
        let path = if arg.starts_with('/') {
            arg.to_owned()
        } else {
            format!("/etc/ssh/{arg}")
        };
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

    fn ssh(&mut self) {
        const ID: [&str; 8] = [
            "ssh-password-auth",
            "ssh-kbd-interactive",
            "ssh-root-login",
            "ssh-empty-passwords",
            "ssh-pubkey-off",
            "ssh-allow-list",
            "ssh-match-override",
            "firewall-ssh-open",
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
                "ssh-password-auth",
                |v| v != "no",
            ),
            (
                "kbdinteractiveauthentication",
                Some("challengeresponseauthentication"),
                "yes",
                "ssh-kbd-interactive",
                |v| v != "no",
            ),
            (
                "permitrootlogin",
                None,
                "prohibit-password",
                "ssh-root-login",
                |v| v != "no",
            ),
            (
                "permitemptypasswords",
                None,
                "no",
                "ssh-empty-passwords",
                |v| v == "yes",
            ),
            ("pubkeyauthentication", None, "yes", "ssh-pubkey-off", |v| {
                v == "no"
            }),
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
                                "ssh-match-override",
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
                "ssh-allow-list",
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
                    "ssh-allow-list",
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
        if let Some(level) = config.get("loglevel") {
            let v = level
                .args
                .first()
                .map(|a| a.to_ascii_uppercase())
                .unwrap_or_default();
            if matches!(v.as_str(), "QUIET" | "FATAL" | "ERROR") {
                self.emit(
                    "audit-auth-events",
                    &level.file.clone(),
                    Some(level.line),
                    format!("sshd logs at `{v}`, which hides authentication events"),
                    format!("{}:{}: LogLevel {v}", level.file, level.line),
                );
            }
        }
        self.sshd = Some(config);
    }

    fn accounts(&mut self) {
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
                    "account-empty-password",
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
                    "account-password",
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
                    "account-login-shell",
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
                        "docker-group-member",
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

    fn privileges(&mut self) {
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
                    "privilege-rule",
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
                    "privilege-nopass",
                    &path,
                    Some(rule.line),
                    format!("`{}` gains privileges without a password", rule.identity),
                    format!("{path}:{}: {}", rule.line, rule.text),
                );
            }
        }
    }

    // ------------------------------------------------------------ audit and logs

    fn audit_rules(&mut self) {
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
                "auditd-not-enabled",
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
            let mut wanted: Vec<(String, String)> = DOCKER_WATCHES
                .iter()
                .map(|(p, c)| ((*p).to_owned(), format!("CIS {c}")))
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
                        "audit-docker-watch",
                        &rule_file,
                        None,
                        format!("`{path}` is not watched by an audit rule ({why})"),
                        rules_where.clone(),
                    );
                }
            }
        } else {
            self.skip("audit-docker-watch", "Docker is not installed");
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
                "audit-auth-events",
                &rule_file,
                None,
                format!("not audited: {}", missing.join(", ")),
                rules_where,
            );
        }
    }

    fn log_forwarding(&mut self) {
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
                "log-forwarding",
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
                    "log-forwarding-udp",
                    &path,
                    Some(f.line),
                    format!("logs are forwarded over UDP to `{}`", f.target),
                    format!("{path}:{}: {}", f.line, f.target),
                );
            }
        }
    }

    // ------------------------------------------------------------ network

    fn firewall(&mut self) {
        let nft = self.is_enabled("nftables");
        let ipt = self.is_enabled("iptables");
        if !nft && !ipt {
            self.emit(
                "firewall-not-enabled",
                "/etc/runlevels",
                None,
                "neither nftables nor iptables is enabled at boot".to_owned(),
                format!(
                    "enabled services: {}",
                    join_list(&self.enabled.keys().cloned().collect::<Vec<_>>())
                ),
            );
            self.skip("firewall-input-policy", "no firewall is enabled");
            self.skip("firewall-ssh-open", "no firewall is enabled");
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
                "firewall-input-policy",
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
                                Cidr::parse(s).is_none_or(|c| {
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
            self.emit("firewall-ssh-open", &file, Some(line), message, evidence);
        }
    }

    /// Files named by an include argument (absolute, or relative to `base`), with a glob in
    /// the last component.
    fn sshd_like_glob(&mut self, arg: &str, base: &str) -> Vec<(String, String)> {
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

    // ------------------------------------------------------------ docker

    fn docker_daemon(&mut self) {
        const IDS: [&str; 14] = [
            "docker-daemon-json-invalid",
            "docker-icc",
            "docker-log-level",
            "docker-iptables",
            "docker-insecure-registry",
            "docker-tcp-without-tls",
            "docker-userns-remap",
            "docker-log-driver",
            "docker-no-new-privileges",
            "docker-live-restore",
            "docker-userland-proxy",
            "docker-experimental",
            "docker-file-owner",
            "docker-file-mode",
        ];
        if !self.docker_installed {
            for id in IDS {
                self.skip(id, "Docker is not installed");
            }
            return;
        }
        let file = "/etc/docker/daemon.json";
        let mut settings = match self.fs.read(file) {
            Ok(Some(bytes)) => match docker::DaemonSettings::from_daemon_json(&bytes, file) {
                Ok(s) => s,
                Err(err) => {
                    self.emit(
                        "docker-daemon-json-invalid",
                        file,
                        None,
                        "daemon.json cannot be parsed".to_owned(),
                        err.to_string(),
                    );
                    return;
                }
            },
            Ok(None) => docker::DaemonSettings::default(),
            Err(err) => {
                self.emit(
                    "unreadable-file",
                    file,
                    None,
                    format!("cannot read `{file}`"),
                    err.to_string(),
                );
                docker::DaemonSettings::default()
            }
        };
        if let Some(text) = self.text("/etc/conf.d/docker") {
            for (_, opts) in config::shell_assignments(&text, "DOCKER_OPTS") {
                settings.apply_options(&opts, "/etc/conf.d/docker");
            }
        }
        let s = settings.clone();
        let flag = |host: &mut Self, id: &'static str, key: &str, weak: bool, shown: String| {
            if weak {
                let origin = s.origin_of(key);
                let path = if origin == "dockerd default" {
                    file.to_owned()
                } else {
                    origin.clone()
                };
                host.emit(
                    id,
                    &path,
                    None,
                    format!("Docker daemon setting `{key}` is `{shown}`"),
                    format!("{key} = {shown} ({origin})"),
                );
            }
        };
        let b = |v: Option<bool>, default: bool| v.unwrap_or(default);
        flag(
            self,
            "docker-icc",
            "icc",
            b(s.icc, true),
            b(s.icc, true).to_string(),
        );
        let level = s.log_level.clone().unwrap_or_else(|| "info".to_owned());
        flag(
            self,
            "docker-log-level",
            "log-level",
            level != "info",
            level,
        );
        flag(
            self,
            "docker-iptables",
            "iptables",
            !b(s.iptables, true),
            b(s.iptables, true).to_string(),
        );
        flag(
            self,
            "docker-insecure-registry",
            "insecure-registries",
            !s.insecure_registries.is_empty(),
            s.insecure_registries.join(", "),
        );
        let tcp: Vec<&String> = s.hosts.iter().filter(|h| h.starts_with("tcp://")).collect();
        let tls_ok = s.tlsverify == Some(true)
            && ["tlscacert", "tlscert", "tlskey"]
                .iter()
                .all(|k| s.tls_files.contains_key(*k));
        flag(
            self,
            "docker-tcp-without-tls",
            "hosts",
            !tcp.is_empty() && !tls_ok,
            format!(
                "{} (tlsverify {})",
                tcp.iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                s.tlsverify.unwrap_or(false)
            ),
        );
        let remap = s.userns_remap.clone().unwrap_or_default();
        if self.policy.userns_remap {
            flag(
                self,
                "docker-userns-remap",
                "userns-remap",
                remap.is_empty(),
                "unset".to_owned(),
            );
        } else {
            self.skip(
                "docker-userns-remap",
                "the profile does not enable userns-remap",
            );
        }
        let driver = s
            .log_driver
            .clone()
            .unwrap_or_else(|| "json-file".to_owned());
        flag(
            self,
            "docker-log-driver",
            "log-driver",
            matches!(driver.as_str(), "json-file" | "local" | "none"),
            driver,
        );
        flag(
            self,
            "docker-no-new-privileges",
            "no-new-privileges",
            !b(s.no_new_privileges, false),
            b(s.no_new_privileges, false).to_string(),
        );
        flag(
            self,
            "docker-live-restore",
            "live-restore",
            !b(s.live_restore, false),
            b(s.live_restore, false).to_string(),
        );
        flag(
            self,
            "docker-userland-proxy",
            "userland-proxy",
            b(s.userland_proxy, true),
            b(s.userland_proxy, true).to_string(),
        );
        flag(
            self,
            "docker-experimental",
            "experimental",
            b(s.experimental, false),
            "true".to_owned(),
        );
        self.daemon = Some(settings);
    }

    fn docker_files(&mut self) {
        if !self.docker_installed {
            return;
        }
        let docker_gid = self
            .groups
            .iter()
            .find(|g| g.name == "docker")
            .map(|g| g.gid);
        // (path, owner group: None = root, CIS owner, CIS mode, max mode)
        let mut files: Vec<(String, bool, &str, &str, u32)> = vec![
            ("/etc/init.d/docker".to_owned(), false, "3.1", "3.2", 0o755),
            ("/run/docker.sock".to_owned(), true, "3.15", "3.16", 0o660),
            ("/etc/docker".to_owned(), false, "3.5", "3.6", 0o755),
            (
                "/etc/docker/daemon.json".to_owned(),
                false,
                "3.17",
                "3.18",
                0o644,
            ),
            (
                "/etc/conf.d/docker".to_owned(),
                false,
                "3.19",
                "3.20",
                0o644,
            ),
            (
                "/run/containerd/containerd.sock".to_owned(),
                false,
                "3.23",
                "3.24",
                0o660,
            ),
        ];
        if let Some(settings) = &self.daemon {
            for (key, cis_o, cis_m, max) in [
                ("tlscacert", "3.9", "3.10", 0o444),
                ("tlscert", "3.11", "3.12", 0o444),
                ("tlskey", "3.13", "3.14", 0o400),
            ] {
                if let Some(p) = settings.tls_files.get(key) {
                    files.push((p.clone(), false, cis_o, cis_m, max));
                }
            }
        }
        // Registry certificates: /etc/docker/certs.d/<registry>/*.
        for (registry, meta) in self.list("/etc/docker/certs.d") {
            if meta.kind == Kind::Dir {
                for (name, m) in self.list(&format!("/etc/docker/certs.d/{registry}")) {
                    if m.kind == Kind::File {
                        files.push((
                            format!("/etc/docker/certs.d/{registry}/{name}"),
                            false,
                            "3.7",
                            "3.8",
                            0o444,
                        ));
                    }
                }
            }
        }
        for (path, docker_group, cis_owner, cis_mode, max) in files {
            let Some(meta) = self.meta(&path) else {
                continue;
            };
            let want_gid = if docker_group { docker_gid } else { Some(0) };
            let group_ok = match want_gid {
                Some(g) => meta.gid == g || (docker_group && meta.gid == 0),
                None => meta.gid == 0,
            };
            if meta.uid != 0 || !group_ok {
                let want = if docker_group {
                    "root:docker"
                } else {
                    "root:root"
                };
                self.emit(
                    "docker-file-owner",
                    &path,
                    None,
                    format!(
                        "`{path}` is owned by {}:{}, not {want} (CIS {cis_owner})",
                        meta.uid, meta.gid
                    ),
                    format!("uid {} gid {}", meta.uid, meta.gid),
                );
            }
            if meta.kind != Kind::Symlink && meta.mode & 0o7777 & !max != 0 {
                self.emit(
                    "docker-file-mode",
                    &path,
                    None,
                    format!(
                        "`{path}` has mode {:04o}, wider than {max:04o} (CIS {cis_mode})",
                        meta.mode
                    ),
                    format!("mode {:04o}", meta.mode),
                );
            }
        }
    }

    fn containers(&mut self) {
        const IDS: [&str; 7] = [
            "container-privileged",
            "container-sensitive-mount",
            "container-sensitive-path",
            "container-docker-socket",
            "container-host-network",
            "container-host-pid",
            "container-host-ipc",
        ];
        let dir = "/var/lib/docker/containers";
        let ids: Vec<String> = self
            .list(dir)
            .into_iter()
            .filter(|(_, m)| m.kind == Kind::Dir)
            .map(|(n, _)| n)
            .collect();
        if ids.is_empty() {
            for id in IDS {
                self.skip(id, "no container state under /var/lib/docker/containers");
            }
            return;
        }
        for id in ids {
            let config_path = format!("{dir}/{id}/config.v2.json");
            let host_path = format!("{dir}/{id}/hostconfig.json");
            let config = self.fs.read(&config_path);
            let hostconfig = self.fs.read(&host_path);
            let (config, hostconfig) = match (config, hostconfig) {
                (Ok(c), Ok(h)) => (c, h),
                (Err(err), _) | (_, Err(err)) => {
                    self.emit(
                        "unreadable-file",
                        &config_path,
                        None,
                        format!("cannot read container `{id}`"),
                        err.to_string(),
                    );
                    continue;
                }
            };
            if config.is_none() && hostconfig.is_none() {
                continue;
            }
            let container =
                match docker::parse_container(&id, config.as_deref(), hostconfig.as_deref()) {
                    Ok(c) => c,
                    Err(err) => {
                        self.emit(
                            "unreadable-file",
                            &config_path,
                            None,
                            format!("container `{id}` state cannot be parsed"),
                            err,
                        );
                        continue;
                    }
                };
            self.container(&container, &config_path, &host_path);
        }
    }

    fn container(&mut self, c: &docker::Container, config_path: &str, host_path: &str) {
        let who = if c.name.is_empty() {
            format!("container {}", short(&c.id))
        } else {
            format!("container `{}` ({})", c.name, short(&c.id))
        };
        if c.privileged {
            self.emit(
                "container-privileged",
                host_path,
                None,
                format!("{who} is privileged"),
                format!(
                    "{host_path}: HostConfig.Privileged = true; image {}",
                    c.image
                ),
            );
        }
        for (mode, id, what) in [
            (&c.network_mode, "container-host-network", "NetworkMode"),
            (&c.pid_mode, "container-host-pid", "PidMode"),
            (&c.ipc_mode, "container-host-ipc", "IpcMode"),
        ] {
            if mode == "host" {
                self.emit(
                    id,
                    host_path,
                    None,
                    format!("{who} uses the host's namespace ({what} host)"),
                    format!("{host_path}: HostConfig.{what} = \"host\""),
                );
            }
        }
        const SENSITIVE: [&str; 9] = [
            "/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr", "/root",
        ];
        for bind in &c.binds {
            let source = crate::rootfs::normalize(&bind.source);
            let access = if bind.rw { "read-write" } else { "read-only" };
            let evidence = format!(
                "{config_path}: bind {} -> {} ({access})",
                bind.source, bind.destination
            );
            if source.ends_with("/docker.sock") {
                self.emit(
                    "container-docker-socket",
                    config_path,
                    None,
                    format!("{who} mounts the Docker socket `{}`", bind.source),
                    evidence,
                );
            } else if SENSITIVE.contains(&source.as_str()) {
                self.emit(
                    "container-sensitive-mount",
                    config_path,
                    None,
                    format!(
                        "{who} mounts host directory `{source}` at `{}`",
                        bind.destination
                    ),
                    evidence,
                );
            } else if let Some(parent) = SENSITIVE
                .iter()
                .find(|s| **s != "/" && source.starts_with(&format!("{s}/")))
            {
                self.emit(
                    "container-sensitive-path",
                    config_path,
                    None,
                    format!(
                        "{who} mounts `{source}` from host directory `{parent}` at `{}`",
                        bind.destination
                    ),
                    evidence,
                );
            }
        }
    }

    // ------------------------------------------------------------ immutability

    fn immutability(&mut self) {
        match self.text("/etc/fstab") {
            None => self.emit(
                "root-not-readonly",
                "/etc/fstab",
                None,
                "there is no /etc/fstab, so / is mounted read-write".to_owned(),
                "/etc/fstab is absent".to_owned(),
            ),
            Some(text) => {
                let entries = config::parse_fstab(&text);
                match entries.iter().rev().find(|e| e.file == "/") {
                    Some(e) if e.options.iter().any(|o| o == "ro") => {}
                    Some(e) => self.emit(
                        "root-not-readonly",
                        "/etc/fstab",
                        Some(e.line),
                        "/ is mounted read-write".to_owned(),
                        format!(
                            "/etc/fstab:{}: {} / {} {}",
                            e.line,
                            e.spec,
                            e.vfstype,
                            e.options.join(",")
                        ),
                    ),
                    None => self.emit(
                        "root-not-readonly",
                        "/etc/fstab",
                        None,
                        "/etc/fstab has no entry for /, so it stays read-write".to_owned(),
                        format!(
                            "mount points in /etc/fstab: {}",
                            join_list(&entries.iter().map(|e| e.file.clone()).collect::<Vec<_>>())
                        ),
                    ),
                }
            }
        }
        let mut skip: Vec<&str> = vec![
            "/proc",
            "/sys",
            "/dev",
            "/var/lib/docker",
            "/var/lib/containerd",
        ];
        skip.extend(self.policy.temporary_paths.iter().map(String::as_str));
        let (entries, errors) = self.fs.walk_lossy(&skip);
        let total = errors.len();
        for err in errors.into_iter().take(MAX_WALK_ERRORS) {
            self.emit(
                "unreadable-file",
                "/",
                None,
                "part of the root cannot be walked; its permissions are not checked".to_owned(),
                err.to_string(),
            );
        }
        if total > MAX_WALK_ERRORS {
            self.emit(
                "unreadable-file",
                "/",
                None,
                format!("{} more entries cannot be walked", total - MAX_WALK_ERRORS),
                format!("{total} walk errors in all"),
            );
        }
        let mut found = Vec::new();
        for entry in entries {
            let m = entry.metadata;
            if matches!(m.kind, Kind::File | Kind::Dir) && m.mode & 0o002 != 0 {
                let sticky = if m.kind == Kind::Dir && m.mode & 0o1000 != 0 {
                    ", sticky"
                } else {
                    ""
                };
                found.push((
                    "world-writable",
                    format!("`{}` is world-writable", entry.path),
                    format!("{:?} mode {:04o}{sticky}", m.kind, m.mode).to_lowercase(),
                    entry.path.clone(),
                ));
            }
            if m.kind == Kind::File
                && m.mode & 0o6000 != 0
                && !self.policy.setuid_allowed.contains(&entry.path)
            {
                let bits = match m.mode & 0o6000 {
                    0o6000 => "setuid and setgid",
                    0o4000 => "setuid",
                    _ => "setgid",
                };
                found.push((
                    "setuid-binary",
                    format!("`{}` is {bits}", entry.path),
                    format!("mode {:04o} owner {}:{}", m.mode, m.uid, m.gid),
                    entry.path.clone(),
                ));
            }
        }
        for (id, message, evidence, path) in found {
            self.emit(id, &path, None, message, evidence);
        }
    }
}

/// The most walk errors reported one by one.
const MAX_WALK_ERRORS: usize = 20;

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn version_key(branch: &str) -> Vec<u64> {
    branch.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

fn join_list<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn join_or_none(items: Option<&BTreeSet<String>>) -> String {
    match items {
        Some(s) if !s.is_empty() => s.iter().cloned().collect::<Vec<_>>().join(", "),
        _ => "none".to_owned(),
    }
}

/// Shell-style matching of one path component: `*`, `?`, `[...]` (as sshd's `Include`).
fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char], budget: &mut u32) -> bool {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..], budget)),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..], budget),
            Some('[') => {
                let Some(end) = p.iter().skip(1).position(|c| *c == ']') else {
                    return n.first() == Some(&'[') && go(&p[1..], &n[1..], budget);
                };
                let class = &p[1..=end];
                let (negate, class) = match class.first() {
                    Some('!' | '^') => (true, &class[1..]),
                    _ => (false, class),
                };
                let Some(c) = n.first() else { return false };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= *c && *c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == *c;
                        i += 1;
                    }
                }
                hit != negate && go(&p[end + 2..], &n[1..], budget)
            }
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..], budget),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Hidden files are not matched by a wildcard, as glob(3).
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let mut budget = 100_000;
    go(&p, &n, &mut budget)
}

#[cfg(test)]
mod tests;
