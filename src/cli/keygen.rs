//! `basalt keygen`: a new Ed25519 key pair in minisign's formats.

use std::io::Write as _;
use std::path::PathBuf;

use crate::integrity::sign::SecretKey;

use super::ExitStatus;

/// Create a signing key pair: BASE.key (mode 0600, unencrypted, minisign's format) and BASE.pub
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base path of the two files
    #[arg(long, value_name = "BASE")]
    pub out: PathBuf,
}

/// Runs `basalt keygen`.
///
/// # Errors
/// When a key file already exists or cannot be written.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let Args { out } = args;
    let secret_path = with_suffix(&out, "key");
    let public_path = with_suffix(&out, "pub");
    for path in [&secret_path, &public_path] {
        if fs_err::symlink_metadata(path).is_ok() {
            anyhow::bail!(
                "`{}` already exists; basalt does not overwrite keys\n\nhint: choose another --out, or remove the old key pair first",
                path.display()
            );
        }
    }
    let key = SecretKey::generate()?;
    // The secret key is created with mode 0600 from the start (never wider, whatever the
    // umask), and neither file replaces one that appeared meanwhile.
    crate::output::write_new(&secret_path, key.render().as_bytes(), 0o600)?;
    crate::output::write_new(&public_path, key.public().render().as_bytes(), 0o644)?;
    let mut stdout = super::terminal::stdout();
    writeln!(
        stdout,
        "key {}\nsecret key: {}\npublic key: {}",
        key.id,
        secret_path.display(),
        public_path.display()
    )?;
    Ok(ExitStatus::Clean)
}

fn with_suffix(base: &std::path::Path, suffix: &str) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}
