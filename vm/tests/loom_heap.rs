//! Loom models of the span heap's shared-state protocols: the sweep claim
//! on a span's `sweepgen`, the hand-off of spans between mcaches, the
//! central lists and the sweepers, and the mark and owns bitmap words that
//! markers, mutators and the sweeper change at the same time.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" cargo test --release -p skein-vm --target-dir target/loom --test loom_heap`
//! (add `-- --nocapture` to see how many executions each model explored).
//!
//! The real code (`vm/src/heap/` and `vm/src/gc/sweep.rs`) uses
//! `parking_lot` locks and `std` atomics directly, so it cannot run under
//! loom. As in `loom_syscall.rs` and `loom_gc.rs`, this file restates each
//! protocol with loom's atomics, `Mutex`, threads and `UnsafeCell`, step by
//! step, with the same orderings; it uses nothing from the crate. Every
//! model function names the real function it mirrors. When the real code
//! changes, the model here must change with it, or it proves nothing.
//!
//! What is restated, and from where:
//! - `heap::span::Span`: the allocation state (`alloc_word`, `alloc_cache`,
//!   `alloc_bits`, `alloc_count`) and the code that reads and writes it
//!   (`reset_cache`, `refill_cache`, `next_free`, `allocated_word`,
//!   `has_free`) are plain Rust in a loom `UnsafeCell` ([`Alloc`]): only
//!   the span's owner may touch it, so two owners at once are a data race
//!   that loom reports. The mark, scan and owns bitmaps are loom atomics,
//!   changed as `mark_index` (a relaxed load, then `fetch_or` with
//!   `SeqCst`), `mark_black_index` (`fetch_or` on the scan word with
//!   `AcqRel`, then on the mark word with `SeqCst`), `set_owns_index` (a
//!   relaxed load, then `fetch_or` with `AcqRel` on the owns word) and
//!   `sweep_bits` (`mark_bits.swap(0, AcqRel)`, a relaxed store of 0 to
//!   the scan word, then `owns_bits.fetch_and(!gone, AcqRel)`) change
//!   them. A slot is an index here, not an address. The orderings are
//!   the real code's (`mark_index` is sequentially consistent because
//!   Green Tea's queue hand-off relies on it). In the real `Span` the
//!   allocation state sits in an `UnsafeCell` too, so the owner's writes
//!   never alias the `&Span` that markers and mutators hold.
//! - `heap::central::Central`: the four lists (partial or full, swept or
//!   unswept, the swept set being `sg / 2 % 2`) behind one loom `Mutex`,
//!   with `push`, `pop_swept_partial`, `pop_unswept` and `cache_span`.
//! - `gc::sweep`: `start` (the heap's `sweepgen` grows by 2 with the world
//!   stopped, and every mcache gives its spans back with
//!   `Mcache::release_all`), `claim` (compare-and-swap of the span's
//!   `sweepgen` from `sg - 2` to `sg - 1`, `AcqRel` on success, `Relaxed`
//!   on failure), `sweep_span` (sweep the bits, store `sweepgen = sg` with
//!   `Release`, then keep the span, free it, or push it on its central
//!   list) and `sweep_one` (pop an unswept span, claim it, sweep it).
//! - `heap::Mcache::refill` (hand the used-up span back with `push`, then
//!   `cache_span`, then `next_free`) and `heap::mheap`'s page heap (a
//!   loom `Mutex` around the free spans).
//!
//! The properties checked, one model each:
//! 1. [`sweepgen_claim_has_one_winner`]: two sweepers that reach the same
//!    unswept span (the background sweeper's `sweep_one` and an
//!    allocating P's `cache_span`) both claim it; exactly one wins, only
//!    the winner touches the allocation state, the span is swept once
//!    (its dead object dropped once, its live object kept) and ends with
//!    `sweepgen == sg`.
//! 2. [`span_handoff_between_mcache_and_central`]: a span that an mcache
//!    allocated from goes back to the central lists at mark termination;
//!    in the next cycle the background sweeper and another P's `refill`
//!    race for it through the lists. Whichever pops it unswept must win
//!    the claim before sweeping it; when the sweeper sweeps it and pushes
//!    it on the swept partial list, the P may pop it and allocate from it
//!    at once, and the central lock is the only happens-before edge
//!    between the sweeper's writes and the P's (loom reports a race on the
//!    allocation state if it is missing). The P's used-up span, pushed on
//!    the swept full list by `refill`, is popped by nobody in that cycle.
//! 3. [`marking_and_owns_bits_race_with_sweep_words`]: two markers of the
//!    same slot race (exactly one gets `true` from `mark_index`) while a
//!    mutator sets the owns bit of a live object whose word also holds a
//!    dead object's owns bit; after mark termination the sweeper clears
//!    the mark word and the dead object's owns bit while another mutator
//!    sets the owns bit of a live object in the same word. The live
//!    objects' owns bits survive the sweep, the dead one's is cleared, and
//!    the dead object is dropped exactly once.
//! 4. [`allocate_black_shares_mark_words_with_a_marker`]: while the
//!    collector marks, an mcache allocates from its span (`next_free`,
//!    crossing to the next bitmap word with `refill_cache`) and marks each
//!    new object black (`gc::mark::mark_new`, which is
//!    `Span::mark_black_index`: under Green Tea scan bit, then mark bit;
//!    per-object marking sets only the mark bit, the same `fetch_or`, and
//!    the model takes the Green Tea path, the larger) while a marker
//!    marks live objects in the same words (`mark_index`). Every bit set
//!    by either survives, and `next_free` never hands out a slot of a live
//!    object.
//!
//! Why the hand-offs are modelled as they are (the real code's rules):
//! - An mcache gives a span back in two places only: `refill`, whose span
//!   is used up (it goes on the swept full list, which nothing pops until
//!   the next mark termination turns it unswept; `alloc_large` pushes its
//!   one-slot span there too), and `release_all`, which runs with the
//!   world stopped. So a span an mcache wrote reaches another thread
//!   only across a stop-the-world, which the models write as a join of
//!   every thread of the cycle before (as `loom_gc.rs` does).
//!   The concurrent hand-offs through the lists are the sweeper's push of
//!   a swept span and an mcache's pop of it, and the pops of unswept
//!   spans by the sweepers (model 2).
//! - A span is on one list at a time and is popped under the central lock,
//!   so in today's code two sweepers never hold the same unswept span and
//!   the claim never fails. The claim is still the rule that makes the
//!   sweep exclusive (as in Go, where a span may also be reached from the
//!   page heap), so model 1 gives both sweepers the span directly and
//!   checks the compare-and-swap alone.
//!
//! What is left out, and why that is sound:
//! - Span classes: one class, so one `Central` and no sweep cursor
//!   (`sweep_one` looks at every class in turn; one class is one step of
//!   that loop).
//! - The byte and object counts, the unswept span count and the
//!   `GCSweepDone` event: counters the protocols do not order anything by.
//! - Green Tea's span queue (`Span::queued`, `try_queue`, `take_grey`,
//!   `unqueue`): a marking protocol of its own, which needs its own model;
//!   here the scan bits appear only where allocation and the sweep write
//!   them.
//! - Object headers and bodies: dropping a dead object is recorded in the
//!   span's allocation state (only the sweep's owner may do it, so a
//!   second sweep is a race or a second entry).
//! - The heap's `sweepgen` is read once per step, as the real code reads it
//!   (`Heap::sweepgen`); it only changes with the world stopped.
//!
//! Broken variants, each made by editing this file, run to see loom fail,
//! then reverted:
//! - `claim` as a load and a store instead of one compare-and-swap: model
//!   1 fails (both sweepers win, and loom reports concurrent writes to the
//!   span's allocation state). Model 2 still passes, as it should: there
//!   the central lock lets only one sweeper pop the span (see above).
//! - The central lists behind a spin lock whose lock and unlock are
//!   `Relaxed` (a flag, so no happens-before) instead of the `Mutex`:
//!   model 2 fails with concurrent writes to the span's allocation state
//!   (the sweeper's sweep and P2's `next_free` in `refill`).
//! - `sweep_span` storing `sweepgen` and pushing the span on its central
//!   list before sweeping it: model 2 fails the same way.
//! - `mark_index` as a load and a store instead of `fetch_or`: model 3
//!   fails (both markers get `true`), and model 4 fails (a mark is lost).
//! - `mark_black_index` setting the mark bit with a load and a store
//!   instead of `fetch_or`: model 4 fails (a mark bit is lost).
//! - `sweep_bits` clearing the owns bits with a load and a store instead
//!   of `fetch_and`, or `set_owns_index` setting its bit with a load and a
//!   store instead of `fetch_or`: model 3 fails (the owns bit the mutator
//!   sets during the sweep is lost, or the dead object's bit comes back).
//!
//! Preemption bounds: loom explores every interleaving with at most that
//! many forced context switches. Every model here is explored
//! exhaustively (see [`EXHAUSTIVE`]), in about 2,200 executions in all;
//! the whole file runs in a fraction of a second (release build).

#![cfg(loom)]

mod loom_common;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use loom_common::model;

/// No preemption bound: every interleaving. Every model here has at most
/// three threads running at once and a few dozen loom operations.
const EXHAUSTIVE: Option<usize> = None;

/// Bits per bitmap word, as in the real `u64` bitmaps.
const WORD_BITS: usize = 64;

/// Bitmap words per model span: two, so that model 4's allocation can
/// move to the next word (`refill_cache`). The real span has
/// `MAX_NELEMS / 64`; the code is the same for any number.
const BITMAP_WORDS: usize = 2;

/// Slots of a one-word span: room for two live objects, a dead one and a
/// free slot, and fewer than a word, so `valid` masks the word as it does
/// for the real classes whose slot count is not a multiple of 64.
const SMALL_NELEMS: usize = 4;

/// Slots of model 4's two-word span: a full first word and two slots in
/// the second.
const TWO_WORD_NELEMS: usize = WORD_BITS + 2;

/// The heap's first sweep generation: the real heap starts at 2 so that
/// `sg - 2` never wraps (`Heap::new`).
const FIRST_SG: u32 = 2;

/// `central::SWEEP_BUDGET`: unswept spans `cache_span` sweeps before it
/// takes fresh pages. The model's lists never hold that many, so it never
/// binds; it is kept so that the loop reads as the real one.
const SWEEP_BUDGET: usize = 100;

// ---------------------------------------------------------------------------
// Spans (`heap/span.rs`).

/// A span's allocation state: the fields of `Span` that only its owner
/// (an mcache, the central lists under their lock, or the sweeper that
/// claimed it) may touch.
struct Alloc {
    /// `Span::nelems`.
    nelems: usize,
    /// `Span::alloc_word`.
    alloc_word: usize,
    /// `Span::alloc_cache`.
    alloc_cache: u64,
    /// `Span::alloc_bits`.
    alloc_bits: [u64; BITMAP_WORDS],
    /// `Span::alloc_count`.
    alloc_count: usize,
    /// The slots whose objects the sweep dropped (`sweep::drop_object`),
    /// in order; the model's record of the sweep's visits.
    dropped: Vec<usize>,
}

impl Alloc {
    /// `Span::new`'s allocation state: every slot free.
    fn new(nelems: usize) -> Alloc {
        let mut a = Alloc {
            nelems,
            alloc_word: 0,
            alloc_cache: 0,
            alloc_bits: [0; BITMAP_WORDS],
            alloc_count: 0,
            dropped: Vec::new(),
        };
        a.reset_cache();
        a
    }

    /// `Span::words`.
    fn words(&self) -> usize {
        self.nelems.div_ceil(WORD_BITS)
    }

    /// `Span::valid`: the bits of word `w` that name real slots.
    fn valid(&self, w: usize) -> u64 {
        let left = self.nelems - w * WORD_BITS;
        if left >= WORD_BITS {
            u64::MAX
        } else {
            (1u64 << left) - 1
        }
    }

    /// `Span::reset_cache`.
    fn reset_cache(&mut self) {
        self.alloc_word = 0;
        self.alloc_cache = !self.alloc_bits[0] & self.valid(0);
        if self.alloc_cache == 0 {
            self.refill_cache();
        }
    }

    /// `Span::refill_cache`.
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

    /// `Span::next_free`: the index of a free slot, now allocated.
    fn next_free(&mut self) -> Option<usize> {
        if self.alloc_cache == 0 && !self.refill_cache() {
            return None;
        }
        let bit = self.alloc_cache.trailing_zeros() as usize;
        self.alloc_cache &= self.alloc_cache - 1;
        Some(self.alloc_word * WORD_BITS + bit)
    }

    /// `Span::allocated_word`.
    fn allocated_word(&self, w: usize) -> u64 {
        match w.cmp(&self.alloc_word) {
            std::cmp::Ordering::Less => self.valid(w),
            std::cmp::Ordering::Equal => self.valid(w) & !self.alloc_cache,
            std::cmp::Ordering::Greater => self.alloc_bits[w],
        }
    }

    /// Is slot `idx` allocated? (`allocated_word`, one bit.)
    fn is_allocated(&self, idx: usize) -> bool {
        self.allocated_word(idx / WORD_BITS) & bit_of(idx) != 0
    }

    /// `Span::has_free`.
    fn has_free(&self) -> bool {
        self.alloc_cache != 0
            || (self.alloc_word + 1..self.words()).any(|w| !self.alloc_bits[w] & self.valid(w) != 0)
    }
}

/// The bit of slot `idx` in its bitmap word.
fn bit_of(idx: usize) -> u64 {
    1u64 << (idx % WORD_BITS)
}

/// `heap::span::Span`, as far as these protocols go.
struct Span {
    /// The owner's state (see [`Alloc`]).
    alloc: UnsafeCell<Alloc>,
    /// `Span::mark_bits`.
    mark_bits: [AtomicU64; BITMAP_WORDS],
    /// `Span::scan_bits` (Green Tea: marked objects already scanned).
    scan_bits: [AtomicU64; BITMAP_WORDS],
    /// `Span::owns_bits`.
    owns_bits: [AtomicU64; BITMAP_WORDS],
    /// `Span::sweepgen`.
    sweepgen: AtomicU32,
}

// SAFETY: `alloc` is only touched by the span's owner (the property the
// models check: loom reports any access not ordered after the previous
// owner's); the bitmaps and `sweepgen` are atomics.
unsafe impl Sync for Span {}

impl Span {
    /// `Span::new`: a span of `nelems` free slots, born in generation
    /// `sweepgen`.
    fn new(nelems: usize, sweepgen: u32) -> Span {
        Span {
            alloc: UnsafeCell::new(Alloc::new(nelems)),
            mark_bits: std::array::from_fn(|_| AtomicU64::new(0)),
            scan_bits: std::array::from_fn(|_| AtomicU64::new(0)),
            owns_bits: std::array::from_fn(|_| AtomicU64::new(0)),
            sweepgen: AtomicU32::new(sweepgen),
        }
    }

    /// The owner changes the allocation state.
    fn with_alloc<R>(&self, f: impl FnOnce(&mut Alloc) -> R) -> R {
        self.alloc.with_mut(|a| {
            // SAFETY: only the span's owner calls this (checked by loom).
            f(unsafe { &mut *a })
        })
    }

    /// The owner reads the allocation state.
    fn read_alloc<R>(&self, f: impl FnOnce(&Alloc) -> R) -> R {
        self.alloc.with(|a| {
            // SAFETY: only the span's owner calls this (checked by loom).
            f(unsafe { &*a })
        })
    }

    /// `Span::mark_index`: sets the mark bit of slot `idx`; true when this
    /// call set it.
    fn mark_index(&self, idx: usize) -> bool {
        let (w, bit) = (idx / WORD_BITS, bit_of(idx));
        let word = &self.mark_bits[w];
        word.load(Ordering::Relaxed) & bit == 0 && word.fetch_or(bit, Ordering::SeqCst) & bit == 0
    }

    /// `Span::mark_black_index` under Green Tea: marks slot `idx` black at
    /// once (an object allocated while the collector marks).
    fn mark_black_index(&self, idx: usize) {
        let (w, bit) = (idx / WORD_BITS, bit_of(idx));
        self.scan_bits[w].fetch_or(bit, Ordering::AcqRel);
        self.mark_bits[w].fetch_or(bit, Ordering::SeqCst);
    }

    /// Is slot `idx`'s scan bit set? (Read only by the models' checks.)
    fn is_scanned_index(&self, idx: usize) -> bool {
        self.scan_bits[idx / WORD_BITS].load(Ordering::Acquire) & bit_of(idx) != 0
    }

    /// `Span::is_marked_index`.
    fn is_marked_index(&self, idx: usize) -> bool {
        self.mark_bits[idx / WORD_BITS].load(Ordering::Acquire) & bit_of(idx) != 0
    }

    /// `Span::set_owns_index`.
    fn set_owns_index(&self, idx: usize) {
        let (w, bit) = (idx / WORD_BITS, bit_of(idx));
        if self.owns_bits[w].load(Ordering::Relaxed) & bit == 0 {
            self.owns_bits[w].fetch_or(bit, Ordering::AcqRel);
        }
    }

    /// `Span::owns_index`.
    fn owns_index(&self, idx: usize) -> bool {
        self.owns_bits[idx / WORD_BITS].load(Ordering::Acquire) & bit_of(idx) != 0
    }

    /// `Span::sweep_bits`: frees every allocated, unmarked slot, dropping
    /// (here: recording) those whose owns bit is set, makes the mark bits
    /// the allocation bits and clears the mark bits. Returns the objects
    /// freed and how many of them were not visited. The caller owns the
    /// span (it claimed it).
    fn sweep_bits(&self) -> (usize, usize) {
        self.with_alloc(|a| {
            let (mut freed, mut plain) = (0, 0);
            let mut count = 0;
            for w in 0..a.words() {
                let marked = self.mark_bits[w].swap(0, Ordering::AcqRel);
                self.scan_bits[w].store(0, Ordering::Relaxed);
                let alloc = a.allocated_word(w);
                let gone = alloc & !marked;
                if gone != 0 {
                    let owners = self.owns_bits[w].fetch_and(!gone, Ordering::AcqRel) & gone;
                    freed += gone.count_ones() as usize;
                    plain += (gone & !owners).count_ones() as usize;
                    let mut visit = owners;
                    while visit != 0 {
                        let b = visit.trailing_zeros() as usize;
                        visit &= visit - 1;
                        // `sweep::drop_object` on the dead object.
                        a.dropped.push(w * WORD_BITS + b);
                    }
                }
                let live = marked & alloc;
                a.alloc_bits[w] = live;
                count += live.count_ones() as usize;
            }
            a.alloc_count = count;
            a.reset_cache();
            (freed, plain)
        })
    }
}

// ---------------------------------------------------------------------------
// The heap: central lists (`heap/central.rs`), page heap (`heap/mheap.rs`)
// and the sweep (`gc/sweep.rs`).

/// `central::Lists`: span indices into [`Heap::spans`].
#[derive(Default)]
struct Lists {
    partial: [Vec<usize>; 2],
    full: [Vec<usize>; 2],
}

/// `central::swept`: the index of the swept set in generation `sg`.
fn swept(sg: u32) -> usize {
    (sg / 2 % 2) as usize
}

/// The heap of one span class.
struct Heap {
    /// `Heap::sweepgen`.
    sweepgen: AtomicU32,
    /// `Central::lists` of the one class.
    central: Mutex<Lists>,
    /// `mheap`'s free spans, behind its lock. A span taken from it is
    /// built fresh by `Span::new` in the real code; here the model builds
    /// it in advance, born swept in the generation that takes it.
    free: Mutex<Vec<usize>>,
    /// Every span descriptor (the arena's page map, reduced to indices).
    spans: Vec<Span>,
}

impl Heap {
    fn new(sweepgen: u32, spans: Vec<Span>, free: Vec<usize>) -> Heap {
        Heap {
            sweepgen: AtomicU32::new(sweepgen),
            central: Mutex::new(Lists::default()),
            free: Mutex::new(free),
            spans,
        }
    }

    /// `Heap::sweepgen`.
    fn sweepgen(&self) -> u32 {
        self.sweepgen.load(Ordering::Acquire)
    }

    /// `Central::push`: the caller owns span `s` and hands it to the
    /// lists.
    fn push(&self, s: usize, sg: u32) {
        let span = &self.spans[s];
        let set = if span.sweepgen.load(Ordering::Acquire) == sg {
            swept(sg)
        } else {
            1 - swept(sg)
        };
        let mut l = self.central.lock().unwrap();
        if span.read_alloc(Alloc::has_free) {
            l.partial[set].push(s);
        } else {
            l.full[set].push(s);
        }
    }

    /// `Central::pop_swept_partial`.
    fn pop_swept_partial(&self, sg: u32) -> Option<usize> {
        self.central.lock().unwrap().partial[swept(sg)].pop()
    }

    /// `Central::pop_unswept`.
    fn pop_unswept(&self, sg: u32) -> Option<usize> {
        let mut l = self.central.lock().unwrap();
        let u = 1 - swept(sg);
        l.partial[u].pop().or_else(|| l.full[u].pop())
    }

    /// `Mheap::alloc_span`: a fresh span from the page heap.
    fn alloc_span(&self, sg: u32) -> usize {
        let s = self
            .free
            .lock()
            .unwrap()
            .pop()
            .expect("the model's page heap ran out of spans");
        assert_eq!(self.spans[s].sweepgen.load(Ordering::Relaxed), sg);
        s
    }

    /// `Mheap::free_span`.
    fn free_span(&self, s: usize) {
        self.free.lock().unwrap().push(s);
    }

    /// `sweep::claim`: true for the one caller that moves span `s`'s
    /// `sweepgen` from `sg - 2` to `sg - 1`.
    fn claim(&self, s: usize, sg: u32) -> bool {
        self.spans[s]
            .sweepgen
            .compare_exchange(sg - 2, sg - 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// `sweep::sweep_span`: the caller won `claim(s, sg)`. With `keep`, a
    /// span left with a free slot stays with the caller (true);
    /// otherwise it goes to the page heap when empty, or to its central
    /// list.
    fn sweep_span(&self, s: usize, keep: bool) -> bool {
        let sg = self.sweepgen();
        let span = &self.spans[s];
        span.sweep_bits();
        span.sweepgen.store(sg, Ordering::Release);
        let (has_free, count) = span.read_alloc(|a| (a.has_free(), a.alloc_count));
        if keep && has_free {
            true
        } else if count == 0 {
            self.free_span(s);
            false
        } else {
            self.push(s, sg);
            false
        }
    }

    /// `sweep::sweep_one`, for the one class: claims and sweeps one
    /// unswept span; false when none is left to claim.
    fn sweep_one(&self) -> bool {
        let sg = self.sweepgen();
        while let Some(s) = self.pop_unswept(sg) {
            if self.claim(s, sg) {
                self.sweep_span(s, false);
                return true;
            }
        }
        false
    }

    /// `central::cache_span`: a span with a free slot, for an mcache.
    fn cache_span(&self) -> usize {
        let sg = self.sweepgen();
        if let Some(s) = self.pop_swept_partial(sg) {
            return s;
        }
        for _ in 0..SWEEP_BUDGET {
            let Some(s) = self.pop_unswept(sg) else {
                break;
            };
            if self.claim(s, sg) && self.sweep_span(s, true) {
                return s;
            }
        }
        self.alloc_span(sg)
    }

    /// `Mcache::refill`: hands the mcache's used-up span (if any) back to
    /// the central lists, takes one with a free slot, and allocates from
    /// it. Returns the new span and the slot.
    fn refill(&self, mc: &mut Option<usize>) -> (usize, usize) {
        if let Some(old) = mc.take() {
            self.push(old, self.sweepgen());
        }
        let s = self.cache_span();
        *mc = Some(s);
        let slot = self.spans[s]
            .with_alloc(Alloc::next_free)
            .expect("cache_span returned a full span");
        (s, slot)
    }

    /// `sweep::start`, with the world stopped: the heap's generation grows
    /// by 2 and every mcache gives its spans back (`Mcache::release_all`).
    fn start(&self, mcaches: &mut [Option<usize>]) {
        self.sweepgen.fetch_add(2, Ordering::AcqRel);
        for mc in mcaches {
            // `Mcache::release_all`.
            let sg = self.sweepgen();
            if let Some(s) = mc.take() {
                self.push(s, sg);
            }
        }
    }

    /// Where span `s` is on the central lists: `(partial, set)` for each
    /// time it is there. Called after every thread has joined.
    fn places(&self, s: usize) -> Vec<(bool, usize)> {
        let l = self.central.lock().unwrap();
        let mut at = Vec::new();
        for set in 0..2 {
            at.extend(
                l.partial[set]
                    .iter()
                    .filter(|&&x| x == s)
                    .map(|_| (true, set)),
            );
            at.extend(
                l.full[set]
                    .iter()
                    .filter(|&&x| x == s)
                    .map(|_| (false, set)),
            );
        }
        at
    }
}

// ---------------------------------------------------------------------------
// Models.

/// Model 1: two sweepers reach one unswept span and both claim it
/// (`sweep::claim`); exactly one wins and sweeps it (`sweep_span`), the
/// other never touches its allocation state.
#[test]
fn sweepgen_claim_has_one_winner() {
    model("sweepgen_claim_has_one_winner", EXHAUSTIVE, || {
        // The span of the first cycle: P1's mcache allocated a live and a
        // dead object from it, the dead one owning storage, and the
        // markers reached the live one. Then mark termination made the
        // generation `sg`, so the span (still `sg - 2`) needs sweeping.
        let s = 0;
        let h = Heap::new(FIRST_SG, vec![Span::new(SMALL_NELEMS, FIRST_SG)], vec![]);
        let span = &h.spans[s];
        let (live, dead) = span.with_alloc(|a| (a.next_free().unwrap(), a.next_free().unwrap()));
        span.set_owns_index(dead);
        assert!(span.mark_index(live));
        h.start(&mut []);
        let sg = h.sweepgen();
        let h = Arc::new(h);

        // The background sweeper: `sweep_one` after its pop.
        let bg = {
            let h = h.clone();
            thread::spawn(move || {
                let won = h.claim(s, sg);
                if won {
                    h.sweep_span(s, false);
                }
                won
            })
        };
        // An allocating P: `cache_span` after its pop, then `refill`'s
        // `next_free` on the span it keeps.
        let mine = if h.claim(s, sg) {
            assert!(h.sweep_span(s, true), "the sweep left free slots");
            let slot = h.spans[s].with_alloc(Alloc::next_free).unwrap();
            assert_ne!(slot, live, "a live object's slot was handed out");
            true
        } else {
            false
        };
        let theirs = bg.join().unwrap();

        assert!(mine != theirs, "exactly one claimer: P={mine} bg={theirs}");
        let span = &h.spans[s];
        assert_eq!(span.sweepgen.load(Ordering::Acquire), sg);
        span.read_alloc(|a| {
            assert_eq!(a.dropped, vec![dead], "the dead object is dropped once");
            assert!(a.is_allocated(live), "the live object survives");
        });
        // The background sweeper pushed it on the swept partial list;
        // the P kept it.
        let want = if theirs {
            vec![(true, swept(sg))]
        } else {
            vec![]
        };
        assert_eq!(h.places(s), want);
    });
}

/// Model 2: a span goes from P1's mcache to the central lists at mark
/// termination (`sweep::start`, `Mcache::release_all`); in the next cycle
/// the background sweeper (`sweep_one`) and P2's `Mcache::refill`
/// (`push` of its used-up span, `cache_span`, `next_free`) race for it.
#[test]
fn span_handoff_between_mcache_and_central() {
    model(
        "span_handoff_between_mcache_and_central",
        EXHAUSTIVE,
        || {
            // Span 0 is P1's in the first cycle. Span 1 is the span P2 took
            // earlier in the second cycle (born swept then) and has used up.
            // Span 2 is the page heap's next fresh span.
            let (s, used, fresh) = (0, 1, 2);
            let next_sg = FIRST_SG + 2;
            let spans = vec![
                Span::new(SMALL_NELEMS, FIRST_SG),
                Span::new(SMALL_NELEMS, next_sg),
                Span::new(SMALL_NELEMS, next_sg),
            ];
            spans[used].with_alloc(|a| while a.next_free().is_some() {});
            let h = Arc::new(Heap::new(FIRST_SG, spans, vec![fresh]));

            // First cycle: P1's mcache allocates a live object and a dead one
            // (which owns storage) from span `s`.
            let p1 = {
                let h = h.clone();
                thread::spawn(move || {
                    let span = &h.spans[s];
                    let (live, dead) =
                        span.with_alloc(|a| (a.next_free().unwrap(), a.next_free().unwrap()));
                    span.set_owns_index(dead);
                    (Some(s), live, dead)
                })
            };
            // Mark termination: the world is stopped (P1 has joined), the
            // markers reached the live object, and `start` makes the mcaches
            // give their spans back.
            let (mc1, live, dead) = p1.join().unwrap();
            assert!(h.spans[s].mark_index(live));
            h.start(&mut [mc1]);
            let sg = h.sweepgen();
            assert_eq!(sg, next_sg);
            assert_eq!(h.places(s), vec![(true, 1 - swept(sg))], "s is unswept");

            // Second cycle, world running: the background sweeper and P2.
            let bg = {
                let h = h.clone();
                thread::spawn(move || h.sweep_one())
            };
            let p2 = {
                let h = h.clone();
                thread::spawn(move || {
                    let mut mc = Some(used);
                    h.refill(&mut mc)
                })
            };
            let swept_by_bg = bg.join().unwrap();
            let (got, slot) = p2.join().unwrap();

            // `s` was swept exactly once, by one owner at a time.
            let span = &h.spans[s];
            assert_eq!(span.sweepgen.load(Ordering::Acquire), sg);
            span.read_alloc(|a| {
                assert_eq!(a.dropped, vec![dead], "the dead object is dropped once");
                assert!(a.is_allocated(live), "the live object survives");
            });
            if got == s {
                // P2 allocated from `s`: the slot it got was free (the dead
                // object's, reused), never the live object's.
                assert_ne!(slot, live);
                assert!(h.places(s).is_empty(), "s is P2's, on no list");
            } else {
                // P2 found nothing swept or unswept (the sweeper held `s`) and
                // took fresh pages; `s` is on the swept partial list.
                assert_eq!(got, fresh);
                assert!(swept_by_bg);
                assert_eq!(h.places(s), vec![(true, swept(sg))]);
            }
            // P2's used-up span is on the swept full list, popped by nobody.
            assert_eq!(h.places(used), vec![(false, swept(sg))]);
        },
    );
}

/// Model 3: the mark and owns words of one span shared by markers
/// (`Span::mark_index`), mutators (`Span::set_owns_index`, from
/// `heap::set_owns`) and, after mark termination, the sweeper
/// (`sweep::claim`, `Span::sweep_bits`, `sweep_span`'s store).
#[test]
fn marking_and_owns_bits_race_with_sweep_words() {
    model(
        "marking_and_owns_bits_race_with_sweep_words",
        EXHAUSTIVE,
        || {
            let s = 0;
            let h = Heap::new(FIRST_SG, vec![Span::new(SMALL_NELEMS, FIRST_SG)], vec![]);
            // An mcache allocated three objects, all in one bitmap word: two
            // that stay reachable, and one that dies, owning storage (its owns
            // bit was set at allocation).
            let span = &h.spans[s];
            let (live, dead, live2) = span.with_alloc(|a| {
                (
                    a.next_free().unwrap(),
                    a.next_free().unwrap(),
                    a.next_free().unwrap(),
                )
            });
            assert_eq!(live / WORD_BITS, live2 / WORD_BITS);
            assert_eq!(live / WORD_BITS, dead / WORD_BITS);
            span.set_owns_index(dead);
            let h = Arc::new(h);

            // Marking: two markers reach the live object at once (one of them
            // also reaches the second); the live object's storage grows, so
            // its mutator sets its owns bit.
            let markers: Vec<_> = [true, false]
                .into_iter()
                .map(|also_live2| {
                    let h = h.clone();
                    thread::spawn(move || {
                        let won = h.spans[s].mark_index(live);
                        if also_live2 {
                            h.spans[s].mark_index(live2);
                        }
                        won
                    })
                })
                .collect();
            h.spans[s].set_owns_index(live);
            // Mark termination: the world is stopped (everything has joined)
            // and the generation grows by 2.
            let wins: Vec<bool> = markers.into_iter().map(|m| m.join().unwrap()).collect();
            assert_eq!(
                wins.iter().filter(|w| **w).count(),
                1,
                "exactly one marker sets the bit: {wins:?}"
            );
            h.start(&mut []);

            // Sweeping, world running: the sweeper claims and sweeps the span
            // while the second live object's storage grows.
            let sweeper = {
                let h = h.clone();
                thread::spawn(move || {
                    let sg = h.sweepgen();
                    assert!(h.claim(s, sg));
                    h.sweep_span(s, false);
                })
            };
            h.spans[s].set_owns_index(live2);
            sweeper.join().unwrap();

            let span = &h.spans[s];
            assert!(
                span.owns_index(live),
                "a live owns bit set while marking survives"
            );
            assert!(
                span.owns_index(live2),
                "a live owns bit set while sweeping survives"
            );
            assert!(
                !span.owns_index(dead),
                "the dead object's owns bit is cleared"
            );
            assert!(!span.is_marked_index(live) && !span.is_marked_index(live2));
            span.read_alloc(|a| {
                assert_eq!(a.dropped, vec![dead]);
                assert_eq!(a.alloc_bits[0], bit_of(live) | bit_of(live2));
            });
        },
    );
}

/// Model 4: allocate black. An mcache allocates from its span
/// (`Span::next_free`, moving to the next word with `refill_cache`) and
/// marks each new object black (`gc::mark::mark_new`, which is
/// `Span::mark_black_index`) while a marker marks live objects in the
/// same mark words (`Span::mark_index`).
#[test]
fn allocate_black_shares_mark_words_with_a_marker() {
    model(
        "allocate_black_shares_mark_words_with_a_marker",
        EXHAUSTIVE,
        || {
            let s = 0;
            let h = Heap::new(FIRST_SG, vec![Span::new(TWO_WORD_NELEMS, FIRST_SG)], vec![]);
            // The span as a sweep left it: every slot of the first word but
            // the last holds an object, and so does the last slot of the
            // second word. The mcache holds it.
            let last_of_word0 = WORD_BITS - 1;
            let last_of_word1 = TWO_WORD_NELEMS - 1;
            let (live0, live1) = (0, last_of_word1);
            h.spans[s].with_alloc(|a| {
                a.alloc_bits = [!bit_of(last_of_word0), bit_of(last_of_word1)];
                a.reset_cache();
            });
            let h = Arc::new(h);

            let marker = {
                let h = h.clone();
                thread::spawn(move || {
                    assert!(h.spans[s].mark_index(live0));
                    assert!(h.spans[s].mark_index(live1));
                })
            };
            // The mutator: two allocations, each marked black at once
            // (`Mcache::publish` while the collector marks).
            let span = &h.spans[s];
            let mut got = Vec::new();
            for _ in 0..2 {
                let slot = span.with_alloc(Alloc::next_free).unwrap();
                span.mark_black_index(slot);
                got.push(slot);
            }
            marker.join().unwrap();

            assert_eq!(got, vec![last_of_word0, WORD_BITS], "next_free's order");
            for idx in [live0, live1, got[0], got[1]] {
                assert!(span.is_marked_index(idx), "slot {idx}'s mark was lost");
            }
            for idx in [got[0], got[1]] {
                assert!(span.is_scanned_index(idx), "a new object is not black");
            }
            span.read_alloc(|a| {
                assert!(!a.has_free(), "the span is full");
                assert!(got.iter().all(|&x| x != live0 && x != live1));
            });
        },
    );
}
