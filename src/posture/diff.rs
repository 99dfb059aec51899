//! `diff`: what a redeploy changes, between two package sets and two file lists.
//!
//! Both sides are sorted maps, compared by a merge over their keys: packages by name (added,
//! removed, upgraded, downgraded, rebuilt at the same version), files by path (added, removed,
//! changed, with what changed).
//!
//! Invariants: pure; versions are ordered as apk orders them; the output is sorted by name or
//! path, so it is deterministic.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::apk::installed::Database;
use crate::apk::version;
use crate::build::lock::Lockfile;
use crate::integrity::manifest::{self, Kind, Manifest};

/// A package on one side of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageRef {
    /// The full version.
    pub version: String,
    /// The package identity (`Q1…`), when known: a different identity at the same version is
    /// a rebuild.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// Packages by name.
pub type PackageSet = BTreeMap<String, PackageRef>;

/// How a package differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum PackageChange {
    /// Only in the new side.
    Added {
        /// Package name.
        name: String,
        /// Its version.
        version: String,
    },
    /// Only in the old side.
    Removed {
        /// Package name.
        name: String,
        /// Its version.
        version: String,
    },
    /// A newer version in the new side.
    Upgraded {
        /// Package name.
        name: String,
        /// The old version.
        from: String,
        /// The new version.
        to: String,
    },
    /// An older version in the new side.
    Downgraded {
        /// Package name.
        name: String,
        /// The old version.
        from: String,
        /// The new version.
        to: String,
    },
    /// The same version with a different identity, or a version string apk orders equal.
    Rebuilt {
        /// Package name.
        name: String,
        /// The old version.
        from: String,
        /// The new version.
        to: String,
    },
}

impl PackageChange {
    /// The package name.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            PackageChange::Added { name, .. }
            | PackageChange::Removed { name, .. }
            | PackageChange::Upgraded { name, .. }
            | PackageChange::Downgraded { name, .. }
            | PackageChange::Rebuilt { name, .. } => name,
        }
    }
}

/// What kind of thing a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// Anything else (device, fifo, hard link).
    Other,
}

/// A path on one side of a diff; fields that one side does not know are `None` and are not
/// compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRef {
    /// What it is.
    pub kind: FileKind,
    /// A content digest (the same algorithm on both sides).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Permission bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// Numeric owner and group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<(u32, u32)>,
    /// The link target of a symbolic link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A digest of the extended attributes, when there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xattrs: Option<String>,
    /// The package that owns it, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

/// Files by absolute path (escaped as in manifests: `/etc/passwd`).
pub type FileSet = BTreeMap<String, FileRef>;

/// How a path differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum FileChange {
    /// Only in the new side.
    Added {
        /// Relative path.
        path: String,
        /// What it is.
        kind: FileKind,
        /// Its package, when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        package: Option<String>,
    },
    /// Only in the old side.
    Removed {
        /// Relative path.
        path: String,
        /// What it was.
        kind: FileKind,
        /// Its package, when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        package: Option<String>,
    },
    /// On both sides, different.
    Changed {
        /// Relative path.
        path: String,
        /// What differs: `kind`, `content`, `mode`, `owner`, `target`, `xattrs`, `package`.
        what: Vec<&'static str>,
        /// Its package on the new side, when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        package: Option<String>,
    },
}

impl FileChange {
    /// The path.
    #[must_use]
    pub fn path(&self) -> &str {
        match self {
            FileChange::Added { path, .. }
            | FileChange::Removed { path, .. }
            | FileChange::Changed { path, .. } => path,
        }
    }
}

/// The differences between two sides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Package changes, by name.
    pub packages: Vec<PackageChange>,
    /// Whether files were compared: both sides must list them (a lock lists packages only).
    pub files_compared: bool,
    /// File changes, by path; empty when files were not compared.
    pub files: Vec<FileChange>,
}

/// One side of a diff: its packages, and its files when it lists them (a lock does not).
#[derive(Debug, Clone)]
pub struct Side {
    /// The packages.
    pub packages: PackageSet,
    /// The files, when the side lists them.
    pub files: Option<FileSet>,
}

impl Side {
    /// A manifest's packages and files.
    #[must_use]
    pub fn of_manifest(manifest: &Manifest) -> Side {
        Side {
            packages: manifest_packages(manifest),
            files: Some(manifest_files(manifest)),
        }
    }

    /// A lock's packages (a lock lists no files).
    #[must_use]
    pub fn of_lock(lock: &Lockfile) -> Side {
        Side {
            packages: lock_packages(lock),
            files: None,
        }
    }
}

/// What changes from `old` to `new`: packages always, files when both sides list them.
#[must_use]
pub fn diff(old: &Side, new: &Side) -> Diff {
    let (files_compared, files) = match (&old.files, &new.files) {
        (Some(a), Some(b)) => (true, self::files(a, b)),
        _ => (false, Vec::new()),
    };
    Diff {
        packages: packages(&old.packages, &new.packages),
        files_compared,
        files,
    }
}

impl Diff {
    /// True when nothing differs.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty() && self.files.is_empty()
    }
}

/// Package changes from `old` to `new`.
#[must_use]
pub fn packages(old: &PackageSet, new: &PackageSet) -> Vec<PackageChange> {
    let mut changes = Vec::new();
    for (name, before) in old {
        match new.get(name) {
            None => changes.push(PackageChange::Removed {
                name: name.clone(),
                version: before.version.clone(),
            }),
            Some(after) => {
                let (from, to) = (before.version.clone(), after.version.clone());
                let name = name.clone();
                match version::compare(&before.version, &after.version) {
                    Ordering::Less => changes.push(PackageChange::Upgraded { name, from, to }),
                    Ordering::Greater => changes.push(PackageChange::Downgraded { name, from, to }),
                    Ordering::Equal => {
                        let identity_differs = matches!(
                            (&before.checksum, &after.checksum),
                            (Some(a), Some(b)) if a != b
                        );
                        if from != to || identity_differs {
                            changes.push(PackageChange::Rebuilt { name, from, to });
                        }
                    }
                }
            }
        }
    }
    for (name, after) in new {
        if !old.contains_key(name) {
            changes.push(PackageChange::Added {
                name: name.clone(),
                version: after.version.clone(),
            });
        }
    }
    changes.sort_by(|a, b| a.name().cmp(b.name()));
    changes
}

/// File changes from `old` to `new`. A field is compared only when both sides know it.
#[must_use]
pub fn files(old: &FileSet, new: &FileSet) -> Vec<FileChange> {
    fn differs<T: PartialEq>(a: Option<&T>, b: Option<&T>) -> bool {
        matches!((a, b), (Some(a), Some(b)) if a != b)
    }
    let mut changes = Vec::new();
    for (path, before) in old {
        let Some(after) = new.get(path) else {
            changes.push(FileChange::Removed {
                path: path.clone(),
                kind: before.kind,
                package: before.package.clone(),
            });
            continue;
        };
        let mut what = Vec::new();
        if before.kind != after.kind {
            what.push("kind");
        }
        if differs(before.digest.as_ref(), after.digest.as_ref()) {
            what.push("content");
        }
        if differs(before.mode.as_ref(), after.mode.as_ref()) {
            what.push("mode");
        }
        if differs(before.owner.as_ref(), after.owner.as_ref()) {
            what.push("owner");
        }
        if differs(before.target.as_ref(), after.target.as_ref()) {
            what.push("target");
        }
        if before.xattrs != after.xattrs {
            what.push("xattrs");
        }
        if differs(before.package.as_ref(), after.package.as_ref()) {
            what.push("package");
        }
        if !what.is_empty() {
            changes.push(FileChange::Changed {
                path: path.clone(),
                what,
                package: after.package.clone(),
            });
        }
    }
    for (path, after) in new {
        if !old.contains_key(path) {
            changes.push(FileChange::Added {
                path: path.clone(),
                kind: after.kind,
                package: after.package.clone(),
            });
        }
    }
    changes.sort_by(|a, b| a.path().cmp(b.path()));
    changes
}

/// The packages of an installed database.
#[must_use]
pub fn package_set(db: &Database) -> PackageSet {
    db.packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                PackageRef {
                    version: p.version.clone(),
                    checksum: p.checksum.clone(),
                },
            )
        })
        .collect()
}

/// The packages a lock pins.
#[must_use]
pub fn lock_packages(lock: &Lockfile) -> PackageSet {
    lock.packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                PackageRef {
                    version: p.version.clone(),
                    checksum: Some(p.checksum.clone()),
                },
            )
        })
        .collect()
}

/// The packages a manifest's header lists.
#[must_use]
pub fn manifest_packages(manifest: &Manifest) -> PackageSet {
    manifest
        .header
        .packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                PackageRef {
                    version: p.version.clone(),
                    checksum: p.identity.clone(),
                },
            )
        })
        .collect()
}

/// The entries of a manifest (or of a scanned image or root), keyed by their escaped absolute
/// path, with SHA-256 content digests.
#[must_use]
pub fn manifest_files(manifest: &Manifest) -> FileSet {
    manifest
        .entries
        .iter()
        .map(|entry| {
            let (kind, digest, target) = match &entry.kind {
                Kind::File { sha256, .. } => (FileKind::File, Some(hex::encode(sha256)), None),
                Kind::Dir => (FileKind::Dir, None, None),
                Kind::Symlink { target } => {
                    (FileKind::Symlink, None, Some(manifest::escape(target)))
                }
                Kind::Char { major, minor } => {
                    (FileKind::Other, Some(format!("char {major},{minor}")), None)
                }
                Kind::Block { major, minor } => (
                    FileKind::Other,
                    Some(format!("block {major},{minor}")),
                    None,
                ),
                Kind::Fifo => (FileKind::Other, Some("fifo".to_owned()), None),
                Kind::Socket => (FileKind::Other, Some("socket".to_owned()), None),
            };
            (
                manifest::escape(&entry.path),
                FileRef {
                    kind,
                    digest,
                    mode: Some(entry.mode),
                    owner: Some((entry.uid, entry.gid)),
                    target,
                    xattrs: entry.xattrs.map(hex::encode),
                    package: entry.package.clone(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[(&str, &str, Option<&str>)]) -> PackageSet {
        items
            .iter()
            .map(|(n, v, c)| {
                (
                    (*n).to_owned(),
                    PackageRef {
                        version: (*v).to_owned(),
                        checksum: c.map(str::to_owned),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn packages_are_classified_with_apk_order() {
        let old = set(&[
            ("a", "1.0-r0", None),
            ("b", "1.9-r0", None),
            ("c", "2.0-r0", None),
            ("d", "1.0-r0", Some("Q1a")),
            ("e", "1.0-r0", Some("Q1a")),
        ]);
        let new = set(&[
            ("b", "1.10-r0", None),
            ("c", "2.0_rc1-r0", None),
            ("d", "1.0-r0", Some("Q1b")),
            ("e", "1.0-r0", Some("Q1a")),
            ("f", "3-r0", None),
        ]);
        let changes = packages(&old, &new);
        let json = serde_json::to_value(&changes).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"change": "removed", "name": "a", "version": "1.0-r0"},
                {"change": "upgraded", "name": "b", "from": "1.9-r0", "to": "1.10-r0"},
                {"change": "downgraded", "name": "c", "from": "2.0-r0", "to": "2.0_rc1-r0"},
                {"change": "rebuilt", "name": "d", "from": "1.0-r0", "to": "1.0-r0"},
                {"change": "added", "name": "f", "version": "3-r0"},
            ])
        );
        assert!(packages(&old, &old).is_empty());
    }

    #[test]
    fn files_compare_only_what_both_sides_know() {
        let file = |digest: Option<&str>, mode: Option<u32>| FileRef {
            kind: FileKind::File,
            digest: digest.map(str::to_owned),
            mode,
            owner: None,
            target: None,
            xattrs: None,
            package: None,
        };
        let old: FileSet = [
            ("a".to_owned(), file(Some("x"), Some(0o644))),
            ("b".to_owned(), file(Some("x"), Some(0o644))),
            ("c".to_owned(), file(None, Some(0o644))),
        ]
        .into();
        let new: FileSet = [
            ("b".to_owned(), file(Some("y"), Some(0o755))),
            ("c".to_owned(), file(Some("z"), Some(0o644))),
            ("d".to_owned(), file(None, None)),
        ]
        .into();
        let changes = files(&old, &new);
        assert_eq!(changes.len(), 3);
        assert!(matches!(&changes[0], FileChange::Removed { path, .. } if path == "a"));
        assert!(
            matches!(&changes[1], FileChange::Changed { path, what, .. } if path == "b" && *what == ["content", "mode"])
        );
        assert!(matches!(&changes[2], FileChange::Added { path, .. } if path == "d"));
    }

    #[test]
    fn installed_databases_give_package_sets() {
        let old = Database::parse(b"C:Q1a\nP:musl\nV:1.2.4-r0\n\n").unwrap();
        let new = Database::parse(b"C:Q1b\nP:musl\nV:1.2.5-r0\n\n").unwrap();
        let changes = packages(&package_set(&old), &package_set(&new));
        assert!(matches!(&changes[..], [PackageChange::Upgraded { .. }]));
    }

    #[test]
    fn manifests_give_packages_and_files() {
        let entry = |path: &str, kind: Kind, mode: u32| manifest::Entry {
            path: path.as_bytes().to_vec(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            hardlink: None,
            xattrs: None,
            package: Some("musl".into()),
        };
        let file = |byte: u8| Kind::File {
            size: 1,
            sha256: [byte; 32],
        };
        let mut old = Manifest::default();
        old.header.packages.push(manifest::Package {
            name: "musl".into(),
            version: "1.2.4-r0".into(),
            origin: None,
            identity: Some("Q1a".into()),
            record: None,
        });
        old.entries = vec![
            entry("/lib", Kind::Dir, 0o755),
            entry("/lib/a.so", file(1), 0o755),
            entry("/lib/gone", file(2), 0o644),
        ];
        let mut new = old.clone();
        new.header.packages[0].version = "1.2.5-r0".into();
        new.entries = vec![
            entry("/lib", Kind::Dir, 0o755),
            entry("/lib/a.so", file(3), 0o644),
            entry(
                "/lib/ld",
                Kind::Symlink {
                    target: b"a.so".to_vec(),
                },
                0o777,
            ),
        ];
        let diff = Diff {
            packages: packages(&manifest_packages(&old), &manifest_packages(&new)),
            files_compared: true,
            files: files(&manifest_files(&old), &manifest_files(&new)),
        };
        assert!(matches!(
            &diff.packages[..],
            [PackageChange::Upgraded { .. }]
        ));
        let paths: Vec<_> = diff.files.iter().map(FileChange::path).collect();
        assert_eq!(paths, ["/lib/a.so", "/lib/gone", "/lib/ld"]);
        assert!(
            matches!(&diff.files[0], FileChange::Changed { what, .. } if *what == ["content", "mode"])
        );
        assert!(matches!(
            &diff.files[2],
            FileChange::Added {
                kind: FileKind::Symlink,
                ..
            }
        ));
    }
}
