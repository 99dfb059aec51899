//! The shipped profiles as a new user meets them: they target an Alpine release that is
//! supported (on a date given here, never read from the clock), their repositories are signed
//! by keys basalt trusts without being told, and the images they build audit clean at `high`
//! against their own profile.
//!
//! Alpine 3.23's packages are only on the mirror, which the tests cannot reach. The images
//! here are built with each shipped profile as it is, from the real Alpine packages of the
//! shared offline repository plus, written in code, what that repository lacks: the 3.23
//! release files (`alpine-release`) and the packages of the firewall, Docker, auditd and
//! syslog-ng, with the files, modes and OpenRC scripts Alpine's packages ship.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use basalt::apk::Keyring;
use basalt::posture::audit::{ALPINE_RELEASES, days_from_date};
use support::apk::{ApkBuilder, BuiltApk, TestKey, write_repository};
use support::boot::show;

const BIN: &str = env!("CARGO_BIN_EXE_basalt");

/// The day the shipped profiles were last moved to a new release: they must be supported then
/// with more than the audit's 90 days of warning left.
const CHECKED_ON: &str = "2026-12-07";

/// The release the fixture stands in for.
const RELEASE: &str = "3.23.2";

fn epoch(date: &str) -> String {
    (days_from_date(date).unwrap() * 86_400).to_string()
}

fn profiles() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut list: Vec<PathBuf> = fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    list.sort();
    list
}

/// `https://dl-cdn.alpinelinux.org/alpine/v3.23/main` → `3.23`.
fn branch_of(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://dl-cdn.alpinelinux.org/alpine/v")?;
    let (branch, repo) = rest.split_once('/')?;
    matches!(repo, "main" | "community").then_some(branch)
}

#[test]
fn shipped_profiles_use_alpines_mirror_for_a_supported_release() {
    let today = days_from_date(CHECKED_ON).unwrap();
    let list = profiles();
    assert!(list.len() >= 2, "{list:?}");
    for path in list {
        let p = basalt::profile::load(&path).unwrap();
        assert!(!p.repositories.urls.is_empty());
        for repo in &p.repositories.urls {
            let branch = branch_of(&repo.url).unwrap_or_else(|| {
                panic!(
                    "{}: `{}` is not a repository of Alpine's mirror",
                    path.display(),
                    repo.url
                )
            });
            let (_, eol) = ALPINE_RELEASES
                .iter()
                .find(|(b, _)| *b == branch)
                .unwrap_or_else(|| panic!("{}: v{branch} is not a known release", path.display()));
            let left = days_from_date(eol).unwrap() - today;
            assert!(
                left > 90,
                "{}: Alpine v{branch} is supported until {eol}, {left} days after {CHECKED_ON}",
                path.display()
            );
            assert_eq!(branch, "3.23", "{}", path.display());
        }
        // Alpine's keys are built in: a shipped profile names none of its own.
        assert!(p.repositories.keys.is_empty(), "{}", path.display());
    }
    // The check can fail: the offline profile's release has ended.
    let offline = basalt::profile::load(&support::offline_profile()).unwrap();
    let branch = branch_of(&offline.repositories.urls[0].url).unwrap();
    let (_, eol) = ALPINE_RELEASES.iter().find(|(b, _)| *b == branch).unwrap();
    assert!(days_from_date(eol).unwrap() <= today);
}

/// The keys `alpine-keys` installs for x86_64 (the architecture of the shipped profiles), the
/// last of which signs the x86_64 indexes and packages of every release since 3.15, are
/// built into basalt.
#[test]
fn alpines_x86_64_signing_keys_are_built_in() {
    let ring = Keyring::alpine();
    let names: Vec<&str> = ring.names().collect();
    for id in ["4a6a0840", "5261cecb", "6165ee59"] {
        let name = format!("alpine-devel@lists.alpinelinux.org-{id}.rsa.pub");
        assert!(names.contains(&name.as_str()), "{name} is not built in");
    }
    for path in profiles() {
        let p = basalt::profile::load(&path).unwrap();
        assert_eq!(p.image.arch, "x86_64", "{}", path.display());
    }
    let Some(data) = support::shared_data("alpines_x86_64_signing_keys_are_built_in") else {
        return;
    };
    // A real index signed by 6165ee59 verifies with nothing but the built-in keys.
    let index = data.join("alpine/repos/v3.19-boot/x86_64/APKINDEX.tar.gz");
    let out = Command::new(BIN)
        .args(["apk", "index"])
        .arg(&index)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"),
        "{}",
        show(&out)
    );
}

/// An executable of a fixture package.
const ELF: &[u8] = b"\x7fELF fixture\n";

fn openrc_script(service: &str) -> Vec<u8> {
    format!("#!/sbin/openrc-run\ndescription=\"{service}\"\ncommand=/usr/sbin/{service}\n")
        .into_bytes()
}

/// `NAME-openrc`: the init script of `NAME`, installed with openrc (`install_if`).
fn openrc(name: &str, version: &str, services: &[&str], conf: &[&str]) -> ApkBuilder {
    let mut b = ApkBuilder::new(&format!("{name}-openrc"), version)
        .origin(name)
        .install_if("openrc")
        .install_if(&format!("{name}={version}"))
        .dir("etc", 0o755)
        .dir("etc/init.d", 0o755);
    for s in services {
        b = b.file(&format!("etc/init.d/{s}"), &openrc_script(s), 0o755);
    }
    if !conf.is_empty() {
        b = b.dir("etc/conf.d", 0o755);
        for c in conf {
            b = b.file(&format!("etc/conf.d/{c}"), b"# options\n", 0o644);
        }
    }
    b
}

fn binaries(mut b: ApkBuilder, dir: &str, names: &[&str]) -> ApkBuilder {
    b = b.dir("usr", 0o755).dir(dir, 0o755);
    for n in names {
        b = b.file(&format!("{dir}/{n}"), ELF, 0o755);
    }
    b.depend("so:libc.musl-x86_64.so.1")
}

/// What the shared repository lacks, as Alpine 3.23 packages it.
fn fixture_packages() -> Vec<BuiltApk> {
    let key = TestKey::primary();
    let release = format!("{RELEASE}-r0");
    let os_release = format!(
        "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID={RELEASE}\nPRETTY_NAME=\"Alpine Linux v3.23\"\n\
         HOME_URL=\"https://alpinelinux.org/\"\nBUG_REPORT_URL=\"https://gitlab.alpinelinux.org/alpine/aports/-/issues\"\n"
    );
    let list = vec![
        ApkBuilder::new("alpine-release", &release)
            .origin("alpine-base")
            .depend("alpine-keys")
            .dir("etc", 0o755)
            .file(
                "etc/alpine-release",
                format!("{RELEASE}\n").as_bytes(),
                0o644,
            )
            .file("etc/os-release", os_release.as_bytes(), 0o644)
            .file(
                "etc/issue",
                b"Welcome to Alpine Linux 3.23\nKernel \\r on \\m (\\l)\n\n",
                0o644,
            ),
        binaries(
            ApkBuilder::new("nftables", "1.1.5-r0"),
            "usr/sbin",
            &["nft"],
        )
        .dir("etc", 0o755)
        .dir("etc/nftables.d", 0o755)
        .file(
            "etc/nftables.nft",
            b"#!/usr/sbin/nft -f\nflush ruleset\ninclude \"/etc/nftables.d/*.nft\"\n",
            0o755,
        ),
        openrc("nftables", "1.1.5-r0", &["nftables"], &["nftables"]),
        binaries(
            ApkBuilder::new("iptables", "1.8.11-r1"),
            "usr/sbin",
            &["xtables-nft-multi"],
        )
        .symlink("usr/sbin/iptables", "xtables-nft-multi"),
        openrc(
            "iptables",
            "1.8.11-r1",
            &["iptables", "ip6tables"],
            &["iptables", "ip6tables"],
        ),
        binaries(
            ApkBuilder::new("audit", "4.0.5-r0"),
            "usr/sbin",
            &["auditd", "auditctl", "augenrules"],
        )
        .dir("etc", 0o755)
        .dir("etc/audit", 0o750)
        .file(
            "etc/audit/auditd.conf",
            b"log_file = /var/log/audit/audit.log\n",
            0o640,
        )
        .dir("etc/audit/rules.d", 0o750),
        openrc("audit", "4.0.5-r0", &["auditd"], &["auditd"]),
        binaries(
            ApkBuilder::new("syslog-ng", "4.10.1-r0"),
            "usr/sbin",
            &["syslog-ng"],
        )
        .dir("etc", 0o755)
        .dir("etc/syslog-ng", 0o755)
        .file(
            "etc/syslog-ng/syslog-ng.conf",
            b"@version: 4.10\nsource s_sys { system(); internal(); };\n",
            0o644,
        ),
        openrc("syslog-ng", "4.10.1-r0", &["syslog-ng"], &["syslog-ng"]),
        ApkBuilder::new("ca-certificates", "20250911-r0")
            .depend("ca-certificates-bundle")
            .dir("usr", 0o755)
            .dir("usr/share", 0o755)
            .dir("usr/share/ca-certificates", 0o755),
        ApkBuilder::new("docker", "28.5.2-r1")
            .depend("docker-engine")
            .depend("docker-cli"),
        binaries(
            ApkBuilder::new("docker-engine", "28.5.2-r1").origin("docker"),
            "usr/bin",
            &["dockerd", "docker-proxy", "docker-init"],
        )
        .depend("containerd")
        .depend("runc")
        .depend("iptables"),
        openrc("docker", "28.5.2-r1", &["docker"], &["docker"])
            .install_if("docker-engine=28.5.2-r1"),
        binaries(
            ApkBuilder::new("docker-cli", "28.5.2-r1").origin("docker"),
            "usr/bin",
            &["docker"],
        ),
        binaries(
            ApkBuilder::new("containerd", "2.1.5-r0"),
            "usr/bin",
            &["containerd", "containerd-shim-runc-v2", "ctr"],
        ),
        openrc("containerd", "2.1.5-r0", &["containerd"], &[]),
        binaries(ApkBuilder::new("runc", "1.3.3-r0"), "usr/bin", &["runc"]),
    ];
    list.iter().map(|b| b.build_signed(key)).collect()
}

struct Fixture {
    dir: tempfile::TempDir,
    boot: PathBuf,
}

impl Fixture {
    fn new(test: &str) -> Option<Fixture> {
        let data = support::shared_data(test)?;
        let dir = tempfile::tempdir().unwrap();
        write_repository(
            &dir.path().join("repo"),
            "x86_64",
            &fixture_packages(),
            TestKey::primary(),
        );
        fs_err::create_dir_all(dir.path().join("keys")).unwrap();
        TestKey::primary().write_public(&dir.path().join("keys"));
        let out = Command::new(BIN)
            .arg("keygen")
            .arg("--out")
            .arg(dir.path().join("release"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        Some(Fixture {
            dir,
            boot: data.join("alpine/repos/v3.19-boot"),
        })
    }

    fn basalt(&self, args: &[&std::ffi::OsStr], date: &str) -> Output {
        Command::new(BIN)
            .args(args)
            .env("SOURCE_DATE_EPOCH", epoch(date))
            .output()
            .unwrap()
    }

    /// Builds `profile` from the shared repository and the fixture; returns the image.
    fn build(&self, profile: &Path) -> PathBuf {
        let name = profile.file_stem().unwrap().to_str().unwrap();
        let out_dir = self.dir.path().join(format!("{name}-out"));
        let d = self.dir.path();
        let args: Vec<std::ffi::OsString> = vec![
            "build".into(),
            profile.into(),
            "--repository".into(),
            self.boot.clone().into(),
            "--repository".into(),
            d.join("repo").into(),
            "--keys".into(),
            d.join("keys").into(),
            "--offline".into(),
            "--cache-dir".into(),
            d.join("cache").into(),
            "--out".into(),
            out_dir.clone().into(),
            "--sign-key".into(),
            d.join("release.key").into(),
        ];
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let out = self.basalt(&args, CHECKED_ON);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", show(&out));
        fs_err::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
            .unwrap()
    }

    /// `basalt audit IMAGE --profile PROFILE --format json --fail-on high` on `date`.
    fn audit(&self, image: &Path, profile: &Path, date: &str) -> (i32, serde_json::Value) {
        let out = self.basalt(
            &[
                "audit".as_ref(),
                image.as_os_str(),
                "--profile".as_ref(),
                profile.as_os_str(),
                "--format".as_ref(),
                "json".as_ref(),
                "--fail-on".as_ref(),
                "high".as_ref(),
            ],
            date,
        );
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
        (out.status.code().unwrap(), json)
    }
}

fn findings_at_or_above(json: &serde_json::Value, severities: &[&str]) -> Vec<String> {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| severities.contains(&f["severity"].as_str().unwrap()))
        .map(|f| format!("{} {}: {}", f["check"], f["path"], f["evidence"]))
        .collect()
}

#[test]
fn default_profiles_build_images_that_audit_clean_at_high() {
    let test = "default_profiles_build_images_that_audit_clean_at_high";
    let Some(f) = Fixture::new(test) else {
        return;
    };
    for profile in profiles() {
        let image = f.build(&profile);
        let (code, json) = f.audit(&image, &profile, CHECKED_ON);
        assert_eq!(json["release"], RELEASE);
        let high = findings_at_or_above(&json, &["critical", "high"]);
        assert_eq!(
            (code, high),
            (0, Vec::<String>::new()),
            "{}: {json:#}",
            profile.display()
        );
        // Below `high`: what each profile leaves to the operator.
        let below: Vec<&str> = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["check"].as_str().unwrap())
            .collect();
        let expected: &[&str] = match profile.file_name().unwrap().to_str().unwrap() {
            // No auditd and no log host: the minimal host keeps its logs.
            "minimal.toml" => &["audit-auth-events", "auditd-not-enabled", "log-forwarding"],
            // No authorization plugin, rootful, dockerd's default ulimits.
            "docker-host.toml" => &[
                "docker-authorization",
                "docker-default-ulimits",
                "docker-rootful",
            ],
            other => panic!("{other}: say what its image's audit finds below high"),
        };
        assert_eq!(below, expected, "{}: {json:#}", profile.display());
        // In the last 90 days of support the audit warns (low), and passes at `high`.
        let (code, json) = f.audit(&image, &profile, "2027-09-01");
        assert_eq!(code, 0);
        assert!(
            json["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["check"] == "os-release-ending" && f["severity"] == "low"),
            "{json:#}"
        );
        // The same image after Alpine 3.23's end of support fails on its release.
        let (code, json) = f.audit(&image, &profile, "2027-11-02");
        assert_eq!(code, 1);
        let high = findings_at_or_above(&json, &["critical", "high"]);
        assert_eq!(high.len(), 1, "{high:?}");
        assert!(
            high[0].starts_with("\"os-release-unsupported\""),
            "{high:?}"
        );
    }
}
