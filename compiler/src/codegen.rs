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
//!
//! # Layout
//!
//! - This file: [`generate`], the limits the parts share, and this essay.
//! - `core`: the generator's state (`Gen` and the per-function `FnState`),
//!   emission, the constant table, registers, scopes, jumps and name
//!   resolution.
//! - `stmt`: statements and declarations, loops, `go` and `select`, and the
//!   bodies of nested functions.
//! - `expr`: conditions and expressions.
//! - `tests` and `ast_builder` (test builds only): the unit tests, and the
//!   helpers that build ASTs by hand, which the resolver's tests use too.

mod core;
mod expr;
mod stmt;

#[cfg(test)]
pub(crate) mod ast_builder;
#[cfg(test)]
mod tests;

use skein_bytecode::{FnKind, Instr, Op, Program, MAX_SC, MIN_SC};

use self::core::{FnState, Gen};
use crate::ast::Stmt;
use crate::diagnostic::Diagnostic;
use crate::resolve::Captured;

/// Compiles a whole script (or one REPL entry) into a [`Program`].
///
/// `repl` marks a REPL entry. Entries compile like scripts (globals persist
/// because the VM binds them by name), except that an entry that is a lone
/// expression statement echoes its value: `Print` with `b = 1`, which shows
/// a string quoted.
pub fn generate(
    stmts: &[Stmt],
    captured: &Captured,
    repl: bool,
) -> Result<Program, Vec<Diagnostic>> {
    let mut g = Gen {
        fns: vec![FnState::new(None, FnKind::Script, None)],
        classes: Vec::new(),
        captured,
        diags: Vec::new(),
        panic: false,
    };
    match stmts {
        [Stmt::Expr(e)] if repl => g.echo(e),
        _ => {
            for s in stmts {
                g.declaration(s);
            }
        }
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
