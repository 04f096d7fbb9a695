//! Snapshot tests of the example programs in `examples/`.
//!
//! Steps: for each `examples/*.sk` (insta's `glob!`), run it through the
//! shared harness ([`common::run_skein`]) with a clean Skein environment and
//! the usual deadline, then snapshot its exit code and stdout (and stderr,
//! only when the program wrote any) as one text. Snapshots live in
//! `tests/snapshots/examples__example@NAME.sk.snap`.
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
