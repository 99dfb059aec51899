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
//!   bundle), and the OpenRC runlevels.
//! - [`render`]: templates (built-in or the profile's own) and the profile → configuration
//!   files.
//! - [`image`]: the tree as a reproducible tar.gz.
//! - [`sbom`]: the SPDX 2.3 bill of materials of an image.
//! - [`verifier`]: the boot-time verifier an image carries, and whether it can run there.
//! - [`pipeline`]: the order of the build stages, from packages to the assembled image
//!   ([`pipeline::build`]).
//!
//! Invariant: nothing here prints, reads the clock or depends on the building host.

pub mod effects;
pub mod fetch;
pub mod image;
pub mod lock;
pub mod pipeline;
pub mod render;
pub mod resolve;
pub mod sbom;
pub mod unpack;
pub mod verifier;
