//! A goroutine's execution state: its private value stack, its call
//! frames, and what it does when it runs again after a park.
//!
//! The interpreter (`interp`) runs an [`Exec`]; the scheduler owns it
//! through the G's status word (`sched::g`). This module holds the state
//! and everything done to it outside the dispatch loop:
//! 1. Setting up a new goroutine's first call ([`Exec::init_call`]) and
//!    dropping a finished one's state ([`Exec::reset`]).
//! 2. Resumption ([`Exec::resume`]): applying the resume action a park
//!    left (a delivered value into a register, a retried instruction, a
//!    `select`'s chosen case, a system call's result) before the next
//!    instruction; [`Exec::abandon`] for a goroutine that will never run
//!    again.
//! 3. What the collector needs: the roots ([`Exec::for_each_root`]), dead
//!    slots cleared ([`Exec::clear_dead`]), the memory the goroutine is
//!    charged for ([`Exec::footprint`]).
//! 4. Stack traces for runtime errors and deadlock reports.
//!
//! Invariants: registers `R[0..num_regs)` of the innermost frame are the
//! only stack slots in use; the frame vector's length is exact whenever
//! anyone but the running interpreter looks at it.

use std::sync::atomic::Ordering;

use skein_bytecode::Instr;

use crate::interp::closure_fn;
use crate::object::*;
use crate::sched::chan::SelectWait;
use crate::sched::park::Resume;
use crate::sched::GRef;
use crate::value::Value;
use crate::Ctx;

/// Trace lines printed for a runtime error before the middle is elided (Go
/// elides long tracebacks too; the innermost frames matter most).
const TRACE_HEAD: usize = 32;
const TRACE_TAIL: usize = 8;

/// A call frame.
#[derive(Clone, Copy)]
pub struct Frame {
    pub closure: *const Obj<Closure>,
    /// The closure's function (cached: returns reload it without chasing
    /// the closure).
    pub func: *const Function,
    /// The next instruction (saved when the frame is not the running one,
    /// and at every point where the running frame can be inspected).
    pub ip: *const Instr,
    /// Stack index of `R[0]`.
    pub base: usize,
}

/// A goroutine's execution state: its private value stack and frames, and
/// what to do when it resumes after a park.
pub struct Exec {
    pub stack: Vec<Value>,
    pub frames: Vec<Frame>,
    /// Set when the goroutine parks; applied by the scheduler before it
    /// runs again.
    pub resume: Resume,
    /// A new goroutine: the call `stack[0](stack[1..=argc])` still has to
    /// be made (on its first run, so errors have the goroutine's trace).
    pub pending_call: Option<usize>,
    /// Budget left when `run` last returned (the deterministic clock
    /// charges the difference).
    pub budget_left: u32,
    /// Bytes charged to the heap's accounting for this goroutine (its
    /// descriptor, stack and frames; see [`Exec::recharge`]), so that
    /// `--max-heap` bounds goroutines as it bounds objects.
    pub charged: usize,
    /// A system call's output and the function that makes the native's
    /// result from it, until the goroutine resumes (`Resume::Syscall`).
    sys: Option<(
        crate::sched::syscall::FinishFn,
        Value,
        crate::sched::syscall::SysOutput,
    )>,
    /// While the goroutine is parked in a `select` (`Resume::Select`):
    /// the handles of the sudogs it queued, which its resumption unlinks.
    pub(crate) select_wait: SelectWait,
}

// SAFETY: an Exec is used by one thread at a time (its G's owner); the raw
// pointers in its frames point at heap objects kept alive by the
// collector's root scan of the G.
unsafe impl Send for Exec {}

/// Stack slots of a fresh goroutine: small, so that a parked goroutine
/// costs little (it grows by doubling when a call needs more).
const INITIAL_STACK: usize = 16;

impl Exec {
    /// An empty execution state (a G that has never run).
    pub fn empty() -> Exec {
        Exec {
            stack: Vec::new(),
            frames: Vec::new(),
            resume: Resume::None,
            pending_call: None,
            budget_left: 0,
            charged: 0,
            sys: None,
            select_wait: SelectWait::default(),
        }
    }

    /// What this goroutine costs in memory outside the object heap: its
    /// descriptor, its stack and its frames, as allocated.
    pub fn footprint(&self) -> usize {
        std::mem::size_of::<crate::sched::G>()
            + self.stack.capacity() * std::mem::size_of::<Value>()
            + self.frames.capacity() * std::mem::size_of::<Frame>()
            + self.select_wait.bytes()
    }

    /// Charges what the goroutine grew by since it was last charged (a
    /// new goroutine, a grown stack or frame vector) to this P's heap
    /// accounting.
    pub fn recharge(&mut self, cx: &mut Ctx) {
        let now = self.footprint();
        if now > self.charged {
            cx.charge_memory(now - self.charged);
            self.charged = now;
        }
    }

    /// Keeps a system call's output for the resumption that makes the
    /// result at stack slot `slot` from it.
    pub(crate) fn set_syscall_output(
        &mut self,
        finish: crate::sched::syscall::FinishFn,
        arg: Value,
        out: crate::sched::syscall::SysOutput,
        slot: usize,
    ) {
        self.sys = Some((finish, arg, out));
        self.resume = Resume::Syscall(slot);
    }

    /// Gives back everything charged for the goroutine (it ended).
    pub fn uncharge(&mut self, cx: &mut Ctx) {
        cx.release_memory(std::mem::take(&mut self.charged));
    }

    /// Prepares a call of `vals[0]` with arguments `vals[1..]`.
    pub fn init_call(&mut self, vals: &[Value]) {
        self.stack.clear();
        self.stack.extend_from_slice(vals);
        if self.stack.len() < INITIAL_STACK {
            self.stack.resize(INITIAL_STACK, Value::NIL);
        }
        self.frames.clear();
        self.resume = Resume::None;
        self.pending_call = Some(vals.len() - 1);
    }

    /// Drops everything (the goroutine finished), keeping small buffers
    /// for reuse.
    pub fn reset(&mut self) {
        self.stack.clear();
        self.stack.shrink_to(INITIAL_STACK);
        self.frames.clear();
        self.frames.shrink_to(4);
        self.resume = Resume::None;
        self.pending_call = None;
        self.sys = None;
    }

    /// Calls `f` on every root: live registers and frame closures (or the
    /// whole small stack of a goroutine that has not started).
    pub fn for_each_root(&self, mut f: impl FnMut(Value)) {
        // A system call's argument (the object its `finish` works on).
        if let Some((_, arg, _)) = &self.sys {
            f(*arg);
        }
        if self.frames.is_empty() {
            for v in &self.stack {
                f(*v);
            }
            return;
        }
        for v in &self.stack[..self.top()] {
            f(*v);
        }
        for fr in &self.frames {
            f(Value::object(fr.closure as *mut Header));
        }
    }

    /// Clears the dead slots above the innermost frame (before a
    /// collection, so stale values there cannot resurrect freed objects).
    pub fn clear_dead(&mut self) {
        if self.frames.is_empty() {
            return;
        }
        let top = self.top();
        for s in &mut self.stack[top..] {
            *s = Value::NIL;
        }
    }

    /// Moves the innermost frame back to the instruction it just executed
    /// (`Resume::Retry`).
    pub fn rewind(&mut self) {
        if let Some(fr) = self.frames.last_mut() {
            fr.ip = fr.ip.wrapping_sub(1);
        }
    }

    /// Moves the innermost frame's instruction pointer by `off`.
    pub fn jump(&mut self, off: isize) {
        if let Some(fr) = self.frames.last_mut() {
            fr.ip = fr.ip.wrapping_offset(off);
        }
    }

    /// The receive and send case counts of the `Select` just executed.
    pub fn select_shape(&self) -> (usize, usize) {
        let fr = self.frames.last().expect("select runs in a frame");
        // SAFETY: the frame's `ip` is just past the `Select` instruction,
        // inside its function's code.
        let ins = unsafe { *fr.ip.sub(1) };
        (ins.b(), ins.c() >> 1)
    }

    /// Unlinks what the `Select` just executed (whose cases start at stack
    /// index `base`) left queued on its channels, `fired` being the case
    /// its waker claimed (`-1`: none); see `chan::select_cleanup`.
    fn select_cleanup(&mut self, g: GRef, base: usize, fired: i32) {
        let (nrecv, nsend) = self.select_shape();
        let stack = &self.stack;
        // Case order, as the select numbered them: receives, then sends
        // (each send case is a channel and a value register).
        let chans = (0..nrecv)
            .map(|i| stack[base + i])
            .chain((0..nsend).map(|j| stack[base + nrecv + 2 * j]));
        crate::sched::chan::select_cleanup(g, &mut self.select_wait, chans, fired);
    }

    /// Finishes what the parked goroutine `g` (whose state this is) waited
    /// for, before its next instruction: applies the resume action its park
    /// left (see [`Resume`]) to what its waker delivered. An error is the
    /// message of the runtime error the goroutine fails with.
    pub fn resume(&mut self, cx: &mut Ctx, g: GRef) -> Result<(), String> {
        let resume = std::mem::replace(&mut self.resume, Resume::None);
        let (v, ok, case) = g.delivered();
        g.clear_delivered();
        match resume {
            Resume::None => {}
            Resume::Retry => self.rewind(),
            Resume::Store(slot) => self.stack[slot] = v,
            Resume::StoreOk(slot) => {
                let l = cx.new_list(&[v, Value::bool(ok)]);
                self.stack[slot] = l;
            }
            Resume::Sent => {
                if !ok {
                    return Err("Send on closed channel.".into());
                }
            }
            Resume::Iter { dest, exit } => {
                if ok {
                    self.stack[dest] = v;
                } else {
                    self.jump(exit);
                }
            }
            Resume::OomCheck => {
                let over = cx.rt.gc.pacer.over_max_heap(cx.rt.heap.footprint());
                g.oom_waited.store(false, Ordering::Release);
                if over {
                    return Err("Out of memory.".into());
                }
            }
            Resume::Syscall(slot) => {
                cx.trace(crate::trace::EventKind::GoSysExit, &[]);
                let (finish, arg, out) = self.sys.take().expect("a system call's output");
                self.stack[slot] = finish(cx, arg, out)?;
            }
            Resume::Select { base } => {
                let (nrecv, _) = self.select_shape();
                self.select_cleanup(g, base, case);
                if case as usize >= nrecv && !ok {
                    return Err("Send on closed channel.".into());
                }
                self.stack[base] = Value::number(case as f64);
                self.stack[base + 1] = v;
                self.stack[base + 2] = Value::bool(ok);
            }
        }
        Ok(())
    }

    /// The goroutine `g` (whose state this is) was abandoned while parked
    /// and will never run again: removes what its park left on wait lists.
    pub fn abandon(&mut self, g: GRef) {
        if let Resume::Select { base } = self.resume {
            self.select_cleanup(g, base, -1);
        }
        self.resume = Resume::None;
        self.sys = None;
    }

    /// One past the highest live stack slot.
    pub fn top(&self) -> usize {
        match self.frames.last() {
            Some(fr) => {
                // SAFETY: frames hold live closures.
                let f = unsafe { &(*(*fr.closure).body.function).body };
                (fr.base + f.num_regs as usize).min(self.stack.len())
            }
            None => 0,
        }
    }

    /// Where the goroutine stands: each frame's function and instruction,
    /// outermost first (goroutines at the same position have the same
    /// trace).
    pub fn position(&self) -> Vec<(usize, usize)> {
        self.frames
            .iter()
            .map(|fr| (fr.func as usize, fr.ip as usize))
            .collect()
    }

    /// Builds the stack trace, innermost frame first. Frames of hidden
    /// functions (built-ins written in Skein) are left out, as natives add
    /// no frame.
    pub fn trace(&self) -> Vec<String> {
        let frames: Vec<&Frame> = self
            .frames
            .iter()
            .rev()
            .filter(|fr| !closure_fn(fr.closure).hidden)
            .collect();
        let n = frames.len();
        let mut out = Vec::new();
        for (i, fr) in frames.into_iter().enumerate() {
            if n > TRACE_HEAD + TRACE_TAIL && i == TRACE_HEAD {
                out.push(format!(
                    "...({} frames elided)...",
                    n - TRACE_HEAD - TRACE_TAIL
                ));
            }
            if n > TRACE_HEAD + TRACE_TAIL && i >= TRACE_HEAD && i < n - TRACE_TAIL {
                continue;
            }
            // SAFETY: frames hold live closures.
            let f = unsafe { &(*(*fr.closure).body.function).body };
            // SAFETY: a frame's `ip` points into its function's code.
            let pc = unsafe { fr.ip.offset_from(f.code.as_ptr()) } as usize;
            let line = f.lines.get(pc.saturating_sub(1)).copied().unwrap_or(0);
            match f.name.and_then(as_string) {
                Some(name) => out.push(format!("[line {}] in {}()", line, str_text(name))),
                None => out.push(format!("[line {line}] in script")),
            }
        }
        out
    }
}
