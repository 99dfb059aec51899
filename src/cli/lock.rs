//! `basalt lock PROFILE`: resolve the profile's packages against its repositories (or
//! `--repository`) and write the lock beside it; `--check` says whether the lock is stale.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::ExitStatus;
use super::repo_args::RepoArgs;
use crate::build::fetch;
use crate::build::lock::{self, LockProfile, Locked, Lockfile};

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

/// Runs `basalt lock`.
///
/// # Errors
///
/// As [`lock::lock`], and an unwritable lock.
pub fn run(args: &Args) -> anyhow::Result<ExitStatus> {
    let Args {
        profile,
        output,
        check,
        no_datahash,
        repo,
    } = args;
    let core = LockProfile::from_profile(&crate::profile::load(profile)?, profile)?;
    let access = repo.access(&core.repositories, &core.keys);
    let path = output
        .clone()
        .unwrap_or_else(|| lock::default_path(profile));
    let Locked { mut lock, warnings } = lock::lock(&core, &access)
        .with_context(|| format!("failed to lock `{}`", profile.display()))?;
    let mut stderr = super::terminal::stderr();
    for w in &warnings {
        writeln!(stderr, "warning: {w}")?;
    }
    // `--check` compares what the indexes say; a datahash known on one side only is no
    // difference (the identity pins it), so the package files are not needed for it.
    if !*check && !*no_datahash {
        let missing = fetch::fill_datahashes(&mut lock, &access)
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
