//! The `basalt.fleet` Ansible collection (`contrib/ansible`), built and installed with the
//! real `ansible-galaxy`, run with the real `ansible-playbook` over an inventory of hosts made
//! from images that `basalt build` built: one clean (running the newest image), one with
//! drifted files, one with state persisted outside its state paths, one broken (its manifest
//! removed) and one that does not exist. The fleet report must name exactly what was done to
//! each. The hosts are chroots reached through `community.general.chroot` (root needed).

use crate::support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::boot::show;
use support::built::{Builder, extract, minimal_profile};

fn collection_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/ansible")
}

struct Fleet {
    dir: tempfile::TempDir,
    collections: PathBuf,
    inventory: PathBuf,
    hosts: BTreeMap<&'static str, PathBuf>,
}

impl Fleet {
    fn playbook(&self, extra_vars: &Value, limit: Option<&str>) -> Output {
        let playbook = support::tools::tool("fleet", "ansible-playbook").unwrap();
        let mut cmd = Command::new(playbook);
        cmd.arg("-i")
            .arg(&self.inventory)
            .arg("basalt.fleet.verify")
            .arg("-e")
            .arg(extra_vars.to_string())
            .current_dir(self.dir.path())
            .env("ANSIBLE_COLLECTIONS_PATH", &self.collections)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "false")
            .env("ANSIBLE_LOCAL_TEMP", self.dir.path().join("ansible-tmp"))
            .env("ANSIBLE_CONFIG", self.dir.path().join("no-ansible.cfg"))
            .env_remove("ANSIBLE_INVENTORY");
        if let Some(limit) = limit {
            cmd.arg("--limit").arg(limit);
        }
        cmd.output().unwrap()
    }

    fn report(&self, name: &str) -> (Value, String) {
        let json = std::fs::read_to_string(self.dir.path().join(format!("{name}.json")))
            .unwrap_or_else(|e| panic!("{name}.json: {e}"));
        let text = std::fs::read_to_string(self.dir.path().join(format!("{name}.txt"))).unwrap();
        (serde_json::from_str(&json).unwrap(), text)
    }
}

/// Builds the collection and installs it offline, as a user would.
fn install_collection(test: &str, dir: &Path) -> Option<PathBuf> {
    let galaxy = support::tools::tool(test, "ansible-galaxy")?;
    let built = dir.join("collection");
    let out = Command::new(&galaxy)
        .args(["collection", "build"])
        .arg(collection_source())
        .arg("--output-path")
        .arg(&built)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let tarball = built.join("basalt-fleet-0.1.0.tar.gz");
    assert!(tarball.is_file(), "{}", show(&out));
    let collections = dir.join("collections");
    let out = Command::new(&galaxy)
        .args(["collection", "install", "--offline", "-p"])
        .arg(&collections)
        .arg(&tarball)
        .env("ANSIBLE_COLLECTIONS_PATH", &collections)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        collections
            .join("ansible_collections/basalt/fleet/roles/verify/tasks/main.yml")
            .is_file()
    );
    Some(collections)
}

fn write(root: &Path, path: &str, content: &str, mode: u32) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn fleet(test: &str) -> Option<Fleet> {
    let dir = tempfile::tempdir().unwrap();
    support::tools::tool(test, "ansible-playbook")?;
    let builder = Builder::new(test, dir.path())?;
    let collections = install_collection(test, dir.path())?;

    // Two releases of the minimal image that verifies itself at boot.
    let profile = format!("{}\n[verify]\nat_boot = \"warn\"\n", minimal_profile());
    let old = builder.build("old", &profile);
    let new = builder.build(
        "new",
        &profile.replace("version = \"1.0.0\"", "version = \"1.1.0\""),
    );

    let hosts_dir = dir.path().join("hosts");
    let mut hosts = BTreeMap::new();
    for (name, image) in [
        ("clean", &new),
        ("drifted", &old),
        ("persisted", &old),
        ("broken", &old),
    ] {
        let root = hosts_dir.join(name);
        extract(image, &root);
        hosts.insert(name, root);
    }
    hosts.insert("gone", hosts_dir.join("gone"));

    // drifted: a changed file and a loosened mode.
    let motd = std::fs::read_to_string(hosts["drifted"].join("etc/motd")).unwrap();
    write(
        &hosts["drifted"],
        "/etc/motd",
        &format!("{motd}changed by hand\n"),
        0o644,
    );
    std::fs::set_permissions(
        hosts["drifted"].join("etc/shadow"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    // persisted: a key for root and a tool, outside the state paths; state under /var/lib
    // and scratch under /tmp, which may hold anything.
    write(
        &hosts["persisted"],
        "/root/.ssh/authorized_keys",
        "ssh-ed25519 AAAA x\n",
        0o600,
    );
    write(
        &hosts["persisted"],
        "/usr/local/bin/helper",
        "#!/bin/sh\n",
        0o755,
    );
    write(&hosts["persisted"], "/var/lib/app/data", "kept\n", 0o644);
    write(
        &hosts["persisted"],
        "/tmp/scratch",
        "gone at reboot\n",
        0o644,
    );
    // broken: the verifier has no manifest to read (exit 2).
    std::fs::remove_file(hosts["broken"].join("etc/basalt/manifest")).unwrap();

    let inventory = dir.path().join("inventory.ini");
    let mut text = String::from("[basalt]\n");
    for (name, root) in &hosts {
        text.push_str(&format!("{name} ansible_host={}\n", root.display()));
    }
    text.push_str("\n[basalt:vars]\nansible_connection=community.general.chroot\n");
    std::fs::write(&inventory, text).unwrap();
    Some(Fleet {
        dir,
        collections,
        inventory,
        hosts,
    })
}

/// `(path, kind)` of each finding in a host's report.
fn findings(host: &Value) -> Vec<(String, String)> {
    host["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(p, k)| ((*p).to_owned(), (*k).to_owned()))
        .collect()
}

/// The `PLAY RECAP` line of `host` as (ok, failed).
fn recap(stdout: &str, host: &str) -> (u32, u32) {
    let line = stdout
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .find(|l| l.split_whitespace().next() == Some(host))
        .unwrap_or_else(|| panic!("no recap for {host}:\n{stdout}"));
    let field = |name: &str| -> u32 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    (field("ok"), field("failed"))
}

#[test]
fn the_fleet_report_names_exactly_what_each_host_holds() {
    let test = "the_fleet_report_names_exactly_what_each_host_holds";
    let Some(fleet) = fleet(test) else {
        return;
    };
    let out = fleet.playbook(
        &json!({
            "basalt_fleet_latest": {"minimal": "1.1.0"},
            "basalt_fleet_report_dir": fleet.dir.path(),
        }),
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Hosts failed: ansible-playbook says so with exit 2.
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    for host in ["drifted", "persisted", "broken", "gone"] {
        assert_eq!(recap(&stdout, host).1, 1, "{host} is failed\n{stdout}");
    }
    assert_eq!(recap(&stdout, "clean").1, 0, "{stdout}");
    // The failing task's result carries the findings.
    assert!(
        stdout.contains("fatal: [persisted -> localhost]: FAILED! => {")
            && stdout.contains("\"path\": \"/root/.ssh/authorized_keys\""),
        "{stdout}"
    );

    let (report, summary) = fleet.report("basalt-fleet");
    let hosts = &report["hosts"];
    assert_eq!(
        hosts.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["broken", "clean", "drifted", "gone", "persisted"]
    );
    let status = |h: &str| hosts[h]["status"].as_str().unwrap().to_owned();
    assert_eq!(status("clean"), "clean");
    assert_eq!(status("drifted"), "drift");
    assert_eq!(status("persisted"), "drift");
    assert_eq!(status("broken"), "error");
    assert_eq!(status("gone"), "error");

    assert_eq!(findings(&hosts["clean"]), pairs(&[]));
    assert_eq!(
        findings(&hosts["drifted"]),
        pairs(&[("/etc/motd", "content"), ("/etc/shadow", "mode")])
    );
    assert_eq!(
        findings(&hosts["persisted"]),
        pairs(&[
            ("/root/.ssh", "persisted"),
            ("/root/.ssh/authorized_keys", "persisted"),
            ("/usr/local/bin/helper", "persisted"),
        ])
    );
    assert_eq!(hosts["drifted"]["findings"][1]["expected"], "0640");
    assert_eq!(hosts["drifted"]["findings"][1]["actual"], "0644");
    assert_eq!(hosts["drifted"]["counts"], json!({"content": 1, "mode": 1}));
    assert_eq!(hosts["persisted"]["counts"], json!({"persisted": 3}));
    for h in ["clean", "drifted", "persisted"] {
        assert_eq!(hosts[h]["error"], Value::Null, "{h}");
        assert_eq!(hosts[h]["image"], "minimal", "{h}");
    }
    assert_eq!(hosts["clean"]["version"], "1.1.0");
    assert_eq!(hosts["drifted"]["version"], "1.0.0");
    assert_eq!(
        (&hosts["clean"]["exit"], &hosts["drifted"]["exit"]),
        (&json!(0), &json!(1))
    );

    assert_eq!(hosts["broken"]["exit"], 2);
    assert_eq!(hosts["broken"]["image"], Value::Null);
    let broken = hosts["broken"]["error"].as_str().unwrap();
    assert!(
        broken.starts_with("basalt verify could not run (exit 2): error: ")
            && broken.contains("/etc/basalt/manifest"),
        "{broken}"
    );
    let gone = hosts["gone"]["error"].as_str().unwrap();
    assert!(
        gone.starts_with("cannot run on the host: ") && gone.contains("hosts/gone"),
        "{gone}"
    );

    assert_eq!(
        report["totals"],
        json!({"hosts": 5, "clean": 1, "drift": 2, "error": 2})
    );
    assert_eq!(
        report["counts"],
        json!({"content": 1, "mode": 1, "persisted": 3})
    );
    assert_eq!(
        report["images"],
        json!([
            {"image": "minimal", "version": "1.0.0", "hosts": ["drifted", "persisted"]},
            {"image": "minimal", "version": "1.1.0", "hosts": ["clean"]},
        ])
    );
    assert_eq!(
        report["redeploy"],
        json!([
            {"host": "drifted", "image": "minimal", "version": "1.0.0", "latest": "1.1.0"},
            {"host": "persisted", "image": "minimal", "version": "1.0.0", "latest": "1.1.0"},
        ])
    );
    assert_eq!(report["audit"], Value::Null);

    // The summary for people says the same in a few lines.
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(
        lines[0],
        "basalt fleet: 5 host(s): 1 clean, 2 drift, 2 error"
    );
    assert!(
        lines.contains(&"  clean  clean      minimal 1.1.0"),
        "{summary}"
    );
    assert!(
        lines.contains(&"  drift  drifted    minimal 1.0.0  content 1, mode 1"),
        "{summary}"
    );
    assert!(
        lines.contains(&"  drift  persisted  minimal 1.0.0  persisted 3"),
        "{summary}"
    );
    assert!(
        lines.contains(&"findings by kind: content 1, mode 1, persisted 3"),
        "{summary}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        "redeploy (older than the newest image): drifted (minimal 1.0.0 < 1.1.0), persisted (minimal 1.0.0 < 1.1.0)"
    );
    // And the run shows it at its end.
    assert!(
        stdout.contains("\"basalt fleet: 5 host(s): 1 clean, 2 drift, 2 error\""),
        "{stdout}"
    );

    // Nothing was written to the hosts: no Ansible temporary files, not even where they
    // would not be findings.
    for (name, root) in &fleet.hosts {
        if root.is_dir() {
            assert!(
                !root.join("root/.ansible").exists(),
                "{name}: /root/.ansible"
            );
            assert!(
                std::fs::read_dir(root.join("tmp"))
                    .unwrap()
                    .all(|e| { e.unwrap().file_name() == "scratch" }),
                "{name}: /tmp"
            );
        }
    }

    // With the audit: each host's audit is the one `basalt audit` gives inside it.
    let out = fleet.playbook(
        &json!({
            "basalt_fleet_audit": true,
            "basalt_fleet_audit_fail_on": "critical",
            "basalt_fleet_report_dir": fleet.dir.path(),
            "basalt_fleet_report_name": "audited",
        }),
        Some("clean,drifted"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "drifted fails\n{}", show(&out));
    let (report, summary) = fleet.report("audited");
    assert_eq!(report["totals"]["hosts"], 2, "{summary}");
    for h in ["clean", "drifted"] {
        let direct = Command::new("chroot")
            .arg(&fleet.hosts[h])
            .args([
                "/usr/sbin/basalt",
                "audit",
                "/",
                "--format",
                "json",
                "--fail-on",
                "critical",
            ])
            .output()
            .unwrap();
        let direct: Value = serde_json::from_slice(&direct.stdout).unwrap();
        let audit = &report["hosts"][h]["audit"];
        assert_eq!(audit["findings"], direct["findings"], "{h}");
        let expected_status = if direct["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["severity"] == "critical")
        {
            "fail"
        } else {
            "pass"
        };
        assert_eq!(audit["status"], expected_status, "{h}");
    }
    assert_eq!(recap(&stdout, "drifted").1, 1);
    let audited = &report["hosts"]["clean"]["audit"];
    assert_eq!(
        recap(&stdout, "clean").1,
        u32::from(audited["status"] != "pass"),
        "{stdout}"
    );
}
