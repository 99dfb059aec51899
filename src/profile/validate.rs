//! `RawProfile` → `Profile`: every check, every default, every normalisation.
//!
//! Invariant: validation collects every problem it can find (not just the first), each
//! located at the text that caused it; a default is only ever as strict as, or stricter than,
//! what the package would do on its own.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;

use base64::Engine as _;
use serde_json::Value;

mod host;

use super::Diagnostic;
use super::cidr::{Cidr, CidrError};
use super::hardening::{self, Installed};
use super::model::{
    ARCHES, AtBoot, Audit, CRON_SERVICE, Docker, ExtraFile, Files, Filesystem, Firewall, Group,
    Image, KeyPath, Logging, Packages, Profile, Repositories, Repository, Runlevel,
    SSH_KEYGEN_SERVICE, Services, Ssh, StateVolume, Transport, User, VERIFY_SERVICE, Verify, Watch,
    atom_name,
};
use super::paths::{PathError, is_within, normalise_absolute, normalise_relative};
use super::raw::{
    RawAudit, RawDocker, RawExtraFile, RawFiles, RawFilesystem, RawFirewall, RawGroup, RawLogging,
    RawProfile, RawServices, RawSsh, RawUser, S, SysctlValue,
};
use super::schedule::Schedule;

/// Directories a tmpfs or a volume must never cover: verification would go blind there.
const PROTECTED: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/root", "/sbin", "/sys", "/usr",
];

const SSH_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Turns a TOML or schema error into a located diagnostic, with a "did you mean" hint for
/// unknown keys.
pub(super) fn toml_diagnostic(path: &Path, source: &str, err: &toml::de::Error) -> Diagnostic {
    let raw = err.message().trim().trim_end_matches('.');
    let (message, hint) = if let Some(rest) = raw.strip_prefix("unknown field ") {
        let names = backticked(rest);
        let unknown = names.first().cloned().unwrap_or_default();
        let expected: Vec<&str> = names.iter().skip(1).map(String::as_str).collect();
        let section = SECTIONS.contains(&unknown.as_str()) && !expected.contains(&"image");
        let hint = closest(&unknown, &expected).map_or_else(
            || {
                if section {
                    return format!(
                        "`{unknown}` is a section: start it with its own `[{unknown}]` line"
                    );
                }
                if expected.is_empty() {
                    "this table takes no keys".to_owned()
                } else {
                    format!("expected one of: {}", expected.join(", "))
                }
            },
            |best| format!("did you mean `{best}`?"),
        );
        (format!("unknown key `{unknown}`"), Some(hint))
    } else if let Some(rest) = raw.strip_prefix("missing field ") {
        let hint = match rest.trim_matches('`') {
            "image" => Some("add `[image]` with `name`, `version` and `arch`".to_owned()),
            "repositories" => Some("add `[repositories]` with `urls = [...]`".to_owned()),
            "packages" => {
                Some("add `[packages]` with `install = [\"alpine-base\", ...]`".to_owned())
            }
            _ => None,
        };
        (format!("missing key {rest}"), hint)
    } else if raw.contains("did not match any variant of untagged enum SysctlValue") {
        (
            "a kernel parameter must be a string or an integer".to_owned(),
            None,
        )
    } else {
        (plain_types(&lower_first(raw)), None)
    };
    Diagnostic::at(path, source, err.span(), message, hint)
}

/// Top-level sections, for the hint when one is written as a key of another table.
const SECTIONS: &[&str] = &[
    "image",
    "repositories",
    "packages",
    "services",
    "users",
    "groups",
    "ssh",
    "firewall",
    "logging",
    "audit",
    "docker",
    "sysctl",
    "filesystem",
    "files",
    "verify",
    "network",
    "boot",
];

/// serde's type names in TOML's words.
fn plain_types(message: &str) -> String {
    let mut out = message
        .replace("expected i64", "expected an integer")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected a table");
    if let Some(i) = out.find("expected struct ") {
        out.truncate(i);
        out.push_str("expected a table");
    }
    out
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_uppercase() && !chars.clone().next().is_some_and(char::is_uppercase) => {
            c.to_lowercase().chain(chars).collect()
        }
        _ => s.to_owned(),
    }
}

fn backticked(s: &str) -> Vec<String> {
    s.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, part)| part.to_owned())
        .collect()
}

/// Levenshtein distance, small inputs only (key names).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

struct Ctx<'a> {
    path: &'a Path,
    source: &'a str,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn err(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.push(Some(span), message.into(), None);
    }

    fn hint(&mut self, span: Range<usize>, message: impl Into<String>, hint: impl Into<String>) {
        self.push(Some(span), message.into(), Some(hint.into()));
    }

    fn push(&mut self, span: Option<Range<usize>>, message: String, hint: Option<String>) {
        self.diags
            .push(Diagnostic::at(self.path, self.source, span, message, hint));
    }

    fn abs_path(&mut self, value: &S<String>, what: &str) -> Option<String> {
        match normalise_absolute(value.get_ref()) {
            Ok(p) => Some(p),
            Err(e) => {
                let hint = match e {
                    PathError::NotAbsolute => Some(format!("write `/{}`", value.get_ref())),
                    PathError::ParentComponent => {
                        Some("write the path without `..` components".to_owned())
                    }
                    _ => None,
                };
                self.push(
                    Some(value.span()),
                    format!("invalid {what} `{}`: {e}", value.get_ref().escape_debug()),
                    hint,
                );
                None
            }
        }
    }

    fn rel_path(&mut self, value: &S<String>, what: &str) -> Option<String> {
        match normalise_relative(value.get_ref()) {
            Ok(p) => Some(p),
            Err(e) => {
                self.hint(
                    value.span(),
                    format!("invalid {what} `{}`: {e}", value.get_ref().escape_debug()),
                    "name a path inside the profile's directory, relative to it",
                );
                None
            }
        }
    }

    fn int_in<T: TryFrom<i64>>(
        &mut self,
        value: &S<i64>,
        what: &str,
        min: i64,
        max: i64,
    ) -> Option<T> {
        let v = *value.get_ref();
        if v < min || v > max {
            self.err(
                value.span(),
                format!("{what} {v} is out of range (expected {min} to {max})"),
            );
            return None;
        }
        T::try_from(v).ok()
    }
}

fn is_name(s: &str, max: usize, extra: &[char]) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

fn is_account_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Validates and normalises a raw profile, collecting every problem.
pub(super) fn validate(
    raw: RawProfile,
    source: &str,
    path: &Path,
) -> Result<Profile, Vec<Diagnostic>> {
    let mut cx = Ctx {
        path,
        source,
        diags: Vec::new(),
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();

    let image = image(&mut cx, &raw);
    let repositories = repositories(&mut cx, &raw, &dir);
    let packages = packages(&mut cx, &raw, &repositories);
    let installs = |name: &str| packages.installs(name);
    let has_ssh = installs("openssh-server") || installs("openssh");
    let has_docker = installs("docker") || installs("docker-engine");
    let has_audit = installs("audit");
    let has_nftables = installs("nftables");
    let has_syslog_ng = installs("syslog-ng");

    let (users, mut groups) = accounts(&mut cx, &raw.users, &raw.groups);
    if has_docker && !groups.iter().any(|g| g.name == "docker") {
        // Membership of `docker` is root-equivalent: it holds exactly the declared members,
        // none when nobody is declared.
        groups.push(Group {
            name: "docker".to_owned(),
            gid: None,
            members: BTreeSet::new(),
        });
        groups.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let filesystem = filesystem(&mut cx, raw.filesystem.as_ref());
    let ssh = ssh(
        &mut cx,
        raw.ssh.as_ref(),
        has_ssh,
        &raw,
        &users,
        &groups,
        &filesystem,
    );
    let firewall = firewall(
        &mut cx,
        raw.firewall.as_ref(),
        has_nftables,
        &raw,
        ssh.as_ref(),
    );
    let logging = logging(&mut cx, raw.logging.as_ref(), has_syslog_ng);
    let audit = audit(&mut cx, raw.audit.as_ref(), has_audit, has_docker);
    let docker = docker(&mut cx, raw.docker.as_ref(), has_docker);
    let sysctl = sysctl(&mut cx, raw.sysctl.as_ref(), has_docker);
    let files = files(&mut cx, raw.files.as_ref(), &dir, &filesystem);
    let verify = verify(&mut cx, &raw);
    let network = host::network(&mut cx, raw.network.as_ref(), &image.name);
    let boot = host::boot(&mut cx, raw.boot.as_ref());
    check_homes(&mut cx, &raw.users, &users, &filesystem);
    let services = services(
        &mut cx,
        raw.services.as_ref(),
        &hardening::Installed {
            ssh: ssh.is_some(),
            docker: has_docker,
            audit: has_audit,
            firewall: firewall.is_some(),
            syslog_ng: has_syslog_ng,
            chrony: installs("chrony"),
        },
        &verify,
    );
    let mut services = services;
    if let Some(level) = services.runlevel_of("localmount")
        && filesystem.state.iter().any(|v| v.device.is_some())
    {
        // Companion: a missing state volume is said on the console, not hidden.
        services
            .runlevels
            .entry(level)
            .or_default()
            .insert(super::host::STATE_SERVICE.to_owned());
    }

    let mut packages = packages;
    if let Some(kernel) = &boot.kernel
        && !packages.installs(kernel)
    {
        // The kernel is a package like every other: resolved, locked and verified.
        packages.install.push(kernel.clone());
    }
    if services
        .runlevel_of(super::host::NETWORKING_SERVICE)
        .is_some()
        && network.interfaces.is_empty()
    {
        let span = raw
            .network
            .as_ref()
            .map_or_else(|| raw.packages.span(), S::span);
        cx.hint(
            span,
            "the `networking` service is enabled but no interface is configured",
            "declare one, e.g. `interfaces = [{ name = \"eth0\", dhcp = true }]`, or remove `networking` from [services]",
        );
    }
    if !cx.diags.is_empty() {
        cx.diags.sort_by_key(|d| (d.line, d.column));
        return Err(cx.diags);
    }
    Ok(Profile {
        path: path.to_owned(),
        dir,
        image,
        repositories,
        packages,
        services,
        users,
        groups,
        ssh,
        firewall,
        logging,
        audit,
        docker,
        sysctl,
        filesystem,
        files,
        verify,
        network,
        boot,
    })
}

fn image(cx: &mut Ctx, raw: &RawProfile) -> Image {
    let img = raw.image.get_ref();
    let name = img.name.get_ref();
    if !is_name(name, 64, &['.', '_', '-']) || name.chars().any(|c| c.is_ascii_uppercase()) {
        cx.hint(
            img.name.span(),
            format!("invalid image name `{name}`"),
            "use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit",
        );
    }
    let version = img.version.get_ref();
    if !is_name(version, 64, &['.', '_', '-', '+', '~']) {
        cx.hint(
            img.version.span(),
            format!("invalid image version `{version}`"),
            "use letters, digits, `.`, `_`, `-`, `+` and `~`, e.g. `1.0.0`",
        );
    }
    let arch = img.arch.get_ref();
    if !ARCHES.contains(&arch.as_str()) {
        let hint = closest(arch, ARCHES).map_or_else(
            || format!("Alpine architectures are: {}", ARCHES.join(", ")),
            |best| format!("did you mean `{best}`?"),
        );
        cx.hint(
            img.arch.span(),
            format!("unknown architecture `{arch}`"),
            hint,
        );
    }
    let epoch = img.epoch.as_ref().and_then(|e| {
        if *e.get_ref() < 0 {
            cx.err(e.span(), format!("epoch {} is negative", e.get_ref()));
            None
        } else {
            u64::try_from(*e.get_ref()).ok()
        }
    });
    Image {
        name: name.clone(),
        version: version.clone(),
        arch: arch.clone(),
        epoch,
    }
}

fn repositories(cx: &mut Ctx, raw: &RawProfile, dir: &Path) -> Repositories {
    let repos = raw.repositories.get_ref();
    let mut urls: Vec<Repository> = Vec::new();
    for line in &repos.urls {
        let text = line.get_ref().trim();
        let (tag, url) = match text.strip_prefix('@') {
            Some(rest) => match rest.split_once(char::is_whitespace) {
                Some((tag, url)) => (Some(tag), url.trim()),
                None => {
                    cx.hint(
                        line.span(),
                        format!("repository `{text}` has a tag but no URL"),
                        "write `@TAG URL`, e.g. `@edge https://dl-cdn.alpinelinux.org/alpine/edge/main`",
                    );
                    continue;
                }
            },
            None => (None, text),
        };
        if let Some(tag) = tag
            && !is_name(tag, 64, &['.', '_', '-'])
        {
            cx.err(line.span(), format!("invalid repository tag `@{tag}`"));
            continue;
        }
        if let Err(why) = check_url(url) {
            cx.hint(
                line.span(),
                format!("invalid repository `{url}`: {why}"),
                "use an `https://`, `http://` or `file://` URL, or a directory",
            );
            continue;
        }
        let url = if url.len() > 1 {
            url.trim_end_matches('/')
        } else {
            url
        };
        let repo = Repository {
            tag: tag.map(str::to_owned),
            url: url.to_owned(),
        };
        if urls.iter().any(|r| r.url == repo.url) {
            cx.err(line.span(), format!("repository `{url}` is listed twice"));
            continue;
        }
        urls.push(repo);
    }
    let mut keys = Vec::new();
    for key in &repos.keys {
        let declared = key.get_ref();
        if declared.is_empty() || declared.chars().any(char::is_control) {
            cx.err(
                key.span(),
                format!("invalid key path `{}`", declared.escape_debug()),
            );
            continue;
        }
        keys.push(KeyPath {
            declared: declared.clone(),
            path: dir.join(declared),
        });
    }
    Repositories { urls, keys }
}

fn check_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("it is empty".into());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains white space".into());
    }
    for scheme in ["https://", "http://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let host = rest.split('/').next().unwrap_or_default();
            if host.is_empty() {
                return Err("the URL has no host".into());
            }
            return Ok(());
        }
    }
    if let Some(rest) = url.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err("a `file://` URL needs an absolute path (`file:///...`)".into());
        }
        return Ok(());
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err(format!("the scheme `{scheme}` is not supported"));
    }
    Ok(())
}

/// A light check of apk's dependency syntax: `[!]name[@tag][OP version]` (the tag may also
/// follow the version). The full parser lives with the resolver.
fn check_atom(atom: &str) -> Result<(Option<&str>, &str), String> {
    if atom.is_empty() {
        return Err("it is empty".into());
    }
    if atom.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains white space; list one package per string".into());
    }
    let body = atom.strip_prefix('!').unwrap_or(atom);
    let name = atom_name(body);
    if name.is_empty() {
        return Err("the package name is missing".into());
    }
    let name_ok = match name.split_once(':') {
        Some((prefix, rest)) => {
            prefix.chars().all(|c| c.is_ascii_lowercase()) && !prefix.is_empty() && !rest.is_empty()
        }
        None => {
            name.starts_with(|c: char| c.is_ascii_alphanumeric())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-_.".contains(c))
        }
    };
    if !name_ok {
        return Err(format!("`{name}` is not a valid package name"));
    }
    let mut rest = &body[name.len()..];
    let mut tag = None;
    let mut version_seen = false;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('@') {
            if tag.is_some() {
                return Err("it has two tags".into());
            }
            let end = after.find(['<', '>', '=', '~']).unwrap_or(after.len());
            let t = &after[..end];
            if !is_name(t, 64, &['.', '_', '-']) {
                return Err(format!("`@{t}` is not a valid repository tag"));
            }
            tag = Some(t);
            rest = &after[end..];
        } else {
            if version_seen {
                return Err("it has two version constraints".into());
            }
            let op_len = rest.chars().take_while(|c| "<>=~".contains(*c)).count();
            let op = &rest[..op_len];
            if !["=", "<", ">", "<=", ">=", "~", "=~", "~=", "><"].contains(&op) {
                return Err(format!("`{op}` is not a version operator"));
            }
            let after = &rest[op_len..];
            let end = after.find('@').unwrap_or(after.len());
            let version = &after[..end];
            if !version.starts_with(|c: char| c.is_ascii_digit())
                || !version
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
            {
                return Err(format!("`{version}` is not a valid version"));
            }
            version_seen = true;
            rest = &after[end..];
        }
    }
    Ok((tag, name))
}

fn packages(cx: &mut Ctx, raw: &RawProfile, repos: &Repositories) -> Packages {
    let pk = raw.packages.get_ref();
    let tags: BTreeSet<&str> = repos.urls.iter().filter_map(|r| r.tag.as_deref()).collect();
    let mut install = Vec::new();
    let mut seen = BTreeSet::new();
    if pk.install.is_empty() {
        cx.hint(
            raw.packages.span(),
            "`install` lists no package",
            "name at least `alpine-base`",
        );
    }
    for atom in &pk.install {
        let text = atom.get_ref();
        match check_atom(text) {
            Err(why) => cx.hint(
                atom.span(),
                format!("invalid package `{text}`: {why}"),
                "use apk's syntax: `name`, `name@tag`, `name>=1.2.3-r0`, `!name`",
            ),
            Ok((tag, name)) => {
                if let Some(tag) = tag
                    && !tags.contains(tag)
                    && !repos.urls.is_empty()
                {
                    cx.hint(
                        atom.span(),
                        format!("package `{text}` names the tag `@{tag}`, which no repository has"),
                        format!("add `\"@{tag} URL\"` to [repositories] urls"),
                    );
                }
                if !seen.insert(name.to_owned()) {
                    cx.err(atom.span(), format!("package `{name}` is listed twice"));
                } else {
                    install.push(text.clone());
                }
            }
        }
    }
    Packages { install }
}

/// Validates users and groups together: primary groups, memberships, unique ids.
fn accounts(
    cx: &mut Ctx,
    raw_users: &[S<RawUser>],
    raw_groups: &[S<RawGroup>],
) -> (Vec<User>, Vec<Group>) {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut gids: BTreeMap<u32, String> = BTreeMap::new();
    for g in raw_groups {
        let RawGroup {
            name,
            gid,
            members: _,
        } = g.get_ref();
        let n = name.get_ref();
        if !is_account_name(n) {
            cx.hint(
                name.span(),
                format!("invalid group name `{n}`"),
                "use lowercase letters, digits, `_` and `-`, starting with a letter or `_`",
            );
            continue;
        }
        if n == "root" {
            cx.err(name.span(), "the `root` group cannot be declared");
            continue;
        }
        let gid = gid
            .as_ref()
            .and_then(|g| cx.int_in::<u32>(g, "gid", 1, 65533));
        if let Some(gid) = gid
            && let Some(other) = gids.get(&gid)
        {
            cx.err(
                raw_gid_span(g),
                format!("gid {gid} is already used by group `{other}`"),
            );
            continue;
        }
        if groups.contains_key(n) {
            cx.err(name.span(), format!("group `{n}` is declared twice"));
            continue;
        }
        if let Some(gid) = gid {
            gids.insert(gid, n.clone());
        }
        groups.insert(
            n.clone(),
            Group {
                name: n.clone(),
                gid,
                members: BTreeSet::new(),
            },
        );
    }

    let mut users: Vec<User> = Vec::new();
    let mut uids: BTreeMap<u32, String> = BTreeMap::new();
    let mut memberships: Vec<(String, S<String>)> = Vec::new();
    for u in raw_users {
        let RawUser {
            name,
            uid,
            gid,
            shell,
            home,
            groups: member_of,
            ssh_keys,
        } = u.get_ref();
        let n = name.get_ref();
        if !is_account_name(n) {
            cx.hint(
                name.span(),
                format!("invalid user name `{n}`"),
                "use lowercase letters, digits, `_` and `-`, starting with a letter or `_`",
            );
            continue;
        }
        if n == "root" {
            cx.hint(
                name.span(),
                "the `root` account cannot be declared",
                "root's password is locked and it cannot log in over SSH; declare an administrator account instead",
            );
            continue;
        }
        if users.iter().any(|x| &x.name == n) {
            cx.err(name.span(), format!("user `{n}` is declared twice"));
            continue;
        }
        let Some(uid_v) = cx.int_in::<u32>(uid, "uid", 1, 65533) else {
            continue;
        };
        if let Some(other) = uids.get(&uid_v) {
            cx.err(
                uid.span(),
                format!("uid {uid_v} is already used by user `{other}`"),
            );
            continue;
        }
        uids.insert(uid_v, n.clone());

        // The primary group: a declared group by gid or by name, else the user's own group.
        let declared_gid = gid
            .as_ref()
            .and_then(|g| cx.int_in::<u32>(g, "gid", 1, 65533));
        if gid.is_some() && declared_gid.is_none() {
            continue;
        }
        let (gid_v, group_name) = if let Some(g) = declared_gid {
            if let Some(owner) = gids.get(&g) {
                (g, owner.clone())
            } else if let Some(existing) = groups.get(n) {
                cx.err(
                    gid.as_ref().map_or(name.span(), S::span),
                    format!(
                        "user `{n}` has gid {g} but group `{n}` has gid {}",
                        existing.gid.map_or("(unset)".to_owned(), |x| x.to_string())
                    ),
                );
                continue;
            } else {
                (g, n.clone())
            }
        } else if let Some(existing) = groups.get(n) {
            match existing.gid {
                Some(g) => (g, n.clone()),
                None => {
                    cx.hint(
                        name.span(),
                        format!("user `{n}`'s primary group `{n}` has no gid"),
                        format!("give group `{n}` a `gid`"),
                    );
                    continue;
                }
            }
        } else {
            if let Some(other) = gids.get(&uid_v) {
                cx.hint(
                    uid.span(),
                    format!("user `{n}` would get gid {uid_v}, which group `{other}` already has"),
                    "set the user's `gid`",
                );
                continue;
            }
            (uid_v, n.clone())
        };
        if !groups.contains_key(&group_name) {
            gids.insert(gid_v, group_name.clone());
            groups.insert(
                group_name.clone(),
                Group {
                    name: group_name.clone(),
                    gid: Some(gid_v),
                    members: BTreeSet::new(),
                },
            );
        }

        let shell = match shell {
            Some(s) => cx.abs_path(s, "shell"),
            None => Some("/bin/sh".to_owned()),
        };
        let home = match home {
            Some(h) => cx.abs_path(h, "home directory"),
            None => Some(format!("/home/{n}")),
        };
        if home.as_deref() == Some("/") {
            cx.err(
                home_span(u),
                format!("user `{n}` cannot have `/` as home directory"),
            );
        }
        let mut keys = Vec::new();
        for key in ssh_keys {
            match check_ssh_key(key.get_ref()) {
                Ok(k) => keys.push(k),
                Err(why) => cx.hint(
                    key.span(),
                    format!("invalid SSH public key for user `{n}`: {why}"),
                    "paste one line of `~/.ssh/id_ed25519.pub`: `ssh-ed25519 AAAA... comment`",
                ),
            }
        }
        let mut supplementary = BTreeSet::new();
        for g in member_of {
            if !supplementary.insert(g.get_ref().clone()) {
                cx.err(g.span(), format!("group `{}` is listed twice", g.get_ref()));
            }
            memberships.push((n.clone(), g.clone()));
        }
        let (Some(shell), Some(home)) = (shell, home) else {
            continue;
        };
        users.push(User {
            name: n.clone(),
            uid: uid_v,
            gid: gid_v,
            group: group_name,
            shell,
            home,
            groups: supplementary,
            ssh_keys: keys,
        });
    }

    // Memberships from users' `groups`: groups not declared are system groups (gid left to
    // the image), which still hold exactly the declared members.
    for (user, g) in memberships {
        let gname = g.get_ref();
        if !is_account_name(gname) {
            cx.err(g.span(), format!("invalid group name `{gname}`"));
            continue;
        }
        if gname == "root" {
            cx.err(
                g.span(),
                "membership of the `root` group cannot be declared",
            );
            continue;
        }
        groups
            .entry(gname.clone())
            .or_insert_with(|| Group {
                name: gname.clone(),
                gid: None,
                members: BTreeSet::new(),
            })
            .members
            .insert(user);
    }
    for g in raw_groups {
        let gname = g.get_ref().name.get_ref();
        for m in &g.get_ref().members {
            if users.iter().any(|u| u.name == *m.get_ref()) {
                if let Some(group) = groups.get_mut(gname) {
                    group.members.insert(m.get_ref().clone());
                }
            } else {
                cx.hint(
                    m.span(),
                    format!(
                        "group `{gname}` lists `{}`, which is not a declared user",
                        m.get_ref()
                    ),
                    "declare the user in a [[users]] table",
                );
            }
        }
    }
    users.sort_by(|a, b| a.name.cmp(&b.name));
    (users, groups.into_values().collect())
}

fn raw_gid_span(g: &S<RawGroup>) -> Range<usize> {
    g.get_ref().gid.as_ref().map_or(g.span(), S::span)
}

fn home_span(u: &S<RawUser>) -> Range<usize> {
    u.get_ref().home.as_ref().map_or(u.span(), S::span)
}

/// Checks one `authorized_keys` line: a known key type, a base64 blob that decodes and
/// names the same type, and an optional comment. Returns the line with single spaces.
fn check_ssh_key(line: &str) -> Result<String, String> {
    let mut parts = line.split_whitespace();
    let kind = parts.next().ok_or("it is empty")?;
    if !SSH_KEY_TYPES.contains(&kind) {
        return Err(format!(
            "`{kind}` is not a public key type (options before the key are not supported)"
        ));
    }
    let blob = parts.next().ok_or("the base64 key is missing")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|_| "the key is not valid base64".to_owned())?;
    let inner = bytes
        .get(..4)
        .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize)
        .and_then(|len| bytes.get(4..4 + len))
        .ok_or("the key blob is truncated")?;
    if inner != kind.as_bytes() {
        return Err(format!(
            "the key blob is a `{}` key, not `{kind}`",
            String::from_utf8_lossy(inner)
        ));
    }
    if kind == "ssh-ed25519" && bytes.len() != 4 + 11 + 4 + 32 {
        return Err("an ed25519 key blob must hold a 32-byte key".into());
    }
    let comment: Vec<&str> = parts.collect();
    let mut out = format!("{kind} {blob}");
    if !comment.is_empty() {
        out.push(' ');
        out.push_str(&comment.join(" "));
    }
    Ok(out)
}

fn filesystem(cx: &mut Ctx, raw: Option<&S<RawFilesystem>>) -> Filesystem {
    let default_state = || StateVolume {
        path: "/var/lib".to_owned(),
        device: Some("LABEL=state".to_owned()),
        fstype: "ext4".to_owned(),
        options: "defaults,nodev,nosuid".to_owned(),
    };
    let default_mutable = ["/etc/resolv.conf"];
    let Some(raw) = raw else {
        return Filesystem {
            read_only_root: true,
            root_device: "LABEL=root".to_owned(),
            root_fstype: "ext4".to_owned(),
            ephemeral: hardening::EPHEMERAL
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            state: vec![default_state()],
            mutable: default_mutable.map(str::to_owned).to_vec(),
        };
    };
    let fs = raw.get_ref();
    let read_only_root = fs.read_only_root.unwrap_or(true);
    let root_device =
        check_device(cx, fs.root_device.as_ref()).unwrap_or_else(|| "LABEL=root".into());
    let root_fstype = check_fstype(cx, fs.root_fstype.as_ref()).unwrap_or_else(|| "ext4".into());

    // (path, span) of each declared path, for overlap checks.
    let mut ephemeral: Vec<(String, Range<usize>)> = Vec::new();
    match &fs.ephemeral {
        None => ephemeral.extend(
            hardening::EPHEMERAL
                .iter()
                .map(|p| ((*p).to_owned(), raw.span())),
        ),
        Some(list) => {
            for p in list {
                if let Some(n) = cx.abs_path(p, "ephemeral path") {
                    ephemeral.push((n, p.span()));
                }
            }
        }
    }
    let mut state: Vec<(StateVolume, Range<usize>)> = Vec::new();
    match &fs.state {
        None => state.push((default_state(), raw.span())),
        Some(list) => {
            for v in list {
                let vol = v.get_ref();
                let Some(path) = cx.abs_path(&vol.path, "state path") else {
                    continue;
                };
                let device = check_device(cx, vol.device.as_ref());
                if vol.device.is_none() && read_only_root {
                    cx.hint(
                        vol.path.span(),
                        format!("state path `{path}` has no `device`, but the root is read-only"),
                        "give the volume a `device` (e.g. `LABEL=docker`), or set `read_only_root = false`",
                    );
                }
                let fstype = check_fstype(cx, vol.fstype.as_ref()).unwrap_or_else(|| "ext4".into());
                let options = match &vol.options {
                    None => "defaults,nodev,nosuid".to_owned(),
                    Some(o) => {
                        let text = o.get_ref();
                        if text.is_empty()
                            || text.chars().any(|c| c.is_whitespace() || c.is_control())
                        {
                            cx.err(
                                o.span(),
                                format!("invalid mount options `{}`", text.escape_debug()),
                            );
                        }
                        text.clone()
                    }
                };
                state.push((
                    StateVolume {
                        path,
                        device,
                        fstype,
                        options,
                    },
                    vol.path.span(),
                ));
            }
        }
    }
    let mut mutable: Vec<(String, Range<usize>)> = Vec::new();
    match &fs.mutable {
        None => mutable.extend(default_mutable.map(|p| (p.to_owned(), raw.span()))),
        Some(list) => {
            for p in list {
                if let Some(n) = cx.abs_path(p, "mutable path") {
                    mutable.push((n, p.span()));
                }
            }
        }
    }

    // Overlaps that make no sense.
    let covering: Vec<(&str, &str, &Range<usize>)> = ephemeral
        .iter()
        .map(|(p, s)| ("ephemeral", p.as_str(), s))
        .chain(state.iter().map(|(v, s)| ("state", v.path.as_str(), s)))
        .collect();
    for (i, (kind, path, span)) in covering.iter().enumerate() {
        if let Some(bad) = PROTECTED
            .iter()
            .find(|p| is_within(path, p) || is_within(p, path))
        {
            cx.hint(
                (*span).clone(),
                format!("{kind} path `{path}` covers `{bad}`, which must stay verifiable"),
                "ephemeral and state paths belong under `/run`, `/tmp`, `/var` or `/home`",
            );
            continue;
        }
        for (j, (other_kind, other, _)) in covering.iter().enumerate() {
            if i == j {
                continue;
            }
            if path == other && i > j {
                cx.err(
                    (*span).clone(),
                    format!("`{path}` is listed twice (as {other_kind} and {kind})"),
                );
            } else if path != other && is_within(path, other) {
                cx.hint(
                    (*span).clone(),
                    format!("{kind} path `{path}` lies inside {other_kind} path `{other}`"),
                    "a path has one runtime policy: remove the nested one",
                );
            }
        }
    }
    for (i, (path, span)) in mutable.iter().enumerate() {
        if mutable[..i].iter().any(|(p, _)| p == path) {
            cx.err(
                span.clone(),
                format!("mutable path `{path}` is listed twice"),
            );
        } else if let Some((kind, dir, _)) = covering
            .iter()
            .filter(|(_, d, _)| !PROTECTED.iter().any(|p| is_within(d, p) || is_within(p, d)))
            .find(|(_, d, _)| is_within(path, d))
        {
            cx.hint(
                span.clone(),
                format!("mutable path `{path}` lies inside {kind} path `{dir}`"),
                "remove it: everything there may change already",
            );
        } else if path == "/" || ["/proc", "/sys", "/dev"].iter().any(|d| is_within(path, d)) {
            cx.err(span.clone(), format!("`{path}` cannot be a mutable file"));
        }
    }

    let mut ephemeral: Vec<String> = ephemeral.into_iter().map(|(p, _)| p).collect();
    ephemeral.sort();
    ephemeral.dedup();
    let mut state: Vec<StateVolume> = state.into_iter().map(|(v, _)| v).collect();
    state.sort_by(|a, b| a.path.cmp(&b.path));
    state.dedup_by(|a, b| a.path == b.path);
    let mut mutable: Vec<String> = mutable.into_iter().map(|(p, _)| p).collect();
    mutable.sort();
    mutable.dedup();
    Filesystem {
        read_only_root,
        root_device,
        root_fstype,
        ephemeral,
        state,
        mutable,
    }
}

fn check_device(cx: &mut Ctx, value: Option<&S<String>>) -> Option<String> {
    let v = value?;
    let text = v.get_ref();
    let ok = ["LABEL=", "UUID=", "PARTUUID=", "PARTLABEL=", "/dev/"]
        .iter()
        .any(|p| text.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
        && !text.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Some(text.clone())
    } else {
        cx.hint(
            v.span(),
            format!("invalid device `{}`", text.escape_debug()),
            "use `LABEL=...`, `UUID=...`, `PARTUUID=...`, `PARTLABEL=...` or `/dev/...`",
        );
        None
    }
}

fn check_fstype(cx: &mut Ctx, value: Option<&S<String>>) -> Option<String> {
    let v = value?;
    let text = v.get_ref();
    if is_name(text, 32, &['.', '_']) {
        Some(text.clone())
    } else {
        cx.err(
            v.span(),
            format!("invalid filesystem type `{}`", text.escape_debug()),
        );
        None
    }
}

fn ssh(
    cx: &mut Ctx,
    raw: Option<&S<RawSsh>>,
    installed: bool,
    profile: &RawProfile,
    users: &[User],
    groups: &[Group],
    fs: &Filesystem,
) -> Option<Ssh> {
    if !installed {
        if let Some(raw) = raw {
            cx.hint(
                raw.span(),
                "[ssh] configures sshd, but `openssh-server` is not installed",
                "add `openssh-server` to [packages] install, or remove [ssh]",
            );
        }
        return None;
    }
    let anchor = raw.map_or_else(|| profile.packages.span(), S::span);
    let empty = RawSsh {
        port: None,
        listen: Vec::new(),
        allow_users: Vec::new(),
        allow_groups: Vec::new(),
        host_keys: None,
        sftp: None,
        max_auth_tries: None,
        client_alive_interval: None,
        client_alive_count_max: None,
        tcp_forwarding: None,
    };
    let s = raw.map_or(&empty, S::get_ref);
    let port = s
        .port
        .as_ref()
        .map_or(Some(22), |p| cx.int_in::<u16>(p, "port", 1, 65535))
        .unwrap_or(22);
    let mut listen = Vec::new();
    for addr in &s.listen {
        match addr.get_ref().parse::<IpAddr>() {
            Ok(ip) => {
                let text = ip.to_string();
                if listen.contains(&text) {
                    cx.err(
                        addr.span(),
                        format!("listen address `{text}` is listed twice"),
                    );
                } else {
                    listen.push(text);
                }
            }
            Err(_) => cx.hint(
                addr.span(),
                format!("invalid listen address `{}`", addr.get_ref()),
                "use an IPv4 or IPv6 address, without port (the port is `port`)",
            ),
        }
    }
    let mut allow_users = BTreeSet::new();
    for u in &s.allow_users {
        if users.iter().any(|x| x.name == *u.get_ref()) {
            allow_users.insert(u.get_ref().clone());
        } else {
            cx.hint(
                u.span(),
                format!(
                    "allow_users names `{}`, which is not a declared user",
                    u.get_ref()
                ),
                "declare the user in a [[users]] table",
            );
        }
    }
    let mut allow_groups = BTreeSet::new();
    for g in &s.allow_groups {
        if groups.iter().any(|x| x.name == *g.get_ref()) {
            allow_groups.insert(g.get_ref().clone());
        } else {
            cx.hint(
                g.span(),
                format!(
                    "allow_groups names `{}`, which is not a declared group",
                    g.get_ref()
                ),
                "declare the group in a [[groups]] table or in a user's `groups`",
            );
        }
    }
    if s.allow_users.is_empty() && s.allow_groups.is_empty() {
        allow_users = users
            .iter()
            .filter(|u| !u.ssh_keys.is_empty())
            .map(|u| u.name.clone())
            .collect();
        if allow_users.is_empty() {
            cx.hint(
                anchor.clone(),
                "sshd is installed but no account can log in: logins are key-only and no user has `ssh_keys`",
                "declare a [[users]] table with `ssh_keys`",
            );
        }
    }
    let host_keys = match &s.host_keys {
        Some(h) => cx.abs_path(h, "host key directory"),
        None => Some("/var/lib/ssh".to_owned()),
    };
    if let Some(dir) = &host_keys {
        let kept = fs.state.iter().any(|v| is_within(dir, &v.path));
        if !kept {
            let span = s.host_keys.as_ref().map_or(anchor.clone(), S::span);
            cx.hint(
                span,
                format!("host key directory `{dir}` is not under a state path: keys would change at every boot"),
                format!("add a [[filesystem.state]] volume covering `{dir}`"),
            );
        }
    }
    let bounded = |cx: &mut Ctx, v: Option<&S<i64>>, what: &str, min, max, default| {
        v.map_or(Some(default), |v| cx.int_in::<u32>(v, what, min, max))
            .unwrap_or(default)
    };
    let max_auth_tries = bounded(cx, s.max_auth_tries.as_ref(), "max_auth_tries", 1, 10, 3);
    let client_alive_interval = bounded(
        cx,
        s.client_alive_interval.as_ref(),
        "client_alive_interval",
        0,
        3600,
        300,
    );
    let client_alive_count_max = bounded(
        cx,
        s.client_alive_count_max.as_ref(),
        "client_alive_count_max",
        0,
        10,
        2,
    );
    Some(Ssh {
        port,
        listen,
        allow_users,
        allow_groups,
        host_keys: host_keys.unwrap_or_else(|| "/var/lib/ssh".into()),
        sftp: s.sftp.unwrap_or(true),
        max_auth_tries,
        client_alive_interval,
        client_alive_count_max,
        tcp_forwarding: s.tcp_forwarding.unwrap_or(false),
    })
}

fn firewall(
    cx: &mut Ctx,
    raw: Option<&S<RawFirewall>>,
    installed: bool,
    profile: &RawProfile,
    ssh: Option<&Ssh>,
) -> Option<Firewall> {
    if !installed {
        if let Some(raw) = raw {
            cx.hint(
                raw.span(),
                "[firewall] needs `nftables`, which is not installed",
                "add `nftables` to [packages] install",
            );
        }
        return None;
    }
    let empty = RawFirewall {
        trusted: Vec::new(),
        tcp: Vec::new(),
        udp: Vec::new(),
        ping: None,
    };
    let f = raw.map_or(&empty, S::get_ref);
    let mut trusted = BTreeSet::new();
    for net in &f.trusted {
        match net.get_ref().parse::<Cidr>() {
            Ok(c) => {
                if !trusted.insert(c) {
                    cx.err(net.span(), format!("trusted network `{c}` is listed twice"));
                }
            }
            Err(e) => {
                let hint = match &e {
                    CidrError::HostBits(n) => format!("did you mean `{n}`?"),
                    CidrError::MissingPrefix => {
                        let host = if net.get_ref().contains(':') { 128 } else { 32 };
                        format!("a single host is `{}/{host}`", net.get_ref())
                    }
                    _ => "write networks as `192.0.2.0/24` or `2001:db8::/32`".to_owned(),
                };
                cx.hint(
                    net.span(),
                    format!("invalid trusted network `{}`: {e}", net.get_ref()),
                    hint,
                );
            }
        }
    }
    let ports = |cx: &mut Ctx, list: &[S<i64>], proto: &str| {
        let mut set = BTreeSet::new();
        for p in list {
            if let Some(port) = cx.int_in::<u16>(p, &format!("{proto} port"), 1, 65535)
                && !set.insert(port)
            {
                cx.err(p.span(), format!("{proto} port {port} is listed twice"));
            }
        }
        set
    };
    let mut tcp = ports(cx, &f.tcp, "tcp");
    let udp = ports(cx, &f.udp, "udp");
    if let Some(ssh) = ssh {
        tcp.insert(ssh.port);
        if trusted.is_empty() {
            let span = raw.map_or_else(|| profile.packages.span(), S::span);
            cx.hint(
                span,
                "the firewall trusts no network, so sshd would be unreachable",
                "list the administration networks in [firewall] trusted, e.g. `trusted = [\"192.0.2.0/24\"]`",
            );
        }
    }
    Some(Firewall {
        trusted,
        tcp,
        udp,
        ping: f.ping.unwrap_or(true),
    })
}

fn is_hostname(s: &str) -> bool {
    s.len() <= 253
        && !s.is_empty()
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn logging(cx: &mut Ctx, raw: Option<&S<RawLogging>>, has_syslog_ng: bool) -> Option<Logging> {
    let raw = raw?;
    if !has_syslog_ng {
        cx.hint(
            raw.span(),
            "[logging] forwards logs with syslog-ng, which is not installed",
            "add `syslog-ng` to [packages] install (busybox syslogd cannot forward over TCP)",
        );
    }
    let l = raw.get_ref();
    let host = l.host.get_ref();
    if host.parse::<IpAddr>().is_err() && !is_hostname(host) {
        cx.hint(
            l.host.span(),
            format!("invalid log host `{host}`"),
            "use a DNS name or an IP address, without port (the port is `port`)",
        );
    }
    let transport = match l
        .transport
        .as_ref()
        .map(|t| (t.get_ref().as_str(), t.span()))
    {
        None | Some(("tcp", _)) => Transport::Tcp,
        Some(("tls", _)) => Transport::Tls,
        Some((other, span)) => {
            cx.hint(
                span,
                format!("unknown transport `{other}`"),
                "use `tcp` or `tls`",
            );
            Transport::Tcp
        }
    };
    let default_port = if transport == Transport::Tls {
        6514
    } else {
        514
    };
    let port = l
        .port
        .as_ref()
        .map_or(Some(default_port), |p| {
            cx.int_in::<u16>(p, "port", 1, 65535)
        })
        .unwrap_or(default_port);
    let mut file = |v: Option<&S<String>>, what: &str| -> Option<String> {
        let v = v?;
        if transport != Transport::Tls {
            cx.hint(
                v.span(),
                format!("`{what}` only applies to TLS"),
                "set `transport = \"tls\"`",
            );
            return None;
        }
        cx.abs_path(v, what)
    };
    let ca_file = file(l.ca_file.as_ref(), "ca_file");
    let cert_file = file(l.cert_file.as_ref(), "cert_file");
    let key_file = file(l.key_file.as_ref(), "key_file");
    if cert_file.is_some() != key_file.is_some() {
        cx.hint(
            raw.span(),
            "a client certificate needs both `cert_file` and `key_file`",
            "set both, or neither",
        );
    }
    let ca_file = match transport {
        Transport::Tls => {
            Some(ca_file.unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into()))
        }
        Transport::Tcp => None,
    };
    Some(Logging {
        host: host.clone(),
        port,
        transport,
        ca_file,
        cert_file,
        key_file,
    })
}

fn audit(cx: &mut Ctx, raw: Option<&S<RawAudit>>, installed: bool, docker: bool) -> Option<Audit> {
    if !installed {
        if let Some(raw) = raw {
            cx.hint(
                raw.span(),
                "[audit] configures auditd, but `audit` is not installed",
                "add `audit` to [packages] install",
            );
        }
        return None;
    }
    let mut watches: Vec<Watch> = hardening::LOGIN_WATCHES
        .iter()
        .map(|(path, key)| Watch {
            path: (*path).to_owned(),
            permissions: "wa".to_owned(),
            key: (*key).to_owned(),
        })
        .collect();
    if docker {
        watches.extend(
            hardening::DOCKER_WATCHES
                .iter()
                .filter(|w| w.rendered)
                .map(|w| {
                    let path = w.path;
                    Watch {
                        path: path.to_owned(),
                        permissions: if path.starts_with("/usr/bin/") {
                            "wxa"
                        } else {
                            "wa"
                        }
                        .to_owned(),
                        key: "docker".to_owned(),
                    }
                }),
        );
    }
    let mut immutable = true;
    if let Some(raw) = raw {
        let a = raw.get_ref();
        immutable = a.immutable.unwrap_or(true);
        let mut own: BTreeSet<String> = BTreeSet::new();
        for w in &a.watches {
            let w = w.get_ref();
            let Some(path) = cx.abs_path(&w.path, "watched path") else {
                continue;
            };
            if !own.insert(path.clone()) {
                cx.err(w.path.span(), format!("`{path}` is watched twice"));
                continue;
            }
            let permissions = match &w.permissions {
                None => "wa".to_owned(),
                Some(p) => {
                    let text = p.get_ref();
                    if text.is_empty() || !text.chars().all(|c| "rwxa".contains(c)) {
                        cx.hint(
                            p.span(),
                            format!("invalid watch permissions `{text}`"),
                            "use any of `r`, `w`, `x`, `a` (read, write, execute, attribute change)",
                        );
                        continue;
                    }
                    "rwxa".chars().filter(|c| text.contains(*c)).collect()
                }
            };
            let key = match &w.key {
                None => "custom".to_owned(),
                Some(k) => {
                    if !is_name(k.get_ref(), 31, &['_', '-']) {
                        cx.err(k.span(), format!("invalid audit key `{}`", k.get_ref()));
                        continue;
                    }
                    k.get_ref().clone()
                }
            };
            // The profile's own watch replaces a default on the same path.
            watches.retain(|x| x.path != path);
            watches.push(Watch {
                path,
                permissions,
                key,
            });
        }
    }
    Some(Audit { watches, immutable })
}

fn toml_to_json(value: &toml::Value) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} cannot be written in JSON"))?,
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => {
            return Err(format!("the date-time {d} has no JSON form; quote it"));
        }
        toml::Value::Array(a) => {
            Value::Array(a.iter().map(toml_to_json).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), toml_to_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

fn docker(cx: &mut Ctx, raw: Option<&S<RawDocker>>, installed: bool) -> Option<Docker> {
    if !installed {
        if let Some(raw) = raw {
            cx.hint(
                raw.span(),
                "[docker] configures the Docker daemon, but `docker` is not installed",
                "add `docker` to [packages] install (from the community repository)",
            );
        }
        return None;
    }
    let mut daemon = hardening::docker_daemon();
    let mut userns_remap = None;
    if let Some(raw) = raw {
        let d = raw.get_ref();
        if let Some(overrides) = &d.daemon {
            for (key, value) in overrides.get_ref() {
                match toml_to_json(value) {
                    Ok(v) => {
                        daemon.insert(key.clone(), v);
                    }
                    Err(why) => cx.err(overrides.span(), format!("daemon.json key `{key}`: {why}")),
                }
            }
        }
        if let Some(remap) = &d.userns_remap {
            let text = remap.get_ref();
            let ok = text == "default"
                || text.split(':').count() <= 2 && text.split(':').all(is_account_name);
            if !ok {
                cx.hint(
                    remap.span(),
                    format!("invalid userns_remap `{text}`"),
                    "use `default`, `USER` or `USER:GROUP`",
                );
            } else if d
                .daemon
                .as_ref()
                .is_some_and(|t| t.get_ref().contains_key("userns-remap"))
            {
                cx.hint(
                    remap.span(),
                    "userns-remap is set twice",
                    "set either `userns_remap` or `daemon.\"userns-remap\"`",
                );
            } else {
                daemon.insert("userns-remap".into(), Value::String(text.clone()));
                userns_remap = Some(text.clone());
            }
        }
    }
    if userns_remap.is_none()
        && let Some(Value::String(s)) = daemon.get("userns-remap")
    {
        userns_remap = Some(s.clone());
    }
    Some(Docker {
        userns_remap,
        daemon,
    })
}

fn sysctl(
    cx: &mut Ctx,
    raw: Option<&S<BTreeMap<S<String>, S<SysctlValue>>>>,
    docker: bool,
) -> BTreeMap<String, String> {
    let mut map = hardening::sysctl(docker);
    for (key, value) in raw.map(S::get_ref).into_iter().flatten() {
        let k = key.get_ref();
        let key_ok = !k.is_empty()
            && k.starts_with(|c: char| c.is_ascii_lowercase())
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
            && !k.contains("..");
        if !key_ok {
            cx.hint(
                key.span(),
                format!("invalid kernel parameter `{k}`"),
                "write it as `sysctl -a` shows it, quoted: `\"net.ipv4.tcp_syncookies\" = 1`",
            );
            continue;
        }
        let v = match value.get_ref() {
            SysctlValue::Integer(i) => i.to_string(),
            SysctlValue::Text(t) => {
                if t.is_empty() || t.chars().any(|c| c.is_control() || c == '#') {
                    cx.err(
                        value.span(),
                        format!("invalid value `{}` for `{k}`", t.escape_debug()),
                    );
                    continue;
                }
                t.trim().to_owned()
            }
        };
        map.insert(k.clone(), v);
    }
    map
}

fn files(cx: &mut Ctx, raw: Option<&S<RawFiles>>, dir: &Path, fs: &Filesystem) -> Files {
    let Some(raw) = raw else {
        return Files::default();
    };
    let f = raw.get_ref();
    let templates = f
        .templates
        .as_ref()
        .and_then(|t| cx.rel_path(t, "template directory"));
    let mut extra: Vec<ExtraFile> = Vec::new();
    for e in &f.extra {
        let RawExtraFile {
            path,
            source,
            template,
            mode,
            uid,
            gid,
        } = e.get_ref();
        let image_path = cx.abs_path(path, "file path");
        let src = cx.rel_path(source, "file source");
        let mode = match mode {
            None => Some(0o644),
            Some(m) => {
                let parsed = (!m.get_ref().is_empty() && m.get_ref().len() <= 5)
                    .then(|| u32::from_str_radix(m.get_ref(), 8).ok())
                    .flatten()
                    .filter(|v| *v <= 0o7777);
                if parsed.is_none() {
                    cx.hint(
                        m.span(),
                        format!("invalid mode `{}`", m.get_ref()),
                        "write the permission bits in octal, as a string: `\"0644\"`",
                    );
                }
                parsed
            }
        };
        let uid = uid
            .as_ref()
            .map_or(Some(0), |v| cx.int_in::<u32>(v, "uid", 0, 65534));
        let gid = gid
            .as_ref()
            .map_or(Some(0), |v| cx.int_in::<u32>(v, "gid", 0, 65534));
        let (Some(image_path), Some(src), Some(mode), Some(uid), Some(gid)) =
            (image_path, src, mode, uid, gid)
        else {
            continue;
        };
        if image_path == "/" {
            cx.err(path.span(), "a file cannot be written at `/`");
            continue;
        }
        if let Some(dir) = fs
            .ephemeral
            .iter()
            .chain(fs.state.iter().map(|v| &v.path))
            .find(|d| is_within(&image_path, d))
        {
            cx.hint(
                path.span(),
                format!("file `{image_path}` lies under `{dir}`, which is mounted over at runtime"),
                "files in the image belong outside ephemeral and state paths",
            );
            continue;
        }
        if extra.iter().any(|x| x.path == image_path) {
            cx.err(
                path.span(),
                format!("file `{image_path}` is declared twice"),
            );
            continue;
        }
        extra.push(ExtraFile {
            path: image_path,
            source_path: dir.join(&src),
            source: src,
            template: *template,
            mode,
            uid,
            gid,
        });
    }
    extra.sort_by(|a, b| a.path.cmp(&b.path));
    Files {
        templates_path: templates.as_ref().map(|t| dir.join(t)),
        templates,
        extra,
    }
}

fn verify(cx: &mut Ctx, raw: &RawProfile) -> Verify {
    let at_boot = raw
        .verify
        .as_ref()
        .and_then(|v| v.get_ref().at_boot.as_ref())
        .map_or(AtBoot::Off, |a| match a.get_ref().as_str() {
            "enforce" => AtBoot::Enforce,
            "warn" => AtBoot::Warn,
            "off" => AtBoot::Off,
            other => {
                let hint = closest(other, &["enforce", "warn", "off"]).map_or_else(
                    || "use `enforce`, `warn` or `off`".to_owned(),
                    |b| format!("did you mean `{b}`?"),
                );
                cx.hint(a.span(), format!("unknown at_boot mode `{other}`"), hint);
                AtBoot::Off
            }
        });
    let every = raw
        .verify
        .as_ref()
        .and_then(|v| v.get_ref().every.as_ref())
        .and_then(|e| match Schedule::parse(e.get_ref()) {
            Ok(schedule) => Some(schedule),
            Err(err) => {
                // A near miss of a named period gets the name as its hint.
                let names: Vec<&str> = schedule_names();
                let hint = closest(e.get_ref().trim(), &names)
                    .map_or(err.hint, |b| format!("did you mean `{b}`?"));
                cx.hint(e.span(), err.message, hint);
                None
            }
        });
    Verify { at_boot, every }
}

fn schedule_names() -> Vec<&'static str> {
    super::schedule::NAMED
        .iter()
        .map(|(name, _)| *name)
        .collect()
}

fn check_homes(cx: &mut Ctx, raw_users: &[S<RawUser>], users: &[User], fs: &Filesystem) {
    for user in users {
        if user.ssh_keys.is_empty() {
            continue;
        }
        let mounted = fs
            .ephemeral
            .iter()
            .chain(fs.state.iter().map(|v| &v.path))
            .find(|d| is_within(&user.home, d));
        if let Some(dir) = mounted {
            let span = raw_users
                .iter()
                .find(|u| *u.get_ref().name.get_ref() == user.name)
                .map_or(0..0, home_span);
            cx.hint(
                span,
                format!(
                    "home `{}` of user `{}` lies under `{dir}`, which hides its authorized_keys at runtime",
                    user.home, user.name
                ),
                "keep homes with SSH keys in the image, e.g. under `/home`",
            );
        }
    }
}

fn services(
    cx: &mut Ctx,
    raw: Option<&S<RawServices>>,
    installed: &Installed,
    verify: &Verify,
) -> Services {
    let mut runlevels = match raw {
        None => hardening::default_services(installed),
        Some(raw) => {
            let RawServices {
                sysinit,
                boot,
                default,
                shutdown,
            } = raw.get_ref();
            let mut seen: BTreeMap<String, Runlevel> = BTreeMap::new();
            let mut out = BTreeMap::new();
            for (level, list) in [
                (Runlevel::Sysinit, sysinit),
                (Runlevel::Boot, boot),
                (Runlevel::Default, default),
                (Runlevel::Shutdown, shutdown),
            ] {
                let mut set = BTreeSet::new();
                for s in list {
                    let name = s.get_ref();
                    if !is_name(name, 64, &['.', '_', '-', '@']) {
                        cx.err(s.span(), format!("invalid service name `{name}`"));
                        continue;
                    }
                    if let Some(first) = seen.get(name) {
                        cx.hint(
                            s.span(),
                            format!("service `{name}` is already enabled in runlevel `{first}`"),
                            "enable each service in one runlevel",
                        );
                        continue;
                    }
                    seen.insert(name.clone(), level);
                    set.insert(name.clone());
                }
                out.insert(level, set);
            }
            out
        }
    };
    // Companions that the generated configuration relies on.
    if installed.ssh {
        let level = runlevels
            .iter()
            .find(|(_, set)| set.contains("sshd"))
            .map(|(l, _)| *l);
        if let Some(level) = level {
            runlevels
                .entry(level)
                .or_default()
                .insert(SSH_KEYGEN_SERVICE.to_owned());
        }
    }
    if verify.at_boot != AtBoot::Off {
        runlevels
            .entry(Runlevel::Boot)
            .or_default()
            .insert(VERIFY_SERVICE.to_owned());
    }
    // The periodic verification runs from busybox crond, in the default runlevel unless the
    // profile enables it elsewhere.
    if verify.every.is_some() && !runlevels.values().any(|set| set.contains(CRON_SERVICE)) {
        runlevels
            .entry(Runlevel::Default)
            .or_default()
            .insert(CRON_SERVICE.to_owned());
    }
    Services { runlevels }
}

#[cfg(test)]
mod tests {
    use super::super::line_column;
    use super::*;

    #[test]
    fn hints_find_typos() {
        assert_eq!(closest("instal", &["install"]), Some("install"));
        assert_eq!(closest("urls", &["keys"]), None);
        assert_eq!(closest("x86-64", ARCHES), Some("x86_64"));
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[track_caller]
    fn atom(input: &str, ok: bool) {
        assert_eq!(
            check_atom(input).is_ok(),
            ok,
            "{input}: {:?}",
            check_atom(input)
        );
    }

    #[test]
    fn atoms() {
        atom("alpine-base", true);
        atom("docker@community", true);
        atom("busybox>=1.36.1-r15", true);
        atom("busybox=1.36.1-r15@main", true);
        atom("musl~1.2", true);
        atom("!vlan", true);
        atom("so:libc.musl-x86_64.so.1", true);
        atom("cmd:sh", true);
        atom("g++", true);
        atom("", false);
        atom("two words", false);
        atom("a@", false);
        atom("a>=", false);
        atom("a=>1", false);
        atom("a@x@y", false);
        atom("-a", false);
    }

    #[test]
    fn ssh_keys() {
        let ed =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA x@y";
        assert_eq!(check_ssh_key(ed).as_deref(), Ok(ed));
        assert!(
            check_ssh_key(
                "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            )
            .is_err()
        );
        assert!(check_ssh_key("ssh-ed25519 !!!").is_err());
        assert!(check_ssh_key("from=\"x\" ssh-ed25519 AAAA").is_err());
        assert!(check_ssh_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5").is_err());
    }

    #[test]
    fn messages_lowercase() {
        assert_eq!(lower_first("Invalid type"), "invalid type");
        assert_eq!(lower_first("TOML thing"), "TOML thing");
    }

    #[test]
    fn line_columns() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é\nx", 3), (2, 1));
        assert_eq!(line_column("éa", 2), (1, 2));
    }
}
