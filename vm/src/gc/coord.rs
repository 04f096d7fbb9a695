//! The coordinator: the system G that drives each cycle (`gc/mod.rs` steps
//! 1–5), and `runtime.gc()`.
//!
//! Its life is a state machine (one state per resumption point, so it can
//! park or yield between any two steps):
//! 1. `Idle`: parked on its wake record until a cycle is requested.
//! 2. `Sweep`: finish the previous cycle's sweep (as an ordinary G, a
//!    chunk per step, yielding while another sweeper holds a chunk). Then
//!    re-test the trigger (Go's `gcStart`): a request that is no longer
//!    due, with nobody waiting for the cycle, goes back to `Idle`.
//! 3. `GcSema`: take `gcsema` (parks while `gomaxprocs` or a trace
//!    start/stop holds it). Trace `GCStart`.
//! 4. `Workers`: create missing mark workers one at a time (`worker`).
//! 5. `Stw1`: take `worldsema`, stop the world (`sweep_termination`),
//!    phase `Mark`, barrier on, root jobs, worker budgets,
//!    pacer; start the world; release `worldsema` only; ready the
//!    goroutines that allocated past the goal meanwhile
//!    (`wait_mark_start`).
//! 6. `MarkWait`: park (`gc_mark_wait`) until the completion point readies
//!    it (behaviour 4). The wake record (`sched::sema::WakeRecord`,
//!    `{lock, g, wake}`): `WakeRecord::park` takes the lock; if `wake` is
//!    set (completion came first) it clears it and does not park; else it
//!    records the G and parks, and the scheduler releases the lock only
//!    once the G is `Waiting`. `mark_done` (the first worker or assist at
//!    the completion point, by CAS on `done_claimed`) calls
//!    `WakeRecord::wake`, which takes the lock and readies the recorded G
//!    into `runnext`, or sets `wake`.
//! 7. `Ragged`: the ragged barrier (every P flushes its barrier buffer); if
//!    that produced work, back to `MarkWait`.
//! 8. `Stw2`: take `worldsema`, stop the world (`mark_termination`),
//!    re-check for grey objects (if any, restart the world and go back to
//!    marking), checkmark, phase `Off`, wake assists, start sweeping, set
//!    the pacer, start the world, release `worldsema` then `gcsema`,
//!    `GCDone`, wake `runtime.gc()` callers whose cycle is done; another
//!    cycle follows at once if callers wait for one.
//!
//! With `gcstoptheworld=1` step 5 marks everything before the world
//! restarts and goes straight to step 8's work.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use parking_lot::Mutex;

use super::{mark, sweep, worker, Phase};
use crate::sched::park::{Flow, Outcome, Park, Resume, Unlock, WaitReason};
use crate::sched::sema::{WaitList, WakeRecord};
use crate::sched::{stw, GKind, GRef};
use crate::trace::{Arg, EventKind, Key};
use crate::Ctx;

/// What mark termination's step costs against the coordinator's budget,
/// in safepoints: as much as a sweep chunk (its pause is tens of
/// microseconds too), so the deterministic clock moves on by a comparable
/// amount.
const CYCLE_END_COST: u32 = sweep::CHUNK_COST;

/// The coordinator's states (see the module docs).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle = 0,
    Sweep,
    GcSema,
    Workers,
    WaitWorker,
    Stw1,
    MarkWait,
    Ragged,
    Stw2,
}

impl State {
    fn from_u8(v: u8) -> State {
        match v {
            1 => State::Sweep,
            2 => State::GcSema,
            3 => State::Workers,
            4 => State::WaitWorker,
            5 => State::Stw1,
            6 => State::MarkWait,
            7 => State::Ragged,
            8 => State::Stw2,
            _ => State::Idle,
        }
    }
}

/// The coordinator's shared state.
#[derive(Default)]
pub struct Coord {
    g: Mutex<Option<GRef>>,
    state: AtomicU8,
    /// Wakes the coordinator: a cycle request while idle, the completion
    /// point while it waits for the mark.
    pub(crate) record: WakeRecord,
    /// Won (by CAS) by the first G at this mark round's completion point.
    pub(crate) done_claimed: AtomicBool,
    /// A cycle has been requested and has not finished.
    pending: AtomicBool,
    /// The pending cycle was forced (`runtime.gc()`).
    forced: AtomicBool,
    /// The forced cycle was asked for by an allocation over `--max-heap`.
    pub(crate) over_limit: AtomicBool,
    /// `runtime.gc()` callers and the cycle each waits for.
    waiters: Mutex<Vec<(GRef, u32)>>,
    /// Goroutines that allocated past the goal before the pending cycle's
    /// mark began, parked until it begins (`wait_mark_start`).
    starters: WaitList,
    /// The ragged barrier's generation in progress.
    ragged: std::sync::atomic::AtomicU64,
}

/// Asks for a cycle (a safepoint past the trigger, or `runtime.gc()`):
/// creates the coordinator on first use and wakes it.
pub fn request_cycle(cx: &mut Ctx, forced: bool) -> bool {
    let c = &cx.rt.gc.coord;
    if forced {
        c.forced.store(true, Ordering::Release);
    }
    if c.pending.swap(true, Ordering::AcqRel) {
        return false;
    }
    let existing = *c.g.lock();
    match existing {
        // The caller yields (an allocation safepoint) or parks
        // (`runtime.gc()`) right after, so the coordinator runs next on
        // this P, without a hand-off to another M.
        Some(_) => c.record.wake_here(cx),
        None => {
            let g = crate::sched::proc::new_system_g(cx, GKind::Coordinator);
            *c.g.lock() = Some(g);
            c.state.store(State::Sweep as u8, Ordering::Release);
            crate::sched::proc::start_system_g(cx, g, true);
        }
    }
    true
}

/// A goroutine that allocates past the heap goal while a cycle is
/// requested but its mark has not begun (`Coord::awaiting_mark`) waits
/// until the mark begins (or the request turns out stale), as Go's
/// allocating goroutines wait on `gcStart`'s semaphore; marking then
/// throttles it through assists.
///
/// Without this wait, the goroutine that requested a cycle yielded to the
/// coordinator and an idle P could take it from the queue while the
/// coordinator, on the first P, still created the mark workers; when the
/// kernel kept that P's thread off a CPU for milliseconds, the goroutine
/// allocated with no mark to assist, and gc_latency's first cycle ended
/// at up to 1.75 times its 4 MB goal (`4->7->7 MB`) in about one run in
/// 75. Below the goal the goroutine goes on: the request's usual delay
/// (finishing the last sweep, the stop) is tens of microseconds, and
/// waiting through it at every cycle cost `bench/strings.sk`, which
/// collects every 2 ms, 3% of its time.
///
/// Protocol: under the starters lock the goroutine parks only while
/// `Coord::awaiting_mark` holds; the lock is released once it is
/// `Waiting`. The coordinator moves to `MarkWait` (the world running
/// again in the mark phase) or clears `pending` (a stale request, or the
/// end of a cycle that `gcstoptheworld` marked whole) before it takes the
/// lock to ready the starters (`wake_starters`), so a goroutine either
/// sees the change or is on the list when it is emptied
/// (`vm/tests/loom_gc.rs`, protocol 3).
pub(crate) fn wait_mark_start(cx: &mut Ctx) -> Result<(), Flow> {
    let c = &cx.rt.gc.coord;
    let Some(g) = cx.g else {
        return Ok(());
    };
    c.starters
        .park_unless(g, WaitReason::GcStart, || !c.awaiting_mark())
}

/// Readies the goroutines waiting in `wait_mark_start`: the mark has
/// begun, the request was stale, or the cycle is closed.
fn wake_starters(cx: &mut Ctx) {
    cx.rt.gc.coord.starters.ready_all(cx);
}

impl Coord {
    /// A cycle is requested and the coordinator has not yet begun its
    /// mark: it is in one of the states up to `Stw1`. (While it waits in
    /// `Idle` its state already reads `Sweep`, the state it wakes into,
    /// but no cycle is pending then.)
    #[inline]
    pub(crate) fn awaiting_mark(&self) -> bool {
        self.pending.load(Ordering::Acquire)
            && matches!(
                State::from_u8(self.state.load(Ordering::Acquire)),
                State::Sweep | State::GcSema | State::Workers | State::WaitWorker | State::Stw1
            )
    }
}

/// Is a cycle requested or under way?
pub fn in_progress(cx: &Ctx) -> bool {
    cx.rt.gc.coord.pending.load(Ordering::Acquire)
}

/// The main goroutine ended while a cycle runs and a trace is recorded:
/// wait for the cycle to finish, so the trace holds whole cycles.
pub fn wait_cycle_end(cx: &mut Ctx) -> Result<(), Flow> {
    let gc = &cx.rt.gc;
    let started = gc.cycle.load(Ordering::Acquire);
    let target = if started > gc.completed.load(Ordering::Acquire) {
        started
    } else {
        started + 1
    };
    let w = gc.coord.waiters.lock();
    if !gc.coord.pending.load(Ordering::Acquire) {
        return Ok(());
    }
    Err(park_waiter(cx, w, target))
}

/// `runtime.gc()`: waits for a full cycle that starts after the call (a
/// cycle in progress is finished first, as Go's `runtime.GC` does).
pub fn gc_wait(cx: &mut Ctx) -> Result<(), Flow> {
    let gc = &cx.rt.gc;
    // `cycle` counts cycles whose marking has started; the next one to
    // start marks after this call, which is what Go's `runtime.GC` asks.
    let target = gc.cycle.load(Ordering::Acquire) + 1;
    let w = gc.coord.waiters.lock();
    let park = park_waiter(cx, w, target);
    // The waiters' lock stays held until the park commits; requesting the
    // cycle does not take it.
    request_cycle(cx, true);
    Err(park)
}

/// Queues the running G on the waiters (whose guard is `w`) until cycle
/// `target` is done; the park releases the lock once the G is `Waiting`.
fn park_waiter(
    cx: &Ctx,
    mut w: parking_lot::MutexGuard<'_, Vec<(GRef, u32)>>,
    target: u32,
) -> Flow {
    w.push((cx.g.expect("a goroutine waits for the collector"), target));
    Flow::Park(Park {
        reason: WaitReason::GcWait,
        unlock: Unlock::guard(w),
        resume: Resume::None,
    })
}

/// The completion point (behaviour 4): the first worker or assist to find
/// no mark work left readies the coordinator. True for that first caller;
/// false when the point was already claimed this cycle.
///
/// The caller gives its P up right after (a worker parks, an assist yields
/// to the coordinator), so the coordinator goes to this P's `runnext` and
/// no other P is woken for it (`Sema::wake_here`). Waking an idle P here
/// only let another M take the yielding goroutine, and on a machine whose
/// kernel puts a woken thread on the waker's CPU, the coordinator then
/// shared one CPU with that goroutine: mark termination came 2-3 ms after
/// the completion point, and the goroutine allocated freely meanwhile (a
/// tenth of gc_latency's early cycles ended over 1.1 times their goal).
pub fn mark_done(cx: &mut Ctx, who: GRef) -> bool {
    let c = &cx.rt.gc.coord;
    if c.done_claimed.swap(true, Ordering::AcqRel) {
        return false;
    }
    cx.trace(EventKind::GCMarkDone, &[(Key::G, Arg::U(who.id()))]);
    c.record.wake_here(cx);
    true
}

/// One step of the coordinator.
pub(crate) fn step(cx: &mut Ctx) -> (Outcome, u32) {
    let rt = cx.rt;
    let gc = &rt.gc;
    let c = &gc.coord;
    loop {
        let st = State::from_u8(c.state.load(Ordering::Acquire));
        let set = |s: State| c.state.store(s as u8, Ordering::Release);
        match st {
            State::Idle => {
                if let Some(pk) = c.record.park(cx, WaitReason::GcIdle) {
                    set(State::Sweep);
                    return (Outcome::Park(pk), 1);
                }
                set(State::Sweep);
            }
            State::Sweep => {
                // Finish the previous cycle's sweep, a chunk per step.
                if sweep::sweep_chunk(rt) {
                    return (Outcome::Yield, sweep::CHUNK_COST);
                }
                if rt.gc.sweeper.pending() {
                    // Another sweeper is finishing a span it claimed: let
                    // it run rather than wait in the stop-the-world pause.
                    return (Outcome::Gosched, 1);
                }
                sweep::note_done(cx);
                let waiters = c.waiters.lock();
                if !c.forced.load(Ordering::Acquire)
                    && !gc.pacer.trigger_reached(&rt.heap)
                    && waiters.is_empty()
                {
                    // Go's `gcStart` re-tests its trigger: the request may
                    // be stale (raised during the last cycle and seen only
                    // after it ended). Nobody waits for this cycle (a
                    // waiter checks `pending` under the same lock), and a
                    // request from now on wakes the coordinator again.
                    c.pending.store(false, Ordering::Release);
                    drop(waiters);
                    wake_starters(cx);
                    set(State::Idle);
                    continue;
                }
                drop(waiters);
                set(State::GcSema);
            }
            State::GcSema => {
                if let Err(f) = rt.sched.gcsema.acquire(cx) {
                    return (park_outcome(f), 1);
                }
                let n = gc.cycle.load(Ordering::Acquire) + 1;
                let forced = c.forced.swap(false, Ordering::AcqRel);
                let over_limit = c.over_limit.swap(false, Ordering::AcqRel);
                let buggified = gc.pacer.take_buggified();
                let trigger = match (forced, over_limit) {
                    (true, true) => "max-heap",
                    (true, false) => "forced",
                    (false, _) if gc.pacer.gcstress => "stress",
                    (false, _) if buggified => "buggify",
                    (false, _) => "heap",
                };
                gc.pacer.begin_cycle(cx, forced, trigger);
                cx.trace(
                    EventKind::GCStart,
                    &[
                        (Key::N, Arg::U(u64::from(n))),
                        (Key::TRIGGER, Arg::S(trigger)),
                    ],
                );
                set(State::Workers);
            }
            State::Workers if crate::sched::strategy::buggify_delay_worker_start(rt) => {
                // A buggified schedule holds the next worker's start
                // hand-off back: the coordinator yields and tries again.
                return (Outcome::Yield, 1);
            }
            State::Workers => match worker::start_one(cx) {
                Ok(true) => set(State::Stw1),
                Ok(false) => {}
                Err(f) => {
                    set(State::WaitWorker);
                    return (park_outcome(f), 1);
                }
            },
            State::WaitWorker => {
                worker::worker_started(cx);
                set(State::Workers);
            }
            State::Stw1 => {
                if let Err(f) = rt.sched.worldsema.acquire(cx) {
                    return (park_outcome(f), 1);
                }
                let t0 = rt.sched.clock_ns();
                let retired = stw1(cx);
                let clock = &gc.pacer.clock;
                if gc.stw_mode {
                    // The world stays stopped: `terminate` marks
                    // everything. The pause is accounted as the trace
                    // shows it, two back to back.
                    cx.trace(
                        EventKind::STWDone,
                        &[(Key::REASON, Arg::S("sweep_termination"))],
                    );
                    clock.note_pause(&clock.stw1_ns, t0, rt.sched.clock_ns());
                    cx.trace(
                        EventKind::STWStart,
                        &[(Key::REASON, Arg::S("mark_termination"))],
                    );
                    terminate(cx, rt.sched.clock_ns());
                    retired.free();
                    return (after_cycle(cx), CYCLE_END_COST);
                }
                let released = stw::start_the_world(cx, "sweep_termination");
                clock.note_pause(&clock.stw1_ns, t0, released);
                retired.free();
                rt.sched.worldsema.release(cx);
                set(State::MarkWait);
                wake_starters(cx);
                crate::sched::proc::wakep(rt);
            }
            State::MarkWait => {
                if let Some(pk) = c.record.park(cx, WaitReason::GcMarkWait) {
                    set(State::Ragged);
                    c.ragged.store(0, Ordering::Release);
                    return (Outcome::Park(pk), 1);
                }
                set(State::Ragged);
                c.ragged.store(0, Ordering::Release);
            }
            State::Ragged => {
                let mut e = c.ragged.load(Ordering::Acquire);
                if e == 0 {
                    e = mark::ragged_start(cx);
                    c.ragged.store(e, Ordering::Release);
                }
                if !mark::ragged_done(cx, e) {
                    return (Outcome::Yield, 1);
                }
                // Re-arm the completion point *before* looking for work: a
                // drainer that finishes after the look then claims it and
                // wakes us (checked by `vm/tests/loom_gc.rs`, 1e).
                c.done_claimed.swap(false, Ordering::AcqRel);
                if gc.active.fetch_add(0, Ordering::AcqRel) > 0 || gc.work_available() {
                    crate::sched::proc::wakep(rt);
                    set(State::MarkWait);
                    continue;
                }
                if c.done_claimed.swap(true, Ordering::AcqRel) {
                    // A drainer claimed the new round first: it wakes us.
                    set(State::MarkWait);
                    continue;
                }
                set(State::Stw2);
            }
            State::Stw2 => {
                if let Err(f) = rt.sched.worldsema.acquire(cx) {
                    return (park_outcome(f), 1);
                }
                let t0 = rt.sched.clock_ns();
                stw::stop_the_world(cx, "mark_termination");
                stw::flush_all(cx);
                // This thread's barrier buffer too (the other Ms flushed
                // theirs as they stopped): what it holds is mark work, and
                // `terminate` would drain it with the world stopped (a
                // 163 µs drain in one mark termination in forty gc_latency
                // runs).
                super::flush_barrier_buffer();
                if gc.work_available() || gc.active.load(Ordering::Acquire) > 0 {
                    // Grey objects raced in: back to marking. Re-arm the
                    // completion point while no drainer can run.
                    c.done_claimed.store(false, Ordering::Release);
                    let released = stw::start_the_world(cx, "mark_termination");
                    let clock = &gc.pacer.clock;
                    clock.note_pause(&clock.stw2_ns, t0, released);
                    rt.sched.worldsema.release(cx);
                    crate::sched::proc::wakep(rt);
                    set(State::MarkWait);
                    continue;
                }
                terminate(cx, t0);
                return (after_cycle(cx), CYCLE_END_COST);
            }
        }
    }
}

fn park_outcome(f: Flow) -> Outcome {
    match f {
        Flow::Park(pk) => Outcome::Park(Park {
            resume: Resume::None,
            ..pk
        }),
        Flow::Gosched => Outcome::Gosched,
        Flow::Syscall(_) => unreachable!("the collector makes no system calls"),
        Flow::Error(e) => panic!("collector: {e}"),
        Flow::TailCall(..) | Flow::Exit(_) => unreachable!("only natives call and exit"),
    }
}

/// Stop-the-world #1 (sweep termination) and the start of the mark phase.
fn stw1(cx: &mut Ctx) -> RetiredBlocks {
    let rt = cx.rt;
    let gc = &rt.gc;
    stw::stop_the_world(cx, "sweep_termination");
    stw::flush_all(cx);
    // The coordinator finished the sweep before stopping the world, and
    // anything allocated since needs no sweeping; this loop only makes
    // sure (it finds nothing unless a sweeper was mid-chunk then, which
    // the coordinator waits out).
    while sweep::sweep_chunk(cx.rt) {}
    let retired = RetiredBlocks::take(cx);
    gc.cycle.fetch_add(1, Ordering::AcqRel);
    let gs: Vec<GRef> = rt
        .sched
        .allgs
        .lock()
        .iter()
        .copied()
        .filter(|g| !g.kind().is_system())
        .collect();
    gc.roots.prepare(gs);
    gc.workers.start_cycle(rt.sched.procs());
    gc.active.store(0, Ordering::Release);
    gc.marked_bytes.store(0, Ordering::Release);
    gc.scan_work.store(0, Ordering::Release);
    gc.bg_credit.store(0, Ordering::Release);
    gc.coord.done_claimed.store(false, Ordering::Release);
    for p in rt.sched.all_created() {
        // SAFETY: the world is stopped: the stopper owns every P's state.
        let l = unsafe { p.local() };
        l.frac_time = 0;
        l.mc.assist_debt = 0;
        l.mc.poll = false;
    }
    gc.pacer.start_mark(cx);
    gc.set_phase(Phase::Mark);
    retired
}

/// Storage retired by list and table growth, taken off the retire list
/// with the world stopped and freed once it runs again: freeing (and with
/// it mimalloc's purge, a system call per block) need not lengthen the
/// pause.
#[must_use = "the blocks are freed by `free`"]
pub(crate) struct RetiredBlocks(Vec<crate::object::Retired>);

impl RetiredBlocks {
    /// Takes the retire list. Called with the world stopped: no mutator
    /// (each is at a safepoint) and no marker (markers stop only at buffer
    /// boundaries) holds a reference into a retired block, and none can
    /// reach one afterwards, since lists and tables point to their new
    /// blocks.
    pub(crate) fn take(cx: &Ctx) -> RetiredBlocks {
        RetiredBlocks(std::mem::take(&mut *cx.rt.heap.retired.lock()))
    }

    /// Frees the blocks (the world may be running again).
    pub(crate) fn free(self) {
        for r in self.0 {
            // SAFETY: taken with the world stopped (`take`): nothing
            // holds or can reach a reference into the block.
            unsafe { r.free() };
        }
    }
}

/// Mark termination's work with the world stopped (and the coordinator
/// holding `worldsema` and `gcsema`): checkmark, phase `Off`, sweep start,
/// pacing; then the world restarts. The pause began at `t0`.
fn terminate(cx: &mut Ctx, t0: u64) {
    let rt = cx.rt;
    let gc = &rt.gc;
    let _outside = rt.sched.outside_lock.lock();
    // Mark what is still buffered: this thread's barrier buffer (in
    // deterministic mode the one thread's buffer holds every P's shades),
    // and, with `gcstoptheworld`, the whole heap.
    super::flush_barrier_buffer();
    mark::drain_stopped(cx);
    if gc.checkmark {
        super::checkmark::verify(cx);
    }
    gc.set_phase(Phase::Off);
    gc.coord.done_claimed.store(true, Ordering::Release);
    gc.roots.clear();
    super::pacer::wake_assists(cx);
    let retired = RetiredBlocks::take(cx);
    gc.pacer.end_mark(cx);
    sweep::start(cx);
    cx.trace(
        EventKind::HeapGoal,
        &[(Key::GOAL, Arg::U(rt.gc.pacer.goal() as u64))],
    );
    drop(_outside);
    let released = stw::start_the_world(cx, "mark_termination");
    let clock = &gc.pacer.clock;
    clock.note_pause(&clock.stw2_ns, t0, released);
    retired.free();
}

/// After mark termination: release the semaphores, report, wake
/// `runtime.gc()` callers, and go idle (or start the next cycle).
fn after_cycle(cx: &mut Ctx) -> Outcome {
    let rt = cx.rt;
    let gc = &rt.gc;
    let c = &gc.coord;
    rt.sched.worldsema.release(cx);
    rt.sched.gcsema.release(cx);
    let n = gc.cycle.load(Ordering::Acquire);
    gc.pacer.report(cx, n);
    let waiting = !c.waiters.lock().is_empty();
    if waiting {
        // `runtime.gc()` returns with the sweep done, as Go's does.
        sweep::finish(cx);
    }
    gc.completed.store(n, Ordering::Release);
    cx.trace(
        EventKind::GCDone,
        &[
            (Key::N, Arg::U(u64::from(n))),
            (Key::LIVE, Arg::U(rt.gc.pacer.last_marked() as u64)),
        ],
    );
    sweep::wake_sweeper(cx);
    // Requests from now on start a new cycle.
    c.pending.store(false, Ordering::Release);
    wake_starters(cx);
    let ready: Vec<GRef> = {
        let mut w = c.waiters.lock();
        let (done, rest): (Vec<_>, Vec<_>) = w.drain(..).partition(|&(_, t)| t <= n);
        *w = rest;
        done.into_iter().map(|(g, _)| g).collect()
    };
    for g in ready {
        crate::sched::proc::ready(cx, g);
    }
    let more = !c.waiters.lock().is_empty();
    if more && !c.pending.swap(true, Ordering::AcqRel) {
        // Callers wait for a cycle that has not started: run it now.
        c.forced.store(true, Ordering::Release);
        c.state.store(State::Sweep as u8, Ordering::Release);
    } else {
        c.state.store(State::Idle as u8, Ordering::Release);
    }
    Outcome::Yield
}
