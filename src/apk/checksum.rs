//! APK identity checksums: `Q1` + base64(SHA-1) as written in `C:` lines of an index and in
//! the installed database, and the rarer `Q2` + base64(SHA-256).
//!
//! Invariant: a [`Checksum`] always holds a digest of the right length for its kind, and its
//! text form round-trips.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A package identity: the digest of a package's control member (its compressed bytes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Checksum {
    /// `Q1…`: SHA-1, the form apk-tools 2 writes.
    Sha1([u8; 20]),
    /// `Q2…`: SHA-256.
    Sha256([u8; 32]),
}

/// Text that is not a `Q1`/`Q2` checksum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid package checksum `{text}`: {reason}")]
pub struct Error {
    /// The text, shortened to 100 characters.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Checksum {
    /// The raw digest bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Checksum::Sha1(d) => d,
            Checksum::Sha256(d) => d,
        }
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checksum::Sha1(d) => write!(f, "Q1{}", STANDARD.encode(d)),
            Checksum::Sha256(d) => write!(f, "Q2{}", STANDARD.encode(d)),
        }
    }
}

impl FromStr for Checksum {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| Error {
            text: s.chars().take(100).collect(),
            reason,
        };
        let (kind, b64) = match s.get(..2) {
            Some("Q1") => (1, &s[2..]),
            Some("Q2") => (2, &s[2..]),
            _ => return Err(err("expected a `Q1` or `Q2` prefix")),
        };
        if b64.len() > 64 {
            return Err(err("too long"));
        }
        let bytes = STANDARD.decode(b64).map_err(|_| err("not valid base64"))?;
        match kind {
            1 => bytes
                .try_into()
                .map(Checksum::Sha1)
                .map_err(|_| err("a `Q1` checksum holds 20 bytes")),
            _ => bytes
                .try_into()
                .map(Checksum::Sha256)
                .map_err(|_| err("a `Q2` checksum holds 32 bytes")),
        }
    }
}

impl serde::Serialize for Checksum {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_identity_round_trips() {
        let text = "Q1mcpyM8ftLHlvmaMjdLoBo6zq/Fo=";
        let c: Checksum = text.parse().unwrap();
        assert!(matches!(c, Checksum::Sha1(_)));
        assert_eq!(c.to_string(), text);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "Q",
            "Q3abc",
            "Q1!!!!",
            "Q1AAAA",
            "mcpyM8ftLHlvmaMjdLoBo6zq/Fo=",
        ] {
            assert!(bad.parse::<Checksum>().is_err(), "{bad}");
        }
        let q2 = format!("Q2{}", STANDARD.encode([7u8; 32]));
        assert_eq!(q2.parse::<Checksum>().unwrap(), Checksum::Sha256([7; 32]));
    }
}
