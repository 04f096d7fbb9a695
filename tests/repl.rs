//! REPL tests (the README's "REPL"): a piped session snapshotted with insta, and a pty
//! session driven with rexpect.
//!
//! The piped test feeds a scripted session on stdin and sends stdout and
//! stderr into one file (two descriptors sharing one file offset), so the
//! transcript shows each error where it happened. It checks that globals
//! persist across entries, that a multi-line function arrives as one entry,
//! that expression entries print their value (with or without the final
//! `;`), that compile and runtime errors are reported and the session goes
//! on, that `:help` works, and that no prompt or banner reaches stdout.
//!
//! Two more piped tests check `os.args` (empty), `io.read_line` reading
//! the session's next input line, and `os.exit` ending the session with its
//! status, from an entry or from a goroutine.
//!
//! A further piped test runs the runtime commands: `:procs N` (checked with
//! `runtime.gomaxprocs(0)`), `:trace on FILE` / `:trace off` (the file must
//! appear) and `:gc` (it prints the memory statistics).
//!
//! The pty tests type into a real terminal: a function over three lines, a
//! call, an error, another call, then Ctrl-D (the REPL must exit 0 and
//! leave its history in `$HOME/.skein_history`); Ctrl-C during a running
//! entry; a goroutine that prints while the prompt waits (its line must
//! appear above a redrawn prompt, not after it, and the half-typed entry
//! must survive); and `:procs 2`. `HOME` points into the target directory
//! so the tests never touch the user's history.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const SKEIN: &str = env!("CARGO_BIN_EXE_skein");

/// A scratch directory for one test under Cargo's target tmpdir.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Runs the REPL with `input` on stdin; returns the exit code and the
/// merged stdout + stderr transcript.
fn piped_session(name: &str, input: &str) -> (Option<i32>, String) {
    let dir = scratch(name);
    let input_path = dir.join("input.txt");
    std::fs::write(&input_path, input).unwrap();
    let out_path = dir.join("transcript.txt");
    let out = File::create(&out_path).unwrap();
    let err = out.try_clone().unwrap();
    let status = Command::new(SKEIN)
        .env("HOME", &dir)
        // rustyline prints its prompt on a dumb terminal; the REPL must not.
        .env("TERM", "dumb")
        .stdin(File::open(&input_path).unwrap())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .status()
        .expect("spawn skein");
    let transcript = std::fs::read_to_string(&out_path).unwrap();
    (status.code(), transcript)
}

#[test]
fn piped_session_transcript() {
    let input = r#"var greeting = "hello";
fun add(a, b) {
  return a + b;
}
print add(1, 2);
add(20, 22)
1 + 2;
greeting + " world"
print nope;
var = 1;
print "still " + greeting;
{
  var local = add(2, 3);
  print local;
}
:help
add
"#;
    let (code, transcript) = piped_session("piped_session", input);
    assert_eq!(code, Some(0), "{transcript}");
    insta::assert_snapshot!(format!(
        "--- input ---\n{input}--- output ---\n{transcript}"
    ));
}

#[test]
fn piped_session_stops_at_quit_and_keeps_state_across_load() {
    let dir = scratch("piped_load");
    let script = dir.join("lib.sk");
    std::fs::write(
        &script,
        "var loaded = \"from file\";\nfun twice(x) { return 2 * x; }\n",
    )
    .unwrap();
    let input = format!(
        ":load {}\nprint loaded;\ntwice(21)\n:load {}\n:quit\nprint \"not reached\";\n",
        script.display(),
        dir.join("missing.sk").display()
    );
    let (code, transcript) = piped_session("piped_load_session", &input);
    assert_eq!(code, Some(0));
    let missing = format!(
        "Could not open file \"{}\".",
        dir.join("missing.sk").display()
    );
    assert_eq!(transcript, format!("from file\n42\n{missing}\n"));
}

#[test]
fn piped_session_reports_an_unfinished_last_entry() {
    let (code, transcript) = piped_session("piped_unfinished", "print 1;\nfun f() {\n");
    assert_eq!(code, Some(0));
    assert_eq!(
        transcript,
        "1\n[line 1] Error at end: Expect '}' after block.\n"
    );
}

#[test]
fn piped_session_reads_stdin_and_exits_with_os_exit() {
    // `os.args` is empty; `io.read_line` in an entry reads the lines after
    // it; `os.exit` ends the session with its status, and nothing after it
    // runs.
    let input = "print os.args;\nvar got = io.read_line();\nfirst data line\nprint \"got \" + got;\nos.exit(4);\nprint \"not reached\";\n";
    let (code, transcript) = piped_session("piped_exit", input);
    assert_eq!(code, Some(4), "{transcript}");
    assert_eq!(transcript, "[]\ngot first data line\n");
}

#[test]
fn piped_session_exit_from_a_goroutine_ends_the_session() {
    let input = "fun w() { os.exit(6); }\ngo w();\nsleep(50);\nprint \"not reached\";\n";
    let (code, transcript) = piped_session("piped_exit_goroutine", input);
    assert_eq!(code, Some(6), "{transcript}");
    assert_eq!(transcript, "");
}

#[test]
fn piped_runtime_commands() {
    let dir = scratch("piped_runtime_commands");
    let trace = dir.join("session.trace");
    let input = format!(
        ":procs 2\nprint runtime.gomaxprocs(0);\n:procs 0\n:trace on {}\nprint 7;\n:trace off\n:gc\nprint \"after\";\n",
        trace.display()
    );
    let (code, transcript) = piped_session("piped_runtime_commands_session", &input);
    assert_eq!(code, Some(0), "{transcript}");
    let lines: Vec<&str> = transcript.lines().collect();
    assert!(lines.len() > 3, "{transcript}");
    assert_eq!(
        lines[..3],
        ["2", "usage: :procs N (N >= 1)", "7"],
        "{transcript}"
    );
    assert!(trace.exists(), "no trace file; transcript:\n{transcript}");
    for key in [
        "heap_alloc: ",
        "heap_objects: ",
        "num_gc: ",
        "pause_total_ns: ",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(key)),
            "`:gc` printed no {key:?}:\n{transcript}"
        );
    }
    assert_eq!(lines.last(), Some(&"after"), "{transcript}");
}

/// Starts the REPL on a pseudo-terminal with `home` as its home directory.
fn spawn_pty(home: &std::path::Path) -> rexpect::session::PtySession {
    // Ten seconds per expectation: generous for a loaded two-core machine.
    spawn_pty_with_timeout(home, 10_000)
}

/// `spawn_pty` with `timeout_ms` per expectation.
fn spawn_pty_with_timeout(home: &std::path::Path, timeout_ms: u64) -> rexpect::session::PtySession {
    let mut cmd = Command::new(SKEIN);
    cmd.env("HOME", home).env("TERM", "xterm");
    rexpect::session::spawn_command(cmd, Some(timeout_ms)).expect("spawn skein on a pty")
}

/// Per-expectation timeout for the goroutine tests: the goroutine sleeps
/// 300 ms, so five seconds leaves a wide margin on a loaded machine while
/// keeping a hung REPL from stalling the suite.
const GOROUTINE_TIMEOUT_MS: u64 = 5_000;

/// The entry the goroutine tests type: a goroutine that prints `tick`
/// 300 ms after the entry has returned to the prompt.
const TICK_ENTRY: &str = r#"fun t() { sleep(300); print "tick"; } go t();"#;

/// Waits for the goroutine's `tick` line and checks that it was printed
/// at the start of a cleared line rather than after the waiting prompt or
/// the text typed on it. The echo of `TICK_ENTRY` holds `"tick"` in quotes,
/// which `tick\r?\n` cannot match.
fn expect_tick_above_prompt(p: &mut rexpect::session::PtySession) {
    let (before, _) = p.exp_regex(r"tick\r?\n").expect("goroutine output");
    // Plain stdout would write `tick` right after `> ` (and any typed
    // text). rustyline's external printer first returns the cursor to the
    // start of the prompt row and clears it, so `tick` starts in column 0.
    assert_eq!(
        cursor_column(&before),
        Some(0),
        "tick was not printed at the start of a line: {before:?}"
    );
    // The prompt is drawn again below the goroutine's line.
    p.exp_string("> ").expect("prompt redrawn after tick");
}

/// The cursor's column after the terminal has shown `text`, counted from
/// the last carriage return (`None` without one): printable characters and
/// `ESC [ n C` (cursor forward) move it right, other control sequences
/// (`ESC [` parameters, then a final byte in `@`..=`~`) are ignored. Only
/// what rustyline and the REPL emit is modelled.
fn cursor_column(text: &str) -> Option<usize> {
    let line = &text[text.rfind('\r')? + 1..];
    let mut column = 0;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            let mut params = String::new();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    if c == 'C' {
                        column += params.parse::<usize>().unwrap_or(1);
                    }
                    break;
                }
                params.push(c);
            }
        } else if !c.is_control() {
            column += 1;
        }
    }
    Some(column)
}

#[test]
fn pty_goroutine_output_is_printed_above_an_idle_prompt() {
    let home = scratch("pty_goroutine_idle_home");
    let mut p = spawn_pty_with_timeout(&home, GOROUTINE_TIMEOUT_MS);
    p.exp_string("> ").unwrap();
    p.send_line(TICK_ENTRY).unwrap();
    // The entry returns at once; nothing is typed while the goroutine
    // sleeps and prints.
    p.exp_string("> ").unwrap();
    expect_tick_above_prompt(&mut p);
    p.send_line("print 1+1;").unwrap();
    p.exp_regex(r"\n2\r?\n").unwrap();
    p.exp_string("> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn pty_goroutine_output_keeps_a_half_typed_entry() {
    let home = scratch("pty_goroutine_typing_home");
    let mut p = spawn_pty_with_timeout(&home, GOROUTINE_TIMEOUT_MS);
    p.exp_string("> ").unwrap();
    p.send_line(TICK_ENTRY).unwrap();
    p.exp_string("> ").unwrap();
    // Half an entry is on the prompt line when the goroutine prints.
    p.send("print 20 +").unwrap();
    p.flush().unwrap();
    expect_tick_above_prompt(&mut p);
    // The redrawn prompt shows the text typed so far, and typing goes on.
    p.exp_string("print 20 +").unwrap();
    p.send_line(" 22;").unwrap();
    p.exp_regex(r"\n42\r?\n").unwrap();
    p.exp_string("> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn pty_procs_command_sets_gomaxprocs() {
    let home = scratch("pty_procs_home");
    let mut p = spawn_pty_with_timeout(&home, GOROUTINE_TIMEOUT_MS);
    p.exp_string("> ").unwrap();
    p.send_line(":procs 2").unwrap();
    p.exp_string("> ").unwrap();
    p.send_line("print runtime.gomaxprocs(0);").unwrap();
    // A line holding only `2`; the echo of `:procs 2` is not one.
    p.exp_regex(r"\n2\r?\n").unwrap();
    p.exp_string("> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn pty_session_multiline_error_and_ctrl_d() {
    let home = scratch("pty_home");
    let mut p = spawn_pty(&home);
    p.exp_string("Skein").unwrap();
    p.exp_string("> ").unwrap();
    // rustyline may discard input typed before it re-enters raw mode for
    // the next entry, so each entry waits for the prompt; the lines of one
    // entry are typed in one go, as a user would.
    p.send_line("fun square(x) {").unwrap();
    p.send_line("  return x * x;").unwrap();
    p.send_line("}").unwrap();
    p.exp_string("> ").unwrap();
    p.send_line("square(7)").unwrap();
    p.exp_string("49").unwrap();
    p.exp_string("> ").unwrap();
    p.send_line("print missing;").unwrap();
    p.exp_string("Undefined variable 'missing'.").unwrap();
    p.exp_string("> ").unwrap();
    p.send_line("print square(3) + 1;").unwrap();
    p.exp_string("10").unwrap();
    p.exp_string("> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
    match p.process().wait() {
        Ok(rexpect::process::WaitStatus::Exited(_, code)) => assert_eq!(code, 0),
        other => panic!("REPL did not exit cleanly: {other:?}"),
    }
    let history = std::fs::read_to_string(home.join(".skein_history")).expect("history saved");
    assert!(history.contains("square(7)"), "{history}");
}

#[test]
fn pty_ctrl_c_interrupts_a_running_entry_and_the_session_goes_on() {
    let mut p = spawn_pty(&scratch("pty_interrupt_home"));
    p.exp_string("> ").unwrap();
    p.send_line("var kept = 41;").unwrap();
    p.exp_string("> ").unwrap();
    p.send_line("fun spin() { while (true) {} }").unwrap();
    p.exp_string("> ").unwrap();
    p.send_line("spin()").unwrap();
    // Give the loop time to start, then interrupt it as a user would.
    std::thread::sleep(std::time::Duration::from_millis(300));
    p.send_control('c').unwrap();
    p.exp_string("Interrupted.").unwrap();
    p.exp_string("in spin()").unwrap();
    p.exp_string("> ").unwrap();
    p.send_line("kept + 1").unwrap();
    p.exp_string("42").unwrap();
    p.exp_string("> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn pty_ctrl_c_interrupts_an_entry_blocked_on_a_channel() {
    let mut p = spawn_pty(&scratch("pty_interrupt_blocked_home"));
    p.exp_string("> ").unwrap();
    // A background goroutine that never ends, so a blocked entry is not a
    // deadlock: only Ctrl-C can end it.
    p.send_line("fun ticker() { while (true) sleep(50); } go ticker();")
        .unwrap();
    p.exp_string("> ").unwrap();
    p.send_line("var ch = chan(); fun wait() { return <-ch; } wait();")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    p.send_control('c').unwrap();
    p.exp_string("Interrupted.").unwrap();
    p.exp_string("in wait()").unwrap();
    p.exp_string("> ").unwrap();
    // The abandoned entry never resumes: a value sent now is simply taken.
    p.send_line("ch <- 1; print \"sent\";").unwrap();
    p.exp_string("sent").unwrap();
    p.exp_string("> ").unwrap();
    p.send_line("print 6 * 7;").unwrap();
    p.exp_string("42").unwrap();
    p.exp_string("> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn pty_background_goroutine_error_is_reported_and_the_session_goes_on() {
    let mut p = spawn_pty(&scratch("pty_background_error_home"));
    p.exp_string("> ").unwrap();
    p.send_line("fun bad() { sleep(200); var x = nil; x.y; } go bad();")
        .unwrap();
    p.exp_string("> ").unwrap();
    p.exp_string("Only instances have properties.").unwrap();
    p.exp_string("in bad()").unwrap();
    p.exp_regex(r"\[goroutine \d+\]").unwrap();
    p.send_line("print 2 + 2;").unwrap();
    p.exp_string("4").unwrap();
    p.exp_string("> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}
