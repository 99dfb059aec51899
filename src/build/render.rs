//! Configuration files from templates and the profile.
//!
//! A template's path under `templates/` is its path inside the image
//! (`templates/etc/ssh/sshd_config` → `/etc/ssh/sshd_config`). The built-in templates are
//! compiled into basalt; a profile may name its own directory (`[files] templates`), whose
//! files replace built-ins of the same path and add new ones. Templates are rendered with
//! minijinja in strict mode: a variable that does not exist is an error naming the template
//! and the variable, never an empty string.
//!
//! Invariant: rendering is a pure function of the profile and the template sources; its
//! output is sorted by path, each file with explicit mode and owner. [`Sources::load`] is the
//! only place that reads the disk, and it never follows a path out of the profile's
//! directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior, Value};
use serde_json::json;

use crate::profile::{AtBoot, Profile, User, hardening};
use crate::tree::Node;

/// Largest template or extra file read from a profile's directory.
pub const MAX_SOURCE_BYTES: u64 = 16 * 1024 * 1024;

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A template refers to a variable the profile does not provide.
    #[error("template `{template}` uses `{variable}`, which does not exist")]
    UndefinedVariable {
        /// The template (its path inside the image).
        template: String,
        /// The dotted variable name.
        variable: String,
    },
    /// A template could not be parsed or rendered.
    #[error("template `{template}`{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Template {
        /// The template (its path inside the image).
        template: String,
        /// The line, when known.
        line: Option<usize>,
        /// What went wrong.
        message: String,
    },
    /// A file in the profile's directory could not be read.
    #[error("failed to read `{path}`")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A template or extra file is a symbolic link, or resolves outside the profile's
    /// directory.
    #[error("`{path}` leaves the profile's directory `{dir}` (symbolic links are not followed)")]
    Escape {
        /// The offending path.
        path: PathBuf,
        /// The profile's directory.
        dir: PathBuf,
    },
    /// A template or extra file is larger than [`MAX_SOURCE_BYTES`].
    #[error("`{path}` is {size} bytes, more than the {MAX_SOURCE_BYTES} allowed")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// A template or extra file is not UTF-8 text but must be rendered.
    #[error("`{path}` is not UTF-8 text")]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// The bytes of an extra file were not among the loaded sources.
    #[error("the source of `{path}` was not loaded (use `Sources::load`)")]
    MissingSource {
        /// Path inside the image.
        path: String,
    },
    /// Two sources produce the same path in the image.
    #[error("`{path}` is produced twice: by {first} and by {second}")]
    Conflict {
        /// Path inside the image.
        path: String,
        /// The first producer.
        first: String,
        /// The second producer.
        second: String,
    },
}

/// What a rendered entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A regular file with these bytes.
    File(Vec<u8>),
    /// A directory.
    Directory,
}

/// One entry the render stage adds to the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Absolute path inside the image.
    pub path: String,
    /// File bytes, or a directory.
    pub content: Content,
    /// Permission bits.
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// What produced it: `template etc/motd`, `profile users`, `file files/x.conf`.
    pub origin: String,
}

impl Rendered {
    /// The file's bytes (empty for a directory).
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        match &self.content {
            Content::File(b) => b,
            Content::Directory => &[],
        }
    }
}

/// The rendered entries as tree nodes by absolute path, owned by what the build generated
/// (no package): the form `pipeline::Options::files` takes.
#[must_use]
pub fn to_nodes(rendered: &[Rendered]) -> BTreeMap<String, Node> {
    rendered
        .iter()
        .map(|r| {
            let node = match &r.content {
                Content::File(bytes) => Node::file(bytes.clone(), r.mode),
                Content::Directory => Node::dir(r.mode),
            };
            (r.path.clone(), node.owned(r.uid, r.gid))
        })
        .collect()
}

/// When a built-in template applies.
type Condition = fn(&Profile) -> bool;

struct Builtin {
    path: &'static str,
    text: &'static str,
    mode: u32,
    when: Condition,
}

macro_rules! builtin {
    ($path:literal, $mode:literal, $when:expr) => {
        Builtin {
            path: $path,
            text: include_str!(concat!("../../templates/", $path)),
            mode: $mode,
            when: $when,
        }
    };
}

fn always(_: &Profile) -> bool {
    true
}

fn verifies_at_boot(p: &Profile) -> bool {
    p.verify.at_boot != AtBoot::Off
}

fn embeds_verifier(p: &Profile) -> bool {
    p.verify.embeds_verifier()
}

/// Every built-in template, with its mode and the condition under which it is rendered.
const BUILTINS: &[Builtin] = &[
    builtin!("etc/audit/audit.rules", 0o640, |p| p.audit.is_some()),
    builtin!("etc/conf.d/basalt-verify", 0o644, embeds_verifier),
    builtin!("etc/conf.d/nftables", 0o644, |p| p.firewall.is_some()),
    builtin!("etc/conf.d/sshd", 0o644, |p| p.ssh.is_some()),
    builtin!("etc/docker/daemon.json", 0o644, |p| p.docker.is_some()),
    builtin!("etc/fstab", 0o644, always),
    builtin!("etc/crontabs/root", 0o600, |p| p.verify.every.is_some()),
    builtin!("etc/hostname", 0o644, always),
    builtin!("etc/hosts", 0o644, always),
    builtin!("etc/init.d/basalt-state", 0o755, has_state_volumes),
    builtin!("etc/init.d/basalt-verify", 0o755, embeds_verifier),
    builtin!("etc/init.d/sshd-keygen", 0o755, |p| p.ssh.is_some()),
    builtin!("etc/issue", 0o644, always),
    builtin!("etc/modules-load.d/basalt.conf", 0o644, |p| !p
        .boot
        .modules
        .is_empty()),
    builtin!("etc/motd", 0o644, always),
    builtin!("etc/network/interfaces", 0o644, configures_interfaces),
    builtin!("etc/nftables.nft", 0o644, |p| p.firewall.is_some()),
    builtin!("etc/rc.conf.d/basalt-verify.conf", 0o644, verifies_at_boot),
    builtin!("etc/resolv.conf", 0o644, |p| p.network.static_resolver()),
    builtin!("etc/ssh/sshd_config", 0o600, |p| p.ssh.is_some()),
    builtin!("etc/sysctl.d/90-basalt.conf", 0o644, always),
    builtin!("etc/syslog-ng/syslog-ng.conf", 0o640, |p| p
        .logging
        .is_some()),
    builtin!("etc/udhcpc/udhcpc.conf", 0o644, |p| p.network.uses_dhcp()
        && (p.network.static_resolver() || p.boot.verity_root)),
];

/// Whether the image gets `/etc/network/interfaces`: `[network]` is written, or the
/// `networking` service runs.
fn configures_interfaces(p: &Profile) -> bool {
    p.network.declared
        || p.services
            .runlevel_of(crate::profile::NETWORKING_SERVICE)
            .is_some()
}

/// Whether a state volume lives on its own device (checked at boot by `basalt-state`).
fn has_state_volumes(p: &Profile) -> bool {
    p.filesystem.state.iter().any(|v| v.device.is_some())
}

/// The paths (inside the image, relative) of the built-in templates.
pub fn builtin_paths() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.path)
}

/// Template text and extra-file bytes, gathered before rendering so that rendering itself
/// touches no disk.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Templates from the profile's own directory, by relative image path; they replace
    /// built-ins of the same path.
    pub templates: BTreeMap<String, String>,
    /// Executable bit of each profile template (its mode is 0755 rather than 0644).
    pub executable: BTreeMap<String, bool>,
    /// Bytes of each `[files] extra` entry, by image path.
    pub extra: BTreeMap<String, Vec<u8>>,
}

impl Sources {
    /// Reads the profile's template directory and extra files, refusing symbolic links,
    /// anything outside the profile's directory, and files over [`MAX_SOURCE_BYTES`].
    ///
    /// # Errors
    /// [`Error::Read`], [`Error::Escape`], [`Error::TooLarge`], [`Error::NotText`].
    pub fn load(profile: &Profile) -> Result<Sources, Error> {
        let mut sources = Sources::default();
        let base = if profile.dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            profile.dir.as_path()
        };
        let base = fs_err::canonicalize(base).map_err(|source| Error::Read {
            path: base.to_owned(),
            source,
        })?;
        if let Some(dir) = &profile.files.templates_path {
            let root = inside(&base, dir)?;
            for entry in walkdir::WalkDir::new(&root).sort_by_file_name() {
                let entry = entry.map_err(|e| Error::Read {
                    path: e.path().map_or_else(|| root.clone(), Path::to_path_buf),
                    source: e.into_io_error().unwrap_or_else(|| {
                        std::io::Error::other("file system loop in the template directory")
                    }),
                })?;
                let ft = entry.file_type();
                if ft.is_symlink() {
                    return Err(Error::Escape {
                        path: entry.path().to_owned(),
                        dir: base.clone(),
                    });
                }
                if !ft.is_file() {
                    continue;
                }
                let rel = entry
                    .path()
                    .strip_prefix(&root)
                    .map_err(|_| Error::Escape {
                        path: entry.path().to_owned(),
                        dir: base.clone(),
                    })?
                    .to_string_lossy()
                    .replace('\\', "/");
                let bytes = read_bounded(entry.path())?;
                let text = String::from_utf8(bytes).map_err(|_| Error::NotText {
                    path: entry.path().to_owned(),
                })?;
                sources
                    .executable
                    .insert(rel.clone(), is_executable(entry.path())?);
                sources.templates.insert(rel, text);
            }
        }
        for extra in &profile.files.extra {
            let path = inside(&base, &extra.source_path)?;
            sources
                .extra
                .insert(extra.path.clone(), read_bounded(&path)?);
        }
        Ok(sources)
    }
}

/// Canonicalises `path` and checks it stays inside `base` (already canonical).
fn inside(base: &Path, path: &Path) -> Result<PathBuf, Error> {
    let meta = fs_err::symlink_metadata(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(Error::Escape {
            path: path.to_owned(),
            dir: base.to_owned(),
        });
    }
    let real = fs_err::canonicalize(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    if !real.starts_with(base) {
        return Err(Error::Escape {
            path: path.to_owned(),
            dir: base.to_owned(),
        });
    }
    Ok(real)
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read as _;
    let file = fs_err::File::open(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
    let size = bytes.len() as u64;
    if size > MAX_SOURCE_BYTES {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            size,
        });
    }
    Ok(bytes)
}

#[cfg(unix)]
fn is_executable(path: &Path) -> Result<bool, Error> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = fs_err::metadata(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(meta.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> Result<bool, Error> {
    Ok(false)
}

/// Reads the profile's sources and renders everything: the convenience the pipeline uses.
///
/// # Errors
/// Any [`Error`].
pub fn render_profile(profile: &Profile) -> Result<Vec<Rendered>, Error> {
    render(profile, &Sources::load(profile)?)
}

/// Renders the configuration files of `profile`: the applicable templates (the profile's own
/// replacing built-ins), each user's `authorized_keys`, and the extra files.
///
/// # Errors
/// [`Error::UndefinedVariable`], [`Error::Template`], [`Error::Conflict`], [`Error::NotText`].
pub fn render(profile: &Profile, sources: &Sources) -> Result<Vec<Rendered>, Error> {
    let context = context(profile);
    let mut out: BTreeMap<String, Rendered> = BTreeMap::new();

    // Built-ins that apply, replaced by the profile's own templates of the same path.
    let mut jobs: Vec<(String, &str, u32, String)> = Vec::new();
    for b in BUILTINS {
        if !(b.when)(profile) {
            continue;
        }
        match sources.templates.get(b.path) {
            Some(text) => jobs.push((b.path.to_owned(), text, b.mode, "profile template".into())),
            None => jobs.push((b.path.to_owned(), b.text, b.mode, "template".into())),
        }
    }
    for (path, text) in &sources.templates {
        if BUILTINS.iter().any(|b| b.path == path) {
            continue;
        }
        let mode = if sources.executable.get(path).copied().unwrap_or(false) {
            0o755
        } else {
            0o644
        };
        jobs.push((path.clone(), text, mode, "profile template".into()));
    }
    for (path, text, mode, kind) in jobs {
        let bytes = render_one(&path, text, &context)?.into_bytes();
        insert(
            &mut out,
            Rendered {
                path: format!("/{path}"),
                content: Content::File(bytes),
                mode,
                uid: 0,
                gid: 0,
                origin: format!("{kind} {path}"),
            },
        )?;
    }

    for user in &profile.users {
        for entry in authorized_keys(user) {
            insert(&mut out, entry)?;
        }
    }

    for extra in &profile.files.extra {
        let bytes =
            sources
                .extra
                .get(&extra.path)
                .cloned()
                .ok_or_else(|| Error::MissingSource {
                    path: extra.path.clone(),
                })?;
        let bytes = if extra.template {
            let text = String::from_utf8(bytes).map_err(|_| Error::NotText {
                path: extra.source_path.clone(),
            })?;
            render_one(&extra.source, &text, &context)?.into_bytes()
        } else {
            bytes
        };
        insert(
            &mut out,
            Rendered {
                path: extra.path.clone(),
                content: Content::File(bytes),
                mode: extra.mode,
                uid: extra.uid,
                gid: extra.gid,
                origin: format!("file {}", extra.source),
            },
        )?;
    }
    Ok(out.into_values().collect())
}

fn insert(out: &mut BTreeMap<String, Rendered>, entry: Rendered) -> Result<(), Error> {
    if let Some(first) = out.get(&entry.path) {
        // Two users sharing a parent directory (e.g. `/home`) is not a conflict.
        if first.content == Content::Directory && entry.content == Content::Directory {
            return Ok(());
        }
        return Err(Error::Conflict {
            path: entry.path,
            first: first.origin.clone(),
            second: entry.origin,
        });
    }
    out.insert(entry.path.clone(), entry);
    Ok(())
}

/// The home directory, `~/.ssh` and `~/.ssh/authorized_keys` of a user with keys.
fn authorized_keys(user: &User) -> Vec<Rendered> {
    if user.ssh_keys.is_empty() {
        return Vec::new();
    }
    let mut text = String::new();
    for key in &user.ssh_keys {
        text.push_str(key);
        text.push('\n');
    }
    let origin = format!("profile user {}", user.name);
    let entry = |path: String, content: Content, mode: u32| Rendered {
        path,
        content,
        mode,
        uid: user.uid,
        gid: user.gid,
        origin: origin.clone(),
    };
    vec![
        entry(user.home.clone(), Content::Directory, 0o750),
        entry(format!("{}/.ssh", user.home), Content::Directory, 0o700),
        entry(
            format!("{}/.ssh/authorized_keys", user.home),
            Content::File(text.into_bytes()),
            0o600,
        ),
    ]
}

/// The template context: the normalised profile as data, plus values derived for the
/// templates (host key files, per-family address sets, `daemon.json` text, mounts).
fn context(profile: &Profile) -> serde_json::Value {
    let mut ctx = serde_json::to_value(profile).unwrap_or_default();
    if let Some(ssh) = &profile.ssh {
        ctx["ssh"]["host_key_files"] = json!(ssh.host_key_files());
    }
    if let Some(fw) = &profile.firewall {
        let v4: Vec<String> = fw
            .trusted
            .iter()
            .filter(|c| c.is_ipv4())
            .map(ToString::to_string)
            .collect();
        let v6: Vec<String> = fw
            .trusted
            .iter()
            .filter(|c| !c.is_ipv4())
            .map(ToString::to_string)
            .collect();
        let mut families = Vec::new();
        if !v4.is_empty() {
            families.push(
                json!({"match": "ip saddr", "set": "trusted_v4", "ping": "icmp type echo-request"}),
            );
        }
        if !v6.is_empty() {
            families.push(json!({"match": "ip6 saddr", "set": "trusted_v6", "ping": "icmpv6 type echo-request"}));
        }
        ctx["firewall"]["trusted_v4"] = json!(v4);
        ctx["firewall"]["trusted_v6"] = json!(v6);
        ctx["firewall"]["families"] = json!(families);
    }
    if let Some(docker) = &profile.docker {
        let text = serde_json::to_string_pretty(&docker.daemon).unwrap_or_default();
        ctx["docker"]["daemon_json"] = json!(text);
    }
    ctx["network"]["host_address"] = json!(profile.network.host_address());
    ctx["boot"]["ram_root"] = json!(profile.boot.ram_root);
    ctx["boot"]["verity_root"] = json!(profile.boot.verity_root);
    let fs = &profile.filesystem;
    let mut mounts: Vec<(String, serde_json::Value)> = fs
        .ephemeral
        .iter()
        .map(|p| {
            (
                p.clone(),
                json!({"device": "tmpfs", "path": p, "fstype": "tmpfs", "options": hardening::tmpfs_options(p), "pass": 0, "state": false}),
            )
        })
        .collect();
    for v in &fs.state {
        if let Some(device) = &v.device {
            mounts.push((
                v.path.clone(),
                // Not checked at boot (pass 0): `fsck -A` would stop the boot on a missing volume;
                // basalt-state reports it instead.
                json!({"device": device, "path": v.path, "fstype": v.fstype, "options": v.options, "pass": 0, "state": true}),
            ));
        }
    }
    // Sorted by mount point, a parent always comes before what is mounted inside it.
    mounts.sort_by(|a, b| a.0.cmp(&b.0));
    ctx["filesystem"]["mounts"] = json!(mounts.into_iter().map(|(_, m)| m).collect::<Vec<_>>());
    ctx
}

fn to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .unwrap_or_else(|| Value::from(n.as_f64().unwrap_or_default())),
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::from(a.iter().map(to_value).collect::<Vec<_>>()),
        serde_json::Value::Object(o) => Value::from(
            o.iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

/// Names available to templates without coming from the context.
const GLOBALS: &[&str] = &["range", "dict", "namespace", "debug", "loop", "self"];

/// Checks that every variable `name` (dotted) exists in `ctx`, as far as the context is
/// data: lookups below a `none` section are left to the strict renderer.
fn missing_variable(ctx: &serde_json::Value, name: &str) -> bool {
    let mut parts = name.split('.');
    let Some(first) = parts.next() else {
        return false;
    };
    if GLOBALS.contains(&first) {
        return false;
    }
    let mut cur = match ctx.get(first) {
        Some(v) => v,
        None => return true,
    };
    for part in parts {
        match cur {
            serde_json::Value::Object(map) => match map.get(part) {
                Some(v) => cur = v,
                None => return true,
            },
            _ => return false,
        }
    }
    false
}

fn render_one(name: &str, text: &str, ctx: &serde_json::Value) -> Result<String, Error> {
    let template_error = |e: &minijinja::Error| Error::Template {
        template: name.to_owned(),
        line: e.line(),
        message: e
            .detail()
            .map_or_else(|| e.kind().to_string(), |d| format!("{}: {d}", e.kind())),
    };
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Block tags on their own lines leave no blank lines behind, and files keep their final
    // newline: configuration files read naturally in the template and in the image.
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| template_error(&e))?;
    env.set_syntax(syntax);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_template(name, text)
        .map_err(|e| template_error(&e))?;
    let tmpl = env.get_template(name).map_err(|e| template_error(&e))?;
    let mut names: Vec<String> = tmpl.undeclared_variables(true).into_iter().collect();
    names.sort();
    if let Some(variable) = names.into_iter().find(|n| missing_variable(ctx, n)) {
        return Err(Error::UndefinedVariable {
            template: name.to_owned(),
            variable,
        });
    }
    tmpl.render(to_value(ctx)).map_err(|e| template_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_variables_are_found_by_path() {
        let ctx = json!({"ssh": {"port": 22}, "logging": null});
        assert!(!missing_variable(&ctx, "ssh.port"));
        assert!(missing_variable(&ctx, "ssh.prot"));
        assert!(missing_variable(&ctx, "sshd"));
        assert!(!missing_variable(&ctx, "logging.host"));
        assert!(!missing_variable(&ctx, "range"));
    }

    #[test]
    fn strict_mode_names_the_variable() {
        let ctx = json!({"image": {"name": "x"}});
        let err = render_one("etc/motd", "{{ image.nam }}\n", &ctx).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template `etc/motd` uses `image.nam`, which does not exist"
        );
        let err =
            render_one("etc/x", "{% for a in image.name.bogus %}{% endfor %}", &ctx).unwrap_err();
        assert!(matches!(err, Error::Template { .. }), "{err}");
        let err = render_one("etc/y", "{{ image.name", &ctx).unwrap_err();
        assert!(
            err.to_string().starts_with("template `etc/y` line 1:"),
            "{err}"
        );
    }

    #[test]
    fn nodes_keep_mode_and_owner() {
        let rendered = vec![
            Rendered {
                path: "/home/a".into(),
                content: Content::Directory,
                mode: 0o750,
                uid: 1000,
                gid: 1000,
                origin: "profile user a".into(),
            },
            Rendered {
                path: "/etc/motd".into(),
                content: Content::File(b"hi\n".to_vec()),
                mode: 0o644,
                uid: 0,
                gid: 0,
                origin: "template etc/motd".into(),
            },
        ];
        let nodes = to_nodes(&rendered);
        assert!(nodes["/home/a"].is_dir());
        assert_eq!((nodes["/home/a"].uid, nodes["/home/a"].mode), (1000, 0o750));
        match &nodes["/etc/motd"].kind {
            crate::tree::NodeKind::File(content) => assert_eq!(content.bytes(), b"hi\n"),
            other => panic!("{other:?}"),
        }
        assert!(nodes["/etc/motd"].package.is_none());
    }

    #[test]
    fn tmpfs_modes() {
        assert_eq!(
            hardening::tmpfs_options("/tmp"),
            "nosuid,nodev,noexec,mode=1777"
        );
        assert_eq!(
            hardening::tmpfs_options("/var/log"),
            "nosuid,nodev,noexec,mode=0755"
        );
    }
}
