//! Rendered configuration: checked by what reads it (sshd, nft, a JSON parser) where those
//! tools are installed, and by assertions equivalent to their checks everywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use basalt::build::render::{self, Content, Rendered, Sources};
use basalt::profile::hardening::{DOCKER_WATCHES, LOGIN_WATCHES};
use basalt::profile::{self, Profile};

const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBERERERERERERERERERERERERERERERERERERERERER a@example.invalid";

fn shipped(name: &str) -> Profile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("profiles")
        .join(name);
    profile::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn parse(source: &str) -> Profile {
    profile::parse(source, Path::new("p.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// A variant that exercises the other branches: listen addresses, users instead of groups,
/// no SFTP, IPv4-only trust, UDP ports, TCP logging, no Docker.
fn variant() -> Profile {
    parse(&format!(
        r#"[image]
name = "edge"
version = "2.0"
arch = "aarch64"

[repositories]
urls = ["https://dl-cdn.alpinelinux.org/alpine/v3.19/main"]

[packages]
install = ["alpine-base", "openssh-server", "nftables", "syslog-ng", "audit"]

[[users]]
name = "ops"
uid = 1500
ssh_keys = ["{KEY_A}"]

[ssh]
port = 2222
listen = ["192.0.2.10", "2001:db8::10"]
sftp = false
tcp_forwarding = true

[firewall]
trusted = ["192.0.2.0/24", "192.0.2.128/25"]
udp = [123, 51820]
ping = false

[logging]
host = "192.0.2.50"

[audit]
immutable = false
watches = [{{ path = "/etc/passwd", permissions = "arw", key = "accounts" }}]
"#
    ))
}

fn by_path(files: &[Rendered]) -> BTreeMap<&str, &Rendered> {
    files.iter().map(|f| (f.path.as_str(), f)).collect()
}

fn text<'a>(files: &BTreeMap<&str, &'a Rendered>, path: &str) -> &'a str {
    let f: &Rendered = files
        .get(path)
        .unwrap_or_else(|| panic!("`{path}` not rendered"));
    std::str::from_utf8(f.bytes()).unwrap()
}

fn write_temp(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    fs_err::write(&path, content).unwrap();
    path
}

/// sshd_config as sshd reads it: keyword (case-insensitive) → values of each occurrence.
fn sshd_options(config: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in config.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        map.entry(key.to_ascii_lowercase())
            .or_default()
            .push(value.trim().to_owned());
    }
    map
}

/// Asserts the settings of a key-only sshd, with sshd's first-match-wins semantics: each
/// single-valued keyword appears once, so no later line can be mistaken for the effective one.
fn assert_key_only(config: &str, p: &Profile) {
    let opts = sshd_options(config);
    let multi = [
        "hostkey",
        "listenaddress",
        "allowusers",
        "allowgroups",
        "subsystem",
    ];
    for (key, values) in &opts {
        assert!(
            multi.contains(&key.as_str()) || values.len() == 1,
            "`{key}` set {} times",
            values.len()
        );
    }
    let get = |k: &str| opts.get(k).map(|v| v[0].as_str());
    for (key, want) in [
        ("passwordauthentication", "no"),
        ("kbdinteractiveauthentication", "no"),
        ("permitrootlogin", "no"),
        ("pubkeyauthentication", "yes"),
        ("permitemptypasswords", "no"),
        ("hostbasedauthentication", "no"),
        ("authenticationmethods", "publickey"),
        ("x11forwarding", "no"),
        ("permituserenvironment", "no"),
        ("allowagentforwarding", "no"),
    ] {
        assert_eq!(get(key), Some(want), "{key}");
    }
    assert!(!opts.contains_key("challengeresponseauthentication"));
    assert!(!opts.contains_key("usepam"));
    let ssh = p.ssh.as_ref().unwrap();
    assert_eq!(get("port"), Some(ssh.port.to_string().as_str()));
    assert!(opts.contains_key("allowusers") || opts.contains_key("allowgroups"));
    let users: Vec<&str> = opts
        .get("allowusers")
        .map_or(Vec::new(), |v| v[0].split(' ').collect());
    assert_eq!(
        users,
        ssh.allow_users
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    let policy = p.runtime_policy();
    for key in &opts["hostkey"] {
        assert!(
            policy.state.iter().any(|s| profile::is_within(key, s)),
            "host key `{key}` is not on a state volume"
        );
    }
    assert_eq!(
        opts.get("listenaddress").cloned().unwrap_or_default(),
        ssh.listen
    );
}

/// Runs Debian's `sshd -t` on the file in a private mount namespace (so that the privilege
/// separation directory it insists on lives in a throw-away `/run`), with a throw-away host
/// key. Returns `None` (after saying so) when sshd, ssh-keygen or namespaces are unavailable.
fn sshd_test(config: &Path, dir: &Path) -> Option<(bool, String)> {
    let sshd = Path::new("/usr/sbin/sshd");
    if !sshd.is_file() {
        eprintln!(
            "SKIPPED sshd -t: /usr/sbin/sshd not installed (ci/install-test-deps installs openssh-server)"
        );
        return None;
    }
    let mut key_name = config.file_name().unwrap_or_default().to_owned();
    key_name.push(".host_key");
    let key = dir.join(key_name);
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status();
    if !keygen.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED sshd -t: ssh-keygen did not run");
        return None;
    }
    let probe = Command::new("unshare").args(["-rm", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED sshd -t: cannot create a private mount namespace (unshare -rm)");
        return None;
    }
    let script = format!(
        "mount -t tmpfs tmpfs /run && mkdir /run/sshd && exec {} -t -f '{}' -h '{}'",
        sshd.display(),
        config.display(),
        key.display()
    );
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .output()
        .unwrap();
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn sshd_config_is_key_only_and_accepted_by_sshd() {
    let dir = tempfile::tempdir().unwrap();
    for (name, p) in [
        ("docker-host", shipped("docker-host.toml")),
        ("minimal", shipped("minimal.toml")),
        ("variant", variant()),
    ] {
        let files = render::render_profile(&p).unwrap();
        let files = by_path(&files);
        let config = text(&files, "/etc/ssh/sshd_config");
        assert_key_only(config, &p);
        assert_eq!(files["/etc/ssh/sshd_config"].mode, 0o600);
        let path = write_temp(dir.path(), &format!("{name}.sshd_config"), config);
        if let Some((ok, stderr)) = sshd_test(&path, dir.path()) {
            // The config's own host keys do not exist here; every other complaint is fatal.
            let others: Vec<&str> = stderr
                .lines()
                .filter(|l| !l.starts_with("Unable to load host key: /var/lib/"))
                .collect();
            assert!(
                ok && others.is_empty(),
                "sshd -t rejected {name}:\n{stderr}"
            );
        }
    }
    let variant_files = render::render_profile(&variant()).unwrap();
    let opts = sshd_options(text(&by_path(&variant_files), "/etc/ssh/sshd_config"));
    assert!(!opts.contains_key("subsystem"));
    assert_eq!(opts["allowtcpforwarding"], ["yes"]);
}

#[test]
fn sshd_rejects_what_the_checker_rejects() {
    // The real sshd, when present, agrees that a broken file is broken (so the test above
    // can fail).
    let dir = tempfile::tempdir().unwrap();
    let bad = write_temp(dir.path(), "bad", "PasswordAuthentication maybe\n");
    if let Some((ok, stderr)) = sshd_test(&bad, dir.path()) {
        assert!(!ok, "{stderr}");
    }
}

#[test]
fn daemon_json_is_valid_with_safe_defaults_and_overrides() {
    let p = shipped("docker-host.toml");
    let files = render::render_profile(&p).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(text(&by_path(&files), "/etc/docker/daemon.json")).unwrap();
    assert_eq!(json["icc"], false);
    assert_eq!(json["live-restore"], true);
    assert_eq!(json["no-new-privileges"], true);
    assert_eq!(json["userland-proxy"], false);
    assert_eq!(json["log-driver"], "syslog");
    assert_eq!(json["userns-remap"], "default");
    assert_eq!(json["log-level"], "info");
    assert_eq!(json["max-concurrent-downloads"], 3);
    assert_eq!(json["log-opts"]["tag"], "docker/{{.Name}}");

    // An override replaces a default key; nested tables become objects.
    let src = r#"[image]
name = "d"
version = "1"
arch = "x86_64"
[repositories]
urls = []
[packages]
install = ["docker"]
[docker.daemon]
"log-driver" = "json-file"
"default-ulimits" = { nofile = { Name = "nofile", Hard = 64000, Soft = 64000 } }
[accept]
"docker-log-driver" = "container logs are collected by the log shipper from json-file"
"docker-partition" = "a test profile without state volumes"
"#;
    let p = parse(src);
    let files = render::render_profile(&p).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(text(&by_path(&files), "/etc/docker/daemon.json")).unwrap();
    assert_eq!(json["log-driver"], "json-file");
    assert_eq!(json["default-ulimits"]["nofile"]["Hard"], 64000);
    assert_eq!(json["icc"], false);
    assert!(json.get("userns-remap").is_none());
}

/// Runs `nft -c -f FILE`; `None` (after saying so) when nft is missing or lacks privileges.
fn nft_check(path: &Path) -> Option<(bool, String)> {
    let out = match Command::new("nft").arg("-c").arg("-f").arg(path).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!(
                "SKIPPED nft -c: cannot run nft ({e}); ci/install-test-deps installs nftables"
            );
            return None;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() && stderr.contains("Operation not permitted") {
        eprintln!(
            "SKIPPED nft -c: needs CAP_NET_ADMIN here ({})",
            stderr.trim()
        );
        return None;
    }
    Some((out.status.success(), stderr))
}

#[test]
fn nftables_ruleset_passes_nft_check_and_drops_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let no_ssh = parse(
        "[image]\nname = \"fw\"\nversion = \"1\"\narch = \"x86_64\"\n[repositories]\nurls = []\n[packages]\ninstall = [\"nftables\"]\n",
    );
    for (name, p) in [
        ("docker-host", shipped("docker-host.toml")),
        ("variant", variant()),
        ("no-ssh", no_ssh),
    ] {
        let files = render::render_profile(&p).unwrap();
        let files = by_path(&files);
        let rules = text(&files, "/etc/nftables.nft");
        assert!(rules.contains("type filter hook input priority filter; policy drop;"));
        assert!(rules.contains("iif \"lo\" accept"));
        assert!(rules.contains("ct state established,related accept"));
        assert!(
            !rules.contains("flush ruleset"),
            "Docker's tables must survive a reload"
        );
        let fw = p.firewall.as_ref().unwrap();
        // Every accept of a port is bound to a trusted set.
        for line in rules.lines().filter(|l| l.contains("dport")) {
            assert!(line.contains("saddr @trusted_v"), "{line}");
        }
        if let Some(ssh) = &p.ssh {
            assert!(
                rules.contains(&format!("tcp dport {{ {}", ssh.port))
                    || rules.contains(&format!(", {} }}", ssh.port))
            );
        }
        for net in &fw.trusted {
            assert!(rules.contains(&net.to_string()), "{net}");
        }
        assert!(text(&files, "/etc/conf.d/nftables").contains("rules_file=\"/etc/nftables.nft\""));
        let path = write_temp(dir.path(), &format!("{name}.nft"), rules);
        if let Some((ok, stderr)) = nft_check(&path) {
            assert!(ok, "nft -c rejected {name}:\n{stderr}\n{rules}");
        }
    }
    let bad = write_temp(
        dir.path(),
        "bad.nft",
        "table inet x { chain y { type filter hook input priority filter; policy maybe; } }\n",
    );
    if let Some((ok, _)) = nft_check(&bad) {
        assert!(
            !ok,
            "nft -c accepts a broken ruleset, so the check above proves nothing"
        );
    }
}

#[test]
fn fstab_mounts_root_read_only_with_tmpfs_and_state_volumes() {
    for p in [shipped("docker-host.toml"), shipped("minimal.toml")] {
        let files = render::render_profile(&p).unwrap();
        let fstab = text(&by_path(&files), "/etc/fstab");
        let entries: Vec<Vec<&str>> = fstab
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.split_whitespace().collect())
            .collect();
        for e in &entries {
            assert_eq!(e.len(), 6, "{e:?}");
        }
        let root = entries.iter().find(|e| e[1] == "/").unwrap();
        assert!(root[3].split(',').any(|o| o == "ro"), "{root:?}");
        for path in &p.filesystem.ephemeral {
            let e = entries
                .iter()
                .find(|e| e[1] == path)
                .unwrap_or_else(|| panic!("{path}"));
            assert_eq!((e[0], e[2]), ("tmpfs", "tmpfs"));
            assert!(e[3].contains("nosuid") && e[3].contains("nodev"));
        }
        for vol in &p.filesystem.state {
            let e = entries.iter().find(|e| e[1] == vol.path).unwrap();
            assert_eq!(Some(e[0]), vol.device.as_deref());
        }
        assert_eq!(
            entries.len(),
            1 + p.filesystem.ephemeral.len() + p.filesystem.state.len()
        );
        // Mount points come after their parents.
        let points: Vec<&str> = entries.iter().map(|e| e[1]).collect();
        let mut sorted = points.clone();
        sorted.sort_unstable();
        assert_eq!(points, sorted);
    }
}

#[test]
fn audit_rules_watch_every_docker_path_and_login_files() {
    let p = shipped("docker-host.toml");
    let files = render::render_profile(&p).unwrap();
    let files = by_path(&files);
    let rules = text(&files, "/etc/audit/audit.rules");
    assert_eq!(files["/etc/audit/audit.rules"].mode, 0o640);
    let watched: BTreeMap<&str, (&str, &str)> = rules
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 6 && f[0] == "-w" && f[2] == "-p" && f[4] == "-k")
                .then(|| (f[1], (f[3], f[5])))
        })
        .collect();
    for w in DOCKER_WATCHES.iter().filter(|w| w.rendered) {
        let path = w.path;
        let (perms, _) = watched
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not watched"));
        assert!(
            perms.contains('w') && perms.contains('a'),
            "{path}: {perms}"
        );
    }
    for (path, _) in LOGIN_WATCHES {
        assert!(watched.contains_key(path), "{path}");
    }
    assert_eq!(watched["/etc/containerd"], ("wa", "docker"));
    assert_eq!(rules.lines().rfind(|l| !l.is_empty()), Some("-e 2"));
    assert_eq!(
        rules.lines().find(|l| !l.starts_with('#') && !l.is_empty()),
        Some("-D")
    );

    let files = render::render_profile(&variant()).unwrap();
    let rules = text(&by_path(&files), "/etc/audit/audit.rules");
    assert!(rules.contains("-w /etc/passwd -p rwa -k accounts"));
    assert!(!rules.contains("-e 2"));
    assert!(
        !rules.contains("/usr/bin/dockerd"),
        "no Docker, no Docker watches"
    );
}

#[test]
fn log_forwarding_sends_everything_to_the_log_host() {
    let files = render::render_profile(&shipped("docker-host.toml")).unwrap();
    let conf = text(&by_path(&files), "/etc/syslog-ng/syslog-ng.conf");
    assert!(conf.starts_with("@version: 4.5\n"));
    assert!(conf.contains("system();"));
    assert!(conf.contains("syslog(\"logs.example.net\""));
    assert!(conf.contains("transport(\"tls\")") && conf.contains("port(6514)"));
    assert!(conf.contains("ca-file(\"/etc/ssl/certs/ca-certificates.crt\")"));
    assert!(conf.contains("peer-verify(required-trusted)"));
    // No filter anywhere: authentication messages go out too.
    assert!(!conf.contains("filter("));
    assert_eq!(conf.matches('{').count(), conf.matches('}').count());
    assert_eq!(conf.matches('(').count(), conf.matches(')').count());

    let files = render::render_profile(&variant()).unwrap();
    let conf = text(&by_path(&files), "/etc/syslog-ng/syslog-ng.conf");
    assert!(conf.contains("transport(\"tcp\")") && conf.contains("port(514)"));
    assert!(!conf.contains("tls("));
    // Minimal: busybox syslogd, nothing rendered for syslog-ng.
    let files = render::render_profile(&shipped("minimal.toml")).unwrap();
    assert!(!by_path(&files).contains_key("/etc/syslog-ng/syslog-ng.conf"));
}

#[test]
fn sysctl_motd_issue_and_authorized_keys() {
    let p = shipped("docker-host.toml");
    let files = render::render_profile(&p).unwrap();
    let files = by_path(&files);
    let sysctl = text(&files, "/etc/sysctl.d/90-basalt.conf");
    for (key, value) in &p.sysctl {
        assert!(
            sysctl.lines().any(|l| l == format!("{key} = {value}")),
            "{key}"
        );
    }
    assert!(sysctl.contains("vm.max_map_count = 262144"));
    assert!(
        !sysctl.contains("net.ipv4.ip_forward"),
        "Docker needs forwarding"
    );
    assert!(text(&files, "/etc/motd").contains("docker-host 1.0.0 (x86_64)"));
    assert!(text(&files, "/etc/issue").contains("logged and forwarded"));
    assert!(!text(&files, "/etc/issue").contains('\\'), "getty escapes");
    let keys = files["/home/alice/.ssh/authorized_keys"];
    assert_eq!((keys.mode, keys.uid, keys.gid), (0o600, 1000, 1000));
    assert_eq!(
        std::str::from_utf8(keys.bytes()).unwrap(),
        format!("{}\n", p.user("alice").unwrap().ssh_keys[0])
    );
    assert_eq!(files["/home/alice/.ssh"].content, Content::Directory);
    assert_eq!(files["/home/alice/.ssh"].mode, 0o700);
    let keygen = files["/etc/init.d/sshd-keygen"];
    assert_eq!(keygen.mode, 0o755);
    assert!(text(&files, "/etc/init.d/sshd-keygen").contains("ssh-keygen -A -f \"/var/lib/ssh\""));
    assert!(text(&files, "/etc/conf.d/sshd").contains("sshd_disable_keygen=\"yes\""));
}

#[test]
fn boot_verification_is_configured_when_asked_for() {
    let files = render::render_profile(&shipped("docker-host.toml")).unwrap();
    let files = by_path(&files);
    assert!(text(&files, "/etc/conf.d/basalt-verify").contains("basalt_verify_mode=\"enforce\""));
    assert_eq!(files["/etc/init.d/basalt-verify"].mode, 0o755);
    let needs = text(&files, "/etc/rc.conf.d/basalt-verify.conf");
    for service in ["sshd", "docker", "containerd"] {
        assert!(
            needs.contains(&format!("rc_{service}_need=\"basalt-verify\"")),
            "{service}"
        );
    }
    let files = render::render_profile(&shipped("minimal.toml")).unwrap();
    assert!(!files.iter().any(|f| f.path.contains("basalt-verify")));
}

#[test]
fn rendering_is_deterministic_and_sorted() {
    let p = shipped("docker-host.toml");
    let a = render::render_profile(&p).unwrap();
    let b = render::render_profile(&p).unwrap();
    assert_eq!(a, b);
    let paths: Vec<&str> = a.iter().map(|f| f.path.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    assert_eq!(paths, sorted);
}

#[test]
fn every_template_file_is_in_the_builtin_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut on_disk: Vec<String> = walkdir::WalkDir::new(&root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    on_disk.sort();
    let mut table: Vec<String> = render::builtin_paths().map(str::to_owned).collect();
    table.sort();
    assert_eq!(on_disk, table);
}

/// A profile directory with its own templates and files.
fn profile_dir(extra_toml: &str, templates: &[(&str, &str)]) -> (tempfile::TempDir, Profile) {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in templates {
        let full = dir.path().join(path);
        fs_err::create_dir_all(full.parent().unwrap()).unwrap();
        fs_err::write(full, content).unwrap();
    }
    let toml = format!(
        "[image]\nname = \"own\"\nversion = \"1\"\narch = \"x86_64\"\n[repositories]\nurls = []\n[packages]\ninstall = [\"alpine-base\"]\n{extra_toml}"
    );
    let path = write_temp(dir.path(), "p.toml", &toml);
    let p = profile::load(&path).unwrap_or_else(|e| panic!("{e}"));
    (dir, p)
}

#[test]
fn a_profile_brings_its_own_templates_and_files() {
    let (_dir, p) = profile_dir(
        "[files]\ntemplates = \"templates\"\n[[files.extra]]\npath = \"/etc/profile.d/site.sh\"\nsource = \"files/site.sh\"\nmode = \"0755\"\n[[files.extra]]\npath = \"/etc/site.conf\"\nsource = \"files/site.conf\"\ntemplate = true\n",
        &[
            ("templates/etc/motd", "Welcome to {{ image.name }}\n"),
            (
                "templates/etc/chrony/chrony.conf",
                "server {{ image.name }}.example.net iburst\n",
            ),
            ("files/site.sh", "export SITE={{ not rendered }}\n"),
            ("files/site.conf", "version={{ image.version }}\n"),
        ],
    );
    let files = render::render_profile(&p).unwrap();
    let files = by_path(&files);
    assert_eq!(text(&files, "/etc/motd"), "Welcome to own\n");
    assert_eq!(
        text(&files, "/etc/chrony/chrony.conf"),
        "server own.example.net iburst\n"
    );
    assert_eq!(
        text(&files, "/etc/profile.d/site.sh"),
        "export SITE={{ not rendered }}\n"
    );
    assert_eq!(files["/etc/profile.d/site.sh"].mode, 0o755);
    assert_eq!(text(&files, "/etc/site.conf"), "version=1\n");
    assert!(files["/etc/fstab"].origin.starts_with("template "));
    assert!(files["/etc/motd"].origin.starts_with("profile template "));
}

#[test]
fn a_missing_template_variable_names_template_and_variable() {
    let (_dir, p) = profile_dir(
        "[files]\ntemplates = \"templates\"\n",
        &[(
            "templates/etc/motd",
            "{{ image.name }} {{ image.verison }}\n",
        )],
    );
    let err = render::render_profile(&p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "template `etc/motd` uses `image.verison`, which does not exist"
    );
    // A section that is absent is `none`: testing it works, using it is an error.
    let (_dir, p) = profile_dir(
        "[files]\ntemplates = \"templates\"\n",
        &[
            (
                "templates/etc/x.conf",
                "{% if ssh %}{{ ssh.port }}{% endif %}ok\n",
            ),
            ("templates/etc/y.conf", "{{ logging.host }}\n"),
        ],
    );
    let err = render::render_profile(&p).unwrap_err();
    assert!(
        matches!(&err, render::Error::Template { template, .. } if template == "etc/y.conf"),
        "{err}"
    );
}

#[test]
fn sources_cannot_escape_the_profile_directory() {
    let (dir, p) = profile_dir(
        "[files]\ntemplates = \"templates\"\n",
        &[("templates/etc/motd", "hi\n")],
    );
    std::os::unix::fs::symlink("/etc/hostname", dir.path().join("templates/etc/issue")).unwrap();
    let err = render::Sources::load(&p).unwrap_err();
    assert!(matches!(err, render::Error::Escape { .. }), "{err}");

    let (dir, p) = profile_dir(
        "[[files.extra]]\npath = \"/etc/x\"\nsource = \"link\"\n",
        &[("unused", "")],
    );
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
    // The profile validated before the link existed; loading the sources refuses it.
    let err = Sources::load(&p).unwrap_err();
    assert!(
        err.to_string().contains("leaves the profile's directory"),
        "{err}"
    );
}

#[test]
fn extra_files_need_their_sources() {
    let (_dir, p) = profile_dir(
        "[[files.extra]]\npath = \"/etc/x\"\nsource = \"x\"\n",
        &[("x", "x\n")],
    );
    let err = render::render(&p, &Sources::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the source of `/etc/x` was not loaded (use `Sources::load`)"
    );
    let files = render::render(&p, &Sources::load(&p).unwrap()).unwrap();
    assert!(
        files
            .iter()
            .any(|f| f.path == "/etc/x" && f.bytes() == b"x\n")
    );
}

#[test]
fn an_extra_file_cannot_shadow_a_generated_one() {
    let (_dir, p) = profile_dir(
        "[[files.extra]]\npath = \"/etc/fstab\"\nsource = \"fstab\"\n",
        &[("fstab", "x\n")],
    );
    let err = render::render_profile(&p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`/etc/fstab` is produced twice: by template etc/fstab and by file fstab"
    );
}

/// A generated firewall section: trusted networks (overlapping ones included) and ports.
fn firewall_profile(nets: &[(bool, u128, u8)], tcp: &[u16], udp: &[u16], ping: bool) -> String {
    let trusted: Vec<String> = nets
        .iter()
        .map(|(v4, bits, prefix)| {
            let net = if *v4 {
                let addr = std::net::IpAddr::V4(std::net::Ipv4Addr::from(*bits as u32));
                profile::Cidr::containing(addr, prefix % 33).unwrap()
            } else {
                let addr = std::net::IpAddr::V6(std::net::Ipv6Addr::from(*bits));
                profile::Cidr::containing(addr, prefix % 129).unwrap()
            };
            format!("\"{net}\"")
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let list = |ports: &[u16]| {
        let set: std::collections::BTreeSet<u16> =
            ports.iter().map(|p| p.max(&1)).copied().collect();
        set.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "[image]\nname = \"fw\"\nversion = \"1\"\narch = \"x86_64\"\n[repositories]\nurls = []\n[packages]\ninstall = [\"nftables\"]\n[firewall]\ntrusted = [{}]\ntcp = [{}]\nudp = [{}]\nping = {ping}\n",
        trusted.join(", "),
        list(tcp),
        list(udp),
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

    #[test]
    fn generated_firewalls_pass_nft_check(
        nets in proptest::collection::vec((proptest::bool::ANY, proptest::num::u128::ANY, 0u8..=255), 0..6),
        tcp in proptest::collection::vec(1u16..=65535, 0..5),
        udp in proptest::collection::vec(1u16..=65535, 0..5),
        ping in proptest::bool::ANY,
    ) {
        let p = parse(&firewall_profile(&nets, &tcp, &udp, ping));
        let files = render::render_profile(&p).unwrap();
        let rules = text(&by_path(&files), "/etc/nftables.nft").to_owned();
        let dir = tempfile::tempdir().unwrap();
        let path = write_temp(dir.path(), "rules.nft", &rules);
        if let Some((ok, stderr)) = nft_check(&path) {
            proptest::prop_assert!(ok, "{stderr}\n{rules}");
        }
    }
}
