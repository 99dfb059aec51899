//! `basalt lock PROFILE`: resolve the profile's packages against its repositories (or
//! `--repository`) and write the lock beside it; `--check` says whether the lock is stale.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

use super::ExitStatus;
use super::repo_args::{RepoArgs, with_hint};
use rayon::prelude::*;

use crate::apk::checksum::Checksum;
use crate::apk::dependency::Dependency;
use crate::apk::package::{self, ReadOptions};
use crate::apk::{Limits, SignatureStatus, index};
use crate::lock::{Inputs, LockedRepository, Lockfile};
use crate::repo::{ExpectedChecksum, Repository};
use crate::resolve::{self, Candidate, Universe};

/// Arguments of `basalt lock`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The host profile (TOML)
    pub profile: PathBuf,
    /// Where to write the lock [default: beside the profile, as NAME.lock]
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Write nothing; exit 1 when the lock is missing or differs from what the profile and
    /// the repositories give now
    #[arg(long)]
    pub check: bool,
    /// Do not read the package files for their `datahash`; lock from the indexes alone
    #[arg(long)]
    pub no_datahash: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// The parts of a profile that resolution depends on.
#[derive(Debug, Clone)]
pub struct ProfileCore {
    /// `[image] name`
    pub name: String,
    /// `[image] version`
    pub version: String,
    /// `[image] arch`
    pub arch: String,
    /// `[repositories] urls`
    pub repositories: Vec<Repository>,
    /// `[repositories] keys`, relative to the profile's directory
    pub keys: Vec<PathBuf>,
    /// `[packages] install`
    pub install: Vec<String>,
}

/// Loads and validates the profile, keeping what resolution depends on.
///
/// # Errors
///
/// An unreadable or invalid profile (every problem with its line and column), or a
/// repository line the repository layer cannot use.
pub fn read_profile_core(path: &Path) -> anyhow::Result<ProfileCore> {
    let profile = crate::profile::load(path)?;
    let repositories = profile
        .repositories
        .urls
        .iter()
        .map(|r| {
            Repository::parse(&r.to_string())
                .map_err(with_hint)
                .with_context(|| format!("profile `{}`: `[repositories] urls`", path.display()))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(ProfileCore {
        name: profile.image.name,
        version: profile.image.version,
        arch: profile.image.arch,
        repositories,
        keys: profile
            .repositories
            .keys
            .into_iter()
            .map(|k| k.path)
            .collect(),
        install: profile.packages.install,
    })
}

/// What `basalt lock` computed.
#[derive(Debug)]
pub struct Locked {
    /// The lock.
    pub lock: Lockfile,
    /// Warnings for the user (untrusted indexes, skipped index entries).
    pub warnings: Vec<String>,
}

/// Resolves `profile` against its repositories (or `repo`'s) and builds the lock.
///
/// # Errors
///
/// Unreadable repositories, untrusted indexes (without `--allow-untrusted`), invalid atoms,
/// and worlds that cannot be satisfied (with apk's explanation).
pub fn compute(profile: &ProfileCore, repo: &RepoArgs) -> anyhow::Result<Locked> {
    let mut warnings = Vec::new();
    let world: Vec<Dependency> = profile
        .install
        .iter()
        .map(|a| Dependency::parse(a).context("invalid `[packages] install` entry"))
        .collect::<anyhow::Result<_>>()?;
    let repositories = repo.repositories_or(profile.repositories.clone());
    if repositories.is_empty() {
        bail!("no repositories: the profile lists none and no `--repository` was given");
    }
    let trust = repo.trust(&profile.keys);
    let keyring = super::apk::load_keyring(&trust.key_paths)?;
    let keys = trust
        .read_keys()
        .map_err(with_hint)?
        .into_iter()
        .map(|(name, bytes)| (name, hex::encode(Sha256::digest(&bytes))))
        .collect();
    let fetcher = repo.fetcher()?;
    let mut sources = Vec::new();
    let mut locked = Vec::new();
    for r in &repositories {
        let fetched = fetcher.fetch_index(r, &profile.arch).map_err(with_hint)?;
        let label = format!("{}/{}/APKINDEX.tar.gz", r.location_str(), profile.arch);
        let index = index::read_index(&fetched.bytes[..], &label, &keyring, &Limits::default())?;
        let key = match &index.signature {
            SignatureStatus::Verified { key, .. } => Some(key.clone()),
            other if trust.allow_untrusted => {
                warnings.push(format!("using `{label}` although its signature is {other}"));
                None
            }
            other => bail!(
                "index `{label}`: signature {other}\n\nhint: trust its key with `--keys PATH` \
                 (or the profile's `[repositories] keys`), or pass `--allow-untrusted`"
            ),
        };
        let mut packages = Vec::with_capacity(index.entries.len());
        for entry in &index.entries {
            match Candidate::from_index_entry(entry) {
                Ok(c) => packages.push(c),
                Err(e) => warnings.push(format!("`{label}`: skipped {e}")),
            }
        }
        sources.push(resolve::Repository {
            location: r.location_str().to_owned(),
            tag: r.tag().map(str::to_owned),
            packages,
        });
        locked.push(LockedRepository {
            url: r.location_str().to_owned(),
            tag: r.tag().map(str::to_owned),
            index: fetched.sha256_hex(),
            description: index.description.clone(),
            key,
        });
    }
    let universe = Universe::from_repositories(sources)?;
    let resolution = universe.resolve(&world)?;
    let inputs = Inputs {
        name: profile.name.clone(),
        version: profile.version.clone(),
        arch: profile.arch.clone(),
        repositories: repositories.iter().map(ToString::to_string).collect(),
        keys,
        install: profile.install.clone(),
    };
    Ok(Locked {
        lock: Lockfile::new(&inputs, locked, &resolution),
        warnings,
    })
}

/// The packages whose file could not be had, so whose `datahash` the lock leaves out.
#[derive(Debug, Default)]
pub struct MissingDatahashes {
    /// How many packages were locked without a datahash.
    pub count: usize,
    /// The total number of packages.
    pub total: usize,
    /// Why the first of them (in install order) could not be read.
    pub first: Option<(String, String)>,
}

impl MissingDatahashes {
    /// One line for the user, when any datahash is missing.
    #[must_use]
    pub fn note(&self) -> Option<String> {
        let (package, reason) = self.first.as_ref()?;
        Some(format!(
            "{} of {} packages locked without a datahash, their files being unavailable \
             (first: `{package}`: {reason}); the Q1 identity still pins them",
            self.count, self.total
        ))
    }
}

/// Fills [`LockedPackage::datahash`](crate::lock::LockedPackage::datahash) for every package
/// of `lock` whose file can be had: read in place from a local repository, or through the
/// cache (downloading it when online) from a remote one. A file is trusted only once its
/// `Q1` identity matches the lock's (the index's `C:`); the datahash recorded is the SHA-256
/// of its data section, checked against the `.PKGINFO` `datahash` it carries.
///
/// A package whose file is absent (a directory holding only the index, a 404, not cached
/// offline) keeps no datahash and is counted in the result.
///
/// # Errors
///
/// A file that is there but is not the package the index describes (size, identity,
/// datahash or structure), and repository failures other than absence.
pub fn fill_datahashes(
    lock: &mut Lockfile,
    profile: &ProfileCore,
    repo: &RepoArgs,
) -> anyhow::Result<MissingDatahashes> {
    let repositories = repo.repositories_or(profile.repositories.clone());
    let trust = repo.trust(&profile.keys);
    let keyring = super::apk::load_keyring(&trust.key_paths)?;
    let fetcher = repo.fetcher()?;
    let arch = lock.image.arch.clone();
    let results: Vec<anyhow::Result<Result<String, String>>> =
        lock.packages
            .par_iter()
            .map(|p| {
                let source = repositories
                .iter()
                .find(|r| r.location_str() == p.repository)
                .with_context(|| {
                    format!(
                        "package `{}` comes from `{}`, which is not among the repositories in use",
                        p.id(),
                        p.repository
                    )
                })?;
                let identity: Checksum = p.checksum.parse().with_context(|| {
                    format!("package `{}`: bad identity `{}`", p.id(), p.checksum)
                })?;
                let expected = ExpectedChecksum {
                    size: Some(p.size),
                    sha256: None,
                };
                let file = format!("{}.apk", p.id());
                let mut options = ReadOptions::new(&keyring);
                options.expected_identity = Some(&identity);
                // Set by the check of the copy that is accepted (the last one checked).
                let datahash = std::cell::Cell::new(None);
                let verify = |bytes: &[u8]| {
                    let package = package::read_package(bytes, &file, &options, |_, _| Ok(()))?;
                    datahash.set(Some(package.datahash));
                    Ok::<(), package::Error>(())
                };
                match fetcher.fetch_package(source, &arch, &p.name, &p.version, &expected, verify) {
                    Ok(_) => datahash
                        .take()
                        .map(Ok)
                        .with_context(|| format!("package `{}` was not checked", p.id())),
                    Err(err) if is_absent(&err) => Ok(Err(err.to_string())),
                    Err(err) => Err(with_hint(err)),
                }
            })
            .collect();
    let mut missing = MissingDatahashes {
        total: lock.packages.len(),
        ..MissingDatahashes::default()
    };
    for (p, result) in lock.packages.iter_mut().zip(results) {
        match result? {
            Ok(datahash) => p.datahash = Some(datahash),
            Err(reason) => {
                p.datahash = None;
                missing.count += 1;
                if missing.first.is_none() {
                    missing.first = Some((p.id(), reason));
                }
            }
        }
    }
    Ok(missing)
}

/// Whether a fetch failed because the file is not there (rather than being wrong).
fn is_absent(err: &crate::repo::Error) -> bool {
    use crate::repo::{Error, HttpFailure};
    match err {
        Error::LocalNotFound { .. } | Error::NotCached { .. } => true,
        Error::Http {
            failure: HttpFailure::Status { code, .. },
            ..
        } => matches!(code, 404 | 410),
        _ => false,
    }
}

/// Where the lock of `profile` goes by default: `NAME.lock` beside it.
#[must_use]
pub fn default_path(profile: &Path) -> PathBuf {
    profile.with_extension("lock")
}

/// Runs `basalt lock`.
///
/// # Errors
///
/// As [`compute`], and an unwritable lock.
pub fn run(args: &Args) -> anyhow::Result<ExitStatus> {
    let Args {
        profile,
        output,
        check,
        no_datahash,
        repo,
    } = args;
    let core = read_profile_core(profile)?;
    let path = output.clone().unwrap_or_else(|| default_path(profile));
    let Locked { mut lock, warnings } =
        compute(&core, repo).with_context(|| format!("failed to lock `{}`", profile.display()))?;
    let mut stderr = super::terminal::stderr();
    for w in &warnings {
        writeln!(stderr, "warning: {w}")?;
    }
    // `--check` compares what the indexes say; a datahash known on one side only is no
    // difference (the identity pins it), so the package files are not needed for it.
    if !*check && !*no_datahash {
        let missing = fill_datahashes(&mut lock, &core, repo)
            .with_context(|| format!("failed to lock `{}`", profile.display()))?;
        if let Some(note) = missing.note() {
            writeln!(stderr, "note: {note}")?;
        }
    }
    let mut stdout = super::terminal::stdout();
    if *check {
        let display = path.display();
        let existing = match crate::input::read_text(&path, crate::input::MAX_DOCUMENT, "a lock") {
            Ok(text) => Lockfile::parse(&text, &display.to_string())?,
            Err(crate::input::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                writeln!(stdout, "lock `{display}` is missing")?;
                return Ok(ExitStatus::Problem);
            }
            Err(e) => return Err(e.into()),
        };
        let changes = existing.differences(&lock);
        if changes.is_empty() {
            writeln!(stdout, "lock `{display}` is up to date")?;
            return Ok(ExitStatus::Clean);
        }
        writeln!(stdout, "lock `{display}` is stale:")?;
        for c in changes {
            writeln!(stdout, "  {c}")?;
        }
        return Ok(ExitStatus::Problem);
    }
    write_atomically(&path, lock.to_text()?.as_bytes())?;
    writeln!(
        stdout,
        "locked {} packages for {} {} ({}) in `{}`",
        lock.packages.len(),
        lock.image.name,
        lock.image.version,
        lock.image.arch,
        path.display()
    )?;
    Ok(ExitStatus::Clean)
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place, so that a
/// reader never sees half a lock and a failure leaves the old one.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::output::write(path, bytes, 0o644)
        .with_context(|| format!("failed to write lock `{}`", path.display()))
}
