//! Semaphores that park goroutines, never threads: the runtime's
//! `worldsema` / `gcsema` and the state behind `sync.Mutex` and
//! `sync.WaitGroup`.
//!
//! One lock guards a count, a held flag and a FIFO of parked Gs. Waiting
//! follows the park contract: the waiter queues itself under the lock,
//! returns `Flow::Park` with the lock still held, and the scheduler releases
//! it only after the G is `Waiting`, so a releaser cannot miss it.
//!
//! - Runtime semaphores ([`RtSema`]) do not hand off: `release` clears the
//!   flag and readies the first waiter, which retries (`Resume::Retry`).
//!   `try_acquire` takes one only if it is free, never parking.
//! - `sync.Mutex` hands the lock straight to the first waiter on `unlock`
//!   (the waiter's `lock()` call then completes without retrying), so a
//!   steady stream of lockers cannot starve a parked one.
//! - `sync.WaitGroup` wakes every waiter when the counter reaches zero.
//!
//! A [`WakeRecord`] is the smallest such semaphore: one G parks on it and
//! any other wakes it; a wake-up that comes first is kept for the next park
//! (the collector's coordinator and background sweeper sleep on one). A
//! [`WaitList`] holds any number of Gs until an event, which each checks
//! under the list's lock before it parks.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::park::{Flow, Park, Resume, Unlock, WaitReason};
use super::GRef;
use crate::Ctx;

/// A semaphore's state.
#[derive(Default)]
pub struct SemaState {
    /// `sync.Mutex` / runtime semaphores: held.
    pub held: bool,
    /// `sync.WaitGroup`: the counter.
    pub count: i64,
    pub waiters: VecDeque<GRef>,
}

/// A lock plus the state it guards.
#[derive(Default)]
pub struct SemaCore {
    pub state: Mutex<SemaState>,
}

impl SemaCore {
    /// Queues the running G on `st` (whose guard is `guard`) and returns
    /// the park that releases the lock afterwards.
    fn park(cx: &Ctx, guard: parking_lot::MutexGuard<'_, SemaState>, resume: Resume) -> Flow {
        let mut guard = guard;
        guard.waiters.push_back(cx.g.expect("a goroutine parks"));
        // The scheduler unlocks after the park (see the module docs).
        Flow::Park(Park {
            reason: WaitReason::Sema,
            unlock: Unlock::guard(guard),
            resume,
        })
    }

    /// Takes the semaphore if it is free, else queues the running G and
    /// returns the park (waking, it does `resume`).
    fn take_or_park(&self, cx: &Ctx, resume: Resume) -> Result<(), Flow> {
        let mut st = self.state.lock();
        if !st.held {
            st.held = true;
            return Ok(());
        }
        Err(Self::park(cx, st, resume))
    }
}

/// A runtime semaphore (`worldsema`, `gcsema`).
pub struct RtSema {
    core: SemaCore,
    /// Mirror of `held` for a lock-free fast check.
    busy: AtomicBool,
}

impl Default for RtSema {
    fn default() -> Self {
        RtSema::new()
    }
}

impl RtSema {
    pub fn new() -> RtSema {
        RtSema {
            core: SemaCore::default(),
            busy: AtomicBool::new(false),
        }
    }

    /// Takes the semaphore if free.
    pub fn try_acquire(&self) -> bool {
        if self.busy.load(Ordering::Relaxed) {
            return false;
        }
        let mut st = self.core.state.lock();
        if st.held {
            return false;
        }
        st.held = true;
        self.busy.store(true, Ordering::Relaxed);
        true
    }

    /// Takes the semaphore, or parks the running G to retry its
    /// instruction when the holder releases it.
    pub fn acquire(&self, cx: &Ctx) -> Result<(), Flow> {
        self.core.take_or_park(cx, Resume::Retry)?;
        self.busy.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Releases the semaphore and readies the first waiter (which retries).
    pub fn release(&self, cx: &mut Ctx) {
        let w = {
            let mut st = self.core.state.lock();
            st.held = false;
            self.busy.store(false, Ordering::Relaxed);
            st.waiters.pop_front()
        };
        if let Some(g) = w {
            super::proc::ready(cx, g);
        }
    }
}

/// `sync.Mutex.lock()`.
pub fn mutex_lock(cx: &Ctx, s: &SemaCore) -> Result<(), Flow> {
    // The lock is handed over on unlock, so a woken locker owns it.
    s.take_or_park(cx, Resume::None)
}

/// `sync.Mutex.unlock()`: hands the lock to the first waiter, if any.
pub fn mutex_unlock(cx: &mut Ctx, s: &SemaCore) -> Result<(), Flow> {
    let w = {
        let mut st = s.state.lock();
        if !st.held {
            return Err("sync: unlock of unlocked mutex.".into());
        }
        match st.waiters.pop_front() {
            // Ownership passes to `g`: `held` stays set.
            Some(g) => Some(g),
            None => {
                st.held = false;
                None
            }
        }
    };
    if let Some(g) = w {
        super::proc::ready(cx, g);
    }
    Ok(())
}

/// `sync.WaitGroup.add(n)` (`done()` is `add(-1)`): wakes every waiter
/// when the counter reaches zero.
pub fn wg_add(cx: &mut Ctx, s: &SemaCore, n: i64) -> Result<(), Flow> {
    let woken: Vec<GRef> = {
        let mut st = s.state.lock();
        st.count += n;
        if st.count < 0 {
            st.count = 0;
            return Err("sync: negative WaitGroup counter.".into());
        }
        if st.count == 0 {
            st.waiters.drain(..).collect()
        } else {
            Vec::new()
        }
    };
    for g in woken {
        super::proc::ready(cx, g);
    }
    Ok(())
}

/// `sync.WaitGroup.wait()`.
pub fn wg_wait(cx: &Ctx, s: &SemaCore) -> Result<(), Flow> {
    let st = s.state.lock();
    if st.count == 0 {
        return Ok(());
    }
    Err(SemaCore::park(cx, st, Resume::None))
}

/// A `{lock, g, wake}` record: one G parks on it, others wake it, and a
/// wake that comes before the park is not lost.
#[derive(Default)]
pub struct WakeRecord {
    st: Mutex<WakeState>,
}

#[derive(Default)]
struct WakeState {
    /// The parked G (set under the lock just before it parks).
    g: Option<GRef>,
    /// A wake-up came while nobody was parked.
    wake: bool,
}

impl WakeRecord {
    /// Parks the running G unless a wake-up is pending (then consumes it
    /// and returns `None`).
    pub(crate) fn park(&self, cx: &Ctx, reason: WaitReason) -> Option<Park> {
        let mut st = self.st.lock();
        if st.wake {
            st.wake = false;
            return None;
        }
        st.g = Some(cx.g.expect("a goroutine parks"));
        // The scheduler releases the lock once the G is `Waiting`.
        Some(Park {
            reason,
            unlock: Unlock::guard(st),
            resume: Resume::None,
        })
    }

    /// Readies the parked G (into `runnext`), or leaves a wake-up for the
    /// next park.
    pub(crate) fn wake(&self, cx: &mut Ctx) {
        self.wake_with(cx, super::proc::ready);
    }

    /// [`wake`](Self::wake) for a waker that gives its P up at once (it
    /// yields or parks right after): the woken G goes to this P's
    /// `runnext` and no other P is woken for it (`proc::ready_here`).
    pub(crate) fn wake_here(&self, cx: &mut Ctx) {
        self.wake_with(cx, super::proc::ready_here);
    }

    fn wake_with(&self, cx: &mut Ctx, ready: fn(&mut Ctx, GRef)) {
        let mut st = self.st.lock();
        match st.g.take() {
            Some(g) => {
                drop(st);
                ready(cx, g);
            }
            None => st.wake = true,
        }
    }
}

/// Goroutines parked until an event, behind one lock: the collector's
/// assist queue and the goroutines waiting for a cycle's mark. Unlike a
/// [`WakeRecord`], a wake-up that comes before the park is not kept: the
/// waiter checks, under the list's lock, whether the event has happened
/// (`park_unless`), and a waker changes the state the check reads before
/// it takes the lock to ready the Gs. So a waiter either sees the change
/// or is on the list when the waker empties it.
#[derive(Default)]
pub struct WaitList(Mutex<Vec<GRef>>);

impl WaitList {
    /// Parks `g` (the running G) with `reason`, unless `happened()`,
    /// called under the list's lock, says there is nothing to wait for.
    /// The lock is released once the G is `Waiting`.
    pub fn park_unless(
        &self,
        g: GRef,
        reason: WaitReason,
        happened: impl FnOnce() -> bool,
    ) -> Result<(), Flow> {
        let mut list = self.0.lock();
        if happened() {
            return Ok(());
        }
        list.push(g);
        Err(Flow::Park(Park {
            reason,
            unlock: Unlock::guard(list),
            resume: Resume::None,
        }))
    }

    /// Readies the most recently parked G, if any.
    pub fn ready_one(&self, cx: &mut Ctx) {
        let g = self.0.lock().pop();
        if let Some(g) = g {
            super::proc::ready(cx, g);
        }
    }

    /// Readies every parked G.
    pub fn ready_all(&self, cx: &mut Ctx) {
        let gs = std::mem::take(&mut *self.0.lock());
        for g in gs {
            super::proc::ready(cx, g);
        }
    }
}
