//! The heap: allocation, the all-objects lists, byte accounting, interning.
//!
//! The heap is shared by every P; allocation itself is P-local (Go's mcache):
//! each P owns an [`Mcache`] with its own free lists, its own all-objects list
//! and its own not-yet-published byte count, so the allocation fast path
//! takes no lock and touches no shared cache line.
//!
//! Steps of one allocation:
//! 1. Take a block of the object's size class from the P's free list (or from
//!    mimalloc when the list is empty).
//! 2. Write the header (kind, the current mark epoch, size) and the body, and
//!    push the object on the P's all-objects list, so the sweeper can reach
//!    it from the moment it exists (DESIGN §2).
//! 3. Charge the bytes to the P's local count; every [`FLUSH_BYTES`] (or on
//!    every allocation under `gcstress`) publish the count to the shared
//!    `live_bytes` and raise `gc_pending` when the paced heap (see
//!    [`Heap::paced_live`]) crosses the pacer's trigger.
//!
//! Allocation never collects: the interpreter collects at its next
//! *allocation safepoint*, where every live value is in a register or a heap
//! slot, so no Rust temporary ever needs rooting.
//!
//! Interned strings (identifiers and string constants of loaded code) are
//! strong roots: property lookup compares their pointers, so one name must
//! keep one address for the life of the VM.
//!
//! Invariants: a P's mcache is touched only by the thread that owns the P,
//! or by the collector while the world is stopped; shared counters are
//! atomics or sit behind a lock.

use std::collections::HashMap;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicIsize, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

use parking_lot::Mutex;

use crate::map::FxBuild;
use crate::object::*;
use crate::value::Value;

/// Go's minimum heap goal (4 MiB at GOGC=100): below it, collecting buys
/// nothing but pauses.
pub const MIN_HEAP: usize = 4 << 20;

/// Small allocations are rounded up to a multiple of this, one free list per
/// multiple (Go's size classes, simplified). Eight bytes matches mimalloc's
/// smallest bins and every object's alignment.
const CLASS_STEP: usize = 8;
/// Largest size served from the free lists; lists, closures, cells,
/// instances and most strings are below it.
const SMALL_MAX: usize = 256;
const CLASSES: usize = SMALL_MAX / CLASS_STEP + 1;
/// Most bytes kept on the free lists; beyond this, freed memory goes back to
/// mimalloc. Big enough to recycle a cycle's garbage for heaps of tens of
/// MiB, small enough not to pin much memory after a burst.
const CACHE_LIMIT: usize = 64 << 20;

/// A freed small block on a free list.
struct FreeBlock {
    next: *mut FreeBlock,
}

/// Where a list object's inline first block starts (right after the object;
/// both are 8-byte aligned, so no padding is needed).
pub const LIST_BLOCK_OFFSET: usize = std::mem::size_of::<Obj<List>>();
const _: () = assert!(LIST_BLOCK_OFFSET.is_multiple_of(std::mem::align_of::<ListBlock>()));

/// Bytes an mcache charges locally before publishing them to the shared
/// count: small enough that the pacer's trigger is exact to within a few
/// objects per P next to the 4 MiB minimum heap, large enough that the shared
/// atomic is touched once per hundreds of allocations.
pub const FLUSH_BYTES: isize = 16 << 10;

/// GC statistics written only by the collector (with the world stopped).
#[derive(Default, Clone, Copy)]
pub struct GcStats {
    pub num_gc: u64,
    pub pause_total_ns: u64,
    pub last_pause_ns: u64,
    /// The longest stop-the-world pause so far.
    pub max_pause_ns: u64,
    /// Time spent collecting, for `gc_cpu_fraction`.
    pub gc_ns_total: u64,
}

/// The shared heap: pacing state, statistics, interning, retired storage.
pub struct Heap {
    /// Bytes charged to live-or-not-yet-swept objects, as published by the
    /// mcaches (each may hold up to `FLUSH_BYTES` more).
    pub live_bytes: AtomicIsize,
    /// Object count, as published by the mcaches.
    pub objects: AtomicIsize,
    pub total_alloc: AtomicU64,
    /// The live heap the last mark found (set at mark termination): the
    /// base of [`Heap::paced_live`].
    pub paced_base: AtomicUsize,
    /// `total_alloc` when `paced_base` was set.
    pub paced_alloc_base: AtomicU64,
    /// Collect when [`Heap::paced_live`] reaches this.
    pub trigger: AtomicUsize,
    /// The pacer's goal for this cycle (reported by memstats).
    pub goal: AtomicUsize,
    /// GOGC; negative means off.
    pub gc_percent: AtomicI64,
    pub max_heap: Option<usize>,
    pub gcstress: bool,
    /// Print Go's `gctrace` line after each cycle.
    pub gctrace: bool,
    /// The pending cycle was asked for (`runtime.gc()`), not triggered by
    /// the pacer.
    pub forced: AtomicBool,
    /// Set by allocation when a collection is due.
    pub gc_pending: AtomicBool,
    /// The mark epoch (see `gc`); changes only with the world stopped.
    pub epoch: AtomicU8,
    pub stats: Mutex<GcStats>,
    pub started: std::time::Instant,
    pub retired: Mutex<Vec<Retired>>,
    pub interned: Mutex<HashMap<Box<[u8]>, Value, FxBuild>>,
    /// True while the collector marks (allocation then charges assist
    /// debt).
    pub marking: AtomicBool,
    /// `gcstoptheworld`: trigger at the goal itself (nothing marks
    /// concurrently, so nothing needs a head start).
    pub stw_trigger: bool,
    /// Object lists waiting to be swept (`gc::sweep`).
    pub(crate) unswept: Mutex<Vec<*mut Header>>,
    /// `unswept` is not empty (read without the lock).
    pub(crate) sweep_pending: AtomicBool,
    /// The epoch the sweep keeps (the mark epoch of the cycle it sweeps).
    pub(crate) sweep_epoch: AtomicU8,
    /// Sweep chunks in progress.
    pub(crate) sweep_active: AtomicUsize,
}

// SAFETY: the raw pointers in `unswept` are segments owned by whichever
// sweeper claims them under the lock; everything else is atomics or locks.
unsafe impl Send for Heap {}
// SAFETY: as above.
unsafe impl Sync for Heap {}

/// A P's allocation cache: free lists, its all-objects list, and bytes not
/// yet published to the shared heap.
pub struct Mcache {
    head: *mut Header,
    /// Free lists of small blocks, by size class (sweep pushes, allocation
    /// pops: recycling within the VM is cheaper than a malloc/free pair).
    free_lists: [*mut FreeBlock; CLASSES],
    /// Bytes on the free lists.
    cached: usize,
    /// Bytes charged here and not yet added to `Heap::live_bytes`.
    pub(crate) unflushed: isize,
    /// Objects allocated here and not yet added to `Heap::objects`.
    pub(crate) unflushed_objects: isize,
    /// Bytes allocated here and not yet added to `Heap::total_alloc`.
    unflushed_total: u64,
    /// Bytes allocated while marking that this P's goroutines have not
    /// paid for with mark work yet (`gc::pacer`).
    pub(crate) assist_debt: isize,
    /// The next allocation safepoint should call the collector (assist).
    pub poll: bool,
}

// SAFETY: an mcache is used by one thread at a time (its P's owner, or the
// collector while the world is stopped).
unsafe impl Send for Mcache {}

impl Default for Mcache {
    fn default() -> Self {
        Mcache::new()
    }
}

impl Heap {
    pub fn new(gc_percent: Option<u32>, max_heap: Option<usize>, gcstress: bool) -> Heap {
        let h = Heap {
            live_bytes: AtomicIsize::new(0),
            objects: AtomicIsize::new(0),
            total_alloc: AtomicU64::new(0),
            paced_base: AtomicUsize::new(0),
            paced_alloc_base: AtomicU64::new(0),
            trigger: AtomicUsize::new(0),
            goal: AtomicUsize::new(0),
            gc_percent: AtomicI64::new(gc_percent.map_or(-1, |p| p as i64)),
            max_heap,
            gcstress,
            gctrace: false,
            forced: AtomicBool::new(false),
            gc_pending: AtomicBool::new(false),
            epoch: AtomicU8::new(1),
            stats: Mutex::new(GcStats::default()),
            started: std::time::Instant::now(),
            retired: Mutex::new(Vec::new()),
            interned: Mutex::new(HashMap::default()),
            marking: AtomicBool::new(false),
            stw_trigger: false,
            unswept: Mutex::new(Vec::new()),
            sweep_pending: AtomicBool::new(false),
            sweep_epoch: AtomicU8::new(0),
            sweep_active: AtomicUsize::new(0),
        };
        h.set_goal(0);
        h
    }

    /// GOGC, `None` when off.
    pub fn gc_percent(&self) -> Option<u32> {
        let p = self.gc_percent.load(Ordering::Relaxed);
        (p >= 0).then_some(p as u32)
    }

    /// The published live bytes (never negative).
    pub fn live(&self) -> usize {
        self.live_bytes.load(Ordering::Relaxed).max(0) as usize
    }

    /// The heap the pacer compares with its trigger (Go's `heapLive`): the
    /// bytes the last mark found live plus every byte allocated since.
    /// Unlike `live_bytes` it leaves out garbage the sweep has not freed
    /// yet, so a cycle is never triggered by the previous cycle's garbage
    /// (which the sweep frees without a collection).
    pub fn paced_live(&self) -> usize {
        self.paced_live_at(self.total_alloc.load(Ordering::Relaxed))
    }

    /// Is a cycle due (the paced heap at the trigger, or `gcstress`)?
    pub fn trigger_reached(&self) -> bool {
        self.trigger_reached_at(self.total_alloc.load(Ordering::Relaxed))
    }

    fn trigger_reached_at(&self, total_alloc: u64) -> bool {
        self.gcstress || self.paced_live_at(total_alloc) >= self.trigger.load(Ordering::Relaxed)
    }

    fn paced_live_at(&self, total_alloc: u64) -> usize {
        let since = total_alloc.saturating_sub(self.paced_alloc_base.load(Ordering::Relaxed));
        self.paced_base.load(Ordering::Relaxed) + since as usize
    }

    /// The live heap the last mark found (0 before the first).
    pub fn last_marked(&self) -> usize {
        self.paced_base.load(Ordering::Relaxed)
    }

    /// Re-bases [`Heap::paced_live`] on the live heap a mark found (world
    /// stopped).
    pub fn set_paced_base(&self, live: usize) {
        self.paced_base.store(live, Ordering::Relaxed);
        self.paced_alloc_base
            .store(self.total_alloc.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// The GOGC goal for a live heap of `live` bytes:
    /// `max(live * (1 + GOGC/100), MIN_HEAP * GOGC/100)`, or `usize::MAX`
    /// when the collector is off.
    pub fn goal_for(&self, live: usize) -> usize {
        match self.gc_percent() {
            Some(p) => {
                let p = p as usize;
                (live + live / 100 * p).max(MIN_HEAP / 100 * p.max(1))
            }
            None => usize::MAX,
        }
    }

    /// Sets the goal from `live` and the trigger at the pacer's initial
    /// ratio of the way there (before the first cycle, and when
    /// `setgcpercent` changes GOGC; the pacer places the trigger after each
    /// cycle), or at the goal under `gcstoptheworld`. A trigger at the goal
    /// itself would leave a concurrent mark no room: the first cycle
    /// overshot its goal 2.5 times in binary_trees. `--max-heap` caps the
    /// trigger so the limit is checked by a collection first.
    pub fn set_goal(&self, live: usize) {
        let goal = self.goal_for(live);
        self.goal.store(goal, Ordering::Relaxed);
        let mut trigger = if self.stw_trigger || goal == usize::MAX {
            goal
        } else {
            live + ((goal - live) as f64 * crate::gc::pacer::TRIGGER_INITIAL) as usize
        };
        if let Some(max) = self.max_heap {
            trigger = trigger.min(max);
        }
        self.trigger.store(trigger, Ordering::Relaxed);
    }

    /// Puts replaced storage on the retire list (freed at the next
    /// stop-the-world point).
    pub fn retire(&self, r: Option<Retired>) {
        if let Some(r) = r {
            self.retired.lock().push(r);
        }
    }

    /// Bytes of a list object whose inline first block has `cap` slots.
    #[inline(always)]
    pub fn list_size(cap: usize) -> usize {
        LIST_BLOCK_OFFSET + std::mem::size_of::<ListBlock>() + cap * 8
    }

    /// Bytes of a string object holding `len` bytes.
    #[inline(always)]
    pub fn string_size(len: usize) -> usize {
        std::mem::size_of::<Obj<Str>>() + len
    }

    /// The interned string with these bytes (created on first use with
    /// `mc`).
    pub fn intern(&self, mc: &mut Mcache, bytes: &[u8]) -> Value {
        let mut t = self.interned.lock();
        if let Some(v) = t.get(bytes) {
            return *v;
        }
        let v = mc.string(self, bytes);
        t.insert(bytes.into(), v);
        v
    }
}

impl Mcache {
    pub fn new() -> Mcache {
        Mcache {
            head: std::ptr::null_mut(),
            free_lists: [std::ptr::null_mut(); CLASSES],
            cached: 0,
            unflushed: 0,
            unflushed_objects: 0,
            unflushed_total: 0,
            assist_debt: 0,
            poll: false,
        }
    }

    #[inline]
    fn charge(&mut self, heap: &Heap, bytes: usize) {
        self.unflushed += bytes as isize;
        self.unflushed_total += bytes as u64;
        if self.unflushed >= FLUSH_BYTES || heap.gcstress {
            self.flush(heap);
        }
    }

    /// Publishes this cache's counts to the shared heap and raises
    /// `gc_pending` when the trigger is crossed.
    #[cold]
    #[inline(never)]
    pub fn flush(&mut self, heap: &Heap) {
        heap.live_bytes.fetch_add(self.unflushed, Ordering::Relaxed);
        heap.objects
            .fetch_add(self.unflushed_objects, Ordering::Relaxed);
        let total = heap
            .total_alloc
            .fetch_add(self.unflushed_total, Ordering::Relaxed)
            + self.unflushed_total;
        let grew = self.unflushed > 0;
        if grew && heap.marking.load(Ordering::Relaxed) {
            self.assist_debt += self.unflushed;
            self.poll = true;
        }
        // Proportional sweeping: a chunk of the unswept heap for every
        // flush of allocation, so the sweep ends well before the trigger.
        if grew && heap.sweep_pending.load(Ordering::Relaxed) {
            crate::gc::sweep::sweep_into(heap, self);
        }
        self.unflushed = 0;
        self.unflushed_objects = 0;
        self.unflushed_total = 0;
        if grew && heap.trigger_reached_at(total) {
            heap.gc_pending.store(true, Ordering::Relaxed);
        }
    }

    /// Memory for an object of `size` bytes: small sizes come from the free
    /// list of their class (or a fresh block of the class's size).
    #[inline]
    fn alloc_mem(&mut self, size: usize) -> *mut u8 {
        if size <= SMALL_MAX {
            let c = size.div_ceil(CLASS_STEP);
            let head = self.free_lists[c];
            if !head.is_null() {
                // SAFETY: blocks on a free list are unused memory of this
                // class whose first word links the list.
                self.free_lists[c] = unsafe { (*head).next };
                self.cached -= c * CLASS_STEP;
                return head as *mut u8;
            }
            return crate::raw::alloc(c * CLASS_STEP);
        }
        crate::raw::alloc(size)
    }

    /// Releases memory of an object of `size` bytes (as passed to
    /// `alloc_mem`).
    ///
    /// # Safety
    /// `p` came from `alloc_mem(size)` and is not used afterwards.
    #[inline]
    pub(crate) unsafe fn free_mem(&mut self, p: *mut u8, size: usize) {
        if size <= SMALL_MAX && self.cached < CACHE_LIMIT {
            let c = size.div_ceil(CLASS_STEP);
            let b = p as *mut FreeBlock;
            // SAFETY: the block is unused and at least 16 bytes long.
            unsafe {
                b.write(FreeBlock {
                    next: self.free_lists[c],
                })
            };
            self.free_lists[c] = b;
            self.cached += c * CLASS_STEP;
        } else {
            // SAFETY: guaranteed by the caller; all sizes come from
            // `raw::alloc`.
            unsafe { crate::raw::free(p) };
        }
    }

    /// Adjusts accounting when an object's owned storage grows or shrinks.
    pub fn adjust(&mut self, heap: &Heap, obj: Value, delta: isize) {
        if delta == 0 {
            return;
        }
        // SAFETY: `obj` is a live object.
        let h = unsafe { &*obj.as_obj() };
        let size = h.size.load(Ordering::Relaxed) as isize;
        h.size.store(
            (size + delta).clamp(0, u32::MAX as isize) as u32,
            Ordering::Relaxed,
        );
        if delta > 0 {
            self.charge(heap, delta as usize);
        } else {
            self.unflushed += delta;
        }
    }

    #[inline(always)]
    fn header(&self, heap: &Heap, kind: Kind, size: usize) -> Header {
        Header {
            kind,
            lock: AtomicU8::new(0),
            mark: AtomicU8::new(heap.epoch.load(Ordering::Relaxed)),
            cmark: AtomicU8::new(0),
            size: AtomicU32::new(size.min(u32::MAX as usize) as u32),
            next: self.head,
        }
    }

    #[inline(always)]
    fn publish(&mut self, heap: &Heap, p: *mut Header, size: usize) -> Value {
        // Allocate black: the object carries the epoch already; what it
        // was initialised with must be shaded while the collector marks.
        if crate::gc::barrier_enabled() {
            crate::gc::shade_children(p);
        }
        self.head = p;
        self.unflushed_objects += 1;
        self.charge(heap, size);
        Value::object(p)
    }

    /// Allocates an object with `extra` bytes of owned storage.
    pub fn alloc<T>(&mut self, heap: &Heap, kind: Kind, body: T, extra: usize) -> Value {
        let size = std::mem::size_of::<Obj<T>>() + extra;
        let p = self.alloc_mem(std::mem::size_of::<Obj<T>>()) as *mut Obj<T>;
        let header = self.header(heap, kind, size);
        // SAFETY: `p` is a fresh allocation of the object's size with
        // mimalloc's 16-byte alignment, which covers `Obj<T>`.
        unsafe { p.write(Obj { header, body }) };
        self.publish(heap, p as *mut Header, size)
    }

    /// A new list holding `items`, in one allocation: the object and its
    /// first block (sized exactly) are laid out together.
    pub fn alloc_list(&mut self, heap: &Heap, items: &[Value]) -> Value {
        let cap = items.len();
        let size = Heap::list_size(cap);
        let p = self.alloc_mem(size);
        let header = self.header(heap, Kind::List, size);
        // SAFETY: `p` is a fresh allocation of `size` bytes: the object at
        // offset 0, the block at `LIST_BLOCK_OFFSET`; both are fully
        // initialised here before the object is published on the
        // all-objects list.
        unsafe {
            let block = p.add(LIST_BLOCK_OFFSET) as *mut ListBlock;
            ListBlock::init_with(block, items, true);
            (p as *mut Obj<List>).write(Obj {
                header,
                body: List {
                    block: std::sync::atomic::AtomicPtr::new(block),
                },
            });
        }
        self.publish(heap, p as *mut Header, size)
    }

    /// A new (not interned) string.
    pub fn string(&mut self, heap: &Heap, bytes: &[u8]) -> Value {
        self.string_parts(heap, &[bytes])
    }

    /// A new string whose bytes are `parts` concatenated, written straight
    /// into the new object (concatenation needs no intermediate buffer).
    pub fn string_parts(&mut self, heap: &Heap, parts: &[&[u8]]) -> Value {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let size = Heap::string_size(len);
        let p = self.alloc_mem(size);
        let header = self.header(heap, Kind::String, size);
        // SAFETY: `p` is a fresh allocation of `size` bytes: the object
        // (header, hash, length) then `len` bytes of text, all written here
        // before the object is published on the all-objects list.
        unsafe {
            let data = p.add(std::mem::size_of::<Obj<Str>>());
            let mut at = 0;
            for part in parts {
                std::ptr::copy_nonoverlapping(part.as_ptr(), data.add(at), part.len());
                at += part.len();
            }
            let obj = p as *mut Obj<Str>;
            std::ptr::addr_of_mut!((*obj).header).write(header);
            std::ptr::addr_of_mut!((*obj).body).write(Str::new_header(len));
        }
        self.publish(heap, p as *mut Header, size)
    }

    /// The head of this cache's all-objects list.
    pub(crate) fn head(&self) -> *mut Header {
        self.head
    }
    pub(crate) fn set_head(&mut self, h: *mut Header) {
        self.head = h;
    }

    /// Moves every object of `other` onto this cache's list (a P being
    /// destroyed hands its objects over); `other`'s free lists are released.
    pub(crate) fn absorb(&mut self, other: &mut Mcache) {
        let mut p = other.head;
        while !p.is_null() {
            // SAFETY: `p` is on `other`'s list; the world is stopped.
            let next = unsafe { (*p).next };
            // SAFETY: as above; relinking keeps every object on one list.
            unsafe { (*p).next = self.head };
            self.head = p;
            p = next;
        }
        other.head = std::ptr::null_mut();
        self.unflushed += other.unflushed;
        self.unflushed_objects += other.unflushed_objects;
        self.unflushed_total += other.unflushed_total;
        other.unflushed = 0;
        other.unflushed_objects = 0;
        other.unflushed_total = 0;
        other.release_free_lists();
    }

    fn release_free_lists(&mut self) {
        for c in 0..CLASSES {
            let mut b = self.free_lists[c];
            while !b.is_null() {
                // SAFETY: free-list blocks came from `raw::alloc` and are
                // unused; each is freed once.
                unsafe {
                    let next = (*b).next;
                    crate::raw::free(b as *mut u8);
                    b = next;
                }
            }
            self.free_lists[c] = std::ptr::null_mut();
        }
        self.cached = 0;
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        for r in self.retired.get_mut().drain(..) {
            // SAFETY: the heap is being dropped; no mutator remains.
            unsafe { r.free() };
        }
        for seg in self.unswept.get_mut().drain(..) {
            let mut p = seg;
            while !p.is_null() {
                // SAFETY: unswept segments hold objects on no other list;
                // each is freed once, here.
                unsafe {
                    let next = (*p).next;
                    crate::gc::drop_object(p);
                    crate::raw::free(p as *mut u8);
                    p = next;
                }
            }
        }
    }
}

impl Drop for Mcache {
    fn drop(&mut self) {
        let mut p = self.head;
        while !p.is_null() {
            // SAFETY: every object on the list was allocated by this cache
            // (or absorbed from another) and is freed exactly once, here or
            // by the sweeper (which unlinks it).
            let next = unsafe { (*p).next };
            // SAFETY: as above; the memory came from `raw::alloc`.
            unsafe {
                crate::gc::drop_object(p);
                crate::raw::free(p as *mut u8);
            }
            p = next;
        }
        self.release_free_lists();
    }
}
