//! Deterministic mode (`--sim SEED`, `docs/runtime.md`) and the runtime's clock.
//!
//! The same scheduler code runs, but one OS thread drives every P:
//! 1. If no P has anything to do (no G in any run queue or mid-slice, no
//!    due timer), advance the virtual clock to the earliest timer; with no
//!    timer at all, the program is deadlocked.
//! 2. Draw a P from the seeded generator and *step* it: continue the G it is
//!    in the middle of, or `find_runnable` a new one (same order as real
//!    Ms: timers, the 61st-tick fairness check, local, global, stealing
//!    from victims chosen by the P's seeded generator).
//! 3. Run that G for a chunk of safepoints whose length is also drawn from
//!    the seed, and advance the clock by the safepoints it spent.
//! 4. Preemption is by budget only: a G that has run for [`SLICE_TICKS`]
//!    virtual ticks is preempted to the global queue.
//!
//! Under the `random` and `pct` strategies (`strategy`), step 2 and 3
//! choose a goroutine rather than a P, and chunks are as short as one
//! safepoint; step 1 and the classic step (for a P that finds a mark
//! worker) stay.
//!
//! Every source of nondeterminism goes through here or the seeded per-P
//! generators: the clock (virtual ticks), the interleaving (the driver's
//! generator), `select` and steal order (per-P generators), `math.random`
//! (seeded). Maps hash with a fixed function and print in insertion order,
//! and object addresses never decide anything observable. So stdout and the
//! text trace depend only on program, seed and P count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::proc::{after_run, begin, Next};
use super::strategy::{Explorer, Strategy};
use super::{timer, PStatus};
use crate::{Ctx, Runtime};

/// Virtual ticks per millisecond: one tick is one safepoint (a loop
/// iteration or a call, roughly 100 ns of real work), so virtual time runs
/// near real time for typical code.
pub const TICKS_PER_MS: u64 = 10_000;

/// Go's 10 ms time slice, in virtual ticks.
pub const SLICE_TICKS: u64 = 10 * TICKS_PER_MS;

/// Shortest and longest chunk the driver runs before picking a P again:
/// short enough to interleave goroutines finely, long enough that the
/// driver's own cost stays small.
const CHUNK_MIN: u64 = 64;
const CHUNK_SPREAD: u64 = 1024;

/// The runtime's clock: real nanoseconds, or virtual ticks.
pub struct Clock {
    sim: bool,
    start: std::time::Instant,
    ticks: AtomicU64,
}

impl Clock {
    pub fn new(sim: bool) -> Clock {
        Clock {
            sim,
            start: std::time::Instant::now(),
            ticks: AtomicU64::new(0),
        }
    }

    /// Nanoseconds since the VM started, or virtual ticks.
    pub fn now(&self) -> u64 {
        if self.sim {
            self.ticks.load(Ordering::Relaxed)
        } else {
            self.start.elapsed().as_nanos() as u64
        }
    }

    /// Milliseconds since the VM started (`clock()`, `time.now()`).
    pub fn now_ms(&self) -> f64 {
        if self.sim {
            self.now() as f64 / TICKS_PER_MS as f64
        } else {
            self.now() as f64 / 1e6
        }
    }

    pub(super) fn advance(&self, n: u64) {
        self.ticks.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn advance_to(&self, t: u64) {
        self.ticks.fetch_max(t, Ordering::Relaxed);
    }
}

/// The driver's state.
pub struct Sim {
    rng: Mutex<u64>,
    /// The `random` or `pct` strategy's state; `None` for the classic
    /// driver.
    pub(crate) explorer: Option<Mutex<Explorer>>,
}

impl Sim {
    pub fn new(config: super::SimConfig) -> Sim {
        let super::SimConfig {
            seed,
            strategy,
            replay,
            buggify,
        } = config;
        // A replayed or buggified schedule is a `random` one unless it says
        // otherwise.
        let strategy = match strategy {
            Strategy::Classic if replay.is_some() || buggify => Strategy::Random,
            s => s,
        };
        let explorer = (strategy != Strategy::Classic)
            .then(|| Mutex::new(Explorer::new(strategy, seed, replay, buggify)));
        // splitmix64's increment spreads small seeds (0, 1, 2, ...) apart.
        Sim {
            rng: Mutex::new(seed.wrapping_add(0x9e37_79b9_7f4a_7c15) | 1),
            explorer,
        }
    }

    fn next(&self) -> u64 {
        let mut x = self.rng.lock();
        *x = crate::xorshift_step(*x);
        crate::xorshift_output(*x)
    }
}

/// Runs the program until the main goroutine is done (or fails, or
/// deadlocks).
pub fn run(rt: &Arc<Runtime>) {
    let s = &rt.sched;
    let sim = s.sim.as_ref().expect("deterministic mode");
    let _bound = crate::gc::bind_thread(rt);
    let mut cands = Vec::new();
    loop {
        if s.main_done() {
            break;
        }
        if !any_work(rt) {
            let t = timer::earliest(s);
            if t == u64::MAX {
                super::proc::report_deadlock(rt);
                let mut m = s.main.lock();
                if m.result.is_none() {
                    // Not a deadlock the report recognises (the main G is
                    // not parked): nothing can ever run again.
                    s.set_main_result(&mut m, Some(Ok(())));
                }
                break;
            }
            s.clock.advance_to(t);
        }
        if let Some(explorer) = &sim.explorer {
            if super::strategy::step(rt, explorer, &mut cands) {
                continue;
            }
        }
        let pid = (sim.next() % s.procs() as u64) as u32;
        let chunk = CHUNK_MIN + sim.next() % CHUNK_SPREAD;
        step(rt, pid, chunk as u32);
    }
    if !s.keep_running {
        rt.close_output();
    }
}

/// Anything runnable, mid-slice, or due?
fn any_work(rt: &Runtime) -> bool {
    let s = &rt.sched;
    if s.runq_len.load(Ordering::Acquire) > 0 || timer::earliest(s) <= s.now() {
        return true;
    }
    if rt.gc.marking() && rt.gc.work_available() {
        // Idle Ps run mark workers.
        return true;
    }
    (0..s.procs() as u32).any(|i| {
        let p = s.p(i);
        // SAFETY: only the driver thread touches P state in this mode, and
        // it is not inside a step.
        !p.runq.is_empty() || unsafe { p.local() }.curg.is_some()
    })
}

/// One step of P `pid`: run its current G (or a new one) for `chunk`
/// safepoints.
fn step(rt: &Runtime, pid: u32, chunk: u32) {
    let s = &rt.sched;
    let mut cx = open_step(rt, pid);
    let mut g = cx.local().curg.take();
    if let Some(g) = g {
        cx.g = Some(g);
    } else if let Some((ng, inherit)) = super::proc::find_sim(&mut cx) {
        cx.local().slice_start = s.now();
        if let Next::Continue = begin(&mut cx, ng, inherit) {
            g = Some(ng);
        }
        cx.g = g;
    }
    finish_step(&mut cx, g, chunk);
}

/// Begins a step on P `pid`: marks it running and makes the driver's
/// context on it (tracing `ProcStart` the first time).
pub(super) fn open_step(rt: &Runtime, pid: u32) -> Ctx<'_> {
    let p = rt.sched.p(pid);
    p.set_status(PStatus::Running);
    // SAFETY: in deterministic mode the driver thread owns every P, and
    // steps one at a time.
    let mut cx = unsafe { Ctx::new(rt, p, None) };
    if !cx.local().started {
        cx.local().started = true;
        cx.trace(crate::trace::EventKind::ProcStart, &[]);
    }
    cx
}

/// Ends a step: runs `g` (the G set in `cx`, if any) for `chunk`
/// safepoints, advances the clock by the safepoints it spent (one tick
/// when nothing ran), keeps the G as the P's current one if it goes on,
/// and leaves the P idle.
pub(super) fn finish_step(cx: &mut Ctx, g: Option<super::GRef>, chunk: u32) {
    let s = &cx.rt.sched;
    match g {
        Some(g) => {
            let out = super::proc::run_chunk(cx, g, chunk);
            // SAFETY: the G is Running on this (the only) thread.
            let left = unsafe { g.exec() }.budget_left;
            s.clock
                .advance(u64::from(chunk.saturating_sub(left)).max(1));
            if let Next::Continue = after_run(cx, g, out) {
                cx.local().curg = Some(g);
            }
        }
        None => s.clock.advance(1),
    }
    if cx.p().status() == PStatus::Running {
        cx.p().set_status(PStatus::Idle);
    }
}
