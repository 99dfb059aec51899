//! What reaches a person: text output (stdout in the human format, and stderr) carries
//! strings basalt does not control (file names from packages, values from a host's files, ids
//! from a security database, paths on the command line). None may move the cursor, recolour
//! the terminal, hide text or forge a line of the report.
//!
//! Two layers: [`shown`] escapes one untrusted value completely (newlines and tabs included)
//! where it is put into a line; [`Terminal`] wraps every human-facing stream and neutralises
//! any control character that still gets through, keeping only the newlines and tabs of the
//! report's own layout. Machine formats (JSON, SARIF, manifests) are written without either:
//! their own escaping applies.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Whether a character must never reach a terminal raw: C0 controls, DEL, C1 controls, the
/// Unicode line and paragraph separators and the bidirectional and invisible formatting
/// marks (which reorder or hide what follows).
fn is_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2069}'
        | '\u{feff}')
}

fn escape_char(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\u{1b}' => out.push_str("\\e"),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// One untrusted value, escaped for a line of text: every control character (newline and tab
/// included) as `\n`, `\t`, `\r`, `\e`, `\xNN` or `\u{NNNN}`, and `\` as `\\`, so that the
/// value stays on its line and reads unambiguously. Plain text comes back borrowed.
#[must_use]
pub fn shown(value: &str) -> Cow<'_, str> {
    if !value.chars().any(|c| c == '\\' || is_control(c)) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_control(c) {
            escape_char(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A text stream for people: newlines and tabs pass, every other control character is
/// written escaped (as [`shown`] writes it), and bytes that are not UTF-8 as `\xNN`.
pub struct Terminal<W: Write> {
    inner: W,
    /// The start of a UTF-8 sequence split across writes.
    partial: Vec<u8>,
}

impl<W: Write> Terminal<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Terminal {
            inner,
            partial: Vec::new(),
        }
    }

    fn emit(&mut self, bytes: &[u8], last: bool) -> io::Result<()> {
        let mut rest = bytes;
        let mut out = String::new();
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    push_text(&mut out, text);
                    rest = &[];
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    push_text(&mut out, std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            for b in &bad[..n] {
                                let _ = write!(out, "\\x{b:02x}");
                            }
                            rest = &bad[n..];
                            continue;
                        }
                        None if last => {
                            for b in bad {
                                let _ = write!(out, "\\x{b:02x}");
                            }
                            rest = &[];
                        }
                        None => rest = bad,
                    }
                }
            }
            break;
        }
        self.partial = rest.to_vec();
        self.inner.write_all(out.as_bytes())
    }
}

fn push_text(out: &mut String, text: &str) {
    for c in text.chars() {
        if c == '\n' || c == '\t' || !is_control(c) {
            out.push(c);
        } else {
            escape_char(out, c);
        }
    }
}

impl<W: Write> Write for Terminal<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut bytes = std::mem::take(&mut self.partial);
        bytes.extend_from_slice(buf);
        self.emit(&bytes, false)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.partial.is_empty() {
            let bytes = std::mem::take(&mut self.partial);
            self.emit(&bytes, true)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Terminal<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Standard output for people.
pub fn stdout() -> Terminal<io::StdoutLock<'static>> {
    Terminal::new(io::stdout().lock())
}

/// Standard error, always for people.
pub fn stderr() -> Terminal<io::StderrLock<'static>> {
    Terminal::new(io::stderr().lock())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_on_their_line() {
        assert_eq!(shown("usr/bin/ls"), "usr/bin/ls");
        assert!(matches!(shown("plain"), Cow::Borrowed(_)));
        assert_eq!(
            shown("a\nb\tc\r\u{1b}[2J\\\u{7}"),
            "a\\nb\\tc\\r\\e[2J\\\\\\x07"
        );
        assert_eq!(shown("x\u{202e}y\u{9b}z"), "x\\u{202e}y\\x9bz");
        assert_eq!(shown("café ✓"), "café ✓");
    }

    #[test]
    fn the_stream_keeps_layout_and_neutralises_the_rest() {
        let mut out = Terminal::new(Vec::new());
        out.write_all(b"line one\n\tindented \x1b]0;title\x07 \xff end\n")
            .unwrap();
        // A UTF-8 sequence split across writes is kept whole.
        out.write_all("split \u{e9}".as_bytes().split_at(7).0)
            .unwrap();
        out.write_all("split \u{e9}".as_bytes().split_at(7).1)
            .unwrap();
        out.write_all("\u{202e}\n".as_bytes()).unwrap();
        out.flush().unwrap();
        let text = String::from_utf8(out.inner.clone()).unwrap();
        assert_eq!(
            text,
            "line one\n\tindented \\e]0;title\\x07 \\xff end\nsplit \u{e9}\\u{202e}\n"
        );
    }
}
