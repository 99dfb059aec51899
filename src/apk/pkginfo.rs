//! `.PKGINFO`: the package's own metadata, `key = value` lines written by abuild.
//!
//! Every line is kept in order, repeated keys (`depend`, `provides`, …) and unknown keys
//! included; the accessors give the common fields. Comment (`#`) and blank lines are skipped.
//!
//! Invariants: the text is at most [`MAX_PKGINFO`] bytes and each line at most
//! [`super::MAX_LINE`] bytes; `pkgname` and `pkgver` are present and non-empty.

use std::fmt;

use super::MAX_LINE;

/// Largest `.PKGINFO` accepted (real ones are a few KiB).
pub const MAX_PKGINFO: u64 = 1024 * 1024;

/// A `.PKGINFO` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Larger than [`MAX_PKGINFO`].
    #[error(".PKGINFO is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// A line longer than [`MAX_LINE`].
    #[error(".PKGINFO line {line} is longer than {limit} bytes")]
    LineTooLong {
        /// Line number, from 1.
        line: usize,
        /// The limit.
        limit: usize,
    },
    /// Not UTF-8.
    #[error(".PKGINFO line {line} is not UTF-8")]
    NotUtf8 {
        /// Line number, from 1.
        line: usize,
    },
    /// A line that is not `key = value`.
    #[error(".PKGINFO line {line} is not `key = value`: `{text}`")]
    Syntax {
        /// Line number, from 1.
        line: usize,
        /// The line, shortened to 80 characters.
        text: String,
    },
    /// A required field is missing or empty.
    #[error(".PKGINFO has no `{field}`")]
    Missing {
        /// The field name.
        field: &'static str,
    },
}

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Field {
    /// The key (`pkgname`, `depend`, …).
    pub key: String,
    /// The value, as written.
    pub value: String,
}

/// A parsed `.PKGINFO`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PkgInfo {
    /// Every field, in file order.
    pub fields: Vec<Field>,
}

impl PkgInfo {
    /// Parses `.PKGINFO` bytes.
    ///
    /// # Errors
    /// Oversized input, long lines, non-UTF-8, malformed lines, missing name or version.
    pub fn parse(bytes: &[u8]) -> Result<PkgInfo, Error> {
        if bytes.len() as u64 > MAX_PKGINFO {
            return Err(Error::TooLarge { limit: MAX_PKGINFO });
        }
        let mut fields = Vec::new();
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = i + 1;
            if raw.len() > MAX_LINE {
                return Err(Error::LineTooLong {
                    line,
                    limit: MAX_LINE,
                });
            }
            let text = std::str::from_utf8(raw).map_err(|_| Error::NotUtf8 { line })?;
            if text.trim().is_empty() || text.starts_with('#') {
                continue;
            }
            let Some((key, value)) = text.split_once(" = ") else {
                return Err(Error::Syntax {
                    line,
                    text: text.chars().take(80).collect(),
                });
            };
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(Error::Syntax {
                    line,
                    text: text.chars().take(80).collect(),
                });
            }
            fields.push(Field {
                key: key.to_owned(),
                value: value.to_owned(),
            });
        }
        let info = PkgInfo { fields };
        for field in ["pkgname", "pkgver"] {
            if info.get(field).is_none_or(str::is_empty) {
                return Err(Error::Missing { field });
            }
        }
        Ok(info)
    }

    /// The last value of `key` (later lines override earlier ones, as in apk-tools).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|f| f.key == key)
            .map(|f| f.value.as_str())
    }

    /// Every value of `key`, in order.
    pub fn values<'a, 'k>(&'a self, key: &'k str) -> impl Iterator<Item = &'a str> + use<'a, 'k> {
        self.fields
            .iter()
            .filter(move |f| f.key == key)
            .map(|f| f.value.as_str())
    }

    /// Every whitespace-separated word of every value of `key`.
    #[must_use]
    pub fn words(&self, key: &str) -> Vec<&str> {
        self.values(key).flat_map(str::split_whitespace).collect()
    }

    /// `pkgname`.
    #[must_use]
    pub fn name(&self) -> &str {
        self.get("pkgname").unwrap_or_default()
    }

    /// `pkgver` (unparsed).
    #[must_use]
    pub fn version(&self) -> &str {
        self.get("pkgver").unwrap_or_default()
    }

    /// `arch`.
    #[must_use]
    pub fn arch(&self) -> Option<&str> {
        self.get("arch")
    }

    /// `size`: the installed size in bytes, when present and numeric.
    #[must_use]
    pub fn size(&self) -> Option<u64> {
        self.get("size").and_then(|s| s.parse().ok())
    }

    /// `datahash`: hex SHA-256 of the compressed data member.
    #[must_use]
    pub fn datahash(&self) -> Option<&str> {
        self.get("datahash")
    }

    /// `depend` atoms.
    #[must_use]
    pub fn depends(&self) -> Vec<&str> {
        self.words("depend")
    }

    /// `provides` atoms.
    #[must_use]
    pub fn provides(&self) -> Vec<&str> {
        self.words("provides")
    }

    /// `install_if` atoms.
    #[must_use]
    pub fn install_if(&self) -> Vec<&str> {
        self.words("install_if")
    }

    /// `replaces` atoms.
    #[must_use]
    pub fn replaces(&self) -> Vec<&str> {
        self.words("replaces")
    }

    /// `triggers`: directory globs.
    #[must_use]
    pub fn triggers(&self) -> Vec<&str> {
        self.words("triggers")
    }
}

impl fmt::Display for PkgInfo {
    /// Renders `key = value` lines (the canonical form, without comments).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for field in &self.fields {
            writeln!(f, "{} = {}", field.key, field.value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = "# Generated by abuild 3.12.0-r0\n# using fakeroot version 1.32.1\n\
pkgname = busybox\npkgver = 1.36.1-r15\npkgdesc = Size optimized toolbox\nurl = https://busybox.net/\n\
builddate = 1699383189\nsize = 946176\narch = x86_64\nreplaces = busybox-initscripts\n\
triggers = /bin /usr/bin /sbin /usr/sbin /lib/modules/*\n# automatically detected:\n\
provides = cmd:busybox=1.36.1-r15\ndepend = so:libc.musl-x86_64.so.1\ndepend = musl\n\
x-unknown = kept\ndatahash = 382c75e2d1a2e2b9d281e879b763b3b363508400d7cc796d9448c46a7b6ba342\n";

    #[test]
    fn parses_every_field_and_keeps_unknown_and_repeated() {
        let p = PkgInfo::parse(REAL.as_bytes()).unwrap();
        assert_eq!(p.name(), "busybox");
        assert_eq!(p.version(), "1.36.1-r15");
        assert_eq!(p.depends(), ["so:libc.musl-x86_64.so.1", "musl"]);
        assert_eq!(p.triggers().len(), 5);
        assert_eq!(p.get("x-unknown"), Some("kept"));
        assert_eq!(p.size(), Some(946_176));
        assert_eq!(p.fields.len(), 14);
        let again = PkgInfo::parse(p.to_string().as_bytes()).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(
            PkgInfo::parse(b"pkgname = a\n"),
            Err(Error::Missing { field: "pkgver" })
        );
        assert!(matches!(
            PkgInfo::parse(b"pkgname=a\npkgver = 1\n"),
            Err(Error::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            PkgInfo::parse(b"pkgname = \xff\n"),
            Err(Error::NotUtf8 { line: 1 })
        ));
        let huge = format!("pkgname = a\npkgver = {}\n", "1".repeat(2 * MAX_LINE));
        assert!(matches!(
            PkgInfo::parse(huge.as_bytes()),
            Err(Error::LineTooLong { line: 2, .. })
        ));
        let megabytes = "x = y\n".repeat(400_000);
        assert!(matches!(
            PkgInfo::parse(megabytes.as_bytes()),
            Err(Error::TooLarge { .. })
        ));
    }
}
