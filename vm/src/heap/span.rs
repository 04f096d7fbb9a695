//! Spans (Go's `mspan`): runs of pages holding objects of one size class,
//! with their allocation and mark bitmaps.
//!
//! A span of a small class is cut into `nelems` slots of `elemsize` bytes;
//! a large span holds one object. Three bitmaps describe the slots:
//! - `alloc_bits`: the slot held an object at the last sweep (the sweep
//!   writes it; allocation does not, see below).
//! - `mark_bits`: the object was reached by the current mark (set by
//!   markers with an atomic OR; allocation sets it too while marking,
//!   so new objects are black).
//! - `owns_bits`: the object owns memory outside its slot (a table, a
//!   grown list's block, a closure's upvalue array) or was charged more
//!   than its slot, so the sweep must drop it and read its size; set at
//!   allocation or when the object's storage first grows.
//!
//! Allocation (`next_free`, Go's `nextFreeFast`) keeps the free slots of
//! one 64-bit word of `alloc_bits` in `alloc_cache` (word `alloc_word`)
//! and takes the lowest with count-trailing-zeros; when the word is used
//! up it moves to the next word with a free slot. Allocation writes
//! nothing else, so which slots hold objects is derived
//! (`allocated_word`): every valid slot of a word before `alloc_word`, the
//! slots of `alloc_word` not left in the cache, and `alloc_bits` after it
//! (Go's `freeindex` plays the same role). Finding a pointer's span and
//! slot is arithmetic: the arena's page map gives the span
//! (`arena::span_of`), and a multiply-shift the index
//! ([`Class::index_of`]).
//!
//! Sweeping (`gc::sweep`) frees every slot allocated and not marked,
//! visiting only those whose owns bit is set (to drop what they own),
//! then makes the mark bitmap the allocation bitmap and clears the mark
//! bitmap (Go's `gcmarkBits` swap).
//!
//! `sweepgen` (Go's protocol, with the heap's generation `sg`, which grows
//! by 2 at every mark termination): `sg - 2` means the span still needs
//! sweeping for this cycle, `sg - 1` that a sweeper has claimed it (one
//! compare-and-swap decides who), `sg` that it is swept and ready.
//!
//! Ownership: a span in use belongs to exactly one of an mcache (which
//! allocates from it), its central list (under the central's lock), or
//! the sweeper that claimed it; the allocation state (`alloc_bits`,
//! `alloc_word`, `alloc_cache`) is touched only by that owner. Mark and
//! owns bits are shared with markers and with the mutators of live
//! objects, through atomics.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use super::sizeclass::{Class, MAX_NELEMS, PAGE_SIZE};
use crate::object::Header;

/// Words in a span's bitmaps: enough for the class with the most slots.
pub const BITMAP_WORDS: usize = MAX_NELEMS / 64;

/// A span class: the size class in the upper bits, and in the lowest bit
/// whether the span's objects reference nothing (`noscan`: strings), as
/// Go's `spanClass` carries it. A marker sets a noscan object's mark bit
/// without queueing it or touching it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanClass(pub u8);

impl SpanClass {
    /// The span class of size class `class`.
    #[inline(always)]
    pub fn new(class: usize, noscan: bool) -> SpanClass {
        SpanClass((class as u8) << 1 | noscan as u8)
    }
    /// The size class (0: a large object).
    #[inline(always)]
    pub fn size_class(self) -> usize {
        (self.0 >> 1) as usize
    }
    /// Objects in this span reference no other object.
    #[inline(always)]
    pub fn noscan(self) -> bool {
        self.0 & 1 != 0
    }
    /// The index of this span class among all of them.
    #[inline(always)]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What only a span's owner touches.
struct AllocState {
    /// The word of `alloc_bits` that `alloc_cache` covers.
    alloc_word: usize,
    /// The free slots of word `alloc_word` not yet handed out.
    alloc_cache: u64,
    /// The address of slot `alloc_word * 64`.
    word_base: usize,
    /// Slots that held an object after the last sweep (see the module
    /// comment for the slots allocated since).
    alloc_count: usize,
    alloc_bits: [u64; BITMAP_WORDS],
}

/// A span.
pub struct Span {
    /// Address of the first byte.
    pub(crate) base: usize,
    /// Pages in the span.
    pub(crate) npages: usize,
    /// Bytes per slot (the whole span for a large object).
    pub(crate) elemsize: usize,
    /// Slots in the span.
    pub(crate) nelems: usize,
    /// See [`Class::div_mul`]; zero for a large span (one slot).
    div_mul: u32,
    pub(crate) class: SpanClass,
    /// The allocation state, touched only by the span's owner (see the
    /// module comment): a cell, because markers and mutators share the
    /// rest of the span through `&Span` meanwhile.
    alloc: UnsafeCell<AllocState>,
    mark_bits: [AtomicU64; BITMAP_WORDS],
    owns_bits: [AtomicU64; BITMAP_WORDS],
    /// Green Tea marking (`gc::mark`): the marked objects a span scan has
    /// already scanned (black); marked and not scanned is grey. Only a VM
    /// that marks with Green Tea has them, out of line: without them a
    /// descriptor is 56 bytes smaller, 14 to a system page instead of 12,
    /// and the descriptors of a 77 MB heap of small objects take 200 KB
    /// less (`bench/burst.sk`).
    scan_bits: Option<Box<[AtomicU64; BITMAP_WORDS]>>,
    /// Green Tea marking: the span is on a work list (or being scanned),
    /// so a marker that greys one of its objects need not queue it.
    queued: AtomicBool,
    /// See the module comment.
    pub(crate) sweepgen: AtomicU32,
}

// SAFETY: the allocation state in the cell is touched only by the span's
// one owner at a time (an mcache, a central list under its lock, a sweeper
// that won the claim), and ownership passes through a lock or a
// stop-the-world, which order the owners' accesses; everything else is
// atomics or immutable.
unsafe impl Sync for Span {}
// SAFETY: as above; a span holds no thread-bound state.
unsafe impl Send for Span {}

impl Span {
    /// A fresh span of `npages` pages at `base`, with every slot free,
    /// born swept in generation `sweepgen`; with scan bits if `greentea`.
    pub(crate) fn new(
        base: usize,
        npages: usize,
        class: SpanClass,
        sweepgen: u32,
        greentea: bool,
    ) -> Span {
        let c = class.size_class();
        let (elemsize, nelems, div_mul) = if c == 0 {
            (npages * PAGE_SIZE, 1, 0)
        } else {
            let k = super::sizeclass::CLASSES[c];
            (k.size as usize, k.nelems as usize, k.div_mul)
        };
        let s = Span {
            base,
            npages,
            elemsize,
            nelems,
            div_mul,
            class,
            alloc: UnsafeCell::new(AllocState {
                alloc_word: 0,
                alloc_cache: 0,
                word_base: base,
                alloc_count: 0,
                alloc_bits: [0; BITMAP_WORDS],
            }),
            mark_bits: Default::default(),
            owns_bits: Default::default(),
            scan_bits: greentea.then(Default::default),
            queued: AtomicBool::new(false),
            sweepgen: AtomicU32::new(sweepgen),
        };
        // SAFETY: the span is new, so this caller owns it.
        unsafe { s.reset_cache() };
        s
    }

    /// The allocation state.
    ///
    /// # Safety
    /// The caller owns the span (see the module comment), and holds no
    /// other reference from this method at the same time.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    unsafe fn own(&self) -> &mut AllocState {
        // SAFETY: guaranteed by the caller: only the owner reaches the cell.
        unsafe { &mut *self.alloc.get() }
    }

    /// Words of the bitmaps this span uses.
    #[inline(always)]
    pub(crate) fn words(&self) -> usize {
        self.nelems.div_ceil(64)
    }

    /// The bits of word `w` that name real slots.
    #[inline(always)]
    fn valid(&self, w: usize) -> u64 {
        let left = self.nelems - w * 64;
        if left >= 64 {
            u64::MAX
        } else {
            (1u64 << left) - 1
        }
    }

    /// Points the allocation cache at the first word with a free slot
    /// (after a sweep rebuilt `alloc_bits`).
    ///
    /// # Safety
    /// The caller owns the span.
    pub(crate) unsafe fn reset_cache(&self) {
        // SAFETY: guaranteed by the caller.
        let o = unsafe { self.own() };
        o.alloc_word = 0;
        o.word_base = self.base;
        o.alloc_cache = !o.alloc_bits[0] & self.valid(0);
        if o.alloc_cache == 0 {
            self.refill_cache(o);
        }
    }

    /// Moves the cache to the next word with a free slot; false when there
    /// is none (the span is full).
    #[cold]
    fn refill_cache(&self, o: &mut AllocState) -> bool {
        let words = self.words();
        while o.alloc_word + 1 < words {
            o.alloc_word += 1;
            let free = !o.alloc_bits[o.alloc_word] & self.valid(o.alloc_word);
            if free != 0 {
                o.alloc_cache = free;
                o.word_base = self.base + o.alloc_word * 64 * self.elemsize;
                return true;
            }
        }
        o.alloc_word = words;
        false
    }

    /// The address of a free slot, now allocated; `None` when the span is
    /// full.
    ///
    /// # Safety
    /// The caller owns the span.
    #[inline(always)]
    pub(crate) unsafe fn next_free(&self) -> Option<*mut u8> {
        // SAFETY: guaranteed by the caller.
        let o = unsafe { self.own() };
        if o.alloc_cache == 0 && !self.refill_cache(o) {
            return None;
        }
        let bit = o.alloc_cache.trailing_zeros() as usize;
        o.alloc_cache &= o.alloc_cache - 1;
        let at = o.word_base + bit * self.elemsize;
        crate::gc::mark::prefetch((at + PREFETCH_AHEAD) as *mut crate::object::Header);
        Some(at as *mut u8)
    }

    /// The slots of word `w` that hold objects (see the module comment).
    #[inline]
    fn allocated_word(&self, o: &AllocState, w: usize) -> u64 {
        match w.cmp(&o.alloc_word) {
            std::cmp::Ordering::Less => self.valid(w),
            std::cmp::Ordering::Equal => self.valid(w) & !o.alloc_cache,
            std::cmp::Ordering::Greater => o.alloc_bits[w],
        }
    }

    /// Slots that hold objects.
    ///
    /// # Safety
    /// The caller owns the span.
    #[cfg(test)]
    pub(crate) unsafe fn allocated(&self) -> usize {
        // SAFETY: guaranteed by the caller.
        let o = unsafe { self.own() };
        (0..self.words())
            .map(|w| self.allocated_word(o, w).count_ones() as usize)
            .sum()
    }

    /// Slots that held objects after the last sweep.
    ///
    /// # Safety
    /// The caller owns the span.
    pub(crate) unsafe fn alloc_count(&self) -> usize {
        // SAFETY: guaranteed by the caller.
        unsafe { self.own() }.alloc_count
    }

    /// Has the span a free slot?
    ///
    /// # Safety
    /// The caller owns the span.
    pub(crate) unsafe fn has_free(&self) -> bool {
        // SAFETY: guaranteed by the caller.
        let o = unsafe { self.own() };
        o.alloc_cache != 0
            || (o.alloc_word + 1..self.words()).any(|w| !o.alloc_bits[w] & self.valid(w) != 0)
    }

    /// The slot index of the object at `p` (inside this span).
    #[inline(always)]
    pub(crate) fn index(&self, p: usize) -> usize {
        Class::index_of(self.div_mul, p - self.base)
    }

    /// Sets the mark bit of slot `idx`; true when this call set it.
    /// (Sequentially consistent: Green Tea's queue hand-off, `try_queue`
    /// and `unqueue`, relies on it; an atomic OR costs the same either way
    /// on x86.)
    #[inline(always)]
    pub(crate) fn mark_index(&self, idx: usize) -> bool {
        let (w, bit) = (idx / 64, 1u64 << (idx % 64));
        let word = &self.mark_bits[w];
        word.load(Ordering::Relaxed) & bit == 0 && word.fetch_or(bit, Ordering::SeqCst) & bit == 0
    }

    /// Marks slot `idx` black at once (an object allocated while the
    /// collector marks): its mark bit and, for Green Tea (`greentea`),
    /// its scan bit. Per-object marking never reads scan bits, so it is
    /// spared the second locked instruction on every allocation while
    /// the collector marks.
    #[inline]
    pub(crate) fn mark_black_index(&self, idx: usize, greentea: bool) {
        let (w, bit) = (idx / 64, 1u64 << (idx % 64));
        if greentea {
            self.scan_bits()[w].fetch_or(bit, Ordering::AcqRel);
        }
        self.mark_bits[w].fetch_or(bit, Ordering::SeqCst);
    }

    /// Green Tea: the scan bits (a span of a VM that marks with Green Tea
    /// has them).
    #[inline]
    fn scan_bits(&self) -> &[AtomicU64; BITMAP_WORDS] {
        self.scan_bits
            .as_deref()
            .expect("a Green Tea span has scan bits")
    }

    /// Green Tea: claims the right to queue this span (true for the one
    /// caller that finds it unqueued).
    #[inline]
    pub(crate) fn try_queue(&self) -> bool {
        !self.queued.load(Ordering::Relaxed)
            && self
                .queued
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
    }

    /// Green Tea: takes the grey objects of word `w` (marked, not yet
    /// scanned) for the caller to scan, making them black.
    #[inline]
    pub(crate) fn take_grey(&self, w: usize) -> u64 {
        let scan = self.scan_bits();
        let grey = self.mark_bits[w].load(Ordering::SeqCst) & !scan[w].load(Ordering::Relaxed);
        if grey == 0 {
            return 0;
        }
        grey & !scan[w].fetch_or(grey, Ordering::AcqRel)
    }

    /// Green Tea: the scanner is done with the span. Returns true when
    /// objects were greyed meanwhile and the caller won the queue again
    /// (so it must scan once more): a marker that greyed one while the
    /// span was queued did not queue it, and relies on this re-check
    /// after the flag is cleared (both sides sequentially consistent).
    pub(crate) fn unqueue(&self) -> bool {
        self.queued.store(false, Ordering::SeqCst);
        let scan = self.scan_bits();
        let grey = (0..self.words()).any(|w| {
            self.mark_bits[w].load(Ordering::SeqCst) & !scan[w].load(Ordering::SeqCst) != 0
        });
        grey && self.try_queue()
    }

    /// The object in slot `w * 64 + b` (bit `b` of bitmap word `w`).
    #[inline(always)]
    pub(crate) fn slot(&self, w: usize, b: usize) -> *mut Header {
        (self.base + (w * 64 + b) * self.elemsize) as *mut Header
    }

    /// Is slot `idx` marked?
    #[inline(always)]
    pub(crate) fn is_marked_index(&self, idx: usize) -> bool {
        self.mark_bits[idx / 64].load(Ordering::Acquire) & (1u64 << (idx % 64)) != 0
    }

    /// Sets the owns bit of slot `idx` (see the module comment).
    #[inline]
    pub(crate) fn set_owns_index(&self, idx: usize) {
        let (w, bit) = (idx / 64, 1u64 << (idx % 64));
        if self.owns_bits[w].load(Ordering::Relaxed) & bit == 0 {
            self.owns_bits[w].fetch_or(bit, Ordering::AcqRel);
        }
    }

    /// Is slot `idx`'s owns bit set?
    #[inline(always)]
    pub(crate) fn owns_index(&self, idx: usize) -> bool {
        self.owns_bits[idx / 64].load(Ordering::Acquire) & (1u64 << (idx % 64)) != 0
    }

    /// Calls `f` with every allocated slot's object whose owns bit is set.
    ///
    /// # Safety
    /// The caller owns the span.
    pub(crate) unsafe fn for_each_owner(&self, mut f: impl FnMut(*mut Header)) {
        // SAFETY: guaranteed by the caller.
        let o = unsafe { self.own() };
        for w in 0..self.words() {
            let mut bits = self.allocated_word(o, w) & self.owns_bits[w].load(Ordering::Acquire);
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                f(self.slot(w, b));
            }
        }
    }

    /// Sweeps the span's bitmaps: calls `dead` with each allocated and
    /// unmarked object whose owns bit is set (the others are only
    /// counted), makes the mark bits the allocation bits and clears the
    /// mark bits. Returns the number of objects freed and how many of them
    /// were not visited.
    ///
    /// # Safety
    /// The caller owns the span (it claimed it).
    pub(crate) unsafe fn sweep_bits(&self, mut dead: impl FnMut(*mut Header)) -> (usize, usize) {
        // SAFETY: guaranteed by the caller.
        let o = unsafe { self.own() };
        let (mut freed, mut plain) = (0, 0);
        let mut count = 0;
        debug_assert!(!self.queued.load(Ordering::Relaxed), "swept a queued span");
        for w in 0..self.words() {
            let marked = self.mark_bits[w].swap(0, Ordering::AcqRel);
            if let Some(scan) = &self.scan_bits {
                scan[w].store(0, Ordering::Relaxed);
            }
            let alloc = self.allocated_word(o, w);
            let gone = alloc & !marked;
            if gone != 0 {
                // Only live objects gain owns bits, so clearing the dead
                // ones' races with nothing but other slots' updates.
                let owners = self.owns_bits[w].fetch_and(!gone, Ordering::AcqRel) & gone;
                freed += gone.count_ones() as usize;
                plain += (gone & !owners).count_ones() as usize;
                let mut visit = owners;
                while visit != 0 {
                    let b = visit.trailing_zeros() as usize;
                    visit &= visit - 1;
                    dead(self.slot(w, b));
                }
            }
            // Allocation marks new objects only while the collector marks,
            // and every marked slot held an allocated object.
            let live = marked & alloc;
            o.alloc_bits[w] = live;
            count += live.count_ones() as usize;
        }
        o.alloc_count = count;
        // SAFETY: guaranteed by the caller (`o` is not used after this).
        unsafe { self.reset_cache() };
        (freed, plain)
    }
}

/// How far past a slot being handed out the allocator asks for memory to
/// be fetched: a few slots ahead, so that the line is in the cache by the
/// time an allocation writes it. Slots are handed out in address order,
/// but a small object's span is a page or a few, too short for the
/// hardware's stream prefetcher to get going, and a slot's memory was
/// last touched a GC cycle ago (the sweeper reads only bitmaps), so
/// without this the first store into each new object waits for memory
/// (`bench/RESULTS.md`: binary_trees 2-4% faster; 256 and 512 bytes
/// ahead measured alike).
const PREFETCH_AHEAD: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::sizeclass::{class_of, CLASSES};

    fn span_for(size: usize, noscan: bool) -> Span {
        let c = class_of(size);
        // The addresses are never dereferenced here.
        Span::new(
            1 << 20,
            CLASSES[c].npages as usize,
            SpanClass::new(c, noscan),
            2,
            true,
        )
    }

    // Each test owns the spans it makes, which is what the `unsafe`
    // methods ask of their callers; these wrappers say so once.
    fn next(s: &Span) -> Option<*mut u8> {
        // SAFETY: the test owns `s`.
        unsafe { s.next_free() }
    }
    fn allocated(s: &Span) -> usize {
        // SAFETY: the test owns `s`.
        unsafe { s.allocated() }
    }
    fn has_free(s: &Span) -> bool {
        // SAFETY: the test owns `s`.
        unsafe { s.has_free() }
    }
    fn alloc_count(s: &Span) -> usize {
        // SAFETY: the test owns `s`.
        unsafe { s.alloc_count() }
    }
    fn sweep(s: &Span, dead: impl FnMut(*mut Header)) -> (usize, usize) {
        // SAFETY: the test owns `s`.
        unsafe { s.sweep_bits(dead) }
    }

    #[test]
    fn next_free_hands_out_every_slot_once_then_reports_full() {
        for size in [16, 24, 48, 144, 1024, 3072, 32768] {
            let s = span_for(size, false);
            let mut seen = std::collections::HashSet::new();
            while let Some(p) = next(&s) {
                let off = p as usize - s.base;
                assert_eq!(off % s.elemsize, 0);
                assert!(off / s.elemsize < s.nelems);
                assert!(seen.insert(off), "slot handed out twice");
                assert_eq!(allocated(&s), seen.len());
            }
            assert_eq!(seen.len(), s.nelems, "size {size}");
            assert!(!has_free(&s));
        }
    }

    #[test]
    fn sweep_keeps_marked_objects_and_frees_the_rest_for_reuse() {
        let s = span_for(48, false);
        let mut objs = Vec::new();
        while let Some(p) = next(&s) {
            objs.push(p as usize);
        }
        // Mark every third object.
        for (i, p) in objs.iter().enumerate() {
            if i % 3 == 0 {
                assert!(s.mark_index(s.index(*p)));
                assert!(!s.mark_index(s.index(*p)), "marked twice");
            }
        }
        // Every object owns something, so the sweep visits every dead one.
        for p in &objs {
            s.set_owns_index(s.index(*p));
        }
        let mut dead = Vec::new();
        let (freed, plain) = sweep(&s, |h| dead.push(h as usize));
        let kept = objs.len().div_ceil(3);
        assert_eq!(freed, objs.len() - kept);
        assert_eq!((dead.len(), plain), (freed, 0));
        assert_eq!(alloc_count(&s), kept);
        assert_eq!(allocated(&s), kept);
        assert!(objs
            .iter()
            .all(|p| s.owns_index(s.index(*p)) == s.index(*p).is_multiple_of(3)));
        assert!((0..s.nelems).all(|i| !s.is_marked_index(i)));
        // The freed slots, and only those, are handed out again.
        let mut again = Vec::new();
        while let Some(p) = next(&s) {
            again.push(p as usize);
        }
        again.sort();
        dead.sort();
        assert_eq!(again, dead);
    }

    #[test]
    fn objects_that_own_nothing_are_freed_without_a_visit() {
        let s = span_for(32, false);
        let objs: Vec<usize> = (0..100).map(|_| next(&s).unwrap() as usize).collect();
        s.set_owns_index(s.index(objs[7]));
        let mut visited = Vec::new();
        let (freed, plain) = sweep(&s, |h| visited.push(h as usize));
        assert_eq!((freed, plain), (100, 99));
        assert_eq!(visited, vec![objs[7]]);
        assert_eq!(alloc_count(&s), 0);
        assert!(!s.owns_index(s.index(objs[7])));
    }
}
