//! Robustness: random input must never crash or hang the `skein` binary.
//!
//! Three proptest properties feed the binary generated programs:
//!
//! 1. arbitrary byte strings (mostly garbage for the scanner);
//! 2. token streams drawn from Skein's vocabulary (keywords, punctuation,
//!    literals, a few identifiers and built-in names), which reach deep into
//!    the parser's error recovery;
//! 3. sequences of well-formed statement fragments, which mostly compile and
//!    so exercise the runtime's error paths (undefined names, bad operands,
//!    out-of-range indexes, wrong arities, deep recursion, closed channels).
//!
//! Each program is written to a file and run as a child process, so an
//! abort (the release profile aborts on panic) or a signal is observed as a
//! failure instead of killing the test harness. A clean outcome is exit code
//! 0, 65 or 70, no Rust panic message on stderr, and completion within
//! [`CASE_TIMEOUT`]. A generated program may, rarely, be an endless loop
//! (`while (true) print a;`), so a timeout is forgiven only for a program
//! that contains a loop keyword and compiles: a compile error must never
//! hang.
//!
//! Cost control (2 shared cores): a fixed seed makes CI runs repeatable, the
//! case counts are small, and every property stops generating new work once
//! the whole file has used [`TOTAL_BUDGET`]; shrinking is capped too.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

const SKEIN: &str = env!("CARGO_BIN_EXE_skein");

/// The longest a single program may run. Programs here are tiny, so any
/// honest run ends in milliseconds; ten seconds only guards against hangs
/// on a heavily loaded machine.
const CASE_TIMEOUT: Duration = Duration::from_secs(10);

/// Wall time for the whole file, after which cases pass without running so
/// the suite stays within about a minute on two cores.
const TOTAL_BUDGET: Duration = Duration::from_secs(50);

/// Cases per property. 200 spawns of a small binary take a few seconds.
const CASES: u32 = 200;

/// Shrinking steps, bounded so a failure is reported within the budget.
const MAX_SHRINK_ITERS: u32 = 200;

fn config() -> Config {
    Config {
        cases: CASES,
        max_shrink_iters: MAX_SHRINK_ITERS,
        // Failures are reproduced from the fixed seed; no regression files.
        failure_persistence: None,
        // Any fixed value works; this one spells "skein" loosely.
        rng_seed: RngSeed::Fixed(0x5_4E1_u64),
        ..Config::default()
    }
}

/// When this test binary started (shared by the properties, which run in
/// parallel threads).
fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// How a run ended.
#[derive(Debug)]
enum Outcome {
    Exited { code: Option<i32>, stderr: String },
    TimedOut,
}

/// Runs `program` through the binary with a timeout.
fn run(program: &[u8]) -> Outcome {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz");
    std::fs::create_dir_all(&dir).unwrap();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("case{n}.sk"));
    let err_path = dir.join(format!("case{n}.err"));
    std::fs::write(&path, program).unwrap();
    let mut child = Command::new(SKEIN)
        .arg(&path)
        .env_remove("SKEINGC")
        .env_remove("SKEINDEBUG")
        // Output can be large (a loop that prints); discard it rather than
        // risk a full pipe blocking the child.
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn skein");
    let deadline = Instant::now() + CASE_TIMEOUT;
    let outcome = loop {
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
            break Outcome::Exited {
                code: status.code(),
                stderr,
            };
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break Outcome::TimedOut;
        }
        // Poll often enough that a fast case costs little more than its run.
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&err_path);
    outcome
}

/// Checks that running `program` ends cleanly (see the module docs).
fn check_clean(program: &[u8]) -> Result<(), TestCaseError> {
    if start().elapsed() > TOTAL_BUDGET {
        return Ok(());
    }
    match run(program) {
        Outcome::Exited { code, stderr } => {
            prop_assert!(
                matches!(code, Some(0 | 65 | 70)),
                "exit {code:?} (None = killed by a signal)\nstderr: {stderr}"
            );
            prop_assert!(
                !stderr.contains("panicked at") && !stderr.contains("RUST_BACKTRACE"),
                "panic: {stderr}"
            );
        }
        Outcome::TimedOut => {
            let src = String::from_utf8_lossy(program);
            let may_loop = src.contains("while") || src.contains("for");
            prop_assert!(
                may_loop && skein_compiler::compile(&src).is_ok(),
                "timed out after {CASE_TIMEOUT:?}"
            );
        }
    }
    Ok(())
}

/// Skein's vocabulary for token streams.
const TOKENS: &[&str] = &[
    // Keywords.
    "and",
    "class",
    "else",
    "false",
    "for",
    "fun",
    "if",
    "nil",
    "or",
    "print",
    "return",
    "super",
    "this",
    "true",
    "var",
    "while",
    "go",
    "select",
    "case",
    "default",
    "in",
    "break",
    "continue",
    // Punctuation and operators.
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    ".",
    "-",
    "+",
    ";",
    "/",
    "*",
    "%",
    "!",
    "!=",
    "=",
    "==",
    ">",
    ">=",
    "<",
    "<=",
    "<-",
    ":",
    // Literals.
    "0",
    "1",
    "2.5",
    "1e3",
    "\"s\"",
    "\"\"",
    "\"a\\nb\"",
    "\"bad\\q\"",
    "\"open",
    // Identifiers and built-ins.
    "a",
    "b",
    "f",
    "x",
    "init",
    "len",
    "str",
    "push",
    "chan",
    "close",
    "recv",
    "math",
    "runtime",
    "clock",
    "type",
];

fn token_stream() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..48).prop_map(|t| t.join(" "))
}

/// Well-formed statements whose combination is often wrong at run time.
const FRAGMENTS: &[&str] = &[
    "var a = 1;",
    "var b = \"two\";",
    "a = a + 1;",
    "print a;",
    "print b + a;",
    "print -b;",
    "print a / 0;",
    "print a % 0;",
    "fun f(x) { return x * 2; }",
    "print f(a);",
    "print f();",
    "fun r(n) { return r(n + 1); }",
    "r(0);",
    "class C { init(v) { this.v = v; } get() { return this.v; } }",
    "print C(3).get();",
    "print C(1).missing;",
    "class D < C { get() { return super.get() + 1; } }",
    "print D(1).get();",
    "var xs = [1, 2, 3];",
    "print xs[a];",
    "xs[5] = 1;",
    "print xs[0.5];",
    "push(xs, xs);",
    "print xs;",
    "var m = {\"k\": xs, 1: nil};",
    "print m[\"k\"];",
    "m[m] = m;",
    "print len(m);",
    "var ch = chan(1);",
    "ch <- a;",
    "print <-ch;",
    "close(ch);",
    "close(ch);",
    "for (var i in xs) { print i; }",
    "for (var i = 0; i < 3; i = i + 1) { if (i == 1) continue; print i; }",
    "while (a < 10) { a = a + 1; if (a > 5) break; }",
    "{ var local = a; fun g() { return local; } print g(); }",
    "print str(a) + type(b);",
    "print math.sqrt(16);",
    "print nosuch;",
    "nosuch = 1;",
    "print \"x\"[0];",
    "print clock() > 0;",
];

fn fragment_program() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..12).prop_map(|f| f.join("\n"))
}

/// Bytes biased towards printable ASCII, where the scanner does most work.
fn byte_program() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![3 => 0x20u8..0x7f, 1 => Just(b'\n'), 1 => any::<u8>()],
        0..200,
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_end_cleanly(program in byte_program()) {
        check_clean(&program)?;
    }

    #[test]
    fn random_token_streams_end_cleanly(program in token_stream()) {
        check_clean(program.as_bytes())?;
    }

    #[test]
    fn random_statement_sequences_end_cleanly(program in fragment_program()) {
        check_clean(program.as_bytes())?;
    }
}
