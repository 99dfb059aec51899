//! The in-memory image: every path of the host being built, with its type, content, mode,
//! owner and the package that put it there.
//!
//! Invariants:
//! - an [`ImagePath`] is relative, normalised (no empty, `.` or `..` components, no NUL) and
//!   kept as raw bytes, so any name a package carries survives losslessly;
//! - every ancestor of a node in an [`ImageTree`] is a directory node of the same tree, so a
//!   path can never be written through a symbolic link (the tree refuses such inserts);
//! - iteration is in byte order of the paths, which puts every directory before its contents.
//!
//! Contents are held in memory as shared byte slices ([`Content`]). A full Docker host is a
//! few hundred megabytes, which fits comfortably; hard links and files that several stages
//! copy share one allocation, so nothing is duplicated. Spilling to disk was considered and
//! left out: it would make the tree touch the filesystem, which this module must not do.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Errors from building a tree.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A path is not a normalised relative path.
    #[error("invalid image path `{path}`: {reason}")]
    InvalidPath {
        /// The offending name, escaped for display.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An ancestor of the path is missing.
    #[error("cannot create `{path}`: parent directory `{parent}` does not exist")]
    MissingParent {
        /// The path being created.
        path: ImagePath,
        /// The first missing ancestor.
        parent: ImagePath,
    },
    /// An ancestor of the path exists but is not a directory (a symlink, a file...).
    #[error("cannot create `{path}`: parent `{parent}` is a {kind}, not a directory")]
    ParentNotDirectory {
        /// The path being created.
        path: ImagePath,
        /// The ancestor that is not a directory.
        parent: ImagePath,
        /// What the ancestor is.
        kind: &'static str,
    },
    /// A directory that still has contents would be replaced by something else.
    #[error("cannot replace directory `{path}` (it has contents) with a {kind}")]
    DirectoryNotEmpty {
        /// The directory.
        path: ImagePath,
        /// What was to replace it.
        kind: &'static str,
    },
}

/// A normalised, relative path inside the image, as raw bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImagePath(Vec<u8>);

impl ImagePath {
    /// Parses a relative path: components separated by single `/`, none empty, `.` or `..`,
    /// no NUL byte. One trailing `/` (as tar writes directory names) is accepted and dropped.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] naming the reason.
    pub fn new(bytes: &[u8]) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidPath {
            path: escape(bytes),
            reason,
        };
        let trimmed = bytes.strip_suffix(b"/").unwrap_or(bytes);
        if trimmed.is_empty() {
            return Err(invalid("empty path"));
        }
        if trimmed.starts_with(b"/") {
            return Err(invalid("absolute path"));
        }
        if trimmed.contains(&0) {
            return Err(invalid("NUL byte in path"));
        }
        for component in trimmed.split(|&b| b == b'/') {
            match component {
                b"" => return Err(invalid("empty path component")),
                b"." => return Err(invalid("`.` path component")),
                b".." => return Err(invalid("`..` path component")),
                _ => {}
            }
        }
        Ok(ImagePath(trimmed.to_vec()))
    }

    /// Parses an absolute image path such as `/etc/motd` (the leading `/` is dropped).
    ///
    /// # Errors
    /// [`Error::InvalidPath`] when it is not absolute or not normalised.
    pub fn from_absolute(path: &str) -> Result<Self, Error> {
        match path.strip_prefix('/') {
            Some(rest) => ImagePath::new(rest.as_bytes()),
            None => Err(Error::InvalidPath {
                path: path.to_owned(),
                reason: "expected an absolute path",
            }),
        }
    }

    /// The raw bytes (no leading or trailing `/`).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The path as text when it is UTF-8, escaped otherwise.
    #[must_use]
    pub fn display(&self) -> String {
        escape(&self.0)
    }

    /// The parent directory, `None` for a top-level name.
    #[must_use]
    pub fn parent(&self) -> Option<ImagePath> {
        let pos = self.0.iter().rposition(|&b| b == b'/')?;
        Some(ImagePath(self.0[..pos].to_vec()))
    }

    /// The last component.
    #[must_use]
    pub fn file_name(&self) -> &[u8] {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(pos) => &self.0[pos + 1..],
            None => &self.0,
        }
    }

    /// Every proper ancestor, outermost first (`a`, `a/b` for `a/b/c`).
    #[must_use]
    pub fn ancestors(&self) -> Vec<ImagePath> {
        self.0
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'/')
            .map(|(i, _)| ImagePath(self.0[..i].to_vec()))
            .collect()
    }

    /// This path with one more component (which must itself be a valid relative path).
    ///
    /// # Errors
    /// [`Error::InvalidPath`] when `child` is not a valid relative path.
    pub fn join(&self, child: &[u8]) -> Result<ImagePath, Error> {
        let child = ImagePath::new(child)?;
        let mut bytes = self.0.clone();
        bytes.push(b'/');
        bytes.extend_from_slice(&child.0);
        Ok(ImagePath(bytes))
    }

    /// Whether `self` is `other` or lies below it.
    #[must_use]
    pub fn starts_with(&self, other: &ImagePath) -> bool {
        self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.get(other.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(&self.0))
    }
}

impl fmt::Debug for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImagePath({:?})", escape(&self.0))
    }
}

/// Text for a byte name: UTF-8 as is, other bytes as `\xNN`.
#[must_use]
pub fn escape(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.escape_ascii().to_string(),
    }
}

/// The bytes of a regular file, shared between copies.
#[derive(Clone, PartialEq, Eq)]
pub struct Content(Arc<[u8]>);

impl Content {
    /// Wraps bytes.
    #[must_use]
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Self {
        Content(bytes.into())
    }

    /// The bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether both refer to one allocation (a hard-linked or shared file).
    #[must_use]
    pub fn same_allocation(&self, other: &Content) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Content({} bytes)", self.0.len())
    }
}

/// What a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A regular file.
    File(Content),
    /// A directory.
    Dir,
    /// A symbolic link with its target, as raw bytes (never followed by basalt).
    Symlink(Vec<u8>),
    /// A hard link to another regular file of the image.
    Hardlink(ImagePath),
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

impl NodeKind {
    /// A short lowercase name for messages.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            NodeKind::File(_) => "file",
            NodeKind::Dir => "directory",
            NodeKind::Symlink(_) => "symlink",
            NodeKind::Hardlink(_) => "hard link",
            NodeKind::CharDevice { .. } => "character device",
            NodeKind::BlockDevice { .. } => "block device",
            NodeKind::Fifo => "fifo",
        }
    }
}

/// One path of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Type and type-specific data.
    pub kind: NodeKind,
    /// Permission bits including setuid, setgid and sticky (`0o7777` at most).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// The package that installed it; `None` for what the build generated.
    pub package: Option<String>,
    /// Extended attributes, by full name (`security.capability`...).
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Node {
    /// A node owned by root (uid and gid 0), without package or xattrs.
    #[must_use]
    pub fn new(kind: NodeKind, mode: u32) -> Self {
        Node {
            kind,
            mode: mode & 0o7777,
            uid: 0,
            gid: 0,
            package: None,
            xattrs: BTreeMap::new(),
        }
    }

    /// A root-owned regular file.
    #[must_use]
    pub fn file(content: impl Into<Arc<[u8]>>, mode: u32) -> Self {
        Node::new(NodeKind::File(Content::new(content)), mode)
    }

    /// A root-owned directory.
    #[must_use]
    pub fn dir(mode: u32) -> Self {
        Node::new(NodeKind::Dir, mode)
    }

    /// A symbolic link (mode 0777 as Linux reports it).
    #[must_use]
    pub fn symlink(target: impl Into<Vec<u8>>) -> Self {
        Node::new(NodeKind::Symlink(target.into()), 0o777)
    }

    /// Sets the owner.
    #[must_use]
    pub fn owned(mut self, uid: u32, gid: u32) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Sets the installing package.
    #[must_use]
    pub fn from_package(mut self, package: impl Into<String>) -> Self {
        self.package = Some(package.into());
        self
    }

    /// Whether this is a directory.
    #[must_use]
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Dir)
    }
}

/// The image: every path and its node, sorted by path bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageTree {
    nodes: BTreeMap<ImagePath, Node>,
}

impl ImageTree {
    /// An empty image (only the implicit root directory).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of paths.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the image has no paths.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node at `path`.
    #[must_use]
    pub fn get(&self, path: &ImagePath) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// The node at `path`, for changing mode, owner or content in place.
    pub fn get_mut(&mut self, path: &ImagePath) -> Option<&mut Node> {
        self.nodes.get_mut(path)
    }

    /// The node at an absolute path such as `/etc/passwd`; `None` for invalid paths.
    #[must_use]
    pub fn lookup(&self, absolute: &str) -> Option<&Node> {
        self.nodes.get(&ImagePath::from_absolute(absolute).ok()?)
    }

    /// The bytes of the regular file at an absolute path (hard links followed once).
    #[must_use]
    pub fn read_file(&self, absolute: &str) -> Option<&[u8]> {
        let path = ImagePath::from_absolute(absolute).ok()?;
        match &self.file_node(&path)?.kind {
            NodeKind::File(content) => Some(content.bytes()),
            _ => None,
        }
    }

    /// The regular-file node at `path`, following one hard link.
    #[must_use]
    pub fn file_node(&self, path: &ImagePath) -> Option<&Node> {
        let node = self.nodes.get(path)?;
        match &node.kind {
            NodeKind::File(_) => Some(node),
            NodeKind::Hardlink(target) => self
                .nodes
                .get(target)
                .filter(|n| matches!(n.kind, NodeKind::File(_))),
            _ => None,
        }
    }

    /// All paths and nodes in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&ImagePath, &Node)> {
        self.nodes.iter()
    }

    /// The paths directly or indirectly below `dir`, in path order.
    pub fn descendants<'a>(
        &'a self,
        dir: &'a ImagePath,
    ) -> impl Iterator<Item = (&'a ImagePath, &'a Node)> + 'a {
        let mut start = dir.0.clone();
        start.push(b'/');
        self.nodes
            .range(ImagePath(start.clone())..)
            .take_while(move |(p, _)| p.0.starts_with(&start))
    }

    /// Checks that every ancestor of `path` exists and is a directory.
    ///
    /// # Errors
    /// [`Error::MissingParent`] or [`Error::ParentNotDirectory`].
    pub fn check_parents(&self, path: &ImagePath) -> Result<(), Error> {
        for parent in path.ancestors() {
            match self.nodes.get(&parent) {
                None => {
                    return Err(Error::MissingParent {
                        path: path.clone(),
                        parent,
                    });
                }
                Some(node) if !node.is_dir() => {
                    return Err(Error::ParentNotDirectory {
                        path: path.clone(),
                        kind: node.kind.name(),
                        parent,
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Inserts or replaces the node at `path`, returning the node it replaced.
    ///
    /// # Errors
    /// When an ancestor is missing or not a directory, or when a non-empty directory would be
    /// replaced by something that is not a directory.
    pub fn insert(&mut self, path: ImagePath, node: Node) -> Result<Option<Node>, Error> {
        self.check_parents(&path)?;
        if !node.is_dir()
            && self.nodes.get(&path).is_some_and(Node::is_dir)
            && self.descendants(&path).next().is_some()
        {
            return Err(Error::DirectoryNotEmpty {
                path,
                kind: node.kind.name(),
            });
        }
        Ok(self.nodes.insert(path, node))
    }

    /// Creates `path` and its missing ancestors as directories with the given mode and owner.
    /// Existing directories are left as they are.
    ///
    /// # Errors
    /// When an existing ancestor (or `path` itself) is not a directory.
    pub fn create_dir_all(&mut self, path: &ImagePath, template: &Node) -> Result<(), Error> {
        let mut all = path.ancestors();
        all.push(path.clone());
        for dir in all {
            match self.nodes.get(&dir) {
                Some(node) if node.is_dir() => {}
                Some(node) => {
                    return Err(Error::ParentNotDirectory {
                        path: path.clone(),
                        kind: node.kind.name(),
                        parent: dir,
                    });
                }
                None => {
                    let mut node = template.clone();
                    node.kind = NodeKind::Dir;
                    self.nodes.insert(dir, node);
                }
            }
        }
        Ok(())
    }

    /// Removes `path` and everything below it, returning how many nodes went.
    pub fn remove_all(&mut self, path: &ImagePath) -> usize {
        let below: Vec<ImagePath> = self.descendants(path).map(|(p, _)| p.clone()).collect();
        let mut removed = usize::from(self.nodes.remove(path).is_some());
        for p in below {
            removed += usize::from(self.nodes.remove(&p).is_some());
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImagePath {
        ImagePath::new(s.as_bytes()).unwrap()
    }

    #[track_caller]
    fn invalid(input: &[u8], reason: &str) {
        match ImagePath::new(input) {
            Err(Error::InvalidPath { reason: r, .. }) => assert_eq!(r, reason),
            other => panic!("{input:?}: expected {reason}, got {other:?}"),
        }
    }

    #[test]
    fn paths_are_normalised_and_refuse_escapes() {
        invalid(b"", "empty path");
        invalid(b"/", "empty path");
        invalid(b"/etc", "absolute path");
        invalid(b"a//b", "empty path component");
        invalid(b"./a", "`.` path component");
        invalid(b"a/../b", "`..` path component");
        invalid(b"..", "`..` path component");
        invalid(b"a\0b", "NUL byte in path");
        assert_eq!(p("etc/").as_bytes(), b"etc");
        assert_eq!(p("a/b/c").parent(), Some(p("a/b")));
        assert_eq!(p("a").parent(), None);
        assert_eq!(p("a/b/c").file_name(), b"c");
        assert_eq!(p("a/b/c").ancestors(), vec![p("a"), p("a/b")]);
        assert!(p("a/b").starts_with(&p("a")));
        assert!(!p("ab").starts_with(&p("a")));
        assert_eq!(
            ImagePath::from_absolute("/etc/motd").unwrap(),
            p("etc/motd")
        );
        assert!(ImagePath::from_absolute("etc/motd").is_err());
    }

    #[test]
    fn arbitrary_bytes_survive() {
        let raw = b"usr/share/\xff\xfename";
        let path = ImagePath::new(raw).unwrap();
        assert_eq!(path.as_bytes(), raw);
        assert_eq!(path.display(), "usr/share/\\xff\\xfename");
    }

    #[test]
    fn inserts_need_directory_parents() {
        let mut tree = ImageTree::new();
        assert_eq!(
            tree.insert(p("etc/motd"), Node::file(&b"hi"[..], 0o644)),
            Err(Error::MissingParent {
                path: p("etc/motd"),
                parent: p("etc")
            })
        );
        tree.insert(p("etc"), Node::dir(0o755)).unwrap();
        tree.insert(p("lib64"), Node::symlink("lib")).unwrap();
        tree.insert(p("etc/motd"), Node::file(&b"hi"[..], 0o644))
            .unwrap();
        assert_eq!(tree.read_file("/etc/motd"), Some(&b"hi"[..]));
        let err = tree
            .insert(p("lib64/x"), Node::file(&b""[..], 0o644))
            .unwrap_err();
        assert_eq!(
            err,
            Error::ParentNotDirectory {
                path: p("lib64/x"),
                parent: p("lib64"),
                kind: "symlink"
            }
        );
        let err = tree
            .insert(p("etc"), Node::file(&b""[..], 0o644))
            .unwrap_err();
        assert!(matches!(err, Error::DirectoryNotEmpty { .. }), "{err}");
    }

    #[test]
    fn iteration_puts_directories_before_contents() {
        let mut tree = ImageTree::new();
        tree.create_dir_all(&p("a/b"), &Node::dir(0o755)).unwrap();
        tree.insert(p("a-b"), Node::dir(0o700)).unwrap();
        tree.insert(p("a/b/c"), Node::file(&b"x"[..], 0o600))
            .unwrap();
        let order: Vec<_> = tree.iter().map(|(p, _)| p.display()).collect();
        assert_eq!(order, ["a", "a-b", "a/b", "a/b/c"]);
        let below: Vec<_> = tree
            .descendants(&p("a"))
            .map(|(p, _)| p.display())
            .collect();
        assert_eq!(below, ["a/b", "a/b/c"]);
        assert_eq!(tree.remove_all(&p("a")), 3);
        assert_eq!(tree.len(), 1);
    }
}
