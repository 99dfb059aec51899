//! A small writer of real APK packages and APKINDEX files, for fixtures built in code.
//!
//! ```ignore
//! let key = TestKey::primary();
//! let busybox = ApkBuilder::new("busybox", "1.36.1-r0")
//!     .depend("so:libc.musl-x86_64.so.1")
//!     .provide("cmd:busybox=1.36.1-r0")
//!     .file("bin/busybox", b"\x7fELF...", 0o755)
//!     .symlink("bin/sh", "/bin/busybox")
//!     .script(".post-install", b"#!/bin/sh\n")
//!     .build_signed(key);
//! let index = IndexBuilder::new().description("test").package(&busybox).build_signed(key);
//! ```
//!
//! Packages are byte-for-byte what abuild writes: three gzip members (signature, control,
//! data), the first two tars without end-of-archive blocks, `APK-TOOLS.checksum.SHA1` PAX
//! records on files and symlinks, `datahash` in `.PKGINFO`. Names are written as given
//! (`..` and absolute names included), so hostile packages are easy to make; the helpers at
//! the end damage finished bytes (flip, truncate, append) per gzip member.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use flate2::Compression;
use flate2::write::GzEncoder;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::{Pkcs1v15Sign, PrivateKey};
use sha1::{Digest as _, Sha1};
use sha2::{Sha256, Sha512};

use basalt::apk::Keyring;
use basalt::apk::keys::SignatureAlgorithm;

/// An RSA key pair committed under `tests/support`, named like an Alpine key file.
pub struct TestKey {
    /// The key's file name, as it appears in `.SIGN.RSA.<name>`.
    pub name: String,
    private: PrivateKey,
    /// The public key in PEM (SubjectPublicKeyInfo).
    pub public_pem: String,
}

impl TestKey {
    fn load(name: &str, private: &str, public: &str) -> TestKey {
        TestKey {
            name: name.to_owned(),
            private: PrivateKey::from_pkcs8_pem(private).expect("test key parses"),
            public_pem: public.to_owned(),
        }
    }

    /// The key fixtures are signed with (`basalt-test-5f3c2a10.rsa.pub`).
    pub fn primary() -> &'static TestKey {
        static KEY: OnceLock<TestKey> = OnceLock::new();
        KEY.get_or_init(|| {
            TestKey::load(
                "basalt-test-5f3c2a10.rsa.pub",
                include_str!("test-key.rsa"),
                include_str!("test-key.rsa.pub"),
            )
        })
    }

    /// A second key, for "signed by a key that is not trusted".
    pub fn other() -> &'static TestKey {
        static KEY: OnceLock<TestKey> = OnceLock::new();
        KEY.get_or_init(|| {
            TestKey::load(
                "someone-else-0badc0de.rsa.pub",
                include_str!("other-key.rsa"),
                include_str!("other-key.rsa.pub"),
            )
        })
    }

    /// A keyring trusting only this key.
    pub fn keyring(&self) -> Keyring {
        let mut ring = Keyring::empty();
        ring.add_pem(&self.name, &self.public_pem)
            .expect("test key loads");
        ring
    }

    /// Writes the public key as `<dir>/<name>` and returns the path.
    pub fn write_public(&self, dir: &Path) -> PathBuf {
        let path = dir.join(&self.name);
        fs_err::write(&path, &self.public_pem).unwrap();
        path
    }

    /// Signs `data` as apk-tools does (PKCS#1 v1.5 over the digest of `data`).
    pub fn sign(&self, algorithm: SignatureAlgorithm, data: &[u8]) -> Vec<u8> {
        let result = match algorithm {
            SignatureAlgorithm::RsaSha1 => self
                .private
                .sign(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(data)),
            SignatureAlgorithm::RsaSha256 => self
                .private
                .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(data)),
            SignatureAlgorithm::RsaSha512 => self
                .private
                .sign(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(data)),
        };
        result.expect("signing works")
    }
}

/// File content: bytes, or a run of zeros produced without allocating it (for bombs).
#[derive(Clone, Debug)]
pub enum Content {
    /// These bytes.
    Bytes(Vec<u8>),
    /// This many zero bytes.
    Zeros(u64),
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Zeros(n) => *n,
        }
    }

    fn sha1(&self) -> [u8; 20] {
        let mut h = Sha1::new();
        self.each_chunk(|c| h.update(c));
        h.finalize().into()
    }

    fn each_chunk(&self, mut f: impl FnMut(&[u8])) {
        match self {
            Content::Bytes(b) => f(b),
            Content::Zeros(n) => {
                let zeros = vec![0u8; 1 << 16];
                let mut left = *n;
                while left > 0 {
                    let take = left.min(zeros.len() as u64);
                    f(&zeros[..usize::try_from(take).unwrap()]);
                    left -= take;
                }
            }
        }
    }
}

/// One data entry, written exactly as described.
#[derive(Clone, Debug)]
pub struct TestEntry {
    /// The tar name, written as is.
    pub path: String,
    /// Tar type flag (`b'0'` file, `b'1'` hard link, `b'2'` symlink, `b'5'` directory, …).
    pub typeflag: u8,
    /// Mode bits.
    pub mode: u32,
    /// Owner and group names.
    pub uname: String,
    /// Group name.
    pub gname: String,
    /// Numeric ids.
    pub uid: u64,
    /// Numeric group id.
    pub gid: u64,
    /// Link target (links only).
    pub link: String,
    /// Content (files only).
    pub content: Content,
    /// The checksum record to write: `None` computes the right one, `Some("")` omits it,
    /// anything else is written as is (a wrong checksum).
    pub checksum: Option<String>,
    /// Extra PAX records (for example `SCHILY.xattr.security.capability`).
    pub pax: Vec<(String, Vec<u8>)>,
}

impl TestEntry {
    fn new(path: &str, typeflag: u8, mode: u32) -> TestEntry {
        TestEntry {
            path: path.to_owned(),
            typeflag,
            mode,
            uname: "root".into(),
            gname: "root".into(),
            uid: 0,
            gid: 0,
            link: String::new(),
            content: Content::Bytes(Vec::new()),
            checksum: None,
            pax: Vec::new(),
        }
    }
}

/// Builds one package, in the words of a package's metadata.
#[derive(Clone, Debug)]
pub struct ApkBuilder {
    /// `pkgname`.
    pub name: String,
    /// `pkgver`.
    pub version: String,
    /// `arch`.
    pub arch: String,
    /// `pkgdesc`.
    pub description: String,
    /// `url`.
    pub url: String,
    /// `license`.
    pub license: String,
    /// `origin` (defaults to the name).
    pub origin: Option<String>,
    /// `maintainer`.
    pub maintainer: Option<String>,
    /// `builddate`.
    pub build_date: u64,
    /// `commit`.
    pub commit: Option<String>,
    /// `depend` atoms.
    pub depends: Vec<String>,
    /// `provides` atoms.
    pub provides: Vec<String>,
    /// `install_if` atoms.
    pub install_if: Vec<String>,
    /// `replaces` names.
    pub replaces: Vec<String>,
    /// `triggers` globs.
    pub triggers: Vec<String>,
    /// `provider_priority`.
    pub provider_priority: Option<u64>,
    /// `replaces_priority`.
    pub replaces_priority: Option<u64>,
    /// Extra `.PKGINFO` lines, in order.
    pub extra_pkginfo: Vec<(String, String)>,
    /// Control files other than `.PKGINFO`.
    pub scripts: Vec<(String, Content)>,
    /// Data entries, in order.
    pub entries: Vec<TestEntry>,
    /// Write `datahash` into `.PKGINFO` (true by default); `Some` overrides its value.
    pub datahash: Option<Option<String>>,
    /// Signature algorithm (`.SIGN.RSA.` by default).
    pub algorithm: SignatureAlgorithm,
    /// Replace `.PKGINFO` by these bytes.
    pub raw_pkginfo: Option<Vec<u8>>,
}

/// A finished package and the facts an index needs about it.
#[derive(Clone, Debug)]
pub struct BuiltApk {
    /// The `.apk` bytes.
    pub bytes: Vec<u8>,
    /// `pkgname`.
    pub name: String,
    /// `pkgver`.
    pub version: String,
    /// `arch`.
    pub arch: String,
    /// `Q1…` identity.
    pub identity: String,
    /// Hex SHA-256 of the data member.
    pub datahash: String,
    /// Byte ranges of the gzip members in `bytes`.
    pub members: Vec<std::ops::Range<usize>>,
    /// The `APKINDEX` stanza (without the trailing blank line).
    pub stanza: String,
    /// The `.PKGINFO` text.
    pub pkginfo: String,
}

impl BuiltApk {
    /// `<name>-<version>.apk`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.apk", self.name, self.version)
    }
}

impl ApkBuilder {
    /// A package with the given name and version, for `x86_64`, without files.
    pub fn new(name: &str, version: &str) -> ApkBuilder {
        ApkBuilder {
            name: name.into(),
            version: version.into(),
            arch: "x86_64".into(),
            description: format!("{name} test package"),
            url: "https://example.org/".into(),
            license: "MIT".into(),
            origin: None,
            maintainer: None,
            build_date: 1_700_000_000,
            commit: None,
            depends: Vec::new(),
            provides: Vec::new(),
            install_if: Vec::new(),
            replaces: Vec::new(),
            triggers: Vec::new(),
            provider_priority: None,
            replaces_priority: None,
            extra_pkginfo: Vec::new(),
            scripts: Vec::new(),
            entries: Vec::new(),
            datahash: None,
            algorithm: SignatureAlgorithm::RsaSha1,
            raw_pkginfo: None,
        }
    }

    /// Sets `arch`.
    #[must_use]
    pub fn arch(mut self, arch: &str) -> Self {
        arch.clone_into(&mut self.arch);
        self
    }

    /// Sets `pkgdesc`.
    #[must_use]
    pub fn description(mut self, text: &str) -> Self {
        text.clone_into(&mut self.description);
        self
    }

    /// Sets `origin`.
    #[must_use]
    pub fn origin(mut self, origin: &str) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Sets `maintainer`.
    #[must_use]
    pub fn maintainer(mut self, who: &str) -> Self {
        self.maintainer = Some(who.into());
        self
    }

    /// Sets `license`.
    #[must_use]
    pub fn license(mut self, license: &str) -> Self {
        license.clone_into(&mut self.license);
        self
    }

    /// Sets `builddate`.
    #[must_use]
    pub fn build_date(mut self, seconds: u64) -> Self {
        self.build_date = seconds;
        self
    }

    /// Sets `commit`.
    #[must_use]
    pub fn commit(mut self, commit: &str) -> Self {
        self.commit = Some(commit.into());
        self
    }

    /// Adds a `depend` atom.
    #[must_use]
    pub fn depend(mut self, atom: &str) -> Self {
        self.depends.push(atom.into());
        self
    }

    /// Adds a `provides` atom.
    #[must_use]
    pub fn provide(mut self, atom: &str) -> Self {
        self.provides.push(atom.into());
        self
    }

    /// Adds an `install_if` atom.
    #[must_use]
    pub fn install_if(mut self, atom: &str) -> Self {
        self.install_if.push(atom.into());
        self
    }

    /// Adds a `replaces` name.
    #[must_use]
    pub fn replaces(mut self, name: &str) -> Self {
        self.replaces.push(name.into());
        self
    }

    /// Adds a `triggers` glob.
    #[must_use]
    pub fn trigger(mut self, glob: &str) -> Self {
        self.triggers.push(glob.into());
        self
    }

    /// Sets `provider_priority`.
    #[must_use]
    pub fn provider_priority(mut self, priority: u64) -> Self {
        self.provider_priority = Some(priority);
        self
    }

    /// Sets `replaces_priority`.
    #[must_use]
    pub fn replaces_priority(mut self, priority: u64) -> Self {
        self.replaces_priority = Some(priority);
        self
    }

    /// Adds a `.PKGINFO` line.
    #[must_use]
    pub fn pkginfo_field(mut self, key: &str, value: &str) -> Self {
        self.extra_pkginfo.push((key.into(), value.into()));
        self
    }

    /// Replaces `.PKGINFO` entirely.
    #[must_use]
    pub fn raw_pkginfo(mut self, bytes: &[u8]) -> Self {
        self.raw_pkginfo = Some(bytes.to_vec());
        self
    }

    /// Leaves `datahash` out of `.PKGINFO`.
    #[must_use]
    pub fn without_datahash(mut self) -> Self {
        self.datahash = Some(None);
        self
    }

    /// Writes this (wrong) `datahash` into `.PKGINFO`.
    #[must_use]
    pub fn wrong_datahash(mut self, hex: &str) -> Self {
        self.datahash = Some(Some(hex.into()));
        self
    }

    /// Signs with this algorithm.
    #[must_use]
    pub fn algorithm(mut self, algorithm: SignatureAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Adds a control script (`.pre-install`, `.post-install`, `.trigger`, …).
    #[must_use]
    pub fn script(mut self, name: &str, body: &[u8]) -> Self {
        self.scripts
            .push((name.into(), Content::Bytes(body.to_vec())));
        self
    }

    /// Adds a control file of `size` zero bytes (a bomb in the control member).
    #[must_use]
    pub fn zero_script(mut self, name: &str, size: u64) -> Self {
        self.scripts.push((name.into(), Content::Zeros(size)));
        self
    }

    /// Adds a regular file.
    #[must_use]
    pub fn file(mut self, path: &str, content: &[u8], mode: u32) -> Self {
        let mut e = TestEntry::new(path, b'0', mode);
        e.content = Content::Bytes(content.to_vec());
        self.entries.push(e);
        self
    }

    /// Adds a regular file of `size` zero bytes, never held in memory (a bomb when large).
    #[must_use]
    pub fn zero_file(mut self, path: &str, size: u64) -> Self {
        let mut e = TestEntry::new(path, b'0', 0o644);
        e.content = Content::Zeros(size);
        self.entries.push(e);
        self
    }

    /// Adds a directory.
    #[must_use]
    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        self.entries.push(TestEntry::new(path, b'5', mode));
        self
    }

    /// Adds a symbolic link.
    #[must_use]
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut e = TestEntry::new(path, b'2', 0o777);
        target.clone_into(&mut e.link);
        self.entries.push(e);
        self
    }

    /// Adds a hard link to an earlier entry.
    #[must_use]
    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut e = TestEntry::new(path, b'1', 0o644);
        target.clone_into(&mut e.link);
        self.entries.push(e);
        self
    }

    /// Sets owner and group (names and ids) of the last entry added.
    #[must_use]
    pub fn owned(mut self, uname: &str, uid: u64, gname: &str, gid: u64) -> Self {
        let e = self.entries.last_mut().expect("an entry to own");
        uname.clone_into(&mut e.uname);
        gname.clone_into(&mut e.gname);
        e.uid = uid;
        e.gid = gid;
        self
    }

    /// Writes this checksum record on the last entry (`""` omits it).
    #[must_use]
    pub fn checksum_record(mut self, value: &str) -> Self {
        self.entries.last_mut().expect("an entry").checksum = Some(value.into());
        self
    }

    /// Adds a PAX record to the last entry (for example an extended attribute).
    #[must_use]
    pub fn pax(mut self, key: &str, value: &[u8]) -> Self {
        let e = self.entries.last_mut().expect("an entry");
        e.pax.push((key.into(), value.to_vec()));
        self
    }

    /// Adds an entry described in full.
    #[must_use]
    pub fn entry(mut self, entry: TestEntry) -> Self {
        self.entries.push(entry);
        self
    }

    fn installed_size(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| e.content.len())
            .sum::<u64>()
            .max(1)
    }

    fn pkginfo_text(&self, datahash: &str) -> String {
        use std::fmt::Write as _;
        let mut s = String::from("# Generated by basalt tests\n");
        let mut line = |k: &str, v: &str| {
            let _ = writeln!(s, "{k} = {v}");
        };
        line("pkgname", &self.name);
        line("pkgver", &self.version);
        line("pkgdesc", &self.description);
        line("url", &self.url);
        line("builddate", &self.build_date.to_string());
        line("packager", "basalt tests <tests@example.org>");
        line("size", &self.installed_size().to_string());
        line("arch", &self.arch);
        line("origin", self.origin.as_deref().unwrap_or(&self.name));
        if let Some(c) = &self.commit {
            line("commit", c);
        }
        if let Some(m) = &self.maintainer {
            line("maintainer", m);
        }
        line("license", &self.license);
        if !self.replaces.is_empty() {
            line("replaces", &self.replaces.join(" "));
        }
        if let Some(p) = self.provider_priority {
            line("provider_priority", &p.to_string());
        }
        if let Some(p) = self.replaces_priority {
            line("replaces_priority", &p.to_string());
        }
        if !self.triggers.is_empty() {
            line("triggers", &self.triggers.join(" "));
        }
        if !self.install_if.is_empty() {
            line("install_if", &self.install_if.join(" "));
        }
        for p in &self.provides {
            line("provides", p);
        }
        for d in &self.depends {
            line("depend", d);
        }
        for (k, v) in &self.extra_pkginfo {
            line(k, v);
        }
        match &self.datahash {
            None => line("datahash", datahash),
            Some(Some(v)) => line("datahash", v),
            Some(None) => {}
        }
        s
    }

    fn data_member(&self) -> Vec<u8> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::new(6));
        for e in &self.entries {
            let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
            let checksum = match e.typeflag {
                b'0' => Some(hex::encode(e.content.sha1())),
                b'2' => Some(hex::encode(Sha1::digest(e.link.as_bytes()))),
                _ => None,
            };
            match (&e.checksum, checksum) {
                (None, Some(c)) => pax.push(("APK-TOOLS.checksum.SHA1".into(), c.into_bytes())),
                (Some(v), _) if !v.is_empty() => {
                    pax.push(("APK-TOOLS.checksum.SHA1".into(), v.clone().into_bytes()));
                }
                _ => {}
            }
            pax.extend(e.pax.iter().cloned());
            let size = if e.typeflag == b'0' {
                e.content.len()
            } else {
                0
            };
            write_entry(&mut gz, e, size, &pax);
            if e.typeflag == b'0' {
                e.content.each_chunk(|c| gz.write_all(c).unwrap());
                pad(&mut gz, size);
            }
        }
        gz.write_all(&[0u8; 1024]).unwrap();
        gz.finish().unwrap()
    }

    fn control_member(&self, datahash: &str) -> (Vec<u8>, String) {
        let text = self.pkginfo_text(datahash);
        let pkginfo = self
            .raw_pkginfo
            .clone()
            .unwrap_or_else(|| text.clone().into_bytes());
        let mut gz = GzEncoder::new(Vec::new(), Compression::new(6));
        let mut files = vec![(".PKGINFO".to_owned(), Content::Bytes(pkginfo))];
        files.extend(self.scripts.iter().cloned());
        for (name, content) in &files {
            let mut e = TestEntry::new(name, b'0', if name == ".PKGINFO" { 0o644 } else { 0o755 });
            e.content = content.clone();
            write_entry(&mut gz, &e, content.len(), &[]);
            content.each_chunk(|c| gz.write_all(c).unwrap());
            pad(&mut gz, content.len());
        }
        (gz.finish().unwrap(), text)
    }

    fn assemble(&self, key: Option<&TestKey>) -> BuiltApk {
        let data = self.data_member();
        let datahash = hex::encode(Sha256::digest(&data));
        let (control, pkginfo) = self.control_member(&datahash);
        let identity = format!(
            "Q1{}",
            base64::engine::general_purpose::STANDARD.encode(Sha1::digest(&control))
        );
        let signature = key.map(|k| signature_member(k, self.algorithm, &control));
        let mut bytes = Vec::new();
        let mut members = Vec::new();
        for part in [signature.as_deref(), Some(&control[..]), Some(&data[..])]
            .into_iter()
            .flatten()
        {
            members.push(bytes.len()..bytes.len() + part.len());
            bytes.extend_from_slice(part);
        }
        let stanza = self.stanza(&identity, bytes.len() as u64);
        BuiltApk {
            bytes,
            name: self.name.clone(),
            version: self.version.clone(),
            arch: self.arch.clone(),
            identity,
            datahash,
            members,
            stanza,
            pkginfo,
        }
    }

    fn stanza(&self, identity: &str, size: u64) -> String {
        let mut lines = vec![
            format!("C:{identity}"),
            format!("P:{}", self.name),
            format!("V:{}", self.version),
            format!("A:{}", self.arch),
            format!("S:{size}"),
            format!("I:{}", self.installed_size()),
            format!("T:{}", self.description),
            format!("U:{}", self.url),
            format!("L:{}", self.license),
            format!("o:{}", self.origin.as_deref().unwrap_or(&self.name)),
        ];
        if let Some(m) = &self.maintainer {
            lines.push(format!("m:{m}"));
        }
        lines.push(format!("t:{}", self.build_date));
        if let Some(c) = &self.commit {
            lines.push(format!("c:{c}"));
        }
        if let Some(k) = self.provider_priority {
            lines.push(format!("k:{k}"));
        }
        for (field, list) in [
            ('D', &self.depends),
            ('p', &self.provides),
            ('i', &self.install_if),
            ('r', &self.replaces),
        ] {
            if !list.is_empty() {
                lines.push(format!("{field}:{}", list.join(" ")));
            }
        }
        if let Some(q) = self.replaces_priority {
            lines.push(format!("q:{q}"));
        }
        lines.join("\n")
    }

    /// The package signed by `key`.
    pub fn build_signed(&self, key: &TestKey) -> BuiltApk {
        self.assemble(Some(key))
    }

    /// The package without a signature member.
    pub fn build_unsigned(&self) -> BuiltApk {
        self.assemble(None)
    }
}

fn signature_member(key: &TestKey, algorithm: SignatureAlgorithm, signed: &[u8]) -> Vec<u8> {
    let sig = key.sign(algorithm, signed);
    let name = format!("{}{}", algorithm.file_prefix(), key.name);
    let mut gz = GzEncoder::new(Vec::new(), Compression::new(6));
    let mut e = TestEntry::new(&name, b'0', 0o644);
    e.content = Content::Bytes(sig.clone());
    write_entry(&mut gz, &e, sig.len() as u64, &[]);
    gz.write_all(&sig).unwrap();
    pad(&mut gz, sig.len() as u64);
    gz.finish().unwrap()
}

fn pad(w: &mut impl std::io::Write, size: u64) {
    let n = (512 - size % 512) % 512;
    w.write_all(&vec![0u8; usize::try_from(n).unwrap()])
        .unwrap();
}

fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    assert!(
        text.len() <= width,
        "value {value} too large for a tar field"
    );
    field[..width].copy_from_slice(text.as_bytes());
    field[width] = 0;
}

fn pax_records(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let body = k.len() + v.len() + 3; // ' ' '=' '\n'
        let mut len = body + 1;
        while body + len.to_string().len() != len {
            len = body + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {k}=").as_bytes());
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

fn header(
    name: &[u8],
    typeflag: u8,
    mode: u32,
    size: u64,
    e: &TestEntry,
    link: &[u8],
) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], e.uid);
    octal(&mut h[116..124], e.gid);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = typeflag;
    h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    let u = e.uname.as_bytes();
    h[265..265 + u.len().min(32)].copy_from_slice(&u[..u.len().min(32)]);
    let g = e.gname.as_bytes();
    h[297..297 + g.len().min(32)].copy_from_slice(&g[..g.len().min(32)]);
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

/// Writes a PAX header (when needed) and the entry's ustar header.
fn write_entry(w: &mut impl std::io::Write, e: &TestEntry, size: u64, pax: &[(String, Vec<u8>)]) {
    let mut records = pax.to_vec();
    if e.path.len() > 100 {
        records.insert(0, ("path".into(), e.path.clone().into_bytes()));
    }
    if e.link.len() > 100 {
        records.insert(0, ("linkpath".into(), e.link.clone().into_bytes()));
    }
    if !records.is_empty() {
        let data = pax_records(&records);
        let pax_name = format!("PaxHeaders/{}", e.path.rsplit('/').next().unwrap_or(""));
        let h = header(pax_name.as_bytes(), b'x', 0o644, data.len() as u64, e, b"");
        w.write_all(&h).unwrap();
        w.write_all(&data).unwrap();
        pad(w, data.len() as u64);
    }
    let h = header(
        e.path.as_bytes(),
        e.typeflag,
        e.mode,
        size,
        e,
        e.link.as_bytes(),
    );
    w.write_all(&h).unwrap();
}

/// Builds an `APKINDEX.tar.gz`.
#[derive(Clone, Debug, Default)]
pub struct IndexBuilder {
    description: Option<String>,
    stanzas: Vec<String>,
    algorithm: Option<SignatureAlgorithm>,
    extra_files: Vec<(String, Vec<u8>)>,
}

impl IndexBuilder {
    /// An empty index.
    pub fn new() -> IndexBuilder {
        IndexBuilder::default()
    }

    /// Sets `DESCRIPTION`.
    #[must_use]
    pub fn description(mut self, text: &str) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Adds a package's stanza (with its real `C:`, `S:` and `I:`).
    #[must_use]
    pub fn package(mut self, apk: &BuiltApk) -> Self {
        self.stanzas.push(apk.stanza.clone());
        self
    }

    /// Adds a stanza written by hand (lines without the trailing blank line).
    #[must_use]
    pub fn stanza(mut self, text: &str) -> Self {
        self.stanzas.push(text.trim_end().into());
        self
    }

    /// Signs with this algorithm (`.SIGN.RSA.` by default).
    #[must_use]
    pub fn algorithm(mut self, algorithm: SignatureAlgorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// The `APKINDEX` text.
    pub fn apkindex_text(&self) -> String {
        let mut s = String::new();
        for stanza in &self.stanzas {
            s.push_str(stanza);
            s.push_str("\n\n");
        }
        s
    }

    fn index_member(&self) -> Vec<u8> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::new(6));
        let mut files = Vec::new();
        if let Some(d) = &self.description {
            files.push(("DESCRIPTION".to_owned(), d.clone().into_bytes()));
        }
        files.push(("APKINDEX".to_owned(), self.apkindex_text().into_bytes()));
        files.extend(self.extra_files.iter().cloned());
        for (name, bytes) in &files {
            let mut e = TestEntry::new(name, b'0', 0o644);
            e.content = Content::Bytes(bytes.clone());
            write_entry(&mut gz, &e, bytes.len() as u64, &[]);
            gz.write_all(bytes).unwrap();
            pad(&mut gz, bytes.len() as u64);
        }
        gz.write_all(&[0u8; 1024]).unwrap();
        gz.finish().unwrap()
    }

    /// The index signed by `key`.
    pub fn build_signed(&self, key: &TestKey) -> Vec<u8> {
        let index = self.index_member();
        let alg = self.algorithm.unwrap_or(SignatureAlgorithm::RsaSha1);
        [signature_member(key, alg, &index), index].concat()
    }

    /// The index without a signature member.
    pub fn build_unsigned(&self) -> Vec<u8> {
        self.index_member()
    }
}

/// Writes a repository: `<dir>/<arch>/<file>.apk` for every package and a signed
/// `<dir>/<arch>/APKINDEX.tar.gz` listing them. Returns `<dir>/<arch>`.
pub fn write_repository(dir: &Path, arch: &str, packages: &[BuiltApk], key: &TestKey) -> PathBuf {
    let arch_dir = dir.join(arch);
    fs_err::create_dir_all(&arch_dir).unwrap();
    let mut index = IndexBuilder::new().description("basalt test repository");
    for p in packages {
        fs_err::write(arch_dir.join(p.file_name()), &p.bytes).unwrap();
        index = index.package(p);
    }
    fs_err::write(arch_dir.join("APKINDEX.tar.gz"), index.build_signed(key)).unwrap();
    arch_dir
}

/// Byte ranges of the gzip members of `bytes` (found by inflating each in turn).
pub fn gzip_members(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let mut d = flate2::bufread::GzDecoder::new(&bytes[start..]);
        std::io::copy(&mut d, &mut std::io::sink()).expect("valid gzip member");
        let rest = d.into_inner().len();
        let end = bytes.len() - rest;
        out.push(start..end);
        start = end;
    }
    out
}

/// `bytes` with one byte of gzip member `member` (0-based) flipped, in the middle of its
/// compressed data.
pub fn flip_in_member(bytes: &[u8], member: usize) -> Vec<u8> {
    let range = gzip_members(bytes)[member].clone();
    let mut out = bytes.to_vec();
    let at = range.start + (range.end - range.start) / 2;
    out[at] ^= 0x01;
    out
}

/// `bytes` with `garbage` appended.
pub fn with_trailing(bytes: &[u8], garbage: &[u8]) -> Vec<u8> {
    [bytes, garbage].concat()
}

/// Members of `a` replaced, by position, with the members of `b` (0-based indices).
pub fn splice_members(a: &[u8], b: &[u8], take_from_b: &[usize]) -> Vec<u8> {
    let ma = gzip_members(a);
    let mb = gzip_members(b);
    let mut out = Vec::new();
    for (i, range) in ma.iter().enumerate() {
        if take_from_b.contains(&i) {
            out.extend_from_slice(&b[mb[i].clone()]);
        } else {
            out.extend_from_slice(&a[range.clone()]);
        }
    }
    out
}
