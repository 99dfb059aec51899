//! Lock files: a resolution written down so that a build can be repeated exactly.
//!
//! A lock (`NAME.lock`, TOML) holds a format version, a digest of the profile's inputs (the
//! image, the repositories, the extra keys and the install list), each repository with the
//! SHA-256 of the index it was resolved against and the key that signed it, and every package
//! in install order with its name, version, architecture, repository, `Q1` identity, sizes and
//! signing key. The `Q1` identity is the SHA-1 of the package's control section, which holds
//! the `datahash` of its files, so it pins every byte of the package; the `datahash` itself is
//! recorded when it is known.
//!
//! [`lock`] makes one: it reads each repository's index through [`crate::repo`], checks its
//! signature against the trusted keys, and resolves the profile's packages with
//! [`crate::build::resolve`].
//!
//! Invariants: [`Lockfile::to_text`] is canonical (same lock, same bytes; the order of
//! packages is the install order, of repositories the order they were given), and
//! `Lockfile::parse(&l.to_text()) == Ok(l)`. The format itself reads no file; an index that is
//! not signed by a trusted key is refused unless the caller allows it, with a warning.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::apk::dependency::{self, Dependency};
use crate::apk::{Limits, SignatureStatus, index};
use crate::build::resolve::{self, Candidate, Resolution, Universe};
use crate::profile::Profile;
use crate::repo::{self, Access, Repository};

/// The lock format this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The first line of every lock file.
pub const HEADER: &str =
    "# basalt lock file: written by `basalt lock`, read by `basalt build --locked`. Do not edit.\n";

/// Why a lock file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not TOML, or not the lock's fields.
    #[error("lock file `{file}` is malformed")]
    Malformed {
        /// The file, as the caller named it.
        file: String,
        /// The parser's account (line and column).
        #[source]
        source: Box<toml::de::Error>,
    },
    /// Written by a newer or older basalt.
    #[error(
        "lock file `{file}` has format version {found}; this basalt reads version {FORMAT_VERSION}"
    )]
    UnsupportedVersion {
        /// The file.
        file: String,
        /// The version it declares.
        found: u32,
    },
    /// The lock cannot be written as TOML.
    #[error("the lock cannot be written")]
    Unwritable {
        /// The serialiser's account.
        #[source]
        source: Box<toml::ser::Error>,
    },
    /// A package names a repository the lock does not list.
    #[error(
        "lock file `{file}`: package `{package}` comes from `{repository}`, which the lock does not list"
    )]
    UnknownRepository {
        /// The file.
        file: String,
        /// `name-version`.
        package: String,
        /// The repository it names.
        repository: String,
    },
}

/// What a lock was made from: the profile's inputs to resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inputs {
    /// `[image] name`.
    pub name: String,
    /// `[image] version`.
    pub version: String,
    /// `[image] arch`.
    pub arch: String,
    /// The repositories in use, as written (`@tag URL` or `URL`), in order.
    pub repositories: Vec<String>,
    /// Extra trusted keys: (file name, SHA-256 of its contents in hex), sorted.
    pub keys: Vec<(String, String)>,
    /// `[packages] install`, as written.
    pub install: Vec<String>,
}

impl Inputs {
    /// `sha256:` and the hex SHA-256 of the inputs' canonical JSON.
    #[must_use]
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("sha256:{}", hex::encode(Sha256::digest(&json)))
    }
}

/// The image a lock is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedImage {
    /// The profile's image name.
    pub name: String,
    /// The profile's image version.
    pub version: String,
    /// The architecture.
    pub arch: String,
}

/// One repository, and the index the lock was resolved against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedRepository {
    /// The location (URL or directory), without the tag.
    pub url: String,
    /// Its tag, without `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// SHA-256 (hex) of the `APKINDEX.tar.gz` resolved against.
    pub index: String,
    /// The index's description (`v3.19.1-643-gec825d20535`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The key that signed the index; absent for an index accepted with `--allow-untrusted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// One package, in install order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    /// `P:`
    pub name: String,
    /// `V:`
    pub version: String,
    /// `A:`
    pub arch: String,
    /// The repository it is fetched from (a [`LockedRepository::url`]).
    pub repository: String,
    /// `C:`, the `Q1` identity that the fetched package must have.
    pub checksum: String,
    /// `S:`, the size of the `.apk`.
    pub size: u64,
    /// `I:`, the installed size.
    pub installed_size: u64,
    /// The SHA-256 of the package's data section (`.PKGINFO` `datahash`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datahash: Option<String>,
    /// The key that signed the index vouching for `checksum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl LockedPackage {
    /// `name-version`.
    #[must_use]
    pub fn id(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }

    /// Equal, except that a `datahash` known on one side only is no difference: the `Q1`
    /// identity already pins it, and a lock made without the package files leaves it out.
    #[must_use]
    pub fn same_as(&self, other: &LockedPackage) -> bool {
        let datahash = match (&self.datahash, &other.datahash) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => true,
        };
        datahash
            && LockedPackage {
                datahash: None,
                ..self.clone()
            } == LockedPackage {
                datahash: None,
                ..other.clone()
            }
    }
}

/// A lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// [`Inputs::digest`] of what it was made from.
    pub inputs: String,
    /// The image.
    pub image: LockedImage,
    /// The repositories, in the order given.
    #[serde(default, rename = "repository")]
    pub repositories: Vec<LockedRepository>,
    /// The packages, in install order.
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedPackage>,
}

impl Lockfile {
    /// The lock for `resolution`, made from `inputs` against `repositories` (in the order the
    /// resolver was given them: a package's `repository` index points into this list).
    #[must_use]
    pub fn new(
        inputs: &Inputs,
        repositories: Vec<LockedRepository>,
        resolution: &Resolution,
    ) -> Self {
        let packages = resolution
            .packages
            .iter()
            .map(|p| {
                let c = &p.candidate;
                let repo = repositories.get(p.repository);
                LockedPackage {
                    name: c.name.clone(),
                    version: c.version.to_string(),
                    arch: c.arch.clone(),
                    repository: repo.map(|r| r.url.clone()).unwrap_or_default(),
                    checksum: c.checksum.clone(),
                    size: c.size,
                    installed_size: c.installed_size,
                    datahash: None,
                    key: repo.and_then(|r| r.key.clone()),
                }
            })
            .collect();
        Lockfile {
            version: FORMAT_VERSION,
            inputs: inputs.digest(),
            image: LockedImage {
                name: inputs.name.clone(),
                version: inputs.version.clone(),
                arch: inputs.arch.clone(),
            },
            repositories,
            packages,
        }
    }

    /// The canonical text.
    ///
    /// # Errors
    ///
    /// [`Error::Unwritable`] when a size does not fit TOML's integers (over 2^63 - 1 bytes:
    /// only a hostile index says so).
    pub fn to_text(&self) -> Result<String, Error> {
        let body = toml::to_string(self).map_err(|source| Error::Unwritable {
            source: Box::new(source),
        })?;
        Ok(format!("{HEADER}{body}"))
    }

    /// Reads a lock; `file` names it in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] with the line and column, [`Error::UnsupportedVersion`], or
    /// [`Error::UnknownRepository`].
    pub fn parse(text: &str, file: &str) -> Result<Self, Error> {
        // Read the version alone first, so that a lock from another format version is named
        // as such rather than as a list of unknown fields.
        #[derive(Deserialize)]
        struct VersionOnly {
            version: Option<u32>,
        }
        if let Ok(VersionOnly {
            version: Some(found),
        }) = toml::from_str::<VersionOnly>(text)
            && found != FORMAT_VERSION
        {
            return Err(Error::UnsupportedVersion {
                file: file.to_owned(),
                found,
            });
        }
        let lock: Lockfile = toml::from_str(text).map_err(|source| Error::Malformed {
            file: file.to_owned(),
            source: Box::new(source),
        })?;
        for p in &lock.packages {
            if !lock.repositories.iter().any(|r| r.url == p.repository) {
                return Err(Error::UnknownRepository {
                    file: file.to_owned(),
                    package: p.id(),
                    repository: p.repository.clone(),
                });
            }
        }
        Ok(lock)
    }

    /// What changed from `self` (the lock on disk) to `current` (the lock the inputs give
    /// now), one line each, sorted; empty when the lock is up to date.
    #[must_use]
    pub fn differences(&self, current: &Lockfile) -> Vec<String> {
        let mut out = Vec::new();
        if self.inputs != current.inputs {
            out.push(format!(
                "profile inputs changed: {} -> {}",
                self.inputs, current.inputs
            ));
        }
        if self.image != current.image {
            out.push(format!(
                "image changed: {} {} ({}) -> {} {} ({})",
                self.image.name,
                self.image.version,
                self.image.arch,
                current.image.name,
                current.image.version,
                current.image.arch
            ));
        }
        for r in &current.repositories {
            match self.repositories.iter().find(|o| o.url == r.url) {
                None => out.push(format!("repository added: {}", r.url)),
                Some(o) if o.index != r.index => out.push(format!(
                    "index of {} changed: {} -> {}",
                    r.url,
                    o.description.as_deref().unwrap_or(&o.index),
                    r.description.as_deref().unwrap_or(&r.index)
                )),
                Some(o) if o != r => out.push(format!("repository {} changed", r.url)),
                Some(_) => {}
            }
        }
        for o in &self.repositories {
            if !current.repositories.iter().any(|r| r.url == o.url) {
                out.push(format!("repository removed: {}", o.url));
            }
        }
        for p in &current.packages {
            match self.packages.iter().find(|o| o.name == p.name) {
                None => out.push(format!("package added: {}", p.id())),
                Some(o) if o.version != p.version => {
                    out.push(format!(
                        "package {}: {} -> {}",
                        p.name, o.version, p.version
                    ));
                }
                Some(o) if !o.same_as(p) => {
                    let mut what = String::new();
                    if o.checksum != p.checksum {
                        let _ = write!(what, " identity {} -> {}", o.checksum, p.checksum);
                    }
                    if o.repository != p.repository {
                        let _ = write!(what, " repository {} -> {}", o.repository, p.repository);
                    }
                    if let (Some(a), Some(b)) = (&o.datahash, &p.datahash)
                        && !a.eq_ignore_ascii_case(b)
                    {
                        let _ = write!(what, " datahash {a} -> {b}");
                    }
                    out.push(format!("package {} changed:{what}", p.id()));
                }
                Some(_) => {}
            }
        }
        for o in &self.packages {
            if !current.packages.iter().any(|p| p.name == o.name) {
                out.push(format!("package removed: {}", o.id()));
            }
        }
        let order = |l: &Lockfile| {
            l.packages
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
        };
        if out.is_empty() && order(self) != order(current) {
            out.push("install order changed".to_owned());
        }
        out.sort();
        out
    }
}

/// The parts of a profile that resolution depends on.
#[derive(Debug, Clone)]
pub struct LockProfile {
    /// `[image] name`
    pub name: String,
    /// `[image] version`
    pub version: String,
    /// `[image] arch`
    pub arch: String,
    /// `[repositories] urls`
    pub repositories: Vec<Repository>,
    /// `[repositories] keys`, relative to the profile's directory
    pub keys: Vec<std::path::PathBuf>,
    /// `[packages] install`
    pub install: Vec<String>,
}

/// A profile's repository line the repository layer cannot use.
#[derive(Debug, thiserror::Error)]
#[error("profile `{}`: `[repositories] urls`", profile.display())]
pub struct ProfileRepositoryError {
    /// The profile file.
    pub profile: std::path::PathBuf,
    /// The repository layer's reason.
    #[source]
    pub source: repo::Error,
}

impl LockProfile {
    /// What resolution needs of a validated profile read from `path`.
    ///
    /// # Errors
    /// A repository line the repository layer cannot use.
    pub fn from_profile(
        profile: &Profile,
        path: &std::path::Path,
    ) -> Result<Self, ProfileRepositoryError> {
        let repositories = profile
            .repositories
            .urls
            .iter()
            .map(|r| {
                Repository::parse(&r.to_string()).map_err(|source| ProfileRepositoryError {
                    profile: path.to_owned(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(LockProfile {
            name: profile.image.name.clone(),
            version: profile.image.version.clone(),
            arch: profile.image.arch.clone(),
            repositories,
            keys: profile
                .repositories
                .keys
                .iter()
                .map(|k| k.path.clone())
                .collect(),
            install: profile.packages.install.clone(),
        })
    }
}

/// A lock computed by [`lock`], with what the user should be told.
#[derive(Debug)]
pub struct Locked {
    /// The lock.
    pub lock: Lockfile,
    /// Warnings (untrusted indexes used anyway, index entries skipped).
    pub warnings: Vec<String>,
}

/// Why a profile cannot be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// A `[packages] install` entry is not a dependency atom.
    #[error("invalid `[packages] install` entry")]
    Atom(#[source] dependency::Error),
    /// Neither the profile nor the command line names a repository.
    #[error("no repositories: the profile lists none and no `--repository` was given")]
    NoRepositories,
    /// A key file cannot be read or used.
    #[error(transparent)]
    Key(#[from] repo::KeyError),
    /// The fetcher cannot be set up.
    #[error(transparent)]
    Setup(#[from] repo::SetupError),
    /// A repository cannot be read.
    #[error(transparent)]
    Repository(#[from] repo::Error),
    /// An index cannot be read.
    #[error(transparent)]
    Index(#[from] index::Error),
    /// An index is not signed by a trusted key, and untrusted indexes are not allowed.
    #[error(
        "index `{label}`: signature {status}\n\nhint: trust its key with `--keys PATH` \
         (or the profile's `[repositories] keys`), or pass `--allow-untrusted`"
    )]
    Untrusted {
        /// The index.
        label: String,
        /// What its signature check said.
        status: SignatureStatus,
    },
    /// No set of packages satisfies the profile (apk's explanation).
    #[error(transparent)]
    Resolve(#[from] resolve::Error),
}

impl LockError {
    /// What the user can do about it, when the repository layer knows.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            LockError::Repository(e) => e.hint(),
            LockError::Setup(e) => e.hint(),
            _ => None,
        }
    }
}

/// Resolves `profile` against the repositories of `access` (the profile's own when the
/// caller names none) and writes the resolution down as a lock.
///
/// # Errors
/// Unreadable repositories, untrusted indexes (unless `access` allows them), invalid atoms,
/// and worlds that cannot be satisfied (with apk's explanation).
pub fn lock(profile: &LockProfile, access: &Access) -> Result<Locked, LockError> {
    let mut warnings = Vec::new();
    let world: Vec<Dependency> = profile
        .install
        .iter()
        .map(|a| Dependency::parse(a).map_err(LockError::Atom))
        .collect::<Result<_, _>>()?;
    let repositories = &access.repositories;
    if repositories.is_empty() {
        return Err(LockError::NoRepositories);
    }
    let keyring = access.keyring()?;
    let keys = access
        .trust
        .read_keys()?
        .into_iter()
        .map(|(name, bytes)| (name, hex::encode(Sha256::digest(&bytes))))
        .collect();
    let fetcher = access.fetcher()?;
    let mut sources = Vec::new();
    let mut locked = Vec::new();
    for r in repositories {
        let fetched = fetcher.fetch_index(r, &profile.arch)?;
        let label = format!("{}/{}/APKINDEX.tar.gz", r.location_str(), profile.arch);
        let index = index::read_index(&fetched.bytes[..], &label, &keyring, &Limits::default())?;
        let key = match &index.signature {
            SignatureStatus::Verified { key, .. } => Some(key.clone()),
            other if access.trust.allow_untrusted => {
                warnings.push(format!("using `{label}` although its signature is {other}"));
                None
            }
            other => {
                return Err(LockError::Untrusted {
                    label,
                    status: other.clone(),
                });
            }
        };
        let mut packages = Vec::with_capacity(index.entries.len());
        for entry in &index.entries {
            match Candidate::from_index_entry(entry) {
                Ok(c) => packages.push(c),
                Err(e) => warnings.push(format!("`{label}`: skipped {e}")),
            }
        }
        sources.push(resolve::Repository {
            location: r.location_str().to_owned(),
            tag: r.tag().map(str::to_owned),
            packages,
        });
        locked.push(LockedRepository {
            url: r.location_str().to_owned(),
            tag: r.tag().map(str::to_owned),
            index: fetched.sha256_hex(),
            description: index.description.clone(),
            key,
        });
    }
    let universe = Universe::from_repositories(sources)?;
    let resolution = universe.resolve(&world)?;
    let inputs = Inputs {
        name: profile.name.clone(),
        version: profile.version.clone(),
        arch: profile.arch.clone(),
        repositories: repositories.iter().map(ToString::to_string).collect(),
        keys,
        install: profile.install.clone(),
    };
    Ok(Locked {
        lock: Lockfile::new(&inputs, locked, &resolution),
        warnings,
    })
}

/// Where the lock of `profile` goes by default: `NAME.lock` beside it.
#[must_use]
pub fn default_path(profile: &std::path::Path) -> std::path::PathBuf {
    profile.with_extension("lock")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apk::dependency::Dependency;
    use crate::apk::version::Version;
    use crate::build::resolve::{Candidate, Repository};
    use proptest::prelude::*;

    fn inputs() -> Inputs {
        Inputs {
            name: "docker-host".into(),
            version: "1.0.0".into(),
            arch: "x86_64".into(),
            repositories: vec!["https://m.example/v3.19/main".into()],
            keys: vec![],
            install: vec!["app".into()],
        }
    }

    fn sample() -> Lockfile {
        let mut lib = Candidate::new("lib", Version::parse("1.0-r0").unwrap());
        lib.checksum = "Q1abc=".into();
        lib.arch = "x86_64".into();
        lib.size = 10;
        let mut app = Candidate::new("app", Version::parse("2.0-r1").unwrap());
        app.depends = vec![Dependency::parse("lib").unwrap()];
        app.checksum = "Q1def=".into();
        let repos = [Repository {
            location: "https://m.example/v3.19/main".into(),
            tag: None,
            packages: vec![lib, app],
        }];
        let resolution =
            crate::build::resolve::resolve(&[Dependency::parse("app").unwrap()], &repos).unwrap();
        Lockfile::new(
            &inputs(),
            vec![LockedRepository {
                url: "https://m.example/v3.19/main".into(),
                tag: None,
                index: "00".repeat(32),
                description: Some("v3.19.1-643".into()),
                key: Some("alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub".into()),
            }],
            &resolution,
        )
    }

    #[test]
    fn text_is_canonical_and_round_trips() {
        let lock = sample();
        let text = lock.to_text().unwrap();
        assert!(text.starts_with(HEADER));
        assert!(text.contains("version = 1\n"), "{text}");
        let lib = text.find("name = \"lib\"").unwrap();
        let app = text.find("name = \"app\"").unwrap();
        assert!(lib < app, "install order: {text}");
        assert_eq!(Lockfile::parse(&text, "x.lock").unwrap(), lock);
        assert_eq!(
            Lockfile::parse(&text, "x.lock").unwrap().to_text().unwrap(),
            text
        );
        assert_eq!(
            lock.packages[0].key.as_deref(),
            lock.repositories[0].key.as_deref()
        );
    }

    #[test]
    fn inputs_digest_changes_with_every_input() {
        let base = inputs().digest();
        assert!(base.starts_with("sha256:") && base.len() == 7 + 64);
        let mut i = inputs();
        i.install.push("b".into());
        assert_ne!(i.digest(), base);
        let mut i = inputs();
        i.arch = "aarch64".into();
        assert_ne!(i.digest(), base);
        let mut i = inputs();
        i.keys.push(("k.rsa.pub".into(), "00".into()));
        assert_ne!(i.digest(), base);
        assert_eq!(inputs().digest(), base);
    }

    #[test]
    fn bad_locks_are_named() {
        let err = Lockfile::parse("version = 2\n", "a.lock").unwrap_err();
        assert_eq!(
            err.to_string(),
            "lock file `a.lock` has format version 2; this basalt reads version 1"
        );
        let err = Lockfile::parse("version = 1\nsurprise = true\n", "a.lock").unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
        let mut text = sample().to_text().unwrap();
        text = text.replace(
            "repository = \"https://m.example/v3.19/main\"",
            "repository = \"elsewhere\"",
        );
        let err = Lockfile::parse(&text, "a.lock").unwrap_err();
        assert!(matches!(err, Error::UnknownRepository { .. }), "{err}");
    }

    #[test]
    fn absurd_sizes_round_trip_or_fail_never_truncate() {
        let mut lock = sample();
        lock.packages[0].size = u64::MAX;
        match lock.to_text() {
            Ok(text) => assert_eq!(Lockfile::parse(&text, "a.lock").unwrap(), lock),
            Err(err) => assert!(matches!(err, Error::Unwritable { .. })),
        }
    }

    #[test]
    fn differences_say_what_changed() {
        let old = sample();
        assert!(old.differences(&old).is_empty());
        let mut new = old.clone();
        new.packages[1].version = "2.1-r0".into();
        new.repositories[0].index = "11".repeat(32);
        new.repositories[0].description = Some("v3.19.2".into());
        new.packages.remove(0);
        assert_eq!(
            old.differences(&new),
            [
                "index of https://m.example/v3.19/main changed: v3.19.1-643 -> v3.19.2",
                "package app: 2.0-r1 -> 2.1-r0",
                "package removed: lib-1.0-r0",
            ]
        );
    }

    #[test]
    fn a_datahash_known_on_one_side_only_is_no_difference() {
        let old = sample();
        let mut with = old.clone();
        with.packages[0].datahash = Some("AB".repeat(32));
        assert!(old.differences(&with).is_empty());
        assert!(with.differences(&old).is_empty());
        let mut lower = with.clone();
        lower.packages[0].datahash = Some("ab".repeat(32));
        assert!(with.differences(&lower).is_empty());
        let mut other = with.clone();
        other.packages[0].datahash = Some("cd".repeat(32));
        assert_eq!(
            with.differences(&other),
            [format!(
                "package lib-1.0-r0 changed: datahash {} -> {}",
                "AB".repeat(32),
                "cd".repeat(32)
            )]
        );
        let text = with.to_text().unwrap();
        assert!(text.contains(&format!("datahash = \"{}\"", "AB".repeat(32))));
        assert_eq!(Lockfile::parse(&text, "x.lock").unwrap(), with);
        let mut reordered = old.clone();
        reordered.packages.reverse();
        assert_eq!(old.differences(&reordered), ["install order changed"]);
    }

    proptest! {
        #[test]
        fn any_lock_round_trips(
            names in proptest::collection::vec("[a-z][a-z0-9+_.-]{0,12}", 0..6),
            desc in proptest::option::of("\\PC{0,20}"),
            size in any::<u64>(),
        ) {
            let mut lock = sample();
            lock.repositories[0].description = desc;
            lock.packages = names.iter().map(|n| LockedPackage {
                name: n.clone(),
                version: "1.0-r0".into(),
                arch: "x86_64".into(),
                repository: lock.repositories[0].url.clone(),
                checksum: "Q1x=".into(),
                size,
                installed_size: size / 2,
                datahash: None,
                key: None,
            }).collect();
            let text = lock.to_text().unwrap();
            prop_assert_eq!(Lockfile::parse(&text, "p.lock").unwrap(), lock);
        }
    }
}
