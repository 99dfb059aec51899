//! `archive`: the one reader of image archives (`IMAGE.tar.gz`, or a plain tar), under every
//! command that reads an image: `manifest`, `verify` and `diff` (through [`super::host`]),
//! `audit` (through [`super::rootfs`]), `scan` and `outdated` (through [`super::rootfs`] too).
//!
//! What it guarantees, so that no caller decides it again:
//!
//! - gzip is recognised by its magic bytes (concatenated members included), anything else is
//!   read as a plain tar;
//! - bounds ([`Limits`]): members, bytes inflated (headers and contents together) and the
//!   length of a name; a hostile archive stops with an error naming the limit;
//! - one name rule ([`member_path`]): `./etc/passwd`, `/etc/passwd`, `etc//passwd/` and
//!   `etc/./passwd` are all the image path `etc/passwd` ([`ImagePath`]); `..` and NUL are
//!   refused, and the root itself (`./`) is [`Member::path`] `None`;
//! - every field checked: mode, owner and group within `u32`, device numbers, a link target
//!   for every link, a hard link only to an earlier regular file; a member type that is not a
//!   file, directory, link, device or FIFO is refused rather than skipped;
//! - one error type, [`Error`], naming the archive, the member and the evidence.
//!
//! Members are yielded in archive order, and **the last member wins**: a later member at the
//! same path replaces an earlier one, as extracting the archive does, and every caller keeps
//! the last one (the entries of a manifest, the files an audit reads, the installed-package
//! database that `scan`, `outdated`, `verify` and `diff` read). Symbolic links are reported,
//! never followed: what a link means is its caller's policy.
//!
//! Invariant: memory is bounded by the caller's use of each member (the reader keeps one
//! buffer and the set of regular-file paths seen, for checking hard links), and nothing is
//! written.

use std::collections::HashSet;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::tree::ImagePath;

use super::manifest::escape;

/// Size of the read buffer in front of the decompressor.
const READ_BUFFER: usize = 256 * 1024;

/// Bounds on what one archive may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most members (PAX and GNU long-name headers are part of the member they describe).
    pub entries: usize,
    /// Most bytes read from the (inflated) tar stream: headers and contents together.
    pub bytes: u64,
    /// Longest member name or link target, in bytes (Linux's `PATH_MAX`).
    pub name: usize,
}

/// Most members accepted from one archive.
pub const MAX_ENTRIES: usize = 4_000_000;

/// Most inflated bytes read from one archive (a bound on the time a gzip bomb costs).
pub const MAX_BYTES: u64 = 64 << 30;

/// Longest name accepted.
pub const MAX_NAME: usize = 4096;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            entries: MAX_ENTRIES,
            bytes: MAX_BYTES,
            name: MAX_NAME,
        }
    }
}

/// An archive that cannot be read, or a member that cannot be accepted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The archive cannot be read: I/O, corrupt gzip, a truncated or malformed tar.
    #[error("cannot read the archive `{path}`")]
    Read {
        /// The archive.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A member whose name escapes the root or is not a path at all.
    #[error("the archive `{path}` holds an unsafe member path `{member}`")]
    UnsafeMember {
        /// The archive.
        path: PathBuf,
        /// The member name, escaped.
        member: String,
    },
    /// A member that cannot be accepted: a header field out of range, a link without a
    /// target, a hard link to nothing, a member type basalt does not describe.
    #[error("the archive `{path}` holds member `{member}` that cannot be described: {reason}")]
    BadMember {
        /// The archive.
        path: PathBuf,
        /// The member name, escaped.
        member: String,
        /// Why.
        reason: String,
    },
    /// More members than [`Limits::entries`].
    #[error("the archive `{path}` holds more than {limit} entries")]
    TooManyEntries {
        /// The archive.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// More inflated bytes than [`Limits::bytes`].
    #[error("the archive `{path}` inflates to more than {limit} bytes")]
    TooLarge {
        /// The archive.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
}

/// What a member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file of `size` bytes; its contents are the reader handed to the visitor.
    File {
        /// Size in bytes.
        size: u64,
    },
    /// A directory.
    Dir,
    /// A symbolic link, with its target as written.
    Symlink {
        /// The target, raw.
        target: Vec<u8>,
    },
    /// A hard link to an earlier regular file of the archive.
    HardLink {
        /// The file it links to.
        target: ImagePath,
    },
    /// A character device.
    Char {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    Block {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// One member of an archive, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its path in the image; `None` for the root directory itself (`./`).
    pub path: Option<ImagePath>,
    /// What it is.
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky (`mode & 0o7777`).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Extended attributes (`SCHILY.xattr.*` PAX records), in archive order.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Member {
    /// The absolute path (`/etc/passwd`; `/` for the root), as manifests and roots name entries.
    #[must_use]
    pub fn absolute(&self) -> Vec<u8> {
        absolute(self.path.as_ref())
    }
}

/// The absolute form of an image path (`/` for `None`, the root).
#[must_use]
pub fn absolute(path: Option<&ImagePath>) -> Vec<u8> {
    match path {
        None => b"/".to_vec(),
        Some(p) => {
            let mut out = Vec::with_capacity(p.as_bytes().len() + 1);
            out.push(b'/');
            out.extend_from_slice(p.as_bytes());
            out
        }
    }
}

/// The one name rule: a member name (`./etc/passwd`, `/etc/passwd`, `etc/./passwd/`) as an
/// image path; `Ok(None)` is the root itself. Empty and `.` components are dropped; `..` and
/// NUL are refused (`Err(())`).
///
/// # Errors
/// `Err(())` when the name escapes the root or is not a path.
#[allow(clippy::result_unit_err)]
pub fn member_path(raw: &[u8]) -> Result<Option<ImagePath>, ()> {
    let mut out = Vec::with_capacity(raw.len());
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(()),
            p => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(p);
            }
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    ImagePath::new(&out).map(Some).map_err(|_| ())
}

/// Counts the inflated bytes read through it and fails past the limit.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One byte more than the limit tells a full archive from a longer one.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(TooLargeMarker)),
            };
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// The error a [`Bounded`] reader raises, recognised in [`read`].
#[derive(Debug)]
struct TooLargeMarker;

impl std::fmt::Display for TooLargeMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the inflated archive is larger than its limit")
    }
}

impl std::error::Error for TooLargeMarker {}

/// Reads an archive, streaming, and calls `visit` with every member in archive order and a
/// reader of its contents (empty for anything but a regular file). `name` names the archive
/// in errors only.
///
/// # Errors
/// [`Error`] for unreadable or corrupt input, a member that breaks a rule, a limit passed,
/// and the visitor's own I/O errors (reading contents) as [`Error::Read`].
pub fn read(
    reader: impl Read,
    name: &Path,
    limits: &Limits,
    mut visit: impl FnMut(&Member, &mut dyn Read) -> io::Result<()>,
) -> Result<(), Error> {
    let read_err = |source: io::Error| {
        if source
            .get_ref()
            .is_some_and(|inner| inner.is::<TooLargeMarker>())
        {
            Error::TooLarge {
                path: name.to_path_buf(),
                limit: limits.bytes,
            }
        } else {
            Error::Read {
                path: name.to_path_buf(),
                source,
            }
        }
    };
    let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
    let gz = reader
        .fill_buf()
        .map_err(read_err)?
        .starts_with(&[0x1f, 0x8b]);
    let inner: Box<dyn Read> = if gz {
        Box::new(flate2::bufread::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut archive = tar::Archive::new(Bounded {
        inner,
        left: limits.bytes,
    });
    let mut files: HashSet<ImagePath> = HashSet::new();
    let mut count = 0usize;
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        count += 1;
        if count > limits.entries {
            return Err(Error::TooManyEntries {
                path: name.to_path_buf(),
                limit: limits.entries,
            });
        }
        let raw = entry.path_bytes().into_owned();
        let bad = |reason: String| Error::BadMember {
            path: name.to_path_buf(),
            member: escape(&raw),
            reason,
        };
        let unsafe_name = |member: &[u8]| Error::UnsafeMember {
            path: name.to_path_buf(),
            member: escape(member),
        };
        if raw.len() > limits.name {
            return Err(bad(format!("a name longer than {} bytes", limits.name)));
        }
        let path = member_path(&raw).map_err(|()| unsafe_name(&raw))?;
        let header = entry.header().clone();
        let mode = header.mode().map_err(|e| bad(e.to_string()))? & 0o7777;
        let uid = u32::try_from(header.uid().map_err(|e| bad(e.to_string()))?)
            .map_err(|_| bad("uid above 2^32".into()))?;
        let gid = u32::try_from(header.gid().map_err(|e| bad(e.to_string()))?)
            .map_err(|_| bad("gid above 2^32".into()))?;
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(read_err)? {
            for ext in pax {
                let ext = ext.map_err(read_err)?;
                if let Some(attr) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((attr.to_vec(), ext.value_bytes().to_vec()));
                }
            }
        }
        let link_target = |entry: &tar::Entry<'_, _>| -> Result<Vec<u8>, Error> {
            let target = entry
                .link_name_bytes()
                .map(std::borrow::Cow::into_owned)
                .ok_or_else(|| bad("a link without a target".into()))?;
            if target.len() > limits.name {
                return Err(bad(format!(
                    "a link target longer than {} bytes",
                    limits.name
                )));
            }
            Ok(target)
        };
        let device = |field: io::Result<Option<u32>>| -> Result<u32, Error> {
            Ok(field.map_err(|e| bad(e.to_string()))?.unwrap_or(0))
        };
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                Kind::File { size: entry.size() }
            }
            tar::EntryType::Link => {
                let raw_target = link_target(&entry)?;
                let target = member_path(&raw_target)
                    .ok()
                    .flatten()
                    .ok_or_else(|| unsafe_name(&raw_target))?;
                if !files.contains(&target) {
                    return Err(bad(format!(
                        "a hard link to `{}`, which is not an earlier regular file",
                        escape(&absolute(Some(&target)))
                    )));
                }
                Kind::HardLink { target }
            }
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink {
                target: link_target(&entry)?,
            },
            tar::EntryType::Char => Kind::Char {
                major: device(header.device_major())?,
                minor: device(header.device_minor())?,
            },
            tar::EntryType::Block => Kind::Block {
                major: device(header.device_major())?,
                minor: device(header.device_minor())?,
            },
            tar::EntryType::Fifo => Kind::Fifo,
            other => return Err(bad(format!("unsupported member type {other:?}"))),
        };
        // The set of regular files as they stand now: a later member at the same path
        // replaces the earlier one, so a hard link can only name what is a file now.
        if let Some(p) = &path {
            if matches!(kind, Kind::File { .. } | Kind::HardLink { .. }) {
                files.insert(p.clone());
            } else {
                files.remove(p);
            }
        }
        let member = Member {
            path,
            kind,
            mode,
            uid,
            gid,
            xattrs,
        };
        visit(&member, &mut entry).map_err(read_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar.gz with the given members: (name, type, content or link target).
    fn archive(members: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (name, kind, data) in members {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            if name.split('/').any(|c| c == "..") {
                // The tar crate refuses to write `..`: put the name into the header directly.
                header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
                header.set_size(data.len() as u64);
                header.set_cksum();
                builder.append(&header, *data).unwrap();
                continue;
            }
            match *kind {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    header.set_size(0);
                    builder
                        .append_link(&mut header, name, std::str::from_utf8(data).unwrap())
                        .unwrap();
                }
                _ => {
                    header.set_size(data.len() as u64);
                    builder.append_data(&mut header, name, *data).unwrap();
                }
            }
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn members(bytes: &[u8], limits: &Limits) -> Result<Vec<(Member, Vec<u8>)>, Error> {
        let mut out = Vec::new();
        read(bytes, Path::new("t.tar.gz"), limits, |m, content| {
            let mut data = Vec::new();
            content.read_to_end(&mut data)?;
            out.push((m.clone(), data));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn names_follow_one_rule() {
        let case = |raw: &str, want: Option<Option<&str>>| {
            let got = member_path(raw.as_bytes())
                .ok()
                .map(|p| p.map(|p| String::from_utf8(p.as_bytes().to_vec()).unwrap()));
            assert_eq!(got, want.map(|w| w.map(str::to_owned)), "{raw}");
        };
        case("./etc/passwd", Some(Some("etc/passwd")));
        case("/etc/passwd", Some(Some("etc/passwd")));
        case("etc//passwd/", Some(Some("etc/passwd")));
        case("etc/./passwd", Some(Some("etc/passwd")));
        case("./", Some(None));
        case(".", Some(None));
        case("/", Some(None));
        case("etc/../passwd", None);
        case("..", None);
        case("etc/pass\0wd", None);
    }

    #[test]
    fn members_come_in_order_with_their_contents() {
        let bytes = archive(&[
            ("./", tar::EntryType::Directory, b""),
            ("./etc/motd", tar::EntryType::Regular, b"first"),
            ("./etc/motd", tar::EntryType::Regular, b"second"),
            ("./etc/issue", tar::EntryType::Link, b"./etc/motd"),
            ("./bin/sh", tar::EntryType::Symlink, b"/bin/busybox"),
        ]);
        let got = members(&bytes, &Limits::default()).unwrap();
        let names: Vec<Vec<u8>> = got.iter().map(|(m, _)| m.absolute()).collect();
        assert_eq!(
            names,
            [
                &b"/"[..],
                b"/etc/motd",
                b"/etc/motd",
                b"/etc/issue",
                b"/bin/sh"
            ]
        );
        // Both members of one path are reported; callers keep the last.
        assert_eq!(got[1].1, b"first");
        assert_eq!(got[2].1, b"second");
        assert_eq!(
            got[3].0.kind,
            Kind::HardLink {
                target: ImagePath::new(b"etc/motd").unwrap()
            }
        );
        assert_eq!(
            got[4].0.kind,
            Kind::Symlink {
                target: b"/bin/busybox".to_vec()
            }
        );
    }

    #[test]
    fn plain_tar_reads_like_gzip() {
        let gz = archive(&[("etc/motd", tar::EntryType::Regular, b"hi")]);
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut plain)
            .unwrap();
        let a = members(&gz, &Limits::default()).unwrap();
        let b = members(&plain, &Limits::default()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn rules_and_limits_are_enforced() {
        let err = |members_: &[(&str, tar::EntryType, &[u8])], limits: Limits| {
            members(&archive(members_), &limits)
                .unwrap_err()
                .to_string()
        };
        let d = Limits::default();
        assert_eq!(
            err(&[("a/../../etc", tar::EntryType::Regular, b"")], d),
            "the archive `t.tar.gz` holds an unsafe member path `a/../../etc`"
        );
        assert!(
            err(&[("etc/x", tar::EntryType::Link, b"etc/none")], d)
                .ends_with("a hard link to `/etc/none`, which is not an earlier regular file")
        );
        // A hard link names what is at its target now, not what was there before.
        assert!(
            err(
                &[
                    ("etc/f", tar::EntryType::Regular, b"x"),
                    ("etc/f", tar::EntryType::Directory, b""),
                    ("etc/x", tar::EntryType::Link, b"etc/f"),
                ],
                d
            )
            .contains("not an earlier regular file")
        );
        assert!(
            err(&[("etc/x", tar::EntryType::new(b'Z'), b"")], d)
                .contains("unsupported member type")
        );
        let few = Limits { entries: 2, ..d };
        assert_eq!(
            err(
                &[
                    ("a", tar::EntryType::Regular, b""),
                    ("b", tar::EntryType::Regular, b""),
                    ("c", tar::EntryType::Regular, b""),
                ],
                few
            ),
            "the archive `t.tar.gz` holds more than 2 entries"
        );
        let small = Limits { bytes: 1024, ..d };
        assert_eq!(
            err(&[("a", tar::EntryType::Regular, &[0u8; 4096])], small),
            "the archive `t.tar.gz` inflates to more than 1024 bytes"
        );
        let short = Limits { name: 8, ..d };
        assert!(
            err(&[("etc/long-name", tar::EntryType::Regular, b"")], short)
                .ends_with("a name longer than 8 bytes")
        );
    }

    #[test]
    fn ids_beyond_u32_are_refused() {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(0);
        header.set_mode(0o644);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_uid(1 << 33);
        builder.append_data(&mut header, "big", &[][..]).unwrap();
        let bytes = builder.into_inner().unwrap().finish().unwrap();
        let e = members(&bytes, &Limits::default()).unwrap_err();
        assert!(e.to_string().ends_with("uid above 2^32"), "{e}");
    }
}
