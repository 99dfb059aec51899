//! What the audited host is expected to be: from its profile, or a hardened Docker host.

use std::collections::{BTreeMap, BTreeSet};

use crate::profile::{Profile, hardening};

use crate::profile::Cidr;

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
    /// Whether the profile enables `userns-remap` (its absence is reported either way, as
    /// the benchmark does; the finding then says the profile asks for it).
    pub userns_remap: bool,
    /// Setuid/setgid binaries allowed.
    pub setuid_allowed: BTreeSet<String>,
    /// Paths where world-writable entries are expected (tmpfs at runtime).
    pub temporary_paths: Vec<String>,
    /// Extra paths the audit rules must watch (the profile's own watches).
    pub audit_watches: Vec<String>,
    /// Paths the profile mounts from state volumes of their own (`[[filesystem.state]]`).
    pub state_paths: Vec<String>,
    /// Whether the root is the image unpacked into memory from the initramfs (a build with
    /// `--emit initramfs`): writable, but nothing written to it survives a reboot, so an
    /// `/etc/fstab` without a line for `/` is what such a host has.
    pub ram_root: bool,
    /// The packages the repositories offer now (from their signed indexes), to tell whether
    /// the Docker engine is up to date; `None` when no repository was given.
    pub repository_packages: Option<Vec<crate::posture::outdated::Available>>,
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for AuditPolicy {
    /// A hardened Docker host built from the hardening defaults
    /// ([`crate::profile::hardening`]): every service a profile may enable by default and the
    /// few more such a host may run, only `root` with a login shell, nobody in the `docker`
    /// group, doas and sudo for `root` and `:wheel`, the setuid allow-list and the temporary
    /// paths.
    fn default() -> Self {
        let services = hardening::accepted_services()
            .into_iter()
            .map(|(level, services)| (level.as_str().to_owned(), services))
            .collect();
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
            setuid_allowed: set(hardening::SETUID_ALLOWED),
            temporary_paths: hardening::TEMPORARY_PATHS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            audit_watches: Vec::new(),
            state_paths: Vec::new(),
            ram_root: false,
            repository_packages: None,
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
            p.trusted_networks = firewall.trusted.iter().copied().collect();
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
        p.state_paths = profile
            .filesystem
            .state
            .iter()
            .filter(|s| s.device.is_some())
            .map(|s| s.path.clone())
            .collect();
        p.ram_root = profile.boot.ram_root && !profile.boot.verity_root;
        if let Some(audit) = &profile.audit {
            p.audit_watches = audit.watches.iter().map(|w| w.path.clone()).collect();
        }
        p
    }
}
