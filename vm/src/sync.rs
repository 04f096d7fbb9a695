//! Synchronisation primitives for the scheduler, swappable for loom's.
//!
//! The scheduler's lock-free structures (the per-P run queue first, the rest
//! of `sched` later) import their atomics, mutex and spin hints from here
//! instead of from `std`. A normal build re-exports `std`'s types, so this
//! module costs nothing. A build with `RUSTFLAGS="--cfg loom"` re-exports the
//! [loom] model checker's look-alikes instead, so the same source can be run
//! under loom, which executes a test closure under every interleaving (and
//! every weak-memory outcome it models) up to a preemption bound.
//!
//! Steps for a module that wants to be loom-checkable:
//! 1. Import `crate::sync::atomic::*` and `crate::sync::Mutex`, never
//!    `std::sync::atomic` directly.
//! 2. Call [`spin_loop`] inside a busy-wait whose exit depends on another
//!    thread, and [`yield_now`] where the thread should give up its core;
//!    under loom both are scheduling points, which keeps such loops finite.
//! 3. Write the model as an integration test under `#![cfg(loom)]`.
//!
//! Invariants: under `cfg(loom)` the types here may only be created and used
//! inside `loom::model` (loom panics otherwise), so unit tests of modules
//! built on this shim are compiled only under `cfg(not(loom))`. The API is
//! the intersection of `std`'s and loom's: for example loom's atomics have
//! no `const fn new`, so no `static` may hold them.

/// Atomic integers, pointers and fences: `std::sync::atomic`, or loom's.
#[cfg(not(loom))]
pub mod atomic {
    pub use std::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
}

/// Atomic integers, pointers and fences: `std::sync::atomic`, or loom's.
#[cfg(loom)]
pub mod atomic {
    pub use loom::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
}

/// A blocking mutex with `std`'s API (`lock()` returns a `LockResult`).
#[cfg(not(loom))]
pub use std::sync::Mutex;

/// A blocking mutex with `std`'s API (`lock()` returns a `LockResult`).
#[cfg(loom)]
pub use loom::sync::Mutex;

/// Tells the processor (or loom's scheduler) that this thread is spinning
/// on a value another thread will change.
#[inline]
pub fn spin_loop() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::hint::spin_loop();
}

/// Offers the rest of this thread's time slice to other threads (under
/// loom: a point where loom switches to another thread).
#[inline]
pub fn yield_now() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}
