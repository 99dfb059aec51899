//! Repository indexes: `APKINDEX.tar.gz`.
//!
//! Two gzip members: a signature member (`.SIGN.RSA*.<key>`, see [`super::keys`]) and the
//! index member, a tar holding `DESCRIPTION` (the repository's description, one line) and
//! `APKINDEX`: stanzas of `X:value` lines separated by blank lines, one stanza per package.
//! An unsigned index is the index member alone.
//!
//! | field | meaning | [`IndexEntry`] |
//! | --- | --- | --- |
//! | `C` | identity: `Q1` + base64(SHA-1 of the package's control member) | `checksum` |
//! | `P` `V` `A` | name, version, architecture | `name`, `version`, `arch` |
//! | `S` `I` | package size, installed size (bytes) | `size`, `installed_size` |
//! | `T` `U` `L` | description, URL, licence | `description`, `url`, `license` |
//! | `o` `m` `t` `c` | origin, maintainer, build time, source commit | `origin`, `maintainer`, `build_time`, `commit` |
//! | `k` | provider priority | `provider_priority` |
//! | `D` `p` `i` `r` | depends, provides, install-if, replaces (space-separated atoms) | `depends`, `provides`, `install_if`, `replaces` |
//! | `q` | replaces priority | `replaces_priority` |
//! | anything else | kept as written | `other` |
//!
//! Invariants: every line is at most [`super::MAX_LINE`] bytes, the index member inflates to at
//! most [`super::Limits::index_member`], each stanza has `C`, `P` and `V`, a known field
//! appears at most once per stanza, and nothing is dropped.

use std::io::Read;

use super::checksum::{self, Checksum};
use super::keys::{self, Keyring, Signature, SignatureStatus, SignedDigests};
use super::{ArchiveError, Limits, MAX_LINE, gzip, read_signatures, tar};

/// Largest `DESCRIPTION` accepted.
pub const MAX_DESCRIPTION: u64 = 64 * 1024;

/// One package of an index. Versions and dependency atoms are kept as written; the
/// `version` and `dependency` modules give them meaning.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IndexEntry {
    /// `C`: the package identity.
    pub checksum: Checksum,
    /// `P`: name.
    pub name: String,
    /// `V`: version.
    pub version: String,
    /// `A`: architecture.
    pub arch: Option<String>,
    /// `S`: size of the `.apk` file in bytes.
    pub size: Option<u64>,
    /// `I`: installed size in bytes.
    pub installed_size: Option<u64>,
    /// `T`: one-line description.
    pub description: Option<String>,
    /// `U`: project URL.
    pub url: Option<String>,
    /// `L`: licence expression.
    pub license: Option<String>,
    /// `o`: origin (source package) name.
    pub origin: Option<String>,
    /// `m`: maintainer.
    pub maintainer: Option<String>,
    /// `t`: build time (seconds since the epoch).
    pub build_time: Option<u64>,
    /// `c`: source commit.
    pub commit: Option<String>,
    /// `k`: provider priority.
    pub provider_priority: Option<u64>,
    /// `D`: dependency atoms.
    pub depends: Vec<String>,
    /// `p`: provided names (`name=version`, `so:…`, `cmd:…`).
    pub provides: Vec<String>,
    /// `i`: install-if atoms.
    pub install_if: Vec<String>,
    /// `r`: replaced package names.
    pub replaces: Vec<String>,
    /// `q`: replaces priority.
    pub replaces_priority: Option<u64>,
    /// Any other field, in order, as written.
    pub other: Vec<(char, String)>,
}

/// A read, checked index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Index {
    /// The `DESCRIPTION` text, trimmed (for example `v3.19.1-643-gec825d20535`).
    pub description: Option<String>,
    /// The packages, in file order.
    pub entries: Vec<IndexEntry>,
    /// The signature check.
    pub signature: SignatureStatus,
}

/// A malformed `APKINDEX` text.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// A line longer than [`MAX_LINE`].
    #[error("APKINDEX line {line} is longer than {limit} bytes")]
    LineTooLong {
        /// Line number, from 1.
        line: usize,
        /// The limit.
        limit: usize,
    },
    /// Not UTF-8.
    #[error("APKINDEX line {line} is not UTF-8")]
    NotUtf8 {
        /// Line number.
        line: usize,
    },
    /// Not `X:value`.
    #[error("APKINDEX line {line} is not `X:value`: `{text}`")]
    Syntax {
        /// Line number.
        line: usize,
        /// The line, shortened to 80 characters.
        text: String,
    },
    /// A known field twice in one stanza.
    #[error("APKINDEX line {line}: field `{field}` appears twice in one package")]
    Duplicate {
        /// Line number.
        line: usize,
        /// The field letter.
        field: char,
    },
    /// A stanza without `C`, `P` or `V`.
    #[error("APKINDEX package ending at line {line} has no `{field}:` field")]
    Missing {
        /// Line number of the stanza's end.
        line: usize,
        /// The field letter.
        field: char,
    },
    /// A numeric field that is not a number.
    #[error("APKINDEX line {line}: field `{field}` is not a number: `{value}`")]
    BadNumber {
        /// Line number.
        line: usize,
        /// The field letter.
        field: char,
        /// The value, shortened to 80 characters.
        value: String,
    },
    /// An invalid `C:` value.
    #[error("APKINDEX line {line}: {source}")]
    BadChecksum {
        /// Line number.
        line: usize,
        /// What is wrong.
        source: checksum::Error,
    },
}

/// An index that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A gzip-level problem (bomb, truncation, corruption).
    #[error("`{file}`: {source}")]
    Gzip {
        /// The index file.
        file: String,
        /// The problem.
        source: gzip::Error,
    },
    /// A tar-level problem in one member.
    #[error("`{file}`: gzip member {member}: {source}")]
    Tar {
        /// The index file.
        file: String,
        /// Member number.
        member: usize,
        /// The problem.
        source: tar::Error,
    },
    /// The `APKINDEX` text is malformed.
    #[error("`{file}`: {source}")]
    Parse {
        /// The index file.
        file: String,
        /// The problem.
        source: ParseError,
    },
    /// The archive's structure is wrong (missing pieces, trailing bytes, oversized parts).
    #[error("`{file}`: {problem}")]
    Structure {
        /// The index file.
        file: String,
        /// What is wrong.
        problem: String,
    },
}

impl Error {
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

/// Reads and checks an `APKINDEX.tar.gz` (`file` names it in errors). The signature status is
/// returned, not enforced: see [`Index::require_verified`].
///
/// # Errors
/// Anything malformed, truncated, oversized or trailing.
pub fn read_index<R: Read>(
    reader: R,
    file: &str,
    keyring: &Keyring,
    limits: &Limits,
) -> Result<Index, Error> {
    let mut members = gzip::Members::new(reader);
    let gz = |number, e| Error::archive(file, number, ArchiveError::Gzip(e));
    let mut first = members
        .next_member(gzip::Algorithms::default(), limits.index_member)
        .map_err(|e| gz(1, e))?
        .ok_or_else(|| Error::Structure {
            file: file.to_owned(),
            problem: "empty file: no gzip member".to_owned(),
        })?;
    let mut tar = tar::Reader::new(&mut first);
    let head = tar
        .next_header()
        .map_err(|e| Error::archive(file, 1, ArchiveError::from_tar(e)))?;
    let signatures: Vec<Signature>;
    let (description, entries, raw) = match head {
        Some(h) if keys::SignatureAlgorithm::parse_file_name(&h.path).is_some() => {
            tar.get_mut().set_limit(limits.signature_member);
            signatures = read_signatures(&mut tar, h).map_err(|e| Error::archive(file, 1, e))?;
            drop(tar);
            first.finish().map_err(|e| gz(1, e))?;
            let mut member = members
                .next_member(keys::algorithms_for(&signatures), limits.index_member)
                .map_err(|e| gz(2, e))?
                .ok_or_else(|| Error::Structure {
                    file: file.to_owned(),
                    problem: "the index member is missing after the signature member".to_owned(),
                })?;
            let mut tar = tar::Reader::new(&mut member);
            let (description, entries) = read_index_member(&mut tar, None, file, 2)?;
            drop(tar);
            let raw = member.finish().map_err(|e| gz(2, e))?;
            (description, entries, Some(raw))
        }
        head => {
            signatures = Vec::new();
            let (description, entries) = read_index_member(&mut tar, head, file, 1)?;
            drop(tar);
            first.finish().map_err(|e| gz(1, e))?;
            (description, entries, None)
        }
    };
    ensure_end(&mut members, file)?;
    let digests = raw.map_or_else(SignedDigests::default, |raw| SignedDigests {
        sha1: raw.sha1,
        sha256: raw.sha256,
        sha512: raw.sha512,
    });
    Ok(Index {
        description,
        entries,
        signature: keyring.check(&signatures, &digests),
    })
}

fn ensure_end<R: Read>(members: &mut gzip::Members<R>, file: &str) -> Result<(), Error> {
    let at = members.offset();
    if members
        .at_end()
        .map_err(|e| Error::archive(file, 0, ArchiveError::Gzip(e)))?
    {
        Ok(())
    } else {
        Err(Error::Structure {
            file: file.to_owned(),
            problem: format!("trailing data after byte {at}"),
        })
    }
}

fn read_index_member<R: Read>(
    tar: &mut tar::Reader<R>,
    mut pending: Option<tar::Header>,
    file: &str,
    number: usize,
) -> Result<(Option<String>, Vec<IndexEntry>), Error> {
    let mut description = None;
    let mut entries = None;
    let tar_err = |e: tar::Error| Error::archive(file, number, ArchiveError::from_tar(e));
    loop {
        let header = match pending.take() {
            Some(h) => h,
            None => match tar.next_header().map_err(tar_err)? {
                Some(h) => h,
                None => break,
            },
        };
        match header.path.as_str() {
            "DESCRIPTION" => {
                if header.size > MAX_DESCRIPTION {
                    return Err(Error::Structure {
                        file: file.to_owned(),
                        problem: format!(
                            "DESCRIPTION is {} bytes (limit {MAX_DESCRIPTION})",
                            header.size
                        ),
                    });
                }
                let mut text = Vec::new();
                tar.content()
                    .read_to_end(&mut text)
                    .map_err(|e| tar_err(tar::Error::Io(e)))?;
                description = Some(String::from_utf8_lossy(&text).trim().to_owned());
            }
            "APKINDEX" => {
                // The whole text is held (bounded by the index member's limit): parsing a
                // slice is several times faster than line-by-line reads.
                let mut text =
                    Vec::with_capacity(usize::try_from(header.size.min(64 << 20)).unwrap_or(0));
                tar.content()
                    .read_to_end(&mut text)
                    .map_err(|e| tar_err(tar::Error::Io(e)))?;
                entries = Some(parse_apkindex(&text).map_err(|source| Error::Parse {
                    file: file.to_owned(),
                    source,
                })?);
            }
            _ => {}
        }
    }
    let entries = entries.ok_or_else(|| Error::Structure {
        file: file.to_owned(),
        problem: format!("gzip member {number} holds no APKINDEX file"),
    })?;
    Ok((description, entries))
}

impl Index {
    /// Ok when a trusted key verified the index.
    ///
    /// # Errors
    /// [`Error::Structure`] naming the signature problem.
    pub fn require_verified(&self, file: &str) -> Result<(), Error> {
        if self.signature.is_verified() {
            Ok(())
        } else {
            Err(Error::Structure {
                file: file.to_owned(),
                problem: format!("signature not trusted: {}", self.signature),
            })
        }
    }
}

#[derive(Default)]
struct Stanza {
    checksum: Option<Checksum>,
    name: Option<String>,
    version: Option<String>,
    arch: Option<String>,
    size: Option<u64>,
    installed_size: Option<u64>,
    description: Option<String>,
    url: Option<String>,
    license: Option<String>,
    origin: Option<String>,
    maintainer: Option<String>,
    build_time: Option<u64>,
    commit: Option<String>,
    provider_priority: Option<u64>,
    depends: Option<Vec<String>>,
    provides: Option<Vec<String>>,
    install_if: Option<Vec<String>>,
    replaces: Option<Vec<String>>,
    replaces_priority: Option<u64>,
    other: Vec<(char, String)>,
    lines: usize,
}

fn set<T>(slot: &mut Option<T>, value: T, line: usize, field: char) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError::Duplicate { line, field });
    }
    *slot = Some(value);
    Ok(())
}

impl Stanza {
    fn add(&mut self, field: char, value: &str, line: usize) -> Result<(), ParseError> {
        self.lines += 1;
        let text = || value.to_owned();
        let atoms = || value.split_whitespace().map(str::to_owned).collect();
        let num = || {
            value.parse::<u64>().map_err(|_| ParseError::BadNumber {
                line,
                field,
                value: value.chars().take(80).collect(),
            })
        };
        match field {
            'C' => set(
                &mut self.checksum,
                value
                    .parse()
                    .map_err(|source| ParseError::BadChecksum { line, source })?,
                line,
                field,
            ),
            'P' => set(&mut self.name, text(), line, field),
            'V' => set(&mut self.version, text(), line, field),
            'A' => set(&mut self.arch, text(), line, field),
            'S' => set(&mut self.size, num()?, line, field),
            'I' => set(&mut self.installed_size, num()?, line, field),
            'T' => set(&mut self.description, text(), line, field),
            'U' => set(&mut self.url, text(), line, field),
            'L' => set(&mut self.license, text(), line, field),
            'o' => set(&mut self.origin, text(), line, field),
            'm' => set(&mut self.maintainer, text(), line, field),
            't' => set(&mut self.build_time, num()?, line, field),
            'c' => set(&mut self.commit, text(), line, field),
            'k' => set(&mut self.provider_priority, num()?, line, field),
            'D' => set(&mut self.depends, atoms(), line, field),
            'p' => set(&mut self.provides, atoms(), line, field),
            'i' => set(&mut self.install_if, atoms(), line, field),
            'r' => set(&mut self.replaces, atoms(), line, field),
            'q' => set(&mut self.replaces_priority, num()?, line, field),
            other => {
                self.other.push((other, text()));
                Ok(())
            }
        }
    }

    fn finish(self, line: usize) -> Result<IndexEntry, ParseError> {
        let missing = |field| ParseError::Missing { line, field };
        Ok(IndexEntry {
            checksum: self.checksum.ok_or_else(|| missing('C'))?,
            name: self
                .name
                .filter(|n| !n.is_empty())
                .ok_or_else(|| missing('P'))?,
            version: self
                .version
                .filter(|v| !v.is_empty())
                .ok_or_else(|| missing('V'))?,
            arch: self.arch,
            size: self.size,
            installed_size: self.installed_size,
            description: self.description,
            url: self.url,
            license: self.license,
            origin: self.origin,
            maintainer: self.maintainer,
            build_time: self.build_time,
            commit: self.commit,
            provider_priority: self.provider_priority,
            depends: self.depends.unwrap_or_default(),
            provides: self.provides.unwrap_or_default(),
            install_if: self.install_if.unwrap_or_default(),
            replaces: self.replaces.unwrap_or_default(),
            replaces_priority: self.replaces_priority,
            other: self.other,
        })
    }
}

/// Parses `APKINDEX` text (the file inside the index member).
///
/// # Errors
/// See [`ParseError`].
pub fn parse_apkindex(text: &[u8]) -> Result<Vec<IndexEntry>, ParseError> {
    // One UTF-8 check over the whole text; an error is reported on its line.
    let text = std::str::from_utf8(text).map_err(|e| ParseError::NotUtf8 {
        line: 1 + text[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
    })?;
    // Stanzas end with a blank line: sizing the vector once avoids moving every entry as it
    // grows (entries are large).
    let stanzas = text.as_bytes().windows(2).filter(|w| w == b"\n\n").count();
    let mut entries = Vec::with_capacity(stanzas + 1);
    let mut stanza = Stanza::default();
    let mut line = 0;
    let mut rest = text;
    while !rest.is_empty() {
        // Lines are short: a plain byte scan beats the generic substring searcher here.
        let (current, next) = match rest.bytes().position(|b| b == b'\n') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, ""),
        };
        rest = next;
        line += 1;
        if current.len() > MAX_LINE {
            return Err(ParseError::LineTooLong {
                line,
                limit: MAX_LINE,
            });
        }
        if current.is_empty() {
            if stanza.lines > 0 {
                entries.push(std::mem::take(&mut stanza).finish(line)?);
            }
            continue;
        }
        match current.as_bytes() {
            [field, b':', ..] if field.is_ascii_alphanumeric() => {
                stanza.add(char::from(*field), &current[2..], line)?;
            }
            _ => {
                return Err(ParseError::Syntax {
                    line,
                    text: current.chars().take(80).collect(),
                });
            }
        }
    }
    if stanza.lines > 0 {
        entries.push(stanza.finish(line)?);
    }
    Ok(entries)
}

/// Renders entries as `APKINDEX` text, fields in apk-tools' order; `parse_apkindex` of the
/// result gives the entries back.
#[must_use]
pub fn render_apkindex(entries: &[IndexEntry]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for e in entries {
        let mut line = |field: char, value: &str| {
            let _ = writeln!(out, "{field}:{value}");
        };
        line('C', &e.checksum.to_string());
        line('P', &e.name);
        line('V', &e.version);
        let opt = |v: &Option<String>| v.clone();
        let num = |v: Option<u64>| v.map(|n| n.to_string());
        let list = |v: &[String]| (!v.is_empty()).then(|| v.join(" "));
        for (field, value) in [
            ('A', opt(&e.arch)),
            ('S', num(e.size)),
            ('I', num(e.installed_size)),
            ('T', opt(&e.description)),
            ('U', opt(&e.url)),
            ('L', opt(&e.license)),
            ('o', opt(&e.origin)),
            ('m', opt(&e.maintainer)),
            ('t', num(e.build_time)),
            ('c', opt(&e.commit)),
            ('k', num(e.provider_priority)),
            ('D', list(&e.depends)),
            ('p', list(&e.provides)),
            ('i', list(&e.install_if)),
            ('r', list(&e.replaces)),
            ('q', num(e.replaces_priority)),
        ] {
            if let Some(v) = value {
                line(field, &v);
            }
        }
        for (field, value) in &e.other {
            line(*field, value);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "C:Q1mcpyM8ftLHlvmaMjdLoBo6zq/Fo=\nP:alpine-base\nV:3.19.1-r0\nA:x86_64\n\
S:1518\nI:4096\nT:Meta package\nU:https://alpinelinux.org\nL:MIT\no:alpine-base\n\
m:Natanael Copa <ncopa@alpinelinux.org>\nt:1706291505\nc:ce3c39d98c0c7edad96cdd5756e7dfc1005e9ca3\n\
D:alpine-baselayout alpine-conf\n\nC:Q16vHLRZoP2NZ2lLj3reL8p+l/YE4=\nP:x\nV:1\np:cmd:x=1 so:libx.so.1\n\
i:x-doc man-pages\nr:y z\nk:100\nq:5\nZ:unknown kept\n";

    #[test]
    fn parses_every_field() {
        let e = parse_apkindex(TEXT.as_bytes()).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].name, "alpine-base");
        assert_eq!(e[0].depends, ["alpine-baselayout", "alpine-conf"]);
        assert_eq!(e[0].build_time, Some(1_706_291_505));
        assert_eq!(e[1].provides, ["cmd:x=1", "so:libx.so.1"]);
        assert_eq!(e[1].install_if, ["x-doc", "man-pages"]);
        assert_eq!(e[1].replaces, ["y", "z"]);
        assert_eq!(e[1].provider_priority, Some(100));
        assert_eq!(e[1].replaces_priority, Some(5));
        assert_eq!(e[1].other, [('Z', "unknown kept".to_owned())]);
        assert_eq!(parse_apkindex(render_apkindex(&e).as_bytes()).unwrap(), e);
    }

    #[test]
    fn rejects_malformed() {
        type Check = fn(&ParseError) -> bool;
        let cases: [(&str, Check); 6] = [
            ("P:a\nV:1\n\n", |e| {
                matches!(e, ParseError::Missing { field: 'C', .. })
            }),
            ("no colon\n", |e| {
                matches!(e, ParseError::Syntax { line: 1, .. })
            }),
            ("P:a\nP:b\n", |e| {
                matches!(
                    e,
                    ParseError::Duplicate {
                        line: 2,
                        field: 'P'
                    }
                )
            }),
            ("S:12a\n", |e| {
                matches!(e, ParseError::BadNumber { field: 'S', .. })
            }),
            ("C:xx\n", |e| matches!(e, ParseError::BadChecksum { .. })),
            ("C:Q1mcpyM8ftLHlvmaMjdLoBo6zq/Fo=\nP:a\n\n", |e| {
                matches!(
                    e,
                    ParseError::Missing {
                        field: 'V',
                        line: 3
                    }
                )
            }),
        ];
        for (text, check) in cases {
            let err = parse_apkindex(text.as_bytes()).unwrap_err();
            assert!(check(&err), "{text:?}: {err}");
        }
        let long = format!("V:{}\n", "1".repeat(3 * MAX_LINE));
        assert!(matches!(
            parse_apkindex(long.as_bytes()),
            Err(ParseError::LineTooLong { line: 1, .. })
        ));
        assert!(matches!(
            parse_apkindex(&b"P:\xff\n"[..]),
            Err(ParseError::NotUtf8 { line: 1 })
        ));
    }
}
