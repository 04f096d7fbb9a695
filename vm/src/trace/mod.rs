//! The runtime event trace: what the scheduler and the collector record, how
//! it is recorded in bounded memory, and the forms it is written in
//! (`docs/runtime.md` describes them for users).
//!
//! # Recording: one buffer per P, streamed
//!
//! Every P owns an [`encode::Buffer`]. Only the thread that holds the P
//! appends to it, so a push takes no lock: the event is encoded at once into
//! the compact binary form (`encode`), in deterministic mode stamped with
//! the next value of a global sequence counter (below). A full buffer is handed
//! to the runtime's [`sink::Sink`] as one batch, which appends it to a file
//! (or keeps it in memory, or in the flight recorder's ring). Events outside
//! any P (a stop-the-world driven while no P is held) go into the outside
//! P's buffer, and sysmon's into one more behind a lock. So a traced run
//! holds at most a batch per P in memory, plus what the sink keeps.
//!
//! # Reading and merging
//!
//! [`reader::Reader`] reads a recording back (binary or text) and merges
//! the streams into one ordered by `(tick, seq)`:
//! 1. `tick` is the clock reading when the event happened: virtual ticks in
//!    deterministic mode, nanoseconds since the trace started otherwise
//!    (recorded as `cputicks`, converted by the reader).
//! 2. `seq` breaks ties in deterministic mode, where many events share a
//!    virtual tick: two events with the same tick keep the order in which
//!    they were pushed, even across buffers. Every P runs on one OS thread
//!    there, so the push order, and with it the whole merged stream, is
//!    the same on every run. With a real clock, ticks are CPU time-stamp
//!    counts (`cputicks`), fine enough that events of different Ps never
//!    need a tie-break, so `seq` is 0 and no event pays for a shared
//!    counter (one contended cache line would cost more than the rest of
//!    the event). Among events with equal `(tick, seq)` the streams' order
//!    decides: P0, P1, ..., the outside P, sysmon. (In deterministic mode
//!    sysmon's events, which carry `seq` 0, come first among events of
//!    their tick.)
//!
//! Invariants: within one stream, events are in `(tick, seq)` order; the
//! merged stream is sorted by `(tick, seq)` and holds every recorded event
//! exactly once.
//!
//! # Text form
//!
//! One event a line, stable for snapshot tests:
//! ```text
//! <tick> P<p> G<g> <Event> key=value ...
//! ```
//! `P-` / `G-` stand where no P or G applies; the arguments follow in the
//! order they were added; unsigned and signed values print in decimal, words
//! as they are (they come from the runtime's fixed vocabulary, which holds
//! no spaces). For example `1200 P0 G1 GoCreate g=2 kind=user`.
//!
//! Two things are recorded for viewers and left out of the text form, so
//! that the text form stays what the snapshot tests pin down: [`Arg::Label`]
//! arguments (a goroutine's function name, `GoCreate fn=`), and the events
//! [`EventKind::is_extended`] names (`HeapAlloc` samples of the heap).
//!
//! # Chrome form
//!
//! Chrome trace-event JSON, for Perfetto (`chrome`).
//!
//! # Binary form
//!
//! The recording itself (`encode` documents the layout); `.sktrace`.

pub mod chrome;
pub mod encode;
pub mod reader;
pub mod sink;

use std::fmt;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;

pub use encode::{Buffer, EventKey, Key};
pub use reader::Reader;
pub use sink::{Destination, Recording, Sink};

/// The real clock of a trace: the CPU's time-stamp counter where there is
/// one (Go's `cputicks`; reading it costs a third of reading the system's
/// monotonic clock, and a busy program records millions of events), in
/// units of 16 cycles, else nanoseconds since the process first asked. A recording notes how many
/// nanoseconds its ticks took (`sink`), and the reader turns ticks into
/// nanoseconds with that rate.
#[inline]
pub fn cputicks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions: it reads a counter and
        // touches no memory.
        let tsc = unsafe { core::arch::x86_64::_rdtsc() };
        // Units of 16 cycles (about 5 ns): finer than any two events of
        // different Ps that depend on each other (a hand-off between
        // threads takes tens of nanoseconds), and the deltas between a
        // P's events then mostly fit in one byte.
        tsc >> 4
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        BASE.get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos() as u64
    }
}

/// The nanoseconds one virtual tick of deterministic mode (`--sim`)
/// models: the virtual clock runs `sched::sim::TICKS_PER_MS` ticks a
/// millisecond (one tick a safepoint, about 100 ns of real work), so
/// exports (Chrome JSON, `skein trace`) show virtual time at this scale.
pub const NS_PER_VIRTUAL_TICK: u64 = 1_000_000 / crate::sched::sim::TICKS_PER_MS;

/// One trace event. `tick` is the clock reading when it happened (virtual
/// ticks in deterministic mode, nanoseconds since the trace started
/// otherwise).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The clock reading when the event happened.
    pub tick: u64,
    /// The P the event happened on, if any.
    pub p: Option<u32>,
    /// The G that was running (or that the event is about), if any.
    pub g: Option<u64>,
    /// What happened.
    pub kind: EventKind,
    /// The event's `key=value` arguments, in the order they print.
    pub args: Vec<(&'static str, Arg)>,
    /// Tie-breaker for events with equal ticks (see the module docs).
    pub seq: u64,
}

/// One argument value.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// An unsigned number (counts, ids, bytes).
    U(u64),
    /// A signed number.
    I(i64),
    /// A word from the runtime's fixed vocabulary (`reason`, `mode`, ...).
    S(&'static str),
    /// A name from the program (a function's), for viewers: the text form
    /// leaves it out.
    Label(Arc<str>),
}

/// What an event records; the text form prints the variant name. The
/// discriminant is the event's code in the binary form (five bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EventKind {
    /// A P started running (an M acquired it).
    ProcStart,
    /// A P stopped (went idle or was stopped for a stop-the-world).
    ProcStop,
    /// A G was created: `g=`, `kind=`, and the label `fn=` (the function
    /// it runs).
    GoCreate,
    /// A G started running on a P.
    GoStart,
    /// A G finished.
    GoEnd,
    /// The running G parked: `reason=`.
    GoPark,
    /// A G was readied: `g=`, `next=1` when it went to `runnext`.
    GoUnpark,
    /// The running G yielded its P and stays runnable.
    GoSched,
    /// The running G was preempted (budget spent or preempt flag).
    GoPreempt,
    /// A dedicated mark worker moved its P's queue to the global queue: `n=`.
    RunqDrain,
    /// A collection cycle began: `n=`, `trigger=`.
    GCStart,
    /// A collection cycle ended: `n=`, `live=`.
    GCDone,
    /// The world is being stopped: `reason=`.
    STWStart,
    /// The world was restarted: `reason=`.
    STWDone,
    /// A background mark worker began draining: `g=`, `mode=`.
    GCMarkWorkerStart,
    /// A background mark worker stopped draining: `g=`, `mode=`.
    GCMarkWorkerStop,
    /// An allocating G began a mark assist.
    GCMarkAssistStart,
    /// A mark assist ended.
    GCMarkAssistDone,
    /// Mark work ran out: `g=` the G that found the completion point.
    GCMarkDone,
    /// Background sweeping began.
    GCSweepStart,
    /// Background sweeping finished.
    GCSweepDone,
    /// The pacer set a new heap goal: `goal=` bytes.
    HeapGoal,
    /// The running G entered a blocking system call; its P is in a
    /// syscall state until the G returns or sysmon retakes the P.
    GoSyscall,
    /// A G back from a system call runs again (on its P, or on another).
    GoSysExit,
    /// Sysmon took a P from a G blocked in a system call: `p=`.
    ProcSteal,
    /// A sample of the heap: `live=` bytes allocated and not yet swept
    /// away (`heap_alloc`). Extended: not in the text form.
    HeapAlloc,
}

/// Which form a trace is written in (`--trace-format`, `skein trace
/// convert --to`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One event a line (`docs/runtime.md`).
    Text,
    /// Chrome trace-event JSON, for Perfetto.
    Chrome,
    /// The compact binary recording (`.sktrace`).
    Binary,
}

/// Writes the trace `reader` holds in `format`.
pub fn write(reader: &mut Reader, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Text => write_text(reader, out),
        Format::Chrome => chrome::write(reader, out),
        Format::Binary => write_binary(reader, out),
    }
}

/// Writes the text form: one `<tick> P<p> G<g> <Event> key=value ...` line
/// per event (extended events and labels left out).
pub fn write_text(reader: &mut Reader, out: &mut dyn Write) -> io::Result<()> {
    // Lines are appended to one buffer, written out every 64 KiB.
    const FLUSH_AT: usize = 1 << 16;
    let mut buf = Vec::with_capacity(FLUSH_AT + 256);
    reader.for_each(&mut |e| {
        if e.kind.is_extended() {
            return Ok(());
        }
        push_line(&mut buf, e.tick, e.p, e.g, e.kind.name(), text_args(e));
        buf.push(b'\n');
        if buf.len() >= FLUSH_AT {
            out.write_all(&buf)?;
            buf.clear();
        }
        Ok(())
    })?;
    out.write_all(&buf)?;
    out.flush()
}

/// An event's arguments as the text form prints them: labels left out.
fn text_args(e: &Event) -> impl Iterator<Item = (&str, &Arg)> {
    e.args
        .iter()
        .filter(|(_, v)| !matches!(v, Arg::Label(_)))
        .map(|(k, v)| (*k, v))
}

/// Appends one event line in the text form (`<tick> P<p> G<g> <Event>
/// key=value ...`, `P-`/`G-` where none applies), without the newline: the
/// one definition of the format, shared by the trace writer, the
/// runtime's events' `Display` and parsed ones' (the embedding API's
/// `TraceEvent`, through [`write_line`]). It appends bytes rather than go
/// through `core::fmt`: for a trace of millions of events (six a round
/// trip of `bench/pingpong.sk`), the formatting machinery took a quarter
/// of the traced run's time.
pub fn push_line<'a, V: TextValue + ?Sized + 'a>(
    out: &mut Vec<u8>,
    tick: u64,
    p: Option<u32>,
    g: Option<u64>,
    kind: &str,
    args: impl Iterator<Item = (&'a str, &'a V)>,
) {
    push_decimal(out, tick);
    match p {
        Some(p) => {
            out.extend_from_slice(b" P");
            push_decimal(out, u64::from(p));
            out.push(b' ');
        }
        None => out.extend_from_slice(b" P- "),
    }
    match g {
        Some(g) => {
            out.push(b'G');
            push_decimal(out, g);
            out.push(b' ');
        }
        None => out.extend_from_slice(b"G- "),
    }
    out.extend_from_slice(kind.as_bytes());
    for (k, v) in args {
        out.push(b' ');
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        v.push_text(out);
    }
}

/// An argument value as the text form prints it.
pub trait TextValue {
    /// Appends the value's text.
    fn push_text(&self, out: &mut Vec<u8>);
}

/// Numbers in decimal, words and labels as they are (as `Display`).
impl TextValue for Arg {
    fn push_text(&self, out: &mut Vec<u8>) {
        match self {
            Arg::U(x) => push_decimal(out, *x),
            Arg::I(x) => {
                if *x < 0 {
                    out.push(b'-');
                }
                push_decimal(out, x.unsigned_abs());
            }
            Arg::S(s) => out.extend_from_slice(s.as_bytes()),
            Arg::Label(s) => out.extend_from_slice(s.as_bytes()),
        }
    }
}

/// A value parsed from a text trace, as it was.
impl TextValue for str {
    fn push_text(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

/// Appends `v` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut v: u64) {
    // u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Writes the events of `reader` in the binary form. Each event's sequence
/// number is its place in the reader's order, so the file reads back in
/// exactly that order (a text trace has no sequence numbers of its own).
pub fn write_binary(reader: &mut Reader, out: &mut dyn Write) -> io::Result<()> {
    let sink = Sink::new();
    sink.begin(Destination::Memory, reader.header().ns_per_tick, false);
    let mut buffers: Vec<(Option<u32>, Buffer)> = Vec::new();
    let mut w = BufWriter::new(out);
    let mut place = 0u64;
    reader.for_each(&mut |e| {
        place += 1;
        let i = match buffers.iter().position(|(p, _)| *p == e.p) {
            Some(i) => i,
            None => {
                let stream = e.p.unwrap_or(encode::STREAM_OUTSIDE_P);
                buffers.push((e.p, Buffer::new(stream)));
                buffers.len() - 1
            }
        };
        buffers[i]
            .1
            .push(&sink, e.tick, place, e.g, e.kind, &e.args);
        Ok(())
    })?;
    for (_, b) in &mut buffers {
        b.flush(&sink);
    }
    match sink.end() {
        Some(Ok(Recording::Memory(bytes))) => w.write_all(&bytes)?,
        Some(Err(e)) => return Err(e),
        _ => {}
    }
    w.flush()
}

/// Writes a trace file's bytes (`image`, the binary form) to `path` in the
/// form its name asks for ([`Format::for_path`]).
pub fn write_image(image: &[u8], path: &std::path::Path) -> io::Result<()> {
    let format = Format::for_path(path);
    let mut f = std::fs::File::create(path)?;
    if format == Format::Binary {
        return f.write_all(image);
    }
    let mut reader = Reader::open(Box::new(io::Cursor::new(image.to_vec())))?;
    write(&mut reader, format, &mut f)
}

impl Event {
    /// An event with no arguments.
    pub fn new(tick: u64, p: Option<u32>, g: Option<u64>, kind: EventKind) -> Event {
        Event {
            tick,
            p,
            g,
            kind,
            args: Vec::new(),
            seq: 0,
        }
    }

    /// Appends the argument `k=v`.
    pub fn arg(mut self, k: &'static str, v: impl Into<Arg>) -> Event {
        self.args.push((k, v.into()));
        self
    }

    /// The first argument named `k`, if any.
    pub fn get(&self, k: &str) -> Option<&Arg> {
        self.args.iter().find(|(key, _)| *key == k).map(|(_, v)| v)
    }

    /// The argument `k` as a number, if it is one.
    pub fn num(&self, k: &str) -> Option<u64> {
        match self.get(k)? {
            Arg::U(v) => Some(*v),
            Arg::I(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// The argument `k` as text, if it is a word or a label.
    pub fn word(&self, k: &str) -> Option<&str> {
        match self.get(k)? {
            Arg::S(s) => Some(s),
            Arg::Label(s) => Some(s),
            _ => None,
        }
    }
}

/// The text form of one event, without the newline (labels left out).
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_line(
            f,
            self.tick,
            self.p,
            self.g,
            self.kind.name(),
            text_args(self),
        )
    }
}

/// Writes one event line in the text form ([`push_line`]) to a formatter.
pub fn write_line<'a, V: TextValue + ?Sized + 'a>(
    f: &mut fmt::Formatter<'_>,
    tick: u64,
    p: Option<u32>,
    g: Option<u64>,
    kind: &str,
    args: impl Iterator<Item = (&'a str, &'a V)>,
) -> fmt::Result {
    let mut line = Vec::with_capacity(64);
    push_line(&mut line, tick, p, g, kind, args);
    // Every byte came from a `&str` or is an ASCII digit or space.
    f.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)
}

/// Numbers in decimal, words and labels as they are.
impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::U(v) => write!(f, "{v}"),
            Arg::I(v) => write!(f, "{v}"),
            Arg::S(s) => f.write_str(s),
            Arg::Label(s) => f.write_str(s),
        }
    }
}

impl From<u64> for Arg {
    fn from(v: u64) -> Arg {
        Arg::U(v)
    }
}

impl From<u32> for Arg {
    fn from(v: u32) -> Arg {
        Arg::U(u64::from(v))
    }
}

impl From<usize> for Arg {
    fn from(v: usize) -> Arg {
        // A usize is at most 64 bits on every target Skein supports.
        Arg::U(v as u64)
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::I(v)
    }
}

/// `true` is `1`, `false` is `0` (as in `GoUnpark next=1`).
impl From<bool> for Arg {
    fn from(v: bool) -> Arg {
        Arg::U(u64::from(v))
    }
}

impl From<&'static str> for Arg {
    fn from(v: &'static str) -> Arg {
        Arg::S(v)
    }
}

impl EventKind {
    /// Every kind, in declaration order (the order of their codes).
    pub const ALL: [EventKind; 26] = [
        EventKind::ProcStart,
        EventKind::ProcStop,
        EventKind::GoCreate,
        EventKind::GoStart,
        EventKind::GoEnd,
        EventKind::GoPark,
        EventKind::GoUnpark,
        EventKind::GoSched,
        EventKind::GoPreempt,
        EventKind::RunqDrain,
        EventKind::GCStart,
        EventKind::GCDone,
        EventKind::STWStart,
        EventKind::STWDone,
        EventKind::GCMarkWorkerStart,
        EventKind::GCMarkWorkerStop,
        EventKind::GCMarkAssistStart,
        EventKind::GCMarkAssistDone,
        EventKind::GCMarkDone,
        EventKind::GCSweepStart,
        EventKind::GCSweepDone,
        EventKind::HeapGoal,
        EventKind::GoSyscall,
        EventKind::GoSysExit,
        EventKind::ProcSteal,
        EventKind::HeapAlloc,
    ];

    /// The kind with binary code `code`.
    pub fn from_u8(code: u8) -> Option<EventKind> {
        EventKind::ALL.get(usize::from(code)).copied()
    }

    /// True for events recorded for viewers only, which the text form
    /// leaves out.
    pub fn is_extended(self) -> bool {
        self == EventKind::HeapAlloc
    }

    /// The event's name in every trace form: exactly the variant name.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::ProcStart => "ProcStart",
            EventKind::ProcStop => "ProcStop",
            EventKind::GoCreate => "GoCreate",
            EventKind::GoStart => "GoStart",
            EventKind::GoEnd => "GoEnd",
            EventKind::GoPark => "GoPark",
            EventKind::GoUnpark => "GoUnpark",
            EventKind::GoSched => "GoSched",
            EventKind::GoPreempt => "GoPreempt",
            EventKind::RunqDrain => "RunqDrain",
            EventKind::GCStart => "GCStart",
            EventKind::GCDone => "GCDone",
            EventKind::STWStart => "STWStart",
            EventKind::STWDone => "STWDone",
            EventKind::GCMarkWorkerStart => "GCMarkWorkerStart",
            EventKind::GCMarkWorkerStop => "GCMarkWorkerStop",
            EventKind::GCMarkAssistStart => "GCMarkAssistStart",
            EventKind::GCMarkAssistDone => "GCMarkAssistDone",
            EventKind::GCMarkDone => "GCMarkDone",
            EventKind::GCSweepStart => "GCSweepStart",
            EventKind::GCSweepDone => "GCSweepDone",
            EventKind::HeapGoal => "HeapGoal",
            EventKind::GoSyscall => "GoSyscall",
            EventKind::GoSysExit => "GoSysExit",
            EventKind::ProcSteal => "ProcSteal",
            EventKind::HeapAlloc => "HeapAlloc",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Format {
    /// Parses a format name: `text`, `chrome` or `binary`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "text" => Some(Format::Text),
            "chrome" => Some(Format::Chrome),
            "binary" => Some(Format::Binary),
            _ => None,
        }
    }

    /// The format a file name asks for: `.sktrace` is binary, `.json`
    /// Chrome, anything else text.
    pub fn for_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("sktrace") => Format::Binary,
            Some("json") => Format::Chrome,
            _ => Format::Text,
        }
    }
}

#[cfg(test)]
mod tests;
