//! `accounts`: the account databases of a root, `/etc/passwd`, `/etc/group` and
//! `/etc/shadow`, read one way for every caller: the build resolves package owners by name
//! through them ([`Accounts`]), the audit checks passwords, shells and the `docker` group.
//!
//! Invariant: pure and total: any text in, entries out; a line the C library would not
//! accept (too few fields, an id that is not a number) is skipped; comments and blank lines
//! are skipped; entries keep their line numbers.

use std::collections::BTreeMap;

use crate::tree::ImageTree;

fn lines(text: &str) -> impl Iterator<Item = (u32, &str)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            None
        } else {
            Some((u32::try_from(i + 1).unwrap_or(u32::MAX), line))
        }
    })
}

/// One `/etc/passwd` account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// The password field (`x` when the hash is in `/etc/shadow`).
    pub password: String,
    /// Numeric user id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
    /// Line number.
    pub line: u32,
}

/// One `/etc/shadow` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowEntry {
    /// Login name.
    pub name: String,
    /// The password hash field.
    pub hash: String,
    /// Line number.
    pub line: u32,
}

/// One `/etc/group` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Numeric id.
    pub gid: u32,
    /// Supplementary members.
    pub members: Vec<String>,
    /// Line number.
    pub line: u32,
}

/// Parses `/etc/passwd`; malformed lines are skipped.
#[must_use]
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    lines(text)
        .filter_map(|(line, raw)| {
            let f: Vec<&str> = raw.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_owned(),
                password: f[1].to_owned(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_owned(),
                shell: f[6].to_owned(),
                line,
            })
        })
        .collect()
}

/// Parses `/etc/shadow`; malformed lines are skipped.
#[must_use]
pub fn parse_shadow(text: &str) -> Vec<ShadowEntry> {
    lines(text)
        .filter_map(|(line, raw)| {
            let mut f = raw.split(':');
            let name = f.next()?.to_owned();
            let hash = f.next()?.to_owned();
            Some(ShadowEntry { name, hash, line })
        })
        .collect()
}

/// Parses `/etc/group`; malformed lines are skipped.
#[must_use]
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    lines(text)
        .filter_map(|(line, raw)| {
            let f: Vec<&str> = raw.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_owned(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|m| !m.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                line,
            })
        })
        .collect()
}

/// User and group names of an image, read from its own `/etc/passwd` and `/etc/group`.
///
/// Lines that do not parse are ignored, as the C library does; the first entry of a name or
/// id wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    users: BTreeMap<String, u32>,
    groups: BTreeMap<String, u32>,
    user_names: BTreeMap<u32, String>,
    group_names: BTreeMap<u32, String>,
}

impl Accounts {
    /// Reads the accounts of `tree` (empty when the files are absent).
    #[must_use]
    pub fn of(tree: &ImageTree) -> Self {
        let mut accounts = Accounts::default();
        if let Some(passwd) = tree.read_file("/etc/passwd") {
            for entry in parse_passwd(&String::from_utf8_lossy(passwd)) {
                accounts
                    .user_names
                    .entry(entry.uid)
                    .or_insert_with(|| entry.name.clone());
                accounts.users.entry(entry.name).or_insert(entry.uid);
            }
        }
        if let Some(group) = tree.read_file("/etc/group") {
            for entry in parse_group(&String::from_utf8_lossy(group)) {
                accounts
                    .group_names
                    .entry(entry.gid)
                    .or_insert_with(|| entry.name.clone());
                accounts.groups.entry(entry.name).or_insert(entry.gid);
            }
        }
        accounts
    }

    /// The uid of a user name.
    #[must_use]
    pub fn uid(&self, name: &str) -> Option<u32> {
        self.users.get(name).copied()
    }

    /// The gid of a group name.
    #[must_use]
    pub fn gid(&self, name: &str) -> Option<u32> {
        self.groups.get(name).copied()
    }

    /// The first user name with this uid.
    #[must_use]
    pub fn user_name(&self, uid: u32) -> Option<&str> {
        self.user_names.get(&uid).map(String::as_str)
    }

    /// The first group name with this gid.
    #[must_use]
    pub fn group_name(&self, gid: u32) -> Option<&str> {
        self.group_names.get(&gid).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{ImagePath, Node};

    #[test]
    fn one_reader_for_owners_and_the_audit() {
        let passwd = "root:x:0:0:root:/root:/bin/sh
# comment
short:x:5
                      chrony:x:100:101:chrony:/var/log/chrony:/sbin/nologin
";
        let group = "root:x:0:root
chrony:x:101:
bad:x:notanumber:
";
        let entries = parse_passwd(passwd);
        assert_eq!(
            entries
                .iter()
                .map(|e| (e.name.as_str(), e.uid, e.line))
                .collect::<Vec<_>>(),
            [("root", 0, 1), ("chrony", 100, 4)]
        );
        let mut tree = ImageTree::new();
        tree.insert(ImagePath::new(b"etc").unwrap(), Node::dir(0o755))
            .unwrap();
        for (path, text) in [("etc/passwd", passwd), ("etc/group", group)] {
            tree.insert(
                ImagePath::new(path.as_bytes()).unwrap(),
                Node::file(text.as_bytes().to_vec(), 0o644),
            )
            .unwrap();
        }
        let accounts = Accounts::of(&tree);
        assert_eq!(accounts.uid("chrony"), Some(100));
        // A line the audit does not read is no account for the build either.
        assert_eq!(accounts.uid("short"), None);
        assert_eq!(accounts.gid("chrony"), Some(101));
        assert_eq!(accounts.gid("bad"), None);
        assert_eq!(accounts.user_name(0), Some("root"));
        assert_eq!(accounts.group_name(101), Some("chrony"));
    }

    #[test]
    fn accounts_come_from_the_image() {
        let mut tree = ImageTree::new();
        tree.insert(ImagePath::new(b"etc").unwrap(), Node::dir(0o755))
            .unwrap();
        tree.insert(
            ImagePath::new(b"etc/passwd").unwrap(),
            Node::file(
                &b"root:x:0:0:root:/root:/bin/sh\nbroken\nsshd:x:22:22:sshd:/dev/null:/sbin/nologin\n"[..],
                0o644,
            ),
        )
        .unwrap();
        tree.insert(
            ImagePath::new(b"etc/group").unwrap(),
            Node::file(&b"root:x:0:root\nshadow:x:42:\n"[..], 0o644),
        )
        .unwrap();
        let accounts = Accounts::of(&tree);
        assert_eq!(accounts.uid("sshd"), Some(22));
        assert_eq!(accounts.uid("broken"), None);
        assert_eq!(accounts.gid("shadow"), Some(42));
        assert_eq!(accounts.user_name(0), Some("root"));
        assert_eq!(accounts.group_name(42), Some("shadow"));
    }
}
