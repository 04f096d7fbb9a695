//! The event trace as users read it: `skein trace summary` (snapshots of
//! the GC test programs, and its agreement with `gctrace`), the Chrome
//! export checked as a trace-event validator would, the flight recorder,
//! `runtime.trace_snapshot`, conversion round trips (and a closed pipe),
//! `skein trace diff`, and the HTML page rendered by a real headless
//! browser.
//!
//! Each test writes into a scratch directory under Cargo's target tmpdir and
//! runs the built binary.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::text;

const SKEIN: &str = env!("CARGO_BIN_EXE_skein");

/// The deterministic seed of every `--sim` run here (the GC snapshot
/// tests' seed).
const SEED: &str = "1";

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("trace_tool")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn root() -> PathBuf {
    common::package_root()
}

/// Runs the binary with `args`, the Skein environment cleared.
fn skein(args: &[&str]) -> Output {
    common::skein_output(args, &[])
}

fn skein_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    common::skein_output(args, env)
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Runs `program` at 2 Ps under `--sim`, traced into `trace`, with
/// `extra` flags, and returns what it did (it may fail on purpose).
fn sim_traced(trace: &Path, program: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--sim", SEED, "--procs", "2", "--trace", s(trace)];
    args.extend_from_slice(extra);
    args.push(s(program));
    skein(&args)
}

/// Records `program` at `procs` Ps under `--sim` into `dir/NAME` (the
/// form follows the name) and returns the path.
fn record(dir: &Path, program: &Path, procs: &str, name: &str) -> PathBuf {
    let out = dir.join(name);
    ok(&skein(&[
        "--sim",
        SEED,
        "--procs",
        procs,
        "--trace",
        s(&out),
        s(program),
    ]));
    out
}

// ---------------------------------------------------------------------------
// Summary.

/// `skein trace summary` of every program in `tests/gc/` at 1, 2 and 4 Ps,
/// recorded in the binary form: one snapshot each.
#[test]
fn summary_snapshots_of_the_gc_programs() {
    let dir = scratch("summary");
    for program in [
        "churn",
        "dedicated",
        "exchange",
        "forced",
        "gomaxprocs",
        "memstats",
    ] {
        for procs in ["1", "2", "4"] {
            let path = root().join(format!("tests/gc/{program}.sk"));
            let trace = record(&dir, &path, procs, &format!("{program}_{procs}.sktrace"));
            let summary = ok(&skein(&["trace", "summary", s(&trace)]));
            insta::with_settings!({ omit_expression => true }, {
                insta::assert_snapshot!(
                    format!("summary_{program}_p{procs}"),
                    format!("program: tests/gc/{program}.sk --procs {procs} --sim {SEED}\n{summary}")
                );
            });
        }
    }
}

/// The sum of the pauses and the longest pause the summary reports, in
/// nanoseconds, for the "GC (all)" row.
fn summary_gc_pauses(summary: &str) -> (u64, u64, usize) {
    let row = summary
        .lines()
        .find(|l| l.trim_start().starts_with("GC (all)"))
        .expect("a GC pause row");
    let words: Vec<&str> = row.split_whitespace().collect();
    // GC (all) COUNT P50 UNIT P99 UNIT MAX UNIT TOTAL UNIT
    let count: usize = words[2].parse().unwrap();
    let max = parse_dur(words[7], words[8]);
    let total = parse_dur(words[9], words[10]);
    (total, max, count)
}

fn parse_dur(n: &str, unit: &str) -> u64 {
    let v: f64 = n.parse().unwrap();
    let scale = match unit {
        "ns" => 1.0,
        "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        u => panic!("unit {u}"),
    };
    (v * scale).round() as u64
}

/// The MMU the summary reports for a window named `name` (`1 ms`).
fn summary_mmu(summary: &str, name: &str) -> f64 {
    let line = summary
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{name} window:")))
        .expect("an MMU line");
    let value = line.split("window: ").nth(1).unwrap();
    let pct = value.split('%').next().unwrap();
    pct.parse::<f64>().unwrap() / 100.0
}

/// The pauses of the `gctrace` lines: (sum of both pauses of every cycle,
/// longest single phase, cycles), in nanoseconds.
fn gctrace_pauses(stderr: &str) -> (u64, u64, usize) {
    let mut total = 0;
    let mut max = 0;
    let mut cycles = 0;
    for line in stderr.lines().filter(|l| l.starts_with("gc ")) {
        let clock = line
            .split(": ")
            .nth(1)
            .unwrap()
            .split(" ms clock")
            .next()
            .unwrap();
        let parts: Vec<f64> = clock.split('+').map(|x| x.parse().unwrap()).collect();
        let (stw1, stw2) = ((parts[0] * 1e6) as u64, (parts[2] * 1e6) as u64);
        total += stw1 + stw2;
        max = max.max(stw1).max(stw2);
        cycles += 1;
    }
    (total, max, cycles)
}

/// The summary's pauses agree with the `gctrace` lines of the same run
/// (real time: both clocks read around the same stop and start), and its
/// MMU is no better than the longest pause allows.
#[test]
fn summary_agrees_with_gctrace() {
    let dir = scratch("agree");
    let trace = dir.join("t.sktrace");
    let program = root().join("tests/gc/churn.sk");
    let out = skein(&[
        "--procs",
        "2",
        "--gctrace",
        "--trace",
        s(&trace),
        s(&program),
    ]);
    ok(&out);
    let (g_total, g_max, g_cycles) = gctrace_pauses(&text(&out.stderr));
    assert!(g_cycles > 0, "the program collects");
    let summary = ok(&skein(&["trace", "summary", s(&trace)]));
    let (t_total, t_max, t_count) = summary_gc_pauses(&summary);
    assert_eq!(t_count, 2 * g_cycles, "two pauses a cycle\n{summary}");
    assert!(
        summary.contains(&format!("GC cycles: {g_cycles} ")),
        "{summary}"
    );
    // gctrace's pause starts when the coordinator asks to stop the world,
    // a little before the trace's STWStart; both end at the restart. The
    // figures print to the microsecond.
    let slack = 2_000 * g_cycles as u64 + g_total / 5;
    assert!(
        t_total <= g_total + 2_000 * g_cycles as u64 && t_total + slack >= g_total,
        "trace pauses {t_total} ns, gctrace {g_total} ns\n{summary}"
    );
    assert!(t_max <= g_max + 2_000, "longest {t_max} vs {g_max}");
    // No 1 ms window can hold more mutator time than the longest pause
    // leaves.
    let mmu = summary_mmu(&summary, "1 ms");
    let bound = 1.0 - (t_max.min(1_000_000) as f64 / 1e6);
    assert!(mmu <= bound + 0.001, "MMU {mmu} above {bound}\n{summary}");
}

/// Under `--sim`, `gctrace` reads the virtual clock too: the same seed
/// prints the same lines, and the trace's pauses (none take virtual time)
/// match them.
#[test]
fn gctrace_under_sim_is_deterministic_and_names_the_trigger() {
    let program = root().join("tests/gc/forced.sk");
    let args = ["--sim", SEED, "--procs", "2", "--gctrace", s(&program)];
    let a = skein(&args);
    let b = skein(&args);
    ok(&a);
    assert_eq!(text(&a.stderr), text(&b.stderr));
    let lines: Vec<String> = text(&a.stderr).lines().map(String::from).collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(
            l.ends_with(" P (forced)") || l.ends_with(" P (heap)"),
            "{l}"
        );
    }
    assert!(lines.iter().any(|l| l.ends_with("(forced)")));
    let stress = skein_env(
        &[
            "--sim",
            SEED,
            "--gctrace",
            s(&root().join("tests/gc/churn.sk")),
        ],
        &[("SKEINDEBUG", "gcstress=1")],
    );
    assert!(text(&stress.stderr)
        .lines()
        .all(|l| l.ends_with(" P (stress)")));
}

// ---------------------------------------------------------------------------
// The Chrome export.

/// Checks `v` as a trace-event validator would and returns the events:
/// every `B` has its `E` (same name, nested per thread), flows pair up
/// (one `s` and one `f` per id, the `f` bound to its enclosing slice),
/// counters carry numeric values, and every thread used is named.
fn validate_chrome(v: &serde_json::Value) -> Vec<serde_json::Value> {
    let events = v["traceEvents"].as_array().expect("traceEvents").clone();
    let mut names: BTreeSet<u64> = BTreeSet::new();
    let mut used: BTreeSet<u64> = BTreeSet::new();
    let mut stacks: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut flows: HashMap<u64, (usize, usize)> = HashMap::new();
    for e in &events {
        let ph = e["ph"].as_str().expect("ph");
        assert!(e["pid"].is_u64(), "pid: {e}");
        if ph != "M" {
            assert!(e["ts"].is_number(), "ts: {e}");
        }
        match ph {
            "M" => {
                if e["name"] == "thread_name" {
                    assert!(e["args"]["name"].is_string());
                    names.insert(e["tid"].as_u64().unwrap());
                }
            }
            "B" => {
                let tid = e["tid"].as_u64().unwrap();
                used.insert(tid);
                stacks
                    .entry(tid)
                    .or_default()
                    .push(e["name"].as_str().unwrap().to_string());
            }
            "E" => {
                let tid = e["tid"].as_u64().unwrap();
                let top = stacks.get_mut(&tid).and_then(Vec::pop);
                assert_eq!(top.as_deref(), e["name"].as_str(), "E closes its B: {e}");
            }
            "i" => {
                assert_eq!(e["s"], "t");
                used.insert(e["tid"].as_u64().unwrap());
            }
            "C" => {
                let args = e["args"].as_object().expect("counter args");
                assert!(!args.is_empty());
                assert!(args.values().all(|x| x.is_number()), "counter: {e}");
            }
            "s" | "f" => {
                let id = e["id"].as_u64().expect("flow id");
                used.insert(e["tid"].as_u64().unwrap());
                let entry = flows.entry(id).or_default();
                if ph == "s" {
                    entry.0 += 1;
                } else {
                    assert_eq!(e["bp"], "e", "a flow end binds to its slice");
                    entry.1 += 1;
                }
            }
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    for (tid, stack) in stacks {
        assert!(stack.is_empty(), "unclosed slices on {tid}: {stack:?}");
    }
    for (id, (starts, ends)) in flows {
        assert_eq!((starts, ends), (1, 1), "flow {id}");
    }
    for tid in used {
        assert!(names.contains(&tid), "thread {tid} has no name");
    }
    events
}

fn chrome_of(path: &Path) -> serde_json::Value {
    let json = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&json).expect("valid JSON")
}

/// A 2-P channel program exported to Chrome JSON, at real time and under
/// `--sim`: it validates; goroutine slices are named by function; wake-ups
/// are flow arrows; heap, goal, runnable and GC counters are there; and
/// under `--sim` the last timestamp is the virtual clock's last tick at
/// 100 ns a tick.
#[test]
fn chrome_export_validates_and_scales_virtual_time() {
    let dir = scratch("chrome");
    let program = root().join("tests/trace/flight_fail.sk");
    for sim in [false, true] {
        let json = dir.join(format!("t{sim}.json"));
        let mut args = vec![
            "--procs",
            "2",
            "--trace-format",
            "chrome",
            "--trace",
            s(&json),
        ];
        if sim {
            args.extend(["--sim", SEED]);
        }
        args.push(s(&program));
        let out = skein(&args);
        assert_eq!(out.status.code(), Some(70), "{}", text(&out.stderr));
        let v = chrome_of(&json);
        let events = validate_chrome(&v);
        let slice_names: BTreeSet<&str> = events
            .iter()
            .filter(|e| e["ph"] == "B")
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert!(slice_names.contains("G1 script"), "{slice_names:?}");
        assert!(slice_names.contains("G2 echo()"), "{slice_names:?}");
        assert!(slice_names.iter().any(|n| n.starts_with("GC ")));
        assert!(slice_names.contains("mark"));
        let flows = events.iter().filter(|e| e["ph"] == "f").count();
        assert!(flows > 100, "wake-ups are arrows ({flows})");
        assert!(events
            .iter()
            .any(|e| e["ph"] == "s" && e["name"] == "wake (chan_recv)"));
        let counters: BTreeSet<&str> = events
            .iter()
            .filter(|e| e["ph"] == "C")
            .filter_map(|e| e["name"].as_str())
            .collect();
        for c in [
            "heap live",
            "heap goal",
            "runnable goroutines",
            "GC CPU (Ps)",
        ] {
            assert!(counters.contains(c), "counter {c}: {counters:?}");
        }
        let other = &v["otherData"];
        if sim {
            assert_eq!(other["clock"], "virtual");
            assert_eq!(other["ns_per_tick"], 100);
            // The text trace of the same run ends at the same tick.
            let txt = dir.join("t.txt");
            let out = sim_traced(&txt, &program, &[]);
            assert_eq!(out.status.code(), Some(70));
            let last_tick: u64 = std::fs::read_to_string(&txt)
                .unwrap()
                .lines()
                .last()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(other["last_tick"], last_tick);
            let max_ts = events
                .iter()
                .filter_map(|e| e["ts"].as_f64())
                .fold(0.0, f64::max);
            let modelled_us = last_tick as f64 * 100.0 / 1000.0;
            assert!(
                (max_ts - modelled_us).abs() < 0.01,
                "last ts {max_ts} µs, virtual clock {modelled_us} µs"
            );
        } else {
            assert_eq!(other["clock"], "real");
        }
    }
}

// ---------------------------------------------------------------------------
// The flight recorder.

/// A program that allocates through many cycles and then fails: the
/// flight recorder writes a trace that starts at a `GCStart`, holds whole
/// cycles only, and ends exactly where the full trace of the same run
/// ends (at the failure).
#[test]
fn flight_recorder_writes_whole_cycles_ending_at_the_failure() {
    let dir = scratch("flight");
    let program = root().join("tests/trace/flight_fail.sk");
    let full = dir.join("full.txt");
    let out = sim_traced(&full, &program, &[]);
    assert_eq!(out.status.code(), Some(70));
    let flight = dir.join("flight.txt");
    let out = sim_traced(&flight, &program, &["--trace-flight", "16KB"]);
    assert_eq!(out.status.code(), Some(70));
    let err = text(&out.stderr);
    assert!(err.starts_with("Only instances have properties."), "{err}");
    assert!(err.contains("flight recorder's trace is in"), "{err}");
    let full = std::fs::read_to_string(&full).unwrap();
    let kept = std::fs::read_to_string(&flight).unwrap();
    let full_lines: Vec<&str> = full.lines().collect();
    let kept_lines: Vec<&str> = kept.lines().collect();
    assert!(
        kept_lines.len() < full_lines.len() / 2,
        "only the recent part is kept ({} of {})",
        kept_lines.len(),
        full_lines.len()
    );
    assert!(kept_lines[0].contains(" GCStart "), "{}", kept_lines[0]);
    assert!(
        full_lines.ends_with(&kept_lines),
        "the flight trace is the end of the full trace"
    );
    let starts = kept_lines
        .iter()
        .filter(|l| l.contains(" GCStart "))
        .count();
    let dones = kept_lines.iter().filter(|l| l.contains(" GCDone ")).count();
    assert!(starts >= 2, "several cycles are kept ({starts})");
    assert_eq!(starts, dones, "whole cycles only");
    // A run that does not fail writes nothing.
    let quiet = dir.join("quiet.txt");
    let ok_program = root().join("tests/gc/churn.sk");
    ok(&skein(&[
        "--trace",
        s(&quiet),
        "--trace-flight",
        "1MB",
        s(&ok_program),
    ]));
    assert!(!quiet.exists());
}

/// SIGQUIT ends a running program as a failure: the flight recorder
/// writes its trace (whole cycles, up to the quit), the error is
/// `SIGQUIT: quit`, and the status is 131.
#[test]
fn sigquit_writes_the_flight_recording() {
    let dir = scratch("sigquit");
    let program = dir.join("prog.sk");
    std::fs::write(
        &program,
        "var keep = nil;\nvar i = 0;\nwhile (true) {\n  keep = [i, nil];\n  i = i + 1;\n}\n",
    )
    .unwrap();
    let trace = dir.join("quit.sktrace");
    let child = Command::new(SKEIN)
        .args([
            "--procs",
            "2",
            "--trace",
            s(&trace),
            "--trace-flight",
            "256KB",
        ])
        .arg(&program)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn skein");
    // Long enough for many collections of the garbage the loop makes.
    std::thread::sleep(std::time::Duration::from_millis(800));
    let killed = Command::new("kill")
        .args(["-QUIT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(131), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.starts_with("SIGQUIT: quit"), "{err}");
    assert!(err.contains("flight recorder's trace is in"), "{err}");
    let events = ok(&skein(&["trace", "convert", s(&trace), "--to", "text"]));
    let lines: Vec<&str> = events.lines().collect();
    let first = *lines.first().expect("events");
    // How much the ring held by the quit depends on the machine's speed
    // and load (a loaded machine can make one cycle's assists and yields
    // outgrow the ring), so the test checks the rule for each case the
    // reader allows: nothing was dropped and the trace starts with the
    // program; or it starts at a cycle's `GCStart`; or no cycle started in
    // what the ring held, and then none ends in it either.
    let cycles = lines.iter().filter(|l| l.contains(" GCStart ")).count();
    let dones = lines.iter().filter(|l| l.contains(" GCDone ")).count();
    if first.contains(" GoCreate g=1 kind=main") || first.contains(" GCStart ") {
        assert!(
            dones <= cycles,
            "a cycle ends that did not start in the trace"
        );
    } else {
        assert_eq!((cycles, dones), (0, 0), "starts inside a cycle: {first}");
    }
    let summary = ok(&skein(&["trace", "summary", s(&trace)]));
    let counted = summary
        .lines()
        .find_map(|l| l.strip_prefix("GC cycles: "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok());
    assert_eq!(counted, Some(cycles), "{summary}");
}

/// `runtime.trace_snapshot(path)` writes what the flight recorder holds
/// (in the form the name asks for) and the program goes on; without the
/// flight recorder it is a runtime error.
#[test]
fn trace_snapshot_writes_the_flight_recording() {
    let dir = scratch("snapshot");
    let snap = dir.join("snap.sktrace");
    let program = dir.join("prog.sk");
    std::fs::write(
        &program,
        format!(
            "var keep = nil;\nfor (var i = 0; i < 30000; i = i + 1) keep = [i, keep];\nruntime.gc();\nruntime.trace_snapshot(\"{}\");\nprint \"after\";\n",
            s(&snap)
        ),
    )
    .unwrap();
    let out = skein(&[
        "--sim",
        SEED,
        "--trace",
        s(&dir.join("unused.txt")),
        "--trace-flight",
        "4MB",
        s(&program),
    ]);
    assert_eq!(ok(&out), "after\n");
    let summary = ok(&skein(&["trace", "summary", s(&snap)]));
    assert!(summary.contains("GC cycles: "), "{summary}");
    assert!(!summary.contains("GC cycles: 0"), "{summary}");
    let plain = skein(&["--sim", SEED, s(&program)]);
    assert_eq!(plain.status.code(), Some(70));
    assert!(
        text(&plain.stderr).contains("trace_snapshot() needs the flight recorder"),
        "{}",
        text(&plain.stderr)
    );
}

// ---------------------------------------------------------------------------
// Conversion and diff.

/// The binary form converts to exactly the text form the run writes
/// directly, and text converts to binary and back unchanged.
/// A real-clock trace of channel hand-offs at 1 and 2 Ps: each P's events
/// are in time order, the merged text is sorted, every `GoStart` comes no
/// earlier than the `GoUnpark` that readied the goroutine, and direct
/// hand-offs (the next goroutine taken from the P's own queue) start at
/// the very tick of the park before them, reading no clock.
#[test]
fn real_clock_trace_keeps_order_and_causality() {
    let dir = scratch("real_clock");
    let program = dir.join("pingpong.sk");
    std::fs::write(
        &program,
        "fun echo(ping, pong) { for (var v in ping) pong <- v + 1; }\n\
         var ping = chan(); var pong = chan(); go echo(ping, pong);\n\
         var sum = 0;\n\
         for (var i = 0; i < 20000; i = i + 1) { ping <- i; sum = sum + <-pong; }\n\
         close(ping); print sum;\n",
    )
    .unwrap();
    for procs in ["1", "2"] {
        let trace = dir.join(format!("p{procs}.sktrace"));
        let out = ok(&skein(&[
            "--procs",
            procs,
            "--trace",
            s(&trace),
            s(&program),
        ]));
        assert_eq!(out.trim(), "200010000");
        let txt = ok(&skein(&["trace", "convert", s(&trace), "--to", "text"]));
        let mut last_on_p: BTreeMap<String, (u64, String)> = BTreeMap::new();
        let mut readied: BTreeMap<String, u64> = BTreeMap::new();
        let (mut prev, mut starts, mut direct) = (0u64, 0, 0);
        for line in txt.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (tick, p, g, ev) = (f[0].parse::<u64>().unwrap(), f[1], f[2], f[3]);
            assert!(tick >= prev, "merged order: {line}");
            prev = tick;
            if let Some((t, _)) = last_on_p.get(p) {
                assert!(tick >= *t, "P order: {line}");
            }
            if ev == "GoUnpark" {
                let target = f[4].strip_prefix("g=").expect("g= first");
                readied.insert(format!("G{target}"), tick);
            }
            if ev == "GoStart" {
                starts += 1;
                if let Some(t) = readied.remove(g) {
                    assert!(tick >= t, "{g} started before it was readied: {line}");
                }
                if let Some((t, e)) = last_on_p.get(p) {
                    if e == "GoPark" && *t == tick {
                        direct += 1;
                    }
                }
            }
            last_on_p.insert(p.to_string(), (tick, ev.to_string()));
        }
        assert!(starts > 40000, "{starts} starts at {procs} P");
        assert!(
            direct * 2 > starts,
            "{direct} of {starts} starts at {procs} P shared the park's tick"
        );
    }
}

/// A real-clock trace: a goroutine that wakes its partner on a channel
/// and then waits on one with no loop in between records its `GoPark` at
/// the tick of its `GoUnpark`, reading the clock once; one that runs a
/// loop in between reads the clock again, so its run does not appear to
/// end before the loop. (In steady state main's receive takes the echo's
/// blocked send, waking it, and main's next send parks.)
#[test]
fn a_park_shares_the_tick_of_an_unpark_just_before_it() {
    let dir = scratch("park_tick");
    // (program, whether main's parks share the tick of its unparks)
    let cases = [
        ("sum = sum + <-pong;", true),
        (
            "sum = sum + <-pong; var x = 0; for (var k = 0; k < 300; k = k + 1) x = x + k; sum = sum + x - 44850;",
            false,
        ),
    ];
    for (i, (body, shares)) in cases.into_iter().enumerate() {
        let program = dir.join(format!("p{i}.sk"));
        std::fs::write(
            &program,
            format!(
                "fun echo(ping, pong) {{ for (var v in ping) pong <- v + 1; }}\n\
                 var ping = chan(); var pong = chan(); go echo(ping, pong);\n\
                 var sum = 0;\n\
                 for (var i = 0; i < 5000; i = i + 1) {{ ping <- i; {body} }}\n\
                 close(ping); print sum;\n"
            ),
        )
        .unwrap();
        let trace = dir.join(format!("p{i}.sktrace"));
        let out = ok(&skein(&["--procs", "1", "--trace", s(&trace), s(&program)]));
        assert_eq!(out.trim(), "12502500");
        let txt = ok(&skein(&["trace", "convert", s(&trace), "--to", "text"]));
        // Main's parks right after an unpark of its own, and how many of
        // them were stamped at the unpark's tick.
        let (mut pairs, mut shared) = (0, 0);
        let mut last: Option<(u64, String, String)> = None;
        for line in txt.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (tick, g, ev) = (f[0].parse::<u64>().unwrap(), f[2], f[3]);
            if let Some((t, lg, le)) = &last {
                if g == "G1" && ev == "GoPark" && lg == "G1" && le == "GoUnpark" {
                    pairs += 1;
                    shared += usize::from(*t == tick);
                }
            }
            last = Some((tick, g.to_string(), ev.to_string()));
        }
        assert!(pairs > 4000, "case {i}: {pairs} unpark-park pairs");
        if shares {
            assert_eq!(shared, pairs, "case {i}: every park shares the tick");
        } else {
            assert_eq!(shared, 0, "case {i}: no park after a loop shares the tick");
        }
    }
}

#[test]
fn conversions_round_trip() {
    let dir = scratch("convert");
    let program = root().join("tests/gc/exchange.sk");
    let bin = record(&dir, &program, "2", "t.sktrace");
    let txt = record(&dir, &program, "2", "t.txt");
    let direct = std::fs::read_to_string(&txt).unwrap();
    let converted = ok(&skein(&["trace", "convert", s(&bin), "--to", "text"]));
    assert_eq!(converted, direct);
    let back = dir.join("back.sktrace");
    ok(&skein(&[
        "trace",
        "convert",
        s(&txt),
        "--to",
        "binary",
        "-o",
        s(&back),
    ]));
    let again = ok(&skein(&["trace", "convert", s(&back), "--to", "text"]));
    assert_eq!(again, direct);
    // A window: under --sim a tick is 100 ns, so 1ms..2ms is ticks
    // 10,000..20,000.
    let window = ok(&skein(&[
        "trace",
        "convert",
        s(&bin),
        "--to",
        "text",
        "--from",
        "1ms",
        "--until",
        "2ms",
    ]));
    let expected: String = direct
        .lines()
        .filter(|l| {
            let tick: u64 = l.split(' ').next().unwrap().parse().unwrap();
            (10_000..=20_000).contains(&tick)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(window, expected);
    // A window's Chrome export names its goroutines, though they were
    // created before it.
    let json = ok(&skein(&[
        "trace",
        "convert",
        s(&bin),
        "--to",
        "chrome",
        "--from",
        "1ms",
        "--until",
        "2ms",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let events = validate_chrome(&v);
    assert!(events
        .iter()
        .any(|e| e["ph"] == "B" && e["name"].as_str().is_some_and(|n| n.ends_with("()"))));
    let size = std::fs::metadata(&bin).unwrap().len();
    let events = direct.lines().count() as u64;
    assert!(size < events * 12, "{size} bytes for {events} events");
    // Not a trace: exit 65 with the file's name.
    let junk = dir.join("junk.txt");
    std::fs::write(&junk, "hello\n").unwrap();
    let out = skein(&["trace", "summary", s(&junk)]);
    assert_eq!(out.status.code(), Some(65));
    assert!(text(&out.stderr).contains("junk.txt"));
}

/// A recording into a path that holds an older, longer file replaces it
/// whole (the writer thread cuts the old file off before it writes), both
/// from `--trace` and from `runtime.trace_start`.
#[test]
fn a_recording_replaces_an_older_longer_file() {
    let dir = scratch("overwrite");
    let program = root().join("tests/gc/exchange.sk");
    let fresh = record(&dir, &program, "2", "fresh.sktrace");
    let old = dir.join("old.sktrace");
    std::fs::write(&old, vec![0xa5u8; 1 << 20]).unwrap();
    record(&dir, &program, "2", "old.sktrace");
    assert_eq!(
        std::fs::read(&old).unwrap(),
        std::fs::read(&fresh).unwrap(),
        "the recording over the old file differs from one into a new file"
    );
    let started = dir.join("started.sktrace");
    std::fs::write(&started, vec![0xa5u8; 1 << 20]).unwrap();
    let script = dir.join("start.sk");
    std::fs::write(
        &script,
        format!(
            "fun send(c) {{ c <- 1; }}\nruntime.trace_start(\"{}\");\nvar c = chan();\ngo send(c);\nprint <-c;\nruntime.trace_stop();\n",
            s(&started).replace('\\', "\\\\")
        ),
    )
    .unwrap();
    assert_eq!(ok(&skein(&["--sim", SEED, s(&script)])), "1\n");
    let size = std::fs::metadata(&started).unwrap().len();
    assert!(size < 4096, "{size} bytes: the old file's tail is left");
    let events = ok(&skein(&["trace", "convert", s(&started), "--to", "text"]));
    assert!(events.contains("GoCreate"), "{events}");
}

/// A reader that goes away (`skein trace convert t.sktrace | head`) ends
/// the conversion quietly, with the status of a process killed by SIGPIPE.
#[test]
fn convert_to_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    let dir = scratch("pipe");
    let program = root().join("tests/gc/exchange.sk");
    let bin = record(&dir, &program, "2", "t.sktrace");
    let mut child = Command::new(SKEIN)
        .args(["trace", "convert", s(&bin), "--to", "text"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn skein");
    let mut head = [0u8; 64];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut head)
        .expect("the first bytes");
    // The pipe's read end is dropped with the handle above; the text form
    // of this trace (about 180 KB) is more than a pipe holds, so a later
    // write fails.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert_eq!(text(&out.stderr), "");
}

/// `skein trace diff`: the same seed twice is the same trace (exit 0);
/// two seeds diverge, and the report says at which tick (exit 1).
#[test]
fn diff_finds_where_two_seeds_diverge() {
    let dir = scratch("diff");
    let program = root().join("tests/gc/exchange.sk");
    let a = record(&dir, &program, "2", "a.sktrace");
    let b = record(&dir, &program, "2", "b.sktrace");
    let same = skein(&["trace", "diff", s(&a), s(&b)]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same.stdout));
    assert!(text(&same.stdout).contains("hold the same"));
    let c = dir.join("c.sktrace");
    ok(&skein(&[
        "--sim",
        "4",
        "--procs",
        "2",
        "--trace",
        s(&c),
        s(&program),
    ]));
    let differ = skein(&["trace", "diff", s(&a), s(&c)]);
    assert_eq!(differ.status.code(), Some(1));
    let report = text(&differ.stdout);
    assert!(report.contains("first diverge at tick "), "{report}");
    assert!(
        report.contains("  < ") && report.contains("  > "),
        "{report}"
    );
}

// ---------------------------------------------------------------------------
// The HTML page in a real browser.

/// Finds a headless Chromium: in CI it must be there (`.ci/run` installs
/// it); elsewhere the test says it was skipped.
fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(name).output() {
            if out.status.success() {
                return Some(PathBuf::from(text(&out.stdout).trim()));
            }
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install chromium for the browser test"
    );
    None
}

/// `skein trace html` of a GC-heavy program, rendered by headless
/// Chromium: the DOM after the page's script ran has one row per P, GC
/// cycles, a heap line and an MMU curve.
#[test]
fn html_page_renders_in_a_headless_browser() {
    let Some(browser) = chromium() else {
        eprintln!("skipped: no chromium on this machine");
        return;
    };
    let dir = scratch("html");
    let program = root().join("bench/binary_trees.sk");
    let trace = dir.join("bt.sktrace");
    ok(&skein(&["--procs", "2", "--trace", s(&trace), s(&program)]));
    let page = dir.join("bt.html");
    ok(&skein(&["trace", "html", s(&trace), "-o", s(&page)]));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("__SKEIN_TRACE_DATA__"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network"
    );
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", s(&page)))
        .output()
        .expect("run chromium");
    let dom = text(&out.stdout);
    assert!(dom.contains("data-rendered=\"1\""), "the script ran");
    let rows = dom.matches("class=\"p-row\"").count();
    assert_eq!(rows, 2, "one row per P");
    assert!(dom.matches("class=\"gc-cycle\"").count() >= 1, "GC cycles");
    for path in ["heap-live", "mmu-curve"] {
        let at = dom
            .find(&format!("<path class=\"{path}\" d=\""))
            .unwrap_or_else(|| panic!("{path} drawn"));
        let d = &dom[at..];
        let d = &d[d.find("d=\"").unwrap() + 3..];
        assert!(
            d.starts_with('M'),
            "{path} has a path: {}",
            &d[..20.min(d.len())]
        );
    }
}
