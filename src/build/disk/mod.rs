//! The bootable disk: one deterministic GPT image with an EFI system partition (the UKI as
//! `\EFI\BOOT\BOOTX64.EFI`), the image as a read-only squashfs root partition, and that
//! partition's dm-verity hash tree in a partition of its own.
//!
//! The stages, in order:
//! 1. [`root`]: the image tree → squashfs ([`squashfs`]) → dm-verity hash tree ([`verity`])
//!    with a salt and UUID derived from the filesystem's digest; the root hash comes out;
//! 2. the caller signs the manifest (which records the root hash) and makes the UKI, whose
//!    command line carries `roothash=` and whose initramfs ([`initramfs`]) sets up dm-verity
//!    at boot ([`setup`], run as `basalt initramfs ...`);
//! 3. [`assemble`]: ESP ([`esp`]) + root + hash partitions → GPT disk ([`layout`]).
//!
//! Invariants:
//! - every identifier is derived, never drawn: the salt and the verity superblock's UUID from
//!   the filesystem's SHA-256, the root and hash partitions' GUIDs from the root hash (its
//!   first and last 16 bytes, as the Discoverable Partitions Specification does, so the
//!   initramfs finds exactly this image's partitions), the disk GUID, the ESP's GUID and its
//!   FAT volume id from the root hash and the ESP's content; with the epoch as every time
//!   stamp, two builds of the same image give the same bytes;
//! - the root partition holds exactly the entries of the image archive.

pub mod esp;
pub mod initramfs;
pub mod layout;
pub mod setup;
pub mod squashfs;
pub mod verity;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::tree::ImageTree;

/// Where firmware looks for the boot loader of an x86-64 machine.
pub const BOOT_PATH_X86_64: &str = "EFI/BOOT/BOOTX64.EFI";

/// The GPT name of the root partition.
pub const ROOT_NAME: &str = "root-x86-64";
/// The GPT name of its hash partition.
pub const VERITY_NAME: &str = "root-x86-64-verity";
/// The GPT name of the EFI system partition.
pub const ESP_NAME: &str = "esp";

/// Errors from making the disk.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image is for a machine a disk cannot yet be made for.
    #[error("disks are made for x86_64 images; this image is for {0}")]
    Arch(String),
    /// The root filesystem could not be made.
    #[error(transparent)]
    Squashfs(#[from] squashfs::Error),
    /// The hash tree could not be computed.
    #[error(transparent)]
    Verity(#[from] verity::Error),
    /// The ESP could not be made.
    #[error(transparent)]
    Esp(#[from] esp::Error),
    /// The partition table could not be made.
    #[error(transparent)]
    Layout(#[from] layout::Error),
    /// `qemu-img` failed.
    #[error("`{tool}` could not convert the disk to qcow2: {reason}")]
    Qcow2 {
        /// The program.
        tool: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// The verified root: the filesystem and its hash tree.
#[derive(Debug, Clone)]
pub struct Root {
    /// The squashfs filesystem (whole 4096-byte blocks).
    pub filesystem: Vec<u8>,
    /// Its SHA-256.
    pub digest: [u8; 32],
    /// Its dm-verity hash tree.
    pub hash_tree: verity::HashTree,
}

impl Root {
    /// The root hash in hex, for `roothash=` and the manifest.
    #[must_use]
    pub fn root_hash_hex(&self) -> String {
        self.hash_tree.root_hash_hex()
    }

    /// The kernel command line arguments that boot this root.
    #[must_use]
    pub fn cmdline(&self) -> String {
        format!("roothash={}", self.root_hash_hex())
    }
}

/// What a disk's read-only root needs that a writable one does without: `/etc/resolv.conf`
/// as a link to `/run/resolv.conf`, where DHCP writes the name servers (the profile's
/// `udhcpc.conf` says so), when the image has no resolver file of its own. Returns what was
/// done, for the build report.
///
/// # Errors
/// When the link cannot be placed (`/etc` is not a directory).
pub fn read_only_root_links(
    tree: &mut ImageTree,
    dhcp_resolver: bool,
) -> Result<Vec<crate::build::effects::Applied>, crate::tree::Error> {
    let resolv = crate::tree::ImagePath::new(b"etc/resolv.conf")?;
    if !dhcp_resolver || tree.get(&resolv).is_some() {
        return Ok(Vec::new());
    }
    tree.insert(resolv, crate::tree::Node::symlink(&b"/run/resolv.conf"[..]))?;
    Ok(vec![crate::build::effects::Applied {
        effect: "read-only root".to_owned(),
        detail: "/etc/resolv.conf -> /run/resolv.conf (written by DHCP)".to_owned(),
    }])
}

/// A 32-byte value derived from `input` for one purpose.
#[must_use]
pub fn derive(purpose: &str, input: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"basalt disk\0");
    hasher.update(purpose.as_bytes());
    hasher.update(b"\0");
    hasher.update(input);
    hasher.finalize().into()
}

/// A UUID derived from `input` for one purpose (an RFC 9562 version 8 UUID: custom data).
#[must_use]
pub fn derive_uuid(purpose: &str, input: &[u8]) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&derive(purpose, input)[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Makes the root filesystem of `tree` and its hash tree.
///
/// # Errors
/// When the filesystem cannot be made (see [`squashfs::build`]).
pub fn root(tree: &ImageTree, epoch: u64, options: &squashfs::Options) -> Result<Root, Error> {
    let filesystem = squashfs::build(tree, epoch, options)?;
    let digest: [u8; 32] = Sha256::digest(&filesystem).into();
    let salt = derive("verity salt", &digest);
    let uuid = *derive_uuid("verity uuid", &digest).as_bytes();
    let hash_tree = verity::build(&filesystem, salt, uuid)?;
    Ok(Root {
        filesystem,
        digest,
        hash_tree,
    })
}

/// A partition of the disk, for the build report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionReport {
    /// Where it is and what it is.
    #[serde(flatten)]
    pub placed: layout::Placed,
    /// SHA-256 of the whole partition (its content and zero padding).
    pub sha256: String,
}

/// The assembled disk.
#[derive(Debug, Clone)]
pub struct Disk {
    /// The raw disk image.
    pub raw: Vec<u8>,
    /// The disk's GUID.
    pub guid: Uuid,
    /// Its partitions, in order.
    pub partitions: Vec<PartitionReport>,
}

/// What the build report says about a disk.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DiskReport {
    /// The dm-verity root hash.
    pub root_hash: String,
    /// The dm-verity salt.
    pub salt: String,
    /// The verity superblock's UUID.
    pub verity_uuid: String,
    /// SHA-256 of the root filesystem.
    pub root_filesystem_sha256: String,
    /// The disk's GUID.
    pub disk_guid: String,
    /// The partitions.
    pub partitions: Vec<PartitionReport>,
    /// What the UKI's initramfs holds.
    pub initramfs: initramfs::Contents,
}

impl DiskReport {
    /// The report of a disk made from `root`, whose initramfs holds `contents`.
    #[must_use]
    pub fn new(root: &Root, disk: &Disk, contents: initramfs::Contents) -> Self {
        DiskReport {
            initramfs: contents,
            root_hash: root.root_hash_hex(),
            salt: hex::encode(root.hash_tree.salt),
            verity_uuid: root.hash_tree.uuid_text(),
            root_filesystem_sha256: hex::encode(root.digest),
            disk_guid: disk.guid.hyphenated().to_string(),
            partitions: disk.partitions.clone(),
        }
    }
}

/// Lays out the disk: the ESP holding `uki` as the default boot loader, the root filesystem,
/// its hash tree.
///
/// # Errors
/// [`Error::Arch`] for an image that is not x86_64; when the ESP or the table cannot be made.
pub fn assemble(root: &Root, uki: &[u8], arch: &str, epoch: u64) -> Result<Disk, Error> {
    if arch != "x86_64" {
        return Err(Error::Arch(arch.to_owned()));
    }
    let root_hash = root.hash_tree.root_hash;
    let (root_guid, verity_guid) = setup::partition_guids(&root_hash);
    let files = [esp::File {
        path: BOOT_PATH_X86_64,
        bytes: uki,
    }];
    let uki_digest: [u8; 32] = Sha256::digest(uki).into();
    let mut identity = root_hash.to_vec();
    identity.extend_from_slice(&uki_digest);
    let volume_id = u32::from_le_bytes(
        derive("esp volume id", &identity)[..4]
            .try_into()
            .expect("four bytes"),
    );
    let esp_size = esp::size_for(&files);
    let esp_bytes = esp::build(&files, esp_size, volume_id, epoch)?;
    let disk_guid = derive_uuid("disk guid", &identity);
    let partitions = [
        layout::Partition {
            name: ESP_NAME,
            type_guid: layout::ESP_TYPE,
            guid: derive_uuid("esp guid", &identity),
            attributes: 0,
            bytes: &esp_bytes,
            size: esp_size,
        },
        layout::Partition {
            name: ROOT_NAME,
            type_guid: layout::ROOT_X86_64_TYPE,
            guid: root_guid,
            attributes: layout::READ_ONLY,
            bytes: &root.filesystem,
            size: root.filesystem.len() as u64,
        },
        layout::Partition {
            name: VERITY_NAME,
            type_guid: layout::ROOT_X86_64_VERITY_TYPE,
            guid: verity_guid,
            attributes: layout::READ_ONLY,
            bytes: &root.hash_tree.bytes,
            size: root.hash_tree.bytes.len() as u64,
        },
    ];
    let (raw, placed) = layout::build(disk_guid, &partitions)?;
    let partitions = placed
        .into_iter()
        .map(|placed| {
            let start = usize::try_from(placed.offset).unwrap_or(usize::MAX);
            let end = start.saturating_add(usize::try_from(placed.size).unwrap_or(usize::MAX));
            let sha256 = hex::encode(Sha256::digest(raw.get(start..end).unwrap_or_default()));
            PartitionReport { placed, sha256 }
        })
        .collect();
    Ok(Disk {
        raw,
        guid: disk_guid,
        partitions,
    })
}

/// The `qemu-img` program: `BASALT_QEMU_IMG`, else `qemu-img` when it is on `PATH`.
#[must_use]
pub fn qemu_img() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("BASALT_QEMU_IMG") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("qemu-img"))
        .find(|candidate| candidate.is_file())
}

/// Converts a raw disk to qcow2 (uncompressed, no backing file; the output depends only on
/// the input's bytes).
///
/// # Errors
/// [`Error::Qcow2`] with what `qemu-img` said.
pub fn convert_to_qcow2(tool: &Path, raw: &Path, out: &Path) -> Result<(), Error> {
    let failed = |reason: String| Error::Qcow2 {
        tool: tool.to_owned(),
        reason,
    };
    let output = std::process::Command::new(tool)
        .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
        .arg(raw)
        .arg(out)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        return Err(failed(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}
