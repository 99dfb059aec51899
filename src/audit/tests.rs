//! Every check has a passing fixture (the hardened host below audits clean) and a failing one
//! (the same host with one change), built in code as an image archive so that owners and
//! modes do not depend on the user running the tests.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::rootfs::RootFs;

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
  "userns-remap": "default"
}
"#;

const CONTAINER_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn audit_rules() -> String {
    let mut rules: String = DOCKER_WATCHES
        .iter()
        .map(|(p, _)| format!("-w {p} -p rwxa -k docker\n"))
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
        h.container(
            r#"{"Name":"/web","Config":{"Image":"nginx:1.27"},"MountPoints":{"/data":{"Source":"","Destination":"/data","RW":true,"Name":"data","Type":"volume"}}}"#,
            r#"{"Binds":["data:/data"],"NetworkMode":"bridge","PidMode":"","IpcMode":"private","Privileged":false}"#,
        );
        h.file(
            "/etc/fstab",
            "/dev/sda1 / ext4 ro,noatime 0 1\ntmpfs /tmp tmpfs nosuid,nodev 0 0\n",
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
    p.trusted_networks = vec![Cidr::parse("10.0.0.0/8").unwrap()];
    p
}

fn fired(report: &Report) -> BTreeSet<&'static str> {
    report.fired()
}

#[test]
fn the_hardened_host_passes_every_check() {
    let report = Host::hardened().audit();
    assert_eq!(report.findings, Vec::<Finding>::new());
    assert_eq!(report.release.as_deref(), Some("3.22.2"));
    // Only the profile-only checks and the live-host checks did not run.
    let skipped: BTreeSet<&str> = report.skipped.iter().map(|s| s.check).collect();
    assert_eq!(
        skipped,
        BTreeSet::from([
            "package-not-in-profile",
            "service-not-enabled",
            "state-volume-missing"
        ])
    );
    assert!(!report.fails(Severity::Info));
}

type Mutation = fn(&mut Host);

/// (expected checks, mutation): the hardened host with one change fires exactly these.
fn cases() -> Vec<(&'static [&'static str], Mutation)> {
    vec![
        (&["os-release-unknown"], |h| {
            h.remove("/etc/alpine-release");
        }),
        (&["os-release-unsupported"], |h| {
            h.file("/etc/alpine-release", "3.18.4\n");
        }),
        (&["os-release-unsupported"], |h| {
            h.remove("/etc/alpine-release").file(
                "/etc/os-release",
                "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.21_alpha20240807\n",
            );
        }),
        (&["os-release-unlisted"], |h| {
            h.file("/etc/alpine-release", "3.99.0\n");
        }),
        (&["service-not-in-profile"], |h| {
            h.enable("default", "telnetd");
        }),
        (&["package-application"], |h| {
            let mut db: Vec<(&str, &str, &str)> = WORLD.to_vec();
            db.push(("mytool", "python3", ""));
            db.push(("python3", "", ""));
            h.file("/lib/apk/db/installed", &installed_db(&db)).edit(
                "/etc/apk/world",
                "syslog-ng\n",
                "syslog-ng\nmytool\n",
            );
        }),
        (&["ssh-password-auth"], |h| {
            h.edit("/etc/ssh/sshd_config", "PasswordAuthentication no\n", "");
        }),
        (&["ssh-password-auth"], |h| {
            // An included file read before the main file's value wins.
            h.file(
                "/etc/ssh/sshd_config.d/00-cloud.conf",
                "PasswordAuthentication yes\n",
            );
        }),
        (&["ssh-kbd-interactive"], |h| {
            h.edit(
                "/etc/ssh/sshd_config",
                "KbdInteractiveAuthentication no",
                "ChallengeResponseAuthentication yes",
            );
        }),
        (&["ssh-root-login"], |h| {
            h.edit(
                "/etc/ssh/sshd_config",
                "PermitRootLogin no",
                "PermitRootLogin prohibit-password",
            );
        }),
        (&["ssh-empty-passwords"], |h| {
            h.edit(
                "/etc/ssh/sshd_config",
                "PermitEmptyPasswords no",
                "PermitEmptyPasswords yes",
            );
        }),
        (&["ssh-pubkey-off"], |h| {
            h.edit(
                "/etc/ssh/sshd_config",
                "PubkeyAuthentication yes",
                "PubkeyAuthentication no",
            );
        }),
        (&["ssh-allow-list"], |h| {
            h.edit("/etc/ssh/sshd_config", "AllowUsers alice\n", "");
        }),
        (&["ssh-allow-list"], |h| {
            h.edit(
                "/etc/ssh/sshd_config",
                "AllowUsers alice",
                "AllowUsers alice bob@10.0.0.1",
            );
        }),
        (&["ssh-match-override"], |h| {
            h.edit(
                "/etc/ssh/sshd_config",
                "Port 22\n",
                "Port 22\nMatch Address 192.0.2.0/24\n    PasswordAuthentication yes\n",
            );
        }),
        (&["account-empty-password"], |h| {
            h.edit("/etc/shadow", "alice:*:", "alice::");
        }),
        (&["account-password"], |h| {
            h.edit("/etc/shadow", "alice:*:", "alice:$6$salt$0123456789:");
        }),
        (&["account-login-shell"], |h| {
            h.edit(
                "/etc/passwd",
                "/dev/null:/sbin/nologin",
                "/dev/null:/bin/ash",
            );
        }),
        (&["docker-group-member"], |h| {
            h.edit("/etc/group", "docker:x:101:", "docker:x:101:alice");
        }),
        (&["docker-group-member"], |h| {
            h.edit("/etc/passwd", "alice:x:1000:1000:", "alice:x:1000:101:");
        }),
        (&["privilege-rule"], |h| {
            h.file("/etc/doas.d/extra.conf", "permit bob as root\n");
        }),
        (&["privilege-rule", "privilege-nopass"], |h| {
            h.file(
                "/etc/sudoers",
                "root ALL=(ALL) ALL\n%docker ALL=(ALL) NOPASSWD: ALL\n",
            );
        }),
        (&["privilege-nopass"], |h| {
            h.edit(
                "/etc/doas.conf",
                "permit persist :wheel",
                "permit nopass :wheel",
            );
        }),
        (&["auditd-not-enabled"], |h| {
            h.remove("/etc/runlevels/default/auditd");
        }),
        (&["audit-docker-watch"], |h| {
            h.edit(
                "/etc/audit/rules.d/docker.rules",
                "-w /usr/bin/runc -p rwxa -k docker\n",
                "",
            );
        }),
        (&["audit-auth-events"], |h| {
            h.edit(
                "/etc/audit/rules.d/docker.rules",
                "-w /etc/shadow -p wa -k identity\n",
                "",
            );
        }),
        (&["audit-auth-events"], |h| {
            h.file("/etc/ssh/sshd_config.d/10-log.conf", "LogLevel QUIET\n");
        }),
        (&["log-forwarding"], |h| {
            h.edit(
                "/etc/syslog-ng/syslog-ng.conf",
                "destination(d_remote);",
                "",
            );
        }),
        (&["log-forwarding"], |h| {
            h.remove("/etc/runlevels/boot/syslog-ng");
        }),
        (&["log-forwarding-udp"], |h| {
            h.remove("/etc/runlevels/boot/syslog-ng")
                .enable("boot", "syslog")
                .file(
                    "/etc/conf.d/syslog",
                    "SYSLOGD_OPTS=\"-t -R 10.0.0.9:514\"\n",
                );
        }),
        (&["firewall-not-enabled"], |h| {
            h.remove("/etc/runlevels/boot/nftables");
        }),
        (&["firewall-input-policy"], |h| {
            h.edit("/etc/nftables.nft", "policy drop;", "policy accept;");
        }),
        (&["firewall-input-policy"], |h| {
            h.edit("/etc/nftables.nft", "iif lo accept", "counter accept");
        }),
        (&["firewall-ssh-open"], |h| {
            h.edit(
                "/etc/nftables.nft",
                "tcp dport 22 ip saddr $trusted accept",
                "tcp dport { 22, 443 } accept",
            );
        }),
        (&["firewall-ssh-open"], |h| {
            h.edit(
                "/etc/nftables.nft",
                "{ 10.0.0.0/8 }",
                "{ 10.0.0.0/8, 192.0.2.0/24 }",
            );
        }),
        (&["docker-daemon-json-invalid"], |h| {
            h.file("/etc/docker/daemon.json", "{\"icc\": false,");
        }),
        (&["docker-icc"], |h| {
            h.edit("/etc/docker/daemon.json", "\"icc\": false", "\"icc\": true");
        }),
        (&["docker-icc"], |h| {
            h.file("/etc/conf.d/docker", "DOCKER_OPTS=\"--icc=true\"\n");
        }),
        (&["docker-log-level"], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "{",
                "{ \"log-level\": \"debug\",",
            );
        }),
        (&["docker-iptables"], |h| {
            h.edit("/etc/docker/daemon.json", "{", "{ \"iptables\": false,");
        }),
        (&["docker-insecure-registry"], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "{",
                "{ \"insecure-registries\": [\"10.0.0.5:5000\"],",
            );
        }),
        (&["docker-tcp-without-tls"], |h| {
            h.file(
                "/etc/conf.d/docker",
                "DOCKER_OPTS=\"-H tcp://0.0.0.0:2375\"\n",
            );
        }),
        (&["docker-userns-remap"], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "\"userns-remap\": \"default\"",
                "\"debug\": false",
            );
        }),
        (&["docker-log-driver"], |h| {
            h.edit("/etc/docker/daemon.json", "\"syslog\"", "\"json-file\"");
        }),
        (&["docker-no-new-privileges"], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "\"no-new-privileges\": true",
                "\"no-new-privileges\": false",
            );
        }),
        (&["docker-live-restore"], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "\"live-restore\": true",
                "\"live-restore\": false",
            );
        }),
        (&["docker-userland-proxy"], |h| {
            h.edit(
                "/etc/docker/daemon.json",
                "\"userland-proxy\": false,\n",
                "",
            );
        }),
        (&["docker-experimental"], |h| {
            h.edit("/etc/docker/daemon.json", "{", "{ \"experimental\": true,");
        }),
        (&["docker-file-owner"], |h| {
            h.owner("/etc/docker/daemon.json", 1000, 1000);
        }),
        (&["docker-file-mode"], |h| {
            h.mode("/etc/init.d/docker", 0o775);
        }),
        (&["docker-file-mode"], |h| {
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
        (&["container-privileged"], |h| {
            h.container("{\"Name\":\"/x\"}", "{\"Privileged\":true}");
        }),
        (&["container-sensitive-mount"], |h| {
            h.container("{\"Name\":\"/x\"}", "{\"Binds\":[\"/etc:/host/etc:ro\"]}");
        }),
        (&["container-sensitive-path"], |h| {
            h.container(
                "{\"Name\":\"/x\"}",
                "{\"Binds\":[\"/root/app.key:/app.key\"]}",
            );
        }),
        (&["container-docker-socket"], |h| {
            h.container(
                "{\"Name\":\"/x\"}",
                "{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/var/run/docker.sock\",\"Target\":\"/var/run/docker.sock\"}]}",
            );
        }),
        (&["container-host-network"], |h| {
            h.container("{\"Name\":\"/x\"}", "{\"NetworkMode\":\"host\"}");
        }),
        (&["container-host-pid"], |h| {
            h.container("{\"Name\":\"/x\"}", "{\"PidMode\":\"host\"}");
        }),
        (&["container-host-ipc"], |h| {
            h.container("{\"Name\":\"/x\"}", "{\"IpcMode\":\"host\"}");
        }),
        (&["root-not-readonly"], |h| {
            h.edit("/etc/fstab", "ro,noatime", "rw,noatime");
        }),
        (&["root-not-readonly"], |h| {
            h.remove("/etc/fstab");
        }),
        (&["world-writable"], |h| {
            h.mode("/etc/doas.conf", 0o646);
        }),
        // A live host (a mount table) whose state volume is absent, then stood in for.
        (&["state-volume-missing"], |h| {
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
        (&["state-volume-missing"], |h| {
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
        (&["setuid-binary"], |h| {
            h.file("/usr/bin/su", "elf").mode("/usr/bin/su", 0o4755);
        }),
        (&["unreadable-file"], |h| {
            h.container("{", "{}");
        }),
        (&["unreadable-file"], |h| {
            h.link("/etc/doas.d", "/etc/doas.d");
        }),
        (&["unreadable-file"], |h| {
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
        let want: BTreeSet<&str> = expected.iter().copied().collect();
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

#[test]
fn every_check_has_a_failing_fixture() {
    let mut covered: BTreeSet<&str> = cases()
        .iter()
        .flat_map(|(ids, _)| ids.iter().copied())
        .collect();
    // Covered by the profile and time tests below.
    covered.extend([
        "os-release-ending",
        "service-not-enabled",
        "package-not-in-profile",
    ]);
    let all: BTreeSet<&str> = CHECKS.iter().map(|c| c.id).collect();
    assert_eq!(
        all.difference(&covered).collect::<Vec<_>>(),
        Vec::<&&str>::new()
    );
}

#[test]
fn check_ids_are_unique_and_kebab_case() {
    let mut seen = BTreeSet::new();
    for c in CHECKS {
        assert!(seen.insert(c.id), "duplicate id {}", c.id);
        assert!(
            c.id.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{}",
            c.id
        );
        assert!(!c.title.is_empty() && !c.remediation.is_empty());
    }
}

#[test]
fn release_support_follows_the_date_passed_in() {
    let host = Host::hardened();
    // 3.22 ends on 2027-05-01: 60 days before is "ending", the day itself "unsupported".
    let end = days_from_date("2027-05-01").unwrap() * 86_400;
    let r = host.audit_with(&policy(), end - 60 * 86_400);
    assert_eq!(fired(&r), BTreeSet::from(["os-release-ending"]));
    let r = host.audit_with(&policy(), end);
    assert_eq!(fired(&r), BTreeSet::from(["os-release-unsupported"]));
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
        .filter(|f| f.check == "service-not-enabled")
        .map(|f| f.path.as_str())
        .collect();
    assert!(
        missing.contains(&"/etc/runlevels/default/chronyd"),
        "{missing:?}"
    );
    assert!(!fired(&r).contains("package-not-in-profile"));

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
    assert_eq!(Host::hardened().audit_with(&exact, NOW).findings, vec![]);

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
        BTreeSet::from(["package-application", "package-not-in-profile"])
    );
    let f = r
        .findings
        .iter()
        .find(|f| f.check == "package-not-in-profile")
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
    assert_eq!(f.check, "ssh-password-auth");
    assert_eq!(f.path, "/etc/ssh/sshd_config.d/00-cloud.conf");
    assert_eq!(f.line, Some(1));
    assert_eq!(
        f.evidence,
        "/etc/ssh/sshd_config.d/00-cloud.conf:1: passwordauthentication yes"
    );

    let mut host = Host::hardened();
    host.file("/etc/conf.d/docker", "DOCKER_OPTS=\"--icc\"\n");
    let f = host.audit().findings.remove(0);
    assert_eq!(f.path, "/etc/conf.d/docker");
    assert_eq!(f.evidence, "icc = true (/etc/conf.d/docker)");

    let mut host = Host::hardened();
    host.container(
        "{\"Name\":\"/x\"}",
        "{\"Binds\":[\"/:/host\", \"/run/docker.sock:/var/run/docker.sock\"],\"Privileged\":true}",
    );
    let r = host.audit();
    let checks: Vec<&str> = r.findings.iter().map(|f| f.check).collect();
    // Most severe first.
    assert_eq!(
        checks,
        [
            "container-docker-socket",
            "container-privileged",
            "container-sensitive-mount"
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
        .filter(|f| f.check == "docker-file-mode")
        .collect();
    assert_eq!(mode.len(), 1, "{:#?}", r.findings);
    assert_eq!(mode[0].path, "/run/docker.sock");
    assert!(mode[0].message.contains("CIS 3.16"), "{}", mode[0].message);
    // Owners depend on the user running the test; everything else is clean.
    let others: BTreeSet<&str> = r
        .findings
        .iter()
        .map(|f| f.check)
        .filter(|c| *c != "docker-file-mode" && *c != "docker-file-owner")
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
    assert_eq!(rules[0]["id"], CHECKS[0].id);
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let fstab = results
        .iter()
        .find(|r| r["ruleId"] == "root-not-readonly")
        .unwrap();
    assert_eq!(fstab["level"], "error");
    let loc = &fstab["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "etc/fstab");
    assert_eq!(loc["region"]["startLine"], 1);
    let index = usize::try_from(fstab["ruleIndex"].as_u64().unwrap()).unwrap();
    assert_eq!(rules[index]["id"], "root-not-readonly");
    assert_eq!(rules[index]["properties"]["security-severity"], "8.0");
    let info = results
        .iter()
        .find(|r| r["ruleId"] == "os-release-unlisted")
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

    /// Any contents in any of the parsed files: the audit completes, and every finding names
    /// a known check.
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
            proptest::prop_assert!(check(f.check).is_some());
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
    assert!(!p.services["default"].contains("crond"));
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
