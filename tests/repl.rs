//! REPL tests (SPEC §6): a piped session snapshotted with insta, and a pty
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
//! The pty test types into a real terminal: a function over three lines, a
//! call, an error, another call, then Ctrl-D; the REPL must exit 0 and
//! leave its history in `$HOME/.skein_history`. `HOME` points into the
//! target directory so the tests never touch the user's history.

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

/// Starts the REPL on a pseudo-terminal with `home` as its home directory.
fn spawn_pty(home: &std::path::Path) -> rexpect::session::PtySession {
    let mut cmd = Command::new(SKEIN);
    cmd.env("HOME", home).env("TERM", "xterm");
    // Ten seconds per expectation: generous for a loaded two-core machine.
    rexpect::session::spawn_command(cmd, Some(10_000)).expect("spawn skein on a pty")
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
