//! The SPDX 2.3 (JSON) software bill of materials of a built image.
//!
//! Invariants: the document is a pure function of the image's identity and its packages. Its
//! `created` time is the build epoch and its namespace is derived from the content (the
//! SHA-256 of the image and package list), so two identical builds give identical bytes.
//! Every package carries its version, origin, declared licence, the SHA-256 of its `.apk`,
//! the SHA-1 of its control member (apk's `Q1` identity) and a purl
//! `pkg:apk/alpine/NAME@VERSION?arch=ARCH`.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The tool name written as the document's creator.
pub const CREATOR: &str = concat!("Tool: basalt-", env!("CARGO_PKG_VERSION"));

/// A package as the SBOM describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomPackage {
    /// Package name.
    pub name: String,
    /// Full version.
    pub version: String,
    /// Architecture (`x86_64`).
    pub arch: Option<String>,
    /// Source package.
    pub origin: Option<String>,
    /// Licence expression as the package declares it.
    pub license: String,
    /// Project URL.
    pub url: String,
    /// One-line description.
    pub description: String,
    /// Hex SHA-256 of the `.apk`.
    pub sha256: String,
    /// `Q1…` identity (base64 SHA-1 of the control member).
    pub identity: String,
}

/// The image the SBOM describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomImage {
    /// Image name.
    pub name: String,
    /// Image version.
    pub version: String,
    /// Hex SHA-256 of the image archive.
    pub sha256: String,
    /// The build epoch (seconds since 1970).
    pub epoch: u64,
}

/// Builds the SPDX document.
#[must_use]
pub fn document(image: &SbomImage, packages: &[SbomPackage]) -> Value {
    let mut content = Sha256::new();
    content.update(image.name.as_bytes());
    content.update([0]);
    content.update(image.version.as_bytes());
    content.update([0]);
    content.update(image.sha256.as_bytes());
    for p in packages {
        content.update([0]);
        content.update(p.name.as_bytes());
        content.update([0]);
        content.update(p.version.as_bytes());
        content.update([0]);
        content.update(p.sha256.as_bytes());
    }
    let content = hex::encode(content.finalize());
    let image_id = "SPDXRef-Image";
    let mut spdx_packages = vec![json!({
        "SPDXID": image_id,
        "name": image.name,
        "versionInfo": image.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "OPERATING-SYSTEM",
        "checksums": [{"algorithm": "SHA256", "checksumValue": image.sha256}],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_id,
    })];
    for p in packages {
        let id = format!("SPDXRef-Package-{}", spdx_id_part(&p.name));
        let mut checksums = vec![json!({"algorithm": "SHA256", "checksumValue": p.sha256})];
        if let Some(sha1) = q1_hex(&p.identity) {
            checksums.push(json!({"algorithm": "SHA1", "checksumValue": sha1}));
        }
        let mut purl = format!(
            "pkg:apk/alpine/{}@{}",
            purl_encode(&p.name),
            purl_encode(&p.version)
        );
        if let Some(arch) = &p.arch {
            purl.push_str("?arch=");
            purl.push_str(&purl_encode(arch));
        }
        let mut package = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "supplier": "Organization: Alpine Linux",
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": license_expression(&p.license),
            "copyrightText": "NOASSERTION",
            "description": p.description,
            "checksums": checksums,
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl,
            }],
        });
        if !p.url.is_empty() {
            package["homepage"] = json!(p.url);
        }
        if let Some(origin) = &p.origin {
            package["sourceInfo"] = json!(format!("built from the Alpine origin package {origin}"));
        }
        spdx_packages.push(package);
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}-{}", image.name, image.version),
        "documentNamespace": format!(
            "https://spdx.org/spdxdocs/basalt/{}-{}-{content}",
            purl_encode(&image.name),
            purl_encode(&image.version)
        ),
        "creationInfo": {
            "created": rfc3339(image.epoch),
            "creators": [CREATOR],
        },
        "packages": spdx_packages,
        "relationships": relationships,
    })
}

/// The SPDX licence expression, or `NOASSERTION` when the declared text cannot be one.
fn license_expression(license: &str) -> String {
    let valid = !license.trim().is_empty()
        && license.split_whitespace().all(|token| {
            let token = token.trim_matches(['(', ')']);
            token.is_empty()
                || token
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        });
    if valid {
        license.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        "NOASSERTION".to_owned()
    }
}

/// `[A-Za-z0-9.-]` only, as SPDX identifiers require.
fn spdx_id_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Percent-encodes everything but unreserved characters, as purl components require.
fn purl_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The hex SHA-1 of a `Q1…` identity.
fn q1_hex(identity: &str) -> Option<String> {
    let b64 = identity.strip_prefix("Q1")?;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).ok()?;
    (bytes.len() == 20).then(|| hex::encode(bytes))
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since 1970 (UTC, proleptic Gregorian).
#[must_use]
pub fn rfc3339(epoch: u64) -> String {
    let days = i64::try_from(epoch / 86_400).unwrap_or(i64::MAX / 2);
    let secs = epoch % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str) -> SbomPackage {
        SbomPackage {
            name: name.into(),
            version: "1.36.1-r15".into(),
            arch: Some("x86_64".into()),
            origin: Some("busybox".into()),
            license: "GPL-2.0-only".into(),
            url: "https://busybox.net/".into(),
            description: "toolbox".into(),
            sha256: "ab".repeat(32),
            identity: "Q1AYNx2pLOAHRYZQgv3nM8TNtvRWY=".into(),
        }
    }

    fn image() -> SbomImage {
        SbomImage {
            name: "minimal".into(),
            version: "1.0".into(),
            sha256: "cd".repeat(32),
            epoch: 1_700_000_000,
        }
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn packages_carry_purl_checksums_and_licence() {
        let doc = document(&image(), &[pkg("busybox"), pkg("libstdc++")]);
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
        let packages = doc["packages"].as_array().unwrap();
        assert_eq!(packages.len(), 3);
        let bb = &packages[1];
        assert_eq!(bb["versionInfo"], "1.36.1-r15");
        assert_eq!(bb["licenseDeclared"], "GPL-2.0-only");
        assert_eq!(
            bb["externalRefs"][0]["referenceLocator"],
            "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64"
        );
        assert_eq!(
            bb["checksums"][1]["checksumValue"].as_str().unwrap().len(),
            40
        );
        assert_eq!(packages[2]["SPDXID"], "SPDXRef-Package-libstdc--");
        assert_eq!(
            packages[2]["externalRefs"][0]["referenceLocator"],
            "pkg:apk/alpine/libstdc%2B%2B@1.36.1-r15?arch=x86_64"
        );
        assert_eq!(doc["relationships"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn namespace_follows_content() {
        let a = document(&image(), &[pkg("busybox")]);
        let b = document(&image(), &[pkg("busybox")]);
        assert_eq!(a, b);
        let mut other = pkg("busybox");
        other.sha256 = "ef".repeat(32);
        let c = document(&image(), &[other]);
        assert_ne!(a["documentNamespace"], c["documentNamespace"]);
    }

    #[test]
    fn odd_licences_become_noassertion() {
        assert_eq!(
            license_expression("MIT AND (GPL-2.0-or-later OR BSD-3-Clause)"),
            "MIT AND (GPL-2.0-or-later OR BSD-3-Clause)"
        );
        assert_eq!(license_expression("custom:multiple"), "NOASSERTION");
        assert_eq!(
            license_expression("Public Domain, see COPYING"),
            "NOASSERTION"
        );
        assert_eq!(license_expression(""), "NOASSERTION");
    }
}
