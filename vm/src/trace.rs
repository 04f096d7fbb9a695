//! The runtime event trace: what the scheduler and the collector record, and
//! the two forms it is written in (`docs/runtime.md` describes both for users).
//!
//! # Recording: one buffer per P, no lock
//!
//! Every P owns a [`Buffer`]. Only the thread that currently holds the P
//! appends to it, so `Buffer::push` is a plain `Vec::push` behind `&mut`: no
//! lock and no shared cache line on the hot path except one relaxed
//! `fetch_add` on a global sequence counter (below). Events that happen
//! outside any P (sysmon, a stop-the-world driven while no P is held) go into
//! one extra buffer that its users guard themselves. Nothing is ordered or
//! formatted while the program runs; that work is done once, when the trace is
//! written.
//!
//! # Merging
//!
//! [`merge`] takes the drained buffers (`Buffer::take`) and returns one stream
//! ordered by `(tick, seq)`:
//! 1. `tick` is the clock reading when the event happened: virtual ticks in
//!    deterministic mode, nanoseconds since the trace started otherwise.
//! 2. `seq` breaks ties. `Buffer::push` stamps each event with the next value
//!    of a global `AtomicU64`, so two events with the same tick keep the order
//!    in which they were pushed, even across buffers. In deterministic mode
//!    every P runs on one OS thread, so the push order, and with it the whole
//!    merged stream, is the same on every run.
//!
//! The sort is stable, so events that never went through a buffer (their
//! `seq` is 0) keep the order in which `merge` was given them.
//!
//! Invariants: within one buffer, `seq` strictly increases in push order; the
//! output of `merge` is sorted by `(tick, seq)` and holds every input event
//! exactly once.
//!
//! # Text form
//!
//! One event a line, stable for snapshot tests:
//! ```text
//! <tick> P<p> G<g> <Event> key=value ...
//! ```
//! `P-` / `G-` stand where no P or G applies; the arguments follow in the
//! order they were added; unsigned and signed values print in decimal, string
//! values as they are (they come from the runtime's fixed vocabulary, which
//! holds no spaces). For example `1200 P0 G1 GoCreate g=2 kind=user`.
//!
//! # Chrome form
//!
//! A Chrome trace-event JSON object, `{"traceEvents":[...],
//! "displayTimeUnit":"ns"}`, which Perfetto and `chrome://tracing` open. All
//! events belong to process 1, "skein". Each P is a thread whose `tid` is the
//! P's number, named `P0`, `P1`, ... by `M`-phase metadata events. Two more
//! threads follow the highest P: "runtime" (events outside any P, and
//! stop-the-world pauses) and "GC" (whole collection cycles). Their tids are
//! 1000 and 1001, or the two numbers after the highest P when a trace has
//! 1000 Ps or more, so they never collide with a P.
//!
//! The writer walks the merged stream once, keeping a stack of open slices
//! per thread:
//! 1. `GoStart` opens a slice `G<g>` on its P; the next `GoEnd`, `GoPark`,
//!    `GoSched` or `GoPreempt` on that P closes it (and is also shown as an
//!    instant, so its `reason` stays visible). A `GoStart` on a P whose
//!    previous G never ended closes that slice first.
//! 2. `STWStart` opens `STW <reason>` on the runtime thread; `STWDone` closes
//!    it.
//! 3. `GCStart` opens `GC <n>` on the GC thread; `GCDone` closes it.
//! 4. `GCMarkWorkerStart` opens `mark worker (<mode>)` on its P;
//!    `GCMarkWorkerStop` closes it.
//! 5. Every other event, and every closing event that finds no slice to
//!    close, is an instant event (`"ph":"i","s":"t"`) carrying its arguments.
//! 6. At the end of the trace every slice still open is closed at the last
//!    tick, so each `B` has its `E`.
//!
//! Slices are written as `B`/`E` pairs, which must nest per thread. Closing a
//! slice therefore also closes every slice opened above it on the same thread
//! (for example a mark worker still open when its G is preempted); a closing
//! event for such an already-closed slice becomes an instant. This keeps the
//! output well nested whatever order the runtime records events in.
//!
//! `ts` is in microseconds, `tick / 1000`, written as an exact decimal (no
//! float rounding, so the output is as deterministic as the text form).
//! Strings are escaped as JSON requires. Every event's arguments appear under
//! `args`, plus `P` and `G` when the event had them.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Tie-breaker for events with equal ticks: set by [`Buffer::push`] from
    /// a global counter, 0 until then.
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
}

/// What an event records; the text form prints the variant name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A P started running (an M acquired it).
    ProcStart,
    /// A P stopped (went idle or was stopped for a stop-the-world).
    ProcStop,
    /// A G was created: `g=`, `kind=`.
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
}

/// A per-P event buffer: appended to only by the thread that owns the P, no
/// lock.
#[derive(Debug, Default)]
pub struct Buffer {
    events: Vec<Event>,
}

/// Which form a trace is written in (`--trace-format text|chrome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One event a line (`docs/runtime.md`).
    Text,
    /// Chrome trace-event JSON, for Perfetto.
    Chrome,
}

/// Merges per-P buffers (plus a buffer for events outside any P) into one
/// stream ordered by `(tick, seq)`. The sort is stable, so events with equal
/// `(tick, seq)` keep the order in which they were given.
pub fn merge(buffers: Vec<Vec<Event>>) -> Vec<Event> {
    let total = buffers.iter().map(Vec::len).sum();
    let mut all = Vec::with_capacity(total);
    for buffer in buffers {
        all.extend(buffer);
    }
    all.sort_by_key(|e| (e.tick, e.seq));
    all
}

/// Writes `events` (in merged order) in `format`.
pub fn write(events: &[Event], format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Text => write_text(events, out),
        Format::Chrome => write_chrome(events, out),
    }
}

/// Writes the text form: one `<tick> P<p> G<g> <Event> key=value ...` line
/// per event.
pub fn write_text(events: &[Event], out: &mut dyn Write) -> io::Result<()> {
    let mut w = BufWriter::new(out);
    for e in events {
        writeln!(w, "{e}")?;
    }
    w.flush()
}

/// Writes the Chrome trace-event JSON form (see the module documentation for
/// the mapping). `events` should be in merged order.
pub fn write_chrome(events: &[Event], out: &mut dyn Write) -> io::Result<()> {
    let mut w = ChromeWriter::new(events, BufWriter::new(out));
    w.header()?;
    for e in events {
        w.event(e)?;
    }
    w.finish()
}

impl Event {
    /// An event with no arguments; `seq` is assigned when it is pushed.
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
}

/// The text form of one event, without the newline.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_line(
            f,
            self.tick,
            self.p,
            self.g,
            self.kind.name(),
            self.args.iter().map(|(k, v)| (*k, v as &dyn fmt::Display)),
        )
    }
}

/// Writes one event line in the text form (`<tick> P<p> G<g> <Event>
/// key=value ...`, `P-`/`G-` where none applies), without the newline: the
/// one definition of the format, shared by the runtime's events and
/// parsed ones (the embedding API's `TraceEvent`).
pub fn write_line<'a>(
    f: &mut fmt::Formatter<'_>,
    tick: u64,
    p: Option<u32>,
    g: Option<u64>,
    kind: &str,
    args: impl Iterator<Item = (&'a str, &'a dyn fmt::Display)>,
) -> fmt::Result {
    write!(f, "{tick} ")?;
    match p {
        Some(p) => write!(f, "P{p} ")?,
        None => f.write_str("P- ")?,
    }
    match g {
        Some(g) => write!(f, "G{g} ")?,
        None => f.write_str("G- ")?,
    }
    f.write_str(kind)?;
    for (k, v) in args {
        write!(f, " {k}={v}")?;
    }
    Ok(())
}

/// Numbers in decimal, strings as they are.
impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::U(v) => write!(f, "{v}"),
            Arg::I(v) => write!(f, "{v}"),
            Arg::S(s) => f.write_str(s),
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
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 25] = [
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
    ];

    /// The event's name in both trace forms: exactly the variant name.
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
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Buffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Buffer { events: Vec::new() }
    }

    /// Appends `e`, stamping it with the next global sequence number.
    #[inline]
    pub fn push(&mut self, mut e: Event) {
        // Relaxed is enough: all read-modify-writes of one atomic form a
        // single total order that agrees with happens-before, so an event
        // that happened before another (on any thread) gets a smaller `seq`.
        e.seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
        self.events.push(e);
    }

    /// Removes and returns every event recorded so far.
    pub fn take(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// How many events the buffer holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when the buffer holds no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

impl Format {
    /// Parses a `--trace-format` value: `text` or `chrome`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "text" => Some(Format::Text),
            "chrome" => Some(Format::Chrome),
            _ => None,
        }
    }
}

/// The source of `Event::seq`. It starts at 1 so that 0 marks an event that
/// never went through a buffer.
static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);

/// The Chrome `pid` of every event; the trace describes one process.
const PID: u32 = 1;

/// The runtime thread's tid when the trace has fewer Ps than this; chosen
/// well above any usual P count so P tids stay equal to P numbers.
const RUNTIME_TID_DEFAULT: u64 = 1000;

/// The kinds of slice the Chrome writer opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SliceKind {
    Goroutine,
    MarkWorker,
    Stw,
    Gc,
}

/// A slice that has a `B` but no `E` yet.
struct OpenSlice {
    kind: SliceKind,
    name: String,
}

/// Walks the merged stream once and writes Chrome JSON.
struct ChromeWriter<W: Write> {
    w: W,
    /// The Ps that appear in the trace, for the metadata events.
    procs: Vec<u32>,
    runtime_tid: u64,
    gc_tid: u64,
    /// Open slices per tid, innermost last. A BTreeMap so that the slices
    /// left open at the end are closed in a deterministic order.
    open: BTreeMap<u64, Vec<OpenSlice>>,
    /// The tick every slice left open is closed at: the last one seen.
    last_tick: u64,
    /// False until the first element of `traceEvents` is written.
    wrote_any: bool,
}

impl<W: Write> ChromeWriter<W> {
    fn new(events: &[Event], w: W) -> Self {
        let mut procs: Vec<u32> = events.iter().filter_map(|e| e.p).collect();
        procs.sort_unstable();
        procs.dedup();
        let runtime_tid = match procs.last() {
            Some(&max) => RUNTIME_TID_DEFAULT.max(u64::from(max) + 1),
            None => RUNTIME_TID_DEFAULT,
        };
        let last_tick = events.iter().map(|e| e.tick).max().unwrap_or(0);
        ChromeWriter {
            w,
            procs,
            runtime_tid,
            gc_tid: runtime_tid + 1,
            open: BTreeMap::new(),
            last_tick,
            wrote_any: false,
        }
    }

    /// The opening of the object and the metadata naming the process and its
    /// threads.
    fn header(&mut self) -> io::Result<()> {
        self.w.write_all(b"{\"traceEvents\":[")?;
        self.begin_element()?;
        write!(
            self.w,
            "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{PID},\"tid\":0,\"args\":{{\"name\":\"skein\"}}}}"
        )?;
        let procs = std::mem::take(&mut self.procs);
        for &p in &procs {
            self.thread_metadata(u64::from(p), &format!("P{p}"))?;
        }
        self.thread_metadata(self.runtime_tid, "runtime")?;
        self.thread_metadata(self.gc_tid, "GC")
    }

    /// Names thread `tid` and sorts it by its tid (Ps first, then runtime,
    /// then GC).
    fn thread_metadata(&mut self, tid: u64, name: &str) -> io::Result<()> {
        self.begin_element()?;
        write!(
            self.w,
            "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{PID},\"tid\":{tid},\"args\":{{\"name\":"
        )?;
        write_json_str(&mut self.w, name)?;
        self.w.write_all(b"}}")?;
        self.begin_element()?;
        write!(
            self.w,
            "{{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":{PID},\"tid\":{tid},\"args\":{{\"sort_index\":{tid}}}}}"
        )
    }

    /// The thread an event on P `p` (or on no P) belongs to.
    fn proc_tid(&self, p: Option<u32>) -> u64 {
        p.map_or(self.runtime_tid, u64::from)
    }

    /// Translates one event (see the module documentation).
    fn event(&mut self, e: &Event) -> io::Result<()> {
        let tid = self.proc_tid(e.p);
        match e.kind {
            EventKind::GoStart => {
                self.close(tid, SliceKind::Goroutine, e)?;
                let name = match e.g {
                    Some(g) => format!("G{g}"),
                    None => match e.get("g") {
                        Some(g) => format!("G{g}"),
                        None => "G-".to_string(),
                    },
                };
                self.open(tid, SliceKind::Goroutine, name, e)
            }
            EventKind::GoEnd | EventKind::GoPark | EventKind::GoSched | EventKind::GoPreempt => {
                self.close(tid, SliceKind::Goroutine, e)?;
                self.instant(tid, e)
            }
            EventKind::STWStart => {
                let name = label("STW", e.get("reason"));
                self.open(self.runtime_tid, SliceKind::Stw, name, e)
            }
            EventKind::GCStart => {
                let name = label("GC", e.get("n"));
                self.open(self.gc_tid, SliceKind::Gc, name, e)
            }
            EventKind::GCMarkWorkerStart => {
                let name = match e.get("mode") {
                    Some(mode) => format!("mark worker ({mode})"),
                    None => "mark worker".to_string(),
                };
                self.open(tid, SliceKind::MarkWorker, name, e)
            }
            EventKind::STWDone => self.close_or_instant(self.runtime_tid, SliceKind::Stw, e),
            EventKind::GCDone => self.close_or_instant(self.gc_tid, SliceKind::Gc, e),
            EventKind::GCMarkWorkerStop => self.close_or_instant(tid, SliceKind::MarkWorker, e),
            _ => self.instant(tid, e),
        }
    }

    /// Closes the innermost open `kind` slice on `tid` at `e`, or shows `e`
    /// as an instant when there is none.
    fn close_or_instant(&mut self, tid: u64, kind: SliceKind, e: &Event) -> io::Result<()> {
        if self.close(tid, kind, e)? {
            Ok(())
        } else {
            self.instant(tid, e)
        }
    }

    /// Writes a `B` for `name` at `e` and records it as open.
    fn open(&mut self, tid: u64, kind: SliceKind, name: String, e: &Event) -> io::Result<()> {
        self.begin_element()?;
        self.w.write_all(b"{\"name\":")?;
        write_json_str(&mut self.w, &name)?;
        write!(self.w, ",\"ph\":\"B\",\"pid\":{PID},\"tid\":{tid},\"ts\":")?;
        write_ts(&mut self.w, e.tick)?;
        self.write_args(e)?;
        self.w.write_all(b"}")?;
        self.open
            .entry(tid)
            .or_default()
            .push(OpenSlice { kind, name });
        Ok(())
    }

    /// Closes the innermost open `kind` slice on `tid`, and every slice
    /// opened above it, at `e`'s tick; the closing `E` carries `e`'s
    /// arguments. Returns false when no `kind` slice was open.
    fn close(&mut self, tid: u64, kind: SliceKind, e: &Event) -> io::Result<bool> {
        let Some(stack) = self.open.get_mut(&tid) else {
            return Ok(false);
        };
        let Some(pos) = stack.iter().rposition(|s| s.kind == kind) else {
            return Ok(false);
        };
        let closing: Vec<OpenSlice> = stack.drain(pos..).collect();
        for (i, slice) in closing.iter().enumerate().rev() {
            // Only the slice `e` ends gets `e`'s arguments; the ones above
            // it are closed only to keep B/E nested.
            let args = if i == 0 { Some(e) } else { None };
            self.end(tid, &slice.name, e.tick, args)?;
        }
        Ok(true)
    }

    /// Writes one `E`.
    fn end(&mut self, tid: u64, name: &str, tick: u64, args: Option<&Event>) -> io::Result<()> {
        self.begin_element()?;
        self.w.write_all(b"{\"name\":")?;
        write_json_str(&mut self.w, name)?;
        write!(self.w, ",\"ph\":\"E\",\"pid\":{PID},\"tid\":{tid},\"ts\":")?;
        write_ts(&mut self.w, tick)?;
        if let Some(e) = args {
            self.write_args(e)?;
        }
        self.w.write_all(b"}")
    }

    /// Writes `e` as a thread-scoped instant event.
    fn instant(&mut self, tid: u64, e: &Event) -> io::Result<()> {
        self.begin_element()?;
        self.w.write_all(b"{\"name\":")?;
        write_json_str(&mut self.w, e.kind.name())?;
        write!(
            self.w,
            ",\"ph\":\"i\",\"s\":\"t\",\"pid\":{PID},\"tid\":{tid},\"ts\":"
        )?;
        write_ts(&mut self.w, e.tick)?;
        self.write_args(e)?;
        self.w.write_all(b"}")
    }

    /// Writes `,"args":{...}` with `e`'s P, G and arguments.
    fn write_args(&mut self, e: &Event) -> io::Result<()> {
        self.w.write_all(b",\"args\":{")?;
        let mut first = true;
        if let Some(p) = e.p {
            write!(self.w, "\"P\":{p}")?;
            first = false;
        }
        if let Some(g) = e.g {
            if !first {
                self.w.write_all(b",")?;
            }
            write!(self.w, "\"G\":{g}")?;
            first = false;
        }
        for (k, v) in &e.args {
            if !first {
                self.w.write_all(b",")?;
            }
            first = false;
            write_json_str(&mut self.w, k)?;
            self.w.write_all(b":")?;
            match v {
                Arg::U(n) => write!(self.w, "{n}")?,
                Arg::I(n) => write!(self.w, "{n}")?,
                Arg::S(s) => write_json_str(&mut self.w, s)?,
            }
        }
        self.w.write_all(b"}")
    }

    /// Writes the separator before an element of `traceEvents`: one element
    /// a line, so the file diffs and greps well.
    fn begin_element(&mut self) -> io::Result<()> {
        if self.wrote_any {
            self.w.write_all(b",\n")
        } else {
            self.wrote_any = true;
            self.w.write_all(b"\n")
        }
    }

    /// Closes every slice still open at the last tick, then the object.
    fn finish(mut self) -> io::Result<()> {
        let open = std::mem::take(&mut self.open);
        for (tid, stack) in open {
            for slice in stack.iter().rev() {
                self.end(tid, &slice.name, self.last_tick, None)?;
            }
        }
        self.w.write_all(b"\n],\"displayTimeUnit\":\"ns\"}\n")?;
        self.w.flush()
    }
}

/// `prefix value`, or just `prefix` when the argument is missing.
fn label(prefix: &str, value: Option<&Arg>) -> String {
    match value {
        Some(v) => format!("{prefix} {v}"),
        None => prefix.to_string(),
    }
}

/// Writes `tick / 1000` (nanoseconds to microseconds) as an exact decimal
/// with no trailing zeros, e.g. `1200` as `1.2` and `5` as `0.005`.
fn write_ts(w: &mut impl Write, tick: u64) -> io::Result<()> {
    // 1000 ticks (nanoseconds) make one microsecond, Chrome's `ts` unit.
    let whole = tick / 1000;
    let frac = tick % 1000;
    if frac == 0 {
        write!(w, "{whole}")
    } else if frac.is_multiple_of(100) {
        write!(w, "{whole}.{}", frac / 100)
    } else if frac.is_multiple_of(10) {
        write!(w, "{whole}.{:02}", frac / 10)
    } else {
        write!(w, "{whole}.{frac:03}")
    }
}

/// Writes `s` as a JSON string literal: quotes, backslashes and control
/// characters escaped; everything else (including non-ASCII, already valid
/// UTF-8) as is.
fn write_json_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    w.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            // Backspace and form feed have short escapes too.
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            _ => None,
        };
        // JSON forbids raw control characters (below 0x20) in strings; the
        // ones without a short escape use `\u00XX`.
        if escape.is_none() && b >= 0x20 {
            continue;
        }
        w.write_all(&bytes[start..i])?;
        match escape {
            Some(esc) => w.write_all(esc)?,
            None => write!(w, "\\u{b:04x}")?,
        }
        start = i + 1;
    }
    w.write_all(&bytes[start..])?;
    w.write_all(b"\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(events: &[Event]) -> String {
        let mut out = Vec::new();
        write_text(events, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn chrome(events: &[Event]) -> serde_json::Value {
        let mut out = Vec::new();
        write_chrome(events, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        serde_json::from_str(&s).unwrap_or_else(|err| panic!("invalid JSON ({err}):\n{s}"))
    }

    fn trace_events(v: &serde_json::Value) -> &Vec<serde_json::Value> {
        v["traceEvents"].as_array().unwrap()
    }

    /// Checks that on every tid each `E` closes an open `B` and that nothing
    /// stays open; returns the (tid, name) of every `B` in order.
    fn check_balanced(v: &serde_json::Value) -> Vec<(u64, String)> {
        let mut stacks: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        let mut begins = Vec::new();
        for ev in trace_events(v) {
            let tid = ev["tid"].as_u64().unwrap();
            match ev["ph"].as_str().unwrap() {
                "B" => {
                    let name = ev["name"].as_str().unwrap().to_string();
                    stacks.entry(tid).or_default().push(name.clone());
                    begins.push((tid, name));
                }
                "E" => {
                    let top = stacks.get_mut(&tid).and_then(Vec::pop);
                    let top = top.unwrap_or_else(|| panic!("E without B on tid {tid}"));
                    assert_eq!(ev["name"].as_str().unwrap(), top, "E closes wrong slice");
                }
                "i" => assert_eq!(ev["s"], "t"),
                "M" => {}
                ph => panic!("unexpected phase {ph}"),
            }
        }
        for (tid, stack) in stacks {
            assert!(stack.is_empty(), "unclosed slices on tid {tid}: {stack:?}");
        }
        begins
    }

    #[test]
    fn text_form_with_and_without_p_and_g() {
        let events = vec![
            Event::new(1200, Some(0), Some(1), EventKind::GoCreate)
                .arg("g", 2u64)
                .arg("kind", "user"),
            Event::new(1300, None, None, EventKind::STWStart).arg("reason", "sweep_termination"),
            Event::new(1400, Some(3), None, EventKind::ProcStart),
            Event::new(1500, None, Some(7), EventKind::GoPark).arg("reason", "sleep"),
            Event::new(1600, Some(1), Some(2), EventKind::HeapGoal)
                .arg("goal", 4_194_304usize)
                .arg("delta", -5i64)
                .arg("procs", 4u32)
                .arg("next", true),
        ];
        assert_eq!(
            text(&events),
            "1200 P0 G1 GoCreate g=2 kind=user\n\
             1300 P- G- STWStart reason=sweep_termination\n\
             1400 P3 G- ProcStart\n\
             1500 P- G7 GoPark reason=sleep\n\
             1600 P1 G2 HeapGoal goal=4194304 delta=-5 procs=4 next=1\n"
        );
    }

    #[test]
    fn kind_names_are_variant_names() {
        for kind in EventKind::ALL {
            assert_eq!(kind.name(), format!("{kind:?}"));
        }
    }

    #[test]
    fn buffer_push_take_len() {
        let mut b = Buffer::new();
        assert!(b.is_empty());
        b.push(Event::new(1, Some(0), None, EventKind::ProcStart));
        b.push(Event::new(2, Some(0), None, EventKind::ProcStop));
        assert_eq!(b.len(), 2);
        let events = b.take();
        assert_eq!(b.len(), 0);
        assert_eq!(events.len(), 2);
        assert!(events[0].seq > 0 && events[0].seq < events[1].seq);
    }

    #[test]
    fn merge_orders_by_tick_then_seq_across_buffers() {
        let mut p0 = Buffer::new();
        let mut p1 = Buffer::new();
        let mut outside = Buffer::new();
        // Pushed in this order; ticks tie at 10 and at 20.
        p1.push(Event::new(10, Some(1), None, EventKind::ProcStart).arg("i", 0u64));
        p0.push(Event::new(10, Some(0), None, EventKind::ProcStart).arg("i", 1u64));
        outside.push(Event::new(5, None, None, EventKind::GCStart).arg("i", 2u64));
        p0.push(Event::new(20, Some(0), Some(1), EventKind::GoStart).arg("i", 3u64));
        outside.push(Event::new(20, None, None, EventKind::STWStart).arg("i", 4u64));
        p1.push(Event::new(20, Some(1), Some(2), EventKind::GoStart).arg("i", 5u64));
        p1.push(Event::new(30, Some(1), Some(2), EventKind::GoEnd).arg("i", 6u64));
        let merged = merge(vec![p0.take(), p1.take(), outside.take()]);
        let order: Vec<&Arg> = merged.iter().map(|e| e.get("i").unwrap()).collect();
        let expected = [2, 0, 1, 3, 4, 5, 6].map(Arg::U);
        assert_eq!(order, expected.iter().collect::<Vec<_>>());
    }

    #[test]
    fn merge_keeps_input_order_for_unsequenced_ties() {
        let a = Event::new(7, None, None, EventKind::GCSweepStart);
        let b = Event::new(7, None, None, EventKind::GCSweepDone);
        let merged = merge(vec![vec![a.clone()], vec![b.clone()]]);
        assert_eq!(merged, vec![a, b]);
    }

    #[test]
    fn chrome_is_valid_json_with_balanced_slices() {
        let mut events = vec![
            Event::new(0, None, None, EventKind::GCStart)
                .arg("n", 1u64)
                .arg("trigger", "heap"),
            Event::new(100, Some(0), Some(1), EventKind::STWStart)
                .arg("reason", "sweep_termination"),
            Event::new(200, Some(0), Some(1), EventKind::STWDone)
                .arg("reason", "sweep_termination"),
            Event::new(1200, Some(0), Some(1), EventKind::GoCreate)
                .arg("g", 2u64)
                .arg("kind", "user"),
            Event::new(1300, Some(0), Some(5), EventKind::GoStart),
            Event::new(1300, Some(0), Some(5), EventKind::GCMarkWorkerStart)
                .arg("g", 5u64)
                .arg("mode", "dedicated"),
            Event::new(1400, Some(0), Some(5), EventKind::GCMarkWorkerStop)
                .arg("g", 5u64)
                .arg("mode", "dedicated"),
            Event::new(1500, Some(0), Some(5), EventKind::GoPark).arg("reason", "gc_worker_idle"),
            // A mark worker still open when its G is preempted.
            Event::new(1600, Some(1), Some(6), EventKind::GoStart),
            Event::new(1700, Some(1), Some(6), EventKind::GCMarkWorkerStart).arg("mode", "idle"),
            Event::new(1800, Some(1), Some(6), EventKind::GoPreempt),
            Event::new(1900, Some(1), Some(6), EventKind::GCMarkWorkerStop).arg("mode", "idle"),
            // A G that starts without the previous one ending.
            Event::new(2000, Some(1), Some(2), EventKind::GoStart),
            Event::new(2100, Some(1), Some(3), EventKind::GoStart),
            Event::new(2200, None, None, EventKind::STWDone).arg("reason", "trace_start"),
            Event::new(2300, Some(0), None, EventKind::GCDone)
                .arg("n", 1u64)
                .arg("live", 1024u64),
            // Left open at the end of the trace.
            Event::new(2400, Some(2), Some(9), EventKind::GoStart),
            Event::new(2500, None, None, EventKind::STWStart).arg("reason", "trace_stop"),
            Event::new(2600, None, None, EventKind::GCStart).arg("n", 2u64),
        ];
        let mut b = Buffer::new();
        for e in events.drain(..) {
            b.push(e);
        }
        let v = chrome(&merge(vec![b.take()]));
        assert_eq!(v["displayTimeUnit"], "ns");
        let begins = check_balanced(&v);
        let names: Vec<(u64, &str)> = begins.iter().map(|(t, n)| (*t, n.as_str())).collect();
        assert_eq!(
            names,
            vec![
                (1001, "GC 1"),
                (1000, "STW sweep_termination"),
                (0, "G5"),
                (0, "mark worker (dedicated)"),
                (1, "G6"),
                (1, "mark worker (idle)"),
                (1, "G2"),
                (1, "G3"),
                (2, "G9"),
                (1000, "STW trace_stop"),
                (1001, "GC 2"),
            ]
        );

        let evs = trace_events(&v);
        let thread_names: Vec<(u64, &str)> = evs
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
            .map(|e| {
                (
                    e["tid"].as_u64().unwrap(),
                    e["args"]["name"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            thread_names,
            vec![
                (0, "P0"),
                (1, "P1"),
                (2, "P2"),
                (1000, "runtime"),
                (1001, "GC")
            ]
        );
        // Instants carry their arguments; unmatched closers become instants.
        let create = evs.iter().find(|e| e["name"] == "GoCreate").unwrap();
        assert_eq!(create["ph"], "i");
        assert_eq!(create["ts"].as_f64(), Some(1.2));
        assert_eq!(create["args"]["g"], 2);
        assert_eq!(create["args"]["kind"], "user");
        assert_eq!(create["args"]["G"], 1);
        let stray_stop = evs
            .iter()
            .find(|e| e["name"] == "GCMarkWorkerStop")
            .unwrap();
        assert_eq!(stray_stop["ph"], "i");
        let stray_done = evs.iter().find(|e| e["name"] == "STWDone").unwrap();
        assert_eq!(stray_done["args"]["reason"], "trace_start");
        // Slices left open close at the last tick.
        let last = evs.last().unwrap();
        assert_eq!(
            (last["ph"].as_str(), last["ts"].as_f64()),
            (Some("E"), Some(2.6))
        );
    }

    #[test]
    fn chrome_empty_trace_is_valid() {
        let v = chrome(&[]);
        check_balanced(&v);
    }

    #[test]
    fn chrome_moves_runtime_tids_above_many_procs() {
        let v = chrome(&[Event::new(1, Some(1500), None, EventKind::ProcStart)]);
        let tids: Vec<u64> = trace_events(&v)
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| e["tid"].as_u64().unwrap())
            .collect();
        assert_eq!(tids, vec![1500, 1501, 1502]);
    }

    #[test]
    fn json_strings_are_escaped() {
        let nasty = "q\"b\\n\nr\rt\tbs\u{8}ff\u{c}nul\u{0}esc\u{1b}é→";
        let mut out = Vec::new();
        write_json_str(&mut out, nasty).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(!s.bytes().any(|b| b < 0x20), "raw control byte in {s:?}");
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, nasty);

        // The same strings used as keys, values and names in a whole trace.
        let v = chrome(&[
            Event::new(0, Some(0), Some(1), EventKind::GoPark).arg(nasty, nasty),
            Event::new(1, None, None, EventKind::STWStart).arg("reason", nasty),
        ]);
        check_balanced(&v);
        let park = trace_events(&v)
            .iter()
            .find(|e| e["name"] == "GoPark")
            .unwrap();
        assert_eq!(park["args"][nasty], nasty);
        let stw = trace_events(&v).iter().find(|e| e["ph"] == "B").unwrap();
        assert_eq!(stw["name"].as_str().unwrap(), format!("STW {nasty}"));
    }

    #[test]
    fn ts_is_exact_microseconds() {
        let cases = [
            (0, "0"),
            (5, "0.005"),
            (50, "0.05"),
            (500, "0.5"),
            (1000, "1"),
            (1200, "1.2"),
            (1230, "1.23"),
            (1234, "1.234"),
            (u64::MAX, "18446744073709551.615"),
        ];
        for (tick, want) in cases {
            let mut out = Vec::new();
            write_ts(&mut out, tick).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    #[test]
    fn format_parse_and_dispatch() {
        assert_eq!(Format::parse("text"), Some(Format::Text));
        assert_eq!(Format::parse("chrome"), Some(Format::Chrome));
        assert_eq!(Format::parse("json"), None);
        let events = [Event::new(3, None, None, EventKind::GCSweepDone)];
        let mut out = Vec::new();
        write(&events, Format::Text, &mut out).unwrap();
        assert_eq!(out, b"3 P- G- GCSweepDone\n");
    }
}
