//! REPL tests (the README's "REPL"): a piped session snapshotted with insta, and a pty
//! session driven with rexpect.
//!
//! The piped transcript test feeds a scripted session on stdin and sends
//! stdout and stderr into one file (two descriptors sharing one file
//! offset), so the transcript shows each error where it happened. It checks
//! that globals persist across entries, that a multi-line function arrives
//! as one entry, that unfinished entries (`1 +`, `var y =`, `if (c)`)
//! continue on the next line while a wrong one (`print )`) is reported at
//! once, that expression entries print their value (with or without the
//! final `;`; a string quoted and escaped, `print` still raw), that compile
//! and runtime errors are reported and the session goes on, that `:help`
//! works, and that no prompt or banner reaches stdout.
//!
//! Two more piped tests check `os.args` (empty), `io.read_line` reading
//! the session's next input line, and `os.exit` ending the session with its
//! status, from an entry or from a goroutine.
//!
//! A second piped test runs the runtime commands: `:procs N` (checked with
//! `runtime.gomaxprocs(0)`) and `:procs` (prints the count), `:trace on
//! FILE` / `:trace off` (the file must appear), `:time ENTRY` (the entry
//! runs, a multi-line one too, then its time is printed) and `:gc` (it
//! prints the memory statistics). A third runs `:goroutines` before any
//! goroutine exists, with two blocked ones and a finished one, and after
//! one of them has finished.
//!
//! The pty tests type into a real terminal: a function over three lines, a
//! call, an error, another call, then Ctrl-D (the REPL must exit 0 and
//! leave its history in `$HOME/.skein_history`); the `... ` continuation
//! prompt, with Ctrl-C and Ctrl-D on a continuation line; quoted string
//! echoes; Tab completing one candidate and listing several; syntax and
//! bracket highlighting (colours on), and no colours when stdout is a
//! file; Ctrl-C during a running entry; a goroutine that prints while the
//! prompt waits (its line must appear above a redrawn prompt, not after
//! it, and the half-typed entry must survive); and `:procs 2`. The pty
//! tests other than the colour test set `NO_COLOR`, so echoed text reads as
//! typed. `HOME` points into the target directory so the tests never touch
//! the user's history.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
"1"
1
"tab\tquote\" back\\slash"
[1, "two"]
print "printed raw";
1 +
2
var y =
  40 + 2;
y
if (y > 1)
  print "continued";
print )
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
        ":procs 2\nprint runtime.gomaxprocs(0);\n:procs 0\n:procs\n:trace on {}\nprint 7;\n:trace off\n:time print 6 * 7;\n:time fun slow() {{\n  var i = 0; while (i < 1000) i = i + 1; return i;\n}}\n:time slow()\n:gc\nprint \"after\";\n",
        trace.display()
    );
    let (code, transcript) = piped_session("piped_runtime_commands_session", &input);
    assert_eq!(code, Some(0), "{transcript}");
    let lines: Vec<&str> = transcript.lines().collect();
    assert!(lines.len() > 10, "{transcript}");
    assert_eq!(
        lines[..4],
        ["2", "usage: :procs [N] (N >= 1)", "2", "7"],
        "{transcript}"
    );
    // `:time` runs its entry (a multi-line one too) and then prints the
    // time; an expression entry echoes its value as usual.
    let is_time = |l: &str| {
        l.strip_prefix("time: ")
            .and_then(|t| t.split_once(' '))
            .is_some_and(|(n, unit)| n.parse::<f64>().is_ok() && ["µs", "ms", "s"].contains(&unit))
    };
    assert_eq!(lines[4], "42", "{transcript}");
    assert!(is_time(lines[5]), "{transcript}");
    assert!(is_time(lines[6]), "{transcript}");
    assert_eq!(lines[7], "1000", "{transcript}");
    assert!(is_time(lines[8]), "{transcript}");
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

/// Ten seconds per expectation: generous for a loaded two-core machine.
const PTY_TIMEOUT_MS: u64 = 10_000;

/// Starts the REPL on a pseudo-terminal with `home` as its home directory,
/// without colours (`NO_COLOR`), so that echoed text can be matched as
/// typed.
fn spawn_pty(home: &std::path::Path) -> rexpect::session::PtySession {
    spawn_pty_with_timeout(home, PTY_TIMEOUT_MS)
}

/// `spawn_pty` with `timeout_ms` per expectation.
fn spawn_pty_with_timeout(home: &std::path::Path, timeout_ms: u64) -> rexpect::session::PtySession {
    let mut cmd = Command::new(SKEIN);
    cmd.env("HOME", home)
        .env("TERM", "xterm")
        .env("NO_COLOR", "1");
    rexpect::session::spawn_command(cmd, Some(timeout_ms)).expect("spawn skein on a pty")
}

/// Starts the REPL on a pseudo-terminal with colours on (the highlighter
/// runs).
fn spawn_pty_in_colour(home: &std::path::Path) -> rexpect::session::PtySession {
    let mut cmd = Command::new(SKEIN);
    cmd.env("HOME", home)
        .env("TERM", "xterm")
        .env_remove("NO_COLOR");
    rexpect::session::spawn_command(cmd, Some(PTY_TIMEOUT_MS)).expect("spawn skein on a pty")
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

#[test]
fn piped_goroutines_command_lists_live_goroutines() {
    // `sleep(300)` in the entry lets the goroutines start and park first
    // (a generous margin on a loaded machine: each needs microseconds).
    let input = "\
:goroutines
var ch = chan();
fun consumer() {
  return <-ch;
}
fun sleeper() { sleep(1000000); }
fun quick() { return 1; }
go consumer(); go sleeper(); go quick(); sleep(300);
:goroutines
ch <- 1; sleep(300);
:goroutines
";
    let (code, transcript) = piped_session("piped_goroutines", input);
    assert_eq!(code, Some(0), "{transcript}");
    let lines: Vec<&str> = transcript.lines().collect();
    assert_eq!(lines.len(), 4, "{transcript}");
    assert_eq!(lines[0], "no goroutines", "{transcript}");
    // Ids count every goroutine, the entries' own included, so only the
    // rest of each line is fixed.
    let rest = |line: &str| {
        let (head, tail) = line.split_once(" [").expect("goroutine N [...]");
        let id = head.strip_prefix("goroutine ").expect("goroutine N");
        assert!(id.parse::<u64>().is_ok(), "{line}");
        format!("[{tail}")
    };
    // Lines count from the start of each entry: `fun consumer() {` and
    // its body are one entry, `fun sleeper() ...` another.
    assert_eq!(
        rest(lines[1]),
        "[waiting: chan_recv] at [line 2] in consumer()"
    );
    assert_eq!(rest(lines[2]), "[waiting: sleep] at [line 1] in sleeper()");
    // Once the consumer has its value it is done and no longer listed.
    assert_eq!(rest(lines[3]), "[waiting: sleep] at [line 1] in sleeper()");
}

#[test]
fn pty_continuation_prompt_for_unfinished_entries() {
    let mut p = spawn_pty(&scratch("pty_continuation_home"));
    p.exp_string("> ").unwrap();
    // A trailing operator continues on a `... ` line.
    p.send_line("1 +").unwrap();
    p.exp_string("... ").unwrap();
    p.send_line("2").unwrap();
    p.exp_regex(r"\n3\r?\n").unwrap();
    p.exp_string("> ").unwrap();
    // `var y =` and `if (c)` too, over several lines.
    p.send_line("var y =").unwrap();
    p.exp_string("... ").unwrap();
    p.send_line("  40 +").unwrap();
    p.exp_string("... ").unwrap();
    p.send_line("  2;").unwrap();
    p.exp_string("> ").unwrap();
    p.send_line("if (y == 42)").unwrap();
    p.exp_string("... ").unwrap();
    p.send_line("print \"forty-two\";").unwrap();
    p.exp_regex(r"\nforty-two\r?\n").unwrap();
    p.exp_string("> ").unwrap();
    // A wrong entry is reported at once, without a continuation line.
    p.send_line("print );").unwrap();
    let before = p.exp_string("Expect expression.").unwrap();
    assert!(!before.contains("..."), "{before:?}");
    p.exp_string("> ").unwrap();
    // Ctrl-C on a continuation line drops the whole entry.
    p.send_line("print 5 *").unwrap();
    p.exp_string("... ").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("> ").unwrap();
    p.send_line("print \"fresh\";").unwrap();
    let (before, _) = p.exp_regex(r"\nfresh\r?\n").unwrap();
    assert!(!before.contains("Error"), "{before:?}");
    p.exp_string("> ").unwrap();
    // Ctrl-D on a continuation line runs the unfinished entry, which
    // reports its error; the session goes on.
    p.send_line("print 5 *").unwrap();
    p.exp_string("... ").unwrap();
    p.send_control('d').unwrap();
    p.exp_string("Error at end: Expect expression.").unwrap();
    p.exp_string("> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn pty_string_values_are_echoed_quoted() {
    let mut p = spawn_pty(&scratch("pty_quoted_home"));
    p.exp_string("> ").unwrap();
    p.send_line("\"1\"").unwrap();
    p.exp_regex("\n\"1\"\r?\n").unwrap();
    p.exp_string("> ").unwrap();
    p.send_line("1").unwrap();
    p.exp_regex("\n1\r?\n").unwrap();
    p.exp_string("> ").unwrap();
    p.send_line("\"a\\tb\"").unwrap();
    p.exp_regex(r#"\n"a\\tb"\r?\n"#).unwrap();
    p.exp_string("> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn pty_tab_lists_the_candidates_when_there_are_several() {
    let mut p = spawn_pty(&scratch("pty_tab_list_home"));
    p.exp_string("> ").unwrap();
    // Ctrl-U clears the line between tries, so everything is typed into
    // one `readline` (nothing can be lost between two).
    // One candidate: Tab completes it.
    p.send(":goro\t").unwrap();
    p.flush().unwrap();
    p.exp_string(":goroutines").unwrap();
    p.send_control('u').unwrap();
    // Several: one Tab lists them all below the line.
    p.send(":g\t").unwrap();
    p.flush().unwrap();
    p.exp_regex(r":gc\s+:goroutines").unwrap();
    p.send_control('u').unwrap();
    p.send("pu\t").unwrap();
    p.flush().unwrap();
    p.exp_string("push").unwrap();
    p.send_control('u').unwrap();
    p.send("p\t").unwrap();
    p.flush().unwrap();
    p.exp_regex(r"panic\s+pop\s+print\s+push").unwrap();
    p.send_control('u').unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn pty_highlights_syntax_and_matching_brackets() {
    let mut p = spawn_pty_in_colour(&scratch("pty_highlight_home"));
    p.exp_string("> ").unwrap();
    // Keywords, strings, numbers and comments are coloured as they are
    // typed (the SGR codes of `src/repl/highlight.rs`).
    p.send("print \"hi\" + 12; // note").unwrap();
    p.flush().unwrap();
    p.exp_string("\x1b[1;35mprint\x1b[0m").unwrap();
    p.exp_string("\x1b[32m\"hi\"\x1b[0m").unwrap();
    p.exp_string("\x1b[33m12\x1b[0m").unwrap();
    p.exp_string("\x1b[90m// note\x1b[0m").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("> ").unwrap();
    // A closing bracket just typed is marked together with its partner.
    p.send("print (1 + 2)").unwrap();
    p.flush().unwrap();
    p.exp_string("\x1b[1;4m(\x1b[0m").unwrap();
    p.exp_string("\x1b[1;4m)\x1b[0m").unwrap();
    p.send_line("").unwrap();
    p.exp_regex(r"\n3\r?\n").unwrap();
    p.exp_string("> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn pty_no_colours_when_stdout_is_not_a_terminal() {
    // stdin is the pty (so the line editor runs), stdout a file.
    let dir = scratch("pty_stdout_file");
    let out = dir.join("stdout.txt");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("exec \"{SKEIN}\" > \"{}\"", out.display()))
        .env("HOME", &dir)
        .env("TERM", "xterm")
        .env_remove("NO_COLOR");
    let mut p = rexpect::session::spawn_command(cmd, Some(PTY_TIMEOUT_MS)).expect("spawn");
    // The prompts go to the file too: type only when the editor waits
    // (before that the terminal is still in cooked mode).
    let prompts = |n: usize| {
        let deadline = Instant::now() + Duration::from_millis(PTY_TIMEOUT_MS);
        while Instant::now() < deadline {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            if text.matches("> ").count() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no prompt {n} in the stdout file");
    };
    prompts(1);
    p.send_line("print \"plain\" + \"text\"; // (comment)")
        .unwrap();
    prompts(2);
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
    let written = std::fs::read_to_string(&out).expect("stdout file");
    assert!(written.contains("plaintext"), "{written:?}");
    for code in ["\x1b[1;35m", "\x1b[32m", "\x1b[90m", "\x1b[1;4m"] {
        assert!(!written.contains(code), "{code:?} in {written:?}");
    }
}
