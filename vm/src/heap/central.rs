//! Central span lists (Go's `mcentral`): for one span class, the spans no
//! mcache holds, by whether they have free slots and whether they are
//! swept.
//!
//! Four lists per class: partial (a free slot) or full, each swept or
//! unswept. Which of the two sets is "swept" depends on the heap's sweep
//! generation `sg` (set `sg / 2 % 2` is swept), so when mark termination
//! adds 2 to `sg`, every swept list becomes unswept at once, without
//! touching a span (Go's `partialSwept`/`partialUnswept` trick).
//!
//! Steps of `cache_span` (an mcache needs a span with a free slot, Go's
//! `mcentral.cacheSpan`):
//! 1. Pop a swept partial span: it has a free slot.
//! 2. Else pop an unswept span (partial first), claim it (`sweepgen`
//!    compare-and-swap, `gc::sweep::claim`), sweep it, and keep it if the
//!    sweep left a free slot; otherwise it went to the swept full list,
//!    and the next one is tried (at most [`SWEEP_BUDGET`] of them).
//! 3. Else get a fresh span from the page heap, after sweeping spans of
//!    any class until it has a free run that large (`gc::sweep::reclaim`).
//!
//! A list found empty with room for more than [`KEEP_CAPACITY`] spans
//! gives its storage back (`release_empty`), so that a burst of
//! allocation does not leave its lists' room resident.
//!
//! Invariants: a span is on at most one list, and only while no mcache
//! holds it and no sweeper has claimed it; each class has its own lock,
//! so mcaches refilling different classes never contend, and an mcache
//! takes a lock only when its span is used up (the fast path, `Span::next_free`,
//! takes none).

use parking_lot::Mutex;

use super::span::{Span, SpanClass};

/// Unswept full spans an mcache sweeps looking for a free slot before it
/// takes fresh pages instead (Go's `spanBudget`): bounds the time one
/// allocation spends sweeping.
const SWEEP_BUDGET: usize = 100;

#[derive(Default)]
struct Lists {
    partial: [Vec<*mut Span>; 2],
    full: [Vec<*mut Span>; 2],
}

/// The central lists of one span class.
#[derive(Default)]
pub struct Central {
    lists: Mutex<Lists>,
}

// SAFETY: the spans on the lists are owned by the lists (see the module
// comment); the lock serialises every access.
unsafe impl Send for Central {}
// SAFETY: as above.
unsafe impl Sync for Central {}

/// The index of the swept set in generation `sg`.
#[inline]
fn swept(sg: u32) -> usize {
    (sg / 2 % 2) as usize
}

impl Central {
    /// Puts a span no mcache holds on the list its state says (swept in
    /// generation `sg` or not, free slots or not).
    pub(crate) fn push(&self, s: *mut Span, sg: u32) {
        // SAFETY: the caller owns `s` and hands it to the lists.
        let span = unsafe { &*s };
        let set = if span.sweepgen.load(std::sync::atomic::Ordering::Acquire) == sg {
            swept(sg)
        } else {
            1 - swept(sg)
        };
        // SAFETY: as above, the caller owns the span until the push.
        let free = unsafe { span.has_free() };
        let mut l = self.lists.lock();
        if free {
            l.partial[set].push(s);
        } else {
            l.full[set].push(s);
        }
    }

    /// Pops a swept span with a free slot.
    fn pop_swept_partial(&self, sg: u32) -> Option<*mut Span> {
        let mut l = self.lists.lock();
        let s = l.partial[swept(sg)].pop();
        if s.is_none() {
            release_empty(&mut l.partial[swept(sg)]);
        }
        s
    }

    /// Pops a span that still needs sweeping in generation `sg`.
    pub(crate) fn pop_unswept(&self, sg: u32) -> Option<*mut Span> {
        let mut l = self.lists.lock();
        let u = 1 - swept(sg);
        let s = l.partial[u].pop().or_else(|| l.full[u].pop());
        if s.is_none() {
            release_empty(&mut l.partial[u]);
            release_empty(&mut l.full[u]);
        }
        s
    }
}

/// Lists longer than this (in spans) give their storage back when they
/// are found empty: a burst of allocation leaves its class's lists with
/// room for every span it used (8 bytes a span: 0.5 MB for 500 MB of
/// 8 KiB spans, in each of the lists the spans passed through), resident
/// for the rest of the run otherwise. 4,096 spans is 32 MiB of heap, room
/// that a program of ordinary size keeps using.
const KEEP_CAPACITY: usize = 4096;

/// Frees an empty list's storage if it is larger than [`KEEP_CAPACITY`].
fn release_empty(v: &mut Vec<*mut Span>) {
    if v.is_empty() && v.capacity() > KEEP_CAPACITY {
        *v = Vec::new();
    }
}

/// A span of class `sc` with a free slot, for an mcache (see the module
/// comment).
pub(crate) fn cache_span(rt: &crate::Runtime, sc: SpanClass) -> *mut Span {
    let heap = &rt.heap;
    let central = &heap.central[sc.index()];
    let sg = heap.sweepgen();
    if let Some(s) = central.pop_swept_partial(sg) {
        return s;
    }
    for _ in 0..SWEEP_BUDGET {
        let Some(s) = central.pop_unswept(sg) else {
            break;
        };
        if crate::gc::sweep::claim(s, sg) {
            // SAFETY: the claim made this caller the span's owner.
            if unsafe { crate::gc::sweep::sweep_span(rt, s, true) } {
                return s;
            }
        }
    }
    let npages = super::sizeclass::CLASSES[sc.size_class()].npages as usize;
    crate::gc::sweep::reclaim(rt, npages);
    heap.mheap.alloc_span(npages, sc, sg, rt.gc.greentea)
}

#[cfg(test)]
mod tests {
    use super::{release_empty, Span, KEEP_CAPACITY};

    #[test]
    fn an_empty_list_past_the_kept_room_gives_its_storage_back() {
        let mut big: Vec<*mut Span> = Vec::with_capacity(KEEP_CAPACITY + 1);
        release_empty(&mut big);
        assert_eq!(big.capacity(), 0);

        let mut small: Vec<*mut Span> = Vec::with_capacity(KEEP_CAPACITY);
        release_empty(&mut small);
        assert!(
            small.capacity() >= KEEP_CAPACITY,
            "a list of ordinary size keeps its room"
        );

        let mut busy: Vec<*mut Span> = Vec::with_capacity(KEEP_CAPACITY + 1);
        busy.push(std::ptr::null_mut());
        release_empty(&mut busy);
        assert!(
            busy.capacity() > KEEP_CAPACITY,
            "a list in use keeps its room"
        );
    }
}
