//! The CIS Docker Benchmark v1.6.0, item by item, as docker-bench-security checks it
//! (sections 1 to 7, 117 items): which of basalt's checks answer each item from a host root
//! or an image, and why the others cannot be answered without the running daemon.
//!
//! Invariants: ids are unique and in the benchmark's order; an item is answered exactly when
//! some check of [`super::CHECKS`] names it, and every id a check names is an item here
//! (tested). The titles are basalt's own one-line summaries, not the benchmark's text.

use serde::Serialize;

use super::CheckId;

/// The benchmark's name, as SARIF's taxonomy and the reports name it.
pub const BENCHMARK: &str = "CIS Docker Benchmark";

/// The benchmark's version whose numbering the ids follow.
pub const VERSION: &str = "1.6.0";

/// Whether basalt answers an item offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status", content = "why")]
pub enum Coverage {
    /// The checks that name this item answer it from the root or image.
    Answered,
    /// Only the running daemon, the image builds or the operations around them can answer
    /// it; the text says what it needs.
    NotOffline(&'static str),
}

/// One item of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Its id (`5.10`).
    pub id: &'static str,
    /// What it asks, in one line (basalt's summary).
    pub title: &'static str,
    /// Whether basalt answers it offline.
    pub coverage: Coverage,
}

impl Item {
    /// The checks that answer this item, in table order.
    pub fn checks(&self) -> impl Iterator<Item = CheckId> + '_ {
        CheckId::ALL
            .iter()
            .copied()
            .filter(|c| c.cis().contains(&self.id))
    }

    /// The section the item belongs to (`5` for `5.10`).
    #[must_use]
    pub fn section(&self) -> &'static str {
        self.id.split('.').next().unwrap_or(self.id)
    }
}

/// The benchmark's sections, by number.
pub const SECTIONS: &[(&str, &str)] = &[
    ("1", "Host configuration"),
    ("2", "Docker daemon configuration"),
    ("3", "Docker daemon configuration files"),
    ("4", "Container images and build files"),
    ("5", "Container runtime"),
    ("6", "Docker security operations"),
    ("7", "Docker swarm configuration"),
];

const DAEMON_STATE: &str =
    "what the running daemon reports (docker inspect, docker info); no file of the root records it";
const BUILD: &str =
    "how images are built and chosen (Dockerfiles, registries): not in the host's files";
const EXEC: &str = "the `docker exec` calls made on the live host: its event stream or audit log";
const SWARM: &str =
    "the swarm's cluster state, which a manager serves through the running daemon's API";

macro_rules! items {
    ($( $id:literal $cov:ident $( ($why:expr) )? , $title:literal; )*) => {
        /// Every item of the benchmark, in order.
        pub const ITEMS: &[Item] = &[
            $( Item { id: $id, title: $title, coverage: items!(@cov $cov $( $why )?) }, )*
        ];
    };
    (@cov yes) => { Coverage::Answered };
    (@cov no $why:expr) => { Coverage::NotOffline($why) };
}

items! {
    "1.1.1" yes, "a separate partition holds Docker's data";
    "1.1.2" yes, "only trusted users are in the docker group";
    "1.1.3" yes, "the Docker daemon binary is audited";
    "1.1.4" yes, "/run/containerd is audited";
    "1.1.5" yes, "/var/lib/docker is audited";
    "1.1.6" yes, "/etc/docker is audited";
    "1.1.7" yes, "the Docker service definition (docker.service; OpenRC: /etc/init.d/docker) is audited";
    "1.1.8" yes, "containerd's socket is audited";
    "1.1.9" yes, "the Docker socket (docker.socket; OpenRC: /run/docker.sock) is audited";
    "1.1.10" yes, "/etc/default/docker (OpenRC: /etc/conf.d/docker) is audited";
    "1.1.11" yes, "/etc/docker/daemon.json is audited";
    "1.1.12" yes, "/etc/containerd/config.toml is audited";
    "1.1.13" yes, "/etc/sysconfig/docker is audited";
    "1.1.14" yes, "/usr/bin/containerd is audited";
    "1.1.15" yes, "/usr/bin/containerd-shim is audited";
    "1.1.16" yes, "/usr/bin/containerd-shim-runc-v1 is audited";
    "1.1.17" yes, "/usr/bin/containerd-shim-runc-v2 is audited";
    "1.1.18" yes, "/usr/bin/runc is audited";
    "1.2.1" no("a judgement of the whole host against a hardening benchmark (manual); basalt's own checks without a CIS id are such a checklist"), "the container host is hardened";
    "1.2.2" yes, "Docker is up to date";
    "2.1" yes, "the Docker daemon runs as a non-root user where possible";
    "2.2" yes, "traffic between containers on the default bridge is restricted";
    "2.3" yes, "the daemon logs at info level";
    "2.4" yes, "Docker may change iptables rules";
    "2.5" yes, "no insecure registry is used";
    "2.6" yes, "the aufs storage driver is not used";
    "2.7" yes, "the daemon's TCP socket requires TLS client authentication";
    "2.8" yes, "default ulimits are configured";
    "2.9" yes, "user namespace remapping is enabled";
    "2.10" yes, "the default cgroup usage is confirmed";
    "2.11" yes, "the base device size is not changed until needed";
    "2.12" yes, "Docker client commands are authorized by a plugin";
    "2.13" yes, "logging is centralized and remote";
    "2.14" yes, "containers may not acquire new privileges";
    "2.15" yes, "live restore is enabled";
    "2.16" yes, "the userland proxy is disabled";
    "2.17" yes, "a daemon-wide seccomp profile applies";
    "2.18" yes, "experimental features are not used in production";
    "3.1" yes, "the Docker service definition is owned by root:root";
    "3.2" yes, "the Docker service definition's permissions are restricted";
    "3.3" yes, "the docker.socket unit is owned by root:root";
    "3.4" yes, "the docker.socket unit's permissions are 644 or stricter";
    "3.5" yes, "/etc/docker is owned by root:root";
    "3.6" yes, "/etc/docker's permissions are 755 or stricter";
    "3.7" yes, "registry certificates are owned by root:root";
    "3.8" yes, "registry certificates' permissions are 444 or stricter";
    "3.9" yes, "the TLS CA certificate is owned by root:root";
    "3.10" yes, "the TLS CA certificate's permissions are 444 or stricter";
    "3.11" yes, "the daemon's TLS certificate is owned by root:root";
    "3.12" yes, "the daemon's TLS certificate's permissions are 444 or stricter";
    "3.13" yes, "the daemon's TLS key is owned by root:root";
    "3.14" yes, "the daemon's TLS key's permissions are 400";
    "3.15" yes, "the Docker socket is owned by root:docker";
    "3.16" yes, "the Docker socket's permissions are 660 or stricter";
    "3.17" yes, "daemon.json is owned by root:root";
    "3.18" yes, "daemon.json's permissions are 644 or stricter";
    "3.19" yes, "/etc/default/docker (OpenRC: /etc/conf.d/docker) is owned by root:root";
    "3.20" yes, "/etc/default/docker's (OpenRC: /etc/conf.d/docker's) permissions are 644 or stricter";
    "3.21" yes, "/etc/sysconfig/docker's permissions are 644 or stricter";
    "3.22" yes, "/etc/sysconfig/docker is owned by root:root";
    "3.23" yes, "containerd's socket is owned by root:root";
    "3.24" yes, "containerd's socket's permissions are 660 or stricter";
    "4.1" yes, "containers run as a user of their own, not root";
    "4.2" no(BUILD), "containers use only trusted base images";
    "4.3" no(BUILD), "containers hold no unnecessary packages";
    "4.4" no("how images are scanned and rebuilt over time (operations); `basalt scan` does it for the host"), "images are scanned and rebuilt with security fixes";
    "4.5" no("the environment of the Docker clients that pull images (DOCKER_CONTENT_TRUST), not the host's files"), "content trust is enabled";
    "4.6" no(BUILD), "images declare a HEALTHCHECK (containers' health checks are 5.27)";
    "4.7" no(BUILD), "Dockerfiles do not run update instructions alone";
    "4.8" no("the contents of each image's layers, which the running daemon or a registry serves"), "setuid and setgid bits are removed in images";
    "4.9" no(BUILD), "Dockerfiles use COPY rather than ADD";
    "4.10" no(BUILD), "Dockerfiles hold no secrets";
    "4.11" no(BUILD), "only verified packages are installed in images";
    "4.12" no("how artifacts are verified when they are pulled (operations)"), "signed artifacts are validated";
    "5.1" yes, "swarm mode is off where it is not needed";
    "5.2" yes, "containers run with an AppArmor profile where AppArmor is used";
    "5.3" yes, "containers run with SELinux options where SELinux is used";
    "5.4" yes, "containers' capabilities are restricted";
    "5.5" yes, "no container runs privileged";
    "5.6" yes, "no container mounts a sensitive host directory";
    "5.7" no("the processes running inside each container (docker exec ps): the running daemon"), "no container runs sshd";
    "5.8" yes, "no container publishes a privileged port";
    "5.9" yes, "containers publish only the ports they need";
    "5.10" yes, "no container shares the host's network namespace";
    "5.11" yes, "containers' memory is limited";
    "5.12" yes, "containers' CPU priority is set";
    "5.13" yes, "containers' root file systems are read-only";
    "5.14" yes, "published ports are bound to a specific host interface";
    "5.15" yes, "the restart policy is on-failure with at most 5 retries";
    "5.16" yes, "no container shares the host's process namespace";
    "5.17" yes, "no container shares the host's IPC namespace";
    "5.18" yes, "no host device is exposed to a container directly";
    "5.19" yes, "default ulimits are overridden per container where needed";
    "5.20" yes, "no mount propagates as shared";
    "5.21" yes, "no container shares the host's UTS namespace";
    "5.22" yes, "no container runs without the default seccomp profile";
    "5.23" no(EXEC), "docker exec is not used with --privileged";
    "5.24" no(EXEC), "docker exec is not used with --user root";
    "5.25" yes, "containers' cgroup usage is confirmed";
    "5.26" yes, "containers may not acquire additional privileges";
    "5.27" yes, "containers' health is checked at runtime";
    "5.28" no("how images are pulled before containers start (operations)"), "Docker commands use the latest version of their image";
    "5.29" yes, "containers' PIDs are limited";
    "5.30" yes, "containers do not use the default bridge docker0";
    "5.31" yes, "no container shares the host's user namespace";
    "5.32" yes, "no container mounts the Docker socket";
    "6.1" no(DAEMON_STATE), "image sprawl is avoided";
    "6.2" no(DAEMON_STATE), "container sprawl is avoided";
    "7.1" no(SWARM), "a swarm has the minimum number of manager nodes";
    "7.2" no(SWARM), "swarm services are bound to a specific host interface";
    "7.3" no(SWARM), "swarm overlay networks are encrypted";
    "7.4" no(SWARM), "swarm secrets are managed by Docker's secret commands";
    "7.5" no(SWARM), "swarm managers run in auto-lock mode";
    "7.6" no(SWARM), "the swarm auto-lock key is rotated";
    "7.7" no(SWARM), "node certificates are rotated";
    "7.8" no(SWARM), "CA certificates are rotated";
    "7.9" no(SWARM), "management and data plane traffic are separated";
}

/// The item with this id.
#[must_use]
pub fn item(id: &str) -> Option<&'static Item> {
    ITEMS.iter().find(|i| i.id == id)
}

/// The items of one section, in order.
pub fn section(number: &str) -> impl Iterator<Item = &'static Item> + '_ {
    ITEMS.iter().filter(move |i| i.section() == number)
}

/// The coverage tables of `docs/audit.md`: one per section, each item with what answers it
/// or why it cannot be answered offline.
#[must_use]
pub fn coverage_markdown() -> String {
    let mut out = String::new();
    for (number, name) in SECTIONS {
        let items: Vec<&Item> = section(number).collect();
        let answered = items
            .iter()
            .filter(|i| i.coverage == Coverage::Answered)
            .count();
        out.push_str(&format!(
            "### {number}. {name}: {answered} of {} answered\n\n",
            items.len()
        ));
        out.push_str("| CIS | item | answered by |\n| --- | --- | --- |\n");
        for item in items {
            let how = match item.coverage {
                Coverage::Answered => item
                    .checks()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                Coverage::NotOffline(why) => format!("not answerable offline: {why}"),
            };
            out.push_str(&format!("| {} | {} | {how} |\n", item.id, item.title));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::posture::audit::CHECKS;

    #[test]
    fn the_table_is_the_benchmark_as_docker_bench_checks_it() {
        assert_eq!(ITEMS.len(), 117);
        let counts: Vec<usize> = SECTIONS.iter().map(|(n, _)| section(n).count()).collect();
        assert_eq!(counts, [20, 18, 24, 12, 32, 2, 9]);
        let ids: BTreeSet<&str> = ITEMS.iter().map(|i| i.id).collect();
        assert_eq!(ids.len(), ITEMS.len(), "duplicate ids");
        // In the benchmark's order.
        let key = |id: &str| -> Vec<u32> { id.split('.').map(|n| n.parse().unwrap()).collect() };
        for pair in ITEMS.windows(2) {
            assert!(
                key(pair[0].id) < key(pair[1].id),
                "{} {}",
                pair[0].id,
                pair[1].id
            );
        }
    }

    #[test]
    fn an_item_is_answered_exactly_when_a_check_names_it() {
        for item in ITEMS {
            let checks: Vec<CheckId> = item.checks().collect();
            match item.coverage {
                Coverage::Answered => assert!(!checks.is_empty(), "{} has no check", item.id),
                Coverage::NotOffline(_) => {
                    assert!(checks.is_empty(), "{} is answered by {checks:?}", item.id);
                }
            }
        }
        for check in CHECKS {
            for id in check.cis {
                assert!(item(id).is_some(), "{} names unknown item {id}", check.id);
            }
        }
        let answered = ITEMS
            .iter()
            .filter(|i| i.coverage == Coverage::Answered)
            .count();
        assert_eq!(answered, 90);
    }
}
