//! `rootfs`: a read-only view of a root file system, either a directory (a live host or an
//! extracted image) or an image archive (`IMAGE.tar.gz`).
//!
//! Invariant: nothing outside the root is ever read. Paths are resolved inside the root by
//! this module, component by component: `..` stops at the root and a symlink (absolute ones
//! included) is interpreted relative to the root, never by the host's kernel. A regular file
//! of a directory root is opened without following a symlink and without opening anything
//! else swapped in ([`super::walk::open_regular`]). Reads are bounded ([`MAX_READ`]), images are
//! read by [`super::archive`] (its limits and name rule; the last member of a path wins) with a
//! bounded amount of contents kept, and nothing is ever written.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::apk::installed;

use super::archive;
use super::walk::open_regular;

/// The largest file [`RootFs::read`] returns, in bytes.
pub const MAX_READ: u64 = 8 * 1024 * 1024;
/// The most symlinks followed while resolving one path (as Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;
/// Regular files up to this size have their contents kept in memory when an image is loaded.
const KEEP_FILE: u64 = 1024 * 1024;
/// The most file contents, in bytes, kept in memory for one image.
const KEEP_TOTAL: u64 = 256 * 1024 * 1024;
/// What [`Error::NotRegular`] calls a symbolic link.
pub const SYMLINK: &str = "a symbolic link";
/// Where an apk root keeps its installed-package database.
pub const INSTALLED_DATABASE: &str = "/lib/apk/db/installed";

/// A failure to read the root.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The root directory or image could not be opened or read.
    #[error("failed to read `{path}`")]
    Io {
        /// The file on the host.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The image archive is malformed or exceeds a limit.
    #[error(transparent)]
    Archive(#[from] archive::Error),
    /// The entry at a path read exactly ([`RootFs::read_exact`]) is not a regular file, or is
    /// reached through a symbolic link or is a hard link.
    #[error("`{path}` is {what}, not a regular file")]
    NotRegular {
        /// The path inside the root.
        path: String,
        /// What it is (`a symbolic link`, `a hard link`, `a directory`...).
        what: &'static str,
    },
    /// A file is larger than [`MAX_READ`].
    #[error("`{path}` is too large to read ({size} bytes, limit {limit})")]
    TooLarge {
        /// The path inside the root.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Resolving a path followed too many symlinks (a loop, or a hostile tree).
    #[error("too many levels of symbolic links resolving `{path}`")]
    SymlinkLoop {
        /// The path inside the root.
        path: String,
    },
}

/// The type of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
}

/// What is known of an entry without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Metadata {
    /// The entry's type.
    pub kind: Kind,
    /// Permission bits, setuid, setgid and sticky included (`mode & 0o7777`).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Size in bytes (regular files; 0 otherwise).
    pub size: u64,
}

/// One entry of a walk: its absolute, normalised path inside the root and its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `/`-separated, absolute, without `.` or `..` (the root itself is `/`).
    pub path: String,
    /// The entry's own metadata (symlinks are not followed).
    pub metadata: Metadata,
}

/// Which file contents an image keeps in memory when it is opened.
#[derive(Debug, Clone, Copy)]
pub enum Keep<'a> {
    /// Small files, up to a total (what an audit reads is mostly small configuration).
    SmallFiles,
    /// Only the files at these absolute paths, each up to this many bytes (and one more, so
    /// that a larger one is still refused as too large).
    Only(&'a [&'a str], u64),
}

/// A read-only root: a directory or an image archive.
#[derive(Debug)]
pub struct RootFs {
    source: Source,
}

#[derive(Debug)]
enum Source {
    Dir(PathBuf),
    Image(Image),
}

#[derive(Debug)]
struct Image {
    file: PathBuf,
    /// Absolute paths (`/etc/passwd`) as raw bytes, the last member of each path.
    nodes: BTreeMap<Vec<u8>, Node>,
}

#[derive(Debug)]
struct Node {
    metadata: Metadata,
    link: Option<Vec<u8>>,
    /// A hard link: the path of the entry whose contents this one shares.
    hardlink: Option<Vec<u8>>,
    data: Option<Vec<u8>>,
}

/// Normalises a path inside the root lexically: absolute, `/`-separated, no `.`, `..` stops at
/// the root. Used only for names already inside the root (archive names, walk results).
#[must_use]
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for part in &parts {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl RootFs {
    /// A root directory on this machine. It must exist and be a directory.
    ///
    /// # Errors
    /// [`Error::Io`] when `dir` cannot be read or is not a directory.
    pub fn open_dir(dir: &Path) -> Result<Self, Error> {
        let meta = fs_err::metadata(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
            });
        }
        Ok(RootFs {
            source: Source::Dir(dir.to_path_buf()),
        })
    }

    /// An image archive (`.tar.gz`, or a plain `.tar`): its entry index is loaded, with the
    /// contents of small regular files.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::Archive`] when it is not a valid
    /// archive or exceeds one of [`archive::Limits`].
    pub fn open_image(file: &Path) -> Result<Self, Error> {
        Self::open_image_keeping(file, Keep::SmallFiles)
    }

    /// An image archive whose entry index is loaded with the contents `keep` names (others
    /// are read again from the archive when asked for).
    ///
    /// # Errors
    /// As [`RootFs::open_image`].
    pub fn open_image_keeping(file: &Path, keep: Keep<'_>) -> Result<Self, Error> {
        let nodes = load_image(file, keep)?;
        Ok(RootFs {
            source: Source::Image(Image {
                file: file.to_path_buf(),
                nodes,
            }),
        })
    }

    /// A root held in memory: regular files and directories at absolute paths, with their
    /// metadata and (for files) content; directories not listed are implicit (0755 root).
    /// `name` stands for it in reports. Used to audit configuration before it is written.
    #[must_use]
    pub fn from_files(name: &Path, files: Vec<(String, Metadata, Option<Vec<u8>>)>) -> Self {
        let nodes = files
            .into_iter()
            .map(|(path, metadata, data)| {
                (
                    normalize(&path).into_bytes(),
                    Node {
                        metadata,
                        link: None,
                        hardlink: None,
                        data,
                    },
                )
            })
            .collect();
        RootFs {
            source: Source::Image(Image {
                file: name.to_path_buf(),
                nodes,
            }),
        }
    }

    /// Opens `path` as an image when it is a regular file, as a root directory otherwise.
    ///
    /// # Errors
    /// As [`RootFs::open_dir`] and [`RootFs::open_image`].
    pub fn open(path: &Path) -> Result<Self, Error> {
        let meta = fs_err::metadata(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if meta.is_file() {
            Self::open_image(path)
        } else {
            Self::open_dir(path)
        }
    }

    /// A description of the root for reports: the directory or the image file.
    #[must_use]
    pub fn location(&self) -> &Path {
        match &self.source {
            Source::Dir(dir) => dir,
            Source::Image(image) => &image.file,
        }
    }

    /// Whether the root is an image archive (rather than a directory).
    #[must_use]
    pub fn is_image(&self) -> bool {
        matches!(self.source, Source::Image(_))
    }

    /// The metadata of the entry at `path` itself (a final symlink is not followed; symlinks
    /// in parent directories are, inside the root). `None` when it does not exist.
    ///
    /// # Errors
    /// I/O errors other than "not found", and symlink loops.
    pub fn symlink_metadata(&self, path: &str) -> Result<Option<Metadata>, Error> {
        let Some(resolved) = self.resolve(path, false)? else {
            return Ok(None);
        };
        self.lstat(&resolved)
    }

    /// The metadata of the entry at `path`, following symlinks inside the root.
    ///
    /// # Errors
    /// As [`RootFs::symlink_metadata`].
    pub fn metadata(&self, path: &str) -> Result<Option<Metadata>, Error> {
        let Some(resolved) = self.resolve(path, true)? else {
            return Ok(None);
        };
        self.lstat(&resolved)
    }

    /// The target of the symlink at `path`, as written. `None` when `path` is not a symlink.
    ///
    /// # Errors
    /// As [`RootFs::symlink_metadata`].
    pub fn read_link(&self, path: &str) -> Result<Option<String>, Error> {
        let Some(resolved) = self.resolve(path, false)? else {
            return Ok(None);
        };
        self.raw_link(&resolved)
    }

    /// The contents of the regular file at `path`, following symlinks inside the root. `None`
    /// when it does not exist or is not a regular file.
    ///
    /// # Errors
    /// [`Error::TooLarge`] beyond [`MAX_READ`]; I/O errors; symlink loops.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        let Some(resolved) = self.resolve(path, true)? else {
            return Ok(None);
        };
        match &self.source {
            Source::Dir(root) => read_dir_file(root, &resolved, MAX_READ),
            Source::Image(image) => image.read(&resolved, MAX_READ),
        }
    }

    /// The contents of the regular file at exactly `path`, at most `limit` bytes: no symbolic
    /// link is followed anywhere along it, and in an image it is the last member of that path
    /// and not a hard link. `None` when nothing is there.
    ///
    /// # Errors
    /// [`Error::NotRegular`] when something other than a regular file is there (or a link on
    /// the way); [`Error::TooLarge`] beyond `limit`; I/O errors.
    pub fn read_exact(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, Error> {
        let path = normalize(path);
        let not_regular = |what| Error::NotRegular {
            path: path.clone(),
            what,
        };
        // Every ancestor must be a directory of its own (an image may leave them implicit).
        let mut ancestor = String::new();
        let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        for component in &components[..components.len().saturating_sub(1)] {
            ancestor.push('/');
            ancestor.push_str(component);
            match self.lstat(&ancestor)? {
                None => return Ok(None),
                Some(meta) if meta.kind == Kind::Dir => {}
                Some(meta) if meta.kind == Kind::Symlink => {
                    return Err(Error::NotRegular {
                        path: ancestor,
                        what: SYMLINK,
                    });
                }
                Some(_) => return Ok(None),
            }
        }
        match self.lstat(&path)? {
            None => return Ok(None),
            Some(meta) => match meta.kind {
                Kind::File => {}
                Kind::Symlink => return Err(not_regular(SYMLINK)),
                Kind::Dir => return Err(not_regular("a directory")),
                _ => return Err(not_regular("a special file")),
            },
        }
        match &self.source {
            Source::Dir(root) => match read_dir_file(root, &path, limit)? {
                Some(data) => Ok(Some(data)),
                // Replaced since it was looked at: still not a regular file to read.
                None => Err(not_regular("no longer a regular file")),
            },
            Source::Image(image) => {
                if image
                    .nodes
                    .get(path.as_bytes())
                    .is_some_and(|n| n.hardlink.is_some())
                {
                    return Err(not_regular("a hard link"));
                }
                image.read(&path, limit)
            }
        }
    }

    /// The installed-package database (`/lib/apk/db/installed`), read exactly as
    /// [`RootFs::read_exact`] reads a file, at most [`installed::MAX_DATABASE_BYTES`]: the one
    /// every command reads, whether it audits, scans, checks for updates or describes a tree.
    ///
    /// # Errors
    /// As [`RootFs::read_exact`].
    pub fn installed_database(&self) -> Result<Option<Vec<u8>>, Error> {
        self.read_exact(INSTALLED_DATABASE, installed::MAX_DATABASE_BYTES)
    }

    /// The entries of the directory at `path` (following symlinks inside the root), sorted by
    /// name, with their own metadata. `None` when it does not exist or is not a directory.
    ///
    /// # Errors
    /// As [`RootFs::symlink_metadata`].
    pub fn list_dir(&self, path: &str) -> Result<Option<Vec<(String, Metadata)>>, Error> {
        let Some(resolved) = self.resolve(path, true)? else {
            return Ok(None);
        };
        match self.lstat(&resolved)? {
            Some(meta) if meta.kind == Kind::Dir => {}
            _ => return Ok(None),
        }
        match &self.source {
            Source::Dir(root) => {
                let host = host_path(root, &resolved);
                let mut out = Vec::new();
                let iter = fs_err::read_dir(&host).map_err(|source| Error::Io {
                    path: host.clone(),
                    source,
                })?;
                for entry in iter {
                    let entry = entry.map_err(|source| Error::Io {
                        path: host.clone(),
                        source,
                    })?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let meta = entry.metadata().map_err(|source| Error::Io {
                        path: entry.path(),
                        source,
                    })?;
                    out.push((name, convert(&meta)));
                }
                out.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(Some(out))
            }
            Source::Image(image) => {
                let prefix = dir_prefix(&resolved);
                let mut out: BTreeMap<String, Metadata> = BTreeMap::new();
                for (path, node) in image
                    .nodes
                    .range(prefix.clone()..)
                    .take_while(|(path, _)| path.starts_with(&prefix))
                {
                    let rest = &path[prefix.len()..];
                    match rest.iter().position(|&b| b == b'/') {
                        None => {
                            out.insert(lossy(rest), image.meta_of(node));
                        }
                        // A deeper entry whose parent has no entry of its own: an implicit
                        // directory.
                        Some(end) => {
                            out.entry(lossy(&rest[..end])).or_insert(Metadata {
                                kind: Kind::Dir,
                                mode: 0o755,
                                uid: 0,
                                gid: 0,
                                size: 0,
                            });
                        }
                    }
                }
                Ok(Some(out.into_iter().collect()))
            }
        }
    }

    /// Every entry of the root except those at or below one of `skip` (absolute paths inside
    /// the root), in path order, symlinks not followed. On a directory, other file systems
    /// mounted below the root are walked too; pass `/proc`, `/sys`... in `skip` on a live host.
    ///
    /// # Errors
    /// The first I/O error met.
    pub fn walk(&self, skip: &[&str]) -> Result<Vec<Entry>, Error> {
        let (entries, mut errors) = self.walk_lossy(skip);
        if errors.is_empty() {
            Ok(entries)
        } else {
            Err(errors.swap_remove(0))
        }
    }

    /// As [`RootFs::walk`], but an entry that cannot be read (a directory without permission
    /// on a live host) is left out and its error collected, and the walk goes on.
    #[must_use]
    pub fn walk_lossy(&self, skip: &[&str]) -> (Vec<Entry>, Vec<Error>) {
        let skipped = |path: &str| {
            skip.iter().any(|s| {
                path == *s || (path.starts_with(s) && path.as_bytes().get(s.len()) == Some(&b'/'))
            })
        };
        match &self.source {
            Source::Dir(root) => {
                let mut out = Vec::new();
                let mut errors = Vec::new();
                let mut walker = walkdir::WalkDir::new(root)
                    .follow_links(false)
                    .sort_by_file_name()
                    .into_iter();
                while let Some(item) = walker.next() {
                    let item = match item {
                        Ok(item) => item,
                        Err(err) => {
                            let path = err.path().unwrap_or(root).to_path_buf();
                            errors.push(Error::Io {
                                path,
                                source: err
                                    .into_io_error()
                                    .unwrap_or_else(|| std::io::Error::other("file system loop")),
                            });
                            continue;
                        }
                    };
                    let rel = item.path().strip_prefix(root).unwrap_or(item.path());
                    let path = normalize(&rel.to_string_lossy());
                    if skipped(&path) {
                        if item.file_type().is_dir() {
                            walker.skip_current_dir();
                        }
                        continue;
                    }
                    match item.metadata() {
                        Ok(meta) => out.push(Entry {
                            path,
                            metadata: convert(&meta),
                        }),
                        Err(err) => errors.push(Error::Io {
                            path: item.path().to_path_buf(),
                            source: err
                                .into_io_error()
                                .unwrap_or_else(|| std::io::Error::other("metadata")),
                        }),
                    }
                }
                (out, errors)
            }
            Source::Image(image) => (
                image
                    .nodes
                    .iter()
                    .map(|(path, node)| (lossy(path), node))
                    .filter(|(path, _)| !skipped(path))
                    .map(|(path, node)| Entry {
                        path,
                        metadata: image.meta_of(node),
                    })
                    .collect(),
                Vec::new(),
            ),
        }
    }

    /// Resolves `path` inside the root: every symlink among the parents is followed (and the
    /// last component too when `follow_last`), relative to the root. Returns the normalised
    /// path of an entry that exists, or `None`.
    fn resolve(&self, path: &str, follow_last: bool) -> Result<Option<String>, Error> {
        let mut pending: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .rev()
            .map(str::to_owned)
            .collect();
        let mut current = "/".to_owned();
        let mut hops = 0;
        while let Some(component) = pending.pop() {
            match component.as_str() {
                "." => continue,
                ".." => {
                    current = parent_of(&current).to_owned();
                    continue;
                }
                _ => {}
            }
            let candidate = join(&current, &component);
            let Some(meta) = self.lstat(&candidate)? else {
                return Ok(None);
            };
            let last = pending.is_empty();
            if meta.kind == Kind::Symlink && (!last || follow_last) {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Err(Error::SymlinkLoop {
                        path: path.to_owned(),
                    });
                }
                let Some(target) = self.raw_link(&candidate)? else {
                    return Ok(None);
                };
                if target.starts_with('/') {
                    current = "/".to_owned();
                }
                pending.extend(
                    target
                        .split('/')
                        .filter(|c| !c.is_empty())
                        .rev()
                        .map(str::to_owned),
                );
            } else if !last && meta.kind != Kind::Dir {
                return Ok(None);
            } else {
                current = candidate;
            }
        }
        Ok(Some(current))
    }

    /// The metadata of a normalised path whose parents contain no symlink.
    fn lstat(&self, path: &str) -> Result<Option<Metadata>, Error> {
        match &self.source {
            Source::Dir(root) => {
                let host = host_path(root, path);
                match std::fs::symlink_metadata(&host) {
                    Ok(meta) => Ok(Some(convert(&meta))),
                    Err(err)
                        if matches!(
                            err.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                        ) =>
                    {
                        Ok(None)
                    }
                    Err(source) => Err(Error::Io { path: host, source }),
                }
            }
            Source::Image(image) => {
                if let Some(node) = image.nodes.get(path.as_bytes()) {
                    return Ok(Some(image.meta_of(node)));
                }
                // Archives may omit parent directories: a path with entries below it is an
                // implicit directory.
                let prefix = dir_prefix(path);
                let implicit = image
                    .nodes
                    .range(prefix.clone()..)
                    .next()
                    .is_some_and(|(p, _)| p.starts_with(&prefix));
                if path == "/" || implicit {
                    return Ok(Some(Metadata {
                        kind: Kind::Dir,
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                        size: 0,
                    }));
                }
                Ok(None)
            }
        }
    }

    fn raw_link(&self, path: &str) -> Result<Option<String>, Error> {
        match &self.source {
            Source::Dir(root) => {
                let host = host_path(root, path);
                match std::fs::read_link(&host) {
                    Ok(target) => Ok(Some(target.to_string_lossy().into_owned())),
                    Err(err)
                        if matches!(
                            err.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput
                        ) =>
                    {
                        Ok(None)
                    }
                    Err(source) => Err(Error::Io { path: host, source }),
                }
            }
            Source::Image(image) => Ok(image
                .nodes
                .get(path.as_bytes())
                .and_then(|n| n.link.as_deref())
                .map(lossy)),
        }
    }
}

/// The host path of a normalised in-root path.
fn host_path(root: &Path, path: &str) -> PathBuf {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

fn convert(meta: &std::fs::Metadata) -> Metadata {
    let ft = meta.file_type();
    let kind = if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_char_device() {
        Kind::CharDevice
    } else if ft.is_block_device() {
        Kind::BlockDevice
    } else if ft.is_fifo() {
        Kind::Fifo
    } else if ft.is_socket() {
        Kind::Socket
    } else {
        Kind::File
    };
    Metadata {
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        size: if kind == Kind::File { meta.size() } else { 0 },
    }
}

/// Reads a regular file of a directory root, at most `limit` bytes. The path was resolved
/// without following any symlink outside the root; it is opened by [`open_regular`], so
/// neither a symlink nor a FIFO or device swapped in since is ever opened.
fn read_dir_file(root: &Path, path: &str, limit: u64) -> Result<Option<Vec<u8>>, Error> {
    let host = host_path(root, path);
    let io = |source| Error::Io {
        path: host.clone(),
        source,
    };
    let Some(file) = open_regular(&host).map_err(io)? else {
        return Ok(None);
    };
    let size = file.metadata().map_err(io)?.len();
    if size > limit {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            size,
            limit,
        });
    }
    let mut data = Vec::new();
    file.take(limit + 1).read_to_end(&mut data).map_err(io)?;
    if data.len() as u64 > limit {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            size: data.len() as u64,
            limit,
        });
    }
    Ok(Some(data))
}

/// `/etc/` for `/etc`, `/` for the root: the prefix of what lies below a directory.
fn dir_prefix(dir: &str) -> Vec<u8> {
    let mut prefix = dir.as_bytes().to_vec();
    if prefix.last() != Some(&b'/') {
        prefix.push(b'/');
    }
    prefix
}

/// A name as text (invalid UTF-8 replaced), for walks and listings.
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Image {
    fn meta_of(&self, node: &Node) -> Metadata {
        // A hard link shares the type, mode, owner and size of its target.
        if let Some(target) = &node.hardlink
            && let Some(t) = self.nodes.get(target)
            && t.hardlink.is_none()
        {
            return t.metadata;
        }
        node.metadata
    }

    fn read(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, Error> {
        let Some(mut node) = self.nodes.get(path.as_bytes()) else {
            return Ok(None);
        };
        let mut name = path.as_bytes();
        if let Some(target) = &node.hardlink {
            match self.nodes.get(target) {
                Some(t) if t.hardlink.is_none() => {
                    node = t;
                    name = target;
                }
                _ => return Ok(None),
            }
        }
        if node.metadata.kind != Kind::File {
            return Ok(None);
        }
        if node.metadata.size > limit {
            return Err(Error::TooLarge {
                path: path.to_owned(),
                size: node.metadata.size,
                limit,
            });
        }
        if let Some(data) = &node.data {
            return Ok(Some(data.clone()));
        }
        self.reread(name, limit)
    }

    /// Streams the archive again to fetch one file whose contents were not kept.
    fn reread(&self, wanted: &[u8], limit: u64) -> Result<Option<Vec<u8>>, Error> {
        let mut found = None;
        let file = fs_err::File::open(&self.file).map_err(|source| Error::Io {
            path: self.file.clone(),
            source,
        })?;
        archive::read(
            file,
            &self.file,
            &archive::Limits::default(),
            |member, content| {
                if member.absolute() == wanted {
                    // The last member of a path wins, as when the archive is extracted.
                    found = None;
                    if let archive::Kind::File { .. } = member.kind {
                        let mut data = Vec::new();
                        content.take(limit + 1).read_to_end(&mut data)?;
                        found = Some(data);
                    }
                }
                Ok(())
            },
        )?;
        Ok(found)
    }
}

fn load_image(file: &Path, keep: Keep<'_>) -> Result<BTreeMap<Vec<u8>, Node>, Error> {
    let handle = fs_err::File::open(file).map_err(|source| Error::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let mut nodes = BTreeMap::new();
    let mut kept: u64 = 0;
    archive::read(
        handle,
        file,
        &archive::Limits::default(),
        |member, content| {
            let (kind, size, link, hardlink) = match &member.kind {
                archive::Kind::File { size } => (Kind::File, *size, None, None),
                archive::Kind::HardLink { target } => {
                    (Kind::File, 0, None, Some(archive::absolute(Some(target))))
                }
                archive::Kind::Dir => (Kind::Dir, 0, None, None),
                archive::Kind::Symlink { target } => (Kind::Symlink, 0, Some(target.clone()), None),
                archive::Kind::Char { .. } => (Kind::CharDevice, 0, None, None),
                archive::Kind::Block { .. } => (Kind::BlockDevice, 0, None, None),
                archive::Kind::Fifo => (Kind::Fifo, 0, None, None),
            };
            let mut data = None;
            let limit = match keep {
                Keep::SmallFiles => (size <= KEEP_FILE && kept.saturating_add(size) <= KEEP_TOTAL)
                    .then_some(KEEP_FILE),
                Keep::Only(paths, limit) => paths
                    .iter()
                    .any(|p| p.as_bytes() == member.absolute())
                    .then_some(limit),
            };
            if let Some(limit) = limit.filter(|_| kind == Kind::File && hardlink.is_none()) {
                let mut buf = Vec::new();
                content.take(limit + 1).read_to_end(&mut buf)?;
                kept += buf.len() as u64;
                data = Some(buf);
            }
            // The last member of a path wins, as when the archive is extracted.
            nodes.insert(
                member.absolute(),
                Node {
                    metadata: Metadata {
                        kind,
                        mode: member.mode,
                        uid: member.uid,
                        gid: member.gid,
                        size,
                    },
                    link,
                    hardlink,
                    data,
                },
            );
            Ok(())
        },
    )?;
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs_err::create_dir_all(root.join("etc/ssh")).unwrap();
        fs_err::write(
            root.join("etc/ssh/sshd_config"),
            "PasswordAuthentication no\n",
        )
        .unwrap();
        fs_err::write(root.join("etc/hostname"), "host\n").unwrap();
        symlink("/etc/ssh", root.join("etc/ssh-link")).unwrap();
        symlink("../../../../etc/hostname", root.join("etc/up")).unwrap();
        symlink("loop-b", root.join("etc/loop-a")).unwrap();
        symlink("loop-a", root.join("etc/loop-b")).unwrap();
        dir
    }

    #[test]
    fn normalize_stays_inside() {
        for (input, want) in [
            ("", "/"),
            ("/", "/"),
            ("./etc//passwd", "/etc/passwd"),
            ("../../etc/./x/..", "/etc"),
            ("a/b/", "/a/b"),
        ] {
            assert_eq!(normalize(input), want, "{input}");
        }
    }

    #[test]
    fn directory_symlinks_resolve_inside_the_root() {
        let dir = tree();
        let fs = RootFs::open_dir(dir.path()).unwrap();
        assert_eq!(
            fs.read("/etc/ssh-link/sshd_config").unwrap().unwrap(),
            b"PasswordAuthentication no\n"
        );
        // `..` above the root stays at the root, so this names the root's own /etc/hostname.
        assert_eq!(fs.read("/etc/up").unwrap().unwrap(), b"host\n");
        assert_eq!(fs.read_link("/etc/ssh-link").unwrap().unwrap(), "/etc/ssh");
        assert_eq!(
            fs.symlink_metadata("/etc/ssh-link").unwrap().unwrap().kind,
            Kind::Symlink
        );
        assert_eq!(
            fs.metadata("/etc/ssh-link").unwrap().unwrap().kind,
            Kind::Dir
        );
        assert!(matches!(
            fs.read("/etc/loop-a"),
            Err(Error::SymlinkLoop { .. })
        ));
        assert_eq!(fs.read("/etc/missing").unwrap(), None);
        assert_eq!(fs.read("/etc").unwrap(), None);
        let names: Vec<String> = fs
            .list_dir("/etc")
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            ["hostname", "loop-a", "loop-b", "ssh", "ssh-link", "up"]
        );
    }

    #[test]
    fn an_absolute_symlink_never_reaches_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs_err::write(outside.path().join("secret"), "host secret").unwrap();
        fs_err::create_dir_all(dir.path().join("etc")).unwrap();
        symlink(outside.path().join("secret"), dir.path().join("etc/shadow")).unwrap();
        symlink(outside.path(), dir.path().join("etc/out")).unwrap();
        let fs = RootFs::open_dir(dir.path()).unwrap();
        assert_eq!(fs.read("/etc/shadow").unwrap(), None);
        assert_eq!(fs.read("/etc/out/secret").unwrap(), None);
    }

    #[test]
    fn walk_reports_modes_and_skips() {
        let dir = tree();
        let f = dir.path().join("etc/hostname");
        fs_err::set_permissions(&f, std::fs::Permissions::from_mode(0o4757)).unwrap();
        let fs = RootFs::open_dir(dir.path()).unwrap();
        let entries = fs.walk(&["/etc/ssh"]).unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/",
                "/etc",
                "/etc/hostname",
                "/etc/loop-a",
                "/etc/loop-b",
                "/etc/ssh-link",
                "/etc/up"
            ]
        );
        assert_eq!(entries[2].metadata.mode, 0o4757);
        assert_eq!(entries[2].metadata.size, 5);
    }

    pub(crate) fn image(entries: &[(&str, tar::EntryType, u32, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let gz = flate2::write::GzEncoder::new(file.reopen().unwrap(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (name, kind, mode, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(*mode);
            header.set_uid(0);
            header.set_gid(0);
            if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
                header.set_size(0);
                builder
                    .append_link(&mut header, name, std::str::from_utf8(data).unwrap())
                    .unwrap();
            } else {
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, name, *data).unwrap();
            }
        }
        builder.into_inner().unwrap().finish().unwrap();
        file
    }

    #[test]
    fn image_entries_read_like_a_directory() {
        use tar::EntryType as T;
        let img = image(&[
            ("./etc/", T::Directory, 0o755, b""),
            ("./etc/ssh/", T::Directory, 0o755, b""),
            ("./etc/ssh/sshd_config", T::Regular, 0o644, b"Port 22\n"),
            ("./etc/link", T::Symlink, 0o777, b"/etc/ssh"),
            ("./etc/hard", T::Link, 0o644, b"./etc/ssh/sshd_config"),
            ("./bin/su", T::Regular, 0o4755, b"elf"),
        ]);
        let fs = RootFs::open_image(img.path()).unwrap();
        assert!(fs.is_image());
        assert_eq!(
            fs.read("/etc/link/sshd_config").unwrap().unwrap(),
            b"Port 22\n"
        );
        assert_eq!(fs.read("/etc/hard").unwrap().unwrap(), b"Port 22\n");
        assert_eq!(fs.metadata("/bin/su").unwrap().unwrap().mode, 0o4755);
        // `/bin` has no entry of its own: it is an implicit directory.
        assert_eq!(fs.metadata("/bin").unwrap().unwrap().kind, Kind::Dir);
        assert_eq!(fs.metadata("/nothing").unwrap(), None);
        let listed: Vec<String> = fs
            .list_dir("/etc")
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(listed, ["hard", "link", "ssh"]);
        assert_eq!(fs.walk(&[]).unwrap().len(), 6);
    }

    #[test]
    fn image_with_dotdot_is_refused() {
        use tar::EntryType as T;
        // The tar crate refuses to write `..`; write the name into the header directly.
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut builder = tar::Builder::new(file.reopen().unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(T::Regular);
        header.set_size(1);
        header.set_mode(0o644);
        header.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
        header.set_cksum();
        builder.append(&header, &b"x"[..]).unwrap();
        builder.into_inner().unwrap();
        let err = RootFs::open_image(file.path()).unwrap_err();
        assert!(matches!(err, Error::Archive(_)), "{err}");
        assert!(
            err.to_string().contains("unsafe member path `../escape`"),
            "{err}"
        );
    }

    #[test]
    fn an_archive_claiming_too_much_content_is_refused() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_path("huge").unwrap();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(archive::MAX_BYTES + 1);
        header.set_cksum();
        fs_err::write(file.path(), header.as_bytes()).unwrap();
        let err = RootFs::open_image(file.path()).unwrap_err();
        assert!(matches!(err, Error::Archive(_)), "{err}");
    }

    #[test]
    fn large_files_are_reread_and_bounded() {
        use tar::EntryType as T;
        let big = vec![b'a'; usize::try_from(KEEP_FILE).unwrap() + 10];
        let img = image(&[("big", T::Regular, 0o644, &big)]);
        let fs = RootFs::open_image(img.path()).unwrap();
        assert_eq!(fs.read("/big").unwrap().unwrap().len(), big.len());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Random trees of directories, files and symlinks (relative, absolute, `..`, loops):
        /// every lookup ends, and whatever resolves is an entry of the image.
        #[test]
        fn symlink_mazes_resolve_inside_the_image(
            entries in proptest::collection::vec(
                ("[ab]{1,2}(/[ab]{1,2}){0,2}", 0u8..3, "(/|\\.\\./|[ab]/){0,3}[ab]{0,2}"),
                1..12,
            ),
            queries in proptest::collection::vec("/?([ab.]{1,2}/){0,3}[ab]{1,2}", 1..6),
        ) {
            use tar::EntryType as T;
            let built: Vec<(String, T, u32, Vec<u8>)> = entries
                .iter()
                .map(|(path, kind, target)| match kind {
                    0 => (path.clone(), T::Regular, 0o644, path.as_bytes().to_vec()),
                    1 => (format!("{path}/"), T::Directory, 0o755, Vec::new()),
                    _ => (path.clone(), T::Symlink, 0o777, target.as_bytes().to_vec()),
                })
                .filter(|(_, kind, _, data)| *kind != T::Symlink || !data.is_empty())
                .collect();
            let refs: Vec<(&str, T, u32, &[u8])> = built
                .iter()
                .map(|(p, k, m, d)| (p.as_str(), *k, *m, d.as_slice()))
                .collect();
            let img = image(&refs);
            let Ok(fs) = RootFs::open_image(img.path()) else { return Ok(()); };
            let names: std::collections::BTreeSet<String> =
                fs.walk(&[]).unwrap().into_iter().map(|e| e.path).collect();
            for q in &queries {
                if let Ok(Some(data)) = fs.read(q) {
                    // Contents are always those of a regular file of the image.
                    let name = String::from_utf8(data).unwrap();
                    proptest::prop_assert!(names.contains(&normalize(&name)), "{q} -> {name}");
                }
                let _ = fs.metadata(q);
                let _ = fs.list_dir(q);
                let _ = fs.read_link(q);
            }
        }

        #[test]
        fn hostile_archives_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..4096)) {
            let file = tempfile::NamedTempFile::new().unwrap();
            fs_err::write(file.path(), &bytes).unwrap();
            if let Ok(fs) = RootFs::open_image(file.path()) {
                let _ = fs.walk(&[]);
                let _ = fs.read("/etc/passwd");
            }
        }
    }
}
