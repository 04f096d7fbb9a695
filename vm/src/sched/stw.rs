//! Stopping and starting the world (the collector's two pauses call these
//! from `gc::coord`), and the runtime operations that stop it here:
//! `memstats`, `gomaxprocs`, starting and stopping a trace.
//!
//! Stop the world (the caller holds `worldsema` and runs on its own P):
//! 1. Under the scheduler lock, set `gcwaiting` and count the Ps to stop
//!    (`stopwait`). Idle Ps are taken off the idle list and marked
//!    `Stopped` at once; every running P gets its preempt flag set.
//!    A P handed to an M that has not woken up yet (`HandedOff`) is
//!    claimed by CAS and stopped at once: waiting for the thread to wake
//!    only for it to stop costs a wake-up latency, measured at
//!    milliseconds on a busy 2-core machine (Go waits; here it was the
//!    longest pause). The M that loses the CAS goes back to sleep.
//! 2. Each running M notices `gcwaiting` at its next safepoint (the
//!    interpreter polls the preempt flag every 256 safepoints and at every
//!    allocation check, so a bounded amount of work away), puts its G back
//!    on a run queue, marks its P `Stopped`, decrements `stopwait`, and the
//!    last one signals the stopper. No P can be taken from the idle list
//!    meanwhile.
//! 3. The stopper now owns every P's local state.
//!
//! Start the world: clear `gcwaiting`; Ps with work get an M (`startm`),
//! the rest go back on the idle list; `wakep` covers the global queue.
//!
//! In deterministic mode only the P being stepped is running, so every
//! other P is stopped at once.
//!
//! Invariant: between stop and start, no goroutine runs and no M touches a
//! P's local state other than the stopper.

use std::sync::atomic::Ordering;

use super::park::Flow;
use super::{proc, PStatus};
use crate::trace::{Arg, EventKind, Key};
use crate::Ctx;

/// How long the stopper spins for the Ps to stop before it sleeps.
const STOP_SPIN: std::time::Duration = std::time::Duration::from_micros(100);

/// How often a sleeping stopper wakes to re-arm the preempt flags (a P may
/// have been between Gs when they were first set): twice the spin, so a
/// missed flag costs at most a fraction of a millisecond.
const STOP_REARM: std::time::Duration = std::time::Duration::from_micros(200);

/// Stops every P but the caller's. The caller holds `worldsema`.
pub fn stop_the_world(cx: &mut Ctx, reason: &'static str) {
    cx.trace(EventKind::STWStart, &[(Key::REASON, Arg::S(reason))]);
    let s = &cx.rt.sched;
    let mut l = s.lock.lock();
    s.gcwaiting.store(true, Ordering::SeqCst);
    let procs = s.procs();
    l.stopwait = procs as i32;
    if (cx.p().id as usize) < procs {
        l.stopwait -= 1;
    }
    for id in std::mem::take(&mut l.pidle) {
        debug_assert_ne!(id, cx.p().id, "the stopper's P is not idle");
        s.p(id).set_status(PStatus::Stopped);
        s.npidle.fetch_sub(1, Ordering::AcqRel);
        if (id as usize) < procs {
            l.stopwait -= 1;
        }
    }
    for i in 0..procs as u32 {
        let p = s.p(i);
        if i == cx.p().id {
            continue;
        }
        match p.status() {
            PStatus::Running if s.is_sim() => {
                // Not really running: the driver steps one P at a time.
                p.set_status(PStatus::Stopped);
                l.stopwait -= 1;
            }
            PStatus::Idle => {
                p.set_status(PStatus::Stopped);
                l.stopwait -= 1;
            }
            _ => {
                if stop_or_preempt(p) {
                    l.stopwait -= 1;
                }
            }
        }
    }
    s.stopwait_left.store(l.stopwait, Ordering::Release);
    // Running Ms stop within a few tens of microseconds (the interpreter
    // polls every 256 safepoints), so spin that long before sleeping: a
    // sleeping stopper's own wake-up, once the last P has stopped, was
    // measured at up to 1.6 ms on a busy 2-core machine, all of it pause.
    // The spin watches the lock-free mirror with the lock released: each
    // M on its way to stop takes the lock twice (to queue its G, then to
    // stop its P), and one that found the lock held by a spinning stopper
    // slept on it until a wake-up reached it (1.6 ms from a preemption to
    // its stop in one traced mark termination).
    //
    // When the spin sees the last P stop, the stopper returns without
    // taking the lock again: the last M stores the mirror's zero while it
    // still holds the lock, and a stopper that then waited for that lock
    // slept in the kernel and woke up to 675 µs later (one mark
    // termination in forty gc_latency runs). The mirror's release store
    // follows everything that M did with its P (its barrier buffer flush,
    // the `Stopped` status), and the stopper's acquire load sees it.
    if l.stopwait > 0 {
        let spin_until = std::time::Instant::now() + STOP_SPIN;
        drop(l);
        while s.stopwait_left.load(Ordering::Acquire) > 0 && std::time::Instant::now() < spin_until
        {
            std::hint::spin_loop();
        }
        if s.stopwait_left.load(Ordering::Acquire) == 0 {
            return;
        }
        l = s.lock.lock();
    }
    while l.stopwait > 0 {
        // Wake up now and then to re-arm preempt flags (a P may have been
        // between Gs when they were first set).
        s.stop_cond.wait_for(&mut l, STOP_REARM);
        for i in 0..procs as u32 {
            if i != cx.p().id && stop_or_preempt(s.p(i)) {
                l.stopwait -= 1;
            }
        }
        s.stopwait_left.store(l.stopwait, Ordering::Release);
    }
}

/// Counts P `p`, stopped by its own M (or by whoever took it from a system
/// call), against the pending stop-the-world: sets it `Stopped` and wakes
/// the stopper if it was the last. `l` is the scheduler lock's guard.
pub(crate) fn p_stopped(s: &super::Sched, l: &mut super::Locked, p: &super::P) {
    p.set_status(PStatus::Stopped);
    l.stopwait -= 1;
    s.stopwait_left.store(l.stopwait, Ordering::Release);
    if l.stopwait == 0 {
        s.stop_cond.notify_all();
    }
}

/// Asks another P to stop (real mode): a running P gets its preempt flag;
/// a P handed to an M that has not begun to run it (possibly after the
/// stop began: `start_the_world` wakes Ms after releasing the lock) is
/// claimed and stopped here, unless its M claimed it first. True when it
/// was stopped here.
fn stop_or_preempt(p: &super::P) -> bool {
    match p.status() {
        PStatus::HandedOff if p.cas_status(PStatus::HandedOff, PStatus::Stopped) => true,
        // Its M is in a system call and runs no Gs: claim it (the M, back
        // from the call, finds it taken and looks for another P).
        PStatus::Syscall if p.claim_syscall() => {
            p.set_status(PStatus::Stopped);
            true
        }
        PStatus::Running | PStatus::HandedOff | PStatus::Syscall => {
            p.preempt.store(true, Ordering::Release);
            false
        }
        PStatus::Idle | PStatus::Stopped | PStatus::Dead => false,
    }
}

/// Restarts the Ps stopped by `stop_the_world`. Returns when the world
/// was released (`gcwaiting` cleared, every P idle or given to an M): the
/// end of the pause. Waking the Ms of Ps with work comes after; it can
/// delay the caller (a woken thread may preempt it on its CPU) without
/// keeping anyone else stopped.
pub fn start_the_world(cx: &mut Ctx, reason: &'static str) -> u64 {
    let s = &cx.rt.sched;
    let mut to_start = Vec::new();
    {
        let mut l = s.lock.lock();
        s.gcwaiting.store(false, Ordering::SeqCst);
        for i in 0..s.procs() as u32 {
            let p = s.p(i);
            if i == cx.p().id || p.status() != PStatus::Stopped {
                continue;
            }
            let has_work = !p.runq.is_empty() || p.next_timer.load(Ordering::Acquire) != u64::MAX;
            if s.is_sim() {
                p.set_status(PStatus::Idle);
            } else if has_work {
                p.set_status(PStatus::Running);
                to_start.push(i);
            } else {
                p.set_status(PStatus::Idle);
                l.pidle.push(i);
                s.npidle.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
    let released = s.clock_ns();
    cx.trace(EventKind::STWDone, &[(Key::REASON, Arg::S(reason))]);
    for id in to_start {
        proc::startm(cx.rt, Some(id), false);
    }
    // Gs preempted into the global queue need a P; with none queued, waking
    // an M would only make it look around and park again (under gcstress,
    // once per allocation).
    if s.runq_len.load(Ordering::Acquire) > 0 {
        proc::wakep(cx.rt);
    }
    released
}

/// Flushes every P's allocation counts, the outside P's included (world
/// stopped).
pub(crate) fn flush_all(cx: &mut Ctx) {
    let s = &cx.rt.sched;
    for p in s.all_created() {
        // SAFETY: the world is stopped; the stopper owns every P's state.
        unsafe { p.local() }.mc.flush(cx.rt);
    }
    let _outside = s.outside_lock.lock();
    // SAFETY: the outside P's state is guarded by the lock held here.
    unsafe { s.outside_p.local() }.mc.flush(cx.rt);
}

/// Takes `worldsema` or parks the G to retry its call.
fn acquire_world(cx: &mut Ctx) -> Result<(), Flow> {
    cx.rt.sched.worldsema.acquire(cx)
}

/// Go's `stopTheWorldGC` prologue: takes `gcsema` (waiting for any cycle
/// in progress to end), finishes the sweep, then takes `worldsema`. If
/// `worldsema` is busy, `gcsema` is given back before parking, so the
/// retried call starts over.
fn acquire_gc_and_world(cx: &mut Ctx) -> Result<(), Flow> {
    let s = &cx.rt.sched;
    s.gcsema.acquire(cx)?;
    crate::gc::sweep::finish(cx);
    if let Err(f) = s.worldsema.acquire(cx) {
        s.gcsema.release(cx);
        return Err(f);
    }
    Ok(())
}

/// Releases what `acquire_gc_and_world` took.
fn release_gc_and_world(cx: &mut Ctx) {
    cx.rt.sched.worldsema.release(cx);
    cx.rt.sched.gcsema.release(cx);
}

/// `runtime.memstats()`: stops the world (worldsema only) for exact counts.
pub fn memstats(cx: &mut Ctx) -> Result<Vec<(&'static str, f64)>, Flow> {
    acquire_world(cx)?;
    stop_the_world(cx, "memstats");
    flush_all(cx);
    let retired = crate::gc::coord::RetiredBlocks::take(cx);
    let stats = cx.rt.memstats();
    start_the_world(cx, "memstats");
    retired.free();
    cx.rt.sched.worldsema.release(cx);
    Ok(stats)
}

/// `runtime.gomaxprocs(n)`: sets the number of Ps, returns the previous.
pub fn gomaxprocs(cx: &mut Ctx, n: usize) -> Result<usize, Flow> {
    let s = &cx.rt.sched;
    let old = s.procs();
    if n > super::MAX_PROCS {
        return Err(Flow::Error(format!(
            "gomaxprocs() expects at most {} processors.",
            super::MAX_PROCS
        )));
    }
    if n == 0 || n == old {
        return Ok(old);
    }
    acquire_gc_and_world(cx)?;
    stop_the_world(cx, "gomaxprocs");
    resize(cx, n);
    start_the_world(cx, "gomaxprocs");
    release_gc_and_world(cx);
    Ok(old)
}

/// Changes the number of Ps (world stopped). Ps beyond `n` hand their run
/// queues to the global queue, their timers and objects to P0; when the
/// caller's own P goes, the caller continues on P0.
fn resize(cx: &mut Ctx, n: usize) {
    let s = &cx.rt.sched;
    let old = s.procs();
    for i in old..n {
        let p = s.ensure_p(i, cx.rt.seed);
        p.set_status(PStatus::Stopped);
    }
    if n < old {
        let p0 = s.p(0);
        for i in n..old {
            let p = s.p(i as u32);
            if i as u32 != cx.p().id {
                // Deterministic mode: a G in the middle of its slice on a
                // P that goes away continues elsewhere, and the P's mark
                // work goes to the global list.
                // SAFETY: the world is stopped; the stopper owns the P.
                let l = unsafe { p.local() };
                if let Some(g) = l.curg.take() {
                    g.cas_status(super::Status::Running, super::Status::Runnable);
                    proc::globrunqput(cx.rt, g);
                }
                let work = std::mem::take(&mut l.gcw);
                cx.rt.gc.put_work(work);
                p.nopreempt.store(0, Ordering::Release);
            }
            let drained = p.runq.drain();
            if !drained.is_empty() {
                cx.trace(
                    crate::trace::EventKind::RunqDrain,
                    &[
                        (Key::N, crate::trace::Arg::U(drained.len() as u64)),
                        (Key::P, crate::trace::Arg::U(u64::from(p.id))),
                    ],
                );
            }
            for g in drained {
                proc::globrunqput(cx.rt, super::GRef(g));
            }
            {
                let mut from = p.timers.lock();
                let mut to = p0.timers.lock();
                from.move_into(&mut to);
                p.next_timer.store(u64::MAX, Ordering::Release);
                p0.next_timer.store(to.earliest(), Ordering::Release);
            }
            if i as u32 != cx.p().id {
                // SAFETY: the world is stopped; the stopper owns both Ps'
                // local state, and they are distinct.
                let (from, to) = unsafe { (p.local(), p0.local()) };
                to.mc.absorb(&cx.rt.heap, &mut from.mc);
                s.gfree.lock().append(&mut from.gfree);
                p.set_status(PStatus::Dead);
            }
        }
        if cx.p().id as usize >= n {
            let own = cx.p();
            // SAFETY: as above; `own` is distinct from P0 (0 < n).
            let (from, to) = unsafe { (own.local(), p0.local()) };
            // Deterministic mode: the G in the middle of its slice on P0
            // makes way for the caller, which continues there (the driver
            // would otherwise overwrite P0's current G with the caller).
            // No mark worker can be there: the caller holds `gcsema`.
            if let Some(g) = to.curg.take() {
                g.cas_status(super::Status::Running, super::Status::Runnable);
                proc::globrunqput(cx.rt, g);
            }
            to.mc.absorb(&cx.rt.heap, &mut from.mc);
            s.gfree.lock().append(&mut from.gfree);
            own.set_status(PStatus::Dead);
            p0.set_status(PStatus::Running);
            // SAFETY: the world is stopped and P0 was handed over above:
            // the caller owns it from here on.
            unsafe { cx.set_p(p0) };
        }
    }
    s.nprocs.store(n, Ordering::Release);
}

/// `runtime.trace_start(path)`: records from here to `trace_stop()`, when
/// the trace is written to `path` in the form its name asks for
/// (`trace::Format::for_path`). A `.sktrace` file is written as the run
/// goes; other forms are spooled to an unnamed temporary file and
/// converted at `trace_stop()`, so the recording's memory stays bounded.
pub fn trace_start(cx: &mut Ctx, path: String) -> Result<(), Flow> {
    let s = &cx.rt.sched;
    if s.tracing.load(Ordering::Relaxed) {
        return Ok(());
    }
    let file = if crate::trace::Format::for_path(std::path::Path::new(&path))
        == crate::trace::Format::Binary
    {
        crate::trace::sink::open_trace_file(std::path::Path::new(&path))
    } else {
        tempfile::tempfile()
    };
    let file =
        file.map_err(|e| Flow::Error(format!("trace_start(): cannot write '{path}': {e}.")))?;
    acquire_gc_and_world(cx)?;
    stop_the_world(cx, "trace_start");
    let s = &cx.rt.sched;
    if !s.tracing.load(Ordering::Relaxed) {
        s.trace_begin(crate::trace::Destination::File(file));
        *s.trace_path.lock() = Some(path);
    }
    start_the_world(cx, "trace_start");
    release_gc_and_world(cx);
    Ok(())
}

/// `runtime.trace_stop()`: writes the trace started by `trace_start`.
pub fn trace_stop(cx: &mut Ctx) -> Result<(), Flow> {
    acquire_gc_and_world(cx)?;
    stop_the_world(cx, "trace_stop");
    let s = &cx.rt.sched;
    let path = s.trace_path.lock().take();
    let recording = match &path {
        Some(_) => s.trace_end(Some(cx.p().id)),
        None => None,
    };
    start_the_world(cx, "trace_stop");
    release_gc_and_world(cx);
    let (Some(path), Some(recording)) = (path, recording) else {
        return Ok(());
    };
    let format = crate::trace::Format::for_path(std::path::Path::new(&path));
    let written = recording.and_then(|rec| {
        if format == crate::trace::Format::Binary {
            // Written as the run went.
            return Ok(());
        }
        let mut reader = crate::trace::Reader::open(rec.into_stream()?)?;
        let mut f = std::fs::File::create(&path)?;
        crate::trace::write(&mut reader, format, &mut f)
    });
    written.map_err(|e| Flow::Error(format!("trace_stop(): cannot write '{path}': {e}.")))
}

/// `runtime.trace_snapshot(path)`: writes what the flight recorder holds
/// (`--trace-flight`) to `path`, in the form its name asks for, and keeps
/// recording.
pub fn trace_snapshot(cx: &mut Ctx, path: String) -> Result<(), Flow> {
    if !cx.rt.sched.trace_sink.is_flight() {
        return Err(Flow::Error(
            "trace_snapshot() needs the flight recorder (run with --trace-flight SIZE).".into(),
        ));
    }
    acquire_world(cx)?;
    stop_the_world(cx, "trace_snapshot");
    let image = cx.rt.sched.trace_flight_image(Some(cx.p().id));
    start_the_world(cx, "trace_snapshot");
    cx.rt.sched.worldsema.release(cx);
    let Some(image) = image else {
        return Ok(());
    };
    crate::trace::write_image(&image, std::path::Path::new(&path))
        .map_err(|e| Flow::Error(format!("trace_snapshot(): cannot write '{path}': {e}.")))
}
