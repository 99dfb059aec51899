//! Checks that only a running host can answer, because they read the kernel's view of it
//! (`/proc/self/mounts`) rather than files of the image. On an image they are skipped, and the
//! report names them.

use super::{Host, config};

/// The checks of this module, for whoever compares a live audit with an image's.
pub const LIVE_CHECKS: &[&str] = &["state-volume-missing"];

impl Host<'_> {
    /// Every state volume of `/etc/fstab` (a device mounted below `/`, not tmpfs or swap) is
    /// mounted at its path, and not by the tmpfs that `basalt-state` puts in its place.
    pub(super) fn state_volumes(&mut self) {
        let id = "state-volume-missing";
        let mounts = match self.fs.read("/proc/self/mounts") {
            Ok(Some(bytes)) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
            _ => {
                self.skip(
                    id,
                    "only a live host can answer: /proc/self/mounts cannot be read (an image, or /proc is not mounted)",
                );
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
