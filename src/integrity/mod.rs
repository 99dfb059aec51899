//! `integrity`: describing an image or a host, signing the description, and checking a host
//! or an image against it.
//!
//! - [`manifest`]: the description of every entry of an image or root; canonical text,
//!   digest, JSON and mtree exports.
//! - [`sign`]: Ed25519 keys and signatures in minisign's formats; trusted and revoked keys.
//! - [`host`]: a read-only, parallel, streaming walk of a root or an image archive.
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
