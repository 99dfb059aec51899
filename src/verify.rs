//! `verify`: turning a signed manifest and a scanned host (or image) into findings.
//!
//! The signature is checked first, over the manifest's exact bytes, and nothing else is done
//! when it fails. Then the manifest's entries and the host's are merge-joined by path and each
//! difference becomes a [`Finding`] under the manifest's runtime policy:
//!
//! - ephemeral and state paths may hold anything (what lies below them is neither walked nor
//!   compared), but each such path itself, where its filesystem is mounted, must be the
//!   manifest's directory (not missing, not a symlink the mount would follow);
//! - mutable paths may change their content only: type, mode, owner, extended attributes and
//!   links are compared; a mutable path the image does not ship may appear, as a plain file
//!   owned by root;
//! - every other path must match exactly, and a new entry is `persisted`;
//! - a regular file with more links than the walk saw is linked from outside the verified
//!   tree (a hard link to `/etc/shadow` in `/tmp`), and a mount point anywhere but at an
//!   ephemeral or state path or the kernel's `/dev`, `/proc` and `/sys` is a finding.
//!
//! `lib/apk/db/installed` is cross-checked record by record against the manifest's package
//! list: an edited, foreign or removed record is a `package` finding.
//!
//! Invariants: findings are values (a verification that finds drift has succeeded), sorted by
//! path then kind; this module neither prints nor chooses exit codes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::compare::{Change, merge_join};
use crate::host::{self, APK_DB, ProblemKind, Scan, ScanOptions};
use crate::manifest::{self, Entry, Kind, Manifest, Rule, escape, strictly_below};
use crate::sign::{self, Keyring, Signature};

/// Errors that stop a verification (as opposed to findings).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The signature is missing its key, bad, or by an untrusted or revoked key.
    #[error("the manifest's signature is not valid")]
    Signature(#[source] sign::Error),
    /// The signature is valid but its trusted comment names another manifest.
    #[error(
        "the signature's trusted comment names manifest `{signed}`, but the manifest is `{actual}`"
    )]
    SignedDigest {
        /// The digest in the trusted comment.
        signed: String,
        /// The digest of the manifest's bytes.
        actual: String,
    },
    /// The manifest cannot be read.
    #[error("cannot read the manifest")]
    Manifest(#[source] manifest::Error),
    /// The host or image cannot be scanned.
    #[error("cannot scan the tree to verify")]
    Host(#[source] host::Error),
}

/// What kind of difference a finding is. The names are stable (they appear in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// An entry of the manifest is absent.
    Missing,
    /// A regular file's content (digest or size) differs.
    Content,
    /// Permission bits differ (including setuid, setgid, sticky).
    Mode,
    /// Owner or group differs.
    Owner,
    /// The entry's type differs (or a device's numbers, or a mount hides it).
    Type,
    /// A symlink's target, or a hard link's group, differs.
    Target,
    /// Extended attributes differ.
    Xattrs,
    /// A new entry outside the ephemeral and state paths.
    Persisted,
    /// A record of the apk database was edited, added or removed.
    Package,
    /// The entry could not be read.
    Unreadable,
    /// The entry changed, was replaced or vanished while it was being read.
    Changing,
}

impl FindingKind {
    /// The stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Missing => "missing",
            FindingKind::Content => "content",
            FindingKind::Mode => "mode",
            FindingKind::Owner => "owner",
            FindingKind::Type => "type",
            FindingKind::Target => "target",
            FindingKind::Xattrs => "xattrs",
            FindingKind::Persisted => "persisted",
            FindingKind::Package => "package",
            FindingKind::Unreadable => "unreadable",
            FindingKind::Changing => "changing",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference between the manifest and the tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// The path, escaped as in the manifest (`/etc/passwd`).
    pub path: String,
    /// What differs.
    pub kind: FindingKind,
    /// What the manifest says, when it says anything.
    pub expected: Option<String>,
    /// What the tree holds, when it holds anything.
    pub actual: Option<String>,
}

/// Whether the manifest's signature was checked before the tree was compared with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureCheck {
    /// A trusted, unrevoked key signed these exact manifest bytes.
    Verified,
    /// The signature was not checked (`--no-signature`): the manifest was trusted as it is.
    Unchecked,
}

/// The JSON report: `{"clean": bool, "signature": "verified"|"unchecked", "findings":
/// [{"path", "kind", "expected", "actual"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// True when there are no findings.
    pub clean: bool,
    /// Whether the manifest's signature was checked.
    pub signature: SignatureCheck,
    /// Every finding, sorted by path then kind.
    pub findings: Vec<Finding>,
}

impl Report {
    /// A report over these findings.
    #[must_use]
    pub fn new(mut findings: Vec<Finding>, signature: SignatureCheck) -> Report {
        findings.sort();
        findings.dedup();
        Report {
            clean: findings.is_empty(),
            signature,
            findings,
        }
    }
}

/// Checks `signature` over the manifest's exact bytes with `keyring`, and, when its trusted
/// comment carries `manifest=sha256:…`, that it names these bytes.
///
/// # Errors
/// [`Error::Signature`] or [`Error::SignedDigest`].
pub fn check_signature(
    manifest_bytes: &[u8],
    signature: &Signature,
    keyring: &Keyring,
) -> Result<sign::KeyId, Error> {
    let key = keyring
        .verify(manifest_bytes, signature)
        .map_err(Error::Signature)?;
    if let Some(signed) = signature.trusted_field("manifest") {
        let actual = format!("sha256:{}", hex::encode(sha2_digest(manifest_bytes)));
        if signed != actual {
            return Err(Error::SignedDigest {
                signed: signed.to_owned(),
                actual,
            });
        }
    }
    Ok(key.id)
}

fn sha2_digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// The trusted comment basalt writes for a manifest: image name, version and digest.
#[must_use]
pub fn trusted_comment(manifest: &Manifest) -> String {
    format!(
        "basalt image={} version={} manifest={}",
        escape(manifest.header.image.as_bytes()),
        escape(manifest.header.version.as_bytes()),
        manifest.digest_string()
    )
}

/// Scans `root` (a directory) under the manifest's policy and compares.
///
/// # Errors
/// [`Error::Host`] when the root cannot be walked at all.
pub fn verify_root(manifest: &Manifest, root: &Path) -> Result<Vec<Finding>, Error> {
    let options = ScanOptions::for_policy(&manifest.header.policy);
    let scan = host::scan_root(root, &options).map_err(Error::Host)?;
    Ok(compare(manifest, &scan))
}

/// Reads an image archive under the manifest's policy and compares.
///
/// # Errors
/// [`Error::Host`] when the archive cannot be read.
pub fn verify_archive(
    manifest: &Manifest,
    archive: impl std::io::Read,
    name: &Path,
) -> Result<Vec<Finding>, Error> {
    let options = ScanOptions::for_policy(&manifest.header.policy);
    let scan = host::scan_archive(archive, name, &options).map_err(Error::Host)?;
    Ok(compare(manifest, &scan))
}

fn describe(e: &Entry) -> String {
    format!("{} {:04o} {}:{}", e.kind.name(), e.mode, e.uid, e.gid)
}

fn content(size: u64, sha: &[u8; 32]) -> String {
    format!("sha256:{} ({size} bytes)", hex::encode(sha))
}

struct Out {
    findings: Vec<Finding>,
}

impl Out {
    fn push(
        &mut self,
        path: &[u8],
        kind: FindingKind,
        expected: Option<String>,
        actual: Option<String>,
    ) {
        self.findings.push(Finding {
            path: escape(path),
            kind,
            expected,
            actual,
        });
    }
}

/// Where a running host has a filesystem mounted whatever its image holds: the kernel's
/// own filesystems. Anywhere else, a mount point that is not an ephemeral or state path is a
/// finding.
pub const KERNEL_MOUNTS: &[&str] = &["/dev", "/proc", "/sys"];

/// How much of an entry is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// Everything (the manifest's exact paths).
    All,
    /// Everything but the content: a mutable path's data (and a symlink's target) may change,
    /// its type, mode, owner, extended attributes and links may not.
    NotContent,
    /// The type only (an ephemeral or state path itself, a mount point).
    Type,
}

/// The size of each hard-link group, by its leader (a path alone is a group of one).
fn group_sizes(entries: &[Entry]) -> BTreeMap<&[u8], u64> {
    let mut sizes: BTreeMap<&[u8], u64> = BTreeMap::new();
    for e in entries {
        if let Some(leader) = &e.hardlink {
            *sizes.entry(leader.as_slice()).or_insert(1) += 1;
        }
    }
    sizes
}

fn group_size(sizes: &BTreeMap<&[u8], u64>, e: &Entry) -> u64 {
    let leader = e.hardlink.as_deref().unwrap_or(&e.path);
    sizes.get(leader).copied().unwrap_or(1)
}

fn links(n: u64) -> String {
    if n == 1 {
        "1 link".to_owned()
    } else {
        format!("{n} links")
    }
}

/// Compares a manifest with a scan under the manifest's runtime policy.
#[must_use]
pub fn compare(manifest: &Manifest, scan: &Scan) -> Vec<Finding> {
    let policy = &manifest.header.policy;
    let mut out = Out {
        findings: Vec::new(),
    };
    let problems: BTreeMap<&[u8], &host::Problem> = scan
        .problems
        .iter()
        .map(|p| (p.path.as_slice(), p))
        .collect();
    let mounts: BTreeSet<&[u8]> = scan.mount_points.iter().map(Vec::as_slice).collect();
    let mut hidden: BTreeSet<&[u8]> = BTreeSet::new();
    // Everything strictly below an ephemeral or state path is free; those paths themselves
    // are where their filesystems are mounted, and must be the manifest's directories.
    let free = |path: &[u8]| policy.is_inside_free_area(path);
    let is_area_root = |path: &[u8]| {
        policy
            .ephemeral
            .iter()
            .chain(&policy.state)
            .any(|p| p.as_bytes() == path)
    };
    let is_mutable_root = |path: &[u8]| policy.mutable.iter().any(|p| p.as_bytes() == path);
    let mount_expected =
        |path: &[u8]| is_area_root(path) || KERNEL_MOUNTS.iter().any(|k| k.as_bytes() == path);
    let expected_groups = group_sizes(&manifest.entries);
    let actual_groups = group_sizes(&scan.entries);
    let link_count = |a: &Entry| {
        scan.link_counts
            .binary_search_by(|(p, _)| p.as_slice().cmp(&a.path))
            .map_or_else(|_| group_size(&actual_groups, a), |i| scan.link_counts[i].1)
    };

    for change in merge_join(&manifest.entries, &scan.entries) {
        let path = change.path();
        if free(path) {
            continue;
        }
        let rule = policy.rule(path);
        if let Some(problem) = problems.get(path) {
            let kind = match problem.kind {
                ProblemKind::Unreadable => FindingKind::Unreadable,
                ProblemKind::Changing => FindingKind::Changing,
            };
            out.push(path, kind, None, Some(problem.detail.clone()));
        }
        match change {
            Change::Missing(e) => {
                if let Some(mount) = mounts.iter().find(|m| strictly_below(m, path)) {
                    hidden.insert(mount);
                } else if !problems.contains_key(path) {
                    out.push(path, FindingKind::Missing, Some(describe(e)), None);
                }
            }
            Change::Added(a) => {
                if is_area_root(path) {
                    // Not in the image, but a filesystem is mounted here: a directory, never
                    // a symlink the mount would follow.
                    if !matches!(a.kind, Kind::Dir) {
                        out.push(
                            path,
                            FindingKind::Type,
                            Some("dir".into()),
                            Some(a.kind.name().into()),
                        );
                    }
                } else if is_mutable_root(path) {
                    unlisted_mutable(&mut out, a, link_count(a));
                } else {
                    out.push(path, FindingKind::Persisted, None, Some(describe(a)));
                }
            }
            Change::Both(e, a) => {
                let depth =
                    if mounts.contains(path) || rule == Rule::Ephemeral || rule == Rule::State {
                        Depth::Type
                    } else if rule == Rule::Mutable {
                        Depth::NotContent
                    } else {
                        Depth::All
                    };
                compare_entry(&mut out, e, a, depth, problems.contains_key(path));
                if depth != Depth::Type && matches!(e.kind, Kind::File { .. }) {
                    let seen = group_size(&actual_groups, a);
                    let count = link_count(a);
                    if count > seen {
                        out.push(
                            path,
                            FindingKind::Target,
                            Some(links(group_size(&expected_groups, e))),
                            Some(format!(
                                "{}, {} of them outside the verified tree (a hard link in an ephemeral or state path, or outside the root)",
                                links(count),
                                count - seen
                            )),
                        );
                    }
                }
            }
        }
    }
    for mount in &scan.mount_points {
        let mount = mount.as_slice();
        if mount_expected(mount) || free(mount) {
            continue;
        }
        let listed = manifest.entry(mount).map(|e| e.kind.name());
        let actual = match (listed, hidden.contains(mount)) {
            (_, true) => "dir with another filesystem mounted over its content".to_owned(),
            (Some("dir") | None, false) => "dir with another filesystem mounted over it".to_owned(),
            (Some(kind), false) => format!("{kind} with another file mounted over it"),
        };
        out.push(
            mount,
            FindingKind::Type,
            Some(listed.unwrap_or("nothing").to_owned()),
            Some(actual),
        );
    }
    if policy.rule(APK_DB) == Rule::Exact {
        cross_check_packages(&mut out, manifest, scan);
    }
    let mut findings = out.findings;
    findings.sort();
    findings.dedup();
    findings
}

/// A mutable path the image does not ship (`/etc/resolv.conf`, written at run time) may
/// appear, but with nothing in the manifest to compare it with, it must be a plain file: a
/// regular file owned by root, without setuid, setgid or sticky bits, not writable by group or
/// others, without extended attributes and with one link.
fn unlisted_mutable(out: &mut Out, a: &Entry, link_count: u64) {
    let path = &a.path;
    if !matches!(a.kind, Kind::File { .. }) {
        out.push(
            path,
            FindingKind::Type,
            Some("file (a mutable path not in the image)".into()),
            Some(a.kind.name().into()),
        );
        return;
    }
    if a.mode & 0o7022 != 0 {
        out.push(
            path,
            FindingKind::Mode,
            Some("0644 or stricter (a mutable path not in the image)".into()),
            Some(format!("{:04o}", a.mode)),
        );
    }
    if (a.uid, a.gid) != (0, 0) {
        out.push(
            path,
            FindingKind::Owner,
            Some("0:0 (a mutable path not in the image)".into()),
            Some(format!("{}:{}", a.uid, a.gid)),
        );
    }
    if let Some(x) = a.xattrs {
        out.push(
            path,
            FindingKind::Xattrs,
            Some("none (a mutable path not in the image)".into()),
            Some(format!("sha256:{}", hex::encode(x))),
        );
    }
    if link_count > 1 || a.hardlink.is_some() {
        out.push(
            path,
            FindingKind::Target,
            Some("1 link (a mutable path not in the image)".into()),
            Some(links(link_count.max(2))),
        );
    }
}

fn compare_entry(out: &mut Out, e: &Entry, a: &Entry, depth: Depth, unreadable: bool) {
    let path = &e.path;
    if e.kind.name() != a.kind.name() {
        out.push(
            path,
            FindingKind::Type,
            Some(e.kind.name().into()),
            Some(a.kind.name().into()),
        );
        return;
    }
    if depth == Depth::Type {
        return;
    }
    match (&e.kind, &a.kind) {
        (
            Kind::File {
                size: es,
                sha256: eh,
            },
            Kind::File {
                size: as_,
                sha256: ah,
            },
        ) if depth == Depth::All && !unreadable && (es != as_ || eh != ah) => {
            out.push(
                path,
                FindingKind::Content,
                Some(content(*es, eh)),
                Some(content(*as_, ah)),
            );
        }
        (Kind::Symlink { target: et }, Kind::Symlink { target: at })
            if depth == Depth::All && et != at =>
        {
            out.push(
                path,
                FindingKind::Target,
                Some(escape(et)),
                Some(escape(at)),
            );
        }
        (
            Kind::Char { major, minor } | Kind::Block { major, minor },
            Kind::Char {
                major: am,
                minor: an,
            }
            | Kind::Block {
                major: am,
                minor: an,
            },
        ) if (major, minor) != (am, an) => {
            out.push(
                path,
                FindingKind::Type,
                Some(format!("{} {major},{minor}", e.kind.name())),
                Some(format!("{} {am},{an}", a.kind.name())),
            );
        }
        _ => {}
    }
    if e.hardlink != a.hardlink {
        let show = |l: &Option<Vec<u8>>| {
            l.as_ref().map_or_else(
                || "no hard link".to_owned(),
                |l| format!("hard link to {}", escape(l)),
            )
        };
        out.push(
            path,
            FindingKind::Target,
            Some(show(&e.hardlink)),
            Some(show(&a.hardlink)),
        );
    }
    if e.mode != a.mode {
        out.push(
            path,
            FindingKind::Mode,
            Some(format!("{:04o}", e.mode)),
            Some(format!("{:04o}", a.mode)),
        );
    }
    if (e.uid, e.gid) != (a.uid, a.gid) {
        out.push(
            path,
            FindingKind::Owner,
            Some(format!("{}:{}", e.uid, e.gid)),
            Some(format!("{}:{}", a.uid, a.gid)),
        );
    }
    // An unreadable or changing file's attributes were not read (they are read from the open
    // file); its problem is the finding.
    if !unreadable && e.xattrs != a.xattrs {
        let show = |x: &Option<[u8; 32]>| {
            x.map_or_else(
                || "none".to_owned(),
                |x| format!("sha256:{}", hex::encode(x)),
            )
        };
        out.push(
            path,
            FindingKind::Xattrs,
            Some(show(&e.xattrs)),
            Some(show(&a.xattrs)),
        );
    }
}

/// Name, version, origin and identity must match; the record digest too when the manifest
/// has one.
fn package_differs(want: &manifest::Package, have: &manifest::Package) -> bool {
    want.version != have.version
        || want.origin != have.origin
        || want.identity != have.identity
        || (want.record.is_some() && want.record != have.record)
}

fn show_package(p: &manifest::Package) -> String {
    // The name and version come from the tree's database: escaped as paths are.
    format!(
        "{} {} (record sha256:{})",
        escape(p.name.as_bytes()),
        escape(p.version.as_bytes()),
        p.record.map_or_else(|| "-".to_owned(), hex::encode)
    )
}

/// Compares the tree's apk database with the manifest's package list, record by record.
/// When a record differs, the findings name the packages and replace the plain `content`
/// finding on the database file.
fn cross_check_packages(out: &mut Out, manifest: &Manifest, scan: &Scan) {
    let expected = &manifest.header.packages;
    let Some(db) = &scan.apk_db else {
        return;
    };
    if expected.is_empty() && manifest.entry(APK_DB).is_none() {
        return;
    }
    let actual = match host::packages_from_db(db) {
        Ok((actual, _)) => actual,
        Err(e) => {
            out.push(
                APK_DB,
                FindingKind::Package,
                Some(format!("{} package records", expected.len())),
                Some(format!("a database basalt cannot read: {e}")),
            );
            out.findings
                .retain(|f| !(f.path == escape(APK_DB) && f.kind == FindingKind::Content));
            return;
        }
    };
    let by_name = |list: &[manifest::Package]| -> BTreeMap<String, manifest::Package> {
        list.iter().map(|p| (p.name.clone(), p.clone())).collect()
    };
    let (want, have) = (by_name(expected), by_name(&actual));
    let before = out.findings.len();
    for (name, w) in &want {
        match have.get(name) {
            None => out.push(APK_DB, FindingKind::Package, Some(show_package(w)), None),
            Some(h) if package_differs(w, h) => out.push(
                APK_DB,
                FindingKind::Package,
                Some(show_package(w)),
                Some(show_package(h)),
            ),
            Some(_) => {}
        }
    }
    for (name, h) in &have {
        if !want.contains_key(name) {
            out.push(APK_DB, FindingKind::Package, None, Some(show_package(h)));
        }
    }
    if out.findings.len() > before {
        let db_path = escape(APK_DB);
        out.findings
            .retain(|f| !(f.path == db_path && f.kind == FindingKind::Content));
    }
}
