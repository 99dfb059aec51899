//! `input`: how basalt reads a file it is given (a manifest, a signature, a key, a revocation
//! list, a profile, a lock, a package, an image): a regular file, never a FIFO, a device or a
//! directory, and never more than a limit that suits what the file is.
//!
//! A path is checked before it is opened (a FIFO would block the open, a device could act on
//! it) and the opened file is checked again (it must be the same regular file), so that a
//! symlink swapped to `/dev/zero` or a FIFO, at a path basalt reads at boot for example, gives
//! a clear error instead of a hang or unbounded memory.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest manifest read (about four million entries).
pub const MAX_MANIFEST: u64 = 1 << 30;
/// The largest signature, key or secret key file read.
pub const MAX_KEY: u64 = 64 << 10;
/// The largest revocation list read.
pub const MAX_LIST: u64 = 16 << 20;
/// The largest profile, lock or other text document read.
pub const MAX_DOCUMENT: u64 = 64 << 20;

/// A failure to read an input, naming it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path cannot be inspected, opened or read.
    #[error("failed to read `{}`", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: io::Error,
    },
    /// The path names something other than a regular file.
    #[error("`{}` is not a regular file but {what}", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is (`a character device`).
        what: &'static str,
    },
    /// The file is larger than the limit for what it is.
    #[error("`{}` is larger than {limit} bytes, the most basalt reads for {role}", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
        /// What the file is (`a signature`).
        role: &'static str,
    },
    /// The file was replaced between its check and its opening.
    #[error("`{}` was replaced while it was opened", path.display())]
    Replaced {
        /// The file.
        path: PathBuf,
    },
}

impl From<Error> for io::Error {
    /// The system error itself for [`Error::Io`] (its kind kept, so that a missing file is
    /// still [`io::ErrorKind::NotFound`]); the message for the others.
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io { source, .. } => source,
            other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

/// What a non-regular file is, in an error.
#[must_use]
pub fn describe(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

/// Opens `path` for reading when it is a regular file (following symlinks), without opening
/// anything else.
///
/// # Errors
/// [`Error::NotRegular`] for anything but a regular file, [`Error::Io`] when it cannot be
/// opened, [`Error::Replaced`] when it changed in between.
pub fn open(path: &Path) -> Result<File, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let before = std::fs::metadata(path).map_err(io)?;
    if !before.is_file() {
        return Err(Error::NotRegular {
            path: path.to_owned(),
            what: describe(before.file_type()),
        });
    }
    // O_NONBLOCK: a FIFO swapped in after the check does not block the open.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(io)?;
    let after = file.metadata().map_err(io)?;
    if !after.is_file() || (after.dev(), after.ino()) != (before.dev(), before.ino()) {
        return Err(Error::Replaced {
            path: path.to_owned(),
        });
    }
    Ok(file)
}

/// Reads the regular file `path` whole, refusing one larger than `limit` bytes; `role` names
/// what it is in that error (`a signature`).
///
/// # Errors
/// As [`open`], and [`Error::TooLarge`].
pub fn read(path: &Path, limit: u64, role: &'static str) -> Result<Vec<u8>, Error> {
    let file = open(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            limit,
            role,
        });
    }
    Ok(bytes)
}

/// As [`read`], for a file that must be UTF-8 text.
///
/// # Errors
/// As [`read`], and [`Error::Io`] with [`io::ErrorKind::InvalidData`] when it is not UTF-8.
pub fn read_text(path: &Path, limit: u64, role: &'static str) -> Result<String, Error> {
    let bytes = read(path, limit, role)?;
    String::from_utf8(bytes).map_err(|e| Error::Io {
        path: path.to_owned(),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_directories_are_refused_without_reading() {
        let err = read(Path::new("/dev/zero"), 10, "a signature").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`/dev/zero` is not a regular file but a character device"
        );
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        // Opening a FIFO without a writer would block: it must be refused before.
        let err = read(&fifo, 10, "a signature").unwrap_err();
        assert!(
            matches!(err, Error::NotRegular { what: "a FIFO", .. }),
            "{err}"
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(
            read(&link, 10, "a signature"),
            Err(Error::NotRegular { .. })
        ));
        assert!(matches!(
            read(dir.path(), 10, "a signature"),
            Err(Error::NotRegular {
                what: "a directory",
                ..
            })
        ));
    }

    #[test]
    fn reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big");
        std::fs::write(&file, vec![b'x'; 11]).unwrap();
        let err = read(&file, 10, "a signature").unwrap_err();
        assert!(
            err.to_string()
                .ends_with("is larger than 10 bytes, the most basalt reads for a signature"),
            "{err}"
        );
        assert_eq!(read(&file, 11, "a signature").unwrap().len(), 11);
    }
}
