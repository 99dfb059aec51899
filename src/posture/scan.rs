//! `scan`: installed packages against Alpine's security database (secdb).
//!
//! The secdb (`https://secdb.alpinelinux.org/v3.19/main.json`) lists, per origin (source)
//! package, the versions that fixed each CVE; a fixed version of `"0"` means the branch was
//! never affected. A binary package is vulnerable to an advisory when its origin lists the
//! advisory and the installed version is older, in apk's version order, than the fix.
//!
//! Invariants: pure (bytes and values in, values out); the report is sorted by package name
//! and advisory id, so it is deterministic; an advisory that appears under several fixed
//! versions is fixed only by the newest of them, and never applies when one of them is `"0"`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::apk::installed::InstalledPackage;
use crate::apk::version;
use crate::finding::Severity;
use crate::integrity::manifest;

/// The stable code of a scan finding.
pub const CODE: &str = "known-vulnerability";
/// What [`CODE`] means.
pub const CODE_DESCRIPTION: &str =
    "an installed package is older than the version that fixes a published vulnerability";
/// The severity of every scan finding: the secdb carries no scores, and a known, fixed
/// vulnerability on a host is something to redeploy for.
pub const SEVERITY: Severity = Severity::High;
/// The largest secdb document basalt reads (callers bound their reads with it).
pub const MAX_SECDB_BYTES: u64 = 64 << 20;
/// The fixed version that means "this branch was never affected".
pub const NOT_AFFECTED: &str = "0";

/// An error reading a secdb document.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The document is not the secdb JSON shape.
    #[error("secdb `{source_name}` is not a valid security database")]
    Parse {
        /// Where the document came from (a path or URL).
        source_name: String,
        /// The JSON error, with its line and column.
        #[source]
        source: serde_json::Error,
    },
    /// An entry with no package name.
    #[error("secdb `{source_name}`: entry {index} has an empty package name")]
    EmptyName {
        /// Where the document came from.
        source_name: String,
        /// The 0-based index of the entry in `packages`.
        index: usize,
    },
}

#[derive(Deserialize)]
struct RawSecDb {
    #[serde(default)]
    distroversion: Option<String>,
    #[serde(default)]
    reponame: Option<String>,
    packages: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    pkg: RawPkg,
}

#[derive(Deserialize)]
struct RawPkg {
    name: String,
    #[serde(default)]
    secfixes: BTreeMap<String, Option<Vec<String>>>,
}

/// The advisories of one or more secdb documents, by origin package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecDb {
    /// Where each document came from, with its `distroversion` and `reponame`.
    pub sources: Vec<SecDbSource>,
    /// origin → advisory id → the fixed versions listed for it (`"0"`: not affected).
    pub origins: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

/// One secdb document that was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecDbSource {
    /// A path or URL.
    pub name: String,
    /// `distroversion`, such as `v3.19`.
    pub distro_version: Option<String>,
    /// `reponame`, such as `main`.
    pub repository: Option<String>,
}

impl SecDb {
    /// Reads one secdb document and adds its advisories (several documents, such as `main`
    /// and `community`, are merged).
    ///
    /// # Errors
    /// [`Error::Parse`] when the JSON does not have the secdb shape; [`Error::EmptyName`].
    pub fn add_document(&mut self, source_name: &str, bytes: &[u8]) -> Result<(), Error> {
        let raw: RawSecDb = serde_json::from_slice(bytes).map_err(|source| Error::Parse {
            source_name: source_name.to_owned(),
            source,
        })?;
        for (index, entry) in raw.packages.into_iter().enumerate() {
            if entry.pkg.name.is_empty() {
                return Err(Error::EmptyName {
                    source_name: source_name.to_owned(),
                    index,
                });
            }
            let advisories = self.origins.entry(entry.pkg.name).or_default();
            for (fixed, ids) in entry.pkg.secfixes {
                for id in ids.unwrap_or_default() {
                    // Some entries carry a note after the id (`CVE-2020-1234 (upstream)`).
                    let id = id.split_whitespace().next().unwrap_or_default().to_owned();
                    if !id.is_empty() {
                        advisories.entry(id).or_default().insert(fixed.clone());
                    }
                }
            }
        }
        self.sources.push(SecDbSource {
            name: source_name.to_owned(),
            distro_version: raw.distroversion,
            repository: raw.reponame,
        });
        Ok(())
    }

    /// Parses one document.
    ///
    /// # Errors
    /// As [`SecDb::add_document`].
    pub fn parse(source_name: &str, bytes: &[u8]) -> Result<Self, Error> {
        let mut db = SecDb::default();
        db.add_document(source_name, bytes)?;
        Ok(db)
    }

    /// The advisories that apply to `version` of a package built from `origin`: each id with
    /// the version that fixes it.
    #[must_use]
    pub fn advisories_for(&self, origin: &str, version: &str) -> Vec<Advisory> {
        let Some(advisories) = self.origins.get(origin) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for (id, fixed_versions) in advisories {
            if fixed_versions.contains(NOT_AFFECTED) {
                continue;
            }
            let newest = fixed_versions
                .iter()
                .max_by(|a, b| version::compare(a, b).then_with(|| a.cmp(b)));
            if let Some(fixed) = newest
                && version::compare(version, fixed) == Ordering::Less
            {
                found.push(Advisory {
                    id: id.clone(),
                    fixed_in: fixed.clone(),
                });
            }
        }
        found
    }
}

impl SecDbSource {
    /// True when this document is for another Alpine branch than `release` (the content of
    /// `/etc/alpine-release`, such as `3.19.1`): its advisories may then not apply. Unknown
    /// branches and `edge` never mismatch.
    #[must_use]
    pub fn is_for_other_branch(&self, release: &str) -> bool {
        let Some(branch) = self.distro_version.as_deref() else {
            return false;
        };
        if branch == "edge" {
            return false;
        }
        let mut parts = release.split(['.', '_']);
        match (parts.next(), parts.next()) {
            (Some(major), Some(minor)) if !major.is_empty() && !minor.is_empty() => {
                branch.strip_prefix('v').unwrap_or(branch) != format!("{major}.{minor}")
            }
            _ => false,
        }
    }
}

/// A package to scan: its name, version and origin (the source package the secdb names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedPackage {
    /// The binary package name (`libcrypto3`).
    pub name: String,
    /// The installed version.
    pub version: String,
    /// The origin (`openssl`); the package name is used when it is unknown.
    pub origin: Option<String>,
}

impl From<InstalledPackage> for ScannedPackage {
    fn from(p: InstalledPackage) -> Self {
        ScannedPackage {
            name: p.name,
            version: p.version,
            origin: p.origin,
        }
    }
}

impl From<manifest::Package> for ScannedPackage {
    fn from(p: manifest::Package) -> Self {
        ScannedPackage {
            name: p.name,
            version: p.version,
            origin: p.origin,
        }
    }
}

/// One advisory that applies to a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Advisory {
    /// The advisory id (`CVE-2024-6387`).
    pub id: String,
    /// The version that fixes it.
    pub fixed_in: String,
}

/// A package with at least one advisory that applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vulnerable {
    /// Always [`CODE`].
    pub code: &'static str,
    /// Always [`SEVERITY`].
    pub severity: Severity,
    /// The binary package.
    pub package: String,
    /// Its installed version.
    pub version: String,
    /// The origin the secdb lists.
    pub origin: String,
    /// The version that fixes every advisory listed here.
    pub fixed_in: String,
    /// The advisories, sorted by id.
    pub advisories: Vec<Advisory>,
}

/// The outcome of a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// How many packages were scanned.
    pub scanned: usize,
    /// The secdb documents used.
    pub secdb: Vec<SecDbSource>,
    /// The vulnerable packages, sorted by name and version.
    pub vulnerable: Vec<Vulnerable>,
}

impl Report {
    /// True when a package is vulnerable.
    #[must_use]
    pub fn has_findings(&self) -> bool {
        !self.vulnerable.is_empty()
    }
}

/// Scans `packages` against `secdb`.
#[must_use]
pub fn scan(packages: &[ScannedPackage], secdb: &SecDb) -> Report {
    let mut vulnerable = Vec::new();
    for pkg in packages {
        let origin = pkg.origin.as_deref().unwrap_or(&pkg.name);
        let advisories = secdb.advisories_for(origin, &pkg.version);
        let Some(fixed_in) = advisories
            .iter()
            .map(|a| a.fixed_in.as_str())
            .max_by(|a, b| version::compare(a, b).then_with(|| a.cmp(b)))
            .map(str::to_owned)
        else {
            continue;
        };
        vulnerable.push(Vulnerable {
            code: CODE,
            severity: SEVERITY,
            package: pkg.name.clone(),
            version: pkg.version.clone(),
            origin: origin.to_owned(),
            fixed_in,
            advisories,
        });
    }
    vulnerable.sort_by(|a, b| {
        a.package
            .cmp(&b.package)
            .then_with(|| version::compare(&a.version, &b.version))
            .then_with(|| a.version.cmp(&b.version))
    });
    Report {
        scanned: packages.len(),
        secdb: secdb.sources.clone(),
        vulnerable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
        "distroversion": "v3.19", "reponame": "main", "archs": ["x86_64"],
        "packages": [
            {"pkg": {"name": "openssh", "secfixes": {
                "0": ["CVE-2023-38408"],
                "9.6_p1-r0": ["CVE-2023-48795"],
                "9.6_p1-r1": ["CVE-2024-6387"]}}},
            {"pkg": {"name": "openssl", "secfixes": {
                "3.1.4-r5": ["CVE-2024-0727"],
                "3.1.4-r6": ["CVE-2024-2511 (regression)"],
                "3.1.10-r0": ["CVE-2099-0001"]}}},
            {"pkg": {"name": "twice", "secfixes": {
                "1.0-r0": ["CVE-1"], "1.2-r0": ["CVE-1"], "2.0-r0": ["CVE-2"], "0": ["CVE-2"]}}}
        ]}"#;

    fn pkg(name: &str, version: &str, origin: Option<&str>) -> ScannedPackage {
        ScannedPackage {
            name: name.into(),
            version: version.into(),
            origin: origin.map(Into::into),
        }
    }

    #[test]
    fn reports_older_versions_with_their_fixes() {
        let db = SecDb::parse("main.json", DOC.as_bytes()).unwrap();
        let report = scan(
            &[
                pkg("openssh-server", "9.6_p1-r0", Some("openssh")),
                pkg("libcrypto3", "3.1.4-r5", Some("openssl")),
                pkg("twice", "1.1-r0", None),
                pkg("unrelated", "1.0-r0", None),
            ],
            &db,
        );
        assert_eq!(report.scanned, 4);
        let names: Vec<_> = report.vulnerable.iter().map(|v| &v.package[..]).collect();
        assert_eq!(names, ["libcrypto3", "openssh-server", "twice"]);
        let ssl = &report.vulnerable[0];
        let ids: Vec<_> = ssl.advisories.iter().map(|a| &a.id[..]).collect();
        // Fixed in exactly the installed version: not reported; 3.1.10 > 3.1.4 numerically.
        assert_eq!(ids, ["CVE-2024-2511", "CVE-2099-0001"]);
        assert_eq!(ssl.fixed_in, "3.1.10-r0");
        let ssh = &report.vulnerable[1];
        assert_eq!(ssh.advisories.len(), 1);
        assert_eq!(ssh.advisories[0].id, "CVE-2024-6387");
        assert_eq!(ssh.fixed_in, "9.6_p1-r1");
        // Listed twice: the newest fix counts; "0" anywhere means not affected.
        let twice = &report.vulnerable[2];
        assert_eq!(twice.advisories.len(), 1);
        assert_eq!(twice.advisories[0].fixed_in, "1.2-r0");
        assert_eq!(report.vulnerable[0].code, CODE);
    }

    #[test]
    fn up_to_date_packages_are_clean() {
        let db = SecDb::parse("main.json", DOC.as_bytes()).unwrap();
        let report = scan(&[pkg("openssh", "9.6_p1-r1", None)], &db);
        assert!(!report.has_findings());
    }

    #[test]
    fn branches_are_matched_by_major_and_minor() {
        let source = |v: Option<&str>| SecDbSource {
            name: "x".into(),
            distro_version: v.map(Into::into),
            repository: None,
        };
        assert!(!source(Some("v3.19")).is_for_other_branch("3.19.1"));
        assert!(source(Some("v3.19")).is_for_other_branch("3.20.3"));
        assert!(source(Some("v3.19")).is_for_other_branch("3.1.9"));
        assert!(!source(Some("v3.21")).is_for_other_branch("3.21_alpha20240923"));
        assert!(!source(Some("edge")).is_for_other_branch("3.20.3"));
        assert!(!source(None).is_for_other_branch("3.20.3"));
        assert!(!source(Some("v3.19")).is_for_other_branch("garbage"));
    }

    #[test]
    fn bad_documents_name_their_source() {
        let err = SecDb::parse("x.json", b"{\"packages\": 3}").unwrap_err();
        assert!(err.to_string().contains("`x.json`"), "{err}");
        let err = SecDb::parse("y.json", br#"{"packages":[{"pkg":{"name":""}}]}"#).unwrap_err();
        assert!(err.to_string().contains("entry 0"), "{err}");
    }
}
