//! The CI recipes users copy (`contrib/ci/`): the GitHub Actions workflows pass `actionlint`
//! (which runs shellcheck on their scripts), the GitLab pipeline passes GitLab's CI schema
//! (`check-jsonschema --builtin-schema vendor.gitlab-ci`) and shellcheck, and every basalt
//! command in them, read from the files here, runs against the minimal profile as the
//! recipe writes it, so the recipes cannot drift from the command line.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory as _;
use support::boot::show;
use support::tools::tool;
use yaml_rust2::{Yaml, YamlLoader};

const BIN: &str = env!("CARGO_BIN_EXE_basalt");

fn recipes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/ci")
}

fn github_workflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(recipes().join("github"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "image.yml and outdated.yml: {files:?}");
    files
}

fn gitlab_pipeline() -> PathBuf {
    recipes().join("gitlab-ci.yml")
}

fn load(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap();
    let mut docs =
        YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(docs.len(), 1, "{}", path.display());
    docs.remove(0)
}

/// The shell scripts of a GitHub workflow, in order: each step's `run`.
fn github_scripts(doc: &Yaml) -> Vec<(String, String)> {
    let mut scripts = Vec::new();
    for (job, body) in doc["jobs"].as_hash().expect("jobs") {
        for step in body["steps"].as_vec().expect("steps") {
            if let Some(run) = step["run"].as_str() {
                let name = step["name"].as_str().unwrap_or("(unnamed)");
                scripts.push((format!("{}: {name}", job.as_str().unwrap()), run.to_owned()));
            }
        }
    }
    scripts
}

/// Top-level keys of a GitLab pipeline that are not jobs.
const GITLAB_KEYWORDS: &[&str] = &[
    "default",
    "include",
    "stages",
    "variables",
    "workflow",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
];

/// The shell scripts of a GitLab pipeline, in order: each job's `before_script` (its own or
/// the default one) and `script`, as one script each, as the runner runs them in one shell.
fn gitlab_scripts(doc: &Yaml) -> Vec<(String, String)> {
    let lines = |y: &Yaml| -> Vec<String> {
        match y {
            Yaml::Array(items) => items
                .iter()
                .map(|i| i.as_str().expect("script lines are strings").to_owned())
                .collect(),
            Yaml::String(s) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let default_before = lines(&doc["default"]["before_script"]);
    let mut scripts = Vec::new();
    for (key, job) in doc.as_hash().unwrap() {
        let name = key.as_str().unwrap();
        if GITLAB_KEYWORDS.contains(&name) || name.starts_with('.') {
            continue;
        }
        let mut all = if job["before_script"].is_badvalue() {
            default_before.clone()
        } else {
            lines(&job["before_script"])
        };
        all.extend(lines(&job["script"]));
        assert!(!lines(&job["script"]).is_empty(), "job {name} has a script");
        scripts.push((name.to_owned(), all.join("\n")));
    }
    scripts
}

/// The logical lines of a script: `\`-continued lines joined, comments and blanks dropped.
fn logical_lines(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        let trimmed = line.trim();
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let done = std::mem::take(&mut current);
        if !done.is_empty() && !done.starts_with('#') {
            out.push(done);
        }
    }
    out
}

fn subcommands() -> BTreeSet<String> {
    basalt::cli::Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect()
}

/// Every basalt command of the scripts, in order. Each must start its line: a basalt command
/// anywhere else in a script (`$(basalt …)`, `x && basalt …`) fails the test, so that none
/// escapes being run.
fn basalt_commands(scripts: &[(String, String)]) -> Vec<(String, String)> {
    let subs = subcommands();
    let mut commands = Vec::new();
    for (origin, script) in scripts {
        for line in logical_lines(script) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let invocations = words
                .windows(2)
                .enumerate()
                .filter(|(_, w)| {
                    // `basalt`, `$(basalt`, `x=$(basalt`, `&&basalt`: the program basalt.
                    let invokes = w[0].strip_suffix("basalt").is_some_and(|before| {
                        !before.ends_with(|c: char| {
                            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_')
                        })
                    });
                    invokes && subs.contains(w[1])
                })
                .map(|(i, _)| i)
                .collect::<Vec<_>>();
            match invocations.as_slice() {
                [] => {}
                [0] if words[0] == "basalt" => commands.push((origin.clone(), line.clone())),
                _ => panic!("{origin}: a basalt command must start its line, alone: `{line}`"),
            }
        }
    }
    commands
}

#[test]
fn the_github_workflows_pass_actionlint() {
    let Some(actionlint) = tool("the_github_workflows_pass_actionlint", "actionlint") else {
        return;
    };
    // shellcheck on PATH makes actionlint check every `run:` script with it.
    let shellcheck = tool("the_github_workflows_pass_actionlint", "shellcheck");
    let out = Command::new(&actionlint)
        .arg("-verbose")
        .args(github_workflows())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    if shellcheck.is_some() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("Rule \"shellcheck\" was disabled"),
            "{stderr}"
        );
    }
    // And it does fail a broken workflow (an unknown key and an unquoted variable).
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yml");
    let text = std::fs::read_to_string(&github_workflows()[0])
        .unwrap()
        .replacen("runs-on:", "run-on:", 1);
    std::fs::write(&broken, text).unwrap();
    let out = Command::new(&actionlint).arg(&broken).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[test]
fn the_gitlab_pipeline_passes_gitlabs_schema_and_shellcheck() {
    let test = "the_gitlab_pipeline_passes_gitlabs_schema_and_shellcheck";
    if let Some(check) = tool(test, "check-jsonschema") {
        let out = Command::new(&check)
            .args(["--builtin-schema", "vendor.gitlab-ci"])
            .arg(gitlab_pipeline())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        // A job named like a global keyword is refused.
        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("gitlab-ci.yml");
        let text = std::fs::read_to_string(gitlab_pipeline())
            .unwrap()
            .replace("\nbuild:\n", "\nimage:\n");
        std::fs::write(&broken, text).unwrap();
        let out = Command::new(&check)
            .args(["--builtin-schema", "vendor.gitlab-ci"])
            .arg(&broken)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    }
    if let Some(shellcheck) = tool(test, "shellcheck") {
        let dir = tempfile::tempdir().unwrap();
        for (job, script) in gitlab_scripts(&load(&gitlab_pipeline())) {
            let file = dir.path().join(format!("{job}.sh"));
            std::fs::write(&file, format!("#!/bin/bash\nset -e\n{script}\n")).unwrap();
            let out = Command::new(&shellcheck)
                .args(["--shell=bash", "--severity=style"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(out.status.success(), "job {job}: {}", show(&out));
        }
    }
}

#[test]
fn the_recipes_cover_the_pipeline() {
    // lock --check, build --locked with a key, scan with the secdb, audit to SARIF; the
    // scheduled outdated check and the relock it opens: in both recipes.
    let gh: Vec<(String, String)> = github_workflows()
        .iter()
        .flat_map(|f| basalt_commands(&github_scripts(&load(f))))
        .collect();
    let gl = basalt_commands(&gitlab_scripts(&load(&gitlab_pipeline())));
    for (recipe, commands) in [("github", &gh), ("gitlab", &gl)] {
        let has = |prefix: &str, parts: &[&str]| {
            commands
                .iter()
                .any(|(_, c)| c.starts_with(prefix) && parts.iter().all(|p| c.contains(p)))
        };
        assert!(has("basalt lock --check ", &[]), "{recipe}: {commands:?}");
        assert!(
            has("basalt build ", &["--locked", "--sign-key"]),
            "{recipe}"
        );
        assert!(has("basalt scan ", &["--secdb"]), "{recipe}");
        assert!(has("basalt audit ", &["--format sarif"]), "{recipe}");
        assert!(has("basalt outdated ", &[]), "{recipe}");
        assert!(has("basalt lock \"$PROFILE\"", &[]), "{recipe}");
    }
    // GitHub uploads the SARIF to code scanning, and the scheduled workflow is scheduled.
    let image = std::fs::read_to_string(recipes().join("github/image.yml")).unwrap();
    assert!(image.contains("uses: github/codeql-action/upload-sarif@"));
    let outdated = load(&recipes().join("github/outdated.yml"));
    assert!(!outdated["on"]["schedule"].is_badvalue());
    let gitlab = load(&gitlab_pipeline());
    assert_eq!(
        gitlab["outdated"]["rules"][0]["if"].as_str(),
        Some("$CI_PIPELINE_SOURCE == \"schedule\"")
    );
}

/// The variables a recipe's basalt commands use, and what the test gives them.
struct Workspace {
    dir: tempfile::TempDir,
    env: BTreeMap<&'static str, String>,
    public_key: PathBuf,
}

fn workspace(test: &str) -> Option<Workspace> {
    let data = support::shared_data(test)?;
    let dir = tempfile::tempdir().unwrap();
    // The user's repository: the offline minimal profile (its repository the shared offline
    // copy of Alpine 3.19) and its committed lock.
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let repo = data.join("alpine/repos/v3.19-boot");
    let text = support::built::minimal_profile().replace(
        "urls = [\"https://dl-cdn.alpinelinux.org/alpine/v3.19/main\"]",
        &format!("urls = [\"{}\"]", repo.display()),
    );
    assert!(text.contains(&repo.display().to_string()));
    std::fs::write(profiles.join("minimal.toml"), text).unwrap();
    let out = Command::new(BIN)
        .args(["lock", "profiles/minimal.toml", "--offline"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    // The signing key from the secret store.
    let secrets = tempfile::tempdir_in(dir.path()).unwrap().keep();
    let key = secrets.join("release");
    let out = Command::new(BIN)
        .arg("keygen")
        .arg("--out")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let secdb = data.join("alpine/secdb/v3.19");
    let bin_dir = Path::new(BIN).parent().unwrap();
    let env = BTreeMap::from([
        ("PROFILE", "profiles/minimal.toml".to_owned()),
        ("LOCK", "profiles/minimal.lock".to_owned()),
        ("OUT", "out".to_owned()),
        ("SECDB_MAIN", secdb.join("main.json").display().to_string()),
        (
            "SECDB_COMMUNITY",
            secdb.join("community.json").display().to_string(),
        ),
        (
            "SIGNING_KEY",
            key.with_extension("key").display().to_string(),
        ),
        (
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        ),
        (
            "XDG_CACHE_HOME",
            dir.path().join(".cache").display().to_string(),
        ),
    ]);
    Some(Workspace {
        public_key: key.with_extension("pub"),
        dir,
        env,
    })
}

/// What each subcommand may exit with in the recipes run here: the lock is current and the
/// build works; the checks may say no (1) about the minimal image, but must run.
fn allowed_exits(command: &str) -> &'static [i32] {
    let sub = command.split_whitespace().nth(1).unwrap();
    match sub {
        "lock" | "build" => &[0],
        _ => &[0, 1],
    }
}

fn run_recipe(test: &str, recipe: &str, commands: &[(String, String)]) {
    let Some(ws) = workspace(test) else {
        return;
    };
    for (origin, command) in commands {
        // Every variable the command reads is one the test provides (uppercase: the recipe's
        // own; lowercase ones are the script's locals, like `status`).
        let mut rest = command.as_str();
        while let Some(i) = rest.find('$') {
            rest = &rest[i + 1..];
            let name: String = rest
                .trim_start_matches('{')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
                assert!(
                    ws.env.contains_key(name.as_str()),
                    "{recipe} {origin}: `{command}` reads ${name}, which the test does not set"
                );
            }
        }
        // A recipe that keeps the exit code (`|| status=$?`) has it checked too.
        let out = Command::new("bash")
            .args([
                "-c",
                &format!(
                    "set -u -o pipefail\nstatus=0\n{command}\nrc=$?\necho \"recipe-status=$status\"\nexit $rc"
                ),
            ])
            .current_dir(ws.dir.path())
            .env_clear()
            .envs(&ws.env)
            .output()
            .unwrap();
        let kept = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("recipe-status="))
            .next_back()
            .and_then(|s| s.parse::<i32>().ok());
        let code = match (out.status.code(), kept) {
            (Some(0), Some(kept)) if command.contains("status=$?") => kept,
            (code, _) => code.unwrap_or(-1),
        };
        eprintln!("{recipe} {origin}: exit {code}: {command}");
        assert!(
            allowed_exits(command).contains(&code),
            "{recipe} {origin}: `{command}` exited {code}\n{}",
            show(&out)
        );
    }

    let out = ws.dir.path().join("out");
    let stem = "minimal-1.0.0";
    if commands.iter().any(|(_, c)| c.starts_with("basalt build ")) {
        for ext in ["tar.gz", "manifest", "manifest.minisig", "spdx.json"] {
            assert!(
                out.join(format!("{stem}.{ext}")).is_file(),
                "{recipe}: {ext}"
            );
        }
        // The manifest is signed with the key from the secret store, and the image verifies.
        let verify = Command::new(BIN)
            .arg("verify")
            .arg("--manifest")
            .arg(out.join(format!("{stem}.manifest")))
            .arg("--key")
            .arg(&ws.public_key)
            .arg(out.join(format!("{stem}.tar.gz")))
            .output()
            .unwrap();
        assert_eq!(verify.status.code(), Some(0), "{}", show(&verify));
        // The audit's SARIF is SARIF.
        let sarif: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ws.dir.path().join("audit.sarif")).unwrap())
                .unwrap();
        assert_eq!(sarif["version"], "2.1.0");
        assert_eq!(sarif["runs"][0]["tool"]["driver"]["name"], "basalt");
    }
    if commands
        .iter()
        .any(|(_, c)| c.starts_with("basalt outdated "))
    {
        assert!(ws.dir.path().join("outdated.txt").is_file(), "{recipe}");
    }
}

#[test]
fn every_basalt_command_of_the_github_workflows_runs() {
    let commands: Vec<(String, String)> = github_workflows()
        .iter()
        .flat_map(|f| basalt_commands(&github_scripts(&load(f))))
        .collect();
    assert!(commands.len() >= 6, "{commands:?}");
    run_recipe(
        "every_basalt_command_of_the_github_workflows_runs",
        "github",
        &commands,
    );
}

#[test]
fn every_basalt_command_of_the_gitlab_pipeline_runs() {
    let commands = basalt_commands(&gitlab_scripts(&load(&gitlab_pipeline())));
    assert!(commands.len() >= 6, "{commands:?}");
    run_recipe(
        "every_basalt_command_of_the_gitlab_pipeline_runs",
        "gitlab",
        &commands,
    );
}

#[test]
fn a_command_that_drifts_from_the_command_line_is_caught() {
    // The same extraction and run, on a recipe whose build uses a flag basalt does not have.
    let text = std::fs::read_to_string(gitlab_pipeline())
        .unwrap()
        .replace("--sign-key", "--signing-key");
    let doc = YamlLoader::load_from_str(&text).unwrap().remove(0);
    let commands = basalt_commands(&gitlab_scripts(&doc));
    let build = commands
        .iter()
        .find(|(_, c)| c.starts_with("basalt build "))
        .unwrap();
    let Some(ws) = workspace("a_command_that_drifts_from_the_command_line_is_caught") else {
        return;
    };
    let out = Command::new("bash")
        .args(["-c", &build.1])
        .current_dir(ws.dir.path())
        .env_clear()
        .envs(&ws.env)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(!allowed_exits(&build.1).contains(&2));
    // And a basalt command hidden inside a line is refused outright.
    let hidden = vec![(
        "job".to_owned(),
        "x=$(basalt lock --check \"$PROFILE\")".to_owned(),
    )];
    let refused = std::panic::catch_unwind(|| basalt_commands(&hidden));
    assert!(refused.is_err());
}
