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
//!    it from the moment it exists.
//! 3. Charge the bytes to the P's local count; every [`FLUSH_BYTES`] (or on
//!    every allocation under `gcstress`) publish the count to the shared
//!    `live_bytes` and, in [`Mcache::flush`]: add the bytes to the P's
//!    assist debt while the collector marks, sweep one chunk while a sweep
//!    is pending (proportional sweeping), and ask the pacer for a cycle when
//!    its paced heap crosses the trigger (`gc::pacer`).
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
//! Invariants: a P's mcache is touched only by the thread that owns the P,
//! or by the collector while the world is stopped; shared counters are
//! atomics or sit behind a lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicIsize, AtomicU32, AtomicU64, AtomicU8, Ordering};

use parking_lot::Mutex;

use crate::map::FxBuild;
use crate::object::*;
use crate::value::Value;

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
    pub(crate) num_gc: u64,
    pub(crate) pause_total_ns: u64,
    pub(crate) last_pause_ns: u64,
    /// The longest stop-the-world pause so far.
    pub(crate) max_pause_ns: u64,
    /// Time spent collecting, for `gc_cpu_fraction`.
    pub(crate) gc_ns_total: u64,
}

/// The shared heap: byte and object counters, the mark epoch, statistics,
/// interning, retired storage. (Pacing lives in `gc::pacer`, the sweep's
/// state in `gc::sweep`.)
pub struct Heap {
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
    /// The mark epoch (see `gc`); changes only with the world stopped.
    pub(crate) epoch: AtomicU8,
    pub(crate) stats: Mutex<GcStats>,
    pub(crate) started: std::time::Instant,
    pub(crate) retired: Mutex<Vec<Retired>>,
    pub(crate) interned: Mutex<HashMap<Box<[u8]>, Value, FxBuild>>,
}

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
            live_bytes: AtomicIsize::new(0),
            objects: AtomicIsize::new(0),
            runtime_bytes: AtomicIsize::new(0),
            total_alloc: AtomicU64::new(0),
            epoch: AtomicU8::new(crate::gc::FIRST_EPOCH),
            stats: Mutex::new(GcStats::default()),
            started: std::time::Instant::now(),
            retired: Mutex::new(Vec::new()),
            interned: Mutex::new(HashMap::default()),
        }
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
            head: std::ptr::null_mut(),
            free_lists: [std::ptr::null_mut(); CLASSES],
            cached: 0,
            unflushed: 0,
            unflushed_objects: 0,
            unflushed_runtime: 0,
            unflushed_total: 0,
            assist_debt: 0,
            poll: false,
            over_limit: false,
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
            crate::gc::sweep::sweep_into(rt, self);
        }
        self.unflushed = 0;
        self.unflushed_objects = 0;
        self.unflushed_total = 0;
        if grew && rt.gc.pacer.trigger_reached_at(total) {
            rt.gc.pacer.request(false);
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
    pub fn adjust(&mut self, rt: &crate::Runtime, obj: Value, delta: isize) {
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
            self.charge(rt, delta as usize);
        } else {
            self.unflushed += delta;
        }
    }

    #[inline(always)]
    fn header(&self, rt: &crate::Runtime, kind: Kind, size: usize) -> Header {
        Header {
            kind,
            lock: AtomicU8::new(0),
            mark: AtomicU8::new(rt.heap.epoch.load(Ordering::Relaxed)),
            cmark: AtomicU8::new(0),
            size: AtomicU32::new(size.min(u32::MAX as usize) as u32),
            next: self.head,
        }
    }

    #[inline(always)]
    fn publish(&mut self, rt: &crate::Runtime, p: *mut Header, size: usize) -> Value {
        // Allocate black: the object carries the epoch already; what it
        // was initialised with must be shaded while the collector marks.
        if crate::gc::barrier_enabled() {
            crate::gc::shade_children(p);
        }
        self.head = p;
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
        let size = std::mem::size_of::<Obj<T>>() + extra;
        let p = self.alloc_mem(std::mem::size_of::<Obj<T>>()) as *mut Obj<T>;
        let header = self.header(rt, kind, size);
        // SAFETY: `p` is a fresh allocation of the object's size with
        // mimalloc's 16-byte alignment, which covers `Obj<T>`.
        unsafe { p.write(Obj { header, body }) };
        self.publish(rt, p as *mut Header, size)
    }

    /// A new list holding `items`, in one allocation: the object and its
    /// first block (sized exactly) are laid out together.
    pub fn alloc_list(&mut self, rt: &crate::Runtime, items: &[Value]) -> Value {
        let cap = items.len();
        let size = Heap::list_size(cap);
        let p = self.alloc_mem(size);
        let header = self.header(rt, Kind::List, size);
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
        self.publish(rt, p as *mut Header, size)
    }

    /// A new list of `n` nils, in one allocation, for a native that fills
    /// it in place (`strings.split`) rather than gathering the values in a
    /// vector first.
    pub fn alloc_list_nils(&mut self, rt: &crate::Runtime, n: usize) -> Value {
        let size = Heap::list_size(n);
        let p = self.alloc_mem(size);
        let header = self.header(rt, Kind::List, size);
        // SAFETY: as in `alloc_list`: a fresh allocation of `size` bytes,
        // object and block fully initialised before publication.
        unsafe {
            let block = p.add(LIST_BLOCK_OFFSET) as *mut ListBlock;
            ListBlock::init_nils(block, n, true);
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
        let size = Heap::string_size(len);
        let p = self.alloc_mem(size);
        let header = self.header(rt, Kind::String, size);
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
        self.publish(rt, p as *mut Header, size)
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
        let size = Heap::string_size(len);
        let p = self.alloc_mem(size);
        let header = self.header(rt, Kind::String, size);
        // SAFETY: `p` is a fresh allocation of `size` bytes: the object
        // (header, hash, length) then `len` bytes of text, zeroed before
        // `fill` sees them and all written here before the object is
        // published on the all-objects list.
        unsafe {
            let data = p.add(std::mem::size_of::<Obj<Str>>());
            std::ptr::write_bytes(data, 0, len);
            fill(std::slice::from_raw_parts_mut(data, len));
            let obj = p as *mut Obj<Str>;
            std::ptr::addr_of_mut!((*obj).header).write(header);
            std::ptr::addr_of_mut!((*obj).body).write(Str::new_header(len));
        }
        self.publish(rt, p as *mut Header, size)
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
