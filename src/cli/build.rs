//! `basalt build`: a profile becomes a host image, its manifest (signed with `--sign-key`),
//! an SPDX SBOM and a build report, written atomically into the output directory.
//!
//! A profile with `[verify] at_boot` set to `warn` or `enforce` gets the verifier in its
//! image: the basalt binary at `/usr/sbin/basalt` (from `--verifier`, else the running
//! executable; it must be statically linked, see `ci/build-static`), the public key of
//! `--sign-key` in `/etc/basalt/keys/`, and the signed manifest with its signature at
//! `/etc/basalt/manifest` and `/etc/basalt/manifest.minisig`.

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
use crate::profile::{self, AtBoot, Profile};
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
    /// Sign the manifest with this minisign secret key (required when the profile verifies
    /// at boot)
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// The statically linked basalt to embed as the boot-time verifier (default: this
    /// executable); see `ci/build-static`
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
    /// the root in memory) and `uki` (NAME-VERSION.efi, needs --efi-stub)
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
    let plan = match super::boot::Plan::new(
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
    let at_boot = profile.verify.at_boot != AtBoot::Off;
    if at_boot && sign_key.is_none() {
        progress.clear();
        writeln!(
            std::io::stderr(),
            "error: profile `{}` verifies the host at boot (`[verify] at_boot`), so its manifest must be signed, but no --sign-key was given\n\nhint: create a key pair with `basalt keygen --out KEY` and pass `--sign-key KEY.key`",
            profile_path.display()
        )?;
        return Ok(ExitStatus::Error);
    }
    let core = lock_cmd::read_profile_core(profile_path)?;
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
    let mut options = assembly_options(&profile, epoch)?;
    options.files.extend(verifier);
    options.kernel_files = plan.kernel_files();
    let mut assembled = pipeline::assemble(packages, &options)
        .with_context(|| format!("failed to assemble `{}`", profile.image.name))?;
    pipeline::write_apk_database(&mut assembled, &options.world)?;
    if plan.ram_root() || plan.disk() {
        // A root in memory is verified as it is at runtime, and a disk's root cannot change:
        // what OpenRC would change at the first boot is done now.
        let applied = crate::effects::openrc_run_links(&mut assembled.tree)?;
        assembled.effects.extend(applied);
    }
    if plan.disk() {
        let dhcp_resolver = profile.network.uses_dhcp() && !profile.network.static_resolver();
        let applied = crate::disk::read_only_root_links(&mut assembled.tree, dhcp_resolver)
            .context("failed to prepare the read-only root")?;
        assembled.effects.extend(applied);
    }
    let kernel = plan
        .kernel(&profile, &mut assembled)
        .with_context(|| format!("failed to take the kernel of `{}`", profile.image.name))?;

    progress.stage("writing the image");
    let mut policy = profile.filesystem.runtime_policy();
    if (plan.ram_root() || plan.disk()) && !policy.ephemeral.iter().any(|p| p == "/dev") {
        // A booted host has devtmpfs over /dev: what the image has there is never seen.
        policy.ephemeral.push("/dev".to_owned());
        policy.ephemeral.sort();
    }
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
        sign_key: secret,
        embed_manifest: at_boot,
        disk: plan.disk().then(crate::disk::squashfs::Options::default),
        kernel: kernel.as_ref().map(crate::kernel::Kernel::record),
    };
    let mut built = pipeline::finish(assembled, &outputs)?;

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
    if let Some(kernel) = &kernel {
        progress.stage("writing the boot outputs");
        for (name, bytes) in plan.boot_outputs(&stem, &built, kernel)? {
            built
                .report
                .outputs
                .insert(name.clone(), hex::encode(sha2::Sha256::digest(&bytes)));
            files.push((name, bytes));
        }
        if let (Some(helper), Some(stub)) = (&disk_helper, plan.stub()) {
            progress.stage("writing the disk");
            let disk = super::disk::outputs(&profile, stub, &stem, &mut built, kernel, helper)?;
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
        kernel_files: BTreeMap::new(),
    })
}

/// The verifier's files: the binary at [`pipeline::VERIFIER_PATH`] (0755 root) and the
/// public key of `secret` in [`pipeline::VERIFIER_KEYS`]; warns when the binary is not a
/// statically linked ELF, which would not run on the image.
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
    match elf_linking(&bytes) {
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
    let public = secret.public();
    let mut files = BTreeMap::new();
    files.insert(pipeline::VERIFIER_PATH.to_owned(), Node::file(bytes, 0o755));
    files.insert(
        format!("{}/{}.pub", pipeline::VERIFIER_KEYS, public.id),
        Node::file(public.render().into_bytes(), 0o644),
    );
    Ok(files)
}

/// Whether `bytes` is an ELF program without a program interpreter.
pub(crate) fn is_static_elf(bytes: &[u8]) -> bool {
    elf_linking(bytes) == Linking::Static
}

/// How an executable is linked, as far as running it on another system goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Linking {
    /// An ELF file without a program interpreter.
    Static,
    /// An ELF file that names a program interpreter (`PT_INTERP`): it needs a dynamic loader
    /// and libraries.
    Dynamic,
    /// Not an ELF file (or a truncated one).
    NotElf,
}

/// Reads the ELF header and program headers of `bytes` looking for `PT_INTERP`.
fn elf_linking(bytes: &[u8]) -> Linking {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 52 || &bytes[..4] != b"\x7fELF" {
        return Linking::NotElf;
    }
    let little = match bytes[5] {
        1 => true,
        2 => false,
        _ => return Linking::NotElf,
    };
    let int = |at: usize, len: usize| -> Option<u64> {
        let field = bytes.get(at..at.checked_add(len)?)?;
        let mut n = 0u64;
        for i in 0..len {
            let b = if little { field[len - 1 - i] } else { field[i] };
            n = (n << 8) | u64::from(b);
        }
        Some(n)
    };
    // (e_phoff, e_phentsize, e_phnum) for ELF32 and ELF64.
    let header = match bytes[4] {
        1 => int(0x1c, 4).zip(int(0x2a, 2)).zip(int(0x2c, 2)),
        2 => int(0x20, 8).zip(int(0x36, 2)).zip(int(0x38, 2)),
        _ => None,
    };
    let Some(((phoff, phentsize), phnum)) = header else {
        return Linking::NotElf;
    };
    for i in 0..phnum {
        let at = phentsize
            .checked_mul(i)
            .and_then(|off| off.checked_add(phoff))
            .and_then(|at| usize::try_from(at).ok());
        match at.and_then(|at| int(at, 4)) {
            Some(kind) if kind == u64::from(PT_INTERP) => return Linking::Dynamic,
            Some(_) => {}
            None => return Linking::NotElf,
        }
    }
    Linking::Static
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF header (64- or 32-bit, either byte order) followed by program headers of the
    /// given types.
    fn elf(class64: bool, little: bool, types: &[u32]) -> Vec<u8> {
        let (phoff, phentsize): (u64, u16) = if class64 { (64, 56) } else { (52, 32) };
        let mut bytes = vec![0u8; usize::try_from(phoff).unwrap()];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = if class64 { 2 } else { 1 };
        bytes[5] = if little { 1 } else { 2 };
        let put = |bytes: &mut Vec<u8>, at: usize, value: u64, len: usize| {
            for i in 0..len {
                let shift = 8 * if little { i } else { len - 1 - i };
                bytes[at + i] = u8::try_from((value >> shift) & 0xff).unwrap();
            }
        };
        let n = u64::try_from(types.len()).unwrap();
        if class64 {
            put(&mut bytes, 0x20, phoff, 8);
            put(&mut bytes, 0x36, u64::from(phentsize), 2);
            put(&mut bytes, 0x38, n, 2);
        } else {
            put(&mut bytes, 0x1c, phoff, 4);
            put(&mut bytes, 0x2a, u64::from(phentsize), 2);
            put(&mut bytes, 0x2c, n, 2);
        }
        for kind in types {
            let at = bytes.len();
            bytes.resize(at + usize::from(phentsize), 0);
            put(&mut bytes, at, u64::from(*kind), 4);
        }
        bytes
    }

    #[test]
    fn a_program_interpreter_makes_an_elf_dynamic() {
        for class64 in [true, false] {
            for little in [true, false] {
                let case = format!("64-bit {class64}, little-endian {little}");
                // PT_PHDR, PT_INTERP, PT_LOAD: a dynamically linked executable.
                assert_eq!(
                    elf_linking(&elf(class64, little, &[6, 3, 1])),
                    Linking::Dynamic,
                    "{case}"
                );
                // PT_LOAD, PT_LOAD, PT_TLS, PT_GNU_STACK: a static one.
                assert_eq!(
                    elf_linking(&elf(class64, little, &[1, 1, 7, 0x6474_e551])),
                    Linking::Static,
                    "{case}"
                );
            }
        }
    }

    #[test]
    fn scripts_and_truncated_files_are_not_elf() {
        assert_eq!(elf_linking(b"#!/bin/sh\necho hi\n"), Linking::NotElf);
        assert_eq!(elf_linking(b"\x7fELF"), Linking::NotElf);
        let mut cut = elf(true, true, &[1, 3]);
        cut.truncate(64 + 56);
        assert_eq!(elf_linking(&cut), Linking::NotElf);
        let mut bad_class = elf(true, true, &[1]);
        bad_class[4] = 9;
        assert_eq!(elf_linking(&bad_class), Linking::NotElf);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..400 {
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    u8::try_from(state & 0xff).unwrap()
                })
                .collect();
            if bytes.len() > 6 {
                bytes[..4].copy_from_slice(b"\x7fELF");
                bytes[4] = 1 + u8::try_from(len % 2).unwrap();
                bytes[5] = 1 + u8::try_from((len / 2) % 2).unwrap();
            }
            let _ = elf_linking(&bytes);
        }
    }
}
