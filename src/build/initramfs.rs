//! Serialises an [`ImageTree`] into an initramfs: a `newc` cpio archive that the kernel
//! unpacks into its root file system in memory (the root never touches a disk), compressed
//! with gzip or zstd, byte for byte reproducibly.
//!
//! Invariants: the output depends only on the tree, the epoch and the compression.
//! - `.` (0755, root) first, then every entry in path byte order (directories before their
//!   contents), then the device nodes the kernel needs before `/dev` is mounted
//!   ([`BOOT_DEVICES`]) when the tree has none, then `TRAILER!!!`;
//! - numeric owners, every mtime the epoch, inode numbers counted from 1 in path order;
//! - hard links as `newc` expects: one inode number for the group, its link count, the data
//!   with the last member only (the kernel links the others to the first and writes it then);
//! - gzip: no name, mtime 0, OS byte 3, level 9; zstd: level 19, one thread, with a checksum.
//!
//! A `newc` archive cannot carry extended attributes: a tree that has them is refused rather
//! than booted into a root that would not match its manifest.

use std::collections::BTreeMap;
use std::io::{self, Write};

use flate2::{Compression as GzLevel, GzBuilder};

use crate::tree::{ImagePath, ImageTree, Node, NodeKind};

/// Device nodes the kernel opens before anything mounts `/dev` (the initial console), and
/// that early boot scripts use: `(path, major, minor, mode)`. They are written after the
/// tree's entries; the image's `/dev` is covered by devtmpfs at boot, so they are not part of
/// the root the manifest describes.
pub const BOOT_DEVICES: &[(&str, u32, u32, u32)] =
    &[("dev/console", 5, 1, 0o600), ("dev/null", 1, 3, 0o666)];

/// How the archive is compressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    /// gzip (every kernel reads it).
    #[default]
    Gzip,
    /// zstd (`CONFIG_RD_ZSTD`): smaller and faster to unpack.
    Zstd,
}

impl Compression {
    /// The file name suffix (`cpio.gz`, `cpio.zst`).
    #[must_use]
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::Gzip => "cpio.gz",
            Compression::Zstd => "cpio.zst",
        }
    }
}

/// Errors from writing an initramfs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The destination or the compressor failed.
    #[error("cannot write initramfs entry `{path}`")]
    Write {
        /// The entry being written.
        path: String,
        /// The writer's error.
        #[source]
        source: io::Error,
    },
    /// An entry has extended attributes, which `newc` cannot carry.
    #[error(
        "`{path}` has extended attributes ({names}), which a newc initramfs cannot carry: the booted root would not match the manifest"
    )]
    Xattrs {
        /// The entry.
        path: String,
        /// The attribute names.
        names: String,
    },
    /// A hard link whose target is not a regular file of the tree.
    #[error("hard link `{path}` points to `{target}`, which is not a regular file of the image")]
    DanglingHardlink {
        /// The link.
        path: String,
        /// Its target.
        target: String,
    },
    /// A value does not fit the 32-bit fields of `newc`.
    #[error("`{path}`: {what} does not fit a newc header")]
    TooLarge {
        /// The entry.
        path: String,
        /// Which value.
        what: &'static str,
    },
}

/// Writes the tree as a compressed `newc` cpio archive.
///
/// # Errors
/// [`Error::Write`], [`Error::Xattrs`], [`Error::DanglingHardlink`], [`Error::TooLarge`].
pub fn write(tree: &ImageTree, epoch: u64, compression: Compression) -> Result<Vec<u8>, Error> {
    let err = |source| Error::Write {
        path: "(compressor)".to_owned(),
        source,
    };
    match compression {
        Compression::Gzip => {
            let gz = GzBuilder::new()
                .mtime(0)
                .operating_system(crate::build::image::GZIP_OS_UNIX)
                .write(Vec::new(), GzLevel::best());
            write_cpio(tree, epoch, gz)?.finish().map_err(err)
        }
        Compression::Zstd => {
            let mut encoder = zstd::stream::Encoder::new(Vec::new(), 19).map_err(err)?;
            encoder.include_checksum(true).map_err(err)?;
            write_cpio(tree, epoch, encoder)?.finish().map_err(err)
        }
    }
}

/// Writes the tree as an uncompressed `newc` cpio archive into `out`, returning `out`.
///
/// # Errors
/// As [`write()`].
pub fn write_cpio<W: Write>(tree: &ImageTree, epoch: u64, out: W) -> Result<W, Error> {
    let mtime = u32::try_from(epoch).map_err(|_| Error::TooLarge {
        path: ".".to_owned(),
        what: "the epoch",
    })?;
    let mut w = Writer { out, mtime };
    // Inode numbers: one per entry in path order, shared by a hard-link group; the group's
    // size and the last member (in path order), which carries the data.
    let mut inode: BTreeMap<ImagePath, u32> = BTreeMap::new();
    let mut groups: BTreeMap<ImagePath, Vec<ImagePath>> = BTreeMap::new();
    for (path, node) in tree.iter() {
        if let NodeKind::Hardlink(target) = &node.kind {
            if tree.file_node(path).is_none() {
                return Err(Error::DanglingHardlink {
                    path: path.display(),
                    target: target.display(),
                });
            }
            groups.entry(target.clone()).or_default().push(path.clone());
        }
    }
    let mut group_of: BTreeMap<ImagePath, (ImagePath, usize)> = BTreeMap::new();
    for (target, mut members) in groups {
        members.push(target.clone());
        members.sort();
        let n = members.len();
        for m in members {
            group_of.insert(m, (target.clone(), n));
        }
    }
    let mut last_member: BTreeMap<ImagePath, ImagePath> = BTreeMap::new();
    for (member, (target, _)) in &group_of {
        last_member.insert(target.clone(), member.clone());
    }
    // Subdirectory counts, for the link count of directories (2 + subdirectories).
    let mut subdirs: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    for (path, node) in tree.iter() {
        if node.is_dir() {
            let parent = path
                .parent()
                .map(|p| p.as_bytes().to_vec())
                .unwrap_or_default();
            *subdirs.entry(parent).or_default() += 1;
        }
    }

    w.entry(
        b".",
        1,
        0o040_000 | 0o755,
        (0, 0),
        2 + subdirs.get(&Vec::new()).copied().unwrap_or(0),
        (0, 0),
        &[],
    )?;
    let mut next = 2u32;
    for (path, node) in tree.iter() {
        if !node.xattrs.is_empty() {
            return Err(Error::Xattrs {
                path: path.display(),
                names: node.xattrs.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        }
        let name = path.as_bytes();
        let too_large = |what| Error::TooLarge {
            path: path.display(),
            what,
        };
        let owner = (node.uid, node.gid);
        let perm = node.mode & 0o7777;
        let ino = match group_of.get(path) {
            Some((target, _)) => *inode.entry(target.clone()).or_insert_with(|| {
                next += 1;
                next - 1
            }),
            None => {
                next += 1;
                next - 1
            }
        };
        match &node.kind {
            NodeKind::Dir => {
                let links = 2 + subdirs.get(name).copied().unwrap_or(0);
                w.entry(name, ino, 0o040_000 | perm, owner, links, (0, 0), &[])?;
            }
            NodeKind::File(_) | NodeKind::Hardlink(_) => {
                let file = tree.file_node(path).unwrap_or(node);
                let (links, carries) = match group_of.get(path) {
                    Some((target, n)) => (
                        u32::try_from(*n).map_err(|_| too_large("the link count"))?,
                        last_member.get(target) == Some(path),
                    ),
                    None => (1, true),
                };
                let data = match (&file.kind, carries) {
                    (NodeKind::File(content), true) => content.bytes(),
                    _ => &[],
                };
                let (perm, owner) = (file.mode & 0o7777, (file.uid, file.gid));
                w.entry(name, ino, 0o100_000 | perm, owner, links, (0, 0), data)?;
            }
            NodeKind::Symlink(target) => {
                w.entry(name, ino, 0o120_000 | 0o777, owner, 1, (0, 0), target)?;
            }
            NodeKind::CharDevice { major, minor } => {
                w.entry(name, ino, 0o020_000 | perm, owner, 1, (*major, *minor), &[])?;
            }
            NodeKind::BlockDevice { major, minor } => {
                w.entry(name, ino, 0o060_000 | perm, owner, 1, (*major, *minor), &[])?;
            }
            NodeKind::Fifo => {
                w.entry(name, ino, 0o010_000 | perm, owner, 1, (0, 0), &[])?;
            }
        }
    }
    for (path, major, minor, mode) in BOOT_DEVICES {
        let exists = ImagePath::new(path.as_bytes())
            .ok()
            .is_some_and(|p| tree.get(&p).is_some());
        let has_dev = ImagePath::new(b"dev")
            .ok()
            .is_some_and(|p| tree.get(&p).is_some_and(Node::is_dir));
        if !exists && has_dev {
            w.entry(
                path.as_bytes(),
                next,
                0o020_000 | mode,
                (0, 0),
                1,
                (*major, *minor),
                &[],
            )?;
            next += 1;
        }
    }
    w.entry(b"TRAILER!!!", 0, 0, (0, 0), 1, (0, 0), &[])?;
    Ok(w.out)
}

struct Writer<W> {
    out: W,
    mtime: u32,
}

impl<W: Write> Writer<W> {
    #[allow(clippy::too_many_arguments)]
    fn entry(
        &mut self,
        name: &[u8],
        ino: u32,
        mode: u32,
        (uid, gid): (u32, u32),
        links: u32,
        (rmajor, rminor): (u32, u32),
        data: &[u8],
    ) -> Result<(), Error> {
        let display = String::from_utf8_lossy(name).into_owned();
        let size = u32::try_from(data.len()).map_err(|_| Error::TooLarge {
            path: display.clone(),
            what: "the file size",
        })?;
        let namesize = u32::try_from(name.len() + 1).map_err(|_| Error::TooLarge {
            path: display.clone(),
            what: "the name",
        })?;
        let mtime = if name == b"TRAILER!!!" { 0 } else { self.mtime };
        let header = format!(
            "070701{ino:08x}{mode:08x}{uid:08x}{gid:08x}{links:08x}{mtime:08x}{size:08x}{:08x}{:08x}{rmajor:08x}{rminor:08x}{namesize:08x}{:08x}",
            0, 0, 0
        );
        let err = |source| Error::Write {
            path: display.clone(),
            source,
        };
        self.out.write_all(header.as_bytes()).map_err(err)?;
        self.out.write_all(name).map_err(err)?;
        self.out.write_all(&[0]).map_err(err)?;
        let pad = (4 - (110 + name.len() + 1) % 4) % 4;
        self.out.write_all(&[0; 3][..pad]).map_err(err)?;
        self.out.write_all(data).map_err(err)?;
        let pad = (4 - data.len() % 4) % 4;
        self.out.write_all(&[0; 3][..pad]).map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImagePath {
        ImagePath::new(s.as_bytes()).unwrap()
    }

    /// (name, mode, uid, nlink, ino, data) of every entry of an uncompressed archive.
    fn entries(bytes: &[u8]) -> Vec<(String, u32, u32, u32, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            let field = |i: usize| {
                u32::from_str_radix(
                    std::str::from_utf8(&bytes[at + 6 + 8 * i..at + 14 + 8 * i]).unwrap(),
                    16,
                )
                .unwrap()
            };
            assert_eq!(&bytes[at..at + 6], b"070701");
            let (ino, mode, uid, nlink, size, namesize) =
                (field(0), field(1), field(2), field(4), field(6), field(11));
            let name_at = at + 110;
            let name = String::from_utf8(bytes[name_at..name_at + namesize as usize - 1].to_vec())
                .unwrap();
            let data_at = (name_at + namesize as usize).div_ceil(4) * 4;
            let data = bytes[data_at..data_at + size as usize].to_vec();
            at = (data_at + size as usize).div_ceil(4) * 4;
            if name == "TRAILER!!!" {
                assert_eq!(at, bytes.len());
                return out;
            }
            out.push((name, mode, uid, nlink, ino, data));
        }
    }

    #[test]
    fn entries_are_sorted_with_numeric_owners_and_hard_links() {
        let mut tree = ImageTree::new();
        tree.insert(p("dev"), Node::dir(0o755)).unwrap();
        tree.insert(p("etc"), Node::dir(0o755)).unwrap();
        tree.insert(p("etc/b"), Node::file(&b"hello"[..], 0o640).owned(5, 6))
            .unwrap();
        tree.insert(p("etc/a"), Node::new(NodeKind::Hardlink(p("etc/b")), 0o640))
            .unwrap();
        tree.insert(p("etc/c"), Node::symlink(&b"b"[..])).unwrap();
        let bytes = write_cpio(&tree, 1_700_000_000, Vec::new()).unwrap();
        let e = entries(&bytes);
        let names: Vec<&str> = e.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            names,
            [
                ".",
                "dev",
                "etc",
                "etc/a",
                "etc/b",
                "etc/c",
                "dev/console",
                "dev/null"
            ]
        );
        // The hard-link group: one inode, two links, the data with the last member.
        assert_eq!(e[3].4, e[4].4);
        assert_eq!((e[3].3, e[4].3), (2, 2));
        assert_eq!(
            (e[3].5.as_slice(), e[4].5.as_slice()),
            (&b""[..], &b"hello"[..])
        );
        assert_eq!((e[4].1, e[4].2), (0o100_640, 5));
        assert_eq!((e[5].1, e[5].5.as_slice()), (0o120_777, &b"b"[..]));
        assert_eq!(e[6].1, 0o020_600);
        // cpio itself reads it back.
        assert_eq!(write_cpio(&tree, 1_700_000_000, Vec::new()).unwrap(), bytes);
    }

    #[test]
    fn extended_attributes_are_refused() {
        let mut tree = ImageTree::new();
        let mut node = Node::file(&b"x"[..], 0o755);
        node.xattrs
            .insert("security.capability".to_owned(), b"\x01".to_vec());
        tree.insert(p("ping"), node).unwrap();
        let err = write_cpio(&tree, 0, Vec::new()).unwrap_err();
        assert!(err.to_string().contains("security.capability"), "{err}");
    }

    #[test]
    fn compressed_outputs_are_reproducible() {
        let mut tree = ImageTree::new();
        tree.insert(p("a"), Node::file(vec![7u8; 10_000], 0o644))
            .unwrap();
        for c in [Compression::Gzip, Compression::Zstd] {
            assert_eq!(write(&tree, 5, c).unwrap(), write(&tree, 5, c).unwrap());
        }
        let zst = write(&tree, 5, Compression::Zstd).unwrap();
        let plain = zstd::stream::decode_all(&zst[..]).unwrap();
        assert_eq!(plain, write_cpio(&tree, 5, Vec::new()).unwrap());
    }
}
