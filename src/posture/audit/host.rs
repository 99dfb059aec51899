//! The root being audited, as every check family reads it: the facts loaded once (services,
//! packages, accounts), bounded reads through [`RootFs`] that turn a failure into an
//! `unreadable-file` finding, and the helpers the families share.
//!
//! Invariant: the root is only ever read through [`RootFs`]; a file that cannot be read is a
//! finding, never an abort.

use std::collections::{BTreeMap, BTreeSet};

use crate::integrity::rootfs::{INSTALLED_DATABASE, Kind, Metadata, RootFs};

use super::config::{self, SshdConfig};
use super::{AuditPolicy, CheckId, Finding, Skipped, docker};

/// An installed package as the audit needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Package {
    pub(super) name: String,
    pub(super) version: String,
    pub(super) depends: Vec<String>,
    pub(super) provides: Vec<String>,
}

/// The name part of a dependency or world atom (`name>=1.0`, `name@tag`, `!name`).
pub(super) fn atom_name(atom: &str) -> &str {
    let atom = atom.trim_start_matches('!');
    let end = atom.find(['<', '>', '=', '~', '@']).unwrap_or(atom.len());
    &atom[..end]
}

/// The root, the expectations, the facts loaded once, and what the families found.
pub(super) struct Host<'a> {
    pub(super) fs: &'a RootFs,
    pub(super) policy: &'a AuditPolicy,
    pub(super) findings: Vec<Finding>,
    pub(super) skipped: Vec<Skipped>,
    /// service -> runlevels it is enabled in.
    pub(super) enabled: BTreeMap<String, BTreeSet<String>>,
    pub(super) runlevels_present: bool,
    pub(super) world: Vec<String>,
    pub(super) installed: Vec<Package>,
    pub(super) passwd: Vec<config::PasswdEntry>,
    pub(super) groups: Vec<config::GroupEntry>,
    pub(super) sshd: Option<SshdConfig>,
    pub(super) docker_installed: bool,
    pub(super) daemon: Option<docker::DaemonSettings>,
    /// The daemon's configuration file (`/etc/docker/daemon.json` unless `--config-file`).
    pub(super) daemon_config: String,
    /// Whether that file could be read as dockerd reads it (else the settings above are
    /// the command line's alone).
    pub(super) daemon_known: bool,
    /// The files each sshd `Include` path names, read once.
    pub(super) sshd_includes: BTreeMap<String, Vec<(String, String)>>,
    /// The directories the installed packages own (`/etc/ssh`).
    pub(super) package_dirs: BTreeSet<String>,
}

impl<'a> Host<'a> {
    pub(super) fn new(fs: &'a RootFs, policy: &'a AuditPolicy) -> Self {
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
            daemon_config: super::docker_daemon::DAEMON_JSON.to_owned(),
            daemon_known: true,
            sshd_includes: BTreeMap::new(),
            package_dirs: BTreeSet::new(),
        };
        host.load();
        host
    }

    /// A finding of a check that maps to at most one CIS item (that item is its reference).
    pub(super) fn emit(
        &mut self,
        id: CheckId,
        path: &str,
        line: Option<u32>,
        message: String,
        evidence: String,
    ) {
        debug_assert!(id.cis().len() <= 1, "{id} needs its CIS item named");
        self.push(id, id.cis().first().copied(), path, line, message, evidence);
    }

    /// A finding of one of the check's CIS items (`None`: a finding of the check that
    /// concerns none of them, as a watch the profile adds).
    pub(super) fn emit_cis(
        &mut self,
        id: CheckId,
        cis: Option<&'static str>,
        path: &str,
        line: Option<u32>,
        message: String,
        evidence: String,
    ) {
        debug_assert!(
            cis.is_none_or(|c| id.cis().contains(&c)),
            "{id} does not answer CIS {cis:?}"
        );
        self.push(id, cis, path, line, message, evidence);
    }

    fn push(
        &mut self,
        id: CheckId,
        cis: Option<&'static str>,
        path: &str,
        line: Option<u32>,
        message: String,
        evidence: String,
    ) {
        self.findings.push(Finding {
            check: id,
            severity: id.severity(),
            cis,
            path: path.to_owned(),
            line,
            message,
            evidence,
        });
    }

    /// A check that was not answered, for a reason that concerns no one file.
    /// (All its CIS items, when it has several.)
    pub(super) fn skip(&mut self, id: CheckId, reason: &str) {
        self.skipped.push(Skipped {
            check: id,
            cis: only_cis(id),
            path: None,
            reason: reason.to_owned(),
        });
    }

    /// One CIS item of a check (or the whole check, with `None`) not answered because of
    /// the file at `path` (absent, or only on a live host).
    pub(super) fn skip_path(
        &mut self,
        id: CheckId,
        cis: Option<&'static str>,
        path: &str,
        reason: &str,
    ) {
        debug_assert!(cis.is_none_or(|c| id.cis().contains(&c)));
        self.skipped.push(Skipped {
            check: id,
            cis: cis.or_else(|| only_cis(id)),
            path: Some(path.to_owned()),
            reason: reason.to_owned(),
        });
    }

    /// The text of a file, or `None` when absent; an unreadable file is reported.
    pub(super) fn text(&mut self, path: &str) -> Option<String> {
        match self.fs.read(path) {
            Ok(Some(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Ok(None) => None,
            Err(err) => {
                self.emit(
                    CheckId::UnreadableFile,
                    path,
                    None,
                    format!("cannot read `{path}`"),
                    format!("{err}"),
                );
                None
            }
        }
    }

    pub(super) fn meta(&mut self, path: &str) -> Option<Metadata> {
        match self.fs.symlink_metadata(path) {
            Ok(m) => m,
            Err(err) => {
                self.emit(
                    CheckId::UnreadableFile,
                    path,
                    None,
                    format!("cannot inspect `{path}`"),
                    format!("{err}"),
                );
                None
            }
        }
    }

    pub(super) fn exists(&mut self, path: &str) -> bool {
        matches!(self.fs.metadata(path), Ok(Some(_)))
    }

    pub(super) fn list(&mut self, dir: &str) -> Vec<(String, Metadata)> {
        match self.fs.list_dir(dir) {
            Ok(list) => list.unwrap_or_default(),
            Err(err) => {
                self.emit(
                    CheckId::UnreadableFile,
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
    pub(super) fn dir_files(&mut self, dir: &str, suffix: &str) -> Vec<(String, String)> {
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

    pub(super) fn load(&mut self) {
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
        // The database every command reads: exactly the regular file at its path.
        let db_path = INSTALLED_DATABASE;
        match self.fs.installed_database() {
            Ok(Some(bytes)) => match crate::apk::installed::Database::parse(&bytes) {
                Ok(db) => {
                    self.package_dirs = db
                        .packages
                        .iter()
                        .flat_map(|p| &p.dirs)
                        .filter(|d| !d.path.is_empty())
                        .map(|d| format!("/{}", d.path))
                        .collect();
                    self.installed = db
                        .packages
                        .into_iter()
                        .map(|p| Package {
                            name: p.name,
                            version: p.version,
                            depends: p.depends,
                            provides: p.provides,
                        })
                        .collect();
                }
                Err(err) => self.emit(
                    CheckId::UnreadableFile,
                    db_path,
                    None,
                    "the installed package database cannot be parsed".to_owned(),
                    err.to_string(),
                ),
            },
            Ok(None) => {}
            Err(err) => self.emit(
                CheckId::UnreadableFile,
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

    pub(super) fn is_enabled(&self, service: &str) -> bool {
        self.enabled.contains_key(service)
    }
}

/// The check's CIS item when it has exactly one.
fn only_cis(id: CheckId) -> Option<&'static str> {
    match id.cis() {
        [one] => Some(one),
        _ => None,
    }
}

pub(super) fn join_list<S: AsRef<str>>(items: &[S]) -> String {
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

pub(super) fn join_or_none(items: Option<&BTreeSet<String>>) -> String {
    match items {
        Some(s) if !s.is_empty() => s.iter().cloned().collect::<Vec<_>>().join(", "),
        _ => "none".to_owned(),
    }
}

/// Shell-style matching of one path component: `*`, `?`, `[...]` (as sshd's `Include`).
pub(super) fn glob_match(pattern: &str, name: &str) -> bool {
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
