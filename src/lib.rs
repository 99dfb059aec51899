//! basalt builds minimal, hardened Alpine container hosts, signs a manifest of every file, and
//! later verifies and audits hosts and images against it.
//!
//! # Code map, in pipeline order
//!
//! - [`finding`]: the shape of a check result: stable codes and severities.
//! - [`apk`]: Alpine's formats, pure: versions, dependencies, indexes, packages, signatures,
//!   the installed database.
//! - [`resolve`]: choosing exact packages for a world, with apk-tools' semantics.
//! - [`lock`]: a resolution written down (lock files): canonical text, staleness.
//! - [`scan`]: installed packages against Alpine's security database.
//! - [`diff`]: what a redeploy changes: packages and files between two sides.
//! - [`outdated`]: which packages have newer versions in the repositories now.
//! - [`repo`]: where package bytes come from: local, `file://` and `http(s)://` repositories,
//!   through a content-addressed cache that is verified on every read; offline mode.
//! - [`tree`]: the in-memory image: normalised paths, nodes, owners.
//! - [`profile`]: the host profile: TOML in, a validated, normalised [`profile::Profile`] out.
//! - [`render`]: templates (built-in or the profile's own) and the profile → configuration files.
//! - [`unpack`]: package data into the tree, as apk installs it; path safety and conflicts.
//! - [`effects`]: what skipped package scripts would have done (accounts, busybox links, CA
//!   bundle), and the OpenRC runlevels.
//! - [`image`]: the tree as a reproducible tar.gz.
//! - [`kernel`]: the kernel an image boots, its modules and their `modules.dep`.
//! - [`initramfs`]: the tree as a reproducible `newc` cpio archive (root in memory).
//! - [`uki`]: a Unified Kernel Image: an EFI stub with the kernel, initramfs and command line.
//! - [`sbom`]: the SPDX 2.3 bill of materials of an image.
//! - [`pipeline`]: the order of the build stages, from packages to the assembled image.
//! - [`manifest`]: the description of every entry of an image or root; canonical text, digest,
//!   JSON and mtree exports.
//! - [`sign`]: Ed25519 keys and signatures in minisign's formats; trusted and revoked keys.
//! - [`host`]: a read-only, parallel, streaming walk of a root or an image archive.
//! - [`compare`]: the merge-join of two sorted entry lists.
//! - [`verify`]: signature first, then drift under the runtime policy, as findings.
//! - [`rootfs`]: a read-only view of a root directory or image archive; paths resolve inside it.
//! - [`audit`]: host checks kept as data (OS, access, logs, network, Docker, containers,
//!   immutability), their findings with evidence, and SARIF output.
//! - [`disk`]: the bootable disk: squashfs root, dm-verity hash tree, EFI system partition,
//!   GPT, the initramfs that verifies the root at boot and the helper it runs.
//! - [`cli`]: the only module that knows about argument parsing, stdout/stderr and exit codes.
//!
//! # Invariants
//!
//! - Untrusted input (archives, indexes, manifests, host trees) is hostile by default: every
//!   parser bounds the memory and time it spends, and errors name the subject and the evidence.
//! - Output is deterministic: sorted containers feed every output, and no output depends on
//!   umask, locale, time zone, build directory, user or thread count.
//! - Library code never prints; `cli` decides what is shown and which exit code is returned.

#![deny(clippy::print_stdout, clippy::print_stderr)]

// Vocabulary and formats.
pub mod apk;
pub mod finding;

// Inputs and resolution.
pub mod lock;
pub mod profile;
pub mod repo;
pub mod resolve;

// Build stages, in order.
pub mod certs;
pub mod effects;
pub mod image;
pub mod initramfs;
pub mod kernel;
pub mod pipeline;
pub mod render;
pub mod sbom;
pub mod tree;
pub mod uki;
pub mod unpack;

// Describing, signing and checking images and hosts.
pub mod compare;
pub mod host;
pub mod manifest;
pub mod rootfs;
pub mod sign;
pub mod verify;

// Bootable disks.
pub mod disk;

// The redeploy loop and the checklist.
pub mod audit;
pub mod diff;
pub mod outdated;
pub mod scan;

#[allow(clippy::print_stdout, clippy::print_stderr)]
pub mod cli;
