//! `basalt verify`: check a host or an image against a signed manifest.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::host::ScanOptions;
use crate::input;
use crate::manifest::Manifest;
use crate::sign::{Keyring, PublicKey, Signature};
use crate::verify::{self, Finding, Report, SignatureCheck};

use super::{ExitStatus, Format};

/// Check a host (or an image) against a signed manifest: the signature first, then every entry
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The manifest (`basalt manifest`)
    #[arg(long, value_name = "FILE")]
    pub manifest: PathBuf,
    /// Its signature (default: the manifest's path with `.minisig` appended)
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
    /// A trusted public key, or a directory of them (`*.pub`); may be repeated
    #[arg(long, value_name = "PUB", required_unless_present = "no_signature")]
    pub key: Vec<PathBuf>,
    /// Revoked keys: one key id or public key per line
    #[arg(long, value_name = "FILE")]
    pub revoked: Option<PathBuf>,
    /// Do not check the signature (explicitly trusting the manifest as it is)
    #[arg(long, conflicts_with_all = ["key", "signature", "revoked"])]
    pub no_signature: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// The root directory or image archive to verify
    #[arg(default_value = "/")]
    pub tree: PathBuf,
}

/// Runs `basalt verify`.
///
/// # Errors
/// When the manifest, keys or tree cannot be read (exit 2); a bad signature and findings are
/// exit 1.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let Args {
        manifest,
        signature,
        key,
        revoked,
        no_signature,
        format,
        tree,
    } = args;
    let bytes = input::read(&manifest, input::MAX_MANIFEST, "a manifest")?;
    let signature_check = if no_signature {
        SignatureCheck::Unchecked
    } else {
        let keyring = load_keyring(&key, revoked.as_deref())?;
        let sig_path = signature.unwrap_or_else(|| {
            let mut p = manifest.as_os_str().to_owned();
            p.push(".minisig");
            PathBuf::from(p)
        });
        // Whatever is not a readable minisign signature is a bad signature (exit 1); only a
        // signature that cannot be read at all (permissions, I/O) stops the job (exit 2).
        let sig_text = match input::read_text(&sig_path, input::MAX_KEY, "a signature") {
            Ok(text) => text,
            Err(input::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return refuse(&format!(
                    "the signature `{}` is missing\n\nhint: sign the manifest with `basalt sign`, or pass --no-signature to skip the check",
                    sig_path.display()
                ));
            }
            Err(input::Error::Io { path, source })
                if source.kind() != std::io::ErrorKind::InvalidData =>
            {
                return Err(input::Error::Io { path, source }.into());
            }
            Err(e) => {
                return refuse(&format!(
                    "the manifest's signature is not valid: {:#}",
                    anyhow::Error::new(e)
                ));
            }
        };
        let outcome = Signature::parse(&sig_text)
            .map_err(verify::Error::Signature)
            .and_then(|sig| verify::check_signature(&bytes, &sig, &keyring));
        match outcome {
            Ok(_) => SignatureCheck::Verified,
            Err(e) => return refuse(&format!("{:#}", anyhow::Error::new(e))),
        }
    };
    let what = || format!("failed to read the manifest `{}`", manifest.display());
    // The header holds the runtime policy the walk needs; the entries are read meanwhile.
    let header = Manifest::parse_header(&bytes).with_context(what)?;
    let options = ScanOptions::for_policy(&header.policy);
    let (parsed, scan) = rayon::join(
        || Manifest::parse(&bytes),
        || super::manifest::scan_tree(&tree, &options),
    );
    let manifest = parsed.with_context(what)?;
    let scan = scan.with_context(|| format!("failed to read `{}`", tree.display()))?;
    let findings = verify::compare(&manifest, &scan);
    let report = Report::new(findings, signature_check);
    print_report(&report, format, manifest.entries.len())?;
    Ok(ExitStatus::problem_if(!report.clean))
}

fn refuse(message: &str) -> anyhow::Result<ExitStatus> {
    let mut stderr = super::terminal::stderr();
    writeln!(stderr, "error: {message}")?;
    Ok(ExitStatus::Problem)
}

/// Reads trusted keys (files, or directories of `*.pub`) and a revocation list.
fn load_keyring(keys: &[PathBuf], revoked: Option<&Path>) -> anyhow::Result<Keyring> {
    let mut ring = Keyring::default();
    for path in keys {
        if fs_err::metadata(path)?.is_dir() {
            let mut files: Vec<PathBuf> = fs_err::read_dir(path)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "pub"))
                .collect();
            files.sort();
            for file in files {
                ring.trust(read_key(&file)?);
            }
        } else {
            ring.trust(read_key(path)?);
        }
    }
    if ring.trusted().is_empty() {
        anyhow::bail!("no trusted public key found in the --key paths");
    }
    if let Some(path) = revoked {
        ring.revoke_list(&input::read_text(
            path,
            input::MAX_LIST,
            "a revocation list",
        )?)
        .with_context(|| format!("failed to read the revocation list `{}`", path.display()))?;
    }
    Ok(ring)
}

fn read_key(path: &Path) -> anyhow::Result<PublicKey> {
    PublicKey::parse(&input::read_text(path, input::MAX_KEY, "a public key")?)
        .with_context(|| format!("failed to read the public key `{}`", path.display()))
}

fn print_report(report: &Report, format: Format, entries: usize) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer(&mut stdout, report)?;
            writeln!(stdout)?;
            stdout.flush()?;
        }
        Format::Human => {
            let mut stdout = super::terminal::stdout();
            for f in &report.findings {
                writeln!(stdout, "{}", human(f))?;
            }
            stdout.flush()?;
            let mut stderr = super::terminal::stderr();
            let unchecked = report.signature == SignatureCheck::Unchecked;
            if unchecked {
                writeln!(
                    stderr,
                    "warning: the manifest's signature was NOT checked (--no-signature): the result is only as trustworthy as the manifest file"
                )?;
            }
            let signature = if unchecked {
                "signature NOT checked"
            } else {
                "signature verified"
            };
            if report.clean {
                writeln!(
                    stderr,
                    "clean: the tree matches all {entries} entries of the manifest ({signature})"
                )?;
            } else {
                writeln!(stderr, "{} finding(s)", report.findings.len())?;
            }
        }
    }
    Ok(())
}

fn human(f: &Finding) -> String {
    let mut line = format!("{:<10} {}", f.kind.as_str(), f.path);
    match (&f.expected, &f.actual) {
        (Some(e), Some(a)) => line.push_str(&format!(": expected {e}, found {a}")),
        (Some(e), None) => line.push_str(&format!(": expected {e}, found nothing")),
        (None, Some(a)) => line.push_str(&format!(": {a}")),
        (None, None) => {}
    }
    line
}
