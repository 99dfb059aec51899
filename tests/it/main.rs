//! The integration tests, as one binary: each module is one area, and `support` holds the
//! fixture builders they share (a writer of APK packages and indexes, the shared real-world
//! data, the boot helpers).

#[path = "../support/mod.rs"]
mod support;

mod apk_cli;
mod apk_formats;
mod apk_hostile;
mod apk_props;
mod apk_real;
mod apk_version_cli;
mod audit;
mod boot;
mod build_boot;
mod build_cli;
mod build_fixtures;
mod build_vs_apk;
mod cli_profile;
mod diff;
mod installed;
mod interop;
mod lock_cli;
mod lock_datahash;
mod lock_inputs;
mod manifest_formats;
mod outdated;
mod profile;
mod profile_build;
mod render;
mod repo;
mod resolve_vs_apk;
mod scan;
mod verify;
mod version_vs_apk;
