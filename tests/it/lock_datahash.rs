//! The `datahash` of every locked package: read from the package files of a fixture
//! repository and of the real boot repository, left out (with one note) when a directory
//! holds only the index, and checked by `basalt build --locked`.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use basalt::build::lock::Lockfile;
use support::apk::{ApkBuilder, BuiltApk, TestKey, write_repository};

const BIN: &str = env!("CARGO_BIN_EXE_basalt");

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(args: &[&str], home: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", home)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("run basalt")
}

/// The `datahash = …` line of a `.PKGINFO`.
fn pkginfo_datahash(pkginfo: &str) -> String {
    pkginfo
        .lines()
        .find_map(|l| l.strip_prefix("datahash = "))
        .expect("a datahash line")
        .to_owned()
}

fn read_lock(path: &Path) -> Lockfile {
    Lockfile::parse(&fs_err::read_to_string(path).unwrap(), "test.lock").unwrap()
}

struct Fixture {
    dir: tempfile::TempDir,
    packages: Vec<BuiltApk>,
}

impl Fixture {
    /// A signed repository of two packages (`app` needs `lib`) and a profile installing `app`.
    fn new() -> Fixture {
        let key = TestKey::primary();
        let lib = ApkBuilder::new("lib", "1.0-r0")
            .dir("usr", 0o755)
            .dir("usr/lib", 0o755)
            .file("usr/lib/libx.so.1", b"library bytes\n", 0o755)
            .build_signed(key);
        let app = ApkBuilder::new("app", "2.0-r1")
            .depend("lib")
            .dir("usr", 0o755)
            .dir("usr/bin", 0o755)
            .file("usr/bin/app", b"#!/bin/sh\necho app\n", 0o755)
            .build_signed(key);
        let dir = tempfile::tempdir().unwrap();
        let packages = vec![lib, app];
        write_repository(&dir.path().join("repo"), "x86_64", &packages, key);
        fs_err::create_dir_all(dir.path().join("keys")).unwrap();
        key.write_public(&dir.path().join("keys"));
        let f = Fixture { dir, packages };
        let profile = format!(
            "[image]\nname = \"web\"\nversion = \"1.0.0\"\narch = \"x86_64\"\n\n\
             [repositories]\nurls = [\"{}\"]\nkeys = []\n\n[packages]\ninstall = [\"app\"]\n\n\
             [services]\nsysinit = []\nboot = []\ndefault = []\nshutdown = []\n",
            f.repo().display(),
        );
        fs_err::write(f.profile(), profile).unwrap();
        f
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn profile(&self) -> PathBuf {
        self.dir.path().join("web.toml")
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.path().join("web.lock")
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn keys(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    fn basalt(&self, command: &str, extra: &[&str]) -> Output {
        let (profile, cache, keys) = (self.profile(), self.cache(), self.keys());
        let mut args = vec![
            command,
            profile.to_str().unwrap(),
            "--offline",
            "--cache-dir",
            cache.to_str().unwrap(),
            "--keys",
            keys.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(&args, self.dir.path())
    }
}

#[test]
fn a_lock_records_the_datahash_of_every_package_file() {
    let f = Fixture::new();
    let out = f.basalt("lock", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    let lock = read_lock(&f.lock_path());
    assert_eq!(lock.packages.len(), 2);
    for p in &lock.packages {
        let built = f.packages.iter().find(|b| b.name == p.name).unwrap();
        assert_eq!(p.checksum, built.identity);
        assert_eq!(p.datahash.as_deref(), Some(built.datahash.as_str()));
        assert_eq!(
            p.datahash.as_deref(),
            Some(pkginfo_datahash(&built.pkginfo).as_str())
        );
    }
    assert!(
        fs_err::read_to_string(f.lock_path())
            .unwrap()
            .contains(&format!("datahash = \"{}\"", f.packages[0].datahash))
    );
    // `--check` compares with what the index says: the lock is up to date
    let check = f.basalt("lock", &["--check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
}

#[test]
fn a_lock_without_package_files_leaves_the_datahash_out_with_one_note() {
    let f = Fixture::new();
    for p in &f.packages {
        fs_err::remove_file(f.repo().join("x86_64").join(p.file_name())).unwrap();
    }
    let out = f.basalt("lock", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("note: 2 of 2 packages locked without a datahash"),
        "{stderr}"
    );
    let lock = read_lock(&f.lock_path());
    assert!(lock.packages.iter().all(|p| p.datahash.is_none()));
    assert!(
        !fs_err::read_to_string(f.lock_path())
            .unwrap()
            .contains("datahash")
    );

    let quiet = f.basalt("lock", &["--no-datahash"]);
    assert_eq!(quiet.status.code(), Some(0), "{}", text(&quiet.stderr));
    assert!(text(&quiet.stderr).is_empty(), "{}", text(&quiet.stderr));
}

#[test]
fn a_package_file_that_is_not_the_indexed_one_fails_the_lock() {
    let f = Fixture::new();
    // same name, version and size class, other contents: its identity is not the index's
    let other = ApkBuilder::new("lib", "1.0-r0")
        .dir("usr", 0o755)
        .dir("usr/lib", 0o755)
        .file("usr/lib/libx.so.1", b"LIBRARY BYTES\n", 0o755)
        .build_signed(TestKey::primary());
    let path = f.repo().join("x86_64").join(other.file_name());
    fs_err::write(&path, &other.bytes).unwrap();
    let out = f.basalt("lock", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("lib-1.0-r0.apk"), "{stderr}");
    assert!(!f.lock_path().exists());
}

#[test]
fn a_locked_build_refuses_a_package_whose_datahash_is_not_the_locked_one() {
    let f = Fixture::new();
    let out = f.basalt("lock", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let built = f.basalt(
        "build",
        &[
            "--locked",
            "--out",
            f.dir.path().join("out").to_str().unwrap(),
        ],
    );
    assert_eq!(built.status.code(), Some(0), "{}", text(&built.stderr));

    let lib = &f.packages[0];
    let forged = "ab".repeat(32);
    let lock = fs_err::read_to_string(f.lock_path()).unwrap();
    let tampered = lock.replace(&lib.datahash, &forged);
    assert_ne!(tampered, lock);
    fs_err::write(f.lock_path(), tampered).unwrap();
    let out_dir = f.dir.path().join("out2");
    let refused = f.basalt("build", &["--locked", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("package `lib-1.0-r0`"), "{stderr}");
    assert!(stderr.contains(&lib.datahash), "{stderr}");
    assert!(stderr.contains(&forged), "{stderr}");
    assert!(!out_dir.exists());
}

/// Serves the files of `dir` at `http://…/repo/` for `requests` connections.
fn serve(dir: PathBuf, requests: usize) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
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
            let head = String::from_utf8_lossy(&head).into_owned();
            let body = head
                .strip_prefix("GET /repo/")
                .and_then(|rest| rest.split_once(' '))
                .filter(|(path, _)| !path.contains(".."))
                .and_then(|(path, _)| fs_err::read(dir.join(path)).ok());
            let (status, payload) = match &body {
                Some(bytes) => ("200 OK", bytes.as_slice()),
                None => ("404 Not Found", &b""[..]),
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
fn a_lock_reads_datahashes_from_a_mirror_and_then_from_the_cache() {
    let f = Fixture::new();
    // the index and the two packages
    let (url, server) = serve(f.repo(), 3);
    let (profile, cache, keys, lock_path) = (f.profile(), f.cache(), f.keys(), f.lock_path());
    let args = |offline: bool| {
        let mut a = vec![
            "lock",
            profile.to_str().unwrap(),
            "--repository",
            url.as_str(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--keys",
            keys.to_str().unwrap(),
        ];
        if offline {
            a.push("--offline");
        }
        a
    };
    let out = run(&args(false), f.dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    server.join().unwrap();
    let online = fs_err::read_to_string(&lock_path).unwrap();
    let lock = read_lock(&lock_path);
    for p in &lock.packages {
        let built = f.packages.iter().find(|b| b.name == p.name).unwrap();
        assert_eq!(p.datahash.as_deref(), Some(built.datahash.as_str()));
        assert_eq!(p.repository, url);
    }
    // the mirror is gone: the cache has the index and the packages
    fs_err::remove_file(&lock_path).unwrap();
    let out = run(&args(true), f.dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    assert_eq!(fs_err::read_to_string(&lock_path).unwrap(), online);
}

#[test]
fn a_lock_of_the_boot_repository_records_the_real_datahashes() {
    let test = "a_lock_of_the_boot_repository_records_the_real_datahashes";
    let Some(data) = support::shared_data(test) else {
        return;
    };
    let repo = data.join("alpine/repos/v3.19-boot");
    let dir = tempfile::tempdir().unwrap();
    let profile = support::offline_profile();
    let lock_path = dir.path().join("minimal.lock");
    let cache = dir.path().join("cache");
    let out = run(
        &[
            "lock",
            profile.to_str().unwrap(),
            "--repository",
            repo.to_str().unwrap(),
            "--offline",
            "--cache-dir",
            cache.to_str().unwrap(),
            "--output",
            lock_path.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    let lock = read_lock(&lock_path);
    assert!(lock.packages.len() > 10, "{:?}", lock.packages);
    for p in &lock.packages {
        let file = repo.join("x86_64").join(format!("{}.apk", p.id()));
        let inspect = run(
            &["apk", "inspect", file.to_str().unwrap(), "--format", "json"],
            dir.path(),
        );
        assert_eq!(inspect.status.code(), Some(0), "{}", text(&inspect.stderr));
        let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
        assert_eq!(json["datahash_checked"], serde_json::Value::Bool(true));
        let datahash = json["datahash"].as_str().unwrap();
        assert_eq!(datahash.len(), 64);
        assert_eq!(p.datahash.as_deref(), Some(datahash), "{}", p.id());
    }
}
