//! basalt builds minimal, hardened Alpine container hosts (root archives, and images that
//! boot: initramfs, UKI, a disk with a dm-verity root), signs a manifest of every file, and
//! later verifies and audits hosts and images against it.
//!
//! # Code map, in layers
//!
//! Arrows point down: a module uses only the layers above its own (and, in a folder, the
//! modules of its folder). `tests/it/architecture.rs` reads every `use crate::…` line and
//! holds the code to this table.
//!
//! | layer | modules | what it is |
//! | --- | --- | --- |
//! | vocabulary | [`epoch`], [`finding`], [`policy`], [`tree`] | the words every layer speaks: the reproducible clock, check results, the runtime policy, the in-memory image and its paths |
//! | formats | [`accounts`], [`apk/`](apk) | the account databases (`/etc/passwd`, `/etc/group`, `/etc/shadow`); Alpine's formats, pure: versions, dependencies, indexes, packages, signatures, the installed database |
//! | inputs | [`profile/`](profile), [`repo/`](repo) | what the user asked for (validated, with the [hardening defaults](profile::hardening)); where package bytes come from |
//! | integrity | [`integrity/`](integrity) | one archive reader, the host walk, the read-only root, the manifest, signatures, comparison, verification |
//! | build | [`build/`](build) | resolve, lock, fetch, unpack, script effects, render, image, SBOM, the pipeline; the kernel, initramfs, UKI and verified disk an image boots from |
//! | posture | [`posture/`](posture) | audit (one module per check family), vulnerability scan, outdated packages, redeploy diff, and what they read |
//! | shell | [`cli/`](cli) | argument parsing, output and exit codes; nothing uses it |
//!
//! Two rules narrow the table: `build` uses `integrity` only to describe and sign what it
//! built (`archive`, `host`, `manifest`, `sign`), never to check it; `posture` uses `build`
//! only to read lock files (`lock`). Only `cli` knows `clap` and `anyhow`.
//! `docs/architecture.md` tells the data flow and why the layers are in this order.
//!
//! # Invariants
//!
//! - Untrusted input (archives, indexes, manifests, host trees) is hostile by default: every
//!   parser bounds the memory and time it spends, and errors name the subject and the evidence.
//! - Output is deterministic: sorted containers feed every output, and no output depends on
//!   umask, locale, time zone, build directory, user or thread count.
//! - Library code never prints; `cli` decides what is shown and which exit code is returned.

#![deny(clippy::print_stdout, clippy::print_stderr)]

// vocabulary
pub mod epoch;
pub mod finding;
pub mod policy;
pub mod tree;

// formats
pub mod accounts;
pub mod apk;

// inputs
pub mod profile;
pub mod repo;

// integrity
pub mod integrity;

// build
pub mod build;

// posture
pub mod posture;

// shell
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub mod cli;
