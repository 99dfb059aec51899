//! The installed database (`lib/apk/db/installed`, `scripts.tar`, `triggers`, `world`): the real
//! minirootfs round-trips byte for byte, generated databases round-trip, and hostile bytes never
//! panic the parsers.

use crate::support;

use std::collections::BTreeMap;
use std::io::Read;

use basalt::apk::installed::{
    Acl, Database, ExtraField, InstalledDir, InstalledFile, InstalledPackage, ScriptEntry, Scripts,
    TriggerEntry, Triggers, World,
};
use proptest::prelude::*;

/// Reads the named members of a `.tar.gz` (names with or without a leading `./`).
fn members(path: &std::path::Path, wanted: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut found = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let name = name.trim_start_matches("./").to_owned();
        if wanted.contains(&name.as_str()) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            found.insert(name, bytes);
        }
    }
    found
}

#[test]
fn minirootfs_database_round_trips_byte_for_byte() {
    let Some(data) = support::shared_data("minirootfs_database_round_trips_byte_for_byte") else {
        return;
    };
    let dir = data.join("alpine/minirootfs");
    let tarball = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .expect("a minirootfs tarball");
    let files = members(
        &tarball,
        &[
            "lib/apk/db/installed",
            "lib/apk/db/scripts.tar",
            "lib/apk/db/triggers",
            "etc/apk/world",
        ],
    );
    assert_eq!(
        files.len(),
        4,
        "all four database files are in the minirootfs"
    );

    let installed = &files["lib/apk/db/installed"];
    let db = Database::parse(installed).unwrap();
    assert_eq!(db.to_bytes().unwrap(), *installed);
    // The content is read, not skipped: every package has a name, version and identity, and
    // the counts match the `P:` and `R:` lines of the file.
    let text = String::from_utf8(installed.clone()).unwrap();
    let count = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(db.packages.len(), count("P:"));
    assert_eq!(
        db.packages.iter().map(|p| p.files().count()).sum::<usize>(),
        count("R:")
    );
    let busybox = db.package("busybox").expect("busybox is installed");
    assert!(busybox.checksum.as_deref().unwrap().starts_with("Q1"));
    assert_eq!(db.owners()["bin/busybox"], "busybox");
    assert!(db.packages.iter().all(|p| p.extra.is_empty()));

    let scripts_bytes = &files["lib/apk/db/scripts.tar"];
    let scripts = Scripts::parse(scripts_bytes).unwrap();
    assert_eq!(scripts.to_bytes().unwrap(), *scripts_bytes);
    assert!(!scripts.entries.is_empty());
    for entry in &scripts.entries {
        let name = entry.parse_name().expect("apk's script names split");
        let pkg = db
            .package(&name.package)
            .expect("scripts belong to packages");
        assert_eq!(pkg.version, name.version);
        assert_eq!(pkg.checksum.as_deref(), Some(name.checksum.as_str()));
    }

    let triggers_bytes = &files["lib/apk/db/triggers"];
    let triggers = Triggers::parse(triggers_bytes).unwrap();
    assert_eq!(triggers.to_bytes().unwrap(), *triggers_bytes);
    assert_eq!(
        triggers.entries[0].checksum,
        busybox.checksum.clone().unwrap()
    );

    let world_bytes = &files["etc/apk/world"];
    let world = World::parse(world_bytes).unwrap();
    assert_eq!(world.to_bytes().unwrap(), *world_bytes);
    assert!(world.entries.iter().any(|w| w == "busybox"));
}

fn word() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._+-]{0,12}"
}

fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,30}"
}

fn acl() -> impl Strategy<Value = Option<Acl>> {
    proptest::option::of(
        (
            0u32..70000,
            0u32..70000,
            0u32..0o7777,
            proptest::option::of("Q1[A-Za-z0-9+/]{27}="),
        )
            .prop_map(|(uid, gid, mode, xattr_checksum)| Acl {
                uid,
                gid,
                mode,
                xattr_checksum,
            }),
    )
}

fn file() -> impl Strategy<Value = InstalledFile> {
    (
        word(),
        acl(),
        proptest::option::of("Q1[A-Za-z0-9+/]{27}="),
        proptest::collection::vec(("[bdegh]", text()), 0..2),
    )
        .prop_map(|(name, acl, checksum, extra)| InstalledFile {
            name,
            acl,
            checksum,
            extra: extra
                .into_iter()
                .map(|(k, v)| (k.chars().next().unwrap(), v))
                .collect(),
        })
}

fn dir() -> impl Strategy<Value = InstalledDir> {
    (
        proptest::collection::vec(word(), 0..4),
        acl(),
        proptest::collection::vec(file(), 0..4),
    )
        .prop_map(|(parts, acl, files)| InstalledDir {
            path: parts.join("/"),
            acl,
            files,
            extra: Vec::new(),
        })
}

prop_compose! {
    fn package()(
        (name, version, arch, checksum) in (word(), "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}-r[0-9]{1,2}",
            proptest::option::of(word()), proptest::option::of("Q1[A-Za-z0-9+/]{27}=")),
        (size, installed_size, description, url, license) in (any::<u64>(), any::<u64>(), text(), text(), text()),
        (origin, maintainer, build_time, commit, provider_priority) in (
            proptest::option::of(word()), proptest::option::of(text()),
            proptest::option::of(any::<u64>()), proptest::option::of("[0-9a-f]{40}"),
            proptest::option::of(any::<u64>())),
        (depends, provides, install_if, replaces) in (
            proptest::collection::vec(word(), 0..4), proptest::collection::vec(word(), 0..3),
            proptest::collection::vec(word(), 0..2), proptest::collection::vec(word(), 0..2)),
        (replaces_priority, repository_tag, broken) in (
            proptest::option::of(any::<u64>()), proptest::option::of(word()),
            proptest::option::of("[fsx]{1,3}")),
        extra in proptest::collection::vec(
            (proptest::option::of(proptest::sample::select(vec!['P', 'V', 'S', 'L', 'D'])),
             "[bdegh]", text()), 0..3),
        dirs in proptest::collection::vec(dir(), 0..4),
    ) -> InstalledPackage {
        let mut pkg = InstalledPackage {
            checksum, name, version, arch, size, installed_size, description, url, license,
            origin, maintainer, build_time, commit, provider_priority, depends, provides,
            install_if, replaces, replaces_priority, repository_tag, broken,
            extra: Vec::new(), dirs,
        };
        // An extra field anchored to a field that is written stays there; anchors to absent
        // fields are not generated (the writer moves those to the front).
        pkg.extra = extra
            .into_iter()
            .filter(|(after, _, _)| *after != Some('D') || !pkg.depends.is_empty())
            .map(|(after, key, value)| ExtraField { after, key: key.chars().next().unwrap(), value })
            .collect();
        // The parser groups extras by their anchor in write order.
        let order = |a: Option<char>| match a { None => 0, Some('P') => 1, Some('V') => 2,
            Some('S') => 3, Some('L') => 4, _ => 5 };
        pkg.extra.sort_by_key(|e| order(e.after));
        pkg
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_databases_round_trip(packages in proptest::collection::vec(package(), 0..4)) {
        let db = Database { packages };
        let bytes = db.to_bytes().unwrap();
        let parsed = Database::parse(&bytes).unwrap();
        prop_assert_eq!(&parsed, &db);
        prop_assert_eq!(parsed.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn generated_scripts_triggers_and_world_round_trip(
        entries in proptest::collection::vec(
            ("[a-z][a-z0-9]{0,5}(-[a-z0-9]{1,5}){0,2}", "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}[a-z]?(_p[0-9])?", "[A-Za-z0-9+/]{27}", proptest::sample::select(vec![
                "pre-install", "post-install", "pre-upgrade", "post-upgrade", "trigger"]),
             0u32..0o7777, 0u64..0o7777777, any::<u32>(), proptest::collection::vec(any::<u8>(), 0..1500)),
            0..5),
        end_blocks in 2usize..5,
        triggers in proptest::collection::vec(
            ("Q1[A-Za-z0-9+/]{27}=", proptest::collection::vec("/[a-z/*]{1,20}", 0..4)), 0..4),
        world in proptest::collection::vec("[a-z0-9][a-z0-9._<>=~@-]{0,15}", 0..6),
    ) {
        let scripts = Scripts {
            entries: entries
                .into_iter()
                .map(|(name, version, hash, action, mode, id, mtime, content)| ScriptEntry {
                    name: format!("{name}-{version}-r0.Q1{hash}=.{action}"),
                    mode,
                    uid: id,
                    gid: id,
                    mtime: u64::from(mtime),
                    uname: "root".into(),
                    gname: "root".into(),
                    content,
                })
                .collect(),
            end_blocks,
        };
        let bytes = scripts.to_bytes().unwrap();
        prop_assert_eq!(bytes.len() % 512, 0);
        let parsed = Scripts::parse(&bytes).unwrap();
        prop_assert_eq!(&parsed, &scripts);
        for entry in &parsed.entries {
            let name = entry.parse_name().unwrap();
            let joined = format!("{}-{}.{}.{}", name.package, name.version, name.checksum, name.action);
            prop_assert_eq!(&joined, &entry.name);
            prop_assert!(name.version.ends_with("-r0"));
            prop_assert!(name.checksum.starts_with("Q1"));
        }
        let triggers = Triggers {
            entries: triggers
                .into_iter()
                .map(|(checksum, paths)| TriggerEntry { checksum, paths })
                .collect(),
        };
        prop_assert_eq!(Triggers::parse(&triggers.to_bytes().unwrap()).unwrap(), triggers);
        let world = World { entries: world };
        prop_assert_eq!(World::parse(&world.to_bytes().unwrap()).unwrap(), world);
    }

    #[test]
    fn installed_parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        installed_entry_points(&bytes);
    }

    #[test]
    fn installed_parser_never_panics_on_mutated_databases(
        packages in proptest::collection::vec(package(), 1..3),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = Database { packages }.to_bytes().unwrap();
        for (index, byte) in flips {
            let i = index.index(bytes.len());
            bytes[i] = byte;
        }
        installed_entry_points(&bytes);
    }
}

/// The same calls as `fuzz/fuzz_targets/installed.rs`: whatever parses writes back to bytes
/// that parse to the same value.
fn installed_entry_points(bytes: &[u8]) {
    if let Ok(db) = Database::parse(bytes) {
        let written = db.to_bytes().expect("a parsed database can be written");
        assert_eq!(Database::parse(&written).unwrap(), db);
        let _ = db.owners();
    }
    if let Ok(scripts) = Scripts::parse(bytes)
        && let Ok(written) = scripts.to_bytes()
    {
        assert_eq!(Scripts::parse(&written).unwrap(), scripts);
    }
    if let Ok(triggers) = Triggers::parse(bytes)
        && let Ok(written) = triggers.to_bytes()
    {
        assert_eq!(Triggers::parse(&written).unwrap(), triggers);
    }
    if let Ok(world) = World::parse(bytes) {
        assert_eq!(World::parse(&world.to_bytes().unwrap()).unwrap(), world);
    }
}
