//! The heap: Go's span heap (`mheap`, `mspan`, `mcentral`, `mcache`),
//! byte accounting, interning.
//!
//! Memory comes from the system in 64 MiB arenas (`arena`), is handed out
//! in runs of 8 KiB pages (`mheap`) to spans (`span`) that each hold
//! objects of one size class (`sizeclass`). Each P owns an [`Mcache`]
//! holding one span per span class; spans it has used up go to their
//! class's central lists (`central`), where the sweeper finds them.
//!
//! Steps of one allocation:
//! 1. Round the object's size up to its size class, and take the next free
//!    slot of the mcache's span for that class (`Span::next_free`: count
//!    trailing zeros of a cached bitmap word, no lock). When the span is
//!    full, hand it to its central list and take another one with a free
//!    slot (`central::cache_span`: a swept partial span, else one swept on
//!    the spot, else fresh pages). Objects over 32 KiB get a span of
//!    their own from the page heap.
//! 2. Write the header (kind, bytes charged) and the body. While the
//!    collector marks, set the object's mark bit (allocate black) and
//!    shade what it was initialised with.
//! 3. Charge the bytes (the slot's size plus any owned storage) to the
//!    P's local count; every [`FLUSH_BYTES`] (or on every allocation under
//!    `gcstress`) publish the count to the shared `live_bytes` and, in
//!    [`Mcache::flush`]: add the bytes to the P's assist debt while the
//!    collector marks, sweep a few spans while a sweep is pending
//!    (proportional sweeping), and ask the pacer for a cycle when its
//!    paced heap crosses the trigger (`gc::pacer`).
//!
//! Allocation never starts a cycle or marks by itself: it only raises
//! requests, which the interpreter acts on at its next *allocation
//! safepoint* (`gc::safepoint`: wake the collector's coordinator, pay the
//! assist debt, enforce `--max-heap`). There every live value is in a
//! register or a heap slot, so no Rust temporary ever needs rooting.
//!
//! Interned strings (identifiers and string constants of loaded code) are
//! strong roots: property lookup compares their pointers, so one name must
//! keep one address for the life of the VM.
//!
//! Invariants: a P's mcache (and the spans it holds) is touched only by the
//! thread that owns the P, or by the collector while the world is stopped;
//! at mark termination every mcache gives its spans back (`release_all`),
//! so the sweeper can reach every span; shared counters are atomics or sit
//! behind a lock.

pub mod arena;
pub mod central;
pub mod mheap;
pub mod sizeclass;
pub mod span;
pub mod spanalloc;

use std::collections::HashMap;
use std::sync::atomic::{AtomicIsize, AtomicU32, AtomicU64, AtomicU8, Ordering};

use self::central::Central;
use self::mheap::Mheap;
use self::sizeclass::{MAX_SMALL, NUM_CLASSES, PAGE_SIZE};
use self::span::{Span, SpanClass};

use parking_lot::Mutex;

use crate::map::FxBuild;
use crate::object::*;
use crate::value::Value;

/// Where a list object's inline first block starts (right after the object;
/// both are 8-byte aligned, so no padding is needed).
pub const LIST_BLOCK_OFFSET: usize = std::mem::size_of::<Obj<List>>();
const _: () = assert!(LIST_BLOCK_OFFSET.is_multiple_of(std::mem::align_of::<ListBlock>()));

/// Fields an instance's inline table holds at least: as many as a table's
/// first separate block would (`Table::insert`), which covers most objects.
pub const INSTANCE_FIELDS: usize = 4;

/// Bytes an mcache charges locally before publishing them to the shared
/// count: small enough that the pacer's trigger is exact to within a few
/// objects per P next to the 4 MiB minimum heap, large enough that the shared
/// atomic is touched once per hundreds of allocations.
pub const FLUSH_BYTES: isize = 16 << 10;

/// The smallest change of the heap that a trace's heap sample records: a
/// quarter of a MiB, well under the 4 MiB minimum heap goal.
const HEAP_SAMPLE_MIN: u64 = 256 << 10;

/// GC statistics written only by the collector (with the world stopped).
#[derive(Default, Clone, Copy)]
pub struct GcStats {
    pub(crate) num_gc: u64,
    pub(crate) pause_total_ns: u64,
    pub(crate) last_pause_ns: u64,
    /// The longest stop-the-world pause so far.
    pub(crate) max_pause_ns: u64,
    /// Time spent collecting, for `gc_cpu_fraction`.
    pub(crate) gc_ns_total: u64,
}

/// The shared heap: the page heap, the central span lists, the sweep
/// generation, byte and object counters, statistics, interning, retired
/// storage. (Pacing lives in `gc::pacer`, the sweep's progress in
/// `gc::sweep`.)
pub struct Heap {
    /// The page heap.
    pub(crate) mheap: Mheap,
    /// One set of central lists per span class.
    pub(crate) central: Box<[Central]>,
    /// The sweep generation (see `span`): grows by 2 at every mark
    /// termination, with the world stopped.
    pub(crate) sweepgen: AtomicU32,
    /// Bytes charged to live-or-not-yet-swept objects, as published by the
    /// mcaches (each may hold up to `FLUSH_BYTES` more).
    pub(crate) live_bytes: AtomicIsize,
    /// Object count, as published by the mcaches.
    pub(crate) objects: AtomicIsize,
    /// Runtime memory outside objects (goroutine descriptors and stacks,
    /// channel buffers and wait queues), as published by the mcaches: it
    /// counts against `--max-heap` but not in the pacer's heap, so GC
    /// pacing (and its traces) depend on objects alone.
    pub(crate) runtime_bytes: AtomicIsize,
    /// Bytes allocated since the VM started, as published by the mcaches.
    pub(crate) total_alloc: AtomicU64,
    /// Bytes of slots that may hold references, handed out since the VM
    /// started: a scannable span's free slots when an mcache takes it, and
    /// a large scannable object's pages (Go's `heapScan`, kept per span
    /// rather than per object, so it runs ahead by at most a span a class
    /// per P). The pacer's worst case for a mark's scan work.
    pub(crate) scan_alloc: AtomicU64,
    pub(crate) stats: Mutex<GcStats>,
    /// The heap size last sampled for the trace (`Mcache::sample_heap`).
    pub(crate) trace_sampled: AtomicU64,
    pub(crate) retired: Mutex<Vec<Retired>>,
    pub(crate) interned: Mutex<HashMap<Box<[u8]>, Value, FxBuild>>,
}

/// Span classes: every size class, with and without objects to drop.
pub const NUM_SPAN_CLASSES: usize = NUM_CLASSES * 2;

/// A P's allocation cache: one span per span class to allocate from, and
/// bytes not yet published to the shared heap.
pub struct Mcache {
    /// The span each class allocates from (null until the first
    /// allocation, and after `release_all`).
    alloc: [*mut Span; NUM_SPAN_CLASSES],
    /// Bytes charged here and not yet added to `Heap::live_bytes`.
    pub(crate) unflushed: isize,
    /// Runtime memory charged here and not yet added to
    /// `Heap::runtime_bytes`.
    unflushed_runtime: isize,
    /// Objects allocated here and not yet added to `Heap::objects`.
    pub(crate) unflushed_objects: isize,
    /// Bytes allocated here and not yet added to `Heap::total_alloc`.
    unflushed_total: u64,
    /// Bytes allocated while marking that this P's goroutines have not
    /// paid for with mark work yet (`gc::pacer`).
    pub(crate) assist_debt: isize,
    /// The next allocation safepoint should call the collector (assist).
    pub(crate) poll: bool,
    /// Runtime memory took the footprint over `--max-heap`: the next `go`
    /// (which makes no object, so is no allocation safepoint) checks the
    /// limit too.
    pub(crate) over_limit: bool,
    /// A heap sample for the trace (`HeapAlloc live=`), taken at a flush
    /// and recorded at the next allocation safepoint (a flush has no
    /// context to trace from).
    pub(crate) trace_heap: Option<u64>,
}

// SAFETY: an mcache is used by one thread at a time (its P's owner, or the
// collector while the world is stopped).
unsafe impl Send for Mcache {}

impl Default for Mcache {
    fn default() -> Self {
        Mcache::new()
    }
}

impl Default for Heap {
    fn default() -> Self {
        Heap::new()
    }
}

impl Heap {
    pub fn new() -> Heap {
        Heap {
            mheap: Mheap::default(),
            central: (0..NUM_SPAN_CLASSES).map(|_| Central::default()).collect(),
            // Starts at 2 so that "sweepgen - 2" never wraps.
            sweepgen: AtomicU32::new(2),
            live_bytes: AtomicIsize::new(0),
            objects: AtomicIsize::new(0),
            runtime_bytes: AtomicIsize::new(0),
            total_alloc: AtomicU64::new(0),
            scan_alloc: AtomicU64::new(0),
            stats: Mutex::new(GcStats::default()),
            trace_sampled: AtomicU64::new(0),
            retired: Mutex::new(Vec::new()),
            interned: Mutex::new(HashMap::default()),
        }
    }

    /// The current sweep generation.
    #[inline]
    pub(crate) fn sweepgen(&self) -> u32 {
        self.sweepgen.load(Ordering::Acquire)
    }

    /// The published live bytes (never negative).
    pub fn live(&self) -> usize {
        self.live_bytes.load(Ordering::Relaxed).max(0) as usize
    }

    /// What `--max-heap` bounds: the live objects plus the runtime memory
    /// outside them (see `runtime_bytes`).
    pub fn footprint(&self) -> usize {
        self.live() + self.runtime_bytes.load(Ordering::Relaxed).max(0) as usize
    }

    /// Bytes allocated since the VM started (as published).
    pub fn total_alloc(&self) -> u64 {
        self.total_alloc.load(Ordering::Relaxed)
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
}

impl Mcache {
    pub fn new() -> Mcache {
        Mcache {
            alloc: [std::ptr::null_mut(); NUM_SPAN_CLASSES],
            unflushed: 0,
            unflushed_objects: 0,
            unflushed_runtime: 0,
            unflushed_total: 0,
            assist_debt: 0,
            poll: false,
            over_limit: false,
            trace_heap: None,
        }
    }

    #[inline]
    fn charge(&mut self, rt: &crate::Runtime, bytes: usize) {
        self.unflushed += bytes as isize;
        self.unflushed_total += bytes as u64;
        if self.unflushed >= FLUSH_BYTES || rt.gc.pacer.gcstress {
            self.flush(rt);
        }
    }

    /// Charges `bytes` of runtime memory that belong to no object (see
    /// `Ctx::charge_memory`); published every [`FLUSH_BYTES`], when the
    /// next safepoint is asked to check `--max-heap` if it is exceeded.
    pub(crate) fn charge_memory(&mut self, rt: &crate::Runtime, bytes: usize) {
        self.unflushed_runtime += bytes as isize;
        if self.unflushed_runtime >= FLUSH_BYTES {
            self.flush_runtime(rt);
        }
    }

    /// Gives back `bytes` charged with `charge_memory`.
    pub(crate) fn release_memory(&mut self, bytes: usize) {
        self.unflushed_runtime -= bytes as isize;
    }

    /// Publishes the runtime memory charged here.
    fn flush_runtime(&mut self, rt: &crate::Runtime) {
        rt.heap.runtime_bytes.fetch_add(
            std::mem::take(&mut self.unflushed_runtime),
            Ordering::Relaxed,
        );
        if rt.gc.pacer.over_max_heap(rt.heap.footprint()) {
            self.poll = true;
            self.over_limit = true;
        }
    }

    /// Publishes this cache's counts to the shared heap, charges assist
    /// debt while the collector marks, sweeps a chunk while a sweep is
    /// pending, and asks for a cycle when the pacer's trigger is crossed.
    #[cold]
    #[inline(never)]
    pub fn flush(&mut self, rt: &crate::Runtime) {
        let heap = &rt.heap;
        if self.unflushed_runtime != 0 {
            self.flush_runtime(rt);
        }
        heap.live_bytes.fetch_add(self.unflushed, Ordering::Relaxed);
        heap.objects
            .fetch_add(self.unflushed_objects, Ordering::Relaxed);
        let total = heap
            .total_alloc
            .fetch_add(self.unflushed_total, Ordering::Relaxed)
            + self.unflushed_total;
        let grew = self.unflushed > 0;
        if grew && rt.gc.marking() {
            self.assist_debt += self.unflushed;
            self.poll = true;
        }
        // Proportional sweeping: a chunk of the unswept heap for every
        // flush of allocation, so the sweep ends well before the trigger.
        if grew && rt.gc.sweeper.pending() {
            crate::gc::sweep::sweep_chunk(rt);
        }
        self.unflushed = 0;
        self.unflushed_objects = 0;
        self.unflushed_total = 0;
        if grew && rt.gc.pacer.trigger_reached_at(total) {
            rt.gc.pacer.request(false);
        }
        if rt.sched.tracing.load(Ordering::Relaxed) {
            self.sample_heap(rt);
        }
    }

    /// While tracing, takes a heap sample when the heap has moved by a
    /// step since the last one (any P's): at least [`HEAP_SAMPLE_MIN`], or
    /// a 32nd of the heap, so a run records some hundreds of samples per
    /// cycle rather than one per flush.
    fn sample_heap(&mut self, rt: &crate::Runtime) {
        let heap = &rt.heap;
        let live = heap.live_bytes.load(Ordering::Relaxed).max(0) as u64;
        let last = heap.trace_sampled.load(Ordering::Relaxed);
        let step = HEAP_SAMPLE_MIN.max(last / 32);
        if live.abs_diff(last) >= step
            && heap
                .trace_sampled
                .compare_exchange(last, live, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.trace_heap = Some(live);
        }
    }

    /// A slot for an object of `size` bytes, and the bytes the slot takes
    /// (its size class's size, or whole pages for a large object).
    /// `noscan`: the object references nothing (see `span::SpanClass`).
    #[inline(always)]
    fn alloc_mem(&mut self, rt: &crate::Runtime, size: usize, noscan: bool) -> (*mut u8, usize) {
        if size <= MAX_SMALL {
            let c = sizeclass::class_of(size);
            let sc = SpanClass::new(c, noscan);
            let s = self.alloc[sc.index()];
            if !s.is_null() {
                // SAFETY: the mcache owns the spans it holds.
                let span = unsafe { &*s };
                // SAFETY: as above.
                if let Some(p) = unsafe { span.next_free() } {
                    // The span's slot size, already loaded by `next_free`.
                    return (p, span.elemsize);
                }
            }
            return self.refill(rt, sc);
        }
        self.alloc_large(rt, size, noscan)
    }

    /// Replaces class `sc`'s used-up span with one that has a free slot,
    /// and allocates from it.
    #[cold]
    #[inline(never)]
    fn refill(&mut self, rt: &crate::Runtime, sc: SpanClass) -> (*mut u8, usize) {
        let old = std::mem::replace(&mut self.alloc[sc.index()], std::ptr::null_mut());
        if !old.is_null() {
            rt.heap.central[sc.index()].push(old, rt.heap.sweepgen());
        }
        let s = central::cache_span(rt, sc);
        self.alloc[sc.index()] = s;
        // SAFETY: `cache_span` hands over a span with a free slot, now
        // owned by this mcache.
        let span = unsafe { &*s };
        if !sc.noscan() {
            // SAFETY: as above, this mcache owns the span.
            let free = span.nelems - unsafe { span.alloc_count() };
            rt.heap
                .scan_alloc
                .fetch_add((free * span.elemsize) as u64, Ordering::Relaxed);
        }
        // SAFETY: as above, this mcache owns the span.
        let p = unsafe { span.next_free() }.expect("cache_span returned a full span");
        (p, span.elemsize)
    }

    /// A large object's own span.
    #[cold]
    #[inline(never)]
    fn alloc_large(&mut self, rt: &crate::Runtime, size: usize, noscan: bool) -> (*mut u8, usize) {
        let sc = SpanClass::new(0, noscan);
        let heap = &rt.heap;
        let sg = heap.sweepgen();
        let npages = size.div_ceil(PAGE_SIZE);
        crate::gc::sweep::reclaim(rt, npages);
        let s = heap.mheap.alloc_span(npages, sc, sg, rt.gc.greentea);
        // SAFETY: the span is fresh and owned here until it goes to its
        // central list, right after its one slot is taken.
        let span = unsafe { &*s };
        // SAFETY: as above.
        let p = unsafe { span.next_free() }.expect("a fresh span has a free slot");
        let bytes = span.elemsize;
        if !noscan {
            heap.scan_alloc.fetch_add(bytes as u64, Ordering::Relaxed);
        }
        heap.central[sc.index()].push(s, sg);
        (p, bytes)
    }

    /// Gives every span this mcache holds back to its central list (mark
    /// termination, with the world stopped, so that the sweeper reaches
    /// them; or a P being destroyed).
    pub(crate) fn release_all(&mut self, heap: &Heap) {
        let sg = heap.sweepgen();
        for (i, s) in self.alloc.iter_mut().enumerate() {
            if !s.is_null() {
                heap.central[i].push(std::mem::replace(s, std::ptr::null_mut()), sg);
            }
        }
    }

    /// Adjusts accounting when an object's owned storage grows or shrinks.
    /// The object is marked as owning storage (`span::Span::set_owns_index`),
    /// so the sweep drops it and reads its size.
    pub fn adjust(&mut self, rt: &crate::Runtime, obj: Value, delta: isize) {
        if delta == 0 {
            return;
        }
        set_owns(obj.as_obj());
        // SAFETY: `obj` is a live object.
        let h = unsafe { &*obj.as_obj() };
        let size = h.size.load(Ordering::Relaxed) as isize;
        h.size.store(
            (size + delta).clamp(0, u32::MAX as isize) as u32,
            Ordering::Relaxed,
        );
        if delta > 0 {
            self.charge(rt, delta as usize);
        } else {
            self.unflushed += delta;
        }
    }

    #[inline(always)]
    fn header(kind: Kind, size: usize) -> Header {
        Header {
            kind,
            lock: AtomicU8::new(0),
            cmark: AtomicU8::new(0),
            size: AtomicU32::new(size.min(u32::MAX as usize) as u32),
        }
    }

    #[inline(always)]
    fn publish(&mut self, rt: &crate::Runtime, p: *mut Header, size: usize) -> Value {
        // Allocate black: while the collector marks, a new object is
        // marked, and what it was initialised with is shaded.
        if crate::gc::barrier_enabled() && rt.gc.marking() {
            crate::gc::mark::mark_new(p, rt.gc.greentea);
            crate::gc::shade_children(p);
        }
        self.unflushed_objects += 1;
        self.charge(rt, size);
        Value::object(p)
    }

    /// The interned string with these bytes (created here on first use).
    pub fn intern(&mut self, rt: &crate::Runtime, bytes: &[u8]) -> Value {
        let mut t = rt.heap.interned.lock();
        if let Some(v) = t.get(bytes) {
            return *v;
        }
        let v = self.string(rt, bytes);
        t.insert(bytes.into(), v);
        v
    }

    /// Allocates an object with `extra` bytes of owned storage.
    pub fn alloc<T>(&mut self, rt: &crate::Runtime, kind: Kind, body: T, extra: usize) -> Value {
        debug_assert!(kind != Kind::String, "strings are made by `string_parts`");
        let (p, slot) = self.alloc_mem(rt, std::mem::size_of::<Obj<T>>(), false);
        if std::mem::needs_drop::<T>() || extra > 0 {
            set_owns(p as *mut Header);
        }
        let p = p as *mut Obj<T>;
        let size = slot + extra;
        let header = Self::header(kind, size);
        // SAFETY: `p` is a fresh slot of at least the object's size, 8-byte
        // aligned (slots are multiples of 8 from a page boundary), which
        // covers `Obj<T>`.
        unsafe { p.write(Obj { header, body }) };
        self.publish(rt, p as *mut Header, size)
    }

    /// A new instance of `class` in one slot: the object, then its first
    /// field table block (room for as many fields as the class's instances
    /// have had, at least [`INSTANCE_FIELDS`]). An instance whose fields
    /// fit owns nothing outside its slot, so its sweep is bitmap work only.
    pub fn alloc_instance(&mut self, rt: &crate::Runtime, class: Value) -> Value {
        let c = as_class(class).expect("alloc_instance needs a class");
        let cap = (c.field_hint.load(Ordering::Relaxed) as usize).max(INSTANCE_FIELDS);
        let at = std::mem::size_of::<Obj<Instance>>();
        let (p, size) = self.alloc_mem(rt, at + TableBlock::size(cap), false);
        let header = Self::header(Kind::Instance, size);
        // SAFETY: `p` is a fresh slot holding the object at offset 0 and the
        // table block at `at` (8-byte aligned, as both need); both are
        // initialised here before the object is published.
        unsafe {
            let block = p.add(at) as *mut TableBlock;
            TableBlock::init(block, cap, true);
            (p as *mut Obj<Instance>).write(Obj {
                header,
                body: Instance {
                    class: class.as_obj() as *const Obj<Class>,
                    fields: Table::with_block(block),
                },
            });
        }
        self.publish(rt, p as *mut Header, size)
    }

    /// A new list holding `items`, in one allocation: the object and its
    /// first block (sized exactly) are laid out together.
    pub fn alloc_list(&mut self, rt: &crate::Runtime, items: &[Value]) -> Value {
        // SAFETY: `init_with` initialises a block of `items.len()` slots.
        unsafe { self.new_list(rt, items.len(), |b| ListBlock::init_with(b, items, true)) }
    }

    /// A new list of `n` nils, in one allocation, for a native that fills
    /// it in place (`strings.split`) rather than gathering the values in a
    /// vector first.
    pub fn alloc_list_nils(&mut self, rt: &crate::Runtime, n: usize) -> Value {
        // SAFETY: `init_nils` initialises a block of `n` slots.
        unsafe { self.new_list(rt, n, |b| ListBlock::init_nils(b, n, true)) }
    }

    /// A list object and its inline first block of `cap` slots in one
    /// slot; `init` initialises the block.
    ///
    /// # Safety
    /// `init` initialises the whole block of `cap` slots it is given, as
    /// an inline block.
    #[inline(always)]
    unsafe fn new_list(
        &mut self,
        rt: &crate::Runtime,
        cap: usize,
        init: impl FnOnce(*mut ListBlock),
    ) -> Value {
        let (p, size) = self.alloc_mem(rt, Heap::list_size(cap), false);
        let header = Self::header(Kind::List, size);
        // SAFETY: `p` is a fresh slot of at least the object's bytes: the
        // object at offset 0, the block at `LIST_BLOCK_OFFSET`; both are
        // fully initialised here (the block by `init`, as the caller
        // guarantees) before the object is published.
        unsafe {
            let block = p.add(LIST_BLOCK_OFFSET) as *mut ListBlock;
            init(block);
            (p as *mut Obj<List>).write(Obj {
                header,
                body: List {
                    block: std::sync::atomic::AtomicPtr::new(block),
                },
            });
        }
        self.publish(rt, p as *mut Header, size)
    }

    /// A new (not interned) string.
    pub fn string(&mut self, rt: &crate::Runtime, bytes: &[u8]) -> Value {
        self.string_parts(rt, &[bytes])
    }

    /// A new string whose bytes are `parts` concatenated, written straight
    /// into the new object (concatenation needs no intermediate buffer).
    pub fn string_parts(&mut self, rt: &crate::Runtime, parts: &[&[u8]]) -> Value {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let write = |data: *mut u8| {
            let mut at = 0;
            for part in parts {
                // SAFETY: `data` has room for `len` bytes, the parts' sum,
                // and a fresh slot does not overlap a live string.
                unsafe { copy_bytes(part.as_ptr(), data.add(at), part.len()) };
                at += part.len();
            }
        };
        // SAFETY: `write` writes all `len` bytes.
        unsafe { self.new_string(rt, len, write) }
    }

    /// A new string of `len` bytes written by `fill` straight into the new
    /// object (the bytes start zeroed), for results whose pieces are many
    /// (`strings.join`): no list of pieces, no intermediate buffer.
    pub fn string_with(
        &mut self,
        rt: &crate::Runtime,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Value {
        let write = |data: *mut u8| {
            // SAFETY: `data` has room for `len` bytes, zeroed here before
            // `fill` sees them.
            unsafe {
                std::ptr::write_bytes(data, 0, len);
                fill(std::slice::from_raw_parts_mut(data, len));
            }
        };
        // SAFETY: `write` writes all `len` bytes.
        unsafe { self.new_string(rt, len, write) }
    }

    /// A string object of `len` bytes whose text `write` puts at the
    /// pointer it is given.
    ///
    /// # Safety
    /// `write` initialises all `len` bytes at the pointer.
    #[inline(always)]
    unsafe fn new_string(
        &mut self,
        rt: &crate::Runtime,
        len: usize,
        write: impl FnOnce(*mut u8),
    ) -> Value {
        let (p, size) = self.alloc_mem(rt, Heap::string_size(len), true);
        let header = Self::header(Kind::String, size);
        // SAFETY: `p` is a fresh slot of at least the object's bytes: the
        // object (header, hash, length) then `len` bytes of text (written by
        // `write`, as the caller guarantees), all before the object is
        // published.
        unsafe {
            write(p.add(std::mem::size_of::<Obj<Str>>()));
            let obj = p as *mut Obj<Str>;
            std::ptr::addr_of_mut!((*obj).header).write(header);
            std::ptr::addr_of_mut!((*obj).body).write(Str::new_header(len));
        }
        self.publish(rt, p as *mut Header, size)
    }

    /// Takes over the counts of a P being destroyed, whose spans go back
    /// to their central lists (world stopped).
    pub(crate) fn absorb(&mut self, heap: &Heap, other: &mut Mcache) {
        other.release_all(heap);
        self.unflushed += other.unflushed;
        self.unflushed_objects += other.unflushed_objects;
        self.unflushed_total += other.unflushed_total;
        other.unflushed = 0;
        other.unflushed_objects = 0;
        other.unflushed_total = 0;
    }
}

/// Copies `n` bytes from `src` to `dst`. Concatenation copies many short
/// pieces (words, separators), where a call to `memcpy` costs more than the
/// copy: up to 16 bytes are moved here with two loads and two stores of the
/// widest size that fits, overlapping in the middle; longer runs go to
/// `memcpy`.
///
/// # Safety
/// `src` is readable and `dst` writable for `n` bytes, and they do not
/// overlap.
#[inline(always)]
unsafe fn copy_bytes(src: *const u8, dst: *mut u8, n: usize) {
    // SAFETY: in every branch, each access lies within the first `n` bytes
    // of `src` or `dst`, as the caller guarantees.
    unsafe {
        if n > 16 {
            std::ptr::copy_nonoverlapping(src, dst, n);
        } else if n >= 8 {
            let head = src.cast::<u64>().read_unaligned();
            let tail = src.add(n - 8).cast::<u64>().read_unaligned();
            dst.cast::<u64>().write_unaligned(head);
            dst.add(n - 8).cast::<u64>().write_unaligned(tail);
        } else if n >= 4 {
            let head = src.cast::<u32>().read_unaligned();
            let tail = src.add(n - 4).cast::<u32>().read_unaligned();
            dst.cast::<u32>().write_unaligned(head);
            dst.add(n - 4).cast::<u32>().write_unaligned(tail);
        } else if n > 0 {
            // One to three bytes: the first, the middle and the last.
            let (a, b, c) = (*src, *src.add(n / 2), *src.add(n - 1));
            *dst = a;
            *dst.add(n / 2) = b;
            *dst.add(n - 1) = c;
        }
    }
}

/// Marks the object at `p` as owning storage outside its slot, or as
/// charged more than its slot: the sweep drops it and reads its size.
#[inline]
pub(crate) fn set_owns(p: *mut Header) {
    // SAFETY: `p` is a live object of this heap, so its span is in use.
    let (span, idx) = unsafe { arena::slot_of(p) };
    span.set_owns_index(idx);
}

impl Drop for Heap {
    fn drop(&mut self) {
        for r in self.retired.get_mut().drain(..) {
            // SAFETY: the heap is being dropped; no mutator remains.
            unsafe { r.free() };
        }
        // Drop what the objects own, then the span descriptors; the page
        // heap unmaps the arenas after this.
        let mut spans = Vec::new();
        self.mheap.for_each_span(|s| spans.push(s));
        for s in spans {
            // SAFETY: the VM is being dropped: every span in use and every
            // object in it is reached once, here, and nothing else runs.
            // The descriptor's memory goes with the page heap's slab.
            unsafe {
                (*s).for_each_owner(|h| crate::gc::drop_object(h));
                std::ptr::drop_in_place(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::copy_bytes;

    /// Every length up to past the `memcpy` threshold copies exactly its
    /// bytes, at every offset into the destination, and nothing around them.
    #[test]
    fn copy_bytes_copies_exactly_n_bytes() {
        let src: Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            for off in 0..4 {
                let mut dst = vec![0u8; 48];
                // SAFETY: `src` has 40 bytes, `dst` has room for `off + n`,
                // and they are different vectors.
                unsafe { copy_bytes(src.as_ptr(), dst.as_mut_ptr().add(off), n) };
                assert_eq!(&dst[off..off + n], &src[..n], "n={n} off={off}");
                assert!(dst[..off].iter().all(|&b| b == 0), "n={n} off={off}");
                assert!(dst[off + n..].iter().all(|&b| b == 0), "n={n} off={off}");
            }
        }
    }
}
