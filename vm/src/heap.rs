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

/// Heap statistics and pacing state.
pub struct Heap {
    head: *mut Header,
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
            live_bytes: 0,
            objects: 0,
            trigger: 0,
            goal: 0,
            gc_percent,
            max_heap,
            gcstress,
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
        let obj = Box::new(Obj {
            header: Header {
                kind,
                mark: AtomicU8::new(self.epoch),
                size: AtomicU32::new(size.min(u32::MAX as usize) as u32),
                next: self.head,
            },
            body,
        });
        let p = Box::into_raw(obj) as *mut Header;
        self.head = p;
        self.objects += 1;
        self.charge(size);
        Value::object(p)
    }

    /// The layout of a list object whose inline first block has `cap` slots,
    /// and the offset of that block.
    pub fn list_layout(cap: usize) -> (std::alloc::Layout, usize) {
        let (l, off) = std::alloc::Layout::new::<Obj<List>>()
            .extend(ListBlock::layout(cap))
            .expect("list too large");
        (l.pad_to_align(), off)
    }

    /// A new list holding `items`, in one allocation: the object and its
    /// first block (sized exactly) are laid out together.
    pub fn alloc_list(&mut self, items: &[Value]) -> Value {
        let cap = items.len();
        let (layout, off) = Self::list_layout(cap);
        // SAFETY: the layout is non-zero-sized.
        let p = unsafe { std::alloc::alloc(layout) };
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // SAFETY: `p` is a fresh allocation of `layout`: the object at
        // offset 0, the block at `off`; both are fully initialised here
        // before the object is published on the all-objects list.
        unsafe {
            let block = p.add(off) as *mut ListBlock;
            ListBlock::init(block, cap, true);
            for (s, v) in (*block).slots().iter().zip(items) {
                s.set(*v);
            }
            (*block)
                .len
                .store(cap, std::sync::atomic::Ordering::Relaxed);
            (p as *mut Obj<List>).write(Obj {
                header: Header {
                    kind: Kind::List,
                    mark: AtomicU8::new(self.epoch),
                    size: AtomicU32::new(layout.size().min(u32::MAX as usize) as u32),
                    next: self.head,
                },
                body: List {
                    block: std::sync::atomic::AtomicPtr::new(block),
                },
            });
        }
        self.head = p as *mut Header;
        self.objects += 1;
        self.charge(layout.size());
        Value::object(p as *mut Header)
    }

    /// A new (not interned) string.
    pub fn string(&mut self, bytes: impl Into<Box<[u8]>>) -> Value {
        let bytes = bytes.into();
        let extra = bytes.len();
        let hash = hash_bytes(&bytes);
        self.alloc(Kind::String, Str { hash, bytes }, extra)
    }

    /// The interned string with these bytes (created on first use).
    pub fn intern(&mut self, bytes: &[u8]) -> Value {
        if let Some(v) = self.interned.get(bytes) {
            return *v;
        }
        let v = self.string(bytes.to_vec());
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
            // SAFETY: as above.
            unsafe { crate::gc::free_object(p) };
            p = next;
        }
        for r in self.retired.get_mut().drain(..) {
            // SAFETY: the heap is being dropped; no mutator remains.
            unsafe { r.free() };
        }
    }
}
