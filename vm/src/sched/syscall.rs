//! Blocking system calls (Go's `entersyscall` / `exitsyscall`, sysmon's
//! `retake` and `handoffp`).
//!
//! A native that may block in the kernel for long (reading stdin, a pipe,
//! a FIFO, a file) returns [`Flow::Syscall`](super::park::Flow) with a
//! [`Syscall`]: the blocking call, which owns everything it needs and
//! touches no heap object, and a `finish` function that turns the call's
//! output into the native's result. The goroutine leaves the interpreter
//! first, so nothing borrows its stack while the call blocks.
//!
//! One system call, step by step ([`run`]):
//! 1. `entersyscall`: the M flushes its write-barrier buffer (it runs no
//!    barrier until the call returns, so its P counts as acknowledged for
//!    the ragged barrier), traces `GoSyscall`, moves the G to
//!    `Status::Syscall` (the collector may scan its stack now) and its P to
//!    `PStatus::Syscall`, and wakes sysmon if it sleeps longer than the
//!    retake delay.
//! 2. The call runs on the M, which holds no P in any useful sense: nobody
//!    runs Gs on the P while it is in the syscall state.
//! 3. Sysmon ([`retake`]) takes a P that has been in a syscall for longer
//!    than [`RETAKE_NS`] (it claims the P's `syscall_owner` word by CAS,
//!    traces `ProcSteal`) and hands it off: to an M when it has work (its
//!    run queue, the global queue, a timer), else to the idle list. A
//!    stopper claims such a P the same way and stops it.
//! 4. `exitsyscall`: the M takes its P back by CAS on the claim word (the
//!    fast path), or else an idle P; either way the G runs on at
//!    once (`GoSysExit` when it resumes). With no P to be had the G goes
//!    to the global queue, runnable, and the M gives up (it parks as an
//!    idle M).
//! 5. When the G resumes, the interpreter calls `finish` with the call's
//!    output (`Resume::Syscall`), on whatever P the G then holds.
//!
//! In deterministic mode the call runs at once and takes no virtual time:
//! runs stay reproducible for the same input.
//!
//! Invariants: a P in the syscall state is owned by nobody until one CAS
//! (the M's, sysmon's or a stopper's) moves it; the G's status moves back
//! from `Syscall` only on its own M, after the call returned;
//! `Sched::nsyscall` counts Ms inside a call, so a program whose only live
//! goroutine waits in a read is not reported as deadlocked. An M leaves
//! the count only once its G holds a P again or sits in the global run
//! queue: between the call's return and that moment the G is in no queue
//! and on no P, and the deadlock check (every P idle, nothing queued, no M
//! in a call) would otherwise see a blocked program (Go's `checkdead`
//! counts such an M as running for the same reason).

use std::sync::atomic::Ordering;

use super::{proc, GRef, PStatus, Status};
use crate::trace::{Arg, EventKind, Key};
use crate::value::Value;
use crate::{Ctx, Runtime};

/// How long a P may stay in a system call before sysmon hands it to
/// another M (Go's sysmon retakes after one 20 µs tick): long enough that
/// short calls keep their P, short enough that other goroutines barely
/// notice a blocked one.
pub const RETAKE_NS: u64 = 20_000;

/// What a blocking call produced, for its `finish` function.
pub type SysOutput = Box<dyn std::any::Any + Send>;

/// Turns a system call's output into the native's result (on resumption,
/// with a P), given the call's argument value (`Syscall::arg`): a value,
/// or the message of a runtime error.
pub type FinishFn = fn(&mut Ctx, Value, SysOutput) -> Result<Value, String>;

/// A blocking system call asked for by a native (see the module docs).
pub struct Syscall {
    /// The call. It runs on the M without a usable P: it must own its data
    /// and touch no heap object.
    pub call: Box<dyn FnOnce() -> SysOutput + Send>,
    /// Makes the native's result from the call's output.
    pub finish: FinishFn,
    /// A value `finish` receives (the object whose state the call works
    /// on, e.g. a reader handle; nil by default). It is a root while the
    /// call runs.
    pub arg: Value,
    /// The stack slot that receives the result; natives leave `usize::MAX`
    /// and the interpreter fills in the call's result slot.
    pub slot: usize,
}

impl Syscall {
    /// A system call running `call` and finishing with `finish`.
    pub fn new(call: impl FnOnce() -> SysOutput + Send + 'static, finish: FinishFn) -> Syscall {
        Syscall {
            call: Box::new(call),
            finish,
            arg: Value::NIL,
            slot: usize::MAX,
        }
    }

    /// The same call, with `arg` handed to `finish`.
    pub fn with_arg(mut self, arg: Value) -> Syscall {
        self.arg = arg;
        self
    }
}

/// Runs a short call that may block only briefly (a write to a file or a
/// terminal) without leaving the interpreter: the P stays with the M.
pub fn blocking<T>(cx: &mut Ctx, f: impl FnOnce() -> T) -> T {
    let _ = cx;
    f()
}

/// What became of the M after a system call.
pub(crate) enum After {
    /// The G holds a P (its own or another) and runs on.
    Continue,
    /// No P was free: the G is on the global queue and the M holds no P.
    LostP,
}

/// Runs `sc` for the running G `g` (see the module docs). On `Continue`
/// the call's output waits in the G's state (`Exec::resume` applies it).
pub(crate) fn run(cx: &mut Ctx, g: GRef, sc: Syscall) -> After {
    let rt = cx.rt;
    let s = &rt.sched;
    // SAFETY: the G is Running on this M.
    let exec = unsafe { g.exec() };
    if s.is_sim() {
        let out = (sc.call)();
        exec.set_syscall_output(sc.finish, sc.arg, out, sc.slot);
        return After::Continue;
    }
    // entersyscall.
    let p = cx.p();
    crate::gc::mark::flush_for(rt, p);
    cx.trace(EventKind::GoSyscall, &[]);
    let now = s.now();
    p.syscall_when.store(now, Ordering::Release);
    s.nsyscall.fetch_add(1, Ordering::AcqRel);
    g.cas_status(Status::Running, Status::Syscall);
    // The claim word first: a P seen in the syscall state always has one.
    p.syscall_owner.store(g.id(), Ordering::Release);
    p.set_status(PStatus::Syscall);
    if s.sysmon_next.load(Ordering::Acquire) > now + RETAKE_NS {
        let _l = s.sysmon_lock.lock();
        s.sysmon_cond.notify_all();
    }
    let out = (sc.call)();
    // exitsyscall.
    if p.reclaim_syscall(g.id()) {
        p.set_status(PStatus::Running);
        s.nsyscall.fetch_sub(1, Ordering::AcqRel);
        g.cas_status(Status::Syscall, Status::Running);
        // SAFETY: the G is Running on this M again.
        unsafe { g.exec() }.set_syscall_output(sc.finish, sc.arg, out, sc.slot);
        return After::Continue;
    }
    // The P was retaken or stopped: another P, or the global queue.
    match proc::acquire_idle_p(rt) {
        Some(np) => {
            s.nsyscall.fetch_sub(1, Ordering::AcqRel);
            // SAFETY: `acquire_idle_p` gave this M the P.
            unsafe { cx.set_p(np) };
            cx.trace(EventKind::ProcStart, &[]);
            g.cas_status(Status::Syscall, Status::Running);
            // SAFETY: the G is Running on this M again.
            unsafe { g.exec() }.set_syscall_output(sc.finish, sc.arg, out, sc.slot);
            After::Continue
        }
        None => {
            // The G's state is written before it is published as
            // runnable; the status word (scan bit) orders this after any
            // scan in progress.
            g.cas_status(Status::Syscall, Status::Running);
            // SAFETY: the G is Running on this M until it is queued.
            unsafe { g.exec() }.set_syscall_output(sc.finish, sc.arg, out, sc.slot);
            g.cas_status(Status::Running, Status::Runnable);
            proc::globrunqput(rt, g);
            // Only now, with the G queued, may this M stop counting as
            // one in a call (see the module docs).
            s.nsyscall.fetch_sub(1, Ordering::AcqRel);
            proc::wakep(rt);
            After::LostP
        }
    }
}

/// Sysmon's half: takes every P that has been in a system call for longer
/// than [`RETAKE_NS`] at `now` and hands it off (see the module docs).
/// Returns whether a P is still in a syscall (sysmon then keeps a short
/// period).
pub(crate) fn retake(rt: &Runtime, now: u64) -> bool {
    let s = &rt.sched;
    let mut waiting = false;
    for i in 0..s.procs() as u32 {
        let p = s.p(i);
        if p.status() != PStatus::Syscall {
            continue;
        }
        if now.saturating_sub(p.syscall_when.load(Ordering::Acquire)) < RETAKE_NS {
            waiting = true;
            continue;
        }
        if !p.claim_syscall() {
            continue;
        }
        p.set_status(PStatus::Running);
        s.trace_outside(EventKind::ProcSteal, &[(Key::P, Arg::U(u64::from(i)))]);
        proc::handoffp(rt, i);
    }
    waiting
}
