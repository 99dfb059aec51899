//! The EFI system partition: a FAT filesystem, made in memory, holding the files firmware
//! boots (the UKI at `\EFI\BOOT\BOOTX64.EFI`).
//!
//! Invariants: the bytes are a pure function of the files, the volume id and the epoch (every
//! directory entry is dated by the epoch, the volume id is given, nothing reads a clock);
//! every name is an upper-case 8.3 name, stored as a short entry alone (no long-name
//! entries), which is what firmware looks up and what `fsck.fat` accepts.

use std::io::{self, Cursor, Write as _};

/// Errors from making the partition.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path is not a relative `A/B/C` path of upper-case 8.3 names.
    #[error("invalid EFI system partition path `{path}` (upper-case 8.3 names, `/`-separated)")]
    Path {
        /// The path.
        path: String,
    },
    /// The FAT library failed (the partition too small, a bad name...).
    #[error("cannot write `{path}` into the EFI system partition")]
    Fat {
        /// The file or step.
        path: String,
        /// Its error.
        #[source]
        source: io::Error,
    },
}

/// One file of the partition.
#[derive(Debug, Clone, Copy)]
pub struct File<'a> {
    /// Its path from the partition's root, `/`-separated (`EFI/BOOT/BOOTX64.EFI`).
    pub path: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
}

/// The volume label written into the boot sector.
pub const LABEL: &[u8; 11] = b"ESP        ";

/// A partition size that holds `files` with room to spare: their size plus a quarter plus
/// 2 MiB for the filesystem's own structures, in whole MiB, at least 8 MiB.
#[must_use]
pub fn size_for(files: &[File<'_>]) -> u64 {
    const MIB: u64 = 1 << 20;
    let content: u64 = files.iter().map(|f| f.bytes.len() as u64).sum();
    (content + content / 4 + 2 * MIB).div_ceil(MIB).max(8) * MIB
}

/// Formats a FAT filesystem of `size` bytes holding `files`, dated `epoch`.
///
/// # Errors
/// [`Error::Path`] for a path with empty, `.` or `..` components; [`Error::Fat`] when the
/// files do not fit or FAT refuses a name.
pub fn build(files: &[File<'_>], size: u64, volume_id: u32, epoch: u64) -> Result<Vec<u8>, Error> {
    let fat = |path: &str| {
        let path = path.to_owned();
        move |source| Error::Fat { path, source }
    };
    let len = usize::try_from(size).map_err(|_| Error::Path {
        path: format!("(a partition of {size} bytes)"),
    })?;
    let mut disk = Cursor::new(vec![0u8; len]);
    fatfs::format_volume(
        &mut disk,
        fatfs::FormatVolumeOptions::new()
            .volume_id(volume_id)
            .volume_label(*LABEL),
    )
    .map_err(fat("(format)"))?;
    disk.set_position(0);
    // The FAT library asks a `'static` clock for every date it writes; this one always
    // answers the build epoch. One small value per partition built is leaked for it.
    let clock: &'static EpochClock = Box::leak(Box::new(EpochClock::new(epoch)));
    {
        let fs = fatfs::FileSystem::new(&mut disk, fatfs::FsOptions::new().time_provider(clock))
            .map_err(fat("(open)"))?;
        for file in files {
            let root = fs.root_dir();
            let parts: Vec<&str> = file.path.split('/').collect();
            if !parts.iter().all(|p| is_short_name(p)) {
                return Err(Error::Path {
                    path: file.path.to_owned(),
                });
            }
            let (name, dirs) = parts.split_last().expect("split yields one part at least");
            let mut dir = root;
            for part in dirs {
                dir = match dir.open_dir(part) {
                    Ok(existing) => existing,
                    Err(_) => dir.create_dir(part).map_err(fat(file.path))?,
                };
            }
            let mut out = dir.create_file(name).map_err(fat(file.path))?;
            out.truncate().map_err(fat(file.path))?;
            out.write_all(file.bytes).map_err(fat(file.path))?;
            out.flush().map_err(fat(file.path))?;
        }
        fs.unmount().map_err(fat("(unmount)"))?;
    }
    Ok(disk.into_inner())
}

/// Whether `name` is an upper-case 8.3 name: 1 to 8 characters, optionally a dot and 1 to 3
/// more, of `A-Z`, `0-9`, `_` and `-`.
fn is_short_name(name: &str) -> bool {
    let ok = |part: &str, max: usize| {
        !part.is_empty()
            && part.len() <= max
            && part
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    match name.split_once('.') {
        Some((base, ext)) => ok(base, 8) && ok(ext, 3),
        None => ok(name, 8),
    }
}

/// A clock stopped at the build epoch, in FAT's local-time fields (taken as UTC).
#[derive(Debug)]
struct EpochClock {
    date: fatfs::Date,
    time: fatfs::Time,
}

impl EpochClock {
    /// FAT dates run from 1980 to 2107; an epoch outside is clamped.
    fn new(epoch: u64) -> Self {
        const MIN: u64 = 315_532_800; // 1980-01-01
        const MAX: u64 = 4_354_819_199; // 2107-12-31 23:59:59
        let epoch = epoch.clamp(MIN, MAX);
        let days = epoch / 86_400;
        let secs = epoch % 86_400;
        let (year, month, day) = civil_from_days(days);
        EpochClock {
            date: fatfs::Date { year, month, day },
            time: fatfs::Time {
                hour: (secs / 3600) as u16,
                min: (secs / 60 % 60) as u16,
                sec: (secs % 60) as u16,
                millis: 0,
            },
        }
    }
}

impl fatfs::TimeProvider for EpochClock {
    fn get_current_date(&self) -> fatfs::Date {
        self.date
    }

    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime {
            date: self.date,
            time: self.time,
        }
    }
}

/// Year, month, day of a count of days since 1970-01-01 (proleptic Gregorian calendar).
fn civil_from_days(days: u64) -> (u16, u16, u16) {
    // Howard Hinnant's algorithm, for days after the epoch.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year as u16, month as u16, day as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_675), (2023, 11, 14));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let clock = EpochClock::new(1_700_000_000);
        assert_eq!(
            (clock.time.hour, clock.time.min, clock.time.sec),
            (22, 13, 20)
        );
        assert_eq!(EpochClock::new(0).date.year, 1980);
    }

    #[test]
    fn partitions_are_deterministic_and_readable() {
        let files = [
            File {
                path: "EFI/BOOT/BOOTX64.EFI",
                bytes: &[0x4d, 0x5a, 1, 2, 3],
            },
            File {
                path: "EFI/BASALT/README.TXT",
                bytes: b"hello",
            },
        ];
        let size = size_for(&files);
        assert_eq!(size, 8 << 20);
        let a = build(&files, size, 0x1234_5678, 1_700_000_000).unwrap();
        let b = build(&files, size, 0x1234_5678, 1_700_000_000).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, build(&files, size, 0x1234_5678, 1_700_000_002).unwrap());
        let fs = fatfs::FileSystem::new(Cursor::new(a), fatfs::FsOptions::new()).unwrap();
        assert_eq!(fs.volume_id(), 0x1234_5678);
        let mut body = Vec::new();
        io::Read::read_to_end(
            &mut fs.root_dir().open_file("efi/boot/bootx64.efi").unwrap(),
            &mut body,
        )
        .unwrap();
        assert_eq!(body, [0x4d, 0x5a, 1, 2, 3]);
        let entry = fs
            .root_dir()
            .open_dir("EFI/BOOT")
            .unwrap()
            .iter()
            .map(Result::unwrap)
            .find(|e| e.short_file_name_as_bytes() == b"BOOTX64.EFI")
            .unwrap();
        let modified = entry.modified();
        assert_eq!(
            (modified.date.year, modified.date.month, modified.date.day),
            (2023, 11, 14)
        );
    }

    #[test]
    fn bad_paths_and_full_partitions_are_refused() {
        let bad = [File {
            path: "EFI/../x",
            bytes: b"",
        }];
        assert!(matches!(
            build(&bad, 8 << 20, 1, 0),
            Err(Error::Path { .. })
        ));
        let big = vec![0u8; 9 << 20];
        let full = [File {
            path: "BIG.BIN",
            bytes: &big,
        }];
        assert!(matches!(
            build(&full, 8 << 20, 1, 0),
            Err(Error::Fat { .. })
        ));
    }
}
