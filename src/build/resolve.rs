//! Dependency resolution with apk-tools 2.14's semantics: from the packages the user asks for
//! (the *world*) and the packages of some repositories, the exact set of packages to install,
//! in an order where every package comes after what it depends on.
//!
//! The solver follows apk's own (`solver.c`): names are discovered from the world down, then
//! constraints propagate until a name has a single option left; otherwise the most constrained
//! name is decided next by apk's preference order (an allowed repository tag, the highest
//! version of the requested name, then of the package's own name, `provider_priority`, the
//! earliest repository). Conflicts (`!name`), versioned and unversioned providers
//! (`p:`, `so:`, `cmd:`, `pc:`), `install_if` and repository tags (`name@tag`) are honoured.
//! `replaces` (`r:`) does not take part in choosing packages (as in apk, it only settles file
//! ownership when installing); it is carried through for that.
//!
//! Invariant: pure and deterministic: the same world and repositories, in the same order, give
//! the same [`Resolution`], whatever the platform, and every input is bounded (the discovery
//! depth is limited so that a hostile index cannot exhaust the stack).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher as _, Hash as _, Hasher as _};

use crate::apk::dependency::{Constraint, Dependency};
use crate::apk::index::IndexEntry;
use crate::apk::version::Version;

/// How deep discovery and the install-order walk may recurse through dependencies. Real
/// walks stay in the hundreds; the solver runs on a thread with [`SOLVER_STACK`] bytes of
/// stack, ample for this depth.
const MAX_DEPTH: usize = 10_000;

/// Stack for the solver thread (reserved address space; only what is used is committed).
const SOLVER_STACK: usize = 256 << 20;

/// One package a repository offers, with its fields parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `P:`
    pub name: String,
    /// `V:`
    pub version: Version,
    /// `A:`
    pub arch: String,
    /// `C:`, the package's `Q1...` identity (may be empty when unknown).
    pub checksum: String,
    /// `D:`
    pub depends: Vec<Dependency>,
    /// `p:`
    pub provides: Vec<Dependency>,
    /// `i:`
    pub install_if: Vec<Dependency>,
    /// `r:`
    pub replaces: Vec<Dependency>,
    /// `k:`
    pub provider_priority: u32,
    /// `S:`, the size of the `.apk`.
    pub size: u64,
    /// `I:`, the installed size.
    pub installed_size: u64,
}

impl Candidate {
    /// A package with no dependencies, provides or install_if (fill in the fields after).
    #[must_use]
    pub fn new(name: &str, version: Version) -> Self {
        Candidate {
            name: name.to_owned(),
            version,
            arch: String::new(),
            checksum: String::new(),
            depends: Vec::new(),
            provides: Vec::new(),
            install_if: Vec::new(),
            replaces: Vec::new(),
            provider_priority: 0,
            size: 0,
            installed_size: 0,
        }
    }

    /// The parsed form of an index entry.
    ///
    /// # Errors
    ///
    /// [`Error::BadEntry`] naming the package and the field apk would not accept.
    pub fn from_index_entry(entry: &IndexEntry) -> Result<Self, Error> {
        let bad = |field: &str, problem: String| Error::BadEntry {
            package: format!("{}-{}", entry.name, entry.version),
            field: field.to_owned(),
            problem,
        };
        let version = Version::parse(&entry.version).map_err(|e| bad("V", e.to_string()))?;
        let atoms = |field: &str, list: &[String]| -> Result<Vec<Dependency>, Error> {
            list.iter()
                .map(|a| Dependency::parse(a).map_err(|e| bad(field, e.to_string())))
                .collect()
        };
        Ok(Candidate {
            name: entry.name.clone(),
            version,
            arch: entry.arch.clone().unwrap_or_default(),
            checksum: entry.checksum.to_string(),
            depends: atoms("D", &entry.depends)?,
            provides: atoms("p", &entry.provides)?,
            install_if: atoms("i", &entry.install_if)?,
            replaces: atoms("r", &entry.replaces)?,
            provider_priority: entry
                .provider_priority
                .map_or(0, |k| u32::try_from(k).unwrap_or(u32::MAX)),
            size: entry.size.unwrap_or(0),
            installed_size: entry.installed_size.unwrap_or(0),
        })
    }

    /// `name-version`, as apk names a package.
    #[must_use]
    pub fn id(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }
}

/// One repository's packages, in index order.
#[derive(Debug, Clone)]
pub struct Repository {
    /// Where it comes from (a URL or a path), used to name it in the resolution.
    pub location: String,
    /// Its tag (`@edge` in `@edge https://...`, stored without the `@`), if any: packages of a
    /// tagged repository are only chosen for world atoms that name the tag (`docker@edge`),
    /// or as their dependencies.
    pub tag: Option<String>,
    /// Its packages.
    pub packages: Vec<Candidate>,
}

/// Why resolution failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No set of packages satisfies the world; the problems say what requires what.
    #[error("unable to select packages:\n{}", render_problems(.problems))]
    Unsatisfiable {
        /// One entry per name or package apk would report.
        problems: Vec<Problem>,
    },
    /// A world atom names a tag no repository has.
    #[error("`{atom}` names the repository tag `@{tag}`, which no repository has")]
    UnknownTag {
        /// The world atom.
        atom: String,
        /// The tag.
        tag: String,
    },
    /// An index entry with a field apk would not accept.
    #[error("package `{package}`: field `{field}`: {problem}")]
    BadEntry {
        /// `name-version` as written in the index.
        package: String,
        /// The index field (`V`, `D`, `p`, `i`, `r`).
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// More than 62 repositories (apk allows fewer).
    #[error("{count} repositories given; at most 62 are supported")]
    TooManyRepositories {
        /// How many were given.
        count: usize,
    },
    /// Dependency chains deeper than any real index has.
    #[error("dependency chain deeper than {MAX_DEPTH} packages at `{name}`")]
    TooDeep {
        /// Where the chain was when the limit was hit.
        name: String,
    },
}

/// One reason a world cannot be satisfied, as apk's "unable to select packages" lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `name (no such package)`, `name (virtual)` or `name-version`.
    pub subject: String,
    /// Labelled lines: `required by`, `provided by`, `conflicts`, `breaks`, `satisfies`,
    /// `masked in`, `note`.
    pub details: Vec<(String, Vec<String>)>,
}

fn render_problems(problems: &[Problem]) -> String {
    let mut out = String::new();
    for problem in problems {
        out.push_str("  ");
        out.push_str(&problem.subject);
        out.push_str(":\n");
        for (label, items) in &problem.details {
            out.push_str("    ");
            out.push_str(label);
            out.push_str(": ");
            out.push_str(&items.join(" "));
            out.push('\n');
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// One chosen package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// The package.
    pub candidate: Candidate,
    /// Index (into the repositories given) of the repository it is taken from.
    pub repository: usize,
}

/// The packages to install, each after the packages it depends on (as apk orders them; only
/// dependency cycles can break that rule, as they do for apk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// In install order.
    pub packages: Vec<Pinned>,
}

impl Resolution {
    /// `name-version` of every package, in install order.
    #[must_use]
    pub fn ids(&self) -> Vec<String> {
        self.packages.iter().map(|p| p.candidate.id()).collect()
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.packages {
            writeln!(f, "{}", p.candidate.id())?;
        }
        Ok(())
    }
}

type NameId = usize;
type PkgId = usize;

/// A way to get a name: a package under its own name or one of its `provides`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Provider {
    pkg: Option<PkgId>,
    /// Index into the package's `provides` when the name is provided, `None` for the package's
    /// own name.
    via: Option<usize>,
}

const NO_PROVIDER: Provider = Provider {
    pkg: None,
    via: None,
};

#[derive(Debug, Default)]
struct Name {
    text: String,
    providers: Vec<Provider>,
    rdepends: Vec<NameId>,
    rinstall_if: Vec<NameId>,
    /// 0: only real packages; 1: real and virtual providers; 2: only virtual ones.
    priority: u8,
}

#[derive(Debug)]
struct Package {
    candidate: Candidate,
    name: NameId,
    depends: Vec<(NameId, Dependency)>,
    provides: Vec<(NameId, Dependency)>,
    install_if: Vec<(NameId, Dependency)>,
    /// Bit `i`: present in repository `i`.
    repos: u64,
}

/// The packages of some repositories, indexed for resolution. Build it once and resolve
/// several worlds against it.
#[derive(Debug)]
pub struct Universe {
    names: Vec<Name>,
    by_name: NameMap,
    packages: Vec<Package>,
    /// Tag 0 is the default (untagged repositories); then each tag in order of appearance.
    tags: Vec<Tag>,
    repositories: Vec<String>,
}

#[derive(Debug)]
struct Tag {
    name: String,
    allowed_repos: u64,
}

impl Universe {
    /// Indexes the packages of `repositories` (in priority order: on a tie, the earlier
    /// repository wins). A package present in several repositories (same name, version and
    /// `C:`) is one package available from each.
    ///
    /// # Errors
    ///
    /// [`Error::TooManyRepositories`] beyond 62.
    pub fn new(repositories: &[Repository]) -> Result<Self, Error> {
        Self::from_repositories(repositories.to_vec())
    }

    /// As [`Universe::new`], taking the repositories (and so not copying their packages).
    ///
    /// # Errors
    ///
    /// [`Error::TooManyRepositories`] beyond 62.
    pub fn from_repositories(repositories: Vec<Repository>) -> Result<Self, Error> {
        if repositories.len() > 62 {
            return Err(Error::TooManyRepositories {
                count: repositories.len(),
            });
        }
        let mut universe = Universe {
            names: Vec::new(),
            by_name: NameMap::default(),
            packages: Vec::new(),
            tags: vec![Tag {
                name: String::new(),
                allowed_repos: 0,
            }],
            repositories: repositories.iter().map(|r| r.location.clone()).collect(),
        };
        // apk merges a package that several repositories carry; keyed by a hash of its name,
        // version and identity, confirmed against the package itself.
        let hasher = std::collections::hash_map::RandomState::new();
        let mut seen: HashMap<u64, Vec<PkgId>> = HashMap::new();
        for (index, repository) in repositories.into_iter().enumerate() {
            let bit = 1u64 << index;
            let tag = match &repository.tag {
                None => 0,
                Some(tag) => universe.tag_id(tag).unwrap_or_else(|| {
                    universe.tags.push(Tag {
                        name: tag.clone(),
                        allowed_repos: 0,
                    });
                    universe.tags.len() - 1
                }),
            };
            universe.tags[tag].allowed_repos |= bit;
            for candidate in repository.packages {
                let key = {
                    let mut h = hasher.build_hasher();
                    candidate.name.hash(&mut h);
                    candidate.version.as_str().hash(&mut h);
                    candidate.checksum.hash(&mut h);
                    h.finish()
                };
                let same = seen.get(&key).and_then(|ids| {
                    ids.iter().copied().find(|&id| {
                        let c = &universe.packages[id].candidate;
                        c.name == candidate.name
                            && c.version.as_str() == candidate.version.as_str()
                            && c.checksum == candidate.checksum
                    })
                });
                if let Some(id) = same {
                    universe.packages[id].repos |= bit;
                    continue;
                }
                let id = universe.packages.len();
                seen.entry(key).or_default().push(id);
                let name = universe.name_id(&candidate.name);
                let mut resolve_all = |deps: &[Dependency]| -> Vec<(NameId, Dependency)> {
                    deps.iter()
                        .map(|d| {
                            (
                                universe_name(&mut universe.names, &mut universe.by_name, &d.name),
                                d.clone(),
                            )
                        })
                        .collect()
                };
                let depends = resolve_all(&candidate.depends);
                let provides = resolve_all(&candidate.provides);
                let install_if = resolve_all(&candidate.install_if);
                universe.names[name].providers.push(Provider {
                    pkg: Some(id),
                    via: None,
                });
                for (i, (pname, _)) in provides.iter().enumerate() {
                    universe.names[*pname].providers.push(Provider {
                        pkg: Some(id),
                        via: Some(i),
                    });
                }
                universe.packages.push(Package {
                    candidate,
                    name,
                    depends,
                    provides,
                    install_if,
                    repos: bit,
                });
            }
        }
        universe.link_reverse();
        Ok(universe)
    }

    fn tag_id(&self, tag: &str) -> Option<usize> {
        self.tags
            .iter()
            .skip(1)
            .position(|t| t.name == tag)
            .map(|i| i + 1)
    }

    fn name_id(&mut self, text: &str) -> NameId {
        universe_name(&mut self.names, &mut self.by_name, text)
    }

    /// Reverse edges: which names have a provider depending on (or installed-if) a name.
    ///
    /// The order of these lists decides the order in which apk revisits names, and so, in
    /// places, its install order. apk builds them walking its table of names, which is a hash
    /// table of 20,000 buckets keyed by MurmurHash3 (seed 5381) where each bucket lists the
    /// newest name first; walking the names in that same order gives the same lists.
    fn link_reverse(&mut self) {
        let mut order: Vec<(u32, std::cmp::Reverse<NameId>)> = (0..self.names.len())
            .map(|id| {
                let bucket = murmur3_32(self.names[id].text.as_bytes(), 5381) % 20_000;
                (bucket, std::cmp::Reverse(id))
            })
            .collect();
        order.sort_unstable();
        // `stamp[n]` is 1 + the name that last added itself to `n`'s lists, so each list gets
        // each name once without searching it.
        let mut dep_stamp = vec![0usize; self.names.len()];
        let mut iif_stamp = vec![0usize; self.names.len()];
        for (_, std::cmp::Reverse(name)) in order {
            let mut num_virtual = 0;
            let providers = std::mem::take(&mut self.names[name].providers);
            for p in &providers {
                let pkg = &self.packages[p.pkg.unwrap_or_default()];
                if pkg.name != name {
                    num_virtual += 1;
                }
                for (rname, _) in &pkg.depends {
                    if dep_stamp[*rname] != name + 1 {
                        dep_stamp[*rname] = name + 1;
                        self.names[*rname].rdepends.push(name);
                    }
                }
                for (rname, _) in &pkg.install_if {
                    if iif_stamp[*rname] != name + 1 {
                        iif_stamp[*rname] = name + 1;
                        self.names[*rname].rinstall_if.push(name);
                    }
                }
            }
            self.names[name].priority = if num_virtual == 0 {
                0
            } else if num_virtual == providers.len() {
                2
            } else {
                1
            };
            self.names[name].providers = providers;
        }
    }

    /// Number of distinct packages.
    #[must_use]
    pub fn len(&self) -> usize {
        self.packages.len()
    }

    /// True when there are no packages.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    /// Resolves `world` (the atoms of the profile's `install` list, or of `/etc/apk/world`)
    /// as `apk add` would on an empty root.
    ///
    /// # Errors
    ///
    /// [`Error::Unsatisfiable`] with apk's explanation, [`Error::UnknownTag`] for a tag no
    /// repository has, [`Error::TooDeep`] for an absurd index.
    pub fn resolve(&self, world: &[Dependency]) -> Result<Resolution, Error> {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("resolve".into())
                .stack_size(SOLVER_STACK)
                .spawn_scoped(scope, || self.resolve_here(world))
                .map_or_else(
                    // Without a thread, resolve on this one: the depth limit still holds.
                    |_| self.resolve_here(world),
                    |handle| {
                        handle
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    },
                )
        })
    }

    fn resolve_here(&self, world: &[Dependency]) -> Result<Resolution, Error> {
        let mut world_deps: Vec<(NameId, Dependency, usize)> = Vec::new();
        let mut extra_names: HashMap<String, NameId> = HashMap::new();
        for dep in world {
            let tag = match &dep.tag {
                None => 0,
                Some(tag) => self.tag_id(tag).ok_or_else(|| Error::UnknownTag {
                    atom: dep.to_string(),
                    tag: tag.clone(),
                })?,
            };
            let name = match self.by_name.get(&dep.name) {
                Some(&id) => id,
                None => {
                    let next = self.names.len() + extra_names.len();
                    *extra_names.entry(dep.name.clone()).or_insert(next)
                }
            };
            // `apk add a a>1` keeps the last atom per name.
            if let Some(existing) = world_deps.iter_mut().find(|(n, _, _)| *n == name) {
                *existing = (name, dep.clone(), tag);
            } else {
                world_deps.push((name, dep.clone(), tag));
            }
        }
        let mut extra: Vec<(NameId, String)> = extra_names
            .into_iter()
            .map(|(text, id)| (id, text))
            .collect();
        extra.sort();
        let name_text = |id: NameId| -> String {
            if id < self.names.len() {
                self.names[id].text.clone()
            } else {
                extra[id - self.names.len()].1.clone()
            }
        };
        world_deps.sort_by(|a, b| display_cmp(&name_text(a.0), &name_text(b.0)));
        let mut solver = Solver::new(self, self.names.len() + extra.len());
        solver.solve(&world_deps)?;
        let changes = solver.changeset(&world_deps)?;
        if solver.errors > 0 {
            return Err(Error::Unsatisfiable {
                problems: solver.explain(&world_deps, &changes, &name_text),
            });
        }
        let order = solver.dependencies_first(&changes);
        Ok(Resolution {
            packages: order
                .into_iter()
                .map(|pkg| Pinned {
                    candidate: self.packages[pkg].candidate.clone(),
                    repository: solver.repository_of(pkg),
                })
                .collect(),
        })
    }

    /// The repositories, by index, as given.
    #[must_use]
    pub fn repositories(&self) -> &[String] {
        &self.repositories
    }
}

fn universe_name(names: &mut Vec<Name>, by_name: &mut NameMap, text: &str) -> NameId {
    if let Some(&id) = by_name.get(text) {
        return id;
    }
    let id = names.len();
    names.push(Name {
        text: text.to_owned(),
        ..Name::default()
    });
    by_name.insert(text.to_owned(), id);
    id
}

/// Names to their ids (the standard, flooding-resistant hasher: names come from indexes).
type NameMap = HashMap<String, NameId>;

/// MurmurHash3 (x86, 32 bits), the hash apk keys its name table with.
fn murmur3_32(key: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h = seed;
    let mut blocks = key.chunks_exact(4);
    for block in &mut blocks {
        let k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        h ^= mix(k);
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u32, |k, &b| (k << 8) | u32::from(b));
        h ^= mix(k);
    }
    #[allow(clippy::cast_possible_truncation)]
    {
        h ^= key.len() as u32;
    }
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// apk's display order for names: case-insensitive, then bytewise.
fn display_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
        .then_with(|| a.cmp(b))
}

/// Convenience: index `repositories` and resolve `world` once.
///
/// # Errors
///
/// As [`Universe::new`] and [`Universe::resolve`].
pub fn resolve(world: &[Dependency], repositories: &[Repository]) -> Result<Resolution, Error> {
    Universe::new(repositories)?.resolve(world)
}

#[derive(Debug, Default, Clone)]
struct NameState {
    seen: bool,
    locked: bool,
    chosen: Option<Provider>,
    requirers: u32,
    reevaluate_deps: bool,
    reevaluate_iif: bool,
    has_iif: bool,
    no_iif: bool,
    has_options: bool,
    reverse_deps_done: bool,
    max_dep_chain: u32,
    merge_depends: usize,
    merge_provides: usize,
    has_virtual_provides: bool,
    in_dirty: bool,
    in_unresolved: bool,
    /// Named in the world (apk marks these, and decides them first).
    flags_set: bool,
    in_changeset: bool,
}

#[derive(Debug, Default, Clone)]
struct PkgState {
    seen: bool,
    pinning_allowed: u64,
    pinning_preferred: u64,
    selectable: bool,
    iif_failed: bool,
    iif_triggered: bool,
    tag_preferred: bool,
    tag_ok: bool,
    max_dep_chain: u32,
    dependencies_merged: bool,
    dependencies_used: bool,
    conflicts: u32,
    error: bool,
    in_changeset: bool,
}

struct Solver<'u> {
    u: &'u Universe,
    names: Vec<NameState>,
    pkgs: Vec<PkgState>,
    dirty: VecDeque<NameId>,
    /// apk adds to the front of this list and scans it from the front.
    unresolved: Vec<NameId>,
    errors: u32,
    default_repos: u64,
    pinning_inherit: u64,
}

const DEFAULT_PINNING: u64 = 1;

impl<'u> Solver<'u> {
    fn new(u: &'u Universe, num_names: usize) -> Self {
        Solver {
            u,
            names: vec![NameState::default(); num_names],
            pkgs: vec![PkgState::default(); u.packages.len()],
            dirty: VecDeque::new(),
            unresolved: Vec::new(),
            errors: 0,
            default_repos: u.tags[0].allowed_repos,
            pinning_inherit: 0,
        }
    }

    fn providers(&self, name: NameId) -> &'u [Provider] {
        self.u.names.get(name).map_or(&[], |n| &n.providers)
    }

    fn rdepends(&self, name: NameId) -> &'u [NameId] {
        self.u.names.get(name).map_or(&[], |n| &n.rdepends)
    }

    fn rinstall_if(&self, name: NameId) -> &'u [NameId] {
        self.u.names.get(name).map_or(&[], |n| &n.rinstall_if)
    }

    fn pkg(&self, id: PkgId) -> &'u Package {
        &self.u.packages[id]
    }

    fn provider_version(&self, p: Provider) -> Option<&'u Version> {
        let pkg = self.pkg(p.pkg?);
        match p.via {
            None => Some(&pkg.candidate.version),
            Some(i) => pkg.provides[i].1.version(),
        }
    }

    /// apk's `apk_dep_is_provided`.
    fn is_provided(&self, dep: &Dependency, p: Provider) -> bool {
        let Some(pkg) = p.pkg else {
            return dep.conflict;
        };
        if matches!(dep.constraint, Constraint::Any) {
            return !dep.conflict;
        }
        dep.satisfied_by(
            self.provider_version(p),
            Some(&self.pkg(pkg).candidate.checksum),
        )
    }

    fn mask_repos(&self, mask: u64) -> u64 {
        self.u
            .tags
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < 64 && mask & (1 << i) != 0)
            .fold(0, |acc, (_, t)| acc | t.allowed_repos)
    }

    fn mark_error(&mut self, pkg: Option<PkgId>) {
        if let Some(pkg) = pkg
            && !self.pkgs[pkg].error
        {
            self.pkgs[pkg].error = true;
            self.errors += 1;
        }
    }

    fn queue_dirty(&mut self, name: NameId) {
        let s = &self.names[name];
        if s.in_dirty || s.locked || (s.requirers == 0 && !s.reevaluate_iif) {
            return;
        }
        self.names[name].in_dirty = true;
        self.dirty.push_back(name);
    }

    fn queue_unresolved(&mut self, name: NameId) {
        let s = &self.names[name];
        if s.locked {
            return;
        }
        let want = s.requirers > 0 || s.has_iif;
        if want && !s.in_unresolved {
            self.names[name].in_unresolved = true;
            self.unresolved.insert(0, name);
        } else if !want && s.in_unresolved {
            self.names[name].in_unresolved = false;
            self.unresolved.retain(|&n| n != name);
        }
    }

    fn reevaluate_reverse_deps(&mut self, name: NameId) {
        for &name0 in self.rdepends(name) {
            if !self.names[name0].seen {
                continue;
            }
            self.names[name0].reevaluate_deps = true;
            self.queue_dirty(name0);
        }
    }

    fn reevaluate_reverse_installif(&mut self, name: NameId) {
        for &name0 in self.rinstall_if(name) {
            if !self.names[name0].seen || self.names[name0].no_iif {
                continue;
            }
            self.names[name0].reevaluate_iif = true;
            self.queue_dirty(name0);
        }
    }

    fn reevaluate_reverse_installif_pkg(&mut self, pkg: PkgId) {
        let p = self.pkg(pkg);
        self.reevaluate_reverse_installif(p.name);
        for (name, _) in &p.provides {
            self.reevaluate_reverse_installif(*name);
        }
    }

    fn disqualify(&mut self, pkg: PkgId) {
        self.pkgs[pkg].selectable = false;
        let p = self.pkg(pkg);
        self.reevaluate_reverse_deps(p.name);
        for (name, _) in &p.provides {
            self.reevaluate_reverse_deps(*name);
        }
        self.reevaluate_reverse_installif_pkg(pkg);
    }

    fn dependency_satisfiable(&self, name: NameId, dep: &Dependency) -> bool {
        let s = &self.names[name];
        if s.locked {
            return self.is_provided(dep, s.chosen.unwrap_or(NO_PROVIDER));
        }
        if s.requirers == 0 && self.is_provided(dep, NO_PROVIDER) {
            return true;
        }
        self.providers(name)
            .iter()
            .any(|&p| self.pkgs[p.pkg.unwrap_or_default()].selectable && self.is_provided(dep, p))
    }

    fn discover_name(&mut self, name: NameId, depth: usize) -> Result<(), Error> {
        if self.names[name].seen {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep {
                name: self.u.names[name].text.clone(),
            });
        }
        self.names[name].seen = true;
        self.names[name].no_iif = true;
        for &p in self.providers(name) {
            let id = p.pkg.unwrap_or_default();
            let pkg = self.pkg(id);
            if !self.pkgs[id].seen {
                let tag_preferred =
                    pkg.candidate.installed_size == 0 || pkg.repos & self.default_repos != 0;
                self.pkgs[id] = PkgState {
                    seen: true,
                    pinning_allowed: DEFAULT_PINNING,
                    pinning_preferred: DEFAULT_PINNING,
                    selectable: true,
                    iif_failed: pkg.install_if.is_empty(),
                    tag_preferred,
                    tag_ok: tag_preferred,
                    ..PkgState::default()
                };
                for (dname, _) in &pkg.depends {
                    self.discover_name(*dname, depth + 1)?;
                    let chain = self.names[*dname].max_dep_chain + 1;
                    let st = &mut self.pkgs[id];
                    st.max_dep_chain = st.max_dep_chain.max(chain);
                }
            }
            let (iif_failed, chain) = (self.pkgs[id].iif_failed, self.pkgs[id].max_dep_chain);
            let s = &mut self.names[name];
            s.no_iif &= iif_failed;
            s.max_dep_chain = s.max_dep_chain.max(chain);
        }
        for &p in self.providers(name) {
            let pkg = self.pkg(p.pkg.unwrap_or_default());
            for &n in self.rinstall_if(pkg.name) {
                self.discover_name(n, depth + 1)?;
            }
            for (pname, _) in &pkg.provides {
                if self.names[*pname].seen {
                    continue;
                }
                for &n in self.rinstall_if(*pname) {
                    self.discover_name(n, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    fn name_requirers_changed(&mut self, name: NameId) {
        self.queue_unresolved(name);
        self.reevaluate_reverse_installif(name);
        self.queue_dirty(name);
    }

    fn inherit_pinning(&mut self, pkg: PkgId, parent: Option<PkgId>) {
        let repos = self.pkg(pkg).repos;
        match parent {
            Some(parent) => {
                let allowed = self.pkgs[parent].pinning_allowed;
                self.pkgs[pkg].pinning_allowed |= allowed;
            }
            None => {
                let inherit = self.pinning_inherit;
                let preferred = repos & self.mask_repos(inherit) != 0;
                let st = &mut self.pkgs[pkg];
                st.pinning_allowed |= inherit;
                st.pinning_preferred = inherit;
                st.tag_preferred = preferred;
            }
        }
        let ok = repos & self.mask_repos(self.pkgs[pkg].pinning_allowed) != 0;
        self.pkgs[pkg].tag_ok |= ok;
    }

    fn apply_constraint(&mut self, parent: Option<PkgId>, name: NameId, dep: &Dependency) {
        if !dep.conflict {
            self.names[name].requirers += 1;
            if self.names[name].requirers == 1 {
                self.name_requirers_changed(name);
            }
        }
        for &p0 in self.providers(name) {
            let pkg0 = p0.pkg.unwrap_or_default();
            let provided = self.is_provided(dep, p0);
            if !provided {
                self.pkgs[pkg0].conflicts += 1;
            }
            if self.pkgs[pkg0].selectable && self.pkgs[pkg0].conflicts > 0 {
                self.disqualify(pkg0);
            }
            if provided {
                self.inherit_pinning(pkg0, parent);
            }
        }
    }

    fn exclude_non_providers(&mut self, name: NameId, must_provide: NameId, skip_virtuals: bool) {
        if name == must_provide {
            return;
        }
        for &p in self.providers(name) {
            let id = p.pkg.unwrap_or_default();
            let pkg = self.pkg(id);
            if pkg.name == must_provide
                || !self.pkgs[id].selectable
                || (skip_virtuals && self.provider_version(p).is_none())
            {
                continue;
            }
            if pkg
                .provides
                .iter()
                .any(|(n, d)| *n == must_provide || (skip_virtuals && d.version().is_none()))
            {
                continue;
            }
            self.disqualify(id);
        }
    }

    fn merge_index(index: &mut usize, num_options: usize) -> bool {
        if *index != num_options {
            return false;
        }
        *index = num_options + 1;
        true
    }

    fn merge_index_complete(index: &mut usize, num_options: usize) -> bool {
        let complete = *index == num_options;
        *index = 0;
        complete
    }

    #[allow(clippy::too_many_lines)]
    fn reconsider_name(&mut self, name: NameId) {
        let reevaluate_deps = std::mem::take(&mut self.names[name].reevaluate_deps);
        let reevaluate_iif = std::mem::take(&mut self.names[name].reevaluate_iif);
        let mut first_candidate = None;
        let (mut num_options, mut num_tag_not_ok) = (0usize, 0usize);
        let (mut has_iif, mut no_iif) = (false, true);

        for &p in self.providers(name) {
            let id = p.pkg.unwrap_or_default();
            let pkg = self.pkg(id);
            self.pkgs[id].dependencies_merged = false;
            if reevaluate_deps {
                if !self.pkgs[id].selectable {
                    continue;
                }
                if pkg
                    .depends
                    .iter()
                    .any(|(n, d)| !self.dependency_satisfiable(*n, d))
                {
                    self.disqualify(id);
                }
            }
            if !self.pkgs[id].selectable {
                continue;
            }
            if reevaluate_iif && !self.pkgs[id].iif_triggered && !self.pkgs[id].iif_failed {
                let (mut triggered, mut failed) = (true, false);
                for (n, d) in &pkg.install_if {
                    if !self.names[*n].locked {
                        triggered = false;
                        break;
                    }
                    if !self.is_provided(d, self.names[*n].chosen.unwrap_or(NO_PROVIDER)) {
                        triggered = false;
                        failed = true;
                        break;
                    }
                }
                self.pkgs[id].iif_triggered = triggered;
                self.pkgs[id].iif_failed = failed;
            }
            if reevaluate_iif && self.pkgs[id].iif_triggered {
                for (n, _) in &pkg.install_if {
                    let parent = self.names[*n].chosen.and_then(|c| c.pkg);
                    self.inherit_pinning(id, parent);
                }
            }
            has_iif |= self.pkgs[id].iif_triggered;
            no_iif &= self.pkgs[id].iif_failed;

            if self.names[name].requirers == 0 {
                continue;
            }
            self.pkgs[id].dependencies_merged = true;
            if first_candidate.is_none() {
                first_candidate = Some(id);
            }
            for (n, d) in &pkg.depends {
                if !d.conflict {
                    Self::merge_index(&mut self.names[*n].merge_depends, num_options);
                }
            }
            let own_virtual = self.provider_version(p).is_none();
            if Self::merge_index(&mut self.names[pkg.name].merge_provides, num_options) {
                self.names[pkg.name].has_virtual_provides |= own_virtual;
            }
            for (n, d) in &pkg.provides {
                if Self::merge_index(&mut self.names[*n].merge_provides, num_options) {
                    self.names[*n].has_virtual_provides |= d.version().is_none();
                }
            }
            num_tag_not_ok += usize::from(!self.pkgs[id].tag_ok);
            num_options += 1;
        }
        {
            let s = &mut self.names[name];
            s.has_options = num_options > 1 || num_tag_not_ok > 0;
            s.has_iif = has_iif;
            s.no_iif = no_iif;
        }
        self.queue_unresolved(name);

        if let Some(first) = first_candidate {
            for &p in self.providers(name) {
                let id = p.pkg.unwrap_or_default();
                self.pkgs[id].dependencies_used = self.pkgs[id].dependencies_merged;
            }
            let pkg = self.pkg(first);
            if num_options == 1 {
                for (n, d) in &pkg.depends {
                    if Self::merge_index_complete(&mut self.names[*n].merge_depends, num_options) {
                        self.apply_constraint(Some(first), *n, d);
                    }
                }
            } else {
                for (n, _) in &pkg.depends {
                    if Self::merge_index_complete(&mut self.names[*n].merge_depends, num_options)
                        && self.names[*n].requirers == 0
                    {
                        self.names[*n].requirers += 1;
                        self.name_requirers_changed(*n);
                        for &p in self.providers(*n) {
                            self.inherit_pinning(p.pkg.unwrap_or_default(), Some(first));
                        }
                    }
                }
            }
            if Self::merge_index_complete(&mut self.names[pkg.name].merge_provides, num_options) {
                let skip = self.names[pkg.name].has_virtual_provides;
                self.exclude_non_providers(pkg.name, name, skip);
            }
            for (n, _) in &pkg.provides {
                if Self::merge_index_complete(&mut self.names[*n].merge_provides, num_options) {
                    let skip = self.names[*n].has_virtual_provides;
                    self.exclude_non_providers(*n, name, skip);
                }
            }
            self.names[pkg.name].has_virtual_provides = false;
            for (n, _) in &pkg.provides {
                self.names[*n].has_virtual_provides = false;
            }
        }

        let done = self
            .rdepends(name)
            .iter()
            .all(|&n| !self.names[n].seen || self.names[n].locked);
        self.names[name].reverse_deps_done = done;
    }

    /// apk's `compare_providers` for a fresh root: positive when `a` is better.
    fn compare_providers(&self, a: Provider, b: Provider) -> std::cmp::Ordering {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let (Some(ia), Some(ib)) = (a.pkg, b.pkg) else {
            return a.pkg.is_some().cmp(&b.pkg.is_some());
        };
        let (sa, sb) = (&self.pkgs[ia], &self.pkgs[ib]);
        let order = sa
            .selectable
            .cmp(&sb.selectable)
            .then(sa.dependencies_used.cmp(&sb.dependencies_used))
            .then(sb.conflicts.cmp(&sa.conflicts))
            .then(sa.tag_ok.cmp(&sb.tag_ok))
            .then(sa.tag_preferred.cmp(&sb.tag_preferred));
        if order != Equal {
            return order;
        }
        // Versions: only a definite order counts (a provider without version compares to
        // nothing).
        if let (Some(va), Some(vb)) = (self.provider_version(a), self.provider_version(b)) {
            match va.cmp(vb) {
                Equal => {}
                other => return other,
            }
        }
        let (pa, pb) = (self.pkg(ia), self.pkg(ib));
        if pa.name == pb.name {
            match pa.candidate.version.cmp(&pb.candidate.version) {
                Equal => {}
                other => return other,
            }
        }
        let order = pa
            .candidate
            .provider_priority
            .cmp(&pb.candidate.provider_priority)
            .then(sa.selectable.cmp(&sb.selectable));
        if order != Equal {
            return order;
        }
        // The earliest repository wins.
        match pb.repos.trailing_zeros().cmp(&pa.repos.trailing_zeros()) {
            Less => Less,
            Greater => Greater,
            Equal => Equal,
        }
    }

    fn assign_name(&mut self, name: NameId, p: Provider) {
        if self.names[name].locked {
            let chosen = self.names[name].chosen.unwrap_or(NO_PROVIDER);
            if self.provider_version(p).is_none() && self.provider_version(chosen).is_none() {
                return;
            }
            self.mark_error(p.pkg);
            self.mark_error(chosen.pkg);
            return;
        }
        {
            let s = &mut self.names[name];
            s.locked = true;
            s.chosen = Some(p);
        }
        if self.names[name].in_unresolved {
            self.names[name].in_unresolved = false;
            self.unresolved.retain(|&n| n != name);
        }
        if self.names[name].in_dirty {
            self.names[name].in_dirty = false;
            self.dirty.retain(|&n| n != name);
        }
        let p_virtual = self.provider_version(p).is_none();
        for &p0 in self.providers(name) {
            if p0.pkg == p.pkg {
                continue;
            }
            if p_virtual && self.provider_version(p0).is_none() {
                continue;
            }
            self.disqualify(p0.pkg.unwrap_or_default());
        }
        self.reevaluate_reverse_deps(name);
        match p.pkg {
            Some(pkg) => self.reevaluate_reverse_installif_pkg(pkg),
            None => self.reevaluate_reverse_installif(name),
        }
    }

    fn select_package(&mut self, name: NameId) {
        let mut chosen = NO_PROVIDER;
        let s = &self.names[name];
        if s.requirers > 0 || s.has_iif {
            for &p in self.providers(name) {
                let id = p.pkg.unwrap_or_default();
                let st = &self.pkgs[id];
                if self.names[name].requirers == 0 && (!st.iif_triggered || !st.tag_ok) {
                    continue;
                }
                let pkg = self.pkg(id);
                if self.provider_version(p).is_none()
                    && self.names[pkg.name].requirers == 0
                    && pkg.candidate.provider_priority == 0
                {
                    continue;
                }
                if self.compare_providers(p, chosen) == std::cmp::Ordering::Greater {
                    chosen = p;
                }
            }
        }
        if let Some(id) = chosen.pkg {
            if !self.pkgs[id].selectable || !self.pkgs[id].tag_ok {
                self.mark_error(Some(id));
            }
            let pkg = self.pkg(id);
            self.assign_name(
                pkg.name,
                Provider {
                    pkg: Some(id),
                    via: None,
                },
            );
            for (i, (n, _)) in pkg.provides.iter().enumerate() {
                self.assign_name(
                    *n,
                    Provider {
                        pkg: Some(id),
                        via: Some(i),
                    },
                );
            }
            for (n, d) in &pkg.depends {
                self.apply_constraint(Some(id), *n, d);
            }
        } else {
            self.assign_name(name, NO_PROVIDER);
            if self.names[name].requirers > 0 {
                self.errors += 1;
            }
        }
    }

    fn compare_name_dequeue(&self, a: NameId, b: NameId) -> std::cmp::Ordering {
        let (sa, sb) = (&self.names[a], &self.names[b]);
        let priority = |n: NameId| self.u.names.get(n).map_or(0, |n| n.priority);
        sb.flags_set
            .cmp(&sa.flags_set)
            .then(priority(a).cmp(&priority(b)))
            .then(sb.max_dep_chain.cmp(&sa.max_dep_chain))
            .then((sb.requirers > 0).cmp(&(sa.requirers > 0)))
    }

    fn solve(&mut self, world: &[(NameId, Dependency, usize)]) -> Result<(), Error> {
        for (name, _, _) in world {
            self.names[*name].flags_set = true;
        }
        for (name, _, _) in world {
            self.discover_name(*name, 0)?;
        }
        for (name, dep, tag) in world {
            self.pinning_inherit = 1 << tag;
            self.apply_constraint(None, *name, dep);
        }
        self.pinning_inherit = 0;
        loop {
            while let Some(name) = self.dirty.pop_front() {
                self.names[name].in_dirty = false;
                self.reconsider_name(name);
            }
            let mut pick: Option<NameId> = None;
            for &name0 in &self.unresolved {
                let s = &self.names[name0];
                if s.reverse_deps_done && s.requirers > 0 && !s.has_options {
                    pick = Some(name0);
                    break;
                }
                if pick.is_none_or(|p| self.compare_name_dequeue(name0, p).is_lt()) {
                    pick = Some(name0);
                }
            }
            let Some(name) = pick else { break };
            self.select_package(name);
        }
        Ok(())
    }

    // --- the change set: install order ---

    fn changeset(&mut self, world: &[(NameId, Dependency, usize)]) -> Result<Vec<PkgId>, Error> {
        let mut out = Vec::new();
        for (name, dep, _) in world {
            self.cset_gen_dep(None, *name, dep, &mut out, 0)?;
        }
        Ok(out)
    }

    fn cset_gen_dep(
        &mut self,
        parent: Option<PkgId>,
        name: NameId,
        dep: &Dependency,
        out: &mut Vec<PkgId>,
        depth: usize,
    ) -> Result<(), Error> {
        let chosen = self.names[name].chosen.unwrap_or(NO_PROVIDER);
        if !self.is_provided(dep, chosen) {
            self.mark_error(parent);
        }
        self.cset_gen_name_change(name, out, depth)?;
        if let Some(pkg) = chosen.pkg
            && self.pkgs[pkg].error
        {
            self.mark_error(parent);
        }
        Ok(())
    }

    fn cset_gen_name_change(
        &mut self,
        name: NameId,
        out: &mut Vec<PkgId>,
        depth: usize,
    ) -> Result<(), Error> {
        if self.names[name].in_changeset {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep {
                name: self
                    .u
                    .names
                    .get(name)
                    .map_or_else(String::new, |n| n.text.clone()),
            });
        }
        self.names[name].in_changeset = true;
        let Some(id) = self.names[name].chosen.and_then(|c| c.pkg) else {
            return Ok(());
        };
        if self.pkgs[id].in_changeset {
            return Ok(());
        }
        self.pkgs[id].in_changeset = true;
        let pkg = self.pkg(id);
        self.names[pkg.name].in_changeset = true;
        for (n, _) in &pkg.provides {
            self.names[*n].in_changeset = true;
        }
        for (n, d) in &pkg.depends {
            self.cset_gen_dep(Some(id), *n, d, out, depth + 1)?;
        }
        out.push(id);
        for &n in self.rinstall_if(pkg.name) {
            self.cset_check_install_by_iif(n, out, depth + 1)?;
        }
        for (pname, _) in &pkg.provides {
            for &n in self.rinstall_if(*pname) {
                self.cset_check_install_by_iif(n, out, depth + 1)?;
            }
        }
        Ok(())
    }

    fn cset_check_install_by_iif(
        &mut self,
        name: NameId,
        out: &mut Vec<PkgId>,
        depth: usize,
    ) -> Result<(), Error> {
        let Some(id) = self.names[name].chosen.and_then(|c| c.pkg) else {
            return Ok(());
        };
        if !self.names[name].seen || self.names[name].in_changeset {
            return Ok(());
        }
        for (n, d) in &self.pkg(id).install_if {
            if !self.names[*n].in_changeset {
                return Ok(());
            }
            if !self.is_provided(d, self.names[*n].chosen.unwrap_or(NO_PROVIDER)) {
                return Ok(());
            }
        }
        self.cset_gen_name_change(name, out, depth)
    }

    /// apk's change set lists a package before its dependencies when an `install_if` package
    /// is triggered in the middle of a dependency walk. Reorder it so that every package comes
    /// after the packages chosen for its dependencies, keeping apk's order wherever it already
    /// does (a depth-first walk in apk's order); only true dependency cycles stay as they are.
    fn dependencies_first(&self, changes: &[PkgId]) -> Vec<PkgId> {
        let mut done = vec![false; self.pkgs.len()];
        let mut out = Vec::with_capacity(changes.len());
        for &start in changes {
            if done[start] {
                continue;
            }
            done[start] = true;
            // (package, index of the next dependency to look at)
            let mut stack = vec![(start, 0usize)];
            while let Some(top) = stack.last_mut() {
                let (id, next) = *top;
                let depends = &self.pkg(id).depends;
                if let Some((name, dep)) = depends.get(next) {
                    top.1 += 1;
                    if dep.conflict {
                        continue;
                    }
                    if let Some(q) = self.names[*name].chosen.and_then(|c| c.pkg)
                        && !done[q]
                        && self.pkgs[q].in_changeset
                    {
                        done[q] = true;
                        stack.push((q, 0));
                    }
                } else {
                    out.push(id);
                    stack.pop();
                }
            }
        }
        out
    }

    fn repository_of(&self, id: PkgId) -> usize {
        let repos = self.pkg(id).repos;
        let allowed = repos & self.mask_repos(self.pkgs[id].pinning_allowed);
        let pick = if allowed != 0 { allowed } else { repos };
        pick.trailing_zeros() as usize
    }

    // --- explaining failures, after apk's `apk_solver_print_errors` ---

    fn explain(
        &self,
        world: &[(NameId, Dependency, usize)],
        changes: &[PkgId],
        name_text: &dyn Fn(NameId) -> String,
    ) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut reported = std::collections::HashSet::new();
        let marked: std::collections::HashSet<PkgId> = changes.iter().copied().collect();
        let world_atoms: Vec<(NameId, &Dependency)> =
            world.iter().map(|(n, d, _)| (*n, d)).collect();
        let pkg_id = |id: PkgId| self.pkg(id).candidate.id();

        let mut missing = |name: NameId, problems: &mut Vec<Problem>| {
            if self.names[name].chosen.and_then(|c| c.pkg).is_some() || !reported.insert(name) {
                return;
            }
            let providers = self.providers(name);
            let mut details = Vec::new();
            let subject = if providers.is_empty() {
                format!("{} (no such package)", name_text(name))
            } else {
                details.push((
                    "note".to_owned(),
                    vec!["please select one of the 'provided by' packages explicitly".to_owned()],
                ));
                let mut by: Vec<String> = Vec::new();
                for p in providers {
                    let s = pkg_id(p.pkg.unwrap_or_default());
                    if !by.contains(&s) {
                        by.push(s);
                    }
                }
                details.push(("provided by".to_owned(), by));
                format!("{} (virtual)", name_text(name))
            };
            let mut required = Vec::new();
            for (n, d) in &world_atoms {
                if *n == name && !d.conflict {
                    required.push(format!("world[{d}]"));
                }
            }
            for &id in changes {
                if let Some((_, d)) = self
                    .pkg(id)
                    .depends
                    .iter()
                    .find(|(n, d)| *n == name && !d.conflict)
                {
                    required.push(format!("{}[{d}]", pkg_id(id)));
                }
            }
            details.push(("required by".to_owned(), required));
            problems.push(Problem { subject, details });
        };

        for (n, d) in &world_atoms {
            if !d.conflict {
                missing(*n, &mut problems);
            }
        }
        for &id in changes {
            let pkg = self.pkg(id);
            {
                let mut details: Vec<(String, Vec<String>)> = Vec::new();
                let repos = pkg.repos;
                let allowed = self.mask_repos(self.pkgs[id].pinning_allowed | DEFAULT_PINNING);
                if repos & allowed == 0 {
                    let tags: Vec<String> = self
                        .u
                        .tags
                        .iter()
                        .filter(|t| t.allowed_repos & repos != 0)
                        .map(|t| format!("@{}", t.name))
                        .collect();
                    details.push(("masked in".to_owned(), tags));
                }
                // other chosen packages that take one of its names
                let mut conflicts = Vec::new();
                for p in self.providers(pkg.name) {
                    let other = p.pkg.unwrap_or_default();
                    if other != id && marked.contains(&other) {
                        conflicts.push(pkg_id(other));
                    }
                }
                for (n, d) in &pkg.provides {
                    for p in self.providers(*n) {
                        let other = p.pkg.unwrap_or_default();
                        if other == id || !marked.contains(&other) {
                            continue;
                        }
                        if d.version().is_none() && self.provider_version(*p).is_none() {
                            continue;
                        }
                        conflicts.push(format!("{}[{d}]", pkg_id(other)));
                    }
                }
                if !conflicts.is_empty() {
                    details.push(("conflicts".to_owned(), conflicts));
                }
                // who asks for something it is not, and who it satisfies
                let (mut breaks, mut satisfies) = (Vec::new(), Vec::new());
                let mut judge = |who: String, n: NameId, d: &Dependency| {
                    let relevant = n == pkg.name || pkg.provides.iter().any(|(pn, _)| *pn == n);
                    if !relevant {
                        return;
                    }
                    let provider = if n == pkg.name {
                        Provider {
                            pkg: Some(id),
                            via: None,
                        }
                    } else {
                        let i = pkg
                            .provides
                            .iter()
                            .position(|(pn, _)| *pn == n)
                            .unwrap_or_default();
                        Provider {
                            pkg: Some(id),
                            via: Some(i),
                        }
                    };
                    if self.is_provided(d, provider) {
                        satisfies.push(format!("{who}[{d}]"));
                    } else {
                        breaks.push(format!("{who}[{d}]"));
                    }
                };
                for (n, d) in &world_atoms {
                    judge("world".to_owned(), *n, d);
                }
                for &other in changes {
                    if other == id {
                        continue;
                    }
                    for (n, d) in &self.pkg(other).depends {
                        judge(pkg_id(other), *n, d);
                    }
                }
                if !breaks.is_empty() {
                    details.push(("breaks".to_owned(), breaks));
                }
                // apk reports a package only when something is wrong with it
                if !details.is_empty() {
                    if !satisfies.is_empty() {
                        details.push(("satisfies".to_owned(), satisfies));
                    }
                    problems.push(Problem {
                        subject: pkg_id(id),
                        details,
                    });
                }
            }
            for (n, d) in &pkg.depends {
                if !d.conflict {
                    missing(*n, &mut problems);
                }
            }
        }
        if problems.is_empty() {
            problems.push(Problem {
                subject: "world".to_owned(),
                details: vec![(
                    "note".to_owned(),
                    vec!["no single constraint could be blamed".to_owned()],
                )],
            });
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pkg("a", "1.0", "b>=2 so:libc")` with optional provides/install_if set after.
    fn pkg(name: &str, version: &str, depends: &str) -> Candidate {
        let mut c = Candidate::new(name, Version::parse(version).unwrap());
        c.depends = Dependency::parse_list(depends).unwrap();
        c.checksum = format!("Q1{name}{version}");
        c.installed_size = 1;
        c
    }

    fn with(mut c: Candidate, provides: &str, install_if: &str, priority: u32) -> Candidate {
        c.provides = Dependency::parse_list(provides).unwrap();
        c.install_if = Dependency::parse_list(install_if).unwrap();
        c.provider_priority = priority;
        c
    }

    fn repo(packages: Vec<Candidate>) -> Repository {
        Repository {
            location: "main".into(),
            tag: None,
            packages,
        }
    }

    fn solve(world: &str, repos: &[Repository]) -> Result<Vec<String>, Error> {
        resolve(&Dependency::parse_list(world).unwrap(), repos).map(|r| r.ids())
    }

    #[test]
    fn picks_the_highest_version_and_orders_dependencies_first() {
        let repos = [repo(vec![
            pkg("app", "1.0-r0", "lib>=2"),
            pkg("app", "1.1-r0", "lib>=2"),
            pkg("lib", "2.0-r0", ""),
            pkg("lib", "2.1_rc1-r0", ""),
        ])];
        assert_eq!(
            solve("app", &repos).unwrap(),
            ["lib-2.1_rc1-r0", "app-1.1-r0"]
        );
        assert_eq!(
            solve("app<1.1", &repos).unwrap(),
            ["lib-2.1_rc1-r0", "app-1.0-r0"]
        );
        assert_eq!(
            solve("app lib<2.0.1", &repos).unwrap(),
            ["lib-2.0-r0", "app-1.1-r0"]
        );
        assert_eq!(
            solve("app lib~2.0", &repos).unwrap(),
            ["lib-2.0-r0", "app-1.1-r0"]
        );
    }

    #[test]
    fn providers_virtual_names_and_priority() {
        let repos = [repo(vec![
            with(pkg("busybox", "1.36", ""), "cmd:sh /bin/sh", "", 0),
            with(pkg("dash", "0.5", ""), "cmd:sh /bin/sh", "", 0),
            with(pkg("mawk", "1.3", ""), "awk", "", 10),
            with(pkg("gawk", "5.3", ""), "awk", "", 20),
            with(pkg("libssl3", "3.1", ""), "so:libssl.so.3=3", "", 0),
            pkg("curl", "8.5", "so:libssl.so.3 cmd:sh"),
        ])];
        // an unversioned virtual name with several providers and no priority is an error
        let err = solve("cmd:sh", &repos).unwrap_err();
        assert!(err.to_string().contains("cmd:sh (virtual)"), "{err}");
        assert!(
            err.to_string()
                .contains("provided by: busybox-1.36 dash-0.5"),
            "{err}"
        );
        // with the provider named, the virtual name is satisfied
        assert_eq!(
            solve("curl busybox", &repos).unwrap(),
            ["busybox-1.36", "libssl3-3.1", "curl-8.5"]
        );
        // provider_priority decides between unversioned providers
        assert_eq!(solve("awk", &repos).unwrap(), ["gawk-5.3"]);
    }

    #[test]
    fn install_if_adds_packages_when_their_condition_holds() {
        let repos = [repo(vec![
            pkg("openrc", "0.52", ""),
            pkg("nftables", "1.0", ""),
            with(
                pkg("nftables-openrc", "1.0", ""),
                "",
                "openrc nftables=1.0",
                0,
            ),
            with(pkg("nftables-doc", "1.0", ""), "", "docs nftables", 0),
        ])];
        assert_eq!(solve("nftables", &repos).unwrap(), ["nftables-1.0"]);
        assert_eq!(
            solve("nftables openrc", &repos).unwrap(),
            ["nftables-1.0", "openrc-0.52", "nftables-openrc-1.0"]
        );
    }

    #[test]
    fn conflicts_are_explained_with_the_chain() {
        let repos = [repo(vec![
            pkg("ifupdown-ng", "0.12", "!vlan"),
            pkg("vlan", "2.4", ""),
            pkg("alpine-base", "3.19", "ifupdown-ng"),
        ])];
        let err = solve("alpine-base vlan", &repos).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("unable to select packages:"), "{text}");
        assert!(text.contains("vlan-2.4:"), "{text}");
        assert!(text.contains("breaks: ifupdown-ng-0.12[!vlan]"), "{text}");
        assert!(text.contains("satisfies: world[vlan]"), "{text}");
        let err = solve("alpine-base nosuch", &repos).unwrap_err();
        assert!(
            err.to_string()
                .contains("nosuch (no such package):\n    required by: world[nosuch]"),
            "{err}"
        );
        let Error::Unsatisfiable { problems } = err else {
            panic!("{err}")
        };
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn a_missing_dependency_names_who_requires_it() {
        let repos = [repo(vec![
            pkg("a", "1", "b"),
            pkg("b", "1", "c>=2"),
            pkg("c", "1", ""),
        ])];
        let text = solve("a", &repos).unwrap_err().to_string();
        assert!(text.contains("c-1:\n    breaks: b-1[c>=2]"), "{text}");
    }

    #[test]
    fn tagged_repositories_are_used_only_when_asked() {
        let main = repo(vec![
            pkg("docker", "24.0", "containerd"),
            pkg("containerd", "1.6", ""),
        ]);
        let edge = Repository {
            location: "edge".into(),
            tag: Some("edge".into()),
            packages: vec![
                pkg("docker", "25.0", "containerd"),
                pkg("containerd", "1.7", ""),
            ],
        };
        let repos = [main, edge];
        assert_eq!(
            solve("docker", &repos).unwrap(),
            ["containerd-1.6", "docker-24.0"]
        );
        let r = resolve(&[Dependency::parse("docker@edge").unwrap()], &repos).unwrap();
        assert_eq!(r.ids(), ["containerd-1.6", "docker-25.0"]);
        assert_eq!(r.packages[1].repository, 1);
        assert_eq!(r.packages[0].repository, 0);
        let err = solve("docker@nosuch", &repos).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`docker@nosuch` names the repository tag `@nosuch`, which no repository has"
        );
    }

    #[test]
    fn the_earlier_repository_wins_a_tie_and_duplicates_merge() {
        let a = repo(vec![pkg("x", "1", "")]);
        let mut b = repo(vec![pkg("x", "1", ""), pkg("y", "1", "")]);
        b.location = "second".into();
        let universe = Universe::new(&[a, b]).unwrap();
        assert_eq!(universe.len(), 2);
        let r = universe
            .resolve(&Dependency::parse_list("x y").unwrap())
            .unwrap();
        assert_eq!(r.ids(), ["x-1", "y-1"]);
        assert_eq!(r.packages[0].repository, 0);
        assert_eq!(r.packages[1].repository, 1);
    }

    #[test]
    fn deterministic_and_bounded() {
        let mut packages = vec![];
        for i in 0..1000 {
            packages.push(pkg(&format!("p{i}"), "1", &format!("p{}", i + 1)));
        }
        packages.push(pkg("p1000", "1", "p0"));
        let repos = [repo(packages)];
        let once = solve("p0", &repos).unwrap();
        assert_eq!(once.len(), 1001);
        assert_eq!(once, solve("p0", &repos).unwrap());
        let mut deep = vec![];
        for i in 0..=MAX_DEPTH + 1 {
            deep.push(pkg(&format!("d{i}"), "1", &format!("d{}", i + 1)));
        }
        let err = solve("d0", &[repo(deep)]).unwrap_err();
        assert!(matches!(err, Error::TooDeep { .. }), "{err}");
    }

    #[test]
    fn murmur3_matches_the_reference_vectors() {
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_32(b"test", 0), 0xba6b_d213);
        assert_eq!(murmur3_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog", 0x9747_b28c),
            0x2fa8_26cd
        );
    }
}
