//! `basalt apk`: tools for people debugging Alpine repositories and packages.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;
use sha1::{Digest as _, Sha1};

use super::terminal::{self, shown};
use super::{ExitStatus, Format, apk_version};
use crate::apk::package::{self, DataEntry, ReadOptions, Script};
use crate::apk::tar::EntryKind;
use crate::apk::{Limits, SignatureStatus, index};

/// Inspect Alpine repository indexes and packages
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ApkCommand,
}

/// The `basalt apk` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApkCommand {
    /// Compare two versions as apk does: prints `<`, `=` or `>`
    Version(apk_version::Args),
    /// Check an APKINDEX.tar.gz: signature and signing key, package count, description
    Index(IndexArgs),
    /// Check an .apk: signature and key, Q1 identity, datahash, metadata and file list
    Inspect(InspectArgs),
}

/// Arguments of `basalt apk index`.
#[derive(Debug, clap::Args)]
pub struct IndexArgs {
    /// The index file (APKINDEX.tar.gz)
    path: PathBuf,
    /// Also trust this public key file, or every `*.pub` file in this directory (repeatable;
    /// the 17 Alpine release keys are always trusted)
    #[arg(long = "keys", value_name = "PATH")]
    keys: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Arguments of `basalt apk inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The package file (.apk)
    path: PathBuf,
    /// Also trust this public key file, or every `*.pub` file in this directory (repeatable;
    /// the 17 Alpine release keys are always trusted)
    #[arg(long = "keys", value_name = "PATH")]
    keys: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Runs a `basalt apk` subcommand.
///
/// # Errors
/// Unreadable or malformed input.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    match args.command {
        ApkCommand::Version(args) => apk_version::run(&args),
        ApkCommand::Index(args) => run_index(args),
        ApkCommand::Inspect(args) => run_inspect(args),
    }
}

#[derive(Serialize)]
struct IndexReport<'a> {
    file: String,
    signature: &'a SignatureStatus,
    description: Option<&'a str>,
    packages: usize,
}

fn run_index(args: IndexArgs) -> anyhow::Result<ExitStatus> {
    let IndexArgs { path, keys, format } = args;
    let ring = crate::repo::keyring(&keys)?;
    let label = path.display().to_string();
    let file = crate::input::open(&path)?;
    // Every package is parsed and validated; none needs to be kept.
    let index = index::read_index_with(file, &label, &ring, &Limits::default(), |_| {})?;
    let report = IndexReport {
        file: label,
        signature: &index.signature,
        description: index.description.as_deref(),
        packages: index.packages,
    };
    match format {
        Format::Json => {
            let mut out = io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        Format::Human => {
            let mut out = terminal::stdout();
            writeln!(out, "index:       {}", report.file)?;
            writeln!(out, "signature:   {}", report.signature)?;
            writeln!(
                out,
                "description: {}",
                shown(report.description.unwrap_or("(none)"))
            )?;
            writeln!(out, "packages:    {}", report.packages)?;
        }
    }
    Ok(ExitStatus::problem_if(!index.signature.is_verified()))
}

#[derive(Serialize)]
struct ScriptReport<'a> {
    name: &'a str,
    mode: String,
    size: usize,
    sha1: String,
}

#[derive(Serialize)]
struct FileReport<'a> {
    #[serde(flatten)]
    entry: &'a DataEntry,
    mode_text: String,
}

#[derive(Serialize)]
struct InspectReport<'a> {
    file: String,
    name: &'a str,
    version: &'a str,
    signature: &'a SignatureStatus,
    identity: String,
    datahash: &'a str,
    datahash_checked: bool,
    metadata: &'a [crate::apk::pkginfo::Field],
    scripts: Vec<ScriptReport<'a>>,
    files: Vec<FileReport<'a>>,
}

fn run_inspect(args: InspectArgs) -> anyhow::Result<ExitStatus> {
    let InspectArgs { path, keys, format } = args;
    let ring = crate::repo::keyring(&keys)?;
    let label = path.display().to_string();
    let file = crate::input::open(&path)?;
    let mut entries = Vec::new();
    let result = package::read_package(
        io::BufReader::new(file),
        &label,
        &ReadOptions::new(&ring),
        |entry, _content| {
            entries.push(entry.clone());
            Ok(())
        },
    );
    let pkg = match result {
        Ok(pkg) => pkg,
        Err(err) if err.is_check_failure() => {
            let _ = writeln!(terminal::stderr(), "error: check failed: {err}");
            return Ok(ExitStatus::Problem);
        }
        Err(err) => return Err(err.into()),
    };
    let report = InspectReport {
        file: label,
        name: pkg.pkginfo.name(),
        version: pkg.pkginfo.version(),
        signature: &pkg.signature,
        identity: pkg.identity.to_string(),
        datahash: &pkg.datahash,
        datahash_checked: pkg.datahash_checked,
        metadata: &pkg.pkginfo.fields,
        scripts: pkg.scripts.iter().map(script_report).collect(),
        files: entries
            .iter()
            .map(|entry| FileReport {
                entry,
                mode_text: mode_text(entry.kind, entry.mode),
            })
            .collect(),
    };
    match format {
        Format::Json => {
            let mut out = io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        Format::Human => write_inspect_human(&mut terminal::stdout(), &report)?,
    }
    Ok(ExitStatus::problem_if(!pkg.signature.is_verified()))
}

fn script_report(script: &Script) -> ScriptReport<'_> {
    ScriptReport {
        name: &script.name,
        mode: format!("{:04o}", script.mode),
        size: script.bytes.len(),
        sha1: hex::encode(Sha1::digest(&script.bytes)),
    }
}

fn write_inspect_human(out: &mut impl Write, r: &InspectReport<'_>) -> io::Result<()> {
    // Everything from the package is untrusted: each value is escaped onto its line.
    writeln!(out, "package:   {} {}", shown(r.name), shown(r.version))?;
    writeln!(out, "file:      {}", shown(&r.file))?;
    writeln!(out, "signature: {}", r.signature)?;
    writeln!(out, "identity:  {}", r.identity)?;
    let check = if r.datahash_checked {
        "matches .PKGINFO"
    } else {
        "no datahash in .PKGINFO"
    };
    writeln!(out, "datahash:  {} ({check})", shown(r.datahash))?;
    writeln!(out, "metadata:")?;
    for field in r.metadata {
        writeln!(out, "  {} = {}", shown(&field.key), shown(&field.value))?;
    }
    writeln!(out, "scripts:")?;
    if r.scripts.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for s in &r.scripts {
        writeln!(
            out,
            "  {} {} {} bytes sha1:{}",
            s.mode,
            shown(s.name),
            s.size,
            s.sha1
        )?;
    }
    writeln!(out, "files:")?;
    for f in &r.files {
        let e = f.entry;
        let mut line = format!(
            "  {} {}:{} {:>10} {}",
            f.mode_text,
            shown(&e.uname),
            shown(&e.gname),
            e.size,
            shown(&e.path)
        );
        if let Some(target) = &e.link_target {
            let arrow = if e.kind == EntryKind::HardLink {
                "link to"
            } else {
                "->"
            };
            line.push_str(&format!(" {arrow} {}", shown(target)));
        }
        if let Some(sha1) = e.sha1 {
            line.push_str(&format!("  sha1:{}", hex::encode(sha1)));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// `ls -l` style mode text, for example `-rwxr-xr-x` or `lrwxrwxrwx`.
fn mode_text(kind: EntryKind, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(match kind {
        EntryKind::File => '-',
        EntryKind::HardLink => 'h',
        EntryKind::Symlink => 'l',
        EntryKind::CharDevice => 'c',
        EntryKind::BlockDevice => 'b',
        EntryKind::Directory => 'd',
        EntryKind::Fifo => 'p',
    });
    let special = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
    for (i, (set, on, off)) in special.into_iter().enumerate() {
        let shift = 6 - 3 * i;
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, mode & set != 0) {
            (true, true) => on,
            (false, true) => off,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_text_matches_ls() {
        assert_eq!(mode_text(EntryKind::File, 0o755), "-rwxr-xr-x");
        assert_eq!(mode_text(EntryKind::File, 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_text(EntryKind::Directory, 0o1777), "drwxrwxrwt");
        assert_eq!(mode_text(EntryKind::Symlink, 0o777), "lrwxrwxrwx");
        assert_eq!(mode_text(EntryKind::File, 0o2644), "-rw-r-Sr--");
    }
}
