//! The image as a read-only squashfs filesystem, made without privileges from the same tar
//! stream as the image archive.
//!
//! The tree is written with [`image::write_tar`] (the exact entries of `NAME-VERSION.tar.gz`)
//! straight into `tar2sqfs` (squashfs-tools-ng), which packs a tar stream into squashfs
//! without touching the filesystem or needing root: numeric owners, modes (setuid, setgid and
//! sticky included), extended attributes (PAX `SCHILY.xattr.*`), hard links, symlinks,
//! devices and FIFOs all come from the archive's headers. Why this and not a crate:
//! `backhand`, the one maintained squashfs writer in Rust, writes neither extended
//! attributes nor hard links, and an image must keep both (the manifest records them, and
//! `basalt verify` inside the booted host compares them). `mksquashfs` (squashfs-tools 4.5)
//! reads only directories, which would need root to carry owners and devices, and
//! `mkfs.erofs` 1.5 has no tar input either.
//!
//! Invariants:
//! - the filesystem is a pure function of the tree and the epoch: every inode's mtime and the
//!   superblock's time are the epoch, entries come in path order, and `tar2sqfs` keeps block
//!   order whatever its number of compressor threads (checked by the tests);
//! - the output is padded to whole 4096-byte blocks, so dm-verity can cover it exactly;
//! - nothing is written outside a private temporary directory, which is removed.

use std::io::{self, BufWriter, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::build::image;
use crate::tree::ImageTree;

/// The program that packs a tar stream into squashfs.
pub const TOOL: &str = "tar2sqfs";

/// The squashfs block size: the default of both squashfs tool sets.
pub const BLOCK_SIZE: u32 = 128 * 1024;

/// The compressor: zstd decompresses fastest of those Linux kernels offer, and both Debian's
/// and Alpine's kernels build it in (`CONFIG_SQUASHFS_ZSTD`).
pub const COMPRESSOR: &str = "zstd";

/// Errors from making the filesystem.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The packer could not be started.
    #[error(
        "cannot run `{tool}` to make the root filesystem\n\nhint: install squashfs-tools-ng (Debian and Alpine: `squashfs-tools-ng`), or name the program with BASALT_TAR2SQFS"
    )]
    Spawn {
        /// The program.
        tool: PathBuf,
        /// Why it did not start.
        #[source]
        source: io::Error,
    },
    /// The packer failed.
    #[error("`{tool}` failed ({status}) making the root filesystem: {stderr}")]
    Failed {
        /// The program.
        tool: PathBuf,
        /// Its exit status.
        status: String,
        /// What it said.
        stderr: String,
    },
    /// The archive could not be streamed.
    #[error("cannot stream the image to `{tool}`")]
    Stream {
        /// The program.
        tool: PathBuf,
        /// The writer's error.
        #[source]
        source: image::Error,
    },
    /// The epoch does not fit squashfs's 32-bit times.
    #[error("the build epoch {epoch} is past 2106, which squashfs cannot record")]
    Epoch {
        /// The epoch.
        epoch: u64,
    },
    /// The scratch directory or the result could not be used.
    #[error("cannot {what} for the root filesystem")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The result is not what squashfs-tools-ng promises.
    #[error("`{tool}` wrote {len} bytes, which is not whole 4096-byte blocks")]
    Unpadded {
        /// The program.
        tool: PathBuf,
        /// The length.
        len: usize,
    },
}

/// How to make the filesystem.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `tar2sqfs` program.
    pub tool: PathBuf,
    /// Compressor threads (the output does not depend on it).
    pub jobs: usize,
}

impl Default for Options {
    /// `tar2sqfs` from `BASALT_TAR2SQFS` or `PATH`, one thread per core.
    fn default() -> Self {
        Options {
            tool: std::env::var_os("BASALT_TAR2SQFS")
                .map_or_else(|| PathBuf::from(TOOL), PathBuf::from),
            jobs: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        }
    }
}

/// Packs the tree (with the image archive's root entry `./`) into a squashfs filesystem.
///
/// # Errors
/// When `tar2sqfs` is missing or fails (its message is kept), when the epoch does not fit, or
/// when the scratch directory cannot be used.
pub fn build(tree: &ImageTree, epoch: u64, options: &Options) -> Result<Vec<u8>, Error> {
    if u32::try_from(epoch).is_err() {
        return Err(Error::Epoch { epoch });
    }
    let scratch = tempfile::Builder::new()
        .prefix("basalt-squashfs")
        .tempdir()
        .map_err(|source| Error::Io {
            what: "create a scratch directory",
            source,
        })?;
    let out = scratch.path().join("root.squashfs");
    run(tree, epoch, options, &out)?;
    let bytes = fs_err::read(&out).map_err(|source| Error::Io {
        what: "read the packed filesystem",
        source,
    })?;
    if bytes.is_empty() || !bytes.len().is_multiple_of(4096) {
        return Err(Error::Unpadded {
            tool: options.tool.clone(),
            len: bytes.len(),
        });
    }
    Ok(bytes)
}

fn run(tree: &ImageTree, epoch: u64, options: &Options, out: &Path) -> Result<(), Error> {
    let tool = &options.tool;
    let mut child = Command::new(tool)
        .arg("--quiet")
        .arg("--no-skip")
        .args(["--compressor", COMPRESSOR])
        .args(["--block-size", &BLOCK_SIZE.to_string()])
        .args(["--dev-block-size", "4096"])
        .args(["--num-jobs", &options.jobs.max(1).to_string()])
        // Implicit directories (there are none: the stream carries every parent) and the
        // superblock's time.
        .args([
            "--defaults",
            &format!("uid=0,gid=0,mode=0755,mtime={epoch}"),
        ])
        .arg(out)
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            tool: tool.clone(),
            source,
        })?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let stdin = child.stdin.take().expect("stdin is piped");
    let streamed = image::write_tar(tree, epoch, BufWriter::with_capacity(1 << 20, stdin))
        .and_then(|writer| {
            writer
                .into_inner()
                .map(drop)
                .map_err(|e| image::Error::Write {
                    path: "(end of archive)".to_owned(),
                    source: e.into_error(),
                })
        });
    let status = child.wait().map_err(|source| Error::Io {
        what: "wait for tar2sqfs",
        source,
    })?;
    let stderr = String::from_utf8_lossy(&reader.join().unwrap_or_default())
        .trim()
        .to_owned();
    if !status.success() {
        return Err(Error::Failed {
            tool: tool.clone(),
            status: status.to_string(),
            stderr,
        });
    }
    streamed.map_err(|source| Error::Stream {
        tool: tool.clone(),
        source,
    })
}
