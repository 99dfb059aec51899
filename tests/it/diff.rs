//! `basalt diff` as a user runs it: manifests, images and roots in any mix; packages and
//! files; human and JSON; exit 0 when equal and 1 when different.

use crate::support;

use support::run_basalt;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A root holding `files` (path, content, mode); directories are 0755.
fn tree(files: &[(&str, &str, u32)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for (path, content, mode) in files {
        let full = root.path().join(path);
        let mut dir = full.parent().unwrap().to_path_buf();
        std::fs::create_dir_all(&dir).unwrap();
        while dir != root.path() {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            dir.pop();
        }
        std::fs::write(&full, content).unwrap();
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    root
}

fn image_of(root: &Path, image: &Path) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(image).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    tar.append_dir_all(".", root).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
}

const OLD_DB: &str = "C:Q1musl0\nP:musl\nV:1.2.4-r2\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1old\nR:gone.so\nZ:Q1g\n\nC:Q1ssh\nP:openssh\nV:9.6_p1-r1\n\nC:Q1z\nP:zlib\nV:1.3.1-r0\n\n";
const NEW_DB: &str = "C:Q1musl1\nP:musl\nV:1.2.5-r0\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1new\nR:libc.musl-x86_64.so.1\nZ:Q1l\n\nC:Q1ssh\nP:openssh\nV:9.6_p1-r0\n\nC:Q1c\nP:curl\nV:8.5.0-r0\n\n";

fn old_tree() -> tempfile::TempDir {
    tree(&[
        ("lib/apk/db/installed", OLD_DB, 0o644),
        ("lib/ld-musl-x86_64.so.1", "old loader", 0o755),
        ("lib/gone.so", "gone", 0o755),
        ("etc/motd", "hello", 0o644),
    ])
}

fn new_tree() -> tempfile::TempDir {
    tree(&[
        ("lib/apk/db/installed", NEW_DB, 0o644),
        ("lib/ld-musl-x86_64.so.1", "new loader", 0o755),
        ("lib/libc.musl-x86_64.so.1", "libc", 0o755),
        ("etc/motd", "hello", 0o600),
    ])
}

#[test]
fn diff_of_two_roots_lists_packages_and_files() {
    let (old, new) = (old_tree(), new_tree());
    let (a, b) = (old.path().to_str().unwrap(), new.path().to_str().unwrap());
    let (code, stdout, stderr) = run_basalt(&["diff", a, b]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stdout,
        "added      curl 8.5.0-r0\n\
         upgraded   musl 1.2.4-r2 -> 1.2.5-r0\n\
         downgraded openssh 9.6_p1-r1 -> 9.6_p1-r0\n\
         removed    zlib 1.3.1-r0\n\
         changed    /etc/motd: mode\n\
         changed    /lib/apk/db/installed: content\n\
         removed    /lib/gone.so (musl)\n\
         changed    /lib/ld-musl-x86_64.so.1 (musl): content\n\
         added      /lib/libc.musl-x86_64.so.1 (musl)\n\
         4 packages: 1 added, 1 removed, 1 upgraded, 1 downgraded, 0 rebuilt; 5 files changed\n"
    );

    let (code, stdout, _) = run_basalt(&["diff", a, b, "--format", "json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        json["packages"][1],
        serde_json::json!({"change": "upgraded", "name": "musl", "from": "1.2.4-r2", "to": "1.2.5-r0"})
    );
    assert_eq!(
        json["files"][3],
        serde_json::json!({"change": "changed", "path": "/lib/ld-musl-x86_64.so.1", "what": ["content"], "package": "musl"})
    );

    let (code, stdout, _) = run_basalt(&["diff", a, a]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("0 packages"), "{stdout}");
}

#[test]
fn manifests_images_and_roots_mix() {
    let (old, new) = (old_tree(), new_tree());
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("new.tar.gz");
    image_of(new.path(), &image);
    let manifest = dir.path().join("old.manifest");
    let (code, _, stderr) = run_basalt(&[
        "manifest",
        old.path().to_str().unwrap(),
        "--out",
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");

    // The manifest of a root against the root itself, and an image against its root: equal.
    let (code, stdout, stderr) = run_basalt(&[
        "diff",
        manifest.to_str().unwrap(),
        old.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = run_basalt(&[
        "diff",
        image.to_str().unwrap(),
        new.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    // The manifest of the old root against the new image: the same changes as root to root.
    let (code, from_roots, _) = run_basalt(&[
        "diff",
        old.path().to_str().unwrap(),
        new.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    let (code, mixed, _) =
        run_basalt(&["diff", manifest.to_str().unwrap(), image.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(mixed, from_roots);
}

#[test]
fn unreadable_sides_exit_2() {
    let new = new_tree();
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let b = new.path().to_str().unwrap();
    let (code, _, stderr) = run_basalt(&["diff", text.to_str().unwrap(), b]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("is not a manifest, a lock file, an image (.tar.gz) or a root directory"),
        "{stderr}"
    );
    let (code, _, stderr) = run_basalt(&["diff", "/nonexistent/a", b]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/a"), "{stderr}");
    let broken = dir.path().join("broken.manifest");
    std::fs::write(&broken, "basalt-manifest 1\nimage x\n").unwrap();
    let (code, _, stderr) = run_basalt(&["diff", broken.to_str().unwrap(), b]);
    assert_eq!(code, 2);
    assert!(stderr.contains("failed to read the manifest"), "{stderr}");
}

#[test]
fn minirootfs_image_diffs_against_its_manifest_and_an_edited_copy() {
    let Some(data) =
        support::shared_data("minirootfs_image_diffs_against_its_manifest_and_an_edited_copy")
    else {
        return;
    };
    let image = data.join("alpine/minirootfs/alpine-minirootfs-3.20.3-x86_64.tar.gz");
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("mini.manifest");
    let (code, _, stderr) = run_basalt(&[
        "manifest",
        image.to_str().unwrap(),
        "--out",
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) =
        run_basalt(&["diff", manifest.to_str().unwrap(), image.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    // Drop busybox from the manifest's packages and change one entry's mode: exactly that shows.
    let text = std::fs::read_to_string(&manifest).unwrap();
    let busybox = text
        .lines()
        .find(|l| l.starts_with("package busybox "))
        .unwrap()
        .to_owned();
    let motd = text
        .lines()
        .find(|l| l.starts_with("/etc/motd "))
        .unwrap()
        .to_owned();
    let edited_motd = motd.replacen(" 0644 ", " 0600 ", 1);
    assert_ne!(motd, edited_motd);
    let edited = text
        .replace(&format!("{busybox}\n"), "")
        .replace(&motd, &edited_motd);
    let edited_path = dir.path().join("edited.manifest");
    std::fs::write(&edited_path, edited).unwrap();
    let (code, stdout, stderr) = run_basalt(&[
        "diff",
        edited_path.to_str().unwrap(),
        image.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let version = busybox.split(' ').nth(2).unwrap();
    assert_eq!(
        json["packages"],
        serde_json::json!([{"change": "added", "name": "busybox", "version": version}])
    );
    assert_eq!(
        json["files"],
        serde_json::json!([{"change": "changed", "path": "/etc/motd", "what": ["mode"], "package": "alpine-baselayout"}])
    );
}
