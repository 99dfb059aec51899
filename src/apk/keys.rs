//! Trusted RSA keys and APK signature checks.
//!
//! A signature member holds one or more `.SIGN.RSA.<key>`, `.SIGN.RSA256.<key>` or
//! `.SIGN.RSA512.<key>` files: an RSA PKCS#1 v1.5 signature (SHA-1, SHA-256 or SHA-512) over
//! the *compressed* bytes of the next gzip member, made by the key whose file name is `<key>`
//! (for example `alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub`).
//!
//! Invariant: a [`SignatureStatus::Verified`] is only produced by a cryptographic check against
//! a key held in the [`Keyring`]; keys are matched by file name, as apk-tools does.

use std::collections::BTreeMap;
use std::fmt;

use rsa::PublicKey;
use rsa::pkcs8::DecodePublicKey as _;
use sha1::Sha1;
use sha2::{Sha256, Sha512};

macro_rules! key {
    ($name:literal) => {
        ($name, include_str!(concat!("../../keys/", $name)))
    };
}

/// The Alpine release keys built into basalt (the `alpine-keys` package, every architecture).
pub const ALPINE_KEYS: [(&str, &str); 17] = [
    key!("alpine-devel@lists.alpinelinux.org-4a6a0840.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-5243ef4b.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-524d27bb.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-5261cecb.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-58199dcc.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-58cbb476.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-58e4f17d.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-5e69ca50.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-60ac2099.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-61666e3f.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-616a9724.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-616abc23.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-616ac3bc.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-616adfeb.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub"),
    key!("alpine-devel@lists.alpinelinux.org-616db30d.rsa.pub"),
];

/// Largest key file accepted (an 8192-bit key in PEM is about 1.5 KiB).
pub const MAX_KEY_FILE: usize = 64 * 1024;

/// A key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The PEM text is not an RSA public key.
    #[error("key `{name}` is not an RSA public key in PEM (SubjectPublicKeyInfo) form: {detail}")]
    BadKey {
        /// Key name (its file name).
        name: String,
        /// The decoder's message.
        detail: String,
    },
    /// The key name could be used to escape or is not a plain file name.
    #[error("key name `{name}` is not a plain file name")]
    BadName {
        /// Key name.
        name: String,
    },
}

/// The digest a signature was made over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum SignatureAlgorithm {
    /// `.SIGN.RSA.`: PKCS#1 v1.5 with SHA-1.
    #[serde(rename = "RSA-SHA1")]
    RsaSha1,
    /// `.SIGN.RSA256.`: PKCS#1 v1.5 with SHA-256.
    #[serde(rename = "RSA-SHA256")]
    RsaSha256,
    /// `.SIGN.RSA512.`: PKCS#1 v1.5 with SHA-512.
    #[serde(rename = "RSA-SHA512")]
    RsaSha512,
}

impl SignatureAlgorithm {
    /// Splits a signature file name into its algorithm and key name; `None` when the name is
    /// not a signature file.
    #[must_use]
    pub fn parse_file_name(name: &str) -> Option<(SignatureAlgorithm, &str)> {
        [
            (".SIGN.RSA512.", SignatureAlgorithm::RsaSha512),
            (".SIGN.RSA256.", SignatureAlgorithm::RsaSha256),
            (".SIGN.RSA.", SignatureAlgorithm::RsaSha1),
        ]
        .into_iter()
        .find_map(|(prefix, alg)| name.strip_prefix(prefix).map(|key| (alg, key)))
    }

    /// The file-name prefix (`.SIGN.RSA.` …).
    #[must_use]
    pub fn file_prefix(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaSha1 => ".SIGN.RSA.",
            SignatureAlgorithm::RsaSha256 => ".SIGN.RSA256.",
            SignatureAlgorithm::RsaSha512 => ".SIGN.RSA512.",
        }
    }
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureAlgorithm::RsaSha1 => "RSA-SHA1",
            SignatureAlgorithm::RsaSha256 => "RSA-SHA256",
            SignatureAlgorithm::RsaSha512 => "RSA-SHA512",
        })
    }
}

/// One signature found in a signature member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The digest algorithm.
    pub algorithm: SignatureAlgorithm,
    /// The signing key's name.
    pub key: String,
    /// The raw signature bytes.
    pub bytes: Vec<u8>,
}

/// The digests of a signed member's compressed bytes, for whichever algorithms were needed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedDigests {
    /// SHA-1.
    pub sha1: Option<[u8; 20]>,
    /// SHA-256.
    pub sha256: Option<[u8; 32]>,
    /// SHA-512.
    pub sha512: Option<[u8; 64]>,
}

/// The outcome of checking a file's signatures.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum SignatureStatus {
    /// A trusted key verified the signature.
    Verified {
        /// The key that verified.
        key: String,
        /// The algorithm.
        algorithm: SignatureAlgorithm,
    },
    /// Every signature was made by a key that is not trusted.
    Untrusted {
        /// The signing keys' names.
        keys: Vec<String>,
    },
    /// A trusted key's signature does not match the signed bytes (tampering).
    Bad {
        /// The key whose signature failed.
        key: String,
        /// The algorithm.
        algorithm: SignatureAlgorithm,
    },
    /// There is no signature at all.
    Unsigned,
}

impl SignatureStatus {
    /// True only for [`SignatureStatus::Verified`].
    #[must_use]
    pub fn is_verified(&self) -> bool {
        matches!(self, SignatureStatus::Verified { .. })
    }
}

impl fmt::Display for SignatureStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureStatus::Verified { key, algorithm } => {
                write!(f, "verified ({algorithm}, key `{key}`)")
            }
            SignatureStatus::Untrusted { keys } => {
                write!(f, "signed by untrusted key")?;
                for (i, k) in keys.iter().enumerate() {
                    write!(f, "{} `{k}`", if i == 0 { "" } else { "," })?;
                }
                Ok(())
            }
            SignatureStatus::Bad { key, algorithm } => {
                write!(
                    f,
                    "bad signature ({algorithm}, key `{key}`): the signed bytes were changed"
                )
            }
            SignatureStatus::Unsigned => f.write_str("unsigned"),
        }
    }
}

/// The keys a check trusts, by name.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<String, PublicKey>,
}

impl Keyring {
    /// A keyring with no keys.
    #[must_use]
    pub fn empty() -> Self {
        Keyring::default()
    }

    /// A keyring holding the 17 Alpine release keys.
    ///
    /// # Panics
    /// Never: the built-in keys are tested.
    #[must_use]
    pub fn alpine() -> Self {
        static ALPINE: std::sync::OnceLock<Keyring> = std::sync::OnceLock::new();
        ALPINE
            .get_or_init(|| {
                let mut ring = Keyring::empty();
                for (name, pem) in ALPINE_KEYS {
                    ring.add_pem(name, pem)
                        .expect("built-in Alpine keys are valid");
                }
                ring
            })
            .clone()
    }

    /// Adds (or replaces) the key `name` from PEM text (`-----BEGIN PUBLIC KEY-----`).
    ///
    /// # Errors
    /// When the name is not a plain file name or the text is not an RSA public key.
    pub fn add_pem(&mut self, name: &str, pem: &str) -> Result<(), Error> {
        if name.is_empty() || name.contains(['/', '\0']) || name == "." || name == ".." {
            return Err(Error::BadName {
                name: name.to_owned(),
            });
        }
        let bad = |detail: String| Error::BadKey {
            name: name.to_owned(),
            detail,
        };
        if pem.len() > MAX_KEY_FILE {
            return Err(bad(format!("larger than {MAX_KEY_FILE} bytes")));
        }
        let key = PublicKey::from_public_key_pem(pem.trim()).map_err(|e| bad(e.to_string()))?;
        self.keys.insert(name.to_owned(), key);
        Ok(())
    }

    /// Adds every key of `other`.
    pub fn extend(&mut self, other: Keyring) {
        self.keys.extend(other.keys);
    }

    /// Names of the keys held, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Number of keys held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// True when `name` is trusted.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.keys.contains_key(name)
    }

    /// Checks `signatures` over a member whose digests are `digests`. The first signature by
    /// a trusted key decides, as in apk-tools; signatures by unknown keys are skipped.
    #[must_use]
    pub fn check(&self, signatures: &[Signature], digests: &SignedDigests) -> SignatureStatus {
        if signatures.is_empty() {
            return SignatureStatus::Unsigned;
        }
        for sig in signatures {
            let Some(key) = self.keys.get(&sig.key) else {
                continue;
            };
            let ok = match sig.algorithm {
                SignatureAlgorithm::RsaSha1 => digests
                    .sha1
                    .is_some_and(|d| key.pkcs1v15_verify_prehash::<Sha1>(&d, &sig.bytes).is_ok()),
                SignatureAlgorithm::RsaSha256 => digests.sha256.is_some_and(|d| {
                    key.pkcs1v15_verify_prehash::<Sha256>(&d, &sig.bytes)
                        .is_ok()
                }),
                SignatureAlgorithm::RsaSha512 => digests.sha512.is_some_and(|d| {
                    key.pkcs1v15_verify_prehash::<Sha512>(&d, &sig.bytes)
                        .is_ok()
                }),
            };
            return if ok {
                SignatureStatus::Verified {
                    key: sig.key.clone(),
                    algorithm: sig.algorithm,
                }
            } else {
                SignatureStatus::Bad {
                    key: sig.key.clone(),
                    algorithm: sig.algorithm,
                }
            };
        }
        SignatureStatus::Untrusted {
            keys: signatures.iter().map(|s| s.key.clone()).collect(),
        }
    }
}

/// The digest algorithms needed to check `signatures`.
#[must_use]
pub fn algorithms_for(signatures: &[Signature]) -> super::gzip::Algorithms {
    let has = |a| signatures.iter().any(|s| s.algorithm == a);
    super::gzip::Algorithms {
        sha1: has(SignatureAlgorithm::RsaSha1),
        sha256: has(SignatureAlgorithm::RsaSha256),
        sha512: has(SignatureAlgorithm::RsaSha512),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_key_loads() {
        let ring = Keyring::alpine();
        assert_eq!(ring.len(), 17);
        assert!(ring.contains("alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"));
    }

    #[test]
    fn signature_file_names_split() {
        assert_eq!(
            SignatureAlgorithm::parse_file_name(".SIGN.RSA256.k.rsa.pub"),
            Some((SignatureAlgorithm::RsaSha256, "k.rsa.pub"))
        );
        assert_eq!(
            SignatureAlgorithm::parse_file_name(".SIGN.RSA.k"),
            Some((SignatureAlgorithm::RsaSha1, "k"))
        );
        assert_eq!(SignatureAlgorithm::parse_file_name(".PKGINFO"), None);
    }

    #[test]
    fn bad_keys_and_names_are_refused() {
        let mut ring = Keyring::empty();
        assert!(matches!(
            ring.add_pem("k", "nope"),
            Err(Error::BadKey { .. })
        ));
        assert!(matches!(
            ring.add_pem("../k", ALPINE_KEYS[0].1),
            Err(Error::BadName { .. })
        ));
        assert!(ring.is_empty());
    }

    #[test]
    fn untrusted_and_unsigned() {
        let ring = Keyring::alpine();
        assert_eq!(
            ring.check(&[], &SignedDigests::default()),
            SignatureStatus::Unsigned
        );
        let sig = Signature {
            algorithm: SignatureAlgorithm::RsaSha1,
            key: "someone.rsa.pub".into(),
            bytes: vec![0; 512],
        };
        assert_eq!(
            ring.check(std::slice::from_ref(&sig), &SignedDigests::default()),
            SignatureStatus::Untrusted {
                keys: vec!["someone.rsa.pub".into()]
            }
        );
        let forged = Signature {
            key: ALPINE_KEYS[9].0.into(),
            ..sig
        };
        let digests = SignedDigests {
            sha1: Some([1; 20]),
            ..SignedDigests::default()
        };
        assert!(matches!(
            ring.check(&[forged], &digests),
            SignatureStatus::Bad { .. }
        ));
    }
}
