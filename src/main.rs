//! The `skein` command (SPEC §6).
//!
//! Usage:
//!
//! ```text
//! skein [FLAGS]              the REPL
//! skein [FLAGS] FILE         run a script
//! skein [FLAGS] run FILE     run a script (flags may also follow `run`)
//! ```
//!
//! Steps:
//!
//! 1. Read the environment (`SKEINGC`, `SKEINDEBUG`, `SKEINMAXPROCS`) into
//!    [`Options`]; print each warning it produced to stderr.
//! 2. Parse the command line with clap and let the flags override the
//!    environment. clap exits with 2 on a bad command line; Skein uses 64
//!    (`EX_USAGE`, SPEC §1.2), so errors are caught and mapped. `--help` and
//!    `--version` still exit 0.
//! 3. No script: run the REPL. A script: read it (74 with clox's message if
//!    it cannot be read), then compile and run it through
//!    [`skein::execute`], which prints diagnostics or the runtime error and
//!    answers the exit code.
//!
//! `run` is a subcommand, so `skein run` names the subcommand, never a file
//! called `run`: run such a file as `skein ./run` or `skein run run`. There is
//! no `help` subcommand (so `skein help` runs a file named `help`); use
//! `--help`.
//!
//! The process's allocator is mimalloc: the VM allocates many small objects
//! from several threads, which is its strength. Miri cannot run its C code,
//! so Miri builds keep the system allocator.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use skein::{Options, TraceFormat, EXIT_IO, EXIT_USAGE};

#[cfg(not(miri))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Skein: Lox with goroutines, channels and select on a Go-style runtime.
///
/// With no FILE, starts the REPL.
#[derive(Parser, Debug)]
#[command(name = "skein", version, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// The script to run.
    file: Option<PathBuf>,

    #[command(flatten)]
    flags: Flags,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a script.
    Run {
        /// The script to run.
        file: PathBuf,
    },
}

/// Flags accepted before or after `run`.
#[derive(Args, Debug)]
struct Flags {
    /// Number of processors (Ps), 1 to 256; default SKEINMAXPROCS or the
    /// CPU count.
    #[arg(long, value_name = "N", global = true,
          value_parser = clap::value_parser!(u32).range(1..=skein::options::MAX_PROCS as i64))]
    procs: Option<u32>,

    /// Deterministic mode: one OS thread, virtual time, schedule from SEED.
    #[arg(long, value_name = "SEED", global = true)]
    sim: Option<u64>,

    /// Record an event trace to FILE.
    #[arg(long, value_name = "FILE", global = true)]
    trace: Option<PathBuf>,

    /// Format of the trace file (text, the default, or chrome); needs
    /// --trace.
    #[arg(
        long,
        value_name = "FORMAT",
        global = true,
        value_enum,
        requires = "trace"
    )]
    trace_format: Option<Format>,

    /// Print one line per GC cycle to stderr (SKEINDEBUG=gctrace=1).
    #[arg(long, global = true)]
    gctrace: bool,

    /// Heap limit, e.g. 64MB, 1G, 512KiB or a byte count (binary units).
    #[arg(long, value_name = "SIZE", global = true, value_parser = skein::parse_size)]
    max_heap: Option<usize>,

    /// Print the bytecode to stdout, then run.
    #[arg(long, global = true)]
    disasm: bool,
}

/// `--trace-format` values.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Chrome,
}

fn main() -> ExitCode {
    let (mut options, warnings) = Options::from_env();
    for w in warnings {
        eprintln!("skein: warning: {w}");
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                code(EXIT_USAGE)
            } else {
                // `--help` and `--version` print to stdout and succeed.
                ExitCode::SUCCESS
            };
        }
    };
    apply_flags(&mut options, &cli.flags);
    let file = match (cli.command, cli.file) {
        (Some(Command::Run { file }), None) => Some(file),
        (None, file) => file,
        (Some(_), Some(_)) => {
            eprintln!("error: name the script once, as FILE or as `run FILE`");
            return code(EXIT_USAGE);
        }
    };
    let status = match file {
        None => skein::repl::run(&options),
        Some(path) => match skein::read_script(&path) {
            Ok(src) => {
                if let Some(trace) = &options.trace {
                    // An unwritable trace fails before the program runs,
                    // not after it (the file is written again at the end).
                    if let Err(e) = std::fs::File::create(trace) {
                        eprintln!(
                            "Could not write trace \"{}\": {}.",
                            trace.display(),
                            skein_vm::os_reason(&e)
                        );
                        return code(EXIT_IO);
                    }
                }
                options.line_buffered = std::io::stdout().is_terminal();
                options.owns_process = true;
                skein::signals::install();
                // Not locked: the runtime's threads write gctrace lines and
                // goroutine errors to stderr while the program runs.
                let mut stderr = std::io::stderr();
                let status =
                    skein::execute(&src, &options, Box::new(std::io::stdout()), &mut stderr);
                let _ = stderr.flush();
                status
            }
            Err(message) => {
                eprintln!("{message}");
                EXIT_IO
            }
        },
    };
    code(status)
}

/// Lets the command-line flags override what the environment set.
fn apply_flags(options: &mut Options, flags: &Flags) {
    if let Some(n) = flags.procs {
        options.procs = Some(n as usize);
    }
    if let Some(seed) = flags.sim {
        options.sim_seed = Some(seed);
    }
    if let Some(path) = &flags.trace {
        options.trace = Some(path.clone());
    }
    options.trace_format = match flags.trace_format {
        None | Some(Format::Text) => TraceFormat::Text,
        Some(Format::Chrome) => TraceFormat::Chrome,
    };
    options.gctrace |= flags.gctrace;
    if let Some(bytes) = flags.max_heap {
        options.max_heap = Some(bytes);
    }
    options.disasm |= flags.disasm;
}

/// An exit status from one of Skein's codes (all of which fit in a byte).
fn code(status: i32) -> ExitCode {
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}
