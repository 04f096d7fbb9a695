//! The Chrome trace-event JSON form, for Perfetto and `chrome://tracing`.
//!
//! # Layout
//!
//! One JSON object, `{"traceEvents":[...],"displayTimeUnit":"ns",
//! "otherData":{...}}`. All events belong to process 1, "skein". Each P is a
//! thread whose `tid` is the P's number, named `P0`, `P1`, ... by `M`-phase
//! metadata events. Two more threads follow the highest P: "runtime" (events
//! outside any P, and stop-the-world pauses) and "GC" (collection cycles and
//! their phases). Their tids are 1000 and 1001, or the two numbers after the
//! highest P when a trace has 1000 Ps or more, so they never collide with a
//! P. `otherData` states the clock: `"clock":"virtual"` with
//! `"ns_per_tick":100` for a `--sim` run, `"clock":"real"` and 1 otherwise.
//!
//! # Time
//!
//! `ts` is in microseconds: `tick × ns_per_tick / 1000`, written as an exact
//! decimal (no float rounding, so the output is as deterministic as the
//! text form). Under `--sim` a tick models 100 ns, so the timeline shows the
//! duration the virtual clock models.
//!
//! # The walk
//!
//! The writer reads the trace twice. The first pass finds the Ps and the
//! last tick. The second walks the events once, keeping a stack of open
//! slices per thread:
//! 1. `GoStart` opens a slice `G<g> <function>()` on its P (the function
//!    comes from the G's `GoCreate fn=` label; `G<g>` alone when the trace
//!    did not see the G created); the next `GoEnd`, `GoPark`, `GoSched` or
//!    `GoPreempt` on that P closes it. A `GoStart` on a P whose previous G never
//!    ended closes that slice first. The closing `E` carries the closing
//!    event's name (`"event":"GoPark"`) and arguments (its `reason`).
//! 2. `STWStart` opens `STW <reason>` on the runtime thread; `STWDone`
//!    closes it.
//! 3. `GCStart` opens `GC <n>` on the GC thread and `GCDone` closes it.
//!    Inside it, `mark` runs from the end of the sweep-termination pause to
//!    `GCMarkDone`. The sweep starts in mark termination (inside the
//!    cycle's slice), so its slice `sweep` opens at `GCDone` when the sweep
//!    is still going, and ends at `GCSweepDone` or at the next `GCStart`.
//! 4. `GCMarkWorkerStart` opens `mark worker (<mode>)` on its P,
//!    `GCMarkAssistStart` opens `mark assist`; their stop events close them.
//! 5. A `GoUnpark` of G `g` is remembered; at `g`'s next `GoStart` a flow
//!    arrow is written from the unpark to the start (a pair of `s` and `f`
//!    events with one id, the `f` bound to the slice it starts), named by
//!    why `g` had parked (`wake (chan_recv)` is a send completing a
//!    receive). Both halves are written together, so every flow pairs up.
//! 6. Counter tracks (`C` events): `heap live` and `heap goal` (bytes,
//!    from `HeapAlloc`, `GCDone live=` and `HeapGoal`), `runnable
//!    goroutines`, and `GC CPU (Ps)` (the Ps busy with the collector: mark
//!    workers and assists, all of them during a stop-the-world). A counter
//!    is written when its value changes, at most once a microsecond of
//!    trace time per track (the last value of each is always written), so
//!    a long trace does not drown in counter events.
//! 7. Every other event, and every closing event that finds no slice to
//!    close, is an instant event (`"ph":"i","s":"t"`) carrying its
//!    arguments.
//! 8. At the end every slice still open is closed at the last tick, so each
//!    `B` has its `E`.
//!
//! Slices are written as `B`/`E` pairs, which must nest per thread. Closing a
//! slice therefore also closes every slice opened above it on the same thread
//! (for example a mark worker still open when its G is preempted); a closing
//! event for such an already-closed slice becomes an instant. This keeps the
//! output well nested whatever order the runtime records events in.
//!
//! Strings are escaped as JSON requires. Every event's arguments appear under
//! `args`, plus `P` and `G` when the event had them.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufWriter, Write};

use super::{Arg, Event, EventKind, Reader};

/// The Chrome `pid` of every event; the trace describes one process.
const PID: u32 = 1;

/// The runtime thread's tid when the trace has fewer Ps than this; chosen
/// well above any usual P count so P tids stay equal to P numbers.
const RUNTIME_TID_DEFAULT: u64 = 1000;

/// A counter is written at most once per this many nanoseconds of trace
/// time (one microsecond: finer than any viewer's zoom shows a counter).
const COUNTER_EVERY_NS: u64 = 1000;

/// Writes `reader`'s trace as Chrome JSON.
pub fn write(reader: &mut Reader, out: &mut dyn Write) -> io::Result<()> {
    let mut procs: Vec<u32> = Vec::new();
    let mut last_tick = 0;
    // Goroutine names come from their `GoCreate`, which may lie before a
    // window (`Reader::set_window`): the first pass reads the whole trace,
    // and takes the Ps and the last tick from the window's events only.
    let mut names = HashMap::new();
    let window = reader.window_filter();
    reader.for_each_unwindowed(&mut |e| {
        if e.kind == EventKind::GoCreate {
            if let (Some(g), Some(f)) = (e.num("g"), e.word("fn")) {
                names.insert(g, f.to_string());
            }
        }
        if window(e) {
            if let Some(p) = e.p {
                if let Err(i) = procs.binary_search(&p) {
                    procs.insert(i, p);
                }
            }
            last_tick = last_tick.max(e.tick);
        }
        Ok(())
    })?;
    let header = reader.header();
    let mut w = ChromeWriter::new(procs, last_tick, header.ns_per_tick, BufWriter::new(out));
    w.names = names;
    w.header()?;
    reader.for_each(&mut |e| w.event(e))?;
    w.finish()
}

/// The kinds of slice the writer opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SliceKind {
    Goroutine,
    MarkWorker,
    Assist,
    Stw,
    Gc,
    Mark,
    Sweep,
}

/// A slice that has a `B` but no `E` yet.
struct OpenSlice {
    kind: SliceKind,
    name: String,
}

/// A counter track's state.
#[derive(Default)]
struct Counter {
    /// The value last written and when (in ns), if any.
    written: Option<(f64, u64)>,
    /// A newer value not yet written.
    pending: Option<(f64, u64)>,
}

/// A `GoUnpark` waiting for the `GoStart` it causes.
struct Wake {
    tid: u64,
    tick: u64,
}

/// Walks the merged stream once and writes Chrome JSON.
struct ChromeWriter<W: Write> {
    w: W,
    /// The Ps that appear in the trace, for the metadata events.
    procs: Vec<u32>,
    runtime_tid: u64,
    gc_tid: u64,
    ns_per_tick: u64,
    /// Open slices per tid, innermost last. A BTreeMap so that the slices
    /// left open at the end are closed in a deterministic order.
    open: BTreeMap<u64, Vec<OpenSlice>>,
    /// The tick every slice left open is closed at: the last one seen.
    last_tick: u64,
    /// False until the first element of `traceEvents` is written.
    wrote_any: bool,
    /// Each G's function, from `GoCreate fn=`.
    names: HashMap<u64, String>,
    /// Why each parked G parked (for the flow's name).
    park_reason: HashMap<u64, String>,
    /// Unparks waiting for their `GoStart`.
    wakes: HashMap<u64, Wake>,
    next_flow: u64,
    /// Gs that are runnable and not running.
    runnable: std::collections::HashSet<u64>,
    /// Ps doing collector work now (mark worker or assist), and whether the
    /// world is stopped.
    gc_busy: BTreeMap<u32, u32>,
    stopped: bool,
    /// A sweep has started and not finished.
    sweeping: bool,
    /// How many Ps the trace has.
    nprocs: usize,
    counters: BTreeMap<&'static str, Counter>,
}

impl<W: Write> ChromeWriter<W> {
    fn new(procs: Vec<u32>, last_tick: u64, ns_per_tick: u64, w: W) -> Self {
        let runtime_tid = match procs.last() {
            Some(&max) => RUNTIME_TID_DEFAULT.max(u64::from(max) + 1),
            None => RUNTIME_TID_DEFAULT,
        };
        ChromeWriter {
            w,
            nprocs: procs.len(),
            procs,
            runtime_tid,
            gc_tid: runtime_tid + 1,
            ns_per_tick: ns_per_tick.max(1),
            open: BTreeMap::new(),
            last_tick,
            wrote_any: false,
            names: HashMap::new(),
            park_reason: HashMap::new(),
            wakes: HashMap::new(),
            next_flow: 1,
            runnable: Default::default(),
            gc_busy: BTreeMap::new(),
            stopped: false,
            sweeping: false,
            counters: BTreeMap::new(),
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
        self.track_state(e)?;
        match e.kind {
            EventKind::GoStart => {
                // The previous G never ended its slice: close it here,
                // without this event's arguments (they are the next G's).
                self.close_plain(tid, SliceKind::Goroutine, e.tick)?;
                let g = e.g.or_else(|| e.num("g"));
                let name = match g {
                    Some(g) => match self.names.get(&g) {
                        Some(f) => format!("G{g} {f}"),
                        None => format!("G{g}"),
                    },
                    None => "G-".to_string(),
                };
                self.open(tid, SliceKind::Goroutine, name, e)?;
                if let Some(g) = g {
                    if let Some(wake) = self.wakes.remove(&g) {
                        self.flow(g, wake, tid, e.tick)?;
                    }
                }
                Ok(())
            }
            EventKind::GoEnd | EventKind::GoPark | EventKind::GoSched | EventKind::GoPreempt => {
                self.close_or_instant(tid, SliceKind::Goroutine, e)
            }
            EventKind::STWStart => {
                let name = label("STW", e.get("reason"));
                self.open(self.runtime_tid, SliceKind::Stw, name, e)
            }
            EventKind::STWDone => {
                self.close_or_instant(self.runtime_tid, SliceKind::Stw, e)?;
                if e.word("reason") == Some("sweep_termination")
                    && self.is_open(self.gc_tid, SliceKind::Gc)
                {
                    self.open(self.gc_tid, SliceKind::Mark, "mark".to_string(), e)?;
                }
                Ok(())
            }
            EventKind::GCStart => {
                self.close(self.gc_tid, SliceKind::Sweep, e)?;
                let name = label("GC", e.get("n"));
                self.open(self.gc_tid, SliceKind::Gc, name, e)
            }
            EventKind::GCMarkDone => {
                self.close(self.gc_tid, SliceKind::Mark, e)?;
                self.instant(tid, e)
            }
            EventKind::GCDone => {
                self.close_or_instant(self.gc_tid, SliceKind::Gc, e)?;
                if self.sweeping {
                    // The sweep began in mark termination and goes on
                    // concurrently: its slice runs from here.
                    self.close(self.gc_tid, SliceKind::Sweep, e)?;
                    self.open(self.gc_tid, SliceKind::Sweep, "sweep".to_string(), e)?;
                }
                Ok(())
            }
            EventKind::GCSweepStart => {
                self.sweeping = true;
                if self.is_open(self.gc_tid, SliceKind::Gc) {
                    // Inside the cycle (its mark termination): slices must
                    // nest, so the sweep's slice opens at `GCDone`.
                    self.instant(tid, e)
                } else {
                    self.close(self.gc_tid, SliceKind::Sweep, e)?;
                    self.open(self.gc_tid, SliceKind::Sweep, "sweep".to_string(), e)
                }
            }
            EventKind::GCSweepDone => {
                self.sweeping = false;
                self.close_or_instant(self.gc_tid, SliceKind::Sweep, e)
            }
            EventKind::GCMarkWorkerStart => {
                let name = match e.get("mode") {
                    Some(mode) => format!("mark worker ({mode})"),
                    None => "mark worker".to_string(),
                };
                self.open(tid, SliceKind::MarkWorker, name, e)
            }
            EventKind::GCMarkWorkerStop => self.close_or_instant(tid, SliceKind::MarkWorker, e),
            EventKind::GCMarkAssistStart => {
                self.open(tid, SliceKind::Assist, "mark assist".to_string(), e)
            }
            EventKind::GCMarkAssistDone => self.close_or_instant(tid, SliceKind::Assist, e),
            EventKind::HeapAlloc => Ok(()),
            _ => self.instant(tid, e),
        }
    }

    /// Updates what the counters and flows follow, and writes the counters
    /// that changed.
    fn track_state(&mut self, e: &Event) -> io::Result<()> {
        let ns = e.tick.saturating_mul(self.ns_per_tick);
        match e.kind {
            EventKind::GoCreate => {
                if let (Some(g), Some(f)) = (e.num("g"), e.word("fn")) {
                    self.names.insert(g, f.to_string());
                }
                if let Some(g) = e.num("g") {
                    if e.word("kind").is_some_and(|k| k == "user" || k == "main") {
                        self.runnable.insert(g);
                    }
                }
            }
            EventKind::GoUnpark => {
                if let Some(g) = e.num("g") {
                    self.runnable.insert(g);
                    self.wakes.insert(
                        g,
                        Wake {
                            tid: self.proc_tid(e.p),
                            tick: e.tick,
                        },
                    );
                }
            }
            EventKind::GoSched | EventKind::GoPreempt => {
                if let Some(g) = e.g {
                    self.runnable.insert(g);
                }
            }
            EventKind::GoPark => {
                if let (Some(g), Some(r)) = (e.g, e.word("reason")) {
                    self.park_reason.insert(g, r.to_string());
                }
            }
            EventKind::GoEnd => {
                if let Some(g) = e.g {
                    self.names.remove(&g);
                    self.park_reason.remove(&g);
                }
            }
            EventKind::GoStart => {
                if let Some(g) = e.g {
                    self.runnable.remove(&g);
                }
            }
            EventKind::GCMarkWorkerStart | EventKind::GCMarkAssistStart => {
                if let Some(p) = e.p {
                    *self.gc_busy.entry(p).or_default() += 1;
                }
            }
            EventKind::GCMarkWorkerStop | EventKind::GCMarkAssistDone => {
                if let Some(p) = e.p {
                    if let Some(n) = self.gc_busy.get_mut(&p) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            self.gc_busy.remove(&p);
                        }
                    }
                }
            }
            // A P that stops is not doing collector work any more.
            EventKind::ProcStop => {
                if let Some(p) = e.p {
                    self.gc_busy.remove(&p);
                }
            }
            EventKind::STWStart => self.stopped = true,
            EventKind::STWDone => self.stopped = false,
            EventKind::HeapAlloc => {
                if let Some(v) = e.num("live") {
                    self.counter("heap live", v as f64, ns)?;
                }
            }
            EventKind::GCDone => {
                if let Some(v) = e.num("live") {
                    self.counter("heap live", v as f64, ns)?;
                }
            }
            EventKind::HeapGoal => {
                if let Some(v) = e.num("goal") {
                    self.counter("heap goal", v as f64, ns)?;
                }
            }
            _ => {}
        }
        let runnable = self.runnable.len() as f64;
        self.counter("runnable goroutines", runnable, ns)?;
        let busy = if self.stopped {
            self.nprocs.max(1) as f64
        } else {
            self.gc_busy.len() as f64
        };
        self.counter("GC CPU (Ps)", busy, ns)
    }

    /// Notes a counter's new value, writing it when due: a value that
    /// comes within [`COUNTER_EVERY_NS`] of the last one written is held
    /// back, and written at its own time before the next value that is
    /// due (or at the end).
    fn counter(&mut self, name: &'static str, value: f64, ns: u64) -> io::Result<()> {
        let c = self.counters.entry(name).or_default();
        let last = c.pending.or(c.written).map(|(v, _)| v);
        if last == Some(value) {
            return Ok(());
        }
        if c.written.is_some_and(|(_, at)| ns < at + COUNTER_EVERY_NS) {
            c.pending = Some((value, ns));
            return Ok(());
        }
        let held = c.pending.take();
        c.written = Some((value, ns));
        if let Some((v, at)) = held {
            self.write_counter(name, v, at)?;
        }
        self.write_counter(name, value, ns)
    }

    fn write_counter(&mut self, name: &str, value: f64, ns: u64) -> io::Result<()> {
        self.begin_element()?;
        self.w.write_all(b"{\"name\":")?;
        write_json_str(&mut self.w, name)?;
        write!(self.w, ",\"ph\":\"C\",\"pid\":{PID},\"ts\":")?;
        write_ns(&mut self.w, ns)?;
        self.w.write_all(b",\"args\":{\"value\":")?;
        // Whole values print as integers; 1e15 keeps the cast exact (an
        // f64 holds every integer below 2^53).
        if value.fract() == 0.0 && value.abs() < 1e15 {
            write!(self.w, "{}", value as i64)?;
        } else {
            write!(self.w, "{value}")?;
        }
        self.w.write_all(b"}}")
    }

    /// A flow arrow from `wake` to the `GoStart` of `g` at `tick` on `tid`.
    fn flow(&mut self, g: u64, wake: Wake, tid: u64, tick: u64) -> io::Result<()> {
        let id = self.next_flow;
        self.next_flow += 1;
        let name = match self.park_reason.get(&g) {
            Some(r) => format!("wake ({r})"),
            None => "wake".to_string(),
        };
        for (ph, t, at) in [("s", wake.tid, wake.tick), ("f", tid, tick)] {
            self.begin_element()?;
            self.w.write_all(b"{\"name\":")?;
            write_json_str(&mut self.w, &name)?;
            write!(
                self.w,
                ",\"cat\":\"flow\",\"ph\":\"{ph}\",\"id\":{id},\"pid\":{PID},\"tid\":{t},\"ts\":"
            )?;
            self.write_tick(at)?;
            if ph == "f" {
                self.w.write_all(b",\"bp\":\"e\"")?;
            }
            self.w.write_all(b"}")?;
        }
        Ok(())
    }

    fn is_open(&self, tid: u64, kind: SliceKind) -> bool {
        self.open
            .get(&tid)
            .is_some_and(|s| s.iter().any(|o| o.kind == kind))
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
        self.write_tick(e.tick)?;
        self.write_args(e, false)?;
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

    /// Closes the innermost open `kind` slice on `tid` (and every slice
    /// above it) at `tick`, with no arguments.
    fn close_plain(&mut self, tid: u64, kind: SliceKind, tick: u64) -> io::Result<()> {
        let Some(stack) = self.open.get_mut(&tid) else {
            return Ok(());
        };
        let Some(pos) = stack.iter().rposition(|s| s.kind == kind) else {
            return Ok(());
        };
        let closing: Vec<OpenSlice> = stack.drain(pos..).collect();
        for slice in closing.iter().rev() {
            self.end(tid, &slice.name, tick, None)?;
        }
        Ok(())
    }

    /// Writes one `E`.
    fn end(&mut self, tid: u64, name: &str, tick: u64, args: Option<&Event>) -> io::Result<()> {
        self.begin_element()?;
        self.w.write_all(b"{\"name\":")?;
        write_json_str(&mut self.w, name)?;
        write!(self.w, ",\"ph\":\"E\",\"pid\":{PID},\"tid\":{tid},\"ts\":")?;
        self.write_tick(tick)?;
        if let Some(e) = args {
            self.write_args(e, true)?;
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
        self.write_tick(e.tick)?;
        self.write_args(e, false)?;
        self.w.write_all(b"}")
    }

    /// Writes `,"args":{...}` with `e`'s P, G and arguments, and its name
    /// as `event` when `named` (for an `E`, which closes a slice named
    /// otherwise).
    fn write_args(&mut self, e: &Event, named: bool) -> io::Result<()> {
        self.w.write_all(b",\"args\":{")?;
        let mut first = true;
        if named {
            write!(self.w, "\"event\":\"{}\"", e.kind.name())?;
            first = false;
        }
        if let Some(p) = e.p {
            if !first {
                self.w.write_all(b",")?;
            }
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
                Arg::Label(s) => write_json_str(&mut self.w, s)?,
            }
        }
        self.w.write_all(b"}")
    }

    fn write_tick(&mut self, tick: u64) -> io::Result<()> {
        write_ns(&mut self.w, tick.saturating_mul(self.ns_per_tick))
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

    /// Writes each counter's held-back value, closes every slice still open
    /// at the last tick, then the object.
    fn finish(mut self) -> io::Result<()> {
        let counters = std::mem::take(&mut self.counters);
        for (name, c) in counters {
            if let Some((v, at)) = c.pending {
                self.write_counter(name, v, at)?;
            }
        }
        let open = std::mem::take(&mut self.open);
        for (tid, stack) in open {
            for slice in stack.iter().rev() {
                self.end(tid, &slice.name, self.last_tick, None)?;
            }
        }
        let (clock, npt) = if self.ns_per_tick == 1 {
            ("real", 1)
        } else {
            ("virtual", self.ns_per_tick)
        };
        write!(
            self.w,
            "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{{\"clock\":\"{clock}\",\"ns_per_tick\":{npt},\"last_tick\":{}}}}}\n",
            self.last_tick
        )?;
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

/// Writes `ns / 1000` (nanoseconds to microseconds) as an exact decimal
/// with no trailing zeros, e.g. `1200` as `1.2` and `5` as `0.005`.
pub(crate) fn write_ns(w: &mut impl Write, ns: u64) -> io::Result<()> {
    // 1000 nanoseconds make one microsecond, Chrome's `ts` unit.
    let whole = ns / 1000;
    let frac = ns % 1000;
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
pub(crate) fn write_json_str(w: &mut impl Write, s: &str) -> io::Result<()> {
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
