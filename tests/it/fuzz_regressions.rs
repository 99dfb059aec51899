//! Every input a fuzz target once failed on, saved by `fuzz/run.sh` in
//! `fuzz/regressions/TARGET/`, replayed through the same target body (`fuzz/bodies.rs`) in the
//! normal test suite: a crash found by fuzzing stays a failing test until it is fixed.

#[path = "../../fuzz/bodies.rs"]
mod bodies;

use std::path::Path;

#[test]
fn every_saved_fuzz_input_passes_its_target() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let Some((_, body)) = bodies::TARGETS.iter().find(|(t, _)| *t == name) else {
            panic!("`fuzz/regressions/{name}` names no fuzz target");
        };
        let mut inputs: Vec<_> = std::fs::read_dir(entry.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .collect();
        inputs.sort();
        for input in inputs {
            let bytes = std::fs::read(&input).unwrap();
            let outcome = std::panic::catch_unwind(|| body(&bytes));
            assert!(
                outcome.is_ok(),
                "`{}` fails its target again",
                input.display()
            );
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no saved input under `{}`", dir.display());
}

#[test]
fn every_fuzz_target_has_a_body() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .map(|n| n.trim_end_matches(".rs").to_owned())
        .collect();
    targets.sort();
    let bodies: Vec<&str> = bodies::TARGETS.iter().map(|(t, _)| *t).collect();
    assert_eq!(targets, bodies);
}
