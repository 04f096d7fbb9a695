//! The shared test harness: runs the built `skein` binary on a script and
//! checks its behaviour against the expectations written in the script.
//!
//! Every integration test that runs Skein programs goes through this module,
//! so there is one definition of "how a test program is run" and one of
//! "what a test program expects".
//!
//! Expectations use the format of the Crafting Interpreters suite, plus three
//! Skein additions. Each is a comment searched for anywhere on a source line
//! (line numbers are 1-based):
//! - `// expect: TEXT` — the next line of stdout, in order.
//! - `// expect runtime error: MESSAGE` — the program fails at run time;
//!   stderr's first line is MESSAGE and the first later `[line N]` line names
//!   this source line. Exit code 70.
//! - `// Error...` — a compile error `[line <this line>] Error...`;
//!   `// [line N] Error...` (or `// [c line N] Error...`) gives the line
//!   explicitly. Exit code 65; stderr must hold exactly the expected errors.
//! - `// stderr: TEXT` (Skein) — when present, stderr must equal these lines
//!   exactly, in order (used to pin whole stack traces).
//! - `// flags: ARGS` (Skein) — command-line flags placed before the file.
//! - `// env: K=V ...` (Skein) — environment variables for the run.
//! - `// exit: N` (Skein) — the program ends with exit status N (`os.exit`);
//!   stderr must then be empty unless `// stderr:` says otherwise.
//! - `// nontest` — the file is not a test.
//!
//! Algorithm of [`check_file`]:
//! 1. Read the file and [`parse_expectations`] from it.
//! 2. Build the command `skein run FLAGS FILE`, with a clean Skein
//!    environment (`SKEINGC`, `SKEINDEBUG`, `SKEINMAXPROCS` removed), then the
//!    file's variables, then the caller's (a caller's `SKEINDEBUG` is joined
//!    to the file's with a comma rather than replacing it).
//! 3. [`run_skein`] runs it with a deadline; a run past the deadline is killed
//!    and reported as a failure.
//! 4. Compare exit code, stderr and stdout, collecting every mismatch into
//!    one report so a failing file shows all its problems at once.
//!
//! Invariants: the harness never writes to the corpus; a file passes only
//! when the report is empty; stdout is compared line for line after
//! splitting on `\n`, `\r\n` or `\r` and dropping one trailing empty line.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// How long one program may run before it is killed. Twenty seconds is far
/// beyond any corpus file (each runs in well under a second in a release
/// build), yet short enough that a hung VM fails the suite promptly even in a
/// debug build under `gcstress`.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// How many programs run at once. The build machines have two cores shared
/// by everyone, so two workers keep the suite quick without starving them.
pub const WORKERS: usize = 2;

/// What a test program expects, parsed from its comments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expectations {
    /// Expected stdout lines, in order.
    pub stdout: Vec<String>,
    /// Expected compile errors, each as `[line N] Error...`.
    pub compile_errors: Vec<String>,
    /// The expected runtime error message and its source line.
    pub runtime_error: Option<(String, usize)>,
    /// When present, the exact expected stderr lines.
    pub stderr: Option<Vec<String>>,
    /// Flags to pass before the file name.
    pub flags: Vec<String>,
    /// Environment variables for the run.
    pub env: Vec<(String, String)>,
    /// `// exit: N`: the exit status the program ends with.
    pub exit: Option<i32>,
    /// `// nontest`: not a test at all.
    pub nontest: bool,
}

impl Expectations {
    /// The exit code the expectations imply: 65 for compile errors, 70 for a
    /// runtime error, the `// exit:` status, else 0.
    pub fn exit_code(&self) -> i32 {
        if let Some(code) = self.exit {
            code
        } else if !self.compile_errors.is_empty() {
            65
        } else if self.runtime_error.is_some() {
            70
        } else {
            0
        }
    }
}

/// What one run of the binary produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    /// The exit code, or `None` when the process died from a signal.
    pub code: Option<i32>,
    /// True when the run passed the deadline and was killed.
    pub timed_out: bool,
}

/// The path of the binary under test.
pub fn skein_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_skein"))
}

/// The root of the `skein` package (where `tests/` and `examples/` live).
pub fn package_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Parses the expectation comments of a test program.
pub fn parse_expectations(source: &str) -> Expectations {
    let mut exp = Expectations::default();
    for (index, line) in split_lines(source).iter().enumerate() {
        let number = index + 1;
        if line.contains("// nontest") {
            exp.nontest = true;
            return exp;
        }
        if let Some(rest) = after(line, "// stderr:") {
            let text = rest.strip_prefix(' ').unwrap_or(rest);
            exp.stderr
                .get_or_insert_with(Vec::new)
                .push(text.to_string());
        } else if let Some(rest) = after(line, "// flags:") {
            exp.flags
                .extend(rest.split_whitespace().map(str::to_string));
        } else if let Some(rest) = after(line, "// env:") {
            for pair in rest.split_whitespace() {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                exp.env.push((key.to_string(), value.to_string()));
            }
        } else if let Some(rest) = after(line, "// exit:") {
            exp.exit = rest.trim().parse().ok();
        } else if let Some(rest) = after(line, "// expect:") {
            let text = rest.strip_prefix(' ').unwrap_or(rest);
            exp.stdout.push(text.to_string());
        } else if let Some(rest) = after(line, "// Error") {
            exp.compile_errors
                .push(format!("[line {number}] Error{rest}"));
        } else if let Some(error) = explicit_line_error(line) {
            exp.compile_errors.push(error);
        } else if let Some(rest) = after(line, "// expect runtime error: ") {
            if !rest.is_empty() {
                exp.runtime_error = Some((rest.to_string(), number));
            }
        }
    }
    exp
}

/// Runs the binary with `args` and extra environment `env` (applied after
/// the Skein variables are cleared), from the caller's directory, with no
/// deadline: the tests of the `skein trace` and `skein explore` commands.
pub fn skein_output(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(skein_bin());
    command.args(args);
    for name in ["SKEINGC", "SKEINDEBUG", "SKEINMAXPROCS"] {
        command.env_remove(name);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("spawn skein")
}

/// Bytes of output as text (invalid UTF-8 replaced).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary with `args`, extra environment `env` (applied after the
/// Skein variables are cleared) and a deadline. Errors only when the process
/// cannot be started.
pub fn run_skein(
    args: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> Result<Outcome, String> {
    let mut command = Command::new(skein_bin());
    command
        .args(args)
        .current_dir(package_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in ["SKEINGC", "SKEINDEBUG", "SKEINMAXPROCS"] {
        command.env_remove(name);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", skein_bin().display()))?;

    // Both pipes are drained on their own threads so a chatty program can
    // never block on a full pipe while we wait for it to exit.
    let mut out_pipe = child.stdout.take().expect("stdout is piped");
    let mut err_pipe = child.stderr.take().expect("stderr is piped");
    let out_reader = thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = out_pipe.read_to_end(&mut bytes);
        bytes
    });
    let err_reader = thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = err_pipe.read_to_end(&mut bytes);
        bytes
    });

    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            // Ten milliseconds keeps polling cheap while adding little
            // latency to programs that finish in a few milliseconds.
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("waiting for skein failed: {e}")),
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok(Outcome {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        code: status.and_then(|s| s.code()),
        timed_out,
    })
}

/// Runs one test program and checks it against its expectations. `extra_env`
/// is added to the file's own environment (see the module docs). Returns
/// `Ok(())` when it passes, else a report naming every mismatch.
pub fn check_file(path: &Path, extra_env: &[(&str, &str)]) -> Result<(), String> {
    check_file_with(path, extra_env, &[])
}

/// [`check_file`] with extra command-line flags before the file's own.
pub fn check_file_with(
    path: &Path,
    extra_env: &[(&str, &str)],
    extra_flags: &[String],
) -> Result<(), String> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let exp = parse_expectations(&source);
    if exp.nontest {
        return Ok(());
    }
    if !exp.compile_errors.is_empty() && exp.runtime_error.is_some() {
        return Err(format!(
            "{}: malformed test: expects both compile and runtime errors",
            path.display()
        ));
    }

    let env = merge_env(&exp.env, extra_env);
    let mut args = vec!["run".to_string()];
    args.extend(extra_flags.iter().cloned());
    args.extend(exp.flags.iter().cloned());
    args.push(path.to_string_lossy().into_owned());
    let outcome =
        run_skein(&args, &env, TIMEOUT).map_err(|e| format!("{}: {e}", path.display()))?;

    let mut problems = Vec::new();
    if outcome.timed_out {
        problems.push(format!(
            "timed out after {} s and was killed",
            TIMEOUT.as_secs()
        ));
    }
    let expected_code = exp.exit_code();
    if outcome.code != Some(expected_code) {
        problems.push(format!(
            "exit code: expected {expected_code}, got {}",
            outcome
                .code
                .map_or("none (killed by a signal)".to_string(), |c| c.to_string())
        ));
    }
    check_stderr(&exp, &outcome.stderr, &mut problems);
    let actual_stdout = split_lines(&outcome.stdout);
    if actual_stdout != exp.stdout {
        problems.push(format!(
            "stdout differs:\n{}",
            line_diff(&exp.stdout, &actual_stdout)
        ));
    }

    if problems.is_empty() {
        return Ok(());
    }
    let mut report = format!("FAIL {}", path.display());
    let context: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    report.push_str(&format!(
        "\n  command: {} {}",
        context.join(" "),
        args.join(" ")
    ));
    for problem in problems {
        for (i, line) in problem.lines().enumerate() {
            report.push_str(if i == 0 { "\n  - " } else { "\n      " });
            report.push_str(line);
        }
    }
    report.push_str("\n  stderr was:");
    for line in truncate(&split_lines(&outcome.stderr)) {
        report.push_str("\n      | ");
        report.push_str(&line);
    }
    Err(report)
}

/// Every `*.sk` file below `dir`, sorted, so runs and reports are stable.
pub fn sk_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "sk") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Checks every file with [`WORKERS`] threads and returns the reports of
/// the failures, in file order.
pub fn check_all(files: &[PathBuf], extra_env: &[(&str, &str)]) -> Vec<String> {
    check_all_with(files, extra_env, &[])
}

/// [`check_all`] with extra command-line flags.
pub fn check_all_with(
    files: &[PathBuf],
    extra_env: &[(&str, &str)],
    extra_flags: &[String],
) -> Vec<String> {
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(file) = files.get(index) else {
                    break;
                };
                if let Err(report) = check_file_with(file, extra_env, extra_flags) {
                    failures.lock().unwrap().push((index, report));
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    failures.into_iter().map(|(_, report)| report).collect()
}

/// Splits text into lines the way the Lox suite does: on `\r\n`, `\n` or
/// `\r`, without an empty last line for a final terminator.
pub fn split_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => lines.push(std::mem::take(&mut current)),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut current));
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// The text after the first occurrence of `marker` in `line`.
fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|at| &line[at + marker.len()..])
}

/// Parses `// [line N] Error...` or `// [c line N] Error...` into
/// `[line N] Error...`. The Java-qualified form belongs to jlox and is
/// ignored, as the book's runner does for clox.
fn explicit_line_error(line: &str) -> Option<String> {
    let rest = after(line, "// [")?;
    let rest = rest.strip_prefix("c ").unwrap_or(rest);
    let rest = rest.strip_prefix("line ")?;
    let (number, tail) = rest.split_once("] ")?;
    let number: usize = number.parse().ok()?;
    tail.starts_with("Error")
        .then(|| format!("[line {number}] {tail}"))
}

/// The file's environment followed by the caller's; `SKEINDEBUG` settings
/// from both are joined with a comma.
fn merge_env(file_env: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = file_env.to_vec();
    for (key, value) in extra {
        match env.iter_mut().find(|(k, _)| k == key) {
            Some((_, existing)) if *key == "SKEINDEBUG" => {
                *existing = format!("{existing},{value}");
            }
            Some((_, existing)) => *existing = value.to_string(),
            None => env.push((key.to_string(), value.to_string())),
        }
    }
    env
}

/// Adds every stderr mismatch to `problems`.
fn check_stderr(exp: &Expectations, stderr: &str, problems: &mut Vec<String>) {
    let lines = split_lines(stderr);
    if let Some(expected) = &exp.stderr {
        if &lines != expected {
            problems.push(format!("stderr differs:\n{}", line_diff(expected, &lines)));
        }
    }
    if let Some((message, line)) = &exp.runtime_error {
        match lines.first() {
            Some(first) if first == message => {}
            Some(first) => problems.push(format!(
                "runtime error: expected message {message:?}, got {first:?}"
            )),
            None => problems.push(format!(
                "runtime error: expected {message:?}, stderr is empty"
            )),
        }
        let trace_line = lines.iter().skip(1).find_map(|l| trace_line_number(l));
        match trace_line {
            Some(n) if n == *line => {}
            Some(n) => problems.push(format!(
                "runtime error: expected the innermost frame at [line {line}], got [line {n}]"
            )),
            None => problems.push(format!(
                "runtime error: no stack trace line after the message (expected [line {line}])"
            )),
        }
        return;
    }
    // Compile-error and clean runs: every non-blank stderr line must be an
    // expected compile error, and every expected error must appear.
    let mut seen = Vec::new();
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        if exp.compile_errors.contains(line) {
            seen.push(line.clone());
        } else if exp.stderr.is_none() {
            problems.push(format!("unexpected stderr line: {line:?}"));
        }
    }
    for error in &exp.compile_errors {
        if !seen.contains(error) {
            problems.push(format!("missing compile error: {error:?}"));
        }
    }
}

/// The `N` of the first `[line N]` in `line`, if any.
fn trace_line_number(line: &str) -> Option<usize> {
    let rest = after(line, "[line ")?;
    let end = rest.find(']')?;
    rest[..end].parse().ok()
}

/// A positional line diff: equal lines are shown plain, differing ones as a
/// `-` expected / `+` actual pair. Long outputs are cut.
fn line_diff(expected: &[String], actual: &[String]) -> String {
    let mut out = Vec::new();
    for i in 0..expected.len().max(actual.len()) {
        match (expected.get(i), actual.get(i)) {
            (Some(e), Some(a)) if e == a => out.push(format!("  {:>3}   {e}", i + 1)),
            (e, a) => {
                if let Some(e) = e {
                    out.push(format!("  {:>3} - {e}", i + 1));
                }
                if let Some(a) = a {
                    out.push(format!("  {:>3} + {a}", i + 1));
                }
            }
        }
    }
    truncate(&out).join("\n")
}

/// At most the first 60 lines, so one runaway program cannot bury the
/// reports of the others.
fn truncate(lines: &[String]) -> Vec<String> {
    const KEEP: usize = 60;
    let mut kept: Vec<String> = lines.iter().take(KEEP).cloned().collect();
    if lines.len() > KEEP {
        kept.push(format!("... ({} more lines)", lines.len() - KEEP));
    }
    kept
}
