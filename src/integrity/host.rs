//! `host`: reading a live root directory or an image archive, read-only, into manifest
//! entries.
//!
//! A live root is walked by [`crate::integrity::walk`] (in order, in parallel, read-only, never following
//! a symlink nor opening anything but the regular files it lists); [`scan_root`] collects that
//! walk. An archive is read member by member ([`scan_archive`]).
//!
//! Invariants:
//! - A file that cannot be read, or that changes or vanishes during the walk, is reported as
//!   a [`Problem`] beside the entries; only a root that cannot be read at all is an error.
//! - Entries come out sorted by path bytes, as [`crate::integrity::manifest`] orders them.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::archive;
use crate::integrity::manifest::{
    self, Entry, Kind, Package, RuntimePolicy, covers, xattrs_digest,
};

/// Size of the archive read buffer.
const READ_BUFFER: usize = 256 * 1024;

/// Errors that stop a walk or an archive read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The root itself cannot be read.
    #[error("cannot read the root `{path}`")]
    Root {
        /// The root.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The root is not a directory.
    #[error("the root `{path}` is not a directory")]
    NotADirectory {
        /// The root.
        path: PathBuf,
    },
    /// The tree given cannot be inspected or opened.
    #[error(transparent)]
    Open(#[from] io::Error),
    /// The archive cannot be read, or holds a member that breaks the archive rules.
    #[error(transparent)]
    Archive(archive::Error),
    /// An entry could not be described, so no manifest can be made.
    #[error("cannot describe `{path}`: {detail}")]
    Incomplete {
        /// The entry, escaped.
        path: String,
        /// The evidence.
        detail: String,
    },
    /// The description could not be handed on (written).
    #[error("cannot write the description")]
    Output(#[source] io::Error),
}

/// Why an entry could not be described exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// It could not be read (permissions, I/O error).
    Unreadable,
    /// It changed, was replaced or vanished while it was being read.
    Changing,
}

/// An entry that could not be described exactly; reported, not fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Absolute path as in [`Entry::path`].
    pub path: Vec<u8>,
    /// What went wrong.
    pub kind: ProblemKind,
    /// The evidence (the system error, or what changed).
    pub detail: String,
}

/// What to leave out of a walk.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Paths recorded themselves but not entered (ephemeral and state areas).
    pub prune: Vec<Vec<u8>>,
    /// Paths beneath which regular files are listed but not read; their digest is all zeros
    /// (mutable paths, whose content is not compared).
    pub skip_content: Vec<Vec<u8>>,
}

impl ScanOptions {
    /// What verification needs from a runtime policy: ephemeral and state areas pruned,
    /// mutable files not read.
    #[must_use]
    pub fn for_policy(policy: &RuntimePolicy) -> ScanOptions {
        let bytes = |list: &[String]| list.iter().map(|p| p.as_bytes().to_vec()).collect();
        let mut prune: Vec<Vec<u8>> = bytes(&policy.ephemeral);
        prune.extend(bytes(&policy.state));
        ScanOptions {
            prune,
            skip_content: bytes(&policy.mutable),
        }
    }

    pub(crate) fn prunes(&self, path: &[u8]) -> bool {
        self.prune.iter().any(|p| p.as_slice() == path)
            || self.prune.iter().any(|p| manifest::strictly_below(p, path))
    }

    pub(crate) fn skips_content(&self, path: &[u8]) -> bool {
        self.skip_content.iter().any(|p| covers(p, path))
    }
}

/// The result of a walk or an archive read.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Entries, strictly sorted by path.
    pub entries: Vec<Entry>,
    /// Entries that could not be described exactly, sorted by path.
    pub problems: Vec<Problem>,
    /// Mount points below the root: entries on which another filesystem (or a bind mount,
    /// even of the same filesystem) is mounted; recorded themselves, not entered. Sorted.
    pub mount_points: Vec<Vec<u8>>,
    /// For a walked root: the regular files with more than one link, and their link count
    /// (`st_nlink`), sorted by path. A count above the number of paths of its hard-link group
    /// in the scan means links the walk did not see (in pruned areas, or outside the root).
    pub link_counts: Vec<(Vec<u8>, u64)>,
    /// The bytes of `lib/apk/db/installed`, when the tree has one as a regular file (at most
    /// [`MAX_APK_DB`] bytes) and its content was read.
    pub apk_db: Option<Vec<u8>>,
}

/// Largest apk database read into memory.
pub const MAX_APK_DB: u64 = 64 * 1024 * 1024;

impl Scan {
    /// The entry at `path`, if any.
    #[must_use]
    pub fn entry(&self, path: &[u8]) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.path.as_slice().cmp(path))
            .ok()
            .map(|i| &self.entries[i])
    }
}

/// One path of a walk, in order: what was found there, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The entry, when it could be described (its digest is zeros when its content could not
    /// be read).
    pub entry: Option<Entry>,
    /// What could not be described exactly.
    pub problem: Option<Problem>,
    /// For a regular file: its link count (`st_nlink`); 1 for anything else, 0 when nothing
    /// could be described.
    pub nlink: u64,
    /// Another filesystem (or a bind mount) is mounted here: recorded, not entered.
    pub mount: bool,
}

impl Item {
    /// The path this item is about.
    #[must_use]
    pub fn path(&self) -> &[u8] {
        match (&self.entry, &self.problem) {
            (Some(e), _) => &e.path,
            (None, Some(p)) => &p.path,
            (None, None) => b"",
        }
    }
}

impl Scan {
    /// Adds the next item of a walk (items come in path order).
    pub fn push(&mut self, item: Item) {
        if let Some(entry) = item.entry {
            if item.mount {
                self.mount_points.push(entry.path.clone());
            }
            if item.nlink > 1 && matches!(entry.kind, Kind::File { .. }) {
                self.link_counts.push((entry.path.clone(), item.nlink));
            }
            self.entries.push(entry);
        }
        if let Some(problem) = item.problem {
            self.problems.push(problem);
        }
    }

    /// The scan as the items of a walk, in path order: each entry with its problem, link count
    /// and whether it is a mount point, and each problem without an entry. Without link counts
    /// (an archive), a regular file's count is the size of its hard-link group.
    pub fn items(&self) -> impl Iterator<Item = Item> + '_ {
        let mut groups: BTreeMap<&[u8], u64> = BTreeMap::new();
        for e in &self.entries {
            if let Some(leader) = &e.hardlink {
                *groups.entry(leader.as_slice()).or_insert(1) += 1;
            }
        }
        let mut entries = self.entries.iter().peekable();
        let mut problems = self.problems.iter().peekable();
        std::iter::from_fn(move || {
            let take_entry = match (entries.peek(), problems.peek()) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(e), Some(p)) => e.path <= p.path,
            };
            if !take_entry {
                return Some(Item {
                    entry: None,
                    problem: problems.next().cloned(),
                    nlink: 0,
                    mount: false,
                });
            }
            let entry = entries.next()?;
            let problem = problems.next_if(|p| p.path == entry.path).cloned();
            let leader = entry.hardlink.as_deref().unwrap_or(&entry.path);
            let group = groups.get(leader).copied().unwrap_or(1);
            let nlink = self
                .link_counts
                .binary_search_by(|(p, _)| p.as_slice().cmp(&entry.path))
                .map_or(group, |i| self.link_counts[i].1);
            let mount = self.mount_points.binary_search(&entry.path).is_ok();
            Some(Item {
                entry: Some(entry.clone()),
                problem,
                nlink,
                mount,
            })
        })
    }
}

pub use crate::integrity::walk::MAX_DEPTH;

/// Walks `root` and describes every entry beneath it (the root itself is `/`), all held in
/// memory; [`crate::integrity::walk::walk_root`] hands them over one at a time instead.
///
/// # Errors
/// [`Error::Root`] or [`Error::NotADirectory`] when the root cannot be walked at all; every
/// other failure is a [`Problem`] in the result.
pub fn scan_root(root: &Path, options: &ScanOptions) -> Result<Scan, Error> {
    scan_root_with(root, options, crate::integrity::walk::Tuning::default())
}

/// [`scan_root`], walking as `tuning` says.
///
/// # Errors
/// As [`scan_root`].
pub fn scan_root_with(
    root: &Path,
    options: &ScanOptions,
    tuning: crate::integrity::walk::Tuning,
) -> Result<Scan, Error> {
    let mut scan = Scan::default();
    let summary = crate::integrity::walk::walk_root_with(root, options, tuning, |item| {
        scan.push(item);
        std::ops::ControlFlow::Continue(())
    })?;
    scan.apk_db = summary.apk_db;
    Ok(scan)
}

// ---------------------------------------------------------------------------------------------
// Archives

/// Walks `tree` when it is a directory, reads it as an image archive otherwise.
///
/// # Errors
/// As [`scan_root`] and [`scan_archive`], and [`Error::Open`] when `tree` cannot be opened.
pub fn scan_tree(tree: &Path, options: &ScanOptions) -> Result<Scan, Error> {
    scan_tree_with(tree, options, crate::integrity::walk::Tuning::default())
}

/// [`scan_tree`], a directory walked as `tuning` says; an archive must be a regular file
/// ([`crate::input::open`]).
///
/// # Errors
/// As [`scan_tree`].
pub fn scan_tree_with(
    tree: &Path,
    options: &ScanOptions,
    tuning: crate::integrity::walk::Tuning,
) -> Result<Scan, Error> {
    let meta = fs_err::metadata(tree)?;
    if meta.is_dir() {
        scan_root_with(tree, options, tuning)
    } else {
        let file = crate::input::open(tree).map_err(|e| Error::Open(e.into()))?;
        scan_archive(file, tree, options)
    }
}

/// Reads an image archive (tar, gzip-compressed or not) through [`archive::read`], streaming,
/// and describes every member. `name` is used in errors only. Later members replace earlier
/// ones with the same path, as extraction would; the apk database is the last member at its
/// path, when that member is a regular file.
///
/// # Errors
/// [`Error::Archive`] for an archive that cannot be read or a member that breaks its rules.
pub fn scan_archive(reader: impl Read, name: &Path, options: &ScanOptions) -> Result<Scan, Error> {
    let mut entries: BTreeMap<Vec<u8>, Entry> = BTreeMap::new();
    let mut buf = vec![0u8; READ_BUFFER];
    let mut apk_db = None;
    archive::read(
        reader,
        name,
        &archive::Limits::default(),
        |member, content| {
            let path = member.absolute();
            let mut attrs = member.xattrs.clone();
            let xattrs = xattrs_digest(&mut attrs);
            let mut hardlink = None;
            if path == APK_DB {
                // The last member at the database's path decides what the database is.
                apk_db = None;
            }
            let kind = match &member.kind {
                archive::Kind::File { size } => {
                    let size = *size;
                    let sha256 = if options.skips_content(&path) || options.prunes(&path) {
                        [0; 32]
                    } else {
                        let mut hasher = Sha256::new();
                        let mut keep = (path == APK_DB && size <= MAX_APK_DB).then(Vec::new);
                        loop {
                            let n = content.read(&mut buf)?;
                            if n == 0 {
                                break;
                            }
                            hasher.update(&buf[..n]);
                            if let Some(keep) = &mut keep {
                                keep.extend_from_slice(&buf[..n]);
                            }
                        }
                        if keep.is_some() {
                            apk_db = keep;
                        }
                        hasher.finalize().into()
                    };
                    Kind::File { size, sha256 }
                }
                archive::Kind::HardLink { target } => {
                    let target = archive::absolute(Some(target));
                    let leader = entries
                        .get(&target)
                        .filter(|e| matches!(e.kind, Kind::File { .. }))
                        .expect("the archive reader checks that a hard link names a regular file");
                    hardlink = Some(leader.hardlink.clone().unwrap_or(target));
                    leader.kind.clone()
                }
                archive::Kind::Dir => Kind::Dir,
                archive::Kind::Symlink { target } => Kind::Symlink {
                    target: target.clone(),
                },
                archive::Kind::Char { major, minor } => Kind::Char {
                    major: *major,
                    minor: *minor,
                },
                archive::Kind::Block { major, minor } => Kind::Block {
                    major: *major,
                    minor: *minor,
                },
                archive::Kind::Fifo => Kind::Fifo,
            };
            entries.insert(
                path.clone(),
                Entry {
                    path,
                    kind,
                    mode: member.mode,
                    uid: member.uid,
                    gid: member.gid,
                    hardlink,
                    xattrs,
                    package: None,
                },
            );
            Ok(())
        },
    )
    .map_err(Error::Archive)?;
    // Hard-link groups are led by their first path in sorted order, as for a walk.
    relead_hardlinks(&mut entries);
    // A later member may have replaced the database with something else.
    if !entries
        .get(APK_DB)
        .is_some_and(|e| matches!(e.kind, Kind::File { .. }) && e.hardlink.is_none())
    {
        apk_db = None;
    }
    let mut entries: Vec<Entry> = entries.into_values().collect();
    // A pruned path is recorded itself, as a walk records it; only what lies below is left out.
    entries.retain(|e| {
        !options
            .prune
            .iter()
            .any(|p| manifest::strictly_below(p, &e.path))
    });
    Ok(Scan {
        entries,
        problems: Vec::new(),
        mount_points: Vec::new(),
        link_counts: Vec::new(),
        apk_db,
    })
}

fn relead_hardlinks(entries: &mut BTreeMap<Vec<u8>, Entry>) {
    let mut groups: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
    for e in entries.values() {
        if let Some(leader) = &e.hardlink {
            groups
                .entry(leader.clone())
                .or_default()
                .push(e.path.clone());
        }
    }
    for (leader, mut members) in groups {
        members.push(leader.clone());
        members.sort();
        let first = members[0].clone();
        for m in members {
            if let Some(e) = entries.get_mut(&m) {
                e.hardlink = (m != first).then(|| first.clone());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Packages

/// Splits an apk `installed` database into its records (blank-line separated) and returns,
/// for each, the package name and the record's bytes.
#[must_use]
pub fn split_records<'a>(db: &'a [u8]) -> Vec<(String, &'a [u8])> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut push = |record: &'a [u8]| {
        if record.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let name = record
            .split(|&b| b == b'\n')
            .find_map(|l| l.strip_prefix(b"P:"))
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        out.push((name, record));
    };
    let mut i = 0;
    while i < db.len() {
        if db[i] == b'\n' && db.get(i + 1) == Some(&b'\n') {
            push(&db[start..=i]);
            start = i + 2;
            i += 2;
        } else {
            i += 1;
        }
    }
    if start < db.len() {
        push(&db[start..]);
    }
    out
}

/// SHA-256 of one database record, as kept in [`Package::record`].
#[must_use]
pub fn record_digest(record: &[u8]) -> [u8; 32] {
    Sha256::digest(record).into()
}

/// For each path (`/etc/passwd`), the package that owns it.
pub type Owners = BTreeMap<Vec<u8>, String>;

/// The packages a tree's `lib/apk/db/installed` lists (with the digest of each one's record),
/// and for each path (`/etc/passwd`) the package that owns it.
///
/// # Errors
/// The database's own error when it cannot be read.
pub fn packages_from_db(db: &[u8]) -> Result<(Vec<Package>, Owners), crate::apk::installed::Error> {
    let database = crate::apk::installed::Database::parse(db)?;
    let records: BTreeMap<String, [u8; 32]> = split_records(db)
        .into_iter()
        .map(|(name, record)| (name, record_digest(record)))
        .collect();
    let mut packages: Vec<Package> = database
        .packages
        .iter()
        .map(|p| Package {
            name: p.name.clone(),
            version: p.version.clone(),
            origin: p.origin.clone(),
            identity: p.checksum.clone(),
            record: records.get(&p.name).copied(),
        })
        .collect();
    packages.sort();
    let owners = database
        .owners()
        .into_iter()
        .map(|(path, name)| (format!("/{path}").into_bytes(), name))
        .collect();
    Ok((packages, owners))
}

/// Turns a complete scan into a manifest: the header as given, plus the installed packages
/// and each entry's owning package from the tree's apk database when it has one.
///
/// # Errors
/// [`Error::Incomplete`] naming the first entry that could not be described.
pub fn manifest_from_scan(
    scan: Scan,
    mut header: manifest::Header,
) -> Result<manifest::Manifest, Error> {
    if let Some(p) = scan.problems.first() {
        return Err(Error::Incomplete {
            path: manifest::escape(&p.path),
            detail: p.detail.clone(),
        });
    }
    let mut entries = scan.entries;
    if let Some(db) = &scan.apk_db {
        let (packages, owners) = packages_from_db(db).map_err(|e| Error::Incomplete {
            path: manifest::escape(APK_DB),
            detail: e.to_string(),
        })?;
        header.packages = packages;
        for entry in &mut entries {
            entry.package = owners.get(&entry.path).cloned();
        }
    }
    let mut manifest = manifest::Manifest { header, entries };
    manifest.canonicalise();
    Ok(manifest)
}

/// Walks `root` (as `tuning` says) and describes it for a manifest one entry at a time, as
/// [`manifest_from_scan`] describes a whole scan: `sink` takes each entry, in order and with
/// its owning package, as the walk reaches it. Returns `header` with the installed packages of
/// the tree's apk database (when it has one), and the number of entries.
///
/// # Errors
/// As [`scan_root`]; [`Error::Incomplete`] naming the first entry that could not be described
/// (the walk stops there), or the apk database when it changed during the walk;
/// [`Error::Output`] when `sink` fails.
pub fn describe_root(
    root: &Path,
    mut header: manifest::Header,
    tuning: crate::integrity::walk::Tuning,
    mut sink: impl FnMut(&Entry) -> io::Result<()>,
) -> Result<(manifest::Header, usize), Error> {
    let options = ScanOptions::default();
    let db = crate::integrity::walk::root_apk_db(root, &options);
    let mut owners = Owners::new();
    if let Some(db) = &db {
        let (packages, by_path) = packages_from_db(db).map_err(|e| Error::Incomplete {
            path: manifest::escape(APK_DB),
            detail: e.to_string(),
        })?;
        header.packages = packages;
        owners = by_path;
    }
    let mut count = 0usize;
    let mut failed = None;
    let summary = crate::integrity::walk::walk_root_with(root, &options, tuning, |item| {
        if let Some(p) = item.problem {
            failed = Some(Error::Incomplete {
                path: manifest::escape(&p.path),
                detail: p.detail,
            });
            return std::ops::ControlFlow::Break(());
        }
        if let Some(mut entry) = item.entry {
            entry.package = owners.get(&entry.path).cloned();
            if let Err(e) = sink(&entry) {
                failed = Some(Error::Output(e));
                return std::ops::ControlFlow::Break(());
            }
            count += 1;
        }
        std::ops::ControlFlow::Continue(())
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    if summary.apk_db != db {
        return Err(Error::Incomplete {
            path: manifest::escape(APK_DB),
            detail: "changed during the walk".into(),
        });
    }
    Ok((header, count))
}

/// Where an apk database lives in a tree.
pub const APK_DB: &[u8] = b"/lib/apk/db/installed";

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("etc/sub")).unwrap();
        std::fs::write(r.join("etc/a"), b"alpha").unwrap();
        std::fs::write(r.join("etc/empty"), b"").unwrap();
        std::fs::hard_link(r.join("etc/a"), r.join("etc/sub/b")).unwrap();
        std::os::unix::fs::symlink("../a", r.join("etc/sub/link")).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(r.join("etc/fifo"))
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::create_dir_all(r.join("tmp/deep")).unwrap();
        std::fs::write(r.join("tmp/deep/x"), b"x").unwrap();
        dir
    }

    #[test]
    fn walks_without_following_or_opening_special_files() {
        let dir = tree();
        let options = ScanOptions {
            prune: vec![b"/tmp".to_vec()],
            skip_content: Vec::new(),
        };
        let scan = scan_root(dir.path(), &options).unwrap();
        let paths: Vec<String> = scan.entries.iter().map(Entry::display_path).collect();
        assert_eq!(
            paths,
            [
                "/",
                "/etc",
                "/etc/a",
                "/etc/empty",
                "/etc/fifo",
                "/etc/sub",
                "/etc/sub/b",
                "/etc/sub/link",
                "/tmp"
            ]
        );
        assert!(scan.problems.is_empty(), "{:?}", scan.problems);
        let a = scan.entry(b"/etc/a").unwrap();
        assert_eq!(
            a.kind,
            Kind::File {
                size: 5,
                sha256: Sha256::digest(b"alpha").into()
            }
        );
        assert_eq!(a.hardlink, None);
        assert_eq!(
            scan.entry(b"/etc/sub/b").unwrap().hardlink,
            Some(b"/etc/a".to_vec())
        );
        assert_eq!(scan.entry(b"/etc/fifo").unwrap().kind, Kind::Fifo);
        assert_eq!(
            scan.entry(b"/etc/sub/link").unwrap().kind,
            Kind::Symlink {
                target: b"../a".to_vec()
            }
        );
        let empty: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(
            scan.entry(b"/etc/empty").unwrap().kind,
            Kind::File {
                size: 0,
                sha256: empty
            }
        );
    }

    #[test]
    fn a_root_described_entry_by_entry_is_the_manifest_of_its_scan() {
        let dir = tree();
        std::fs::create_dir_all(dir.path().join("lib/apk/db")).unwrap();
        std::fs::write(
            dir.path().join("lib/apk/db/installed"),
            b"C:Q1aa=\nP:base\nV:1.0\nF:etc\nR:a\nR:empty\n\n",
        )
        .unwrap();
        let header = manifest::Header {
            image: "t".into(),
            version: "1".into(),
            ..manifest::Header::default()
        };
        let mut lines = String::new();
        let (described, count) = describe_root(
            dir.path(),
            header.clone(),
            crate::integrity::walk::Tuning::default(),
            |e| {
                e.render_into(&mut lines);
                lines.push('\n');
                Ok(())
            },
        )
        .unwrap();
        let mut text = String::new();
        manifest::render_header_into(&described, count, &mut text);
        text.push_str(&lines);
        let scan = scan_root(dir.path(), &ScanOptions::default()).unwrap();
        let expected = manifest_from_scan(scan, header).unwrap();
        assert_eq!(text, String::from_utf8(expected.render()).unwrap());
        assert_eq!(described.packages.len(), 1);
        assert_eq!(
            expected.entry(b"/etc/a").unwrap().package.as_deref(),
            Some("base")
        );
    }

    #[test]
    fn pruned_paths_are_recorded_but_not_entered_in_archives_and_trees() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/docker")).unwrap();
        std::fs::write(dir.path().join("var/lib/docker/state"), b"x").unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        builder.append_dir_all(".", dir.path()).unwrap();
        let bytes = builder.into_inner().unwrap();
        let options = ScanOptions {
            prune: vec![b"/var/lib".to_vec()],
            skip_content: Vec::new(),
        };
        let from_tar = scan_archive(bytes.as_slice(), Path::new("t.tar"), &options).unwrap();
        let from_dir = scan_root(dir.path(), &options).unwrap();
        for scan in [&from_tar, &from_dir] {
            assert!(scan.entry(b"/var/lib").is_some());
            assert!(scan.entry(b"/var/lib/docker").is_none());
            assert!(scan.entry(b"/var/lib/docker/state").is_none());
        }
    }

    #[test]
    fn archives_describe_like_trees() {
        let dir = tree();
        std::fs::remove_file(dir.path().join("etc/fifo")).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        builder.append_dir_all(".", dir.path()).unwrap();
        let bytes = builder.into_inner().unwrap();
        let from_tar = scan_archive(
            bytes.as_slice(),
            Path::new("t.tar"),
            &ScanOptions::default(),
        )
        .unwrap();
        let from_dir = scan_root(dir.path(), &ScanOptions::default()).unwrap();
        // tar's builder stores hard links as copies: compare everything else.
        let strip = |s: &Scan| -> Vec<(Vec<u8>, Kind, u32)> {
            s.entries
                .iter()
                .filter(|e| e.path != b"/")
                .map(|e| (e.path.clone(), e.kind.clone(), e.mode))
                .collect()
        };
        assert_eq!(strip(&from_tar), strip(&from_dir));

        // A hard-link member takes the content of its target and names the group's leader.
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_uid(0);
        header.set_gid(0);
        builder
            .append_data(&mut header, "z/file", &b"alpha"[..])
            .unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_size(0);
        link.set_entry_type(tar::EntryType::Link);
        link.set_mode(0o644);
        link.set_uid(0);
        link.set_gid(0);
        builder.append_link(&mut link, "a/link", "z/file").unwrap();
        let bytes = builder.into_inner().unwrap();
        let scan = scan_archive(
            bytes.as_slice(),
            Path::new("t.tar"),
            &ScanOptions::default(),
        )
        .unwrap();
        assert_eq!(scan.entry(b"/a/link").unwrap().hardlink, None);
        assert_eq!(
            scan.entry(b"/z/file").unwrap().hardlink,
            Some(b"/a/link".to_vec())
        );
        assert_eq!(
            scan.entry(b"/a/link").unwrap().kind,
            scan.entry(b"/z/file").unwrap().kind
        );
        let err = scan_archive(
            &b"not a tar archive at all"[..],
            Path::new("x"),
            &ScanOptions::default(),
        );
        assert!(err.is_err() || err.unwrap().entries.is_empty());
    }

    #[test]
    fn database_records_give_packages_and_owners() {
        let db = b"C:Q1aa=\nP:musl\nV:1.2.5-r0\no:musl\nF:lib\nR:ld-musl.so.1\n\nP:busybox\nV:1.36\nF:bin\nR:busybox\nF:etc\nR:motd\n\n";
        let (packages, owners) = packages_from_db(db).unwrap();
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[0].name, "busybox");
        assert_eq!(packages[1].identity.as_deref(), Some("Q1aa="));
        assert_eq!(
            owners.get(b"/etc/motd".as_slice()).map(String::as_str),
            Some("busybox")
        );
        assert_eq!(
            owners
                .get(b"/lib/ld-musl.so.1".as_slice())
                .map(String::as_str),
            Some("musl")
        );
        let records = split_records(db);
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].0, "busybox");
        assert!(records[1].1.ends_with(b"R:motd\n"));
    }
}
