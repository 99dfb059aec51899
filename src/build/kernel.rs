//! The kernel an image boots: its version, its image (`vmlinuz`), and the modules the host
//! needs, with the `modules.dep` and `modules.alias` that busybox's `modprobe` reads.
//!
//! A kernel comes from an Alpine kernel package (`[boot] kernel = "linux-virt"`: its
//! `/boot/vmlinuz-*` and `/lib/modules/VERSION` are already in the image) or from files built
//! elsewhere (`basalt build --kernel VMLINUZ --kernel-modules DIR`): then only the modules a
//! host needs ([`HOST_MODULES`], the profile's own, and everything they depend on, read from
//! each module's `.modinfo`) enter the image.
//!
//! Invariants: modules are untrusted input: a module that is not an ELF file with a
//! `.modinfo` section is an error naming it, never a panic; sizes are bounded; the output
//! (paths, `modules.dep`, `modules.alias`) is sorted and a pure function of the inputs.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;

use sha2::{Digest as _, Sha256};

/// Modules a host needs when present in the kernel (virtual and common server hardware,
/// the file systems of root, state and boot volumes, loop and device-mapper). Names missing
/// from a kernel (built in, or not configured) are skipped.
pub const HOST_MODULES: &[&str] = &[
    // buses and virtual devices
    "virtio_pci",
    "virtio_mmio",
    "virtio_blk",
    "virtio_scsi",
    "virtio_net",
    "virtio_console",
    "virtio_rng",
    "virtio_balloon",
    // disks and NICs of real servers
    "sd_mod",
    "ahci",
    "ata_piix",
    "nvme",
    "e1000",
    "e1000e",
    "igb",
    "ixgbe",
    // file systems and their checksums
    "ext4",
    "crc32c_generic",
    "crc32c_intel",
    "vfat",
    "nls_cp437",
    "nls_iso8859_1",
    "nls_utf8",
    "squashfs",
    "erofs",
    "overlay",
    "isofs",
    // block stacking
    "loop",
    "dm_mod",
    "dm_verity",
    // networking a host uses
    "af_packet",
    "ipv6",
    "tun",
];

/// Largest kernel image read.
pub const MAX_KERNEL_BYTES: u64 = 256 * 1024 * 1024;

/// Largest single module read.
pub const MAX_MODULE_BYTES: u64 = 64 * 1024 * 1024;

/// Why a kernel cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel image is not a Linux boot image (bzImage) whose version can be read.
    #[error("`{file}` is not a Linux x86 boot image (bzImage): {reason}")]
    NotKernel {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A module could not be read.
    #[error("module `{path}`: {reason}")]
    Module {
        /// The module's path under `/lib/modules/VERSION`.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A module the profile asks for is not in the kernel.
    #[error(
        "module `{name}` is neither a module of kernel {version} nor built into it{}",
        hint.as_ref().map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default()
    )]
    UnknownModule {
        /// The module name.
        name: String,
        /// The kernel version.
        version: String,
        /// A close name, when there is one.
        hint: Option<String>,
    },
    /// The modules directory and the kernel image disagree on the version.
    #[error("the modules are for kernel `{modules}` but the kernel image is version `{image}`")]
    VersionMismatch {
        /// The version the kernel image names.
        image: String,
        /// The version of the modules directory.
        modules: String,
    },
    /// An image holds no kernel, or more than one.
    #[error("{0}")]
    Ambiguous(String),
}

/// What `.modinfo` says about a module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleInfo {
    /// The module's name (from `name=`, else the file name), `-` written as `_`.
    pub name: String,
    /// Modules it needs loaded first (`depends=`).
    pub depends: Vec<String>,
    /// Modules it may use, loaded before it by modprobe (`softdep=pre:`), by name or alias.
    pub softdeps: Vec<String>,
    /// Device and feature aliases (`alias=`).
    pub aliases: Vec<String>,
    /// `vermagic=`: the kernel version it was built for, first word.
    pub vermagic: Option<String>,
}

/// A module's name from its file name: `kernel/fs/ext4/ext4.ko` → `ext4`,
/// `dm-verity.ko.gz` → `dm_verity`.
#[must_use]
pub fn module_name(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    let stem = file
        .strip_suffix(".ko")
        .or_else(|| file.strip_suffix(".ko.gz"))
        .or_else(|| file.strip_suffix(".ko.xz"))
        .or_else(|| file.strip_suffix(".ko.zst"))?;
    (!stem.is_empty()).then(|| stem.replace('-', "_"))
}

/// The ELF bytes of a module file: `.ko` as it is, `.ko.gz` inflated (bounded).
///
/// # Errors
/// [`Error::Module`] for another compression, or a broken gzip stream.
pub fn module_elf<'a>(path: &str, bytes: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, Error> {
    let err = |reason: String| Error::Module {
        path: path.to_owned(),
        reason,
    };
    if path.ends_with(".ko") {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    if path.ends_with(".ko.gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_MODULE_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| err(format!("cannot inflate: {e}")))?;
        if out.len() as u64 > MAX_MODULE_BYTES {
            return Err(err(format!(
                "larger than {MAX_MODULE_BYTES} bytes inflated"
            )));
        }
        return Ok(std::borrow::Cow::Owned(out));
    }
    Err(err(
        "only uncompressed (.ko) and gzip (.ko.gz) modules are read; unpack others first"
            .to_owned(),
    ))
}

/// Reads the `.modinfo` section of a module (an ELF relocatable object).
///
/// # Errors
/// [`Error::Module`] when the bytes are not ELF or have no `.modinfo`.
pub fn modinfo(path: &str, bytes: &[u8]) -> Result<ModuleInfo, Error> {
    use object::read::{Object as _, ObjectSection as _};
    let err = |reason: String| Error::Module {
        path: path.to_owned(),
        reason,
    };
    let elf = module_elf(path, bytes)?;
    let file = object::File::parse(&*elf).map_err(|e| err(format!("not an ELF object: {e}")))?;
    let section = file
        .section_by_name(".modinfo")
        .ok_or_else(|| err("no .modinfo section".to_owned()))?;
    let data = section
        .data()
        .map_err(|e| err(format!("cannot read .modinfo: {e}")))?;
    let mut info = ModuleInfo {
        name: module_name(path).unwrap_or_default(),
        ..ModuleInfo::default()
    };
    for field in data.split(|&b| b == 0) {
        let Ok(text) = std::str::from_utf8(field) else {
            continue;
        };
        let Some((key, value)) = text.split_once('=') else {
            continue;
        };
        match key {
            "name" if !value.is_empty() => info.name = value.replace('-', "_"),
            "depends" => info.depends.extend(
                value
                    .split(',')
                    .filter(|d| !d.is_empty())
                    .map(|d| d.replace('-', "_")),
            ),
            "softdep" => {
                // `pre: a b post: c`: only what is loaded before matters here.
                let mut pre = false;
                for word in value.split_whitespace() {
                    match word {
                        "pre:" => pre = true,
                        "post:" => pre = false,
                        name if pre => info.softdeps.push(name.replace('-', "_")),
                        _ => {}
                    }
                }
            }
            "alias" if !value.is_empty() => info.aliases.push(value.to_owned()),
            "vermagic" => info.vermagic = value.split_whitespace().next().map(str::to_owned),
            _ => {}
        }
    }
    info.depends.sort();
    info.depends.dedup();
    Ok(info)
}

/// The version a Linux x86 boot image names (`6.1.0-18-amd64`): the string its setup header
/// points to (`kernel_version`, boot protocol 2.00+).
///
/// # Errors
/// [`Error::NotKernel`] when the header is absent or the string cannot be read.
pub fn bzimage_version(file: &str, bytes: &[u8]) -> Result<String, Error> {
    let err = |reason: &str| Error::NotKernel {
        file: file.to_owned(),
        reason: reason.to_owned(),
    };
    if bytes.get(0x202..0x206) != Some(b"HdrS") {
        return Err(err("no `HdrS` setup header at 0x202"));
    }
    let protocol = bytes
        .get(0x206..0x208)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
    if protocol < 0x0200 {
        return Err(err("boot protocol older than 2.00"));
    }
    let pointer = bytes
        .get(0x20e..0x210)
        .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
        .filter(|p| *p != 0)
        .ok_or_else(|| err("no kernel_version pointer"))?;
    let start = pointer + 0x200;
    let text = bytes
        .get(start..bytes.len().min(start + 256))
        .ok_or_else(|| err("the kernel_version pointer is past the end"))?;
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    let version = std::str::from_utf8(&text[..end])
        .ok()
        .and_then(|s| s.split_whitespace().next())
        .filter(|v| {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._+-~".contains(c))
        })
        .ok_or_else(|| err("the kernel_version string is not a version"))?;
    Ok(version.to_owned())
}

/// Every module of one kernel: path under `/lib/modules/VERSION` → what its `.modinfo` says.
#[derive(Debug, Clone, Default)]
pub struct ModuleSet {
    /// By path (`kernel/fs/ext4/ext4.ko`).
    pub modules: BTreeMap<String, ModuleInfo>,
    /// Module names built into the kernel (`modules.builtin`).
    pub builtin: BTreeSet<String>,
}

impl ModuleSet {
    /// The path of the module called `name` (or `-` for `_`).
    #[must_use]
    pub fn path_of(&self, name: &str) -> Option<&str> {
        let name = name.replace('-', "_");
        self.modules
            .iter()
            .find(|(_, m)| m.name == name)
            .map(|(p, _)| p.as_str())
    }

    /// The modules a name stands for: the module of that name, else every module with that
    /// exact alias (`crc32c` → `crc32c_generic`, `crc32c_intel`).
    fn resolve(&self, name: &str) -> Vec<&str> {
        if let Some(path) = self.path_of(name) {
            return vec![path];
        }
        self.modules
            .iter()
            .filter(|(_, m)| m.aliases.iter().any(|a| a == name))
            .map(|(p, _)| p.as_str())
            .collect()
    }

    fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&name.replace('-', "_"))
    }

    /// The paths of `required` (each must exist, as a module or built in), of the `optional`
    /// names that exist, and of everything they depend on (`depends=` and `softdep` pre),
    /// sorted.
    ///
    /// # Errors
    /// [`Error::UnknownModule`] for a required name the kernel does not have.
    pub fn closure(
        &self,
        version: &str,
        required: &[String],
        optional: &[&str],
    ) -> Result<BTreeSet<String>, Error> {
        let mut todo: Vec<&str> = Vec::new();
        for name in required {
            let found = self.resolve(name);
            if found.is_empty() && !self.is_builtin(name) {
                let names: Vec<&str> = self.modules.values().map(|m| m.name.as_str()).collect();
                return Err(Error::UnknownModule {
                    name: name.clone(),
                    version: version.to_owned(),
                    hint: closest(name, &names).map(str::to_owned),
                });
            }
            todo.extend(found);
        }
        for name in optional {
            todo.extend(self.resolve(name));
        }
        let mut selected = BTreeSet::new();
        while let Some(path) = todo.pop() {
            if !selected.insert(path.to_owned()) {
                continue;
            }
            let info = &self.modules[path];
            for dep in info.depends.iter().chain(&info.softdeps) {
                todo.extend(self.resolve(dep));
            }
        }
        Ok(selected)
    }

    /// `modules.dep` for the `selected` modules, as depmod writes it and busybox's `modprobe`
    /// reads it: `PATH: DEP...`, every dependency (transitively) listed so that, read from the
    /// end, each comes after what it needs (modprobe loads the list backwards).
    #[must_use]
    pub fn modules_dep(&self, selected: &BTreeSet<String>) -> String {
        let mut out = String::new();
        for path in selected {
            let mut order: Vec<&str> = Vec::new();
            let mut seen = BTreeSet::new();
            self.load_order(path, selected, &mut seen, &mut order);
            order.pop(); // the module itself comes last in load order
            order.reverse();
            out.push_str(path);
            out.push(':');
            for dep in order {
                out.push(' ');
                out.push_str(dep);
            }
            out.push('\n');
        }
        out
    }

    /// Depth-first: what `path` needs, then `path` (the order modules must be loaded in).
    fn load_order<'a>(
        &'a self,
        path: &'a str,
        selected: &BTreeSet<String>,
        seen: &mut BTreeSet<&'a str>,
        order: &mut Vec<&'a str>,
    ) {
        if !seen.insert(path) {
            return;
        }
        if let Some(info) = self.modules.get(path) {
            for dep in &info.depends {
                for dep_path in self.resolve(dep) {
                    if selected.contains(dep_path) {
                        self.load_order(dep_path, selected, seen, order);
                    }
                }
            }
        }
        order.push(path);
    }

    /// `modules.alias` for the `selected` modules: `alias PATTERN NAME`, as depmod writes it;
    /// busybox's `modprobe` reads it for device aliases (`hwdrivers`) and the kernel's
    /// requests (`fs-ext4`, `crypto-crc32c`).
    #[must_use]
    pub fn modules_alias(&self, selected: &BTreeSet<String>) -> String {
        let mut lines = BTreeSet::new();
        for path in selected {
            if let Some(info) = self.modules.get(path) {
                for alias in &info.aliases {
                    lines.insert(format!("alias {alias} {}\n", info.name));
                }
            }
        }
        lines.into_iter().collect()
    }
}

/// The module names of a `modules.builtin` file (`kernel/fs/ext4/ext4.ko` per line).
#[must_use]
pub fn parse_builtin(text: &str) -> BTreeSet<String> {
    text.lines().filter_map(module_name).collect()
}

/// Levenshtein-close name, for hints.
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1; b.len() + 1];
            for (j, cb) in b.iter().enumerate() {
                cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1);
            }
            prev = cur;
        }
        prev[b.len()]
    };
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Where a kernel came from, as the report, the SBOM and the manifest name it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// An Alpine package of the image.
    Package {
        /// Package name.
        name: String,
        /// Package version.
        version: String,
    },
    /// Files given to the build (`--kernel`, `--kernel-modules`).
    Files {
        /// The kernel image's file name (no directory: the build's location never shows).
        image_file: String,
    },
}

/// One file the kernel brought into the image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KernelFile {
    /// Absolute path in the image.
    pub path: String,
    /// Hex SHA-256.
    pub sha256: String,
}

/// The kernel of an image, as the report and the SBOM list it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KernelRecord {
    /// `uname -r`.
    pub version: String,
    /// Where it came from.
    pub origin: Origin,
    /// Hex SHA-256 of the kernel image.
    pub image_sha256: String,
    /// The component name the manifest gives the files it brought (`kernel-VERSION`), when
    /// no package owns them.
    pub component: Option<String>,
    /// The files it brought into the image (modules and their index files), sorted.
    pub files: Vec<KernelFile>,
}

/// A kernel ready to boot: its image, version and command line, and what it puts into the
/// image's root.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// `uname -r`.
    pub version: String,
    /// The boot image (`vmlinuz`).
    pub image: Vec<u8>,
    /// Files for the root: absolute path → bytes (mode 0644, root-owned), with the
    /// directories they need.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Where it came from.
    pub origin: Origin,
}

impl Kernel {
    /// The record for the report and the SBOM; `component` names the files when no package
    /// owns them.
    #[must_use]
    pub fn record(&self) -> KernelRecord {
        let component = match &self.origin {
            Origin::Files { .. } => Some(format!("kernel-{}", self.version)),
            Origin::Package { .. } => None,
        };
        KernelRecord {
            version: self.version.clone(),
            origin: self.origin.clone(),
            image_sha256: hex::encode(Sha256::digest(&self.image)),
            component,
            files: self
                .files
                .iter()
                .map(|(path, bytes)| KernelFile {
                    path: path.clone(),
                    sha256: hex::encode(Sha256::digest(bytes)),
                })
                .collect(),
        }
    }
}

/// A kernel built elsewhere: its image, and the modules directory of its version (a map of
/// path under that directory → bytes: `*.ko`, `modules.builtin`, `modules.order`...). Only the
/// modules a host needs enter the image: [`HOST_MODULES`], `wanted`, and their dependencies,
/// with a `modules.dep` and `modules.alias` made for them.
///
/// # Errors
/// [`Error::NotKernel`], [`Error::VersionMismatch`], [`Error::Module`],
/// [`Error::UnknownModule`].
pub fn from_files(
    image_file: &str,
    image: Vec<u8>,
    modules: Option<(&str, BTreeMap<String, Vec<u8>>)>,
    wanted: &[String],
) -> Result<Kernel, Error> {
    let version = bzimage_version(image_file, &image)?;
    let mut files = BTreeMap::new();
    if let Some((dir_version, contents)) = modules {
        if dir_version != version {
            return Err(Error::VersionMismatch {
                image: version,
                modules: dir_version.to_owned(),
            });
        }
        let mut set = ModuleSet::default();
        for (path, bytes) in &contents {
            if module_name(path).is_some() {
                let info = modinfo(path, bytes)?;
                if let Some(magic) = &info.vermagic
                    && magic != &version
                {
                    return Err(Error::Module {
                        path: path.clone(),
                        reason: format!("built for kernel `{magic}`, not `{version}`"),
                    });
                }
                set.modules.insert(path.clone(), info);
            }
        }
        if let Some(builtin) = contents.get("modules.builtin") {
            set.builtin = parse_builtin(&String::from_utf8_lossy(builtin));
        }
        let selected = set.closure(&version, wanted, HOST_MODULES)?;
        let base = format!("/lib/modules/{version}");
        for path in &selected {
            files.insert(format!("{base}/{path}"), contents[path].clone());
        }
        for index in [
            "modules.builtin",
            "modules.builtin.modinfo",
            "modules.order",
        ] {
            if let Some(bytes) = contents.get(index) {
                files.insert(format!("{base}/{index}"), bytes.clone());
            }
        }
        files.insert(
            format!("{base}/modules.dep"),
            set.modules_dep(&selected).into_bytes(),
        );
        files.insert(
            format!("{base}/modules.alias"),
            set.modules_alias(&selected).into_bytes(),
        );
    } else if !wanted.is_empty() {
        return Err(Error::UnknownModule {
            name: wanted[0].clone(),
            version,
            hint: None,
        });
    }
    Ok(Kernel {
        version,
        image,
        files,
        origin: Origin::Files {
            image_file: image_file
                .rsplit('/')
                .next()
                .unwrap_or(image_file)
                .to_owned(),
        },
    })
}

/// The kernel of an Alpine kernel package already unpacked into `tree`: its
/// `/boot/vmlinuz*` and `/lib/modules/VERSION`. The package's modules stay as they are (they
/// are its files); when it ships no `modules.dep`, one is made (with `modules.alias`) from
/// its modules. The profile's `wanted` modules must be among them (or built in).
///
/// # Errors
/// [`Error::Ambiguous`] when the package has no boot image or several, or no modules
/// directory of the image's version; [`Error::NotKernel`], [`Error::Module`],
/// [`Error::UnknownModule`].
pub fn from_tree(
    tree: &crate::tree::ImageTree,
    package: &str,
    package_version: &str,
    wanted: &[String],
) -> Result<Kernel, Error> {
    use crate::tree::NodeKind;
    let images: Vec<(String, &[u8])> = tree
        .iter()
        .filter(|(path, node)| {
            path.as_bytes().starts_with(b"boot/vmlinuz") && node.package.as_deref() == Some(package)
        })
        .filter_map(|(path, node)| match &node.kind {
            NodeKind::File(content) => Some((path.display(), content.bytes())),
            _ => None,
        })
        .collect();
    let (image_path, image) = match images.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(Error::Ambiguous(format!(
                "kernel package `{package}` has no /boot/vmlinuz* boot image"
            )));
        }
        many => {
            return Err(Error::Ambiguous(format!(
                "kernel package `{package}` has several boot images: {}",
                many.iter()
                    .map(|m| m.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    let version = bzimage_version(&image_path, image)?;
    let dir = format!("lib/modules/{version}/");
    let contents: BTreeMap<String, &[u8]> = tree
        .iter()
        .filter_map(|(path, node)| {
            let rel = path.as_bytes().strip_prefix(dir.as_bytes())?;
            let rel = std::str::from_utf8(rel).ok()?.to_owned();
            match &node.kind {
                NodeKind::File(content) => Some((rel, content.bytes())),
                NodeKind::Hardlink(_) => tree.file_node(path).and_then(|n| match &n.kind {
                    NodeKind::File(content) => Some((rel, content.bytes())),
                    _ => None,
                }),
                _ => None,
            }
        })
        .collect();
    if contents.is_empty() {
        return Err(Error::Ambiguous(format!(
            "kernel package `{package}` boots kernel {version} but has no /lib/modules/{version}"
        )));
    }
    let mut files = BTreeMap::new();
    let has_dep = contents.contains_key("modules.dep");
    if !has_dep || !wanted.is_empty() {
        let mut set = ModuleSet::default();
        for (path, bytes) in &contents {
            if module_name(path).is_some() {
                set.modules.insert(path.clone(), modinfo(path, bytes)?);
            }
        }
        if let Some(builtin) = contents.get("modules.builtin") {
            set.builtin = parse_builtin(&String::from_utf8_lossy(builtin));
        }
        set.closure(&version, wanted, &[])?;
        if !has_dep {
            let all: BTreeSet<String> = set.modules.keys().cloned().collect();
            files.insert(
                format!("/{dir}modules.dep"),
                set.modules_dep(&all).into_bytes(),
            );
            if !contents.contains_key("modules.alias") {
                files.insert(
                    format!("/{dir}modules.alias"),
                    set.modules_alias(&all).into_bytes(),
                );
            }
        }
    }
    Ok(Kernel {
        version,
        image: image.to_vec(),
        files,
        origin: Origin::Package {
            name: package.to_owned(),
            version: package_version.to_owned(),
        },
    })
}

/// Adds a kernel built elsewhere to an SPDX document: a package for the kernel (its boot
/// image's SHA-256, where it came from) and its files in the image, each with SHA-1 and
/// SHA-256. A packaged kernel is already in the document as its package.
pub fn add_to_sbom(
    document: &mut serde_json::Value,
    kernel: &KernelRecord,
    tree: &crate::tree::ImageTree,
) {
    use serde_json::json;
    let Origin::Files { image_file } = &kernel.origin else {
        return;
    };
    let id = "SPDXRef-Kernel";
    let mut files = Vec::new();
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-Image",
        "relationshipType": "CONTAINS",
        "relatedSpdxElement": id,
    })];
    for (i, f) in kernel.files.iter().enumerate() {
        let sha1 = tree
            .read_file(&f.path)
            .map(|b| hex::encode(sha1::Sha1::digest(b)))
            .unwrap_or_default();
        let file_id = format!("SPDXRef-KernelFile-{i}");
        files.push(json!({
            "SPDXID": file_id,
            "fileName": format!(".{}", f.path),
            "checksums": [
                {"algorithm": "SHA1", "checksumValue": sha1},
                {"algorithm": "SHA256", "checksumValue": f.sha256},
            ],
            "licenseConcluded": "NOASSERTION",
            "copyrightText": "NOASSERTION",
        }));
        relationships.push(json!({
            "spdxElementId": id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": file_id,
        }));
    }
    let package = json!({
        "SPDXID": id,
        "name": "linux",
        "versionInfo": kernel.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "OPERATING-SYSTEM",
        "description": "the Linux kernel the image boots, and the modules it needs",
        "sourceInfo": format!(
            "supplied to the build: boot image {image_file} and {} files from its modules directory",
            kernel.files.len()
        ),
        "checksums": [{"algorithm": "SHA256", "checksumValue": kernel.image_sha256}],
    });
    if let Some(list) = document.get_mut("packages").and_then(|v| v.as_array_mut()) {
        list.push(package);
    }
    if let Some(list) = document
        .get_mut("relationships")
        .and_then(|v| v.as_array_mut())
    {
        list.extend(relationships);
    }
    if !files.is_empty() {
        document["files"] = json!(files);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(mods: &[(&str, &[&str], &[&str])]) -> ModuleSet {
        let mut s = ModuleSet::default();
        for (path, deps, aliases) in mods {
            s.modules.insert(
                (*path).to_owned(),
                ModuleInfo {
                    name: module_name(path).unwrap(),
                    depends: deps.iter().map(|d| (*d).to_owned()).collect(),
                    aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
                    ..ModuleInfo::default()
                },
            );
        }
        s
    }

    #[test]
    fn names_come_from_file_names() {
        assert_eq!(
            module_name("kernel/fs/ext4/ext4.ko").as_deref(),
            Some("ext4")
        );
        assert_eq!(
            module_name("kernel/drivers/md/dm-verity.ko.gz").as_deref(),
            Some("dm_verity")
        );
        assert_eq!(module_name("modules.dep"), None);
        assert_eq!(module_name(".ko"), None);
    }

    #[test]
    fn dependencies_are_listed_in_reverse_load_order() {
        let s = set(&[
            ("k/ext4.ko", &["jbd2", "mbcache", "crc16"], &["fs-ext4"]),
            ("k/jbd2.ko", &[], &[]),
            ("k/mbcache.ko", &[], &[]),
            ("k/crc16.ko", &[], &[]),
            ("k/a.ko", &["b"], &[]),
            ("k/b.ko", &["c"], &[]),
            ("k/c.ko", &[], &[]),
            ("k/unused.ko", &[], &[]),
        ]);
        let sel = s
            .closure("v", &["a".to_owned()], &["ext4", "absent"])
            .unwrap();
        assert!(!sel.contains("k/unused.ko"));
        let dep = s.modules_dep(&sel);
        assert!(dep.contains("k/a.ko: k/b.ko k/c.ko\n"), "{dep}");
        assert!(dep.contains("k/b.ko: k/c.ko\n"), "{dep}");
        assert!(dep.contains("k/c.ko:\n"), "{dep}");
        // Each dependency's own needs are listed after it: loading backwards works.
        assert!(
            dep.contains("k/ext4.ko: k/crc16.ko k/mbcache.ko k/jbd2.ko\n"),
            "{dep}"
        );
        assert_eq!(s.modules_alias(&sel), "alias fs-ext4 ext4\n");
    }

    #[test]
    fn required_modules_must_exist() {
        let mut s = set(&[("k/ext4.ko", &[], &[])]);
        let err = s.closure("6.1", &["ext3".to_owned()], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "module `ext3` is neither a module of kernel 6.1 nor built into it (did you mean `ext4`?)"
        );
        s.builtin.insert("af_packet".to_owned());
        assert!(
            s.closure("6.1", &["af_packet".to_owned()], &[])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn softdeps_resolve_through_aliases() {
        let mut s = set(&[
            ("k/ext4.ko", &[], &[]),
            ("k/crc32c_generic.ko", &[], &["crypto-crc32c", "crc32c"]),
        ]);
        s.modules.get_mut("k/ext4.ko").unwrap().softdeps = vec!["crc32c".to_owned()];
        let sel = s.closure("v", &["ext4".to_owned()], &[]).unwrap();
        assert!(sel.contains("k/crc32c_generic.ko"));
    }

    #[test]
    fn bzimage_versions_are_read_from_the_setup_header() {
        let mut image = vec![0u8; 0x400];
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x206..0x208].copy_from_slice(&0x020f_u16.to_le_bytes());
        image[0x20e..0x210].copy_from_slice(&0x100_u16.to_le_bytes());
        image[0x300..0x300 + 29].copy_from_slice(b"6.1.0-18-amd64 (debian@x) #1\0");
        assert_eq!(bzimage_version("v", &image).unwrap(), "6.1.0-18-amd64");
        image[0x20e..0x210].copy_from_slice(&0xffff_u16.to_le_bytes());
        assert!(bzimage_version("v", &image).is_err());
        assert!(bzimage_version("v", b"MZ").is_err());
        for cut in 0..image.len() {
            let _ = bzimage_version("v", &image[..cut]);
        }
    }

    #[test]
    fn modinfo_refuses_what_is_not_a_module() {
        assert!(modinfo("x.ko", b"not elf").is_err());
        assert!(modinfo("x.ko.xz", b"").is_err());
        assert!(modinfo("x.ko.gz", b"\x1f\x8b garbage").is_err());
    }
}
