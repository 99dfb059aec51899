//! `basalt lock` as a user runs it: fixture repositories built in code (unsigned, so used
//! with `--allow-untrusted`), a local HTTP mirror for the offline cache, and the real signed
//! v3.19 indexes when the shared data is present.

use crate::support;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use basalt::build::lock::Lockfile;

fn basalt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(args)
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .expect("run basalt")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An unsigned `APKINDEX.tar.gz` holding `apkindex`.
fn index_bytes(apkindex: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, body) in [("DESCRIPTION", "fixture-1\n"), ("APKINDEX", apkindex)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, body.as_bytes()).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

const C_SUFFIX: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// One index stanza; `C:` is derived from the name so that it is unique.
fn stanza(name: &str, version: &str, extra: &str) -> String {
    let tag: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(1)
        .collect();
    format!(
        "C:Q1{tag}{C_SUFFIX}\nP:{name}\nV:{version}\nA:x86_64\nS:100\nI:200\nT:{name}\n{extra}\n"
    )
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(apkindex: &str, install: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo/x86_64");
        fs_err::create_dir_all(&repo).unwrap();
        fs_err::write(repo.join("APKINDEX.tar.gz"), index_bytes(apkindex)).unwrap();
        let f = Fixture { dir };
        f.write_profile(install);
        f
    }

    fn write_profile(&self, install: &[&str]) {
        let list: Vec<String> = install.iter().map(|a| format!("\"{a}\"")).collect();
        let profile = format!(
            "[image]\nname = \"web\"\nversion = \"1.0.0\"\narch = \"x86_64\"\n\n\
             [repositories]\nurls = [\"{}\"]\nkeys = []\n\n[packages]\ninstall = [{}]\n",
            self.dir.path().join("repo").display(),
            list.join(", ")
        );
        fs_err::write(self.profile(), profile).unwrap();
    }

    fn profile(&self) -> PathBuf {
        self.dir.path().join("web.toml")
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.path().join("web.lock")
    }

    fn lock(&self, extra: &[&str]) -> Output {
        let profile = self.profile();
        let cache = self.dir.path().join("cache");
        let mut args = vec![
            "lock",
            profile.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        basalt(&args)
    }
}

fn repo_index() -> String {
    [
        stanza("musl", "1.2.4-r4", ""),
        stanza("busybox", "1.36.1-r19", "D:musl\np:cmd:sh /bin/sh\nk:100\n"),
        stanza("nginx", "1.24.0-r15", "D:musl so:libpcre2-8.so.0 cmd:sh\n"),
        stanza("pcre2", "10.42-r2", "D:musl\np:so:libpcre2-8.so.0=0.11.2\n"),
        stanza("openrc", "0.52.1-r2", "D:musl\n"),
        stanza("nginx-openrc", "1.24.0-r15", "i:openrc nginx=1.24.0-r15\n"),
        stanza("old", "1.0-r0", "D:!nginx\n"),
    ]
    .concat()
}

#[test]
fn writes_the_lock_beside_the_profile_in_install_order() {
    let f = Fixture::new(&repo_index(), &["nginx", "openrc"]);
    let out = f.lock(&["--allow-untrusted"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("locked 6 packages for web 1.0.0 (x86_64)"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("warning: using"),
        "{}",
        text(&out.stderr)
    );
    let written = fs_err::read_to_string(f.lock_path()).unwrap();
    let lock = Lockfile::parse(&written, "web.lock").unwrap();
    let ids: Vec<String> = lock.packages.iter().map(|p| p.id()).collect();
    assert_eq!(
        ids,
        [
            "musl-1.2.4-r4",
            "pcre2-10.42-r2",
            "busybox-1.36.1-r19",
            "nginx-1.24.0-r15",
            "openrc-0.52.1-r2",
            "nginx-openrc-1.24.0-r15",
        ]
    );
    assert_eq!(lock.packages[0].checksum, format!("Q1m{C_SUFFIX}"));
    assert_eq!(lock.packages[0].size, 100);
    assert_eq!(
        lock.repositories[0].description.as_deref(),
        Some("fixture-1")
    );
    assert_eq!(lock.repositories[0].key, None);

    // the same inputs give the same bytes
    let again = f.lock(&["--allow-untrusted"]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(fs_err::read_to_string(f.lock_path()).unwrap(), written);

    // --check: up to date, then stale after the profile changes, and nothing is written
    let check = f.lock(&["--allow-untrusted", "--check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    assert!(text(&check.stdout).contains("is up to date"));
    f.write_profile(&["nginx"]);
    let check = f.lock(&["--allow-untrusted", "--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check.stderr));
    let report = text(&check.stdout);
    assert!(report.contains("is stale:"), "{report}");
    assert!(report.contains("profile inputs changed"), "{report}");
    assert!(
        report.contains("package removed: openrc-0.52.1-r2"),
        "{report}"
    );
    assert_eq!(fs_err::read_to_string(f.lock_path()).unwrap(), written);
}

#[test]
fn check_without_a_lock_says_it_is_missing() {
    let f = Fixture::new(&repo_index(), &["musl"]);
    let out = f.lock(&["--allow-untrusted", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("is missing"),
        "{}",
        text(&out.stdout)
    );
    assert!(!f.lock_path().exists());
}

#[test]
fn output_goes_where_asked() {
    let f = Fixture::new(&repo_index(), &["musl"]);
    let target = f.dir.path().join("elsewhere.lock");
    let out = f.lock(&["--allow-untrusted", "--output", target.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(target.is_file());
    assert!(!f.lock_path().exists());
}

#[test]
fn an_unsigned_index_is_refused_without_allow_untrusted() {
    let f = Fixture::new(&repo_index(), &["musl"]);
    let out = f.lock(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("APKINDEX.tar.gz`: signature"), "{err}");
    assert!(err.contains("hint: trust its key"), "{err}");
    assert!(!f.lock_path().exists());
}

#[test]
fn an_unsatisfiable_profile_names_the_chain_and_writes_nothing() {
    let f = Fixture::new(&repo_index(), &["nginx", "old", "nosuch"]);
    let out = f.lock(&["--allow-untrusted"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("unable to select packages:"), "{err}");
    assert!(
        err.contains("nosuch (no such package):\n    required by: world[nosuch]"),
        "{err}"
    );
    assert!(err.contains("breaks: old-1.0-r0[!nginx]"), "{err}");
    assert!(!f.lock_path().exists());
}

#[test]
fn a_bad_profile_is_an_error_naming_the_file() {
    let f = Fixture::new(&repo_index(), &["musl"]);
    fs_err::write(f.profile(), "[image]\nname = \"web\"\n").unwrap();
    let out = f.lock(&["--allow-untrusted"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("web.toml:1:1: missing key `version`"), "{err}");
}

/// Serves `body` at `/repo/x86_64/APKINDEX.tar.gz` for `requests` requests, then stops.
fn serve(body: Vec<u8>, requests: usize) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/repo", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let ok =
                String::from_utf8_lossy(&head).starts_with("GET /repo/x86_64/APKINDEX.tar.gz ");
            let (status, payload): (&str, &[u8]) = if ok {
                ("200 OK", &body)
            } else {
                ("404 Not Found", b"")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                payload.len()
            );
            let _ = stream.write_all(payload);
        }
    });
    (url, handle)
}

#[test]
fn a_lock_resolves_offline_from_the_cache() {
    let f = Fixture::new(&repo_index(), &["nginx"]);
    // the index, then the 4 packages, which the mirror does not have (404)
    let (url, server) = serve(index_bytes(&repo_index()), 5);
    let cache = f.dir.path().join("cache");
    let profile = f.profile();
    let args = |extra: &[&'static str]| {
        let mut a: Vec<String> = vec![
            "lock".into(),
            profile.display().to_string(),
            "--cache-dir".into(),
            cache.display().to_string(),
            "--repository".into(),
            url.clone(),
            "--allow-untrusted".into(),
        ];
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        basalt(&refs)
    };
    let out = run(args(&[]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("note: 4 of 4 packages locked without a datahash"),
        "{}",
        text(&out.stderr)
    );
    server.join().unwrap();
    // the server is gone: only the cache can answer
    let out = run(args(&["--offline", "--check"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let lock =
        Lockfile::parse(&fs_err::read_to_string(f.lock_path()).unwrap(), "web.lock").unwrap();
    assert_eq!(lock.repositories[0].url, url);
    assert_eq!(lock.packages.len(), 4);
}

#[test]
fn the_docker_host_profile_locks_as_apk_resolves_it() {
    let test = "the_docker_host_profile_locks_as_apk_resolves_it";
    let (Some(data), Some(apk)) = (support::shared_data(test), support::alpine_apk(test)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut repos = Vec::new();
    for (repo, file) in [
        ("main", "v3.19-main-x86_64.APKINDEX.tar.gz"),
        ("community", "v3.19-community-x86_64.APKINDEX.tar.gz"),
    ] {
        let arch = dir.path().join(repo).join("x86_64");
        fs_err::create_dir_all(&arch).unwrap();
        std::os::unix::fs::symlink(
            data.join("alpine/indexes").join(file),
            arch.join("APKINDEX.tar.gz"),
        )
        .unwrap();
        repos.push(dir.path().join(repo).display().to_string());
    }
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/docker-host.toml");
    let lock_path = dir.path().join("docker-host.lock");
    let cache = dir.path().join("cache");
    let out = basalt(&[
        "lock",
        profile.to_str().unwrap(),
        "--repository",
        &repos[0],
        "--repository",
        &repos[1],
        "--cache-dir",
        cache.to_str().unwrap(),
        "--output",
        lock_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // the directories hold only the indexes: one note, and no datahash
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("note: ") && stderr.contains("packages locked without a datahash"),
        "{stderr}"
    );
    let lock = Lockfile::parse(
        &fs_err::read_to_string(&lock_path).unwrap(),
        "docker-host.lock",
    )
    .unwrap();
    assert!(lock.packages.iter().all(|p| p.datahash.is_none()));
    let key = "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub";
    assert!(
        lock.repositories
            .iter()
            .all(|r| r.key.as_deref() == Some(key))
    );
    assert!(
        lock.packages
            .iter()
            .all(|p| p.key.as_deref() == Some(key) && p.checksum.starts_with("Q1"))
    );
    assert_eq!(
        lock.repositories[0].description.as_deref(),
        Some("v3.19.1-643-gec825d20535")
    );
    let docker = lock.packages.iter().find(|p| p.name == "docker").unwrap();
    assert_eq!(docker.version, "25.0.5-r1");
    assert!(docker.repository.ends_with("/community"));

    // the same packages, in the same order, as the real apk on an empty root
    let install = basalt::profile::load(&profile).unwrap().packages.install;
    let root = dir.path().join("root");
    assert!(
        Command::new(data.join("../tools/alpine-apk-root"))
            .arg(&root)
            .status()
            .unwrap()
            .success()
    );
    let apk_out = Command::new(apk)
        .arg("--root")
        .arg(&root)
        .args([
            "--arch",
            "x86_64",
            "--no-cache",
            "--repository",
            &repos[0],
            "--repository",
            &repos[1],
        ])
        .args(["add", "--simulate"])
        .args(&install)
        .output()
        .unwrap();
    let apk_ids: Vec<String> = text(&apk_out.stdout)
        .lines()
        .filter_map(|l| {
            let (name, version) = l.split_once(") Installing ")?.1.split_once(" (")?;
            Some(format!("{name}-{}", version.trim_end_matches(')')))
        })
        .collect();
    let ours: Vec<String> = lock.packages.iter().map(|p| p.id()).collect();
    assert!(ours.len() > 50, "{ours:?}");
    assert_eq!(ours, apk_ids);
}
