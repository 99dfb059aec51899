//! What the skipped package scripts would have done that a host needs, produced declaratively
//! over the [`ImageTree`], and the OpenRC runlevels the profile asks for.
//!
//! Package scripts are never run. Their effects are reproduced from data:
//! - accounts: a built-in table of the `addgroup -S` / `adduser -S` calls of Alpine's
//!   pre-install scripts ([`ACCOUNT_SCRIPTS`]), applied with busybox's own id allocation (the
//!   first free id from 100) just before the package's files are placed, so that its files
//!   resolve to the new owner as they do under apk, which re-reads `/etc/passwd` after every
//!   script;
//! - busybox applet links (busybox's post-install and trigger): a symlink to `/bin/busybox`
//!   for every path of `/etc/busybox-paths.d/busybox` that is still free, after `bbsuid
//!   --install` has pointed its applets at `/bin/bbsuid`;
//! - the CA bundle that `update-ca-certificates` writes, when the `ca-certificates` trigger
//!   was skipped.
//!
//! Invariant: every effect is a pure function of the tree (and the epoch), so the same inputs
//! give the same image; nothing here reads the building host.

use std::collections::BTreeMap;

use crate::accounts::Accounts;
use crate::profile::{Group, User};
use crate::tree::{self, ImagePath, ImageTree, Node, NodeKind};

/// Errors from applying effects.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A service to enable has no script in `/etc/init.d`.
    #[error(
        "service `{service}` for runlevel `{runlevel}` has no `/etc/init.d/{service}` in the image"
    )]
    UnknownService {
        /// The service.
        service: String,
        /// The runlevel it was meant for.
        runlevel: String,
    },
    /// A service or runlevel name that is not a plain file name.
    #[error("invalid OpenRC name `{name}`: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// No free id was left in busybox's system range.
    #[error("no free {kind} id between 100 and 999 for `{name}`")]
    NoFreeId {
        /// `user` or `group`.
        kind: &'static str,
        /// The account.
        name: String,
    },
    /// The tree refused a change.
    #[error("cannot write `{path}`")]
    Tree {
        /// The path.
        path: String,
        /// The tree's reason.
        #[source]
        source: tree::Error,
    },
}

/// A group a package's pre-install script creates (`addgroup -S [-g GID] NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupScript {
    /// Group name.
    pub name: &'static str,
    /// Fixed gid (`-g`), or the first free system gid.
    pub gid: Option<u32>,
}

/// A user a package's pre-install script creates
/// (`adduser -S -D [-H] -h HOME -s SHELL -G GROUP -g GECOS NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserScript {
    /// User name.
    pub name: &'static str,
    /// Primary group (`-G`), which must exist.
    pub group: &'static str,
    /// Home directory (`-h`).
    pub home: &'static str,
    /// Login shell (`-s`).
    pub shell: &'static str,
    /// GECOS field (`-g`).
    pub gecos: &'static str,
    /// Whether the home directory is created (no `-H`).
    pub make_home: bool,
}

/// The accounts one package's pre-install script creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountScript {
    /// The package.
    pub package: &'static str,
    /// Groups, created first.
    pub groups: &'static [GroupScript],
    /// Users, created after the groups.
    pub users: &'static [UserScript],
}

/// Alpine's pre-install scripts that create accounts, transcribed from the packages
/// (`addgroup`/`adduser` lines; ids are allocated as busybox does).
pub const ACCOUNT_SCRIPTS: &[AccountScript] = &[
    AccountScript {
        package: "alpine-baselayout",
        groups: &[GroupScript {
            name: "shadow",
            gid: Some(42),
        }],
        users: &[],
    },
    AccountScript {
        package: "chrony",
        groups: &[GroupScript {
            name: "chrony",
            gid: None,
        }],
        users: &[UserScript {
            name: "chrony",
            group: "chrony",
            home: "/var/log/chrony",
            shell: "/sbin/nologin",
            gecos: "chrony",
            make_home: true,
        }],
    },
    AccountScript {
        package: "dhcpcd",
        groups: &[GroupScript {
            name: "dhcpcd",
            gid: None,
        }],
        users: &[UserScript {
            name: "dhcpcd",
            group: "dhcpcd",
            home: "/var/lib/dhcpcd",
            shell: "/sbin/nologin",
            gecos: "dhcpcd",
            make_home: true,
        }],
    },
    AccountScript {
        package: "docker",
        groups: &[GroupScript {
            name: "docker",
            gid: None,
        }],
        users: &[],
    },
    AccountScript {
        package: "docker-engine",
        groups: &[GroupScript {
            name: "docker",
            gid: None,
        }],
        users: &[],
    },
];

/// busybox's system id range (`CONFIG_FIRST_SYSTEM_ID`..=`CONFIG_LAST_SYSTEM_ID` on Alpine).
const SYSTEM_IDS: std::ops::RangeInclusive<u32> = 100..=999;

/// The applets `bbsuid --install` links to `/bin/bbsuid` (busybox-suid on Alpine 3.19).
pub const BBSUID_APPLETS: &[&str] = &[
    "bin/mount",
    "bin/umount",
    "bin/su",
    "usr/bin/crontab",
    "usr/bin/passwd",
    "usr/bin/traceroute",
    "usr/bin/traceroute6",
    "usr/bin/vlock",
];

/// One thing an effect did, for the build report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    /// Which script's effect this is (`chrony pre-install`, `busybox trigger`...).
    pub effect: String,
    /// What was done.
    pub detail: String,
}

/// The account script of `package`, if basalt knows it.
#[must_use]
pub fn account_script(package: &str) -> Option<&'static AccountScript> {
    ACCOUNT_SCRIPTS.iter().find(|s| s.package == package)
}

/// Applies the accounts `package`'s pre-install script creates, as busybox would: an existing
/// name is left alone; new ids are the first free ones from 100. `epoch` dates the shadow
/// entries (days since 1970, as `adduser` writes them).
///
/// # Errors
/// When no id is free or the tree refuses a change.
pub fn apply_account_script(
    tree: &mut ImageTree,
    script: &AccountScript,
    epoch: u64,
) -> Result<Vec<Applied>, Error> {
    let mut applied = Vec::new();
    let effect = format!("{} pre-install", script.package);
    for group in script.groups {
        let accounts = Accounts::of(tree);
        if accounts.gid(group.name).is_some() {
            continue;
        }
        let gid = match group.gid {
            Some(gid) => gid,
            None => SYSTEM_IDS
                .clone()
                .find(|&id| accounts.group_name(id).is_none())
                .ok_or_else(|| Error::NoFreeId {
                    kind: "group",
                    name: group.name.to_owned(),
                })?,
        };
        append_line(tree, "etc/group", &format!("{}:x:{gid}:", group.name))?;
        applied.push(Applied {
            effect: effect.clone(),
            detail: format!("group {} (gid {gid})", group.name),
        });
    }
    for user in script.users {
        let accounts = Accounts::of(tree);
        if accounts.uid(user.name).is_some() {
            continue;
        }
        let Some(gid) = accounts.gid(user.group) else {
            continue; // adduser fails when the group is missing; the script ignores it
        };
        let uid = SYSTEM_IDS
            .clone()
            .find(|&id| accounts.user_name(id).is_none())
            .ok_or_else(|| Error::NoFreeId {
                kind: "user",
                name: user.name.to_owned(),
            })?;
        append_line(
            tree,
            "etc/passwd",
            &format!(
                "{}:x:{uid}:{gid}:{}:{}:{}",
                user.name, user.gecos, user.home, user.shell
            ),
        )?;
        if tree.lookup("/etc/shadow").is_some() {
            append_line(
                tree,
                "etc/shadow",
                &format!("{}:!:{}:0:99999:7:::", user.name, epoch / 86_400),
            )?;
        }
        add_group_member(tree, user.group, user.name)?;
        if user.make_home {
            make_home(tree, user.home, uid, gid)?;
        }
        applied.push(Applied {
            effect: effect.clone(),
            detail: format!(
                "user {} (uid {uid}, gid {gid}, home {})",
                user.name, user.home
            ),
        });
    }
    Ok(applied)
}

fn tree_err(path: &str) -> impl FnOnce(tree::Error) -> Error + '_ {
    move |source| Error::Tree {
        path: path.to_owned(),
        source,
    }
}

/// Appends one line to a text file of the image, keeping its node's mode and owner (creating
/// it 0644 root when absent).
fn append_line(tree: &mut ImageTree, path: &str, line: &str) -> Result<(), Error> {
    let image_path = ImagePath::new(path.as_bytes()).map_err(tree_err(path))?;
    let (mut bytes, node) = match tree.file_node(&image_path) {
        Some(node) => {
            let NodeKind::File(content) = &node.kind else {
                unreachable!("file_node returns files")
            };
            (content.bytes().to_vec(), node.clone())
        }
        None => (Vec::new(), Node::file(&b""[..], 0o644)),
    };
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    let node = Node {
        kind: NodeKind::File(tree::Content::new(bytes)),
        ..node
    };
    tree.insert(image_path, node).map_err(tree_err(path))?;
    Ok(())
}

/// `addgroup USER GROUP`: adds a member to a group line of `/etc/group`.
fn add_group_member(tree: &mut ImageTree, group: &str, user: &str) -> Result<(), Error> {
    let Some(bytes) = tree.read_file("/etc/group") else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len() + user.len() + 1);
    for line in text.lines() {
        let mut fields: Vec<&str> = line.split(':').collect();
        if fields.len() == 4 && fields[0] == group {
            let members = fields[3];
            let joined;
            if members.split(',').any(|m| m == user) {
                joined = members.to_owned();
            } else if members.is_empty() {
                joined = user.to_owned();
            } else {
                joined = format!("{members},{user}");
            }
            fields[3] = &joined;
            out.push_str(&fields.join(":"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    let path = ImagePath::new(b"etc/group").map_err(tree_err("etc/group"))?;
    let node = tree
        .get(&path)
        .cloned()
        .unwrap_or_else(|| Node::file(&b""[..], 0o644));
    let node = Node {
        kind: NodeKind::File(tree::Content::new(out.into_bytes())),
        ..node
    };
    tree.insert(path, node).map_err(tree_err("etc/group"))?;
    Ok(())
}

/// busybox `adduser` without `-H`: `mkdir HOME 0755` (when its parent exists), then
/// `chown -R uid:gid HOME` and `chmod 2755 HOME`.
fn make_home(tree: &mut ImageTree, home: &str, uid: u32, gid: u32) -> Result<(), Error> {
    let Ok(path) = ImagePath::from_absolute(home) else {
        return Ok(());
    };
    match tree.get(&path) {
        Some(node) if node.is_dir() => {}
        Some(_) => return Ok(()),
        None => {
            if tree.check_parents(&path).is_err() {
                return Ok(()); // mkdir fails; busybox reports and carries on
            }
            tree.insert(path.clone(), Node::dir(0o755))
                .map_err(tree_err(home))?;
        }
    }
    let below: Vec<ImagePath> = tree.descendants(&path).map(|(p, _)| p.clone()).collect();
    for p in below.iter().chain(std::iter::once(&path)) {
        if let Some(node) = tree.get_mut(p) {
            node.uid = uid;
            node.gid = gid;
        }
    }
    if let Some(node) = tree.get_mut(&path) {
        node.mode = 0o2755;
    }
    Ok(())
}

/// Creates the busybox applet links that `bbsuid --install` and `busybox --install -s` make:
/// symlinks to `/bin/bbsuid` for its applets (replacing symlinks), then to `/bin/NAME` for each
/// path listed in `/etc/busybox-paths.d/NAME` whose binary `/bin/NAME` exists, where the path
/// is still free and its directory exists.
///
/// # Errors
/// When the tree refuses a link.
pub fn busybox_links(tree: &mut ImageTree) -> Result<Vec<Applied>, Error> {
    let mut applied = Vec::new();
    if tree.lookup("/bin/bbsuid").is_some() {
        let mut count = 0;
        for applet in BBSUID_APPLETS {
            let path = ImagePath::new(applet.as_bytes()).map_err(tree_err(applet))?;
            let free = match tree.get(&path) {
                None => true,
                Some(node) => matches!(node.kind, NodeKind::Symlink(_)),
            };
            if free && tree.check_parents(&path).is_ok() {
                tree.insert(path, Node::symlink("/bin/bbsuid"))
                    .map_err(tree_err(applet))?;
                count += 1;
            }
        }
        applied.push(Applied {
            effect: "busybox trigger".to_owned(),
            detail: format!("{count} links to /bin/bbsuid"),
        });
    }
    let Ok(dir) = ImagePath::new(b"etc/busybox-paths.d") else {
        return Ok(applied);
    };
    let lists: Vec<(Vec<u8>, Vec<u8>)> = tree
        .descendants(&dir)
        .filter_map(|(path, _)| {
            let NodeKind::File(content) = &tree.file_node(path)?.kind else {
                return None;
            };
            (path.parent().as_ref() == Some(&dir))
                .then(|| (path.file_name().to_vec(), content.bytes().to_vec()))
        })
        .collect();
    // busybox-extras before busybox, as the trigger runs them.
    let mut lists = lists;
    lists.sort_by_key(|(name, _)| name.as_slice() == b"busybox");
    for (name, listing) in lists {
        let binary = [b"bin/".as_slice(), &name].concat();
        let Ok(binary) = ImagePath::new(&binary) else {
            continue;
        };
        if tree.get(&binary).is_none() {
            continue;
        }
        let target = [b"/".as_slice(), binary.as_bytes()].concat();
        let mut count = 0;
        for line in listing.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            let line = line.strip_prefix(b"/").unwrap_or(line);
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let Ok(path) = ImagePath::new(line) else {
                continue;
            };
            if tree.get(&path).is_some() || tree.check_parents(&path).is_err() {
                continue;
            }
            tree.insert(path.clone(), Node::symlink(target.clone()))
                .map_err(|source| Error::Tree {
                    path: path.display(),
                    source,
                })?;
            count += 1;
        }
        applied.push(Applied {
            effect: "busybox post-install".to_owned(),
            detail: format!("{count} links to {}", tree::escape(&target)),
        });
    }
    Ok(applied)
}

/// What `update-ca-certificates` writes: `/etc/ssl/certs/ca-certificates.crt` from the
/// certificates `/etc/ca-certificates.conf` enables under `/usr/share/ca-certificates` (in its
/// order; lines starting with `!` or `#` are skipped), then `/usr/local/share/ca-certificates`
/// in path order; a link `/etc/ssl/certs/ca-cert-NAME.pem` to each of them (`NAME` is the file
/// name without `.crt`, `,` and space written `_`, parentheses `=`); and, as OpenSSL's
/// `rehash` then makes them in that directory, a link `HASH.N` to every file there that holds
/// exactly one certificate (`HASH` is the subject name hash, `N` counts collisions in file
/// name order, duplicates are skipped). Does nothing when the image has no
/// `/etc/ca-certificates.conf`.
///
/// # Errors
/// When the tree refuses the bundle or a link.
pub fn ca_bundle(tree: &mut ImageTree) -> Result<Vec<Applied>, Error> {
    let Some(conf) = tree.read_file("/etc/ca-certificates.conf") else {
        return Ok(Vec::new());
    };
    let mut bundle = Vec::new();
    let mut sources: Vec<ImagePath> = Vec::new();
    for line in conf.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") || line.starts_with(b"!") {
            continue;
        }
        let path = [b"usr/share/ca-certificates/".as_slice(), line].concat();
        let Ok(path) = ImagePath::new(&path) else {
            continue;
        };
        if let Some(Node {
            kind: NodeKind::File(content),
            ..
        }) = tree.file_node(&path)
        {
            push_pem(&mut bundle, content.bytes());
            sources.push(path);
        }
    }
    if let Ok(local) = ImagePath::new(b"usr/local/share/ca-certificates") {
        let local: Vec<(ImagePath, Vec<u8>)> = tree
            .descendants(&local)
            .filter(|(p, _)| p.file_name().ends_with(b".crt"))
            .filter_map(|(p, _)| match &tree.file_node(p)?.kind {
                NodeKind::File(c) => Some((p.clone(), c.bytes().to_vec())),
                _ => None,
            })
            .collect();
        for (path, pem) in local {
            push_pem(&mut bundle, &pem);
            sources.push(path);
        }
    }
    let count = sources.len();
    let certs = ImagePath::new(b"etc/ssl/certs").map_err(tree_err("etc/ssl/certs"))?;
    tree.create_dir_all(&certs, &Node::dir(0o755))
        .map_err(tree_err("etc/ssl/certs"))?;
    let path = certs
        .join(b"ca-certificates.crt")
        .map_err(tree_err("etc/ssl/certs/ca-certificates.crt"))?;
    tree.insert(path, Node::file(bundle, 0o644))
        .map_err(tree_err("etc/ssl/certs/ca-certificates.crt"))?;

    // ca-cert-NAME.pem → the certificate, absolute.
    let mut links = 0;
    for source in &sources {
        let name = source.file_name();
        let stem = name.strip_suffix(b".crt").unwrap_or(name);
        let mut link = b"ca-cert-".to_vec();
        link.extend(stem.iter().map(|&b| match b {
            b',' | b' ' => b'_',
            b'(' | b')' => b'=',
            other => other,
        }));
        link.extend_from_slice(b".pem");
        let Ok(link) = certs.join(&link) else {
            continue;
        };
        if tree.get(&link).is_none() {
            let target = [b"/".as_slice(), source.as_bytes()].concat();
            tree.insert(link, Node::symlink(target))
                .map_err(tree_err("etc/ssl/certs"))?;
            links += 1;
        }
    }

    // HASH.N → every single-certificate file of the directory, as `openssl rehash`.
    let mut names: Vec<(ImagePath, Vec<u8>)> = tree
        .descendants(&certs)
        .filter(|(p, _)| p.parent().as_ref() == Some(&certs))
        .filter(|(p, _)| {
            let n = p.file_name();
            [b".pem".as_slice(), b".crt", b".cer"]
                .iter()
                .any(|s| n.len() > s.len() && n[n.len() - s.len()..].eq_ignore_ascii_case(s))
        })
        .map(|(p, _)| (p.clone(), p.file_name().to_vec()))
        .collect();
    names.sort_by(|a, b| a.1.cmp(&b.1));
    let mut buckets: BTreeMap<u32, Vec<[u8; 20]>> = BTreeMap::new();
    let mut hashed = Vec::new();
    for (path, name) in names {
        let Some(pem) = resolve_file(tree, &path) else {
            continue;
        };
        let mut all = crate::build::certs::pem_certificates(&pem);
        if all.len() != 1 {
            continue;
        }
        let der = all.remove(0);
        let Ok(hash) = crate::build::certs::subject_hash(&der) else {
            continue;
        };
        let seen = buckets.entry(hash).or_default();
        let fingerprint = crate::build::certs::fingerprint(&der);
        if seen.contains(&fingerprint) {
            continue;
        }
        let link = format!("{hash:08x}.{}", seen.len());
        seen.push(fingerprint);
        hashed.push((link, name));
    }
    for (link, target) in &hashed {
        let path = certs
            .join(link.as_bytes())
            .map_err(tree_err("etc/ssl/certs"))?;
        tree.insert(path, Node::symlink(target.clone()))
            .map_err(tree_err("etc/ssl/certs"))?;
    }
    Ok(vec![Applied {
        effect: "ca-certificates trigger".to_owned(),
        detail: format!(
            "/etc/ssl/certs/ca-certificates.crt from {count} certificates, {links} ca-cert-*.pem links, {} hash links",
            hashed.len()
        ),
    }])
}

/// The bytes of a regular file, following symbolic links inside the tree (a few hops).
fn resolve_file(tree: &ImageTree, path: &ImagePath) -> Option<Vec<u8>> {
    let mut path = path.clone();
    for _ in 0..8 {
        let node = tree.get(&path)?;
        match &node.kind {
            NodeKind::File(c) => return Some(c.bytes().to_vec()),
            NodeKind::Hardlink(_) => match &tree.file_node(&path)?.kind {
                NodeKind::File(c) => return Some(c.bytes().to_vec()),
                _ => return None,
            },
            NodeKind::Symlink(target) => {
                path = if let Some(abs) = target.strip_prefix(b"/") {
                    ImagePath::new(abs).ok()?
                } else {
                    path.parent()?.join(target).ok()?
                };
            }
            _ => return None,
        }
    }
    None
}

fn push_pem(bundle: &mut Vec<u8>, pem: &[u8]) {
    bundle.extend_from_slice(pem);
    if !pem.ends_with(b"\n") {
        bundle.push(b'\n');
    }
}

/// What OpenRC's `bootmisc` does at the first boot of a host, done at build time so that the
/// root never has to change: `/var/lock` becomes a link to `/run/lock` (its content, empty
/// directories in Alpine's layout, moved there). Nothing happens when the image has no
/// `bootmisc` service or `/var/lock` is already a link.
///
/// # Errors
/// When the tree refuses the link.
pub fn openrc_run_links(tree: &mut ImageTree) -> Result<Vec<Applied>, Error> {
    let Ok(bootmisc) = ImagePath::new(b"etc/init.d/bootmisc") else {
        return Ok(Vec::new());
    };
    if tree.get(&bootmisc).is_none() {
        return Ok(Vec::new());
    }
    let lock = ImagePath::new(b"var/lock").map_err(tree_err("var/lock"))?;
    match tree.get(&lock) {
        Some(node) if node.is_dir() => {}
        _ => return Ok(Vec::new()),
    }
    // Only empty directories move: files there would be state the build should not hold.
    let only_dirs = tree.descendants(&lock).all(|(_, n)| n.is_dir());
    if !only_dirs {
        return Ok(Vec::new());
    }
    tree.remove_all(&lock);
    tree.insert(lock, Node::symlink(&b"/run/lock"[..]))
        .map_err(tree_err("var/lock"))?;
    Ok(vec![Applied {
        effect: "openrc bootmisc".to_owned(),
        detail: "/var/lock -> /run/lock".to_owned(),
    }])
}

/// OpenRC runlevels in the order the system enters them.
pub const RUNLEVELS: &[&str] = &["sysinit", "boot", "default", "shutdown"];

/// Makes `/etc/runlevels` hold exactly `services`: every existing entry of the named
/// runlevels and of the other standard ones is removed, then `/etc/runlevels/LEVEL/SVC` →
/// `/etc/init.d/SVC` is created for each service.
///
/// # Errors
/// [`Error::UnknownService`] when `/etc/init.d/SVC` is missing, [`Error::InvalidName`] for
/// names that are not plain file names.
pub fn enable_services(
    tree: &mut ImageTree,
    services: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<Applied>, Error> {
    let runlevels = ImagePath::new(b"etc/runlevels").map_err(tree_err("etc/runlevels"))?;
    // Nothing a package enabled survives.
    let existing: Vec<ImagePath> = tree
        .descendants(&runlevels)
        .filter(|(_, node)| !node.is_dir())
        .map(|(p, _)| p.clone())
        .collect();
    for path in existing {
        tree.remove_all(&path);
    }
    let mut applied = Vec::new();
    for (level, names) in services {
        plain_name(level)?;
        let dir = runlevels.join(level.as_bytes()).map_err(tree_err(level))?;
        tree.create_dir_all(&dir, &Node::dir(0o755))
            .map_err(tree_err("etc/runlevels"))?;
        for service in names {
            plain_name(service)?;
            let script = format!("/etc/init.d/{service}");
            if tree.lookup(&script).is_none() {
                return Err(Error::UnknownService {
                    service: service.clone(),
                    runlevel: level.clone(),
                });
            }
            let link = dir.join(service.as_bytes()).map_err(tree_err(service))?;
            tree.insert(link, Node::symlink(script.clone().into_bytes()))
                .map_err(tree_err(service))?;
            applied.push(Applied {
                effect: "openrc".to_owned(),
                detail: format!("{service} in runlevel {level}"),
            });
        }
    }
    Ok(applied)
}

fn plain_name(name: &str) -> Result<(), Error> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.contains('/') || name == "." || name == ".." {
        Some("must be a plain file name")
    } else if name.chars().any(char::is_control) {
        Some("control character")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Locks root's password in `/etc/shadow` (an empty or missing password field becomes `!`),
/// as the profile's rule requires. Returns whether anything changed.
///
/// # Errors
/// When the tree refuses the change.
pub fn lock_root_password(tree: &mut ImageTree) -> Result<bool, Error> {
    let Some(bytes) = tree.read_file("/etc/shadow") else {
        return Ok(false);
    };
    let text = String::from_utf8_lossy(bytes).into_owned();
    let mut changed = false;
    let mut out = String::with_capacity(text.len() + 1);
    for line in text.lines() {
        let mut fields: Vec<&str> = line.split(':').collect();
        if fields.first() == Some(&"root")
            && fields.len() > 1
            && !fields[1].starts_with('!')
            && !fields[1].starts_with('*')
        {
            let locked = format!("!{}", fields[1]);
            fields[1] = &locked;
            out.push_str(&fields.join(":"));
            changed = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if changed {
        let path = ImagePath::new(b"etc/shadow").map_err(tree_err("etc/shadow"))?;
        let node = tree.get(&path).cloned().expect("read above");
        let node = Node {
            kind: NodeKind::File(tree::Content::new(out.into_bytes())),
            ..node
        };
        tree.insert(path, node).map_err(tree_err("etc/shadow"))?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImagePath {
        ImagePath::new(s.as_bytes()).unwrap()
    }

    fn base() -> ImageTree {
        let mut tree = ImageTree::new();
        for d in [
            "etc", "var", "var/log", "bin", "sbin", "usr", "usr/bin", "usr/sbin",
        ] {
            tree.insert(p(d), Node::dir(0o755)).unwrap();
        }
        tree.insert(
            p("etc/passwd"),
            Node::file(
                &b"root:x:0:0:root:/root:/bin/sh\nntp:x:123:123:NTP:/var/empty:/sbin/nologin\n"[..],
                0o644,
            ),
        )
        .unwrap();
        tree.insert(
            p("etc/group"),
            Node::file(
                &b"root:x:0:root\nusers:x:100:games\nntp:x:123:\n"[..],
                0o644,
            ),
        )
        .unwrap();
        tree.insert(
            p("etc/shadow"),
            Node::file(&b"root:::0:::::\n"[..], 0o640).owned(0, 42),
        )
        .unwrap();
        tree
    }

    #[test]
    fn chrony_gets_busybox_ids_and_a_home() {
        let mut tree = base();
        let applied = apply_account_script(
            &mut tree,
            account_script("chrony").unwrap(),
            86_400 * 19_000,
        )
        .unwrap();
        assert_eq!(applied.len(), 2);
        let passwd = String::from_utf8(tree.read_file("/etc/passwd").unwrap().to_vec()).unwrap();
        assert!(
            passwd.ends_with("chrony:x:100:101:chrony:/var/log/chrony:/sbin/nologin\n"),
            "{passwd}"
        );
        let group = String::from_utf8(tree.read_file("/etc/group").unwrap().to_vec()).unwrap();
        assert!(group.ends_with("chrony:x:101:chrony\n"), "{group}");
        let shadow = String::from_utf8(tree.read_file("/etc/shadow").unwrap().to_vec()).unwrap();
        assert!(
            shadow.ends_with("chrony:!:19000:0:99999:7:::\n"),
            "{shadow}"
        );
        assert_eq!(tree.get(&p("etc/shadow")).unwrap().gid, 42);
        let home = tree.get(&p("var/log/chrony")).unwrap();
        assert_eq!((home.mode, home.uid, home.gid), (0o2755, 100, 101));
        // A second run is a no-op, as the script's `2>/dev/null` makes it.
        let again = apply_account_script(&mut tree, account_script("chrony").unwrap(), 0).unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn busybox_links_fill_free_paths_only() {
        let mut tree = base();
        tree.insert(p("bin/busybox"), Node::file(&b"elf"[..], 0o755))
            .unwrap();
        tree.insert(p("bin/bbsuid"), Node::file(&b"elf"[..], 0o4111))
            .unwrap();
        tree.insert(p("etc/busybox-paths.d"), Node::dir(0o755))
            .unwrap();
        tree.insert(
            p("etc/busybox-paths.d/busybox"),
            Node::file(
                &b"bin/ls\nusr/bin/[\nsbin/ip\nbin/mount\nopt/nowhere/x\nusr/bin/passwd\n"[..],
                0o644,
            ),
        )
        .unwrap();
        tree.insert(p("sbin/ip"), Node::file(&b"iproute2"[..], 0o755))
            .unwrap();
        busybox_links(&mut tree).unwrap();
        let target = |s: &str| match &tree.get(&p(s)).map(|n| &n.kind) {
            Some(NodeKind::Symlink(t)) => Some(String::from_utf8(t.clone()).unwrap()),
            _ => None,
        };
        assert_eq!(target("bin/ls").as_deref(), Some("/bin/busybox"));
        assert_eq!(target("usr/bin/[").as_deref(), Some("/bin/busybox"));
        assert_eq!(target("bin/mount").as_deref(), Some("/bin/bbsuid"));
        assert_eq!(target("usr/bin/passwd").as_deref(), Some("/bin/bbsuid"));
        assert_eq!(target("sbin/ip"), None);
        assert!(tree.get(&p("opt/nowhere/x")).is_none());
        assert!(tree.get(&p("bin/ls")).unwrap().package.is_none());
    }

    #[test]
    fn ca_bundle_follows_the_configuration() {
        let mut tree = base();
        tree.create_dir_all(&p("usr/share/ca-certificates/mozilla"), &Node::dir(0o755))
            .unwrap();
        for (name, pem) in [("A.crt", "AAA\n"), ("B.crt", "BBB"), ("C.crt", "CCC\n")] {
            tree.insert(
                p(&format!("usr/share/ca-certificates/mozilla/{name}")),
                Node::file(pem.as_bytes(), 0o644),
            )
            .unwrap();
        }
        assert!(ca_bundle(&mut tree).unwrap().is_empty());
        tree.insert(
            p("etc/ca-certificates.conf"),
            Node::file(
                &b"# comment\nmozilla/B.crt\n!mozilla/C.crt\nmozilla/A.crt\n"[..],
                0o644,
            ),
        )
        .unwrap();
        ca_bundle(&mut tree).unwrap();
        assert_eq!(
            tree.read_file("/etc/ssl/certs/ca-certificates.crt"),
            Some(&b"BBB\nAAA\n"[..])
        );
    }

    #[test]
    fn exactly_the_profiles_services_are_enabled() {
        let mut tree = base();
        tree.create_dir_all(&p("etc/init.d"), &Node::dir(0o755))
            .unwrap();
        for svc in ["sshd", "chronyd", "networking"] {
            tree.insert(
                p(&format!("etc/init.d/{svc}")),
                Node::file(&b"#!/sbin/openrc-run\n"[..], 0o755),
            )
            .unwrap();
        }
        tree.create_dir_all(&p("etc/runlevels/default"), &Node::dir(0o755))
            .unwrap();
        tree.insert(
            p("etc/runlevels/default/networking"),
            Node::symlink("/etc/init.d/networking"),
        )
        .unwrap();
        let mut services = BTreeMap::new();
        services.insert(
            "default".to_owned(),
            vec!["sshd".to_owned(), "chronyd".to_owned()],
        );
        enable_services(&mut tree, &services).unwrap();
        let enabled: Vec<String> = tree
            .descendants(&p("etc/runlevels"))
            .filter(|(_, n)| !n.is_dir())
            .map(|(p, _)| p.display())
            .collect();
        assert_eq!(
            enabled,
            [
                "etc/runlevels/default/chronyd",
                "etc/runlevels/default/sshd"
            ]
        );
        services.insert("boot".to_owned(), vec!["missing".to_owned()]);
        let err = enable_services(&mut tree, &services).unwrap_err();
        assert_eq!(
            err.to_string(),
            "service `missing` for runlevel `boot` has no `/etc/init.d/missing` in the image"
        );
        services.insert("boot".to_owned(), vec!["../x".to_owned()]);
        assert!(matches!(
            enable_services(&mut tree, &services),
            Err(Error::InvalidName { .. })
        ));
    }

    #[test]
    fn root_password_is_locked() {
        let mut tree = base();
        assert!(lock_root_password(&mut tree).unwrap());
        assert_eq!(
            tree.read_file("/etc/shadow"),
            Some(&b"root:!::0:::::\n"[..])
        );
        assert!(!lock_root_password(&mut tree).unwrap());
    }
}

/// Applies the profile's accounts: groups first (created, or their gid and member list set
/// exactly), then users (their `passwd` line, a `shadow` entry with no usable password, `*`,
/// since logins are key-only: not `!`, which OpenSSH takes for a locked account and refuses
/// even a key; and a home directory 0700 owned by them). A declared user that exists is
/// replaced by the declaration.
///
/// # Errors
/// When no gid is free or the tree refuses a change.
pub fn apply_profile_accounts(
    tree: &mut ImageTree,
    groups: &[Group],
    users: &[User],
    epoch: u64,
) -> Result<Vec<Applied>, Error> {
    let mut applied = Vec::new();
    for user in users {
        if Accounts::of(tree).gid(&user.group).is_none()
            && !groups.iter().any(|g| g.name == user.group)
        {
            append_line(
                tree,
                "etc/group",
                &format!("{}:x:{}:", user.group, user.gid),
            )?;
        }
    }
    for group in groups {
        let accounts = Accounts::of(tree);
        let gid = match (group.gid, accounts.gid(&group.name)) {
            (Some(gid), _) | (None, Some(gid)) => gid,
            (None, None) => SYSTEM_IDS
                .clone()
                .find(|&id| accounts.group_name(id).is_none())
                .ok_or_else(|| Error::NoFreeId {
                    kind: "group",
                    name: group.name.clone(),
                })?,
        };
        let members: Vec<&str> = group.members.iter().map(String::as_str).collect();
        let line = format!("{}:x:{gid}:{}", group.name, members.join(","));
        replace_line(tree, "etc/group", &group.name, &line)?;
        applied.push(Applied {
            effect: "profile accounts".to_owned(),
            detail: format!(
                "group {} (gid {gid}) members [{}]",
                group.name,
                members.join(", ")
            ),
        });
    }
    for user in users {
        let line = format!(
            "{}:x:{}:{}:{}:{}:{}",
            user.name, user.uid, user.gid, user.name, user.home, user.shell
        );
        replace_line(tree, "etc/passwd", &user.name, &line)?;
        if tree.lookup("/etc/shadow").is_some() {
            let shadow = format!("{}:*:{}:0:99999:7:::", user.name, epoch / 86_400);
            replace_line(tree, "etc/shadow", &user.name, &shadow)?;
        }
        if let Ok(home) = ImagePath::from_absolute(&user.home) {
            if let Some(parent) = home.parent() {
                tree.create_dir_all(&parent, &Node::dir(0o755))
                    .map_err(tree_err(&user.home))?;
            }
            if tree.get(&home).is_none() {
                tree.insert(home, Node::dir(0o700).owned(user.uid, user.gid))
                    .map_err(tree_err(&user.home))?;
            }
        }
        applied.push(Applied {
            effect: "profile accounts".to_owned(),
            detail: format!("user {} (uid {}, gid {})", user.name, user.uid, user.gid),
        });
    }
    Ok(applied)
}

/// Replaces the line of `name` in a colon-separated account file, or appends it.
fn replace_line(tree: &mut ImageTree, path: &str, name: &str, line: &str) -> Result<(), Error> {
    let absolute = format!("/{path}");
    let Some(bytes) = tree.read_file(&absolute) else {
        return append_line(tree, path, line);
    };
    let text = String::from_utf8_lossy(bytes).into_owned();
    let prefix = format!("{name}:");
    if !text.lines().any(|l| l.starts_with(&prefix)) {
        return append_line(tree, path, line);
    }
    let mut out = String::with_capacity(text.len() + line.len());
    for l in text.lines() {
        out.push_str(if l.starts_with(&prefix) { line } else { l });
        out.push('\n');
    }
    let image_path = ImagePath::new(path.as_bytes()).map_err(tree_err(path))?;
    let node = tree.get(&image_path).cloned().expect("read above");
    let node = Node {
        kind: NodeKind::File(tree::Content::new(out.into_bytes())),
        ..node
    };
    tree.insert(image_path, node).map_err(tree_err(path))?;
    Ok(())
}

#[cfg(test)]
mod profile_account_tests {
    use super::*;

    fn p(s: &str) -> ImagePath {
        ImagePath::new(s.as_bytes()).unwrap()
    }

    #[test]
    fn docker_group_gets_exactly_the_declared_members() {
        let mut tree = ImageTree::new();
        tree.insert(p("etc"), Node::dir(0o755)).unwrap();
        tree.insert(
            p("etc/group"),
            Node::file(&b"root:x:0:root\ndocker:x:101:intruder\n"[..], 0o644),
        )
        .unwrap();
        tree.insert(
            p("etc/passwd"),
            Node::file(&b"root:x:0:0:root:/root:/bin/sh\n"[..], 0o644),
        )
        .unwrap();
        tree.insert(p("etc/shadow"), Node::file(&b"root:!::0:::::\n"[..], 0o640))
            .unwrap();
        let groups = [
            Group {
                name: "docker".into(),
                gid: None,
                members: ["ops".to_owned()].into(),
            },
            Group {
                name: "ops".into(),
                gid: Some(1000),
                members: std::collections::BTreeSet::new(),
            },
        ];
        let users = [User {
            name: "ops".into(),
            uid: 1000,
            gid: 1000,
            group: "ops".into(),
            shell: "/bin/sh".into(),
            home: "/home/ops".into(),
            groups: std::collections::BTreeSet::new(),
            ssh_keys: Vec::new(),
        }];
        apply_profile_accounts(&mut tree, &groups, &users, 86_400 * 20_000).unwrap();
        let group = String::from_utf8(tree.read_file("/etc/group").unwrap().to_vec()).unwrap();
        assert_eq!(group, "root:x:0:root\ndocker:x:101:ops\nops:x:1000:\n");
        let passwd = String::from_utf8(tree.read_file("/etc/passwd").unwrap().to_vec()).unwrap();
        assert!(
            passwd.ends_with("ops:x:1000:1000:ops:/home/ops:/bin/sh\n"),
            "{passwd}"
        );
        let shadow = String::from_utf8(tree.read_file("/etc/shadow").unwrap().to_vec()).unwrap();
        assert!(shadow.ends_with("ops:*:20000:0:99999:7:::\n"), "{shadow}");
        let home = tree.get(&p("home/ops")).unwrap();
        assert_eq!((home.mode, home.uid, home.gid), (0o700, 1000, 1000));
    }
}
