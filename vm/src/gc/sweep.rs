//! Concurrent, lazy sweeping (step 6 of `gc/mod.rs`).
//!
//! At mark termination (world stopped) every P's all-objects list, and the
//! outside P's, is detached whole and put on the unswept list of the
//! [`Sweeper`] (`start`), which owns the sweep's state (the unswept
//! segments, whether any are pending, the epoch being kept, the chunks in
//! progress): O(P) work, so the pause does not grow with the heap. Then,
//! with the world running:
//! 1. A sweeper claims a segment (a list head) under the unswept lock,
//!    walks at most [`CHUNK`] objects, frees the white ones onto its own
//!    P's free lists (so allocation reuses them at once), links the
//!    survivors onto its own P's all-objects list, and puts the rest of the
//!    segment back.
//! 2. Sweepers are: allocating Ps, a chunk for every flush of their
//!    allocation counts (`Mcache::flush`, proportional sweeping: a chunk
//!    per 16 KiB allocated); the background sweeper G, which sweeps a chunk
//!    per step until nothing is left and parks (`gc_sweep_wait`); and the
//!    coordinator, which finishes the sweep before the next cycle starts.
//! 3. The G that finds the list empty with no chunk in progress records
//!    `GCSweepDone` (once per cycle).
//!
//! Invariants: an object is on exactly one list (a P's, or one unswept
//! segment); sweeping of a cycle ends before the next cycle flips the
//! epoch; white objects are unreachable, so freeing them races with
//! nothing.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::heap::{Heap, Mcache};
use crate::object::*;
use crate::sched::park::Outcome;
use crate::sched::sema::WakeRecord;
use crate::sched::{GKind, GRef, WaitReason};
use crate::trace::EventKind;
use crate::Ctx;
use crate::Runtime;

/// Objects swept per chunk: tens of microseconds, so a sweeping G reaches
/// its next safepoint promptly.
pub const CHUNK: usize = 1024;

/// What a sweep chunk costs against a runtime goroutine's budget, in
/// safepoints: one safepoint per sixteen objects, so a chunk counts as
/// about as much time as 64 safepoints of bytecode (tens of microseconds)
/// on the deterministic clock and against the time slice.
pub(crate) const CHUNK_COST: u32 = (CHUNK / 16) as u32;

/// The sweep's state and progress, and the background sweeper.
#[derive(Default)]
pub struct Sweeper {
    g: Mutex<Option<GRef>>,
    record: WakeRecord,
    /// `GCSweepDone` has been recorded for the current sweep.
    done: AtomicBool,
    /// Object lists waiting to be swept: segments of the Ps' all-objects
    /// lists, each owned by whichever sweeper pops it under the lock.
    unswept: Mutex<Vec<*mut Header>>,
    /// `unswept` is not empty (read without the lock).
    pending: AtomicBool,
    /// The epoch the sweep keeps (the mark epoch of the cycle it sweeps).
    epoch: AtomicU8,
    /// Sweep chunks in progress.
    active: AtomicUsize,
}

impl Sweeper {
    /// Is there something left to claim? (Read without the lock, by every
    /// allocation flush.)
    #[inline]
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        for seg in self.unswept.get_mut().drain(..) {
            let mut p = seg;
            while !p.is_null() {
                // SAFETY: the VM is being dropped; unswept segments hold
                // objects on no other list, and each is freed once, here.
                unsafe {
                    let next = (*p).next;
                    drop_object(p);
                    crate::raw::free(p as *mut u8);
                    p = next;
                }
            }
        }
    }
}

/// Detaches every P's object list for sweeping (world stopped, outside
/// lock held).
pub(crate) fn start(cx: &mut Ctx) {
    let rt = cx.rt;
    let sw = &rt.gc.sweeper;
    let mut segs = sw.unswept.lock();
    for p in rt
        .sched
        .all_created()
        .chain(std::iter::once(&rt.sched.outside_p))
    {
        // SAFETY: the world is stopped and the outside lock is held: the
        // collector owns every mcache.
        let mc = &mut unsafe { p.local() }.mc;
        let head = mc.head();
        if !head.is_null() {
            segs.push(head);
            mc.set_head(std::ptr::null_mut());
        }
    }
    sw.epoch
        .store(rt.heap.epoch.load(Ordering::Relaxed), Ordering::Release);
    sw.pending.store(!segs.is_empty(), Ordering::Release);
    sw.done.store(false, Ordering::Release);
    drop(segs);
    cx.trace(EventKind::GCSweepStart, &[]);
}

/// Sweeps one chunk into `mc`; false when nothing was left to sweep.
pub(crate) fn sweep_into(rt: &Runtime, mc: &mut Mcache) -> bool {
    let (heap, sw) = (&rt.heap, &rt.gc.sweeper);
    let active = &sw.active;
    if !sw.pending.load(Ordering::Acquire) {
        return false;
    }
    let seg = {
        let mut segs = sw.unswept.lock();
        match segs.pop() {
            Some(s) => {
                active.fetch_add(1, Ordering::AcqRel);
                if segs.is_empty() {
                    sw.pending.store(false, Ordering::Release);
                }
                s
            }
            None => {
                sw.pending.store(false, Ordering::Release);
                return false;
            }
        }
    };
    let epoch = sw.epoch.load(Ordering::Acquire);
    let mut p = seg;
    let mut n = 0;
    let mut freed_bytes = 0isize;
    let mut freed_objects = 0isize;
    let mut freed_runtime = 0usize;
    while !p.is_null() && n < CHUNK {
        // SAFETY: `p` is on the claimed segment, owned by this sweeper.
        let h = unsafe { &mut *p };
        let next = h.next;
        if h.mark.load(Ordering::Relaxed) == epoch {
            h.next = mc.head();
            mc.set_head(p);
        } else {
            freed_bytes += h.size.load(Ordering::Relaxed) as isize;
            freed_objects += 1;
            if h.kind == Kind::Chan {
                // SAFETY: the kind says the body is a channel, still intact.
                let ch = unsafe { &(*(p as *const Obj<crate::sched::chan::Chan>)).body };
                freed_runtime += ch.charged();
            }
            // SAFETY: the object is white, so unreachable; it is unlinked
            // and freed exactly once, with the size it was allocated with.
            unsafe {
                let size = drop_object(p);
                mc.free_mem(p as *mut u8, size);
            }
        }
        p = next;
        n += 1;
    }
    if !p.is_null() {
        sw.unswept.lock().push(p);
        sw.pending.store(true, Ordering::Release);
    }
    heap.live_bytes.fetch_sub(freed_bytes, Ordering::Relaxed);
    heap.objects.fetch_sub(freed_objects, Ordering::Relaxed);
    heap.runtime_bytes
        .fetch_sub(freed_runtime as isize, Ordering::Relaxed);
    active.fetch_sub(1, Ordering::AcqRel);
    true
}

/// Sweeps one chunk on this P; false when nothing was left.
pub(crate) fn sweep_chunk(cx: &mut Ctx) -> bool {
    let rt = cx.rt;
    sweep_into(rt, &mut cx.local().mc)
}

/// Is another sweeper in the middle of a chunk? It puts the rest of its
/// segment back when it finishes, so "nothing to claim" does not yet mean
/// "swept".
pub(crate) fn chunk_in_progress(rt: &Runtime) -> bool {
    rt.gc.sweeper.active.load(Ordering::Acquire) > 0
}

/// Sweeps everything left on this P, waiting out chunks other sweepers
/// have claimed, then records `GCSweepDone` (the stop-the-world users that
/// wait for whole cycles need the sweep finished; the coordinator does the
/// same a chunk per step).
pub(crate) fn finish(cx: &mut Ctx) {
    loop {
        if sweep_chunk(cx) {
            continue;
        }
        if !chunk_in_progress(cx.rt) {
            break;
        }
        // A chunk is a bounded amount of work on another M, with no
        // blocking point inside.
        std::thread::yield_now();
    }
    note_done(cx);
}

/// Records `GCSweepDone` if the sweep is over and nobody recorded it.
pub(crate) fn note_done(cx: &mut Ctx) {
    let rt = cx.rt;
    let sw = &rt.gc.sweeper;
    if sw.pending.load(Ordering::Acquire) || sw.active.load(Ordering::Acquire) > 0 {
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
    if sweep_chunk(cx) {
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

/// Drops one object's body according to its kind (releasing what it owns)
/// and returns the size of the object's own allocation, which the caller
/// then frees.
///
/// # Safety
/// `p` must be an unlinked object allocated by `Mcache::alloc` or
/// `Mcache::alloc_list` that nothing will touch again.
pub unsafe fn drop_object(p: *mut Header) -> usize {
    use std::mem::size_of;
    use std::ptr::drop_in_place;
    // SAFETY: the caller guarantees `p` is a valid object; the kind selects
    // the body type it was written with.
    unsafe {
        match (*p).kind {
            // A string owns nothing beyond its own allocation.
            Kind::String => Heap::string_size((*(p as *mut Obj<Str>)).body.len()),
            Kind::Function => {
                drop_in_place(p as *mut Obj<Function>);
                size_of::<Obj<Function>>()
            }
            Kind::Closure => {
                drop_in_place(p as *mut Obj<Closure>);
                size_of::<Obj<Closure>>()
            }
            Kind::Cell => {
                drop_in_place(p as *mut Obj<Cell>);
                size_of::<Obj<Cell>>()
            }
            Kind::Class => {
                drop_in_place(p as *mut Obj<Class>);
                size_of::<Obj<Class>>()
            }
            Kind::Instance => {
                drop_in_place(p as *mut Obj<Instance>);
                size_of::<Obj<Instance>>()
            }
            Kind::BoundMethod => {
                drop_in_place(p as *mut Obj<BoundMethod>);
                size_of::<Obj<BoundMethod>>()
            }
            Kind::List => {
                // The inline first block shares the object's allocation; its
                // capacity gives the allocation size back.
                let block = (p as *mut u8).add(crate::heap::LIST_BLOCK_OFFSET) as *mut ListBlock;
                let cap = (*block).cap();
                drop_in_place(p as *mut Obj<List>);
                Heap::list_size(cap)
            }
            Kind::Map => {
                drop_in_place(p as *mut Obj<Map>);
                size_of::<Obj<Map>>()
            }
            Kind::Native => {
                drop_in_place(p as *mut Obj<Native>);
                size_of::<Obj<Native>>()
            }
            Kind::Module => {
                drop_in_place(p as *mut Obj<Module>);
                size_of::<Obj<Module>>()
            }
            Kind::Chan => {
                drop_in_place(p as *mut Obj<crate::sched::chan::Chan>);
                size_of::<Obj<crate::sched::chan::Chan>>()
            }
            Kind::Sema => {
                drop_in_place(p as *mut Obj<crate::sched::sema::SemaCore>);
                size_of::<Obj<crate::sched::sema::SemaCore>>()
            }
            Kind::Handle => {
                drop_in_place(p as *mut Obj<Handle>);
                size_of::<Obj<Handle>>()
            }
        }
    }
}
