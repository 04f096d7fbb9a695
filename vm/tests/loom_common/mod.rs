//! What the loom models of `loom_sched.rs` and `loom_gc.rs` share: the model
//! runner and the G status word (`sched/g.rs`) with its one CAS helper.
//!
//! The status word is the same `u32` the real `G` holds, changed by the
//! same weak compare-and-swap with the same orderings; the real loop also
//! spins on the collector's `SCAN` bit, which no model sets.

#![allow(dead_code)]

use loom::sync::atomic::{AtomicU32, Ordering};

/// `g::Status` values, as the real `u32` status word holds them.
pub const IDLE: u32 = 0;
pub const RUNNABLE: u32 = 1;
pub const RUNNING: u32 = 2;
pub const WAITING: u32 = 3;
pub const DEAD: u32 = 4;

/// The status's name, for panic messages.
pub fn status_name(s: u32) -> &'static str {
    match s {
        IDLE => "Idle",
        RUNNABLE => "Runnable",
        RUNNING => "Running",
        WAITING => "Waiting",
        DEAD => "Dead",
        _ => "?",
    }
}

/// `G::status`.
pub fn status(word: &AtomicU32) -> u32 {
    word.load(Ordering::Acquire)
}

/// `G::cas_status` on goroutine `id`'s status word: the same weak CAS,
/// orderings and panic.
pub fn cas_status(word: &AtomicU32, id: usize, from: u32, to: u32) {
    loop {
        match word.compare_exchange_weak(from, to, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            // A spurious failure of the weak CAS.
            Err(cur) if cur == from => loom::hint::spin_loop(),
            Err(cur) => panic!(
                "goroutine {id}: status {}, expected {}",
                status_name(cur),
                status_name(from)
            ),
        }
    }
}

/// Runs `f` under loom with the given preemption bound (set here, so the
/// `LOOM_MAX_PREEMPTIONS` environment variable does not change it), and
/// prints how many executions loom explored (seen with `--nocapture`).
pub fn model(name: &str, bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    // A plain `std` counter: loom does not track it, and it outlives the
    // executions.
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = bound;
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    eprintln!(
        "{name}: {} executions explored (preemption bound {bound:?})",
        runs.load(std::sync::atomic::Ordering::Relaxed)
    );
}
