//! Loom model of the system-call hand-off (`vm/src/sched/syscall.rs`): the
//! claim word that decides who owns a P whose M is in a system call.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" cargo test --release -p skein-vm --test loom_syscall`
//!
//! The real code uses `std` atomics, so it cannot run under loom; this
//! file restates the protocol with loom's atomics, step by step, with the
//! same orderings:
//! - `syscall::run` (entersyscall): store the G's id in `P::syscall_owner`
//!   (release), then the status `Syscall`; (exitsyscall) take the P back
//!   by CAS `owner: gid -> 0` (`P::reclaim_syscall`), then status
//!   `Running`.
//! - `syscall::retake` and `stw::stop_or_preempt`: see status `Syscall`,
//!   read the owner, CAS `owner: o -> 0` (`P::claim_syscall`), then set the
//!   status (`Running` for a hand-off, `Stopped` for a stop).
//!
//! The P's local state (its allocation cache, run queue, trace buffer) is
//! a loom `UnsafeCell` here: whoever owns the P writes it, so two owners at
//! once are a data race that loom reports. The properties checked:
//! 1. At most one owner at a time (no race on the cell).
//! 2. The ABA case: sysmon retakes the P from G1's M and hands it to an M
//!    that runs G2, which enters a system call of its own on the same P;
//!    G1's M, back from its call, must not take the P from G2's M.
//! 3. Exactly one of the returning M, sysmon and a stopper wins a P in a
//!    syscall.
//!
//! Checked against a broken variant: with the returning M's claim made by
//! CAS on the status alone (`Syscall -> Running`, as a first draft did),
//! every model here fails (the returning M and a claimer both own the P
//! and both write its state), and was then reverted.

#![cfg(loom)]

mod loom_common;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_common::model;

/// `PStatus` values, as the real `u32` status word holds them.
const RUNNING: u32 = 1;
const STOPPED: u32 = 2;
const SYSCALL: u32 = 5;

/// A P as far as the hand-off is concerned.
struct P {
    status: AtomicU32,
    owner: AtomicU64,
    /// The P's local state: written only by its owner.
    local: UnsafeCell<u32>,
}

// SAFETY: `local` is only touched by the P's owner (the property the model
// checks: loom reports any concurrent access).
unsafe impl Sync for P {}

impl P {
    fn new() -> P {
        P {
            status: AtomicU32::new(RUNNING),
            owner: AtomicU64::new(0),
            local: UnsafeCell::new(0),
        }
    }

    /// The owner uses the P's state.
    fn touch(&self) {
        self.local.with_mut(|v| {
            // SAFETY: only the owner calls this (checked by loom).
            unsafe { *v += 1 }
        });
    }

    /// `syscall::run`'s entersyscall, on the M that owns the P.
    fn enter(&self, gid: u64) {
        self.touch();
        self.owner.store(gid, Ordering::Release);
        self.status.store(SYSCALL, Ordering::Release);
    }

    /// `P::reclaim_syscall` and the status store after it.
    fn reclaim(&self, gid: u64) -> bool {
        if self
            .owner
            .compare_exchange(gid, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.status.store(RUNNING, Ordering::Release);
            self.touch();
            true
        } else {
            false
        }
    }

    /// `P::claim_syscall` (sysmon, a stopper), then the claimer's status.
    fn claim(&self, then: u32) -> bool {
        if self.status.load(Ordering::Acquire) != SYSCALL {
            return false;
        }
        let owner = self.owner.load(Ordering::Acquire);
        if owner != 0
            && self
                .owner
                .compare_exchange(owner, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.status.store(then, Ordering::Release);
            self.touch();
            true
        } else {
            false
        }
    }
}

/// Model 1 and 3: G1's M in a syscall returns while sysmon tries to retake
/// the P; exactly one of them owns it afterwards.
#[test]
fn return_races_retake() {
    model("return_races_retake", None, || {
        let p = Arc::new(P::new());
        p.enter(1);
        let sysmon = {
            let p = p.clone();
            thread::spawn(move || p.claim(RUNNING))
        };
        let back = p.reclaim(1);
        let retaken = sysmon.join().unwrap();
        assert!(
            back != retaken,
            "exactly one owner: back={back} retaken={retaken}"
        );
    });
}

/// Model 3 with a stopper too: the returning M, sysmon and a stopper race
/// for one P in a syscall; exactly one wins.
#[test]
fn return_races_retake_and_stop() {
    model("return_races_retake_and_stop", Some(3), || {
        let p = Arc::new(P::new());
        p.enter(1);
        let sysmon = {
            let p = p.clone();
            thread::spawn(move || p.claim(RUNNING))
        };
        let stopper = {
            let p = p.clone();
            thread::spawn(move || p.claim(STOPPED))
        };
        let back = p.reclaim(1);
        let wins = [back, sysmon.join().unwrap(), stopper.join().unwrap()];
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
    });
}

/// Model 2, the ABA case: sysmon retakes the P from G1's M and its new M
/// runs G2 into a syscall of its own; G1's M, returning, must not take the
/// P from G2's M (loom reports a race on the P's state if it does).
#[test]
fn a_retaken_p_in_another_syscall_is_not_taken_back() {
    model(
        "a_retaken_p_in_another_syscall_is_not_taken_back",
        None,
        || {
            let p = Arc::new(P::new());
            p.enter(1);
            let other_m = {
                let p = p.clone();
                thread::spawn(move || {
                    if p.claim(RUNNING) {
                        // The new M runs G2, which makes a system call too.
                        p.enter(2);
                        p.reclaim(2)
                    } else {
                        false
                    }
                })
            };
            let back = p.reclaim(1);
            let g2_back = other_m.join().unwrap();
            if back {
                assert!(!g2_back, "G1's M took the P back, so G2 never ran on it");
            }
        },
    );
}
