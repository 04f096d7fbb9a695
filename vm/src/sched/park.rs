//! The park contract: how a goroutine stops running until someone wakes it,
//! and the words every part of the runtime uses to say so.
//!
//! This module is a leaf: it names no channel, semaphore, timer or
//! collector type. Each owner of a wait list supplies its own unlock step,
//! in the manner of Go's `gopark(unlockf, lock, reason)`.
//!
//! A park, step by step:
//! 1. The parking code (a channel operation, a semaphore, `sleep`, one of
//!    the collector's goroutines) takes the lock that guards its wait list,
//!    records the running G there, and returns [`Flow::Park`] (from a
//!    native or an interpreter helper) or [`Outcome::Park`] (from a chunk
//!    of a runtime goroutine) with that lock still held. The [`Park`] says
//!    why ([`WaitReason`]), how to release the lock ([`Unlock`]) and what
//!    the G does when it runs again ([`Resume`]).
//! 2. The scheduler records the reason and the resume action, moves the G
//!    from `Running` to `Waiting`, and only then runs the unlock step. A
//!    waker needs the same lock to find the G, so it cannot see it before
//!    it is `Waiting`, and no wake-up is lost.
//! 3. A waker that wins the right to wake the G fills in what it hands
//!    over (`G::deliver`) and readies it. When the G next starts, the
//!    interpreter applies its resume action (`Exec::resume`) before the
//!    next instruction.
//!
//! Invariants: an [`Unlock`] is run exactly once, by the scheduler, right
//! after the G became `Waiting` and before the M does anything else; no
//! other lock is held across a park.

use crate::value::Value;
use crate::{Ctx, RuntimeError};

use super::syscall::Syscall;
use super::GRef;

/// Why a goroutine parks and what unlocks after it has parked.
pub struct Park {
    pub reason: WaitReason,
    pub unlock: Unlock,
    /// What the goroutine does when it runs again.
    pub resume: Resume,
}

impl Park {
    /// A park with no lock to release that resumes with nothing to do
    /// (a `nil` channel, `select {}`: nobody will ever wake it).
    pub fn forever(reason: WaitReason) -> Park {
        Park {
            reason,
            unlock: Unlock::NONE,
            resume: Resume::None,
        }
    }
}

/// The unlock step of a park: a function and the lock it releases (Go's
/// `unlockf` and `lock`). It costs no allocation: two words, copied.
#[derive(Clone, Copy)]
pub struct Unlock {
    f: UnlockFn,
    lock: *const (),
}

/// An unlock function: called with the context of the M that parked the
/// G, the G (now `Waiting`), and the lock pointer given to
/// [`Unlock::new`].
pub type UnlockFn = unsafe fn(cx: &mut Ctx, g: GRef, lock: *const ());

// SAFETY: an `Unlock` travels with its `Park` from the parking code to the
// scheduler on the same thread; the lock it names is kept alive by its
// owner (see `Unlock::new`).
unsafe impl Send for Unlock {}

impl Unlock {
    /// Nothing to release.
    pub const NONE: Unlock = Unlock {
        f: unlock_nothing,
        lock: std::ptr::null(),
    };

    /// Releases, once the G is `Waiting`, the lock held by `guard`: the
    /// guard is consumed here and the lock stays held until then.
    pub fn guard<T>(guard: parking_lot::MutexGuard<'_, T>) -> Unlock {
        let m: *const parking_lot::Mutex<T> = parking_lot::MutexGuard::mutex(&guard);
        std::mem::forget(guard);
        Unlock {
            f: unlock_mutex::<T>,
            lock: m.cast(),
        }
    }

    /// An owner's own unlock step.
    ///
    /// # Safety
    /// `f(cx, g, lock)` must be sound to call once, right after the park,
    /// with the parked G: whatever `lock` points at stays alive until then,
    /// and the state `f` releases is held for this park.
    pub unsafe fn new(f: UnlockFn, lock: *const ()) -> Unlock {
        Unlock { f, lock }
    }

    /// Runs the unlock step (the scheduler, after `g` became `Waiting`).
    ///
    /// # Safety
    /// Called once per park, by the M that parked `g`.
    pub(crate) unsafe fn run(self, cx: &mut Ctx, g: GRef) {
        // SAFETY: the obligations of `new` (or of `guard`, whose mutex is
        // still locked by the forgotten guard) hold; the caller runs this
        // once.
        unsafe { (self.f)(cx, g, self.lock) }
    }
}

/// The unlock step of a park without a lock.
///
/// # Safety
/// Always safe; `unsafe` only to fit [`UnlockFn`].
unsafe fn unlock_nothing(_: &mut Ctx, _: GRef, _: *const ()) {}

/// The unlock step of [`Unlock::guard`].
///
/// # Safety
/// `lock` is a `parking_lot::Mutex<T>` locked by a forgotten guard, and it
/// is still alive.
unsafe fn unlock_mutex<T>(_: &mut Ctx, _: GRef, lock: *const ()) {
    // SAFETY: guaranteed by the caller (see `Unlock::guard`).
    unsafe { (*lock.cast::<parking_lot::Mutex<T>>()).force_unlock() }
}

/// Why a G is parked (trace `GoPark reason=`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    None = 0,
    ChanSend,
    ChanRecv,
    Select,
    Sleep,
    Sema,
    GcWait,
    /// A mark worker parked in the pool.
    GcWorkerIdle,
    /// The coordinator waiting for mark completion.
    GcMarkWait,
    /// An assist out of work, waiting for credit.
    GcAssist,
    /// The background sweeper with nothing to sweep.
    GcSweepWait,
    /// The coordinator between cycles.
    GcIdle,
    /// A goroutine that allocated past the heap goal while a requested
    /// cycle had not begun its mark, until it does
    /// (`gc::coord::wait_mark_start`).
    GcStart,
}

impl WaitReason {
    /// Every reason, in discriminant order (`from_u8` indexes it).
    const ALL: [WaitReason; 13] = [
        WaitReason::None,
        WaitReason::ChanSend,
        WaitReason::ChanRecv,
        WaitReason::Select,
        WaitReason::Sleep,
        WaitReason::Sema,
        WaitReason::GcWait,
        WaitReason::GcWorkerIdle,
        WaitReason::GcMarkWait,
        WaitReason::GcAssist,
        WaitReason::GcSweepWait,
        WaitReason::GcIdle,
        WaitReason::GcStart,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WaitReason::None => "none",
            WaitReason::ChanSend => "chan_send",
            WaitReason::ChanRecv => "chan_recv",
            WaitReason::Select => "select",
            WaitReason::Sleep => "sleep",
            WaitReason::Sema => "sema",
            WaitReason::GcWait => "gc_wait",
            WaitReason::GcWorkerIdle => "gc_worker_idle",
            WaitReason::GcMarkWait => "gc_mark_wait",
            WaitReason::GcAssist => "gc_assist",
            WaitReason::GcSweepWait => "gc_sweep_wait",
            WaitReason::GcIdle => "gc_idle",
            WaitReason::GcStart => "gc_start",
        }
    }

    /// The reason stored as `r as u8` (`None` for anything else).
    pub(crate) fn from_u8(v: u8) -> WaitReason {
        Self::ALL
            .get(v as usize)
            .copied()
            .unwrap_or(WaitReason::None)
    }
}

/// What a woken goroutine does before it continues (applied by the
/// interpreter, `Exec::resume`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Nothing: the parked operation is complete.
    None,
    /// Re-execute the instruction that parked (semaphores, retried STW).
    Retry,
    /// Store the delivered value at this stack slot (`<-ch`, a native that
    /// waits for a value).
    Store(usize),
    /// Store `[value, ok]` at this stack slot (`recv(ch)`).
    StoreOk(usize),
    /// A send completed; `ok == false` means the channel was closed.
    Sent,
    /// A `for-in` over a channel: store the value at `dest`, or, when the
    /// channel is closed, jump to the loop's exit (`exit` instructions after
    /// the current one).
    Iter { dest: usize, exit: isize },
    /// A `select` that blocked: `R[base] = case`, `R[base+1] = value`; its
    /// other wait-list entries are removed first.
    Select { base: usize },
    /// A forced collection for `--max-heap` finished: fail with `Out of
    /// memory.` if the heap is still over the limit.
    OomCheck,
    /// A system call returned: its `finish` makes the value for this stack
    /// slot from the output kept in the goroutine's state.
    Syscall(usize),
}

/// How a native (or an interpreter helper) ends other than with a value.
pub enum Flow {
    /// A runtime error with this message.
    Error(String),
    /// Park the running goroutine (see [`Park`]).
    Park(Park),
    /// Yield the processor (`runtime.gosched()`); the call's result is nil.
    Gosched,
    /// Run a blocking system call outside the interpreter (see
    /// `sched::syscall`); its `finish` makes the call's result.
    Syscall(Syscall),
    /// (Natives only.) Finish by calling `callee(args)` in the native's
    /// place: its result becomes the native's result. A native cannot run
    /// Skein code itself (the interpreter is not re-entrant), so a built-in
    /// that calls back into Skein (`sort` with a `less` function) hands
    /// the call to the interpreter this way, and errors, stack traces and
    /// parking in the callee work as in any call.
    TailCall(Value, Vec<Value>),
    /// End the whole program with this exit status (`os.exit`): stdout is
    /// flushed and nothing is printed.
    Exit(i32),
}

impl From<String> for Flow {
    fn from(s: String) -> Flow {
        Flow::Error(s)
    }
}

impl From<&str> for Flow {
    fn from(s: &str) -> Flow {
        Flow::Error(s.to_string())
    }
}

impl From<Park> for Flow {
    fn from(p: Park) -> Flow {
        Flow::Park(p)
    }
}

/// Why one run of a goroutine (a chunk of bytecode, or a step of a runtime
/// goroutine's state machine) returned to the scheduler.
pub enum Outcome {
    /// The goroutine's outermost frame returned this value.
    Done(Value),
    /// The budget ran out (or the collector asked for a stop); call again.
    Yield,
    /// A runtime error ended the goroutine.
    Error(RuntimeError),
    /// The goroutine parks (its state is saved; see [`Park`]).
    Park(Park),
    /// The goroutine yields its P (`runtime.gosched()`).
    Gosched,
    /// The goroutine makes a blocking system call (its state is saved).
    Syscall(Syscall),
}
