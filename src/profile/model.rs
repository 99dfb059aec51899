//! The validated profile and its parts.
//!
//! Invariant: values here have passed [`super::validate`]; the rest of basalt reads them
//! without checking again. Every collection that feeds output is sorted or keeps the declared
//! order on purpose (packages, repositories), so serialising a profile is deterministic.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::cidr::Cidr;

/// The OpenRC service that verifies the host at boot (see [`Verify`]).
pub const VERIFY_SERVICE: &str = "basalt-verify";
/// busybox's cron daemon, which runs the periodic verification (`[verify] every`).
pub const CRON_SERVICE: &str = "crond";

/// The OpenRC service that creates the SSH host keys on the state volume before `sshd`.
pub const SSH_KEYGEN_SERVICE: &str = "sshd-keygen";

/// Every Alpine architecture a profile may name.
pub const ARCHES: &[&str] = &[
    "aarch64",
    "armhf",
    "armv7",
    "loongarch64",
    "ppc64le",
    "riscv64",
    "s390x",
    "x86",
    "x86_64",
];

/// A validated, normalised host profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// The profile file as it was named.
    #[serde(skip)]
    pub path: PathBuf,
    /// The directory relative references are taken from.
    #[serde(skip)]
    pub dir: PathBuf,
    /// `[image]`.
    pub image: Image,
    /// `[repositories]`.
    pub repositories: Repositories,
    /// `[packages]`.
    pub packages: Packages,
    /// `[services]`: exactly the services enabled, per runlevel.
    pub services: Services,
    /// `[[users]]`, sorted by name.
    pub users: Vec<User>,
    /// Every group the profile declares or refers to, sorted by name, with exact members.
    pub groups: Vec<Group>,
    /// The SSH daemon's settings; `Some` exactly when `openssh-server` is installed.
    pub ssh: Option<Ssh>,
    /// The nftables ruleset; `Some` when `[firewall]` is declared or `nftables` installed.
    pub firewall: Option<Firewall>,
    /// Remote log forwarding; `Some` when `[logging]` is declared.
    pub logging: Option<Logging>,
    /// auditd rules; `Some` exactly when `audit` is installed.
    pub audit: Option<Audit>,
    /// Docker's daemon configuration; `Some` exactly when `docker` is installed.
    pub docker: Option<Docker>,
    /// Kernel parameters: the hardening defaults with the profile's overrides applied.
    pub sysctl: BTreeMap<String, String>,
    /// `[filesystem]`: mounts and the runtime policy.
    pub filesystem: Filesystem,
    /// `[files]`: extra files and a template directory from the profile's directory.
    pub files: Files,
    /// `[verify]`.
    pub verify: Verify,
    /// `[network]`: interfaces, host name, resolver.
    pub network: super::host::Network,
    /// `[boot]`: the kernel, its command line and the modules loaded at boot.
    pub boot: super::host::Boot,
}

/// `[image]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Image {
    /// Image name: lowercase letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// Image version.
    pub version: String,
    /// Alpine architecture (one of [`ARCHES`]).
    pub arch: String,
    /// Seconds since 1970 used for every mtime, when the profile fixes it.
    pub epoch: Option<u64>,
}

/// `[repositories]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repositories {
    /// Repositories in declared order (earlier ones are preferred on ties, as in apk).
    pub urls: Vec<Repository>,
    /// Extra trusted key files or directories (Alpine's keys are built in).
    pub keys: Vec<KeyPath>,
}

/// One repository line, as in `/etc/apk/repositories`: `[@tag] URL`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Repository {
    /// The tag (without `@`) that pins packages to this repository, if any.
    pub tag: Option<String>,
    /// `http(s)://` or `file://` URL, or a directory, without a trailing `/`.
    pub url: String,
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tag {
            Some(tag) => write!(f, "@{tag} {}", self.url),
            None => f.write_str(&self.url),
        }
    }
}

/// A key file or directory: as written, and resolved against the profile's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyPath {
    /// As written in the profile (this form enters digests).
    pub declared: String,
    /// Resolved against the profile's directory.
    #[serde(skip)]
    pub path: PathBuf,
}

/// `[packages]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Packages {
    /// apk dependency atoms (`name`, `name@tag`, `name>=1.2`, `!name`), declared order.
    pub install: Vec<String>,
}

impl Packages {
    /// The package name of each atom (without `!`, tag or version constraint).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.install.iter().map(|atom| atom_name(atom))
    }

    /// True when an atom (not a conflict) names `package`.
    #[must_use]
    pub fn installs(&self, package: &str) -> bool {
        self.install
            .iter()
            .any(|atom| !atom.starts_with('!') && atom_name(atom) == package)
    }
}

/// The name part of a dependency atom.
#[must_use]
pub fn atom_name(atom: &str) -> &str {
    let atom = atom.strip_prefix('!').unwrap_or(atom);
    let end = atom.find(['@', '<', '>', '=', '~']).unwrap_or(atom.len());
    &atom[..end]
}

/// An OpenRC runlevel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runlevel {
    /// Early boot: devices, kernel messages.
    Sysinit,
    /// Boot: mounts, kernel parameters, host name, firewall.
    Boot,
    /// Multi-user: daemons.
    Default,
    /// Shutdown.
    Shutdown,
}

impl Runlevel {
    /// The four runlevels in boot order.
    pub const ALL: [Runlevel; 4] = [
        Runlevel::Sysinit,
        Runlevel::Boot,
        Runlevel::Default,
        Runlevel::Shutdown,
    ];

    /// The runlevel's directory name under `/etc/runlevels`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Runlevel::Sysinit => "sysinit",
            Runlevel::Boot => "boot",
            Runlevel::Default => "default",
            Runlevel::Shutdown => "shutdown",
        }
    }
}

impl fmt::Display for Runlevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[services]`: exactly the services enabled, nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Services {
    /// Services per runlevel, sorted by name.
    pub runlevels: BTreeMap<Runlevel, BTreeSet<String>>,
}

impl Services {
    /// The runlevel that enables `service`, if any.
    #[must_use]
    pub fn runlevel_of(&self, service: &str) -> Option<Runlevel> {
        self.runlevels
            .iter()
            .find(|(_, set)| set.contains(service))
            .map(|(level, _)| *level)
    }

    /// Runlevel name → services, the form `pipeline::Options::services` takes (every
    /// runlevel present, possibly empty, so that nothing a package enabled survives there).
    #[must_use]
    pub fn by_runlevel_name(&self) -> BTreeMap<String, Vec<String>> {
        Runlevel::ALL
            .iter()
            .map(|level| {
                let names = self
                    .runlevels
                    .get(level)
                    .map(|set| set.iter().cloned().collect())
                    .unwrap_or_default();
                (level.as_str().to_owned(), names)
            })
            .collect()
    }

    /// Every enabled `(runlevel, service)`, in runlevel then name order.
    pub fn enabled(&self) -> impl Iterator<Item = (Runlevel, &str)> {
        self.runlevels
            .iter()
            .flat_map(|(level, set)| set.iter().map(move |s| (*level, s.as_str())))
    }
}

/// A login account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Login name.
    pub name: String,
    /// User id (1..=65533; never 0).
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Name of the primary group.
    pub group: String,
    /// Login shell (absolute path).
    pub shell: String,
    /// Home directory (absolute, normalised).
    pub home: String,
    /// Supplementary groups, sorted.
    pub groups: BTreeSet<String>,
    /// OpenSSH public keys for `~/.ssh/authorized_keys`, one per line, declared order.
    pub ssh_keys: Vec<String>,
}

/// A group with exactly the members the profile declares (through `members` or users'
/// `groups`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Group id; `None` leaves it to the image (a system group created for a package).
    pub gid: Option<u32>,
    /// Members, sorted. Primary-group membership is not listed, as in `/etc/group`.
    pub members: BTreeSet<String>,
}

/// `[ssh]`, with the key-only settings fixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ssh {
    /// Port sshd listens on.
    pub port: u16,
    /// `ListenAddress` values (IP addresses); empty means every address.
    pub listen: Vec<String>,
    /// `AllowUsers`; defaults to the users with SSH keys.
    pub allow_users: BTreeSet<String>,
    /// `AllowGroups`.
    pub allow_groups: BTreeSet<String>,
    /// Directory under a state path that keeps the host keys across reboots.
    pub host_keys: String,
    /// Whether the SFTP subsystem (sshd's internal one) is offered.
    pub sftp: bool,
    /// `MaxAuthTries`.
    pub max_auth_tries: u32,
    /// `ClientAliveInterval` in seconds.
    pub client_alive_interval: u32,
    /// `ClientAliveCountMax`.
    pub client_alive_count_max: u32,
    /// Whether TCP forwarding is allowed.
    pub tcp_forwarding: bool,
}

impl Ssh {
    /// Key types whose host keys sshd loads, in preference order.
    pub const HOST_KEY_TYPES: [&'static str; 2] = ["ed25519", "rsa"];

    /// The host key files, under [`Ssh::host_keys`] as `ssh-keygen -A -f DIR` creates them.
    #[must_use]
    pub fn host_key_files(&self) -> Vec<String> {
        Ssh::HOST_KEY_TYPES
            .iter()
            .map(|t| format!("{}/etc/ssh/ssh_host_{t}_key", self.host_keys))
            .collect()
    }
}

/// `[firewall]`: inbound is dropped but for loopback, established traffic, and the ports
/// below from the trusted networks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Firewall {
    /// Networks allowed to reach the open ports, sorted.
    pub trusted: BTreeSet<Cidr>,
    /// TCP ports open to the trusted networks (the SSH port included).
    pub tcp: BTreeSet<u16>,
    /// UDP ports open to the trusted networks.
    pub udp: BTreeSet<u16>,
    /// Whether the trusted networks may ping the host.
    pub ping: bool,
}

/// How logs reach the log host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Syslog over TCP (RFC 6587 framing).
    Tcp,
    /// Syslog over TLS (RFC 5425).
    Tls,
}

/// `[logging]`: every log, authentication included, forwarded to one log host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Logging {
    /// Log host: a DNS name or an IP address.
    pub host: String,
    /// Port (514 for TCP, 6514 for TLS unless given).
    pub port: u16,
    /// TCP or TLS.
    pub transport: Transport,
    /// CA bundle that authenticates the log host (TLS only).
    pub ca_file: Option<String>,
    /// Client certificate (TLS only, optional).
    pub cert_file: Option<String>,
    /// Client key (TLS only, with `cert_file`).
    pub key_file: Option<String>,
}

/// One auditd file watch (`-w PATH -p PERMS -k KEY`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Watch {
    /// Absolute path.
    pub path: String,
    /// Any of `r`, `w`, `x`, `a`, in that order.
    pub permissions: String,
    /// The key that tags the events.
    pub key: String,
}

/// `[audit]`: the effective watches (defaults, Docker's paths when Docker is installed, and
/// the profile's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audit {
    /// Every watch, in rule order, each path once.
    pub watches: Vec<Watch>,
    /// Whether the rules are locked until reboot (`-e 2`).
    pub immutable: bool,
}

/// `[docker]`: the effective `daemon.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Docker {
    /// `userns-remap`, when set.
    pub userns_remap: Option<String>,
    /// The whole `daemon.json`: safe defaults, then the profile's overrides.
    pub daemon: serde_json::Map<String, serde_json::Value>,
}

/// A persistent volume mounted at a state path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateVolume {
    /// Mount point (absolute, normalised).
    pub path: String,
    /// Device (`LABEL=...`, `UUID=...`, `/dev/...`); `None` keeps it on a writable root.
    pub device: Option<String>,
    /// Filesystem type.
    pub fstype: String,
    /// Mount options.
    pub options: String,
}

/// `[filesystem]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filesystem {
    /// Whether `/` is mounted read-only.
    pub read_only_root: bool,
    /// Root device for `/etc/fstab`.
    pub root_device: String,
    /// Root filesystem type.
    pub root_fstype: String,
    /// tmpfs mounts, sorted.
    pub ephemeral: Vec<String>,
    /// Persistent volumes, sorted by path.
    pub state: Vec<StateVolume>,
    /// Files that may change in place, sorted.
    pub mutable: Vec<String>,
}

impl Filesystem {
    /// The runtime policy the verifier and the audit enforce.
    #[must_use]
    pub fn runtime_policy(&self) -> RuntimePolicy {
        RuntimePolicy {
            ephemeral: self.ephemeral.clone(),
            state: self.state.iter().map(|v| v.path.clone()).collect(),
            mutable: self.mutable.clone(),
        }
    }
}

/// Where a running host may differ from its image: the part of `[filesystem]` that
/// `verify`, `audit` and the manifest header use.
pub use crate::policy::RuntimePolicy;

/// An extra file copied (or rendered) from the profile's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtraFile {
    /// Path inside the image (absolute, normalised).
    pub path: String,
    /// Source as written, relative to the profile's directory (this form enters digests).
    pub source: String,
    /// Source resolved against the profile's directory.
    #[serde(skip)]
    pub source_path: PathBuf,
    /// Rendered as a template (strict) rather than copied.
    pub template: bool,
    /// Permission bits (at most `0o7777`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

/// `[files]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Files {
    /// A template directory laid out like the image, as written (relative).
    pub templates: Option<String>,
    /// The same, resolved against the profile's directory.
    #[serde(skip)]
    pub templates_path: Option<PathBuf>,
    /// Extra files, sorted by image path.
    pub extra: Vec<ExtraFile>,
}

/// What the boot-time verifier does with drift.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AtBoot {
    /// Drift stops docker and sshd from starting and fails the boot.
    Enforce,
    /// Drift is logged through syslog.
    Warn,
    /// No verifier in the image.
    #[default]
    Off,
}

/// `[verify]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verify {
    /// The boot-time verifier's mode.
    pub at_boot: AtBoot,
    /// When the host verifies itself periodically (busybox `crond`), if at all.
    pub every: Option<super::Schedule>,
}

impl Verify {
    /// Whether the image carries the verifier, its key and its signed manifest: it verifies
    /// at boot, periodically, or both.
    #[must_use]
    pub fn embeds_verifier(&self) -> bool {
        self.at_boot != AtBoot::Off || self.every.is_some()
    }
}

/// What resolution depends on: the part of a profile a lock is stale against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockInputs {
    /// Architecture.
    pub arch: String,
    /// Repositories in order (the command line may replace them).
    pub repositories: Vec<Repository>,
    /// Extra keys, as written.
    pub keys: Vec<String>,
    /// Dependency atoms, sorted (apk's world is a set).
    pub install: Vec<String>,
}

impl LockInputs {
    /// SHA-256 of the canonical JSON of these inputs, lowercase hex.
    #[must_use]
    pub fn digest(&self) -> String {
        sha256_json(self)
    }
}

fn sha256_json<T: Serialize>(value: &T) -> String {
    // Serialising plain structs, strings and sorted maps to a Vec cannot fail.
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

impl Profile {
    /// The inputs of resolution, with the profile's own repositories.
    #[must_use]
    pub fn lock_inputs(&self) -> LockInputs {
        let mut install = self.packages.install.clone();
        install.sort();
        LockInputs {
            arch: self.image.arch.clone(),
            repositories: self.repositories.urls.clone(),
            keys: self
                .repositories
                .keys
                .iter()
                .map(|k| k.declared.clone())
                .collect(),
            install,
        }
    }

    /// SHA-256 (lowercase hex) of the whole normalised profile in canonical JSON: any change
    /// that changes the image changes it. Paths of the profile's own files enter as written,
    /// so the digest does not depend on where the profile lives.
    #[must_use]
    pub fn digest(&self) -> String {
        sha256_json(self)
    }

    /// The runtime policy of `[filesystem]`.
    #[must_use]
    pub fn runtime_policy(&self) -> RuntimePolicy {
        self.filesystem.runtime_policy()
    }

    /// The user named `name`.
    #[must_use]
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The group named `name`.
    #[must_use]
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atom_names() {
        assert_eq!(atom_name("docker"), "docker");
        assert_eq!(atom_name("docker@community"), "docker");
        assert_eq!(atom_name("busybox>=1.36"), "busybox");
        assert_eq!(atom_name("!vlan"), "vlan");
        assert_eq!(
            atom_name("so:libc.musl-x86_64.so.1"),
            "so:libc.musl-x86_64.so.1"
        );
    }
}
