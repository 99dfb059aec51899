//! How a command reaches its repositories: which ones, the keys it trusts beyond Alpine's
//! own, and how it fetches ([`Access`]); and the keyring those keys make ([`keyring`]).
//!
//! Invariant: a key is named by its file name (the name apk signatures refer to), and the 17
//! Alpine release keys are always in the keyring.

use std::path::{Path, PathBuf};

use crate::apk::keys::{self, Keyring, MAX_KEY_FILE};

use super::{Error, Fetcher, RepoOptions, Repository, Trust};

/// A key file that cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file or directory cannot be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The key's name would not be text.
    #[error("key file `{}` has no UTF-8 file name", path.display())]
    Name {
        /// The file.
        path: PathBuf,
    },
    /// The key file cannot be read (or is not a regular file, or is too large).
    #[error("failed to read key file `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: crate::input::Error,
    },
    /// The key file is not a usable RSA public key.
    #[error("failed to load key file `{}`", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: keys::Error,
    },
}

/// The built-in Alpine keys plus every key named by `paths` (files, or directories whose
/// `*.pub` files are read, in name order).
///
/// # Errors
/// Unreadable paths and invalid keys.
pub fn keyring(paths: &[PathBuf]) -> Result<Keyring, KeyError> {
    let mut ring = Keyring::alpine();
    for path in paths {
        let meta = fs_err::metadata(path)?;
        if meta.is_dir() {
            let mut files: Vec<PathBuf> = fs_err::read_dir(path)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            files.sort();
            for file in files {
                if file.extension().is_some_and(|e| e == "pub") && file.is_file() {
                    add_key_file(&mut ring, &file)?;
                }
            }
        } else {
            add_key_file(&mut ring, path)?;
        }
    }
    Ok(ring)
}

fn add_key_file(ring: &mut Keyring, path: &Path) -> Result<(), KeyError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| KeyError::Name {
            path: path.to_owned(),
        })?;
    let text =
        crate::input::read_text(path, MAX_KEY_FILE as u64, "a key file").map_err(|source| {
            KeyError::Read {
                path: path.to_owned(),
                source,
            }
        })?;
    ring.add_pem(name, &text).map_err(|source| KeyError::Load {
        path: path.to_owned(),
        source,
    })?;
    Ok(())
}

/// Where packages come from, and how far to trust them: what `--repository`, `--keys`,
/// `--allow-untrusted`, `--cache-dir` and `--offline` say, with the profile's own
/// repositories and keys when the command line names none.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The repositories, in priority order.
    pub repositories: Vec<Repository>,
    /// The extra keys, and whether unsigned indexes are accepted.
    pub trust: Trust,
    /// The cache directory; `None` for the default one ([`RepoOptions::default_cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Use only the cache and local repositories; never touch the network.
    pub offline: bool,
}

/// The fetcher could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// No cache directory was given and none can be derived from the environment.
    #[error(transparent)]
    CacheDir(Error),
    /// The fetcher refused its options (a proxy variable it cannot use).
    #[error("failed to set up repository access")]
    Fetcher(#[source] Error),
}

impl SetupError {
    /// What the user can do about it.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            SetupError::CacheDir(e) | SetupError::Fetcher(e) => e.hint(),
        }
    }
}

impl Access {
    /// The keyring: Alpine's keys and [`Trust::key_paths`].
    ///
    /// # Errors
    /// As [`keyring`].
    pub fn keyring(&self) -> Result<Keyring, KeyError> {
        keyring(&self.trust.key_paths)
    }

    /// The fetching options: the cache directory chosen, proxies from the environment.
    ///
    /// # Errors
    /// When no cache directory is given and none can be derived from the environment.
    pub fn options(&self) -> Result<RepoOptions, Error> {
        let cache_dir = match &self.cache_dir {
            Some(dir) => dir.clone(),
            None => RepoOptions::default_cache_dir()?,
        };
        let mut options = RepoOptions::new(cache_dir);
        options.offline = self.offline;
        Ok(options)
    }

    /// A [`Fetcher`] with [`Access::options`].
    ///
    /// # Errors
    /// As [`Access::options`], or a proxy variable that cannot be used.
    pub fn fetcher(&self) -> Result<Fetcher, SetupError> {
        Fetcher::new(self.options().map_err(SetupError::CacheDir)?).map_err(SetupError::Fetcher)
    }
}
