//! `basalt apk version A B` as a user runs it.

use std::process::Command;

fn basalt(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args(args)
        .output()
        .expect("run basalt");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}

#[test]
fn prints_the_comparison_sign() {
    for (a, b, sign) in [
        ("1.2.3-r0", "1.2.3-r1", "<\n"),
        ("1.10", "1.9", ">\n"),
        ("1.0-r0", "1.0-r", "=\n"),
        ("2.0_rc1", "2.0", "<\n"),
        ("2.0_p1", "2.0", ">\n"),
    ] {
        assert_eq!(
            basalt(&["apk", "version", a, b]),
            (0, sign.to_owned(), String::new())
        );
    }
}

#[test]
fn compares_invalid_strings_as_apk_does() {
    assert_eq!(basalt(&["apk", "version", "1.2X", "1.2"]).1, ">\n");
    assert_eq!(basalt(&["apk", "version", "-r1", "1"]).1, "<\n");
}

#[test]
fn a_missing_argument_is_a_usage_error() {
    let (code, stdout, stderr) = basalt(&["apk", "version", "1.2"]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("<B>"), "{stderr}");
}
