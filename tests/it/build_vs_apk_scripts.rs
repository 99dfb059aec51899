//! The assembled image equals what the real apk-tools installs for the same packages **with**
//! their scripts (run by apk in a chroot, as root): busybox's applet links, the accounts of
//! the pre-install scripts and their owners match what the scripts made. Every other
//! difference outside apk's own state is listed here as deliberate, with its reason, and
//! each listed difference must still occur (the list cannot go stale).

use crate::support;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use basalt::build::pipeline::{self, Options};
use basalt::tree::{ImageTree, NodeKind};

/// Differences basalt makes on purpose: (path, which side has it, why).
const DELIBERATE: &[(&str, &str, &str)] = &[
    (
        "etc/passwd-",
        "apk",
        "busybox adduser's backup of the previous file: a built image has no history",
    ),
    ("etc/group-", "apk", "busybox addgroup's backup, as above"),
    ("etc/shadow-", "apk", "busybox adduser's backup, as above"),
    (
        "etc/shadow",
        "both",
        "root's password is locked (`!`) in every basalt image; apk leaves it empty",
    ),
    (
        "dev/null",
        "apk",
        "apk creates /dev/null as a plain file when the root has no devices; a booted host has devtmpfs there",
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    content: Option<Vec<u8>>,
    target: Option<Vec<u8>>,
}

fn walk_disk(root: &Path) -> BTreeMap<String, Seen> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let meta = entry.path().symlink_metadata().unwrap();
        let ft = meta.file_type();
        let (kind, content, target) = if ft.is_dir() {
            ("dir", None, None)
        } else if ft.is_symlink() {
            let t = fs_err::read_link(entry.path()).unwrap();
            (
                "symlink",
                None,
                Some(t.into_os_string().into_encoded_bytes()),
            )
        } else if ft.is_file() {
            ("file", Some(fs_err::read(entry.path()).unwrap()), None)
        } else if ft.is_char_device() {
            ("char", None, None)
        } else {
            ("other", None, None)
        };
        let mode = if ft.is_symlink() {
            0o777
        } else {
            meta.mode() & 0o7777
        };
        out.insert(
            rel,
            Seen {
                kind,
                mode,
                uid: meta.uid(),
                gid: meta.gid(),
                content,
                target,
            },
        );
    }
    out
}

fn walk_tree(tree: &ImageTree) -> BTreeMap<String, Seen> {
    let mut out = BTreeMap::new();
    for (path, node) in tree.iter() {
        let (kind, content, target) = match &node.kind {
            NodeKind::Dir => ("dir", None, None),
            NodeKind::Symlink(t) => ("symlink", None, Some(t.clone())),
            NodeKind::File(c) => ("file", Some(c.bytes().to_vec()), None),
            NodeKind::Hardlink(_) => match &tree.file_node(path).unwrap().kind {
                NodeKind::File(c) => ("file", Some(c.bytes().to_vec()), None),
                _ => unreachable!(),
            },
            NodeKind::CharDevice { .. } => ("char", None, None),
            _ => ("other", None, None),
        };
        out.insert(
            path.display(),
            Seen {
                kind,
                mode: node.mode,
                uid: node.uid,
                gid: node.gid,
                content,
                target,
            },
        );
    }
    out
}

/// apk's own state and what `alpine-apk-root` prepares.
fn is_apk_state(path: &str) -> bool {
    path.starts_with("lib/apk") || path.starts_with("etc/apk") || path.starts_with("var/cache/apk")
}

#[test]
fn minimal_assembly_equals_apk_add_with_scripts() {
    let test = "minimal_assembly_equals_apk_add_with_scripts";
    let Some(apk) = support::alpine_apk(test) else {
        return;
    };
    let data = support::shared_data(test).unwrap();
    if !support::boot::is_root() {
        assert!(
            std::env::var("BASALT_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
            "{test}: apk runs package scripts in a chroot, which needs root"
        );
        eprintln!("SKIPPED {test}: apk runs package scripts in a chroot, which needs root");
        return;
    }
    let repo = data.join("alpine/repos/v3.19-boot");
    let reference = tempfile::tempdir().unwrap();
    let status = Command::new(data.join("../tools/alpine-apk-root"))
        .arg(reference.path())
        .status()
        .unwrap();
    assert!(status.success());
    let wanted = ["alpine-base", "openssh-server", "chrony"];
    let output = Command::new(&apk)
        .arg("--root")
        .arg(reference.path())
        .arg("--repository")
        .arg(&repo)
        .args(["--no-cache", "add"])
        .args(wanted)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    // The scripts did run: busybox's trigger and chrony's pre-install.
    assert!(stdout.contains("Executing busybox-"), "{stdout}");
    assert!(stdout.contains("Executing chrony-"), "{stdout}");
    let order: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|l| {
            let rest = l.split_once(") Installing ")?.1;
            let (name, version) = rest.split_once(" (")?;
            Some((name.to_owned(), version.trim_end_matches(')').to_owned()))
        })
        .collect();
    let keyring = basalt::apk::keys::Keyring::alpine();
    let packages = order
        .iter()
        .map(|(name, version)| {
            let file = repo.join(format!("x86_64/{name}-{version}.apk"));
            let bytes = fs_err::read(&file).unwrap();
            let limits = basalt::build::unpack::Limits::default();
            pipeline::read_apk(&bytes, &file.display().to_string(), &keyring, None, limits).unwrap()
        })
        .collect();
    let options = Options {
        name: "minimal".into(),
        version: "1".into(),
        epoch: 1_700_000_000,
        ..Options::default()
    };
    let assembled = pipeline::assemble(packages, &options).unwrap();

    let ours = walk_tree(&assembled.tree);
    let theirs = walk_disk(reference.path());
    let mut unexplained = Vec::new();
    let mut seen_deliberate = Vec::new();
    let paths: std::collections::BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    for path in paths {
        if is_apk_state(path) {
            continue;
        }
        let (a, b) = (ours.get(path), theirs.get(path));
        if a == b {
            continue;
        }
        let side = match (a, b) {
            (Some(_), None) => "basalt",
            (None, Some(_)) => "apk",
            _ => "both",
        };
        let deliberate = DELIBERATE
            .iter()
            .find(|(p, s, _)| *s == side && (path == p || path.starts_with(&format!("{p}/"))));
        match deliberate {
            Some((p, _, _)) => seen_deliberate.push(*p),
            None => unexplained.push(format!("{side}: {path}\n  basalt {a:?}\n  apk    {b:?}")),
        }
    }
    assert!(
        unexplained.is_empty(),
        "differences not listed as deliberate:\n{}",
        unexplained.join("\n")
    );
    for (p, _, why) in DELIBERATE {
        assert!(
            seen_deliberate.contains(p),
            "`{p}` ({why}) no longer differs: remove it from the list"
        );
    }
}
