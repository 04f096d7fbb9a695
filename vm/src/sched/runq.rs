//! The per-P run queue: a lock-free ring of runnable goroutines with one
//! producer (the P that owns it) and many consumers (the owner and thieves),
//! plus a one-entry `runnext` slot, after Go's `runqput`/`runqget`/
//! `runqgrab`/`runqsteal`/`runqdrain` (Go's `runtime/proc.go`).
//!
//! The queue is generic over `T` and stores only `NonNull<T>`: it never
//! dereferences, frees or drops a `T`. Whoever receives a pointer from it
//! owns the goroutine from then on; whatever is still queued when the queue
//! is dropped is simply forgotten.
//!
//! # Layout
//! - `ring`: `N` slots (`N` a power of two, 256 by default as in Go).
//! - `head`, `tail`: free-running `u32` positions that wrap; the live
//!   entries are positions `head..tail`, slot `pos % N`, oldest at `head`.
//!   `tail - head` (wrapping) is the length and never exceeds `N`.
//! - `runnext`: the goroutine readied most recently by the running one; it
//!   runs before the ring and inherits the current time slice.
//!
//! # Who may do what
//! - Only the owner writes ring slots and stores `tail`.
//! - Anyone (owner or thief) consumes by reading slots `h..h+n` and then
//!   committing with one compare-and-swap of `head` from `h` to `h+n`. A
//!   failed CAS means someone else consumed first: the reads are discarded
//!   and the consumer starts over.
//! - Only the owner sets `runnext` to a goroutine; anyone may CAS it to
//!   null, which is how it is taken.
//!
//! The "owner only" rule is not enforced by types: breaking it can lose or
//! duplicate pointers, but never causes undefined behaviour, because every
//! field is an atomic and the queue never dereferences a `T`. That is why
//! the owner-only methods are safe functions.
//!
//! # Operations (steps)
//! - [`RunQueue::put`] (owner): with `next`, swap the goroutine into
//!   `runnext` and queue the one it displaced instead. Then, if the ring has
//!   room, write slot `tail` and publish it by storing `tail + 1`. If the
//!   ring is full, claim its older half with one CAS on `head` and hand that
//!   half plus the goroutine back to the caller for the global queue (Go's
//!   `runqputslow`); if the CAS fails a thief made room, so try again.
//! - [`RunQueue::get`] (owner): take `runnext` with a CAS (a failed CAS
//!   means a thief took it, so no retry); otherwise consume one from `head`.
//! - [`RunQueue::steal_into`] (a thief, on its own empty queue): read half
//!   the victim's entries, rounded up, straight into the thief's own free
//!   slots, then CAS the victim's `head` past them. If the victim's ring is
//!   empty and the thief asks for it, take the victim's `runnext` instead.
//!   Publish all but the last stolen goroutine in the thief's ring and
//!   return the last one to run.
//! - [`RunQueue::drain`] (owner): take `runnext`, then claim the whole ring
//!   with a single CAS of `head` from `h` to `t`, and only then read the
//!   claimed slots (Go's `runqdrain`, which had to learn to claim first).
//!
//! # Memory orderings (Go's)
//! - The owner stores a slot, then store-releases `tail`; every consumer
//!   load-acquires `tail` before reading slots, so it sees the slot and
//!   everything the producer wrote to the goroutine before queueing it.
//! - Consumers read slots, then CAS-release `head`; the owner load-acquires
//!   `head` before reusing a slot, so every read of the old occupant happens
//!   before the overwrite (a later RMW on `head` continues the release
//!   sequence, so a CAS that is overwritten by another still synchronises).
//! - Consumers load-acquire `head` too, so the `tail` they load afterwards
//!   is at least as new as the one the consumer that stored `head` saw; a
//!   snapshot with `tail - head > N` can only come from a racing reader and
//!   is retried.
//! - Slots themselves are `Relaxed`: the `head`/`tail` edges above order
//!   them. A slot read with a stale `head` may see a newer occupant, but
//!   then the `head` CAS fails and the value is discarded.
//! - `runnext` is stored with release (the owner's swap) and taken with an
//!   acquiring CAS, for the same publication reason as `tail`.
//!
//! # Invariants
//! - `tail - head <= N` (wrapping), and only the owner advances `tail`.
//! - Every slot in `head..tail` holds a non-null pointer written by the
//!   owner; a pointer is in at most one place (ring or `runnext`) at a time.
//! - Each queued pointer is returned by exactly one successful operation.

use std::ptr::{self, NonNull};

use crate::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

/// A per-P run queue of `NonNull<T>`: a ring of `N` slots plus `runnext`.
///
/// `N` must be a power of two between 2 and 2^31 (checked when the type is
/// instantiated: `new` fails to compile otherwise).
///
/// ```compile_fail
/// let _ = skein_vm::sched::runq::RunQueue::<u8, 3>::new();
/// ```
pub struct RunQueue<T, const N: usize = 256> {
    /// Position of the oldest entry. Consumers advance it by CAS.
    head: AtomicU32,
    /// Position one past the newest entry. Only the owner stores it.
    tail: AtomicU32,
    /// The goroutine to run next, or null. Only the owner sets it non-null;
    /// anyone may CAS it to null.
    runnext: AtomicPtr<T>,
    /// The slots; entry at position `p` lives in `ring[p % N]`.
    ring: [AtomicPtr<T>; N],
}

// SAFETY: the queue only moves `T` pointers around as integers in atomics;
// it never dereferences, drops or frees a `T`, so sending the queue to
// another thread cannot touch a `T` there. Whoever dereferences a pointer
// taken from the queue is responsible for `T`'s thread-safety.
unsafe impl<T, const N: usize> Send for RunQueue<T, N> {}

// SAFETY: every field is an atomic, and all shared access goes through
// atomic operations; as for `Send`, no `T` is ever dereferenced by the queue.
unsafe impl<T, const N: usize> Sync for RunQueue<T, N> {}

impl<T, const N: usize> Default for RunQueue<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> RunQueue<T, N> {
    /// An empty queue. Any thread (under loom: inside the model).
    pub fn new() -> Self {
        // Forces the capacity check for this `N` (a post-monomorphisation
        // compile error for a bad `N`).
        let () = Self::CAPACITY_OK;
        RunQueue {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            runnext: AtomicPtr::new(ptr::null_mut()),
            ring: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    /// Queues `g`. **Owner only.**
    ///
    /// With `next`, `g` goes into `runnext` (to run next, inheriting the
    /// time slice) and the goroutine it displaces, if any, is queued at the
    /// tail instead. Otherwise `g` is queued at the tail.
    ///
    /// If the ring is full, its older half is claimed and returned as
    /// `Err(batch)`: those `N / 2` goroutines, oldest first, followed by the
    /// one being queued. The caller must put them on the global queue.
    pub fn put(&self, g: NonNull<T>, next: bool) -> Result<(), Vec<NonNull<T>>> {
        let mut g = g;
        if next {
            // A swap is Go's CAS loop in one step: only the owner stores
            // non-null values, so whatever the swap returns (the previous
            // goroutine, or null if a thief just took it) is exactly what a
            // successful CAS would have displaced. Release publishes the
            // caller's writes to `g` to the thief whose acquiring CAS takes
            // it; the old value was written by this thread, so no acquire.
            let old = self.runnext.swap(g.as_ptr(), Ordering::Release);
            match NonNull::new(old) {
                None => return Ok(()),
                Some(old) => g = old,
            }
        }
        loop {
            // Acquire pairs with consumers' CAS-release of `head`: their
            // reads of the slots we may now reuse happened before our
            // writes, so no consumer can read a slot's next occupant.
            let h = self.head.load(Ordering::Acquire);
            // Relaxed: only this thread stores `tail`.
            let t = self.tail.load(Ordering::Relaxed);
            if t.wrapping_sub(h) < Self::CAP {
                self.slot(t).store(g.as_ptr(), Ordering::Relaxed);
                // Release publishes the slot (and `*g`) to consumers that
                // load-acquire `tail`.
                self.tail.store(t.wrapping_add(1), Ordering::Release);
                return Ok(());
            }
            if let Some(batch) = self.put_slow(g, h, t) {
                return Err(batch);
            }
            // A consumer moved `head` between our load and our CAS, so the
            // ring has room now: retry the fast path.
        }
    }

    /// Takes `runnext`, if it holds a goroutine. **Owner only.**
    fn take_runnext(&self) -> Option<NonNull<T>> {
        // Relaxed load: the CAS below is what decides and synchronises.
        let next = NonNull::new(self.runnext.load(Ordering::Relaxed))?;
        // Only the owner makes `runnext` non-null, so a failed CAS means a
        // thief nulled it: there is nothing to retry. Acquire pairs with the
        // release swap in `put` (the same thread here, but the P may have
        // moved between threads since).
        self.runnext
            .compare_exchange(
                next.as_ptr(),
                ptr::null_mut(),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
            .then_some(next)
    }

    /// Takes the next goroutine to run. **Owner only.**
    ///
    /// `runnext` comes first and is returned with `true` (inherit the rest
    /// of the current time slice); otherwise the oldest ring entry, with
    /// `false` (start a new slice).
    pub fn get(&self) -> Option<(NonNull<T>, bool)> {
        if let Some(g) = self.take_runnext() {
            return Some((g, true));
        }
        loop {
            // Acquire: synchronises with other consumers' CAS-release.
            let h = self.head.load(Ordering::Acquire);
            // Relaxed: only this thread stores `tail`.
            let t = self.tail.load(Ordering::Relaxed);
            if t == h {
                return None;
            }
            let g = self.slot(h).load(Ordering::Relaxed);
            // Release commits the consume: our slot read happens before the
            // owner's (our own) later reuse as seen by any thread.
            if self
                .head
                .compare_exchange(h, h.wrapping_add(1), Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return Some((Self::occupied(g), false));
            }
        }
    }

    /// Steals half of `victim`'s ring (rounded up) into this queue and
    /// returns one stolen goroutine to run. **Called by the owner of
    /// `self`**; `victim` may be any other queue, owned by a running thread.
    ///
    /// `self`'s ring should be empty (the scheduler steals only when it has
    /// no work); if it is not, at most its free room is stolen, so nothing is
    /// ever overwritten. If the victim's ring is empty and `steal_runnext`
    /// is set, the victim's `runnext` is taken instead. (Go first sleeps a
    /// few microseconds when the victim is running, so it can run `runnext`
    /// itself; here the caller decides whether to wait before asking.)
    ///
    /// The stolen goroutines keep their order: all but the newest go to
    /// `self`'s ring, oldest first, and the newest is returned.
    pub fn steal_into(&self, victim: &Self, steal_runnext: bool) -> Option<NonNull<T>> {
        debug_assert!(!ptr::eq(self, victim), "a queue cannot steal from itself");
        // Relaxed: only this thread (the owner of `self`) stores `tail`.
        let t = self.tail.load(Ordering::Relaxed);
        let n = self.grab(victim, t, steal_runnext);
        if n == 0 {
            return None;
        }
        let n = n - 1;
        let g = Self::occupied(self.slot(t.wrapping_add(n)).load(Ordering::Relaxed));
        if n > 0 {
            debug_assert!(
                t.wrapping_sub(self.head.load(Ordering::Acquire)) + n <= Self::CAP,
                "steal_into overflowed the thief's ring"
            );
            // Release publishes the copied slots to our own consumers.
            self.tail.store(t.wrapping_add(n), Ordering::Release);
        }
        Some(g)
    }

    /// Empties the queue and returns everything in it: `runnext` first, then
    /// the ring oldest first. **Owner only.**
    ///
    /// The ring is claimed with a single CAS of `head` from `h` to `t` before
    /// any slot is read. Reading after the CAS is safe because (1) once
    /// `head` has moved past the claimed positions no consumer can commit a
    /// claim on them, and (2) only the owner writes slots, and the owner is
    /// the one draining, so nothing overwrites them before we read them.
    /// Claiming first is the point: the caller may relink the goroutines
    /// (Go writes `schedlink`) only once no thief can still take them.
    pub fn drain(&self) -> Vec<NonNull<T>> {
        let mut out: Vec<NonNull<T>> = self.take_runnext().into_iter().collect();
        loop {
            // Acquire: synchronises with other consumers' CAS-release.
            let h = self.head.load(Ordering::Acquire);
            // Relaxed: only this thread stores `tail`.
            let t = self.tail.load(Ordering::Relaxed);
            let n = t.wrapping_sub(h);
            if n == 0 {
                return out;
            }
            // The owner's `tail` is exact and `head` never passes it, so
            // unlike a thief's snapshot this one is always consistent.
            debug_assert!(n <= Self::CAP, "inconsistent owner snapshot");
            // Release: as for every consumer's commit (keeps readers that
            // acquire `head` from seeing a `tail` older than it).
            if self
                .head
                .compare_exchange(h, t, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                out.reserve(n as usize);
                for i in 0..n {
                    let g = self.slot(h.wrapping_add(i)).load(Ordering::Relaxed);
                    out.push(Self::occupied(g));
                }
                return out;
            }
        }
    }

    /// Calls `f` with each queued goroutine in the order
    /// [`RunQueue::get`] would return them: `runnext` first, then the ring
    /// oldest first. **Owner only, with no thief running** (deterministic
    /// mode, where one thread steps every P): for a scheduler that chooses
    /// among them.
    pub fn for_each_queued(&self, mut f: impl FnMut(NonNull<T>)) {
        // Relaxed: no other thread touches the queue in this mode.
        if let Some(g) = NonNull::new(self.runnext.load(Ordering::Relaxed)) {
            f(g);
        }
        let h = self.head.load(Ordering::Relaxed);
        let t = self.tail.load(Ordering::Relaxed);
        for i in 0..t.wrapping_sub(h).min(Self::CAP) {
            f(Self::occupied(
                self.slot(h.wrapping_add(i)).load(Ordering::Relaxed),
            ));
        }
    }

    /// Takes `g` out of the queue, wherever it is, keeping the others in
    /// their order (and `runnext` in `runnext`). False when `g` is not
    /// queued here. **Owner only, with no thief running**, as
    /// [`RunQueue::for_each_queued`].
    pub fn remove(&self, g: NonNull<T>) -> bool {
        let had_next = self.has_runnext();
        let all = self.drain();
        let Some(at) = all.iter().position(|&x| x == g) else {
            self.refill(&all, had_next);
            return false;
        };
        let mut rest = all;
        rest.remove(at);
        self.refill(&rest, had_next && at != 0);
        true
    }

    /// Puts back what [`RunQueue::drain`] took (`with_next`: its first
    /// entry was `runnext`). The ring was empty, so nothing overflows.
    fn refill(&self, gs: &[NonNull<T>], with_next: bool) {
        let (next, ring) = match gs.split_first() {
            Some((first, ring)) if with_next => (Some(*first), ring),
            _ => (None, gs),
        };
        for &g in ring {
            let fits = self.put(g, false);
            debug_assert!(fits.is_ok(), "a drained ring refills without overflow");
        }
        if let Some(g) = next {
            let fits = self.put(g, true);
            debug_assert!(fits.is_ok(), "runnext was free");
        }
    }

    /// The number of queued goroutines, ring plus `runnext`. **Any thread**;
    /// a racy snapshot that may be stale by the time it is returned, but is
    /// consistent (the ring did not change under the `runnext` read).
    pub fn len(&self) -> usize {
        loop {
            // Acquire on both indices, as for any consumer's snapshot.
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Acquire);
            // Relaxed: a snapshot only; nothing is read through the value.
            let next = self.runnext.load(Ordering::Relaxed);
            // If `tail` moved, `put(.., next = true)` may have moved the old
            // `runnext` into the ring between our reads, making it look
            // absent from both (Go's `runqempty` rereads for this reason).
            if t == self.tail.load(Ordering::Acquire) {
                // `h` may be older than `t` by more than a full ring, so clamp.
                let ring = t.wrapping_sub(h).min(Self::CAP) as usize;
                return ring + usize::from(!next.is_null());
            }
        }
    }

    /// Whether the queue (ring and `runnext`) is empty. **Any thread**; a
    /// racy snapshot, like [`RunQueue::len`].
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What `runnext` holds now, if anything. **Any thread**; a racy
    /// snapshot, to compare with a later one (nothing may be read through
    /// the pointer).
    pub fn peek_runnext(&self) -> Option<NonNull<T>> {
        // Relaxed: a snapshot only; nothing is read through the value.
        NonNull::new(self.runnext.load(Ordering::Relaxed))
    }

    /// Whether `runnext` holds a goroutine. **Any thread**; a racy snapshot.
    pub fn has_runnext(&self) -> bool {
        // Relaxed: a snapshot only; nothing is read through the value.
        !self.runnext.load(Ordering::Relaxed).is_null()
    }

    /// `N` as a position difference. The capacity check guarantees it fits.
    const CAP: u32 = N as u32;

    /// Compile-time check of `N`: a power of two so `pos % N` is a mask and
    /// stays correct across `u32` wrap-around; at least 2 so half a full ring
    /// is non-empty; at most 2^31 so wrapping `tail - head` is unambiguous.
    const CAPACITY_OK: () = assert!(
        N.is_power_of_two() && N >= 2 && N <= 1 << 31,
        "RunQueue capacity must be a power of two in 2..=2^31"
    );

    /// The slot holding position `pos`.
    #[inline]
    fn slot(&self, pos: u32) -> &AtomicPtr<T> {
        &self.ring[pos as usize & (N - 1)]
    }

    /// A slot value read inside a claimed range. Every position below
    /// `tail` was written with a non-null pointer before `tail` covered it,
    /// so null here is a broken invariant, not a reachable state.
    #[inline]
    fn occupied(p: *mut T) -> NonNull<T> {
        NonNull::new(p).expect("run queue: claimed slot held null")
    }

    /// The full-ring path of `put` (Go's `runqputslow`): claims the older
    /// half of the ring with one CAS of `head` from `h` and returns it plus
    /// `g`, or `None` if the CAS failed because a consumer made room.
    fn put_slow(&self, g: NonNull<T>, h: u32, t: u32) -> Option<Vec<NonNull<T>>> {
        let n = t.wrapping_sub(h) / 2;
        debug_assert_eq!(n, Self::CAP / 2, "put_slow on a ring that is not full");
        // Release, as for every consumer's commit.
        self.head
            .compare_exchange(h, h.wrapping_add(n), Ordering::Release, Ordering::Relaxed)
            .ok()?;
        // The claimed slots are read after the CAS, as in `drain` and for the
        // same reason: nobody else can commit them now, and only this thread
        // (the owner) writes slots.
        let mut batch = Vec::with_capacity(n as usize + 1);
        for i in 0..n {
            let p = self.slot(h.wrapping_add(i)).load(Ordering::Relaxed);
            batch.push(Self::occupied(p));
        }
        batch.push(g);
        Some(batch)
    }

    /// Go's `runqgrab`: copies half of `victim`'s ring (rounded up, capped
    /// at this ring's free room) into this ring at positions `dst..` and
    /// commits by CAS on `victim.head`; or takes `victim.runnext` into
    /// position `dst` when the ring is empty and `steal_runnext` is set.
    /// Returns how many were taken. `self.tail` is not touched: the copied
    /// slots lie beyond it, invisible to our consumers until the caller
    /// publishes them.
    fn grab(&self, victim: &Self, dst: u32, steal_runnext: bool) -> u32 {
        // Our own free room: with an empty ring it is `N`, more than the
        // `N / 2` a grab can take, so the cap only guards misuse.
        let room = Self::CAP - dst.wrapping_sub(self.head.load(Ordering::Acquire));
        if room == 0 {
            return 0;
        }
        loop {
            // Acquire on `head`: synchronises with other consumers, so the
            // `tail` read next is at least what they saw. Acquire on
            // `tail`: synchronises with the victim's release store, making
            // the slots and the goroutines they point to visible.
            let h = victim.head.load(Ordering::Acquire);
            let t = victim.tail.load(Ordering::Acquire);
            let mut n = t.wrapping_sub(h);
            n -= n / 2;
            if n == 0 {
                if steal_runnext {
                    // Relaxed load: the CAS below decides and synchronises.
                    let next = victim.runnext.load(Ordering::Relaxed);
                    if !next.is_null() {
                        // Acquire pairs with the owner's release swap in
                        // `put`, making `*next` visible to us.
                        if victim
                            .runnext
                            .compare_exchange(
                                next,
                                ptr::null_mut(),
                                Ordering::Acquire,
                                Ordering::Relaxed,
                            )
                            .is_err()
                        {
                            // The owner ran it, or replaced it, or another
                            // thief took it: look again from the start.
                            continue;
                        }
                        self.slot(dst).store(next, Ordering::Relaxed);
                        return 1;
                    }
                }
                return 0;
            }
            // More than half a ring means `h` and `t` came from different
            // moments (the victim consumed and refilled between our loads):
            // an inconsistent snapshot, so read again.
            if n > Self::CAP / 2 {
                continue;
            }
            let n = n.min(room);
            for i in 0..n {
                let g = victim.slot(h.wrapping_add(i)).load(Ordering::Relaxed);
                self.slot(dst.wrapping_add(i)).store(g, Ordering::Relaxed);
            }
            // Release commits the consume: our slot reads happen before the
            // victim reuses those slots (it load-acquires `head` first).
            if victim
                .head
                .compare_exchange(h, h.wrapping_add(n), Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return n;
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize};
    use std::sync::Barrier;

    /// Pointers to `n` distinct values `0..n`, for use as fake goroutines.
    fn items(n: u32) -> Vec<u32> {
        (0..n).collect()
    }

    fn ptr_of(items: &[u32], i: u32) -> NonNull<u32> {
        NonNull::from(&items[i as usize])
    }

    /// The value behind a queued pointer (its index in `items`).
    fn id(p: NonNull<u32>) -> u32 {
        // SAFETY: every pointer the tests queue points into an `items`
        // vector that outlives the queue and is never written.
        unsafe { *p.as_ptr() }
    }

    fn ids(v: &[NonNull<u32>]) -> Vec<u32> {
        v.iter().map(|p| id(*p)).collect()
    }

    /// Everything `get` yields until empty, as `(id, inherit)`.
    fn get_all<const N: usize>(q: &RunQueue<u32, N>) -> Vec<(u32, bool)> {
        std::iter::from_fn(|| q.get())
            .map(|(p, i)| (id(p), i))
            .collect()
    }

    #[test]
    fn fifo_order() {
        let it = items(6);
        let q: RunQueue<u32, 8> = RunQueue::new();
        assert!(q.is_empty());
        for i in 0..6 {
            q.put(ptr_of(&it, i), false).unwrap();
        }
        assert_eq!(q.len(), 6);
        let got = get_all(&q);
        assert_eq!(got, (0..6).map(|i| (i, false)).collect::<Vec<_>>());
        assert!(q.is_empty());
        assert!(q.get().is_none());
    }

    #[test]
    fn fifo_across_position_wraparound() {
        let it = items(8);
        let q: RunQueue<u32, 4> = RunQueue::new();
        // Start just below the `u32` wrap so positions overflow mid-test.
        q.head.store(u32::MAX - 1, Ordering::Relaxed);
        q.tail.store(u32::MAX - 1, Ordering::Relaxed);
        for round in 0..2 {
            for i in 0..4 {
                q.put(ptr_of(&it, round * 4 + i), false).unwrap();
            }
            assert_eq!(q.len(), 4);
            let got: Vec<u32> = get_all(&q).into_iter().map(|(i, _)| i).collect();
            assert_eq!(got, (round * 4..round * 4 + 4).collect::<Vec<_>>());
        }
    }

    #[test]
    fn runnext_has_priority_and_kicks_out_to_tail() {
        let it = items(3);
        let q: RunQueue<u32, 8> = RunQueue::new();
        q.put(ptr_of(&it, 0), false).unwrap();
        q.put(ptr_of(&it, 1), true).unwrap();
        assert!(q.has_runnext());
        // 2 displaces 1 from runnext; 1 goes to the ring's tail.
        q.put(ptr_of(&it, 2), true).unwrap();
        assert_eq!(q.len(), 3);
        assert_eq!(get_all(&q), vec![(2, true), (0, false), (1, false)]);
        assert!(!q.has_runnext());
    }

    #[test]
    fn overflow_returns_older_half_then_g() {
        let it = items(9);
        let q: RunQueue<u32, 8> = RunQueue::new();
        for i in 0..8 {
            q.put(ptr_of(&it, i), false).unwrap();
        }
        let batch = q.put(ptr_of(&it, 8), false).unwrap_err();
        assert_eq!(ids(&batch), vec![0, 1, 2, 3, 8]);
        let rest: Vec<u32> = get_all(&q).into_iter().map(|(i, _)| i).collect();
        assert_eq!(rest, vec![4, 5, 6, 7]);
    }

    #[test]
    fn overflow_through_runnext_kick_out() {
        let it = items(10);
        let q: RunQueue<u32, 8> = RunQueue::new();
        for i in 0..8 {
            q.put(ptr_of(&it, i), false).unwrap();
        }
        q.put(ptr_of(&it, 8), true).unwrap();
        // 9 takes runnext; the displaced 8 finds the ring full and is the
        // last of the overflow batch.
        let batch = q.put(ptr_of(&it, 9), true).unwrap_err();
        assert_eq!(ids(&batch), vec![0, 1, 2, 3, 8]);
        assert_eq!(
            get_all(&q),
            vec![(9, true), (4, false), (5, false), (6, false), (7, false)]
        );
    }

    #[test]
    fn steal_takes_half_rounded_up() {
        let it = items(6);
        let victim: RunQueue<u32, 8> = RunQueue::new();
        let thief: RunQueue<u32, 8> = RunQueue::new();
        for i in 0..5 {
            victim.put(ptr_of(&it, i), false).unwrap();
        }
        victim.put(ptr_of(&it, 5), true).unwrap();
        // 5 in the ring: the thief takes 3 (0, 1, 2), runs the newest (2)
        // and queues the others in order. Runnext stays with the victim.
        let g = thief.steal_into(&victim, true).unwrap();
        assert_eq!(id(g), 2);
        assert_eq!(get_all(&thief), vec![(0, false), (1, false)]);
        assert_eq!(get_all(&victim), vec![(5, true), (3, false), (4, false)]);
    }

    #[test]
    fn steal_runnext_only_when_ring_empty_and_asked() {
        let it = items(1);
        let victim: RunQueue<u32, 8> = RunQueue::new();
        let thief: RunQueue<u32, 8> = RunQueue::new();
        victim.put(ptr_of(&it, 0), true).unwrap();
        assert!(thief.steal_into(&victim, false).is_none());
        assert!(victim.has_runnext());
        let g = thief.steal_into(&victim, true).unwrap();
        assert_eq!(id(g), 0);
        assert!(victim.is_empty() && thief.is_empty());
        assert!(thief.steal_into(&victim, true).is_none());
    }

    #[test]
    fn steal_is_capped_by_the_thiefs_free_room() {
        let it = items(14);
        let victim: RunQueue<u32, 8> = RunQueue::new();
        let thief: RunQueue<u32, 8> = RunQueue::new();
        for i in 0..8 {
            victim.put(ptr_of(&it, i), false).unwrap();
        }
        // Misuse: the thief's ring is not empty (2 free slots left), so it
        // takes 2 of the 4 it would take, and overwrites nothing.
        for i in 8..14 {
            thief.put(ptr_of(&it, i), false).unwrap();
        }
        let g = thief.steal_into(&victim, false).unwrap();
        assert_eq!(id(g), 1);
        let rest: Vec<u32> = get_all(&thief).into_iter().map(|(i, _)| i).collect();
        assert_eq!(rest, vec![8, 9, 10, 11, 12, 13, 0]);
        assert_eq!(victim.len(), 6);
    }

    #[test]
    fn drain_takes_everything_runnext_first() {
        let it = items(5);
        let q: RunQueue<u32, 4> = RunQueue::new();
        for i in 0..4 {
            q.put(ptr_of(&it, i), false).unwrap();
        }
        q.put(ptr_of(&it, 4), true).unwrap();
        assert_eq!(q.len(), 5);
        assert_eq!(ids(&q.drain()), vec![4, 0, 1, 2, 3]);
        assert!(q.is_empty());
        assert!(q.drain().is_empty());
        // The queue is reusable after a drain.
        q.put(ptr_of(&it, 0), false).unwrap();
        assert_eq!(get_all(&q), vec![(0, false)]);
    }

    /// An owner puts and gets while two thieves steal; every item must come
    /// out exactly once (from `get`, a steal, an overflow batch or the final
    /// drains).
    #[test]
    fn stress_owner_and_two_thieves() {
        // 50k items: tens of milliseconds even in a debug build, yet about
        // 200 turnovers of the 256-slot ring, so every path runs many times.
        const ITEMS: u32 = 50_000;
        // Spin hints per simulated goroutine run: long enough for thieves to
        // find work, short enough that the test stays far below a second.
        const WORK_SPINS: u32 = 20;
        let it = items(ITEMS);
        let seen: Vec<AtomicU8> = (0..ITEMS).map(|_| AtomicU8::new(0)).collect();
        let record = |p: NonNull<u32>| {
            let before = seen[id(p) as usize].fetch_add(1, Ordering::Relaxed);
            assert_eq!(before, 0, "item {} seen twice", id(p));
        };
        let q: RunQueue<u32> = RunQueue::new();
        let done = AtomicBool::new(false);
        // Counts per path, printed for the curious (`--nocapture`); not
        // asserted, because how the work splits depends on the OS scheduler.
        let stolen = AtomicUsize::new(0);
        let overflowed = AtomicUsize::new(0);
        // Owner and thieves start together, so the thieves do not arrive
        // after the owner has finished.
        let start = Barrier::new(3);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let mine: RunQueue<u32> = RunQueue::new();
                    start.wait();
                    loop {
                        // Read `done` before stealing, so the last steal
                        // happens after the owner finished putting.
                        let finished = done.load(Ordering::Acquire);
                        if let Some(g) = mine.steal_into(&q, true) {
                            record(g);
                            stolen.fetch_add(1, Ordering::Relaxed);
                            while let Some((g, _)) = mine.get() {
                                record(g);
                                stolen.fetch_add(1, Ordering::Relaxed);
                            }
                        } else if finished {
                            break;
                        } else {
                            std::thread::yield_now();
                        }
                    }
                });
            }
            start.wait();
            for i in 0..ITEMS {
                // Every 4th item goes through runnext; the owner consumes one
                // for every 3 it queues, so the ring fills and overflows
                // unless the thieves keep up.
                if let Err(batch) = q.put(ptr_of(&it, i), i % 4 == 0) {
                    overflowed.fetch_add(batch.len(), Ordering::Relaxed);
                    batch.into_iter().for_each(record);
                }
                if i % 3 == 0 {
                    if let Some((g, _)) = q.get() {
                        record(g);
                    }
                    // "Run" the goroutine for a moment (about a microsecond)
                    // so the thieves get to race the owner, not just trail it.
                    for _ in 0..WORK_SPINS {
                        std::hint::spin_loop();
                    }
                }
            }
            while let Some((g, _)) = q.get() {
                record(g);
            }
            done.store(true, Ordering::Release);
            q.drain().into_iter().for_each(record);
        });
        q.drain().into_iter().for_each(record);
        let missing: Vec<usize> = (0..ITEMS as usize)
            .filter(|&i| seen[i].load(Ordering::Relaxed) != 1)
            .collect();
        assert!(missing.is_empty(), "items never seen: {missing:?}");
        println!(
            "stolen {}, overflowed {}, of {ITEMS}",
            stolen.load(Ordering::Relaxed),
            overflowed.load(Ordering::Relaxed)
        );
    }
}
