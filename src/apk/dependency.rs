//! Dependency atoms, as apk writes them in an index (`D:`, `p:`, `i:`, `r:`), in `.PKGINFO`,
//! in `/etc/apk/world` and in profiles: `[!]name[@tag][op version]`.
//!
//! `name` may be any package or virtual name (`so:libc.musl-x86_64.so.1`, `cmd:sh`,
//! `pc:zlib`); `op` is any run of `<`, `>`, `=`, `~` (so `>=`, `<=`, `~`, `=~`, `>~`), or `><`
//! followed by a package identity (`Q1...`) instead of a version.
//!
//! Invariant: `Dependency::parse(&d.to_string()) == Ok(d)`; matching follows apk-tools 2.14
//! (`apk_dep_is_provided`): a conflict (`!name`) is satisfied exactly when the constraint does
//! not hold, and a versioned constraint never holds for a provider that has no version.

use std::cmp::Ordering;
use std::fmt;

use super::version::{self, Version};

/// The longest atom accepted; real ones are far shorter.
pub const MAX_LEN: usize = 4096;

/// Why a string is not a dependency atom.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The atom has no name (`""`, `!`, `>=1.0`, `@tag`).
    #[error("dependency `{atom}` has no package name")]
    NoName {
        /// The atom.
        atom: String,
    },
    /// An operator with nothing after it (`name>=`).
    #[error("dependency `{atom}` has an operator but no version")]
    NoVersion {
        /// The atom.
        atom: String,
    },
    /// The version after the operator is not one apk accepts.
    #[error("dependency `{atom}`: {source}")]
    BadVersion {
        /// The atom.
        atom: String,
        /// What is wrong with the version.
        source: version::Error,
    },
    /// `name@` with no tag.
    #[error("dependency `{atom}` has an empty repository tag after `@`")]
    EmptyTag {
        /// The atom.
        atom: String,
    },
    /// Longer than [`MAX_LEN`].
    #[error("dependency of {len} bytes is longer than the {max} bytes allowed")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// A set of version relations, as apk's result mask: which outcomes of comparing a package's
/// version with the wanted one are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Op {
    /// `<`
    pub less: bool,
    /// `=`
    pub equal: bool,
    /// `>`
    pub greater: bool,
    /// `~`: compare only as many tokens as the wanted version has.
    pub fuzzy: bool,
}

impl Op {
    /// `=`
    pub const EQUAL: Op = Op {
        less: false,
        equal: true,
        greater: false,
        fuzzy: false,
    };

    fn from_chars(ops: &str) -> Op {
        let mut op = Op {
            less: false,
            equal: false,
            greater: false,
            fuzzy: false,
        };
        for c in ops.chars() {
            match c {
                '<' => op.less = true,
                '>' => op.greater = true,
                '=' => op.equal = true,
                '~' => {
                    op.fuzzy = true;
                    op.equal = true;
                }
                _ => {}
            }
        }
        op
    }

    /// `><`: the text after it is a package identity, not a version.
    fn is_checksum(self) -> bool {
        self.less && self.greater && !self.equal && !self.fuzzy
    }

    /// Whether `ordering` (the package's version compared with the wanted one) is accepted.
    #[must_use]
    pub fn accepts(self, ordering: Ordering) -> bool {
        match ordering {
            Ordering::Less => self.less,
            Ordering::Equal => self.equal,
            Ordering::Greater => self.greater,
        }
    }

    /// The operator as written: apk's spelling for the usual ones.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match (self.less, self.equal, self.greater, self.fuzzy) {
            (true, false, false, false) => "<",
            (true, true, false, false) => "<=",
            (false, true, false, true) => "~",
            (false, true, false, false) => "=",
            (false, true, true, false) => ">=",
            (false, false, true, false) => ">",
            (true, false, true, false) => "><",
            (true, true, false, true) => "<~",
            (false, true, true, true) => ">~",
            (true, true, true, false) => "<=>",
            (true, true, true, true) => "<>~",
            _ => "=",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a dependency asks of the version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Constraint {
    /// Any version (a bare name).
    Any,
    /// A relation to a version: `>=1.2-r0`, `~1.2`.
    Version {
        /// The relation.
        op: Op,
        /// The version it relates to.
        version: Version,
    },
    /// `><Q1...`: exactly the package with this identity.
    Checksum(String),
}

/// One dependency atom.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dependency {
    /// The package or virtual name (`musl`, `so:libc.musl-x86_64.so.1`, `cmd:sh`).
    pub name: String,
    /// `@tag`: only packages from repositories with this tag (or untagged ones) may satisfy it.
    pub tag: Option<String>,
    /// `!name`: the named package must not be installed (in the versions the constraint names).
    pub conflict: bool,
    /// The version constraint.
    pub constraint: Constraint,
}

fn is_op_char(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '~')
}

impl Dependency {
    /// A dependency on any version of `name`.
    #[must_use]
    pub fn on(name: &str) -> Self {
        Dependency {
            name: name.to_owned(),
            tag: None,
            conflict: false,
            constraint: Constraint::Any,
        }
    }

    /// Parses one atom (no surrounding whitespace).
    ///
    /// # Errors
    ///
    /// When the atom has no name, an operator without a version, a version apk rejects, an
    /// empty tag, or is longer than [`MAX_LEN`].
    pub fn parse(atom: &str) -> Result<Self, Error> {
        if atom.len() > MAX_LEN {
            return Err(Error::TooLong {
                len: atom.len(),
                max: MAX_LEN,
            });
        }
        let owned = || atom.to_owned();
        let (conflict, rest) = match atom.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, atom),
        };
        let (name_tag, constraint) = match rest.find(is_op_char) {
            None => (rest, Constraint::Any),
            Some(at) => {
                let ops_len = rest[at..]
                    .find(|c: char| !is_op_char(c))
                    .ok_or_else(|| Error::NoVersion { atom: owned() })?;
                let op = Op::from_chars(&rest[at..at + ops_len]);
                let text = &rest[at + ops_len..];
                let constraint = if op.is_checksum() {
                    Constraint::Checksum(text.to_owned())
                } else {
                    let version = Version::parse(text).map_err(|source| Error::BadVersion {
                        atom: owned(),
                        source,
                    })?;
                    Constraint::Version { op, version }
                };
                (&rest[..at], constraint)
            }
        };
        let (name, tag) = match name_tag.split_once('@') {
            None => (name_tag, None),
            Some((_, "")) => return Err(Error::EmptyTag { atom: owned() }),
            Some((name, tag)) => (name, Some(tag.to_owned())),
        };
        if name.is_empty() {
            return Err(Error::NoName { atom: owned() });
        }
        Ok(Dependency {
            name: name.to_owned(),
            tag,
            conflict,
            constraint,
        })
    }

    /// Parses a space- or newline-separated list, as in `D:` or `depend =`.
    ///
    /// # Errors
    ///
    /// The first atom that does not parse.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, Error> {
        text.split([' ', '\n'])
            .filter(|s| !s.is_empty())
            .map(Dependency::parse)
            .collect()
    }

    /// The version this atom names, if any (for a provide, the provided version).
    #[must_use]
    pub fn version(&self) -> Option<&Version> {
        match &self.constraint {
            Constraint::Version { version, .. } => Some(version),
            _ => None,
        }
    }

    /// Whether the version constraint alone holds for a package or provider at `version`
    /// (`None`: a provider that gives no version). `checksum` is the package's `Q1` identity,
    /// used by `><` constraints.
    #[must_use]
    pub fn constraint_holds(&self, version: Option<&Version>, checksum: Option<&str>) -> bool {
        match &self.constraint {
            Constraint::Any => true,
            Constraint::Checksum(want) => checksum == Some(want.as_str()),
            Constraint::Version { op, version: want } => version.is_some_and(|have| {
                let ordering = if op.fuzzy {
                    version::compare_fuzzy(have.as_str(), want.as_str())
                } else {
                    have.cmp(want)
                };
                op.accepts(ordering)
            }),
        }
    }

    /// apk's verdict for a package (or provider) of this name at `version`: for a normal
    /// dependency, whether it satisfies it; for a conflict (`!name`), whether it is allowed.
    #[must_use]
    pub fn satisfied_by(&self, version: Option<&Version>, checksum: Option<&str>) -> bool {
        if let Constraint::Checksum(_) = self.constraint {
            return self.constraint_holds(version, checksum);
        }
        self.constraint_holds(version, checksum) != self.conflict
    }

    /// Whether a package at `version` satisfies this dependency (see [`Self::satisfied_by`]).
    #[must_use]
    pub fn matches(&self, version: &Version) -> bool {
        self.satisfied_by(Some(version), None)
    }
}

impl std::str::FromStr for Dependency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Dependency::parse(s)
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.conflict {
            f.write_str("!")?;
        }
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, "@{tag}")?;
        }
        match &self.constraint {
            Constraint::Any => Ok(()),
            Constraint::Version { op, version } => write!(f, "{op}{version}"),
            Constraint::Checksum(sum) => write!(f, "><{sum}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn parses_every_form_apk_writes() {
        let d = Dependency::parse("so:libc.musl-x86_64.so.1").unwrap();
        assert_eq!(d, Dependency::on("so:libc.musl-x86_64.so.1"));
        let d = Dependency::parse("!ifupdown-ng>=0.12").unwrap();
        assert!(d.conflict);
        assert_eq!(d.name, "ifupdown-ng");
        assert_eq!(d.version(), Some(&v("0.12")));
        let d = Dependency::parse("docker@community~25.0").unwrap();
        assert_eq!(d.tag.as_deref(), Some("community"));
        assert_eq!(d.to_string(), "docker@community~25.0");
        assert_eq!(Dependency::parse("a=~1.2").unwrap().to_string(), "a~1.2");
        assert_eq!(Dependency::parse("a~=1.2").unwrap().to_string(), "a~1.2");
        assert_eq!(Dependency::parse("a==1.2").unwrap().to_string(), "a=1.2");
        let d = Dependency::parse("busybox><Q1abc=").unwrap();
        assert_eq!(d.constraint, Constraint::Checksum("Q1abc=".into()));
        assert_eq!(d.to_string(), "busybox><Q1abc=");
        let list = Dependency::parse_list("musl>=1.2  so:libz.so.1\ncmd:sh").unwrap();
        let names: Vec<_> = list.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["musl", "so:libz.so.1", "cmd:sh"]);
    }

    #[test]
    fn rejects_what_apk_rejects_naming_the_atom() {
        for (atom, message) in [
            ("", "dependency `` has no package name"),
            ("!", "dependency `!` has no package name"),
            (">=1", "dependency `>=1` has no package name"),
            ("a>=", "dependency `a>=` has an operator but no version"),
            (
                "a@",
                "dependency `a@` has an empty repository tag after `@`",
            ),
            (
                "a>=1.X",
                "dependency `a>=1.X`: invalid version `1.X`: unexpected `X` at byte 2",
            ),
        ] {
            assert_eq!(Dependency::parse(atom).unwrap_err().to_string(), message);
        }
        assert!(matches!(
            Dependency::parse(&"a".repeat(MAX_LEN + 1)),
            Err(Error::TooLong { .. })
        ));
    }

    #[test]
    fn matches_as_apk_does() {
        let m = |atom: &str, version: &str| Dependency::parse(atom).unwrap().matches(&v(version));
        assert!(m("a", "1"));
        assert!(m("a>=1.2", "1.2"));
        assert!(m("a>=1.2", "1.10"));
        assert!(!m("a>=1.2", "1.1"));
        assert!(m("a<1.2", "1.2_rc1"));
        assert!(!m("a<1.2", "1.2"));
        assert!(m("a<=1.2", "1.2"));
        assert!(m("a>1.2", "1.2-r1"));
        assert!(m("a=1.2-r0", "1.2-r0"));
        assert!(!m("a=1.2-r0", "1.2-r1"));
        assert!(m("a~1.2", "1.2.9-r3"));
        assert!(!m("a~1.2", "1.3"));
        assert!(m("a>~1.2", "1.3"));
        assert!(m("a>~1.2", "1.2.5"));
        assert!(!m("a>~1.2", "1.1"));
        // conflicts: satisfied (allowed) exactly when the constraint does not hold
        assert!(!m("!a", "1"));
        assert!(m("!a<2", "2"));
        assert!(!m("!a<2", "1"));
        // a versioned constraint never holds for a provider without version
        let d = Dependency::parse("a>=1").unwrap();
        assert!(!d.satisfied_by(None, None));
        assert!(Dependency::parse("a").unwrap().satisfied_by(None, None));
        assert!(Dependency::parse("!a>=1").unwrap().satisfied_by(None, None));
        let d = Dependency::parse("a><Q1x").unwrap();
        assert!(d.satisfied_by(Some(&v("1")), Some("Q1x")));
        assert!(!d.satisfied_by(Some(&v("1")), Some("Q1y")));
    }

    fn atom() -> impl Strategy<Value = String> {
        (
            any::<bool>(),
            "[a-z0-9][a-z0-9_.+:-]{0,20}",
            proptest::option::of("[a-z0-9]{1,8}"),
            proptest::option::of((
                prop_oneof![
                    Just("<"),
                    Just("<="),
                    Just("="),
                    Just(">="),
                    Just(">"),
                    Just("~"),
                    Just("=~"),
                    Just(">~"),
                    Just("<~"),
                ],
                "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}[a-z]?(_(rc|p|git)[0-9]{0,3})?(-r[0-9]{1,2})?",
            )),
        )
            .prop_map(|(conflict, name, tag, ver)| {
                let mut s = String::new();
                if conflict {
                    s.push('!');
                }
                s.push_str(&name);
                if let Some(tag) = tag {
                    s.push('@');
                    s.push_str(&tag);
                }
                if let Some((op, v)) = ver {
                    s.push_str(op);
                    s.push_str(&v);
                }
                s
            })
    }

    proptest! {
        #[test]
        fn display_round_trips(text in atom()) {
            let d = Dependency::parse(&text).unwrap();
            let shown = d.to_string();
            prop_assert_eq!(Dependency::parse(&shown).unwrap(), d);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
            if let Ok(d) = Dependency::parse(&text) {
                prop_assert_eq!(Dependency::parse(&d.to_string()).unwrap(), d);
            }
        }
    }
}
