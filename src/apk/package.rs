//! Packages: `.apk` files, read in one streaming pass.
//!
//! [`read_package`] checks, in order: the signature member against a [`Keyring`], the control
//! member (its SHA-1 is the `Q1` identity, compared with an index's `C:` when one is given;
//! `.PKGINFO` parsed, scripts kept), then streams the data member: every entry's path is
//! checked, every regular file's and symlink's SHA-1 is compared with its
//! `APK-TOOLS.checksum.SHA1` PAX record while a visitor reads the content, and the SHA-256 of
//! the compressed data member is compared with `.PKGINFO`'s `datahash`.
//!
//! Invariants: memory does not grow with the size of the package's files (contents are
//! streamed through the visitor and a fixed buffer); no entry with an absolute path or a `..`
//! component is ever handed to the visitor; a returned [`Package`] passed every check that its
//! data allowed (the signature's status is reported, and enforced when
//! [`ReadOptions::require_verified`] is set).

use std::collections::BTreeMap;
use std::io::{self, Read};

use sha1::{Digest as _, Sha1};

use super::checksum::Checksum;
use super::keys::{self, Keyring, Signature, SignatureStatus, SignedDigests};
use super::pkginfo::{self, MAX_PKGINFO, PkgInfo};
use super::tar::{self, EntryKind};
use super::{ArchiveError, Limits, gzip, read_signatures};

/// The PAX record that carries a file's SHA-1.
pub const CHECKSUM_RECORD: &str = "APK-TOOLS.checksum.SHA1";

/// How to read a package.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions<'a> {
    /// The keys trusted for the signature.
    pub keyring: &'a Keyring,
    /// Inflation limits.
    pub limits: Limits,
    /// The identity an index gave for this package (`C:`), checked when present.
    pub expected_identity: Option<&'a Checksum>,
    /// Refuse (with [`Error::Signature`]) before reading any data when the signature is not
    /// verified by a trusted key.
    pub require_verified: bool,
}

impl<'a> ReadOptions<'a> {
    /// Default limits, no expected identity, signature reported but not enforced.
    #[must_use]
    pub fn new(keyring: &'a Keyring) -> Self {
        ReadOptions {
            keyring,
            limits: Limits::default(),
            expected_identity: None,
            require_verified: false,
        }
    }
}

/// A control file other than `.PKGINFO` (`.pre-install`, `.trigger`, …), with its bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Script {
    /// The file name, for example `.post-install`.
    pub name: String,
    /// Permission bits.
    pub mode: u32,
    /// The content.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// One entry of the data member.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DataEntry {
    /// Relative path, normalised: no leading `./` or `/`, no trailing `/`, no `..`.
    pub path: String,
    /// The entry kind.
    pub kind: EntryKind,
    /// Permission and set-id bits.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Owner name.
    pub uname: String,
    /// Group name.
    pub gname: String,
    /// Content size (regular files only).
    pub size: u64,
    /// Modification time.
    pub mtime: i64,
    /// Symlink target as written, or the normalised path a hard link points to.
    pub link_target: Option<String>,
    /// Device numbers.
    pub device: Option<(u32, u32)>,
    /// The `APK-TOOLS.checksum.SHA1` value, verified by the time reading finishes.
    #[serde(serialize_with = "hex_opt")]
    pub sha1: Option<[u8; 20]>,
    /// Extended attributes (`SCHILY.xattr.*` PAX records), by name.
    pub xattrs: BTreeMap<String, String>,
}

fn hex_opt<S: serde::Serializer>(v: &Option<[u8; 20]>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(d) => s.serialize_some(&hex::encode(d)),
        None => s.serialize_none(),
    }
}

/// A read, checked package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Package {
    /// The signature check.
    pub signature: SignatureStatus,
    /// Keys named by the signature member, with their algorithms.
    pub signers: Vec<(keys::SignatureAlgorithm, String)>,
    /// `Q1` + base64(SHA-1 of the control member's compressed bytes).
    pub identity: Checksum,
    /// `.PKGINFO`.
    pub pkginfo: PkgInfo,
    /// The other control files.
    pub scripts: Vec<Script>,
    /// Hex SHA-256 of the data member's compressed bytes (equal to `.PKGINFO`'s `datahash`
    /// when it has one).
    pub datahash: String,
    /// True when `.PKGINFO` had a `datahash` (and it matched).
    pub datahash_checked: bool,
    /// Compressed size of the whole file in bytes.
    pub file_size: u64,
    /// Inflated size of the data member in bytes.
    pub data_size: u64,
}

/// A package that cannot be read, or that failed a check.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A gzip-level problem (bomb, truncation, corruption, a failed CRC).
    #[error("`{file}`: {source}")]
    Gzip {
        /// The package file.
        file: String,
        /// The problem.
        source: gzip::Error,
    },
    /// A tar-level problem in one member.
    #[error("`{file}`: gzip member {member}: {source}")]
    Tar {
        /// The package file.
        file: String,
        /// Member number.
        member: usize,
        /// The problem.
        source: tar::Error,
    },
    /// The package's structure is wrong.
    #[error("`{file}`: {problem}")]
    Structure {
        /// The package file.
        file: String,
        /// What is wrong.
        problem: String,
    },
    /// `.PKGINFO` is malformed.
    #[error("`{file}`: {source}")]
    PkgInfo {
        /// The package file.
        file: String,
        /// The problem.
        source: pkginfo::Error,
    },
    /// A data entry that would escape the root.
    #[error("`{file}`: entry `{path}` is absolute or contains `..`; refusing the package")]
    UnsafePath {
        /// The package file.
        file: String,
        /// The entry name as written.
        path: String,
    },
    /// A file's content does not match its checksum.
    #[error("`{file}`: `{path}` has SHA-1 {actual}, but its checksum record says {expected}")]
    FileChecksum {
        /// The package file.
        file: String,
        /// The entry.
        path: String,
        /// Hex SHA-1 from the PAX record.
        expected: String,
        /// Hex SHA-1 of the content.
        actual: String,
    },
    /// The data member does not match `.PKGINFO`'s `datahash`.
    #[error("`{file}`: data member has SHA-256 {actual}, but .PKGINFO's datahash is {expected}")]
    DataHash {
        /// The package file.
        file: String,
        /// From `.PKGINFO`.
        expected: String,
        /// Computed.
        actual: String,
    },
    /// The identity does not match the index.
    #[error("`{file}`: package identity is {actual}, but the index says {expected}")]
    Identity {
        /// The package file.
        file: String,
        /// From the index.
        expected: Checksum,
        /// Computed.
        actual: Checksum,
    },
    /// The signature is not verified by a trusted key (with `require_verified`).
    #[error("`{file}`: {status}")]
    Signature {
        /// The package file.
        file: String,
        /// The signature status.
        status: SignatureStatus,
    },
    /// The visitor failed.
    #[error("`{file}`: while handling `{path}`")]
    Visit {
        /// The package file.
        file: String,
        /// The entry.
        path: String,
        /// The visitor's error.
        source: io::Error,
    },
}

impl Error {
    /// True when the package was readable but failed a check (a signature, identity, datahash
    /// or file checksum); false when it is malformed or unreadable.
    #[must_use]
    pub fn is_check_failure(&self) -> bool {
        matches!(
            self,
            Error::FileChecksum { .. }
                | Error::DataHash { .. }
                | Error::Identity { .. }
                | Error::Signature { .. }
        )
    }

    fn archive(file: &str, member: usize, err: ArchiveError) -> Error {
        match err {
            ArchiveError::Gzip(source) => Error::Gzip {
                file: file.to_owned(),
                source,
            },
            ArchiveError::Tar(source) => Error::Tar {
                file: file.to_owned(),
                member,
                source,
            },
            ArchiveError::Structure(problem) => Error::Structure {
                file: file.to_owned(),
                problem,
            },
        }
    }
}

/// Reads and checks a package (`file` names it in errors), handing every data entry and its
/// content to `visit` (which may read as much of the content as it likes; the rest is read
/// and checked). An entry's checksum is verified after `visit` returns; a mismatch fails the
/// whole read, so callers must not commit anything before `read_package` returns `Ok`.
///
/// # Errors
/// See [`Error`]; [`Error::is_check_failure`] tells failed checks from malformed input.
pub fn read_package<R, F>(
    reader: R,
    file: &str,
    options: &ReadOptions<'_>,
    mut visit: F,
) -> Result<Package, Error>
where
    R: Read,
    F: FnMut(&DataEntry, &mut dyn Read) -> io::Result<()>,
{
    let limits = options.limits;
    let mut members = gzip::Members::new(reader);
    let gz = |number, e| Error::archive(file, number, ArchiveError::Gzip(e));
    let identity_algs = gzip::Algorithms {
        sha1: true,
        sha256: true,
        sha512: false,
    };
    let mut first = members
        .next_member(identity_algs, limits.control_member)
        .map_err(|e| gz(1, e))?
        .ok_or_else(|| Error::Structure {
            file: file.to_owned(),
            problem: "empty file: no gzip member".to_owned(),
        })?;
    let mut tar = tar::Reader::new(&mut first);
    let head = tar
        .next_header()
        .map_err(|e| Error::archive(file, 1, ArchiveError::from_tar(e)))?;
    let (signatures, control, raw_control) = match head {
        Some(h) if keys::SignatureAlgorithm::parse_file_name(&h.path).is_some() => {
            tar.get_mut().set_limit(limits.signature_member);
            let signatures =
                read_signatures(&mut tar, h).map_err(|e| Error::archive(file, 1, e))?;
            drop(tar);
            first.finish().map_err(|e| gz(1, e))?;
            let mut algs = keys::algorithms_for(&signatures);
            algs.sha1 = true;
            algs.sha256 = true;
            let mut member = members
                .next_member(algs, limits.control_member)
                .map_err(|e| gz(2, e))?
                .ok_or_else(|| Error::Structure {
                    file: file.to_owned(),
                    problem: "the control member is missing after the signature member".to_owned(),
                })?;
            let mut tar = tar::Reader::new(&mut member);
            let control = read_control(&mut tar, None, file, 2)?;
            drop(tar);
            let raw = member.finish().map_err(|e| gz(2, e))?;
            (signatures, control, raw)
        }
        head => {
            let control = read_control(&mut tar, head, file, 1)?;
            drop(tar);
            let raw = first.finish().map_err(|e| gz(1, e))?;
            (Vec::new(), control, raw)
        }
    };
    let control_number = raw_control.number;
    let (pkginfo, scripts) = control;
    let identity = Checksum::Sha1(raw_control.sha1.expect("requested"));
    if let Some(expected) = options.expected_identity {
        let actual = match expected {
            Checksum::Sha1(_) => identity.clone(),
            Checksum::Sha256(_) => Checksum::Sha256(raw_control.sha256.expect("requested")),
        };
        if &actual != expected {
            return Err(Error::Identity {
                file: file.to_owned(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    let signature = options.keyring.check(
        &signatures,
        &SignedDigests {
            sha1: raw_control.sha1,
            sha256: raw_control.sha256,
            sha512: raw_control.sha512,
        },
    );
    if options.require_verified && !signature.is_verified() {
        return Err(Error::Signature {
            file: file.to_owned(),
            status: signature,
        });
    }

    let data_number = control_number + 1;
    let mut member = members
        .next_member(
            gzip::Algorithms {
                sha256: true,
                ..gzip::Algorithms::default()
            },
            data_limit(&pkginfo, limits.data_member),
        )
        .map_err(|e| gz(data_number, e))?
        .ok_or_else(|| Error::Structure {
            file: file.to_owned(),
            problem: "the data member is missing after the control member".to_owned(),
        })?;
    let mut tar = tar::Reader::new(&mut member);
    read_data(&mut tar, file, data_number, &mut visit)?;
    drop(tar);
    let raw_data = member.finish().map_err(|e| gz(data_number, e))?;
    let at = members.offset();
    if !members.at_end().map_err(|e| gz(data_number, e))? {
        return Err(Error::Structure {
            file: file.to_owned(),
            problem: format!("trailing data after byte {at}"),
        });
    }
    let datahash = hex::encode(raw_data.sha256.expect("requested"));
    let datahash_checked = match pkginfo.datahash() {
        Some(expected) if !expected.eq_ignore_ascii_case(&datahash) => {
            return Err(Error::DataHash {
                file: file.to_owned(),
                expected: expected.to_owned(),
                actual: datahash,
            });
        }
        Some(_) => true,
        None => false,
    };
    Ok(Package {
        signature,
        signers: signatures
            .into_iter()
            .map(|s: Signature| (s.algorithm, s.key))
            .collect(),
        identity,
        pkginfo,
        scripts,
        datahash,
        datahash_checked,
        file_size: at,
        data_size: raw_data.inflated_len,
    })
}

/// How far the data member may inflate: within `limit`, and, when `.PKGINFO` (signed with
/// the control member) gives the installed size, within twice that plus 16 MiB (the tar
/// headers and padding of a package of small files, and a filesystem's rounding, fit
/// easily). A data member swapped for a bomb stops there instead of being read whole before
/// its `datahash` fails.
#[must_use]
pub fn data_limit(pkginfo: &PkgInfo, limit: u64) -> u64 {
    pkginfo.size().map_or(limit, |size| {
        limit.min(size.saturating_mul(2).saturating_add(16 << 20))
    })
}

fn read_control<R: Read>(
    tar: &mut tar::Reader<R>,
    mut pending: Option<tar::Header>,
    file: &str,
    number: usize,
) -> Result<(PkgInfo, Vec<Script>), Error> {
    let tar_err = |e: tar::Error| Error::archive(file, number, ArchiveError::from_tar(e));
    let structure = |problem: String| Error::Structure {
        file: file.to_owned(),
        problem,
    };
    let mut pkginfo = None;
    let mut scripts = Vec::new();
    loop {
        let header = match pending.take() {
            Some(h) => h,
            None => match tar.next_header().map_err(tar_err)? {
                Some(h) => h,
                None => break,
            },
        };
        if !header.path.starts_with('.') || header.path.contains('/') {
            return Err(structure(format!(
                "the control member holds `{}`; control files are named `.NAME`",
                header.path
            )));
        }
        if header.kind != EntryKind::File {
            return Err(structure(format!(
                "control file `{}` is not a regular file",
                header.path
            )));
        }
        if header.path == ".PKGINFO" {
            if pkginfo.is_some() {
                return Err(structure(
                    "the control member holds two .PKGINFO files".into(),
                ));
            }
            if header.size > MAX_PKGINFO {
                return Err(Error::PkgInfo {
                    file: file.to_owned(),
                    source: pkginfo::Error::TooLarge { limit: MAX_PKGINFO },
                });
            }
            let mut bytes = Vec::new();
            tar.content()
                .read_to_end(&mut bytes)
                .map_err(|e| tar_err(tar::Error::Io(e)))?;
            pkginfo = Some(PkgInfo::parse(&bytes).map_err(|source| Error::PkgInfo {
                file: file.to_owned(),
                source,
            })?);
        } else {
            let mut bytes = Vec::new();
            tar.content()
                .read_to_end(&mut bytes)
                .map_err(|e| tar_err(tar::Error::Io(e)))?;
            scripts.push(Script {
                name: header.path,
                mode: header.mode,
                bytes,
            });
        }
    }
    let pkginfo = pkginfo.ok_or_else(|| structure("the control member has no .PKGINFO".into()))?;
    Ok((pkginfo, scripts))
}

/// Normalises an entry name: strips `./` and trailing `/`; `None` for the root itself;
/// `Err` for absolute names and `..` components.
fn normalise(path: &str) -> Result<Option<String>, ()> {
    if path.starts_with('/') {
        return Err(());
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(()),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        Ok(None)
    } else {
        Ok(Some(parts.join("/")))
    }
}

fn parse_sha1(value: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    hex::decode_to_slice(value.trim(), &mut out).ok()?;
    Some(out)
}

struct Hashing<'a, R> {
    inner: &'a mut R,
    hash: Sha1,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

fn read_data<R: Read, F>(
    tar: &mut tar::Reader<R>,
    file: &str,
    number: usize,
    visit: &mut F,
) -> Result<(), Error>
where
    F: FnMut(&DataEntry, &mut dyn Read) -> io::Result<()>,
{
    let tar_err = |e: tar::Error| Error::archive(file, number, ArchiveError::from_tar(e));
    let unsafe_path = |path: &str| Error::UnsafePath {
        file: file.to_owned(),
        path: path.to_owned(),
    };
    while let Some(header) = tar.next_header().map_err(tar_err)? {
        let Some(path) = normalise(&header.path).map_err(|()| unsafe_path(&header.path))? else {
            continue;
        };
        let link_target = match (header.kind, header.link_target) {
            (EntryKind::HardLink, Some(target)) => Some(
                normalise(&target)
                    .ok()
                    .flatten()
                    .ok_or_else(|| unsafe_path(&format!("{path} => {target}")))?,
            ),
            (_, target) => target,
        };
        let sha1 = match header.pax.get(CHECKSUM_RECORD) {
            Some(v) => Some(parse_sha1(v).ok_or_else(|| Error::Structure {
                file: file.to_owned(),
                problem: format!("`{path}` has a malformed {CHECKSUM_RECORD} record `{v}`"),
            })?),
            None => None,
        };
        let xattrs = header
            .pax
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("SCHILY.xattr.")
                    .map(|name| (name.to_owned(), v.clone()))
            })
            .collect();
        let entry = DataEntry {
            path,
            kind: header.kind,
            mode: header.mode,
            uid: header.uid,
            gid: header.gid,
            uname: header.uname,
            gname: header.gname,
            size: header.size,
            mtime: header.mtime,
            link_target,
            device: header.device,
            sha1,
            xattrs,
        };
        let mut content = tar.content();
        let mut hashing = Hashing {
            inner: &mut content,
            hash: Sha1::new(),
        };
        let visited = visit(&entry, &mut hashing);
        if let Err(e) = visited {
            return Err(match gzip::Error::from_io(e) {
                Ok(gz) => Error::Gzip {
                    file: file.to_owned(),
                    source: gz,
                },
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => tar_err(tar::Error::Io(e)),
                Err(source) => Error::Visit {
                    file: file.to_owned(),
                    path: entry.path,
                    source,
                },
            });
        }
        io::copy(&mut hashing, &mut io::sink()).map_err(|e| tar_err(tar::Error::Io(e)))?;
        let actual: [u8; 20] = match entry.kind {
            EntryKind::File => hashing.hash.finalize().into(),
            EntryKind::Symlink => {
                Sha1::digest(entry.link_target.as_deref().unwrap_or_default().as_bytes()).into()
            }
            _ => continue,
        };
        if let Some(expected) = entry.sha1
            && expected != actual
        {
            return Err(Error::FileChecksum {
                file: file.to_owned(),
                path: entry.path,
                expected: hex::encode(expected),
                actual: hex::encode(actual),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_refuses_escapes() {
        assert_eq!(normalise("./usr/bin/"), Ok(Some("usr/bin".to_owned())));
        assert_eq!(normalise("usr//lib/./x"), Ok(Some("usr/lib/x".to_owned())));
        assert_eq!(normalise("./"), Ok(None));
        assert_eq!(normalise("/etc/passwd"), Err(()));
        assert_eq!(normalise("usr/../../etc"), Err(()));
        assert_eq!(normalise(".."), Err(()));
    }
}
