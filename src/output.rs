//! `output`: how basalt writes every file it leaves behind (images, manifests, signatures,
//! keys, locks, reports, cache entries, rendered configuration).
//!
//! Each output is written to a temporary file beside its final path, under an unpredictable
//! name created with `O_CREAT | O_EXCL | O_NOFOLLOW` (so a name planted in a shared directory,
//! a symlink above all, is never opened or followed), flushed to disk, then renamed into
//! place and the directory synced: a reader sees the old file or the whole new one, and the
//! final name is always the file basalt wrote, never something planted there.
//!
//! Temporary files are removed on every error, when dropped uncommitted, and when the process
//! is interrupted or terminated (`SIGINT`, `SIGTERM`, `SIGHUP`): the first temporary file
//! starts a thread that waits for those signals, removes every temporary file still pending,
//! and then lets the signal end the process as it would have. Several outputs committed
//! together ([`commit_all`]) are renamed while no signal can interrupt them.
//!
//! Invariant: nothing outside this module creates a file for output; `SIGKILL` and power loss
//! are the only ways to leave a temporary file (named `.NAME.XXXXXXXX.tmp`) behind.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// A failure to write an output, naming it.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} `{}`", path.display())]
pub struct Error {
    /// What was being done (`create a temporary file for`, `write`, `rename into place`).
    pub action: &'static str,
    /// The output's final path.
    pub path: PathBuf,
    /// The system's reason.
    #[source]
    pub source: io::Error,
}

fn error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error {
        action,
        path: path.to_owned(),
        source,
    }
}

/// What a pending temporary path is, for the cleanup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    File,
    Dir,
}

/// Every temporary path not yet renamed into place or removed. Held while a temporary path is
/// created, renamed or removed, and by the cleanup until the process ends, so that no path is
/// created after the cleanup ran or left half-committed.
static PENDING: Mutex<BTreeMap<PathBuf, Pending>> = Mutex::new(BTreeMap::new());

fn pending() -> MutexGuard<'static, BTreeMap<PathBuf, Pending>> {
    PENDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts, once, the thread that cleans up on `SIGINT`, `SIGTERM` and `SIGHUP`.
fn watch_signals() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        // Without the handler (an exotic platform), outputs are still written safely; only an
        // interruption may leave a temporary file.
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("basalt-cleanup".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    let list = pending();
                    for (path, kind) in list.iter() {
                        let _ = match kind {
                            Pending::File => std::fs::remove_file(path),
                            Pending::Dir => std::fs::remove_dir_all(path),
                        };
                    }
                    // End as the signal would have (the guard stays held: nothing more is
                    // created or renamed meanwhile).
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                    std::process::exit(128 + signal);
                }
            });
    });
}

/// The directory an output goes into (`.` for a bare file name), and its file name.
fn split(path: &Path) -> Result<(&Path, &std::ffi::OsStr), Error> {
    let name = path.file_name().ok_or_else(|| Error {
        action: "write",
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok((dir, name))
}

fn builder(name: &std::ffi::OsStr) -> (OsString, tempfile::Builder<'static, 'static>) {
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.rand_bytes(8).suffix(".tmp");
    (prefix, builder)
}

/// An output being written: a temporary file beside `target`, removed unless committed.
#[derive(Debug)]
pub struct Output {
    temp: Option<tempfile::NamedTempFile>,
    target: PathBuf,
}

/// Starts writing `target`: creates its temporary file (mode `mode`, less the umask) in the
/// same directory.
///
/// # Errors
/// When the temporary file cannot be created (the directory is missing or not writable).
pub fn create(target: &Path, mode: u32) -> Result<Output, Error> {
    watch_signals();
    let (dir, name) = split(target)?;
    let (prefix, mut builder) = builder(name);
    builder.prefix(&prefix);
    let temp = builder
        .make_in(dir, |path| {
            let mut list = pending();
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(path)?;
            list.insert(path.to_owned(), Pending::File);
            Ok(file)
        })
        .map_err(error("create a temporary file for", target))?;
    Ok(Output {
        temp: Some(temp),
        target: target.to_owned(),
    })
}

impl Output {
    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        self.temp
            .as_mut()
            .expect("present until committed")
            .as_file_mut()
    }

    /// The final path.
    #[must_use]
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes the content to disk, renames it over `target` and syncs the directory.
    ///
    /// # Errors
    /// When flushing or renaming fails; the temporary file is removed.
    pub fn commit(self) -> Result<(), Error> {
        commit_all(vec![self])
    }

    /// As [`Output::commit`], but fails (leaving `target` alone) when `target` exists.
    ///
    /// # Errors
    /// When `target` exists, or flushing or renaming fails; the temporary file is removed.
    pub fn commit_new(mut self) -> Result<(), Error> {
        self.file()
            .sync_all()
            .map_err(error("write", &self.target))?;
        let temp = self.temp.take().expect("present until committed");
        let mut list = pending();
        let path = temp.path().to_owned();
        let result = temp.persist_noclobber(&self.target);
        list.remove(&path);
        drop(list);
        match result {
            Ok(_) => sync_parent(&self.target),
            Err(e) => {
                // Dropping the temporary file removes it.
                drop(e.file);
                Err(error("rename into place", &self.target)(e.error))
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let mut list = pending();
            let path = temp.path().to_owned();
            drop(temp);
            list.remove(&path);
        }
    }
}

/// Commits several outputs together: all are flushed to disk first, then renamed into place
/// in order while no interruption can stop half-way. On an error, the temporary files not yet
/// renamed are removed.
///
/// # Errors
/// The first output that cannot be flushed or renamed.
pub fn commit_all(mut outputs: Vec<Output>) -> Result<(), Error> {
    for output in &mut outputs {
        let target = output.target.clone();
        output.file().sync_all().map_err(error("write", &target))?;
    }
    let mut list = pending();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for mut output in outputs {
        let temp = output.temp.take().expect("present until committed");
        let path = temp.path().to_owned();
        let result = temp.persist(&output.target);
        list.remove(&path);
        if let Err(e) = result {
            drop(e.file);
            return Err(error("rename into place", &output.target)(e.error));
        }
        let dir = split(&output.target)?.0.to_owned();
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    drop(list);
    for dir in dirs {
        sync_dir(&dir);
    }
    Ok(())
}

/// Makes a rename in `dir` durable. Some filesystems refuse to sync a directory: the rename
/// happened all the same.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// [`sync_dir`] for the directory an output went into.
fn sync_parent(path: &Path) -> Result<(), Error> {
    sync_dir(split(path)?.0);
    Ok(())
}

/// Writes `bytes` to `path` (replacing it) through a temporary file and a rename.
///
/// # Errors
/// As [`create`] and [`Output::commit`].
pub fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let mut output = create(path, mode)?;
    output.write_all(bytes).map_err(error("write", path))?;
    output.commit()
}

/// Writes `bytes` to `path`, which must not exist, through a temporary file and a rename.
///
/// # Errors
/// As [`create`] and [`Output::commit_new`].
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let mut output = create(path, mode)?;
    output.write_all(bytes).map_err(error("write", path))?;
    output.commit_new()
}

/// A directory being filled: a private (0700) temporary directory beside `target`, removed
/// with its content unless committed.
#[derive(Debug)]
pub struct StagedDir {
    temp: Option<tempfile::TempDir>,
    target: PathBuf,
}

/// Starts filling the directory `target`.
///
/// # Errors
/// When the temporary directory cannot be created.
pub fn stage_dir(target: &Path) -> Result<StagedDir, Error> {
    watch_signals();
    let (dir, name) = split(target)?;
    let (prefix, mut builder) = builder(name);
    builder.prefix(&prefix);
    let mut list = pending();
    // tempfile creates the directory with mode 0700 under an unpredictable name.
    let temp = builder
        .tempdir_in(dir)
        .map_err(error("create a temporary directory for", target))?;
    list.insert(temp.path().to_owned(), Pending::Dir);
    drop(list);
    Ok(StagedDir {
        temp: Some(temp),
        target: target.to_owned(),
    })
}

impl StagedDir {
    /// The temporary directory to fill.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.temp.as_ref().expect("present until committed").path()
    }

    /// Gives the directory its final mode and renames it to `target`, which must be absent or
    /// an empty directory (replaced).
    ///
    /// # Errors
    /// When `target` is not empty, or the rename fails; the temporary directory is removed.
    pub fn commit(mut self, mode: u32) -> Result<(), Error> {
        use std::os::unix::fs::PermissionsExt as _;
        let temp = self.temp.take().expect("present until committed");
        let path = temp.path().to_owned();
        let mut list = pending();
        let result = (|| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
            match std::fs::remove_dir(&self.target) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            std::fs::rename(&path, &self.target)
        })();
        match result {
            Ok(()) => {
                let _ = temp.keep();
                list.remove(&path);
                drop(list);
                sync_parent(&self.target)
            }
            Err(e) => {
                drop(temp);
                list.remove(&path);
                Err(error("rename into place", &self.target)(e))
            }
        }
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let mut list = pending();
            let path = temp.path().to_owned();
            drop(temp);
            list.remove(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn outputs_replace_planted_links_and_leave_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let target = dir.path().join("out.txt");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        write(&target, b"new", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(std::fs::symlink_metadata(&target).unwrap().is_file());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(names(dir.path()), ["out.txt", "victim"]);
    }

    #[test]
    fn several_outputs_commit_together_and_uncommitted_ones_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = create(&dir.path().join("a"), 0o600).unwrap();
        let mut b = create(&dir.path().join("b"), 0o644).unwrap();
        a.write_all(b"A").unwrap();
        b.write_all(b"B").unwrap();
        assert_eq!(names(dir.path()).len(), 2);
        assert!(names(dir.path()).iter().all(|n| n.ends_with(".tmp")));
        commit_all(vec![a, b]).unwrap();
        assert_eq!(names(dir.path()), ["a", "b"]);
        {
            let mut dropped = create(&dir.path().join("c"), 0o644).unwrap();
            dropped.write_all(b"never").unwrap();
        }
        assert_eq!(names(dir.path()), ["a", "b"]);
        let left = pending().keys().any(|p| p.starts_with(dir.path()));
        assert!(!left, "nothing pending stays registered");
    }

    #[test]
    fn new_outputs_never_replace_anything() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("key");
        std::fs::write(&target, "old").unwrap();
        let err = write_new(&target, b"new", 0o600).unwrap_err();
        assert_eq!(err.source.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(names(dir.path()), ["key"]);
    }

    #[test]
    fn a_bare_name_goes_into_the_working_directory() {
        assert_eq!(
            split(Path::new("image.manifest")).unwrap(),
            (Path::new("."), std::ffi::OsStr::new("image.manifest"))
        );
        assert!(split(Path::new("/")).is_err());
    }

    #[test]
    fn staged_directories_appear_whole() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("rendered");
        let staged = stage_dir(&target).unwrap();
        std::fs::write(staged.path().join("f"), "x").unwrap();
        assert!(!target.exists());
        staged.commit(0o755).unwrap();
        assert_eq!(names(&target), ["f"]);
        let dropped = stage_dir(&dir.path().join("other")).unwrap();
        std::fs::write(dropped.path().join("f"), "x").unwrap();
        drop(dropped);
        assert_eq!(names(dir.path()), ["rendered"]);
    }
}
