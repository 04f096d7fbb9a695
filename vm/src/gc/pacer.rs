//! The pacer and mark assists (Go's `gcControllerState`, simplified to
//! the proportional pacer of Go 1.5–1.17).
//!
//! Goal: `marked * (1 + GOGC/100)`, at least the minimum heap scaled by
//! GOGC (`Heap::MIN_HEAP`). Trigger: ahead of the goal, at
//! `marked + (goal - marked) * ratio`, where `ratio` (a fraction of the
//! goal's growth) is adjusted after every cycle by half the error between
//! the growth the cycle reached and the growth it aimed for, and clamped
//! to [0.6, 0.95] so marking always starts before the goal and never
//! absurdly early. The heap compared with the trigger is the paced heap
//! (`Heap::paced_live`: the live heap this pacer computed plus the bytes
//! allocated since), so garbage the sweep has not freed yet never starts
//! a cycle. `--max-heap` caps the trigger.
//!
//! Assists: while marking, every 16 KiB a P allocates adds to its assist
//! debt. At the next allocation safepoint the G on that P pays the debt
//! in scan work (`assist_ratio` bytes of scanning per byte allocated, the
//! expected scan work over the bytes left before the goal): first from
//! background credit (work the workers did ahead), then by draining mark
//! work itself. When no work is left to steal it parks (`gc_assist`)
//! until background workers add credit or mark termination wakes every
//! assist; what it did not pay stays owed, and the next allocation check
//! on the P pays it (Go's assist retries; forgiving it let the mutator
//! run unthrottled through whole marks). (Debt is kept per P, not per G as in Go: a G moving between
//! Ps leaves its debt behind, which the next G there pays.)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::mark;
use crate::native::Flow;
use crate::sched::{Park, Resume, Unlock, WaitReason};
use crate::trace::EventKind;
use crate::Ctx;

/// Initial and clamping bounds of the trigger ratio (Go 1.5's values).
pub(crate) const TRIGGER_INITIAL: f64 = 7.0 / 8.0;
const TRIGGER_MIN: f64 = 0.6;
const TRIGGER_MAX: f64 = 0.95;

/// Scan work an assist does between looks at its P's preempt flag: one
/// worker step's worth (tens of microseconds).
const ASSIST_STEP: i64 = (super::WORK_BUF * 64) as i64;

/// Debt a P accumulates before its G assists: four allocation flushes, so
/// assists come in batches of useful size.
const ASSIST_MIN_DEBT: isize = 4 * crate::heap::FLUSH_BYTES;

/// Pacing state.
#[derive(Default)]
pub struct Pacer {
    st: Mutex<PacerState>,
    /// When marking began (the scheduler's clock; ticks in deterministic
    /// mode), for fractional workers.
    pub(crate) mark_start: AtomicU64,
    /// Scan work per allocated byte for assists (f64 bits).
    assist_ratio: AtomicU64,
    forced: AtomicBool,
    pub clock: CycleClock,
}

#[derive(Default)]
struct PacerState {
    ratio: Option<f64>,
    started: Option<std::time::Instant>,
    mark_started: Option<std::time::Instant>,
    heap_start: u64,
    /// The goal the current cycle aims for (`gctrace`'s `G MB goal`).
    cycle_goal: u64,
    heap_mark_end: u64,
    alloc_at_start: u64,
}

impl Pacer {
    fn ratio(st: &PacerState) -> f64 {
        st.ratio.unwrap_or(TRIGGER_INITIAL)
    }

    pub(crate) fn set_forced(&self, f: bool) {
        self.forced.store(f, Ordering::Relaxed);
    }

    /// Records the heap at `GCStart`.
    pub(crate) fn begin_cycle(&self, cx: &Ctx) {
        let mut st = self.st.lock();
        st.started = Some(std::time::Instant::now());
        st.heap_start = cx.rt.heap.live() as u64;
        st.cycle_goal = cx.rt.heap.goal.load(Ordering::Relaxed) as u64;
        for c in [
            &self.clock.stw1_ns,
            &self.clock.stw2_ns,
            &self.clock.longest_ns,
            &self.clock.assist_ns,
            &self.clock.dedicated_ns,
            &self.clock.fractional_ns,
            &self.clock.idle_ns,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// The mark phase starts (world stopped): remember the clocks and set
    /// the assist ratio.
    pub(crate) fn start_mark(&self, cx: &Ctx) {
        let heap = &cx.rt.heap;
        self.mark_start.store(cx.rt.sched.now(), Ordering::Release);
        let mut st = self.st.lock();
        st.mark_started = Some(std::time::Instant::now());
        st.alloc_at_start = heap.total_alloc.load(Ordering::Relaxed);
        let live = heap.live() as f64;
        // Expected scan work: what survived last time (or the whole heap
        // on the first cycle).
        let last = heap.last_marked();
        let expected = if last > 0 { last as f64 } else { live };
        let goal = heap.goal.load(Ordering::Relaxed) as f64;
        let headroom = (goal - live).max(crate::heap::MIN_HEAP as f64 / 16.0);
        self.assist_ratio
            .store((expected / headroom).to_bits(), Ordering::Release);
    }

    /// Marking is over (world stopped): compute the live heap, the next
    /// goal and trigger, and the statistics.
    pub(crate) fn end_mark(&self, cx: &Ctx) {
        let rt = cx.rt;
        let heap = &rt.heap;
        let gc = &rt.gc;
        let mut st = self.st.lock();
        let now = std::time::Instant::now();
        if let Some(m) = st.mark_started {
            self.clock
                .mark_ns
                .store(now.duration_since(m).as_nanos() as u64, Ordering::Relaxed);
        }
        let allocated = heap
            .total_alloc
            .load(Ordering::Relaxed)
            .saturating_sub(st.alloc_at_start);
        let marked = gc.marked_bytes.load(Ordering::Acquire) + allocated;
        st.heap_mark_end = heap.live() as u64;
        let last = heap.last_marked() as u64;
        // Feedback: how far the heap grew over the last live heap, against
        // the growth GOGC allows.
        if let Some(p) = heap.gc_percent() {
            let goal_growth = f64::from(p) / 100.0;
            if last > 0 && goal_growth > 0.0 && !self.forced.load(Ordering::Relaxed) {
                let actual = st.heap_mark_end as f64 / last as f64 - 1.0;
                let ratio = Self::ratio(&st);
                let err = (goal_growth - actual) / goal_growth;
                st.ratio = Some((ratio + 0.5 * err * ratio).clamp(TRIGGER_MIN, TRIGGER_MAX));
            }
        }
        heap.set_paced_base(marked as usize);
        let (goal, trigger) = self.targets(heap, marked as usize, Self::ratio(&st));
        heap.goal.store(goal, Ordering::Relaxed);
        heap.trigger.store(trigger, Ordering::Relaxed);
    }

    /// Goal and trigger for a live heap of `live` bytes.
    fn targets(&self, heap: &crate::heap::Heap, live: usize, ratio: f64) -> (usize, usize) {
        let goal = heap.goal_for(live);
        if goal == usize::MAX {
            return (goal, heap.max_heap.unwrap_or(usize::MAX));
        }
        let mut trigger = if heap.stw_trigger {
            goal
        } else {
            live + ((goal - live) as f64 * ratio) as usize
        };
        if let Some(max) = heap.max_heap {
            trigger = trigger.min(max);
        }
        (goal, trigger)
    }

    /// Updates statistics and prints the `gctrace` line.
    pub(crate) fn report(&self, cx: &Ctx, n: u32) {
        let rt = cx.rt;
        let heap = &rt.heap;
        let st = self.st.lock();
        let stw1 = self.clock.stw1_ns.load(Ordering::Relaxed);
        let stw2 = self.clock.stw2_ns.load(Ordering::Relaxed);
        let mark = self.clock.mark_ns.load(Ordering::Relaxed);
        let gc_ns = stw1
            + stw2
            + self.clock.assist_ns.load(Ordering::Relaxed)
            + self.clock.dedicated_ns.load(Ordering::Relaxed)
            + self.clock.fractional_ns.load(Ordering::Relaxed)
            + self.clock.idle_ns.load(Ordering::Relaxed);
        let stats = {
            let mut s = heap.stats.lock();
            s.num_gc += 1;
            let longest = self.clock.longest_ns.load(Ordering::Relaxed);
            s.last_pause_ns = longest;
            s.max_pause_ns = s.max_pause_ns.max(longest);
            s.pause_total_ns += stw1 + stw2;
            s.gc_ns_total += gc_ns;
            *s
        };
        if !heap.gctrace {
            return;
        }
        const MB: f64 = 1024.0 * 1024.0;
        let start = st.started.unwrap_or(heap.started);
        let since = start.duration_since(heap.started).as_secs_f64();
        let procs = rt.sched.procs();
        let total = heap.started.elapsed().as_nanos().max(1) as f64 * procs as f64;
        let pct = (stats.gc_ns_total as f64 / total * 100.0).round();
        let ms = |ns: u64| ns as f64 / 1e6;
        let goal_mb = if st.cycle_goal as usize == usize::MAX {
            0.0
        } else {
            st.cycle_goal as f64 / MB
        };
        let line = format!(
            "gc {} @{:.3}s {}%: {:.3}+{:.3}+{:.3} ms clock, {:.3}+{:.3}/{:.3}/{:.3}+{:.3} ms cpu, {}->{}->{} MB, {} MB goal, {} P{}",
            n,
            since,
            pct,
            ms(stw1),
            ms(mark),
            ms(stw2),
            ms(stw1),
            ms(self.clock.assist_ns.load(Ordering::Relaxed)),
            ms(self.clock.dedicated_ns.load(Ordering::Relaxed)
                + self.clock.fractional_ns.load(Ordering::Relaxed)),
            ms(self.clock.idle_ns.load(Ordering::Relaxed)),
            ms(stw2),
            (st.heap_start as f64 / MB).round(),
            (st.heap_mark_end as f64 / MB).round(),
            (heap.last_marked() as f64 / MB).round(),
            goal_mb.round(),
            procs,
            if self.forced.load(Ordering::Relaxed) {
                " (forced)"
            } else {
                ""
            },
        );
        drop(st);
        rt.debug_line(&line);
    }

    fn assist_ratio(&self) -> f64 {
        f64::from_bits(self.assist_ratio.load(Ordering::Acquire))
    }
}

/// Background workers did `work` bytes of scanning: credit for assists;
/// wake a parked assist when there is some.
pub(crate) fn add_credit(cx: &mut Ctx, work: u64) {
    let gc = &cx.rt.gc;
    gc.bg_credit.fetch_add(work as i64, Ordering::AcqRel);
    if gc.bg_credit.load(Ordering::Acquire) > 0 {
        let g = {
            let mut q = gc.assistq.lock();
            q.pop()
        };
        if let Some(g) = g {
            crate::sched::proc::ready(cx, g);
        }
    }
}

/// Mark termination: every parked assist goes on.
pub(crate) fn wake_assists(cx: &mut Ctx) {
    let gs: Vec<_> = std::mem::take(&mut *cx.rt.gc.assistq.lock());
    for g in gs {
        crate::sched::proc::ready(cx, g);
    }
}

/// Pays this P's assist debt (see the module docs).
pub(crate) fn assist(cx: &mut Ctx) -> Result<(), Flow> {
    let rt = cx.rt;
    let gc = &rt.gc;
    let debt = std::mem::take(&mut cx.local().mc.assist_debt);
    // Under gcstress every allocation flush assists a little, so mark
    // work interleaves with the mutator as finely as possible.
    let debt = if rt.heap.gcstress && gc.marking() {
        debt.max(ASSIST_MIN_DEBT)
    } else {
        debt
    };
    if !gc.marking() || debt < ASSIST_MIN_DEBT {
        cx.local().mc.assist_debt = if gc.marking() { debt } else { 0 };
        return Ok(());
    }
    let mut need = (debt as f64 * gc.pacer.assist_ratio()) as i64;
    // Steal background credit first.
    let credit = gc.bg_credit.load(Ordering::Acquire);
    if credit > 0 {
        let take = credit.min(need);
        gc.bg_credit.fetch_sub(take, Ordering::AcqRel);
        need -= take;
    }
    if need <= 0 {
        return Ok(());
    }
    let g = cx.g.expect("assists run in a goroutine");
    let t0 = std::time::Instant::now();
    cx.trace(EventKind::GCMarkAssistStart, &[]);
    gc.active.fetch_add(1, Ordering::AcqRel);
    // Drain in steps, stopping early when the P is asked to stop (Go's
    // `gcDrainN` checks preemption): a large debt must not hold up a
    // stop-the-world. What is left stays owed (below).
    let mut paid = 0i64;
    let mut preempted = false;
    loop {
        let step = (need - paid).min(ASSIST_STEP) as u64;
        let d = mark::drain(cx, step);
        paid += d.work as i64;
        if paid >= need || (d.work as u64) < step {
            break;
        }
        if cx.p.preempt.load(Ordering::Relaxed) {
            preempted = true;
            break;
        }
    }
    mark::dispose(cx);
    super::flush_barrier_buffer();
    cx.trace(EventKind::GCMarkAssistDone, &[]);
    gc.pacer
        .clock
        .assist_ns
        .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    let left = gc.active.fetch_sub(1, Ordering::AcqRel) - 1;
    if paid >= need {
        return Ok(());
    }
    // The unpaid part stays owed (Go's assist retries after it wakes):
    // the next allocation check on this P pays it, or parks again.
    let ratio = gc.pacer.assist_ratio();
    if ratio > 0.0 {
        let mc = &mut cx.local().mc;
        mc.assist_debt += ((need - paid) as f64 / ratio) as isize;
        mc.poll = true;
    }
    if preempted {
        // The interpreter ends its chunk at this allocation check.
        return Ok(());
    }
    if left == 0 && !gc.work_available() {
        super::coord::mark_done(cx, g);
        // The coordinator is in `runnext`: let it terminate the mark now.
        return Err(Flow::Gosched);
    }
    // Out of work with debt left: wait for background credit or the end
    // of the mark phase.
    let mut q = gc.assistq.lock();
    if !gc.marking() {
        return Ok(());
    }
    q.push(g);
    std::mem::forget(q);
    Err(Flow::Park(Park {
        reason: WaitReason::GcAssist,
        unlock: Unlock::AssistQ(gc as *const super::GcState),
        resume: Resume::None,
    }))
}

/// `--max-heap` is exceeded at a safepoint: force a full collection (and
/// wait for it) once; if the heap is still over the limit after it, fail
/// with `Out of memory.`.
pub(crate) fn out_of_memory(cx: &mut Ctx) -> Result<(), Flow> {
    let g = cx.g.expect("a goroutine allocates");
    if g.oom_waited.swap(true, Ordering::AcqRel) {
        g.oom_waited.store(false, Ordering::Release);
        return Err(Flow::Error("Out of memory.".into()));
    }
    match super::coord::gc_wait(cx) {
        Err(Flow::Park(pk)) => Err(Flow::Park(Park {
            resume: Resume::OomCheck,
            ..pk
        })),
        other => other,
    }
}

/// Per-cycle pause and CPU accounting, for memstats and `gctrace`.
#[derive(Default)]
pub struct CycleClock {
    /// Sweep termination's pause, from the request to stop the world to
    /// its restart.
    pub stw1_ns: AtomicU64,
    /// Mark termination's pauses, likewise (more than one when a re-check
    /// found grey objects and the mark resumed).
    pub stw2_ns: AtomicU64,
    /// The longest single pause of the cycle.
    pub longest_ns: AtomicU64,
    pub mark_ns: AtomicU64,
    pub assist_ns: AtomicU64,
    pub dedicated_ns: AtomicU64,
    pub fractional_ns: AtomicU64,
    pub idle_ns: AtomicU64,
}

impl CycleClock {
    /// A stop-the-world pause from `since` (before the request to stop)
    /// to `until` (the world released, `stw::start_the_world`): add it to
    /// `phase`'s total.
    pub(crate) fn note_pause(
        &self,
        phase: &AtomicU64,
        since: std::time::Instant,
        until: std::time::Instant,
    ) {
        let ns = until.duration_since(since).as_nanos() as u64;
        phase.fetch_add(ns, Ordering::Relaxed);
        self.longest_ns.fetch_max(ns, Ordering::Relaxed);
    }
}
