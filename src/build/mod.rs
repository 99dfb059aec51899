//! `build`: a validated profile and verified packages become a host image.
//!
//! The stages, in the order [`pipeline`] runs them:
//!
//! - [`resolve`]: choosing exact packages for a world, with apk-tools' semantics.
//! - [`lock`]: a profile's packages resolved against its repositories' signed indexes and
//!   written down (lock files): canonical text, staleness.
//! - [`fetch`]: the locked packages, fetched and checked against the lock.
//! - [`unpack`]: package data into the tree, as apk installs it; path safety and conflicts.
//! - [`effects`]: what skipped package scripts would have done (accounts, busybox links, CA
//!   bundle and its links, read with [`certs`]), and the OpenRC runlevels.
//! - [`render`]: templates (built-in or the profile's own) and the profile → configuration
//!   files.
//! - [`image`]: the tree as a reproducible tar.gz.
//! - [`kernel`]: the kernel an image boots (a package's, or files built elsewhere), its
//!   modules and their `modules.dep` and `modules.alias`.
//! - [`sbom`]: the SPDX 2.3 bill of materials of an image.
//! - [`verifier`]: the boot-time verifier an image carries, and whether it can run there.
//! - [`pipeline`]: the order of the build stages, from packages to the assembled image
//!   ([`pipeline::build`]).
//!
//! What a built image boots from, made from the finished tree:
//!
//! - [`initramfs`]: the tree as a reproducible `newc` cpio archive (the root in memory).
//! - [`uki`]: a Unified Kernel Image: an EFI stub with the kernel, initramfs and command line.
//! - [`disk`]: the bootable disk: the tree as a squashfs root with its dm-verity hash tree,
//!   the EFI system partition, the GPT, the small initramfs that verifies the root at boot,
//!   and ([`disk::setup`]) the part of basalt that initramfs runs (`basalt initramfs`).
//!
//! Invariant: nothing here prints, reads the clock or depends on the building host, with two
//! named exceptions: [`disk::squashfs`] packs the root with `tar2sqfs` (and
//! [`disk::qemu_img`] converts the disk), and [`disk::setup`] runs at boot on the host
//! itself, where it reads the kernel's view of the disks and sets up device-mapper.

pub mod certs;
pub mod disk;
pub mod effects;
pub mod fetch;
pub mod image;
pub mod initramfs;
pub mod kernel;
pub mod lock;
pub mod pipeline;
pub mod render;
pub mod resolve;
pub mod sbom;
pub mod uki;
pub mod unpack;
pub mod verifier;
