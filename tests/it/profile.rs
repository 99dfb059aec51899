//! Profiles: every shipped profile validates; invalid ones fail with file, line, column and a
//! hint; absent sections take safe defaults.

use std::path::{Path, PathBuf};

use basalt::policy::Rule;
use basalt::profile::{self, AtBoot, Diagnostic, Profile, Runlevel, Transport};

const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBERERERERERERERERERERERERERERERERERERERERER a@example.invalid";

const HEAD: &str = r#"[image]
name = "t"
version = "1"
arch = "x86_64"

[repositories]
urls = ["https://dl-cdn.alpinelinux.org/alpine/v3.19/main"]
"#;

fn with_head(rest: &str) -> String {
    format!("{HEAD}\n{rest}")
}

fn ok(source: &str) -> Profile {
    match profile::parse(source, Path::new("p.toml")) {
        Ok(p) => p,
        Err(e) => panic!("expected a valid profile, got:\n{e}"),
    }
}

#[track_caller]
fn errors(source: &str) -> Vec<Diagnostic> {
    match profile::parse(source, Path::new("dir/p.toml")) {
        Ok(_) => panic!("expected an invalid profile:\n{source}"),
        Err(e) => {
            assert!(matches!(e, profile::Error::Invalid { .. }));
            e.diagnostics().to_vec()
        }
    }
}

/// The one diagnostic of `source`, checked to sit at `line`:`column`.
#[track_caller]
fn one_error(source: &str, line: usize, column: usize) -> Diagnostic {
    let diags = errors(source);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    let d = diags.into_iter().next().unwrap();
    assert_eq!(d.file, PathBuf::from("dir/p.toml"));
    assert_eq!((d.line, d.column), (line, column), "{d}");
    d
}

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles")
}

#[test]
fn every_shipped_profile_validates_and_renders() {
    let mut seen = 0;
    let mut entries: Vec<_> = fs_err::read_dir(profiles_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    entries.sort();
    for path in entries {
        let p = profile::load(&path).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
        let files = basalt::build::render::render_profile(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(files.iter().any(|f| f.path == "/etc/fstab"));
        seen += 1;
    }
    assert!(seen >= 2, "expected docker-host.toml and minimal.toml");
    // The profile the tests build offline validates and renders too.
    let offline = profile::load(&support::offline_profile()).unwrap();
    basalt::build::render::render_profile(&offline).unwrap();
}

#[test]
fn docker_host_profile_is_the_hardened_host() {
    let p = profile::load(&profiles_dir().join("docker-host.toml")).unwrap();
    assert!(p.packages.installs("docker") && p.packages.installs("audit"));
    assert!(
        p.repositories
            .urls
            .iter()
            .any(|r| r.url.ends_with("/v3.23/community"))
    );
    let docker = p.group("docker").unwrap();
    assert_eq!(
        docker
            .members
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["alice", "deploy"]
    );
    let fw = p.firewall.as_ref().unwrap();
    assert!(fw.tcp.contains(&22) && !fw.trusted.is_empty());
    assert_eq!(p.logging.as_ref().unwrap().transport, Transport::Tls);
    assert_eq!(p.verify.at_boot, AtBoot::Enforce);
    assert_eq!(
        p.services.runlevel_of("basalt-verify"),
        Some(Runlevel::Boot)
    );
    assert_eq!(
        p.services.runlevel_of("sshd-keygen"),
        Some(Runlevel::Default)
    );
    let policy = p.runtime_policy();
    assert_eq!(policy.rule(b"/var/lib/docker/overlay2/x"), Rule::State);
    assert_eq!(policy.rule(b"/usr/bin/dockerd"), Rule::Exact);
    for w in basalt::profile::hardening::DOCKER_WATCHES
        .iter()
        .filter(|w| w.rendered)
    {
        let path = w.path;
        assert!(
            p.audit
                .as_ref()
                .unwrap()
                .watches
                .iter()
                .any(|w| w.path == path),
            "{path}"
        );
    }
}

#[test]
fn minimal_profile_is_an_ssh_host_behind_a_firewall() {
    let p = profile::load(&profiles_dir().join("minimal.toml")).unwrap();
    assert_eq!(
        p.packages.install,
        ["alpine-base", "openssh-server", "chrony", "nftables"]
    );
    let fw = p.firewall.as_ref().unwrap();
    assert!(!fw.trusted.is_empty() && fw.tcp.contains(&22));
    assert_eq!(p.services.runlevel_of("nftables"), Some(Runlevel::Boot));
    assert!(p.audit.is_none() && p.docker.is_none());
    assert!(p.ssh.is_some());
}

/// The offline profile builds from the shared v3.19 boot repository, which has neither
/// nftables, audit, docker nor syslog-ng: the shipped minimal profile without its firewall.
#[test]
fn offline_profile_is_the_minimal_host_without_its_firewall() {
    let offline = profile::load(&support::offline_profile()).unwrap();
    let shipped = profile::load(&profiles_dir().join("minimal.toml")).unwrap();
    assert_eq!(
        offline.packages.install,
        ["alpine-base", "openssh-server", "chrony"]
    );
    assert!(offline.firewall.is_none() && offline.audit.is_none() && offline.docker.is_none());
    assert!(
        offline
            .repositories
            .urls
            .iter()
            .all(|r| r.url.ends_with("/v3.19/main"))
    );
    assert_eq!(offline.image, shipped.image);
    assert_eq!(offline.users, shipped.users);
    assert_eq!(offline.ssh, shipped.ssh);
    assert_eq!(offline.filesystem, shipped.filesystem);
    assert_eq!(offline.network, shipped.network);
    assert_eq!(offline.boot, shipped.boot);
    let without_firewall: Vec<(Runlevel, &str)> = shipped
        .services
        .enabled()
        .filter(|(_, s)| *s != "nftables")
        .collect();
    assert_eq!(
        offline.services.enabled().collect::<Vec<_>>(),
        without_firewall
    );
}

#[test]
fn absent_sections_take_safe_defaults() {
    let p = ok(&with_head(&format!(
        "[packages]\ninstall = [\"alpine-base\", \"openssh-server\"]\n\n[[users]]\nname = \"a\"\nuid = 1000\nssh_keys = [\"{KEY_A}\"]\n"
    )));
    let ssh = p.ssh.as_ref().expect("sshd installed → ssh settings");
    assert_eq!(ssh.port, 22);
    assert_eq!(ssh.allow_users.iter().collect::<Vec<_>>(), ["a"]);
    assert!(!ssh.tcp_forwarding);
    assert!(p.filesystem.read_only_root);
    assert!(p.runtime_policy().state.contains(&"/var/lib".to_owned()));
    assert_eq!(p.services.runlevel_of("sshd"), Some(Runlevel::Default));
    assert_eq!(p.services.runlevel_of("syslog"), Some(Runlevel::Boot));
    assert_eq!(p.verify.at_boot, AtBoot::Off);
    assert_eq!(
        p.sysctl.get("kernel.kptr_restrict").map(String::as_str),
        Some("2")
    );
    assert_eq!(
        p.sysctl.get("net.ipv4.ip_forward").map(String::as_str),
        Some("0")
    );
    // Docker's group exists, empty, when no one is declared a member.
    let p = ok(&with_head(
        "[packages]\ninstall = [\"alpine-base\", \"docker\"]\n",
    ));
    let docker = p
        .group("docker")
        .expect("the docker group is always declared");
    assert!(docker.members.is_empty());
    // Without openssh, no ssh settings at all.
    let p = ok(&with_head("[packages]\ninstall = [\"alpine-base\"]\n"));
    assert!(p.ssh.is_none());
}

#[test]
fn bad_type_is_located() {
    let src = with_head("[packages]\ninstall = \"alpine-base\"\n");
    let d = one_error(&src, 10, 11);
    assert!(d.message.starts_with("invalid type: string"), "{d}");
}

#[test]
fn unknown_key_gets_a_did_you_mean_hint() {
    let src = with_head("[packages]\ninstal = [\"alpine-base\"]\n");
    let d = one_error(&src, 10, 1);
    assert_eq!(d.message, "unknown key `instal`");
    assert_eq!(d.hint.as_deref(), Some("did you mean `install`?"));
    assert_eq!(
        d.to_string(),
        "dir/p.toml:10:1: unknown key `instal`\n   |\n10 | instal = [\"alpine-base\"]\n   | ^^^^^^\n\nhint: did you mean `install`?"
    );
    let src = with_head(
        "[packages]\ninstall = [\"alpine-base\"]\n\n[ssh]\npasword_authentication = true\n",
    );
    let d = one_error(&src, 13, 1);
    assert!(
        d.hint.unwrap().starts_with("expected one of: port, listen"),
        "key-only is not configurable"
    );
}

#[test]
fn bad_cidr_is_located_with_the_network_meant() {
    let src = with_head(&format!(
        "[packages]\ninstall = [\"alpine-base\", \"openssh-server\", \"nftables\"]\n\n[[users]]\nname = \"a\"\nuid = 1000\nssh_keys = [\"{KEY_A}\"]\n\n[firewall]\ntrusted = [\"192.0.2.0/24\", \"10.1.2.3/8\"]\n"
    ));
    let d = one_error(&src, 18, 28);
    assert_eq!(
        d.message,
        "invalid trusted network `10.1.2.3/8`: host bits are set beyond the prefix (the network is `10.0.0.0/8`)"
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `10.0.0.0/8`?"));
    let src = src.replace("10.1.2.3/8", "10.0.0.0/40");
    assert!(
        one_error(&src, 18, 28)
            .message
            .contains("`40` is not a valid prefix length")
    );
}

#[test]
fn path_escape_is_refused() {
    let src = with_head(
        "[packages]\ninstall = [\"alpine-base\"]\n\n[[files.extra]]\npath = \"/etc/motd.d/site\"\nsource = \"../secret\"\n",
    );
    let d = one_error(&src, 14, 10);
    assert_eq!(
        d.message,
        "invalid file source `../secret`: the path contains a `..` component"
    );
    let src =
        with_head("[packages]\ninstall = [\"alpine-base\"]\n\n[files]\ntemplates = \"/etc\"\n");
    assert!(
        one_error(&src, 13, 13)
            .message
            .contains("the path is absolute")
    );
    let src = with_head(
        "[packages]\ninstall = [\"alpine-base\"]\n\n[filesystem]\nephemeral = [\"/var/../etc\"]\n",
    );
    assert!(one_error(&src, 13, 14).message.contains("`..` component"));
}

#[test]
fn every_problem_is_reported_in_source_order() {
    let src = with_head(
        "[packages]\ninstall = [\"alpine-base\", \"bad name\"]\n\n[[users]]\nname = \"Root\"\nuid = 0\n\n[verify]\nat_boot = \"enforc\"\n",
    )
    .replace("x86_64", "x86-64");
    let diags = errors(&src);
    let summary: Vec<(usize, &str)> = diags.iter().map(|d| (d.line, d.message.as_str())).collect();
    assert_eq!(
        summary,
        [
            (4, "unknown architecture `x86-64`"),
            (
                10,
                "invalid package `bad name`: it contains white space; list one package per string"
            ),
            (13, "invalid user name `Root`"),
            (17, "unknown at_boot mode `enforc`"),
        ]
    );
    assert_eq!(diags[0].hint.as_deref(), Some("did you mean `x86_64`?"));
    assert_eq!(diags[3].hint.as_deref(), Some("did you mean `enforce`?"));
}

#[test]
fn ssh_needs_someone_to_log_in_and_a_reachable_network() {
    let src = with_head("[packages]\ninstall = [\"alpine-base\", \"openssh-server\"]\n");
    let d = one_error(&src, 9, 1);
    assert!(d.message.contains("no account can log in"), "{d}");

    let src = with_head(&format!(
        "[packages]\ninstall = [\"openssh-server\", \"nftables\"]\n\n[[users]]\nname = \"a\"\nuid = 1000\nssh_keys = [\"{KEY_A}\"]\n\n[firewall]\ntcp = [443]\n"
    ));
    let d = one_error(&src, 17, 1);
    assert_eq!(
        d.message,
        "the firewall trusts no network, so sshd would be unreachable"
    );
}

#[test]
fn sections_for_missing_packages_are_refused() {
    let src = with_head(
        "[packages]\ninstall = [\"alpine-base\"]\n\n[docker]\nuserns_remap = \"default\"\n",
    );
    let d = one_error(&src, 12, 1);
    assert!(d.message.contains("`docker` is not installed"), "{d}");
    let src = with_head(
        "[packages]\ninstall = [\"alpine-base\"]\n\n[logging]\nhost = \"logs.example.net\"\n",
    );
    let d = one_error(&src, 12, 1);
    assert!(d.hint.unwrap().contains("syslog-ng"));
}

#[test]
fn runtime_policy_overlaps_are_refused() {
    let fs = |body: &str| {
        with_head(&format!(
            "[packages]\ninstall = [\"alpine-base\"]\n\n[filesystem]\n{body}"
        ))
    };
    let d = one_error(
        &fs(
            "ephemeral = [\"/var\"]\n\n[[filesystem.state]]\npath = \"/var/lib/docker\"\ndevice = \"LABEL=docker\"\n",
        ),
        16,
        8,
    );
    assert_eq!(
        d.message,
        "state path `/var/lib/docker` lies inside ephemeral path `/var`"
    );
    let d = one_error(&fs("ephemeral = [\"/etc/\"]\n"), 13, 14);
    assert_eq!(
        d.message,
        "ephemeral path `/etc` covers `/etc`, which must stay verifiable"
    );
    let d = one_error(
        &fs("ephemeral = [\"/tmp\", \"/tmp//\"]\nstate = []\n"),
        13,
        22,
    );
    assert!(d.message.contains("listed twice"), "{d}");
    let d = one_error(
        &fs("ephemeral = [\"/tmp\"]\nstate = []\nmutable = [\"/tmp/x\"]\n"),
        15,
        12,
    );
    assert_eq!(
        d.message,
        "mutable path `/tmp/x` lies inside ephemeral path `/tmp`"
    );
    let d = one_error(&fs("state = [{ path = \"/srv\" }]\n"), 13, 19);
    assert!(
        d.message
            .contains("has no `device`, but the root is read-only"),
        "{d}"
    );
    // A writable root may keep state without a volume.
    let p = ok(&fs(
        "read_only_root = false\nstate = [{ path = \"/srv\" }]\n",
    ));
    assert_eq!(p.runtime_policy().state, ["/srv"]);
}

#[test]
fn accounts_are_exact() {
    let p = ok(&with_head(&format!(
        "[packages]\ninstall = [\"alpine-base\"]\n\n[[users]]\nname = \"a\"\nuid = 1000\ngroups = [\"docker\"]\nssh_keys = [\"{KEY_A}\"]\n\n[[users]]\nname = \"b\"\nuid = 1001\ngid = 3000\n\n[[groups]]\nname = \"ops\"\ngid = 3000\nmembers = [\"a\"]\n"
    )));
    assert_eq!(p.user("a").unwrap().group, "a");
    assert_eq!(p.user("b").unwrap().group, "ops");
    assert_eq!(p.group("docker").unwrap().gid, None);
    assert_eq!(p.group("docker").unwrap().members.len(), 1);
    assert_eq!(
        p.group("ops").unwrap().members.iter().collect::<Vec<_>>(),
        ["a"]
    );

    let d = one_error(
        &with_head(
            "[packages]\ninstall = [\"alpine-base\"]\n\n[[users]]\nname = \"a\"\nuid = 1000\n\n[[users]]\nname = \"b\"\nuid = 1000\n",
        ),
        18,
        7,
    );
    assert_eq!(d.message, "uid 1000 is already used by user `a`");
    let d = one_error(
        &with_head(
            "[packages]\ninstall = [\"alpine-base\"]\n\n[[groups]]\nname = \"docker\"\nmembers = [\"mallory\"]\n",
        ),
        14,
        12,
    );
    assert_eq!(
        d.message,
        "group `docker` lists `mallory`, which is not a declared user"
    );
    let d = one_error(
        &with_head(
            "[packages]\ninstall = [\"alpine-base\"]\n\n[[users]]\nname = \"a\"\nuid = 1000\nssh_keys = [\"ssh-ed25519 AAAA\"]\n",
        ),
        15,
        13,
    );
    assert!(
        d.message.starts_with("invalid SSH public key for user `a`"),
        "{d}"
    );
}

#[test]
fn repositories_and_tags() {
    let p = ok(&HEAD
        .replace(
            "urls = [",
            "urls = [\"@edge https://dl-cdn.alpinelinux.org/alpine/edge/testing/\", ",
        )
        .replace(
            "\"]\n",
            "\"]\n\n[packages]\ninstall = [\"alpine-base\", \"tool@edge\"]\n",
        ));
    assert_eq!(p.repositories.urls[0].tag.as_deref(), Some("edge"));
    assert_eq!(
        p.repositories.urls[0].url,
        "https://dl-cdn.alpinelinux.org/alpine/edge/testing"
    );
    assert_eq!(
        p.repositories.urls[0].to_string(),
        "@edge https://dl-cdn.alpinelinux.org/alpine/edge/testing"
    );

    let d = one_error(
        &with_head("[packages]\ninstall = [\"tool@edge\"]\n"),
        10,
        12,
    );
    assert_eq!(
        d.message,
        "package `tool@edge` names the tag `@edge`, which no repository has"
    );
    let d = one_error(
        &HEAD
            .replace("https://dl-cdn", "ftp://dl-cdn")
            .replace("\"]\n", "\"]\n[packages]\ninstall = [\"a\"]\n"),
        7,
        9,
    );
    assert!(
        d.message.contains("the scheme `ftp` is not supported"),
        "{d}"
    );
}

#[test]
fn digests_follow_the_inputs() {
    let base = with_head("[packages]\ninstall = [\"alpine-base\", \"chrony\"]\n");
    let a = ok(&base);
    let reordered = ok(&base.replace("\"alpine-base\", \"chrony\"", "\"chrony\", \"alpine-base\""));
    assert_eq!(a.digest(), ok(&base).digest());
    assert_eq!(a.digest().len(), 64);
    // The lock depends on the set of packages, not on their order or on unrelated settings.
    assert_eq!(a.lock_inputs().digest(), reordered.lock_inputs().digest());
    let tuned = ok(&format!("{base}\n[sysctl]\n\"vm.swappiness\" = 10\n"));
    assert_eq!(a.lock_inputs().digest(), tuned.lock_inputs().digest());
    assert_ne!(a.digest(), tuned.digest());
    let more = ok(&base.replace("\"chrony\"", "\"chrony\", \"doas\""));
    assert_ne!(a.lock_inputs().digest(), more.lock_inputs().digest());
    // Where the profile lives does not matter.
    let elsewhere = profile::parse(&base, Path::new("/somewhere/else/p.toml")).unwrap();
    assert_eq!(a.digest(), elsewhere.digest());
}

#[test]
fn read_errors_name_the_file() {
    let err = profile::load(Path::new("/nonexistent/basalt/p.toml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to read profile `/nonexistent/basalt/p.toml`"
    );
}

use crate::support;

/// Package names in an `APKINDEX.tar.gz` (the `P:` lines of its `APKINDEX` member).
fn index_names(path: &Path) -> std::collections::BTreeSet<String> {
    use std::io::Read as _;
    let file = fs_err::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
    let mut names = std::collections::BTreeSet::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("APKINDEX") {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            names.extend(
                text.lines()
                    .filter_map(|l| l.strip_prefix("P:"))
                    .map(str::to_owned),
            );
        }
    }
    assert!(!names.is_empty(), "{}: no APKINDEX member", path.display());
    names
}

/// The shipped profiles name packages that exist in Alpine, and the offline profile only
/// packages of the boot repository. The newest full indexes at hand offline are v3.19's: a
/// package renamed or dropped since then is not caught here.
#[test]
fn shipped_profiles_name_packages_that_exist() {
    let Some(data) = support::shared_data("shipped_profiles_name_packages_that_exist") else {
        return;
    };
    let alpine = data.join("alpine");
    let boot = index_names(&alpine.join("repos/v3.19-boot/x86_64/APKINDEX.tar.gz"));
    let offline = profile::load(&support::offline_profile()).unwrap();
    for name in offline.packages.names() {
        assert!(
            boot.contains(name),
            "offline: `{name}` is not in the v3.19 boot repository"
        );
    }
    let main = index_names(&alpine.join("indexes/v3.19-main-x86_64.APKINDEX.tar.gz"));
    let community = index_names(&alpine.join("indexes/v3.19-community-x86_64.APKINDEX.tar.gz"));
    for (file, indexes) in [
        ("minimal.toml", vec![&main]),
        ("docker-host.toml", vec![&main, &community]),
    ] {
        let p = profile::load(&profiles_dir().join(file)).unwrap();
        for name in p.packages.names() {
            assert!(
                indexes.iter().any(|i| i.contains(name)),
                "{file}: `{name}` is not in the Alpine repositories it names"
            );
        }
    }
    assert!(
        !boot.contains("docker") && !main.contains("docker"),
        "the check can fail: docker is not in the boot repository, nor in main"
    );
}

/// The fuzz target's entry point (`fuzz/fuzz_targets/profile_parse.rs`), run here on
/// generated input: parsing and rendering never panic, and diagnostics point inside the text.
fn parse_and_render(text: &str) {
    match profile::parse(text, Path::new("fuzz.toml")) {
        Ok(p) => {
            let rendered =
                basalt::build::render::render(&p, &basalt::build::render::Sources::default());
            // The built-in templates render for every valid profile.
            if p.files.extra.is_empty() && p.files.templates.is_none() {
                assert!(rendered.is_ok(), "{:?}\n{text}", rendered.err());
            }
        }
        Err(err) => {
            let lines = text.lines().count() + 1;
            for d in err.diagnostics() {
                assert!(d.line >= 1 && d.line <= lines && d.column >= 1, "{d}");
                assert!(!d.message.is_empty());
                if let Some(excerpt) = &d.excerpt {
                    assert!(excerpt.width >= 1);
                    assert!(d.column - 1 <= excerpt.text.chars().count(), "{d}");
                }
            }
        }
    }
}

/// A line-level edit of a profile.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Replace(usize, String),
    Append(usize, String),
}

fn apply(source: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = source.lines().map(str::to_owned).collect();
    for edit in edits {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match edit {
            Edit::Delete(i) => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::Swap(i, j) => lines.swap(i % n, j % n),
            Edit::Replace(i, s) => {
                // Keep the key, replace the value.
                let l = &mut lines[i % n];
                if let Some((k, _)) = l.split_once('=') {
                    *l = format!("{k}= {s}");
                }
            }
            Edit::Append(i, s) => lines[i % n].push_str(s),
        }
    }
    lines.join("\n")
}

fn edit_strategy() -> impl proptest::strategy::Strategy<Value = Edit> {
    use proptest::prelude::*;
    let value = prop_oneof![
        Just("\"/var/../etc\"".to_owned()),
        Just("[\"0.0.0.0/0\", \"::/0\"]".to_owned()),
        Just("-1".to_owned()),
        Just("99999999999".to_owned()),
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("\"\"".to_owned()),
        Just("\"{{ x }}\"".to_owned()),
        "\"[ -~]{0,12}\"",
        "[0-9]{1,6}",
    ];
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (any::<usize>(), value).prop_map(|(i, v)| Edit::Replace(i, v)),
        (any::<usize>(), "[ -~é]{0,6}").prop_map(|(i, s)| Edit::Append(i, s)),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    #[test]
    fn edited_profiles_never_panic(
        which in 0usize..2,
        edits in proptest::collection::vec(edit_strategy(), 1..6),
    ) {
        let name = ["docker-host.toml", "minimal.toml"][which];
        let source = fs_err::read_to_string(profiles_dir().join(name)).unwrap();
        parse_and_render(&apply(&source, &edits));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        parse_and_render(&text);
    }
}

#[test]
fn services_in_the_form_the_build_takes() {
    let p = profile::load(&profiles_dir().join("minimal.toml")).unwrap();
    let map = p.services.by_runlevel_name();
    assert_eq!(
        map.keys().collect::<Vec<_>>(),
        ["boot", "default", "shutdown", "sysinit"]
    );
    assert_eq!(map["default"], ["chronyd", "sshd", "sshd-keygen"]);
    let enabled: Vec<(Runlevel, &str)> = p.services.enabled().collect();
    assert_eq!(enabled.len(), map.values().map(Vec::len).sum::<usize>());
}
