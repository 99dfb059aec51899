//! Family `docker-daemon`: the Docker daemon's settings (`daemon.json`, overridden by
//! `DOCKER_OPTS`) follow CIS Docker Benchmark section 2.

use super::CheckId;
use super::config;
use super::docker;
use super::host::Host;

impl Host<'_> {
    pub(super) fn docker_daemon(&mut self) {
        const IDS: [CheckId; 14] = [
            CheckId::DockerDaemonJsonInvalid,
            CheckId::DockerIcc,
            CheckId::DockerLogLevel,
            CheckId::DockerIptables,
            CheckId::DockerInsecureRegistry,
            CheckId::DockerTcpWithoutTls,
            CheckId::DockerUsernsRemap,
            CheckId::DockerLogDriver,
            CheckId::DockerNoNewPrivileges,
            CheckId::DockerLiveRestore,
            CheckId::DockerUserlandProxy,
            CheckId::DockerExperimental,
            CheckId::DockerFileOwner,
            CheckId::DockerFileMode,
        ];
        if !self.docker_installed {
            for id in IDS {
                self.skip(id, "Docker is not installed");
            }
            return;
        }
        let file = "/etc/docker/daemon.json";
        let mut settings = match self.fs.read(file) {
            Ok(Some(bytes)) => match docker::DaemonSettings::from_daemon_json(&bytes, file) {
                Ok(s) => s,
                Err(err) => {
                    self.emit(
                        CheckId::DockerDaemonJsonInvalid,
                        file,
                        None,
                        "daemon.json cannot be parsed".to_owned(),
                        err.to_string(),
                    );
                    return;
                }
            },
            Ok(None) => docker::DaemonSettings::default(),
            Err(err) => {
                self.emit(
                    CheckId::UnreadableFile,
                    file,
                    None,
                    format!("cannot read `{file}`"),
                    err.to_string(),
                );
                docker::DaemonSettings::default()
            }
        };
        if let Some(text) = self.text("/etc/conf.d/docker") {
            for (_, opts) in config::shell_assignments(&text, "DOCKER_OPTS") {
                settings.apply_options(&opts, "/etc/conf.d/docker");
            }
        }
        let s = settings.clone();
        let flag = |host: &mut Self, id: CheckId, key: &str, weak: bool, shown: String| {
            if weak {
                let origin = s.origin_of(key);
                let path = if origin == "dockerd default" {
                    file.to_owned()
                } else {
                    origin.clone()
                };
                host.emit(
                    id,
                    &path,
                    None,
                    format!("Docker daemon setting `{key}` is `{shown}`"),
                    format!("{key} = {shown} ({origin})"),
                );
            }
        };
        let b = |v: Option<bool>, default: bool| v.unwrap_or(default);
        flag(
            self,
            CheckId::DockerIcc,
            "icc",
            b(s.icc, true),
            b(s.icc, true).to_string(),
        );
        let level = s.log_level.clone().unwrap_or_else(|| "info".to_owned());
        flag(
            self,
            CheckId::DockerLogLevel,
            "log-level",
            level != "info",
            level,
        );
        flag(
            self,
            CheckId::DockerIptables,
            "iptables",
            !b(s.iptables, true),
            b(s.iptables, true).to_string(),
        );
        flag(
            self,
            CheckId::DockerInsecureRegistry,
            "insecure-registries",
            !s.insecure_registries.is_empty(),
            s.insecure_registries.join(", "),
        );
        let tcp: Vec<&String> = s.hosts.iter().filter(|h| h.starts_with("tcp://")).collect();
        let tls_ok = s.tlsverify == Some(true)
            && ["tlscacert", "tlscert", "tlskey"]
                .iter()
                .all(|k| s.tls_files.contains_key(*k));
        flag(
            self,
            CheckId::DockerTcpWithoutTls,
            "hosts",
            !tcp.is_empty() && !tls_ok,
            format!(
                "{} (tlsverify {})",
                tcp.iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                s.tlsverify.unwrap_or(false)
            ),
        );
        let remap = s.userns_remap.clone().unwrap_or_default();
        if self.policy.userns_remap {
            flag(
                self,
                CheckId::DockerUsernsRemap,
                "userns-remap",
                remap.is_empty(),
                "unset".to_owned(),
            );
        } else {
            self.skip(
                CheckId::DockerUsernsRemap,
                "the profile does not enable userns-remap",
            );
        }
        let driver = s
            .log_driver
            .clone()
            .unwrap_or_else(|| "json-file".to_owned());
        flag(
            self,
            CheckId::DockerLogDriver,
            "log-driver",
            matches!(driver.as_str(), "json-file" | "local" | "none"),
            driver,
        );
        flag(
            self,
            CheckId::DockerNoNewPrivileges,
            "no-new-privileges",
            !b(s.no_new_privileges, false),
            b(s.no_new_privileges, false).to_string(),
        );
        flag(
            self,
            CheckId::DockerLiveRestore,
            "live-restore",
            !b(s.live_restore, false),
            b(s.live_restore, false).to_string(),
        );
        flag(
            self,
            CheckId::DockerUserlandProxy,
            "userland-proxy",
            b(s.userland_proxy, true),
            b(s.userland_proxy, true).to_string(),
        );
        flag(
            self,
            CheckId::DockerExperimental,
            "experimental",
            b(s.experimental, false),
            "true".to_owned(),
        );
        self.daemon = Some(settings);
    }
}
