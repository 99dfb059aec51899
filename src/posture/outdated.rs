//! `outdated`: which installed (or locked) packages have newer versions in the repositories
//! now, which is the signal to rebuild and redeploy.
//!
//! For each package the newest version of the same name across all repositories is taken, in
//! apk's version order; a package is outdated when that version is newer than its own, and
//! missing when no repository has its name any more.
//!
//! Invariants: pure; the report is sorted by package name.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::apk::installed::InstalledPackage;
use crate::apk::version;
use crate::build::lock::LockedPackage;
use crate::integrity::manifest;

/// A package to check: its name and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// Package name.
    pub name: String,
    /// The installed or locked version.
    pub version: String,
}

impl From<&InstalledPackage> for Current {
    fn from(p: &InstalledPackage) -> Self {
        Current {
            name: p.name.clone(),
            version: p.version.clone(),
        }
    }
}

impl From<&manifest::Package> for Current {
    fn from(p: &manifest::Package) -> Self {
        Current {
            name: p.name.clone(),
            version: p.version.clone(),
        }
    }
}

impl From<&LockedPackage> for Current {
    fn from(p: &LockedPackage) -> Self {
        Current {
            name: p.name.clone(),
            version: p.version.clone(),
        }
    }
}

/// A package a repository offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    /// Package name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The repository that offers it, as the user named it.
    pub repository: String,
}

/// A package with a newer version available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Update {
    /// Package name.
    pub name: String,
    /// The installed or locked version.
    pub current: String,
    /// The newest version available.
    pub available: String,
    /// The repository that offers it.
    pub repository: String,
}

/// The outcome of a check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// How many packages were checked.
    pub checked: usize,
    /// Packages with a newer version, sorted by name.
    pub outdated: Vec<Update>,
    /// Packages no repository offers (name and version), sorted by name.
    pub missing: Vec<Missing>,
}

/// A package that no repository offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// Package name.
    pub name: String,
    /// The installed or locked version.
    pub current: String,
}

impl Report {
    /// True when a rebuild would bring newer packages.
    #[must_use]
    pub fn has_updates(&self) -> bool {
        !self.outdated.is_empty()
    }
}

/// Compares `current` with what the repositories offer.
#[must_use]
pub fn check<'a>(
    current: &[Current],
    available: impl IntoIterator<Item = &'a Available>,
) -> Report {
    let mut newest: BTreeMap<&str, &Available> = BTreeMap::new();
    for offer in available {
        newest
            .entry(offer.name.as_str())
            .and_modify(|best| {
                if version::compare(&offer.version, &best.version) == Ordering::Greater {
                    *best = offer;
                }
            })
            .or_insert(offer);
    }
    let mut report = Report {
        checked: current.len(),
        ..Report::default()
    };
    for pkg in current {
        match newest.get(pkg.name.as_str()) {
            None => report.missing.push(Missing {
                name: pkg.name.clone(),
                current: pkg.version.clone(),
            }),
            Some(best) if version::compare(&best.version, &pkg.version) == Ordering::Greater => {
                report.outdated.push(Update {
                    name: pkg.name.clone(),
                    current: pkg.version.clone(),
                    available: best.version.clone(),
                    repository: best.repository.clone(),
                });
            }
            Some(_) => {}
        }
    }
    report.outdated.sort_by(|a, b| a.name.cmp(&b.name));
    report.missing.sort_by(|a, b| a.name.cmp(&b.name));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(name: &str, version: &str) -> Current {
        Current {
            name: name.into(),
            version: version.into(),
        }
    }

    fn offer(name: &str, version: &str, repository: &str) -> Available {
        Available {
            name: name.into(),
            version: version.into(),
            repository: repository.into(),
        }
    }

    #[test]
    fn newest_offer_across_repositories_decides() {
        let offers = [
            offer("musl", "1.2.4-r2", "main"),
            offer("musl", "1.2.10-r0", "edge"),
            offer("musl", "1.2.5-r0", "main"),
            offer("curl", "8.5.0-r0", "main"),
            offer("zlib", "1.3.1-r0", "main"),
            offer("openssl", "3.1.4_rc1-r0", "main"),
        ];
        let report = check(
            &[
                cur("zlib", "1.3.1-r0"),
                cur("musl", "1.2.4-r2"),
                cur("openssl", "3.1.4-r0"),
                cur("gone", "1-r0"),
            ],
            &offers,
        );
        assert_eq!(report.checked, 4);
        assert_eq!(
            report.outdated,
            [Update {
                name: "musl".into(),
                current: "1.2.4-r2".into(),
                available: "1.2.10-r0".into(),
                repository: "edge".into(),
            }]
        );
        assert_eq!(report.missing.len(), 1);
        assert_eq!(report.missing[0].name, "gone");
        assert!(report.has_updates());
        assert!(!check(&[cur("zlib", "1.3.1-r0")], &offers).has_updates());
    }
}
