//! The page heap (Go's `mheap`): hands runs of pages to spans, takes them
//! back, and returns long-free pages to the operating system (the
//! scavenger).
//!
//! Steps of `alloc_span(n)`:
//! 0. For one page, take the lowest page on the singles list (below), if
//!    one waits there.
//! 1. Take the smallest free run of at least `n` pages (best fit), split
//!    off the rest; pages of the run that the scavenger had released are
//!    counted back in. When none is large enough and single pages wait,
//!    merge them into the runs and look once more.
//! 2. Else, for an object bigger than an arena, map an arena of its own.
//! 3. Else take `n` untouched pages from the current arena, mapping a new
//!    arena when it has too few (its untouched rest becomes a free run,
//!    released from the start).
//! 4. Build the span, in a descriptor slot of the slab (`spanalloc`),
//!    and point the page map at it.
//!
//! `free_span` puts the pages back, merging the run with free neighbours
//! (a huge object's arena is unmapped at once). A single page goes on the
//! *singles* list instead (a binary heap by address), up to
//! [`SINGLES_MAX`] of them: the spans of the two smallest size classes
//! (16 and 24 bytes) are one page (`sizeclass`), and a program whose heap
//! turns over every cycle frees and takes hundreds of them per cycle; the
//! list spares each two trips through the run trees (up to six B-tree
//! updates). It hands out its lowest page, as best fit among the runs does
//! for one page, which keeps the heap's pages dense (handing out the page
//! freed last instead made binary_trees 4-7% slower). The scavenger
//! merges pages that stayed on the list for [`SCAVENGE_AGE_NS`] into the
//! runs before it looks for old runs.
//!
//! The scavenger (`scavenge`, called by sysmon) gives back the pages of
//! runs that have stayed free for [`SCAVENGE_AGE_NS`], so the resident
//! size follows the live heap some time after a burst is freed, while
//! pages freed and reused within a few GC cycles are not faulted in
//! again. It also gives back the descriptor slab's pages that stayed
//! empty (`spanalloc`).
//!
//! Statistics: `sys` is the bytes of arena pages handed to the page heap
//! (Go's `heap_sys`; the untouched rest of an arena is not counted),
//! `released` the part of it given back to the system (`heap_released`),
//! `in_use` the bytes in spans.
//!
//! Invariants: every page of an arena past its page map is in exactly one
//! of: a span in use, a free run, the singles list, or the current
//! arena's untouched tail; free runs never touch one another (they are
//! merged) and never cross an arena's end (a page on the singles list may
//! touch a run: it is merged when it leaves the list for the runs); a
//! page on the singles list is resident (never released while there).
//! All of it is behind one lock; spans are allocated from here a page-run
//! at a time, not an object at a time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::arena::{self, ARENA_PAGES, ARENA_SIZE, META_PAGES};
use super::sizeclass::PAGE_SIZE;
use super::span::{Span, SpanClass};
use super::spanalloc::{self, SpanSlab};

/// How long a free run must stay free before the scavenger releases it:
/// long enough that a program's steady GC cycles (milliseconds to a few
/// hundred milliseconds apart) reuse their pages without faulting them in
/// again, short enough that memory returns within a couple of seconds of
/// a burst being freed.
pub const SCAVENGE_AGE_NS: u64 = 1_000_000_000;

/// At most this much is released per scavenger call, so sysmon (which
/// calls it between its other duties) never holds the page lock long.
const SCAVENGE_MAX_BYTES: usize = 64 << 20;

/// The most pages the singles list holds (8 MiB): a small heap's whole
/// turnover per cycle (the minimum heap goal is 4 MiB), while the pages it
/// keeps out of the runs, where a larger span could use them, stay few
/// next to any heap that allocates larger spans. A page freed when the
/// list is full goes to the runs.
const SINGLES_MAX: usize = 1024;

/// A run of free pages.
#[derive(Clone, Copy)]
struct Run {
    pages: usize,
    /// When the run last grew (nanoseconds since the heap started).
    freed_at: u64,
}

/// An arena and which of its pages are released.
struct ArenaInfo {
    base: usize,
    bytes: usize,
    /// One bit per page of the first `ARENA_SIZE` bytes: the page was given
    /// back to the system (or never touched) and is free.
    released: Vec<u64>,
    /// Holds one huge object (unmapped when it is freed).
    huge: bool,
}

impl ArenaInfo {
    /// Gives back the pages of the arena's page map that describe only
    /// released pages, among those covering `stretches` (pages just
    /// released): their entries are unused, and a released map page reads
    /// as zeros (no span) when an allocation writes it again. After a
    /// burst the empty arenas' maps otherwise kept 64 KiB each resident.
    /// The caller holds the page heap's lock, under which map entries are
    /// written, for the few `madvise` calls of one map page each: at most
    /// one per 4 MiB of heap released.
    fn release_map(&self, stretches: &[(usize, usize)]) {
        // Heap pages described by one system page of the map (a multiple
        // of 64, so whole words of `released`).
        const PER_MAP_PAGE: usize = spanalloc::OS_PAGE / std::mem::size_of::<usize>();
        if self.huge {
            return;
        }
        let mut last = usize::MAX;
        for &(from, n) in stretches {
            for m in from / PER_MAP_PAGE..=(from + n - 1) / PER_MAP_PAGE {
                let words = m * PER_MAP_PAGE / 64..(m + 1) * PER_MAP_PAGE / 64;
                if m == last || !self.released[words].iter().all(|&w| w == u64::MAX) {
                    continue;
                }
                last = m;
                // SAFETY: the map page lies in the arena's mapped metadata,
                // page-aligned; every page it describes is free and
                // released, so no entry of it is read, and none is written
                // without the lock the caller holds.
                unsafe { arena::release(self.base + m * spanalloc::OS_PAGE, spanalloc::OS_PAGE) };
            }
        }
    }

    /// Sets (or clears) the released bits of `n` pages from `first`;
    /// returns how many changed.
    fn mark_released(&mut self, first: usize, n: usize, on: bool) -> usize {
        let mut changed = 0;
        for page in first..(first + n).min(ARENA_PAGES) {
            let (w, bit) = (page / 64, 1u64 << (page % 64));
            if (self.released[w] & bit != 0) != on {
                self.released[w] ^= bit;
                changed += 1;
            }
        }
        changed
    }
}

/// The state behind the page heap's lock.
#[derive(Default)]
struct Pages {
    /// Every arena, sorted by address.
    arenas: Vec<ArenaInfo>,
    /// The arena being carved and its first untouched page.
    bump: Option<(usize, usize)>,
    /// Free runs by address.
    free: BTreeMap<usize, Run>,
    /// Free runs by (pages, address), for best fit.
    by_size: BTreeSet<(usize, usize)>,
    /// Single free pages not in the runs (see the module docs): address
    /// and when it was freed, lowest address on top.
    singles: BinaryHeap<Reverse<(usize, u64)>>,
    /// The memory of span descriptors.
    slab: SpanSlab,
}

impl Pages {
    fn arena(&mut self, addr: usize) -> &mut ArenaInfo {
        let i = self
            .arenas
            .partition_point(|a| a.base <= addr)
            .checked_sub(1)
            .expect("an address outside every arena");
        &mut self.arenas[i]
    }

    fn add_arena(&mut self, info: ArenaInfo) {
        let i = self.arenas.partition_point(|a| a.base < info.base);
        self.arenas.insert(i, info);
    }

    fn insert_run(&mut self, addr: usize, run: Run) {
        self.free.insert(addr, run);
        self.by_size.insert((run.pages, addr));
    }

    fn remove_run(&mut self, addr: usize) -> Run {
        let run = self.free.remove(&addr).expect("a free run");
        self.by_size.remove(&(run.pages, addr));
        run
    }
}

/// The page heap.
pub struct Mheap {
    pages: Mutex<Pages>,
    /// Bytes of arena pages handed to the page heap (`heap_sys`).
    pub(crate) sys: AtomicUsize,
    /// Bytes of free pages given back to the system (`heap_released`).
    pub(crate) released: AtomicUsize,
    /// Bytes in spans in use (`heap_inuse`).
    pub(crate) in_use: AtomicUsize,
    /// Spans in use.
    pub(crate) spans: AtomicUsize,
    started: std::time::Instant,
}

// SAFETY: the raw span pointers behind the lock are owned by the page heap
// or by whoever it handed them to; the lock serialises every change.
unsafe impl Send for Mheap {}
// SAFETY: as above.
unsafe impl Sync for Mheap {}

impl Default for Mheap {
    fn default() -> Self {
        Mheap {
            pages: Mutex::new(Pages::default()),
            sys: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
            in_use: AtomicUsize::new(0),
            spans: AtomicUsize::new(0),
            started: std::time::Instant::now(),
        }
    }
}

impl Mheap {
    fn now_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    /// A new span of `npages` pages for span class `class`, born swept in
    /// generation `sweepgen`, with scan bits if its VM marks with Green Tea
    /// (`greentea`). Aborts, like the standard allocator, when the system
    /// has no memory left.
    pub(crate) fn alloc_span(
        &self,
        npages: usize,
        class: SpanClass,
        sweepgen: u32,
        greentea: bool,
    ) -> *mut Span {
        let mut pg = self.pages.lock();
        let addr = self
            .alloc_pages(&mut pg, npages)
            .unwrap_or_else(|| oom(npages * PAGE_SIZE));
        let span = Span::new(addr, npages, class, sweepgen, greentea);
        let p = pg
            .slab
            .alloc()
            .unwrap_or_else(|| oom(spanalloc::CHUNK_BYTES));
        // SAFETY: the slot is free memory for one descriptor.
        unsafe { p.write(span) };
        let base = addr & !(ARENA_SIZE - 1);
        // SAFETY: the arena at `base` is mapped and the lock is held.
        unsafe { arena::set_pages(base, (addr - base) / PAGE_SIZE, npages, p) };
        drop(pg);
        self.in_use.fetch_add(npages * PAGE_SIZE, Ordering::Relaxed);
        self.spans.fetch_add(1, Ordering::Relaxed);
        p
    }

    fn alloc_pages(&self, pg: &mut Pages, n: usize) -> Option<usize> {
        // 0. The lowest single page.
        if n == 1 {
            if let Some(Reverse((addr, _))) = pg.singles.pop() {
                return Some(addr);
            }
        }
        // 1. Best fit among the free runs; with the single pages merged
        // in, once more, before new pages are touched.
        if let Some(addr) = self.best_fit(pg, n) {
            return Some(addr);
        }
        if !pg.singles.is_empty() {
            Self::merge_singles(pg, u64::MAX);
            if let Some(addr) = self.best_fit(pg, n) {
                return Some(addr);
            }
        }
        self.fresh_pages(pg, n)
    }

    /// Moves the pages of the singles list freed at or before `before`
    /// into the free runs, merged with their neighbours (lock held).
    fn merge_singles(pg: &mut Pages, before: u64) {
        let mut old = Vec::new();
        pg.singles.retain(|&Reverse((addr, freed_at))| {
            let keep = freed_at > before;
            if !keep {
                old.push((addr, freed_at));
            }
            keep
        });
        for (addr, freed_at) in old {
            Self::insert_free(pg, addr, 1, freed_at);
        }
    }

    /// Step 1 of `alloc_span`: the smallest free run of at least `n` pages,
    /// split (lock held).
    fn best_fit(&self, pg: &mut Pages, n: usize) -> Option<usize> {
        if let Some(&(pages, addr)) = pg.by_size.range((n, 0)..).next() {
            let run = pg.remove_run(addr);
            if pages > n {
                pg.insert_run(
                    addr + n * PAGE_SIZE,
                    Run {
                        pages: pages - n,
                        freed_at: run.freed_at,
                    },
                );
            }
            let first = (addr & (ARENA_SIZE - 1)) / PAGE_SIZE;
            let back = pg.arena(addr).mark_released(first, n, false);
            self.released.fetch_sub(back * PAGE_SIZE, Ordering::Relaxed);
            return Some(addr);
        }
        None
    }

    /// Steps 2 and 3 of `alloc_span`: pages never used before (lock held).
    fn fresh_pages(&self, pg: &mut Pages, n: usize) -> Option<usize> {
        // 2. An arena of its own for a huge object.
        if n > ARENA_PAGES - META_PAGES {
            let bytes = ((META_PAGES + n) * PAGE_SIZE).next_multiple_of(ARENA_SIZE);
            let base = arena::map(bytes)?;
            pg.add_arena(ArenaInfo {
                base,
                bytes,
                released: vec![0; ARENA_PAGES / 64],
                huge: true,
            });
            self.sys.fetch_add(n * PAGE_SIZE, Ordering::Relaxed);
            return Some(base + META_PAGES * PAGE_SIZE);
        }
        // 3. Untouched pages of the current arena, or of a new one.
        let (base, next) = match pg.bump {
            Some((base, next)) if next + n <= ARENA_PAGES => (base, next),
            old => {
                let base = arena::map(ARENA_SIZE)?;
                if let Some((ob, onext)) = old {
                    // The old arena's untouched tail becomes a free run that
                    // costs no memory: it is released from the start.
                    let rest = ARENA_PAGES - onext;
                    if rest > 0 {
                        self.sys.fetch_add(rest * PAGE_SIZE, Ordering::Relaxed);
                        self.released.fetch_add(rest * PAGE_SIZE, Ordering::Relaxed);
                        pg.arena(ob).mark_released(onext, rest, true);
                        pg.insert_run(
                            ob + onext * PAGE_SIZE,
                            Run {
                                pages: rest,
                                freed_at: 0,
                            },
                        );
                    }
                }
                pg.add_arena(ArenaInfo {
                    base,
                    bytes: ARENA_SIZE,
                    released: vec![0; ARENA_PAGES / 64],
                    huge: false,
                });
                (base, META_PAGES)
            }
        };
        pg.bump = Some((base, next + n));
        self.sys.fetch_add(n * PAGE_SIZE, Ordering::Relaxed);
        Some(base + next * PAGE_SIZE)
    }

    /// Is there a free run of at least `npages` pages (or, for one page,
    /// a page on the singles list)?
    pub(crate) fn has_free_run(&self, npages: usize) -> bool {
        let pg = self.pages.lock();
        (npages == 1 && !pg.singles.is_empty()) || pg.by_size.range((npages, 0)..).next().is_some()
    }

    /// Gives a span's pages back (its objects are gone) and recycles its
    /// descriptor.
    ///
    /// # Safety
    /// `s` came from [`alloc_span`](Self::alloc_span), is owned by the
    /// caller, and no pointer into it is used again.
    pub(crate) unsafe fn free_span(&self, s: *mut Span) {
        // SAFETY: guaranteed by the caller: the descriptor is valid and
        // the caller's.
        let (addr, n) = unsafe { ((*s).base, (*s).npages) };
        self.in_use.fetch_sub(n * PAGE_SIZE, Ordering::Relaxed);
        self.spans.fetch_sub(1, Ordering::Relaxed);
        let now = self.now_ns();
        let mut pg = self.pages.lock();
        let base = addr & !(ARENA_SIZE - 1);
        // SAFETY: the arena is mapped and the lock is held.
        unsafe { arena::set_pages(base, (addr - base) / PAGE_SIZE, n, std::ptr::null_mut()) };
        // SAFETY: guaranteed by the caller: nothing uses the descriptor
        // again.
        unsafe { std::ptr::drop_in_place(s) };
        pg.slab.free(s);
        if pg.arena(addr).huge {
            let i = pg.arenas.partition_point(|a| a.base < base);
            let info = pg.arenas.remove(i);
            self.sys.fetch_sub(n * PAGE_SIZE, Ordering::Relaxed);
            // SAFETY: the arena held only this object, which is gone.
            unsafe { arena::unmap(info.base, info.bytes) };
            return;
        }
        if n == 1 && pg.singles.len() < SINGLES_MAX {
            pg.singles.push(Reverse((addr, now)));
            return;
        }
        Self::insert_free(&mut pg, addr, n, now);
    }

    /// Adds a free run, merged with the free runs it touches (lock held).
    /// The merged run is as young as its youngest piece (a page merged in
    /// from the singles list may be older than the run it joins).
    fn insert_free(pg: &mut Pages, addr: usize, n: usize, freed_at: u64) {
        let (mut start, mut pages, mut freed_at) = (addr, n, freed_at);
        if let Some((&pa, &prev)) = pg.free.range(..addr).next_back() {
            if pa + prev.pages * PAGE_SIZE == addr {
                pg.remove_run(pa);
                start = pa;
                pages += prev.pages;
                freed_at = freed_at.max(prev.freed_at);
            }
        }
        let after = addr + n * PAGE_SIZE;
        if let Some(&next) = pg.free.get(&after) {
            pg.remove_run(after);
            pages += next.pages;
            freed_at = freed_at.max(next.freed_at);
        }
        pg.insert_run(start, Run { pages, freed_at });
    }

    /// Releases the pages of runs free for at least [`SCAVENGE_AGE_NS`]
    /// (at most [`SCAVENGE_MAX_BYTES`] per call), and the descriptor
    /// slab's idle pages; returns the bytes released. The lock is not held
    /// across `madvise`: each run is taken off the free lists (so nothing
    /// allocates it meanwhile), released without the lock, and put back,
    /// so an allocating P never waits for the system call (and a
    /// stop-the-world never waits for that P).
    pub(crate) fn scavenge(&self) -> usize {
        let slab_runs = self.pages.lock().slab.take_idle();
        if !slab_runs.is_empty() {
            // SAFETY: the runs came from `take_idle` and are put back here.
            unsafe { spanalloc::release(&slab_runs) };
            self.pages.lock().slab.put_back(&slab_runs);
        }
        let slab_bytes: usize = slab_runs.iter().map(|&(_, n)| n).sum();
        let now = self.now_ns();
        let old: Vec<(usize, usize)> = {
            let mut pg = self.pages.lock();
            // Single pages that stayed free as long as a run must, to the
            // runs (merged), where the search below finds them.
            Self::merge_singles(&mut pg, now.saturating_sub(SCAVENGE_AGE_NS));
            pg.free
                .iter()
                .filter(|(_, r)| now.saturating_sub(r.freed_at) >= SCAVENGE_AGE_NS)
                .map(|(&a, r)| (a, r.pages))
                .collect()
        };
        let mut done = 0;
        for (addr, pages) in old {
            if done >= SCAVENGE_MAX_BYTES {
                break;
            }
            // Take the run (if it is still the same free run) and note the
            // stretches of it not released yet, marking them released.
            let mut stretches = Vec::new();
            let (base, run) = {
                let mut pg = self.pages.lock();
                if pg.free.get(&addr).map(|r| r.pages) != Some(pages) {
                    continue;
                }
                let run = pg.remove_run(addr);
                let first = (addr & (ARENA_SIZE - 1)) / PAGE_SIZE;
                let info = pg.arena(addr);
                let is_rel = |p: usize| info.released[p / 64] & (1u64 << (p % 64)) != 0;
                let mut page = first;
                while page < first + pages {
                    if is_rel(page) {
                        page += 1;
                        continue;
                    }
                    let from = page;
                    while page < first + pages && !is_rel(page) {
                        page += 1;
                    }
                    stretches.push((from, page - from));
                }
                for &(from, n) in &stretches {
                    info.mark_released(from, n, true);
                }
                (info.base, run)
            };
            for &(from, n) in &stretches {
                // SAFETY: the run is off the free lists, so no span uses
                // it; it is inside its arena and page-aligned.
                unsafe { arena::release(base + from * PAGE_SIZE, n * PAGE_SIZE) };
                done += n * PAGE_SIZE;
            }
            let mut pg = self.pages.lock();
            pg.arena(addr).release_map(&stretches);
            Self::insert_free(&mut pg, addr, pages, run.freed_at);
        }
        self.released.fetch_add(done, Ordering::Relaxed);
        done + slab_bytes
    }

    /// Calls `f` on every span in use (the heap is being torn down, or the
    /// world is stopped).
    pub(crate) fn for_each_span(&self, mut f: impl FnMut(*mut Span)) {
        let pg = self.pages.lock();
        for a in &pg.arenas {
            let mut page = META_PAGES;
            let end = ARENA_PAGES.min(a.bytes / PAGE_SIZE);
            while page < end {
                let addr = a.base + page * PAGE_SIZE;
                // SAFETY: the arena is mapped; the page map covers `page`.
                let s = unsafe { arena::span_of(addr) };
                // SAFETY: a non-null entry points to a span in use.
                if !s.is_null() && unsafe { (*s).base } == addr {
                    f(s);
                    // SAFETY: as above.
                    page += unsafe { (*s).npages };
                } else {
                    page += 1;
                }
            }
        }
    }
}

impl Drop for Mheap {
    fn drop(&mut self) {
        let pg = self.pages.get_mut();
        for a in pg.arenas.drain(..) {
            // SAFETY: the heap is being dropped; its objects were dropped
            // first (`Heap::drop`) and nothing points into the arena.
            unsafe { arena::unmap(a.base, a.bytes) };
        }
    }
}

/// Ends the process when the system refuses memory, as the standard
/// allocator does.
#[cold]
fn oom(bytes: usize) -> ! {
    let layout = std::alloc::Layout::from_size_align(bytes.max(1), PAGE_SIZE)
        .unwrap_or(std::alloc::Layout::new::<u8>());
    std::alloc::handle_alloc_error(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-page span of size class 1, and its first page's address.
    fn one_page(h: &Mheap) -> (*mut Span, usize) {
        let s = h.alloc_span(1, SpanClass::new(1, true), 0, false);
        // SAFETY: the span was just made and is this test's.
        (s, unsafe { (*s).base })
    }

    /// Freed pages are handed out again, lowest first whatever the order
    /// they were freed in, without going through the runs, and without
    /// taking new pages.
    #[test]
    fn single_pages_come_back_lowest_first() {
        let h = Mheap::default();
        let (a, pa) = one_page(&h);
        let (b, pb) = one_page(&h);
        assert!(pa < pb);
        let sys = h.sys.load(Ordering::Relaxed);
        // SAFETY: both spans are this test's and unused.
        unsafe {
            h.free_span(b);
            h.free_span(a);
        }
        assert!(h.has_free_run(1));
        assert!(h.pages.lock().free.is_empty(), "no run was made");
        assert_eq!(one_page(&h).1, pa);
        assert_eq!(one_page(&h).1, pb);
        assert_eq!(h.sys.load(Ordering::Relaxed), sys);
    }

    /// Two neighbouring single pages serve a two-page span once nothing
    /// else can: they are merged into a run rather than new pages taken.
    #[test]
    fn single_pages_merge_for_a_larger_span() {
        let h = Mheap::default();
        let (a, pa) = one_page(&h);
        let (b, pb) = one_page(&h);
        assert_eq!(pb, pa + PAGE_SIZE, "fresh pages are handed out in order");
        let (_c, _) = one_page(&h);
        let sys = h.sys.load(Ordering::Relaxed);
        // SAFETY: both spans are this test's and unused.
        unsafe {
            h.free_span(a);
            h.free_span(b);
        }
        assert!(!h.has_free_run(2));
        let two = h.alloc_span(2, SpanClass::new(1, true), 0, false);
        // SAFETY: the span was just made.
        assert_eq!(unsafe { (*two).base }, pa);
        assert_eq!(h.sys.load(Ordering::Relaxed), sys);
        assert!(h.pages.lock().singles.is_empty());
    }
}
