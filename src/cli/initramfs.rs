//! `basalt initramfs`: what a disk's initramfs runs at boot: map the root partition through
//! dm-verity (`verity`), and find a blank partition for a state volume (`blank`).

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use super::ExitStatus;
use crate::build::disk::initramfs::VerityMode;
use crate::build::disk::setup::{self, System};

/// Set up a disk's verified root at boot (run by the disk's initramfs)
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Find the root and hash partitions whose GPT GUIDs derive from ROOT_HASH and map them
    /// through dm-verity as /dev/mapper/NAME; with `enforce` or `warn`, read every block now
    /// (exit 1 under `enforce` when one does not match)
    Verity {
        /// The root hash (64 hex digits), from `roothash=` on the kernel command line
        #[arg(long, value_name = "HEX")]
        root_hash: String,
        /// enforce: a changed block stops the boot; warn: it is reported and the boot goes
        /// on; lazy: blocks are checked as they are read
        #[arg(long, value_name = "MODE", value_parser = parse_mode)]
        mode: VerityMode,
        /// The device-mapper name
        #[arg(long, default_value = "root")]
        name: String,
        /// Seconds to wait for the partitions to appear
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        timeout: u64,
    },
    /// Print the device of the blank GPT partition named LABEL (exit 1 when the partition
    /// holds data, 2 when there is no such partition)
    Blank {
        /// The GPT partition name (the state volume's label)
        #[arg(long)]
        label: String,
    },
}

fn parse_mode(word: &str) -> Result<VerityMode, String> {
    VerityMode::parse(word).ok_or_else(|| format!("`{word}` is not enforce, warn or lazy"))
}

/// Runs `basalt initramfs`.
///
/// # Errors
/// When the setup cannot be done.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    match args.command {
        Command::Verity {
            root_hash,
            mode,
            name,
            timeout,
        } => verity(&root_hash, mode, &name, Duration::from_secs(timeout)),
        Command::Blank { label } => blank(&label),
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "basalt initramfs: {line}");
    let _ = out.flush();
}

fn verity(
    root_hash: &str,
    mode: VerityMode,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<ExitStatus> {
    let system = System::default();
    let hash = setup::parse_root_hash(root_hash)?;
    let (root, hash_partition) = setup::find_verity_partitions(&system, &hash, timeout)?;
    let superblock = setup::read_superblock(&hash_partition.device)?;
    let params = setup::table(
        &root.device,
        &hash_partition.device,
        &superblock,
        &hash,
        mode == VerityMode::Warn,
    );
    let sectors = superblock.data_blocks * (crate::build::disk::verity::BLOCK_SIZE as u64 / 512);
    let node = map(&system.dev, name, sectors, &params)?;
    say(&format!(
        "{} (data) and {} (hash tree) mapped through dm-verity as /dev/mapper/{name}",
        root.device.display(),
        hash_partition.device.display()
    ));
    if mode == VerityMode::Lazy {
        return Ok(ExitStatus::Clean);
    }
    let check = setup::read_all(&node)?;
    let corrupted = check.failed_blocks > 0 || corrupted(name)?;
    if !corrupted {
        say(&format!(
            "all {} blocks of the root partition match root hash {root_hash}",
            check.blocks
        ));
        return Ok(ExitStatus::Clean);
    }
    let what = match check.first_failed {
        Some(first) => format!(
            "{} of {} blocks of the root partition {} do not match root hash {root_hash} (the first: block {first})",
            check.failed_blocks,
            check.blocks,
            root.device.display()
        ),
        None => format!(
            "the root partition {} does not match root hash {root_hash} (dm-verity found changed blocks; see the kernel's messages)",
            root.device.display()
        ),
    };
    if mode == VerityMode::Enforce {
        say(&format!("VERIFICATION FAILED: {what}"));
        return Ok(ExitStatus::Problem);
    }
    say(&format!(
        "WARNING: {what}; the boot goes on ([verify] at_boot = \"warn\")"
    ));
    let state = Path::new("/run/basalt");
    let _ = std::fs::create_dir_all(state);
    let _ = std::fs::write(state.join("verity-failed"), format!("{what}\n"));
    Ok(ExitStatus::Clean)
}

#[cfg(feature = "dm")]
fn map(dev: &Path, name: &str, sectors: u64, params: &str) -> anyhow::Result<std::path::PathBuf> {
    Ok(setup::dm::create_verity(dev, name, sectors, params)?)
}

#[cfg(not(feature = "dm"))]
fn map(_: &Path, _: &str, _: u64, _: &str) -> anyhow::Result<std::path::PathBuf> {
    Err(setup::Error::NoDeviceMapper.into())
}

#[cfg(feature = "dm")]
fn corrupted(name: &str) -> anyhow::Result<bool> {
    Ok(setup::dm::corrupted(name)?)
}

#[cfg(not(feature = "dm"))]
fn corrupted(_: &str) -> anyhow::Result<bool> {
    Err(setup::Error::NoDeviceMapper.into())
}

fn blank(label: &str) -> anyhow::Result<ExitStatus> {
    let system = System::default();
    let Some(found) = setup::partitions(&system)
        .into_iter()
        .find(|p| p.name == label)
    else {
        return Ok(ExitStatus::Error);
    };
    if !setup::is_blank(&found.device)? {
        return Ok(ExitStatus::Problem);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", found.device.display())?;
    Ok(ExitStatus::Clean)
}
