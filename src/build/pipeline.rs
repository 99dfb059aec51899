//! The order of the build stages: packages in install order → unpacked image → script
//! effects → the profile's files → services → apk's database → archive, SBOM and report.
//!
//! Invariants: the result is a pure function of the packages, the profile's files and the
//! epoch (no clock, host, user, umask or locale reaches it); nothing here prints or writes to
//! the disk; every skipped package script is recorded with its SHA-256.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::apk::checksum::Checksum;
use crate::apk::installed;
use crate::apk::keys::Keyring;
use crate::apk::package::{self, ReadOptions};
use crate::apk::tar;
use crate::build::disk;
use crate::build::effects::{self, Applied};
use crate::build::image;
use crate::build::kernel::{self, Kernel};
use crate::build::lock::{self, Lockfile};
use crate::build::render;
use crate::build::sbom;
use crate::build::unpack::{self, Entry, PackageInfo, PackageRecord, Unpacker};
use crate::integrity::host;
use crate::integrity::manifest;
use crate::integrity::sign;
use crate::profile::Profile;
use crate::tree::Content;
use crate::tree::{self, ImagePath, ImageTree, Node, NodeKind};

/// Where the build's own record lives inside the image.
pub const METADATA_PATH: &str = "/usr/share/basalt/build.json";

/// Where an image that verifies itself at boot keeps its signed manifest.
pub const EMBEDDED_MANIFEST: &str = "/etc/basalt/manifest";

/// Where an image that verifies itself at boot keeps the manifest's signature.
pub const EMBEDDED_SIGNATURE: &str = "/etc/basalt/manifest.minisig";

/// Where an image that verifies itself at boot keeps its verifier (a statically linked basalt).
pub const VERIFIER_PATH: &str = "/usr/sbin/basalt";

/// The directory of public keys the boot-time verifier trusts.
pub const VERIFIER_KEYS: &str = "/etc/basalt/keys";

/// The scripts apk runs when it installs a package for the first time.
pub const INSTALL_SCRIPTS: &[&str] = &["pre-install", "post-install", "trigger"];

/// apk's script types, in the order it stores them.
pub const SCRIPT_TYPES: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-deinstall",
    "post-deinstall",
    "pre-upgrade",
    "post-upgrade",
    "trigger",
];

/// Errors of the build stages, each naming what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A package could not be read or failed a check.
    #[error("cannot use package `{file}`")]
    Package {
        /// The package file.
        file: String,
        /// The reader's reason.
        #[source]
        source: Box<package::Error>,
    },
    /// Unpacking failed.
    #[error(transparent)]
    Unpack(#[from] unpack::Error),
    /// A script effect or the services failed.
    #[error(transparent)]
    Effect(#[from] effects::Error),
    /// A profile file could not be placed.
    #[error("cannot place the profile's file `{path}`")]
    ProfileFile {
        /// The path.
        path: String,
        /// The tree's reason.
        #[source]
        source: tree::Error,
    },
    /// apk's database could not be written.
    #[error("cannot write apk's database")]
    Database(#[from] installed::Error),
    /// The written archive could not be described.
    #[error("cannot describe the image archive")]
    Describe(#[source] Box<host::Error>),
    /// The archive could not be written.
    #[error(transparent)]
    Image(#[from] image::Error),
    /// The manifest is to be embedded in the image but there is no key to sign it with.
    #[error(
        "image `{image}` verifies itself at boot, so its manifest must be signed, but no signing key was given"
    )]
    EmbedUnsigned {
        /// The image name.
        image: String,
    },
    /// The image could not be assembled from its packages and the profile.
    #[error("failed to assemble `{image}`")]
    Assemble {
        /// The image name.
        image: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// The profile's configuration could not be rendered.
    #[error(transparent)]
    Render(#[from] render::Error),
    /// The lock could not be written as text (for its digest).
    #[error(transparent)]
    Lock(#[from] lock::Error),
    /// The disk's verified root filesystem could not be made.
    #[error("cannot make the root filesystem of the disk")]
    Disk(#[from] disk::Error),
    /// The read-only root of a disk could not be prepared.
    #[error("failed to prepare the read-only root")]
    ReadOnlyRoot(#[source] tree::Error),
    /// The kernel the image boots could not be taken from its package.
    #[error("failed to take the kernel of `{image}`")]
    Kernel {
        /// The image name.
        image: String,
        /// The reason.
        #[source]
        source: kernel::Error,
    },
    /// The profile's kernel package is not among the installed packages.
    #[error("the kernel package `{package}` was not installed")]
    KernelNotInstalled {
        /// The package the profile's `[boot] kernel` names.
        package: String,
    },
    /// The manifest could not be signed.
    #[error("cannot sign the manifest of image `{image}`")]
    Sign {
        /// The image name.
        image: String,
        /// The signer's reason.
        #[source]
        source: sign::Error,
    },
}

/// A package the build installs: its record in apk's database (the package as
/// `lib/apk/db/installed` describes it, with no files yet: the one package type everything
/// downstream reads), and what the build knows of the `.apk` it came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageFile {
    /// The record: name, version, identity (`C:`), `.apk` size (`S:`) and the rest of
    /// `.PKGINFO`, as apk writes it.
    pub record: installed::InstalledPackage,
    /// `triggers`: the paths whose change runs the package's trigger script.
    pub triggers: Vec<String>,
    /// Hex SHA-256 of the `.apk` file.
    pub sha256: String,
}

impl PackageFile {
    /// The `Q1…` identity.
    #[must_use]
    pub fn identity(&self) -> &str {
        self.record.checksum.as_deref().unwrap_or_default()
    }
}

impl From<&PackageFile> for ReportPackage {
    fn from(p: &PackageFile) -> Self {
        ReportPackage {
            name: p.record.name.clone(),
            version: p.record.version.clone(),
            arch: p.record.arch.clone(),
            origin: p.record.origin.clone(),
            license: p.record.license.clone(),
            identity: p.identity().to_owned(),
            sha256: p.sha256.clone(),
        }
    }
}

impl From<&PackageFile> for sbom::SbomPackage {
    fn from(p: &PackageFile) -> Self {
        sbom::SbomPackage {
            name: p.record.name.clone(),
            version: p.record.version.clone(),
            arch: p.record.arch.clone(),
            origin: p.record.origin.clone(),
            license: p.record.license.clone(),
            url: p.record.url.clone(),
            description: p.record.description.clone(),
            sha256: p.sha256.clone(),
            identity: p.identity().to_owned(),
        }
    }
}

/// A control script of a package (`pre-install`, `trigger`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The action, without the leading dot (`post-install`).
    pub action: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A package read and checked, ready to be unpacked.
#[derive(Debug, Clone)]
pub struct LoadedPackage {
    /// Control data.
    pub meta: PackageFile,
    /// Control scripts.
    pub scripts: Vec<Script>,
    /// Data entries in archive order.
    pub entries: Vec<Entry>,
    /// SHA-256 (hex) of the data section, equal to `.PKGINFO`'s `datahash` when it has one.
    pub datahash: String,
}

/// A script apk would have run on installation and basalt did not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedScript {
    /// The package.
    pub package: String,
    /// The action (`pre-install`, `post-install`, `trigger`).
    pub script: String,
    /// Hex SHA-256 of the script.
    pub sha256: String,
    /// The declarative effect that stands in for it, if any.
    pub replaced_by: Option<String>,
}

/// What the build is asked to produce besides the packages.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Image name.
    pub name: String,
    /// Image version.
    pub version: String,
    /// The mtime of every entry, and the date of generated account entries.
    pub epoch: u64,
    /// Runlevel → services to enable (exactly these).
    pub services: BTreeMap<String, Vec<String>>,
    /// The profile's own files (rendered templates, extra files), by absolute path.
    pub files: BTreeMap<String, Node>,
    /// The packages the profile asked for (`etc/apk/world`).
    pub world: Vec<String>,
    /// The profile's groups (exact members).
    pub groups: Vec<crate::profile::Group>,
    /// The profile's login accounts.
    pub users: Vec<crate::profile::User>,
    /// Memory bounds for package contents.
    pub limits: unpack::Limits,
    /// Files a kernel built elsewhere brings (its modules and their index files), placed
    /// after the packages and before the profile's files.
    pub kernel_files: BTreeMap<String, Node>,
}

/// The assembled image and what happened on the way.
#[derive(Debug)]
pub struct Assembled {
    /// The image.
    pub tree: ImageTree,
    /// Packages in install order, with their control data.
    pub packages: Vec<PackageFile>,
    /// What each package owns in the end (for apk's database).
    pub records: Vec<PackageRecord>,
    /// Scripts of every package (for `scripts.tar`), in install order.
    pub scripts: Vec<(String, Vec<Script>)>,
    /// Scripts apk would have run on installation.
    pub skipped_scripts: Vec<SkippedScript>,
    /// Effects produced in their place.
    pub effects: Vec<Applied>,
    /// Services enabled, by runlevel.
    pub services: BTreeMap<String, Vec<String>>,
    /// Absolute paths the profile wrote.
    pub profile_files: Vec<String>,
}

/// Assembles the image from packages in install order.
///
/// # Errors
/// The first package that cannot be unpacked, an effect that fails, or a profile file that
/// cannot be placed.
pub fn assemble(packages: Vec<LoadedPackage>, options: &Options) -> Result<Assembled, Error> {
    // apk creates `/proc` (0555) when it opens a root, before any package; the package that
    // later ships it leaves it as it is.
    let mut root = ImageTree::new();
    root.insert(
        ImagePath::new(b"proc").map_err(|source| Error::ProfileFile {
            path: "/proc".to_owned(),
            source,
        })?,
        Node::dir(0o555),
    )
    .map_err(|source| Error::ProfileFile {
        path: "/proc".to_owned(),
        source,
    })?;
    let mut unpacker = Unpacker::new(root, options.limits);
    let mut metas = Vec::with_capacity(packages.len());
    let mut scripts = Vec::with_capacity(packages.len());
    let mut skipped = Vec::new();
    let mut applied = Vec::new();
    let installed_names: Vec<String> = packages
        .iter()
        .map(|p| p.meta.record.name.clone())
        .collect();

    for package in packages {
        let LoadedPackage {
            meta,
            scripts: package_scripts,
            entries,
            ..
        } = package;
        let has = |action: &str| package_scripts.iter().any(|s| s.action == action);
        let account = effects::account_script(&meta.record.name).filter(|_| has("pre-install"));
        if let Some(script) = account {
            applied.extend(effects::apply_account_script(
                unpacker.tree_mut(),
                script,
                options.epoch,
            )?);
        }
        for script in &package_scripts {
            if !INSTALL_SCRIPTS.contains(&script.action.as_str()) {
                continue;
            }
            skipped.push(SkippedScript {
                package: meta.record.name.clone(),
                script: script.action.clone(),
                sha256: hex::encode(Sha256::digest(&script.bytes)),
                replaced_by: replacement(&meta.record.name, &script.action, account.is_some()),
            });
        }
        let info = PackageInfo {
            name: meta.record.name.clone(),
            version: meta.record.version.clone(),
            origin: meta.record.origin.clone(),
            replaces: meta
                .record
                .replaces
                .iter()
                .map(|atom| atom_name(atom).to_owned())
                .filter(|name| installed_names.contains(name))
                .collect(),
            replaces_priority: meta
                .record
                .replaces_priority
                .map_or(0, |p| u32::try_from(p).unwrap_or(u32::MAX)),
        };
        unpacker.add_package(info, entries.into_iter().map(Ok))?;
        scripts.push((meta.record.name.clone(), package_scripts));
        metas.push(meta);
    }
    let unpacked = unpacker.finish();
    let mut tree = unpacked.tree;

    applied.extend(effects::busybox_links(&mut tree)?);
    if metas.iter().any(|m| m.record.name == "ca-certificates") {
        applied.extend(effects::ca_bundle(&mut tree)?);
    }

    for (path, node) in &options.kernel_files {
        place_profile_file(&mut tree, path, node.clone())?;
    }
    applied.extend(effects::apply_profile_accounts(
        &mut tree,
        &options.groups,
        &options.users,
        options.epoch,
    )?);
    let mut profile_files = Vec::new();
    for (path, node) in &options.files {
        place_profile_file(&mut tree, path, node.clone())?;
        profile_files.push(path.clone());
    }
    if effects::lock_root_password(&mut tree)? {
        applied.push(Applied {
            effect: "accounts".to_owned(),
            detail: "root password locked".to_owned(),
        });
    }
    applied.extend(effects::enable_services(&mut tree, &options.services)?);
    // The runlevel links and the account files are the profile's configuration too.
    for (level, services) in &options.services {
        for service in services {
            profile_files.push(format!("/etc/runlevels/{level}/{service}"));
        }
    }
    if !options.users.is_empty() || !options.groups.is_empty() {
        profile_files.extend(["/etc/group", "/etc/passwd", "/etc/shadow"].map(String::from));
    }
    profile_files.sort();
    profile_files.dedup();

    Ok(Assembled {
        tree,
        packages: metas,
        records: unpacked.packages,
        scripts,
        skipped_scripts: skipped,
        effects: applied,
        services: options.services.clone(),
        profile_files,
    })
}

/// Identity and provenance of the image, for the manifest and the report.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    /// Image name.
    pub name: String,
    /// Image version.
    pub version: String,
    /// The build epoch.
    pub epoch: u64,
    /// Digest of the profile (`sha256:…`).
    pub profile_digest: Option<String>,
    /// Digest of the lockfile (`sha256:…`).
    pub lock_digest: Option<String>,
    /// Where the running host may differ from the image.
    pub policy: manifest::RuntimePolicy,
    /// Sign the manifest with this key ([`Built::signature`]).
    pub sign_key: Option<sign::SecretKey>,
    /// Put the signed manifest and its signature into the image, at [`EMBEDDED_MANIFEST`] and
    /// [`EMBEDDED_SIGNATURE`] (needs `sign_key`). Both are mutable in the manifest's policy:
    /// the manifest cannot describe its own bytes, and the signature protects them.
    pub embed_manifest: bool,
    /// Also make the image's verified root filesystem for a disk (squashfs and its dm-verity
    /// hash tree, [`Built::disk_root`]) and record its root hash in the manifest's header.
    /// The root holds the embedded manifest's paths as empty files: the manifest names the
    /// root hash, so it cannot live in the root it describes (the disk's initramfs brings it).
    pub disk: Option<disk::squashfs::Options>,
    /// The kernel the image boots, when it has one: listed in the report and, when it came
    /// from files rather than a package, in the SBOM and as the owner of its files in the
    /// manifest.
    pub kernel: Option<kernel::KernelRecord>,
}

/// A package as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportPackage {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: Option<String>,
    /// Source package.
    pub origin: Option<String>,
    /// Declared licence.
    pub license: String,
    /// `Q1…` identity.
    pub identity: String,
    /// Hex SHA-256 of the `.apk`.
    pub sha256: String,
}

/// What was built and how: the build report (also kept, without the output digests, in the
/// image at [`METADATA_PATH`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BuildReport {
    /// Image name.
    pub image: String,
    /// Image version.
    pub version: String,
    /// The mtime of every entry.
    pub epoch: u64,
    /// Profile digest.
    pub profile_digest: Option<String>,
    /// Lockfile digest.
    pub lock_digest: Option<String>,
    /// Packages in install order.
    pub packages: Vec<ReportPackage>,
    /// Scripts apk would have run, and what stands in for them.
    pub skipped_scripts: Vec<SkippedScript>,
    /// Effects applied in their place, and the profile's accounts and services.
    pub effects: Vec<Applied>,
    /// Services enabled, by runlevel.
    pub services: BTreeMap<String, Vec<String>>,
    /// Files the profile wrote.
    pub profile_files: Vec<String>,
    /// Output file name → hex SHA-256 (empty inside the image).
    pub outputs: BTreeMap<String, String>,
    /// The kernel the image boots, and the files it brought.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<kernel::KernelRecord>,
    /// The disk: its root hash and partitions with their digests (not inside the image).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<disk::DiskReport>,
}

impl BuildReport {
    /// The report as text for people.
    #[must_use]
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(out, "image {} {}", self.image, self.version);
        let _ = writeln!(out, "epoch {}", self.epoch);
        if let Some(d) = &self.profile_digest {
            let _ = writeln!(out, "profile {d}");
        }
        if let Some(d) = &self.lock_digest {
            let _ = writeln!(out, "lock {d}");
        }
        let _ = writeln!(out, "\npackages ({}):", self.packages.len());
        for p in &self.packages {
            let _ = writeln!(out, "  {} {} sha256:{}", p.name, p.version, p.sha256);
        }
        let _ = writeln!(out, "\nskipped scripts ({}):", self.skipped_scripts.len());
        for s in &self.skipped_scripts {
            let _ = writeln!(
                out,
                "  {} {} sha256:{}{}",
                s.package,
                s.script,
                s.sha256,
                s.replaced_by
                    .as_ref()
                    .map(|r| format!(" (replaced by: {r})"))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(out, "\neffects ({}):", self.effects.len());
        for e in &self.effects {
            let _ = writeln!(out, "  {}: {}", e.effect, e.detail);
        }
        let _ = writeln!(out, "\nservices:");
        for (level, services) in &self.services {
            let _ = writeln!(out, "  {level}: {}", services.join(" "));
        }
        if let Some(k) = &self.kernel {
            let origin = match &k.origin {
                kernel::Origin::Package { name, version } => {
                    format!("package {name} {version}")
                }
                kernel::Origin::Files { image_file } => format!("file {image_file}"),
            };
            let _ = writeln!(
                out,
                "\nkernel {} from {origin} sha256:{}",
                k.version, k.image_sha256
            );
            let _ = writeln!(out, "kernel files ({}):", k.files.len());
            for f in &k.files {
                let _ = writeln!(out, "  {} sha256:{}", f.path, f.sha256);
            }
        }
        let _ = writeln!(out, "\nprofile files ({}):", self.profile_files.len());
        for f in &self.profile_files {
            let _ = writeln!(out, "  {f}");
        }
        if let Some(disk) = &self.disk {
            let _ = writeln!(out, "\ndisk {}:", disk.disk_guid);
            let _ = writeln!(out, "  root hash {}", disk.root_hash);
            let _ = writeln!(out, "  verity salt {}", disk.salt);
            let _ = writeln!(out, "  verity uuid {}", disk.verity_uuid);
            let _ = writeln!(
                out,
                "  root filesystem sha256:{}",
                disk.root_filesystem_sha256
            );
            let i = &disk.initramfs;
            let _ = writeln!(
                out,
                "  initramfs: kernel {} modules {}; programs {}",
                i.kernel_version,
                i.modules.len(),
                i.programs.join(" ")
            );
            for p in &disk.partitions {
                let _ = writeln!(
                    out,
                    "  partition {} {} type {} guid {} offset {} size {} sha256:{}",
                    p.placed.number,
                    p.placed.name,
                    p.placed.type_guid,
                    p.placed.guid,
                    p.placed.offset,
                    p.placed.size,
                    p.sha256
                );
            }
        }
        if !self.outputs.is_empty() {
            let _ = writeln!(out, "\noutputs:");
            for (file, sha) in &self.outputs {
                let _ = writeln!(out, "  {file} sha256:{sha}");
            }
        }
        out
    }
}

/// Everything a build writes, in memory.
#[derive(Debug)]
pub struct Built {
    /// The image archive's file name (`NAME-VERSION.tar.gz`).
    pub image_file: String,
    /// The image archive.
    pub image: Vec<u8>,
    /// Its hex SHA-256.
    pub image_sha256: String,
    /// The manifest of every entry.
    pub manifest: manifest::Manifest,
    /// The manifest's minisign signature, when a key was given.
    pub signature: Option<sign::Signature>,
    /// The SPDX SBOM (JSON).
    pub sbom: Vec<u8>,
    /// The build report; `outputs` lists the image, manifest and SBOM.
    pub report: BuildReport,
    /// The verified root filesystem, with [`OutputOptions::disk`].
    pub disk_root: Option<disk::Root>,
    /// The final tree (what the archive holds), for the boot outputs.
    pub tree: ImageTree,
    /// The kernel the image boots, when it has one ([`build`] fills it in).
    pub kernel: Option<Kernel>,
}

impl Built {
    /// The common prefix of the output files (`NAME-VERSION`).
    #[must_use]
    pub fn stem(&self) -> String {
        format!("{}-{}", self.report.image, self.report.version)
    }
}

/// Finishes a build: records the build in the image, writes the archive, and describes it
/// (manifest, signature, SBOM, report).
///
/// With [`OutputOptions::embed_manifest`] the manifest describes the image with empty files
/// at [`EMBEDDED_MANIFEST`] and [`EMBEDDED_SIGNATURE`] (both mutable in its policy); they are
/// then filled with the signed manifest and its signature and the archive is written again,
/// so that the final image verifies clean against the manifest it carries.
///
/// # Errors
/// When the archive cannot be written or read back, or the manifest cannot be signed
/// ([`Error::EmbedUnsigned`] when it is to be embedded without a key).
pub fn finish(mut assembled: Assembled, options: &OutputOptions) -> Result<Built, Error> {
    let mut report = BuildReport {
        image: options.name.clone(),
        version: options.version.clone(),
        epoch: options.epoch,
        profile_digest: options.profile_digest.clone(),
        lock_digest: options.lock_digest.clone(),
        packages: assembled.packages.iter().map(ReportPackage::from).collect(),
        skipped_scripts: assembled.skipped_scripts.clone(),
        effects: assembled.effects.clone(),
        services: assembled.services.clone(),
        profile_files: assembled.profile_files.clone(),
        outputs: BTreeMap::new(),
        kernel: options.kernel.clone(),
        disk: None,
    };
    let mut metadata = serde_json::to_vec_pretty(&report).expect("a report serialises");
    metadata.push(b'\n');
    place_profile_file(
        &mut assembled.tree,
        METADATA_PATH,
        Node::file(metadata, 0o644),
    )?;

    let mut policy = options.policy.clone();
    if options.embed_manifest {
        if options.sign_key.is_none() {
            return Err(Error::EmbedUnsigned {
                image: options.name.clone(),
            });
        }
        for path in [EMBEDDED_MANIFEST, EMBEDDED_SIGNATURE] {
            place_profile_file(&mut assembled.tree, path, Node::file(&b""[..], 0o644))?;
            policy.mutable.push(path.to_owned());
        }
    }

    let mut image = image_bytes(&assembled.tree, options.epoch)?;
    let disk_root = options
        .disk
        .as_ref()
        .map(|disk| disk::root(&assembled.tree, options.epoch, disk))
        .transpose()?;
    let stem = format!("{}-{}", options.name, options.version);
    let image_file = format!("{stem}.tar.gz");

    let scan = host::scan_archive(
        &image[..],
        std::path::Path::new(&image_file),
        &host::ScanOptions::default(),
    )
    .map_err(|source| Error::Describe(Box::new(source)))?;
    let header = manifest::Header {
        image: options.name.clone(),
        version: options.version.clone(),
        profile_digest: options.profile_digest.clone(),
        lock_digest: options.lock_digest.clone(),
        build_time: options.epoch,
        root_hash: disk_root.as_ref().map(|root| root.hash_tree.root_hash),
        packages: Vec::new(),
        policy,
    };
    let mut manifest = host::manifest_from_scan(scan, header)
        .map_err(|source| Error::Describe(Box::new(source)))?;
    if let Some(kernel) = &options.kernel
        && let Some(component) = &kernel.component
    {
        // Files no package owns but the kernel brought: named after it.
        let paths: std::collections::BTreeSet<&[u8]> =
            kernel.files.iter().map(|f| f.path.as_bytes()).collect();
        for entry in &mut manifest.entries {
            if entry.package.is_none() && paths.contains(entry.path.as_slice()) {
                entry.package = Some(component.clone());
            }
        }
    }
    let manifest_text = manifest.render();
    let signature = options
        .sign_key
        .as_ref()
        .map(|key| {
            key.sign(
                &manifest_text,
                "signature from basalt secret key",
                &manifest.trusted_comment(),
            )
        })
        .transpose()
        .map_err(|source| Error::Sign {
            image: options.name.clone(),
            source,
        })?;
    if options.embed_manifest
        && let Some(signature) = &signature
    {
        place_profile_file(
            &mut assembled.tree,
            EMBEDDED_MANIFEST,
            Node::file(manifest_text.clone(), 0o644),
        )?;
        place_profile_file(
            &mut assembled.tree,
            EMBEDDED_SIGNATURE,
            Node::file(signature.render().into_bytes(), 0o644),
        )?;
        image = image_bytes(&assembled.tree, options.epoch)?;
    }
    let image_sha256 = hex::encode(Sha256::digest(&image));

    let sbom_packages: Vec<sbom::SbomPackage> = assembled
        .packages
        .iter()
        .map(sbom::SbomPackage::from)
        .collect();
    let document = sbom::document(
        &sbom::SbomImage {
            name: options.name.clone(),
            version: options.version.clone(),
            sha256: image_sha256.clone(),
            epoch: options.epoch,
        },
        &sbom_packages,
    );
    let mut document = document;
    if let Some(kernel) = &options.kernel {
        kernel::add_to_sbom(&mut document, kernel, &assembled.tree);
    }
    let mut sbom = serde_json::to_vec_pretty(&document).expect("an SBOM serialises");
    sbom.push(b'\n');

    report
        .outputs
        .insert(image_file.clone(), image_sha256.clone());
    report.outputs.insert(
        format!("{stem}.manifest"),
        hex::encode(Sha256::digest(&manifest_text)),
    );
    if let Some(signature) = &signature {
        report.outputs.insert(
            format!("{stem}.manifest.minisig"),
            hex::encode(Sha256::digest(signature.render().as_bytes())),
        );
    }
    report.outputs.insert(
        format!("{stem}.spdx.json"),
        hex::encode(Sha256::digest(&sbom)),
    );
    Ok(Built {
        image_file,
        image,
        image_sha256,
        manifest,
        signature,
        sbom,
        report,
        disk_root,
        tree: assembled.tree,
        kernel: None,
    })
}

impl Options {
    /// The assembly options of `profile`: its services by runlevel, its rendered configuration
    /// and profile files, its world, groups and users, every entry dated `epoch`.
    ///
    /// # Errors
    /// [`Error::Render`] when a template cannot be rendered.
    pub fn from_profile(profile: &Profile, epoch: u64) -> Result<Options, Error> {
        let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (level, service) in profile.services.enabled() {
            services
                .entry(level.as_str().to_owned())
                .or_default()
                .push(service.to_owned());
        }
        let mut files = BTreeMap::new();
        for rendered in render::render_profile(profile)? {
            let kind = match rendered.content {
                render::Content::File(bytes) => NodeKind::File(Content::new(bytes)),
                render::Content::Directory => NodeKind::Dir,
            };
            let node = Node::new(kind, rendered.mode).owned(rendered.uid, rendered.gid);
            files.insert(rendered.path, node);
        }
        Ok(Options {
            name: profile.image.name.clone(),
            version: profile.image.version.clone(),
            epoch,
            services,
            files,
            world: profile.packages.names().map(str::to_owned).collect(),
            groups: profile.groups.clone(),
            users: profile.users.clone(),
            limits: unpack::Limits::default(),
            kernel_files: BTreeMap::new(),
        })
    }
}

/// The mtime of every entry: `SOURCE_DATE_EPOCH` when given, else the profile's `epoch`,
/// else the newest build time of the packages (a date that only the lock decides).
#[must_use]
pub fn epoch(source_date_epoch: Option<u64>, profile: &Profile, packages: &[LoadedPackage]) -> u64 {
    source_date_epoch
        .or(profile.image.epoch)
        .unwrap_or_else(|| {
            packages
                .iter()
                .filter_map(|p| p.meta.record.build_time)
                .max()
                .unwrap_or(0)
        })
}

/// What a build takes besides the profile, its lock and the fetched packages.
#[derive(Debug, Default)]
pub struct BuildOptions {
    /// `SOURCE_DATE_EPOCH`, when set (see [`epoch`]).
    pub source_date_epoch: Option<u64>,
    /// Sign the manifest with this key; needed when the profile verifies at boot.
    pub sign_key: Option<sign::SecretKey>,
    /// More files for the image, by absolute path (the boot-time verifier's).
    pub extra_files: BTreeMap<String, Node>,
    /// A kernel built elsewhere ([`kernel::from_files`]) for the image to boot, instead of
    /// the profile's `[boot] kernel` package; its modules enter the image.
    pub kernel: Option<Kernel>,
}

/// Builds the image of `profile` from the packages `lock` pins (fetched and checked, in
/// install order): assembles it, writes apk's database, and finishes it (archive, manifest
/// with the profile's runtime policy and the digests of the profile and the lock, signature,
/// SBOM, report). The manifest is embedded when the profile verifies at boot.
///
/// A profile that boots (`[boot] ram_root` or `verity_root`, which the caller sets from the
/// outputs it asks for) gets at build time what OpenRC would change at the first boot
/// ([`effects::openrc_run_links`]), `/dev` among its ephemeral paths (devtmpfs covers it),
/// and its kernel ([`BuildOptions::kernel`], else the profile's kernel package, whose
/// `modules.dep` and `modules.alias` are added when it ships none) in [`Built::kernel`]. A
/// disk's root (`verity_root`) is also made read-only-ready
/// ([`disk::read_only_root_links`]) and packed as squashfs with its dm-verity hash tree
/// ([`Built::disk_root`]), whose root hash the manifest records.
///
/// # Errors
/// As [`assemble`], [`write_apk_database`] and [`finish`]; [`Error::Render`] when the
/// profile's configuration cannot be rendered; [`Error::Kernel`] and
/// [`Error::KernelNotInstalled`] when the kernel cannot be taken from its package.
pub fn build(
    profile: &Profile,
    lock: &Lockfile,
    packages: Vec<LoadedPackage>,
    options: BuildOptions,
) -> Result<Built, Error> {
    let BuildOptions {
        source_date_epoch,
        sign_key,
        extra_files,
        kernel,
    } = options;
    let epoch = epoch(source_date_epoch, profile, &packages);
    let mut assembly = Options::from_profile(profile, epoch)?;
    assembly.files.extend(extra_files);
    if let Some(kernel) = &kernel {
        assembly.kernel_files = kernel
            .files
            .iter()
            .map(|(path, bytes)| (path.clone(), Node::file(bytes.clone(), 0o644)))
            .collect();
    }
    let mut assembled = assemble(packages, &assembly).map_err(|source| Error::Assemble {
        image: profile.image.name.clone(),
        source: Box::new(source),
    })?;
    write_apk_database(&mut assembled, &assembly.world)?;
    let boots = profile.boot.ram_root || profile.boot.verity_root;
    if boots {
        // A root in memory is verified as it is at runtime, and a disk's root cannot change:
        // what OpenRC would change at the first boot is done now.
        let applied = effects::openrc_run_links(&mut assembled.tree)?;
        assembled.effects.extend(applied);
    }
    if profile.boot.verity_root {
        let dhcp_resolver = profile.network.uses_dhcp() && !profile.network.static_resolver();
        let applied = disk::read_only_root_links(&mut assembled.tree, dhcp_resolver)
            .map_err(Error::ReadOnlyRoot)?;
        assembled.effects.extend(applied);
    }
    let kernel = match kernel {
        Some(kernel) => Some(kernel),
        None => package_kernel(profile, &mut assembled)?,
    };
    let mut policy = profile.filesystem.runtime_policy();
    if boots && !policy.ephemeral.iter().any(|p| p == "/dev") {
        // A booted host has devtmpfs over /dev: what the image has there is never seen.
        policy.ephemeral.push("/dev".to_owned());
        policy.ephemeral.sort();
    }
    let outputs = OutputOptions {
        name: profile.image.name.clone(),
        version: profile.image.version.clone(),
        epoch,
        profile_digest: Some(format!("sha256:{}", profile.digest())),
        lock_digest: Some(format!(
            "sha256:{}",
            hex::encode(Sha256::digest(lock.to_text()?.as_bytes()))
        )),
        policy,
        sign_key,
        embed_manifest: profile.verify.embeds_verifier(),
        disk: profile
            .boot
            .verity_root
            .then(disk::squashfs::Options::default),
        kernel: kernel.as_ref().map(Kernel::record),
    };
    let mut built = finish(assembled, &outputs)?;
    built.kernel = kernel;
    Ok(built)
}

/// The kernel of the profile's `[boot] kernel` package as it was unpacked, with the
/// `modules.dep` and `modules.alias` it lacks added to the image; `None` without one.
fn package_kernel(profile: &Profile, assembled: &mut Assembled) -> Result<Option<Kernel>, Error> {
    let Some(package) = &profile.boot.kernel else {
        return Ok(None);
    };
    let version = assembled
        .packages
        .iter()
        .find(|p| &p.record.name == package)
        .map(|p| p.record.version.clone())
        .ok_or_else(|| Error::KernelNotInstalled {
            package: package.clone(),
        })?;
    let kernel = kernel::from_tree(&assembled.tree, package, &version, &profile.boot.modules)
        .map_err(|source| Error::Kernel {
            image: profile.image.name.clone(),
            source,
        })?;
    for (path, bytes) in &kernel.files {
        add_file(assembled, path, Node::file(bytes.clone(), 0o644))?;
    }
    Ok(Some(kernel))
}

/// Writes apk's database into the image: `lib/apk/db/installed` (packages sorted by name, each
/// with the directories and files it owns in the end), `lib/apk/db/scripts.tar` (every
/// control script, in install order, dated by the package's build time), `lib/apk/db/triggers`,
/// `etc/apk/world` (sorted) and `etc/apk/arch`.
///
/// # Errors
/// [`Error::Database`] when a value cannot be written in apk's format.
pub fn write_apk_database(assembled: &mut Assembled, world: &[String]) -> Result<(), Error> {
    let arch = assembled
        .packages
        .iter()
        .filter_map(|m| m.record.arch.clone())
        .find(|a| a != "noarch")
        .unwrap_or_else(|| "x86_64".to_owned());
    let mut database = installed::Database::default();
    for (meta, record) in assembled.packages.iter().zip(&assembled.records) {
        database
            .packages
            .push(installed_package(meta, record, &arch));
    }
    database.packages.sort_by(|a, b| a.name.cmp(&b.name));
    let installed_bytes = database.to_bytes()?;

    let mut scripts = installed::Scripts::default();
    for (meta, package_scripts) in assembled.packages.iter().zip(&assembled.scripts) {
        // apk stores a package's scripts in the order of its script types; unknown control
        // files are not scripts.
        let mut ordered: Vec<(usize, &Script)> = package_scripts
            .1
            .iter()
            .filter_map(|s| Some((SCRIPT_TYPES.iter().position(|t| *t == s.action)?, s)))
            .collect();
        ordered.sort_by_key(|(i, _)| *i);
        for (_, script) in ordered {
            scripts.entries.push(installed::ScriptEntry {
                name: format!(
                    "{}-{}.{}.{}",
                    meta.record.name,
                    meta.record.version,
                    meta.identity(),
                    script.action
                ),
                mode: 0o755,
                uid: 0,
                gid: 0,
                mtime: meta.record.build_time.unwrap_or(0),
                uname: "root".to_owned(),
                gname: "root".to_owned(),
                content: script.bytes.clone(),
            });
        }
    }
    let scripts_bytes = scripts.to_bytes()?;

    let mut triggers = installed::Triggers::default();
    for (meta, package_scripts) in assembled.packages.iter().zip(&assembled.scripts) {
        let has_trigger = package_scripts.1.iter().any(|s| s.action == "trigger");
        if has_trigger && !meta.triggers.is_empty() {
            triggers.entries.push(installed::TriggerEntry {
                checksum: meta.identity().to_owned(),
                paths: meta.triggers.clone(),
            });
        }
    }
    let triggers_bytes = triggers.to_bytes()?;

    let mut atoms = world.to_vec();
    atoms.sort();
    atoms.dedup();
    let world_bytes = installed::World { entries: atoms }.to_bytes()?;
    let tree = &mut assembled.tree;
    for (path, bytes) in [
        (installed::INSTALLED_PATH, installed_bytes),
        (installed::SCRIPTS_PATH, scripts_bytes),
        (installed::TRIGGERS_PATH, triggers_bytes),
        (installed::WORLD_PATH, world_bytes),
        ("etc/apk/arch", format!("{arch}\n").into_bytes()),
    ] {
        place_profile_file(tree, &format!("/{path}"), Node::file(bytes, 0o644))?;
    }
    // apk keeps an empty lock file beside its database.
    place_profile_file(tree, "/lib/apk/db/lock", Node::file(&b""[..], 0o600))?;
    Ok(())
}

/// apk's record of one package: its record with the directories and files it owns in the
/// end; like apk, which takes the architecture from the repository index, `noarch` packages
/// are recorded with the image's architecture.
fn installed_package(
    meta: &PackageFile,
    record: &PackageRecord,
    arch: &str,
) -> installed::InstalledPackage {
    let acl = |a: &unpack::Acl, default_mode: u32| {
        (a.mode != default_mode || a.uid != 0 || a.gid != 0).then_some(installed::Acl {
            uid: a.uid,
            gid: a.gid,
            mode: a.mode,
            xattr_checksum: None,
        })
    };
    let dirs = record
        .dirs
        .iter()
        .map(|dir| installed::InstalledDir {
            path: dir
                .path
                .as_ref()
                .map(ImagePath::display)
                .unwrap_or_default(),
            acl: acl(&dir.acl, 0o755),
            files: dir
                .files
                .iter()
                .map(|file| installed::InstalledFile {
                    name: tree::escape(&file.name),
                    acl: acl(&file.acl, 0o644),
                    checksum: file.checksum.map(|sum| {
                        format!(
                            "Q1{}",
                            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sum)
                        )
                    }),
                    extra: Vec::new(),
                })
                .collect(),
            extra: Vec::new(),
        })
        .collect();
    let mut package = meta.record.clone();
    if package.arch.as_deref() == Some("noarch") {
        package.arch = Some(arch.to_owned());
    }
    package.dirs = dirs;
    package
}

/// The name of a dependency atom (`busybox>=1.36` → `busybox`).
fn atom_name(atom: &str) -> &str {
    let atom = atom.strip_prefix('!').unwrap_or(atom);
    let end = atom.find(['<', '>', '=', '~']).unwrap_or(atom.len());
    &atom[..end]
}

/// Which declarative effect stands in for a script.
fn replacement(package: &str, action: &str, accounts: bool) -> Option<String> {
    match (package, action) {
        (_, "pre-install") if accounts => Some("accounts".to_owned()),
        ("busybox", "post-install" | "trigger") => Some("busybox applet links".to_owned()),
        ("ca-certificates", "post-install" | "trigger") => Some("CA bundle".to_owned()),
        _ => None,
    }
}

/// Adds a file the build generates after assembly (a kernel's `modules.dep`), creating
/// missing parent directories (0755 root).
///
/// # Errors
/// [`Error::ProfileFile`] when the path cannot hold it.
pub fn add_file(assembled: &mut Assembled, path: &str, node: Node) -> Result<(), Error> {
    place_profile_file(&mut assembled.tree, path, node)
}

/// Places a profile file, creating missing parent directories (0755 root).
fn place_profile_file(tree: &mut ImageTree, path: &str, node: Node) -> Result<(), Error> {
    let err = |source| Error::ProfileFile {
        path: path.to_owned(),
        source,
    };
    let image_path = ImagePath::from_absolute(path).map_err(err)?;
    if let Some(parent) = image_path.parent() {
        tree.create_dir_all(&parent, &Node::dir(0o755))
            .map_err(err)?;
    }
    tree.insert(image_path, node).map_err(err)?;
    Ok(())
}

/// Reads and checks an `.apk` (signature by a trusted key, `Q1` identity when expected,
/// `datahash`, every file's SHA-1) into a [`LoadedPackage`] with every data entry and its
/// content.
///
/// # Errors
/// [`Error::Package`] when the file is malformed or fails a check.
pub fn read_apk(
    bytes: &[u8],
    file: &str,
    keyring: &Keyring,
    expected_identity: Option<&Checksum>,
    limits: unpack::Limits,
) -> Result<LoadedPackage, Error> {
    let mut options = ReadOptions::new(keyring);
    options.expected_identity = expected_identity;
    options.require_verified = true;
    let mut entries = Vec::new();
    let mut total = 0u64;
    let package = package::read_package(bytes, file, &options, |entry, content| {
        let mut data = Vec::new();
        if entry.kind == tar::EntryKind::File {
            if entry.size > limits.max_file || total + entry.size > limits.max_total {
                return Err(std::io::Error::other(format!(
                    "`{}` takes the image over its size limit",
                    entry.path
                )));
            }
            total += entry.size;
            data.reserve(usize::try_from(entry.size).unwrap_or(0));
            content.read_to_end(&mut data)?;
        }
        entries.push(data_entry(entry, data));
        Ok(())
    })
    .map_err(|source| Error::Package {
        file: file.to_owned(),
        source: Box::new(source),
    })?;
    let info = &package.pkginfo;
    let words = |key: &str| -> Vec<String> {
        info.values(key)
            .flat_map(str::split_whitespace)
            .map(str::to_owned)
            .collect()
    };
    let meta = PackageFile {
        record: installed::InstalledPackage {
            checksum: Some(package.identity.to_string()),
            name: info.name().to_owned(),
            version: info.version().to_owned(),
            arch: info.arch().map(str::to_owned),
            size: bytes.len() as u64,
            installed_size: info.size().unwrap_or(0),
            description: info.get("pkgdesc").unwrap_or_default().to_owned(),
            url: info.get("url").unwrap_or_default().to_owned(),
            license: info.get("license").unwrap_or_default().to_owned(),
            origin: info.get("origin").map(str::to_owned),
            maintainer: info.get("maintainer").map(str::to_owned),
            build_time: info.get("builddate").and_then(|v| v.parse().ok()),
            commit: info.get("commit").map(str::to_owned),
            provider_priority: info.get("provider_priority").and_then(|v| v.parse().ok()),
            depends: words("depend"),
            provides: words("provides"),
            install_if: words("install_if"),
            replaces: words("replaces"),
            // apk reads it as a 32-bit number and records none when it is 0.
            replaces_priority: info
                .get("replaces_priority")
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|p| *p != 0)
                .map(u64::from),
            ..installed::InstalledPackage::default()
        },
        triggers: words("triggers"),
        sha256: hex::encode(Sha256::digest(bytes)),
    };
    let scripts = package
        .scripts
        .into_iter()
        .map(|s| Script {
            action: s.name.trim_start_matches('.').to_owned(),
            bytes: s.bytes,
        })
        .collect();
    Ok(LoadedPackage {
        meta,
        scripts,
        entries,
        datahash: package.datahash,
    })
}

fn data_entry(entry: &package::DataEntry, content: Vec<u8>) -> Entry {
    let kind = match entry.kind {
        tar::EntryKind::File => unpack::EntryKind::File,
        tar::EntryKind::HardLink => unpack::EntryKind::Hardlink,
        tar::EntryKind::Symlink => unpack::EntryKind::Symlink,
        tar::EntryKind::CharDevice => unpack::EntryKind::CharDevice,
        tar::EntryKind::BlockDevice => unpack::EntryKind::BlockDevice,
        tar::EntryKind::Directory => unpack::EntryKind::Dir,
        tar::EntryKind::Fifo => unpack::EntryKind::Fifo,
    };
    let mut path = entry.path.clone().into_bytes();
    if kind == unpack::EntryKind::Dir {
        path.push(b'/');
    }
    Entry {
        path,
        kind,
        mode: entry.mode,
        uid: u32::try_from(entry.uid).unwrap_or(u32::MAX),
        gid: u32::try_from(entry.gid).unwrap_or(u32::MAX),
        uname: entry.uname.clone(),
        gname: entry.gname.clone(),
        link_target: entry.link_target.clone().map(String::into_bytes),
        device: entry.device.unwrap_or((0, 0)),
        xattrs: entry
            .xattrs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect(),
        checksum: entry.sha1,
        content,
    }
}

/// Serialises the image; see [`image::write_tar_gz`].
///
/// # Errors
/// As [`image::write_tar_gz`].
pub fn image_bytes(tree: &ImageTree, epoch: u64) -> Result<Vec<u8>, Error> {
    Ok(image::write_tar_gz(tree, epoch, Vec::new())?)
}

/// A regular file node's bytes, for callers that need to read one back.
#[must_use]
pub fn file_bytes(node: &Node) -> Option<&[u8]> {
    match &node.kind {
        NodeKind::File(content) => Some(content.bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::verify;

    fn embedding(key: Option<sign::SecretKey>) -> Result<Built, Error> {
        embedding_with(key, None)
    }

    fn embedding_with(
        key: Option<sign::SecretKey>,
        disk: Option<disk::squashfs::Options>,
    ) -> Result<Built, Error> {
        let mut files = BTreeMap::new();
        files.insert("/etc/motd".to_owned(), Node::file(&b"welcome\n"[..], 0o644));
        files.insert(
            VERIFIER_PATH.to_owned(),
            Node::file(&b"verifier"[..], 0o755),
        );
        let options = Options {
            name: "embed".to_owned(),
            version: "1".to_owned(),
            epoch: 1_700_000_000,
            files,
            ..Options::default()
        };
        let assembled = assemble(Vec::new(), &options).unwrap();
        finish(
            assembled,
            &OutputOptions {
                name: "embed".to_owned(),
                version: "1".to_owned(),
                epoch: 1_700_000_000,
                sign_key: key,
                embed_manifest: true,
                disk,
                ..OutputOptions::default()
            },
        )
    }

    #[test]
    fn an_embedded_manifest_is_signed_and_the_image_verifies_against_it() {
        let key = sign::SecretKey::from_seed(sign::KeyId([7; 8]), [9; 32]);
        let built = embedding(Some(key.clone())).unwrap();
        let signature = built.signature.clone().unwrap();
        let manifest_text = built.manifest.render();
        let keyring = sign::Keyring::new(vec![key.public()]);
        verify::check_signature(&manifest_text, &signature, &keyring).unwrap();
        for path in [EMBEDDED_MANIFEST, EMBEDDED_SIGNATURE] {
            assert!(
                built
                    .manifest
                    .header
                    .policy
                    .mutable
                    .iter()
                    .any(|p| p == path),
                "{path}"
            );
        }

        let scan = host::scan_archive(
            &built.image[..],
            std::path::Path::new(&built.image_file),
            &host::ScanOptions::default(),
        )
        .unwrap();
        let content = |path: &str| {
            let entry = scan.entry(path.as_bytes()).unwrap();
            match &entry.kind {
                manifest::Kind::File { sha256, .. } => *sha256,
                other => panic!("{path}: {other:?}"),
            }
        };
        assert_eq!(
            content(EMBEDDED_MANIFEST),
            <[u8; 32]>::from(Sha256::digest(&manifest_text))
        );
        assert_eq!(
            content(EMBEDDED_SIGNATURE),
            <[u8; 32]>::from(Sha256::digest(signature.render().as_bytes()))
        );
        assert_eq!(
            built.image_sha256,
            hex::encode(Sha256::digest(&built.image))
        );

        let findings = verify::verify_archive(
            &built.manifest,
            &built.image[..],
            std::path::Path::new(&built.image_file),
        )
        .unwrap();
        assert_eq!(findings, Vec::new());
    }

    #[test]
    fn a_disk_root_is_named_by_the_manifest_and_holds_its_paths_empty() {
        let key = sign::SecretKey::from_seed(sign::KeyId([7; 8]), [9; 32]);
        let built = embedding_with(Some(key), Some(disk::squashfs::Options::default())).unwrap();
        let root = built.disk_root.as_ref().unwrap();
        assert_eq!(
            built.manifest.header.root_hash,
            Some(root.hash_tree.root_hash)
        );
        let text = String::from_utf8(built.manifest.render()).unwrap();
        assert!(
            text.contains(&format!("\nroot-hash {}\n", root.root_hash_hex())),
            "{text}"
        );
        // The archive carries the signed manifest; the verified root only its empty file,
        // which the disk's initramfs covers with the signed one.
        let dir = tempfile::tempdir().unwrap();
        let fs = dir.path().join("root.squashfs");
        fs_err::write(&fs, &root.filesystem).unwrap();
        let cat = std::process::Command::new("unsquashfs")
            .args(["-cat"])
            .arg(&fs)
            .arg(EMBEDDED_MANIFEST)
            .output()
            .unwrap();
        assert!(cat.status.success(), "{cat:?}");
        assert!(cat.stdout.is_empty());
        let scan = host::scan_archive(
            &built.image[..],
            std::path::Path::new(&built.image_file),
            &host::ScanOptions::default(),
        )
        .unwrap();
        assert!(matches!(
            &scan.entry(EMBEDDED_MANIFEST.as_bytes()).unwrap().kind,
            manifest::Kind::File { size, .. } if *size == text.len() as u64
        ));
        // Without a disk, no root hash.
        let plain = embedding(Some(sign::SecretKey::from_seed(
            sign::KeyId([7; 8]),
            [9; 32],
        )))
        .unwrap();
        assert_eq!(plain.manifest.header.root_hash, None);
        assert!(plain.disk_root.is_none());
    }

    #[test]
    fn an_embedded_manifest_needs_a_key() {
        assert!(matches!(
            embedding(None),
            Err(Error::EmbedUnsigned { image }) if image == "embed"
        ));
    }

    #[test]
    fn atom_names_drop_constraints() {
        assert_eq!(atom_name("busybox>=1.36"), "busybox");
        assert_eq!(atom_name("busybox-initscripts"), "busybox-initscripts");
        assert_eq!(atom_name("!foo~1"), "foo");
    }
}
