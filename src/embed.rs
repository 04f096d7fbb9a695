//! Running programs from Rust and reading their event traces: the API that
//! tests of GC and scheduler behaviour are written against.
//!
//! Three pieces:
//!
//! - [`run`] compiles and runs a source with [`Options`] and returns a
//!   [`Run`]: stdout, stderr, the exit code the binary would use, and, when
//!   [`Options::record_trace`] is set, the text trace (`docs/runtime.md`) recorded in
//!   memory from the first event to the end of the program.
//! - [`Runner`] is a builder over the same thing, for one-line set-ups such
//!   as `Runner::new(src).procs(4).sim(7).trace(true).run()`; it produces
//!   ordinary [`Options`] ([`Runner::options`]), so everything it can say
//!   can also be said with the `Options` builder.
//! - [`Trace`] parses a text trace into [`TraceEvent`]s, keeps only the
//!   events that describe the collector ([`Trace::filter_gc`]), and writes
//!   events back as text ([`Trace::to_text`]), line for line as the runtime
//!   wrote them. Snapshot tests store the filtered text; invariant checks
//!   walk the events.
//!
//! How [`run`] works (the steps of [`crate::execute`], plus the trace):
//!
//! 1. Compile. On failure, every diagnostic goes to stderr and the exit
//!    code is [`EXIT_COMPILE`](crate::EXIT_COMPILE).
//! 2. With `disasm`, write the disassembly to stdout.
//! 3. Make the VM with [`new_vm`](crate::new_vm), printing into an
//!    in-memory buffer; it records a trace when the options name a trace
//!    file or set `record_trace`.
//! 4. Run the program and flush its output.
//! 5. With `record_trace`, take the trace in the text form. Otherwise, if
//!    the options name a trace file, write it there as `execute` does (the
//!    VM hands its events out once, so an in-memory trace and a trace file
//!    cannot both be had from one run; the in-memory one wins).
//! 6. A runtime error goes to stderr and the exit code is
//!    [`EXIT_RUNTIME`](crate::EXIT_RUNTIME).
//!
//! The trace's text form is `<tick> P<p> G<g> <Event> key=value ...`, with
//! `P-`/`G-` where no P or G applies. [`Trace::parse`] accepts exactly
//! that: a decimal tick, a `P` field, a `G` field, an event name, then zero
//! or more `key=value` words (values hold no spaces; the runtime's vocabulary
//! has none). Blank lines are skipped.
//!
//! Invariants: for any text `t` the runtime wrote,
//! `Trace::parse(t)?.to_text() == t` (a parse loses nothing, so a snapshot
//! of a filtered trace shows the runtime's own lines); [`Trace::filter_gc`]
//! keeps events in their original order and never invents one; in
//! deterministic mode (`sim`) the same program, seed and P count give the
//! same [`Run`], byte for byte.

use std::collections::BTreeSet;
use std::fmt;

use crate::{Options, SharedBuffer};

/// What one run printed, how it ended and, if asked for, its trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Run {
    /// Everything the program (and `disasm`) wrote to stdout.
    pub stdout: String,
    /// Compile diagnostics, the runtime error (message and stack trace)
    /// and trace errors. `gctrace` lines are not here: the runtime
    /// writes them to the process's own stderr (`Runtime::debug_line`).
    pub stderr: String,
    /// The exit code the binary would use: 0,
    /// [`EXIT_COMPILE`](crate::EXIT_COMPILE) or
    /// [`EXIT_RUNTIME`](crate::EXIT_RUNTIME).
    pub exit_code: i32,
    /// The text trace (`docs/runtime.md`) when [`Options::record_trace`] was set.
    pub trace: Option<String>,
}

impl Run {
    /// The recorded trace, parsed. Fails when no trace was recorded or when
    /// a line does not parse.
    pub fn events(&self) -> Result<Trace, TraceParseError> {
        match &self.trace {
            Some(text) => Trace::parse(text),
            None => Err(TraceParseError {
                line: 0,
                text: String::new(),
                message: "no trace was recorded (set Options::record_trace)",
            }),
        }
    }
}

/// Compiles and runs `src` in-process and returns what it printed, its exit
/// code and, with [`Options::record_trace`], its text trace. See the module
/// docs for the steps.
pub fn run(src: &str, opts: &Options) -> Run {
    let out = SharedBuffer::default();
    let mut err: Vec<u8> = Vec::new();
    let (exit_code, trace) = crate::execute_recording(src, opts, Box::new(out.clone()), &mut err);
    Run {
        stdout: out.take_string(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
        exit_code,
        trace,
    }
}

/// A builder for one run: set what differs from the defaults, then
/// [`Runner::run`].
///
/// ```
/// let run = skein::Runner::new("print 1 + 2;").procs(2).sim(7).trace(true).run();
/// assert_eq!(run.stdout, "3\n");
/// assert!(run.trace.is_some());
///
/// let quiet = skein::Runner::new("print 1;").gc_percent(None).gc_percent(50);
/// assert_eq!(quiet.options().gc_percent, Some(50));
/// ```
#[derive(Clone, Debug)]
pub struct Runner {
    src: String,
    opts: Options,
}

impl Runner {
    /// A run of `src` with the default [`Options`] (not the environment's:
    /// a test should not depend on the shell it was started from).
    pub fn new(src: impl Into<String>) -> Runner {
        Runner {
            src: src.into(),
            opts: Options::new(),
        }
    }

    /// Replaces every option with `opts`.
    pub fn with_options(mut self, opts: Options) -> Self {
        self.opts = opts;
        self
    }

    /// Sets the number of processors (`--procs`).
    pub fn procs(mut self, procs: usize) -> Self {
        self.opts = self.opts.procs(procs);
        self
    }

    /// Runs in deterministic mode with `seed` (`--sim SEED`).
    pub fn sim(mut self, seed: u64) -> Self {
        self.opts = self.opts.sim_seed(seed);
        self
    }

    /// Sets the GOGC-style percentage (`SKEINGC`); `None` turns the
    /// automatic trigger off. Accepts a plain number too: `.gc_percent(50)`.
    pub fn gc_percent(mut self, percent: impl Into<Option<u32>>) -> Self {
        self.opts = self.opts.gc_percent(percent.into());
        self
    }

    /// Sets the heap limit in bytes (`--max-heap`).
    pub fn max_heap(mut self, bytes: usize) -> Self {
        self.opts = self.opts.max_heap(bytes);
        self
    }

    /// Asks for a concurrent cycle at every allocation
    /// (`SKEINDEBUG=gcstress=1`); see [`Options::gcstress`] for level 2.
    pub fn gcstress(mut self, on: bool) -> Self {
        self.opts = self.opts.gcstress(on);
        self
    }

    /// Re-marks with the world stopped after each cycle and aborts on any
    /// object the concurrent mark missed (`SKEINDEBUG=gccheckmark=1`).
    pub fn gccheckmark(mut self, on: bool) -> Self {
        self.opts = self.opts.gccheckmark(on);
        self
    }

    /// Chooses deterministic mode's schedule strategy (`--sim-strategy`).
    pub fn sim_strategy(mut self, strategy: crate::Strategy) -> Self {
        self.opts = self.opts.sim_strategy(strategy);
        self
    }

    /// Lets the deterministic schedule choose runtime faults too
    /// (`SKEINDEBUG=buggify=1`).
    pub fn buggify(mut self, on: bool) -> Self {
        self.opts = self.opts.buggify(on);
        self
    }

    /// Makes every cycle stop-the-world (`SKEINDEBUG=gcstoptheworld=1`).
    pub fn gcstoptheworld(mut self, on: bool) -> Self {
        self.opts = self.opts.gcstoptheworld(on);
        self
    }

    /// Prints one line per cycle to the process's own stderr, not into
    /// [`Run::stderr`] (`--gctrace`).
    pub fn gctrace(mut self, on: bool) -> Self {
        self.opts = self.opts.gctrace(on);
        self
    }

    /// Records the text trace in memory ([`Run::trace`]).
    pub fn trace(mut self, on: bool) -> Self {
        self.opts = self.opts.record_trace(on);
        self
    }

    /// The options this builder has collected.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Compiles and runs the source; see [`run`].
    pub fn run(&self) -> Run {
        run(&self.src, &self.opts)
    }
}

/// One event of a text trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// The clock reading (virtual ticks in deterministic mode).
    pub tick: u64,
    /// The P it happened on; `None` for `P-`.
    pub p: Option<u32>,
    /// The G that was running or that the event is about; `None` for `G-`.
    pub g: Option<u64>,
    /// The event name (`GCStart`, `GoPark`, ...).
    pub kind: String,
    /// The `key=value` arguments in the order they were written.
    pub args: Vec<(String, String)>,
}

impl TraceEvent {
    /// The value of the first argument named `key`.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of argument `key` as a number (`None` if it is missing or
    /// not a decimal number).
    pub fn num(&self, key: &str) -> Option<u64> {
        self.arg(key)?.parse().ok()
    }

    /// True when the event is a `kind` whose arguments include every
    /// `(key, value)` pair of `with`.
    pub fn is(&self, kind: &str, with: &[(&str, &str)]) -> bool {
        self.kind == kind && with.iter().all(|(k, v)| self.arg(k) == Some(*v))
    }
}

/// The text form of the event, exactly as the runtime writes it (without
/// the newline).
impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        skein_vm::trace::write_line(
            f,
            self.tick,
            self.p,
            self.g,
            &self.kind,
            self.args.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }
}

/// A line of a text trace that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceParseError {
    /// The 1-based line number (0 when there was no trace at all).
    pub line: usize,
    /// The offending line.
    pub text: String,
    /// What was wrong with it.
    pub message: &'static str,
}

impl fmt::Display for TraceParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(
                f,
                "trace line {}: {}: {:?}",
                self.line, self.message, self.text
            )
        }
    }
}

impl std::error::Error for TraceParseError {}

/// A parsed text trace: events in the order the runtime wrote them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The events, in trace order.
    pub events: Vec<TraceEvent>,
}

/// The goroutine kinds that belong to the runtime (everything but `user`
/// and `main`).
pub const SYSTEM_KINDS: [&str; 3] = ["worker", "coordinator", "sweeper"];

/// System goroutines take ids from their own range, starting here, so user
/// goroutine ids do not depend on when the collector ran. Used to recognise
/// a system G whose `GoCreate` precedes the trace (`runtime.trace_start`
/// in the middle of a program).
pub const FIRST_SYSTEM_G: u64 = 10_001;

impl Trace {
    /// Parses the text form (see the module docs for the grammar).
    pub fn parse(text: &str) -> Result<Trace, TraceParseError> {
        let mut events = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            events.push(parse_line(line).map_err(|message| TraceParseError {
                line: i + 1,
                text: line.to_string(),
                message,
            })?);
        }
        Ok(Trace { events })
    }

    /// The ids of the runtime's own goroutines: those created with a
    /// [`SYSTEM_KINDS`] kind, plus any G at or above [`FIRST_SYSTEM_G`] whose
    /// creation the trace does not show.
    pub fn system_gs(&self) -> BTreeSet<u64> {
        let mut created = BTreeSet::new();
        let mut system = BTreeSet::new();
        for e in &self.events {
            if e.kind == "GoCreate" {
                if let Some(g) = e.num("g") {
                    created.insert(g);
                    if e.arg("kind").is_some_and(|k| SYSTEM_KINDS.contains(&k)) {
                        system.insert(g);
                    }
                }
            }
        }
        for e in &self.events {
            let ids = e.g.into_iter().chain(e.num("g"));
            for g in ids {
                if g >= FIRST_SYSTEM_G && !created.contains(&g) {
                    system.insert(g);
                }
            }
        }
        system
    }

    /// The events that describe the collector, in order:
    /// - `GoCreate` of every kind but `user`;
    /// - every `GC*` and `STW*` event, `HeapGoal` and `RunqDrain`;
    /// - the life of the runtime's own goroutines ([`Trace::system_gs`]):
    ///   `GoStart`, `GoEnd`, `GoPark`, `GoSched` and `GoPreempt` by one, and
    ///   `GoUnpark` by one or of one.
    ///
    /// User goroutines' scheduling, `ProcStart`/`ProcStop` and channel
    /// traffic are dropped: they change with every edit to a program and say
    /// nothing about the collector.
    pub fn filter_gc(&self) -> Trace {
        let system = self.system_gs();
        let is_system = |g: Option<u64>| g.is_some_and(|g| system.contains(&g));
        let keep = |e: &TraceEvent| match e.kind.as_str() {
            "GoCreate" => e.arg("kind") != Some("user"),
            "HeapGoal" | "RunqDrain" => true,
            k if k.starts_with("GC") || k.starts_with("STW") => true,
            "GoStart" | "GoEnd" | "GoPark" | "GoSched" | "GoPreempt" => is_system(e.g),
            "GoUnpark" => is_system(e.g) || is_system(e.num("g")),
            _ => false,
        };
        Trace {
            events: self.events.iter().filter(|e| keep(e)).cloned().collect(),
        }
    }

    /// The text form: one line per event, each ending in a newline.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for e in &self.events {
            s.push_str(&e.to_string());
            s.push('\n');
        }
        s
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when there are no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The events in order.
    pub fn iter(&self) -> std::slice::Iter<'_, TraceEvent> {
        self.events.iter()
    }
}

impl<'a> IntoIterator for &'a Trace {
    type Item = &'a TraceEvent;
    type IntoIter = std::slice::Iter<'a, TraceEvent>;

    fn into_iter(self) -> Self::IntoIter {
        self.events.iter()
    }
}

/// Parses one non-blank trace line, or says what is wrong with it.
fn parse_line(line: &str) -> Result<TraceEvent, &'static str> {
    let mut words = line.split(' ');
    let tick = words
        .next()
        .and_then(|w| w.parse::<u64>().ok())
        .ok_or("expected a decimal tick first")?;
    let p = match words.next() {
        Some("P-") => None,
        Some(w) => Some(
            w.strip_prefix('P')
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or("expected P<number> or P- second")?,
        ),
        None => return Err("expected P<number> or P- second"),
    };
    let g = match words.next() {
        Some("G-") => None,
        Some(w) => Some(
            w.strip_prefix('G')
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or("expected G<number> or G- third")?,
        ),
        None => return Err("expected G<number> or G- third"),
    };
    let kind = match words.next() {
        Some(k) if !k.is_empty() && !k.contains('=') => k.to_string(),
        _ => return Err("expected an event name fourth"),
    };
    let mut args = Vec::new();
    for w in words {
        let (k, v) = w.split_once('=').ok_or("expected key=value arguments")?;
        if k.is_empty() {
            return Err("expected key=value arguments");
        }
        args.push((k.to_string(), v.to_string()));
    }
    Ok(TraceEvent {
        tick,
        p,
        g,
        kind,
        args,
    })
}
