//! Family `docker-daemon`: the Docker daemon's settings follow CIS Docker Benchmark section
//! 2 (and 5.1, swarm mode). They are what dockerd would run with: its configuration file
//! (`/etc/docker/daemon.json`, or the one `--config-file` names) and its command line,
//! `DOCKER_OPTS` of `/etc/conf.d/docker` as OpenRC's `/bin/sh` leaves it (the last
//! assignment wins) and as `eval` splits it.

use super::CheckId;
use super::check::Family;
use super::docker::{self, DaemonSettings, Options};
use super::host::Host;
use super::shell;

/// OpenRC's configuration of the docker service.
pub const CONF_D: &str = "/etc/conf.d/docker";

/// dockerd's configuration file when `--config-file` does not name another.
pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// What the docker service's `conf.d` file sets, as the shell leaves it.
#[derive(Debug, Clone, Default)]
pub(super) struct ConfD {
    /// dockerd's arguments, split as `eval` splits them.
    pub(super) words: Vec<String>,
    /// `DOCKER_OPTS`'s line, when set.
    pub(super) line: Option<u32>,
    /// Notes on how it was read (conditional or uncertain values).
    pub(super) notes: Vec<String>,
    /// OpenRC's `command_user`: who the supervisor runs dockerd as.
    pub(super) command_user: Option<String>,
}

impl Host<'_> {
    fn conf_d(&mut self) -> ConfD {
        let mut out = ConfD::default();
        let Some(text) = self.text(CONF_D) else {
            return out;
        };
        let service = shell::Var {
            value: "docker".to_owned(),
            line: 0,
            conditional: false,
            uncertain: false,
        };
        let initial = shell::Vars::from([
            ("RC_SVCNAME".to_owned(), service.clone()),
            ("SVCNAME".to_owned(), service),
        ]);
        let vars = shell::source(&text, &initial);
        if let Some(opts) = vars.get("DOCKER_OPTS") {
            let (words, uncertain) = shell::words(&opts.value, &vars);
            out.words = words;
            out.line = Some(opts.line);
            if opts.conditional {
                out.notes.push(format!(
                    "{CONF_D}:{}: DOCKER_OPTS is set under a condition; read as if it holds",
                    opts.line
                ));
            }
            if opts.uncertain || uncertain {
                out.notes.push(format!(
                    "{CONF_D}:{}: part of DOCKER_OPTS comes from a command substitution or a parameter basalt cannot know",
                    opts.line
                ));
            }
        }
        out.command_user = vars
            .get("command_user")
            .map(|v| v.value.trim().to_owned())
            .filter(|u| !u.is_empty());
        out
    }

    pub(super) fn docker_daemon(&mut self) {
        if !self.docker_installed {
            for family in [Family::DockerDaemon, Family::DockerFiles] {
                for id in family.checks() {
                    self.skip(id, "Docker is not installed");
                }
            }
            return;
        }
        let conf_d = self.conf_d();
        let options = Options::parse(&conf_d.words);
        let opts_origin = format!("{CONF_D}:{}", conf_d.line.unwrap_or(1));
        let config_file = match &options.config_file {
            Some(f) if f.starts_with('/') => crate::integrity::rootfs::normalize(f),
            Some(f) => format!("/{f}"),
            None => DAEMON_JSON.to_owned(),
        };
        self.daemon_config.clone_from(&config_file);
        let read = match self.fs.read(&config_file) {
            Ok(Some(bytes)) => {
                DaemonSettings::from_daemon_json(&bytes, &config_file).map_err(|err| {
                    (
                        CheckId::DockerDaemonJsonInvalid,
                        None,
                        format!("dockerd refuses `{config_file}` and does not start"),
                        err.detail,
                    )
                })
            }
            // dockerd refuses to start without the file `--config-file` names.
            Ok(None) if options.config_file.is_some() => Err((
                CheckId::DockerOptionsInvalid,
                conf_d.line,
                format!(
                    "`--config-file` names `{config_file}`, which does not exist: dockerd does not start"
                ),
                format!("{opts_origin}: --config-file {config_file}"),
            )),
            Ok(None) => Ok(DaemonSettings::default()),
            Err(err) => {
                self.emit(
                    CheckId::UnreadableFile,
                    &config_file,
                    None,
                    format!("cannot read `{config_file}`"),
                    err.to_string(),
                );
                Ok(DaemonSettings::default())
            }
        };
        let mut settings = match read {
            Ok(s) => s,
            Err((id, line, message, evidence)) => {
                let path = if id == CheckId::DockerOptionsInvalid {
                    CONF_D.to_owned()
                } else {
                    config_file.clone()
                };
                self.emit(id, &path, line, message, evidence);
                // The other settings cannot be known; what follows reads the command line
                // alone, for the checks of files and containers.
                let mut s = DaemonSettings::default();
                s.apply(&options, &opts_origin);
                for other in Family::DockerDaemon.checks() {
                    if other != id {
                        self.skip_path(
                            other,
                            None,
                            &config_file,
                            "the daemon's configuration file is invalid or missing: dockerd does not start",
                        );
                    }
                }
                self.daemon = Some(s);
                self.daemon_known = false;
                return;
            }
        };
        settings.apply(&options, &opts_origin);
        for problem in &settings.problems {
            self.emit(
                CheckId::DockerOptionsInvalid,
                CONF_D,
                conf_d.line,
                "dockerd refuses this configuration and does not start".to_owned(),
                problem.clone(),
            );
        }
        let notes = if conf_d.notes.is_empty() {
            String::new()
        } else {
            format!("; {}", conf_d.notes.join("; "))
        };
        let s = settings.clone();
        let config_path = config_file.clone();
        // A weak setting: where it comes from (its file and line), and its value.
        let flag = |host: &mut Self, id: CheckId, key: &str, shown: String, extra: &str| {
            let origin = s.origin_of(key);
            let (path, line) = match origin.rsplit_once(':') {
                Some((path, line)) if line.parse::<u32>().is_ok() => {
                    (path.to_owned(), line.parse().ok())
                }
                _ if origin == "dockerd default" => (config_path.clone(), None),
                _ => (origin.clone(), None),
            };
            host.emit(
                id,
                &path,
                line,
                format!("Docker daemon setting `{key}` is `{shown}`{extra}"),
                format!("{key} = {shown} ({origin}){notes}"),
            );
        };
        let b = |v: Option<bool>, default: bool| v.unwrap_or(default);

        // 2.1: rootless mode, or an OpenRC supervisor that runs dockerd as another user.
        let runs_as = conf_d
            .command_user
            .clone()
            .filter(|u| !docker::is_root_user(u));
        if !b(s.rootless, false) && runs_as.is_none() {
            flag(
                self,
                CheckId::DockerRootful,
                "rootless",
                "false".to_owned(),
                ": dockerd runs as root",
            );
        }
        if b(s.icc, true) {
            flag(self, CheckId::DockerIcc, "icc", "true".to_owned(), "");
        }
        let level = if b(s.debug, false) {
            "debug".to_owned()
        } else {
            s.log_level
                .as_deref()
                .map_or("info".to_owned(), str::to_ascii_lowercase)
        };
        if level != "info" {
            let key = if b(s.debug, false) {
                "debug"
            } else {
                "log-level"
            };
            let shown = if key == "debug" {
                "true".to_owned()
            } else {
                level.clone()
            };
            flag(
                self,
                CheckId::DockerLogLevel,
                key,
                shown,
                &format!(": the daemon logs at {level} level"),
            );
        }
        if !b(s.iptables, true) {
            flag(
                self,
                CheckId::DockerIptables,
                "iptables",
                "false".to_owned(),
                "",
            );
        }
        if !s.insecure_registries.is_empty() {
            flag(
                self,
                CheckId::DockerInsecureRegistry,
                "insecure-registries",
                s.insecure_registries.join(", "),
                "",
            );
        }
        if s.storage_driver.as_deref() == Some("aufs") {
            flag(
                self,
                CheckId::DockerStorageDriver,
                "storage-driver",
                "aufs".to_owned(),
                "",
            );
        }
        let tcp = s.tcp_hosts();
        if !tcp.is_empty() && !b(s.tlsverify, false) {
            let how = if b(s.tls, false) {
                "with TLS but without verifying clients (tlsverify is off)"
            } else {
                "without TLS"
            };
            flag(
                self,
                CheckId::DockerTcpWithoutTls,
                "hosts",
                tcp.join(", "),
                &format!(": the API listens on TCP {how}"),
            );
        }
        if s.default_ulimits.is_empty() {
            flag(
                self,
                CheckId::DockerDefaultUlimits,
                "default-ulimits",
                "unset".to_owned(),
                "",
            );
        }
        let remap = s.userns_remap.clone().unwrap_or_default();
        if remap.trim().is_empty() && !b(s.rootless, false) {
            let why = if self.policy.userns_remap {
                ": the profile enables it"
            } else {
                ""
            };
            flag(
                self,
                CheckId::DockerUsernsRemap,
                "userns-remap",
                "unset".to_owned(),
                why,
            );
        }
        if let Some(parent) = s.cgroup_parent.as_deref().filter(|p| !p.is_empty()) {
            flag(
                self,
                CheckId::DockerCgroupParent,
                "cgroup-parent",
                parent.to_owned(),
                "",
            );
        }
        if let Some(opt) = s.storage_opts.iter().find(|o| {
            o.split_once('=')
                .map_or(o.as_str(), |(k, _)| k)
                .trim()
                .eq_ignore_ascii_case("dm.basesize")
        }) {
            flag(
                self,
                CheckId::DockerBaseSize,
                "storage-opts",
                opt.clone(),
                "",
            );
        }
        if s.authorization_plugins.is_empty() {
            flag(
                self,
                CheckId::DockerAuthorization,
                "authorization-plugins",
                "none".to_owned(),
                "",
            );
        }
        let driver = s
            .log_driver
            .clone()
            .unwrap_or_else(|| "json-file".to_owned());
        if matches!(driver.as_str(), "json-file" | "local" | "none") {
            flag(self, CheckId::DockerLogDriver, "log-driver", driver, "");
        }
        if !b(s.no_new_privileges, false) {
            flag(
                self,
                CheckId::DockerNoNewPrivileges,
                "no-new-privileges",
                "false".to_owned(),
                "",
            );
        }
        let swarm = self.swarm(&s);
        if !b(s.live_restore, false) && !swarm {
            flag(
                self,
                CheckId::DockerLiveRestore,
                "live-restore",
                "false".to_owned(),
                "",
            );
        }
        if b(s.userland_proxy, true) {
            flag(
                self,
                CheckId::DockerUserlandProxy,
                "userland-proxy",
                "true".to_owned(),
                "",
            );
        }
        if s.seccomp_profile.as_deref() == Some("unconfined") {
            flag(
                self,
                CheckId::DockerSeccompProfile,
                "seccomp-profile",
                "unconfined".to_owned(),
                ": containers run without seccomp unless they ask for it",
            );
        }
        if b(s.experimental, false) {
            flag(
                self,
                CheckId::DockerExperimental,
                "experimental",
                "true".to_owned(),
                "",
            );
        }
        self.daemon = Some(settings);
    }

    /// CIS 5.1: whether the engine is in swarm mode (its state under the data-root).
    fn swarm(&mut self, settings: &DaemonSettings) -> bool {
        let root = settings.data_root();
        let dir = format!("{}/swarm", root.trim_end_matches('/'));
        let state: Vec<String> = ["docker-state.json", "state.json"]
            .iter()
            .map(|f| format!("{dir}/{f}"))
            .filter(|p| self.exists(p))
            .collect();
        if let Some(path) = state.first() {
            self.emit(
                CheckId::DockerSwarmMode,
                path,
                None,
                "the Docker engine has swarm state: it is a swarm node".to_owned(),
                format!("swarm state files: {}", state.join(", ")),
            );
            return true;
        }
        if self.fs.is_image() {
            self.skip_path(
                CheckId::DockerSwarmMode,
                None,
                &dir,
                "only a live host can answer: the swarm state is kept under Docker's data directory, which an image does not hold",
            );
        } else if !self.exists(&root) {
            self.skip_path(
                CheckId::DockerSwarmMode,
                None,
                &root,
                "Docker's data directory is absent",
            );
        }
        false
    }
}
