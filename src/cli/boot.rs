//! What a build boots and which bootable outputs it writes: the kernel (an Alpine package of
//! the profile, or files built elsewhere), the initramfs (the whole root, in memory at boot)
//! with the kernel and its command line beside it, and the UKI.
//!
//! Invariants: every input file (kernel, modules, EFI stub) is read before anything is
//! fetched, so a bad path fails the build at once; outputs are pure functions of the final
//! tree, the kernel and the stub; names carry no build-machine path.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;

use crate::build::initramfs::Compression;
use crate::build::kernel::{self, Kernel};
use crate::build::pipeline::Built;
use crate::profile::Profile;

/// How the initramfs is compressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressionArg {
    /// gzip (every kernel reads it)
    #[default]
    Gzip,
    /// zstd (`CONFIG_RD_ZSTD`): smaller and faster to unpack
    Zstd,
}

impl From<CompressionArg> for Compression {
    fn from(c: CompressionArg) -> Compression {
        match c {
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        }
    }
}

/// A kind of output `basalt build --emit` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Emit {
    /// `NAME-VERSION.tar.gz`: the root archive.
    Archive,
    /// `NAME-VERSION.cpio.gz` (or `.cpio.zst`), `NAME-VERSION.vmlinuz` and
    /// `NAME-VERSION.cmdline`: root in memory, for direct kernel boot or PXE.
    Initramfs,
    /// `NAME-VERSION.efi`: a Unified Kernel Image for an EFI system partition.
    Uki,
    /// `NAME-VERSION.raw` (and `.qcow2` when `qemu-img` is present): a GPT disk with an EFI
    /// system partition, the image as a read-only squashfs root and its dm-verity hash tree.
    Disk,
}

/// The arguments that boot an initramfs root with busybox init, before the profile's own.
pub const INIT_ARGUMENTS: &str = "rdinit=/sbin/init";

/// Why a plan cannot be made.
#[derive(Debug)]
pub enum PlanError {
    /// The command line asks for something that cannot be done (exit 2, with a hint).
    Usage(String),
    /// An input could not be read or used.
    Failed(anyhow::Error),
}

/// The bootable part of a build, decided before anything is fetched.
#[derive(Debug)]
pub struct Plan {
    emit: Vec<Emit>,
    external: Option<Kernel>,
    stub: Option<(String, Vec<u8>)>,
    compression: Compression,
    cmdline: String,
}

impl Plan {
    /// Checks the outputs asked for against the kernel sources and reads the kernel files
    /// and the EFI stub.
    ///
    /// # Errors
    /// [`PlanError::Usage`] for a contradiction (a UKI without stub, a boot output without
    /// kernel, two kernels); [`PlanError::Failed`] when a file cannot be read or used.
    pub fn new(
        profile: &Profile,
        emit: &[Emit],
        kernel_path: Option<&Path>,
        modules_dir: Option<&Path>,
        efi_stub: Option<&Path>,
        compression: Compression,
    ) -> Result<Plan, PlanError> {
        let mut emit = emit.to_vec();
        emit.sort();
        emit.dedup();
        let boots = emit.contains(&Emit::Initramfs)
            || emit.contains(&Emit::Uki)
            || emit.contains(&Emit::Disk);
        if let (Some(path), Some(package)) = (kernel_path, &profile.boot.kernel) {
            return Err(PlanError::Usage(format!(
                "two kernels: --kernel `{}` and the profile's `[boot] kernel = \"{package}\"`\n\nhint: drop one of them",
                path.display()
            )));
        }
        if boots && kernel_path.is_none() && profile.boot.kernel.is_none() {
            return Err(PlanError::Usage(format!(
                "--emit {} needs a kernel, and profile `{}` names none\n\nhint: add `[boot] kernel = \"linux-virt\"` to the profile, or pass `--kernel VMLINUZ --kernel-modules DIR`",
                if emit.contains(&Emit::Disk) {
                    "disk"
                } else if emit.contains(&Emit::Uki) {
                    "uki"
                } else {
                    "initramfs"
                },
                profile.path.display()
            )));
        }
        let needs_stub = emit.contains(&Emit::Uki) || emit.contains(&Emit::Disk);
        let stub = match (needs_stub, efi_stub) {
            (true, None) => {
                return Err(PlanError::Usage(format!(
                    "--emit {} needs the EFI stub to build on\n\nhint: pass `--efi-stub /usr/lib/systemd/boot/efi/linuxx64.efi.stub` (Debian's systemd-boot-efi)",
                    if emit.contains(&Emit::Uki) {
                        "uki"
                    } else {
                        "disk"
                    }
                )));
            }
            (true, Some(path)) => {
                let bytes = fs_err::read(path)
                    .with_context(|| format!("failed to read the EFI stub `{}`", path.display()))
                    .map_err(PlanError::Failed)?;
                Some((file_name(path), bytes))
            }
            (false, _) => None,
        };
        let external = kernel_path
            .map(|path| read_kernel(path, modules_dir, &profile.boot.modules))
            .transpose()
            .map_err(PlanError::Failed)?;
        Ok(Plan {
            emit,
            external,
            stub,
            compression,
            cmdline: format!("{INIT_ARGUMENTS} {}", profile.boot.cmdline)
                .trim()
                .to_owned(),
        })
    }

    /// Whether the root archive is written.
    #[must_use]
    pub fn archive(&self) -> bool {
        self.emit.contains(&Emit::Archive)
    }

    /// Whether the image boots with its root in memory (an initramfs, alone or in a UKI).
    #[must_use]
    pub fn ram_root(&self) -> bool {
        self.emit.contains(&Emit::Initramfs) || self.emit.contains(&Emit::Uki)
    }

    /// The kernel command line of the boot outputs.
    #[must_use]
    pub fn cmdline(&self) -> &str {
        &self.cmdline
    }

    /// Whether a disk is written.
    #[must_use]
    pub fn disk(&self) -> bool {
        self.emit.contains(&Emit::Disk)
    }

    /// The EFI stub (file name, bytes), when a UKI or a disk is written.
    #[must_use]
    pub fn stub(&self) -> Option<(&str, &[u8])> {
        self.stub
            .as_ref()
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
    }

    /// The kernel built elsewhere (`--kernel`), for [`BuildOptions::kernel`]; `None` when
    /// the kernel is the profile's package, or there is none.
    ///
    /// [`BuildOptions::kernel`]: crate::build::pipeline::BuildOptions::kernel
    pub fn take_kernel(&mut self) -> Option<Kernel> {
        self.external.take()
    }

    /// The boot outputs of a finished build: `(file name, bytes)`.
    ///
    /// # Errors
    /// When the initramfs or the UKI cannot be made.
    pub fn boot_outputs(
        &self,
        stem: &str,
        built: &Built,
        kernel: &Kernel,
    ) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        if !self.ram_root() {
            return Ok(out);
        }
        let initramfs =
            crate::build::initramfs::write(&built.tree, built.report.epoch, self.compression)
                .context("failed to write the initramfs")?;
        let cmdline = format!("{}\n", self.cmdline);
        if let Some((stub_name, stub)) = self
            .stub
            .as_ref()
            .filter(|_| self.emit.contains(&Emit::Uki))
        {
            let osrel = ["/usr/lib/os-release", "/etc/os-release"]
                .iter()
                .find_map(|p| built.tree.read_file(p))
                .unwrap_or_default()
                .to_vec();
            let uki = crate::build::uki::build(
                stub_name,
                stub,
                &crate::build::uki::Sections {
                    osrel,
                    cmdline: self.cmdline.clone().into_bytes(),
                    uname: kernel.version.clone().into_bytes(),
                    initrd: initramfs.clone(),
                    linux: kernel.image.clone(),
                },
            )?;
            out.push((format!("{stem}.efi"), uki));
        }
        if self.emit.contains(&Emit::Initramfs) {
            out.push((format!("{stem}.{}", self.compression.suffix()), initramfs));
            out.push((format!("{stem}.vmlinuz"), kernel.image.clone()));
            out.push((format!("{stem}.cmdline"), cmdline.into_bytes()));
        }
        Ok(out)
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Reads a kernel built elsewhere: the boot image, and the modules directory (every regular
/// file under it, bounded; symbolic links such as `build` and `source` are skipped).
fn read_kernel(
    path: &Path,
    modules_dir: Option<&Path>,
    wanted: &[String],
) -> anyhow::Result<Kernel> {
    use std::io::Read as _;
    let read_bounded = |p: &Path, max: u64| -> anyhow::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        fs_err::File::open(p)?
            .take(max + 1)
            .read_to_end(&mut bytes)?;
        anyhow::ensure!(
            bytes.len() as u64 <= max,
            "`{}` is larger than {max} bytes",
            p.display()
        );
        Ok(bytes)
    };
    let image = read_bounded(path, kernel::MAX_KERNEL_BYTES)
        .with_context(|| format!("failed to read the kernel `{}`", path.display()))?;
    let modules = match modules_dir {
        None => None,
        Some(dir) => {
            let version = file_name(dir);
            let mut contents = BTreeMap::new();
            for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
                let entry = entry.with_context(|| {
                    format!("failed to read the modules in `{}`", dir.display())
                })?;
                if !entry.file_type().is_file() {
                    continue;
                }
                let rel = entry
                    .path()
                    .strip_prefix(dir)
                    .context("a module outside its directory")?
                    .to_string_lossy()
                    .into_owned();
                let keep = kernel::module_name(&rel).is_some()
                    || [
                        "modules.builtin",
                        "modules.builtin.modinfo",
                        "modules.order",
                    ]
                    .contains(&rel.as_str());
                if keep {
                    contents.insert(rel, read_bounded(entry.path(), kernel::MAX_MODULE_BYTES)?);
                }
            }
            Some((version, contents))
        }
    };
    let kernel = match modules {
        Some((version, contents)) => {
            kernel::from_files(&file_name(path), image, Some((&version, contents)), wanted)?
        }
        None => kernel::from_files(&file_name(path), image, None, wanted)?,
    };
    Ok(kernel)
}
