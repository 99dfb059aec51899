//! `verify`: turning a signed manifest and a scanned host (or image) into findings.
//!
//! The signature is checked first, over the manifest's exact bytes, and nothing else is done
//! when it fails. Then the manifest's entries and the host's are merge-joined by path and each
//! difference becomes a [`Finding`] under the manifest's runtime policy:
//!
//! - ephemeral paths are skipped (neither walked nor compared);
//! - state paths may hold anything (only a state path itself must exist with its type);
//! - mutable paths must exist with the right type (content, mode and owner may change);
//! - every other path must match exactly, and a new entry is `persisted`.
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

use crate::integrity::compare::{Change, merge_join};
use crate::integrity::host::{self, APK_DB, ProblemKind, Scan, ScanOptions};
use crate::integrity::manifest::{self, Entry, Kind, Manifest, Rule, escape, strictly_below};
use crate::integrity::sign::{self, Keyring, Signature};

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

/// The JSON report: `{"clean": bool, "findings": [{"path", "kind", "expected", "actual"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// True when there are no findings.
    pub clean: bool,
    /// Every finding, sorted by path then kind.
    pub findings: Vec<Finding>,
}

impl Report {
    /// A report over these findings.
    #[must_use]
    pub fn new(mut findings: Vec<Finding>) -> Report {
        findings.sort();
        findings.dedup();
        Report {
            clean: findings.is_empty(),
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

/// Verifies `tree` (a root directory or an image archive) against the manifest
/// `manifest_bytes`: the signature first, when one is given, over the exact bytes (nothing
/// else is done when it fails); then the tree is read under the manifest's runtime policy,
/// while the manifest's entries are parsed, and the two are compared.
///
/// # Errors
/// [`Error::Signature`] or [`Error::SignedDigest`] when the signature fails,
/// [`Error::Manifest`] when the manifest cannot be read, [`Error::Host`] when the tree
/// cannot be read at all.
pub fn verify_tree(
    manifest_bytes: &[u8],
    signature: Option<(&Signature, &Keyring)>,
    tree: &Path,
) -> Result<(Manifest, Report), Error> {
    if let Some((signature, keyring)) = signature {
        check_signature(manifest_bytes, signature, keyring)?;
    }
    // The header holds the runtime policy the walk needs; the entries are read meanwhile.
    let header = Manifest::parse_header(manifest_bytes).map_err(Error::Manifest)?;
    let options = ScanOptions::for_policy(&header.policy);
    let (parsed, scan) = rayon::join(
        || Manifest::parse(manifest_bytes),
        || host::scan_tree(tree, &options),
    );
    let manifest = parsed.map_err(Error::Manifest)?;
    let scan = scan.map_err(Error::Host)?;
    let findings = compare(&manifest, &scan);
    Ok((manifest, Report::new(findings)))
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
    let free = |path: &[u8]| {
        let rule = policy.rule(path);
        rule == Rule::Ephemeral || (rule == Rule::State && policy.is_inside_free_area(path))
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
                let is_policy_root = policy
                    .state
                    .iter()
                    .chain(&policy.mutable)
                    .any(|p| p.as_bytes() == path);
                if !is_policy_root {
                    out.push(path, FindingKind::Persisted, None, Some(describe(a)));
                }
            }
            Change::Both(e, a) => {
                let type_only = rule != Rule::Exact || mounts.contains(path);
                compare_entry(&mut out, e, a, type_only, problems.contains_key(path));
            }
        }
    }
    for mount in hidden {
        out.push(
            mount,
            FindingKind::Type,
            Some("dir".into()),
            Some("dir with another filesystem mounted over its content".into()),
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

fn compare_entry(out: &mut Out, e: &Entry, a: &Entry, type_only: bool, unreadable: bool) {
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
    if type_only {
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
        ) if !unreadable && (es != as_ || eh != ah) => {
            out.push(
                path,
                FindingKind::Content,
                Some(content(*es, eh)),
                Some(content(*as_, ah)),
            );
        }
        (Kind::Symlink { target: et }, Kind::Symlink { target: at }) if et != at => {
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
    format!(
        "{} {} (record sha256:{})",
        p.name,
        p.version,
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
