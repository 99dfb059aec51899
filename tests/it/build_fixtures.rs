//! Assembly from packages written in code (real `.apk` bytes, signed by a test key): file
//! conflicts, `replaces`, path escapes and writes through symlinked directories, each refused
//! or allowed as apk would, with the package and path named.

use crate::support;

use basalt::build::pipeline::{self, Error, LoadedPackage, Options};
use basalt::build::unpack;
use support::apk::{ApkBuilder, TestKey};

fn load(builder: &ApkBuilder) -> Result<LoadedPackage, Error> {
    let key = TestKey::primary();
    let built = builder.build_signed(key);
    let file = format!("{}-{}.apk", built.name, built.version);
    pipeline::read_apk(
        &built.bytes,
        &file,
        &key.keyring(),
        None,
        unpack::Limits::default(),
    )
}

fn assemble(packages: &[&ApkBuilder]) -> Result<pipeline::Assembled, Error> {
    let options = Options {
        name: "fixture".into(),
        version: "1".into(),
        epoch: 1_700_000_000,
        ..Options::default()
    };
    let loaded = packages
        .iter()
        .map(|b| load(b))
        .collect::<Result<Vec<_>, _>>()?;
    pipeline::assemble(loaded, &options)
}

fn base() -> ApkBuilder {
    ApkBuilder::new("base", "1-r0")
        .dir("etc", 0o755)
        .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
        .file("etc/group", b"root:x:0:root\n", 0o644)
        .dir("usr", 0o755)
        .dir("usr/bin", 0o755)
        .dir("var", 0o755)
        .dir("run", 0o755)
        .symlink("var/run", "../run")
}

#[test]
fn two_packages_writing_one_file_is_refused() {
    let a = ApkBuilder::new("tool-a", "1-r0")
        .dir("usr", 0o755)
        .dir("usr/bin", 0o755)
        .file("usr/bin/tool", b"a", 0o755);
    let b = ApkBuilder::new("tool-b", "1-r0")
        .dir("usr", 0o755)
        .dir("usr/bin", 0o755)
        .file("usr/bin/tool", b"b", 0o755);
    let err = assemble(&[&base(), &a, &b]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`usr/bin/tool` is installed by both `tool-a` and `tool-b`"
    );
}

#[test]
fn replaces_lets_the_newcomer_own_the_file() {
    let a = ApkBuilder::new("tool-a", "1-r0")
        .dir("usr", 0o755)
        .dir("usr/bin", 0o755)
        .file("usr/bin/tool", b"a", 0o755);
    let b = ApkBuilder::new("tool-b", "1-r0")
        .replaces("tool-a")
        .dir("usr", 0o755)
        .dir("usr/bin", 0o755)
        .file("usr/bin/tool", b"b", 0o755);
    let mut assembled = assemble(&[&base(), &a, &b]).unwrap();
    assert_eq!(assembled.tree.read_file("/usr/bin/tool"), Some(&b"b"[..]));
    pipeline::write_apk_database(&mut assembled, &["tool-b".to_owned()]).unwrap();
    let db = basalt::apk::installed::Database::parse(
        assembled.tree.read_file("/lib/apk/db/installed").unwrap(),
    )
    .unwrap();
    let owners = db.owners();
    assert_eq!(
        owners.get("usr/bin/tool").map(String::as_str),
        Some("tool-b")
    );
}

#[test]
fn escaping_names_are_refused_naming_package_and_path() {
    for name in ["../etc/evil", "usr/../../evil", "/etc/evil"] {
        let evil = ApkBuilder::new("evil", "1-r0")
            .dir("usr", 0o755)
            .file(name, b"x", 0o644);
        match assemble(&[&base(), &evil]) {
            // The reader refuses absolute and `..` names before anything is unpacked.
            Err(Error::Package { file, .. }) => assert_eq!(file, "evil-1-r0.apk"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn writes_through_a_symlinked_directory_are_refused() {
    let sneaky = ApkBuilder::new("sneaky", "1-r0")
        .dir("var", 0o755)
        .dir("var/run", 0o755)
        .file("var/run/pid", b"1", 0o644);
    let err = assemble(&[&base(), &sneaky]).unwrap_err();
    let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert_eq!(
        text,
        "package `sneaky` cannot install `var/run/pid`: cannot create `var/run/pid`: parent \
         `var/run` is a symlink, not a directory"
    );
}

#[test]
fn owners_resolve_through_the_images_own_accounts() {
    let base = base().file(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\ndaemon:x:2:2:daemon:/sbin:/sbin/nologin\n",
        0o644,
    );
    let app = ApkBuilder::new("app", "1-r0")
        .dir("var", 0o755)
        .dir("var/app", 0o750)
        .owned("daemon", 4321, "nogroup-here", 8765);
    let assembled = assemble(&[&base, &app]).unwrap();
    let node = assembled.tree.lookup("/var/app").unwrap();
    assert_eq!((node.uid, node.gid, node.mode), (2, 8765, 0o750));
}
