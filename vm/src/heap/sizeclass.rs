//! Size classes: the object sizes the span heap serves, and how many pages
//! a span of each class takes.
//!
//! An allocation of `n` bytes (at most [`MAX_SMALL`]) is rounded up to the
//! smallest class size that holds it, and carved from a span that holds
//! only objects of that size. Rounding wastes memory inside objects;
//! spans waste memory at their tail (the bytes left when the span's size
//! is not a multiple of the class size). The table bounds both, as Go's
//! `sizeclasses.go` does:
//! 1. Class sizes step by 8 bytes up to 64, by 16 up to 256, then by an
//!    eighth of the last power of two (32 up to 512, 64 up to 1 KiB, …,
//!    2 KiB up to 32 KiB): rounding an object up wastes at most 12.5% of
//!    its slot for slots over 128 bytes (and at most 15 bytes below),
//!    except where rule 3 merged classes, which costs no span memory.
//! 2. A class's span is the smallest number of 8 KiB pages whose tail
//!    waste is at most an eighth of the span, then grown a page at a time,
//!    up to [`SPAN_PAGES`], while its slots still fit the span's bitmaps
//!    ([`MAX_NELEMS`]) and its tail waste stays within the bound. A span's
//!    descriptor (`span::Span`: four bitmaps of [`MAX_NELEMS`] bits and
//!    the fields around them, about 336 bytes) costs 4% of a one-page
//!    span and 1% of a four-page one, and fewer, larger spans mean fewer
//!    refills, sweeps and page-heap calls (`bench/RESULTS.md`: the
//!    descriptors' resident memory went from 3.3 MB to 1.3 MB with 84 MB
//!    live, and binary_trees ran about 5% faster).
//! 3. Two neighbouring classes whose spans have the same pages and hold the
//!    same number of objects are one class (the larger size): the smaller
//!    would only waste the difference.
//!
//! Class 0 stands for large objects (over [`MAX_SMALL`]), each in its own
//! span of whole pages.
//!
//! The table is computed at compile time; `tests` check the bounds above
//! and that [`Class::index_of`]'s multiply-shift finds every object.

/// Bits of a page's size.
pub const PAGE_SHIFT: u32 = 13;
/// The page: the unit in which the heap hands memory to spans (Go's 8 KiB).
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// The largest object a size class serves; anything bigger gets a span of
/// its own (Go's `maxSmallSize`).
pub const MAX_SMALL: usize = 32 << 10;
/// The smallest class: every object has an 8-byte header and at least an
/// 8-byte body.
pub const MIN_SIZE: usize = 16;
/// Most slots a span of any class holds: 16-byte objects in one page.
pub const MAX_NELEMS: usize = PAGE_SIZE / MIN_SIZE;

/// One size class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Class {
    /// Bytes per object.
    pub size: u32,
    /// Pages per span.
    pub npages: u32,
    /// Objects per span.
    pub nelems: u32,
    /// `ceil(2^32 / size)`: an object's index in its span is
    /// `(offset * div_mul) >> 32` (Go's `divMagic`).
    pub div_mul: u32,
}

impl Class {
    const fn new(size: usize, npages: usize) -> Class {
        Class {
            size: size as u32,
            npages: npages as u32,
            nelems: (npages * PAGE_SIZE / size) as u32,
            div_mul: (u32::MAX / size as u32) + 1,
        }
    }

    /// The index of the object at byte `offset` of a span of this class
    /// (`offset` is a multiple of `size`, below the span's size).
    #[inline(always)]
    pub fn index_of(div_mul: u32, offset: usize) -> usize {
        ((offset as u64 * div_mul as u64) >> 32) as usize
    }
}

/// Upper bound on the number of classes the rules above produce.
const MAX_CLASSES: usize = 96;

/// The step from one class size to the next (rule 1).
const fn step(size: usize) -> usize {
    if size < 64 {
        8
    } else if size < 256 {
        16
    } else {
        // An eighth of the largest power of two not above `size`.
        (1usize << (usize::BITS - 1 - size.leading_zeros())) / 8
    }
}

/// The fewest pages whose tail waste for `size` is at most an eighth of
/// the span (rule 2).
const fn pages_for(size: usize) -> usize {
    let mut n = 1;
    loop {
        let span = n * PAGE_SIZE;
        if span >= size && span % size <= span / 8 {
            break;
        }
        n += 1;
    }
    while n < SPAN_PAGES {
        let span = (n + 1) * PAGE_SIZE;
        if span / size > MAX_NELEMS || span % size > span / 8 {
            break;
        }
        n += 1;
    }
    n
}

/// The pages rule 2 grows a small class's span to: 32 KiB, where a span
/// descriptor is 1% of its span (eight pages measured the same on
/// binary_trees and on the burst's memory, and a larger span keeps more
/// memory for a P's cached span of each class).
pub const SPAN_PAGES: usize = 4;

const fn generate() -> ([Class; MAX_CLASSES], usize) {
    let mut out = [Class {
        size: 0,
        npages: 0,
        nelems: 0,
        div_mul: 0,
    }; MAX_CLASSES];
    // Class 0 is the large-object class.
    let mut n = 1;
    let mut size = MIN_SIZE;
    while size <= MAX_SMALL {
        let c = Class::new(size, pages_for(size));
        let prev = out[n - 1];
        if n > 1 && prev.npages == c.npages && prev.nelems == c.nelems {
            // Rule 3: the previous class is subsumed by this one.
            out[n - 1] = c;
        } else {
            out[n] = c;
            n += 1;
        }
        size += step(size);
    }
    (out, n)
}

const GENERATED: ([Class; MAX_CLASSES], usize) = generate();

/// Number of classes, class 0 (large) included.
pub const NUM_CLASSES: usize = GENERATED.1;

/// The classes, by index; class 0 is the large-object class (all zero).
pub static CLASSES: [Class; MAX_CLASSES] = GENERATED.0;

/// `size_to_class` for sizes up to 1 KiB, by `ceil(size / 8)`.
const SMALL_LOOKUP_MAX: usize = 1024;
/// Granule of the second lookup table, for sizes above 1 KiB.
const LARGE_GRANULE: usize = 128;

const fn class_for_scan(size: usize) -> u8 {
    let mut c = 1;
    while c < NUM_CLASSES {
        if GENERATED.0[c].size as usize >= size {
            return c as u8;
        }
        c += 1;
    }
    0
}

const fn small_lookup() -> [u8; SMALL_LOOKUP_MAX / 8 + 1] {
    let mut t = [0u8; SMALL_LOOKUP_MAX / 8 + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = class_for_scan(if i * 8 < MIN_SIZE { MIN_SIZE } else { i * 8 });
        i += 1;
    }
    t
}

const fn large_lookup() -> [u8; (MAX_SMALL - SMALL_LOOKUP_MAX) / LARGE_GRANULE + 1] {
    let mut t = [0u8; (MAX_SMALL - SMALL_LOOKUP_MAX) / LARGE_GRANULE + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = class_for_scan(SMALL_LOOKUP_MAX + i * LARGE_GRANULE);
        i += 1;
    }
    t
}

static SMALL_TO_CLASS: [u8; SMALL_LOOKUP_MAX / 8 + 1] = small_lookup();
static LARGE_TO_CLASS: [u8; (MAX_SMALL - SMALL_LOOKUP_MAX) / LARGE_GRANULE + 1] = large_lookup();

/// The class of an object of `size` bytes (`1..=MAX_SMALL`).
#[inline(always)]
pub fn class_of(size: usize) -> usize {
    debug_assert!(size <= MAX_SMALL);
    if size <= SMALL_LOOKUP_MAX {
        SMALL_TO_CLASS[size.div_ceil(8)] as usize
    } else {
        LARGE_TO_CLASS[(size - SMALL_LOOKUP_MAX).div_ceil(LARGE_GRANULE)] as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_grow_and_bound_their_waste() {
        const { assert!(NUM_CLASSES > 40 && NUM_CLASSES <= MAX_CLASSES) };
        for c in 1..NUM_CLASSES {
            let k = CLASSES[c];
            let size = k.size as usize;
            let span = k.npages as usize * PAGE_SIZE;
            assert!(
                size.is_multiple_of(8) && size >= MIN_SIZE,
                "class {c}: {size}"
            );
            assert!(k.nelems as usize <= MAX_NELEMS);
            assert!(span % size <= span / 8, "class {c}: tail waste");
            // Rule 2's growth: a span below SPAN_PAGES stopped because one
            // more page would overflow the bitmaps or the waste bound.
            if (k.npages as usize) < SPAN_PAGES {
                let more = span + PAGE_SIZE;
                assert!(
                    more / size > MAX_NELEMS || more % size > more / 8,
                    "class {c}: {size} bytes in {} pages",
                    k.npages
                );
            }
            if c > 1 {
                let prev = CLASSES[c - 1].size as usize;
                assert!(size > prev);
                // An object one byte bigger than the previous class wastes
                // at most 12.5% of this class's slot beyond 128 bytes, and
                // at most 15 bytes below.
                assert!(size - prev - 1 <= 15 || prev >= 128);
                // A bigger gap only where rule 3 merged a class away: a
                // span of the merged size held as many objects in as many
                // pages, so the merge costs no memory per span.
                let m = prev + step(prev);
                let merged =
                    m < size && pages_for(m) == k.npages as usize && span / m == k.nelems as usize;
                if prev >= 128 && !merged {
                    assert!((size - prev - 1) * 8 <= size, "class {c}: {prev} -> {size}");
                }
            }
        }
        assert_eq!(CLASSES[NUM_CLASSES - 1].size as usize, MAX_SMALL);
    }

    #[test]
    fn every_size_maps_to_the_smallest_class_that_holds_it() {
        for size in 1..=MAX_SMALL {
            let c = class_of(size);
            assert!((1..NUM_CLASSES).contains(&c));
            assert!(CLASSES[c].size as usize >= size);
            assert!(c == 1 || (CLASSES[c - 1].size as usize) < size, "{size}");
        }
    }

    #[test]
    fn index_of_finds_every_object_of_every_class() {
        for (c, k) in CLASSES.iter().enumerate().take(NUM_CLASSES).skip(1) {
            for i in 0..k.nelems as usize {
                let off = i * k.size as usize;
                assert_eq!(Class::index_of(k.div_mul, off), i, "class {c}");
            }
        }
    }
}
