//! Where package bytes come from: Alpine repositories on a local directory, a `file://` URL or
//! an `http(s)://` mirror, read through an on-disk, content-addressed cache.
//!
//! A repository is laid out as Alpine's: `REPO/ARCH/APKINDEX.tar.gz` and
//! `REPO/ARCH/NAME-VERSION.apk`. A [`Repository`] is written as a line of
//! `/etc/apk/repositories`: an optional `@tag` followed by the location.
//!
//! The [`Fetcher`] returns raw bytes and where they came from ([`Fetched`]); it does not
//! interpret them. Index signatures are verified by the caller with [`crate::apk`]; the identity
//! of a package (its `Q1` checksum) is checked by a closure the caller passes to
//! [`Fetcher::fetch_package`], next to the size and SHA-256 checks done here.
//!
//! Caching: remote files are kept in the cache directory as SHA-256 addressed blobs, plus a
//! small map from URL to digest (the `cache` submodule documents the layout). Every read from the cache
//! re-hashes the blob; a corrupt entry is discarded and fetched again (or reported, offline).
//! Indexes are always fetched again when online (they change); packages are served from the
//! cache when the cached bytes pass the caller's checks. Local directories and `file://`
//! repositories are read in place and never cached: they are already on disk, and copying
//! them would only double the space used.
//!
//! Invariants: no path built from a package name, version or architecture can leave its
//! repository (names are checked against a strict character set); no read, from the network,
//! a local repository or the cache, holds more than the configured size limit in memory; a
//! cache entry is written to a temporary file in its directory and renamed into place, so a
//! reader never sees a partial entry; the library never prints (progress is reported through
//! [`Event`]s).

mod access;
mod cache;
mod http;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

pub use self::access::{Access, KeyError, SetupError, keyring};
pub use self::http::ProxySettings;

/// A boxed error returned by a caller-supplied check.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong while reading a repository.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository string could not be understood.
    #[error("invalid repository `{input}`: {reason}")]
    InvalidRepository {
        /// The text as written.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The architecture is not a plain name (letters, digits, `_`).
    #[error("invalid architecture `{arch}`: expected letters, digits and `_` only")]
    InvalidArch {
        /// The architecture as given.
        arch: String,
    },
    /// A package name or version would not make a safe file name.
    #[error("refusing package `{name}` version `{version}`: {reason}")]
    UnsafePackageName {
        /// The package name as given.
        name: String,
        /// The version as given.
        version: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// An HTTP request failed, after retrying when the failure was transient.
    #[error("failed to fetch `{url}` ({attempts} attempt{s}): {failure}", s = if *.attempts == 1 { "" } else { "s" })]
    Http {
        /// The URL requested.
        url: String,
        /// How many requests were made.
        attempts: u32,
        /// What happened on the last attempt.
        failure: HttpFailure,
    },
    /// A file of a local repository does not exist.
    #[error("`{}` not found in repository `{repository}`", path.display())]
    LocalNotFound {
        /// The repository, as written.
        repository: String,
        /// The missing file.
        path: PathBuf,
    },
    /// A file of a local repository could not be read.
    #[error("failed to read `{}`", path.display())]
    LocalRead {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than the configured limit.
    #[error("`{subject}` is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The URL or path.
        subject: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A package does not have the size its index gives.
    #[error("`{subject}` has {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// The URL, path or cache entry.
        subject: String,
        /// The expected size.
        expected: u64,
        /// The size read.
        actual: u64,
    },
    /// A package is longer than the size its index gives.
    #[error("`{subject}` is longer than the {expected} bytes expected")]
    LongerThanExpected {
        /// The URL or path.
        subject: String,
        /// The expected size.
        expected: u64,
    },
    /// A package does not have the SHA-256 the caller expects.
    #[error(
        "`{subject}` does not match its expected checksum: expected sha256 {expected}, got {actual}"
    )]
    ChecksumMismatch {
        /// The URL, path or cache entry.
        subject: String,
        /// The expected SHA-256, in hex.
        expected: String,
        /// The SHA-256 of the bytes read, in hex.
        actual: String,
    },
    /// The caller's check (for example the package's `Q1` identity) refused the bytes.
    #[error("`{subject}` was rejected")]
    Rejected {
        /// The URL, path or cache entry.
        subject: String,
        /// The caller's reason.
        #[source]
        source: BoxError,
    },
    /// Offline, and the file is not in the cache.
    #[error("`{url}` is not in the cache `{}` and offline mode is on", cache.display())]
    NotCached {
        /// The URL that would have been fetched.
        url: String,
        /// The cache directory searched.
        cache: PathBuf,
    },
    /// Offline, and the cached copy is damaged or is not what was asked for.
    #[error("cache entry `{}` for `{url}` is unusable: {reason}", path.display())]
    CorruptCache {
        /// The URL the entry stands for.
        url: String,
        /// The cache file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The cache could not be read or written.
    #[error("failed to {action} cache entry `{}`", path.display())]
    Cache {
        /// `read`, `write`, `remove` or `create`.
        action: &'static str,
        /// The cache file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No cache directory could be chosen.
    #[error("no cache directory: neither `XDG_CACHE_HOME` nor `HOME` is set to an absolute path")]
    NoCacheDir,
    /// A proxy setting could not be used.
    #[error("invalid proxy `{value}` in `{variable}`: {reason}")]
    InvalidProxy {
        /// The environment variable (or setting) it came from.
        variable: String,
        /// Its value.
        value: String,
        /// Why it cannot be used.
        reason: String,
    },
}

impl Error {
    /// A suggestion for the person running the command, when there is a useful one.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::InvalidRepository { .. } => Some(
                "a repository is `[@tag] URL-or-directory`, e.g. \
                 `@edge https://dl-cdn.alpinelinux.org/alpine/edge/main` or `/srv/alpine/main`"
                    .to_owned(),
            ),
            Error::Http {
                failure: HttpFailure::Status { code: 404, .. },
                ..
            }
            | Error::LocalNotFound { .. } => Some(
                "check the repository location and the architecture: \
                 files are looked up as `REPO/ARCH/APKINDEX.tar.gz` and `REPO/ARCH/NAME-VERSION.apk`"
                    .to_owned(),
            ),
            Error::Http { .. } => Some(
                "check the network and the proxy variables (`HTTPS_PROXY`, `HTTP_PROXY`, \
                 `NO_PROXY`); `--offline` uses what is already in the cache"
                    .to_owned(),
            ),
            Error::NotCached { .. } => {
                Some("run the same command once without `--offline` to fill the cache".to_owned())
            }
            Error::CorruptCache { .. } => Some(
                "run the same command once without `--offline` to fetch a good copy".to_owned(),
            ),
            Error::NoCacheDir => Some("pass `--cache-dir DIR`".to_owned()),
            Error::SizeMismatch { .. }
            | Error::LongerThanExpected { .. }
            | Error::ChecksumMismatch { .. }
            | Error::Rejected { .. } => {
                Some(
                    "the repository serves a file that differs from its index; \
                     refresh the index or try another mirror"
                        .to_owned(),
                )
            }
            _ => None,
        }
    }
}

/// What went wrong with one HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFailure {
    /// The server answered with a status other than 200.
    Status {
        /// The HTTP status code.
        code: u16,
        /// Its canonical reason phrase, when known.
        reason: String,
    },
    /// No answer within the configured timeout.
    Timeout {
        /// The timeout in force.
        after: Duration,
    },
    /// The connection ended before `Content-Length` bytes arrived.
    Truncated {
        /// The announced length.
        expected: u64,
        /// The bytes received.
        received: u64,
    },
    /// The body is larger than the limit.
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The connection could not be made or broke.
    Connection(String),
}

impl HttpFailure {
    /// Whether a retry may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            HttpFailure::Status { code, .. } => *code >= 500 || *code == 408 || *code == 429,
            HttpFailure::Timeout { .. }
            | HttpFailure::Truncated { .. }
            | HttpFailure::Connection(_) => true,
            HttpFailure::TooLarge { .. } => false,
        }
    }
}

impl fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpFailure::Status { code, reason } if reason.is_empty() => {
                write!(f, "server answered {code}")
            }
            HttpFailure::Status { code, reason } => write!(f, "server answered {code} {reason}"),
            HttpFailure::Timeout { after } => {
                write!(f, "timed out after {} ms", after.as_millis())
            }
            HttpFailure::Truncated { expected, received } => write!(
                f,
                "body truncated: received {received} of {expected} bytes announced by Content-Length"
            ),
            HttpFailure::TooLarge { limit } => {
                write!(f, "body larger than the limit of {limit} bytes")
            }
            HttpFailure::Connection(what) => write!(f, "connection failed: {what}"),
        }
    }
}

/// Where a repository is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    /// An `http://` or `https://` base URL, without a trailing `/`.
    Http(String),
    /// A directory, given as a path or a `file://` URL.
    Local(PathBuf),
}

/// One repository, as written in `/etc/apk/repositories`: an optional `@tag`, then a location.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    tag: Option<String>,
    location: Location,
    written: String,
}

impl Repository {
    /// Parses `[@tag] LOCATION`, where the location is an `http(s)://` URL, a `file://` URL or
    /// a directory path.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRepository`] naming the input and the problem.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidRepository {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let text = input.trim();
        if text.is_empty() {
            return Err(invalid("empty"));
        }
        let (tag, rest) = if let Some(after) = text.strip_prefix('@') {
            let end = after.find(char::is_whitespace).ok_or_else(|| {
                invalid("a tag must be followed by a space and the repository location")
            })?;
            let tag = &after[..end];
            if tag.is_empty()
                || !tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                return Err(invalid(
                    "a tag is `@` followed by letters, digits, `.`, `_` or `-`",
                ));
            }
            (Some(tag.to_owned()), after[end..].trim_start())
        } else {
            (None, text)
        };
        let location = parse_location(rest).map_err(|reason| invalid(&reason))?;
        let written = match &location {
            Location::Http(url) => url.clone(),
            Location::Local(_) => rest.to_owned(),
        };
        Ok(Repository {
            tag,
            location,
            written,
        })
    }

    /// Parses a repositories file: one repository per line; blank lines and lines starting
    /// with `#` are skipped.
    ///
    /// # Errors
    ///
    /// The first line that is not a valid repository.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, Error> {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(Repository::parse)
            .collect()
    }

    /// The tag (without `@`), if any.
    #[must_use]
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Where the repository is.
    #[must_use]
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The location as written (URLs without a trailing `/`), without the tag: the form to
    /// record in a lock file.
    #[must_use]
    pub fn location_str(&self) -> &str {
        &self.written
    }

    /// Whether the repository is fetched over the network (and therefore cached).
    #[must_use]
    pub fn is_remote(&self) -> bool {
        matches!(self.location, Location::Http(_))
    }

    /// Where the index of `arch` is: a URL or a file.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArch`] when `arch` is not a plain name.
    pub fn index_resource(&self, arch: &str) -> Result<Resource, Error> {
        check_arch(arch)?;
        Ok(self.resource(arch, "APKINDEX.tar.gz"))
    }

    /// Where the package file `NAME-VERSION.apk` of `arch` is.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArch`], or [`Error::UnsafePackageName`] when the name or version could
    /// leave the repository directory or is not a valid apk name or version.
    pub fn package_resource(
        &self,
        arch: &str,
        name: &str,
        version: &str,
    ) -> Result<Resource, Error> {
        check_arch(arch)?;
        check_package_file_name(name, version)?;
        Ok(self.resource(arch, &format!("{name}-{version}.apk")))
    }

    fn resource(&self, arch: &str, file: &str) -> Resource {
        match &self.location {
            Location::Http(base) => Resource::Url(format!("{base}/{arch}/{file}")),
            Location::Local(dir) => Resource::File(dir.join(arch).join(file)),
        }
    }
}

impl FromStr for Repository {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Repository::parse(s)
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(tag) = &self.tag {
            write!(f, "@{tag} ")?;
        }
        f.write_str(&self.written)
    }
}

/// One file of a repository: a URL, or a path on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// Fetched over HTTP(S), through the cache.
    Url(String),
    /// Read in place.
    File(PathBuf),
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Url(url) => f.write_str(url),
            Resource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

fn parse_location(text: &str) -> Result<Location, String> {
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return parse_http(text).map(Location::Http);
    }
    if lower.starts_with("file://") {
        return parse_file_url(&text["file://".len()..]).map(Location::Local);
    }
    if let Some(scheme_end) = text.find("://") {
        let scheme = &text[..scheme_end];
        if !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Err(format!(
                "unsupported scheme `{scheme}://` (use http://, https://, file:// or a directory)"
            ));
        }
    }
    if text.contains('\0') {
        return Err("a path cannot contain NUL".to_owned());
    }
    Ok(Location::Local(PathBuf::from(text)))
}

fn parse_http(text: &str) -> Result<String, String> {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a URL cannot contain spaces or control characters".to_owned());
    }
    if text.contains(['?', '#']) {
        return Err("a repository URL cannot have a query or a fragment".to_owned());
    }
    let (scheme, rest) = text.split_once("://").unwrap_or(("", text));
    if rest.is_empty() || rest.starts_with('/') {
        return Err("the URL has no host".to_owned());
    }
    let base = format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        rest.trim_end_matches('/')
    );
    let uri: ureq::http::Uri = base
        .parse()
        .map_err(|err| format!("not a valid URL: {err}"))?;
    match uri.host() {
        Some(host) if !host.is_empty() => {}
        _ => return Err("the URL has no host".to_owned()),
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err("credentials in repository URLs are not supported".to_owned());
    }
    Ok(base)
}

fn parse_file_url(rest: &str) -> Result<PathBuf, String> {
    let path = if let Some(after) = rest.strip_prefix("localhost/") {
        format!("/{after}")
    } else if rest.starts_with('/') {
        rest.to_owned()
    } else {
        return Err("a file URL must name an absolute path (`file:///path`)".to_owned());
    };
    if path.contains(['?', '#']) {
        return Err("a file URL cannot have a query or a fragment".to_owned());
    }
    let decoded = percent_decode(&path)?;
    if decoded.contains('\0') {
        return Err("a path cannot contain NUL".to_owned());
    }
    Ok(PathBuf::from(decoded))
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "bad percent escape in file URL".to_owned())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "file URL is not UTF-8 once decoded".to_owned())
}

fn check_arch(arch: &str) -> Result<(), Error> {
    if arch.is_empty()
        || arch.len() > 32
        || !arch.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(Error::InvalidArch {
            arch: arch.to_owned(),
        });
    }
    Ok(())
}

/// Checks that `NAME-VERSION.apk` is a plain file name made of apk's characters.
fn check_package_file_name(name: &str, version: &str) -> Result<(), Error> {
    let refuse = |reason| {
        Err(Error::UnsafePackageName {
            name: name.to_owned(),
            version: version.to_owned(),
            reason,
        })
    };
    if name.is_empty() || version.is_empty() {
        return refuse("empty name or version");
    }
    if name.len() + version.len() > 200 {
        return refuse("name and version are too long");
    }
    if name.contains(['/', '\\']) || version.contains(['/', '\\']) {
        return refuse("a path separator would leave the repository directory");
    }
    if name.starts_with(['.', '-']) || version.starts_with(['.', '-']) {
        return refuse("a name or version cannot start with `.` or `-`");
    }
    let name_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_' | '.'));
    let version_ok = version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+'));
    if !name_ok || !version_ok {
        return refuse("only letters, digits and `+ - _ . ~` are allowed");
    }
    Ok(())
}

/// What the caller knows about a package before fetching it (usually from the index).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedChecksum {
    /// The size in bytes (`S:` in the index).
    pub size: Option<u64>,
    /// The SHA-256 of the whole file, when known (a lock file records it).
    pub sha256: Option<[u8; 32]>,
}

/// Where fetched bytes came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Downloaded just now, and stored in the cache.
    Network {
        /// The URL fetched.
        url: String,
    },
    /// Served from the cache, after checking it.
    Cache {
        /// The URL the entry stands for.
        url: String,
        /// The blob file.
        path: PathBuf,
    },
    /// Read in place from a local repository.
    Local {
        /// The file read.
        path: PathBuf,
    },
}

/// Bytes read from a repository, checked, with their SHA-256 and origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The file's contents.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`.
    pub sha256: [u8; 32],
    /// Where they came from.
    pub origin: Origin,
}

impl Fetched {
    /// The SHA-256 in lowercase hex.
    #[must_use]
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// Progress reported by a [`Fetcher`]; the library never prints.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A download started.
    Started {
        /// The URL.
        url: String,
        /// The announced length, if any.
        total: Option<u64>,
    },
    /// More bytes arrived.
    Progress {
        /// The URL.
        url: String,
        /// Bytes received so far.
        received: u64,
        /// The announced length, if any.
        total: Option<u64>,
    },
    /// A download finished.
    Finished {
        /// The URL.
        url: String,
        /// Bytes received.
        bytes: u64,
    },
    /// A transient failure; the request is tried again after `delay`.
    Retrying {
        /// The URL.
        url: String,
        /// The attempt that failed, from 1.
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// What happened.
        failure: HttpFailure,
    },
    /// A file was served from the cache.
    CacheHit {
        /// The URL.
        url: String,
    },
    /// A cache entry was damaged or stale and was removed.
    CacheDiscarded {
        /// The URL it stood for.
        url: String,
        /// The file removed.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// How repositories are read.
#[derive(Debug, Clone)]
pub struct RepoOptions {
    /// The cache directory (`$XDG_CACHE_HOME/basalt`, `~/.cache/basalt`, or `--cache-dir`).
    pub cache_dir: PathBuf,
    /// Use only the cache (and local repositories); never touch the network.
    pub offline: bool,
    /// Connect timeout, and the longest wait for any single read.
    pub timeout: Duration,
    /// How many times a transiently failing request is tried again.
    pub retries: u32,
    /// The first wait between attempts; it doubles after each one (at most 30 s).
    pub backoff: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Proxies by scheme, and the hosts that bypass them.
    pub proxy: ProxySettings,
    /// The largest index accepted, in bytes.
    pub max_index_size: u64,
    /// The largest package accepted when the caller does not give its size, in bytes.
    pub max_package_size: u64,
}

impl RepoOptions {
    /// Defaults: 30 s timeout, 3 retries from 500 ms, proxies from the environment,
    /// indexes up to 64 MiB and packages up to 1 GiB.
    #[must_use]
    pub fn new(cache_dir: PathBuf) -> Self {
        RepoOptions {
            cache_dir,
            offline: false,
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(500),
            user_agent: concat!("basalt/", env!("CARGO_PKG_VERSION")).to_owned(),
            proxy: ProxySettings::from_env(),
            max_index_size: 64 << 20,
            max_package_size: 1 << 30,
        }
    }

    /// The user's cache directory for basalt: `$XDG_CACHE_HOME/basalt`, else
    /// `$HOME/.cache/basalt`.
    ///
    /// # Errors
    ///
    /// [`Error::NoCacheDir`] when neither variable holds an absolute path.
    pub fn default_cache_dir() -> Result<PathBuf, Error> {
        default_cache_dir_from(
            std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from),
            std::env::var_os("HOME").map(PathBuf::from),
        )
    }
}

/// [`RepoOptions::default_cache_dir`] with the environment given explicitly. Relative values
/// are ignored, as the XDG base directory specification requires.
///
/// # Errors
///
/// [`Error::NoCacheDir`].
pub fn default_cache_dir_from(
    xdg_cache_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Result<PathBuf, Error> {
    if let Some(xdg) = xdg_cache_home.filter(|p| p.is_absolute()) {
        return Ok(xdg.join("basalt"));
    }
    if let Some(home) = home.filter(|p| p.is_absolute()) {
        return Ok(home.join(".cache").join("basalt"));
    }
    Err(Error::NoCacheDir)
}

type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// Reads indexes and packages from repositories, through the cache.
///
/// A `Fetcher` is `Send + Sync`: packages may be fetched from several threads at once.
#[derive(Clone)]
pub struct Fetcher {
    options: RepoOptions,
    http: http::Client,
    cache: cache::Cache,
    events: EventSink,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A fetcher with these options. Nothing is read or written yet.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidProxy`] when a proxy setting cannot be used.
    pub fn new(options: RepoOptions) -> Result<Self, Error> {
        let http = http::Client::new(&options)?;
        let cache = cache::Cache::new(&options.cache_dir);
        Ok(Fetcher {
            options,
            http,
            cache,
            events: Arc::new(|_: &Event| {}),
        })
    }

    /// Sends progress [`Event`]s to `sink` (for example, to draw a progress bar).
    #[must_use]
    pub fn with_events(mut self, sink: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.events = Arc::new(sink);
        self
    }

    /// The options in force.
    #[must_use]
    pub fn options(&self) -> &RepoOptions {
        &self.options
    }

    /// The raw `APKINDEX.tar.gz` of `repo` for `arch`. Online, remote indexes are always
    /// downloaded again (and cached); offline, the cached copy is used.
    ///
    /// The caller verifies the index signature (see [`crate::apk`]).
    ///
    /// # Errors
    ///
    /// An [`Error`] naming the URL or path: HTTP failures, a missing file, a size over
    /// [`RepoOptions::max_index_size`], or, offline, a missing or damaged cache entry.
    pub fn fetch_index(&self, repo: &Repository, arch: &str) -> Result<Fetched, Error> {
        let limit = self.options.max_index_size;
        match repo.index_resource(arch)? {
            Resource::File(path) => {
                let bytes = read_local(repo, &path, limit)?;
                Ok(fetched(bytes, Origin::Local { path }))
            }
            Resource::Url(url) => self.fetch_url(url, limit),
        }
    }

    /// Any file served over HTTP(S), such as a security database, through the cache: fetched
    /// again when online (it may have changed), served from the cache when offline. At most
    /// `limit` bytes are read.
    ///
    /// # Errors
    ///
    /// As [`Fetcher::fetch_index`].
    pub fn fetch_url(&self, url: String, limit: u64) -> Result<Fetched, Error> {
        if self.options.offline {
            return match self.cache.lookup(&url, limit, &*self.events)? {
                cache::Lookup::Hit { bytes, path } => {
                    (self.events)(&Event::CacheHit { url: url.clone() });
                    Ok(fetched(bytes, Origin::Cache { url, path }))
                }
                cache::Lookup::Miss => Err(self.not_cached(url)),
                cache::Lookup::Corrupt { path, reason } => {
                    Err(Error::CorruptCache { url, path, reason })
                }
            };
        }
        let bytes = self.http.get(&url, limit, &*self.events)?;
        self.cache.store(&url, &bytes)?;
        Ok(fetched(bytes, Origin::Network { url }))
    }

    /// The raw `APKINDEX.tar.gz` of `repo` for `arch` whose SHA-256 is `sha256` (as a lock
    /// file records it). A cached copy with that digest is used without touching the network,
    /// even when a newer index has been fetched since; otherwise the index is fetched (online)
    /// and must have that digest.
    ///
    /// # Errors
    ///
    /// As [`Fetcher::fetch_index`]; [`Error::ChecksumMismatch`] when the repository now serves
    /// a different index; [`Error::NotCached`] offline when no copy has that digest.
    pub fn fetch_index_pinned(
        &self,
        repo: &Repository,
        arch: &str,
        sha256: &[u8; 32],
    ) -> Result<Fetched, Error> {
        let mismatch = |subject: String, actual: &[u8; 32]| Error::ChecksumMismatch {
            subject,
            expected: hex::encode(sha256),
            actual: hex::encode(actual),
        };
        if let Resource::Url(url) = repo.index_resource(arch)? {
            let limit = self.options.max_index_size;
            match self.cache.blob(&url, sha256, limit, &*self.events)? {
                cache::Lookup::Hit { bytes, path } => {
                    (self.events)(&Event::CacheHit { url: url.clone() });
                    return Ok(fetched(bytes, Origin::Cache { url, path }));
                }
                cache::Lookup::Corrupt { path, reason } if self.options.offline => {
                    return Err(Error::CorruptCache { url, path, reason });
                }
                cache::Lookup::Miss if self.options.offline => return Err(self.not_cached(url)),
                cache::Lookup::Corrupt { .. } | cache::Lookup::Miss => {}
            }
        }
        let fetched = self.fetch_index(repo, arch)?;
        if &fetched.sha256 != sha256 {
            let subject = match &fetched.origin {
                Origin::Network { url } | Origin::Cache { url, .. } => url.clone(),
                Origin::Local { path } => path.display().to_string(),
            };
            return Err(mismatch(subject, &fetched.sha256));
        }
        Ok(fetched)
    }

    /// The raw `NAME-VERSION.apk` of `repo` for `arch`, checked against `expected` and `verify`
    /// before it is returned.
    ///
    /// `verify` is the caller's identity check (the `Q1` SHA-1 of the control section, done
    /// by [`crate::apk`]); it runs on every copy: downloaded, cached or local. A cached copy
    /// that fails any check is discarded and downloaded again (offline, it is an error). A
    /// download that fails a check is not cached.
    ///
    /// # Errors
    ///
    /// [`Error::UnsafePackageName`] for a name or version that is not a plain file name;
    /// [`Error::SizeMismatch`], [`Error::ChecksumMismatch`] or [`Error::Rejected`] when the
    /// bytes are not the expected ones; otherwise as [`Fetcher::fetch_index`].
    pub fn fetch_package<E>(
        &self,
        repo: &Repository,
        arch: &str,
        name: &str,
        version: &str,
        expected: &ExpectedChecksum,
        verify: impl Fn(&[u8]) -> Result<(), E>,
    ) -> Result<Fetched, Error>
    where
        E: Into<BoxError>,
    {
        // Read one byte more than an announced size so that a longer file is seen as such.
        let limit = expected.size.map_or(self.options.max_package_size, |size| {
            size.min(self.options.max_package_size.saturating_sub(1)) + 1
        });
        let check = |subject: &str, bytes: &[u8], sha256: &[u8; 32]| {
            check_package(subject, bytes, sha256, expected, &verify)
        };
        // Reading stopped one byte past the announced size: say so in the index's terms.
        let longer = |err: Error| match (err, expected.size) {
            (
                Error::TooLarge { subject, limit }
                | Error::Http {
                    url: subject,
                    failure: HttpFailure::TooLarge { limit },
                    ..
                },
                Some(size),
            ) if limit == size.saturating_add(1) => Error::LongerThanExpected {
                subject,
                expected: size,
            },
            (err, _) => err,
        };
        match repo.package_resource(arch, name, version)? {
            Resource::File(path) => {
                let bytes = read_local(repo, &path, limit).map_err(longer)?;
                let sha256 = sha256(&bytes);
                check(&path.display().to_string(), &bytes, &sha256)?;
                Ok(Fetched {
                    bytes,
                    sha256,
                    origin: Origin::Local { path },
                })
            }
            Resource::Url(url) => {
                let cached = match expected.sha256 {
                    Some(digest) => self.cache.blob(&url, &digest, limit, &*self.events)?,
                    None => self.cache.lookup(&url, limit, &*self.events)?,
                };
                match cached {
                    cache::Lookup::Hit { bytes, path } => {
                        let sha256 = sha256(&bytes);
                        match check(&path.display().to_string(), &bytes, &sha256) {
                            Ok(()) => {
                                (self.events)(&Event::CacheHit { url: url.clone() });
                                return Ok(Fetched {
                                    bytes,
                                    sha256,
                                    origin: Origin::Cache { url, path },
                                });
                            }
                            Err(err) if self.options.offline => {
                                return Err(Error::CorruptCache {
                                    url,
                                    path,
                                    reason: err.to_string(),
                                });
                            }
                            Err(err) => {
                                // A stale copy (the package was rebuilt) or a damaged one: forget
                                // the URL's entry and download again.
                                self.cache
                                    .forget(&url, &path, &err.to_string(), &*self.events)?;
                            }
                        }
                    }
                    cache::Lookup::Corrupt { path, reason } if self.options.offline => {
                        return Err(Error::CorruptCache { url, path, reason });
                    }
                    cache::Lookup::Miss if self.options.offline => {
                        return Err(self.not_cached(url));
                    }
                    cache::Lookup::Corrupt { .. } | cache::Lookup::Miss => {}
                }
                let bytes = self.http.get(&url, limit, &*self.events).map_err(longer)?;
                let sha256 = sha256(&bytes);
                check(&url, &bytes, &sha256)?;
                self.cache.store(&url, &bytes)?;
                Ok(Fetched {
                    bytes,
                    sha256,
                    origin: Origin::Network { url },
                })
            }
        }
    }

    fn not_cached(&self, url: String) -> Error {
        Error::NotCached {
            url,
            cache: self.options.cache_dir.clone(),
        }
    }
}

fn check_package<E: Into<BoxError>>(
    subject: &str,
    bytes: &[u8],
    sha256: &[u8; 32],
    expected: &ExpectedChecksum,
    verify: &impl Fn(&[u8]) -> Result<(), E>,
) -> Result<(), Error> {
    let actual = bytes.len() as u64;
    if let Some(size) = expected.size
        && size != actual
    {
        return Err(Error::SizeMismatch {
            subject: subject.to_owned(),
            expected: size,
            actual,
        });
    }
    if let Some(want) = &expected.sha256
        && want != sha256
    {
        return Err(Error::ChecksumMismatch {
            subject: subject.to_owned(),
            expected: hex::encode(want),
            actual: hex::encode(sha256),
        });
    }
    verify(bytes).map_err(|source| Error::Rejected {
        subject: subject.to_owned(),
        source: source.into(),
    })
}

fn fetched(bytes: Vec<u8>, origin: Origin) -> Fetched {
    Fetched {
        sha256: sha256(&bytes),
        bytes,
        origin,
    }
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Reads a file of a local repository, refusing more than `limit` bytes.
fn read_local(repo: &Repository, path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let file = match crate::input::open(path).map_err(std::io::Error::from) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::LocalNotFound {
                repository: repo.to_string(),
                path: path.to_owned(),
            });
        }
        Err(err) => {
            return Err(Error::LocalRead {
                path: path.to_owned(),
                source: err,
            });
        }
    };
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| Error::LocalRead {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(Error::TooLarge {
            subject: path.display().to_string(),
            limit,
        });
    }
    Ok(bytes)
}

/// Trusted signing keys for index verification, and whether untrusted indexes are allowed.
///
/// The verification itself is done by the caller with [`crate::apk`]; this only gathers the
/// key files the user named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// Key files, or directories of `*.pub` key files (`--keys`, the profile's `keys`).
    pub key_paths: Vec<PathBuf>,
    /// Accept indexes whose signature cannot be verified (`--allow-untrusted`); the caller
    /// warns when it is set.
    pub allow_untrusted: bool,
}

impl Trust {
    /// Reads the key files: each path is a file, or a directory whose `*.pub` files are read.
    /// Keys are returned by file name (the name apk signatures refer to), sorted.
    ///
    /// # Errors
    ///
    /// [`Error::LocalRead`] naming the file or directory that could not be read, or
    /// [`Error::TooLarge`] for a file over 64 KiB (no public key is that large).
    pub fn read_keys(&self) -> Result<std::collections::BTreeMap<String, Vec<u8>>, Error> {
        const KEY_LIMIT: u64 = 64 << 10;
        let mut keys = std::collections::BTreeMap::new();
        let read = |path: &Path| -> Result<Vec<u8>, Error> {
            let mut bytes = Vec::new();
            crate::input::open(path)
                .map_err(std::io::Error::from)
                .and_then(|f| f.take(KEY_LIMIT + 1).read_to_end(&mut bytes))
                .map_err(|source| Error::LocalRead {
                    path: path.to_owned(),
                    source,
                })?;
            if bytes.len() as u64 > KEY_LIMIT {
                return Err(Error::TooLarge {
                    subject: path.display().to_string(),
                    limit: KEY_LIMIT,
                });
            }
            Ok(bytes)
        };
        let name_of = |path: &Path| path.file_name().map(|n| n.to_string_lossy().into_owned());
        for path in &self.key_paths {
            let is_dir = fs_err::metadata(path)
                .map_err(|source| Error::LocalRead {
                    path: path.clone(),
                    source,
                })?
                .is_dir();
            if is_dir {
                let entries = fs_err::read_dir(path).map_err(|source| Error::LocalRead {
                    path: path.clone(),
                    source,
                })?;
                let mut files = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(|source| Error::LocalRead {
                        path: path.clone(),
                        source,
                    })?;
                    let file = entry.path();
                    if file.extension().is_some_and(|e| e == "pub") && file.is_file() {
                        files.push(file);
                    }
                }
                files.sort();
                for file in files {
                    if let Some(name) = name_of(&file) {
                        keys.insert(name, read(&file)?);
                    }
                }
            } else if let Some(name) = name_of(path) {
                keys.insert(name, read(path)?);
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests;
