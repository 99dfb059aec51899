//! `basalt build`: a profile becomes a host image, its manifest (signed with `--sign-key`),
//! an SPDX SBOM and a build report, written atomically into the output directory.
//!
//! A profile with `[verify] at_boot` set to `warn` or `enforce`, or with `[verify] every`,
//! gets the verifier in its image: the basalt binary at `/usr/sbin/basalt` (from `--verifier`, else the running
//! executable; it must be statically linked, see `ci/build-static`), the public key of
//! `--sign-key` in `/etc/basalt/keys/`, and the signed manifest with its signature at
//! `/etc/basalt/manifest` and `/etc/basalt/manifest.minisig`.
//!
//! With `--emit initramfs`, `uki` or `disk` (and a kernel: `--kernel`, or the profile's
//! `[boot] kernel` package), the image boots: [`super::boot`] plans and writes the initramfs
//! and UKI, [`super::disk`] the verified disk.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use sha2::Digest as _;

use super::repo_args::RepoArgs;
use super::{ExitStatus, Format};
use crate::build::fetch;
use crate::build::lock::{self, LockProfile, Lockfile};
use crate::build::pipeline::{self, BuildOptions};
use crate::build::verifier::{self, Linking};
use crate::integrity::sign;
use crate::profile;
use crate::tree::Node;

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
    /// Sign the manifest with this minisign secret key (required when the profile verifies
    /// at boot)
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// The statically linked basalt to embed as the boot-time verifier and, with `--emit
    /// disk`, to set up dm-verity in the disk's initramfs (default: this executable); see
    /// `ci/build-static`
    #[arg(long, value_name = "PATH")]
    pub verifier: Option<PathBuf>,
    /// How to print the report on stdout
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// A kernel built elsewhere (a Linux boot image, `vmlinuz`) to boot the image with,
    /// instead of the profile's `[boot] kernel` package
    #[arg(long, value_name = "VMLINUZ")]
    pub kernel: Option<PathBuf>,
    /// The modules directory of that kernel (`/lib/modules/VERSION`); the modules a host needs
    /// enter the image with their dependencies, `modules.dep` and `modules.alias`
    #[arg(long, value_name = "DIR", requires = "kernel")]
    pub kernel_modules: Option<PathBuf>,
    /// What to write besides the manifest, SBOM and report: `archive` (NAME-VERSION.tar.gz),
    /// `initramfs` (NAME-VERSION.cpio.gz with NAME-VERSION.vmlinuz and .cmdline beside it:
    /// the root in memory), `uki` (NAME-VERSION.efi, needs --efi-stub) and `disk`
    /// (NAME-VERSION.raw: a GPT disk with a dm-verity root, needs --efi-stub)
    #[arg(long, value_enum, value_delimiter = ',', default_value = "archive")]
    pub emit: Vec<super::boot::Emit>,
    /// The EFI stub a UKI is built on (e.g. systemd's `linuxx64.efi.stub`)
    #[arg(long, value_name = "PATH")]
    pub efi_stub: Option<PathBuf>,
    /// How the initramfs is compressed
    #[arg(long, value_enum, default_value_t)]
    pub initramfs_compression: super::boot::CompressionArg,
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
        verifier,
        format,
        repo,
        kernel: kernel_path,
        kernel_modules,
        emit,
        efi_stub,
        initramfs_compression,
    } = args;
    let progress = Progress::new();
    progress.stage("reading profile");
    let mut profile = profile::load(profile_path)?;
    let mut plan = match super::boot::Plan::new(
        &profile,
        emit,
        kernel_path.as_deref(),
        kernel_modules.as_deref(),
        efi_stub.as_deref(),
        (*initramfs_compression).into(),
    ) {
        Ok(plan) => plan,
        Err(super::boot::PlanError::Usage(message)) => {
            progress.clear();
            writeln!(std::io::stderr(), "error: {message}")?;
            return Ok(ExitStatus::Error);
        }
        Err(super::boot::PlanError::Failed(e)) => return Err(e),
    };
    // A root in memory has no root line in its fstab.
    profile.boot.ram_root = plan.ram_root();
    // A disk's root is mounted by its initramfs; its fstab line only keeps it read-only.
    profile.boot.verity_root = plan.disk();
    if plan.disk() && !profile.filesystem.read_only_root {
        progress.clear();
        writeln!(
            std::io::stderr(),
            "error: --emit disk makes a read-only, verified root, but profile `{}` asks for a writable one (`[filesystem] read_only_root = false`)\n\nhint: keep what must change under `ephemeral` and `[[filesystem.state]]` paths and set `read_only_root = true`",
            profile_path.display()
        )?;
        return Ok(ExitStatus::Error);
    }
    if kernel_path.is_some() && kernel_modules.is_none() {
        progress.warn(
            "--kernel without --kernel-modules: the image gets no kernel modules, so only what is built into the kernel works (disks, network)",
        );
    }
    let at_boot = profile.verify.embeds_verifier();
    if at_boot && sign_key.is_none() {
        progress.clear();
        writeln!(
            std::io::stderr(),
            "error: profile `{}` makes the host verify itself (`[verify]`), so its manifest must be signed, but no --sign-key was given\n\nhint: create a key pair with `basalt keygen --out KEY` and pass `--sign-key KEY.key`",
            profile_path.display()
        )?;
        return Ok(ExitStatus::Error);
    }
    let core = LockProfile::from_profile(&profile, profile_path)?;
    let access = repo.access(&core.repositories, &core.keys);
    let secret = sign_key
        .as_ref()
        .map(|path| -> anyhow::Result<sign::SecretKey> {
            let text = fs_err::read_to_string(path)?;
            sign::SecretKey::parse(&text)
                .with_context(|| format!("failed to read secret key `{}`", path.display()))
        })
        .transpose()?;
    // The verifier is read before anything is fetched: a bad path fails the build at once.
    let disk_helper = if plan.disk() {
        Some(super::disk::read_helper(verifier.as_deref())?)
    } else {
        None
    };
    let verifier = match (&secret, at_boot) {
        (Some(secret), true) => verifier_files(verifier.as_deref(), secret, &progress)?,
        _ => BTreeMap::new(),
    };

    progress.stage("resolving");
    let computed = lock::lock(&core, &access)
        .with_context(|| format!("failed to resolve `{}`", profile_path.display()))?;
    for warning in &computed.warnings {
        progress.warn(warning);
    }
    let lock = if *locked {
        let path = lock::default_path(profile_path);
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
    progress.length(lock.packages.len());
    let packages = fetch::fetch(&lock, &access, &|name| progress.tick(name))?;

    progress.stage("assembling");
    let source_date_epoch =
        crate::epoch::parse(std::env::var(crate::epoch::VARIABLE).ok().as_deref())?;
    let mut built = pipeline::build(
        &profile,
        &lock,
        packages,
        BuildOptions {
            source_date_epoch,
            sign_key: secret,
            extra_files: verifier,
            kernel: plan.take_kernel(),
        },
    )?;

    progress.stage("writing the image");
    let stem = built.stem();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    if plan.archive() {
        files.push((built.image_file.clone(), std::mem::take(&mut built.image)));
    } else {
        built.report.outputs.remove(&built.image_file);
    }
    files.extend([
        (format!("{stem}.manifest"), built.manifest.render()),
        (format!("{stem}.spdx.json"), built.sbom.clone()),
    ]);
    if let Some(kernel) = built.kernel.take() {
        progress.stage("writing the boot outputs");
        for (name, bytes) in plan.boot_outputs(&stem, &built, &kernel)? {
            built
                .report
                .outputs
                .insert(name.clone(), hex::encode(sha2::Sha256::digest(&bytes)));
            files.push((name, bytes));
        }
        if let (Some(helper), Some(stub)) = (&disk_helper, plan.stub()) {
            progress.stage("writing the disk");
            let disk = super::disk::outputs(&profile, stub, &stem, &mut built, &kernel, helper)?;
            if let Some(why) = &disk.qcow2_skipped {
                progress.warn(why);
            }
            for (name, bytes) in disk.files {
                if files.iter().any(|(existing, _)| *existing == name) {
                    continue;
                }
                built
                    .report
                    .outputs
                    .insert(name.clone(), hex::encode(sha2::Sha256::digest(&bytes)));
                files.push((name, bytes));
            }
            built.report.disk = Some(disk.report);
        }
    }
    if let Some(signature) = &built.signature {
        files.push((
            format!("{stem}.manifest.minisig"),
            signature.render().into_bytes(),
        ));
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

/// The verifier's files (see [`verifier::files`]), read from `path` or the running
/// executable; warns when the binary is not a statically linked ELF, which would not run on
/// the image.
fn verifier_files(
    path: Option<&Path>,
    secret: &sign::SecretKey,
    progress: &Progress,
) -> anyhow::Result<BTreeMap<String, Node>> {
    let path = match path {
        Some(path) => path.to_path_buf(),
        None => std::env::current_exe()
            .context("cannot find the running basalt to embed as the verifier")?,
    };
    let bytes = fs_err::read(&path)
        .with_context(|| format!("failed to read the verifier `{}`", path.display()))?;
    match verifier::elf_linking(&bytes) {
        Linking::Static => {}
        Linking::Dynamic => progress.warn(&format!(
            "the verifier `{}` is dynamically linked and will probably not run on the image; embed a static basalt (`ci/build-static`) with --verifier",
            path.display()
        )),
        Linking::NotElf => progress.warn(&format!(
            "the verifier `{}` is not an ELF executable; embed a static basalt (`ci/build-static`) with --verifier",
            path.display()
        )),
    }
    Ok(verifier::files(bytes, &secret.public()))
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
