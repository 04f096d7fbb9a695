//! Skein's embedding API: compile and run Skein source from Rust.
//!
//! The `skein` binary is a thin layer over this crate, and the integration
//! tests use it to run programs in-process. The pieces:
//!
//! - [`Options`] (in [`options`]): what the command line and the
//!   environment configure, with a builder-style API, plus [`parse_size`]
//!   for `--max-heap` and the `SKEINGC` / `SKEINDEBUG` / `SKEINMAXPROCS`
//!   readers.
//! - [`run_source`]: compile and run a program, capturing stdout and stderr
//!   as strings, and report the exit code the binary would use.
//! - [`execute`]: the same pipeline writing to caller-supplied streams; the
//!   binary calls it with the process's stdout and stderr.
//! - [`embed`]: [`run`] and the [`Runner`] builder, which also hand back the
//!   event trace recorded in memory, and [`Trace`], which parses it, keeps
//!   the collector's events and writes them back as text (for snapshot and
//!   invariant tests of GC traces).
//! - [`repl`]: the interactive loop behind a bare `skein`.
//!
//! How a program runs (the steps of [`execute`]):
//!
//! 1. Compile with `skein_compiler::compile`. On failure, print every
//!    diagnostic to stderr, one per line, and answer [`EXIT_COMPILE`] (65).
//! 2. With `--disasm`, write the disassembly of the script and every nested
//!    function to stdout before running.
//! 3. Make a [`Vm`](skein_vm::Vm) whose `print` writes into the given stdout
//!    and run the program. On a runtime error, flush stdout first (so the
//!    program's output precedes the message, as in clox), print the error's
//!    message and stack trace to stderr and answer [`EXIT_RUNTIME`] (70).
//!    A program that called `os.exit(status)` answers that status and
//!    prints nothing more. Otherwise flush and answer 0.
//!
//! The exit codes are the BSD `sysexits.h` ones clox uses (`docs/language.md`):
//! 64 usage, 65 data (compile) error, 70 software (runtime) error, 74 I/O
//! error.
//!
//! Invariant: nothing here writes to the process's own stdout or stderr
//! except through the streams it is handed, so [`run_source`] captures
//! everything a run prints, except what the VM itself writes to the
//! process's stderr: `gctrace` lines and a `gccheckmark` failure.

pub mod embed;
pub mod explore;
pub mod options;
pub mod repl;
pub mod signals;
pub mod trace_tool;

use std::io::Write;
use std::sync::{Arc, Mutex};

pub use embed::{run, Run, Runner, Trace, TraceEvent, TraceParseError};
pub use explore::{Explore, Outcome, Outcomes, Shrunk, Strategy};
pub use options::{parse_gc_percent, parse_size, Options, TraceFormat};

/// Exit code for a bad command line (`EX_USAGE`).
pub const EXIT_USAGE: i32 = 64;
/// Exit code for a program that does not compile (`EX_DATAERR`).
pub const EXIT_COMPILE: i32 = 65;
/// Exit code for a runtime error (`EX_SOFTWARE`).
pub const EXIT_RUNTIME: i32 = 70;
/// Exit code for a script file that cannot be read (`EX_IOERR`).
pub const EXIT_IO: i32 = 74;

/// What one run printed and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOutput {
    /// Everything the program (and `--disasm`) wrote to stdout.
    pub stdout: String,
    /// Compile diagnostics, the runtime error (message and stack trace)
    /// and trace errors. `gctrace` lines are not here: the runtime
    /// writes them to the process's own stderr (`Runtime::debug_line`).
    pub stderr: String,
    /// The exit code the binary would use: 0, [`EXIT_COMPILE`] or
    /// [`EXIT_RUNTIME`].
    pub exit_code: i32,
}

/// Compiles and runs `src` in-process, capturing what it prints.
///
/// `print` output always lands in [`RunOutput::stdout`], and diagnostics
/// and the runtime error in [`RunOutput::stderr`]; `gctrace` lines do not:
/// the runtime writes them to the process's own stderr.
pub fn run_source(src: &str, opts: &Options) -> RunOutput {
    let out = SharedBuffer::default();
    let mut err = Vec::new();
    let exit_code = execute(src, opts, Box::new(out.clone()), &mut err);
    RunOutput {
        stdout: out.take_string(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
        exit_code,
    }
}

/// Compiles and runs `src`, writing program output to `stdout` and errors to
/// `stderr`; returns the exit code (0, 65, 70, or the status given to
/// `os.exit`). See the module docs for the
/// steps.
pub fn execute(
    src: &str,
    opts: &Options,
    stdout: Box<dyn Write + Send>,
    stderr: &mut dyn Write,
) -> i32 {
    execute_recording(src, opts, stdout, stderr).0
}

/// [`execute`], also returning the text trace when
/// [`Options::record_trace`] is set (then the trace stays in memory and no
/// trace file is written: the VM hands its events out once).
pub(crate) fn execute_recording(
    src: &str,
    opts: &Options,
    mut stdout: Box<dyn Write + Send>,
    stderr: &mut dyn Write,
) -> (i32, Option<String>) {
    let program = match skein_compiler::compile(src) {
        Ok(program) => program,
        Err(diagnostics) => {
            for d in &diagnostics {
                let _ = writeln!(stderr, "{d}");
            }
            let _ = stderr.flush();
            return (EXIT_COMPILE, None);
        }
    };
    if opts.disasm {
        let _ = stdout.write_all(program.main.disassemble().as_bytes());
        let _ = stdout.flush();
    }
    let mut vm = new_vm(opts, stdout, false);
    if opts.owns_process {
        signals::watch(vm.runtime());
    }
    let result = vm.run(&program);
    if opts.owns_process {
        signals::ended();
    }
    vm.flush();
    let mut trace = None;
    let mut flight_note = None;
    if opts.record_trace {
        let mut text = Vec::new();
        match vm.write_trace(skein_vm::trace::Format::Text, &mut text) {
            Ok(()) => trace = Some(String::from_utf8_lossy(&text).into_owned()),
            Err(e) => {
                let _ = writeln!(stderr, "Could not record the trace: {e}.");
            }
        }
    } else if let Some(path) = &opts.trace {
        let failed = matches!(&result, Err(e) if e.exit.is_none());
        match finish_trace(&vm, opts, path, failed) {
            Ok(true) => {
                flight_note = Some(format!(
                    "skein: the flight recorder's trace is in {}.",
                    path.display()
                ))
            }
            Ok(false) => {}
            Err(e) => {
                let _ = writeln!(stderr, "Could not write trace \"{}\": {e}.", path.display());
            }
        }
    }
    drop(vm);
    let status = if signals::quit_requested() {
        if let Err(e) = &result {
            let _ = writeln!(stderr, "{e}");
        }
        signals::EXIT_QUIT
    } else {
        match &result {
            Ok(()) => 0,
            // `os.exit(status)`: stdout is flushed and nothing is printed.
            Err(e) if e.exit.is_some() => e.exit.unwrap_or(0),
            Err(e) => {
                let _ = writeln!(stderr, "{e}");
                EXIT_RUNTIME
            }
        }
    };
    if let Some(note) = flight_note {
        let _ = writeln!(stderr, "{note}");
    }
    let _ = stderr.flush();
    (status, trace)
}

/// Ends the `--trace` recording of a finished run: a flight recording is
/// written only when the run `failed` (the answer is true when it was); a
/// binary trace was written as the run went; text and Chrome traces are
/// converted from the spooled recording.
fn finish_trace(
    vm: &skein_vm::Vm,
    opts: &Options,
    path: &std::path::Path,
    failed: bool,
) -> std::io::Result<bool> {
    if opts.trace_flight.is_some() {
        let image = vm.flight_image();
        vm.end_trace();
        if let (true, Some(image)) = (failed, image) {
            write_trace_image(&image, opts.trace_format, path)?;
            return Ok(true);
        }
        return Ok(false);
    }
    let format = opts.trace_format.vm();
    if format == skein_vm::trace::Format::Binary {
        return vm.end_trace().map_or(Ok(false), |r| r.map(|_| false));
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    vm.write_trace(format, &mut w)?;
    w.flush()?;
    Ok(false)
}

/// Writes a binary trace image to `path` in `format`.
pub fn write_trace_image(
    image: &[u8],
    format: TraceFormat,
    path: &std::path::Path,
) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    if format == TraceFormat::Binary {
        f.write_all(image)?;
    } else {
        let mut reader =
            skein_vm::trace::Reader::open(Box::new(std::io::Cursor::new(image.to_vec())))?;
        skein_vm::trace::write(&mut reader, format.vm(), &mut f)?;
    }
    f.flush()
}

/// Where a VM made from `opts` records its trace: in memory for the
/// embedding API, in the flight recorder's ring, straight into a
/// `.sktrace` file, or into an unnamed spool file that `finish_trace`
/// converts (so a long run's trace never sits in memory).
fn trace_destination(opts: &Options, interactive: bool) -> Option<skein_vm::trace::Destination> {
    use skein_vm::trace::Destination;
    if opts.record_trace {
        return Some(Destination::Memory);
    }
    let path = opts.trace.as_ref()?;
    if let Some(bytes) = opts.trace_flight {
        return Some(Destination::Flight(bytes));
    }
    let file = if opts.trace_format == TraceFormat::Binary && !interactive {
        skein_vm::trace::sink::open_trace_file(path)
    } else {
        tempfile::tempfile()
    };
    // An unwritable trace was reported before the run (`main`); a spool
    // that cannot be made leaves the run untraced.
    file.ok().map(Destination::File)
}

/// Reads a script file as the binary does: bytes that are not UTF-8 are
/// replaced with U+FFFD (which the scanner then reports as an unexpected
/// character), so only an unreadable file is an I/O error. The error is
/// the message to print, clox's `Could not open file "PATH".`.
pub fn read_script(path: &std::path::Path) -> Result<String, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(_) => Err(format!("Could not open file \"{}\".", path.display())),
    }
}

/// Makes a VM configured from `opts` whose `print` writes to `stdout`.
/// `interactive`: the REPL (goroutines outlive each entry; output is
/// flushed line by line).
///
/// This is the one place where [`Options`] become
/// [`VmOptions`](skein_vm::VmOptions).
pub fn new_vm(opts: &Options, stdout: Box<dyn Write + Send>, interactive: bool) -> skein_vm::Vm {
    let mut vm = skein_vm::Vm::new(skein_vm::VmOptions {
        max_heap: opts.max_heap,
        gc_percent: opts.gc_percent,
        gcstress: opts.gcstress,
        gctrace: opts.gctrace,
        gcstoptheworld: opts.gcstoptheworld,
        greenteagc: opts.greenteagc,
        gccheckmark: opts.gccheckmark,
        seed: opts.sim_seed,
        sim: opts.sim_seed,
        sim_strategy: opts.sim_strategy,
        sim_schedule: opts.sim_schedule.clone(),
        buggify: opts.buggify,
        procs: opts.procs,
        keep_running: interactive,
        line_flush: interactive || opts.line_buffered,
        trace: trace_destination(opts, interactive),
        stdout,
        exit_on_output_error: opts.owns_process,
        args: opts.args.clone(),
    });
    skein_stdlib::install(&mut vm);
    vm
}

/// A `Write` that appends to a buffer shared by its clones, so the VM can
/// own one clone while the caller keeps another to read the result.
#[derive(Clone, Default)]
pub struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// Takes everything written so far, leaving the buffer empty.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.lock())
    }

    /// Takes everything written so far as text (invalid UTF-8 replaced).
    pub fn take_string(&self) -> String {
        String::from_utf8_lossy(&self.take()).into_owned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A writer that panicked mid-write leaves whole bytes behind, so the
        // buffer is still usable after poisoning.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
