//! Reading what scan, outdated and diff are given: the installed-package database of a root
//! directory or an image (`.tar.gz`), or a manifest or lock file.
//!
//! Invariant: reads are bounded ([`installed::MAX_DATABASE_BYTES`], and a bounded number of
//! archive entries and inflated bytes for images), symlinks are never followed, and nothing is
//! written.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::apk::installed::{self, Database};
use crate::lock::{self, Lockfile};
use crate::manifest::{self, Manifest};

/// The most entries read from an image before giving up.
const MAX_IMAGE_ENTRIES: u64 = 4_000_000;
/// The most inflated bytes read from an image before giving up.
const MAX_IMAGE_BYTES: u64 = 64 << 30;

/// What a target path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A root directory (a live host or an unpacked image).
    Root(PathBuf),
    /// An image archive (`.tar.gz`).
    Image(PathBuf),
    /// Anything else: a lock or a manifest, decided by the caller.
    Other(PathBuf),
}

impl Target {
    /// Classifies `path` by what is on disk: a directory, a gzip file, or something else.
    ///
    /// # Errors
    /// When the path cannot be inspected.
    pub fn detect(path: &Path) -> anyhow::Result<Self> {
        let meta = fs_err::metadata(path)?;
        if meta.is_dir() {
            return Ok(Target::Root(path.to_owned()));
        }
        let mut magic = [0u8; 2];
        let mut file = crate::input::open(path)?;
        let n = file
            .read(&mut magic)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
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

/// Where Alpine records its release (`3.19.1`), relative to the root.
pub const RELEASE_PATH: &str = "etc/alpine-release";
/// The largest release file read.
const MAX_RELEASE_BYTES: u64 = 4096;

/// Reads and parses `lib/apk/db/installed` of a root directory or an image.
///
/// # Errors
/// When the database is missing, too large, reached through a symlink or malformed.
pub fn read_installed(target: &Target) -> anyhow::Result<Database> {
    Ok(read_installed_and_release(target)?.0)
}

/// Reads and parses `lib/apk/db/installed`, and reads `etc/alpine-release` when the tree has
/// it as a regular file (trimmed).
///
/// # Errors
/// As [`read_installed`].
pub fn read_installed_and_release(target: &Target) -> anyhow::Result<(Database, Option<String>)> {
    let (bytes, release, shown) = match target {
        Target::Root(root) => {
            let db = read_from_root(root, installed::INSTALLED_PATH, installed::MAX_DATABASE_BYTES)?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "`{}` has no installed-package database (`{}` is missing)\n\nhint: is this the root of an Alpine system?",
                        root.display(),
                        root.join(installed::INSTALLED_PATH).display()
                    )
                })?;
            // The release is informative: a missing or unreadable one is not an error.
            let release = read_from_root(root, RELEASE_PATH, MAX_RELEASE_BYTES)
                .ok()
                .flatten();
            (db, release, root.join(installed::INSTALLED_PATH))
        }
        Target::Image(image) => {
            let (db, release) = read_from_image(image)?;
            (
                db,
                release,
                PathBuf::from(format!("{}:{}", image.display(), installed::INSTALLED_PATH)),
            )
        }
        Target::Other(path) => bail!(
            "`{}` is neither a root directory nor an image (.tar.gz)",
            path.display()
        ),
    };
    let db = Database::parse(&bytes)
        .with_context(|| format!("failed to read installed database `{}`", shown.display()))?;
    let release = release
        .and_then(|b| String::from_utf8(b).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    Ok((db, release))
}

/// Reads `relative` under `root` without following symlinks; `None` when it is missing.
fn read_from_root(root: &Path, relative: &str, limit: u64) -> anyhow::Result<Option<Vec<u8>>> {
    // Walk the components without following symlinks, so that a hostile root cannot point the
    // read outside itself.
    let mut path = root.to_owned();
    for component in relative.split('/') {
        path.push(component);
        let meta = match fs_err::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        if meta.file_type().is_symlink() {
            bail!(
                "`{}` is a symbolic link; basalt does not follow links in a root",
                path.display()
            );
        }
    }
    let file = fs_err::File::open(&path)?;
    read_bounded(file, &path.display().to_string(), limit).map(Some)
}

fn read_bounded(reader: impl Read, shown: &str, limit: u64) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("failed to read `{shown}`"))?;
    if bytes.len() as u64 > limit {
        bail!("`{shown}` is larger than {limit} bytes");
    }
    Ok(bytes)
}

/// Counts the bytes read through it, failing past a limit.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other(format!(
                "image inflates to more than {MAX_IMAGE_BYTES} bytes"
            )));
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// The database and the release file of an image, in one pass over the archive.
fn read_from_image(image: &Path) -> anyhow::Result<(Vec<u8>, Option<Vec<u8>>)> {
    let file = crate::input::open(image)?;
    let gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file));
    let mut archive = tar::Archive::new(Bounded {
        inner: gz,
        left: MAX_IMAGE_BYTES,
    });
    let shown = image.display().to_string();
    let entries = archive
        .entries()
        .with_context(|| format!("failed to read image `{shown}`"))?;
    let mut db = None;
    let mut release = None;
    for (count, entry) in entries.enumerate() {
        if count as u64 >= MAX_IMAGE_ENTRIES {
            bail!("image `{shown}` has more than {MAX_IMAGE_ENTRIES} entries");
        }
        let entry = entry.with_context(|| format!("failed to read image `{shown}`"))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = name.trim_start_matches("./").trim_start_matches('/');
        let is_file = entry.header().entry_type().is_file();
        if name == installed::INSTALLED_PATH {
            if !is_file {
                bail!(
                    "`{}` in image `{shown}` is not a regular file",
                    installed::INSTALLED_PATH
                );
            }
            let label = format!("{shown}:{}", installed::INSTALLED_PATH);
            db = Some(read_bounded(entry, &label, installed::MAX_DATABASE_BYTES)?);
        } else if name == RELEASE_PATH && is_file {
            release =
                read_bounded(entry, &format!("{shown}:{RELEASE_PATH}"), MAX_RELEASE_BYTES).ok();
        }
        if db.is_some() && release.is_some() {
            break;
        }
    }
    match db {
        Some(db) => Ok((db, release)),
        None => bail!(
            "image `{shown}` has no installed-package database (`{}`)",
            installed::INSTALLED_PATH
        ),
    }
}

/// The largest manifest or lock read.
const MAX_DOCUMENT_BYTES: u64 = 1 << 30;

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
pub fn read_document(path: &Path) -> anyhow::Result<Document> {
    let shown = path.display().to_string();
    let bytes = read_bounded(crate::input::open(path)?, &shown, MAX_DOCUMENT_BYTES)?;
    if bytes.starts_with(manifest::MAGIC.as_bytes()) {
        let parsed = Manifest::parse(&bytes)
            .with_context(|| format!("failed to read the manifest `{shown}`"))?;
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
    bail!("`{shown}` is not a manifest, a lock file, an image (.tar.gz) or a root directory")
}
