//! What `scan`, `outdated` and `diff` are given: a root directory or an image (`.tar.gz`),
//! whose installed-package database is read, or a manifest or a lock file.
//!
//! Invariant: a tree's database is read by [`RootFs::installed_database`], the one reading
//! every command shares (exactly the regular file at its path, the last member of that path in
//! an image, no link followed, bounded); documents are bounded; nothing is written.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::apk::installed::{self, Database};
use crate::build::lock::{self, Lockfile};
use crate::integrity::manifest::{self, Manifest};
use crate::integrity::rootfs::{self, Keep, RootFs};

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
        let mut file = fs_err::File::open(path)?;
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
    fs_err::File::open(path)?
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
