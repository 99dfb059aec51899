//! `basalt lock PROFILE`: resolve the profile's packages against its repositories (or
//! `--repository`) and write the lock beside it; `--check` says whether the lock is stale.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

use super::ExitStatus;
use super::repo_args::{RepoArgs, with_hint};
use crate::apk::dependency::Dependency;
use crate::apk::index;
use crate::apk::{Limits, SignatureStatus};
use crate::lock::{Inputs, LockedRepository, Lockfile};
use crate::repo::Repository;
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

/// Reads `[image]`, `[repositories]` and `[packages]` from a profile.
///
/// # Errors
///
/// An unreadable file, TOML errors (with line and column), missing or mistyped keys.
pub fn read_profile_core(path: &Path) -> anyhow::Result<ProfileCore> {
    let text = fs_err::read_to_string(path)?;
    let table: toml::Table = toml::from_str(&text)
        .with_context(|| format!("failed to parse profile `{}`", path.display()))?;
    let file = path.display().to_string();
    let section = |name: &str| -> anyhow::Result<Option<&toml::Table>> {
        match table.get(name) {
            None => Ok(None),
            Some(toml::Value::Table(t)) => Ok(Some(t)),
            Some(_) => bail!("profile `{file}`: `{name}` must be a table"),
        }
    };
    let string = |t: Option<&toml::Table>, section: &str, key: &str| -> anyhow::Result<String> {
        match t.and_then(|t| t.get(key)) {
            Some(toml::Value::String(s)) => Ok(s.clone()),
            Some(_) => bail!("profile `{file}`: `[{section}] {key}` must be a string"),
            None => bail!("profile `{file}`: `[{section}] {key}` is missing"),
        }
    };
    let strings = |t: Option<&toml::Table>,
                   section: &str,
                   key: &str|
     -> anyhow::Result<Vec<String>> {
        match t.and_then(|t| t.get(key)) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s.clone()),
                    _ => bail!("profile `{file}`: `[{section}] {key}` must list strings"),
                })
                .collect(),
            Some(_) => bail!("profile `{file}`: `[{section}] {key}` must be an array of strings"),
        }
    };
    let image = section("image")?;
    let repos = section("repositories")?;
    let packages = section("packages")?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let repositories = strings(repos, "repositories", "urls")?
        .iter()
        .map(|u| {
            Repository::parse(u)
                .map_err(with_hint)
                .with_context(|| format!("profile `{file}`: `[repositories] urls`"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(ProfileCore {
        name: string(image, "image", "name")?,
        version: string(image, "image", "version")?,
        arch: string(image, "image", "arch")?,
        repositories,
        keys: strings(repos, "repositories", "keys")?
            .into_iter()
            .map(|k| dir.join(k))
            .collect(),
        install: strings(packages, "packages", "install")?,
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
        repo,
    } = args;
    let core = read_profile_core(profile)?;
    let path = output.clone().unwrap_or_else(|| default_path(profile));
    let Locked { lock, warnings } =
        compute(&core, repo).with_context(|| format!("failed to lock `{}`", profile.display()))?;
    let mut stderr = std::io::stderr().lock();
    for w in &warnings {
        writeln!(stderr, "warning: {w}")?;
    }
    let mut stdout = std::io::stdout().lock();
    if *check {
        let display = path.display();
        let existing = match fs_err::read_to_string(&path) {
            Ok(text) => Lockfile::parse(&text, &display.to_string())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
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
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("`{}` is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut file = fs_err::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs_err::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs_err::remove_file(&tmp);
    }
    result.with_context(|| format!("failed to write lock `{}`", path.display()))
}
