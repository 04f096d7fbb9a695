//! The garbage collector, first version: precise, stop-the-world mark-sweep.
//!
//! Algorithm (one cycle, run by a goroutine at an allocation safepoint after
//! it has stopped the world, `sched::stw`):
//! 1. Flip the mark epoch. Objects whose `mark` byte differs from the new
//!    epoch are white; allocation stamps new objects with the current epoch,
//!    so nothing needs clearing between cycles.
//! 2. Mark the roots grey: globals, every goroutine's live registers and
//!    frames (and a value a waker handed it that it has not picked up yet),
//!    pending timers' channels, interned strings, the VM's extra roots.
//! 3. Drain the grey stack: blacken an object by marking everything it
//!    references (`trace`).
//! 4. Sweep: walk every P's all-objects list (and the outside P's), free
//!    every white object onto that P's free lists, relink the rest. Free the
//!    retired table/list blocks (no mutator is mid-instruction).
//! 5. Pace: set the next goal from the live bytes (`Heap::set_goal`).
//!
//! Invariants: a marked object is never freed in its cycle; every object
//! reachable from a root at the safepoint is marked (precision: registers
//! above the innermost frame's top are cleared to nil instead of scanned, so
//! stale values there can never resurrect freed objects).
//!
//! The write barrier hook in `Slot::set` is off: nothing marks while mutators
//! run. The concurrent collector (a later issue) turns it on during Mark.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::heap::{Heap, Mcache};
use crate::interp::Exec;
use crate::object::*;
use crate::sched::Status;
use crate::value::Value;
use crate::Ctx;

static BARRIER: AtomicBool = AtomicBool::new(false);

/// True while a concurrent mark phase needs the write barrier.
#[inline(always)]
pub fn barrier_enabled() -> bool {
    BARRIER.load(Ordering::Relaxed)
}

/// The hybrid write barrier (shade old and new). Unused until the collector
/// marks concurrently; kept here so that `Slot::set` already routes every
/// heap write through it.
#[cold]
pub fn write_barrier(_old: Value, _new: Value) {}

/// Grey objects waiting to be scanned.
pub struct Marker {
    epoch: u8,
    grey: Vec<*mut Header>,
}

impl Marker {
    /// Marks `v` grey if it is an unmarked object.
    #[inline]
    pub fn mark(&mut self, v: Value) {
        if v.is_obj() {
            self.mark_obj(v.as_obj());
        }
    }

    #[inline]
    fn mark_obj(&mut self, p: *mut Header) {
        if p.is_null() {
            return;
        }
        // SAFETY: `p` is a live object (reachable from a root or a marked
        // object).
        let h = unsafe { &*p };
        if h.mark.load(Ordering::Relaxed) != self.epoch {
            h.mark.store(self.epoch, Ordering::Relaxed);
            self.grey.push(p);
        }
    }

    fn drain(&mut self) {
        while let Some(p) = self.grey.pop() {
            self.trace(Value::object(p));
        }
    }

    /// Marks everything `v` (a marked object) references.
    fn trace(&mut self, v: Value) {
        let Some(kind) = v.kind() else { return };
        match kind {
            Kind::String | Kind::Native => {}
            Kind::Function => {
                // SAFETY: the kind was just read from the header.
                let f = unsafe { body::<Function>(v) };
                if let Some(n) = f.name {
                    self.mark(n);
                }
                for k in f.consts.iter() {
                    self.mark(*k);
                }
            }
            Kind::Closure => {
                // SAFETY: the kind was just read from the header.
                let c = unsafe { body::<Closure>(v) };
                self.mark_obj(c.function as *mut Header);
                for u in c.upvals.iter() {
                    self.mark(*u);
                }
            }
            Kind::Cell => {
                // SAFETY: the kind was just read from the header.
                let c = unsafe { body::<Cell>(v) };
                self.mark(c.value.get());
            }
            Kind::Class => {
                // SAFETY: the kind was just read from the header.
                let c = unsafe { body::<Class>(v) };
                self.mark(c.name);
                self.mark(c.init.get());
                self.table(&c.methods);
            }
            Kind::Instance => {
                // SAFETY: the kind was just read from the header.
                let i = unsafe { body::<Instance>(v) };
                self.mark_obj(i.class as *mut Header);
                self.table(&i.fields);
            }
            Kind::BoundMethod => {
                // SAFETY: the kind was just read from the header.
                let b = unsafe { body::<BoundMethod>(v) };
                self.mark(b.receiver);
                self.mark(b.method);
            }
            Kind::List => {
                // SAFETY: the kind was just read from the header.
                let l = unsafe { body::<List>(v) };
                l.for_each(|x| self.mark(x));
            }
            Kind::Map => {
                // SAFETY: the kind was just read from the header.
                let m = unsafe { body::<Map>(v) };
                let t = m.table.lock();
                for (k, s) in t.entries.iter() {
                    self.mark(k.0);
                    self.mark(s.get());
                }
            }
            Kind::Module => {
                // SAFETY: the kind was just read from the header.
                let m = unsafe { body::<Module>(v) };
                self.mark(m.name);
                self.table(&m.members);
            }
            Kind::Chan => {
                if let Some(c) = crate::sched::chan::as_chan(v) {
                    c.for_each_value(|x| self.mark(x));
                }
            }
            Kind::Sema => {}
        }
    }

    fn table(&mut self, t: &Table) {
        t.for_each(|k, v| {
            self.mark_obj(k as *mut Header);
            self.mark(v);
        });
    }
}

/// Runs one full cycle with the world stopped (the caller stopped it and
/// flushed every mcache). `cur` is the running goroutine's state, which the
/// caller holds (every other G is reached through `allgs`).
pub fn collect(cx: &mut Ctx, cur: Option<&Exec>) {
    let rt = cx.rt;
    let heap = &rt.heap;
    let _outside = rt.sched.outside_lock.lock();
    let start = std::time::Instant::now();
    let heap_before = heap.live();
    let goal = heap.goal.load(Ordering::Relaxed);
    let epoch = if heap.epoch.load(Ordering::Relaxed) == 1 {
        2
    } else {
        1
    };
    heap.epoch.store(epoch, Ordering::Relaxed);
    let mut m = Marker {
        epoch,
        // The grey stack's storage is kept across cycles, so a large heap
        // does not regrow it every time.
        grey: std::mem::take(&mut *heap.grey.lock()),
    };
    for v in heap.interned.lock().values() {
        m.mark(*v);
    }
    rt.globals.for_each_value(|v| m.mark(v));
    m.mark(rt.init_name);
    for v in rt.extra_roots.lock().iter() {
        m.mark(*v);
    }
    let me = cx.g;
    for g in rt.sched.allgs.lock().iter() {
        // A dead (or never started) G holds nothing: not even the value
        // its last waker handed it.
        if matches!(g.status(), Status::Idle | Status::Dead) {
            continue;
        }
        m.mark(g.delivered().0);
        if Some(*g) == me {
            if let Some(e) = cur {
                e.for_each_root(|v| m.mark(v));
            }
        } else {
            // SAFETY: the world is stopped: no G runs, and the collector
            // is the only reader of the stacks.
            unsafe { g.exec() }.for_each_root(|v| m.mark(v));
        }
    }
    for p in rt.sched.all_created() {
        p.timers.lock().for_each_value(|v| m.mark(v));
    }
    m.drain();
    *heap.grey.lock() = std::mem::take(&mut m.grey);
    cx.trace(
        crate::trace::EventKind::GCMarkDone,
        &[("g", crate::trace::Arg::U(me.map_or(0, |g| g.id())))],
    );
    cx.trace(crate::trace::EventKind::GCSweepStart, &[]);
    for p in rt
        .sched
        .all_created()
        .chain(std::iter::once(&rt.sched.outside_p))
    {
        // SAFETY: the world is stopped and the outside lock is held: the
        // collector owns every mcache.
        sweep(heap, &mut unsafe { p.local() }.mc, epoch);
    }
    for r in heap.retired.lock().drain(..) {
        // SAFETY: the world is stopped: no mutator holds a block reference.
        unsafe { r.free() };
    }
    heap.set_goal(heap.live());
    heap.gc_pending.store(false, Ordering::Relaxed);
    let ns = start.elapsed().as_nanos() as u64;
    let stats = {
        let mut st = heap.stats.lock();
        st.num_gc += 1;
        st.last_pause_ns = ns;
        st.pause_total_ns += ns;
        st.gc_ns_total += ns;
        *st
    };
    let forced = heap.forced.swap(false, Ordering::Relaxed);
    cx.trace(crate::trace::EventKind::GCSweepDone, &[]);
    cx.trace(
        crate::trace::EventKind::HeapGoal,
        &[(
            "goal",
            crate::trace::Arg::U(heap.goal.load(Ordering::Relaxed) as u64),
        )],
    );
    if heap.gctrace {
        let procs = rt.sched.procs();
        eprintln!(
            "{}",
            gctrace_line(heap, &stats, start, ns, heap_before, goal, procs, forced)
        );
    }
}

/// One line in Go's `gctrace` layout:
/// `gc N @Ts P%: a+b+c ms clock, a+ba/bd/bi+c ms cpu, X->Y->Z MB, G MB goal, N P`.
/// With the stop-the-world collector the whole cycle is one pause, so it is
/// reported as the mark phase (`b`), with empty sweep- and mark-termination
/// pauses; `X` is the heap when the cycle began, `Y` the heap when marking
/// ended (no mutator ran, so the same), `Z` the live heap after sweeping.
#[allow(clippy::too_many_arguments)]
fn gctrace_line(
    heap: &Heap,
    st: &crate::heap::GcStats,
    start: std::time::Instant,
    ns: u64,
    before: usize,
    goal: usize,
    procs: usize,
    forced: bool,
) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    let since = start.duration_since(heap.started).as_secs_f64();
    let total = heap.started.elapsed().as_nanos().max(1) as f64;
    let pct = (st.gc_ns_total as f64 / total * 100.0).round();
    let ms = ns as f64 / 1e6;
    let goal_mb = if goal == usize::MAX {
        0.0
    } else {
        goal as f64 / MB
    };
    format!(
        "gc {} @{:.3}s {}%: 0+{:.3}+0 ms clock, 0+{:.3}/0/0+0 ms cpu, {}->{}->{} MB, {} MB goal, {} P{}",
        st.num_gc,
        since,
        pct,
        ms,
        ms,
        (before as f64 / MB).round(),
        (before as f64 / MB).round(),
        (heap.live() as f64 / MB).round(),
        goal_mb.round(),
        procs,
        if forced { " (forced)" } else { "" },
    )
}

fn sweep(heap: &Heap, mc: &mut Mcache, epoch: u8) {
    let mut prev: *mut Header = std::ptr::null_mut();
    let mut p = mc.head();
    let mut freed_bytes = 0isize;
    let mut freed_objects = 0isize;
    while !p.is_null() {
        // SAFETY: `p` is on the all-objects list, hence allocated and not yet
        // freed.
        let h = unsafe { &mut *p };
        let next = h.next;
        if h.mark.load(Ordering::Relaxed) == epoch {
            prev = p;
        } else {
            freed_bytes += h.size.load(Ordering::Relaxed) as isize;
            freed_objects += 1;
            if prev.is_null() {
                mc.set_head(next);
            } else {
                // SAFETY: `prev` is a surviving object on the list.
                unsafe { (*prev).next = next };
            }
            // SAFETY: the object is white, so unreachable; it is unlinked and
            // freed exactly once, with the size it was allocated with.
            unsafe {
                let size = drop_object(p);
                mc.free_mem(p as *mut u8, size);
            }
        }
        p = next;
    }
    heap.live_bytes.fetch_sub(freed_bytes, Ordering::Relaxed);
    heap.objects.fetch_sub(freed_objects, Ordering::Relaxed);
}

/// Drops one object's body according to its kind (releasing what it owns)
/// and returns the size of the object's own allocation, which the caller
/// then frees.
///
/// # Safety
/// `p` must be an unlinked object allocated by `Heap::alloc` or
/// `Heap::alloc_list` that nothing will touch again.
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
        }
    }
}
