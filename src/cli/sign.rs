//! `basalt sign`: a detached minisign signature of a file.

use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::input;
use crate::integrity::manifest::Manifest;
use crate::integrity::sign::{SecretKey, check_secret_key_mode};

use super::ExitStatus;

/// Sign a file (usually a manifest) with an Ed25519 key: writes FILE.minisig
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The secret key (`basalt keygen`, or `minisign -G -W`)
    #[arg(long, value_name = "BASE.key")]
    pub key: PathBuf,
    /// The file to sign
    pub file: PathBuf,
    /// Trusted comment (default: image name, version and digest for a manifest; else the
    /// time and the file name, as minisign writes)
    #[arg(long, value_name = "TEXT")]
    pub trusted_comment: Option<String>,
}

/// Runs `basalt sign`.
///
/// # Errors
/// When the key is unreadable, readable by others, or not a usable key, or the file cannot be
/// read or the signature written.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let Args {
        key,
        file,
        trusted_comment,
    } = args;
    let meta = fs_err::metadata(&key)?;
    check_secret_key_mode(meta.mode())
        .with_context(|| format!("refusing the secret key `{}`", key.display()))?;
    let secret = SecretKey::parse(&input::read_text(&key, input::MAX_KEY, "a secret key")?)
        .with_context(|| format!("failed to read the secret key `{}`", key.display()))?;
    let data = input::read(&file, input::MAX_MANIFEST, "a file to sign")?;
    let trusted = match trusted_comment {
        Some(t) => t,
        None => match Manifest::parse(&data) {
            Ok(manifest) => manifest.trusted_comment(),
            Err(_) => format!(
                "timestamp:{}\tfile:{}",
                super::build_time()?,
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        },
    };
    let untrusted = format!("signature from basalt secret key {}", secret.id);
    let signature = secret.sign(&data, &untrusted, &trusted)?;
    let mut out = file.as_os_str().to_owned();
    out.push(".minisig");
    let out = PathBuf::from(out);
    super::write_atomic(&out, signature.render().as_bytes(), 0o644)?;
    let mut stderr = super::terminal::stderr();
    writeln!(
        stderr,
        "signed `{}` with key {}: `{}`",
        file.display(),
        secret.id,
        out.display()
    )?;
    Ok(ExitStatus::Clean)
}
