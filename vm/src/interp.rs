//! The interpreter: runs one goroutine for a budget and returns.
//!
//! `run(cx, g, budget) -> Outcome` ("stackless execution"):
//! 1. Load the innermost frame of `g` into locals: the instruction pointer,
//!    the register base, the constants.
//! 2. Fetch, decode, execute, in one `match` (the dispatch loop). Hot paths
//!    (number arithmetic, compares, register moves, calls of closures) are
//!    inline; everything that may fail or allocate calls a helper marked
//!    cold or out of line.
//! 3. Calls push a `Frame` on `g.frames` and continue in the same loop: no
//!    Rust recursion, so Skein recursion depth is bounded only by
//!    [`MAX_FRAMES`], which raises `Stack overflow.`.
//! 4. Safepoints: `Loop` back-edges, `Call`s and `for-in` steps spend the
//!    budget; at zero, or at every 256th safepoint when the P's preempt
//!    flag is up, the interpreter saves its state into `g` and returns
//!    `Outcome::Yield`. Instructions that allocate end with an *allocation
//!    safepoint*, where every live value is in a register or a heap slot.
//!    Allocation itself only raises requests (the pacer's request for a
//!    cycle, the P's assist debt); when one is pending, the interpreter
//!    calls `gc::safepoint` there, which wakes the collector's coordinator
//!    goroutine to start a concurrent cycle, pays the P's assist debt in
//!    mark work, or enforces `--max-heap`. A cycle's marking runs in the
//!    mark-worker goroutines, in assists and in the write barrier, never
//!    as a whole at a safepoint. When the P's preempt flag is up (a
//!    stop-the-world or a preemption is waiting) the chunk also ends
//!    there, early.
//! 5. Resumption: when a goroutine that parked runs again, the scheduler
//!    calls [`Exec::resume`], which applies the resume action its park left
//!    (store a delivered value, retry the instruction, finish a `select`,
//!    ...) before the next instruction; [`Exec::abandon`] removes what a
//!    park left on wait lists when the goroutine will never run again.
//!
//! Invariants:
//! - Registers `R[0..num_regs)` of the innermost frame are the only stack
//!   slots in use; slots above are dead and the collector clears them.
//! - After any operation that can grow the stack or change frames, the cached
//!   `base`/`ip`/`consts` are reloaded (`reload!`).
//! - A goroutine's stack is only touched by the thread running it.

use std::sync::atomic::Ordering;

use skein_bytecode::{Capture, Instr, Op, MAX_CONCAT};

use crate::map::values_equal;
use crate::object::*;
use crate::sched::park::{Flow, Outcome, Resume};
use crate::value::Value;
use crate::{Ctx, RuntimeError};

/// Most frames a goroutine may have: deep enough for recursive algorithms
/// over inputs of tens of thousands, small enough that a runaway recursion
/// fails fast with `Stack overflow.` instead of exhausting memory.
pub const MAX_FRAMES: usize = 1 << 16;

pub use crate::exec::{Exec, Frame};

#[inline(always)]
pub(crate) fn closure_fn<'a>(c: *const Obj<Closure>) -> &'a Function {
    // SAFETY: `c` is a live closure (held by a frame or register), and a
    // closure keeps its function alive.
    unsafe { &(*(*c).body.function).body }
}

/// Safepoints between two looks at the P's preempt flag: a few
/// microseconds of plain code (a power of two, so the test is a mask).
const PREEMPT_POLL: u32 = 256;

/// Runs `g` until it finishes, errs, or spends `budget` safepoints.
///
/// Comparisons follow clox, which compiles `x <= y` as `!(x > y)` and
/// `x >= y` as `!(x < y)`: with a NaN operand `<` and `>` are false and
/// `<=` and `>=` are true. The fused compare-branches jump when the
/// comparison is false: `JNotLt` when `!(x < y)`, `JNotLe` when `x > y`.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
pub fn run(cx: &mut Ctx, g: &mut Exec, budget: u32) -> Outcome {
    let mut budget = budget;
    // The shared runtime, held apart from `cx` so its fields (globals, the
    // collector's flag) are one load away in the loop.
    let rt: &crate::Runtime = cx.rt;
    // Every return goes through `ret!`, which records the budget left.
    macro_rules! ret {
        ($e:expr) => {{
            let o = $e;
            g.budget_left = budget;
            return o;
        }};
    }
    let top = *g.frames.last().expect("run needs a frame");
    // The frame stack is managed through raw pointers in the hot paths: `fp`
    // is the running frame, `depth` mirrors the vector's length. The
    // vector's length is kept exact (`set_len`) at every push and pop, so
    // code that inspects `g.frames` always sees the truth.
    let mut depth: usize = g.frames.len();
    let mut fp: *mut Frame = g.frames.as_mut_ptr().wrapping_add(depth - 1);
    let mut func: &Function = closure_fn(top.closure);
    let mut ip: *const Instr = top.ip;
    let mut consts: *const Value = func.consts.as_ptr();
    let mut base: *mut Value = g.stack.as_mut_ptr().wrapping_add(top.base);

    macro_rules! reload {
        () => {{
            depth = g.frames.len();
            fp = g.frames.as_mut_ptr().wrapping_add(depth - 1);
            // SAFETY: `fp` is the last frame of a non-empty vector.
            let fr = unsafe { *fp };
            // SAFETY: a frame's function is kept alive by its closure.
            func = unsafe { &*fr.func };
            ip = fr.ip;
            consts = func.consts.as_ptr();
            base = g.stack.as_mut_ptr().wrapping_add(fr.base);
        }};
    }
    macro_rules! save_pc {
        () => {{
            // SAFETY: `fp` points at the running frame (see `depth`).
            unsafe { (*fp).ip = ip };
        }};
    }
    // Enters a closure call whose frame starts at the running frame's base
    // plus `$a` (the
    // arity and depth checks are done).
    macro_rules! enter {
        ($a:expr, $cp:expr, $f:expr) => {{
            let f: &Function = $f;
            // SAFETY: `fp` points at the running frame.
            let nb = unsafe { (*fp).base } + $a;
            let need = nb + f.num_regs as usize;
            if need > g.stack.len() || depth == g.frames.capacity() {
                grow(cx, g, need);
            }
            // SAFETY: `depth < cap`, so the slot after the last frame is
            // allocated; the new length covers exactly the written frames.
            unsafe {
                fp = g.frames.as_mut_ptr().add(depth);
                fp.write(Frame {
                    closure: $cp,
                    func: f as *const Function,
                    ip: f.code.as_ptr(),
                    base: nb,
                });
                depth += 1;
                g.frames.set_len(depth);
            }
            func = f;
            ip = f.code.as_ptr();
            consts = f.consts.as_ptr();
            base = g.stack.as_mut_ptr().wrapping_add(nb);
        }};
    }
    // The index of the instruction being executed (for its inline cache).
    // The inline-cache hint of the instruction being executed.
    macro_rules! hint {
        () => {
            // SAFETY: `ip` was advanced past the current instruction, which
            // lies in the current function's code, and the loader gives
            // every instruction one cache entry.
            unsafe {
                func.caches
                    .get_unchecked(ip.offset_from(func.code.as_ptr()) as usize - 1)
            }
        };
    }
    macro_rules! r {
        ($i:expr) => {
            // SAFETY: codegen keeps every register index below `num_regs`,
            // and a frame's `num_regs` slots are allocated before it runs.
            unsafe { *base.add($i) }
        };
    }
    macro_rules! set {
        ($i:expr, $v:expr) => {{
            let v = $v;
            // SAFETY: as in `r!`.
            unsafe { *base.add($i) = v }
        }};
    }
    macro_rules! k {
        ($i:expr) => {
            // SAFETY: codegen emits constant indices within the pool.
            unsafe { *consts.add($i) }
        };
    }
    macro_rules! throw {
        ($msg:expr) => {{
            save_pc!();
            ret!(Outcome::Error(error_at(g, $msg)));
        }};
    }
    macro_rules! tri {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(msg) => throw!(msg),
            }
        };
    }
    // A safepoint spends one unit of budget; the chunk ends when the budget
    // is spent, or, checked every `PREEMPT_POLL` safepoints, when the P is
    // asked to stop (a stop-the-world or a preemption), so the time to
    // stop the world does not grow with the chunk. `$save` saves the pc
    // where the caller has not.
    macro_rules! spend {
        ($save:expr) => {
            budget -= 1;
            if budget % PREEMPT_POLL == 0 && (budget == 0 || cx.p().preempt.load(Ordering::Relaxed))
            {
                $save;
                ret!(Outcome::Yield);
            }
        };
    }
    // An allocation safepoint: collector work when the heap asks for it,
    // and an early end of the chunk when the P is asked to stop (a
    // stop-the-world or a preemption): a chunk of allocating code can be
    // far longer than one of plain code, and the proportional sweep and
    // assists make it longer still, so waiting for the budget to run out
    // would stretch the pause.
    macro_rules! gc_check {
        () => {
            if rt.gc.pacer.requested()
                || cx.local().mc.poll
                || cx.p().preempt.load(Ordering::Relaxed)
            {
                save_pc!();
                if let Err(flow) = crate::gc::safepoint(cx) {
                    ret!(flow_outcome(g, flow));
                }
                if cx.p().preempt.load(Ordering::Relaxed) {
                    ret!(Outcome::Yield);
                }
                reload!();
            }
        };
    }
    // Calls `$callee`, whose arguments sit in the window at `R[$a]` (the
    // caller's pc is already saved): a closure of the right arity is entered
    // directly; anything else goes through `call_value`. A call spends
    // budget (it is a safepoint).
    macro_rules! call {
        ($a:expr, $argc:expr, $callee:expr) => {{
            let (a, argc, callee): (usize, usize, Value) = ($a, $argc, $callee);
            if callee.is_kind(Kind::Closure) {
                let cp = callee.as_obj() as *const Obj<Closure>;
                let f = closure_fn(cp);
                if f.arity as usize == argc && depth < MAX_FRAMES {
                    enter!(a, cp, f);
                    spend!({});
                    continue;
                }
            }
            if let Err(flow) = call_value(cx, g, frame_base(fp) + a, argc, callee) {
                ret!(flow_outcome(g, flow));
            }
            reload!();
            gc_check!();
            spend!(save_pc!());
        }};
    }
    // `R[a] = make(R[b] op R[c])` for two numbers, else clox's error.
    // Arithmetic passes `Value::number_raw`, comparisons `Value::bool`.
    macro_rules! numeric {
        ($ins:expr, $op:tt, $make:path) => {{
            let (x, y) = (r!($ins.b()), r!($ins.c()));
            if x.is_number() && y.is_number() {
                set!($ins.a(), $make(x.as_number() $op y.as_number()));
            } else {
                throw!("Operands must be numbers.".to_string());
            }
        }};
    }
    // `R[a] = f(R[b], sc)`: a remainder by the immediate (`ModI`, `ModP2`),
    // else clox's error. `fmod` of numbers never yields a NaN that collides
    // with the boxing space, so the raw constructor is enough.
    macro_rules! remainder_imm {
        ($ins:expr, $f:path) => {{
            let x = r!($ins.b());
            if x.is_number() {
                set!(
                    $ins.a(),
                    Value::number_raw($f(x.as_number(), $ins.sc() as i64))
                );
            } else {
                throw!("Operands must be numbers.".to_string());
            }
        }};
    }
    // A fused compare-branch: jumps by `sc` when `jump(x, y)` holds (the
    // comparison is false); a non-number operand is an error.
    macro_rules! jump_when {
        ($ins:expr, $x:expr, $y:expr, $jump:expr) => {{
            let (x, y): (Value, f64) = ($x, $y);
            if x.is_number() {
                if ($jump)(x.as_number(), y) {
                    ip = ip.wrapping_offset($ins.sc());
                }
            } else {
                throw!("Operands must be numbers.".to_string());
            }
        }};
    }
    macro_rules! jump_when_rr {
        ($ins:expr, $jump:expr) => {{
            let y = r!($ins.b());
            if !y.is_number() {
                throw!("Operands must be numbers.".to_string());
            }
            jump_when!($ins, r!($ins.a()), y.as_number(), $jump)
        }};
    }

    loop {
        // SAFETY: codegen ends every function with a `Return`, and jumps
        // stay within the code, so `ip` is always in bounds here.
        let ins = unsafe { *ip };
        ip = ip.wrapping_add(1);
        match ins.op() {
            Op::Move => set!(ins.a(), r!(ins.b())),
            Op::LoadK => set!(ins.a(), k!(ins.c())),
            Op::LoadI => set!(ins.a(), Value::number_raw(ins.sc() as f64)),
            Op::LoadNil => set!(ins.a(), Value::NIL),
            Op::LoadTrue => set!(ins.a(), Value::TRUE),
            Op::LoadFalse => set!(ins.a(), Value::FALSE),
            Op::GetGlobal => {
                let v = rt.globals.slot_fast(ins.c()).get();
                if v == Value::UNDEF {
                    throw!(format!(
                        "Undefined variable '{}'.",
                        cx.rt.globals.name(ins.c())
                    ));
                }
                set!(ins.a(), v);
            }
            Op::SetGlobal => {
                let slot = rt.globals.slot(ins.c());
                if slot.get() == Value::UNDEF {
                    throw!(format!(
                        "Undefined variable '{}'.",
                        cx.rt.globals.name(ins.c())
                    ));
                }
                slot.set(r!(ins.a()));
            }
            Op::DefGlobal => rt.globals.slot(ins.c()).set(r!(ins.a())),
            Op::NewCell => {
                let v = r!(ins.a());
                let cell = cx.alloc(
                    Kind::Cell,
                    Cell {
                        value: crate::value::Slot::new(v),
                    },
                    0,
                );
                set!(ins.a(), cell);
                gc_check!();
            }
            Op::GetCell => {
                let cell = r!(ins.b());
                // SAFETY: codegen only emits GetCell on registers holding cells.
                let c = unsafe { body::<Cell>(cell) };
                set!(ins.a(), c.value.get());
            }
            Op::SetCell => {
                let cell = r!(ins.a());
                // SAFETY: as for GetCell.
                let c = unsafe { body::<Cell>(cell) };
                c.value.set(r!(ins.b()));
            }
            Op::GetUpval => {
                // SAFETY: the running closure is live; upvalue indices are
                // within its captures; every upvalue is a cell.
                let v = unsafe {
                    let ups: &[Value] = &(*(*fp).closure).body.upvals;
                    body::<Cell>(*ups.get_unchecked(ins.b())).value.get()
                };
                set!(ins.a(), v);
            }
            Op::SetUpval => {
                // SAFETY: as for GetUpval.
                let v = r!(ins.a());
                unsafe {
                    let ups: &[Value] = &(*(*fp).closure).body.upvals;
                    body::<Cell>(*ups.get_unchecked(ins.b())).value.set(v);
                }
            }
            Op::Closure => {
                let fv = k!(ins.c());
                // SAFETY: Closure's constant is always a function.
                let f = unsafe { body::<Function>(fv) };
                // SAFETY: the running closure is live.
                let parent = unsafe { &(*(*fp).closure).body };
                let upvals: Box<[Value]> = f
                    .captures
                    .iter()
                    .map(|c| match *c {
                        Capture::Local(i) => r!(i as usize),
                        Capture::Upvalue(i) => parent.upvals[i as usize],
                    })
                    .collect();
                let extra = upvals.len() * 8;
                let c = cx.alloc(
                    Kind::Closure,
                    Closure {
                        function: fv.as_obj() as *const Obj<Function>,
                        upvals,
                    },
                    extra,
                );
                set!(ins.a(), c);
                gc_check!();
            }
            Op::Add => {
                let (x, y) = (r!(ins.b()), r!(ins.c()));
                if x.is_number() && y.is_number() {
                    set!(ins.a(), Value::number_raw(x.as_number() + y.as_number()));
                } else {
                    let v = tri!(concat(cx, x, y));
                    set!(ins.a(), v);
                    gc_check!();
                }
            }
            Op::Concat => {
                let n = ins.c();
                // SAFETY: codegen follows a `Concat` of `n` operands with
                // its `n.div_ceil(3)` `Args` words, whose registers are
                // within the frame.
                let v = tri!(unsafe { concat_all(cx, base, ip, n) });
                // Past the `Args` words (after the error check, so that an
                // error's line is the `Concat`'s).
                ip = ip.wrapping_add(n.div_ceil(3));
                set!(ins.a(), v);
                gc_check!();
            }
            Op::Args => debug_assert!(false, "Args words are skipped by their Concat"),
            Op::Sub => numeric!(ins, -, Value::number_raw),
            Op::Mul => numeric!(ins, *, Value::number_raw),
            Op::Div => numeric!(ins, /, Value::number_raw),
            Op::Mod => {
                let (x, y) = (r!(ins.b()), r!(ins.c()));
                if x.is_number() && y.is_number() {
                    set!(ins.a(), Value::number(modulo(x.as_number(), y.as_number())));
                } else {
                    throw!("Operands must be numbers.".to_string());
                }
            }
            Op::AddI => {
                let x = r!(ins.b());
                if x.is_number() {
                    set!(ins.a(), Value::number_raw(x.as_number() + ins.sc() as f64));
                } else {
                    throw!("Operands must be two numbers or two strings.".to_string());
                }
            }
            Op::SubI => {
                let x = r!(ins.b());
                if x.is_number() {
                    set!(ins.a(), Value::number_raw(x.as_number() - ins.sc() as f64));
                } else {
                    throw!("Operands must be numbers.".to_string());
                }
            }
            Op::MulI => {
                let x = r!(ins.b());
                if x.is_number() {
                    set!(ins.a(), Value::number_raw(x.as_number() * ins.sc() as f64));
                } else {
                    throw!("Operands must be numbers.".to_string());
                }
            }
            Op::ModI => remainder_imm!(ins, modulo_int),
            Op::ModP2 => remainder_imm!(ins, modulo_pow2),
            Op::Neg => {
                let x = r!(ins.b());
                if x.is_number() {
                    set!(ins.a(), Value::number_raw(-x.as_number()));
                } else {
                    throw!("Operand must be a number.".to_string());
                }
            }
            Op::Not => set!(ins.a(), Value::bool(r!(ins.b()).is_falsey())),
            Op::Eq => set!(ins.a(), Value::bool(values_equal(r!(ins.b()), r!(ins.c())))),
            Op::Ne => set!(
                ins.a(),
                Value::bool(!values_equal(r!(ins.b()), r!(ins.c())))
            ),
            Op::Lt => numeric!(ins, <, Value::bool),
            Op::Le => numeric!(ins, >, Value::bool_not),
            Op::Gt => numeric!(ins, >, Value::bool),
            Op::Ge => numeric!(ins, <, Value::bool_not),
            Op::Jmp => ip = ip.wrapping_offset(ins.sc()),
            Op::Loop => {
                ip = ip.wrapping_offset(ins.sc());
                spend!(save_pc!());
            }
            Op::JmpFalse => {
                if r!(ins.a()).is_falsey() {
                    ip = ip.wrapping_offset(ins.sc());
                }
            }
            Op::JmpTrue => {
                if !r!(ins.a()).is_falsey() {
                    ip = ip.wrapping_offset(ins.sc());
                }
            }
            Op::JNotLt => jump_when_rr!(ins, |x, y| !(x < y)),
            Op::JNotLe => jump_when_rr!(ins, |x, y| x > y),
            Op::JNotGt => jump_when_rr!(ins, |x, y| !(x > y)),
            Op::JNotGe => jump_when_rr!(ins, |x, y| x < y),
            Op::JNotLtI => jump_when!(ins, r!(ins.a()), ins.sb() as f64, |x, y| !(x < y)),
            Op::JNotLeI => jump_when!(ins, r!(ins.a()), ins.sb() as f64, |x, y| x > y),
            Op::JNotGtI => jump_when!(ins, r!(ins.a()), ins.sb() as f64, |x, y| !(x > y)),
            Op::JNotGeI => jump_when!(ins, r!(ins.a()), ins.sb() as f64, |x, y| x < y),
            Op::JNotEqI => {
                let x = r!(ins.a());
                // `values_equal` for a number: only a number equals one.
                if !(x.is_number() && x.as_number() == ins.sb() as f64) {
                    ip = ip.wrapping_offset(ins.sc());
                }
            }
            Op::JEqI => {
                let x = r!(ins.a());
                if x.is_number() && x.as_number() == ins.sb() as f64 {
                    ip = ip.wrapping_offset(ins.sc());
                }
            }
            Op::JNotEq => {
                if !values_equal(r!(ins.a()), r!(ins.b())) {
                    ip = ip.wrapping_offset(ins.sc());
                }
            }
            Op::JEq => {
                if values_equal(r!(ins.a()), r!(ins.b())) {
                    ip = ip.wrapping_offset(ins.sc());
                }
            }
            Op::Call => {
                let (a, argc) = (ins.a(), ins.b());
                let callee = r!(a);
                save_pc!();
                call!(a, argc, callee);
            }
            Op::Invoke => {
                let (a, argc) = (ins.a(), ins.b());
                let recv = r!(a);
                let name = k!(ins.c());
                save_pc!();
                let hint = hint!();
                let callee = if let Some(inst) = as_instance(recv) {
                    let h = hint.load(Ordering::Relaxed) as usize;
                    // SAFETY: an instance keeps its class alive.
                    let class = unsafe { &(*inst.class).body };
                    let method = if class.shadowed.load(Ordering::Relaxed) {
                        None
                    } else {
                        class.methods.lookup(name.as_obj(), h)
                    };
                    if let Some((i, m)) = method {
                        if i != h {
                            hint.store(i as u32, Ordering::Relaxed);
                        }
                        m
                    } else if let Some((i, fv)) = inst.fields.lookup(name.as_obj(), h) {
                        hint.store(i as u32, Ordering::Relaxed);
                        set!(a, fv);
                        fv
                    } else {
                        match class.methods.lookup(name.as_obj(), h) {
                            Some((i, m)) => {
                                hint.store(i as u32, Ordering::Relaxed);
                                m
                            }
                            None => throw!(undefined_property(name)),
                        }
                    }
                } else if let Some(m) = as_module(recv) {
                    // The module stays in `R[a]` (a native that parks to
                    // retry re-executes this instruction).
                    match m.members.get(name.as_obj()) {
                        Some(v) => v,
                        None => throw!(undefined_property(name)),
                    }
                } else {
                    throw!("Only instances have methods.".to_string());
                };
                call!(a, argc, callee);
            }
            Op::SuperInvoke => {
                let (a, argc) = (ins.a(), ins.b());
                let name = k!(ins.c());
                let sup = r!(a + argc + 1);
                save_pc!();
                let Some(class) = as_class(sup) else {
                    throw!("Superclass must be a class.".to_string());
                };
                let Some(method) = class.methods.get(name.as_obj()) else {
                    throw!(undefined_property(name));
                };
                call!(a, argc, method);
            }
            Op::GetSuper => {
                let name = k!(ins.c());
                let Some(class) = as_class(r!(ins.b())) else {
                    throw!("Superclass must be a class.".to_string());
                };
                let Some(method) = class.methods.get(name.as_obj()) else {
                    throw!(undefined_property(name));
                };
                let recv = r!(ins.a());
                let b = cx.alloc(
                    Kind::BoundMethod,
                    BoundMethod {
                        receiver: recv,
                        method,
                    },
                    0,
                );
                set!(ins.a(), b);
                gc_check!();
            }
            Op::Return => {
                let v = r!(ins.a());
                if depth == 1 {
                    ret!(Outcome::Done(v));
                }
                // SAFETY: the returning frame's `R[0]` is the caller's
                // `R[a]` of the call, inside the stack; `depth > 1`, so the
                // caller's frame sits just below `fp`.
                let fr = unsafe {
                    *base = v;
                    depth -= 1;
                    g.frames.set_len(depth);
                    fp = fp.sub(1);
                    *fp
                };
                // SAFETY: a frame's function is kept alive by its closure.
                func = unsafe { &*fr.func };
                ip = fr.ip;
                consts = func.consts.as_ptr();
                base = g.stack.as_mut_ptr().wrapping_add(fr.base);
            }
            Op::Class => {
                let name = k!(ins.c());
                let c = cx.alloc(
                    Kind::Class,
                    Class {
                        name,
                        methods: Table::new(),
                        init: crate::value::Slot::new(Value::NIL),
                        shadowed: std::sync::atomic::AtomicBool::new(false),
                        field_hint: std::sync::atomic::AtomicU32::new(0),
                    },
                    0,
                );
                set!(ins.a(), c);
                gc_check!();
            }
            Op::Inherit => {
                let sub = r!(ins.a());
                let Some(sup) = as_class(r!(ins.b())) else {
                    throw!("Superclass must be a class.".to_string());
                };
                let subc = as_class(sub).expect("Inherit target is a class");
                let mut entries = Vec::new();
                sup.methods.for_each(|k, v| entries.push((k, v)));
                for (k, v) in entries {
                    cx.table_insert(sub, &subc.methods, Value::object(k as *mut Header), v);
                }
                subc.init.set(sup.init.get());
            }
            Op::Method => {
                let class_v = r!(ins.a());
                let class = as_class(class_v).expect("Method target is a class");
                let name = k!(ins.c());
                let m = r!(ins.b());
                cx.table_insert(class_v, &class.methods, name, m);
                if name == cx.rt.init_name {
                    class.init.set(m);
                }
            }
            Op::GetProp => {
                let obj = r!(ins.b());
                let name = k!(ins.c());
                if let Some(inst) = as_instance(obj) {
                    let hint = hint!();
                    let h = hint.load(Ordering::Relaxed) as usize;
                    if let Some((i, v)) = inst.fields.lookup(name.as_obj(), h) {
                        if i != h {
                            hint.store(i as u32, Ordering::Relaxed);
                        }
                        set!(ins.a(), v);
                        continue;
                    }
                    // SAFETY: an instance keeps its class alive.
                    let class = unsafe { &(*inst.class).body };
                    match class.methods.get(name.as_obj()) {
                        Some(m) => {
                            let b = cx.alloc(
                                Kind::BoundMethod,
                                BoundMethod {
                                    receiver: obj,
                                    method: m,
                                },
                                0,
                            );
                            set!(ins.a(), b);
                            gc_check!();
                        }
                        None => throw!(undefined_property(name)),
                    }
                } else if let Some(m) = as_module(obj) {
                    match m.members.get(name.as_obj()) {
                        Some(v) => set!(ins.a(), v),
                        None => throw!(undefined_property(name)),
                    }
                } else {
                    throw!("Only instances have properties.".to_string());
                }
            }
            Op::SetProp => {
                let obj = r!(ins.a());
                let name = k!(ins.c());
                let v = r!(ins.b());
                if let Some(inst) = as_instance(obj) {
                    let hint = hint!();
                    let h = hint.load(Ordering::Relaxed) as usize;
                    if let Some(i) = inst.fields.update(name.as_obj(), h, v) {
                        if i != h {
                            hint.store(i as u32, Ordering::Relaxed);
                        }
                    } else {
                        inst.note_new_field(name.as_obj());
                        // A new field that fits the instance's block (an
                        // initializer's, mostly) is added here, under the
                        // writer lock; one that grows it goes out of line,
                        // and allocates.
                        let fits = {
                            let _g = lock_obj(obj);
                            inst.fields.insert_in_place(name.as_obj(), h, v)
                        };
                        if let Some(i) = fits {
                            if i != h {
                                hint.store(i as u32, Ordering::Relaxed);
                            }
                        } else {
                            let i = cx.table_insert(obj, &inst.fields, name, v);
                            hint.store(i as u32, Ordering::Relaxed);
                            gc_check!();
                        }
                    }
                } else if obj.is_kind(Kind::Module) {
                    throw!("Modules are read-only.".to_string());
                } else {
                    throw!("Only instances have fields.".to_string());
                }
            }
            Op::InitProp => {
                let obj = r!(ins.a());
                let name = k!(ins.c());
                let v = r!(ins.b());
                let inst = as_instance(obj).expect("a class call's new instance");
                inst.note_new_field(name.as_obj());
                // No writer lock: nothing else can reach the instance yet
                // (`Proto::construct_entry`).
                if inst.fields.append_unshared(name.as_obj(), v).is_none() {
                    cx.table_insert(obj, &inst.fields, name, v);
                    gc_check!();
                }
            }
            Op::GetIndex => {
                let (obj, i) = (r!(ins.b()), r!(ins.c()));
                // Fast path: a list and an in-range integral index.
                if let (Some(l), true) = (as_list(obj), i.is_number()) {
                    if let Some(k) = whole_index(i.as_number()) {
                        if let Some(v) = l.get(k) {
                            set!(ins.a(), v);
                            continue;
                        }
                    }
                }
                let v = tri!(get_index(cx, obj, i));
                set!(ins.a(), v);
            }
            Op::GetIndexI => {
                let (obj, k) = (r!(ins.b()), ins.c());
                if let Some(v) = as_list(obj).and_then(|l| l.get(k)) {
                    set!(ins.a(), v);
                    continue;
                }
                let v = tri!(get_index(cx, obj, Value::number(k as f64)));
                set!(ins.a(), v);
            }
            Op::SetIndex => {
                let (obj, i, v) = (r!(ins.a()), r!(ins.b()), r!(ins.c()));
                if let (Some(l), true) = (as_list(obj), i.is_number()) {
                    if whole_index(i.as_number()).is_some_and(|k| l.set(k, v)) {
                        continue;
                    }
                }
                tri!(set_index(cx, obj, i, v));
                gc_check!();
            }
            Op::NewList => {
                let (b, n) = (ins.b(), ins.c());
                // SAFETY: registers b..b+n are within the frame.
                let items = unsafe { std::slice::from_raw_parts(base.add(b), n) };
                let l = cx.new_list(items);
                set!(ins.a(), l);
                gc_check!();
            }
            Op::NewMap => {
                let (b, n) = (ins.b(), ins.c());
                let m = cx.new_map();
                let bytes = {
                    let mut t = as_map(m).expect("new map").table.lock();
                    for i in 0..n {
                        t.insert(r!(b + 2 * i), r!(b + 2 * i + 1));
                    }
                    t.bytes()
                };
                cx.adjust(m, bytes as isize);
                set!(ins.a(), m);
                gc_check!();
            }
            Op::IterPrep => {
                let v = r!(ins.a());
                if !(v.is_kind(Kind::List)
                    || v.is_kind(Kind::Map)
                    || v.is_kind(Kind::String)
                    || v.is_kind(Kind::Chan))
                {
                    throw!("Can only iterate over lists, maps, strings and channels.".to_string());
                }
                set!(ins.a() + 1, Value::number_raw(0.0));
            }
            Op::IterNext => {
                let coll = r!(ins.a());
                let i = r!(ins.a() + 1).as_number() as usize;
                let next = if let Some(l) = as_list(coll) {
                    l.get(i)
                } else if let Some(m) = as_map(coll) {
                    m.table.lock().entries.get_index(i).map(|(k, _)| k.0)
                } else if let Some(s) = as_string(coll) {
                    s.bytes().get(i).map(|b| cx.rt.one_byte[*b as usize])
                } else {
                    save_pc!();
                    match iter_recv(cx, coll, frame_base(fp) + ins.b(), ins.sc(), budget) {
                        Ok(v) => v,
                        Err(flow) => ret!(flow_outcome(g, flow)),
                    }
                };
                match next {
                    Some(x) => {
                        set!(ins.b(), x);
                        set!(ins.a() + 1, Value::number_raw((i + 1) as f64));
                        spend!(save_pc!());
                    }
                    None => ip = ip.wrapping_offset(ins.sc()),
                }
            }
            Op::Print => {
                let v = r!(ins.a());
                cx.print(v, ins.b() == 1);
            }
            Op::Go => {
                // SAFETY: registers a..=a+b are within the frame.
                let vals = unsafe { std::slice::from_raw_parts(base.add(ins.a()), ins.b() + 1) };
                op_go(cx, vals);
                // A new goroutine is charged as runtime memory: when that
                // took the footprint over `--max-heap`, `go` checks the
                // limit as an allocation safepoint would.
                if cx.local().mc.over_limit {
                    cx.local().mc.over_limit = false;
                    save_pc!();
                    if let Err(flow) = crate::gc::safepoint(cx) {
                        ret!(flow_outcome(g, flow));
                    }
                    reload!();
                }
            }
            Op::Send | Op::Recv | Op::Select => {
                save_pc!();
                // SAFETY: the running frame's registers start at `base`
                // and codegen keeps the operands below `num_regs`.
                let regs = unsafe { std::slice::from_raw_parts_mut(base, func.num_regs as usize) };
                let wait = &mut g.select_wait;
                if let Err(flow) = op_chan(cx, ins, regs, frame_base(fp), wait, budget) {
                    ret!(flow_outcome(g, flow));
                }
            }
        }
    }
}

/// `Go`: starts the goroutine (out of line: keeps the dispatch loop small).
#[inline(never)]
fn op_go(cx: &mut Ctx, vals: &[Value]) {
    crate::sched::proc::newproc(cx, vals);
}

/// `Send`, `Recv` and `Select` over the running frame's registers `regs`
/// (whose first slot is stack index `base`). Out of line: channel
/// operations are rare next to arithmetic and calls, and keeping them out
/// of `run` keeps its register allocation tight. The chunk's `budget`
/// left is noted on the P for the operation's length (`PLocal::op_budget`),
/// so that a goroutine the operation wakes is recorded at a point a
/// later park can recognise (`proc::park_commit`).
#[inline(never)]
fn op_chan(
    cx: &mut Ctx,
    ins: Instr,
    regs: &mut [Value],
    base: usize,
    wait: &mut crate::sched::chan::SelectWait,
    budget: u32,
) -> Result<(), Flow> {
    noting_budget(cx, budget, |cx| {
        use crate::sched::chan;
        match ins.op() {
            Op::Send => chan::send(cx, regs[ins.a()], regs[ins.b()]),
            Op::Recv => {
                let (v, _) = chan::recv(cx, regs[ins.b()], Resume::Store(base + ins.a()))?;
                regs[ins.a()] = v;
                Ok(())
            }
            _ => {
                let (a, nrecv, c) = (ins.a(), ins.b(), ins.c());
                let nsend = c >> 1;
                let mut cases = Vec::with_capacity(nrecv + nsend);
                for i in 0..nrecv {
                    cases.push(chan::Case {
                        chan: regs[a + i],
                        send: None,
                    });
                }
                for j in 0..nsend {
                    cases.push(chan::Case {
                        chan: regs[a + nrecv + 2 * j],
                        send: Some(regs[a + nrecv + 2 * j + 1]),
                    });
                }
                let (i, v, ok) = chan::select(cx, &cases, c & 1 == 1, base + a, wait)?;
                regs[a] = Value::number(i as f64);
                regs[a + 1] = v;
                regs[a + 2] = Value::bool(ok);
                Ok(())
            }
        }
    })
}

/// Runs `op`, a channel operation, with the chunk's `budget` left noted on
/// the P (`PLocal::op_budget`), as `op_chan` and `iter_recv` do.
#[inline(always)]
fn noting_budget<T>(cx: &mut Ctx, budget: u32, op: impl FnOnce(&mut Ctx) -> T) -> T {
    cx.local().op_budget = budget;
    let done = op(cx);
    cx.local().op_budget = u32::MAX;
    done
}

/// `IterNext` over a channel: the next value, or `None` when closed and
/// drained. `budget` is the chunk's budget left, noted as `op_chan` notes
/// it.
#[inline(never)]
fn iter_recv(
    cx: &mut Ctx,
    ch: Value,
    dest: usize,
    exit: isize,
    budget: u32,
) -> Result<Option<Value>, Flow> {
    let resume = Resume::Iter { dest, exit };
    match noting_budget(cx, budget, |cx| crate::sched::chan::recv(cx, ch, resume))? {
        (v, true) => Ok(Some(v)),
        (_, false) => Ok(None),
    }
}

/// `a % b` with C's `fmod` semantics (the result has the sign of `a`).
/// An integral divisor takes [`modulo_int`]'s exact fast path; anything else
/// is `fmod`.
#[inline(always)]
fn modulo(a: f64, b: f64) -> f64 {
    if b != 0.0 && b.abs() < EXACT && (b as i64) as f64 == b {
        modulo_int(a, b as i64)
    } else {
        a % b
    }
}

/// Operands below this magnitude (2^52) keep `|b * q| <= |a| + |b| < 2^53`,
/// so the products in [`modulo_int`] are exact.
const EXACT: f64 = 4_503_599_627_370_496.0;

/// `a % d` for an integer divisor `|d| < 2^52` (`ModI`'s immediate, or an
/// integral `%` operand), equal to `fmod` bit for bit. For an integral
/// dividend below 2^52 it avoids both libm's `fmod` and the slow 64-bit
/// integer divide: the quotient is estimated with one floating-point
/// division and truncated, and the remainder `a - d*q` (exact, every term
/// stays below 2^53) is corrected by at most one `|d|` when the estimate was
/// off by one; `-0` comes back for a negative dividend, as from `fmod`.
#[inline(always)]
fn modulo_int(a: f64, d: i64) -> f64 {
    if d != 0 && a.abs() < EXACT {
        let b = d as f64;
        // SAFETY: `|a| < 2^52` (NaN fails the comparison), so the truncations
        // of `a` and of `a / b` (no larger in magnitude) fit in `i64`.
        let (ia, iq) = unsafe {
            (
                a.to_int_unchecked::<i64>(),
                (a / b).to_int_unchecked::<i64>(),
            )
        };
        if ia as f64 == a {
            let mut r = a - b * iq as f64;
            let m = b.abs();
            if a >= 0.0 {
                if r < 0.0 {
                    r += m;
                } else if r >= m {
                    r -= m;
                }
            } else if r > 0.0 {
                r -= m;
            } else if r <= -m {
                r += m;
            }
            return if r != 0.0 {
                r
            } else if a.is_sign_negative() {
                -0.0
            } else {
                0.0
            };
        }
    }
    a % d as f64
}

/// `a % d` for a positive power of two `d` below 2^24 (`ModP2`'s
/// immediate): for an integral dividend below 2^52 the remainder is its
/// low bits, with its sign, as `fmod` gives; anything else goes to
/// [`modulo_int`].
#[inline(always)]
fn modulo_pow2(a: f64, d: i64) -> f64 {
    if a.abs() < EXACT {
        // SAFETY: `|a| < 2^52` (NaN fails the comparison), so its
        // truncation fits in `i64`.
        let ia = unsafe { a.to_int_unchecked::<i64>() };
        if ia as f64 == a {
            let r = (ia.unsigned_abs() & (d as u64 - 1)) as i64 as f64;
            return if a.is_sign_negative() { -r } else { r };
        }
    }
    modulo_int(a, d)
}

/// The stack index of the running frame's `R[0]`.
#[inline(always)]
fn frame_base(fp: *const Frame) -> usize {
    // SAFETY: callers pass the interpreter's running-frame pointer.
    unsafe { (*fp).base }
}

/// Grows `g`'s stack to hold at least `need` slots (doubling) and its
/// frame vector when it is full, and charges the growth to the heap.
#[cold]
#[inline(never)]
fn grow(cx: &mut Ctx, g: &mut Exec, need: usize) {
    if need > g.stack.len() {
        let n = need.max(g.stack.len() * 2);
        g.stack.resize(n, Value::NIL);
    }
    if g.frames.len() == g.frames.capacity() {
        // Doubling (at least four frames: a fresh goroutine's first calls).
        g.frames.reserve(g.frames.len().max(4));
    }
    g.recharge(cx);
}

/// Builds a runtime error with `g`'s current trace.
#[cold]
pub fn error_at(g: &Exec, msg: String) -> RuntimeError {
    RuntimeError::new(msg, g.trace())
}

/// What a non-value end of an operation means for `run`: a runtime error,
/// a park (the state is already saved), or a yield.
#[cold]
fn flow_outcome(g: &Exec, flow: Flow) -> Outcome {
    match flow {
        Flow::Error(msg) => Outcome::Error(error_at(g, msg)),
        Flow::Park(pk) => Outcome::Park(pk),
        Flow::Gosched => Outcome::Gosched,
        Flow::Syscall(sc) => Outcome::Syscall(sc),
        Flow::Exit(status) => Outcome::Error(RuntimeError::exit(status)),
        Flow::TailCall(..) => unreachable!("call_value makes a native's tail call"),
    }
}

/// Makes the pending first call of a new goroutine (see
/// [`Exec::pending_call`]).
pub fn start_call(cx: &mut Ctx, g: &mut Exec, argc: usize) -> Result<(), Flow> {
    let callee = g.stack[0];
    call_value(cx, g, 0, argc, callee)
}

#[cold]
fn undefined_property(name: Value) -> String {
    let n = as_string(name)
        .map(|s| str_text(s).into_owned())
        .unwrap_or_default();
    format!("Undefined property '{n}'.")
}

/// Calls `callee` whose arguments sit at `stack[at+1 ..= at+argc]`, with the
/// result going to `stack[at]`. Closures get a new frame (the caller resumes
/// it); natives, classes and bound methods complete here.
pub fn call_value(
    cx: &mut Ctx,
    g: &mut Exec,
    at: usize,
    argc: usize,
    callee: Value,
) -> Result<(), Flow> {
    let Some(kind) = callee.kind() else {
        return Err("Can only call functions and classes.".into());
    };
    match kind {
        Kind::Closure => {
            let cp = callee.as_obj() as *const Obj<Closure>;
            let f = closure_fn(cp);
            if f.arity as usize != argc {
                return Err(format!("Expected {} arguments but got {}.", f.arity, argc).into());
            }
            if g.frames.len() >= MAX_FRAMES {
                return Err("Stack overflow.".into());
            }
            let need = at + f.num_regs as usize;
            if need > g.stack.len() || g.frames.len() == g.frames.capacity() {
                grow(cx, g, need);
            }
            g.frames.push(Frame {
                closure: cp,
                func: f as *const Function,
                ip: f.code.as_ptr(),
                base: at,
            });
            Ok(())
        }
        Kind::Native => {
            let n = as_native(callee).expect("kind checked");
            if let Some(arity) = n.arity {
                if arity as usize != argc {
                    return Err(format!("Expected {} arguments but got {}.", arity, argc).into());
                }
            }
            let f = n.f;
            let args = if n.receiver {
                &g.stack[at..at + 1 + argc]
            } else {
                &g.stack[at + 1..at + 1 + argc]
            };
            match f(cx, args) {
                Ok(v) => {
                    g.stack[at] = v;
                    Ok(())
                }
                Err(Flow::Park(mut pk)) => {
                    // A native parks with its result still to come: it goes
                    // to the call's result slot.
                    pk.resume = match pk.resume {
                        Resume::Store(usize::MAX) => Resume::Store(at),
                        Resume::StoreOk(usize::MAX) => Resume::StoreOk(at),
                        Resume::None => {
                            g.stack[at] = Value::NIL;
                            Resume::None
                        }
                        r => r,
                    };
                    Err(Flow::Park(pk))
                }
                Err(Flow::Gosched) => {
                    g.stack[at] = Value::NIL;
                    Err(Flow::Gosched)
                }
                Err(Flow::Syscall(mut sc)) => {
                    // The result comes when the call returns.
                    sc.slot = at;
                    Err(Flow::Syscall(sc))
                }
                Err(Flow::TailCall(callee, args)) => {
                    // The callee takes the native's place: it is called at
                    // the same slot, its arguments right above it. Slots
                    // above a call's window are free (a closure called
                    // there would use them for its registers).
                    let need = at + 1 + args.len();
                    if need > g.stack.len() {
                        grow(cx, g, need);
                    }
                    g.stack[at] = callee;
                    g.stack[at + 1..need].copy_from_slice(&args);
                    call_value(cx, g, at, args.len(), callee)
                }
                Err(e) => Err(e),
            }
        }
        Kind::Class => {
            let class = as_class(callee).expect("kind checked");
            let inst = cx.alloc_instance(callee);
            g.stack[at] = inst;
            let init = class.init.get();
            if init.is_nil() {
                if argc != 0 {
                    return Err(format!("Expected 0 arguments but got {argc}.").into());
                }
                Ok(())
            } else {
                let depth = g.frames.len();
                call_value(cx, g, at, argc, init)?;
                // An initializer in Skein (not a native) enters at its
                // construction entry, if it has one.
                if g.frames.len() > depth {
                    let f = g.frames.last_mut().expect("the frame just pushed");
                    // SAFETY: the frame's function outlives the frame.
                    let entry = unsafe { (*f.func).construct_entry } as usize;
                    if entry != 0 {
                        // SAFETY: the compiler puts the entry inside the
                        // code (`Proto::construct_entry`).
                        f.ip = unsafe { f.ip.add(entry) };
                    }
                }
                Ok(())
            }
        }
        Kind::BoundMethod => {
            let b = as_bound(callee).expect("kind checked");
            g.stack[at] = b.receiver;
            call_value(cx, g, at, argc, b.method)
        }
        _ => Err("Can only call functions and classes.".into()),
    }
}

/// String concatenation (the non-number case of `Add`).
fn concat(cx: &mut Ctx, x: Value, y: Value) -> Result<Value, String> {
    match (as_string(x), as_string(y)) {
        (Some(a), Some(b)) => Ok(cx.string_parts(&[a.bytes(), b.bytes()])),
        _ => Err("Operands must be two numbers or two strings.".into()),
    }
}

/// `Concat`: the `n` operands its `Args` words name, added left to right.
/// When they are all strings, one new string of them all; otherwise step
/// by step as `Add` does, so numbers add, and the first step that is
/// neither fails with `Add`'s error. (An intermediate string lives only in
/// `acc` while the next one is allocated: allocation never collects
/// between safepoints, see `heap`.) Kept out of line: the interpreter loop
/// is one function, and inlined here this cost fib, which never reaches
/// it, another 0.5% of instructions.
///
/// # Safety
/// `args` points at the `n.div_ceil(3)` `Args` words of the `Concat`, and
/// their first `n` registers are within the frame at `base`.
#[inline(never)]
unsafe fn concat_all(
    cx: &mut Ctx,
    base: *const Value,
    args: *const Instr,
    n: usize,
) -> Result<Value, String> {
    let operand = |i: usize| -> Value {
        // SAFETY: `i < n`, so the caller guarantees the word and the
        // register.
        unsafe {
            let word = *args.add(i / 3);
            let r = match i % 3 {
                0 => word.a(),
                1 => word.b(),
                _ => word.c(),
            };
            *base.add(r)
        }
    };
    let mut parts = [std::mem::MaybeUninit::<&[u8]>::uninit(); MAX_CONCAT];
    let n = n.min(MAX_CONCAT);
    let mut strings = 0;
    while strings < n {
        match as_string(operand(strings)) {
            Some(s) => parts[strings] = std::mem::MaybeUninit::new(s.bytes()),
            None => break,
        }
        strings += 1;
    }
    if strings == n {
        // SAFETY: the loop initialised the first `n` parts.
        let parts = unsafe { std::slice::from_raw_parts(parts.as_ptr().cast::<&[u8]>(), n) };
        return Ok(cx.string_parts(parts));
    }
    let mut acc = operand(0);
    for i in 1..n {
        let y = operand(i);
        acc = if acc.is_number() && y.is_number() {
            Value::number_raw(acc.as_number() + y.as_number())
        } else {
            concat(cx, acc, y)?
        };
    }
    Ok(acc)
}

/// Converts an index value to a position in a sequence of length `len`.
#[inline(always)]
fn index_of(i: Value, len: usize) -> Result<usize, String> {
    // Fast path: an in-range integral index (no libm call).
    if i.is_number() {
        if let Some(k) = whole_index(i.as_number()).filter(|&k| k < len) {
            return Ok(k);
        }
    }
    index_error(i, len)
}

/// `n` as a position when it is a whole number from 0 up (`-0` is 0);
/// `None` sends the caller to its slow path, which reports or handles
/// everything else. Converted through `i64`, which x86 does in one
/// instruction each way (`usize` takes a dozen: it has no unsigned
/// conversion), and this runs at every list index.
#[inline(always)]
fn whole_index(n: f64) -> Option<usize> {
    let k = n as i64;
    (k as f64 == n && k >= 0).then_some(k as usize)
}

#[cold]
fn index_error(i: Value, len: usize) -> Result<usize, String> {
    if !i.is_number() {
        return Err("Index must be an integer.".into());
    }
    let n = i.as_number();
    if n.fract() != 0.0 || n.is_nan() {
        return Err("Index must be an integer.".into());
    }
    if n < 0.0 || n >= len as f64 {
        return Err("Index out of range.".into());
    }
    Ok(n as usize)
}

fn get_index(cx: &mut Ctx, obj: Value, i: Value) -> Result<Value, String> {
    if let Some(l) = as_list(obj) {
        let idx = index_of(i, l.len())?;
        return l.get(idx).ok_or_else(|| "Index out of range.".into());
    }
    if let Some(m) = as_map(obj) {
        return Ok(m.table.lock().get(i).unwrap_or(Value::NIL));
    }
    if let Some(s) = as_string(obj) {
        let idx = index_of(i, s.len())?;
        return Ok(cx.rt.one_byte[s.bytes()[idx] as usize]);
    }
    Err("Only lists, maps and strings can be indexed.".into())
}

fn set_index(cx: &mut Ctx, obj: Value, i: Value, v: Value) -> Result<(), String> {
    if let Some(l) = as_list(obj) {
        let idx = index_of(i, l.len())?;
        if !l.set(idx, v) {
            return Err("Index out of range.".into());
        }
        return Ok(());
    }
    if let Some(m) = as_map(obj) {
        let delta = {
            let mut t = m.table.lock();
            let before = t.bytes();
            t.insert(i, v);
            t.bytes() as isize - before as isize
        };
        cx.adjust(obj, delta);
        return Ok(());
    }
    Err("Only lists and maps support index assignment.".into())
}

#[cfg(test)]
mod tests {
    use super::{modulo, whole_index};

    #[test]
    fn modulo_by_immediate_matches_fmod() {
        let divisors = [
            1i64, -1, 2, 7, -7, 8, -64, 10, 1024, 8_388_607, -8_388_608, 0,
        ];
        let vals = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            6.0,
            7.0,
            -7.0,
            8.0,
            -13.0,
            65.0,
            -1025.0,
            1023.0,
            2.5,
            -2.5,
            1e15 + 3.0,
            4503599627370495.0,
            -4503599627370495.0,
            1e300,
            f64::NAN,
            f64::INFINITY,
        ];
        for &d in &divisors {
            for &a in &vals {
                let (x, y) = (super::modulo_int(a, d), a % d as f64);
                if d > 0 && d & (d - 1) == 0 {
                    let z = super::modulo_pow2(a, d);
                    assert!(
                        z.to_bits() == y.to_bits() || (z.is_nan() && y.is_nan()),
                        "{a} % {d} by low bits: {z} vs {y}"
                    );
                }
                assert!(
                    x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                    "{a} % {d}: {x} vs {y}"
                );
            }
        }
    }

    #[test]
    fn modulo_matches_fmod() {
        let vals = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            7.0,
            -7.0,
            3.0,
            10.0,
            -10.0,
            123456789.0,
            -987654321.0,
            4503599627370495.0,
            -4503599627370495.0,
            1e15 + 1.0,
            2.5,
            -2.5,
            1e300,
            f64::INFINITY,
        ];
        for &a in &vals {
            for &b in &vals {
                let (x, y) = (modulo(a, b), a % b);
                assert!(
                    x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                    "{a} % {b}: {x} vs {y}"
                );
            }
        }
        let mut seed = 0x1234_5678_u64;
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let a = ((seed >> 12) as i64 - (1 << 51)) as f64;
            let b = (((seed & 0xfff) as i64) - 2048) as f64;
            let (x, y) = (modulo(a, b), a % b);
            assert!(
                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                "{a} % {b}"
            );
        }
    }

    /// Whole numbers from 0 up are positions; fractions, negatives, NaN
    /// and infinities are not.
    #[test]
    fn whole_index_takes_only_whole_numbers_from_zero() {
        assert_eq!(whole_index(0.0), Some(0));
        assert_eq!(whole_index(-0.0), Some(0));
        assert_eq!(whole_index(3.0), Some(3));
        assert_eq!(whole_index(9_007_199_254_740_992.0), Some(1 << 53));
        for n in [
            0.5,
            3.25,
            -1.0,
            -0.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(whole_index(n), None, "{n}");
        }
    }
}
