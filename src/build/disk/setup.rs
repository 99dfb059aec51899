//! What the disk's initramfs asks of basalt at boot (`basalt initramfs ...`): find the root
//! and hash partitions by the GUIDs derived from the root hash, map them through dm-verity,
//! check every block when asked, and tell a blank partition from one that holds data.
//!
//! Invariants:
//! - partitions are found by reading each disk's GPT and the kernel's partition numbers in
//!   sysfs, never by a name an attacker could give another disk: the root and hash
//!   partitions' GUIDs are the two halves of the root hash, which the signed command line
//!   carries;
//! - the verity superblock is read for the block count and the salt; both are covered by the
//!   root hash (a different count or salt gives a different root), so an edited superblock
//!   cannot pass;
//! - a partition is blank only when its first MiB, where every common filesystem keeps its
//!   superblock, is all zeros; anything else is data and is never formatted.

use std::fs;
use std::io::{self, Read, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::verity;

/// How much of a partition must be zero for it to count as blank.
pub const BLANK_PREFIX: u64 = 1 << 20;

/// Errors of the boot-time setup.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The root hash is not 64 hex digits.
    #[error("the root hash `{0}` is not 64 hexadecimal digits")]
    RootHash(String),
    /// The partitions did not appear in time.
    #[error(
        "no partition with GUID {guid} ({what}) appeared within {seconds} s; is the disk attached, and was it built with this root hash?"
    )]
    NotFound {
        /// The GUID looked for.
        guid: String,
        /// Which partition.
        what: &'static str,
        /// How long it was waited for.
        seconds: u64,
    },
    /// The hash partition has no verity superblock.
    #[error("`{0}` has no dm-verity superblock (format 1, sha256, 4096-byte blocks)")]
    Superblock(PathBuf),
    /// A device could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The device.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Device-mapper refused.
    #[error("device-mapper: {0}")]
    DeviceMapper(String),
    /// This basalt cannot talk to device-mapper.
    #[error(
        "this basalt was built without device-mapper support; the disk's initramfs needs one built with `--features dm` (ci/build-static builds it so)"
    )]
    NoDeviceMapper,
}

/// Where the kernel's views live (`/sys` and `/dev`; a test gives others).
#[derive(Debug, Clone)]
pub struct System {
    /// sysfs.
    pub sys: PathBuf,
    /// devtmpfs.
    pub dev: PathBuf,
}

impl Default for System {
    fn default() -> Self {
        System {
            sys: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
        }
    }
}

/// A partition the kernel knows, with its GPT entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its device node (`/dev/vda2`).
    pub device: PathBuf,
    /// Its unique GUID.
    pub guid: Uuid,
    /// Its GPT name.
    pub name: String,
}

/// The root and hash partitions' GUIDs for a root hash: its first and last 16 bytes, as the
/// Discoverable Partitions Specification derives them.
#[must_use]
pub fn partition_guids(root_hash: &[u8; 32]) -> (Uuid, Uuid) {
    let mut first = [0u8; 16];
    let mut last = [0u8; 16];
    first.copy_from_slice(&root_hash[..16]);
    last.copy_from_slice(&root_hash[16..]);
    (Uuid::from_bytes(first), Uuid::from_bytes(last))
}

/// Parses a root hash given in hex.
///
/// # Errors
/// [`Error::RootHash`].
pub fn parse_root_hash(text: &str) -> Result<[u8; 32], Error> {
    let bytes = hex::decode(text).map_err(|_| Error::RootHash(text.to_owned()))?;
    bytes
        .try_into()
        .map_err(|_| Error::RootHash(text.to_owned()))
}

/// Every GPT partition the kernel has a device for.
#[must_use]
pub fn partitions(system: &System) -> Vec<Found> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(system.sys.join("class/block")) else {
        return found;
    };
    let mut tables: std::collections::BTreeMap<String, Option<Vec<TableEntry>>> =
        std::collections::BTreeMap::new();
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let node = system.sys.join("class/block").join(&name);
        let Ok(number) = fs::read_to_string(node.join("partition")) else {
            continue;
        };
        let Ok(number) = number.trim().parse::<u32>() else {
            continue;
        };
        // The partition's sysfs directory sits inside its disk's.
        let Some(disk) = fs::canonicalize(&node)
            .ok()
            .and_then(|p| {
                p.parent()
                    .map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            })
            .flatten()
        else {
            continue;
        };
        let table = tables
            .entry(disk.clone())
            .or_insert_with(|| read_table(&system.dev.join(&disk)));
        if let Some(entry) = table
            .as_ref()
            .and_then(|t| t.iter().find(|(n, _, _)| *n == number))
        {
            found.push(Found {
                device: system.dev.join(&name),
                guid: entry.1,
                name: entry.2.clone(),
            });
        }
    }
    found
}

/// A GPT entry: partition number, GUID, name.
type TableEntry = (u32, Uuid, String);

/// A disk's GPT entries; `None` when it has no readable GPT.
fn read_table(disk: &Path) -> Option<Vec<TableEntry>> {
    let file = fs::File::open(disk).ok()?;
    let gpt = gpt::GptConfig::new().open_from_device(file).ok()?;
    Some(
        gpt.partitions()
            .iter()
            .map(|(n, p)| (*n, p.part_guid, p.name.clone()))
            .collect(),
    )
}

/// Waits up to `timeout` for the root and hash partitions of `root_hash`.
///
/// # Errors
/// [`Error::NotFound`] naming the partition that did not appear.
pub fn find_verity_partitions(
    system: &System,
    root_hash: &[u8; 32],
    timeout: Duration,
) -> Result<(Found, Found), Error> {
    let (root_guid, hash_guid) = partition_guids(root_hash);
    let start = Instant::now();
    loop {
        let all = partitions(system);
        let root = all.iter().find(|p| p.guid == root_guid);
        let hash = all.iter().find(|p| p.guid == hash_guid);
        match (root, hash) {
            (Some(root), Some(hash)) => return Ok((root.clone(), hash.clone())),
            (root, _) if start.elapsed() >= timeout => {
                let (guid, what) = if root.is_none() {
                    (root_guid, "root")
                } else {
                    (hash_guid, "dm-verity hash")
                };
                return Err(Error::NotFound {
                    guid: guid.hyphenated().to_string(),
                    what,
                    seconds: timeout.as_secs(),
                });
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The verity superblock of a hash device.
///
/// # Errors
/// [`Error::Read`] or [`Error::Superblock`].
pub fn read_superblock(hash_device: &Path) -> Result<verity::Superblock, Error> {
    let read = |source| Error::Read {
        path: hash_device.to_owned(),
        source,
    };
    let mut block = vec![0u8; verity::SUPERBLOCK_SIZE];
    fs::File::open(hash_device)
        .and_then(|mut f| f.read_exact(&mut block))
        .map_err(read)?;
    verity::read_superblock(&block).ok_or_else(|| Error::Superblock(hash_device.to_owned()))
}

/// The device-mapper table line for the verified root.
#[must_use]
pub fn table(
    data_device: &Path,
    hash_device: &Path,
    superblock: &verity::Superblock,
    root_hash: &[u8; 32],
    ignore_corruption: bool,
) -> String {
    let block = verity::BLOCK_SIZE as u64;
    let mut line = format!(
        "1 {} {} {block} {block} {} 1 sha256 {} {}",
        data_device.display(),
        hash_device.display(),
        superblock.data_blocks,
        hex::encode(root_hash),
        hex::encode(&superblock.salt),
    );
    if ignore_corruption {
        line.push_str(" 1 ignore_corruption");
    }
    line
}

/// What a full read of the verified device found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    /// Blocks that could not be read (I/O errors: dm-verity refused them).
    pub failed_blocks: u64,
    /// The first of them.
    pub first_failed: Option<u64>,
    /// Blocks read.
    pub blocks: u64,
}

/// Reads every block of `device`, so that dm-verity checks each one now; blocks it refuses
/// (I/O errors) are counted and skipped.
///
/// # Errors
/// [`Error::Read`] when the device cannot be opened or read for another reason.
pub fn read_all(device: &Path) -> Result<Check, Error> {
    use std::os::unix::fs::FileExt as _;
    const CHUNK: u64 = 1 << 20;
    const EIO: i32 = 5;
    let err = |source| Error::Read {
        path: device.to_owned(),
        source,
    };
    let mut file = fs::File::open(device).map_err(err)?;
    let size = file.seek(SeekFrom::End(0)).map_err(err)?;
    let block = verity::BLOCK_SIZE as u64;
    let mut check = Check::default();
    let mut buf = vec![0u8; CHUNK as usize];
    let mut at = 0u64;
    while at < size {
        let len = (size - at).min(CHUNK);
        let whole = &mut buf[..len as usize];
        match file.read_exact_at(whole, at) {
            Ok(()) => at += len,
            Err(e) if e.raw_os_error() == Some(EIO) => {
                // Go through this chunk block by block to count each refused block.
                let end = at + len;
                while at < end {
                    let n = (end - at).min(block);
                    match file.read_exact_at(&mut buf[..n as usize], at) {
                        Ok(()) => {}
                        Err(e) if e.raw_os_error() == Some(EIO) => {
                            check.failed_blocks += 1;
                            check.first_failed.get_or_insert(at / block);
                        }
                        Err(e) => return Err(err(e)),
                    }
                    at += n;
                }
            }
            Err(e) => return Err(err(e)),
        }
    }
    check.blocks = size.div_ceil(block);
    Ok(check)
}

/// Whether a partition is blank: its first MiB (or all of it, if smaller) is zeros.
///
/// # Errors
/// [`Error::Read`].
pub fn is_blank(device: &Path) -> Result<bool, Error> {
    let err = |source| Error::Read {
        path: device.to_owned(),
        source,
    };
    let file = fs::File::open(device).map_err(err)?;
    let mut prefix = Vec::new();
    file.take(BLANK_PREFIX)
        .read_to_end(&mut prefix)
        .map_err(err)?;
    Ok(prefix.iter().all(|&b| b == 0))
}

/// The device-mapper operations, with the `dm` feature.
#[cfg(feature = "dm")]
pub mod dm {
    use std::path::{Path, PathBuf};

    use devicemapper::{DM, DevId, DmFlags, DmName, DmOptions};

    use super::Error;

    /// Bytes that only a basalt with this module holds: `basalt build --emit disk` looks for
    /// them in the helper it puts into the disk's initramfs.
    pub const MARKER: &[u8] = b"\0basalt-initramfs-device-mapper\0";

    fn dm_err(what: &str, e: impl std::fmt::Display) -> Error {
        Error::DeviceMapper(format!("{what}: {e}"))
    }

    /// Creates the read-only device `name` with one `verity` target of `sectors` sectors and
    /// these parameters; returns its node under `dev` (`/dev/dm-N`, with the
    /// `/dev/mapper/NAME` link made beside it).
    ///
    /// # Errors
    /// [`Error::DeviceMapper`] naming the step that failed.
    pub fn create_verity(
        dev: &Path,
        name: &str,
        sectors: u64,
        params: &str,
    ) -> Result<PathBuf, Error> {
        std::hint::black_box(MARKER);
        let dm = DM::new().map_err(|e| dm_err("cannot open /dev/mapper/control", e))?;
        let dm_name = DmName::new(name).map_err(|e| dm_err("invalid name", e))?;
        let id = DevId::Name(dm_name);
        dm.device_create(dm_name, None, DmOptions::default())
            .map_err(|e| dm_err("cannot create the device", e))?;
        let result = (|| {
            dm.table_load(
                &id,
                &[(0, sectors, "verity".to_owned(), params.to_owned())],
                DmOptions::default().set_flags(DmFlags::DM_READONLY),
            )
            .map_err(|e| dm_err("the kernel refused the verity table", e))?;
            let info = dm
                .device_suspend(&id, DmOptions::default())
                .map_err(|e| dm_err("cannot activate the device", e))?;
            Ok(info.device())
        })();
        let device = match result {
            Ok(device) => device,
            Err(e) => {
                let _ = dm.device_remove(&id, DmOptions::default());
                return Err(e);
            }
        };
        let node = dev.join(format!("dm-{}", device.minor));
        let mapper = dev.join("mapper");
        let _ = std::fs::create_dir_all(&mapper);
        let link = mapper.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("../dm-{}", device.minor), &link)
            .map_err(|e| dm_err(&format!("cannot link {}", link.display()), e))?;
        Ok(node)
    }

    /// Whether dm-verity has seen a corrupted block on the device (`C` in its status).
    ///
    /// # Errors
    /// [`Error::DeviceMapper`].
    pub fn corrupted(name: &str) -> Result<bool, Error> {
        let dm = DM::new().map_err(|e| dm_err("cannot open /dev/mapper/control", e))?;
        let dm_name = DmName::new(name).map_err(|e| dm_err("invalid name", e))?;
        let (_, targets) = dm
            .table_status(&DevId::Name(dm_name), DmOptions::default())
            .map_err(|e| dm_err("cannot read the device's status", e))?;
        Ok(targets.iter().any(|(_, _, kind, status)| {
            kind == "verity" && status.split_whitespace().next() == Some("C")
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake sysfs and /dev with one GPT disk `vda` of two partitions.
    fn system() -> (tempfile::TempDir, System, Uuid, Uuid) {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("sys");
        let dev = dir.path().join("dev");
        fs::create_dir_all(sys.join("class/block")).unwrap();
        fs::create_dir_all(sys.join("devices/pci0/virtio1/block/vda/vda1")).unwrap();
        fs::create_dir_all(sys.join("devices/pci0/virtio1/block/vda/vda2")).unwrap();
        fs::create_dir_all(sys.join("devices/virtual/block/loop0")).unwrap();
        fs::write(
            sys.join("devices/pci0/virtio1/block/vda/vda1/partition"),
            "1\n",
        )
        .unwrap();
        fs::write(
            sys.join("devices/pci0/virtio1/block/vda/vda2/partition"),
            "2\n",
        )
        .unwrap();
        for (name, target) in [
            ("vda", "../../devices/pci0/virtio1/block/vda"),
            ("vda1", "../../devices/pci0/virtio1/block/vda/vda1"),
            ("vda2", "../../devices/pci0/virtio1/block/vda/vda2"),
            ("loop0", "../../devices/virtual/block/loop0"),
        ] {
            std::os::unix::fs::symlink(target, sys.join("class/block").join(name)).unwrap();
        }
        fs::create_dir_all(&dev).unwrap();
        let (a, b) = (Uuid::from_u128(0xa), Uuid::from_u128(0xb));
        let content = vec![0u8; 4096];
        let (disk, _) = super::super::layout::build(
            Uuid::from_u128(1),
            &[
                super::super::layout::Partition {
                    name: "root-x86-64",
                    type_guid: super::super::layout::ROOT_X86_64_TYPE,
                    guid: a,
                    attributes: 0,
                    bytes: &content,
                    size: 4096,
                },
                super::super::layout::Partition {
                    name: "state",
                    type_guid: super::super::layout::ROOT_X86_64_VERITY_TYPE,
                    guid: b,
                    attributes: 0,
                    bytes: &content,
                    size: 4096,
                },
            ],
        )
        .unwrap();
        fs::write(dev.join("vda"), disk).unwrap();
        fs::write(dev.join("vda1"), [0u8; 10]).unwrap();
        fs::write(dev.join("vda2"), [1u8; 10]).unwrap();
        (dir, System { sys, dev }, a, b)
    }

    #[test]
    fn partitions_are_found_by_gpt_guid_through_sysfs() {
        let (_dir, system, a, b) = system();
        let found = partitions(&system);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].device, system.dev.join("vda1"));
        assert_eq!(found[0].guid, a);
        assert_eq!(found[1].name, "state");
        assert_eq!(found[1].guid, b);

        let mut hash = [0u8; 32];
        hash[..16].copy_from_slice(a.as_bytes());
        hash[16..].copy_from_slice(b.as_bytes());
        let (root, verity) =
            find_verity_partitions(&system, &hash, Duration::from_millis(10)).unwrap();
        assert_eq!(root.device, system.dev.join("vda1"));
        assert_eq!(verity.device, system.dev.join("vda2"));
        let err =
            find_verity_partitions(&system, &[3; 32], Duration::from_millis(150)).unwrap_err();
        assert!(err.to_string().contains("(root)"), "{err}");
    }

    #[test]
    fn blank_means_the_first_mib_is_zero() {
        let (_dir, system, _, _) = system();
        assert!(is_blank(&system.dev.join("vda1")).unwrap());
        assert!(!is_blank(&system.dev.join("vda2")).unwrap());
        let big = system.dev.join("big");
        let mut bytes = vec![0u8; (2 << 20) + 1];
        *bytes.last_mut().unwrap() = 1;
        fs::write(&big, &bytes).unwrap();
        assert!(
            is_blank(&big).unwrap(),
            "data past the first MiB is not looked at"
        );
        bytes[(1 << 20) - 1] = 1;
        fs::write(&big, &bytes).unwrap();
        assert!(!is_blank(&big).unwrap());
    }

    #[test]
    fn root_hashes_give_guids_and_tables() {
        let hash = parse_root_hash(&"ab".repeat(32)).unwrap();
        let (root, verity) = partition_guids(&hash);
        assert_eq!(
            root.hyphenated().to_string(),
            "abababab-abab-abab-abab-abababababab"
        );
        assert_eq!(root, verity);
        assert!(parse_root_hash("abc").is_err());
        assert!(parse_root_hash(&"zz".repeat(32)).is_err());
        let sb = verity::Superblock {
            uuid: [0; 16],
            data_blocks: 10,
            salt: vec![1, 2],
        };
        assert_eq!(
            table(
                Path::new("/dev/vda2"),
                Path::new("/dev/vda3"),
                &sb,
                &hash,
                true
            ),
            format!(
                "1 /dev/vda2 /dev/vda3 4096 4096 10 1 sha256 {} 0102 1 ignore_corruption",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn full_reads_count_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data");
        fs::write(&file, vec![7u8; 3 * 4096 + 10]).unwrap();
        let check = read_all(&file).unwrap();
        assert_eq!(check.failed_blocks, 0);
        assert_eq!(check.blocks, 4);
    }
}
