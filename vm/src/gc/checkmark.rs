//! `SKEINDEBUG=gccheckmark=1`: verifies a concurrent mark (Go's
//! checkmark mode).
//!
//! At mark termination, with the world stopped and before anything is
//! swept, the whole heap is marked again from the roots, this time into a
//! separate byte of the header (`Header::cmark`) and with a plain
//! depth-first traversal that no mutator can disturb. Every object this
//! second mark reaches must already have its mark bit set: one that does
//! not is a reachable object the concurrent mark missed (a missing barrier,
//! a stack scanned too early, a lost grey object), which the sweep would
//! free while still in use. The run then aborts with a description of the
//! object, as Go's runtime throws.
//!
//! Invariant checked: at mark termination, every object reachable from
//! the roots is marked.

use std::sync::atomic::{AtomicU8, Ordering};

use super::mark;
use crate::object::*;
use crate::sched::Status;
use crate::trace::{Arg, EventKind, Key};
use crate::value::Value;
use crate::Ctx;

/// The checkmark epoch, a new value per verification, so every object's
/// `cmark` byte is stale when a verification starts.
static CEPOCH: AtomicU8 = AtomicU8::new(1);

/// Re-marks from the roots and aborts on an object the mark missed (world
/// stopped).
pub(crate) fn verify(cx: &mut Ctx) {
    cx.trace(EventKind::STWStart, &[(Key::REASON, Arg::S("checkmark"))]);
    let rt = cx.rt;
    let cepoch = CEPOCH.fetch_add(1, Ordering::AcqRel).wrapping_add(1).max(1);
    let mut stack: Vec<(*mut Header, &'static str)> = Vec::new();
    let push = |v: Value, from: &'static str, stack: &mut Vec<(*mut Header, &'static str)>| {
        if !v.is_obj() {
            return;
        }
        let p = v.as_obj();
        // SAFETY: reachable objects are live (nothing is swept yet).
        let h = unsafe { &*p };
        if h.cmark.swap(cepoch, Ordering::Relaxed) != cepoch {
            stack.push((p, from));
        }
    };
    rt.globals
        .for_each_value(|v| push(v, "a global", &mut stack));
    push(rt.init_name, "the VM", &mut stack);
    for (_, v) in rt.extra_roots.lock().iter() {
        push(*v, "the VM", &mut stack);
    }
    for v in rt.heap.interned.lock().values() {
        push(*v, "the interned strings", &mut stack);
    }
    for p in rt.sched.all_created() {
        p.timers
            .lock()
            .for_each_value(|v| push(v, "a timer", &mut stack));
    }
    for g in rt.sched.allgs.lock().iter() {
        if matches!(g.status(), Status::Idle | Status::Dead) || g.kind().is_system() {
            continue;
        }
        // SAFETY: the world is stopped: every G's stack is quiescent.
        let exec = unsafe { g.exec() };
        mark::scan_stack(*g, exec, |v| push(v, "a goroutine stack", &mut stack));
    }
    while let Some((p, from)) = stack.pop() {
        // SAFETY: as above.
        let h = unsafe { &*p };
        if !mark::is_marked(p) {
            eprintln!(
                "fatal error: checkmark: a reachable {:?} object ({} bytes, reached from {}) was not marked by the concurrent mark of cycle {}",
                h.kind,
                h.size.load(Ordering::Relaxed),
                from,
                rt.gc.cycle.load(Ordering::Relaxed),
            );
            std::process::abort();
        }
        if mark::has_children(p) {
            mark::for_each_child(p, |v| push(v, "a heap object", &mut stack));
        }
    }
    cx.trace(EventKind::STWDone, &[(Key::REASON, Arg::S("checkmark"))]);
}
