//! Marking: shading objects, scanning them, root jobs, stack scans, and
//! draining work buffers.
//!
//! Work lives in two places (Go's `gcWork` and `work.full`): each P's
//! local buffer (`PLocal::gcw`), used without a lock by whatever drains on
//! that P (a background worker or an assist), and the global list of full
//! buffers in `GcState::work`. Drain, step by step:
//! 1. Pop a grey object from the local buffer and scan it: shade each
//!    child (a white child's mark bit, in its span, is set by an atomic OR;
//!    the one OR that sets it queues the child locally). The object is now black.
//! 2. When the local buffer holds more than two buffers' worth, move one
//!    buffer to the global list so other Ps can help; when the global list
//!    is empty, give it half of a local buffer of more than a few objects
//!    and wake an idle P (`balance`).
//! 3. When it is empty, claim a root job (globals and interned strings;
//!    timers; one G's stack each), else take a buffer from the global
//!    list, else retry the stacks deferred because their G was running.
//! 4. Stop after the requested amount of scan work, or when nothing is
//!    left anywhere visible.
//!
//! Stack scans: a G's stack is scanned once per cycle. The scanner first
//! wins the G's `scan_cycle` word for this cycle by CAS, and reads the
//! stack only while the G cannot run: it holds the G's `SCAN` status bit
//! (a parked or runnable G), or it is the G itself at a chunk boundary
//! (`scan_self`). A G found running is deferred; it scans itself at its
//! next chunk boundary, or a worker retries once it has stopped.
//!
//! Large objects: a list or map longer than [`OBLET_LEN`] is scanned in
//! pieces (Go's oblets). A buffer entry is an object address with the
//! oblet number in its top bits; scanning oblet `k` queues oblet `k + 1`.
//!
//! Invariants: a grey object is in exactly one buffer (the OR that marks
//! it queues it), and its oblets after the first are queued one at a time
//! by the scan of the one before; strings, natives and semaphores have no
//! children and are never queued; stacks are read only under the rules
//! above.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::WORK_BUF;
use crate::heap::span::Span;
use crate::object::*;
use crate::sched::{GRef, Status};
use crate::value::Value;
use crate::Ctx;

/// What marking an object found (see [`try_mark`]).
pub(crate) struct Marked {
    /// The bytes charged for the object.
    pub size: u64,
    /// The object may reference others, so it must be queued and scanned.
    pub scan: bool,
    /// Its span, when it is a small-object span (Green Tea queues it).
    pub small: Option<&'static Span>,
}

/// Sets `p`'s mark bit if it is not set yet; when this call set it,
/// returns the object's size and whether it needs scanning. Only the
/// span is read: an object that owns nothing was charged its slot, and a
/// string (a noscan span) is never queued, so marking touches the object
/// itself only later, when it is scanned.
#[inline]
pub(crate) fn try_mark(p: *mut Header) -> Option<Marked> {
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` is a live object (reachable from a root, a marked object
    // or a value the mutator holds), so its span is in use and its page
    // map entry set.
    let (span, idx) = unsafe { crate::heap::arena::slot_of(p) };
    if !span.mark_index(idx) {
        return None;
    }
    let size = if span.owns_index(idx) {
        // SAFETY: as above.
        u64::from(unsafe { (*p).size.load(Ordering::Relaxed) })
    } else {
        span.elemsize as u64
    };
    Some(Marked {
        size,
        scan: !span.class.noscan(),
        small: (span.class.size_class() != 0).then_some(span),
    })
}

/// Queues a grey object for scanning: with Green Tea, its span (unless the
/// span is queued already), else the object itself.
#[inline]
pub(crate) fn enqueue(buf: &mut Vec<*mut Header>, p: *mut Header, m: &Marked, greentea: bool) {
    match m.small {
        Some(span) if greentea => {
            if span.try_queue() {
                buf.push(span_entry(span));
            }
        }
        _ => {
            prefetch(p);
            buf.push(p);
        }
    }
}

/// A work-buffer entry naming a whole span (Green Tea). Objects are 8-byte
/// aligned, so bit 0 tells a span entry from an object entry.
fn span_entry(span: &Span) -> *mut Header {
    (span as *const Span as usize | SPAN_TAG) as *mut Header
}

/// The tag bit of [`span_entry`].
const SPAN_TAG: usize = 1;

/// Green Tea's span scan (Go 1.26's `greenteagc`): every grey object of the
/// span (marked, not yet scanned) is scanned in address order, so objects
/// that share cache lines and pages are scanned together; then the span
/// leaves the queue, unless objects were greyed meanwhile (`unqueue`).
fn scan_span(span: &Span, w: &mut Gcw) -> u64 {
    let mut work = 0;
    loop {
        for wi in 0..span.words() {
            let mut grey = span.take_grey(wi);
            // Start loading every grey object of the word before scanning
            // the first, so their cache misses overlap.
            let mut ahead = grey;
            while ahead != 0 {
                prefetch(span.slot(wi, ahead.trailing_zeros() as usize));
                ahead &= ahead - 1;
            }
            while grey != 0 {
                let b = grey.trailing_zeros() as usize;
                grey &= grey - 1;
                work += scan_entry(span.slot(wi, b), w);
            }
        }
        if !span.unqueue() {
            return work;
        }
    }
}

/// Asks the processor to start loading the cache line at `p` (a hint: an
/// address outside any mapping is ignored, not faulted on). The marker
/// calls it for a queued object, which is scanned a little later, when
/// its header and body are there; the allocator for a slot a few ahead of
/// the one it hands out (`heap::span`).
#[inline(always)]
pub(crate) fn prefetch(p: *mut Header) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, whatever the
    // address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Marks an object allocated while the collector marks (allocate black:
/// marked and, for Green Tea (`greentea`), already scanned).
#[inline]
pub(crate) fn mark_new(p: *mut Header, greentea: bool) {
    // SAFETY: `p` was just allocated in a span in use.
    let (span, idx) = unsafe { crate::heap::arena::slot_of(p) };
    span.mark_black_index(idx, greentea);
}

/// Is `p`'s mark bit set?
pub(crate) fn is_marked(p: *mut Header) -> bool {
    // SAFETY: `p` is a live object, as in `try_mark`.
    let (span, idx) = unsafe { crate::heap::arena::slot_of(p) };
    span.is_marked_index(idx)
}

/// Does an object of this kind reference other objects?
#[inline]
pub(crate) fn has_children(p: *mut Header) -> bool {
    // SAFETY: as in `try_mark`.
    !matches!(
        unsafe { (*p).kind },
        Kind::String | Kind::Native | Kind::Sema | Kind::Handle
    )
}

/// Calls `f` on every value the object `p` references.
pub(crate) fn for_each_child(p: *mut Header, mut f: impl FnMut(Value)) {
    let v = Value::object(p);
    let obj = |q: *const Header| Value::object(q as *mut Header);
    // SAFETY: (every arm) the kind was read from the header of a live
    // object, and selects the body type it was written with.
    match unsafe { (*p).kind } {
        Kind::String | Kind::Native | Kind::Sema | Kind::Handle => {}
        Kind::Function => {
            // SAFETY: the kind matched selects the body type.
            let fun = unsafe { body::<Function>(v) };
            if let Some(n) = fun.name {
                f(n);
            }
            for k in fun.consts.iter() {
                f(*k);
            }
        }
        Kind::Closure => {
            // SAFETY: the kind matched selects the body type.
            let c = unsafe { body::<Closure>(v) };
            f(obj(c.function as *const Header));
            for u in c.upvals.iter() {
                f(*u);
            }
        }
        // SAFETY: the kind matched selects the body type.
        Kind::Cell => f(unsafe { body::<Cell>(v) }.value.get()),
        Kind::Class => {
            // SAFETY: the kind matched selects the body type.
            let c = unsafe { body::<Class>(v) };
            f(c.name);
            f(c.init.get());
            c.methods.for_each(|k, x| {
                f(obj(k));
                f(x);
            });
        }
        Kind::Instance => {
            // SAFETY: the kind matched selects the body type.
            let i = unsafe { body::<Instance>(v) };
            f(obj(i.class as *const Header));
            i.fields.for_each(|k, x| {
                f(obj(k));
                f(x);
            });
        }
        Kind::BoundMethod => {
            // SAFETY: the kind matched selects the body type.
            let b = unsafe { body::<BoundMethod>(v) };
            f(b.receiver);
            f(b.method);
        }
        // SAFETY: the kind matched selects the body type.
        Kind::List => unsafe { body::<List>(v) }.for_each(f),
        Kind::Map => {
            // SAFETY: the kind matched selects the body type.
            let m = unsafe { body::<Map>(v) };
            let t = m.table.lock();
            for (k, s) in t.entries.iter() {
                f(k.0);
                f(s.get());
            }
        }
        Kind::Module => {
            // SAFETY: the kind matched selects the body type.
            let m = unsafe { body::<Module>(v) };
            f(m.name);
            m.members.for_each(|k, x| {
                f(obj(k));
                f(x);
            });
        }
        Kind::Chan => {
            if let Some(c) = crate::sched::chan::as_chan(v) {
                c.for_each_value(f);
            }
        }
    }
}

/// Elements of a list, or entries of a map, scanned as one piece (Go's
/// oblets, 128 KiB there). A bigger object is scanned an oblet per
/// work-buffer entry, so no single step of a drainer, and no wait for one
/// at a stop-the-world, grows with the largest object. 4 Ki elements (32
/// KiB of values) take about 100 µs when every element is a cold object
/// to shade (measured on gc_latency's million-element list, where 16 Ki
/// took 300–400 µs); a million-element list is then 245 entries, not one
/// scan of tens of milliseconds.
pub(crate) const OBLET_LEN: usize = 4 * 1024;

/// Bits of a work-buffer entry above the address: the oblet number. User
/// addresses on the 64-bit targets Skein runs on fit in 48 bits.
const OBLET_SHIFT: u32 = 48;
const OBLET_MAX: usize = (1 << (64 - OBLET_SHIFT)) - 1;
const ADDR_MASK: usize = (1 << OBLET_SHIFT) - 1;

/// A work-buffer entry for oblet `k` of `p` (`k = 0` is the object
/// itself, as the shade that greys it queues it).
fn oblet_entry(p: *mut Header, k: usize) -> *mut Header {
    debug_assert_eq!(p as usize & !ADDR_MASK, 0, "object address above 48 bits");
    (p as usize | (k << OBLET_SHIFT)) as *mut Header
}

/// Scans one work-buffer entry: the object's children, or, for a list or
/// map longer than [`OBLET_LEN`], one oblet of them, queueing the next
/// oblet first. Returns the scan work done (bytes).
///
/// Oblets read the object's current storage each time, so a list that
/// grows between two oblets is scanned in its new block (a push copies the
/// values to the same indices). Lists are only appended to, popped (the
/// value is shaded) and written through the barrier, so an index boundary
/// never lets a value slip past the scan; a map delete shifts entries down
/// by one, and shades the entries that cross an oblet boundary
/// (`MapTable::remove`).
fn scan_entry(e: *mut Header, w: &mut Gcw) -> u64 {
    if e as usize & SPAN_TAG != 0 {
        // SAFETY: span entries are made by `span_entry` from a span in use;
        // a queued span is not swept before the mark ends.
        let span = unsafe { &*((e as usize & !SPAN_TAG) as *const Span) };
        return scan_span(span, w);
    }
    let p = (e as usize & ADDR_MASK) as *mut Header;
    let k = e as usize >> OBLET_SHIFT;
    let v = Value::object(p);
    // SAFETY: a queued object is marked, so the sweeper keeps it.
    match unsafe { (*p).kind } {
        Kind::List => {
            // SAFETY: the kind matched selects the body type.
            let b = unsafe { body::<List>(v) }.block();
            let slots = &b.slots()[..b.len()];
            let range = oblet(w, p, k, slots.len());
            for s in &slots[range.clone()] {
                w.shade(s.get());
            }
            8 * range.len() as u64
        }
        Kind::Map => {
            // SAFETY: the kind matched selects the body type.
            let t = unsafe { body::<Map>(v) }.table.lock();
            let range = oblet(w, p, k, t.entries.len());
            for i in range.clone() {
                if let Some((key, slot)) = t.entries.get_index(i) {
                    w.shade(key.0);
                    w.shade(slot.get());
                }
            }
            16 * range.len() as u64
        }
        _ => {
            for_each_child(p, |c| w.shade(c));
            // SAFETY: as above, the object is live.
            u64::from(unsafe { (*p).size.load(Ordering::Relaxed) }).max(8)
        }
    }
}

/// The index range of oblet `k` of an object with `len` elements; queues
/// oblet `k + 1` when elements remain after it.
fn oblet(w: &mut Gcw, p: *mut Header, k: usize, len: usize) -> std::ops::Range<usize> {
    let start = (k * OBLET_LEN).min(len);
    if k >= OBLET_MAX {
        // Past the numbering (a list of over a billion elements): the rest
        // in one piece.
        return start..len;
    }
    let end = (start + OBLET_LEN).min(len);
    if end < len {
        w.buf.push(oblet_entry(p, k + 1));
    }
    start..end
}

/// A drainer's view of its P's local buffer.
pub(crate) struct Gcw {
    pub buf: Vec<*mut Header>,
    /// Green Tea marking is on (`SKEINDEBUG=greenteagc=1`).
    pub greentea: bool,
    /// Bytes this drainer shaded (for the pacer's marked-heap count).
    pub marked: u64,
}

impl Gcw {
    /// Takes the P's local buffer.
    pub fn get(cx: &mut Ctx) -> Gcw {
        Gcw {
            buf: std::mem::take(&mut cx.local().gcw),
            greentea: cx.rt.gc.greentea,
            marked: 0,
        }
    }

    /// Gives the buffer back to the P (still P-local work).
    pub fn put(self, cx: &mut Ctx) {
        cx.rt
            .gc
            .marked_bytes
            .fetch_add(self.marked, Ordering::Relaxed);
        cx.local().gcw = self.buf;
    }

    /// Shades `v` into this buffer.
    #[inline]
    pub fn shade(&mut self, v: Value) {
        if v.is_obj() {
            let p = v.as_obj();
            if let Some(m) = try_mark(p) {
                self.marked += m.size;
                if m.scan {
                    enqueue(&mut self.buf, p, &m, self.greentea);
                }
            }
        }
    }
}

/// Moves the P's local buffer to the global list (a drainer stops using
/// P-local state).
pub(crate) fn dispose(cx: &mut Ctx) {
    let buf = std::mem::take(&mut cx.local().gcw);
    cx.rt.gc.put_work(buf);
}

/// Root jobs of one cycle: job 0 is the globals, interned strings and the
/// VM's extra roots; job 1 every P's timers; job `2 + i` the stack of the
/// i-th G that existed when marking started.
#[derive(Default)]
pub struct Roots {
    next: AtomicUsize,
    total: AtomicUsize,
    gs: Mutex<Vec<GRef>>,
}

/// Root jobs that are not stacks.
const FIXED_JOBS: usize = 2;

impl Roots {
    /// Sets up the jobs (world stopped).
    pub(crate) fn prepare(&self, gs: Vec<GRef>) {
        self.total.store(FIXED_JOBS + gs.len(), Ordering::Release);
        *self.gs.lock() = gs;
        self.next.store(0, Ordering::Release);
    }

    /// Are jobs left to claim?
    pub(crate) fn pending(&self) -> bool {
        self.next.load(Ordering::Acquire) < self.total.load(Ordering::Acquire)
    }

    fn claim(&self) -> Option<usize> {
        if !self.pending() {
            return None;
        }
        let j = self.next.fetch_add(1, Ordering::AcqRel);
        (j < self.total.load(Ordering::Acquire)).then_some(j)
    }

    /// Forgets the jobs (end of the cycle).
    pub(crate) fn clear(&self) {
        self.total.store(0, Ordering::Release);
        self.gs.lock().clear();
    }
}

fn run_root_job(cx: &mut Ctx, w: &mut Gcw, job: usize) {
    let rt = cx.rt;
    match job {
        0 => {
            rt.globals.for_each_value(|v| w.shade(v));
            w.shade(rt.init_name);
            for (_, v) in rt.extra_roots.lock().iter() {
                w.shade(*v);
            }
            for v in rt.heap.interned.lock().values() {
                w.shade(*v);
            }
        }
        1 => {
            for p in rt.sched.all_created() {
                p.timers.lock().for_each_value(|v| w.shade(v));
            }
        }
        j => {
            let g = rt.gc.roots.gs.lock().get(j - FIXED_JOBS).copied();
            if let Some(g) = g {
                if !scan_g(cx, w, g) {
                    let gc = &rt.gc;
                    let mut d = gc.deferred.lock();
                    d.push(g);
                    gc.deferred_len.store(d.len(), Ordering::Release);
                }
            }
        }
    }
}

/// Wins `g`'s scan for this cycle; false when it was already scanned.
fn claim_scan(cx: &Ctx, g: GRef) -> bool {
    let cycle = cx.rt.gc.cycle.load(Ordering::Acquire);
    let old = g.scan_cycle.load(Ordering::Acquire);
    old != cycle
        && g.scan_cycle
            .compare_exchange(old, cycle, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
}

/// Scans `g`'s stack if it is not running (or has nothing to scan).
/// False when it is running: the caller defers it.
fn scan_g(cx: &mut Ctx, w: &mut Gcw, g: GRef) -> bool {
    let cycle = cx.rt.gc.cycle.load(Ordering::Acquire);
    loop {
        if g.scan_cycle.load(Ordering::Acquire) == cycle {
            return true;
        }
        match g.status() {
            // Nothing on the stack: a fresh or finished G. A G being set up
            // by its creator right now has its arguments shaded by the
            // creator (`note_new_stack`).
            Status::Idle | Status::Dead => {
                claim_scan(cx, g);
                return true;
            }
            Status::Running => return false,
            s @ (Status::Runnable | Status::Waiting | Status::Syscall) => {
                if g.try_scan(s) {
                    if claim_scan(cx, g) {
                        // SAFETY: the scan bit keeps the G from starting,
                        // being readied or returning from its system call
                        // (the M of a G in a syscall holds no borrow of its
                        // state: the call runs outside the interpreter), so
                        // its stack is quiescent and only the scanner
                        // touches it.
                        let exec = unsafe { g.exec() };
                        exec.clear_dead();
                        scan_stack(g, exec, |v| w.shade(v));
                    }
                    g.end_scan();
                    return true;
                }
            }
        }
    }
}

/// Calls `f` on every root of `g`'s stack `exec`: its live registers and
/// frames, and a value a waker handed it that it has not picked up yet.
pub(crate) fn scan_stack(g: GRef, exec: &crate::interp::Exec, mut f: impl FnMut(Value)) {
    exec.for_each_root(&mut f);
    f(g.delivered().0);
}

/// A running G scans its own stack at a chunk boundary (the one place a
/// running G's stack is read).
pub(crate) fn scan_self(cx: &mut Ctx, g: GRef) {
    if !claim_scan(cx, g) {
        return;
    }
    // SAFETY: the G is Running on this M, between chunks.
    let exec = unsafe { g.exec() };
    exec.clear_dead();
    scan_stack(g, exec, super::shade);
    // The stack's shades go out as their own buffer.
    super::flush_barrier_buffer();
}

/// A new goroutine's initial stack (`vals`) while marking: its values came
/// from its creator's stack, which may not have been scanned yet, so they
/// are shaded, and the new stack counts as scanned.
pub(crate) fn note_new_stack(cx: &Ctx, g: GRef, vals: &[Value]) {
    let gc = &cx.rt.gc;
    if gc.marking() {
        for v in vals {
            super::shade(*v);
        }
    }
    g.scan_cycle
        .store(gc.cycle.load(Ordering::Acquire), Ordering::Release);
}

/// Retries deferred stacks; true when some were scanned or dropped.
fn retry_deferred(cx: &mut Ctx, w: &mut Gcw) -> bool {
    let gc = &cx.rt.gc;
    let gs: Vec<GRef> = std::mem::take(&mut *gc.deferred.lock());
    if gs.is_empty() {
        return false;
    }
    let n = gs.len();
    let mut left = Vec::new();
    for g in gs {
        if !scan_g(cx, w, g) {
            left.push(g);
        }
    }
    let progress = left.len() < n;
    let mut d = gc.deferred.lock();
    d.extend(left);
    gc.deferred_len.store(d.len(), Ordering::Release);
    progress
}

/// What one drain did.
#[derive(Default, Clone, Copy)]
pub(crate) struct Drained {
    /// Objects scanned (the deterministic clock's cost of the work).
    pub objects: u64,
    /// Bytes scanned (scan work, the unit of assist credit).
    pub work: u64,
    /// False when the drain stopped because nothing was left to find.
    pub more: bool,
}

/// Drains this P's mark work until `max_work` bytes are scanned or no work
/// is visible (see the module docs).
pub(crate) fn drain(cx: &mut Ctx, max_work: u64) -> Drained {
    let mut w = Gcw::get(cx);
    let mut d = Drained {
        more: true,
        ..Drained::default()
    };
    while d.work < max_work {
        let Some(p) = w.buf.pop() else {
            let gc = &cx.rt.gc;
            if let Some(job) = gc.roots.claim() {
                run_root_job(cx, &mut w, job);
                d.objects += 1;
                continue;
            }
            if let Some(b) = gc.get_work() {
                w.buf.extend(b);
                continue;
            }
            if gc.deferred_len.load(Ordering::Acquire) > 0 && retry_deferred(cx, &mut w) {
                continue;
            }
            d.more = cx.rt.gc.deferred_len.load(Ordering::Acquire) > 0;
            break;
        };
        d.work += scan_entry(p, &mut w);
        d.objects += 1;
        if w.buf.len() > 2 * WORK_BUF {
            let half = w.buf.split_off(w.buf.len() - WORK_BUF);
            cx.rt.gc.put_work(half);
        } else if w.buf.len() > BALANCE_MIN
            && cx.rt.gc.work_bufs.load(Ordering::Relaxed) == 0
            && !cx.rt.sched.gcwaiting.load(Ordering::Relaxed)
        {
            // (With the world stopped, or stopping, no other P can take
            // shared work: mark termination's drain keeps it local.)
            balance(cx, &mut w);
        }
    }
    w.put(cx);
    if d.work > 0 {
        cx.rt.gc.scan_work.fetch_add(d.work, Ordering::Relaxed);
    }
    d
}

/// Local work above which a drainer shares when the global list is empty
/// (Go hands off a buffer holding more than 4 objects).
const BALANCE_MIN: usize = 4;

/// Go's `gcWork.balance` and `enlistWorker`: the global list is empty, so
/// other Ps (idle workers, assists) have nothing to take while this
/// drainer holds grey objects (a depth-first walk of a tree or a list
/// keeps its buffer small, below the size that spills). Give half of the
/// local buffer (its oldest entries, the roots of the largest unexplored
/// subgraphs) to the global list, and wake an idle P to run an idle
/// worker on it. Without this, marks of linked structures ran on one P
/// at a time: an assist that found no work parked, and the mutator waited.
fn balance(cx: &mut Ctx, w: &mut Gcw) {
    let rest = w.buf.split_off(w.buf.len() / 2);
    let oldest = std::mem::replace(&mut w.buf, rest);
    cx.rt.gc.put_work(oldest);
    crate::sched::proc::enlist_worker(cx.rt);
}

/// Drains everything with the world stopped (`gcstoptheworld`, and the
/// re-check at mark termination): stacks of Gs that are "running" are
/// quiescent then and are scanned directly.
pub(crate) fn drain_stopped(cx: &mut Ctx) {
    loop {
        let d = drain(cx, u64::MAX);
        let gs: Vec<GRef> = std::mem::take(&mut *cx.rt.gc.deferred.lock());
        cx.rt.gc.deferred_len.store(0, Ordering::Release);
        if gs.is_empty() && !d.more {
            break;
        }
        let mut w = Gcw::get(cx);
        for g in gs {
            if claim_scan(cx, g) {
                // SAFETY: the world is stopped: the G's M is parked at a
                // chunk boundary (or, in deterministic mode, the G is
                // between two steps), so its stack is quiescent.
                let exec = unsafe { g.exec() };
                scan_stack(g, exec, |v| w.shade(v));
            }
        }
        w.put(cx);
    }
    dispose(cx);
}

/// Flushes this thread's barrier buffer, which belongs to the work of P
/// `p`, and acknowledges the ragged barrier for `p` (every chunk boundary,
/// whenever an M gives its P up, and through [`ack_ragged`] while a
/// barrier waits).
pub(crate) fn flush_for(rt: &crate::Runtime, p: &crate::sched::P) {
    super::flush_barrier_buffer();
    p.flush_seen
        .store(rt.gc.flush_epoch.load(Ordering::Acquire), Ordering::Release);
}

/// Acknowledges a ragged barrier in progress that this P has not
/// acknowledged yet, at an allocation safepoint or between an assist's
/// steps (as Go's `forEachP` runs its function at any safepoint): a chunk
/// of allocating code that assists can run for milliseconds, and the
/// coordinator waits for every running P before it can end the mark.
#[inline]
pub(crate) fn ack_ragged(cx: &mut Ctx) {
    let p = cx.p();
    if p.flush_seen.load(Ordering::Relaxed) < cx.rt.gc.flush_epoch.load(Ordering::Acquire) {
        flush_for(cx.rt, p);
    }
}

/// Starts a ragged barrier: every P must flush its write-barrier buffer.
/// Returns the barrier's generation.
pub(crate) fn ragged_start(cx: &mut Ctx) -> u64 {
    let e = cx.rt.gc.flush_epoch.fetch_add(1, Ordering::AcqRel) + 1;
    flush_for(cx.rt, cx.p());
    e
}

/// Has every P acknowledged generation `e`? A P that is not running has
/// flushed when its M gave it up; in deterministic mode the one thread's
/// buffer was flushed by `ragged_start`.
pub(crate) fn ragged_done(cx: &mut Ctx, e: u64) -> bool {
    let s = &cx.rt.sched;
    (0..s.procs() as u32).all(|i| {
        let p = s.p(i);
        p.id == cx.p().id
            || s.is_sim()
            || p.flush_seen.load(Ordering::Acquire) >= e
            || p.status() != crate::sched::PStatus::Running
    })
}
