//! The `skein` command (the README's "Command line").
//!
//! Usage:
//!
//! ```text
//! skein [FLAGS]                    the REPL
//! skein [FLAGS] FILE [ARGS...]      run a script
//! skein [FLAGS] run FILE [ARGS...]  run a script (flags may also follow `run`)
//! ```
//!
//! Every word after FILE, flags included, is an argument of the script
//! (`os.args`): `skein prog.sk --procs 2` hands `["--procs", "2"]` to the
//! program; Skein's own flags go before FILE.
//!
//! Steps:
//!
//! 1. Read the environment (`SKEINGC`, `SKEINDEBUG`, `SKEINMAXPROCS`) into
//!    [`Options`]; print each warning it produced to stderr.
//! 2. Parse the command line with clap and let the flags override the
//!    environment. clap exits with 2 on a bad command line; Skein uses 64
//!    (`EX_USAGE`), so errors are caught and mapped. `--help` and
//!    `--version` still exit 0.
//! 3. No script: run the REPL. A script: read it (74 with clox's message if
//!    it cannot be read), then compile and run it through
//!    [`skein::execute`], which prints diagnostics or the runtime error and
//!    answers the exit code.
//!
//! `run` is a subcommand, so `skein run` names the subcommand, never a file
//! called `run`: run such a file as `skein ./run` or `skein run run`. So is
//! `trace` as the first word (`skein trace summary FILE`, the tools of
//! `skein::trace_tool`), and `explore` (`skein explore FILE`,
//! `skein::explore`): scripts named so run as `skein ./trace`. There is
//! no `help` subcommand (so `skein help` runs a file named `help`); use
//! `--help`.
//!
//! The process's allocator is mimalloc: the VM allocates many small objects
//! from several threads, which is its strength. Miri cannot run its C code,
//! so Miri builds keep the system allocator.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use skein::{Options, TraceFormat, EXIT_IO, EXIT_USAGE};

#[cfg(not(miri))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sets mimalloc's options before anything allocates: a process
/// constructor, which the C runtime runs after mimalloc's own (which has
/// a priority) and before the Rust runtime's first allocation, because
/// mimalloc reserves its first arena at that allocation with the options
/// it then has (`skein_vm::raw::configure_allocator`).
#[cfg(all(target_os = "linux", not(miri)))]
#[used]
#[link_section = ".init_array"]
static CONFIGURE_ALLOCATOR: extern "C" fn() = {
    extern "C" fn configure() {
        skein_vm::raw::configure_allocator();
    }
    configure
};

/// Skein: Lox with goroutines, channels and select on a Go-style runtime.
///
/// With no FILE, starts the REPL. The words after FILE are the script's
/// arguments (`os.args`).
#[derive(Parser, Debug)]
#[command(name = "skein", version, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// The script to run; the words after it are its arguments (os.args).
    file: Option<PathBuf>,

    #[command(flatten)]
    flags: Flags,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a script.
    Run {
        /// The script to run; the words after it are its arguments
        /// (os.args).
        file: PathBuf,
    },
}

/// Flags accepted before FILE (before or after `run`).
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

    /// How --sim chooses its schedule: classic (Go's order, long slices;
    /// the default), random (any runnable goroutine at any safepoint), or
    /// pct[:DEPTH[:STEPS]] (priorities with DEPTH-1 change points).
    #[arg(long, value_name = "STRATEGY", global = true, requires = "sim",
          value_parser = clap::value_parser!(skein_vm::sched::strategy::Strategy))]
    sim_strategy: Option<skein_vm::sched::strategy::Strategy>,

    /// Replay a recorded schedule (printed by skein explore --shrink);
    /// needs --sim.
    #[arg(long, value_name = "TOKEN", global = true, requires = "sim",
          value_parser = |s: &str| skein_vm::sched::strategy::decode_schedule(s).map(Token))]
    sim_schedule: Option<Token>,

    /// Record an event trace to FILE.
    #[arg(long, value_name = "FILE", global = true)]
    trace: Option<PathBuf>,

    /// Format of the trace file: text (the default), chrome, or binary
    /// (the default for a FILE ending in .sktrace); needs --trace.
    #[arg(
        long,
        value_name = "FORMAT",
        global = true,
        value_enum,
        requires = "trace"
    )]
    trace_format: Option<Format>,

    /// Flight recorder: keep only the most recent SIZE of the trace (e.g.
    /// 16MB) and write it to the --trace FILE only if the program fails,
    /// on SIGQUIT, or at runtime.trace_snapshot(path); needs --trace.
    #[arg(
        long,
        value_name = "SIZE",
        global = true,
        value_parser = skein::parse_size,
        requires = "trace"
    )]
    trace_flight: Option<usize>,

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

/// A `--sim-schedule` token's decisions (a type of its own: clap reads a
/// bare `Vec` as a repeated flag).
#[derive(Clone, Debug)]
struct Token(Vec<u32>);

/// `--trace-format` values.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Chrome,
    Binary,
}

fn main() -> ExitCode {
    let (mut options, warnings) = Options::from_env();
    for w in warnings {
        eprintln!("skein: warning: {w}");
    }
    let argv: Vec<OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|w| w == "trace") {
        // `skein trace ...` reads recorded traces (`skein::trace_tool`).
        return code(skein::trace_tool::main(argv[1..].to_vec()));
    }
    if argv.get(1).is_some_and(|w| w == "explore") {
        // `skein explore ...` runs a program under many seeds
        // (`skein::explore`).
        return code(skein::explore::main(argv[1..].to_vec()));
    }
    let (skein_words, script_args) = split_script_args(argv);
    let cli = match Cli::try_parse_from(skein_words) {
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
    // Arguments that are not UTF-8 keep their bytes where they are valid
    // and get U+FFFD elsewhere, as script files do.
    options.args = script_args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if file.is_none() && options.trace_flight.is_some() {
        // A REPL session does not fail as a whole: nothing would ever
        // write the recording.
        eprintln!("error: --trace-flight needs a script (the REPL has no failure to record)");
        return code(EXIT_USAGE);
    }
    if let Some(trace) = &options.trace {
        // An unwritable trace fails before the program (or the REPL)
        // runs, not after it (the file is written again at the end). The
        // flight recorder writes only if the program fails, so its check
        // leaves an existing file as it is and removes one it made.
        let existed = trace.exists();
        let made = if options.trace_flight.is_some() {
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(trace)
        } else {
            // Not emptied here: a binary recording's writer thread cuts
            // off what an old trace held, off the program's path, and a
            // converted trace is written whole when the program ends.
            skein_vm::trace::sink::open_trace_file(trace)
        };
        if made.is_ok() && !existed && options.trace_flight.is_some() {
            let _ = std::fs::remove_file(trace);
        }
        if let Err(e) = made {
            eprintln!(
                "Could not write trace \"{}\": {}.",
                trace.display(),
                skein_vm::os_reason(&e)
            );
            return code(EXIT_IO);
        }
    }
    let status = match file {
        None => skein::repl::run(&options),
        Some(path) => match skein::read_script(&path) {
            Ok(src) => {
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

/// Skein's flags that take a value as the next word (unless written
/// `--flag=VALUE`).
const VALUE_FLAGS: &[&str] = &[
    "--procs",
    "--sim",
    "--sim-strategy",
    "--sim-schedule",
    "--trace",
    "--trace-format",
    "--trace-flight",
    "--max-heap",
];

/// Splits the command line at FILE: the words up to FILE are Skein's (for
/// clap), the words after it the script's (`os.args`), whatever they look
/// like. FILE is the first word that is neither a flag, nor a flag's value,
/// nor the first `run`; after `--` it is the next word.
fn split_script_args(argv: Vec<OsString>) -> (Vec<OsString>, Vec<OsString>) {
    let mut run_seen = false;
    let mut i = 1;
    while i < argv.len() {
        let word = argv[i].to_string_lossy();
        let file_at = if word == "--" {
            i + 1
        } else if word.starts_with('-') && word.len() > 1 {
            i += if VALUE_FLAGS.contains(&word.as_ref()) {
                2
            } else {
                1
            };
            continue;
        } else if word == "run" && !run_seen {
            run_seen = true;
            i += 1;
            continue;
        } else {
            i
        };
        let cut = (file_at + 1).min(argv.len());
        let mut skein = argv;
        let script = skein.split_off(cut);
        return (skein, script);
    }
    (argv, Vec::new())
}

/// Lets the command-line flags override what the environment set.
fn apply_flags(options: &mut Options, flags: &Flags) {
    if let Some(n) = flags.procs {
        options.procs = Some(n as usize);
    }
    if let Some(seed) = flags.sim {
        options.sim_seed = Some(seed);
    }
    if let Some(strategy) = flags.sim_strategy {
        options.sim_strategy = strategy;
    }
    if let Some(schedule) = &flags.sim_schedule {
        options.sim_schedule = Some(schedule.0.clone());
    }
    if let Some(path) = &flags.trace {
        options.trace = Some(path.clone());
    }
    let sktrace = flags
        .trace
        .as_ref()
        .is_some_and(|p| p.extension().is_some_and(|e| e == "sktrace"));
    options.trace_format = match flags.trace_format {
        None if sktrace => TraceFormat::Binary,
        None | Some(Format::Text) => TraceFormat::Text,
        Some(Format::Chrome) => TraceFormat::Chrome,
        Some(Format::Binary) => TraceFormat::Binary,
    };
    if let Some(bytes) = flags.trace_flight {
        options.trace_flight = Some(bytes);
    }
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

#[cfg(test)]
mod tests {
    use super::split_script_args;
    use std::ffi::OsString;

    fn split(line: &str) -> (String, String) {
        let argv: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
        let (skein, script) = split_script_args(argv);
        let join = |v: Vec<OsString>| {
            v.iter()
                .map(|w| w.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        (join(skein), join(script))
    }

    #[test]
    fn the_words_after_the_file_belong_to_the_script() {
        let cases = [
            ("skein", ("skein", "")),
            ("skein --procs 2", ("skein --procs 2", "")),
            ("skein a.sk", ("skein a.sk", "")),
            ("skein a.sk b --c", ("skein a.sk", "b --c")),
            (
                "skein --procs 2 a.sk --procs 3",
                ("skein --procs 2 a.sk", "--procs 3"),
            ),
            (
                "skein --sim=4 --gctrace a.sk x",
                ("skein --sim=4 --gctrace a.sk", "x"),
            ),
            ("skein run a.sk --disasm", ("skein run a.sk", "--disasm")),
            (
                "skein --procs 2 run --disasm a.sk x",
                ("skein --procs 2 run --disasm a.sk", "x"),
            ),
            ("skein run run x", ("skein run run", "x")),
            ("skein a.sk run b.sk", ("skein a.sk", "run b.sk")),
            ("skein -- -odd.sk x", ("skein -- -odd.sk", "x")),
            ("skein --trace t.txt a.sk", ("skein --trace t.txt a.sk", "")),
        ];
        for (line, (skein, script)) in cases {
            assert_eq!(split(line), (skein.into(), script.into()), "{line}");
        }
    }
}
