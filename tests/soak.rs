//! The mixed soak (`tests/soak/mixed.sk`) under `SKEINDEBUG=gccheckmark=1`
//! at two processors: goroutines exchanging fresh values over channels,
//! growing and shrinking maps and lists, closures, a long-lived linked
//! structure, and steady churn, with every concurrent mark verified by a
//! second mark with the world stopped (a missed object aborts the run).
//!
//! Steps:
//! 1. Copy the program with its `SECONDS` set: 2 by default, or
//!    `SKEIN_SOAK_SECONDS` (the collector's issues ran it for 150 s and
//!    more; `bench/RESULTS.md` has the figures).
//! 2. Run it and check that it exits 0 and prints its summary line, which
//!    does not depend on timing.

mod common;

use std::time::Duration;

#[test]
fn mixed_soak_under_checkmark_at_two_procs() {
    let seconds: u64 = std::env::var("SKEIN_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let src = std::fs::read_to_string(common::package_root().join("tests/soak/mixed.sk"))
        .expect("the soak program");
    assert!(src.contains("var SECONDS = 2;"), "the SECONDS line changed");
    let program = src.replace("var SECONDS = 2;", &format!("var SECONDS = {seconds};"));
    let path = std::env::temp_dir().join(format!("skein-soak-{}.sk", std::process::id()));
    std::fs::write(&path, program).expect("a temporary copy");
    let args = vec![
        "--procs".to_string(),
        "2".to_string(),
        path.display().to_string(),
    ];
    let env = vec![("SKEINDEBUG".to_string(), "gccheckmark=1".to_string())];
    // The run's own length, plus room for a slow machine.
    let limit = Duration::from_secs(seconds * 3 + 30);
    let outcome = common::run_skein(&args, &env, limit).expect("skein starts");
    let _ = std::fs::remove_file(&path);
    assert!(!outcome.timed_out, "the soak did not finish in {limit:?}");
    assert_eq!(outcome.code, Some(0), "stderr: {}", outcome.stderr);
    assert_eq!(outcome.stdout, "ok 1800\n");
}
