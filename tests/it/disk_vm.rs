//! The minimal profile as a disk (`--emit disk`): a GPT image with the UKI on its EFI system
//! partition, the image as a read-only squashfs root and its dm-verity hash tree, booted
//! under QEMU with Debian's kernel.
//!
//! - the real disk against the real tools: `veritysetup verify` accepts the hash partition
//!   and the root hash the manifest names; `unsquashfs` lists exactly the manifest's entries,
//!   owners and modes; two builds give the same disk bytes (raw and qcow2);
//! - OVMF boots the raw disk once, `enforce`, with a blank GPT partition named `state`: sshd
//!   comes up, `/` is read-only and nothing but the state and ephemeral paths is writable,
//!   `basalt verify /` is clean; the initramfs formats the blank partition, a file written on
//!   it survives a reboot (which does not format it again) while one in `/tmp` does not;
//! - one byte changed in the root partition, booted with `-kernel`/`-initrd`: under
//!   `enforce` the kernel reports the verity error and the boot stops before sshd with a
//!   clear message; under `warn` it says so and goes on to sshd.
//!
//! Boots are costly (60-90 s to sshd under TCG on two cores): one VM at a time, each boot
//! shared between many assertions, every VM killed by its PID when its test ends.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use support::boot::{show, static_basalt};
use support::vm::{self, Firmware, Vm};

const BIN: &str = env!("CARGO_BIN_EXE_basalt");
const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
const OVMF: &str = "/usr/share/ovmf/OVMF.fd";
const PLACEHOLDER_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMz admin@example.invalid";
const BOOT: Duration = Duration::from_secs(480);
const STEM: &str = "minimal-1.0.0";

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", show(&out));
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The inputs of a disk build: profile, keys, kernel, stub, static basalt.
/// A directory of the test run.
struct Scratch(PathBuf);

impl Scratch {
    fn path(&self) -> &Path {
        &self.0
    }
}

struct Inputs {
    dir: Scratch,
    profile: PathBuf,
    key: PathBuf,
    ssh_key: PathBuf,
    repo: PathBuf,
    kernel: vm::TestKernel,
    helper: PathBuf,
}

/// The minimal profile with the test's SSH key, e2fsprogs (to format a blank state volume),
/// doas for the profile user (the checks run as root), and `[verify] at_boot = MODE`.
fn inputs(test: &str, mode: &str) -> Option<Inputs> {
    let data = support::shared_data(test)?;
    if !vm::have_tools(
        test,
        &[
            "qemu-system-x86_64",
            "ssh",
            "ssh-keygen",
            "sgdisk",
            "veritysetup",
            "unsquashfs",
        ],
    ) {
        return None;
    }
    let kernel = vm::test_kernel(test)?;
    vm::debian_file(test, STUB)?;
    let helper = static_basalt(test)?;
    // Shared by the tests of this file for the whole run (statics are never dropped): kept
    // under the target directory, emptied at the start of each run.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("disk_vm-{mode}"));
    let _ = fs_err::remove_dir_all(&dir);
    fs_err::create_dir_all(&dir).unwrap();
    let dir = Scratch(dir);
    let ssh_key = dir.path().join("id_ed25519");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "admin@test", "-f"])
        .arg(&ssh_key));
    let public = fs_err::read_to_string(ssh_key.with_extension("pub")).unwrap();
    let minimal = support::offline_profile();
    let text = fs_err::read_to_string(minimal).unwrap();
    assert!(
        text.contains(PLACEHOLDER_KEY),
        "the minimal profile's key changed"
    );
    let mut text = text.replace(PLACEHOLDER_KEY, public.trim()).replace(
        "install = [\"alpine-base\", \"openssh-server\", \"chrony\"]",
        "install = [\"alpine-base\", \"openssh-server\", \"chrony\", \"doas\", \"e2fsprogs\"]",
    );
    text.push_str(&format!(
        "\n[verify]\nat_boot = \"{mode}\"\n\n[files]\nextra = [{{ path = \"/etc/doas.d/basalt.conf\", source = \"doas.conf\", mode = \"0600\" }}]\n\n[accept]\n\"privilege-rule\" = \"the tests run basalt as root over SSH\"\n\"privilege-nopass\" = \"the tests run basalt as root over SSH, without a terminal\"\n"
    ));
    fs_err::write(
        dir.path().join("doas.conf"),
        "permit nopass admin as root\n",
    )
    .unwrap();
    let profile = dir.path().join("minimal.toml");
    fs_err::write(&profile, text).unwrap();
    let key = dir.path().join("release");
    run(Command::new(BIN).arg("keygen").arg("--out").arg(&key));
    Some(Inputs {
        repo: data.join("alpine/repos/v3.19-boot"),
        dir,
        profile,
        key,
        ssh_key,
        kernel,
        helper,
    })
}

impl Inputs {
    /// `basalt build --emit archive,disk` into `out`, with this umask and time zone.
    fn build(&self, out: &Path, umask: &str, tz: &str) {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("umask {umask} && exec \"$@\""))
            .arg("sh")
            .arg(BIN)
            .arg("build")
            .arg(&self.profile)
            .arg("--repository")
            .arg(&self.repo)
            .arg("--offline")
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .arg("--out")
            .arg(out)
            .arg("--sign-key")
            .arg(self.key.with_extension("key"))
            .arg("--verifier")
            .arg(&self.helper)
            .arg("--kernel")
            .arg(&self.kernel.vmlinuz)
            .arg("--kernel-modules")
            .arg(&self.kernel.modules)
            .args(["--emit", "archive,disk", "--efi-stub", STUB])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env("TZ", tz);
        run(&mut cmd);
    }
}

/// A built disk of one mode.
struct Built {
    inputs: Inputs,
    out: PathBuf,
}

impl Built {
    fn file(&self, suffix: &str) -> PathBuf {
        self.out.join(format!("{STEM}.{suffix}"))
    }

    fn report(&self) -> serde_json::Value {
        serde_json::from_slice(&fs_err::read(self.file("report.json")).unwrap()).unwrap()
    }

    /// The raw disk's partition `n` (0-based): offset and size.
    fn partition(&self, n: usize) -> (u64, u64) {
        let p = &self.report()["disk"]["partitions"][n];
        (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap())
    }

    fn cut(&self, n: usize, name: &str) -> PathBuf {
        let (offset, size) = self.partition(n);
        let raw = fs_err::read(self.file("raw")).unwrap();
        let path = self.inputs.dir.path().join(name);
        fs_err::write(&path, &raw[offset as usize..(offset + size) as usize]).unwrap();
        path
    }

    /// A copy of the raw disk with one byte of the root partition changed: the first byte of
    /// the squashfs's padding (inside the last hash-covered block, never read by squashfs).
    fn tampered(&self) -> PathBuf {
        let mut raw = fs_err::read(self.file("raw")).unwrap();
        let (offset, _) = self.partition(1);
        let sb = offset as usize;
        assert_eq!(
            &raw[sb..sb + 4],
            b"hsqs",
            "no squashfs at the root partition"
        );
        let used = u64::from_le_bytes(raw[sb + 40..sb + 48].try_into().unwrap());
        assert_ne!(
            used % 4096,
            0,
            "the filesystem fills its last block: no padding to change"
        );
        raw[sb + used as usize] ^= 0x5a;
        let path = self.inputs.dir.path().join("tampered.raw");
        fs_err::write(&path, raw).unwrap();
        path
    }
}

fn built(test: &str, mode: &'static str) -> Option<&'static Built> {
    static ENFORCE: OnceLock<Option<Built>> = OnceLock::new();
    static WARN: OnceLock<Option<Built>> = OnceLock::new();
    let cell = if mode == "enforce" { &ENFORCE } else { &WARN };
    cell.get_or_init(|| {
        let inputs = inputs(test, mode)?;
        let out = inputs.dir.path().join("out");
        inputs.build(&out, "022", "UTC");
        Some(Built { inputs, out })
    })
    .as_ref()
}

/// A blank disk whose one GPT partition is named `state`: the initramfs formats it.
fn blank_state_disk(path: &Path) {
    let file = fs_err::File::create(path).unwrap();
    file.set_len(64 << 20).unwrap();
    drop(file);
    run(Command::new("sgdisk")
        .args(["-o", "-n", "1:0:0", "-c", "1:state", "-t", "1:8300"])
        .arg(path));
}

#[test]
fn the_disk_is_reproducible_and_its_root_is_what_the_manifest_and_veritysetup_say() {
    let test = "the_disk_is_reproducible_and_its_root_is_what_the_manifest_and_veritysetup_say";
    let Some(built) = built(test, "enforce") else {
        return;
    };
    let manifest = basalt::integrity::manifest::Manifest::parse(
        &fs_err::read(built.file("manifest")).unwrap(),
    )
    .unwrap();
    let root_hash = hex::encode(
        manifest
            .header
            .root_hash
            .expect("the manifest names the root hash"),
    );
    let report = built.report();
    assert_eq!(report["disk"]["root_hash"], root_hash.as_str());
    let cmdline = fs_err::read_to_string(built.file("disk.cmdline")).unwrap();
    assert!(
        cmdline.contains(&format!("roothash={root_hash}")),
        "{cmdline}"
    );
    let text = fs_err::read_to_string(built.file("report.txt")).unwrap();
    assert!(text.contains(&format!("root hash {root_hash}")), "{text}");
    for name in ["esp", "root-x86-64", "root-x86-64-verity"] {
        assert!(text.contains(&format!(" {name} type ")), "{text}");
    }
    // The UKI on the ESP carries the disk's initramfs and the command line with the root hash.
    let uki = fs_err::read(built.file("disk.efi")).unwrap();
    let sections = basalt::build::uki::sections(&uki).unwrap();
    let section = |name: &str| {
        sections
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.data.clone())
            .unwrap_or_else(|| panic!("no {name} section"))
    };
    assert_eq!(
        String::from_utf8(section(".cmdline"))
            .unwrap()
            .trim_end_matches('\0'),
        cmdline.trim()
    );
    assert_eq!(
        section(".initrd"),
        fs_err::read(built.file("disk.cpio.gz")).unwrap()
    );

    // veritysetup accepts basalt's hash partition with the manifest's root hash.
    let root = built.cut(1, "root.img");
    let hash = built.cut(2, "verity.img");
    run(Command::new("veritysetup")
        .arg("verify")
        .arg(&root)
        .arg(&hash)
        .arg(&root_hash));

    // unsquashfs lists exactly the manifest's entries, owners and modes.
    let out = run(Command::new("unsquashfs")
        .args(["-lln", "-d", ""])
        .arg(&root)
        .env("TZ", "UTC"));
    let mut listed: BTreeMap<String, (char, u32, u32, u32)> = BTreeMap::new();
    for line in stdout(&out).lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.len() < 5 || tokens[0].len() != 10 {
            continue;
        }
        let date = if tokens[2].ends_with(',') { 4 } else { 3 };
        if tokens.len() < date + 2 {
            continue;
        }
        let name = tokens[date + 2..].join(" ");
        let name = name.split(" -> ").next().unwrap().to_owned();
        let (uid, gid) = tokens[1].split_once('/').unwrap();
        let path = if name.is_empty() {
            "/".to_owned()
        } else {
            format!("/{}", name.trim_start_matches('/'))
        };
        listed.insert(
            path,
            (
                tokens[0].chars().next().unwrap(),
                mode_bits(tokens[0]),
                uid.parse().unwrap(),
                gid.parse().unwrap(),
            ),
        );
    }
    let expected: BTreeMap<String, (char, u32, u32, u32)> = manifest
        .entries
        .iter()
        .map(|e| {
            let kind = match e.kind {
                basalt::integrity::manifest::Kind::File { .. } => '-',
                basalt::integrity::manifest::Kind::Dir => 'd',
                basalt::integrity::manifest::Kind::Symlink { .. } => 'l',
                basalt::integrity::manifest::Kind::Char { .. } => 'c',
                basalt::integrity::manifest::Kind::Block { .. } => 'b',
                basalt::integrity::manifest::Kind::Fifo => 'p',
                _ => '?',
            };
            (
                String::from_utf8(e.path.clone()).unwrap(),
                (kind, e.mode, e.uid, e.gid),
            )
        })
        .collect();
    assert!(expected.len() > 500, "{}", expected.len());
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| !listed.contains_key(*k))
        .collect();
    let extra: Vec<&String> = listed
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (path, want) in &expected {
        assert_eq!(&listed[path], want, "{path}");
    }

    // Two builds, from another directory with another umask and time zone, give the same
    // disk bytes.
    let again = built.inputs.dir.path().join("again");
    built.inputs.build(&again, "077", "Asia/Tokyo");
    for suffix in ["raw", "qcow2", "disk.efi", "manifest", "tar.gz"] {
        assert!(
            fs_err::read(built.file(suffix)).unwrap()
                == fs_err::read(again.join(format!("{STEM}.{suffix}"))).unwrap(),
            "{suffix} differs between two builds"
        );
    }
}

/// Permission bits of an `ls -l` mode string.
fn mode_bits(text: &str) -> u32 {
    let b: Vec<char> = text.chars().collect();
    let mut mode = 0;
    for (i, bit) in [
        (1, 0o400),
        (2, 0o200),
        (4, 0o40),
        (5, 0o20),
        (7, 0o4),
        (8, 0o2),
    ] {
        if b[i] != '-' {
            mode |= bit;
        }
    }
    for (i, exec, special) in [(3, 0o100, 0o4000), (6, 0o10, 0o2000), (9, 0o1, 0o1000)] {
        match b[i] {
            'x' => mode |= exec,
            's' | 't' => mode |= exec | special,
            'S' | 'T' => mode |= special,
            _ => {}
        }
    }
    mode
}

#[test]
fn ovmf_boots_the_disk_read_only_with_state_that_survives_a_reboot() {
    let test = "ovmf_boots_the_disk_read_only_with_state_that_survives_a_reboot";
    let Some(built) = built(test, "enforce") else {
        return;
    };
    let Some(ovmf) = vm::debian_file(test, OVMF) else {
        return;
    };
    let _one = vm::one_vm();
    let dir = built.inputs.dir.path();
    // The disk as a machine would have it (the built file stays as it is).
    let disk = dir.join("boot.raw");
    fs_err::copy(built.file("raw"), &disk).unwrap();
    let state = dir.join("state.img");
    blank_state_disk(&state);
    let console = dir.join("ovmf-console.log");
    let mut vm = Vm::start(
        test,
        &Firmware::UefiDisk {
            ovmf: &ovmf,
            disk: &disk,
        },
        &[&state],
        &console,
        true,
    );
    vm.wait_for("Starting sshd", 1, BOOT);
    vm.wait_ssh(&built.inputs.ssh_key, "admin", Duration::from_secs(120));
    let key = &built.inputs.ssh_key;
    let sh = |vm: &Vm, cmd: &str| {
        let out = vm.ssh(key, "admin", cmd);
        assert!(out.status.success(), "`{cmd}`: {}", show(&out));
        stdout(&out)
    };
    let root_sh = |vm: &Vm, cmd: &str| vm.ssh(key, "admin", &format!("doas -n sh -c '{cmd}'"));

    // The console: the root verified block by block before it was mounted, the blank state
    // partition formatted, nothing failed.
    let text = vm.console_text();
    assert!(
        text.contains("match root hash"),
        "no verification on the console"
    );
    assert!(text.contains("root filesystem mounted read-only from /dev/mapper/root (enforce)"));
    assert!(text.contains("formatting the blank partition /dev/vdb1 (GPT name state)"));
    assert!(!text.contains("ERROR"), "an error on the console");
    let cmdline = fs_err::read_to_string(built.file("disk.cmdline")).unwrap();
    assert_eq!(sh(&vm, "cat /proc/cmdline").trim(), cmdline.trim());

    // `/` is the read-only, verified squashfs: a write fails, even as root.
    let mounts = sh(&vm, "cat /proc/mounts");
    let root_line = mounts
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("/"))
        .unwrap();
    assert!(
        root_line.starts_with("/dev/mapper/root / squashfs ro"),
        "{root_line}"
    );
    let write = root_sh(&vm, "echo x > /etc/basalt-probe");
    assert!(!write.status.success(), "{}", show(&write));
    assert!(
        String::from_utf8_lossy(&write.stderr).contains("Read-only file system"),
        "{}",
        show(&write)
    );
    // Nothing but the state and ephemeral paths (and the kernel's own filesystems) is
    // writable.
    let writable: Vec<String> = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let rw = f[3].split(',').any(|o| o == "rw");
            let kernel_fs = [
                "proc",
                "sysfs",
                "devtmpfs",
                "devpts",
                "mqueue",
                "cgroup",
                "cgroup2",
                "securityfs",
                "debugfs",
                "tracefs",
                "pstore",
                "bpf",
                "configfs",
                "fusectl",
                "hugetlbfs",
                "efivarfs",
                "binfmt_misc",
            ]
            .contains(&f[2]);
            let under_kernel = ["/dev", "/proc", "/sys"]
                .iter()
                .any(|k| f[1] == *k || f[1].starts_with(&format!("{k}/")));
            (rw && !kernel_fs && !under_kernel).then(|| format!("{} {}", f[1], f[2]))
        })
        .collect();
    for w in &writable {
        assert!(
            [
                // ephemeral
                "/run tmpfs",
                "/tmp tmpfs",
                "/var/cache tmpfs",
                "/var/log tmpfs",
                "/var/tmp tmpfs",
                // state
                "/var/lib ext4",
                // mutable: a writable copy of the image's file, in /run
                "/etc/resolv.conf tmpfs",
            ]
            .contains(&w.as_str()),
            "{w} is writable: {mounts}"
        );
    }
    assert!(writable.contains(&"/var/lib ext4".to_owned()), "{mounts}");
    for dir in ["/", "/etc", "/usr/bin", "/var", "/root"] {
        let out = root_sh(&vm, &format!("touch {dir}/basalt-probe"));
        assert!(!out.status.success(), "{dir} is writable: {}", show(&out));
    }

    // The resolver file can change on the read-only root: /etc/resolv.conf points where
    // udhcpc writes DHCP's name servers (QEMU's restricted network offers none, so the test
    // writes there as udhcpc's script would).
    assert_eq!(
        sh(&vm, "readlink /etc/resolv.conf").trim(),
        "/run/resolv.conf"
    );
    let out = root_sh(
        &vm,
        ". /etc/udhcpc/udhcpc.conf && echo \"nameserver 192.0.2.53\" > \"$RESOLV_CONF\"",
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(sh(&vm, "cat /etc/resolv.conf").contains("nameserver 192.0.2.53"));

    // basalt verify / inside is clean against the signed manifest the UKI brought.
    let verify = vm.ssh(
        key,
        "admin",
        "doas -n /usr/sbin/basalt verify --manifest /etc/basalt/manifest --signature /etc/basalt/manifest.minisig --key /etc/basalt/keys /",
    );
    assert_eq!(verify.status.code(), Some(0), "{}", show(&verify));
    let inside = sh(&vm, "cat /etc/basalt/manifest");
    assert_eq!(
        inside.as_bytes(),
        fs_err::read(built.file("manifest")).unwrap()
    );

    // A file on the state volume survives a reboot; one on an ephemeral path does not, and
    // the state volume is not formatted again.
    let out = root_sh(
        &vm,
        "mkdir -p /var/lib/probe && echo kept > /var/lib/probe/state && echo gone > /tmp/ephemeral && sync",
    );
    assert!(out.status.success(), "{}", show(&out));
    let _ = vm.ssh(key, "admin", "doas -n /sbin/reboot");
    vm.wait_for("Starting sshd", 2, BOOT);
    vm.wait_ssh(key, "admin", Duration::from_secs(120));
    assert_eq!(sh(&vm, "cat /var/lib/probe/state").trim(), "kept");
    let gone = vm.ssh(key, "admin", "cat /tmp/ephemeral");
    assert!(!gone.status.success(), "{}", show(&gone));
    let text = vm.console_text();
    assert_eq!(
        text.matches("formatting the blank partition").count(),
        1,
        "formatted twice"
    );
    assert!(text.contains("state volume LABEL=state (/dev/vdb1) mounted on /var/lib"));
}

#[test]
fn a_changed_root_partition_stops_the_boot_under_enforce() {
    let test = "a_changed_root_partition_stops_the_boot_under_enforce";
    let Some(built) = built(test, "enforce") else {
        return;
    };
    let _one = vm::one_vm();
    let disk = built.tampered();
    let console = built.inputs.dir.path().join("enforce-console.log");
    let cmdline = fs_err::read_to_string(built.file("disk.cmdline")).unwrap();
    let initramfs = built.file("disk.cpio.gz");
    let mut vm = Vm::start(
        test,
        &Firmware::Direct {
            kernel: &built.inputs.kernel.vmlinuz,
            initramfs: &initramfs,
            cmdline: cmdline.trim(),
        },
        &[&disk],
        &console,
        false,
    );
    vm.wait_for("BOOT STOPPED", 1, BOOT);
    std::thread::sleep(Duration::from_secs(5));
    let text = vm.console_text();
    assert!(
        text.contains("is corrupted"),
        "the kernel did not report the verity error"
    );
    assert!(
        text.contains("VERIFICATION FAILED"),
        "no verification failure"
    );
    assert!(text.contains("the root partition does not match its root hash"));
    assert!(!text.contains("OpenRC"), "the boot went on");
    assert!(!text.contains("Starting sshd"), "sshd started");
}

#[test]
fn a_changed_root_partition_is_reported_and_the_boot_goes_on_under_warn() {
    let test = "a_changed_root_partition_is_reported_and_the_boot_goes_on_under_warn";
    let Some(built) = built(test, "warn") else {
        return;
    };
    let _one = vm::one_vm();
    let disk = built.tampered();
    let state = built.inputs.dir.path().join("warn-state.img");
    blank_state_disk(&state);
    let console = built.inputs.dir.path().join("warn-console.log");
    let cmdline = fs_err::read_to_string(built.file("disk.cmdline")).unwrap();
    let initramfs = built.file("disk.cpio.gz");
    let mut vm = Vm::start(
        test,
        &Firmware::Direct {
            kernel: &built.inputs.kernel.vmlinuz,
            initramfs: &initramfs,
            cmdline: cmdline.trim(),
        },
        &[&disk, &state],
        &console,
        false,
    );
    vm.wait_for("Starting sshd", 1, BOOT);
    vm.wait_ssh(&built.inputs.ssh_key, "admin", Duration::from_secs(120));
    let text = vm.console_text();
    assert!(
        text.contains("is corrupted"),
        "the kernel did not report the verity error"
    );
    assert!(text.contains("WARNING"), "no warning");
    assert!(text.contains("the boot goes on"), "no warning");
    let out = vm.ssh(
        &built.inputs.ssh_key,
        "admin",
        "cat /run/basalt/verity-failed",
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout(&out).contains("do not match root hash")
            || stdout(&out).contains("does not match root hash")
    );
}
