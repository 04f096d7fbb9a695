//! Background mark workers: Gs (native state machines, not bytecode), one
//! per P, pooled across cycles (Go's `gcBgMarkWorker`).
//!
//! Start (behaviour 1, Go's `gcBgMarkStartWorkers`): at the start of a
//! cycle the coordinator creates each missing worker one at a time. It
//! makes a channel of capacity 1, creates the worker into its P's
//! `runnext`, and receives from the channel (parking if the worker has not
//! signalled yet). The worker's first run sends on the channel (which
//! readies the coordinator into `runnext`, or fills the buffer) and parks;
//! the park's unlock step puts it in the pool once it is `Waiting` (Go's
//! order). The coordinator counts the worker when it receives the signal,
//! and only then creates the next one.
//!
//! Scheduling (`find_worker`, asked first by `find_runnable` while marking):
//! the 25% CPU goal is `0.25 * P`; `dedicated = round(goal)`, and when that
//! rounding is off by more than 30% the remainder runs as fractional
//! workers, each P marking for at most `fractional_goal` of the wall time
//! (`budgets`) and only while all Ps' background marking together is
//! below that share (`under_fraction`). A P that would otherwise go idle
//! runs an idle-mode worker.
//! The P that takes a worker gets a no-preemption hold.
//!
//! A worker's run (`step`, one work buffer per call):
//! 1. Drain up to one buffer of work from the P's local buffer (behaviour
//!    2: while it uses P-local state it cannot be preempted or migrated;
//!    it checks its preempt flag itself between buffers).
//! 2. Dedicated: the first time it is preempted in a cycle it moves the
//!    P's whole run queue and `runnext` to the global queue in one batch
//!    (behaviour 3, `runqdrain`), then keeps draining without preemption.
//!    Fractional: stops when preempted or above its fraction. Idle: stops
//!    as soon as the P has other work (a queued G or a due timer). All:
//!    stop for a stop-the-world, or when no work is left.
//! 3. Stopping: move the local buffer to the global list. From here the
//!    worker is an ordinary G: if it was the last drainer and no work is
//!    left, it reports the completion point (`coord::mark_done`). Then it
//!    parks back into the pool: the park's unlock step (`unlock_pool`),
//!    which the scheduler runs once the worker is `Waiting`, puts it on the
//!    idle list and releases the P's no-preemption hold.
//!
//! Invariants: a worker is in the pool exactly when it is parked; at most
//! `dedicated` workers run in dedicated mode at once.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::mark;
use crate::sched::park::{Outcome, Park, Resume, Unlock, WaitReason};
use crate::sched::{GKind, GRef};
use crate::trace::{Arg, EventKind, Key};
use crate::value::Value;
use crate::Ctx;

/// A worker's mode (trace `mode=`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Dedicated = 1,
    Fractional = 2,
    Idle = 3,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Dedicated => "dedicated",
            Mode::Fractional => "fractional",
            Mode::Idle => "idle",
        }
    }

    fn from_u8(v: u8) -> Mode {
        match v {
            1 => Mode::Dedicated,
            2 => Mode::Fractional,
            _ => Mode::Idle,
        }
    }
}

/// A worker's state (`G::sys_state`).
mod state {
    /// First run: register and signal the coordinator.
    pub const REGISTER: u8 = 0;
    /// Taken from the pool; `GCMarkWorkerStart` not yet traced.
    pub const PICKED: u8 = 1;
    /// Draining; preemptible by its own check (dedicated: until the first
    /// preemption).
    pub const DRAIN: u8 = 2;
    /// Dedicated, after its `runqdrain`: draining without preemption.
    pub const DRAIN_NO_PREEMPT: u8 = 3;
}

/// The 25% goal (Go's `gcBackgroundUtilization`).
pub(crate) const BACKGROUND_UTILIZATION: f64 = 0.25;
/// Largest relative error of rounding the goal to dedicated workers before
/// fractional workers take the remainder (Go's `maxUtilError`).
const MAX_UTIL_ERROR: f64 = 0.3;

/// The worker pool and the modes' budgets.
#[derive(Default)]
pub struct Pool {
    pub(crate) idle: Mutex<Vec<GRef>>,
    /// Workers created and registered.
    pub(crate) count: AtomicUsize,
    /// The channel the worker being started signals on.
    ready_chan: Mutex<Option<Value>>,
    /// Dedicated workers still to start this cycle (may go negative
    /// transiently).
    dedicated_needed: AtomicI64,
    /// Per-P fraction of time for fractional workers (f64 bits).
    fractional_goal: AtomicU64,
    /// Time fractional and idle-mode workers have marked this cycle, all
    /// Ps together, in the units of a P's `frac_time` (see
    /// [`under_fraction`]).
    background_time: AtomicU64,
}

/// Go's split of the 25% goal: `(dedicated, fractional per P)`.
pub fn budgets(procs: usize) -> (i64, f64) {
    let goal = procs as f64 * BACKGROUND_UTILIZATION;
    let mut dedicated = (goal + 0.5) as i64;
    let err = dedicated as f64 / goal - 1.0;
    if !(-MAX_UTIL_ERROR..=MAX_UTIL_ERROR).contains(&err) {
        if dedicated as f64 > goal {
            dedicated -= 1;
        }
        (dedicated, (goal - dedicated as f64) / procs as f64)
    } else {
        (dedicated, 0.0)
    }
}

impl Pool {
    /// Sets this cycle's budgets (world stopped).
    pub(crate) fn start_cycle(&self, procs: usize) {
        let (d, f) = budgets(procs);
        self.dedicated_needed.store(d, Ordering::Release);
        self.fractional_goal.store(f.to_bits(), Ordering::Release);
        self.background_time.store(0, Ordering::Release);
    }

    fn fractional_goal(&self) -> f64 {
        f64::from_bits(self.fractional_goal.load(Ordering::Acquire))
    }

    /// Puts a parked worker back (called by the scheduler after the
    /// worker's status is `Waiting`).
    pub(crate) fn push_idle(&self, g: GRef) {
        self.idle.lock().push(g);
    }
}

/// Creates the next missing worker and receives its signal: `Ok(true)`
/// when all workers exist, `Ok(false)` when one was created and has
/// already signalled, `Err(park)` when the coordinator must wait for it.
pub(crate) fn start_one(cx: &mut Ctx) -> Result<bool, crate::sched::park::Flow> {
    let rt = cx.rt;
    let pool = &rt.gc.workers;
    if pool.count.load(Ordering::Acquire) >= rt.sched.procs() {
        return Ok(true);
    }
    // The hand-off channel (capacity 1, so a worker that runs before the
    // coordinator parks does not block). It is referenced only from here
    // and the pool until the worker has signalled, all before this cycle's
    // marking starts, so it needs no rooting.
    let ch = cx.alloc(
        crate::object::Kind::Chan,
        crate::sched::chan::Chan::new(1),
        0,
    );
    *pool.ready_chan.lock() = Some(ch);
    let w = crate::sched::proc::new_system_g(cx, GKind::Worker);
    w.sys_state.store(state::REGISTER, Ordering::Release);
    crate::sched::proc::start_system_g(cx, w, true);
    match crate::sched::chan::recv(cx, ch, Resume::None) {
        Ok(_) => {
            worker_started(cx);
            Ok(false)
        }
        Err(f) => Err(f),
    }
}

/// The coordinator got a worker's signal: count it.
pub(crate) fn worker_started(cx: &mut Ctx) {
    let pool = &cx.rt.gc.workers;
    pool.count.fetch_add(1, Ordering::AcqRel);
    *pool.ready_chan.lock() = None;
}

/// The worker to run on this P now, if the collector wants one (Go's
/// `findRunnableGCWorker`): dedicated while the budget lasts, else
/// fractional while this P is under its fraction.
pub(crate) fn find_worker(cx: &mut Ctx) -> Option<GRef> {
    let gc = &cx.rt.gc;
    let local_work = !cx.local().gcw.is_empty();
    if !gc.marking() || !(gc.work_available() || local_work) {
        return None;
    }
    let pool = &gc.workers;
    let mode = if pool.dedicated_needed.fetch_sub(1, Ordering::AcqRel) > 0 {
        Mode::Dedicated
    } else {
        pool.dedicated_needed.fetch_add(1, Ordering::AcqRel);
        let goal = pool.fractional_goal();
        if goal <= 0.0 || !under_fraction(cx, goal) {
            return None;
        }
        Mode::Fractional
    };
    let w = take(cx, mode);
    if w.is_none() && mode == Mode::Dedicated {
        pool.dedicated_needed.fetch_add(1, Ordering::AcqRel);
    }
    w
}

/// Whether this P may mark as a fractional worker: both its own
/// fractional time and the background marking of all Ps together (each
/// P's part of it) are below `limit`, a fraction of the mark phase's wall
/// time so far.
///
/// Go checks only the first: a P with a busy goroutine gives its fraction
/// of the mark phase to a fractional worker even while another P, which
/// had nothing to run, marks for all of it. Fractional workers exist to
/// give the collector its 25% of the CPU in total; what the other Ps
/// already marked counts towards that, and the program keeps its P. When
/// every P is busy, each marks its own fraction and Go's rule holds.
fn under_fraction(cx: &mut Ctx, limit: f64) -> bool {
    let gc = &cx.rt.gc;
    let start = gc.pacer.mark_start.load(Ordering::Acquire);
    let share = Share {
        own: cx.local().frac_time,
        all: gc.workers.background_time.load(Ordering::Relaxed),
        procs: cx.rt.sched.procs(),
        elapsed: cx.rt.sched.now().saturating_sub(start).max(1),
    };
    share.under(limit)
}

/// The figures [`under_fraction`] compares, in the units of the clock
/// (`Sched::now`).
struct Share {
    /// This P's fractional marking this cycle.
    own: u64,
    /// All Ps' fractional and idle-mode marking this cycle.
    all: u64,
    procs: usize,
    /// The mark phase's length so far (at least 1).
    elapsed: u64,
}

impl Share {
    fn under(&self, limit: f64) -> bool {
        let budget = limit * self.elapsed as f64;
        (self.own as f64) < budget && (self.all as f64 / self.procs as f64) < budget
    }
}

/// An idle-mode worker for a P that has nothing else to run.
pub(crate) fn find_idle_worker(cx: &mut Ctx) -> Option<GRef> {
    let gc = &cx.rt.gc;
    if !gc.marking() || !gc.work_available() {
        return None;
    }
    take(cx, Mode::Idle)
}

/// Takes a worker from the pool for this P in `mode`, gives the P its
/// no-preemption hold, and makes the worker runnable (the caller runs it).
fn take(cx: &mut Ctx, mode: Mode) -> Option<GRef> {
    let g = cx.rt.gc.workers.idle.lock().pop()?;
    g.sys_mode.store(mode as u8, Ordering::Release);
    g.sys_state.store(state::PICKED, Ordering::Release);
    cx.rt.gc.active.fetch_add(1, Ordering::AcqRel);
    cx.p().nopreempt.fetch_add(1, Ordering::AcqRel);
    g.cas_status(
        crate::sched::Status::Waiting,
        crate::sched::Status::Runnable,
    );
    cx.trace(EventKind::GoUnpark, &[(Key::G, Arg::U(g.id()))]);
    Some(g)
}

/// One step of a worker (see the module docs). Returns the outcome and
/// its cost in safepoints (objects scanned).
pub(crate) fn step(cx: &mut Ctx, g: GRef) -> (Outcome, u32) {
    let gc = &cx.rt.gc;
    match g.sys_state.load(Ordering::Acquire) {
        state::REGISTER => return register(cx, g),
        state::PICKED => {
            let mode = Mode::from_u8(g.sys_mode.load(Ordering::Acquire));
            cx.trace(
                EventKind::GCMarkWorkerStart,
                &[(Key::G, Arg::U(g.id())), (Key::MODE, Arg::S(mode.name()))],
            );
            g.sys_state.store(state::DRAIN, Ordering::Release);
            cx.local().slice_start = cx.rt.sched.now();
        }
        _ => {}
    }
    let mode = Mode::from_u8(g.sys_mode.load(Ordering::Acquire));
    let t0 = cx.rt.sched.now();
    let started = cx.rt.sched.clock_ns();
    let d = mark::drain(cx, WORK_PER_STEP);
    mark::flush_for(cx.rt, cx.p());
    super::pacer::add_credit(cx, d.work);
    let spent = cx.rt.sched.now().saturating_sub(t0) + d.objects;
    let ns = cx.rt.sched.clock_ns().saturating_sub(started);
    let clock = &gc.pacer.clock;
    match mode {
        Mode::Dedicated => clock.dedicated_ns.fetch_add(ns, Ordering::Relaxed),
        Mode::Fractional => {
            cx.local().frac_time += spent;
            clock.fractional_ns.fetch_add(ns, Ordering::Relaxed)
        }
        Mode::Idle => clock.idle_ns.fetch_add(ns, Ordering::Relaxed),
    };
    if mode != Mode::Dedicated {
        let background = &gc.workers.background_time;
        background.fetch_add(spent, Ordering::Relaxed);
    }
    let cost = d.objects.min(u64::from(u32::MAX)) as u32;
    let s = &cx.rt.sched;
    let stop = s.gcwaiting.load(Ordering::Acquire)
        || s.exiting.load(Ordering::Acquire)
        || !gc.marking()
        || (!d.more && cx.local().gcw.is_empty() && !gc.work_available())
        || match mode {
            Mode::Dedicated => {
                if g.sys_state.load(Ordering::Acquire) == state::DRAIN && preempted(cx) {
                    runqdrain(cx);
                    g.sys_state
                        .store(state::DRAIN_NO_PREEMPT, Ordering::Release);
                }
                false
            }
            Mode::Fractional => {
                preempted(cx)
                    || !under_fraction(cx, gc.workers.fractional_goal() * FRACTIONAL_SLACK)
            }
            Mode::Idle => {
                // Go's `pollWork`, with this P's timers: a sleeping G whose
                // timer is due must not wait for the worker's time slice.
                preempted(cx)
                    || !cx.p().runq.is_empty()
                    || s.runq_len.load(Ordering::Acquire) > 0
                    || cx.p().next_timer.load(Ordering::Acquire) <= s.now()
            }
        };
    if !stop {
        return (Outcome::Yield, cost);
    }
    (finish(cx, g, mode), cost)
}

/// Scan work per step: one work buffer of average objects (about 64 bytes
/// each), the unit between preemption checks.
const WORK_PER_STEP: u64 = (super::WORK_BUF * 64) as u64;

/// A fractional worker may overshoot its fraction by this factor before it
/// stops (Go's `pollFractionalWorkerExit` uses 1.2).
const FRACTIONAL_SLACK: f64 = 1.2;

/// Has this P been asked to give up its G (sysmon's flag, or the
/// deterministic driver's time slice)?
fn preempted(cx: &mut Ctx) -> bool {
    let s = &cx.rt.sched;
    if cx.p().preempt.swap(false, Ordering::AcqRel) {
        return true;
    }
    if s.is_sim() {
        let now = s.now();
        if now.saturating_sub(cx.local().slice_start) >= crate::sched::sim::SLICE_TICKS {
            cx.local().slice_start = now;
            return true;
        }
    }
    false
}

/// Behaviour 3: moves this P's whole run queue (and `runnext`) to the
/// global queue: one CAS claims the ring, the Gs are linked, and one
/// global-queue lock acquisition takes them all.
fn runqdrain(cx: &mut Ctx) {
    let drained = cx.p().runq.drain();
    if drained.is_empty() {
        return;
    }
    cx.trace(
        EventKind::RunqDrain,
        &[
            (Key::N, Arg::U(drained.len() as u64)),
            (Key::P, Arg::U(u64::from(cx.p().id))),
        ],
    );
    crate::sched::proc::globrunqput_batch(cx.rt, drained.into_iter().map(GRef));
    crate::sched::proc::wakep(cx.rt);
}

/// The worker stops draining: flush, account, maybe report completion,
/// then park back into the pool.
fn finish(cx: &mut Ctx, g: GRef, mode: Mode) -> Outcome {
    let gc = &cx.rt.gc;
    mark::dispose(cx);
    super::flush_barrier_buffer();
    cx.trace(
        EventKind::GCMarkWorkerStop,
        &[(Key::G, Arg::U(g.id())), (Key::MODE, Arg::S(mode.name()))],
    );
    if mode == Mode::Dedicated {
        gc.workers.dedicated_needed.fetch_add(1, Ordering::AcqRel);
    }
    // From here on the worker uses no P-local state: an ordinary G.
    let left = gc.active.fetch_sub(1, Ordering::AcqRel) - 1;
    if left == 0 && gc.marking() && !gc.work_available() {
        super::coord::mark_done(cx, g);
    }
    park_in_pool(cx)
}

/// Parks the running worker in the pool: the unlock step
/// ([`unlock_pool`]) puts it on the idle list only once it is `Waiting`,
/// so the coordinator can never pick a worker that is still running.
fn park_in_pool(cx: &Ctx) -> Outcome {
    // SAFETY: `unlock_pool` needs nothing but the collector state, which
    // lives as long as the runtime.
    let unlock =
        unsafe { Unlock::new(unlock_pool, &cx.rt.gc as *const super::GcState as *const ()) };
    Outcome::Park(Park {
        reason: WaitReason::GcWorkerIdle,
        unlock,
        resume: Resume::None,
    })
}

/// The unlock step of [`park_in_pool`]: the parked worker `g` joins the
/// idle pool, and its P's no-preemption hold is released.
///
/// # Safety
/// `gc` points at the runtime's `GcState`.
unsafe fn unlock_pool(cx: &mut Ctx, g: GRef, gc: *const ()) {
    // SAFETY: guaranteed by the caller; the collector state lives as long
    // as the runtime.
    let gc = unsafe { &*(gc as *const super::GcState) };
    gc.workers.push_idle(g);
    if cx.p().nopreempt.load(Ordering::Acquire) > 0 {
        cx.p().nopreempt.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A new worker's first run: register and signal the coordinator.
fn register(cx: &mut Ctx, g: GRef) -> (Outcome, u32) {
    let ch = cx.rt.gc.workers.ready_chan.lock().unwrap_or(Value::NIL);
    g.sys_state.store(state::PICKED, Ordering::Release);
    // The send cannot block: capacity 1, and only this worker sends.
    let _ = crate::sched::chan::send(cx, ch, Value::NIL);
    (park_in_pool(cx), 1)
}

#[cfg(test)]
mod tests {
    use super::{budgets, Share};

    fn share(own: u64, all: u64) -> Share {
        Share {
            own,
            all,
            procs: 2,
            elapsed: 1000,
        }
    }

    /// With nothing marked on other Ps, a P's own fractional time decides,
    /// as in Go: below its fraction it marks, above it does not.
    #[test]
    fn a_ps_own_fraction_decides_when_no_other_p_marks() {
        let (_, goal) = budgets(2);
        assert_eq!(goal, 0.25);
        assert!(share(0, 0).under(goal));
        assert!(share(240, 240).under(goal));
        assert!(!share(250, 250).under(goal));
    }

    /// Marking by other Ps counts: once the Ps' background marking
    /// together reaches the goal (per P), a P that marked nothing itself
    /// starts no fractional worker.
    #[test]
    fn other_ps_marking_counts_towards_the_fraction() {
        let (_, goal) = budgets(2);
        // Another P marked for 40% of the mark phase: 20% per P.
        assert!(share(0, 400).under(goal));
        // Another P, idle, marked for all of it: 50% per P.
        assert!(!share(0, 1000).under(goal));
    }
}
