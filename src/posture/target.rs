//! What `scan`, `outdated` and `diff` are given: a root directory or an image (`.tar.gz`),
//! whose installed-package database is read, or a manifest or a lock file; and what each
//! command takes from it ([`scan_packages`], [`outdated_packages`], [`diff_side`]).
//!
//! Invariant: a tree's database is read by [`RootFs::installed_database`], the one reading
//! every command shares (exactly the regular file at its path, the last member of that path in
//! an image, no link followed, bounded); documents are bounded; nothing is written.

use std::io::Read;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use crate::apk::installed::{self, Database};
use crate::apk::keys::Keyring;
use crate::apk::{Limits, index};
use crate::build::lock::{self, Lockfile};
use crate::integrity::host::{self, ScanOptions};
use crate::integrity::manifest::{self, Header, Manifest};
use crate::integrity::rootfs::{self, Keep, RootFs};
use crate::posture::diff::Side;
use crate::posture::outdated::{Available, Current};
use crate::posture::scan::{MAX_SECDB_BYTES, ScannedPackage};
use crate::repo::{self, Fetcher, Repository};

/// Where Alpine records its release (`3.19.1`), relative to the root.
pub const RELEASE_PATH: &str = "etc/alpine-release";
/// The largest release file read.
const MAX_RELEASE_BYTES: u64 = 4096;
/// The largest manifest or lock read.
const MAX_DOCUMENT_BYTES: u64 = 1 << 30;

/// A target that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file or directory cannot be inspected or read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The target is not a regular file or directory, or changed while it was opened.
    #[error(transparent)]
    Input(#[from] crate::input::Error),
    /// The first bytes of the target cannot be read.
    #[error("failed to read `{path}`")]
    Magic {
        /// The target.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A root without a database.
    #[error(
        "`{root}` has no installed-package database (`{database}` is missing)\n\nhint: is this the root of an Alpine system?"
    )]
    NoDatabase {
        /// The root.
        root: PathBuf,
        /// Where the database should be.
        database: PathBuf,
    },
    /// An image without a database.
    #[error(
        "image `{image}` has no installed-package database (`{}`)",
        installed::INSTALLED_PATH
    )]
    NoImageDatabase {
        /// The image.
        image: PathBuf,
    },
    /// A symbolic link on the way to the database, in a root.
    #[error("`{}` is a symbolic link; basalt does not follow links in a root", path.display())]
    RootLink {
        /// The path on this machine.
        path: PathBuf,
    },
    /// Something else than a regular file where the database should be, in an image.
    #[error(
        "`{}` in image `{image}` is not a regular file",
        installed::INSTALLED_PATH
    )]
    ImageNotRegular {
        /// The image.
        image: PathBuf,
    },
    /// The database is larger than [`installed::MAX_DATABASE_BYTES`], or a document larger
    /// than its limit.
    #[error("`{shown}` is larger than {limit} bytes")]
    TooLarge {
        /// The file (`IMAGE:lib/apk/db/installed` inside an image).
        shown: String,
        /// The limit.
        limit: u64,
    },
    /// The root or image cannot be read.
    #[error(transparent)]
    Tree(rootfs::Error),
    /// The database cannot be parsed.
    #[error("failed to read installed database `{shown}`")]
    Database {
        /// The file (`IMAGE:lib/apk/db/installed` inside an image).
        shown: String,
        /// The parser's reason.
        source: installed::Error,
    },
    /// A document cannot be read.
    #[error("failed to read `{shown}`")]
    ReadDocument {
        /// The file.
        shown: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A manifest that cannot be parsed.
    #[error("failed to read the manifest `{shown}`")]
    Manifest {
        /// The file.
        shown: String,
        /// The parser's reason.
        source: manifest::Error,
    },
    /// A lock that cannot be parsed.
    #[error(transparent)]
    Lock(#[from] lock::Error),
    /// A file that is none of the documents basalt reads.
    #[error("`{shown}` is not a manifest, a lock file, an image (.tar.gz) or a root directory")]
    NotADocument {
        /// The file.
        shown: String,
    },
    /// A document where a tree was expected.
    #[error("`{}` is neither a root directory nor an image (.tar.gz)", path.display())]
    NotATree {
        /// The path.
        path: PathBuf,
    },
}

/// What a target path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A root directory (a live host or an unpacked image).
    Root(PathBuf),
    /// An image archive (`.tar.gz`).
    Image(PathBuf),
    /// Anything else: a lock or a manifest, decided by [`read_document`].
    Other(PathBuf),
}

impl Target {
    /// Classifies `path` by what is on disk: a directory, a gzip file, or something else.
    ///
    /// # Errors
    /// When the path cannot be inspected.
    pub fn detect(path: &Path) -> Result<Self, Error> {
        let meta = fs_err::metadata(path)?;
        if meta.is_dir() {
            return Ok(Target::Root(path.to_owned()));
        }
        let mut magic = [0u8; 2];
        let mut file = crate::input::open(path)?;
        let n = file.read(&mut magic).map_err(|source| Error::Magic {
            path: path.to_owned(),
            source,
        })?;
        if n == 2 && magic == [0x1f, 0x8b] {
            Ok(Target::Image(path.to_owned()))
        } else {
            Ok(Target::Other(path.to_owned()))
        }
    }

    /// The path as given.
    #[must_use]
    pub fn path(&self) -> &Path {
        match self {
            Target::Root(p) | Target::Image(p) | Target::Other(p) => p,
        }
    }
}

/// Reads and parses `lib/apk/db/installed` of a root directory or an image.
///
/// # Errors
/// When the database is missing, too large, reached through a link or malformed.
pub fn read_installed(target: &Target) -> Result<Database, Error> {
    Ok(read_installed_and_release(target)?.0)
}

/// Reads and parses `lib/apk/db/installed`, and reads `etc/alpine-release` when the tree has
/// it as a regular file (trimmed).
///
/// # Errors
/// As [`read_installed`].
pub fn read_installed_and_release(target: &Target) -> Result<(Database, Option<String>), Error> {
    let database = rootfs::INSTALLED_DATABASE;
    let release_path = format!("/{RELEASE_PATH}");
    let (fs, shown, root) = match target {
        Target::Root(root) => (
            RootFs::open_dir(root).map_err(Error::Tree)?,
            root.join(installed::INSTALLED_PATH).display().to_string(),
            Some(root),
        ),
        Target::Image(image) => (
            RootFs::open_image_keeping(
                image,
                Keep::Only(
                    &[database, release_path.as_str()],
                    installed::MAX_DATABASE_BYTES,
                ),
            )
            .map_err(Error::Tree)?,
            format!("{}:{}", image.display(), installed::INSTALLED_PATH),
            None,
        ),
        Target::Other(path) => return Err(Error::NotATree { path: path.clone() }),
    };
    let bytes = match fs.installed_database() {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return Err(match target {
                Target::Root(root) => Error::NoDatabase {
                    root: root.clone(),
                    database: root.join(installed::INSTALLED_PATH),
                },
                _ => Error::NoImageDatabase {
                    image: target.path().to_owned(),
                },
            });
        }
        Err(rootfs::Error::TooLarge { limit, .. }) => return Err(Error::TooLarge { shown, limit }),
        Err(rootfs::Error::NotRegular { path, what }) => {
            return Err(match root {
                Some(root) if what == rootfs::SYMLINK => Error::RootLink {
                    path: root.join(path.trim_start_matches('/')),
                },
                Some(_) => Error::Tree(rootfs::Error::NotRegular { path, what }),
                None => Error::ImageNotRegular {
                    image: target.path().to_owned(),
                },
            });
        }
        Err(e) => return Err(Error::Tree(e)),
    };
    // The release is informative: a missing or unreadable one is not an error.
    let release = fs
        .read_exact(&release_path, MAX_RELEASE_BYTES)
        .ok()
        .flatten();
    let db = Database::parse(&bytes).map_err(|source| Error::Database { shown, source })?;
    let release = release
        .and_then(|b| String::from_utf8(b).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    Ok((db, release))
}

/// A target that is a file basalt wrote: a manifest or a lock.
#[derive(Debug)]
pub enum Document {
    /// A manifest (`basalt manifest`).
    Manifest(Box<Manifest>),
    /// A lock (`basalt lock`).
    Lock(Box<Lockfile>),
}

/// Reads a manifest or a lock.
///
/// # Errors
/// When the file is neither, or is a malformed one.
pub fn read_document(path: &Path) -> Result<Document, Error> {
    let shown = path.display().to_string();
    let mut bytes = Vec::new();
    crate::input::open(path)?
        .take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::ReadDocument {
            shown: shown.clone(),
            source,
        })?;
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(Error::TooLarge {
            shown,
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    if bytes.starts_with(manifest::MAGIC.as_bytes()) {
        let parsed = Manifest::parse(&bytes).map_err(|source| Error::Manifest { shown, source })?;
        return Ok(Document::Manifest(Box::new(parsed)));
    }
    let looks_like_lock = std::str::from_utf8(&bytes).ok().filter(|text| {
        text.starts_with(lock::HEADER.trim_end())
            || toml::from_str::<toml::Table>(text)
                .is_ok_and(|t| t.contains_key("inputs") && t.contains_key("image"))
    });
    if let Some(text) = looks_like_lock {
        return Ok(Document::Lock(Box::new(Lockfile::parse(text, &shown)?)));
    }
    Err(Error::NotADocument { shown })
}

/// The packages to scan, with their origins, and the Alpine release of a tree. A lock does
/// not record origins: they are read from the very indexes the lock was resolved against
/// (pinned by their SHA-256, from the cache or the repository), through `fetcher`, which is
/// asked for only then.
///
/// # Errors
/// An unreadable target, or a lock whose indexes cannot be had or do not list its packages.
pub fn scan_packages<'f>(
    target: &Target,
    fetcher: impl FnOnce() -> Result<&'f Fetcher, Box<dyn std::error::Error + Send + Sync>>,
) -> Result<(Vec<ScannedPackage>, Option<String>), InputError> {
    Ok(match target {
        Target::Root(_) | Target::Image(_) => {
            let (installed, release) = read_installed_and_release(target)?;
            let packages = installed
                .packages
                .into_iter()
                .map(ScannedPackage::from)
                .collect();
            (packages, release)
        }
        Target::Other(path) => match read_document(path)? {
            Document::Manifest(manifest) => (
                manifest
                    .header
                    .packages
                    .into_iter()
                    .map(ScannedPackage::from)
                    .collect(),
                None,
            ),
            Document::Lock(lock) => (
                lock_packages(&lock, path, fetcher().map_err(InputError::Fetcher)?)?,
                None,
            ),
        },
    })
}

/// Why a command's input cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The target cannot be read.
    #[error(transparent)]
    Target(#[from] Error),
    /// The fetcher cannot be set up.
    #[error(transparent)]
    Fetcher(Box<dyn std::error::Error + Send + Sync>),
    /// A lock's repository line cannot be used.
    #[error("lock `{lock}`: repository `{url}`")]
    LockRepository {
        /// The lock file.
        lock: String,
        /// The repository.
        url: String,
        /// Why.
        source: Box<repo::Error>,
    },
    /// A lock's repository line cannot be used (as `outdated` reads it).
    #[error(transparent)]
    Repository(Box<repo::Error>),
    /// A lock's index digest is not SHA-256.
    #[error("lock `{lock}`: index digest `{digest}` of `{url}` is not SHA-256 hex")]
    LockDigest {
        /// The lock file.
        lock: String,
        /// The digest as written.
        digest: String,
        /// The repository.
        url: String,
    },
    /// The index a lock was made against cannot be had.
    #[error("failed to read the index `{url}` was locked against (to learn package origins)")]
    LockIndex {
        /// The repository.
        url: String,
        /// Why.
        source: Box<repo::Error>,
    },
    /// An index cannot be read.
    #[error(transparent)]
    Index(#[from] index::Error),
    /// A locked package is missing from its index.
    #[error(
        "lock `{lock}`: package `{package}` is not in the index of `{repository}` it was locked against"
    )]
    NotInIndex {
        /// The lock file.
        lock: String,
        /// `NAME-VERSION`.
        package: String,
        /// The repository.
        repository: String,
    },
}

impl InputError {
    /// What the user can do about it, when the repository layer knows.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            InputError::Repository(e)
            | InputError::LockRepository { source: e, .. }
            | InputError::LockIndex { source: e, .. } => e.hint(),
            _ => None,
        }
    }
}

/// The packages of a lock with their origins, read from the indexes it was locked against.
fn lock_packages(
    lock: &Lockfile,
    path: &Path,
    fetcher: &Fetcher,
) -> Result<Vec<ScannedPackage>, InputError> {
    let shown = path.display().to_string();
    let mut origins: BTreeMap<(&str, String, String), Option<String>> = BTreeMap::new();
    for locked in &lock.repositories {
        let repository =
            Repository::parse(&locked.url).map_err(|source| InputError::LockRepository {
                lock: shown.clone(),
                url: locked.url.clone(),
                source: Box::new(source),
            })?;
        let digest: [u8; 32] = hex::decode(&locked.index)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| InputError::LockDigest {
                lock: shown.clone(),
                digest: locked.index.clone(),
                url: locked.url.clone(),
            })?;
        let fetched = fetcher
            .fetch_index_pinned(&repository, &lock.image.arch, &digest)
            .map_err(|source| InputError::LockIndex {
                url: locked.url.clone(),
                source: Box::new(source),
            })?;
        // The digest pins the bytes that were verified when the lock was written.
        let index = index::read_index(
            &fetched.bytes[..],
            &locked.url,
            &Keyring::alpine(),
            &Limits::default(),
        )?;
        for entry in index.entries {
            origins.insert(
                (locked.url.as_str(), entry.name, entry.version),
                entry.origin,
            );
        }
    }
    lock.packages
        .iter()
        .map(|p| {
            let key = (p.repository.as_str(), p.name.clone(), p.version.clone());
            let origin = origins.get(&key).ok_or_else(|| InputError::NotInIndex {
                lock: shown.clone(),
                package: p.id(),
                repository: p.repository.clone(),
            })?;
            Ok(ScannedPackage {
                name: p.name.clone(),
                version: p.version.clone(),
                origin: origin.clone(),
            })
        })
        .collect()
}

/// A secdb document that cannot be read from a file.
#[derive(Debug, thiserror::Error)]
pub enum SecdbFileError {
    /// The file cannot be opened.
    #[error(transparent)]
    Open(#[from] std::io::Error),
    /// The path is not a regular file, or changed while it was opened.
    #[error(transparent)]
    Input(#[from] crate::input::Error),
    /// The file cannot be read.
    #[error("failed to read secdb `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_SECDB_BYTES`].
    #[error("secdb `{}` is larger than {MAX_SECDB_BYTES} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
}

/// The bytes of a secdb document on this machine, at most [`MAX_SECDB_BYTES`].
///
/// # Errors
/// An unreadable or too large file.
pub fn read_secdb(path: &Path) -> Result<Vec<u8>, SecdbFileError> {
    let file = crate::input::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_SECDB_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| SecdbFileError::Read {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_SECDB_BYTES {
        return Err(SecdbFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

/// Whether a secdb source is a URL (rather than a file).
#[must_use]
pub fn is_url(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// What `outdated` compares: the packages of the target, the architecture they are for (when
/// the target says), and the repositories a lock was made against.
#[derive(Debug, Clone, Default)]
pub struct OutdatedInput {
    /// The packages and their versions.
    pub current: Vec<Current>,
    /// The architecture: the most common one of a tree's packages, or a lock's.
    pub arch: Option<String>,
    /// A lock's own repositories (empty for trees and manifests).
    pub repositories: Vec<Repository>,
}

/// What `outdated` compares, from a tree, a lock or a manifest.
///
/// # Errors
/// An unreadable target, or a lock whose repository lines cannot be used.
pub fn outdated_packages(target: &Target) -> Result<OutdatedInput, InputError> {
    Ok(match target {
        Target::Root(_) | Target::Image(_) => {
            let db = read_installed(target)?;
            OutdatedInput {
                current: db.packages.iter().map(Current::from).collect(),
                arch: packages_arch(&db),
                repositories: Vec::new(),
            }
        }
        Target::Other(path) => match read_document(path)? {
            Document::Lock(lock) => OutdatedInput {
                current: lock.packages.iter().map(Current::from).collect(),
                arch: Some(lock.image.arch.clone()),
                repositories: lock
                    .repositories
                    .iter()
                    .map(|r| {
                        let text = match &r.tag {
                            Some(tag) => format!("@{tag} {}", r.url),
                            None => r.url.clone(),
                        };
                        Repository::parse(&text).map_err(|e| InputError::Repository(Box::new(e)))
                    })
                    .collect::<Result<_, _>>()?,
            },
            Document::Manifest(manifest) => OutdatedInput {
                current: manifest.header.packages.iter().map(Current::from).collect(),
                arch: None,
                repositories: Vec::new(),
            },
        },
    })
}

/// Why the repositories' packages cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum AvailableError {
    /// A key file cannot be read or used.
    #[error(transparent)]
    Key(#[from] repo::KeyError),
    /// The fetcher cannot be set up.
    #[error(transparent)]
    Setup(#[from] repo::SetupError),
    /// An index cannot be fetched.
    #[error("failed to fetch the index of `{label}`")]
    Fetch {
        /// The repository.
        label: String,
        /// Why.
        source: repo::Error,
    },
    /// An index cannot be read, or is not signed by a trusted key.
    #[error(transparent)]
    Index(#[from] index::Error),
}

/// Every package of the repositories of `access`, for `arch`, from their signed indexes
/// fetched now. An index not signed by a trusted key is refused, unless `access` allows it:
/// then `warn` is told.
///
/// # Errors
/// An index that cannot be fetched, read or trusted.
pub fn available(
    access: &repo::Access,
    arch: &str,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<Available>, AvailableError> {
    let ring = access.keyring()?;
    let fetcher = access.fetcher()?;
    let mut available = Vec::new();
    for repository in &access.repositories {
        let label = repository.location_str().to_owned();
        let fetched =
            fetcher
                .fetch_index(repository, arch)
                .map_err(|source| AvailableError::Fetch {
                    label: label.clone(),
                    source,
                })?;
        let index = index::read_index(&fetched.bytes[..], &label, &ring, &Limits::default())?;
        if !index.signature.is_verified() {
            if access.trust.allow_untrusted {
                warn(format!(
                    "index of `{label}` is not signed by a trusted key ({}); using it because of --allow-untrusted",
                    index.signature
                ));
            } else {
                index.require_verified(&label)?;
            }
        }
        available.extend(index.entries.into_iter().map(|e| Available {
            name: e.name,
            version: e.version,
            repository: label.clone(),
        }));
    }
    Ok(available)
}

/// The most common architecture of the installed packages, ignoring `noarch`.
#[must_use]
pub fn packages_arch(db: &Database) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for arch in db.packages.iter().filter_map(|p| p.arch.as_deref()) {
        if arch != "noarch" {
            *counts.entry(arch).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(arch, _)| arch.to_owned())
}

/// A side of `diff` that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SideError {
    /// The path cannot be inspected.
    #[error("failed to open diff side `{}`", path.display())]
    Open {
        /// The side.
        path: PathBuf,
        /// Why.
        source: Error,
    },
    /// A tree cannot be read.
    #[error("failed to read `{}`", path.display())]
    Read {
        /// The side.
        path: PathBuf,
        /// Why.
        source: host::Error,
    },
    /// A tree cannot be described.
    #[error("failed to describe `{}`", path.display())]
    Describe {
        /// The side.
        path: PathBuf,
        /// Why.
        source: host::Error,
    },
    /// A manifest or lock cannot be read.
    #[error(transparent)]
    Document(#[from] Error),
}

/// One side of `diff`: a tree is described as a manifest would describe it (with the same
/// reader of images every command uses); a manifest lists packages and files; a lock lists
/// packages only.
///
/// # Errors
/// When the side cannot be read.
pub fn diff_side(path: &Path) -> Result<Side, SideError> {
    let detected = Target::detect(path).map_err(|source| SideError::Open {
        path: path.to_owned(),
        source,
    })?;
    match &detected {
        Target::Root(_) | Target::Image(_) => {
            let scan = host::scan_tree(path, &ScanOptions::default()).map_err(|source| {
                SideError::Read {
                    path: path.to_owned(),
                    source,
                }
            })?;
            let manifest = host::manifest_from_scan(scan, Header::default()).map_err(|source| {
                SideError::Describe {
                    path: path.to_owned(),
                    source,
                }
            })?;
            Ok(Side::of_manifest(&manifest))
        }
        Target::Other(p) => Ok(match read_document(p)? {
            Document::Manifest(manifest) => Side::of_manifest(&manifest),
            Document::Lock(lock) => Side::of_lock(&lock),
        }),
    }
}
