//! The small initramfs that boots a disk: made from the image's own files (busybox and the
//! C library it links), the kernel's modules for storage, device-mapper, dm-verity and the
//! filesystems, and the statically linked basalt that sets up dm-verity.
//!
//! Its `/init` ([`INIT`], a busybox `sh` script) mounts the kernel's filesystems, loads the
//! modules, has `basalt initramfs verity` find the root and hash partitions by the GUIDs
//! derived from the root hash on the command line (`roothash=`) and map them through
//! dm-verity, mounts the verified root read-only, mounts each state volume by label (a blank
//! GPT partition named like the label is first formatted with the image's own `mkfs`),
//! puts tmpfs on the ephemeral paths and hands over to OpenRC with `switch_root`. Its settings
//! are data, in `/etc/basalt/disk.conf` ([`Config::render`]).
//!
//! Invariants: the tree is a pure function of the image, the helper and the settings; every
//! program it holds comes from the image (or is the helper), with the libraries its ELF
//! headers name; every module comes from the image's `/lib/modules/VERSION` with the
//! dependencies `modules.dep` gives, and a reduced `modules.dep` lists exactly those.

use std::collections::{BTreeMap, BTreeSet};

use crate::tree::{self, ImagePath, ImageTree, Node, NodeKind};

/// The init script.
pub const INIT: &str = include_str!("init.sh");

/// Where the settings live inside the initramfs.
pub const CONFIG_PATH: &str = "etc/basalt/disk.conf";

/// Where the helper lives inside the initramfs.
pub const HELPER_PATH: &str = "sbin/basalt";

/// Where the signed manifest and its signature are kept inside the initramfs, to be
/// bind-mounted (read-only) over the empty files of the same paths in the root.
pub const MANIFEST_PATH: &str = "etc/basalt/manifest";
/// See [`MANIFEST_PATH`].
pub const SIGNATURE_PATH: &str = "etc/basalt/manifest.minisig";

/// busybox applets the init script runs.
pub const APPLETS: &[&str] = &[
    "cat",
    "chroot",
    "cp",
    "findfs",
    "mkdir",
    "modprobe",
    "mount",
    "sh",
    "sleep",
    "switch_root",
    "umount",
];

/// Storage drivers loaded when the kernel has them as modules (virtual machines and common
/// servers): a missing one is skipped.
pub const STORAGE_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "ahci",
    "ata_piix",
    "nvme",
    "xen_blkfront",
    "hv_storvsc",
];

/// Modules the disk cannot boot without (unless built into the kernel).
pub const REQUIRED_MODULES: &[&str] = &["dm_mod", "dm_verity", "squashfs"];

/// What happens when dm-verity finds the root changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerityMode {
    /// Every block is read and checked before the root is mounted; a mismatch stops the boot
    /// with a message on the console. Later reads of a changed block fail (I/O error).
    Enforce,
    /// Every block is read and checked; a mismatch is logged on the console and in
    /// `/run/basalt/verity-failed`, and the boot goes on (the kernel logs and returns
    /// changed blocks).
    Warn,
    /// No check at boot; reads of a changed block fail (I/O error), as the kernel does.
    Lazy,
}

impl VerityMode {
    /// The word the init script and the helper take.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            VerityMode::Enforce => "enforce",
            VerityMode::Warn => "warn",
            VerityMode::Lazy => "lazy",
        }
    }

    /// Parses [`VerityMode::as_str`]'s words.
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "enforce" => Some(VerityMode::Enforce),
            "warn" => Some(VerityMode::Warn),
            "lazy" => Some(VerityMode::Lazy),
            _ => None,
        }
    }
}

/// A state volume to mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMount {
    /// Mount point (absolute).
    pub path: String,
    /// `LABEL=…`, `UUID=…` or `/dev/…`.
    pub device: String,
    /// Filesystem type.
    pub fstype: String,
    /// Mount options.
    pub options: String,
}

/// An ephemeral path, with the mode and owner of its directory in the image (which its tmpfs
/// takes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EphemeralMount {
    /// Mount point (absolute).
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// The initramfs's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// What a verity mismatch does.
    pub mode: VerityMode,
    /// Modules to load, in order (dependencies are loaded by `modprobe`); a failure is said
    /// on the console. [`build`] sets this to the storage, device-mapper and filesystem
    /// modules the kernel has.
    pub modules: Vec<String>,
    /// Modules loaded quietly when the kernel has them: given, the profile's own (a storage
    /// driver the defaults lack); after [`build`], also the optional defaults.
    pub optional_modules: Vec<String>,
    /// State volumes, by path.
    pub state: Vec<StateMount>,
    /// Ephemeral paths, by path.
    pub ephemeral: Vec<EphemeralMount>,
    /// Mutable files: each gets a writable copy (in `/run`) bound over it, so that it can
    /// change on the read-only root (`/etc/resolv.conf` under DHCP); the copy starts as the
    /// image's file at every boot.
    pub mutable: Vec<String>,
    /// Whether the initramfs carries the signed manifest.
    pub manifest: bool,
}

impl Config {
    /// `/etc/basalt/disk.conf`: one setting a line, `KIND VALUES...`, read by the init script.
    #[must_use]
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from("# Settings of basalt's disk initramfs; read by /init.\n");
        let _ = writeln!(out, "mode {}", self.mode.as_str());
        for module in &self.modules {
            let _ = writeln!(out, "module {module}");
        }
        for module in &self.optional_modules {
            let _ = writeln!(out, "try-module {module}");
        }
        for e in &self.ephemeral {
            let _ = writeln!(
                out,
                "ephemeral {} {:04o} {} {}",
                e.path, e.mode, e.uid, e.gid
            );
        }
        for s in &self.state {
            let _ = writeln!(
                out,
                "state {} {} {} {}",
                s.path, s.device, s.fstype, s.options
            );
        }
        for path in &self.mutable {
            let _ = writeln!(out, "mutable {path}");
        }
        if self.manifest {
            let _ = writeln!(out, "manifest /{MANIFEST_PATH} /{SIGNATURE_PATH}");
        }
        out
    }
}

/// Errors from making the initramfs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image lacks a file the initramfs needs.
    #[error("the disk's initramfs needs `{path}` from the image, which {reason}")]
    Missing {
        /// The path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The image has no kernel modules, or more than one kernel's.
    #[error(
        "{0}\n\nhint: a disk needs the kernel's modules in the image (`[boot] kernel`, or `--kernel-modules`)"
    )]
    Kernel(String),
    /// A module the disk needs is neither a module nor built in.
    #[error(
        "kernel {version} has no `{module}` (neither in modules.dep nor in modules.builtin): a disk needs it to boot"
    )]
    Module {
        /// The kernel version.
        version: String,
        /// The module.
        module: String,
    },
    /// A setting cannot be written on one line.
    #[error(
        "`{0}` cannot be written into the initramfs settings (whitespace or control characters)"
    )]
    Setting(String),
    /// A path could not be placed.
    #[error("cannot place `{path}` in the initramfs")]
    Tree {
        /// The path.
        path: String,
        /// The tree's reason.
        #[source]
        source: tree::Error,
    },
}

/// What went into the initramfs, for the build report.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Contents {
    /// The kernel version whose modules were taken.
    pub kernel_version: String,
    /// Module files, relative to `/lib/modules/VERSION`.
    pub modules: Vec<String>,
    /// Programs and libraries taken from the image.
    pub programs: Vec<String>,
    /// Modules asked for that the kernel has built in.
    pub builtin: Vec<String>,
    /// Optional modules the kernel does not have.
    pub absent: Vec<String>,
}

/// The kernel version of the image's modules: the one directory under `/lib/modules`.
///
/// # Errors
/// [`Error::Kernel`] when there is none or more than one.
pub fn kernel_version(image: &ImageTree) -> Result<String, Error> {
    let dir = ImagePath::new(b"lib/modules").expect("a valid path");
    let versions: Vec<String> = image
        .descendants(&dir)
        .filter(|(p, n)| n.is_dir() && p.parent().as_ref() == Some(&dir))
        .map(|(p, _)| tree::escape(p.file_name()))
        .collect();
    match versions.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::Kernel(
            "the image has no kernel modules (/lib/modules/VERSION)".to_owned(),
        )),
        many => Err(Error::Kernel(format!(
            "the image has the modules of several kernels ({}); a disk boots one",
            many.join(", ")
        ))),
    }
}

/// Builds the initramfs tree for booting the disk of `image`.
///
/// `config.modules` are more modules the disk needs (an error when the kernel has neither
/// them nor their built-in form), `config.optional_modules` the profile's own (loaded when
/// the kernel has them), both after the storage, device-mapper and filesystem ones; `helper` is the statically linked basalt; `manifest` the signed
/// manifest and its signature, when the image verifies itself at boot.
///
/// # Errors
/// When the image lacks busybox, a library, or the kernel's modules (or a required one), or
/// a setting cannot be written.
pub fn build(
    image: &ImageTree,
    config: &Config,
    helper: &[u8],
    manifest: Option<(&[u8], &[u8])>,
) -> Result<(ImageTree, Contents), Error> {
    for value in config
        .modules
        .iter()
        .chain(
            config
                .state
                .iter()
                .flat_map(|s| [&s.path, &s.device, &s.fstype, &s.options]),
        )
        .chain(config.ephemeral.iter().map(|e| &e.path))
        .chain(&config.mutable)
    {
        if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::Setting(value.clone()));
        }
    }
    let mut out = Initramfs::default();
    for dir in [
        "bin",
        "dev",
        "etc",
        "etc/basalt",
        "lib",
        "newroot",
        "proc",
        "run",
        "sbin",
        "sys",
        "tmp",
    ] {
        out.dir(dir, 0o755)?;
    }
    out.dir("root", 0o700)?;
    // The kernel opens /dev/console for init before anything is mounted.
    out.put(
        "dev/console",
        Node::new(NodeKind::CharDevice { major: 5, minor: 1 }, 0o600),
    )?;
    out.put(
        "dev/null",
        Node::new(NodeKind::CharDevice { major: 1, minor: 3 }, 0o666),
    )?;
    out.put("init", Node::file(INIT.as_bytes(), 0o755))?;
    out.put(HELPER_PATH, Node::file(helper, 0o755))?;

    let mut contents = Contents::default();
    // busybox and what it links, then its applets.
    let busybox = out.copy_program(image, "bin/busybox", &mut contents)?;
    for applet in APPLETS {
        let link = if *applet == "modprobe" {
            // The kernel runs /sbin/modprobe for modules it needs itself (crc32c for ext4).
            "sbin/modprobe".to_owned()
        } else {
            format!("bin/{applet}")
        };
        out.put(&link, Node::symlink(format!("/{busybox}")))?;
    }

    // Modules.
    let version = kernel_version(image)?;
    let modules_dir = format!("lib/modules/{version}");
    let dep_text = image
        .read_file(&format!("/{modules_dir}/modules.dep"))
        .ok_or_else(|| Error::Missing {
            path: format!("/{modules_dir}/modules.dep"),
            reason: "is missing (run depmod when the modules are added)".to_owned(),
        })?;
    let deps = parse_modules_dep(dep_text);
    let builtin: BTreeSet<String> = image
        .read_file(&format!("/{modules_dir}/modules.builtin"))
        .map(|text| {
            String::from_utf8_lossy(text)
                .lines()
                .map(module_name)
                .collect()
        })
        .unwrap_or_default();
    let mut wanted: Vec<(String, bool)> = Vec::new();
    for name in STORAGE_MODULES {
        wanted.push(((*name).to_owned(), false));
    }
    for name in REQUIRED_MODULES {
        wanted.push(((*name).to_owned(), true));
    }
    for s in &config.state {
        if s.fstype == "ext4" {
            // ext4 asks the crypto API for crc32c; loaded first, it needs no alias lookup.
            wanted.push(("crc32c_generic".to_owned(), false));
            wanted.push(("crc32c_intel".to_owned(), false));
        }
        wanted.push((s.fstype.replace('-', "_"), true));
    }
    for name in &config.modules {
        wanted.push((name.replace('-', "_"), true));
    }
    // The profile's own modules: loaded early too when the kernel has them (a storage
    // driver the defaults lack); the image's own boot loads them again in any case.
    for name in &config.optional_modules {
        wanted.push((name.replace('-', "_"), false));
    }
    let mut files: BTreeSet<String> = BTreeSet::new();
    for (name, required) in &wanted {
        match deps.get(name) {
            Some((file, needs)) => {
                files.insert(file.clone());
                files.extend(needs.iter().cloned());
            }
            None if builtin.contains(name) => contents.builtin.push(name.clone()),
            None if *required => {
                return Err(Error::Module {
                    version,
                    module: name.clone(),
                });
            }
            None => contents.absent.push(name.clone()),
        }
    }
    out.dir("lib/modules", 0o755)?;
    out.dir(&modules_dir, 0o755)?;
    let mut reduced = String::new();
    for file in &files {
        let from = format!("/{modules_dir}/{file}");
        let bytes = image.read_file(&from).ok_or_else(|| Error::Missing {
            path: from.clone(),
            reason: "modules.dep lists but the image lacks".to_owned(),
        })?;
        out.put_with_parents(&format!("{modules_dir}/{file}"), Node::file(bytes, 0o644))?;
        let needs = deps
            .values()
            .find(|(f, _)| f == file)
            .map(|(_, n)| n.join(" "))
            .unwrap_or_default();
        reduced.push_str(format!("{file}: {needs}").trim_end());
        reduced.push('\n');
    }
    out.put(
        &format!("{modules_dir}/modules.dep"),
        Node::file(reduced.into_bytes(), 0o644),
    )?;
    // The aliases of the modules taken, for what the kernel asks modprobe for by alias.
    if let Some(aliases) = image.read_file(&format!("/{modules_dir}/modules.alias")) {
        let taken: BTreeSet<String> = files.iter().map(|f| module_name(f)).collect();
        let kept: String = String::from_utf8_lossy(aliases)
            .lines()
            .filter(|line| {
                let mut words = line.split_whitespace();
                words.next() == Some("alias")
                    && words
                        .nth(1)
                        .is_some_and(|m| taken.contains(&m.replace('-', "_")))
            })
            .map(|line| format!("{line}\n"))
            .collect();
        out.put(
            &format!("{modules_dir}/modules.alias"),
            Node::file(kept.into_bytes(), 0o644),
        )?;
    }
    contents.kernel_version = version;
    contents.modules = files.into_iter().collect();

    let mut config = config.clone();
    config.modules = Vec::new();
    config.optional_modules = Vec::new();
    for (name, required) in &wanted {
        if !deps.contains_key(name)
            || config.modules.contains(name)
            || config.optional_modules.contains(name)
        {
            continue;
        }
        if *required {
            config.modules.push(name.clone());
        } else {
            config.optional_modules.push(name.clone());
        }
    }
    config.manifest = manifest.is_some();
    if let Some((text, signature)) = manifest {
        out.put(MANIFEST_PATH, Node::file(text, 0o644))?;
        out.put(SIGNATURE_PATH, Node::file(signature, 0o644))?;
    }
    out.put(CONFIG_PATH, Node::file(config.render().into_bytes(), 0o644))?;
    contents.programs.sort();
    contents.programs.dedup();
    Ok((out.tree, contents))
}

/// `modules.dep`: module name → (its file, the files it needs), paths relative to the
/// modules directory.
#[must_use]
pub fn parse_modules_dep(text: &[u8]) -> BTreeMap<String, (String, Vec<String>)> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|line| {
            let (file, needs) = line.split_once(':')?;
            let file = file.trim();
            if file.is_empty() || file.starts_with('/') || file.split('/').any(|c| c == "..") {
                return None;
            }
            let needs = needs
                .split_whitespace()
                .filter(|n| !n.starts_with('/') && !n.split('/').any(|c| c == ".."))
                .map(str::to_owned)
                .collect();
            Some((module_name(file), (file.to_owned(), needs)))
        })
        .collect()
}

/// A module's name from its file (`kernel/drivers/md/dm-verity.ko.xz` → `dm_verity`).
#[must_use]
pub fn module_name(file: &str) -> String {
    let base = file.rsplit('/').next().unwrap_or(file);
    let stem = base.split(".ko").next().unwrap_or(base);
    stem.replace('-', "_")
}

#[derive(Default)]
struct Initramfs {
    tree: ImageTree,
}

impl Initramfs {
    fn path(path: &str) -> Result<ImagePath, Error> {
        ImagePath::new(path.as_bytes()).map_err(|source| Error::Tree {
            path: path.to_owned(),
            source,
        })
    }

    fn put(&mut self, path: &str, node: Node) -> Result<(), Error> {
        let p = Self::path(path)?;
        self.tree.insert(p, node).map_err(|source| Error::Tree {
            path: path.to_owned(),
            source,
        })?;
        Ok(())
    }

    fn put_with_parents(&mut self, path: &str, node: Node) -> Result<(), Error> {
        let p = Self::path(path)?;
        if let Some(parent) = p.parent() {
            self.tree
                .create_dir_all(&parent, &Node::dir(0o755))
                .map_err(|source| Error::Tree {
                    path: path.to_owned(),
                    source,
                })?;
        }
        self.put(path, node)
    }

    fn dir(&mut self, path: &str, mode: u32) -> Result<(), Error> {
        let p = Self::path(path)?;
        if self.tree.get(&p).is_some_and(Node::is_dir) {
            return Ok(());
        }
        self.put_with_parents(path, Node::dir(mode))
    }

    /// Copies a program of the image (following symlinks inside the image) with its program
    /// interpreter and the libraries it needs, recursively; returns the path it was copied to.
    fn copy_program(
        &mut self,
        image: &ImageTree,
        path: &str,
        contents: &mut Contents,
    ) -> Result<String, Error> {
        let mut queue = vec![path.to_owned()];
        let mut done = BTreeSet::new();
        let mut first = None;
        while let Some(wanted) = queue.pop() {
            if !done.insert(wanted.clone()) {
                continue;
            }
            let (real, node, links) = resolve(image, &wanted)?;
            for (link, target) in links {
                self.put_with_parents(&link, Node::symlink(target))?;
            }
            let bytes = match &node.kind {
                NodeKind::File(content) => content.bytes().to_vec(),
                _ => unreachable!("resolve returns regular files"),
            };
            first.get_or_insert_with(|| real.clone());
            contents.programs.push(format!("/{real}"));
            let (interp, needed) = elf_needs(&bytes).map_err(|reason| Error::Missing {
                path: format!("/{real}"),
                reason,
            })?;
            self.put_with_parents(&real, Node::file(bytes, node.mode & 0o755))?;
            if let Some(interp) = interp {
                queue.push(interp.trim_start_matches('/').to_owned());
            }
            for lib in needed {
                let found = ["lib", "usr/lib"]
                    .iter()
                    .map(|dir| format!("{dir}/{lib}"))
                    .find(|candidate| resolve(image, candidate).is_ok())
                    .ok_or_else(|| Error::Missing {
                        path: lib.clone(),
                        reason: format!("`/{real}` needs but is not in /lib or /usr/lib"),
                    })?;
                queue.push(found);
            }
        }
        Ok(first.unwrap_or_else(|| path.to_owned()))
    }
}

/// A regular file reached through symlinks: its path, its node and the links met on the
/// way (path, target).
type Resolved<'a> = (String, &'a Node, Vec<(String, Vec<u8>)>);

/// Follows symlinks inside the image from `path` to a regular file.
fn resolve<'a>(image: &'a ImageTree, path: &str) -> Result<Resolved<'a>, Error> {
    let missing = |reason: &str| Error::Missing {
        path: format!("/{path}"),
        reason: reason.to_owned(),
    };
    let mut current = path.to_owned();
    let mut links = Vec::new();
    for _ in 0..16 {
        let p = ImagePath::new(current.as_bytes()).map_err(|_| missing("is not a valid path"))?;
        let node = image
            .get(&p)
            .ok_or_else(|| missing("is not in the image"))?;
        match &node.kind {
            NodeKind::File(_) => return Ok((current, node, links)),
            NodeKind::Hardlink(_) => {
                let file = image
                    .file_node(&p)
                    .ok_or_else(|| missing("is a dangling hard link"))?;
                return Ok((current, file, links));
            }
            NodeKind::Symlink(target) => {
                links.push((current.clone(), target.clone()));
                let target = String::from_utf8_lossy(target).into_owned();
                current = if let Some(absolute) = target.strip_prefix('/') {
                    absolute.to_owned()
                } else {
                    let parent = p.parent().map(|d| d.display()).unwrap_or_default();
                    normalise(&format!("{parent}/{target}"))
                };
            }
            other => return Err(missing(&format!("is a {}", other.name()))),
        }
    }
    Err(missing("has too many levels of symbolic links"))
}

fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The program interpreter and the `DT_NEEDED` libraries of an ELF file; neither for a
/// statically linked one or a script.
fn elf_needs(bytes: &[u8]) -> Result<(Option<String>, Vec<String>), String> {
    use object::read::elf::{
        Dyn as _, ElfFile64, FileHeader as _, ProgramHeader as _, SectionHeader as _,
    };
    if !bytes.starts_with(b"\x7fELF") {
        return Err("is not an ELF program".to_owned());
    }
    let file = ElfFile64::<object::Endianness>::parse(bytes)
        .map_err(|e| format!("is not a 64-bit ELF file this build can read: {e}"))?;
    let endian = file.endian();
    let header = file.elf_header();
    let programs = header
        .program_headers(endian, bytes)
        .map_err(|e| format!("has unreadable program headers: {e}"))?;
    let mut interp = None;
    for ph in programs {
        if let Some(name) = ph
            .interpreter(endian, bytes)
            .map_err(|e| format!("has an unreadable interpreter: {e}"))?
        {
            interp = Some(String::from_utf8_lossy(name).into_owned());
        }
    }
    let sections = header
        .sections(endian, bytes)
        .map_err(|e| format!("has unreadable sections: {e}"))?;
    let mut needed = Vec::new();
    for section in sections.iter() {
        let Some((entries, link)) = section
            .dynamic(endian, bytes)
            .map_err(|e| format!("has an unreadable dynamic section: {e}"))?
        else {
            continue;
        };
        let strings = sections
            .strings(endian, bytes, link)
            .map_err(|e| format!("has unreadable dynamic strings: {e}"))?;
        for entry in entries {
            if entry.tag(endian) == object::elf::DT_NEEDED {
                let name = entry
                    .string(endian, strings)
                    .map_err(|e| format!("names an unreadable library: {e}"))?;
                needed.push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    Ok((interp, needed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_and_dependencies() {
        assert_eq!(module_name("kernel/drivers/md/dm-verity.ko"), "dm_verity");
        assert_eq!(module_name("kernel/fs/ext4/ext4.ko.zst"), "ext4");
        let deps = parse_modules_dep(
            b"kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko\n\
              kernel/fs/jbd2/jbd2.ko:\n\
              /abs/evil.ko: x\n\
              ../evil.ko:\n\
              kernel/x.ko: ../../etc/shadow kernel/ok.ko\n",
        );
        assert_eq!(
            deps["ext4"],
            (
                "kernel/fs/ext4/ext4.ko".to_owned(),
                vec![
                    "kernel/fs/jbd2/jbd2.ko".to_owned(),
                    "kernel/fs/mbcache.ko".to_owned()
                ]
            )
        );
        assert!(deps["jbd2"].1.is_empty());
        assert!(!deps.contains_key("evil"));
        assert_eq!(deps["x"].1, vec!["kernel/ok.ko".to_owned()]);
    }

    #[test]
    fn settings_render_one_per_line() {
        let config = Config {
            mode: VerityMode::Enforce,
            modules: vec!["virtio_blk".into(), "dm_verity".into()],
            optional_modules: vec!["nvme".into()],
            state: vec![StateMount {
                path: "/var/lib".into(),
                device: "LABEL=state".into(),
                fstype: "ext4".into(),
                options: "defaults,nodev".into(),
            }],
            ephemeral: vec![EphemeralMount {
                path: "/tmp".into(),
                mode: 0o1777,
                uid: 0,
                gid: 0,
            }],
            mutable: vec!["/etc/resolv.conf".into()],
            manifest: true,
        };
        assert_eq!(
            config.render(),
            "# Settings of basalt's disk initramfs; read by /init.\n\
             mode enforce\nmodule virtio_blk\nmodule dm_verity\ntry-module nvme\n\
             ephemeral /tmp 1777 0 0\n\
             state /var/lib LABEL=state ext4 defaults,nodev\n\
             mutable /etc/resolv.conf\n\
             manifest /etc/basalt/manifest /etc/basalt/manifest.minisig\n"
        );
        assert_eq!(VerityMode::parse("warn"), Some(VerityMode::Warn));
        assert_eq!(VerityMode::parse("off"), None);
    }

    #[test]
    fn symlinks_resolve_inside_the_image() {
        let mut image = ImageTree::new();
        let p = |s: &str| ImagePath::new(s.as_bytes()).unwrap();
        image.insert(p("lib"), Node::dir(0o755)).unwrap();
        image
            .insert(
                p("lib/ld-musl-x86_64.so.1"),
                Node::file(&b"\x7fELF"[..], 0o755),
            )
            .unwrap();
        image
            .insert(
                p("lib/libc.musl-x86_64.so.1"),
                Node::symlink("ld-musl-x86_64.so.1"),
            )
            .unwrap();
        image.insert(p("usr"), Node::dir(0o755)).unwrap();
        image.insert(p("usr/lib"), Node::dir(0o755)).unwrap();
        image
            .insert(
                p("usr/lib/libc.so"),
                Node::symlink("../../lib/libc.musl-x86_64.so.1"),
            )
            .unwrap();
        image.insert(p("loop"), Node::symlink("/loop")).unwrap();
        let (real, _, links) = resolve(&image, "usr/lib/libc.so").unwrap();
        assert_eq!(real, "lib/ld-musl-x86_64.so.1");
        assert_eq!(links.len(), 2);
        let err = resolve(&image, "loop").unwrap_err();
        assert!(err.to_string().contains("too many levels"), "{err}");
        assert!(resolve(&image, "lib").is_err());
    }

    #[test]
    fn elf_headers_name_interpreter_and_libraries() {
        // This test's own executable is a dynamically linked ELF program.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let (interp, needed) = elf_needs(&me).unwrap();
        assert!(interp.unwrap().contains("ld-linux"));
        assert!(
            needed.iter().any(|n| n.starts_with("libc.so")),
            "{needed:?}"
        );
        assert!(elf_needs(b"#!/bin/sh\n").is_err());
    }
}
