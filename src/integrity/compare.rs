//! `compare`: the differences between two lists of entries sorted by path.
//!
//! Invariant: both inputs are strictly sorted by path bytes (as [`crate::integrity::manifest`] and
//! [`crate::integrity::host`] produce them); the join is a single linear pass that yields every path of
//! either side exactly once, in order.

use std::cmp::Ordering;

use crate::integrity::manifest::Entry;

/// One path of the merged lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// Only in the expected list.
    Missing(&'a Entry),
    /// Only in the actual list.
    Added(&'a Entry),
    /// In both (they may or may not differ).
    Both(&'a Entry, &'a Entry),
}

impl<'a> Change<'a> {
    /// The path this change is about.
    #[must_use]
    pub fn path(&self) -> &'a [u8] {
        match self {
            Change::Missing(e) | Change::Added(e) | Change::Both(e, _) => &e.path,
        }
    }
}

/// Merge-joins `expected` and `actual` by path.
pub fn merge_join<'a>(expected: &'a [Entry], actual: &'a [Entry]) -> MergeJoin<'a> {
    MergeJoin {
        expected,
        actual,
        i: 0,
        j: 0,
    }
}

/// The iterator returned by [`merge_join`].
#[derive(Debug, Clone)]
pub struct MergeJoin<'a> {
    expected: &'a [Entry],
    actual: &'a [Entry],
    i: usize,
    j: usize,
}

impl<'a> Iterator for MergeJoin<'a> {
    type Item = Change<'a>;

    fn next(&mut self) -> Option<Change<'a>> {
        match (self.expected.get(self.i), self.actual.get(self.j)) {
            (None, None) => None,
            (Some(e), None) => {
                self.i += 1;
                Some(Change::Missing(e))
            }
            (None, Some(a)) => {
                self.j += 1;
                Some(Change::Added(a))
            }
            (Some(e), Some(a)) => match e.path.cmp(&a.path) {
                Ordering::Less => {
                    self.i += 1;
                    Some(Change::Missing(e))
                }
                Ordering::Greater => {
                    self.j += 1;
                    Some(Change::Added(a))
                }
                Ordering::Equal => {
                    self.i += 1;
                    self.j += 1;
                    Some(Change::Both(e, a))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::manifest::Kind;

    fn dir(path: &str) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            kind: Kind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            hardlink: None,
            xattrs: None,
            package: None,
        }
    }

    #[test]
    fn joins_sorted_lists() {
        let expected = [dir("/"), dir("/a"), dir("/c")];
        let actual = [dir("/"), dir("/b"), dir("/c"), dir("/d")];
        let changes: Vec<(char, &[u8])> = merge_join(&expected, &actual)
            .map(|c| {
                let tag = match c {
                    Change::Missing(_) => '-',
                    Change::Added(_) => '+',
                    Change::Both(..) => '=',
                };
                (tag, c.path())
            })
            .collect();
        assert_eq!(
            changes,
            vec![
                ('=', b"/".as_slice()),
                ('-', b"/a"),
                ('+', b"/b"),
                ('=', b"/c"),
                ('+', b"/d"),
            ]
        );
    }
}
