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

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt;
use std::ops::ControlFlow;
use std::path::Path;

use serde::Serialize;

use crate::integrity::host::{self, APK_DB, Item, ProblemKind, Scan, ScanOptions};
use crate::integrity::manifest::{
    self, Entry, Header, Kind, Manifest, Rule, escape, strictly_below,
};
use crate::integrity::sign::{self, Keyring, Signature, Signed};
use crate::integrity::walk;

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
    check_signed(
        Signed::Data(manifest_bytes),
        &sha2_digest(manifest_bytes),
        signature,
        keyring,
    )
}

/// As [`check_signature`], over the manifest's bytes or, for a prehashed signature, their
/// BLAKE2b-512 digest; `sha256` is the SHA-256 of the same bytes, which the trusted comment
/// must name when it names one.
///
/// # Errors
/// [`Error::Signature`] or [`Error::SignedDigest`].
pub fn check_signed(
    signed: Signed<'_>,
    sha256: &[u8; 32],
    signature: &Signature,
    keyring: &Keyring,
) -> Result<sign::KeyId, Error> {
    let key = keyring
        .verify_signed(signed, signature)
        .map_err(Error::Signature)?;
    if let Some(signed) = signature.trusted_field("manifest") {
        let actual = format!("sha256:{}", hex::encode(sha256));
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

/// Walks `root` (a directory) under the manifest's policy and compares, entry by entry.
///
/// # Errors
/// [`Error::Host`] when the root cannot be walked at all.
pub fn verify_root(manifest: &Manifest, root: &Path) -> Result<Vec<Finding>, Error> {
    let entries = manifest.entries.iter().cloned().map(Ok::<_, Infallible>);
    match verify_root_with(&manifest.header, entries, root, walk::Tuning::default()) {
        Ok(findings) => Ok(findings),
        Err(Streamed::Stop(e)) => Err(Error::Host(e)),
        Err(Streamed::Entries(never)) => match never {},
    }
}

/// Why a verification from a stream of manifest entries stopped.
#[derive(Debug)]
pub enum Streamed<E> {
    /// The tree could not be walked at all.
    Stop(host::Error),
    /// The manifest's entries could not be read.
    Entries(E),
}

/// Walks `root` under the policy of `header` (as `tuning` says) and compares it with
/// `entries`, the manifest's entries in order, read as the walk goes: neither the manifest nor
/// the tree is ever held whole.
///
/// # Errors
/// [`Streamed::Stop`] when the root cannot be walked at all, [`Streamed::Entries`] when an
/// entry cannot be read.
pub fn verify_root_with<E>(
    header: &Header,
    entries: impl Iterator<Item = Result<Entry, E>>,
    root: &Path,
    tuning: walk::Tuning,
) -> Result<Vec<Finding>, Streamed<E>> {
    let options = ScanOptions::for_policy(&header.policy);
    let mut comparison = Comparison::new(header, entries);
    let mut failed = None;
    let summary =
        walk::walk_root_with(root, &options, tuning, |item| match comparison.item(item) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        })
        .map_err(Streamed::Stop)?;
    if let Some(e) = failed {
        return Err(Streamed::Entries(e));
    }
    comparison
        .finish(summary.apk_db.as_deref())
        .map_err(Streamed::Entries)
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
    let entries = manifest.entries.iter().cloned().map(Ok::<_, Infallible>);
    let mut comparison = Comparison::new(&manifest.header, entries);
    for item in scan.items() {
        if let Err(never) = comparison.item(item) {
            match never {}
        }
    }
    match comparison.finish(scan.apk_db.as_deref()) {
        Ok(findings) => findings,
        Err(never) => match never {},
    }
}

/// A mount point seen by the walk, and what the manifest says is there.
struct Mount {
    path: Vec<u8>,
    listed: Option<&'static str>,
    /// Entries of the manifest below it are missing: the mount hides them.
    hidden: bool,
}

/// A regular file with more links than its group may have: decided once the whole tree has
/// been seen.
struct LinkCheck {
    path: Vec<u8>,
    nlink: u64,
    actual_leader: Vec<u8>,
    expected_leader: Vec<u8>,
}

/// A comparison of a manifest with a tree in one pass: the tree's items in path order
/// ([`Comparison::item`]), merged with the manifest's entries read in the same order, under
/// the manifest's runtime policy. What it keeps grows with the findings, the mount points and
/// the hard-linked files, never with the number of entries.
pub struct Comparison<'h, I> {
    header: &'h Header,
    entries: I,
    /// The next entry of the manifest, read and not yet compared.
    next: Option<Entry>,
    /// The manifest's entries are all read.
    done: bool,
    out: Out,
    mounts: Vec<Mount>,
    /// Hard-link groups of more than one path, by leader: their sizes in the manifest and in
    /// the tree.
    expected_groups: HashMap<Vec<u8>, u64>,
    actual_groups: HashMap<Vec<u8>, u64>,
    link_checks: Vec<LinkCheck>,
    manifest_lists_apk_db: bool,
}

impl<'h, I, E> Comparison<'h, I>
where
    I: Iterator<Item = Result<Entry, E>>,
{
    /// A comparison with the manifest of `header`, whose entries `entries` gives in order.
    pub fn new(header: &'h Header, entries: I) -> Self {
        Comparison {
            header,
            entries,
            next: None,
            done: false,
            out: Out {
                findings: Vec::new(),
            },
            mounts: Vec::new(),
            expected_groups: HashMap::new(),
            actual_groups: HashMap::new(),
            link_checks: Vec::new(),
            manifest_lists_apk_db: false,
        }
    }

    /// Reads the manifest's next entry into `next`, unless it holds one.
    fn fill(&mut self) -> Result<(), E> {
        if self.next.is_some() || self.done {
            return Ok(());
        }
        match self.entries.next().transpose()? {
            Some(entry) => {
                if let Some(leader) = &entry.hardlink {
                    *self.expected_groups.entry(leader.clone()).or_insert(1) += 1;
                }
                if entry.path == APK_DB {
                    self.manifest_lists_apk_db = true;
                }
                self.next = Some(entry);
            }
            None => self.done = true,
        }
        Ok(())
    }

    /// Compares the tree's next item (items come in path order).
    ///
    /// # Errors
    /// When the manifest's entries cannot be read.
    pub fn item(&mut self, item: Item) -> Result<(), E> {
        loop {
            self.fill()?;
            match self.next.take() {
                Some(e) if e.path.as_slice() < item.path() => self.expected_only(e),
                next => {
                    self.next = next;
                    break;
                }
            }
        }
        let expected = self.next.take_if(|e| e.path.as_slice() == item.path());
        if let Some(leader) = item.entry.as_ref().and_then(|a| a.hardlink.as_ref()) {
            *self.actual_groups.entry(leader.clone()).or_insert(1) += 1;
        }
        self.change(expected, item);
        Ok(())
    }

    /// What is left once the tree's last item was compared: the manifest's remaining entries,
    /// hard links from outside, mount points, the apk database (`apk_db`, the tree's, when it
    /// was read) against the manifest's packages.
    ///
    /// # Errors
    /// When the manifest's entries cannot be read.
    pub fn finish(mut self, apk_db: Option<&[u8]>) -> Result<Vec<Finding>, E> {
        loop {
            self.fill()?;
            match self.next.take() {
                Some(e) => self.expected_only(e),
                None => break,
            }
        }
        let policy = &self.header.policy;
        for check in std::mem::take(&mut self.link_checks) {
            let seen = self
                .actual_groups
                .get(&check.actual_leader)
                .copied()
                .unwrap_or(1);
            if check.nlink > seen {
                let expected = self
                    .expected_groups
                    .get(&check.expected_leader)
                    .copied()
                    .unwrap_or(1);
                self.out.push(
                    &check.path,
                    FindingKind::Target,
                    Some(links(expected)),
                    Some(format!(
                        "{}, {} of them outside the verified tree (a hard link in an ephemeral or state path, or outside the root)",
                        links(check.nlink),
                        check.nlink - seen
                    )),
                );
            }
        }
        let is_area_root = |path: &[u8]| {
            policy
                .ephemeral
                .iter()
                .chain(&policy.state)
                .any(|p| p.as_bytes() == path)
        };
        for mount in &self.mounts {
            let path = mount.path.as_slice();
            let expected_here =
                is_area_root(path) || KERNEL_MOUNTS.iter().any(|k| k.as_bytes() == path);
            if expected_here || policy.is_inside_free_area(path) {
                continue;
            }
            // A file mounted over a mutable file changes only what a mutable path may change,
            // its content (the file it shows is compared as the path's entry): the disk's
            // initramfs puts the signed manifest over its placeholder so.
            if mount.listed == Some("file")
                && !mount.hidden
                && policy.mutable.iter().any(|m| m.as_bytes() == path)
            {
                continue;
            }
            let actual = match (mount.listed, mount.hidden) {
                (_, true) => "dir with another filesystem mounted over its content".to_owned(),
                (Some("dir") | None, false) => {
                    "dir with another filesystem mounted over it".to_owned()
                }
                (Some(kind), false) => format!("{kind} with another file mounted over it"),
            };
            self.out.push(
                path,
                FindingKind::Type,
                Some(mount.listed.unwrap_or("nothing").to_owned()),
                Some(actual),
            );
        }
        if policy.rule(APK_DB) == Rule::Exact {
            cross_check_packages(
                &mut self.out,
                &self.header.packages,
                self.manifest_lists_apk_db,
                apk_db,
            );
        }
        let mut findings = self.out.findings;
        findings.sort();
        findings.dedup();
        Ok(findings)
    }

    /// An entry of the manifest that the tree does not have.
    fn expected_only(&mut self, e: Entry) {
        if self.header.policy.is_inside_free_area(&e.path) {
            return;
        }
        self.missing(&e, false);
    }

    fn missing(&mut self, e: &Entry, problem: bool) {
        let path = e.path.as_slice();
        if let Some(mount) = self
            .mounts
            .iter_mut()
            .rev()
            .find(|m| strictly_below(&m.path, path))
        {
            mount.hidden = true;
        } else if !problem {
            self.out
                .push(path, FindingKind::Missing, Some(describe(e)), None);
        }
    }

    fn change(&mut self, expected: Option<Entry>, item: Item) {
        let policy = &self.header.policy;
        let Item {
            entry: actual,
            problem,
            nlink,
            mount,
        } = item;
        let path: Vec<u8> = match (&actual, &problem) {
            (Some(a), _) => a.path.clone(),
            (None, Some(p)) => p.path.clone(),
            (None, None) => return,
        };
        let path = path.as_slice();
        if mount {
            self.mounts.push(Mount {
                path: path.to_vec(),
                listed: expected.as_ref().map(|e| e.kind.name()),
                hidden: false,
            });
        }
        // Everything strictly below an ephemeral or state path is free; those paths themselves
        // are where their filesystems are mounted, and must be the manifest's directories.
        if policy.is_inside_free_area(path) {
            return;
        }
        let rule = policy.rule(path);
        if let Some(problem) = &problem {
            let kind = match problem.kind {
                ProblemKind::Unreadable => FindingKind::Unreadable,
                ProblemKind::Changing => FindingKind::Changing,
            };
            self.out
                .push(path, kind, None, Some(problem.detail.clone()));
        }
        let is_area_root = policy
            .ephemeral
            .iter()
            .chain(&policy.state)
            .any(|p| p.as_bytes() == path);
        let is_mutable_root = policy.mutable.iter().any(|p| p.as_bytes() == path);
        match (expected, actual) {
            (Some(e), None) => self.missing(&e, problem.is_some()),
            (None, Some(a)) => {
                if is_area_root {
                    // Not in the image, but a filesystem is mounted here: a directory, never
                    // a symlink the mount would follow.
                    if !matches!(a.kind, Kind::Dir) {
                        self.out.push(
                            path,
                            FindingKind::Type,
                            Some("dir".into()),
                            Some(a.kind.name().into()),
                        );
                    }
                } else if is_mutable_root {
                    unlisted_mutable(&mut self.out, &a, nlink.max(1));
                } else {
                    self.out
                        .push(path, FindingKind::Persisted, None, Some(describe(&a)));
                }
            }
            (Some(e), Some(a)) => {
                let depth = if mount || rule == Rule::Ephemeral || rule == Rule::State {
                    Depth::Type
                } else if rule == Rule::Mutable {
                    Depth::NotContent
                } else {
                    Depth::All
                };
                compare_entry(&mut self.out, &e, &a, depth, problem.is_some());
                if depth != Depth::Type
                    && matches!(e.kind, Kind::File { .. })
                    && matches!(a.kind, Kind::File { .. })
                    && nlink > 1
                {
                    self.link_checks.push(LinkCheck {
                        path: path.to_vec(),
                        nlink,
                        actual_leader: a.hardlink.unwrap_or(a.path),
                        expected_leader: e.hardlink.unwrap_or(e.path),
                    });
                }
            }
            (None, None) => {}
        }
    }
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
fn cross_check_packages(
    out: &mut Out,
    expected: &[manifest::Package],
    manifest_lists_db: bool,
    db: Option<&[u8]>,
) {
    let Some(db) = db else {
        return;
    };
    if expected.is_empty() && !manifest_lists_db {
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
