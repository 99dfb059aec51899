//! dm-verity hash trees in the on-disk format of `veritysetup format` (cryptsetup): hash
//! format 1, SHA-256, 4096-byte data and hash blocks, a 512-byte superblock at the start of
//! the hash device (padded to one hash block), then the tree's levels, the one nearest the
//! root first.
//!
//! Invariants:
//! - a data block's digest is `SHA-256(salt ‖ block)`; digests sit in 32-byte slots (already a
//!   power of two), 128 to a hash block, the rest of the block zero; each level is hashed the
//!   same way into the level above, until one block remains, whose salted digest is the root
//!   hash; with a single data block there is no level and the root hash is that block's
//!   digest;
//! - the output is a pure function of the data, the salt and the UUID: `veritysetup format
//!   --salt SALT --uuid UUID` writes the same bytes, and `veritysetup verify` accepts them;
//! - the kernel reads the tree from hash block 1 of the hash device (the superblock is block
//!   0), which is what [`HashTree::table`] tells it.

use std::fmt::Write as _;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// The data and hash block size, in bytes.
pub const BLOCK_SIZE: usize = 4096;

/// The size of the superblock that starts the hash device.
pub const SUPERBLOCK_SIZE: usize = 512;

/// The digest size of SHA-256.
const DIGEST_SIZE: usize = 32;

/// Digests in one hash block.
const DIGESTS_PER_BLOCK: usize = BLOCK_SIZE / DIGEST_SIZE;

/// The superblock's signature.
const SIGNATURE: &[u8; 8] = b"verity\0\0";

/// Errors from building a hash tree.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The data is empty or not made of whole blocks.
    #[error(
        "dm-verity needs data made of whole {BLOCK_SIZE}-byte blocks, but it is {len} bytes long"
    )]
    NotBlocks {
        /// The data's length.
        len: usize,
    },
}

/// A computed hash tree and the parameters that describe it.
#[derive(Clone, PartialEq, Eq)]
pub struct HashTree {
    /// The root hash: what the kernel command line carries and the manifest records.
    pub root_hash: [u8; 32],
    /// The salt prepended to every hashed block.
    pub salt: [u8; 32],
    /// The UUID written into the superblock.
    pub uuid: [u8; 16],
    /// Number of data blocks covered.
    pub data_blocks: u64,
    /// The hash device's content: the superblock block, then the levels, top first.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for HashTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashTree")
            .field("root_hash", &hex::encode(self.root_hash))
            .field("salt", &hex::encode(self.salt))
            .field("uuid", &format_uuid(&self.uuid))
            .field("data_blocks", &self.data_blocks)
            .field("hash_bytes", &self.bytes.len())
            .finish()
    }
}

impl HashTree {
    /// The root hash in lowercase hex, as `veritysetup` prints it.
    #[must_use]
    pub fn root_hash_hex(&self) -> String {
        hex::encode(self.root_hash)
    }

    /// The superblock's UUID in its usual text form.
    #[must_use]
    pub fn uuid_text(&self) -> String {
        format_uuid(&self.uuid)
    }

    /// The device-mapper table line (`start length verity params...`) for a verity device
    /// over `data_device` with its tree on `hash_device`, with optional target arguments
    /// (`ignore_corruption`, `restart_on_corruption`...).
    #[must_use]
    pub fn table(&self, data_device: &str, hash_device: &str, options: &[&str]) -> String {
        let sectors = self.data_blocks * (BLOCK_SIZE as u64 / 512);
        let mut line = format!(
            "0 {sectors} verity 1 {data_device} {hash_device} {BLOCK_SIZE} {BLOCK_SIZE} {} 1 sha256 {} {}",
            self.data_blocks,
            self.root_hash_hex(),
            hex::encode(self.salt)
        );
        if !options.is_empty() {
            let _ = write!(line, " {}", options.len());
            for option in options {
                let _ = write!(line, " {option}");
            }
        }
        line
    }
}

/// A UUID as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
#[must_use]
pub fn format_uuid(uuid: &[u8; 16]) -> String {
    let h = hex::encode(uuid);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Computes the hash tree of `data` (whole 4096-byte blocks) with this salt and UUID.
///
/// # Errors
/// [`Error::NotBlocks`] when `data` is empty or not a multiple of the block size.
pub fn build(data: &[u8], salt: [u8; 32], uuid: [u8; 16]) -> Result<HashTree, Error> {
    if data.is_empty() || !data.len().is_multiple_of(BLOCK_SIZE) {
        return Err(Error::NotBlocks { len: data.len() });
    }
    let data_blocks = (data.len() / BLOCK_SIZE) as u64;
    let salted = |block: &[u8]| -> [u8; DIGEST_SIZE] {
        let mut hasher = Sha256::new();
        hasher.update(salt);
        hasher.update(block);
        hasher.finalize().into()
    };

    // Level 0 holds the data blocks' digests; each level above, the digests of the one below.
    let mut levels: Vec<Vec<u8>> = Vec::new();
    let mut digests: Vec<[u8; DIGEST_SIZE]> = data.par_chunks(BLOCK_SIZE).map(salted).collect();
    while digests.len() > 1 {
        let blocks = digests.len().div_ceil(DIGESTS_PER_BLOCK);
        let mut level = vec![0u8; blocks * BLOCK_SIZE];
        for (slot, digest) in level.chunks_mut(DIGEST_SIZE).zip(&digests) {
            slot.copy_from_slice(digest);
        }
        digests = level.par_chunks(BLOCK_SIZE).map(salted).collect();
        levels.push(level);
    }
    let root_hash = digests[0];

    let tree_len: usize = levels.iter().map(Vec::len).sum();
    let mut bytes = Vec::with_capacity(BLOCK_SIZE + tree_len);
    bytes.extend_from_slice(&superblock(data_blocks, &salt, &uuid));
    bytes.resize(BLOCK_SIZE, 0);
    for level in levels.iter().rev() {
        bytes.extend_from_slice(level);
    }
    Ok(HashTree {
        root_hash,
        salt,
        uuid,
        data_blocks,
        bytes,
    })
}

/// The 512-byte superblock, little-endian, as cryptsetup lays it out.
fn superblock(data_blocks: u64, salt: &[u8; 32], uuid: &[u8; 16]) -> [u8; SUPERBLOCK_SIZE] {
    let mut sb = [0u8; SUPERBLOCK_SIZE];
    sb[0..8].copy_from_slice(SIGNATURE);
    sb[8..12].copy_from_slice(&1u32.to_le_bytes()); // superblock version
    sb[12..16].copy_from_slice(&1u32.to_le_bytes()); // hash type (format 1)
    sb[16..32].copy_from_slice(uuid);
    sb[32..38].copy_from_slice(b"sha256");
    sb[64..68].copy_from_slice(&(BLOCK_SIZE as u32).to_le_bytes()); // data block size
    sb[68..72].copy_from_slice(&(BLOCK_SIZE as u32).to_le_bytes()); // hash block size
    sb[72..80].copy_from_slice(&data_blocks.to_le_bytes());
    sb[80..82].copy_from_slice(&(salt.len() as u16).to_le_bytes());
    // 6 bytes of padding, then the salt in a 256-byte field, then padding to 512.
    sb[88..88 + salt.len()].copy_from_slice(salt);
    sb
}

/// The parameters a superblock records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// The UUID.
    pub uuid: [u8; 16],
    /// Number of data blocks.
    pub data_blocks: u64,
    /// The salt.
    pub salt: Vec<u8>,
}

/// Reads the superblock at the start of a hash device: `None` unless it is a format-1,
/// SHA-256, 4096-byte-block verity superblock.
#[must_use]
pub fn read_superblock(bytes: &[u8]) -> Option<Superblock> {
    let sb = bytes.get(..SUPERBLOCK_SIZE)?;
    let u32_at = |at: usize| u32::from_le_bytes(sb[at..at + 4].try_into().unwrap_or_default());
    let algorithm = &sb[32..64];
    let name_len = algorithm.iter().position(|&b| b == 0).unwrap_or(32);
    if &sb[0..8] != SIGNATURE
        || u32_at(8) != 1
        || u32_at(12) != 1
        || &algorithm[..name_len] != b"sha256"
        || u32_at(64) != BLOCK_SIZE as u32
        || u32_at(68) != BLOCK_SIZE as u32
    {
        return None;
    }
    let salt_size = usize::from(u16::from_le_bytes([sb[80], sb[81]]));
    if salt_size > 256 {
        return None;
    }
    Some(Superblock {
        uuid: sb[16..32].try_into().ok()?,
        data_blocks: u64::from_le_bytes(sb[72..80].try_into().ok()?),
        salt: sb[88..88 + salt_size].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(blocks: usize) -> Vec<u8> {
        (0..blocks * BLOCK_SIZE)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3])
            .collect()
    }

    #[test]
    fn one_block_has_no_levels() {
        let block = data(1);
        let tree = build(&block, [7; 32], [1; 16]).unwrap();
        let mut hasher = Sha256::new();
        hasher.update([7; 32]);
        hasher.update(&block);
        assert_eq!(tree.root_hash, <[u8; 32]>::from(hasher.finalize()));
        assert_eq!(tree.bytes.len(), BLOCK_SIZE);
    }

    #[test]
    fn levels_are_stored_top_first() {
        // 129 blocks: two level-0 blocks, one level-1 block (the top).
        let tree = build(&data(129), [0; 32], [0; 16]).unwrap();
        assert_eq!(tree.bytes.len(), 4 * BLOCK_SIZE);
        let top = &tree.bytes[BLOCK_SIZE..2 * BLOCK_SIZE];
        let mut hasher = Sha256::new();
        hasher.update([0; 32]);
        hasher.update(top);
        assert_eq!(tree.root_hash, <[u8; 32]>::from(hasher.finalize()));
        // The top block holds the digests of the two level-0 blocks, then zeros.
        for (i, level0) in tree.bytes[2 * BLOCK_SIZE..].chunks(BLOCK_SIZE).enumerate() {
            let mut hasher = Sha256::new();
            hasher.update([0; 32]);
            hasher.update(level0);
            assert_eq!(&top[i * 32..(i + 1) * 32], hasher.finalize().as_slice());
        }
        assert!(top[64..].iter().all(|&b| b == 0));
    }

    #[test]
    fn superblocks_round_trip_and_the_table_names_the_tree() {
        let tree = build(&data(3), [5; 32], [9; 16]).unwrap();
        let sb = read_superblock(&tree.bytes).unwrap();
        assert_eq!(sb.uuid, [9; 16]);
        assert_eq!(sb.data_blocks, 3);
        assert_eq!(sb.salt, vec![5; 32]);
        assert!(read_superblock(&tree.bytes[1..]).is_none());
        assert_eq!(
            tree.table("/dev/vda2", "/dev/vda3", &["ignore_corruption"]),
            format!(
                "0 24 verity 1 /dev/vda2 /dev/vda3 4096 4096 3 1 sha256 {} {} 1 ignore_corruption",
                tree.root_hash_hex(),
                "05".repeat(32)
            )
        );
        assert_eq!(
            format_uuid(&[0xab; 16]),
            "abababab-abab-abab-abab-abababababab"
        );
    }

    #[test]
    fn partial_blocks_are_refused() {
        assert_eq!(
            build(&[], [0; 32], [0; 16]),
            Err(Error::NotBlocks { len: 0 })
        );
        assert_eq!(
            build(&[0; 4097], [0; 32], [0; 16]),
            Err(Error::NotBlocks { len: 4097 })
        );
    }
}
