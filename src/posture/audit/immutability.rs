//! Family `immutability`: the root is mounted read-only, every state volume is mounted where
//! `/etc/fstab` puts it, and nothing outside the temporary paths is world-writable or setuid
//! beyond the allow-list.
//!
//! `state-volume-missing` is the one check here that reads the kernel's view of the host
//! (`/proc/self/mounts`) rather than files of the image: only a live host can answer it, and
//! on an image it is skipped, with the reason.

use crate::integrity::rootfs::Kind;

use super::CheckId;
use super::config;
use super::host::{Host, join_list};

impl Host<'_> {
    pub(super) fn immutability(&mut self) {
        match self.text("/etc/fstab") {
            None => self.emit(
                CheckId::RootNotReadonly,
                "/etc/fstab",
                None,
                "there is no /etc/fstab, so / is mounted read-write".to_owned(),
                "/etc/fstab is absent".to_owned(),
            ),
            Some(text) => {
                let entries = config::parse_fstab(&text);
                match entries.iter().rev().find(|e| e.file == "/") {
                    Some(e) if e.options.iter().any(|o| o == "ro") => {}
                    Some(e) => self.emit(
                        CheckId::RootNotReadonly,
                        "/etc/fstab",
                        Some(e.line),
                        "/ is mounted read-write".to_owned(),
                        format!(
                            "/etc/fstab:{}: {} / {} {}",
                            e.line,
                            e.spec,
                            e.vfstype,
                            e.options.join(",")
                        ),
                    ),
                    None => self.emit(
                        CheckId::RootNotReadonly,
                        "/etc/fstab",
                        None,
                        "/etc/fstab has no entry for /, so it stays read-write".to_owned(),
                        format!(
                            "mount points in /etc/fstab: {}",
                            join_list(&entries.iter().map(|e| e.file.clone()).collect::<Vec<_>>())
                        ),
                    ),
                }
            }
        }
        let mut skip: Vec<&str> = vec![
            "/proc",
            "/sys",
            "/dev",
            "/var/lib/docker",
            "/var/lib/containerd",
        ];
        skip.extend(self.policy.temporary_paths.iter().map(String::as_str));
        let (entries, errors) = self.fs.walk_lossy(&skip);
        let total = errors.len();
        for err in errors.into_iter().take(MAX_WALK_ERRORS) {
            self.emit(
                CheckId::UnreadableFile,
                "/",
                None,
                "part of the root cannot be walked; its permissions are not checked".to_owned(),
                err.to_string(),
            );
        }
        if total > MAX_WALK_ERRORS {
            self.emit(
                CheckId::UnreadableFile,
                "/",
                None,
                format!("{} more entries cannot be walked", total - MAX_WALK_ERRORS),
                format!("{total} walk errors in all"),
            );
        }
        let mut found = Vec::new();
        for entry in entries {
            let m = entry.metadata;
            if matches!(m.kind, Kind::File | Kind::Dir) && m.mode & 0o002 != 0 {
                let sticky = if m.kind == Kind::Dir && m.mode & 0o1000 != 0 {
                    ", sticky"
                } else {
                    ""
                };
                found.push((
                    CheckId::WorldWritable,
                    format!("`{}` is world-writable", entry.path),
                    format!("{:?} mode {:04o}{sticky}", m.kind, m.mode).to_lowercase(),
                    entry.path.clone(),
                ));
            }
            if m.kind == Kind::File
                && m.mode & 0o6000 != 0
                && !self.policy.setuid_allowed.contains(&entry.path)
            {
                let bits = match m.mode & 0o6000 {
                    0o6000 => "setuid and setgid",
                    0o4000 => "setuid",
                    _ => "setgid",
                };
                found.push((
                    CheckId::SetuidBinary,
                    format!("`{}` is {bits}", entry.path),
                    format!("mode {:04o} owner {}:{}", m.mode, m.uid, m.gid),
                    entry.path.clone(),
                ));
            }
        }
        for (id, message, evidence, path) in found {
            self.emit(id, &path, None, message, evidence);
        }
        self.state_volumes();
    }

    /// Every state volume of `/etc/fstab` (a device mounted below `/`, not tmpfs or swap) is
    /// mounted at its path, and not by the tmpfs that `basalt-state` puts in its place.
    pub(super) fn state_volumes(&mut self) {
        let id = CheckId::StateVolumeMissing;
        let mounts = match self.fs.read("/proc/self/mounts") {
            Ok(Some(bytes)) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
            _ => {
                let reason = if self.fs.is_image() {
                    "only a live host can answer: an image has no mount table"
                } else {
                    "the mount table cannot be read: /proc is not mounted in this root, or the root is not a live host"
                };
                self.skip_path(id, None, "/proc/self/mounts", reason);
                return;
            }
        };
        let Some(fstab) = self.text("/etc/fstab") else {
            return;
        };
        // Mount point → file system type, the last mount winning (it is the one visible).
        let mut mounted = std::collections::BTreeMap::new();
        for line in mounts.lines() {
            let mut f = line.split_whitespace();
            let (Some(_), Some(point), Some(fstype)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            mounted.insert(unescape(point), fstype.to_owned());
        }
        for entry in config::parse_fstab(&fstab) {
            let volume = entry.file != "/"
                && entry.file.starts_with('/')
                && !matches!(
                    entry.vfstype.as_str(),
                    "tmpfs" | "swap" | "proc" | "sysfs" | "devtmpfs"
                );
            if !volume {
                continue;
            }
            match mounted.get(&entry.file).map(String::as_str) {
                Some("tmpfs") => self.emit(
                    id,
                    &entry.file,
                    Some(entry.line),
                    format!(
                        "state volume {} is missing: a tmpfs stands in at {}, and nothing written there survives a reboot",
                        entry.spec, entry.file
                    ),
                    format!("/proc/self/mounts: tmpfs on {}", entry.file),
                ),
                Some(_) => {}
                None => self.emit(
                    id,
                    &entry.file,
                    Some(entry.line),
                    format!(
                        "state volume {} is not mounted at {}: what is written there stays on the root",
                        entry.spec, entry.file
                    ),
                    format!("/proc/self/mounts has no mount on {}", entry.file),
                ),
            }
        }
    }
}

/// The most walk errors reported one by one.
const MAX_WALK_ERRORS: usize = 20;

/// `/proc/self/mounts` escapes space, tab, newline and backslash as octal (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len() + 1
            && bytes
                .get(i + 1..i + 4)
                .is_some_and(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)))
        {
            let d = &bytes[i + 1..i + 4];
            out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(super::unescape("/var/lib/my\\040data"), "/var/lib/my data");
        assert_eq!(super::unescape("/a\\"), "/a\\");
    }
}
