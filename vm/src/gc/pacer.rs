//! The pacer and mark assists (Go's `gcControllerState`, simplified to
//! the proportional pacer of Go 1.5–1.17).
//!
//! The pacer owns every pacing input and output: GOGC, `--max-heap`, the
//! goal, the trigger, the paced heap's base, and the cycle requests that
//! allocation raises for the next safepoint.
//!
//! Goal: `marked * (1 + GOGC/100)`, at least the minimum heap scaled by
//! GOGC ([`MIN_HEAP`]). Trigger: ahead of the goal, at
//! `marked + (goal - marked) * ratio`, where `ratio` (a fraction of the
//! runway from the live heap to the goal) is adjusted after every cycle by
//! half of Go 1.5's trigger error, `1 - ratio - load * (reached - ratio)`
//! (`reached`: where in the runway the heap was when the mark ended,
//! `load`: the mark's CPU over the 25% goal, counting assists beyond it,
//! times how much the assists held the allocating goroutines back, since
//! a goroutine that is assisting is not growing the heap), and clamped to
//! [0.6, 0.95] so marking always starts before the goal and never
//! absurdly early. A mark that the mutator paid for in assists thus
//! starts earlier next time, leaving the work to the background workers.
//! The heap compared with the trigger is the paced heap
//! ([`Pacer::paced_live`]: the live heap this pacer computed plus the bytes
//! allocated since), so garbage the sweep has not freed yet never starts
//! a cycle. `--max-heap` caps the trigger. Before the first cycle, and
//! when `setgcpercent` changes GOGC, the trigger sits at the initial ratio
//! of the way to the goal: a trigger at the goal itself would leave a
//! concurrent mark no room (the first cycle overshot its goal 2.5 times in
//! binary_trees). Under `gcstoptheworld` nothing marks concurrently, so the
//! trigger is the goal.
//!
//! Assists: while marking, every 16 KiB a P allocates adds to its assist
//! debt. Once the debt is four flushes' worth (`ASSIST_MIN_DEBT`), the G
//! at the next allocation safepoint on that P pays it in scan work
//! (`Pacer::assist_ratio` bytes of scanning per byte allocated, worked
//! out when it pays, as Go's `revise` does: the scan work left, measured
//! against what the last mark did as `mark::drain` counts it, over the
//! heap growth left before the goal; past the goal, or past the expected
//! work, every scannable byte is assumed live; past the goal, all the work
//! left): first from background credit (work the workers did ahead), then
//! by draining mark work itself. When no work is left to steal, or the
//! mark's completion point is already claimed and the heap is past its
//! goal, it parks (`gc_assist`) until background workers add credit or
//! mark termination wakes every assist; what it did not pay stays owed,
//! and the next allocation check on the P pays it (Go's assist retries;
//! forgiving it let the mutator run unthrottled through whole marks).
//! (Debt is kept per P, not per G as in Go: a G moving between Ps leaves
//! its debt behind, which the next G there pays.)

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::mark;
use crate::heap::Heap;
use crate::sched::park::{Flow, Park, Resume, WaitReason};
use crate::trace::EventKind;
use crate::Ctx;

/// Go's minimum heap goal (4 MiB at GOGC=100): below it, collecting buys
/// nothing but pauses.
pub const MIN_HEAP: usize = 4 << 20;

/// Initial and clamping bounds of the trigger ratio (Go 1.5's values).
pub(crate) const TRIGGER_INITIAL: f64 = 7.0 / 8.0;
const TRIGGER_MIN: f64 = 0.6;
const TRIGGER_MAX: f64 = 0.95;

/// How much of the relative error between the growth a cycle reached and
/// the growth GOGC allows moves the trigger ratio (Go 1.5's damping: half,
/// so one odd cycle cannot swing the trigger).
const TRIGGER_GAIN: f64 = 0.5;

/// The least scan work the assist ratio counts as left (Go's floor of
/// 1000): a mark that has done all it expected still has its last grey
/// objects to scan.
const MIN_WORK_LEFT: f64 = 1000.0;

/// The least heap growth the assist ratio counts as left before its goal:
/// one allocation flush, so that at the goal an allocation owes all the
/// work there is rather than a division by zero.
const MIN_HEAP_LEFT: f64 = crate::heap::FLUSH_BYTES as f64;

/// The most [`Pacer::assist_slowdown`] counts: assists that took nine
/// tenths of the goroutines' time during a mark already move the trigger
/// as far as the clamp allows, and clock noise on a mark of microseconds
/// must not read as an infinite slowdown.
const MAX_SLOWDOWN: f64 = 10.0;

/// GOGC is a percentage.
const PERCENT: f64 = 100.0;

/// Scan work an assist does between looks at its P's preempt flag: one
/// worker step's worth (tens of microseconds).
const ASSIST_STEP: i64 = (super::WORK_BUF * 64) as i64;

/// Debt a P accumulates before its G assists: four allocation flushes, so
/// assists come in batches of useful size.
pub(crate) const ASSIST_MIN_DEBT: isize = 4 * crate::heap::FLUSH_BYTES;

/// Pacing state: the knobs, the goal and trigger, the paced heap's base,
/// and the requests for a cycle.
pub struct Pacer {
    st: Mutex<PacerState>,
    /// When marking began (the scheduler's clock; ticks in deterministic
    /// mode), for fractional workers.
    pub(crate) mark_start: AtomicU64,
    /// The scan work the mark in progress expects to do (f64 bits; set
    /// when it starts, see [`Pacer::assist_ratio`]).
    cycle_expected: AtomicU64,
    /// `Heap::scan_alloc` when the last mark ended.
    scan_alloc_at_end: AtomicU64,
    /// The scan work the last mark did (`Gc::scan_work`), which the next
    /// mark is expected to need; 0 before the first.
    expected_work: AtomicU64,
    /// GOGC; negative means off.
    gc_percent: AtomicI64,
    /// `--max-heap`: the limit on the live heap.
    max_heap: Option<usize>,
    /// `SKEINDEBUG=gcstress=1` (or 2): every allocation flush asks for a
    /// cycle.
    pub(crate) gcstress: bool,
    /// `SKEINDEBUG=gcstress=2`: every allocation safepoint collects in full
    /// and waits (`gc::safepoint`).
    pub(crate) gcstress_full: bool,
    /// The pending request came from `SKEINDEBUG=buggify=1`'s schedule
    /// (`sched::strategy`): its cycle's trigger is `buggify`.
    buggified: AtomicBool,
    /// Print Go's `gctrace` line after each cycle.
    gctrace: bool,
    /// Collect when [`Pacer::paced_live`] reaches this.
    trigger: AtomicUsize,
    /// The goal of the cycle in progress or next (reported by memstats).
    goal: AtomicUsize,
    /// The live heap the last mark found (set at mark termination): the
    /// base of [`Pacer::paced_live`].
    paced_base: AtomicUsize,
    /// `Heap::total_alloc` when `paced_base` was set.
    paced_alloc_base: AtomicU64,
    /// A cycle was asked for (by allocation past the trigger, or by
    /// `runtime.gc()` outside a goroutine); the next allocation safepoint
    /// passes it to the coordinator.
    requested: AtomicBool,
    /// The request was `runtime.gc()`'s, not the trigger's.
    requested_forced: AtomicBool,
    /// The cycle in progress was forced (no trigger feedback; `gctrace`
    /// says `(forced)`).
    cycle_forced: AtomicBool,
    pub clock: CycleClock,
}

/// The pacer's knobs (from `VmOptions`).
pub struct PacerConfig {
    pub gc_percent: Option<u32>,
    pub max_heap: Option<usize>,
    /// The stress level (`VmOptions::gcstress`).
    pub gcstress: u8,
    pub gctrace: bool,
}

#[derive(Default)]
struct PacerState {
    ratio: Option<f64>,
    /// When the cycle and its mark began (`Sched::clock_ns`).
    started: Option<u64>,
    mark_started: Option<u64>,
    heap_start: u64,
    /// The goal the current cycle aims for (`gctrace`'s `G MB goal`).
    cycle_goal: u64,
    heap_mark_end: u64,
    alloc_at_start: u64,
    /// What started the current cycle: `heap`, `forced`, `stress` or
    /// `max-heap` (`gctrace`'s last word, the trace's `GCStart trigger=`).
    trigger: &'static str,
}

impl Pacer {
    /// A pacer before any cycle; [`Pacer::set_goal`] places the first
    /// trigger.
    pub fn new(cfg: PacerConfig) -> Pacer {
        Pacer {
            st: Mutex::new(PacerState::default()),
            mark_start: AtomicU64::new(0),
            cycle_expected: AtomicU64::new(0),
            scan_alloc_at_end: AtomicU64::new(0),
            expected_work: AtomicU64::new(0),
            gc_percent: AtomicI64::new(cfg.gc_percent.map_or(-1, i64::from)),
            max_heap: cfg.max_heap,
            gcstress: cfg.gcstress >= 1,
            gcstress_full: cfg.gcstress >= 2,
            gctrace: cfg.gctrace,
            trigger: AtomicUsize::new(0),
            goal: AtomicUsize::new(0),
            paced_base: AtomicUsize::new(0),
            paced_alloc_base: AtomicU64::new(0),
            requested: AtomicBool::new(false),
            buggified: AtomicBool::new(false),
            requested_forced: AtomicBool::new(false),
            cycle_forced: AtomicBool::new(false),
            clock: CycleClock::default(),
        }
    }

    fn ratio(st: &PacerState) -> f64 {
        st.ratio.unwrap_or(TRIGGER_INITIAL)
    }

    /// GOGC, `None` when off.
    pub fn gc_percent(&self) -> Option<u32> {
        let p = self.gc_percent.load(Ordering::Relaxed);
        (p >= 0).then_some(p as u32)
    }

    /// Sets GOGC and re-places the goal and trigger from the paced heap;
    /// returns the previous GOGC.
    pub(crate) fn set_gc_percent(&self, p: Option<u32>, heap: &Heap, stw: bool) -> Option<u32> {
        let old = self.gc_percent();
        self.gc_percent
            .store(p.map_or(-1, i64::from), Ordering::Relaxed);
        self.set_goal(self.paced_live(heap), stw);
        old
    }

    /// The goal of the cycle in progress or next (`usize::MAX`: off).
    pub fn goal(&self) -> usize {
        self.goal.load(Ordering::Relaxed)
    }

    /// Is `footprint` (`Heap::footprint`) over `--max-heap`?
    pub fn over_max_heap(&self, footprint: usize) -> bool {
        self.max_heap.is_some_and(|max| footprint > max)
    }

    /// The heap the pacer compares with its trigger (Go's `heapLive`): the
    /// bytes the last mark found live plus every byte allocated since.
    /// Unlike `Heap::live` it leaves out garbage the sweep has not freed
    /// yet, so a cycle is never triggered by the previous cycle's garbage
    /// (which the sweep frees without a collection).
    pub fn paced_live(&self, heap: &Heap) -> usize {
        self.paced_live_at(heap.total_alloc())
    }

    fn paced_live_at(&self, total_alloc: u64) -> usize {
        let since = total_alloc.saturating_sub(self.paced_alloc_base.load(Ordering::Relaxed));
        self.paced_base.load(Ordering::Relaxed) + since as usize
    }

    /// Is a cycle due (the paced heap at the trigger, or `gcstress`)?
    pub fn trigger_reached(&self, heap: &Heap) -> bool {
        self.trigger_reached_at(heap.total_alloc())
    }

    /// [`Pacer::trigger_reached`] when `total_alloc` bytes have been
    /// allocated (the allocation flush knows the count it just published).
    pub(crate) fn trigger_reached_at(&self, total_alloc: u64) -> bool {
        self.gcstress || self.paced_live_at(total_alloc) >= self.trigger.load(Ordering::Relaxed)
    }

    /// The live heap the last mark found (0 before the first).
    pub fn last_marked(&self) -> usize {
        self.paced_base.load(Ordering::Relaxed)
    }

    /// Re-bases [`Pacer::paced_live`] on the live heap a mark found (world
    /// stopped).
    fn set_paced_base(&self, heap: &Heap, live: usize) {
        self.paced_base.store(live, Ordering::Relaxed);
        self.paced_alloc_base
            .store(heap.total_alloc(), Ordering::Relaxed);
    }

    /// The GOGC goal for a live heap of `live` bytes:
    /// `max(live * (1 + GOGC/100), MIN_HEAP * GOGC/100)`, or `usize::MAX`
    /// when the collector is off.
    fn goal_for(&self, live: usize) -> usize {
        match self.gc_percent() {
            Some(p) => {
                let p = p as usize;
                (live + live / 100 * p).max(MIN_HEAP / 100 * p.max(1))
            }
            None => usize::MAX,
        }
    }

    /// The one pacing formula: the goal for a live heap of `live` bytes,
    /// and the trigger `ratio` of the way there (at the goal under
    /// `gcstoptheworld`), capped by `--max-heap` so that the limit is
    /// checked by a collection first.
    fn targets(&self, live: usize, ratio: f64, stw: bool) -> (usize, usize) {
        let goal = self.goal_for(live);
        let trigger = if stw || goal == usize::MAX {
            goal
        } else {
            live + ((goal - live) as f64 * ratio) as usize
        };
        (goal, trigger.min(self.max_heap.unwrap_or(usize::MAX)))
    }

    /// Places the goal for `live` and the trigger at the initial ratio
    /// (before the first cycle, and when GOGC changes; see the module
    /// docs). `stw`: the collector runs in `gcstoptheworld` mode.
    pub(crate) fn set_goal(&self, live: usize, stw: bool) {
        let (goal, trigger) = self.targets(live, TRIGGER_INITIAL, stw);
        self.goal.store(goal, Ordering::Relaxed);
        self.trigger.store(trigger, Ordering::Relaxed);
    }

    /// Asks for a cycle at the next allocation safepoint (`forced`:
    /// `runtime.gc()` asked, not the trigger).
    pub(crate) fn request(&self, forced: bool) {
        if forced {
            self.requested_forced.store(true, Ordering::Relaxed);
        }
        self.requested.store(true, Ordering::Relaxed);
    }

    /// Asks for a cycle at the next allocation safepoint on behalf of a
    /// buggified schedule.
    pub(crate) fn request_buggify(&self) {
        self.buggified.store(true, Ordering::Relaxed);
        self.request(false);
    }

    /// Whether the cycle starting now was asked for by a buggified
    /// schedule (once per request).
    pub(crate) fn take_buggified(&self) -> bool {
        self.buggified.swap(false, Ordering::Relaxed)
    }

    /// Has a cycle been asked for? (The interpreter's allocation check.)
    #[inline(always)]
    pub(crate) fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// Takes the pending request, if any: whether it was forced.
    pub(crate) fn take_request(&self) -> Option<bool> {
        self.requested
            .swap(false, Ordering::Relaxed)
            .then(|| self.requested_forced.swap(false, Ordering::Relaxed))
    }

    /// Records the heap at `GCStart`, whether the cycle was forced, and
    /// what started it (`gctrace` names it).
    pub(crate) fn begin_cycle(&self, cx: &Ctx, forced: bool, trigger: &'static str) {
        self.cycle_forced.store(forced, Ordering::Relaxed);
        let mut st = self.st.lock();
        st.trigger = trigger;
        st.started = Some(cx.rt.sched.clock_ns());
        st.heap_start = cx.rt.heap.live() as u64;
        st.cycle_goal = self.goal() as u64;
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

    /// The mark phase starts (world stopped): remember the clocks and the
    /// scan work the mark expects to do (see [`Pacer::assist_ratio`]).
    pub(crate) fn start_mark(&self, cx: &Ctx) {
        let heap = &cx.rt.heap;
        self.mark_start.store(cx.rt.sched.now(), Ordering::Release);
        let mut st = self.st.lock();
        st.mark_started = Some(cx.rt.sched.clock_ns());
        st.alloc_at_start = heap.total_alloc();
        let live = heap.live() as f64;
        // Expected scan work: what the last mark did (or the whole heap on
        // the first cycle). It must be in the units that workers credit and
        // assists pay, which `mark::drain` counts (a list's slots, eight
        // bytes each), not in bytes marked: a two-element list's slot is
        // several times the 16 bytes it scans as, and with bytes marked as
        // the expectation binary_trees' assists did several times the work
        // they owed.
        let expected = match self.expected_work.load(Ordering::Relaxed) {
            0 => live,
            w => w as f64,
        };
        self.cycle_expected
            .store(expected.to_bits(), Ordering::Release);
    }

    /// Marking is over (world stopped): compute the live heap, the next
    /// goal and trigger, and the statistics.
    pub(crate) fn end_mark(&self, cx: &Ctx) {
        let rt = cx.rt;
        let heap = &rt.heap;
        let gc = &rt.gc;
        let mut st = self.st.lock();
        let now = rt.sched.clock_ns();
        if let Some(m) = st.mark_started {
            self.clock
                .mark_ns
                .store(now.saturating_sub(m), Ordering::Relaxed);
        }
        self.expected_work
            .store(gc.scan_work.load(Ordering::Acquire), Ordering::Relaxed);
        self.scan_alloc_at_end
            .store(heap.scan_alloc.load(Ordering::Relaxed), Ordering::Relaxed);
        let allocated = heap.total_alloc().saturating_sub(st.alloc_at_start);
        let marked = gc.marked_bytes.load(Ordering::Acquire) + allocated;
        st.heap_mark_end = heap.live() as u64;
        let last = self.last_marked() as u64;
        // Feedback (Go 1.5's trigger controller), in fractions of the
        // runway from the last live heap to this cycle's goal (the goal
        // with its minimum, so a tiny live heap does not read as a huge
        // growth): how far the heap got by the end of the mark, weighed by
        // how much CPU the mark took against the 25% goal.
        let runway = st.cycle_goal.saturating_sub(last) as f64;
        if last > 0
            && runway > 0.0
            && self.gc_percent().is_some_and(|p| p > 0)
            && !self.cycle_forced.load(Ordering::Relaxed)
        {
            let reached = (st.heap_mark_end as f64 - last as f64) / runway;
            let (procs, sim) = (rt.sched.procs(), rt.sched.is_sim());
            let load = self.mark_load(procs, sim) * self.assist_slowdown(procs, sim);
            st.ratio = Some(Self::next_ratio(Self::ratio(&st), reached, load));
        }
        self.set_paced_base(heap, marked as usize);
        let (goal, trigger) = self.targets(marked as usize, Self::ratio(&st), gc.stw_mode);
        self.goal.store(goal, Ordering::Relaxed);
        self.trigger.store(trigger, Ordering::Relaxed);
    }

    /// The mark's CPU use over the 25% goal (Go's `u_a / u_g`). The
    /// background workers are scheduled to use the goal (dedicated and
    /// fractional workers; idle workers use time nobody wanted), so what
    /// the mark took beyond it is its assists: the load is
    /// `1 + assists / (goal * procs * mark time)`. (Counting the workers'
    /// own time as well made a mark of a tiny heap, whose few microseconds
    /// a fractional worker covers alone, look four times over budget, and
    /// pulled the trigger of allocation-heavy programs down to a cycle per
    /// 2 MB.) In deterministic mode the clocks are real time, which must
    /// not steer the run, so the load counts as exactly on goal.
    fn mark_load(&self, procs: usize, sim: bool) -> f64 {
        let c = &self.clock;
        let budget = c.mark_ns.load(Ordering::Relaxed) as f64
            * procs as f64
            * super::worker::BACKGROUND_UTILIZATION;
        if sim || budget <= 0.0 {
            return 1.0;
        }
        1.0 + c.assist_ns.load(Ordering::Relaxed) as f64 / budget
    }

    /// How much the mark's assists held back the allocating goroutines:
    /// the time the Ps ran goroutines during the mark (the mark's length
    /// times the Ps, less the workers' time) over that time less the
    /// assists'. The heap growth a mark sees is what the goroutines
    /// allocated while they were not assisting; without this factor a
    /// mark the assists paid for nearly alone looked on goal (the heap
    /// barely grew because the goroutine allocating it was busy
    /// assisting), and the trigger settled where the goroutine of
    /// binary_trees spent three quarters of every mark assisting while
    /// the idle P's worker could have done the work. 1 in deterministic
    /// mode (real clocks must not steer it, as in [`Pacer::mark_load`]).
    fn assist_slowdown(&self, procs: usize, sim: bool) -> f64 {
        let c = &self.clock;
        let assists = c.assist_ns.load(Ordering::Relaxed) as f64;
        if sim || assists <= 0.0 {
            return 1.0;
        }
        let workers = (c.dedicated_ns.load(Ordering::Relaxed)
            + c.fractional_ns.load(Ordering::Relaxed)
            + c.idle_ns.load(Ordering::Relaxed)) as f64;
        let goroutines = c.mark_ns.load(Ordering::Relaxed) as f64 * procs as f64 - workers;
        if goroutines <= assists {
            return MAX_SLOWDOWN;
        }
        (goroutines / (goroutines - assists)).min(MAX_SLOWDOWN)
    }

    /// The next trigger ratio (Go 1.5's controller, in fractions of the
    /// runway): with `ratio` where the trigger sat and `reached` where the
    /// heap was when the mark ended, the error is
    /// `1 - ratio - load * (reached - ratio)`: a mark that took more CPU
    /// than its goal (assists doing the work) or ran past the goal moves
    /// the trigger earlier, one that finished cheaply and early moves it
    /// later. Half the error is applied, within the clamping bounds.
    fn next_ratio(ratio: f64, reached: f64, load: f64) -> f64 {
        let err = 1.0 - ratio - load * (reached - ratio);
        (ratio + TRIGGER_GAIN * err).clamp(TRIGGER_MIN, TRIGGER_MAX)
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
        if !self.gctrace {
            return;
        }
        const MB: f64 = 1024.0 * 1024.0;
        let now = rt.sched.clock_ns();
        let since = st.started.unwrap_or(now) as f64 / 1e9;
        let procs = rt.sched.procs();
        let total = now.max(1) as f64 * procs as f64;
        let pct = (stats.gc_ns_total as f64 / total * PERCENT).round();
        let ms = |ns: u64| ns as f64 / 1e6;
        let goal_mb = if st.cycle_goal as usize == usize::MAX {
            0.0
        } else {
            st.cycle_goal as f64 / MB
        };
        let line = format!(
            "gc {} @{:.3}s {}%: {:.3}+{:.3}+{:.3} ms clock, {:.3}+{:.3}/{:.3}/{:.3}+{:.3} ms cpu, {}->{}->{} MB, {} MB goal, {} P ({})",
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
            (self.last_marked() as f64 / MB).round(),
            goal_mb.round(),
            procs,
            st.trigger,
        );
        drop(st);
        rt.debug_line(&line);
    }

    /// Scan work an assist owes per byte allocated, as the mark stands now
    /// (Go's `revise`, run where an assist pays rather than at every
    /// span refill): the scan work left over the heap growth left before
    /// the goal.
    /// 1. The work left is what the mark expects to do in all (the last
    ///    mark's work, see `start_mark`) less what it has done.
    /// 2. Once it has done more than that, or the heap is past the goal,
    ///    the scannable heap is growing faster than the last cycle
    ///    measured: assume the worst, that the heap the last mark found
    ///    live still is, and so is every scannable byte handed out since
    ///    (`Heap::scan_alloc`, Go's `heapScan`). Only scannable bytes: a
    ///    program whose heap is mostly strings (`strings.sk`) would
    ///    otherwise owe scan work its mark can never find, and park its
    ///    allocating goroutine in assists (3-4% of its time).
    /// 3. Past the goal, the heap growth left is one allocation flush
    ///    ([`MIN_HEAP_LEFT`]): an allocation owes all the work left.
    ///    Go aims beyond the goal there instead (its `maxOvershoot`, 1.1),
    ///    and so did this pacer, by 1.05: gc_latency's early cycles, whose
    ///    whole heap is live and growing, then ended at 1.05 of their
    ///    goal, which gctrace's whole megabytes showed as `8 MB` against
    ///    `7 MB`, and a goroutine running unthrottled past the completion
    ///    point (see `assist`) took them to 1.5. Aiming at the goal itself
    ///    cost no allocation rate in gc_latency's churn (`bench/RESULTS.md`).
    ///
    /// As the heap nears the goal with work left, the ratio grows without
    /// bound, and the allocating goroutines do the mark themselves. With a
    /// ratio fixed when the mark started, early cycles whose live heap
    /// grows fast ended their marks past the goal: `bench/gc.sh`'s
    /// largest heap / goal read 1.25 for binary_trees and 1.12 for
    /// gc_latency (`bench/RESULTS.md` has the figures since).
    fn assist_ratio(&self, heap: &Heap, done: u64) -> f64 {
        let live = heap.live() as f64;
        let done = done as f64;
        let goal = self.goal() as f64;
        let mut expected = f64::from_bits(self.cycle_expected.load(Ordering::Acquire));
        if done > expected || live > goal {
            let grown = heap
                .scan_alloc
                .load(Ordering::Relaxed)
                .saturating_sub(self.scan_alloc_at_end.load(Ordering::Relaxed));
            expected = expected.max(self.last_marked() as f64 + grown as f64);
        }
        let work_left = (expected - done).max(MIN_WORK_LEFT);
        let heap_left = (goal - live).max(MIN_HEAP_LEFT);
        work_left / heap_left
    }
}

/// Background workers did `work` bytes of scanning: credit for assists;
/// wake a parked assist when there is some.
pub(crate) fn add_credit(cx: &mut Ctx, work: u64) {
    let gc = &cx.rt.gc;
    gc.bg_credit.fetch_add(work as i64, Ordering::AcqRel);
    if gc.bg_credit.load(Ordering::Acquire) > 0 {
        gc.assistq.ready_one(cx);
    }
}

/// Mark termination: every parked assist goes on.
pub(crate) fn wake_assists(cx: &mut Ctx) {
    cx.rt.gc.assistq.ready_all(cx);
}

/// Pays this P's assist debt (see the module docs).
pub(crate) fn assist(cx: &mut Ctx) -> Result<(), Flow> {
    let rt = cx.rt;
    let gc = &rt.gc;
    let debt = std::mem::take(&mut cx.local().mc.assist_debt);
    // Under gcstress every allocation flush assists a little, so mark
    // work interleaves with the mutator as finely as possible.
    let debt = if gc.pacer.gcstress && gc.marking() {
        debt.max(ASSIST_MIN_DEBT)
    } else {
        debt
    };
    if !gc.marking() || debt < ASSIST_MIN_DEBT {
        cx.local().mc.assist_debt = if gc.marking() { debt } else { 0 };
        return Ok(());
    }
    if gc.coord.done_claimed.load(Ordering::Acquire) && !gc.work_available() {
        // The completion point is claimed and no work is left: the
        // coordinator is on its way to mark termination, and there is
        // nothing to pay with. The debt is kept (it is forgiven when the
        // cycle ends). Before the goal the goroutine goes on. Past it, it
        // waits in the assist queue until the mark ends, as Go's assist
        // does: going on let it allocate without limit for as long as the
        // coordinator's thread waited for a CPU (on a kernel that puts a
        // woken thread on its waker's CPU, up to 10 ms), and gc_latency's
        // early cycles ended up to 1.5 times their goal. Parking at every
        // claimed completion point instead brought rare 1-3 ms
        // mark-termination pauses in gc_latency's churn, whose marks end
        // before the goal (`bench/RESULTS.md`): the parked goroutine's M
        // looks for work holding its P, and the stop waits for that
        // thread. Yielding here, as once, had the goroutine assist and
        // yield some thousands of times a millisecond through the global
        // run queue, whose lock the coordinator needed to stop the world.
        cx.local().mc.assist_debt = debt;
        if rt.heap.live() > gc.pacer.goal() {
            return park_assist(cx);
        }
        return Ok(());
    }
    let ratio = gc
        .pacer
        .assist_ratio(&rt.heap, gc.scan_work.load(Ordering::Relaxed));
    let mut need = (debt as f64 * ratio) as i64;
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
    let t0 = cx.rt.sched.clock_ns();
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
        if cx.p().preempt.load(Ordering::Relaxed) {
            preempted = true;
            break;
        }
        mark::ack_ragged(cx);
    }
    mark::dispose(cx);
    super::flush_barrier_buffer();
    cx.trace(EventKind::GCMarkAssistDone, &[]);
    gc.pacer
        .clock
        .assist_ns
        .fetch_add(cx.rt.sched.clock_ns().saturating_sub(t0), Ordering::Relaxed);
    let left = gc.active.fetch_sub(1, Ordering::AcqRel) - 1;
    if paid >= need {
        if left == 0 && !gc.work_available() && !gc.coord.done_claimed.load(Ordering::Acquire) {
            // The last drainer ran out of work: a completion point even
            // though the debt is paid (Go's `gcAssistAlloc1` checks it
            // either way). Returning without it left the mark waiting for
            // a worker that might never run: `SKEINDEBUG=buggify=1` found
            // a deadlock at one P, the fractional worker over its share.
            if super::coord::mark_done(cx, g) {
                return Err(super::yield_to_coordinator(cx));
            }
            return Err(Flow::Gosched);
        }
        return Ok(());
    }
    // The unpaid part stays owed (Go's assist retries after it wakes):
    // the next allocation check on this P pays it, or parks again.
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
        if super::coord::mark_done(cx, g) {
            // Let the coordinator terminate the mark now.
            return Err(super::yield_to_coordinator(cx));
        }
        // Claimed already: as at the top, go on.
        return Ok(());
    }
    // Out of work with debt left: wait for background credit or the end
    // of the mark phase.
    park_assist(cx)
}

/// Parks the running goroutine in the assist queue until background
/// workers add credit or mark termination wakes every assist; returns at
/// once when the mark has already ended.
fn park_assist(cx: &mut Ctx) -> Result<(), Flow> {
    let gc = &cx.rt.gc;
    let g = cx.g.expect("assists run in a goroutine");
    gc.assistq
        .park_unless(g, WaitReason::GcAssist, || !gc.marking())
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
    cx.rt.gc.coord.over_limit.store(true, Ordering::Release);
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
    pub(crate) fn note_pause(&self, phase: &AtomicU64, since: u64, until: u64) {
        let ns = until.saturating_sub(since);
        phase.fetch_add(ns, Ordering::Relaxed);
        self.longest_ns.fetch_max(ns, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pacer whose last mark took `mark` ms at 2 Ps, with `assist` ms of
    /// assists, `idle` ms of idle workers and 0.08 ms of the fractional
    /// worker (the shape of a binary_trees cycle).
    fn after_mark(mark: f64, assist: f64, idle: f64) -> Pacer {
        let p = Pacer::new(PacerConfig {
            gc_percent: Some(100),
            max_heap: None,
            gcstress: 0,
            gctrace: false,
        });
        let ns = |ms: f64| (ms * 1e6) as u64;
        p.clock.mark_ns.store(ns(mark), Ordering::Relaxed);
        p.clock.assist_ns.store(ns(assist), Ordering::Relaxed);
        p.clock.idle_ns.store(ns(idle), Ordering::Relaxed);
        p.clock.fractional_ns.store(ns(0.08), Ordering::Relaxed);
        p
    }

    /// A mark the allocating goroutine paid for by assisting most of it,
    /// while the heap barely grew (the goroutine was busy assisting): on
    /// Go 1.5's terms alone the trigger stays where it was; counting how
    /// much the assists held the goroutine back moves it well earlier.
    #[test]
    fn assists_that_held_the_allocator_back_move_the_trigger_earlier() {
        let p = after_mark(2.4, 1.7, 2.3);
        let load = p.mark_load(2, false);
        let slowdown = p.assist_slowdown(2, false);
        // 4.8 ms of P time less 2.38 ms of workers: 2.42 ms of goroutines,
        // 1.7 ms of it assisting.
        assert!((slowdown - 2.42 / 0.72).abs() < 0.01, "{slowdown}");
        let (ratio, reached) = (0.92, 0.95);
        let go15 = Pacer::next_ratio(ratio, reached, load);
        let now = Pacer::next_ratio(ratio, reached, load * slowdown);
        assert!(go15 > 0.90, "{go15}");
        assert!(now < 0.85, "{now}");
    }

    /// No assists, no slowdown; deterministic mode never reads the clocks;
    /// assists that fill the goroutines' time count at the cap.
    #[test]
    fn the_slowdown_is_one_without_assists_or_under_sim_and_capped() {
        assert_eq!(after_mark(2.4, 0.0, 2.3).assist_slowdown(2, false), 1.0);
        assert_eq!(after_mark(2.4, 1.7, 2.3).assist_slowdown(2, true), 1.0);
        assert_eq!(
            after_mark(2.4, 2.5, 2.3).assist_slowdown(2, false),
            MAX_SLOWDOWN
        );
        // Without an idle worker: 4.72 ms of goroutines, 2.4 of it
        // assisting.
        let s = after_mark(2.4, 2.4, 0.0).assist_slowdown(2, false);
        assert!((s - 4.72 / 2.32).abs() < 0.01, "{s}");
    }
}
