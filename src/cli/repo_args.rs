//! The repository options shared by `lock`, `build` and `outdated`: flatten [`RepoArgs`] into
//! a subcommand's `Args`.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::repo::{Fetcher, RepoOptions, Repository, Trust};

/// Where packages come from, and how far to trust them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RepoArgs {
    /// Use this repository instead of the profile's (repeatable): `[@tag] URL-or-directory`
    #[arg(long = "repository", value_name = "R", value_parser = parse_repository)]
    pub repositories: Vec<Repository>,

    /// Cache directory [default: `$XDG_CACHE_HOME/basalt` or `~/.cache/basalt`]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Use only the cache and local repositories; never touch the network
    #[arg(long)]
    pub offline: bool,

    /// Accept indexes whose signature is not made by a trusted key (prints a warning)
    #[arg(long)]
    pub allow_untrusted: bool,

    /// Also trust this public key file, or the `*.pub` files of this directory (repeatable)
    #[arg(long = "keys", value_name = "PATH")]
    pub keys: Vec<PathBuf>,
}

fn parse_repository(text: &str) -> Result<Repository, String> {
    Repository::parse(text).map_err(|err| match err.hint() {
        Some(hint) => format!("{err}\n\nhint: {hint}"),
        None => err.to_string(),
    })
}

impl RepoArgs {
    /// The repositories to use: the command line's when any were given, else `profile`'s.
    #[must_use]
    pub fn repositories_or(&self, profile: Vec<Repository>) -> Vec<Repository> {
        if self.repositories.is_empty() {
            profile
        } else {
            self.repositories.clone()
        }
    }

    /// The fetching options: the cache directory chosen, proxies from the environment.
    ///
    /// # Errors
    ///
    /// When no cache directory is given and none can be derived from the environment.
    pub fn options(&self) -> anyhow::Result<RepoOptions> {
        let cache_dir = match &self.cache_dir {
            Some(dir) => dir.clone(),
            None => RepoOptions::default_cache_dir().map_err(with_hint)?,
        };
        let mut options = RepoOptions::new(cache_dir);
        options.offline = self.offline;
        Ok(options)
    }

    /// A [`Fetcher`] with [`RepoArgs::options`].
    ///
    /// # Errors
    ///
    /// As [`RepoArgs::options`], or a proxy variable that cannot be used.
    pub fn fetcher(&self) -> anyhow::Result<Fetcher> {
        Fetcher::new(self.options()?)
            .map_err(with_hint)
            .context("failed to set up repository access")
    }

    /// The extra keys and `--allow-untrusted`, plus `profile_keys` (the profile's `keys`).
    #[must_use]
    pub fn trust(&self, profile_keys: &[PathBuf]) -> Trust {
        let mut key_paths = profile_keys.to_vec();
        key_paths.extend(self.keys.iter().cloned());
        Trust {
            key_paths,
            allow_untrusted: self.allow_untrusted,
        }
    }
}

/// Turns a repository error into an `anyhow` error whose message is the error, its causes,
/// and its hint after a blank line (so the hint comes last however the chain is printed).
#[must_use]
pub fn with_hint(err: crate::repo::Error) -> anyhow::Error {
    let Some(hint) = err.hint() else {
        return anyhow::Error::new(err);
    };
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    anyhow::anyhow!("{text}\n\nhint: {hint}")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Harness {
        #[command(flatten)]
        repo: RepoArgs,
    }

    #[test]
    fn flags_parse_and_convert() {
        let h = Harness::try_parse_from([
            "x",
            "--repository",
            "@edge https://m.example/alpine/edge/main",
            "--repository",
            "/srv/local",
            "--cache-dir",
            "/tmp/c",
            "--offline",
            "--allow-untrusted",
            "--keys",
            "/k1.rsa.pub",
            "--keys",
            "/keys",
        ])
        .unwrap();
        assert_eq!(h.repo.repositories.len(), 2);
        assert_eq!(h.repo.repositories[0].tag(), Some("edge"));
        let options = h.repo.options().unwrap();
        assert_eq!(options.cache_dir, PathBuf::from("/tmp/c"));
        assert!(options.offline);
        let trust = h.repo.trust(&[PathBuf::from("/profile.pub")]);
        assert!(trust.allow_untrusted);
        assert_eq!(
            trust.key_paths,
            ["/profile.pub", "/k1.rsa.pub", "/keys"].map(PathBuf::from)
        );
        let from_profile = vec![Repository::parse("/p").unwrap()];
        assert_eq!(h.repo.repositories_or(from_profile).len(), 2);
    }

    #[test]
    fn no_flags_keep_the_profiles_repositories() {
        let h = Harness::try_parse_from(["x", "--cache-dir", "/c"]).unwrap();
        let from_profile = vec![Repository::parse("/p").unwrap()];
        assert_eq!(h.repo.repositories_or(from_profile.clone()), from_profile);
        assert!(!h.repo.options().unwrap().offline);
    }

    #[test]
    fn hints_come_last() {
        let err = with_hint(crate::repo::Error::NoCacheDir);
        assert_eq!(
            format!("{:#}", err.context("failed to lock `p.toml`")),
            "failed to lock `p.toml`: no cache directory: neither `XDG_CACHE_HOME` nor `HOME` \
             is set to an absolute path\n\nhint: pass `--cache-dir DIR`"
        );
    }

    #[test]
    fn a_bad_repository_is_a_usage_error_naming_it() {
        let err = Harness::try_parse_from(["x", "--repository", "ftp://m.example/a"]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("ftp://m.example/a"), "{text}");
        assert!(text.contains("unsupported scheme"), "{text}");
    }
}
