//! The disk's parts against the real tools: the dm-verity hash tree against cryptsetup's
//! `veritysetup`, the squashfs root against `unsquashfs` and the kernel's own squashfs (a loop
//! mount described by basalt's manifest), the GPT disk against `sfdisk` and `sgdisk`, the ESP
//! against dosfstools and mtools, qcow2 against `qemu-img`, and the initramfs against the
//! real Alpine busybox and musl.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use basalt::build::disk::{self, initramfs, squashfs, verity};
use basalt::tree::{ImagePath, ImageTree, Node, NodeKind};
use support::boot::{is_root, show};

/// A program the tests need: present, or a failure naming the package that brings it
/// (`ci/install-test-deps` installs them all).
fn tool(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let path = Path::new(dir).join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!("`{name}` not found: install Debian's `{package}` (ci/install-test-deps does)");
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", show(&out));
    out
}

fn p(s: &str) -> ImagePath {
    ImagePath::new(s.as_bytes()).unwrap()
}

/// Deterministic bytes that do not repeat within a block.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn hash_trees_equal_veritysetups_and_pass_its_verify() {
    let veritysetup = tool("veritysetup", "cryptsetup-bin");
    let dir = tempfile::tempdir().unwrap();
    // One block (no level), one level, exactly one full level, two levels, three levels.
    for blocks in [1usize, 2, 128, 129, 16_385] {
        let data = noise(blocks * verity::BLOCK_SIZE, blocks as u32);
        let salt: [u8; 32] = disk::derive("test salt", &data[..64]);
        let uuid = *disk::derive_uuid("test uuid", &data[..64]).as_bytes();
        let tree = verity::build(&data, salt, uuid).unwrap();

        let data_path = dir.path().join("data");
        let theirs = dir.path().join(format!("theirs-{blocks}"));
        fs_err::write(&data_path, &data).unwrap();
        let out = run(Command::new(&veritysetup)
            .arg("format")
            .arg(format!("--salt={}", hex::encode(salt)))
            .arg(format!("--uuid={}", tree.uuid_text()))
            .arg(&data_path)
            .arg(&theirs));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("Root hash:      \t{}", tree.root_hash_hex())),
            "{blocks} blocks: {text}"
        );
        assert_eq!(
            fs_err::read(&theirs).unwrap(),
            tree.bytes,
            "{blocks} blocks: hash device bytes differ from veritysetup's"
        );

        let ours = dir.path().join(format!("ours-{blocks}"));
        fs_err::write(&ours, &tree.bytes).unwrap();
        run(Command::new(&veritysetup)
            .arg("verify")
            .arg(&data_path)
            .arg(&ours)
            .arg(tree.root_hash_hex()));
        // One byte changed in the data: veritysetup refuses it.
        let mut changed = data.clone();
        changed[data.len() / 2] ^= 1;
        fs_err::write(&data_path, &changed).unwrap();
        let out = Command::new(&veritysetup)
            .arg("verify")
            .arg(&data_path)
            .arg(&ours)
            .arg(tree.root_hash_hex())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{blocks} blocks: {}", show(&out));
    }
}

/// A tree with every kind of entry and attribute a root filesystem must keep.
fn fixture() -> ImageTree {
    let mut tree = ImageTree::new();
    for dir in [
        "bin",
        "dev",
        "etc",
        "tmp",
        "usr",
        "usr/share",
        "var",
        "var/lib",
    ] {
        tree.insert(p(dir), Node::dir(0o755)).unwrap();
    }
    tree.get_mut(&p("tmp")).unwrap().mode = 0o1777;
    tree.insert(
        p("etc/passwd"),
        Node::file(
            &b"root:x:0:0:root:/root:/bin/sh\nchrony:x:100:101::/var/lib/chrony:/sbin/nologin\n"[..],
            0o644,
        ),
    )
    .unwrap();
    tree.insert(
        p("etc/group"),
        Node::file(&b"root:x:0:root\nchrony:x:101:\n"[..], 0o644),
    )
    .unwrap();
    tree.insert(
        p("etc/shadow"),
        Node::file(&b"root:*::0:::::\n"[..], 0o640).owned(0, 42),
    )
    .unwrap();
    tree.insert(p("var/lib/chrony"), Node::dir(0o750).owned(100, 101))
        .unwrap();
    let big = noise(300_000, 7);
    tree.insert(p("bin/busybox"), Node::file(big, 0o755))
        .unwrap();
    tree.insert(
        p("bin/ping"),
        Node::new(NodeKind::Hardlink(p("bin/busybox")), 0o755),
    )
    .unwrap();
    tree.insert(p("bin/sh"), Node::symlink("/bin/busybox"))
        .unwrap();
    tree.insert(p("bin/su"), Node::file(&b"su"[..], 0o4755))
        .unwrap();
    let mut cap = Node::file(&b"capable"[..], 0o755);
    // VFS_CAP_REVISION_2, effective, CAP_NET_RAW permitted (the kernel checks the form).
    cap.xattrs.insert(
        "security.capability".into(),
        [[1, 0, 0, 2], [0, 0x20, 0, 0], [0; 4], [0; 4], [0; 4]].concat(),
    );
    cap.xattrs.insert("user.origin".into(), b"fixture".to_vec());
    tree.insert(p("bin/capable"), cap).unwrap();
    tree.insert(
        p("dev/null"),
        Node::new(NodeKind::CharDevice { major: 1, minor: 3 }, 0o666),
    )
    .unwrap();
    tree.insert(
        p("dev/loop9"),
        Node::new(NodeKind::BlockDevice { major: 7, minor: 9 }, 0o660).owned(0, 6),
    )
    .unwrap();
    tree.insert(p("dev/initctl"), Node::new(NodeKind::Fifo, 0o600))
        .unwrap();
    tree.insert(
        ImagePath::new(b"usr/share/caf\xe9-latin1").unwrap(),
        Node::file(&b"not utf-8"[..], 0o644),
    )
    .unwrap();
    let long = format!("usr/share/{}", "l".repeat(200));
    tree.insert(
        p(&long),
        Node::file(&b"long name"[..], 0o600).owned(3_000_000, 3_000_001),
    )
    .unwrap();
    tree.insert(p("usr/share/empty"), Node::file(&b""[..], 0o644))
        .unwrap();
    tree
}

fn options(jobs: usize) -> squashfs::Options {
    squashfs::Options {
        jobs,
        ..squashfs::Options::default()
    }
}

/// `unsquashfs -lln` as path → (mode string, owner, size or device numbers, link target).
fn listing(image: &Path) -> BTreeMap<String, (String, String, String, Option<String>)> {
    let unsquashfs = tool("unsquashfs", "squashfs-tools");
    let out = run(Command::new(unsquashfs)
        .args(["-lln", "-d", "/"])
        .arg(image)
        .env("TZ", "UTC"));
    let mut entries = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.len() < 6 || tokens[0].len() != 10 {
            continue;
        }
        // Device entries print "MAJOR, MINOR" where others print a size.
        let (size, date) = if tokens[2].ends_with(',') {
            (format!("{} {}", tokens[2], tokens[3]), 4)
        } else {
            (tokens[2].to_owned(), 3)
        };
        let rest = format!("/{}", tokens[date + 2..].join(" ").trim_start_matches('/'));
        let (path, target) = match rest.split_once(" -> ") {
            Some((path, target)) => (path.to_owned(), Some(target.to_owned())),
            None => (rest, None),
        };
        entries.insert(
            path,
            (tokens[0].to_owned(), tokens[1].to_owned(), size, target),
        );
    }
    entries
}

#[test]
fn the_root_filesystem_keeps_every_entry_and_attribute() {
    let tree = fixture();
    let epoch = 1_700_000_000;
    let one = squashfs::build(&tree, epoch, &options(1)).unwrap();
    let two = squashfs::build(&tree, epoch, &options(2)).unwrap();
    assert_eq!(one, two, "the filesystem depends on the number of threads");
    assert_eq!(one.len() % 4096, 0);
    assert_ne!(one, squashfs::build(&tree, epoch + 1, &options(2)).unwrap());

    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("root.squashfs");
    fs_err::write(&image, &one).unwrap();
    let listed = listing(&image);
    let names: Vec<String> = tree
        .iter()
        .map(|(path, _)| format!("/{}", path.display()))
        .collect();
    let mut expected: Vec<String> = names.clone();
    expected.push("/".to_owned());
    assert_eq!(expected.len(), tree.len() + 1);
    expected.sort();
    let mut got: Vec<String> = listed.keys().cloned().collect();
    got.sort();
    // unsquashfs prints non-UTF-8 bytes as they are; the fixture's one such name shows as
    // the lossy form on both sides.
    let lossy = |names: Vec<String>| -> Vec<String> {
        names
            .into_iter()
            .map(|n| n.replace("\\xe9", "\u{fffd}"))
            .collect()
    };
    assert_eq!(lossy(got), lossy(expected.clone()));
    assert_eq!(listed["/"].0, "drwxr-xr-x");
    assert_eq!(listed["/tmp"].0, "drwxrwxrwt");
    assert_eq!(listed["/bin/su"].0, "-rwsr-xr-x");
    assert_eq!(listed["/etc/shadow"].1, "0/42");
    assert_eq!(
        listed["/var/lib/chrony"],
        (
            "drwxr-x---".into(),
            "100/101".into(),
            listed["/var/lib/chrony"].2.clone(),
            None
        )
    );
    assert_eq!(listed["/bin/sh"].3.as_deref(), Some("/bin/busybox"));
    assert_eq!(listed["/dev/null"].0, "crw-rw-rw-");
    assert_eq!(listed["/dev/null"].2, "1, 3");
    assert_eq!(listed["/dev/loop9"].0, "brw-rw----");
    assert_eq!(listed["/dev/initctl"].0, "prw-------");
    assert_eq!(listed["/bin/busybox"].2, "300000");
    assert_eq!(listed["/bin/ping"].2, "300000");
    let long = format!("/usr/share/{}", "l".repeat(200));
    assert_eq!(listed[&long].1, "3000000/3000001");

    // The kernel reads it as the manifest describes the archive: every entry, owner, mode,
    // size, digest, link, hard link and extended attribute.
    if !is_root() {
        eprintln!("SKIPPED the loop-mount half: needs root");
        return;
    }
    let mount = dir.path().join("mnt");
    fs_err::create_dir(&mount).unwrap();
    run(Command::new("mount")
        .args(["-t", "squashfs", "-o", "ro,loop"])
        .arg(&image)
        .arg(&mount));
    let mounted = basalt::integrity::host::scan_root(
        &mount,
        &basalt::integrity::host::ScanOptions::default(),
    );
    run(Command::new("umount").arg(&mount));
    let mounted = mounted.unwrap();
    let archive = basalt::build::image::write_tar_gz(&tree, epoch, Vec::new()).unwrap();
    let archived = basalt::integrity::host::scan_archive(
        &archive[..],
        Path::new("fixture.tar.gz"),
        &basalt::integrity::host::ScanOptions::default(),
    )
    .unwrap();
    assert_eq!(mounted.entries, archived.entries);
}

#[test]
fn a_missing_or_failing_packer_is_named() {
    let tree = fixture();
    let missing = squashfs::Options {
        tool: PathBuf::from("/nonexistent/tar2sqfs"),
        jobs: 1,
    };
    let err = squashfs::build(&tree, 0, &missing).unwrap_err();
    let text = format!("{err}");
    assert!(text.contains("/nonexistent/tar2sqfs"), "{text}");
    assert!(text.contains("squashfs-tools-ng"), "{text}");
    let failing = squashfs::Options {
        tool: PathBuf::from("false"),
        jobs: 1,
    };
    let err = squashfs::build(&tree, 0, &failing).unwrap_err();
    assert!(matches!(err, squashfs::Error::Failed { .. }), "{err}");
    let err = squashfs::build(&tree, 1 << 33, &options(1)).unwrap_err();
    assert!(matches!(err, squashfs::Error::Epoch { .. }), "{err}");
}

/// The disk of the fixture with a stand-in UKI.
fn fixture_disk() -> (disk::Root, disk::Disk, Vec<u8>) {
    let root = disk::root(&fixture(), 1_700_000_000, &options(2)).unwrap();
    let mut uki = b"MZ".to_vec();
    uki.extend(noise(200_000, 3));
    let built = disk::assemble(&root, &uki, "x86_64", 1_700_000_000).unwrap();
    (root, built, uki)
}

#[test]
fn the_disk_is_a_valid_gpt_disk_whose_partitions_the_tools_accept() {
    let (root, built, uki) = fixture_disk();
    let (_, again, _) = fixture_disk();
    assert_eq!(built.raw, again.raw, "two builds give different disks");
    assert!(disk::assemble(&root, &uki, "aarch64", 0).is_err());

    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    fs_err::write(&raw, &built.raw).unwrap();

    // The partition table, as util-linux reads it.
    let out = run(Command::new(tool("sfdisk", "fdisk"))
        .arg("--json")
        .arg(&raw));
    let table: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let table = &table["partitiontable"];
    assert_eq!(table["label"], "gpt");
    assert_eq!(
        table["id"].as_str().unwrap().to_lowercase(),
        built.guid.hyphenated().to_string()
    );
    let parts = table["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    let hash = root.root_hash_hex();
    let expect = [
        ("esp", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", None),
        (
            "root-x86-64",
            "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
            Some(&hash[..32]),
        ),
        (
            "root-x86-64-verity",
            "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5",
            Some(&hash[32..]),
        ),
    ];
    for ((part, report), (name, kind, guid)) in parts.iter().zip(&built.partitions).zip(expect) {
        assert_eq!(part["name"], name);
        assert_eq!(part["type"], kind);
        assert_eq!(part["start"].as_u64().unwrap() * 512, report.placed.offset);
        assert_eq!(part["size"].as_u64().unwrap() * 512, report.placed.size);
        assert_eq!(report.placed.offset % (1 << 20), 0);
        let uuid = part["uuid"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .replace('-', "");
        if let Some(guid) = guid {
            assert_eq!(
                uuid, guid,
                "{name}: the GUID is not derived from the root hash"
            );
        }
    }
    // sgdisk checks both tables, their CRCs and the protective MBR.
    let out = run(Command::new(tool("sgdisk", "gdisk")).arg("-v").arg(&raw));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No problems found"),
        "{}",
        show(&out)
    );

    // Each partition, cut out of the disk, is what its tool expects.
    let cut = |n: usize, name: &str| {
        let placed = &built.partitions[n].placed;
        let path = dir.path().join(name);
        let start = placed.offset as usize;
        fs_err::write(&path, &built.raw[start..start + placed.size as usize]).unwrap();
        assert_eq!(
            built.partitions[n].sha256,
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                &built.raw[start..start + placed.size as usize]
            ))
        );
        path
    };
    let esp = cut(0, "esp.img");
    let root_part = cut(1, "root.img");
    let verity_part = cut(2, "verity.img");
    run(Command::new(tool("veritysetup", "cryptsetup-bin"))
        .arg("verify")
        .arg(&root_part)
        .arg(&verity_part)
        .arg(&hash));
    let out = run(Command::new(tool("veritysetup", "cryptsetup-bin"))
        .arg("dump")
        .arg(&verity_part));
    let dump = String::from_utf8_lossy(&out.stdout);
    assert!(dump.contains(&root.hash_tree.uuid_text()), "{dump}");
    assert!(dump.contains(&hex::encode(root.hash_tree.salt)), "{dump}");
    let out = Command::new(tool("fsck.fat", "dosfstools"))
        .arg("-n")
        .arg(&esp)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let copied = dir.path().join("BOOTX64.EFI");
    run(Command::new(tool("mcopy", "mtools"))
        .arg("-i")
        .arg(&esp)
        .arg("::/EFI/BOOT/BOOTX64.EFI")
        .arg(&copied)
        .env("MTOOLS_SKIP_CHECK", "1"));
    assert_eq!(fs_err::read(&copied).unwrap(), uki);

    // qcow2: deterministic, and the same disk.
    let Some(qemu_img) = disk::qemu_img() else {
        panic!("`qemu-img` not found: install Debian's `qemu-utils` (ci/install-test-deps does)");
    };
    let a = dir.path().join("a.qcow2");
    let b = dir.path().join("b.qcow2");
    disk::convert_to_qcow2(&qemu_img, &raw, &a).unwrap();
    disk::convert_to_qcow2(&qemu_img, &raw, &b).unwrap();
    assert_eq!(fs_err::read(&a).unwrap(), fs_err::read(&b).unwrap());
    run(Command::new(&qemu_img)
        .args(["compare", "-f", "raw", "-F", "qcow2"])
        .arg(&raw)
        .arg(&a));
}

#[test]
fn the_disk_initramfs_takes_busybox_musl_and_the_modules_it_needs() {
    let Some(data) =
        support::shared_data("the_disk_initramfs_takes_busybox_musl_and_the_modules_it_needs")
    else {
        return;
    };
    let repo = data.join("alpine/repos/v3.19-boot/x86_64");
    let keyring = basalt::apk::keys::Keyring::alpine();
    let limits = basalt::build::unpack::Limits::default();
    let packages = ["musl-1.2.4_git20230717-r4.apk", "busybox-1.36.1-r15.apk"]
        .iter()
        .map(|file| {
            let path = repo.join(file);
            let bytes = fs_err::read(&path).unwrap();
            basalt::build::pipeline::read_apk(&bytes, file, &keyring, None, limits).unwrap()
        })
        .collect();
    let options = basalt::build::pipeline::Options {
        name: "t".into(),
        version: "1".into(),
        epoch: 1_700_000_000,
        ..basalt::build::pipeline::Options::default()
    };
    let mut image = basalt::build::pipeline::assemble(packages, &options)
        .unwrap()
        .tree;
    // A kernel's modules: storage and device-mapper as modules, squashfs built in.
    let version = "6.1.0-test";
    let modules = format!("lib/modules/{version}");
    image
        .create_dir_all(&p(&format!("{modules}/kernel/drivers")), &Node::dir(0o755))
        .unwrap();
    for (file, body) in [
        ("kernel/drivers/virtio.ko", "virtio"),
        ("kernel/drivers/virtio_ring.ko", "ring"),
        ("kernel/drivers/virtio_blk.ko", "blk"),
        ("kernel/drivers/dm-mod.ko", "dm"),
        ("kernel/drivers/dm-bufio.ko", "bufio"),
        ("kernel/drivers/dm-verity.ko", "verity"),
        ("kernel/drivers/ext4.ko", "ext4"),
        ("kernel/drivers/jbd2.ko", "jbd2"),
        ("kernel/drivers/unrelated.ko", "no"),
    ] {
        image
            .insert(
                p(&format!("{modules}/{file}")),
                Node::file(body.as_bytes(), 0o644),
            )
            .unwrap();
    }
    let dep = "kernel/drivers/virtio.ko:\n\
               kernel/drivers/virtio_ring.ko:\n\
               kernel/drivers/virtio_blk.ko: kernel/drivers/virtio.ko kernel/drivers/virtio_ring.ko\n\
               kernel/drivers/dm-mod.ko:\n\
               kernel/drivers/dm-bufio.ko:\n\
               kernel/drivers/dm-verity.ko: kernel/drivers/dm-bufio.ko kernel/drivers/dm-mod.ko\n\
               kernel/drivers/ext4.ko: kernel/drivers/jbd2.ko\n\
               kernel/drivers/jbd2.ko:\n\
               kernel/drivers/unrelated.ko:\n";
    image
        .insert(
            p(&format!("{modules}/modules.dep")),
            Node::file(dep.as_bytes(), 0o644),
        )
        .unwrap();
    image
        .insert(
            p(&format!("{modules}/modules.builtin")),
            Node::file(&b"kernel/fs/squashfs/squashfs.ko\n"[..], 0o644),
        )
        .unwrap();

    let config = initramfs::Config {
        mode: initramfs::VerityMode::Enforce,
        modules: Vec::new(),
        optional_modules: Vec::new(),
        state: vec![initramfs::StateMount {
            path: "/var/lib".into(),
            device: "LABEL=state".into(),
            fstype: "ext4".into(),
            options: "defaults,nodev,nosuid".into(),
        }],
        ephemeral: vec![initramfs::EphemeralMount {
            path: "/tmp".into(),
            mode: 0o1777,
            uid: 0,
            gid: 0,
        }],
        mutable: vec!["/etc/resolv.conf".into()],
        manifest: false,
    };
    let helper = b"\x7fELF static basalt";
    let (tree, contents) =
        initramfs::build(&image, &config, helper, Some((b"manifest", b"signature"))).unwrap();
    let file = |path: &str| tree.read_file(path).map(<[u8]>::to_vec);
    assert_eq!(file("/sbin/basalt").unwrap(), helper);
    assert_eq!(file("/init").unwrap(), initramfs::INIT.as_bytes());
    assert_eq!(
        file("/bin/busybox"),
        image.read_file("/bin/busybox").map(<[u8]>::to_vec)
    );
    // busybox's interpreter and the library name it links, as links and files of the image.
    assert!(file("/lib/ld-musl-x86_64.so.1").is_some());
    assert!(matches!(
        tree.lookup("/lib/libc.musl-x86_64.so.1").map(|n| &n.kind),
        Some(NodeKind::Symlink(_))
    ));
    assert_eq!(
        contents.programs,
        ["/bin/busybox", "/lib/ld-musl-x86_64.so.1"]
    );
    for applet in initramfs::APPLETS {
        let link = if *applet == "modprobe" {
            "/sbin/modprobe".to_owned()
        } else {
            format!("/bin/{applet}")
        };
        assert!(tree.lookup(&link).is_some(), "{link}");
    }
    assert!(matches!(
        tree.lookup("/dev/console").map(|n| &n.kind),
        Some(NodeKind::CharDevice { major: 5, minor: 1 })
    ));
    // Exactly the modules asked for and their dependencies; squashfs is built in.
    assert_eq!(
        contents.modules,
        [
            "kernel/drivers/dm-bufio.ko",
            "kernel/drivers/dm-mod.ko",
            "kernel/drivers/dm-verity.ko",
            "kernel/drivers/ext4.ko",
            "kernel/drivers/jbd2.ko",
            "kernel/drivers/virtio.ko",
            "kernel/drivers/virtio_blk.ko",
            "kernel/drivers/virtio_ring.ko",
        ]
    );
    assert_eq!(contents.builtin, ["squashfs"]);
    assert!(contents.absent.contains(&"nvme".to_owned()));
    let reduced = String::from_utf8(file(&format!("/{modules}/modules.dep")).unwrap()).unwrap();
    assert!(
        reduced.contains(
            "kernel/drivers/dm-verity.ko: kernel/drivers/dm-bufio.ko kernel/drivers/dm-mod.ko\n"
        ),
        "{reduced}"
    );
    assert!(!reduced.contains("unrelated"), "{reduced}");
    let conf = String::from_utf8(file("/etc/basalt/disk.conf").unwrap()).unwrap();
    assert!(conf.contains("\nmode enforce\n"), "{conf}");
    assert!(conf.contains("\nmodule dm_verity\n"), "{conf}");
    assert!(!conf.contains("module nvme"), "{conf}");
    assert!(conf.contains("\ntry-module virtio_blk\n"), "{conf}");
    assert!(!conf.contains("module squashfs"), "{conf}");
    assert!(
        conf.contains("\nstate /var/lib LABEL=state ext4 defaults,nodev,nosuid\n"),
        "{conf}"
    );
    assert!(conf.contains("\nmutable /etc/resolv.conf\n"), "{conf}");
    assert!(
        conf.contains("\nmanifest /etc/basalt/manifest /etc/basalt/manifest.minisig\n"),
        "{conf}"
    );
    assert_eq!(file("/etc/basalt/manifest").unwrap(), b"manifest");

    // A kernel without dm-verity cannot boot the disk: said at build time.
    let mut without = image.clone();
    without
        .insert(
            p(&format!("{modules}/modules.dep")),
            Node::file(&b"kernel/drivers/dm-mod.ko:\n"[..], 0o644),
        )
        .unwrap();
    let err = initramfs::build(&without, &config, helper, None).unwrap_err();
    assert!(err.to_string().contains("dm_verity"), "{err}");
    // Nor can one without modules, or a setting that would break the settings file.
    let mut bare = image.clone();
    bare.remove_all(&p("lib/modules"));
    let err = initramfs::build(&bare, &config, helper, None).unwrap_err();
    assert!(err.to_string().contains("no kernel modules"), "{err}");
    let mut spaced = config.clone();
    spaced.state[0].options = "defaults nodev".into();
    assert!(initramfs::build(&image, &spaced, helper, None).is_err());
}

#[test]
fn the_init_script_is_valid_shell() {
    let out = Command::new("sh")
        .arg("-n")
        .arg("-c")
        .arg(initramfs::INIT)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
fn a_disk_needs_a_kernel_a_stub_a_read_only_root_and_a_static_device_mapper_helper() {
    let bin = env!("CARGO_BIN_EXE_basalt");
    let dir = tempfile::tempdir().unwrap();
    let minimal = support::offline_profile();
    let out_dir = dir.path().join("out");
    let run = |profile: &Path, args: &[&str]| {
        Command::new(bin)
            .arg("build")
            .arg(profile)
            .arg("--out")
            .arg(&out_dir)
            .args(args)
            .output()
            .unwrap()
    };
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let out = run(&minimal, &["--emit", "disk"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr(&out).contains("--emit disk needs a kernel"),
        "{}",
        show(&out)
    );
    let vmlinuz = dir.path().join("vmlinuz");
    fs_err::write(&vmlinuz, b"not a kernel").unwrap();
    let vmlinuz = vmlinuz.display().to_string();
    let out = run(&minimal, &["--kernel", &vmlinuz, "--emit", "disk"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr(&out).contains("--emit disk needs the EFI stub"),
        "{}",
        show(&out)
    );

    // With a real kernel and stub: the root must be read-only, and the helper static with
    // device-mapper support; all said before anything is fetched.
    let Some(kernel) = support::vm::test_kernel(
        "a_disk_needs_a_kernel_a_stub_a_read_only_root_and_a_static_device_mapper_helper",
    ) else {
        return;
    };
    let stub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
    let kernel_args = [
        "--kernel",
        kernel.vmlinuz.to_str().unwrap(),
        "--kernel-modules",
        kernel.modules.to_str().unwrap(),
        "--emit",
        "disk",
        "--efi-stub",
        stub,
    ];
    let writable = dir.path().join("writable.toml");
    fs_err::write(
        &writable,
        fs_err::read_to_string(&minimal)
            .unwrap()
            .replace("read_only_root = true", "read_only_root = false"),
    )
    .unwrap();
    let out = run(&writable, &kernel_args);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr(&out).contains("read_only_root = false"),
        "{}",
        show(&out)
    );
    // This test's basalt is dynamically linked, and without device-mapper support.
    let mut args = kernel_args.to_vec();
    args.extend(["--verifier", bin]);
    let out = run(&minimal, &args);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr(&out).contains("not a statically linked program"),
        "{}",
        show(&out)
    );
    assert!(stderr(&out).contains("ci/build-static"), "{}", show(&out));
    assert!(!out_dir.exists());
    assert!(!basalt::cli::disk::supports_device_mapper(
        &fs_err::read(bin).unwrap()
    ));
}

/// The members of a `newc` cpio archive: path → data.
fn newc_members(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let hex =
        |field: &[u8]| usize::from_str_radix(std::str::from_utf8(field).unwrap(), 16).unwrap();
    let pad = |n: usize| n.next_multiple_of(4);
    let mut members = BTreeMap::new();
    let mut at = 0;
    loop {
        let header = &archive[at..at + 110];
        assert_eq!(&header[..6], b"070701", "a newc header at {at}");
        let size = hex(&header[54..62]);
        let name_size = hex(&header[94..102]);
        let name = std::str::from_utf8(&archive[at + 110..at + 110 + name_size - 1])
            .unwrap()
            .to_owned();
        let data_at = pad(at + 110 + name_size);
        if name == "TRAILER!!!" {
            return members;
        }
        members.insert(name, archive[data_at..data_at + size].to_vec());
        at = pad(data_at + size);
    }
}

/// A host that verifies itself only periodically (`[verify] every`, nothing at boot) embeds
/// its signed manifest like one that verifies at boot: the disk's verified root holds empty
/// files at those paths, so the disk's initramfs must bring the signed copies, or the
/// periodic check would compare the host against an empty manifest.
#[test]
fn a_disk_verified_only_periodically_carries_its_signed_manifest() {
    let test = "a_disk_verified_only_periodically_carries_its_signed_manifest";
    let Some(data) = support::shared_data(test) else {
        return;
    };
    let Some(kernel) = support::vm::test_kernel(test) else {
        return;
    };
    let stub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
    if support::vm::debian_file(test, stub).is_none() {
        return;
    }
    let Some(helper) = support::boot::static_basalt(test) else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_basalt");
    let dir = tempfile::tempdir().unwrap();
    let minimal = support::offline_profile();
    let profile = dir.path().join("minimal.toml");
    let mut text = fs_err::read_to_string(minimal).unwrap();
    text.push_str("\n[verify]\nat_boot = \"off\"\nevery = \"hourly\"\n");
    fs_err::write(&profile, text).unwrap();
    let key = dir.path().join("release");
    run(Command::new(bin).arg("keygen").arg("--out").arg(&key));
    let out = dir.path().join("out");
    run(Command::new(bin)
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
        .arg(&helper)
        .arg("--kernel")
        .arg(&kernel.vmlinuz)
        .arg("--kernel-modules")
        .arg(&kernel.modules)
        .args(["--emit", "disk", "--efi-stub", stub])
        .env("SOURCE_DATE_EPOCH", "1700000000"));
    let file = |suffix: &str| fs_err::read(out.join(format!("minimal-1.0.0.{suffix}"))).unwrap();
    let mut cpio = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&file("disk.cpio.gz")[..]),
        &mut cpio,
    )
    .unwrap();
    let members = newc_members(&cpio);
    assert_eq!(
        members.get(initramfs::MANIFEST_PATH),
        Some(&file("manifest")),
        "the initramfs carries the signed manifest"
    );
    assert_eq!(
        members.get(initramfs::SIGNATURE_PATH),
        Some(&file("manifest.minisig"))
    );
    let conf = String::from_utf8(members[initramfs::CONFIG_PATH].clone()).unwrap();
    assert!(
        conf.contains("\nmanifest /etc/basalt/manifest /etc/basalt/manifest.minisig\n"),
        "{conf}"
    );
    // Nothing is checked at boot: the kernel checks blocks as they are read.
    assert!(conf.contains("\nmode lazy\n"), "{conf}");
    // The manifest describes the periodic check it is there for.
    assert!(
        String::from_utf8_lossy(&file("manifest")).contains("etc/crontabs/root"),
        "the image runs the verifier from crond"
    );
}
