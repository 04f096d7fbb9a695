//! The Go-style G/M/P scheduler (`docs/runtime.md`): goroutines (G) run on OS
//! threads (M), each holding a processor (P) with a local run queue; idle
//! Ps steal work.
//!
//! Submodules, one concept each:
//! - [`g`]: the goroutine descriptor, its status word, and what a waker
//!   delivers to a parked G.
//! - [`park`]: the park contract and its vocabulary (`Park`, `Unlock`,
//!   `Resume`, `WaitReason`, `Flow`, `Outcome`); it names no channel,
//!   semaphore or collector type.
//! - [`runq`]: the per-P lock-free run queue (ring plus `runnext`).
//! - [`proc`]: `schedule`, `find_runnable`, `execute`, park/ready, spinning
//!   Ms and `wakep`, sysmon, deadlock detection, the main goroutine.
//! - [`stw`]: stop-the-world / start-the-world, and the runtime operations
//!   that stop it here (`memstats`, `gomaxprocs`, trace start and stop).
//! - [`sema`]: semaphores that park goroutines: the runtime's `worldsema`
//!   and `gcsema`, the state of `sync.Mutex` / `sync.WaitGroup`, and the
//!   `WakeRecord` the collector's goroutines sleep on.
//! - [`timer`]: per-P timer heaps (`sleep`, `time.after`).
//! - [`chan`]: channels and `select`.
//! - [`waitq`]: a channel's two wait queues: FIFOs with O(1) removal by
//!   handle (what a woken `select` uses to leave its other channels).
//! - [`sim`]: deterministic mode (`--sim SEED`): one thread drives every P.
//! - [`strategy`]: deterministic mode's `random` and `pct` schedules, and
//!   recorded schedules (`skein explore`).
//! - [`syscall`]: blocking system calls: the P hand-off while a goroutine
//!   blocks in the kernel (Go's `entersyscall` / `exitsyscall`).
//! - [`inspect`]: a snapshot of the user's goroutines (the REPL's
//!   `:goroutines`).
//!
//! Ownership (who may touch what):
//! - A P's local state ([`PLocal`]: allocation cache, free Gs, trace
//!   buffer, random state, the collector's work buffer) belongs to the M
//!   that holds the P (its status is `Running`), to whoever holds
//!   `Sched::outside_lock` for the outside P, or to whoever stopped the
//!   world. Code running on a P reaches it through its context's
//!   `Ctx::local`, which borrows the context mutably; only the stopper of
//!   the world reaches other Ps' state, through the `unsafe` `P::local`.
//! - A P's run queue is lock-free: the owner puts and gets, anyone steals.
//! - The global run queue, the idle P and M lists, and the stop-the-world
//!   bookkeeping sit behind `Sched::lock`.
//! - A G's stack belongs to whoever its status word says (see [`g`]).
//!
//! Invariants (`ARCHITECTURE.md`): a G is in exactly one place (running on one M,
//! on one run queue, or parked on wait lists); no lock is held across a
//! park except the one the park itself releases; no M blocks while holding
//! a P except to stop the world or to hand the P back.

pub mod chan;
pub mod g;
pub mod inspect;
pub mod park;
pub mod proc;
pub mod runq;
pub mod sema;
pub mod sim;
pub mod strategy;
pub mod stw;
pub mod syscall;
pub mod timer;
pub mod waitq;

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

pub use g::{GKind, GRef, Status, G};
pub use park::{Flow, Outcome, Park, Resume, Unlock, WaitReason};
pub use proc::run_main;

use crate::heap::Mcache;
use crate::trace;

/// Most Ps a VM can have (`--procs`, `gomaxprocs`): Go allows more, but a
/// 2-to-16-core machine gains nothing past its core count, and a fixed table
/// lets other threads index Ps without a lock.
pub const MAX_PROCS: usize = 256;

/// Safepoints a G runs between checks of the preempt flag and the
/// stop-the-world request: a few tens of microseconds of work, which bounds
/// the time to stop the world.
pub const CHUNK: u32 = 1 << 12;

/// Go's time slice: sysmon preempts a G that has held its P this long.
pub const SLICE_NS: u64 = 10_000_000;

/// A P's status.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PStatus {
    /// On the idle list; no M holds it.
    Idle = 0,
    /// An M holds it (running Gs or looking for work).
    Running = 1,
    /// Stopped for a stop-the-world; the stopper owns it.
    Stopped = 2,
    /// Beyond `gomaxprocs`; unused.
    Dead = 3,
    /// Taken off the idle list for an M that `startm` woke (or created)
    /// and that has not begun to run it: the M claims it (`Running`) when
    /// it wakes; until then a stopper may claim it instead (`Stopped`),
    /// so a stop-the-world never waits for a thread to wake up only to
    /// stop at once.
    HandedOff = 4,
    /// Its M is in a blocking system call (`syscall`): nobody runs Gs on
    /// it. The M takes it back when the call returns, unless sysmon
    /// retook it first (and handed it to another M) or a stopper claimed
    /// it, each by CAS.
    Syscall = 5,
}

/// A processor.
pub struct P {
    pub(crate) id: u32,
    status: AtomicU32,
    pub(crate) runq: runq::RunQueue<G>,
    /// Set by sysmon or a stop-the-world: leave the running G at the next
    /// safepoint.
    pub(crate) preempt: AtomicBool,
    /// Held while a mark worker drains this P's local work buffers: the
    /// scheduler does not preempt or migrate the running G (it checks the
    /// preempt flag itself). Released after the worker parks.
    pub(crate) nopreempt: AtomicU32,
    /// The last ragged-barrier generation this P acknowledged by flushing
    /// its write-barrier buffer (`gc::mark::ragged_start`).
    pub(crate) flush_seen: AtomicU64,
    /// Incremented each time the scheduler starts a new G on this P (sysmon
    /// watches it to spot a G that has held the P too long).
    pub(crate) schedtick: AtomicU64,
    pub(crate) timers: Mutex<timer::Timers>,
    /// When the earliest timer fires (`u64::MAX`: none); read without the
    /// lock by idle Ms, sysmon and the deadlock check.
    pub(crate) next_timer: AtomicU64,
    /// When the P entered its current system call (the clock), for
    /// sysmon's retake.
    pub(crate) syscall_when: AtomicU64,
    /// The id of the G whose system call holds this P (0: none). The word
    /// is the claim: the M back from the call, sysmon and a stopper each
    /// take the P by moving it to 0 with a CAS, so a P that was retaken
    /// and entered another G's syscall can never be taken back by the
    /// first M (the ABA Go prevents with `syscalltick`).
    pub(crate) syscall_owner: AtomicU64,
    /// Goroutines created on this P minus those that ended on it (any
    /// number, negative too). Only the M holding the P writes it, so it
    /// is counted without a locked instruction on a line that another P
    /// writes: one shared counter, incremented by the P that starts
    /// goroutines and decremented by the one that runs them to the end,
    /// made `bench/spawn.sk` 5-10% slower depending on what else shared
    /// its cache line. `Sched::num_goroutine` sums them.
    goroutines: AtomicI64,
    local: UnsafeCell<PLocal>,
}

// SAFETY: shared fields are atomics or locks; `local` is used only by the
// P's owner (see the module docs).
unsafe impl Sync for P {}
// SAFETY: as above.
unsafe impl Send for P {}

/// What only a P's owner touches.
pub struct PLocal {
    pub(crate) mc: Mcache,
    /// Dead Gs ready for reuse.
    pub(crate) gfree: Vec<GRef>,
    pub(crate) trace: trace::Buffer,
    /// State of this P's generator (`Ctx::fastrand`).
    pub(crate) rng: u64,
    /// Deterministic mode: the G this P is in the middle of running (kept
    /// between the driver's steps), and when its slice began.
    pub(crate) curg: Option<GRef>,
    pub(crate) slice_start: u64,
    /// Deterministic mode: this P has been stepped (its `ProcStart` is in
    /// the trace).
    pub(crate) started: bool,
    /// The next `GoStart` on this P is a direct hand-off: this M ended a
    /// G's run (its event is the buffer's latest) and found the next G in
    /// the P's own queue without waiting, so the start shares that event's
    /// tick instead of reading the clock (`proc::begin`). Real clock only.
    pub(crate) trace_handoff: bool,
    /// Counts the chunks run on this P (`proc::run_chunk`), so that a
    /// budget left names one point of one chunk ([`PLocal::op_budget`]).
    pub(crate) chunk_seq: u32,
    /// The running chunk's budget left while the interpreter performs a
    /// channel operation (`interp::op_chan`), else `u32::MAX`: a
    /// `GoUnpark` that the operation records is marked with it, so that
    /// a park soon after can share its tick (`proc::park_commit`).
    pub(crate) op_budget: u32,
    /// The collector's local work buffer (`gc::mark`): used only by the
    /// drainer running on this P.
    pub(crate) gcw: Vec<*mut crate::object::Header>,
    /// Time this P's fractional mark workers have run this cycle.
    pub(crate) frac_time: u64,
    /// The running G readied the collector's coordinator into this P's
    /// `runnext` and yields to it (`gc::yield_to_coordinator`): its
    /// `Gosched` puts it on this P's own queue instead of the global one
    /// (`proc::after_run`).
    pub(crate) yield_to_next: bool,
}

impl P {
    /// Adds `delta` to this P's goroutine count (`P::goroutines`). The
    /// caller holds the P, the only writer, so a plain load and store
    /// suffice.
    #[inline]
    pub(crate) fn count_goroutines(&self, delta: i64) {
        let n = self.goroutines.load(Ordering::Relaxed);
        self.goroutines.store(n + delta, Ordering::Relaxed);
    }

    fn new(id: u32, seed: u64) -> P {
        P {
            id,
            status: AtomicU32::new(PStatus::Idle as u32),
            runq: runq::RunQueue::new(),
            preempt: AtomicBool::new(false),
            schedtick: AtomicU64::new(0),
            timers: Mutex::new(timer::Timers::default()),
            next_timer: AtomicU64::new(u64::MAX),
            syscall_when: AtomicU64::new(0),
            syscall_owner: AtomicU64::new(0),
            goroutines: AtomicI64::new(0),
            nopreempt: AtomicU32::new(0),
            flush_seen: AtomicU64::new(0),
            local: UnsafeCell::new(PLocal {
                mc: Mcache::new(),
                gfree: Vec::new(),
                trace: trace::Buffer::new(if id == u32::MAX {
                    trace::encode::STREAM_OUTSIDE_P
                } else {
                    id
                }),
                // splitmix-style spreading of the seed per P; `| 1` keeps
                // the xorshift state non-zero.
                rng: (seed ^ (id as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1,
                curg: None,
                slice_start: 0,
                started: false,
                trace_handoff: false,
                chunk_seq: 0,
                op_budget: u32::MAX,
                gcw: Vec::new(),
                frac_time: 0,
                yield_to_next: false,
            }),
        }
    }

    pub fn status(&self) -> PStatus {
        match self.status.load(Ordering::Acquire) {
            0 => PStatus::Idle,
            1 => PStatus::Running,
            2 => PStatus::Stopped,
            4 => PStatus::HandedOff,
            5 => PStatus::Syscall,
            _ => PStatus::Dead,
        }
    }

    pub(crate) fn set_status(&self, s: PStatus) {
        self.status.store(s as u32, Ordering::Release);
    }

    /// Moves the status from `from` to `to` if it is `from`; true if so
    /// (a handed-off P is claimed by exactly one of its M and a stopper).
    pub(crate) fn cas_status(&self, from: PStatus, to: PStatus) -> bool {
        self.status
            .compare_exchange(from as u32, to as u32, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Claims a P whose M is in a system call (sysmon, a stopper): true if
    /// this caller took it (the status is then the caller's to set).
    pub(crate) fn claim_syscall(&self) -> bool {
        if self.status() != PStatus::Syscall {
            return false;
        }
        let owner = self.syscall_owner.load(Ordering::Acquire);
        owner != 0
            && self
                .syscall_owner
                .compare_exchange(owner, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// The M of G `gid`, back from its system call, takes its P back: true
    /// if nobody claimed it meanwhile.
    pub(crate) fn reclaim_syscall(&self, gid: u64) -> bool {
        self.syscall_owner
            .compare_exchange(gid, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The P's local state.
    ///
    /// # Safety
    /// The caller owns the P (holds it, holds the outside lock for the
    /// outside P, or has stopped the world) and keeps no other borrow of the
    /// state alive.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn local(&self) -> &mut PLocal {
        // SAFETY: exclusivity is the caller's obligation.
        unsafe { &mut *self.local.get() }
    }
}

/// An M: an OS thread that runs `schedule` while it holds a P.
pub struct M {
    pub(crate) id: u32,
    park: Mutex<MPark>,
    cond: Condvar,
}

/// How an M is woken: with a P to run (and whether it starts spinning).
#[derive(Default)]
struct MPark {
    nextp: Option<u32>,
    spinning: bool,
    exit: bool,
}

/// An M and its thread's handle.
type MThread = (Arc<M>, Option<std::thread::JoinHandle<()>>);

/// State behind `Sched::lock`.
#[derive(Default)]
pub struct Locked {
    /// The global run queue.
    pub(crate) runq: VecDeque<GRef>,
    /// Idle Ps (ids).
    pub(crate) pidle: Vec<u32>,
    /// Idle Ms.
    pub(crate) midle: Vec<Arc<M>>,
    /// Ps still to stop for the pending stop-the-world.
    pub(crate) stopwait: i32,
}

/// The main goroutine's completion, awaited by `run_main`'s caller.
#[derive(Default)]
pub struct MainState {
    pub(crate) g: Option<GRef>,
    pub(crate) result: Option<Result<(), crate::RuntimeError>>,
}

/// The scheduler: every P, the global queues and lists.
pub struct Sched {
    allp: Box<[std::sync::OnceLock<Box<P>>]>,
    pub(crate) nprocs: AtomicUsize,
    pub(crate) lock: Mutex<Locked>,
    /// Signalled when `stopwait` reaches zero.
    pub(crate) stop_cond: Condvar,
    /// Mirror of `stopwait`, written with it under the lock, so that the
    /// stopper can spin without holding the lock that the Ms it waits for
    /// need (`stw`).
    pub(crate) stopwait_left: AtomicI32,
    /// Mirror of the global queue's length, for lock-free emptiness checks.
    pub(crate) runq_len: AtomicUsize,
    /// A stop-the-world is pending or in progress (Go's `gcwaiting`).
    pub(crate) gcwaiting: AtomicBool,
    pub(crate) npidle: AtomicU32,
    /// Ms inside a blocking system call (a G blocked there may still make
    /// progress, so the program is not deadlocked).
    pub(crate) nsyscall: AtomicU32,
    pub(crate) nmspinning: AtomicU32,
    /// Every G ever created (dead ones are reused, never removed).
    pub(crate) allgs: Mutex<Vec<GRef>>,
    /// Dead Gs beyond what the Ps keep.
    pub(crate) gfree: Mutex<Vec<GRef>>,
    pub(crate) next_gid: AtomicU64,
    /// Ids of system goroutines (a separate range, so user goroutine ids
    /// do not depend on when the collector runs).
    pub(crate) next_sys_gid: AtomicU64,
    /// Live goroutines counted without a P (the main goroutine); the rest
    /// are counted per P (`P::goroutines`, `Sched::num_goroutine`).
    pub(crate) ngoroutines: AtomicI64,
    /// The right to stop the world.
    pub(crate) worldsema: sema::RtSema,
    /// The right to run (or to wait out) a GC cycle.
    pub(crate) gcsema: sema::RtSema,
    pub(crate) main: Mutex<MainState>,
    /// `main.result` holds a result: written with it, under `main`'s lock
    /// (`set_main_result`), and read without the lock where a stale answer
    /// only delays the reader's next look (m0's check after every
    /// goroutine it runs).
    main_done: AtomicBool,
    pub(crate) main_cond: Condvar,
    /// The program ended (main returned, a goroutine failed, deadlock):
    /// every M stops at its next safepoint. Never set in the REPL.
    pub(crate) exiting: AtomicBool,
    /// The VM is being dropped: every thread exits.
    pub(crate) shutdown_flag: AtomicBool,
    pub(crate) keep_running: bool,
    /// Deterministic mode.
    pub(crate) sim: Option<sim::Sim>,
    pub(crate) clock: sim::Clock,
    /// All Ms and their threads, for shutdown.
    ms: Mutex<Vec<MThread>>,
    sysmon: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(crate) sysmon_cond: Condvar,
    pub(crate) sysmon_lock: Mutex<()>,
    /// When sysmon plans to wake next (a timer due earlier wakes it).
    pub(crate) sysmon_next: AtomicU64,
    /// The runtime itself, for starting Ms (which hold an `Arc`).
    pub(crate) self_ref: std::sync::OnceLock<std::sync::Weak<crate::Runtime>>,
    /// Where `runtime.trace_start(path)` writes at `trace_stop()`.
    pub(crate) trace_path: Mutex<Option<String>>,
    /// The P used by threads that hold none (stdlib setup, code loading),
    /// guarded by `outside_lock`; the collector takes that lock too.
    pub(crate) outside_p: P,
    pub(crate) outside_lock: Mutex<()>,
    /// Bumped by sysmon at every scavenger period in the window after the
    /// scavenger gave pages back: an M that goes idle and finds it changed
    /// asks mimalloc to return its own thread's free pages too
    /// (`proc::collect_after_scavenge`).
    pub(crate) scavenges: AtomicU64,
    /// Tracing: on/off, where full buffers go, and sysmon's events (which
    /// have no P; the lock is taken only by sysmon and the collector of
    /// the buffers).
    pub(crate) tracing: AtomicBool,
    pub(crate) trace_sink: trace::Sink,
    pub(crate) trace_outside: Mutex<trace::Buffer>,
    pub(crate) trace_start_tick: AtomicU64,
}

/// Deterministic mode's settings (`--sim SEED`, `--sim-strategy`,
/// `--sim-schedule`, `SKEINDEBUG=buggify=1`).
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub strategy: strategy::Strategy,
    /// A recorded schedule to replay.
    pub replay: Option<Vec<u32>>,
    /// The schedule also chooses runtime faults.
    pub buggify: bool,
}

impl Sched {
    /// A scheduler for `procs` Ps; `sim` makes it deterministic.
    pub fn new(procs: usize, sim: Option<SimConfig>, seed: u64, keep_running: bool) -> Sched {
        let sim_seed = sim.as_ref().map(|s| s.seed);
        let allp: Box<[std::sync::OnceLock<Box<P>>]> =
            (0..MAX_PROCS).map(|_| std::sync::OnceLock::new()).collect();
        let s = Sched {
            allp,
            nprocs: AtomicUsize::new(procs),
            lock: Mutex::new(Locked::default()),
            stop_cond: Condvar::new(),
            runq_len: AtomicUsize::new(0),
            stopwait_left: AtomicI32::new(0),
            gcwaiting: AtomicBool::new(false),
            npidle: AtomicU32::new(0),
            nsyscall: AtomicU32::new(0),
            nmspinning: AtomicU32::new(0),
            allgs: Mutex::new(Vec::new()),
            gfree: Mutex::new(Vec::new()),
            next_gid: AtomicU64::new(1),
            // System Gs are numbered from 10001, well clear of user ids in
            // traces.
            next_sys_gid: AtomicU64::new(10_001),
            ngoroutines: AtomicI64::new(0),
            worldsema: sema::RtSema::new(),
            gcsema: sema::RtSema::new(),
            main: Mutex::new(MainState::default()),
            main_done: AtomicBool::new(false),
            main_cond: Condvar::new(),
            exiting: AtomicBool::new(false),
            shutdown_flag: AtomicBool::new(false),
            keep_running,
            sim: sim.map(sim::Sim::new),
            clock: sim::Clock::new(sim_seed.is_some()),
            ms: Mutex::new(Vec::new()),
            sysmon: Mutex::new(None),
            sysmon_cond: Condvar::new(),
            sysmon_lock: Mutex::new(()),
            sysmon_next: AtomicU64::new(0),
            self_ref: std::sync::OnceLock::new(),
            trace_path: Mutex::new(None),
            outside_p: P::new(u32::MAX, seed),
            outside_lock: Mutex::new(()),
            scavenges: AtomicU64::new(0),
            tracing: AtomicBool::new(false),
            trace_sink: trace::Sink::new(),
            trace_outside: Mutex::new(trace::Buffer::new(trace::encode::STREAM_SYSMON)),
            trace_start_tick: AtomicU64::new(0),
        };
        {
            let mut l = s.lock.lock();
            for i in (0..procs).rev() {
                s.allp[i].get_or_init(|| Box::new(P::new(i as u32, seed)));
                // The deterministic driver picks Ps itself: no idle list.
                if sim_seed.is_none() {
                    l.pidle.push(i as u32);
                }
            }
            if sim_seed.is_none() {
                s.npidle.store(procs as u32, Ordering::Relaxed);
            }
        }
        s
    }

    /// P number `i` (created on first use).
    pub fn p(&self, i: u32) -> &P {
        self.allp[i as usize]
            .get()
            .expect("P used before it was created")
    }

    /// Creates P `i` if it does not exist yet (`gomaxprocs` growth).
    pub(crate) fn ensure_p(&self, i: usize, seed: u64) -> &P {
        self.allp[i].get_or_init(|| Box::new(P::new(i as u32, seed)))
    }

    /// Number of Ps.
    pub fn procs(&self) -> usize {
        self.nprocs.load(Ordering::Acquire)
    }

    /// Every P ever created (including Ps beyond `gomaxprocs`, whose lists
    /// hold objects until a collection moves them).
    pub fn all_created(&self) -> impl Iterator<Item = &P> {
        self.allp.iter().map_while(|p| p.get().map(|b| &**b))
    }

    pub fn is_sim(&self) -> bool {
        self.sim.is_some()
    }

    /// Live goroutines (`runtime.numgoroutine()`): the count kept without
    /// a P plus every P's. The Ps' counts are read one after the other, so
    /// while goroutines start and end the sum is approximate, as Go's
    /// `NumGoroutine` is.
    pub fn num_goroutine(&self) -> usize {
        let per_p: i64 = self
            .all_created()
            .map(|p| p.goroutines.load(Ordering::Relaxed))
            .sum();
        (self.ngoroutines.load(Ordering::Relaxed) + per_p).max(0) as usize
    }

    /// The clock: nanoseconds since start, or virtual ticks in
    /// deterministic mode.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Stops every thread (the VM is being dropped) and joins them.
    pub fn shutdown(&self) {
        self.shutdown_flag.store(true, Ordering::SeqCst);
        self.exiting.store(true, Ordering::SeqCst);
        let ms: Vec<_> = std::mem::take(&mut *self.ms.lock());
        for (m, _) in &ms {
            let mut k = m.park.lock();
            k.exit = true;
            m.cond.notify_one();
        }
        {
            let _l = self.sysmon_lock.lock();
            self.sysmon_cond.notify_all();
        }
        for (_, h) in ms {
            if let Some(h) = h {
                let _ = h.join();
            }
        }
        if let Some(h) = self.sysmon.lock().take() {
            let _ = h.join();
        }
    }

    /// Sets the program's result in `m` (the guard of `main`) and tells
    /// the lock-free readers of [`Sched::main_done`].
    pub(crate) fn set_main_result(
        &self,
        m: &mut MainState,
        result: Option<Result<(), crate::RuntimeError>>,
    ) {
        self.main_done.store(result.is_some(), Ordering::Release);
        m.result = result;
    }

    /// Whether the program's result is set (a racy look, see `main_done`).
    pub(crate) fn main_done(&self) -> bool {
        self.main_done.load(Ordering::Acquire)
    }

    /// Begins a recording into `dest` (`--trace`, `--trace-flight`,
    /// `runtime.trace_start`); one in progress is dropped. Called with the
    /// world stopped, or before any goroutine runs.
    pub fn trace_begin(&self, dest: trace::Destination) {
        self.tracing.store(false, Ordering::SeqCst);
        let ns_per_tick = if self.is_sim() {
            trace::NS_PER_VIRTUAL_TICK
        } else {
            1
        };
        let start = if self.is_sim() {
            self.now()
        } else {
            trace::cputicks()
        };
        self.trace_start_tick.store(start, Ordering::Relaxed);
        self.trace_sink.begin(dest, ns_per_tick, !self.is_sim());
        self.tracing.store(true, Ordering::SeqCst);
    }

    /// Writes every buffer's events to the sink. Called with the world
    /// stopped (`own`: the caller's P, which it holds), or when the program
    /// has ended. A P still held by an M (running, or in a system call) is
    /// left alone: its owner may be using its buffer. That happens only
    /// when the program ended while a thread did not reach a safepoint in
    /// time (`run_main`'s wait), and then its last events are lost.
    pub fn trace_flush(&self, own: Option<u32>) {
        for p in self.all_created() {
            let held = matches!(p.status(), PStatus::Running | PStatus::Syscall);
            if held && own != Some(p.id) {
                continue;
            }
            // SAFETY: the P is idle, stopped, handed off to an M that has
            // not started (and with tracing off now, or the world stopped,
            // records nothing), or the caller's own: no other thread uses
            // its buffer.
            unsafe { p.local() }.trace.flush(&self.trace_sink);
        }
        {
            let _outside = self.outside_lock.lock();
            // SAFETY: the outside P's state is guarded by the lock held here.
            unsafe { self.outside_p.local() }
                .trace
                .flush(&self.trace_sink);
        }
        self.trace_outside.lock().flush(&self.trace_sink);
    }

    /// Stops tracing and hands back the recording (`None` when none was in
    /// progress). Called with the world stopped by the holder of P `own`,
    /// or when the program has ended (see `trace_flush`).
    pub fn trace_end(&self, own: Option<u32>) -> Option<std::io::Result<trace::Recording>> {
        if !self.tracing.swap(false, Ordering::SeqCst) {
            return None;
        }
        self.trace_flush(own);
        self.trace_sink.end()
    }

    /// The flight recorder's trace as it stands (every buffer written to
    /// the ring first), or `None` when no flight recording is in progress.
    /// Called as `trace_end` is.
    pub fn trace_flight_image(&self, own: Option<u32>) -> Option<Vec<u8>> {
        if !self.tracing.load(Ordering::SeqCst) {
            return None;
        }
        self.trace_flush(own);
        self.trace_sink.flight_image()
    }

    /// Records an event from a thread without a P (sysmon). The tick is
    /// read under the lock, so the stream stays in tick order.
    pub fn trace_outside(&self, kind: trace::EventKind, args: &[(trace::Key, trace::Arg)]) {
        if self.tracing.load(Ordering::Relaxed) {
            let mut b = self.trace_outside.lock();
            b.push(&self.trace_sink, self.trace_tick(), 0, None, kind, args);
        }
    }

    /// The collector's clock for pauses and CPU accounting (`gctrace`,
    /// `memstats`), in nanoseconds since the VM started: real time, or in
    /// deterministic mode the virtual clock at the scale the trace shows it
    /// (`trace::NS_PER_VIRTUAL_TICK`), so that `gctrace` lines of a `--sim`
    /// run are the same on every run and agree with its trace.
    pub fn clock_ns(&self) -> u64 {
        if self.is_sim() {
            self.now().saturating_mul(trace::NS_PER_VIRTUAL_TICK)
        } else {
            self.now()
        }
    }

    /// The trace's clock: virtual ticks in deterministic mode, CPU
    /// time-stamp counts otherwise (`trace::cputicks`), from the start of
    /// the recording.
    #[inline]
    pub fn trace_tick(&self) -> u64 {
        let now = if self.is_sim() {
            self.now()
        } else {
            trace::cputicks()
        };
        now.saturating_sub(self.trace_start_tick.load(Ordering::Relaxed))
    }
}

impl Drop for Sched {
    fn drop(&mut self) {
        // Every thread has been joined (`shutdown`) and the runtime is going
        // away: nothing refers to a G any more.
        for g in self.allgs.get_mut().drain(..) {
            // SAFETY: each G was leaked from a `Box` in `proc::new_g`,
            // appears once in `allgs`, and is freed once, here.
            unsafe { drop(Box::from_raw(g.as_ptr())) };
        }
    }
}
