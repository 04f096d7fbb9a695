//! The interactive loop behind a bare `skein` (the README's "REPL").
//!
//! One [`Vm`] lives for the whole session, so globals defined by one entry
//! are visible to the next. Each entry goes through these steps:
//!
//! 1. Read lines until the entry is complete ([`entry_is_complete`]): the
//!    compiler's `is_incomplete` says whether the input is merely
//!    unfinished: it ends inside a string, or its first error is at the end
//!    of input and more than a final `;` is missing (an open bracket, a
//!    trailing binary operator as in `1 +`, `var y =`, `if (c)`,
//!    `fun f()`). Input that is complete, or wrong before its end
//!    (`print )`), does not wait for more lines.
//! 2. A missing final `;` is forgiven: when an entry fails to compile only
//!    because it lacks its semicolon (the entry followed by a `;` on a new
//!    line compiles), the REPL supplies one. So `1 + 2` and `print x` work
//!    as typed. The `;` goes on its own line so that a trailing `//`
//!    comment cannot swallow it.
//! 3. A line starting with `:` is a command: `:help`, `:quit`, `:load FILE`,
//!    `:gc`, `:procs` (print the number of processors) and `:procs N`,
//!    `:goroutines`, `:time ENTRY`, `:trace on FILE`, `:trace off`. `:gc`,
//!    `:procs N` and `:trace` run `runtime.gc()`, `runtime.gomaxprocs(N)`
//!    and `runtime.trace_start(FILE)` / `runtime.trace_stop()` as entries.
//!    `:goroutines` prints [`goroutine_table`] of `Vm::goroutines` (each
//!    live user goroutine's id, state, wait reason, and the function and
//!    line where it stands). `:time ENTRY` runs ENTRY as an entry (it may
//!    span lines like any other) and then prints its wall-clock time,
//!    compilation included ([`format_duration`]).
//! 4. Anything else is compiled with `compile_repl` and run on the
//!    session's VM. An entry that is one expression statement prints its
//!    value as a list would show it: a string quoted and escaped (`"1"`,
//!    not `1`). Compile diagnostics and runtime errors go to stderr, and the
//!    session goes on.
//!
//! Two front ends share those steps:
//!
//! - When stdin is a terminal, rustyline edits the lines, one `readline`
//!   per line: the prompt is `> `, and `... ` on each further line of an
//!   unfinished entry (step 1 runs after every line; rustyline's own
//!   multi-line validator cannot show a prompt on continuation lines);
//!   rustyline's `buffer-redux` feature keeps what was typed or pasted
//!   ahead for the next `readline`, which would otherwise drop it. The
//!   finished entry goes into the history as one item, so recalling it
//!   brings back all its lines. The `Completer` offers keywords, the VM's
//!   globals and, after `name.`, the members of module `name`; Tab
//!   completes as far as the candidates agree and lists them when several
//!   remain. The `Highlighter` (`highlight`) colours keywords, strings,
//!   numbers and comments and marks the bracket at the cursor with its
//!   partner; rustyline calls it only when stdout is a terminal and
//!   `NO_COLOR` is unset. History lives in `~/.skein_history`; a missing
//!   home or an unwritable file only loses the history. A banner is
//!   printed first. Ctrl-C clears the entry being typed (every line of
//!   it) or interrupts the one running (`Interrupted.`); Ctrl-D ends the
//!   session, or on a continuation line ends the entry, which runs so that
//!   its error is reported.
//! - Otherwise (stdin is a pipe or a file) the loop reads lines itself and
//!   prints no prompt and no banner, so stdout holds only program output and
//!   command output whatever `TERM` says. (rustyline would print the prompt
//!   when `TERM=dumb`.) At end of input an unfinished entry is still run, so
//!   its error is reported rather than dropped. No history is written.
//!
//! The session's exit code is 0: errors inside it are reported, not fatal.
//! `os.exit(status)` is the exception: it ends the session with that status
//! as soon as the entry running ends (the entry and its goroutines stop at
//! once); called by a goroutine while the REPL waits for input, it ends the
//! session when the next line is entered, without running that line.
//! `os.args` is `[]` in the REPL.
//!
//! In a piped session the REPL reads stdin one line at a time, so a program
//! that reads stdin (`io.read_line`) gets the lines that follow its entry.
//!
//! # Output of goroutines that outlive their entry
//!
//! The VM is interactive (goroutines keep running between entries and
//! `print` is flushed line by line), so a goroutine may print while the
//! user is typing. On a terminal the VM therefore writes into a
//! [`ReplOutput`] rather than straight into stdout:
//!
//! 1. The loop marks the output as *reading* just before `readline` and
//!    clears the mark just after it returns.
//! 2. While reading, written bytes collect in a buffer; each time it holds
//!    a newline, everything up to the last newline is queued, as one
//!    message, for a forwarding thread, which hands it to rustyline's
//!    external printer. rustyline clears the prompt line, prints the
//!    message and redraws the prompt with the text typed so far. A partial
//!    line waits for its newline.
//! 3. Otherwise (an entry or a command is running, or the session is
//!    between two reads) bytes go straight to stdout and are flushed, so
//!    program output keeps its place among the REPL's own printing.
//! 4. Clearing the mark writes out a partial line still buffered and waits
//!    (briefly, see [`DRAIN_WAIT`]) until the forwarder has printed every
//!    queued message, so output produced during the read comes before
//!    output of the entry that follows.
//!
//! The forwarding thread exists because rustyline's printer can block: it
//! sends over a one-slot channel that only a running `readline` empties.
//! A VM thread blocked there would hold the VM's output lock and stall
//! every goroutine that prints, including the next entry's. Only the
//! forwarder ever waits on rustyline.
//!
//! Invariant: bytes are never reordered. Queued messages are printed in
//! queue order, and direct writes happen only once the queue has drained
//! (unless the drain wait timed out, when rustyline held a message back;
//! that message then appears above the next prompt).
//!
//! When stdout is not a terminal the external printer cannot be created and
//! every write goes straight to stdout; in piped mode the VM writes to
//! stdout directly.
//!
//! On a terminal the runtime errors of background goroutines go through
//! the same [`ReplOutput`] (the VM's error sink), so they too appear above
//! the prompt; in piped mode they go to stderr. Not routed: `gctrace`
//! lines, which the runtime writes to stderr itself.

use std::cell::RefCell;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use std::borrow::Cow;
use std::cell::Cell;
use std::time::Instant;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Editor, ExternalPrinter, Helper};
use skein_vm::sched::inspect::GoroutineInfo;
use skein_vm::Vm;

use crate::Options;

mod highlight;

/// Skein's reserved words, offered by tab completion.
pub const KEYWORDS: &[&str] = &[
    "and", "break", "case", "class", "continue", "default", "else", "false", "for", "fun", "go",
    "if", "in", "nil", "or", "print", "return", "select", "super", "this", "true", "var", "while",
];

/// The REPL's commands, offered by tab completion after `:`.
pub const COMMANDS: &[&str] = &[
    ":help",
    ":quit",
    ":load",
    ":gc",
    ":procs",
    ":goroutines",
    ":time",
    ":trace",
];

/// The text `:help` prints.
pub const HELP: &str = "\
Enter Skein declarations, statements or expressions. An expression's value is
printed, a string in quotes. Unfinished input (an open bracket or string, a
trailing operator, `var y =`, `if (c)`) continues on the next line after `... `;
a missing final `;` is supplied. Tab completes keywords, globals and module
members, and lists them when there are several.
Commands:
  :help            show this text
  :quit            leave the REPL (Ctrl-D does the same)
  :load FILE       run a script file in this session
  :gc              run a full collection and print memory statistics
  :procs           print the number of processors
  :procs N         set the number of processors (runtime.gomaxprocs(N))
  :goroutines      list the goroutines: id, state, wait reason, function, line
  :time ENTRY      run ENTRY and print its wall-clock time
  :trace on FILE   start recording an event trace, written to FILE
  :trace off       stop recording and write the trace
";

/// Name of the history file in the user's home directory.
pub const HISTORY_FILE: &str = ".skein_history";

/// The prompt shown before each entry on a terminal.
pub const PROMPT: &str = "> ";

/// The prompt shown before each further line of an unfinished entry.
pub const CONTINUATION_PROMPT: &str = "... ";

/// How long ending a read waits for queued goroutine output to be printed
/// (step 4 of the module docs). The forwarder normally needs microseconds;
/// the wait only runs out when rustyline kept a message back, and a quarter
/// of a second is short enough not to be noticed after pressing Enter.
pub const DRAIN_WAIT: Duration = Duration::from_millis(250);

/// Runs the REPL on the process's stdin until `:quit` or end of input;
/// returns the exit code.
pub fn run(opts: &Options) -> i32 {
    if std::io::stdin().is_terminal() {
        let out = ReplOutput::new();
        let session = Session::new(opts, Box::new(out.clone()));
        // A background goroutine's error is printed above the prompt too.
        session.vm.borrow().set_error_sink(Box::new(out.clone()));
        match run_interactive(&session, &out) {
            Ok(()) => return session.finish(),
            // The terminal could not be set up; fall back to plain reading.
            // Without an external printer `out` writes straight to stdout.
            Err(e) => eprintln!("skein: line editing unavailable ({e})"),
        }
        run_piped(&session, read_stdin_line);
        return session.finish();
    }
    let session = Session::new(opts, Box::new(std::io::stdout()));
    run_piped(&session, read_stdin_line);
    session.finish()
}

/// Reads one line of stdin into `buf`, holding stdin's lock only for the
/// line, so that programs run by the session can read stdin too.
fn read_stdin_line(buf: &mut Vec<u8>) -> std::io::Result<usize> {
    std::io::stdin().lock().read_until(b'\n', buf)
}

/// True when `entry` needs no more lines: it is a command (`:time` only
/// once the entry it times is complete), it parses to the end, or it lacks
/// only its final `;` (see the module docs).
pub fn entry_is_complete(entry: &str) -> bool {
    let trimmed = entry.trim_start();
    if let Some(timed) = trimmed.strip_prefix(":time") {
        if timed.starts_with(char::is_whitespace) {
            return entry_is_complete(timed);
        }
    }
    trimmed.starts_with(':') || !skein_compiler::is_incomplete(entry) || needs_semicolon(entry)
}

/// What a finished entry should be compiled as: the entry itself, or the
/// entry with a supplied final `;` when that is all it lacks.
pub fn prepare_entry(entry: &str) -> String {
    if needs_semicolon(entry) {
        format!("{entry}\n;")
    } else {
        entry.to_string()
    }
}

/// True when `entry` does not compile as it is but does with a final `;`.
/// This does not rely on `is_incomplete` counting a missing `;` at the end
/// as unfinished input.
fn needs_semicolon(entry: &str) -> bool {
    skein_compiler::compile_repl(entry).is_err()
        && skein_compiler::compile_repl(&format!("{entry}\n;")).is_ok()
}

/// The VM's stdout in a terminal session: routes output produced while a
/// line is being edited through rustyline's external printer, and writes
/// everything else straight to stdout (see the module docs). Clones share
/// one state; the VM owns one clone and the REPL loop another.
#[derive(Clone)]
pub struct ReplOutput(Arc<OutputShared>);

impl ReplOutput {
    /// An output with no external printer yet: every write goes straight
    /// to stdout until [`ReplOutput::attach`].
    pub fn new() -> ReplOutput {
        ReplOutput(Arc::new(OutputShared {
            state: Mutex::new(OutputState::default()),
            drained: Condvar::new(),
        }))
    }

    /// Routes output written during reads through `printer`, printed by a
    /// forwarding thread. Returns false (and leaves output direct) when the
    /// thread cannot be started.
    pub fn attach<P: ExternalPrinter + Send + 'static>(&self, mut printer: P) -> bool {
        let (tx, rx) = mpsc::channel::<String>();
        // A weak handle, so that the thread does not keep the sender (held
        // in the shared state) alive: the loop ends when the last clone of
        // this output is dropped.
        let shared = Arc::downgrade(&self.0);
        let started = std::thread::Builder::new()
            .name("skein-repl-printer".into())
            .spawn(move || {
                for message in rx {
                    if printer.print(message.clone()).is_err() {
                        // The terminal went away under rustyline; stdout
                        // is the best remaining place.
                        write_stdout(message.as_bytes());
                    }
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    let mut state = shared.lock();
                    state.in_flight -= 1;
                    if state.in_flight == 0 {
                        shared.drained.notify_all();
                    }
                }
            });
        if started.is_err() {
            return false;
        }
        self.0.lock().to_printer = Some(tx);
        true
    }

    /// Marks the start of a `readline`: from now on, complete lines go to
    /// the external printer.
    pub fn begin_read(&self) {
        self.0.lock().reading = true;
    }

    /// Marks the end of a `readline`: writes out a buffered partial line
    /// and waits up to [`DRAIN_WAIT`] for queued lines to be printed.
    pub fn end_read(&self) {
        let mut state = self.0.lock();
        state.reading = false;
        if !state.pending.is_empty() {
            let pending = std::mem::take(&mut state.pending);
            write_stdout(&pending);
        }
        let _ = self
            .0
            .drained
            .wait_timeout_while(state, DRAIN_WAIT, |s| s.in_flight > 0);
    }
}

impl Default for ReplOutput {
    fn default() -> Self {
        ReplOutput::new()
    }
}

impl Write for ReplOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut state = self.0.lock();
        if state.reading && state.to_printer.is_some() {
            state.pending.extend_from_slice(buf);
            if let Some(last) = state.pending.iter().rposition(|&b| b == b'\n') {
                let lines: Vec<u8> = state.pending.drain(..=last).collect();
                // A newline never falls inside a UTF-8 sequence, so the
                // lines hold whole characters; invalid bytes the program
                // printed are replaced, as the terminal would show them.
                let message = String::from_utf8_lossy(&lines).into_owned();
                state.in_flight += 1;
                let sent = state
                    .to_printer
                    .as_ref()
                    .is_some_and(|tx| tx.send(message).is_ok());
                if !sent {
                    // The forwarder is gone (it cannot panic in practice);
                    // print directly rather than lose the output.
                    state.in_flight -= 1;
                    state.to_printer = None;
                    write_stdout(&lines);
                }
            }
            return Ok(buf.len());
        }
        if !state.pending.is_empty() {
            let pending = std::mem::take(&mut state.pending);
            write_stdout(&pending);
        }
        // Holding the state lock keeps this write ordered after any line
        // another thread is queueing right now.
        let mut out = std::io::stdout().lock();
        out.write_all(buf)?;
        out.flush()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

/// The state behind a [`ReplOutput`].
struct OutputShared {
    state: Mutex<OutputState>,
    /// Signalled when `in_flight` drops to zero.
    drained: Condvar,
}

impl OutputShared {
    fn lock(&self) -> MutexGuard<'_, OutputState> {
        // Every update leaves the state consistent, so a writer that
        // panicked while holding the lock does not make it unusable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Default)]
struct OutputState {
    /// The forwarding thread's queue; `None` without an external printer.
    to_printer: Option<mpsc::Sender<String>>,
    /// True while `readline` runs.
    reading: bool,
    /// Bytes after the last newline written during a read.
    pending: Vec<u8>,
    /// Messages queued for the forwarder and not yet printed.
    in_flight: usize,
}

/// Writes `bytes` to stdout and flushes, ignoring errors (a closed stdout
/// loses program output, as `print` does elsewhere).
fn write_stdout(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// Whether the session should go on after an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

/// The state one REPL session keeps across entries.
struct Session {
    vm: Rc<RefCell<Vm>>,
    disasm: bool,
    /// `--trace FILE`: the session's event trace is written there when
    /// the session ends.
    trace: Option<(std::path::PathBuf, crate::TraceFormat)>,
}

impl Session {
    /// A session whose VM prints into `stdout`.
    fn new(opts: &Options, stdout: Box<dyn Write + Send>) -> Session {
        let vm = crate::new_vm(opts, stdout, true);
        Session {
            vm: Rc::new(RefCell::new(vm)),
            disasm: opts.disasm,
            trace: opts.trace.clone().map(|p| (p, opts.trace_format)),
        }
    }

    /// Ends the session: writes the `--trace` file, if one was asked for,
    /// and returns the exit code.
    fn finish(&self) -> i32 {
        if let Some((path, format)) = &self.trace {
            let format = format.vm();
            let vm = self.vm.borrow();
            let written = std::fs::File::create(path).and_then(|f| {
                let mut w = std::io::BufWriter::new(f);
                vm.write_trace(format, &mut w)?;
                w.flush()
            });
            if let Err(e) = written {
                eprintln!(
                    "Could not write trace \"{}\": {}.",
                    path.display(),
                    skein_vm::os_reason(&e)
                );
                return crate::EXIT_IO;
            }
        }
        self.exit_status()
    }

    /// The session's exit code: the status of `os.exit`, else 0.
    fn exit_status(&self) -> i32 {
        self.vm.borrow().exit_status().unwrap_or(0)
    }

    /// True once a goroutine has called `os.exit`.
    fn exiting(&self) -> bool {
        self.vm.borrow().exit_status().is_some()
    }

    /// Handles one complete entry: a command or Skein source.
    fn handle(&self, entry: &str) -> Flow {
        if self.exiting() {
            return Flow::Quit;
        }
        let trimmed = entry.trim();
        if trimmed.is_empty() {
            return Flow::Continue;
        }
        if let Some(command) = trimmed.strip_prefix(':') {
            return self.command(command);
        }
        self.eval(&prepare_entry(entry), true);
        if self.exiting() {
            return Flow::Quit;
        }
        Flow::Continue
    }

    /// Compiles and runs `src`, reporting errors on stderr. `repl` picks
    /// `compile_repl` (print a lone expression's value) over `compile`.
    fn eval(&self, src: &str, repl: bool) {
        let compiled = if repl {
            skein_compiler::compile_repl(src)
        } else {
            skein_compiler::compile(src)
        };
        let program = match compiled {
            Ok(program) => program,
            Err(diagnostics) => {
                let mut err = std::io::stderr().lock();
                for d in &diagnostics {
                    let _ = writeln!(err, "{d}");
                }
                return;
            }
        };
        if self.disasm {
            print!("{}", program.main.disassemble());
            let _ = std::io::stdout().flush();
        }
        let mut vm = self.vm.borrow_mut();
        // A Ctrl-C that arrived while no entry ran must not stop this one.
        vm.interrupt_flag()
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let result = vm.run(&program);
        vm.flush();
        match result {
            // `os.exit`: the caller ends the session.
            Err(e) if e.exit.is_some() => {}
            Err(e) => eprintln!("{e}"),
            Ok(()) => {}
        }
    }

    /// Runs the command `name args` (the text after `:`).
    fn command(&self, command: &str) -> Flow {
        let (name, arg) = match command.split_once(char::is_whitespace) {
            Some((name, arg)) => (name, arg.trim()),
            None => (command, ""),
        };
        match name {
            "help" | "h" | "?" => print!("{HELP}"),
            "quit" | "q" | "exit" => return Flow::Quit,
            "load" if arg.is_empty() => eprintln!("usage: :load FILE"),
            "load" => match crate::read_script(std::path::Path::new(arg)) {
                Ok(src) => self.eval(&src, false),
                Err(message) => eprintln!("{message}"),
            },
            "gc" => {
                self.eval("runtime.gc();", false);
                print!("{}", self.vm.borrow().runtime().memstats_text());
            }
            "procs" if arg.is_empty() => println!("{}", self.vm.borrow().procs()),
            "procs" => match arg.parse::<usize>() {
                Ok(n) if n >= 1 => self.eval(&format!("runtime.gomaxprocs({n});"), false),
                _ => eprintln!("usage: :procs [N] (N >= 1)"),
            },
            "goroutines" => print!("{}", goroutine_table(&self.vm.borrow().goroutines())),
            "time" if arg.is_empty() => eprintln!("usage: :time ENTRY"),
            "time" => {
                let started = Instant::now();
                self.eval(&prepare_entry(arg), true);
                println!("time: {}", format_duration(started.elapsed()));
            }
            "trace" => match arg.split_once(char::is_whitespace) {
                Some(("on", file)) => self.eval(
                    &format!("runtime.trace_start(\"{}\");", file.trim().replace('"', "")),
                    false,
                ),
                _ if arg == "off" => self.eval("runtime.trace_stop();", false),
                _ => eprintln!("usage: :trace on FILE | :trace off"),
            },
            _ => eprintln!("Unknown command ':{name}'; type :help for the list."),
        }
        let _ = std::io::stdout().flush();
        if self.exiting() {
            return Flow::Quit;
        }
        Flow::Continue
    }
}

/// What `:goroutines` prints: one line per goroutine, by id, e.g.
/// `goroutine 3 [waiting: chan_recv] at [line 2] in worker()`, or a line
/// saying there are none.
pub fn goroutine_table(gs: &[GoroutineInfo]) -> String {
    if gs.is_empty() {
        return "no goroutines\n".to_string();
    }
    let mut out = String::new();
    for g in gs {
        out.push_str(&format!("goroutine {} [{}", g.id, g.state.name()));
        if let Some(reason) = g.wait_reason {
            out.push_str(&format!(": {reason}"));
        }
        out.push(']');
        match (&g.function, g.line) {
            (Some(f), Some(line)) => out.push_str(&format!(" at [line {line}] in {f}")),
            (Some(f), None) => out.push_str(&format!(" in {f}")),
            _ => {}
        }
        out.push('\n');
    }
    out
}

/// A wall-clock time for `:time`: microseconds below a millisecond,
/// milliseconds below a second, else seconds, with three decimals.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1e-3 {
        format!("{:.3} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.3} ms", secs * 1e3)
    } else {
        format!("{secs:.3} s")
    }
}

/// The non-terminal front end: read lines (one `read_line` call each),
/// group them into entries, run them. Bytes that are not UTF-8 are
/// replaced, as in script files.
fn run_piped(session: &Session, mut read_line: impl FnMut(&mut Vec<u8>) -> std::io::Result<usize>) {
    let mut entry = String::new();
    let mut raw = Vec::new();
    loop {
        raw.clear();
        match read_line(&mut raw) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("skein: cannot read input: {e}");
                break;
            }
        }
        let text = String::from_utf8_lossy(&raw);
        let line = text.trim_end_matches(['\n', '\r']);
        if entry.is_empty() && line.trim().is_empty() {
            continue;
        }
        if !entry.is_empty() {
            entry.push('\n');
        }
        entry.push_str(line);
        if entry_is_complete(&entry) {
            let flow = session.handle(&std::mem::take(&mut entry));
            if flow == Flow::Quit {
                return;
            }
        }
    }
    if !entry.trim().is_empty() {
        session.handle(&entry);
    }
}

/// The terminal front end (rustyline).
fn run_interactive(session: &Session, out: &ReplOutput) -> rustyline::Result<()> {
    let config = Config::builder()
        .auto_add_history(false)
        // Tab completes as far as the candidates agree, then lists them.
        .completion_type(CompletionType::List)
        .completion_show_all_if_ambiguous(true)
        .build();
    let mut editor: Editor<SkeinHelper, rustyline::history::DefaultHistory> =
        Editor::with_config(config)?;
    // Without a printer (stdout is not a terminal, say) goroutine output
    // goes straight to stdout, which is then not a screen to garble.
    if let Ok(printer) = editor.create_external_printer() {
        out.attach(printer);
    }
    editor.set_helper(Some(SkeinHelper {
        vm: Rc::clone(&session.vm),
        brackets: Cell::new(false),
    }));
    // While an entry runs the terminal is in cooked mode, so Ctrl-C arrives
    // as SIGINT: stop that entry (`Interrupted.`) instead of the session.
    // While a line is edited, rustyline reads Ctrl-C as a key instead.
    let interrupt = session.vm.borrow().interrupt_flag();
    let _ = ctrlc::set_handler(move || {
        interrupt.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let history = history_path();
    if let Some(path) = &history {
        // A first session has no history file yet; that is not an error.
        let _ = editor.load_history(path);
    }
    println!(
        "Skein {}. Type :help for commands, Ctrl-D to quit.",
        env!("CARGO_PKG_VERSION")
    );
    // The entry read so far: its lines, joined with newlines.
    let mut entry = String::new();
    loop {
        let prompt = if entry.is_empty() {
            PROMPT
        } else {
            CONTINUATION_PROMPT
        };
        out.begin_read();
        let line = editor.readline(prompt);
        out.end_read();
        match line {
            Ok(line) => {
                if entry.is_empty() && line.trim().is_empty() {
                    continue;
                }
                if !entry.is_empty() {
                    entry.push('\n');
                }
                entry.push_str(&line);
                if !entry_is_complete(&entry) {
                    continue;
                }
                let entry = std::mem::take(&mut entry);
                let _ = editor.add_history_entry(entry.as_str());
                if session.handle(&entry) == Flow::Quit {
                    break;
                }
            }
            // Ctrl-C abandons the entry being typed.
            Err(ReadlineError::Interrupted) => entry.clear(),
            // Ctrl-D leaves, except on a continuation line, where it ends
            // the unfinished entry, which runs (reporting its error) as at
            // the end of piped input.
            Err(ReadlineError::Eof) if entry.is_empty() => break,
            Err(ReadlineError::Eof) => {
                let entry = std::mem::take(&mut entry);
                let _ = editor.add_history_entry(entry.as_str());
                if session.handle(&entry) == Flow::Quit {
                    break;
                }
            }
            Err(e) => {
                save_history(&mut editor, history.as_ref());
                return Err(e);
            }
        }
    }
    save_history(&mut editor, history.as_ref());
    Ok(())
}

/// Writes the history file, ignoring failure (an unwritable home only loses
/// the history).
fn save_history(
    editor: &mut Editor<SkeinHelper, rustyline::history::DefaultHistory>,
    path: Option<&PathBuf>,
) {
    if let Some(path) = path {
        let _ = editor.save_history(path);
    }
}

/// `~/.skein_history`, or `None` when there is no home directory.
fn history_path() -> Option<PathBuf> {
    std::env::home_dir()
        .filter(|home| !home.as_os_str().is_empty())
        .map(|home| home.join(HISTORY_FILE))
}

/// rustyline's hooks: completion and highlighting. (Entries are grouped
/// into lines by the loop, not by a validator, so that each further line
/// gets the continuation prompt.)
struct SkeinHelper {
    vm: Rc<RefCell<Vm>>,
    /// Whether to mark the bracket at the cursor and its partner: not on
    /// the final redraw of an accepted line, which stays on the screen.
    brackets: Cell<bool>,
}

impl Completer for SkeinHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let vm = self.vm.borrow();
        Ok(completions(
            &line[..pos],
            |module| vm.module_members(module),
            || vm.global_names(),
        ))
    }
}

impl Validator for SkeinHelper {}

impl Hinter for SkeinHelper {
    type Hint = String;
}

/// Called only when colours are on (stdout is a terminal, `NO_COLOR` is
/// unset); see `highlight`.
impl Highlighter for SkeinHelper {
    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        let cursor = self.brackets.get().then_some(pos);
        Cow::Owned(highlight::highlight(line, cursor))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, kind: CmdKind) -> bool {
        // Colours can change with every key (a word becomes a keyword, a
        // quote opens a string) and brackets with every move, so every
        // change redraws the line.
        self.brackets.set(kind != CmdKind::ForcedRefresh);
        true
    }
}

impl Helper for SkeinHelper {}

/// The forms of a `select` receive case, offered by tab completion right
/// after `case` (with the globals, for `case target = <-ch` and sends).
const CASE_FORMS: [&str; 3] = ["<-", "var v = <-", "var v, ok = <-"];

/// Completion candidates for the text before the cursor: the start of the
/// word being completed and the sorted candidates. After `name.` the
/// candidates are the members of module `name`; at the start of a line
/// beginning with `:` they are commands; right after `case` they are the
/// receive forms and globals; otherwise keywords and globals.
pub fn completions(
    before: &str,
    members: impl Fn(&str) -> Option<Vec<String>>,
    globals: impl Fn() -> Vec<String>,
) -> (usize, Vec<String>) {
    if before.starts_with(':') && !before.contains(char::is_whitespace) {
        let found = COMMANDS
            .iter()
            .filter(|c| c.starts_with(before))
            .map(|c| c.to_string())
            .collect();
        return (0, found);
    }
    let start = word_start(before);
    let word = &before[start..];
    let earlier = before[..start].trim_end();
    let previous_word = &earlier[word_start(earlier)..];
    let mut found: Vec<String> = if let Some(receiver_end) = before[..start].strip_suffix('.') {
        let receiver = &receiver_end[word_start(receiver_end)..];
        if receiver.is_empty() {
            Vec::new()
        } else {
            members(receiver).unwrap_or_default()
        }
    } else if previous_word == "case" {
        let mut all: Vec<String> = CASE_FORMS.iter().map(|k| k.to_string()).collect();
        all.extend(globals());
        all
    } else {
        let mut all: Vec<String> = KEYWORDS.iter().map(|k| k.to_string()).collect();
        all.extend(globals());
        all
    };
    found.retain(|c| c.starts_with(word));
    found.sort();
    found.dedup();
    (start, found)
}

/// Byte index where the identifier that ends `text` starts.
fn word_start(text: &str) -> usize {
    text.char_indices()
        .rev()
        .take_while(|&(_, c)| c.is_alphanumeric() || c == '_')
        .last()
        .map_or(text.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(before: &str) -> (usize, Vec<String>) {
        completions(
            before,
            |m| (m == "math").then(|| vec!["pi".into(), "pow".into(), "sqrt".into()]),
            || vec!["printer".into(), "math".into(), "value".into()],
        )
    }

    #[test]
    fn completes_keywords_and_globals() {
        assert_eq!(complete("pri"), (0, vec!["print".into(), "printer".into()]));
        assert_eq!(
            complete("var x = va"),
            (8, vec!["value".into(), "var".into()])
        );
        assert_eq!(complete("x + ma"), (4, vec!["math".into()]));
    }

    #[test]
    fn completes_module_members_after_a_dot() {
        assert_eq!(
            complete("print math.p"),
            (11, vec!["pi".into(), "pow".into()])
        );
        assert_eq!(
            complete("math."),
            (5, vec!["pi".into(), "pow".into(), "sqrt".into()])
        );
        assert_eq!(complete("value.x"), (6, vec![]));
        assert_eq!(complete("(1)."), (4, vec![]));
    }

    #[test]
    fn completes_select_receive_forms_after_case() {
        assert_eq!(
            complete("select { case va"),
            (
                14,
                vec!["value".into(), "var v = <-".into(), "var v, ok = <-".into()]
            )
        );
        assert_eq!(complete("select { case ").1.len(), 6);
        // Only after the keyword itself.
        assert_eq!(complete("showcase va").1, vec!["value", "var"]);
    }

    #[test]
    fn completes_commands() {
        assert_eq!(complete(":q"), (0, vec![":quit".into()]));
        assert_eq!(complete(":load fi").1, Vec::<String>::new());
    }

    #[test]
    fn unfinished_entries_wait_and_finished_or_wrong_ones_do_not() {
        for entry in [
            "1 +",
            "var y =",
            "if (c)",
            "fun f() {",
            "print \"a",
            ":time if (c)",
        ] {
            assert!(!entry_is_complete(entry), "{entry:?}");
        }
        for entry in [
            "1 + 2",
            "print 1",
            "print )",
            "1 + ;",
            ":help",
            ":time 1 + 2",
            ":time",
            ":timex (",
        ] {
            assert!(entry_is_complete(entry), "{entry:?}");
        }
        // A multi-line `:time` entry completes like the entry it times.
        assert!(entry_is_complete(":time fun f() {\n  return 1;\n}"));
    }

    #[test]
    fn completes_the_new_commands() {
        assert_eq!(
            complete(":g"),
            (0, vec![":gc".into(), ":goroutines".into()])
        );
        assert_eq!(complete(":ti"), (0, vec![":time".into()]));
    }

    #[test]
    fn goroutine_table_shows_id_state_reason_and_place() {
        use skein_vm::sched::inspect::GoroutineState;
        let g = |id, state, wait_reason, function: Option<&str>, line| GoroutineInfo {
            id,
            state,
            wait_reason,
            function: function.map(String::from),
            line,
        };
        let table = goroutine_table(&[
            g(
                2,
                GoroutineState::Waiting,
                Some("chan_recv"),
                Some("worker()"),
                Some(3),
            ),
            g(3, GoroutineState::Runnable, None, Some("script"), Some(1)),
            g(4, GoroutineState::Running, None, None, None),
            g(5, GoroutineState::Runnable, None, Some("?"), None),
        ]);
        assert_eq!(
            table,
            "goroutine 2 [waiting: chan_recv] at [line 3] in worker()\n\
             goroutine 3 [runnable] at [line 1] in script\n\
             goroutine 4 [running]\n\
             goroutine 5 [runnable] in ?\n"
        );
        assert_eq!(goroutine_table(&[]), "no goroutines\n");
    }

    #[test]
    fn durations_use_a_readable_unit() {
        assert_eq!(format_duration(Duration::from_nanos(1_500)), "1.500 µs");
        assert_eq!(format_duration(Duration::from_micros(12_345)), "12.345 ms");
        assert_eq!(format_duration(Duration::from_millis(2_500)), "2.500 s");
    }

    #[test]
    fn word_start_handles_unicode() {
        assert_eq!(word_start("é + ab"), 5);
        assert_eq!(word_start("x."), 2);
        assert_eq!(word_start(""), 0);
    }
}
