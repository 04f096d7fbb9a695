//! `skein explore` and its embedding API, `skein::Explore`: distinct
//! outcomes are found and counted, each with the smallest seed that gives
//! it and a command that replays it; a deterministic program has one
//! outcome; a stuck run is ended by the timeout; the outcome of a seed does
//! not depend on how many jobs run.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::text;
use skein::Explore;

fn root() -> PathBuf {
    common::package_root()
}

fn skein(args: &[&str]) -> Output {
    common::skein_output(args, &[])
}

/// Two outcomes, each replayed from the command the table prints.
#[test]
fn explore_finds_each_outcome_and_its_replay_reproduces_it() {
    let coin = root().join("tests/explore/coin.sk");
    let out = skein(&[
        "explore",
        "--seeds",
        "200",
        "--procs",
        "2",
        coin.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains("200 runs of"), "{table}");
    assert!(table.contains("2 distinct outcomes"), "{table}");
    let replays: Vec<&str> = table
        .lines()
        .filter_map(|l| l.trim().strip_prefix("replay:"))
        .map(str::trim)
        .collect();
    let endings: Vec<&str> = table
        .lines()
        .filter_map(|l| l.split("ending ").nth(1))
        .collect();
    assert_eq!(replays.len(), 2);
    let mut seen = Vec::new();
    for (replay, ending) in replays.iter().zip(&endings) {
        let words: Vec<&str> = replay.split_whitespace().collect();
        assert_eq!(words[0], "skein");
        let again = skein(&words[1..]);
        assert_eq!(again.status.code(), Some(0));
        let stdout = text(&again.stdout);
        assert_eq!(format!("{:?}", stdout.trim_end()), *ending, "{replay}");
        seen.push(stdout);
    }
    assert_ne!(seen[0], seen[1]);
}

/// A program that ends the same way under every seed: one outcome, exit 0.
#[test]
fn a_deterministic_program_has_one_outcome() {
    let churn = root().join("tests/gc/churn.sk");
    let out = skein(&["explore", "--seeds", "12", churn.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("1 distinct outcome\n"));
}

/// A run stuck in a loop is ended after its timeout, as an outcome of its
/// own; a program that does not compile is exit 65.
#[test]
fn a_stuck_run_times_out_and_a_broken_program_does_not_compile() {
    let spin = root().join("tests/explore/spin.sk");
    let out = skein(&[
        "explore",
        "--seeds",
        "2",
        "--timeout",
        "0.3",
        spin.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "both runs time out alike");
    let table = text(&out.stdout);
    assert!(table.contains(skein::explore::TIMED_OUT), "{table}");
    assert!(table.contains("exit status:  70"), "{table}");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("explore");
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.sk");
    std::fs::write(&broken, "print ;\n").unwrap();
    let out = skein(&["explore", "--seeds", "2", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65));
    assert!(text(&out.stderr).contains("Expect expression."));
}

/// The embedding API: the same outcomes and counts whatever the number of
/// jobs (each seed's run is deterministic), and counts that add up.
#[test]
fn the_api_counts_outcomes_independently_of_jobs() {
    let src = std::fs::read_to_string(root().join("tests/explore/coin.sk")).unwrap();
    let one = Explore::new(src.clone())
        .seeds(60)
        .procs(2)
        .jobs(1)
        .run()
        .unwrap();
    let two = Explore::new(src).seeds(60).procs(2).jobs(2).run().unwrap();
    assert_eq!(one.runs, 60);
    assert_eq!(one.outcomes.iter().map(|o| o.count).sum::<u64>(), 60);
    assert_eq!(one.outcomes.len(), 2);
    assert!(!one.is_uniform());
    let key = |o: &skein::Outcome| (o.exit_code, o.stdout_hash, o.count, o.seed);
    let a: Vec<_> = one.outcomes.iter().map(key).collect();
    let b: Vec<_> = two.outcomes.iter().map(key).collect();
    assert_eq!(a, b);
}
