//! Goroutines: the G descriptor, its status word, and what a parked G needs
//! when it wakes.
//!
//! A G is allocated once and never freed while the VM lives (Go keeps dead Gs
//! on free lists too): a finished G goes back to its P's free list and is
//! reused by the next `go` statement, so spawning costs no allocation once
//! the pool is warm and `allgs` only grows.
//!
//! The status word is the lock on the G's execution state:
//! - `Runnable`: on exactly one run queue (or about to be put on one);
//!   nobody touches its stack.
//! - `Running`: one M runs it and owns its stack and frames.
//! - `Waiting`: parked on wait lists; its stack is quiescent, and the one
//!   waker that wins the right to ready it (a CAS) moves it to `Runnable`.
//! - `Dead`: finished; on a free list.
//! - the `SCAN` bit: the collector is reading the stack; status changes spin
//!   until it clears.
//!
//! Every status change goes through [`G::cas_status`]. The execution state
//! ([`Exec`]: stack, frames, resume action) sits in an `UnsafeCell` and is
//! touched only by whoever the status says owns it.

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};

use super::WaitReason;
use crate::interp::Exec;
use crate::value::Value;

/// A G's status (see the module docs for who owns what in each).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Allocated, never run, or back on a free list after `Dead`.
    Idle = 0,
    /// On a run queue: nobody runs it; the queue owns it.
    Runnable = 1,
    /// An M runs it and owns its stack.
    Running = 2,
    /// Parked: wait lists refer to it; the waker that wins readies it.
    Waiting = 3,
    /// Finished; on a free list.
    Dead = 4,
    /// In a blocking system call on its M: its stack is quiescent (the call
    /// touches no heap object), so the collector may scan it; the G takes
    /// it back (`Running`) when the call returns.
    Syscall = 5,
}

/// Set while the collector reads the G's stack.
pub const SCAN: u32 = 0x100;

impl Status {
    fn from_u32(v: u32) -> Status {
        match v & !SCAN {
            0 => Status::Idle,
            1 => Status::Runnable,
            2 => Status::Running,
            3 => Status::Waiting,
            5 => Status::Syscall,
            _ => Status::Dead,
        }
    }
}

/// What kind of goroutine this is (trace `GoCreate kind=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GKind {
    User,
    /// The main script of a run (or of one REPL entry).
    Main,
    /// A background mark worker (`gc::worker`).
    Worker,
    /// The collector's coordinator (`gc::coord`).
    Coordinator,
    /// The background sweeper (`gc::sweep`).
    Sweeper,
}

impl GKind {
    /// A runtime goroutine (a native state machine, not bytecode): it has
    /// no stack to scan, is not counted by `numgoroutine`, and is never
    /// reported in a deadlock.
    pub fn is_system(self) -> bool {
        matches!(self, GKind::Worker | GKind::Coordinator | GKind::Sweeper)
    }

    /// The trace's `GoCreate kind=`.
    pub fn name(self) -> &'static str {
        match self {
            GKind::User => "user",
            GKind::Main => "main",
            GKind::Worker => "worker",
            GKind::Coordinator => "coordinator",
            GKind::Sweeper => "sweeper",
        }
    }
}

/// A pointer to a G. Gs are never freed while the VM lives, so a `GRef` is
/// always valid; what one may do with the G is governed by its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GRef(pub NonNull<G>);

// SAFETY: a GRef is a handle; every access to the G it names goes through
// the status protocol (atomics) or the owner's exclusive access.
unsafe impl Send for GRef {}
// SAFETY: as above.
unsafe impl Sync for GRef {}

impl std::ops::Deref for GRef {
    type Target = G;
    fn deref(&self) -> &G {
        // SAFETY: Gs live as long as the VM (see the type's docs).
        unsafe { self.0.as_ref() }
    }
}

impl GRef {
    pub fn as_ptr(self) -> *mut G {
        self.0.as_ptr()
    }
}

/// A goroutine.
pub struct G {
    /// Goroutine id (`[goroutine N]`); a reused G gets a new id.
    pub(crate) id: AtomicU64,
    status: AtomicU32,
    pub(crate) kind: UnsafeCell<GKind>,
    wait_reason: AtomicU8,
    /// Filled in by a waker before it readies the G: the value handed over
    /// (a received value), whether the operation succeeded (`false`: the
    /// channel was closed), and which `select` case fired.
    pub(crate) wake_val: AtomicU64,
    pub(crate) wake_ok: AtomicBool,
    pub(crate) wake_case: AtomicI32,
    /// `select` wake-once word: the generation of the select the G is
    /// blocked in, with bit 0 set once a waker has claimed it.
    pub(crate) sel_state: AtomicU64,
    /// The REPL gave up on this parked goroutine (Ctrl-C on a blocked
    /// entry): if it is ever woken, it ends at once instead of running on.
    pub(crate) killed: AtomicBool,
    /// The last GC cycle whose stack scan this G has had (won by CAS, so a
    /// stack is scanned at most once per cycle).
    pub(crate) scan_cycle: AtomicU32,
    /// A system G's state-machine state and mode (`gc::worker`).
    pub(crate) sys_state: AtomicU8,
    pub(crate) sys_mode: AtomicU8,
    /// `--max-heap`: this G already waited for a forced collection.
    pub(crate) oom_waited: AtomicBool,
    exec: UnsafeCell<Exec>,
}

// SAFETY: shared fields are atomics; `exec` and `kind` are accessed only by
// the status word's owner (see the module docs).
unsafe impl Sync for G {}
// SAFETY: as above.
unsafe impl Send for G {}

impl G {
    pub fn new(id: u64) -> G {
        G {
            id: AtomicU64::new(id),
            status: AtomicU32::new(Status::Idle as u32),
            kind: UnsafeCell::new(GKind::User),
            wait_reason: AtomicU8::new(0),
            wake_val: AtomicU64::new(Value::NIL.0),
            wake_ok: AtomicBool::new(false),
            wake_case: AtomicI32::new(-1),
            sel_state: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            scan_cycle: AtomicU32::new(0),
            sys_state: AtomicU8::new(0),
            sys_mode: AtomicU8::new(0),
            oom_waited: AtomicBool::new(false),
            exec: UnsafeCell::new(Exec::empty()),
        }
    }

    pub fn id(&self) -> u64 {
        self.id.load(Ordering::Relaxed)
    }

    pub fn status(&self) -> Status {
        Status::from_u32(self.status.load(Ordering::Acquire))
    }

    /// The one way to change a G's status: moves it from `from` to `to`,
    /// spinning while the collector holds the scan bit. Panics (a runtime
    /// bug, never a user error) when the G is in another state.
    pub fn cas_status(&self, from: Status, to: Status) {
        let mut spins = 0u32;
        loop {
            match self.status.compare_exchange_weak(
                from as u32,
                to as u32,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(cur) if cur & SCAN != 0 || Status::from_u32(cur) == from => {
                    spins += 1;
                    if spins > 64 {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
                Err(cur) => panic!(
                    "goroutine {}: status {:?}, expected {:?}",
                    self.id(),
                    Status::from_u32(cur),
                    from
                ),
            }
        }
    }

    /// Sets the scan bit on a G in `from` (so nobody changes its status
    /// while its stack is read); false when it is not in `from`.
    pub fn try_scan(&self, from: Status) -> bool {
        self.status
            .compare_exchange(
                from as u32,
                from as u32 | SCAN,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Clears the scan bit set by `try_scan`.
    pub fn end_scan(&self) {
        self.status.fetch_and(!SCAN, Ordering::AcqRel);
    }

    pub fn wait_reason(&self) -> WaitReason {
        WaitReason::from_u8(self.wait_reason.load(Ordering::Relaxed))
    }

    pub fn set_wait_reason(&self, r: WaitReason) {
        self.wait_reason.store(r as u8, Ordering::Relaxed);
    }

    /// The G's execution state.
    ///
    /// # Safety
    /// The caller owns the G by its status (it runs it, it just took it from
    /// a run queue, or the world is stopped), and holds no other reference
    /// to the state.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn exec(&self) -> &mut Exec {
        // SAFETY: exclusivity is the caller's obligation (see above).
        unsafe { &mut *self.exec.get() }
    }

    pub fn kind(&self) -> GKind {
        // SAFETY: the kind is written only while the G is Idle (being set
        // up by its creator), before it is published on a run queue.
        unsafe { *self.kind.get() }
    }

    /// Records what a waker hands over.
    pub fn deliver(&self, v: Value, ok: bool, case: i32) {
        // A value handed to another G's stack, which may be scanned already.
        crate::gc::shade(v);
        self.wake_val.store(v.0, Ordering::Relaxed);
        self.wake_ok.store(ok, Ordering::Relaxed);
        self.wake_case.store(case, Ordering::Relaxed);
    }

    /// Forgets the delivered value once it has been consumed (or the G
    /// ends), so no stale pointer outlives what it referred to.
    pub fn clear_delivered(&self) {
        self.wake_val.store(Value::NIL.0, Ordering::Relaxed);
    }

    pub fn delivered(&self) -> (Value, bool, i32) {
        (
            Value(self.wake_val.load(Ordering::Relaxed)),
            self.wake_ok.load(Ordering::Relaxed),
            self.wake_case.load(Ordering::Relaxed),
        )
    }
}
