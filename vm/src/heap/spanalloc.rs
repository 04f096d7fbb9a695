//! Memory for span descriptors (Go's `fixalloc`, which gives `mspan`s
//! their own memory): fixed-size slots in chunks mapped for them alone,
//! handed out lowest address first, whose wholly free pages go back to the
//! system when sysmon's scavenger runs.
//!
//! Why not the general allocator: a burst of allocation makes a descriptor
//! for every span (about 5% of the burst's bytes), and mimalloc keeps a
//! block freed by another thread (the sweeper's) on a page of the thread
//! that allocated it until that thread calls into mimalloc again, which the
//! threads of an idle program never do. So the descriptors of a freed burst
//! stayed resident long after the scavenger had released the burst's pages.
//!
//! # The algorithm
//!
//! 1. Memory comes from `mmap` in chunks of [`CHUNK_BYTES`]. Each system
//!    page of a chunk holds [`SpanSlab::SLOTS_PER_PAGE`] slots; no slot
//!    straddles two pages, so a page is free exactly when its slots are.
//! 2. [`SpanSlab::alloc`] takes the lowest free slot: the first chunk with
//!    one (from a hint), then the first set bit of its free bitmap. The
//!    descriptors in use gather at low addresses, and the pages a freed
//!    burst used become wholly free.
//! 3. [`SpanSlab::free`] sets the slot's bit again and counts its page's
//!    slots in use down.
//! 4. [`SpanSlab::take_idle`] (the scavenger) picks the pages that held no
//!    descriptor at its previous pass as well, so pages that the steady
//!    churn of spans frees and refills are left alone. It takes their slots
//!    off the free bitmap and marks them released, the caller gives them
//!    back with `madvise` without holding the page heap's lock, then
//!    [`SpanSlab::put_back`] frees the slots again. A released page reads
//!    as zeros when a new descriptor is written into it.
//!
//! Invariants: a slot is in exactly one of three states: in use (its bit
//! clear, counted in its page's `used`), free (bit set), or being released
//! (bit clear, not counted, its page marked released). Only the holder of
//! the page heap's lock (`Mheap`) calls any of these methods.

use std::mem::{align_of, size_of};

use super::arena;
use super::span::Span;

/// The system page: the unit `madvise` releases. 4 KiB on the systems
/// Skein runs on (x86-64 and arm64 Linux); on a system with larger pages
/// the call fails for unaligned ranges and the memory simply stays.
pub(crate) const OS_PAGE: usize = 4096;

/// Bytes in a chunk: 256 system pages, a few thousand descriptors (spans
/// for some tens of megabytes of heap), so a small program maps one chunk
/// and a large heap few.
pub const CHUNK_BYTES: usize = 1 << 20;

/// Pages in a chunk.
const CHUNK_PAGES: usize = CHUNK_BYTES / OS_PAGE;

/// One mapped chunk.
struct Chunk {
    base: usize,
    /// One bit per slot: set when the slot is free.
    free: Vec<u64>,
    /// Free slots (set bits in `free`).
    nfree: usize,
    /// Slots in use per page.
    used: Vec<u16>,
    /// One bit per page: given back to the system (or never touched) and
    /// holding no descriptor.
    released: Vec<u64>,
    /// One bit per page: it held no descriptor at the last scavenger pass.
    idle: Vec<u64>,
}

/// The descriptor slab (see the module docs).
#[derive(Default)]
pub struct SpanSlab {
    chunks: Vec<Chunk>,
    /// No chunk before this index has a free slot.
    hint: usize,
}

// SAFETY: the slab holds only addresses of its own mappings; the page
// heap's lock serialises every use.
unsafe impl Send for SpanSlab {}

/// Whether bit `i` of `bits` is set.
fn bit(bits: &[u64], i: usize) -> bool {
    bits[i / 64] & (1 << (i % 64)) != 0
}

/// Sets bit `i` of `bits` to `on`.
fn set_bit(bits: &mut [u64], i: usize, on: bool) {
    if on {
        bits[i / 64] |= 1 << (i % 64);
    } else {
        bits[i / 64] &= !(1 << (i % 64));
    }
}

impl SpanSlab {
    /// A slot's size: a descriptor's.
    const SLOT: usize = size_of::<Span>();
    /// Slots a system page holds.
    pub const SLOTS_PER_PAGE: usize = OS_PAGE / Self::SLOT;
    /// Slots a chunk holds.
    const SLOTS: usize = Self::SLOTS_PER_PAGE * CHUNK_PAGES;

    /// The address of a free slot for a descriptor, or `None` when the
    /// system has no memory for a new chunk. The slot's memory is
    /// uninitialised.
    pub fn alloc(&mut self) -> Option<*mut Span> {
        const {
            assert!(Self::SLOTS_PER_PAGE > 0, "a descriptor fits a page");
            assert!(OS_PAGE.is_multiple_of(align_of::<Span>()));
        }
        while self.hint < self.chunks.len() && self.chunks[self.hint].nfree == 0 {
            self.hint += 1;
        }
        if self.hint == self.chunks.len() {
            self.chunks.push(Chunk::map()?);
        }
        let c = &mut self.chunks[self.hint];
        let (w, word) = c
            .free
            .iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(i, w)| (i, *w))
            .expect("a chunk with free slots has a set bit");
        let slot = w * 64 + word.trailing_zeros() as usize;
        set_bit(&mut c.free, slot, false);
        c.nfree -= 1;
        let page = slot / Self::SLOTS_PER_PAGE;
        c.used[page] += 1;
        set_bit(&mut c.released, page, false);
        set_bit(&mut c.idle, page, false);
        Some(c.slot_addr(slot) as *mut Span)
    }

    /// Returns `p`'s slot (its descriptor already dropped).
    ///
    /// # Panics
    /// When `p` is not a slot this slab handed out.
    pub fn free(&mut self, p: *mut Span) {
        let addr = p as usize;
        let (i, c) = self.chunk_of(addr);
        let off = addr - c.base;
        let (page, in_page) = (off / OS_PAGE, off % OS_PAGE);
        debug_assert_eq!(in_page % Self::SLOT, 0, "a slot's start");
        let slot = page * Self::SLOTS_PER_PAGE + in_page / Self::SLOT;
        debug_assert!(!bit(&c.free, slot), "a slot freed twice");
        set_bit(&mut c.free, slot, true);
        c.nfree += 1;
        c.used[page] -= 1;
        self.hint = self.hint.min(i);
    }

    /// The scavenger's pass: takes the pages that hold no descriptor now
    /// and held none at the previous pass out of use, marked released, and
    /// returns them as `(address, bytes)` runs for the caller to give back
    /// (without the lock) and then hand to [`put_back`](Self::put_back).
    pub fn take_idle(&mut self) -> Vec<(usize, usize)> {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for c in &mut self.chunks {
            for page in 0..CHUNK_PAGES {
                let empty = c.used[page] == 0;
                let was_idle = bit(&c.idle, page);
                set_bit(&mut c.idle, page, empty);
                if !empty || !was_idle || bit(&c.released, page) {
                    continue;
                }
                set_bit(&mut c.released, page, true);
                let first = page * Self::SLOTS_PER_PAGE;
                for slot in first..first + Self::SLOTS_PER_PAGE {
                    set_bit(&mut c.free, slot, false);
                }
                c.nfree -= Self::SLOTS_PER_PAGE;
                let addr = c.base + page * OS_PAGE;
                match runs.last_mut() {
                    Some((a, n)) if *a + *n == addr => *n += OS_PAGE,
                    _ => runs.push((addr, OS_PAGE)),
                }
            }
        }
        runs
    }

    /// Frees the slots of runs from [`take_idle`](Self::take_idle) again
    /// (their pages released meanwhile).
    pub fn put_back(&mut self, runs: &[(usize, usize)]) {
        for &(addr, bytes) in runs {
            let mut page_addr = addr;
            while page_addr < addr + bytes {
                let (i, c) = self.chunk_of(page_addr);
                let first = (page_addr - c.base) / OS_PAGE * Self::SLOTS_PER_PAGE;
                for slot in first..first + Self::SLOTS_PER_PAGE {
                    set_bit(&mut c.free, slot, true);
                }
                c.nfree += Self::SLOTS_PER_PAGE;
                self.hint = self.hint.min(i);
                page_addr += OS_PAGE;
            }
        }
    }

    /// The chunk holding `addr`, and its index.
    ///
    /// # Panics
    /// When no chunk holds it (the address is not the slab's).
    fn chunk_of(&mut self, addr: usize) -> (usize, &mut Chunk) {
        self.chunks
            .iter_mut()
            .enumerate()
            .find(|(_, c)| (c.base..c.base + CHUNK_BYTES).contains(&addr))
            .expect("an address in the slab")
    }

    /// Bytes of descriptor memory mapped, and of it released (for the
    /// tests).
    #[cfg(test)]
    fn bytes(&self) -> (usize, usize) {
        let released: usize = self
            .chunks
            .iter()
            .map(|c| {
                c.released
                    .iter()
                    .map(|w| w.count_ones() as usize)
                    .sum::<usize>()
            })
            .sum();
        (self.chunks.len() * CHUNK_BYTES, released * OS_PAGE)
    }
}

impl Chunk {
    /// A new chunk, every slot free and every page untouched (released).
    fn map() -> Option<Chunk> {
        let base = arena::map_anonymous(CHUNK_BYTES)?;
        let words = SpanSlab::SLOTS.div_ceil(64);
        let mut free = vec![u64::MAX; words];
        if !SpanSlab::SLOTS.is_multiple_of(64) {
            free[words - 1] = (1 << (SpanSlab::SLOTS % 64)) - 1;
        }
        Some(Chunk {
            base,
            free,
            nfree: SpanSlab::SLOTS,
            used: vec![0; CHUNK_PAGES],
            released: vec![u64::MAX; CHUNK_PAGES / 64],
            idle: vec![0; CHUNK_PAGES / 64],
        })
    }

    /// The address of slot `slot`.
    fn slot_addr(&self, slot: usize) -> usize {
        let (page, k) = (
            slot / SpanSlab::SLOTS_PER_PAGE,
            slot % SpanSlab::SLOTS_PER_PAGE,
        );
        self.base + page * OS_PAGE + k * SpanSlab::SLOT
    }
}

impl Drop for SpanSlab {
    fn drop(&mut self) {
        for c in &self.chunks {
            // SAFETY: the slab is being dropped with the page heap, after
            // every descriptor (`Heap::drop`); nothing points into it.
            unsafe { arena::unmap(c.base, CHUNK_BYTES) };
        }
    }
}

/// Gives the memory of runs from [`SpanSlab::take_idle`] back to the
/// system; it stays mapped and reads as zeros when touched again.
///
/// # Safety
/// The runs came from `take_idle` and have not been put back yet.
pub unsafe fn release(runs: &[(usize, usize)]) {
    for &(addr, bytes) in runs {
        // SAFETY: guaranteed by the caller: the range is inside a chunk,
        // page-aligned, and holds no descriptor.
        unsafe { arena::release(addr, bytes) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_handed_out_lowest_first_and_reused() {
        let mut slab = SpanSlab::default();
        let a: Vec<*mut Span> = (0..3 * SpanSlab::SLOTS_PER_PAGE)
            .map(|_| slab.alloc().unwrap())
            .collect();
        for w in a.windows(2) {
            assert!(w[0] < w[1], "addresses rise");
            assert!(w[1] as usize - w[0] as usize >= size_of::<Span>());
        }
        assert_eq!(a[0] as usize % OS_PAGE, 0);
        assert_eq!(a[0] as usize % align_of::<Span>(), 0);
        slab.free(a[5]);
        slab.free(a[1]);
        assert_eq!(slab.alloc(), Some(a[1]), "the lowest free slot");
        assert_eq!(slab.alloc(), Some(a[5]));
    }

    #[test]
    fn pages_idle_at_two_passes_are_released_and_refilled() {
        let mut slab = SpanSlab::default();
        let per = SpanSlab::SLOTS_PER_PAGE;
        let a: Vec<*mut Span> = (0..4 * per).map(|_| slab.alloc().unwrap()).collect();
        for &p in &a {
            // SAFETY: each slot is free memory for one descriptor.
            unsafe { (p as *mut u8).write_bytes(0xab, size_of::<Span>()) };
        }
        // Free the second and third pages' descriptors, and one of the
        // fourth's.
        for &p in &a[per..3 * per] {
            slab.free(p);
        }
        slab.free(a[3 * per]);
        let (mapped, untouched) = slab.bytes();
        assert_eq!(mapped, CHUNK_BYTES);
        assert_eq!(untouched, (CHUNK_PAGES - 4) * OS_PAGE, "pages never used");
        assert!(
            slab.take_idle().is_empty(),
            "the first pass only notes them"
        );
        let runs = slab.take_idle();
        assert_eq!(
            runs,
            vec![(a[per] as usize, 2 * OS_PAGE)],
            "one run of the two empty pages"
        );
        // SAFETY: the runs came from `take_idle`.
        unsafe { release(&runs) };
        // While released, their slots are not handed out: the fourth
        // page's free slot comes first.
        assert_eq!(slab.alloc(), Some(a[3 * per]));
        slab.put_back(&runs);
        assert_eq!(slab.bytes().1, untouched + 2 * OS_PAGE);
        let p = slab.alloc().unwrap();
        assert_eq!(p, a[per], "a released page is used again, lowest first");
        // SAFETY: the slot is free memory; a released page reads as zeros.
        unsafe {
            assert_eq!(*(p as *const u8), 0, "released memory reads as zeros");
            (p as *mut u8).write_bytes(1, size_of::<Span>());
        }
        assert!(slab.take_idle().is_empty(), "no page idle at two passes");
    }
}
