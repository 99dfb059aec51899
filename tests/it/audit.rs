//! `basalt audit` on real data (Docker's container state files, Alpine's minirootfs) and as a
//! user runs it: exit codes, formats, and SARIF validated against the official schema.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use basalt::integrity::rootfs::RootFs;
use basalt::posture::audit::{self, AuditPolicy, CheckId, Family, docker};

/// 2024-10-01T00:00:00Z: Alpine 3.20 is supported.
const OCT_2024: &str = "1727740800";
/// 2026-06-01T00:00:00Z: Alpine 3.20 ended on 2026-04-01.
const JUN_2026: &str = "1780272000";

fn basalt(args: &[&str], epoch: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(args)
        .env("SOURCE_DATE_EPOCH", epoch)
        .output()
        .expect("run basalt")
}

fn minirootfs(data: &Path) -> PathBuf {
    data.join("alpine/minirootfs/alpine-minirootfs-3.20.3-x86_64.tar.gz")
}

/// Extracts the minirootfs with the system's tar, as an operator would.
fn extract(archive: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(dir.path())
        .arg("--no-same-owner")
        .status()
        .expect("run tar");
    assert!(status.success());
    dir
}

#[test]
fn real_container_state_is_read() {
    let Some(data) = support::shared_data("real_container_state_is_read") else {
        return;
    };
    let dir = data.join("docker/container-mongo");
    let config = fs_err::read(dir.join("config.v2.json")).unwrap();
    let host = fs_err::read(dir.join("hostconfig.json")).unwrap();
    let c = docker::parse_container("94cbb8534c50", Some(&config), Some(&host)).unwrap();
    assert_eq!(c.name, "cctv-mongo");
    assert_eq!(c.image, "mongo:4.4.6");
    assert!(!c.privileged);
    assert_eq!(c.network_mode, "default");
    assert_eq!(c.pid_mode, "");
    assert_eq!(c.ipc_mode, "private");
    let binds: Vec<(&str, &str, bool)> = c
        .binds
        .iter()
        .map(|b| (b.source.as_str(), b.destination.as_str(), b.rw))
        .collect();
    assert_eq!(
        binds,
        [
            ("/root/mongod.conf", "/etc/mongod.conf", true),
            ("/root/mongodb.key", "/etc/mongodb.key", true),
        ]
    );
    assert_eq!(c.volumes, ["/data/configdb", "/data/db"]);
}

#[test]
fn real_container_state_is_audited_in_place() {
    let Some(data) = support::shared_data("real_container_state_is_audited_in_place") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let id = "94cbb8534c507eb2d5bd8041fb349391b17edbe7530c96f3c3c1b2c6463ea97e";
    let dir = root.path().join("var/lib/docker/containers").join(id);
    fs_err::create_dir_all(&dir).unwrap();
    for name in ["config.v2.json", "hostconfig.json"] {
        fs_err::copy(
            data.join("docker/container-mongo").join(name),
            dir.join(name),
        )
        .unwrap();
    }
    let fs = RootFs::open_dir(root.path()).unwrap();
    let report = audit::audit(&fs, &AuditPolicy::default(), 1_727_740_800);
    let containers: Vec<(&str, Option<&str>, &str)> = report
        .findings
        .iter()
        .filter(|f| f.check.family() == Family::Containers)
        .map(|f| (f.check.as_str(), f.cis, f.evidence.as_str()))
        .collect();
    let state = format!("/var/lib/docker/containers/{id}");
    let host = |what: &str| format!("{state}/hostconfig.json: {what} (running; image mongo:4.4.6)");
    let conf = |what: &str| format!("{state}/config.v2.json: {what} (running; image mongo:4.4.6)");
    let bind =
        |from: &str, to: &str| format!("{state}/config.v2.json: bind {from} -> {to} (read-write)");
    let want: Vec<(&str, Option<&str>, String)> = vec![
        (
            "container-memory-limit",
            Some("5.11"),
            host("HostConfig.Memory = 0"),
        ),
        (
            "container-no-new-privileges",
            Some("5.26"),
            conf("NoNewPrivileges = false"),
        ),
        (
            "container-pids-limit",
            Some("5.29"),
            host("HostConfig.PidsLimit = null"),
        ),
        (
            "container-port-all-interfaces",
            Some("5.14"),
            host("bound: 0.0.0.0:27017 -> 27017/tcp, :::27017 -> 27017/tcp"),
        ),
        (
            "container-root-user",
            Some("4.1"),
            conf("Config.User = \"\" (the image's user)"),
        ),
        (
            "container-sensitive-path",
            Some("5.6"),
            bind("/root/mongod.conf", "/etc/mongod.conf"),
        ),
        (
            "container-sensitive-path",
            Some("5.6"),
            bind("/root/mongodb.key", "/etc/mongodb.key"),
        ),
        (
            "container-cpu-limit",
            Some("5.12"),
            host("HostConfig.CpuShares = 0, NanoCpus = 0, CpuQuota = 0"),
        ),
        (
            "container-healthcheck",
            Some("5.27"),
            conf("Config.Healthcheck is not set (nor in the image)"),
        ),
        (
            "container-rootfs-writable",
            Some("5.13"),
            host("HostConfig.ReadonlyRootfs = false"),
        ),
        (
            "container-default-bridge",
            Some("5.30"),
            host("HostConfig.NetworkMode = \"default\"; networks: bridge"),
        ),
        (
            "container-published-ports",
            Some("5.9"),
            host(
                "published: 0.0.0.0 (the daemon's default):27017 -> 27017/tcp, 0.0.0.0:27017 -> 27017/tcp, :::27017 -> 27017/tcp",
            ),
        ),
        (
            "container-ulimits",
            Some("5.19"),
            host("HostConfig.Ulimits is empty; the daemon sets no default-ulimits"),
        ),
    ];
    let got: Vec<(&str, Option<&str>, String)> = containers
        .iter()
        .map(|(c, cis, e)| (*c, *cis, (*e).to_owned()))
        .collect();
    assert_eq!(got, want);
    // Docker confined it with AppArmor, restarts it never, and publishes no privileged port.
    let fired = report.fired();
    for id in [
        CheckId::ContainerApparmor,
        CheckId::ContainerRestartPolicy,
        CheckId::ContainerPrivilegedPort,
        CheckId::ContainerPrivileged,
    ] {
        assert!(!fired.contains(&id), "{id}");
    }
}

/// What the audit says of the official minirootfs: a container base, not a hardened host.
fn expected_minirootfs(eol: bool) -> BTreeSet<CheckId> {
    let mut want = BTreeSet::from([
        CheckId::FirewallNotEnabled,
        CheckId::RootNotReadonly,
        CheckId::AuditdNotEnabled,
        CheckId::AuditAuthEvents,
        CheckId::LogForwarding,
    ]);
    if eol {
        want.insert(CheckId::OsReleaseUnsupported);
    }
    want
}

#[test]
fn real_minirootfs_gives_the_expected_findings() {
    let Some(data) = support::shared_data("real_minirootfs_gives_the_expected_findings") else {
        return;
    };
    let archive = minirootfs(&data);
    let dir = extract(&archive);
    let from_dir = audit::audit(
        &RootFs::open_dir(dir.path()).unwrap(),
        &AuditPolicy::default(),
        1_727_740_800,
    );
    assert_eq!(from_dir.release.as_deref(), Some("3.20.3"));
    assert_eq!(
        from_dir.fired(),
        expected_minirootfs(false),
        "{:#?}",
        from_dir.findings
    );
    let fstab = from_dir
        .findings
        .iter()
        .find(|f| f.check == CheckId::RootNotReadonly)
        .unwrap();
    assert_eq!(
        fstab.evidence,
        "mount points in /etc/fstab: /media/cdrom, /media/usb"
    );
    // Neither sshd nor Docker is installed: their checks do not apply.
    let skipped: BTreeSet<CheckId> = from_dir.skipped.iter().map(|s| s.check).collect();
    assert!(skipped.contains(&CheckId::SshPasswordAuth) && skipped.contains(&CheckId::DockerIcc));

    // The archive itself, read as an image, says the same.
    let from_image = audit::audit(
        &RootFs::open_image(&archive).unwrap(),
        &AuditPolicy::default(),
        1_727_740_800,
    );
    assert_eq!(from_image.findings, from_dir.findings);
    // After Alpine 3.20's end of support, it is reported.
    let late = audit::audit(
        &RootFs::open_image(&archive).unwrap(),
        &AuditPolicy::default(),
        JUN_2026.parse().unwrap(),
    );
    assert_eq!(late.fired(), expected_minirootfs(true));
}

#[test]
fn cli_exit_codes_follow_fail_on() {
    let Some(data) = support::shared_data("cli_exit_codes_follow_fail_on") else {
        return;
    };
    let image = minirootfs(&data);
    let image = image.to_str().unwrap();
    // High findings are present: the default threshold fails.
    let out = basalt(&["audit", image], OCT_2024);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("high     firewall-not-enabled"), "{text}");
    assert!(text.contains("5 finding(s) (2 high, 3 medium)"), "{text}");
    // Nothing is critical.
    let out = basalt(&["audit", image, "--fail-on", "critical"], OCT_2024);
    assert_eq!(out.status.code(), Some(0));
    // Medium findings count at --fail-on medium.
    let out = basalt(
        &["audit", image, "--fail-on", "MEDIUM", "--format", "json"],
        OCT_2024,
    );
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["release"], "3.20.3");
    assert_eq!(json["findings"].as_array().unwrap().len(), 5);
    assert_eq!(json["findings"][0]["severity"], "high");
}

#[test]
fn cli_findings_below_fail_on_exit_zero() {
    // A bare root has high findings (no firewall, read-write root) but nothing critical.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs_err::create_dir_all(root.join("etc")).unwrap();
    fs_err::write(root.join("etc/alpine-release"), "3.22.1\n").unwrap();
    let out = basalt(
        &["audit", root.to_str().unwrap(), "--fail-on", "critical"],
        OCT_2024,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn cli_bad_input_exits_two() {
    let out = basalt(&["audit", "/nonexistent/root"], OCT_2024);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: failed to open `/nonexistent/root`"),
        "{err}"
    );

    let bad = tempfile::NamedTempFile::new().unwrap();
    fs_err::write(bad.path(), b"\x1f\x8bnot really gzip").unwrap();
    let out = basalt(&["audit", bad.path().to_str().unwrap()], OCT_2024);
    assert_eq!(out.status.code(), Some(2));

    let out = basalt(&["audit", "/", "--fail-on", "severe"], OCT_2024);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown severity `severe`"));

    let dir = tempfile::tempdir().unwrap();
    let out = basalt(&["audit", dir.path().to_str().unwrap()], "yesterday");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid SOURCE_DATE_EPOCH"));
}

#[test]
fn sarif_output_is_valid_against_the_official_schema() {
    let schema_text = include_str!("../data/sarif-schema-2.1.0.json");
    let schema: serde_json::Value = serde_json::from_str(schema_text).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");

    // A root with findings of every kind of location: with and without lines.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs_err::create_dir_all(root.join("etc/ssh")).unwrap();
    fs_err::write(root.join("etc/alpine-release"), "3.20.3\n").unwrap();
    fs_err::write(
        root.join("etc/ssh/sshd_config"),
        "PasswordAuthentication yes\n",
    )
    .unwrap();
    fs_err::write(root.join("etc/fstab"), "/dev/sda1 / ext4 rw 0 1\n").unwrap();
    fs_err::write(root.join("etc/weird name%.conf"), "x").unwrap();
    let out = basalt(
        &["audit", root.to_str().unwrap(), "--format", "sarif"],
        JUN_2026,
    );
    assert_eq!(out.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors: Vec<String> = validator.iter_errors(&log).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["ruleId"] == "ssh-password-auth"
        && r["locations"][0]["physicalLocation"]["region"]["startLine"] == 1));
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "os-release-unsupported")
    );

    // The validator does reject what breaks the schema.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!validator.is_valid(&broken));
    let mut broken = log;
    broken["version"] = "2.0.0".into();
    assert!(!validator.is_valid(&broken));
}

/// Every check id is documented in docs/audit.md, with its family, severity, CIS items,
/// description and remediation exactly as the audit reports them, and every family is named;
/// the coverage tables are the CIS item table's; the SARIF rules are the check table.
#[test]
fn every_check_id_is_documented() {
    let doc = include_str!("../../docs/audit.md");
    let table: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(
        table.len(),
        CheckId::ALL.len(),
        "docs/audit.md has rows for other checks"
    );
    assert!(
        doc.contains(audit::cis::coverage_markdown().trim_end()),
        "docs/audit.md's coverage tables differ from the CIS item table:\n{}",
        audit::cis::coverage_markdown()
    );
    let empty = tempfile::tempdir().unwrap();
    let log = audit::sarif::to_sarif(
        &audit::audit(
            &RootFs::open_dir(empty.path()).unwrap(),
            &AuditPolicy::default(),
            1_727_740_800,
        ),
        "0",
    );
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    assert_eq!(rules.len(), CheckId::ALL.len());
    for (rule, id) in rules.iter().zip(CheckId::ALL) {
        assert_eq!(rule["id"], id.as_str());
        assert_eq!(rule["shortDescription"]["text"], id.description());
        assert_eq!(rule["help"]["text"], id.remediation());
        assert_eq!(rule["properties"]["severity"], id.severity().as_str());
        assert_eq!(rule["properties"]["cis"], serde_json::json!(id.cis()));
    }
    for id in CheckId::ALL {
        let row = format!(
            "| `{id}` | {} | {} | {} | {} | {} |",
            id.family(),
            id.severity(),
            id.cis_text(),
            id.description(),
            id.remediation()
        );
        assert!(
            doc.lines().any(|line| line == row),
            "docs/audit.md lacks or misstates: {row}"
        );
    }
    for family in Family::ALL {
        assert!(
            doc.contains(&format!("`{family}`")),
            "docs/audit.md does not name family `{family}`"
        );
    }
}

/// The configuration the hardened profile renders, with its runlevels, audited against the
/// profile: clean at low and above; below, the notes of what the profile leaves to the
/// operator (an authorization plugin, rootless mode, default ulimits).
#[test]
fn rendered_docker_host_profile_audits_clean() {
    let profile_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/docker-host.toml");
    let profile = basalt::profile::load(&profile_path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let out = basalt(
        &[
            "profile",
            "render",
            profile_path.to_str().unwrap(),
            "--out",
            root.to_str().unwrap(),
        ],
        OCT_2024,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What the build adds beside the rendered files: the runlevels, the release, dockerd.
    for (level, service) in profile.services.enabled() {
        let dir = root.join("etc/runlevels").join(level.as_str());
        fs_err::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(format!("/etc/init.d/{service}"), dir.join(service)).unwrap();
    }
    fs_err::write(root.join("etc/alpine-release"), "3.19.1\n").unwrap();
    fs_err::create_dir_all(root.join("usr/bin")).unwrap();
    fs_err::write(root.join("usr/bin/dockerd"), "").unwrap();
    let args = |fail_on: &'static str| {
        [
            "audit".to_owned(),
            root.to_str().unwrap().to_owned(),
            "--profile".to_owned(),
            profile_path.to_str().unwrap().to_owned(),
            "--format".to_owned(),
            "json".to_owned(),
            "--fail-on".to_owned(),
            fail_on.to_owned(),
        ]
    };
    let run = |fail_on| {
        let a = args(fail_on);
        basalt(&a.iter().map(String::as_str).collect::<Vec<_>>(), OCT_2024)
    };
    let out = run("info");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fired: Vec<(&str, &str, &str)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap(),
                f["cis"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fired,
        [
            ("docker-authorization", "2.12", "low"),
            ("docker-default-ulimits", "2.8", "info"),
            ("docker-rootful", "2.1", "info"),
        ],
        "{json:#}"
    );
    assert_eq!(out.status.code(), Some(1));
    let out = run("medium");
    assert_eq!(out.status.code(), Some(0));

    // The same host with password logins turned back on is caught.
    let sshd = root.join("etc/ssh/sshd_config");
    let text = fs_err::read_to_string(&sshd).unwrap();
    fs_err::write(&sshd, format!("PasswordAuthentication yes\n{text}")).unwrap();
    let out = run("high");
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["findings"][0]["check"], "ssh-password-auth");
    assert_eq!(json["findings"][0]["line"], 1);
}

#[test]
fn cli_reports_a_bad_profile() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("bad.toml");
    fs_err::write(&profile, "[image]\nname = 1\n").unwrap();
    let out = basalt(
        &[
            "audit",
            dir.path().to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
        ],
        OCT_2024,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failed to load profile"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The offline minimal profile (an SSH and chrony host on Alpine 3.19, without firewall,
/// auditd or log forwarding) built from the real boot repository: its image is audited against the profile, and only
/// what the profile leaves out is reported.
#[test]
fn built_minimal_image_is_audited_against_its_profile() {
    let Some(data) = support::shared_data("built_minimal_image_is_audited_against_its_profile")
    else {
        return;
    };
    let profile = support::offline_profile();
    let out_dir = tempfile::tempdir().unwrap();
    let repo = data.join("alpine/repos/v3.19-boot");
    let out = basalt(
        &[
            "build",
            profile.to_str().unwrap(),
            "--repository",
            repo.to_str().unwrap(),
            "--out",
            out_dir.path().to_str().unwrap(),
        ],
        OCT_2024,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = out_dir.path().join("minimal-1.0.0.tar.gz");
    let out = basalt(
        &[
            "audit",
            image.to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
            "--format",
            "json",
        ],
        OCT_2024,
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["release"], "3.19.1");
    let fired: BTreeSet<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        fired,
        BTreeSet::from([
            "firewall-not-enabled",
            "auditd-not-enabled",
            "audit-auth-events",
            "log-forwarding"
        ]),
        "{json:#}"
    );
    // The host runs busybox syslogd: its options are where forwarding belongs.
    let logs = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "log-forwarding")
        .unwrap();
    assert_eq!(logs["path"], "/etc/conf.d/syslog");
    // The firewall is the one high finding: exit 1 at the default threshold.
    assert_eq!(out.status.code(), Some(1));
}
