//! Family `containers`: the containers Docker keeps state for are not privileged, share no host
//! namespace and mount no sensitive host path (CIS Docker Benchmark section 5).

use crate::integrity::rootfs::Kind;

use super::CheckId;
use super::docker;
use super::host::Host;

impl Host<'_> {
    pub(super) fn containers(&mut self) {
        const IDS: [CheckId; 7] = [
            CheckId::ContainerPrivileged,
            CheckId::ContainerSensitiveMount,
            CheckId::ContainerSensitivePath,
            CheckId::ContainerDockerSocket,
            CheckId::ContainerHostNetwork,
            CheckId::ContainerHostPid,
            CheckId::ContainerHostIpc,
        ];
        let dir = "/var/lib/docker/containers";
        let ids: Vec<String> = self
            .list(dir)
            .into_iter()
            .filter(|(_, m)| m.kind == Kind::Dir)
            .map(|(n, _)| n)
            .collect();
        if ids.is_empty() {
            for id in IDS {
                self.skip(id, "no container state under /var/lib/docker/containers");
            }
            return;
        }
        for id in ids {
            let config_path = format!("{dir}/{id}/config.v2.json");
            let host_path = format!("{dir}/{id}/hostconfig.json");
            let config = self.fs.read(&config_path);
            let hostconfig = self.fs.read(&host_path);
            let (config, hostconfig) = match (config, hostconfig) {
                (Ok(c), Ok(h)) => (c, h),
                (Err(err), _) | (_, Err(err)) => {
                    self.emit(
                        CheckId::UnreadableFile,
                        &config_path,
                        None,
                        format!("cannot read container `{id}`"),
                        err.to_string(),
                    );
                    continue;
                }
            };
            if config.is_none() && hostconfig.is_none() {
                continue;
            }
            let container =
                match docker::parse_container(&id, config.as_deref(), hostconfig.as_deref()) {
                    Ok(c) => c,
                    Err(err) => {
                        self.emit(
                            CheckId::UnreadableFile,
                            &config_path,
                            None,
                            format!("container `{id}` state cannot be parsed"),
                            err,
                        );
                        continue;
                    }
                };
            self.container(&container, &config_path, &host_path);
        }
    }

    pub(super) fn container(&mut self, c: &docker::Container, config_path: &str, host_path: &str) {
        let who = if c.name.is_empty() {
            format!("container {}", short(&c.id))
        } else {
            format!("container `{}` ({})", c.name, short(&c.id))
        };
        if c.privileged {
            self.emit(
                CheckId::ContainerPrivileged,
                host_path,
                None,
                format!("{who} is privileged"),
                format!(
                    "{host_path}: HostConfig.Privileged = true; image {}",
                    c.image
                ),
            );
        }
        for (mode, id, what) in [
            (
                &c.network_mode,
                CheckId::ContainerHostNetwork,
                "NetworkMode",
            ),
            (&c.pid_mode, CheckId::ContainerHostPid, "PidMode"),
            (&c.ipc_mode, CheckId::ContainerHostIpc, "IpcMode"),
        ] {
            if mode == "host" {
                self.emit(
                    id,
                    host_path,
                    None,
                    format!("{who} uses the host's namespace ({what} host)"),
                    format!("{host_path}: HostConfig.{what} = \"host\""),
                );
            }
        }
        const SENSITIVE: [&str; 9] = [
            "/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr", "/root",
        ];
        for bind in &c.binds {
            let source = crate::integrity::rootfs::normalize(&bind.source);
            let access = if bind.rw { "read-write" } else { "read-only" };
            let evidence = format!(
                "{config_path}: bind {} -> {} ({access})",
                bind.source, bind.destination
            );
            if source.ends_with("/docker.sock") {
                self.emit(
                    CheckId::ContainerDockerSocket,
                    config_path,
                    None,
                    format!("{who} mounts the Docker socket `{}`", bind.source),
                    evidence,
                );
            } else if SENSITIVE.contains(&source.as_str()) {
                self.emit(
                    CheckId::ContainerSensitiveMount,
                    config_path,
                    None,
                    format!(
                        "{who} mounts host directory `{source}` at `{}`",
                        bind.destination
                    ),
                    evidence,
                );
            } else if let Some(parent) = SENSITIVE
                .iter()
                .find(|s| **s != "/" && source.starts_with(&format!("{s}/")))
            {
                self.emit(
                    CheckId::ContainerSensitivePath,
                    config_path,
                    None,
                    format!(
                        "{who} mounts `{source}` from host directory `{parent}` at `{}`",
                        bind.destination
                    ),
                    evidence,
                );
            }
        }
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
