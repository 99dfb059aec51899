//! `basalt verify`: check a host or an image against a signed manifest.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::input;
use crate::integrity::host::{self, ScanOptions};
use crate::integrity::manifest::Reader as ManifestReader;
use crate::integrity::sign::{Algorithm, Keyring, PublicKey, Signature, Signed};
use crate::integrity::verify::{self, Finding, Report, SignatureCheck};
use crate::integrity::walk::Tuning;

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
    /// Reads in flight: the threads that list the tree's directories and read its files
    /// (default: 32, or one per core when there are more; while every file read is in the
    /// page cache, only one more than the cores work)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub readers: Option<u16>,
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
        readers,
        syslog: _,
        tree,
    } = args;
    let tuning = super::manifest::tuning(readers);
    let file = input::open(&manifest)?;
    let read_err = |source: std::io::Error| input::Error::Io {
        path: manifest.clone(),
        source,
    };
    // With a prehashed signature (what basalt writes), the manifest is read twice and never
    // held: once for its digests, which the signature is checked against before anything
    // else; then entry by entry as the tree is walked, hashed again, and the report is only
    // given when those bytes are the ones checked. A legacy signature covers the bytes
    // themselves, which are then held.
    let mut checked: Option<[u8; 32]> = None;
    let mut held: Option<Vec<u8>> = None;
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
                return refuse(
                    log,
                    image,
                    &format!(
                        "the signature `{}` is missing\n\nhint: sign the manifest with `basalt sign`, or pass --no-signature to skip the check",
                        sig_path.display()
                    ),
                );
            }
            Err(input::Error::Io { path, source })
                if source.kind() != std::io::ErrorKind::InvalidData =>
            {
                return Err(input::Error::Io { path, source }.into());
            }
            Err(e) => {
                return refuse(
                    log,
                    image,
                    &format!(
                        "the manifest's signature is not valid: {:#}",
                        anyhow::Error::new(e)
                    ),
                );
            }
        };
        let sig = match Signature::parse(&sig_text) {
            Ok(sig) => sig,
            Err(e) => {
                let e = verify::Error::Signature(e);
                return refuse(log, image, &format!("{:#}", anyhow::Error::new(e)));
            }
        };
        let outcome = if sig.algorithm == Algorithm::Legacy {
            let bytes = read_bounded(&file, &manifest)?;
            let outcome = verify::check_signature(&bytes, &sig, &keyring);
            held = Some(bytes);
            outcome
        } else {
            let digests = digests(&file, &manifest)?;
            checked = Some(digests.sha256);
            verify::check_signed(
                Signed::Blake2b512(&digests.blake2b512),
                &digests.sha256,
                &sig,
                &keyring,
            )
        };
        match outcome {
            Ok(_) => SignatureCheck::Verified,
            Err(e) => return refuse(log, image, &format!("{:#}", anyhow::Error::new(e))),
        }
    };
    let (findings, declared) = match held {
        Some(bytes) => compare_tree(bytes.as_slice(), &manifest, &tree, tuning, image)?.0,
        None => {
            (&file).seek(SeekFrom::Start(0)).map_err(read_err)?;
            let reader = Hashing::new((&file).take(input::MAX_MANIFEST + 1));
            let (result, reader) = compare_tree(
                BufReader::with_capacity(READ_BUFFER, reader),
                &manifest,
                &tree,
                tuning,
                image,
            )?;
            let reader = reader.into_inner();
            if reader.bytes > input::MAX_MANIFEST {
                return Err(input::Error::TooLarge {
                    path: manifest.clone(),
                    limit: input::MAX_MANIFEST,
                    role: "a manifest",
                }
                .into());
            }
            if let Some(checked) = checked
                && reader.digest() != checked
            {
                anyhow::bail!(
                    "the manifest `{}` changed while the tree was verified against it: its signature was checked over other bytes than those compared",
                    manifest.display()
                );
            }
            result
        }
    };
    let report = Report::new(findings, signature_check);
    if let Some(log) = log {
        log.report(image, &report, declared);
    }
    print_report(&report, image, format, declared)?;
    Ok(ExitStatus::problem_if(!report.clean))
}

/// Read size for the manifest.
const READ_BUFFER: usize = 256 * 1024;

/// The digests of a manifest, read once without being held.
struct Digests {
    sha256: [u8; 32],
    blake2b512: [u8; 64],
}

/// Reads the manifest (at most [`input::MAX_MANIFEST`] bytes) for the digests its signature
/// and trusted comment are checked against.
fn digests(file: &std::fs::File, path: &Path) -> anyhow::Result<Digests> {
    use blake2::Digest as _;
    let mut sha = sha2::Sha256::new();
    let mut blake = blake2::Blake2b512::new();
    let mut buf = vec![0u8; READ_BUFFER];
    let mut total: u64 = 0;
    let mut reader = file.take(input::MAX_MANIFEST + 1);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(input::Error::Io {
                    path: path.to_owned(),
                    source,
                }
                .into());
            }
        };
        sha.update(&buf[..n]);
        blake.update(&buf[..n]);
        total += n as u64;
    }
    if total > input::MAX_MANIFEST {
        return Err(input::Error::TooLarge {
            path: path.to_owned(),
            limit: input::MAX_MANIFEST,
            role: "a manifest",
        }
        .into());
    }
    Ok(Digests {
        sha256: sha.finalize().into(),
        blake2b512: blake.finalize().into(),
    })
}

/// Reads the whole manifest (at most [`input::MAX_MANIFEST`] bytes).
fn read_bounded(file: &std::fs::File, path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(input::MAX_MANIFEST + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| input::Error::Io {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > input::MAX_MANIFEST {
        return Err(input::Error::TooLarge {
            path: path.to_owned(),
            limit: input::MAX_MANIFEST,
            role: "a manifest",
        }
        .into());
    }
    Ok(bytes)
}

/// A reader that hashes (SHA-256) and counts what passes through it.
struct Hashing<R> {
    inner: R,
    sha: sha2::Sha256,
    bytes: u64,
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        use sha2::Digest as _;
        Hashing {
            inner,
            sha: sha2::Sha256::new(),
            bytes: 0,
        }
    }

    fn digest(self) -> [u8; 32] {
        use sha2::Digest as _;
        self.sha.finalize().into()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Compares the tree (a directory, walked; or an image archive, read) with the manifest read
/// from `reader` entry by entry; returns the findings and the number of entries, and the
/// reader, read to its end.
fn compare_tree<R: BufRead>(
    reader: R,
    manifest: &Path,
    tree: &Path,
    tuning: Tuning,
    image: &mut syslog::Image,
) -> anyhow::Result<((Vec<Finding>, usize), R)> {
    let what = || format!("failed to read the manifest `{}`", manifest.display());
    let tree_err = || format!("failed to read `{}`", tree.display());
    let (header, mut entries) = ManifestReader::new(reader).with_context(what)?;
    image.image = Some(header.image.clone());
    image.version = Some(header.version.clone());
    let declared = entries.declared();
    let findings = if fs_err::metadata(tree).with_context(tree_err)?.is_dir() {
        match verify::verify_root_with(&header, &mut entries, tree, tuning) {
            Ok(findings) => findings,
            Err(verify::Streamed::Stop(e)) => return Err(anyhow::Error::new(e).context(tree_err())),
            Err(verify::Streamed::Entries(e)) => {
                return Err(anyhow::Error::new(e).context(what()));
            }
        }
    } else {
        let options = ScanOptions::for_policy(&header.policy);
        let scan = host::scan_tree_with(tree, &options, tuning).with_context(tree_err)?;
        let mut comparison = verify::Comparison::new(&header, &mut entries);
        for item in scan.items() {
            comparison.item(item).with_context(what)?;
        }
        comparison
            .finish(scan.apk_db.as_deref())
            .with_context(what)?
    };
    Ok(((findings, declared), entries.into_inner()))
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

/// `--format json`: the report, with the image and version of the manifest it is against.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    image: &'a Option<String>,
    version: &'a Option<String>,
    #[serde(flatten)]
    report: &'a Report,
}

fn print_report(
    report: &Report,
    image: &syslog::Image,
    format: Format,
    entries: usize,
) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let mut stdout = std::io::stdout().lock();
            let doc = JsonReport {
                image: &image.image,
                version: &image.version,
                report,
            };
            serde_json::to_writer(&mut stdout, &doc)?;
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
