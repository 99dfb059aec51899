//! `basalt verify --syslog`: what the verifier sends to a syslog socket, read back from a Unix
//! datagram socket the test binds and parsed as the documented format (`<PRI>TAG[PID]: JSON`,
//! one JSON document per finding and one summary, or one failure).

use crate::support;

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_basalt");

/// One syslog message as the wire format documents it.
#[derive(Debug)]
struct Message {
    facility: u8,
    severity: u8,
    tag: String,
    pid: u32,
    document: Value,
}

/// Parses `<PRI>TAG[PID]: JSON`, strictly: anything else fails the test.
fn parse(datagram: &[u8]) -> Message {
    let text = std::str::from_utf8(datagram).expect("a message is UTF-8");
    let rest = text.strip_prefix('<').expect("starts with <PRI>");
    let (pri, rest) = rest.split_once('>').unwrap();
    assert!(
        pri.bytes().all(|b| b.is_ascii_digit()) && pri.len() <= 3,
        "{text}"
    );
    let pri: u8 = pri.parse().unwrap();
    let (tag, rest) = rest.split_once('[').unwrap();
    let (pid, rest) = rest.split_once("]: ").unwrap();
    assert!(!rest.contains('\n'), "one line: {text}");
    let document: Value = serde_json::from_str(rest).expect("the message is one JSON document");
    assert!(document.is_object(), "{text}");
    Message {
        facility: pri / 8,
        severity: pri % 8,
        tag: tag.to_owned(),
        pid: pid.parse().unwrap(),
        document,
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    root: PathBuf,
    manifest: PathBuf,
    key: PathBuf,
}

impl Fixture {
    /// A small root, its manifest (image `edge` 2.1.0, `/var/lib` as state) and a signature.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        for (path, content, mode) in [
            ("etc/motd", "welcome\n", 0o644),
            ("etc/shadow", "root:!::0:::::\n", 0o640),
            ("usr/bin/tool", "#!/bin/sh\n", 0o755),
        ] {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, content).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        std::fs::create_dir_all(root.join("var/lib")).unwrap();
        let manifest = dir.path().join("edge.manifest");
        let key = dir.path().join("release");
        ok(&basalt(&[
            "manifest".as_ref(),
            root.as_os_str(),
            "--image".as_ref(),
            "edge".as_ref(),
            "--image-version".as_ref(),
            "2.1.0".as_ref(),
            "--state".as_ref(),
            "/var/lib".as_ref(),
            "--out".as_ref(),
            manifest.as_os_str(),
        ]));
        ok(&basalt(&[
            "keygen".as_ref(),
            "--out".as_ref(),
            key.as_os_str(),
        ]));
        ok(&basalt(&[
            "sign".as_ref(),
            "--key".as_ref(),
            key.with_extension("key").as_os_str(),
            manifest.as_os_str(),
        ]));
        Fixture {
            dir,
            root,
            manifest,
            key,
        }
    }

    /// Runs `basalt verify --syslog=SOCKET --format json` and returns its output with every
    /// message the socket received.
    fn verify(&self, socket: &Path, key: &Path, tree: &Path) -> (Output, Vec<Message>) {
        let mut syslog = std::ffi::OsString::from("--syslog=");
        syslog.push(socket);
        let mut cmd = Command::new(BIN);
        cmd.arg("verify")
            .arg("--manifest")
            .arg(&self.manifest)
            .arg("--key")
            .arg(key)
            .arg(syslog)
            .args(["--format", "json"])
            .arg(tree);
        listen(socket, cmd)
    }

    fn public(&self) -> PathBuf {
        self.key.with_extension("pub")
    }
}

fn basalt(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(out: &Output) {
    assert!(out.status.success(), "{}", support::boot::show(out));
}

/// Binds a datagram socket at `socket`, runs `cmd`, and receives while it runs (as a syslog
/// daemon does: a datagram socket's queue is short), then whatever is left queued.
fn listen(socket: &Path, mut cmd: Command) -> (Output, Vec<Message>) {
    let _ = std::fs::remove_file(socket);
    let listener = UnixDatagram::bind(socket).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let waiter = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let out = child.wait_with_output().unwrap();
            done.store(true, Ordering::SeqCst);
            out
        })
    };
    let mut buf = vec![0u8; 65536];
    let mut all = Vec::new();
    loop {
        let finished = done.load(Ordering::SeqCst);
        match listener.recv(&mut buf) {
            Ok(n) => all.push(parse(&buf[..n])),
            Err(_) if finished => break,
            Err(_) => {}
        }
    }
    (waiter.join().unwrap(), all)
}

#[test]
fn a_clean_run_logs_one_summary_line() {
    let fx = Fixture::new();
    let socket = fx.dir.path().join("log");
    let (out, messages) = fx.verify(&socket, &fx.public(), &fx.root);
    assert_eq!(out.status.code(), Some(0), "{}", support::boot::show(&out));
    assert!(out.stderr.is_empty(), "{}", support::boot::show(&out));
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!((m.facility, m.severity), (4, 6), "auth.info");
    assert_eq!(m.tag, "basalt-verify");
    assert!(m.pid > 0);
    assert_eq!(
        m.document,
        json!({"event": "summary", "image": "edge", "version": "2.1.0", "clean": true,
               "entries": 9, "findings": 0, "kinds": {}, "unlogged": 0})
    );
    // The JSON report on stdout names the image too.
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report,
        json!({"image": "edge", "version": "2.1.0", "clean": true, "signature": "verified", "findings": []})
    );
}

#[test]
fn drift_logs_each_finding_then_a_summary() {
    let fx = Fixture::new();
    std::fs::write(fx.root.join("etc/motd"), "hello\n").unwrap();
    std::fs::set_permissions(
        fx.root.join("etc/shadow"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::create_dir_all(fx.root.join("root/.ssh")).unwrap();
    std::fs::write(
        fx.root.join("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAA x\n",
    )
    .unwrap();
    // Anything may live under the state path: not a finding.
    std::fs::write(fx.root.join("var/lib/data"), "kept\n").unwrap();

    let socket = fx.dir.path().join("log");
    let (out, messages) = fx.verify(&socket, &fx.public(), &fx.root);
    assert_eq!(out.status.code(), Some(1), "{}", support::boot::show(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    let (last, findings) = messages.split_last().unwrap();
    for m in &messages {
        assert_eq!(m.tag, "basalt-verify");
        assert_eq!(m.facility, 4, "auth");
        assert_eq!(m.severity, 4, "warning: {:?}", m.document);
    }
    let logged: Vec<(String, String)> = findings
        .iter()
        .map(|m| {
            assert_eq!(m.document["event"], "finding");
            assert_eq!(m.document["image"], "edge");
            assert_eq!(m.document["version"], "2.1.0");
            (
                m.document["path"].as_str().unwrap().to_owned(),
                m.document["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("/etc/motd", "content"),
        ("/etc/shadow", "mode"),
        ("/root", "persisted"),
        ("/root/.ssh", "persisted"),
        ("/root/.ssh/authorized_keys", "persisted"),
    ];
    assert_eq!(
        logged,
        expected
            .iter()
            .map(|(p, k)| ((*p).to_owned(), (*k).to_owned()))
            .collect::<Vec<_>>()
    );
    // Each finding message carries what stdout's report says of it, field for field.
    for (m, f) in findings.iter().zip(report["findings"].as_array().unwrap()) {
        for field in ["path", "kind", "expected", "actual"] {
            assert_eq!(m.document[field], f[field], "{field}");
        }
    }
    assert_eq!(findings[1].document["expected"], "0640");
    assert_eq!(findings[1].document["actual"], "0644");
    assert_eq!(findings[2].document["expected"], Value::Null);

    assert_eq!(
        last.document,
        json!({"event": "summary", "image": "edge", "version": "2.1.0", "clean": false,
               "entries": 9, "findings": 5,
               "kinds": {"content": 1, "mode": 1, "persisted": 3}, "unlogged": 0})
    );
}

#[test]
fn many_findings_are_summarised_not_flooded() {
    let fx = Fixture::new();
    let dir = fx.root.join("etc/dropped");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..250 {
        std::fs::write(dir.join(format!("f{i:03}")), "x").unwrap();
    }
    let socket = fx.dir.path().join("log");
    let (out, messages) = fx.verify(&socket, &fx.public(), &fx.root);
    assert_eq!(out.status.code(), Some(1));
    // 200 findings one by one, then the summary that counts all 251.
    assert_eq!(messages.len(), 201);
    let summary = &messages[200].document;
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["findings"], 251);
    assert_eq!(summary["kinds"], json!({"persisted": 251}));
    assert_eq!(summary["unlogged"], 51);
}

#[test]
fn a_refused_signature_and_a_broken_run_log_a_failure() {
    let fx = Fixture::new();
    let socket = fx.dir.path().join("log");

    // Signed by another key: exit 1, one failure at severity err, no findings.
    let other = fx.dir.path().join("other");
    ok(&basalt(&[
        "keygen".as_ref(),
        "--out".as_ref(),
        other.as_os_str(),
    ]));
    let (out, messages) = fx.verify(&socket, &other.with_extension("pub"), &fx.root);
    assert_eq!(out.status.code(), Some(1), "{}", support::boot::show(&out));
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!((m.facility, m.severity), (4, 3), "auth.err");
    assert_eq!(m.document["event"], "failure");
    assert_eq!(m.document["status"], 1);
    assert_eq!(m.document["image"], Value::Null, "not trusted, not read");
    let error = m.document["error"].as_str().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(error), "{stderr}\n{error}");

    // A tree that cannot be read: exit 2, one failure naming it.
    let missing = fx.dir.path().join("no-such-root");
    let (out, messages) = fx.verify(&socket, &fx.public(), &missing);
    assert_eq!(out.status.code(), Some(2), "{}", support::boot::show(&out));
    assert_eq!(messages.len(), 1, "{messages:?}");
    let doc = &messages[0].document;
    assert_eq!(doc["event"], "failure");
    assert_eq!(doc["status"], 2);
    assert_eq!(doc["image"], "edge");
    assert!(
        doc["error"].as_str().unwrap().contains("no-such-root"),
        "{doc}"
    );
}

#[test]
fn without_a_syslog_the_verification_still_reports_and_keeps_its_exit_code() {
    let fx = Fixture::new();
    std::fs::write(fx.root.join("etc/motd"), "hello\n").unwrap();
    let nowhere = fx.dir.path().join("no-syslog-here");
    let out = Command::new(BIN)
        .arg("verify")
        .arg("--manifest")
        .arg(&fx.manifest)
        .arg("--key")
        .arg(fx.key.with_extension("pub"))
        .arg(format!("--syslog={}", nowhere.display()))
        .arg(&fx.root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", support::boot::show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: cannot report to syslog at") && stderr.contains("no-syslog-here"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("content    /etc/motd"));

    // `--syslog` takes its socket only with `=`: a following path is the tree.
    let out = Command::new(BIN)
        .arg("verify")
        .arg("--manifest")
        .arg(&fx.manifest)
        .arg("--key")
        .arg(fx.key.with_extension("pub"))
        .arg("--syslog")
        .arg(&fx.root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", support::boot::show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("content    /etc/motd: expected sha256:"),
        "{stdout}"
    );
}
