//! The code generator: AST in, register bytecode ([`Program`]) out.
//!
//! It is a single forward pass over the statements that also reports clox's
//! scope and limit errors (duplicate locals, reading a local in its own
//! initializer, misplaced `return`/`this`/`super`/`break`/`continue`, too
//! many locals or closure variables). It relies on the resolver's
//! [`Captured`] set to know, at each declaration, whether the variable lives
//! in a heap cell.
//!
//! # Register allocation
//!
//! Registers are handed out as a stack, in the style of Lua 5:
//! 1. `R[0]` is reserved (the closure itself, or `this` in methods).
//! 2. Locals (parameters, `var`, `fun` and `class` names, `for-in`
//!    variables) and hidden locals (a `for-in`'s iterable and cursor, the
//!    class value during its body, the superclass for `super`, the cell of a
//!    captured `this`) occupy `R[1] .. R[locals_top)` in declaration order.
//!    A scope's end returns its registers.
//! 3. Temporaries are allocated above `locals_top` and released as soon as
//!    the expression that needed them is done, so at every statement
//!    boundary `next_reg == locals_top`.
//! 4. `expr_to(e, dst)` evaluates `e` into `dst`; `expr_any(e)` returns any
//!    register holding the value, which is the variable's own register for
//!    an uncaptured local (no `Move`).
//!
//! Two invariants keep this correct:
//! - When `dst` is a local's register (an assignment), every form writes
//!   `dst` only with its last instruction, or works in a temporary and moves
//!   the result at the end. Otherwise `a = b and [a]` would read `a` after
//!   it was overwritten. Any `dst` at or above `locals_top` is a temporary
//!   that may be used as scratch.
//! - Operands are evaluated left to right as a stack machine would. When an
//!   earlier operand is an uncaptured local's own register and a later
//!   operand contains an assignment to that local (`a + (a = 2)`), the
//!   earlier operand is first copied to a temporary. Calls cannot change an
//!   uncaptured local, because a local that some function can assign is
//!   captured and lives in a cell (read into a temporary by `GetCell`).
//!
//! # Variables
//!
//! A declaration at the top level of the script (no block open) is a global
//! (`DefGlobal`); a name that resolves to no local or upvalue is a global
//! access (`GetGlobal`/`SetGlobal`) whose operand is the index of the name's
//! `Const::Str`. A captured local's register holds a cell: `NewCell` boxes
//! the initial value right after it is computed (at entry for parameters,
//! after each `IterNext` for a `for-in` variable, before the closure for a
//! local `fun` so that it can capture itself). Upvalues are deduplicated per
//! function; `Capture::Local(r)` always names a register holding a cell.
//!
//! # Errors
//!
//! Messages and locations are clox's. Like clox's panic mode, only the
//! first error inside one declaration (an item of the script, a block or a
//! function body) is reported. Errors never stop code generation; the
//! program is discarded when any was reported.
//!
//! # Control flow
//!
//! Forward jumps (`Jmp`, conditional jumps, fused compare-branches,
//! `IterNext`) are emitted with a zero offset and patched; every backward
//! jump is a `Loop`, the VM's preemption safepoint. Loops need no cleanup at
//! `break`/`continue`: locals live in registers and cells are heap objects.
//!
//! # Concurrency
//!
//! - `go f(x);` lays out the callee and arguments exactly as a `Call`
//!   would (`R[a]`, `R[a+1..]`) and emits `Go a argc`. A method callee
//!   `obj.m` is read with `GetProp` (a bound method) and `super.m` with
//!   `GetSuper`, so the new goroutine makes a plain call.
//! - `ch <- v;` is `Send ch v`; `<-ch` is `Recv dst ch`.
//! - `select` compiles in four steps:
//!   1. Reserve a block of `max(2, recvs + 2 * sends)` temporaries at
//!      `base` (the `Select` register layout; its results need two).
//!   2. Evaluate the cases' channels and send values in source order, each
//!      straight into its slot: the `i`-th receive case into
//!      `R[base + i]`, the `j`-th send case into `R[base + recvs + 2j]`
//!      (channel) and the register after it (value).
//!   3. Emit `Select base recvs (sends << 1 | has_default)`, which leaves
//!      the chosen case's index in register order in `R[base]` (`-1` for
//!      `default`) and the received value in `R[base + 1]`.
//!   4. Dispatch: the case indices are tested in ascending order, each
//!      with one `JNotGtI base k` that jumps to its body when
//!      `R[base] <= k`, which after the earlier tests means `== k`; the
//!      largest index needs no test. The bodies follow in source order
//!      (so diagnostics come in source order too), each in a scope of its
//!      own and each but the last ending with a jump past the last. A
//!      `case var v` binding takes `R[base + 1]` itself as `v`'s register
//!      (boxed when captured), so binding costs no `Move`.
//!
//!   `break` and `continue` in a body jump like from any other statement.

use std::collections::HashMap;

use skein_bytecode::{Capture, Const, FnKind, Instr, Op, Program, Proto, MAX_C, MAX_SC, MIN_SC};

use crate::ast::{
    BinaryOp, Class, Decl, DeclId, Expr, ExprKind, Function, Ident, LogicalOp, SelectCase, Stmt,
    UnaryOp,
};
use crate::diagnostic::Diagnostic;
use crate::resolve::{Captured, SUPER_NAME};

/// Compiles a whole script (or one REPL entry) into a [`Program`].
///
/// `repl` marks a REPL entry. Entries compile exactly like scripts: the
/// caller already turned a lone expression statement into `print`, and
/// globals persist because the VM binds them by name. The flag is accepted
/// so that REPL-specific rules can be added without changing the API.
pub fn generate(
    stmts: &[Stmt],
    captured: &Captured,
    repl: bool,
) -> Result<Program, Vec<Diagnostic>> {
    let _ = repl;
    let mut g = Gen {
        fns: vec![FnState::new(None, FnKind::Script, None)],
        classes: Vec::new(),
        captured,
        diags: Vec::new(),
        panic: false,
    };
    for s in stmts {
        g.declaration(s);
    }
    let line = g.f().line;
    let r = g.alloc(line);
    g.emit(Instr::abc(Op::LoadNil, r, 0, 0), line);
    g.emit(Instr::abc(Op::Return, r, 0, 0), line);
    let main = g.fns.pop().expect("the script's state").finish();
    if g.diags.is_empty() {
        Ok(Program { main })
    } else {
        let mut diags = g.diags;
        diags.sort_by_key(|d| (d.line, d.offset));
        Err(diags)
    }
}

/// Most locals a function may have in scope at once, counting the reserved
/// `R[0]` (clox's `UINT8_COUNT`).
const MAX_LOCALS: usize = 256;
/// Most upvalues one function may have (clox's `UINT8_COUNT`).
const MAX_UPVALUES: usize = 256;
/// Registers are `u16` fields and `num_regs` is a `u16`, so the highest
/// usable register index is 65534 and a frame has at most 65535 registers.
const MAX_REGS: u32 = u16::MAX as u32;
/// `LoadI`, `AddI` and `SubI` carry their immediate in the signed 24-bit
/// `sc` field.
const IMM24: (f64, f64) = (MIN_SC as f64, MAX_SC as f64);
/// The fused compare-branches carry their immediate in the signed 16-bit `b`
/// field.
const IMM16: (f64, f64) = (i16::MIN as f64, i16::MAX as f64);

/// A local variable (or hidden local) of the function being compiled.
struct Local {
    /// The name it is looked up by; hidden locals other than `super` have
    /// an empty name, which no identifier can match.
    name: String,
    reg: u16,
    /// True when the register holds a cell.
    captured: bool,
    /// False between the declaration and the end of its initializer.
    initialized: bool,
}

/// What `begin_scope` saves so that `end_scope` can restore it.
struct ScopeMark {
    locals_len: usize,
    locals_top: u32,
    user_count: usize,
}

/// The jumps of one loop that still need a target.
struct LoopCtx {
    breaks: Vec<usize>,
    /// Forward `continue` jumps (a `for(;;)` with an increment).
    continues: Vec<usize>,
    /// Where a `continue` loops back to, when that is backwards.
    continue_back: Option<usize>,
}

/// Per-function compilation state.
struct FnState {
    proto: Proto,
    str_consts: HashMap<String, u32>,
    num_consts: HashMap<u64, u32>,
    locals: Vec<Local>,
    scopes: Vec<ScopeMark>,
    /// First register above every local (hidden ones included).
    locals_top: u32,
    /// First free register.
    next_reg: u32,
    max_regs: u32,
    /// User-visible locals in scope, counting the reserved `R[0]`.
    user_count: usize,
    loops: Vec<LoopCtx>,
    /// `Some(name id)` for methods and initializers.
    method: Option<DeclId>,
    /// The register holding the cell of `this`, when a closure captures it.
    this_cell: Option<u16>,
    /// Line of the most recent instruction, for instructions that have no
    /// node of their own (jumps).
    line: u32,
    /// Set once a register or constant overflow has been reported, so that
    /// it is reported only once.
    overflow_reported: bool,
}

impl FnState {
    fn new(name: Option<String>, kind: FnKind, method: Option<DeclId>) -> FnState {
        FnState {
            proto: Proto {
                name,
                kind,
                arity: 0,
                num_regs: 1,
                captures: Vec::new(),
                code: Vec::new(),
                lines: Vec::new(),
                consts: Vec::new(),
            },
            str_consts: HashMap::new(),
            num_consts: HashMap::new(),
            locals: Vec::new(),
            scopes: Vec::new(),
            locals_top: 1,
            next_reg: 1,
            max_regs: 1,
            user_count: 1,
            loops: Vec::new(),
            method,
            this_cell: None,
            line: 1,
            overflow_reported: false,
        }
    }

    fn finish(mut self) -> Proto {
        let needed = self.max_regs.max(1 + self.proto.arity as u32);
        self.proto.num_regs = needed.min(MAX_REGS) as u16;
        self.proto
    }
}

/// Where a name lives.
#[derive(Clone, Copy)]
enum Place {
    /// A register; `captured` means it holds a cell.
    Local {
        reg: u16,
        captured: bool,
    },
    Upval(u16),
    /// A global, by the index of its name constant.
    Global(u32),
}

/// Per-class state for `super` checks.
struct ClassCtx {
    has_superclass: bool,
}

struct Gen<'a> {
    /// The functions being compiled, outermost (the script) first.
    fns: Vec<FnState>,
    classes: Vec<ClassCtx>,
    captured: &'a Captured,
    diags: Vec<Diagnostic>,
    /// clox's panic mode: after an error, further errors in the same
    /// declaration are suppressed (clox resynchronizes at the end of each
    /// declaration, and the statement has already been parsed to its end).
    panic: bool,
}

/// The integer value of a number literal (possibly negated or parenthesized)
/// when it is integral, not `-0`, and within `range`.
fn int_literal(e: &Expr, range: (f64, f64)) -> Option<i32> {
    let n = number_literal(e)?;
    let integral = n.is_finite() && n.fract() == 0.0;
    let neg_zero = n == 0.0 && n.is_sign_negative();
    (integral && !neg_zero && n >= range.0 && n <= range.1).then_some(n as i32)
}

/// The value of a number literal, folding negation and grouping (neither can
/// fail at run time on a number, so folding is unobservable).
fn number_literal(e: &Expr) -> Option<f64> {
    match &e.kind {
        ExprKind::Number(n) => Some(*n),
        ExprKind::Grouping(inner) => number_literal(inner),
        ExprKind::Unary {
            op: UnaryOp::Neg,
            operand,
        } => number_literal(operand).map(|n| -n),
        _ => None,
    }
}

/// Strips grouping parentheses.
fn ungroup(e: &Expr) -> &Expr {
    match &e.kind {
        ExprKind::Grouping(inner) => ungroup(inner),
        _ => e,
    }
}

impl<'a> Gen<'a> {
    // ----- Function state, emission, constants, registers -----

    fn f(&mut self) -> &mut FnState {
        self.fns.last_mut().expect("a function is being compiled")
    }

    fn fr(&self) -> &FnState {
        self.fns.last().expect("a function is being compiled")
    }

    fn error(&mut self, line: u32, lexeme: &str, msg: &str) {
        if self.panic {
            return;
        }
        self.panic = true;
        self.diags.push(Diagnostic::at_token(line, 0, lexeme, msg));
    }

    fn emit(&mut self, ins: Instr, line: u32) -> usize {
        let f = self.f();
        f.proto.code.push(ins);
        f.proto.lines.push(line);
        f.line = line;
        f.proto.code.len() - 1
    }

    fn pc(&self) -> usize {
        self.fr().proto.code.len()
    }

    fn add_const(&mut self, k: Const, line: u32) -> u32 {
        let f = self.f();
        let idx = f.proto.consts.len();
        f.proto.consts.push(k);
        if idx > MAX_C as usize && !f.overflow_reported {
            f.overflow_reported = true;
            self.diags.push(Diagnostic::scanner(
                line,
                0,
                "Too many constants in one function.",
            ));
        }
        (idx as u32).min(MAX_C)
    }

    fn str_const(&mut self, s: &str, line: u32) -> u32 {
        if let Some(&i) = self.fr().str_consts.get(s) {
            return i;
        }
        let i = self.add_const(Const::Str(s.to_string()), line);
        self.f().str_consts.insert(s.to_string(), i);
        i
    }

    fn num_const(&mut self, n: f64, line: u32) -> u32 {
        let key = n.to_bits();
        if let Some(&i) = self.fr().num_consts.get(&key) {
            return i;
        }
        let i = self.add_const(Const::Num(n), line);
        self.f().num_consts.insert(key, i);
        i
    }

    /// Allocates the next free register.
    fn alloc(&mut self, line: u32) -> u16 {
        let f = self.f();
        if f.next_reg >= MAX_REGS {
            if !f.overflow_reported {
                f.overflow_reported = true;
                self.diags.push(Diagnostic::scanner(
                    line,
                    0,
                    "Too many registers needed in function.",
                ));
            }
            return (MAX_REGS - 1) as u16;
        }
        let r = f.next_reg;
        f.next_reg += 1;
        f.max_regs = f.max_regs.max(f.next_reg);
        r as u16
    }

    /// Releases every temporary at or above `mark`.
    fn free_to(&mut self, mark: u32) {
        let f = self.f();
        f.next_reg = mark.max(f.locals_top);
    }

    fn mark(&self) -> u32 {
        self.fr().next_reg
    }

    /// True when `r` is a temporary (free for use as scratch by whoever was
    /// handed it as a destination).
    fn is_temp(&self, r: u16) -> bool {
        r as u32 >= self.fr().locals_top
    }

    /// Makes every register up to and including `r` part of the locals.
    fn commit_local_reg(&mut self, r: u16) {
        let f = self.f();
        f.locals_top = f.locals_top.max(r as u32 + 1);
        f.next_reg = f.next_reg.max(f.locals_top);
    }

    fn begin_scope(&mut self) {
        let f = self.f();
        let mark = ScopeMark {
            locals_len: f.locals.len(),
            locals_top: f.locals_top,
            user_count: f.user_count,
        };
        f.scopes.push(mark);
    }

    fn end_scope(&mut self) {
        let f = self.f();
        let m = f.scopes.pop().expect("a scope is open");
        f.locals.truncate(m.locals_len);
        f.locals_top = m.locals_top;
        f.next_reg = m.locals_top;
        f.user_count = m.user_count;
    }

    /// True when a declaration here is a global.
    fn at_global_scope(&self) -> bool {
        self.fns.len() == 1 && self.fr().scopes.is_empty()
    }

    // ----- Jumps -----

    /// Emits a forward jump with a placeholder offset.
    fn emit_jump(&mut self, op: Op, a: u16, b: u16, line: u32) -> usize {
        self.emit(Instr::abc(op, a, b, 0), line)
    }

    /// Points the forward jump at `pc` to the next instruction.
    fn patch_here(&mut self, pc: usize) {
        let target = self.pc();
        self.patch_to(pc, target);
    }

    fn patch_to(&mut self, pc: usize, target: usize) {
        let off = target as i64 - (pc as i64 + 1);
        let line = self.fr().proto.lines[pc];
        let off = if off > MAX_SC as i64 {
            self.diags
                .push(Diagnostic::scanner(line, 0, "Too much code to jump over."));
            0
        } else {
            off as i32
        };
        let f = self.f();
        f.proto.code[pc] = f.proto.code[pc].with_sc(off);
    }

    /// Emits a backward jump (a loop back-edge) to `target`.
    fn emit_loop(&mut self, target: usize, line: u32) {
        let off = target as i64 - (self.pc() as i64 + 1);
        let off = if off < MIN_SC as i64 {
            self.diags
                .push(Diagnostic::scanner(line, 0, "Loop body too large."));
            0
        } else {
            off as i32
        };
        self.emit(Instr::absc(Op::Loop, 0, 0, off), line);
    }

    // ----- Name resolution -----

    fn find_local(&self, fi: usize, name: &str) -> Option<usize> {
        self.fns[fi].locals.iter().rposition(|l| l.name == name)
    }

    /// Resolves `name` as the current function sees it, reporting clox's
    /// own-initializer error.
    fn resolve(&mut self, name: &str, line: u32) -> Place {
        let fi = self.fns.len() - 1;
        if let Some(i) = self.find_local(fi, name) {
            let l = &self.fns[fi].locals[i];
            let place = Place::Local {
                reg: l.reg,
                captured: l.captured,
            };
            if !l.initialized {
                self.error(
                    line,
                    name,
                    "Can't read local variable in its own initializer.",
                );
            }
            return place;
        }
        if let Some(u) = self.resolve_upvalue(fi, name, line) {
            return Place::Upval(u);
        }
        Place::Global(self.str_const(name, line))
    }

    /// Finds `name` in the functions enclosing `fns[fi]`, threading it
    /// through each intermediate function's upvalues.
    fn resolve_upvalue(&mut self, fi: usize, name: &str, line: u32) -> Option<u16> {
        if fi == 0 {
            return None;
        }
        let enc = fi - 1;
        if let Some(i) = self.find_local(enc, name) {
            let l = &self.fns[enc].locals[i];
            let (reg, captured, initialized) = (l.reg, l.captured, l.initialized);
            if !initialized {
                self.error(
                    line,
                    name,
                    "Can't read local variable in its own initializer.",
                );
            }
            if !captured {
                self.error(
                    line,
                    name,
                    "Internal compiler error: the resolver missed a captured variable.",
                );
            }
            return Some(self.add_upvalue(fi, Capture::Local(reg), name, line));
        }
        let up = self.resolve_upvalue(enc, name, line)?;
        Some(self.add_upvalue(fi, Capture::Upvalue(up), name, line))
    }

    fn add_upvalue(&mut self, fi: usize, cap: Capture, name: &str, line: u32) -> u16 {
        let caps = &self.fns[fi].proto.captures;
        if let Some(i) = caps.iter().position(|c| *c == cap) {
            return i as u16;
        }
        if caps.len() >= MAX_UPVALUES {
            self.error(line, name, "Too many closure variables in function.");
            return 0;
        }
        self.fns[fi].proto.captures.push(cap);
        (self.fns[fi].proto.captures.len() - 1) as u16
    }

    /// Where `this` lives for the current function: `Local` `R[0]` in a
    /// method, an upvalue in a function nested in one, `None` outside any
    /// class.
    fn resolve_this(&mut self, line: u32) -> Option<Place> {
        let fi = self.fns.len() - 1;
        if self.fns[fi].method.is_some() {
            return Some(Place::Local {
                reg: 0,
                captured: false,
            });
        }
        if !self.fns[..fi].iter().any(|f| f.method.is_some()) {
            return None;
        }
        self.resolve_this_upvalue(fi, line).map(Place::Upval)
    }

    fn resolve_this_upvalue(&mut self, fi: usize, line: u32) -> Option<u16> {
        if fi == 0 {
            return None;
        }
        let enc = fi - 1;
        if self.fns[enc].method.is_some() {
            let Some(cell) = self.fns[enc].this_cell else {
                self.error(
                    line,
                    "this",
                    "Internal compiler error: the resolver missed a captured 'this'.",
                );
                return Some(0);
            };
            return Some(self.add_upvalue(fi, Capture::Local(cell), "this", line));
        }
        let up = self.resolve_this_upvalue(enc, line)?;
        Some(self.add_upvalue(fi, Capture::Upvalue(up), "this", line))
    }

    /// Reads `place` into `dst`.
    fn load_place(&mut self, place: Place, dst: u16, line: u32) {
        match place {
            Place::Local {
                reg,
                captured: false,
            } => {
                if reg != dst {
                    self.emit(Instr::abc(Op::Move, dst, reg, 0), line);
                }
            }
            Place::Local {
                reg,
                captured: true,
            } => {
                self.emit(Instr::abc(Op::GetCell, dst, reg, 0), line);
            }
            Place::Upval(u) => {
                self.emit(Instr::abc(Op::GetUpval, dst, u, 0), line);
            }
            Place::Global(k) => {
                self.emit(Instr::abc(Op::GetGlobal, dst, 0, k), line);
            }
        }
    }

    /// Writes `src` into `place`.
    fn store_place(&mut self, place: Place, src: u16, line: u32) {
        match place {
            Place::Local {
                reg,
                captured: false,
            } => {
                if reg != src {
                    self.emit(Instr::abc(Op::Move, reg, src, 0), line);
                }
            }
            Place::Local {
                reg,
                captured: true,
            } => {
                self.emit(Instr::abc(Op::SetCell, reg, src, 0), line);
            }
            Place::Upval(u) => {
                self.emit(Instr::abc(Op::SetUpval, src, u, 0), line);
            }
            Place::Global(k) => {
                self.emit(Instr::abc(Op::SetGlobal, src, 0, k), line);
            }
        }
    }

    /// Declares a user-visible local in the current scope (clox's
    /// `declareVariable` + `addLocal` checks) and gives it the next register.
    /// The caller marks it initialized and commits its register.
    fn declare_local(&mut self, decl: &Decl) -> u16 {
        self.declare_local_checked(decl, true)
    }

    /// `declare_local`, optionally without the local-count check: the
    /// parser already reports a 256th parameter (`Can't have more than 255
    /// parameters.`), and clox's panic mode hides the count error there.
    fn declare_local_checked(&mut self, decl: &Decl, check_count: bool) -> u16 {
        let name = &decl.ident.name;
        let line = decl.ident.line;
        let f = self.fr();
        let scope_start = f.scopes.last().map_or(0, |s| s.locals_len);
        if f.locals[scope_start..].iter().any(|l| &l.name == name) {
            self.error(
                line,
                name,
                "Already a variable with this name in this scope.",
            );
        }
        if check_count && self.fr().user_count >= MAX_LOCALS {
            self.error(line, name, "Too many local variables in function.");
        }
        let reg = self.alloc(line);
        let captured = self.captured.is_captured(decl.id);
        let f = self.f();
        f.user_count += 1;
        f.locals.push(Local {
            name: name.clone(),
            reg,
            captured,
            initialized: false,
        });
        reg
    }

    /// Marks the most recent local initialized and makes its register part
    /// of the locals.
    fn define_last_local(&mut self) {
        let f = self.f();
        let l = f.locals.last_mut().expect("a local was declared");
        l.initialized = true;
        let reg = l.reg;
        self.commit_local_reg(reg);
    }

    /// Adds a hidden local at the next register (it is not counted against
    /// the 256-local limit).
    fn hidden_local(&mut self, name: &str, captured: bool, line: u32) -> u16 {
        let reg = self.alloc(line);
        self.f().locals.push(Local {
            name: name.to_string(),
            reg,
            captured,
            initialized: true,
        });
        self.commit_local_reg(reg);
        reg
    }

    // ----- Statements -----

    /// Compiles a statement that clox parses with `declaration()` (an item
    /// of a block, a function body or the script), which ends panic mode.
    fn declaration(&mut self, s: &Stmt) {
        self.stmt(s);
        self.panic = false;
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::Expr(e) => self.expr_stmt(e),
            Stmt::Print(e) => {
                let r = self.expr_any(e);
                self.emit(Instr::abc(Op::Print, r, 0, 0), e.line);
            }
            Stmt::Var { decl, init } => self.var_decl(decl, init.as_ref()),
            Stmt::Fun(func) => self.fun_decl(func),
            Stmt::Class(c) => self.class_decl(c),
            Stmt::Block(body) => {
                self.begin_scope();
                for s in body {
                    self.declaration(s);
                }
                self.end_scope();
            }
            Stmt::If { cond, then, els } => {
                let exits = self.cond_false(cond);
                self.stmt(then);
                if let Some(els) = els {
                    let line = self.fr().line;
                    let skip = self.emit_jump(Op::Jmp, 0, 0, line);
                    for j in exits {
                        self.patch_here(j);
                    }
                    self.stmt(els);
                    self.patch_here(skip);
                } else {
                    for j in exits {
                        self.patch_here(j);
                    }
                }
            }
            Stmt::While { cond, body } => {
                let start = self.pc();
                let exits = self.cond_false(cond);
                self.loop_body(body, Some(start), start, exits, None);
            }
            Stmt::For {
                init,
                cond,
                incr,
                body,
            } => {
                self.begin_scope();
                if let Some(init) = init {
                    self.stmt(init);
                }
                let start = self.pc();
                let exits = match cond {
                    Some(c) => self.cond_false(c),
                    None => Vec::new(),
                };
                let back = if incr.is_none() { Some(start) } else { None };
                self.loop_body(body, back, start, exits, incr.as_ref());
                self.end_scope();
            }
            Stmt::ForIn {
                var,
                iter,
                body,
                line,
            } => self.for_in(var, iter, body, *line),
            Stmt::Return { value, line } => self.return_stmt(value.as_ref(), *line),
            Stmt::Break { line } => {
                if self.fr().loops.is_empty() {
                    self.error(*line, "break", "Can't use 'break' outside of a loop.");
                } else {
                    let j = self.emit_jump(Op::Jmp, 0, 0, *line);
                    self.f().loops.last_mut().expect("in a loop").breaks.push(j);
                }
            }
            Stmt::Continue { line } => match self.fr().loops.last().map(|l| l.continue_back) {
                None => self.error(*line, "continue", "Can't use 'continue' outside of a loop."),
                Some(Some(target)) => self.emit_loop(target, *line),
                Some(None) => {
                    let j = self.emit_jump(Op::Jmp, 0, 0, *line);
                    self.f()
                        .loops
                        .last_mut()
                        .expect("in a loop")
                        .continues
                        .push(j);
                }
            },
            Stmt::Go { call, line } => self.go_stmt(call, *line),
            Stmt::Send { chan, value, line } => {
                let c = self.expr_any(chan);
                let c = self.protect(c, &[value], *line);
                let v = self.expr_any(value);
                self.emit(Instr::abc(Op::Send, c, v, 0), *line);
            }
            Stmt::Select { cases, line } => self.select_stmt(cases, *line),
            Stmt::Error => {}
        }
        // Statement boundary: every temporary is free again.
        let top = self.fr().locals_top;
        self.f().next_reg = top;
    }

    /// `go CALL;`: the callee and arguments in a fresh call window, then
    /// `Go`. The parser only builds `Stmt::Go` around a call.
    fn go_stmt(&mut self, call: &Expr, line: u32) {
        let ExprKind::Call { callee, args } = &call.kind else {
            self.error(line, "go", "Expect function call after 'go'.");
            self.expr_stmt(call);
            return;
        };
        let base = self.alloc(line);
        // A `Get` callee compiles to `GetProp` (a bound method, or the
        // field's value) and a `Super` callee to `GetSuper`, so every form
        // leaves a plain callable in `R[base]`.
        self.expr_to(callee, base);
        self.args(args);
        self.emit(Instr::abc(Op::Go, base, args.len() as u16, 0), line);
    }

    /// `select { cases }` (see the module docs for the layout and the
    /// dispatch).
    fn select_stmt(&mut self, cases: &[SelectCase], line: u32) {
        let nrecv = cases
            .iter()
            .filter(|c| matches!(c, SelectCase::Recv { .. }))
            .count();
        let nsend = cases
            .iter()
            .filter(|c| matches!(c, SelectCase::Send { .. }))
            .count();
        let has_default = cases
            .iter()
            .any(|c| matches!(c, SelectCase::Default { .. }));
        // `Select` writes the chosen index and the received value, so the
        // block is never narrower than two registers.
        let size = (nrecv + 2 * nsend).max(2);
        // The receive count travels in the 16-bit `b` field and the send
        // count, shifted past the default bit, in the 24-bit `c` field. In
        // practice the register file (65535 per frame) is the tighter bound.
        let room = MAX_REGS.saturating_sub(self.mark()) as usize;
        if nrecv > u16::MAX as usize || nsend > (MAX_C >> 1) as usize || size > room {
            self.error(line, "select", "Too many cases in select.");
            return;
        }
        let base = self.alloc(line);
        for _ in 1..size {
            self.alloc(line);
        }
        // Every case's register-order index, in source order; `-1` is the
        // `default` case, as `Select` reports it.
        let mut index = Vec::with_capacity(cases.len());
        let (mut recv, mut send) = (0u16, 0u16);
        for case in cases {
            match case {
                SelectCase::Recv { chan, .. } => {
                    self.expr_to(chan, base + recv);
                    index.push(i32::from(recv));
                    recv += 1;
                }
                SelectCase::Send { chan, value, .. } => {
                    let slot = base + nrecv as u16 + 2 * send;
                    self.expr_to(chan, slot);
                    self.expr_to(value, slot + 1);
                    index.push(nrecv as i32 + i32::from(send));
                    send += 1;
                }
                SelectCase::Default { .. } => index.push(-1),
            }
        }
        let c = (nsend as u32) << 1 | u32::from(has_default);
        self.emit(Instr::abc(Op::Select, base, nrecv as u16, c), line);
        self.free_to(base as u32 + 2);
        let to_body = self.select_dispatch(base, &index, line);
        let mut ends = Vec::new();
        for (pos, case) in cases.iter().enumerate() {
            for &j in &to_body[pos] {
                self.patch_here(j);
            }
            self.free_to(base as u32);
            self.begin_scope();
            let body = match case {
                SelectCase::Recv { bind, body, .. } => {
                    if let Some(d) = bind {
                        self.bind_received(base, d);
                    }
                    body
                }
                SelectCase::Send { body, .. } | SelectCase::Default { body, .. } => body,
            };
            self.stmt(body);
            self.end_scope();
            if pos + 1 < cases.len() {
                let l = self.fr().line;
                ends.push(self.emit_jump(Op::Jmp, 0, 0, l));
            }
        }
        for j in ends {
            self.patch_here(j);
        }
    }

    /// Emits the jumps from a `select` to its case bodies and returns, per
    /// case in source order, the jumps to patch to its body. `index[pos]` is
    /// the register-order index of the case at `pos`; the chosen index is in
    /// `R[base]`. Falling out of the chain reaches the first body.
    fn select_dispatch(&mut self, base: u16, index: &[i32], line: u32) -> Vec<Vec<usize>> {
        let mut to_body = vec![Vec::new(); index.len()];
        let mut order: Vec<usize> = (0..index.len()).collect();
        order.sort_by_key(|&pos| index[pos]);
        let Some((&last, tested)) = order.split_last() else {
            return to_body;
        };
        for &pos in tested {
            // `R[base]` is exactly one of the indices and is above every
            // index already tested, so `R[base] <= k` means `R[base] == k`.
            let k = index[pos];
            let j = match i16::try_from(k) {
                Ok(imm) => self.emit_jump(Op::JNotGtI, base, imm as u16, line),
                Err(_) => {
                    // Beyond the 16-bit immediate: compare with a register.
                    let t = self.alloc(line);
                    self.emit(Instr::absc(Op::LoadI, t, 0, k), line);
                    self.free_to(t as u32);
                    self.emit_jump(Op::JNotGt, base, t, line)
                }
            };
            to_body[pos].push(j);
        }
        if last != 0 {
            to_body[last].push(self.emit_jump(Op::Jmp, 0, 0, line));
        }
        to_body
    }

    /// Declares the variable of `case var v = <-ch` in the case's scope. It
    /// takes `R[base + 1]`, where `Select` left the received value; the
    /// index register below it stays unused while the body runs.
    fn bind_received(&mut self, base: u16, d: &Decl) {
        self.f().next_reg = base as u32 + 1;
        let r = self.declare_local(d);
        debug_assert_eq!(r, base + 1);
        self.define_last_local();
        if self.captured.is_captured(d.id) {
            self.emit(Instr::abc(Op::NewCell, r, r, 0), d.ident.line);
        }
    }

    /// Compiles a loop body followed by the back-edge to `start`, then
    /// patches the exits and `break`s to after the loop. `continue_back` is
    /// where `continue` loops back to; with `None`, `continue` jumps forward
    /// to the increment `incr`.
    fn loop_body(
        &mut self,
        body: &Stmt,
        continue_back: Option<usize>,
        start: usize,
        exits: Vec<usize>,
        incr: Option<&Expr>,
    ) {
        self.f().loops.push(LoopCtx {
            breaks: Vec::new(),
            continues: Vec::new(),
            continue_back,
        });
        self.stmt(body);
        let ctx = self.f().loops.pop().expect("the loop just pushed");
        for j in ctx.continues {
            self.patch_here(j);
        }
        if let Some(incr) = incr {
            self.expr_stmt(incr);
            let top = self.fr().locals_top;
            self.f().next_reg = top;
        }
        let line = self.fr().line;
        self.emit_loop(start, line);
        for j in exits.into_iter().chain(ctx.breaks) {
            self.patch_here(j);
        }
    }

    fn for_in(&mut self, var: &Decl, iter: &Expr, body: &Stmt, line: u32) {
        self.begin_scope();
        // The iterable and its cursor: two consecutive hidden registers.
        let it = self.alloc(line);
        self.expr_to(iter, it);
        self.f().locals.push(Local {
            name: String::new(),
            reg: it,
            captured: false,
            initialized: true,
        });
        self.commit_local_reg(it);
        let cursor = self.hidden_local("", false, line);
        debug_assert_eq!(cursor, it + 1);
        self.emit(Instr::abc(Op::IterPrep, it, 0, 0), line);
        let v = self.declare_local(var);
        self.define_last_local();
        let captured = self.captured.is_captured(var.id);
        let start = self.pc();
        let next = self.emit_jump(Op::IterNext, it, v, line);
        if captured {
            // A fresh cell per iteration: closures see their own iteration.
            self.emit(Instr::abc(Op::NewCell, v, v, 0), line);
        }
        self.loop_body(body, Some(start), start, vec![next], None);
        self.end_scope();
    }

    fn return_stmt(&mut self, value: Option<&Expr>, line: u32) {
        let kind = self.fr().proto.kind;
        if kind == FnKind::Script {
            self.error(line, "return", "Can't return from top-level code.");
        }
        match value {
            Some(v) => {
                if kind == FnKind::Initializer {
                    self.error(line, "return", "Can't return a value from an initializer.");
                }
                let r = self.expr_any(v);
                let r = if kind == FnKind::Initializer { 0 } else { r };
                self.emit(Instr::abc(Op::Return, r, 0, 0), line);
            }
            None => self.emit_default_return(line),
        }
    }

    /// `return;` and the implicit return at the end of a body: `nil`, or
    /// `this` (`R[0]`) in an initializer.
    fn emit_default_return(&mut self, line: u32) {
        if self.fr().proto.kind == FnKind::Initializer {
            self.emit(Instr::abc(Op::Return, 0, 0, 0), line);
        } else {
            let r = self.alloc(line);
            self.emit(Instr::abc(Op::LoadNil, r, 0, 0), line);
            self.emit(Instr::abc(Op::Return, r, 0, 0), line);
        }
    }

    /// Compiles an expression whose value is discarded. Stores need no
    /// result register then: `obj.f = x;` stores straight from `x`.
    fn expr_stmt(&mut self, e: &Expr) {
        let mark = self.mark();
        let e = ungroup(e);
        let line = e.line;
        match &e.kind {
            ExprKind::Set {
                object,
                name,
                value,
            } => self.set_prop(object, name, value, None, line),
            ExprKind::IndexSet {
                object,
                index,
                value,
            } => self.set_index(object, index, value, None, line),
            ExprKind::Assign { name, value } => {
                let place = self.resolve(&name.name, name.line);
                match place {
                    Place::Local {
                        reg,
                        captured: false,
                    } => self.expr_to(value, reg),
                    _ => {
                        let v = self.expr_any(value);
                        self.store_place(place, v, line);
                    }
                }
            }
            _ => {
                self.expr_any(e);
            }
        }
        self.free_to(mark);
    }

    fn var_decl(&mut self, decl: &Decl, init: Option<&Expr>) {
        let line = decl.ident.line;
        if self.at_global_scope() {
            let r = self.alloc(line);
            match init {
                Some(e) => self.expr_to(e, r),
                None => {
                    self.emit(Instr::abc(Op::LoadNil, r, 0, 0), line);
                }
            }
            let k = self.str_const(&decl.ident.name, line);
            self.emit(Instr::abc(Op::DefGlobal, r, 0, k), line);
            return;
        }
        let r = self.declare_local(decl);
        match init {
            // The register is still above `locals_top`, so the initializer
            // may use it as scratch.
            Some(e) => self.expr_to(e, r),
            None => {
                self.emit(Instr::abc(Op::LoadNil, r, 0, 0), line);
            }
        }
        self.define_last_local();
        if self.captured.is_captured(decl.id) {
            self.emit(Instr::abc(Op::NewCell, r, r, 0), line);
        }
    }

    fn fun_decl(&mut self, func: &Function) {
        let line = func.name.ident.line;
        if self.at_global_scope() {
            let k = self.function(func, FnKind::Function, None);
            let r = self.alloc(line);
            self.emit(Instr::abc(Op::Closure, r, 0, k), line);
            let name = self.str_const(&func.name.ident.name, line);
            self.emit(Instr::abc(Op::DefGlobal, r, 0, name), line);
            return;
        }
        let r = self.declare_local(&func.name);
        // A function may refer to itself, so its name is usable at once.
        self.define_last_local();
        if self.captured.is_captured(func.name.id) {
            // The cell must exist before the closure that captures it.
            self.emit(Instr::abc(Op::LoadNil, r, 0, 0), line);
            self.emit(Instr::abc(Op::NewCell, r, r, 0), line);
            let k = self.function(func, FnKind::Function, None);
            let t = self.alloc(line);
            self.emit(Instr::abc(Op::Closure, t, 0, k), line);
            self.emit(Instr::abc(Op::SetCell, r, t, 0), line);
        } else {
            let k = self.function(func, FnKind::Function, None);
            self.emit(Instr::abc(Op::Closure, r, 0, k), line);
        }
    }

    fn class_decl(&mut self, c: &Class) {
        let line = c.name.ident.line;
        let name = self.str_const(&c.name.ident.name, line);
        // `class_reg` holds the class value (not a cell) while the methods
        // are defined; it is a hidden local so that the `super` local can
        // sit above it.
        let saved_top = self.fr().locals_top;
        let class_reg;
        if self.at_global_scope() {
            class_reg = self.hidden_local("", false, line);
            self.emit(Instr::abc(Op::Class, class_reg, 0, name), line);
            self.emit(Instr::abc(Op::DefGlobal, class_reg, 0, name), line);
            self.f().locals.pop();
        } else {
            let r = self.declare_local(&c.name);
            self.define_last_local();
            self.emit(Instr::abc(Op::Class, r, 0, name), line);
            if self.captured.is_captured(c.name.id) {
                class_reg = self.alloc(line);
                self.commit_local_reg(class_reg);
                self.emit(Instr::abc(Op::Move, class_reg, r, 0), line);
                self.emit(Instr::abc(Op::NewCell, r, r, 0), line);
            } else {
                class_reg = r;
            }
        }
        let outer_top = if self.at_global_scope() {
            saved_top
        } else {
            // Keep the class's own local; drop only the hidden registers.
            saved_top + 1
        };
        self.classes.push(ClassCtx {
            has_superclass: c.superclass.is_some(),
        });
        if let Some(sup) = &c.superclass {
            self.begin_scope();
            let place = self.resolve(&sup.name, sup.line);
            let captured = c.super_decl.is_some_and(|id| self.captured.is_captured(id));
            let s = self.hidden_local(SUPER_NAME, captured, sup.line);
            self.load_place(place, s, sup.line);
            self.emit(Instr::abc(Op::Inherit, class_reg, s, 0), sup.line);
            if captured {
                self.emit(Instr::abc(Op::NewCell, s, s, 0), sup.line);
            }
        }
        for m in &c.methods {
            let mline = m.name.ident.line;
            let kind = if m.name.ident.name == "init" {
                FnKind::Initializer
            } else {
                FnKind::Method
            };
            let k = self.function(m, kind, Some(m.name.id));
            let t = self.alloc(mline);
            self.emit(Instr::abc(Op::Closure, t, 0, k), mline);
            let mname = self.str_const(&m.name.ident.name, mline);
            self.emit(Instr::abc(Op::Method, class_reg, t, mname), mline);
            let top = self.fr().locals_top;
            self.f().next_reg = top;
        }
        if c.superclass.is_some() {
            self.end_scope();
        }
        self.classes.pop();
        let f = self.f();
        f.locals_top = outer_top;
        f.next_reg = outer_top;
    }

    /// Compiles a nested function and returns the index of its
    /// `Const::Proto` in the current function.
    fn function(&mut self, func: &Function, kind: FnKind, method: Option<DeclId>) -> u32 {
        let name = func.name.ident.name.clone();
        self.fns.push(FnState::new(Some(name), kind, method));
        self.f().line = func.name.ident.line;
        self.begin_scope();
        let mut boxed = Vec::new();
        for p in &func.params {
            let r = self.declare_local_checked(p, false);
            self.define_last_local();
            if self.captured.is_captured(p.id) {
                boxed.push((r, p.ident.line));
            }
        }
        // The parser reports more than 255 parameters; clamp to stay sane.
        self.f().proto.arity = func.params.len().min(u8::MAX as usize) as u8;
        for (r, line) in boxed {
            self.emit(Instr::abc(Op::NewCell, r, r, 0), line);
        }
        if let Some(id) = method {
            if self.captured.this_captured(id) {
                // Never box R[0] itself: an initializer returns it.
                let line = func.name.ident.line;
                let h = self.hidden_local("", true, line);
                self.emit(Instr::abc(Op::Move, h, 0, 0), line);
                self.emit(Instr::abc(Op::NewCell, h, h, 0), line);
                self.f().this_cell = Some(h);
            }
        }
        for s in &func.body {
            self.declaration(s);
        }
        self.emit_default_return(func.end_line);
        let proto = self.fns.pop().expect("the function just pushed").finish();
        let line = func.name.ident.line;
        self.add_const(Const::Proto(Box::new(proto)), line)
    }

    // ----- Conditions -----

    /// Compiles `cond` for a branch and returns the forward jumps taken when
    /// it is falsy (to be patched to the else branch or the loop exit).
    fn cond_false(&mut self, cond: &Expr) -> Vec<usize> {
        let mark = self.mark();
        let cond = ungroup(cond);
        let line = cond.line;
        let jumps = match &cond.kind {
            ExprKind::True | ExprKind::Number(_) | ExprKind::Str(_) => Vec::new(),
            ExprKind::Nil | ExprKind::False => vec![self.emit_jump(Op::Jmp, 0, 0, line)],
            ExprKind::Logical {
                op: LogicalOp::And,
                left,
                right,
            } => {
                let mut j = self.cond_false(left);
                j.extend(self.cond_false(right));
                j
            }
            ExprKind::Unary {
                op: UnaryOp::Not,
                operand,
            } => {
                let r = self.expr_any(operand);
                vec![self.emit_jump(Op::JmpTrue, r, 0, line)]
            }
            ExprKind::Binary { op, left, right } => {
                match self.compare_branch(*op, left, right, line) {
                    Some(j) => vec![j],
                    None => {
                        let r = self.expr_any(cond);
                        vec![self.emit_jump(Op::JmpFalse, r, 0, line)]
                    }
                }
            }
            _ => {
                let r = self.expr_any(cond);
                vec![self.emit_jump(Op::JmpFalse, r, 0, line)]
            }
        };
        self.free_to(mark);
        jumps
    }

    /// Emits a fused compare-branch that jumps when `left op right` is false;
    /// `None` when `op` is not a comparison.
    fn compare_branch(
        &mut self,
        op: BinaryOp,
        left: &Expr,
        right: &Expr,
        line: u32,
    ) -> Option<usize> {
        let (reg_op, imm_op, flipped_imm_op) = match op {
            BinaryOp::Lt => (Op::JNotLt, Some(Op::JNotLtI), Some(Op::JNotGtI)),
            BinaryOp::Le => (Op::JNotLe, Some(Op::JNotLeI), Some(Op::JNotGeI)),
            BinaryOp::Gt => (Op::JNotGt, Some(Op::JNotGtI), Some(Op::JNotLtI)),
            BinaryOp::Ge => (Op::JNotGe, Some(Op::JNotGeI), Some(Op::JNotLeI)),
            BinaryOp::Eq => (Op::JNotEq, None, None),
            BinaryOp::Ne => (Op::JEq, None, None),
            _ => return None,
        };
        if let (Some(iop), Some(imm)) = (imm_op, int_literal(right, IMM16)) {
            let l = self.expr_any(left);
            return Some(self.emit_jump(iop, l, imm as i16 as u16, line));
        }
        // A literal on the left has no side effects, so `5 < x` can be
        // tested as `x > 5` (the same number comparison and error).
        if let (Some(fop), Some(imm)) = (flipped_imm_op, int_literal(left, IMM16)) {
            let r = self.expr_any(right);
            return Some(self.emit_jump(fop, r, imm as i16 as u16, line));
        }
        let l = self.expr_any(left);
        let l = self.protect(l, &[right], line);
        let r = self.expr_any(right);
        Some(self.emit_jump(reg_op, l, r, line))
    }

    // ----- Expressions -----

    /// True when evaluating `e` may assign the uncaptured local whose
    /// register is `reg` (an `Assign` to it somewhere inside `e`).
    fn may_assign(&self, e: &Expr, reg: u16) -> bool {
        let fi = self.fns.len() - 1;
        let hit = |name: &str| {
            self.find_local(fi, name)
                .map(|i| &self.fns[fi].locals[i])
                .is_some_and(|l| l.reg == reg && !l.captured)
        };
        match &e.kind {
            ExprKind::Nil
            | ExprKind::True
            | ExprKind::False
            | ExprKind::Number(_)
            | ExprKind::Str(_)
            | ExprKind::Var(_)
            | ExprKind::This
            | ExprKind::Super { .. } => false,
            ExprKind::Assign { name, value } => hit(&name.name) || self.may_assign(value, reg),
            ExprKind::Unary { operand, .. } => self.may_assign(operand, reg),
            ExprKind::Binary { left, right, .. } | ExprKind::Logical { left, right, .. } => {
                self.may_assign(left, reg) || self.may_assign(right, reg)
            }
            ExprKind::Call { callee, args } => {
                self.may_assign(callee, reg) || args.iter().any(|a| self.may_assign(a, reg))
            }
            ExprKind::Get { object, .. } => self.may_assign(object, reg),
            ExprKind::Set { object, value, .. } => {
                self.may_assign(object, reg) || self.may_assign(value, reg)
            }
            ExprKind::Index { object, index } => {
                self.may_assign(object, reg) || self.may_assign(index, reg)
            }
            ExprKind::IndexSet {
                object,
                index,
                value,
            } => {
                self.may_assign(object, reg)
                    || self.may_assign(index, reg)
                    || self.may_assign(value, reg)
            }
            ExprKind::List(items) => items.iter().any(|i| self.may_assign(i, reg)),
            ExprKind::Map(pairs) => pairs
                .iter()
                .any(|(k, v)| self.may_assign(k, reg) || self.may_assign(v, reg)),
            ExprKind::Recv(inner) | ExprKind::Grouping(inner) => self.may_assign(inner, reg),
        }
    }

    /// Copies the operand register `r` to a temporary when it is a local's
    /// own register and one of the `later` operands may assign that local.
    fn protect(&mut self, r: u16, later: &[&Expr], line: u32) -> u16 {
        if self.is_temp(r) || !later.iter().any(|e| self.may_assign(e, r)) {
            return r;
        }
        let t = self.alloc(line);
        self.emit(Instr::abc(Op::Move, t, r, 0), line);
        t
    }

    /// Returns a register holding the value of `e`: an uncaptured local's
    /// own register when `e` reads (or assigns) one, else a new temporary.
    fn expr_any(&mut self, e: &Expr) -> u16 {
        match &e.kind {
            ExprKind::Grouping(inner) => return self.expr_any(inner),
            ExprKind::Var(id) => {
                let place = self.resolve(&id.name, id.line);
                if let Place::Local {
                    reg,
                    captured: false,
                } = place
                {
                    return reg;
                }
                let t = self.alloc(e.line);
                self.load_place(place, t, e.line);
                return t;
            }
            ExprKind::This if self.fr().method.is_some() => return 0,
            ExprKind::Assign { name, value } => {
                let fi = self.fns.len() - 1;
                if let Some(i) = self.find_local(fi, &name.name) {
                    let l = &self.fns[fi].locals[i];
                    if !l.captured && l.initialized {
                        let reg = l.reg;
                        self.expr_to(value, reg);
                        return reg;
                    }
                }
            }
            _ => {}
        }
        let t = self.alloc(e.line);
        self.expr_to(e, t);
        t
    }

    /// Evaluates `e` into `dst`. When `dst` is a local's register it is
    /// written only by the last instruction (see the module docs).
    fn expr_to(&mut self, e: &Expr, dst: u16) {
        let mark = self.mark();
        let line = e.line;
        match &e.kind {
            ExprKind::Nil => {
                self.emit(Instr::abc(Op::LoadNil, dst, 0, 0), line);
            }
            ExprKind::True => {
                self.emit(Instr::abc(Op::LoadTrue, dst, 0, 0), line);
            }
            ExprKind::False => {
                self.emit(Instr::abc(Op::LoadFalse, dst, 0, 0), line);
            }
            ExprKind::Number(_) => self.load_number(e, dst),
            ExprKind::Str(s) => {
                let k = self.str_const(s, line);
                self.emit(Instr::abc(Op::LoadK, dst, 0, k), line);
            }
            ExprKind::Var(id) => {
                let place = self.resolve(&id.name, id.line);
                self.load_place(place, dst, line);
            }
            ExprKind::Assign { name, value } => {
                let place = self.resolve(&name.name, name.line);
                match place {
                    Place::Local {
                        reg,
                        captured: false,
                    } => {
                        self.expr_to(value, reg);
                        if reg != dst {
                            self.emit(Instr::abc(Op::Move, dst, reg, 0), line);
                        }
                    }
                    _ => {
                        self.expr_to(value, dst);
                        self.store_place(place, dst, line);
                    }
                }
            }
            ExprKind::Unary { op, operand } => {
                if *op == UnaryOp::Neg && number_literal(operand).is_some() {
                    self.load_number(e, dst);
                } else {
                    let r = self.expr_any(operand);
                    let code = if *op == UnaryOp::Neg {
                        Op::Neg
                    } else {
                        Op::Not
                    };
                    self.emit(Instr::abc(code, dst, r, 0), line);
                }
            }
            ExprKind::Binary { op, left, right } => self.binary(*op, left, right, dst, line),
            ExprKind::Logical { op, left, right } => {
                let t = if self.is_temp(dst) {
                    dst
                } else {
                    self.alloc(line)
                };
                self.expr_to(left, t);
                let jop = if *op == LogicalOp::And {
                    Op::JmpFalse
                } else {
                    Op::JmpTrue
                };
                let j = self.emit_jump(jop, t, 0, line);
                self.expr_to(right, t);
                self.patch_here(j);
                if t != dst {
                    self.emit(Instr::abc(Op::Move, dst, t, 0), line);
                }
            }
            ExprKind::Call { callee, args } => self.call(callee, args, dst, line),
            ExprKind::Get { object, name } => {
                let o = self.expr_any(object);
                let k = self.str_const(&name.name, name.line);
                self.emit(Instr::abc(Op::GetProp, dst, o, k), line);
            }
            ExprKind::Set {
                object,
                name,
                value,
            } => self.set_prop(object, name, value, Some(dst), line),
            ExprKind::Index { object, index } => {
                let o = self.expr_any(object);
                let o = self.protect(o, &[index], line);
                let i = self.expr_any(index);
                self.emit(Instr::abc(Op::GetIndex, dst, o, i as u32), line);
            }
            ExprKind::IndexSet {
                object,
                index,
                value,
            } => self.set_index(object, index, value, Some(dst), line),
            ExprKind::This => self.load_this(dst, line),
            ExprKind::Super { method } => {
                if self.check_super(line) {
                    let t = if self.is_temp(dst) {
                        dst
                    } else {
                        self.alloc(line)
                    };
                    self.load_this(t, line);
                    let s = self.alloc(line);
                    self.load_super(s, line);
                    let k = self.str_const(&method.name, method.line);
                    self.emit(Instr::abc(Op::GetSuper, t, s, k), line);
                    if t != dst {
                        self.emit(Instr::abc(Op::Move, dst, t, 0), line);
                    }
                } else {
                    self.emit(Instr::abc(Op::LoadNil, dst, 0, 0), line);
                }
            }
            ExprKind::List(items) => {
                let base = self.mark() as u16;
                for item in items {
                    let r = self.alloc(item.line);
                    self.expr_to(item, r);
                }
                self.emit(Instr::abc(Op::NewList, dst, base, items.len() as u32), line);
            }
            ExprKind::Map(pairs) => {
                let base = self.mark() as u16;
                for (k, v) in pairs {
                    let rk = self.alloc(k.line);
                    self.expr_to(k, rk);
                    let rv = self.alloc(v.line);
                    self.expr_to(v, rv);
                }
                self.emit(Instr::abc(Op::NewMap, dst, base, pairs.len() as u32), line);
            }
            ExprKind::Recv(chan) => {
                let c = self.expr_any(chan);
                self.emit(Instr::abc(Op::Recv, dst, c, 0), line);
            }
            ExprKind::Grouping(inner) => self.expr_to(inner, dst),
        }
        self.free_to(mark);
    }

    /// Evaluates the value operand of a store: into `dst` directly when it
    /// is a temporary, else into any register (`dst` is `None` when the
    /// store's own value is discarded).
    fn value_reg(&mut self, value: &Expr, dst: Option<u16>) -> u16 {
        match dst {
            Some(d) if self.is_temp(d) => {
                self.expr_to(value, d);
                d
            }
            _ => self.expr_any(value),
        }
    }

    /// Moves a store's value into the expression's destination, if any.
    fn finish_store(&mut self, v: u16, dst: Option<u16>, line: u32) {
        if let Some(d) = dst {
            if d != v {
                self.emit(Instr::abc(Op::Move, d, v, 0), line);
            }
        }
    }

    /// `object.name = value`, yielding the value into `dst`.
    fn set_prop(&mut self, object: &Expr, name: &Ident, value: &Expr, dst: Option<u16>, line: u32) {
        let o = self.expr_any(object);
        let o = self.protect(o, &[value], line);
        let v = self.value_reg(value, dst);
        let k = self.str_const(&name.name, name.line);
        self.emit(Instr::abc(Op::SetProp, o, v, k), line);
        self.finish_store(v, dst, line);
    }

    /// `object[index] = value`, yielding the value into `dst`.
    fn set_index(
        &mut self,
        object: &Expr,
        index: &Expr,
        value: &Expr,
        dst: Option<u16>,
        line: u32,
    ) {
        let o = self.expr_any(object);
        let o = self.protect(o, &[index, value], line);
        let i = self.expr_any(index);
        let i = self.protect(i, &[value], line);
        let v = self.value_reg(value, dst);
        self.emit(Instr::abc(Op::SetIndex, o, i, v as u32), line);
        self.finish_store(v, dst, line);
    }

    /// Loads a number literal (possibly negated) with `LoadI` when it is a
    /// small integer, else from the constant table.
    fn load_number(&mut self, e: &Expr, dst: u16) {
        let line = e.line;
        if let Some(i) = int_literal(e, IMM24) {
            self.emit(Instr::absc(Op::LoadI, dst, 0, i), line);
        } else {
            let n = number_literal(e).unwrap_or(0.0);
            let k = self.num_const(n, line);
            self.emit(Instr::abc(Op::LoadK, dst, 0, k), line);
        }
    }

    fn binary(&mut self, op: BinaryOp, left: &Expr, right: &Expr, dst: u16, line: u32) {
        if matches!(
            op,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Mod
        ) {
            if let Some(imm) = int_literal(right, IMM24) {
                let l = self.expr_any(left);
                let code = match op {
                    BinaryOp::Add => Op::AddI,
                    BinaryOp::Sub => Op::SubI,
                    BinaryOp::Mul => Op::MulI,
                    _ => Op::ModI,
                };
                self.emit(Instr::absc(code, dst, l, imm), line);
                return;
            }
        }
        let l = self.expr_any(left);
        let l = self.protect(l, &[right], line);
        let r = self.expr_any(right);
        let code = match op {
            BinaryOp::Add => Op::Add,
            BinaryOp::Sub => Op::Sub,
            BinaryOp::Mul => Op::Mul,
            BinaryOp::Div => Op::Div,
            BinaryOp::Mod => Op::Mod,
            BinaryOp::Eq => Op::Eq,
            BinaryOp::Ne => Op::Ne,
            BinaryOp::Lt => Op::Lt,
            BinaryOp::Le => Op::Le,
            BinaryOp::Gt => Op::Gt,
            BinaryOp::Ge => Op::Ge,
        };
        self.emit(Instr::abc(code, dst, l, r as u32), line);
    }

    /// Compiles a call (`Call`, `Invoke` or `SuperInvoke`) whose result goes
    /// to `dst`. The callee and arguments occupy a window of consecutive
    /// registers at the top; `dst` itself is the window's base when it is
    /// the topmost temporary.
    fn call(&mut self, callee: &Expr, args: &[Expr], dst: u16, line: u32) {
        let base = if self.is_temp(dst) && dst as u32 + 1 == self.mark() {
            dst
        } else {
            self.alloc(line)
        };
        let nargs = args.len() as u16;
        // Parentheses matter: clox compiles `(a.b)(x)` as a property read
        // and a plain call, so a `Grouping` callee is not unwrapped.
        match &callee.kind {
            ExprKind::Get { object, name } => {
                self.expr_to(object, base);
                self.args(args);
                let k = self.str_const(&name.name, name.line);
                self.emit(Instr::abc(Op::Invoke, base, nargs, k), line);
            }
            ExprKind::Super { method } => {
                let ok = self.check_super(callee.line);
                if ok {
                    self.load_this(base, callee.line);
                } else {
                    self.emit(Instr::abc(Op::LoadNil, base, 0, 0), callee.line);
                }
                self.args(args);
                let s = self.alloc(line);
                if ok {
                    self.load_super(s, callee.line);
                }
                let k = self.str_const(&method.name, method.line);
                self.emit(Instr::abc(Op::SuperInvoke, base, nargs, k), line);
            }
            _ => {
                self.expr_to(callee, base);
                self.args(args);
                self.emit(Instr::abc(Op::Call, base, nargs, 0), line);
            }
        }
        if base != dst {
            self.emit(Instr::abc(Op::Move, dst, base, 0), line);
        }
    }

    /// Evaluates call arguments into the registers after the callee.
    fn args(&mut self, args: &[Expr]) {
        for a in args {
            let r = self.alloc(a.line);
            self.expr_to(a, r);
        }
    }

    /// Loads `this` into `dst`, or reports that there is none.
    fn load_this(&mut self, dst: u16, line: u32) {
        match self.resolve_this(line) {
            Some(place) => self.load_place(place, dst, line),
            None => {
                self.error(line, "this", "Can't use 'this' outside of a class.");
                self.emit(Instr::abc(Op::LoadNil, dst, 0, 0), line);
            }
        }
    }

    /// Reports a misplaced `super`; true when it is valid.
    fn check_super(&mut self, line: u32) -> bool {
        match self.classes.last() {
            None => {
                self.error(line, "super", "Can't use 'super' outside of a class.");
                false
            }
            Some(c) if !c.has_superclass => {
                self.error(
                    line,
                    "super",
                    "Can't use 'super' in a class with no superclass.",
                );
                false
            }
            Some(_) => true,
        }
    }

    /// Loads the current class's superclass (the hidden `super` local).
    fn load_super(&mut self, dst: u16, line: u32) {
        let place = self.resolve(SUPER_NAME, line);
        self.load_place(place, dst, line);
    }
}

/// Test-only helpers that build ASTs by hand (the parser is developed in
/// parallel). Every node is on line 1 unless a test moves it with `at`.
#[cfg(test)]
pub(crate) mod ast_builder {
    use crate::ast::*;

    /// Hands out fresh `DeclId`s.
    #[derive(Default)]
    pub struct B {
        next: std::cell::Cell<u32>,
    }

    impl B {
        pub fn decl(&self, name: &str) -> Decl {
            self.decl_at(name, 1)
        }
        pub fn decl_at(&self, name: &str, line: u32) -> Decl {
            let id = self.next.get();
            self.next.set(id + 1);
            Decl {
                ident: ident_at(name, line),
                id: DeclId(id),
            }
        }
        pub fn var(&self, name: &str, init: Option<Expr>) -> Stmt {
            Stmt::Var {
                decl: self.decl(name),
                init,
            }
        }
        pub fn func(&self, name: &str, params: &[&str], body: Vec<Stmt>) -> Function {
            Function {
                name: self.decl(name),
                params: params.iter().map(|p| self.decl(p)).collect(),
                body,
                end_line: 1,
            }
        }
        pub fn fun(&self, name: &str, params: &[&str], body: Vec<Stmt>) -> Stmt {
            Stmt::Fun(self.func(name, params, body))
        }
        pub fn class(&self, name: &str, sup: Option<&str>, methods: Vec<Function>) -> Stmt {
            let name = self.decl(name);
            let super_decl = sup.map(|_| self.decl("super").id);
            Stmt::Class(Class {
                name,
                superclass: sup.map(ident),
                super_decl,
                methods,
            })
        }
        pub fn for_in(&self, name: &str, iter: Expr, body: Stmt) -> Stmt {
            Stmt::ForIn {
                var: self.decl(name),
                iter,
                body: Box::new(body),
                line: 1,
            }
        }
    }

    pub fn ident(name: &str) -> Ident {
        ident_at(name, 1)
    }
    pub fn ident_at(name: &str, line: u32) -> Ident {
        Ident {
            name: name.to_string(),
            line,
        }
    }
    pub fn e(kind: ExprKind) -> Expr {
        Expr::new(kind, 1)
    }
    pub fn at(mut x: Expr, line: u32) -> Expr {
        x.line = line;
        x
    }
    pub fn num(n: f64) -> Expr {
        e(ExprKind::Number(n))
    }
    pub fn s(v: &str) -> Expr {
        e(ExprKind::Str(v.to_string()))
    }
    pub fn nil() -> Expr {
        e(ExprKind::Nil)
    }
    pub fn tru() -> Expr {
        e(ExprKind::True)
    }
    pub fn v(name: &str) -> Expr {
        e(ExprKind::Var(ident(name)))
    }
    pub fn assign(name: &str, value: Expr) -> Expr {
        e(ExprKind::Assign {
            name: ident(name),
            value: Box::new(value),
        })
    }
    pub fn bin(op: BinaryOp, l: Expr, r: Expr) -> Expr {
        e(ExprKind::Binary {
            op,
            left: Box::new(l),
            right: Box::new(r),
        })
    }
    pub fn logical(op: LogicalOp, l: Expr, r: Expr) -> Expr {
        e(ExprKind::Logical {
            op,
            left: Box::new(l),
            right: Box::new(r),
        })
    }
    pub fn neg(x: Expr) -> Expr {
        e(ExprKind::Unary {
            op: UnaryOp::Neg,
            operand: Box::new(x),
        })
    }
    pub fn not(x: Expr) -> Expr {
        e(ExprKind::Unary {
            op: UnaryOp::Not,
            operand: Box::new(x),
        })
    }
    pub fn group(x: Expr) -> Expr {
        e(ExprKind::Grouping(Box::new(x)))
    }
    pub fn call(callee: Expr, args: Vec<Expr>) -> Expr {
        e(ExprKind::Call {
            callee: Box::new(callee),
            args,
        })
    }
    pub fn get(o: Expr, name: &str) -> Expr {
        e(ExprKind::Get {
            object: Box::new(o),
            name: ident(name),
        })
    }
    pub fn set(o: Expr, name: &str, value: Expr) -> Expr {
        e(ExprKind::Set {
            object: Box::new(o),
            name: ident(name),
            value: Box::new(value),
        })
    }
    pub fn index(o: Expr, i: Expr) -> Expr {
        e(ExprKind::Index {
            object: Box::new(o),
            index: Box::new(i),
        })
    }
    pub fn index_set(o: Expr, i: Expr, value: Expr) -> Expr {
        e(ExprKind::IndexSet {
            object: Box::new(o),
            index: Box::new(i),
            value: Box::new(value),
        })
    }
    pub fn this() -> Expr {
        e(ExprKind::This)
    }
    pub fn sup(method: &str) -> Expr {
        e(ExprKind::Super {
            method: ident(method),
        })
    }
    pub fn list(items: Vec<Expr>) -> Expr {
        e(ExprKind::List(items))
    }
    pub fn map(pairs: Vec<(Expr, Expr)>) -> Expr {
        e(ExprKind::Map(pairs))
    }
    pub fn print(x: Expr) -> Stmt {
        Stmt::Print(x)
    }
    pub fn expr(x: Expr) -> Stmt {
        Stmt::Expr(x)
    }
    pub fn block(stmts: Vec<Stmt>) -> Stmt {
        Stmt::Block(stmts)
    }
    pub fn ret(value: Option<Expr>) -> Stmt {
        Stmt::Return { value, line: 1 }
    }
    pub fn if_(cond: Expr, then: Stmt, els: Option<Stmt>) -> Stmt {
        Stmt::If {
            cond,
            then: Box::new(then),
            els: els.map(Box::new),
        }
    }
    pub fn while_(cond: Expr, body: Stmt) -> Stmt {
        Stmt::While {
            cond,
            body: Box::new(body),
        }
    }
    pub fn for_(init: Option<Stmt>, cond: Option<Expr>, incr: Option<Expr>, body: Stmt) -> Stmt {
        Stmt::For {
            init: init.map(Box::new),
            cond,
            incr,
            body: Box::new(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ast_builder::*;
    use super::*;
    use crate::ast::BinaryOp::*;
    use crate::ast::LogicalOp::*;
    use crate::resolve::resolve;

    fn compile(stmts: &[Stmt]) -> Program {
        let captured = resolve(stmts);
        match generate(stmts, &captured, false) {
            Ok(p) => p,
            Err(d) => panic!("unexpected errors: {d:?}"),
        }
    }

    fn dis(stmts: &[Stmt]) -> String {
        let p = compile(stmts);
        check_proto(&p.main, None);
        p.main.disassemble()
    }

    /// Checks the structural invariants of a prototype and its nested ones:
    /// one line per instruction, every register below `num_regs`, jump
    /// targets inside the code, constant operands of the right kind,
    /// upvalue indices in range, and captures naming real registers or
    /// upvalues of the enclosing function.
    fn check_proto(p: &Proto, enclosing: Option<&Proto>) {
        use Op::*;
        assert_eq!(p.lines.len(), p.code.len());
        assert!(p.num_regs as usize > p.arity as usize);
        let n = p.num_regs as usize;
        let is_str = |k: usize| matches!(p.consts.get(k), Some(Const::Str(_)));
        for (pc, ins) in p.code.iter().enumerate() {
            let (a, b, c) = (ins.a(), ins.b(), ins.c());
            let regs: Vec<usize> = match ins.op() {
                Move | NewCell | GetCell | SetCell | Neg | Not | Inherit | GetSuper | GetProp
                | SetProp | Method | AddI | SubI | MulI | ModI => vec![a, b],
                LoadK | LoadI | LoadNil | LoadTrue | LoadFalse | GetGlobal | SetGlobal
                | DefGlobal | Closure | Return | Class | Print | GetUpval | SetUpval | JmpFalse
                | JmpTrue | JNotLtI | JNotLeI | JNotGtI | JNotGeI => vec![a],
                Add | Sub | Mul | Div | Mod | Eq | Ne | Lt | Le | Gt | Ge | GetIndex | SetIndex => {
                    vec![a, b, c]
                }
                JNotLt | JNotLe | JNotGt | JNotGe | JNotEq | JEq => vec![a, b],
                Jmp | Loop => vec![],
                Call | Invoke => vec![a, a + b],
                SuperInvoke => vec![a, a + b + 1],
                NewList => vec![a, b + c.saturating_sub(1)],
                NewMap => vec![a, b + (2 * c).saturating_sub(1)],
                IterPrep => vec![a, a + 1],
                IterNext => vec![a, a + 1, b],
                Go => vec![a, a + b],
                Send | Recv => vec![a, b],
                Select => vec![a, a + (b + 2 * (c >> 1)).max(2) - 1],
            };
            for r in regs {
                assert!(r < n, "{pc}: {ins:?} uses r{r} but num_regs is {n}");
            }
            if matches!(
                ins.op(),
                Jmp | Loop
                    | JmpFalse
                    | JmpTrue
                    | JNotLt
                    | JNotLe
                    | JNotGt
                    | JNotGe
                    | JNotEq
                    | JEq
                    | JNotLtI
                    | JNotLeI
                    | JNotGtI
                    | JNotGeI
                    | IterNext
            ) {
                let target = pc as isize + 1 + ins.sc();
                assert!(target >= 0 && target as usize <= p.code.len());
                assert_eq!(ins.op() == Loop, target as usize <= pc, "{pc}: {ins:?}");
            }
            match ins.op() {
                GetGlobal | SetGlobal | DefGlobal | Class | GetProp | SetProp | Method | Invoke
                | SuperInvoke | GetSuper => assert!(is_str(c), "{pc}: {ins:?}"),
                LoadK => assert!(matches!(p.consts[c], Const::Num(_) | Const::Str(_))),
                Closure => assert!(matches!(p.consts[c], Const::Proto(_))),
                GetUpval | SetUpval => assert!(b < p.captures.len()),
                _ => {}
            }
        }
        for cap in &p.captures {
            let enc = enclosing.expect("only nested functions capture");
            match *cap {
                Capture::Local(r) => assert!((r as usize) < enc.num_regs as usize),
                Capture::Upvalue(u) => assert!((u as usize) < enc.captures.len()),
            }
        }
        for k in &p.consts {
            if let Const::Proto(inner) = k {
                check_proto(inner, Some(p));
            }
        }
    }

    /// The nested prototype named `name`, searched depth first.
    fn find<'p>(p: &'p Proto, name: &str) -> &'p Proto {
        fn go<'p>(p: &'p Proto, name: &str) -> Option<&'p Proto> {
            if p.name.as_deref() == Some(name) {
                return Some(p);
            }
            p.consts.iter().find_map(|k| match k {
                Const::Proto(inner) => go(inner, name),
                _ => None,
            })
        }
        go(p, name).expect("no such function")
    }

    fn errors(stmts: &[Stmt]) -> Vec<String> {
        let captured = resolve(stmts);
        match generate(stmts, &captured, false) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn operand_aliasing_copies_the_old_value() {
        let b = B::default();
        let prog = vec![block(vec![
            b.var("a", Some(num(1.0))),
            print(bin(Add, v("a"), group(assign("a", num(2.0))))),
            print(bin(Add, group(assign("a", num(1.0))), v("a"))),
        ])];
        assert_eq!(
            dis(&prog),
            r#"== <script> (arity 0, 4 registers, 0 upvalues) ==
0000    1 LoadI        r1 1
0001    | Move         r3 r1
0002    | LoadI        r1 2
0003    | Add          r2 r3 r1
0004    | Print        r2
0005    | LoadI        r1 1
0006    | Add          r2 r1 r1
0007    | Print        r2
0008    | LoadNil      r1
0009    | Return       r1
"#
        );
    }

    #[test]
    fn captured_local_is_boxed_and_read_through_upvalues() {
        let b = B::default();
        let prog = vec![block(vec![
            b.var("a", Some(num(1.0))),
            b.fun("f", &[], vec![print(v("a")), expr(assign("a", num(3.0)))]),
            expr(call(v("f"), vec![])),
        ])];
        assert_eq!(
            dis(&prog),
            r#"== <script> (arity 0, 4 registers, 0 upvalues) ==
0000    1 LoadI        r1 1
0001    | NewCell      r1 r1
0002    | Closure      r2 k0 ; <fn f>
0003    | Move         r3 r2
0004    | Call         r3 0 args
0005    | LoadNil      r1
0006    | Return       r1

== f (arity 0, 2 registers, 1 upvalues) ==
0000    1 GetUpval     r1 u0
0001    | Print        r1
0002    | LoadI        r1 3
0003    | SetUpval     r1 u0
0004    | LoadNil      r1
0005    | Return       r1
"#
        );
    }

    #[test]
    fn recursive_local_function_creates_its_cell_first() {
        let b = B::default();
        let prog = vec![block(vec![b.fun(
            "f",
            &["n"],
            vec![ret(Some(call(v("f"), vec![v("n")])))],
        )])];
        assert_eq!(
            dis(&prog),
            r#"== <script> (arity 0, 3 registers, 0 upvalues) ==
0000    1 LoadNil      r1
0001    | NewCell      r1 r1
0002    | Closure      r2 k0 ; <fn f>
0003    | SetCell      r1 r2
0004    | LoadNil      r1
0005    | Return       r1

== f (arity 1, 4 registers, 1 upvalues) ==
0000    1 GetUpval     r2 u0
0001    | Move         r3 r1
0002    | Call         r2 1 args
0003    | Return       r2
0004    | LoadNil      r2
0005    | Return       r2
"#
        );
    }

    #[test]
    fn upvalues_thread_through_intermediate_functions_once() {
        let b = B::default();
        let prog = vec![b.fun(
            "outer",
            &["x"],
            vec![b.fun(
                "mid",
                &[],
                vec![b.fun(
                    "inner",
                    &[],
                    vec![print(v("x")), print(v("x")), expr(assign("x", nil()))],
                )],
            )],
        )];
        assert_eq!(
            dis(&prog),
            r#"== <script> (arity 0, 2 registers, 0 upvalues) ==
0000    1 Closure      r1 k0 ; <fn outer>
0001    | DefGlobal    r1 g1
0002    | LoadNil      r1
0003    | Return       r1

== outer (arity 1, 4 registers, 0 upvalues) ==
0000    1 NewCell      r1 r1
0001    | Closure      r2 k0 ; <fn mid>
0002    | LoadNil      r3
0003    | Return       r3

== mid (arity 0, 3 registers, 1 upvalues) ==
0000    1 Closure      r1 k0 ; <fn inner>
0001    | LoadNil      r2
0002    | Return       r2

== inner (arity 0, 2 registers, 1 upvalues) ==
0000    1 GetUpval     r1 u0
0001    | Print        r1
0002    | GetUpval     r1 u0
0003    | Print        r1
0004    | LoadNil      r1
0005    | SetUpval     r1 u0
0006    | LoadNil      r1
0007    | Return       r1
"#
        );
    }

    #[test]
    fn classes_methods_initializers_this_and_super() {
        let b = B::default();
        let prog = vec![
            b.class("A", None, vec![]),
            b.class(
                "B",
                Some("A"),
                vec![
                    b.func(
                        "init",
                        &["x"],
                        vec![expr(set(this(), "x", v("x"))), ret(None)],
                    ),
                    b.func(
                        "m",
                        &[],
                        vec![
                            print(call(sup("m"), vec![num(1.0)])),
                            print(sup("m")),
                            b.fun("g", &[], vec![ret(Some(this()))]),
                            ret(Some(call(get(this(), "n"), vec![num(2.0), num(3.0)]))),
                        ],
                    ),
                ],
            ),
        ];
        assert_eq!(
            dis(&prog),
            r#"== <script> (arity 0, 4 registers, 0 upvalues) ==
0000    1 Class        r1 k0 ; "A"
0001    | DefGlobal    r1 g0
0002    | Class        r1 k1 ; "B"
0003    | DefGlobal    r1 g1
0004    | GetGlobal    r2 g0
0005    | Inherit      r1 r2
0006    | NewCell      r2 r2
0007    | Closure      r3 k2 ; <fn init>
0008    | Method       r1 r3 k3 ; "init"
0009    | Closure      r3 k4 ; <fn m>
0010    | Method       r1 r3 k5 ; "m"
0011    | LoadNil      r1
0012    | Return       r1

== init (arity 1, 2 registers, 0 upvalues) ==
0000    1 SetProp      r0 r1 k0 ; "x"
0001    | Return       r0
0002    | Return       r0

== m (arity 0, 6 registers, 1 upvalues) ==
0000    1 Move         r1 r0
0001    | NewCell      r1 r1
0002    | Move         r2 r0
0003    | LoadI        r3 1
0004    | GetUpval     r4 u0
0005    | SuperInvoke  r2 1 args k0 ; "m"
0006    | Print        r2
0007    | Move         r2 r0
0008    | GetUpval     r3 u0
0009    | GetSuper     r2 r3 k0 ; "m"
0010    | Print        r2
0011    | Closure      r2 k1 ; <fn g>
0012    | Move         r3 r0
0013    | LoadI        r4 2
0014    | LoadI        r5 3
0015    | Invoke       r3 2 args k2 ; "n"
0016    | Return       r3
0017    | LoadNil      r3
0018    | Return       r3

== g (arity 0, 2 registers, 1 upvalues) ==
0000    1 GetUpval     r1 u0
0001    | Return       r1
0002    | LoadNil      r1
0003    | Return       r1
"#
        );
    }

    #[test]
    fn captured_local_class_keeps_its_value_for_methods() {
        let b = B::default();
        let prog = vec![block(vec![
            b.class(
                "C",
                None,
                vec![b.func("make", &[], vec![ret(Some(call(v("C"), vec![])))])],
            ),
            print(v("C")),
        ])];
        assert_eq!(
            dis(&prog),
            r#"== <script> (arity 0, 4 registers, 0 upvalues) ==
0000    1 Class        r1 k0 ; "C"
0001    | Move         r2 r1
0002    | NewCell      r1 r1
0003    | Closure      r3 k1 ; <fn make>
0004    | Method       r2 r3 k2 ; "make"
0005    | GetCell      r2 r1
0006    | Print        r2
0007    | LoadNil      r1
0008    | Return       r1

== make (arity 0, 2 registers, 1 upvalues) ==
0000    1 GetUpval     r1 u0
0001    | Call         r1 0 args
0002    | Return       r1
0003    | LoadNil      r1
0004    | Return       r1
"#
        );
    }

    #[test]
    fn for_in_boxes_a_fresh_cell_per_iteration() {
        let b = B::default();
        let prog = vec![b.for_in(
            "x",
            list(vec![num(1.0), num(2.0)]),
            block(vec![
                b.fun("f", &[], vec![print(v("x"))]),
                if_(bin(Eq, v("x"), num(2.0)), Stmt::Continue { line: 1 }, None),
                Stmt::Break { line: 1 },
            ]),
        )];
        assert_eq!(
            dis(&prog),
            r#"== <script> (arity 0, 7 registers, 0 upvalues) ==
0000    1 LoadI        r2 1
0001    | LoadI        r3 2
0002    | NewList      r1 r2 2 items
0003    | IterPrep     r1
0004    | IterNext     r1 r3 -> 0013
0005    | NewCell      r3 r3
0006    | Closure      r4 k0 ; <fn f>
0007    | GetCell      r5 r3
0008    | LoadI        r6 2
0009    | JNotEq       r5 r6 -> 0011
0010    | Loop         -> 0004
0011    | Jmp          -> 0013
0012    | Loop         -> 0004
0013    | LoadNil      r1
0014    | Return       r1

== f (arity 0, 2 registers, 1 upvalues) ==
0000    1 GetUpval     r1 u0
0001    | Print        r1
0002    | LoadNil      r1
0003    | Return       r1
"#
        );
    }

    #[test]
    fn for_loop_uses_immediate_branches_and_continue_runs_increment() {
        let b = B::default();
        let prog = vec![for_(
            Some(b.var("i", Some(num(0.0)))),
            Some(bin(Lt, v("i"), num(10.0))),
            Some(assign("i", bin(Add, v("i"), num(1.0)))),
            block(vec![
                if_(bin(Gt, v("i"), num(5.0)), Stmt::Continue { line: 1 }, None),
                print(v("i")),
            ]),
        )];
        assert_eq!(
            dis(&prog),
            r#"== <script> (arity 0, 2 registers, 0 upvalues) ==
0000    1 LoadI        r1 0
0001    | JNotLtI      r1 10 -> 0007
0002    | JNotGtI      r1 5 -> 0004
0003    | Jmp          -> 0005
0004    | Print        r1
0005    | AddI         r1 r1 1
0006    | Loop         -> 0001
0007    | LoadNil      r1
0008    | Return       r1
"#
        );
    }

    #[test]
    fn logical_operators_and_fused_conditions() {
        let b = B::default();
        let prog = vec![block(vec![
            b.var("a", Some(tru())),
            b.var("c", Some(logical(And, v("a"), logical(Or, nil(), s("x"))))),
            while_(
                logical(And, bin(Le, v("a"), v("c")), not(v("a"))),
                block(vec![expr(assign(
                    "a",
                    logical(And, v("a"), list(vec![v("a")])),
                ))]),
            ),
            if_(bin(Ne, v("a"), v("c")), print(v("a")), Some(print(v("c")))),
        ])];
        assert_eq!(
            dis(&prog),
            r#"== <script> (arity 0, 5 registers, 0 upvalues) ==
0000    1 LoadTrue     r1
0001    | Move         r2 r1
0002    | JmpFalse     r2 -> 0006
0003    | LoadNil      r2
0004    | JmpTrue      r2 -> 0006
0005    | LoadK        r2 k0 ; "x"
0006    | JNotLe       r1 r2 -> 0014
0007    | JmpTrue      r1 -> 0014
0008    | Move         r3 r1
0009    | JmpFalse     r3 -> 0012
0010    | Move         r4 r1
0011    | NewList      r3 r4 1 items
0012    | Move         r1 r3
0013    | Loop         -> 0006
0014    | JEq          r1 r2 -> 0017
0015    | Print        r1
0016    | Jmp          -> 0018
0017    | Print        r2
0018    | LoadNil      r1
0019    | Return       r1
"#
        );
    }

    #[test]
    fn number_literals_and_immediates() {
        let prog = vec![
            print(num(1.5)),
            print(neg(num(0.0))),
            print(num(1e10)),
            print(neg(num(5.0))),
            print(num(8388607.0)),
            print(num(8388608.0)),
            print(bin(Sub, v("g"), neg(num(0.0)))),
            print(bin(Sub, v("g"), num(3.0))),
            print(bin(Add, v("g"), num(0.5))),
            print(bin(Mod, v("g"), num(3.0))),
        ];
        assert_eq!(
            dis(&prog),
            r#"== <script> (arity 0, 4 registers, 0 upvalues) ==
0000    1 LoadK        r1 k0 ; 1.5
0001    | Print        r1
0002    | LoadK        r1 k1 ; -0
0003    | Print        r1
0004    | LoadK        r1 k2 ; 10000000000
0005    | Print        r1
0006    | LoadI        r1 -5
0007    | Print        r1
0008    | LoadI        r1 8388607
0009    | Print        r1
0010    | LoadK        r1 k3 ; 8388608
0011    | Print        r1
0012    | GetGlobal    r2 g4
0013    | LoadK        r3 k1 ; -0
0014    | Sub          r1 r2 r3
0015    | Print        r1
0016    | GetGlobal    r2 g4
0017    | SubI         r1 r2 3
0018    | Print        r1
0019    | GetGlobal    r2 g4
0020    | LoadK        r3 k5 ; 0.5
0021    | Add          r1 r2 r3
0022    | Print        r1
0023    | GetGlobal    r2 g4
0024    | ModI         r1 r2 3
0025    | Print        r1
0026    | LoadNil      r1
0027    | Return       r1
"#
        );
    }

    #[test]
    fn lists_maps_and_index_aliasing() {
        let b = B::default();
        let prog = vec![block(vec![
            b.var("l", Some(list(vec![num(1.0), s("a")]))),
            b.var("m", Some(map(vec![(s("k"), num(1.0)), (num(2.0), nil())]))),
            print(index(v("l"), num(0.0))),
            expr(index_set(v("l"), v("l"), group(assign("l", nil())))),
            print(list(vec![])),
        ])];
        assert_eq!(
            dis(&prog),
            r#"== <script> (arity 0, 7 registers, 0 upvalues) ==
0000    1 LoadI        r2 1
0001    | LoadK        r3 k0 ; "a"
0002    | NewList      r1 r2 2 items
0003    | LoadK        r3 k1 ; "k"
0004    | LoadI        r4 1
0005    | LoadI        r5 2
0006    | LoadNil      r6
0007    | NewMap       r2 r3 2 pairs
0008    | LoadI        r4 0
0009    | GetIndex     r3 r1 r4
0010    | Print        r3
0011    | Move         r3 r1
0012    | Move         r4 r1
0013    | LoadNil      r1
0014    | SetIndex     r3 r4 r1
0015    | NewList      r3 r4 0 items
0016    | Print        r3
0017    | LoadNil      r1
0018    | Return       r1
"#
        );
    }

    #[test]
    fn captures_name_cells_and_upvalues() {
        let b = B::default();
        let prog = vec![b.fun(
            "outer",
            &["x"],
            vec![
                b.var("y", None),
                b.fun(
                    "mid",
                    &[],
                    vec![b.fun("inner", &[], vec![print(v("y")), print(v("x"))])],
                ),
            ],
        )];
        let p = compile(&prog).main;
        check_proto(&p, None);
        assert_eq!(
            find(&p, "mid").captures,
            vec![Capture::Local(2), Capture::Local(1)]
        );
        assert_eq!(
            find(&p, "inner").captures,
            vec![Capture::Upvalue(0), Capture::Upvalue(1)]
        );
        assert_eq!(find(&p, "outer").kind, FnKind::Function);
        assert_eq!(find(&p, "outer").arity, 1);
        assert_eq!(p.name, None);
        assert_eq!(p.kind, FnKind::Script);
    }

    #[test]
    fn method_kinds_and_this_capture() {
        let b = B::default();
        let prog = vec![
            b.class("A", None, vec![]),
            b.class(
                "B",
                Some("A"),
                vec![
                    b.func("init", &[], vec![]),
                    b.func(
                        "m",
                        &[],
                        vec![b.fun(
                            "g",
                            &[],
                            vec![ret(Some(this())), expr(call(sup("m"), vec![]))],
                        )],
                    ),
                ],
            ),
        ];
        let p = compile(&prog).main;
        check_proto(&p, None);
        assert_eq!(find(&p, "init").kind, FnKind::Initializer);
        let m = find(&p, "m");
        assert_eq!(m.kind, FnKind::Method);
        // The super cell lives in the script's r2 (r1 holds the class).
        assert_eq!(m.captures, vec![Capture::Local(2)]);
        // `g` captures m's boxed copy of `this` (r1) and the super cell.
        assert_eq!(
            find(&p, "g").captures,
            vec![Capture::Local(1), Capture::Upvalue(0)]
        );
        assert_eq!(
            m.disassemble().lines().take(3).collect::<Vec<_>>()[1..],
            [
                "0000    1 Move         r1 r0",
                "0001    | NewCell      r1 r1"
            ]
        );
    }

    #[test]
    fn lines_follow_the_ast() {
        let prog = vec![
            print(at(bin(Add, at(v("a"), 2), at(num(1.0), 3)), 3)),
            expr(at(call(at(v("f"), 4), vec![at(num(1.5), 5)]), 6)),
        ];
        let p = compile(&prog).main;
        assert_eq!(p.lines, vec![2, 3, 3, 4, 5, 6, 6, 6]);
    }

    #[test]
    fn clox_scope_errors() {
        let b = B::default();
        let cases: Vec<(Vec<Stmt>, Vec<&str>)> = vec![
            (
                vec![block(vec![
                    b.var("a", None),
                    Stmt::Var {
                        decl: b.decl_at("a", 3),
                        init: None,
                    },
                ])],
                vec!["[line 3] Error at 'a': Already a variable with this name in this scope."],
            ),
            (
                vec![b.fun("f", &["a", "a"], vec![])],
                vec!["[line 1] Error at 'a': Already a variable with this name in this scope."],
            ),
            (
                vec![b.fun("f", &["a"], vec![b.var("a", None)])],
                vec!["[line 1] Error at 'a': Already a variable with this name in this scope."],
            ),
            (
                vec![
                    b.var("a", None),
                    block(vec![Stmt::Var {
                        decl: b.decl("a"),
                        init: Some(e(ExprKind::Var(ident_at("a", 4)))),
                    }]),
                ],
                vec!["[line 4] Error at 'a': Can't read local variable in its own initializer."],
            ),
            (
                vec![Stmt::Return {
                    value: Some(s("wat")),
                    line: 2,
                }],
                vec!["[line 2] Error at 'return': Can't return from top-level code."],
            ),
            (
                vec![b.class(
                    "F",
                    None,
                    vec![b.func(
                        "init",
                        &[],
                        vec![Stmt::Return {
                            value: Some(s("r")),
                            line: 3,
                        }],
                    )],
                )],
                vec!["[line 3] Error at 'return': Can't return a value from an initializer."],
            ),
            (
                vec![
                    expr(at(this(), 5)),
                    b.fun("f", &[], vec![expr(at(this(), 6))]),
                ],
                vec![
                    "[line 5] Error at 'this': Can't use 'this' outside of a class.",
                    "[line 6] Error at 'this': Can't use 'this' outside of a class.",
                ],
            ),
            (
                vec![expr(call(at(sup("m"), 7), vec![])), expr(at(sup("m"), 8))],
                vec![
                    "[line 7] Error at 'super': Can't use 'super' outside of a class.",
                    "[line 8] Error at 'super': Can't use 'super' outside of a class.",
                ],
            ),
            (
                vec![b.class(
                    "F",
                    None,
                    vec![b.func(
                        "m",
                        &[],
                        vec![expr(call(at(sup("m"), 2), vec![])), expr(at(sup("x"), 3))],
                    )],
                )],
                vec![
                    "[line 2] Error at 'super': Can't use 'super' in a class with no superclass.",
                    "[line 3] Error at 'super': Can't use 'super' in a class with no superclass.",
                ],
            ),
            (
                vec![
                    Stmt::Break { line: 9 },
                    Stmt::Continue { line: 10 },
                    while_(tru(), b.fun("g", &[], vec![Stmt::Break { line: 11 }])),
                ],
                vec![
                    "[line 9] Error at 'break': Can't use 'break' outside of a loop.",
                    "[line 10] Error at 'continue': Can't use 'continue' outside of a loop.",
                    "[line 11] Error at 'break': Can't use 'break' outside of a loop.",
                ],
            ),
        ];
        for (prog, want) in cases {
            assert_eq!(errors(&prog), want);
        }
    }

    /// `limit/too_many_locals.lox`: 255 locals plus the reserved slot fit;
    /// the next one is an error at its name.
    #[test]
    fn too_many_locals() {
        let b = B::default();
        let mut body: Vec<Stmt> = (1..256).map(|i| b.var(&format!("v{i}"), None)).collect();
        let fits = vec![b.fun("f", &[], body.clone())];
        assert_eq!(errors(&fits), Vec::<String>::new());
        body.push(Stmt::Var {
            decl: b.decl_at("oops", 9),
            init: None,
        });
        // Hidden registers (a for-in's iterable and cursor) do not count.
        let hidden = vec![b.fun(
            "f",
            &[],
            vec![b.for_in("x", list(vec![]), block(body[..254].to_vec()))],
        )];
        assert_eq!(errors(&hidden), Vec::<String>::new());
        let prog = vec![b.fun("f", &[], body)];
        assert_eq!(
            errors(&prog),
            vec!["[line 9] Error at 'oops': Too many local variables in function."]
        );
    }

    /// `limit/too_many_upvalues.lox`: 256 upvalues fit, the 257th is an
    /// error at the name that needs it.
    #[test]
    fn too_many_upvalues() {
        let b = B::default();
        let names: Vec<String> = (0..256).map(|i| format!("v{i}")).collect();
        let f_vars: Vec<Stmt> = names[..128].iter().map(|n| b.var(n, None)).collect();
        let mut g_body: Vec<Stmt> = names[128..].iter().map(|n| b.var(n, None)).collect();
        g_body.push(b.var("oops", None));
        let mut h_body: Vec<Stmt> = names.iter().map(|n| expr(v(n))).collect();
        let fits = {
            let mut g = g_body.clone();
            g.push(b.fun("h", &[], h_body.clone()));
            let mut f = f_vars.clone();
            f.push(b.fun("g", &[], g));
            vec![b.fun("f", &[], f)]
        };
        assert_eq!(errors(&fits), Vec::<String>::new());
        h_body.push(expr(e(ExprKind::Var(ident_at("oops", 7)))));
        g_body.push(b.fun("h", &[], h_body));
        let mut f = f_vars;
        f.push(b.fun("g", &[], g_body));
        assert_eq!(
            errors(&[b.fun("f", &[], f)]),
            vec!["[line 7] Error at 'oops': Too many closure variables in function."]
        );
    }

    /// More than 256 registers per frame are fine; beyond 65535 is an
    /// error, not a panic.
    #[test]
    fn wide_frames() {
        let items: Vec<Expr> = (0..300).map(|i| num(i as f64)).collect();
        let p = compile(&[print(list(items))]).main;
        check_proto(&p, None);
        assert_eq!(p.num_regs, 302);
        let huge: Vec<Expr> = (0..70_000).map(|_| nil()).collect();
        assert_eq!(
            errors(&[print(list(huge))]),
            vec!["[line 1] Error: Too many registers needed in function."]
        );
    }

    /// Like clox's panic mode: one error per declaration, and none for the
    /// 256th parameter (the parser reports that one).
    #[test]
    fn one_error_per_declaration() {
        let b = B::default();
        let prog = vec![
            print(bin(Add, at(this(), 2), at(this(), 2))),
            block(vec![expr(at(this(), 3)), expr(at(this(), 4))]),
        ];
        assert_eq!(
            errors(&prog),
            vec![
                "[line 2] Error at 'this': Can't use 'this' outside of a class.",
                "[line 3] Error at 'this': Can't use 'this' outside of a class.",
                "[line 4] Error at 'this': Can't use 'this' outside of a class.",
            ]
        );
        let names: Vec<String> = (0..256).map(|i| format!("p{i}")).collect();
        let params: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        assert_eq!(errors(&[b.fun("f", &params, vec![])]), Vec::<String>::new());
    }

    /// Compiles source text through the whole pipeline and disassembles it
    /// after checking the structural invariants.
    fn dis_src(src: &str) -> String {
        let p = match crate::compile(src) {
            Ok(p) => p,
            Err(d) => panic!("unexpected errors: {d:?}"),
        };
        check_proto(&p.main, None);
        p.main.disassemble()
    }

    #[test]
    fn go_send_and_receive() {
        let src = "\
fun f(a, b) {}
go f(1, 2);
var o = nil;
go o.m(3);
go (o.m)();
class A { m(x) {} }
class B < A { m(x) { go super.m(x); } }
{
  var c = nil;
  c <- 4;
  c <- (c = nil);
  print -<-c;
  c = <-c;
}
";
        let out = dis_src(src);
        let script = out.split("\n\n").next().unwrap_or_default();
        assert_eq!(
            script,
            r#"== <script> (arity 0, 4 registers, 0 upvalues) ==
0000    1 Closure      r1 k0 ; <fn f>
0001    | DefGlobal    r1 g1
0002    2 GetGlobal    r1 g1
0003    | LoadI        r2 1
0004    | LoadI        r3 2
0005    | Go           r1 2 args
0006    3 LoadNil      r1
0007    | DefGlobal    r1 g2
0008    4 GetGlobal    r2 g2
0009    | GetProp      r1 r2 k3 ; "m"
0010    | LoadI        r2 3
0011    | Go           r1 1 args
0012    5 GetGlobal    r2 g2
0013    | GetProp      r1 r2 k3 ; "m"
0014    | Go           r1 0 args
0015    6 Class        r1 k4 ; "A"
0016    | DefGlobal    r1 g4
0017    | Closure      r2 k5 ; <fn m>
0018    | Method       r1 r2 k3 ; "m"
0019    7 Class        r1 k6 ; "B"
0020    | DefGlobal    r1 g6
0021    | GetGlobal    r2 g4
0022    | Inherit      r1 r2
0023    | NewCell      r2 r2
0024    | Closure      r3 k7 ; <fn m>
0025    | Method       r1 r3 k3 ; "m"
0026    9 LoadNil      r1
0027   10 LoadI        r2 4
0028    | Send         r1 <- r2
0029   11 Move         r2 r1
0030    | LoadNil      r1
0031    | Send         r2 <- r1
0032   12 Recv         r3 <- r1
0033    | Neg          r2 r3
0034    | Print        r2
0035   13 Recv         r1 <- r1
0036    | LoadNil      r1
0037    | Return       r1"#
        );
        // `go super.m(x)` binds the method with `GetSuper` and passes `x`.
        assert!(out.contains(
            "\
0000    7 Move         r2 r0
0001    | GetUpval     r3 u0
0002    | GetSuper     r2 r3 k0 ; \"m\"
0003    | Move         r3 r1
0004    | Go           r2 1 args
"
        ));
    }

    /// Two receives (one binding a captured variable), a send and a
    /// default, inside a loop whose `break` and `continue` sit in case
    /// bodies.
    #[test]
    fn select_layout_and_dispatch() {
        let src = "\
fun f(a, b, c) {
  while (true) {
    select {
      case c <- 42: continue;
      case var v = <-a: { fun g() { return v; } print g; }
      default: print 0;
      case <-b: break;
    }
  }
}
";
        assert_eq!(
            dis_src(src),
            r#"== <script> (arity 0, 2 registers, 0 upvalues) ==
0000    1 Closure      r1 k0 ; <fn f>
0001    | DefGlobal    r1 g1
0002    | LoadNil      r1
0003    | Return       r1

== f (arity 3, 8 registers, 0 upvalues) ==
0000    4 Move         r6 r3
0001    | LoadI        r7 42
0002    5 Move         r4 r1
0003    7 Move         r5 r2
0004    3 Select       r4 2 recv 1 send default=1
0005    | JNotGtI      r4 -1 -> 0014
0006    | JNotGtI      r4 0 -> 0010
0007    | JNotGtI      r4 1 -> 0017
0008    4 Loop         -> 0000
0009    | Jmp          -> 0018
0010    5 NewCell      r5 r5
0011    | Closure      r6 k0 ; <fn g>
0012    | Print        r6
0013    | Jmp          -> 0018
0014    6 LoadI        r4 0
0015    | Print        r4
0016    | Jmp          -> 0018
0017    7 Jmp          -> 0019
0018    | Loop         -> 0000
0019   10 LoadNil      r4
0020    | Return       r4

== g (arity 0, 2 registers, 1 upvalues) ==
0000    5 GetUpval     r1 u0
0001    | Return       r1
0002    | LoadNil      r1
0003    | Return       r1
"#
        );
        // `g` captures the cell of `v`, which lives in `R[base + 1]`.
        let p = crate::compile(src).expect("compiles").main;
        assert_eq!(find(&p, "g").captures, vec![Capture::Local(5)]);
    }

    #[test]
    fn empty_select_lone_default_and_top_level_binding() {
        let out = dis_src(
            "select {}\nselect { default: print 1; }\nselect { case var v = <-c: print v; }\n",
        );
        assert_eq!(
            out,
            r#"== <script> (arity 0, 3 registers, 0 upvalues) ==
0000    1 Select       r1 0 recv 0 send default=0
0001    2 Select       r1 0 recv 0 send default=1
0002    | LoadI        r1 1
0003    | Print        r1
0004    3 GetGlobal    r1 g0
0005    | Select       r1 1 recv 0 send default=0
0006    | Print        r2
0007    | LoadNil      r1
0008    | Return       r1
"#
        );
    }

    /// More cases than the `Select` operands (or the frame's registers)
    /// can describe is a compile error at `select`.
    #[test]
    fn too_many_cases_in_select() {
        let recv = |_| SelectCase::Recv {
            bind: None,
            chan: v("c"),
            body: Box::new(Stmt::Block(vec![])),
            line: 1,
        };
        let send = |_| SelectCase::Send {
            chan: v("c"),
            value: nil(),
            body: Box::new(Stmt::Block(vec![])),
            line: 1,
        };
        let want = vec!["[line 2] Error at 'select': Too many cases in select."];
        for cases in [
            (0..70_000).map(recv).collect::<Vec<_>>(),
            (0..33_000).map(send).collect(),
        ] {
            assert_eq!(errors(&[Stmt::Select { cases, line: 2 }]), want);
        }
        // Just below the limit it compiles, and indices beyond the 16-bit
        // immediate are dispatched through a register.
        let cases: Vec<SelectCase> = (0..40_000).map(recv).collect();
        let out = dis(&[Stmt::Select { cases, line: 2 }]);
        assert!(out.contains("Select       r1 40000 recv 0 send default=0"));
        assert!(out.contains("JNotGtI      r1 32767 -> "));
        assert!(out.contains("LoadI        r3 32768\n"));
        assert!(out.contains("JNotGt       r1 r3 -> "));
    }

    /// The AST promises a call under `go`; anything else is reported
    /// rather than miscompiled.
    #[test]
    fn go_without_a_call_is_an_error() {
        let prog = vec![Stmt::Go {
            call: v("f"),
            line: 3,
        }];
        assert_eq!(
            errors(&prog),
            vec!["[line 3] Error at 'go': Expect function call after 'go'."]
        );
    }
}
