//! A streaming tar reader for APK members: ustar and GNU headers, PAX extended records
//! (`path`, `linkpath`, `size`, `uid`, `gid`, `uname`, `gname`, `mtime`, and APK's
//! `APK-TOOLS.checksum.SHA1`), GNU long names.
//!
//! apk-tools writes the control and signature members *without* the end-of-archive blocks, so
//! the end of the input at a header boundary is a clean end, as is a zero block.
//!
//! Invariants: memory is bounded (extended headers and long names have size limits; content is
//! streamed), every header checksum is verified, and names are returned as written (path
//! safety is the caller's decision).

use std::collections::BTreeMap;
use std::io::{self, Read};

/// Largest PAX extended header or GNU long name accepted.
pub const MAX_EXTENDED_HEADER: u64 = 1024 * 1024;

/// Most extended headers (PAX, GNU long names) accepted before one entry.
pub const MAX_EXTENDED_PER_ENTRY: usize = 8;

const BLOCK: usize = 512;

/// A malformed tar stream.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The underlying reader failed (for APK members this carries a gzip error).
    #[error("read failed")]
    Io(#[source] io::Error),
    /// The stream ended inside a header or an entry.
    #[error("tar stream is truncated {context}")]
    Truncated {
        /// Where.
        context: String,
    },
    /// The header checksum does not match.
    #[error(
        "tar header at byte {offset} has a bad checksum (header says {expected}, computed {actual})"
    )]
    HeaderChecksum {
        /// Offset of the header in the tar stream.
        offset: u64,
        /// Stored checksum.
        expected: u64,
        /// Computed checksum.
        actual: u64,
    },
    /// A numeric field is not a number.
    #[error("tar header at byte {offset} has an invalid {field} field")]
    BadNumber {
        /// Offset of the header.
        offset: u64,
        /// Field name.
        field: &'static str,
    },
    /// A name or link that is not UTF-8.
    #[error("tar entry at byte {offset} has a name or link target that is not UTF-8")]
    NotUtf8 {
        /// Offset of the header.
        offset: u64,
    },
    /// A PAX header that cannot be parsed.
    #[error("tar entry at byte {offset} has a malformed PAX extended header: {reason}")]
    BadPax {
        /// Offset of the header.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A PAX header or long name larger than [`MAX_EXTENDED_HEADER`].
    #[error(
        "tar entry at byte {offset} has an extended header of {size} bytes (limit {MAX_EXTENDED_HEADER})"
    )]
    ExtendedTooLarge {
        /// Offset of the header.
        offset: u64,
        /// Declared size.
        size: u64,
    },
    /// An entry type this reader does not understand.
    #[error("tar entry `{path}` has unsupported type `{}`", char::from(*kind))]
    UnsupportedType {
        /// Entry name.
        path: String,
        /// Type flag byte.
        kind: u8,
    },
}

/// The kind of a tar entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A hard link to an earlier entry (`link_target`).
    HardLink,
    /// A symbolic link (`link_target`).
    Symlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A directory.
    Directory,
    /// A named pipe.
    Fifo,
}

impl EntryKind {
    /// Short lowercase name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::HardLink => "hardlink",
            EntryKind::Symlink => "symlink",
            EntryKind::CharDevice => "char-device",
            EntryKind::BlockDevice => "block-device",
            EntryKind::Directory => "directory",
            EntryKind::Fifo => "fifo",
        }
    }
}

/// One entry's metadata, with PAX overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Name as written (PAX `path` or GNU long name when present).
    pub path: String,
    /// Entry kind.
    pub kind: EntryKind,
    /// Permission bits and set-id bits (`0o7777`).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Owner name.
    pub uname: String,
    /// Group name.
    pub gname: String,
    /// Content size in bytes (0 for everything but files).
    pub size: u64,
    /// Modification time (seconds since the epoch).
    pub mtime: i64,
    /// Link target for hard and symbolic links.
    pub link_target: Option<String>,
    /// Device numbers for devices.
    pub device: Option<(u32, u32)>,
    /// Every PAX record that applied to this entry (global ones included), by key.
    pub pax: BTreeMap<String, String>,
    /// Offset of the header in the tar stream.
    pub offset: u64,
}

/// Reads tar entries from `R` one at a time; content is read through [`Reader::content`].
pub struct Reader<R> {
    inner: R,
    offset: u64,
    /// Content bytes left in the current entry.
    remaining: u64,
    /// Padding after the current entry's content.
    padding: u64,
    global: BTreeMap<String, String>,
    ended: bool,
}

impl<R: Read> Reader<R> {
    /// A reader over an uncompressed tar stream.
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            offset: 0,
            remaining: 0,
            padding: 0,
            global: BTreeMap::new(),
            ended: false,
        }
    }

    /// The inner reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Gives the inner reader back.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads the next header, skipping any unread content of the previous entry; `None` at a
    /// zero block or at the end of the input on a header boundary.
    ///
    /// # Errors
    /// Truncated or malformed headers, or read failures.
    pub fn next_header(&mut self) -> Result<Option<Header>, Error> {
        if self.ended {
            return Ok(None);
        }
        self.skip_rest()?;
        let mut pax: BTreeMap<String, String> = BTreeMap::new();
        let mut long_name: Option<String> = None;
        let mut long_link: Option<String> = None;
        let mut extended = 0;
        loop {
            let offset = self.offset;
            let mut block = [0u8; BLOCK];
            if !self.read_block(&mut block)? {
                self.ended = true;
                if pax.is_empty() && long_name.is_none() && long_link.is_none() {
                    return Ok(None);
                }
                return Err(Error::Truncated {
                    context: format!("after the extended header at byte {offset}"),
                });
            }
            if block.iter().all(|&b| b == 0) {
                self.ended = true;
                return Ok(None);
            }
            check_header(&block, offset)?;
            let size = number(&block[124..136], offset, "size")?;
            let kind = block[156];
            match kind {
                b'x' | b'g' | b'L' | b'K' => {
                    if size > MAX_EXTENDED_HEADER {
                        return Err(Error::ExtendedTooLarge { offset, size });
                    }
                    // Bound what extended headers can accumulate: a few per entry, and a
                    // global set no larger than one header.
                    extended += 1;
                    if extended > MAX_EXTENDED_PER_ENTRY {
                        return Err(Error::BadPax {
                            offset,
                            reason: "too many extended headers before one entry",
                        });
                    }
                    let data = self.read_exact_padded(size, offset)?;
                    match kind {
                        b'x' => parse_pax(&data, offset, &mut pax)?,
                        b'g' => {
                            parse_pax(&data, offset, &mut self.global)?;
                            let total: usize =
                                self.global.iter().map(|(k, v)| k.len() + v.len()).sum();
                            if total as u64 > MAX_EXTENDED_HEADER {
                                return Err(Error::BadPax {
                                    offset,
                                    reason: "global extended records grow beyond the limit",
                                });
                            }
                        }
                        b'L' => long_name = Some(c_string(&data, offset)?),
                        _ => long_link = Some(c_string(&data, offset)?),
                    }
                }
                _ => {
                    let mut all = self.global.clone();
                    all.extend(pax);
                    let mut header = build_header(&block, offset, size, all, long_name, long_link)?;
                    // Content declared by non-file entries (some writers give hard links a
                    // size) is skipped, not exposed.
                    self.remaining = header.size;
                    self.padding = pad(header.size);
                    if header.kind != EntryKind::File {
                        header.size = 0;
                        self.skip_rest()?;
                    }
                    return Ok(Some(header));
                }
            }
        }
    }

    /// A reader over the current entry's content.
    pub fn content(&mut self) -> Content<'_, R> {
        Content { reader: self }
    }

    fn skip_rest(&mut self) -> Result<(), Error> {
        let n = self.remaining + self.padding;
        if n > 0 {
            let copied =
                io::copy(&mut (&mut self.inner).take(n), &mut io::sink()).map_err(Error::Io)?;
            self.offset += copied;
            if copied < n {
                return Err(Error::Truncated {
                    context: "inside an entry's content".to_owned(),
                });
            }
        }
        self.remaining = 0;
        self.padding = 0;
        Ok(())
    }

    /// Reads one block; false on a clean end of input before the first byte.
    fn read_block(&mut self, block: &mut [u8; BLOCK]) -> Result<bool, Error> {
        let mut filled = 0;
        while filled < BLOCK {
            match self.inner.read(&mut block[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
        self.offset += filled as u64;
        match filled {
            0 => Ok(false),
            BLOCK => Ok(true),
            _ => Err(Error::Truncated {
                context: format!("inside the header at byte {}", self.offset - filled as u64),
            }),
        }
    }

    fn read_exact_padded(&mut self, size: u64, offset: u64) -> Result<Vec<u8>, Error> {
        let len = usize::try_from(size).unwrap_or(usize::MAX);
        let mut data = vec![0u8; len];
        read_full(&mut self.inner, &mut data).map_err(|e| match e {
            Some(e) => Error::Io(e),
            None => Error::Truncated {
                context: format!("inside the extended header at byte {offset}"),
            },
        })?;
        self.offset += size;
        let padding = pad(size);
        let copied =
            io::copy(&mut (&mut self.inner).take(padding), &mut io::sink()).map_err(Error::Io)?;
        self.offset += copied;
        if copied < padding {
            return Err(Error::Truncated {
                context: format!("after the extended header at byte {offset}"),
            });
        }
        Ok(data)
    }
}

fn read_full(r: &mut impl Read, mut buf: &mut [u8]) -> Result<(), Option<io::Error>> {
    while !buf.is_empty() {
        match r.read(buf) {
            Ok(0) => return Err(None),
            Ok(n) => buf = &mut buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Some(e)),
        }
    }
    Ok(())
}

/// The content of the current entry; reading past its end returns 0, and an early end of
/// the stream is an `UnexpectedEof` error.
pub struct Content<'a, R> {
    reader: &'a mut Reader<R>,
}

impl<R: Read> Read for Content<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = &mut *self.reader;
        if r.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(r.remaining).unwrap_or(usize::MAX));
        let n = r.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "tar stream is truncated inside an entry's content",
            ));
        }
        r.remaining -= n as u64;
        r.offset += n as u64;
        Ok(n)
    }
}

fn pad(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn check_header(block: &[u8; BLOCK], offset: u64) -> Result<(), Error> {
    let expected = number(&block[148..156], offset, "checksum")?;
    let actual: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    if expected != actual {
        return Err(Error::HeaderChecksum {
            offset,
            expected,
            actual,
        });
    }
    Ok(())
}

/// Octal (NUL/space terminated, leading spaces allowed) or GNU base-256.
fn number(field: &[u8], offset: u64, name: &'static str) -> Result<u64, Error> {
    let bad = || Error::BadNumber {
        offset,
        field: name,
    };
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        if field[0] & 0x40 != 0 {
            return Err(bad()); // negative
        }
        let mut value: u64 = u64::from(field[0] & 0x3f);
        for &b in &field[1..] {
            value = value
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or_else(bad)?;
        }
        return Ok(value);
    }
    let text = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ');
    let mut value: u64 = 0;
    for b in text {
        if !(b'0'..=b'7').contains(&b) {
            return Err(bad());
        }
        value = value
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(value)
}

fn c_string(bytes: &[u8], offset: u64) -> Result<String, Error> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8(bytes[..end].to_vec()).map_err(|_| Error::NotUtf8 { offset })
}

fn parse_pax(data: &[u8], offset: u64, into: &mut BTreeMap<String, String>) -> Result<(), Error> {
    let bad = |reason| Error::BadPax { offset, reason };
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("a record has no length"))?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("a record length is not a number"))?;
        if len <= space + 1 || len > rest.len() {
            return Err(bad("a record length is out of range"));
        }
        let record = &rest[space + 1..len];
        let Some((b'\n', record)) = record.split_last() else {
            return Err(bad("a record does not end with a newline"));
        };
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("a record has no `=`"))?;
        let key =
            String::from_utf8(record[..eq].to_vec()).map_err(|_| bad("a key is not UTF-8"))?;
        let value = String::from_utf8_lossy(&record[eq + 1..]).into_owned();
        if value.is_empty() {
            into.remove(&key);
        } else {
            into.insert(key, value);
        }
        rest = &rest[len..];
    }
    Ok(())
}

fn field_str(bytes: &[u8], offset: u64) -> Result<String, Error> {
    c_string(bytes, offset)
}

fn build_header(
    block: &[u8; BLOCK],
    offset: u64,
    size: u64,
    pax: BTreeMap<String, String>,
    long_name: Option<String>,
    long_link: Option<String>,
) -> Result<Header, Error> {
    let ustar = &block[257..263] == b"ustar\0";
    let mut path = field_str(&block[0..100], offset)?;
    if ustar && block[345] != 0 {
        let prefix = field_str(&block[345..500], offset)?;
        path = format!("{prefix}/{path}");
    }
    if let Some(name) = long_name {
        path = name;
    }
    let mut link = field_str(&block[157..257], offset)?;
    if let Some(l) = long_link {
        link = l;
    }
    let mode = number(&block[100..108], offset, "mode")?;
    let mut uid = number(&block[108..116], offset, "uid")?;
    let mut gid = number(&block[116..124], offset, "gid")?;
    let mtime_raw = number(&block[136..148], offset, "mtime")?;
    let mut uname = field_str(&block[265..297], offset)?;
    let mut gname = field_str(&block[297..329], offset)?;
    let mut size = size;
    let mut mtime = i64::try_from(mtime_raw).unwrap_or(i64::MAX);
    let pax_number = |key: &str, field: &'static str| -> Result<Option<u64>, Error> {
        pax.get(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| Error::BadNumber { offset, field })
            })
            .transpose()
    };
    if let Some(p) = pax.get("path") {
        path.clone_from(p);
    }
    if let Some(l) = pax.get("linkpath") {
        link.clone_from(l);
    }
    if let Some(v) = pax_number("size", "PAX size")? {
        size = v;
    }
    if let Some(v) = pax_number("uid", "PAX uid")? {
        uid = v;
    }
    if let Some(v) = pax_number("gid", "PAX gid")? {
        gid = v;
    }
    if let Some(v) = pax.get("mtime") {
        let whole = v.split('.').next().unwrap_or("");
        mtime = whole.parse().map_err(|_| Error::BadNumber {
            offset,
            field: "PAX mtime",
        })?;
    }
    if let Some(v) = pax.get("uname") {
        uname.clone_from(v);
    }
    if let Some(v) = pax.get("gname") {
        gname.clone_from(v);
    }
    let kind = match block[156] {
        b'0' | 0 | b'7' => EntryKind::File,
        b'1' => EntryKind::HardLink,
        b'2' => EntryKind::Symlink,
        b'3' => EntryKind::CharDevice,
        b'4' => EntryKind::BlockDevice,
        b'5' => EntryKind::Directory,
        b'6' => EntryKind::Fifo,
        other => return Err(Error::UnsupportedType { path, kind: other }),
    };
    let device = matches!(kind, EntryKind::CharDevice | EntryKind::BlockDevice)
        .then(|| -> Result<(u32, u32), Error> {
            let major = number(&block[329..337], offset, "devmajor")?;
            let minor = number(&block[337..345], offset, "devminor")?;
            let conv =
                |v: u64, field| u32::try_from(v).map_err(|_| Error::BadNumber { offset, field });
            Ok((conv(major, "devmajor")?, conv(minor, "devminor")?))
        })
        .transpose()?;
    let link_target = matches!(kind, EntryKind::HardLink | EntryKind::Symlink).then_some(link);
    #[allow(clippy::cast_possible_truncation)]
    let mode = (mode & 0o7777) as u32;
    Ok(Header {
        path,
        kind,
        mode,
        uid,
        gid,
        uname,
        gname,
        size,
        mtime,
        link_target,
        device,
        pax,
        offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(builder: &mut ::tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = ::tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        builder.append_data(&mut h, name, data).unwrap();
    }

    #[test]
    fn reads_entries_long_names_and_pax() {
        let mut b = ::tar::Builder::new(Vec::new());
        entry(&mut b, "a.txt", b"hello");
        let long = "d/".repeat(80) + "file";
        entry(&mut b, &long, b"long");
        b.append_pax_extensions([("APK-TOOLS.checksum.SHA1", b"abc".as_slice())])
            .unwrap();
        entry(&mut b, "c", b"");
        let bytes = b.into_inner().unwrap();
        let mut r = Reader::new(bytes.as_slice());
        let h = r.next_header().unwrap().unwrap();
        assert_eq!((h.path.as_str(), h.size, h.mode), ("a.txt", 5, 0o644));
        let mut s = String::new();
        r.content().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        let h = r.next_header().unwrap().unwrap();
        assert_eq!(h.path, long);
        let h = r.next_header().unwrap().unwrap();
        assert_eq!(h.pax["APK-TOOLS.checksum.SHA1"], "abc");
        assert!(r.next_header().unwrap().is_none());
    }

    #[test]
    fn extended_headers_cannot_accumulate() {
        let mut b = ::tar::Builder::new(Vec::new());
        for i in 0..20 {
            let key = format!("k{i}");
            b.append_pax_extensions([(key.as_str(), b"v".as_slice())])
                .unwrap();
        }
        entry(&mut b, "a", b"");
        let bytes = b.into_inner().unwrap();
        let err = Reader::new(bytes.as_slice()).next_header().unwrap_err();
        assert!(matches!(err, Error::BadPax { .. }), "{err}");
    }

    #[test]
    fn bad_checksum_and_truncation_fail() {
        let mut b = ::tar::Builder::new(Vec::new());
        entry(&mut b, "a.txt", b"hello");
        let bytes = b.into_inner().unwrap();
        let mut flipped = bytes.clone();
        flipped[3] ^= 1;
        assert!(matches!(
            Reader::new(flipped.as_slice()).next_header(),
            Err(Error::HeaderChecksum { .. })
        ));
        let mut r = Reader::new(&bytes[..300]);
        assert!(matches!(r.next_header(), Err(Error::Truncated { .. })));
        let mut r = Reader::new(&bytes[..515]);
        r.next_header().unwrap();
        assert!(r.content().read_to_end(&mut Vec::new()).is_err());
    }
}
