//! `sign`: Ed25519 signatures over bytes, in minisign's key and signature formats.
//!
//! Keys and signatures read and written here are interchangeable with the reference
//! `minisign`: a public key is `"Ed" ‖ key id ‖ public key`, an unencrypted secret key is what
//! `minisign -G -W` writes (KDF `"\0\0"`), and a signature is `"ED"` (Ed25519 over the
//! BLAKE2b-512 of the data, the default) or the legacy `"Ed"` (Ed25519 over the data), followed
//! by a trusted comment and a global signature over `signature ‖ trusted comment`.
//!
//! Invariants: nothing here knows what is being signed, and nothing touches the filesystem;
//! a signature is accepted only when both the data signature and the global signature verify
//! under a trusted key that is not revoked.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use blake2::{Blake2b256, Blake2b512, Digest as _};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

/// Longest trusted comment minisign accepts (its buffer is 8192 bytes with the prefix).
pub const MAX_TRUSTED_COMMENT: usize = 8192 - 18;
/// Longest untrusted comment minisign accepts.
pub const MAX_COMMENT: usize = 1024 - 20;

const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
const TRUSTED_PREFIX: &str = "trusted comment: ";
const SIG_ALG: &[u8; 2] = b"Ed";
const SIG_ALG_PREHASHED: &[u8; 2] = b"ED";
const KDF_NONE: &[u8; 2] = b"\0\0";
const KDF_SCRYPT: &[u8; 2] = b"Sc";
const CHK_ALG: &[u8; 2] = b"B2";
const SECRET_KEY_LEN: usize = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32;

/// Errors reading keys and signatures, and verifying signatures.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The text is not in the expected shape.
    #[error("malformed {what}: {message}")]
    Malformed {
        /// `public key`, `secret key` or `signature`.
        what: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A secret key protected by a password.
    #[error(
        "the secret key is encrypted with a password, which basalt does not read\n\nhint: remove the password with `minisign -C -W -s KEY`, or create a key with `basalt keygen`"
    )]
    Encrypted,
    /// A secret key whose public half or checksum does not match its secret half.
    #[error("the secret key is corrupt: {0}")]
    CorruptSecretKey(&'static str),
    /// A secret key file that others may read.
    #[error(
        "the secret key file is readable or writable by group or others (mode {mode:04o})\n\nhint: run `chmod 600` on it"
    )]
    SecretKeyPermissions {
        /// The file's permission bits.
        mode: u32,
    },
    /// The signature was made by a key that is not trusted.
    #[error(
        "the signature was made by key {key_id}, which is not among the trusted keys ({trusted})"
    )]
    UntrustedKey {
        /// The signing key's id.
        key_id: KeyId,
        /// The trusted ids, comma-separated.
        trusted: String,
    },
    /// The signature was made by a revoked key.
    #[error("the signature was made by key {key_id}, which is revoked")]
    RevokedKey {
        /// The signing key's id.
        key_id: KeyId,
    },
    /// The data does not match the signature.
    #[error("the signature by key {key_id} does not match the data")]
    BadSignature {
        /// The signing key's id.
        key_id: KeyId,
    },
    /// The trusted comment was altered after signing.
    #[error(
        "the trusted comment of the signature by key {key_id} does not match its global signature"
    )]
    BadTrustedComment {
        /// The signing key's id.
        key_id: KeyId,
    },
    /// The system's random number generator failed.
    #[error("cannot get random bytes for a new key: {0}")]
    Random(String),
}

fn malformed(what: &'static str, message: impl Into<String>) -> Error {
    Error::Malformed {
        what,
        message: message.into(),
    }
}

/// An 8-byte key id, shown as minisign shows it: 16 upper-case hex digits of the
/// little-endian number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl FromStr for KeyId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() != 16 {
            return Err(malformed("key id", format!("`{s}` is not 16 hex digits")));
        }
        let n = u64::from_str_radix(s, 16)
            .map_err(|_| malformed("key id", format!("`{s}` is not 16 hex digits")))?;
        Ok(KeyId(n.to_le_bytes()))
    }
}

/// A public key: id and Ed25519 verifying key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The key id.
    pub id: KeyId,
    key: VerifyingKey,
}

/// A secret key: id and Ed25519 signing key.
#[derive(Clone)]
pub struct SecretKey {
    /// The key id.
    pub id: KeyId,
    key: SigningKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// How the data was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `ED`: Ed25519 over BLAKE2b-512 of the data (minisign's default).
    Prehashed,
    /// `Ed`: Ed25519 over the data itself (older minisign, `-l`).
    Legacy,
}

/// What a signature is checked over.
#[derive(Debug, Clone, Copy)]
pub enum Signed<'a> {
    /// The data itself.
    Data(&'a [u8]),
    /// The BLAKE2b-512 digest of the data (for a prehashed signature), computed while the data
    /// was read, so that data of any size is checked without being held.
    Blake2b512(&'a [u8; 64]),
}

/// A detached signature in minisign's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The first line's comment (not signed).
    pub untrusted_comment: String,
    /// Prehashed or legacy.
    pub algorithm: Algorithm,
    /// The signing key's id.
    pub key_id: KeyId,
    /// Ed25519 signature over the data (or its hash).
    pub signature: [u8; 64],
    /// The signed comment.
    pub trusted_comment: String,
    /// Ed25519 signature over `signature ‖ trusted_comment`.
    pub global_signature: [u8; 64],
}

/// Splits key or signature text into its lines, accepting `\r\n` and requiring the
/// `untrusted comment: ` prefix on the first.
fn text_lines<'a>(what: &'static str, text: &'a str) -> Result<Vec<&'a str>, Error> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .collect();
    match lines.first() {
        Some(first) if first.starts_with(UNTRUSTED_PREFIX) => Ok(lines),
        _ => Err(malformed(
            what,
            "the first line does not start with `untrusted comment: `",
        )),
    }
}

fn decode(what: &'static str, line: &str, len: usize) -> Result<Vec<u8>, Error> {
    let bytes = B64
        .decode(line.trim())
        .map_err(|e| malformed(what, format!("bad base64: {e}")))?;
    if bytes.len() != len {
        return Err(malformed(
            what,
            format!("{} bytes where {len} were expected", bytes.len()),
        ));
    }
    Ok(bytes)
}

fn check_comment(what: &'static str, comment: &str, max: usize) -> Result<(), Error> {
    if comment.len() > max || comment.contains(['\n', '\r']) {
        Err(malformed(
            what,
            format!("comments are single lines of at most {max} bytes"),
        ))
    } else {
        Ok(())
    }
}

impl PublicKey {
    /// Parses the public key file text (`untrusted comment: …` then base64), or a bare base64
    /// line as given to `minisign -P`.
    ///
    /// # Errors
    /// [`Error::Malformed`] when it is neither.
    pub fn parse(text: &str) -> Result<PublicKey, Error> {
        let trimmed = text.trim();
        let line = if trimmed.starts_with(UNTRUSTED_PREFIX) {
            let lines = text_lines("public key", text)?;
            if lines.len() != 2 {
                return Err(malformed("public key", "expected two lines"));
            }
            lines[1]
        } else {
            trimmed
        };
        let bytes = decode("public key", line, 42)?;
        if &bytes[..2] != SIG_ALG {
            return Err(malformed("public key", "not an Ed25519 key (`Ed`)"));
        }
        let id = KeyId(bytes[2..10].try_into().expect("8 bytes"));
        let key = VerifyingKey::from_bytes(&bytes[10..42].try_into().expect("32 bytes"))
            .map_err(|_| malformed("public key", "not a valid Ed25519 point"))?;
        Ok(PublicKey { id, key })
    }

    /// The base64 line alone (what `minisign -P` takes).
    #[must_use]
    pub fn to_base64(&self) -> String {
        let mut bytes = Vec::with_capacity(42);
        bytes.extend_from_slice(SIG_ALG);
        bytes.extend_from_slice(&self.id.0);
        bytes.extend_from_slice(self.key.as_bytes());
        B64.encode(bytes)
    }

    /// The public key file text.
    #[must_use]
    pub fn render(&self) -> String {
        format!(
            "{UNTRUSTED_PREFIX}minisign public key {}\n{}\n",
            self.id,
            self.to_base64()
        )
    }

    /// Checks `signature` over `data`: key id, data signature, then global signature.
    ///
    /// # Errors
    /// [`Error::UntrustedKey`] when made by another key, [`Error::BadSignature`] or
    /// [`Error::BadTrustedComment`] when it does not verify.
    pub fn verify(&self, data: &[u8], signature: &Signature) -> Result<(), Error> {
        self.verify_signed(Signed::Data(data), signature)
    }

    /// As [`PublicKey::verify`], over the data or, for a prehashed signature, over its
    /// BLAKE2b-512 digest computed while the data was read.
    ///
    /// # Errors
    /// As [`PublicKey::verify`]; [`Error::Malformed`] for a digest given for a legacy
    /// signature, which covers the data itself.
    pub fn verify_signed(&self, signed: Signed<'_>, signature: &Signature) -> Result<(), Error> {
        if signature.key_id != self.id {
            return Err(Error::UntrustedKey {
                key_id: signature.key_id,
                trusted: self.id.to_string(),
            });
        }
        let sig = ed25519_dalek::Signature::from_bytes(&signature.signature);
        let signed = match (signature.algorithm, signed) {
            (Algorithm::Prehashed, Signed::Data(data)) => self
                .key
                .verify_strict(&Blake2b512::digest(data), &sig)
                .is_ok(),
            (Algorithm::Prehashed, Signed::Blake2b512(digest)) => {
                self.key.verify_strict(digest, &sig).is_ok()
            }
            (Algorithm::Legacy, Signed::Data(data)) => self.key.verify_strict(data, &sig).is_ok(),
            (Algorithm::Legacy, Signed::Blake2b512(_)) => {
                return Err(malformed(
                    "signature",
                    "a legacy (`Ed`) signature covers the data itself, not its digest",
                ));
            }
        };
        if !signed {
            return Err(Error::BadSignature { key_id: self.id });
        }
        let global = ed25519_dalek::Signature::from_bytes(&signature.global_signature);
        let mut message = signature.signature.to_vec();
        message.extend_from_slice(signature.trusted_comment.as_bytes());
        self.key
            .verify_strict(&message, &global)
            .map_err(|_| Error::BadTrustedComment { key_id: self.id })
    }
}

impl SecretKey {
    /// A new random key pair.
    ///
    /// # Errors
    /// [`Error::Random`] when the system has no randomness to give.
    pub fn generate() -> Result<SecretKey, Error> {
        let mut seed = [0u8; 32];
        let mut id = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| Error::Random(e.to_string()))?;
        getrandom::fill(&mut id).map_err(|e| Error::Random(e.to_string()))?;
        Ok(SecretKey::from_seed(KeyId(id), seed))
    }

    /// The key pair for a given id and 32-byte Ed25519 seed.
    #[must_use]
    pub fn from_seed(id: KeyId, seed: [u8; 32]) -> SecretKey {
        SecretKey {
            id,
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The matching public key.
    #[must_use]
    pub fn public(&self) -> PublicKey {
        PublicKey {
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    fn keypair_bytes(&self) -> [u8; 64] {
        let mut sk = [0u8; 64];
        sk[..32].copy_from_slice(&self.key.to_bytes());
        sk[32..].copy_from_slice(self.key.verifying_key().as_bytes());
        sk
    }

    fn checksum(id: &KeyId, sk: &[u8]) -> [u8; 32] {
        let mut h = Blake2b256::new();
        h.update(SIG_ALG);
        h.update(id.0);
        h.update(sk);
        h.finalize().into()
    }

    /// The secret key file text, unencrypted as with `minisign -G -W` (with its checksum
    /// filled in).
    #[must_use]
    pub fn render(&self) -> String {
        let sk = self.keypair_bytes();
        let mut bytes = Vec::with_capacity(SECRET_KEY_LEN);
        bytes.extend_from_slice(SIG_ALG);
        bytes.extend_from_slice(KDF_NONE);
        bytes.extend_from_slice(CHK_ALG);
        bytes.extend_from_slice(&[0u8; 32 + 8 + 8]);
        bytes.extend_from_slice(&self.id.0);
        bytes.extend_from_slice(&sk);
        bytes.extend_from_slice(&SecretKey::checksum(&self.id, &sk));
        format!(
            "{UNTRUSTED_PREFIX}minisign secret key {}\n{}\n",
            self.id,
            B64.encode(bytes)
        )
    }

    /// Parses an unencrypted secret key file (basalt's, or `minisign -G -W`'s).
    ///
    /// # Errors
    /// [`Error::Encrypted`] for a password-protected key, [`Error::Malformed`] or
    /// [`Error::CorruptSecretKey`] otherwise.
    pub fn parse(text: &str) -> Result<SecretKey, Error> {
        let lines = text_lines("secret key", text)?;
        if lines.len() != 2 {
            return Err(malformed("secret key", "expected two lines"));
        }
        let bytes = decode("secret key", lines[1], SECRET_KEY_LEN)?;
        if &bytes[..2] != SIG_ALG {
            return Err(malformed("secret key", "not an Ed25519 key (`Ed`)"));
        }
        match &bytes[2..4] {
            kdf if kdf == KDF_NONE => {}
            kdf if kdf == KDF_SCRYPT => return Err(Error::Encrypted),
            _ => return Err(malformed("secret key", "unknown key derivation function")),
        }
        if &bytes[4..6] != CHK_ALG {
            return Err(malformed("secret key", "unknown checksum algorithm"));
        }
        let id = KeyId(bytes[54..62].try_into().expect("8 bytes"));
        let sk = &bytes[62..126];
        let chk = &bytes[126..158];
        // minisign leaves the checksum of an unencrypted key zero; basalt fills it in.
        if chk != [0u8; 32] && chk != SecretKey::checksum(&id, sk) {
            return Err(Error::CorruptSecretKey("its checksum does not match"));
        }
        let key = SecretKey::from_seed(id, sk[..32].try_into().expect("32 bytes"));
        if key.key.verifying_key().as_bytes() != &sk[32..] {
            return Err(Error::CorruptSecretKey(
                "its public half does not match its secret half",
            ));
        }
        Ok(key)
    }

    /// Signs `data`, prehashed (`ED`), with a trusted comment.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the comments are too long or hold a newline.
    pub fn sign(
        &self,
        data: &[u8],
        untrusted_comment: &str,
        trusted_comment: &str,
    ) -> Result<Signature, Error> {
        self.sign_with(
            Algorithm::Prehashed,
            data,
            untrusted_comment,
            trusted_comment,
        )
    }

    /// Signs `data` with the given algorithm.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the comments are too long or hold a newline.
    pub fn sign_with(
        &self,
        algorithm: Algorithm,
        data: &[u8],
        untrusted_comment: &str,
        trusted_comment: &str,
    ) -> Result<Signature, Error> {
        check_comment("signature", untrusted_comment, MAX_COMMENT)?;
        check_comment("signature", trusted_comment, MAX_TRUSTED_COMMENT)?;
        let signature = match algorithm {
            Algorithm::Prehashed => self.key.sign(&Blake2b512::digest(data)),
            Algorithm::Legacy => self.key.sign(data),
        }
        .to_bytes();
        let mut message = signature.to_vec();
        message.extend_from_slice(trusted_comment.as_bytes());
        let global_signature = self.key.sign(&message).to_bytes();
        Ok(Signature {
            untrusted_comment: untrusted_comment.to_owned(),
            algorithm,
            key_id: self.id,
            signature,
            trusted_comment: trusted_comment.to_owned(),
            global_signature,
        })
    }
}

/// Refuses a secret key file whose permission bits let group or others read or write it.
///
/// # Errors
/// [`Error::SecretKeyPermissions`] naming the mode.
pub fn check_secret_key_mode(mode: u32) -> Result<(), Error> {
    if mode & 0o077 == 0 {
        Ok(())
    } else {
        Err(Error::SecretKeyPermissions {
            mode: mode & 0o7777,
        })
    }
}

impl Signature {
    /// Parses a `.minisig` file.
    ///
    /// # Errors
    /// [`Error::Malformed`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Signature, Error> {
        const WHAT: &str = "signature";
        if text.len() > 2 * (MAX_TRUSTED_COMMENT + MAX_COMMENT + 512) {
            return Err(malformed(WHAT, "too long"));
        }
        let lines = text_lines(WHAT, text)?;
        if lines.len() != 4 {
            return Err(malformed(
                WHAT,
                format!("{} lines where 4 were expected", lines.len()),
            ));
        }
        let untrusted_comment = lines[0][UNTRUSTED_PREFIX.len()..].to_owned();
        let sig = decode(WHAT, lines[1], 74)?;
        let algorithm = match &sig[..2] {
            a if a == SIG_ALG_PREHASHED => Algorithm::Prehashed,
            a if a == SIG_ALG => Algorithm::Legacy,
            _ => return Err(malformed(WHAT, "unknown signature algorithm")),
        };
        let trusted_comment = lines[2]
            .strip_prefix(TRUSTED_PREFIX)
            .ok_or_else(|| {
                malformed(
                    WHAT,
                    "the third line does not start with `trusted comment: `",
                )
            })?
            .to_owned();
        check_comment(WHAT, &trusted_comment, MAX_TRUSTED_COMMENT)?;
        let global = decode(WHAT, lines[3], 64)?;
        Ok(Signature {
            untrusted_comment,
            algorithm,
            key_id: KeyId(sig[2..10].try_into().expect("8 bytes")),
            signature: sig[10..74].try_into().expect("64 bytes"),
            trusted_comment,
            global_signature: global.try_into().expect("64 bytes"),
        })
    }

    /// The `.minisig` file text.
    #[must_use]
    pub fn render(&self) -> String {
        let alg = match self.algorithm {
            Algorithm::Prehashed => SIG_ALG_PREHASHED,
            Algorithm::Legacy => SIG_ALG,
        };
        let mut sig = Vec::with_capacity(74);
        sig.extend_from_slice(alg);
        sig.extend_from_slice(&self.key_id.0);
        sig.extend_from_slice(&self.signature);
        format!(
            "{UNTRUSTED_PREFIX}{}\n{}\n{TRUSTED_PREFIX}{}\n{}\n",
            self.untrusted_comment,
            B64.encode(sig),
            self.trusted_comment,
            B64.encode(self.global_signature)
        )
    }

    /// The `key=value` fields of a trusted comment written by basalt (tab- or
    /// space-separated, as minisign's own `timestamp:… file:…` are separated by tabs).
    #[must_use]
    pub fn trusted_field(&self, key: &str) -> Option<&str> {
        self.trusted_comment
            .split(['\t', ' '])
            .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
    }
}

/// Trusted public keys and revoked key ids.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    trusted: Vec<PublicKey>,
    revoked: BTreeSet<KeyId>,
}

impl Keyring {
    /// A keyring that trusts these keys.
    #[must_use]
    pub fn new(trusted: Vec<PublicKey>) -> Keyring {
        Keyring {
            trusted,
            revoked: BTreeSet::new(),
        }
    }

    /// Adds a trusted key.
    pub fn trust(&mut self, key: PublicKey) {
        self.trusted.push(key);
    }

    /// Revokes a key id: signatures by it are refused even when the key is trusted.
    pub fn revoke(&mut self, id: KeyId) {
        self.revoked.insert(id);
    }

    /// Reads a revocation list: one key id (16 hex digits) or public key per line; blank
    /// lines, `untrusted comment:` lines and `#` comments (whole lines, or after the key:
    /// `KEYID # leaked`) are ignored.
    ///
    /// # Errors
    /// [`Error::Malformed`] for a line that is neither.
    pub fn revoke_list(&mut self, text: &str) -> Result<(), Error> {
        for line in text.lines().map(str::trim) {
            if line.starts_with(UNTRUSTED_PREFIX) {
                continue;
            }
            // Neither key ids (hex) nor public keys (base64) hold a `#`.
            let line = line.split_once('#').map_or(line, |(key, _)| key).trim();
            if line.is_empty() {
                continue;
            }
            let id = match line.parse::<KeyId>() {
                Ok(id) => id,
                Err(_) => {
                    PublicKey::parse(line)
                        .map_err(|_| {
                            malformed(
                                "revocation list",
                                format!("`{line}` is neither a key id nor a public key"),
                            )
                        })?
                        .id
                }
            };
            self.revoke(id);
        }
        Ok(())
    }

    /// The trusted keys.
    #[must_use]
    pub fn trusted(&self) -> &[PublicKey] {
        &self.trusted
    }

    /// Verifies `signature` over `data` with the trusted key of the same id.
    ///
    /// # Errors
    /// [`Error::RevokedKey`], [`Error::UntrustedKey`], [`Error::BadSignature`] or
    /// [`Error::BadTrustedComment`].
    pub fn verify(&self, data: &[u8], signature: &Signature) -> Result<&PublicKey, Error> {
        self.verify_signed(Signed::Data(data), signature)
    }

    /// As [`Keyring::verify`], over the data or its digest ([`Signed`]).
    ///
    /// # Errors
    /// As [`Keyring::verify`] and [`PublicKey::verify_signed`].
    pub fn verify_signed(
        &self,
        signed: Signed<'_>,
        signature: &Signature,
    ) -> Result<&PublicKey, Error> {
        if self.revoked.contains(&signature.key_id) {
            return Err(Error::RevokedKey {
                key_id: signature.key_id,
            });
        }
        let key = self
            .trusted
            .iter()
            .find(|k| k.id == signature.key_id)
            .ok_or_else(|| Error::UntrustedKey {
                key_id: signature.key_id,
                trusted: self
                    .trusted
                    .iter()
                    .map(|k| k.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        key.verify_signed(signed, signature)?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by `minisign -G -W` (0.11) and `minisign -S -t 'tc here'` over "hello\n".
    const MINISIGN_PUB: &str = "untrusted comment: minisign public key A76A41ABDCA2CC35\nRWQ1zKLcq0FqpxEXKSApf6NIUgZENl6CD6yMnEud0+56z8Hz0gCHY1Sw\n";
    const MINISIGN_KEY: &str = "untrusted comment: minisign encrypted secret key\nRWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAANcyi3KtBaqe8FimCxMx3fKiFZTCme/ICmZbEhpHOUQt/UsiyGszOHxEXKSApf6NIUgZENl6CD6yMnEud0+56z8Hz0gCHY1SwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    const MINISIGN_SIG: &str = "untrusted comment: signature from minisign secret key\nRUQ1zKLcq0Fqp5ZcMN2BYuk7nDfnN0Hot9BRPtu4do7ir1kLfU1k7/OWz5A5f12KyQswlJZRr71Yjlb0QYk0WSs02Ieligdwcww=\ntrusted comment: tc here\nARTkXfMOa78EnznbjIag9FM3i6FZxkLJbBkVpax+Dxq9nPgVxXYWMHiZIdIo6aamzAEmOcYED2/FP+9KTmpbAw==\n";

    #[test]
    fn reads_minisign_keys_and_signatures() {
        let public = PublicKey::parse(MINISIGN_PUB).unwrap();
        assert_eq!(public.id.to_string(), "A76A41ABDCA2CC35");
        assert_eq!(public.render(), MINISIGN_PUB);
        let secret = SecretKey::parse(MINISIGN_KEY).unwrap();
        assert_eq!(secret.public(), public);
        let sig = Signature::parse(MINISIGN_SIG).unwrap();
        assert_eq!(sig.render(), MINISIGN_SIG);
        assert_eq!(sig.algorithm, Algorithm::Prehashed);
        assert_eq!(public.verify(b"hello\n", &sig), Ok(()));
        assert_eq!(
            public.verify(b"hello!\n", &sig),
            Err(Error::BadSignature { key_id: public.id })
        );
        let mut edited = sig.clone();
        edited.trusted_comment = "tc there".into();
        assert_eq!(
            public.verify(b"hello\n", &edited),
            Err(Error::BadTrustedComment { key_id: public.id })
        );
        // Signatures are deterministic in Ed25519: basalt reproduces minisign's bytes.
        let ours = secret
            .sign(b"hello\n", &sig.untrusted_comment, "tc here")
            .unwrap();
        assert_eq!(ours, sig);
    }

    #[test]
    fn legacy_signatures_verify() {
        let key = SecretKey::from_seed(KeyId([1; 8]), [2; 32]);
        let sig = key.sign_with(Algorithm::Legacy, b"data", "c", "t").unwrap();
        assert!(sig.render().lines().nth(1).unwrap().starts_with("RWQ"));
        assert_eq!(key.public().verify(b"data", &sig), Ok(()));
    }

    #[test]
    fn keyring_refuses_revoked_and_unknown_keys() {
        let a = SecretKey::from_seed(KeyId([1; 8]), [1; 32]);
        let b = SecretKey::from_seed(KeyId([2; 8]), [2; 32]);
        let sig = a.sign(b"m", "c", "t").unwrap();
        let mut ring = Keyring::new(vec![b.public()]);
        assert!(matches!(
            ring.verify(b"m", &sig),
            Err(Error::UntrustedKey { .. })
        ));
        ring.trust(a.public());
        assert_eq!(ring.verify(b"m", &sig).map(|k| k.id), Ok(a.id));
        ring.revoke_list(&format!("# revoked\n{}\n", a.id)).unwrap();
        assert_eq!(
            ring.verify(b"m", &sig).map(|k| k.id),
            Err(Error::RevokedKey { key_id: a.id })
        );
        assert!(ring.revoke_list("nonsense\n").is_err());
    }

    #[test]
    fn revocation_lists_take_comments_after_a_key() {
        let a = SecretKey::from_seed(KeyId([1; 8]), [1; 32]);
        let b = SecretKey::from_seed(KeyId([2; 8]), [2; 32]);
        let mut ring = Keyring::new(vec![a.public(), b.public()]);
        ring.revoke_list(&format!(
            "{}   # leaked on 2024-05-01\n{} #no space\n",
            a.id,
            b.public().to_base64()
        ))
        .unwrap();
        for key in [&a, &b] {
            let sig = key.sign(b"m", "c", "t").unwrap();
            assert_eq!(
                ring.verify(b"m", &sig).map(|k| k.id),
                Err(Error::RevokedKey { key_id: key.id })
            );
        }
        assert!(ring.revoke_list("nonsense # comment\n").is_err());
    }

    #[test]
    fn secret_key_round_trips_and_checks_itself() {
        let key = SecretKey::from_seed(KeyId([9; 8]), [3; 32]);
        let text = key.render();
        let back = SecretKey::parse(&text).unwrap();
        assert_eq!(back.public(), key.public());
        let mut bytes = B64.decode(text.lines().nth(1).unwrap()).unwrap();
        bytes[100] ^= 1;
        let corrupt = format!("untrusted comment: x\n{}\n", B64.encode(&bytes));
        assert!(matches!(
            SecretKey::parse(&corrupt),
            Err(Error::CorruptSecretKey(_))
        ));
        bytes[2..4].copy_from_slice(b"Sc");
        let encrypted = format!("untrusted comment: x\n{}\n", B64.encode(&bytes));
        assert_eq!(SecretKey::parse(&encrypted).unwrap_err(), Error::Encrypted);
    }

    #[test]
    fn secret_key_modes() {
        assert!(check_secret_key_mode(0o100_600).is_ok());
        assert!(check_secret_key_mode(0o400).is_ok());
        assert_eq!(
            check_secret_key_mode(0o100_640),
            Err(Error::SecretKeyPermissions { mode: 0o640 })
        );
        assert!(check_secret_key_mode(0o602).is_err());
    }

    #[test]
    fn trusted_fields() {
        let key = SecretKey::from_seed(KeyId([1; 8]), [1; 32]);
        let sig = key
            .sign(b"m", "c", "basalt image=web version=1 manifest=sha256:ab")
            .unwrap();
        assert_eq!(sig.trusted_field("manifest"), Some("sha256:ab"));
        assert_eq!(sig.trusted_field("image"), Some("web"));
        assert_eq!(sig.trusted_field("nope"), None);
    }
}
