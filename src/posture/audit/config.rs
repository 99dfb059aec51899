//! Parsers for the host configuration files the audit reads: `sshd_config`, `fstab`,
//! `passwd`/`shadow`/`group`, audit rules, nftables and iptables rulesets, doas and sudo rules,
//! syslog forwarding.
//!
//! Invariant: every parser is pure and total: any text in, a value out (unparseable lines are
//! skipped), never a panic; nesting and include depth are bounded by the callers.

use std::collections::{BTreeMap, BTreeSet};

/// Lines of a configuration file, with 1-based numbers, comments (`#` to the end of the line
/// at the start of a line) and blank lines removed.
fn lines(text: &str) -> impl Iterator<Item = (u32, &str)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            None
        } else {
            Some((u32::try_from(i + 1).unwrap_or(u32::MAX), line))
        }
    })
}

// ---------------------------------------------------------------- sshd_config

/// One `Keyword arguments` line of an sshd configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshdDirective {
    /// The keyword, lowercased.
    pub keyword: String,
    /// The arguments, unquoted.
    pub args: Vec<String>,
    /// The file it comes from.
    pub file: String,
    /// Its line in that file.
    pub line: u32,
}

/// A `Match` block: its criteria and the directives it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshdMatch {
    /// The criteria as written (`User alice`).
    pub criteria: String,
    /// Where the block starts.
    pub file: String,
    /// Its line.
    pub line: u32,
    /// Directives inside the block.
    pub directives: Vec<SshdDirective>,
}

/// An sshd configuration with its `Include`s expanded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshdConfig {
    /// Directives outside any `Match` block, in the order sshd reads them.
    pub global: Vec<SshdDirective>,
    /// `Match` blocks, in order.
    pub matches: Vec<SshdMatch>,
    /// Why the expansion of `Include`s stopped before the end, when it did (too many files
    /// or bytes): what follows was not read.
    pub truncated: Option<String>,
}

impl SshdConfig {
    /// The effective global value of `keyword` (lowercase): sshd keeps the first value it
    /// reads.
    #[must_use]
    pub fn get(&self, keyword: &str) -> Option<&SshdDirective> {
        self.global.iter().find(|d| d.keyword == keyword)
    }

    /// Every global occurrence of `keyword` (for keywords that accumulate, as `AllowUsers`).
    pub fn all<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a SshdDirective> {
        self.global.iter().filter(move |d| d.keyword == keyword)
    }
}

/// Splits an sshd line into its keyword and arguments (`Key value`, `Key=value`, quotes).
fn sshd_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut in_word = false;
    let mut first_eq_done = false;
    for c in line.chars() {
        if c == '"' {
            quoted = !quoted;
            in_word = true;
        } else if !quoted && (c.is_whitespace() || (c == '=' && !first_eq_done && words.is_empty()))
        {
            if c == '=' {
                first_eq_done = true;
            }
            if in_word {
                words.push(std::mem::take(&mut current));
                in_word = false;
            }
        } else {
            current.push(c);
            in_word = true;
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

/// The most nested `Include` levels followed (as sshd's own limit).
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// The most files one configuration expands through `Include`s (files that include each
/// other's directories would otherwise fan out without end).
pub const MAX_INCLUDED_FILES: usize = 512;
/// The most bytes one configuration reads through `Include`s.
pub const MAX_INCLUDED_BYTES: usize = 4 << 20;

/// Where an expansion stands: the chain of files being read, and what was read so far.
struct Expansion {
    chain: Vec<String>,
    files: usize,
    bytes: usize,
}

/// Parses an sshd configuration. `include` expands one `Include` argument (absolute, or
/// relative to `/etc/ssh`, possibly a glob) into the files it names, in order, with their
/// text. A file is expanded once per chain of includes (a file that includes itself, or a
/// directory it lies in, is not read again inside itself), at most [`MAX_INCLUDE_DEPTH`]
/// deep, and at most [`MAX_INCLUDED_FILES`] files and [`MAX_INCLUDED_BYTES`] bytes in all
/// ([`SshdConfig::truncated`] says when that bound stopped it).
pub fn parse_sshd(
    text: &str,
    file: &str,
    include: &mut dyn FnMut(&str) -> Vec<(String, String)>,
) -> SshdConfig {
    let mut config = SshdConfig::default();
    let mut current: Option<SshdMatch> = None;
    let mut expansion = Expansion {
        chain: vec![file.to_owned()],
        files: 0,
        bytes: 0,
    };
    sshd_into(
        text,
        file,
        include,
        &mut expansion,
        &mut config,
        &mut current,
    );
    if let Some(block) = current.take() {
        config.matches.push(block);
    }
    config
}

fn sshd_into(
    text: &str,
    file: &str,
    include: &mut dyn FnMut(&str) -> Vec<(String, String)>,
    expansion: &mut Expansion,
    config: &mut SshdConfig,
    current: &mut Option<SshdMatch>,
) {
    for (line, raw) in lines(text) {
        let words = sshd_words(raw);
        let Some((keyword, args)) = words.split_first() else {
            continue;
        };
        let keyword = keyword.to_ascii_lowercase();
        if keyword == "include" {
            if expansion.chain.len() > MAX_INCLUDE_DEPTH || config.truncated.is_some() {
                continue;
            }
            for arg in args {
                for (path, body) in include(arg) {
                    if expansion.chain.contains(&path) {
                        continue;
                    }
                    expansion.files += 1;
                    expansion.bytes = expansion.bytes.saturating_add(body.len());
                    if expansion.files > MAX_INCLUDED_FILES || expansion.bytes > MAX_INCLUDED_BYTES
                    {
                        config.truncated = Some(format!(
                            "{file}:{line}: the Include expansion passes {MAX_INCLUDED_FILES} files or {MAX_INCLUDED_BYTES} bytes; `{path}` and what follows were not read"
                        ));
                        return;
                    }
                    expansion.chain.push(path.clone());
                    // A Match block opened inside an included file ends with that file; the
                    // including file goes on in the block it was in.
                    let outer = current.as_ref().map(|m| (m.file.clone(), m.line));
                    let mark = config.matches.len();
                    sshd_into(&body, &path, include, expansion, config, current);
                    expansion.chain.pop();
                    if config.truncated.is_some() {
                        // Nothing after the point where the expansion stopped is read.
                        return;
                    }
                    let now = current.as_ref().map(|m| (m.file.clone(), m.line));
                    if now != outer {
                        if let Some(inner) = current.take() {
                            config.matches.push(inner);
                        }
                        if outer.is_some() && mark < config.matches.len() {
                            *current = Some(config.matches.remove(mark));
                        }
                    }
                }
            }
            continue;
        }
        if keyword == "match" {
            if let Some(block) = current.take() {
                config.matches.push(block);
            }
            *current = Some(SshdMatch {
                criteria: args.join(" "),
                file: file.to_owned(),
                line,
                directives: Vec::new(),
            });
            continue;
        }
        let directive = SshdDirective {
            keyword,
            args: args.to_vec(),
            file: file.to_owned(),
            line,
        };
        match current {
            Some(block) => block.directives.push(directive),
            None => config.global.push(directive),
        }
    }
}

// ---------------------------------------------------------------- fstab

/// One `/etc/fstab` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabEntry {
    /// The device or file system (`UUID=...`, `tmpfs`).
    pub spec: String,
    /// The mount point.
    pub file: String,
    /// The file system type.
    pub vfstype: String,
    /// Mount options.
    pub options: Vec<String>,
    /// Line number.
    pub line: u32,
}

/// Parses `/etc/fstab`.
#[must_use]
pub fn parse_fstab(text: &str) -> Vec<FstabEntry> {
    lines(text)
        .filter_map(|(line, raw)| {
            let mut f = raw.split_whitespace();
            let spec = f.next()?.to_owned();
            let file = f.next()?.to_owned();
            let vfstype = f.next().unwrap_or("auto").to_owned();
            let options = f
                .next()
                .unwrap_or("defaults")
                .split(',')
                .map(str::to_owned)
                .collect();
            Some(FstabEntry {
                spec,
                file,
                vfstype,
                options,
                line,
            })
        })
        .collect()
}

// ---------------------------------------------------------------- accounts

pub use crate::accounts::{
    GroupEntry, PasswdEntry, ShadowEntry, parse_group, parse_passwd, parse_shadow,
};

/// Whether a password field (from `shadow`, or `passwd` without shadow) holds a usable
/// password: not empty, not locked (`!`, `*`), not the `x` placeholder.
#[must_use]
pub fn password_usable(hash: &str) -> bool {
    !(hash.is_empty() || hash.starts_with('!') || hash.starts_with('*') || hash == "x")
}

/// Shells that do not give an interactive login.
pub const NO_LOGIN_SHELLS: &[&str] = &[
    "/sbin/nologin",
    "/usr/sbin/nologin",
    "/bin/false",
    "/usr/bin/false",
    "/bin/sync",
    "/sbin/shutdown",
    "/sbin/halt",
    "/sbin/poweroff",
    "/dev/null",
    "",
];

// ---------------------------------------------------------------- audit rules

/// A path watched by an audit rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditWatch {
    /// The watched path.
    pub path: String,
    /// The `-k` key, when given.
    pub key: Option<String>,
    /// Line number.
    pub line: u32,
}

/// The paths watched by auditd rules (`-w PATH`, or `-a ... -F path=PATH` / `-F dir=PATH`).
#[must_use]
pub fn parse_audit_rules(text: &str) -> Vec<AuditWatch> {
    let mut out = Vec::new();
    for (line, raw) in lines(text) {
        let words: Vec<&str> = raw.split_whitespace().collect();
        let mut key = None;
        let mut paths = Vec::new();
        let mut i = 0;
        while i < words.len() {
            match words[i] {
                "-w" => {
                    if let Some(p) = words.get(i + 1) {
                        paths.push((*p).to_owned());
                    }
                    i += 1;
                }
                "-k" => {
                    key = words.get(i + 1).map(|k| (*k).to_owned());
                    i += 1;
                }
                "-F" => {
                    if let Some(field) = words.get(i + 1) {
                        if let Some(p) = field
                            .strip_prefix("path=")
                            .or_else(|| field.strip_prefix("dir="))
                        {
                            paths.push(p.to_owned());
                        } else if let Some(k) = field.strip_prefix("key=") {
                            key = Some(k.to_owned());
                        }
                    }
                    i += 1;
                }
                _ => {}
            }
            i += 1;
        }
        for path in paths {
            out.push(AuditWatch {
                path: path.trim_end_matches('/').to_owned(),
                key: key.clone(),
                line,
            });
        }
    }
    out
}

// ---------------------------------------------------------------- firewall

/// One rule of an input chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallRule {
    /// The rule's words, with variables and named sets expanded.
    pub words: Vec<String>,
    /// Line number.
    pub line: u32,
}

/// A base chain hooked on input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InputChain {
    /// `family table chain`.
    pub name: String,
    /// The declared policy (`accept` when not declared).
    pub policy: String,
    /// The rules, in order.
    pub rules: Vec<FirewallRule>,
    /// Line of the chain.
    pub line: u32,
}

/// The input chains of a ruleset and the files it includes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ruleset {
    /// Base chains with `hook input`.
    pub inputs: Vec<InputChain>,
    /// `include` arguments, as written.
    pub includes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
    End,
}

fn nft_tokens(text: &str) -> Vec<(Tok, u32)> {
    let mut out = Vec::new();
    let mut line: u32 = 1;
    let mut chars = text.chars().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<(Tok, u32)>, line: u32| {
        if !word.is_empty() {
            out.push((Tok::Word(std::mem::take(word)), line));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                flush(&mut word, &mut out, line);
                out.push((Tok::End, line));
                line = line.saturating_add(1);
            }
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
                flush(&mut word, &mut out, line);
                line = line.saturating_add(1);
            }
            '#' => {
                flush(&mut word, &mut out, line);
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push((Tok::End, line));
                        line = line.saturating_add(1);
                        break;
                    }
                }
            }
            '"' => {
                for n in chars.by_ref() {
                    if n == '"' {
                        break;
                    }
                    if n == '\n' {
                        line = line.saturating_add(1);
                    }
                    word.push(n);
                }
            }
            ';' => {
                flush(&mut word, &mut out, line);
                out.push((Tok::End, line));
            }
            '{' => {
                flush(&mut word, &mut out, line);
                out.push((Tok::Open, line));
            }
            '}' => {
                flush(&mut word, &mut out, line);
                out.push((Tok::Close, line));
            }
            ',' => flush(&mut word, &mut out, line),
            c if c.is_whitespace() => flush(&mut word, &mut out, line),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out, line);
    out
}

/// A statement: its words (anonymous sets flattened into `{`, elements, `}` words) and an
/// optional structural block.
#[derive(Debug, Default)]
struct Stmt {
    words: Vec<String>,
    block: Option<Vec<Stmt>>,
    line: u32,
}

const MAX_NEST: usize = 64;

fn is_structural(words: &[String]) -> bool {
    let mut w = words
        .iter()
        .map(String::as_str)
        .skip_while(|w| matches!(*w, "add" | "create"));
    matches!(
        w.next(),
        Some("table" | "chain" | "set" | "map" | "flowtable")
    )
}

fn nft_block(toks: &[(Tok, u32)], pos: &mut usize, depth: usize) -> Vec<Stmt> {
    let mut stmts = Vec::new();
    let mut cur = Stmt::default();
    while *pos < toks.len() {
        let (tok, line) = &toks[*pos];
        *pos += 1;
        if cur.words.is_empty() {
            cur.line = *line;
        }
        match tok {
            Tok::Word(w) => cur.words.push(w.clone()),
            Tok::End => {
                if !cur.words.is_empty() {
                    stmts.push(std::mem::take(&mut cur));
                }
            }
            Tok::Close => {
                if !cur.words.is_empty() {
                    stmts.push(std::mem::take(&mut cur));
                }
                return stmts;
            }
            Tok::Open => {
                if is_structural(&cur.words) && depth < MAX_NEST {
                    cur.block = Some(nft_block(toks, pos, depth + 1));
                    stmts.push(std::mem::take(&mut cur));
                } else {
                    // An anonymous set: its elements stay words of the statement.
                    cur.words.push("{".to_owned());
                    let mut nest = 1usize;
                    while *pos < toks.len() && nest > 0 {
                        match &toks[*pos].0 {
                            Tok::Word(w) => cur.words.push(w.clone()),
                            Tok::Open => nest += 1,
                            Tok::Close => nest -= 1,
                            Tok::End => {}
                        }
                        *pos += 1;
                    }
                    cur.words.push("}".to_owned());
                }
            }
        }
    }
    if !cur.words.is_empty() {
        stmts.push(cur);
    }
    stmts
}

/// Parses an nftables ruleset (`nft -f` syntax): tables, chains and rules, in both the block
/// and the `add rule` forms, with `define` variables and named sets expanded.
#[must_use]
pub fn parse_nft(text: &str) -> Ruleset {
    let toks = nft_tokens(text);
    let mut pos = 0;
    let top = nft_block(&toks, &mut pos, 0);
    let mut defines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut sets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut chains: BTreeMap<String, InputChain> = BTreeMap::new();
    let mut hooked: BTreeSet<String> = BTreeSet::new();
    let mut ruleset = Ruleset::default();
    let mut order: Vec<String> = Vec::new();

    let expand = |words: &[String],
                  defines: &BTreeMap<String, Vec<String>>,
                  sets: &BTreeMap<String, Vec<String>>| {
        let mut out = Vec::new();
        for w in words {
            if let Some(var) = w.strip_prefix('$') {
                if let Some(v) = defines.get(var) {
                    out.extend(v.iter().cloned());
                    continue;
                }
            } else if let Some(set) = w.strip_prefix('@')
                && let Some(v) = sets.get(set)
            {
                out.push("{".to_owned());
                out.extend(v.iter().cloned());
                out.push("}".to_owned());
                continue;
            }
            out.push(w.clone());
        }
        out
    };

    // Chain properties and rules inside a chain block.
    let chain_body = |key: &str,
                      line: u32,
                      body: &[Stmt],
                      defines: &BTreeMap<String, Vec<String>>,
                      sets: &BTreeMap<String, Vec<String>>,
                      chains: &mut BTreeMap<String, InputChain>,
                      hooked: &mut BTreeSet<String>,
                      order: &mut Vec<String>| {
        let chain = chains.entry(key.to_owned()).or_insert_with(|| {
            order.push(key.to_owned());
            InputChain {
                name: key.to_owned(),
                policy: "accept".to_owned(),
                rules: Vec::new(),
                line,
            }
        });
        for stmt in body {
            let w = &stmt.words;
            if w.first().map(String::as_str) == Some("type") {
                if let Some(i) = w.iter().position(|x| x == "hook")
                    && w.get(i + 1).map(String::as_str) == Some("input")
                {
                    hooked.insert(key.to_owned());
                }
                if let Some(i) = w.iter().position(|x| x == "policy")
                    && let Some(p) = w.get(i + 1)
                {
                    chain.policy.clone_from(p);
                }
            } else if w.first().map(String::as_str) == Some("policy") {
                if let Some(p) = w.get(1) {
                    chain.policy.clone_from(p);
                }
            } else if !matches!(
                w.first().map(String::as_str),
                Some("comment" | "devices" | "counter" | "priority")
            ) || w.len() > 1
            {
                if w.first().map(String::as_str) == Some("comment") {
                    continue;
                }
                chain.rules.push(FirewallRule {
                    words: expand(w, defines, sets),
                    line: stmt.line,
                });
            }
        }
    };

    let family_and_name = |w: &[String]| -> (String, String) {
        match w {
            [name] => ("ip".to_owned(), name.clone()),
            [family, name, ..] => (family.clone(), name.clone()),
            [] => ("ip".to_owned(), String::new()),
        }
    };

    for stmt in &top {
        let mut w: &[String] = &stmt.words;
        if matches!(
            w.first().map(String::as_str),
            Some("add" | "create" | "insert")
        ) {
            w = &w[1..];
        }
        match w.first().map(String::as_str) {
            Some("define") => {
                if let Some(name) = w.get(1) {
                    let value: Vec<String> =
                        w.iter().skip(2).filter(|x| *x != "=").cloned().collect();
                    let value = expand(&value, &defines, &sets);
                    defines.insert(name.clone(), value);
                }
            }
            Some("include") => {
                if let Some(path) = w.get(1) {
                    ruleset.includes.push(path.clone());
                }
            }
            Some("table") => {
                let (family, table) = family_and_name(&w[1..]);
                let Some(body) = &stmt.block else { continue };
                for inner in body {
                    let iw = &inner.words;
                    match iw.first().map(String::as_str) {
                        Some("set" | "map") => {
                            if let (Some(name), Some(b)) = (iw.get(1), &inner.block) {
                                let mut elems = Vec::new();
                                for s in b {
                                    if s.words.first().map(String::as_str) == Some("elements") {
                                        elems.extend(
                                            s.words
                                                .iter()
                                                .skip(1)
                                                .filter(|x| *x != "=" && *x != "{" && *x != "}")
                                                .cloned(),
                                        );
                                    }
                                }
                                sets.insert(name.clone(), elems);
                            }
                        }
                        Some("chain") => {
                            if let (Some(name), Some(b)) = (iw.get(1), &inner.block) {
                                let key = format!("{family} {table} {name}");
                                chain_body(
                                    &key,
                                    inner.line,
                                    b,
                                    &defines,
                                    &sets,
                                    &mut chains,
                                    &mut hooked,
                                    &mut order,
                                );
                            }
                        }
                        _ => {}
                    }
                }
            }
            Some("chain") => {
                // add chain [family] table name { type ... hook input ...; policy drop; }
                let rest = &w[1..];
                let (family, table, name) = match rest {
                    [t, n] => ("ip".to_owned(), t.clone(), n.clone()),
                    [f, t, n, ..] => (f.clone(), t.clone(), n.clone()),
                    _ => continue,
                };
                let key = format!("{family} {table} {name}");
                let body = stmt.block.as_deref().unwrap_or(&[]);
                chain_body(
                    &key,
                    stmt.line,
                    body,
                    &defines,
                    &sets,
                    &mut chains,
                    &mut hooked,
                    &mut order,
                );
            }
            Some("rule") => {
                // add rule [family] table chain statement...
                let rest = &w[1..];
                let families = ["ip", "ip6", "inet", "arp", "bridge", "netdev"];
                let (key, skip) = match rest {
                    [f, t, c, ..] if families.contains(&f.as_str()) => (format!("{f} {t} {c}"), 3),
                    [t, c, ..] => (format!("ip {t} {c}"), 2),
                    _ => continue,
                };
                if let Some(chain) = chains.get_mut(&key) {
                    chain.rules.push(FirewallRule {
                        words: expand(&rest[skip..], &defines, &sets),
                        line: stmt.line,
                    });
                }
            }
            _ => {}
        }
    }
    for key in order {
        if hooked.contains(&key)
            && let Some(chain) = chains.remove(&key)
        {
            ruleset.inputs.push(chain);
        }
    }
    ruleset
}

/// Parses an `iptables-save` file (as `/etc/iptables/rules-save`): the `INPUT` chain of the
/// `filter` table.
#[must_use]
pub fn parse_iptables_save(text: &str) -> Ruleset {
    let mut chain = InputChain {
        name: "filter INPUT".to_owned(),
        policy: "accept".to_owned(),
        ..InputChain::default()
    };
    let mut table = String::new();
    let mut seen = false;
    for (line, raw) in lines(text) {
        if let Some(t) = raw.strip_prefix('*') {
            t.trim().clone_into(&mut table);
            continue;
        }
        if table != "filter" {
            continue;
        }
        let words: Vec<&str> = raw.split_whitespace().collect();
        match words.as_slice() {
            [":INPUT", policy, ..] => {
                chain.policy = policy.to_ascii_lowercase();
                chain.line = line;
                seen = true;
            }
            ["-A", "INPUT", rest @ ..] => {
                let mut out = Vec::new();
                let mut i = 0;
                while i < rest.len() {
                    let next = rest.get(i + 1).map(|s| (*s).to_owned());
                    match (rest[i], next) {
                        ("-s" | "--source", Some(v)) => {
                            out.extend(["saddr".to_owned(), "{".to_owned()]);
                            out.extend(v.split(',').map(str::to_owned));
                            out.push("}".to_owned());
                            i += 1;
                        }
                        ("--dport" | "--destination-port", Some(v)) => {
                            out.extend(["dport".to_owned(), "{".to_owned()]);
                            out.extend(v.split(',').map(str::to_owned));
                            out.push("}".to_owned());
                            i += 1;
                        }
                        ("--dports", Some(v)) => {
                            out.extend(["dport".to_owned(), "{".to_owned()]);
                            out.extend(v.split(',').map(str::to_owned));
                            out.push("}".to_owned());
                            i += 1;
                        }
                        ("-j", Some(v)) => {
                            out.push(v.to_ascii_lowercase());
                            i += 1;
                        }
                        (other, _) => out.push(other.to_owned()),
                    }
                    i += 1;
                }
                chain.rules.push(FirewallRule { words: out, line });
                seen = true;
            }
            _ => {}
        }
    }
    Ruleset {
        inputs: if seen { vec![chain] } else { Vec::new() },
        includes: Vec::new(),
    }
}

/// The values that follow `keyword` in a rule: one word, or the elements of `{ ... }`.
#[must_use]
pub fn rule_values(words: &[String], keyword: &str) -> Option<Vec<String>> {
    let i = words.iter().position(|w| w == keyword)?;
    let mut i = i + 1;
    // `ip saddr != x` negates: treated as not restricting.
    if words.get(i).map(String::as_str) == Some("!=") {
        return None;
    }
    if words.get(i).map(String::as_str) == Some("==") {
        i += 1;
    }
    match words.get(i).map(String::as_str) {
        Some("{") => Some(
            words[i + 1..]
                .iter()
                .take_while(|w| *w != "}")
                .cloned()
                .collect(),
        ),
        Some(w) => Some(vec![w.to_owned()]),
        None => None,
    }
}

/// The verdict of a rule (`accept`, `drop`, `reject`), when it has one.
#[must_use]
pub fn rule_verdict(words: &[String]) -> Option<&str> {
    words
        .iter()
        .rev()
        .map(|w| w.as_str())
        .find(|w| matches!(*w, "accept" | "drop" | "reject"))
}

/// Whether a rule has no match at all (only counters, logging and a verdict).
#[must_use]
pub fn rule_unconditional(words: &[String]) -> bool {
    let mut i = 0;
    while i < words.len() {
        match words[i].as_str() {
            "counter" | "accept" | "drop" | "reject" => {}
            "log" => {
                if words.get(i + 1).map(String::as_str) == Some("prefix") {
                    i += 2;
                }
            }
            _ => return false,
        }
        i += 1;
    }
    true
}

// ---------------------------------------------------------------- doas / sudo

/// One privilege rule from doas or sudo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegeRule {
    /// The user, or `:group` for a group (doas and sudo's `%group` both become `:group`).
    pub identity: String,
    /// Whether it needs no password (`nopass`, `NOPASSWD:`).
    pub nopass: bool,
    /// The line as written.
    pub text: String,
    /// Line number.
    pub line: u32,
}

/// Parses `doas.conf`: `permit` rules (a `deny` grants nothing).
#[must_use]
pub fn parse_doas(text: &str) -> Vec<PrivilegeRule> {
    let mut out = Vec::new();
    for (line, raw) in lines(text) {
        let raw = raw.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = raw.split_whitespace().collect();
        if words.first() != Some(&"permit") {
            continue;
        }
        let mut nopass = false;
        let mut i = 1;
        while i < words.len() {
            match words[i] {
                "nopass" => nopass = true,
                "nolog" | "persist" | "keepenv" => {}
                "setenv" => {
                    while i < words.len() && !words[i].contains('}') {
                        i += 1;
                    }
                }
                w if w.starts_with("setenv{") => {
                    while i < words.len() && !words[i].contains('}') {
                        i += 1;
                    }
                }
                _ => break,
            }
            i += 1;
        }
        if let Some(identity) = words.get(i) {
            out.push(PrivilegeRule {
                identity: (*identity).to_owned(),
                nopass,
                text: raw.to_owned(),
                line,
            });
        }
    }
    out
}

/// Parses a sudoers file: user specifications (aliases and `Defaults` are skipped).
#[must_use]
pub fn parse_sudoers(text: &str) -> Vec<PrivilegeRule> {
    let mut out = Vec::new();
    for (line, raw) in text.lines().enumerate() {
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') || raw.starts_with('@') {
            continue;
        }
        let first = raw.split_whitespace().next().unwrap_or("");
        if first.starts_with("Defaults") || first.ends_with("_Alias") || !raw.contains('=') {
            continue;
        }
        for identity in first.split(',') {
            let identity = identity
                .strip_prefix('%')
                .map_or_else(|| identity.to_owned(), |group| format!(":{group}"));
            out.push(PrivilegeRule {
                identity,
                nopass: raw.contains("NOPASSWD"),
                text: raw.to_owned(),
                line: u32::try_from(line + 1).unwrap_or(u32::MAX),
            });
        }
    }
    out
}

// ---------------------------------------------------------------- syslog

/// A remote log destination found in a syslog configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The destination as written (host, or the driver call).
    pub target: String,
    /// `tcp`, `udp` or `tls`.
    pub transport: String,
    /// Line number.
    pub line: u32,
}

/// Remote destinations of a syslog-ng configuration that some `log` statement uses.
#[must_use]
pub fn parse_syslog_ng(text: &str) -> Vec<Forward> {
    // Comments removed, line numbers kept by mapping offsets.
    let clean: String = text
        .lines()
        .map(|l| match l.find('#') {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let line_of = |offset: usize| {
        u32::try_from(clean[..offset].matches('\n').count() + 1).unwrap_or(u32::MAX)
    };
    let mut destinations: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut rest = 0;
    while let Some(found) = clean[rest..].find("destination") {
        let start = rest + found;
        rest = start + "destination".len();
        let after = clean[rest..].trim_start();
        // `destination NAME {` defines; `destination(NAME)` uses.
        if let Some(inner) = after.strip_prefix('(') {
            if let Some(end) = inner.find(')') {
                used.insert(inner[..end].trim().to_owned());
            }
            continue;
        }
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
            .collect();
        if name.is_empty() {
            continue;
        }
        let body_start = match clean[rest..].find('{') {
            Some(i) => rest + i + 1,
            None => continue,
        };
        let mut depth = 1usize;
        let mut end = body_start;
        for (i, c) in clean[body_start..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = body_start + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        if end < body_start {
            end = body_start;
        }
        destinations.insert(name, (clean[body_start..end].to_owned(), start));
    }
    let mut out = Vec::new();
    for (name, (body, offset)) in destinations {
        if !used.contains(&name) {
            continue;
        }
        let b = body.trim();
        let driver = ["network", "syslog", "tcp6", "udp6", "tcp", "udp"]
            .into_iter()
            .find(|d| b.starts_with(&format!("{d}(")) || b.starts_with(&format!("{d} (")));
        let Some(driver) = driver else { continue };
        let lower = b.to_ascii_lowercase();
        let transport = if lower.contains("tls") {
            "tls"
        } else if driver.starts_with("udp")
            || lower.contains("transport(\"udp\")")
            || lower.contains("transport(udp)")
            || (driver == "network" && !lower.contains("transport"))
        {
            "udp"
        } else {
            "tcp"
        };
        out.push(Forward {
            target: format!(
                "{name}: {}",
                b.split_whitespace().collect::<Vec<_>>().join(" ")
            ),
            transport: transport.to_owned(),
            line: line_of(offset),
        });
    }
    out
}

/// Remote destinations of an rsyslog configuration (`*.* @@host`, `@host`, `omfwd`).
#[must_use]
pub fn parse_rsyslog(text: &str) -> Vec<Forward> {
    let mut out = Vec::new();
    for (line, raw) in lines(text) {
        let words: Vec<&str> = raw.split_whitespace().collect();
        if let Some(target) = words.iter().find(|w| w.starts_with('@')) {
            let (transport, host) = match target.strip_prefix("@@") {
                Some(h) => ("tcp", h),
                None => ("udp", &target[1..]),
            };
            out.push(Forward {
                target: host.to_owned(),
                transport: transport.to_owned(),
                line,
            });
        } else if raw.contains("omfwd") {
            let lower = raw.to_ascii_lowercase();
            let transport = if lower.contains("streamdriver") || lower.contains("tls") {
                "tls"
            } else if lower.contains("protocol=\"tcp\"") {
                "tcp"
            } else {
                "udp"
            };
            out.push(Forward {
                target: raw.to_owned(),
                transport: transport.to_owned(),
                line,
            });
        }
    }
    out
}

/// The remote host of busybox `syslogd` options (`-R host[:port]`), from the
/// `SYSLOGD_OPTS` of `/etc/conf.d/syslog`.
#[must_use]
pub fn parse_busybox_syslog(text: &str) -> Vec<Forward> {
    let mut out = Vec::new();
    for (line, value) in shell_assignments(text, "SYSLOGD_OPTS") {
        let words: Vec<&str> = value.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let host = if *w == "-R" {
                words.get(i + 1).copied()
            } else {
                w.strip_prefix("-R").filter(|h| !h.is_empty())
            };
            if let Some(host) = host {
                out.push(Forward {
                    target: host.to_owned(),
                    transport: "udp".to_owned(),
                    line,
                });
            }
        }
    }
    out
}

/// The values assigned to `name` in a shell-style `conf.d` file (`NAME="value"`), unquoted.
#[must_use]
pub fn shell_assignments(text: &str, name: &str) -> Vec<(u32, String)> {
    lines(text)
        .filter_map(|(line, raw)| {
            let raw = raw.strip_prefix("export ").unwrap_or(raw);
            let value = raw.strip_prefix(name)?.strip_prefix('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            Some((line, value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::profile::Cidr;

    fn no_include(_: &str) -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn sshd_first_value_wins_and_includes_expand_in_place() {
        let main = "# comment\nInclude /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication yes\n\
                    PermitRootLogin=no\nMatch User alice\n  PasswordAuthentication yes\n";
        let mut include = |arg: &str| {
            assert_eq!(arg, "/etc/ssh/sshd_config.d/*.conf");
            vec![(
                "/etc/ssh/sshd_config.d/10-hardening.conf".to_owned(),
                "passwordauthentication \"no\"\n".to_owned(),
            )]
        };
        let c = parse_sshd(main, "/etc/ssh/sshd_config", &mut include);
        let pw = c.get("passwordauthentication").unwrap();
        assert_eq!(pw.args, ["no"]);
        assert_eq!(pw.file, "/etc/ssh/sshd_config.d/10-hardening.conf");
        assert_eq!(c.get("permitrootlogin").unwrap().args, ["no"]);
        assert_eq!(c.matches.len(), 1);
        assert_eq!(c.matches[0].criteria, "User alice");
        assert_eq!(c.matches[0].directives[0].line, 6);
    }

    #[test]
    fn a_match_block_ends_with_its_included_file() {
        let mut include = |_: &str| {
            vec![(
                "/etc/ssh/sshd_config.d/50-sftp.conf".to_owned(),
                "Match Group sftp\nForceCommand internal-sftp\n".to_owned(),
            )]
        };
        let c = parse_sshd(
            "Include sshd_config.d/*.conf\nPasswordAuthentication no\nMatch User bob\nInclude x\nX11Forwarding no\n",
            "/etc/ssh/sshd_config",
            &mut include,
        );
        // The directive after the first Include is global again.
        assert_eq!(c.get("passwordauthentication").unwrap().line, 2);
        let criteria: Vec<&str> = c.matches.iter().map(|m| m.criteria.as_str()).collect();
        assert_eq!(criteria, ["Group sftp", "Group sftp", "User bob"]);
        // Back in `Match User bob` after the second Include.
        assert_eq!(c.matches[2].directives[0].keyword, "x11forwarding");
    }

    #[test]
    fn sshd_include_depth_is_bounded() {
        // A file is not expanded again inside itself.
        let mut include =
            |_: &str| vec![("/loop".to_owned(), "Include /loop\nPort 1\n".to_owned())];
        let c = parse_sshd("Include /loop\n", "/main", &mut include);
        assert_eq!(c.all("port").count(), 1);
        assert_eq!(c.truncated, None);
        // A chain of distinct files stops at sshd's depth.
        let mut include = |arg: &str| {
            let n: usize = arg.trim_start_matches("/f").parse().unwrap();
            vec![(arg.to_owned(), format!("Include /f{}\nPort {n}\n", n + 1))]
        };
        let c = parse_sshd("Include /f0\n", "/main", &mut include);
        assert_eq!(c.all("port").count(), MAX_INCLUDE_DEPTH);
        let c = parse_sshd("AllowUsers a b\nAllowUsers c", "/main", &mut no_include);
        assert_eq!(c.all("allowusers").count(), 2);
    }

    #[test]
    fn files_including_each_others_directory_do_not_fan_out() {
        // Ten files that each include the whole directory: 10! chains without the bounds.
        let names: Vec<String> = (0..10).map(|i| format!("/etc/ssh/d/{i}.conf")).collect();
        let mut calls = 0usize;
        let mut include = |arg: &str| {
            calls += 1;
            assert_eq!(arg, "/etc/ssh/d/*.conf");
            names
                .iter()
                .map(|n| (n.clone(), "Include /etc/ssh/d/*.conf\nPort 22\n".to_owned()))
                .collect()
        };
        let c = parse_sshd(
            "Include /etc/ssh/d/*.conf\n",
            "/etc/ssh/sshd_config",
            &mut include,
        );
        assert!(calls <= MAX_INCLUDED_FILES + 1, "{calls}");
        assert!(c.all("port").count() < MAX_INCLUDED_FILES);
        let truncated = c.truncated.unwrap();
        assert!(
            truncated.contains("the Include expansion passes 512 files"),
            "{truncated}"
        );
        // Three files (the case of the attack) expand completely: 3 + 6 + 6 files.
        let three: Vec<String> = (0..3).map(|i| format!("/etc/ssh/d/{i}.conf")).collect();
        let mut include = |_: &str| {
            three
                .iter()
                .map(|n| (n.clone(), "Include /etc/ssh/d/*.conf\nPort 22\n".to_owned()))
                .collect()
        };
        let c = parse_sshd(
            "Include /etc/ssh/d/*.conf\n",
            "/etc/ssh/sshd_config",
            &mut include,
        );
        assert_eq!((c.all("port").count(), c.truncated), (15, None));
    }

    #[test]
    fn fstab_and_accounts() {
        let f = parse_fstab("# x\n/dev/sda1 / ext4 ro,noatime 0 1\ntmpfs /tmp tmpfs\n");
        assert_eq!(f[0].file, "/");
        assert_eq!(f[0].options, ["ro", "noatime"]);
        assert_eq!(f[1].options, ["defaults"]);
        let p = parse_passwd(
            "root:x:0:0:root:/root:/bin/sh\nbad\nsshd:x:22:22::/dev/null:/sbin/nologin\n",
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].shell, "/sbin/nologin");
        let s = parse_shadow("root:*::0:::::\nalice:$6$salt$hash:1:::\n");
        assert!(!password_usable(&s[0].hash));
        assert!(password_usable(&s[1].hash));
        let g = parse_group("docker:x:101:alice, bob\nwheel:x:10:\n");
        assert_eq!(g[0].members, ["alice", "bob"]);
        assert!(g[1].members.is_empty());
    }

    #[test]
    fn audit_rules_watches() {
        let r = parse_audit_rules(
            "-w /usr/bin/dockerd -p rwxa -k docker\n-a always,exit -F path=/usr/bin/runc -F perm=x -F key=runc\n-w /etc/docker/ -k docker\n",
        );
        let paths: Vec<&str> = r.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(paths, ["/usr/bin/dockerd", "/usr/bin/runc", "/etc/docker"]);
        assert_eq!(r[1].key.as_deref(), Some("runc"));
    }

    #[test]
    fn nft_block_form() {
        let text = r#"#!/usr/sbin/nft -f
flush ruleset
define trusted = { 10.0.0.0/8, 192.168.1.0/24 }
table inet filter {
    set admins { type ipv4_addr; flags interval; elements = { 172.16.0.0/12 } }
    chain input {
        type filter hook input priority 0; policy drop;
        iif lo accept
        ct state established,related accept
        tcp dport 22 ip saddr $trusted accept
        tcp dport { 80, 443 } ip saddr @admins accept # web
    }
    chain forward { type filter hook forward priority 0; policy drop; }
}
"#;
        let r = parse_nft(text);
        assert_eq!(r.inputs.len(), 1);
        let c = &r.inputs[0];
        assert_eq!(c.name, "inet filter input");
        assert_eq!(c.policy, "drop");
        assert_eq!(c.rules.len(), 4);
        let ssh = &c.rules[2].words;
        assert_eq!(rule_values(ssh, "dport").unwrap(), ["22"]);
        assert_eq!(
            rule_values(ssh, "saddr").unwrap(),
            ["10.0.0.0/8", "192.168.1.0/24"]
        );
        assert_eq!(
            rule_values(&c.rules[3].words, "saddr").unwrap(),
            ["172.16.0.0/12"]
        );
        assert_eq!(rule_verdict(ssh), Some("accept"));
        assert_eq!(c.rules[2].line, 10);
    }

    #[test]
    fn nft_add_form_and_iptables() {
        let r = parse_nft(
            "add table ip filter\nadd chain ip filter input { type filter hook input priority 0 ; }\nadd rule ip filter input tcp dport 22 accept\nadd rule ip filter input drop\n",
        );
        assert_eq!(r.inputs[0].policy, "accept");
        assert_eq!(r.inputs[0].rules.len(), 2);
        assert!(rule_unconditional(&r.inputs[0].rules[1].words));
        let r = parse_iptables_save(
            "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
        );
        assert_eq!(r.inputs[0].policy, "drop");
        let w = &r.inputs[0].rules[0].words;
        assert_eq!(rule_values(w, "saddr").unwrap(), ["10.0.0.0/8"]);
        assert_eq!(rule_values(w, "dport").unwrap(), ["22"]);
        assert_eq!(rule_verdict(w), Some("accept"));
    }

    #[test]
    fn cidr_containment() {
        let c = |s| Cidr::lenient(s).unwrap();
        assert!(c("10.1.2.0/24").within(c("10.0.0.0/8")));
        assert!(c("10.1.2.3").within(c("10.0.0.0/8")));
        assert!(c("10.1.2.3/24").within(c("10.0.0.0/8")));
        assert!(!c("11.0.0.0/24").within(c("10.0.0.0/8")));
        assert!(!c("10.0.0.0/7").within(c("10.0.0.0/8")));
        assert!(c("2001:db8::1").within(c("2001:db8::/32")));
        assert!(!c("2001:db8::1").within(c("10.0.0.0/8")));
        assert!(c("1.2.3.4").within(c("0.0.0.0/0")));
        assert_eq!(Cidr::lenient("10.0.0.0/33"), None);
    }

    #[test]
    fn privilege_rules() {
        let d = parse_doas(
            "permit persist :wheel\npermit nopass setenv { PATH } alice as root cmd apk\ndeny bob\n",
        );
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].identity, ":wheel");
        assert!(!d[0].nopass);
        assert_eq!(d[1].identity, "alice");
        assert!(d[1].nopass);
        let s = parse_sudoers(
            "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n%wheel ALL=(ALL) NOPASSWD: ALL\n@includedir /etc/sudoers.d\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].identity, ":wheel");
        assert!(s[1].nopass);
    }

    #[test]
    fn syslog_forwarding() {
        let ng = r#"
source s_sys { system(); internal(); };
destination d_remote { network("logs.example.net" transport("tls") port(6514)); };
destination d_unused { tcp("10.0.0.1"); };
# destination d_comment { udp("x"); };
log { source(s_sys); destination(d_remote); };
"#;
        let f = parse_syslog_ng(ng);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].transport, "tls");
        assert_eq!(f[0].line, 3);
        let r = parse_rsyslog("*.* @@logs:514\nauth.* @10.0.0.1\n");
        assert_eq!(r[0].transport, "tcp");
        assert_eq!(r[1].transport, "udp");
        let b = parse_busybox_syslog("SYSLOGD_OPTS=\"-t -R 10.0.0.5:514\"\n");
        assert_eq!(b[0].target, "10.0.0.5:514");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC{0,400}") {
            let _ = parse_sshd(&text, "/f", &mut no_include);
            let _ = parse_fstab(&text);
            let _ = parse_passwd(&text);
            let _ = parse_shadow(&text);
            let _ = parse_group(&text);
            let _ = parse_audit_rules(&text);
            let _ = parse_nft(&text);
            let _ = parse_iptables_save(&text);
            let _ = parse_doas(&text);
            let _ = parse_sudoers(&text);
            let _ = parse_syslog_ng(&text);
            let _ = parse_rsyslog(&text);
            let _ = parse_busybox_syslog(&text);
        }

        #[test]
        fn structured_parsers_never_panic(text in "([{};:,=\"#@$ \\n\\t]|[a-z0-9./-]{1,8}){0,120}") {
            let r = parse_nft(&text);
            for chain in &r.inputs {
                for rule in &chain.rules {
                    let _ = rule_values(&rule.words, "saddr");
                    let _ = rule_unconditional(&rule.words);
                }
            }
            let _ = parse_syslog_ng(&text);
            let _ = parse_sshd(&text, "/f", &mut no_include);
            let _ = parse_doas(&text);
        }
    }
}
