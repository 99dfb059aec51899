//! `[verify] every`: the profile's schedule, the crontab and service settings it renders, and
//! (as root, with the shared boot repository and a static basalt) a built image whose own
//! busybox `crond` runs the verifier on schedule, which reports to a syslog socket the test
//! binds inside the image's root.

use crate::support;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use basalt::profile::{self, AtBoot, Profile, Runlevel};
use serde_json::Value;
use support::boot::{OPENRC_SHIM, show};

fn minimal_with(verify: &str) -> String {
    let mut text = support::built::minimal_profile();
    text.push_str("\n[verify]\n");
    text.push_str(verify);
    text
}

fn parse(source: &str) -> Result<Profile, profile::Error> {
    profile::parse(source, Path::new("dir/p.toml"))
}

fn rendered(p: &Profile) -> std::collections::BTreeMap<String, (u32, String)> {
    basalt::build::render::render_profile(p)
        .unwrap()
        .into_iter()
        .filter_map(|f| match &f.content {
            basalt::build::render::Content::File(bytes) => Some((
                f.path.clone(),
                (f.mode, String::from_utf8(bytes.clone()).unwrap()),
            )),
            basalt::build::render::Content::Directory => None,
        })
        .collect()
}

#[test]
fn every_takes_a_named_period_or_a_cron_expression() {
    let p = parse(&minimal_with("every = \"hourly\"\n")).unwrap();
    let every = p.verify.every.as_ref().unwrap();
    assert_eq!(
        (every.every.as_str(), every.cron.as_str()),
        ("hourly", "17 * * * *")
    );
    assert_eq!(p.verify.at_boot, AtBoot::Off);
    assert!(p.verify.embeds_verifier());
    // crond joins the default runlevel; basalt-verify is not in boot (at_boot is off).
    assert_eq!(p.services.runlevel_of("crond"), Some(Runlevel::Default));
    assert_eq!(p.services.runlevel_of("basalt-verify"), None);

    let p = parse(&minimal_with(
        "at_boot = \"warn\"\nevery = \"*/30 8-18 * * mon-fri\"\n",
    ))
    .unwrap();
    assert_eq!(
        p.verify.every.as_ref().unwrap().cron,
        "*/30 8-18 * * mon-fri"
    );
    assert_eq!(
        p.services.runlevel_of("basalt-verify"),
        Some(Runlevel::Boot)
    );

    // A profile that enables crond itself keeps it where it put it.
    let text = minimal_with("every = \"daily\"\n")
        .replace("boot = [\"bootmisc\",", "boot = [\"crond\", \"bootmisc\",");
    let p = parse(&text).unwrap();
    assert_eq!(p.services.runlevel_of("crond"), Some(Runlevel::Boot));

    // Without `every`, no crond and no verifier.
    let p = parse(&minimal_with("")).unwrap();
    assert!(p.verify.every.is_none() && !p.verify.embeds_verifier());
    assert_eq!(p.services.runlevel_of("crond"), None);
}

#[test]
fn a_bad_schedule_is_named_with_its_line_and_a_hint() {
    let source = minimal_with("every = \"houly\"\n");
    let line = source.lines().count();
    let Err(err) = parse(&source) else {
        panic!("accepted")
    };
    let diags = err.diagnostics();
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!((diags[0].line, diags[0].column), (line, 9));
    assert_eq!(diags[0].message, "unknown schedule `houly`");
    assert_eq!(diags[0].hint.as_deref(), Some("did you mean `hourly`?"));

    let Err(err) = parse(&minimal_with("every = \"0 25 * * *\"\n")) else {
        panic!("accepted")
    };
    let d = &err.diagnostics()[0];
    assert!(
        d.message
            .starts_with("invalid hour `25` in cron expression `0 25 * * *`"),
        "{d}"
    );
    assert!(d.hint.as_deref().unwrap().contains("`*/30 * * * *`"), "{d}");

    let Err(err) = parse(&minimal_with("evry = \"hourly\"\n")) else {
        panic!("accepted")
    };
    assert!(
        err.diagnostics()[0].message.contains("unknown key `evry`"),
        "{err}"
    );
}

#[test]
fn the_schedule_renders_a_crontab_that_runs_the_service_check() {
    let p = profile::parse(&minimal_with("every = \"15min\"\n"), Path::new("p.toml")).unwrap();
    let files = rendered(&p);
    let (mode, crontab) = &files["/etc/crontabs/root"];
    assert_eq!(*mode, 0o600);
    let jobs: Vec<&str> = crontab
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    // Alpine's periodic jobs stay; the verification is added.
    assert_eq!(jobs.len(), 6, "{crontab}");
    assert!(
        jobs.contains(&"0\t*\t*\t*\t*\trun-parts /etc/periodic/hourly"),
        "{crontab}"
    );
    assert_eq!(
        jobs[5],
        "7,22,37,52 * * * *\t/etc/init.d/basalt-verify check"
    );
    let (_, conf) = &files["/etc/conf.d/basalt-verify"];
    assert!(conf.contains("basalt_verify_mode=\"off\""), "{conf}");
    assert!(conf.contains("basalt_syslog=\"/dev/log\""), "{conf}");
    assert_eq!(files["/etc/init.d/basalt-verify"].0, 0o755);
    // Nothing at boot needs the verifier: no rc.conf.d dependencies.
    assert!(!files.contains_key("/etc/rc.conf.d/basalt-verify.conf"));
    let (_, init) = &files["/etc/init.d/basalt-verify"];
    assert!(init.contains("extra_commands=\"check\""));
}

// ---------------------------------------------------------------------------------------------
// A built image, its own busybox crond, and a syslog socket bound by the test.

/// The minimal profile with `at_boot = "warn"` and a verification every minute, built with
/// the static basalt embedded; extracted to `root`.
struct Built {
    dir: tempfile::TempDir,
    root: PathBuf,
}

fn build(test: &str) -> Option<Built> {
    let dir = tempfile::tempdir().unwrap();
    let builder = support::built::Builder::new(test, dir.path())?;
    // The test points the verifier at its own socket: the service settings may change.
    let text = minimal_with("at_boot = \"warn\"\nevery = \"* * * * *\"\n").replace(
        "mutable = [\"/etc/resolv.conf\"]",
        "mutable = [\"/etc/resolv.conf\", \"/etc/conf.d/basalt-verify\"]",
    );
    assert!(text.contains("/etc/conf.d/basalt-verify\"]"));
    let image = builder.build("minimal", &text);
    let root = dir.path().join("root");
    support::built::extract(&image, &root);
    Some(Built { dir, root })
}

impl Built {
    /// Points the image's verifier at a socket in `/run` (ephemeral, so never a finding; the
    /// default `/dev/log` would be a new entry in the chroot's plain `/dev`) and binds it.
    /// The settings file is mutable in this image's policy.
    fn syslog(&self) -> UnixDatagram {
        let conf = self.root.join("etc/conf.d/basalt-verify");
        let text = std::fs::read_to_string(&conf).unwrap();
        assert!(text.contains("basalt_syslog=\"/dev/log\""), "{text}");
        std::fs::write(
            &conf,
            text.replace("basalt_syslog=\"/dev/log\"", "basalt_syslog=\"/run/log\""),
        )
        .unwrap();
        std::fs::create_dir_all(self.root.join("run")).unwrap();
        let path = self.root.join("run/log");
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        socket
    }

    fn chroot(&self) -> Command {
        let mut cmd = Command::new("chroot");
        cmd.arg(&self.root)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        cmd
    }
}

/// Receives messages until a summary (or failure) arrives or `deadline` passes.
fn until_summary(socket: &UnixDatagram, deadline: Instant) -> Vec<Value> {
    let mut buf = vec![0u8; 65536];
    let mut docs = Vec::new();
    while Instant::now() < deadline {
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        // crond logs through the same socket; only the verifier's messages are documents.
        let Some((_, json)) = text.split_once("basalt-verify[") else {
            continue;
        };
        let json = json.split_once("]: ").unwrap().1;
        let doc: Value = serde_json::from_str(json).unwrap();
        let last = doc["event"] != "finding";
        docs.push(doc);
        if last {
            break;
        }
    }
    docs
}

#[test]
fn the_images_crond_runs_the_verifier_which_reports_to_syslog() {
    let test = "the_images_crond_runs_the_verifier_which_reports_to_syslog";
    let Some(built) = build(test) else {
        return;
    };
    let crontab = std::fs::read_to_string(built.root.join("etc/crontabs/root")).unwrap();
    assert!(
        crontab.contains("* * * * *\t/etc/init.d/basalt-verify check"),
        "{crontab}"
    );
    assert!(
        std::fs::symlink_metadata(built.root.join("etc/runlevels/default/crond")).is_ok(),
        "crond is enabled"
    );
    let socket = built.syslog();

    // The service's `check`, as openrc-run calls it: clean, one summary.
    let shim = OPENRC_SHIM.replace("\nstart\n", "\ncheck\n");
    std::fs::write(built.root.join("run/shim"), shim).unwrap();
    let out = built
        .chroot()
        .args(["/bin/sh", "/run/shim"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let docs = until_summary(&socket, Instant::now() + Duration::from_secs(5));
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0]["event"], "summary");
    assert_eq!(docs[0]["clean"], true);
    assert_eq!(docs[0]["image"], "minimal");
    assert_eq!(docs[0]["version"], "1.0.0");

    // The boot-time `start` (warn) reports the same way.
    std::fs::write(built.root.join("run/shim"), OPENRC_SHIM).unwrap();
    let out = built
        .chroot()
        .args(["/bin/sh", "/run/shim"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let docs = until_summary(&socket, Instant::now() + Duration::from_secs(5));
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(
        (&docs[0]["event"], &docs[0]["clean"]),
        (&Value::from("summary"), &Value::from(true))
    );

    // Drift: a key for root, persisted outside the state paths.
    std::fs::create_dir_all(built.root.join("root/.ssh")).unwrap();
    std::fs::write(
        built.root.join("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAA x\n",
    )
    .unwrap();

    // The image's own busybox crond, in the foreground, with the image's crontabs. openrc-run
    // runs a service's commands only on a system OpenRC booted: mark it so.
    std::fs::create_dir_all(built.root.join("run/openrc")).unwrap();
    std::fs::write(built.root.join("run/openrc/softlevel"), "default\n").unwrap();
    let mut crond = built
        .chroot()
        .args(["/usr/sbin/crond", "-f", "-c", "/etc/crontabs", "-l", "8"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The job runs at the next minute: within 60 s, plus the verification itself.
    let docs = until_summary(&socket, Instant::now() + Duration::from_secs(150));
    let _ = crond.kill();
    let out: Output = crond.wait_with_output().unwrap();
    let (summary, findings) = docs
        .split_last()
        .unwrap_or_else(|| panic!("no report from crond's run: {}", show(&out)));
    assert_eq!(summary["event"], "summary", "{docs:?}");
    assert_eq!(summary["clean"], false);
    assert_eq!(summary["kinds"], serde_json::json!({"persisted": 2}));
    let paths: Vec<&str> = findings
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["/root/.ssh", "/root/.ssh/authorized_keys"],
        "{docs:?}"
    );
    let check = std::fs::read_to_string(built.root.join("run/basalt/check")).unwrap();
    assert!(
        check.contains("persisted  /root/.ssh/authorized_keys"),
        "{check}"
    );
    drop(built.dir);
}
