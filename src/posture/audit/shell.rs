//! OpenRC's `conf.d` files read as `/bin/sh` sources them: the variables they leave set
//! ([`source`]), and a value split into words as `eval` splits a service's `command_args`
//! ([`words`]).
//!
//! What is understood: assignments (`NAME=value`, several on a line, after `export` or
//! `readonly`), `unset`, single and double quotes, backslash escapes, line continuations,
//! values spanning lines inside quotes, comments, `;`, `&&`, `||`, `|`, `&`, the reserved
//! words of compound commands, and the expansions `$NAME`, `${NAME}`, `${NAME:-word}`,
//! `${NAME-word}`, `${NAME:+word}`, `${NAME+word}`, `${NAME:=word}`, `${NAME=word}`. The last
//! assignment the shell would run wins; one inside a compound command or after `&&`/`||` is
//! marked conditional; function bodies are not run, and an assignment that only prefixes a
//! command does not persist. A command substitution (`$(...)`, backquotes) or an expansion
//! of anything else makes the value uncertain: it is kept with the unknown part left out.
//!
//! Invariant: pure and total: any text in, never a panic; work is linear in the input.

use std::collections::BTreeMap;

/// One variable as the shell leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    /// Its value, with what could not be known left out.
    pub value: String,
    /// The line of the assignment that set it last.
    pub line: u32,
    /// Whether that assignment runs only under a condition (`if`, `case`, `&&`, ...).
    pub conditional: bool,
    /// Whether part of the value could not be known (a command substitution).
    pub uncertain: bool,
}

/// The variables left set after sourcing a file, by name.
pub type Vars = BTreeMap<String, Var>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Text taken as written.
    Lit(String),
    /// An expansion: name, operator (`""`, `:-`, `-`, `:+`, `+`, `:=`, `=`), word.
    Param(String, String, Vec<Part>),
    /// Something whose value cannot be known here.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word {
        parts: Vec<Part>,
        raw: String,
        line: u32,
    },
    /// `;`, newline, `&`.
    Sep,
    /// `&&`, `||`, `|`.
    Cond,
    Open,
    Close,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    line: u32,
    /// How many `${` are open: deeper ones are not evaluated (bounded recursion).
    depth: usize,
}

/// The most nested `${...}` evaluated.
const MAX_NESTING: usize = 32;

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

impl Lexer<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().map(|(_, c)| *c)
    }

    fn next(&mut self) -> Option<char> {
        let c = self.chars.next().map(|(_, c)| c)?;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
        }
        Some(c)
    }

    /// After `$`: an expansion, or a literal `$`.
    fn dollar(&mut self, parts: &mut Vec<Part>, lit: &mut String, raw: &mut String, dq: bool) {
        match self.peek() {
            Some('{') => {
                self.next();
                raw.push('{');
                flush(parts, lit);
                if self.depth >= MAX_NESTING {
                    self.skip_balanced('{', '}', raw);
                    parts.push(Part::Unknown);
                } else {
                    self.depth += 1;
                    let part = self.braced(raw, dq);
                    self.depth -= 1;
                    parts.push(part);
                }
            }
            Some('(') => {
                self.next();
                raw.push('(');
                flush(parts, lit);
                self.skip_balanced('(', ')', raw);
                parts.push(Part::Unknown);
            }
            Some(c) if is_name_start(c) => {
                flush(parts, lit);
                let mut name = String::new();
                while let Some(c) = self.peek().filter(|c| is_name_char(*c)) {
                    self.next();
                    raw.push(c);
                    name.push(c);
                }
                parts.push(Part::Param(name, String::new(), Vec::new()));
            }
            Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                // Positional and special parameters: unknown when a file is sourced.
                self.next();
                raw.push(c);
                flush(parts, lit);
                parts.push(Part::Unknown);
            }
            _ => lit.push('$'),
        }
    }

    /// `${...}` after the brace (`dq`: inside double quotes, where `'` is literal).
    fn braced(&mut self, raw: &mut String, dq: bool) -> Part {
        let mut name = String::new();
        while let Some(c) = self.peek().filter(|c| is_name_char(*c)) {
            self.next();
            raw.push(c);
            name.push(c);
        }
        let mut op = String::new();
        if self.peek() == Some(':') {
            self.next();
            raw.push(':');
            op.push(':');
        }
        match self.peek() {
            Some(c @ ('-' | '+' | '=')) => {
                self.next();
                raw.push(c);
                op.push(c);
            }
            Some('}') if op.is_empty() => {
                self.next();
                raw.push('}');
                return if name.is_empty() {
                    Part::Unknown
                } else {
                    Part::Param(name, op, Vec::new())
                };
            }
            _ => {
                // `${#NAME}`, `${NAME%...}` and the like: not evaluated.
                self.skip_balanced('{', '}', raw);
                return Part::Unknown;
            }
        }
        let word = self.word_until_brace(raw, dq);
        if name.is_empty() {
            Part::Unknown
        } else {
            Part::Param(name, op, word)
        }
    }

    /// The word of `${NAME:-word}`, up to the closing brace.
    fn word_until_brace(&mut self, raw: &mut String, dq: bool) -> Vec<Part> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        while let Some(c) = self.next() {
            raw.push(c);
            match c {
                '}' => break,
                '\\' => {
                    if let Some(n) = self.next() {
                        raw.push(n);
                        if n != '\n' {
                            lit.push(n);
                        }
                    }
                }
                '\'' if !dq => self.single(&mut lit, raw),
                '"' => self.double(&mut parts, &mut lit, raw),
                '$' => self.dollar(&mut parts, &mut lit, raw, dq),
                '`' => {
                    flush(&mut parts, &mut lit);
                    self.skip_backquote(raw);
                    parts.push(Part::Unknown);
                }
                c => lit.push(c),
            }
        }
        flush(&mut parts, &mut lit);
        parts
    }

    fn skip_balanced(&mut self, open: char, close: char, raw: &mut String) {
        let mut depth = 1usize;
        while let Some(c) = self.next() {
            raw.push(c);
            if c == '\\' {
                if let Some(n) = self.next() {
                    raw.push(n);
                }
            } else if c == open {
                depth += 1;
            } else if c == close {
                depth -= 1;
                if depth == 0 {
                    return;
                }
            }
        }
    }

    fn skip_backquote(&mut self, raw: &mut String) {
        while let Some(c) = self.next() {
            raw.push(c);
            if c == '\\' {
                if let Some(n) = self.next() {
                    raw.push(n);
                }
            } else if c == '`' {
                return;
            }
        }
    }

    fn single(&mut self, lit: &mut String, raw: &mut String) {
        while let Some(c) = self.next() {
            raw.push(c);
            if c == '\'' {
                return;
            }
            lit.push(c);
        }
    }

    fn double(&mut self, parts: &mut Vec<Part>, lit: &mut String, raw: &mut String) {
        while let Some(c) = self.next() {
            raw.push(c);
            match c {
                '"' => return,
                '\\' => match self.peek() {
                    Some(n @ ('$' | '`' | '"' | '\\')) => {
                        self.next();
                        raw.push(n);
                        lit.push(n);
                    }
                    Some('\n') => {
                        self.next();
                        raw.push('\n');
                    }
                    _ => lit.push('\\'),
                },
                '$' => self.dollar(parts, lit, raw, true),
                '`' => {
                    flush(parts, lit);
                    self.skip_backquote(raw);
                    parts.push(Part::Unknown);
                }
                c => lit.push(c),
            }
        }
    }

    fn tokens(&mut self) -> Vec<Tok> {
        let mut out = Vec::new();
        loop {
            // Blanks and line continuations between words.
            while let Some(c) = self.peek() {
                if c == ' ' || c == '\t' || c == '\r' {
                    self.next();
                } else if c == '\\' {
                    let mut ahead = self.chars.clone();
                    ahead.next();
                    if ahead.peek().map(|(_, c)| *c) == Some('\n') {
                        self.next();
                        self.next();
                    } else {
                        break;
                    }
                } else {
                    break;
                }
            }
            let Some(c) = self.peek() else { break };
            match c {
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.next();
                    }
                }
                '\n' | ';' => {
                    self.next();
                    // `;;` ends a case item: still a separator.
                    out.push(Tok::Sep);
                }
                '&' | '|' => {
                    self.next();
                    if self.peek() == Some(c) {
                        self.next();
                        out.push(Tok::Cond);
                    } else if c == '&' {
                        out.push(Tok::Sep);
                    } else {
                        out.push(Tok::Cond);
                    }
                }
                '(' => {
                    self.next();
                    out.push(Tok::Open);
                }
                ')' => {
                    self.next();
                    out.push(Tok::Close);
                }
                '<' | '>' => {
                    // A redirection: its operator, then its target word, which is dropped.
                    self.next();
                    while self
                        .peek()
                        .is_some_and(|c| c == '<' || c == '>' || c == '&')
                    {
                        self.next();
                    }
                    let _ = self.word();
                }
                _ => {
                    let word = self.word();
                    out.push(word);
                }
            }
        }
        out
    }

    fn word(&mut self) -> Tok {
        let line = self.line;
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut raw = String::new();
        while let Some(c) = self.peek() {
            if matches!(
                c,
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>'
            ) {
                break;
            }
            self.next();
            raw.push(c);
            match c {
                '\\' => match self.next() {
                    Some('\n') => raw.push('\n'),
                    Some(n) => {
                        raw.push(n);
                        lit.push(n);
                    }
                    None => lit.push('\\'),
                },
                '\'' => self.single(&mut lit, &mut raw),
                '"' => self.double(&mut parts, &mut lit, &mut raw),
                '$' => self.dollar(&mut parts, &mut lit, &mut raw, false),
                '`' => {
                    flush(&mut parts, &mut lit);
                    self.skip_backquote(&mut raw);
                    parts.push(Part::Unknown);
                }
                c => lit.push(c),
            }
        }
        flush(&mut parts, &mut lit);
        Tok::Word { parts, raw, line }
    }
}

fn flush(parts: &mut Vec<Part>, lit: &mut String) {
    if !lit.is_empty() {
        parts.push(Part::Lit(std::mem::take(lit)));
    }
}

fn lex(text: &str, first_line: u32) -> Vec<Tok> {
    Lexer {
        chars: text.char_indices().peekable(),
        line: first_line,
        depth: 0,
    }
    .tokens()
}

/// Expands `parts` against `vars`; returns the text and whether any of it was unknown.
fn expand(parts: &[Part], vars: &mut Vars, line: u32) -> (String, bool) {
    let mut out = String::new();
    let mut uncertain = false;
    for part in parts {
        match part {
            Part::Lit(s) => out.push_str(s),
            Part::Unknown => uncertain = true,
            Part::Param(name, op, word) => {
                let current = vars.get(name).map(|v| (v.value.clone(), v.uncertain));
                let set = current.is_some();
                let null = current.as_ref().is_none_or(|(v, _)| v.is_empty());
                let missing = if op.starts_with(':') { null } else { !set };
                let (value, unsure) = match op.trim_start_matches(':') {
                    "" => current.unwrap_or_default(),
                    "-" if missing => expand(word, vars, line),
                    "+" if missing => (String::new(), false),
                    "+" => expand(word, vars, line),
                    "=" if missing => {
                        let (v, u) = expand(word, vars, line);
                        vars.insert(
                            name.clone(),
                            Var {
                                value: v.clone(),
                                line,
                                conditional: false,
                                uncertain: u,
                            },
                        );
                        (v, u)
                    }
                    _ => current.unwrap_or_default(),
                };
                out.push_str(&value);
                uncertain |= unsure;
            }
        }
    }
    (out, uncertain)
}

/// The assignment a word makes, when it is one: `NAME=value` with `NAME` unquoted.
fn assignment(parts: &[Part], raw: &str) -> Option<(String, Vec<Part>)> {
    let eq = raw.find('=')?;
    let name = &raw[..eq];
    if name.is_empty() || !name.starts_with(is_name_start) || !name.chars().all(is_name_char) {
        return None;
    }
    // The name is plain text at the start of the first literal part.
    let Some(Part::Lit(first)) = parts.first() else {
        return None;
    };
    let rest = first.strip_prefix(name)?.strip_prefix('=')?;
    let mut value = Vec::new();
    if !rest.is_empty() {
        value.push(Part::Lit(rest.to_owned()));
    }
    value.extend(parts[1..].iter().cloned());
    Some((name.to_owned(), value))
}

const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
    "in", "{", "}", "!",
];

/// The variables set after sourcing `text`, starting from `initial` (what the caller's
/// environment provides, as OpenRC's `RC_SVCNAME`).
#[must_use]
pub fn source(text: &str, initial: &Vars) -> Vars {
    let mut vars = initial.clone();
    let tokens = lex(text, 1);
    let mut i = 0;
    // Nesting of compound commands (if/case/while/for/until and subshells/groups), and the
    // depth of a function body being skipped.
    let mut depth: usize = 0;
    let mut cases: usize = 0;
    let mut after_cond = false;
    while i < tokens.len() {
        // One simple command: the words up to a separator.
        let start = i;
        while i < tokens.len() && matches!(tokens[i], Tok::Word { .. }) {
            i += 1;
        }
        let words: Vec<(&[Part], &str, u32)> = tokens[start..i]
            .iter()
            .filter_map(|t| match t {
                Tok::Word { parts, raw, line } => Some((parts.as_slice(), raw.as_str(), *line)),
                _ => None,
            })
            .collect();
        let sep = tokens.get(i).cloned();
        i += 1;
        // A function definition `name() ...`: skip its body.
        if words.len() == 1
            && matches!(sep, Some(Tok::Open))
            && matches!(tokens.get(i), Some(Tok::Close))
        {
            i += 1;
            i = skip_function_body(&tokens, i);
            after_cond = false;
            continue;
        }
        if words.first().is_some_and(|w| w.1 == "function") {
            i = skip_function_body(&tokens, start);
            after_cond = false;
            continue;
        }
        let mut w = 0;
        while w < words.len() && RESERVED.contains(&words[w].1) {
            match words[w].1 {
                "if" | "while" | "until" | "for" | "{" => depth += 1,
                "case" => {
                    depth += 1;
                    cases += 1;
                }
                "esac" => {
                    depth = depth.saturating_sub(1);
                    cases = cases.saturating_sub(1);
                }
                "fi" | "done" | "}" => depth = depth.saturating_sub(1),
                _ => {}
            }
            w += 1;
            // `for NAME in ...` and `case WORD in`: the rest is not a command.
            if matches!(words[w - 1].1, "for" | "case") {
                w = words.len();
            }
        }
        // Inside `case`, a parenthesis closes a pattern; elsewhere it opens or closes a
        // subshell.
        match sep {
            Some(Tok::Open) if cases == 0 => depth += 1,
            Some(Tok::Close) if cases == 0 => depth = depth.saturating_sub(1),
            _ => {}
        }
        let rest = &words[w.min(words.len())..];
        let conditional = depth > 0 || after_cond;
        apply(rest, &mut vars, conditional);
        after_cond = matches!(sep, Some(Tok::Cond));
    }
    vars
}

fn skip_function_body(tokens: &[Tok], mut i: usize) -> usize {
    // Up to the matching `}` (or `)` for a subshell body), counting nesting.
    let mut depth = 0usize;
    let mut started = false;
    while i < tokens.len() {
        match &tokens[i] {
            Tok::Word { raw, .. } if raw == "{" => {
                depth += 1;
                started = true;
            }
            Tok::Word { raw, .. } if raw == "}" => {
                depth = depth.saturating_sub(1);
                if started && depth == 0 {
                    return i + 1;
                }
            }
            Tok::Open => {
                depth += 1;
                started = true;
            }
            Tok::Close => {
                depth = depth.saturating_sub(1);
                if started && depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

fn apply(words: &[(&[Part], &str, u32)], vars: &mut Vars, conditional: bool) {
    let mut k = 0;
    let mut pending = Vec::new();
    while k < words.len() {
        match assignment(words[k].0, words[k].1) {
            Some(a) => pending.push((a, words[k].2)),
            None => break,
        }
        k += 1;
    }
    let command = words.get(k).map(|w| w.1);
    match command {
        // Plain assignments: they persist.
        None => {}
        Some("export" | "readonly") => {
            for (parts, raw, line) in &words[k + 1..] {
                if let Some(a) = assignment(parts, raw) {
                    pending.push((a, *line));
                }
            }
        }
        Some("unset") => {
            for (_, raw, _) in &words[k + 1..] {
                if !conditional {
                    vars.remove(*raw);
                }
            }
            return;
        }
        // Assignments before a command are that command's environment only.
        Some(_) => return,
    }
    for ((name, value), line) in pending {
        let (text, uncertain) = expand(&value, vars, line);
        vars.insert(
            name,
            Var {
                value: text,
                line,
                conditional,
                uncertain,
            },
        );
    }
}

/// A value split into words as OpenRC passes it: expanded unquoted (split on blanks and
/// newlines), the fields joined by spaces, and that line `eval`ed (quotes removed,
/// variables of `vars` expanded); the flag says whether part of it could not be known.
#[must_use]
pub fn words(value: &str, vars: &Vars) -> (Vec<String>, bool) {
    let mut vars = vars.clone();
    let mut out = Vec::new();
    let mut uncertain = false;
    let line = value.split_whitespace().collect::<Vec<_>>().join(" ");
    for tok in lex(&line, 1) {
        if let Tok::Word { parts, .. } = tok {
            let (text, unsure) = expand(&parts, &mut vars, 1);
            uncertain |= unsure;
            out.push(text);
        }
    }
    (out, uncertain)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn get(text: &str, name: &str) -> Option<Var> {
        source(text, &Vars::new()).remove(name)
    }

    fn value(text: &str, name: &str) -> Option<String> {
        get(text, name).map(|v| v.value)
    }

    #[test]
    fn the_last_plain_assignment_wins() {
        let text = "DOCKER_OPTS=\"--icc=false\"\n# DOCKER_OPTS=\"--icc\"\nDOCKER_OPTS='--log-level debug'\n";
        let v = get(text, "DOCKER_OPTS").unwrap();
        assert_eq!(v.value, "--log-level debug");
        assert_eq!(v.line, 3);
        assert!(!v.conditional && !v.uncertain);
    }

    #[test]
    fn appends_quotes_and_continuations_are_read_as_sh_does() {
        let text = r#"DOCKER_OPTS="--icc=false"
DOCKER_OPTS="$DOCKER_OPTS --live-restore"
DOCKER_OPTS="${DOCKER_OPTS} -H tcp://0.0.0.0:2375"
export A=1 B="two words"; C=3
D="multi
line" E=x\
y
"#;
        assert_eq!(
            value(text, "DOCKER_OPTS").unwrap(),
            "--icc=false --live-restore -H tcp://0.0.0.0:2375"
        );
        assert_eq!(value(text, "B").unwrap(), "two words");
        assert_eq!(value(text, "C").unwrap(), "3");
        assert_eq!(value(text, "D").unwrap(), "multi\nline");
        assert_eq!(value(text, "E").unwrap(), "xy");
    }

    #[test]
    fn escapes_and_single_quotes() {
        assert_eq!(value(r#"A="a\"b\$c\\d\x""#, "A").unwrap(), "a\"b$c\\d\\x");
        assert_eq!(value(r"A='$HOME \n'", "A").unwrap(), "$HOME \\n");
        assert_eq!(value(r"A=a\ b", "A").unwrap(), "a b");
        assert_eq!(value("A=x#y # comment", "A").unwrap(), "x#y");
    }

    #[test]
    fn parameter_operators() {
        let text = "X=set\nA=${UNSET:-dflt}\nB=${X:-dflt}\nC=${X:+alt}\nD=${UNSET:+alt}\nE=${NEW:=made}\nN=\nF=${N-keep}\nG=${N:-empty}\n";
        let vars = source(text, &Vars::new());
        let v = |n: &str| vars[n].value.clone();
        assert_eq!(v("A"), "dflt");
        assert_eq!(v("B"), "set");
        assert_eq!(v("C"), "alt");
        assert_eq!(v("D"), "");
        assert_eq!(v("E"), "made");
        assert_eq!(v("NEW"), "made");
        assert_eq!(v("F"), "");
        assert_eq!(v("G"), "empty");
    }

    #[test]
    fn what_does_not_persist_or_is_conditional() {
        // A prefix assignment is the command's environment only.
        assert_eq!(value("A=1 true\n", "A"), None);
        // Function bodies do not run.
        let text = "A=1\nstart_pre() {\n  A=2\n}\nB=3\n";
        assert_eq!(value(text, "A").unwrap(), "1");
        assert_eq!(value(text, "B").unwrap(), "3");
        // Conditional assignments are applied and marked.
        let v = get("A=1\nif [ -e /x ]; then\n  A=2\nfi\n", "A").unwrap();
        assert_eq!((v.value.as_str(), v.conditional), ("2", true));
        let v = get("[ -e /x ] && A=2\n", "A").unwrap();
        assert!(v.conditional);
        let v = get("A=1\nA=2 # after\n", "A").unwrap();
        assert!(!v.conditional);
        assert_eq!(value("A=1\nunset A\n", "A"), None);
        // Unknown parts.
        let v = get("A=\"--x $(cat /f) --y\"\n", "A").unwrap();
        assert_eq!((v.value.as_str(), v.uncertain), ("--x  --y", true));
        // The service's own name comes from OpenRC.
        let initial = Vars::from([(
            "RC_SVCNAME".to_owned(),
            Var {
                value: "docker".to_owned(),
                line: 0,
                conditional: false,
                uncertain: false,
            },
        )]);
        let vars = source("L=/var/log/${RC_SVCNAME}.log\n", &initial);
        assert_eq!(vars["L"].value, "/var/log/docker.log");
    }

    #[test]
    fn words_are_split_as_eval_splits_them() {
        let (w, unsure) = words(
            "--log-opt 'tag=a b' -H \"tcp://0.0.0.0:2375\"  --icc=false\n--x",
            &Vars::new(),
        );
        assert_eq!(
            w,
            [
                "--log-opt",
                "tag=a b",
                "-H",
                "tcp://0.0.0.0:2375",
                "--icc=false",
                "--x"
            ]
        );
        assert!(!unsure);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = format!("A={}x{}\n", "${B:-".repeat(100_000), "}".repeat(100_000));
        let v = get(&text, "A").unwrap();
        assert!(v.uncertain);
        let text = format!("A=\"{}\"\n", "$(".repeat(50_000));
        assert!(get(&text, "A").unwrap().uncertain);
    }

    proptest! {
        #[test]
        fn never_panics(text in "(\\PC|[\"'`$\\\\{}();&|\\n=#])*") {
            let vars = source(&text, &Vars::new());
            for v in vars.values() {
                let _ = words(&v.value, &vars);
            }
        }
    }
}
