//! basalt's resolver against the real apk-tools (`apk add --simulate` on an empty root), on
//! the shared v3.19 x86_64 indexes and the v3.17 aarch64 index.

use crate::support;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use basalt::apk::dependency::Dependency;
use basalt::apk::version::Version;
use basalt::build::resolve::{Candidate, Repository, Universe};

/// Reads an `APKINDEX.tar.gz` into candidates (only what resolution needs).
fn read_index(path: &Path) -> Vec<Candidate> {
    let file = fs_err::File::open(path).expect("open index");
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
    let mut text = String::new();
    for entry in archive.entries().expect("read index") {
        let mut entry = entry.expect("index entry");
        if entry.path().expect("entry path").as_os_str() == "APKINDEX" {
            entry.read_to_string(&mut text).expect("read APKINDEX");
        }
    }
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let field = |key: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(key).and_then(|l| l.strip_prefix(':')))
                .unwrap_or("")
        };
        let deps = |key: &str| Dependency::parse_list(field(key)).expect("dependency list");
        let mut c = Candidate::new(field("P"), Version::parse(field("V")).expect("version"));
        c.arch = field("A").to_owned();
        c.checksum = field("C").to_owned();
        c.depends = deps("D");
        c.provides = deps("p");
        c.install_if = deps("i");
        c.replaces = deps("r");
        c.provider_priority = field("k").parse().unwrap_or(0);
        c.size = field("S").parse().unwrap_or(0);
        c.installed_size = field("I").parse().unwrap_or(0);
        out.push(c);
    }
    out
}

struct Setup {
    apk: PathBuf,
    root: tempfile::TempDir,
    /// (repository directory for apk, index path)
    repos: Vec<(PathBuf, PathBuf)>,
    arch: &'static str,
    universe: Universe,
}

fn setup(test: &str, arch: &'static str, indexes: &[(&str, &str)]) -> Option<Setup> {
    let data = support::shared_data(test)?;
    let apk = support::alpine_apk(test)?;
    let root = tempfile::tempdir().expect("temp dir");
    let status = Command::new(data.join("../tools/alpine-apk-root"))
        .arg(root.path().join("root"))
        .status()
        .expect("alpine-apk-root");
    assert!(status.success());
    let mut repos = Vec::new();
    let mut repositories = Vec::new();
    for (label, index) in indexes {
        let index = data.join(index);
        let dir = root.path().join(label);
        fs_err::create_dir_all(dir.join(arch)).expect("repo dir");
        std::os::unix::fs::symlink(&index, dir.join(arch).join("APKINDEX.tar.gz"))
            .expect("symlink index");
        repositories.push(Repository {
            location: (*label).to_owned(),
            tag: None,
            packages: read_index(&index),
        });
        repos.push((dir, index));
    }
    let universe = Universe::new(&repositories).expect("universe");
    Some(Setup {
        apk,
        root,
        repos,
        arch,
        universe,
    })
}

impl Setup {
    /// `(name-version in install order, stderr)` from `apk add --simulate`.
    fn apk_simulate(&self, world: &[&str]) -> (Vec<String>, String, bool) {
        let mut cmd = Command::new(&self.apk);
        cmd.arg("--root").arg(self.root.path().join("root")).args([
            "--arch",
            self.arch,
            "--no-cache",
            "--quiet",
        ]);
        for (dir, _) in &self.repos {
            cmd.arg("--repository").arg(dir);
        }
        let out = cmd
            .args(["add", "--simulate", "--verbose"])
            .args(world)
            .output()
            .expect("run apk");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let installs = stdout
            .lines()
            .filter_map(|l| {
                let rest = l.split_once(") Installing ")?.1;
                let (name, version) = rest.split_once(" (")?;
                Some(format!("{name}-{}", version.trim_end_matches(')')))
            })
            .collect();
        (
            installs,
            String::from_utf8_lossy(&out.stderr).into_owned() + &stdout,
            out.status.success(),
        )
    }

    fn check(&self, world: &[&str]) -> Vec<String> {
        let (apk_order, apk_output, ok) = self.apk_simulate(world);
        assert!(ok, "apk failed for {world:?}:\n{apk_output}");
        assert!(!apk_order.is_empty(), "apk installed nothing: {apk_output}");
        let atoms: Vec<Dependency> = world
            .iter()
            .map(|a| Dependency::parse(a).unwrap())
            .collect();
        let resolution = self
            .universe
            .resolve(&atoms)
            .unwrap_or_else(|e| panic!("basalt failed for {world:?}: {e}"));
        let ours = resolution.ids();
        let (a, b): (BTreeSet<_>, BTreeSet<_>) =
            (ours.iter().collect(), apk_order.iter().collect());
        assert_eq!(
            a.difference(&b).collect::<Vec<_>>(),
            Vec::<&&String>::new(),
            "only basalt chose these for {world:?}"
        );
        assert_eq!(
            b.difference(&a).collect::<Vec<_>>(),
            Vec::<&&String>::new(),
            "only apk chose these for {world:?}"
        );
        let candidates: Vec<&Candidate> =
            resolution.packages.iter().map(|p| &p.candidate).collect();
        if let Err(e) = install_order_problem(&candidates) {
            panic!("basalt's order for {world:?}: {e}");
        }
        // apk lists an install_if package before its dependencies in places; where its order
        // already respects every dependency, basalt's is the same.
        let by_id = |id: &String| *candidates.iter().find(|c| &c.id() == id).unwrap();
        let apk_candidates: Vec<&Candidate> = apk_order.iter().map(by_id).collect();
        if install_order_problem(&apk_candidates).is_ok() {
            assert_eq!(
                ours, apk_order,
                "install order differs from apk's for {world:?}"
            );
        }
        ours
    }
}

/// Every package comes after the packages that provide its dependencies (cycles aside:
/// a dependency satisfied by a package later in the order must be part of a cycle).
fn install_order_problem(pkgs: &[&Candidate]) -> Result<(), String> {
    let provides = |c: &Candidate, dep: &Dependency| {
        (c.name == dep.name && dep.satisfied_by(Some(&c.version), Some(&c.checksum)))
            || c.provides
                .iter()
                .any(|p| p.name == dep.name && dep.satisfied_by(p.version(), Some(&c.checksum)))
    };
    for (i, p) in pkgs.iter().enumerate() {
        for dep in p.depends.iter().filter(|d| !d.conflict) {
            let Some(j) = pkgs.iter().position(|q| provides(q, dep)) else {
                return Err(format!("{}: nothing provides `{dep}`", p.id()));
            };
            if j > i {
                // allowed only for a cycle: the later package must (transitively) need this one
                let later = pkgs[j];
                let mut reach = vec![j];
                let mut seen = BTreeSet::from([j]);
                let mut cycle = false;
                while let Some(k) = reach.pop() {
                    for d in pkgs[k].depends.iter().filter(|d| !d.conflict) {
                        if let Some(m) = pkgs.iter().position(|q| provides(q, d)) {
                            cycle |= m == i;
                            if seen.insert(m) {
                                reach.push(m);
                            }
                        }
                    }
                }
                if !cycle {
                    return Err(format!(
                        "{} is installed before {} which provides its dependency `{dep}`",
                        p.id(),
                        later.id()
                    ));
                }
            }
        }
    }
    Ok(())
}

const V319: [(&str, &str); 2] = [
    ("main", "alpine/indexes/v3.19-main-x86_64.APKINDEX.tar.gz"),
    (
        "community",
        "alpine/indexes/v3.19-community-x86_64.APKINDEX.tar.gz",
    ),
];

#[test]
fn v319_sets_resolve_as_apk_resolves_them() {
    let Some(s) = setup("v319_sets_resolve_as_apk_resolves_them", "x86_64", &V319) else {
        return;
    };
    // the full Docker host
    let docker = s.check(&[
        "docker",
        "containerd",
        "openrc",
        "openssh-server",
        "chrony",
        "nftables",
        "iptables",
        "audit",
        "syslog-ng",
    ]);
    // install_if: `-openrc` packages come in with openrc
    assert!(docker.iter().any(|p| p.starts_with("docker-openrc-")));
    s.check(&["alpine-base"]);
    // install_if with docs: every installed package's -doc comes along
    let docs = s.check(&["docs", "openssh", "curl"]);
    assert!(docs.iter().any(|p| p.starts_with("curl-doc-")));
    // so: and cmd: names in the world and in dependencies
    s.check(&["so:libcurl.so.4", "cmd:ssh", "cmd:bash"]);
    // versioned constraints
    s.check(&["python3~3.11", "py3-pip", "openssl>3.0"]);
    s.check(&["nginx", "php82-fpm", "php82-pdo_mysql", "mariadb"]);
    s.check(&["git", "perl", "bash", "coreutils", "build-base"]);
    s.check(&["podman", "buildah", "skopeo"]);
}

#[test]
fn v317_aarch64_sets_resolve_as_apk_resolves_them() {
    let Some(s) = setup(
        "v317_aarch64_sets_resolve_as_apk_resolves_them",
        "aarch64",
        &[("main", "alpine/repos/v3.17-main/aarch64/APKINDEX.tar.gz")],
    ) else {
        return;
    };
    s.check(&["alpine-base", "openssh", "chrony"]);
    s.check(&["openrc", "nftables", "iptables", "e2fsprogs", "lvm2"]);
}

impl Setup {
    /// basalt's error and apk's, for a world that cannot be satisfied.
    fn check_unsatisfiable(&self, world: &[&str]) -> String {
        let (_, apk_output, ok) = self.apk_simulate(world);
        assert!(!ok, "apk accepted {world:?}");
        let atoms: Vec<Dependency> = world
            .iter()
            .map(|a| Dependency::parse(a).unwrap())
            .collect();
        let err = self
            .universe
            .resolve(&atoms)
            .expect_err("basalt accepted the world");
        let ours = format!("ERROR: {err}");
        let theirs: String = apk_output
            .lines()
            .skip_while(|l| !l.starts_with("ERROR: unable to select packages"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(ours, theirs, "explanations differ for {world:?}");
        ours
    }
}

#[test]
fn unsatisfiable_worlds_are_explained_as_apk_explains_them() {
    let Some(s) = setup(
        "unsatisfiable_worlds_are_explained_as_apk_explains_them",
        "x86_64",
        &[("boot", "alpine/repos/v3.19-boot/x86_64/APKINDEX.tar.gz")],
    ) else {
        return;
    };
    // the real conflict in the boot repository: ifupdown-ng (from alpine-base) has `!vlan`
    let text = s.check_unsatisfiable(&["alpine-base", "vlan"]);
    assert!(
        text.contains("breaks: ifupdown-ng-0.12.1-r4[!vlan]"),
        "{text}"
    );
    s.check_unsatisfiable(&["alpine-base", "no-such-package"]);
    s.check_unsatisfiable(&["openssh-server>99"]);
    // and the boot repository resolves its own hosts
    s.check(&["alpine-base", "openssh-server", "chrony"]);
}
