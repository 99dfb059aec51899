//! Serialises an [`ImageTree`] into a tar.gz, byte for byte reproducibly.
//!
//! Invariants: the output depends only on the tree and the epoch.
//! - the root directory `./` (0755, root) first, then every entry in path byte order (every
//!   directory before its contents);
//! - ustar headers; a PAX record only where ustar cannot say it (a name or link target longer
//!   than 100 bytes or not UTF-8, an id or size over the octal fields, extended attributes as
//!   `SCHILY.xattr.*`); the PAX header is always named `././@PaxHeader`;
//! - numeric ids and the names the image's own `/etc/passwd` and `/etc/group` give them;
//! - every mtime is the epoch (`SOURCE_DATE_EPOCH` or the lock's);
//! - hard links: the first path of a group (in path order) carries the content, the others
//!   link to it, so extraction never meets a link before its target;
//! - gzip: no name, mtime 0, OS byte 3 (Unix), compression level 6 ([`COMPRESSION_LEVEL`]).

use std::collections::BTreeMap;
use std::io::{self, Write};

use flate2::{Compression, GzBuilder};

use crate::accounts::Accounts;
use crate::tree::{ImagePath, ImageTree, Node, NodeKind};

/// The fixed gzip level: the one `gzip` uses by default, a good balance of size and time.
pub const COMPRESSION_LEVEL: u32 = 6;

/// The gzip OS byte written (3: Unix), whatever the building host is.
pub const GZIP_OS_UNIX: u8 = 3;

/// The largest value an 8-byte octal ustar field can hold.
const OCTAL_7: u64 = 0o7_777_777;
/// The largest value a 12-byte octal ustar field can hold.
const OCTAL_11: u64 = 0o77_777_777_777;

/// Errors from writing an image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The destination failed.
    #[error("cannot write image archive entry `{path}`")]
    Write {
        /// The entry being written.
        path: String,
        /// The writer's error.
        #[source]
        source: io::Error,
    },
    /// A hard link whose target is not a regular file of the tree.
    #[error("hard link `{path}` points to `{target}`, which is not a regular file of the image")]
    DanglingHardlink {
        /// The link.
        path: ImagePath,
        /// Its target.
        target: ImagePath,
    },
}

/// Writes the tree as a gzip-compressed tar into `out`, returning `out`.
///
/// # Errors
/// [`Error::Write`] naming the entry being written, or [`Error::DanglingHardlink`].
pub fn write_tar_gz<W: Write>(tree: &ImageTree, epoch: u64, out: W) -> Result<W, Error> {
    let gz = GzBuilder::new()
        .mtime(0)
        .operating_system(GZIP_OS_UNIX)
        .write(out, Compression::new(COMPRESSION_LEVEL));
    let gz = write_tar(tree, epoch, gz)?;
    gz.finish().map_err(|source| Error::Write {
        path: "(gzip trailer)".to_owned(),
        source,
    })
}

/// Writes the tree as an uncompressed tar into `out`, returning `out`.
///
/// # Errors
/// As [`write_tar_gz`].
pub fn write_tar<W: Write>(tree: &ImageTree, epoch: u64, out: W) -> Result<W, Error> {
    let accounts = Accounts::of(tree);
    let canonical = hardlink_groups(tree)?;
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    // The root directory itself, as root filesystem archives carry it: extracting the image
    // sets the target's mode and owner, and a manifest of the archive describes `/`.
    let root = Node::dir(0o755);
    let root_entry = EntrySpec {
        name: b"./".to_vec(),
        node: &root,
        link_to: None,
        uname: accounts.user_name(0).unwrap_or(""),
        gname: accounts.group_name(0).unwrap_or(""),
        epoch,
    };
    root_entry
        .append(&mut builder)
        .map_err(|source| Error::Write {
            path: "./".to_owned(),
            source,
        })?;
    for (path, node) in tree.iter() {
        let write_err = |source| Error::Write {
            path: path.display(),
            source,
        };
        // A member of a hard-link group: the first carries the content.
        let (node, link_to): (&Node, Option<&ImagePath>) = match canonical.get(path) {
            Some(first) if first == path => {
                let target = match &node.kind {
                    NodeKind::Hardlink(t) => t,
                    _ => path,
                };
                (tree.file_node(target).unwrap_or(node), None)
            }
            Some(first) => (tree.file_node(path).unwrap_or(node), Some(first)),
            None => (node, None),
        };
        let entry = EntrySpec::new(path, node, link_to, &accounts, epoch);
        entry.append(&mut builder).map_err(write_err)?;
    }
    builder.into_inner().map_err(|source| Error::Write {
        path: "(end of archive)".to_owned(),
        source,
    })
}

/// For every path in a hard-link group, the group's first path in tree order.
fn hardlink_groups(tree: &ImageTree) -> Result<BTreeMap<ImagePath, ImagePath>, Error> {
    let mut groups: BTreeMap<ImagePath, Vec<ImagePath>> = BTreeMap::new();
    for (path, node) in tree.iter() {
        if let NodeKind::Hardlink(target) = &node.kind {
            if tree.file_node(path).is_none() {
                return Err(Error::DanglingHardlink {
                    path: path.clone(),
                    target: target.clone(),
                });
            }
            groups.entry(target.clone()).or_default().push(path.clone());
        }
    }
    let mut canonical = BTreeMap::new();
    for (target, mut members) in groups {
        members.push(target);
        members.sort();
        let first = members[0].clone();
        for member in members {
            canonical.insert(member, first.clone());
        }
    }
    Ok(canonical)
}

/// One tar entry, with the PAX records it needs.
struct EntrySpec<'a> {
    name: Vec<u8>,
    node: &'a Node,
    link_to: Option<&'a ImagePath>,
    uname: &'a str,
    gname: &'a str,
    epoch: u64,
}

impl<'a> EntrySpec<'a> {
    fn new(
        path: &ImagePath,
        node: &'a Node,
        link_to: Option<&'a ImagePath>,
        accounts: &'a Accounts,
        epoch: u64,
    ) -> Self {
        let mut name = path.as_bytes().to_vec();
        if node.is_dir() {
            name.push(b'/');
        }
        EntrySpec {
            name,
            node,
            link_to,
            uname: accounts.user_name(node.uid).unwrap_or(""),
            gname: accounts.group_name(node.gid).unwrap_or(""),
            epoch,
        }
    }

    fn append<W: Write>(&self, builder: &mut tar::Builder<W>) -> io::Result<()> {
        let node = self.node;
        let mut header = tar::Header::new_ustar();
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        let (entry_type, data, link): (tar::EntryType, &[u8], Option<&[u8]>) =
            match (self.link_to, &node.kind) {
                (Some(first), _) => (tar::EntryType::Link, &[], Some(first.as_bytes())),
                (None, NodeKind::File(content)) => (tar::EntryType::Regular, content.bytes(), None),
                (None, NodeKind::Hardlink(_)) => (tar::EntryType::Regular, &[], None),
                (None, NodeKind::Dir) => (tar::EntryType::Directory, &[], None),
                (None, NodeKind::Symlink(target)) => (tar::EntryType::Symlink, &[], Some(target)),
                (None, NodeKind::CharDevice { .. }) => (tar::EntryType::Char, &[], None),
                (None, NodeKind::BlockDevice { .. }) => (tar::EntryType::Block, &[], None),
                (None, NodeKind::Fifo) => (tar::EntryType::Fifo, &[], None),
            };
        header.set_entry_type(entry_type);

        set_bytes_field(&mut header.as_old_mut().name, &self.name, "path", &mut pax);
        if let Some(link) = link {
            set_bytes_field(
                &mut header.as_old_mut().linkname,
                link,
                "linkpath",
                &mut pax,
            );
        }
        header.set_mode(node.mode & 0o7777);
        set_number(&mut header, u64::from(node.uid), "uid", &mut pax, |h, v| {
            h.set_uid(v)
        });
        set_number(&mut header, u64::from(node.gid), "gid", &mut pax, |h, v| {
            h.set_gid(v)
        });
        let size = data.len() as u64;
        if size > OCTAL_11 {
            pax.push(("size".to_owned(), size.to_string().into_bytes()));
            header.set_size(0);
        } else {
            header.set_size(size);
        }
        header.set_mtime(self.epoch.min(OCTAL_11));
        if self.epoch > OCTAL_11 {
            pax.push(("mtime".to_owned(), self.epoch.to_string().into_bytes()));
        }
        set_name(&mut header, self.uname, "uname", &mut pax, true);
        set_name(&mut header, self.gname, "gname", &mut pax, false);
        if let NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } =
            node.kind
        {
            header.set_device_major(major)?;
            header.set_device_minor(minor)?;
        } else {
            header.set_device_major(0)?;
            header.set_device_minor(0)?;
        }
        for (key, value) in &node.xattrs {
            pax.push((format!("SCHILY.xattr.{key}"), value.clone()));
        }
        if !pax.is_empty() {
            let mut records = Vec::new();
            for (key, value) in &pax {
                records.extend_from_slice(&pax_record(key, value));
            }
            let mut pax_header = tar::Header::new_ustar();
            pax_header.set_entry_type(tar::EntryType::XHeader);
            set_bytes_field(
                &mut pax_header.as_old_mut().name,
                b"././@PaxHeader",
                "path",
                &mut Vec::new(),
            );
            pax_header.set_mode(0o644);
            pax_header.set_size(records.len() as u64);
            pax_header.set_mtime(self.epoch.min(OCTAL_11));
            pax_header.set_cksum();
            builder.append(&pax_header, &records[..])?;
        }
        header.set_cksum();
        builder.append(&header, data)
    }
}

/// Puts `value` into a fixed ustar field, or a truncated copy plus a PAX record when it does
/// not fit or is not UTF-8.
fn set_bytes_field(field: &mut [u8], value: &[u8], key: &str, pax: &mut Vec<(String, Vec<u8>)>) {
    let fits = value.len() <= field.len() && std::str::from_utf8(value).is_ok();
    if !fits {
        pax.push((key.to_owned(), value.to_vec()));
    }
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
    field[n..].fill(0);
}

fn set_number(
    header: &mut tar::Header,
    value: u64,
    key: &str,
    pax: &mut Vec<(String, Vec<u8>)>,
    set: impl Fn(&mut tar::Header, u64),
) {
    if value > OCTAL_7 {
        pax.push((key.to_owned(), value.to_string().into_bytes()));
        set(header, 0);
    } else {
        set(header, value);
    }
}

fn set_name(
    header: &mut tar::Header,
    name: &str,
    key: &str,
    pax: &mut Vec<(String, Vec<u8>)>,
    user: bool,
) {
    let ustar = header.as_ustar_mut().expect("a ustar header");
    let field = if user {
        &mut ustar.uname
    } else {
        &mut ustar.gname
    };
    // 32-byte fields must keep a NUL terminator.
    if name.len() >= field.len() {
        pax.push((key.to_owned(), name.as_bytes().to_vec()));
        field.fill(0);
    } else {
        field[..name.len()].copy_from_slice(name.as_bytes());
        field[name.len()..].fill(0);
    }
}

/// One PAX extended-header record: `LEN KEY=VALUE\n`, where LEN counts the whole record.
#[must_use]
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn p(s: &str) -> ImagePath {
        ImagePath::new(s.as_bytes()).unwrap()
    }

    fn sample() -> ImageTree {
        let mut tree = ImageTree::new();
        tree.insert(p("etc"), Node::dir(0o755)).unwrap();
        tree.insert(
            p("etc/passwd"),
            Node::file(
                &b"root:x:0:0::/root:/bin/sh\nchrony:x:100:101::/:/sbin/nologin\n"[..],
                0o644,
            ),
        )
        .unwrap();
        tree.insert(
            p("etc/group"),
            Node::file(&b"root:x:0:\nchrony:x:101:\n"[..], 0o644),
        )
        .unwrap();
        tree.insert(p("var"), Node::dir(0o755)).unwrap();
        tree.insert(p("var/lib"), Node::dir(0o755).owned(100, 101))
            .unwrap();
        tree.insert(p("bin"), Node::dir(0o755)).unwrap();
        tree.insert(p("bin/busybox"), Node::file(&b"\x7fELF"[..], 0o755))
            .unwrap();
        tree.insert(p("bin/sh"), Node::symlink("/bin/busybox"))
            .unwrap();
        tree.insert(
            p("bin/a-link"),
            Node::new(NodeKind::Hardlink(p("bin/busybox")), 0o755),
        )
        .unwrap();
        let long = format!("usr/{}", "x".repeat(150));
        tree.insert(p("usr"), Node::dir(0o755)).unwrap();
        let mut node = Node::file(&b"long"[..], 0o4755).owned(3_000_000, 7);
        node.xattrs
            .insert("security.capability".into(), vec![1, 0, 0, 2]);
        tree.insert(p(&long), node).unwrap();
        tree
    }

    #[test]
    fn pax_records_count_their_own_length() {
        assert_eq!(pax_record("path", b"abc"), b"12 path=abc\n");
        let r = pax_record("k", &[b'v'; 95]);
        assert_eq!(r.len(), 102);
        assert!(r.starts_with(b"102 k="));
    }

    #[test]
    fn archives_are_deterministic_and_complete() {
        let tree = sample();
        let a = write_tar_gz(&tree, 1_700_000_000, Vec::new()).unwrap();
        let b = write_tar_gz(&tree, 1_700_000_000, Vec::new()).unwrap();
        assert_eq!(a, b);
        // gzip header: magic, deflate, no flags, mtime 0, OS byte Unix.
        assert_eq!(&a[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&a[4..8], &[0, 0, 0, 0]);
        assert_eq!(a[9], GZIP_OS_UNIX);
        let c = write_tar_gz(&tree, 1_700_000_001, Vec::new()).unwrap();
        assert_ne!(a, c);

        let mut tar_bytes = Vec::new();
        flate2::read::GzDecoder::new(&a[..])
            .read_to_end(&mut tar_bytes)
            .unwrap();
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            let h = entry.header().clone();
            assert_eq!(h.mtime().unwrap(), 1_700_000_000);
            match name.as_str() {
                "var/lib/" => {
                    assert_eq!(h.username().unwrap(), Some("chrony"));
                    assert_eq!(h.groupname().unwrap(), Some("chrony"));
                    assert_eq!(h.uid().unwrap(), 100);
                }
                "bin/a-link" => {
                    // The first path of the group carries the content.
                    assert_eq!(h.entry_type(), tar::EntryType::Regular);
                    let mut body = Vec::new();
                    entry.read_to_end(&mut body).unwrap();
                    assert_eq!(body, b"\x7fELF");
                }
                "bin/busybox" => {
                    assert_eq!(h.entry_type(), tar::EntryType::Link);
                    assert_eq!(&*entry.link_name_bytes().unwrap(), b"bin/a-link");
                }
                "bin/sh" => {
                    assert_eq!(h.entry_type(), tar::EntryType::Symlink);
                    assert_eq!(&*entry.link_name_bytes().unwrap(), b"/bin/busybox");
                }
                n if n.starts_with("usr/xxx") => {
                    assert_eq!(n.len(), 154);
                    assert_eq!(h.mode().unwrap(), 0o4755);
                    let pax: BTreeMap<String, Vec<u8>> = entry
                        .pax_extensions()
                        .unwrap()
                        .unwrap()
                        .map(|e| {
                            let e = e.unwrap();
                            (e.key().unwrap().to_owned(), e.value_bytes().to_vec())
                        })
                        .collect();
                    assert_eq!(pax["uid"], b"3000000");
                    assert_eq!(pax["SCHILY.xattr.security.capability"], [1, 0, 0, 2]);
                }
                _ => {}
            }
            seen.push(name);
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        assert_eq!(seen.len(), tree.len() + 1);
        assert_eq!(seen[0], "./");
    }

    #[test]
    fn system_tar_extracts_it() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("image.tar.gz");
        let bytes = write_tar_gz(&sample(), 1_700_000_000, Vec::new()).unwrap();
        fs_err::write(&archive, bytes).unwrap();
        let listing = std::process::Command::new("tar")
            .args(["-tvzf"])
            .arg(&archive)
            .env("TZ", "UTC")
            .output()
            .unwrap();
        assert!(listing.status.success(), "{listing:?}");
        let text = String::from_utf8(listing.stdout).unwrap();
        assert!(text.contains("chrony/chrony"), "{text}");
        assert!(text.contains("bin/sh -> /bin/busybox"), "{text}");
        assert!(text.contains("2023-11-14 22:13"), "{text}");
        assert!(!text.contains("PaxHeader"), "{text}");
    }
}
