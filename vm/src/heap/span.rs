//! Spans (Go's `mspan`): runs of pages holding objects of one size class,
//! with their allocation and mark bitmaps.
//!
//! A span of a small class is cut into `nelems` slots of `elemsize` bytes;
//! a large span holds one object. Two bitmaps say what each slot holds:
//! - `alloc_bits`: the slot holds an object (set when the slot is handed
//!   out, or by the sweep for the objects that survived).
//! - `mark_bits`: the object was reached by the current mark (set by
//!   markers with an atomic OR; allocation sets it too while marking,
//!   so new objects are black).
//!
//! Allocation (`next_free`, Go's `nextFreeFast`) keeps one 64-bit word of
//! the inverted allocation bitmap in `alloc_cache` and takes its lowest
//! set bit with count-trailing-zeros; when the word is used up it moves to
//! the next word with a free slot. Finding a pointer's span and slot is
//! arithmetic: the arena's page map gives the span (`arena::span_of`),
//! and a multiply-shift the index ([`Class::index_of`]).
//!
//! Sweeping (`gc::sweep`) frees every slot allocated and not marked (dropping
//! what the object owns when its span class says it owns anything), then
//! makes the mark bitmap the allocation bitmap and clears the mark bitmap
//! (Go's `gcmarkBits` swap).
//!
//! `sweepgen` (Go's protocol, with the heap's generation `sg`, which grows
//! by 2 at every mark termination): `sg - 2` means the span still needs
//! sweeping for this cycle, `sg - 1` that a sweeper has claimed it (one
//! compare-and-swap decides who), `sg` that it is swept and ready.
//!
//! Ownership: a span in use belongs to exactly one of an mcache (which
//! allocates from it), its central list (under the central's lock), or
//! the sweeper that claimed it; the allocation state (`alloc_bits`,
//! `alloc_cache`, `alloc_count`) is touched only by that owner. Mark bits
//! are shared by all markers, through atomics.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::sizeclass::{Class, MAX_NELEMS, PAGE_SIZE};
use crate::object::Header;

/// Words in a span's bitmaps: enough for the class with the most slots.
pub const BITMAP_WORDS: usize = MAX_NELEMS / 64;

/// A span class: the size class in the upper bits, and whether the span's
/// objects own nothing that a sweep must drop (`nodrop`: strings, cells,
/// bound methods) in the lowest bit, as Go's `spanClass` carries `noscan`.
/// A nodrop span is swept by bitmap arithmetic alone, without visiting its
/// dead objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanClass(pub u8);

impl SpanClass {
    /// The span class of size class `class`.
    #[inline(always)]
    pub fn new(class: usize, nodrop: bool) -> SpanClass {
        SpanClass((class as u8) << 1 | nodrop as u8)
    }
    /// The size class (0: a large object).
    #[inline(always)]
    pub fn size_class(self) -> usize {
        (self.0 >> 1) as usize
    }
    /// Objects in this span own nothing to drop.
    #[inline(always)]
    pub fn nodrop(self) -> bool {
        self.0 & 1 != 0
    }
    /// The index of this span class among all of them.
    #[inline(always)]
    pub fn index(self) -> usize {
        self.0 as usize
    }
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
    /// The word of `alloc_bits` that `alloc_cache` covers.
    alloc_word: usize,
    /// The free slots of word `alloc_word` not yet handed out.
    alloc_cache: u64,
    /// Slots allocated (as of the last sweep, plus what was handed out
    /// since).
    pub(crate) alloc_count: usize,
    pub(crate) alloc_bits: [u64; BITMAP_WORDS],
    pub(crate) mark_bits: [AtomicU64; BITMAP_WORDS],
    /// See the module comment.
    pub(crate) sweepgen: AtomicU32,
    /// The span is in use (holds objects); false once its pages are free.
    pub(crate) in_use: bool,
}

impl Span {
    /// A fresh span of `npages` pages at `base`, with every slot free,
    /// born swept in generation `sweepgen`.
    pub(crate) fn new(base: usize, npages: usize, class: SpanClass, sweepgen: u32) -> Span {
        let c = class.size_class();
        let (elemsize, nelems, div_mul) = if c == 0 {
            (npages * PAGE_SIZE, 1, 0)
        } else {
            let k = super::sizeclass::CLASSES[c];
            (k.size as usize, k.nelems as usize, k.div_mul)
        };
        let mut s = Span {
            base,
            npages,
            elemsize,
            nelems,
            div_mul,
            class,
            alloc_word: 0,
            alloc_cache: 0,
            alloc_count: 0,
            alloc_bits: [0; BITMAP_WORDS],
            mark_bits: Default::default(),
            sweepgen: AtomicU32::new(sweepgen),
            in_use: true,
        };
        s.reset_cache();
        s
    }

    /// Words of the bitmaps this span uses.
    #[inline(always)]
    fn words(&self) -> usize {
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
    pub(crate) fn reset_cache(&mut self) {
        self.alloc_word = 0;
        self.alloc_cache = !self.alloc_bits[0] & self.valid(0);
        if self.alloc_cache == 0 {
            self.refill_cache();
        }
    }

    /// Moves the cache to the next word with a free slot; false when there
    /// is none (the span is full).
    #[cold]
    fn refill_cache(&mut self) -> bool {
        let words = self.words();
        while self.alloc_word + 1 < words {
            self.alloc_word += 1;
            let free = !self.alloc_bits[self.alloc_word] & self.valid(self.alloc_word);
            if free != 0 {
                self.alloc_cache = free;
                return true;
            }
        }
        self.alloc_word = words;
        false
    }

    /// The address of a free slot, now allocated; `None` when the span is
    /// full.
    #[inline(always)]
    pub(crate) fn next_free(&mut self) -> Option<*mut u8> {
        if self.alloc_cache == 0 && !self.refill_cache() {
            return None;
        }
        let bit = self.alloc_cache.trailing_zeros() as usize;
        self.alloc_cache &= self.alloc_cache - 1;
        self.alloc_bits[self.alloc_word] |= 1u64 << bit;
        self.alloc_count += 1;
        let idx = self.alloc_word * 64 + bit;
        Some((self.base + idx * self.elemsize) as *mut u8)
    }

    /// Has the span a free slot (as of its bitmap)?
    pub(crate) fn has_free(&self) -> bool {
        self.alloc_count < self.nelems
    }

    /// The slot index of the object at `p` (inside this span).
    #[inline(always)]
    pub(crate) fn index(&self, p: usize) -> usize {
        Class::index_of(self.div_mul, p - self.base)
    }

    /// Sets the mark bit of slot `idx`; true when this call set it.
    #[inline(always)]
    pub(crate) fn mark_index(&self, idx: usize) -> bool {
        let (w, bit) = (idx / 64, 1u64 << (idx % 64));
        let word = &self.mark_bits[w];
        word.load(Ordering::Relaxed) & bit == 0 && word.fetch_or(bit, Ordering::AcqRel) & bit == 0
    }

    /// Is slot `idx` marked?
    #[inline(always)]
    pub(crate) fn is_marked_index(&self, idx: usize) -> bool {
        self.mark_bits[idx / 64].load(Ordering::Acquire) & (1u64 << (idx % 64)) != 0
    }

    /// Calls `f` with every allocated slot's object.
    pub(crate) fn for_each_allocated(&self, mut f: impl FnMut(*mut Header)) {
        for w in 0..self.words() {
            let mut bits = self.alloc_bits[w];
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                f((self.base + (w * 64 + b) * self.elemsize) as *mut Header);
            }
        }
    }

    /// Sweeps the span's bitmaps: calls `dead` with each allocated and
    /// unmarked object (only for spans whose objects own something; a
    /// nodrop span's dead objects are only counted), makes the mark bits
    /// the allocation bits and clears the mark bits. Returns the number of
    /// objects freed. The caller owns the span (it claimed it).
    pub(crate) fn sweep_bits(&mut self, mut dead: impl FnMut(*mut Header)) -> usize {
        let mut freed = 0;
        let mut count = 0;
        let visit = !self.class.nodrop();
        for w in 0..self.words() {
            let marked = self.mark_bits[w].swap(0, Ordering::AcqRel);
            let alloc = self.alloc_bits[w];
            let mut gone = alloc & !marked;
            freed += gone.count_ones() as usize;
            if visit {
                while gone != 0 {
                    let b = gone.trailing_zeros() as usize;
                    gone &= gone - 1;
                    dead((self.base + (w * 64 + b) * self.elemsize) as *mut Header);
                }
            }
            // Allocation marks new objects only while the collector marks,
            // and every marked slot held an allocated object.
            let live = marked & alloc;
            self.alloc_bits[w] = live;
            count += live.count_ones() as usize;
        }
        self.alloc_count = count;
        self.reset_cache();
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::sizeclass::{class_of, CLASSES};

    fn span_for(size: usize, nodrop: bool) -> Span {
        let c = class_of(size);
        // The addresses are never dereferenced here.
        Span::new(
            1 << 20,
            CLASSES[c].npages as usize,
            SpanClass::new(c, nodrop),
            2,
        )
    }

    #[test]
    fn next_free_hands_out_every_slot_once_then_reports_full() {
        for size in [16, 24, 48, 144, 1024, 3072, 32768] {
            let mut s = span_for(size, false);
            let mut seen = std::collections::HashSet::new();
            while let Some(p) = s.next_free() {
                let off = p as usize - s.base;
                assert_eq!(off % s.elemsize, 0);
                assert!(off / s.elemsize < s.nelems);
                assert!(seen.insert(off), "slot handed out twice");
            }
            assert_eq!(seen.len(), s.nelems, "size {size}");
            assert!(!s.has_free());
        }
    }

    #[test]
    fn sweep_keeps_marked_objects_and_frees_the_rest_for_reuse() {
        let mut s = span_for(48, false);
        let mut objs = Vec::new();
        while let Some(p) = s.next_free() {
            objs.push(p as usize);
        }
        // Mark every third object.
        for (i, p) in objs.iter().enumerate() {
            if i % 3 == 0 {
                assert!(s.mark_index(s.index(*p)));
                assert!(!s.mark_index(s.index(*p)), "marked twice");
            }
        }
        let mut dead = Vec::new();
        let freed = s.sweep_bits(|h| dead.push(h as usize));
        let kept = objs.len().div_ceil(3);
        assert_eq!(freed, objs.len() - kept);
        assert_eq!(dead.len(), freed);
        assert_eq!(s.alloc_count, kept);
        assert!((0..s.nelems).all(|i| !s.is_marked_index(i)));
        // The freed slots, and only those, are handed out again.
        let mut again = Vec::new();
        while let Some(p) = s.next_free() {
            again.push(p as usize);
        }
        again.sort();
        dead.sort();
        assert_eq!(again, dead);
    }

    #[test]
    fn a_nodrop_span_is_swept_without_visiting_its_objects() {
        let mut s = span_for(32, true);
        for _ in 0..100 {
            s.next_free();
        }
        let freed = s.sweep_bits(|_| panic!("visited a nodrop object"));
        assert_eq!(freed, 100);
        assert_eq!(s.alloc_count, 0);
    }
}
