//! What `update-ca-certificates` leaves in `/etc/ssl/certs`, produced from data: the bundle,
//! a `ca-cert-NAME.pem` link to each enabled certificate, and the OpenSSL hash links (`*.0`)
//! that `openssl rehash` makes. The hash links are compared with the real `openssl rehash`
//! run on the same directory, over Alpine's real CA certificates (from the shared
//! `ca-certificates-bundle` package), with a duplicate and awkward file names among them.

use crate::support;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::process::Command;

use basalt::tree::{ImagePath, ImageTree, Node, NodeKind};

/// Alpine's CA bundle, split into one PEM text per certificate.
fn alpine_certificates(data: &Path) -> Vec<String> {
    let apk = data.join("alpine/repos/v3.19-boot/x86_64/ca-certificates-bundle-20230506-r0.apk");
    let bytes = fs_err::read(apk).unwrap();
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(&bytes[..]));
    let mut bundle = String::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == "etc/ssl/certs/ca-certificates.crt" {
            entry.read_to_string(&mut bundle).unwrap();
        }
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for line in bundle.lines() {
        if line.starts_with("-----BEGIN CERTIFICATE-----") {
            current.clear();
        }
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END CERTIFICATE-----") {
            out.push(current.clone());
        }
    }
    out
}

fn p(s: &str) -> ImagePath {
    ImagePath::new(s.as_bytes()).unwrap()
}

#[test]
fn hash_links_equal_openssl_rehash_and_ca_cert_links_follow_update_ca_certificates() {
    let test = "hash_links_equal_openssl_rehash_and_ca_cert_links_follow_update_ca_certificates";
    let Some(data) = support::shared_data(test) else {
        return;
    };
    if !support::vm::have_tools(test, &["openssl"]) {
        return;
    }
    let certs = alpine_certificates(&data);
    assert!(certs.len() > 100, "{} certificates", certs.len());
    // File names as Debian's and Alpine's packages have them, and some awkward ones.
    let mut files: Vec<(String, String)> = certs
        .iter()
        .enumerate()
        .map(|(i, pem)| {
            let name = match i % 4 {
                0 => format!("CA_{i}.crt"),
                1 => format!("Root CA {i}.crt"),
                2 => format!("Trust, Services (G{i}).crt"),
                _ => format!("ca-{i}.crt"),
            };
            (format!("mozilla/{name}"), pem.clone())
        })
        .collect();
    // The same certificate twice: one hash link only.
    files.push(("mozilla/zz-duplicate.crt".to_owned(), certs[0].clone()));
    let mut conf = String::from("# comment\n");
    for (name, _) in &files {
        conf.push_str(name);
        conf.push('\n');
    }
    conf.push_str("!mozilla/disabled.crt\n");

    let mut tree = ImageTree::new();
    for dir in [
        "etc",
        "usr",
        "usr/share",
        "usr/share/ca-certificates",
        "usr/share/ca-certificates/mozilla",
    ] {
        tree.insert(p(dir), Node::dir(0o755)).unwrap();
    }
    tree.insert(
        p("etc/ca-certificates.conf"),
        Node::file(conf.into_bytes(), 0o644),
    )
    .unwrap();
    for (name, pem) in &files {
        tree.insert(
            p(&format!("usr/share/ca-certificates/{name}")),
            Node::file(pem.clone().into_bytes(), 0o644),
        )
        .unwrap();
    }
    tree.insert(
        p("usr/share/ca-certificates/mozilla/disabled.crt"),
        Node::file(certs[1].clone().into_bytes(), 0o644),
    )
    .unwrap();
    basalt::build::effects::ca_bundle(&mut tree).unwrap();

    // ca-cert-NAME.pem: `.crt` dropped, `,` and space as `_`, parentheses as `=`, absolute.
    let link = |name: &str| match &tree.get(&p(&format!("etc/ssl/certs/{name}"))).unwrap().kind {
        NodeKind::Symlink(t) => String::from_utf8(t.clone()).unwrap(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(
        link("ca-cert-CA_0.pem"),
        "/usr/share/ca-certificates/mozilla/CA_0.crt"
    );
    assert_eq!(
        link("ca-cert-Root_CA_1.pem"),
        "/usr/share/ca-certificates/mozilla/Root CA 1.crt"
    );
    assert_eq!(
        link("ca-cert-Trust__Services_=G2=.pem"),
        "/usr/share/ca-certificates/mozilla/Trust, Services (G2).crt"
    );
    assert!(tree.get(&p("etc/ssl/certs/ca-cert-disabled.pem")).is_none());
    let bundle = tree
        .read_file("/etc/ssl/certs/ca-certificates.crt")
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(bundle)
            .matches("BEGIN CERTIFICATE")
            .count(),
        files.len()
    );

    // The real `openssl rehash` on the same directory, laid out on disk.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let etc_certs = root.join("etc/ssl/certs");
    fs_err::create_dir_all(&etc_certs).unwrap();
    fs_err::create_dir_all(root.join("usr/share/ca-certificates/mozilla")).unwrap();
    for (name, pem) in &files {
        fs_err::write(root.join(format!("usr/share/ca-certificates/{name}")), pem).unwrap();
    }
    fs_err::write(etc_certs.join("ca-certificates.crt"), bundle).unwrap();
    let mut ours: BTreeMap<String, String> = BTreeMap::new();
    for (path, node) in tree.iter() {
        let Some(name) = path
            .display()
            .strip_prefix("etc/ssl/certs/")
            .map(str::to_owned)
        else {
            continue;
        };
        let NodeKind::Symlink(target) = &node.kind else {
            continue;
        };
        let target = String::from_utf8(target.clone()).unwrap();
        if name.starts_with("ca-cert-") {
            std::os::unix::fs::symlink(
                root.join(target.trim_start_matches('/')),
                etc_certs.join(&name),
            )
            .unwrap();
        } else {
            ours.insert(name, target);
        }
    }
    let out = Command::new("openssl")
        .arg("rehash")
        .arg(&etc_certs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut theirs: BTreeMap<String, String> = BTreeMap::new();
    for entry in fs_err::read_dir(&etc_certs).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("ca-cert-") && entry.file_type().unwrap().is_symlink() {
            let target = fs_err::read_link(entry.path()).unwrap();
            theirs.insert(name, target.to_string_lossy().into_owned());
        }
    }
    assert_eq!(
        ours.len(),
        files.len() - 1,
        "the duplicate has no link of its own"
    );
    assert_eq!(ours, theirs);
}
