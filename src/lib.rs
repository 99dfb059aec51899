//! basalt builds minimal, hardened Alpine container hosts, signs a manifest of every file, and
//! later verifies and audits hosts and images against it.
//!
//! # Code map, in layers
//!
//! Each layer uses only the layers above it: arrows point down.
//!
//! 1. Vocabulary
//!    - [`finding`]: the shape of a check result: stable codes and severities.
//!    - [`policy`]: where a running host may differ from its image (the runtime policy).
//!    - [`epoch`]: `SOURCE_DATE_EPOCH`, the one clock of reproducible outputs.
//!    - [`tree`]: the in-memory image: normalised paths, nodes, owners.
//! 2. Formats
//!    - [`apk`]: Alpine's formats, pure: versions, dependencies, indexes, packages,
//!      signatures, the installed database.
//! 3. Inputs
//!    - [`profile`]: the host profile: TOML in, a validated, normalised
//!      [`profile::Profile`] out.
//!    - [`repo`]: where package bytes come from: local, `file://` and `http(s)://`
//!      repositories, through a content-addressed cache that is verified on every read.
//! 4. [`integrity`]: describing an image or a host (manifest), signing the description, and
//!    verifying a host or an image against it.
//! 5. [`build`]: resolve, lock, fetch, unpack, script effects, render, image, SBOM.
//! 6. [`posture`]: audit, vulnerability scan, outdated packages, redeploy diff.
//! 7. [`cli`]: the only module that knows about argument parsing, stdout/stderr and exit codes.
//!
//! # Invariants
//!
//! - Untrusted input (archives, indexes, manifests, host trees) is hostile by default: every
//!   parser bounds the memory and time it spends, and errors name the subject and the evidence.
//! - Output is deterministic: sorted containers feed every output, and no output depends on
//!   umask, locale, time zone, build directory, user or thread count.
//! - Library code never prints; `cli` decides what is shown and which exit code is returned.

#![deny(clippy::print_stdout, clippy::print_stderr)]

// 1. Vocabulary.
pub mod epoch;
pub mod finding;
pub mod policy;
pub mod tree;

// 2. Formats.
pub mod apk;

// 3. Inputs.
pub mod profile;
pub mod repo;

// 4. Integrity.
pub mod integrity;

// 5. Build.
pub mod build;

// 6. Posture.
pub mod posture;

// 7. The shell.
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub mod cli;
