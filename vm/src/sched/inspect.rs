//! A snapshot of the user's goroutines for a debugger's view (the REPL's
//! `:goroutines`): each one's id, state, wait reason and the function and
//! line where it stands.
//!
//! How a G is read without disturbing it:
//! 1. Copy `allgs` (the list only grows; a G is never freed while the VM
//!    lives), so no scheduler lock is held while stacks are read.
//! 2. Skip Gs that are `Idle` or `Dead`.
//! 3. Freeze the G's status with the collector's scan bit
//!    ([`G::try_scan`]), retrying while the status moves under us, as the
//!    collector's stack scan does. While the bit is set no status change
//!    can complete (they spin in `cas_status`), so the G cannot finish,
//!    be reused and have its kind rewritten, and a `Runnable` or `Waiting`
//!    G cannot start running: its stack is quiescent and only the holder
//!    of the bit reads it. A collector that wants to scan the G meanwhile
//!    waits for [`G::end_scan`], as it would for another scanner.
//! 4. Read what is needed, then clear the bit at once.
//!
//! Runtime goroutines (the collector's workers, coordinator and sweeper)
//! and goroutines the REPL abandoned (Ctrl-C on a blocked entry: woken,
//! they end at once) are left out. A `Running` G's stack belongs to the M
//! running it, so only its id and state are reported.
//!
//! Where a G stands is its innermost frame: the function's name (`script`
//! for top-level code) and the line of the instruction it is at, computed
//! as a runtime error's stack trace computes it. A G that has not started
//! yet stands at the first line of the function it will call.

use std::sync::atomic::Ordering;

use super::{GRef, Status, WaitReason};
use crate::interp::Exec;
use crate::object::*;
use crate::Runtime;

/// What a goroutine is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoroutineState {
    /// Ready to run, waiting for a processor.
    Runnable,
    /// Running on a processor right now.
    Running,
    /// Blocked (see the wait reason).
    Waiting,
    /// In a blocking system call (reading stdin, a pipe, a file).
    Syscall,
}

impl GoroutineState {
    /// Lower-case name, as shown to users.
    pub fn name(self) -> &'static str {
        match self {
            GoroutineState::Runnable => "runnable",
            GoroutineState::Running => "running",
            GoroutineState::Waiting => "waiting",
            GoroutineState::Syscall => "syscall",
        }
    }
}

/// One goroutine in a [`goroutines`] snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoroutineInfo {
    pub id: u64,
    pub state: GoroutineState,
    /// Why a waiting goroutine waits (`chan_recv`, `sleep`, ...): the
    /// trace's names. `None` unless `state` is `Waiting`.
    pub wait_reason: Option<&'static str>,
    /// The function it stands in (`script` for top-level code); `None`
    /// while it runs.
    pub function: Option<String>,
    /// The line it stands at; `None` while it runs, or when unknown.
    pub line: Option<u32>,
}

/// Every user goroutine that is not dead, by id (see the module docs).
pub(crate) fn goroutines(rt: &Runtime) -> Vec<GoroutineInfo> {
    let all: Vec<GRef> = rt.sched.allgs.lock().clone();
    let mut out: Vec<GoroutineInfo> = all.into_iter().filter_map(inspect).collect();
    out.sort_by_key(|g| g.id);
    out
}

/// Reads one G under its scan bit; `None` when it is not a live user G.
fn inspect(g: GRef) -> Option<GoroutineInfo> {
    let status = loop {
        let s = g.status();
        match s {
            Status::Idle | Status::Dead => return None,
            Status::Runnable | Status::Running | Status::Waiting | Status::Syscall => {
                if g.try_scan(s) {
                    break s;
                }
                std::hint::spin_loop();
            }
        }
    };
    let info = if g.kind().is_system() || g.killed.load(Ordering::Acquire) {
        None
    } else {
        let state = match status {
            Status::Runnable => GoroutineState::Runnable,
            Status::Waiting => GoroutineState::Waiting,
            Status::Syscall => GoroutineState::Syscall,
            _ => GoroutineState::Running,
        };
        let wait_reason = match status {
            Status::Waiting => Some(g.wait_reason()).filter(|r| *r != WaitReason::None),
            _ => None,
        }
        .map(WaitReason::name);
        let (function, line) = if state == GoroutineState::Running {
            (None, None)
        } else {
            // SAFETY: the scan bit keeps the G from starting or being
            // readied, so its stack is quiescent and only this reader
            // touches it (the collector waits for the bit, module docs).
            let (function, line) = position(unsafe { g.exec() });
            (Some(function), line)
        };
        Some(GoroutineInfo {
            id: g.id(),
            state,
            wait_reason,
            function,
            line,
        })
    };
    g.end_scan();
    info
}

/// The function and line where a stopped goroutine's `exec` stands.
fn position(exec: &Exec) -> (String, Option<u32>) {
    if let Some(fr) = exec.frames.last() {
        // SAFETY: a frame holds a live closure, which keeps its function
        // alive.
        let f = unsafe { &(*(*fr.closure).body.function).body };
        // SAFETY: a stopped frame's `ip` points into its function's code,
        // just past the instruction it is at.
        let pc = unsafe { fr.ip.offset_from(f.code.as_ptr()) } as usize;
        let line = f.lines.get(pc.saturating_sub(1)).copied();
        return (function_name(f), line);
    }
    // Not started: `stack[0]` is what it will call.
    let callee = exec.stack.first().copied();
    let callee = callee.and_then(|v| as_bound(v).map(|b| b.method).or(Some(v)));
    let function = callee.and_then(|v| {
        as_closure(v)
            // SAFETY: a closure keeps its function alive.
            .map(|c| unsafe { &(*c.function).body })
            .or_else(|| as_function(v))
    });
    match function {
        Some(f) => (function_name(f), f.lines.first().copied()),
        None => ("?".to_string(), None),
    }
}

/// The name of what a new goroutine will call (`go f(x)`'s `f`): `name()`
/// for a function, closure or bound method, `?` for anything else.
pub(crate) fn callee_name(v: crate::value::Value) -> String {
    let v = as_bound(v).map_or(v, |b| b.method);
    let function = as_closure(v)
        // SAFETY: a closure keeps its function alive.
        .map(|c| unsafe { &(*c.function).body })
        .or_else(|| as_function(v));
    function.map_or_else(|| "?".to_string(), function_name)
}

/// `name()` for a named function, `script` for top-level code.
fn function_name(f: &Function) -> String {
    match f.name.and_then(as_string) {
        Some(name) => format!("{}()", str_text(name)),
        None => "script".to_string(),
    }
}
