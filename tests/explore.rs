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

/// The buggy corpus (`tests/explore/bugs/`): each program and the output
/// or error its bug produces, and the output of its correct schedules.
const BUGS: &[(&str, &str, &str)] = &[
    ("lost_update.sk", "1", "2"),
    (
        "check_then_act.sk",
        "computed 2 time(s), value 42",
        "computed 1 time(s), value 42",
    ),
    ("select_default.sk", "missed", "got hello"),
    (
        "handoff_deadlock.sk",
        "fatal error: all goroutines are asleep - deadlock!",
        "190",
    ),
    ("waitgroup_inside.sk", "0", "6"),
];

fn bug_path(name: &str) -> String {
    root()
        .join("tests/explore/bugs")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

/// The first line a replay printed: its error line when it failed, else
/// its last line of output.
fn ending(out: &Output) -> String {
    let err = text(&out.stderr);
    match err.lines().next() {
        Some(line) if out.status.code() != Some(0) => line.to_string(),
        _ => text(&out.stdout).lines().last().unwrap_or("").to_string(),
    }
}

/// `skein explore --seeds 1000 --procs 2` finds each corpus program's bug
/// and prints a command that replays it.
#[test]
fn explore_finds_every_bug_in_the_corpus_and_replays_it() {
    for (name, bad, _) in BUGS {
        let file = bug_path(name);
        let out = skein(&["explore", "--seeds", "1000", "--procs", "2", &file]);
        let table = text(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{name}: {table}");
        // The outcome whose ending (or error) is the bug's, and its replay.
        let blocks: Vec<&str> = table.split("\noutcome ").skip(1).collect();
        let block = blocks
            .iter()
            .find(|b| {
                b.contains(&format!("ending {bad:?}"))
                    || b.contains(&format!("error:        {bad}"))
            })
            .unwrap_or_else(|| panic!("{name}: no outcome {bad:?} in\n{table}"));
        let replay = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("replay:"))
            .unwrap()
            .trim();
        let words: Vec<&str> = replay.split_whitespace().collect();
        assert_eq!(words[0], "skein");
        let again = skein(&words[1..]);
        assert_eq!(ending(&again), *bad, "{name}: {replay}");
    }
}

/// The corpus's correct programs end one way under every schedule.
#[test]
fn correct_programs_have_one_outcome_under_every_strategy() {
    for name in ["locked_counter.sk", "waitgroup_before.sk", "handoff.sk"] {
        let file = root().join("tests/explore/ok").join(name);
        let out = skein(&[
            "explore",
            "--seeds",
            "1000",
            "--procs",
            "2",
            file.to_str().unwrap(),
        ]);
        let table = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {table}");
        assert!(table.contains("1 distinct outcome\n"), "{table}");
        assert!(table.contains("strategies: random, pct:3:"), "{table}");
    }
}

/// Runs until a strategy first finds the bad outcome, for exploration
/// `e` (seeds from `e * 1000`), or `None` within `limit` runs.
fn runs_to_failure(
    src: &str,
    bad: &str,
    strategy: skein::Strategy,
    e: u64,
    limit: u64,
) -> Option<u64> {
    let found = Explore::new(src)
        .strategy(strategy)
        .first_seed(e * 1000)
        .seeds(limit)
        .procs(2)
        .run()
        .unwrap();
    found
        .outcomes
        .iter()
        .filter(|o| o.stdout_tail == bad || o.stderr == bad)
        .map(|o| o.seed - e * 1000 + 1)
        .min()
}

fn median(mut xs: Vec<u64>) -> u64 {
    xs.sort_unstable();
    xs[xs.len() / 2]
}

/// PCT finds the ordering bugs of two corpus programs (check-then-act and
/// the hand-off deadlock) in fewer runs than
/// uniform random scheduling: the median over 20 explorations of the runs
/// to the first failure (a run that never fails within the limit counts
/// as the limit plus one).
#[test]
fn pct_finds_ordering_bugs_in_fewer_runs_than_random() {
    const LIMIT: u64 = 100;
    for name in ["check_then_act.sk", "handoff_deadlock.sk"] {
        let (_, bad, _) = BUGS.iter().find(|b| b.0 == name).unwrap();
        let src = std::fs::read_to_string(bug_path(name)).unwrap();
        let measure = |s: skein::Strategy| {
            median(
                (0..20)
                    .map(|e| runs_to_failure(&src, bad, s, e, LIMIT).unwrap_or(LIMIT + 1))
                    .collect(),
            )
        };
        let random = measure(skein::Strategy::Random);
        let pct = measure(skein::Strategy::Pct {
            depth: 3,
            steps: skein::explore::PCT_STEPS_MEASURED,
        });
        assert!(pct < random, "{name}: pct {pct} runs, random {random} runs");
    }
}

/// `--shrink` keeps a failing seed's outcome with fewer perturbing
/// decisions, and the token it prints replays to the same outcome.
#[test]
fn shrinking_reduces_each_failing_schedule_and_the_token_replays() {
    for (name, bad, _) in BUGS {
        let file = bug_path(name);
        let src = std::fs::read_to_string(&file).unwrap();
        let found = Explore::new(src.clone())
            .strategy(skein::Strategy::Random)
            .seeds(1000)
            .procs(2)
            .run()
            .unwrap();
        let failing = found
            .outcomes
            .iter()
            .find(|o| o.stdout_tail == *bad || o.stderr == *bad)
            .unwrap_or_else(|| panic!("{name}: random found no failure"));
        let out = skein(&[
            "explore",
            "--shrink",
            &failing.seed.to_string(),
            "--strategy",
            "random",
            &file,
        ]);
        let report = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {report}");
        let counts = report
            .lines()
            .find_map(|l| l.strip_prefix("schedule: "))
            .unwrap();
        // "N decisions, B perturbing; shrunk to A perturbing in R runs"
        let nums: Vec<u64> = counts
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        assert!(nums[2] <= nums[1] && nums[1] > 0, "{name}: {counts}");
        let replay = report
            .lines()
            .find_map(|l| l.strip_prefix("replay:"))
            .unwrap()
            .trim();
        assert!(replay.contains("--sim-schedule"), "{replay}");
        let words: Vec<&str> = replay.split_whitespace().collect();
        let again = skein(&words[1..]);
        assert_eq!(ending(&again), *bad, "{name}: {replay}");
        assert!(report.contains("scheduling events"), "{report}");
    }
}

/// A seed under `random` or `pct` replays byte for byte: the same output
/// and the same text trace.
#[test]
fn strategy_runs_replay_byte_for_byte() {
    let file = root().join("examples/pipeline.sk");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("explore-replay");
    std::fs::create_dir_all(&dir).unwrap();
    for strategy in ["random", "pct:3:5000"] {
        let mut traces = Vec::new();
        for i in 0..2 {
            let path = dir.join(format!("{}-{i}.txt", strategy.replace(':', "_")));
            let out = skein(&[
                "--sim",
                "7",
                "--procs",
                "3",
                "--sim-strategy",
                strategy,
                "--trace",
                path.to_str().unwrap(),
                file.to_str().unwrap(),
            ]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            traces.push((out.stdout, std::fs::read(&path).unwrap()));
        }
        assert!(traces[0] == traces[1], "{strategy}: two runs differ");
        assert!(
            String::from_utf8_lossy(&traces[0].1).contains("GoPreempt"),
            "{strategy}: the schedule preempts"
        );
    }
}
