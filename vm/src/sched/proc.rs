//! The scheduler proper (Go's `proc.go`): how Ms find and run Gs.
//!
//! An M's life (`mstart`): wait until handed a P, then `schedule` until it
//! must give the P back, then wait again.
//!
//! `schedule` loops: stop for a pending stop-the-world (`gcstopm`), else
//! `find_runnable`, else give the P back. `find_runnable` looks, in Go's
//! order:
//! 1. the P's expired timers (they ready Gs into `runnext`);
//! 2. every 61st tick, one G from the global queue (fairness: a busy local
//!    queue cannot starve it);
//! 3. the local `runnext`, then the local ring;
//! 4. a batch from the global queue;
//! 5. stealing: if fewer than half the busy Ps already have a spinning M,
//!    become spinning and make four passes over the other Ps in a random
//!    order, running their expired timers and stealing half of a ring (on
//!    the last pass also a `runnext`);
//! 6. otherwise give the P back; if this M was spinning, stop spinning and
//!    re-check every run queue (a G readied just before the P went idle
//!    must not be stranded), and check for deadlock.
//!
//! `execute` runs a G in chunks of [`CHUNK`] safepoints. Between chunks it
//! honours a stop-the-world request, the P's preempt flag (set by sysmon
//! after [`SLICE_NS`] on one G), program exit and Ctrl-C.
//!
//! park / ready (the contract is in `park`): a G parks by returning
//! `Outcome::Park` from the interpreter (or a runtime goroutine's step)
//! with the lock that guards its wait list still held; `park_commit`
//! records the reason and the resume action, marks the G `Waiting`, and
//! only then runs the park's unlock step, which the owner of the wait list
//! supplied (the scheduler knows no channel, semaphore or collector type).
//! `ready` (called by whoever won the right to wake it) marks it
//! `Runnable`, puts it in the current P's `runnext` (it runs next,
//! inheriting the time slice) and calls `wakep`. When the G starts again,
//! `begin` has the interpreter apply its resume action (`Exec::resume`).
//!
//! Spinning Ms and `wakep`: when work appears and a P is idle, `wakep`
//! starts one spinning M (unless one already spins); a spinning M that finds
//! work stops spinning and, if it was the last spinner, starts another.
//! That way a ready G never waits while a P sits idle, without waking every
//! thread for every G.
//!
//! Sysmon (a thread without a P) preempts long-running Gs and wakes an idle
//! P when a timer is due.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use skein_bytecode::Program;

use super::park::{Flow, Outcome, Park};
use super::{timer, GKind, GRef, PStatus, Status, CHUNK, G, M, P, SLICE_NS};
use crate::interp;
use crate::object::*;
use crate::trace::{Arg, EventKind, Key};
use crate::value::Value;
use crate::{Ctx, Runtime, RuntimeError};

/// Gs a P keeps on its own free list before returning them to the global
/// one: enough to absorb a burst of short goroutines without the lock.
const LOCAL_GFREE: usize = 64;

/// Most Gs taken from the global queue in one batch (Go's limit is half a
/// local ring).
const GLOBAL_BATCH: usize = 128;

/// How long `run_main` waits, after the program ended, for every M to give
/// its P back: a few chunks of work at most; the bound only guards against
/// a bug.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How often `run_main` looks whether every P is idle after the program
/// ended: well below the tens of microseconds an M needs to stop.
const EXIT_POLL: std::time::Duration = std::time::Duration::from_micros(50);

/// How long m0 sleeps when it has no P and the main goroutine is not done:
/// work that appears meanwhile is taken by the Ms `wakep` starts, so this
/// only bounds how late m0 notices a change (and Ctrl-C).
const M0_IDLE_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

/// Sysmon's period while Gs run: a preemption is noticed within 1 ms of
/// the 10 ms slice.
const SYSMON_BUSY_NS: u64 = 1_000_000;

/// Sysmon's period when every P is idle: it has nothing to preempt, and a
/// due timer shortens the sleep anyway.
const SYSMON_IDLE_NS: u64 = 10_000_000;

/// How long a thief waits before taking a running P's `runnext` (Go's
/// `usleep(3)` in `runqgrab`): a synchronous channel hand-off takes well
/// under a microsecond, so 3 µs lets the victim reach its park many times
/// over. (The sleep itself takes longer: the kernel's timer slack.)
const RUNNEXT_GRACE: std::time::Duration = std::time::Duration::from_micros(3);

/// Every 61st schedule on a P takes from the global queue first (Go's
/// constant: a prime, so it does not beat with program periodicity).
const FAIRNESS_TICK: u64 = 61;

impl Ctx<'_> {
    /// Records a trace event on this P (when tracing). Inlined, so that
    /// each call site's encoder knows its arguments' kinds and count.
    #[inline(always)]
    pub fn trace(&mut self, kind: EventKind, args: &[(Key, Arg)]) {
        let s = &self.rt.sched;
        if !s.tracing.load(Ordering::Relaxed) {
            return;
        }
        let tick = s.trace_tick();
        self.trace_at(tick, kind, args);
    }

    /// Records a trace event on this P at `tick` (the caller checked that
    /// tracing is on).
    #[inline(always)]
    fn trace_at(&mut self, tick: u64, kind: EventKind, args: &[(Key, Arg)]) {
        let s = &self.rt.sched;
        let g = self.g.map(|g| g.id());
        self.local().trace.record(
            &s.trace_sink,
            tick,
            crate::trace::encode::next_seq,
            g,
            kind,
            args,
        );
    }
}

/// An M's scheduling state.
struct MState {
    spinning: bool,
    /// The calling thread of `run_main` working as an M (Go's m0): it gives
    /// its P back as soon as the main goroutine is done.
    m0: bool,
}

enum Found {
    G(GRef, bool),
    /// Look again from the top (a stop-the-world or exit is pending).
    Retry,
    /// Nothing to run: the P has been given back.
    Released,
}

// ---------------------------------------------------------------------------
// The main goroutine.

/// Loads `program` and runs its script as the main goroutine until it
/// returns, any goroutine fails, or the program deadlocks.
pub fn run_main(rt: &Arc<Runtime>, program: &Program) -> Result<(), RuntimeError> {
    let sched = &rt.sched;
    let _ = sched.self_ref.set(Arc::downgrade(rt));
    rt.open_output();
    let g = {
        let _outside = sched.outside_lock.lock();
        // SAFETY: `outside_lock` is held for the whole life of `cx`.
        let mut cx = unsafe { Ctx::new(rt, &sched.outside_p, None) };
        let func = crate::loader::load(&mut cx, &program.main);
        let closure = cx.alloc(
            Kind::Closure,
            Closure {
                function: func.as_obj() as *const Obj<Function>,
                upvals: Box::new([]),
            },
            0,
        );
        let g = new_g(&mut cx, false);
        // SAFETY: `g` is Idle (fresh from `new_g`): its creator owns it.
        unsafe {
            *g.kind.get() = GKind::Main;
            g.exec().init_call(&[closure]);
        }
        crate::gc::mark::note_new_stack(&cx, g, &[closure]);
        {
            let mut m = sched.main.lock();
            m.g = Some(g);
            sched.set_main_result(&mut m, None);
        }
        cx.trace(
            EventKind::GoCreate,
            &[
                (Key::G, Arg::U(g.id())),
                (Key::KIND, Arg::S("main")),
                (Key::FN, Arg::Label("script".into())),
            ],
        );
        g.cas_status(Status::Idle, Status::Runnable);
        sched.ngoroutines.fetch_add(1, Ordering::Relaxed);
        cx.local().mc.flush(rt);
        g
    };
    if sched.is_sim() {
        // The driver runs on this thread; P0 takes the main goroutine.
        let _ = sched.p(0).runq.put(g.0, false);
        super::sim::run(rt);
    } else {
        globrunqput(rt, g);
        start_sysmon(rt);
        m0(rt);
    }
    let result = {
        let mut m = sched.main.lock();
        m.g = None;
        m.result.take().unwrap_or(Ok(()))
    };
    if !sched.keep_running && !sched.is_sim() {
        // Let every M reach a safepoint and give its P back, so nothing
        // runs (or prints, or traces) after the program has ended.
        let deadline = std::time::Instant::now() + EXIT_WAIT;
        while (sched.npidle.load(Ordering::Acquire) as usize) < sched.procs()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(EXIT_POLL);
        }
    }
    result
}

/// The calling thread works as an M (Go's m0) until the main goroutine is
/// done: it takes an idle P and schedules, usually running the main
/// goroutine itself. (Besides saving a thread hand-off, this keeps a
/// single-goroutine program on the process's main thread, where the
/// interpreter measurably runs faster; see `bench/RESULTS.md`.) When no P
/// is idle, or it has given its P back, it waits for the result and tries
/// again now and then.
fn m0(rt: &Runtime) {
    let _bound = crate::gc::bind_thread(rt);
    let s = &rt.sched;
    let mut scavenges_seen = 0;
    loop {
        if s.main.lock().result.is_some() {
            return;
        }
        // Take a P only when there is something to run: an idle m0 must
        // not spin (timers and wake-ups reach the other Ms through
        // sysmon and `wakep`).
        let work = s.runq_len.load(Ordering::Acquire) > 0
            || (0..s.procs()).any(|i| !s.p(i as u32).runq.is_empty());
        let pid = if work {
            pidleget(rt, &mut s.lock.lock())
        } else {
            None
        };
        match pid {
            Some(pid) => {
                // SAFETY: `pidleget` gave this M the P.
                let mut cx = unsafe { Ctx::new(rt, s.p(pid), None) };
                let mut ms = MState {
                    spinning: false,
                    m0: true,
                };
                cx.trace(EventKind::ProcStart, &[(Key::M, Arg::U(0))]);
                schedule(&mut cx, &mut ms);
                if ms.spinning {
                    s.nmspinning.fetch_sub(1, Ordering::AcqRel);
                }
            }
            None => {
                if rt.interrupt.load(Ordering::Relaxed) {
                    interrupt_parked_main(rt);
                }
                // Other Ms run the program, or nothing is runnable: look
                // again later.
                collect_after_scavenge(rt, &mut scavenges_seen);
                let mut m = s.main.lock();
                if m.result.is_none() {
                    s.main_cond.wait_for(&mut m, M0_IDLE_WAIT);
                }
            }
        }
    }
}

/// Ctrl-C while the main goroutine is parked (the REPL): the entry ends
/// with `Interrupted.` and its trace; the goroutine is marked killed, so it
/// ends as soon as anything wakes it.
fn interrupt_parked_main(rt: &Runtime) {
    let s = &rt.sched;
    let Some(g) = s.main.lock().g else { return };
    if !g.try_scan(Status::Waiting) {
        // Running (it sees the flag at its next safepoint) or runnable.
        return;
    }
    // SAFETY: the scan bit keeps the parked G from being readied (status
    // changes spin on it), so nobody else touches its stack.
    let trace = unsafe { g.exec() }.trace();
    g.killed.store(true, Ordering::Release);
    g.end_scan();
    rt.interrupt.store(false, Ordering::Relaxed);
    finish_main(
        rt,
        Some(g),
        Err(RuntimeError::new("Interrupted.".into(), trace)),
    );
}

/// Gives this M's P back (or stops it for a pending stop-the-world).
fn release_p(cx: &mut Ctx, ms: &mut MState) {
    let s = &cx.rt.sched;
    let mut l = s.lock.lock();
    if s.gcwaiting.load(Ordering::Acquire) {
        drop(l);
        gcstopm(cx, ms);
        return;
    }
    cx.trace(EventKind::ProcStop, &[(Key::REASON, Arg::S("m0"))]);
    pidleput(cx.rt, &mut l, cx.p());
    drop(l);
    if !cx.p().runq.is_empty() || s.runq_len.load(Ordering::Acquire) > 0 {
        wakep(cx.rt);
    }
}

/// Ends the program from outside it (a signal): it fails with `message`
/// as a runtime error, as if a goroutine had, and every M stops at its
/// next safepoint.
pub fn end_program(rt: &Runtime, message: String) {
    finish_main(rt, None, Err(RuntimeError::new(message, Vec::new())));
    rt.sched.main_cond.notify_all();
}

/// Records the program's result (the first one wins) and, outside the
/// REPL, ends the program.
fn finish_main(rt: &Runtime, g: Option<GRef>, result: Result<(), RuntimeError>) {
    let s = &rt.sched;
    let mut m = s.main.lock();
    // The first result wins; a main goroutine of an earlier REPL entry
    // (killed by Ctrl-C while parked) must not end the current one.
    if m.result.is_some() || (g.is_some() && m.g != g) {
        return;
    }
    s.set_main_result(&mut m, Some(result));
    if !s.keep_running {
        s.exiting.store(true, Ordering::SeqCst);
        rt.close_output();
    }
    s.main_cond.notify_all();
}

// ---------------------------------------------------------------------------
// Creating and ending goroutines.

/// A G for a new goroutine: from this P's free list, the global one, or
/// fresh (registered in `allgs`). Its id comes from the user range, or
/// from the system range for a runtime goroutine (`system`), so user ids
/// do not depend on when the collector starts its goroutines.
fn new_g(cx: &mut Ctx, system: bool) -> GRef {
    let s = &cx.rt.sched;
    let g = match cx.local().gfree.pop() {
        Some(g) => g,
        None => match s.gfree.lock().pop() {
            Some(g) => g,
            None => {
                let mut all = s.allgs.lock();
                let g = Box::new(G::new(0));
                let g = GRef(std::ptr::NonNull::from(Box::leak(g)));
                all.push(g);
                g
            }
        },
    };
    if g.status() == Status::Dead {
        g.cas_status(Status::Dead, Status::Idle);
    }
    let ids = if system { &s.next_sys_gid } else { &s.next_gid };
    g.id.store(ids.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
    // SAFETY: the G is Idle and only its creator knows it.
    unsafe { *g.kind.get() = GKind::User };
    g
}

/// `go f(args)`: starts a goroutine that calls `vals[0]` with `vals[1..]`.
pub fn newproc(cx: &mut Ctx, vals: &[Value]) {
    let g = new_g(cx, false);
    // SAFETY: `g` is Idle: its creator owns it.
    let exec = unsafe { g.exec() };
    exec.init_call(vals);
    exec.recharge(cx);
    crate::gc::mark::note_new_stack(cx, g, vals);
    cx.p().count_goroutines(1);
    if cx.rt.sched.tracing.load(Ordering::Relaxed) {
        let name = super::inspect::callee_name(vals[0]);
        cx.trace(
            EventKind::GoCreate,
            &[
                (Key::G, Arg::U(g.id())),
                (Key::KIND, Arg::S("user")),
                (Key::FN, Arg::Label(name.into())),
            ],
        );
    }
    g.cas_status(Status::Idle, Status::Runnable);
    runqput(cx, g, true);
    wakep(cx.rt);
}

/// A G for a runtime goroutine (`gc`): ids from the system range, not
/// counted by `numgoroutine`. Traced `GoCreate kind=...`.
pub(crate) fn new_system_g(cx: &mut Ctx, kind: GKind) -> GRef {
    let g = new_g(cx, true);
    // SAFETY: the G is Idle and only its creator knows it.
    unsafe {
        *g.kind.get() = kind;
        g.exec().reset();
    }
    g.scan_cycle
        .store(cx.rt.gc.cycle.load(Ordering::Acquire), Ordering::Release);
    if cx.rt.sched.tracing.load(Ordering::Relaxed) {
        cx.trace(
            EventKind::GoCreate,
            &[
                (Key::G, Arg::U(g.id())),
                (Key::KIND, Arg::S(kind.name())),
                (Key::FN, Arg::Label(kind.name().into())),
            ],
        );
    }
    g
}

/// Makes a new system G runnable on this P. With `next` it goes to
/// `runnext` and the creator gives its P up right after (an allocating
/// goroutine yields to the new coordinator, the coordinator waits for the
/// new worker's signal), so no other P is woken, as with
/// [`ready_here`]: a woken M only took the P the next stop-the-world had
/// to stop, and one that its kernel had not yet run held the first
/// cycle's sweep termination for half a millisecond.
pub(crate) fn start_system_g(cx: &mut Ctx, g: GRef, next: bool) {
    g.cas_status(Status::Idle, Status::Runnable);
    runqput(cx, g, next);
    if !next {
        wakep(cx.rt);
    }
}

/// The running G has finished.
fn goexit(cx: &mut Ctx, g: GRef) {
    if g.kind() == GKind::Main
        && !cx.rt.sched.keep_running
        && cx.rt.sched.tracing.load(Ordering::Relaxed)
        && crate::gc::coord::in_progress(cx)
    {
        // A trace never holds half a cycle: let the cycle finish first.
        // The script is over: when woken, the G only ends.
        // SAFETY: the G is Running on this M.
        unsafe { g.exec().frames.clear() };
        if let Err(Flow::Park(pk)) = crate::gc::coord::wait_cycle_end(cx) {
            park_commit(cx, g, pk);
            return;
        }
    }
    end_g(cx, g);
    if g.kind() == GKind::Main {
        finish_main(cx.rt, Some(g), Ok(()));
    }
}

/// The running `g` is done (finished or failed): trace it, drop its stack,
/// mark it `Dead` and put it on the free list.
fn end_g(cx: &mut Ctx, g: GRef) {
    cx.trace(EventKind::GoEnd, &[]);
    // SAFETY: the G is Running on this M.
    let exec = unsafe { g.exec() };
    exec.uncharge(cx);
    exec.reset();
    g.clear_delivered();
    g.cas_status(Status::Running, Status::Dead);
    cx.p().count_goroutines(-1);
    gfput(cx, g);
}

fn gfput(cx: &mut Ctx, g: GRef) {
    let l = cx.local();
    l.gfree.push(g);
    if l.gfree.len() > LOCAL_GFREE {
        let half: Vec<GRef> = l.gfree.drain(..LOCAL_GFREE / 2).collect();
        cx.rt.sched.gfree.lock().extend(half);
    }
}

/// A runtime error (or `os.exit`) ended `g`: the program ends with it (the
/// REPL prints a background goroutine's error and goes on).
fn fail(cx: &mut Ctx, g: GRef, mut e: RuntimeError) {
    let main = g.kind() == GKind::Main;
    if let Some(status) = e.exit {
        // `os.exit` from any goroutine ends the program (in the REPL, the
        // running entry and the session), printing nothing.
        end_g(cx, g);
        cx.rt.request_exit(status);
        finish_main(cx.rt, if main { Some(g) } else { None }, Err(e));
        return;
    }
    if !main {
        e.trace.push(format!("[goroutine {}]", g.id()));
    }
    end_g(cx, g);
    if cx.rt.sched.keep_running && !main {
        cx.rt.flush();
        match cx.rt.error_sink.lock().as_mut() {
            Some(w) => {
                let _ = writeln!(w, "{e}");
                let _ = w.flush();
            }
            None => eprintln!("{e}"),
        }
        return;
    }
    finish_main(cx.rt, if main { Some(g) } else { None }, Err(e));
}

// ---------------------------------------------------------------------------
// Run queues.

/// Puts `g` on this P's queue (`next`: into `runnext`); overflow goes to
/// the global queue.
pub(crate) fn runqput(cx: &mut Ctx, g: GRef, next: bool) {
    if cx.p().id == u32::MAX {
        // The outside P is never scheduled.
        globrunqput(cx.rt, g);
        return;
    }
    if let Err(batch) = cx.p().runq.put(g.0, next) {
        let s = &cx.rt.sched;
        let mut l = s.lock.lock();
        for p in batch {
            l.runq.push_back(GRef(p));
        }
        s.runq_len.store(l.runq.len(), Ordering::Release);
    }
}

/// Puts `g` on the global queue.
pub(crate) fn globrunqput(rt: &Runtime, g: GRef) {
    let s = &rt.sched;
    let mut l = s.lock.lock();
    l.runq.push_back(g);
    s.runq_len.store(l.runq.len(), Ordering::Release);
}

/// Puts a batch of Gs on the global queue with one lock acquisition
/// (`runqdrain`).
pub(crate) fn globrunqput_batch(rt: &Runtime, gs: impl Iterator<Item = GRef>) {
    let s = &rt.sched;
    let mut l = s.lock.lock();
    l.runq.extend(gs);
    s.runq_len.store(l.runq.len(), Ordering::Release);
}

/// Takes a batch from the global queue (at most `max` if non-zero): one
/// to run, the rest onto this P's ring.
fn globrunqget(cx: &mut Ctx, max: usize) -> Option<GRef> {
    let s = &cx.rt.sched;
    let mut l = s.lock.lock();
    globrunqget_locked(cx, &mut l, max)
}

fn globrunqget_locked(cx: &mut Ctx, l: &mut super::Locked, max: usize) -> Option<GRef> {
    let s = &cx.rt.sched;
    if l.runq.is_empty() {
        return None;
    }
    let mut n = (l.runq.len() / s.procs().max(1) + 1)
        .min(l.runq.len())
        .min(GLOBAL_BATCH);
    if max > 0 {
        n = n.min(max);
    }
    let g = l.runq.pop_front();
    for _ in 1..n {
        let Some(x) = l.runq.pop_front() else { break };
        if let Err(batch) = cx.p().runq.put(x.0, false) {
            for p in batch.into_iter().rev() {
                l.runq.push_front(GRef(p));
            }
            break;
        }
    }
    s.runq_len.store(l.runq.len(), Ordering::Release);
    g
}

/// Makes a parked `g` runnable on this P, in `runnext`.
pub fn ready(cx: &mut Ctx, g: GRef) {
    ready_here(cx, g);
    wakep(cx.rt);
}

/// [`ready`] without waking another P: for a waker that gives its P up
/// right after (the allocating goroutine that readies the collector's
/// coordinator and yields, as Go's runs `gcStart` itself). Waking a P
/// there only let another M steal the coordinator and stop the world
/// while the waker's M, just preempted by the wake-up it caused, had not
/// reached its yield: sweep-termination pauses of 200-300 µs.
pub fn ready_here(cx: &mut Ctx, g: GRef) {
    // The clock is read before the status changes (the same instant, to
    // the trace's resolution): reading it after the locked compare-and-swap
    // cost a channel hand-off 3% more of its traced time.
    let tracing = cx.rt.sched.tracing.load(Ordering::Relaxed);
    let tick = if tracing { cx.rt.sched.trace_tick() } else { 0 };
    g.cas_status(Status::Waiting, Status::Runnable);
    if tracing {
        cx.trace_at(
            tick,
            EventKind::GoUnpark,
            &[(Key::G, Arg::U(g.id())), (Key::NEXT, Arg::U(1))],
        );
        let l = cx.local();
        if l.op_budget != u32::MAX {
            l.trace.mark_latest(park_mark(l.chunk_seq, l.op_budget));
        }
    }
    runqput(cx, g, true);
}

/// Safepoints a park may lie past a marked `GoUnpark` and still share its
/// tick (`park_commit`): a loop's back edge and a call, so that a
/// goroutine that receives at the top of its loop body and sends at its
/// end (a `for v in ch` that echoes) shares too.
const PARK_SHARE_SAFEPOINTS: u32 = 2;

/// The mark of a point in chunk `chunk` with `budget` safepoints left:
/// the top bit keeps it non-zero (`trace::Buffer::mark_latest`).
fn park_mark(chunk: u32, budget: u32) -> u64 {
    1 << 63 | u64::from(chunk) << 32 | u64::from(budget)
}

/// The tick for the `GoPark` of the running G, which stopped with
/// `budget` of its chunk left: the tick of this P's latest event when that was a
/// `GoUnpark` the same chunk recorded at most [`PARK_SHARE_SAFEPOINTS`]
/// safepoints earlier (a goroutine that wakes its partner on a channel
/// and then waits for the reply), else a fresh reading. The rdtsc
/// instruction costs about 19 ns on the machine `bench/RESULTS.md`
/// measures on, a sixth of a traced channel round trip, and a
/// round trip read it four times.
///
/// Nothing is stamped before what caused it: events that the park causes
/// (its G woken by another P) are read from the clock after it; the G's
/// own earlier events are on this P, at or before the shared tick; and
/// nothing on another P happens to a running G. What is given up is
/// time, at most the straight-line code between the unpark and the park
/// and two safepoints: the G's run appears to end that much early.
fn park_tick(cx: &mut Ctx, budget: u32) -> u64 {
    let l = cx.local();
    if let Some((tick, mark)) = l.trace.latest_marked() {
        let now = park_mark(l.chunk_seq, budget);
        // The same chunk (the high halves), and few safepoints spent since
        // (the budget counts down).
        let spent = (mark as u32).checked_sub(budget);
        if mark >> 32 == now >> 32 && spent.is_some_and(|n| n <= PARK_SHARE_SAFEPOINTS) {
            return tick;
        }
    }
    cx.rt.sched.trace_tick()
}

// ---------------------------------------------------------------------------
// Ms and Ps.

fn pidleget(rt: &Runtime, l: &mut super::Locked) -> Option<u32> {
    let s = &rt.sched;
    if s.gcwaiting.load(Ordering::Acquire) {
        return None;
    }
    let id = l.pidle.pop()?;
    s.npidle.fetch_sub(1, Ordering::AcqRel);
    s.p(id).set_status(PStatus::Running);
    Some(id)
}

fn pidleput(rt: &Runtime, l: &mut super::Locked, p: &P) {
    // The write-barrier buffer belongs to the P this M gives up.
    crate::gc::mark::flush_for(rt, p);
    p.set_status(PStatus::Idle);
    l.pidle.push(p.id);
    rt.sched.npidle.fetch_add(1, Ordering::AcqRel);
}

/// An idle P for an M that has none (back from a system call), unless a
/// stop-the-world is pending.
pub(crate) fn acquire_idle_p(rt: &Runtime) -> Option<&P> {
    let s = &rt.sched;
    let pid = pidleget(rt, &mut s.lock.lock())?;
    Some(s.p(pid))
}

/// Hands off P `pid`, taken from an M in a system call (Go's `handoffp`):
/// to an M when there is work for it (its run queue, the global queue, a
/// timer), else to the idle list. Its status is `Running` (the claimer's)
/// on entry.
pub(crate) fn handoffp(rt: &Runtime, pid: u32) {
    let s = &rt.sched;
    let p = s.p(pid);
    let mut l = s.lock.lock();
    if s.gcwaiting.load(Ordering::Acquire) {
        // A stop-the-world is waiting for this P: stop it here.
        super::stw::p_stopped(s, &mut l, p);
        return;
    }
    let work = !p.runq.is_empty()
        || s.runq_len.load(Ordering::Acquire) > 0
        || p.next_timer.load(Ordering::Acquire) != u64::MAX;
    if work {
        drop(l);
        startm(rt, Some(pid), false);
    } else {
        p.set_status(PStatus::Idle);
        l.pidle.push(pid);
        s.npidle.fetch_add(1, Ordering::AcqRel);
    }
}

/// Starts a spinning M if a P is idle and nobody spins already.
pub fn wakep(rt: &Runtime) {
    let s = &rt.sched;
    if s.is_sim() || s.npidle.load(Ordering::Acquire) == 0 {
        return;
    }
    if s.nmspinning.load(Ordering::Acquire) != 0
        || s.nmspinning
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    startm(rt, None, true);
}

/// Puts an idle P to work on the collector's mark (Go's `enlistWorker`):
/// mark work became available to other Ps while one is idle. Unlike
/// [`wakep`], it does not wait for a spinning M to find the work: a
/// spinning M looks for goroutines and gives up before mark work appears,
/// so the idle P stayed idle while the mutator's P did the whole mark in
/// assists.
pub fn enlist_worker(rt: &Runtime) {
    let s = &rt.sched;
    if s.is_sim() || s.npidle.load(Ordering::Acquire) == 0 {
        return;
    }
    startm(rt, None, false);
}

/// Hands a P (`pid`, or an idle one) to an idle M, or to a new one.
pub(crate) fn startm(rt: &Runtime, pid: Option<u32>, spinning: bool) {
    let s = &rt.sched;
    let (pid, m) = {
        let mut l = s.lock.lock();
        let pid = match pid {
            Some(p) => p,
            None => match pidleget(rt, &mut l) {
                Some(p) => p,
                None => {
                    drop(l);
                    if spinning {
                        s.nmspinning.fetch_sub(1, Ordering::AcqRel);
                    }
                    return;
                }
            },
        };
        s.p(pid).set_status(PStatus::HandedOff);
        (pid, l.midle.pop())
    };
    match m {
        Some(m) => {
            let mut k = m.park.lock();
            k.nextp = Some(pid);
            k.spinning = spinning;
            m.cond.notify_one();
        }
        None => newm(rt, pid, spinning),
    }
}

fn newm(rt: &Runtime, pid: u32, spinning: bool) {
    let s = &rt.sched;
    let Some(arc) = s.self_ref.get().and_then(|w| w.upgrade()) else {
        return;
    };
    let mut ms = s.ms.lock();
    if s.shutdown_flag.load(Ordering::SeqCst) {
        return;
    }
    let m = Arc::new(M {
        // M0 is the thread that called `run_main`.
        id: ms.len() as u32 + 1,
        park: parking_lot::Mutex::new(super::MPark {
            nextp: Some(pid),
            spinning,
            exit: false,
        }),
        cond: parking_lot::Condvar::new(),
    });
    let m2 = m.clone();
    let arc2 = arc.clone();
    let h = std::thread::Builder::new()
        .name(format!("skein-m{}", m.id))
        .spawn(move || mstart(arc2, m2))
        .expect("cannot start an OS thread");
    ms.push((m, Some(h)));
    drop(ms);
    start_sysmon(rt);
}

/// Starts sysmon once (real mode).
fn start_sysmon(rt: &Runtime) {
    let s = &rt.sched;
    let Some(arc) = s.self_ref.get().and_then(|w| w.upgrade()) else {
        return;
    };
    let mut sm = s.sysmon.lock();
    if sm.is_none() && !s.shutdown_flag.load(Ordering::SeqCst) {
        *sm = Some(
            std::thread::Builder::new()
                .name("skein-sysmon".into())
                .spawn(move || sysmon(arc))
                .expect("cannot start an OS thread"),
        );
    }
}

/// When an M's thread is idle: if sysmon has asked since this thread last
/// looked (`seen`; it asks for a while after its scavenger gave pages
/// back), asks mimalloc to return this thread's free pages as well.
/// mimalloc keeps a list or table block freed by another thread (the
/// sweeper's) on the page of the thread that allocated it until that
/// thread next calls into it, and sysmon's own `mi_collect` reaches only
/// sysmon's pages: without this, the blocks of a freed burst stay
/// resident in an idle program.
fn collect_after_scavenge(rt: &Runtime, seen: &mut u64) {
    let now = rt.sched.scavenges.load(Ordering::Acquire);
    if now != *seen {
        *seen = now;
        // SAFETY: `mi_collect` has no preconditions.
        unsafe { libmimalloc_sys::mi_collect(true) };
    }
}

/// Wakes every idle M, so that each runs `collect_after_scavenge` (an
/// idle M sleeps until it is given a P, which in an idle program may be
/// never). Called by sysmon after the scavenger released pages.
fn wake_idle_ms_to_collect(rt: &Runtime) {
    let idle: Vec<Arc<M>> = rt.sched.lock.lock().midle.clone();
    for m in idle {
        let _k = m.park.lock();
        m.cond.notify_one();
    }
}

/// An M's thread.
fn mstart(rt: Arc<Runtime>, m: Arc<M>) {
    let _bound = crate::gc::bind_thread(&rt);
    let mut scavenges_seen = 0;
    loop {
        let (pid, spinning) = {
            let mut k = m.park.lock();
            loop {
                if k.exit {
                    return;
                }
                if let Some(p) = k.nextp.take() {
                    break (p, k.spinning);
                }
                // Woken without a P: sysmon's scavenger may have asked
                // (`wake_idle_ms_to_collect`); nothing waits on this.
                parking_lot::MutexGuard::unlocked(&mut k, || {
                    collect_after_scavenge(&rt, &mut scavenges_seen);
                });
                if k.exit || k.nextp.is_some() {
                    continue;
                }
                m.cond.wait(&mut k);
            }
        };
        if !rt
            .sched
            .p(pid)
            .cas_status(PStatus::HandedOff, PStatus::Running)
        {
            // A stop-the-world claimed the P while this thread woke up.
            // Had it run, it would have found nothing and looked for a
            // deadlock as it went idle; the check must not be lost (a
            // spinning count it held may have hidden one just now).
            if spinning {
                rt.sched.nmspinning.fetch_sub(1, Ordering::AcqRel);
            }
            rt.sched.lock.lock().midle.push(m.clone());
            check_deadlock(&rt);
            continue;
        }
        // SAFETY: the P was handed to this M (and claimed above).
        let mut cx = unsafe { Ctx::new(&rt, rt.sched.p(pid), None) };
        let mut ms = MState {
            spinning,
            m0: false,
        };
        cx.trace(EventKind::ProcStart, &[(Key::M, Arg::U(u64::from(m.id)))]);
        schedule(&mut cx, &mut ms);
        if ms.spinning {
            rt.sched.nmspinning.fetch_sub(1, Ordering::AcqRel);
        }
        // The P is given back (or stopped): wait on the idle list.
        rt.sched.lock.lock().midle.push(m.clone());
    }
}

/// Runs Gs on the P until it must be given back.
fn schedule(cx: &mut Ctx, ms: &mut MState) {
    let s = &cx.rt.sched;
    // This call has run a G, whose end (park, yield, preemption, exit) was
    // the latest event on this P.
    let mut after_g = false;
    loop {
        if s.exiting.load(Ordering::Acquire) {
            cx.trace(EventKind::ProcStop, &[(Key::REASON, Arg::S("exit"))]);
            let mut l = s.lock.lock();
            if s.gcwaiting.load(Ordering::Acquire) {
                drop(l);
                gcstopm(cx, ms);
            } else {
                pidleput(cx.rt, &mut l, cx.p());
            }
            return;
        }
        if s.gcwaiting.load(Ordering::Acquire) {
            gcstopm(cx, ms);
            return;
        }
        // The common case first: `find_runnable`'s first step, which
        // waits for nothing. `direct`: the G came from this P's own queue.
        let (found, direct) = match find_local_from(cx) {
            Some((g, inherit, own)) => (Found::G(g, inherit), own),
            None => (find_runnable(cx, ms, true), false),
        };
        match found {
            Found::G(g, inherit) => {
                // A direct hand-off right after a G this M ran: its start
                // shares the tick of that G's last event (`begin`). Only
                // for a G from this P's own queue: one readied elsewhere
                // (the global queue, a mark worker) may have been readied
                // after that tick, and must not appear to start before it.
                // Assigned before every start made while tracing, so no
                // earlier value outlives the start it was meant for
                // (tracing begins only with the world stopped, never
                // between here and `begin`).
                if s.tracing.load(Ordering::Relaxed) {
                    cx.local().trace_handoff = direct && after_g && !s.is_sim();
                }
                after_g = true;
                if ms.spinning {
                    ms.spinning = false;
                    if s.nmspinning.fetch_sub(1, Ordering::AcqRel) == 1 {
                        wakep(cx.rt);
                    }
                }
                if !execute(cx, g, inherit) {
                    // No P (sysmon retook it during a system call and
                    // none was free): the M goes idle as if it had given
                    // its P back.
                    return;
                }
                if ms.m0 && s.main_done() {
                    release_p(cx, ms);
                    return;
                }
            }
            Found::Retry => continue,
            Found::Released => return,
        }
    }
}

/// Stops this M's P for a pending stop-the-world.
fn gcstopm(cx: &mut Ctx, ms: &mut MState) {
    let s = &cx.rt.sched;
    cx.trace(EventKind::ProcStop, &[(Key::REASON, Arg::S("stw"))]);
    crate::gc::mark::flush_for(cx.rt, cx.p());
    if ms.spinning {
        ms.spinning = false;
        s.nmspinning.fetch_sub(1, Ordering::AcqRel);
    }
    super::stw::p_stopped(s, &mut s.lock.lock(), cx.p());
}

/// Looks for a runnable G in Go's order (see the module docs).
/// `local_tried`: the caller has just looked in the P's own queues
/// (`find_local`) and found nothing, so the first pass starts at stealing.
fn find_runnable(cx: &mut Ctx, ms: &mut MState, mut local_tried: bool) -> Found {
    let s = &cx.rt.sched;
    'top: loop {
        if s.gcwaiting.load(Ordering::Acquire) || s.exiting.load(Ordering::Acquire) {
            return Found::Retry;
        }
        if !std::mem::take(&mut local_tried) {
            if let Some((g, inherit)) = find_local(cx) {
                return Found::G(g, inherit);
            }
        }
        let procs = s.procs();
        let busy = procs.saturating_sub(s.npidle.load(Ordering::Acquire) as usize);
        if ms.spinning || 2 * (s.nmspinning.load(Ordering::Acquire) as usize) < busy {
            if !ms.spinning {
                ms.spinning = true;
                s.nmspinning.fetch_add(1, Ordering::AcqRel);
            }
            if let Some(g) = steal_work(cx) {
                return Found::G(g, false);
            }
        }
        // Nothing: give the P back.
        {
            let mut l = s.lock.lock();
            if s.gcwaiting.load(Ordering::Acquire) || s.exiting.load(Ordering::Acquire) {
                return Found::Retry;
            }
            if let Some(g) = globrunqget_locked(cx, &mut l, 0) {
                return Found::G(g, false);
            }
            drop(l);
            // Nothing else to run: help the collector (an idle worker).
            if let Some(g) = crate::gc::worker::find_idle_worker(cx) {
                return Found::G(g, false);
            }
            l = s.lock.lock();
            if s.gcwaiting.load(Ordering::Acquire) || s.exiting.load(Ordering::Acquire) {
                return Found::Retry;
            }
            if let Some(g) = globrunqget_locked(cx, &mut l, 0) {
                return Found::G(g, false);
            }
            cx.trace(EventKind::ProcStop, &[(Key::REASON, Arg::S("idle"))]);
            pidleput(cx.rt, &mut l, cx.p());
        }
        let was_spinning = ms.spinning;
        if was_spinning {
            ms.spinning = false;
            s.nmspinning.fetch_sub(1, Ordering::AcqRel);
        }
        // A G readied or queued between our checks and the release must
        // not be stranded: look once more, and take a P back if so.
        let work = s.runq_len.load(Ordering::Acquire) > 0
            || (0..procs).any(|i| !s.p(i as u32).runq.is_empty())
            || timer::earliest(s) <= s.now();
        if work {
            let mut l = s.lock.lock();
            if let Some(pid) = pidleget(cx.rt, &mut l) {
                drop(l);
                // SAFETY: `pidleget` gave this M the P.
                unsafe { cx.set_p(s.p(pid)) };
                cx.trace(EventKind::ProcStart, &[]);
                if was_spinning {
                    ms.spinning = true;
                    s.nmspinning.fetch_add(1, Ordering::AcqRel);
                }
                continue 'top;
            }
        }
        check_deadlock(cx.rt);
        return Found::Released;
    }
}

/// Steps 1-4 of `find_runnable`: timers, fairness, local, global.
fn find_local(cx: &mut Ctx) -> Option<(GRef, bool)> {
    find_local_from(cx).map(|(g, inherit, _)| (g, inherit))
}

/// [`find_local`], and whether the G came from this P's own run queue
/// (where only this P's owners put Gs, so every event that made it
/// runnable is already in this P's trace stream).
fn find_local_from(cx: &mut Ctx) -> Option<(GRef, bool, bool)> {
    let s = &cx.rt.sched;
    timer::run_expired_now(cx, cx.p());
    if cx.rt.gc.marking() {
        if let Some(g) = crate::gc::worker::find_worker(cx) {
            return Some((g, false, false));
        }
    }
    let tick = cx.p().schedtick.load(Ordering::Relaxed);
    if tick.is_multiple_of(FAIRNESS_TICK) && s.runq_len.load(Ordering::Acquire) > 0 {
        if let Some(g) = globrunqget(cx, 1) {
            return Some((g, false, false));
        }
    }
    if let Some((g, inherit)) = cx.p().runq.get() {
        return Some((GRef(g), inherit, true));
    }
    if s.runq_len.load(Ordering::Acquire) > 0 {
        if let Some(g) = globrunqget(cx, 0) {
            return Some((g, false, false));
        }
    }
    None
}

/// Step 5: four passes over the other Ps in random order.
fn steal_work(cx: &mut Ctx) -> Option<GRef> {
    let s = &cx.rt.sched;
    let procs = s.procs() as u64;
    const PASSES: usize = 4;
    for pass in 0..PASSES {
        let start = cx.fastrand() % procs;
        for k in 0..procs {
            let v = ((start + k) % procs) as u32;
            if v == cx.p().id {
                continue;
            }
            if s.gcwaiting.load(Ordering::Acquire) {
                return None;
            }
            let victim = s.p(v);
            if timer::run_expired_now(cx, victim) > 0 {
                if let Some((g, _)) = cx.p().runq.get() {
                    return Some(GRef(g));
                }
            }
            let mut last = pass == PASSES - 1;
            if last && !s.is_sim() && victim.status() == PStatus::Running && victim.runq.len() == 1
            {
                if let Some(next) = victim.runq.peek_runnext() {
                    // Go's `runqgrab`: the victim is running and holds only
                    // the goroutine it readied last, which it will most
                    // likely run itself in a moment (it is about to park,
                    // as after a channel hand-off). Give it that moment
                    // before taking the goroutine to another thread, which
                    // would cost a wake-up and the goroutine's warm cache;
                    // if `runnext` changed meanwhile, the victim ran it and
                    // readied another: leave that one too.
                    std::thread::sleep(RUNNEXT_GRACE);
                    last = victim.runq.peek_runnext() == Some(next);
                }
            }
            if let Some(g) = cx.p().runq.steal_into(&victim.runq, last) {
                return Some(GRef(g));
            }
        }
    }
    None
}

/// Reports a deadlock when every P is idle, nothing is queued, no timer is
/// pending, and the main goroutine is still blocked.
fn check_deadlock(rt: &Runtime) {
    let s = &rt.sched;
    if s.npidle.load(Ordering::Acquire) as usize != s.procs()
        || s.nsyscall.load(Ordering::Acquire) != 0
        || s.nmspinning.load(Ordering::Acquire) != 0
        || s.runq_len.load(Ordering::Acquire) != 0
        || timer::earliest(s) != u64::MAX
        || (rt.gc.marking() && rt.gc.work_available())
    {
        return;
    }
    let l = s.lock.lock();
    if l.pidle.len() != s.procs() || !l.runq.is_empty() || s.gcwaiting.load(Ordering::Acquire) {
        return;
    }
    if (0..s.procs()).any(|i| !s.p(i as u32).runq.is_empty()) {
        return;
    }
    drop(l);
    report_deadlock(rt);
}

/// `n` with commas between groups of three digits (`99,999`).
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Ends the run with `all goroutines are asleep - deadlock!` and the
/// traces of the blocked goroutines: main first, then one per place where
/// goroutines are blocked, with how many more are blocked there.
pub(crate) fn report_deadlock(rt: &Runtime) {
    let s = &rt.sched;
    let main = {
        let m = s.main.lock();
        if m.result.is_some() {
            return;
        }
        match m.g {
            Some(g) => g,
            None => return,
        }
    };
    if main.status() != Status::Waiting {
        return;
    }
    let mut gs: Vec<GRef> = s
        .allgs
        .lock()
        .iter()
        .copied()
        .filter(|g| {
            g.status() == Status::Waiting
                && !g.killed.load(Ordering::Acquire)
                && !g.kind().is_system()
        })
        .collect();
    gs.sort_by_key(|g| (g.kind() != GKind::Main, g.id()));
    // Goroutines blocked at the same place (the same frames at the same
    // instructions) are reported once, under the first of them, with a
    // count of the rest: a million parked workers make a report of a few
    // lines, not tens of megabytes. Main is always reported on its own.
    let mut groups: Vec<(GRef, usize)> = Vec::new();
    let mut index: std::collections::HashMap<Vec<(usize, usize)>, usize> =
        std::collections::HashMap::new();
    for g in gs {
        // SAFETY: every G is parked and nothing can wake it: nobody else
        // touches its stack.
        let key = unsafe { g.exec() }.position();
        if g.kind() == GKind::Main {
            groups.push((g, 1));
            continue;
        }
        match index.get(&key) {
            Some(&i) => groups[i].1 += 1,
            None => {
                index.insert(key, groups.len());
                groups.push((g, 1));
            }
        }
    }
    let mut trace = Vec::new();
    for (g, n) in groups {
        // SAFETY: as above.
        trace.extend(unsafe { g.exec() }.trace());
        trace.push(format!("[goroutine {}]", g.id()));
        if n > 1 {
            let noun = if n == 2 { "goroutine" } else { "goroutines" };
            trace.push(format!(
                "... and {} more {noun} blocked at the same place",
                thousands(n - 1)
            ));
        }
    }
    finish_main(
        rt,
        Some(main),
        Err(RuntimeError::new(
            "fatal error: all goroutines are asleep - deadlock!".into(),
            trace,
        )),
    );
}

// ---------------------------------------------------------------------------
// Running a G.

/// What `after_run` decided.
pub(crate) enum Next {
    /// Keep running the G.
    Continue,
    /// The G left the M (parked, queued, finished or failed).
    Left,
    /// The G left the M for the global queue after a system call, and the
    /// M holds no P any more.
    LostP,
}

/// Runs `g` until it leaves the M. False when the M lost its P on the
/// way (the G came back from a system call and found no P free).
fn execute(cx: &mut Ctx, g: GRef, inherit: bool) -> bool {
    let mut next = begin(cx, g, inherit);
    while let Next::Continue = next {
        let out = run_chunk(cx, g, CHUNK);
        next = after_run(cx, g, out);
    }
    cx.g = None;
    !matches!(next, Next::LostP)
}

/// Runs one chunk of `g`: bytecode, or a system G's state machine.
pub(crate) fn run_chunk(cx: &mut Ctx, g: GRef, budget: u32) -> Outcome {
    let l = cx.local();
    l.chunk_seq = l.chunk_seq.wrapping_add(1);
    if g.kind().is_system() {
        crate::gc::run_system(cx, g, budget)
    } else {
        // SAFETY: the G is Running on this M.
        interp::run(cx, unsafe { g.exec() }, budget)
    }
}

/// Starts a time slice of `g` on this P: makes a new goroutine's first
/// call, or finishes what a parked one waited for.
pub(crate) fn begin(cx: &mut Ctx, g: GRef, inherit: bool) -> Next {
    g.cas_status(Status::Runnable, Status::Running);
    if !inherit {
        // Only the P's holder writes its tick (sysmon only reads it), so
        // a load and a store do: no locked instruction per start.
        let tick = &cx.p().schedtick;
        tick.store(tick.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
    cx.g = Some(g);
    if cx.rt.sched.tracing.load(Ordering::Relaxed) {
        // A direct hand-off (`schedule`) is one instant, at the tick of
        // the previous G's last event. Reading the clock again would cost
        // a third of what tracing adds to a channel hand-off, to measure
        // the scheduler's own few dozen nanoseconds.
        if cx.local().trace_handoff {
            let rt = cx.rt;
            cx.local()
                .trace
                .push_again(&rt.sched.trace_sink, Some(g.id()), EventKind::GoStart);
        } else {
            let tick = cx.rt.sched.trace_tick();
            cx.trace_at(tick, EventKind::GoStart, &[]);
        }
    }
    if g.kind().is_system() {
        return Next::Continue;
    }
    // SAFETY: the G is Running on this M.
    let exec = unsafe { g.exec() };
    // A plain load first: the swap is a locked instruction, and this runs
    // at every start, where the flag is almost never set.
    if g.killed.load(Ordering::Acquire) && g.killed.swap(false, Ordering::AcqRel) {
        // Abandoned while parked: leave no wait-list entry behind, and end.
        exec.abandon(g);
        goexit(cx, g);
        return Next::Left;
    }
    if let Some(argc) = exec.pending_call.take() {
        match interp::start_call(cx, exec, argc) {
            Ok(()) => {}
            Err(Flow::Error(msg)) => {
                let e = interp::error_at(exec, msg);
                fail(cx, g, e);
                return Next::Left;
            }
            Err(Flow::Park(pk)) => {
                park_commit(cx, g, pk);
                return Next::Left;
            }
            Err(Flow::Exit(status)) => {
                fail(cx, g, RuntimeError::exit(status));
                return Next::Left;
            }
            Err(Flow::Gosched) => {}
            Err(Flow::Syscall(sc)) => return syscall(cx, g, sc),
            Err(Flow::TailCall(..)) => unreachable!("call_value makes a native's tail call"),
        }
    } else if let Err(msg) = exec.resume(cx, g) {
        let e = interp::error_at(exec, msg);
        fail(cx, g, e);
        return Next::Left;
    }
    if exec.frames.is_empty() {
        // A goroutine whose call completed at once (a native, a class
        // without `init`), or that resumed from such a call.
        goexit(cx, g);
        return Next::Left;
    }
    Next::Continue
}

/// `find_runnable` for the deterministic driver: the same order, without
/// spinning or giving the P back.
pub(crate) fn find_sim(cx: &mut Ctx) -> Option<(GRef, bool)> {
    if let Some(found) = find_local(cx) {
        return Some(found);
    }
    steal_work(cx)
        .or_else(|| crate::gc::worker::find_idle_worker(cx))
        .map(|g| (g, false))
}

/// Decides what happens after the interpreter returned `out` for `g`.
pub(crate) fn after_run(cx: &mut Ctx, g: GRef, out: Outcome) -> Next {
    let s = &cx.rt.sched;
    let system = g.kind().is_system();
    if !system && cx.rt.gc.marking() {
        crate::gc::at_chunk_boundary(cx, g);
    }
    match out {
        Outcome::Yield => {
            if s.exiting.load(Ordering::Acquire) {
                g.cas_status(Status::Running, Status::Runnable);
                return Next::Left;
            }
            if system && cx.p().nopreempt.load(Ordering::Acquire) > 0 {
                // A mark worker draining P-local buffers: it checks the
                // preempt flag and stop-the-world requests itself.
                return Next::Continue;
            }
            // A plain load first: the swap is a write to a shared line,
            // and this check runs at every chunk boundary.
            if g.kind() == GKind::Main
                && cx.rt.interrupt.load(Ordering::Relaxed)
                && cx.rt.interrupt.swap(false, Ordering::Relaxed)
            {
                // SAFETY: the G is Running on this M.
                let e = interp::error_at(unsafe { g.exec() }, "Interrupted.".into());
                fail(cx, g, e);
                return Next::Left;
            }
            let sliced = s.is_sim()
                && s.now().saturating_sub(cx.local().slice_start) >= super::sim::SLICE_TICKS;
            // The preempt flag is read before it is cleared, as the
            // interrupt above: a locked swap at every chunk boundary
            // waits for the stores before it (a fresh object's, after an
            // allocation), which cost binary_trees 3% of its time.
            let preempt = &cx.p().preempt;
            if s.gcwaiting.load(Ordering::Acquire)
                || (preempt.load(Ordering::Relaxed) && preempt.swap(false, Ordering::AcqRel))
                || cx.p().status() == PStatus::Dead
                || sliced
            {
                cx.trace(EventKind::GoPreempt, &[]);
                g.cas_status(Status::Running, Status::Runnable);
                globrunqput(cx.rt, g);
                return Next::Left;
            }
            Next::Continue
        }
        Outcome::Park(pk) => {
            park_commit(cx, g, pk);
            Next::Left
        }
        Outcome::Syscall(sc) => syscall(cx, g, sc),
        Outcome::Gosched => {
            cx.trace(EventKind::GoSched, &[]);
            g.cas_status(Status::Running, Status::Runnable);
            if std::mem::take(&mut cx.local().yield_to_next) {
                // Yielding to the coordinator in `runnext`: on the global
                // queue, the scheduler's fairness check (every 61st
                // schedule takes the global queue first) could pick this G
                // straight back and leave the coordinator waiting until
                // another P stole it (7.4 ms in a binary_trees trace, the
                // heap 8 MB past its goal by then). The tail of this P's
                // own queue runs after `runnext`, and other Ps can steal
                // it from there.
                runqput(cx, g, false);
            } else {
                globrunqput(cx.rt, g);
            }
            Next::Left
        }
        Outcome::Done(_) => {
            goexit(cx, g);
            Next::Left
        }
        Outcome::Error(e) => {
            fail(cx, g, e);
            Next::Left
        }
    }
}

/// Runs a system call for the running `g` (`sched::syscall`), then the
/// G's resumption when it kept (or found) a P.
fn syscall(cx: &mut Ctx, g: GRef, sc: super::syscall::Syscall) -> Next {
    match super::syscall::run(cx, g, sc) {
        super::syscall::After::Continue => {
            // SAFETY: the G is Running on this M.
            let exec = unsafe { g.exec() };
            if let Err(msg) = exec.resume(cx, g) {
                let e = interp::error_at(exec, msg);
                fail(cx, g, e);
                return Next::Left;
            }
            Next::Continue
        }
        super::syscall::After::LostP => Next::LostP,
    }
}

/// The second half of a park: the G is `Waiting`, then its lock is
/// released (by the step its owner supplied, `park::Unlock`).
fn park_commit(cx: &mut Ctx, g: GRef, pk: Park) {
    g.set_wait_reason(pk.reason);
    // SAFETY: the G is still Running on this M.
    let exec = unsafe { g.exec() };
    exec.resume = pk.resume;
    if cx.rt.sched.tracing.load(Ordering::Relaxed) {
        let tick = park_tick(cx, exec.budget_left);
        cx.trace_at(
            tick,
            EventKind::GoPark,
            &[(Key::REASON, Arg::S(pk.reason.name()))],
        );
    }
    g.cas_status(Status::Running, Status::Waiting);
    // From here on another M may run `g`: only the lock is touched.
    // SAFETY: this M parked `g` just now; the unlock step runs once.
    unsafe { pk.unlock.run(cx, g) };
}

// ---------------------------------------------------------------------------
// Timers and sysmon.

/// A timer was added for `when`: make sure sysmon wakes up for it.
pub fn timer_added(rt: &Runtime, when: u64) {
    let s = &rt.sched;
    if s.is_sim() {
        return;
    }
    if when < s.sysmon_next.load(Ordering::Acquire) {
        let _l = s.sysmon_lock.lock();
        s.sysmon_cond.notify_all();
    }
}

/// How long after the scavenger last released pages sysmon keeps asking
/// the Ms and mimalloc to collect, at every scavenger period: a burst's
/// blocks are freed by sweepers over the first cycles after it ends, while
/// the scavenger works through its pages (at most 64 MiB a pass), and an
/// M busy at one pass collects only when it next goes idle;
/// two seconds covers that with room, and costs an idle M a wake-up every
/// period meanwhile.
const MI_PURGE_WINDOW_NS: u64 = 2_000_000_000;

/// How often sysmon runs the heap's scavenger: often enough that freed
/// memory returns within a fraction of a second of its release age, rarely
/// enough that walking the free runs costs nothing measurable.
const SCAVENGE_PERIOD_NS: u64 = 100_000_000;

/// Sysmon: preempts long-running Gs, wakes an idle P for due timers, and
/// runs the heap's scavenger.
fn sysmon(rt: Arc<Runtime>) {
    let s = &rt.sched;
    // Per P: the last schedtick seen and when it was first seen.
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let mut scavenged_at = 0;
    let mut collect_until = 0;
    while !s.shutdown_flag.load(Ordering::Acquire) {
        let now = s.now();
        let next_timer = timer::earliest(s);
        // Sleep a short period while Gs run, a long one when all is idle;
        // never past a timer that is still to come. A timer already due is one the last
        // `wakep` found no idle P for: a P runs it when it next schedules
        // (or its idle mark worker stops for it), so sysmon keeps its
        // period rather than spinning on it, which took a whole CPU from
        // the Ms on a 2-core machine and stretched stop-the-world pauses
        // to milliseconds.
        let idle = s.npidle.load(Ordering::Acquire) as usize == s.procs();
        let mut delay: u64 = if idle { SYSMON_IDLE_NS } else { SYSMON_BUSY_NS };
        if next_timer != u64::MAX && next_timer > now {
            delay = delay.min(next_timer - now);
        }
        s.sysmon_next.store(now + delay, Ordering::Release);
        if delay > 0 {
            let mut l = s.sysmon_lock.lock();
            if s.shutdown_flag.load(Ordering::Acquire) {
                return;
            }
            // A P in a system call is checked again soon enough to retake
            // it on time. Looked at under the lock: an M entering a call
            // after this look notifies under the same lock.
            if (0..s.procs()).any(|i| s.p(i as u32).status() == PStatus::Syscall) {
                delay = delay.min(super::syscall::RETAKE_NS);
                s.sysmon_next.store(now + delay, Ordering::Release);
            }
            s.sysmon_cond
                .wait_for(&mut l, std::time::Duration::from_nanos(delay));
        }
        let now = s.now();
        super::syscall::retake(&rt, now);
        if now.saturating_sub(scavenged_at) >= SCAVENGE_PERIOD_NS {
            // Give pages that stayed free long enough back to the system.
            // When there were some, a burst has ended: for
            // `MI_PURGE_WINDOW_NS`, at every period, the Ms hand their
            // mimalloc pages back (`collect_after_scavenge`; idle ones are
            // woken for it, busy ones do it when they next go idle) and
            // sysmon asks mimalloc (which holds the list and table
            // blocks) to return its free memory: mimalloc gives a page
            // back when the thread that owns it calls in and finds it
            // free, which an idle program's threads never do.
            if rt.heap.mheap.scavenge() > 0 {
                collect_until = now + MI_PURGE_WINDOW_NS;
            }
            if now < collect_until {
                s.scavenges.fetch_add(1, Ordering::Release);
                wake_idle_ms_to_collect(&rt);
                // SAFETY: `mi_collect` has no preconditions.
                unsafe { libmimalloc_sys::mi_collect(true) };
            }
            scavenged_at = now;
        }
        let procs = s.procs();
        seen.resize(procs.max(seen.len()), (0, now));
        for (i, entry) in seen.iter_mut().enumerate().take(procs) {
            let p = s.p(i as u32);
            if p.status() != PStatus::Running {
                *entry = (p.schedtick.load(Ordering::Relaxed), now);
                continue;
            }
            let tick = p.schedtick.load(Ordering::Relaxed);
            if tick != entry.0 {
                *entry = (tick, now);
            } else if now.saturating_sub(entry.1) >= SLICE_NS {
                p.preempt.store(true, Ordering::Release);
                *entry = (tick, now);
            }
        }
        if timer::earliest(s) <= now {
            wakep(&rt);
        }
    }
}
