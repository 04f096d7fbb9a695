//! `skein trace`: reading recorded traces (any form but Chrome JSON, which
//! is an export).
//!
//! ```text
//! skein trace summary FILE                      figures, as stable text
//! skein trace html FILE [-o OUT.html]           a self-contained timeline page
//! skein trace convert FILE --to FORMAT [-o OUT] [--from T] [--until T]
//! skein trace diff A B [--context N]            where two traces first differ
//! ```
//!
//! A text trace does not say what its ticks stand for: `--ns-per-tick 100`
//! reads one recorded under `--sim` (a binary trace says it itself).
//!
//! `trace` must be the first word after `skein` (a script named `trace`
//! runs as `skein ./trace` or `skein run trace`). Exit status: 0, or 1
//! when `diff` finds a difference, 64 for a bad command line, 65 for a file
//! that is not a trace, 74 when a file cannot be read or written.
//!
//! Modules: `analysis` builds the model every command but `convert` and
//! `diff` reads; `summary` prints it; `html` embeds it in `viewer.html`;
//! `diff` compares two traces.

pub mod analysis;
pub mod diff;
pub mod html;
pub mod summary;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use skein_vm::trace::{Format, Reader};

use crate::{EXIT_IO, EXIT_USAGE};

/// `EX_DATAERR`: the input is not a trace this skein reads.
pub const EXIT_DATA: i32 = 65;

/// Reads a recorded trace: summary, HTML timeline, conversion, diff.
#[derive(Parser, Debug)]
#[command(name = "skein trace", disable_help_subcommand = true)]
struct TraceCli {
    #[command(subcommand)]
    command: TraceCommand,

    /// What a tick of a text trace stands for, in ns: 100 for a text trace
    /// of a --sim run (a binary trace records it itself).
    #[arg(long, global = true, value_name = "NS", default_value_t = 1)]
    ns_per_tick: u64,
}

#[derive(Subcommand, Debug)]
enum TraceCommand {
    /// Print GC cycles, pauses, MMU, mark workers and scheduling figures.
    Summary {
        /// A trace (.sktrace or text).
        file: PathBuf,
    },
    /// Write a self-contained HTML page with a zoomable timeline.
    Html {
        /// A trace (.sktrace or text).
        file: PathBuf,
        /// Where to write the page (default: FILE with .html).
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Convert a trace to another form.
    Convert {
        /// A trace (.sktrace or text).
        file: PathBuf,
        /// The form to write.
        #[arg(long, value_enum)]
        to: ToFormat,
        /// Where to write it (default: stdout).
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        /// Keep only events from this time on (from the trace's start:
        /// 250ms, 1.5s, 40us, 800ns), e.g. to give Perfetto a part of a
        /// long trace.
        #[arg(long, value_name = "TIME", value_parser = parse_duration)]
        from: Option<u64>,
        /// Keep only events up to this time (as --from).
        #[arg(long, value_name = "TIME", value_parser = parse_duration)]
        until: Option<u64>,
    },
    /// Show where two traces first differ (exit status 1 when they do).
    Diff {
        a: PathBuf,
        b: PathBuf,
        /// Events of context around the difference.
        #[arg(long, default_value_t = 5)]
        context: usize,
    },
}

/// `convert --to` values.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum ToFormat {
    Text,
    Chrome,
    Binary,
}

/// Runs `skein trace ...` (`args` starts at `trace`) and answers the exit
/// status.
pub fn main(args: Vec<OsString>) -> i32 {
    let mut words = vec![OsString::from("skein trace")];
    words.extend(args.into_iter().skip(1));
    let cli = match TraceCli::try_parse_from(words) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { 0 };
        }
    };
    match run(cli.command, cli.ns_per_tick) {
        Ok(status) => status,
        Err((status, message)) => {
            if !message.is_empty() {
                eprintln!("skein trace: {message}");
            }
            status
        }
    }
}

type Failure = (i32, String);

/// Runs one subcommand; `ns` is `--ns-per-tick`.
fn run(command: TraceCommand, ns: u64) -> Result<i32, Failure> {
    let stdout = std::io::stdout();
    match command {
        TraceCommand::Summary { file } => {
            let model = analyse(&file, ns)?;
            let text = summary::render(&model);
            write_out(&mut stdout.lock(), text.as_bytes())?;
            Ok(0)
        }
        TraceCommand::Html { file, output } => {
            let model = analyse(&file, ns)?;
            let text = summary::render(&model);
            let page = html::render(&model, &file.display().to_string(), &text);
            let out = output.unwrap_or_else(|| file.with_extension("html"));
            std::fs::write(&out, page).map_err(|e| io_failure(&out, &e))?;
            eprintln!("skein trace: wrote {}", out.display());
            Ok(0)
        }
        TraceCommand::Convert {
            file,
            to,
            output,
            from,
            until,
        } => {
            let mut reader = open(&file, ns)?;
            if from.is_some() || until.is_some() {
                reader.set_window(from.unwrap_or(0), until.unwrap_or(u64::MAX));
            }
            let format = match to {
                ToFormat::Text => Format::Text,
                ToFormat::Chrome => Format::Chrome,
                ToFormat::Binary => Format::Binary,
            };
            let result = match &output {
                Some(path) => std::fs::File::create(path)
                    .and_then(|f| {
                        let mut w = std::io::BufWriter::new(f);
                        skein_vm::trace::write(&mut reader, format, &mut w)?;
                        w.flush()
                    })
                    .map_err(|e| io_failure(path, &e)),
                None => {
                    let mut lock = stdout.lock();
                    skein_vm::trace::write(&mut reader, format, &mut lock)
                        .map_err(|e| stdout_failure(&e))
                }
            };
            result.map(|()| 0)
        }
        TraceCommand::Diff { a, b, context } => {
            let mut ra = open(&a, ns)?;
            let mut rb = open(&b, ns)?;
            let outcome = diff::diff(
                &mut ra,
                &a.display().to_string(),
                &mut rb,
                &b.display().to_string(),
                context,
            )
            .map_err(|e| data_failure(&a, &e))?;
            write_out(&mut stdout.lock(), outcome.report.as_bytes())?;
            Ok(if outcome.same { 0 } else { 1 })
        }
    }
}

/// Parses a duration: a number with `ns`, `us` (or `µs`), `ms` or `s`.
fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 250ms, 1.5s)"))?;
    let scale = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return Err(format!("`{s}`: the unit must be ns, us, ms or s")),
    };
    Ok((n * scale).round() as u64)
}

/// Opens a trace file; a text trace's ticks stand for `ns` nanoseconds.
pub fn open(path: &Path, ns: u64) -> Result<Reader, Failure> {
    let f = std::fs::File::open(path).map_err(|e| io_failure(path, &e))?;
    let mut reader =
        Reader::open(Box::new(std::io::BufReader::new(f))).map_err(|e| data_failure(path, &e))?;
    reader.set_text_ns_per_tick(ns);
    Ok(reader)
}

/// Opens and analyses a trace file.
fn analyse(path: &Path, ns: u64) -> Result<analysis::Model, Failure> {
    let mut reader = open(path, ns)?;
    analysis::analyse(&mut reader).map_err(|e| data_failure(path, &e))
}

fn write_out(w: &mut dyn Write, bytes: &[u8]) -> Result<(), Failure> {
    w.write_all(bytes)
        .and_then(|()| w.flush())
        .map_err(|e| stdout_failure(&e))
}

/// A failed write to stdout. A reader that went away (`skein trace convert
/// t.sktrace | head`) ends the command quietly with the status a shell
/// gives a process killed by SIGPIPE, as the interpreter's own output does;
/// an empty message tells `main` to print nothing.
fn stdout_failure(e: &std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return (skein_vm::EXIT_BROKEN_PIPE, String::new());
    }
    (
        EXIT_IO,
        format!("cannot write to stdout: {}", skein_vm::os_reason(e)),
    )
}

fn io_failure(path: &Path, e: &std::io::Error) -> Failure {
    (
        EXIT_IO,
        format!("{}: {}", path.display(), skein_vm::os_reason(e)),
    )
}

fn data_failure(path: &Path, e: &std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::InvalidData || e.kind() == std::io::ErrorKind::UnexpectedEof
    {
        (
            EXIT_DATA,
            format!("{}: not a trace this skein reads: {e}", path.display()),
        )
    } else {
        io_failure(path, e)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("40us"), Ok(40_000));
        assert_eq!(parse_duration("800ns"), Ok(800));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
