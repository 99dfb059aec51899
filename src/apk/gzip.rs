//! gzip members, one at a time, keeping a digest of each member's compressed bytes.
//!
//! APK signatures, the `Q1` identity and the `datahash` are all computed over the *compressed*
//! bytes of one gzip member, so a member is inflated while the exact bytes it occupies in the
//! file are hashed.
//!
//! Invariants: memory is bounded (a fixed input buffer, no header field is stored), every
//! member is inflated to at most the limit its caller gives (a gzip bomb stops with
//! [`Error::TooLarge`]), and the CRC-32 and length trailer of every member is checked.

use std::io::{self, Read};

use flate2::{Crc, Decompress, FlushDecompress, Status};
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};

const BUFFER: usize = 64 * 1024;

/// A malformed, truncated or oversized gzip stream. Members are numbered from 1.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The underlying reader failed.
    #[error("read failed")]
    Io(#[source] io::Error),
    /// A member does not start with the gzip magic bytes.
    #[error("gzip member {member} at byte {offset} does not start with the gzip magic bytes")]
    NotGzip {
        /// Member number.
        member: usize,
        /// Offset of the member in the file.
        offset: u64,
    },
    /// A member header that apk-tools would not accept.
    #[error("gzip member {member} has an invalid header: {reason}")]
    BadHeader {
        /// Member number.
        member: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The input ended inside a member.
    #[error("gzip member {member} is truncated (the input ends inside it)")]
    Truncated {
        /// Member number.
        member: usize,
    },
    /// The deflate data is invalid.
    #[error("gzip member {member} is corrupt: {detail}")]
    Corrupt {
        /// Member number.
        member: usize,
        /// The inflater's message.
        detail: String,
    },
    /// The CRC-32 in the trailer does not match the inflated data.
    #[error(
        "gzip member {member} fails its CRC-32 check (trailer {expected:08x}, data {actual:08x})"
    )]
    Crc {
        /// Member number.
        member: usize,
        /// CRC from the trailer.
        expected: u32,
        /// CRC of the inflated bytes.
        actual: u32,
    },
    /// The length in the trailer does not match the inflated data.
    #[error("gzip member {member} length mismatch (trailer {expected}, data {actual} mod 2^32)")]
    Length {
        /// Length from the trailer.
        expected: u32,
        /// Inflated length modulo 2^32.
        actual: u32,
        /// Member number.
        member: usize,
    },
    /// A member inflates beyond its limit.
    #[error(
        "gzip member {member} inflates beyond the limit of {limit} bytes (a gzip bomb, or a limit too low for this file)"
    )]
    TooLarge {
        /// Member number.
        member: usize,
        /// The limit in bytes.
        limit: u64,
    },
}

impl Error {
    /// Recovers a gzip error carried inside an `io::Error` (as returned by [`Member`]'s
    /// `Read` implementation), or gives the `io::Error` back.
    ///
    /// # Errors
    /// Returns the original error when it does not carry a gzip error.
    pub fn from_io(err: io::Error) -> Result<Error, io::Error> {
        if err.get_ref().is_some_and(|e| e.is::<Error>()) {
            let inner = err.into_inner().expect("checked above");
            Ok(*inner.downcast::<Error>().expect("checked above"))
        } else {
            Err(err)
        }
    }

    fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

/// Which digests to compute over a member's compressed bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Algorithms {
    /// SHA-1 (the `Q1` identity, `.SIGN.RSA.` signatures).
    pub sha1: bool,
    /// SHA-256 (`datahash`, `.SIGN.RSA256.` signatures).
    pub sha256: bool,
    /// SHA-512 (`.SIGN.RSA512.` signatures).
    pub sha512: bool,
}

/// What one member was, once fully read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMember {
    /// Member number, from 1.
    pub number: usize,
    /// Offset of the member's first byte in the input.
    pub offset: u64,
    /// Compressed length in bytes (header and trailer included).
    pub compressed_len: u64,
    /// Inflated length in bytes.
    pub inflated_len: u64,
    /// SHA-1 of the compressed bytes, when requested.
    pub sha1: Option<[u8; 20]>,
    /// SHA-256 of the compressed bytes, when requested.
    pub sha256: Option<[u8; 32]>,
    /// SHA-512 of the compressed bytes, when requested.
    pub sha512: Option<[u8; 64]>,
}

#[derive(Default)]
struct Hashers {
    sha1: Option<Sha1>,
    sha256: Option<Sha256>,
    sha512: Option<Sha512>,
}

impl Hashers {
    fn new(alg: Algorithms) -> Self {
        Hashers {
            sha1: alg.sha1.then(Sha1::new),
            sha256: alg.sha256.then(Sha256::new),
            sha512: alg.sha512.then(Sha512::new),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        if let Some(h) = &mut self.sha1 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.sha256 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.sha512 {
            h.update(bytes);
        }
    }
}

/// The compressed input: a fixed buffer whose consumed bytes are hashed and counted.
struct Source<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    offset: u64,
    eof: bool,
    hashers: Hashers,
}

impl<R: Read> Source<R> {
    fn fill(&mut self) -> Result<&[u8], Error> {
        if self.pos == self.len && !self.eof {
            self.pos = 0;
            self.len = loop {
                match self.inner.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::Io(e)),
                }
            };
            if self.len == 0 {
                self.eof = true;
            }
        }
        Ok(&self.buf[self.pos..self.len])
    }

    fn consume(&mut self, n: usize) {
        self.hashers.update(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.offset += n as u64;
    }

    fn byte(&mut self, member: usize) -> Result<u8, Error> {
        match self.fill()?.first().copied() {
            Some(b) => {
                self.consume(1);
                Ok(b)
            }
            None => Err(Error::Truncated { member }),
        }
    }

    fn bytes<const N: usize>(&mut self, member: usize) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.byte(member)?;
        }
        Ok(out)
    }
}

/// A sequence of gzip members read from `R`.
pub struct Members<R> {
    src: Source<R>,
    count: usize,
}

impl<R: Read> Members<R> {
    /// Reads members from `reader` (buffered internally).
    pub fn new(reader: R) -> Self {
        Members {
            src: Source {
                inner: reader,
                buf: vec![0; BUFFER].into_boxed_slice(),
                pos: 0,
                len: 0,
                offset: 0,
                eof: false,
                hashers: Hashers::default(),
            },
            count: 0,
        }
    }

    /// Bytes consumed so far.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.src.offset
    }

    /// True when the input has no more bytes.
    ///
    /// # Errors
    /// When reading fails.
    pub fn at_end(&mut self) -> Result<bool, Error> {
        Ok(self.src.fill()?.is_empty())
    }

    /// Starts the next member, hashing its compressed bytes with `algorithms` and inflating
    /// at most `max_inflated` bytes; `None` at the end of the input.
    ///
    /// # Errors
    /// A bad or truncated header, or a read failure.
    pub fn next_member(
        &mut self,
        algorithms: Algorithms,
        max_inflated: u64,
    ) -> Result<Option<Member<'_, R>>, Error> {
        if self.at_end()? {
            return Ok(None);
        }
        self.count += 1;
        let number = self.count;
        let offset = self.src.offset;
        self.src.hashers = Hashers::new(algorithms);
        read_header(&mut self.src, number, offset)?;
        Ok(Some(Member {
            src: &mut self.src,
            inflate: Decompress::new(false),
            crc: Crc::new(),
            number,
            offset,
            inflated: 0,
            limit: max_inflated,
            done: false,
        }))
    }
}

fn read_header<R: Read>(src: &mut Source<R>, member: usize, offset: u64) -> Result<(), Error> {
    const FTEXT_RESERVED: u8 = 0xe0;
    let [id1, id2, method, flags] = src.bytes::<4>(member)?;
    if (id1, id2) != (0x1f, 0x8b) {
        return Err(Error::NotGzip { member, offset });
    }
    if method != 8 {
        return Err(Error::BadHeader {
            member,
            reason: "compression method is not deflate",
        });
    }
    if flags & FTEXT_RESERVED != 0 {
        return Err(Error::BadHeader {
            member,
            reason: "reserved flag bits are set",
        });
    }
    // mtime (4), extra flags (1), OS (1)
    src.bytes::<6>(member)?;
    if flags & 0x04 != 0 {
        let [lo, hi] = src.bytes::<2>(member)?;
        for _ in 0..u16::from_le_bytes([lo, hi]) {
            src.byte(member)?;
        }
    }
    // FNAME and FCOMMENT: zero-terminated; skipped, never stored.
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            while src.byte(member)? != 0 {}
        }
    }
    if flags & 0x02 != 0 {
        src.bytes::<2>(member)?;
    }
    Ok(())
}

/// One member being inflated; read it to the end, then call [`Member::finish`].
pub struct Member<'a, R> {
    src: &'a mut Source<R>,
    inflate: Decompress,
    crc: Crc,
    number: usize,
    offset: u64,
    inflated: u64,
    limit: u64,
    done: bool,
}

impl<R: Read> Member<'_, R> {
    /// Member number, from 1.
    #[must_use]
    pub fn number(&self) -> usize {
        self.number
    }

    /// Changes the inflation limit (for example once the member's role is known).
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    fn read_inner(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        // Never produce more than one byte past the limit, so a bomb is caught early.
        let room = self.limit.saturating_sub(self.inflated).saturating_add(1);
        let want = out.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        loop {
            let input = self.src.fill()?;
            let eof = input.is_empty();
            let before_in = self.inflate.total_in();
            let before_out = self.inflate.total_out();
            let status = self
                .inflate
                .decompress(input, &mut out[..want], FlushDecompress::None)
                .map_err(|e| Error::Corrupt {
                    member: self.number,
                    detail: e.to_string(),
                })?;
            let used = usize::try_from(self.inflate.total_in() - before_in).unwrap_or(0);
            let made = usize::try_from(self.inflate.total_out() - before_out).unwrap_or(0);
            self.src.consume(used);
            self.crc.update(&out[..made]);
            self.inflated += made as u64;
            if self.inflated > self.limit {
                return Err(Error::TooLarge {
                    member: self.number,
                    limit: self.limit,
                });
            }
            if status == Status::StreamEnd {
                self.read_trailer()?;
                self.done = true;
                return Ok(made);
            }
            if made > 0 {
                return Ok(made);
            }
            if eof {
                return Err(Error::Truncated {
                    member: self.number,
                });
            }
            if used == 0 && status == Status::BufError {
                // Input was available and room for output, yet nothing happened.
                return Err(Error::Corrupt {
                    member: self.number,
                    detail: "inflater made no progress".to_owned(),
                });
            }
        }
    }

    fn read_trailer(&mut self) -> Result<(), Error> {
        let t = self.src.bytes::<8>(self.number)?;
        let expected = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let expected_len = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        if expected != self.crc.sum() {
            return Err(Error::Crc {
                member: self.number,
                expected,
                actual: self.crc.sum(),
            });
        }
        #[allow(clippy::cast_possible_truncation)]
        let actual = self.inflated as u32;
        if expected_len != actual {
            return Err(Error::Length {
                member: self.number,
                expected: expected_len,
                actual,
            });
        }
        Ok(())
    }

    /// Inflates and discards whatever is left, checks the trailer, and returns the member's
    /// digests.
    ///
    /// # Errors
    /// Corrupt, truncated or oversized data.
    pub fn finish(mut self) -> Result<RawMember, Error> {
        let mut sink = vec![0u8; BUFFER];
        while self.read_inner(&mut sink)? > 0 {}
        let hashers = std::mem::take(&mut self.src.hashers);
        Ok(RawMember {
            number: self.number,
            offset: self.offset,
            compressed_len: self.src.offset - self.offset,
            inflated_len: self.inflated,
            sha1: hashers.sha1.map(|h| h.finalize().into()),
            sha256: hashers.sha256.map(|h| h.finalize().into()),
            sha512: hashers.sha512.map(|h| h.finalize().into()),
        })
    }
}

impl<R: Read> Read for Member<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.read_inner(out).map_err(Error::into_io)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn all(bytes: &[u8], limit: u64) -> Result<Vec<(Vec<u8>, RawMember)>, Error> {
        let mut members = Members::new(bytes);
        let mut out = Vec::new();
        while let Some(mut m) = members.next_member(
            Algorithms {
                sha1: true,
                sha256: true,
                sha512: false,
            },
            limit,
        )? {
            let mut data = Vec::new();
            m.read_to_end(&mut data)
                .map_err(|e| Error::from_io(e).unwrap())?;
            out.push((data, m.finish()?));
        }
        Ok(out)
    }

    #[test]
    fn splits_members_and_hashes_their_raw_bytes() {
        let a = gz(b"first member");
        let b = gz(&vec![b'x'; 200_000]);
        let joined = [a.clone(), b.clone()].concat();
        let got = all(&joined, 1 << 20).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, b"first member");
        assert_eq!(got[1].0.len(), 200_000);
        assert_eq!(got[0].1.sha1, Some(Sha1::digest(&a).into()));
        assert_eq!(got[1].1.sha256, Some(Sha256::digest(&b).into()));
        assert_eq!(got[1].1.offset, a.len() as u64);
        assert_eq!(got[1].1.compressed_len, b.len() as u64);
    }

    #[test]
    fn bomb_stops_at_the_limit() {
        let bomb = gz(&vec![0u8; 10 << 20]);
        let err = all(&bomb, 1 << 20).unwrap_err();
        assert!(matches!(err, Error::TooLarge { member: 1, limit } if limit == 1 << 20));
    }

    #[test]
    fn truncation_crc_and_magic_are_detected() {
        let good = gz(b"hello world, hello world");
        for cut in 1..good.len() {
            let err = all(&good[..cut], 1 << 20).unwrap_err();
            assert!(
                matches!(err, Error::Truncated { .. } | Error::Corrupt { .. }),
                "cut {cut}: {err}"
            );
        }
        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        assert!(matches!(all(&bad_crc, 1 << 20), Err(Error::Crc { .. })));
        let mut bad_len = good.clone();
        bad_len[n - 1] ^= 1;
        assert!(matches!(all(&bad_len, 1 << 20), Err(Error::Length { .. })));
        let garbage = [good, b"garbage".to_vec()].concat();
        assert!(matches!(
            all(&garbage, 1 << 20),
            Err(Error::NotGzip { member: 2, .. })
        ));
    }
}
