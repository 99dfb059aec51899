//! The audit's checks as data: a typed id for each ([`CheckId`]), with its family, area,
//! severity, CIS Docker Benchmark (v1.6.0) sections, one-line description and remediation.
//!
//! Invariants: an id's text (`ssh-password-auth`) is stable, unique and kebab-case; it is the
//! SARIF rule id and appears in JSON. The table's order is the report's order, and
//! `CHECKS[id as usize].id == id`. Ids compare by their text, so sorting by id is sorting by
//! name.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::finding::Severity;

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

/// A family of checks: the checks one module of the audit runs over one part of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// The Alpine release and its support window ([`super::release`]).
    Release,
    /// OpenRC services in their runlevels ([`super::services`]).
    Services,
    /// Requested and application packages ([`super::packages`]).
    Packages,
    /// sshd's effective settings ([`super::ssh`]).
    Ssh,
    /// Passwords, login shells, the docker group ([`super::accounts`]).
    Accounts,
    /// doas and sudo rules ([`super::privileges`]).
    Privileges,
    /// auditd and its rules ([`super::audit_rules`]).
    AuditRules,
    /// Log forwarding ([`super::logs`]).
    Logs,
    /// The firewall ([`super::firewall`]).
    Firewall,
    /// The Docker daemon's settings ([`super::docker_daemon`]).
    DockerDaemon,
    /// Docker's files and sockets ([`super::docker_files`]).
    DockerFiles,
    /// Running containers' settings ([`super::containers`]).
    Containers,
    /// Read-only root, permissions, setuid ([`super::immutability`]).
    Immutability,
    /// The audit's own reading of the root (the private `host` module).
    Reading,
}

impl Family {
    /// Every family, in the order the audit runs them.
    pub const ALL: &[Family] = &[
        Family::Release,
        Family::Services,
        Family::Packages,
        Family::Ssh,
        Family::Accounts,
        Family::Privileges,
        Family::AuditRules,
        Family::Logs,
        Family::Firewall,
        Family::DockerDaemon,
        Family::DockerFiles,
        Family::Containers,
        Family::Immutability,
        Family::Reading,
    ];

    /// The stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Release => "release",
            Family::Services => "services",
            Family::Packages => "packages",
            Family::Ssh => "ssh",
            Family::Accounts => "accounts",
            Family::Privileges => "privileges",
            Family::AuditRules => "audit-rules",
            Family::Logs => "logs",
            Family::Firewall => "firewall",
            Family::DockerDaemon => "docker-daemon",
            Family::DockerFiles => "docker-files",
            Family::Containers => "containers",
            Family::Immutability => "immutability",
            Family::Reading => "reading",
        }
    }

    /// The checks of this family, in table order.
    pub fn checks(self) -> impl Iterator<Item = CheckId> {
        CheckId::ALL
            .iter()
            .copied()
            .filter(move |id| id.family() == self)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Its id (the SARIF rule id).
    pub id: CheckId,
    /// What is wrong when it fires, in one line.
    pub title: &'static str,
    /// The family (and module) that runs it.
    pub family: Family,
    /// The area it belongs to.
    pub area: Area,
    /// How serious a finding is.
    pub severity: Severity,
    /// The CIS Docker Benchmark v1.6.0 items it answers (mapped to OpenRC and Alpine places);
    /// each of its findings carries one of them. Empty for basalt's own checks.
    pub cis: &'static [&'static str],
    /// How to fix it.
    pub remediation: &'static str,
}

macro_rules! checks {
    ($( $variant:ident = $id:literal, $family:ident, $area:ident, $sev:ident, [$($cis:literal),*],
        $title:literal, $fix:literal; )*) => {
        /// The id of a check. Its text form (`as_str`, `Display`, JSON) is the stable
        /// kebab-case id.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum CheckId {
            $( #[doc = $title] $variant, )*
        }

        impl CheckId {
            /// Every check, in report order.
            pub const ALL: &[CheckId] = &[ $( CheckId::$variant, )* ];

            /// The stable kebab-case id.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $( CheckId::$variant => $id, )*
                }
            }
        }

        /// Every check the audit runs, in report order.
        pub const CHECKS: &[Check] = &[
            $( Check {
                id: CheckId::$variant,
                title: $title,
                family: Family::$family,
                area: Area::$area,
                severity: Severity::$sev,
                cis: &[$($cis),*],
                remediation: $fix,
            }, )*
        ];
    };
}

checks! {
    OsReleaseUnknown = "os-release-unknown", Release, Os, Medium, [],
        "the Alpine release cannot be determined",
        "Ship /etc/alpine-release and /etc/os-release from alpine-release and alpine-baselayout-data.";
    OsReleaseUnsupported = "os-release-unsupported", Release, Os, High, [],
        "the Alpine release is past its end of support, or is not a stable release",
        "Rebuild the host on a supported Alpine stable release and redeploy.";
    OsReleaseEnding = "os-release-ending", Release, Os, Low, [],
        "the Alpine release reaches its end of support within 90 days",
        "Plan the move to the next Alpine stable release and redeploy before the end of support.";
    OsReleaseUnlisted = "os-release-unlisted", Release, Os, Info, [],
        "the Alpine release is newer than basalt's release table; its support window is not checked",
        "Update basalt to a version that knows this release.";
    ServiceNotInProfile = "service-not-in-profile", Services, Os, Medium, [],
        "an OpenRC service is enabled that the profile does not declare",
        "Remove the service from its runlevel (rc-update del SERVICE RUNLEVEL), or declare it in the profile's [services].";
    ServiceNotEnabled = "service-not-enabled", Services, Os, Medium, [],
        "a service the profile declares is not enabled in its runlevel",
        "Enable the service in the declared runlevel (rc-update add SERVICE RUNLEVEL) and rebuild.";
    PackageNotInProfile = "package-not-in-profile", Packages, Os, Medium, [],
        "a package is installed on request (in /etc/apk/world) that the profile does not list",
        "Remove the package (apk del NAME) and rebuild from the profile, or add it to the profile's [packages].";
    PackageApplication = "package-application", Packages, Os, Medium, [],
        "an application that belongs in a container is installed on the host",
        "Run the application in a container and remove the package and whatever pulled it in from the host.";
    SshPasswordAuth = "ssh-password-auth", Ssh, Access, High, [],
        "SSH accepts password logins",
        "Set `PasswordAuthentication no` in /etc/ssh/sshd_config (before any Include that could set it first).";
    SshKbdInteractive = "ssh-kbd-interactive", Ssh, Access, High, [],
        "SSH accepts keyboard-interactive logins",
        "Set `KbdInteractiveAuthentication no` in /etc/ssh/sshd_config.";
    SshRootLogin = "ssh-root-login", Ssh, Access, High, [],
        "SSH permits root logins",
        "Set `PermitRootLogin no` in /etc/ssh/sshd_config; administrators log in as themselves and use doas.";
    SshEmptyPasswords = "ssh-empty-passwords", Ssh, Access, Critical, [],
        "SSH permits accounts with empty passwords to log in",
        "Set `PermitEmptyPasswords no` in /etc/ssh/sshd_config.";
    SshPubkeyOff = "ssh-pubkey-off", Ssh, Access, Medium, [],
        "SSH public key authentication is turned off",
        "Set `PubkeyAuthentication yes` in /etc/ssh/sshd_config.";
    SshAllowList = "ssh-allow-list", Ssh, Access, Medium, [],
        "SSH logins are not restricted to the declared users or groups",
        "Set `AllowUsers` or `AllowGroups` in /etc/ssh/sshd_config to the profile's SSH users or groups.";
    SshMatchOverride = "ssh-match-override", Ssh, Access, High, [],
        "a Match block re-enables a login method the global settings turn off",
        "Remove the weakening directive from the Match block in the sshd configuration.";
    AccountEmptyPassword = "account-empty-password", Accounts, Access, Critical, [],
        "an account has an empty password",
        "Lock the password (passwd -l NAME) or remove the account.";
    AccountPassword = "account-password", Accounts, Access, High, [],
        "an account has a usable password",
        "Lock the password (passwd -l NAME); logins use SSH keys.";
    AccountLoginShell = "account-login-shell", Accounts, Access, Medium, [],
        "a system or undeclared account has a login shell",
        "Set the account's shell to /sbin/nologin, or declare the user in the profile.";
    DockerGroupMember = "docker-group-member", Accounts, Access, High, ["1.1.2"],
        "an account is in the docker group without being trusted (docker group members are root-equivalent)",
        "Remove the account from the docker group (/etc/group), or declare it in the profile's docker members.";
    PrivilegeRule = "privilege-rule", Privileges, Access, High, [],
        "a doas or sudo rule grants privileges to a user or group that is not trusted",
        "Remove the rule from /etc/doas.conf (or /etc/doas.d, /etc/sudoers), or grant it to the trusted administrators only.";
    PrivilegeNopass = "privilege-nopass", Privileges, Access, Medium, [],
        "a doas or sudo rule needs no password",
        "Remove `nopass` (doas) or `NOPASSWD:` (sudo) from the rule.";
    AuditdNotEnabled = "auditd-not-enabled", AuditRules, Logging, Medium, ["1.1.3"],
        "auditd is not enabled at boot",
        "Install audit and enable it: rc-update add auditd default.";
    AuditDockerWatch = "audit-docker-watch", AuditRules, Logging, Medium, ["1.1.3", "1.1.4", "1.1.5", "1.1.6", "1.1.7", "1.1.8", "1.1.9", "1.1.10", "1.1.11", "1.1.12", "1.1.13", "1.1.14", "1.1.15", "1.1.16", "1.1.17", "1.1.18"],
        "a Docker path is not watched by an audit rule",
        "Add `-w PATH -p rwxa -k docker` for the path to /etc/audit/rules.d/docker.rules (or /etc/audit/audit.rules).";
    AuditAuthEvents = "audit-auth-events", AuditRules, Logging, Medium, [],
        "login and authentication events are not all audited",
        "Watch the account files and login records: `-w /etc/passwd -p wa -k identity`, `-w /etc/shadow -p wa -k identity`, `-w /etc/group -p wa -k identity`, `-w /var/log/lastlog -p wa -k logins`, and keep sshd's LogLevel at INFO or above.";
    LogForwarding = "log-forwarding", Logs, Logging, Medium, [],
        "logs are not forwarded to a remote host by an enabled syslog daemon",
        "Forward every facility (auth included) to the log host: a syslog-ng network() destination used by a log statement, or busybox syslogd -R HOST in /etc/conf.d/syslog, and enable that service.";
    LogForwardingUdp = "log-forwarding-udp", Logs, Logging, Low, [],
        "logs are forwarded over UDP, without delivery guarantee or encryption",
        "Forward over TCP, with TLS where the log host supports it (syslog-ng network(transport(\"tls\"))).";
    FirewallNotEnabled = "firewall-not-enabled", Firewall, Network, High, [],
        "no firewall is enabled at boot",
        "Install nftables, write the ruleset to /etc/nftables.nft and enable it: rc-update add nftables boot.";
    FirewallInputPolicy = "firewall-input-policy", Firewall, Network, High, [],
        "the firewall does not drop inbound traffic by default",
        "Give the input chain `policy drop;` and admit only loopback, established/related traffic and the declared services.";
    FirewallSshOpen = "firewall-ssh-open", Firewall, Network, Medium, [],
        "the firewall admits SSH from sources outside the trusted networks",
        "Restrict the SSH rule to the trusted networks, e.g. `tcp dport 22 ip saddr { 10.0.0.0/8 } accept`.";
    DockerDaemonJsonInvalid = "docker-daemon-json-invalid", DockerDaemon, Docker, High, [],
        "the Docker daemon's configuration file is not one dockerd accepts (it will not start)",
        "Fix /etc/docker/daemon.json (or the file --config-file names): a JSON object whose settings have the types dockerd expects.";
    DockerOptionsInvalid = "docker-options-invalid", DockerDaemon, Docker, High, [],
        "dockerd refuses its command line (DOCKER_OPTS), or a setting given both there and in daemon.json (it will not start)",
        "Give each setting once, in /etc/docker/daemon.json or in DOCKER_OPTS of /etc/conf.d/docker, and only flags dockerd knows.";
    DockerRootful = "docker-rootful", DockerDaemon, Docker, Info, ["2.1"],
        "the Docker daemon runs as root (rootless mode is not configured)",
        "Where the workloads allow it, run Docker in rootless mode (`\"rootless\": true`, dockerd-rootless.sh); otherwise keep userns-remap on.";
    DockerIcc = "docker-icc", DockerDaemon, Docker, Medium, ["2.2"],
        "containers on the default bridge can talk to each other (icc)",
        "Set `\"icc\": false` in /etc/docker/daemon.json.";
    DockerLogLevel = "docker-log-level", DockerDaemon, Docker, Low, ["2.3"],
        "the Docker daemon does not log at info level",
        "Remove `log-level` and `debug`, or set `\"log-level\": \"info\"`, in /etc/docker/daemon.json.";
    DockerIptables = "docker-iptables", DockerDaemon, Docker, Medium, ["2.4"],
        "Docker is not allowed to manage iptables rules",
        "Remove `\"iptables\": false` from /etc/docker/daemon.json.";
    DockerInsecureRegistry = "docker-insecure-registry", DockerDaemon, Docker, High, ["2.5"],
        "Docker trusts insecure (plain HTTP or unverified) registries",
        "Remove `insecure-registries` from /etc/docker/daemon.json and serve registries over verified TLS.";
    DockerStorageDriver = "docker-storage-driver", DockerDaemon, Docker, Medium, ["2.6"],
        "the Docker daemon uses the aufs storage driver",
        "Use the overlay2 storage driver (`\"storage-driver\": \"overlay2\"`, or leave it unset).";
    DockerTcpWithoutTls = "docker-tcp-without-tls", DockerDaemon, Docker, Critical, ["2.7"],
        "the Docker API listens on TCP without TLS client verification",
        "Listen on the Unix socket only, or set tlsverify with tlscacert, tlscert and tlskey in /etc/docker/daemon.json.";
    DockerDefaultUlimits = "docker-default-ulimits", DockerDaemon, Docker, Info, ["2.8"],
        "the Docker daemon sets no default ulimits for containers",
        "Set `default-ulimits` (for example nofile and nproc) in /etc/docker/daemon.json to the limits the workloads need.";
    DockerUsernsRemap = "docker-userns-remap", DockerDaemon, Docker, Low, ["2.9"],
        "user namespace remapping is not enabled",
        "Set `\"userns-remap\": \"default\"` in /etc/docker/daemon.json where the workloads allow it.";
    DockerCgroupParent = "docker-cgroup-parent", DockerDaemon, Docker, Info, ["2.10"],
        "the Docker daemon places containers under a cgroup parent of its own: confirm it is intended",
        "Remove `cgroup-parent` from the daemon's settings unless containers must run under that cgroup.";
    DockerBaseSize = "docker-base-size", DockerDaemon, Docker, Low, ["2.11"],
        "the Docker daemon changes the storage base device size (dm.basesize)",
        "Remove `dm.basesize` from `storage-opts` unless the containers need it.";
    DockerAuthorization = "docker-authorization", DockerDaemon, Docker, Low, ["2.12"],
        "no authorization plugin restricts what Docker API clients may do",
        "Install an authorization plugin and list it in `authorization-plugins` of /etc/docker/daemon.json.";
    DockerLogDriver = "docker-log-driver", DockerDaemon, Docker, Medium, ["2.13"],
        "container logs stay on the host instead of going to central logging",
        "Set `\"log-driver\": \"syslog\"` in /etc/docker/daemon.json (forwarded with the host's logs).";
    DockerNoNewPrivileges = "docker-no-new-privileges", DockerDaemon, Docker, Medium, ["2.14"],
        "containers may acquire new privileges by default",
        "Set `\"no-new-privileges\": true` in /etc/docker/daemon.json.";
    DockerLiveRestore = "docker-live-restore", DockerDaemon, Docker, Low, ["2.15"],
        "live restore is not enabled",
        "Set `\"live-restore\": true` in /etc/docker/daemon.json.";
    DockerUserlandProxy = "docker-userland-proxy", DockerDaemon, Docker, Low, ["2.16"],
        "the userland proxy is enabled",
        "Set `\"userland-proxy\": false` in /etc/docker/daemon.json.";
    DockerSeccompProfile = "docker-seccomp-profile", DockerDaemon, Docker, High, ["2.17"],
        "the Docker daemon runs containers without a seccomp profile by default",
        "Remove `\"seccomp-profile\": \"unconfined\"` (the built-in profile applies), or name a custom profile.";
    DockerExperimental = "docker-experimental", DockerDaemon, Docker, Low, ["2.18"],
        "experimental Docker features are enabled",
        "Remove `\"experimental\": true` from /etc/docker/daemon.json.";
    DockerSwarmMode = "docker-swarm-mode", DockerDaemon, Docker, Low, ["5.1"],
        "the Docker engine is in swarm mode",
        "Leave the swarm (docker swarm leave) on hosts that do not need it.";
    DockerOutdated = "docker-outdated", DockerFiles, Docker, Medium, ["1.2.2"],
        "a newer Docker engine package is available in the repositories",
        "Rebuild the image with the repositories' current docker, containerd and runc packages and redeploy.";
    DockerPartition = "docker-partition", DockerFiles, Docker, Medium, ["1.1.1"],
        "Docker's data directory is not a separate volume",
        "Mount /var/lib/docker (the daemon's data-root) from its own volume: a [[filesystem.state]] entry in the profile, an /etc/fstab line.";
    DockerFileOwner = "docker-file-owner", DockerFiles, Docker, Medium, ["3.1", "3.3", "3.5", "3.7", "3.9", "3.11", "3.13", "3.15", "3.17", "3.19", "3.22", "3.23"],
        "a Docker file is not owned as the benchmark requires",
        "chown the file to root:root (the Docker socket: root:docker).";
    DockerFileMode = "docker-file-mode", DockerFiles, Docker, Medium, ["3.2", "3.4", "3.6", "3.8", "3.10", "3.12", "3.14", "3.16", "3.18", "3.20", "3.21", "3.24"],
        "a Docker file's permissions are wider than the benchmark allows",
        "chmod the file to the mode named in the finding or stricter.";
    ContainerRootUser = "container-root-user", Containers, Containers, Medium, ["4.1"],
        "a container runs as root",
        "Create a user in the image (USER in the Dockerfile) or run the container with --user UID:GID.";
    ContainerApparmor = "container-apparmor", Containers, Containers, Medium, ["5.2"],
        "a container runs without an AppArmor profile on a host that uses AppArmor",
        "Run the container with the docker-default profile or its own (--security-opt apparmor=PROFILE), never unconfined.";
    ContainerSelinux = "container-selinux", Containers, Containers, Medium, ["5.3"],
        "a container runs without SELinux labels on a daemon that enforces SELinux",
        "Remove `label=disable` from the container's security options; give it a label (--security-opt label=type:...).";
    ContainerCapAdd = "container-cap-add", Containers, Containers, High, ["5.4"],
        "a container is given Linux capabilities beyond Docker's default set",
        "Remove the --cap-add; drop what the container does not need (--cap-drop ALL, then add only those).";
    ContainerPrivileged = "container-privileged", Containers, Containers, Critical, ["5.5"],
        "a container runs privileged",
        "Run the container without --privileged; add only the capabilities it needs.";
    ContainerSensitiveMount = "container-sensitive-mount", Containers, Containers, High, ["5.6"],
        "a container mounts a sensitive host directory",
        "Remove the bind mount; give the container a volume or only the files it needs, read-only.";
    ContainerSensitivePath = "container-sensitive-path", Containers, Containers, Medium, ["5.6"],
        "a container mounts a path inside a sensitive host directory",
        "Move the file out of the sensitive directory into a dedicated volume, mounted read-only.";
    ContainerPrivilegedPort = "container-privileged-port", Containers, Containers, Low, ["5.8"],
        "a container publishes a privileged host port (below 1024)",
        "Publish the service on a host port of 1024 or above, or in front of a proxy.";
    ContainerPublishedPorts = "container-published-ports", Containers, Containers, Info, ["5.9"],
        "a container publishes ports on the host: confirm each is needed",
        "Publish only the ports the service needs (-p HOST_IP:PORT:PORT), never all exposed ports (-P).";
    ContainerHostNetwork = "container-host-network", Containers, Containers, High, ["5.10"],
        "a container shares the host's network namespace",
        "Run the container on a bridge or user-defined network instead of --network host.";
    ContainerMemoryLimit = "container-memory-limit", Containers, Containers, Medium, ["5.11"],
        "a container has no memory limit",
        "Run the container with --memory set to what it needs.";
    ContainerCpuLimit = "container-cpu-limit", Containers, Containers, Low, ["5.12"],
        "a container has no CPU shares or CPU limit",
        "Run the container with --cpu-shares or --cpus set.";
    ContainerRootfsWritable = "container-rootfs-writable", Containers, Containers, Low, ["5.13"],
        "a container's root file system is writable",
        "Run the container with --read-only and volumes or tmpfs for the paths it writes.";
    ContainerPortAllInterfaces = "container-port-all-interfaces", Containers, Containers, Medium, ["5.14"],
        "a container port is published on every host interface",
        "Bind the published port to one host address (-p 10.0.0.5:8080:80), or set the daemon's `ip` to it.";
    ContainerRestartPolicy = "container-restart-policy", Containers, Containers, Low, ["5.15"],
        "a container restarts without bound (restart policy always, unless-stopped, or on-failure beyond 5 retries)",
        "Use --restart on-failure:5.";
    ContainerHostPid = "container-host-pid", Containers, Containers, High, ["5.16"],
        "a container shares the host's process namespace",
        "Remove --pid host.";
    ContainerHostIpc = "container-host-ipc", Containers, Containers, Medium, ["5.17"],
        "a container shares the host's IPC namespace",
        "Remove --ipc host.";
    ContainerDevices = "container-devices", Containers, Containers, Medium, ["5.18"],
        "a container is given host devices directly",
        "Remove --device and --device-cgroup-rule unless the container must drive that device, and then read-only where it can.";
    ContainerUlimits = "container-ulimits", Containers, Containers, Info, ["5.19"],
        "a container runs with neither its own ulimits nor the daemon's default ulimits",
        "Set --ulimit on the container, or `default-ulimits` in /etc/docker/daemon.json.";
    ContainerMountPropagation = "container-mount-propagation", Containers, Containers, Medium, ["5.20"],
        "a container mount propagates mounts in both directions (shared)",
        "Use private or slave propagation (the default rprivate) for the mount.";
    ContainerHostUts = "container-host-uts", Containers, Containers, Medium, ["5.21"],
        "a container shares the host's UTS namespace",
        "Remove --uts host.";
    ContainerSeccompUnconfined = "container-seccomp-unconfined", Containers, Containers, High, ["5.22"],
        "a container runs without a seccomp profile",
        "Remove `seccomp=unconfined` from the container's security options.";
    ContainerCgroupParent = "container-cgroup-parent", Containers, Containers, Info, ["5.25"],
        "a container runs under a cgroup parent of its own: confirm it is intended",
        "Remove --cgroup-parent unless the container must run under that cgroup.";
    ContainerNoNewPrivileges = "container-no-new-privileges", Containers, Containers, Medium, ["5.26"],
        "a container may acquire new privileges (setuid, file capabilities)",
        "Run the container with --security-opt no-new-privileges, or set it daemon-wide.";
    ContainerHealthcheck = "container-healthcheck", Containers, Containers, Low, ["5.27"],
        "a container has no health check",
        "Give the image a HEALTHCHECK or the container --health-cmd.";
    ContainerPidsLimit = "container-pids-limit", Containers, Containers, Medium, ["5.29"],
        "a container has no PIDs limit",
        "Run the container with --pids-limit set.";
    ContainerDefaultBridge = "container-default-bridge", Containers, Containers, Info, ["5.30"],
        "a container is attached to the default bridge (docker0)",
        "Attach the container to a user-defined network (docker network create) instead of the default bridge.";
    ContainerHostUserns = "container-host-userns", Containers, Containers, Medium, ["5.31"],
        "a container shares the host's user namespace",
        "Remove --userns host.";
    ContainerDockerSocket = "container-docker-socket", Containers, Containers, Critical, ["5.32"],
        "a container mounts the Docker or containerd socket (root on the host)",
        "Remove the socket's bind mount (and any mount of the directory that holds it).";
    RootNotReadonly = "root-not-readonly", Immutability, Immutability, High, [],
        "the root file system is not mounted read-only",
        "Mount / read-only in /etc/fstab (`ro` option) and keep state on the declared volumes.";
    StateVolumeMissing = "state-volume-missing", Immutability, Immutability, High, [],
        "a state volume is not mounted where /etc/fstab puts it, so what is written there does not survive a reboot (a live host only)",
        "Attach the volume /etc/fstab names (its LABEL= or UUID=) and reboot; until then nothing written below its path is kept.";
    WorldWritable = "world-writable", Immutability, Immutability, Medium, [],
        "a file or directory outside the temporary paths is world-writable",
        "Remove the write permission for others (chmod o-w PATH).";
    SetuidBinary = "setuid-binary", Immutability, Immutability, Medium, [],
        "a setuid or setgid binary is outside the allow-list",
        "Remove the setuid/setgid bit (chmod u-s,g-s PATH) or the package that ships it.";
    UnreadableFile = "unreadable-file", Reading, Audit, Low, [],
        "a file the audit needs could not be read, so its checks are incomplete",
        "Run the audit with permission to read the file, or repair it.";
}

impl CheckId {
    /// The check's row of [`CHECKS`].
    #[must_use]
    pub fn definition(self) -> &'static Check {
        &CHECKS[self as usize]
    }

    /// What is wrong when it fires, in one line.
    #[must_use]
    pub fn description(self) -> &'static str {
        self.definition().title
    }

    /// How serious a finding is.
    #[must_use]
    pub fn severity(self) -> Severity {
        self.definition().severity
    }

    /// How to fix it.
    #[must_use]
    pub fn remediation(self) -> &'static str {
        self.definition().remediation
    }

    /// The CIS Docker Benchmark v1.6.0 items it answers (empty for basalt's own checks).
    #[must_use]
    pub fn cis(self) -> &'static [&'static str] {
        self.definition().cis
    }

    /// [`CheckId::cis`] as text: the items joined by `, ` (empty when there are none).
    #[must_use]
    pub fn cis_text(self) -> String {
        self.cis().join(", ")
    }

    /// The family (and module) that runs it.
    #[must_use]
    pub fn family(self) -> Family {
        self.definition().family
    }

    /// The area of the host it belongs to.
    #[must_use]
    pub fn area(self) -> Area {
        self.definition().area
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialOrd for CheckId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// By text, so that findings sorted by check are sorted by name.
impl Ord for CheckId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A text that is not a check id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit check `{0}`")]
pub struct UnknownCheck(pub String);

impl FromStr for CheckId {
    type Err = UnknownCheck;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CheckId::ALL
            .iter()
            .copied()
            .find(|id| id.as_str() == s)
            .ok_or_else(|| UnknownCheck(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_indexed_by_id() {
        assert_eq!(CHECKS.len(), CheckId::ALL.len());
        for (i, id) in CheckId::ALL.iter().enumerate() {
            assert_eq!(CHECKS[i].id, *id);
            assert_eq!(id.definition().id, *id);
        }
    }

    #[test]
    fn ids_are_unique_kebab_case_and_parse_back() {
        let mut seen = std::collections::BTreeSet::new();
        for c in CHECKS {
            let text = c.id.as_str();
            assert!(seen.insert(text), "duplicate id {text}");
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{text}"
            );
            assert!(!c.title.is_empty() && !c.remediation.is_empty(), "{text}");
            assert_eq!(text.parse::<CheckId>(), Ok(c.id));
            assert_eq!(serde_json::to_value(c.id).unwrap(), text);
        }
        assert_eq!(
            "no-such-check".parse::<CheckId>(),
            Err(UnknownCheck("no-such-check".to_owned()))
        );
    }

    #[test]
    fn every_family_has_checks() {
        for family in Family::ALL {
            assert!(family.checks().next().is_some(), "{family}");
        }
        let in_families: usize = Family::ALL.iter().map(|f| f.checks().count()).sum();
        assert_eq!(in_families, CheckId::ALL.len());
    }
}
