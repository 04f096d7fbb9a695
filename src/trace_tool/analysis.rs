//! What a trace says, computed once: the timeline of each P, the GC
//! cycles and pauses, the heap over time, and the figures `skein trace
//! summary` prints (the HTML page draws the same model).
//!
//! # Steps
//!
//! 1. Walk the events in time order (`Reader::for_each`), converting ticks
//!    to nanoseconds with the trace's scale (100 ns a tick under `--sim`).
//! 2. Per P keep a stack of activities: a goroutine runs (`GoStart` …
//!    `GoEnd`/`GoPark`/`GoSched`/`GoPreempt`), and inside it a mark worker
//!    drains or a mark assist runs. The timeline of a row is the top of the
//!    stack over time, cut into non-overlapping segments.
//! 3. Pair `STWStart`/`STWDone` into pauses, `GCStart`/`GCDone` into
//!    cycles (with their mark phase: the end of the sweep-termination pause
//!    to `GCMarkDone`), and `GCSweepStart`/`GCSweepDone` into sweeps.
//! 4. The collector's share of the Ps over time is a step function: the
//!    Ps running a dedicated or fractional mark worker or an assist, or
//!    all of them while the world is stopped. Idle-mode workers are left
//!    out: they run only on a P that has nothing else to run, so they take
//!    no time from the program. Minimum mutator utilization (MMU) for a
//!    window W is one minus the largest average of that function over any
//!    W-long window; the largest is found at windows that start or end at a
//!    step (the integral is piecewise linear between them).
//! 5. Scheduling latency is the time from a goroutine becoming runnable
//!    (`GoCreate`, `GoUnpark`, `GoSched`, `GoPreempt`) to its next
//!    `GoStart`.
//!
//! Invariant: each row's segments are sorted and do not overlap.

use std::collections::{BTreeMap, HashMap};
use std::io;

use skein_vm::trace::{Event, EventKind, Reader};

/// What a timeline segment shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// A goroutine runs its own code.
    Goroutine,
    /// A background mark worker drains, by mode.
    Worker(WorkerMode),
    /// A goroutine assists the mark.
    Assist,
}

/// A background mark worker's mode (Go's `gcMarkWorkerMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WorkerMode {
    Dedicated,
    Fractional,
    Idle,
}

impl WorkerMode {
    fn parse(s: Option<&str>) -> WorkerMode {
        match s {
            Some("dedicated") => WorkerMode::Dedicated,
            Some("fractional") => WorkerMode::Fractional,
            _ => WorkerMode::Idle,
        }
    }

    /// The mode's name in the trace.
    pub fn name(self) -> &'static str {
        match self {
            WorkerMode::Dedicated => "dedicated",
            WorkerMode::Fractional => "fractional",
            WorkerMode::Idle => "idle",
        }
    }
}

impl Activity {
    /// The kind the HTML page colours by.
    pub fn kind(self) -> &'static str {
        match self {
            Activity::Goroutine => "g",
            Activity::Worker(m) => m.name(),
            Activity::Assist => "assist",
        }
    }

    /// True for the collector's work that takes a P from the program.
    fn takes_from_mutator(self) -> bool {
        matches!(
            self,
            Activity::Assist | Activity::Worker(WorkerMode::Dedicated | WorkerMode::Fractional)
        )
    }
}

/// One piece of a P's row.
#[derive(Clone, Debug)]
pub struct Segment {
    pub start: u64,
    pub end: u64,
    pub activity: Activity,
    /// The goroutine, if known.
    pub g: Option<u64>,
    /// Index into `Model::details`, or none.
    pub detail: Option<usize>,
}

/// A stop-the-world pause.
#[derive(Clone, Debug)]
pub struct Pause {
    pub start: u64,
    pub end: u64,
    pub reason: String,
}

/// One GC cycle.
#[derive(Clone, Debug, Default)]
pub struct Cycle {
    pub n: u64,
    pub trigger: String,
    pub start: u64,
    pub end: Option<u64>,
    pub mark_start: Option<u64>,
    pub mark_end: Option<u64>,
    pub live: Option<u64>,
}

/// Everything the summary and the page show.
#[derive(Debug, Default)]
pub struct Model {
    /// Nanoseconds a tick stands for.
    pub ns_per_tick: u64,
    /// The last event's time (ns); the first is 0 or a flight recording's
    /// start.
    pub end: u64,
    pub start: u64,
    pub events: u64,
    /// Each P's row.
    pub rows: BTreeMap<u32, Vec<Segment>>,
    pub pauses: Vec<Pause>,
    pub cycles: Vec<Cycle>,
    /// Sweeps: (start, end).
    pub sweeps: Vec<(u64, u64)>,
    /// Heap samples: (time, live bytes, goal bytes or 0).
    pub heap: Vec<(u64, u64, u64)>,
    /// Each goroutine's function, from `GoCreate fn=`.
    pub names: HashMap<u64, String>,
    /// The events of some segments, in the text form (for the page).
    pub details: Vec<String>,
    /// Time each mode's workers drained, and assists ran (ns).
    pub worker_ns: BTreeMap<WorkerMode, u64>,
    pub assist_ns: u64,
    /// Steps of the collector's share: (time, Ps busy, stopped).
    gc_steps: Vec<(u64, f64)>,
    pub goroutines_created: u64,
    pub peak_alive: u64,
    /// Ready → running, per start (ns).
    pub latencies: Vec<u64>,
    pub syscalls: u64,
    pub syscall_ns: u64,
    /// The number of Ps the trace shows.
    pub nprocs: u32,
}

/// Details kept per segment at most: a slice's events as the page shows
/// them on a click, a screenful.
const DETAIL_LINES: usize = 24;
/// Segments that get details at most: beyond this the page would grow
/// large for little use.
const DETAIL_SEGMENTS: usize = 100_000;

/// The state of one P while walking.
#[derive(Default)]
struct Row {
    /// Open activities, innermost last: (activity, g).
    stack: Vec<(Activity, Option<u64>)>,
    /// When the top of the stack began its current segment.
    since: u64,
    /// The current segment's event lines.
    lines: Vec<String>,
}

/// Builds the model of `reader`'s trace.
pub fn analyse(reader: &mut Reader) -> io::Result<Model> {
    let header = reader.header();
    let scale = header.ns_per_tick.max(1);
    let mut m = Model {
        ns_per_tick: scale,
        start: header.start_tick.saturating_mul(scale),
        ..Model::default()
    };
    // The Ps, first: the collector's share is a share of all of them,
    // from the first event on.
    let mut procs = std::collections::BTreeSet::new();
    reader.for_each(&mut |e| {
        if let Some(p) = e.p {
            procs.insert(p);
        }
        Ok(())
    })?;
    let nprocs = procs.len().max(1) as f64;
    let mut rows: BTreeMap<u32, Row> = BTreeMap::new();
    // Open pauses, innermost last (a checkmark pause nests in mark
    // termination's).
    let mut open_pauses: Vec<(u64, String)> = Vec::new();
    let mut runnable_since: HashMap<u64, u64> = HashMap::new();
    let mut in_syscall: HashMap<u64, u64> = HashMap::new();
    let mut alive: i64 = 0;
    let mut user_gs: std::collections::HashSet<u64> = Default::default();
    let mut sweep_open: Option<u64> = None;
    let mut goal = 0u64;
    let mut busy: BTreeMap<u32, u32> = BTreeMap::new();
    let mut first = true;
    reader.for_each(&mut |e: &Event| {
        let t = e.tick.saturating_mul(scale);
        if first {
            // A flight recording starts at its first whole cycle; any
            // other trace at the moment recording began (tick 0).
            if header.start_tick > 0 {
                m.start = t;
            }
            first = false;
        }
        m.events += 1;
        m.end = m.end.max(t);
        if let Some(p) = e.p {
            let row = rows.entry(p).or_default();
            if row.lines.len() < DETAIL_LINES && !e.kind.is_extended() {
                row.lines.push(format!("{e}"));
            }
        }
        match e.kind {
            EventKind::GoCreate => {
                if let Some(g) = e.num("g") {
                    if let Some(f) = e.word("fn") {
                        m.names.insert(g, f.to_string());
                    }
                    if matches!(e.word("kind"), Some("user") | Some("main")) {
                        m.goroutines_created += 1;
                        user_gs.insert(g);
                        alive += 1;
                        m.peak_alive = m.peak_alive.max(alive as u64);
                        runnable_since.insert(g, t);
                    }
                }
            }
            EventKind::GoUnpark => {
                if let Some(g) = e.num("g") {
                    runnable_since.entry(g).or_insert(t);
                }
            }
            EventKind::GoSched | EventKind::GoPreempt => {
                if let Some(g) = e.g {
                    runnable_since.insert(g, t);
                }
            }
            EventKind::GoEnd if e.g.is_some_and(|g| user_gs.remove(&g)) => alive -= 1,
            EventKind::GoSyscall => {
                if let Some(g) = e.g {
                    in_syscall.insert(g, t);
                    m.syscalls += 1;
                }
            }
            EventKind::GoSysExit => {
                if let Some(since) = e.g.and_then(|g| in_syscall.remove(&g)) {
                    m.syscall_ns += t.saturating_sub(since);
                }
            }
            EventKind::STWStart => {
                open_pauses.push((t, e.word("reason").unwrap_or("?").to_string()));
            }
            EventKind::STWDone => {
                if let Some((start, reason)) = open_pauses.pop() {
                    if reason == "sweep_termination" {
                        if let Some(c) = m.cycles.last_mut() {
                            if c.end.is_none() && c.mark_start.is_none() {
                                c.mark_start = Some(t);
                            }
                        }
                    }
                    m.pauses.push(Pause {
                        start,
                        end: t,
                        reason,
                    });
                }
            }
            EventKind::GCStart => {
                if let Some(s) = sweep_open.take() {
                    m.sweeps.push((s, t));
                }
                m.cycles.push(Cycle {
                    n: e.num("n").unwrap_or(m.cycles.len() as u64 + 1),
                    trigger: e.word("trigger").unwrap_or("?").to_string(),
                    start: t,
                    ..Cycle::default()
                });
            }
            EventKind::GCMarkDone => {
                if let Some(c) = m.cycles.last_mut() {
                    if c.end.is_none() && c.mark_end.is_none() {
                        c.mark_end = Some(t);
                    }
                }
            }
            EventKind::GCDone => {
                if let Some(c) = m.cycles.last_mut() {
                    if c.end.is_none() {
                        c.end = Some(t);
                        c.live = e.num("live");
                        if c.mark_end.is_none() {
                            c.mark_end = Some(t);
                        }
                    }
                }
                if let Some(live) = e.num("live") {
                    m.heap.push((t, live, goal));
                }
            }
            EventKind::GCSweepStart if sweep_open.is_none() => sweep_open = Some(t),
            EventKind::GCSweepDone => {
                if let Some(s) = sweep_open.take() {
                    m.sweeps.push((s, t));
                }
            }
            EventKind::HeapGoal => {
                goal = e.num("goal").unwrap_or(goal);
                let live = m.heap.last().map_or(0, |h| h.1);
                m.heap.push((t, live, goal));
            }
            EventKind::HeapAlloc => {
                if let Some(live) = e.num("live") {
                    m.heap.push((t, live, goal));
                }
            }
            _ => {}
        }
        // The P's row.
        if let Some(p) = e.p {
            let row = rows.get_mut(&p).expect("made above");
            let before = row.stack.last().map(|a| a.0);
            match e.kind {
                EventKind::GoStart => {
                    cut(&mut m, p, row, t);
                    row.stack.clear();
                    row.stack.push((Activity::Goroutine, e.g));
                    if let Some(since) = e.g.and_then(|g| runnable_since.remove(&g)) {
                        m.latencies.push(t.saturating_sub(since));
                    }
                }
                EventKind::GoEnd
                | EventKind::GoPark
                | EventKind::GoSched
                | EventKind::GoPreempt => {
                    cut(&mut m, p, row, t);
                    row.stack.clear();
                }
                EventKind::ProcStop => {
                    cut(&mut m, p, row, t);
                    row.stack.clear();
                }
                EventKind::GCMarkWorkerStart => {
                    cut(&mut m, p, row, t);
                    let mode = WorkerMode::parse(e.word("mode"));
                    row.stack.push((Activity::Worker(mode), e.g));
                }
                EventKind::GCMarkAssistStart => {
                    cut(&mut m, p, row, t);
                    row.stack.push((Activity::Assist, e.g));
                }
                EventKind::GCMarkWorkerStop | EventKind::GCMarkAssistDone => {
                    let want = |a: Activity| match e.kind {
                        EventKind::GCMarkAssistDone => a == Activity::Assist,
                        _ => matches!(a, Activity::Worker(_)),
                    };
                    if let Some(i) = row.stack.iter().rposition(|(a, _)| want(*a)) {
                        cut(&mut m, p, row, t);
                        row.stack.truncate(i);
                    }
                }
                _ => {}
            }
            let after = row.stack.last().map(|a| a.0);
            if before != after {
                let b = before.is_some_and(Activity::takes_from_mutator);
                let a = after.is_some_and(Activity::takes_from_mutator);
                if a && !b {
                    *busy.entry(p).or_default() += 1;
                } else if b && !a {
                    if let Some(n) = busy.get_mut(&p) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            busy.remove(&p);
                        }
                    }
                }
            }
        }
        // Only the collector's own pauses take time from the program on
        // its account (a `memstats` pause is the program's own doing).
        let stopped = open_pauses.iter().any(|(_, r)| is_gc_pause(r));
        let share = if stopped {
            1.0
        } else {
            busy.len() as f64 / nprocs
        };
        if m.gc_steps.last().is_none_or(|&(_, s)| s != share) {
            m.gc_steps.push((t, share));
        }
        Ok(())
    })?;
    let end = m.end;
    for (p, row) in rows.iter_mut() {
        cut(&mut m, *p, row, end);
    }
    for (start, reason) in open_pauses.into_iter().rev() {
        m.pauses.push(Pause { start, end, reason });
    }
    if let Some(s) = sweep_open {
        m.sweeps.push((s, end));
    }
    m.nprocs = procs.len() as u32;
    for row in m.rows.values() {
        for s in row {
            match s.activity {
                Activity::Worker(mode) => *m.worker_ns.entry(mode).or_default() += s.end - s.start,
                Activity::Assist => m.assist_ns += s.end - s.start,
                Activity::Goroutine => {}
            }
        }
    }
    if m.start > m.end {
        m.start = m.end;
    }
    Ok(m)
}

/// Ends the row's current segment at `t` (if it has one and it is not
/// empty) and starts the next one there.
fn cut(m: &mut Model, p: u32, row: &mut Row, t: u64) {
    if let Some(&(activity, g)) = row.stack.last() {
        if t > row.since {
            let detail = if m.details.len() < DETAIL_SEGMENTS && !row.lines.is_empty() {
                m.details.push(row.lines.join("\n"));
                Some(m.details.len() - 1)
            } else {
                None
            };
            m.rows.entry(p).or_default().push(Segment {
                start: row.since,
                end: t,
                activity,
                g,
                detail,
            });
        }
    }
    m.rows.entry(p).or_default();
    row.since = t;
    row.lines.clear();
}

impl Model {
    /// The trace's length in ns.
    pub fn duration(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// A segment's label: `G12 worker()`, `mark worker (dedicated)`, `mark
    /// assist (G12)`.
    pub fn label(&self, s: &Segment) -> String {
        match s.activity {
            Activity::Goroutine => match s.g {
                Some(g) => match self.names.get(&g) {
                    Some(f) => format!("G{g} {f}"),
                    None => format!("G{g}"),
                },
                None => "G-".to_string(),
            },
            Activity::Worker(mode) => format!("mark worker ({})", mode.name()),
            Activity::Assist => match s.g {
                Some(g) => format!("mark assist (G{g})"),
                None => "mark assist".to_string(),
            },
        }
    }

    /// Minimum mutator utilization for windows of `window` ns (module docs,
    /// step 4); the whole trace when it is shorter than the window.
    pub fn mmu(&self, window: u64) -> f64 {
        let (start, end) = (self.start, self.end);
        if end <= start {
            return 1.0;
        }
        let w = window.clamp(1, end - start);
        // Prefix integral of the share at each step.
        let steps: Vec<(u64, f64)> = self
            .gc_steps
            .iter()
            .map(|&(t, s)| (t.clamp(start, end), s))
            .collect();
        let mut prefix = Vec::with_capacity(steps.len());
        let mut acc = 0.0;
        for i in 0..steps.len() {
            prefix.push(acc);
            let next = steps.get(i + 1).map_or(end, |s| s.0);
            acc += steps[i].1 * (next - steps[i].0) as f64;
        }
        let integral = |x: u64| -> f64 {
            // The share before the first step is zero.
            match steps.partition_point(|s| s.0 <= x) {
                0 => 0.0,
                i => prefix[i - 1] + steps[i - 1].1 * (x - steps[i - 1].0) as f64,
            }
        };
        let mut worst: f64 = 0.0;
        let mut consider = |x: u64| {
            let x = x.clamp(start, end - w);
            let gc = integral(x + w) - integral(x);
            worst = worst.max(gc / w as f64);
        };
        consider(start);
        for &(t, _) in &steps {
            consider(t);
            consider(t.saturating_sub(w));
        }
        (1.0 - worst).clamp(0.0, 1.0)
    }

    /// The share of all Ps' time the collector used, counted as `gctrace`
    /// counts it: pause wall time, assists and every mark worker.
    pub fn gc_cpu_share(&self) -> f64 {
        let total = self.duration() as f64 * f64::from(self.nprocs.max(1));
        if total == 0.0 {
            return 0.0;
        }
        let gc_pauses: u64 = self
            .pauses
            .iter()
            .filter(|p| is_gc_pause(&p.reason))
            .map(|p| p.end - p.start)
            .sum();
        let workers: u64 = self.worker_ns.values().sum();
        (gc_pauses + workers + self.assist_ns) as f64 / total
    }
}

/// True for the collector's own pauses: the two of every cycle. (The
/// `gccheckmark` pass is a pause inside mark termination's, so it is
/// counted there.)
pub fn is_gc_pause(reason: &str) -> bool {
    matches!(reason, "sweep_termination" | "mark_termination")
}
