//! A QEMU harness for tests that boot images: Debian's kernel from the test cache, QEMU with
//! TCG (KVM when it works), the serial console captured to a file, user networking that
//! reaches nothing but a forwarded SSH port on 127.0.0.1, bounded waits, the VM killed by its
//! PID when the test ends, and the console printed when a test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Debian's kernel, unpacked (never installed) by `ci/install-test-deps`.
pub struct TestKernel {
    /// `boot/vmlinuz-VERSION`.
    pub vmlinuz: PathBuf,
    /// `lib/modules/VERSION`.
    pub modules: PathBuf,
}

fn required() -> bool {
    std::env::var("BASALT_REQUIRE_SHARED_DATA").is_ok_and(|v| v == "1")
}

fn skip(test: &str, why: &str) {
    assert!(!required(), "{test}: {why} (BASALT_REQUIRE_SHARED_DATA=1)");
    eprintln!("SKIPPED {test}: {why}");
}

/// Where `ci/install-test-deps` unpacks Debian's kernel package: `$BASALT_TEST_KERNEL`, else
/// `~/.cache/basalt-test/kernel/root`.
pub fn kernel_root() -> PathBuf {
    std::env::var_os("BASALT_TEST_KERNEL").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            Path::new(&home).join(".cache/basalt-test/kernel/root")
        },
        PathBuf::from,
    )
}

/// The unpacked test kernel; `None` after a visible skip message (a failure in CI).
pub fn test_kernel(test: &str) -> Option<TestKernel> {
    let root = kernel_root();
    let found = (|| {
        let mut images: Vec<PathBuf> = std::fs::read_dir(root.join("boot"))
            .ok()?
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("vmlinuz-")
            })
            .collect();
        images.sort();
        let vmlinuz = images.pop()?;
        let version = vmlinuz
            .file_name()?
            .to_string_lossy()
            .trim_start_matches("vmlinuz-")
            .to_owned();
        let modules = root.join("lib/modules").join(version);
        modules.is_dir().then_some(TestKernel { vmlinuz, modules })
    })();
    if found.is_none() {
        skip(
            test,
            &format!(
                "no kernel unpacked under `{}` (run ci/install-test-deps)",
                root.display()
            ),
        );
    }
    found
}

/// The tools a boot test needs: QEMU and `ssh`; `false` after a visible skip message.
pub fn have_tools(test: &str, tools: &[&str]) -> bool {
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            skip(
                test,
                &format!("`{tool}` is not installed (run ci/install-test-deps)"),
            );
            return false;
        }
    }
    true
}

/// A file the tests need from a Debian package; `None` after a visible skip message.
pub fn debian_file(test: &str, path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.is_file() {
        Some(p)
    } else {
        skip(
            test,
            &format!("`{path}` is absent (run ci/install-test-deps)"),
        );
        None
    }
}

/// `-accel kvm` when `/dev/kvm` works (a kernel boots and prints its banner within seconds),
/// else `-accel tcg`. `BASALT_VM_ACCEL` decides when set.
pub fn accel(kernel: &Path) -> &'static str {
    static ACCEL: OnceLock<&'static str> = OnceLock::new();
    ACCEL.get_or_init(|| {
        match std::env::var("BASALT_VM_ACCEL").as_deref() {
            Ok("kvm") => return "kvm",
            Ok("tcg") => return "tcg",
            _ => {}
        }
        if !Path::new("/dev/kvm").exists() {
            return "tcg";
        }
        let dir = tempfile::tempdir().unwrap();
        let console = dir.path().join("probe.log");
        let child = Command::new("qemu-system-x86_64")
            .args([
                "-accel", "kvm", "-m", "256", "-display", "none", "-monitor", "none",
            ])
            .args(["-no-reboot", "-nodefaults", "-kernel"])
            .arg(kernel)
            .args(["-append", "console=ttyS0 panic=-1"])
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(mut child) = child else { return "tcg" };
        let start = Instant::now();
        let mut ok = false;
        while start.elapsed() < Duration::from_secs(8) {
            if std::fs::read_to_string(&console).is_ok_and(|t| t.contains("Linux version")) {
                ok = true;
                break;
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = child.kill();
        let _ = child.wait();
        if ok { "kvm" } else { "tcg" }
    })
}

/// Boots share the machine's two cores: every test that boots holds this while its VM runs,
/// so that the test binary runs one VM at a time.
pub fn one_vm() -> MutexGuard<'static, ()> {
    static ONE_VM: Mutex<()> = Mutex::new(());
    ONE_VM
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The longest a VM may run: its test kills it sooner, `timeout` at the latest.
pub const LIFETIME: Duration = Duration::from_secs(1200);

/// A free TCP port on 127.0.0.1 (for the forwarded SSH port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How a VM boots.
pub enum Firmware<'a> {
    /// SeaBIOS loads the kernel and the initramfs directly, with this command line.
    Direct {
        /// The kernel.
        kernel: &'a Path,
        /// The initramfs.
        initramfs: &'a Path,
        /// The command line.
        cmdline: &'a str,
    },
    /// OVMF boots `\EFI\BOOT\BOOTX64.EFI` from a FAT disk made of this directory.
    Uefi {
        /// OVMF's firmware image.
        ovmf: &'a Path,
        /// A directory laid out as an EFI system partition.
        esp: &'a Path,
    },
    /// OVMF boots a raw GPT disk (first virtio disk) from its EFI system partition.
    UefiDisk {
        /// OVMF's firmware image.
        ovmf: &'a Path,
        /// The raw disk.
        disk: &'a Path,
    },
}

/// A running VM: killed by its PID when dropped; its console printed if the test is failing.
pub struct Vm {
    child: Child,
    /// The serial console, as a file.
    pub console: PathBuf,
    /// The forwarded SSH port on 127.0.0.1.
    pub port: u16,
    name: String,
}

impl Vm {
    /// Starts QEMU: 1 GiB, two vCPUs, virtio NIC on a restricted user network with only
    /// `127.0.0.1:PORT` forwarded to the guest's port 22, the given extra disks (virtio), the
    /// serial console to `console`. `reboot` keeps QEMU running across a guest reboot.
    pub fn start(
        name: &str,
        firmware: &Firmware,
        disks: &[&Path],
        console: &Path,
        reboot: bool,
    ) -> Vm {
        let port = free_port();
        // A VM never outlives its bound, even if the test process dies without dropping it.
        let mut cmd = Command::new("timeout");
        cmd.args([
            "--kill-after=10",
            &LIFETIME.as_secs().to_string(),
            "qemu-system-x86_64",
        ]);
        let accel_kernel = match firmware {
            Firmware::Direct { kernel, .. } => kernel.to_path_buf(),
            Firmware::Uefi { .. } | Firmware::UefiDisk { .. } => {
                test_kernel(name).map(|k| k.vmlinuz).unwrap_or_default()
            }
        };
        cmd.args(["-accel", accel(&accel_kernel), "-m", "1024", "-smp", "2"])
            .args(["-display", "none", "-monitor", "none", "-nodefaults"])
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .args([
                "-netdev",
                &format!("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22"),
                "-device",
                "virtio-net-pci,netdev=n0,romfile=",
            ]);
        if !reboot {
            cmd.arg("-no-reboot");
        }
        match firmware {
            Firmware::Direct {
                kernel,
                initramfs,
                cmdline,
            } => {
                cmd.arg("-kernel")
                    .arg(kernel)
                    .arg("-initrd")
                    .arg(initramfs)
                    .arg("-append")
                    .arg(format!("{cmdline} panic=-1"));
            }
            Firmware::Uefi { ovmf, esp } => {
                cmd.arg("-bios").arg(ovmf).arg("-drive").arg(format!(
                    "file=fat:{},format=raw,if=none,id=esp,readonly=on",
                    esp.display()
                ));
                cmd.args(["-device", "virtio-blk-pci,drive=esp,bootindex=0"]);
            }
            Firmware::UefiDisk { ovmf, disk } => {
                cmd.arg("-bios").arg(ovmf).arg("-drive").arg(format!(
                    "file={},format=raw,if=none,id=boot",
                    disk.display()
                ));
                cmd.args(["-device", "virtio-blk-pci,drive=boot,bootindex=0"]);
            }
        }
        for (i, disk) in disks.iter().enumerate() {
            cmd.arg("-drive").arg(format!(
                "file={},format=raw,if=none,id=d{i}",
                disk.display()
            ));
            cmd.args(["-device", &format!("virtio-blk-pci,drive=d{i}")]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64 starts");
        eprintln!(
            "{name}: QEMU pid {} (console {})",
            child.id(),
            console.display()
        );
        Vm {
            child,
            console: console.to_path_buf(),
            port,
            name: name.to_owned(),
        }
    }

    /// Starts QEMU from a command line as a user types it (`qemu-system-x86_64 … -nographic
    /// …`): `sh` runs it in `dir` with only `env`, and execs QEMU, whose output (the serial
    /// console, with `-nographic`) goes to `console`. Bounded by [`LIFETIME`] and killed by
    /// its PID like [`Vm::start`]'s. `port` is the forwarded SSH port the command names.
    pub fn start_shell(
        name: &str,
        command: &str,
        dir: &Path,
        env: &[(&str, &std::ffi::OsStr)],
        console: &Path,
        port: u16,
    ) -> Vm {
        assert!(
            command.starts_with("qemu-system-"),
            "not a QEMU command: {command}"
        );
        let out = std::fs::File::create(console).unwrap();
        let child = Command::new("timeout")
            .args(["--kill-after=10", &LIFETIME.as_secs().to_string()])
            .args(["sh", "-c", &format!("exec {command}")])
            .current_dir(dir)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("timeout and sh start");
        eprintln!(
            "{name}: QEMU pid {} (console {})",
            child.id(),
            console.display()
        );
        Vm {
            child,
            console: console.to_path_buf(),
            port,
            name: name.to_owned(),
        }
    }

    /// The console so far.
    pub fn console_text(&self) -> String {
        std::fs::read(&self.console)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the console shows `needle` `times` times; panics (with the console) after
    /// `timeout` or when QEMU exits.
    pub fn wait_for(&mut self, needle: &str, times: usize, timeout: Duration) {
        let start = Instant::now();
        loop {
            if self.console_text().matches(needle).count() >= times {
                eprintln!("{}: `{needle}` after {:.0?}", self.name, start.elapsed());
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{}: QEMU exited ({status}) before `{needle}`", self.name);
            }
            assert!(
                start.elapsed() < timeout,
                "{}: no `{needle}` on the console within {timeout:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Waits for QEMU to exit (the guest powered off, or rebooted under `-no-reboot`).
    pub fn wait_exit(&mut self, timeout: Duration) {
        let start = Instant::now();
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                eprintln!("{}: QEMU exited after {:.0?}", self.name, start.elapsed());
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "{}: QEMU still runs after {timeout:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Runs `command` over SSH as `user` with `key`; `BatchMode`, no host key checks, a
    /// connect timeout, and only the given key.
    pub fn ssh(&self, key: &Path, user: &str, command: &str) -> Output {
        ssh_command(self.port, key, user)
            .arg(command)
            .output()
            .unwrap()
    }

    /// Retries `ssh … true` until it succeeds (sshd may start a moment after its line).
    pub fn wait_ssh(&self, key: &Path, user: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            let out = self.ssh(key, user, "true");
            if out.status.success() {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "{}: no SSH login within {timeout:?}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_secs(2));
        }
    }
}

/// An `ssh` command to the forwarded port, ready for the remote command.
pub fn ssh_command(port: u16, key: &Path, user: &str) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.args(["-p", &port.to_string()])
        .arg("-i")
        .arg(key)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=20",
            "-o",
            "LogLevel=ERROR",
        ])
        .arg(format!("{user}@127.0.0.1"))
        .stdin(Stdio::null());
    cmd
}

impl Drop for Vm {
    fn drop(&mut self) {
        // Killed by its own PID, never by name: SIGTERM to `timeout`, which passes it to QEMU;
        // SIGKILL if that has not ended it within ten seconds.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "----- console of {} ({}) -----\n{}\n----- end of console -----",
                self.name,
                self.console.display(),
                self.console_text()
            );
        }
    }
}

/// A raw ext4 disk image of `size` MiB labelled `label` (`mkfs.ext4`).
pub fn ext4_disk(path: &Path, label: &str, size_mib: u64) {
    let file = std::fs::File::create(path).unwrap();
    file.set_len(size_mib * 1024 * 1024).unwrap();
    drop(file);
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", label])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "mkfs.ext4: {out:?}");
}

/// The entries of a `newc` archive: `(name, data offset, size)`.
pub fn newc_entries(bytes: &[u8]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 110 <= bytes.len() {
        assert_eq!(&bytes[at..at + 6], b"070701", "newc magic at {at}");
        let field = |i: usize| {
            usize::from_str_radix(
                std::str::from_utf8(&bytes[at + 6 + 8 * i..at + 14 + 8 * i]).unwrap(),
                16,
            )
            .unwrap()
        };
        let (size, namesize) = (field(6), field(11));
        let name = String::from_utf8_lossy(&bytes[at + 110..at + 110 + namesize - 1]).into_owned();
        let data = (at + 110 + namesize).div_ceil(4) * 4;
        if name == "TRAILER!!!" {
            break;
        }
        out.push((name, data, size));
        at = (data + size).div_ceil(4) * 4;
    }
    out
}
