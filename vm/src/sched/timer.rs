//! Per-P timers: `sleep(ms)` and `time.after(ms)`.
//!
//! Each P keeps a min-heap of timers under its own lock (Go's per-P timer
//! heaps). A goroutine that sleeps adds a timer to the P it runs on and parks
//! with that lock still held; the scheduler releases it once the G is
//! `Waiting`, so a timer can never fire before its G has parked.
//!
//! Who runs timers (all through [`run_expired`]):
//! 1. `find_runnable` runs its own P's expired timers first.
//! 2. A spinning M runs the expired timers of the Ps it tries to steal from.
//! 3. Sysmon sleeps until the earliest timer anywhere and wakes an idle P
//!    for it (real mode); the deterministic driver advances its virtual
//!    clock to the earliest timer when nothing else can run.
//!
//! A fired timer readies its G (into the running P's `runnext`) or sends
//! the current time on its channel without blocking (`time.after`'s channel
//! has capacity 1 and receives once).
//!
//! Invariant: `P::next_timer` equals the heap's earliest `when` (or
//! `u64::MAX`) whenever the lock is free.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;

use super::park::{Flow, Park, Resume, Unlock, WaitReason};
use super::{GRef, P};
use crate::value::Value;
use crate::Ctx;

/// What a timer does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Ready a sleeping goroutine.
    Wake(GRef),
    /// Send the time (ms) on a `time.after` channel.
    Send(Value),
}

/// One timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    pub when: u64,
    /// Creation order, so timers due at the same instant fire in order.
    pub seq: u64,
    pub action: Action,
}

impl Ord for Timer {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.when, self.seq).cmp(&(o.when, o.seq))
    }
}
impl PartialOrd for Timer {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// A P's timer heap.
#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Timer>>,
    seq: u64,
}

impl Timers {
    fn push(&mut self, when: u64, action: Action) {
        self.seq += 1;
        self.heap.push(Reverse(Timer {
            when,
            seq: self.seq,
            action,
        }));
    }

    /// When the earliest timer fires (`u64::MAX`: none).
    pub fn earliest(&self) -> u64 {
        self.heap.peek().map_or(u64::MAX, |t| t.0.when)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Every pending `time.after` channel (collector roots).
    pub fn for_each_value(&self, mut f: impl FnMut(Value)) {
        for t in self.heap.iter() {
            if let Action::Send(v) = t.0.action {
                f(v);
            }
        }
    }

    /// Moves every timer into `other` (a P being destroyed).
    pub fn move_into(&mut self, other: &mut Timers) {
        for t in self.heap.drain() {
            other.push(t.0.when, t.0.action);
        }
    }
}

/// Nanoseconds per millisecond (the real clock's unit).
const NS_PER_MS: u64 = 1_000_000;

/// Clock units per millisecond: nanoseconds in real mode, virtual ticks in
/// deterministic mode (see `sim`).
pub fn units_per_ms(cx: &Ctx) -> u64 {
    if cx.rt.sched.is_sim() {
        super::sim::TICKS_PER_MS
    } else {
        NS_PER_MS
    }
}

/// Adds a timer firing `ms` milliseconds from now to this P's heap, and
/// returns the heap still locked: `sleep` parks with the lock held (so the
/// timer cannot fire before the G is `Waiting`); `time.after` drops it.
fn add<'a>(cx: &Ctx<'a>, ms: f64, action: Action) -> parking_lot::MutexGuard<'a, Timers> {
    let when = cx
        .rt
        .sched
        .now()
        .saturating_add((ms * units_per_ms(cx) as f64) as u64);
    let p: &'a P = cx.p();
    let mut t = p.timers.lock();
    t.push(when, action);
    p.next_timer.store(t.earliest(), Ordering::Release);
    super::proc::timer_added(cx.rt, when);
    t
}

/// `sleep(ms)`: parks the running G until a timer on this P fires.
pub fn sleep(cx: &mut Ctx, ms: f64) -> Result<Value, Flow> {
    if ms.is_nan() || ms <= 0.0 {
        return Err(Flow::Gosched);
    }
    let g = cx.g.expect("sleep runs in a goroutine");
    let t = add(cx, ms, Action::Wake(g));
    Err(Flow::Park(Park {
        reason: WaitReason::Sleep,
        unlock: Unlock::guard(t),
        resume: Resume::None,
    }))
}

/// `time.after(ms)`: a timer that sends on `ch` (capacity 1).
pub fn after(cx: &mut Ctx, ms: f64, ch: Value) {
    let ms = if ms.is_nan() || ms < 0.0 { 0.0 } else { ms };
    drop(add(cx, ms, Action::Send(ch)));
}

/// [`run_expired`] at the current time, read only when `p` has a timer:
/// the scheduler asks at every schedule, and most Ps have none, so this
/// saves a clock read (a `clock_gettime`, tens of nanoseconds) each time.
#[inline]
pub fn run_expired_now(cx: &mut Ctx, p: &P) -> usize {
    if p.next_timer.load(Ordering::Acquire) == u64::MAX {
        return 0;
    }
    let now = cx.rt.sched.now();
    run_expired(cx, p, now)
}

/// Runs `p`'s timers that are due at `now` on behalf of the running P
/// (`cx`). Returns how many fired.
pub fn run_expired(cx: &mut Ctx, p: &P, now: u64) -> usize {
    if p.next_timer.load(Ordering::Acquire) > now {
        return 0;
    }
    let mut due: Vec<Action> = {
        let mut t = p.timers.lock();
        let mut due = Vec::new();
        while t.earliest() <= now {
            due.push(t.heap.pop().expect("non-empty").0.action);
        }
        p.next_timer.store(t.earliest(), Ordering::Release);
        due
    };
    if due.len() > 1 {
        if let Some(explorer) = cx.rt.sched.sim.as_ref().and_then(|s| s.explorer.as_ref()) {
            explorer.lock().shuffle(&mut due);
        }
    }
    let n = due.len();
    for a in due {
        match a {
            Action::Wake(g) => super::proc::ready(cx, g),
            Action::Send(ch) => {
                let ms = cx.rt.sched.now() as f64 / units_per_ms(cx) as f64;
                super::chan::send_nonblocking(cx, ch, Value::number(ms));
            }
        }
    }
    n
}

/// The earliest timer of any P.
pub fn earliest(sched: &super::Sched) -> u64 {
    sched
        .all_created()
        .take(sched.procs())
        .map(|p| p.next_timer.load(Ordering::Acquire))
        .min()
        .unwrap_or(u64::MAX)
}
