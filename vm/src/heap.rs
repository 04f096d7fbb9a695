//! The heap: allocation, the all-objects list, byte accounting, interning.
//!
//! Every object is allocated here (with mimalloc underneath, as the global
//! allocator of the binary), linked into the all-objects list at once (so the
//! sweeper can reach it from the moment it exists, DESIGN §2) and charged to
//! `live_bytes`. Allocation never collects: it only raises `gc_pending` when
//! the pacer's trigger is crossed (or on every allocation under `gcstress`).
//! The interpreter collects at its next *allocation safepoint*, where every
//! live value is in a register or a heap slot, so no Rust temporary ever needs
//! rooting.
//!
//! Interned strings (identifiers and string constants of loaded code) are
//! strong roots: property lookup compares their pointers, so one name must
//! keep one address for the life of the VM.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU8};

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

/// Heap statistics and pacing state.
pub struct Heap {
    head: *mut Header,
    /// Free lists of small blocks, by size class (sweep pushes, allocation
    /// pops: recycling within the VM is cheaper than a malloc/free pair).
    free_lists: [*mut FreeBlock; CLASSES],
    /// Bytes on the free lists.
    cached: usize,
    /// The collector's grey stack, kept between cycles (empty between them).
    pub(crate) grey: Vec<*mut Header>,
    /// Bytes charged to live-or-not-yet-swept objects.
    pub live_bytes: usize,
    /// Object count.
    pub objects: usize,
    /// Collect when `live_bytes` reaches this.
    pub trigger: usize,
    /// The pacer's goal for this cycle (reported by memstats).
    pub goal: usize,
    pub gc_percent: Option<u32>,
    pub max_heap: Option<usize>,
    pub gcstress: bool,
    /// Print Go's `gctrace` line after each cycle.
    pub gctrace: bool,
    /// The pending cycle was asked for (`runtime.gc()`), not triggered by
    /// the pacer.
    pub forced: bool,
    /// Set by allocation when a collection is due.
    pub gc_pending: bool,
    /// The mark epoch (see `gc`).
    pub epoch: u8,
    pub total_alloc: u64,
    pub num_gc: u64,
    pub pause_total_ns: u64,
    pub last_pause_ns: u64,
    /// Time spent collecting, for `gc_cpu_fraction`.
    pub gc_ns_total: u64,
    pub started: std::time::Instant,
    pub retired: Mutex<Vec<Retired>>,
    pub interned: HashMap<Box<[u8]>, Value, FxBuild>,
}

// SAFETY: the raw list head is only touched by the thread that owns the heap
// (the stop-the-world collector runs with every mutator stopped).
unsafe impl Send for Heap {}

impl Heap {
    pub fn new(gc_percent: Option<u32>, max_heap: Option<usize>, gcstress: bool) -> Heap {
        let mut h = Heap {
            head: std::ptr::null_mut(),
            free_lists: [std::ptr::null_mut(); CLASSES],
            cached: 0,
            grey: Vec::new(),
            live_bytes: 0,
            objects: 0,
            trigger: 0,
            goal: 0,
            gc_percent,
            max_heap,
            gcstress,
            gctrace: false,
            forced: false,
            gc_pending: false,
            epoch: 1,
            total_alloc: 0,
            num_gc: 0,
            pause_total_ns: 0,
            last_pause_ns: 0,
            gc_ns_total: 0,
            started: std::time::Instant::now(),
            retired: Mutex::new(Vec::new()),
            interned: HashMap::default(),
        };
        h.set_goal(0);
        h
    }

    /// Sets the pacer's goal and trigger from the live heap after a cycle:
    /// `goal = max(live * (1 + GOGC/100), MIN_HEAP * GOGC/100)`. The
    /// stop-the-world collector triggers at the goal itself; `--max-heap`
    /// caps the trigger so the limit is checked by a collection first.
    pub fn set_goal(&mut self, live: usize) {
        self.goal = match self.gc_percent {
            Some(p) => {
                let p = p as usize;
                (live + live / 100 * p).max(MIN_HEAP / 100 * p.max(1))
            }
            None => usize::MAX,
        };
        self.trigger = self.goal;
        if let Some(max) = self.max_heap {
            self.trigger = self.trigger.min(max);
        }
    }

    #[inline]
    fn charge(&mut self, bytes: usize) {
        self.live_bytes += bytes;
        self.total_alloc += bytes as u64;
        if self.live_bytes >= self.trigger || self.gcstress {
            self.gc_pending = true;
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
    pub fn adjust(&mut self, obj: Value, delta: isize) {
        if delta == 0 {
            return;
        }
        // SAFETY: `obj` is a live object.
        let h = unsafe { &*obj.as_obj() };
        let size = h.size.load(std::sync::atomic::Ordering::Relaxed) as isize;
        h.size.store(
            (size + delta).clamp(0, u32::MAX as isize) as u32,
            std::sync::atomic::Ordering::Relaxed,
        );
        if delta > 0 {
            self.charge(delta as usize);
        } else {
            self.live_bytes = self.live_bytes.saturating_sub((-delta) as usize);
        }
    }

    /// Puts replaced storage on the retire list (freed at the next
    /// stop-the-world point).
    pub fn retire(&mut self, r: Option<Retired>) {
        if let Some(r) = r {
            self.retired.get_mut().push(r);
        }
    }

    /// Allocates an object with `extra` bytes of owned storage.
    pub fn alloc<T>(&mut self, kind: Kind, body: T, extra: usize) -> Value {
        let size = std::mem::size_of::<Obj<T>>() + extra;
        let p = self.alloc_mem(std::mem::size_of::<Obj<T>>()) as *mut Obj<T>;
        // SAFETY: `p` is a fresh allocation of the object's size with
        // mimalloc's 16-byte alignment, which covers `Obj<T>`.
        unsafe {
            p.write(Obj {
                header: Header {
                    kind,
                    mark: AtomicU8::new(self.epoch),
                    size: AtomicU32::new(size.min(u32::MAX as usize) as u32),
                    next: self.head,
                },
                body,
            })
        };
        let p = p as *mut Header;
        self.head = p;
        self.objects += 1;
        self.charge(size);
        Value::object(p)
    }

    /// Bytes of a list object whose inline first block has `cap` slots.
    #[inline(always)]
    pub fn list_size(cap: usize) -> usize {
        LIST_BLOCK_OFFSET + std::mem::size_of::<ListBlock>() + cap * 8
    }

    /// A new list holding `items`, in one allocation: the object and its
    /// first block (sized exactly) are laid out together.
    pub fn alloc_list(&mut self, items: &[Value]) -> Value {
        let cap = items.len();
        let size = Self::list_size(cap);
        let p = self.alloc_mem(size);
        // SAFETY: `p` is a fresh allocation of `size` bytes: the object at
        // offset 0, the block at `LIST_BLOCK_OFFSET`; both are fully
        // initialised here before the object is published on the
        // all-objects list.
        unsafe {
            let block = p.add(LIST_BLOCK_OFFSET) as *mut ListBlock;
            ListBlock::init_with(block, items, true);
            (p as *mut Obj<List>).write(Obj {
                header: Header {
                    kind: Kind::List,
                    mark: AtomicU8::new(self.epoch),
                    size: AtomicU32::new(size.min(u32::MAX as usize) as u32),
                    next: self.head,
                },
                body: List {
                    block: std::sync::atomic::AtomicPtr::new(block),
                },
            });
        }
        self.head = p as *mut Header;
        self.objects += 1;
        self.charge(size);
        Value::object(p as *mut Header)
    }

    /// A new (not interned) string.
    pub fn string(&mut self, bytes: &[u8]) -> Value {
        self.string_parts(&[bytes])
    }

    /// Bytes of a string object holding `len` bytes.
    #[inline(always)]
    pub fn string_size(len: usize) -> usize {
        std::mem::size_of::<Obj<Str>>() + len
    }

    /// A new string whose bytes are `parts` concatenated, written straight
    /// into the new object (concatenation needs no intermediate buffer).
    pub fn string_parts(&mut self, parts: &[&[u8]]) -> Value {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let size = Self::string_size(len);
        let p = self.alloc_mem(size);
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
            std::ptr::addr_of_mut!((*obj).header).write(Header {
                kind: Kind::String,
                mark: AtomicU8::new(self.epoch),
                size: AtomicU32::new(size.min(u32::MAX as usize) as u32),
                next: self.head,
            });
            std::ptr::addr_of_mut!((*obj).body).write(Str::new_header(len));
        }
        self.head = p as *mut Header;
        self.objects += 1;
        self.charge(size);
        Value::object(p as *mut Header)
    }

    /// The interned string with these bytes (created on first use).
    pub fn intern(&mut self, bytes: &[u8]) -> Value {
        if let Some(v) = self.interned.get(bytes) {
            return *v;
        }
        let v = self.string(bytes);
        self.interned.insert(bytes.into(), v);
        v
    }

    /// Iterates the all-objects list.
    pub(crate) fn head(&self) -> *mut Header {
        self.head
    }
    pub(crate) fn set_head(&mut self, h: *mut Header) {
        self.head = h;
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        let mut p = self.head;
        while !p.is_null() {
            // SAFETY: every object on the list was allocated by `alloc` and is
            // freed exactly once, here or by the sweeper (which unlinks it).
            let next = unsafe { (*p).next };
            // SAFETY: as above; the memory came from `raw::alloc`.
            unsafe {
                crate::gc::drop_object(p);
                crate::raw::free(p as *mut u8);
            }
            p = next;
        }
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
        }
        for r in self.retired.get_mut().drain(..) {
            // SAFETY: the heap is being dropped; no mutator remains.
            unsafe { r.free() };
        }
    }
}
