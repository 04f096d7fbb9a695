//! Skein's runtime: values, heap, collector and interpreter.
//!
//! Code map:
//! - [`value`]: the NaN-boxed `Value` and `Slot` (the only heap write path).
//! - [`object`]: object header, one body type per kind, lock-free tables.
//! - [`map`]: Skein maps (insertion ordered, Skein key equality).
//! - [`heap`]: allocation (the per-P `Mcache`), byte and object counters,
//!   interning, retired blocks; pacing and sweep state live in [`gc`].
//! - [`gc`]: the collector, Go's concurrent tri-color mark-sweep
//!   (coordinator, mark workers, assists, write barrier, pacer, lazy sweep).
//! - [`sched`]: the G/M/P scheduler, the park contract, channels, select,
//!   timers, semaphores, stop-the-world, deterministic mode.
//! - [`trace`]: the runtime event trace (per-P buffers, text and Chrome).
//! - [`sync`]: atomics and locks, switched to loom's under `--cfg loom`.
//! - [`interp`]: the dispatch loop, `run(cx, g, budget) -> Outcome`, calls,
//!   and what a parked goroutine does when it runs again (`Exec::resume`).
//! - [`loader`]: turns a compiled `Program` into function objects.
//! - [`print`]: how values print.
//! - [`native`]: the native-function ABI (the functions live in `stdlib`).
//! - [`raw`]: raw memory for objects (mimalloc's unaligned fast path).
//!
//! API boundary (used by the root crate and `stdlib`): [`Vm`] (the owner's
//! handle: run programs, define globals, shut down), [`VmOptions`],
//! [`RuntimeError`], [`Ctx`] (what a native sees: the shared [`Runtime`]
//! and the running G as public fields, the P it runs on through
//! [`Ctx::p`]; allocation, tables, printing, random numbers and
//! [`Ctx::collect`] for `runtime.gc()`), the [`Runtime`] queries
//! `now_ms`, `num_goroutine`, `native_class`, `set_gc_percent` and
//! `memstats`, and the modules [`object`], [`value`], [`print`],
//! [`native`] and `sched::{chan, sema, stw, timer}`. The fields of the
//! scheduler, the heap and the collector are `pub(crate)`.
//!
//! Ownership: everything shared between threads lives in one [`Runtime`]
//! behind an `Arc`; each M (OS thread) works through a `Ctx` that borrows
//! the runtime and owns the P it holds. Only code that owns the P may make
//! one (`Ctx::new` and `Ctx::set_p` are `unsafe`), and [`Ctx::local`] lends
//! the P's local state through `&mut self`, so the borrow checker rules out
//! two live borrows of it. `Vm` owns the Arc and, on drop, stops and joins
//! the scheduler's threads before the heap is freed.

pub mod exec;
pub mod gc;
pub mod heap;
pub mod interp;
pub mod loader;
pub mod map;
pub mod native;
pub mod object;
pub mod print;
pub mod raw;
pub mod sched;
pub mod sync;
pub mod trace;
pub mod value;

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

pub use skein_bytecode as bytecode;

use object::*;
use value::{Slot, Value};

/// How a VM is configured.
pub struct VmOptions {
    /// Heap limit in bytes; beyond it allocation fails with `Out of memory.`
    pub max_heap: Option<usize>,
    /// GOGC-style percentage (`SKEINGC`); `None` disables the collector's
    /// automatic trigger.
    pub gc_percent: Option<u32>,
    /// `SKEINDEBUG=gcstress=N`: at 1, every allocation publishes its counts
    /// and asks for a cycle; the next allocation safepoint wakes the
    /// coordinator for it unless a cycle is already under way. At 2, every
    /// allocation safepoint runs a full stop-the-world collection and waits
    /// for it (the collector runs in `gcstoptheworld` mode).
    pub gcstress: u8,
    /// `SKEINDEBUG=gctrace=1` / `--gctrace`: one line per cycle on stderr,
    /// in Go's `gctrace` layout.
    pub gctrace: bool,
    /// `SKEINDEBUG=gcstoptheworld=1`: every cycle marks with the world
    /// stopped (the baseline the concurrent collector is measured against).
    pub gcstoptheworld: bool,
    /// `SKEINDEBUG=gccheckmark=1`: after each concurrent mark, re-mark with
    /// the world stopped and abort on any reachable object left white.
    pub gccheckmark: bool,
    /// `SKEINDEBUG=greenteagc=1`: Green Tea marking, a span at a time
    /// (`gc::mark`); `0` marks an object at a time.
    pub greenteagc: bool,
    /// Seed for `math.random` (deterministic mode passes its seed).
    pub seed: Option<u64>,
    /// Deterministic mode (`--sim SEED`): one OS thread drives every P.
    pub sim: Option<u64>,
    /// How deterministic mode chooses its schedule (`--sim-strategy`).
    pub sim_strategy: sched::strategy::Strategy,
    /// A recorded schedule to replay under deterministic mode
    /// (`--sim-schedule`).
    pub sim_schedule: Option<Vec<u32>>,
    /// `SKEINDEBUG=buggify=1`: deterministic mode's schedule also chooses
    /// runtime faults (`sched::strategy`).
    pub buggify: bool,
    /// Number of Ps (`--procs`, `SKEINMAXPROCS`); `None` = CPU count.
    pub procs: Option<usize>,
    /// Goroutines keep running after the main script returns (the REPL);
    /// otherwise the program ends with its main script.
    pub keep_running: bool,
    /// Flush stdout after every `print` (the REPL).
    pub line_flush: bool,
    /// Record an event trace from the start, into this destination
    /// (`--trace`, `--trace-flight`, the embedding API's `record_trace`).
    pub trace: Option<trace::Destination>,
    /// Where `print` writes. The VM buffers it and flushes on exit, before
    /// any error message, and on [`Vm::flush`].
    pub stdout: Box<dyn Write + Send>,
    /// The VM owns the process (the `skein` command): a failed write to
    /// `stdout` ends it at once, quietly with status 141 when the reader
    /// has gone (a closed pipe, as a process killed by SIGPIPE), else with
    /// `skein: cannot write output: REASON` on stderr and status 74. When
    /// false (embedding), write errors are ignored.
    pub exit_on_output_error: bool,
    /// The program's command-line arguments, those after the script
    /// (`os.args`).
    pub args: Vec<String>,
}

impl Default for VmOptions {
    fn default() -> Self {
        VmOptions {
            max_heap: None,
            gc_percent: Some(100),
            gcstress: 0,
            gctrace: false,
            gcstoptheworld: false,
            greenteagc: false,
            gccheckmark: false,
            seed: None,
            sim: None,
            sim_strategy: sched::strategy::Strategy::Classic,
            sim_schedule: None,
            buggify: false,
            procs: None,
            keep_running: false,
            line_flush: false,
            trace: None,
            stdout: Box::new(std::io::stdout()),
            exit_on_output_error: false,
            args: Vec::new(),
        }
    }
}

/// A runtime error: the message, then one trace line per frame, innermost
/// first (`[line N] in fname()` / `[line N] in script`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeError {
    pub message: String,
    pub trace: Vec<String>,
    /// `Some(status)`: not an error but `os.exit(status)`, which ends the
    /// program with that exit status and prints nothing.
    pub exit: Option<i32>,
}

impl RuntimeError {
    /// A runtime error with this message and stack trace.
    pub fn new(message: String, trace: Vec<String>) -> RuntimeError {
        RuntimeError {
            message,
            trace,
            exit: None,
        }
    }

    /// The end of a program that called `os.exit(status)`.
    pub fn exit(status: i32) -> RuntimeError {
        RuntimeError {
            message: format!("exit status {status}"),
            trace: Vec::new(),
            exit: Some(status),
        }
    }
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        for line in &self.trace {
            write!(f, "\n{line}")?;
        }
        Ok(())
    }
}

/// Global variables: slots in fixed-size segments that never move, so a
/// slot's address is stable once the loader has bound a name to it, and
/// goroutines read globals without a lock while new ones are bound.
pub struct Globals {
    segments: Box<[AtomicPtr<Slot>]>,
    names: Mutex<GlobalNames>,
}

#[derive(Default)]
struct GlobalNames {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

/// Slots per segment: one segment covers typical programs.
const GLOBAL_SEGMENT: usize = 1024;
/// Segments: 1,024 × 1,024 = a million globals, far beyond any program; the
/// table of segment pointers is 8 KiB.
const GLOBAL_SEGMENTS: usize = 1024;

impl Globals {
    fn new() -> Globals {
        Globals {
            segments: (0..GLOBAL_SEGMENTS)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            names: Mutex::new(GlobalNames::default()),
        }
    }

    /// The slot index bound to `name`, creating an undefined slot if new.
    pub fn bind(&self, name: &str) -> usize {
        let mut t = self.names.lock();
        if let Some(i) = t.index.get(name) {
            return *i;
        }
        let i = t.names.len();
        assert!(i < GLOBAL_SEGMENT * GLOBAL_SEGMENTS, "too many globals");
        if i.is_multiple_of(GLOBAL_SEGMENT) {
            let seg: Box<[Slot]> = (0..GLOBAL_SEGMENT)
                .map(|_| Slot::new(Value::UNDEF))
                .collect();
            self.segments[i / GLOBAL_SEGMENT]
                .store(Box::into_raw(seg) as *mut Slot, Ordering::Release);
        }
        t.names.push(name.to_string());
        t.index.insert(name.to_string(), i);
        i
    }

    /// Number of bound names.
    pub fn len(&self) -> usize {
        self.names.lock().names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline(always)]
    pub fn slot(&self, i: usize) -> &Slot {
        let seg = self.segments[i / GLOBAL_SEGMENT].load(Ordering::Acquire);
        assert!(!seg.is_null(), "unbound global slot");
        // SAFETY: a published segment holds GLOBAL_SEGMENT slots and is
        // never freed before the Globals.
        unsafe { &*seg.add(i % GLOBAL_SEGMENT) }
    }

    /// `slot` without checks, for the interpreter's `GetGlobal`.
    #[inline(always)]
    pub fn slot_fast(&self, i: usize) -> &Slot {
        // SAFETY: the loader binds every global operand with `bind`, which
        // publishes the segment holding index `i` before the code can run
        // (the code reaches other threads through a release/acquire pair).
        unsafe {
            let seg = self
                .segments
                .get_unchecked(i / GLOBAL_SEGMENT)
                .load(Ordering::Acquire);
            &*seg.add(i % GLOBAL_SEGMENT)
        }
    }

    pub fn name(&self, i: usize) -> String {
        self.names.lock().names[i].clone()
    }

    /// The value of global `name`, if defined.
    pub fn get(&self, name: &str) -> Option<Value> {
        let i = *self.names.lock().index.get(name)?;
        let v = self.slot(i).get();
        (v != Value::UNDEF).then_some(v)
    }

    /// Names of all bound globals.
    pub fn names(&self) -> Vec<String> {
        self.names.lock().names.clone()
    }

    pub(crate) fn for_each_value(&self, mut f: impl FnMut(Value)) {
        let n = self.len();
        for i in 0..n {
            f(self.slot(i).get());
        }
    }
}

impl Drop for Globals {
    fn drop(&mut self) {
        for seg in self.segments.iter() {
            let p = seg.load(Ordering::Relaxed);
            if !p.is_null() {
                // SAFETY: the segment came from `Box::into_raw` of a boxed
                // slice of GLOBAL_SEGMENT slots and is freed once, here.
                unsafe {
                    drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                        p,
                        GLOBAL_SEGMENT,
                    )))
                };
            }
        }
    }
}

/// Buffered program output, shared by every goroutine.
struct Output {
    out: std::io::BufWriter<Box<dyn Write + Send>>,
    line_flush: bool,
    /// A failed write ends the process (`VmOptions::exit_on_output_error`).
    exit_on_error: bool,
    /// Set when the program has ended: later prints (from goroutines still
    /// finishing a slice) are dropped, as when a Go program exits.
    closed: bool,
}

impl Output {
    /// Acts on the result of a write or flush (see
    /// `VmOptions::exit_on_output_error`).
    fn check(&mut self, r: std::io::Result<()>) {
        let Err(e) = r else { return };
        if !self.exit_on_error {
            return;
        }
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader is gone: end quietly, as SIGPIPE would (128 + 13).
            std::process::exit(EXIT_BROKEN_PIPE);
        }
        eprintln!("skein: cannot write output: {}", os_reason(&e));
        std::process::exit(EXIT_OUTPUT_ERROR);
    }
}

/// Exit status after a write to a closed pipe: what a shell reports for a
/// process killed by SIGPIPE (128 + 13).
pub const EXIT_BROKEN_PIPE: i32 = 141;

/// Exit status after any other failed write of the program's output
/// (`EX_IOERR`).
pub const EXIT_OUTPUT_ERROR: i32 = 74;

/// An I/O error as the OS words it (`No space left on device`), without
/// Rust's ` (os error N)` suffix.
pub fn os_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Everything the threads of one VM share.
pub struct Runtime {
    pub(crate) heap: heap::Heap,
    /// The collector's state (phase, work lists, workers, coordinator).
    pub(crate) gc: gc::GcState,
    pub(crate) globals: Globals,
    pub(crate) sched: sched::Sched,
    out: Mutex<Output>,
    /// The interned name `init`.
    pub(crate) init_name: Value,
    /// Interned one-byte strings, for string indexing and iteration.
    pub(crate) one_byte: Vec<Value>,
    /// Seed for per-P random generators (`select`, steal order).
    pub(crate) seed: u64,
    /// `math.random`'s state.
    pub(crate) rng: std::sync::atomic::AtomicU64,
    /// Set (from any thread, e.g. a Ctrl-C handler) to stop the main
    /// goroutine at its next time-slice boundary with `Interrupted.`.
    pub(crate) interrupt: Arc<AtomicBool>,
    /// Values the stdlib keeps alive as roots, by name: the classes of the
    /// `sync` module's objects and the built-ins written in Skein.
    pub(crate) extra_roots: Mutex<Vec<(String, Value)>>,
    /// The program's command-line arguments (`os.args`).
    args: Vec<String>,
    /// The status of the first `os.exit` (read by the REPL, which ends the
    /// session with it).
    exit_status: Mutex<Option<i32>>,
    /// Where the REPL wants a background goroutine's runtime error (its
    /// external printer); stderr when unset.
    pub(crate) error_sink: Mutex<Option<Box<dyn Write + Send>>>,
}

/// The owner's handle on a VM.
pub struct Vm {
    rt: Arc<Runtime>,
}

impl Vm {
    /// Creates a VM with no globals. `skein_stdlib::install` adds the
    /// built-in functions and modules.
    pub fn new(options: VmOptions) -> Vm {
        let procs = options
            .procs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, sched::MAX_PROCS);
        // Any odd non-zero state works for xorshift; without a seed the
        // state is a fixed constant, so runs are reproducible.
        let seed = options
            .seed
            .or(options.sim)
            .unwrap_or(0x2545_f491_4f6c_dd1d)
            | 1;
        let sim = options.sim.map(|s| sched::SimConfig {
            seed: s,
            strategy: options.sim_strategy,
            replay: options.sim_schedule.clone(),
            buggify: options.buggify,
        });
        let sched = sched::Sched::new(procs, sim, seed, options.keep_running);
        let mut rt = Runtime {
            heap: heap::Heap::new(),
            gc: gc::GcState::new(
                options.gcstoptheworld || options.gcstress >= 2,
                options.gccheckmark,
                options.greenteagc,
                gc::pacer::Pacer::new(gc::pacer::PacerConfig {
                    gc_percent: options.gc_percent,
                    max_heap: options.max_heap,
                    gcstress: options.gcstress,
                    gctrace: options.gctrace,
                }),
            ),
            globals: Globals::new(),
            sched,
            out: Mutex::new(Output {
                // 64 KiB: large enough that print-heavy programs make few
                // write calls, small enough to be irrelevant next to the heap.
                out: std::io::BufWriter::with_capacity(1 << 16, options.stdout),
                line_flush: options.line_flush,
                exit_on_error: options.exit_on_output_error,
                closed: false,
            }),
            init_name: Value::NIL,
            one_byte: Vec::new(),
            seed,
            rng: std::sync::atomic::AtomicU64::new(seed),
            interrupt: Default::default(),
            extra_roots: Mutex::new(Vec::new()),
            args: options.args,
            exit_status: Mutex::new(None),
            error_sink: Mutex::new(None),
        };
        {
            let _outside = rt.sched.outside_lock.lock();
            // SAFETY: the outside P's local state is guarded by
            // `outside_lock`, held here.
            let mc = unsafe { &mut rt.sched.outside_p.local().mc };
            let init = mc.intern(&rt, b"init");
            let one_byte = (0..=255u8).map(|b| mc.intern(&rt, &[b])).collect();
            rt.init_name = init;
            rt.one_byte = one_byte;
        }
        let vm = Vm { rt: Arc::new(rt) };
        if let Some(dest) = options.trace {
            vm.rt.sched.trace_begin(dest);
        }
        vm
    }

    /// The shared runtime.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.rt
    }

    /// Runs `f` with a context on the *outside* P: a P that is never
    /// scheduled, used to allocate from threads that hold no P (setting up
    /// the stdlib, loading code). The collector waits for it.
    pub fn with_ctx<R>(&self, f: impl FnOnce(&mut Ctx) -> R) -> R {
        let _outside = self.rt.sched.outside_lock.lock();
        let _bound = gc::bind_thread(&self.rt);
        // SAFETY: `outside_lock` is held for the whole life of `cx`.
        let mut cx = unsafe { Ctx::new(&self.rt, &self.rt.sched.outside_p, None) };
        let r = f(&mut cx);
        cx.local().mc.flush(&self.rt);
        r
    }

    /// Loads and runs a program's main script as the main goroutine, and
    /// returns when it has returned (or when any goroutine fails, or on
    /// deadlock). Globals persist across calls (the REPL runs each entry
    /// this way). Stdout is flushed before return.
    pub fn run(&mut self, program: &bytecode::Program) -> Result<(), RuntimeError> {
        let result = sched::run_main(&self.rt, program);
        self.flush();
        result
    }

    /// Defines (or redefines) a global.
    pub fn define_global(&mut self, name: &str, v: Value) {
        let i = self.rt.globals.bind(name);
        let _bound = gc::bind_thread(&self.rt);
        self.rt.globals.slot(i).set(v);
    }

    /// Names of all defined globals (for REPL completion), sorted.
    pub fn global_names(&self) -> Vec<String> {
        let g = &self.rt.globals;
        let mut v: Vec<String> = g
            .names()
            .into_iter()
            .filter(|n| g.get(n).is_some())
            .collect();
        v.sort();
        v
    }

    /// Member names of the module bound to global `module`, if it is one.
    pub fn module_members(&self, module: &str) -> Option<Vec<String>> {
        let m = as_module(self.rt.globals.get(module)?)?;
        let mut names = Vec::new();
        m.members.for_each(|k, _| {
            if let Some(s) = as_string(Value::object(k)) {
                names.push(str_text(s).into_owned());
            }
        });
        names.sort();
        Some(names)
    }

    /// Flushes buffered stdout.
    pub fn flush(&self) {
        self.rt.flush();
    }

    /// The status passed to `os.exit`, once a goroutine has called it.
    pub fn exit_status(&self) -> Option<i32> {
        self.rt.exit_status()
    }

    /// Sends the runtime errors of goroutines other than the main one (the
    /// REPL: the session goes on) to `sink` instead of stderr.
    pub fn set_error_sink(&self, sink: Box<dyn Write + Send>) {
        *self.rt.error_sink.lock() = Some(sink);
    }

    /// The flag a Ctrl-C handler sets to interrupt the main goroutine.
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        self.rt.interrupt.clone()
    }

    /// Every user goroutine that is not dead, by id: its state, wait reason
    /// and where it stands (`sched::inspect` describes how each is read
    /// safely while the scheduler runs).
    pub fn goroutines(&self) -> Vec<sched::inspect::GoroutineInfo> {
        sched::inspect::goroutines(&self.rt)
    }

    /// The number of processors (Ps) now.
    pub fn procs(&self) -> usize {
        self.rt.sched.procs()
    }

    /// Stops recording and hands back the recording (`None` when no trace
    /// was being recorded). Call it when no goroutine runs (after `run`).
    pub fn end_trace(&self) -> Option<std::io::Result<trace::Recording>> {
        self.rt.sched.trace_end(None)
    }

    /// Stops recording and writes the trace recorded so far to `out` in
    /// `format` (nothing when no trace was being recorded).
    pub fn write_trace(&self, format: trace::Format, out: &mut dyn Write) -> std::io::Result<()> {
        match self.end_trace() {
            Some(rec) => {
                let mut reader = trace::Reader::open(rec?.into_stream()?)?;
                trace::write(&mut reader, format, out)
            }
            None => Ok(()),
        }
    }

    /// The flight recorder's trace as it stands (binary form), or `None`
    /// when no flight recording is in progress. Call it when no goroutine
    /// runs (after `run`).
    pub fn flight_image(&self) -> Option<Vec<u8>> {
        self.rt.sched.trace_flight_image(None)
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.rt.flush();
        self.rt.sched.shutdown();
    }
}

impl Runtime {
    /// Flushes buffered stdout.
    pub fn flush(&self) {
        let mut o = self.out.lock();
        let r = o.out.flush();
        o.check(r);
    }

    /// Ends the running program from outside it (SIGQUIT): it fails with
    /// `message` as a runtime error, so it ends as a failing program does
    /// (the flight recorder writes its trace).
    pub fn quit(&self, message: &str) {
        sched::proc::end_program(self, message.to_string());
    }

    /// Flushes buffered stdout for a process about to exit on a signal:
    /// gives up after a moment if a goroutine holds the output (it may be
    /// blocked writing to a full pipe).
    pub fn flush_for_exit(&self) {
        // Long enough for a write in progress to finish, short enough that
        // Ctrl-C still feels immediate.
        const WAIT: std::time::Duration = std::time::Duration::from_millis(100);
        if let Some(mut o) = self.out.try_lock_for(WAIT) {
            let r = o.out.flush();
            o.check(r);
        }
        self.sched.trace_sink.flush_output();
    }

    /// Stops accepting output (the program has ended) after flushing.
    pub(crate) fn close_output(&self) {
        let mut o = self.out.lock();
        let r = o.out.flush();
        o.check(r);
        o.closed = true;
    }

    /// Accepts output again (the REPL's next entry).
    pub(crate) fn open_output(&self) {
        self.out.lock().closed = false;
    }

    /// Writes raw bytes to the program's stderr (`io.write_err`): stdout is
    /// flushed first, so the two streams keep the program's order. In the
    /// REPL the bytes go where background goroutines' errors go (above the
    /// prompt). Dropped once the program has ended, as stdout is.
    pub fn write_err(&self, bytes: &[u8]) {
        {
            let mut o = self.out.lock();
            if o.closed {
                return;
            }
            let _ = o.out.flush();
        }
        match self.error_sink.lock().as_mut() {
            Some(w) => {
                let _ = w.write_all(bytes);
                let _ = w.flush();
            }
            None => {
                let _ = std::io::stderr().lock().write_all(bytes);
            }
        }
    }

    /// The interned one-byte string holding byte `b`.
    pub fn one_byte(&self, b: u8) -> Value {
        self.one_byte[b as usize]
    }

    /// The program's command-line arguments, those after the script.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Records `os.exit(status)` (the first call wins).
    pub(crate) fn request_exit(&self, status: i32) {
        self.exit_status.lock().get_or_insert(status);
    }

    /// The status of the first `os.exit`, if any goroutine has called it.
    pub fn exit_status(&self) -> Option<i32> {
        *self.exit_status.lock()
    }

    /// The value kept under `name` by [`Ctx::keep_builtin`] (or a class made
    /// by [`Ctx::new_native_class`]).
    pub fn builtin(&self, name: &str) -> Option<Value> {
        self.extra_roots
            .lock()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// Writes raw bytes to the program's stdout.
    pub fn write_out(&self, bytes: &[u8]) {
        let mut o = self.out.lock();
        if o.closed {
            return;
        }
        let mut r = o.out.write_all(bytes);
        if r.is_ok() && o.line_flush {
            r = o.out.flush();
        }
        o.check(r);
    }

    /// The statistics behind `runtime.memstats()`, in a fixed order. Exact
    /// when the world is stopped (the mcaches are flushed first).
    pub fn memstats(&self) -> Vec<(&'static str, f64)> {
        let h = &self.heap;
        let st = *h.stats.lock();
        let elapsed = self.sched.clock_ns().max(1) as f64;
        let goal = self.gc.pacer.goal();
        vec![
            ("heap_alloc", h.live() as f64),
            (
                "heap_objects",
                h.objects.load(Ordering::Relaxed).max(0) as f64,
            ),
            (
                "heap_goal",
                if goal == usize::MAX { 0.0 } else { goal as f64 },
            ),
            ("total_alloc", h.total_alloc.load(Ordering::Relaxed) as f64),
            ("heap_sys", h.mheap.sys.load(Ordering::Relaxed) as f64),
            ("heap_inuse", h.mheap.in_use.load(Ordering::Relaxed) as f64),
            (
                "heap_released",
                h.mheap.released.load(Ordering::Relaxed) as f64,
            ),
            ("num_gc", st.num_gc as f64),
            ("pause_total_ns", st.pause_total_ns as f64),
            ("last_pause_ns", st.last_pause_ns as f64),
            ("max_pause_ns", st.max_pause_ns as f64),
            ("gc_cpu_fraction", st.gc_ns_total as f64 / elapsed),
        ]
    }

    /// The clock in milliseconds: real time since the VM started, or the
    /// virtual clock in deterministic mode (`clock()`, `time.now()`).
    pub fn now_ms(&self) -> f64 {
        self.sched.clock.now_ms()
    }

    /// Under a `random` or `pct` schedule (or a replayed one): the
    /// decisions made so far, and the driver's steps.
    pub fn sim_schedule(&self) -> Option<(Vec<u32>, u64)> {
        let explorer = self.sched.sim.as_ref()?.explorer.as_ref()?;
        Some(explorer.lock().schedule())
    }

    /// Under a replayed schedule: its last switches between goroutines,
    /// each with the source line the goroutine left behind had reached.
    pub fn sim_switches(&self) -> Vec<String> {
        let explorer = self.sched.sim.as_ref().and_then(|s| s.explorer.as_ref());
        explorer.map_or_else(Vec::new, |e| e.lock().switches())
    }

    /// Live goroutines (`runtime.numgoroutine()`).
    pub fn num_goroutine(&self) -> usize {
        self.sched.num_goroutine()
    }

    /// The class made by [`Ctx::new_native_class`] under this name.
    pub fn native_class(&self, name: &str) -> Option<Value> {
        self.builtin(name).filter(|c| c.is_kind(Kind::Class))
    }

    /// Writes one line of runtime debug output (`gctrace`) to stderr.
    pub fn debug_line(&self, line: &str) {
        eprintln!("{line}");
    }

    /// `runtime.memstats()` as `key: value` lines.
    pub fn memstats_text(&self) -> String {
        self.memstats()
            .into_iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect()
    }

    /// Sets the GC percentage, returning the previous one (-1 = off).
    pub fn set_gc_percent(&self, p: Option<u32>) -> Option<u32> {
        self.gc
            .pacer
            .set_gc_percent(p, &self.heap, self.gc.stw_mode)
    }
}

/// What a native (and the interpreter) works through: the shared runtime,
/// the P this thread holds, and the running goroutine.
///
/// A `Ctx` is the ownership token of its P's local state: it is made only
/// by code that owns the P (`Ctx::new`'s contract), and [`Ctx::local`]
/// borrows that state through `&mut self`, so the borrow checker rules out
/// two live borrows of it.
pub struct Ctx<'a> {
    pub rt: &'a Runtime,
    p: &'a sched::P,
    /// The running goroutine (`None` on the outside P).
    pub g: Option<sched::GRef>,
}

impl<'a> Ctx<'a> {
    /// A context on P `p`.
    ///
    /// # Safety
    /// For as long as the context lives, the calling thread owns `p`: it
    /// holds `p` as its M's P, holds `Sched::outside_lock` for the outside
    /// P, or has stopped the world; and no other context on `p` is in use.
    #[inline]
    pub(crate) unsafe fn new(rt: &'a Runtime, p: &'a sched::P, g: Option<sched::GRef>) -> Self {
        Ctx { rt, p, g }
    }

    /// The P this context runs on.
    #[inline(always)]
    pub fn p(&self) -> &'a sched::P {
        self.p
    }

    /// Moves the context to P `p` (the M acquired another P).
    ///
    /// # Safety
    /// As for [`Ctx::new`]: from now on the calling thread owns `p`.
    #[inline]
    pub(crate) unsafe fn set_p(&mut self, p: &'a sched::P) {
        self.p = p;
    }

    /// This P's local state.
    #[inline(always)]
    pub fn local(&mut self) -> &mut sched::PLocal {
        // SAFETY: the thread owns the P (the contract of `new`/`set_p`),
        // and the borrow is tied to `&mut self`, so it is the only one made
        // through this context; code that reaches other Ps' local state
        // (`P::local`) does so with the world stopped and no such borrow
        // alive.
        unsafe { self.p.local() }
    }

    #[inline(always)]
    pub fn alloc<T>(&mut self, kind: Kind, body: T, extra: usize) -> Value {
        let rt = self.rt;
        self.local().mc.alloc(rt, kind, body, extra)
    }

    /// A new instance of `class` with an inline field table
    /// (`Mcache::alloc_instance`).
    #[inline(always)]
    pub fn alloc_instance(&mut self, class: Value) -> Value {
        let rt = self.rt;
        self.local().mc.alloc_instance(rt, class)
    }

    #[inline(always)]
    pub fn adjust(&mut self, obj: Value, delta: isize) {
        if delta != 0 {
            let rt = self.rt;
            self.local().mc.adjust(rt, obj, delta);
        }
    }

    pub fn string_parts(&mut self, parts: &[&[u8]]) -> Value {
        let rt = self.rt;
        self.local().mc.string_parts(rt, parts)
    }

    /// Charges `bytes` of runtime memory that belongs to no heap object (a
    /// goroutine's stack, a channel's queue) to the heap's accounting: it
    /// counts towards the pacer's trigger and `--max-heap`.
    pub fn charge_memory(&mut self, bytes: usize) {
        let rt = self.rt;
        self.local().mc.charge_memory(rt, bytes);
    }

    /// Gives back `bytes` charged with [`Ctx::charge_memory`].
    pub fn release_memory(&mut self, bytes: usize) {
        self.local().mc.release_memory(bytes);
    }

    /// A new list holding `items`.
    pub fn new_list(&mut self, items: &[Value]) -> Value {
        let rt = self.rt;
        self.local().mc.alloc_list(rt, items)
    }

    /// A new list of `n` nils (to be filled with `List::set`).
    pub fn new_list_nils(&mut self, n: usize) -> Value {
        let rt = self.rt;
        self.local().mc.alloc_list_nils(rt, n)
    }

    /// A new empty map.
    pub fn new_map(&mut self) -> Value {
        self.alloc(
            Kind::Map,
            Map {
                table: parking_lot::Mutex::new(map::MapTable::default()),
            },
            0,
        )
    }

    /// A new string of `len` bytes, written by `fill` in place (they start
    /// zeroed). `fill` must not allocate from the VM.
    pub fn new_string_with(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> Value {
        let rt = self.rt;
        self.local().mc.string_with(rt, len, fill)
    }

    /// A new string (not interned).
    pub fn new_string(&mut self, bytes: &[u8]) -> Value {
        let rt = self.rt;
        self.local().mc.string(rt, bytes)
    }

    /// The interned string with these bytes.
    pub fn intern(&mut self, bytes: &[u8]) -> Value {
        let rt = self.rt;
        self.local().mc.intern(rt, bytes)
    }

    /// A native function object.
    pub fn new_native(
        &mut self,
        name: &'static str,
        arity: Option<u8>,
        f: native::NativeFn,
    ) -> Value {
        self.native_object(name, arity, f, false)
    }

    /// A native method: called with its receiver as the first argument.
    pub fn new_native_method(
        &mut self,
        name: &'static str,
        arity: Option<u8>,
        f: native::NativeFn,
    ) -> Value {
        self.native_object(name, arity, f, true)
    }

    fn native_object(
        &mut self,
        name: &'static str,
        arity: Option<u8>,
        f: native::NativeFn,
        receiver: bool,
    ) -> Value {
        let body = Native {
            name,
            arity,
            f,
            receiver,
        };
        self.alloc(Kind::Native, body, 0)
    }

    /// A module object with the given members.
    pub fn new_module(&mut self, name: &str, members: &[(&str, Value)]) -> Value {
        let name_v = self.intern(name.as_bytes());
        let m = self.alloc(
            Kind::Module,
            Module {
                name: name_v,
                members: Table::new(),
            },
            0,
        );
        for (k, v) in members {
            let key = self.intern(k.as_bytes());
            self.table_insert(m, &as_module(m).expect("module").members, key, *v);
        }
        m
    }

    /// A class with native methods (the `sync` module's types).
    pub fn new_native_class(&mut self, name: &str, methods: &[(&str, Value)]) -> Value {
        let name_v = self.intern(name.as_bytes());
        let c = self.alloc(
            Kind::Class,
            Class {
                name: name_v,
                methods: Table::new(),
                init: Slot::new(Value::NIL),
                shadowed: AtomicBool::new(false),
                field_hint: std::sync::atomic::AtomicU32::new(0),
            },
            0,
        );
        for (k, v) in methods {
            let key = self.intern(k.as_bytes());
            self.table_insert(c, &as_class(c).expect("class").methods, key, *v);
        }
        self.rt.extra_roots.lock().push((name.to_string(), c));
        c
    }

    /// Keeps `v` alive for the VM's life under `name`, where natives find
    /// it with [`Runtime::builtin`] (the stdlib's built-ins written in
    /// Skein).
    pub fn keep_builtin(&mut self, name: &str, v: Value) {
        self.rt.extra_roots.lock().push((name.to_string(), v));
    }

    /// Inserts into a table owned by object `owner`, under the owner's
    /// writer lock, with accounting. Out of line: inserting a new key is
    /// the slow path of a property write.
    #[inline(never)]
    pub fn table_insert(&mut self, owner: Value, t: &Table, key: Value, v: Value) -> usize {
        let (i, retired, delta) = {
            let _g = lock_obj(owner);
            t.insert(key.as_obj(), v)
        };
        if delta != 0 {
            self.rt.heap.retire(retired);
            self.adjust(owner, delta);
            if let Some(inst) = as_instance(owner) {
                // Later instances of the class get room for this many
                // fields inline.
                // SAFETY: an instance's class is a live class object.
                let class = unsafe { &(*inst.class).body };
                class
                    .field_hint
                    .fetch_max(t.len() as u32, Ordering::Relaxed);
            }
        }
        i
    }

    /// Appends to a list, with accounting.
    #[inline(never)]
    pub fn list_push(&mut self, list: Value, v: Value) {
        if let Some(l) = as_list(list) {
            let (retired, delta) = {
                let _g = lock_obj(list);
                l.push(v)
            };
            self.rt.heap.retire(retired);
            self.adjust(list, delta);
        }
    }

    /// Removes a list's last element.
    pub fn list_pop(&mut self, list: Value) -> Option<Value> {
        let l = as_list(list)?;
        let _g = lock_obj(list);
        l.pop()
    }

    /// Writes `v` and a newline to stdout (buffered); `quoted` shows a
    /// string as inside a list (a REPL entry's echoed value).
    pub fn print(&mut self, v: Value, quoted: bool) {
        let mut buf = Vec::new();
        if quoted {
            print::write_quoted_value(v, &mut buf);
        } else {
            print::write_value(v, &mut buf);
        }
        buf.push(b'\n');
        self.rt.write_out(&buf);
    }

    /// Next value of `math.random`'s generator in [0, 1).
    pub fn random(&mut self) -> f64 {
        (self.random_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Next raw value of `math.random`'s generator: one generator for the
    /// whole VM, so a single-goroutine program draws the same sequence
    /// whichever P runs it.
    pub fn random_u64(&mut self) -> u64 {
        let old = self
            .rt
            .rng
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| {
                Some(xorshift_step(x))
            })
            .unwrap_or(1);
        xorshift_output(xorshift_step(old))
    }

    /// Next value of this P's own generator (scheduling choices: `select`,
    /// steal order), seeded from the VM seed and the P's id.
    pub fn fastrand(&mut self) -> u64 {
        let l = self.local();
        l.rng = xorshift_step(l.rng);
        xorshift_output(l.rng)
    }

    /// `runtime.gc()`: in a goroutine (the REPL's `:gc` too, which runs
    /// `runtime.gc();` as an entry), starts a full cycle and parks until it
    /// is done; outside one (a context on the outside P, `Vm::with_ctx`),
    /// asks for a cycle at the next allocation safepoint and returns.
    pub fn collect(&mut self) -> Result<(), native::Flow> {
        match self.g {
            Some(_) => gc::coord::gc_wait(self),
            None => {
                self.rt.gc.pacer.request(true);
                Ok(())
            }
        }
    }
}

/// One step of the xorshift64 state (Marsaglia's 12/25/27 triple). Every
/// generator in the VM (`math.random`, the per-P scheduling generators, the
/// deterministic driver) uses it; the state must be non-zero.
pub(crate) fn xorshift_step(mut x: u64) -> u64 {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    x
}

/// The xorshift64* output of a state: the state times Vigna's (2016)
/// multiplier.
pub(crate) fn xorshift_output(x: u64) -> u64 {
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}
