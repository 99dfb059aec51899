//! `basalt diff` as a user runs it: two roots or images, packages and files, human and JSON,
//! exit 0 when equal and 1 when different.

mod support;

use std::path::Path;
use std::process::Command;

fn basalt(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn root_with(db: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("lib/apk/db");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("installed"), db).unwrap();
    root
}

fn image_with(path: &Path, db: &str) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(db.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "lib/apk/db/installed", db.as_bytes())
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
}

const OLD: &str = "C:Q1musl0\nP:musl\nV:1.2.4-r2\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1old\nR:gone.so\nZ:Q1g\n\nC:Q1ssh\nP:openssh\nV:9.6_p1-r1\nF:usr/bin\nR:ssh\nZ:Q1s\n\nC:Q1z\nP:zlib\nV:1.3.1-r0\n\n";
const NEW: &str = "C:Q1musl1\nP:musl\nV:1.2.5-r0\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1new\nR:libc.musl-x86_64.so.1\nZ:Q1l\n\nC:Q1ssh\nP:openssh\nV:9.6_p1-r0\nF:usr/bin\nR:ssh\nZ:Q1s\n\nC:Q1c\nP:curl\nV:8.5.0-r0\n\n";

#[test]
fn diff_of_two_roots_lists_packages_and_files() {
    let (old, new) = (root_with(OLD), root_with(NEW));
    let (a, b) = (old.path().to_str().unwrap(), new.path().to_str().unwrap());
    let (code, stdout, stderr) = basalt(&["diff", a, b]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stdout,
        "added      curl 8.5.0-r0\n\
         upgraded   musl 1.2.4-r2 -> 1.2.5-r0\n\
         downgraded openssh 9.6_p1-r1 -> 9.6_p1-r0\n\
         removed    zlib 1.3.1-r0\n\
         removed    /lib/gone.so (musl)\n\
         changed    /lib/ld-musl-x86_64.so.1 (musl): content\n\
         added      /lib/libc.musl-x86_64.so.1 (musl)\n\
         4 packages: 1 added, 1 removed, 1 upgraded, 1 downgraded, 0 rebuilt; 3 files changed\n"
    );

    let (code, stdout, _) = basalt(&["diff", a, b, "--format", "json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        json["packages"][1],
        serde_json::json!({"change": "upgraded", "name": "musl", "from": "1.2.4-r2", "to": "1.2.5-r0"})
    );
    assert_eq!(
        json["files"][1],
        serde_json::json!({"change": "changed", "path": "lib/ld-musl-x86_64.so.1", "what": ["content"], "package": "musl"})
    );

    let (code, stdout, _) = basalt(&["diff", a, a]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("0 packages"), "{stdout}");
}

#[test]
fn diff_reads_images_and_reports_unreadable_sides() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("new.tar.gz");
    image_with(&image, NEW);
    let old = root_with(OLD);
    let (code, stdout, _) = basalt(&[
        "diff",
        old.path().to_str().unwrap(),
        image.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["packages"].as_array().unwrap().len(), 4);

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let (code, _, stderr) = basalt(&["diff", text.to_str().unwrap(), image.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("neither a root directory nor an image"),
        "{stderr}"
    );
    let (code, _, stderr) = basalt(&["diff", "/nonexistent/a", image.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/a"), "{stderr}");
}

#[test]
fn minirootfs_image_equals_its_own_database() {
    let Some(data) = support::shared_data("minirootfs_image_equals_its_own_database") else {
        return;
    };
    let image = data.join("alpine/minirootfs/alpine-minirootfs-3.20.3-x86_64.tar.gz");
    // The image against a root holding the same database: nothing differs.
    let file = std::fs::File::open(&image).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut db = String::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("./lib/apk/db/installed") {
            std::io::Read::read_to_string(&mut entry, &mut db).unwrap();
        }
    }
    let root = root_with(&db);
    let (code, stdout, stderr) = basalt(&[
        "diff",
        image.to_str().unwrap(),
        root.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Against an empty database everything is removed: 14 packages and their files.
    let empty = root_with("");
    let (code, stdout, _) = basalt(&[
        "diff",
        image.to_str().unwrap(),
        empty.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let packages = json["packages"].as_array().unwrap();
    assert_eq!(
        packages.len(),
        db.lines().filter(|l| l.starts_with("P:")).count()
    );
    assert!(packages.iter().all(|p| p["change"] == "removed"));
    assert!(
        json["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "bin/busybox")
    );
}
