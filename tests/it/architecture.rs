//! The shape of the code, as `src/lib.rs` states it: every module sits in a layer, and a
//! module uses only the layers above it (arrows point down), with two narrower rules, read
//! from the `use crate::…` lines (and any other `crate::` path in code) of every source file:
//!
//! - `build` uses `integrity` only to describe and sign what it built (`archive`, `host`,
//!   `manifest`, `sign`), never the checks (`verify`, `compare`, `rootfs`);
//! - `posture` uses `build` only to read lock files (`lock`);
//!
//! and nothing but `cli` knows about `clap` or `anyhow`, and nothing uses `cli`. Outside `cli`,
//! the library runs a program in two places only ([`RUNS_PROGRAMS`]): the disk's squashfs
//! packer (`tar2sqfs`) and its qcow2 conversion (`qemu-img`).
//!
//! Test modules (`tests.rs`, and whatever follows `#[cfg(test)]` in a file) may use anything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, top to bottom: (layer, the modules in it). A folder module (`build::lock`)
/// is in its folder's layer.
const LAYERS: &[(&str, &[&str])] = &[
    ("vocabulary", &["epoch", "finding", "policy", "tree"]),
    ("formats", &["accounts", "apk"]),
    ("inputs", &["profile", "repo"]),
    ("integrity", &["integrity"]),
    ("build", &["build"]),
    ("posture", &["posture"]),
    ("shell", &["cli"]),
];

/// Folders whose modules may use each other.
const FOLDERS: &[&str] = &[
    "apk",
    "profile",
    "repo",
    "integrity",
    "build",
    "posture",
    "cli",
];

/// (from folder, to folder, the only modules of `to` it may use).
const NARROWED: &[(&str, &str, &[&str])] = &[
    (
        "build",
        "integrity",
        &["archive", "host", "manifest", "sign"],
    ),
    ("posture", "build", &["lock"]),
];

fn layer(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` is in no layer of the table"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code without test modules and comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string literal is rare in our code and never before a path.
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::…` path used in `code`: plain paths, and the paths of grouped `use`
/// statements (`use crate::{apk::index, build::{lock, fetch}};`), as their first two
/// segments.
fn crate_paths(code: &str) -> BTreeSet<(String, Option<String>)> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while let Some(at) = code[i..].find("crate::") {
        let start = i + at + "crate::".len();
        i = start;
        // `$crate::` or a longer identifier ending in `crate` is not our crate.
        let before = &code[..start - "crate::".len()];
        if before.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if bytes.get(start) == Some(&b'{') {
            let end = matching_brace(code, start);
            for item in split_top_level(&code[start + 1..end]) {
                push_path(&mut out, item.trim());
            }
            i = end;
        } else {
            let end = code[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| start + e);
            push_path(&mut out, &code[start..end]);
        }
    }
    out
}

fn push_path(out: &mut BTreeSet<(String, Option<String>)>, path: &str) {
    let mut parts = path
        .split("::")
        .map(|p| p.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_')))
        .filter(|p| !p.is_empty());
    let Some(first) = parts.next() else {
        return;
    };
    if first == "self" {
        return;
    }
    let second = parts
        .next()
        .filter(|p| p.chars().next().is_some_and(char::is_lowercase))
        .map(str::to_owned);
    // `build::{lock, fetch}` inside a group: the braces were split off by the caller.
    if let Some(group) = path.find("::{") {
        let head = &path[..group];
        let end = matching_brace(path, group + 2);
        for item in split_top_level(&path[group + 3..end]) {
            push_path(out, &format!("{head}::{}", item.trim()));
        }
        return;
    }
    out.insert((first.to_owned(), second));
}

fn matching_brace(text: &str, open: usize) -> usize {
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    text.len()
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// The module a source file belongs to: (top-level module, its folder's module if any).
fn module_of(src: &Path, file: &Path) -> Option<(String, Option<String>)> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [only] if only == "lib" || only == "main" => None,
        [top] => Some((top.clone(), None)),
        [top, rest @ ..] => Some((top.clone(), rest.first().filter(|m| *m != "mod").cloned())),
        [] => None,
    }
}

fn violations() -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let Some((from, from_sub)) = module_of(&src, file) else {
            continue;
        };
        let shown = file.strip_prefix(&src).unwrap().display().to_string();
        let text = std::fs::read_to_string(file).unwrap();
        let code = code(&text);
        if from != "cli" {
            for word in ["clap::", "anyhow::", "use clap", "use anyhow"] {
                if code.contains(word) {
                    problems.push(format!("src/{shown} uses `{word}`: only cli may"));
                }
            }
        }
        for (to, to_sub) in crate_paths(&code) {
            if to == from {
                continue;
            }
            let what = format!(
                "src/{shown} ({from}{}) uses crate::{to}{}",
                from_sub
                    .as_deref()
                    .map(|s| format!("::{s}"))
                    .unwrap_or_default(),
                to_sub
                    .as_deref()
                    .map(|s| format!("::{s}"))
                    .unwrap_or_default()
            );
            if to == "cli" {
                problems.push(format!("{what}: nothing uses cli"));
                continue;
            }
            let (lf, lt) = (layer(&from), layer(&to));
            if lt >= lf {
                problems.push(format!(
                    "{what}: layer `{}` may only use the layers above it",
                    LAYERS[lf].0
                ));
                continue;
            }
            for (f, t, only) in NARROWED {
                if from == *f && to == *t && !to_sub.as_deref().is_some_and(|s| only.contains(&s)) {
                    problems.push(format!(
                        "{what}: {f} may use only {t}::{{{}}}",
                        only.join(", ")
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn arrows_point_down() {
    let problems = violations();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The table above is the one `src/lib.rs` states: its module list is in layer order and
/// names every layer.
#[test]
fn lib_rs_states_the_layers() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    let expected: Vec<&str> = LAYERS
        .iter()
        .flat_map(|(_, modules)| modules.iter().copied())
        .collect();
    assert_eq!(
        declared, expected,
        "src/lib.rs declares its modules in layer order"
    );
    for (name, _) in LAYERS {
        assert!(
            lib.contains(name),
            "src/lib.rs does not name the layer `{name}`"
        );
    }
    for folder in FOLDERS {
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src")
                .join(folder)
                .join("mod.rs")
                .is_file(),
            "`{folder}` is a folder with a mod.rs map"
        );
    }
}

/// The library files outside `cli` that may start a program (`std::process::Command`), and
/// which: everything else is pure, or reads and writes through its own code.
/// Sorted by path.
const RUNS_PROGRAMS: &[(&str, &str)] = &[
    (
        "build/disk/mod.rs",
        "qemu-img converts the raw disk to qcow2",
    ),
    ("build/disk/squashfs.rs", "tar2sqfs packs the root"),
];

#[test]
fn only_the_disk_runs_programs() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in &files {
        let shown = file.strip_prefix(&src).unwrap().display().to_string();
        if shown.starts_with("cli/") || file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let code = code(&std::fs::read_to_string(file).unwrap());
        if code.contains("Command::new") || code.contains("process::Command") {
            found.push(shown);
        }
    }
    let allowed: Vec<String> = RUNS_PROGRAMS.iter().map(|(f, _)| (*f).to_owned()).collect();
    assert_eq!(found, allowed, "only these library files may run a program");
}

/// The reader of `use` lines sees what it must: grouped and nested imports, and paths in code.
#[test]
fn the_reader_sees_grouped_and_nested_paths() {
    let code = code(
        "use crate::apk::index;\nuse crate::{build::{lock, fetch}, tree::Node};\n\
         fn f() { crate::integrity::verify::run(); } // crate::cli::x in a comment\n",
    );
    let got: Vec<(String, Option<String>)> = crate_paths(&code).into_iter().collect();
    let want: Vec<(String, Option<String>)> = [
        ("apk", Some("index")),
        ("build", Some("fetch")),
        ("build", Some("lock")),
        ("integrity", Some("verify")),
        ("tree", None),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.map(str::to_owned)))
    .collect();
    assert_eq!(got, want);
}
