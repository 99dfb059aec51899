//! Docker's own files as the audit reads them: the daemon settings (`daemon.json`, overridden
//! by `DOCKER_OPTS` in OpenRC's `/etc/conf.d/docker`) and the state Docker keeps for each
//! container (`/var/lib/docker/containers/<id>/config.v2.json` and `hostconfig.json`).
//!
//! Invariant: pure; unknown fields are ignored, wrong types read as absent, never a panic.

use std::collections::BTreeMap;

use serde_json::Value;

/// The daemon settings that the CIS Docker Benchmark (section 2) looks at, after
/// `daemon.json` and the command-line options of `/etc/conf.d/docker` are combined (options
/// win, as dockerd refuses a conflict but the operator's flags are what they meant).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonSettings {
    /// `icc`: inter-container communication on the default bridge (default true).
    pub icc: Option<bool>,
    /// `live-restore` (default false).
    pub live_restore: Option<bool>,
    /// `userland-proxy` (default true).
    pub userland_proxy: Option<bool>,
    /// `no-new-privileges` (default false).
    pub no_new_privileges: Option<bool>,
    /// `log-driver` (default `json-file`).
    pub log_driver: Option<String>,
    /// `log-level` (default `info`).
    pub log_level: Option<String>,
    /// `userns-remap`.
    pub userns_remap: Option<String>,
    /// `insecure-registries`.
    pub insecure_registries: Vec<String>,
    /// `hosts` (`-H`): where the API listens.
    pub hosts: Vec<String>,
    /// `tlsverify`.
    pub tlsverify: Option<bool>,
    /// `tlscacert`, `tlscert`, `tlskey`.
    pub tls_files: BTreeMap<String, String>,
    /// `iptables` (default true).
    pub iptables: Option<bool>,
    /// `experimental` (default false).
    pub experimental: Option<bool>,
    /// Where each setting came from (`/etc/docker/daemon.json` or `/etc/conf.d/docker`).
    pub origin: BTreeMap<&'static str, String>,
}

fn json_bool(v: &Value) -> Option<bool> {
    v.as_bool()
}

fn json_strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// A `daemon.json` that is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{file}` is not a JSON object: {detail}")]
pub struct InvalidDaemonJson {
    /// The file.
    pub file: String,
    /// The parser's message.
    pub detail: String,
}

impl DaemonSettings {
    /// Reads `daemon.json`.
    ///
    /// # Errors
    /// [`InvalidDaemonJson`] when it is not a JSON object.
    pub fn from_daemon_json(bytes: &[u8], file: &str) -> Result<Self, InvalidDaemonJson> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| InvalidDaemonJson {
            file: file.to_owned(),
            detail: e.to_string(),
        })?;
        let Value::Object(map) = value else {
            return Err(InvalidDaemonJson {
                file: file.to_owned(),
                detail: "the top level is not an object".to_owned(),
            });
        };
        let mut s = DaemonSettings::default();
        let origin = |key: &'static str, s: &mut DaemonSettings| {
            s.origin.insert(key, file.to_owned());
        };
        for (key, v) in &map {
            match key.as_str() {
                "icc" => {
                    s.icc = json_bool(v);
                    origin("icc", &mut s);
                }
                "live-restore" => {
                    s.live_restore = json_bool(v);
                    origin("live-restore", &mut s);
                }
                "userland-proxy" => {
                    s.userland_proxy = json_bool(v);
                    origin("userland-proxy", &mut s);
                }
                "no-new-privileges" => {
                    s.no_new_privileges = json_bool(v);
                    origin("no-new-privileges", &mut s);
                }
                "log-driver" => {
                    s.log_driver = v.as_str().map(str::to_owned);
                    origin("log-driver", &mut s);
                }
                "log-level" => {
                    s.log_level = v.as_str().map(str::to_owned);
                    origin("log-level", &mut s);
                }
                "userns-remap" => {
                    s.userns_remap = v.as_str().map(str::to_owned);
                    origin("userns-remap", &mut s);
                }
                "insecure-registries" => {
                    s.insecure_registries = json_strings(v);
                    origin("insecure-registries", &mut s);
                }
                "hosts" => {
                    s.hosts = json_strings(v);
                    origin("hosts", &mut s);
                }
                "tlsverify" => {
                    s.tlsverify = json_bool(v);
                    origin("tlsverify", &mut s);
                }
                "tlscacert" | "tlscert" | "tlskey" => {
                    if let Some(path) = v.as_str() {
                        s.tls_files.insert(key.clone(), path.to_owned());
                    }
                }
                "iptables" => {
                    s.iptables = json_bool(v);
                    origin("iptables", &mut s);
                }
                "experimental" => {
                    s.experimental = json_bool(v);
                    origin("experimental", &mut s);
                }
                _ => {}
            }
        }
        Ok(s)
    }

    /// Applies dockerd command-line options (`DOCKER_OPTS` of `/etc/conf.d/docker`).
    pub fn apply_options(&mut self, opts: &str, file: &str) {
        let words: Vec<&str> = opts.split_whitespace().collect();
        let mut i = 0;
        while i < words.len() {
            let (flag, inline) = match words[i].split_once('=') {
                Some((f, v)) => (f, Some(v)),
                None => (words[i], None),
            };
            let value = |i: &mut usize| -> Option<String> {
                if let Some(v) = inline {
                    return Some(v.to_owned());
                }
                let next = words.get(*i + 1)?;
                if next.starts_with('-') {
                    return None;
                }
                *i += 1;
                Some((*next).to_owned())
            };
            let boolean = |i: &mut usize| -> bool {
                match inline {
                    Some(v) => v != "false",
                    None => match words.get(*i + 1) {
                        Some(&"true") => {
                            *i += 1;
                            true
                        }
                        Some(&"false") => {
                            *i += 1;
                            false
                        }
                        _ => true,
                    },
                }
            };
            let set = |key: &'static str, s: &mut DaemonSettings| {
                s.origin.insert(key, file.to_owned());
            };
            match flag {
                "--icc" => {
                    self.icc = Some(boolean(&mut i));
                    set("icc", self);
                }
                "--live-restore" => {
                    self.live_restore = Some(boolean(&mut i));
                    set("live-restore", self);
                }
                "--userland-proxy" => {
                    self.userland_proxy = Some(boolean(&mut i));
                    set("userland-proxy", self);
                }
                "--no-new-privileges" => {
                    self.no_new_privileges = Some(boolean(&mut i));
                    set("no-new-privileges", self);
                }
                "--iptables" => {
                    self.iptables = Some(boolean(&mut i));
                    set("iptables", self);
                }
                "--experimental" => {
                    self.experimental = Some(boolean(&mut i));
                    set("experimental", self);
                }
                "--tlsverify" => {
                    self.tlsverify = Some(boolean(&mut i));
                    set("tlsverify", self);
                }
                "--log-driver" => {
                    self.log_driver = value(&mut i);
                    set("log-driver", self);
                }
                "--log-level" | "-l" => {
                    self.log_level = value(&mut i);
                    set("log-level", self);
                }
                "--userns-remap" => {
                    self.userns_remap = value(&mut i);
                    set("userns-remap", self);
                }
                "--insecure-registry" => {
                    if let Some(v) = value(&mut i) {
                        self.insecure_registries.push(v);
                        set("insecure-registries", self);
                    }
                }
                "-H" | "--host" => {
                    if let Some(v) = value(&mut i) {
                        self.hosts.push(v);
                        set("hosts", self);
                    }
                }
                "--tlscacert" | "--tlscert" | "--tlskey" => {
                    if let Some(v) = value(&mut i) {
                        self.tls_files
                            .insert(flag.trim_start_matches('-').to_owned(), v);
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// Where `key` was set, or `default` when it was not.
    #[must_use]
    pub fn origin_of(&self, key: &str) -> String {
        self.origin
            .get(key)
            .cloned()
            .unwrap_or_else(|| "dockerd default".to_owned())
    }
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
    /// `HostConfig.Privileged`.
    pub privileged: bool,
    /// `HostConfig.NetworkMode`.
    pub network_mode: String,
    /// `HostConfig.PidMode`.
    pub pid_mode: String,
    /// `HostConfig.IpcMode`.
    pub ipc_mode: String,
    /// `HostConfig.UsernsMode`.
    pub userns_mode: String,
    /// Bind mounts of host paths, from `Binds`, `Mounts` and `MountPoints`, deduplicated and
    /// sorted.
    pub binds: Vec<ContainerMount>,
    /// Named volumes (`Type: volume`), by destination.
    pub volumes: Vec<String>,
    /// `HostConfig.CapAdd`.
    pub cap_add: Vec<String>,
}

/// Whether two member names are the same to Go's `encoding/json` (Docker's reader): equal
/// under Unicode simple case folding, where the Kelvin sign is `k` and the long s is `s`.
fn same_name(a: &str, b: &str) -> bool {
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

/// Every member of the object `v` that Docker would read as `name`: the exact name and any
/// name equal to it case-insensitively (`PRIVILEGED`). Which one Docker keeps depends on
/// their order in the file, so the audit looks at all of them.
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
    out
}

/// The first string member `name` (the exact name first).
fn string(v: &Value, name: &str) -> String {
    members(v, name)
        .into_iter()
        .find_map(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// A namespace mode: `host` when any member `name` says so.
fn mode(v: &Value, name: &str) -> String {
    let values = members(v, name);
    if values.iter().any(|m| m.as_str() == Some("host")) {
        "host".to_owned()
    } else {
        string(v, name)
    }
}

/// Whether any member `name` is `true`.
fn any_true(v: &Value, name: &str) -> bool {
    members(v, name).iter().any(|m| m.as_bool() == Some(true))
}

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
    if host.is_null() {
        host = members(&config, "HostConfig")
            .into_iter()
            .next()
            .cloned()
            .unwrap_or(Value::Null);
    }
    let mut binds = Vec::new();
    let mut volumes = Vec::new();
    for bind in members(&host, "Binds").into_iter().flat_map(json_strings) {
        // source:destination[:options]
        let mut parts = bind.splitn(3, ':');
        let source = parts.next().unwrap_or("").to_owned();
        let destination = parts.next().unwrap_or("").to_owned();
        let options = parts.next().unwrap_or("");
        if source.starts_with('/') {
            binds.push(ContainerMount {
                source,
                destination,
                rw: !options.split(',').any(|o| o == "ro"),
            });
        } else if !source.is_empty() {
            volumes.push(destination);
        }
    }
    for mounts in members(&host, "Mounts") {
        let Value::Array(mounts) = mounts else {
            continue;
        };
        for m in mounts {
            let kind = string(m, "Type");
            let readonly = {
                let values = members(m, "ReadOnly");
                !values.is_empty() && values.iter().all(|v| v.as_bool() == Some(true))
            };
            if kind == "bind" {
                binds.push(ContainerMount {
                    source: string(m, "Source"),
                    destination: string(m, "Target"),
                    rw: !readonly,
                });
            } else if kind == "volume" {
                volumes.push(string(m, "Target"));
            }
        }
    }
    for points in members(&config, "MountPoints") {
        let Value::Object(points) = points else {
            continue;
        };
        for m in points.values() {
            let kind = string(m, "Type");
            let rw = {
                let values = members(m, "RW");
                values.is_empty() || values.iter().any(|v| v.as_bool() != Some(false))
            };
            if kind == "bind" || (kind.is_empty() && string(m, "Name").is_empty()) {
                let source = string(m, "Source");
                if !source.is_empty() {
                    binds.push(ContainerMount {
                        source,
                        destination: string(m, "Destination"),
                        rw,
                    });
                }
            } else if kind == "volume" {
                volumes.push(string(m, "Destination"));
            }
        }
    }
    binds.sort();
    // Of two records of one mount, the writable one stays (`rw` sorts true last).
    binds.reverse();
    binds.dedup_by(|a, b| a.source == b.source && a.destination == b.destination);
    binds.reverse();
    volumes.sort();
    volumes.dedup();
    let name = string(&config, "Name");
    let image = members(&config, "Config")
        .into_iter()
        .map(|c| string(c, "Image"))
        .find(|i| !i.is_empty())
        .unwrap_or_else(|| string(&config, "Image"));
    Ok(Container {
        id: id.to_owned(),
        name: name.trim_start_matches('/').to_owned(),
        image,
        privileged: any_true(&host, "Privileged"),
        network_mode: mode(&host, "NetworkMode"),
        pid_mode: mode(&host, "PidMode"),
        ipc_mode: mode(&host, "IpcMode"),
        userns_mode: mode(&host, "UsernsMode"),
        binds,
        volumes,
        cap_add: members(&host, "CapAdd")
            .into_iter()
            .flat_map(json_strings)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn daemon_json_then_options() {
        let mut s = DaemonSettings::from_daemon_json(
            br#"{"icc": false, "live-restore": true, "log-driver": "syslog", "hosts": ["unix:///run/docker.sock"], "insecure-registries": ["10.0.0.5:5000"]}"#,
            "/etc/docker/daemon.json",
        )
        .unwrap();
        assert_eq!(s.icc, Some(false));
        assert_eq!(s.insecure_registries, ["10.0.0.5:5000"]);
        s.apply_options(
            "--icc=true -H tcp://0.0.0.0:2375 --userland-proxy false",
            "/etc/conf.d/docker",
        );
        assert_eq!(s.icc, Some(true));
        assert_eq!(s.userland_proxy, Some(false));
        assert_eq!(s.hosts, ["unix:///run/docker.sock", "tcp://0.0.0.0:2375"]);
        assert_eq!(s.origin_of("icc"), "/etc/conf.d/docker");
        assert_eq!(s.origin_of("live-restore"), "/etc/docker/daemon.json");
        assert_eq!(s.origin_of("experimental"), "dockerd default");
        assert!(DaemonSettings::from_daemon_json(b"[1]", "f").is_err());
        assert!(DaemonSettings::from_daemon_json(b"{", "f").is_err());
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
                    rw: false
                },
                ContainerMount {
                    source: "/var/run/docker.sock".into(),
                    destination: "/s".into(),
                    rw: true
                },
            ]
        );
    }

    #[test]
    fn container_binds_from_every_source() {
        let c = parse_container(
            "abc",
            Some(br#"{"Name":"/web","Config":{"Image":"nginx"},"MountPoints":{"/data":{"Source":"/srv/data","Destination":"/data","RW":false,"Type":"bind"}}}"#),
            Some(br#"{"Binds":["/var/run/docker.sock:/var/run/docker.sock:ro","named:/cache"],"Mounts":[{"Type":"bind","Source":"/etc","Target":"/host-etc","ReadOnly":true}],"Privileged":true,"NetworkMode":"host","PidMode":"host"}"#),
        )
        .unwrap();
        assert_eq!(c.name, "web");
        assert_eq!(c.image, "nginx");
        assert!(c.privileged);
        let sources: Vec<&str> = c.binds.iter().map(|b| b.source.as_str()).collect();
        assert_eq!(sources, ["/etc", "/srv/data", "/var/run/docker.sock"]);
        assert!(!c.binds[2].rw);
        assert_eq!(c.volumes, ["/cache"]);
        assert!(parse_container("x", Some(b"{"), None).is_err());
    }

    proptest! {
        #[test]
        fn container_and_daemon_parsers_never_panic(a in "\\PC{0,200}", b in "\\PC{0,200}") {
            let _ = parse_container("x", Some(a.as_bytes()), Some(b.as_bytes()));
            if let Ok(mut s) = DaemonSettings::from_daemon_json(a.as_bytes(), "f") {
                s.apply_options(&b, "g");
            }
        }
    }
}
