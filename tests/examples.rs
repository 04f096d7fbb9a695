//! Snapshot tests of the example programs in `examples/`.
//!
//! Steps: for each `examples/*.sk` (insta's `glob!`), run it through the
//! shared harness ([`common::run_skein`]) with a clean Skein environment and
//! the usual deadline, then snapshot its exit code and stdout (and stderr,
//! only when the program wrote any) as one text. Snapshots live in
//! `tests/snapshots/examples__example@NAME.sk.snap`.
//!
//! A second test runs every example again under `SKEINDEBUG=gcstress=1` (a
//! cycle asked for at every allocation) and requires the very same
//! output: a collector that freed something live would change it.
//!
//! Invariant: every example is deterministic (no clock, random or memory
//! sizes in its output), so a snapshot changes only when behaviour does.
//! Create or refresh snapshots with `INSTA_UPDATE=always cargo test --test
//! examples` and review the diff before committing.

mod common;

#[test]
fn example() {
    insta::glob!("../examples", "*.sk", |path| {
        let args = vec!["run".to_string(), path.to_string_lossy().into_owned()];
        let outcome = common::run_skein(&args, &[], common::TIMEOUT).expect("skein starts");
        assert!(!outcome.timed_out, "{} timed out", path.display());
        let code = outcome
            .code
            .map_or("killed by a signal".to_string(), |c| c.to_string());
        let mut text = format!("exit code: {code}\n--- stdout\n{}", outcome.stdout);
        if !outcome.stderr.is_empty() {
            text.push_str("--- stderr\n");
            text.push_str(&outcome.stderr);
        }
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_snapshot!(text);
        });
    });
}

#[test]
fn examples_print_the_same_under_gcstress() {
    let mut failures = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
        .expect("examples directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sk"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 8,
        "expected the example programs, found {paths:?}"
    );
    for path in paths {
        let args = vec!["run".to_string(), path.to_string_lossy().into_owned()];
        let plain = common::run_skein(&args, &[], common::TIMEOUT).expect("skein starts");
        let env = [("SKEINDEBUG".to_string(), "gcstress=1".to_string())];
        let stressed = common::run_skein(&args, &env, common::TIMEOUT).expect("skein starts");
        if stressed.timed_out
            || (plain.code, &plain.stdout, &plain.stderr)
                != (stressed.code, &stressed.stdout, &stressed.stderr)
        {
            failures.push(path.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "output changed under gcstress: {failures:?}"
    );
}
