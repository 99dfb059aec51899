//! The audit's reading of Docker against the real thing: `/etc/conf.d/docker` against real
//! shells (dash, and Alpine's own busybox ash from the minirootfs), daemon settings and
//! container state in the forms Docker writes and accepts, odd and hostile ones included,
//! the CLI's JSON and SARIF with CIS ids, and Docker's packages against a real signed index.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use basalt::integrity::rootfs::RootFs;
use basalt::posture::audit::shell::{self, Vars};
use basalt::posture::audit::{self, AuditPolicy, CheckId, Family, Report};

/// 2024-10-01T00:00:00Z.
const NOW: i64 = 1_727_740_800;

/// conf.d files as operators write them; none runs a command with effects.
const CONF_D: &[&str] = &[
    "DOCKER_OPTS=\"--icc=false\"\n",
    "# comment\nDOCKER_OPTS='-H tcp://0.0.0.0:2375'\nDOCKER_OPTS=\"\"\n",
    "DOCKER_OPTS=\"--icc=false\"\nDOCKER_OPTS=\"$DOCKER_OPTS --live-restore\"\nDOCKER_OPTS=\"${DOCKER_OPTS} -H unix:///run/docker.sock\"\n",
    "DOCKER_OPTS=\"\n  --icc=false\n  --log-level=info\n\"\n",
    "DOCKER_OPTS=--icc=false\\\n' --log-opt tag=\"a b\"'\n",
    "export DOCKER_OPTS=\"-D\"; OTHER=1\n",
    "X=\"--tls\" DOCKER_OPTS=\"$X -H :2376\"\n",
    "DOCKER_OPTS=\"${UNSET:-'-H 0.0.0.0:2375'}\"\n",
    "DOCKER_OPTS=\"${RC_SVCNAME}\"\n",
    "DOCKER_OPTS=a\\ b\\\"c\\\"\n",
    "DOCKER_OPTS=\"x\" true\n",
    "DOCKER_OPTS=\"--icc\"\nstart_pre() {\n  DOCKER_OPTS=\"--other\"\n}\n",
    "DOCKER_OPTS=\"--icc\"\nunset DOCKER_OPTS\n",
    "DOCKER_OPTS=\"--log-opt 'max-size=10m' --label \\\"x=y z\\\"\"\n",
    "DOCKER_OPTS=\"--a\"   # trailing comment\n#DOCKER_OPTS=\"--b\"\n",
    "DOCKER_OPTS=\"--a\";DOCKER_OPTS=\"$DOCKER_OPTS --b\";\n",
];

/// Alpine's own `/bin/sh` (busybox ash), run through the minirootfs's musl loader.
fn alpine_sh() -> Option<(tempfile::TempDir, Vec<String>)> {
    let data = support::shared_data("conf_d_is_read_as_alpine_sh_reads_it")?;
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(data.join("alpine/minirootfs/alpine-minirootfs-3.20.3-x86_64.tar.gz"))
        .arg("-C")
        .arg(dir.path())
        .args(["--no-same-owner", "./lib", "./bin/busybox"])
        .status()
        .unwrap();
    assert!(status.success());
    let lib = dir.path().join("lib");
    let cmd = vec![
        lib.join("ld-musl-x86_64.so.1").display().to_string(),
        "--library-path".to_owned(),
        lib.display().to_string(),
        dir.path().join("bin/busybox").display().to_string(),
        "sh".to_owned(),
    ];
    Some((dir, cmd))
}

/// What `sh` leaves in DOCKER_OPTS after sourcing `file` (`None`: unset), and the words
/// OpenRC's `eval` makes of it.
fn real(sh: &[String], file: &Path) -> (Option<String>, Vec<String>) {
    let script = r#". "$1"; if [ -z "${DOCKER_OPTS+x}" ]; then printf 'UNSET'; exit 0; fi
printf '%s\0' "$DOCKER_OPTS"; eval set -- $DOCKER_OPTS; for a; do printf '%s\0' "$a"; done"#;
    let out = Command::new(&sh[0])
        .args(&sh[1..])
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(file)
        .env_clear()
        .env("RC_SVCNAME", "docker")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    if text == "UNSET" {
        return (None, Vec::new());
    }
    let mut parts = text.split('\0').map(str::to_owned);
    let value = parts.next();
    let mut words: Vec<String> = parts.collect();
    words.pop();
    (value, words)
}

fn ours(text: &str) -> (Option<String>, Vec<String>) {
    let initial = Vars::from([(
        "RC_SVCNAME".to_owned(),
        shell::Var {
            value: "docker".to_owned(),
            line: 0,
            conditional: false,
            uncertain: false,
        },
    )]);
    let vars = shell::source(text, &initial);
    match vars.get("DOCKER_OPTS") {
        None => (None, Vec::new()),
        Some(v) => (Some(v.value.clone()), shell::words(&v.value, &vars).0),
    }
}

fn compare_with(sh: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    for (i, text) in CONF_D.iter().enumerate() {
        let file = dir.path().join(format!("docker-{i}"));
        fs_err::write(&file, text).unwrap();
        assert_eq!(ours(text), real(sh, &file), "{sh:?} on {text:?}");
    }
}

#[test]
fn conf_d_is_read_as_dash_reads_it() {
    compare_with(&["dash".to_owned()]);
}

#[test]
fn conf_d_is_read_as_alpine_sh_reads_it() {
    let Some((_dir, sh)) = alpine_sh() else {
        return;
    };
    compare_with(&sh);
}

/// A host root with Docker: its files, a hardened daemon.json, conf.d and containers.
struct Root {
    dir: tempfile::TempDir,
}

const HARDENED: &str = r#"{"icc": false, "live-restore": true, "userland-proxy": false,
 "no-new-privileges": true, "log-driver": "syslog", "userns-remap": "default",
 "authorization-plugins": ["authz"], "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}}}"#;

impl Root {
    fn new(daemon_json: Option<&[u8]>, conf_d: &str) -> Self {
        let root = Root {
            dir: tempfile::tempdir().unwrap(),
        };
        root.write("usr/bin/dockerd", b"elf");
        root.write("etc/alpine-release", b"3.20.3\n");
        if let Some(json) = daemon_json {
            root.write("etc/docker/daemon.json", json);
        }
        root.write("etc/conf.d/docker", conf_d.as_bytes());
        root
    }

    fn write(&self, path: &str, data: &[u8]) {
        let p = self.dir.path().join(path);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, data).unwrap();
    }

    fn container(&self, id: &str, config: Option<&str>, hostconfig: Option<&str>) {
        let dir = format!("var/lib/docker/containers/{id}");
        fs_err::create_dir_all(self.dir.path().join(&dir)).unwrap();
        if let Some(c) = config {
            self.write(&format!("{dir}/config.v2.json"), c.as_bytes());
        }
        if let Some(h) = hostconfig {
            self.write(&format!("{dir}/hostconfig.json"), h.as_bytes());
        }
    }

    fn audit(&self) -> Report {
        audit::audit(
            &RootFs::open_dir(self.dir.path()).unwrap(),
            &AuditPolicy::default(),
            NOW,
        )
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

/// The findings of a family, as (check, CIS item), without the rootful note.
fn family(report: &Report, family: Family) -> BTreeSet<(String, String)> {
    report
        .findings
        .iter()
        .filter(|f| f.check.family() == family && f.check != CheckId::DockerRootful)
        .map(|f| (f.check.to_string(), f.cis.unwrap_or("").to_owned()))
        .collect()
}

/// The (check, CIS item) pairs a case expects.
type Expected<'a> = Vec<(&'a str, &'a str)>;

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn with(extra: &str) -> Vec<u8> {
    HARDENED
        .replacen('{', &format!("{{{extra}"), 1)
        .into_bytes()
}

#[test]
fn daemon_settings_in_every_form_dockerd_accepts() {
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(
            String::from_utf8(with(r#""hosts": ["0.0.0.0:2375"],"#))
                .unwrap()
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    let bom: Vec<u8> = [0xef, 0xbb, 0xbf]
        .into_iter()
        .chain(with(r#""debug": true,"#))
        .collect();
    let cases: Vec<(Vec<u8>, &str, Expected)> = vec![
        (with(""), "", vec![]),
        (
            with(r#""hosts": ["0.0.0.0:2375"],"#),
            "",
            vec![("docker-tcp-without-tls", "2.7")],
        ),
        (
            with(r#""hosts": [":2375", "unix://"],"#),
            "",
            vec![("docker-tcp-without-tls", "2.7")],
        ),
        (
            with(r#""hosts": ["fd://", "unix:///run/d.sock"],"#),
            "",
            vec![],
        ),
        (
            with(r#""hosts": ["tcp://0.0.0.0:2376"], "tlsverify": true,"#),
            "",
            vec![],
        ),
        (
            with(r#""hosts": ["tcp://0.0.0.0:2376"], "tls": true,"#),
            "",
            vec![("docker-tcp-without-tls", "2.7")],
        ),
        (
            with(""),
            "DOCKER_OPTS=\"-H 0.0.0.0:2375\"\n",
            vec![("docker-tcp-without-tls", "2.7")],
        ),
        (
            with(""),
            "DOCKER_OPTS=\"-H=localhost\"\n",
            vec![("docker-tcp-without-tls", "2.7")],
        ),
        (
            with(""),
            "DOCKER_OPTS=\"-H tcp://0.0.0.0:2375\"\nDOCKER_OPTS=\"-H unix:///run/docker.sock\"\n",
            vec![],
        ),
        (
            with(""),
            "DOCKER_OPTS=\"-H unix:///run/docker.sock\"\nDOCKER_OPTS=\"${DOCKER_OPTS} --iptables=false\"\n",
            vec![("docker-iptables", "2.4")],
        ),
        (utf16, "", vec![("docker-tcp-without-tls", "2.7")]),
        (bom, "", vec![("docker-log-level", "2.3")]),
        (with(r#""log-level": "INFO","#), "", vec![]),
        (
            with(r#""log-level": "warn","#),
            "",
            vec![("docker-log-level", "2.3")],
        ),
        (
            with(""),
            "DOCKER_OPTS=-Dl\\ info\n",
            vec![("docker-log-level", "2.3")],
        ),
        (
            with(r#""storage-driver": "aufs","#),
            "",
            vec![("docker-storage-driver", "2.6")],
        ),
        (
            with(r#""cgroup-parent": "/pool","#),
            "",
            vec![("docker-cgroup-parent", "2.10")],
        ),
        (
            with(r#""storage-opts": ["dm.basesize=20G"],"#),
            "",
            vec![("docker-base-size", "2.11")],
        ),
        (
            with(r#""seccomp-profile": "unconfined","#),
            "",
            vec![("docker-seccomp-profile", "2.17")],
        ),
        (
            with(r#""seccomp-profile": "/etc/docker/seccomp.json","#),
            "",
            vec![],
        ),
        (
            with(r#""experimental": true,"#),
            "",
            vec![("docker-experimental", "2.18")],
        ),
        (
            with(r#""insecure-registries": ["r:5000"],"#),
            "",
            vec![("docker-insecure-registry", "2.5")],
        ),
        (
            HARDENED.replace("\"syslog\"", "\"local\"").into_bytes(),
            "",
            vec![("docker-log-driver", "2.13")],
        ),
        (
            HARDENED
                .replace(r#""userns-remap": "default","#, "")
                .into_bytes(),
            "",
            vec![("docker-userns-remap", "2.9")],
        ),
        (
            HARDENED
                .replace(r#""authorization-plugins": ["authz"],"#, "")
                .into_bytes(),
            "",
            vec![("docker-authorization", "2.12")],
        ),
        // What dockerd refuses.
        (
            HARDENED
                .replace("\"icc\": false", "\"icc\": \"false\"")
                .into_bytes(),
            "",
            vec![("docker-daemon-json-invalid", "")],
        ),
        // A member given twice: dockerd reads both, and refuses the wrong type.
        (
            with(r#""icc": "false","#),
            "",
            vec![("docker-daemon-json-invalid", "")],
        ),
        (
            with(r#""ICC": false,"#),
            "",
            vec![("docker-daemon-json-invalid", "")],
        ),
        (
            with(r#""hosts": "tcp://0.0.0.0:2375","#),
            "",
            vec![("docker-daemon-json-invalid", "")],
        ),
        (
            with(r#""hosts": ["ssh://x"],"#),
            "",
            vec![("docker-daemon-json-invalid", "")],
        ),
        (
            b"\xff\xfe{".to_vec(),
            "",
            vec![("docker-daemon-json-invalid", "")],
        ),
        (
            with(""),
            "DOCKER_OPTS=\"--live-restore\"\n",
            vec![("docker-options-invalid", "")],
        ),
        (
            with(""),
            "DOCKER_OPTS=\"--no-new-privileges false\"\n",
            vec![("docker-options-invalid", "")],
        ),
        (
            with(""),
            "DOCKER_OPTS=\"--config-file=/etc/docker/none.json\"\n",
            vec![("docker-options-invalid", "")],
        ),
        // An empty daemon.json is no settings; a missing one too.
        (
            b"  \n".to_vec(),
            "DOCKER_OPTS=\"--icc=false --live-restore --userland-proxy=false --no-new-privileges --log-driver=syslog --userns-remap=default --authorization-plugin=authz --default-ulimit nofile=1024:2048\"\n",
            vec![],
        ),
    ];
    let mut failures = Vec::new();
    for (i, (json, conf_d, want)) in cases.iter().enumerate() {
        let root = Root::new(Some(json), conf_d);
        let got = family(&root.audit(), Family::DockerDaemon);
        if got != set(want) {
            failures.push(format!(
                "case {i} ({} / {conf_d:?}): {got:?}",
                String::from_utf8_lossy(json)
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    // Another configuration file, named on the command line.
    let root = Root::new(
        None,
        "DOCKER_OPTS=\"--config-file /etc/docker/prod.json\"\n",
    );
    root.write(
        "etc/docker/prod.json",
        HARDENED
            .replace("\"icc\": false", "\"icc\": true")
            .as_bytes(),
    );
    let r = root.audit();
    assert_eq!(
        family(&r, Family::DockerDaemon),
        set(&[("docker-icc", "2.2")])
    );
    assert_eq!(
        r.findings
            .iter()
            .find(|f| f.check == CheckId::DockerIcc)
            .unwrap()
            .path,
        "/etc/docker/prod.json"
    );
    // A value the shell cannot know is said in the evidence.
    let root = Root::new(
        Some(&with("")),
        "DOCKER_OPTS=\"$(cat /etc/docker/opts) -H 0.0.0.0:2375\"\n",
    );
    let r = root.audit();
    let f = r
        .findings
        .iter()
        .find(|f| f.check == CheckId::DockerTcpWithoutTls)
        .unwrap();
    assert_eq!((f.path.as_str(), f.line), ("/etc/conf.d/docker", Some(1)));
    assert!(
        f.evidence.contains("command substitution"),
        "{}",
        f.evidence
    );
}

const ID: &str = "aaaaaaaaaaaabbbbbbbbbbbbccccccccccccddddddddddddeeeeeeeeeeeeffff";

/// A container that passes every check, in Docker's spelling.
const CONFIG: &str = r#"{"Name": "/app", "State": {"Running": false},
 "Config": {"Image": "app:1", "User": "1000:1000", "Healthcheck": {"Test": ["CMD-SHELL", "true"]}},
 "NoNewPrivileges": true, "NetworkSettings": {"Networks": {"app": {}}}}"#;
const HOSTCONFIG: &str = r#"{"NetworkMode": "app", "ReadonlyRootfs": true, "Memory": 268435456,
 "NanoCpus": 500000000, "PidsLimit": 100, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
 "CapDrop": ["ALL"], "Binds": ["/srv/app:/data:ro"]}"#;

#[test]
fn container_state_in_odd_and_hostile_forms() {
    let cases: Vec<(&str, &str, Expected)> = vec![
        (CONFIG, HOSTCONFIG, vec![]),
        // Every member name in lower case: Docker reads them all.
        (
            &*Box::leak(CONFIG.to_ascii_lowercase().into_boxed_str()),
            &*Box::leak(HOSTCONFIG.to_ascii_lowercase().into_boxed_str()),
            vec![],
        ),
        (
            CONFIG,
            r#"{"networkmode": "app", "readonlyrootfs": true, "memory": 1, "nanocpus": 1, "pidslimit": 1, "privileged": true}"#,
            vec![("container-privileged", "5.5")],
        ),
        // Two spellings of one member: the riskier counts.
        (
            CONFIG,
            r#"{"NetworkMode": "app", "networkMODE": "host", "ReadonlyRootfs": true, "Memory": 1, "NanoCpus": 1, "PidsLimit": 1}"#,
            vec![("container-host-network", "5.10")],
        ),
        (
            CONFIG,
            "{\"Networ\u{212a}Mode\": \"app\", \"ReadonlyRootfs\": true, \"Memory\": 1, \"NanoCpus\": 1, \"PidsLimit\": 1, \"IPCMODE\": \"host\"}",
            vec![("container-host-ipc", "5.17")],
        ),
        // Nulls are no value; wrong types are not read.
        (
            CONFIG,
            r#"{"NetworkMode": "app", "ReadonlyRootfs": true, "Memory": 1, "NanoCpus": 1, "PidsLimit": 1, "Privileged": null, "CapAdd": null, "Binds": null, "SecurityOpt": "seccomp=unconfined"}"#,
            vec![("container-seccomp-unconfined", "5.22")],
        ),
        (
            CONFIG,
            r#"{"NetworkMode": "app", "ReadonlyRootfs": true, "Memory": 1e400, "NanoCpus": -5, "CpuShares": 99999999999999999999, "PidsLimit": 1}"#,
            vec![],
        ),
        // Paths that reach the Docker socket.
        (
            CONFIG,
            r#"{"NetworkMode": "app", "ReadonlyRootfs": true, "Memory": 1, "NanoCpus": 1, "PidsLimit": 1, "Binds": ["/var/run/../run/./docker.sock:/s"]}"#,
            vec![("container-docker-socket", "5.32")],
        ),
        (
            CONFIG,
            r#"{"NetworkMode": "app", "ReadonlyRootfs": true, "Memory": 1, "NanoCpus": 1, "PidsLimit": 1, "Mounts": [{"type": "bind", "source": "/run/", "target": "/r"}]}"#,
            vec![("container-docker-socket", "5.32")],
        ),
        (
            CONFIG,
            r#"{"NetworkMode": "app", "ReadonlyRootfs": true, "Memory": 1, "NanoCpus": 1, "PidsLimit": 1, "Binds": ["/usr/../etc:/e"]}"#,
            vec![("container-sensitive-mount", "5.6")],
        ),
        // A port range starting below 1024, on every interface.
        (
            CONFIG,
            r#"{"NetworkMode": "app", "ReadonlyRootfs": true, "Memory": 1, "NanoCpus": 1, "PidsLimit": 1, "PortBindings": {"80/tcp": [{"HostIp": "::", "HostPort": "80-90"}]}}"#,
            vec![
                ("container-published-ports", "5.9"),
                ("container-privileged-port", "5.8"),
                ("container-port-all-interfaces", "5.14"),
            ],
        ),
        // The user as Docker would run it.
        (
            r#"{"Config": {"User": "root:app", "Healthcheck": {"Test": ["CMD", "x"]}}, "NoNewPrivileges": true, "NetworkSettings": {"Networks": {"app": {}}}}"#,
            HOSTCONFIG,
            vec![("container-root-user", "4.1")],
        ),
        // Older state: the host configuration inside config.v2.json.
        (
            r#"{"Config": {"User": "1", "Healthcheck": {"Test": ["CMD", "x"]}}, "NoNewPrivileges": true,
               "HostConfig": {"NetworkMode": "app", "ReadonlyRootfs": true, "Memory": 1, "NanoCpus": 1, "PidsLimit": 1, "UTSMode": "host"}}"#,
            "",
            vec![("container-host-uts", "5.21")],
        ),
    ];
    let mut failures = Vec::new();
    for (i, (config, hostconfig, want)) in cases.iter().enumerate() {
        let root = Root::new(Some(&with("")), "");
        let host = (!hostconfig.is_empty()).then_some(*hostconfig);
        root.container(ID, Some(config), host);
        let r = root.audit();
        let got = family(&r, Family::Containers);
        if got != set(want) {
            failures.push(format!("case {i}: {got:?}\n{:#?}", r.findings));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A missing file: the checks that need it are skipped, naming it.
    let root = Root::new(Some(&with("")), "");
    root.container(ID, None, Some(HOSTCONFIG));
    let r = root.audit();
    let config = format!("/var/lib/docker/containers/{ID}/config.v2.json");
    let skipped: BTreeSet<&str> = r
        .skipped
        .iter()
        .filter(|s| s.path.as_deref() == Some(config.as_str()))
        .map(|s| s.check.as_str())
        .collect();
    assert_eq!(
        skipped,
        BTreeSet::from([
            "container-root-user",
            "container-healthcheck",
            "container-apparmor"
        ])
    );
    assert!(
        family(&r, Family::Containers).is_empty(),
        "{:#?}",
        r.findings
    );
}

fn basalt(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1727740800")
        .output()
        .unwrap()
}

/// JSON and SARIF carry each finding's CIS item; SARIF is valid and its taxonomy is the
/// benchmark's.
#[test]
fn cli_reports_carry_cis_ids() {
    let root = Root::new(Some(&with(r#""hosts": ["0.0.0.0:2375"],"#)), "");
    root.container(
        ID,
        Some(CONFIG),
        Some(&HOSTCONFIG.replacen('{', r#"{"Privileged": true, "#, 1)),
    );
    let path = root.path();
    let out = basalt(&["audit", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let find = |check: &str| {
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == check)
            .cloned()
            .unwrap_or_else(|| panic!("{check} in {json:#}"))
    };
    assert_eq!(find("docker-tcp-without-tls")["cis"], "2.7");
    assert_eq!(find("container-privileged")["cis"], "5.5");
    assert!(
        json["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["check"] == "audit-docker-watch"
                && s["cis"] == "1.1.12"
                && s["path"] == "/etc/containerd/config.toml")
    );
    for f in json["findings"].as_array().unwrap() {
        let check: CheckId = f["check"].as_str().unwrap().parse().unwrap();
        match f["cis"].as_str() {
            Some(cis) => assert!(check.cis().contains(&cis), "{f}"),
            None => assert!(check.cis().len() != 1, "{f}"),
        }
    }

    let out = basalt(&["audit", path.to_str().unwrap(), "--format", "sarif"]);
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../data/sarif-schema-2.1.0.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&log).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let run = &log["runs"][0];
    let result = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "container-privileged")
        .unwrap();
    assert_eq!(result["taxa"][0]["id"], "5.5");
    assert_eq!(result["properties"]["cis"], "5.5");
    assert_eq!(run["taxonomies"][0]["taxa"].as_array().unwrap().len(), 117);

    // Human output names the item and lists what was not answered.
    let out = basalt(&["audit", path.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("critical docker-tcp-without-tls [CIS 2.7]"),
        "{text}"
    );
    assert!(text.contains("not answered:"), "{text}");
}

/// An image holds no running state: the checks only a live host can answer say so.
#[test]
fn an_image_says_what_only_a_live_host_answers() {
    let root = Root::new(Some(&with("")), "");
    let image = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new("tar")
        .arg("-czf")
        .arg(image.path())
        .arg("-C")
        .arg(root.path())
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let r = audit::audit(
        &RootFs::open_image(image.path()).unwrap(),
        &AuditPolicy::default(),
        NOW,
    );
    assert!(r.image);
    let live: BTreeSet<(&str, Option<&str>)> = r
        .skipped
        .iter()
        .filter(|s| s.reason.starts_with("only a live host can answer"))
        .map(|s| (s.check.as_str(), s.path.as_deref()))
        .collect();
    for want in [
        ("docker-file-owner", Some("/run/docker.sock")),
        ("docker-file-mode", Some("/run/docker.sock")),
        ("docker-file-owner", Some("/run/containerd/containerd.sock")),
        ("docker-swarm-mode", Some("/var/lib/docker/swarm")),
        ("container-privileged", Some("/var/lib/docker/containers")),
        ("container-root-user", Some("/var/lib/docker/containers")),
    ] {
        assert!(live.contains(&want), "{want:?} not in {live:#?}");
    }
    // The same tree as a directory is not said to be an image.
    let r = root.audit();
    assert!(!r.image);
    assert!(
        !r.skipped
            .iter()
            .any(|s| s.reason.starts_with("only a live host can answer"))
    );
}

/// 1.2.2 against the real, signed Alpine 3.19 community index.
#[test]
fn the_engine_is_compared_with_a_real_index() {
    let Some(data) = support::shared_data("the_engine_is_compared_with_a_real_index") else {
        return;
    };
    let repo = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(repo.path().join("x86_64")).unwrap();
    fs_err::copy(
        data.join("alpine/indexes/v3.19-community-x86_64.APKINDEX.tar.gz"),
        repo.path().join("x86_64/APKINDEX.tar.gz"),
    )
    .unwrap();
    let root = Root::new(Some(&with("")), "");
    root.write(
        "lib/apk/db/installed",
        b"C:Q1\nP:docker\nV:20.10.0-r0\nA:x86_64\n\nC:Q1\nP:runc\nV:999.0-r0\nA:x86_64\n\n",
    );
    let cache = tempfile::tempdir().unwrap();
    let out = basalt(&[
        "audit",
        root.path().to_str().unwrap(),
        "--repository",
        repo.path().to_str().unwrap(),
        "--cache-dir",
        cache.path().to_str().unwrap(),
        "--offline",
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    let outdated: Vec<&serde_json::Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "docker-outdated")
        .collect();
    assert_eq!(outdated.len(), 1, "{json:#}");
    assert_eq!(outdated[0]["cis"], "1.2.2");
    let evidence = outdated[0]["evidence"].as_str().unwrap();
    assert!(evidence.starts_with("docker 20.10.0-r0 -> 2"), "{evidence}");
    // Without a repository, it is said what is missing.
    let out = basalt(&["audit", root.path().to_str().unwrap(), "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["skipped"].as_array().unwrap().iter().any(|s| {
        s["check"] == "docker-outdated"
            && s["reason"]
                .as_str()
                .unwrap()
                .contains("no repository index given")
    }));
}
