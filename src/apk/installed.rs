//! The installed-package database of an apk root: `lib/apk/db/installed`, `lib/apk/db/scripts.tar`,
//! `lib/apk/db/triggers` and `etc/apk/world`.
//!
//! `installed` is a list of packages separated by blank lines. Each line is `K:value`: first the
//! package header (the index fields `C P V A S I T U L o m t c k D p i` and the installed-only
//! fields `r q s f`), then the file list grouped by directory: `F:dir`, an optional `M:uid:gid:mode`
//! for the directory, then per file `R:name`, an optional `a:uid:gid:mode` and `Z:Q1…` checksum.
//!
//! Invariants:
//! - Parsing is linear in the input and never panics; every error names the line and, when
//!   known, the package. Directory and file names are relative and cannot escape the root
//!   (no leading `/`, no `.` or `..` components, no empty components, no NUL).
//! - Writing follows apk-tools' own layout, so reading then writing a database apk wrote gives
//!   the same bytes. Fields basalt does not know are kept, in order, after the field that
//!   preceded them. Input in another layout (another field order, numbers with leading zeros,
//!   doubled spaces in dependency lists) is written back in apk's layout, and unknown fields
//!   are then read in the order that layout gives them.
//! - Nothing is written that would read back differently: values containing a newline, empty
//!   names and unsafe paths are refused by the writers.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Where apk keeps the package database, relative to the root.
pub const INSTALLED_PATH: &str = "lib/apk/db/installed";
/// Where apk keeps the package scripts, relative to the root.
pub const SCRIPTS_PATH: &str = "lib/apk/db/scripts.tar";
/// Where apk keeps the trigger registrations, relative to the root.
pub const TRIGGERS_PATH: &str = "lib/apk/db/triggers";
/// Where apk keeps the packages the user asked for, relative to the root.
pub const WORLD_PATH: &str = "etc/apk/world";
/// The largest database file basalt reads (callers bound their reads with it).
pub const MAX_DATABASE_BYTES: u64 = 256 << 20;

/// An error reading or writing one of the database files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A line of `installed` that cannot be read.
    #[error("installed database line {line}{}: {reason}", package_suffix(.package.as_deref()))]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// The package being read, when its name is known.
        package: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// A package without a required field.
    #[error("installed database line {line}: package{} has no `{field}:` field", package_suffix(.package.as_deref()))]
    MissingField {
        /// The line that ended the package.
        line: usize,
        /// The package, when its name is known.
        package: Option<String>,
        /// The missing field key.
        field: char,
    },
    /// A value that cannot be written without changing what is read back.
    #[error("cannot write {file}: {subject}: {reason}")]
    Unwritable {
        /// Which database file.
        file: &'static str,
        /// The package or entry concerned.
        subject: String,
        /// What is wrong.
        reason: String,
    },
    /// A malformed `scripts.tar`.
    #[error("scripts archive at byte {offset}: {reason}")]
    Scripts {
        /// Byte offset of the offending header.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A malformed `triggers` line.
    #[error("triggers line {line}: {reason}")]
    Triggers {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A malformed `world` file.
    #[error("world: {reason}")]
    World {
        /// What is wrong.
        reason: String,
    },
}

fn package_suffix(package: Option<&str>) -> String {
    package.map_or_else(String::new, |p| format!(" (package `{p}`)"))
}

/// Owner, group, mode and optional extended-attribute checksum of a directory (`M:`) or file
/// (`a:`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Acl {
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Permission bits (octal in the file).
    pub mode: u32,
    /// Checksum of the extended attributes (`Q1…`), when the entry has any.
    pub xattr_checksum: Option<String>,
}

/// A field basalt does not interpret, kept so that writing reproduces it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtraField {
    /// The known header field it followed, `None` when it came first.
    pub after: Option<char>,
    /// The field key.
    pub key: char,
    /// The value, without the `K:` prefix.
    pub value: String,
}

/// A file owned by a package (`R:`), inside an [`InstalledDir`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstalledFile {
    /// The file name inside its directory (no `/`).
    pub name: String,
    /// Owner and mode when they differ from root:root 0644.
    pub acl: Option<Acl>,
    /// The content checksum (`Z:Q1…`, SHA-1 of the content or the link target).
    pub checksum: Option<String>,
    /// Unknown per-file fields, in order, written after the known ones.
    pub extra: Vec<(char, String)>,
}

/// A directory owned by a package (`F:`) and the files listed in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstalledDir {
    /// Relative path without a leading or trailing `/` (empty for the root).
    pub path: String,
    /// Owner and mode when they differ from root:root 0755.
    pub acl: Option<Acl>,
    /// The files of this package in the directory, in database order.
    pub files: Vec<InstalledFile>,
    /// Unknown per-directory fields, in order, written after `M:`.
    pub extra: Vec<(char, String)>,
}

impl InstalledDir {
    /// The relative path of a file in this directory.
    #[must_use]
    pub fn file_path(&self, file: &InstalledFile) -> String {
        if self.path.is_empty() {
            file.name.clone()
        } else {
            format!("{}/{}", self.path, file.name)
        }
    }
}

/// One installed package and the files it owns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstalledPackage {
    /// `C:` the package identity (`Q1` + base64 SHA-1 of its control section).
    pub checksum: Option<String>,
    /// `P:` the package name.
    pub name: String,
    /// `V:` the full version, `1.2.3-r4`.
    pub version: String,
    /// `A:` the architecture.
    pub arch: Option<String>,
    /// `S:` the size of the `.apk`.
    pub size: u64,
    /// `I:` the installed size.
    pub installed_size: u64,
    /// `T:` the one-line description.
    pub description: String,
    /// `U:` the project URL.
    pub url: String,
    /// `L:` the licence expression.
    pub license: String,
    /// `o:` the origin (source) package.
    pub origin: Option<String>,
    /// `m:` the maintainer.
    pub maintainer: Option<String>,
    /// `t:` the build time (seconds since the epoch).
    pub build_time: Option<u64>,
    /// `c:` the aports commit.
    pub commit: Option<String>,
    /// `k:` the provider priority.
    pub provider_priority: Option<u64>,
    /// `D:` dependencies, one atom each (`so:libc.musl-x86_64.so.1`, `/bin/sh`, `!foo`).
    pub depends: Vec<String>,
    /// `p:` what it provides.
    pub provides: Vec<String>,
    /// `i:` the install-if condition.
    pub install_if: Vec<String>,
    /// `r:` the packages whose files it may replace.
    pub replaces: Vec<String>,
    /// `q:` the replaces priority.
    pub replaces_priority: Option<u64>,
    /// `s:` the repository tag it was pinned to.
    pub repository_tag: Option<String>,
    /// `f:` the broken-state flags (`f` files, `s` script, `x` xattrs).
    pub broken: Option<String>,
    /// Header fields basalt does not interpret.
    pub extra: Vec<ExtraField>,
    /// The directories and files it owns, grouped as in the file.
    pub dirs: Vec<InstalledDir>,
}

impl InstalledPackage {
    /// Every file of the package as (relative path, file), in database order.
    pub fn files(&self) -> impl Iterator<Item = (String, &InstalledFile)> {
        self.dirs
            .iter()
            .flat_map(|dir| dir.files.iter().map(move |f| (dir.file_path(f), f)))
    }
}

/// The parsed `lib/apk/db/installed`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Database {
    /// The packages in file order (apk writes them sorted by name).
    pub packages: Vec<InstalledPackage>,
}

/// Keys of the package header in the order apk writes them.
const HEADER_ORDER: [char; 21] = [
    'C', 'P', 'V', 'A', 'S', 'I', 'T', 'U', 'L', 'o', 'm', 't', 'c', 'k', 'D', 'p', 'i', 'r', 'q',
    's', 'f',
];

fn is_header_key(key: char) -> bool {
    HEADER_ORDER.contains(&key)
}

struct LineCtx {
    line: usize,
    package: String,
}

impl LineCtx {
    fn err(&self, reason: impl Into<String>) -> Error {
        Error::Malformed {
            line: self.line,
            package: (!self.package.is_empty()).then(|| self.package.clone()),
            reason: reason.into(),
        }
    }
}

fn parse_u64(ctx: &LineCtx, key: char, value: &str, radix: u32) -> Result<u64, Error> {
    let digits_ok = !value.is_empty() && value.bytes().all(|b| (b as char).is_digit(radix));
    let parsed = if digits_ok {
        u64::from_str_radix(value, radix).ok()
    } else {
        None
    };
    parsed.ok_or_else(|| ctx.err(format!("`{key}:` expects a number, found `{value}`")))
}

fn parse_u32(ctx: &LineCtx, key: char, value: &str, radix: u32) -> Result<u32, Error> {
    let n = parse_u64(ctx, key, value, radix)?;
    u32::try_from(n).map_err(|_| ctx.err(format!("`{key}:` value `{value}` is out of range")))
}

fn parse_acl(ctx: &LineCtx, key: char, value: &str) -> Result<Acl, Error> {
    let mut parts = value.splitn(4, ':');
    let uid = parts.next().unwrap_or_default();
    let (Some(gid), Some(mode)) = (parts.next(), parts.next()) else {
        return Err(ctx.err(format!("`{key}:` expects `uid:gid:mode`, found `{value}`")));
    };
    let xattr_checksum = parts.next().map(str::to_owned);
    if xattr_checksum.as_deref() == Some("") {
        return Err(ctx.err(format!("`{key}:` has an empty xattr checksum")));
    }
    Ok(Acl {
        uid: parse_u32(ctx, key, uid, 10)?,
        gid: parse_u32(ctx, key, gid, 10)?,
        mode: parse_u32(ctx, key, mode, 8)?,
        xattr_checksum,
    })
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Why a relative directory path is unsafe, if it is.
fn dir_path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return None;
    }
    if path.starts_with('/') {
        return Some("is absolute");
    }
    if path.contains('\0') {
        return Some("contains NUL");
    }
    for component in path.split('/') {
        match component {
            "" => return Some("has an empty component"),
            "." | ".." => return Some("has a `.` or `..` component"),
            _ => {}
        }
    }
    None
}

/// Why a file name is unsafe, if it is.
fn file_name_problem(name: &str) -> Option<&'static str> {
    match name {
        "" => Some("is empty"),
        "." | ".." => Some("is `.` or `..`"),
        _ if name.contains('/') => Some("contains `/`"),
        _ if name.contains('\0') => Some("contains NUL"),
        _ => None,
    }
}

#[derive(Default)]
struct PackageBuilder {
    pkg: InstalledPackage,
    seen: Vec<char>,
    last_header: Option<char>,
    in_files: bool,
    start_line: usize,
}

impl PackageBuilder {
    fn header(&mut self, ctx: &LineCtx, key: char, value: &str) -> Result<(), Error> {
        if self.in_files {
            return Err(ctx.err(format!("header field `{key}:` after the file list")));
        }
        if is_header_key(key) {
            if self.seen.contains(&key) {
                return Err(ctx.err(format!("field `{key}:` appears twice")));
            }
            self.seen.push(key);
            self.last_header = Some(key);
        }
        let p = &mut self.pkg;
        let v = value.to_owned();
        match key {
            'C' => p.checksum = Some(v),
            'P' => p.name = v,
            'V' => p.version = v,
            'A' => p.arch = Some(v),
            'S' => p.size = parse_u64(ctx, key, value, 10)?,
            'I' => p.installed_size = parse_u64(ctx, key, value, 10)?,
            'T' => p.description = v,
            'U' => p.url = v,
            'L' => p.license = v,
            'o' => p.origin = Some(v),
            'm' => p.maintainer = Some(v),
            't' => p.build_time = Some(parse_u64(ctx, key, value, 10)?),
            'c' => p.commit = Some(v),
            'k' => p.provider_priority = Some(parse_u64(ctx, key, value, 10)?),
            'D' => p.depends = split_list(value),
            'p' => p.provides = split_list(value),
            'i' => p.install_if = split_list(value),
            'r' => p.replaces = split_list(value),
            'q' => p.replaces_priority = Some(parse_u64(ctx, key, value, 10)?),
            's' => p.repository_tag = Some(v),
            'f' => p.broken = Some(v),
            _ => p.extra.push(ExtraField {
                after: self.last_header,
                key,
                value: v,
            }),
        }
        Ok(())
    }

    fn file_line(&mut self, ctx: &LineCtx, key: char, value: &str) -> Result<(), Error> {
        self.in_files = true;
        let dirs = &mut self.pkg.dirs;
        match key {
            'F' => {
                if let Some(problem) = dir_path_problem(value) {
                    return Err(ctx.err(format!("directory `{value}` {problem}")));
                }
                dirs.push(InstalledDir {
                    path: value.to_owned(),
                    ..InstalledDir::default()
                });
            }
            'M' => {
                let dir = dirs
                    .last_mut()
                    .ok_or_else(|| ctx.err("`M:` before any `F:`"))?;
                if dir.acl.is_some() {
                    return Err(ctx.err(format!("second `M:` for directory `{}`", dir.path)));
                }
                dir.acl = Some(parse_acl(ctx, key, value)?);
            }
            'R' => {
                let dir = dirs
                    .last_mut()
                    .ok_or_else(|| ctx.err("`R:` before any `F:`"))?;
                if let Some(problem) = file_name_problem(value) {
                    return Err(ctx.err(format!("file name `{value}` {problem}")));
                }
                dir.files.push(InstalledFile {
                    name: value.to_owned(),
                    ..InstalledFile::default()
                });
            }
            'a' | 'Z' => {
                let file = dirs
                    .last_mut()
                    .and_then(|d| d.files.last_mut())
                    .ok_or_else(|| ctx.err(format!("`{key}:` before any `R:`")))?;
                if key == 'a' {
                    if file.acl.is_some() {
                        return Err(ctx.err(format!("second `a:` for file `{}`", file.name)));
                    }
                    file.acl = Some(parse_acl(ctx, key, value)?);
                } else {
                    if file.checksum.is_some() {
                        return Err(ctx.err(format!("second `Z:` for file `{}`", file.name)));
                    }
                    file.checksum = Some(value.to_owned());
                }
            }
            _ => {
                // An unknown field inside the file list belongs to the entry it follows.
                let dir = dirs
                    .last_mut()
                    .ok_or_else(|| ctx.err(format!("unknown field `{key}:`")))?;
                match dir.files.last_mut() {
                    Some(file) => file.extra.push((key, value.to_owned())),
                    None => dir.extra.push((key, value.to_owned())),
                }
            }
        }
        Ok(())
    }

    fn finish(self, line: usize) -> Result<InstalledPackage, Error> {
        let package = (!self.pkg.name.is_empty()).then(|| self.pkg.name.clone());
        for field in ['P', 'V'] {
            if !self.seen.contains(&field) {
                return Err(Error::MissingField {
                    line,
                    package,
                    field,
                });
            }
        }
        if self.pkg.name.is_empty() || self.pkg.version.is_empty() {
            return Err(Error::Malformed {
                line: self.start_line,
                package,
                reason: "empty package name or version".to_owned(),
            });
        }
        let mut pkg = self.pkg;
        settle_extras(&mut pkg);
        Ok(pkg)
    }
}

/// Gives unknown header fields the order and anchors that writing gives them, so that a parsed
/// database writes back to bytes that parse to the same value: first the fields whose anchor is
/// not written (none, or a field with an empty value such as `D:`), then, for each written
/// field in apk's order, its own, each group in input order.
fn settle_extras(pkg: &mut InstalledPackage) {
    if pkg.extra.is_empty() {
        return;
    }
    let written: Vec<char> = header_lines(pkg).iter().map(|(k, _)| *k).collect();
    let rank = |after: Option<char>| {
        after
            .and_then(|a| written.iter().position(|&k| k == a))
            .map_or(0, |i| i + 1)
    };
    for extra in &mut pkg.extra {
        if rank(extra.after) == 0 {
            extra.after = None;
        }
    }
    pkg.extra.sort_by_key(|e| rank(e.after));
}

impl Database {
    /// Parses `lib/apk/db/installed`.
    ///
    /// # Errors
    /// [`Error::Malformed`] or [`Error::MissingField`] naming the line and package.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut packages = Vec::new();
        let mut current: Option<PackageBuilder> = None;
        let mut line_no = 0;
        let mut lines = bytes.split(|&b| b == b'\n').peekable();
        while let Some(raw) = lines.next() {
            if lines.peek().is_none() && raw.is_empty() {
                break; // the text after the final newline
            }
            line_no += 1;
            if raw.is_empty() {
                if let Some(builder) = current.take() {
                    packages.push(builder.finish(line_no)?);
                }
                continue;
            }
            let ctx = LineCtx {
                line: line_no,
                package: current
                    .as_ref()
                    .map_or_else(String::new, |b| b.pkg.name.clone()),
            };
            let text = std::str::from_utf8(raw).map_err(|_| ctx.err("line is not UTF-8"))?;
            let mut chars = text.chars();
            let (Some(key), Some(':')) = (chars.next(), chars.next()) else {
                return Err(ctx.err(format!(
                    "expected `K:value`, found `{}`",
                    truncate(text, 40)
                )));
            };
            if !key.is_ascii_alphabetic() {
                return Err(ctx.err(format!("invalid field key `{key}`")));
            }
            let value = &text[2..];
            let builder = current.get_or_insert_with(|| PackageBuilder {
                start_line: line_no,
                ..PackageBuilder::default()
            });
            if matches!(key, 'F' | 'M' | 'R' | 'a' | 'Z')
                || (builder.in_files && !is_header_key(key))
            {
                builder.file_line(&ctx, key, value)?;
            } else {
                builder.header(&ctx, key, value)?;
            }
        }
        if let Some(builder) = current.take() {
            packages.push(builder.finish(line_no)?);
        }
        Ok(Database { packages })
    }

    /// Writes the database in apk's layout.
    ///
    /// # Errors
    /// [`Error::Unwritable`] when a value contains a newline, a name is empty or a path is
    /// unsafe: such a database would read back differently.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut out = String::new();
        for pkg in &self.packages {
            write_package(&mut out, pkg)?;
        }
        Ok(out.into_bytes())
    }

    /// Every directory and file path (relative, without a leading `/`) and the package that
    /// owns it. Directories are shared by several packages: the first package in database
    /// order that lists one is named.
    #[must_use]
    pub fn owners(&self) -> BTreeMap<String, String> {
        let mut owners = BTreeMap::new();
        for pkg in &self.packages {
            for dir in &pkg.dirs {
                if !dir.path.is_empty() {
                    owners
                        .entry(dir.path.clone())
                        .or_insert_with(|| pkg.name.clone());
                }
                for file in &dir.files {
                    owners
                        .entry(dir.file_path(file))
                        .or_insert_with(|| pkg.name.clone());
                }
            }
        }
        owners
    }

    /// The package with this name, if installed.
    #[must_use]
    pub fn package(&self, name: &str) -> Option<&InstalledPackage> {
        self.packages.iter().find(|p| p.name == name)
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max).collect();
        s.push('…');
        s
    }
}

fn unwritable(subject: &str, reason: impl Into<String>) -> Error {
    Error::Unwritable {
        file: INSTALLED_PATH,
        subject: subject.to_owned(),
        reason: reason.into(),
    }
}

fn check_value(subject: &str, key: char, value: &str) -> Result<(), Error> {
    if value.contains('\n') {
        return Err(unwritable(
            subject,
            format!("`{key}:` value contains a newline"),
        ));
    }
    Ok(())
}

fn check_list(subject: &str, key: char, items: &[String]) -> Result<(), Error> {
    for item in items {
        if item.is_empty() || item.contains([' ', '\n']) {
            return Err(unwritable(
                subject,
                format!("`{key}:` item `{item}` is empty or contains a space or newline"),
            ));
        }
    }
    Ok(())
}

fn push_line(out: &mut String, key: char, value: &str) {
    out.push(key);
    out.push(':');
    out.push_str(value);
    out.push('\n');
}

fn acl_text(acl: &Acl) -> String {
    let mut s = format!("{}:{}:{:o}", acl.uid, acl.gid, acl.mode);
    if let Some(x) = &acl.xattr_checksum {
        s.push(':');
        s.push_str(x);
    }
    s
}

fn check_acl(subject: &str, key: char, acl: &Acl) -> Result<(), Error> {
    if let Some(x) = &acl.xattr_checksum
        && (x.is_empty() || x.contains('\n'))
    {
        return Err(unwritable(
            subject,
            format!("`{key}:` xattr checksum is empty or contains a newline"),
        ));
    }
    Ok(())
}

fn check_extra_key(subject: &str, key: char, reserved: &[char]) -> Result<(), Error> {
    if !key.is_ascii_alphabetic() || reserved.contains(&key) {
        return Err(unwritable(
            subject,
            format!("extra field key `{key}` is not a free ASCII letter"),
        ));
    }
    Ok(())
}

/// The header lines of a package, in apk's order, `(key, value)`; absent fields are skipped.
fn header_lines(pkg: &InstalledPackage) -> Vec<(char, String)> {
    let mut lines = Vec::new();
    let join = |items: &[String]| items.join(" ");
    for key in HEADER_ORDER {
        let value = match key {
            'C' => pkg.checksum.clone(),
            'P' => Some(pkg.name.clone()),
            'V' => Some(pkg.version.clone()),
            'A' => pkg.arch.clone(),
            'S' => Some(pkg.size.to_string()),
            'I' => Some(pkg.installed_size.to_string()),
            'T' => Some(pkg.description.clone()),
            'U' => Some(pkg.url.clone()),
            'L' => Some(pkg.license.clone()),
            'o' => pkg.origin.clone(),
            'm' => pkg.maintainer.clone(),
            't' => pkg.build_time.map(|n| n.to_string()),
            'c' => pkg.commit.clone(),
            'k' => pkg.provider_priority.map(|n| n.to_string()),
            'D' => (!pkg.depends.is_empty()).then(|| join(&pkg.depends)),
            'p' => (!pkg.provides.is_empty()).then(|| join(&pkg.provides)),
            'i' => (!pkg.install_if.is_empty()).then(|| join(&pkg.install_if)),
            'r' => (!pkg.replaces.is_empty()).then(|| join(&pkg.replaces)),
            'q' => pkg.replaces_priority.map(|n| n.to_string()),
            's' => pkg.repository_tag.clone(),
            'f' => pkg.broken.clone(),
            _ => None,
        };
        if let Some(value) = value {
            lines.push((key, value));
        }
    }
    lines
}

fn write_package(out: &mut String, pkg: &InstalledPackage) -> Result<(), Error> {
    let subject = if pkg.name.is_empty() {
        "package with no name".to_owned()
    } else {
        format!("package `{}`", pkg.name)
    };
    if pkg.name.is_empty() || pkg.version.is_empty() {
        return Err(unwritable(&subject, "empty name or version"));
    }
    for (key, list) in [
        ('D', &pkg.depends),
        ('p', &pkg.provides),
        ('i', &pkg.install_if),
        ('r', &pkg.replaces),
    ] {
        check_list(&subject, key, list)?;
    }
    let header = header_lines(pkg);
    for (key, value) in &header {
        check_value(&subject, *key, value)?;
    }
    let reserved: Vec<char> = HEADER_ORDER
        .iter()
        .chain(&['F', 'M', 'R', 'a', 'Z'])
        .copied()
        .collect();
    for extra in &pkg.extra {
        check_extra_key(&subject, extra.key, &reserved)?;
        check_value(&subject, extra.key, &extra.value)?;
    }
    let written: Vec<char> = header.iter().map(|(k, _)| *k).collect();
    let mut placed = vec![false; pkg.extra.len()];
    let mut emit_extras = |out: &mut String, anchor: Option<char>| {
        for (i, extra) in pkg.extra.iter().enumerate() {
            let anchored_here = extra.after == anchor
                || (anchor.is_none() && extra.after.is_some_and(|a| !written.contains(&a)));
            if !placed[i] && anchored_here {
                placed[i] = true;
                push_line(out, extra.key, &extra.value);
            }
        }
    };
    emit_extras(out, None);
    for (key, value) in &header {
        push_line(out, *key, value);
        emit_extras(out, Some(*key));
    }
    for dir in &pkg.dirs {
        if let Some(problem) = dir_path_problem(&dir.path) {
            return Err(unwritable(
                &subject,
                format!("directory `{}` {problem}", dir.path),
            ));
        }
        check_value(&subject, 'F', &dir.path)?;
        push_line(out, 'F', &dir.path);
        if let Some(acl) = &dir.acl {
            check_acl(&subject, 'M', acl)?;
            push_line(out, 'M', &acl_text(acl));
        }
        for (key, value) in &dir.extra {
            check_extra_key(&subject, *key, &reserved)?;
            check_value(&subject, *key, value)?;
            push_line(out, *key, value);
        }
        for file in &dir.files {
            if let Some(problem) = file_name_problem(&file.name) {
                return Err(unwritable(
                    &subject,
                    format!("file name `{}` {problem}", file.name),
                ));
            }
            check_value(&subject, 'R', &file.name)?;
            push_line(out, 'R', &file.name);
            if let Some(acl) = &file.acl {
                check_acl(&subject, 'a', acl)?;
                push_line(out, 'a', &acl_text(acl));
            }
            if let Some(sum) = &file.checksum {
                check_value(&subject, 'Z', sum)?;
                push_line(out, 'Z', sum);
            }
            for (key, value) in &file.extra {
                check_extra_key(&subject, *key, &reserved)?;
                check_value(&subject, *key, value)?;
                push_line(out, *key, value);
            }
        }
    }
    out.push('\n');
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// scripts.tar

const BLOCK: usize = 512;

/// One package script kept in `scripts.tar`, named `NAME-VERSION.Q1HASH.ACTION`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScriptEntry {
    /// The entry name as stored.
    pub name: String,
    /// Permission bits (apk writes 0755).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Modification time (apk writes the package build time).
    pub mtime: u64,
    /// Owner name.
    pub uname: String,
    /// Group name.
    pub gname: String,
    /// The script.
    pub content: Vec<u8>,
}

/// The parts of a script entry name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptName {
    /// Package name.
    pub package: String,
    /// Package version.
    pub version: String,
    /// Package identity (`Q1…`).
    pub checksum: String,
    /// The action: `pre-install`, `post-install`, `pre-upgrade`, `post-upgrade`,
    /// `pre-deinstall`, `post-deinstall` or `trigger`.
    pub action: String,
}

impl ScriptEntry {
    /// Splits the entry name into package, version, identity and action, when it has the
    /// expected shape.
    #[must_use]
    pub fn parse_name(&self) -> Option<ScriptName> {
        let (rest, action) = self.name.rsplit_once('.')?;
        let (name_version, checksum) = rest.rsplit_once('.')?;
        // The version is the last two dash-separated parts (`1.2.3-r4`).
        let (before_release, release) = name_version.rsplit_once('-')?;
        let (package, version_main) = before_release.rsplit_once('-')?;
        if package.is_empty() || version_main.is_empty() || !release.starts_with('r') {
            return None;
        }
        Some(ScriptName {
            package: package.to_owned(),
            version: format!("{version_main}-{release}"),
            checksum: checksum.to_owned(),
            action: action.to_owned(),
        })
    }
}

/// The parsed `lib/apk/db/scripts.tar`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scripts {
    /// The entries in archive order.
    pub entries: Vec<ScriptEntry>,
    /// How many zero blocks end the archive (apk writes 2).
    pub end_blocks: usize,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            entries: Vec::new(),
            end_blocks: 2,
        }
    }
}

fn field_text(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let text = field_text(field);
    let trimmed: Vec<u8> = text
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != b' ')
        .collect();
    if trimmed.is_empty() {
        return Some(0);
    }
    let mut value: u64 = 0;
    for b in trimmed {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        value = value.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

fn put_octal(field: &mut [u8], value: u64, nul_terminated: bool) {
    // apk's layout: right-aligned octal digits padded with '0', optionally NUL-terminated.
    let mut end = field.len();
    if nul_terminated {
        end -= 1;
        field[end] = 0;
    }
    let mut v = value;
    for slot in field[..end].iter_mut().rev() {
        *slot = b'0' + u8::try_from(v % 8).unwrap_or(0);
        v /= 8;
    }
}

fn header_checksum(header: &[u8]) -> u64 {
    header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(b)
            }
        })
        .sum()
}

impl Scripts {
    /// Parses `scripts.tar` (plain ustar entries, as apk writes them).
    ///
    /// # Errors
    /// [`Error::Scripts`] naming the offset of the bad header: a bad checksum, an entry that is
    /// not a regular file, a size past the end, or data after the end-of-archive blocks.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let err = |offset: usize, reason: String| Error::Scripts { offset, reason };
        let mut entries = Vec::new();
        let mut offset = 0;
        loop {
            if offset == bytes.len() {
                return Err(err(
                    offset,
                    "archive ends without end-of-archive blocks".into(),
                ));
            }
            let Some(header) = bytes.get(offset..offset + BLOCK) else {
                return Err(err(offset, "truncated header".into()));
            };
            if header.iter().all(|&b| b == 0) {
                break;
            }
            let stored = parse_octal(&header[148..156])
                .ok_or_else(|| err(offset, "header checksum is not octal".into()))?;
            let actual = header_checksum(header);
            if stored != actual {
                return Err(err(
                    offset,
                    format!("header checksum {stored:o} does not match {actual:o}"),
                ));
            }
            if !matches!(header[156], b'0' | 0) {
                return Err(err(
                    offset,
                    format!(
                        "entry type `{}` is not a regular file",
                        char::from(header[156]).escape_default()
                    ),
                ));
            }
            let text = |range: std::ops::Range<usize>, what: &str| {
                String::from_utf8(field_text(&header[range]).to_vec())
                    .map_err(|_| err(offset, format!("{what} is not UTF-8")))
            };
            let num = |range: std::ops::Range<usize>, what: &str| {
                parse_octal(&header[range])
                    .ok_or_else(|| err(offset, format!("{what} is not octal")))
            };
            let mut name = text(0..100, "name")?;
            if &header[257..262] == b"ustar" && header[263] == b'0' {
                let prefix = text(345..500, "name prefix")?;
                if !prefix.is_empty() {
                    name = format!("{prefix}/{name}");
                }
            }
            let size = num(124..136, "size")?;
            let mode = u32::try_from(num(100..108, "mode")?)
                .map_err(|_| err(offset, "mode out of range".into()))?;
            let entry_start = offset + BLOCK;
            let size_usize = usize::try_from(size)
                .ok()
                .filter(|s| *s <= bytes.len().saturating_sub(entry_start))
                .ok_or_else(|| {
                    err(
                        offset,
                        format!("entry `{name}` of {size} bytes runs past the end"),
                    )
                })?;
            let content = bytes[entry_start..entry_start + size_usize].to_vec();
            entries.push(ScriptEntry {
                name,
                mode,
                uid: num(108..116, "uid")?,
                gid: num(116..124, "gid")?,
                mtime: num(136..148, "mtime")?,
                uname: text(265..297, "uname")?,
                gname: text(297..329, "gname")?,
                content,
            });
            let padded = size_usize.div_ceil(BLOCK) * BLOCK;
            offset = entry_start + padded;
        }
        let tail = &bytes[offset..];
        if tail.iter().any(|&b| b != 0) {
            let first = tail.iter().position(|&b| b != 0).unwrap_or(0);
            return Err(err(
                offset + first,
                "data after the end-of-archive block".into(),
            ));
        }
        if !tail.len().is_multiple_of(BLOCK) || tail.len() < 2 * BLOCK {
            return Err(err(
                offset,
                format!(
                    "end of archive is {} bytes, not two or more whole blocks",
                    tail.len()
                ),
            ));
        }
        Ok(Scripts {
            entries,
            end_blocks: tail.len() / BLOCK,
        })
    }

    /// Writes the archive in apk's layout (GNU `ustar  ` magic, octal fields padded with `0`).
    ///
    /// # Errors
    /// [`Error::Unwritable`] when a name does not fit the 100-byte field, a number does not fit
    /// its field, or fewer than two end blocks are asked for.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let bad = |subject: &str, reason: &str| Error::Unwritable {
            file: SCRIPTS_PATH,
            subject: subject.to_owned(),
            reason: reason.to_owned(),
        };
        if self.end_blocks < 2 {
            return Err(bad("archive", "fewer than two end-of-archive blocks"));
        }
        let mut out = Vec::new();
        for entry in &self.entries {
            let subject = format!("entry `{}`", entry.name);
            let mut header = [0u8; BLOCK];
            let name = entry.name.as_bytes();
            if name.is_empty() || name.len() >= 100 || name.contains(&0) {
                return Err(bad(
                    &subject,
                    "name is empty, contains NUL or is 100 bytes or longer",
                ));
            }
            header[..name.len()].copy_from_slice(name);
            for (range, text) in [(265..297, &entry.uname), (297..329, &entry.gname)] {
                let t = text.as_bytes();
                if t.len() >= range.len() || t.contains(&0) {
                    return Err(bad(&subject, "owner or group name too long"));
                }
                header[range.start..range.start + t.len()].copy_from_slice(t);
            }
            let size = entry.content.len() as u64;
            let fits = |value: u64, digits: u32| value < 8u64.pow(digits);
            if !fits(size, 11)
                || !fits(entry.mtime, 11)
                || !fits(entry.uid, 7)
                || !fits(entry.gid, 7)
                || u64::from(entry.mode) > 0o7777
            {
                return Err(bad(&subject, "a number does not fit its header field"));
            }
            put_octal(&mut header[124..136], size, false);
            put_octal(&mut header[108..116], entry.uid, true);
            put_octal(&mut header[116..124], entry.gid, true);
            put_octal(&mut header[100..108], u64::from(entry.mode), true);
            put_octal(&mut header[136..148], entry.mtime, false);
            header[156] = b'0';
            header[257..264].copy_from_slice(b"ustar  ");
            let sum = header_checksum(&header);
            put_octal(&mut header[148..155], sum, true);
            header[155] = b' ';
            out.extend_from_slice(&header);
            out.extend_from_slice(&entry.content);
            let pad = (BLOCK - entry.content.len() % BLOCK) % BLOCK;
            out.resize(out.len() + pad, 0);
        }
        out.resize(out.len() + self.end_blocks * BLOCK, 0);
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// triggers

/// One line of `lib/apk/db/triggers`: a package identity and the paths it watches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TriggerEntry {
    /// The package identity (`Q1…`).
    pub checksum: String,
    /// Watched directory globs (`/usr/share/fonts/*`).
    pub paths: Vec<String>,
}

/// The parsed `lib/apk/db/triggers`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Triggers {
    /// The lines in file order.
    pub entries: Vec<TriggerEntry>,
}

impl Triggers {
    /// Parses `triggers`: one `Q1… path path…` line per package.
    ///
    /// # Errors
    /// [`Error::Triggers`] for a line that is not UTF-8 or starts with a space.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::Triggers {
            line: bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1,
            reason: "not UTF-8".to_owned(),
        })?;
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let mut words = line.split(' ');
            let checksum = words.next().unwrap_or_default();
            if checksum.is_empty() {
                return Err(Error::Triggers {
                    line: i + 1,
                    reason: "line does not start with a package identity".to_owned(),
                });
            }
            entries.push(TriggerEntry {
                checksum: checksum.to_owned(),
                paths: words.filter(|w| !w.is_empty()).map(str::to_owned).collect(),
            });
        }
        Ok(Triggers { entries })
    }

    /// Writes `triggers` as apk does.
    ///
    /// # Errors
    /// [`Error::Unwritable`] for an empty identity or a word with a space or newline.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut out = String::new();
        for entry in &self.entries {
            let words = std::iter::once(&entry.checksum).chain(&entry.paths);
            for (i, word) in words.enumerate() {
                if word.is_empty() || word.contains([' ', '\n', '\r']) {
                    return Err(Error::Unwritable {
                        file: TRIGGERS_PATH,
                        subject: format!("package `{}`", entry.checksum),
                        reason: format!("word `{word}` is empty or contains whitespace"),
                    });
                }
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(word);
            }
            out.push('\n');
        }
        Ok(out.into_bytes())
    }
}

// ---------------------------------------------------------------------------------------------
// world

/// The parsed `etc/apk/world`: the dependency atoms the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct World {
    /// The atoms in file order (`busybox`, `openssh>9`, `foo@edge`).
    pub entries: Vec<String>,
}

impl World {
    /// Parses `world`: atoms separated by whitespace.
    ///
    /// # Errors
    /// [`Error::World`] when the file is not UTF-8.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::World {
            reason: format!("not UTF-8 (at byte {})", e.valid_up_to()),
        })?;
        Ok(World {
            entries: text.split_whitespace().map(str::to_owned).collect(),
        })
    }

    /// Writes `world` as apk does: one atom per line, and a final newline.
    ///
    /// # Errors
    /// [`Error::Unwritable`] for an empty atom or one containing whitespace.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut out = String::new();
        for (i, atom) in self.entries.iter().enumerate() {
            if atom.is_empty() || atom.chars().any(char::is_whitespace) {
                return Err(Error::Unwritable {
                    file: WORLD_PATH,
                    subject: format!("atom `{atom}`"),
                    reason: "empty or contains whitespace".to_owned(),
                });
            }
            if i > 0 {
                out.push('\n');
            }
            let _ = write!(out, "{atom}");
        }
        out.push('\n');
        Ok(out.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "C:Q1qKcZ+j23xssAXmgQhkOO8dHnbWw=\nP:alpine-baselayout\nV:3.6.5-r0\nA:x86_64\nS:8515\nI:315392\nT:Alpine base dir structure and init scripts\nU:https://example.org\nL:GPL-2.0-only\no:alpine-baselayout\nm:Someone <a@b>\nt:1714981135\nc:66187892e05b03a41d08e9acabd19b7576a1c875\nD:alpine-baselayout-data=3.6.5-r0 /bin/sh\nq:1000\nF:etc\nR:motd\nZ:Q1SLkS9hBidUbPwwrw+XR0Whv3ww8=\nF:etc/crontabs\nM:0:0:700\nR:root\na:0:0:600\nZ:Q1vfk1apUWI4yLJGhhNRd0kJixfvY=\n\nC:Q1xx=\nP:musl\nV:1.2.5-r0\nS:1\nI:2\nT:\nU:\nL:MIT\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\n\n";

    #[test]
    fn parses_fields_and_files() {
        let db = Database::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(db.packages.len(), 2);
        let base = &db.packages[0];
        assert_eq!(base.name, "alpine-baselayout");
        assert_eq!(base.version, "3.6.5-r0");
        assert_eq!(base.origin.as_deref(), Some("alpine-baselayout"));
        assert_eq!(base.depends, ["alpine-baselayout-data=3.6.5-r0", "/bin/sh"]);
        assert_eq!(base.replaces_priority, Some(1000));
        assert_eq!(base.dirs[1].acl.as_ref().unwrap().mode, 0o700);
        let files: Vec<String> = base.files().map(|(p, _)| p).collect();
        assert_eq!(files, ["etc/motd", "etc/crontabs/root"]);
        let owners = db.owners();
        assert_eq!(owners["etc/crontabs/root"], "alpine-baselayout");
        assert_eq!(owners["lib"], "musl");
        assert_eq!(owners["lib/ld-musl-x86_64.so.1"], "musl");
        assert_eq!(db.to_bytes().unwrap(), SAMPLE.as_bytes());
    }

    #[test]
    fn unknown_fields_are_kept_in_place() {
        let text = "x:first\nP:a\ny:after-p\nV:1-r0\nS:0\nI:0\nT:\nU:\nL:\nz:after-l\nF:d\nw:dir-extra\nR:f\nv:file-extra\n\n";
        let db = Database::parse(text.as_bytes()).unwrap();
        let pkg = &db.packages[0];
        assert_eq!(pkg.extra.len(), 3);
        assert_eq!(pkg.extra[1].after, Some('P'));
        assert_eq!(pkg.dirs[0].extra, [('w', "dir-extra".to_owned())]);
        assert_eq!(pkg.dirs[0].files[0].extra, [('v', "file-extra".to_owned())]);
        assert_eq!(String::from_utf8(db.to_bytes().unwrap()).unwrap(), text);
    }

    #[test]
    fn unknown_fields_out_of_apk_order_read_back_as_written() {
        // `x` follows `s:` and `y` follows `P:` in the input; written in apk's order, `y` comes
        // first. A field after an empty list (`D:`, not written) goes to the front.
        let text = "s:\nx:after-s\nP:a\ny:after-p\nV:1\nD:\nw:after-empty-d\n\n";
        let db = Database::parse(text.as_bytes()).unwrap();
        let order: Vec<(char, Option<char>)> = db.packages[0]
            .extra
            .iter()
            .map(|e| (e.key, e.after))
            .collect();
        assert_eq!(order, [('w', None), ('y', Some('P')), ('x', Some('s'))]);
        let written = db.to_bytes().unwrap();
        assert_eq!(Database::parse(&written).unwrap(), db);
    }

    #[track_caller]
    fn rejects(text: &str, needle: &str) {
        let err = Database::parse(text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains(needle), "`{err}` lacks `{needle}`");
    }

    #[test]
    fn rejects_malformed_input() {
        rejects("P:a\nV:1\nF:../etc\n", "`.` or `..`");
        rejects("P:a\nV:1\nF:/etc\n", "absolute");
        rejects("P:a\nV:1\nF:etc\nR:a/b\n", "contains `/`");
        rejects("P:a\nV:1\nR:x\n", "before any `F:`");
        rejects("P:a\nV:1\nF:x\nZ:Q1\n", "before any `R:`");
        rejects("P:a\nV:1\nS:12x\n", "expects a number");
        rejects("P:a\nV:1\nS:99999999999999999999999\n", "expects a number");
        rejects("P:a\nP:b\nV:1\n", "appears twice");
        rejects("P:a\nV:1\nF:x\nD:b\n", "after the file list");
        rejects("P:a\n\n", "no `V:` field");
        rejects("V:1\n", "no `P:` field");
        rejects("P:a\nV:1\nhello\n", "expected `K:value`");
        rejects("P:a\nV:1\nF:x\nM:0:0\n", "uid:gid:mode");
        rejects("P:a\nV:1\nF:x\nM:0:0:9\n", "expects a number");
        rejects("P:a\nV:1\n1:x\n", "invalid field key");
        let err = Database::parse(b"P:a\nV:1\nT:\xff\n").unwrap_err();
        assert_eq!(
            err,
            Error::Malformed {
                line: 3,
                package: Some("a".into()),
                reason: "line is not UTF-8".into()
            }
        );
    }

    #[test]
    fn writer_refuses_values_that_would_read_back_differently() {
        let mut pkg = InstalledPackage {
            name: "a".into(),
            version: "1-r0".into(),
            ..InstalledPackage::default()
        };
        pkg.description = "two\nlines".into();
        let db = Database {
            packages: vec![pkg.clone()],
        };
        assert!(matches!(db.to_bytes(), Err(Error::Unwritable { .. })));
        pkg.description.clear();
        pkg.depends = vec!["a b".into()];
        let db = Database {
            packages: vec![pkg.clone()],
        };
        assert!(matches!(db.to_bytes(), Err(Error::Unwritable { .. })));
        pkg.depends.clear();
        pkg.dirs = vec![InstalledDir {
            path: "../x".into(),
            ..InstalledDir::default()
        }];
        let db = Database {
            packages: vec![pkg],
        };
        assert!(matches!(db.to_bytes(), Err(Error::Unwritable { .. })));
    }

    #[test]
    fn scripts_round_trip_and_name_parts() {
        let scripts = Scripts {
            entries: vec![ScriptEntry {
                name: "busybox-1.36.1-r29.Q1yY8lhMF1VhgegJgkcXfqaNabDJw=.post-install".into(),
                mode: 0o755,
                uid: 0,
                gid: 0,
                mtime: 1_718_003_475,
                uname: "root".into(),
                gname: "root".into(),
                content: b"#!/bin/sh\nexit 0\n".to_vec(),
            }],
            end_blocks: 2,
        };
        let bytes = scripts.to_bytes().unwrap();
        assert_eq!(bytes.len(), 4 * BLOCK);
        assert_eq!(Scripts::parse(&bytes).unwrap(), scripts);
        let name = scripts.entries[0].parse_name().unwrap();
        assert_eq!(name.package, "busybox");
        assert_eq!(name.version, "1.36.1-r29");
        assert_eq!(name.checksum, "Q1yY8lhMF1VhgegJgkcXfqaNabDJw=");
        assert_eq!(name.action, "post-install");
        // A flipped byte breaks the header checksum; truncation and trailing garbage fail.
        let mut flipped = bytes.clone();
        flipped[3] ^= 1;
        assert!(Scripts::parse(&flipped).is_err());
        assert!(Scripts::parse(&bytes[..bytes.len() - 1]).is_err());
        let mut trailing = bytes.clone();
        trailing.push(1);
        assert!(Scripts::parse(&trailing).is_err());
        assert!(Scripts::parse(&bytes[..BLOCK + 10]).is_err());
    }

    #[test]
    fn triggers_and_world_round_trip() {
        let text = b"Q1yY8= /bin /usr/bin /lib/modules/*\nQ1zz=\n";
        let triggers = Triggers::parse(text).unwrap();
        assert_eq!(triggers.entries[0].paths.len(), 3);
        assert_eq!(triggers.to_bytes().unwrap(), text);
        assert!(Triggers::parse(b" /bin\n").is_err());
        let world = World::parse(b"alpine-base\nbusybox\n").unwrap();
        assert_eq!(world.entries, ["alpine-base", "busybox"]);
        assert_eq!(world.to_bytes().unwrap(), b"alpine-base\nbusybox\n");
        assert_eq!(World::default().to_bytes().unwrap(), b"\n");
    }
}
