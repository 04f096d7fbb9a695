//! Command-line tests: exit codes, `--disasm`, `--max-heap`, `run FILE`
//! versus `FILE`, the script's arguments (`os.args`), `os.exit` statuses,
//! programs reading stdin (`io.read_line`, `io.read_all`), the order of
//! stdout and stderr, output buffering, write errors and signals, and the
//! embedding API's `run_source`.
//!
//! Each test writes its script into a scratch directory under Cargo's
//! target tmpdir and runs the built binary on it.

use std::path::PathBuf;
use std::process::{Command, Output};

const SKEIN: &str = env!("CARGO_BIN_EXE_skein");

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Writes `src` to `NAME/prog.sk` and returns its path.
fn script(name: &str, src: &str) -> PathBuf {
    let path = scratch(name).join("prog.sk");
    std::fs::write(&path, src).unwrap();
    path
}

/// Runs the binary with `args`, with the Skein environment variables
/// cleared so the caller's settings cannot leak in.
fn skein(args: &[&str]) -> Output {
    Command::new(SKEIN)
        .args(args)
        .env_remove("SKEINGC")
        .env_remove("SKEINDEBUG")
        .env_remove("SKEINMAXPROCS")
        .output()
        .expect("spawn skein")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn bad_flag_is_a_usage_error() {
    let out = skein(&["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        text(&out.stderr).contains("--no-such-flag"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_flag_values_are_usage_errors() {
    for args in [
        &["--procs", "0", "x.sk"][..],
        &["--procs", "many", "x.sk"],
        &["--max-heap", "lots", "x.sk"],
        &["--max-heap", "12XB", "x.sk"],
        &["--trace-format", "xml", "x.sk"],
        &["--sim", "-1", "x.sk"],
        &["run"],
        &["--no-such-flag", "a.sk"],
        &["run", "--no-such-flag", "a.sk"],
    ] {
        let out = skein(args);
        assert_eq!(
            out.status.code(),
            Some(64),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn help_and_version_succeed() {
    let out = skein(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for flag in [
        "--procs",
        "--sim",
        "--trace",
        "--trace-format",
        "--gctrace",
        "--max-heap",
        "--disasm",
    ] {
        assert!(help.contains(flag), "help lacks {flag}:\n{help}");
    }
    let out = skein(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("skein "));
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = scratch("missing");
    let path = dir.join("nope.sk");
    let path_text = path.to_str().unwrap();
    for args in [&[path_text][..], &["run", path_text]] {
        let out = skein(args);
        assert_eq!(out.status.code(), Some(74));
        assert_eq!(
            text(&out.stderr),
            format!("Could not open file \"{path_text}\".\n")
        );
    }
}

#[test]
fn accepted_flags_reach_the_file_stage() {
    // Every flag parses, before or after `run`; the missing file then
    // gives 74, which proves parsing succeeded. Words after the file are
    // the script's, whatever they look like.
    let dir = scratch("flags");
    let path = dir.join("nope.sk");
    let p = path.to_str().unwrap();
    let trace = dir.join("t.trace");
    let t = trace.to_str().unwrap();
    for args in [
        &["--max-heap", "64MB", p][..],
        &["--max-heap", "1G", p],
        &["--max-heap", "512KiB", p],
        &["--max-heap", "1048576", p],
        &["--procs", "4", "--sim", "42", "--gctrace", p],
        &["--trace", t, "--trace-format", "chrome", "run", p],
        &["run", "--trace", t, "--trace-format", "text", p],
        &["run", p, "--disasm", "--procs", "2"],
        &[p, "--no-such-flag", "--procs", "0"],
        &[p, "run", "b.sk"],
    ] {
        let out = skein(args);
        assert_eq!(
            out.status.code(),
            Some(74),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn environment_warnings_do_not_stop_the_run() {
    let dir = scratch("envwarn");
    let path = dir.join("nope.sk");
    let out = Command::new(SKEIN)
        .arg(&path)
        .env("SKEINGC", "lots")
        .env("SKEINDEBUG", "nosuchsetting=1")
        .env_remove("SKEINMAXPROCS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(74));
    let err = text(&out.stderr);
    assert!(
        err.contains("SKEINGC") && err.contains("nosuchsetting"),
        "{err}"
    );
}

#[test]
fn compile_errors_exit_65_and_list_every_error() {
    let path = script("compile", "print 1;\nvar = 2;\nprint (3;\n");
    let out = skein(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65));
    assert_eq!(
        text(&out.stderr),
        "[line 2] Error at '=': Expect variable name.\n\
         [line 3] Error at ';': Expect ')' after expression.\n"
    );
    assert!(out.stdout.is_empty(), "nothing runs after a compile error");
}

#[test]
fn runtime_errors_exit_70_after_flushing_output() {
    let path = script(
        "runtime",
        "print \"before\";\nfun f(x) {\n  return x + nil;\n}\nf(1);\nprint \"after\";\n",
    );
    let out = skein(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(70));
    assert_eq!(text(&out.stdout), "before\n");
    assert_eq!(
        text(&out.stderr),
        "Operands must be two numbers or two strings.\n[line 3] in f()\n[line 5] in script\n"
    );
}

#[test]
fn a_clean_run_exits_0() {
    let path = script("ok", "var a = 1;\nprint a + 2;\n");
    let out = skein(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "3\n");
}

#[test]
fn disasm_prints_every_function_then_runs() {
    let path = script(
        "disasm",
        "fun outer() {\n  fun inner() { return 1; }\n  return inner;\n}\nprint outer()();\n",
    );
    let out = skein(&["--disasm", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for title in ["== <script>", "== outer", "== inner"] {
        assert!(stdout.contains(title), "missing {title}:\n{stdout}");
    }
    assert!(
        stdout.ends_with("\n1\n"),
        "program output follows the listing:\n{stdout}"
    );
}

#[test]
fn a_tiny_heap_limit_is_a_runtime_error_not_a_crash() {
    let path = script(
        "maxheap",
        "var s = \"grow\";\nwhile (true) { s = s + s; }\n",
    );
    let out = skein(&["--max-heap", "1MB", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(70), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("Out of memory."),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn run_source_captures_output_and_exit_code() {
    let opts = skein::Options::new();
    let ok = skein::run_source("print 1 + 2;", &opts);
    assert_eq!(
        ok,
        skein::RunOutput {
            stdout: "3\n".into(),
            stderr: String::new(),
            exit_code: 0
        }
    );
    let compile = skein::run_source("print ;", &opts);
    assert_eq!(compile.exit_code, 65);
    assert_eq!(
        compile.stderr,
        "[line 1] Error at ';': Expect expression.\n"
    );
    let runtime = skein::run_source("print \"x\";\nprint -\"y\";", &opts);
    assert_eq!(runtime.exit_code, 70);
    assert_eq!(runtime.stdout, "x\n");
    assert_eq!(
        runtime.stderr,
        "Operand must be a number.\n[line 2] in script\n"
    );
}

#[test]
fn run_source_disasm_goes_to_stdout() {
    let out = skein::run_source("fun f() {}\nprint f;", &skein::Options::new().disasm(true));
    assert_eq!(out.exit_code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("== f"), "{}", out.stdout);
    assert!(out.stdout.ends_with("<fn f>\n"), "{}", out.stdout);
}

/// Checks one `gctrace` line's layout (Go's), leaving timings free:
/// `gc N @T.TTTs P%: a+b+c ms clock, a+b/c/d+e ms cpu, X->Y->Z MB, G MB goal, N P (TRIGGER)`,
/// where TRIGGER (Skein's addition) says what started the cycle.
fn assert_gctrace_line(line: &str, n: usize) {
    let rest = line
        .strip_prefix(&format!("gc {n} @"))
        .unwrap_or_else(|| panic!("not cycle {n}: {line}"));
    let (secs, rest) = rest.split_once("s ").expect("@Ts");
    assert!(secs.parse::<f64>().is_ok(), "{line}");
    let (pct, rest) = rest.split_once("%: ").expect("P%");
    assert!(pct.parse::<u32>().is_ok(), "{line}");
    let (clock, rest) = rest.split_once(" ms clock, ").expect("ms clock");
    assert_eq!(clock.split('+').count(), 3, "{line}");
    let (_cpu, rest) = rest.split_once(" ms cpu, ").expect("ms cpu");
    let (heap, rest) = rest.split_once(" MB, ").expect("MB");
    assert_eq!(heap.split("->").count(), 3, "{line}");
    let (_goal, procs) = rest.split_once(" MB goal, ").expect("MB goal");
    let (procs, trigger) = procs.split_once(" (").expect("(TRIGGER)");
    assert!(
        ["heap)", "forced)", "max-heap)", "stress)"].contains(&trigger),
        "{line}"
    );
    let n = procs.strip_suffix(" P").expect("N P");
    assert!(n.parse::<u32>().is_ok_and(|n| n >= 1), "{line}");
}

#[test]
fn gctrace_prints_one_go_style_line_per_cycle() {
    let src = "for (var i = 0; i < 3; i = i + 1) runtime.gc();\nprint \"done\";\n";
    let path = script("gctrace.sk", src);
    let out = skein(&["--gctrace", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "done\n");
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    for (i, line) in lines.iter().enumerate() {
        assert_gctrace_line(line, i + 1);
        assert!(line.ends_with(" (forced)"), "{line}");
    }
    // The environment variable does the same.
    let out = Command::new(SKEIN)
        .arg(&path)
        .env("SKEINDEBUG", "gctrace=1")
        .output()
        .expect("run skein");
    assert_eq!(text(&out.stderr).lines().count(), 3);
}

#[test]
fn deadlock_report_groups_goroutines_blocked_at_the_same_place() {
    // A million goroutines parked on one channel, main parked on another:
    // each place is reported once, with how many more goroutines wait
    // there, so the report stays a few lines long.
    let path = script(
        "deadlock_groups",
        "var c = chan();\n\
         var d = chan();\n\
         fun w() {\n  <-c;\n}\n\
         fun v() {\n  d <- 1;\n}\n\
         for (var i = 0; i < 1000000; i = i + 1) go w();\n\
         go v();\n\
         go v();\n\
         <-chan();\n",
    );
    let out = skein(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(70));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("fatal error: all goroutines are asleep - deadlock!\n"),
        "{err}"
    );
    assert!(
        err.contains("... and 999,999 more goroutines blocked at the same place"),
        "{err}"
    );
    assert!(
        err.contains("... and 1 more goroutine blocked at the same place"),
        "{err}"
    );
    assert!(err.len() < 4096, "report of {} bytes: {err}", err.len());
}

#[test]
fn a_closed_pipe_ends_the_program_quietly_with_141() {
    // An endless printer piped into a reader that stops after one line
    // (as `skein inf.sk | head -1`): the next write fails, and the program
    // ends at once, without a message.
    use std::io::{BufRead, BufReader};
    let path = script(
        "closed_pipe",
        "var i = 0;\nwhile (true) {\n  print i;\n  i = i + 1;\n}\n",
    );
    let mut child = Command::new(SKEIN)
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn skein");
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "0\n");
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn a_failed_write_is_reported_with_74() {
    let path = script("dev_full", "print \"hello\";\n");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full exists on Linux");
    let out = Command::new(SKEIN)
        .arg(&path)
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(74));
    assert_eq!(
        text(&out.stderr),
        "skein: cannot write output: No space left on device\n"
    );
}

#[test]
fn signals_flush_the_output_and_exit_128_plus_the_signal() {
    for (signal, status) in [("INT", 130), ("TERM", 143)] {
        let dir = scratch(&format!("signal_{signal}"));
        let path = dir.join("prog.sk");
        std::fs::write(
            &path,
            "print \"before\";\nsleep(10000);\nprint \"after\";\n",
        )
        .unwrap();
        let out_path = dir.join("out.txt");
        let child = Command::new(SKEIN)
            .arg(&path)
            .stdout(std::fs::File::create(&out_path).unwrap())
            .spawn()
            .expect("spawn skein");
        // Wait until the program has printed (into its buffer) and sleeps.
        std::thread::sleep(std::time::Duration::from_millis(500));
        let killed = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(status), "SIG{signal}");
        assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "before\n");
    }
}

#[test]
fn an_unwritable_trace_fails_before_the_program_runs() {
    let path = script("trace_unwritable", "print \"ran\";\n");
    let out = skein(&["--trace", "/nonexistent-dir/t.txt", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(74));
    assert!(out.stdout.is_empty(), "the program ran");
    assert_eq!(
        text(&out.stderr),
        "Could not write trace \"/nonexistent-dir/t.txt\": No such file or directory.\n"
    );
}

#[test]
fn trace_format_without_trace_is_a_usage_error() {
    let path = script("trace_format_alone", "print 1;\n");
    let out = skein(&["--trace-format", "chrome", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        text(&out.stderr).contains("--trace"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn processor_counts_above_the_maximum_are_never_capped_silently() {
    let path = script("procs_max", "print runtime.gomaxprocs(0);\n");
    let out = skein(&["--procs", "257", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("257"), "{}", text(&out.stderr));

    let out = Command::new(SKEIN)
        .arg(&path)
        .env_remove("SKEINDEBUG")
        .env("SKEINMAXPROCS", "1000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "256\n");
    assert_eq!(
        text(&out.stderr),
        "skein: warning: SKEINMAXPROCS=1000 is above the supported maximum; using 256\n"
    );

    let path = script("gomaxprocs_max", "runtime.gomaxprocs(300);\n");
    let out = skein(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(70));
    assert!(
        text(&out.stderr).starts_with("gomaxprocs() expects at most 256 processors.\n"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_goroutine_bomb_ends_with_out_of_memory_under_max_heap() {
    // Goroutine stacks count against --max-heap: the program fails with
    // `Out of memory.` long before it could exhaust the machine.
    let path = script(
        "goroutine_bomb",
        "var c = chan();\nfun w() {\n  <-c;\n}\nwhile (true) go w();\n",
    );
    let out = skein(&["--max-heap", "64MB", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(70));
    assert!(
        text(&out.stderr).starts_with("Out of memory.\n[line 5] in script\n"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn output_is_line_buffered_on_a_terminal() {
    // On a terminal each line shows as it is printed: the first line is
    // there while the program still sleeps (it would otherwise appear only
    // at exit, ten seconds later).
    let path = script(
        "line_buffered",
        "print \"first\";\nsleep(10000);\nprint \"second\";\n",
    );
    let mut cmd = Command::new(SKEIN);
    cmd.arg(&path).env_remove("SKEINDEBUG");
    // Five seconds: far below the sleep, generous for a loaded machine.
    let mut p = rexpect::session::spawn_command(cmd, Some(5_000)).expect("spawn on a pty");
    p.exp_string("first")
        .expect("the first line before the program ends");
    // Ctrl-C: the program ends (130) instead of sleeping on.
    p.send_control('c').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn output_is_block_buffered_into_a_file() {
    // Into a file the output is written at exit (or when the buffer
    // fills): half a second into a ten-second sleep, nothing is there yet.
    let dir = scratch("block_buffered");
    let path = dir.join("prog.sk");
    std::fs::write(&path, "print \"first\";\nsleep(10000);\n").unwrap();
    let out_path = dir.join("out.txt");
    let mut child = Command::new(SKEIN)
        .arg(&path)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .spawn()
        .expect("spawn skein");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let early = std::fs::read_to_string(&out_path).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(early, "");
}

/// Runs the binary with `args` and `input` on stdin; stdout and stderr go
/// to one file (two descriptors sharing one offset), so the transcript
/// shows their real order.
fn skein_with_input(name: &str, args: &[&str], input: &str) -> (Option<i32>, String) {
    let dir = scratch(name);
    let input_path = dir.join("input.txt");
    std::fs::write(&input_path, input).unwrap();
    let out_path = dir.join("transcript.txt");
    let out = std::fs::File::create(&out_path).unwrap();
    let err = out.try_clone().unwrap();
    let status = Command::new(SKEIN)
        .args(args)
        .env_remove("SKEINGC")
        .env_remove("SKEINDEBUG")
        .env_remove("SKEINMAXPROCS")
        .stdin(std::fs::File::open(&input_path).unwrap())
        .stdout(std::process::Stdio::from(out))
        .stderr(std::process::Stdio::from(err))
        .status()
        .expect("spawn skein");
    (status.code(), std::fs::read_to_string(&out_path).unwrap())
}

#[test]
fn words_after_the_script_are_its_arguments() {
    let path = script("args", "print os.args;\nprint len(os.args);\n");
    let p = path.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&[p], "[]\n0\n"),
        (&[p, "a", "b"], "[\"a\", \"b\"]\n2\n"),
        (
            &[p, "--x", "-y", "--procs", "2"],
            "[\"--x\", \"-y\", \"--procs\", \"2\"]\n4\n",
        ),
        (&["--procs", "1", p, "one two"], "[\"one two\"]\n1\n"),
        (
            &["run", "--sim", "3", p, "run", "--disasm"],
            "[\"run\", \"--disasm\"]\n2\n",
        ),
        (&["--", p, "--"], "[\"--\"]\n1\n"),
    ];
    for (args, expected) in cases {
        let out = skein(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), *expected, "{args:?}");
    }
}

#[test]
fn os_exit_sets_the_status_and_flushes_output() {
    let path = script(
        "exit",
        "print \"out\";\nio.write(\"partial\");\nos.exit(42);\nprint \"never\";\n",
    );
    let out = skein(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(42));
    assert_eq!(text(&out.stdout), "out\npartial");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    // From a goroutine, with the main goroutine blocked, under --sim too.
    let path = script(
        "exit_goroutine",
        "fun w() { sleep(1); os.exit(5); }\ngo w();\n<-chan();\n",
    );
    for extra in [&[][..], &["--sim", "7"]] {
        let mut args = extra.to_vec();
        args.push(path.to_str().unwrap());
        let out = skein(&args);
        assert_eq!(
            out.status.code(),
            Some(5),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    }
}

#[test]
fn io_reads_stdin_line_by_line_and_to_the_end() {
    let src = "\
var first = io.read_line();
print \"first: \" + first;
var second = io.read_line();
print \"second: [\" + second + \"]\";
var rest = io.read_all();
print \"rest: \" + str(len(rest));
print io.read_line();
print io.read_all() == \"\";
";
    let path = script("stdin", src);
    let (code, transcript) = skein_with_input(
        "stdin_run",
        &[path.to_str().unwrap()],
        "hello\r\n\nline three\nline four",
    );
    assert_eq!(code, Some(0), "{transcript}");
    assert_eq!(
        transcript,
        "first: hello\nsecond: []\nrest: 20\nnil\ntrue\n"
    );
}

#[test]
fn io_read_line_prompts_are_flushed_and_stderr_keeps_its_place() {
    let src = "\
io.write(\"name? \");
var name = io.read_line();
io.write_err(\"log: got \" + name + \"\\n\");
print \"hi \" + name;
io.write(\"a\");
io.write_err(\"b\");
io.write(\"c\\n\");
";
    let path = script("prompt", src);
    let (code, transcript) = skein_with_input("prompt_run", &[path.to_str().unwrap()], "ann\n");
    assert_eq!(code, Some(0), "{transcript}");
    assert_eq!(transcript, "name? log: got ann\nhi ann\nabc\n");
}

#[test]
fn io_lines_reads_a_file_named_on_the_command_line() {
    let dir = scratch("lines_arg");
    let data = dir.join("data.txt");
    let mut numbers = String::new();
    for i in 0..100_000 {
        numbers.push_str(&format!("{i}\n"));
    }
    std::fs::write(&data, numbers).unwrap();
    let path = dir.join("count.sk");
    std::fs::write(
        &path,
        "var n = 0;\nvar sum = 0;\nfor (var line in io.lines(os.args[0])) {\n  n = n + 1;\n  sum = sum + num(line);\n}\nprint str(n) + \" \" + str(sum);\n",
    )
    .unwrap();
    for procs in ["1", "2"] {
        let out = skein(&[
            "--procs",
            procs,
            path.to_str().unwrap(),
            data.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "100000 4999950000\n");
    }
}

#[test]
fn run_source_reports_the_exit_status() {
    let out = skein::run_source("print 1;\nos.exit(9);\nprint 2;", &skein::Options::new());
    assert_eq!(out.exit_code, 9);
    assert_eq!(out.stdout, "1\n");
    assert_eq!(out.stderr, "");
    let args = skein::run_source("print os.args;", &skein::Options::new().args(["x", "y"]));
    assert_eq!(args.stdout, "[\"x\", \"y\"]\n");
}

#[test]
fn a_goroutine_blocked_on_a_fifo_does_not_stop_the_others() {
    // At one processor, a goroutine blocks reading a FIFO that has no
    // writer yet; the ticker goroutine keeps counting meanwhile, because
    // sysmon takes the P from the blocked system call and hands it on.
    // The writer comes a second later: by then the ticker has run many
    // times.
    let dir = scratch("fifo");
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let src = format!(
        "var ticks = 0;\n\
         var done = chan();\n\
         fun reader() {{\n  done <- io.read_file(\"{}\");\n}}\n\
         fun ticker() {{\n  while (true) {{\n    sleep(20);\n    ticks = ticks + 1;\n  }}\n}}\n\
         go reader();\n\
         go ticker();\n\
         var got = <-done;\n\
         print got;\n\
         print ticks >= 10;\n",
        fifo.display()
    );
    let path = dir.join("prog.sk");
    std::fs::write(&path, src).unwrap();
    let trace = dir.join("trace.txt");
    let child = Command::new(SKEIN)
        .args(["--procs", "1", "--trace"])
        .arg(&trace)
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn skein");
    std::thread::sleep(std::time::Duration::from_millis(1000));
    // Opening for writing waits for the reader, which has the FIFO open.
    std::fs::write(&fifo, "hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "hello\n\ntrue\n");
    let events = std::fs::read_to_string(&trace).unwrap();
    for kind in ["GoSyscall", "ProcSteal", "GoSysExit"] {
        assert!(events.contains(kind), "no {kind} in the trace");
    }
}

#[test]
fn the_repl_writes_the_trace_it_was_asked_for() {
    use std::io::Write as _;
    let dir = scratch("repl_trace");
    let trace = dir.join("trace.txt");
    let mut child = Command::new(SKEIN)
        .arg("--trace")
        .arg(&trace)
        .env_remove("SKEINDEBUG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the REPL");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"var c = chan(1);\nc <- 1;\nprint <-c;\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "1\n");
    let events = std::fs::read_to_string(&trace).expect("the trace file");
    assert!(events.contains("GoCreate g=1 kind=main"), "{events}");
}
