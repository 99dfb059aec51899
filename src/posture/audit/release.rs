//! Family `release`: the Alpine release is known, stable and still supported on the date of
//! the audit (which is passed in, never read from the clock).

use super::CheckId;
use super::config;
use super::host::Host;

impl Host<'_> {
    pub(super) fn os_release(&mut self, now: i64) -> Option<String> {
        let mut path = "/etc/alpine-release";
        let mut version = self
            .text(path)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        if version.is_none() {
            path = "/etc/os-release";
            if let Some(text) = self.text(path) {
                let id = config::shell_assignments(&text, "ID");
                let vid = config::shell_assignments(&text, "VERSION_ID");
                if id.first().is_some_and(|(_, v)| v == "alpine") {
                    version = vid.first().map(|(_, v)| v.clone());
                }
            }
        }
        let Some(version) = version else {
            self.emit(
                CheckId::OsReleaseUnknown,
                "/etc/alpine-release",
                None,
                "no Alpine release found".to_owned(),
                "neither /etc/alpine-release nor an Alpine /etc/os-release is present".to_owned(),
            );
            return None;
        };
        let branch: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
        let stable = version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && version.split('.').count() >= 2;
        if !stable {
            self.emit(
                CheckId::OsReleaseUnsupported,
                path,
                Some(1),
                format!("Alpine `{version}` is not a stable release"),
                format!("{path}: {version}"),
            );
            return Some(version);
        }
        let today = now.div_euclid(86_400);
        match ALPINE_RELEASES.iter().find(|(b, _)| *b == branch) {
            Some((_, eol)) => {
                let end = days_from_date(eol).unwrap_or(i64::MAX);
                if today >= end {
                    self.emit(
                        CheckId::OsReleaseUnsupported,
                        path,
                        Some(1),
                        format!("Alpine {version} reached its end of support on {eol}"),
                        format!("{path}: {version}; v{branch} supported until {eol}"),
                    );
                } else if end - today <= 90 {
                    self.emit(
                        CheckId::OsReleaseEnding,
                        path,
                        Some(1),
                        format!("Alpine {version} reaches its end of support on {eol}"),
                        format!("{path}: {version}; {} days left", end - today),
                    );
                }
            }
            None => {
                let newest = ALPINE_RELEASES.last().map_or("", |(b, _)| *b);
                let older = version_key(&branch) < version_key(newest);
                if older {
                    self.emit(
                        CheckId::OsReleaseUnsupported,
                        path,
                        Some(1),
                        format!("Alpine {version} is older than every release still tracked"),
                        format!("{path}: {version}"),
                    );
                } else {
                    self.emit(
                        CheckId::OsReleaseUnlisted,
                        path,
                        Some(1),
                        format!("Alpine {version} is not in basalt's release table"),
                        format!("{path}: {version}; newest known branch v{newest}"),
                    );
                }
            }
        }
        Some(version)
    }
}

/// Alpine stable releases and the day their `main` repository support ends.
pub const ALPINE_RELEASES: &[(&str, &str)] = &[
    ("3.12", "2022-05-01"),
    ("3.13", "2022-11-01"),
    ("3.14", "2023-05-01"),
    ("3.15", "2023-11-01"),
    ("3.16", "2024-05-23"),
    ("3.17", "2024-11-22"),
    ("3.18", "2025-05-09"),
    ("3.19", "2025-11-01"),
    ("3.20", "2026-04-01"),
    ("3.21", "2026-11-01"),
    ("3.22", "2027-05-01"),
    ("3.23", "2027-11-01"),
];

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian).
#[must_use]
pub fn days_from_date(date: &str) -> Option<i64> {
    let mut parts = date.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn version_key(branch: &str) -> Vec<u64> {
    branch.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}
