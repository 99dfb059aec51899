//! The repository options shared by `lock`, `build` and `outdated`: flatten [`RepoArgs`] into
//! a subcommand's `Args`.

use std::path::PathBuf;

use crate::repo::{Access, Repository, Trust};

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
    /// How the command reaches its repositories: the command line's repositories when any were
    /// given, else `profile_repositories`; the extra keys after `profile_keys`.
    #[must_use]
    pub fn access(&self, profile_repositories: &[Repository], profile_keys: &[PathBuf]) -> Access {
        let repositories = if self.repositories.is_empty() {
            profile_repositories.to_vec()
        } else {
            self.repositories.clone()
        };
        let mut key_paths = profile_keys.to_vec();
        key_paths.extend(self.keys.iter().cloned());
        Access {
            repositories,
            trust: Trust {
                key_paths,
                allow_untrusted: self.allow_untrusted,
            },
            cache_dir: self.cache_dir.clone(),
            offline: self.offline,
        }
    }
}

/// What the user can do about an error, when a library error in its chain knows: the
/// repository layer's hints (the cache directory, the URL syntax, the proxy), printed after
/// the message and its causes.
#[must_use]
pub fn hint(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<crate::repo::Error>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<crate::repo::SetupError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<crate::build::lock::LockError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<crate::build::fetch::Error>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<crate::posture::target::InputError>() {
            e.hint()
        } else {
            None
        }
    })
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
        let from_profile = vec![Repository::parse("/p").unwrap()];
        let access = h
            .repo
            .access(&from_profile, &[PathBuf::from("/profile.pub")]);
        assert_eq!(access.repositories.len(), 2);
        assert_eq!(access.repositories[0].tag(), Some("edge"));
        let options = access.options().unwrap();
        assert_eq!(options.cache_dir, PathBuf::from("/tmp/c"));
        assert!(options.offline);
        assert!(access.trust.allow_untrusted);
        assert_eq!(
            access.trust.key_paths,
            ["/profile.pub", "/k1.rsa.pub", "/keys"].map(PathBuf::from)
        );
    }

    #[test]
    fn no_flags_keep_the_profiles_repositories() {
        let h = Harness::try_parse_from(["x", "--cache-dir", "/c"]).unwrap();
        let from_profile = vec![Repository::parse("/p").unwrap()];
        let access = h.repo.access(&from_profile, &[]);
        assert_eq!(access.repositories, from_profile);
        assert!(!access.options().unwrap().offline);
    }

    #[test]
    fn hints_come_from_the_chain() {
        let err =
            anyhow::Error::new(crate::repo::Error::NoCacheDir).context("failed to lock `p.toml`");
        assert_eq!(
            format!("{err:#}"),
            "failed to lock `p.toml`: no cache directory: neither `XDG_CACHE_HOME` nor `HOME` \
             is set to an absolute path"
        );
        assert_eq!(hint(&err).as_deref(), Some("pass `--cache-dir DIR`"));
    }

    #[test]
    fn a_bad_repository_is_a_usage_error_naming_it() {
        let err = Harness::try_parse_from(["x", "--repository", "ftp://m.example/a"]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("ftp://m.example/a"), "{text}");
        assert!(text.contains("unsupported scheme"), "{text}");
    }
}
