//! The README as a new user meets it: the set-up's commands, the offline build, and every
//! command of "Your first host", run as written and checked against the output shown.
//!
//! The tests cannot reach Alpine's mirror. The set-up's build is run with `--offline` added
//! and an empty cache, and must fail for that reason alone, naming the mirror's Alpine 3.23
//! index. The walkthrough runs, as its README section says, in a directory whose
//! `profiles/minimal.toml` is the offline profile, with the shared boot repository added to
//! each `basalt build`.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::boot::{is_root, show};
use support::vm::{self, Vm};

const BIN: &str = env!("CARGO_BIN_EXE_basalt");
const README: &str = include_str!("../../README.md");

/// The text of the README's section `## title`, up to the next section.
fn section(title: &str) -> &'static str {
    let head = format!("\n## {title}\n");
    let start = README
        .find(&head)
        .unwrap_or_else(|| panic!("README.md has no section `{title}`"))
        + head.len();
    let rest = &README[start..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

/// The fenced code blocks of `text` whose info string is `lang`, in order.
fn blocks<'a>(text: &'a str, lang: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) if info == lang => current = Some(Vec::new()),
            (None, _) => {}
            (Some(_), Some("")) => out.push(current.take().unwrap()),
            (Some(block), _) => block.push(line),
        }
    }
    assert!(current.is_none(), "an unclosed ```{lang} block");
    out
}

/// Shell lines joined across `\` continuations.
fn joined<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for line in lines {
        if open {
            let last = out.last_mut().unwrap();
            last.push(' ');
            last.push_str(line.trim());
        } else {
            out.push(line.to_owned());
        }
        let last = out.last_mut().unwrap();
        open = last.ends_with('\\');
        if open {
            last.pop();
            let trimmed = last.trim_end().len();
            last.truncate(trimmed);
        }
    }
    out
}

/// One command of a console block and what the README shows of its run.
#[derive(Debug)]
struct Step {
    /// Run as root (`# ` prompt) rather than as a user (`$ `).
    root: bool,
    command: String,
    /// From a trailing `# exit N: why` comment; 0 without one.
    exit: i32,
    /// The output lines shown, `…` standing for what is left out.
    shown: Vec<String>,
}

fn steps(text: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for block in blocks(text, "console") {
        for line in joined(block) {
            let (root, command) = if let Some(c) = line.strip_prefix("$ ") {
                (false, c)
            } else if let Some(c) = line.strip_prefix("# ") {
                (true, c)
            } else {
                steps
                    .last_mut()
                    .expect("output before the first command")
                    .shown
                    .push(line);
                continue;
            };
            let (command, exit) = match command.rsplit_once("   # exit ") {
                Some((c, note)) => {
                    let code = note.split(':').next().unwrap().trim();
                    (c.trim_end(), code.parse().expect("an exit status"))
                }
                None => (command, 0),
            };
            steps.push(Step {
                root,
                command: command.to_owned(),
                exit,
                shown: Vec::new(),
            });
        }
    }
    steps
}

/// `line` as `pattern` shows it: `…` stands for any text.
fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return line == pattern;
    }
    if !line.starts_with(first) || line.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &line[first.len()..];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The first shown line (but blank ones and `…` alone) that is not in `output` after the
/// ones before it, with the line it was looked for after; `None` when all are, in order.
fn missing_line<'a>(step: &'a Step, output: &str) -> Option<(&'a str, usize)> {
    let lines: Vec<&str> = output.lines().map(str::trim_end).collect();
    let mut at = 0;
    for pattern in &step.shown {
        let pattern = pattern.trim_end();
        if pattern.trim().is_empty() || pattern.trim() == "…" {
            continue;
        }
        match lines[at..].iter().position(|l| line_matches(pattern, l)) {
            Some(i) => at += i + 1,
            None => return Some((pattern, at)),
        }
    }
    None
}

/// Every shown line (but blank ones and `…` alone) is in `output`, in order.
fn check_shown(step: &Step, output: &str) {
    if let Some((pattern, at)) = missing_line(step, output) {
        panic!(
            "`{}`: the README shows\n    {pattern}\nwhich is not in the output (after line {at}):\n{output}",
            step.command
        );
    }
}

/// The environment of the walkthrough's shell: the test's basalt first on `PATH`, and a home
/// and cache of its own.
fn user_env(home: &Path) -> Vec<(&'static str, std::ffi::OsString)> {
    let bin_dir = Path::new(BIN).parent().unwrap();
    vec![
        (
            "PATH",
            format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin_dir.display()).into(),
        ),
        ("HOME", home.into()),
        ("XDG_CACHE_HOME", home.join(".cache").into()),
    ]
}

/// Runs `command` with `sh` in `dir` as a user's shell would, stdout and stderr together.
fn sh(command: &str, dir: &Path, home: &Path) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&1\n{command}"))
        .current_dir(dir)
        .env_clear()
        .envs(user_env(home))
        .output()
        .unwrap()
}

/// `NAME=value` alone: a shell variable the later commands use.
fn is_assignment(command: &str) -> bool {
    command.split_once('=').is_some_and(|(name, value)| {
        !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit()
            && !value.contains(char::is_whitespace)
    })
}

/// How long the walkthrough's VM may take to show its lines (sshd under TCG, loaded).
const BOOT: Duration = Duration::from_secs(480);

/// Boots the README's QEMU command (with a free port for its `127.0.0.1:2222`) until the
/// console shows every line the README shows; the VM is killed by its PID on return.
fn boot(test: &str, step: &Step, command: &str, dir: &Path, home: &Path) {
    assert!(
        command.contains("127.0.0.1:2222-:22") && command.contains("restrict=on"),
        "`{}`: the VM reaches nothing but its forwarded SSH port",
        step.command
    );
    let port = vm::free_port();
    let command = command.replace("127.0.0.1:2222-:22", &format!("127.0.0.1:{port}-:22"));
    let env = user_env(home);
    let env: Vec<(&str, &std::ffi::OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let _one = vm::one_vm();
    let vm = Vm::start_shell(test, &command, dir, &env, &dir.join("console.log"), port);
    let start = Instant::now();
    loop {
        let console = vm.console_text();
        let Some((pattern, _)) = missing_line(step, &console) else {
            eprintln!("{test}: every line shown after {:.0?}", start.elapsed());
            return;
        };
        assert!(
            start.elapsed() < BOOT,
            "{test}: the console did not show `{pattern}` within {BOOT:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn set_up_builds_the_default_profile_from_the_mirror_and_runs_the_tests() {
    let blocks = blocks(section("Set-up"), "sh");
    let commands: Vec<String> = joined(blocks[0].iter().copied())
        .iter()
        .map(|l| l.split(" #").next().unwrap().trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(commands.len(), 3, "install, build, test: {commands:?}");
    assert!(
        commands[0].starts_with("cargo install") && commands[0].ends_with("--path ."),
        "{commands:?}"
    );
    assert_eq!(commands[2], "cargo test");
    assert_eq!(commands[1], "basalt build profiles/minimal.toml");
    // `cargo install --path .` installs `basalt`; `ci/build-static` exists for the other way.
    let manifest = include_str!("../../Cargo.toml");
    assert!(
        manifest.contains("[[bin]]\nname = \"basalt\""),
        "{manifest}"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(root.join("ci/build-static").is_file());

    // The build, offline with an empty cache, in the checkout: it reads the default profile
    // and stops at the mirror's index, which only the network has. Nothing is written.
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let run = format!(
        "{} --offline --cache-dir {} --out {}",
        commands[1],
        shell_quote(&tmp.path().join("cache")),
        shell_quote(&out_dir)
    );
    let out = sh(&run, root, tmp.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(
            "`https://dl-cdn.alpinelinux.org/alpine/v3.23/main/x86_64/APKINDEX.tar.gz` is not in the cache"
        ) && text.contains("offline mode is on"),
        "{text}"
    );
    assert!(!out_dir.exists());
}

#[test]
fn offline_build_runs_as_written() {
    let test = "offline_build_runs_as_written";
    let Some(data) = support::shared_data(test) else {
        return;
    };
    let commands: Vec<String> = blocks(section("Offline and air-gapped builds"), "sh")
        .into_iter()
        .flat_map(|b| joined(b.iter().copied()))
        .filter(|c| c.contains("../shared/data"))
        .collect();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert!(
        commands[0].contains(support::OFFLINE_PROFILE),
        "{commands:?}"
    );
    // Run where the checkout's `tests/` is at hand and `../shared/data` is the shared data.
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("basalt");
    fs_err::create_dir_all(&work).unwrap();
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"),
        work.join("tests"),
    )
    .unwrap();
    let command = commands[0].replace("../shared/data", &shell_quote(&data));
    let out = sh(&command, &work, tmp.path());
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(work.join("out/minimal-1.0.0.tar.gz").is_file());
}

/// What the audit of the offline host reports at `high` beyond what the README shows for the
/// default profile's: the 3.19 profile has no firewall, and Alpine 3.19's support has ended.
const OFFLINE_ONLY_HIGH: [&str; 2] = ["firewall-not-enabled", "os-release-unsupported"];

/// The check ids of `high` and `critical` findings in human audit output.
fn high_checks<'a>(lines: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    lines
        .into_iter()
        .filter(|l| l.starts_with("high ") || l.starts_with("critical "))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect()
}

#[test]
fn your_first_host_runs_as_shown() {
    let test = "your_first_host_runs_as_shown";
    let steps = steps(section("Your first host"));
    assert!(steps.len() >= 8, "{steps:#?}");
    if steps.iter().any(|s| s.root) && !is_root() {
        eprintln!("SKIPPED {test}: the walkthrough has commands for root");
        return;
    }
    let Some(data) = support::shared_data(test) else {
        return;
    };
    if !vm::have_tools(test, &["qemu-system-x86_64"]) {
        return;
    }
    let Some(kernel) = vm::test_kernel(test) else {
        return;
    };
    let repo = data.join("alpine/repos/v3.19-boot");
    let tmp = tempfile::tempdir().unwrap();
    // The README's kernel, `~/.cache/basalt-test/kernel/root`, in the walkthrough's home.
    let kernel_root = kernel.vmlinuz.parent().unwrap().parent().unwrap();
    let cache = tmp.path().join(".cache/basalt-test/kernel");
    fs_err::create_dir_all(&cache).unwrap();
    std::os::unix::fs::symlink(kernel_root, cache.join("root")).unwrap();
    let work = tmp.path().join("basalt");
    fs_err::create_dir_all(work.join("profiles")).unwrap();
    fs_err::copy(
        support::offline_profile(),
        work.join("profiles/minimal.toml"),
    )
    .unwrap();
    let offline = format!(" --repository {} --offline", shell_quote(&repo));
    let mut seen = BTreeSet::new();
    let mut variables = String::new();
    for step in &steps {
        assert!(
            step.command.matches("basalt build").count()
                == usize::from(step.command.starts_with("basalt build")),
            "`{}`: keep `basalt build` at the start of its command",
            step.command
        );
        let command = if step.command.starts_with("basalt build") {
            format!("{}{offline}", step.command)
        } else {
            step.command.clone()
        };
        if is_assignment(&command) {
            assert!(step.shown.is_empty() && step.exit == 0, "{step:?}");
            variables.push_str(&command);
            variables.push('\n');
            continue;
        }
        if command.starts_with("qemu-system-") {
            // `sh` execs QEMU, so the walkthrough's variables are not set for it.
            assert!(
                !variables
                    .lines()
                    .filter_map(|v| v.split_once('='))
                    .any(|(name, _)| command.contains(&format!("${name}"))),
                "`{command}`: QEMU's command line uses no variable"
            );
            boot(test, step, &command, &work, tmp.path());
            seen.insert("qemu".to_owned());
            continue;
        }
        let out = sh(&format!("{variables}{command}"), &work, tmp.path());
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(step.exit),
            "`{}`:\n{text}",
            step.command
        );
        check_shown(step, &text);
        if step.command.starts_with("basalt audit") {
            let shown = high_checks(step.shown.iter().map(String::as_str));
            let found = high_checks(text.lines());
            let extra: Vec<&str> = found
                .iter()
                .filter(|c| !shown.contains(*c))
                .map(String::as_str)
                .collect();
            assert_eq!(extra, OFFLINE_ONLY_HIGH, "{text}");
        }
        let verb = step.command.split_whitespace().take(2).collect::<Vec<_>>();
        if verb[0] == "basalt" {
            seen.insert(verb[1].to_owned());
        }
    }
    // The walkthrough's steps, each run above.
    for verb in ["keygen", "build", "qemu", "verify", "audit", "diff"] {
        assert!(seen.contains(verb), "no `{verb}` step: {seen:?}");
    }
    assert!(
        steps
            .iter()
            .any(|s| s.command.starts_with("basalt build") && s.command.contains("--sign-key")),
        "the build signs"
    );
}

#[test]
fn walkthrough_parsing_and_matching() {
    let s = steps(
        "```console\n$ a --x \\\n    --y   # exit 1: why\nout\n…\n# b\n```\n\n```sh\nnot a step\n```\n",
    );
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[0].command.as_str(), s[0].exit, s[0].root),
        ("a --x --y", 1, false)
    );
    assert_eq!(s[0].shown, ["out", "…"]);
    assert_eq!(
        (s[1].command.as_str(), s[1].exit, s[1].root),
        ("b", 0, true)
    );
    assert!(line_matches("key …", "key 54487C5842C0C579"));
    assert!(line_matches("a … c … e", "a b c d e"));
    assert!(line_matches(
        "… failing at `high`: yes",
        "3 finding(s); failing at `high`: yes"
    ));
    assert!(!line_matches("key …", "keys 1"));
    assert!(!line_matches("a…b…a", "ab"));
    assert!(!line_matches("exact", "exactly"));
    let step = Step {
        root: false,
        command: "x".into(),
        exit: 0,
        shown: vec!["one".into(), "…".into(), "th…e".into()],
    };
    check_shown(&step, "one\ntwo\nthree\n");
    let reordered = std::panic::catch_unwind(|| check_shown(&step, "three\none\n"));
    assert!(reordered.is_err());
}
