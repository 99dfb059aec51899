//! `walk`: the walk of a live root directory, in the manifest's order, at the speed of the disk.
//!
//! [`walk_root`] hands every entry below a root to a consumer one at a time, sorted by path
//! bytes exactly as [`crate::integrity::manifest`] sorts entries, so that a manifest of any size can be
//! merged with the tree as it is walked, and neither list is ever held whole.
//!
//! How the order and the speed go together:
//! - A directory's listing (`getdents`, then one `statx` per entry, link targets and extended
//!   attributes) and each regular file's content are tasks. A fixed number of reader threads
//!   ([`readers`]: at least [`READERS`], whatever the number of cores) runs them, nearest to the
//!   consumer first (smallest path), so that on a cold page cache that many reads are in flight
//!   at once. While every file read comes from the page cache (the first read of each file
//!   asks for cached data only, `RWF_NOWAIT`), only one more reader than the cores works: more
//!   would only take turns on the cores hashing; the first file read from the disk wakes the
//!   others.
//! - A directory's entries are emitted in the order of full paths: its own entry at its name,
//!   its subtree at its name followed by `/` (so `/a`, `/a-b`, then `/a/x`).
//! - Work ahead of the consumer is bounded: at most [`MAX_LISTED_ENTRIES`] entries in at most
//!   [`MAX_LISTED_DIRS`] directories are listed and not yet consumed; a task the consumer needs
//!   that no reader has started is run by the consumer itself. Memory (and open directories)
//!   grows with that window and with the depth of the tree, never with its size; each reader
//!   reads through one reused buffer, so it never grows with file sizes either.
//!
//! What stays as the host walk has always done it:
//! - Nothing is written. Symlinks are never followed; directories are opened one by one
//!   relative to their parent (`openat` with `O_NOFOLLOW | O_DIRECTORY`, then checked to be the
//!   listed inode), and every entry is described relative to its directory, so that neither a
//!   symlink swapped in for a directory nor a path longer than the kernel's limit leads the walk
//!   astray. The walk never leaves the root's filesystem (a mount point is recorded, not
//!   entered).
//! - FIFOs, sockets and devices are never opened, not even when one replaces a listed file
//!   during the walk: a regular file is resolved without opening it (`O_PATH`), checked to be
//!   the listed inode, and only then opened (through a procfs-checked `/proc/self/fd`); after
//!   reading, it is checked again to be unchanged.
//! - A file that cannot be read, or that changes or vanishes during the walk, is reported as a
//!   [`Problem`] with its entry; only a root that cannot be read at all is an error.

use std::cell::RefCell;
use std::collections::{BinaryHeap, HashMap};
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io;
use std::ops::ControlFlow;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use rustix::fs::{Mode, OFlags};
use sha2::{Digest, Sha256};

use crate::integrity::host::{APK_DB, Error, Item, MAX_APK_DB, Problem, ProblemKind, ScanOptions};
use crate::integrity::manifest::{Entry, Kind, xattrs_digest};

/// The fewest reader threads a walk runs, whatever the number of cores: on a cold page cache,
/// the number of reads in flight. (More cores get one reader each.)
pub const READERS: usize = 32;

/// Most entries listed ahead of the consumer (a bound on memory, not on the tree).
pub const MAX_LISTED_ENTRIES: usize = 65_536;

/// Most directories listed ahead of the consumer (a bound on open directories).
pub const MAX_LISTED_DIRS: usize = 512;

/// The most nested directories walked below the root; deeper ones are a problem, not a hang.
pub const MAX_DEPTH: usize = 8192;

/// Size of each reader's read buffer.
const READ_BUFFER: usize = 256 * 1024;

/// Size of the buffer directories are listed through.
const DIR_BUFFER: usize = 32 * 1024;

/// How many reader threads a walk runs: [`READERS`], or one per core when there are more.
#[must_use]
pub fn readers() -> usize {
    cores().max(READERS)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// What a walk leaves beside its entries.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The bytes of `lib/apk/db/installed`, when the tree has one as a regular file (at most
    /// [`MAX_APK_DB`] bytes) whose content was read, and the walk hashed the same bytes.
    pub apk_db: Option<Vec<u8>>,
}

// ---------------------------------------------------------------------------------------------
// What one entry is

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

fn device(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (
        u32::try_from(major).unwrap_or(u32::MAX),
        u32::try_from(minor).unwrap_or(u32::MAX),
    )
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

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(dir.len() + 1 + name.len());
    join_into(&mut path, dir, name);
    path
}

fn join_into(path: &mut Vec<u8>, dir: &[u8], name: &[u8]) {
    path.clear();
    path.extend_from_slice(dir);
    if dir != b"/" {
        path.push(b'/');
    }
    path.extend_from_slice(name);
}

pub(crate) fn problem_from_io(path: Vec<u8>, e: &io::Error) -> Problem {
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

// ---------------------------------------------------------------------------------------------
// Extended attributes

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

/// Extended attributes of an open file or directory (no path lookup).
fn read_xattrs_fd(file: &File) -> io::Result<Option<[u8; 32]>> {
    use xattr::FileExt;
    xattrs_from(file.list_xattr(), |name| file.get_xattr(name))
}

// ---------------------------------------------------------------------------------------------
// Opening and reading a listed regular file

/// What the listing said of a regular file whose content is read.
#[derive(Debug, Clone, Copy)]
struct Listed {
    size: u64,
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    /// Its extended attributes are read from the open file.
    xattrs_from_file: bool,
}

impl Listed {
    fn of(stat: &Stat, xattrs_from_file: bool) -> Listed {
        Listed {
            size: stat.size,
            dev: stat.dev,
            ino: stat.ino,
            mtime: stat.mtime,
            ctime: stat.ctime,
            xattrs_from_file,
        }
    }
}

/// What reading a regular file gives: its digest, and its extended attributes when the walk
/// left them to be read from the open file.
#[derive(Debug, Clone, Copy)]
struct Hashed {
    sha256: [u8; 32],
    xattrs: Option<Option<[u8; 32]>>,
}

/// Whether `O_NOATIME` may be used; cleared at the first file that refuses it (it needs the
/// file's owner or `CAP_FOWNER`), so that each file is opened once.
static NOATIME: AtomicBool = AtomicBool::new(true);

/// Opens with `O_NOATIME` while it is allowed, so that the walk does not touch access times.
fn with_noatime(open: impl Fn(bool) -> io::Result<File>) -> io::Result<File> {
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

enum OpenError {
    /// The name now names another regular file than the one listed.
    OtherInode,
    /// The name now names something that is not a regular file (never opened).
    NotRegular(&'static str),
    Io(io::Error),
}

/// Opens the regular file `name` in `dir` that the walk listed, without ever opening anything
/// else: it is resolved to an `O_PATH` descriptor (which opens nothing: no device driver, no
/// FIFO), checked to be the listed inode and a regular file, then that very inode is reopened
/// through `/proc/self/fd`. Without `/proc`, it is opened with
/// `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY`, which keeps symlinks and FIFOs harmless but would open
/// a device swapped in since the listing.
fn open_listed(dir: BorrowedFd<'_>, name: &CStr, listed: &Listed) -> Result<File, OpenError> {
    let open = |flags: OFlags| {
        rustix::fs::openat(dir, name, flags | OFlags::CLOEXEC, Mode::empty())
            .map(File::from)
            .map_err(io::Error::from)
    };
    let read_flags = |noatime: bool| {
        let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
        if noatime {
            flags |= OFlags::NOATIME;
        }
        flags
    };
    let Some(proc_fd) = proc_fd_dir() else {
        return with_noatime(|noatime| open(read_flags(noatime) | OFlags::NOFOLLOW)).map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                OpenError::NotRegular("symlink")
            } else {
                OpenError::Io(e)
            }
        });
    };
    let handle = open(OFlags::PATH | OFlags::NOFOLLOW).map_err(OpenError::Io)?;
    let meta = handle.metadata().map_err(OpenError::Io)?;
    if !meta.is_file() {
        return Err(OpenError::NotRegular(type_name(meta.file_type())));
    }
    if meta.dev() != listed.dev || meta.ino() != listed.ino {
        return Err(OpenError::OtherInode);
    }
    let number = itoa_fd(handle.as_raw_fd());
    let number = CStr::from_bytes_until_nul(&number[..])
        .map_err(|_| OpenError::Io(io::Error::new(io::ErrorKind::InvalidInput, "descriptor")))?;
    with_noatime(|noatime| {
        rustix::fs::openat(
            proc_fd,
            number,
            read_flags(noatime) | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map(File::from)
        .map_err(io::Error::from)
    })
    .map_err(OpenError::Io)
}

/// Opens the regular file at `disk` for reading as the walk opens what it lists: resolved to an
/// `O_PATH` descriptor without following a symlink, checked to be a regular file, and only then
/// opened (through `/proc/self/fd`), so that a FIFO, socket or device is never opened. `None`
/// when nothing is there or it is not a regular file. The one way basalt opens a file of a root
/// directory it reads outside a walk ([`super::rootfs`]).
///
/// # Errors
/// I/O errors other than "not there".
pub fn open_regular(disk: &Path) -> io::Result<Option<File>> {
    let missing = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
        ) || e.raw_os_error() == Some(libc::ELOOP)
    };
    let read_flags = |noatime: bool| {
        let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        if noatime {
            flags |= OFlags::NOATIME;
        }
        flags
    };
    let Some(proc_fd) = proc_fd_dir() else {
        let opened = with_noatime(|noatime| {
            rustix::fs::open(disk, read_flags(noatime) | OFlags::NOFOLLOW, Mode::empty())
                .map(File::from)
                .map_err(io::Error::from)
        });
        return match opened {
            Ok(file) if file.metadata()?.is_file() => Ok(Some(file)),
            Ok(_) => Ok(None),
            Err(e) if missing(&e) => Ok(None),
            Err(e) => Err(e),
        };
    };
    let handle = match rustix::fs::open(
        disk,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => File::from(fd),
        Err(e) => {
            let e = io::Error::from(e);
            return if missing(&e) { Ok(None) } else { Err(e) };
        }
    };
    if !handle.metadata()?.is_file() {
        return Ok(None);
    }
    let number = itoa_fd(handle.as_raw_fd());
    let number = CStr::from_bytes_until_nul(&number[..])
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "descriptor"))?;
    with_noatime(|noatime| {
        rustix::fs::openat(proc_fd, number, read_flags(noatime), Mode::empty())
            .map(File::from)
            .map_err(io::Error::from)
    })
    .map(Some)
}

/// A descriptor number as a NUL-terminated decimal name, without allocating.
fn itoa_fd(fd: i32) -> [u8; 12] {
    let mut out = [0u8; 12];
    let mut digits = [0u8; 11];
    let mut n = u32::try_from(fd).unwrap_or(0);
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        out[i] = digits[len - 1 - i];
    }
    out
}

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The first read of a file: what the page cache holds at its start, without waiting for the
/// disk; when it holds nothing there (or the kernel cannot tell), an ordinary read, with
/// `cold` set in the first case.
fn cached_read(file: &File, buf: &mut [u8], cold: &AtomicBool) -> io::Result<usize> {
    let nowait = rustix::io::preadv2(
        file,
        &mut [io::IoSliceMut::new(buf)],
        0,
        rustix::io::ReadWriteFlags::NOWAIT,
    );
    match nowait {
        Ok(n) => Ok(n),
        Err(rustix::io::Errno::AGAIN) => {
            cold.store(true, Ordering::Relaxed);
            file.read_at(buf, 0)
        }
        // Interrupted, or no `RWF_NOWAIT` here (old kernels, some filesystems).
        Err(_) => file.read_at(buf, 0),
    }
}

/// Reads the regular file `name` in `dir` that the walk listed: opened by [`open_listed`],
/// read up to its listed size (into `keep` too, when given), then checked (one `fstat`) to be
/// the same inode, still a regular file, with the same size, mtime and ctime as when it was
/// listed. `path` names it in a problem. The first read asks only for what the page cache
/// holds (`RWF_NOWAIT`); when it holds none of the file, `cold` is set (and the file is read
/// from the disk as usual).
fn read_listed(
    dir: BorrowedFd<'_>,
    name: &CStr,
    listed: &Listed,
    path: impl Fn() -> Vec<u8>,
    mut keep: Option<&mut Vec<u8>>,
    cold: &AtomicBool,
) -> Result<Hashed, Problem> {
    let changing = |detail: String| Problem {
        path: path(),
        kind: ProblemKind::Changing,
        detail,
    };
    let file = open_listed(dir, name, listed).map_err(|e| match e {
        OpenError::OtherInode => changing("replaced during the walk".into()),
        OpenError::NotRegular(what) => changing(format!("replaced by a {what} during the walk")),
        OpenError::Io(e) => problem_from_io(path(), &e),
    })?;
    let xattrs = if listed.xattrs_from_file {
        let xattrs = read_xattrs_fd(&file).map_err(|e| Problem {
            path: path(),
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
        while total < listed.size {
            let want = usize::try_from(listed.size - total).map_or(buf.len(), |r| r.min(buf.len()));
            let got = if total == 0 {
                cached_read(&file, &mut buf[..want], cold)
            } else {
                file.read_at(&mut buf[..want], total)
            };
            match got {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    if let Some(keep) = keep.as_deref_mut() {
                        keep.extend_from_slice(&buf[..n]);
                    }
                    total += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    read.map_err(|e| problem_from_io(path(), &e))?;
    let after = file.metadata().map_err(|e| problem_from_io(path(), &e))?;
    if !after.is_file() || after.dev() != listed.dev || after.ino() != listed.ino {
        return Err(changing("replaced during the walk".into()));
    }
    if total != listed.size
        || after.size() != listed.size
        || (after.mtime(), after.mtime_nsec()) != listed.mtime
        || (after.ctime(), after.ctime_nsec()) != listed.ctime
    {
        return Err(changing(format!(
            "changed during the walk ({} bytes when listed, {} now, {total} read)",
            listed.size,
            after.size()
        )));
    }
    Ok(Hashed {
        sha256: hasher.finalize().into(),
        xattrs,
    })
}

// ---------------------------------------------------------------------------------------------
// Listings

/// Where an entry's extended attributes come from.
#[derive(Debug, Clone, Copy)]
enum Xattrs {
    /// Read by path during the listing.
    Read(Option<[u8; 32]>),
    /// Read from the file when its content is read.
    FromFile,
    /// Read from the directory when it is listed.
    FromDir,
}

/// What is still to be done for an entry after its listing.
enum Task {
    None,
    /// Its content is read: the index in the listing's [`Listing::files`].
    File(u32),
    /// It is a directory that is entered.
    Dir(Arc<DirTask>),
}

/// An entry described by its directory's listing.
struct Found {
    stat: Stat,
    target: Option<Vec<u8>>,
    xattrs: Xattrs,
    /// Another filesystem (or a bind mount) is mounted here.
    mount: bool,
    task: Task,
}

/// One name of a listing.
struct Child {
    name: CString,
    found: Result<Found, Problem>,
}

/// One step of a listing in the order of full paths: an entry itself, or the subtree of an
/// entered directory (which sorts as its name followed by `/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Entry(u32),
    Enter(u32),
}

/// The state of a task's result.
enum Slot<T> {
    Queued,
    Running,
    Done(T),
    Taken,
}

impl<T> Slot<T> {
    /// Takes the result of a task that is done.
    fn take(&mut self) -> Option<T> {
        if !matches!(self, Slot::Done(_)) {
            return None;
        }
        match std::mem::replace(self, Slot::Taken) {
            Slot::Done(t) => Some(t),
            _ => None,
        }
    }

    /// Claims a queued task; false when another thread has it.
    fn claim(&mut self) -> bool {
        if matches!(self, Slot::Queued) {
            *self = Slot::Running;
            true
        } else {
            false
        }
    }
}

/// A listed directory: its entries, what is still to be read in it, and its descriptor while
/// anything is.
struct Listing {
    path: Vec<u8>,
    /// The directory's own extended attributes (read from it), or why they could not be read,
    /// or why it could not be listed entirely.
    xattrs: Option<[u8; 32]>,
    problem: Option<Problem>,
    children: Vec<Child>,
    order: Vec<Step>,
    /// The children whose content is read, in order.
    files: Vec<u32>,
    /// The next of `files` to hand to a reader (changed under the scheduler's lock).
    next_file: AtomicUsize,
    /// Files not read yet; the directory is closed when none is left.
    files_left: AtomicUsize,
    results: Vec<Mutex<Slot<Result<Hashed, Problem>>>>,
    fd: Mutex<Option<Arc<File>>>,
}

/// A directory to list: its name in its parent, and what the parent's listing said of it.
struct DirTask {
    parent: Mutex<Option<Arc<File>>>,
    name: CString,
    path: Vec<u8>,
    depth: usize,
    dev: u64,
    ino: u64,
    result: Mutex<Slot<Result<Arc<Listing>, Problem>>>,
}

/// Compares two steps as the full paths they stand for: `name` for an entry, `name/` for a
/// subtree.
fn step_order(a: &[u8], a_sub: bool, b: &[u8], b_sub: bool) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    a[..n].cmp(&b[..n]).then_with(|| {
        let next = |s: &[u8], sub: bool| s.get(n).copied().or(sub.then_some(b'/'));
        next(a, a_sub).cmp(&next(b, b_sub))
    })
}

/// What names a slot for the reader that fills it and the consumer that waits for it.
fn slot_id<T>(slot: &Mutex<Slot<T>>) -> usize {
    std::ptr::from_ref(slot) as usize
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The fixed part of a walk: the root and what is left out.
struct Walk<'a> {
    root: &'a Path,
    root_dev: u64,
    root_mnt: Option<u64>,
    options: &'a ScanOptions,
    /// A file was read from the disk rather than the page cache: the walk is I/O-bound.
    cold: AtomicBool,
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

    /// A path naming `name` in `dir` that the xattr calls can take: through `/proc/self/fd`
    /// (short whatever the depth), else the path from the root.
    fn xattr_path(&self, dir: &File, name: &CStr, path: &[u8]) -> PathBuf {
        if proc_fd_dir().is_some() {
            let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
            p.push(OsStr::from_bytes(name.to_bytes()));
            p
        } else if path == b"/" {
            self.root.to_path_buf()
        } else {
            self.root.join(OsStr::from_bytes(&path[1..]))
        }
    }

    /// Describes `name` in `dir` from its `statx`: link target, extended attributes unless
    /// they are read later, and what is left to do.
    fn describe(&self, dir: &File, name: &CStr, path: &[u8]) -> Result<Found, Problem> {
        let stat = stat_at(dir.as_fd(), name).map_err(|e| problem_from_io(path.to_vec(), &e))?;
        let target = if stat.kind == FileKind::Symlink {
            match rustix::fs::readlinkat(dir.as_fd(), name, Vec::new()) {
                Ok(t) => Some(t.into_bytes()),
                Err(e) => return Err(problem_from_io(path.to_vec(), &e.into())),
            }
        } else {
            None
        };
        let mount = self.is_mount(&stat);
        let hashed =
            stat.kind == FileKind::File && stat.size > 0 && !self.options.skips_content(path);
        let entered = stat.kind == FileKind::Dir && !mount && !self.options.prunes(path);
        // A file whose content is read is opened anyway, and an entered directory too: their
        // attributes are read from them then, which saves a path lookup here.
        let xattrs = if hashed {
            Xattrs::FromFile
        } else if entered {
            Xattrs::FromDir
        } else {
            match read_xattrs(&self.xattr_path(dir, name, path)) {
                Ok(x) => Xattrs::Read(x),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(problem_from_io(path.to_vec(), &e));
                }
                Err(e) => {
                    return Err(Problem {
                        path: path.to_vec(),
                        kind: ProblemKind::Unreadable,
                        detail: format!("extended attributes: {e}"),
                    });
                }
            }
        };
        Ok(Found {
            stat,
            target,
            xattrs,
            mount,
            task: Task::None,
        })
    }

    /// Lists the open directory `dir` at `path`: every entry described, in order, with the
    /// tasks its files and subdirectories need.
    fn list(&self, dir: File, path: Vec<u8>, depth: usize) -> Listing {
        let mut problem = None;
        let xattrs = match read_xattrs_fd(&dir) {
            Ok(x) => x,
            Err(e) => {
                problem = Some(Problem {
                    path: path.clone(),
                    kind: ProblemKind::Unreadable,
                    detail: format!("extended attributes: {e}"),
                });
                None
            }
        };
        let mut children = Vec::new();
        let mut child_path = Vec::with_capacity(path.len() + 64);
        let mut buf: Vec<u8> = Vec::with_capacity(DIR_BUFFER);
        let mut names = rustix::fs::RawDir::new(&dir, buf.spare_capacity_mut());
        while let Some(item) = names.next() {
            let item = match item {
                Ok(item) => item,
                Err(e) => {
                    problem.get_or_insert_with(|| problem_from_io(path.clone(), &e.into()));
                    break;
                }
            };
            let name = item.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            join_into(&mut child_path, &path, name.to_bytes());
            let found = self.describe(&dir, name, &child_path);
            children.push(Child {
                name: name.to_owned(),
                found,
            });
        }
        // The order of full paths: each name, and each entered directory's subtree at its
        // name followed by `/`.
        let mut order: Vec<Step> = Vec::with_capacity(children.len() + 8);
        for (i, child) in children.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            order.push(Step::Entry(i));
            if let Ok(found) = &child.found
                && found.xattrs_from_dir()
            {
                order.push(Step::Enter(i));
            }
        }
        let key = |step: &Step| match *step {
            Step::Entry(i) => (children[i as usize].name.to_bytes(), false),
            Step::Enter(i) => (children[i as usize].name.to_bytes(), true),
        };
        order.sort_unstable_by(|a, b| {
            let (a, a_sub) = key(a);
            let (b, b_sub) = key(b);
            step_order(a, a_sub, b, b_sub)
        });
        let dir = Arc::new(dir);
        let mut files = Vec::new();
        for step in &order {
            let Step::Entry(i) = *step else { continue };
            let child = &mut children[i as usize];
            let Ok(found) = &mut child.found else {
                continue;
            };
            match found.xattrs {
                Xattrs::FromFile => {
                    found.task = Task::File(u32::try_from(files.len()).unwrap_or(u32::MAX));
                    files.push(i);
                }
                Xattrs::FromDir => {
                    found.task = Task::Dir(Arc::new(DirTask {
                        parent: Mutex::new(Some(Arc::clone(&dir))),
                        name: child.name.clone(),
                        path: join(&path, child.name.to_bytes()),
                        depth: depth + 1,
                        dev: found.stat.dev,
                        ino: found.stat.ino,
                        result: Mutex::new(Slot::Queued),
                    }));
                }
                Xattrs::Read(_) => {}
            }
        }
        let results = files.iter().map(|_| Mutex::new(Slot::Queued)).collect();
        Listing {
            path,
            xattrs,
            problem,
            children,
            order,
            next_file: AtomicUsize::new(0),
            files_left: AtomicUsize::new(files.len()),
            fd: Mutex::new((!files.is_empty()).then_some(dir)),
            files,
            results,
        }
    }

    /// Opens and lists a subdirectory the parent's listing found, checking that it is still
    /// the directory listed.
    fn list_subdir(&self, task: &DirTask) -> Result<Listing, Problem> {
        let parent = lock(&task.parent).take();
        let Some(parent) = parent else {
            return Err(Problem {
                path: task.path.clone(),
                kind: ProblemKind::Unreadable,
                detail: "listed twice".into(),
            });
        };
        if task.depth >= MAX_DEPTH {
            return Err(Problem {
                path: task.path.clone(),
                kind: ProblemKind::Unreadable,
                detail: format!("more than {MAX_DEPTH} nested directories below the root"),
            });
        }
        let fd = rustix::fs::openat(
            parent.as_fd(),
            task.name.as_c_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => Problem {
                path: task.path.clone(),
                kind: ProblemKind::Changing,
                detail: "replaced during the walk".into(),
            },
            e => problem_from_io(task.path.clone(), &e.into()),
        })?;
        drop(parent);
        let stat = stat_at(fd.as_fd(), c"").map_err(|e| problem_from_io(task.path.clone(), &e))?;
        if (stat.dev, stat.ino) != (task.dev, task.ino) {
            return Err(Problem {
                path: task.path.clone(),
                kind: ProblemKind::Changing,
                detail: "replaced during the walk".into(),
            });
        }
        Ok(self.list(File::from(fd), task.path.clone(), task.depth))
    }

    /// Reads file `k` of `listing`.
    fn read_file(&self, listing: &Listing, k: usize) -> Result<Hashed, Problem> {
        let child = &listing.children[listing.files[k] as usize];
        let path = || join(&listing.path, child.name.to_bytes());
        let fd = lock(&listing.fd).clone();
        let result = match (&child.found, fd) {
            (Ok(found), Some(fd)) => read_listed(
                fd.as_fd(),
                &child.name,
                &Listed::of(&found.stat, true),
                path,
                None,
                &self.cold,
            ),
            _ => Err(Problem {
                path: path(),
                kind: ProblemKind::Unreadable,
                detail: "read twice".into(),
            }),
        };
        if listing.files_left.fetch_sub(1, Ordering::AcqRel) == 1 {
            lock(&listing.fd).take();
        }
        result
    }
}

impl Listing {
    /// The listed size of file `k`.
    fn size_of(&self, k: usize) -> u64 {
        match &self.children[self.files[k] as usize].found {
            Ok(found) => found.stat.size,
            Err(_) => 0,
        }
    }
}

impl Found {
    fn xattrs_from_dir(&self) -> bool {
        matches!(self.xattrs, Xattrs::FromDir)
    }
}

// ---------------------------------------------------------------------------------------------
// Scheduling

/// A listing or a directory task in a heap, nearest to the consumer (smallest path) first.
struct ByPath<T>(Arc<T>, fn(&T) -> &[u8]);

impl<T> PartialEq for ByPath<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.1)(&self.0) == (other.1)(&other.0)
    }
}
impl<T> Eq for ByPath<T> {}
impl<T> PartialOrd for ByPath<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for ByPath<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // A max-heap: the smallest path is the greatest.
        (other.1)(&other.0).cmp((self.1)(&self.0))
    }
}

fn listing_path(l: &Listing) -> &[u8] {
    &l.path
}

fn task_path(t: &DirTask) -> &[u8] {
    &t.path
}

#[derive(Default)]
struct State {
    dirs: BinaryHeap<ByPath<DirTask>>,
    files: BinaryHeap<ByPath<Listing>>,
    /// Entries of the listings made and not yet consumed.
    listed_entries: usize,
    /// Listings made or being made, not yet consumed.
    listed_dirs: usize,
    /// Readers waiting for work.
    idle: usize,
    /// Readers allowed to take work: one more than the cores while every file read so far
    /// was in the page cache (more threads would only take turns on the cores), all of them
    /// once one was not (then each is a read in flight).
    active: usize,
    /// What the consumer waits for.
    waiting: Option<Waiting>,
    /// Tasks done.
    completed: u64,
    stop: bool,
}

enum Job {
    Dir(Arc<DirTask>),
    /// Files `start..start + 32` of a listing, those whose bit is set in the mask.
    Files(Arc<Listing>, usize, u32),
}

/// Most small files a reader takes at once (at most 32: a mask holds them), and the bytes at
/// which it stops adding files: fewer trips through the scheduler's lock.
const BATCH_FILES: usize = 16;
const BATCH_BYTES: u64 = 256 * 1024;

/// What the consumer waits for: a slot, and (so that it wakes once for a run of results
/// rather than for each) a number of tasks done.
struct Waiting {
    slot: usize,
    /// The slot is done.
    ready: bool,
    /// Wake when this many tasks are done (or no reader has anything left to do).
    until: u64,
}

struct Shared<'a> {
    walk: Walk<'a>,
    tuning: Tuning,
    state: Mutex<State>,
    /// Readers wait here for work.
    work: Condvar,
    /// Readers beyond the active ones wait here until the walk turns out to be I/O-bound.
    parked: Condvar,
    /// The consumer waits here for a result.
    ready: Condvar,
}

impl Shared<'_> {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The next job for a reader: the nearest file or directory, a directory only while the
    /// window ahead of the consumer has room.
    fn pick(&self, state: &mut State) -> Option<Job> {
        loop {
            let room = state.listed_entries < self.tuning.max_listed_entries
                && state.listed_dirs < self.tuning.max_listed_dirs;
            let dir_first = match (state.dirs.peek(), state.files.peek()) {
                (Some(d), Some(f)) => room && d.0.path < f.0.path,
                (Some(_), None) => room,
                (None, Some(_)) => false,
                (None, None) => return None,
            };
            if dir_first {
                let task = state.dirs.pop()?.0;
                if lock(&task.result).claim() {
                    state.listed_dirs += 1;
                    return Some(Job::Dir(task));
                }
            } else {
                let listing = Arc::clone(&state.files.peek()?.0);
                let start = listing.next_file.load(Ordering::Relaxed);
                let mut end = start;
                let mut bytes = 0;
                while end < listing.files.len() && end - start < BATCH_FILES && bytes < BATCH_BYTES
                {
                    bytes += listing.size_of(end);
                    end += 1;
                }
                listing.next_file.store(end, Ordering::Relaxed);
                if end >= listing.files.len() {
                    state.files.pop();
                }
                let mut mask = 0u32;
                for k in start..end {
                    if lock(&listing.results[k]).claim() {
                        mask |= 1 << (k - start);
                    }
                }
                if mask != 0 {
                    return Some(Job::Files(listing, start, mask));
                }
            }
        }
    }

    /// Reader `i`: runs jobs until the walk stops.
    fn reader(&self, i: usize) {
        let mut state = self.state();
        loop {
            if state.stop {
                return;
            }
            if state.active < self.tuning.readers && self.walk.cold.load(Ordering::Relaxed) {
                // A file came from the disk: every reader is a read in flight now.
                state.active = self.tuning.readers;
                self.parked.notify_all();
            }
            if i >= state.active {
                state = self
                    .parked
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            let Some(job) = self.pick(&mut state) else {
                // Nothing left to do: the consumer must not wait for more results.
                if state.waiting.as_ref().is_some_and(|w| w.ready) {
                    self.ready.notify_one();
                }
                state.idle += 1;
                state = self
                    .work
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                state.idle -= 1;
                continue;
            };
            drop(state);
            let mut done = Vec::with_capacity(BATCH_FILES);
            match job {
                Job::Dir(task) => {
                    let result = self.run_dir(&task);
                    *lock(&task.result) = Slot::Done(result);
                    done.push(slot_id(&task.result));
                }
                Job::Files(listing, start, mask) => {
                    for k in (start..start + 32).filter(|k| mask & (1 << (k - start)) != 0) {
                        let result = self.walk.read_file(&listing, k);
                        *lock(&listing.results[k]) = Slot::Done(result);
                        done.push(slot_id(&listing.results[k]));
                    }
                }
            }
            state = self.state();
            state.completed += done.len() as u64;
            let completed = state.completed;
            if let Some(waiting) = &mut state.waiting {
                waiting.ready |= done.contains(&waiting.slot);
                if waiting.ready && completed >= waiting.until {
                    self.ready.notify_one();
                }
            }
        }
    }

    /// Lists a directory task (claimed by the caller) and queues what its listing found.
    fn run_dir(&self, task: &DirTask) -> Result<Arc<Listing>, Problem> {
        let listed = self.walk.list_subdir(task).map(Arc::new);
        self.listed(listed.as_ref().ok());
        listed
    }

    /// Queues the files and subdirectories of a new listing (or, for `None`, gives back the
    /// room a failed one took).
    fn listed(&self, listing: Option<&Arc<Listing>>) {
        let mut state = self.state();
        let Some(listing) = listing else {
            state.listed_dirs -= 1;
            return;
        };
        state.listed_entries += listing.children.len();
        let mut queued = 0;
        if !listing.files.is_empty() {
            state.files.push(ByPath(Arc::clone(listing), listing_path));
            queued += listing.files.len();
        }
        for child in &listing.children {
            if let Ok(Found {
                task: Task::Dir(task),
                ..
            }) = &child.found
            {
                state.dirs.push(ByPath(Arc::clone(task), task_path));
                queued += 1;
            }
        }
        // One waiting reader per queued task: waking every idle reader for one task would
        // have them all contend for the lock only to find nothing to do.
        for _ in 0..queued.min(state.idle) {
            self.work.notify_one();
        }
    }

    /// Gives back the room of a listing the consumer is done with.
    fn consumed(&self, listing: &Listing) {
        let mut state = self.state();
        state.listed_entries -= listing.children.len();
        state.listed_dirs -= 1;
        // The room given back lets directories waiting for it be listed: one reader each.
        for _ in 0..state.dirs.len().min(state.idle) {
            self.work.notify_one();
        }
    }

    fn stop(&self) {
        self.state().stop = true;
        self.work.notify_all();
        self.parked.notify_all();
    }

    /// Waits until `slot` is done and takes its result; a task no reader has started is run
    /// here by `run`.
    fn wait<T>(&self, slot: &Mutex<Slot<T>>, run: impl FnOnce() -> T) -> T {
        {
            let mut s = lock(slot);
            if s.claim() {
                drop(s);
                return run();
            }
            if let Some(t) = s.take() {
                return t;
            }
        }
        let mut state = self.state();
        loop {
            // A reader stores a result before it takes the state's lock to see `waiting`.
            if let Some(t) = lock(slot).take() {
                state.waiting = None;
                return t;
            }
            if state.waiting.is_none() {
                // Woken once the slot is done and a run of other results with it, as readers
                // are usually ahead.
                state.waiting = Some(Waiting {
                    slot: slot_id(slot),
                    ready: false,
                    until: state.completed + state.active.max(1) as u64,
                });
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// The listing of an entered directory, listing it here when no reader has started.
    fn dir_result(&self, task: &DirTask) -> Result<Arc<Listing>, Problem> {
        self.wait(&task.result, || {
            self.state().listed_dirs += 1;
            self.run_dir(task)
        })
    }

    /// The content of file `k` of `listing`, read here when no reader has started.
    fn file_result(&self, listing: &Listing, k: usize) -> Result<Hashed, Problem> {
        self.wait(&listing.results[k], || self.walk.read_file(listing, k))
    }
}

/// Stops the readers when the walk ends, however it ends.
struct StopOnDrop<'s, 'a>(&'s Shared<'a>);

impl Drop for StopOnDrop<'_, '_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// The walk

/// Walks `root` and hands `sink` every entry beneath it (the root itself is `/`), in the
/// manifest's order, until `sink` breaks.
///
/// # Errors
/// [`Error::Root`] or [`Error::NotADirectory`] when the root cannot be walked at all; every
/// other failure is a [`Problem`] in the items.
pub fn walk_root(
    root: &Path,
    options: &ScanOptions,
    sink: impl FnMut(Item) -> ControlFlow<()>,
) -> Result<Summary, Error> {
    walk_root_with(root, options, Tuning::default(), sink)
}

/// How a walk runs: how many readers, and how far ahead of the consumer they may list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Reader threads (zero: the consumer does everything itself).
    pub readers: usize,
    /// Most entries listed and not yet consumed.
    pub max_listed_entries: usize,
    /// Most directories listed and not yet consumed.
    pub max_listed_dirs: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            readers: readers(),
            max_listed_entries: MAX_LISTED_ENTRIES,
            max_listed_dirs: MAX_LISTED_DIRS,
        }
    }
}

/// [`walk_root`], run as `tuning` says.
///
/// # Errors
/// As [`walk_root`].
pub fn walk_root_with(
    root: &Path,
    options: &ScanOptions,
    tuning: Tuning,
    mut sink: impl FnMut(Item) -> ControlFlow<()>,
) -> Result<Summary, Error> {
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
    let root_file = File::from(fd);
    // Reading the root directory itself must work: otherwise nothing can be verified.
    {
        let mut buf: Vec<u8> = Vec::with_capacity(DIR_BUFFER);
        let mut names = rustix::fs::RawDir::new(&root_file, buf.spare_capacity_mut());
        if let Some(Err(e)) = names.next() {
            return Err(root_err(e.into()));
        }
    }
    // A fresh descriptor: the check above moved the directory's offset.
    let root_file = File::from(
        rustix::fs::openat(
            root_file.as_fd(),
            c".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| root_err(e.into()))?,
    );
    let shared = Shared {
        walk: Walk {
            root,
            root_dev: stat.dev,
            root_mnt: stat.mnt_id,
            options,
            cold: AtomicBool::new(false),
        },
        tuning,
        state: Mutex::new(State {
            active: cores().saturating_add(1).min(tuning.readers),
            ..State::default()
        }),
        work: Condvar::new(),
        parked: Condvar::new(),
        ready: Condvar::new(),
    };
    let db = read_apk_db(&shared.walk, &root_file);
    std::thread::scope(|scope| {
        let _stop = StopOnDrop(&shared);
        for i in 0..tuning.readers {
            // Fewer readers than asked (a thread limit) only means fewer reads in flight.
            let shared = &shared;
            let spawned = std::thread::Builder::new()
                .name("basalt-reader".into())
                .spawn_scoped(scope, move || shared.reader(i));
            if spawned.is_err() {
                break;
            }
        }
        Ok(drive(&shared, root_file, stat, db, &mut sink))
    })
}

/// A directory the consumer is inside: its listing, the next step, and the listings of its
/// entered subdirectories between their entry and their subtree.
struct Frame {
    listing: Arc<Listing>,
    next: usize,
    entered: HashMap<u32, Arc<Listing>>,
}

/// The consumer's side of a walk: listings and contents taken in order, turned into items.
fn drive(
    shared: &Shared<'_>,
    root: File,
    stat: Stat,
    db: Option<(Vec<u8>, [u8; 32])>,
    sink: &mut impl FnMut(Item) -> ControlFlow<()>,
) -> Summary {
    let mut summary = Summary::default();
    let mut links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    shared.state().listed_dirs += 1;
    let top = Arc::new(shared.walk.list(root, b"/".to_vec(), 0));
    shared.listed(Some(&top));
    let root_item = Item {
        entry: Some(Entry {
            path: b"/".to_vec(),
            kind: Kind::Dir,
            mode: stat.mode & 0o7777,
            uid: stat.uid,
            gid: stat.gid,
            hardlink: None,
            xattrs: top.xattrs,
            package: None,
        }),
        problem: top.problem.clone(),
        nlink: 1,
        mount: false,
    };
    if sink(root_item).is_break() {
        return summary;
    }
    let mut frames = vec![Frame {
        listing: top,
        next: 0,
        entered: HashMap::new(),
    }];
    while let Some(frame) = frames.last_mut() {
        let Some(&step) = frame.listing.order.get(frame.next) else {
            if let Some(done) = frames.pop() {
                shared.consumed(&done.listing);
            }
            continue;
        };
        frame.next += 1;
        match step {
            Step::Enter(i) => {
                if let Some(listing) = frame.entered.remove(&i) {
                    frames.push(Frame {
                        listing,
                        next: 0,
                        entered: HashMap::new(),
                    });
                }
            }
            Step::Entry(i) => {
                let listing = Arc::clone(&frame.listing);
                let child = &listing.children[i as usize];
                let path = join(&listing.path, child.name.to_bytes());
                let found = match &child.found {
                    Ok(found) => found,
                    Err(problem) => {
                        let item = Item {
                            entry: None,
                            problem: Some(problem.clone()),
                            nlink: 0,
                            mount: false,
                        };
                        if sink(item).is_break() {
                            return summary;
                        }
                        continue;
                    }
                };
                let mut problem = None;
                let mut xattrs = match found.xattrs {
                    Xattrs::Read(x) => x,
                    Xattrs::FromFile | Xattrs::FromDir => None,
                };
                let mut sha256 = [0; 32];
                match &found.task {
                    Task::File(k) => {
                        let is_db = db.is_some() && path == APK_DB;
                        let result = shared.file_result(&listing, *k as usize);
                        match result {
                            Ok(h) => {
                                sha256 = h.sha256;
                                xattrs = h.xattrs.flatten();
                                if is_db && let Some((bytes, digest)) = &db {
                                    if *digest == h.sha256 {
                                        summary.apk_db = Some(bytes.clone());
                                    } else {
                                        problem = Some(Problem {
                                            path: path.clone(),
                                            kind: ProblemKind::Changing,
                                            detail: "changed during the walk (read twice, with different content)".into(),
                                        });
                                    }
                                }
                            }
                            Err(p) => problem = Some(p),
                        }
                    }
                    Task::Dir(task) => match shared.dir_result(task) {
                        Ok(sub) => {
                            xattrs = sub.xattrs;
                            problem = sub.problem.clone();
                            frame_entered(&mut frames, i, sub);
                        }
                        Err(p) => problem = Some(p),
                    },
                    Task::None => {
                        if found.stat.kind == FileKind::File && found.stat.size == 0 {
                            sha256 = Sha256::digest([]).into();
                            if path == APK_DB
                                && let Some((bytes, _)) = &db
                                && bytes.is_empty()
                            {
                                summary.apk_db = Some(Vec::new());
                            }
                        }
                    }
                }
                let stat = &found.stat;
                let kind = match stat.kind {
                    FileKind::File => Kind::File {
                        size: stat.size,
                        sha256,
                    },
                    FileKind::Dir => Kind::Dir,
                    FileKind::Symlink => Kind::Symlink {
                        target: found.target.clone().unwrap_or_default(),
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
                let mut hardlink = None;
                if stat.kind == FileKind::File && stat.nlink > 1 {
                    // Entries come in order: the first path of a group leads it.
                    match links.entry((stat.dev, stat.ino)) {
                        std::collections::hash_map::Entry::Occupied(leader) => {
                            hardlink = Some(leader.get().clone());
                        }
                        std::collections::hash_map::Entry::Vacant(slot) => {
                            slot.insert(path.clone());
                        }
                    }
                }
                let item = Item {
                    entry: Some(Entry {
                        path,
                        kind,
                        mode: stat.mode & 0o7777,
                        uid: stat.uid,
                        gid: stat.gid,
                        hardlink,
                        xattrs,
                        package: None,
                    }),
                    problem,
                    nlink: if stat.kind == FileKind::File {
                        stat.nlink
                    } else {
                        1
                    },
                    mount: found.mount,
                };
                if sink(item).is_break() {
                    return summary;
                }
            }
        }
    }
    summary
}

/// Keeps the listing of the current frame's entered subdirectory `i` until its subtree.
fn frame_entered(frames: &mut [Frame], i: u32, listing: Arc<Listing>) {
    if let Some(frame) = frames.last_mut() {
        frame.entered.insert(i, listing);
    }
}

/// The bytes of `lib/apk/db/installed` below `root`, as a walk of it with `options` reads
/// them before it starts (and checks that it hashes the same bytes): `None` when the tree has
/// none as a regular file of at most [`MAX_APK_DB`] bytes on the root's filesystem, or when
/// `options` leave its content unread.
#[must_use]
pub fn root_apk_db(root: &Path, options: &ScanOptions) -> Option<Vec<u8>> {
    let fd = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let stat = stat_at(fd.as_fd(), c"").ok()?;
    let walk = Walk {
        root,
        root_dev: stat.dev,
        root_mnt: stat.mnt_id,
        options,
        cold: AtomicBool::new(false),
    };
    read_apk_db(&walk, &File::from(fd)).map(|(bytes, _)| bytes)
}

/// Reads `lib/apk/db/installed` before the walk, through the walk's own safe opens (each
/// directory relative to its parent, never following a symlink nor crossing a mount), when
/// the walk will read its content; with the digest of what was read, which the walk's own
/// reading of it must match.
fn read_apk_db(walk: &Walk<'_>, root: &File) -> Option<(Vec<u8>, [u8; 32])> {
    if walk.options.prunes(APK_DB) || walk.options.skips_content(APK_DB) {
        return None;
    }
    let mut dir: Option<File> = None;
    let mut parts = APK_DB[1..].split(|&b| b == b'/').peekable();
    while let Some(part) = parts.next() {
        let name = CString::new(part).ok()?;
        let at = dir.as_ref().unwrap_or(root);
        let stat = stat_at(at.as_fd(), &name).ok()?;
        if walk.is_mount(&stat) {
            return None;
        }
        if parts.peek().is_none() {
            if stat.kind != FileKind::File || stat.size > MAX_APK_DB {
                return None;
            }
            let mut bytes = Vec::new();
            let hashed = read_listed(
                at.as_fd(),
                &name,
                &Listed::of(&stat, false),
                || APK_DB.to_vec(),
                Some(&mut bytes),
                &walk.cold,
            )
            .ok()?;
            return Some((bytes, hashed.sha256));
        }
        if stat.kind != FileKind::Dir {
            return None;
        }
        let fd = rustix::fs::openat(
            at.as_fd(),
            &name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        dir = Some(File::from(fd));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::host::ScanOptions;

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

    /// Reads `path` below `root` as a reader of the walk does, relative to its directory.
    fn hash_one(root: &Path, path: &[u8], listed: &Listed) -> Result<Hashed, Problem> {
        let relative = Path::new(OsStr::from_bytes(&path[1..]));
        let dir = File::open(root.join(relative.parent().unwrap())).unwrap();
        let name = CString::new(relative.file_name().unwrap().as_bytes()).unwrap();
        read_listed(
            dir.as_fd(),
            &name,
            listed,
            || path.to_vec(),
            None,
            &AtomicBool::new(false),
        )
    }

    /// A regular file as the walk lists it for hashing.
    fn listed(path: &Path) -> Listed {
        let meta = std::fs::symlink_metadata(path).unwrap();
        Listed {
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
        let grown = Listed { size: 3, ..listed };
        let err = hash_one(dir.path(), b"/etc/a", &grown).unwrap_err();
        assert_eq!(err.kind, ProblemKind::Changing);
        let replaced = Listed {
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
        let scan = crate::integrity::host::scan_root(dir.path(), &ScanOptions::default()).unwrap();
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
    fn device_numbers_decode() {
        assert_eq!(device(0x0103), (1, 3));
        assert_eq!(device((259 << 8) | 5), (259, 5));
    }

    /// A tree whose names sort one way by name and another by full path, with a deep chain,
    /// a wide directory, hard links across directories, a FIFO, a symlink and odd bytes.
    fn tricky_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for d in ["a", "a-b", "a.c", "a0", "a b", "b/c", "wide"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("a/x"), b"x").unwrap();
        std::fs::write(r.join("a-b/q"), b"q").unwrap();
        std::fs::write(r.join("a.c/q"), b"").unwrap();
        std::fs::write(r.join("a b/c"), b"c").unwrap();
        std::fs::write(r.join(OsStr::from_bytes(b"a0/\xff\x01")), b"odd").unwrap();
        std::fs::hard_link(r.join("a/x"), r.join("b/c/x")).unwrap();
        std::fs::hard_link(r.join("a/x"), r.join("a-b/x")).unwrap();
        std::os::unix::fs::symlink("../a", r.join("b/link")).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(r.join("b/fifo"))
            .status()
            .unwrap();
        assert!(status.success());
        let mut deep = r.join("deep");
        for _ in 0..40 {
            deep.push("d");
        }
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("leaf"), b"leaf").unwrap();
        for i in 0..300 {
            std::fs::write(r.join(format!("wide/f{i}")), format!("{i}")).unwrap();
            if i % 50 == 0 {
                std::fs::create_dir_all(r.join(format!("wide/f{i}.d/sub"))).unwrap();
            }
        }
        dir
    }

    fn collect(root: &Path, tuning: Tuning) -> Vec<Item> {
        let mut items = Vec::new();
        walk_root_with(root, &ScanOptions::default(), tuning, |item| {
            items.push(item);
            ControlFlow::Continue(())
        })
        .unwrap();
        items
    }

    #[test]
    fn every_tuning_walks_the_same_items_in_the_manifests_order() {
        let dir = tricky_tree();
        let unbounded = Tuning {
            readers: 0,
            max_listed_entries: usize::MAX,
            max_listed_dirs: usize::MAX,
        };
        let reference = collect(dir.path(), unbounded);
        assert!(reference.len() > 350, "{}", reference.len());
        for pair in reference.windows(2) {
            assert!(
                pair[0].path() < pair[1].path(),
                "{:?} before {:?}",
                String::from_utf8_lossy(pair[0].path()),
                String::from_utf8_lossy(pair[1].path())
            );
        }
        assert!(
            reference
                .iter()
                .all(|i| i.problem.is_none() && i.entry.is_some())
        );
        let entry = |path: &[u8]| {
            reference
                .iter()
                .find(|i| i.path() == path)
                .and_then(|i| i.entry.clone())
                .unwrap()
        };
        // The first path of a hard-link group in order leads it (`-` sorts before `/`).
        assert_eq!(entry(b"/a-b/x").hardlink, None);
        assert_eq!(entry(b"/a/x").hardlink, Some(b"/a-b/x".to_vec()));
        assert_eq!(entry(b"/b/c/x").hardlink, Some(b"/a-b/x".to_vec()));
        assert_eq!(entry(b"/b/fifo").kind, Kind::Fifo);
        // Tight windows, many readers: the same items, without a deadlock.
        for tuning in [
            Tuning {
                readers: 1,
                max_listed_entries: 1,
                max_listed_dirs: 1,
            },
            Tuning {
                readers: 16,
                max_listed_entries: 1,
                max_listed_dirs: 1,
            },
            Tuning {
                readers: 16,
                max_listed_entries: 20,
                max_listed_dirs: 3,
            },
            Tuning::default(),
        ] {
            assert_eq!(collect(dir.path(), tuning), reference, "{tuning:?}");
        }
        // Files evicted from the page cache: the first read from the disk wakes the readers
        // beyond the cores, and the walk is the same.
        for item in &reference {
            if item
                .entry
                .as_ref()
                .is_some_and(|e| matches!(e.kind, Kind::File { .. }))
            {
                let file =
                    File::open(dir.path().join(OsStr::from_bytes(&item.path()[1..]))).unwrap();
                file.sync_all().unwrap();
                rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
            }
        }
        let many = Tuning {
            readers: cores() + 8,
            ..Tuning::default()
        };
        assert_eq!(collect(dir.path(), many), reference);
    }

    #[test]
    fn a_walk_stops_when_its_consumer_does() {
        let dir = tricky_tree();
        let mut seen = 0;
        walk_root(dir.path(), &ScanOptions::default(), |_| {
            seen += 1;
            if seen == 5 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        assert_eq!(seen, 5);
    }

    #[test]
    fn steps_sort_as_the_full_paths_they_stand_for() {
        let names: [&[u8]; 5] = [b"a", b"a-b", b"a.c", b"a0", b"b"];
        let mut steps: Vec<(&[u8], bool)> = Vec::new();
        for n in names {
            steps.push((n, false));
            steps.push((n, true));
        }
        steps.sort_by(|a, b| step_order(a.0, a.1, b.0, b.1));
        let shown: Vec<String> = steps
            .iter()
            .map(|(n, sub)| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(n),
                    if *sub { "/" } else { "" }
                )
            })
            .collect();
        let mut expected: Vec<String> = shown.clone();
        expected.sort();
        assert_eq!(shown, expected);
        assert_eq!(&shown[..4], ["a", "a-b", "a-b/", "a.c"]);
    }

    #[test]
    fn a_file_read_from_the_disk_marks_the_walk_cold_and_reads_right() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let file = File::open(&path).unwrap();
        file.sync_all().unwrap();
        let mut buf = vec![0u8; content.len()];

        // In the page cache (just written): no disk read, nothing marked.
        let cold = AtomicBool::new(false);
        let n = cached_read(&file, &mut buf, &cold).unwrap();
        assert_eq!(&buf[..n], &content[..n]);
        assert!(n > 0);
        assert!(!cold.load(Ordering::Relaxed));

        // Evicted (clean pages of a synced file): read from the disk, and marked; on tmpfs the
        // page cache is the file, so nothing is evicted and nothing is marked.
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        buf.fill(0);
        let n = cached_read(&file, &mut buf, &cold).unwrap();
        assert_eq!(&buf[..n], &content[..n]);
        assert!(n > 0);
        let on_tmpfs = rustix::fs::fstatfs(&file).unwrap().f_type == libc::TMPFS_MAGIC;
        assert_eq!(cold.load(Ordering::Relaxed), !on_tmpfs);
    }

    #[test]
    fn descriptor_names_are_decimal() {
        let name = itoa_fd(1234);
        assert_eq!(CStr::from_bytes_until_nul(&name).unwrap(), c"1234");
        let name = itoa_fd(0);
        assert_eq!(CStr::from_bytes_until_nul(&name).unwrap(), c"0");
    }
}
