//! Kernels and bootable outputs, built from the minimal profile and Debian's kernel (unpacked
//! by `ci/install-test-deps`, never installed):
//!
//! - `--kernel`/`--kernel-modules`: only the modules a host needs, with their dependencies, a
//!   `modules.dep` that lists every dependency (as depmod does, checked against the modules'
//!   own `.modinfo`) and a `modules.alias`; all listed in the manifest, the SBOM and the
//!   report; the initramfs is a `newc` archive GNU cpio reads, the UKI has the UKI sections
//!   at page-aligned addresses after the stub's (objdump reads them), `.linux` last; every
//!   output byte-identical across directories, umask, time zone and user;
//! - `[boot] kernel = "linux-virt"`: a kernel package (built in code, carrying Debian's
//!   kernel and some of its modules) is locked and installed like any package, and its boot
//!   image and modules are the image's kernel;
//! - usage errors: a UKI without stub, boot outputs without kernel, two kernels.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::apk::{ApkBuilder, TestKey, write_repository};
use support::boot::show;
use support::vm;

const BIN: &str = env!("CARGO_BIN_EXE_basalt");
const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";

fn profile() -> PathBuf {
    support::offline_profile()
}

struct Run<'a> {
    cwd: &'a Path,
    umask: &'a str,
    tz: &'a str,
    user: Option<&'a str>,
}

fn build(repo: &Path, profile: &Path, out: &Path, run: &Run<'_>, extra: &[&str]) -> Output {
    let mut command = match run.user {
        Some(user) => {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={user}"),
                &format!("--regid={user}"),
                "--clear-groups",
                "--",
                "sh",
            ]);
            c
        }
        None => Command::new("sh"),
    };
    command
        .arg("-c")
        .arg(format!("umask {} && exec \"$@\"", run.umask))
        .arg("sh")
        .arg(BIN)
        .arg("build")
        .arg(profile)
        .arg("--repository")
        .arg(repo)
        .arg("--offline")
        .arg("--cache-dir")
        .arg(out.with_extension("cache"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .current_dir(run.cwd)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", run.cwd)
        .env("TZ", run.tz)
        .env("SOURCE_DATE_EPOCH", "1700000000");
    command.output().unwrap()
}

fn open_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("chmod")
        .arg("0777")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

/// `path: dep dep` lines of a `modules.dep`.
fn parse_dep(text: &str) -> BTreeMap<String, Vec<String>> {
    text.lines()
        .map(|l| {
            let (m, deps) = l.split_once(':').unwrap();
            (
                m.to_owned(),
                deps.split_whitespace().map(str::to_owned).collect(),
            )
        })
        .collect()
}

#[test]
fn a_kernel_built_elsewhere_boots_from_reproducible_initramfs_and_uki() {
    let test = "a_kernel_built_elsewhere_boots_from_reproducible_initramfs_and_uki";
    let Some(data) = support::shared_data(test) else {
        return;
    };
    let Some(kernel) = vm::test_kernel(test) else {
        return;
    };
    let Some(stub) = vm::debian_file(test, STUB) else {
        return;
    };
    if !vm::have_tools(test, &["cpio", "objdump"]) {
        return;
    }
    let repo = data.join("alpine/repos/v3.19-boot");
    let version = kernel
        .modules
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let a = open_dir();
    let emit = |vmlinuz: &Path, modules: &Path| -> Vec<String> {
        vec![
            "--kernel".into(),
            vmlinuz.display().to_string(),
            "--kernel-modules".into(),
            modules.display().to_string(),
            "--emit".into(),
            "archive,initramfs,uki".into(),
            "--efi-stub".into(),
            stub.display().to_string(),
        ]
    };
    let args = emit(&kernel.vmlinuz, &kernel.modules);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = a.path().join("out");
    let run = Run {
        cwd: a.path(),
        umask: "022",
        tz: "UTC",
        user: None,
    };
    let out = build(&repo, &profile(), &first, &run, &args);
    assert!(out.status.success(), "{}", show(&out));
    let file = |dir: &Path, suffix: &str| {
        fs_err::read(dir.join(format!("minimal-1.0.0.{suffix}"))).unwrap()
    };

    // The report lists the kernel and every file it brought, with their SHA-256.
    let report: serde_json::Value = serde_json::from_slice(&file(&first, "report.json")).unwrap();
    let k = &report["kernel"];
    assert_eq!(k["version"], version.as_str());
    assert_eq!(k["origin"]["kind"], "files");
    let files: Vec<String> = k["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    let base = format!("/lib/modules/{version}/");
    for wanted in [
        "kernel/drivers/net/virtio_net.ko",
        "kernel/drivers/block/virtio_blk.ko",
        "kernel/fs/ext4/ext4.ko",
        "kernel/fs/jbd2/jbd2.ko",
        "modules.dep",
        "modules.alias",
    ] {
        assert!(
            files.contains(&format!("{base}{wanted}")),
            "{wanted} missing: {files:?}"
        );
    }
    // Only what a host needs: a few dozen of Debian's thousands of modules.
    let all = walkdir::WalkDir::new(&kernel.modules)
        .into_iter()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "ko")
        })
        .count();
    let kept = files.iter().filter(|f| f.ends_with(".ko")).count();
    assert!(kept > 20 && kept * 20 < all, "{kept} of {all} modules");
    for f in k["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        let rel = path.strip_prefix(&base).unwrap();
        if rel.ends_with(".ko") {
            let bytes = fs_err::read(kernel.modules.join(rel)).unwrap();
            assert_eq!(
                f["sha256"],
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
            );
        }
    }

    // The manifest names the kernel as the owner of its files; the SBOM lists it.
    let manifest = String::from_utf8(file(&first, "manifest")).unwrap();
    let ext4_line = manifest
        .lines()
        .find(|l| l.starts_with(&format!("{base}kernel/fs/ext4/ext4.ko ")))
        .unwrap();
    assert!(
        ext4_line.ends_with(&format!("package=kernel-{version}")),
        "{ext4_line}"
    );
    let sbom: serde_json::Value = serde_json::from_slice(&file(&first, "spdx.json")).unwrap();
    let kernel_package = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["SPDXID"] == "SPDXRef-Kernel")
        .unwrap();
    assert_eq!(kernel_package["versionInfo"], version.as_str());
    assert_eq!(sbom["files"].as_array().unwrap().len(), files.len());

    // modules.dep: every module's `depends=` (from its own .modinfo, read by the real
    // modinfo format) is listed, transitively, and each dependency's own needs come after it.
    let cpio = gunzip(&file(&first, "cpio.gz"));
    let in_cpio = |name: &str| -> Vec<u8> {
        let (_, at, size) = vm::newc_entries(&cpio)
            .into_iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("no `{name}` in the initramfs"));
        cpio[at..at + size].to_vec()
    };
    let dep = parse_dep(
        &String::from_utf8(in_cpio(&format!("lib/modules/{version}/modules.dep"))).unwrap(),
    );
    let by_name: BTreeMap<String, String> = dep
        .keys()
        .map(|p| (basalt::build::kernel::module_name(p).unwrap(), p.clone()))
        .collect();
    for (module, deps) in &dep {
        let info = basalt::build::kernel::modinfo(
            module,
            &fs_err::read(kernel.modules.join(module)).unwrap(),
        )
        .unwrap();
        for d in &info.depends {
            let path = &by_name[d];
            assert!(deps.contains(path), "{module} lacks {path}");
            let pos = deps.iter().position(|x| x == path).unwrap();
            for dd in &dep[path] {
                let at = deps.iter().position(|x| x == dd).unwrap();
                assert!(at > pos, "{module}: {dd} must come after {path}");
            }
        }
    }

    // The initramfs is a newc archive GNU cpio lists: sorted, with the boot devices.
    let plain = a.path().join("plain.cpio");
    fs_err::write(&plain, &cpio).unwrap();
    let listing = Command::new("cpio")
        .args(["-it", "--quiet"])
        .stdin(std::fs::File::open(&plain).unwrap())
        .output()
        .unwrap();
    assert!(listing.status.success(), "{}", show(&listing));
    let names: Vec<String> = String::from_utf8(listing.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(names.first().map(String::as_str), Some("."));
    assert!(names.iter().any(|n| n == "dev/console"));
    assert!(names.iter().any(|n| n == "sbin/init" || n == "bin/busybox"));
    let tree_part: Vec<&String> = names.iter().filter(|n| !n.starts_with("dev/")).collect();
    let mut sorted = tree_part.clone();
    sorted.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
    assert_eq!(tree_part, sorted);
    assert_eq!(
        String::from_utf8(file(&first, "cmdline")).unwrap(),
        "rdinit=/sbin/init console=tty0 console=ttyS0,115200\n"
    );
    assert_eq!(
        file(&first, "vmlinuz"),
        fs_err::read(&kernel.vmlinuz).unwrap()
    );

    // The UKI: the stub's sections, then .osrel .cmdline .uname .initrd .linux, page-aligned.
    let uki = file(&first, "efi");
    let sections = basalt::build::uki::sections(&uki).unwrap();
    let names: Vec<&str> = sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        &names[names.len() - 5..],
        [".osrel", ".cmdline", ".uname", ".initrd", ".linux"]
    );
    let stub_end = sections[..sections.len() - 5]
        .iter()
        .map(|s| s.address + s.size)
        .max()
        .unwrap();
    let mut previous_end = stub_end;
    for s in &sections[sections.len() - 5..] {
        assert_eq!(s.address % 4096, 0, "{}", s.name);
        assert!(s.address >= previous_end, "{} overlaps", s.name);
        previous_end = s.address + s.size;
    }
    let section = |name: &str| {
        sections
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .data
            .clone()
    };
    assert_eq!(section(".linux"), fs_err::read(&kernel.vmlinuz).unwrap());
    assert_eq!(section(".initrd"), file(&first, "cpio.gz"));
    assert_eq!(section(".uname"), version.as_bytes());
    assert_eq!(
        section(".cmdline"),
        b"rdinit=/sbin/init console=tty0 console=ttyS0,115200"
    );
    assert!(
        String::from_utf8(section(".osrel"))
            .unwrap()
            .contains("ID=alpine")
    );
    let objdump = Command::new("objdump")
        .arg("-h")
        .arg(first.join("minimal-1.0.0.efi"))
        .output()
        .unwrap();
    assert!(objdump.status.success(), "{}", show(&objdump));
    let headers = String::from_utf8(objdump.stdout).unwrap();
    for name in [".osrel", ".cmdline", ".uname", ".initrd", ".linux"] {
        assert!(headers.contains(name), "{headers}");
    }

    // Byte-identical across directories, umask, time zone and user. The unprivileged user
    // cannot read the kernel cache: both builds use a copy of what the first one took.
    let shared = open_dir();
    let modules = shared.path().join(&version);
    for f in &files {
        let rel = f.strip_prefix(&base).unwrap();
        if rel.ends_with(".ko") {
            let dest = modules.join(rel);
            fs_err::create_dir_all(dest.parent().unwrap()).unwrap();
            fs_err::copy(kernel.modules.join(rel), dest).unwrap();
        }
    }
    for index in [
        "modules.builtin",
        "modules.builtin.modinfo",
        "modules.order",
    ] {
        fs_err::copy(kernel.modules.join(index), modules.join(index)).unwrap();
    }
    let vmlinuz = shared.path().join(kernel.vmlinuz.file_name().unwrap());
    fs_err::copy(&kernel.vmlinuz, &vmlinuz).unwrap();
    let stub_copy = shared.path().join("linuxx64.efi.stub");
    fs_err::copy(&stub, &stub_copy).unwrap();
    Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(shared.path())
        .status()
        .unwrap();
    let args = emit(&vmlinuz, &modules);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    let last = args.len() - 1;
    let stub_text = stub_copy.display().to_string();
    args[last] = &stub_text;
    let b = open_dir();
    let second = b.path().join("elsewhere/out");
    let out = build(
        &repo,
        &profile(),
        &second,
        &Run {
            cwd: b.path(),
            umask: "077",
            tz: "Pacific/Chatham",
            user: Some("65534"),
        },
        &args,
    );
    assert!(out.status.success(), "{}", show(&out));
    for suffix in [
        "cpio.gz",
        "efi",
        "vmlinuz",
        "cmdline",
        "tar.gz",
        "manifest",
        "spdx.json",
    ] {
        assert!(
            file(&first, suffix) == file(&second, suffix),
            "{suffix} differs"
        );
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn a_kernel_package_is_locked_installed_and_booted_from() {
    let test = "a_kernel_package_is_locked_installed_and_booted_from";
    let Some(data) = support::shared_data(test) else {
        return;
    };
    let Some(kernel) = vm::test_kernel(test) else {
        return;
    };
    let version = kernel
        .modules
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    // An Alpine kernel package written in code: Debian's boot image as /boot/vmlinuz-virt,
    // ext4 and what it needs under /lib/modules/VERSION, no modules.dep.
    let mods = [
        "kernel/fs/ext4/ext4.ko",
        "kernel/fs/jbd2/jbd2.ko",
        "kernel/fs/mbcache.ko",
        "kernel/lib/crc16.ko",
        "kernel/crypto/crc32c_generic.ko",
    ];
    let key = TestKey::primary();
    let mut package = ApkBuilder::new("linux-virt", "6.1.99-r0")
        .dir("boot", 0o755)
        .file(
            "boot/vmlinuz-virt",
            &fs_err::read(&kernel.vmlinuz).unwrap(),
            0o644,
        )
        .dir("lib", 0o755)
        .dir("lib/modules", 0o755)
        .dir(&format!("lib/modules/{version}"), 0o755);
    let mut dirs = std::collections::BTreeSet::new();
    for m in mods {
        let mut parent = Path::new(m).parent();
        let mut chain = Vec::new();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            chain.push(p.to_path_buf());
            parent = p.parent();
        }
        for d in chain.into_iter().rev() {
            if dirs.insert(d.clone()) {
                package = package.dir(&format!("lib/modules/{version}/{}", d.display()), 0o755);
            }
        }
        package = package.file(
            &format!("lib/modules/{version}/{m}"),
            &fs_err::read(kernel.modules.join(m)).unwrap(),
            0o644,
        );
    }
    let package = package.build_signed(key);
    let dir = tempfile::tempdir().unwrap();
    write_repository(&dir.path().join("kernels"), "x86_64", &[package], key);
    let keys = dir.path().join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    key.write_public(&keys);
    let mut text = fs_err::read_to_string(profile()).unwrap();
    text = text.replace(
        "cmdline = \"console=tty0 console=ttyS0,115200\"",
        "kernel = \"linux-virt\"\ncmdline = \"console=tty0 console=ttyS0,115200\"\nmodules = [\"ext4\"]",
    );
    assert!(text.contains("kernel = \"linux-virt\""));
    let profile_path = dir.path().join("minimal.toml");
    fs_err::write(&profile_path, text).unwrap();
    let repo = data.join("alpine/repos/v3.19-boot");
    let common = |cmd: &mut Command| {
        cmd.arg("--repository")
            .arg(&repo)
            .arg("--repository")
            .arg(dir.path().join("kernels"))
            .arg("--keys")
            .arg(&keys)
            .arg("--offline")
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .env("SOURCE_DATE_EPOCH", "1700000000");
    };
    // Locked like every other package.
    let mut lock = Command::new(BIN);
    lock.arg("lock").arg(&profile_path);
    common(&mut lock);
    let out = lock.output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let lock_text = fs_err::read_to_string(dir.path().join("minimal.lock")).unwrap();
    assert!(lock_text.contains("linux-virt"), "{lock_text}");

    let out_dir = dir.path().join("out");
    let mut cmd = Command::new(BIN);
    cmd.arg("build")
        .arg(&profile_path)
        .arg("--locked")
        .arg("--out")
        .arg(&out_dir)
        .args(["--emit", "archive,initramfs"]);
    common(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let read =
        |suffix: &str| fs_err::read(out_dir.join(format!("minimal-1.0.0.{suffix}"))).unwrap();
    assert_eq!(read("vmlinuz"), fs_err::read(&kernel.vmlinuz).unwrap());
    let report: serde_json::Value = serde_json::from_slice(&read("report.json")).unwrap();
    assert_eq!(report["kernel"]["origin"]["kind"], "package");
    assert_eq!(report["kernel"]["origin"]["name"], "linux-virt");
    assert_eq!(report["kernel"]["version"], version.as_str());
    // The package's modules stay its own; basalt adds the modules.dep it lacked.
    let manifest = String::from_utf8(read("manifest")).unwrap();
    let ext4 = manifest
        .lines()
        .find(|l| l.starts_with(&format!("/lib/modules/{version}/kernel/fs/ext4/ext4.ko ")))
        .unwrap();
    assert!(ext4.ends_with("package=linux-virt"), "{ext4}");
    let cpio = gunzip(&read("cpio.gz"));
    let entries = vm::newc_entries(&cpio);
    let (_, at, size) = entries
        .iter()
        .find(|(n, _, _)| n == &format!("lib/modules/{version}/modules.dep"))
        .unwrap()
        .clone();
    let dep = parse_dep(std::str::from_utf8(&cpio[at..at + size]).unwrap());
    let ext4_deps = &dep["kernel/fs/ext4/ext4.ko"];
    for d in [
        "kernel/fs/jbd2/jbd2.ko",
        "kernel/fs/mbcache.ko",
        "kernel/lib/crc16.ko",
    ] {
        assert!(ext4_deps.iter().any(|x| x == d), "{ext4_deps:?}");
    }
    let (_, at, size) = entries
        .iter()
        .find(|(n, _, _)| n == "etc/modules-load.d/basalt.conf")
        .unwrap()
        .clone();
    assert!(
        std::str::from_utf8(&cpio[at..at + size])
            .unwrap()
            .lines()
            .any(|l| l == "ext4")
    );
}

#[test]
fn boot_outputs_need_a_kernel_and_a_uki_needs_a_stub() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("build")
            .arg(&profile)
            .arg("--out")
            .arg(dir.path().join("out"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--emit", "initramfs"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a kernel"));
    let vmlinuz = dir.path().join("vmlinuz");
    fs_err::write(&vmlinuz, b"not a kernel").unwrap();
    let vmlinuz = vmlinuz.display().to_string();
    let out = run(&["--kernel", &vmlinuz, "--emit", "uki"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--efi-stub"));
    let out = run(&["--kernel", &vmlinuz, "--emit", "initramfs"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a Linux x86 boot image"),
        "{}",
        show(&out)
    );
    assert!(!dir.path().join("out").exists());
}
