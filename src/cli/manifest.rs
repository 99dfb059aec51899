//! `basalt manifest`: describe a root directory or an image archive.

use std::io::{BufWriter, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::ValueEnum;

use crate::integrity::host::{self, ScanOptions};
use crate::integrity::manifest::{Header, RuntimePolicy, render_header_into};
use crate::integrity::walk::Tuning;

use super::ExitStatus;

/// Output format of `basalt manifest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ManifestFormat {
    /// The canonical text (what is signed).
    #[default]
    Text,
    /// JSON: header and entries.
    Json,
    /// A NetBSD mtree specification (`mtree -f SPEC -p ROOT`).
    Mtree,
}

/// Describe every entry of a root directory or an image archive (tar or tar.gz)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A root directory, or an image archive (`IMAGE.tar.gz`)
    pub tree: PathBuf,
    /// The profile whose `[filesystem]` runtime policy (ephemeral, state, mutable) goes into
    /// the header, and whose name and version name the image
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<PathBuf>,
    /// Image name for the header (default: the profile's name, else the tree's file name)
    #[arg(long, value_name = "NAME")]
    pub image: Option<String>,
    /// Image version for the header (default: the profile's version, else `0`)
    #[arg(long = "image-version", value_name = "VERSION")]
    pub image_version: Option<String>,
    /// An ephemeral path for the runtime policy (added to the profile's); may be repeated
    #[arg(long, value_name = "PATH")]
    pub ephemeral: Vec<String>,
    /// A state path for the runtime policy (added to the profile's); may be repeated
    #[arg(long, value_name = "PATH")]
    pub state: Vec<String>,
    /// A mutable path for the runtime policy (added to the profile's); may be repeated
    #[arg(long, value_name = "PATH")]
    pub mutable: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ManifestFormat::Text)]
    pub format: ManifestFormat,
    /// Write to FILE (atomically) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Reads in flight: the threads that list the tree's directories and read its files
    /// (default: 32, or one per core when there are more; while every file read is in the
    /// page cache, only one more than the cores work)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub readers: Option<u16>,
}

/// How a walk runs with `--readers`.
pub(crate) fn tuning(readers: Option<u16>) -> Tuning {
    let mut tuning = Tuning::default();
    if let Some(n) = readers {
        tuning.readers = usize::from(n);
    }
    tuning
}

/// Runs `basalt manifest`.
///
/// # Errors
/// When the tree cannot be read or the output cannot be written.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let Args {
        tree,
        profile,
        image,
        image_version,
        ephemeral,
        state,
        mutable,
        format,
        out,
        readers,
    } = args;
    let from_profile = profile.as_deref().map(profile_policy).transpose()?;
    let (mut policy, profile_name, profile_version, profile_digest) = match from_profile {
        Some(p) => (p.policy, Some(p.name), Some(p.version), Some(p.digest)),
        None => (RuntimePolicy::default(), None, None, None),
    };
    for (list, extra) in [
        (&mut policy.ephemeral, ephemeral),
        (&mut policy.state, state),
        (&mut policy.mutable, mutable),
    ] {
        for path in extra {
            if !path.starts_with('/') || path.split('/').any(|c| c == "..") {
                anyhow::bail!("runtime policy path `{path}` is not absolute and normalised");
            }
            list.push(path);
        }
    }
    let default_name = tree
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".tar.gz").to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "root".to_owned());
    let header = Header {
        image: image.or(profile_name).unwrap_or(default_name),
        version: image_version
            .or(profile_version)
            .unwrap_or_else(|| "0".to_owned()),
        profile_digest,
        lock_digest: None,
        build_time: super::build_time()?,
        root_hash: None,
        packages: Vec::new(),
        policy: policy.normalised(),
    };
    if format == ManifestFormat::Text && fs_err::metadata(&tree)?.is_dir() {
        write_described(&tree, header, out.as_deref(), tuning(readers))?;
        return Ok(ExitStatus::Clean);
    }
    let scan = host::scan_tree_with(&tree, &ScanOptions::default(), tuning(readers))?;
    let manifest = host::manifest_from_scan(scan, header)
        .with_context(|| format!("failed to describe `{}`", tree.display()))?;
    let bytes = match format {
        ManifestFormat::Text => manifest.render(),
        ManifestFormat::Json => {
            let mut v = serde_json::to_vec_pretty(&manifest.to_json())?;
            v.push(b'\n');
            v
        }
        ManifestFormat::Mtree => manifest.to_mtree().into_bytes(),
    };
    match out {
        Some(path) => super::write_atomic(&path, &bytes, 0o644)?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&bytes)?;
            stdout.flush()?;
        }
    }
    Ok(ExitStatus::Clean)
}

/// Entries' text held in memory before it goes to a temporary file.
const SPOOL_IN_MEMORY: usize = 8 << 20;

/// Walks the directory `tree` and writes its manifest's canonical text to `out` (atomically)
/// or stdout, without holding its entries: their lines go to a spool (in memory while small,
/// then an unnamed temporary file beside the output) until their number, which the header
/// announces, is known.
fn write_described(
    tree: &Path,
    header: Header,
    out: Option<&Path>,
    tuning: Tuning,
) -> anyhow::Result<()> {
    let spool_dir = match out.and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        Some(_) => PathBuf::from("."),
        None => std::env::temp_dir(),
    };
    let mut spool = tempfile::spooled_tempfile_in(SPOOL_IN_MEMORY, &spool_dir);
    let mut line = String::with_capacity(256);
    let (header, count) = {
        let mut writer = BufWriter::with_capacity(256 * 1024, &mut spool);
        let described = host::describe_root(tree, header, tuning, |entry| {
            line.clear();
            entry.render_into(&mut line);
            line.push('\n');
            writer.write_all(line.as_bytes())
        })
        .with_context(|| format!("failed to describe `{}`", tree.display()))?;
        writer
            .flush()
            .with_context(|| format!("failed to describe `{}`", tree.display()))?;
        described
    };
    let mut head = String::new();
    render_header_into(&header, count, &mut head);
    spool.seek(SeekFrom::Start(0))?;
    match out {
        Some(path) => {
            let mut output = crate::output::create(path, 0o644)?;
            let written = output
                .file()
                .write_all(head.as_bytes())
                .and_then(|()| std::io::copy(&mut spool, output.file()).map(drop));
            written.with_context(|| format!("failed to write `{}`", path.display()))?;
            output.commit()?;
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(head.as_bytes())?;
            std::io::copy(&mut spool, &mut stdout)?;
            stdout.flush()?;
        }
    }
    Ok(())
}

/// What `basalt manifest --profile` takes from a profile.
struct ProfilePolicy {
    name: String,
    version: String,
    digest: String,
    policy: RuntimePolicy,
}

/// Reads a profile's image name and version, its digest and its `[filesystem]` runtime policy.
fn profile_policy(path: &Path) -> anyhow::Result<ProfilePolicy> {
    let profile = crate::profile::load(path)?;
    let policy = profile.runtime_policy();
    Ok(ProfilePolicy {
        name: profile.image.name.clone(),
        version: profile.image.version.clone(),
        digest: format!("sha256:{}", profile.digest()),
        policy,
    })
}
