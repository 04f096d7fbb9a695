//! Seeded schedule strategies for deterministic mode: `random` and `pct`
//! (`--sim SEED --sim-strategy S`, and `skein explore`).
//!
//! The classic deterministic driver (`sim`) interleaves Ps at chunks of
//! 64 to 1,088 safepoints and takes goroutines in Go's order, so a seed
//! reaches only a few of the interleavings a real run can have: a
//! goroutine started just before a `select` never runs before it. The
//! strategies here let the seed choose every scheduling decision Go
//! allows, while a seed (or a recorded schedule) still replays byte for
//! byte.
//!
//! # One step of the driver
//!
//! 1. Fire every due timer, each P's on that P. Timers due at the same
//!    tick fire in an order the schedule chooses (`shuffle`).
//! 2. List the runnable goroutines: each P's current goroutine (the one
//!    in the middle of its time slice), each P's run queue (`runnext`
//!    first), and the global queue. A P whose current goroutine is a mark
//!    worker draining with preemption disabled offers that goroutine only.
//! 3. Choose one of them. `random`: keep the goroutine that ran last
//!    (half the time) or take any runnable one, uniformly. `pct`: the one
//!    of highest priority (below).
//! 4. Run it on its P (a queued goroutine on the P whose queue holds it, a
//!    global one on a P without a goroutine of its own where there is
//!    one) for a chunk of safepoints: under `random` anything from 1 to
//!    255 safepoints, a quarter of the time a long chunk of 1,024; under
//!    `pct` [`PCT_CHUNK`]. A P's current goroutine that is not the one
//!    chosen is preempted first, to the global queue, as the scheduler
//!    preempts one at the end of its time slice. A collection's mark
//!    worker still comes first on a P that has one to run, as in
//!    `find_runnable`.
//!
//! So the schedule preempts at any safepoint, starts runnable goroutines
//! in any order, moves them between Ps (what stealing does) and orders
//! timers with equal deadlines; within a chunk, the interpreter runs as it
//! always does. When nothing is runnable but the collector has work, a P
//! is stepped the classic way (it finds an idle mark worker).
//!
//! # PCT
//!
//! Probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi and
//! Nagarakatte, ASPLOS 2010): every goroutine gets a random priority when
//! it is first runnable, above `depth`; the driver always runs the
//! runnable goroutine of highest priority; and at `depth - 1` steps drawn
//! uniformly from the first `steps`, the goroutine that ran last drops to
//! priority `depth - i`, below every initial one. A bug that needs `d`
//! ordering constraints is then found with probability at least
//! 1 / (n * k^(d-1)) per run, for n goroutines and k steps. Additions
//! keep real programs moving: a goroutine that yields (`runtime.gosched`,
//! or the end of a 10 ms time slice) drops below every other priority,
//! and so does one that has run [`PCT_FAIR_STEPS`] steps in a row while
//! others were runnable, so a goroutine that spins waiting for a lower
//! one cannot starve it.
//!
//! # Decisions, recording and replay
//!
//! Every choice goes through [`Explorer::decide`], as a number where 0 is
//! the choice that perturbs least (keep the goroutine that ran last, a
//! long chunk, the first P, timers in creation order). A run records its
//! decisions ([`crate::Runtime::sim_schedule`]); a run given a recorded
//! list (`--sim-schedule TOKEN`) takes its decisions from it instead of
//! the generator, and 0 once the list is used up. That is what lets
//! `skein explore --shrink` zero decisions one group at a time and keep
//! a shorter schedule that still fails.
//!
//! # Buggify
//!
//! With `SKEINDEBUG=buggify=1` the decisions also choose runtime faults,
//! each with fixed odds where it applies: a collection requested at the
//! next allocation safepoint, a mark-assist debt on the chosen goroutine's
//! P, a mark worker held back from its P for a step, the coordinator's
//! next worker start hand-off held back (it yields and tries again), the
//! coordinator turned away from after it ran, and the virtual clock moved
//! at once to the next timer's deadline.
//!
//! Invariant: the driver thread alone calls in here, between steps or
//! from inside the one step it is running (timers), never while holding
//! the explorer's lock across a step.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::g::Status;
use super::proc::{begin, globrunqput, Next};
use super::{timer, GRef, PStatus, P};
use crate::trace::EventKind;
use crate::{Ctx, Runtime};

/// How deterministic mode chooses its schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Go's own order, Ps interleaved at long chunks (`sim`): the mode
    /// the GC trace snapshots are recorded in.
    #[default]
    Classic,
    /// Every choice uniform (see the module docs).
    Random,
    /// Priorities with `depth - 1` change points among the first `steps`
    /// steps.
    Pct { depth: u32, steps: u64 },
}

/// PCT's depth by default: bugs that need up to three ordering
/// constraints, which covers most found in practice (the PCT paper's
/// measurements).
pub const PCT_DEPTH: u32 = 3;

/// PCT's step estimate by default, when the program's length is not
/// known: `skein explore` measures it with a first run instead.
pub const PCT_STEPS: u64 = 10_000;

/// Safepoints per step under PCT: short, so a change point can fall
/// between any two statements that matter, and long enough that a run
/// takes few steps.
pub const PCT_CHUNK: u32 = 1;

/// Switches a replay keeps (`Explorer::switches`): enough to show how a
/// failure came about in a small program.
pub const SWITCH_LOG: usize = 64;

/// PCT: steps a goroutine may run in a row while others are runnable
/// before it drops below every priority. Strict priorities would let a
/// goroutine that spins (a mark coordinator waiting for the other Ps to
/// pass the ragged barrier, a loop polling a flag) starve the ones it
/// waits for; a thousand single-safepoint steps (0.1 virtual ms) is far
/// longer than any window a change point needs to hit.
pub const PCT_FAIR_STEPS: u64 = 1_000;

/// The long chunk (`random`'s unperturbed one): the classic driver's
/// longest.
const CHUNK_LONG: u32 = 1024;

impl FromStr for Strategy {
    type Err = String;

    /// `classic`, `random`, `pct`, `pct:DEPTH` or `pct:DEPTH:STEPS`.
    fn from_str(s: &str) -> Result<Strategy, String> {
        let mut parts = s.split(':');
        let bad = || {
            format!("unknown schedule strategy '{s}' (classic, random, pct, pct:DEPTH, pct:DEPTH:STEPS)")
        };
        let strategy = match parts.next() {
            Some("classic") => Strategy::Classic,
            Some("random") => Strategy::Random,
            Some("pct") => {
                let depth = match parts.next() {
                    Some(d) => d.parse::<u32>().ok().filter(|&d| d >= 1).ok_or_else(bad)?,
                    None => PCT_DEPTH,
                };
                let steps = match parts.next() {
                    Some(k) => k.parse::<u64>().ok().filter(|&k| k >= 1).ok_or_else(bad)?,
                    None => PCT_STEPS,
                };
                Strategy::Pct { depth, steps }
            }
            _ => return Err(bad()),
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(strategy)
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Classic => write!(f, "classic"),
            Strategy::Random => write!(f, "random"),
            Strategy::Pct { depth, steps } => write!(f, "pct:{depth}:{steps}"),
        }
    }
}

/// A recorded schedule as text: each decision a number whose last
/// character is a base-32 digit (`0-9`, `A-V`) and whose characters
/// before it, if any, are base-16 digits (`a-p`) of the number divided
/// by 32; a run of zeros is `z` and its length. Trailing zeros are left
/// out (a replay reads 0 once the list is used up), so a schedule of
/// zeros only is `0`. Short enough to paste into a command line.
pub fn encode_schedule(decisions: &[u32]) -> String {
    fn put(out: &mut String, v: u64) {
        const LAST: &[u8; 32] = b"0123456789ABCDEFGHIJKLMNOPQRSTUV";
        let mut high = Vec::new();
        let mut rest = v / 32;
        while rest > 0 {
            high.push(b'a' + (rest % 16) as u8);
            rest /= 16;
        }
        out.extend(high.iter().rev().map(|&c| c as char));
        out.push(LAST[(v % 32) as usize] as char);
    }
    let mut out = String::new();
    let end = decisions.iter().rposition(|&d| d != 0).map_or(0, |i| i + 1);
    let mut i = 0;
    while i < end {
        let run = decisions[i..end].iter().take_while(|&&d| d == 0).count();
        if run >= 2 {
            out.push('z');
            put(&mut out, run as u64);
            i += run;
        } else {
            put(&mut out, u64::from(decisions[i]));
            i += 1;
        }
    }
    if out.is_empty() {
        // The schedule that perturbs nothing: one zero stands for it.
        out.push('0');
    }
    out
}

/// The decisions of a schedule written by [`encode_schedule`].
pub fn decode_schedule(token: &str) -> Result<Vec<u32>, String> {
    let bad = || format!("not a schedule token: '{token}'");
    let mut out = Vec::new();
    let mut high: u64 = 0;
    let mut open = false;
    let mut zeros = false;
    for c in token.chars() {
        let last = match c {
            'z' if !open && !zeros => {
                zeros = true;
                continue;
            }
            'a'..='p' => {
                high = high.checked_mul(16).ok_or_else(bad)? + (c as u64 - 'a' as u64);
                open = true;
                continue;
            }
            '0'..='9' => c as u64 - '0' as u64,
            'A'..='V' => c as u64 - 'A' as u64 + 10,
            _ => return Err(bad()),
        };
        let v = high.checked_mul(32).ok_or_else(bad)? + last;
        if zeros {
            // A run longer than any real recording is a damaged token.
            if v > 1 << 28 {
                return Err(bad());
            }
            out.extend(std::iter::repeat_n(0, v as usize));
        } else {
            out.push(u32::try_from(v).map_err(|_| bad())?);
        }
        high = 0;
        open = false;
        zeros = false;
    }
    if open || zeros {
        return Err(bad());
    }
    Ok(out)
}

/// Where a runnable goroutine is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum At {
    /// P `i`'s current goroutine.
    Current(u32),
    /// In P `i`'s run queue.
    Queued(u32),
    /// In the global queue.
    Global,
}

/// The strategy's state (inside [`super::sim::Sim`]).
pub(crate) struct Explorer {
    strategy: Strategy,
    rng: u64,
    /// Decisions to replay, if this run replays a schedule.
    replay: Option<Vec<u32>>,
    pos: usize,
    /// The decisions made so far.
    record: Vec<u32>,
    /// Steps taken.
    steps: u64,
    /// The goroutine the last step ran, by id.
    last: Option<u64>,
    /// ... and the G itself (its struct may since run another goroutine).
    last_g: Option<GRef>,
    /// When replaying: the newest [`SWITCH_LOG`] switches from one
    /// goroutine to another, each with where the one left was.
    switches: std::collections::VecDeque<String>,
    /// PCT: priorities by goroutine id, the change points (step numbers,
    /// drawn at the first step), and the next priority below every other.
    prio: HashMap<u64, i64, foldhash::fast::FixedState>,
    change_points: Option<Vec<u64>>,
    floor: i64,
    /// PCT: steps the goroutine that ran last has run in a row.
    run_len: u64,
    /// `SKEINDEBUG=buggify=1`: the schedule also chooses runtime faults.
    buggify: bool,
}

/// The runtime faults a buggified step chose (see the module docs).
#[derive(Clone, Copy, Default)]
struct Faults {
    /// Give the chosen goroutine's P a mark assist debt.
    assist: bool,
    /// Do not start a mark worker on the chosen P this step.
    hold_worker: bool,
}

/// Odds of each buggify fault, one in N per step where it applies: rare
/// enough that a program still makes progress between faults, frequent
/// enough that a run of a few thousand steps meets each many times.
const ODDS_START_GC: u64 = 128;
const ODDS_ASSIST: u64 = 8;
const ODDS_HOLD_WORKER: u64 = 4;
const ODDS_TIMER_JUMP: u64 = 64;
const ODDS_DELAY_WORKER_START: u64 = 2;
/// A preempted coordinator: one step in two that would continue it.
const ODDS_PREEMPT_COORDINATOR: u64 = 2;

impl Explorer {
    pub(crate) fn new(
        strategy: Strategy,
        seed: u64,
        replay: Option<Vec<u32>>,
        buggify: bool,
    ) -> Explorer {
        Explorer {
            strategy,
            // splitmix64's increment, as the classic driver's generator.
            rng: seed.wrapping_add(0x9e37_79b9_7f4a_7c15) | 1,
            replay,
            pos: 0,
            record: Vec::new(),
            steps: 0,
            last: None,
            last_g: None,
            switches: std::collections::VecDeque::new(),
            prio: HashMap::with_hasher(foldhash::fast::FixedState::default()),
            change_points: None,
            floor: 0,
            run_len: 0,
            buggify,
        }
    }

    fn draw(&mut self) -> u64 {
        self.rng = crate::xorshift_step(self.rng);
        crate::xorshift_output(self.rng)
    }

    /// One decision among `n` choices, 0 the least perturbing: the next
    /// recorded one when replaying (clamped, since a shrunk schedule can
    /// hold one out of range), else `pick`'s draw. Recorded either way.
    fn decide(&mut self, n: u64, pick: impl FnOnce(&mut Self) -> u64) -> u64 {
        let v = match &self.replay {
            Some(list) => u64::from(list.get(self.pos).copied().unwrap_or(0)),
            None => pick(self),
        };
        self.pos += 1;
        let v = v.min(n.saturating_sub(1)).min(u64::from(u32::MAX));
        self.record.push(v as u32);
        v
    }

    /// A yes-or-no decision that is yes one time in `odds`.
    fn chance(&mut self, odds: u64) -> bool {
        self.decide(2, |e| u64::from(e.uniform(odds) == 0)) == 1
    }

    /// A uniform draw below `n` (`n` ≥ 1).
    fn uniform(&mut self, n: u64) -> u64 {
        self.draw() % n.max(1)
    }

    /// The recorded decisions and the steps taken.
    pub(crate) fn schedule(&self) -> (Vec<u32>, u64) {
        (self.record.clone(), self.steps)
    }

    /// The switch log (replays only), oldest first.
    pub(crate) fn switches(&self) -> Vec<String> {
        self.switches.iter().cloned().collect()
    }

    /// Logs a switch from the last goroutine to `to` at this step, with
    /// the source line the one left behind had reached.
    fn log_switch(&mut self, to: GRef) {
        let (Some(id), Some(from)) = (self.last, self.last_g) else {
            return;
        };
        if id == to.id() {
            return;
        }
        let alive = from.id() == id && !matches!(from.status(), Status::Dead | Status::Idle);
        let at = if alive && !from.kind().is_system() {
            // SAFETY: deterministic mode: the driver thread runs every G,
            // and none is running between steps.
            unsafe { from.exec() }
                .trace()
                .into_iter()
                .next()
                .unwrap_or_else(|| "not started".into())
        } else if alive {
            format!("{:?}", from.kind())
        } else {
            "ended".into()
        };
        if self.switches.len() == SWITCH_LOG {
            self.switches.pop_front();
        }
        self.switches.push_back(format!(
            "step {}: G{id} left at {at}, G{} runs",
            self.steps,
            to.id()
        ));
    }

    /// Reorders timers that fire at the same tick.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        if self.strategy == Strategy::Classic {
            return;
        }
        // Fisher-Yates from the front, so 0s keep creation order.
        for i in 0..items.len().saturating_sub(1) {
            let n = (items.len() - i) as u64;
            let k = self.decide(n, |e| e.uniform(n)) as usize;
            items.swap(i, i + k);
        }
    }

    /// PCT priority of `g`, drawn when first asked.
    fn priority(&mut self, g: GRef) -> i64 {
        if let Some(&p) = self.prio.get(&g.id()) {
            return p;
        }
        let Strategy::Pct { depth, .. } = self.strategy else {
            return 0;
        };
        // 2^20 levels: distinct for any realistic number of goroutines
        // with near certainty; ties fall back to the older goroutine.
        const LEVELS: u64 = 1 << 20;
        let v = self.decide(LEVELS, |e| e.uniform(LEVELS));
        let p = i64::from(depth) + 1 + v as i64;
        self.prio.insert(g.id(), p);
        p
    }

    /// Chooses among `cands` (not empty); a buggified schedule may then
    /// turn away from the collector's coordinator that ran last.
    fn choose(&mut self, cands: &[(GRef, At)]) -> usize {
        let i = self.choose_by_strategy(cands);
        let coordinator = cands[i].0.kind() == super::GKind::Coordinator;
        if self.buggify
            && coordinator
            && cands.len() > 1
            && self.last == Some(cands[i].0.id())
            && self.chance(ODDS_PREEMPT_COORDINATOR)
        {
            let n = cands.len() as u64 - 1;
            let k = self.decide(n, |e| e.uniform(n)) as usize;
            return if k >= i { k + 1 } else { k };
        }
        i
    }

    fn choose_by_strategy(&mut self, cands: &[(GRef, At)]) -> usize {
        match self.strategy {
            Strategy::Classic => 0,
            Strategy::Random => {
                let n = cands.len() as u64;
                let v = self.decide(n + 1, |e| {
                    if e.draw() % 2 == 0 {
                        0
                    } else {
                        1 + e.uniform(n)
                    }
                });
                if v == 0 {
                    self.last_index(cands).unwrap_or(0)
                } else {
                    (v - 1) as usize
                }
            }
            Strategy::Pct { depth, steps } => {
                if self.change_points.is_none() {
                    let points = (1..depth)
                        .map(|_| self.decide(steps, |e| e.uniform(steps)))
                        .collect();
                    self.change_points = Some(points);
                }
                let points = self.change_points.as_deref().unwrap_or_default();
                if let (true, Some(id)) = (points.contains(&self.steps), self.last) {
                    // The i-th change point (from 1) sets priority depth - i.
                    let before = points.iter().filter(|&&s| s < self.steps).count();
                    self.prio.insert(id, i64::from(depth) - 1 - before as i64);
                }
                if self.run_len >= PCT_FAIR_STEPS && cands.len() > 1 {
                    // A goroutine that has run this long while others
                    // wait (spinning, or waiting for the ragged barrier)
                    // yields, as below.
                    if let Some(id) = self.last {
                        self.lowest(id);
                    }
                }
                let mut best = 0;
                let mut best_key = (i64::MIN, u64::MAX);
                for (i, (g, _)) in cands.iter().enumerate() {
                    let p = self.priority(*g);
                    // Higher priority first; among equals, the older G.
                    if p > best_key.0 || (p == best_key.0 && g.id() < best_key.1) {
                        best = i;
                        best_key = (p, g.id());
                    }
                }
                best
            }
        }
    }

    fn last_index(&self, cands: &[(GRef, At)]) -> Option<usize> {
        let id = self.last?;
        cands.iter().position(|(g, _)| g.id() == id)
    }

    /// The chunk of safepoints the chosen goroutine runs.
    fn chunk(&mut self) -> u32 {
        match self.strategy {
            Strategy::Pct { .. } => PCT_CHUNK,
            _ => {
                let v = self.decide(u64::from(CHUNK_LONG), |e| {
                    if e.draw() % 4 == 0 {
                        0
                    } else {
                        // A power-of-two scale, then uniform within it:
                        // short and medium chunks alike are common.
                        let lo = 1u64 << e.uniform(8);
                        lo + e.uniform(lo)
                    }
                });
                if v == 0 {
                    CHUNK_LONG
                } else {
                    v as u32
                }
            }
        }
    }

    /// A goroutine that yielded drops below every other priority.
    fn yielded(&mut self, g: GRef) {
        if matches!(self.strategy, Strategy::Pct { .. }) {
            self.lowest(g.id());
        }
    }

    /// PCT: gives goroutine `id` a priority below every other.
    fn lowest(&mut self, id: u64) {
        self.floor -= 1;
        self.prio.insert(id, self.floor);
    }
}

/// A buggified schedule's choice to hold back the collector's next mark
/// worker start hand-off for a step (the coordinator calls this before
/// each start). False outside a buggified deterministic run.
pub(crate) fn buggify_delay_worker_start(rt: &Runtime) -> bool {
    let Some(explorer) = rt.sched.sim.as_ref().and_then(|s| s.explorer.as_ref()) else {
        return false;
    };
    let mut e = explorer.lock();
    e.buggify && e.chance(ODDS_DELAY_WORKER_START)
}

/// Whether `g`, the current goroutine of `p`, may not be preempted: a
/// mark worker draining with preemption disabled.
fn pinned(p: &P, g: GRef) -> bool {
    g.kind().is_system() && p.nopreempt.load(Ordering::Acquire) > 0
}

/// Puts the runnable goroutines in `out`, in a fixed order (by P, current
/// first, then the global queue).
fn candidates(rt: &Runtime, out: &mut Vec<(GRef, At)>) {
    let s = &rt.sched;
    out.clear();
    let mut free_p = false;
    for i in 0..s.procs() as u32 {
        let p = s.p(i);
        // SAFETY: in deterministic mode the driver thread owns every P,
        // and it is between steps.
        let cur = unsafe { p.local() }.curg;
        if let Some(g) = cur {
            out.push((g, At::Current(i)));
            if pinned(p, g) {
                continue;
            }
        }
        free_p = true;
        p.runq
            .for_each_queued(|g| out.push((GRef(g), At::Queued(i))));
    }
    if free_p {
        let l = s.lock.lock();
        out.extend(l.runq.iter().map(|&g| (g, At::Global)));
    }
}

/// Fires every due timer, each P's on that P (step 1).
fn fire_timers(rt: &Runtime) {
    let s = &rt.sched;
    let now = s.now();
    for i in 0..s.procs() as u32 {
        let p = s.p(i);
        if p.next_timer.load(Ordering::Acquire) > now {
            continue;
        }
        let status = p.status();
        p.set_status(PStatus::Running);
        // SAFETY: in deterministic mode the driver thread owns every P,
        // and no step is running.
        let mut cx = unsafe { Ctx::new(rt, p, None) };
        timer::run_expired(&mut cx, p, now);
        p.set_status(status);
    }
}

/// One step of the driver under a strategy (see the module docs), with
/// `cands` as scratch space kept from step to step. False when nothing was
/// runnable: the caller steps a P the classic way.
pub(crate) fn step(rt: &Runtime, explorer: &Mutex<Explorer>, cands: &mut Vec<(GRef, At)>) -> bool {
    let s = &rt.sched;
    let jump = {
        let mut e = explorer.lock();
        let next = timer::earliest(s);
        e.buggify && next != u64::MAX && next > s.now() && e.chance(ODDS_TIMER_JUMP)
    };
    if jump {
        // Time passes at once to the next deadline (as a long stretch of
        // work would take it); nothing fires before its deadline.
        s.clock.advance_to(timer::earliest(s));
    }
    fire_timers(rt);
    candidates(rt, cands);
    if cands.is_empty() {
        return false;
    }
    let procs = s.procs() as u32;
    let (g, pid, chunk, faults) = {
        let mut e = explorer.lock();
        let (g, at) = cands[e.choose(cands)];
        let chunk = e.chunk();
        let mut faults = Faults::default();
        if e.buggify {
            if rt.gc.marking() {
                faults.assist = e.chance(ODDS_ASSIST);
                faults.hold_worker = e.chance(ODDS_HOLD_WORKER);
            } else if !rt.gc.pacer.requested() && e.chance(ODDS_START_GC) {
                // The next allocation safepoint starts a cycle.
                rt.gc.pacer.request_buggify();
            }
        }
        let pid = match at {
            At::Current(i) | At::Queued(i) => i,
            At::Global => {
                // A P with no goroutine of its own, else any that can
                // preempt its own.
                // SAFETY: the driver thread owns every P between steps.
                let cur = |i: u32| unsafe { s.p(i).local() }.curg;
                let free: Vec<u32> = (0..procs).filter(|&i| cur(i).is_none()).collect();
                let pool: Vec<u32> = if free.is_empty() {
                    (0..procs)
                        .filter(|&i| cur(i).is_none_or(|c| !pinned(s.p(i), c)))
                        .collect()
                } else {
                    free
                };
                let n = pool.len() as u64;
                pool[e.decide(n, |e| e.uniform(n)) as usize]
            }
        };
        if e.replay.is_some() {
            e.log_switch(g);
        }
        e.steps += 1;
        e.run_len = if e.last == Some(g.id()) {
            e.run_len + 1
        } else {
            1
        };
        e.last = Some(g.id());
        e.last_g = Some(g);
        (g, pid, chunk, faults)
    };
    if faults.assist {
        // SAFETY: the driver thread owns every P between steps.
        let mc = &mut unsafe { s.p(pid).local() }.mc;
        mc.assist_debt = mc.assist_debt.max(crate::gc::pacer::ASSIST_MIN_DEBT);
        mc.poll = true;
    }
    if let Some(ran) = run(rt, pid, g, chunk, faults.hold_worker) {
        // SAFETY: the driver thread owns every P between steps.
        let still_current = unsafe { s.p(pid).local() }.curg == Some(ran);
        if !still_current && ran.status() == Status::Runnable {
            explorer.lock().yielded(ran);
        }
    }
    true
}

/// Runs `want` on P `pid` for `chunk` safepoints (step 4). Returns the G
/// that ran (a mark worker may run instead, unless `hold_worker`).
fn run(rt: &Runtime, pid: u32, want: GRef, chunk: u32, hold_worker: bool) -> Option<GRef> {
    let s = &rt.sched;
    let p = s.p(pid);
    let mut cx = super::sim::open_step(rt, pid);
    let mut g = cx.local().curg.take();
    if let Some(cur) = g {
        if cur != want && !pinned(p, cur) {
            // Preempted, as at the end of a time slice.
            cx.g = Some(cur);
            cx.trace(EventKind::GoPreempt, &[]);
            cur.cas_status(Status::Running, Status::Runnable);
            globrunqput(rt, cur);
            cx.g = None;
            g = None;
        }
    }
    let ran = match g {
        Some(g) => {
            cx.g = Some(g);
            Some(g)
        }
        None => {
            // A mark worker the collector wants on this P comes first.
            let worker = if rt.gc.marking() && !hold_worker {
                crate::gc::worker::find_worker(&mut cx)
            } else {
                None
            };
            let next = worker.unwrap_or_else(|| {
                take(rt, p, want);
                want
            });
            cx.local().slice_start = s.now();
            let started = matches!(begin(&mut cx, next, false), Next::Continue);
            cx.g = started.then_some(next);
            started.then_some(next)
        }
    };
    super::sim::finish_step(&mut cx, ran, chunk);
    ran
}

/// Takes `g` out of `p`'s run queue or the global queue (a chosen
/// goroutine runs on the P whose queue holds it, or comes from the global
/// queue).
fn take(rt: &Runtime, p: &P, g: GRef) {
    if p.runq.remove(g.0) {
        return;
    }
    let s = &rt.sched;
    let mut l = s.lock.lock();
    let i = l
        .runq
        .iter()
        .position(|&x| x == g)
        .expect("a chosen goroutine is queued");
    l.runq.remove(i);
    s.runq_len.store(l.runq.len(), Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_parse_and_print() {
        assert_eq!("classic".parse::<Strategy>(), Ok(Strategy::Classic));
        assert_eq!("random".parse::<Strategy>(), Ok(Strategy::Random));
        assert_eq!(
            "pct".parse::<Strategy>(),
            Ok(Strategy::Pct {
                depth: PCT_DEPTH,
                steps: PCT_STEPS
            })
        );
        let s: Strategy = "pct:2:500".parse().unwrap();
        assert_eq!(
            s,
            Strategy::Pct {
                depth: 2,
                steps: 500
            }
        );
        assert_eq!(s.to_string(), "pct:2:500");
        for bad in [
            "",
            "rand",
            "pct:0",
            "pct:2:0",
            "pct:x",
            "random:1",
            "pct:1:2:3",
        ] {
            assert!(bad.parse::<Strategy>().is_err(), "{bad}");
        }
    }

    #[test]
    fn schedules_round_trip() {
        let cases: Vec<Vec<u32>> = vec![
            vec![],
            vec![0],
            vec![1, 2, 3],
            vec![0, 0, 0, 5, 0, 31, 32, 1023, 0, 0],
            vec![u32::MAX, 0, 7],
            (0..500).map(|i| (i * 7919 % 13) as u32).collect(),
        ];
        for c in cases {
            let token = encode_schedule(&c);
            let back = decode_schedule(&token).unwrap();
            let end = c.iter().rposition(|&d| d != 0).map_or(0, |i| i + 1);
            let expect = if end == 0 { vec![0] } else { c[..end].to_vec() };
            assert_eq!(back, expect, "{token}");
        }
        assert_eq!(encode_schedule(&[0, 0, 0, 5, 40]), "z35b8");
        for bad in ["x", "1a", "z", "zz3", "a", "qq"] {
            assert!(decode_schedule(bad).is_err(), "{bad}");
        }
    }
}
