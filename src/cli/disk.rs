//! `basalt build --emit disk`: the disk's initramfs (from the image's own files, the kernel's
//! modules and the statically linked basalt), the UKI that carries it with `roothash=` on its
//! command line, and the GPT disk (ESP, squashfs root, dm-verity hash tree), raw and qcow2.
//!
//! Outputs: `NAME-VERSION.raw`, `NAME-VERSION.qcow2` (when `qemu-img` is found), and for
//! signing or booting the kernel directly, `NAME-VERSION.disk.efi` (the UKI on the ESP),
//! `NAME-VERSION.disk.cpio.gz` (its initramfs), `NAME-VERSION.disk.cmdline` and the kernel
//! (`NAME-VERSION.vmlinuz`).

use std::path::Path;

use anyhow::Context as _;

use crate::build::disk::{self, initramfs};
use crate::build::kernel::Kernel;
use crate::build::pipeline::Built;
use crate::build::verifier::{self, Linking};
use crate::profile::{AtBoot, Profile};

/// The bytes that only a basalt built with `--features dm` holds: the build looks for them in
/// the helper it puts into the disk's initramfs. Kept in two halves here so that a basalt
/// built without the feature does not hold the joined marker itself.
const DM_MARKER_HALVES: [&[u8]; 2] = [b"\0basalt-initramfs-", b"device-mapper\0"];

/// Whether `helper` was built with device-mapper support.
#[must_use]
pub fn supports_device_mapper(helper: &[u8]) -> bool {
    let marker = DM_MARKER_HALVES.concat();
    helper.windows(marker.len()).any(|w| w == marker.as_slice())
}

/// Reads the helper for the disk's initramfs: `--verifier`, else the running basalt. It must
/// be statically linked and built with device-mapper support.
///
/// # Errors
/// When it cannot be read, is not a static ELF program, or lacks device-mapper support.
pub fn read_helper(path: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let path = match path {
        Some(path) => path.to_path_buf(),
        None => std::env::current_exe()
            .context("cannot find the running basalt to use as the disk's initramfs helper")?,
    };
    let bytes = fs_err::read(&path).with_context(|| {
        format!(
            "failed to read the basalt for the disk's initramfs `{}`",
            path.display()
        )
    })?;
    anyhow::ensure!(
        verifier::elf_linking(&bytes) == Linking::Static,
        "`{}` is not a statically linked program, and the disk's initramfs has no C library for it\n\nhint: build one with `ci/build-static` and pass it with --verifier",
        path.display()
    );
    anyhow::ensure!(
        supports_device_mapper(&bytes),
        "`{}` was built without device-mapper support, which the disk's initramfs needs to set up dm-verity\n\nhint: build one with `ci/build-static` (it turns on `--features dm`) and pass it with --verifier",
        path.display()
    );
    Ok(bytes)
}

/// What a disk build writes.
pub struct Outputs {
    /// `(file name, bytes)`.
    pub files: Vec<(String, Vec<u8>)>,
    /// For the build report (with what went into the initramfs).
    pub report: disk::DiskReport,
    /// Why no qcow2 was written, when it was not.
    pub qcow2_skipped: Option<String>,
}

/// Makes the disk of a finished build.
///
/// # Errors
/// When the initramfs, the UKI, the disk or its qcow2 cannot be made.
pub fn outputs(
    profile: &Profile,
    stub: (&str, &[u8]),
    stem: &str,
    built: &mut Built,
    kernel: &Kernel,
    helper: &[u8],
) -> anyhow::Result<Outputs> {
    let root = built
        .disk_root
        .take()
        .context("the build made no verified root filesystem")?;
    let epoch = built.report.epoch;
    let config = initramfs_config(profile, built);
    let manifest_text = built.manifest.render();
    let signature = built.signature.as_ref().map(|s| s.render().into_bytes());
    // The image carries the signed manifest whenever it verifies itself, at boot or
    // periodically; its verified root holds empty files there, which the initramfs covers.
    let manifest = match &signature {
        Some(signature) if profile.verify.embeds_verifier() => {
            Some((manifest_text.as_slice(), signature.as_slice()))
        }
        _ => None,
    };
    let (tree, contents) = initramfs::build(&built.tree, &config, helper, manifest)
        .context("failed to make the disk's initramfs")?;
    let cpio =
        crate::build::initramfs::write(&tree, epoch, crate::build::initramfs::Compression::Gzip)
            .context("failed to write the disk's initramfs")?;
    let cmdline = format!("{} {}", profile.boot.cmdline, root.cmdline())
        .trim()
        .to_owned();
    let osrel = ["/usr/lib/os-release", "/etc/os-release"]
        .iter()
        .find_map(|p| built.tree.read_file(p))
        .unwrap_or_default()
        .to_vec();
    let uki = crate::build::uki::build(
        stub.0,
        stub.1,
        &crate::build::uki::Sections {
            osrel,
            cmdline: cmdline.clone().into_bytes(),
            uname: kernel.version.clone().into_bytes(),
            initrd: cpio.clone(),
            linux: kernel.image.clone(),
        },
    )?;
    let made = disk::assemble(&root, &uki, &profile.image.arch, epoch)?;
    let report = disk::DiskReport::new(&root, &made, contents);
    drop(root);

    let mut files = Vec::new();
    let mut qcow2_skipped = None;
    match disk::qemu_img() {
        Some(tool) => {
            let scratch = tempfile::Builder::new()
                .prefix("basalt-disk")
                .tempdir()
                .context("failed to make a scratch directory for qemu-img")?;
            let raw = scratch.path().join("disk.raw");
            let qcow2 = scratch.path().join("disk.qcow2");
            fs_err::write(&raw, &made.raw)?;
            disk::convert_to_qcow2(&tool, &raw, &qcow2)?;
            files.push((format!("{stem}.qcow2"), fs_err::read(&qcow2)?));
        }
        None => {
            qcow2_skipped =
                Some("no qcow2 written: `qemu-img` is not installed (Debian: qemu-utils)".into());
        }
    }
    files.push((format!("{stem}.raw"), made.raw));
    files.push((format!("{stem}.disk.efi"), uki));
    files.push((format!("{stem}.disk.cpio.gz"), cpio));
    files.push((
        format!("{stem}.disk.cmdline"),
        format!("{cmdline}\n").into_bytes(),
    ));
    files.push((format!("{stem}.vmlinuz"), kernel.image.clone()));
    Ok(Outputs {
        files,
        report,
        qcow2_skipped,
    })
}

/// The initramfs's settings from the profile and the image.
fn initramfs_config(profile: &Profile, built: &Built) -> initramfs::Config {
    let mode = match profile.verify.at_boot {
        AtBoot::Enforce => initramfs::VerityMode::Enforce,
        AtBoot::Warn => initramfs::VerityMode::Warn,
        AtBoot::Off => initramfs::VerityMode::Lazy,
    };
    let state = profile
        .filesystem
        .state
        .iter()
        .filter_map(|v| {
            Some(initramfs::StateMount {
                path: v.path.clone(),
                device: v.device.clone()?,
                fstype: v.fstype.clone(),
                options: v.options.clone(),
            })
        })
        .collect();
    let ephemeral = profile
        .filesystem
        .ephemeral
        .iter()
        .map(|path| {
            let node = built.tree.lookup(path).filter(|n| n.is_dir());
            initramfs::EphemeralMount {
                path: path.clone(),
                mode: node.map_or(0o755, |n| n.mode),
                uid: node.map_or(0, |n| n.uid),
                gid: node.map_or(0, |n| n.gid),
            }
        })
        .collect();
    // The embedded manifest and its signature are covered by the signed copies instead.
    let mutable = profile
        .filesystem
        .mutable
        .iter()
        .filter(|p| {
            ![
                crate::build::pipeline::EMBEDDED_MANIFEST,
                crate::build::pipeline::EMBEDDED_SIGNATURE,
            ]
            .contains(&p.as_str())
        })
        .cloned()
        .collect();
    initramfs::Config {
        mode,
        modules: Vec::new(),
        optional_modules: profile.boot.modules.clone(),
        state,
        ephemeral,
        mutable,
        manifest: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_mapper_marker_is_found_whole_only() {
        let marker = DM_MARKER_HALVES.concat();
        assert!(supports_device_mapper(
            &[&b"\x7fELF.."[..], &marker, b"tail"].concat()
        ));
        assert!(!supports_device_mapper(DM_MARKER_HALVES[0]));
        assert!(!supports_device_mapper(b""));
        #[cfg(feature = "dm")]
        assert_eq!(marker, crate::build::disk::setup::dm::MARKER);
    }
}
