//! Expressions and conditions: `expr_to` (into a given register),
//! `expr_any` (into any register, a local's own when it can), `cond_false`
//! with the fused compare-branches, stores to properties and indices,
//! binary operators with their immediate forms, calls with their argument
//! windows, and `this` and `super`.
//!
//! Two invariants, which the module essay in `codegen.rs` explains:
//! - Destination: when `dst` is a local's register, every form writes it
//!   only with its last instruction, or works in a temporary and moves the
//!   result at the end. A `dst` at or above `locals_top` is a temporary and
//!   may be used as scratch.
//! - Operand order: operands are evaluated left to right. An earlier operand
//!   that is an uncaptured local's own register is first copied to a
//!   temporary (`protect`) when a later operand may assign that local
//!   (`may_assign`), so `a + (a = 2)` adds the old `a`.
//!
//! Left-associative chains of binary and short-circuit operators are
//! compiled link by link with a loop (`chain`), in O(1) registers, and
//! `a and b and c` as a condition likewise; so are the recursive helpers'
//! walks over them (`may_assign`). Recursion follows only real nesting.
//!
//! `expr_to` and `cond_false` release every temporary they allocated before
//! they return. Number literals, negated or grouped, are folded (neither can
//! fail at run time on a number) to pick `LoadI` and the immediate forms.

use skein_bytecode::{Instr, Op, MAX_C, MAX_CONCAT};

use super::core::{Gen, Place};
use super::{IMM16, IMM24};
use crate::ast::{BinaryOp, Expr, ExprKind, Ident, LogicalOp, UnaryOp};
use crate::resolve::SUPER_NAME;

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

/// The left operand of one link of a chain.
#[derive(Clone, Copy)]
enum Left<'e> {
    /// The chain's first operand, not evaluated yet.
    Expr(&'e Expr),
    /// A temporary holding the value of the links so far.
    Reg(u16),
}

/// Strips grouping parentheses.
pub(super) fn ungroup(e: &Expr) -> &Expr {
    match &e.kind {
        ExprKind::Grouping(inner) => ungroup(inner),
        _ => e,
    }
}

impl<'a> Gen<'a> {
    // ----- Conditions -----

    /// Compiles `cond` for a branch and returns the forward jumps taken when
    /// it is falsy (to be patched to the else branch or the loop exit).
    pub(super) fn cond_false(&mut self, cond: &Expr) -> Vec<usize> {
        let mark = self.mark();
        let cond = ungroup(cond);
        let line = cond.line;
        let jumps = match &cond.kind {
            ExprKind::True | ExprKind::Number(_) | ExprKind::Str(_) => Vec::new(),
            ExprKind::Nil | ExprKind::False => vec![self.emit_jump(Op::Jmp, 0, 0, line)],
            ExprKind::Logical {
                op: LogicalOp::And, ..
            } => {
                // `a and b and c` falls through when every operand holds:
                // each operand's own false jumps, in order, found with a
                // loop down the left spine (parentheses do not matter).
                let mut rights = Vec::new();
                let mut node = cond;
                while let ExprKind::Logical {
                    op: LogicalOp::And,
                    left,
                    right,
                } = &node.kind
                {
                    rights.push(&**right);
                    node = ungroup(left);
                }
                let mut j = self.cond_false(node);
                for right in rights.into_iter().rev() {
                    j.extend(self.cond_false(right));
                }
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
            BinaryOp::Eq => (Op::JNotEq, Some(Op::JNotEqI), Some(Op::JNotEqI)),
            BinaryOp::Ne => (Op::JEq, Some(Op::JEqI), Some(Op::JEqI)),
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
        e.any_node(&mut |n| matches!(&n.kind, ExprKind::Assign { name, .. } if hit(&name.name)))
    }

    /// Copies the operand register `r` to a temporary when it is a local's
    /// own register and one of the `later` operands may assign that local.
    pub(super) fn protect(&mut self, r: u16, later: &[&Expr], line: u32) -> u16 {
        if self.is_temp(r) || !later.iter().any(|e| self.may_assign(e, r)) {
            return r;
        }
        let t = self.alloc(line);
        self.emit(Instr::abc(Op::Move, t, r, 0), line);
        t
    }

    /// Returns a register holding the value of `e`: an uncaptured local's
    /// own register when `e` reads (or assigns) one, else a new temporary.
    pub(super) fn expr_any(&mut self, e: &Expr) -> u16 {
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
                if let Some(reg) = self.plain_local(&name.name) {
                    self.expr_to(value, reg);
                    return reg;
                }
            }
            _ => {}
        }
        let t = self.alloc(e.line);
        self.expr_to(e, t);
        t
    }

    /// The register of `name` when it is an initialised, uncaptured local
    /// of this function: its value sits in that register itself.
    fn plain_local(&self, name: &str) -> Option<u16> {
        let fi = self.fns.len() - 1;
        let l = &self.fns[fi].locals[self.find_local(fi, name)?];
        (!l.captured && l.initialized).then_some(l.reg)
    }

    /// The first register of `items` when every one is a plain read of a
    /// [`Gen::plain_local`] and their registers are consecutive, in order;
    /// reading such a local has no effect, so the items need no copies.
    fn consecutive_locals(&self, items: &[Expr]) -> Option<u16> {
        let mut first = None;
        for (n, item) in items.iter().enumerate() {
            let ExprKind::Var(id) = &item.kind else {
                return None;
            };
            let reg = self.plain_local(&id.name)?;
            let start = *first.get_or_insert(reg);
            if u32::from(reg) != u32::from(start) + n as u32 {
                return None;
            }
        }
        first
    }

    /// Evaluates `e` into `dst`. When `dst` is a local's register it is
    /// written only by the last instruction (see the module docs).
    pub(super) fn expr_to(&mut self, e: &Expr, dst: u16) {
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
            ExprKind::Binary { .. } | ExprKind::Logical { .. } => self.chain(e, dst),
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
                // A literal index needs no register (`pair[0]`); evaluating
                // it has no effect, so `protect` has nothing to guard.
                if let Some(k) = int_literal(index, (0.0, f64::from(MAX_C))) {
                    self.emit(Instr::abc(Op::GetIndexI, dst, o, k as u32), line);
                } else {
                    let o = self.protect(o, &[index], line);
                    let i = self.expr_any(index);
                    self.emit(Instr::abc(Op::GetIndex, dst, o, i as u32), line);
                }
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
                // Locals that already sit in consecutive registers, in order
                // (`[left, right]`), are read where they are.
                let base = match self.consecutive_locals(items) {
                    Some(first) => first,
                    None => {
                        let base = self.mark() as u16;
                        for item in items {
                            let r = self.alloc(item.line);
                            self.expr_to(item, r);
                        }
                        base
                    }
                };
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
    pub(super) fn set_prop(
        &mut self,
        object: &Expr,
        name: &Ident,
        value: &Expr,
        dst: Option<u16>,
        line: u32,
    ) {
        self.store_prop(Op::SetProp, object, name, value, dst, line);
    }

    /// `object.name = value` with `op`: `SetProp`, or `InitProp` in an
    /// initializer's construction entry.
    pub(super) fn store_prop(
        &mut self,
        op: Op,
        object: &Expr,
        name: &Ident,
        value: &Expr,
        dst: Option<u16>,
        line: u32,
    ) {
        let o = self.expr_any(object);
        let o = self.protect(o, &[value], line);
        let v = self.value_reg(value, dst);
        let k = self.str_const(&name.name, name.line);
        self.emit(Instr::abc(op, o, v, k), line);
        self.finish_store(v, dst, line);
    }

    /// `object[index] = value`, yielding the value into `dst`.
    pub(super) fn set_index(
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

    /// A left spine of binary and short-circuit operators (a single
    /// operator is a spine of one link), evaluated link by link with a
    /// loop, in O(1) registers however long it is. The running value lives
    /// in `acc`: `dst` itself when it is a temporary, else one temporary
    /// (not even that for a lone binary operator), so only the last link
    /// writes a local's `dst`. Each link frees its operand's temporaries.
    fn chain(&mut self, e: &Expr, dst: u16) {
        let (first, links) = e.spine();
        let count = links.len();
        let any_logical = links
            .iter()
            .any(|l| matches!(l.kind, ExprKind::Logical { .. }));
        let acc = if self.is_temp(dst) || (count == 1 && !any_logical) {
            dst
        } else {
            self.alloc(e.line)
        };
        let base = self.mark();
        let mut left = Left::Expr(first);
        let mut i = 0;
        while i < count {
            let fused = self.concat_run(left, &links[i..]);
            if fused > 0 {
                let last = i + fused == count;
                let target = if last { dst } else { acc };
                self.concat(left, &links[i..i + fused], target);
                left = Left::Reg(acc);
                self.free_to(base);
                i += fused;
                continue;
            }
            let link = links[i];
            let last = i + 1 == count;
            i += 1;
            let line = link.line;
            match &link.kind {
                ExprKind::Binary { op, right, .. } => {
                    let target = if last { dst } else { acc };
                    self.binary(*op, left, right, target, line);
                }
                ExprKind::Logical { op, right, .. } => {
                    if let Left::Expr(first) = left {
                        self.expr_to(first, acc);
                    }
                    let jop = if *op == LogicalOp::And {
                        Op::JmpFalse
                    } else {
                        Op::JmpTrue
                    };
                    let j = self.emit_jump(jop, acc, 0, line);
                    self.expr_to(right, acc);
                    self.patch_here(j);
                    if last && acc != dst {
                        self.emit(Instr::abc(Op::Move, dst, acc, 0), line);
                    }
                }
                _ => unreachable!("a spine holds only links"),
            }
            left = Left::Reg(acc);
            self.free_to(base);
        }
    }

    /// How many of `links` (from the first) one `Concat` can do, or 0: a
    /// run of at least two `+` links on one line, with at most
    /// [`MAX_CONCAT`] operands, whose operands after the second are
    /// [`pure`](Self::pure) (a `Concat` evaluates them before the first
    /// addition, where `Add`s would evaluate them after it; a pure operand
    /// cannot show the difference, even when an addition fails), and with a
    /// string literal among its operands (the sign of a string being built:
    /// a run of numbers gains nothing, since `Concat` adds numbers one step
    /// at a time as the `Add`s would, and pays for its `Args` words).
    fn concat_run(&self, left: Left<'_>, links: &[&Expr]) -> usize {
        let Some(line) = links.first().map(|l| l.line) else {
            return 0;
        };
        let mut run = 0;
        let mut literal =
            matches!(left, Left::Expr(e) if matches!(ungroup(e).kind, ExprKind::Str(_)));
        for link in links.iter().take(MAX_CONCAT - 1) {
            let ExprKind::Binary {
                op: BinaryOp::Add,
                right,
                ..
            } = &link.kind
            else {
                break;
            };
            if link.line != line || (run >= 1 && !self.pure(right)) {
                break;
            }
            literal |= matches!(ungroup(right).kind, ExprKind::Str(_));
            run += 1;
        }
        if run >= 2 && literal {
            run
        } else {
            0
        }
    }

    /// True when evaluating `e` can neither fail nor have an effect, so
    /// evaluating it earlier is invisible: a literal, `this` in a method,
    /// or a variable that is a local or an upvalue (a global read fails
    /// when the global is undefined).
    fn pure(&self, e: &Expr) -> bool {
        match &ungroup(e).kind {
            ExprKind::Nil
            | ExprKind::True
            | ExprKind::False
            | ExprKind::Number(_)
            | ExprKind::Str(_) => true,
            ExprKind::This => self.fr().method.is_some(),
            ExprKind::Var(id) => {
                (0..self.fns.len()).any(|f| self.find_local(f, &id.name).is_some())
            }
            _ => false,
        }
    }

    /// One `Concat` of `left` and the right operands of `links` (a run
    /// [`Gen::concat_run`] accepted) into `dst`, its operand registers in
    /// the `Args` words after it. Each operand is evaluated in order into
    /// any register, as `binary` does: a local is read in place (the
    /// first operand is copied when the second may assign it; the later
    /// ones are pure, so nothing runs between them and the `Concat`).
    fn concat(&mut self, left: Left<'_>, links: &[&Expr], dst: u16) {
        let line = links[0].line;
        let rights: Vec<&Expr> = links
            .iter()
            .map(|l| l.link().expect("a run holds only links").1)
            .collect();
        let mut regs = Vec::with_capacity(rights.len() + 1);
        regs.push(match left {
            Left::Expr(e) => {
                let r = self.expr_any(e);
                self.protect(r, &rights[..1], line)
            }
            Left::Reg(r) => r,
        });
        for right in &rights {
            regs.push(self.expr_any(right));
        }
        self.emit(Instr::abc(Op::Concat, dst, 0, regs.len() as u32), line);
        for three in regs.chunks(3) {
            let at = |i: usize| three.get(i).copied().unwrap_or(0);
            self.emit(Instr::abc(Op::Args, at(0), at(1), at(2) as u32), line);
        }
    }

    /// One binary operator into `dst`: `left` is either the chain's first
    /// operand, not yet evaluated, or the register holding the value so far.
    fn binary(&mut self, op: BinaryOp, left: Left<'_>, right: &Expr, dst: u16, line: u32) {
        let imm_code = match op {
            BinaryOp::Add => Some(Op::AddI),
            BinaryOp::Sub => Some(Op::SubI),
            BinaryOp::Mul => Some(Op::MulI),
            BinaryOp::Mod => Some(Op::ModI),
            _ => None,
        };
        if let (Some(code), Some(imm)) = (imm_code, int_literal(right, IMM24)) {
            // `% 2^k`: the interpreter's remainder by low bits.
            let code = if code == Op::ModI && imm > 0 && (imm as u32).is_power_of_two() {
                Op::ModP2
            } else {
                code
            };
            let l = match left {
                Left::Expr(e) => self.expr_any(e),
                Left::Reg(r) => r,
            };
            self.emit(Instr::absc(code, dst, l, imm), line);
            return;
        }
        // `1 + e` is `e + 1` (`+` and `*` on numbers commute, and either
        // order fails with the same message on anything else); the literal
        // has no effect to order before `e`'s.
        let commutes = matches!(op, BinaryOp::Add | BinaryOp::Mul);
        if let (Left::Expr(l), Some(code), true) = (&left, imm_code, commutes) {
            if let Some(imm) = int_literal(l, IMM24) {
                let r = self.expr_any(right);
                self.emit(Instr::absc(code, dst, r, imm), line);
                return;
            }
        }
        let l = match left {
            Left::Expr(e) => {
                let l = self.expr_any(e);
                self.protect(l, &[right], line)
            }
            // The value so far is in a temporary: `right` cannot assign it.
            Left::Reg(r) => r,
        };
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
    pub(super) fn args(&mut self, args: &[Expr]) {
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
