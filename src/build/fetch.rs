//! `fetch`: the packages a lock pins, from its repositories, checked before they are used:
//! the size the index gave, the signature by a trusted key, the `Q1` identity the lock
//! records, the data section against `.PKGINFO`'s `datahash` and the lock's own `datahash`,
//! and every file's checksum ([`crate::build::pipeline::read_apk`]).
//!
//! It also reads each package's `datahash` for a new lock ([`fill_datahashes`]), trusting a
//! file only once its identity matches the lock's.
//!
//! Invariant: a package is returned only when every check above passed; packages are fetched
//! in parallel and returned in the lock's install order.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::apk::checksum::Checksum;
use crate::apk::package::{self, ReadOptions};
use crate::build::lock::Lockfile;
use crate::build::pipeline::{self, LoadedPackage};
use crate::build::unpack::Limits;
use crate::repo::{self, Access, ExpectedChecksum, Repository};

/// A package that cannot be had, or is not what the lock pins.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key file cannot be read or used.
    #[error(transparent)]
    Key(#[from] repo::KeyError),
    /// The fetcher cannot be set up.
    #[error(transparent)]
    Setup(#[from] repo::SetupError),
    /// The lock names a repository that is not among those in use.
    #[error(
        "package `{package}` comes from `{repository}`, which is not among the repositories in use"
    )]
    UnknownRepository {
        /// `NAME-VERSION`.
        package: String,
        /// The repository the lock names.
        repository: String,
    },
    /// The lock's identity for a package is not a checksum.
    #[error("package `{package}`: bad identity `{identity}`")]
    BadIdentity {
        /// `NAME-VERSION`.
        package: String,
        /// The identity as written.
        identity: String,
        /// Why it is not one.
        #[source]
        source: crate::apk::checksum::Error,
    },
    /// The repository cannot give the package.
    #[error(transparent)]
    Repository(#[from] repo::Error),
    /// The package fails a check.
    #[error(transparent)]
    Package(#[from] pipeline::Error),
    /// The data section is not the one the lock recorded.
    #[error(
        "package `{package}`: data section has SHA-256 {actual}, but the lock records datahash {expected}"
    )]
    Datahash {
        /// `NAME-VERSION`.
        package: String,
        /// The lock's datahash.
        expected: String,
        /// What the file holds.
        actual: String,
    },
    /// A package was fetched without being checked (cannot happen: the check sets it).
    #[error("package `{package}` was not checked")]
    Unchecked {
        /// `NAME-VERSION`.
        package: String,
    },
}

impl Error {
    /// What the user can do about it, when the repository layer knows.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Repository(e) => e.hint(),
            Error::Setup(e) => e.hint(),
            _ => None,
        }
    }
}

fn source_of<'a>(
    by_url: &BTreeMap<&str, &'a Repository>,
    id: &str,
    repository: &str,
) -> Result<&'a Repository, Error> {
    by_url
        .get(repository)
        .copied()
        .ok_or_else(|| Error::UnknownRepository {
            package: id.to_owned(),
            repository: repository.to_owned(),
        })
}

fn identity(id: &str, text: &str) -> Result<Checksum, Error> {
    text.parse().map_err(|source| Error::BadIdentity {
        package: id.to_owned(),
        identity: text.to_owned(),
        source,
    })
}

/// Fetches every package of `lock` (in parallel) from the repositories of `access`, checks it
/// against the lock and reads it; `done` is called with each package's name once it is ready.
///
/// # Errors
/// The first package (in install order) that cannot be had or fails a check.
pub fn fetch(
    lock: &Lockfile,
    access: &Access,
    done: &(dyn Fn(&str) + Sync),
) -> Result<Vec<LoadedPackage>, Error> {
    let by_url: BTreeMap<&str, &Repository> = access
        .repositories
        .iter()
        .map(|r| (r.location_str(), r))
        .collect();
    let keyring = access.keyring()?;
    let fetcher = access.fetcher()?;
    let limits = Limits::default();
    let loaded: Vec<Result<LoadedPackage, Error>> = lock
        .packages
        .par_iter()
        .map(|p| {
            let id = p.id();
            let source = source_of(&by_url, &id, &p.repository)?;
            let expected = ExpectedChecksum {
                size: Some(p.size),
                sha256: None,
            };
            let fetched = fetcher.fetch_package(
                source,
                &lock.image.arch,
                &p.name,
                &p.version,
                &expected,
                |_| Ok::<(), std::convert::Infallible>(()),
            )?;
            let identity = identity(&id, &p.checksum)?;
            let file = format!("{id}.apk");
            let package =
                pipeline::read_apk(&fetched.bytes, &file, &keyring, Some(&identity), limits)?;
            if let Some(expected) = &p.datahash
                && !expected.eq_ignore_ascii_case(&package.datahash)
            {
                return Err(Error::Datahash {
                    package: id,
                    expected: expected.clone(),
                    actual: package.datahash,
                });
            }
            done(&p.name);
            Ok(package)
        })
        .collect();
    loaded.into_iter().collect()
}

/// The packages whose file could not be had, so whose `datahash` the lock leaves out.
#[derive(Debug, Default)]
pub struct MissingDatahashes {
    /// How many packages were locked without a datahash.
    pub count: usize,
    /// The total number of packages.
    pub total: usize,
    /// Why the first of them (in install order) could not be read.
    pub first: Option<(String, String)>,
}

impl MissingDatahashes {
    /// One line for the user, when any datahash is missing.
    #[must_use]
    pub fn note(&self) -> Option<String> {
        let (package, reason) = self.first.as_ref()?;
        Some(format!(
            "{} of {} packages locked without a datahash, their files being unavailable \
             (first: `{package}`: {reason}); the Q1 identity still pins them",
            self.count, self.total
        ))
    }
}

/// Fills [`LockedPackage::datahash`](crate::build::lock::LockedPackage::datahash) for every
/// package of `lock` whose file can be had: read in place from a local repository, or through
/// the cache (downloading it when online) from a remote one. A file is trusted only once its
/// `Q1` identity matches the lock's (the index's `C:`); the datahash recorded is the SHA-256
/// of its data section, checked against the `.PKGINFO` `datahash` it carries.
///
/// A package whose file is absent (a directory holding only the index, a 404, not cached
/// offline) keeps no datahash and is counted in the result.
///
/// # Errors
/// A file that is there but is not the package the index describes (size, identity,
/// datahash or structure), and repository failures other than absence.
pub fn fill_datahashes(lock: &mut Lockfile, access: &Access) -> Result<MissingDatahashes, Error> {
    let by_url: BTreeMap<&str, &Repository> = access
        .repositories
        .iter()
        .map(|r| (r.location_str(), r))
        .collect();
    let keyring = access.keyring()?;
    let fetcher = access.fetcher()?;
    let arch = lock.image.arch.clone();
    let results: Vec<Result<Result<String, String>, Error>> = lock
        .packages
        .par_iter()
        .map(|p| {
            let id = p.id();
            let source = source_of(&by_url, &id, &p.repository)?;
            let identity = identity(&id, &p.checksum)?;
            let expected = ExpectedChecksum {
                size: Some(p.size),
                sha256: None,
            };
            let file = format!("{id}.apk");
            let mut options = ReadOptions::new(&keyring);
            options.expected_identity = Some(&identity);
            // Set by the check of the copy that is accepted (the last one checked).
            let datahash = std::cell::Cell::new(None);
            let verify = |bytes: &[u8]| {
                let package = package::read_package(bytes, &file, &options, |_, _| Ok(()))?;
                datahash.set(Some(package.datahash));
                Ok::<(), package::Error>(())
            };
            match fetcher.fetch_package(source, &arch, &p.name, &p.version, &expected, verify) {
                Ok(_) => datahash
                    .take()
                    .map(Ok)
                    .ok_or(Error::Unchecked { package: id }),
                Err(err) if is_absent(&err) => Ok(Err(err.to_string())),
                Err(err) => Err(Error::Repository(err)),
            }
        })
        .collect();
    let mut missing = MissingDatahashes {
        total: lock.packages.len(),
        ..MissingDatahashes::default()
    };
    for (p, result) in lock.packages.iter_mut().zip(results) {
        match result? {
            Ok(datahash) => p.datahash = Some(datahash),
            Err(reason) => {
                p.datahash = None;
                missing.count += 1;
                if missing.first.is_none() {
                    missing.first = Some((p.id(), reason));
                }
            }
        }
    }
    Ok(missing)
}

/// Whether a fetch failed because the file is not there (rather than being wrong).
fn is_absent(err: &repo::Error) -> bool {
    use repo::{Error, HttpFailure};
    match err {
        Error::LocalNotFound { .. } | Error::NotCached { .. } => true,
        Error::Http {
            failure: HttpFailure::Status { code, .. },
            ..
        } => matches!(code, 404 | 410),
        _ => false,
    }
}
