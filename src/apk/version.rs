//! Package versions: parsing and ordering exactly as apk-tools 2.x does.
//!
//! An apk version reads `{number}{.number}...{letter}{_suffix{number}}...{-rN}`, for example
//! `1.2.3b_rc4_p1-r5`. apk compares two strings token by token, and its comparison is defined
//! for *every* string, valid or not: [`compare`] reproduces it byte for byte (including how it
//! orders strings that are not valid versions), [`is_valid`] says whether apk accepts a string
//! as a version, and [`Version`] is a string that is known to be valid.
//!
//! Invariant: [`compare`] returns what `apk version -t A B` prints for the same two strings;
//! [`Version`]'s `Ord` is [`compare`] and is a total order over valid versions. Both run in time
//! linear in the input and never allocate.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The longest version string [`Version::parse`] accepts. apk itself has no limit, but no
/// real version comes near it and a hostile index should not be able to make us carry
/// megabytes per package.
pub const MAX_LEN: usize = 1024;

/// Why a string is not a [`Version`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// apk would reject the string as a version.
    #[error("invalid version `{version}`: unexpected `{found}` at byte {offset}")]
    Invalid {
        /// The offending string (shortened when long).
        version: String,
        /// Byte offset of the first token apk cannot read.
        offset: usize,
        /// What was found there (shortened).
        found: String,
    },
    /// The string is longer than [`MAX_LEN`].
    #[error("version of {len} bytes is longer than the {max} bytes allowed (starts `{start}`)")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
        /// Its first bytes.
        start: String,
    },
}

/// A version string that apk accepts, ordered as apk orders it.
///
/// Equality is apk's: `1-r0` equals `1-r` and `1.0-r0` equals `1.0-r00`, although the strings
/// differ. [`Version::as_str`] and `Display` give back the original text.
#[derive(Clone)]
pub struct Version {
    text: Box<str>,
}

impl Version {
    /// Parses `text`, refusing what apk refuses (see [`is_valid`]) and strings longer than
    /// [`MAX_LEN`].
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] names the first byte apk cannot read; [`Error::TooLong`] the length.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.len() > MAX_LEN {
            return Err(Error::TooLong {
                len: text.len(),
                max: MAX_LEN,
                start: shorten(text, 32),
            });
        }
        if let Some(offset) = invalid_offset(text.as_bytes()) {
            return Err(Error::Invalid {
                version: shorten(text, 64),
                offset,
                found: shorten(text.get(offset..).unwrap_or(""), 8),
            });
        }
        Ok(Version { text: text.into() })
    }

    /// The original text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// apk's fuzzy match (`~`): true when `self` starts with the tokens of `prefix`, so that
    /// `1.2.3-r1` matches `~1.2` and `~1.2.3` but not `~1.3` or `~1.20`.
    #[must_use]
    pub fn fuzzy_matches(&self, prefix: &Version) -> bool {
        compare_fuzzy(self.as_str(), prefix.as_str()) == Ordering::Equal
    }
}

impl std::str::FromStr for Version {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Version::parse(s)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({:?})", &*self.text)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(self.as_str(), other.as_str())
    }
}

impl Hash for Version {
    /// Hashes the token stream, so that versions apk calls equal hash alike.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut tokens = Tokens::new(self.text.as_bytes());
        loop {
            let kind = tokens.next;
            kind.hash(state);
            if matches!(kind, Kind::End | Kind::Invalid) {
                break;
            }
            tokens.take().hash(state);
        }
    }
}

/// True when apk accepts `text` as a version (`apk version -c`). The empty string is valid.
#[must_use]
pub fn is_valid(text: &str) -> bool {
    invalid_offset(text.as_bytes()).is_none()
}

/// Compares two strings as apk does (`apk version -t A B`), whether or not they are valid.
///
/// For invalid strings apk compares the valid prefixes and then treats the point where a
/// string stops being valid like any other token that keeps going, so `1.2A` is greater than
/// `1.2` and equal to `1.2B`. Over valid versions this is a total order.
#[must_use]
pub fn compare(a: &str, b: &str) -> Ordering {
    compare_bytes(a.as_bytes(), b.as_bytes(), false)
}

/// apk's fuzzy comparison (the `~` operator): equal when one string's tokens are a prefix of
/// the other's, otherwise as [`compare`].
#[must_use]
pub fn compare_fuzzy(a: &str, b: &str) -> Ordering {
    compare_bytes(a.as_bytes(), b.as_bytes(), true)
}

/// The kinds of token, in apk's order: after one kind, a token of a smaller kind may only
/// follow in the three cases [`Tokens::step`] allows, and when two versions differ in what
/// comes next, the one that goes on with the smaller kind is the greater (except a
/// pre-release suffix, which is smaller than anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    Invalid,
    /// A number after `.`, where leading zeros are significant.
    DigitOrZero,
    Digit,
    Letter,
    Suffix,
    SuffixNumber,
    Revision,
    End,
}

const PRE_SUFFIXES: [&[u8]; 4] = [b"alpha", b"beta", b"pre", b"rc"];
const POST_SUFFIXES: [&[u8]; 5] = [b"cvs", b"svn", b"git", b"hg", b"p"];

/// A cursor over a version string. `next` is the kind of the token at the front of `rest`.
struct Tokens<'a> {
    rest: &'a [u8],
    next: Kind,
    /// Bytes consumed so far, for error offsets.
    pos: usize,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a [u8]) -> Self {
        Tokens {
            rest: text,
            next: Kind::Digit,
            pos: 0,
        }
    }

    fn advance(&mut self, n: usize) {
        self.rest = &self.rest[n..];
        self.pos += n;
    }

    /// Works out the kind of the token at the front of `rest`, given the kind of the one just
    /// read, consuming the separator (`.`, `_`, `-r`) that introduces it.
    fn step(&mut self) {
        let prev = self.next;
        let kind = match self.rest.first() {
            None | Some(0) => Kind::End,
            Some(c)
                if matches!(prev, Kind::Digit | Kind::DigitOrZero) && c.is_ascii_lowercase() =>
            {
                Kind::Letter
            }
            Some(c) if prev == Kind::Letter && c.is_ascii_digit() => Kind::Digit,
            Some(c) if prev == Kind::Suffix && c.is_ascii_digit() => Kind::SuffixNumber,
            Some(c) => {
                let kind = match c {
                    b'.' => Kind::DigitOrZero,
                    b'_' => Kind::Suffix,
                    b'-' if self.rest.get(1) == Some(&b'r') => {
                        self.advance(1);
                        Kind::Revision
                    }
                    _ => Kind::Invalid,
                };
                self.advance(1);
                kind
            }
        };
        let allowed_backwards = matches!(
            (prev, kind),
            (Kind::Digit, Kind::DigitOrZero)
                | (Kind::SuffixNumber, Kind::Suffix)
                | (Kind::Letter, Kind::Digit)
        );
        self.next = if kind < prev && !allowed_backwards {
            Kind::Invalid
        } else {
            kind
        };
    }

    /// Reads the token of kind `next` and returns its value; moves `next` on. An unreadable
    /// token turns `next` into `Invalid` and is worth -1, as in apk.
    fn take(&mut self) -> i64 {
        if self.rest.is_empty() {
            self.next = Kind::End;
            return 0;
        }
        let mut then = None;
        let (value, len) = match self.next {
            Kind::DigitOrZero if self.rest[0] == b'0' => {
                // `.0`, `.00`, ... : every zero but the last counts as one step below zero;
                // the last zero and what follows is read as an ordinary number.
                let zeros = self.rest.iter().take_while(|&&c| c == b'0').count();
                then = Some(Kind::Digit);
                (-(i64::try_from(zeros - 1).unwrap_or(i64::MAX)), zeros - 1)
            }
            Kind::DigitOrZero | Kind::Digit | Kind::SuffixNumber | Kind::Revision => {
                let len = self.rest.iter().take_while(|c| c.is_ascii_digit()).count();
                if len >= 18 {
                    self.next = Kind::Invalid;
                    return -1;
                }
                let value = self.rest[..len]
                    .iter()
                    .fold(0i64, |v, &c| v * 10 + i64::from(c - b'0'));
                (value, len)
            }
            Kind::Letter => (i64::from(self.rest[0]), 1),
            Kind::Suffix => {
                let pre = PRE_SUFFIXES.iter().position(|s| self.rest.starts_with(s));
                let post = POST_SUFFIXES.iter().position(|s| self.rest.starts_with(s));
                match (pre, post) {
                    (Some(i), _) => (index(i) - 4, PRE_SUFFIXES[i].len()),
                    (None, Some(i)) => (index(i), POST_SUFFIXES[i].len()),
                    (None, None) => {
                        self.next = Kind::Invalid;
                        return -1;
                    }
                }
            }
            Kind::Invalid | Kind::End => {
                self.next = Kind::Invalid;
                return -1;
            }
        };
        self.advance(len);
        if self.rest.is_empty() {
            self.next = Kind::End;
        } else if let Some(kind) = then {
            self.next = kind;
        } else {
            self.step();
        }
        value
    }
}

fn index(i: usize) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX)
}

/// The byte offset where apk stops accepting `text` as a version, or `None` if it is valid.
fn invalid_offset(text: &[u8]) -> Option<usize> {
    let mut tokens = Tokens::new(text);
    loop {
        match tokens.next {
            Kind::End => return None,
            Kind::Invalid => return Some(tokens.pos.min(text.len())),
            _ => {
                let before = tokens.pos;
                tokens.take();
                if tokens.next == Kind::Invalid {
                    // Point at the token that could not be read, or at the separator that
                    // introduced a token apk does not allow there.
                    return Some(if tokens.pos == before {
                        before
                    } else {
                        tokens.pos.saturating_sub(1)
                    });
                }
            }
        }
    }
}

fn compare_bytes(a: &[u8], b: &[u8], fuzzy: bool) -> Ordering {
    let mut ta = Tokens::new(a);
    let mut tb = Tokens::new(b);
    let (mut va, mut vb) = (0i64, 0i64);
    while ta.next == tb.next && !matches!(ta.next, Kind::End | Kind::Invalid) && va == vb {
        va = ta.take();
        vb = tb.take();
    }
    match va.cmp(&vb) {
        Ordering::Equal => {}
        unequal => return unequal,
    }
    if ta.next == tb.next || fuzzy {
        return Ordering::Equal;
    }
    // Same tokens so far, and one goes on differently: a pre-release suffix makes it older,
    // anything else makes the one that goes on with more (a smaller kind) newer.
    let (ka, kb) = (ta.next, tb.next);
    if ka == Kind::Suffix && ta.take() < 0 {
        return Ordering::Less;
    }
    if kb == Kind::Suffix && tb.take() < 0 {
        return Ordering::Greater;
    }
    kb.cmp(&ka)
}

fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cmp_str(a: &str, b: &str) -> &'static str {
        match compare(a, b) {
            Ordering::Less => "<",
            Ordering::Equal => "=",
            Ordering::Greater => ">",
        }
    }

    #[test]
    fn orders_like_apk() {
        // Each pair was checked with `apk version -t`.
        let cases = [
            ("1.2", "1.3", "<"),
            ("1.10", "1.9", ">"),
            ("1.01", "1.1", "<"),
            ("1.001", "1.01", "<"),
            ("1.0", "1", ">"),
            ("1.2_rc1", "1.2", "<"),
            ("1.2_alpha", "1.2_beta", "<"),
            ("1.2_pre2", "1.2_rc1", "<"),
            ("1.2_p1", "1.2", ">"),
            ("1.2_git20240101", "1.2_p1", "<"),
            ("1.2_cvs", "1.2_svn", "<"),
            ("1.2_hg", "1.2_p", "<"),
            ("1.2a", "1.2", ">"),
            ("1.2a", "1.2b", "<"),
            ("1.2a", "1.2.1", "<"),
            ("1.2-r1", "1.2-r0", ">"),
            ("1.2-r0", "1.2", ">"),
            ("1-r", "1-r0", "="),
            ("1.2A", "1.2", ">"),
            ("1.2A", "1.2B", "="),
            ("1.a", "1", ">"),
            ("a", "0", ">"),
            ("", "0", "="),
            ("8", "8_git", "<"),
            ("6", "6_", "<"),
            ("2.079a", "2_pa79a", ">"),
        ];
        for (a, b, want) in cases {
            assert_eq!(cmp_str(a, b), want, "{a} vs {b}");
            let reverse = match want {
                "<" => ">",
                ">" => "<",
                _ => "=",
            };
            assert_eq!(cmp_str(b, a), reverse, "{b} vs {a}");
        }
    }

    #[test]
    fn validates_like_apk() {
        for ok in [
            "",
            "0",
            "1.2.3",
            "1.2.3a",
            "1a2",
            "1.2_rc1_p2",
            "1_p",
            "1-r0",
            "1-r",
            "1.a",
        ] {
            assert!(is_valid(ok), "{ok}");
            assert!(Version::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1.2A",
            "1a.2",
            "1_rc1.2",
            "1-r1_p",
            "1-r1.2",
            "1-x",
            "1_foo",
            "1.2-",
            "1-r1x",
            "1.123456789012345678",
        ] {
            assert!(!is_valid(bad), "{bad}");
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_version_and_the_offset() {
        let err = Version::parse("1.2X3").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid version `1.2X3`: unexpected `X3` at byte 3"
        );
        let err = Version::parse("1_foo").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid version `1_foo`: unexpected `foo` at byte 2"
        );
        let long = "1.".repeat(1_000_000);
        let err = Version::parse(&long).unwrap_err();
        assert!(
            matches!(err, Error::TooLong { len: 2_000_000, .. }),
            "{err}"
        );
    }

    #[test]
    fn equal_versions_hash_alike() {
        use std::collections::hash_map::DefaultHasher;
        let h = |v: &Version| {
            let mut s = DefaultHasher::new();
            v.hash(&mut s);
            s.finish()
        };
        let a = Version::parse("1.2-r0").unwrap();
        let b = Version::parse("1.2-r").unwrap();
        assert_eq!(a, b);
        assert_eq!(h(&a), h(&b));
        assert_eq!(a.as_str(), "1.2-r0");
        assert_eq!(b.to_string(), "1.2-r");
    }

    #[test]
    fn fuzzy_matches_token_prefixes() {
        let v = Version::parse("1.2.3-r1").unwrap();
        for yes in ["1", "1.2", "1.2.3", "1.2.3-r1"] {
            assert!(v.fuzzy_matches(&Version::parse(yes).unwrap()), "{yes}");
        }
        for no in ["1.3", "1.20", "2", "1.2.3-r2", "1.2.4"] {
            assert!(!v.fuzzy_matches(&Version::parse(no).unwrap()), "{no}");
        }
    }

    #[test]
    fn megabyte_strings_compare_in_linear_time() {
        let a = "1.".repeat(500_000) + "2";
        let b = "1.".repeat(500_000) + "3";
        assert_eq!(compare(&a, &b), Ordering::Less);
        assert!(is_valid(&a));
        let junk = "\u{ff}".repeat(1 << 20);
        assert_eq!(compare(&junk, &junk), Ordering::Equal);
        assert!(!is_valid(&junk));
    }

    /// Strings made of the pieces versions are made of, valid or not.
    fn version_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[0-9]{1,3}",
            "0{1,3}[0-9]?",
            Just(".".to_owned()),
            "[a-z]",
            "_(alpha|beta|pre|rc|cvs|svn|git|hg|p|x)[0-9]{0,2}",
            "-r[0-9]{0,2}",
            "[-A-Z.~]",
            "[0-9]{17,19}",
        ];
        proptest::collection::vec(piece, 0..8).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn compare_is_antisymmetric_and_never_panics(a in version_like(), b in version_like()) {
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
            prop_assert_eq!(compare(&a, &a), Ordering::Equal);
            let _ = compare_fuzzy(&a, &b);
            let _ = is_valid(&a);
        }

        #[test]
        fn order_is_transitive_over_valid_versions(
            a in version_like(), b in version_like(), c in version_like()
        ) {
            let vs: Vec<Version> = [a, b, c].iter().filter_map(|s| Version::parse(s).ok()).collect();
            let mut sorted = vs.clone();
            sorted.sort();
            for w in sorted.windows(2) {
                prop_assert!(w[0] <= w[1]);
            }
            for x in &sorted {
                for y in &sorted {
                    for z in &sorted {
                        if x <= y && y <= z {
                            prop_assert!(x <= z, "{} <= {} <= {}", x, y, z);
                        }
                    }
                }
            }
        }

        #[test]
        fn parse_agrees_with_is_valid(s in version_like()) {
            prop_assert_eq!(Version::parse(&s).is_ok(), is_valid(&s));
            if let Ok(v) = Version::parse(&s) {
                prop_assert_eq!(v.as_str(), s.as_str());
            }
        }

        /// The checks of `fuzz/fuzz_targets/version.rs`, on random bytes.
        #[test]
        fn fuzz_target_checks_hold(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let text = String::from_utf8_lossy(&data);
            let mid = text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i);
            let (a, b) = text.split_at(mid);
            prop_assert_eq!(compare(a, b), compare(b, a).reverse());
            prop_assert_eq!(compare(a, a), Ordering::Equal);
            let _ = compare_fuzzy(a, b);
            match Version::parse(a) {
                Ok(v) => prop_assert!(is_valid(a) && v.as_str() == a),
                Err(_) => prop_assert!(!is_valid(a) || a.len() > MAX_LEN),
            }
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,64}", t in "\\PC{0,64}") {
            let _ = compare(&s, &t);
            let _ = compare_fuzzy(&s, &t);
            let _ = Version::parse(&s);
        }
    }
}
