//! `basalt build`: a profile becomes a host image, its manifest (signed with `--sign-key`),
//! an SPDX SBOM and a build report, written atomically into the output directory.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use rayon::prelude::*;
use sha2::Digest as _;

use super::lock::{self as lock_cmd, ProfileCore};
use super::repo_args::{RepoArgs, with_hint};
use super::{ExitStatus, Format};
use crate::apk::checksum::Checksum;
use crate::effects::{ProfileGroup, ProfileUser};
use crate::lock::Lockfile;
use crate::pipeline::{self, LoadedPackage, Options, OutputOptions};
use crate::profile::{self, Profile};
use crate::render;
use crate::repo::{ExpectedChecksum, Repository};
use crate::sign;
use crate::tree::{Content, Node, NodeKind};
use crate::unpack::Limits;

/// Build a host image from a profile
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The host profile (TOML)
    pub profile: PathBuf,
    /// Build exactly what the lock beside the profile (NAME.lock) pins; exit 1 when it is
    /// missing or stale
    #[arg(long)]
    pub locked: bool,
    /// Directory to write the image, manifest, SBOM and report into
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// Sign the manifest with this minisign secret key
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// How to print the report on stdout
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// Runs `basalt build`.
///
/// # Errors
/// Anything that stops the build; nothing is left in the output directory then.
pub fn run(args: &Args) -> anyhow::Result<ExitStatus> {
    let Args {
        profile: profile_path,
        locked,
        out,
        sign_key,
        format,
        repo,
    } = args;
    let progress = Progress::new();
    progress.stage("reading profile");
    let profile = profile::load(profile_path)?;
    let core = lock_cmd::read_profile_core(profile_path)?;
    let secret = sign_key
        .as_ref()
        .map(|path| -> anyhow::Result<sign::SecretKey> {
            let text = fs_err::read_to_string(path)?;
            sign::SecretKey::parse(&text)
                .with_context(|| format!("failed to read secret key `{}`", path.display()))
        })
        .transpose()?;

    progress.stage("resolving");
    let computed = lock_cmd::compute(&core, repo)
        .with_context(|| format!("failed to resolve `{}`", profile_path.display()))?;
    for warning in &computed.warnings {
        progress.warn(warning);
    }
    let lock = if *locked {
        let path = lock_cmd::default_path(profile_path);
        let text = match fs_err::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                progress.clear();
                writeln!(
                    std::io::stderr(),
                    "error: `--locked` but `{}` does not exist\n\nhint: create it with `basalt lock {}`",
                    path.display(),
                    profile_path.display()
                )?;
                return Ok(ExitStatus::Problem);
            }
            Err(e) => return Err(e.into()),
        };
        let existing = Lockfile::parse(&text, &path.display().to_string())?;
        let changes = existing.differences(&computed.lock);
        if !changes.is_empty() {
            progress.clear();
            let mut stderr = std::io::stderr().lock();
            writeln!(stderr, "error: lock `{}` is stale:", path.display())?;
            for c in changes {
                writeln!(stderr, "  {c}")?;
            }
            writeln!(
                stderr,
                "\nhint: update it with `basalt lock {}`",
                profile_path.display()
            )?;
            return Ok(ExitStatus::Problem);
        }
        existing
    } else {
        computed.lock
    };

    progress.stage("fetching and verifying packages");
    let packages = fetch(&core, repo, &lock, &progress)?;

    progress.stage("assembling");
    let epoch = epoch(&profile, &packages)?;
    let options = assembly_options(&profile, epoch)?;
    let mut assembled = pipeline::assemble(packages, &options)
        .with_context(|| format!("failed to assemble `{}`", profile.image.name))?;
    pipeline::write_apk_database(&mut assembled, &options.world)?;

    progress.stage("writing the image");
    let policy = profile.filesystem.runtime_policy();
    let outputs = OutputOptions {
        name: profile.image.name.clone(),
        version: profile.image.version.clone(),
        epoch,
        profile_digest: Some(profile_digest(profile_path)?),
        lock_digest: Some(format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(lock.to_text()?.as_bytes()))
        )),
        policy: crate::manifest::RuntimePolicy {
            ephemeral: policy.ephemeral,
            state: policy.state,
            mutable: policy.mutable,
        },
    };
    let mut built = pipeline::finish(assembled, &outputs)?;

    let stem = built.stem();
    let manifest_text = built.manifest.render();
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (built.image_file.clone(), std::mem::take(&mut built.image)),
        (format!("{stem}.manifest"), manifest_text.clone()),
        (format!("{stem}.spdx.json"), built.sbom.clone()),
    ];
    if let Some(secret) = &secret {
        let signature = secret.sign(
            &manifest_text,
            "signature from basalt secret key",
            &format!("manifest {stem} {}", built.manifest.digest_string()),
        )?;
        let text = signature.render();
        built.report.outputs.insert(
            format!("{stem}.manifest.minisig"),
            hex::encode(sha2::Sha256::digest(text.as_bytes())),
        );
        files.push((format!("{stem}.manifest.minisig"), text.into_bytes()));
    }
    let mut json = serde_json::to_vec_pretty(&built.report)?;
    json.push(b'\n');
    files.push((format!("{stem}.report.json"), json.clone()));
    files.push((
        format!("{stem}.report.txt"),
        built.report.to_text().into_bytes(),
    ));
    write_outputs(out, &files)?;
    progress.clear();

    let mut stdout = std::io::stdout().lock();
    match format {
        Format::Human => {
            write!(stdout, "{}", built.report.to_text())?;
            writeln!(
                stdout,
                "\nwrote {} files to `{}`",
                files.len(),
                out.display()
            )?;
        }
        Format::Json => stdout.write_all(&json)?,
    }
    Ok(ExitStatus::Clean)
}

/// Fetches every locked package (in parallel), checks it against the lock and reads it.
fn fetch(
    core: &ProfileCore,
    repo: &RepoArgs,
    lock: &Lockfile,
    progress: &Progress,
) -> anyhow::Result<Vec<LoadedPackage>> {
    let repositories = repo.repositories_or(core.repositories.clone());
    let by_url: BTreeMap<&str, &Repository> =
        repositories.iter().map(|r| (r.location_str(), r)).collect();
    let trust = repo.trust(&core.keys);
    let keyring = super::apk::load_keyring(&trust.key_paths)?;
    let fetcher = repo.fetcher()?;
    let limits = Limits::default();
    progress.length(lock.packages.len());
    let loaded: Vec<anyhow::Result<LoadedPackage>> =
        lock.packages
            .par_iter()
            .map(|p| {
                let source = by_url.get(p.repository.as_str()).with_context(|| {
                    format!(
                        "package `{}` comes from `{}`, which is not among the repositories in use",
                        p.id(),
                        p.repository
                    )
                })?;
                let expected = ExpectedChecksum {
                    size: Some(p.size),
                    sha256: None,
                };
                let fetched = fetcher
                    .fetch_package(
                        source,
                        &lock.image.arch,
                        &p.name,
                        &p.version,
                        &expected,
                        |_| Ok::<(), std::convert::Infallible>(()),
                    )
                    .map_err(with_hint)?;
                let identity: Checksum = p.checksum.parse().with_context(|| {
                    format!("package `{}`: bad identity `{}`", p.id(), p.checksum)
                })?;
                let file = format!("{}.apk", p.id());
                let package =
                    pipeline::read_apk(&fetched.bytes, &file, &keyring, Some(&identity), limits)?;
                if let Some(expected) = &p.datahash
                    && !expected.eq_ignore_ascii_case(&package.datahash)
                {
                    anyhow::bail!(
                        "package `{}`: data section has SHA-256 {}, but the lock records datahash {expected}",
                        p.id(),
                        package.datahash
                    );
                }
                progress.tick(&p.name);
                Ok(package)
            })
            .collect();
    loaded.into_iter().collect()
}

/// `SOURCE_DATE_EPOCH`, else the profile's `epoch`, else the newest build time of the locked
/// packages: a date that only the lock decides.
fn epoch(profile: &Profile, packages: &[LoadedPackage]) -> anyhow::Result<u64> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("SOURCE_DATE_EPOCH `{v}` is not a number of seconds"));
    }
    if let Some(epoch) = profile.image.epoch {
        return Ok(epoch);
    }
    Ok(packages
        .iter()
        .filter_map(|p| p.meta.build_time)
        .max()
        .unwrap_or(0))
}

fn assembly_options(profile: &Profile, epoch: u64) -> anyhow::Result<Options> {
    let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (level, service) in profile.services.enabled() {
        services
            .entry(level.as_str().to_owned())
            .or_default()
            .push(service.to_owned());
    }
    let mut files = BTreeMap::new();
    for rendered in render::render_profile(profile)? {
        let kind = match rendered.content {
            render::Content::File(bytes) => NodeKind::File(Content::new(bytes)),
            render::Content::Directory => NodeKind::Dir,
        };
        let node = Node::new(kind, rendered.mode).owned(rendered.uid, rendered.gid);
        files.insert(rendered.path, node);
    }
    Ok(Options {
        name: profile.image.name.clone(),
        version: profile.image.version.clone(),
        epoch,
        services,
        files,
        world: profile.packages.names().map(str::to_owned).collect(),
        groups: profile
            .groups
            .iter()
            .map(|g| ProfileGroup {
                name: g.name.clone(),
                gid: g.gid,
                members: g.members.iter().cloned().collect(),
            })
            .collect(),
        users: profile
            .users
            .iter()
            .map(|u| ProfileUser {
                name: u.name.clone(),
                uid: u.uid,
                gid: u.gid,
                group: u.group.clone(),
                shell: u.shell.clone(),
                home: u.home.clone(),
            })
            .collect(),
        limits: Limits::default(),
    })
}

fn profile_digest(path: &Path) -> anyhow::Result<String> {
    let bytes = fs_err::read(path)?;
    Ok(format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(&bytes))
    ))
}

/// Writes every output to a temporary file in `dir`, then renames them all into place; on
/// any failure the temporary files are removed and nothing new is left behind.
fn write_outputs(dir: &Path, files: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    fs_err::create_dir_all(dir)?;
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for (name, bytes) in files {
            let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
            let mut file = fs_err::File::create(&tmp)?;
            staged.push((tmp, dir.join(name)));
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        for (tmp, path) in &staged {
            fs_err::rename(tmp, path)?;
        }
        Ok(())
    })();
    if result.is_err() {
        for (tmp, _) in &staged {
            let _ = fs_err::remove_file(tmp);
        }
    }
    result.with_context(|| format!("failed to write the outputs into `{}`", dir.display()))
}

/// A progress bar on a terminal; nothing when stderr is not one.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    warnings: Mutex<Vec<String>>,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {prefix} {wide_msg} {pos}/{len}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            warnings: Mutex::new(Vec::new()),
        }
    }

    fn stage(&self, name: &str) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(name.to_owned());
            bar.set_message("");
        }
    }

    fn length(&self, len: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(len as u64);
            bar.set_position(0);
        }
    }

    fn tick(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(what.to_owned());
            bar.inc(1);
        }
    }

    fn warn(&self, warning: &str) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(warning.to_owned());
        }
        match &self.bar {
            Some(bar) => bar.println(format!("warning: {warning}")),
            None => {
                let _ = writeln!(std::io::stderr(), "warning: {warning}");
            }
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}
