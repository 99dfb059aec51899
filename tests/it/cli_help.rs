//! The command line as users meet it: the `--help` transcript of every command and subcommand
//! (`tests/help/`), shell completions that real shells load and use, and manual pages that
//! groff formats without a warning.
//!
//! A changed flag or description changes a transcript, so it shows up in review. After a
//! deliberate change, regenerate the transcripts with
//!
//! ```sh
//! SNAPSHOTS=overwrite cargo test --test cli_help
//! ```

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory as _;

const BIN: &str = env!("CARGO_BIN_EXE_basalt");

fn help_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/help")
}

/// Every command path of the definition: `[]`, `["build"]`, …, `["profile", "check"]`.
fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        out.push(prefix.to_vec());
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_owned());
            walk(sub, &path, out);
        }
    }
    let cmd = basalt::cli::Cli::command().disable_help_subcommand(true);
    let mut out = Vec::new();
    walk(&cmd, &[], &mut out);
    out
}

fn transcript_name(path: &[String]) -> String {
    let mut words = vec!["basalt"];
    words.extend(path.iter().map(String::as_str));
    format!("{}.txt", words.join("-"))
}

#[test]
fn every_subcommand_has_its_help_transcript() {
    let paths = command_paths();
    assert!(paths.len() > 15, "{paths:?}");
    let mut expected_files = BTreeSet::new();
    for path in &paths {
        let name = transcript_name(path);
        expected_files.insert(name.clone());
        let out = Command::new(BIN)
            .args(path)
            .arg("--help")
            // Help wraps at the terminal's width; with no terminal, at $COLUMNS.
            .env("COLUMNS", "100")
            .env_remove("LINES")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "basalt {path:?} --help");
        assert!(out.stderr.is_empty(), "basalt {path:?} --help");
        let actual = String::from_utf8(out.stdout).unwrap();
        let expected = snapbox::Data::read_from(&help_dir().join(&name), None);
        snapbox::Assert::new()
            .action_env(snapbox::assert::DEFAULT_ACTION_ENV)
            .redact_with(snapbox::Redactions::new())
            .eq(actual, expected);
    }
    // No transcript outlives its subcommand.
    let present: BTreeSet<String> = std::fs::read_dir(help_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let stale: Vec<&String> = present.difference(&expected_files).collect();
    assert!(
        stale.is_empty(),
        "transcripts without a subcommand in tests/help: {stale:?}"
    );
}

fn basalt_stdout(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "basalt {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn run_shell(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}\n{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What bash's completion function offers for the words typed so far (the last one is being
/// completed), as bash itself calls it.
fn bash_completes(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        r#"source '{}'
complete -p basalt >/dev/null || exit 3
COMP_WORDS=({})
COMP_CWORD={}
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
_basalt basalt "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script.display(),
        quoted.join(" "),
        words.len() - 1
    );
    run_shell(Path::new("bash"), &["-c", &program])
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("basalt.bash");
    std::fs::write(&script, basalt_stdout(&["completions", "bash"])).unwrap();

    assert_eq!(bash_completes(&script, &["basalt", "ver"]), ["verify"]);
    assert_eq!(
        bash_completes(&script, &["basalt", "verify", "--man"]),
        ["--manifest"]
    );
    let profile = bash_completes(&script, &["basalt", "profile", ""]);
    assert!(
        profile.contains(&"check".to_owned()) && profile.contains(&"render".to_owned()),
        "{profile:?}"
    );
    assert_eq!(
        bash_completes(&script, &["basalt", "verify", "--format", ""]),
        ["human", "json"]
    );
}

#[test]
fn fish_completes_subcommands_with_their_descriptions() {
    let test = "fish_completes_subcommands_with_their_descriptions";
    let Some(fish) = support::tools::tool(test, "fish") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("basalt.fish");
    std::fs::write(&script, basalt_stdout(&["completions", "fish"])).unwrap();
    let source = format!("source '{}'", script.display());
    let complete = |line: &str| {
        run_shell(
            &fish,
            &[
                "--no-config",
                "-c",
                &format!("{source}; complete -C'{line}'"),
            ],
        )
    };
    assert_eq!(
        complete("basalt ver"),
        "verify\tCheck a host or an image against a signed manifest\n"
    );
    let flags = complete("basalt build --sig");
    assert!(flags.starts_with("--sign-key\t"), "{flags}");
    let profile = complete("basalt profile ");
    assert!(
        profile.contains("check\tValidate a profile") && profile.contains("render\t"),
        "{profile}"
    );
}

#[test]
fn zsh_loads_the_completion_function() {
    let test = "zsh_loads_the_completion_function";
    let Some(zsh) = support::tools::tool(test, "zsh") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("_basalt");
    let text = basalt_stdout(&["completions", "zsh"]);
    assert!(text.starts_with("#compdef basalt\n"), "{text}");
    std::fs::write(&script, &text).unwrap();
    // It parses, and on the completion path compinit finds and autoloads `_basalt` for basalt.
    run_shell(&zsh, &["-n", script.to_str().unwrap()]);
    let program = format!(
        "fpath=('{}' $fpath); autoload -Uz compinit; compinit -u -d '{}/zcompdump'; \
         print -r -- $_comps[basalt]; autoload +X _basalt; whence -w _basalt",
        dir.path().display(),
        dir.path().display()
    );
    let out = run_shell(&zsh, &["-f", "-c", &program]);
    assert_eq!(out, "_basalt\n_basalt: function\n");
    for sub in ["build", "verify", "completions", "man"] {
        assert!(text.contains(&format!("'{sub}:")), "{sub}");
    }
}

#[test]
fn manual_pages_cover_every_subcommand_and_format_cleanly() {
    let test = "manual_pages_cover_every_subcommand_and_format_cleanly";
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man");
    let out = Command::new(BIN)
        .arg("man")
        .arg(&out_dir)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let expected: BTreeSet<String> = command_paths()
        .iter()
        .map(|p| transcript_name(p).replace(".txt", ".1"))
        .collect();
    let written: BTreeSet<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(written, expected);

    let page = std::fs::read_to_string(out_dir.join("basalt-profile-check.1")).unwrap();
    assert!(
        page.starts_with(
            ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n.TH basalt-profile-check 1 2023-11-14 \"basalt "
        ),
        "{page}"
    );
    assert!(page.contains("\\fBbasalt profile check\\fR"), "{page}");
    assert!(page.contains("Validate a profile"), "{page}");

    // Reproducible: the same pages again under the same SOURCE_DATE_EPOCH.
    let again = dir.path().join("again");
    let status = Command::new(BIN)
        .arg("man")
        .arg(&again)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .status()
        .unwrap();
    assert!(status.success());
    for name in &expected {
        assert_eq!(
            std::fs::read(out_dir.join(name)).unwrap(),
            std::fs::read(again.join(name)).unwrap(),
            "{name}"
        );
    }

    let pages: Vec<PathBuf> = expected.iter().map(|n| out_dir.join(n)).collect();
    if let Some(mandoc) = support::tools::tool(test, "mandoc") {
        let out = Command::new(mandoc)
            .args(["-T", "lint", "-W", "error"])
            .args(&pages)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "mandoc: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if let Some(groff) = support::tools::tool(test, "groff") {
        for page in &pages {
            let out = Command::new(&groff)
                .args(["-man", "-ww", "-z", "-Tutf8"])
                .arg(page)
                .output()
                .unwrap();
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "groff {}: {}",
                page.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn the_readme_table_lists_every_subcommand() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("\n## Subcommands\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README.md has a `## Subcommands` section");
    // The table is one block: its rows follow each other, with nothing between them.
    let rows: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    let listed: BTreeSet<String> = rows
        .iter()
        .filter_map(|row| row.strip_prefix("| `basalt "))
        .map(|rest| {
            rest.split([' ', '`'])
                .take_while(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let leaves: BTreeSet<String> = command_paths()
        .into_iter()
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let prefix = p.join(" ") + " ";
            !command_paths()
                .iter()
                .any(|q| (q.join(" ") + " ").starts_with(&prefix) && q.len() > p.len())
        })
        .map(|p| p.join(" "))
        .collect();
    assert_eq!(listed, leaves, "README.md's subcommand table");
    // And no row of it is left anywhere else in the README.
    let stray = readme
        .lines()
        .filter(|l| l.starts_with("| `basalt "))
        .count();
    assert_eq!(
        stray,
        rows.iter().filter(|r| r.starts_with("| `basalt ")).count()
    );
}
