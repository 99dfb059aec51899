//! The disk's layout: a GPT partition table (with its protective MBR and backup table) over
//! partitions placed on 1 MiB boundaries, written into one in-memory image.
//!
//! Invariants: the bytes are a pure function of the disk GUID and the partitions (their type,
//! GUID, name, attributes and content); every partition starts on a 1 MiB boundary and its
//! unused tail is zero; the table has 128 entries, as every partitioning tool writes.

use std::io::{self, Cursor, Seek as _, SeekFrom, Write as _};

use uuid::Uuid;

/// Sector size the table is written for.
pub const SECTOR: u64 = 512;

/// Partition alignment.
pub const ALIGN: u64 = 1 << 20;

/// The EFI system partition's type.
pub const ESP_TYPE: Uuid = Uuid::from_u128(0xC12A7328_F81F_11D2_BA4B_00A0C93EC93B);

/// The x86-64 root partition's type (the Discoverable Partitions Specification's).
pub const ROOT_X86_64_TYPE: Uuid = Uuid::from_u128(0x4F68BCE3_E8CD_4DB1_96E7_FBCAF984B709);

/// The x86-64 root partition's dm-verity hash partition type (same specification).
pub const ROOT_X86_64_VERITY_TYPE: Uuid = Uuid::from_u128(0x2C7357ED_EBD2_46D9_AEC1_23D437EC2BF5);

/// GPT attribute: the partition is read-only (bit 60, as the specification above uses it).
pub const READ_ONLY: u64 = 1 << 60;

/// Errors from laying out the disk.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A partition is given less room than its content.
    #[error("partition `{name}` has {content} bytes of content but only {size} bytes of room")]
    TooSmall {
        /// The partition's name.
        name: String,
        /// Content length.
        content: u64,
        /// Room given.
        size: u64,
    },
    /// The disk would be too large for memory or for the table.
    #[error("the disk would be {size} bytes, more than this build can hold")]
    TooLarge {
        /// The size.
        size: u64,
    },
    /// The partition table library failed.
    #[error("cannot write the GPT partition table")]
    Gpt(#[source] io::Error),
}

/// One partition to place.
#[derive(Debug, Clone)]
pub struct Partition<'a> {
    /// Its name in the table (up to 36 UTF-16 units).
    pub name: &'a str,
    /// Its type GUID.
    pub type_guid: Uuid,
    /// Its unique GUID.
    pub guid: Uuid,
    /// GPT attribute bits.
    pub attributes: u64,
    /// Its content, from the partition's first byte.
    pub bytes: &'a [u8],
    /// Its size; rounded up to whole MiB, and at least the content's.
    pub size: u64,
}

/// Where a partition was placed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Placed {
    /// Partition number (1-based, as Linux names `vda1`).
    pub number: u32,
    /// Its name in the table.
    pub name: String,
    /// Its type GUID.
    pub type_guid: String,
    /// Its unique GUID.
    pub guid: String,
    /// Byte offset on the disk.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
}

/// Lays out `partitions` in order on a GPT disk with this GUID; returns the disk and where
/// each partition went.
///
/// # Errors
/// [`Error::TooSmall`] when a partition's size is below its content's, [`Error::TooLarge`]
/// for a disk that cannot be held, [`Error::Gpt`] when the table cannot be written.
pub fn build(
    disk_guid: Uuid,
    partitions: &[Partition<'_>],
) -> Result<(Vec<u8>, Vec<Placed>), Error> {
    let mut placed = Vec::with_capacity(partitions.len());
    let mut next = ALIGN;
    for (i, p) in partitions.iter().enumerate() {
        let content = p.bytes.len() as u64;
        if p.size < content {
            return Err(Error::TooSmall {
                name: p.name.to_owned(),
                content,
                size: p.size,
            });
        }
        let size = p.size.max(1).div_ceil(ALIGN) * ALIGN;
        placed.push(Placed {
            number: u32::try_from(i + 1).unwrap_or(u32::MAX),
            name: p.name.to_owned(),
            type_guid: p.type_guid.hyphenated().to_string(),
            guid: p.guid.hyphenated().to_string(),
            offset: next,
            size,
        });
        next += size;
    }
    // The backup table (33 sectors) and a 1 MiB tail, as partitioning tools leave.
    let total = next + ALIGN;
    let len = usize::try_from(total).map_err(|_| Error::TooLarge { size: total })?;
    let sectors = total / SECTOR;

    let mut disk = Cursor::new(vec![0u8; len]);
    for (p, at) in partitions.iter().zip(&placed) {
        disk.seek(SeekFrom::Start(at.offset)).map_err(Error::Gpt)?;
        disk.write_all(p.bytes).map_err(Error::Gpt)?;
    }
    let mbr = gpt::mbr::ProtectiveMBR::with_lb_size(u32::try_from(sectors - 1).unwrap_or(u32::MAX));
    mbr.overwrite_lba0(&mut disk)
        .map_err(|e| Error::Gpt(io::Error::other(e)))?;

    let table = partitions
        .iter()
        .zip(&placed)
        .map(|(p, at)| {
            (
                at.number,
                gpt::partition::Partition {
                    part_type_guid: gpt::partition_types::Type {
                        guid: p.type_guid,
                        os: gpt::partition_types::OperatingSystem::None,
                    },
                    part_guid: p.guid,
                    first_lba: at.offset / SECTOR,
                    last_lba: (at.offset + at.size) / SECTOR - 1,
                    flags: p.attributes,
                    name: p.name.to_owned(),
                },
            )
        })
        .collect();
    let gpt_err = |e: gpt::GptError| Error::Gpt(io::Error::other(e));
    let mut gpt_disk = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .create_from_device(disk, Some(disk_guid))
        .map_err(gpt_err)?;
    gpt_disk.update_partitions(table).map_err(gpt_err)?;
    let disk = gpt_disk.write().map_err(gpt_err)?;
    Ok((disk.into_inner(), placed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<u8>, Vec<Placed>) {
        let esp = vec![0xee; 3000];
        let root = vec![0x11; (2 << 20) + 5];
        build(
            Uuid::from_u128(1),
            &[
                Partition {
                    name: "esp",
                    type_guid: ESP_TYPE,
                    guid: Uuid::from_u128(2),
                    attributes: 0,
                    bytes: &esp,
                    size: 8 << 20,
                },
                Partition {
                    name: "root-x86-64",
                    type_guid: ROOT_X86_64_TYPE,
                    guid: Uuid::from_u128(3),
                    attributes: READ_ONLY,
                    bytes: &root,
                    size: root.len() as u64,
                },
            ],
        )
        .unwrap()
    }

    #[test]
    fn partitions_are_aligned_and_the_table_reads_back() {
        let (disk, placed) = sample();
        assert_eq!(disk, sample().0);
        assert_eq!(placed[0].offset, 1 << 20);
        assert_eq!(placed[0].size, 8 << 20);
        assert_eq!(placed[1].offset, 9 << 20);
        assert_eq!(placed[1].size, 3 << 20);
        assert_eq!(disk.len() as u64, 13 << 20);
        assert_eq!(&disk[(1 << 20)..(1 << 20) + 3000], &[0xee; 3000][..]);
        assert!(disk[(1 << 20) + 3000..(9 << 20)].iter().all(|&b| b == 0));
        // The protective MBR.
        assert_eq!(&disk[510..512], &[0x55, 0xaa]);
        assert_eq!(disk[450], 0xee);

        let read = gpt::GptConfig::new()
            .open_from_device(Cursor::new(disk))
            .unwrap();
        assert_eq!(*read.guid(), Uuid::from_u128(1));
        let parts = read.partitions();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[&2].name, "root-x86-64");
        assert_eq!(parts[&2].part_guid, Uuid::from_u128(3));
        assert_eq!(parts[&2].part_type_guid.guid, ROOT_X86_64_TYPE);
        assert_eq!(parts[&2].flags, READ_ONLY);
        assert_eq!(parts[&2].first_lba, (9 << 20) / 512);
        assert_eq!(read.header().num_parts, 128);
    }

    #[test]
    fn content_larger_than_its_room_is_refused() {
        let err = build(
            Uuid::nil(),
            &[Partition {
                name: "esp",
                type_guid: ESP_TYPE,
                guid: Uuid::nil(),
                attributes: 0,
                bytes: &[1, 2, 3],
                size: 2,
            }],
        )
        .unwrap_err();
        assert!(matches!(err, Error::TooSmall { .. }), "{err}");
    }
}
