//! The host profile: what the user asked for. TOML → `RawProfile` → `validate()` →
//! [`Profile`], normalised and checked, so that no later stage re-checks it.
//!
//! Invariant: a [`Profile`] is internally consistent: paths are absolute and normalised (or
//! stay inside the profile's directory), networks are canonical CIDRs, every user, group and
//! service is named once, every absent section has taken its safe default, and the login
//! settings are key-only whatever the profile says. Every error names the profile file, the
//! line and the column of the offending text, with a hint where one helps.

mod cidr;
pub mod hardening;
mod host;
mod model;
mod paths;
mod raw;
mod schedule;
mod validate;

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

pub use cidr::{Cidr, CidrError};
pub use host::*;
pub use model::*;
pub use paths::{PathError, is_within, normalise_absolute, normalise_relative};
pub use schedule::{Schedule, ScheduleError};

/// One problem in a profile, located in its source text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The profile file.
    pub file: PathBuf,
    /// 1-based line of the offending text.
    pub line: usize,
    /// 1-based column (in characters) of the offending text.
    pub column: usize,
    /// What is wrong, lowercase, without a trailing period.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
    /// The offending line of the profile, for display.
    pub excerpt: Option<Excerpt>,
}

/// A source line with the offending text marked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Excerpt {
    /// The whole line (tabs shown as spaces, so that the mark lines up).
    pub text: String,
    /// How many characters, from the column on, are marked (at least one).
    pub width: usize,
}

/// Lines longer than this are not quoted.
const MAX_EXCERPT_CHARS: usize = 160;

fn excerpt(source: &str, span: &Range<usize>) -> Option<Excerpt> {
    let mut start = span.start.min(source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let text = source[line_start..line_end].trim_end_matches('\r');
    if text.chars().count() > MAX_EXCERPT_CHARS {
        return None;
    }
    // A span may start on the line's `\r\n`, past the text shown: it is then one column wide.
    let mut end = span.end.min(line_start + text.len()).max(start);
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let width = source[start..end].chars().count().max(1);
    Some(Excerpt {
        text: text.replace('\t', " "),
        width,
    })
}

impl Diagnostic {
    pub(crate) fn at(
        file: &Path,
        source: &str,
        span: Option<Range<usize>>,
        message: String,
        hint: Option<String>,
    ) -> Diagnostic {
        let (line, column) = span
            .as_ref()
            .map_or((1, 1), |s| line_column(source, s.start));
        Diagnostic {
            file: file.to_owned(),
            line,
            column,
            message,
            hint,
            excerpt: span.and_then(|s| excerpt(source, &s)),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )?;
        if let Some(excerpt) = &self.excerpt {
            let number = self.line.to_string();
            let gutter = " ".repeat(number.len());
            write!(
                f,
                "\n{gutter} |\n{number} | {}\n{gutter} | {}{}",
                excerpt.text,
                " ".repeat(self.column - 1),
                "^".repeat(excerpt.width)
            )?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n\nhint: {hint}")?;
        }
        Ok(())
    }
}

/// The line and column (both 1-based, the column in characters) of byte `offset` in `source`.
#[must_use]
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile file could not be read.
    #[error("failed to read profile `{path}`")]
    Read {
        /// The profile file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The profile was read but is not valid; every problem found is listed.
    #[error("{}", render_diagnostics(.diagnostics))]
    Invalid {
        /// The profile file.
        path: PathBuf,
        /// The problems, in source order.
        diagnostics: Vec<Diagnostic>,
    },
}

fn render_diagnostics(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for (i, d) in diagnostics.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        out.push_str(&d.to_string());
    }
    out
}

impl Error {
    /// The diagnostics of an invalid profile (empty for a read error).
    #[must_use]
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Error::Invalid { diagnostics, .. } => diagnostics,
            Error::Read { .. } => &[],
        }
    }
}

/// Reads and validates the profile at `path`. Relative references in it (keys, templates,
/// extra files) are taken from the profile's directory.
///
/// # Errors
/// [`Error::Read`] when the file cannot be read, [`Error::Invalid`] with every problem found.
pub fn load(path: &Path) -> Result<Profile, Error> {
    let source = fs_err::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&source, path)
}

/// Parses and validates profile text; `path` names the file in diagnostics and anchors
/// relative references.
///
/// # Errors
/// [`Error::Invalid`] with every problem found.
pub fn parse(source: &str, path: &Path) -> Result<Profile, Error> {
    let raw: raw::RawProfile = toml::from_str(source).map_err(|e| Error::Invalid {
        path: path.to_owned(),
        diagnostics: vec![validate::toml_diagnostic(path, source, &e)],
    })?;
    validate::validate(raw, source, path).map_err(|diagnostics| Error::Invalid {
        path: path.to_owned(),
        diagnostics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_never_panic_on_crlf_or_multibyte_spans() {
        let source = "a = 1\r\nb = \"é\"\r\n";
        for start in 0..=source.len() + 2 {
            for end in 0..=source.len() + 2 {
                if let Some(e) = excerpt(source, &(start..end)) {
                    assert!(e.width >= 1);
                    assert!(!e.text.contains('\r'));
                }
            }
        }
        // A span on the `\n` of a `\r\n` line: the line is shown, one column marked.
        let e = excerpt(source, &(6..7)).unwrap();
        assert_eq!((e.text.as_str(), e.width), ("a = 1", 1));
    }
}
