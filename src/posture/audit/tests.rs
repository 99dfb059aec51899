//! Every check has a passing fixture (the hardened host below audits clean) and a failing one
//! (the same host with one change), built in code as an image archive so that owners and
//! modes do not depend on the user running the tests.

use std::collections::{BTreeMap, BTreeSet};

use super::host::glob_match;
use super::*;
use crate::integrity::rootfs::RootFs;
use crate::profile::Cidr;
use crate::profile::hardening::DOCKER_WATCHES;

/// 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600;

#[derive(Clone)]
enum Node {
    File(Vec<u8>),
    Link(String),
}

#[derive(Clone)]
struct Host {
    nodes: BTreeMap<String, (Node, u32, u32, u32)>,
}

const SSHD: &str = "\
# hardened
Include /etc/ssh/sshd_config.d/*.conf
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PubkeyAuthentication yes
AllowUsers alice
Port 22
";

const NFT: &str = "\
#!/usr/sbin/nft -f
flush ruleset
define trusted = { 10.0.0.0/8 }
table inet filter {
    chain input {
        type filter hook input priority 0; policy drop;
        iif lo accept
        ct state established,related accept
        tcp dport 22 ip saddr $trusted accept
    }
}
";

const SYSLOG_NG: &str = r#"@version: 4.5
source s_sys { system(); internal(); };
destination d_remote { network("logs.example.net" transport("tls") port(6514)); };
log { source(s_sys); destination(d_remote); };
"#;

const DAEMON_JSON: &str = r#"{
  "icc": false,
  "live-restore": true,
  "userland-proxy": false,
  "no-new-privileges": true,
  "log-driver": "syslog",
  "authorization-plugins": ["authz-broker"],
  "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 65536}},
  "userns-remap": "default"
}
"#;

/// The hardened container: its own user, a health check, limits, a read-only root, a
/// bounded restart policy, no new privileges, capabilities dropped, a network of its own.
const CONTAINER_CONFIG: &str = r#"{
  "Name": "/web",
  "State": {"Running": true},
  "Config": {"Image": "nginx:1.27", "User": "101:101",
             "Healthcheck": {"Test": ["CMD", "wget", "-q", "-O-", "http://localhost/"]}},
  "NoNewPrivileges": true,
  "AppArmorProfile": "",
  "SeccompProfile": "",
  "NetworkSettings": {"Networks": {"web": {}}},
  "MountPoints": {"/data": {"Source": "", "Destination": "/data", "RW": true, "Name": "data", "Type": "volume"}}
}"#;

const CONTAINER_HOSTCONFIG: &str = r#"{
  "Binds": ["data:/data"],
  "NetworkMode": "web",
  "PidMode": "",
  "IpcMode": "private",
  "UTSMode": "",
  "UsernsMode": "",
  "Privileged": false,
  "ReadonlyRootfs": true,
  "Memory": 536870912,
  "CpuShares": 512,
  "PidsLimit": 200,
  "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5},
  "CapDrop": ["ALL"],
  "CapAdd": ["NET_BIND_SERVICE"],
  "SecurityOpt": ["no-new-privileges"],
  "PortBindings": {},
  "Devices": [],
  "Ulimits": null
}"#;

const CONTAINER_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn audit_rules() -> String {
    let mut rules: String = DOCKER_WATCHES
        .iter()
        .map(|w| format!("-w {} -p rwxa -k docker\n", w.path))
        .collect();
    rules.push_str("-w /etc/passwd -p wa -k identity\n-w /etc/shadow -p wa -k identity\n");
    rules.push_str("-w /etc/group -p wa -k identity\n-w /var/log/lastlog -p wa -k logins\n");
    rules
}

fn installed_db(packages: &[(&str, &str, &str)]) -> String {
    packages
        .iter()
        .map(|(name, depends, provides)| {
            format!("C:Q1\nP:{name}\nV:1.0-r0\nD:{depends}\np:{provides}\n\n")
        })
        .collect()
}

const WORLD: &[(&str, &str, &str)] = &[
    ("alpine-base", "busybox openrc", ""),
    ("busybox", "", "cmd:sh"),
    ("openrc", "", ""),
    ("openssh-server", "so:libcrypto.so.3", ""),
    ("libcrypto3", "", "so:libcrypto.so.3"),
    ("docker", "containerd runc", ""),
    ("containerd", "", ""),
    ("runc", "", ""),
    ("nftables", "", ""),
    ("audit", "", ""),
    ("syslog-ng", "", ""),
];

impl Host {
    /// A hardened Docker host: every check passes.
    fn hardened() -> Self {
        let mut h = Host {
            nodes: BTreeMap::new(),
        };
        h.file("/etc/alpine-release", "3.22.2\n");
        h.file(
            "/etc/apk/world",
            "alpine-base\nopenssh-server\ndocker\nnftables\naudit\nsyslog-ng\n",
        );
        h.file("/lib/apk/db/installed", &installed_db(WORLD));
        for (level, service) in [
            ("sysinit", "devfs"),
            ("boot", "nftables"),
            ("boot", "syslog-ng"),
            ("default", "sshd"),
            ("default", "docker"),
            ("default", "auditd"),
            ("shutdown", "killprocs"),
        ] {
            h.enable(level, service);
        }
        h.file("/usr/sbin/sshd", "elf");
        h.file("/etc/ssh/sshd_config", SSHD);
        h.file("/etc/ssh/sshd_config.d/10-log.conf", "LogLevel VERBOSE\n");
        h.file(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nsshd:x:22:22:sshd:/dev/null:/sbin/nologin\n\
             alice:x:1000:1000::/home/alice:/bin/sh\n",
        );
        h.file(
            "/etc/shadow",
            "root:!::0:::::\nsshd:!::0:::::\nalice:*::0:::::\n",
        );
        h.mode("/etc/shadow", 0o640);
        h.file(
            "/etc/group",
            "root:x:0:root\nwheel:x:10:root,alice\ndocker:x:101:\nalice:x:1000:\n",
        );
        h.file("/etc/doas.conf", "permit persist :wheel\n");
        h.file("/etc/audit/rules.d/docker.rules", &audit_rules());
        h.file("/etc/syslog-ng/syslog-ng.conf", SYSLOG_NG);
        h.file("/etc/nftables.nft", NFT);
        h.file("/usr/bin/dockerd", "elf");
        h.mode("/usr/bin/dockerd", 0o755);
        h.file("/etc/init.d/docker", "#!/sbin/openrc-run\n");
        h.mode("/etc/init.d/docker", 0o755);
        h.file("/etc/conf.d/docker", "DOCKER_OPTS=\"\"\n");
        h.file("/etc/docker/daemon.json", DAEMON_JSON);
        h.container(CONTAINER_CONFIG, CONTAINER_HOSTCONFIG);
        h.file(
            "/etc/fstab",
            "/dev/sda1 / ext4 ro,noatime 0 1\ntmpfs /tmp tmpfs nosuid,nodev 0 0\n\
             LABEL=docker /var/lib/docker ext4 defaults,nodev 0 2\n",
        );
        h.file("/bin/bbsuid", "elf");
        h.mode("/bin/bbsuid", 0o4755);
        h.file("/tmp/scratch", "x");
        h.mode("/tmp/scratch", 0o666);
        h
    }

    fn file(&mut self, path: &str, text: &str) -> &mut Self {
        self.nodes.insert(
            path.to_owned(),
            (Node::File(text.as_bytes().to_vec()), 0o644, 0, 0),
        );
        self
    }

    fn link(&mut self, path: &str, target: &str) -> &mut Self {
        self.nodes.insert(
            path.to_owned(),
            (Node::Link(target.to_owned()), 0o777, 0, 0),
        );
        self
    }

    fn mode(&mut self, path: &str, mode: u32) -> &mut Self {
        self.nodes.get_mut(path).expect(path).1 = mode;
        self
    }

    fn owner(&mut self, path: &str, uid: u32, gid: u32) -> &mut Self {
        let node = self.nodes.get_mut(path).expect(path);
        node.2 = uid;
        node.3 = gid;
        self
    }

    fn remove(&mut self, path: &str) -> &mut Self {
        assert!(
            self.nodes.remove(path).is_some(),
            "{path} is not in the fixture"
        );
        self
    }

    fn enable(&mut self, level: &str, service: &str) -> &mut Self {
        self.link(
            &format!("/etc/runlevels/{level}/{service}"),
            &format!("/etc/init.d/{service}"),
        )
    }

    fn edit(&mut self, path: &str, from: &str, to: &str) -> &mut Self {
        let Some((Node::File(data), ..)) = self.nodes.get_mut(path) else {
            panic!("{path} is not a file of the fixture");
        };
        let text = String::from_utf8(data.clone()).unwrap();
        assert!(text.contains(from), "{path} does not contain {from:?}");
        *data = text.replacen(from, to, 1).into_bytes();
        self
    }

    fn container(&mut self, config: &str, hostconfig: &str) -> &mut Self {
        let dir = format!("/var/lib/docker/containers/{CONTAINER_ID}");
        self.file(&format!("{dir}/config.v2.json"), config);
        self.file(&format!("{dir}/hostconfig.json"), hostconfig);
        self.mode(&format!("{dir}/config.v2.json"), 0o600);
        self.mode(&format!("{dir}/hostconfig.json"), 0o600)
    }

    /// Sets members of the container's state file (`config.v2.json` or `hostconfig.json`):
    /// the hardened container with one change.
    fn patch(&mut self, file: &str, patch: &str) -> &mut Self {
        let path = format!("/var/lib/docker/containers/{CONTAINER_ID}/{file}");
        let Some((Node::File(data), ..)) = self.nodes.get_mut(&path) else {
            panic!("{path} is not a file of the fixture");
        };
        let mut value: serde_json::Value = serde_json::from_slice(data).unwrap();
        let serde_json::Value::Object(patch) = serde_json::from_str(patch).unwrap() else {
            panic!("the patch is not an object");
        };
        for (k, v) in patch {
            value[k] = v;
        }
        *data = serde_json::to_vec(&value).unwrap();
        self
    }

    fn hostconfig(&mut self, patch: &str) -> &mut Self {
        self.patch("hostconfig.json", patch)
    }

    fn config(&mut self, patch: &str) -> &mut Self {
        self.patch("config.v2.json", patch)
    }

    fn image(&self) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let gz = flate2::write::GzEncoder::new(file.reopen().unwrap(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (path, (node, mode, uid, gid)) in &self.nodes {
            let mut header = tar::Header::new_gnu();
            header.set_mode(*mode);
            header.set_uid(u64::from(*uid));
            header.set_gid(u64::from(*gid));
            let name = format!(".{path}");
            match node {
                Node::File(data) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(data.len() as u64);
                    builder.append_data(&mut header, &name, &data[..]).unwrap();
                }
                Node::Link(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    builder.append_link(&mut header, &name, target).unwrap();
                }
            }
        }
        builder.into_inner().unwrap().finish().unwrap();
        file
    }

    fn audit_with(&self, policy: &AuditPolicy, now: i64) -> Report {
        let image = self.image();
        let fs = RootFs::open_image(image.path()).unwrap();
        audit(&fs, policy, now)
    }

    fn audit(&self) -> Report {
        self.audit_with(&policy(), NOW)
    }
}

/// The profile of the hardened host: alice is the administrator.
fn policy() -> AuditPolicy {
    let mut p = AuditPolicy::default();
    p.login_users.insert("alice".to_owned());
    p.ssh_users.insert("alice".to_owned());
    p.trusted_networks = vec!["10.0.0.0/8".parse::<Cidr>().unwrap()];
    p
}

/// The checks that fired, without the notes every hardened host has ([`NOTES`]).
fn fired(report: &Report) -> BTreeSet<CheckId> {
    let mut fired = report.fired();
    fired.retain(|c| !NOTES.contains(c));
    fired
}

/// What a hardened host still shows: the note of CIS 2.1, as it runs the system's Docker
/// daemon as root (rootless mode is per user).
const NOTES: [CheckId; 1] = [CheckId::DockerRootful];

#[test]
fn the_hardened_host_passes_every_check() {
    let report = Host::hardened().audit();
    let fired: Vec<CheckId> = report.findings.iter().map(|f| f.check).collect();
    assert_eq!(fired, NOTES, "{:#?}", report.findings);
    assert_eq!(report.findings[0].severity, Severity::Info);
    assert_eq!(report.findings[0].cis, Some("2.1"));
    assert_eq!(report.release.as_deref(), Some("3.22.2"));
    assert!(report.image);
    // What did not run: the profile-only checks; what only a live host has (the sockets,
    // swarm state, the mount table); what the host does not use (AppArmor, SELinux, TLS, registry
    // certificates, systemd units, optional files); and 1.2.2 without a repository.
    let skipped: BTreeSet<(CheckId, Option<&str>, Option<&str>)> = report
        .skipped
        .iter()
        .map(|s| (s.check, s.cis, s.path.as_deref()))
        .collect();
    let live = |id, cis, path| (id, Some(cis), Some(path));
    for want in [
        (CheckId::PackageNotInProfile, None, None),
        (CheckId::ServiceNotEnabled, None, None),
        live(CheckId::DockerFileOwner, "3.15", "/run/docker.sock"),
        live(CheckId::DockerFileMode, "3.16", "/run/docker.sock"),
        live(
            CheckId::DockerFileOwner,
            "3.23",
            "/run/containerd/containerd.sock",
        ),
        live(CheckId::DockerSwarmMode, "5.1", "/var/lib/docker/swarm"),
        live(
            CheckId::DockerFileOwner,
            "3.3",
            "/usr/lib/systemd/system/docker.socket",
        ),
        live(
            CheckId::AuditDockerWatch,
            "1.1.12",
            "/etc/containerd/config.toml",
        ),
        live(
            CheckId::AuditDockerWatch,
            "1.1.17",
            "/usr/bin/containerd-shim-runc-v2",
        ),
        live(CheckId::DockerFileOwner, "3.7", "/etc/docker/certs.d"),
        (CheckId::StateVolumeMissing, None, Some("/proc/self/mounts")),
        (CheckId::ContainerApparmor, Some("5.2"), None),
        (CheckId::ContainerSelinux, Some("5.3"), None),
        (
            CheckId::DockerOutdated,
            Some("1.2.2"),
            Some("/lib/apk/db/installed"),
        ),
    ] {
        assert!(skipped.contains(&want), "{want:?} not in {skipped:#?}");
    }
    let live_only: Vec<&Skipped> = report
        .skipped
        .iter()
        .filter(|s| s.reason.starts_with("only a live host can answer"))
        .collect();
    assert_eq!(live_only.len(), 6, "{live_only:#?}");
    assert!(!report.fails(Severity::Low));
}

type Mutation = fn(&mut Host);

/// (expected checks, mutation): the hardened host with one change fires exactly these.
fn cases() -> Vec<(&'static [CheckId], Mutation)> {
    vec![
        (&[CheckId::OsReleaseUnknown], |h| {
            h.remove("/etc/alpine-release");
        }),
        (&[CheckId::OsReleaseUnsupported], |h| {
            h.file("/etc/alpine-release", "3.18.4\n");
        }),
        (&[CheckId::OsReleaseUnsupported], |h| {
            h.remove("/etc/alpine-release").file(
                "/etc/os-release",
                "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.21_alpha20240807\n",
            );
        }),
        (&[CheckId::OsReleaseUnlisted], |h| {
            h.file("/etc/alpine-release", "3.99.0\n");
        }),
        (&[CheckId::ServiceNotInProfile], |h| {
            h.enable("default", "telnetd");
        }),
        (&[CheckId::PackageApplication], |h| {
            let mut db: Vec<(&str, &str, &str)> = WORLD.to_vec();
            db.push(("mytool", "python3", ""));
            db.push(("python3", "", ""));
            h.file("/lib/apk/db/installed", &installed_db(&db)).edit(
                "/etc/apk/world",
                "syslog-ng\n",
                "syslog-ng\nmytool\n",
            );
        }),
        (&[CheckId::SshPasswordAuth], |h| {
            h.edit("/etc/ssh/sshd_config", "PasswordAuthentication no\n", "");
        }),
        (&[CheckId::SshPasswordAuth], |h| {
            // An included file read before the main file's value wins.
            h.file(
                "/etc/ssh/sshd_config.d/00-cloud.conf",
                "PasswordAuthentication yes\n",
            );
        }),
        (&[CheckId::SshKbdInteractive], |h| {
            h.edit(
                "/etc/ssh/sshd_config",
                "KbdInteractiveAuthentication no",
                "ChallengeResponseAuthentication yes",
            );
        }),
        (&[CheckId::SshRootLogin], |h| {
            h.edit(
                "/etc/ssh/sshd_config",
                "PermitRootLogin no",
                "PermitRootLogin prohibit-password",
            );
        }),
        (&[CheckId::SshEmptyPasswords], |h| {
            h.edit(
                "/etc/ssh/sshd_config",
                "PermitEmptyPasswords no",
                "PermitEmptyPasswords yes",
            );
        }),
        (&[CheckId::SshPubkeyOff], |h| {
            h.edit(
                "/etc/ssh/sshd_config",
                "PubkeyAuthentication yes",
                "PubkeyAuthentication no",
            );
        }),
        (&[CheckId::SshAllowList], |h| {
            h.edit("/etc/ssh/sshd_config", "AllowUsers alice\n", "");
        }),
        (&[CheckId::SshAllowList], |h| {
            h.edit(
                "/etc/ssh/sshd_config",
                "AllowUsers alice",
                "AllowUsers alice bob@10.0.0.1",
            );
        }),
        (&[CheckId::SshMatchOverride], |h| {
            h.edit(
                "/etc/ssh/sshd_config",
                "Port 22\n",
                "Port 22\nMatch Address 192.0.2.0/24\n    PasswordAuthentication yes\n",
            );
        }),
        (&[CheckId::AccountEmptyPassword], |h| {
            h.edit("/etc/shadow", "alice:*:", "alice::");
        }),
        (&[CheckId::AccountPassword], |h| {
            h.edit("/etc/shadow", "alice:*:", "alice:$6$salt$0123456789:");
        }),
        (&[CheckId::AccountLoginShell], |h| {
            h.edit(
                "/etc/passwd",
                "/dev/null:/sbin/nologin",
                "/dev/null:/bin/ash",
            );
        }),
        (&[CheckId::DockerGroupMember], |h| {
            h.edit("/etc/group", "docker:x:101:", "docker:x:101:alice");
        }),
        (&[CheckId::DockerGroupMember], |h| {
            h.edit("/etc/passwd", "alice:x:1000:1000:", "alice:x:1000:101:");
        }),
        (&[CheckId::PrivilegeRule], |h| {
            h.file("/etc/doas.d/extra.conf", "permit bob as root\n");
        }),
        (&[CheckId::PrivilegeRule, CheckId::PrivilegeNopass], |h| {
            h.file(
                "/etc/sudoers",
                "root ALL=(ALL) ALL\n%docker ALL=(ALL) NOPASSWD: ALL\n",
            );
        }),
        (&[CheckId::PrivilegeNopass], |h| {
            h.edit(
                "/etc/doas.conf",
                "permit persist :wheel",
                "permit nopass :wheel",
            );
        }),
        (&[CheckId::AuditdNotEnabled], |h| {
            h.remove("/etc/runlevels/default/auditd");
        }),
        (&[CheckId::AuditDockerWatch], |h| {
            h.edit(
                "/etc/audit/rules.d/docker.rules",
                "-w /usr/bin/runc -p rwxa -k docker\n",
                "",
            );
        }),
        (&[CheckId::AuditAuthEvents], |h| {
            h.edit(
                "/etc/audit/rules.d/docker.rules",
                "-w /etc/shadow -p wa -k identity\n",
                "",
            );
        }),
        (&[CheckId::AuditAuthEvents], |h| {
            h.file("/etc/ssh/sshd_config.d/10-log.conf", "LogLevel QUIET\n");
        }),
        (&[CheckId::LogForwarding], |h| {
            h.edit(
                "/etc/syslog-ng/syslog-ng.conf",
                "destination(d_remote);",
                "",
            );
        }),
        (&[CheckId::LogForwarding], |h| {
            h.remove("/etc/runlevels/boot/syslog-ng");
        }),
        (&[CheckId::LogForwardingUdp], |h| {
            h.remove("/etc/runlevels/boot/syslog-ng")
                .enable("boot", "syslog")
                .file(
                    "/etc/conf.d/syslog",
                    "SYSLOGD_OPTS=\"-t -R 10.0.0.9:514\"\n",
                );
        }),
        (&[CheckId::FirewallNotEnabled], |h| {
            h.remove("/etc/runlevels/boot/nftables");
        }),
        (&[CheckId::FirewallInputPolicy], |h| {
            h.edit("/etc/nftables.nft", "policy drop;", "policy accept;");
        }),
        (&[CheckId::FirewallInputPolicy], |h| {
            h.edit("/etc/nftables.nft", "iif lo accept", "counter accept");
        }),
        (&[CheckId::FirewallSshOpen], |h| {
            h.edit(
                "/etc/nftables.nft",
                "tcp dport 22 ip saddr $trusted accept",
                "tcp dport { 22, 443 } accept",
            );
        }),
        (&[CheckId::FirewallSshOpen], |h| {
            h.edit(
                "/etc/nftables.nft",
                "{ 10.0.0.0/8 }",
                "{ 10.0.0.0/8, 192.0.2.0/24 }",
            );
        }),
        (&[CheckId::DockerDaemonJsonInvalid], |h| {
            h.file("/etc/docker/daemon.json", "{\"icc\": false,");
        }),
        (&[CheckId::DockerDaemonJsonInvalid], |h| {
            // dockerd does not read a string as a boolean.
            h.edit(
                "/etc/docker/daemon.json",
                "\"icc\": false",
                "\"icc\": \"false\"",
            );
        }),
        (&[CheckId::DockerOptionsInvalid, CheckId::DockerIcc], |h| {
            // A boolean flag takes no separate value: `false` is an argument dockerd refuses.
            h.file("/etc/conf.d/docker", "DOCKER_OPTS=\"--icc false\"\n");
        }),
        (&[CheckId::DockerOptionsInvalid], |h| {
            // A setting in both places.
            h.file("/etc/conf.d/docker", "DOCKER_OPTS=\"--live-restore\"\n");
        }),
        (&[], |h| {
            // The last assignment wins, as the shell reads it.
            h.file(
                "/etc/conf.d/docker",
                "DOCKER_OPTS=\"-H tcp://0.0.0.0:2375\"\n# later:\nDOCKER_OPTS=\"\"\n",
            );
        }),
        (&[CheckId::DockerStorageDriver], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "{",
                "{ \"storage-driver\": \"aufs\",",
            );
        }),
        (
            &[CheckId::DockerDefaultUlimits, CheckId::ContainerUlimits],
            |h| {
                h.edit(
                    "/etc/docker/daemon.json",
                    "\"default-ulimits\"",
                    "\"x-default-ulimits\"",
                );
            },
        ),
        (&[CheckId::DockerCgroupParent], |h| {
            h.file(
                "/etc/conf.d/docker",
                "DOCKER_OPTS=\"--cgroup-parent=/docker-pool\"\n",
            );
        }),
        (&[CheckId::DockerBaseSize], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "{",
                "{ \"storage-opts\": [\"dm.basesize=20G\"],",
            );
        }),
        (&[CheckId::DockerAuthorization], |h| {
            h.edit("/etc/docker/daemon.json", "[\"authz-broker\"]", "[]");
        }),
        (&[CheckId::DockerSeccompProfile], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "{",
                "{ \"seccomp-profile\": \"unconfined\",",
            );
        }),
        (&[CheckId::DockerSwarmMode], |h| {
            h.file(
                "/var/lib/docker/swarm/docker-state.json",
                "{\"LocalAddr\":\"10.0.0.5\",\"ListenAddr\":\"0.0.0.0:2377\"}",
            );
        }),
        (&[CheckId::DockerPartition], |h| {
            h.edit(
                "/etc/fstab",
                "LABEL=docker /var/lib/docker ext4 defaults,nodev 0 2\n",
                "",
            );
        }),
        (
            &[CheckId::DockerPartition, CheckId::AuditDockerWatch],
            |h| {
                // The data-root moved: its volume and watch are the new directory's.
                h.edit(
                    "/etc/docker/daemon.json",
                    "{",
                    "{ \"data-root\": \"/srv/docker\",",
                );
            },
        ),
        (&[CheckId::DockerIcc], |h| {
            h.edit("/etc/docker/daemon.json", "\"icc\": false", "\"icc\": true");
        }),
        (&[CheckId::DockerIcc, CheckId::DockerOptionsInvalid], |h| {
            // Given in both places, which dockerd refuses; the command line is reported.
            h.file("/etc/conf.d/docker", "DOCKER_OPTS=\"--icc=true\"\n");
        }),
        (&[CheckId::DockerIcc], |h| {
            h.edit("/etc/docker/daemon.json", "\"icc\": false,", "")
                .file("/etc/conf.d/docker", "DOCKER_OPTS=\"--icc=true\"\n");
        }),
        (&[CheckId::DockerLogLevel], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "{",
                "{ \"log-level\": \"debug\",",
            );
        }),
        (&[CheckId::DockerIptables], |h| {
            h.edit("/etc/docker/daemon.json", "{", "{ \"iptables\": false,");
        }),
        (&[CheckId::DockerInsecureRegistry], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "{",
                "{ \"insecure-registries\": [\"10.0.0.5:5000\"],",
            );
        }),
        (&[CheckId::DockerTcpWithoutTls], |h| {
            h.file(
                "/etc/conf.d/docker",
                "DOCKER_OPTS=\"-H tcp://0.0.0.0:2375\"\n",
            );
        }),
        (&[CheckId::DockerTcpWithoutTls], |h| {
            // Without a scheme, dockerd listens on TCP.
            h.file("/etc/conf.d/docker", "DOCKER_OPTS='-H 0.0.0.0:2375'\n");
        }),
        (&[CheckId::DockerTcpWithoutTls], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "{",
                "{ \"hosts\": [\"0.0.0.0:2375\"],",
            );
        }),
        (&[CheckId::DockerTcpWithoutTls], |h| {
            // TLS without verifying clients.
            h.file(
                "/etc/conf.d/docker",
                "DOCKER_OPTS=\"--tls -H=:2376\"\nDOCKER_OPTS=\"$DOCKER_OPTS --tlscert=/c.pem\"\n",
            );
        }),
        (&[CheckId::DockerLogLevel], |h| {
            h.file("/etc/conf.d/docker", "DOCKER_OPTS=-D\n");
        }),
        (&[CheckId::DockerUsernsRemap], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "\"userns-remap\": \"default\"",
                "\"debug\": false",
            );
        }),
        (&[CheckId::DockerLogDriver], |h| {
            h.edit("/etc/docker/daemon.json", "\"syslog\"", "\"json-file\"");
        }),
        (&[CheckId::DockerNoNewPrivileges], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "\"no-new-privileges\": true",
                "\"no-new-privileges\": false",
            );
        }),
        (&[CheckId::DockerLiveRestore], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "\"live-restore\": true",
                "\"live-restore\": false",
            );
        }),
        (&[CheckId::DockerUserlandProxy], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "\"userland-proxy\": false,\n",
                "",
            );
        }),
        (&[CheckId::DockerExperimental], |h| {
            h.edit("/etc/docker/daemon.json", "{", "{ \"experimental\": true,");
        }),
        (&[CheckId::DockerFileOwner], |h| {
            h.owner("/etc/docker/daemon.json", 1000, 1000);
        }),
        (&[CheckId::DockerFileMode], |h| {
            h.mode("/etc/init.d/docker", 0o775);
        }),
        (&[CheckId::DockerFileMode, CheckId::DockerFileOwner], |h| {
            // A systemd unit beside OpenRC's script (CIS 3.3, 3.4).
            h.file("/usr/lib/systemd/system/docker.socket", "[Socket]\n")
                .mode("/usr/lib/systemd/system/docker.socket", 0o664)
                .owner("/usr/lib/systemd/system/docker.socket", 0, 1000);
        }),
        (&[CheckId::DockerFileMode], |h| {
            h.file("/etc/sysconfig/docker", "OPTIONS=\n")
                .mode("/etc/sysconfig/docker", 0o664);
        }),
        (&[CheckId::AuditDockerWatch], |h| {
            h.edit(
                "/etc/audit/rules.d/docker.rules",
                "-w /run/containerd -p rwxa -k docker\n",
                "",
            );
        }),
        (&[CheckId::AuditDockerWatch], |h| {
            // A shim the root has must be watched (CIS 1.1.17).
            h.file("/usr/bin/containerd-shim-runc-v2", "elf").edit(
                "/etc/audit/rules.d/docker.rules",
                "-w /usr/bin/containerd-shim-runc-v2 -p rwxa -k docker\n",
                "",
            );
        }),
        (&[], |h| {
            // A watch on a directory covers what is below it.
            h.edit(
                "/etc/audit/rules.d/docker.rules",
                "-w /run/containerd/containerd.sock -p rwxa -k docker\n",
                "",
            );
        }),
        (&[CheckId::DockerFileMode], |h| {
            // TLS material named by daemon.json: the key must be 0400 (CIS 3.14).
            h.edit(
                "/etc/docker/daemon.json",
                "{",
                "{ \"tlsverify\": true, \"tlscacert\": \"/etc/docker/tls/ca.pem\", \"tlscert\": \"/etc/docker/tls/cert.pem\", \"tlskey\": \"/etc/docker/tls/key.pem\", \"hosts\": [\"tcp://0.0.0.0:2376\"],",
            )
            .file("/etc/docker/tls/ca.pem", "ca")
            .file("/etc/docker/tls/cert.pem", "cert")
            .file("/etc/docker/tls/key.pem", "key");
            h.mode("/etc/docker/tls/ca.pem", 0o444)
                .mode("/etc/docker/tls/cert.pem", 0o444)
                .mode("/etc/docker/tls/key.pem", 0o640);
        }),
        (&[CheckId::ContainerRootUser], |h| {
            h.config(r#"{"Config": {"Image": "nginx", "User": "", "Healthcheck": {"Test": ["CMD", "true"]}}}"#);
        }),
        (&[CheckId::ContainerRootUser], |h| {
            h.config(r#"{"Config": {"Image": "nginx", "user": "0:101", "Healthcheck": {"Test": ["CMD", "true"]}}}"#);
        }),
        (&[CheckId::ContainerApparmor], |h| {
            h.enable("boot", "apparmor")
                .hostconfig(r#"{"SecurityOpt": ["no-new-privileges", "apparmor=unconfined"]}"#);
        }),
        (&[CheckId::ContainerApparmor], |h| {
            // AppArmor is in use: a container without a profile is reported.
            h.enable("boot", "apparmor");
        }),
        (&[CheckId::ContainerSelinux], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "{",
                "{ \"selinux-enabled\": true,",
            )
            .config(r#"{"ProcessLabel": "system_u:system_r:container_t:s0:c1,c2"}"#)
            .hostconfig(r#"{"SecurityOpt": ["no-new-privileges", "label=disable"]}"#);
        }),
        (&[CheckId::ContainerCapAdd], |h| {
            h.hostconfig(r#"{"CapAdd": "sys_admin"}"#);
        }),
        (&[CheckId::ContainerCapAdd], |h| {
            h.hostconfig(r#"{"CapDrop": [], "capadd": ["CAP_NET_ADMIN", "chown"]}"#);
        }),
        (&[CheckId::ContainerPrivileged], |h| {
            h.hostconfig(r#"{"Privileged": true}"#);
        }),
        (&[CheckId::ContainerPrivileged], |h| {
            // Docker's JSON reader matches member names whatever their case.
            h.hostconfig(r#"{"PRIVILEGED": true}"#);
        }),
        (&[CheckId::ContainerSensitiveMount], |h| {
            h.hostconfig(r#"{"Binds": ["/etc:/host/etc:ro"]}"#);
        }),
        (&[CheckId::ContainerSensitivePath], |h| {
            h.hostconfig(r#"{"Binds": ["/root/app.key:/app.key"]}"#);
        }),
        (&[CheckId::ContainerDockerSocket], |h| {
            h.hostconfig(r#"{"Mounts": [{"Type": "bind", "Source": "/var/run/docker.sock", "Target": "/var/run/docker.sock"}]}"#);
        }),
        (&[CheckId::ContainerDockerSocket], |h| {
            // The directory that holds the socket.
            h.hostconfig(r#"{"Binds": ["/var/run:/host-run:ro"]}"#);
        }),
        (&[CheckId::ContainerDockerSocket], |h| {
            h.hostconfig(r#"{"Binds": ["/run/containerd/containerd.sock:/c.sock"]}"#);
        }),
        (
            &[
                CheckId::ContainerPublishedPorts,
                CheckId::ContainerPrivilegedPort,
                CheckId::ContainerPortAllInterfaces,
            ],
            |h| {
                h.hostconfig(
                    r#"{"PortBindings": {"443/tcp": [{"HostIp": "", "HostPort": "443"}]}}"#,
                );
            },
        ),
        (&[CheckId::ContainerPublishedPorts], |h| {
            h.hostconfig(
                r#"{"PortBindings": {"8443/tcp": [{"HostIp": "10.0.0.5", "HostPort": "8443"}]}}"#,
            );
        }),
        (&[CheckId::ContainerPublishedPorts], |h| {
            // The daemon binds published ports to one address by default.
            h.edit("/etc/docker/daemon.json", "{", "{ \"ip\": \"10.0.0.5\",")
                .hostconfig(
                    r#"{"PortBindings": {"8443/tcp": [{"HostIp": "", "HostPort": "8443"}]}}"#,
                );
        }),
        (
            &[
                CheckId::ContainerPublishedPorts,
                CheckId::ContainerPortAllInterfaces,
            ],
            |h| {
                h.hostconfig(r#"{"PublishAllPorts": true}"#)
                    .config(r#"{"Config": {"Image": "nginx", "User": "101", "ExposedPorts": {"80/tcp": {}}, "Healthcheck": {"Test": ["CMD", "true"]}}}"#);
            },
        ),
        (&[CheckId::ContainerHostNetwork], |h| {
            h.hostconfig(
                r#"{"NetworkMode": "host", "PortBindings": {"80/tcp": [{"HostPort": "80"}]}}"#,
            );
        }),
        (&[CheckId::ContainerMemoryLimit], |h| {
            h.hostconfig(r#"{"Memory": 0}"#);
        }),
        (&[CheckId::ContainerMemoryLimit], |h| {
            // Of two spellings, the riskier counts.
            h.hostconfig(r#"{"memory": 0}"#);
        }),
        (&[CheckId::ContainerCpuLimit], |h| {
            h.hostconfig(r#"{"CpuShares": 0}"#);
        }),
        (&[], |h| {
            h.hostconfig(r#"{"CpuShares": 0, "NanoCpus": 1500000000}"#);
        }),
        (&[CheckId::ContainerRootfsWritable], |h| {
            h.hostconfig(r#"{"ReadonlyRootfs": false}"#);
        }),
        (&[CheckId::ContainerRestartPolicy], |h| {
            h.hostconfig(r#"{"RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}}"#);
        }),
        (&[CheckId::ContainerRestartPolicy], |h| {
            h.hostconfig(r#"{"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 10}}"#);
        }),
        (&[CheckId::ContainerHostPid], |h| {
            h.hostconfig(r#"{"PidMode": "host"}"#);
        }),
        (&[CheckId::ContainerHostIpc], |h| {
            h.hostconfig(r#"{"IpcMode": "host"}"#);
        }),
        (&[CheckId::ContainerDevices], |h| {
            h.hostconfig(r#"{"Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"}]}"#);
        }),
        (&[CheckId::ContainerDevices], |h| {
            h.hostconfig(r#"{"DeviceCgroupRules": ["a *:* rwm"]}"#);
        }),
        (&[CheckId::ContainerMountPropagation], |h| {
            h.hostconfig(r#"{"Binds": ["data:/data", "/srv/shared:/shared:rshared"]}"#);
        }),
        (&[CheckId::ContainerMountPropagation], |h| {
            h.hostconfig(r#"{"Mounts": [{"Type": "bind", "Source": "/srv/m", "Target": "/m", "BindOptions": {"Propagation": "shared"}}]}"#);
        }),
        (&[CheckId::ContainerHostUts], |h| {
            h.hostconfig(r#"{"UTSMode": "host"}"#);
        }),
        (&[CheckId::ContainerSeccompUnconfined], |h| {
            h.hostconfig(r#"{"SecurityOpt": ["no-new-privileges", "seccomp:unconfined"]}"#);
        }),
        (&[CheckId::ContainerCgroupParent], |h| {
            h.hostconfig(r#"{"CgroupParent": "/custom"}"#);
        }),
        (&[CheckId::ContainerNoNewPrivileges], |h| {
            // What Docker decided at creation counts, whatever the daemon says now.
            h.config(r#"{"NoNewPrivileges": false}"#);
        }),
        (&[CheckId::ContainerHealthcheck], |h| {
            h.config(r#"{"Config": {"Image": "nginx", "User": "101"}}"#);
        }),
        (&[CheckId::ContainerHealthcheck], |h| {
            h.config(r#"{"Config": {"Image": "nginx", "User": "101", "Healthcheck": {"Test": ["NONE"]}}}"#);
        }),
        (&[CheckId::ContainerPidsLimit], |h| {
            h.hostconfig(r#"{"PidsLimit": -1}"#);
        }),
        (&[CheckId::ContainerPidsLimit], |h| {
            h.hostconfig(r#"{"PidsLimit": null}"#);
        }),
        (&[CheckId::ContainerDefaultBridge], |h| {
            h.hostconfig(r#"{"NetworkMode": "default"}"#);
        }),
        (&[CheckId::ContainerDefaultBridge], |h| {
            h.config(r#"{"NetworkSettings": {"Networks": {"web": {}, "bridge": {}}}}"#);
        }),
        (&[], |h| {
            // No default bridge at all.
            h.edit("/etc/docker/daemon.json", "{", "{ \"bridge\": \"none\",")
                .hostconfig(r#"{"NetworkMode": "default"}"#);
        }),
        (&[CheckId::ContainerHostUserns], |h| {
            h.hostconfig(r#"{"UsernsMode": "host"}"#);
        }),
        (&[CheckId::RootNotReadonly], |h| {
            h.edit("/etc/fstab", "ro,noatime", "rw,noatime");
        }),
        (&[CheckId::RootNotReadonly, CheckId::DockerPartition], |h| {
            h.remove("/etc/fstab");
        }),
        (&[CheckId::WorldWritable], |h| {
            h.mode("/etc/doas.conf", 0o646);
        }),
        // A live host (a mount table) whose state volume is absent, then stood in for.
        (&[CheckId::StateVolumeMissing], |h| {
            h.edit(
                "/etc/fstab",
                "tmpfs /tmp",
                "LABEL=state /var/lib ext4 defaults,nofail 0 2\ntmpfs /tmp",
            )
            .file(
                "/proc/self/mounts",
                "rootfs / rootfs rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n",
            );
        }),
        (&[CheckId::StateVolumeMissing], |h| {
            h.edit(
                "/etc/fstab",
                "tmpfs /tmp",
                "LABEL=state /var/lib ext4 defaults,nofail 0 2\ntmpfs /tmp",
            )
            .file(
                "/proc/self/mounts",
                "rootfs / rootfs rw 0 0\ntmpfs /var/lib tmpfs rw 0 0\n",
            );
        }),
        (&[CheckId::SetuidBinary], |h| {
            h.file("/usr/bin/su", "elf").mode("/usr/bin/su", 0o4755);
        }),
        (&[CheckId::UnreadableFile], |h| {
            h.container("{", CONTAINER_HOSTCONFIG);
        }),
        (&[CheckId::UnreadableFile], |h| {
            h.link("/etc/doas.d", "/etc/doas.d");
        }),
        (&[CheckId::UnreadableFile], |h| {
            h.file("/lib/apk/db/installed", "P:broken\nnot a field\n");
        }),
    ]
}

#[test]
fn each_change_fires_exactly_its_checks() {
    let mut failures = Vec::new();
    for (i, (expected, mutate)) in cases().into_iter().enumerate() {
        let mut host = Host::hardened();
        mutate(&mut host);
        let report = host.audit();
        let got = fired(&report);
        let want: BTreeSet<CheckId> = expected.iter().copied().collect();
        if got != want {
            failures.push(format!(
                "case {i} {expected:?}: fired {got:?}\n{:#?}",
                report.findings
            ));
        }
        for f in &report.findings {
            assert!(
                !f.evidence.is_empty(),
                "case {i}: finding without evidence: {f:?}"
            );
            assert!(
                f.path.starts_with('/'),
                "case {i}: path not absolute: {f:?}"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The checks whose failing fixtures are the profile, time, rootless and repository tests
/// below.
const FAILING_ELSEWHERE: [CheckId; 5] = [
    CheckId::OsReleaseEnding,
    CheckId::ServiceNotEnabled,
    CheckId::PackageNotInProfile,
    CheckId::DockerRootful,
    CheckId::DockerOutdated,
];

#[test]
fn the_daemon_runs_as_root_unless_rootless() {
    let rootful = |h: &Host| h.audit().fired().contains(&CheckId::DockerRootful);
    assert!(rootful(&Host::hardened()));
    let mut host = Host::hardened();
    host.edit("/etc/docker/daemon.json", "{", "{ \"rootless\": true,");
    assert!(!rootful(&host));
    // OpenRC's supervisor runs dockerd as another user.
    let mut host = Host::hardened();
    host.file(
        "/etc/conf.d/docker",
        "DOCKER_OPTS=\"\"\ncommand_user=\"dockerd:dockerd\"\n",
    );
    assert!(!rootful(&host));
    host.file("/etc/conf.d/docker", "command_user=root:root\n");
    assert!(rootful(&host));
}

#[test]
fn the_engine_is_compared_with_the_repositories() {
    use crate::posture::outdated::Available;
    let mut db: Vec<(&str, &str, &str)> = WORLD.to_vec();
    db.retain(|p| p.0 != "docker");
    let mut host = Host::hardened();
    // The fixture's packages are all 1.0-r0.
    host.file(
        "/lib/apk/db/installed",
        &format!(
            "{}C:Q1\nP:docker\nV:25.0.5-r1\nD:containerd runc\n\n",
            installed_db(&db)
        ),
    );
    let available = |name: &str, version: &str| Available {
        name: name.to_owned(),
        version: version.to_owned(),
        repository: "https://mirror/v3.22/community".to_owned(),
    };
    let mut p = policy();
    p.repository_packages = Some(vec![
        available("docker", "25.0.5-r1"),
        available("containerd", "1.0-r0"),
        available("runc", "1.0-r0"),
    ]);
    assert!(
        !host
            .audit_with(&p, NOW)
            .fired()
            .contains(&CheckId::DockerOutdated)
    );
    p.repository_packages = Some(vec![
        available("docker", "25.0.3-r0"),
        available("docker", "26.1.5-r0"),
        available("containerd", "1.0-r0"),
        available("runc", "1.0-r1"),
    ]);
    let r = host.audit_with(&p, NOW);
    let outdated: Vec<(&str, Option<&str>)> = r
        .findings
        .iter()
        .filter(|f| f.check == CheckId::DockerOutdated)
        .map(|f| (f.evidence.as_str(), f.cis))
        .collect();
    assert_eq!(
        outdated,
        [
            (
                "docker 25.0.5-r1 -> 26.1.5-r0 (https://mirror/v3.22/community)",
                Some("1.2.2")
            ),
            (
                "runc 1.0-r0 -> 1.0-r1 (https://mirror/v3.22/community)",
                Some("1.2.2")
            ),
        ]
    );
}

#[test]
fn every_check_has_a_failing_fixture() {
    let mut covered: BTreeSet<CheckId> = cases()
        .iter()
        .flat_map(|(ids, _)| ids.iter().copied())
        .collect();
    covered.extend(FAILING_ELSEWHERE);
    let uncovered: Vec<CheckId> = CheckId::ALL
        .iter()
        .copied()
        .filter(|id| !covered.contains(id))
        .collect();
    assert_eq!(uncovered, Vec::<CheckId>::new());
}

/// Each family (one module of the audit) has a passing fixture, the hardened host, on which
/// it runs (not every one of its checks is skipped) and finds nothing; and a failing one, a
/// case of [`cases`] that fires one of its checks (`each_change_fires_exactly_its_checks`
/// shows that it does).
#[test]
fn every_family_has_a_passing_and_a_failing_fixture() {
    let passing = Host::hardened().audit();
    let cases = cases();
    for family in Family::ALL {
        let fired: Vec<&Finding> = passing
            .findings
            .iter()
            .filter(|f| f.check.family() == *family && !NOTES.contains(&f.check))
            .collect();
        assert_eq!(
            fired,
            Vec::<&Finding>::new(),
            "family {family} on the hardened host"
        );
        assert!(
            family
                .checks()
                .any(|id| !passing.skipped.iter().any(|s| s.check == id)),
            "family {family}: every check was skipped on the hardened host"
        );
        assert!(
            cases
                .iter()
                .any(|(ids, _)| ids.iter().any(|id| id.family() == *family)),
            "family {family} has no failing fixture"
        );
    }
}

#[test]
fn release_support_follows_the_date_passed_in() {
    let host = Host::hardened();
    // 3.22 ends on 2027-05-01: 60 days before is "ending", the day itself "unsupported".
    let end = days_from_date("2027-05-01").unwrap() * 86_400;
    let r = host.audit_with(&policy(), end - 60 * 86_400);
    assert_eq!(fired(&r), BTreeSet::from([CheckId::OsReleaseEnding]));
    let r = host.audit_with(&policy(), end);
    assert_eq!(fired(&r), BTreeSet::from([CheckId::OsReleaseUnsupported]));
    assert_eq!(days_from_date("1970-01-01"), Some(0));
    assert_eq!(days_from_date("2000-03-01"), Some(11_017));
    assert_eq!(days_from_date("2024-13-01"), None);
}

#[test]
fn a_profile_requires_its_services_and_packages() {
    let mut profile = policy();
    profile.require_services = true;
    profile
        .services
        .get_mut("default")
        .unwrap()
        .insert("chronyd".to_owned());
    profile.packages = Some(
        [
            "alpine-base",
            "openssh-server",
            "docker",
            "nftables",
            "audit",
            "syslog-ng",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect(),
    );
    // The hardened host lacks chronyd; with it enabled, the profile's services are all there
    // but the policy's default allow-list has more than the host enables.
    let r = Host::hardened().audit_with(&profile, NOW);
    let missing: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.check == CheckId::ServiceNotEnabled)
        .map(|f| f.path.as_str())
        .collect();
    assert!(
        missing.contains(&"/etc/runlevels/default/chronyd"),
        "{missing:?}"
    );
    assert!(!fired(&r).contains(&CheckId::PackageNotInProfile));

    let mut exact = profile.clone();
    exact.services = BTreeMap::from([
        ("sysinit".to_owned(), BTreeSet::from(["devfs".to_owned()])),
        (
            "boot".to_owned(),
            BTreeSet::from(["nftables".to_owned(), "syslog-ng".to_owned()]),
        ),
        (
            "default".to_owned(),
            ["sshd", "docker", "auditd"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
        ),
        (
            "shutdown".to_owned(),
            BTreeSet::from(["killprocs".to_owned()]),
        ),
    ]);
    assert_eq!(
        fired(&Host::hardened().audit_with(&exact, NOW)),
        BTreeSet::new()
    );

    // A package beyond the profile, with what it pulls in.
    let mut host = Host::hardened();
    let mut db: Vec<(&str, &str, &str)> = WORLD.to_vec();
    db.push(("nginx", "so:libpcre2-8.so.0 libcrypto3", ""));
    db.push(("pcre2", "", "so:libpcre2-8.so.0"));
    host.file("/lib/apk/db/installed", &installed_db(&db)).edit(
        "/etc/apk/world",
        "syslog-ng\n",
        "syslog-ng\nnginx\n",
    );
    let r = host.audit_with(&exact, NOW);
    assert_eq!(
        fired(&r),
        BTreeSet::from([CheckId::PackageApplication, CheckId::PackageNotInProfile])
    );
    let f = r
        .findings
        .iter()
        .find(|f| f.check == CheckId::PackageNotInProfile)
        .unwrap();
    // libcrypto3 is also needed by openssh-server, so only pcre2 comes with nginx.
    assert!(
        f.evidence.ends_with("it also pulls in: pcre2"),
        "{}",
        f.evidence
    );
}

#[test]
fn findings_carry_the_evidence_and_place() {
    let mut host = Host::hardened();
    host.file(
        "/etc/ssh/sshd_config.d/00-cloud.conf",
        "PasswordAuthentication yes\n",
    );
    let r = host.audit();
    let f = &r.findings[0];
    assert_eq!(f.check, CheckId::SshPasswordAuth);
    assert_eq!(f.path, "/etc/ssh/sshd_config.d/00-cloud.conf");
    assert_eq!(f.line, Some(1));
    assert_eq!(
        f.evidence,
        "/etc/ssh/sshd_config.d/00-cloud.conf:1: passwordauthentication yes"
    );

    let mut host = Host::hardened();
    host.edit("/etc/docker/daemon.json", "\"icc\": false,", "")
        .file(
            "/etc/conf.d/docker",
            "# dockerd's options\nDOCKER_OPTS=\"--icc\"\n",
        );
    let f = host.audit().findings.remove(0);
    assert_eq!(
        (f.check, f.cis, f.path.as_str(), f.line),
        (
            CheckId::DockerIcc,
            Some("2.2"),
            "/etc/conf.d/docker",
            Some(2)
        )
    );
    assert_eq!(f.evidence, "icc = true (/etc/conf.d/docker:2)");

    let mut host = Host::hardened();
    host.hostconfig(
        r#"{"Binds": ["/:/host", "/run/docker.sock:/var/run/docker.sock"], "Privileged": true}"#,
    );
    let r = host.audit();
    let checks: Vec<(CheckId, Option<&str>)> = r
        .findings
        .iter()
        .filter(|f| !NOTES.contains(&f.check))
        .map(|f| (f.check, f.cis))
        .collect();
    // Most severe first, each with its CIS item.
    assert_eq!(
        checks,
        [
            (CheckId::ContainerDockerSocket, Some("5.32")),
            (CheckId::ContainerPrivileged, Some("5.5")),
            (CheckId::ContainerSensitiveMount, Some("5.6"))
        ]
    );
    assert_eq!(r.worst(), Some(Severity::Critical));
}

#[test]
fn a_directory_root_is_audited_like_an_image() {
    use std::os::unix::fs::PermissionsExt;
    let host = Host::hardened();
    let dir = tempfile::tempdir().unwrap();
    for (path, (node, mode, _, _)) in &host.nodes {
        let p = dir.path().join(&path[1..]);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        match node {
            Node::File(data) => {
                fs_err::write(&p, data).unwrap();
                fs_err::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
            }
            Node::Link(target) => std::os::unix::fs::symlink(target, &p).unwrap(),
        }
    }
    // The Docker socket, as dockerd leaves it with a careless umask.
    fs_err::create_dir_all(dir.path().join("run")).unwrap();
    let sock = dir.path().join("run/docker.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    fs_err::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let fs = RootFs::open_dir(dir.path()).unwrap();
    let r = audit(&fs, &policy(), NOW);
    let mode: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.check == CheckId::DockerFileMode)
        .collect();
    assert_eq!(mode.len(), 1, "{:#?}", r.findings);
    assert_eq!(mode[0].path, "/run/docker.sock");
    assert!(mode[0].message.contains("CIS 3.16"), "{}", mode[0].message);
    // Owners depend on the user running the test; everything else is clean.
    let others: BTreeSet<CheckId> = r
        .findings
        .iter()
        .map(|f| f.check)
        .filter(|c| {
            *c != CheckId::DockerFileMode && *c != CheckId::DockerFileOwner && !NOTES.contains(c)
        })
        .collect();
    assert_eq!(others, BTreeSet::new(), "{:#?}", r.findings);
}

#[test]
fn glob_matches_like_sshd_include() {
    for (pattern, name, want) in [
        ("*.conf", "10-a.conf", true),
        ("*.conf", "10-a.conf.bak", false),
        ("*.conf", ".hidden.conf", false),
        ("?0-*", "10-x", true),
        ("[0-4]*", "5x", false),
        ("[!0-4]*", "5x", true),
        ("a[", "a[", true),
    ] {
        assert_eq!(glob_match(pattern, name), want, "{pattern} {name}");
    }
}

#[test]
fn sarif_names_every_rule_and_result() {
    let mut host = Host::hardened();
    host.edit("/etc/fstab", "ro,noatime", "rw,noatime")
        .file("/etc/alpine-release", "3.99.0\n");
    let report = host.audit();
    let log = sarif::to_sarif(&report, "0.1.0");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), CHECKS.len());
    assert_eq!(rules[0]["id"], CHECKS[0].id.as_str());
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    // A finding of a CIS item points at it in the taxonomy.
    let rootful = results
        .iter()
        .find(|r| r["ruleId"] == CheckId::DockerRootful.as_str())
        .unwrap();
    assert_eq!(rootful["properties"]["cis"], "2.1");
    let taxon = &rootful["taxa"][0];
    assert_eq!(taxon["id"], "2.1");
    let taxa = run["taxonomies"][0]["taxa"].as_array().unwrap();
    let at = usize::try_from(taxon["index"].as_u64().unwrap()).unwrap();
    assert_eq!(taxa[at]["id"], "2.1");
    assert_eq!(taxa.len(), cis::ITEMS.len());
    assert_eq!(run["taxonomies"][0]["version"], "1.6.0");
    // The rules name the items they answer, as the check table does.
    for (rule, check) in rules.iter().zip(CHECKS) {
        assert_eq!(rule["properties"]["cis"], serde_json::json!(check.cis));
        let related: Vec<&str> = rule["relationships"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|r| r["target"]["id"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(related, check.cis, "{}", check.id);
    }
    // What was not answered is a notification of the run.
    let notes = run["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap();
    assert_eq!(notes.len(), report.skipped.len());
    assert!(
        notes
            .iter()
            .any(|n| n["associatedRule"]["id"] == "docker-swarm-mode"
                && n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                    == "var/lib/docker/swarm")
    );
    let fstab = results
        .iter()
        .find(|r| r["ruleId"] == CheckId::RootNotReadonly.as_str())
        .unwrap();
    assert_eq!(fstab["level"], "error");
    let loc = &fstab["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "etc/fstab");
    assert_eq!(loc["region"]["startLine"], 1);
    let index = usize::try_from(fstab["ruleIndex"].as_u64().unwrap()).unwrap();
    assert_eq!(rules[index]["id"], CheckId::RootNotReadonly.as_str());
    assert_eq!(rules[index]["properties"]["security-severity"], "8.0");
    let info = results
        .iter()
        .find(|r| r["ruleId"] == CheckId::OsReleaseUnlisted.as_str())
        .unwrap();
    assert_eq!(info["level"], "note");
}

/// Files whose contents the audit interprets.
const PARSED: &[&str] = &[
    "/etc/alpine-release",
    "/etc/apk/world",
    "/lib/apk/db/installed",
    "/etc/ssh/sshd_config",
    "/etc/ssh/sshd_config.d/10-log.conf",
    "/etc/passwd",
    "/etc/shadow",
    "/etc/group",
    "/etc/doas.conf",
    "/etc/audit/rules.d/docker.rules",
    "/etc/syslog-ng/syslog-ng.conf",
    "/etc/nftables.nft",
    "/etc/conf.d/docker",
    "/etc/docker/daemon.json",
    "/etc/fstab",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Any contents in any of the parsed files: the audit completes, and every finding has its
    /// check's severity.
    #[test]
    fn hostile_contents_never_break_the_audit(
        which in proptest::sample::select(PARSED),
        text in "\\PC{0,300}",
        json in "[{}\\[\\]\":,a-z0-9 /.-]{0,80}",
    ) {
        let mut host = Host::hardened();
        host.file(which, &text);
        host.container(&json, &json);
        let report = host.audit();
        for f in &report.findings {
            proptest::prop_assert_eq!(f.severity, f.check.severity());
        }
    }
}

#[test]
fn a_profile_becomes_the_expectations() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/docker-host.toml");
    let profile = crate::profile::load(&path).unwrap();
    let p = AuditPolicy::from_profile(&profile);
    assert!(p.require_services);
    assert!(p.services["default"].contains("docker"));
    assert!(!p.services["default"].contains("acpid"));
    assert!(p.packages.as_ref().unwrap().contains("syslog-ng"));
    assert_eq!(
        p.docker_members,
        BTreeSet::from(["alice".to_owned(), "deploy".to_owned()])
    );
    assert!(p.login_users.contains("alice") && p.login_users.contains("root"));
    assert_eq!(p.ssh_groups, BTreeSet::from(["ssh-users".to_owned()]));
    let trusted: Vec<String> = p.trusted_networks.iter().map(ToString::to_string).collect();
    assert_eq!(
        trusted,
        ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"]
    );
    assert!(p.userns_remap);
    assert!(p.temporary_paths.contains(&"/var/log".to_owned()));
    assert!(p.audit_watches.contains(&"/usr/bin/docker".to_owned()));
}
