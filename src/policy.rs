//! `policy`: where a running host may differ from its image, as the profile declares it
//! (`[filesystem]`), the manifest carries it, and `verify` and the audit apply it.
//!
//! Invariant: one rule for every caller ([`RuntimePolicy::rule`]): the most specific policy
//! path that covers a path decides; between two equally specific, ephemeral wins over state
//! over mutable.

use serde::{Deserialize, Serialize};

/// The paths whose content is allowed to change at run time, from the profile's
/// `[filesystem]` table.
///
/// Paths are absolute and normalised (`/var/lib/docker`); each one covers itself and everything
/// beneath it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RuntimePolicy {
    /// Mounted at run time (`/tmp`, `/run`): nothing beneath them is walked or compared; the
    /// path itself must be the manifest's directory.
    pub ephemeral: Vec<String>,
    /// May hold anything (`/var/lib/docker`): nothing beneath them is a finding; the path
    /// itself must be the manifest's directory.
    pub state: Vec<String>,
    /// Only the content may change (`/etc/resolv.conf`); type, mode, owner, extended
    /// attributes and links must match.
    pub mutable: Vec<String>,
}

/// Which part of the runtime policy a path falls under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Neither walked nor compared below the path.
    Ephemeral,
    /// Anything goes below the path.
    State,
    /// Only the content may change.
    Mutable,
    /// Must match the manifest exactly.
    Exact,
}

impl RuntimePolicy {
    /// Sorts and deduplicates the three lists (the canonical order).
    #[must_use]
    pub fn normalised(mut self) -> Self {
        for list in [&mut self.ephemeral, &mut self.state, &mut self.mutable] {
            for path in list.iter_mut() {
                *path = normalise_policy_path(path);
            }
            list.sort();
            list.dedup();
        }
        self
    }

    /// The rule for `path` (absolute, `/etc/passwd`), taking the most specific
    /// policy path that covers it; with two equally specific, ephemeral wins over state over
    /// mutable.
    #[must_use]
    pub fn rule(&self, path: &[u8]) -> Rule {
        let mut best: Option<(usize, Rule)> = None;
        for (list, rule) in [
            (&self.ephemeral, Rule::Ephemeral),
            (&self.state, Rule::State),
            (&self.mutable, Rule::Mutable),
        ] {
            for prefix in list {
                if covers(prefix.as_bytes(), path) && best.is_none_or(|(len, _)| prefix.len() > len)
                {
                    best = Some((prefix.len(), rule));
                }
            }
        }
        best.map_or(Rule::Exact, |(_, rule)| rule)
    }

    /// True when `path` is strictly beneath (not equal to) an ephemeral or state path, or
    /// equal to `/` when `/` itself is listed.
    #[must_use]
    pub fn is_inside_free_area(&self, path: &[u8]) -> bool {
        self.ephemeral
            .iter()
            .chain(&self.state)
            .any(|prefix| strictly_below(prefix.as_bytes(), path))
    }
}

fn normalise_policy_path(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// True when `prefix` is `path` or one of its ancestors.
#[must_use]
pub fn covers(prefix: &[u8], path: &[u8]) -> bool {
    path == prefix || strictly_below(prefix, path)
}

/// True when `path` is strictly beneath `prefix`.
#[must_use]
pub fn strictly_below(prefix: &[u8], path: &[u8]) -> bool {
    if prefix == b"/" {
        return path.len() > 1;
    }
    path.len() > prefix.len() && path.starts_with(prefix) && path[prefix.len()] == b'/'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_path_decides() {
        let policy = RuntimePolicy {
            ephemeral: vec!["/tmp".into(), "/run".into()],
            state: vec!["/var/lib/docker".into()],
            mutable: vec!["/etc/resolv.conf".into()],
        };
        assert_eq!(policy.rule(b"/tmp/x"), Rule::Ephemeral);
        assert_eq!(policy.rule(b"/run"), Rule::Ephemeral);
        assert_eq!(policy.rule(b"/var/lib/docker/overlay2/a"), Rule::State);
        assert_eq!(policy.rule(b"/var/lib/dockerx"), Rule::Exact);
        assert_eq!(policy.rule(b"/etc/resolv.conf"), Rule::Mutable);
        assert_eq!(policy.rule(b"/etc/passwd"), Rule::Exact);
        assert!(policy.is_inside_free_area(b"/tmp/x"));
        assert!(!policy.is_inside_free_area(b"/tmp"));
        assert!(covers(b"/", b"/etc") && strictly_below(b"/etc", b"/etc/passwd"));
    }
}
