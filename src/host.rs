//! `host`: reading a live root directory or an image archive, read-only, into manifest
//! entries.
//!
//! Invariants:
//! - Nothing is written. Symlinks are never followed; the walk never leaves the root's
//!   filesystem (a mount point is recorded, not entered). FIFOs, sockets and devices are never
//!   opened, not even when one replaces a listed file during the walk: a regular file is
//!   resolved without opening it (`O_PATH`), checked to be the listed inode, and only then
//!   opened (through `/proc/self/fd`); it is checked again after reading.
//! - Regular files are hashed in parallel (rayon), streaming through one reusable buffer per
//!   thread, largest first: memory grows with the number of entries, never with file sizes.
//! - A file that cannot be read, or that changes or vanishes during the walk, is reported as
//!   a [`Problem`] beside the entries; only a root that cannot be read at all is an error.
//! - Entries come out sorted by path bytes, as [`crate::manifest`] orders them.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, CString, OsStr};
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;
use rustix::fs::{Mode, OFlags};
use sha2::{Digest, Sha256};

use crate::manifest::{self, Entry, Kind, Package, RuntimePolicy, covers, xattrs_digest};

/// Size of the per-thread read buffer.
const READ_BUFFER: usize = 256 * 1024;

/// Most entries accepted from one archive (a bound on memory for hostile input).
pub const MAX_ARCHIVE_ENTRIES: usize = 4_000_000;

/// Errors that stop a walk or an archive read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The root itself cannot be read.
    #[error("cannot read the root `{path}`")]
    Root {
        /// The root.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The root is not a directory.
    #[error("the root `{path}` is not a directory")]
    NotADirectory {
        /// The root.
        path: PathBuf,
    },
    /// The archive cannot be read.
    #[error("cannot read the archive `{path}`")]
    Archive {
        /// The archive.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// An archive member whose path escapes the root or is not a path at all.
    #[error("the archive `{path}` holds an unsafe member path `{member}`")]
    UnsafeMember {
        /// The archive.
        path: PathBuf,
        /// The member path, escaped.
        member: String,
    },
    /// An archive member of a type basalt does not describe (or a hard link to nothing).
    #[error("the archive `{path}` holds member `{member}` that cannot be described: {reason}")]
    BadMember {
        /// The archive.
        path: PathBuf,
        /// The member path, escaped.
        member: String,
        /// Why.
        reason: String,
    },
    /// An entry could not be described, so no manifest can be made.
    #[error("cannot describe `{path}`: {detail}")]
    Incomplete {
        /// The entry, escaped.
        path: String,
        /// The evidence.
        detail: String,
    },
    /// More entries than [`MAX_ARCHIVE_ENTRIES`].
    #[error("the archive `{path}` holds more than {MAX_ARCHIVE_ENTRIES} entries")]
    TooManyEntries {
        /// The archive.
        path: PathBuf,
    },
}

/// Why an entry could not be described exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// It could not be read (permissions, I/O error).
    Unreadable,
    /// It changed, was replaced or vanished while it was being read.
    Changing,
}

/// An entry that could not be described exactly; reported, not fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Absolute path as in [`Entry::path`].
    pub path: Vec<u8>,
    /// What went wrong.
    pub kind: ProblemKind,
    /// The evidence (the system error, or what changed).
    pub detail: String,
}

/// What to leave out of a walk.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Paths recorded themselves but not entered (ephemeral and state areas).
    pub prune: Vec<Vec<u8>>,
    /// Paths beneath which regular files are listed but not read; their digest is all zeros
    /// (mutable paths, whose content is not compared).
    pub skip_content: Vec<Vec<u8>>,
}

impl ScanOptions {
    /// What verification needs from a runtime policy: ephemeral and state areas pruned,
    /// mutable files not read.
    #[must_use]
    pub fn for_policy(policy: &RuntimePolicy) -> ScanOptions {
        let bytes = |list: &[String]| list.iter().map(|p| p.as_bytes().to_vec()).collect();
        let mut prune: Vec<Vec<u8>> = bytes(&policy.ephemeral);
        prune.extend(bytes(&policy.state));
        ScanOptions {
            prune,
            skip_content: bytes(&policy.mutable),
        }
    }

    fn prunes(&self, path: &[u8]) -> bool {
        self.prune.iter().any(|p| p.as_slice() == path)
            || self.prune.iter().any(|p| manifest::strictly_below(p, path))
    }

    fn skips_content(&self, path: &[u8]) -> bool {
        self.skip_content.iter().any(|p| covers(p, path))
    }
}

/// The result of a walk or an archive read.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Entries, strictly sorted by path.
    pub entries: Vec<Entry>,
    /// Entries that could not be described exactly, sorted by path.
    pub problems: Vec<Problem>,
    /// Mount points below the root: entries on which another filesystem (or a bind mount,
    /// even of the same filesystem) is mounted; recorded themselves, not entered. Sorted.
    pub mount_points: Vec<Vec<u8>>,
    /// For a walked root: the regular files with more than one link, and their link count
    /// (`st_nlink`), sorted by path. A count above the number of paths of its hard-link group
    /// in the scan means links the walk did not see (in pruned areas, or outside the root).
    pub link_counts: Vec<(Vec<u8>, u64)>,
    /// The bytes of `lib/apk/db/installed`, when the tree has one as a regular file (at most
    /// [`MAX_APK_DB`] bytes) and its content was read.
    pub apk_db: Option<Vec<u8>>,
}

/// Largest apk database read into memory.
pub const MAX_APK_DB: u64 = 64 * 1024 * 1024;

impl Scan {
    /// The entry at `path`, if any.
    #[must_use]
    pub fn entry(&self, path: &[u8]) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.path.as_slice().cmp(path))
            .ok()
            .map(|i| &self.entries[i])
    }
}

fn join(root_relative: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(root_relative.len() + 1 + name.len());
    path.extend_from_slice(root_relative);
    if root_relative != b"/" {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

fn on_disk(root: &Path, path: &[u8]) -> PathBuf {
    if path == b"/" {
        root.to_path_buf()
    } else {
        root.join(OsStr::from_bytes(&path[1..]))
    }
}

fn device(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (
        u32::try_from(major).unwrap_or(u32::MAX),
        u32::try_from(minor).unwrap_or(u32::MAX),
    )
}

/// The digest of an entry's extended attributes, from a listing and a reader of values;
/// `None` when it has none or the filesystem has none.
fn xattrs_from(
    names: io::Result<xattr::XAttrs>,
    value: impl Fn(&OsStr) -> io::Result<Option<Vec<u8>>>,
) -> io::Result<Option<[u8; 32]>> {
    let names = match names {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut attrs = Vec::new();
    for name in names {
        if let Some(value) = value(&name)? {
            attrs.push((name.as_bytes().to_vec(), value));
        }
    }
    Ok(xattrs_digest(&mut attrs))
}

/// Extended attributes by path, without following a symlink.
fn read_xattrs(path: &Path) -> io::Result<Option<[u8; 32]>> {
    xattrs_from(xattr::list(path), |name| xattr::get(path, name))
}

/// Extended attributes of an open file (no path lookup).
fn read_xattrs_fd(file: &std::fs::File) -> io::Result<Option<[u8; 32]>> {
    use xattr::FileExt;
    xattrs_from(file.list_xattr(), |name| file.get_xattr(name))
}

struct Pending {
    index: usize,
    size: u64,
    /// The walk left the extended attributes to be read from the open file.
    xattrs_from_file: bool,
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// The most nested directories walked below the root; deeper ones are a problem, not a hang.
pub const MAX_DEPTH: usize = 8192;

/// Paths on disk longer than this are not opened by name (the kernel's limit is 4096 bytes
/// with the terminating NUL): their files are hashed relative to their directory during the
/// walk.
const LONG_PATH: usize = 3800;

/// The type of an entry, from its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    File,
    Dir,
    Symlink,
    Char,
    Block,
    Fifo,
    Socket,
}

/// What one `statx` (or `fstatat`, on kernels without it) says of an entry, never following
/// a symlink.
#[derive(Debug, Clone, Copy)]
struct Stat {
    kind: FileKind,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    nlink: u64,
    ino: u64,
    dev: u64,
    rdev: (u32, u32),
    mtime: (i64, i64),
    ctime: (i64, i64),
    /// `Some(true)` when the kernel says the entry is the root of a mount (Linux 5.8+).
    mount_root: Option<bool>,
    /// The id of the mount the entry is on (Linux 5.8+).
    mnt_id: Option<u64>,
}

fn kind_of(mode: u32) -> FileKind {
    match mode & libc::S_IFMT {
        libc::S_IFREG => FileKind::File,
        libc::S_IFDIR => FileKind::Dir,
        libc::S_IFLNK => FileKind::Symlink,
        libc::S_IFCHR => FileKind::Char,
        libc::S_IFBLK => FileKind::Block,
        libc::S_IFIFO => FileKind::Fifo,
        _ => FileKind::Socket,
    }
}

/// `statx` of `name` in `dir` (or of `dir` itself with an empty name), without following a
/// symlink; `fstatat` where `statx` is missing.
fn stat_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Stat> {
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};
    let mut flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT;
    if name.is_empty() {
        flags |= AtFlags::EMPTY_PATH;
    }
    match rustix::fs::statx(
        dir,
        name,
        flags,
        StatxFlags::BASIC_STATS | StatxFlags::MNT_ID,
    ) {
        Ok(x) => {
            let mode = u32::from(x.stx_mode);
            let mount_root = x
                .stx_attributes_mask
                .contains(StatxAttributes::MOUNT_ROOT)
                .then(|| x.stx_attributes.contains(StatxAttributes::MOUNT_ROOT));
            let mnt_id = (x.stx_mask & StatxFlags::MNT_ID.bits() != 0).then_some(x.stx_mnt_id);
            Ok(Stat {
                kind: kind_of(mode),
                mode,
                uid: x.stx_uid,
                gid: x.stx_gid,
                size: x.stx_size,
                nlink: u64::from(x.stx_nlink),
                ino: x.stx_ino,
                dev: rustix::fs::makedev(x.stx_dev_major, x.stx_dev_minor),
                rdev: (x.stx_rdev_major, x.stx_rdev_minor),
                mtime: (x.stx_mtime.tv_sec, i64::from(x.stx_mtime.tv_nsec)),
                ctime: (x.stx_ctime.tv_sec, i64::from(x.stx_ctime.tv_nsec)),
                mount_root,
                mnt_id,
            })
        }
        Err(rustix::io::Errno::NOSYS) => {
            let s = rustix::fs::statat(dir, name, flags)?;
            let mode = s.st_mode;
            Ok(Stat {
                kind: kind_of(mode),
                mode,
                uid: s.st_uid,
                gid: s.st_gid,
                size: u64::try_from(s.st_size).unwrap_or(0),
                nlink: s.st_nlink,
                ino: s.st_ino,
                dev: s.st_dev,
                rdev: device(s.st_rdev),
                mtime: (s.st_mtime, s.st_mtime_nsec as i64),
                ctime: (s.st_ctime, s.st_ctime_nsec as i64),
                mount_root: None,
                mnt_id: None,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// An open directory of the walk and its path inside the root.
struct DirHandle {
    fd: OwnedFd,
    path: Vec<u8>,
    stat: Stat,
}

/// A subdirectory to enter: its name in its parent, its path and what the listing said.
struct Sub {
    name: CString,
    path: Vec<u8>,
    stat: Stat,
}

/// Walks `root` and describes every entry beneath it (the root itself is `/`).
///
/// Directories are opened one by one relative to their parent (`openat` with
/// `O_NOFOLLOW | O_DIRECTORY`), and entries are described relative to their directory, so
/// that neither a symlink swapped in for a directory nor a path longer than the kernel's
/// limit can lead the walk astray.
///
/// # Errors
/// [`Error::Root`] or [`Error::NotADirectory`] when the root cannot be walked at all; every
/// other failure is a [`Problem`] in the result.
pub fn scan_root(root: &Path, options: &ScanOptions) -> Result<Scan, Error> {
    let root_err = |source: io::Error| Error::Root {
        path: root.to_path_buf(),
        source,
    };
    let root_meta = fs_err::symlink_metadata(root).map_err(root_err)?;
    if !root_meta.is_dir() {
        return Err(Error::NotADirectory {
            path: root.to_path_buf(),
        });
    }
    let fd = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| root_err(e.into()))?;
    let stat = stat_at(fd.as_fd(), c"").map_err(root_err)?;
    // Reading the root directory itself must work: otherwise nothing can be verified.
    rustix::fs::Dir::read_from(&fd).map_err(|e| root_err(e.into()))?;
    let walk = Walk {
        root,
        root_dev: stat.dev,
        root_mnt: stat.mnt_id,
        options,
    };
    let top = DirHandle {
        fd,
        path: b"/".to_vec(),
        stat,
    };
    let mut listed = vec![walk.describe_root(&top)];
    listed.extend(walk.dir(top, 0));

    let mut scan = Scan::default();
    let mut pending: Vec<Pending> = Vec::new();
    let mut links: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
    for item in listed {
        match item {
            Listed::Problem(p) => scan.problems.push(p),
            Listed::Entry(found) => record(&mut scan, &mut pending, &mut links, found, &walk),
        }
    }
    hash_pending(root, &mut scan, &pending);
    finish(&mut scan, links);
    scan.apk_db = read_apk_db(root, &scan, options);
    Ok(scan)
}

/// Directories deeper than this are walked sequentially within their task (bounded stack).
const PARALLEL_DEPTH: usize = 24;

struct Walk<'a> {
    root: &'a Path,
    root_dev: u64,
    root_mnt: Option<u64>,
    options: &'a ScanOptions,
}

/// An entry found by the walk, with everything read about it except (usually) content.
struct Found {
    path: Vec<u8>,
    stat: Stat,
    target: Option<Vec<u8>>,
    xattrs: Option<[u8; 32]>,
    /// A regular file whose content is read: its attributes are read from the open file.
    xattrs_from_file: bool,
    /// A file at a path too long to open by name, already hashed relative to its directory.
    hashed: Option<Result<Hashed, Problem>>,
}

enum Listed {
    Entry(Box<Found>),
    Problem(Problem),
}

/// Whether a listed entry is a regular file whose content is read (and so opened).
fn hashes_content(options: &ScanOptions, path: &[u8], stat: &Stat) -> bool {
    stat.kind == FileKind::File && stat.size > 0 && !options.skips_content(path)
}

impl Walk<'_> {
    /// Whether `stat`, below the root, is the root of another mount: another device (for a
    /// directory; files of some filesystems report their layer's device), the kernel's mount
    /// root attribute, or another mount id.
    fn is_mount(&self, stat: &Stat) -> bool {
        (stat.kind == FileKind::Dir && stat.dev != self.root_dev)
            || stat.mount_root == Some(true)
            || (stat.mnt_id.is_some() && self.root_mnt.is_some() && stat.mnt_id != self.root_mnt)
    }

    fn enters(&self, found: &Found) -> bool {
        found.stat.kind == FileKind::Dir
            && !self.is_mount(&found.stat)
            && !self.options.prunes(&found.path)
    }

    /// The root itself, described from its open directory.
    fn describe_root(&self, top: &DirHandle) -> Listed {
        let file = std::fs::File::from(match top.fd.try_clone() {
            Ok(fd) => fd,
            Err(e) => return Listed::Problem(problem_from_io(top.path.clone(), &e)),
        });
        match read_xattrs_fd(&file) {
            Ok(xattrs) => Listed::Entry(Box::new(Found {
                path: top.path.clone(),
                stat: top.stat,
                target: None,
                xattrs,
                xattrs_from_file: false,
                hashed: None,
            })),
            Err(e) => Listed::Problem(Problem {
                path: top.path.clone(),
                kind: ProblemKind::Unreadable,
                detail: format!("extended attributes: {e}"),
            }),
        }
    }

    /// A path naming `name` in `dir` that the xattr calls can take: through `/proc/self/fd`
    /// (short whatever the depth), else the path from the root.
    fn xattr_path(&self, dir: &DirHandle, name: &CStr, path: &[u8]) -> PathBuf {
        if proc_fd_dir().is_some() {
            let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.fd.as_raw_fd()));
            p.push(OsStr::from_bytes(name.to_bytes()));
            p
        } else {
            on_disk(self.root, path)
        }
    }

    /// Reads what an entry's metadata does not hold: its link target and extended attributes
    /// (and, for a file at a path too long to open by name, its content).
    fn describe(&self, dir: &DirHandle, name: &CStr, path: Vec<u8>, stat: Stat) -> Listed {
        let target = if stat.kind == FileKind::Symlink {
            match rustix::fs::readlinkat(dir.fd.as_fd(), name, Vec::new()) {
                Ok(t) => Some(t.into_bytes()),
                Err(e) => return Listed::Problem(problem_from_io(path, &e.into())),
            }
        } else {
            None
        };
        // A file whose content is hashed is opened anyway: its attributes are read from the
        // open file then, which saves a path lookup here.
        let xattrs_from_file = hashes_content(self.options, &path, &stat);
        let xattrs = if xattrs_from_file {
            None
        } else {
            match read_xattrs(&self.xattr_path(dir, name, &path)) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Listed::Problem(problem_from_io(path, &e));
                }
                Err(e) => {
                    return Listed::Problem(Problem {
                        path,
                        kind: ProblemKind::Unreadable,
                        detail: format!("extended attributes: {e}"),
                    });
                }
            }
        };
        let hashed = (xattrs_from_file && self.root.as_os_str().len() + path.len() > LONG_PATH)
            .then(|| {
                let p = pending_of(0, &stat, true);
                let open = |flags: OFlags| {
                    rustix::fs::openat(dir.fd.as_fd(), name, flags | OFlags::CLOEXEC, Mode::empty())
                        .map(std::fs::File::from)
                        .map_err(io::Error::from)
                };
                hash_listed(
                    &path,
                    &p,
                    || open(OFlags::PATH | OFlags::NOFOLLOW),
                    |noatime| {
                        let mut flags =
                            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
                        if noatime {
                            flags |= OFlags::NOATIME;
                        }
                        open(flags)
                    },
                )
            });
        Listed::Entry(Box::new(Found {
            path,
            stat,
            target,
            xattrs,
            xattrs_from_file,
            hashed,
        }))
    }

    /// Lists one directory: its entries, and the subdirectories to enter.
    fn list(&self, dir: &DirHandle, out: &mut Vec<Listed>) -> Vec<Sub> {
        let mut subdirs = Vec::new();
        let mut reader = match rustix::fs::Dir::read_from(&dir.fd) {
            Ok(r) => r,
            Err(e) => {
                out.push(Listed::Problem(problem_from_io(
                    dir.path.clone(),
                    &e.into(),
                )));
                return subdirs;
            }
        };
        while let Some(item) = reader.read() {
            let item = match item {
                Ok(item) => item,
                Err(e) => {
                    out.push(Listed::Problem(problem_from_io(
                        dir.path.clone(),
                        &e.into(),
                    )));
                    break;
                }
            };
            let name = item.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            let path = join(&dir.path, name.to_bytes());
            let listed = match stat_at(dir.fd.as_fd(), name) {
                Ok(stat) => self.describe(dir, name, path, stat),
                Err(e) => Listed::Problem(problem_from_io(path, &e)),
            };
            if let Listed::Entry(found) = &listed
                && self.enters(found)
            {
                subdirs.push(Sub {
                    name: name.to_owned(),
                    path: found.path.clone(),
                    stat: found.stat,
                });
            }
            out.push(listed);
        }
        subdirs
    }

    /// Opens a subdirectory the listing found, relative to its parent, and checks that it is
    /// still the directory listed.
    fn open(&self, parent: &DirHandle, sub: &Sub, depth: usize) -> Result<DirHandle, Problem> {
        if depth >= MAX_DEPTH {
            return Err(Problem {
                path: sub.path.clone(),
                kind: ProblemKind::Unreadable,
                detail: format!("more than {MAX_DEPTH} nested directories below the root"),
            });
        }
        let fd = rustix::fs::openat(
            parent.fd.as_fd(),
            sub.name.as_c_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => Problem {
                path: sub.path.clone(),
                kind: ProblemKind::Changing,
                detail: "replaced during the walk".into(),
            },
            e => problem_from_io(sub.path.clone(), &e.into()),
        })?;
        let stat = stat_at(fd.as_fd(), c"").map_err(|e| problem_from_io(sub.path.clone(), &e))?;
        if (stat.dev, stat.ino) != (sub.stat.dev, sub.stat.ino) {
            return Err(Problem {
                path: sub.path.clone(),
                kind: ProblemKind::Changing,
                detail: "replaced during the walk".into(),
            });
        }
        Ok(DirHandle {
            fd,
            path: sub.path.clone(),
            stat,
        })
    }

    /// Walks below `dir`: subdirectories in parallel near the top, sequentially deeper down
    /// (keeping open only the directories whose subdirectories are still to be walked).
    fn dir(&self, dir: DirHandle, depth: usize) -> Vec<Listed> {
        let mut out = Vec::new();
        let subdirs = self.list(&dir, &mut out);
        if depth < PARALLEL_DEPTH {
            let nested: Vec<Vec<Listed>> = subdirs
                .par_iter()
                .map(|sub| match self.open(&dir, sub, depth + 1) {
                    Ok(handle) => self.dir(handle, depth + 1),
                    Err(problem) => vec![Listed::Problem(problem)],
                })
                .collect();
            for n in nested {
                out.extend(n);
            }
        } else {
            let parent = Arc::new(dir);
            let mut stack: Vec<(Arc<DirHandle>, Sub, usize)> = subdirs
                .into_iter()
                .map(|s| (Arc::clone(&parent), s, depth + 1))
                .collect();
            drop(parent);
            while let Some((parent, sub, level)) = stack.pop() {
                let opened = self.open(&parent, &sub, level);
                drop(parent);
                match opened {
                    Ok(handle) => {
                        let handle = Arc::new(handle);
                        let subs = self.list(&handle, &mut out);
                        stack.extend(
                            subs.into_iter()
                                .map(|s| (Arc::clone(&handle), s, level + 1)),
                        );
                    }
                    Err(problem) => out.push(Listed::Problem(problem)),
                }
            }
        }
        out
    }
}

fn problem_from_io(path: Vec<u8>, e: &io::Error) -> Problem {
    let kind = if e.kind() == io::ErrorKind::NotFound {
        ProblemKind::Changing
    } else {
        ProblemKind::Unreadable
    };
    let detail = if kind == ProblemKind::Changing {
        format!("vanished during the walk ({e})")
    } else {
        e.to_string()
    };
    Problem { path, kind, detail }
}

fn pending_of(index: usize, stat: &Stat, xattrs_from_file: bool) -> Pending {
    Pending {
        index,
        size: stat.size,
        xattrs_from_file,
        dev: stat.dev,
        ino: stat.ino,
        mtime: stat.mtime,
        ctime: stat.ctime,
    }
}

fn record(
    scan: &mut Scan,
    pending: &mut Vec<Pending>,
    links: &mut HashMap<(u64, u64), Vec<usize>>,
    found: Box<Found>,
    walk: &Walk<'_>,
) {
    let Found {
        path,
        stat,
        target,
        mut xattrs,
        xattrs_from_file,
        hashed,
    } = *found;
    let mut sha = [0; 32];
    let kind = match stat.kind {
        FileKind::File => Kind::File {
            size: stat.size,
            sha256: [0; 32],
        },
        FileKind::Dir => Kind::Dir,
        FileKind::Symlink => Kind::Symlink {
            target: target.unwrap_or_default(),
        },
        FileKind::Char => Kind::Char {
            major: stat.rdev.0,
            minor: stat.rdev.1,
        },
        FileKind::Block => Kind::Block {
            major: stat.rdev.0,
            minor: stat.rdev.1,
        },
        FileKind::Fifo => Kind::Fifo,
        FileKind::Socket => Kind::Socket,
    };
    let index = scan.entries.len();
    if path != b"/" && walk.is_mount(&stat) {
        scan.mount_points.push(path.clone());
    }
    if stat.kind == FileKind::File {
        if stat.nlink > 1 {
            links.entry((stat.dev, stat.ino)).or_default().push(index);
            scan.link_counts.push((path.clone(), stat.nlink));
        }
        match hashed {
            Some(Ok(h)) => {
                sha = h.sha256;
                if let Some(x) = h.xattrs {
                    xattrs = x;
                }
            }
            Some(Err(problem)) => scan.problems.push(problem),
            None => {
                if stat.size == 0 || !walk.options.skips_content(&path) {
                    pending.push(pending_of(index, &stat, xattrs_from_file));
                }
            }
        }
    }
    let kind = match kind {
        Kind::File { size, .. } => Kind::File { size, sha256: sha },
        other => other,
    };
    scan.entries.push(Entry {
        path,
        kind,
        mode: stat.mode & 0o7777,
        uid: stat.uid,
        gid: stat.gid,
        hardlink: None,
        xattrs,
        package: None,
    });
}

fn read_apk_db(root: &Path, scan: &Scan, options: &ScanOptions) -> Option<Vec<u8>> {
    let entry = scan.entry(APK_DB)?;
    let Kind::File { size, .. } = entry.kind else {
        return None;
    };
    if size > MAX_APK_DB || options.prunes(APK_DB) || options.skips_content(APK_DB) {
        return None;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(on_disk(root, APK_DB))
        .ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_APK_DB).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn hash_pending(root: &Path, scan: &mut Scan, pending: &[Pending]) {
    let mut order: Vec<&Pending> = pending.iter().collect();
    // Largest first, so that the last file to finish is a small one.
    order.sort_unstable_by_key(|p| std::cmp::Reverse(p.size));
    let results: Vec<(usize, Result<Hashed, Problem>)> = order
        .par_iter()
        .with_max_len(64)
        .map(|p| {
            let path = &scan.entries[p.index].path;
            (p.index, hash_one(root, path, p))
        })
        .collect();
    for (index, result) in results {
        match result {
            Ok(hashed) => {
                let entry = &mut scan.entries[index];
                if let Kind::File { sha256, .. } = &mut entry.kind {
                    *sha256 = hashed.sha256;
                }
                if let Some(xattrs) = hashed.xattrs {
                    entry.xattrs = xattrs;
                }
            }
            Err(problem) => scan.problems.push(problem),
        }
    }
}

/// Whether `O_NOATIME` may be used; cleared at the first file that refuses it (it needs the
/// file's owner or `CAP_FOWNER`), so that each file is opened once.
static NOATIME: AtomicBool = AtomicBool::new(true);

/// Opens with `O_NOATIME` while it is allowed, so that the walk does not touch access times.
fn with_noatime(open: impl Fn(bool) -> io::Result<std::fs::File>) -> io::Result<std::fs::File> {
    if NOATIME.load(Ordering::Relaxed) {
        match open(true) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                NOATIME.store(false, Ordering::Relaxed);
                open(false)
            }
            other => other,
        }
    } else {
        open(false)
    }
}

/// `/proc/self/fd`, opened once and checked to be procfs (a directory planted where `/proc` is
/// not mounted is not used); `None` without it (early boot, a bare chroot).
fn proc_fd_dir() -> Option<&'static OwnedFd> {
    static DIR: OnceLock<Option<OwnedFd>> = OnceLock::new();
    DIR.get_or_init(|| {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let dir = rustix::fs::open("/proc/self/fd", flags, Mode::empty()).ok()?;
        let fs = rustix::fs::fstatfs(&dir).ok()?;
        (fs.f_type == rustix::fs::PROC_SUPER_MAGIC).then_some(dir)
    })
    .as_ref()
}

/// What a non-regular file is called in a finding.
fn type_name(ft: std::fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else {
        "regular file"
    }
}

/// Opens the regular file the walk listed for reading, without ever opening anything else:
/// `handle` resolves it to an `O_PATH` descriptor (which opens nothing: no device driver, no
/// FIFO), checked to be the listed inode and a regular file, then that very inode is reopened
/// through `/proc/self/fd`. Without `/proc`, `direct` opens it with
/// `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY` (and `O_NOATIME` when asked), which keeps symlinks and
/// FIFOs harmless but would open a device swapped in since the listing.
fn open_listed(
    p: &Pending,
    handle: impl FnOnce() -> io::Result<std::fs::File>,
    direct: impl Fn(bool) -> io::Result<std::fs::File>,
) -> Result<std::fs::File, OpenError> {
    let Some(proc_fd) = proc_fd_dir() else {
        return with_noatime(direct).map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                OpenError::NotRegular("symlink")
            } else {
                OpenError::Io(e)
            }
        });
    };
    let handle = handle().map_err(OpenError::Io)?;
    let meta = handle.metadata().map_err(OpenError::Io)?;
    if !meta.is_file() {
        return Err(OpenError::NotRegular(type_name(meta.file_type())));
    }
    if meta.dev() != p.dev || meta.ino() != p.ino {
        return Err(OpenError::OtherInode);
    }
    let name = handle.as_raw_fd().to_string();
    with_noatime(|noatime| {
        let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        if noatime {
            flags |= OFlags::NOATIME;
        }
        rustix::fs::openat(proc_fd, name.as_str(), flags, Mode::empty())
            .map(std::fs::File::from)
            .map_err(io::Error::from)
    })
    .map_err(OpenError::Io)
}

enum OpenError {
    /// The path now names another regular file than the one listed.
    OtherInode,
    /// The path now names something that is not a regular file (never opened).
    NotRegular(&'static str),
    Io(io::Error),
}

/// Hashes one regular file listed by the walk, by its path from the root.
fn hash_one(root: &Path, path: &[u8], p: &Pending) -> Result<Hashed, Problem> {
    if p.size == 0 {
        return Ok(Hashed {
            sha256: Sha256::digest([]).into(),
            xattrs: None,
        });
    }
    let disk = on_disk(root, path);
    hash_listed(
        path,
        p,
        || {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&disk)
        },
        |noatime| {
            let atime = if noatime { libc::O_NOATIME } else { 0 };
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | atime)
                .open(&disk)
        },
    )
}

/// Hashes one regular file listed by the walk: opened by [`open_listed`], read up to its
/// listed size, then checked (one `fstat`) to be the same inode, still a regular file, with
/// the same size, mtime and ctime as when it was listed.
fn hash_listed(
    path: &[u8],
    p: &Pending,
    handle: impl FnOnce() -> io::Result<std::fs::File>,
    direct: impl Fn(bool) -> io::Result<std::fs::File>,
) -> Result<Hashed, Problem> {
    let changing = |detail: String| Problem {
        path: path.to_vec(),
        kind: ProblemKind::Changing,
        detail,
    };
    let mut file = open_listed(p, handle, direct).map_err(|e| match e {
        OpenError::OtherInode => changing("replaced during the walk".into()),
        OpenError::NotRegular(what) => changing(format!("replaced by a {what} during the walk")),
        OpenError::Io(e) => problem_from_io(path.to_vec(), &e),
    })?;
    let xattrs = if p.xattrs_from_file {
        let xattrs = read_xattrs_fd(&file).map_err(|e| Problem {
            path: path.to_vec(),
            kind: ProblemKind::Unreadable,
            detail: format!("extended attributes: {e}"),
        })?;
        Some(xattrs)
    } else {
        None
    };
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    let read = BUFFER.with(|cell| -> io::Result<()> {
        let mut buf = cell.borrow_mut();
        if buf.len() < READ_BUFFER {
            buf.resize(READ_BUFFER, 0);
        }
        // Never more than the listed size: a file swapped for an endless one cannot stall us.
        while total < p.size {
            let want = usize::try_from(p.size - total).map_or(buf.len(), |r| r.min(buf.len()));
            match file.read(&mut buf[..want]) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    total += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    read.map_err(|e| problem_from_io(path.to_vec(), &e))?;
    let after = file
        .metadata()
        .map_err(|e| problem_from_io(path.to_vec(), &e))?;
    if !after.is_file() || after.dev() != p.dev || after.ino() != p.ino {
        return Err(changing("replaced during the walk".into()));
    }
    if total != p.size
        || after.size() != p.size
        || (after.mtime(), after.mtime_nsec()) != p.mtime
        || (after.ctime(), after.ctime_nsec()) != p.ctime
    {
        return Err(changing(format!(
            "changed during the walk ({} bytes when listed, {} now, {total} read)",
            p.size,
            after.size()
        )));
    }
    Ok(Hashed {
        sha256: hasher.finalize().into(),
        xattrs,
    })
}

/// What reading a regular file gives: its digest, and its extended attributes when the walk
/// left them to be read from the open file.
#[derive(Debug)]
struct Hashed {
    sha256: [u8; 32],
    xattrs: Option<Option<[u8; 32]>>,
}

fn finish(scan: &mut Scan, links: HashMap<(u64, u64), Vec<usize>>) {
    for members in links.into_values() {
        if members.len() < 2 {
            continue;
        }
        let leader = members
            .iter()
            .map(|&i| scan.entries[i].path.clone())
            .min()
            .expect("two members");
        for &i in &members {
            if scan.entries[i].path != leader {
                scan.entries[i].hardlink = Some(leader.clone());
            }
        }
    }
    scan.entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    scan.problems.sort_by(|a, b| a.path.cmp(&b.path));
    scan.mount_points.sort();
    scan.link_counts.sort();
}

// ---------------------------------------------------------------------------------------------
// Archives

/// Normalises an archive member path (`./etc/passwd`, `etc/passwd/`) to an entry path
/// (`/etc/passwd`), refusing `..` and NUL.
fn member_path(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len() + 1);
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return None,
            p => {
                out.push(b'/');
                out.extend_from_slice(p);
            }
        }
    }
    if out.is_empty() {
        out.push(b'/');
    }
    manifest::is_normal_path(&out).then_some(out)
}

/// Reads an image archive (tar, gzip-compressed or not), streaming, and describes every
/// member. `name` is used in errors only. Later members replace earlier ones with the same
/// path, as extraction would.
///
/// # Errors
/// [`Error::Archive`] for unreadable or corrupt input, [`Error::UnsafeMember`] for a path
/// that escapes the root, [`Error::BadMember`] for a hard link to nothing or an unknown type.
pub fn scan_archive(reader: impl Read, name: &Path, options: &ScanOptions) -> Result<Scan, Error> {
    let archive_err = |source: io::Error| Error::Archive {
        path: name.to_path_buf(),
        source,
    };
    let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
    let gz = reader
        .fill_buf()
        .map_err(archive_err)?
        .starts_with(&[0x1f, 0x8b]);
    let inner: Box<dyn Read> = if gz {
        Box::new(flate2::bufread::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut archive = tar::Archive::new(inner);
    let mut entries: BTreeMap<Vec<u8>, Entry> = BTreeMap::new();
    let mut buf = vec![0u8; READ_BUFFER];
    let mut apk_db = None;
    for member in archive.entries().map_err(archive_err)? {
        let mut member = member.map_err(archive_err)?;
        let raw = member.path_bytes().into_owned();
        let path = member_path(&raw).ok_or_else(|| Error::UnsafeMember {
            path: name.to_path_buf(),
            member: manifest::escape(&raw),
        })?;
        let bad = |reason: String| Error::BadMember {
            path: name.to_path_buf(),
            member: manifest::escape(&raw),
            reason,
        };
        if entries.len() >= MAX_ARCHIVE_ENTRIES {
            return Err(Error::TooManyEntries {
                path: name.to_path_buf(),
            });
        }
        let header = member.header().clone();
        let mode = header.mode().map_err(|e| bad(e.to_string()))? & 0o7777;
        let uid = u32::try_from(header.uid().map_err(|e| bad(e.to_string()))?)
            .map_err(|_| bad("uid above 2^32".into()))?;
        let gid = u32::try_from(header.gid().map_err(|e| bad(e.to_string()))?)
            .map_err(|_| bad("gid above 2^32".into()))?;
        let mut attrs = Vec::new();
        if let Some(pax) = member.pax_extensions().map_err(archive_err)? {
            for ext in pax {
                let ext = ext.map_err(archive_err)?;
                if let Some(attr) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                    attrs.push((attr.to_vec(), ext.value_bytes().to_vec()));
                }
            }
        }
        let xattrs = xattrs_digest(&mut attrs);
        let link_target = || {
            member
                .link_name_bytes()
                .map(std::borrow::Cow::into_owned)
                .ok_or_else(|| bad("a link without a target".into()))
        };
        let mut hardlink = None;
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = member.size();
                let sha256 = if options.skips_content(&path) || options.prunes(&path) {
                    [0; 32]
                } else {
                    let mut hasher = Sha256::new();
                    let mut keep = (path == APK_DB && size <= MAX_APK_DB).then(Vec::new);
                    loop {
                        let n = member.read(&mut buf).map_err(archive_err)?;
                        if n == 0 {
                            break;
                        }
                        hasher.update(&buf[..n]);
                        if let Some(keep) = &mut keep {
                            keep.extend_from_slice(&buf[..n]);
                        }
                    }
                    if keep.is_some() {
                        apk_db = keep;
                    }
                    hasher.finalize().into()
                };
                Kind::File { size, sha256 }
            }
            tar::EntryType::Link => {
                let target = link_target()?;
                let target = member_path(&target).ok_or_else(|| Error::UnsafeMember {
                    path: name.to_path_buf(),
                    member: manifest::escape(&target),
                })?;
                let leader = entries
                    .get(&target)
                    .filter(|e| matches!(e.kind, Kind::File { .. }))
                    .ok_or_else(|| {
                        bad(format!(
                            "a hard link to `{}`, which is not an earlier regular file",
                            manifest::escape(&target)
                        ))
                    })?;
                hardlink = Some(leader.hardlink.clone().unwrap_or(target));
                leader.kind.clone()
            }
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink {
                target: link_target()?,
            },
            tar::EntryType::Char | tar::EntryType::Block => {
                let major = header
                    .device_major()
                    .map_err(|e| bad(e.to_string()))?
                    .unwrap_or(0);
                let minor = header
                    .device_minor()
                    .map_err(|e| bad(e.to_string()))?
                    .unwrap_or(0);
                if header.entry_type() == tar::EntryType::Char {
                    Kind::Char { major, minor }
                } else {
                    Kind::Block { major, minor }
                }
            }
            tar::EntryType::Fifo => Kind::Fifo,
            other => return Err(bad(format!("unsupported member type {other:?}"))),
        };
        entries.insert(
            path.clone(),
            Entry {
                path,
                kind,
                mode,
                uid,
                gid,
                hardlink,
                xattrs,
                package: None,
            },
        );
    }
    // Hard-link groups are led by their first path in sorted order, as for a walk.
    relead_hardlinks(&mut entries);
    // A later member may have replaced the database with something else.
    if !entries
        .get(APK_DB)
        .is_some_and(|e| matches!(e.kind, Kind::File { .. }) && e.hardlink.is_none())
    {
        apk_db = None;
    }
    let mut entries: Vec<Entry> = entries.into_values().collect();
    // A pruned path is recorded itself, as a walk records it; only what lies below is left out.
    entries.retain(|e| {
        !options
            .prune
            .iter()
            .any(|p| manifest::strictly_below(p, &e.path))
    });
    Ok(Scan {
        entries,
        problems: Vec::new(),
        mount_points: Vec::new(),
        link_counts: Vec::new(),
        apk_db,
    })
}

fn relead_hardlinks(entries: &mut BTreeMap<Vec<u8>, Entry>) {
    let mut groups: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
    for e in entries.values() {
        if let Some(leader) = &e.hardlink {
            groups
                .entry(leader.clone())
                .or_default()
                .push(e.path.clone());
        }
    }
    for (leader, mut members) in groups {
        members.push(leader.clone());
        members.sort();
        let first = members[0].clone();
        for m in members {
            if let Some(e) = entries.get_mut(&m) {
                e.hardlink = (m != first).then(|| first.clone());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Packages

/// Splits an apk `installed` database into its records (blank-line separated) and returns,
/// for each, the package name and the record's bytes.
#[must_use]
pub fn split_records<'a>(db: &'a [u8]) -> Vec<(String, &'a [u8])> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut push = |record: &'a [u8]| {
        if record.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let name = record
            .split(|&b| b == b'\n')
            .find_map(|l| l.strip_prefix(b"P:"))
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        out.push((name, record));
    };
    let mut i = 0;
    while i < db.len() {
        if db[i] == b'\n' && db.get(i + 1) == Some(&b'\n') {
            push(&db[start..=i]);
            start = i + 2;
            i += 2;
        } else {
            i += 1;
        }
    }
    if start < db.len() {
        push(&db[start..]);
    }
    out
}

/// SHA-256 of one database record, as kept in [`Package::record`].
#[must_use]
pub fn record_digest(record: &[u8]) -> [u8; 32] {
    Sha256::digest(record).into()
}

/// For each path (`/etc/passwd`), the package that owns it.
pub type Owners = BTreeMap<Vec<u8>, String>;

/// The packages a tree's `lib/apk/db/installed` lists (with the digest of each one's record),
/// and for each path (`/etc/passwd`) the package that owns it.
///
/// # Errors
/// The database's own error when it cannot be read.
pub fn packages_from_db(db: &[u8]) -> Result<(Vec<Package>, Owners), crate::apk::installed::Error> {
    let database = crate::apk::installed::Database::parse(db)?;
    let records: BTreeMap<String, [u8; 32]> = split_records(db)
        .into_iter()
        .map(|(name, record)| (name, record_digest(record)))
        .collect();
    let mut packages: Vec<Package> = database
        .packages
        .iter()
        .map(|p| Package {
            name: p.name.clone(),
            version: p.version.clone(),
            origin: p.origin.clone(),
            identity: p.checksum.clone(),
            record: records.get(&p.name).copied(),
        })
        .collect();
    packages.sort();
    let owners = database
        .owners()
        .into_iter()
        .map(|(path, name)| (format!("/{path}").into_bytes(), name))
        .collect();
    Ok((packages, owners))
}

/// Turns a complete scan into a manifest: the header as given, plus the installed packages
/// and each entry's owning package from the tree's apk database when it has one.
///
/// # Errors
/// [`Error::Incomplete`] naming the first entry that could not be described.
pub fn manifest_from_scan(
    scan: Scan,
    mut header: manifest::Header,
) -> Result<manifest::Manifest, Error> {
    if let Some(p) = scan.problems.first() {
        return Err(Error::Incomplete {
            path: manifest::escape(&p.path),
            detail: p.detail.clone(),
        });
    }
    let mut entries = scan.entries;
    if let Some(db) = &scan.apk_db {
        let (packages, owners) = packages_from_db(db).map_err(|e| Error::Incomplete {
            path: manifest::escape(APK_DB),
            detail: e.to_string(),
        })?;
        header.packages = packages;
        for entry in &mut entries {
            entry.package = owners.get(&entry.path).cloned();
        }
    }
    let mut manifest = manifest::Manifest { header, entries };
    manifest.canonicalise();
    Ok(manifest)
}

/// Where an apk database lives in a tree.
pub const APK_DB: &[u8] = b"/lib/apk/db/installed";

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("etc/sub")).unwrap();
        std::fs::write(r.join("etc/a"), b"alpha").unwrap();
        std::fs::write(r.join("etc/empty"), b"").unwrap();
        std::fs::hard_link(r.join("etc/a"), r.join("etc/sub/b")).unwrap();
        std::os::unix::fs::symlink("../a", r.join("etc/sub/link")).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(r.join("etc/fifo"))
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::create_dir_all(r.join("tmp/deep")).unwrap();
        std::fs::write(r.join("tmp/deep/x"), b"x").unwrap();
        dir
    }

    #[test]
    fn walks_without_following_or_opening_special_files() {
        let dir = tree();
        let options = ScanOptions {
            prune: vec![b"/tmp".to_vec()],
            skip_content: Vec::new(),
        };
        let scan = scan_root(dir.path(), &options).unwrap();
        let paths: Vec<String> = scan.entries.iter().map(Entry::display_path).collect();
        assert_eq!(
            paths,
            [
                "/",
                "/etc",
                "/etc/a",
                "/etc/empty",
                "/etc/fifo",
                "/etc/sub",
                "/etc/sub/b",
                "/etc/sub/link",
                "/tmp"
            ]
        );
        assert!(scan.problems.is_empty(), "{:?}", scan.problems);
        let a = scan.entry(b"/etc/a").unwrap();
        assert_eq!(
            a.kind,
            Kind::File {
                size: 5,
                sha256: Sha256::digest(b"alpha").into()
            }
        );
        assert_eq!(a.hardlink, None);
        assert_eq!(
            scan.entry(b"/etc/sub/b").unwrap().hardlink,
            Some(b"/etc/a".to_vec())
        );
        assert_eq!(scan.entry(b"/etc/fifo").unwrap().kind, Kind::Fifo);
        assert_eq!(
            scan.entry(b"/etc/sub/link").unwrap().kind,
            Kind::Symlink {
                target: b"../a".to_vec()
            }
        );
        let empty: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(
            scan.entry(b"/etc/empty").unwrap().kind,
            Kind::File {
                size: 0,
                sha256: empty
            }
        );
    }

    /// A regular file as the walk lists it for hashing.
    fn listed(path: &Path) -> Pending {
        let meta = std::fs::symlink_metadata(path).unwrap();
        Pending {
            index: 0,
            size: meta.size(),
            xattrs_from_file: true,
            dev: meta.dev(),
            ino: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    #[test]
    fn a_file_that_changes_or_is_replaced_during_the_walk_is_reported() {
        let dir = tree();
        let listed = listed(&dir.path().join("etc/a"));
        assert!(hash_one(dir.path(), b"/etc/a", &listed).is_ok());
        let grown = Pending { size: 3, ..listed };
        let err = hash_one(dir.path(), b"/etc/a", &grown).unwrap_err();
        assert_eq!(err.kind, ProblemKind::Changing);
        let replaced = Pending {
            ino: listed.ino + 1,
            ..listed
        };
        let err = hash_one(dir.path(), b"/etc/a", &replaced).unwrap_err();
        assert_eq!(
            (err.kind, err.detail.as_str()),
            (ProblemKind::Changing, "replaced during the walk")
        );
        let err = hash_one(dir.path(), b"/etc/sub/link", &listed).unwrap_err();
        assert_eq!(
            (err.kind, err.detail.as_str()),
            (
                ProblemKind::Changing,
                "replaced by a symlink during the walk"
            )
        );
        let err = hash_one(dir.path(), b"/etc/gone", &listed).unwrap_err();
        assert!(err.detail.starts_with("vanished"), "{}", err.detail);
    }

    #[test]
    #[allow(clippy::print_stderr)] // the visible note when the test cannot run here
    fn attributes_read_from_open_files_equal_those_read_by_path() {
        let dir = tree();
        let file = dir.path().join("etc/a");
        let empty = dir.path().join("etc/empty");
        for path in [&file, &empty, &dir.path().join("etc/sub")] {
            if let Err(e) = xattr::set(path, "user.basalt-test", b"value") {
                eprintln!("skipped: this filesystem refuses user attributes ({e})");
                return;
            }
        }
        let scan = scan_root(dir.path(), &ScanOptions::default()).unwrap();
        assert!(scan.problems.is_empty(), "{:?}", scan.problems);
        for (entry, path) in [("/etc/a", &file), ("/etc/empty", &empty)] {
            let expected = read_xattrs(path).unwrap();
            assert!(expected.is_some());
            assert_eq!(
                scan.entry(entry.as_bytes()).unwrap().xattrs,
                expected,
                "{entry}"
            );
        }
        let opened = std::fs::File::open(&file).unwrap();
        assert_eq!(
            read_xattrs_fd(&opened).unwrap(),
            read_xattrs(&file).unwrap()
        );
        assert!(scan.entry(b"/etc/sub").unwrap().xattrs.is_some());
        assert_eq!(scan.entry(b"/etc/sub/link").unwrap().xattrs, None);
    }

    #[test]
    fn a_special_file_swapped_in_after_the_listing_is_never_opened() {
        let dir = tree();
        let listed = listed(&dir.path().join("etc/a"));
        // Resolved without being opened: the type is known before any open(2) of the FIFO.
        let err = hash_one(dir.path(), b"/etc/fifo", &listed).unwrap_err();
        assert_eq!(
            (err.kind, err.detail.as_str()),
            (ProblemKind::Changing, "replaced by a FIFO during the walk")
        );
        let err = hash_one(dir.path(), b"/etc/sub", &listed).unwrap_err();
        assert_eq!(err.detail, "replaced by a directory during the walk");
        // A device node needs CAP_MKNOD; where it can be made, it is refused the same way.
        let dev = dir.path().join("etc/null");
        let made = std::process::Command::new("mknod")
            .arg(&dev)
            .args(["c", "1", "3"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if made {
            let err = hash_one(dir.path(), b"/etc/null", &listed).unwrap_err();
            assert_eq!(err.detail, "replaced by a character device during the walk");
        }
    }

    #[test]
    fn pruned_paths_are_recorded_but_not_entered_in_archives_and_trees() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/docker")).unwrap();
        std::fs::write(dir.path().join("var/lib/docker/state"), b"x").unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        builder.append_dir_all(".", dir.path()).unwrap();
        let bytes = builder.into_inner().unwrap();
        let options = ScanOptions {
            prune: vec![b"/var/lib".to_vec()],
            skip_content: Vec::new(),
        };
        let from_tar = scan_archive(bytes.as_slice(), Path::new("t.tar"), &options).unwrap();
        let from_dir = scan_root(dir.path(), &options).unwrap();
        for scan in [&from_tar, &from_dir] {
            assert!(scan.entry(b"/var/lib").is_some());
            assert!(scan.entry(b"/var/lib/docker").is_none());
            assert!(scan.entry(b"/var/lib/docker/state").is_none());
        }
    }

    #[test]
    fn archives_describe_like_trees() {
        let dir = tree();
        std::fs::remove_file(dir.path().join("etc/fifo")).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        builder.append_dir_all(".", dir.path()).unwrap();
        let bytes = builder.into_inner().unwrap();
        let from_tar = scan_archive(
            bytes.as_slice(),
            Path::new("t.tar"),
            &ScanOptions::default(),
        )
        .unwrap();
        let from_dir = scan_root(dir.path(), &ScanOptions::default()).unwrap();
        // tar's builder stores hard links as copies: compare everything else.
        let strip = |s: &Scan| -> Vec<(Vec<u8>, Kind, u32)> {
            s.entries
                .iter()
                .filter(|e| e.path != b"/")
                .map(|e| (e.path.clone(), e.kind.clone(), e.mode))
                .collect()
        };
        assert_eq!(strip(&from_tar), strip(&from_dir));

        // A hard-link member takes the content of its target and names the group's leader.
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_uid(0);
        header.set_gid(0);
        builder
            .append_data(&mut header, "z/file", &b"alpha"[..])
            .unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_size(0);
        link.set_entry_type(tar::EntryType::Link);
        link.set_mode(0o644);
        link.set_uid(0);
        link.set_gid(0);
        builder.append_link(&mut link, "a/link", "z/file").unwrap();
        let bytes = builder.into_inner().unwrap();
        let scan = scan_archive(
            bytes.as_slice(),
            Path::new("t.tar"),
            &ScanOptions::default(),
        )
        .unwrap();
        assert_eq!(scan.entry(b"/a/link").unwrap().hardlink, None);
        assert_eq!(
            scan.entry(b"/z/file").unwrap().hardlink,
            Some(b"/a/link".to_vec())
        );
        assert_eq!(
            scan.entry(b"/a/link").unwrap().kind,
            scan.entry(b"/z/file").unwrap().kind
        );
        let err = scan_archive(
            &b"not a tar archive at all"[..],
            Path::new("x"),
            &ScanOptions::default(),
        );
        assert!(err.is_err() || err.unwrap().entries.is_empty());
    }

    #[test]
    fn member_paths_are_normalised_or_refused() {
        assert_eq!(member_path(b"./etc/passwd"), Some(b"/etc/passwd".to_vec()));
        assert_eq!(member_path(b"etc/"), Some(b"/etc".to_vec()));
        assert_eq!(member_path(b"./"), Some(b"/".to_vec()));
        assert_eq!(member_path(b"../etc"), None);
        assert_eq!(member_path(b"a/../../b"), None);
    }

    #[test]
    fn device_numbers_decode() {
        assert_eq!(device(0x0103), (1, 3));
        assert_eq!(device((259 << 8) | 5), (259, 5));
    }

    #[test]
    fn database_records_give_packages_and_owners() {
        let db = b"C:Q1aa=\nP:musl\nV:1.2.5-r0\no:musl\nF:lib\nR:ld-musl.so.1\n\nP:busybox\nV:1.36\nF:bin\nR:busybox\nF:etc\nR:motd\n\n";
        let (packages, owners) = packages_from_db(db).unwrap();
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[0].name, "busybox");
        assert_eq!(packages[1].identity.as_deref(), Some("Q1aa="));
        assert_eq!(
            owners.get(b"/etc/motd".as_slice()).map(String::as_str),
            Some("busybox")
        );
        assert_eq!(
            owners
                .get(b"/lib/ld-musl.so.1".as_slice())
                .map(String::as_str),
            Some("musl")
        );
        let records = split_records(db);
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].0, "busybox");
        assert!(records[1].1.ends_with(b"R:motd\n"));
    }
}
