//! Family `packages`: the packages requested in `/etc/apk/world` are the profile's, and no
//! application that belongs in a container is installed on the host.

use std::collections::{BTreeMap, BTreeSet};

use super::CheckId;
use super::host::{Host, Package, atom_name, join_list};

impl Host<'_> {
    pub(super) fn packages(&mut self) {
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
                        CheckId::PackageNotInProfile,
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
                CheckId::PackageApplication,
                format!("application package `{name}` is installed on the host"),
                why,
            ));
        }
        if self.policy.packages.is_none() {
            self.skip(
                CheckId::PackageNotInProfile,
                "no profile: the package list is not known",
            );
        }
        for (id, message, evidence) in found {
            self.emit(id, "/etc/apk/world", None, message, evidence);
        }
    }
}

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
