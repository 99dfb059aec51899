//! The body of every fuzz target, shared by the libFuzzer binaries (`fuzz_targets/*.rs`) and
//! by the normal test suite (`tests/it/fuzz_regressions.rs`), which replays every input saved in
//! `fuzz/regressions/TARGET/`: an input that once crashed a target stays a test.
//!
//! Each body must never panic (other than its own assertions of a property) and must bound
//! its work, whatever the bytes.

#![allow(dead_code)]

use std::cmp::Ordering;
use std::path::Path;

/// A target's body.
pub type Body = fn(&[u8]);

/// Every target, by name.
pub const TARGETS: &[(&str, Body)] = &[
    ("audit_config", audit_config),
    ("audit_image", audit_image),
    ("boot_inputs", boot_inputs),
    ("index", index),
    ("installed", installed),
    ("manifest", manifest),
    ("package", package),
    ("pkginfo", pkginfo),
    ("profile_parse", profile_parse),
    ("version", version),
];

/// The host configuration parsers of the audit on arbitrary text: no panic.
pub fn audit_config(bytes: &[u8]) {
    use basalt::posture::audit::{config, docker, shell};
    let text = String::from_utf8_lossy(bytes);
    let mut include = |_: &str| vec![("/etc/ssh/inc".to_owned(), text.to_string())];
    let _ = config::parse_sshd(&text, "/etc/ssh/sshd_config", &mut include);
    let _ = config::parse_fstab(&text);
    let _ = config::parse_passwd(&text);
    let _ = config::parse_shadow(&text);
    let _ = config::parse_group(&text);
    let _ = config::parse_audit_rules(&text);
    for chain in config::parse_nft(&text).inputs {
        for rule in chain.rules {
            let _ = config::rule_values(&rule.words, "saddr");
            let _ = config::rule_verdict(&rule.words);
            let _ = config::rule_unconditional(&rule.words);
        }
    }
    let _ = config::parse_iptables_save(&text);
    let _ = config::parse_doas(&text);
    let _ = config::parse_sudoers(&text);
    let _ = config::parse_syslog_ng(&text);
    let _ = config::parse_rsyslog(&text);
    let _ = config::parse_busybox_syslog(&text);
    let _ = basalt::profile::Cidr::lenient(&text);
    let _ = docker::parse_container("id", Some(bytes), Some(bytes));
    let vars = shell::source(&text, &shell::Vars::new());
    let (words, _) = shell::words(&text, &vars);
    let options = docker::Options::parse(&words);
    if let Ok(mut settings) = docker::DaemonSettings::from_daemon_json(bytes, "daemon.json") {
        settings.apply(&options, "/etc/conf.d/docker:1");
        let _ = settings.tcp_hosts();
        let _ = settings.unix_sockets();
        let _ = settings.data_root();
    }
}

/// An arbitrary file opened as an image and audited: either a clean error or a report, never
/// a panic or a read outside the image.
pub fn audit_image(bytes: &[u8]) {
    use basalt::integrity::rootfs::RootFs;
    use basalt::posture::audit::{AuditPolicy, audit};
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("basalt-fuzz-image-{}-{n}", std::process::id()));
    if std::fs::write(&path, bytes).is_err() {
        return;
    }
    if let Ok(fs) = RootFs::open_image(&path) {
        let _ = audit(&fs, &AuditPolicy::default(), 0);
    }
    let _ = std::fs::remove_file(&path);
}

/// What a bootable build reads from outside: kernel modules (`.modinfo` of an ELF, gzip
/// inflated), boot images (the setup header's version), EFI stubs (PE headers) and CA
/// certificates (PEM, DER subject names): no panic, whatever the bytes.
pub fn boot_inputs(bytes: &[u8]) {
    use basalt::build::{certs, kernel, uki};
    let _ = kernel::modinfo("fuzz.ko", bytes);
    let _ = kernel::modinfo("fuzz.ko.gz", bytes);
    let _ = kernel::bzimage_version("vmlinuz", bytes);
    let _ = kernel::parse_builtin(&String::from_utf8_lossy(bytes));
    let sections = uki::Sections {
        osrel: b"ID=alpine\n".to_vec(),
        cmdline: b"console=ttyS0".to_vec(),
        uname: b"6.1.0".to_vec(),
        initrd: vec![0; 16],
        linux: vec![0; 16],
    };
    let _ = uki::build("stub", bytes, &sections);
    let _ = uki::sections(bytes);
    let _ = certs::subject_hash(bytes);
    for der in certs::pem_certificates(bytes) {
        let _ = certs::subject_hash(&der);
    }
}

fn small_limits() -> basalt::apk::Limits {
    basalt::apk::Limits {
        signature_member: 1 << 16,
        control_member: 1 << 20,
        data_member: 1 << 22,
        index_member: 1 << 22,
    }
}

/// The APKINDEX text parser and the whole `APKINDEX.tar.gz` reader on arbitrary bytes: errors
/// are fine, panics and unbounded work are not.
pub fn index(data: &[u8]) {
    use basalt::apk::{Keyring, index};
    if let Ok(entries) = index::parse_apkindex(data) {
        let text = index::render_apkindex(&entries);
        assert_eq!(index::parse_apkindex(text.as_bytes()).unwrap(), entries);
    }
    let _ = index::read_index(data, "fuzz", &Keyring::alpine(), &small_limits());
}

/// The installed database parsers on arbitrary bytes: no panic, and whatever parses writes
/// back to bytes that parse to the same value.
pub fn installed(bytes: &[u8]) {
    use basalt::apk::installed::{Database, Scripts, Triggers, World};
    if let Ok(db) = Database::parse(bytes) {
        let written = db.to_bytes().expect("a parsed database can be written");
        assert_eq!(Database::parse(&written).unwrap(), db);
        let _ = db.owners();
    }
    if let Ok(scripts) = Scripts::parse(bytes)
        && let Ok(written) = scripts.to_bytes()
    {
        assert_eq!(Scripts::parse(&written).unwrap(), scripts);
    }
    if let Ok(triggers) = Triggers::parse(bytes)
        && let Ok(written) = triggers.to_bytes()
    {
        assert_eq!(Triggers::parse(&written).unwrap(), triggers);
    }
    if let Ok(world) = World::parse(bytes) {
        assert_eq!(World::parse(&world.to_bytes().unwrap()).unwrap(), world);
    }
}

/// The manifest parser: arbitrary bytes never panic, and anything accepted is canonical
/// (rendering it back gives the same bytes).
pub fn manifest(data: &[u8]) {
    use basalt::integrity::manifest::Manifest;
    if let Ok(manifest) = Manifest::parse(data) {
        assert_eq!(manifest.render(), data);
        let _ = manifest.to_mtree();
        let _ = manifest.to_json();
    }
}

/// The streaming `.apk` reader on arbitrary bytes, with small inflation limits: errors are
/// fine, panics, path escapes and unbounded work are not.
pub fn package(data: &[u8]) {
    use basalt::apk::Keyring;
    use basalt::apk::package::{ReadOptions, read_package};
    let ring = Keyring::alpine();
    let mut opts = ReadOptions::new(&ring);
    opts.limits = small_limits();
    let _ = read_package(data, "fuzz", &opts, |entry, content| {
        assert!(!entry.path.starts_with('/') && !entry.path.split('/').any(|p| p == ".."));
        std::io::copy(content, &mut std::io::sink()).map(|_| ())
    });
}

/// The `.PKGINFO` parser; a parsed value renders and parses back to itself.
pub fn pkginfo(data: &[u8]) {
    use basalt::apk::PkgInfo;
    if let Ok(info) = PkgInfo::parse(data) {
        let again = PkgInfo::parse(info.to_string().as_bytes()).expect("rendered .PKGINFO parses");
        assert_eq!(again, info);
    }
}

/// Profile text → validated profile → rendered files: never a panic, and every diagnostic
/// points inside the text.
pub fn profile_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match basalt::profile::parse(text, Path::new("fuzz.toml")) {
        Ok(profile) => {
            let rendered =
                basalt::build::render::render(&profile, &basalt::build::render::Sources::default());
            // The built-in templates render for every valid profile.
            if profile.files.extra.is_empty() && profile.files.templates.is_none() {
                let files = rendered.expect("the built-in templates render");
                let _ = basalt::build::render::weakenings(&profile, &files);
            }
        }
        Err(err) => {
            let lines = text.lines().count() + 1;
            for d in err.diagnostics() {
                assert!(d.line >= 1 && d.line <= lines && d.column >= 1);
            }
        }
    }
}

/// Version parsing and ordering: never panics, `compare` is antisymmetric, and
/// `Version::parse` accepts exactly what `is_valid` accepts (within the length limit).
pub fn version(data: &[u8]) {
    use basalt::apk::version::{self, Version};
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_at(
        text.char_indices()
            .nth(text.chars().count() / 2)
            .map_or(0, |(i, _)| i),
    );
    assert_eq!(version::compare(a, b), version::compare(b, a).reverse());
    assert_eq!(version::compare(a, a), Ordering::Equal);
    let _ = version::compare_fuzzy(a, b);
    match Version::parse(a) {
        Ok(v) => {
            assert!(version::is_valid(a));
            assert_eq!(v.as_str(), a);
        }
        Err(_) => assert!(!version::is_valid(a) || a.len() > version::MAX_LEN),
    }
}
