//! Family `containers`: what Docker's per-container state files record (`config.v2.json`,
//! `hostconfig.json` under the daemon's data-root) against CIS Docker Benchmark 4.1 and
//! section 5: the container's user, capabilities, AppArmor/SELinux/seccomp, privileged and
//! published ports and the address they bind, memory/CPU/PIDs limits, read-only root,
//! restart policy, devices, ulimits, mount propagation, shared namespaces, cgroup parent,
//! `no-new-privileges`, health check, the default bridge, mounts of sensitive paths and of
//! the Docker socket.
//!
//! Every container with state is checked, running or not (a stopped one starts again with
//! the same settings); one finding per container and check (per mount for mounts). A check whose file is missing
//! for a container is listed as skipped with that file.

use crate::integrity::rootfs::Kind;

use super::CheckId;
use super::check::Family;
use super::docker::{self, Container, DaemonSettings};
use super::host::Host;

/// Host directories a container must not mount (CIS 5.6), and `/root`.
pub const SENSITIVE: [&str; 9] = [
    "/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr", "/root",
];

/// The checks that read `config.v2.json`; the others read the host configuration.
const FROM_CONFIG: [CheckId; 3] = [
    CheckId::ContainerRootUser,
    CheckId::ContainerHealthcheck,
    CheckId::ContainerApparmor,
];

/// `/var/run/...` is `/run/...` on Alpine.
fn canonical(path: &str) -> String {
    let path = crate::integrity::rootfs::normalize(path);
    match path.strip_prefix("/var/run/") {
        Some(rest) => format!("/run/{rest}"),
        None if path == "/var/run" => "/run".to_owned(),
        None => path,
    }
}

/// What the host tells about every container.
struct Context {
    settings: DaemonSettings,
    apparmor: bool,
    sockets: Vec<String>,
}

impl Host<'_> {
    pub(super) fn containers(&mut self) {
        let settings = self.daemon.clone().unwrap_or_default();
        let dir = format!("{}/containers", settings.data_root().trim_end_matches('/'));
        let ids: Vec<String> = self
            .list(&dir)
            .into_iter()
            .filter(|(_, m)| m.kind == Kind::Dir)
            .map(|(n, _)| n)
            .collect();
        let mut parsed = Vec::new();
        for id in ids {
            let config_path = format!("{dir}/{id}/config.v2.json");
            let host_path = format!("{dir}/{id}/hostconfig.json");
            let (config, hostconfig) = match (self.fs.read(&config_path), self.fs.read(&host_path))
            {
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
            match docker::parse_container(&id, config.as_deref(), hostconfig.as_deref()) {
                Ok(c) => parsed.push((c, config_path, host_path)),
                Err(err) => self.emit(
                    CheckId::UnreadableFile,
                    &config_path,
                    None,
                    format!("container `{id}` state cannot be parsed"),
                    err,
                ),
            }
        }
        if parsed.is_empty() {
            let reason = if self.fs.is_image() {
                format!(
                    "only a live host can answer: an image holds no container state (Docker keeps it under {dir} on the running host)"
                )
            } else {
                format!("no container state under {dir}")
            };
            for id in Family::Containers.checks() {
                self.skip_path(id, None, &dir, &reason);
            }
            return;
        }
        // AppArmor is in use when its service is enabled, or Docker confined a container.
        let apparmor = self.is_enabled("apparmor")
            || parsed.iter().any(|(c, ..)| {
                !c.apparmor_profile.is_empty() && c.apparmor_profile != "unconfined"
            });
        let mut sockets: Vec<String> = settings
            .unix_sockets()
            .iter()
            .map(|s| canonical(s))
            .collect();
        sockets.push("/run/containerd/containerd.sock".to_owned());
        let cx = Context {
            settings,
            apparmor,
            sockets,
        };
        if !cx.apparmor {
            self.skip(
                CheckId::ContainerApparmor,
                "AppArmor is not in use on this host (no apparmor service enabled, no container confined by it)",
            );
        }
        if !self.daemon_known {
            self.skip_path(
                CheckId::ContainerUlimits,
                None,
                &self.daemon_config.clone(),
                "the daemon's default ulimits are unknown: its configuration file is invalid",
            );
        }
        if !cx.settings.selinux_enabled.unwrap_or(false) {
            self.skip(
                CheckId::ContainerSelinux,
                "the daemon does not enable SELinux (selinux-enabled), so no container is labelled",
            );
        }
        for (c, config_path, host_path) in parsed {
            self.container(&c, &config_path, &host_path, &cx);
        }
    }

    fn container(&mut self, c: &Container, config_path: &str, host_path: &str, cx: &Context) {
        let who = if c.name.is_empty() {
            format!("container {}", short(&c.id))
        } else {
            format!("container `{}` ({})", c.name, short(&c.id))
        };
        let state = match c.running {
            Some(true) => "running",
            Some(false) => "stopped",
            None => "state unknown",
        };
        let image = if c.image.is_empty() {
            String::new()
        } else {
            format!("; image {}", c.image)
        };
        for id in Family::Containers.checks() {
            let needs_config = FROM_CONFIG.contains(&id);
            if needs_config && !c.has_config {
                self.skip_path(id, None, config_path, &format!("{who}: the file is absent"));
            } else if !needs_config && !c.has_hostconfig {
                self.skip_path(id, None, host_path, &format!("{who}: the file is absent"));
            }
        }
        let mut found: Vec<(CheckId, &str, String, String)> = Vec::new();
        let host = |what: String| format!("{host_path}: {what} ({state}{image})");
        let conf = |what: String| format!("{config_path}: {what} ({state}{image})");

        if c.has_config {
            if docker::is_root_user(&c.user) {
                let shown = if c.user.is_empty() {
                    "\"\" (the image's user)".to_owned()
                } else {
                    format!("{:?}", c.user)
                };
                found.push((
                    CheckId::ContainerRootUser,
                    config_path,
                    format!("{who} runs as root"),
                    conf(format!("Config.User = {shown}")),
                ));
            }
            match &c.healthcheck {
                None => found.push((
                    CheckId::ContainerHealthcheck,
                    config_path,
                    format!("{who} has no health check"),
                    conf("Config.Healthcheck is not set (nor in the image)".to_owned()),
                )),
                Some(test) if test.first().is_some_and(|t| t == "NONE") => found.push((
                    CheckId::ContainerHealthcheck,
                    config_path,
                    format!("{who} has its health check turned off"),
                    conf("Config.Healthcheck.Test = [\"NONE\"]".to_owned()),
                )),
                Some(_) => {}
            }
        }
        let opts: Vec<(&str, &str)> = c
            .security_opt
            .iter()
            .map(|o| docker::security_option(o))
            .collect();
        let opt = |key: &str| -> Vec<&str> {
            opts.iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .collect()
        };
        if cx.apparmor && (c.has_config || c.has_hostconfig) {
            let unconfined = opt("apparmor").contains(&"unconfined");
            if unconfined || c.apparmor_profile == "unconfined" {
                found.push((
                    CheckId::ContainerApparmor,
                    host_path,
                    format!("{who} runs unconfined by AppArmor"),
                    host(format!(
                        "AppArmorProfile = {:?}, SecurityOpt = {:?}",
                        c.apparmor_profile, c.security_opt
                    )),
                ));
            } else if c.has_config && c.apparmor_profile.is_empty() && !c.privileged {
                found.push((
                    CheckId::ContainerApparmor,
                    config_path,
                    format!("{who} has no AppArmor profile"),
                    conf("AppArmorProfile = \"\"".to_owned()),
                ));
            }
        }
        if !c.has_hostconfig {
            self.emit_found(found);
            return;
        }
        if cx.settings.selinux_enabled.unwrap_or(false) {
            let disabled = opt("label").contains(&"disable");
            if disabled || (c.has_config && c.process_label.is_empty() && !c.privileged) {
                found.push((
                    CheckId::ContainerSelinux,
                    host_path,
                    format!("{who} runs without SELinux labels"),
                    host(format!(
                        "SecurityOpt = {:?}, ProcessLabel = {:?}",
                        c.security_opt, c.process_label
                    )),
                ));
            }
        }
        // Adding back a capability of Docker's default set (after --cap-drop ALL) is fine.
        let added: Vec<String> = c
            .cap_add
            .iter()
            .map(|a| docker::capability(a))
            .filter(|a| !docker::DEFAULT_CAPABILITIES.contains(&a.as_str()))
            .collect();
        if !added.is_empty() {
            found.push((
                CheckId::ContainerCapAdd,
                host_path,
                format!("{who} is given capabilities {}", added.join(", ")),
                host(format!("HostConfig.CapAdd = {:?}", c.cap_add)),
            ));
        }
        if c.privileged {
            found.push((
                CheckId::ContainerPrivileged,
                host_path,
                format!("{who} is privileged"),
                host("HostConfig.Privileged = true".to_owned()),
            ));
        }
        for (mode, id, what) in [
            (
                &c.network_mode,
                CheckId::ContainerHostNetwork,
                "NetworkMode",
            ),
            (&c.pid_mode, CheckId::ContainerHostPid, "PidMode"),
            (&c.ipc_mode, CheckId::ContainerHostIpc, "IpcMode"),
            (&c.uts_mode, CheckId::ContainerHostUts, "UTSMode"),
            (&c.userns_mode, CheckId::ContainerHostUserns, "UsernsMode"),
        ] {
            if mode == "host" {
                found.push((
                    id,
                    host_path,
                    format!("{who} uses the host's namespace ({what} host)"),
                    host(format!("HostConfig.{what} = \"host\"")),
                ));
            }
        }
        self.ports(c, &who, host_path, cx, &host, &mut found);
        if c.memory <= 0 {
            found.push((
                CheckId::ContainerMemoryLimit,
                host_path,
                format!("{who} has no memory limit"),
                host(format!("HostConfig.Memory = {}", c.memory)),
            ));
        }
        if c.cpu_shares <= 0 && c.nano_cpus <= 0 && c.cpu_quota <= 0 {
            found.push((
                CheckId::ContainerCpuLimit,
                host_path,
                format!("{who} has no CPU shares or limit"),
                host(format!(
                    "HostConfig.CpuShares = {}, NanoCpus = {}, CpuQuota = {}",
                    c.cpu_shares, c.nano_cpus, c.cpu_quota
                )),
            ));
        }
        if !c.readonly_rootfs {
            found.push((
                CheckId::ContainerRootfsWritable,
                host_path,
                format!("{who} has a writable root file system"),
                host("HostConfig.ReadonlyRootfs = false".to_owned()),
            ));
        }
        let (policy, retries) = &c.restart;
        let unbounded = match policy.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => *retries <= 0 || *retries > 5,
            _ => false,
        };
        if unbounded {
            found.push((
                CheckId::ContainerRestartPolicy,
                host_path,
                format!("{who} restarts without bound (restart policy `{policy}`)"),
                host(format!(
                    "HostConfig.RestartPolicy = {{Name: {policy:?}, MaximumRetryCount: {retries}}}"
                )),
            ));
        }
        if !c.devices.is_empty() || !c.device_cgroup_rules.is_empty() {
            let devices: Vec<String> = c
                .devices
                .iter()
                .map(|d| format!("{} -> {} ({})", d.host, d.container, d.permissions))
                .chain(
                    c.device_cgroup_rules
                        .iter()
                        .map(|r| format!("cgroup rule {r}")),
                )
                .collect();
            found.push((
                CheckId::ContainerDevices,
                host_path,
                format!("{who} is given host devices"),
                host(format!("devices: {}", devices.join(", "))),
            ));
        }
        if c.ulimits.is_empty() && cx.settings.default_ulimits.is_empty() && self.daemon_known {
            found.push((
                CheckId::ContainerUlimits,
                host_path,
                format!("{who} runs with the default ulimits"),
                host("HostConfig.Ulimits is empty; the daemon sets no default-ulimits".to_owned()),
            ));
        }
        let shared: Vec<String> = c
            .binds
            .iter()
            .filter(|b| matches!(b.propagation.as_str(), "shared" | "rshared"))
            .map(|b| format!("{} -> {} ({})", b.source, b.destination, b.propagation))
            .collect();
        if !shared.is_empty() {
            found.push((
                CheckId::ContainerMountPropagation,
                host_path,
                format!("{who} has mounts with shared propagation"),
                host(format!("mounts: {}", shared.join(", "))),
            ));
        }
        if opt("seccomp").contains(&"unconfined") || c.seccomp_profile == "unconfined" {
            found.push((
                CheckId::ContainerSeccompUnconfined,
                host_path,
                format!("{who} runs without a seccomp profile"),
                host(format!(
                    "SecurityOpt = {:?}, SeccompProfile = {:?}",
                    c.security_opt, c.seccomp_profile
                )),
            ));
        }
        if !c.cgroup_parent.is_empty() {
            found.push((
                CheckId::ContainerCgroupParent,
                host_path,
                format!("{who} runs under cgroup parent `{}`", c.cgroup_parent),
                host(format!("HostConfig.CgroupParent = {:?}", c.cgroup_parent)),
            ));
        }
        // no-new-privileges: what Docker decided at creation (config.v2.json), else the
        // container's option, else the daemon's default.
        let from_opt = opt("no-new-privileges")
            .last()
            .map(|v| matches!(*v, "true" | "1" | "t" | "T" | "TRUE" | "True"));
        let (nnp, source) = match (c.no_new_privileges, from_opt) {
            (Some(v), _) => (v, format!("{config_path}: NoNewPrivileges = {v}")),
            (None, Some(v)) => (v, format!("{host_path}: SecurityOpt no-new-privileges={v}")),
            (None, None) => {
                let v = cx.settings.no_new_privileges.unwrap_or(false);
                (v, format!("daemon no-new-privileges = {v}"))
            }
        };
        if !nnp {
            found.push((
                CheckId::ContainerNoNewPrivileges,
                if c.no_new_privileges.is_some() {
                    config_path
                } else {
                    host_path
                },
                format!("{who} may acquire new privileges"),
                format!("{source} ({state}{image})"),
            ));
        }
        if c.pids_limit.is_none_or(|l| l <= 0) {
            found.push((
                CheckId::ContainerPidsLimit,
                host_path,
                format!("{who} has no PIDs limit"),
                host(format!(
                    "HostConfig.PidsLimit = {}",
                    c.pids_limit.map_or("null".to_owned(), |l| l.to_string())
                )),
            ));
        }
        let default_mode = matches!(c.network_mode.as_str(), "" | "default" | "bridge");
        let bridge_off = cx.settings.bridge.as_deref() == Some("none");
        if (default_mode && !bridge_off) || c.networks.iter().any(|n| n == "bridge") {
            found.push((
                CheckId::ContainerDefaultBridge,
                host_path,
                format!("{who} is on the default bridge (docker0)"),
                host(format!(
                    "HostConfig.NetworkMode = {:?}; networks: {}",
                    c.network_mode,
                    super::host::join_list(&c.networks)
                )),
            ));
        }
        self.mounts(c, &who, config_path, cx, &mut found);
        self.emit_found(found);
    }

    fn emit_found(&mut self, found: Vec<(CheckId, &str, String, String)>) {
        for (id, path, message, evidence) in found {
            self.emit(id, path, None, message, evidence);
        }
    }

    fn ports<'p>(
        &mut self,
        c: &Container,
        who: &str,
        host_path: &'p str,
        cx: &Context,
        host: &dyn Fn(String) -> String,
        found: &mut Vec<(CheckId, &'p str, String, String)>,
    ) {
        // Ports are not published with the host's network.
        if c.network_mode == "host" || (c.ports.is_empty() && !c.publish_all) {
            return;
        }
        let default_ip = cx
            .settings
            .ip
            .clone()
            .unwrap_or_else(|| "0.0.0.0".to_owned());
        let mut shown: Vec<String> = c
            .ports
            .iter()
            .map(|p| {
                let ip = if p.host_ip.is_empty() {
                    format!("{default_ip} (the daemon's default)")
                } else {
                    p.host_ip.clone()
                };
                let port = if p.host_port.is_empty() {
                    "a port the daemon picks".to_owned()
                } else {
                    p.host_port.clone()
                };
                format!("{ip}:{port} -> {}", p.container)
            })
            .collect();
        if c.publish_all {
            shown.push(format!(
                "every exposed port ({}) on {default_ip}",
                super::host::join_list(&c.exposed)
            ));
        }
        found.push((
            CheckId::ContainerPublishedPorts,
            host_path,
            format!("{who} publishes ports on the host"),
            host(format!("published: {}", shown.join(", "))),
        ));
        let privileged: Vec<String> = c
            .ports
            .iter()
            .filter(|p| {
                p.host_port
                    .split('-')
                    .next()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                    .is_some_and(|n| n < 1024)
            })
            .map(|p| format!("{} -> {}", p.host_port, p.container))
            .collect();
        if !privileged.is_empty() {
            found.push((
                CheckId::ContainerPrivilegedPort,
                host_path,
                format!("{who} publishes privileged host ports"),
                host(format!("host ports: {}", privileged.join(", "))),
            ));
        }
        let wildcard = |ip: &str| matches!(ip.trim(), "" | "0.0.0.0" | "::" | "[::]");
        let mut open: Vec<String> = c
            .ports
            .iter()
            .filter(|p| {
                if p.host_ip.is_empty() {
                    wildcard(&default_ip)
                } else {
                    wildcard(&p.host_ip)
                }
            })
            .map(|p| {
                let ip = if p.host_ip.is_empty() {
                    default_ip.as_str()
                } else {
                    p.host_ip.as_str()
                };
                format!("{ip}:{} -> {}", p.host_port, p.container)
            })
            .collect();
        if c.publish_all && wildcard(&default_ip) {
            open.push(format!("every exposed port on {default_ip}"));
        }
        open.sort();
        open.dedup();
        if !open.is_empty() {
            found.push((
                CheckId::ContainerPortAllInterfaces,
                host_path,
                format!("{who} publishes ports on every host interface"),
                host(format!("bound: {}", open.join(", "))),
            ));
        }
    }

    fn mounts<'p>(
        &mut self,
        c: &Container,
        who: &str,
        config_path: &'p str,
        cx: &Context,
        found: &mut Vec<(CheckId, &'p str, String, String)>,
    ) {
        for bind in &c.binds {
            let source = canonical(&bind.source);
            let access = if bind.rw { "read-write" } else { "read-only" };
            let evidence = format!(
                "{config_path}: bind {} -> {} ({access})",
                bind.source, bind.destination
            );
            // The socket itself, or a directory that holds it (not `/`: that is 5.6).
            let socket = cx.sockets.iter().find(|s| {
                **s == source
                    || (source != "/"
                        && s.starts_with(&source)
                        && s.as_bytes().get(source.len()) == Some(&b'/'))
            });
            let named_socket =
                source.ends_with("/docker.sock") || source.ends_with("/containerd.sock");
            if socket.is_some() || named_socket {
                let what = match socket {
                    Some(s) if *s != source => {
                        format!("`{}`, which holds the socket `{s}`", bind.source)
                    }
                    _ => format!("the socket `{}`", bind.source),
                };
                found.push((
                    CheckId::ContainerDockerSocket,
                    config_path,
                    format!("{who} mounts {what}"),
                    evidence,
                ));
            } else if SENSITIVE.contains(&source.as_str()) {
                found.push((
                    CheckId::ContainerSensitiveMount,
                    config_path,
                    format!(
                        "{who} mounts host directory `{source}` at `{}`",
                        bind.destination
                    ),
                    evidence,
                ));
            } else if let Some(parent) = SENSITIVE
                .iter()
                .find(|s| **s != "/" && source.starts_with(&format!("{s}/")))
            {
                found.push((
                    CheckId::ContainerSensitivePath,
                    config_path,
                    format!(
                        "{who} mounts `{source}` from host directory `{parent}` at `{}`",
                        bind.destination
                    ),
                    evidence,
                ));
            }
        }
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
