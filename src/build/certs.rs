//! X.509 certificates as `update-ca-certificates` and OpenSSL's `rehash` see them: PEM
//! blocks, and the subject name hash that names the links of a CA directory (`5ad8a5d6.0`).
//!
//! The hash is OpenSSL's `X509_NAME_hash_ex`: the first four bytes (little-endian) of the SHA-1
//! of the subject's canonical encoding, in which every string of a text type becomes a
//! `UTF8String`, trimmed, with inner white space collapsed to one space and ASCII lowercased,
//! and the outer `SEQUENCE` header is left out.
//!
//! Invariant: certificates are untrusted input; a malformed one is an error, never a panic,
//! and nothing here reads past its input.

use sha1::{Digest as _, Sha1};

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed certificate: {0}")]
pub struct Error(pub String);

fn bad(what: &str) -> Error {
    Error(what.to_owned())
}

/// The DER bytes of every `CERTIFICATE` block of a PEM text, in order.
#[must_use]
pub fn pem_certificates(text: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" || line == "-----BEGIN TRUSTED CERTIFICATE-----" {
            body = Some(String::new());
        } else if line.starts_with("-----END ") {
            if let Some(b) = body.take()
                && let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b)
            {
                out.push(der);
            }
        } else if let Some(b) = &mut body {
            b.push_str(line);
        }
    }
    out
}

/// One DER element: tag, content, and the whole encoding.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
}

/// Reads one DER element at the start of `bytes`; returns it and the rest.
fn tlv(bytes: &[u8]) -> Result<(Tlv<'_>, &[u8]), Error> {
    let tag = *bytes.first().ok_or_else(|| bad("truncated"))?;
    if tag & 0x1f == 0x1f {
        return Err(bad("multi-byte tags are not used in names"));
    }
    let first = *bytes.get(1).ok_or_else(|| bad("truncated length"))?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(bad("unsupported length"));
        }
        let mut len = 0usize;
        for i in 0..n {
            len =
                (len << 8) | usize::from(*bytes.get(2 + i).ok_or_else(|| bad("truncated length"))?);
        }
        (len, 2 + n)
    };
    let end = header
        .checked_add(len)
        .ok_or_else(|| bad("length overflow"))?;
    if end > bytes.len() {
        return Err(bad("element longer than its container"));
    }
    Ok((
        Tlv {
            tag,
            content: &bytes[header..end],
            whole: &bytes[..end],
        },
        &bytes[end..],
    ))
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | u8::try_from(bytes.len() - skip).unwrap_or(0));
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// The subject name (its whole DER `SEQUENCE`) of a certificate.
///
/// # Errors
/// [`Error`] when the certificate is not DER as X.509 lays it out.
pub fn subject(cert: &[u8]) -> Result<&[u8], Error> {
    let (certificate, _) = tlv(cert)?;
    let (tbs, _) = tlv(certificate.content)?;
    let mut rest = tbs.content;
    let (first, after) = tlv(rest)?;
    // [0] EXPLICIT version, when present.
    if first.tag == 0xa0 {
        rest = after;
    }
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..4 {
        rest = tlv(rest)?.1;
    }
    let (subject, _) = tlv(rest)?;
    if subject.tag != 0x30 {
        return Err(bad("the subject is not a SEQUENCE"));
    }
    Ok(subject.whole)
}

/// String types OpenSSL canonicalises (`ASN1_MASK_CANON`), with how their bytes become UTF-8.
fn to_utf8(tag: u8, bytes: &[u8]) -> Option<Vec<u8>> {
    let latin1 = |b: &[u8]| {
        b.iter()
            .map(|&c| char::from(c))
            .collect::<String>()
            .into_bytes()
    };
    match tag {
        0x0c => Some(bytes.to_vec()),                     // UTF8String
        0x13 | 0x16 | 0x1a | 0x14 => Some(latin1(bytes)), // Printable, IA5, Visible, T61
        0x1e => {
            // BMPString: UCS-2, big-endian.
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            Some(String::from_utf16_lossy(&units).into_bytes())
        }
        0x1c => {
            // UniversalString: UCS-4, big-endian.
            let s: String = bytes
                .chunks(4)
                .map(|c| {
                    let mut b = [0u8; 4];
                    b[..c.len()].copy_from_slice(c);
                    char::from_u32(u32::from_be_bytes(b)).unwrap_or('\u{fffd}')
                })
                .collect();
            Some(s.into_bytes())
        }
        _ => None,
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Trims, collapses white space and lowercases ASCII, as OpenSSL's `asn1_string_canon`.
fn canon_text(utf8: &[u8]) -> Vec<u8> {
    let start = utf8
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(utf8.len());
    let end = utf8
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |e| e + 1);
    let mut out = Vec::with_capacity(end - start);
    let mut i = start;
    while i < end {
        let b = utf8[i];
        if !b.is_ascii() {
            out.push(b);
            i += 1;
        } else if is_space(b) {
            out.push(b' ');
            while i < end && is_space(utf8[i]) {
                i += 1;
            }
        } else {
            out.push(b.to_ascii_lowercase());
            i += 1;
        }
    }
    out
}

/// The canonical encoding of a DER `Name`: each RDN `SET` re-encoded with canonical values
/// (its members sorted, as DER sorts a `SET OF`), concatenated without the outer header.
///
/// # Errors
/// [`Error`] for a malformed name.
pub fn canonical_name(name: &[u8]) -> Result<Vec<u8>, Error> {
    let (seq, _) = tlv(name)?;
    let mut out = Vec::new();
    let mut rdns = seq.content;
    while !rdns.is_empty() {
        let (set, rest) = tlv(rdns)?;
        rdns = rest;
        if set.tag != 0x31 {
            return Err(bad("an RDN is not a SET"));
        }
        let mut members = Vec::new();
        let mut avas = set.content;
        while !avas.is_empty() {
            let (ava, rest) = tlv(avas)?;
            avas = rest;
            let (oid, rest) = tlv(ava.content)?;
            let (value, _) = tlv(rest)?;
            let value = match to_utf8(value.tag, value.content) {
                Some(utf8) => der(0x0c, &canon_text(&utf8)),
                None => value.whole.to_vec(),
            };
            members.push(der(0x30, &[oid.whole, value.as_slice()].concat()));
        }
        members.sort();
        out.extend(der(0x31, &members.concat()));
    }
    Ok(out)
}

/// OpenSSL's subject name hash of a DER certificate (`openssl x509 -subject_hash`).
///
/// # Errors
/// [`Error`] for a malformed certificate.
pub fn subject_hash(cert: &[u8]) -> Result<u32, Error> {
    let canon = canonical_name(subject(cert)?)?;
    let digest = Sha1::digest(&canon);
    Ok(u32::from_le_bytes([
        digest[0], digest[1], digest[2], digest[3],
    ]))
}

/// SHA-1 of the whole certificate, to tell duplicates apart.
#[must_use]
pub fn fingerprint(cert: &[u8]) -> [u8; 20] {
    Sha1::digest(cert).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_canonicalised_as_openssl_does() {
        assert_eq!(canon_text(b"  Foo   Bar\tBAZ  "), b"foo bar baz");
        assert_eq!(canon_text(b"\xc3\x89cole"), b"\xc3\x89cole");
        assert_eq!(canon_text(b"   "), b"");
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(subject_hash(b"").is_err());
        assert!(subject_hash(&[0x30, 0x82, 0xff]).is_err());
        assert!(subject_hash(&[0x30, 0x03, 0x30, 0x01, 0x02]).is_err());
        let mut x = vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff];
        x.extend([0; 16]);
        assert!(subject_hash(&x).is_err());
    }
}
