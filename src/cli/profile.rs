//! `basalt profile check PROFILE` and `basalt profile render PROFILE --out DIR`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{ExitStatus, Format};
use crate::build::render::{self, Content};
use crate::profile::{self, Profile};

/// Check or render a host profile
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Validate a profile and print its normalised summary
    Check(CheckArgs),
    /// Write the configuration files a profile generates into a directory, for review
    Render(RenderArgs),
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The profile (TOML)
    profile: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, clap::Args)]
struct RenderArgs {
    /// The profile (TOML)
    profile: PathBuf,
    /// Directory to write the files into (created; must be empty if it exists)
    #[arg(long)]
    out: PathBuf,
}

/// Runs `basalt profile ...`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    match args.command {
        Command::Check(a) => check(a),
        Command::Render(a) => render_to(a),
    }
}

/// Loads a profile; an invalid profile prints its diagnostics and yields `Err(status)`.
fn load(path: &Path) -> anyhow::Result<Result<Profile, ExitStatus>> {
    match profile::load(path) {
        Ok(p) => Ok(Ok(p)),
        Err(err @ profile::Error::Invalid { .. }) => {
            let mut stderr = io::stderr().lock();
            for (i, d) in err.diagnostics().iter().enumerate() {
                if i > 0 {
                    writeln!(stderr)?;
                }
                writeln!(stderr, "error: {d}")?;
            }
            Ok(Err(ExitStatus::Error))
        }
        Err(err) => Err(err.into()),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<ExitStatus> {
    let CheckArgs { profile, format } = args;
    let p = match load(&profile)? {
        Ok(p) => p,
        Err(status) => return Ok(status),
    };
    let mut out = io::stdout().lock();
    match format {
        Format::Json => {
            let doc = serde_json::json!({
                "profile": p,
                "digest": p.digest(),
                "lock_digest": p.lock_inputs().digest(),
                "runtime_policy": p.runtime_policy(),
            });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Format::Human => summary(&mut out, &p)?,
    }
    Ok(ExitStatus::Clean)
}

fn list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    if v.is_empty() {
        "(none)".to_owned()
    } else {
        v.join(", ")
    }
}

fn summary(out: &mut impl Write, p: &Profile) -> io::Result<()> {
    let img = &p.image;
    writeln!(out, "profile `{}`: valid", p.path.display())?;
    writeln!(
        out,
        "image        {} {} ({})",
        img.name, img.version, img.arch
    )?;
    writeln!(out, "repositories {}", list(&p.repositories.urls))?;
    writeln!(out, "packages     {}", list(&p.packages.install))?;
    for (level, services) in &p.services.runlevels {
        writeln!(out, "services     {level}: {}", list(services))?;
    }
    for u in &p.users {
        writeln!(
            out,
            "user         {} (uid {}, gid {}, {}, groups: {}, {} ssh key(s))",
            u.name,
            u.uid,
            u.gid,
            u.shell,
            list(&u.groups),
            u.ssh_keys.len()
        )?;
    }
    for g in &p.groups {
        let gid = g.gid.map_or_else(|| "system".to_owned(), |g| g.to_string());
        writeln!(
            out,
            "group        {} (gid {gid}): {}",
            g.name,
            list(&g.members)
        )?;
    }
    match &p.ssh {
        Some(s) => writeln!(
            out,
            "ssh          port {}, key-only, no root login, allow users: {}, allow groups: {}, host keys in {}",
            s.port,
            list(&s.allow_users),
            list(&s.allow_groups),
            s.host_keys
        )?,
        None => writeln!(out, "ssh          (not installed)")?,
    }
    match &p.firewall {
        Some(f) => writeln!(
            out,
            "firewall     drop inbound; from {}: tcp {}, udp {}",
            list(&f.trusted),
            list(&f.tcp),
            list(&f.udp)
        )?,
        None => writeln!(out, "firewall     (none)")?,
    }
    match &p.logging {
        Some(l) => writeln!(
            out,
            "logging      to {}:{} over {:?}",
            l.host, l.port, l.transport
        )?,
        None => writeln!(out, "logging      (local only)")?,
    }
    match &p.audit {
        Some(a) => writeln!(
            out,
            "audit        {} watches{}",
            a.watches.len(),
            if a.immutable { ", immutable" } else { "" }
        )?,
        None => writeln!(out, "audit        (not installed)")?,
    }
    if let Some(d) = &p.docker {
        writeln!(
            out,
            "docker       daemon.json keys: {}",
            list(d.daemon.keys())
        )?;
    }
    writeln!(out, "sysctl       {} parameters", p.sysctl.len())?;
    let fs = &p.filesystem;
    writeln!(
        out,
        "root         {} {}",
        fs.root_device,
        if fs.read_only_root {
            "read-only"
        } else {
            "writable"
        }
    )?;
    writeln!(out, "ephemeral    {}", list(&fs.ephemeral))?;
    writeln!(
        out,
        "state        {}",
        list(fs.state.iter().map(|v| &v.path))
    )?;
    writeln!(out, "mutable      {}", list(&fs.mutable))?;
    if !p.files.extra.is_empty() || p.files.templates.is_some() {
        writeln!(
            out,
            "files        templates: {}, extra: {}",
            p.files.templates.as_deref().unwrap_or("(built-in)"),
            list(p.files.extra.iter().map(|e| &e.path))
        )?;
    }
    writeln!(
        out,
        "verify       at boot: {:?}, every: {}",
        p.verify.at_boot,
        p.verify.every.as_ref().map_or_else(
            || "never".to_owned(),
            |s| format!("{} ({})", s.every, s.cron)
        )
    )?;
    writeln!(out, "hostname     {}", p.network.hostname)?;
    for i in &p.network.interfaces {
        let mut how: Vec<String> = Vec::new();
        if i.dhcp {
            how.push("dhcp".into());
        }
        if i.ipv6_ra {
            how.push("ipv6-ra".into());
        }
        how.extend(i.addresses.iter().cloned());
        how.extend(i.gateways.iter().map(|g| format!("via {g}")));
        writeln!(out, "interface    {}: {}", i.name, how.join(", "))?;
    }
    if !p.network.dns.is_empty() || !p.network.search.is_empty() {
        writeln!(
            out,
            "dns          {} (search: {})",
            p.network.dns.join(", "),
            p.network.search.join(" ")
        )?;
    }
    writeln!(
        out,
        "kernel       {} ({}){}",
        p.boot
            .kernel
            .as_deref()
            .unwrap_or("none: `basalt build --kernel`"),
        p.boot.cmdline,
        if p.boot.modules.is_empty() {
            String::new()
        } else {
            format!(", modules at boot: {}", p.boot.modules.join(", "))
        }
    )?;
    writeln!(out, "digest       {}", p.digest())?;
    Ok(())
}

fn render_to(args: RenderArgs) -> anyhow::Result<ExitStatus> {
    let RenderArgs { profile, out } = args;
    let p = match load(&profile)? {
        Ok(p) => p,
        Err(status) => return Ok(status),
    };
    let files = render::render_profile(&p)
        .with_context(|| format!("failed to render profile `{}`", profile.display()))?;
    if out.exists() {
        let mut entries = fs_err::read_dir(&out)?;
        if entries.next().is_some() {
            anyhow::bail!("output directory `{}` is not empty", out.display());
        }
    }
    // Write into a sibling staging directory, then rename: a failure leaves nothing behind.
    let name = out
        .file_name()
        .with_context(|| format!("`{}` does not name a directory", out.display()))?;
    let mut staging_name = std::ffi::OsString::from(".");
    staging_name.push(name);
    staging_name.push(format!(".partial-{}", std::process::id()));
    let staging = out.with_file_name(staging_name);
    if let Some(parent) = staging.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs_err::create_dir_all(parent)?;
    }
    fs_err::create_dir(&staging)?;
    let written = write_tree(&staging, &files);
    if let Err(err) = written {
        let _ = fs_err::remove_dir_all(&staging);
        return Err(err);
    }
    if out.exists() {
        fs_err::remove_dir(&out)?;
    }
    fs_err::rename(&staging, &out)?;
    let mut stdout = io::stdout().lock();
    for f in &files {
        let kind = if f.content == Content::Directory {
            "d"
        } else {
            "f"
        };
        writeln!(
            stdout,
            "{kind} {:04o} {}:{} {}",
            f.mode, f.uid, f.gid, f.path
        )?;
    }
    Ok(ExitStatus::Clean)
}

fn write_tree(root: &Path, files: &[render::Rendered]) -> anyhow::Result<()> {
    for f in files {
        let dest = root.join(f.path.trim_start_matches('/'));
        match &f.content {
            Content::Directory => fs_err::create_dir_all(&dest)?,
            Content::File(bytes) => {
                if let Some(dir) = dest.parent() {
                    fs_err::create_dir_all(dir)?;
                }
                fs_err::write(&dest, bytes)?;
            }
        }
    }
    Ok(())
}
