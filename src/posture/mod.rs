//! `posture`: what a host's state means for its security and its next redeploy.
//!
//! - [`audit`]: host checks (OS, access, logs, network, Docker, containers, immutability),
//!   their findings with evidence, and SARIF output.
//! - [`scan`]: installed packages against Alpine's security database.
//! - [`outdated`]: which packages have newer versions in the repositories now.
//! - [`diff`]: what a redeploy changes: packages and files between two sides.
//! - [`target`]: what `scan`, `outdated` and `diff` read: a tree's installed-package database,
//!   a manifest or a lock.
//!
//! Invariant: findings are values; nothing here prints or decides an exit code.

pub mod audit;
pub mod diff;
pub mod outdated;
pub mod scan;
pub mod target;
