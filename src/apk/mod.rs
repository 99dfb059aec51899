//! Alpine's package formats, pure: bytes or `impl Read` in, values out. Nothing here opens
//! files, resolves dependencies or knows about images.
//!
//! # The map of the format (apk-tools 2.x)
//!
//! ```text
//! package.apk      = gzip(signature tar) gzip(control tar) gzip(data tar)
//! APKINDEX.tar.gz  = gzip(signature tar) gzip(index tar)
//! ```
//!
//! - Each part is its own gzip member ([`gzip`]); the signature, control and index tars are
//!   written without end-of-archive blocks ([`tar`]), so the concatenation inflates to one tar.
//! - **Signature member**: `.SIGN.RSA.<key>` (SHA-1), `.SIGN.RSA256.<key>` or
//!   `.SIGN.RSA512.<key>`: RSA PKCS#1 v1.5 over the *compressed bytes* of the next member, by
//!   the key file named `<key>` ([`keys`]). Absent in unsigned files.
//! - **Control member**: `.PKGINFO` ([`pkginfo`]) and the scripts (`.pre-install`,
//!   `.post-install`, `.pre-upgrade`, `.post-upgrade`, `.pre-deinstall`, `.post-deinstall`,
//!   `.trigger`). Its SHA-1 (compressed bytes) is the package identity `Q1…`
//!   ([`checksum`]), the `C:` of index lines.
//! - **Data member**: the files, each regular file and symlink with a PAX record
//!   `APK-TOOLS.checksum.SHA1` (hex SHA-1 of the content, or of the link target). The SHA-256
//!   of its compressed bytes is `.PKGINFO`'s `datahash` ([`package`]).
//! - **Index member**: `DESCRIPTION` and `APKINDEX` ([`index`]).
//! - **Installed database** of a root ([`installed`]): `lib/apk/db/installed` (index fields
//!   plus the files each package owns), `lib/apk/db/scripts.tar`, `lib/apk/db/triggers` and
//!   `etc/apk/world`.
//!
//! # Invariants
//!
//! - Every reader is bounded: per-member inflation limits ([`Limits`]), line and field limits,
//!   and streaming of file contents, so memory does not grow with a package's size.
//! - Errors name the file and what is wrong; nothing is written anywhere.

pub mod checksum;
pub mod dependency;
pub mod gzip;
pub mod index;
pub mod installed;
pub mod keys;
pub mod package;
pub mod pkginfo;
pub mod tar;
pub mod version;

use std::io::{self, Read};

pub use checksum::Checksum;
pub use index::{Index, IndexEntry, read_index};
pub use keys::{Keyring, SignatureStatus};
pub use package::{DataEntry, Package, ReadOptions, read_package};
pub use pkginfo::PkgInfo;

/// Longest line accepted in `APKINDEX` and `.PKGINFO` (real ones stay under 32 KiB).
pub const MAX_LINE: usize = 256 * 1024;

/// Largest signature file accepted (an RSA-8192 signature is 1 KiB).
pub const MAX_SIGNATURE: u64 = 64 * 1024;

/// Most signature files accepted in one signature member.
pub const MAX_SIGNATURES: usize = 16;

/// How far each gzip member may inflate. Generous for real Alpine files, finite for bombs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Signature member (a few KiB in practice).
    pub signature_member: u64,
    /// Control member (`.PKGINFO` and scripts).
    pub control_member: u64,
    /// Data member (the package's files).
    pub data_member: u64,
    /// Index member (`APKINDEX`; about 8 MiB for the largest Alpine repository).
    pub index_member: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            signature_member: 1 << 20,
            control_member: 64 << 20,
            data_member: 16 << 30,
            index_member: 512 << 20,
        }
    }
}

/// A problem below the level of the file's own structure.
#[derive(Debug)]
pub(crate) enum ArchiveError {
    Gzip(gzip::Error),
    Tar(tar::Error),
    Structure(String),
}

impl ArchiveError {
    /// A tar error, unless it carries a gzip error from the member below.
    pub(crate) fn from_tar(err: tar::Error) -> Self {
        match err {
            tar::Error::Io(io) => match gzip::Error::from_io(io) {
                Ok(gz) => ArchiveError::Gzip(gz),
                Err(io) => ArchiveError::Tar(tar::Error::Io(io)),
            },
            other => ArchiveError::Tar(other),
        }
    }

    pub(crate) fn from_io(err: io::Error) -> Self {
        Self::from_tar(tar::Error::Io(err))
    }
}

/// Reads the signature files of a signature member whose first header is `first`.
pub(crate) fn read_signatures<R: Read>(
    tar: &mut tar::Reader<R>,
    first: tar::Header,
) -> Result<Vec<keys::Signature>, ArchiveError> {
    let mut signatures = Vec::new();
    let mut next = Some(first);
    while let Some(header) = next {
        let Some((algorithm, key)) = keys::SignatureAlgorithm::parse_file_name(&header.path) else {
            return Err(ArchiveError::Structure(format!(
                "the signature member holds `{}`, which is not a signature file",
                header.path
            )));
        };
        if header.kind != tar::EntryKind::File || header.size > MAX_SIGNATURE {
            return Err(ArchiveError::Structure(format!(
                "signature file `{}` is not a regular file of at most {MAX_SIGNATURE} bytes",
                header.path
            )));
        }
        if signatures.len() == MAX_SIGNATURES {
            return Err(ArchiveError::Structure(format!(
                "more than {MAX_SIGNATURES} signature files"
            )));
        }
        let key = key.to_owned();
        let mut bytes = Vec::new();
        tar.content()
            .read_to_end(&mut bytes)
            .map_err(ArchiveError::from_io)?;
        signatures.push(keys::Signature {
            algorithm,
            key,
            bytes,
        });
        next = tar.next_header().map_err(ArchiveError::from_tar)?;
    }
    Ok(signatures)
}
