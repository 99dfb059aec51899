//! Docker's own files as the audit reads them: the daemon settings (`daemon.json`, and the
//! command line `DOCKER_OPTS` of OpenRC's `/etc/conf.d/docker`) and the state Docker keeps
//! for each container (`/var/lib/docker/containers/<id>/config.v2.json` and
//! `hostconfig.json`).
//!
//! Each is read the way Docker reads it. `daemon.json`: dockerd's keys exactly (another
//! spelling is a key dockerd refuses), an optional byte order mark (UTF-8, UTF-16), an empty
//! file meaning no settings, a value of the wrong type for a known key making the file
//! invalid. The command line: Go's flag rules (`--flag=value`, `--flag value`, `-Hvalue`,
//! booleans only as `--flag` or `--flag=false`), a word that is no flag's value being an
//! argument dockerd refuses. Container state: member names matched as Go's `encoding/json`
//! matches them, case-insensitively (Unicode simple folding); where several members name one
//! setting, the riskier value counts, as which one Docker keeps depends on their order.
//!
//! Invariant: pure; unknown fields are ignored, never a panic.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

// ------------------------------------------------------------------------------ daemon

/// The daemon settings the CIS Docker Benchmark looks at, after `daemon.json` and the
/// command line are combined (options win: dockerd refuses a setting given in both, which
/// [`DaemonSettings::problems`] reports, but the flags are what the operator meant).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonSettings {
    /// `icc` (default true).
    pub icc: Option<bool>,
    /// `live-restore` (default false).
    pub live_restore: Option<bool>,
    /// `userland-proxy` (default true).
    pub userland_proxy: Option<bool>,
    /// `no-new-privileges` (default false).
    pub no_new_privileges: Option<bool>,
    /// `iptables` (default true).
    pub iptables: Option<bool>,
    /// `experimental` (default false).
    pub experimental: Option<bool>,
    /// `debug` (`-D`; default false): the daemon then logs at debug level.
    pub debug: Option<bool>,
    /// `rootless` (default false).
    pub rootless: Option<bool>,
    /// `selinux-enabled` (default false).
    pub selinux_enabled: Option<bool>,
    /// `tls` (default false).
    pub tls: Option<bool>,
    /// `tlsverify` (default false).
    pub tlsverify: Option<bool>,
    /// `log-driver` (default `json-file`).
    pub log_driver: Option<String>,
    /// `log-level` (`-l`; default `info`).
    pub log_level: Option<String>,
    /// `userns-remap`.
    pub userns_remap: Option<String>,
    /// `storage-driver` (`-s`).
    pub storage_driver: Option<String>,
    /// `cgroup-parent`.
    pub cgroup_parent: Option<String>,
    /// `seccomp-profile` (default: the built-in profile).
    pub seccomp_profile: Option<String>,
    /// `data-root` (or the older `graph`, `-g`; default `/var/lib/docker`).
    pub data_root: Option<String>,
    /// `ip`: the host address published ports bind to by default (default `0.0.0.0`).
    pub ip: Option<String>,
    /// `bridge` (`-b`): the default bridge's interface, `none` for no default bridge.
    pub bridge: Option<String>,
    /// `insecure-registries`.
    pub insecure_registries: Vec<String>,
    /// `hosts` (`-H`): where the API listens.
    pub hosts: Vec<String>,
    /// `authorization-plugins`.
    pub authorization_plugins: Vec<String>,
    /// `storage-opts`.
    pub storage_opts: Vec<String>,
    /// `default-ulimits`, as `name=soft:hard`.
    pub default_ulimits: Vec<String>,
    /// `tlscacert`, `tlscert`, `tlskey`.
    pub tls_files: BTreeMap<String, String>,
    /// Where each setting came from: the configuration file, or the conf.d file and line.
    pub origin: BTreeMap<&'static str, String>,
    /// Why dockerd would refuse this configuration and not start (conflicts, arguments).
    pub problems: Vec<String>,
}

/// The kind of value a daemon setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Text,
    List,
    Ulimits,
    Object,
}

/// dockerd's settings the audit reads: `daemon.json` key, long flag, shorthand, kind.
const SETTINGS: &[(&str, &str, Option<char>, Kind)] = &[
    ("icc", "icc", None, Kind::Bool),
    ("live-restore", "live-restore", None, Kind::Bool),
    ("userland-proxy", "userland-proxy", None, Kind::Bool),
    ("no-new-privileges", "no-new-privileges", None, Kind::Bool),
    ("iptables", "iptables", None, Kind::Bool),
    ("ip6tables", "ip6tables", None, Kind::Bool),
    ("experimental", "experimental", None, Kind::Bool),
    ("debug", "debug", Some('D'), Kind::Bool),
    ("rootless", "rootless", None, Kind::Bool),
    ("selinux-enabled", "selinux-enabled", None, Kind::Bool),
    ("tls", "tls", None, Kind::Bool),
    ("tlsverify", "tlsverify", None, Kind::Bool),
    ("log-driver", "log-driver", None, Kind::Text),
    ("log-level", "log-level", Some('l'), Kind::Text),
    ("userns-remap", "userns-remap", None, Kind::Text),
    ("storage-driver", "storage-driver", Some('s'), Kind::Text),
    ("cgroup-parent", "cgroup-parent", None, Kind::Text),
    ("seccomp-profile", "seccomp-profile", None, Kind::Text),
    ("data-root", "data-root", None, Kind::Text),
    ("graph", "graph", Some('g'), Kind::Text),
    ("ip", "ip", None, Kind::Text),
    ("bridge", "bridge", Some('b'), Kind::Text),
    ("group", "group", Some('G'), Kind::Text),
    ("pidfile", "pidfile", Some('p'), Kind::Text),
    ("tlscacert", "tlscacert", None, Kind::Text),
    ("tlscert", "tlscert", None, Kind::Text),
    ("tlskey", "tlskey", None, Kind::Text),
    ("hosts", "host", Some('H'), Kind::List),
    ("insecure-registries", "insecure-registry", None, Kind::List),
    (
        "authorization-plugins",
        "authorization-plugin",
        None,
        Kind::List,
    ),
    ("storage-opts", "storage-opt", None, Kind::List),
    ("default-ulimits", "default-ulimit", None, Kind::Ulimits),
    ("log-opts", "log-opt", None, Kind::Object),
];

/// A configuration file dockerd would refuse (it does not start).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{file}` is not a configuration dockerd accepts: {detail}")]
pub struct InvalidDaemonJson {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub detail: String,
}

/// A JSON object's members in order, repeated names kept.
struct Members(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// The text of a configuration file as dockerd decodes it: a UTF-8 or UTF-16 byte order mark
/// chooses the encoding, otherwise it must be UTF-8.
fn decode(bytes: &[u8]) -> Result<String, String> {
    let utf16 = |rest: &[u8], big: bool| -> Result<String, String> {
        if !rest.len().is_multiple_of(2) {
            return Err("UTF-16 text of an odd number of bytes".to_owned());
        }
        let units = rest.chunks_exact(2).map(|c| {
            if big {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|e| format!("invalid UTF-16: {e}"))
    };
    if let Some(rest) = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        String::from_utf8(rest.to_vec()).map_err(|e| format!("invalid UTF-8: {e}"))
    } else if let Some(rest) = bytes.strip_prefix(&[0xff, 0xfe]) {
        utf16(rest, false)
    } else if let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) {
        utf16(rest, true)
    } else {
        String::from_utf8(bytes.to_vec()).map_err(|e| format!("invalid UTF-8: {e}"))
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `daemon.json`'s `default-ulimits` entry: `{"Name": ..., "Soft": n, "Hard": n}`.
fn ulimit_text(name: &str, v: &Value) -> Option<String> {
    let Value::Object(map) = v else {
        return None;
    };
    let field = |k: &str| {
        map.iter()
            .find(|(key, _)| same_name(key, k))
            .map(|(_, v)| v)
    };
    let number = |k: &str| field(k).and_then(Value::as_i64);
    let name = field("Name").and_then(Value::as_str).unwrap_or(name);
    Some(format!(
        "{name}={}:{}",
        number("Soft").map_or("?".to_owned(), |n| n.to_string()),
        number("Hard").map_or("?".to_owned(), |n| n.to_string())
    ))
}

impl DaemonSettings {
    /// Reads a configuration file (`daemon.json`).
    ///
    /// # Errors
    /// [`InvalidDaemonJson`] when dockerd would refuse it: not JSON, not an object, text that
    /// is not UTF-8 (or UTF-16 with a byte order mark), or a known setting of the wrong type.
    pub fn from_daemon_json(bytes: &[u8], file: &str) -> Result<Self, InvalidDaemonJson> {
        let invalid = |detail: String| InvalidDaemonJson {
            file: file.to_owned(),
            detail,
        };
        let text = decode(bytes).map_err(invalid)?;
        let text = text.trim();
        let mut s = DaemonSettings::default();
        if text.is_empty() {
            return Ok(s);
        }
        let value: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if !value.is_object() {
            return Err(invalid("the top level is not an object".to_owned()));
        }
        // Every member in order, a repeated one each time: dockerd decodes them all (the
        // last value stays, a wrong type anywhere is refused).
        let Members(members) = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut wrong = Vec::new();
        for (key, v) in &members {
            let Some((name, _, _, kind)) = SETTINGS.iter().find(|(k, ..)| k == key) else {
                // dockerd's keys are lower case: another spelling of one is a key it does not
                // know, and it refuses the file.
                if let Some((known, ..)) = SETTINGS.iter().find(|(k, ..)| same_name(k, key)) {
                    wrong.push(format!(
                        "`{key}` is not a key dockerd knows (it reads `{known}`)"
                    ));
                }
                continue;
            };
            if v.is_null() {
                continue;
            }
            let ok = match kind {
                Kind::Bool => v.as_bool().map(|b| s.set_bool(name, b)).is_some(),
                Kind::Text => v.as_str().map(|t| s.set_text(name, t)).is_some(),
                Kind::List => match v {
                    Value::Array(items) if items.iter().all(Value::is_string) => {
                        // A repeated member replaces the list, as Go decodes it.
                        s.clear_list(name);
                        for item in items.iter().filter_map(Value::as_str) {
                            s.push_list(name, item);
                        }
                        true
                    }
                    _ => false,
                },
                Kind::Ulimits => match v {
                    Value::Object(limits) => {
                        s.clear_list(name);
                        for (limit, spec) in limits {
                            match ulimit_text(limit, spec) {
                                Some(t) => s.default_ulimits.push(t),
                                None => wrong.push(format!(
                                    "`default-ulimits.{limit}` is {}, not an object",
                                    kind_name(spec)
                                )),
                            }
                        }
                        true
                    }
                    _ => false,
                },
                Kind::Object => v.is_object(),
            };
            if ok {
                s.origin.insert(name, file.to_owned());
            } else {
                let want = match kind {
                    Kind::Bool => "a boolean",
                    Kind::Text => "a string",
                    Kind::List => "an array of strings",
                    Kind::Ulimits | Kind::Object => "an object",
                };
                wrong.push(format!("`{key}` is {}, not {want}", kind_name(v)));
            }
        }
        if let Some(level) = &s.log_level
            && !matches!(
                level.to_ascii_lowercase().as_str(),
                "panic" | "fatal" | "error" | "warn" | "info" | "debug" | "trace"
            )
        {
            wrong.push(format!("`log-level` `{level}` is not a logging level"));
        }
        for host in &s.hosts {
            if let Some(why) = host_problem(host) {
                wrong.push(why);
            }
        }
        if wrong.is_empty() {
            Ok(s)
        } else {
            Err(invalid(wrong.join("; ")))
        }
    }

    fn set_bool(&mut self, name: &str, b: bool) {
        let slot = match name {
            "icc" => &mut self.icc,
            "live-restore" => &mut self.live_restore,
            "userland-proxy" => &mut self.userland_proxy,
            "no-new-privileges" => &mut self.no_new_privileges,
            "iptables" => &mut self.iptables,
            "experimental" => &mut self.experimental,
            "debug" => &mut self.debug,
            "rootless" => &mut self.rootless,
            "selinux-enabled" => &mut self.selinux_enabled,
            "tls" => &mut self.tls,
            "tlsverify" => &mut self.tlsverify,
            _ => return,
        };
        *slot = Some(b);
    }

    fn set_text(&mut self, name: &str, t: &str) {
        let slot = match name {
            "log-driver" => &mut self.log_driver,
            "log-level" => &mut self.log_level,
            "userns-remap" => &mut self.userns_remap,
            "storage-driver" => &mut self.storage_driver,
            "cgroup-parent" => &mut self.cgroup_parent,
            "seccomp-profile" => &mut self.seccomp_profile,
            "data-root" | "graph" => &mut self.data_root,
            "ip" => &mut self.ip,
            "bridge" => &mut self.bridge,
            "tlscacert" | "tlscert" | "tlskey" => {
                self.tls_files.insert(name.to_owned(), t.to_owned());
                return;
            }
            _ => return,
        };
        *slot = Some(t.to_owned());
    }

    fn clear_list(&mut self, name: &str) {
        match name {
            "hosts" => self.hosts.clear(),
            "insecure-registries" => self.insecure_registries.clear(),
            "authorization-plugins" => self.authorization_plugins.clear(),
            "storage-opts" => self.storage_opts.clear(),
            "default-ulimits" => self.default_ulimits.clear(),
            _ => {}
        }
    }

    fn push_list(&mut self, name: &str, item: &str) {
        match name {
            "hosts" => self.hosts.push(item.to_owned()),
            "insecure-registries" => self.insecure_registries.push(item.to_owned()),
            "authorization-plugins" => self.authorization_plugins.push(item.to_owned()),
            "storage-opts" => self.storage_opts.push(item.to_owned()),
            "default-ulimits" => self.default_ulimits.push(item.to_owned()),
            _ => {}
        }
    }

    /// Applies dockerd's command line, as parsed by [`Options::parse`]; `origin` says where
    /// it comes from (`/etc/conf.d/docker:3`). A setting also given in the configuration
    /// file is a conflict dockerd refuses: it is recorded in [`DaemonSettings::problems`].
    pub fn apply(&mut self, options: &Options, origin: &str) {
        let mut cleared: Vec<&str> = Vec::new();
        for (name, value) in &options.set {
            if let Some(file) = self.origin.get(name)
                && !cleared.contains(name)
                && !file.starts_with(origin.split(':').next().unwrap_or(origin))
            {
                self.problems.push(format!(
                    "`{name}` is set both in {file} and on the command line ({origin})"
                ));
            }
            let kind = SETTINGS
                .iter()
                .find(|(k, ..)| k == name)
                .map_or(Kind::Text, |s| s.3);
            match kind {
                Kind::Bool => self.set_bool(name, value == "true"),
                Kind::Text => self.set_text(name, value),
                Kind::List | Kind::Ulimits => {
                    // The command line's list replaces the file's (dockerd would refuse both).
                    if !cleared.contains(name) {
                        self.clear_list(name);
                    }
                    self.push_list(name, value);
                }
                Kind::Object => {}
            }
            if !cleared.contains(name) {
                cleared.push(name);
            }
            self.origin.insert(name, origin.to_owned());
        }
        self.problems.extend(options.problems.iter().cloned());
        for (name, value) in &options.set {
            if *name == "hosts"
                && let Some(why) = host_problem(value)
            {
                self.problems.push(why);
            }
        }
    }

    /// Where `key` was set, or `dockerd default` when it was not.
    #[must_use]
    pub fn origin_of(&self, key: &str) -> String {
        self.origin
            .get(key)
            .cloned()
            .unwrap_or_else(|| "dockerd default".to_owned())
    }

    /// Docker's data directory (`data-root`, default `/var/lib/docker`), without a trailing
    /// slash.
    #[must_use]
    pub fn data_root(&self) -> String {
        let root = self
            .data_root
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .unwrap_or("/var/lib/docker");
        let root = crate::integrity::rootfs::normalize(root);
        if root.is_empty() {
            "/".to_owned()
        } else {
            root
        }
    }

    /// The hosts that listen on TCP, as dockerd reads `-H`: a host without a scheme is TCP.
    #[must_use]
    pub fn tcp_hosts(&self) -> Vec<&str> {
        self.hosts
            .iter()
            .map(String::as_str)
            .filter(|h| is_tcp_host(h))
            .collect()
    }

    /// The Unix sockets the API listens on (`/run/docker.sock` when no host is given).
    #[must_use]
    pub fn unix_sockets(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .hosts
            .iter()
            .filter_map(|h| {
                let h = h.trim();
                if h.is_empty() {
                    return Some("/var/run/docker.sock".to_owned());
                }
                h.strip_prefix("unix://").map(|p| {
                    if p.is_empty() {
                        "/var/run/docker.sock".to_owned()
                    } else {
                        p.to_owned()
                    }
                })
            })
            .collect();
        if self.hosts.is_empty() {
            out.push("/var/run/docker.sock".to_owned());
        }
        out
    }
}

/// Why dockerd refuses a `-H` value, when it does: a scheme it does not know.
#[must_use]
pub fn host_problem(host: &str) -> Option<String> {
    let trimmed = host.trim();
    match trimmed.split_once("://") {
        Some((scheme, _)) if !matches!(scheme, "tcp" | "unix" | "fd" | "npipe") => Some(format!(
            "host `{host}` has a scheme dockerd does not know (`{scheme}`)"
        )),
        _ => None,
    }
}

/// Whether dockerd listens on TCP for this `-H` value: `tcp://...`, or an address without a
/// scheme (`0.0.0.0:2375`, `:2375`).
#[must_use]
pub fn is_tcp_host(host: &str) -> bool {
    let host = host.trim();
    if host.is_empty() {
        return false;
    }
    match host.split_once("://") {
        Some((scheme, _)) => scheme == "tcp",
        None => true,
    }
}

/// dockerd's command line, parsed as Go's flag package parses it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The settings it gives, by `daemon.json` key, in order (a list flag once per value;
    /// booleans as `true`/`false`).
    pub set: Vec<(&'static str, String)>,
    /// `--config-file`, when given.
    pub config_file: Option<String>,
    /// Why dockerd would refuse it.
    pub problems: Vec<String>,
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl Options {
    /// Parses dockerd's arguments. Flags the audit does not model are skipped with their
    /// value (a following word that is not a flag).
    #[must_use]
    pub fn parse(words: &[String]) -> Self {
        let mut o = Options::default();
        let mut i = 0;
        while i < words.len() {
            let word = words[i].as_str();
            i += 1;
            if word == "--" {
                for rest in &words[i..] {
                    o.problems
                        .push(format!("dockerd takes no arguments, but is given `{rest}`"));
                }
                break;
            }
            if let Some(long) = word.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (long, None),
                };
                if name == "config-file" {
                    match inline.map(str::to_owned).or_else(|| {
                        let v = words.get(i).cloned();
                        i += 1;
                        v
                    }) {
                        Some(v) => o.config_file = Some(v),
                        None => o.problems.push("`--config-file` needs a value".to_owned()),
                    }
                    continue;
                }
                match SETTINGS.iter().find(|s| s.1 == name) {
                    Some((key, _, _, kind)) => o.flag(key, *kind, name, inline, words, &mut i),
                    None => {
                        // An unknown flag: its value, if it takes one, is the next word.
                        if inline.is_none() && words.get(i).is_some_and(|w| !w.starts_with('-')) {
                            i += 1;
                        }
                    }
                }
            } else if let Some(short) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
                for (at, c) in short.char_indices() {
                    let Some((key, long, _, kind)) = SETTINGS.iter().find(|s| s.2 == Some(c))
                    else {
                        // An unknown shorthand: skip the rest of this word.
                        break;
                    };
                    if *kind == Kind::Bool {
                        let rest = &short[at + c.len_utf8()..];
                        if let Some(v) = rest.strip_prefix('=') {
                            o.flag(key, *kind, long, Some(v), words, &mut i);
                            break;
                        }
                        o.flag(key, *kind, long, None, words, &mut i);
                        continue;
                    }
                    let rest = &short[at + c.len_utf8()..];
                    let rest = rest.strip_prefix('=').unwrap_or(rest);
                    let inline = (!rest.is_empty()).then_some(rest);
                    o.flag(key, *kind, long, inline, words, &mut i);
                    break;
                }
            } else {
                o.problems
                    .push(format!("dockerd takes no arguments, but is given `{word}`"));
            }
        }
        o
    }

    fn flag(
        &mut self,
        key: &'static str,
        kind: Kind,
        name: &str,
        inline: Option<&str>,
        words: &[String],
        i: &mut usize,
    ) {
        if kind == Kind::Bool {
            match inline {
                None => self.set.push((key, "true".to_owned())),
                Some(v) => match parse_go_bool(v) {
                    Some(b) => self.set.push((key, b.to_string())),
                    None => self
                        .problems
                        .push(format!("`--{name}={v}` is not a boolean")),
                },
            }
            return;
        }
        let value = match inline {
            Some(v) => v.to_owned(),
            None => match words.get(*i) {
                Some(v) => {
                    *i += 1;
                    v.clone()
                }
                None => {
                    self.problems.push(format!("`--{name}` needs a value"));
                    return;
                }
            },
        };
        match kind {
            Kind::Ulimits => self.set.push((key, value)),
            Kind::Object => {}
            _ => self.set.push((key, value)),
        }
    }
}

// --------------------------------------------------------------------------- container

/// Whether two member names are the same to Go's `encoding/json`: equal under Unicode simple
/// case folding (the Kelvin sign is `k`, the long s is `s`).
#[must_use]
pub fn same_name(a: &str, b: &str) -> bool {
    fn fold(c: char) -> char {
        match c {
            '\u{212a}' => 'k',
            '\u{17f}' => 's',
            c => {
                let mut lower = c.to_lowercase();
                match (lower.next(), lower.next()) {
                    (Some(l), None) => l,
                    _ => c,
                }
            }
        }
    }
    a.chars().count() == b.chars().count()
        && a.chars().zip(b.chars()).all(|(x, y)| fold(x) == fold(y))
}

/// Every non-null member of `v` that Docker would read as `name`, the exact name first.
fn members<'a>(v: &'a Value, name: &str) -> Vec<&'a Value> {
    let Value::Object(map) = v else {
        return Vec::new();
    };
    let mut out: Vec<&Value> = map.get(name).into_iter().collect();
    out.extend(
        map.iter()
            .filter(|(k, _)| k.as_str() != name && same_name(k, name))
            .map(|(_, v)| v),
    );
    out.retain(|v| !v.is_null());
    out
}

/// The first string member `name`.
fn string(v: &Value, name: &str) -> Option<String> {
    members(v, name)
        .into_iter()
        .find_map(Value::as_str)
        .map(str::to_owned)
}

/// A string member where some values are riskier: the first of them present, else the first.
fn risky_string(v: &Value, name: &str, risky: impl Fn(&str) -> bool) -> String {
    let all: Vec<&str> = members(v, name)
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    all.iter()
        .find(|s| risky(s))
        .or(all.first())
        .map(|s| (*s).to_owned())
        .unwrap_or_default()
}

/// A boolean member: `Some(true)` when any says true (the riskier for `Privileged`).
fn any_true(v: &Value, name: &str) -> Option<bool> {
    let all: Vec<bool> = members(v, name)
        .into_iter()
        .filter_map(Value::as_bool)
        .collect();
    if all.is_empty() {
        None
    } else {
        Some(all.contains(&true))
    }
}

/// A boolean member: `Some(false)` when any says false (the riskier for `ReadonlyRootfs`).
fn all_true(v: &Value, name: &str) -> Option<bool> {
    let all: Vec<bool> = members(v, name)
        .into_iter()
        .filter_map(Value::as_bool)
        .collect();
    if all.is_empty() {
        None
    } else {
        Some(all.iter().all(|b| *b))
    }
}

/// A number member: the smallest (a limit of 0 is no limit, the riskier).
fn least(v: &Value, name: &str) -> Option<i64> {
    members(v, name)
        .into_iter()
        .filter_map(|n| {
            n.as_i64().or_else(|| {
                // Out of range or fractional: Docker could not read it; saturate.
                #[allow(clippy::cast_possible_truncation)]
                n.as_f64().map(|f| f as i64)
            })
        })
        .min()
}

/// Every string of every member `name` (a string or an array of strings, as Docker's
/// `StrSlice`).
fn strings(v: &Value, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for m in members(v, name) {
        match m {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => {
                out.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            _ => {}
        }
    }
    out
}

/// Every element of every array member `name`.
fn elements<'a>(v: &'a Value, name: &str) -> Vec<&'a Value> {
    members(v, name)
        .into_iter()
        .filter_map(Value::as_array)
        .flatten()
        .collect()
}

/// Every entry of every object member `name`.
fn entries<'a>(v: &'a Value, name: &str) -> Vec<(&'a String, &'a Value)> {
    members(v, name)
        .into_iter()
        .filter_map(Value::as_object)
        .flat_map(Map::iter)
        .collect()
}

/// A host path a container sees.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContainerMount {
    /// The host path (`Source`).
    pub source: String,
    /// Where it appears in the container.
    pub destination: String,
    /// Whether the container may write to it.
    pub rw: bool,
    /// Its mount propagation (`rprivate`, `shared`, ...; empty when not given).
    pub propagation: String,
}

/// A container port published on the host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PublishedPort {
    /// The container's port and protocol (`80/tcp`).
    pub container: String,
    /// The host address (empty: the daemon's default, `ip`).
    pub host_ip: String,
    /// The host port or range (empty: one the daemon picks).
    pub host_port: String,
}

/// A host device given to a container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Device {
    /// The device on the host.
    pub host: String,
    /// Where the container sees it.
    pub container: String,
    /// Its cgroup permissions (`rwm`).
    pub permissions: String,
}

/// What the audit needs of one container's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    /// The container id.
    pub id: String,
    /// Its name (without the leading `/`).
    pub name: String,
    /// The image it runs.
    pub image: String,
    /// Whether `config.v2.json` was read (the fields from it are known).
    pub has_config: bool,
    /// Whether the host configuration was read (`hostconfig.json`, or the older copy inside
    /// `config.v2.json`).
    pub has_hostconfig: bool,
    /// `State.Running`.
    pub running: Option<bool>,
    /// `Config.User` (empty: the image's user, root unless the image sets one).
    pub user: String,
    /// `Config.Healthcheck.Test` (`None`: no health check; `["NONE"]` turns it off).
    pub healthcheck: Option<Vec<String>>,
    /// `Config.ExposedPorts`.
    pub exposed: Vec<String>,
    /// `AppArmorProfile`.
    pub apparmor_profile: String,
    /// `SeccompProfile`.
    pub seccomp_profile: String,
    /// `NoNewPrivileges`, as Docker decided it at creation.
    pub no_new_privileges: Option<bool>,
    /// `ProcessLabel` (SELinux).
    pub process_label: String,
    /// `NetworkSettings.Networks` names.
    pub networks: Vec<String>,
    /// `HostConfig.Privileged`.
    pub privileged: bool,
    /// `HostConfig.NetworkMode`.
    pub network_mode: String,
    /// `HostConfig.PidMode`.
    pub pid_mode: String,
    /// `HostConfig.IpcMode`.
    pub ipc_mode: String,
    /// `HostConfig.UTSMode`.
    pub uts_mode: String,
    /// `HostConfig.UsernsMode`.
    pub userns_mode: String,
    /// `HostConfig.CgroupParent`.
    pub cgroup_parent: String,
    /// `HostConfig.CapAdd`.
    pub cap_add: Vec<String>,
    /// `HostConfig.CapDrop`.
    pub cap_drop: Vec<String>,
    /// `HostConfig.SecurityOpt`.
    pub security_opt: Vec<String>,
    /// `HostConfig.ReadonlyRootfs`.
    pub readonly_rootfs: bool,
    /// `HostConfig.Memory` (bytes; 0 or absent: no limit).
    pub memory: i64,
    /// `HostConfig.CpuShares`.
    pub cpu_shares: i64,
    /// `HostConfig.NanoCpus`.
    pub nano_cpus: i64,
    /// `HostConfig.CpuQuota`.
    pub cpu_quota: i64,
    /// `HostConfig.PidsLimit` (`None`, 0 or -1: no limit).
    pub pids_limit: Option<i64>,
    /// `HostConfig.RestartPolicy`: name and maximum retry count.
    pub restart: (String, i64),
    /// `HostConfig.Devices`.
    pub devices: Vec<Device>,
    /// `HostConfig.DeviceCgroupRules`.
    pub device_cgroup_rules: Vec<String>,
    /// `HostConfig.Ulimits`, as `name=soft:hard`.
    pub ulimits: Vec<String>,
    /// Published ports: `HostConfig.PortBindings` and, when running, `NetworkSettings.Ports`.
    pub ports: Vec<PublishedPort>,
    /// `HostConfig.PublishAllPorts`.
    pub publish_all: bool,
    /// Bind mounts of host paths, from `Binds`, `Mounts` and `MountPoints`, deduplicated and
    /// sorted (of two records of one mount, the writable one).
    pub binds: Vec<ContainerMount>,
    /// Named volumes (`Type: volume`), by destination.
    pub volumes: Vec<String>,
}

const PROPAGATIONS: &[&str] = &[
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

/// Reads a container's `config.v2.json` and `hostconfig.json` (either may be absent).
///
/// Members are matched as Docker reads them: case-insensitively; where several members name
/// one setting, the riskier value counts (privileged, host namespaces, writable mounts).
///
/// # Errors
/// The JSON parser's message when a present file is not JSON.
pub fn parse_container(
    id: &str,
    config_v2: Option<&[u8]>,
    hostconfig: Option<&[u8]>,
) -> Result<Container, String> {
    let parse = |b: Option<&[u8]>, name: &str| -> Result<Value, String> {
        match b {
            Some(b) => serde_json::from_slice(b).map_err(|e| format!("{name}: {e}")),
            None => Ok(Value::Null),
        }
    };
    let config = parse(config_v2, "config.v2.json")?;
    let mut host = parse(hostconfig, "hostconfig.json")?;
    // Older state files embed the host configuration in config.v2.json.
    if !host.is_object() {
        host = members(&config, "HostConfig")
            .into_iter()
            .next()
            .cloned()
            .unwrap_or(Value::Null);
    }
    let cfg: Vec<&Value> = members(&config, "Config");
    let in_cfg = |f: &dyn Fn(&Value) -> Option<String>| cfg.iter().find_map(|c| f(c));
    let mut c = Container {
        id: id.to_owned(),
        has_config: config.is_object(),
        has_hostconfig: host.is_object(),
        ..Container::default()
    };
    c.name = string(&config, "Name")
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_owned();
    c.image = in_cfg(&|v| string(v, "Image").filter(|i| !i.is_empty()))
        .or_else(|| string(&config, "Image"))
        .unwrap_or_default();
    c.running = members(&config, "State")
        .into_iter()
        .find_map(|s| any_true(s, "Running"));
    // The user: the root one, when two spellings disagree.
    let users: Vec<String> = cfg.iter().filter_map(|v| string(v, "User")).collect();
    c.user = users
        .iter()
        .find(|u| is_root_user(u))
        .or(users.first())
        .cloned()
        .unwrap_or_default();
    c.healthcheck = cfg
        .iter()
        .flat_map(|v| members(v, "Healthcheck"))
        .map(|h| strings(h, "Test"))
        .find(|t| !t.is_empty());
    c.exposed = cfg
        .iter()
        .flat_map(|v| entries(v, "ExposedPorts"))
        .map(|(k, _)| k.clone())
        .collect();
    c.apparmor_profile = risky_string(&config, "AppArmorProfile", |p| p == "unconfined");
    c.seccomp_profile = risky_string(&config, "SeccompProfile", |p| p == "unconfined");
    c.no_new_privileges = all_true(&config, "NoNewPrivileges");
    c.process_label = string(&config, "ProcessLabel").unwrap_or_default();
    for settings in members(&config, "NetworkSettings") {
        c.networks.extend(
            entries(settings, "Networks")
                .into_iter()
                .map(|(k, _)| k.clone()),
        );
        for (port, bindings) in entries(settings, "Ports") {
            for b in bindings.as_array().into_iter().flatten() {
                c.ports.push(PublishedPort {
                    container: port.clone(),
                    host_ip: string(b, "HostIp").unwrap_or_default(),
                    host_port: string(b, "HostPort").unwrap_or_default(),
                });
            }
        }
    }

    let is_host = |m: &str| m == "host";
    c.privileged = any_true(&host, "Privileged").unwrap_or(false);
    c.network_mode = risky_string(&host, "NetworkMode", is_host);
    c.pid_mode = risky_string(&host, "PidMode", is_host);
    c.ipc_mode = risky_string(&host, "IpcMode", is_host);
    c.uts_mode = risky_string(&host, "UTSMode", is_host);
    c.userns_mode = risky_string(&host, "UsernsMode", is_host);
    c.cgroup_parent = risky_string(&host, "CgroupParent", |p| !p.is_empty());
    c.cap_add = strings(&host, "CapAdd");
    c.cap_drop = strings(&host, "CapDrop");
    c.security_opt = strings(&host, "SecurityOpt");
    c.readonly_rootfs = all_true(&host, "ReadonlyRootfs").unwrap_or(false);
    c.memory = least(&host, "Memory").unwrap_or(0);
    c.cpu_shares = least(&host, "CpuShares").unwrap_or(0);
    c.nano_cpus = least(&host, "NanoCpus").unwrap_or(0);
    c.cpu_quota = least(&host, "CpuQuota").unwrap_or(0);
    c.pids_limit = least(&host, "PidsLimit");
    c.publish_all = any_true(&host, "PublishAllPorts").unwrap_or(false);
    for policy in members(&host, "RestartPolicy") {
        let name = string(policy, "Name").unwrap_or_default();
        let count = least(policy, "MaximumRetryCount").unwrap_or(0);
        if c.restart.0.is_empty()
            || restart_risk(&name, count) > restart_risk(&c.restart.0, c.restart.1)
        {
            c.restart = (name, count);
        }
    }
    for d in elements(&host, "Devices") {
        c.devices.push(Device {
            host: string(d, "PathOnHost").unwrap_or_default(),
            container: string(d, "PathInContainer").unwrap_or_default(),
            permissions: string(d, "CgroupPermissions").unwrap_or_default(),
        });
    }
    c.device_cgroup_rules = strings(&host, "DeviceCgroupRules");
    for u in elements(&host, "Ulimits") {
        let n = |k: &str| least(u, k).map_or("?".to_owned(), |v| v.to_string());
        c.ulimits.push(format!(
            "{}={}:{}",
            string(u, "Name").unwrap_or_default(),
            n("Soft"),
            n("Hard")
        ));
    }
    for (port, bindings) in entries(&host, "PortBindings") {
        for b in bindings.as_array().into_iter().flatten() {
            c.ports.push(PublishedPort {
                container: port.clone(),
                host_ip: string(b, "HostIp").unwrap_or_default(),
                host_port: string(b, "HostPort").unwrap_or_default(),
            });
        }
    }
    c.ports.sort();
    c.ports.dedup();

    for bind in strings(&host, "Binds") {
        // source:destination[:options]
        let mut parts = bind.splitn(3, ':');
        let source = parts.next().unwrap_or("").to_owned();
        let destination = parts.next().unwrap_or("").to_owned();
        let options: Vec<&str> = parts.next().unwrap_or("").split(',').collect();
        if source.starts_with('/') {
            c.binds.push(ContainerMount {
                source,
                destination,
                rw: !options.contains(&"ro"),
                propagation: options
                    .iter()
                    .find(|o| PROPAGATIONS.contains(o))
                    .map(|o| (*o).to_owned())
                    .unwrap_or_default(),
            });
        } else if !source.is_empty() {
            c.volumes.push(destination);
        }
    }
    for m in elements(&host, "Mounts") {
        let kind = string(m, "Type").unwrap_or_default();
        let target = string(m, "Target").unwrap_or_default();
        if kind == "bind" {
            c.binds.push(ContainerMount {
                source: string(m, "Source").unwrap_or_default(),
                destination: target,
                rw: !all_true(m, "ReadOnly").unwrap_or(false),
                propagation: members(m, "BindOptions")
                    .into_iter()
                    .find_map(|o| string(o, "Propagation"))
                    .unwrap_or_default(),
            });
        } else if kind == "volume" {
            c.volumes.push(target);
        }
    }
    for (_, m) in entries(&config, "MountPoints") {
        let kind = string(m, "Type").unwrap_or_default();
        let rw = any_true(m, "RW").unwrap_or(true);
        let named = string(m, "Name").is_some_and(|n| !n.is_empty());
        if kind == "bind" || (kind.is_empty() && !named) {
            let source = string(m, "Source").unwrap_or_default();
            if !source.is_empty() {
                c.binds.push(ContainerMount {
                    source,
                    destination: string(m, "Destination").unwrap_or_default(),
                    rw,
                    propagation: risky_string(m, "Propagation", |p| p.contains("shared")),
                });
            }
        } else if kind == "volume" {
            c.volumes.push(string(m, "Destination").unwrap_or_default());
        }
    }
    // Of several records of one mount, the riskiest stays: writable, shared.
    c.binds.sort_by(|a, b| {
        (&a.source, &a.destination)
            .cmp(&(&b.source, &b.destination))
            .then_with(|| b.rw.cmp(&a.rw))
            .then_with(|| {
                b.propagation
                    .contains("shared")
                    .cmp(&a.propagation.contains("shared"))
            })
            .then_with(|| b.propagation.cmp(&a.propagation))
    });
    let mut merged: Vec<ContainerMount> = Vec::new();
    for b in std::mem::take(&mut c.binds) {
        match merged.last_mut() {
            Some(last) if last.source == b.source && last.destination == b.destination => {
                if last.propagation.is_empty() {
                    last.propagation = b.propagation;
                }
            }
            _ => merged.push(b),
        }
    }
    c.binds = merged;
    c.volumes.sort();
    c.volumes.dedup();
    c.networks.sort();
    c.networks.dedup();
    c.exposed.sort();
    c.exposed.dedup();
    Ok(c)
}

/// How unbounded a restart policy is (higher is riskier).
fn restart_risk(name: &str, count: i64) -> u8 {
    match name {
        "always" | "unless-stopped" => 3,
        "on-failure" if count <= 0 || count > 5 => 2,
        "on-failure" => 1,
        _ => 0,
    }
}

/// Whether a `User` value runs the process as root: empty (the image's user, root unless the
/// image says otherwise), `root`, uid 0, with any group.
#[must_use]
pub fn is_root_user(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("");
    name.is_empty() || name == "root" || name.parse::<u64>() == Ok(0)
}

/// A container's security option as Docker splits it: `key=value`, the older `key:value`,
/// or `no-new-privileges` alone.
#[must_use]
pub fn security_option(opt: &str) -> (&str, &str) {
    if opt == "no-new-privileges" {
        return (opt, "true");
    }
    opt.split_once('=')
        .or_else(|| opt.split_once(':'))
        .unwrap_or((opt, ""))
}

/// The capabilities Docker gives a container by default, without the `CAP_` prefix.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// A capability's name as Docker normalizes it: upper case, without `CAP_`.
#[must_use]
pub fn capability(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map_or(upper.clone(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn options(text: &str) -> DaemonSettings {
        let mut s = DaemonSettings::default();
        s.apply(&Options::parse(&words(text)), "/etc/conf.d/docker:1");
        s
    }

    #[test]
    fn daemon_json_then_options() {
        let mut s = DaemonSettings::from_daemon_json(
            br#"{"icc": false, "live-restore": true, "log-driver": "syslog", "hosts": ["unix:///run/docker.sock"], "insecure-registries": ["10.0.0.5:5000"]}"#,
            "/etc/docker/daemon.json",
        )
        .unwrap();
        assert_eq!(s.icc, Some(false));
        assert_eq!(s.insecure_registries, ["10.0.0.5:5000"]);
        s.apply(
            &Options::parse(&words(
                "--icc=true -H tcp://0.0.0.0:2375 --userland-proxy=false",
            )),
            "/etc/conf.d/docker:3",
        );
        assert_eq!(s.icc, Some(true));
        assert_eq!(s.userland_proxy, Some(false));
        assert_eq!(s.hosts, ["tcp://0.0.0.0:2375"]);
        assert_eq!(s.origin_of("icc"), "/etc/conf.d/docker:3");
        assert_eq!(s.origin_of("live-restore"), "/etc/docker/daemon.json");
        assert_eq!(s.origin_of("experimental"), "dockerd default");
        // dockerd refuses a setting given twice.
        assert_eq!(s.problems.len(), 2, "{:?}", s.problems);
        assert!(
            s.problems[0].contains("`icc` is set both"),
            "{:?}",
            s.problems
        );
    }

    #[test]
    fn daemon_json_is_decoded_and_typed_as_dockerd_does() {
        let file = "/etc/docker/daemon.json";
        // A byte order mark, UTF-16, an empty file.
        let s = DaemonSettings::from_daemon_json(b"\xef\xbb\xbf{\"icc\": false}", file).unwrap();
        assert_eq!(s.icc, Some(false));
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain(
                "{\"debug\": true}"
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes),
            )
            .collect();
        assert_eq!(
            DaemonSettings::from_daemon_json(&utf16, file)
                .unwrap()
                .debug,
            Some(true)
        );
        assert_eq!(
            DaemonSettings::from_daemon_json(b" \n\t", file).unwrap(),
            DaemonSettings::default()
        );
        // Wrong types and bad text make dockerd refuse the file.
        for bad in [
            &b"{\"icc\": \"false\"}"[..],
            b"{\"hosts\": \"tcp://0.0.0.0:2375\"}",
            b"{\"log-level\": \"verbose\"}",
            b"{\"default-ulimits\": {\"nofile\": 5}}",
            b"[1]",
            b"{",
            b"{\"icc\": false}\xff",
        ] {
            assert!(
                DaemonSettings::from_daemon_json(bad, file).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Keys are dockerd's exactly: another spelling is a key dockerd refuses; null is
        // no value.
        assert!(DaemonSettings::from_daemon_json(b"{\"ICC\": false}", file).is_err());
        assert!(DaemonSettings::from_daemon_json(b"{\"hosts\": [\"TCP://x:1\"]}", file).is_err());
        let s = DaemonSettings::from_daemon_json(b"{\"icc\": null, \"x-icc\": 1}", file).unwrap();
        assert_eq!(s.icc, None);
        let s = DaemonSettings::from_daemon_json(
            br#"{"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000}}, "log-level": "INFO", "graph": "/srv/docker/"}"#,
            file,
        )
        .unwrap();
        assert_eq!(s.default_ulimits, ["nofile=64000:64000"]);
        assert_eq!(s.data_root(), "/srv/docker");
    }

    #[test]
    fn the_command_line_is_parsed_as_go_flags_are() {
        let s = options(
            "-H tcp://0.0.0.0:2375 -Hunix:///x.sock --host=fd:// -D -l warn --storage-opt dm.basesize=20G --default-ulimit nofile=1024:2048",
        );
        assert_eq!(s.hosts, ["tcp://0.0.0.0:2375", "unix:///x.sock", "fd://"]);
        assert_eq!(s.debug, Some(true));
        assert_eq!(s.log_level.as_deref(), Some("warn"));
        assert_eq!(s.storage_opts, ["dm.basesize=20G"]);
        assert_eq!(s.default_ulimits, ["nofile=1024:2048"]);
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        // A boolean flag takes no separate value: `false` is an argument dockerd refuses.
        let s = options("--icc false");
        assert_eq!(s.icc, Some(true));
        assert_eq!(s.problems.len(), 1);
        let s = options("--icc=0 --live-restore=T --userland-proxy=maybe");
        assert_eq!((s.icc, s.live_restore), (Some(false), Some(true)));
        assert_eq!(s.problems.len(), 1);
        // Unknown flags are skipped with their value; a missing value is a problem.
        let s = options("--max-concurrent-downloads 3 --icc=false --log-level");
        assert_eq!(s.icc, Some(false));
        assert_eq!(s.problems, ["`--log-level` needs a value"]);
        let o = Options::parse(&words("--config-file /etc/docker/other.json -Dl debug"));
        assert_eq!(o.config_file.as_deref(), Some("/etc/docker/other.json"));
        assert_eq!(
            o.set,
            [
                ("debug", "true".to_owned()),
                ("log-level", "debug".to_owned())
            ]
        );
    }

    #[test]
    fn tcp_hosts_are_what_dockerd_listens_on_with_tcp() {
        for (host, tcp) in [
            ("tcp://0.0.0.0:2375", true),
            ("0.0.0.0:2375", true),
            (":2375", true),
            ("localhost", true),
            (" tcp://127.0.0.1:2376 ", true),
            ("unix:///run/docker.sock", false),
            ("fd://", false),
            ("", false),
            ("TCP://0.0.0.0:2375", false),
            ("ssh://x", false),
        ] {
            assert_eq!(is_tcp_host(host), tcp, "{host:?}");
        }
        let s = options("-H unix:///run/custom.sock -H 0.0.0.0:2375");
        assert_eq!(s.tcp_hosts(), ["0.0.0.0:2375"]);
        assert_eq!(s.unix_sockets(), ["/run/custom.sock"]);
        assert_eq!(
            DaemonSettings::default().unix_sockets(),
            ["/var/run/docker.sock"]
        );
    }

    #[test]
    fn container_settings_are_read_as_docker_reads_them_whatever_the_case() {
        let parse = |host: &str| parse_container("x", None, Some(host.as_bytes())).unwrap();
        assert!(parse(r#"{"privileged": true}"#).privileged);
        assert!(parse(r#"{"PRIVILEGED": true}"#).privileged);
        // Whichever of two spellings Docker keeps, the riskier one is reported.
        assert!(parse(r#"{"Privileged": false, "pRiViLeGeD": true}"#).privileged);
        assert!(!parse(r#"{"Privileged": false, "Privileges": true}"#).privileged);
        assert_eq!(parse(r#"{"networkmode": "host"}"#).network_mode, "host");
        // Go folds the Kelvin sign to `k` and the long s to `s`.
        assert_eq!(
            parse("{\"Networ\u{212a}Mode\": \"host\"}").network_mode,
            "host"
        );
        assert_eq!(
            parse("{\"PidMode\": \"\", \"pidmode\": \"host\"}").pid_mode,
            "host"
        );
        let c = parse(
            r#"{"binds": ["/etc:/host-etc:ro"], "mounts": [{"type": "bind", "source": "/var/run/docker.sock", "target": "/s", "readonly": false}]}"#,
        );
        assert_eq!(
            c.binds,
            [
                ContainerMount {
                    source: "/etc".into(),
                    destination: "/host-etc".into(),
                    rw: false,
                    propagation: String::new(),
                },
                ContainerMount {
                    source: "/var/run/docker.sock".into(),
                    destination: "/s".into(),
                    rw: true,
                    propagation: String::new(),
                },
            ]
        );
    }

    #[test]
    fn container_binds_from_every_source() {
        let c = parse_container(
            "abc",
            Some(br#"{"Name":"/web","Config":{"Image":"nginx"},"MountPoints":{"/data":{"Source":"/srv/data","Destination":"/data","RW":false,"Type":"bind","Propagation":"rshared"}}}"#),
            Some(br#"{"Binds":["/var/run/docker.sock:/var/run/docker.sock:ro","named:/cache","/mnt:/mnt:rw,slave"],"Mounts":[{"Type":"bind","Source":"/etc","Target":"/host-etc","ReadOnly":true}],"Privileged":true,"NetworkMode":"host","PidMode":"host"}"#),
        )
        .unwrap();
        assert_eq!(c.name, "web");
        assert_eq!(c.image, "nginx");
        assert!(c.privileged);
        let sources: Vec<(&str, bool, &str)> = c
            .binds
            .iter()
            .map(|b| (b.source.as_str(), b.rw, b.propagation.as_str()))
            .collect();
        assert_eq!(
            sources,
            [
                ("/etc", false, ""),
                ("/mnt", true, "slave"),
                ("/srv/data", false, "rshared"),
                ("/var/run/docker.sock", false, "")
            ]
        );
        assert_eq!(c.volumes, ["/cache"]);
        assert!(parse_container("x", Some(b"{"), None).is_err());
    }

    #[test]
    fn container_settings_are_read_whatever_the_case_and_the_riskier_wins() {
        let parse = |host: &str| parse_container("x", None, Some(host.as_bytes())).unwrap();
        assert!(parse(r#"{"privileged": true}"#).privileged);
        assert!(parse(r#"{"Privileged": false, "pRiViLeGeD": true}"#).privileged);
        assert!(!parse(r#"{"Privileged": false, "Privileges": true}"#).privileged);
        assert_eq!(
            parse("{\"Networ\u{212a}Mode\": \"host\"}").network_mode,
            "host"
        );
        assert_eq!(
            parse(r#"{"PidMode": "", "pidmode": "host"}"#).pid_mode,
            "host"
        );
        assert_eq!(parse(r#"{"utsmode": "host"}"#).uts_mode, "host");
        let c = parse(
            r#"{"memory": 1073741824, "MEMORY": 0, "readonlyrootfs": true, "ReadonlyRootfs": false,
                "capadd": "SYS_ADMIN", "CapAdd": ["net_admin"], "pidslimit": null,
                "restartpolicy": {"name": "on-failure", "maximumretrycount": 3},
                "RestartPolicy": {"Name": "always"},
                "portbindings": {"80/tcp": [{"hostip": "", "hostport": "80"}]},
                "devices": [{"pathonhost": "/dev/sda", "pathincontainer": "/dev/sda", "cgrouppermissions": "rwm"}],
                "ulimits": [{"name": "nofile", "soft": 1024, "hard": 2048}],
                "securityopt": ["seccomp=unconfined"], "Binds": null}"#,
        );
        assert_eq!(c.memory, 0);
        assert!(!c.readonly_rootfs);
        // The exact name first, then the other spellings.
        assert_eq!(c.cap_add, ["net_admin", "SYS_ADMIN"]);
        assert_eq!(c.pids_limit, None);
        assert_eq!(c.restart, ("always".to_owned(), 0));
        assert_eq!(
            c.ports,
            [PublishedPort {
                container: "80/tcp".into(),
                host_ip: String::new(),
                host_port: "80".into()
            }]
        );
        assert_eq!(c.devices[0].host, "/dev/sda");
        assert_eq!(c.ulimits, ["nofile=1024:2048"]);
        assert_eq!(c.security_opt, ["seccomp=unconfined"]);
        let c = parse_container(
            "x",
            Some(
                br#"{"config": {"user": "app", "USER": "0:0", "healthcheck": {"test": ["NONE"]}},
                    "apparmorprofile": "unconfined", "NoNewPrivileges": true, "nonewprivileges": false,
                    "state": {"running": true}}"#,
            ),
            None,
        )
        .unwrap();
        assert_eq!(c.user, "0:0");
        assert_eq!(c.healthcheck, Some(vec!["NONE".to_owned()]));
        assert_eq!(c.apparmor_profile, "unconfined");
        assert_eq!(c.no_new_privileges, Some(false));
        assert_eq!(c.running, Some(true));
        assert!(c.has_config && !c.has_hostconfig);
    }

    #[test]
    fn users_options_and_capabilities() {
        for (user, root) in [
            ("", true),
            ("root", true),
            ("0", true),
            ("00:0", true),
            ("0:1000", true),
            ("root:root", true),
            ("1000", false),
            ("app:app", false),
            ("1000:0", false),
        ] {
            assert_eq!(is_root_user(user), root, "{user:?}");
        }
        assert_eq!(
            security_option("seccomp:unconfined"),
            ("seccomp", "unconfined")
        );
        assert_eq!(
            security_option("seccomp=unconfined"),
            ("seccomp", "unconfined")
        );
        assert_eq!(
            security_option("no-new-privileges"),
            ("no-new-privileges", "true")
        );
        assert_eq!(
            security_option("label=type:svirt_t"),
            ("label", "type:svirt_t")
        );
        assert_eq!(capability("cap_sys_admin"), "SYS_ADMIN");
        assert_eq!(capability(" Net_Admin "), "NET_ADMIN");
    }

    proptest! {
        #[test]
        fn container_and_daemon_parsers_never_panic(a in "\\PC{0,200}", b in "\\PC{0,200}") {
            let _ = parse_container("x", Some(a.as_bytes()), Some(b.as_bytes()));
            if let Ok(mut s) = DaemonSettings::from_daemon_json(a.as_bytes(), "f") {
                s.apply(&Options::parse(&words(&b)), "g:1");
                let _ = s.tcp_hosts();
                let _ = s.unix_sockets();
                let _ = s.data_root();
            }
        }

        #[test]
        fn structured_state_never_panics(
            json in "([{}\\[\\]\":,]|\"[A-Za-z]{1,12}\"|-?[0-9]{1,20}|true|false|null| ){0,80}"
        ) {
            let _ = parse_container("x", Some(json.as_bytes()), Some(json.as_bytes()));
            let _ = DaemonSettings::from_daemon_json(json.as_bytes(), "f");
        }
    }
}
