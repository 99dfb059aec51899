//! Family `docker-files`: Docker's files and sockets are owned and permitted as CIS Docker
//! Benchmark section 3 requires, its data directory is a volume of its own (1.1.1), and its
//! packages are the repositories' current ones (1.2.2).
//!
//! A file the benchmark names that the root lacks is listed as skipped with its path; the
//! sockets only a running daemon creates are, in an image, listed as what only a live host
//! can answer.

use crate::apk::version;
use crate::integrity::rootfs::Kind;

use super::CheckId;
use super::config;
use super::host::Host;

/// When the root must have a file for its check to be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    /// Docker's own file: absent is worth saying.
    Expected,
    /// Some installations have it (systemd units, other distributions' files).
    Optional,
    /// Created by the running daemon: only a live host has it.
    Live,
}

struct DockerFile {
    path: String,
    /// Owned by root and the docker group (the socket) rather than root:root.
    docker_group: bool,
    cis_owner: &'static str,
    cis_mode: &'static str,
    max: u32,
    presence: Presence,
}

fn file(
    path: &str,
    cis_owner: &'static str,
    cis_mode: &'static str,
    max: u32,
    presence: Presence,
) -> DockerFile {
    DockerFile {
        path: path.to_owned(),
        docker_group: false,
        cis_owner,
        cis_mode,
        max,
        presence,
    }
}

/// The Docker engine packages whose versions 1.2.2 compares.
pub const ENGINE_PACKAGES: &[&str] = &[
    "docker",
    "docker-engine",
    "docker-cli",
    "containerd",
    "runc",
];

const SYSTEMD_DIRS: &[&str] = &[
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    "/etc/systemd/system",
];

impl Host<'_> {
    pub(super) fn docker_files(&mut self) {
        if !self.docker_installed {
            return;
        }
        self.docker_partition();
        self.docker_outdated();
        let settings = self.daemon.clone().unwrap_or_default();
        let docker_gid = self
            .groups
            .iter()
            .find(|g| g.name == "docker")
            .map(|g| g.gid);
        let mut files = vec![
            // docker.service is OpenRC's init script, which must stay executable.
            file(
                "/etc/init.d/docker",
                "3.1",
                "3.2",
                0o755,
                Presence::Expected,
            ),
            file("/etc/docker", "3.5", "3.6", 0o755, Presence::Expected),
            file(
                "/etc/conf.d/docker",
                "3.19",
                "3.20",
                0o644,
                Presence::Expected,
            ),
            file(
                "/etc/default/docker",
                "3.19",
                "3.20",
                0o644,
                Presence::Optional,
            ),
            file(
                "/etc/sysconfig/docker",
                "3.22",
                "3.21",
                0o644,
                Presence::Optional,
            ),
            file(
                "/run/containerd/containerd.sock",
                "3.23",
                "3.24",
                0o660,
                Presence::Live,
            ),
        ];
        let config_file = self.daemon_config.clone();
        files.push(file(
            &config_file,
            "3.17",
            "3.18",
            0o644,
            Presence::Expected,
        ));
        for socket in settings.unix_sockets() {
            let path = crate::integrity::rootfs::normalize(&socket);
            let path = path
                .strip_prefix("/var/run/")
                .map_or(path.clone(), |rest| format!("/run/{rest}"));
            files.push(DockerFile {
                docker_group: true,
                ..file(&path, "3.15", "3.16", 0o660, Presence::Live)
            });
        }
        // systemd's units, when the root has them (OpenRC has no socket unit).
        let mut socket_unit = false;
        for dir in SYSTEMD_DIRS {
            for (unit, o, m) in [
                ("docker.service", "3.1", "3.2"),
                ("docker.socket", "3.3", "3.4"),
            ] {
                let path = format!("{dir}/{unit}");
                if self.exists(&path) {
                    socket_unit |= unit == "docker.socket";
                    files.push(file(&path, o, m, 0o644, Presence::Optional));
                }
            }
        }
        if !socket_unit {
            for cis in ["3.3", "3.4"] {
                let id = if cis == "3.3" {
                    CheckId::DockerFileOwner
                } else {
                    CheckId::DockerFileMode
                };
                self.skip_path(
                    id,
                    Some(cis),
                    "/usr/lib/systemd/system/docker.socket",
                    "no docker.socket unit: OpenRC starts dockerd without socket activation",
                );
            }
        }
        // TLS files, when TLS is configured.
        let tls_on = settings.tls.unwrap_or(false) || settings.tlsverify.unwrap_or(false);
        for (key, cis_o, cis_m, max) in [
            ("tlscacert", "3.9", "3.10", 0o444),
            ("tlscert", "3.11", "3.12", 0o444),
            ("tlskey", "3.13", "3.14", 0o400),
        ] {
            match settings.tls_files.get(key) {
                Some(p) => files.push(file(p, cis_o, cis_m, max, Presence::Expected)),
                None => {
                    let why = if tls_on {
                        format!(
                            "TLS is on but `{key}` is not set: dockerd reads its default under root's ~/.docker"
                        )
                    } else {
                        format!("TLS is not configured: no `{key}`")
                    };
                    self.skip(CheckId::DockerFileOwner, &format!("CIS {cis_o}: {why}"));
                    self.skip(CheckId::DockerFileMode, &format!("CIS {cis_m}: {why}"));
                }
            }
        }
        // Registry certificates: /etc/docker/certs.d/<registry>/*.
        let mut certs = 0;
        for (registry, meta) in self.list("/etc/docker/certs.d") {
            if meta.kind == Kind::Dir {
                for (name, m) in self.list(&format!("/etc/docker/certs.d/{registry}")) {
                    if m.kind == Kind::File {
                        certs += 1;
                        files.push(file(
                            &format!("/etc/docker/certs.d/{registry}/{name}"),
                            "3.7",
                            "3.8",
                            0o444,
                            Presence::Expected,
                        ));
                    }
                }
            }
        }
        if certs == 0 {
            for (id, cis) in [
                (CheckId::DockerFileOwner, "3.7"),
                (CheckId::DockerFileMode, "3.8"),
            ] {
                self.skip_path(
                    id,
                    Some(cis),
                    "/etc/docker/certs.d",
                    "no registry certificates",
                );
            }
        }
        for f in files {
            self.docker_file(&f, docker_gid);
        }
    }

    fn docker_file(&mut self, f: &DockerFile, docker_gid: Option<u32>) {
        let path = f.path.as_str();
        let Some(meta) = self.meta(path) else {
            let reason = match f.presence {
                Presence::Live if self.fs.is_image() => {
                    "only a live host can answer: the running daemon creates it"
                }
                Presence::Live => {
                    "absent: the daemon is not running, or the root is not a live host"
                }
                Presence::Expected => "absent from the root",
                Presence::Optional => "absent from the root (some installations have it)",
            };
            self.skip_path(CheckId::DockerFileOwner, Some(f.cis_owner), path, reason);
            self.skip_path(CheckId::DockerFileMode, Some(f.cis_mode), path, reason);
            return;
        };
        let group_ok = if f.docker_group {
            meta.gid == 0 || Some(meta.gid) == docker_gid
        } else {
            meta.gid == 0
        };
        if meta.uid != 0 || !group_ok {
            let want = if f.docker_group {
                "root:docker"
            } else {
                "root:root"
            };
            self.emit_cis(
                CheckId::DockerFileOwner,
                Some(f.cis_owner),
                path,
                None,
                format!(
                    "`{path}` is owned by {}:{}, not {want} (CIS {})",
                    meta.uid, meta.gid, f.cis_owner
                ),
                format!("uid {} gid {}", meta.uid, meta.gid),
            );
        }
        if meta.kind != Kind::Symlink && meta.mode & 0o7777 & !f.max != 0 {
            self.emit_cis(
                CheckId::DockerFileMode,
                Some(f.cis_mode),
                path,
                None,
                format!(
                    "`{path}` has mode {:04o}, wider than {:04o} (CIS {})",
                    meta.mode & 0o7777,
                    f.max,
                    f.cis_mode
                ),
                format!("mode {:04o}", meta.mode & 0o7777),
            );
        }
    }

    /// CIS 1.1.1: the daemon's data-root is a mount point of its own, in `/etc/fstab` or
    /// the profile's state volumes.
    fn docker_partition(&mut self) {
        let root = self
            .daemon
            .as_ref()
            .map(super::docker::DaemonSettings::data_root);
        let root = root.unwrap_or_else(|| "/var/lib/docker".to_owned());
        let fstab = self.text("/etc/fstab");
        let entries = fstab
            .as_deref()
            .map(config::parse_fstab)
            .unwrap_or_default();
        let mounted = entries
            .iter()
            .rev()
            .find(|e| crate::integrity::rootfs::normalize(&e.file) == root);
        if mounted.is_some() || self.policy.state_paths.contains(&root) {
            return;
        }
        let evidence = if fstab.is_none() {
            "/etc/fstab is absent".to_owned()
        } else {
            format!(
                "mount points in /etc/fstab: {}",
                super::host::join_list(&entries.iter().map(|e| e.file.clone()).collect::<Vec<_>>())
            )
        };
        let profile = if self.policy.state_paths.is_empty() {
            String::new()
        } else {
            format!(
                "; the profile's state volumes: {}",
                self.policy.state_paths.join(", ")
            )
        };
        self.emit(
            CheckId::DockerPartition,
            "/etc/fstab",
            None,
            format!("Docker's data directory `{root}` is not mounted from a volume of its own"),
            format!("{evidence}{profile}"),
        );
    }

    /// CIS 1.2.2: the engine's packages against the repositories given to the audit.
    fn docker_outdated(&mut self) {
        let installed: Vec<(String, String)> = self
            .installed
            .iter()
            .filter(|p| ENGINE_PACKAGES.contains(&p.name.as_str()))
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect();
        let shown = installed
            .iter()
            .map(|(n, v)| format!("{n} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let Some(available) = &self.policy.repository_packages else {
            let reason = if installed.is_empty() {
                "no repository index given, and the package database lists no Docker engine package"
                    .to_owned()
            } else {
                format!(
                    "no repository index given (--repository) to compare the installed {shown} with"
                )
            };
            self.skip_path(
                CheckId::DockerOutdated,
                None,
                "/lib/apk/db/installed",
                &reason,
            );
            return;
        };
        if installed.is_empty() {
            self.skip_path(
                CheckId::DockerOutdated,
                None,
                "/lib/apk/db/installed",
                "the package database lists no Docker engine package",
            );
            return;
        }
        for (name, current) in installed {
            let newest = available
                .iter()
                .filter(|a| a.name == name)
                .max_by(|a, b| version::compare(&a.version, &b.version));
            match newest {
                Some(a)
                    if version::compare(&a.version, &current) == std::cmp::Ordering::Greater =>
                {
                    self.emit(
                        CheckId::DockerOutdated,
                        "/lib/apk/db/installed",
                        None,
                        format!(
                            "`{name}` {current} is installed; {} is available",
                            a.version
                        ),
                        format!("{name} {current} -> {} ({})", a.version, a.repository),
                    );
                }
                Some(_) => {}
                None => self.skip_path(
                    CheckId::DockerOutdated,
                    None,
                    "/lib/apk/db/installed",
                    &format!("no repository given offers `{name}` (installed: {current})"),
                ),
            }
        }
    }
}
