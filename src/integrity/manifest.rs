//! `manifest`: the description of every entry of an image or a root, for verification.
//!
//! A [`Manifest`] is a [`Header`] (format version, image name and version, profile and lock
//! digests, build time, installed packages, runtime policy) and a list of [`Entry`] values
//! strictly sorted by path bytes. Its canonical text ([`Manifest::render`]) is the only thing
//! that is signed; [`Manifest::parse`] reads it back and refuses anything that is not canonical,
//! so one manifest has exactly one byte representation and one digest.
//!
//! Invariants: paths are absolute (`/`, `/etc/passwd`), normalised, and kept as raw bytes;
//! in text they are escaped losslessly (`\ooo` octal for any byte outside printable ASCII and
//! for the few characters that are special to the formats). Output is sorted and never depends
//! on the host that renders it. Parsing bounds the work it does by the size of its input.
//!
//! The canonical text, one item per line:
//!
//! ```text
//! basalt-manifest 1
//! image NAME
//! version VERSION
//! profile sha256:HEX | -
//! lock sha256:HEX | -
//! built SECONDS-SINCE-EPOCH
//! root-hash HEX                                                 (only for a disk image)
//! package NAME VERSION ORIGIN|- IDENTITY|- RECORD-SHA256|-      (sorted by name)
//! ephemeral PATH                                                (sorted, one per path)
//! state PATH
//! mutable PATH
//! entries COUNT
//! PATH TYPE MODE UID GID [size=N sha256=HEX] [target=PATH] [rdev=MAJOR,MINOR]
//!      [hardlink=PATH] [xattrs=HEX] [package=NAME]
//! ```

use std::fmt::Write as _;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The version of the canonical text this module writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The magic word that opens a manifest.
pub const MAGIC: &str = "basalt-manifest";

/// Longest path (in raw bytes) accepted in a manifest: Linux's `PATH_MAX`.
pub const MAX_PATH: usize = 4096;

/// Errors reading a manifest's canonical text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The first line is not `basalt-manifest 1`.
    #[error("not a basalt manifest: first line is `{found}` (expected `{MAGIC} {FORMAT_VERSION}`)")]
    NotAManifest {
        /// The first line as found (truncated).
        found: String,
    },
    /// The format version is one this build cannot read.
    #[error(
        "unsupported manifest format version {found} (this basalt reads version {FORMAT_VERSION})"
    )]
    Version {
        /// The version found.
        found: String,
    },
    /// A line does not follow the grammar.
    #[error("manifest line {line}: {message}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong, with the offending text.
        message: String,
    },
    /// The text parses but is not the canonical rendering of what it describes.
    #[error("manifest line {line}: not canonical: {message}")]
    NotCanonical {
        /// 1-based line number.
        line: usize,
        /// What differs.
        message: String,
    },
    /// The number of entries does not match the `entries` line.
    #[error("manifest declares {expected} entries but holds {found}")]
    Count {
        /// From the `entries` line.
        expected: usize,
        /// Actually present.
        found: usize,
    },
}

/// Where a running host may differ from its image: the header carries it.
pub use crate::policy::{Rule, RuntimePolicy, covers, strictly_below};

/// A package installed in the tree, from its `lib/apk/db/installed`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    /// `P:`
    pub name: String,
    /// `V:`
    pub version: String,
    /// `o:`, when present.
    pub origin: Option<String>,
    /// `C:`, the package's identity (`Q1…`), when present.
    pub identity: Option<String>,
    /// SHA-256 of the package's whole record in the database, so that an edited record shows.
    pub record: Option<[u8; 32]>,
}

/// Everything about the manifest that is not an entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// The image's name (the profile name, or a name given on the command line).
    pub image: String,
    /// The image's version.
    pub version: String,
    /// Digest of the profile the image was built from (`sha256:…`), when known.
    pub profile_digest: Option<String>,
    /// Digest of the lockfile the image was built from, when known.
    pub lock_digest: Option<String>,
    /// Build time in seconds since the epoch (`SOURCE_DATE_EPOCH` for reproducible builds).
    pub build_time: u64,
    /// The dm-verity root hash of the image's root filesystem, when it was built as a disk:
    /// it binds this manifest to the one root the kernel will accept.
    pub root_hash: Option<[u8; 32]>,
    /// Installed packages, sorted by name.
    pub packages: Vec<Package>,
    /// Where the running host may differ from the image.
    pub policy: RuntimePolicy,
}

/// What an entry is, with what only that type has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File {
        /// Size in bytes.
        size: u64,
        /// SHA-256 of the content.
        sha256: [u8; 32],
    },
    /// A directory.
    Dir,
    /// A symbolic link (never followed).
    Symlink {
        /// The raw link target.
        target: Vec<u8>,
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
    /// A Unix socket.
    Socket,
}

impl Kind {
    /// The stable name used in text, JSON and findings.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Kind::File { .. } => "file",
            Kind::Dir => "dir",
            Kind::Symlink { .. } => "symlink",
            Kind::Char { .. } => "char",
            Kind::Block { .. } => "block",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
        }
    }
}

/// One entry of an image or a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Absolute, normalised path as raw bytes (`/`, `/etc/passwd`).
    pub path: Vec<u8>,
    /// Type and type-specific data.
    pub kind: Kind,
    /// Permission bits including setuid, setgid and sticky (`0o7777` at most).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// For a regular file that is a hard link: the first path (in sorted order) of its group.
    pub hardlink: Option<Vec<u8>>,
    /// SHA-256 of the extended attributes (see [`xattrs_digest`]), when there are any.
    pub xattrs: Option<[u8; 32]>,
    /// The package that owns the path, when known from the apk database.
    pub package: Option<String>,
}

/// A description of a whole tree: header and sorted entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// Image identity, packages and runtime policy.
    pub header: Header,
    /// Entries strictly sorted by path bytes.
    pub entries: Vec<Entry>,
}

/// SHA-256 over extended attributes, independent of the order they were listed in: each
/// `(name, value)` pair, sorted by name, as `len(name) name len(value) value` with 8-byte
/// big-endian lengths.
#[must_use]
pub fn xattrs_digest(attrs: &mut [(Vec<u8>, Vec<u8>)]) -> Option<[u8; 32]> {
    if attrs.is_empty() {
        return None;
    }
    attrs.sort();
    let mut hasher = Sha256::new();
    for (name, value) in attrs.iter() {
        hasher.update((name.len() as u64).to_be_bytes());
        hasher.update(name);
        hasher.update((value.len() as u64).to_be_bytes());
        hasher.update(value);
    }
    Some(hasher.finalize().into())
}

// ---------------------------------------------------------------------------------------------
// Escaping

fn must_escape(byte: u8) -> bool {
    !(0x21..=0x7e).contains(&byte) || matches!(byte, b'\\' | b'#' | b'*' | b'?' | b'[' | b']')
}

/// Escapes raw bytes into a single printable token: `\ooo` (three octal digits) for bytes
/// outside `!`..`~` and for `\ # * ? [ ]`. Understood by NetBSD mtree as well.
#[must_use]
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if must_escape(b) {
            let _ = write!(out, "\\{b:03o}");
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// The inverse of [`escape`]; refuses anything [`escape`] would not have written.
///
/// # Errors
/// A message naming the problem when the token is not canonically escaped.
pub fn unescape(token: &str) -> Result<Vec<u8>, String> {
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            let digits = bytes
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)))
                .ok_or_else(|| format!("bad escape in `{token}`"))?;
            let value = u32::from(digits[0] - b'0') * 64
                + u32::from(digits[1] - b'0') * 8
                + u32::from(digits[2] - b'0');
            let value = u8::try_from(value).map_err(|_| format!("bad escape in `{token}`"))?;
            if !must_escape(value) {
                return Err(format!("needless escape in `{token}`"));
            }
            out.push(value);
            i += 4;
        } else if must_escape(b) {
            return Err(format!("unescaped character in `{token}`"));
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

fn escape_text(value: &str) -> String {
    escape(value.as_bytes())
}

fn escape_opt(value: Option<&str>) -> String {
    match value {
        None | Some("") => "-".to_owned(),
        Some("-") => "\\055".to_owned(),
        Some(v) => escape_text(v),
    }
}

fn sha_opt(value: Option<&[u8; 32]>) -> String {
    value.map_or_else(|| "-".to_owned(), hex::encode)
}

/// Checks that `path` is absolute and normalised: starts with `/`, no empty, `.` or `..`
/// component, no trailing `/` (except `/` itself), no NUL byte, at most [`MAX_PATH`] bytes.
#[must_use]
pub fn is_normal_path(path: &[u8]) -> bool {
    if path == b"/" {
        return true;
    }
    path.len() <= MAX_PATH
        && path.first() == Some(&b'/')
        && !path.contains(&0)
        && path[1..]
            .split(|&b| b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

// ---------------------------------------------------------------------------------------------
// Rendering

impl Manifest {
    /// The trusted comment basalt signs with a manifest: image name, version and digest
    /// (`manifest=sha256:…`, which verification checks against the manifest's bytes).
    #[must_use]
    pub fn trusted_comment(&self) -> String {
        format!(
            "basalt image={} version={} manifest={}",
            escape(self.header.image.as_bytes()),
            escape(self.header.version.as_bytes()),
            self.digest_string()
        )
    }

    /// Sorts entries by path and packages by name, and normalises the policy: what
    /// [`Manifest::render`] expects.
    pub fn canonicalise(&mut self) {
        self.entries.sort_by(|a, b| a.path.cmp(&b.path));
        self.entries.dedup_by(|a, b| a.path == b.path);
        self.header.packages.sort();
        self.header.policy = std::mem::take(&mut self.header.policy).normalised();
    }

    /// The canonical text: the bytes that are signed.
    #[must_use]
    pub fn render(&self) -> Vec<u8> {
        let h = &self.header;
        let mut out = String::with_capacity(128 * (self.entries.len() + h.packages.len() + 8));
        let _ = writeln!(out, "{MAGIC} {FORMAT_VERSION}");
        let _ = writeln!(out, "image {}", escape_opt(Some(&h.image)));
        let _ = writeln!(out, "version {}", escape_opt(Some(&h.version)));
        let _ = writeln!(out, "profile {}", escape_opt(h.profile_digest.as_deref()));
        let _ = writeln!(out, "lock {}", escape_opt(h.lock_digest.as_deref()));
        let _ = writeln!(out, "built {}", h.build_time);
        if let Some(root_hash) = &h.root_hash {
            let _ = writeln!(out, "root-hash {}", hex::encode(root_hash));
        }
        for p in &h.packages {
            let _ = writeln!(
                out,
                "package {} {} {} {} {}",
                escape_opt(Some(&p.name)),
                escape_opt(Some(&p.version)),
                escape_opt(p.origin.as_deref()),
                escape_opt(p.identity.as_deref()),
                sha_opt(p.record.as_ref())
            );
        }
        for (word, list) in [
            ("ephemeral", &h.policy.ephemeral),
            ("state", &h.policy.state),
            ("mutable", &h.policy.mutable),
        ] {
            for path in list {
                let _ = writeln!(out, "{word} {}", escape_text(path));
            }
        }
        let _ = writeln!(out, "entries {}", self.entries.len());
        for entry in &self.entries {
            entry.render_into(&mut out);
            out.push('\n');
        }
        out.into_bytes()
    }

    /// SHA-256 of the canonical text.
    #[must_use]
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.render()).into()
    }

    /// The digest as `sha256:HEX`, as carried in signatures' trusted comments.
    #[must_use]
    pub fn digest_string(&self) -> String {
        format!("sha256:{}", hex::encode(self.digest()))
    }

    /// Finds an entry by path (entries are sorted).
    #[must_use]
    pub fn entry(&self, path: &[u8]) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.path.as_slice().cmp(path))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The JSON export: the header and every entry, paths escaped as in the text.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let h = &self.header;
        json!({
            "format": FORMAT_VERSION,
            "image": h.image,
            "version": h.version,
            "profile_digest": h.profile_digest,
            "lock_digest": h.lock_digest,
            "build_time": h.build_time,
            "root_hash": h.root_hash.map(hex::encode),
            "digest": self.digest_string(),
            "packages": h.packages.iter().map(|p| json!({
                "name": p.name,
                "version": p.version,
                "origin": p.origin,
                "identity": p.identity,
                "record_sha256": p.record.map(hex::encode),
            })).collect::<Vec<_>>(),
            "policy": {
                "ephemeral": h.policy.ephemeral,
                "state": h.policy.state,
                "mutable": h.policy.mutable,
            },
            "entries": self.entries.iter().map(Entry::to_json).collect::<Vec<_>>(),
        })
    }

    /// A NetBSD mtree specification (`mtree -f SPEC -p ROOT` checks it): full paths relative to
    /// `.`, with type, mode, owner, size, SHA-256 and link targets.
    #[must_use]
    pub fn to_mtree(&self) -> String {
        let h = &self.header;
        let mut out = String::new();
        let _ = writeln!(out, "#mtree v2.0");
        let _ = writeln!(
            out,
            "# basalt manifest of {} {} ({})",
            escape_text(&h.image),
            escape_text(&h.version),
            self.digest_string()
        );
        for e in &self.entries {
            let rel = if e.path == b"/" {
                ".".to_owned()
            } else {
                format!(".{}", escape(&e.path))
            };
            let ty = match &e.kind {
                Kind::File { .. } => "file",
                Kind::Dir => "dir",
                Kind::Symlink { .. } => "link",
                Kind::Char { .. } => "char",
                Kind::Block { .. } => "block",
                Kind::Fifo => "fifo",
                Kind::Socket => "socket",
            };
            let _ = write!(out, "{rel} type={ty}");
            if !matches!(e.kind, Kind::Symlink { .. }) {
                let _ = write!(out, " mode={:04o}", e.mode);
            }
            let _ = write!(out, " uid={} gid={}", e.uid, e.gid);
            match &e.kind {
                Kind::File { size, sha256 } => {
                    let _ = write!(out, " size={size} sha256={}", hex::encode(sha256));
                }
                Kind::Symlink { target } => {
                    let _ = write!(out, " link={}", escape(target));
                }
                Kind::Char { major, minor } | Kind::Block { major, minor } => {
                    let _ = write!(out, " device=linux,{major},{minor}");
                }
                Kind::Dir | Kind::Fifo | Kind::Socket => {}
            }
            out.push('\n');
        }
        out
    }
}

impl Entry {
    fn render_into(&self, out: &mut String) {
        let _ = write!(
            out,
            "{} {} {:04o} {} {}",
            escape(&self.path),
            self.kind.name(),
            self.mode,
            self.uid,
            self.gid
        );
        match &self.kind {
            Kind::File { size, sha256 } => {
                let _ = write!(out, " size={size} sha256={}", hex::encode(sha256));
            }
            Kind::Symlink { target } => {
                let _ = write!(out, " target={}", escape(target));
            }
            Kind::Char { major, minor } | Kind::Block { major, minor } => {
                let _ = write!(out, " rdev={major},{minor}");
            }
            Kind::Dir | Kind::Fifo | Kind::Socket => {}
        }
        if let Some(link) = &self.hardlink {
            let _ = write!(out, " hardlink={}", escape(link));
        }
        if let Some(x) = &self.xattrs {
            let _ = write!(out, " xattrs={}", hex::encode(x));
        }
        if let Some(p) = &self.package {
            let _ = write!(out, " package={}", escape_opt(Some(p)));
        }
    }

    /// The entry as one canonical line (without the newline).
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    /// The path, escaped for display.
    #[must_use]
    pub fn display_path(&self) -> String {
        escape(&self.path)
    }

    fn to_json(&self) -> Value {
        let mut obj = json!({
            "path": escape(&self.path),
            "type": self.kind.name(),
            "mode": format!("{:04o}", self.mode),
            "uid": self.uid,
            "gid": self.gid,
        });
        let map = obj.as_object_mut().expect("a JSON object");
        match &self.kind {
            Kind::File { size, sha256 } => {
                map.insert("size".into(), json!(size));
                map.insert("sha256".into(), json!(hex::encode(sha256)));
            }
            Kind::Symlink { target } => {
                map.insert("target".into(), json!(escape(target)));
            }
            Kind::Char { major, minor } | Kind::Block { major, minor } => {
                map.insert("rdev".into(), json!([major, minor]));
            }
            Kind::Dir | Kind::Fifo | Kind::Socket => {}
        }
        if let Some(link) = &self.hardlink {
            map.insert("hardlink".into(), json!(escape(link)));
        }
        if let Some(x) = &self.xattrs {
            map.insert("xattrs".into(), json!(hex::encode(x)));
        }
        if let Some(p) = &self.package {
            map.insert("package".into(), json!(p));
        }
        obj
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

struct Lines<'a> {
    text: &'a str,
    number: usize,
}

impl<'a> Lines<'a> {
    fn next(&mut self) -> Option<&'a str> {
        if self.text.is_empty() {
            return None;
        }
        self.number += 1;
        let (line, rest) = self.text.split_once('\n').unwrap_or((self.text, ""));
        self.text = rest;
        Some(line)
    }

    fn peek_word(&self) -> Option<&'a str> {
        self.text
            .split_once('\n')
            .map_or(self.text, |(l, _)| l)
            .split(' ')
            .next()
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error::Syntax {
            line: self.number,
            message: message.into(),
        }
    }

    fn expect(&mut self, word: &str) -> Result<&'a str, Error> {
        let line = self
            .next()
            .ok_or_else(|| self.err(format!("expected `{word}`, found the end")))?;
        line.strip_prefix(word)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| self.err(format!("expected `{word} …`, found `{}`", clip(line))))
    }
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

fn parse_text(token: &str, lines: &Lines<'_>) -> Result<String, Error> {
    let bytes = unescape(token).map_err(|m| lines.err(m))?;
    String::from_utf8(bytes).map_err(|_| lines.err(format!("`{token}` is not UTF-8")))
}

fn parse_opt(token: &str, lines: &Lines<'_>) -> Result<Option<String>, Error> {
    match token {
        // An absent or empty value is written `-`: an empty token is not canonical.
        "" => Err(lines.err("an empty value (none is written `-`)")),
        "-" => Ok(None),
        "\\055" => Ok(Some("-".to_owned())),
        _ => parse_text(token, lines).map(Some),
    }
}

fn parse_req(token: &str, what: &str, lines: &Lines<'_>) -> Result<String, Error> {
    parse_opt(token, lines)?.ok_or_else(|| lines.err(format!("the {what} is missing")))
}

fn parse_sha(token: &str, lines: &Lines<'_>) -> Result<[u8; 32], Error> {
    let mut out = [0u8; 32];
    if token.len() != 64 || token.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(lines.err(format!("`{}` is not a lowercase SHA-256", clip(token))));
    }
    hex::decode_to_slice(token, &mut out)
        .map_err(|_| lines.err(format!("`{}` is not a SHA-256", clip(token))))?;
    Ok(out)
}

fn parse_number<T: std::str::FromStr>(token: &str, lines: &Lines<'_>) -> Result<T, Error> {
    // Digits only: `str::parse` would also take a sign (`+0`), which is not canonical.
    if token.is_empty()
        || (token.len() > 1 && token.starts_with('0'))
        || !token.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(lines.err(format!("`{}` is not a canonical number", clip(token))));
    }
    token
        .parse()
        .map_err(|_| lines.err(format!("`{}` is not a number", clip(token))))
}

fn parse_path(token: &str, lines: &Lines<'_>) -> Result<Vec<u8>, Error> {
    let path = unescape(token).map_err(|m| lines.err(m))?;
    if !is_normal_path(&path) {
        return Err(lines.err(format!(
            "`{}` is not an absolute normalised path",
            clip(token)
        )));
    }
    Ok(path)
}

impl Manifest {
    /// Reads the canonical text back.
    ///
    /// # Errors
    /// [`Error`] naming the line and the problem for anything that is not exactly what
    /// [`Manifest::render`] writes.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, Error> {
        let (header, expected, mut lines) = parse_header(bytes)?;
        // Every entry takes at least 12 bytes of text: bound the allocation by the input.
        let mut entries: Vec<Entry> = Vec::with_capacity(expected.min(lines.text.len() / 12 + 1));
        while let Some(line) = lines.next() {
            let entry = parse_entry(line, &lines)?;
            if entries.last().is_some_and(|last| last.path >= entry.path) {
                return Err(Error::NotCanonical {
                    line: lines.number,
                    message: format!("entry `{}` is out of order or repeated", clip(line)),
                });
            }
            entries.push(entry);
        }
        if entries.len() != expected {
            return Err(Error::Count {
                expected,
                found: entries.len(),
            });
        }
        Ok(Manifest { header, entries })
    }

    /// Reads only the header (what precedes the entries), so that a walk under the runtime
    /// policy can start while [`Manifest::parse`] reads the entries.
    ///
    /// # Errors
    /// As [`Manifest::parse`], for the header's lines.
    pub fn parse_header(bytes: &[u8]) -> Result<Header, Error> {
        parse_header(bytes).map(|(header, _, _)| header)
    }
}

/// Reads the header; returns it, the announced number of entries and the lines that follow.
fn parse_header(bytes: &[u8]) -> Result<(Header, usize, Lines<'_>), Error> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        Error::Syntax {
            line,
            message: "not UTF-8".into(),
        }
    })?;
    if !text.ends_with('\n') {
        let line = text.lines().count().max(1);
        return Err(Error::Syntax {
            line,
            message: "the text does not end with a newline".into(),
        });
    }
    let mut lines = Lines { text, number: 0 };
    let first = lines.next().unwrap_or_default();
    let version = first
        .strip_prefix(MAGIC)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| Error::NotAManifest { found: clip(first) })?;
    if version != FORMAT_VERSION.to_string() {
        return Err(Error::Version {
            found: clip(version),
        });
    }
    let mut header = Header {
        image: parse_opt(lines.expect("image")?, &lines)?.unwrap_or_default(),
        version: parse_opt(lines.expect("version")?, &lines)?.unwrap_or_default(),
        ..Header::default()
    };
    header.profile_digest = parse_opt(lines.expect("profile")?, &lines)?;
    header.lock_digest = parse_opt(lines.expect("lock")?, &lines)?;
    header.build_time = parse_number(lines.expect("built")?, &lines)?;
    if lines.peek_word() == Some("root-hash") {
        header.root_hash = Some(parse_sha(lines.expect("root-hash")?, &lines)?);
    }

    while lines.peek_word() == Some("package") {
        let rest = lines.expect("package")?;
        let fields: Vec<&str> = rest.split(' ').collect();
        let [name, version, origin, identity, record] = fields[..] else {
            return Err(lines.err("a package line has five fields"));
        };
        let package = Package {
            name: parse_req(name, "package name", &lines)?,
            version: parse_req(version, "package version", &lines)?,
            origin: parse_opt(origin, &lines)?,
            identity: parse_opt(identity, &lines)?,
            record: if record == "-" {
                None
            } else {
                Some(parse_sha(record, &lines)?)
            },
        };
        if header.packages.last().is_some_and(|last| *last >= package) {
            return Err(Error::NotCanonical {
                line: lines.number,
                message: format!("package `{}` is out of order", package.name),
            });
        }
        header.packages.push(package);
    }
    for (word, pick) in [("ephemeral", 0usize), ("state", 1), ("mutable", 2)] {
        while lines.peek_word() == Some(word) {
            let token = lines.expect(word)?;
            let path = parse_path(token, &lines)?;
            let path = String::from_utf8(path)
                .map_err(|_| lines.err(format!("policy path `{token}` is not UTF-8")))?;
            let list = match pick {
                0 => &mut header.policy.ephemeral,
                1 => &mut header.policy.state,
                _ => &mut header.policy.mutable,
            };
            if list.last().is_some_and(|last| *last >= path) {
                return Err(Error::NotCanonical {
                    line: lines.number,
                    message: format!("{word} path `{path}` is out of order"),
                });
            }
            list.push(path);
        }
    }
    let count_token = lines.expect("entries")?;
    let expected: usize = parse_number(count_token, &lines)?;
    Ok((header, expected, lines))
}

fn parse_entry(line: &str, lines: &Lines<'_>) -> Result<Entry, Error> {
    let mut fields = line.split(' ');
    let mut next = |what: &str| {
        fields
            .next()
            .filter(|f| !f.is_empty())
            .ok_or_else(|| lines.err(format!("entry `{}` lacks its {what}", clip(line))))
    };
    let path = parse_path(next("path")?, lines)?;
    let ty = next("type")?;
    let mode_token = next("mode")?;
    if mode_token.len() != 4 || !mode_token.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(lines.err(format!(
            "`{}` is not a four-digit octal mode",
            clip(mode_token)
        )));
    }
    let mode = u32::from_str_radix(mode_token, 8).map_err(|_| lines.err("bad mode"))?;
    let uid = parse_number(next("uid")?, lines)?;
    let gid = parse_number(next("gid")?, lines)?;
    let mut rest: Vec<(&str, &str)> = Vec::new();
    for field in fields {
        let (key, value) = field
            .split_once('=')
            .filter(|(_, v)| !v.is_empty())
            .ok_or_else(|| lines.err(format!("`{}` is not `key=value`", clip(field))))?;
        rest.push((key, value));
    }
    let mut rest = rest.into_iter().peekable();
    let mut take = |key: &str| rest.next_if(|(k, _)| *k == key).map(|(_, v)| v);
    let kind = match ty {
        "file" => {
            let size = take("size").ok_or_else(|| lines.err("a file needs `size=`"))?;
            let sha = take("sha256").ok_or_else(|| lines.err("a file needs `sha256=`"))?;
            Kind::File {
                size: parse_number(size, lines)?,
                sha256: parse_sha(sha, lines)?,
            }
        }
        "dir" => Kind::Dir,
        "symlink" => {
            let target = take("target").ok_or_else(|| lines.err("a symlink needs `target=`"))?;
            let target = unescape(target).map_err(|m| lines.err(m))?;
            if target.len() > MAX_PATH || target.contains(&0) {
                return Err(lines.err("symlink target too long or holds NUL"));
            }
            Kind::Symlink { target }
        }
        "char" | "block" => {
            let rdev = take("rdev").ok_or_else(|| lines.err("a device needs `rdev=`"))?;
            let (major, minor) = rdev
                .split_once(',')
                .ok_or_else(|| lines.err(format!("`rdev={rdev}` is not MAJOR,MINOR")))?;
            let (major, minor) = (parse_number(major, lines)?, parse_number(minor, lines)?);
            if ty == "char" {
                Kind::Char { major, minor }
            } else {
                Kind::Block { major, minor }
            }
        }
        "fifo" => Kind::Fifo,
        "socket" => Kind::Socket,
        other => return Err(lines.err(format!("unknown entry type `{}`", clip(other)))),
    };
    let hardlink = take("hardlink").map(|v| parse_path(v, lines)).transpose()?;
    if hardlink.is_some() && !matches!(kind, Kind::File { .. }) {
        return Err(lines.err("only regular files can be hard links"));
    }
    let xattrs = take("xattrs").map(|v| parse_sha(v, lines)).transpose()?;
    let package = take("package")
        .map(|v| parse_req(v, "package", lines))
        .transpose()?;
    if let Some((key, _)) = rest.next() {
        return Err(lines.err(format!("unexpected or misplaced `{}=` in entry", clip(key))));
    }
    if mode > 0o7777 {
        return Err(lines.err("mode above 7777"));
    }
    Ok(Entry {
        path,
        kind,
        mode,
        uid,
        gid,
        hardlink,
        xattrs,
        package,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &[u8]) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            kind: Kind::File {
                size: content.len() as u64,
                sha256: Sha256::digest(content).into(),
            },
            mode: 0o644,
            uid: 0,
            gid: 0,
            hardlink: None,
            xattrs: None,
            package: None,
        }
    }

    fn sample() -> Manifest {
        let mut m = Manifest {
            header: Header {
                image: "web host".into(),
                version: "1.0".into(),
                profile_digest: Some("sha256:00ff".into()),
                lock_digest: None,
                build_time: 1_700_000_000,
                root_hash: Some([0xab; 32]),
                packages: vec![Package {
                    name: "musl".into(),
                    version: "1.2.5-r0".into(),
                    origin: Some("musl".into()),
                    identity: Some("Q1abc=".into()),
                    record: Some([7; 32]),
                }],
                policy: RuntimePolicy {
                    ephemeral: vec!["/tmp/".into()],
                    state: vec!["/var/lib/docker".into()],
                    mutable: vec!["/etc/resolv.conf".into()],
                },
            },
            entries: vec![
                file("/etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
                Entry {
                    path: b"/".to_vec(),
                    kind: Kind::Dir,
                    mode: 0o755,
                    ..file("/", b"")
                },
                Entry {
                    path: b"/bin/sh".to_vec(),
                    kind: Kind::Symlink {
                        target: b"/bin/busybox".to_vec(),
                    },
                    mode: 0o777,
                    package: Some("busybox".into()),
                    ..file("/", b"")
                },
                Entry {
                    path: b"/odd name\n\xff".to_vec(),
                    mode: 0o4755,
                    hardlink: Some(b"/etc/passwd".to_vec()),
                    xattrs: Some([1; 32]),
                    ..file("/", b"x")
                },
                Entry {
                    path: b"/dev/null".to_vec(),
                    kind: Kind::Char { major: 1, minor: 3 },
                    mode: 0o666,
                    ..file("/", b"")
                },
            ],
        };
        m.canonicalise();
        m
    }

    #[test]
    fn renders_and_parses_back() {
        let m = sample();
        let text = m.render();
        let s = String::from_utf8(text.clone()).unwrap();
        assert!(s.starts_with("basalt-manifest 1\nimage web\\040host\nversion 1.0\n"));
        assert!(s.contains("\nephemeral /tmp\n"), "{s}");
        assert!(
            s.contains(&format!(
                "\nbuilt 1700000000\nroot-hash {}\npackage ",
                "ab".repeat(32)
            )),
            "{s}"
        );
        assert!(s.contains("\n/odd\\040name\\012\\377 file 4755 0 0 size=1 sha256="));
        assert!(s.contains(" hardlink=/etc/passwd xattrs=0101"));
        assert!(s.contains("\n/dev/null char 0666 0 0 rdev=1,3\n"));
        assert_eq!(Manifest::parse(&text), Ok(m.clone()));
        assert_eq!(m.digest(), <[u8; 32]>::from(Sha256::digest(&text)));
    }

    #[track_caller]
    fn rejects(text: &str, needle: &str) {
        let err = Manifest::parse(text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains(needle), "`{err}` lacks `{needle}`");
    }

    #[test]
    fn refuses_non_canonical_text() {
        let head = "basalt-manifest 1\nimage a\nversion 1\nprofile -\nlock -\nbuilt 0\n";
        rejects("hello\n", "not a basalt manifest");
        rejects(
            "basalt-manifest 2\n",
            "unsupported manifest format version 2",
        );
        rejects(
            &format!("{head}entries 1\n"),
            "declares 1 entries but holds 0",
        );
        rejects(&format!("{head}entries 0"), "newline");
        rejects(
            &format!("{head}root-hash {}\nentries 0\n", "AB".repeat(32)),
            "lowercase SHA-256",
        );
        rejects(
            &format!("{head}root-hash abc\nentries 0\n"),
            "lowercase SHA-256",
        );
        rejects(
            &format!("{head}entries 2\n/b dir 0755 0 0\n/a dir 0755 0 0\n"),
            "out of order",
        );
        rejects(&format!("{head}entries 1\n/a dir 755 0 0\n"), "four-digit");
        rejects(
            &format!("{head}entries 1\n/a/../b dir 0755 0 0\n"),
            "normalised",
        );
        rejects(
            &format!("{head}entries 1\n/\\141 dir 0755 0 0\n"),
            "needless escape",
        );
        rejects(
            &format!("{head}entries 1\n/a dir 0755 00 0\n"),
            "canonical number",
        );
        rejects(
            &format!("{head}entries 1\n/a dir 0755 +0 0\n"),
            "canonical number",
        );
        rejects(
            &format!("{head}entries +1\n/a dir 0755 0 0\n"),
            "canonical number",
        );
        rejects(
            "basalt-manifest 1\nimage a\nversion 1\nprofile \nlock -\nbuilt 0\nentries 0\n",
            "empty value",
        );
        rejects(
            &format!(
                "{head}entries 1\n/a dir 0755 0 0 package=x xattrs={}\n",
                "0".repeat(64)
            ),
            "misplaced",
        );
        rejects(
            &format!("{head}entries 1\n/a file 0644 0 0 size=1\n"),
            "sha256=",
        );
        rejects(
            &format!("{head}entries 1\n/a pipe 0644 0 0\n"),
            "unknown entry type",
        );
    }

    #[test]
    fn escape_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unescape(&escape(&all)), Ok(all));
        assert_eq!(escape(b"a b#"), "a\\040b\\043");
    }

    #[test]
    fn policy_rules_take_the_most_specific_path() {
        let policy = RuntimePolicy {
            ephemeral: vec!["/tmp".into()],
            state: vec!["/var".into()],
            mutable: vec!["/var/lib/x".into()],
        };
        assert_eq!(policy.rule(b"/tmp"), Rule::Ephemeral);
        assert_eq!(policy.rule(b"/tmp/a"), Rule::Ephemeral);
        assert_eq!(policy.rule(b"/tmpfoo"), Rule::Exact);
        assert_eq!(policy.rule(b"/var/lib/x/y"), Rule::Mutable);
        assert_eq!(policy.rule(b"/var/log"), Rule::State);
        assert!(policy.is_inside_free_area(b"/var/log"));
        assert!(!policy.is_inside_free_area(b"/var"));
    }

    #[test]
    fn mtree_spec_names_every_entry() {
        let spec = sample().to_mtree();
        assert!(
            spec.contains("\n. type=dir mode=0755 uid=0 gid=0\n"),
            "{spec}"
        );
        assert!(spec.contains("\n./bin/sh type=link uid=0 gid=0 link=/bin/busybox\n"));
        assert!(spec.contains("\n./dev/null type=char mode=0666 uid=0 gid=0 device=linux,1,3\n"));
    }
}
