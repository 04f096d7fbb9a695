//! The garbage collector: Go's concurrent tri-color mark-sweep.
//!
//! Phases run `Off -> Mark -> Off`; sweeping runs lazily and concurrently
//! while the phase is `Off`. Tri-color: an object whose mark bit (in its
//! span's mark bitmap, `heap::span`) is clear is white; one whose bit is
//! set is grey (queued in a work buffer) or black (scanned). The sweep
//! clears every span's mark bitmap, so every object is white when the
//! next cycle starts.
//!
//! One cycle, step by step (the coordinator G drives it, `coord`):
//! 1. **Trigger.** An allocation flush finds the paced heap past the
//!    pacer's trigger (`pacer`) and raises a request, which the next
//!    allocation safepoint ([`safepoint`]) hands to the coordinator; or
//!    `runtime.gc()` asks for a cycle. Either readies the coordinator
//!    (created on first use). Until the mark begins, a goroutine that
//!    allocates past the goal parks (`gc_start`, `coord::wait_mark_start`).
//! 2. **gcStart.** The coordinator finishes sweeping, takes `gcsema`,
//!    starts any missing background mark worker one at a time through a
//!    channel hand-off (`worker::start_one`), takes `worldsema` and
//!    stops the world (`sweep_termination`): retired storage is freed, the
//!    phase becomes `Mark`, the write barrier turns on,
//!    root jobs are prepared (globals, timers, every G's stack), and the
//!    worker budgets for the 25% goal are set. It starts the world,
//!    releases `worldsema` only, readies the goroutines waiting for the
//!    mark, and parks (`gc_mark_wait`) on its wake
//!    record.
//! 3. **Mark.** Background workers (`worker`), mark assists (`pacer`) and
//!    the write barrier (below) shade objects grey into per-P work buffers
//!    and a global list; scanning an object blackens it (`mark`). Stacks
//!    are scanned once per G per cycle, never while the G runs: a worker
//!    holds the G's scan bit, or a running G scans itself at its next
//!    chunk boundary. Objects allocated during `Mark` are black, and their
//!    initial contents are shaded.
//! 4. **Completion.** The first worker or assist that finds no work left
//!    anywhere readies the coordinator (`coord::mark_done`, `GCMarkDone`).
//! 5. **Mark termination.** A ragged barrier makes every P flush its
//!    write-barrier buffer (each held P acknowledges at its next chunk
//!    boundary, allocation safepoint or assist step; an idle one has
//!    flushed already); if that found work, marking resumes. Otherwise
//!    the coordinator takes `worldsema`, stops the world
//!    (`mark_termination`), re-checks that nothing grey raced in (else back
//!    to marking), optionally verifies the mark (`checkmark`), turns the
//!    barrier off, sets the phase to `Off`, hands the heap to
//!    the sweeper, sets the next goal and trigger, starts the world and
//!    releases `worldsema`, then `gcsema`. Handing the heap to the sweeper
//!    is O(P): the sweep generation grows by 2 and every mcache gives its
//!    spans back to the central lists.
//! 6. **Sweep** (`sweep`): concurrently and lazily, by allocating Ps
//!    (proportionally to their allocation) and by a background sweeper G.
//!
//! The write barrier (hybrid, as Go 1.8+): while this VM marks, `Slot::set`
//! shades both the old and the new value. The same applies to values that
//! leave the heap without a slot write (a list `pop`, a map `remove`, a
//! channel buffer) and to values handed from one G to another. Shaded
//! objects go into a per-thread buffer (the thread's M holds one P at a
//! time) that is flushed to the global list at every chunk boundary, when
//! the M gives its P up, and by the ragged barrier.
//!
//! Invariants (see also `ARCHITECTURE.md`):
//! - while the phase is `Mark`, every heap pointer store shades old and new;
//! - each G stack is scanned at most once per cycle (`G::scan_cycle` is won
//!   by one CAS), never while the G runs;
//! - objects allocated during `Mark` are black and their children grey, so
//!   no black object points to a white one at mark termination (checkmark
//!   verifies it);
//! - sweeping of cycle N ends before cycle N+1 starts marking.

pub mod checkmark;
pub mod coord;
pub mod mark;
pub mod pacer;
pub mod sweep;
pub mod worker;

use std::cell::RefCell;
use std::sync::atomic::{
    AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

use parking_lot::Mutex;

use crate::object::Header;
use crate::sched::GRef;
use crate::value::Value;
use crate::{Ctx, Runtime};

pub use sweep::drop_object;

/// The collector's phase.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No cycle is marking (sweeping may be under way).
    Off = 0,
    /// Concurrent mark: the write barrier is on.
    Mark = 1,
}

/// Pointers per work buffer: the unit a worker drains between checks of its
/// preempt flag ("buffer boundaries"), and the unit moved between a P's
/// local buffer and the global list. 256 objects is tens of microseconds
/// of scanning: short enough for prompt preemption, long enough that the
/// global list's lock is rare.
pub const WORK_BUF: usize = 256;

/// Room for buffers the global work list keeps when it drains. Marking a
/// list of millions of elements queues a buffer for every 256 of them
/// (24 bytes of list room each, 0.25 MB for 10,000), which an empty list
/// would otherwise hold for the rest of the run; 256 buffers is room a
/// mark of ordinary size keeps using.
const KEEP_WORK_BUFS: usize = 256;

/// The collector's shared state (one per VM).
pub struct GcState {
    phase: AtomicU8,
    /// Cycles started (the `n` of the cycle in progress, or of the last).
    pub(crate) cycle: AtomicU32,
    /// Cycles finished (mark termination done).
    pub(crate) completed: AtomicU32,
    /// `SKEINDEBUG=gcstoptheworld=1`.
    pub(crate) stw_mode: bool,
    /// `SKEINDEBUG=gccheckmark=1`.
    pub(crate) checkmark: bool,
    /// Green Tea marking (`SKEINDEBUG=greenteagc=1`): small-object spans
    /// are queued and scanned whole instead of single objects (`mark`).
    pub(crate) greentea: bool,
    /// Full work buffers (grey objects), shared by every P.
    pub(crate) work: Mutex<Vec<Vec<*mut Header>>>,
    /// Buffers in `work` (read without the lock by "is there work?").
    pub(crate) work_bufs: AtomicUsize,
    /// Root jobs of this cycle (see `mark::Roots`).
    pub(crate) roots: mark::Roots,
    /// Gs whose stacks could not be scanned because they were running;
    /// each scans itself at its next chunk boundary, or a worker retries.
    pub(crate) deferred: Mutex<Vec<GRef>>,
    pub(crate) deferred_len: AtomicUsize,
    /// Workers and assists currently draining (Go's `nproc - nwait`).
    pub(crate) active: AtomicI32,
    /// Bytes of objects shaded this cycle.
    pub(crate) marked_bytes: AtomicU64,
    /// Scan work done this cycle, by every drainer (workers, assists, mark
    /// termination), in the units `mark::drain` counts: the pacer expects
    /// the next cycle to need as much.
    pub(crate) scan_work: AtomicU64,
    /// Scan work done by background workers and not yet claimed by an
    /// assist (Go's `bgScanCredit`).
    pub(crate) bg_credit: AtomicI64,
    /// The worker pool and the modes' budgets.
    pub(crate) workers: worker::Pool,
    /// The coordinator and its wake record.
    pub(crate) coord: coord::Coord,
    /// Gs parked in a mark assist (readied when credit appears or at mark
    /// termination).
    pub(crate) assistq: crate::sched::sema::WaitList,
    /// Ragged barrier generation: each P acknowledges it by flushing.
    pub(crate) flush_epoch: AtomicU64,
    /// The background sweeper and the sweep's progress.
    pub(crate) sweeper: sweep::Sweeper,
    /// Pacing state.
    pub(crate) pacer: pacer::Pacer,
}

// SAFETY: the raw object pointers in the work lists are only dereferenced
// by markers while the objects are live (they are marked, so the sweeper
// keeps them); everything else is atomics or locks.
unsafe impl Send for GcState {}
// SAFETY: as above.
unsafe impl Sync for GcState {}

impl GcState {
    /// The collector's state before any cycle; `pacer` holds the knobs
    /// (GOGC, `--max-heap`, `gcstress`, `gctrace`).
    pub fn new(stw_mode: bool, checkmark: bool, greentea: bool, pacer: pacer::Pacer) -> GcState {
        pacer.set_goal(0, stw_mode);
        GcState {
            phase: AtomicU8::new(Phase::Off as u8),
            cycle: AtomicU32::new(0),
            completed: AtomicU32::new(0),
            stw_mode,
            checkmark,
            greentea,
            work: Mutex::new(Vec::new()),
            work_bufs: AtomicUsize::new(0),
            roots: mark::Roots::default(),
            deferred: Mutex::new(Vec::new()),
            deferred_len: AtomicUsize::new(0),
            active: AtomicI32::new(0),
            marked_bytes: AtomicU64::new(0),
            scan_work: AtomicU64::new(0),
            bg_credit: AtomicI64::new(0),
            workers: worker::Pool::default(),
            coord: coord::Coord::default(),
            assistq: Default::default(),
            flush_epoch: AtomicU64::new(0),
            sweeper: sweep::Sweeper::default(),
            pacer,
        }
    }

    /// The current phase.
    #[inline(always)]
    pub fn phase(&self) -> Phase {
        if self.phase.load(Ordering::Acquire) == Phase::Mark as u8 {
            Phase::Mark
        } else {
            Phase::Off
        }
    }

    /// True while this VM marks.
    #[inline(always)]
    pub fn marking(&self) -> bool {
        self.phase() == Phase::Mark
    }

    /// Sets the phase, and with it the write barrier and the heap's
    /// assist accounting (world stopped).
    pub(crate) fn set_phase(&self, p: Phase) {
        let old = self.phase.swap(p as u8, Ordering::AcqRel);
        match (old == Phase::Mark as u8, p == Phase::Mark) {
            (false, true) => {
                MARKING_VMS.fetch_add(1, Ordering::SeqCst);
            }
            (true, false) => {
                MARKING_VMS.fetch_sub(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }

    /// Adds a full buffer of grey objects to the global list.
    pub(crate) fn put_work(&self, buf: Vec<*mut Header>) {
        if buf.is_empty() {
            return;
        }
        let mut w = self.work.lock();
        w.push(buf);
        self.work_bufs.store(w.len(), Ordering::Release);
    }

    /// Takes a buffer from the global list.
    pub(crate) fn get_work(&self) -> Option<Vec<*mut Header>> {
        if self.work_bufs.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut w = self.work.lock();
        let b = w.pop();
        self.work_bufs.store(w.len(), Ordering::Release);
        if w.is_empty() && w.capacity() > KEEP_WORK_BUFS {
            // A large heap's mark queued thousands of buffers at once:
            // give the list's room back when it drains (see the constant).
            *w = Vec::new();
        }
        b
    }

    /// Is there mark work any P could pick up (the global list, root jobs
    /// not yet claimed, stacks waiting for a scan)? Work in P-local
    /// buffers and write-barrier buffers is found by the ragged barrier.
    pub(crate) fn work_available(&self) -> bool {
        self.work_bufs.load(Ordering::Acquire) > 0
            || self.roots.pending()
            || self.deferred_len.load(Ordering::Acquire) > 0
    }
}

/// How many VMs in this process are marking: the write barrier's fast
/// check (one relaxed load) before it looks at the thread's own VM.
static MARKING_VMS: AtomicUsize = AtomicUsize::new(0);

/// True while some VM in the process marks (the barrier's fast check).
#[inline(always)]
pub fn barrier_enabled() -> bool {
    MARKING_VMS.load(Ordering::Relaxed) != 0
}

// ---------------------------------------------------------------------------
// The per-thread write-barrier buffer.

/// A thread's barrier state: the VM it works for and the objects it shaded.
struct WbTls {
    rt: *const Runtime,
    buf: Vec<*mut Header>,
    bytes: u64,
}

thread_local! {
    static WB: RefCell<WbTls> = const {
        RefCell::new(WbTls {
            rt: std::ptr::null(),
            buf: Vec::new(),
            bytes: 0,
        })
    };
}

/// Binds the calling thread to `rt` for the barrier until the guard drops
/// (which flushes the buffer and restores the previous binding).
pub struct Bound {
    prev: *const Runtime,
}

/// Binds this thread's write barrier to `rt` (see [`Bound`]).
pub fn bind_thread(rt: &Runtime) -> Bound {
    let prev = WB.with(|w| {
        let mut w = w.borrow_mut();
        flush_tls(&mut w);
        std::mem::replace(&mut w.rt, rt as *const Runtime)
    });
    Bound { prev }
}

impl Drop for Bound {
    fn drop(&mut self) {
        WB.with(|w| {
            let mut w = w.borrow_mut();
            flush_tls(&mut w);
            w.rt = self.prev;
        });
    }
}

fn flush_tls(w: &mut WbTls) {
    if w.rt.is_null() || (w.buf.is_empty() && w.bytes == 0) {
        w.buf.clear();
        w.bytes = 0;
        return;
    }
    // SAFETY: a bound runtime outlives the binding (the binder holds it).
    let rt = unsafe { &*w.rt };
    rt.gc.marked_bytes.fetch_add(w.bytes, Ordering::Relaxed);
    w.bytes = 0;
    let buf = std::mem::replace(&mut w.buf, Vec::with_capacity(WORK_BUF));
    rt.gc.put_work(buf);
}

/// Flushes this thread's barrier buffer to the global list (chunk
/// boundaries, giving a P up, the ragged barrier).
pub fn flush_barrier_buffer() {
    WB.with(|w| flush_tls(&mut w.borrow_mut()));
}

/// Shades `v` grey on behalf of this thread's VM, if it is marking.
#[inline]
pub fn shade(v: Value) {
    if barrier_enabled() && v.is_obj() {
        shade_slow(v.as_obj());
    }
}

#[cold]
#[inline(never)]
fn shade_slow(p: *mut Header) {
    WB.with(|w| {
        let mut w = w.borrow_mut();
        if w.rt.is_null() {
            return;
        }
        // SAFETY: see `flush_tls`.
        let rt = unsafe { &*w.rt };
        if !rt.gc.marking() {
            return;
        }
        if let Some(m) = mark::try_mark(p) {
            w.bytes += m.size;
            if m.scan {
                mark::enqueue(&mut w.buf, p, &m, rt.gc.greentea);
                if w.buf.len() >= WORK_BUF {
                    flush_tls(&mut w);
                }
            }
        }
    });
}

/// The hybrid write barrier: shades the old and the new value of a slot
/// (`Slot::set` calls it while any VM marks).
#[cold]
pub fn write_barrier(old: Value, new: Value) {
    shade(old);
    shade(new);
}

/// Shades the children of an object allocated while marking (it is black
/// from birth, so what it was initialised with must not stay white).
#[cold]
pub fn shade_children(p: *mut Header) {
    if mark::has_children(p) {
        mark::for_each_child(p, shade);
    }
}

// ---------------------------------------------------------------------------
// Entry points from the scheduler and the interpreter.

/// The running G has just readied the coordinator into this P's `runnext`
/// and gives it the P: a `Gosched` that leaves the G on this P's own queue
/// (`PLocal::yield_to_next`), behind the coordinator.
pub(crate) fn yield_to_coordinator(cx: &mut Ctx) -> crate::sched::park::Flow {
    cx.local().yield_to_next = true;
    crate::sched::park::Flow::Gosched
}

/// The allocation safepoint's GC hook (the interpreter calls it when the
/// heap asks for attention): start a cycle when one is due, pay a mark
/// assist debt, enforce `--max-heap`.
pub fn safepoint(cx: &mut Ctx) -> Result<(), crate::sched::park::Flow> {
    let rt = cx.rt;
    if rt.gc.pacer.over_max_heap(rt.heap.footprint()) {
        return pacer::out_of_memory(cx);
    }
    if let Some(forced) = rt.gc.pacer.take_request() {
        if rt.gc.pacer.gcstress_full && cx.g.is_some() {
            // `gcstress=2`: a full collection here, waited for (the
            // goroutine resumes after this safepoint, so the next
            // allocation asks again).
            return coord::gc_wait(cx);
        }
        if coord::request_cycle(cx, forced) {
            // Let the coordinator start the cycle at once, as Go's
            // allocating goroutine runs `gcStart` itself.
            return Err(yield_to_coordinator(cx));
        }
    }
    if rt.gc.coord.awaiting_mark() && rt.heap.live() > rt.gc.pacer.goal() {
        // Past the goal with a cycle requested and its mark not begun:
        // wait for the mark, which throttles the allocation through
        // assists.
        coord::wait_mark_start(cx)?;
    }
    if let Some(live) = cx.local().mc.trace_heap.take() {
        // Only while tracing; nothing else happens here, so a traced run
        // schedules exactly as an untraced one.
        cx.trace(
            crate::trace::EventKind::HeapAlloc,
            &[(crate::trace::Key::LIVE, crate::trace::Arg::U(live))],
        );
    }
    if cx.local().mc.poll {
        cx.local().mc.poll = false;
        mark::ack_ragged(cx);
        pacer::assist(cx)?;
    }
    Ok(())
}

/// Runs one step of a system G (coordinator, mark worker, sweeper) with a
/// budget of `budget` safepoints; records the budget left like the
/// interpreter does.
pub fn run_system(cx: &mut Ctx, g: GRef, budget: u32) -> crate::sched::park::Outcome {
    use crate::sched::GKind;
    let (out, cost) = match g.kind() {
        GKind::Coordinator => coord::step(cx),
        GKind::Worker => worker::step(cx, g),
        GKind::Sweeper => sweep::step(cx),
        GKind::User | GKind::Main => unreachable!("not a system goroutine"),
    };
    // SAFETY: the G is Running on this M.
    unsafe { g.exec() }.budget_left = budget.saturating_sub(cost.max(1));
    out
}

/// Chunk-boundary hook for a user G (the scheduler calls it after every
/// chunk while the collector marks): flush the barrier buffer, acknowledge
/// the ragged barrier, and scan the G's own stack if it has not been
/// scanned this cycle.
pub fn at_chunk_boundary(cx: &mut Ctx, g: GRef) {
    let gc = &cx.rt.gc;
    mark::flush_for(cx.rt, cx.p());
    if gc.marking() && g.scan_cycle.load(Ordering::Acquire) != gc.cycle.load(Ordering::Acquire) {
        mark::scan_self(cx, g);
    }
}
