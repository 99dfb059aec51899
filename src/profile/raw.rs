//! The profile as written: serde types that mirror the TOML one to one.
//!
//! Invariant: every table rejects unknown keys, and every value whose later check can fail
//! keeps its source span, so that a validation error can name its line and column.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(super) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProfile {
    pub image: S<RawImage>,
    pub repositories: S<RawRepositories>,
    pub packages: S<RawPackages>,
    pub services: Option<S<RawServices>>,
    #[serde(default)]
    pub users: Vec<S<RawUser>>,
    #[serde(default)]
    pub groups: Vec<S<RawGroup>>,
    pub ssh: Option<S<RawSsh>>,
    pub firewall: Option<S<RawFirewall>>,
    pub logging: Option<S<RawLogging>>,
    pub audit: Option<S<RawAudit>>,
    pub docker: Option<S<RawDocker>>,
    pub sysctl: Option<S<BTreeMap<S<String>, S<SysctlValue>>>>,
    pub filesystem: Option<S<RawFilesystem>>,
    pub files: Option<S<RawFiles>>,
    pub verify: Option<S<RawVerify>>,
    pub network: Option<S<RawNetwork>>,
    pub boot: Option<S<RawBoot>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImage {
    pub name: S<String>,
    pub version: S<String>,
    pub arch: S<String>,
    pub epoch: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRepositories {
    pub urls: Vec<S<String>>,
    #[serde(default)]
    pub keys: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPackages {
    pub install: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServices {
    #[serde(default)]
    pub sysinit: Vec<S<String>>,
    #[serde(default)]
    pub boot: Vec<S<String>>,
    #[serde(default)]
    pub default: Vec<S<String>>,
    #[serde(default)]
    pub shutdown: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    pub name: S<String>,
    pub uid: S<i64>,
    pub gid: Option<S<i64>>,
    pub shell: Option<S<String>>,
    pub home: Option<S<String>>,
    #[serde(default)]
    pub groups: Vec<S<String>>,
    #[serde(default)]
    pub ssh_keys: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroup {
    pub name: S<String>,
    pub gid: Option<S<i64>>,
    #[serde(default)]
    pub members: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSsh {
    pub port: Option<S<i64>>,
    #[serde(default)]
    pub listen: Vec<S<String>>,
    #[serde(default)]
    pub allow_users: Vec<S<String>>,
    #[serde(default)]
    pub allow_groups: Vec<S<String>>,
    pub host_keys: Option<S<String>>,
    pub sftp: Option<bool>,
    pub max_auth_tries: Option<S<i64>>,
    pub client_alive_interval: Option<S<i64>>,
    pub client_alive_count_max: Option<S<i64>>,
    pub tcp_forwarding: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFirewall {
    #[serde(default)]
    pub trusted: Vec<S<String>>,
    #[serde(default)]
    pub tcp: Vec<S<i64>>,
    #[serde(default)]
    pub udp: Vec<S<i64>>,
    pub ping: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogging {
    pub host: S<String>,
    pub port: Option<S<i64>>,
    pub transport: Option<S<String>>,
    pub ca_file: Option<S<String>>,
    pub cert_file: Option<S<String>>,
    pub key_file: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    #[serde(default)]
    pub watches: Vec<S<RawWatch>>,
    pub immutable: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWatch {
    pub path: S<String>,
    pub permissions: Option<S<String>>,
    pub key: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDocker {
    pub userns_remap: Option<S<String>>,
    pub daemon: Option<S<toml::Table>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum SysctlValue {
    Integer(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFilesystem {
    pub read_only_root: Option<bool>,
    pub root_device: Option<S<String>>,
    pub root_fstype: Option<S<String>>,
    pub ephemeral: Option<Vec<S<String>>>,
    pub state: Option<Vec<S<RawStateVolume>>>,
    pub mutable: Option<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStateVolume {
    pub path: S<String>,
    pub device: Option<S<String>>,
    pub fstype: Option<S<String>>,
    pub options: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFiles {
    pub templates: Option<S<String>>,
    #[serde(default)]
    pub extra: Vec<S<RawExtraFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExtraFile {
    pub path: S<String>,
    pub source: S<String>,
    #[serde(default)]
    pub template: bool,
    pub mode: Option<S<String>>,
    pub uid: Option<S<i64>>,
    pub gid: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVerify {
    pub at_boot: Option<S<String>>,
    pub every: Option<S<String>>,
}

/// A string, or an array of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    pub hostname: Option<S<String>>,
    pub interfaces: Option<Vec<S<RawInterface>>>,
    #[serde(default)]
    pub dns: Vec<S<String>>,
    #[serde(default)]
    pub search: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInterface {
    pub name: S<String>,
    pub dhcp: Option<bool>,
    pub ipv6_ra: Option<bool>,
    pub address: Option<S<OneOrMany>>,
    pub gateway: Option<S<OneOrMany>>,
    pub mtu: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBoot {
    pub kernel: Option<S<String>>,
    pub cmdline: Option<S<String>>,
    #[serde(default)]
    pub modules: Vec<S<String>>,
}
