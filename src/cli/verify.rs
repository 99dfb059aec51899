//! `basalt verify`: check a host or an image against a signed manifest.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::integrity::manifest::Manifest;
use crate::integrity::sign::{Keyring, PublicKey, Signature};
use crate::integrity::verify::{self, Finding, Report};

use super::syslog::{self, Syslog};
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
    /// Also report to syslog: one JSON document per finding and a summary (facility auth, tag
    /// basalt-verify), sent to this Unix datagram socket [default: /dev/log]
    #[arg(
        long,
        value_name = "SOCKET",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "/dev/log"
    )]
    pub syslog: Option<PathBuf>,
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
    let mut log = args.syslog.as_deref().map(Syslog::open);
    let mut image = syslog::Image::default();
    let result = check(args, &mut image, log.as_mut());
    if let (Err(e), Some(log)) = (&result, log.as_mut()) {
        log.failure(&image, 2, &format!("{e:#}"));
    }
    result
}

/// The verification proper; `image` is filled in once the manifest's header is read.
fn check(
    args: Args,
    image: &mut syslog::Image,
    log: Option<&mut Syslog>,
) -> anyhow::Result<ExitStatus> {
    let Args {
        manifest,
        signature,
        key,
        revoked,
        no_signature,
        format,
        syslog: _,
        tree,
    } = args;
    let bytes = fs_err::read(&manifest)?;
    if !no_signature {
        let keyring = load_keyring(&key, revoked.as_deref())?;
        let sig_path = signature.unwrap_or_else(|| {
            let mut p = manifest.as_os_str().to_owned();
            p.push(".minisig");
            PathBuf::from(p)
        });
        let sig_text = match fs_err::read_to_string(&sig_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return refuse(
                    log,
                    image,
                    &format!(
                        "the signature `{}` is missing\n\nhint: sign the manifest with `basalt sign`, or pass --no-signature to skip the check",
                        sig_path.display()
                    ),
                );
            }
            Err(e) => return Err(e.into()),
        };
        let signature = match Signature::parse(&sig_text) {
            Ok(signature) => signature,
            Err(e) => {
                return refuse(
                    log,
                    image,
                    &format!("{:#}", anyhow::Error::new(verify::Error::Signature(e))),
                );
            }
        };
        let outcome = verify::verify_tree(&bytes, Some((&signature, &keyring)), &tree);
        return finish(outcome, &bytes, &manifest, &tree, format, image, log);
    }
    let outcome = verify::verify_tree(&bytes, None, &tree);
    finish(outcome, &bytes, &manifest, &tree, format, image, log)
}

/// A refused signature: exit 1, said on stderr and to syslog.
fn refuse(
    log: Option<&mut Syslog>,
    image: &syslog::Image,
    message: &str,
) -> anyhow::Result<ExitStatus> {
    if let Some(log) = log {
        log.failure(image, 1, message);
    }
    let mut stderr = std::io::stderr().lock();
    writeln!(stderr, "error: {message}")?;
    Ok(ExitStatus::Problem)
}

/// Renders the outcome of a verification and maps it to an exit code.
fn finish(
    outcome: Result<(Manifest, Report), verify::Error>,
    bytes: &[u8],
    manifest: &Path,
    tree: &Path,
    format: Format,
    image: &mut syslog::Image,
    log: Option<&mut Syslog>,
) -> anyhow::Result<ExitStatus> {
    let (parsed, report) = match outcome {
        Ok(done) => done,
        Err(e @ (verify::Error::Signature(_) | verify::Error::SignedDigest { .. })) => {
            return refuse(log, image, &format!("{:#}", anyhow::Error::new(e)));
        }
        Err(verify::Error::Manifest(e)) => {
            return Err(anyhow::Error::new(e).context(format!(
                "failed to read the manifest `{}`",
                manifest.display()
            )));
        }
        Err(verify::Error::Host(e)) => {
            // The signature held and the header was read: the failure names the image.
            if let Ok(header) = Manifest::parse_header(bytes) {
                image.image = Some(header.image);
                image.version = Some(header.version);
            }
            return Err(
                anyhow::Error::new(e).context(format!("failed to read `{}`", tree.display()))
            );
        }
    };
    image.image = Some(parsed.header.image.clone());
    image.version = Some(parsed.header.version.clone());
    if let Some(log) = log {
        log.report(image, &report, parsed.entries.len());
    }
    print_report(&report, image, format, parsed.entries.len())?;
    Ok(ExitStatus::problem_if(!report.clean))
}

/// `--format json`: the report, with the image and version of the manifest it is against.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    image: &'a Option<String>,
    version: &'a Option<String>,
    #[serde(flatten)]
    report: &'a Report,
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
        ring.revoke_list(&fs_err::read_to_string(path)?)
            .with_context(|| format!("failed to read the revocation list `{}`", path.display()))?;
    }
    Ok(ring)
}

fn read_key(path: &Path) -> anyhow::Result<PublicKey> {
    PublicKey::parse(&fs_err::read_to_string(path)?)
        .with_context(|| format!("failed to read the public key `{}`", path.display()))
}

fn print_report(
    report: &Report,
    image: &syslog::Image,
    format: Format,
    entries: usize,
) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match format {
        Format::Json => {
            let doc = JsonReport {
                image: &image.image,
                version: &image.version,
                report,
            };
            serde_json::to_writer(&mut stdout, &doc)?;
            writeln!(stdout)?;
        }
        Format::Human => {
            for f in &report.findings {
                writeln!(stdout, "{}", human(f))?;
            }
            let mut stderr = std::io::stderr().lock();
            if report.clean {
                writeln!(
                    stderr,
                    "clean: the tree matches all {entries} entries of the manifest"
                )?;
            } else {
                writeln!(stderr, "{} finding(s)", report.findings.len())?;
            }
        }
    }
    stdout.flush()?;
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
