//! Concurrent, lazy sweeping of spans (step 6 of `gc/mod.rs`), with Go's
//! `sweepgen` protocol.
//!
//! At mark termination (world stopped), `start` adds 2 to the heap's sweep
//! generation `sg` and makes every mcache give its spans back to the
//! central lists: every span in use now has `sweepgen == sg - 2`, "needs
//! sweeping", and sits on an unswept central list (the lists' swept and
//! unswept sets swap meaning with `sg`, see `heap::central`). That is O(P)
//! work, so the pause does not grow with the heap. Then, with the world
//! running:
//! 1. A sweeper pops an unswept span from a central list and claims it by
//!    compare-and-swap of its `sweepgen` from `sg - 2` to `sg - 1`
//!    ([`claim`]; exactly one claimer wins).
//! 2. It sweeps it ([`sweep_span`]): each allocated, unmarked slot is freed
//!    (an object whose owns bit is set is dropped, releasing what it owns,
//!    and its size read; the others are only counted, so a span of dead
//!    inline lists or strings is swept without touching one), the mark
//!    bitmap becomes the allocation bitmap, and `sweepgen` becomes `sg`,
//!    "swept".
//! 3. A span left empty goes back to the page heap; otherwise it goes on
//!    its central list's swept set (or stays with the mcache that swept it
//!    to allocate from it).
//!
//! Sweepers are: allocating Ps that need a span (`central::cache_span`
//! sweeps before it reuses), allocating Ps proportionally to their
//! allocation (a chunk of [`CHUNK`] spans per flush of 16 KiB,
//! `Mcache::flush`); the background sweeper G, which sweeps a chunk per
//! step until nothing is left and parks (`gc_sweep_wait`); and the
//! coordinator, which finishes the sweep before the next cycle starts.
//! The G that sees the count of unswept spans reach zero records
//! `GCSweepDone` (once per cycle).
//!
//! Invariants: a span is swept at most once per cycle (the claim); every
//! span in use at mark termination is swept before the next cycle starts
//! marking; unmarked objects are unreachable, so freeing them races with
//! nothing.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::heap::span::Span;
use crate::heap::NUM_SPAN_CLASSES;
use crate::object::*;
use crate::sched::park::Outcome;
use crate::sched::sema::WakeRecord;
use crate::sched::{GKind, GRef, WaitReason};
use crate::trace::EventKind;
use crate::Ctx;
use crate::Runtime;

/// Spans swept per chunk: at most 8 × 512 slots, tens of microseconds, so
/// a sweeping G reaches its next safepoint promptly.
pub const CHUNK: usize = 8;

/// What a sweep chunk costs against a runtime goroutine's budget, in
/// safepoints: about as much time as 64 safepoints of bytecode (tens of
/// microseconds) on the deterministic clock and against the time slice.
pub(crate) const CHUNK_COST: u32 = 64;

/// The sweep's progress, and the background sweeper.
#[derive(Default)]
pub struct Sweeper {
    g: Mutex<Option<GRef>>,
    record: WakeRecord,
    /// `GCSweepDone` has been recorded for the current sweep.
    done: AtomicBool,
    /// Spans that still need sweeping in this cycle (claimed or not).
    unswept: AtomicUsize,
    /// The span class the background and proportional sweepers look at
    /// next (classes below it have no unswept span left).
    cursor: AtomicUsize,
}

impl Sweeper {
    /// Is some span still unswept? (Read without a lock, by every
    /// allocation flush.)
    #[inline]
    pub(crate) fn pending(&self) -> bool {
        self.unswept.load(Ordering::Relaxed) > 0
    }
}

/// Hands the heap to the sweeper (world stopped, outside lock held).
pub(crate) fn start(cx: &mut Ctx) {
    let rt = cx.rt;
    let (heap, sw) = (&rt.heap, &rt.gc.sweeper);
    debug_assert!(!sw.pending(), "a cycle ended before the last sweep did");
    heap.sweepgen.fetch_add(2, Ordering::AcqRel);
    for p in rt
        .sched
        .all_created()
        .chain(std::iter::once(&rt.sched.outside_p))
    {
        // SAFETY: the world is stopped and the outside lock is held: the
        // collector owns every mcache.
        unsafe { p.local() }.mc.release_all(heap);
    }
    sw.cursor.store(0, Ordering::Release);
    sw.unswept
        .store(heap.mheap.spans.load(Ordering::Acquire), Ordering::Release);
    sw.done.store(false, Ordering::Release);
    cx.trace(EventKind::GCSweepStart, &[]);
}

/// Claims span `s` for sweeping in generation `sg`: true for the one
/// caller that moves its `sweepgen` from `sg - 2` to `sg - 1`.
#[inline]
pub(crate) fn claim(s: *mut Span, sg: u32) -> bool {
    // SAFETY: `s` is a span in use (popped from a central list).
    let span = unsafe { &*s };
    span.sweepgen
        .compare_exchange(sg - 2, sg - 1, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
}

/// Sweeps the claimed span `s` (step 2 of the module comment). With
/// `keep`, a span left with a free slot is kept by the caller (an mcache
/// about to allocate from it) and true is returned; otherwise it goes to
/// its central list, or to the page heap when empty.
///
/// # Safety
/// The caller won `claim(s, sg)` for the current generation.
pub(crate) unsafe fn sweep_span(rt: &Runtime, s: *mut Span, keep: bool) -> bool {
    let heap = &rt.heap;
    let sg = heap.sweepgen();
    // SAFETY: the claim made the caller the span's only owner.
    let span = unsafe { &*s };
    let mut bytes = 0isize;
    let mut runtime = 0usize;
    let dead = |h: *mut Header| {
        // SAFETY: `h` was allocated and is unmarked, so unreachable; it
        // is dropped exactly once, here, with the kind it was written with.
        unsafe {
            bytes += (*h).size.load(Ordering::Relaxed) as isize;
            if (*h).kind == Kind::Chan {
                runtime += (*(h as *const Obj<crate::sched::chan::Chan>))
                    .body
                    .charged();
            }
            drop_object(h);
        }
    };
    // SAFETY: the caller owns the span (the claim).
    let (freed, plain) = unsafe { span.sweep_bits(dead) };
    // Objects that own nothing were charged exactly their slot.
    bytes += (plain * span.elemsize) as isize;
    if freed > 0 {
        heap.live_bytes.fetch_sub(bytes, Ordering::Relaxed);
        heap.objects.fetch_sub(freed as isize, Ordering::Relaxed);
        heap.runtime_bytes
            .fetch_sub(runtime as isize, Ordering::Relaxed);
    }
    span.sweepgen.store(sg, Ordering::Release);
    let sw = &rt.gc.sweeper;
    // SAFETY: (both) the caller still owns the span.
    let kept = if keep && unsafe { span.has_free() } {
        true
    } else if unsafe { span.alloc_count() } == 0 {
        // SAFETY: the span holds no object and is owned here.
        unsafe { heap.mheap.free_span(s) };
        false
    } else {
        heap.central[span.class.index()].push(s, sg);
        false
    };
    sw.unswept.fetch_sub(1, Ordering::AcqRel);
    kept
}

/// Claims and sweeps one unswept span, looking at span classes from the
/// sweeper's cursor on; false when none is left to claim.
fn sweep_one(rt: &Runtime) -> bool {
    let (heap, sw) = (&rt.heap, &rt.gc.sweeper);
    let sg = heap.sweepgen();
    loop {
        let c = sw.cursor.load(Ordering::Acquire);
        if c >= NUM_SPAN_CLASSES {
            return false;
        }
        match heap.central[c].pop_unswept(sg) {
            Some(s) => {
                if claim(s, sg) {
                    // SAFETY: the claim was won just now.
                    unsafe { sweep_span(rt, s, false) };
                    return true;
                }
            }
            None => {
                // Nothing joins an unswept list after `start`, so this
                // class is done for the cycle.
                let _ = sw
                    .cursor
                    .compare_exchange(c, c + 1, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }
}

/// Spans a P sweeps at most, looking for free pages, before the heap grows
/// for a new span ([`reclaim`]): enough to find a freed span among the
/// unswept ones in all but pathological heaps, few enough (tens of
/// microseconds) to bound one allocation's delay.
const RECLAIM_BUDGET: usize = 256;

/// Go's `mheap.reclaim`: before the page heap grows for a span of `npages`
/// pages, sweep spans of any class until a free run that large exists or
/// nothing is left to sweep. Without it, allocation right after mark
/// termination took fresh pages while the last cycle's garbage still sat
/// in unswept spans, and the heap's pages grew to twice what it used
/// (four times, for strings: 18 MB of pages for 4.6 MB in use).
pub(crate) fn reclaim(rt: &Runtime, npages: usize) {
    for _ in 0..RECLAIM_BUDGET {
        if !rt.gc.sweeper.pending() || rt.heap.mheap.has_free_run(npages) || !sweep_one(rt) {
            return;
        }
    }
}

/// Sweeps one chunk; false when nothing was left to claim.
pub(crate) fn sweep_chunk(rt: &Runtime) -> bool {
    if !rt.gc.sweeper.pending() {
        return false;
    }
    let mut any = false;
    for _ in 0..CHUNK {
        if !sweep_one(rt) {
            break;
        }
        any = true;
    }
    any
}

/// Sweeps everything left, waiting out spans other sweepers have claimed,
/// then records `GCSweepDone` (the stop-the-world users that wait for whole
/// cycles need the sweep finished; the coordinator does the same a chunk
/// per step).
pub(crate) fn finish(cx: &mut Ctx) {
    loop {
        if sweep_chunk(cx.rt) {
            continue;
        }
        // Nothing is left to claim, but a span another sweeper claimed is
        // still being swept until the count reaches zero.
        if !cx.rt.gc.sweeper.pending() {
            break;
        }
        // A span's sweep is a bounded amount of work on another M, with no
        // blocking point inside.
        std::thread::yield_now();
    }
    note_done(cx);
}

/// Records `GCSweepDone` if the sweep is over and nobody recorded it.
pub(crate) fn note_done(cx: &mut Ctx) {
    let rt = cx.rt;
    let sw = &rt.gc.sweeper;
    if sw.pending() {
        return;
    }
    if rt.gc.completed.load(Ordering::Acquire) == 0 && rt.gc.cycle.load(Ordering::Acquire) == 0 {
        return;
    }
    if !sw.done.swap(true, Ordering::AcqRel) {
        cx.trace(EventKind::GCSweepDone, &[]);
    }
}

/// Readies the background sweeper (creating it on first use).
pub(crate) fn wake_sweeper(cx: &mut Ctx) {
    let sw = &cx.rt.gc.sweeper;
    let existing = *sw.g.lock();
    match existing {
        Some(_) => sw.record.wake(cx),
        None => {
            let g = crate::sched::proc::new_system_g(cx, GKind::Sweeper);
            *sw.g.lock() = Some(g);
            crate::sched::proc::start_system_g(cx, g, false);
        }
    }
}

/// One step of the background sweeper: a chunk, or park when done.
pub(crate) fn step(cx: &mut Ctx) -> (Outcome, u32) {
    if sweep_chunk(cx.rt) {
        // Low priority, like Go's `bgsweep`: let other goroutines run
        // between chunks.
        return (Outcome::Gosched, CHUNK_COST);
    }
    note_done(cx);
    match cx.rt.gc.sweeper.record.park(cx, WaitReason::GcSweepWait) {
        Some(pk) => (Outcome::Park(pk), 1),
        None => (Outcome::Yield, 1),
    }
}

/// Drops one object's body according to its kind, releasing what it owns
/// (its slot itself is freed by the sweep's bitmap).
///
/// # Safety
/// `p` must be an object allocated by the heap that nothing will touch
/// again.
pub unsafe fn drop_object(p: *mut Header) {
    use crate::sched::{chan::Chan, sema::SemaCore};
    use std::ptr::drop_in_place;
    // SAFETY: the caller guarantees `p` is a valid object; the kind selects
    // the body type it was written with.
    unsafe {
        match (*p).kind {
            // These own nothing beyond their slot (no owns bit is set).
            Kind::String | Kind::Cell | Kind::BoundMethod => {}
            Kind::Function => drop_in_place(p as *mut Obj<Function>),
            Kind::Closure => drop_in_place(p as *mut Obj<Closure>),
            Kind::Class => drop_in_place(p as *mut Obj<Class>),
            Kind::Instance => drop_in_place(p as *mut Obj<Instance>),
            // A grown list frees its separate block; the inline first block
            // is part of the slot.
            Kind::List => drop_in_place(p as *mut Obj<List>),
            Kind::Map => drop_in_place(p as *mut Obj<Map>),
            Kind::Native => drop_in_place(p as *mut Obj<Native>),
            Kind::Module => drop_in_place(p as *mut Obj<Module>),
            Kind::Chan => drop_in_place(p as *mut Obj<Chan>),
            Kind::Sema => drop_in_place(p as *mut Obj<SemaCore>),
            Kind::Handle => drop_in_place(p as *mut Obj<Handle>),
        }
    }
}
