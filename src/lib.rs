//! basalt builds minimal, hardened Alpine container hosts, signs a manifest of every file, and
//! later verifies and audits hosts and images against it.
//!
//! # Code map, in pipeline order
//!
//! - [`finding`]: the shape of a check result: stable codes and severities.
//! - [`apk`]: Alpine's formats, pure: versions, dependencies, indexes, packages, signatures,
//!   the installed database.
//! - [`profile`]: the host profile: TOML in, a validated, normalised [`profile::Profile`] out.
//! - [`render`]: templates (built-in or the profile's own) and the profile → configuration files.
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

pub mod finding;

pub mod apk;

pub mod profile;

pub mod render;

#[allow(clippy::print_stdout, clippy::print_stderr)]
pub mod cli;
