//! Loom models of the scheduler's blocking protocols: park/ready (with the
//! `select` wake-once claim), channel send/receive/close, and the
//! stop-the-world handshake.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" cargo test --release -p skein-vm --test loom_sched`
//!
//! The real code (`vm/src/sched/`) uses `parking_lot` locks and `std`
//! atomics directly, so it cannot run under loom. This file re-states each
//! protocol with loom's atomics, `Mutex`, `Condvar` and threads, step by
//! step: the same state words, the same compare-and-swap transitions with
//! the same orderings, the same lock and unlock order, the same wait-list
//! operations. Every model function names the real function it mirrors;
//! when the real code changes, its model here must change with it.
//!
//! What is left out, and why that is sound:
//! - The run queues. `proc::ready` puts the G on a run queue and an M later
//!   takes it and runs `proc::begin`, whose `cas_status(Runnable, Running)`
//!   is what hands the G over. Here the M that picks the G up waits for
//!   that status transition directly ([`run_when_ready`]) and a log records
//!   each `ready`. The real queue adds more synchronisation (release/
//!   acquire on `tail`/`runnext`, checked by `loom_runq.rs`), never less, so
//!   anything proved here with the status word alone holds there too.
//! - The collector's `SCAN` bit (no collector runs in these models), trace
//!   events, `wakep`/spinning Ms, timers and deterministic mode.
//! - Ms as such. Each G starts on its own loom thread (its M). When it
//!   parks, either its thread becomes the M that finds it runnable again
//!   (most models), or its thread moves on and the waker's thread runs it,
//!   as the waker's M does with a G it put in its `runnext` (1c). Which M
//!   runs a woken G does not matter to these protocols; what matters is
//!   that a parked G is woken, exactly once, with the right value, and that
//!   its state is handed over intact.
//!
//! Steps of every channel and park model:
//! 1. Build a world (Gs `Running`, locks, channels) in an `Arc`.
//! 2. Spawn one thread per G; each runs the real operation's model and, on
//!    `Flow::Park`, runs `park_commit`; then an M waits for the G to be
//!    readied, starts it and applies its resume action (`apply_resume`,
//!    the model of `Exec::resume`), as `proc::after_run`, `find_runnable`
//!    and `begin` would.
//! 3. Join, then check the property: no lost wake-up (every parked G ran
//!    again and got its value), exactly-once wake-up (the `ready` log holds
//!    each park once), nothing left on any wait queue.
//!
//! A lost wake-up shows up as a G whose thread spins forever waiting to be
//! readied, which loom reports as "Model exceeded maximum number of
//! branches"; a double or premature wake-up shows up as `cas_status`'s
//! panic (the real one panics the same way), or as a failed assertion.
//!
//! Each model was checked against a deliberately broken variant of the
//! protocol (described beside the model); every one of those variants made
//! the model fail, and was then reverted. No test here expects a failure.
//!
//! Preemption bounds: loom explores every interleaving with at most that
//! many forced context switches (threads blocking, yielding or finishing
//! switch for free). The two-thread models are explored exhaustively; the
//! three-thread ones up to a bound (see the constants), well above the one
//! that already catches every broken variant. The whole file runs in about
//! 95 s (release build, two test threads, on a shared 2-CPU machine); the
//! largest models are the stop-the-world handshake (about 130,000
//! executions) and the three-thread selects (1b) and (1e) (about 170,000
//! each).

#![cfg(loom)]

mod loom_common;
use loom_common::*;

use std::collections::VecDeque;
use std::time::Duration;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
use loom::thread;
use skein_vm::sched::waitq::{Side, WaitId, WaitQueues};
use skein_vm::value::Value;

/// Preemption bound for the two-thread models: none. Their state spaces
/// are small enough (a few hundred executions at most) to explore every
/// interleaving.
const BOUND_TWO: Option<usize> = None;

/// Preemption bound for the three-thread models: 5 lets a thread be stopped
/// at any point of a lock/CAS/unlock sequence while the other two run
/// whole operations, several times over. Every broken variant listed below
/// is already caught at 2; 5 keeps the slowest model (the stop-the-world
/// handshake, about 100,000 executions) near 10 s in a release build.
const BOUND_THREE: Option<usize> = Some(5);

/// Preemption bound for (1d), which repeats (1b)'s race twice over and so
/// has four times its state space at the same bound: 4 (about 50,000
/// executions, 2 s).
const BOUND_SELECT_TWICE: Option<usize> = Some(4);

// ---------------------------------------------------------------------------
// Goroutines (`g.rs`).

/// The bits of `Value::NIL` (what a closed channel delivers).
const NIL: u64 = Value::NIL.0;

/// `g::G`, reduced to the words the protocols use.
struct G {
    id: usize,
    /// `G::status`.
    status: AtomicU32,
    /// `G::wake_val`, `G::wake_ok`, `G::wake_case`: what a waker hands over.
    wake_val: AtomicU64,
    wake_ok: AtomicBool,
    wake_case: AtomicI32,
    /// `G::sel_state`: the select generation, bit 0 set once claimed.
    sel_state: AtomicU64,
    /// `G::exec`'s `resume` field: written by the parking M before the
    /// `Waiting` CAS, read by whichever M runs the G next. Only the G's
    /// owner (by status) may touch it; loom reports any access that is not
    /// ordered after the previous owner's.
    exec: UnsafeCell<Option<Resume>>,
}

impl G {
    /// A G that an M is running (every model G starts on its own M).
    fn running(id: usize) -> G {
        G {
            id,
            status: AtomicU32::new(RUNNING),
            wake_val: AtomicU64::new(NIL),
            wake_ok: AtomicBool::new(false),
            wake_case: AtomicI32::new(-1),
            sel_state: AtomicU64::new(0),
            exec: UnsafeCell::new(None),
        }
    }

    /// `G::status`.
    fn status(&self) -> u32 {
        status(&self.status)
    }

    /// `G::cas_status` (`loom_common::cas_status`).
    fn cas_status(&self, from: u32, to: u32) {
        cas_status(&self.status, self.id, from, to);
    }

    /// `G::deliver`: relaxed stores, published by the `ready` CAS after it.
    fn deliver(&self, v: u64, ok: bool, case: i32) {
        self.wake_val.store(v, Ordering::Relaxed);
        self.wake_ok.store(ok, Ordering::Relaxed);
        self.wake_case.store(case, Ordering::Relaxed);
    }

    /// `G::delivered`.
    fn delivered(&self) -> (u64, bool, i32) {
        (
            self.wake_val.load(Ordering::Relaxed),
            self.wake_ok.load(Ordering::Relaxed),
            self.wake_case.load(Ordering::Relaxed),
        )
    }
}

// ---------------------------------------------------------------------------
// The world a channel or semaphore model runs in.

/// Gs, channels and one semaphore, shared by the model's threads.
struct World {
    gs: Vec<G>,
    chans: Vec<Chan>,
    /// A `sync.Mutex` (`sema::SemaCore`).
    sema: SemaCore,
    /// Data guarded by the `sync.Mutex`: loom reports any access to it that
    /// is not ordered after the previous holder's.
    guarded: UnsafeCell<u64>,
    /// Every `ready`, in order (G indices): the run queues' stand-in.
    readied: Mutex<Vec<usize>>,
    /// Every select sudog queued, and every one taken off a queue (popped
    /// by a waker, claimed or stale, or unlinked by its G's
    /// `select_cleanup`), as (G, generation, case): at the end of a model
    /// the two agree, each entry once.
    queued: Mutex<Vec<(usize, u64, i32)>>,
    disposed: Mutex<Vec<(usize, u64, i32)>>,
}

impl World {
    fn new(ngs: usize, caps: &[usize]) -> World {
        World {
            gs: (0..ngs).map(G::running).collect(),
            chans: caps.iter().map(|&cap| Chan::new(cap)).collect(),
            sema: SemaCore::default(),
            guarded: UnsafeCell::new(0),
            readied: Mutex::new(Vec::new()),
            queued: Mutex::new(Vec::new()),
            disposed: Mutex::new(Vec::new()),
        }
    }

    /// Records that a sudog left its queue (select sudogs only).
    fn note_disposed(&self, s: &Sudog) {
        if let Some((gen, case)) = s.sel {
            self.disposed.lock().unwrap().push((s.g, gen, case));
        }
    }

    /// How many times G `g` was readied.
    fn times_readied(&self, g: usize) -> usize {
        self.readied
            .lock()
            .unwrap()
            .iter()
            .filter(|&&x| x == g)
            .count()
    }
}

// ---------------------------------------------------------------------------
// Park and ready (`park.rs`'s `Park`/`Unlock`/`Resume`, `proc.rs`).

/// `park.rs`'s `Unlock`: the owner's unlock step, which releases the lock
/// the parking code left held. The real code forgets the guard and
/// force-unlocks later (`Unlock::guard`, or for a select the lock set that
/// `chan.rs`'s `unlock_select` releases); here the guard itself travels to
/// `park_commit`, which drops it at the same point.
enum Unlock<'a> {
    /// A channel's lock (`Unlock::guard`).
    Chan(MutexGuard<'a, ChanState>),
    /// Every channel of a select, in lock order (`unlock_select`).
    Chans(Vec<MutexGuard<'a, ChanState>>),
    /// A semaphore's lock (`Unlock::guard`).
    Sema(MutexGuard<'a, SemaState>),
}

/// `park.rs`'s `Resume`, reduced to what the models use.
enum Resume {
    /// `Resume::None` (a `sync.Mutex` lock handed over).
    None,
    /// `Resume::Sent`: `ok == false` means the channel was closed.
    Sent,
    /// `Resume::Store` / `StoreOk`: the delivered value (and ok).
    Store,
    /// `Resume::Select`: the real one finds the select's channels in the
    /// G's registers and its `SelectWait` in the G's `Exec`; the model
    /// carries both.
    Select { cases: Vec<Case>, wait: SelectWait },
}

/// `park.rs`'s `Park`.
struct Park<'a> {
    unlock: Unlock<'a>,
    resume: Resume,
}

/// `park.rs`'s `Flow` (re-exported by `native`), reduced: an operation's
/// error or its park.
enum Flow<'a> {
    Error(&'static str),
    Park(Park<'a>),
}

const SEND_CLOSED: &str = "Send on closed channel.";
const CLOSE_CLOSED: &str = "Close of closed channel.";

/// `proc::park_commit`: records the resume action in the G's execution
/// state, makes the G `Waiting`, and only then runs the unlock step, which
/// releases the lock (so a
/// waker that holds the same lock cannot see the G queued but still
/// `Running`).
fn park_commit(w: &World, me: usize, pk: Park<'_>) {
    // SAFETY: the G is still Running on this M, which owns its state.
    w.gs[me].exec.with_mut(|e| unsafe { *e = Some(pk.resume) });
    w.gs[me].cas_status(RUNNING, WAITING);
    // From here on another M may run the G: only the lock is touched.
    match pk.unlock {
        Unlock::Chan(guard) => drop(guard),
        Unlock::Chans(guards) => unlock_all(guards),
        Unlock::Sema(guard) => drop(guard),
    }
}

/// `proc::ready`: `Waiting` to `Runnable` (panicking, as the real
/// `cas_status` does, if the G is in any other state), then `runqput`.
fn ready(w: &World, g: usize) {
    w.gs[g].cas_status(WAITING, RUNNABLE);
    w.readied.lock().unwrap().push(g);
}

/// An M finding G `g` on a run queue (`proc::find_runnable`) and starting
/// it (`proc::begin`'s `cas_status(Runnable, Running)`), then the G's
/// `Exec::resume`. The model polls the status word, which is the only
/// synchronisation it relies on. (At most one thread may poll at a
/// time: loom lets two polling threads yield to each other forever.)
fn run_when_ready(w: &World, g: usize) -> (u64, bool, i32) {
    while w.gs[g]
        .status
        .compare_exchange(RUNNABLE, RUNNING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        thread::yield_now();
    }
    apply_resume(w, g)
}

/// `proc::begin` for a G this M has just readied (it went into this P's
/// `runnext`, and the M runs it next): `cas_status(Runnable, Running)`
/// (panicking if another M got it), then `Exec::resume`.
fn run_readied(w: &World, g: usize) -> (u64, bool, i32) {
    w.gs[g].cas_status(RUNNABLE, RUNNING);
    apply_resume(w, g)
}

/// `Exec::resume` (`interp.rs`): takes the resume action from the G's
/// execution state and reads what the waker delivered; a select first
/// removes its remaining sudogs (`chan::select_cleanup`).
fn apply_resume(w: &World, me: usize) -> (u64, bool, i32) {
    // SAFETY: the G is Running on this M, which owns its state.
    let resume = w.gs[me].exec.with_mut(|e| unsafe { (*e).take() });
    let resume = resume.expect("a G ran again without having parked");
    let d = w.gs[me].delivered();
    match resume {
        Resume::None | Resume::Sent | Resume::Store => {}
        Resume::Select { cases, wait } => select_cleanup(w, me, &cases, &wait, d.2),
    }
    d
}

/// What `proc::after_run` does with `Outcome::Park` for G `me`, followed by
/// the G's next time slice: park, wait to be readied, resume. Returns the
/// delivered `(value, ok, case)`.
fn park_and_resume(w: &World, me: usize, pk: Park<'_>) -> (u64, bool, i32) {
    park_commit(w, me, pk);
    run_when_ready(w, me)
}

// ---------------------------------------------------------------------------
// Channels (`chan.rs`).

/// `chan::Sudog`.
struct Sudog {
    g: usize,
    elem: u64,
    sel: Option<(u64, i32)>,
}

/// `chan::ChanState`. The wait queues are the real `waitq::WaitQueues`.
#[derive(Default)]
struct ChanState {
    buf: VecDeque<u64>,
    closed: bool,
    waitq: WaitQueues<Sudog>,
}

/// `chan::Chan`.
struct Chan {
    cap: usize,
    state: Mutex<ChanState>,
}

impl Chan {
    fn new(cap: usize) -> Chan {
        Chan {
            cap,
            state: Mutex::new(ChanState::default()),
        }
    }
}

/// `chan::claim`: a plain waiter is always won; a select's sudog is won by
/// moving its G's `sel_state` from the sudog's generation to generation|1.
fn claim(w: &World, s: &Sudog) -> bool {
    match s.sel {
        None => true,
        Some((gen, _)) => w.gs[s.g]
            .sel_state
            .compare_exchange(gen, gen | 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok(),
    }
}

/// `chan::pop_claimed`: the first claimable sudog; stale select entries
/// are dropped.
fn pop_claimed(w: &World, q: &mut WaitQueues<Sudog>, side: Side) -> Option<Sudog> {
    while let Some(s) = q.pop_front(side) {
        w.note_disposed(&s);
        if claim(w, &s) {
            return Some(s);
        }
    }
    None
}

/// `chan::case_of`.
fn case_of(s: &Sudog) -> i32 {
    s.sel.map_or(-1, |(_, c)| c)
}

/// `chan::send`.
fn send(w: &World, me: usize, ch: usize, v: u64) -> Result<(), Flow<'_>> {
    let chan = &w.chans[ch];
    let mut st = chan.state.lock().unwrap();
    if st.closed {
        return Err(Flow::Error(SEND_CLOSED));
    }
    if let Some(r) = pop_claimed(w, &mut st.waitq, Side::Recv) {
        drop(st);
        w.gs[r.g].deliver(v, true, case_of(&r));
        ready(w, r.g);
        return Ok(());
    }
    if st.buf.len() < chan.cap {
        st.buf.push_back(v);
        return Ok(());
    }
    st.waitq.push_back(
        Side::Send,
        Sudog {
            g: me,
            elem: v,
            sel: None,
        },
    );
    Err(Flow::Park(Park {
        unlock: Unlock::Chan(st),
        resume: Resume::Sent,
    }))
}

/// `chan::recv`.
fn recv(w: &World, me: usize, ch: usize) -> Result<(u64, bool), Flow<'_>> {
    let chan = &w.chans[ch];
    let mut st = chan.state.lock().unwrap();
    if let Some(s) = pop_claimed(w, &mut st.waitq, Side::Send) {
        let v = take_from_sender(chan.cap, &mut st, s.elem);
        drop(st);
        w.gs[s.g].deliver(NIL, true, case_of(&s));
        ready(w, s.g);
        return Ok((v, true));
    }
    if let Some(v) = st.buf.pop_front() {
        return Ok((v, true));
    }
    if st.closed {
        return Ok((NIL, false));
    }
    st.waitq.push_back(
        Side::Recv,
        Sudog {
            g: me,
            elem: NIL,
            sel: None,
        },
    );
    Err(Flow::Park(Park {
        unlock: Unlock::Chan(st),
        resume: Resume::Store,
    }))
}

/// `chan::take_from_sender`: unbuffered, the sender's value; buffered (and
/// so full), the buffer's head, refilled from the sender.
fn take_from_sender(cap: usize, st: &mut ChanState, elem: u64) -> u64 {
    if cap == 0 {
        elem
    } else {
        let head = st.buf.pop_front().unwrap_or(NIL);
        st.buf.push_back(elem);
        head
    }
}

/// `chan::close`: claims every waiter and delivers under the lock, readies
/// them after it.
fn close(w: &World, ch: usize) -> Result<(), Flow<'_>> {
    let woken: Vec<usize> = {
        let mut st = w.chans[ch].state.lock().unwrap();
        if st.closed {
            return Err(Flow::Error(CLOSE_CLOSED));
        }
        st.closed = true;
        let mut woken = Vec::new();
        while let Some(s) = pop_claimed(w, &mut st.waitq, Side::Recv) {
            w.gs[s.g].deliver(NIL, false, case_of(&s));
            woken.push(s.g);
        }
        while let Some(s) = pop_claimed(w, &mut st.waitq, Side::Send) {
            w.gs[s.g].deliver(NIL, false, case_of(&s));
            woken.push(s.g);
        }
        woken
    };
    for g in woken {
        ready(w, g);
    }
    Ok(())
}

/// `chan::Case`.
#[derive(Clone, Copy)]
struct Case {
    chan: usize,
    send: Option<u64>,
}

/// `chan::unlock_all`: releases a select's locks in reverse lock order.
fn unlock_all(mut guards: Vec<MutexGuard<'_, ChanState>>) {
    while let Some(g) = guards.pop() {
        drop(g);
    }
}

/// `chan::select` without `default` (the models' selects block): lock every
/// channel in order (`Locked::lock`: sorted, deduplicated; here index order
/// stands for address order), poll the cases, else queue one sudog per case
/// under a fresh generation and park holding every lock. The poll order is
/// fixed (the real one is random; any fixed order is one of its outcomes).
fn select<'a>(w: &'a World, me: usize, cases: &[Case]) -> Result<(i64, u64), Flow<'a>> {
    let mut chans: Vec<usize> = cases.iter().map(|c| c.chan).collect();
    chans.sort_unstable();
    chans.dedup();
    let mut guards: Vec<MutexGuard<'a, ChanState>> = chans
        .iter()
        .map(|&c| w.chans[c].state.lock().unwrap())
        .collect();
    let slot = |ch: usize| chans.iter().position(|&c| c == ch).unwrap();
    for (i, c) in cases.iter().enumerate() {
        let cap = w.chans[c.chan].cap;
        let st = &mut *guards[slot(c.chan)];
        match c.send {
            Some(v) => {
                if st.closed {
                    unlock_all(guards);
                    return Err(Flow::Error(SEND_CLOSED));
                }
                if let Some(r) = pop_claimed(w, &mut st.waitq, Side::Recv) {
                    unlock_all(guards);
                    w.gs[r.g].deliver(v, true, case_of(&r));
                    ready(w, r.g);
                    return Ok((i as i64, NIL));
                }
                if st.buf.len() < cap {
                    st.buf.push_back(v);
                    unlock_all(guards);
                    return Ok((i as i64, NIL));
                }
            }
            None => {
                if let Some(s) = pop_claimed(w, &mut st.waitq, Side::Send) {
                    let v = take_from_sender(cap, st, s.elem);
                    unlock_all(guards);
                    w.gs[s.g].deliver(NIL, true, case_of(&s));
                    ready(w, s.g);
                    return Ok((i as i64, v));
                }
                if let Some(v) = st.buf.pop_front() {
                    unlock_all(guards);
                    return Ok((i as i64, v));
                }
                if st.closed {
                    unlock_all(guards);
                    return Ok((i as i64, NIL));
                }
            }
        }
    }
    // A new generation: even, above every earlier one.
    let g = &w.gs[me];
    let gen = (g.sel_state.load(Ordering::Relaxed) | 1) + 1;
    g.sel_state.store(gen, Ordering::Release);
    let mut wait = SelectWait {
        gen,
        ids: Vec::new(),
    };
    for (i, c) in cases.iter().enumerate() {
        let st = &mut *guards[slot(c.chan)];
        let s = Sudog {
            g: me,
            elem: c.send.unwrap_or(NIL),
            sel: Some((gen, i as i32)),
        };
        let side = match c.send {
            Some(_) => Side::Send,
            None => Side::Recv,
        };
        let id = st.waitq.push_back(side, s);
        wait.ids.push(id);
        w.queued.lock().unwrap().push((me, gen, i as i32));
    }
    Err(Flow::Park(Park {
        unlock: Unlock::Chans(guards),
        resume: Resume::Select {
            cases: cases.to_vec(),
            wait,
        },
    }))
}

/// `chan::SelectWait`: the blocked select's generation and, per case, the
/// handle of its sudog (the models' selects have no `nil` cases).
struct SelectWait {
    gen: u64,
    ids: Vec<WaitId>,
}

/// `chan::select_cleanup`: unlinks the woken select's sudogs that are
/// still queued, each by its handle under its own channel's lock, skipping
/// the case that fired (its waker popped that sudog); the owner test (this
/// G, this generation, this case) leaves alone a node that a waker freed
/// and another push reused.
fn select_cleanup(w: &World, me: usize, cases: &[Case], wait: &SelectWait, fired: i32) {
    for (i, (c, &id)) in cases.iter().zip(&wait.ids).enumerate() {
        let case = i as i32;
        if case == fired {
            continue;
        }
        let mut st = w.chans[c.chan].state.lock().unwrap();
        let owns = |s: &Sudog| s.g == me && s.sel == Some((wait.gen, case));
        if let Some(s) = st.waitq.remove_if(id, owns) {
            w.note_disposed(&s);
        }
    }
}

// ---------------------------------------------------------------------------
// Semaphores (`sema.rs`).

/// `sema::SemaState`: `held` for `sync.Mutex`, `count` for
/// `sync.WaitGroup`.
#[derive(Default)]
struct SemaState {
    held: bool,
    count: i64,
    waiters: VecDeque<usize>,
}

/// `sema::SemaCore`.
#[derive(Default)]
struct SemaCore {
    state: Mutex<SemaState>,
}

/// `SemaCore::park`: queue the G and park with the lock still held.
fn sema_park(me: usize, mut guard: MutexGuard<'_, SemaState>, resume: Resume) -> Flow<'_> {
    guard.waiters.push_back(me);
    Flow::Park(Park {
        unlock: Unlock::Sema(guard),
        resume,
    })
}

/// `sema::mutex_lock`.
fn mutex_lock(w: &World, me: usize) -> Result<(), Flow<'_>> {
    let mut st = w.sema.state.lock().unwrap();
    if !st.held {
        st.held = true;
        return Ok(());
    }
    Err(sema_park(me, st, Resume::None))
}

/// `sema::mutex_unlock`: hands the lock to the first waiter (`held` stays
/// set), readying it after the state lock is released.
fn mutex_unlock(w: &World) -> Result<(), Flow<'_>> {
    let woken = {
        let mut st = w.sema.state.lock().unwrap();
        if !st.held {
            return Err(Flow::Error("sync: unlock of unlocked mutex."));
        }
        match st.waiters.pop_front() {
            Some(g) => Some(g),
            None => {
                st.held = false;
                None
            }
        }
    };
    if let Some(g) = woken {
        ready(w, g);
    }
    Ok(())
}

/// `sema::wg_add`: wakes every waiter when the counter reaches zero,
/// readying them after the state lock is released.
fn wg_add(w: &World, n: i64) -> Result<(), Flow<'_>> {
    let woken: Vec<usize> = {
        let mut st = w.sema.state.lock().unwrap();
        st.count += n;
        if st.count < 0 {
            st.count = 0;
            return Err(Flow::Error("sync: negative WaitGroup counter."));
        }
        if st.count == 0 {
            st.waiters.drain(..).collect()
        } else {
            Vec::new()
        }
    };
    for g in woken {
        ready(w, g);
    }
    Ok(())
}

/// `sema::wg_wait`.
fn wg_wait(w: &World, me: usize) -> Result<(), Flow<'_>> {
    let st = w.sema.state.lock().unwrap();
    if st.count == 0 {
        return Ok(());
    }
    Err(sema_park(me, st, Resume::None))
}

// ---------------------------------------------------------------------------
// Running a G's operation to completion.

/// Runs one blocking operation for G `me` the way the interpreter and
/// `proc::after_run` do: completes at once, fails, or parks and completes
/// when readied. Returns `(value, ok, case, parked)`.
fn block_on<'a, T>(
    w: &'a World,
    me: usize,
    r: Result<T, Flow<'a>>,
    done: impl FnOnce(T) -> (u64, bool, i32),
) -> Result<(u64, bool, i32, bool), &'static str> {
    match r {
        Ok(t) => {
            let (v, ok, case) = done(t);
            Ok((v, ok, case, false))
        }
        Err(Flow::Error(e)) => Err(e),
        Err(Flow::Park(pk)) => {
            let (v, ok, case) = park_and_resume(w, me, pk);
            Ok((v, ok, case, true))
        }
    }
}

/// Asserts the end state every channel model shares: every G is back to
/// `Running` (none is lost `Waiting`), each was readied exactly as often as
/// it parked, and no sudog is left on any queue.
fn assert_settled(w: &World, parks: &[usize]) {
    for (g, &n) in parks.iter().enumerate() {
        assert_eq!(
            w.gs[g].status(),
            RUNNING,
            "goroutine {g} never ran again (lost wake-up)"
        );
        assert_eq!(
            w.times_readied(g),
            n,
            "goroutine {g} parked {n} time(s) but was readied otherwise"
        );
    }
    for (i, c) in w.chans.iter().enumerate() {
        let st = c.state.lock().unwrap();
        assert!(
            st.waitq.is_empty(Side::Recv),
            "channel {i}: a receiver left queued"
        );
        assert!(
            st.waitq.is_empty(Side::Send),
            "channel {i}: a sender left queued"
        );
    }
    let mut queued = w.queued.lock().unwrap().clone();
    let mut disposed = w.disposed.lock().unwrap().clone();
    queued.sort_unstable();
    disposed.sort_unstable();
    assert_eq!(
        queued, disposed,
        "a select sudog was taken off its queue twice, or never"
    );
}

// ---------------------------------------------------------------------------
// (1) Park / ready.

/// (1a) The unlock-after-park contract on a wait list (`sync.Mutex`): G1
/// holds the mutex and unlocks it (`sema::mutex_unlock`: lock, pop the
/// waiter, unlock, `ready`) while G0 locks it (`sema::mutex_lock`: lock,
/// queue itself, return the park with the lock held; `proc::park_commit`:
/// CAS `Running -> Waiting`, then unlock). Whatever the interleaving, G0
/// ends up holding the mutex, running, readied at most once, and ordered
/// after everything G1 did in its critical section (the `guarded` cell).
///
/// Broken variant checked: releasing the lock in `park_commit` before the
/// status CAS lets the unlocker pop G0 while it is still `Running`; the
/// model then fails with `cas_status`'s "status Running, expected Waiting".
#[test]
fn park_ready_mutex_handoff() {
    model("park_ready_mutex_handoff", BOUND_TWO, || {
        let w = Arc::new(World::new(2, &[]));
        w.sema.state.lock().unwrap().held = true;

        let w1 = w.clone();
        let holder = thread::spawn(move || {
            // SAFETY: G1 holds the mutex; the handoff orders G0's access.
            w1.guarded.with_mut(|d| unsafe { *d = 1 });
            assert!(mutex_unlock(&w1).is_ok());
        });

        let r = mutex_lock(&w, 0);
        let (_, _, _, parked) = block_on(&w, 0, r, |()| (NIL, true, -1)).unwrap();
        // G0 holds the mutex now: it must see G1's write.
        // SAFETY: as above; loom checks the claim.
        w.guarded.with_mut(|d| unsafe {
            assert_eq!(*d, 1, "the mutex was handed over before G1 was done");
            *d = 2;
        });
        holder.join().unwrap();

        let st = w.sema.state.lock().unwrap();
        assert!(st.held && st.waiters.is_empty());
        drop(st);
        assert_settled(&w, &[parked as usize, 0]);
    });
}

/// (1b) The select wake-once claim: G0 selects on receiving from ch0 and
/// ch1 (capacity 1 each) while G1 sends 10 on ch0 and G2 sends 20 on ch1.
/// When G0 has parked, the two senders race for it: each pops G0's sudog
/// from its own channel (`chan::pop_claimed`) and tries the `sel_state` CAS
/// from the generation to generation|1 (`chan::claim`). Exactly one wins
/// and readies G0 with its value and case; the loser drops the stale sudog
/// and buffers its value instead (or `select_cleanup` removes the stale
/// sudog first). Checks: G0 got exactly one value, from the case it was
/// told; the other value is in its channel's buffer; G0 was readied at
/// most once (a second `ready` would also panic in `cas_status`); no sudog
/// is left behind.
///
/// Broken variants checked: a claim that loads `sel_state` and then stores
/// generation|1 (not one CAS) lets both senders win (double ready: the
/// model panics); a claim that ignores the generation (always wins) also
/// readies G0 twice.
#[test]
fn select_wake_once_two_wakers() {
    model("select_wake_once_two_wakers", BOUND_THREE, || {
        let w = Arc::new(World::new(3, &[1, 1]));
        let senders: Vec<_> = [(1usize, 0usize, 10u64), (2, 1, 20)]
            .into_iter()
            .map(|(g, ch, v)| {
                let w = w.clone();
                thread::spawn(move || {
                    // Capacity 1 and one send each: a sender never parks.
                    assert!(send(&w, g, ch, v).is_ok(), "a sender blocked");
                })
            })
            .collect();

        let cases = [
            Case {
                chan: 0,
                send: None,
            },
            Case {
                chan: 1,
                send: None,
            },
        ];
        let r = select(&w, 0, &cases);
        let (v, ok, case, parked) = block_on(&w, 0, r, |(i, v)| (v, true, i as i32)).unwrap();
        for s in senders {
            s.join().unwrap();
        }

        assert!(ok);
        assert_eq!(v, [10, 20][case as usize], "value from the wrong case");
        let mut left: Vec<u64> = w
            .chans
            .iter()
            .flat_map(|c| c.state.lock().unwrap().buf.clone())
            .collect();
        left.push(v);
        left.sort_unstable();
        assert_eq!(left, vec![10, 20], "a value was lost or duplicated");
        if parked {
            // Claimed exactly once: the generation (2) with bit 0 set.
            assert_eq!(w.gs[0].sel_state.load(Ordering::Relaxed), 3);
        }
        assert_settled(&w, &[parked as usize, 0, 0]);
    });
}

/// (1c) One waker, several waiters (`sync.WaitGroup`): G0 and G1 wait
/// (`sema::wg_wait`) while G2 calls `done()` (`sema::wg_add(-1)`) on a
/// counter of 1. Each waiter either sees zero at once or parks, and the
/// waker drains the whole wait list under the lock and readies each one
/// after unlocking. Here the waker's M runs what it readied (as it does
/// with `runnext`), so the parked G's state crosses threads: the resume
/// action the parking M wrote must be visible to the waker's M (loom
/// checks the `exec` cell). Checks: each waiter that parked is readied
/// exactly once (a double `ready` would also panic in `cas_status`) and
/// resumed once; no waiter is left queued or `Waiting`.
///
/// Broken variant checked: as in (1a), releasing the lock before the
/// status CAS in `park_commit` fails (`cas_status` panics).
#[test]
fn park_ready_waitgroup_two_waiters() {
    model("park_ready_waitgroup_two_waiters", BOUND_THREE, || {
        let w = Arc::new(World::new(3, &[]));
        w.sema.state.lock().unwrap().count = 1;

        // A waiter's M parks the G and moves on (`proc::schedule`).
        let waiter = |me: usize| {
            let w = w.clone();
            thread::spawn(move || match wg_wait(&w, me) {
                Ok(()) => false,
                Err(Flow::Park(pk)) => {
                    park_commit(&w, me, pk);
                    true
                }
                Err(Flow::Error(e)) => panic!("{e}"),
            })
        };
        let waiters = [waiter(0), waiter(1)];

        // The waker (G2 on the main thread), then its M runs every G it
        // readied.
        assert!(wg_add(&w, -1).is_ok());
        let readied: Vec<usize> = w.readied.lock().unwrap().clone();
        for &g in &readied {
            run_readied(&w, g);
        }

        let parked: Vec<usize> = waiters
            .into_iter()
            .map(|h| h.join().unwrap() as usize)
            .collect();
        let st = w.sema.state.lock().unwrap();
        assert!(st.count == 0 && st.waiters.is_empty());
        drop(st);
        assert_settled(&w, &[parked[0], parked[1], 0]);
    });
}

/// (1d) Two selects in a row: G0 runs the select of (1b) twice while G1
/// sends 10 on ch0 and G2 sends 20 on ch1 (capacity 1 each). After the
/// first wake-up the loser's stale sudog may still sit on its channel; it
/// is removed by `select_cleanup` before the second select starts, or
/// dropped by the loser's `pop_claimed` (the claim fails: bit 0 is set).
/// The second select then takes the loser's value from the buffer, or
/// parks under a new generation (4) and is claimed by the loser. Checks:
/// G0 receives both values, each once and from the right case; every park
/// was readied once; nothing is left in the buffers or queues.
///
/// Broken variant checked: a `select_cleanup` that removes nothing leaves
/// the stale sudog queued (the final check fails).
///
/// Finding (not a bug): because `select_cleanup` runs to completion before
/// the G can start another select, no stale sudog ever meets a newer
/// generation; a select that reused generation 2 every time still passes
/// this model. The generation counter is defence in depth, not something
/// the protocol currently relies on.
#[test]
fn select_twice_generations() {
    model("select_twice_generations", BOUND_SELECT_TWICE, || {
        let w = Arc::new(World::new(3, &[1, 1]));
        let senders: Vec<_> = [(1usize, 0usize, 10u64), (2, 1, 20)]
            .into_iter()
            .map(|(g, ch, v)| {
                let w = w.clone();
                thread::spawn(move || {
                    assert!(send(&w, g, ch, v).is_ok(), "a sender blocked");
                })
            })
            .collect();

        let cases = [
            Case {
                chan: 0,
                send: None,
            },
            Case {
                chan: 1,
                send: None,
            },
        ];
        let mut got = Vec::new();
        let mut parks = 0;
        for _ in 0..2 {
            let r = select(&w, 0, &cases);
            let (v, ok, case, parked) = block_on(&w, 0, r, |(i, v)| (v, true, i as i32)).unwrap();
            assert!(ok);
            assert_eq!(v, [10, 20][case as usize], "value from the wrong case");
            got.push(v);
            parks += parked as usize;
        }
        for s in senders {
            s.join().unwrap();
        }

        got.sort_unstable();
        assert_eq!(got, vec![10, 20], "a value was lost or duplicated");
        for c in &w.chans {
            assert!(c.state.lock().unwrap().buf.is_empty());
        }
        assert_settled(&w, &[parks, 0, 0]);
    });
}

/// (1e) A select woken through one channel while its other channel is
/// closed: G0 selects on receiving from ch0 (capacity 1) and ch1
/// (unbuffered) while G1 sends 10 on ch0 (it never parks) and G2 closes
/// ch1. Either G1's send or the close claims G0 (or G0's poll finds one of
/// them done); the other channel's sudog of G0 is then stale, and is taken
/// off its queue exactly once: by the close's drain (`chan::close` pops it
/// and its claim fails) or by G0's `select_cleanup` (unlinked by handle),
/// whichever comes first. Checks: G0 gets 10 from case 0 (and ch0's buffer
/// is empty) or the close from case 1 (and 10 is still buffered); G0 is
/// readied at most once; every select sudog queued is taken off exactly
/// once and the queues end empty (`assert_settled`).
///
/// Broken variant checked: a close that drains its receive queue without
/// the claim (popping and waking every sudog) readies G0 a second time when
/// G1's send has claimed it already (`cas_status` panics: "status
/// Runnable, expected Waiting").
///
/// Finding (not a bug): a `select_cleanup` that unlinks nothing still
/// passes this model, since each stale sudog here meets a later pop on its
/// channel (the other operation) that drops it; (1d) catches that
/// variant.
#[test]
fn select_woken_while_other_closes() {
    model("select_woken_while_other_closes", BOUND_THREE, || {
        let w = Arc::new(World::new(3, &[1, 0]));
        let w1 = w.clone();
        let sender =
            thread::spawn(move || assert!(send(&w1, 1, 0, 10).is_ok(), "a sender blocked"));
        let w2 = w.clone();
        let closer = thread::spawn(move || assert!(close(&w2, 1).is_ok()));

        let cases = [
            Case {
                chan: 0,
                send: None,
            },
            Case {
                chan: 1,
                send: None,
            },
        ];
        let r = select(&w, 0, &cases);
        let (v, _, case, parked) = block_on(&w, 0, r, |(i, v)| (v, true, i as i32)).unwrap();
        sender.join().unwrap();
        closer.join().unwrap();

        let buf: Vec<u64> = w.chans[0]
            .state
            .lock()
            .unwrap()
            .buf
            .iter()
            .copied()
            .collect();
        match case {
            0 => assert_eq!((v, buf), (10, vec![])),
            1 => assert_eq!((v, buf), (NIL, vec![10])),
            _ => panic!("case {case} fired"),
        }
        assert_settled(&w, &[parked as usize, 0, 0]);
    });
}

/// (1f) A stale sudog's node freed and reused before the cleanup: G0
/// selects on receiving from ch0 (capacity 1) and ch1 (unbuffered) while
/// G1 sends 10 on ch0 and then 20 on ch1; after G0 is done, G2 (on the
/// main thread too) receives from ch1. G0 always gets 10 (by claim, or
/// from the buffer at its poll). When G0 was claimed, its ch1 sudog is
/// stale, and G1's send of 20 may pop and drop it (freeing its node) and,
/// finding no receiver, park on ch1's send queue, its sudog taking that
/// very node (both queues share one slab, and its free list is last in,
/// first out) before G0 has run again. G0's `select_cleanup` then finds its
/// handle's node live with G1's sudog: the owner test (G, generation,
/// case) must leave it alone, so that G2 finds G1 and takes 20. Checks: G0
/// gets 10 from case 0; G2 gets 20; every park is readied once; every
/// select sudog is taken off its queue exactly once; the queues end empty.
///
/// Broken variant checked: a cleanup that unlinks whatever its handle's
/// node holds (owner test always true) takes G1's parked sudog off the
/// send queue through a handle of the receive queue; `WaitQueues`'
/// wrong-list assertion stops it (without that assertion, G2 would park
/// too and neither would ever be woken).
#[test]
fn select_stale_node_reused() {
    model("select_stale_node_reused", BOUND_TWO, || {
        let w = Arc::new(World::new(3, &[1, 0]));
        let w1 = w.clone();
        let sender = thread::spawn(move || {
            assert!(send(&w1, 1, 0, 10).is_ok(), "a buffered send blocked");
            let r = send(&w1, 1, 1, 20);
            let (_, ok, _, parked) = block_on(&w1, 1, r, |()| (NIL, true, -1)).unwrap();
            assert!(ok);
            parked
        });

        let cases = [
            Case {
                chan: 0,
                send: None,
            },
            Case {
                chan: 1,
                send: None,
            },
        ];
        let r = select(&w, 0, &cases);
        let (v, ok, case, parked) = block_on(&w, 0, r, |(i, v)| (v, true, i as i32)).unwrap();
        assert_eq!((v, ok, case), (10, true, 0));

        // G2, once G0 is done.
        let r = recv(&w, 2, 1);
        let (v, ok, _, rparked) = block_on(&w, 2, r, |(v, ok)| (v, ok, -1)).unwrap();
        let sparked = sender.join().unwrap();

        assert_eq!((v, ok), (20, true), "the receiver lost the value");
        assert_settled(&w, &[parked as usize, sparked as usize, rparked as usize]);
    });
}

// ---------------------------------------------------------------------------
// (2) Channels.

/// (2a) Unbuffered rendezvous: G0 sends 42 while G1 receives. Whichever
/// comes second finds the other's sudog under the lock and hands the value
/// over (`chan::send` to a waiting receiver, or `chan::recv` from a waiting
/// sender) and readies it; the first one parks (`proc::park_commit`). The
/// receiver always gets 42, the sender always completes with `ok`, and
/// exactly one of them was parked and readied once.
///
/// Broken variants checked: delivering after `ready` (swapping the two
/// lines in `chan::send`) lets the woken receiver read the stale `NIL`, and
/// so does a `cas_status` with `Relaxed` orderings (nothing then publishes
/// the relaxed `deliver` stores to the M that starts the G): the model
/// fails on the value assertion. Releasing the lock before the status CAS
/// in `park_commit` makes `cas_status` panic, as in (1a).
#[test]
fn chan_unbuffered_rendezvous() {
    model("chan_unbuffered_rendezvous", BOUND_TWO, || {
        let w = Arc::new(World::new(2, &[0]));
        let w0 = w.clone();
        let sender = thread::spawn(move || {
            let r = send(&w0, 0, 0, 42);
            let (_, ok, _, parked) = block_on(&w0, 0, r, |()| (NIL, true, -1)).unwrap();
            assert!(ok, "send reported a closed channel");
            parked
        });
        let r = recv(&w, 1, 0);
        let (v, ok, _, rparked) = block_on(&w, 1, r, |(v, ok)| (v, ok, -1)).unwrap();
        let sparked = sender.join().unwrap();

        assert_eq!((v, ok), (42, true), "receiver got the wrong value");
        assert!(sparked != rparked, "exactly one side parks");
        assert_settled(&w, &[sparked as usize, rparked as usize]);
    });
}

/// (2b) Close racing a parked receiver: G0 receives on an unbuffered
/// channel while G1 closes it. Either the receiver sees the channel closed
/// at once, or it parks and `chan::close` claims it under the lock,
/// delivers `(nil, false)` and readies it after unlocking. The receiver
/// always gets `(nil, false)`, is readied exactly once if it parked, and a
/// second close fails.
///
/// Broken variant checked: a close that sets `closed` without draining
/// `recvq` leaves the receiver parked forever (lost wake-up: loom reports
/// the spinning M exceeding its branch limit).
#[test]
fn chan_close_wakes_parked_receiver() {
    model("chan_close_wakes_parked_receiver", BOUND_TWO, || {
        let w = Arc::new(World::new(2, &[0]));
        let w1 = w.clone();
        let closer = thread::spawn(move || {
            assert!(close(&w1, 0).is_ok());
            assert!(matches!(close(&w1, 0), Err(Flow::Error(CLOSE_CLOSED))));
        });
        let r = recv(&w, 0, 0);
        let (v, ok, _, parked) = block_on(&w, 0, r, |(v, ok)| (v, ok, -1)).unwrap();
        closer.join().unwrap();

        assert_eq!((v, ok), (NIL, false), "receiver of a closed channel");
        assert_settled(&w, &[parked as usize, 0]);
    });
}

/// (2b') Close racing a sender and a receiver on one unbuffered channel
/// (three Gs): the receiver may be woken by the sender or by the close,
/// never both, and the two outcomes agree: the receiver gets 42 exactly
/// when the send succeeded; otherwise the receiver gets `(nil, false)` and
/// the sender fails with "Send on closed channel." (at once, or when the
/// close wakes it with `ok == false`, `Resume::Sent`).
#[test]
fn chan_close_races_send_and_recv() {
    model("chan_close_races_send_and_recv", BOUND_THREE, || {
        let w = Arc::new(World::new(3, &[0]));
        let w1 = w.clone();
        let sender = thread::spawn(move || {
            let r = send(&w1, 1, 0, 42);
            match block_on(&w1, 1, r, |()| (NIL, true, -1)) {
                Ok((_, ok, _, parked)) => (ok, parked),
                Err(e) => {
                    assert_eq!(e, SEND_CLOSED);
                    (false, false)
                }
            }
        });
        let w2 = w.clone();
        let closer = thread::spawn(move || assert!(close(&w2, 0).is_ok()));
        let r = recv(&w, 0, 0);
        let (v, ok, _, rparked) = block_on(&w, 0, r, |(v, ok)| (v, ok, -1)).unwrap();
        let (sent, sparked) = sender.join().unwrap();
        closer.join().unwrap();

        if sent {
            assert_eq!((v, ok), (42, true));
        } else {
            assert_eq!((v, ok), (NIL, false), "value of a failed send received");
        }
        assert_settled(&w, &[rparked as usize, sparked as usize, 0]);
    });
}

/// (2c) Buffered FIFO with capacity 1: G0 sends 1 then 2, G1 receives
/// twice. The second send may find the buffer full and park; a receiver
/// then takes the buffer's head and refills the tail from the parked
/// sender (`chan::take_from_sender`), so order is kept. The receiver may
/// park on an empty buffer too. G1 always receives `[1, 2]`, every send
/// completes with `ok`, and every park is matched by one `ready`.
///
/// Broken variant checked: returning the parked sender's value instead of
/// the buffer's head (the unbuffered rule) yields `[2, 1]`.
#[test]
fn chan_buffered_fifo_cap1() {
    model("chan_buffered_fifo_cap1", BOUND_TWO, || {
        let w = Arc::new(World::new(2, &[1]));
        let w0 = w.clone();
        let sender = thread::spawn(move || {
            let mut parks = 0;
            for v in [1, 2] {
                let r = send(&w0, 0, 0, v);
                let (_, ok, _, parked) = block_on(&w0, 0, r, |()| (NIL, true, -1)).unwrap();
                assert!(ok);
                parks += parked as usize;
            }
            parks
        });
        let mut got = Vec::new();
        let mut rparks = 0;
        for _ in 0..2 {
            let r = recv(&w, 1, 0);
            let (v, ok, _, parked) = block_on(&w, 1, r, |(v, ok)| (v, ok, -1)).unwrap();
            assert!(ok);
            got.push(v);
            rparks += parked as usize;
        }
        let sparks = sender.join().unwrap();

        assert_eq!(got, vec![1, 2], "FIFO order broken");
        assert!(w.chans[0].state.lock().unwrap().buf.is_empty());
        assert_settled(&w, &[sparks, rparks]);
    });
}

// ---------------------------------------------------------------------------
// (3) Stop the world (`stw.rs`, `proc.rs`).

/// `mod.rs`'s `PStatus` values.
const P_IDLE: u32 = 0;
const P_RUNNING: u32 = 1;
const P_STOPPED: u32 = 2;
const P_HANDED_OFF: u32 = 4;

/// Ps in the model: P0 runs the stopper, P1 runs a G on M1, P2 is idle and
/// M2 tries to take it (`startm` after a `wakep`).
const PROCS: usize = 3;

/// `mod.rs`'s `P`, reduced.
struct P {
    status: AtomicU32,
    preempt: AtomicBool,
    /// `P::local` (allocation cache, free Gs, trace buffer): only the P's
    /// owner may touch it; loom reports any access not ordered after the
    /// previous owner's.
    local: UnsafeCell<u64>,
}

impl P {
    fn new(status: u32) -> P {
        P {
            status: AtomicU32::new(status),
            preempt: AtomicBool::new(false),
            local: UnsafeCell::new(0),
        }
    }

    /// `P::status`.
    fn status(&self) -> u32 {
        self.status.load(Ordering::Acquire)
    }

    /// `P::set_status`.
    fn set_status(&self, s: u32) {
        self.status.store(s, Ordering::Release);
    }

    /// The owner uses the P's local state (a safepoint's allocation, a
    /// `find_runnable` step). The owner must hold the P.
    fn touch(&self) {
        assert_eq!(self.status(), P_RUNNING, "an M used a P it does not hold");
        // SAFETY: the caller owns the P (it is Running on its M); loom
        // checks that claim.
        self.local.with_mut(|x| unsafe { *x += 1 });
    }
}

/// `mod.rs`'s `Locked`, reduced (G ids on the global queue).
#[derive(Default)]
struct Locked {
    runq: VecDeque<u32>,
    pidle: Vec<u32>,
    stopwait: i32,
}

/// `mod.rs`'s `Sched`, reduced.
struct Sched {
    ps: Vec<P>,
    lock: Mutex<Locked>,
    stop_cond: Condvar,
    gcwaiting: AtomicBool,
    npidle: AtomicU32,
    /// `Sched::stopwait_left`: `Locked::stopwait`'s lock-free mirror,
    /// stored under the lock at every change.
    stopwait_left: AtomicI32,
}

impl Sched {
    /// `Sched::lock.lock()`, checking the invariants every critical section
    /// starts with: the idle list is empty while a stop is pending (so
    /// nobody can take a P from it), `npidle` mirrors it, and `stopwait`
    /// never goes negative.
    fn lock(&self) -> MutexGuard<'_, Locked> {
        let l = self.lock.lock().unwrap();
        if self.gcwaiting.load(Ordering::Relaxed) {
            assert!(l.pidle.is_empty(), "a P is idle while the world stops");
        }
        assert_eq!(self.npidle.load(Ordering::Relaxed) as usize, l.pidle.len());
        assert!(l.stopwait >= 0, "stopwait went negative");
        l
    }
}

/// `proc::pidleget`: no P leaves the idle list while a stop is pending.
fn pidleget(s: &Sched, l: &mut Locked) -> Option<u32> {
    if s.gcwaiting.load(Ordering::Acquire) {
        return None;
    }
    let id = l.pidle.pop()?;
    s.npidle.fetch_sub(1, Ordering::AcqRel);
    s.ps[id as usize].set_status(P_RUNNING);
    Some(id)
}

/// `proc::pidleput`.
fn pidleput(s: &Sched, l: &mut Locked, p: u32) {
    s.ps[p as usize].set_status(P_IDLE);
    l.pidle.push(p);
    s.npidle.fetch_add(1, Ordering::AcqRel);
}

/// `proc::gcstopm` (the spinning count is not modelled), through
/// `stw::p_stopped`.
fn gcstopm(s: &Sched, p: u32) {
    let mut l = s.lock();
    s.ps[p as usize].set_status(P_STOPPED);
    l.stopwait -= 1;
    s.stopwait_left.store(l.stopwait, Ordering::Release);
    if l.stopwait == 0 {
        s.stop_cond.notify_all();
    }
}

/// `stw::stop_the_world`, by the G running on P `own`. The real wait has a
/// 200 µs timeout to re-arm preempt flags; loom's timed wait never times
/// out, so the model also proves the notification alone suffices. The
/// real spin (up to 100 µs on the mirror, with the lock released) is one
/// look here: loom tries it both before and after the last stop, and a
/// stopper that sees zero returns without the lock.
fn stop_the_world(s: &Sched, own: u32) {
    let mut l = s.lock();
    s.gcwaiting.store(true, Ordering::SeqCst);
    l.stopwait = PROCS as i32;
    if (own as usize) < PROCS {
        l.stopwait -= 1;
    }
    for id in std::mem::take(&mut l.pidle) {
        s.ps[id as usize].set_status(P_STOPPED);
        s.npidle.fetch_sub(1, Ordering::AcqRel);
        if (id as usize) < PROCS {
            l.stopwait -= 1;
        }
    }
    for i in 0..PROCS as u32 {
        let p = &s.ps[i as usize];
        if i == own {
            continue;
        }
        match p.status() {
            P_RUNNING => p.preempt.store(true, Ordering::Release),
            P_HANDED_OFF => {
                if claim_handed_off(p, P_STOPPED) {
                    l.stopwait -= 1;
                } else {
                    p.preempt.store(true, Ordering::Release);
                }
            }
            P_IDLE => {
                p.set_status(P_STOPPED);
                l.stopwait -= 1;
            }
            _ => {}
        }
    }
    s.stopwait_left.store(l.stopwait, Ordering::Release);
    if l.stopwait > 0 {
        drop(l);
        if s.stopwait_left.load(Ordering::Acquire) == 0 {
            return;
        }
        l = s.lock();
    }
    while l.stopwait > 0 {
        l = s
            .stop_cond
            .wait_timeout(l, Duration::from_micros(200))
            .unwrap()
            .0;
        for i in 0..PROCS as u32 {
            let p = &s.ps[i as usize];
            if i == own {
                continue;
            }
            match p.status() {
                P_RUNNING => p.preempt.store(true, Ordering::Release),
                P_HANDED_OFF if claim_handed_off(p, P_STOPPED) => l.stopwait -= 1,
                _ => {}
            }
        }
        s.stopwait_left.store(l.stopwait, Ordering::Release);
    }
}

/// `P::cas_status(HandedOff, to)`: the M that was handed the P (`to` =
/// running) and a stopper (`to` = stopped) race for it; one wins.
fn claim_handed_off(p: &P, to: u32) -> bool {
    p.status
        .compare_exchange(P_HANDED_OFF, to, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// `stw::start_the_world`. No P has local work in the model, so every
/// stopped P goes back on the idle list (`startm` for Ps with work and the
/// final `wakep` are not modelled).
fn start_the_world(s: &Sched, own: u32) {
    let mut l = s.lock();
    s.gcwaiting.store(false, Ordering::SeqCst);
    for i in 0..PROCS as u32 {
        let p = &s.ps[i as usize];
        if i == own || p.status() != P_STOPPED {
            continue;
        }
        p.set_status(P_IDLE);
        l.pidle.push(i);
        s.npidle.fetch_add(1, Ordering::AcqRel);
    }
}

/// What `proc::find_runnable` returns.
enum Found {
    /// A G to run (on the P it names: the search may have changed P).
    G(u32, u32),
    Retry,
    Released,
}

/// `proc::find_runnable`, reduced to one P's view: timers and stealing are
/// not modelled (the P's local state is touched where `find_local` would
/// run its timers). `recheck` stands for the "a G was readied just before
/// the P went idle" case: the M takes a P back once.
fn find_runnable(s: &Sched, p: &mut u32, recheck: &mut bool) -> Found {
    loop {
        if s.gcwaiting.load(Ordering::Acquire) {
            return Found::Retry;
        }
        // `find_local`: timers (the P's local state), then the global queue.
        s.ps[*p as usize].touch();
        if let Some(g) = s.lock().runq.pop_front() {
            return Found::G(g, *p);
        }
        // Nothing: give the P back.
        {
            let mut l = s.lock();
            if s.gcwaiting.load(Ordering::Acquire) {
                return Found::Retry;
            }
            if let Some(g) = l.runq.pop_front() {
                return Found::G(g, *p);
            }
            pidleput(s, &mut l, *p);
        }
        if std::mem::take(recheck) {
            let mut l = s.lock();
            if let Some(pid) = pidleget(s, &mut l) {
                drop(l);
                *p = pid;
                continue;
            }
        }
        return Found::Released;
    }
}

/// `proc::execute` + `proc::after_run` for a G that runs `chunks` chunks:
/// after each, the safepoint checks `gcwaiting` and the preempt flag and,
/// if either is set, puts the G on the global queue (`globrunqput`).
fn execute(s: &Sched, p: u32, g: u32, chunks: usize) {
    for _ in 0..chunks {
        s.ps[p as usize].touch();
        if s.gcwaiting.load(Ordering::Acquire)
            || s.ps[p as usize].preempt.swap(false, Ordering::AcqRel)
        {
            s.lock().runq.push_back(g);
            return;
        }
    }
    // `goexit`: the G is done.
}

/// `proc::schedule` on P `p`, running a found G for one chunk.
fn schedule(s: &Sched, mut p: u32, mut recheck: bool) {
    loop {
        if s.gcwaiting.load(Ordering::Acquire) {
            gcstopm(s, p);
            return;
        }
        match find_runnable(s, &mut p, &mut recheck) {
            Found::G(g, on) => {
                p = on;
                execute(s, p, g, 1);
            }
            Found::Retry => continue,
            Found::Released => return,
        }
    }
}

/// (3) The stop-the-world handshake. The stopper (a G on P0, the main
/// thread) runs `stw::stop_the_world`, then uses every P's local state (as
/// `flush_all` does), then `stw::start_the_world`. Meanwhile M1 holds P1
/// and runs a G for two chunks, polling `gcwaiting` and its preempt flag
/// at each safepoint, and then schedules (it may give P1 back and take a P
/// again, or stop in `proc::gcstopm`); M2 holds no P and tries to start
/// one (`proc::startm` → `pidleget` → `HandedOff` → `mstart` claims it by
/// CAS → `schedule`), racing the stopper, which claims a handed-off P
/// itself.
///
/// Checks: when `stop_the_world` returns every other P is `Stopped` and the
/// idle list is empty; the stopper's use of each P's local state is ordered
/// after every M's last use (loom's cell tracking: an M still running on a
/// P would be a reported race); no M touches a P it does not hold; while
/// `gcwaiting` is set the idle list stays empty (checked at every lock), so
/// no P can start running; `stopwait` never goes negative; the stopper
/// never waits forever (loom reports a deadlock).
///
/// Broken variants checked: an M that takes its handed-off P without the
/// CAS (a plain store of `Running`) uses a P the stopper has already
/// stopped (the ownership assertion in `P::touch` fails); dropping the
/// `gcwaiting` re-check under the
/// lock in `find_runnable`'s give-back path lets M1 put a P the stopper
/// counted as running on the idle list (the invariant fails, or the stopper
/// waits forever); a stopper that returns one stop early (`stopwait > 1`)
/// uses P1's state while M1 still does (loom reports the race); a
/// `gcstopm` that does not notify leaves the stopper waiting (loom reports
/// a deadlock; the real 200 µs timeout would only hide it); a `gcstopm`
/// whose store of the mirror `stopwait_left` is relaxed lets a stopper
/// that returns on the mirror, without the lock, use P1's state unordered
/// after M1's last use (loom reports the race).
///
/// Finding (not a bug): removing `pidleget`'s `gcwaiting` check does not
/// break this model. `stop_the_world` empties the idle list under the lock
/// in the same critical section that sets `gcwaiting`, and every path that
/// puts a P back on the list re-checks `gcwaiting` under the lock first, so
/// the list is empty whenever the flag is set (the invariant `Sched::lock`
/// asserts) and the check in `pidleget` is defence in depth.
#[test]
fn stop_the_world_handshake() {
    model("stop_the_world_handshake", BOUND_THREE, || {
        let s = Arc::new(Sched {
            ps: vec![P::new(P_RUNNING), P::new(P_RUNNING), P::new(P_IDLE)],
            lock: Mutex::new(Locked {
                pidle: vec![2],
                ..Locked::default()
            }),
            stop_cond: Condvar::new(),
            stopwait_left: AtomicI32::new(0),
            gcwaiting: AtomicBool::new(false),
            npidle: AtomicU32::new(1),
        });

        // M1: holds P1, runs G 7 for two chunks, then schedules (taking a P
        // back once, as if a G had been readied as it went idle).
        let s1 = s.clone();
        let m1 = thread::spawn(move || {
            execute(&s1, 1, 7, 2);
            schedule(&s1, 1, true);
        });

        // M2: `startm(None)` hands it an idle P (`HandedOff`) if the
        // world allows it; when its thread wakes (`mstart`) it claims the
        // P, unless the stopper claimed it first.
        let s2 = s.clone();
        let m2 = thread::spawn(move || {
            let pid = {
                let mut l = s2.lock();
                let pid = pidleget(&s2, &mut l);
                if let Some(pid) = pid {
                    s2.ps[pid as usize].set_status(P_HANDED_OFF);
                }
                pid
            };
            if let Some(pid) = pid {
                if claim_handed_off(&s2.ps[pid as usize], P_RUNNING) {
                    schedule(&s2, pid, false);
                }
            }
        });

        stop_the_world(&s, 0);
        // `flush_all`: the stopper owns every P's local state. It uses it
        // before it takes the scheduler lock again, as the real stopper
        // does, so only `stop_the_world`'s own synchronisation orders the
        // use after the Ms' (a stopper that returned on a relaxed mirror
        // would race here).
        for p in &s.ps {
            // SAFETY: the world is stopped; loom checks that claim.
            p.local.with_mut(|x| unsafe { *x += 1 });
        }
        {
            let l = s.lock();
            assert_eq!(l.stopwait, 0);
            assert!(l.pidle.is_empty());
            for i in 1..PROCS {
                assert_eq!(s.ps[i].status(), P_STOPPED, "P{i} runs after the stop");
            }
        }
        start_the_world(&s, 0);

        m1.join().unwrap();
        m2.join().unwrap();
        assert!(!s.gcwaiting.load(Ordering::Relaxed));
    });
}
