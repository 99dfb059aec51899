//! The minimal profile boots as a real host under QEMU, with Debian's kernel (`--kernel`,
//! `--kernel-modules`), `[network]` (eth0 by DHCP from QEMU's user network) and
//! `[verify] at_boot`:
//!
//! - the UKI under OVMF, `enforce`, a state disk: OpenRC reaches `default` with exactly the
//!   profile's services and their companions, none failed; DHCP and chronyd; sshd takes the
//!   profile user's key and refuses passwords and root; `basalt verify /` inside is clean and
//!   `basalt audit /` inside finds what the offline audit of the image finds; the state
//!   volume is mounted and the SSH host keys written there survive a reboot;
//! - the initramfs with one byte of `/etc/motd` changed, `enforce`: the verifier fails on the
//!   console, which shows `/run/basalt/boot-failed`, and sshd does not start;
//! - the same change under `warn`, and no state disk: everything starts, the finding is
//!   logged, the missing state volume is said on the console and reported by `basalt audit`.
//!
//! Boots are costly (60-90 s to sshd under TCG on two cores): the tests run one VM at a time
//! and share each boot between many assertions. Every VM is killed by its PID when its test
//! ends; a failing test prints the VM's console.

use crate::support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use support::boot::{show, static_basalt};
use support::vm::{self, Firmware, Vm};

const BIN: &str = env!("CARGO_BIN_EXE_basalt");
const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
const OVMF: &str = "/usr/share/ovmf/OVMF.fd";
/// The minimal profile's placeholder key, replaced by the test's own.
const PLACEHOLDER_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMz admin@example.invalid";
const BOOT: Duration = Duration::from_secs(420);

/// Everything a boot test needs, built: the images of the minimal profile for one mode.
struct Built {
    dir: tempfile::TempDir,
    out: PathBuf,
    ssh_key: PathBuf,
}

impl Built {
    fn file(&self, suffix: &str) -> PathBuf {
        self.out.join(format!("minimal-1.0.0.{suffix}"))
    }

    fn cmdline(&self) -> String {
        fs_err::read_to_string(self.file("cmdline"))
            .unwrap()
            .trim()
            .to_owned()
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", show(&out));
    out
}

/// Builds the minimal profile with the test's SSH key, `[verify] at_boot = MODE`, and a doas
/// rule that lets the profile user run basalt (and reboot) as root for the checks.
fn build(test: &str, mode: &str) -> Option<Built> {
    let data = support::shared_data(test)?;
    if !vm::have_tools(
        test,
        &["qemu-system-x86_64", "ssh", "ssh-keygen", "mkfs.ext4"],
    ) {
        return None;
    }
    let kernel = vm::test_kernel(test)?;
    let stub = vm::debian_file(test, STUB)?;
    let verifier = static_basalt(test)?;
    let dir = tempfile::tempdir().unwrap();
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
        "install = [\"alpine-base\", \"openssh-server\", \"chrony\", \"doas\"]",
    );
    text.push_str(&format!(
        "\n[verify]\nat_boot = \"{mode}\"\n\n[files]\nextra = [{{ path = \"/etc/doas.d/basalt.conf\", source = \"doas.conf\", mode = \"0600\" }}]\n\n[accept]\n\"privilege-rule\" = \"the tests run basalt as root over SSH\"\n\"privilege-nopass\" = \"the tests run basalt as root over SSH, without a terminal\"\n"
    ));
    fs_err::write(
        dir.path().join("doas.conf"),
        "permit nopass admin as root cmd /usr/sbin/basalt\npermit nopass admin as root cmd /sbin/reboot\n",
    )
    .unwrap();
    let profile = dir.path().join("minimal.toml");
    fs_err::write(&profile, text).unwrap();
    let key = dir.path().join("release");
    run(Command::new(BIN).arg("keygen").arg("--out").arg(&key));
    let out = dir.path().join("out");
    run(Command::new(BIN)
        .arg("build")
        .arg(&profile)
        .arg("--repository")
        .arg(data.join("alpine/repos/v3.19-boot"))
        .arg("--offline")
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .arg("--out")
        .arg(&out)
        .arg("--sign-key")
        .arg(key.with_extension("key"))
        .arg("--verifier")
        .arg(&verifier)
        .arg("--kernel")
        .arg(&kernel.vmlinuz)
        .arg("--kernel-modules")
        .arg(&kernel.modules)
        .args(["--emit", "archive,initramfs,uki", "--efi-stub"])
        .arg(&stub)
        .env("SOURCE_DATE_EPOCH", "1700000000"));
    Some(Built { dir, out, ssh_key })
}

/// The initramfs with the first byte of `path`'s content changed (the manifest untouched).
fn tamper(built: &Built, path: &str) -> PathBuf {
    use std::io::{Read as _, Write as _};
    let mut cpio = Vec::new();
    flate2::read::GzDecoder::new(fs_err::File::open(built.file("cpio.gz")).unwrap())
        .read_to_end(&mut cpio)
        .unwrap();
    let (_, at, size) = vm::newc_entries(&cpio)
        .into_iter()
        .find(|(name, _, _)| name == path)
        .unwrap_or_else(|| panic!("no `{path}` in the initramfs"));
    assert!(size > 0);
    cpio[at] ^= 0x20;
    let tampered = built.dir.path().join("tampered.cpio.gz");
    let mut gz = flate2::write::GzEncoder::new(
        fs_err::File::create(&tampered).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&cpio).unwrap();
    gz.finish().unwrap();
    tampered
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `rc-status --all`: runlevel (or dynamic runlevel) → (service, state).
fn rc_status(text: &str) -> Vec<(String, String, String)> {
    let mut level = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(l) = line
            .strip_prefix("Runlevel: ")
            .or_else(|| line.strip_prefix("Dynamic Runlevel: "))
        {
            level = l.trim().to_owned();
        } else if let Some((name, state)) = line.trim().split_once('[') {
            let state = state
                .trim_end_matches(']')
                .split_whitespace()
                .next()
                .unwrap_or("");
            out.push((level.clone(), name.trim().to_owned(), state.to_owned()));
        }
    }
    out
}

/// Findings of a JSON audit as `check path` lines, sorted; and the skipped checks.
fn audit_findings(json: &str) -> (Vec<String>, Vec<String>) {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let mut findings: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["check"].as_str().unwrap(),
                f["path"].as_str().unwrap()
            )
        })
        .collect();
    findings.sort();
    let mut skipped: Vec<String> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["check"].as_str().unwrap().to_owned())
        .collect();
    skipped.sort();
    skipped.dedup();
    (findings, skipped)
}

#[test]
fn the_uki_boots_a_verified_host_under_ovmf_and_its_state_survives_a_reboot() {
    let test = "the_uki_boots_a_verified_host_under_ovmf_and_its_state_survives_a_reboot";
    let Some(built) = build(test, "enforce") else {
        return;
    };
    let Some(ovmf) = vm::debian_file(test, OVMF) else {
        return;
    };
    let _one = vm::one_vm();
    let esp = built.dir.path().join("esp");
    fs_err::create_dir_all(esp.join("EFI/BOOT")).unwrap();
    fs_err::copy(built.file("efi"), esp.join("EFI/BOOT/BOOTX64.EFI")).unwrap();
    let state = built.dir.path().join("state.img");
    vm::ext4_disk(&state, "state", 64);
    let console = built.dir.path().join("console.log");
    let mut vm = Vm::start(
        test,
        &Firmware::Uefi {
            ovmf: &ovmf,
            esp: &esp,
        },
        &[&state],
        &console,
        false,
    );
    vm.wait_for("Starting sshd", 1, BOOT);
    vm.wait_ssh(&built.ssh_key, "admin", Duration::from_secs(120));
    let key = &built.ssh_key;
    let sh = |cmd: &str| {
        let out = vm.ssh(key, "admin", cmd);
        assert!(out.status.success(), "`{cmd}`: {}", show(&out));
        stdout(&out)
    };

    // The console: the UKI's kernel and command line, the verifier clean, nothing failed.
    let text = vm.console_text();
    assert!(text.contains("Linux version"), "no kernel banner");
    assert!(
        text.contains("Verifying this host against /etc/basalt/manifest (enforce)"),
        "no verifier line"
    );
    assert!(!text.contains("ERROR"), "an error on the console");
    assert!(
        !text.contains("is not mounted at"),
        "the state volume is missing"
    );
    assert_eq!(sh("cat /proc/cmdline").trim(), built.cmdline());

    // OpenRC: exactly the profile's services and their companions, every one started.
    let status = rc_status(&sh("rc-status --all"));
    let mut in_runlevels: Vec<String> = status
        .iter()
        .filter(|(level, _, _)| ["sysinit", "boot", "default"].contains(&level.as_str()))
        .map(|(level, name, _)| format!("{level}/{name}"))
        .collect();
    in_runlevels.sort();
    let expected = [
        "boot/basalt-state",
        "boot/basalt-verify",
        "boot/bootmisc",
        "boot/hostname",
        "boot/hwclock",
        "boot/localmount",
        "boot/modules",
        "boot/networking",
        "boot/sysctl",
        "boot/syslog",
        "default/chronyd",
        "default/sshd",
        "default/sshd-keygen",
        "sysinit/devfs",
        "sysinit/dmesg",
        "sysinit/hwdrivers",
        "sysinit/mdev",
    ];
    assert_eq!(in_runlevels, expected, "{status:?}");
    for (level, name, state) in &status {
        if level != "shutdown" && level != "manual" {
            assert_eq!(state, "started", "{level}/{name}: {status:?}");
        }
    }

    // The network: eth0 by DHCP from QEMU's user network (a restricted one offers an address,
    // no router and no name server), chronyd.
    assert!(text.contains("udhcpc: lease of 10.0.2.15 obtained from 10.0.2.2"));
    assert!(sh("ip -4 addr show dev eth0").contains("inet 10.0.2.15/24"));
    assert_eq!(sh("hostname").trim(), "minimal");
    sh("pidof chronyd");
    assert!(sh("cat /etc/network/interfaces").contains("use dhcp"));

    // Key-only SSH: no password method is offered, and root is refused even with the key.
    let password = vm::ssh_command(vm.port, key, "admin")
        .args([
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ])
        .arg("true")
        .output()
        .unwrap();
    assert!(!password.status.success());
    assert!(
        String::from_utf8_lossy(&password.stderr).contains("Permission denied (publickey)"),
        "{}",
        show(&password)
    );
    let root = vm.ssh(key, "root", "true");
    assert!(!root.status.success(), "{}", show(&root));
    assert!(String::from_utf8_lossy(&root.stderr).contains("Permission denied"));

    // The verifier inside: clean against the manifest the image carries.
    let verify = vm.ssh(
        key,
        "admin",
        "doas -n /usr/sbin/basalt verify --manifest /etc/basalt/manifest --signature /etc/basalt/manifest.minisig --key /etc/basalt/keys /",
    );
    assert_eq!(verify.status.code(), Some(0), "{}", show(&verify));

    // The audit inside finds what the offline audit of the image finds; the checks only a
    // live host answers are named (skipped offline, run inside).
    let inside = vm.ssh(
        key,
        "admin",
        "doas -n /usr/sbin/basalt audit / --format json",
    );
    let offline = Command::new(BIN)
        .arg("audit")
        .arg(built.file("tar.gz"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    let (inside_findings, inside_skipped) = audit_findings(&stdout(&inside));
    let (offline_findings, offline_skipped) = audit_findings(&stdout(&offline));
    assert_eq!(inside_findings, offline_findings);
    let live_only: Vec<&String> = offline_skipped
        .iter()
        .filter(|c| !inside_skipped.contains(c))
        .collect();
    assert_eq!(
        live_only,
        [basalt::posture::audit::CheckId::StateVolumeMissing.as_str()]
    );

    // The state volume: mounted where the profile says; the host keys sshd-keygen wrote
    // there survive a reboot.
    let mounts = sh("cat /proc/mounts");
    assert!(
        mounts.lines().any(|l| l.contains(" /var/lib ext4 ")),
        "{mounts}"
    );
    assert!(
        !sh("cat /etc/fstab")
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some("/"))
    );
    let host_key = sh("cat /var/lib/ssh/etc/ssh/ssh_host_ed25519_key.pub");

    // Reboot: the guest shuts down cleanly (QEMU runs with -no-reboot, so this is a power
    // cycle) and the same disks boot again.
    let _ = vm.ssh(key, "admin", "doas -n /sbin/reboot");
    vm.wait_exit(Duration::from_secs(180));
    assert!(vm.console_text().contains("Unmounting /var/lib"));
    drop(vm);
    let console = built.dir.path().join("console-after-reboot.log");
    let mut vm = Vm::start(
        test,
        &Firmware::Uefi {
            ovmf: &ovmf,
            esp: &esp,
        },
        &[&state],
        &console,
        false,
    );
    vm.wait_for("Starting sshd", 1, BOOT);
    vm.wait_ssh(key, "admin", Duration::from_secs(120));
    let again = vm.ssh(
        key,
        "admin",
        "cat /var/lib/ssh/etc/ssh/ssh_host_ed25519_key.pub",
    );
    assert_eq!(stdout(&again), host_key, "{}", show(&again));
    assert!(
        !vm.console_text().contains("generating new host keys"),
        "host keys were made again after the reboot"
    );
}

#[test]
fn a_tampered_initramfs_keeps_sshd_down_under_enforce() {
    let test = "a_tampered_initramfs_keeps_sshd_down_under_enforce";
    let Some(built) = build(test, "enforce") else {
        return;
    };
    let _one = vm::one_vm();
    let tampered = tamper(&built, "etc/motd");
    let state = built.dir.path().join("state.img");
    vm::ext4_disk(&state, "state", 64);
    let console = built.dir.path().join("console.log");
    let cmdline = built.cmdline();
    let vmlinuz = built.file("vmlinuz");
    let mut vm = Vm::start(
        test,
        &Firmware::Direct {
            kernel: &vmlinuz,
            initramfs: &tampered,
            cmdline: &cmdline,
        },
        &[&state],
        &console,
        false,
    );
    vm.wait_for("Starting chronyd", 1, BOOT);
    // sshd is tried after chronyd in the default runlevel; give it time to be refused.
    std::thread::sleep(Duration::from_secs(20));
    let text = vm.console_text();
    assert!(
        text.contains("basalt verify: the boot is marked failed in /run/basalt/boot-failed:"),
        "no failure on the console"
    );
    assert!(
        text.contains("content") && text.contains("/etc/motd"),
        "the finding is not shown"
    );
    assert!(text.contains("sshd and docker will not start"));
    assert!(!text.contains("Starting sshd"), "sshd started");
    let out = vm.ssh(&built.ssh_key, "admin", "true");
    assert!(
        !out.status.success(),
        "SSH login on a tampered host: {}",
        show(&out)
    );
}

#[test]
fn warn_boots_everything_and_a_missing_state_volume_is_reported() {
    let test = "warn_boots_everything_and_a_missing_state_volume_is_reported";
    let Some(built) = build(test, "warn") else {
        return;
    };
    let _one = vm::one_vm();
    let tampered = tamper(&built, "etc/motd");
    let console = built.dir.path().join("console.log");
    let cmdline = built.cmdline();
    let vmlinuz = built.file("vmlinuz");
    let mut vm = Vm::start(
        test,
        &Firmware::Direct {
            kernel: &vmlinuz,
            initramfs: &tampered,
            cmdline: &cmdline,
        },
        &[],
        &console,
        false,
    );
    vm.wait_for("Starting sshd", 1, BOOT);
    vm.wait_ssh(&built.ssh_key, "admin", Duration::from_secs(120));
    let key = &built.ssh_key;
    let sh = |cmd: &str| {
        let out = vm.ssh(key, "admin", cmd);
        assert!(out.status.success(), "`{cmd}`: {}", show(&out));
        stdout(&out)
    };
    let text = vm.console_text();
    assert!(
        text.contains("basalt verify: drift from the signed manifest"),
        "no warning"
    );
    assert!(
        text.contains("state volume LABEL=state is not mounted at /var/lib"),
        "the missing state volume is not said"
    );
    // The finding is kept and logged; the missing volume is recorded.
    assert!(sh("cat /run/basalt/findings").contains("/etc/motd"));
    assert!(!sh("ls /run/basalt").contains("boot-failed"));
    let log = sh("cat /var/log/messages");
    assert!(
        log.lines()
            .any(|l| l.contains("basalt-verify") && l.contains("/etc/motd")),
        "{log}"
    );
    assert!(sh("cat /run/basalt/state-missing").contains("LABEL=state /var/lib"));
    let audit = vm.ssh(
        key,
        "admin",
        "doas -n /usr/sbin/basalt audit / --format json",
    );
    let (findings, _) = audit_findings(&stdout(&audit));
    assert!(
        findings.contains(&"state-volume-missing /var/lib".to_owned()),
        "{findings:?}"
    );
}
