//! The on-disk cache of remote repository files, keyed by content.
//!
//! Layout under the cache directory:
//!
//! ```text
//! v1/blobs/sha256/ab/abcdef…    the bytes of a file, named by their SHA-256
//! v1/urls/0123…                 one small text file per URL (named by the SHA-256 of the URL):
//!                               "basalt-cache-url 1", then "url URL", "sha256 HEX", "size N"
//! ```
//!
//! Invariants: a blob is served only after its bytes hash to its name, and a URL entry only
//! when it names the URL asked for; anything else is removed and reported as corrupt. Every
//! file is written to a temporary file in its own directory and renamed into place, so
//! concurrent readers and writers (threads or processes) never see a partial entry.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Error, Event, sha256};

const URL_HEADER: &str = "basalt-cache-url 1";
/// No URL entry is anywhere near this large.
const URL_ENTRY_LIMIT: u64 = 16 << 10;

/// The cache rooted at the configured cache directory.
#[derive(Debug, Clone)]
pub(super) struct Cache {
    root: PathBuf,
}

/// The result of looking something up.
pub(super) enum Lookup {
    /// Found, and its bytes hash to its name.
    Hit { bytes: Vec<u8>, path: PathBuf },
    /// Nothing cached.
    Miss,
    /// There was an entry, but it was damaged; it has been removed.
    Corrupt { path: PathBuf, reason: String },
}

impl Cache {
    pub(super) fn new(dir: &Path) -> Self {
        Cache {
            root: dir.join("v1"),
        }
    }

    fn blob_path(&self, digest: &[u8; 32]) -> PathBuf {
        let hex = hex::encode(digest);
        self.root
            .join("blobs")
            .join("sha256")
            .join(&hex[..2])
            .join(hex)
    }

    fn url_path(&self, url: &str) -> PathBuf {
        self.root
            .join("urls")
            .join(hex::encode(sha256(url.as_bytes())))
    }

    /// The cached copy of `url`, through its URL entry.
    pub(super) fn lookup(
        &self,
        url: &str,
        limit: u64,
        events: &dyn Fn(&Event),
    ) -> Result<Lookup, Error> {
        let entry_path = self.url_path(url);
        let Some(text) = read_optional(&entry_path, URL_ENTRY_LIMIT)? else {
            return Ok(Lookup::Miss);
        };
        let digest = match parse_url_entry(&text, url) {
            Ok(digest) => digest,
            Err(reason) => return Self::discard(url, entry_path, reason, events),
        };
        match self.blob(url, &digest, limit, events)? {
            Lookup::Miss => {
                // The entry points at a blob that is gone: the entry is useless.
                let reason = format!("its blob sha256 {} is missing", hex::encode(digest));
                Self::discard(url, entry_path, reason, events)
            }
            Lookup::Corrupt { path, reason } => {
                remove(&entry_path)?;
                Ok(Lookup::Corrupt { path, reason })
            }
            hit @ Lookup::Hit { .. } => Ok(hit),
        }
    }

    /// The blob named `digest`, checked against its name.
    pub(super) fn blob(
        &self,
        url: &str,
        digest: &[u8; 32],
        limit: u64,
        events: &dyn Fn(&Event),
    ) -> Result<Lookup, Error> {
        let path = self.blob_path(digest);
        let Some(bytes) = read_optional(&path, limit)? else {
            return Ok(Lookup::Miss);
        };
        if bytes.len() as u64 > limit {
            let reason = format!("larger than the limit of {limit} bytes");
            return Self::discard(url, path, reason, events);
        }
        let actual = sha256(&bytes);
        if &actual != digest {
            let reason = format!(
                "its contents hash to sha256 {}, not to its name",
                hex::encode(actual)
            );
            return Self::discard(url, path, reason, events);
        }
        Ok(Lookup::Hit { bytes, path })
    }

    /// Stores `bytes` as the copy of `url`: the blob first, then the URL entry.
    pub(super) fn store(&self, url: &str, bytes: &[u8]) -> Result<(), Error> {
        let digest = sha256(bytes);
        let blob = self.blob_path(&digest);
        write_atomic(&blob, bytes)?;
        let entry = format!(
            "{URL_HEADER}\nurl {url}\nsha256 {}\nsize {}\n",
            hex::encode(digest),
            bytes.len()
        );
        write_atomic(&self.url_path(url), entry.as_bytes())
    }

    /// Forgets the URL entry of `url` (its blob was found wanting by the caller).
    pub(super) fn forget(
        &self,
        url: &str,
        blob: &Path,
        reason: &str,
        events: &dyn Fn(&Event),
    ) -> Result<(), Error> {
        let entry = self.url_path(url);
        remove(&entry)?;
        events(&Event::CacheDiscarded {
            url: url.to_owned(),
            path: blob.to_owned(),
            reason: reason.to_owned(),
        });
        Ok(())
    }

    fn discard(
        url: &str,
        path: PathBuf,
        reason: String,
        events: &dyn Fn(&Event),
    ) -> Result<Lookup, Error> {
        remove(&path)?;
        events(&Event::CacheDiscarded {
            url: url.to_owned(),
            path: path.clone(),
            reason: reason.clone(),
        });
        Ok(Lookup::Corrupt { path, reason })
    }
}

fn parse_url_entry(text: &[u8], url: &str) -> Result<[u8; 32], String> {
    let text = std::str::from_utf8(text).map_err(|_| "the URL entry is not UTF-8".to_owned())?;
    let mut lines = text.lines();
    if lines.next() != Some(URL_HEADER) {
        return Err(format!("the URL entry does not start with `{URL_HEADER}`"));
    }
    let mut field = |key: &str| {
        lines
            .next()
            .and_then(|line| line.strip_prefix(key))
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| format!("the URL entry has no `{key}` line"))
    };
    let recorded = field("url")?;
    if recorded != url {
        return Err(format!("the URL entry is for `{recorded}`"));
    }
    let hex_digest = field("sha256")?;
    let mut digest = [0; 32];
    hex::decode_to_slice(hex_digest, &mut digest)
        .map_err(|_| format!("the URL entry has a bad sha256 `{hex_digest}`"))?;
    field("size")?
        .parse::<u64>()
        .map_err(|_| "the URL entry has a bad size".to_owned())?;
    Ok(digest)
}

/// Reads at most `limit + 1` bytes of `path`; `None` if it does not exist.
fn read_optional(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, Error> {
    let file = match fs_err::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Cache {
                action: "read",
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Cache {
            action: "read",
            path: path.to_owned(),
            source,
        })?;
    Ok(Some(bytes))
}

fn remove(path: &Path) -> Result<(), Error> {
    match fs_err::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Cache {
            action: "remove",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir).map_err(|source| Error::Cache {
        action: "create",
        path: dir.to_owned(),
        source,
    })?;
    crate::output::write(path, bytes, 0o644).map_err(|e| Error::Cache {
        action: "write",
        path: path.to_owned(),
        source: e.source,
    })
}
