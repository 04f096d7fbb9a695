//! The generator's core: [`Gen`] and the per-function [`FnState`], the
//! emission of instructions with their lines, the constant table, the
//! register stack, scopes, forward and backward jumps, and name resolution
//! (locals, upvalues, globals and `this`).
//!
//! Register invariants (the module essay in `codegen.rs` explains them):
//! `R[0]` is reserved; locals, hidden ones included, occupy
//! `R[1] .. R[locals_top)` in declaration order; temporaries are allocated
//! at `next_reg`, at or above `locals_top`, and released with `free_to`,
//! which never releases a local's register; `end_scope` gives a scope's
//! registers back. So `next_reg >= locals_top` always holds, and the
//! statement code makes them equal at every statement boundary. The
//! register of a local whose `captured` flag is set holds a cell whenever
//! code can reach the local by name, and `load_place` and `store_place`
//! read and write it accordingly.
//!
//! clox's errors go through `Gen::error`, which implements clox's panic
//! mode. Overflow errors (too many constants or registers, a jump too
//! long) are pushed directly, whatever the panic state; the first two are
//! reported at most once per function.

use std::collections::HashMap;

use skein_bytecode::{Capture, Const, FnKind, Instr, Op, Proto, MAX_C, MAX_SC, MIN_SC};

use super::{MAX_LOCALS, MAX_REGS, MAX_UPVALUES};
use crate::ast::{Decl, DeclId};
use crate::diagnostic::Diagnostic;
use crate::resolve::Captured;

/// A local variable (or hidden local) of the function being compiled.
pub(super) struct Local {
    /// The name it is looked up by; hidden locals other than `super` have
    /// an empty name, which no identifier can match.
    pub(super) name: String,
    pub(super) reg: u16,
    /// True when the register holds a cell.
    pub(super) captured: bool,
    /// False between the declaration and the end of its initializer.
    pub(super) initialized: bool,
}

/// What `begin_scope` saves so that `end_scope` can restore it.
struct ScopeMark {
    locals_len: usize,
    locals_top: u32,
    user_count: usize,
}

/// The jumps of one loop that still need a target.
pub(super) struct LoopCtx {
    pub(super) breaks: Vec<usize>,
    /// Forward `continue` jumps (a `for(;;)` with an increment).
    pub(super) continues: Vec<usize>,
    /// Where a `continue` loops back to, when that is backwards.
    pub(super) continue_back: Option<usize>,
}

/// Per-function compilation state.
pub(super) struct FnState {
    pub(super) proto: Proto,
    str_consts: HashMap<String, u32>,
    num_consts: HashMap<u64, u32>,
    pub(super) locals: Vec<Local>,
    scopes: Vec<ScopeMark>,
    /// First register above every local (hidden ones included).
    pub(super) locals_top: u32,
    /// First free register.
    pub(super) next_reg: u32,
    max_regs: u32,
    /// User-visible locals in scope, counting the reserved `R[0]`.
    user_count: usize,
    pub(super) loops: Vec<LoopCtx>,
    /// `Some(name id)` for methods and initializers.
    pub(super) method: Option<DeclId>,
    /// The register holding the cell of `this`, when a closure captures it.
    pub(super) this_cell: Option<u16>,
    /// Line of the most recent instruction, for instructions that have no
    /// node of their own (jumps).
    pub(super) line: u32,
    /// Set once a register or constant overflow has been reported, so that
    /// it is reported only once.
    overflow_reported: bool,
}

impl FnState {
    pub(super) fn new(name: Option<String>, kind: FnKind, method: Option<DeclId>) -> FnState {
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
                construct_entry: 0,
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

    pub(super) fn finish(mut self) -> Proto {
        let needed = self.max_regs.max(1 + self.proto.arity as u32);
        self.proto.num_regs = needed.min(MAX_REGS) as u16;
        self.proto
    }
}

/// Where a name lives.
#[derive(Clone, Copy)]
pub(super) enum Place {
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
pub(super) struct ClassCtx {
    pub(super) has_superclass: bool,
}

pub(super) struct Gen<'a> {
    /// The functions being compiled, outermost (the script) first.
    pub(super) fns: Vec<FnState>,
    pub(super) classes: Vec<ClassCtx>,
    pub(super) captured: &'a Captured,
    pub(super) diags: Vec<Diagnostic>,
    /// clox's panic mode: after an error, further errors in the same
    /// declaration are suppressed (clox resynchronizes at the end of each
    /// declaration, and the statement has already been parsed to its end).
    pub(super) panic: bool,
}

impl<'a> Gen<'a> {
    // ----- Function state, emission, constants, registers -----

    pub(super) fn f(&mut self) -> &mut FnState {
        self.fns.last_mut().expect("a function is being compiled")
    }

    pub(super) fn fr(&self) -> &FnState {
        self.fns.last().expect("a function is being compiled")
    }

    pub(super) fn error(&mut self, line: u32, lexeme: &str, msg: &str) {
        if self.panic {
            return;
        }
        self.panic = true;
        self.diags.push(Diagnostic::at_token(line, 0, lexeme, msg));
    }

    pub(super) fn emit(&mut self, ins: Instr, line: u32) -> usize {
        let f = self.f();
        f.proto.code.push(ins);
        f.proto.lines.push(line);
        f.line = line;
        f.proto.code.len() - 1
    }

    pub(super) fn pc(&self) -> usize {
        self.fr().proto.code.len()
    }

    pub(super) fn add_const(&mut self, k: Const, line: u32) -> u32 {
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

    pub(super) fn str_const(&mut self, s: &str, line: u32) -> u32 {
        if let Some(&i) = self.fr().str_consts.get(s) {
            return i;
        }
        let i = self.add_const(Const::Str(s.to_string()), line);
        self.f().str_consts.insert(s.to_string(), i);
        i
    }

    pub(super) fn num_const(&mut self, n: f64, line: u32) -> u32 {
        let key = n.to_bits();
        if let Some(&i) = self.fr().num_consts.get(&key) {
            return i;
        }
        let i = self.add_const(Const::Num(n), line);
        self.f().num_consts.insert(key, i);
        i
    }

    /// Allocates the next free register.
    pub(super) fn alloc(&mut self, line: u32) -> u16 {
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
    pub(super) fn free_to(&mut self, mark: u32) {
        let f = self.f();
        f.next_reg = mark.max(f.locals_top);
    }

    pub(super) fn mark(&self) -> u32 {
        self.fr().next_reg
    }

    /// True when `r` is a temporary (free for use as scratch by whoever was
    /// handed it as a destination).
    pub(super) fn is_temp(&self, r: u16) -> bool {
        r as u32 >= self.fr().locals_top
    }

    /// Makes every register up to and including `r` part of the locals.
    pub(super) fn commit_local_reg(&mut self, r: u16) {
        let f = self.f();
        f.locals_top = f.locals_top.max(r as u32 + 1);
        f.next_reg = f.next_reg.max(f.locals_top);
    }

    pub(super) fn begin_scope(&mut self) {
        let f = self.f();
        let mark = ScopeMark {
            locals_len: f.locals.len(),
            locals_top: f.locals_top,
            user_count: f.user_count,
        };
        f.scopes.push(mark);
    }

    pub(super) fn end_scope(&mut self) {
        let f = self.f();
        let m = f.scopes.pop().expect("a scope is open");
        f.locals.truncate(m.locals_len);
        f.locals_top = m.locals_top;
        f.next_reg = m.locals_top;
        f.user_count = m.user_count;
    }

    /// True when a declaration here is a global.
    pub(super) fn at_global_scope(&self) -> bool {
        self.fns.len() == 1 && self.fr().scopes.is_empty()
    }

    // ----- Jumps -----

    /// Emits a forward jump with a placeholder offset.
    pub(super) fn emit_jump(&mut self, op: Op, a: u16, b: u16, line: u32) -> usize {
        self.emit(Instr::abc(op, a, b, 0), line)
    }

    /// Points the forward jump at `pc` to the next instruction.
    pub(super) fn patch_here(&mut self, pc: usize) {
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
    pub(super) fn emit_loop(&mut self, target: usize, line: u32) {
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

    pub(super) fn find_local(&self, fi: usize, name: &str) -> Option<usize> {
        self.fns[fi].locals.iter().rposition(|l| l.name == name)
    }

    /// Resolves `name` as the current function sees it, reporting clox's
    /// own-initializer error.
    pub(super) fn resolve(&mut self, name: &str, line: u32) -> Place {
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
    pub(super) fn resolve_this(&mut self, line: u32) -> Option<Place> {
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
    pub(super) fn load_place(&mut self, place: Place, dst: u16, line: u32) {
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
    pub(super) fn store_place(&mut self, place: Place, src: u16, line: u32) {
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
    pub(super) fn declare_local(&mut self, decl: &Decl) -> u16 {
        self.declare_local_checked(decl, true)
    }

    /// `declare_local`, optionally without the local-count check: the
    /// parser already reports a 256th parameter (`Can't have more than 255
    /// parameters.`), and clox's panic mode hides the count error there.
    pub(super) fn declare_local_checked(&mut self, decl: &Decl, check_count: bool) -> u16 {
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
    pub(super) fn define_last_local(&mut self) {
        let f = self.f();
        let l = f.locals.last_mut().expect("a local was declared");
        l.initialized = true;
        let reg = l.reg;
        self.commit_local_reg(reg);
    }

    /// Adds a hidden local at the next register (it is not counted against
    /// the 256-local limit).
    pub(super) fn hidden_local(&mut self, name: &str, captured: bool, line: u32) -> u16 {
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
}
