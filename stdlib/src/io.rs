//! The `io` module: standard streams and files.
//!
//! | function | effect |
//! |---|---|
//! | `io.write(s)` | writes `s` to stdout (buffered, no newline), as `print` does |
//! | `io.write_err(s)` | writes `s` to stderr, after flushing stdout |
//! | `io.read_line()` | one line of stdin without its newline; `nil` at end of input |
//! | `io.read_all()` | the rest of stdin (`""` at end of input) |
//! | `io.read_file(path)` | the file's contents |
//! | `io.write_file(path, s)` | creates or truncates the file and writes `s` |
//! | `io.append_file(path, s)` | appends `s`, creating the file if needed |
//! | `io.lines(path)` | a channel of the file's lines, closed at the end |
//!
//! A line ends at `\n`; the `\n` is dropped, and so is a `\r` right before
//! it (Go's `bufio.ScanLines`). A last line without a newline still counts;
//! an empty file has no lines. The reads of stdin flush stdout first, so a
//! prompt written with `io.write` shows before the program waits.
//!
//! Errors: `Could not read file "PATH": REASON.` and `Could not write file
//! "PATH": REASON.`, where REASON is the operating system's message (Rust's
//! `io::Error` text without its ` (os error N)` suffix). Wrong argument
//! types are errors naming the function (`read_file() expects a string.`).
//!
//! Reads that may block in the kernel for long (stdin, files, pipes and
//! FIFOs: `read_line`, `read_all`, `read_file`, `io.lines`' open and block
//! reads) return `Flow::Syscall`: the goroutine leaves the interpreter and
//! its M makes the call while sysmon hands the P to another M, so other
//! goroutines run on (`sched::syscall`); a `finish` function makes the
//! result when the goroutine runs again. Writes go through
//! `sched::syscall::blocking`, in place.
//!
//! # `io.lines`
//!
//! `io.lines(path)` opens the file and reads its first block (so a missing
//! file or a directory is an error at the call), then returns a channel of
//! capacity [`LINES_CAP`] that a new goroutine fills. The goroutine is a
//! built-in written in Skein ([`FILLER`], loaded hidden: its frames never
//! show in a stack trace) that calls the native [`fill`] until it returns
//! false. Each call of `fill`:
//! 1. waits, while the channel still holds lines, until a receive takes
//!    the last one (`chan::wait_drained`); parking as a sender on the full
//!    channel instead would wake the reader at every receive, and with two
//!    processors the reader and the consumer would then trade the channel
//!    back and forth a few lines at a time;
//! 2. reads one block of [`BLOCK`] bytes if no whole line is buffered (the
//!    buffer doubles when one line is longer than it), so one call never
//!    blocks the goroutine's P for more than one read;
//! 3. makes strings of as many buffered lines as the channel has room for
//!    (its capacity plus any receivers waiting) and sends them with one
//!    lock (`chan::send_many`): the consumer still receives one line per
//!    receive, but the two goroutines switch once per batch of up to
//!    [`LINES_CAP`] lines, not once per line;
//! 4. at end of file, closes the file and the channel and returns false.
//!
//! The reader's state (the open file, its buffer and the read position) is
//! a `Handle` object, which holds no Skein values: the collector only
//! drops it once the goroutine is done with it. The lines made by one call
//! live in a Rust vector only until the call returns, and no collection
//! runs inside a native. A consumer that stops early leaves the goroutine
//! parked, waiting for a drain that never comes, as an abandoned sender is
//! in Go.

use std::io::{BufRead, Read, Write};

use skein_vm::native::Flow;
use skein_vm::object::{as_handle, as_string, Handle, Kind};
use skein_vm::sched::{chan, proc, syscall};
use skein_vm::value::Value;
use skein_vm::Ctx;

use crate::R;

/// The module's functions.
pub(crate) const FUNCTIONS: &[(&str, Option<u8>, skein_vm::native::NativeFn)] = &[
    ("write", Some(1), write),
    ("write_err", Some(1), write_err),
    ("read_line", Some(0), read_line),
    ("read_all", Some(0), read_all),
    ("read_file", Some(1), read_file),
    ("write_file", Some(2), write_file),
    ("append_file", Some(2), append_file),
    ("lines", Some(1), lines),
];

/// The key under which the filler goroutine's function is kept.
pub(crate) const FILLER_KEY: &str = "io.lines.filler";
/// The key under which [`fill`] is kept.
pub(crate) const FILL_KEY: &str = "io.lines.fill";

/// The `io.lines` goroutine, in Skein: it calls `fill` until the file is
/// done. (A `fill` that parks returns `true` when it wakes, or, parked as a
/// sender, leaves the callee in its result register: neither is `false`,
/// so the loop goes on.)
pub(crate) const FILLER: &str = r#"
fun lines(ch, reader, fill) {
  while (fill(ch, reader)) {}
}
"#;

/// Bytes per read: 1 MiB holds more typical lines than one batch (so a
/// batch rarely waits for a read), and one read of it from the page cache
/// takes a fraction of a millisecond.
const BLOCK: usize = 1 << 20;

/// Capacity of an `io.lines` channel, the most lines one batch sends: the
/// reader and the consumer switch once per batch, and with two Ps each
/// switch is a wake-up of another thread (tens of microseconds), so the
/// batch is large; 8192 lines cost 64 KiB of channel buffer, and making
/// them takes a few hundred microseconds without a safepoint.
const LINES_CAP: usize = 8192;

/// The OS's message for `e`, without Rust's ` (os error N)` suffix.
fn reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
    }
}

fn read_error_text(path: &str, e: &std::io::Error) -> String {
    format!("Could not read file \"{path}\": {}.", reason(e))
}

fn write_error(path: &str, e: &std::io::Error) -> Flow {
    format!("Could not write file \"{path}\": {}.", reason(e)).into()
}

/// A path argument: its text (for messages) and the path itself.
fn path_arg(v: Value, err: &str) -> Result<(String, std::path::PathBuf), Flow> {
    let s = as_string(v).ok_or_else(|| Flow::from(err))?;
    let text = String::from_utf8_lossy(s.bytes()).into_owned();
    Ok((text, crate::os_str(s.bytes()).into()))
}

fn write(vm: &mut Ctx, a: &[Value]) -> R {
    let s = as_string(a[0]).ok_or("write() expects a string.")?;
    vm.rt.write_out(s.bytes());
    Ok(Value::NIL)
}

fn write_err(vm: &mut Ctx, a: &[Value]) -> R {
    let s = as_string(a[0]).ok_or("write_err() expects a string.")?;
    let rt = vm.rt;
    syscall::blocking(vm, || rt.write_err(s.bytes()));
    Ok(Value::NIL)
}

/// Drops a line's `\n` and a `\r` before it.
fn chomp(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn stdin_error_text(e: &std::io::Error) -> String {
    format!("Could not read standard input: {}.", reason(e))
}

/// What a read that may block for long hands its `finish`: the bytes
/// (`None` at end of input) or the error message.
type ReadOutput = Result<Option<Vec<u8>>, String>;

/// Runs `read` as a system call (`sched::syscall`: the goroutine's P goes
/// to another M while it blocks) and makes its result with `finish`.
fn read_syscall(
    read: impl FnOnce() -> ReadOutput + Send + 'static,
    finish: syscall::FinishFn,
) -> R {
    Err(Flow::Syscall(syscall::Syscall::new(
        move || Box::new(read()),
        finish,
    )))
}

/// The output of a `read_syscall`.
fn read_output(out: syscall::SysOutput) -> ReadOutput {
    *out.downcast::<ReadOutput>().expect("a read's output")
}

fn read_line(vm: &mut Ctx, _a: &[Value]) -> R {
    vm.rt.flush();
    read_syscall(
        || {
            let mut buf = Vec::new();
            match std::io::stdin().lock().read_until(b'\n', &mut buf) {
                Ok(0) => Ok(None),
                Ok(_) => Ok(Some(buf)),
                Err(e) => Err(stdin_error_text(&e)),
            }
        },
        |vm, _, out| {
            Ok(match read_output(out)? {
                Some(line) => vm.new_string(chomp(&line)),
                None => Value::NIL,
            })
        },
    )
}

fn read_all(vm: &mut Ctx, _a: &[Value]) -> R {
    vm.rt.flush();
    read_syscall(
        || {
            let mut buf = Vec::new();
            match std::io::stdin().lock().read_to_end(&mut buf) {
                Ok(_) => Ok(Some(buf)),
                Err(e) => Err(stdin_error_text(&e)),
            }
        },
        |vm, _, out| Ok(vm.new_string(&read_output(out)?.unwrap_or_default())),
    )
}

fn read_file(_vm: &mut Ctx, a: &[Value]) -> R {
    let (text, path) = path_arg(a[0], "read_file() expects a string.")?;
    read_syscall(
        move || match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) => Err(read_error_text(&text, &e)),
        },
        |vm, _, out| Ok(vm.new_string(&read_output(out)?.unwrap_or_default())),
    )
}

/// `write_file` and `append_file`: writes `a[1]` to the file `a[0]`.
fn put(vm: &mut Ctx, a: &[Value], name: &str, append: bool) -> R {
    let err = format!("{name}() expects two strings.");
    let (text, path) = path_arg(a[0], &err)?;
    let s = as_string(a[1]).ok_or(err)?;
    syscall::blocking(vm, || {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .append(append)
            .truncate(!append)
            .open(&path)
            .and_then(|mut f| f.write_all(s.bytes()))
    })
    .map_err(|e| write_error(&text, &e))?;
    Ok(Value::NIL)
}

fn write_file(vm: &mut Ctx, a: &[Value]) -> R {
    put(vm, a, "write_file", false)
}

fn append_file(vm: &mut Ctx, a: &[Value]) -> R {
    put(vm, a, "append_file", true)
}

/// The state of one `io.lines` reader (inside a `Handle`).
struct LineReader {
    /// The path as the program wrote it (for error messages).
    path: String,
    /// The open file; `None` once it is done.
    file: Option<std::fs::File>,
    /// Read bytes; the unread ones are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The file has no more bytes.
    eof: bool,
}

impl LineReader {
    /// Reads one block after the unread bytes (moved to the front first;
    /// the buffer doubles when they fill it, i.e. one line is longer).
    fn read_block(&mut self) -> Result<(), String> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let Some(file) = self.file.as_mut() else {
            self.eof = true;
            return Ok(());
        };
        let into = &mut self.buf[self.end..];
        let n = loop {
            match file.read(into) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        }
        .map_err(|e| read_error_text(&self.path, &e))?;
        if n == 0 {
            self.eof = true;
            self.file = None;
        }
        self.end += n;
        Ok(())
    }

    /// Whether a whole line (or, at end of file, a last one) is buffered.
    fn has_line(&self) -> bool {
        let rest = &self.buf[self.start..self.end];
        memchr::memchr(b'\n', rest).is_some() || (self.eof && !rest.is_empty())
    }
}

/// What the system calls of `io.lines` hand their `finish`: the reader
/// (moved out of its handle for the call) and the read's outcome.
type LinesOutput = (LineReader, Result<(), String>);

fn lines(_vm: &mut Ctx, a: &[Value]) -> R {
    let (text, path) = path_arg(a[0], "lines() expects a string.")?;
    // Opening a FIFO blocks until a writer opens it, and the first read
    // until data comes: both run as a system call.
    Err(Flow::Syscall(syscall::Syscall::new(
        move || {
            let mut reader = LineReader {
                path: text.clone(),
                file: None,
                buf: Vec::new(),
                start: 0,
                end: 0,
                eof: false,
            };
            let r = std::fs::File::open(&path)
                .map_err(|e| read_error_text(&text, &e))
                .and_then(|file| {
                    reader.file = Some(file);
                    reader.buf = vec![0; BLOCK];
                    reader.read_block()
                });
            let out: LinesOutput = (reader, r);
            Box::new(out)
        },
        lines_opened,
    )))
}

/// `io.lines`, once the file is open and its first block read: the channel
/// and the goroutine that fills it.
fn lines_opened(vm: &mut Ctx, _: Value, out: syscall::SysOutput) -> Result<Value, String> {
    let (reader, r) = *out.downcast::<LinesOutput>().expect("io.lines' output");
    r?;
    let ch = vm.alloc(Kind::Chan, chan::Chan::new(LINES_CAP), LINES_CAP * 8);
    let handle = vm.alloc(Kind::Handle, Handle::new(reader), BLOCK);
    let filler = vm
        .rt
        .builtin(FILLER_KEY)
        .expect("the stdlib keeps the filler");
    let fill = vm.rt.builtin(FILL_KEY).expect("the stdlib keeps fill");
    proc::newproc(vm, &[filler, ch, handle, fill]);
    Ok(ch)
}

/// A reader's state while a system call of `fill` has it.
struct Lent;

/// `fill`, once its read returned: the reader goes back into its handle,
/// and the filler goroutine calls `fill` again (the result `true`).
fn block_read(_vm: &mut Ctx, handle: Value, out: syscall::SysOutput) -> Result<Value, String> {
    let (reader, r) = *out.downcast::<LinesOutput>().expect("fill's output");
    let h = as_handle(handle).expect("fill's reader");
    *h.data.lock() = Box::new(reader);
    r.map(|()| Value::TRUE)
}

/// `fill(ch, reader)`: one step of an `io.lines` goroutine (see the module
/// docs); false once the file is done and the channel closed.
pub(crate) fn fill(vm: &mut Ctx, a: &[Value]) -> R {
    let (ch, h) = (a[0], as_handle(a[1]).expect("fill gets its reader"));
    // One batch per drained buffer: while the consumer has lines, wait.
    chan::wait_drained(vm, ch)?;
    let mut data = h.data.lock();
    let r = data
        .downcast_mut::<LineReader>()
        .expect("fill gets its reader");
    if !r.has_line() && !r.eof {
        // The read may block (a pipe, a FIFO): the reader leaves its
        // handle for the system call, and comes back with the block.
        let lent = std::mem::replace(&mut *data, Box::new(Lent));
        drop(data);
        let reader = *lent.downcast::<LineReader>().expect("fill gets its reader");
        return Err(Flow::Syscall(
            syscall::Syscall::new(
                move || {
                    let mut reader = reader;
                    let r = reader.read_block();
                    let out: LinesOutput = (reader, r);
                    Box::new(out)
                },
                block_read,
            )
            .with_arg(a[1]),
        ));
    }
    let room = chan::as_chan(ch).map_or(1, |c| c.room()).max(1);
    let mut vals = Vec::new();
    let mut ends = Vec::new();
    let mut pos = r.start;
    while vals.len() < room {
        let rest = &r.buf[pos..r.end];
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..=i], pos + i + 1),
            None if r.eof && !rest.is_empty() => (rest, r.end),
            None => break,
        };
        vals.push(vm.new_string(chomp(line)));
        ends.push(next);
        pos = next;
    }
    if vals.is_empty() {
        if r.eof {
            r.file = None;
            drop(data);
            chan::close(vm, ch)?;
            return Ok(Value::FALSE);
        }
        // Part of a line: the next call reads more.
        return Ok(Value::TRUE);
    }
    match chan::send_many(vm, ch, &vals) {
        Ok(sent) => {
            r.start = ends[sent - 1];
            Ok(Value::TRUE)
        }
        Err(Flow::Park(pk)) => {
            r.start = ends[0];
            Err(Flow::Park(pk))
        }
        Err(e) => Err(e),
    }
}
