//! Runs the data-driven corpus in `tests/corpus/` and checks the command
//! line's usage exit codes.
//!
//! Steps of each corpus test:
//! 1. Collect every `tests/corpus/**/*.sk`, sorted.
//! 2. Check each through [`common::check_all`] (two worker threads), once
//!    plainly, once with `SKEINDEBUG=gcstress=1`, which asks for a cycle
//!    at every allocation, and once with `SKEINDEBUG=gccheckmark=1`, which
//!    verifies every concurrent mark; neither may change any observable
//!    output. A fourth test runs the checks at 1 and at 4 Ps (see it), a
//!    fifth under `SKEINDEBUG=gcstress=2` (a full stop-the-world
//!    collection at every allocation safepoint), leaving out the files
//!    that mark themselves `// gcstress2: skip` with the reason.
//! 3. Report every failure together: file, command, and a line diff.
//!
//! Invariant: the corpus passes never overlap (a lock serialises them),
//! so at most [`common::WORKERS`] Skein processes run at once.

mod common;

use std::path::PathBuf;
use std::sync::Mutex;

/// Serialises the corpus passes; the test runner would otherwise run them
/// side by side and double the number of busy cores.
static ONE_PASS_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn corpus() {
    run_corpus(&[]);
}

#[test]
fn corpus_under_gcstress() {
    run_corpus(&[("SKEINDEBUG", "gcstress=1")]);
}

/// Checkmark re-marks the heap with the world stopped after every cycle
/// and stops the program at any object the concurrent mark missed.
#[test]
fn corpus_under_gccheckmark() {
    run_corpus(&[("SKEINDEBUG", "gccheckmark=1")]);
}

/// The collector checks at other processor counts than the machine's (the
/// passes above): gccheckmark at one P (the collector's goroutines
/// serialised with the program's), both checks at four (more Ps than the
/// machine has cores); and Green Tea marking under gccheckmark at two. gcstress at one P is left out: it serialises a
/// cycle per allocation flush with the program, and `memory/large_objects.sk`
/// then needs about a minute, three times the per-file time limit.
#[test]
fn corpus_under_gc_checks_at_1_and_4_procs() {
    for (procs, debug) in [
        ("1", "gccheckmark=1"),
        ("4", "gcstress=1"),
        ("4", "gccheckmark=1"),
        ("2", "greenteagc=1,gccheckmark=1"),
    ] {
        run_corpus(&[("SKEINDEBUG", debug), ("SKEINMAXPROCS", procs)]);
    }
}

/// A full stop-the-world collection at every allocation safepoint, with
/// the concurrent mark verified too. A full collection costs the whole live
/// heap, so a file that allocates hundreds of thousands of objects over a
/// large live heap is quadratic here; such a file says so on a line
/// `// gcstress2: skip (reason)` and is left out of this pass only.
#[test]
fn corpus_under_gcstress_2() {
    let _pass = ONE_PASS_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir: PathBuf = common::package_root().join("tests/corpus");
    let all = common::sk_files(&dir);
    let files: Vec<PathBuf> = all
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap_or_default()
                .contains("// gcstress2: skip")
        })
        .cloned()
        .collect();
    assert!(
        files.len() + 3 >= all.len(),
        "more than three corpus files skip gcstress=2"
    );
    let failures = common::check_all(&files, &[("SKEINDEBUG", "gcstress=2,gccheckmark=1")]);
    assert!(
        failures.is_empty(),
        "{} of {} corpus files failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn unknown_flag_exits_64() {
    let outcome = run(&["run", "--no-such-flag", "tests/corpus/lists/literal.sk"]);
    assert_eq!(outcome.code, Some(64), "stderr: {}", outcome.stderr);
    assert!(
        !outcome.stderr.trim().is_empty(),
        "a usage error must explain itself on stderr"
    );
}

#[test]
fn bad_max_heap_size_exits_64() {
    let outcome = run(&["run", "--max-heap", "lots", "tests/corpus/lists/literal.sk"]);
    assert_eq!(outcome.code, Some(64), "stderr: {}", outcome.stderr);
}

#[test]
fn missing_file_exits_74() {
    let outcome = run(&["run", "tests/corpus/no/such/file.sk"]);
    assert_eq!(outcome.code, Some(74), "stderr: {}", outcome.stderr);
    assert!(
        !outcome.stderr.trim().is_empty(),
        "a missing file must be reported on stderr"
    );
}

#[test]
fn missing_file_without_run_subcommand_exits_74() {
    let outcome = run(&["tests/corpus/no/such/file.sk"]);
    assert_eq!(outcome.code, Some(74), "stderr: {}", outcome.stderr);
}

/// Checks the whole corpus with `extra_env` and fails with every report.
fn run_corpus(extra_env: &[(&str, &str)]) {
    let _pass = ONE_PASS_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir: PathBuf = common::package_root().join("tests/corpus");
    let files = common::sk_files(&dir);
    assert!(!files.is_empty(), "no corpus files under {}", dir.display());
    let failures = common::check_all(&files, extra_env);
    if !failures.is_empty() {
        panic!(
            "{} of {} corpus files failed:\n\n{}",
            failures.len(),
            files.len(),
            failures.join("\n\n")
        );
    }
}

/// Runs the binary with raw arguments (no expectations involved).
fn run(args: &[&str]) -> common::Outcome {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    common::run_skein(&args, &[], common::TIMEOUT).expect("skein starts")
}
