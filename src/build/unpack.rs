//! Places package files into an [`ImageTree`], package by package in install order, the way
//! apk-tools 2.x installs them.
//!
//! Invariants:
//! - no path escapes the image: absolute names, `.` and `..` components, control characters
//!   and writes through a symbolic link (a parent that is not a directory of the image) are
//!   refused with an error naming the package and the path;
//! - no two packages own one path unless apk would allow it: the same package, two packages of
//!   the same origin, or a `replaces` declaration (with `replaces_priority` deciding which file
//!   stays when both sides replace each other); directories are shared freely;
//! - owners are resolved by name through the image's own `/etc/passwd` and `/etc/group` as they
//!   are when the entry is placed, falling back to the numeric id of the archive, as apk does;
//! - a shared directory ends with apk's permissions: the lowest owner among the packages that
//!   ship it wins, and packages with that same owner can only remove mode bits;
//! - memory is bounded: one file may hold at most [`Limits::max_file`] bytes and all contents
//!   together [`Limits::max_total`].
//!
//! apk's own differences kept on purpose: names starting with `.` at the top of the archive
//! (control files) and files named `.keep_*` are skipped. Where apk warns and carries on
//! (a malicious name, a file whose directory has no entry in its archive, a hard link to a file
//! the package does not ship), basalt stops: a host is not built from a broken package.

use std::collections::BTreeMap;
use std::io::Read;

use sha1::{Digest, Sha1};

use crate::accounts::Accounts;
use crate::tree::{self, Content, ImagePath, ImageTree, Node, NodeKind};

/// Errors from unpacking, each naming the package and the path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name that would escape the image or is not a plain relative path.
    #[error("package `{package}` has an unsafe path `{path}`: {reason}")]
    UnsafePath {
        /// The package.
        package: String,
        /// The name as written in the archive (escaped).
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// Two packages write one path and neither replaces the other.
    #[error("`{path}` is installed by both `{first}` and `{second}`")]
    Conflict {
        /// The path.
        path: ImagePath,
        /// The package that installed it first.
        first: String,
        /// The package that tried to install it again.
        second: String,
    },
    /// The tree refused the entry (a symlinked or missing parent, a directory replaced).
    #[error("package `{package}` cannot install `{path}`")]
    Place {
        /// The package.
        package: String,
        /// The path.
        path: ImagePath,
        /// The tree's reason.
        #[source]
        source: tree::Error,
    },
    /// A hard link to a file this package did not install before it.
    #[error(
        "package `{package}`: hard link `{path}` points to `{target}`, which is not a file of the package"
    )]
    HardlinkTarget {
        /// The package.
        package: String,
        /// The link.
        path: ImagePath,
        /// Its target as written.
        target: String,
    },
    /// The archive's per-file checksum does not match the content.
    #[error("package `{package}`: checksum of `{path}` is {actual}, the archive says {expected}")]
    ChecksumMismatch {
        /// The package.
        package: String,
        /// The file.
        path: ImagePath,
        /// Hex SHA-1 from the archive.
        expected: String,
        /// Hex SHA-1 of the content.
        actual: String,
    },
    /// An entry type that has no place in an image.
    #[error("package `{package}`: `{path}` has unsupported tar entry type {kind:?}")]
    Unsupported {
        /// The package.
        package: String,
        /// The name as written.
        path: String,
        /// The raw type byte.
        kind: char,
    },
    /// A file or the image as a whole is over its size limit.
    #[error(
        "package `{package}`: `{path}` would take the image over its size limit ({limit} bytes)"
    )]
    TooLarge {
        /// The package.
        package: String,
        /// The file.
        path: String,
        /// The limit that was hit.
        limit: u64,
    },
    /// The archive could not be read.
    #[error("package `{package}`: cannot read its data archive")]
    Read {
        /// The package.
        package: String,
        /// The reader's error.
        #[source]
        source: std::io::Error,
    },
}

/// Memory bounds for untrusted archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest single file, in bytes.
    pub max_file: u64,
    /// The most content in total, in bytes.
    pub max_total: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file: 2 << 30,
            max_total: 16 << 30,
        }
    }
}

/// The package being unpacked, with the fields that decide file ownership.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageInfo {
    /// Package name.
    pub name: String,
    /// Full version (`1.36.1-r15`).
    pub version: String,
    /// Source package (`origin`); packages of one origin may overwrite each other's files.
    pub origin: Option<String>,
    /// Names of the packages whose files this one may overwrite (its `replaces`, with version
    /// constraints already checked against the installed packages by the caller).
    pub replaces: Vec<String>,
    /// `replaces_priority`: when both packages replace each other, the higher one keeps the file.
    pub replaces_priority: u32,
}

/// What an archive entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Hard link to an earlier entry of the same archive.
    Hardlink,
    /// Character device.
    CharDevice,
    /// Block device.
    BlockDevice,
    /// Named pipe.
    Fifo,
}

/// One entry of a package's data archive, already read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name as written (relative, `/`-separated, trailing `/` for directories allowed).
    pub path: Vec<u8>,
    /// Type.
    pub kind: EntryKind,
    /// Mode bits (type bits are ignored).
    pub mode: u32,
    /// Numeric owner, used when `uname` is not an account of the image.
    pub uid: u32,
    /// Numeric group, used when `gname` is not a group of the image.
    pub gid: u32,
    /// Owner name.
    pub uname: String,
    /// Group name.
    pub gname: String,
    /// Target of a symbolic or hard link.
    pub link_target: Option<Vec<u8>>,
    /// Device numbers.
    pub device: (u32, u32),
    /// Extended attributes.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// SHA-1 the archive declares for the content (`APK-TOOLS.checksum.SHA1`).
    pub checksum: Option<[u8; 20]>,
    /// File content (empty for everything but regular files).
    pub content: Vec<u8>,
}

/// Owner and mode as recorded in apk's database (`M:` / `a:` lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acl {
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// A file a package installed, for apk's database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// The last path component.
    pub name: Vec<u8>,
    /// Owner and mode.
    pub acl: Acl,
    /// SHA-1 of the content (of the target for symlinks), as apk records it.
    pub checksum: Option<[u8; 20]>,
}

/// A directory a package ships (or needs as a parent), with the files it put there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirRecord {
    /// The directory; `None` for the image root.
    pub path: Option<ImagePath>,
    /// Owner and mode the package declares.
    pub acl: Acl,
    /// Files in archive order.
    pub files: Vec<FileRecord>,
}

/// One unpacked package: its identity and what it owns, in archive order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRecord {
    /// The package.
    pub info: PackageInfo,
    /// Directories, in the order the archive first names them.
    pub dirs: Vec<DirRecord>,
    /// Bytes of regular-file content unpacked.
    pub content_bytes: u64,
}

/// Where a file's record lives: package, directory and file index.
#[derive(Debug, Clone, Copy)]
struct FileSlot {
    package: usize,
    dir: usize,
    file: usize,
}

/// The state of an image being assembled from packages.
#[derive(Debug, Default)]
pub struct Unpacker {
    tree: ImageTree,
    limits: Limits,
    total: u64,
    packages: Vec<PackageRecord>,
    /// Who owns each non-directory path.
    files: BTreeMap<ImagePath, FileSlot>,
    /// Records removed because another package replaced the file.
    replaced: Vec<FileSlot>,
    /// Every package's declared permissions for each directory, in install order.
    dir_acls: BTreeMap<ImagePath, Vec<Acl>>,
    /// Directories that existed before a package declared them: their permissions stay.
    frozen: std::collections::BTreeSet<ImagePath>,
}

/// The image and the per-package file lists, once every package is in.
#[derive(Debug)]
pub struct Unpacked {
    /// The assembled image.
    pub tree: ImageTree,
    /// Every package in install order, with the files it owns in the end.
    pub packages: Vec<PackageRecord>,
}

const DEFAULT_DIR_ACL: Acl = Acl {
    mode: 0o755,
    uid: 0,
    gid: 0,
};

impl Unpacker {
    /// Starts from `tree` (usually empty) with the given limits.
    #[must_use]
    pub fn new(tree: ImageTree, limits: Limits) -> Self {
        Unpacker {
            tree,
            limits,
            ..Unpacker::default()
        }
    }

    /// The image so far (for effects that must happen between packages, such as the accounts
    /// a pre-install script would create).
    #[must_use]
    pub fn tree(&self) -> &ImageTree {
        &self.tree
    }

    /// Mutable access to the image so far.
    pub fn tree_mut(&mut self) -> &mut ImageTree {
        &mut self.tree
    }

    /// The package that owns a non-directory path.
    #[must_use]
    pub fn owner(&self, path: &ImagePath) -> Option<&str> {
        self.files
            .get(path)
            .map(|slot| self.packages[slot.package].info.name.as_str())
    }

    /// Unpacks one package's data entries.
    ///
    /// # Errors
    /// The first unsafe path, conflict or unreadable entry; the tree may then hold part of the
    /// package and should be discarded.
    pub fn add_package<I>(&mut self, info: PackageInfo, entries: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = Result<Entry, Error>>,
    {
        let index = self.packages.len();
        self.packages.push(PackageRecord {
            info,
            dirs: Vec::new(),
            content_bytes: 0,
        });
        let mut accounts = Accounts::of(&self.tree);
        let mut dir_index: BTreeMap<Option<ImagePath>, usize> = BTreeMap::new();
        for entry in entries {
            let entry = entry?;
            self.add_entry(index, &mut accounts, &mut dir_index, entry)?;
        }
        Ok(())
    }

    fn package_name(&self, index: usize) -> String {
        self.packages[index].info.name.clone()
    }

    fn add_entry(
        &mut self,
        index: usize,
        accounts: &mut Accounts,
        dir_index: &mut BTreeMap<Option<ImagePath>, usize>,
        entry: Entry,
    ) -> Result<(), Error> {
        let package = self.package_name(index);
        let path = safe_path(&package, &entry.path)?;
        // Control files (and anything else hidden at the top) are not data, as in apk.
        if entry.path.first() == Some(&b'.') {
            return Ok(());
        }
        let uid = accounts.uid(&entry.uname).unwrap_or(entry.uid);
        let gid = accounts.gid(&entry.gname).unwrap_or(entry.gid);
        let acl = Acl {
            mode: entry.mode & 0o7777,
            uid,
            gid,
        };
        if entry.kind == EntryKind::Dir {
            let slot = self.dir_slot(index, dir_index, Some(path.clone()), acl);
            self.packages[index].dirs[slot].acl = acl;
            // A directory that exists before any package declared it (a home a pre-install
            // script made) keeps its permissions, as apk leaves such directories alone.
            if !self.dir_acls.contains_key(&path) && self.tree.get(&path).is_some() {
                self.frozen.insert(path.clone());
            }
            self.dir_acls.entry(path.clone()).or_default().push(acl);
            match self.tree.get(&path) {
                Some(node) if node.is_dir() => {}
                Some(node) if matches!(node.kind, NodeKind::Symlink(_)) => {
                    // apk sees an existing name and creates nothing; what would be written
                    // below it is refused as a write through a symlink.
                }
                _ => {
                    let node = Node {
                        kind: NodeKind::Dir,
                        mode: acl.mode,
                        uid,
                        gid,
                        package: Some(package.clone()),
                        xattrs: entry.xattrs,
                    };
                    self.tree
                        .insert(path.clone(), node)
                        .map_err(|source| Error::Place {
                            package,
                            path,
                            source,
                        })?;
                }
            }
            return Ok(());
        }

        if path.file_name().starts_with(b".keep_") {
            return Ok(());
        }
        let parent = path.parent();
        let Some(&dir_slot) = dir_index.get(&parent) else {
            if let Some(parent) = parent {
                return Err(Error::UnsafePath {
                    package,
                    path: path.display(),
                    reason: format!("its directory `{parent}` has no entry in the archive"),
                });
            }
            let slot = self.dir_slot(index, dir_index, None, DEFAULT_DIR_ACL);
            return self.add_file(index, slot, accounts, path, acl, entry);
        };
        self.add_file(index, dir_slot, accounts, path, acl, entry)
    }

    fn dir_slot(
        &mut self,
        index: usize,
        dir_index: &mut BTreeMap<Option<ImagePath>, usize>,
        path: Option<ImagePath>,
        acl: Acl,
    ) -> usize {
        *dir_index.entry(path.clone()).or_insert_with(|| {
            let dirs = &mut self.packages[index].dirs;
            dirs.push(DirRecord {
                path,
                acl,
                files: Vec::new(),
            });
            dirs.len() - 1
        })
    }

    fn add_file(
        &mut self,
        index: usize,
        dir_slot: usize,
        accounts: &mut Accounts,
        path: ImagePath,
        acl: Acl,
        entry: Entry,
    ) -> Result<(), Error> {
        let package = self.package_name(index);
        // Ownership between packages.
        if let Some(&existing) = self.files.get(&path) {
            if existing.package != index {
                match self.overwrite(existing.package, index) {
                    Overwrite::Allow => {}
                    Overwrite::Skip => return Ok(()),
                    Overwrite::Refuse => {
                        return Err(Error::Conflict {
                            first: self.package_name(existing.package),
                            second: package,
                            path,
                        });
                    }
                }
            }
        } else if let Some(node) = self.tree.get(&path)
            && node.is_dir()
        {
            return Err(Error::Conflict {
                first: node
                    .package
                    .clone()
                    .unwrap_or_else(|| "the image".to_owned()),
                second: package,
                path,
            });
        }

        let (kind, checksum) = match entry.kind {
            EntryKind::File => {
                let actual: [u8; 20] = Sha1::digest(&entry.content).into();
                if let Some(expected) = entry.checksum
                    && expected != actual
                {
                    return Err(Error::ChecksumMismatch {
                        package,
                        path,
                        expected: hex::encode(expected),
                        actual: hex::encode(actual),
                    });
                }
                let len = entry.content.len() as u64;
                self.total += len;
                if self.total > self.limits.max_total {
                    return Err(Error::TooLarge {
                        package,
                        path: path.display(),
                        limit: self.limits.max_total,
                    });
                }
                self.packages[index].content_bytes += len;
                (
                    NodeKind::File(Content::new(entry.content)),
                    Some(entry.checksum.unwrap_or(actual)),
                )
            }
            EntryKind::Symlink => {
                let target = entry.link_target.unwrap_or_default();
                let sum = entry
                    .checksum
                    .unwrap_or_else(|| Sha1::digest(&target).into());
                (NodeKind::Symlink(target), Some(sum))
            }
            EntryKind::Hardlink => {
                let raw = entry.link_target.unwrap_or_default();
                let target = ImagePath::new(&raw).ok().filter(|t| {
                    self.files.get(t).is_some_and(|s| s.package == index)
                        && self.tree.file_node(t).is_some()
                });
                let Some(target) = target else {
                    return Err(Error::HardlinkTarget {
                        package,
                        path,
                        target: tree::escape(&raw),
                    });
                };
                let slot = self.files[&target];
                let sum = self.packages[slot.package].dirs[slot.dir].files[slot.file].checksum;
                (NodeKind::Hardlink(target), sum)
            }
            EntryKind::CharDevice => (
                NodeKind::CharDevice {
                    major: entry.device.0,
                    minor: entry.device.1,
                },
                None,
            ),
            EntryKind::BlockDevice => (
                NodeKind::BlockDevice {
                    major: entry.device.0,
                    minor: entry.device.1,
                },
                None,
            ),
            EntryKind::Fifo => (NodeKind::Fifo, None),
            EntryKind::Dir => unreachable!("directories are handled by add_entry"),
        };
        let mode = if matches!(kind, NodeKind::Symlink(_)) {
            0o777
        } else {
            acl.mode
        };
        let node = Node {
            kind,
            mode,
            uid: acl.uid,
            gid: acl.gid,
            package: Some(package.clone()),
            xattrs: entry.xattrs,
        };
        let touches_accounts = matches!(path.as_bytes(), b"etc/passwd" | b"etc/group");
        self.tree
            .insert(path.clone(), node)
            .map_err(|source| Error::Place {
                package: package.clone(),
                path: path.clone(),
                source,
            })?;
        if touches_accounts {
            *accounts = Accounts::of(&self.tree);
        }

        let files = &mut self.packages[index].dirs[dir_slot].files;
        let name = path.file_name().to_vec();
        let record = FileRecord {
            name,
            acl: Acl { mode, ..acl },
            checksum,
        };
        let slot = FileSlot {
            package: index,
            dir: dir_slot,
            file: files.len(),
        };
        files.push(record);
        if let Some(previous) = self.files.insert(path, slot) {
            self.replaced.push(previous);
        }
        Ok(())
    }

    /// apk's rule for a file another package already installed.
    fn overwrite(&self, old: usize, new: usize) -> Overwrite {
        let old = &self.packages[old].info;
        let new = &self.packages[new].info;
        if old.name == new.name || (old.origin.is_some() && old.origin == new.origin) {
            return Overwrite::Allow;
        }
        let priority = |side: &PackageInfo, other: &PackageInfo| {
            if side.replaces.contains(&other.name) {
                i64::from(side.replaces_priority)
            } else {
                -1
            }
        };
        let old_prio = priority(old, new);
        let new_prio = priority(new, old);
        if old_prio > new_prio {
            Overwrite::Skip
        } else if new_prio >= 0 {
            Overwrite::Allow
        } else {
            Overwrite::Refuse
        }
    }

    /// Finishes: applies apk's directory permission rule and drops the file records of files
    /// another package replaced.
    #[must_use]
    pub fn finish(mut self) -> Unpacked {
        for (path, acls) in &self.dir_acls {
            if self.frozen.contains(path) {
                continue;
            }
            let Some(node) = self.tree.get_mut(path) else {
                continue;
            };
            if !node.is_dir() {
                continue;
            }
            let mut mode = 0;
            let mut uid = u32::MAX;
            let mut gid = u32::MAX;
            for acl in acls {
                if acl.uid < uid || (acl.uid == uid && acl.gid < gid) {
                    uid = acl.uid;
                    gid = acl.gid;
                    mode = acl.mode;
                } else if acl.uid == uid && acl.gid == gid {
                    mode &= acl.mode;
                }
            }
            node.mode = mode;
            node.uid = uid;
            node.gid = gid;
        }
        // Remove replaced records from the highest index down so indices stay valid.
        self.replaced
            .sort_by_key(|s| std::cmp::Reverse((s.package, s.dir, s.file)));
        self.replaced.dedup_by_key(|s| (s.package, s.dir, s.file));
        for slot in self.replaced {
            self.packages[slot.package].dirs[slot.dir]
                .files
                .remove(slot.file);
        }
        Unpacked {
            tree: self.tree,
            packages: self.packages,
        }
    }
}

enum Overwrite {
    Allow,
    Skip,
    Refuse,
}

/// Checks an archive name the way apk does, and more strictly: it must be a normalised
/// relative path without control characters.
fn safe_path(package: &str, raw: &[u8]) -> Result<ImagePath, Error> {
    let unsafe_path = |reason: String| Error::UnsafePath {
        package: package.to_owned(),
        path: tree::escape(raw),
        reason,
    };
    if raw.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(unsafe_path("control character in name".to_owned()));
    }
    ImagePath::new(raw).map_err(|e| match e {
        tree::Error::InvalidPath { reason, .. } => unsafe_path(reason.to_owned()),
        other => unsafe_path(other.to_string()),
    })
}

/// Reads the entries of a tar stream (a package's data archive, or the whole concatenated
/// `.apk` stream whose control entries are skipped later) into [`Entry`] values.
///
/// # Errors
/// Each item fails with [`Error::Read`], [`Error::Unsupported`] or [`Error::TooLarge`].
pub fn tar_entries<'a, R: Read + 'a>(
    package: &'a str,
    archive: &'a mut tar::Archive<R>,
    limits: Limits,
) -> Result<impl Iterator<Item = Result<Entry, Error>> + 'a, Error> {
    let read = move |source| Error::Read {
        package: package.to_owned(),
        source,
    };
    let entries = archive.entries().map_err(read)?;
    Ok(entries.map(move |entry| {
        let mut entry = entry.map_err(read)?;
        read_tar_entry(package, &mut entry, limits)
    }))
}

fn read_tar_entry<R: Read>(
    package: &str,
    entry: &mut tar::Entry<'_, R>,
    limits: Limits,
) -> Result<Entry, Error> {
    let read = |source| Error::Read {
        package: package.to_owned(),
        source,
    };
    let path = entry.path_bytes().into_owned();
    let header = entry.header().clone();
    let kind = match header.entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
        tar::EntryType::Directory => EntryKind::Dir,
        tar::EntryType::Symlink => EntryKind::Symlink,
        tar::EntryType::Link => EntryKind::Hardlink,
        tar::EntryType::Char => EntryKind::CharDevice,
        tar::EntryType::Block => EntryKind::BlockDevice,
        tar::EntryType::Fifo => EntryKind::Fifo,
        other => {
            return Err(Error::Unsupported {
                package: package.to_owned(),
                path: tree::escape(&path),
                kind: char::from(other.as_byte()),
            });
        }
    };
    let mut xattrs = BTreeMap::new();
    let mut checksum = None;
    if let Some(extensions) = entry.pax_extensions().map_err(read)? {
        for ext in extensions {
            let ext = ext.map_err(read)?;
            let Ok(key) = ext.key() else { continue };
            if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                xattrs.insert(name.to_owned(), ext.value_bytes().to_vec());
            } else if key == "APK-TOOLS.checksum.SHA1" {
                let mut sum = [0u8; 20];
                if hex::decode_to_slice(ext.value_bytes(), &mut sum).is_ok() {
                    checksum = Some(sum);
                }
            }
        }
    }
    let size = entry.size();
    if kind == EntryKind::File && size > limits.max_file {
        return Err(Error::TooLarge {
            package: package.to_owned(),
            path: tree::escape(&path),
            limit: limits.max_file,
        });
    }
    let mut content = Vec::new();
    if kind == EntryKind::File {
        content.reserve(usize::try_from(size).unwrap_or(0));
        entry
            .take(limits.max_file)
            .read_to_end(&mut content)
            .map_err(read)?;
    }
    let id = |v: std::io::Result<u64>| v.ok().and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
    Ok(Entry {
        kind,
        mode: header.mode().unwrap_or(0o644),
        uid: id(header.uid()),
        gid: id(header.gid()),
        uname: header
            .username()
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_owned(),
        gname: header
            .groupname()
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_owned(),
        link_target: entry.link_name_bytes().map(|l| l.into_owned()),
        device: (
            header.device_major().ok().flatten().unwrap_or(0),
            header.device_minor().ok().flatten().unwrap_or(0),
        ),
        xattrs,
        checksum,
        content,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImagePath {
        ImagePath::new(s.as_bytes()).unwrap()
    }

    fn entry(path: &str, kind: EntryKind, mode: u32) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            uname: "root".into(),
            gname: "root".into(),
            link_target: None,
            device: (0, 0),
            xattrs: BTreeMap::new(),
            checksum: None,
            content: Vec::new(),
        }
    }

    fn dir(path: &str) -> Entry {
        entry(path, EntryKind::Dir, 0o755)
    }

    fn file(path: &str, content: &str) -> Entry {
        Entry {
            content: content.as_bytes().to_vec(),
            ..entry(path, EntryKind::File, 0o644)
        }
    }

    fn link(path: &str, target: &str, kind: EntryKind) -> Entry {
        Entry {
            link_target: Some(target.as_bytes().to_vec()),
            ..entry(path, kind, 0o777)
        }
    }

    fn pkg(name: &str) -> PackageInfo {
        PackageInfo {
            name: name.into(),
            version: "1-r0".into(),
            ..PackageInfo::default()
        }
    }

    fn add(u: &mut Unpacker, info: PackageInfo, entries: Vec<Entry>) -> Result<(), Error> {
        u.add_package(info, entries.into_iter().map(Ok))
    }

    #[test]
    fn files_land_with_owners_from_the_image() {
        let mut u = Unpacker::default();
        add(
            &mut u,
            pkg("base"),
            vec![
                dir("etc/"),
                file(
                    "etc/passwd",
                    "root:x:0:0::/root:/bin/sh\nchrony:x:100:101::/:/sbin/nologin\n",
                ),
                file("etc/group", "root:x:0:\nchrony:x:101:\n"),
                file(".PKGINFO", "ignored"),
            ],
        )
        .unwrap();
        let mut owned = dir("var/");
        owned.uname = "chrony".into();
        owned.gname = "chrony".into();
        owned.uid = 190;
        owned.gid = 188;
        let mut unknown = file("var/x", "x");
        unknown.uname = "nobody-here".into();
        unknown.uid = 1234;
        unknown.gname = "nogroup-here".into();
        unknown.gid = 4321;
        add(
            &mut u,
            pkg("app"),
            vec![owned, unknown, file("var/.keep_app", "")],
        )
        .unwrap();
        let out = u.finish();
        let var = out.tree.get(&p("var")).unwrap();
        assert_eq!((var.uid, var.gid), (100, 101));
        let x = out.tree.get(&p("var/x")).unwrap();
        assert_eq!((x.uid, x.gid), (1234, 4321));
        assert!(out.tree.get(&p(".PKGINFO")).is_none());
        assert!(out.tree.get(&p("var/.keep_app")).is_none());
        let files: Vec<_> = out.packages[0].dirs[0]
            .files
            .iter()
            .map(|f| String::from_utf8_lossy(&f.name).into_owned())
            .collect();
        assert_eq!(files, ["passwd", "group"]);
        assert_eq!(
            out.packages[1].dirs[0].files[0].checksum,
            Some(Sha1::digest(b"x").into())
        );
    }

    #[test]
    fn unsafe_names_are_refused() {
        for (name, reason) in [
            ("/etc/passwd", "absolute path"),
            ("../x", "`..` path component"),
            ("a/../../x", "`..` path component"),
            ("a/./x", "`.` path component"),
            ("a\nb", "control character in name"),
        ] {
            let mut u = Unpacker::default();
            let err = add(&mut u, pkg("evil"), vec![dir("a/"), file(name, "x")]).unwrap_err();
            match err {
                Error::UnsafePath {
                    package, reason: r, ..
                } => {
                    assert_eq!(package, "evil");
                    assert_eq!(r, reason, "{name}");
                }
                other => panic!("{name}: {other}"),
            }
        }
    }

    #[test]
    fn writes_through_symlinked_parents_are_refused() {
        let mut u = Unpacker::default();
        add(
            &mut u,
            pkg("layout"),
            vec![
                dir("var/"),
                dir("run/"),
                link("var/run", "../run", EntryKind::Symlink),
            ],
        )
        .unwrap();
        let err = add(
            &mut u,
            pkg("sneaky"),
            vec![dir("var/"), dir("var/run/"), file("var/run/x", "x")],
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, Error::Place { package, path, source: tree::Error::ParentNotDirectory { .. } }
                if package == "sneaky" && path.display() == "var/run/x"),
            "{text}"
        );
    }

    #[test]
    fn conflicts_follow_apk_rules() {
        let base = || vec![dir("bin/"), file("bin/tool", "one")];
        let mut u = Unpacker::default();
        add(&mut u, pkg("a"), base()).unwrap();
        let err = add(&mut u, pkg("b"), vec![dir("bin/"), file("bin/tool", "two")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`bin/tool` is installed by both `a` and `b`"
        );

        // `replaces` lets the newcomer overwrite, and the file changes owner.
        let mut u = Unpacker::default();
        add(&mut u, pkg("a"), base()).unwrap();
        let b = PackageInfo {
            replaces: vec!["a".into()],
            ..pkg("b")
        };
        add(&mut u, b, vec![dir("bin/"), file("bin/tool", "two")]).unwrap();
        assert_eq!(u.owner(&p("bin/tool")), Some("b"));
        let out = u.finish();
        assert_eq!(out.tree.read_file("/bin/tool"), Some(&b"two"[..]));
        assert!(out.packages[0].dirs[0].files.is_empty());
        assert_eq!(out.packages[1].dirs[0].files.len(), 1);

        // The old package replacing the new one with a higher priority keeps its file.
        let mut u = Unpacker::default();
        let a = PackageInfo {
            replaces: vec!["b".into()],
            replaces_priority: 10,
            ..pkg("a")
        };
        add(&mut u, a, base()).unwrap();
        let b = PackageInfo {
            replaces: vec!["a".into()],
            ..pkg("b")
        };
        add(&mut u, b, vec![dir("bin/"), file("bin/tool", "two")]).unwrap();
        assert_eq!(u.finish().tree.read_file("/bin/tool"), Some(&b"one"[..]));

        // Same origin: allowed silently.
        let mut u = Unpacker::default();
        let a = PackageInfo {
            origin: Some("src".into()),
            ..pkg("a")
        };
        add(&mut u, a, base()).unwrap();
        let b = PackageInfo {
            origin: Some("src".into()),
            ..pkg("b")
        };
        add(&mut u, b, vec![dir("bin/"), file("bin/tool", "two")]).unwrap();

        // A file over another package's directory is a conflict.
        let mut u = Unpacker::default();
        add(&mut u, pkg("a"), base()).unwrap();
        let err = add(&mut u, pkg("b"), vec![file("bin", "x")]).unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
    }

    #[test]
    fn shared_directories_get_apks_permissions() {
        let mut u = Unpacker::default();
        let mut a = dir("srv/");
        a.mode = 0o775;
        add(&mut u, pkg("a"), vec![a]).unwrap();
        let mut b = dir("srv/");
        b.mode = 0o755;
        add(&mut u, pkg("b"), vec![b]).unwrap();
        let mut c = dir("srv/");
        c.mode = 0o700;
        c.uid = 5;
        c.uname = String::new();
        add(&mut u, pkg("c"), vec![c]).unwrap();
        let out = u.finish();
        let srv = out.tree.get(&p("srv")).unwrap();
        assert_eq!((srv.mode, srv.uid), (0o755, 0));
    }

    #[test]
    fn files_need_their_directory_entry_and_hardlinks_their_target() {
        let mut u = Unpacker::default();
        let err = add(&mut u, pkg("a"), vec![file("usr/x", "x")]).unwrap_err();
        assert!(
            err.to_string().contains("has no entry in the archive"),
            "{err}"
        );

        let mut u = Unpacker::default();
        add(
            &mut u,
            pkg("a"),
            vec![
                dir("z/"),
                file("z/real", "data"),
                link("z/alias", "z/real", EntryKind::Hardlink),
                file("top", "at the root"),
            ],
        )
        .unwrap();
        let err = add(
            &mut u,
            pkg("b"),
            vec![dir("z/"), link("z/other", "z/real", EntryKind::Hardlink)],
        )
        .unwrap_err();
        assert!(matches!(err, Error::HardlinkTarget { .. }), "{err}");
        let out = u.finish();
        assert_eq!(out.tree.read_file("/z/alias"), Some(&b"data"[..]));
        let dirs = &out.packages[0].dirs;
        assert_eq!(dirs[1].path, None);
        assert_eq!(dirs[0].files[1].checksum, dirs[0].files[0].checksum);
    }

    #[test]
    fn checksums_and_limits_are_enforced() {
        let mut u = Unpacker::default();
        let mut bad = file("f", "content");
        bad.checksum = Some([0; 20]);
        let err = add(&mut u, pkg("a"), vec![bad]).unwrap_err();
        assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err}");

        let mut u = Unpacker::new(
            ImageTree::new(),
            Limits {
                max_file: 10,
                max_total: 10,
            },
        );
        add(&mut u, pkg("a"), vec![file("f", "12345678")]).unwrap();
        let err = add(&mut u, pkg("b"), vec![file("g", "12345")]).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    }

    #[test]
    fn tar_streams_are_read_with_pax_records() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_username("root").unwrap();
        header.set_groupname("root").unwrap();
        header.set_cksum();
        builder
            .append_data(&mut header.clone(), "etc/", &[][..])
            .unwrap();
        let sum = hex::encode(Sha1::digest(b"hello"));
        let pax = format!("68 APK-TOOLS.checksum.SHA1={sum}\n");
        let mut pax_header = tar::Header::new_ustar();
        pax_header.set_entry_type(tar::EntryType::XHeader);
        pax_header.set_size(pax.len() as u64);
        pax_header.set_cksum();
        builder
            .append_data(&mut pax_header, "PaxHeader", pax.as_bytes())
            .unwrap();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o4755);
        header.set_size(5);
        builder
            .append_data(&mut header, "etc/hello", &b"hello"[..])
            .unwrap();
        let bytes = builder.into_inner().unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let entries: Vec<Entry> = tar_entries("t", &mut archive, Limits::default())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].checksum, Some(Sha1::digest(b"hello").into()));
        assert_eq!(entries[1].mode, 0o4755);
        assert_eq!(entries[1].content, b"hello");
    }
}
