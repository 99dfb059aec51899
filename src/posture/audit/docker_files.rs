//! Family `docker-files`: Docker's files and sockets are owned and permitted as CIS Docker
//! Benchmark section 3 requires.

use crate::integrity::rootfs::Kind;

use super::CheckId;
use super::host::Host;

impl Host<'_> {
    pub(super) fn docker_files(&mut self) {
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
                    CheckId::DockerFileOwner,
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
                    CheckId::DockerFileMode,
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
}
