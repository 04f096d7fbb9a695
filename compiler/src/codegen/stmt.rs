//! Statements: `declaration` and `stmt`, loops with their `break` and
//! `continue`, `for-in`, `return`, the `var`, `fun` and `class`
//! declarations, `go` and `select`, and the bodies of nested functions
//! (`function`).
//!
//! Invariants kept here:
//! - Every statement ends with `next_reg == locals_top` (`stmt` resets it),
//!   so no temporary outlives its statement.
//! - `declaration` ends clox's panic mode, so at most one error is reported
//!   per declaration.
//! - A `var` is marked initialized (`define_last_local`) only after its
//!   initializer, so reading it there is clox's error; a function or class
//!   name is usable at once, since its body may refer to it.
//! - A captured variable is boxed with `NewCell` as the module essay in
//!   `codegen.rs` describes, before any closure can capture it.
//! - A class's hidden registers (its value while the methods are defined,
//!   the `super` local) are dropped when the class ends; only the class's
//!   own local, when it has one, stays.
//! - An initializer's leading field assignments are compiled twice when
//!   they cannot let `this` out (`construction_prefix`): the class call
//!   enters the second copy, whose `InitProp`s store without the object's
//!   writer lock (`construction_entry`).

use skein_bytecode::{Const, FnKind, Instr, Op, MAX_C};

use super::core::{ClassCtx, FnState, Gen, Local, LoopCtx, Place};
use super::expr::ungroup;
use super::MAX_REGS;
use crate::ast::{
    Class, Decl, DeclId, Expr, ExprKind, Function, Ident, RecvInto, SelectCase, Stmt,
};
use crate::resolve::SUPER_NAME;

impl<'a> Gen<'a> {
    /// Compiles a statement that clox parses with `declaration()` (an item
    /// of a block, a function body or the script), which ends panic mode.
    pub(super) fn declaration(&mut self, s: &Stmt) {
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
            Stmt::If { .. } => self.if_chain(s),
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

    /// An `if` with its `else if` branches and final `else`, compiled with
    /// a loop over the chain (see `ast.rs`). Each branch but the last ends
    /// with a jump past the whole chain; a false condition jumps to the
    /// next branch.
    fn if_chain(&mut self, s: &Stmt) {
        let (branches, otherwise) = s.else_chain();
        let count = branches.len();
        let mut skips = Vec::new();
        for (i, (cond, then)) in branches.into_iter().enumerate() {
            let exits = self.cond_false(cond);
            self.stmt(then);
            if i + 1 < count || otherwise.is_some() {
                let line = self.fr().line;
                skips.push(self.emit_jump(Op::Jmp, 0, 0, line));
            }
            for j in exits {
                self.patch_here(j);
            }
        }
        if let Some(last) = otherwise {
            self.stmt(last);
        }
        for j in skips {
            self.patch_here(j);
        }
    }

    /// A REPL entry that is one expression: its value, echoed (`Print` with
    /// `b = 1`: a string shows quoted).
    pub(super) fn echo(&mut self, e: &Expr) {
        let r = self.expr_any(e);
        self.emit(Instr::abc(Op::Print, r, 1, 0), e.line);
        let top = self.fr().locals_top;
        self.f().next_reg = top;
        self.panic = false;
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
        // `Select` writes the chosen index, the received value and whether
        // it came from a send, so the block is never narrower than three
        // registers.
        let size = (nrecv + 2 * nsend).max(3);
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
                SelectCase::Recv { into, body, .. } => {
                    match into {
                        RecvInto::Discard => {}
                        RecvInto::Bind { value, ok } => {
                            self.bind_received(base, value, ok.as_ref())
                        }
                        RecvInto::Assign(target) => self.assign_received(base, target),
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

    /// Declares the variables of `case var v = <-ch` (and of `case var v,
    /// ok = <-ch`) in the case's scope. `v` takes `R[base + 1]`, where
    /// `Select` left the received value, and `ok` `R[base + 2]`, where it
    /// left whether the value came from a send; the index register below
    /// them stays unused while the body runs.
    fn bind_received(&mut self, base: u16, value: &Decl, ok: Option<&Decl>) {
        self.f().next_reg = base as u32 + 1;
        for (d, want) in std::iter::once((value, base + 1)).chain(ok.map(|d| (d, base + 2))) {
            let r = self.declare_local(d);
            debug_assert_eq!(r, want);
            self.define_last_local();
            if self.captured.is_captured(d.id) {
                self.emit(Instr::abc(Op::NewCell, r, r, 0), d.ident.line);
            }
        }
    }

    /// `case TARGET = <-ch`: stores the received value (`R[base + 1]`) into
    /// the target, whose object and index are evaluated only now that the
    /// case was chosen. Temporaries start above the `Select` block's three
    /// result registers, so they cannot clobber the value.
    fn assign_received(&mut self, base: u16, target: &Expr) {
        let v = base + 1;
        self.f().next_reg = base as u32 + 3;
        let line = target.line;
        match &target.kind {
            ExprKind::Var(name) => {
                let place = self.resolve(&name.name, name.line);
                self.store_place(place, v, line);
            }
            ExprKind::Get { object, name } => {
                let o = self.expr_any(object);
                let k = self.str_const(&name.name, name.line);
                self.emit(Instr::abc(Op::SetProp, o, v, k), line);
            }
            ExprKind::Index { object, index } => {
                let o = self.expr_any(object);
                let o = self.protect(o, &[index], line);
                let i = self.expr_any(index);
                self.emit(Instr::abc(Op::SetIndex, o, i, v as u32), line);
            }
            // The parser builds only the three kinds above.
            _ => self.error(line, "=", "Invalid assignment target."),
        }
        self.free_to(base as u32);
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
        let mut body = &func.body[..];
        // The construction entry needs an empty prologue: the class call
        // enters past it.
        if kind == FnKind::Initializer && self.pc() == 0 {
            let sets = construction_prefix(body);
            if !sets.is_empty() {
                self.construction_entry(&body[..sets.len()], &sets);
                body = &body[sets.len()..];
            }
        }
        for s in body {
            self.declaration(s);
        }
        self.emit_default_return(func.end_line);
        let proto = self.fns.pop().expect("the function just pushed").finish();
        let line = func.name.ident.line;
        self.add_const(Const::Proto(Box::new(proto)), line)
    }

    /// Compiles an initializer's leading field assignments (`prefix`, the
    /// statements of `sets` from [`construction_prefix`]) twice: as
    /// ordinary `SetProp`s for a call of `init` as a method, a jump over
    /// the rest, and as `InitProp`s where the class call enters
    /// (`Proto::construct_entry`); both go on to the rest of the body.
    fn construction_entry(&mut self, prefix: &[Stmt], sets: &[FieldSet]) {
        for s in prefix {
            self.declaration(s);
        }
        let Ok(entry) = u16::try_from(self.pc() + 1) else {
            return;
        };
        let line = self
            .fr()
            .proto
            .lines
            .last()
            .copied()
            .unwrap_or(self.fr().line);
        let skip = self.emit_jump(Op::Jmp, 0, 0, line);
        for &(object, name, value, line) in sets {
            let mark = self.mark();
            self.store_prop(Op::InitProp, object, name, value, None, line);
            self.free_to(mark);
        }
        self.patch_here(skip);
        self.f().proto.construct_entry = entry;
    }
}

/// A field assignment `object.name = value` and its line.
type FieldSet<'e> = (&'e Expr, &'e Ident, &'e Expr, u32);

/// The field assignments an initializer begins with that can store into a
/// new instance without its writer lock, one per statement: each is
/// `this.NAME = VALUE;` with a name no earlier one assigned, and a value
/// that neither mentions `this` nor can run code or block ([`inert`]).
/// Until the first other statement runs, the instance a class call made is
/// in the frame's `this` register and nowhere else.
fn construction_prefix(body: &[Stmt]) -> Vec<FieldSet<'_>> {
    let mut sets: Vec<FieldSet> = Vec::new();
    for s in body {
        let Stmt::Expr(e) = s else { break };
        let e = ungroup(e);
        let ExprKind::Set {
            object,
            name,
            value,
        } = &e.kind
        else {
            break;
        };
        if !matches!(ungroup(object).kind, ExprKind::This)
            || sets.iter().any(|&(_, n, _, _)| n.name == name.name)
            || !inert(value)
        {
            break;
        }
        sets.push((object, name, value, e.line));
    }
    sets
}

/// Whether evaluating `e` can neither run user code, block, store
/// anything, nor read `this`: literals, variable reads, operators, field
/// and index reads, and list and map literals of such values.
fn inert(e: &Expr) -> bool {
    !e.any_node(&mut |n| {
        matches!(
            n.kind,
            ExprKind::Assign { .. }
                | ExprKind::Call { .. }
                | ExprKind::Set { .. }
                | ExprKind::IndexSet { .. }
                | ExprKind::This
                | ExprKind::Super { .. }
                | ExprKind::Recv(_)
        )
    })
}
