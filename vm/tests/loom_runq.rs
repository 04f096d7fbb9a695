//! Loom models of the per-P run queue (`skein_vm::sched::runq`).
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" cargo test --release -p skein-vm --test loom_runq`
//!
//! Each model builds a queue with a 4-slot ring (the smallest that still has
//! a "half" worth stealing), fills it with distinct `Box`-allocated values,
//! and races the owner against a thief that owns a second queue (two
//! thieves in one model). Loom runs the closure under every interleaving,
//! and every weak-memory read it models, up to the preemption bound. After
//! the threads join, each model checks conservation: every value came out
//! exactly once, counting what the owner got, what the thieves stole and
//! overflow batches, and the victim is left empty.
//!
//! Steps of every model:
//! 1. Allocate the values and queue the initial ones (single-threaded).
//! 2. Spawn the thief: `steal_into` its own queue, then `get` from its own
//!    queue until empty; return the values it saw.
//! 3. Meanwhile the owner performs the operations under test.
//! 4. Join, check exactly-once (plus per-model ordering facts), free the
//!    boxes.
//!
//! Limits: loom does not model load buffering (a load reading a store that
//! comes after it in another thread's causal order), so the "owner reuses
//! a slot a thief is still reading" race is covered only in part; the
//! acquire/release reasoning for it is in `runq.rs`. Loom does catch a
//! relaxed `tail` store and a missing `head` or `runnext` CAS (checked by
//! breaking the code on purpose).

#![cfg(loom)]

use std::ptr::NonNull;

use loom::sync::Arc;
use loom::thread;
use skein_vm::sched::runq::RunQueue;

/// The smallest useful ring: half of it (2) is a real batch.
type Q = RunQueue<u32, 4>;

/// Preemption bound for the two-thread models: 4 covers every race in them
/// that needs up to four forced switches (a thief stalled between its slot
/// reads and its CAS while the owner completes several operations), and
/// keeps the slowest below a second. Unbounded, `put_get_race_steal` runs
/// for minutes.
const BOUND_TWO_THREADS: usize = 4;

/// Preemption bound for the three-thread model: 3 keeps it to about a
/// second (4 takes about 4 s), and two thieves' races need only one
/// preemption each to interleave their reads and CASes.
const BOUND_THREE_THREADS: usize = 3;

/// Runs `f` under loom with the given preemption bound (set here, so
/// `LOOM_MAX_PREEMPTIONS` does not change it).
fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    builder.check(f);
}

/// `n` distinct heap values `0..n`, as the pointers a queue holds.
fn alloc(n: u32) -> Vec<NonNull<u32>> {
    (0..n)
        .map(|i| NonNull::from(Box::leak(Box::new(i))))
        .collect()
}

/// Frees what [`alloc`] returned.
fn free(items: Vec<NonNull<u32>>) {
    for p in items {
        // SAFETY: `p` came from `Box::leak` in `alloc`, is freed once, and
        // no queue or thread uses it any more (all threads have joined).
        drop(unsafe { Box::from_raw(p.as_ptr()) });
    }
}

/// The value behind a queued pointer.
fn id(p: NonNull<u32>) -> u32 {
    // SAFETY: the pointer came from `alloc`, whose boxes live until `free`
    // runs after every thread has joined, and are never written.
    unsafe { *p.as_ptr() }
}

/// The thief's side of every model: steal once into a fresh queue of its
/// own, then run (here: record) everything it got.
fn thief(victim: Arc<Q>, steal_runnext: bool) -> thread::JoinHandle<Vec<u32>> {
    thread::spawn(move || {
        let mine = Q::new();
        let mut got = Vec::new();
        if let Some(g) = mine.steal_into(&victim, steal_runnext) {
            got.push(id(g));
            while let Some((g, inherit)) = mine.get() {
                assert!(!inherit, "a thief's ring entry came back as runnext");
                got.push(id(g));
            }
        }
        assert!(mine.is_empty());
        got
    })
}

/// Asserts `got` holds each of `0..n` exactly once.
fn assert_exactly_once(n: u32, mut got: Vec<u32>) {
    got.sort_unstable();
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "lost or duplicated items");
}

fn assert_increasing(v: &[u32]) {
    assert!(v.windows(2).all(|w| w[0] < w[1]), "out of order: {v:?}");
}

/// (a) The owner gets and puts while a thief steals twice. Positions run
/// past the ring's size, so the owner reuses slots the thief may be reading
/// with a stale `head` (the race the `head` acquire/release pair exists for).
#[test]
fn put_get_race_steal() {
    model(BOUND_TWO_THREADS, || {
        let items = alloc(5);
        let q = Arc::new(Q::new());
        for &g in &items[..3] {
            q.put(g, false).unwrap();
        }
        let q2 = q.clone();
        let th = thread::spawn(move || {
            let mine = Q::new();
            let mut got = Vec::new();
            for _ in 0..2 {
                if let Some(g) = mine.steal_into(&q2, false) {
                    got.push(id(g));
                    while let Some((g, _)) = mine.get() {
                        got.push(id(g));
                    }
                }
            }
            got
        });

        let mut owner = Vec::new();
        if let Some((g, _)) = q.get() {
            owner.push(id(g));
        }
        // At most 4 entries in a 4-slot ring: these puts cannot overflow.
        q.put(items[3], false).unwrap();
        q.put(items[4], false).unwrap();
        while let Some((g, inherit)) = q.get() {
            assert!(!inherit);
            owner.push(id(g));
        }
        // The owner's ring is FIFO whatever the thief took.
        assert_increasing(&owner);

        let mut got = th.join().unwrap();
        got.extend(owner);
        assert!(q.is_empty());
        assert_exactly_once(5, got);
        free(items);
    });
}

/// (a2) Two thieves race each other for the same victim while its owner
/// consumes: consumers' CAS on `head` must hand each entry to one of them.
#[test]
fn two_thieves_race_get() {
    model(BOUND_THREE_THREADS, || {
        let items = alloc(4);
        let q = Arc::new(Q::new());
        for &g in &items {
            q.put(g, false).unwrap();
        }
        let th1 = thief(q.clone(), false);
        let th2 = thief(q.clone(), false);

        let mut owner = Vec::new();
        while let Some((g, _)) = q.get() {
            owner.push(id(g));
        }
        assert_increasing(&owner);

        let mut got = th1.join().unwrap();
        got.extend(th2.join().unwrap());
        got.extend(owner);
        assert!(q.is_empty());
        assert_exactly_once(4, got);
        free(items);
    });
}

/// (b) The owner replaces `runnext` (kicking the old one to the ring) while
/// a thief tries the ring and then `runnext`.
#[test]
fn put_next_race_steal_runnext() {
    model(BOUND_TWO_THREADS, || {
        let items = alloc(2);
        let q = Arc::new(Q::new());
        q.put(items[0], true).unwrap();
        let th = thief(q.clone(), true);

        q.put(items[1], true).unwrap();
        let mut owner = Vec::new();
        while let Some((g, inherit)) = q.get() {
            // Only item 1 can be in runnext once the owner's put is done.
            if inherit {
                assert_eq!(id(g), 1);
            }
            owner.push(id(g));
        }

        let mut got = th.join().unwrap();
        got.extend(owner);
        assert!(q.is_empty());
        assert_exactly_once(2, got);
        free(items);
    });
}

/// (c) The owner drains (runnext, then the whole ring in one CAS) while a
/// thief steals from the ring or, once it is empty, takes runnext.
#[test]
fn drain_race_steal() {
    model(BOUND_TWO_THREADS, || {
        let items = alloc(4);
        let q = Arc::new(Q::new());
        for &g in &items[..3] {
            q.put(g, false).unwrap();
        }
        q.put(items[3], true).unwrap();
        let th = thief(q.clone(), true);

        let drained: Vec<u32> = q.drain().into_iter().map(id).collect();
        // Runnext (item 3) comes first if the drain got it; the ring part
        // follows oldest first.
        let ring_part = match drained.first() {
            Some(3) => &drained[1..],
            _ => &drained[..],
        };
        assert!(!ring_part.contains(&3));
        assert_increasing(ring_part);

        let mut got = th.join().unwrap();
        got.extend(drained);
        assert!(q.is_empty());
        assert_exactly_once(4, got);
        free(items);
    });
}

/// (d) The owner puts into a full ring, which overflows (half the ring plus
/// the new item come back as `Err`) unless the thief's steal made room
/// first or wins the race for `head` (then the put retries and fits).
#[test]
fn overflow_race_steal() {
    model(BOUND_TWO_THREADS, || {
        let items = alloc(5);
        let q = Arc::new(Q::new());
        for &g in &items[..4] {
            q.put(g, false).unwrap();
        }
        let th = thief(q.clone(), false);

        let mut owner = Vec::new();
        if let Err(batch) = q.put(items[4], false) {
            let batch: Vec<u32> = batch.into_iter().map(id).collect();
            // The two oldest, then the item being put.
            assert_eq!(batch.len(), 3);
            assert_eq!(batch[2], 4);
            assert_increasing(&batch);
            owner.extend(batch);
        }
        while let Some((g, inherit)) = q.get() {
            assert!(!inherit);
            owner.push(id(g));
        }

        let mut got = th.join().unwrap();
        got.extend(owner);
        assert!(q.is_empty());
        assert_exactly_once(5, got);
        free(items);
    });
}

/// (d2) Overflow through `runnext`: the full ring's owner puts with
/// `next`, so the displaced `runnext` is what overflows, while a thief may
/// take from the ring (or, had it emptied, `runnext`).
#[test]
fn overflow_via_runnext_race_steal() {
    model(BOUND_TWO_THREADS, || {
        let items = alloc(6);
        let q = Arc::new(Q::new());
        for &g in &items[..4] {
            q.put(g, false).unwrap();
        }
        q.put(items[4], true).unwrap();
        let th = thief(q.clone(), true);

        let mut owner = Vec::new();
        if let Err(batch) = q.put(items[5], true) {
            let batch: Vec<u32> = batch.into_iter().map(id).collect();
            // The two oldest, then the displaced runnext (item 4).
            assert_eq!(batch.len(), 3);
            assert_eq!(batch[2], 4);
            assert_increasing(&batch);
            owner.extend(batch);
        }
        while let Some((g, inherit)) = q.get() {
            if inherit {
                assert_eq!(id(g), 5);
            }
            owner.push(id(g));
        }

        let mut got = th.join().unwrap();
        got.extend(owner);
        assert!(q.is_empty());
        assert_exactly_once(6, got);
        free(items);
    });
}
