//! `integrity`: describing an image or a host, signing the description, and checking a host
//! or an image against it.
//!
//! - [`manifest`]: the description of every entry of an image or root; canonical text,
//!   digest, JSON and mtree exports.
//! - [`sign`]: Ed25519 keys and signatures in minisign's formats; trusted and revoked keys.
//! - [`host`]: a root or an image archive read into manifest entries.
//! - [`walk`]: the walk of a live root in the manifest's order, with a fixed number of reads
//!   in flight: read-only, never following a symlink nor opening a special file.
//! - [`rootfs`]: a read-only view of a root directory or image archive; paths resolve inside
//!   it.
//! - [`compare`]: the merge-join of two sorted entry lists.
//! - [`verify`]: signature first, then drift under the runtime policy, as findings.
//!
//! Invariant: nothing here writes to the file system.

pub mod archive;
pub mod compare;
pub mod host;
pub mod manifest;
pub mod rootfs;
pub mod sign;
pub mod verify;
pub mod walk;
