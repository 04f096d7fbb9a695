//! Skein bytecode: the plain-data contract between the compiler and the VM.
//!
//! The compiler produces a [`Program`] and never touches the GC heap; the VM
//! *loads* a program (interning strings, creating function objects, binding
//! global names to global slots) and then runs it.
//!
//! # Machine model
//!
//! Skein is a register machine in the style of Lua 5. Each call frame owns a
//! window of its goroutine's value stack; `R[i]` is slot `base + i`. A
//! function's frame has [`Proto::num_regs`] registers.
//!
//! Calling convention: the callee value sits in `R[a]`, its `n` arguments in
//! `R[a+1] ..= R[a+n]`. The callee's frame starts at the caller's `base + a`,
//! so the callee sees itself (or, for methods and initializers, the receiver
//! `this`) in its `R[0]` and its parameters in `R[1] ..= R[arity]`. The result
//! is written to the caller's `R[a]`. Registers above `R[a+n]` are free at a
//! call.
//!
//! Captured variables never live in registers by value: a local
//! that some closure captures holds a *cell* (a heap box) in its register and
//! is read and written with `GetCell`/`SetCell`; a closure keeps the cells it
//! captured as its upvalues. Nothing points into a stack.
//!
//! # Encoding
//!
//! An instruction is one `u64`: bits 0..8 the opcode, 8..24 operand `a`
//! (`u16`), 24..40 operand `b` (`u16`), 40..64 operand `c` (24 bits, read
//! unsigned as `c` or sign-extended as `sc`). Sixteen-bit register fields mean
//! no 256-register ceiling; 24-bit constant and jump fields mean no 256-constant
//! or 64 KiB jump limit. Jump offsets are relative to the
//! instruction *after* the jump.
//!
//! # Globals
//!
//! In a `Program` as the compiler emits it, the `c` operand of `GetGlobal`,
//! `SetGlobal` and `DefGlobal` is the index of a `Const::Str` holding the
//! variable's name. The VM's loader rewrites it to the index of a global slot.

use std::fmt::Write as _;

/// A compiled program: the top-level script function.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub main: Proto,
}

/// What sort of function a prototype is; decides `R[0]` and `return` rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FnKind {
    /// The top-level script. `R[0]` holds the script's closure.
    Script,
    /// A `fun` declaration. `R[0]` holds the closure itself.
    Function,
    /// A method. `R[0]` holds `this`.
    Method,
    /// A class's `init` method. `R[0]` holds `this`; every return yields `R[0]`.
    Initializer,
}

/// Where a closure's upvalue comes from when the closure is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capture {
    /// The enclosing frame's register `R[i]`, which holds a cell.
    Local(u16),
    /// The enclosing closure's upvalue `i`.
    Upvalue(u16),
}

/// A compile-time constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    Num(f64),
    Str(String),
    /// A nested function, instantiated by `Closure`.
    Proto(Box<Proto>),
}

/// A function prototype: code plus everything needed to instantiate it.
#[derive(Clone, Debug, PartialEq)]
pub struct Proto {
    /// The name shown in stack traces and `<fn name>`; `None` for the script.
    pub name: Option<String>,
    pub kind: FnKind,
    pub arity: u8,
    /// Registers the frame needs (at least `1 + arity`).
    pub num_regs: u16,
    /// One entry per upvalue, in upvalue-index order.
    pub captures: Vec<Capture>,
    pub code: Vec<Instr>,
    /// Source line of each instruction (`lines.len() == code.len()`).
    pub lines: Vec<u32>,
    pub consts: Vec<Const>,
    /// Where a class call enters this initializer, or 0 to enter at the
    /// start as every other call does. An initializer that begins with
    /// field assignments `this.NAME = VALUE;` (distinct names, values that
    /// cannot run user code or reach `this`) has them twice: as `SetProp`s
    /// at the start, then a jump over the second copy, which uses
    /// `InitProp`s and which the class call enters here. The instance the
    /// class call made is reachable only from the frame's `this` until the
    /// first statement after them, so those stores need no writer lock.
    /// (16 bits keep the VM's function object in the size it had; an
    /// initializer whose first copy is longer has no entry.)
    pub construct_entry: u16,
}

/// One encoded instruction.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instr(pub u64);

/// Largest unsigned value of the 24-bit `c` field.
pub const MAX_C: u32 = (1 << 24) - 1;
/// The most operands one `Concat` takes: the interpreter gathers their
/// bytes in a fixed array of this many on its stack, and longer chains
/// of `+` are rare enough that a second `Concat` costs nothing worth
/// saving.
pub const MAX_CONCAT: usize = 8;

/// Range of the signed 24-bit `sc` field.
pub const MIN_SC: i32 = -(1 << 23);
pub const MAX_SC: i32 = (1 << 23) - 1;

impl Instr {
    /// Encodes `op a b c` (`c` unsigned, must fit in 24 bits).
    #[inline]
    pub fn abc(op: Op, a: u16, b: u16, c: u32) -> Instr {
        debug_assert!(c <= MAX_C);
        Instr(op as u64 | (a as u64) << 8 | (b as u64) << 24 | (c as u64) << 40)
    }
    /// Encodes `op a b sc` (`sc` signed, must fit in 24 bits).
    #[inline]
    pub fn absc(op: Op, a: u16, b: u16, sc: i32) -> Instr {
        debug_assert!((MIN_SC..=MAX_SC).contains(&sc));
        Instr::abc(op, a, b, (sc as u32) & MAX_C)
    }
    #[inline(always)]
    pub fn op(self) -> Op {
        // SAFETY: every `Instr` is built by `abc`/`absc` from a valid `Op`, or
        // by `with_c`/`with_sc`, which keep the low byte; `Op` is `repr(u8)`
        // and `Op::COUNT` bounds the discriminants.
        unsafe { std::mem::transmute::<u8, Op>(self.0 as u8) }
    }
    #[inline(always)]
    pub fn a(self) -> usize {
        (self.0 >> 8) as u16 as usize
    }
    #[inline(always)]
    pub fn b(self) -> usize {
        (self.0 >> 24) as u16 as usize
    }
    /// `b` read as a signed 16-bit immediate.
    #[inline(always)]
    pub fn sb(self) -> i16 {
        (self.0 >> 24) as u16 as i16
    }
    #[inline(always)]
    pub fn c(self) -> usize {
        (self.0 >> 40) as usize
    }
    #[inline(always)]
    pub fn sc(self) -> isize {
        ((self.0 as i64) >> 40) as isize
    }
    /// The same instruction with a new unsigned `c` (used to patch jumps and
    /// by the loader to bind globals).
    pub fn with_c(self, c: u32) -> Instr {
        debug_assert!(c <= MAX_C);
        Instr((self.0 & ((1u64 << 40) - 1)) | (c as u64) << 40)
    }
    /// The same instruction with a new signed `sc`.
    pub fn with_sc(self, sc: i32) -> Instr {
        debug_assert!((MIN_SC..=MAX_SC).contains(&sc));
        self.with_c((sc as u32) & MAX_C)
    }
}

impl std::fmt::Debug for Instr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} a={} b={} c={} sc={}",
            self.op(),
            self.a(),
            self.b(),
            self.c(),
            self.sc()
        )
    }
}

macro_rules! ops {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// Opcodes. Each variant's doc gives its exact semantics; `R[x]` is a
        /// register, `K[x]` a constant, `U[x]` an upvalue (a cell) of the
        /// running closure, `G[x]` a global slot.
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Op { $( $(#[$doc])* $name, )* }
        impl Op {
            /// Every opcode, in discriminant order.
            pub const ALL: &'static [Op] = &[ $( Op::$name, )* ];
            /// Number of opcodes.
            pub const COUNT: usize = Op::ALL.len();
            /// The opcode's name as the disassembler prints it.
            pub fn name(self) -> &'static str {
                match self { $( Op::$name => stringify!($name), )* }
            }
        }
    };
}

ops! {
    /// `R[a] = R[b]`.
    Move,
    /// `R[a] = K[c]` (a number or a string).
    LoadK,
    /// `R[a] = sc` as a number (small integers without a constant).
    LoadI,
    /// `R[a] = nil`.
    LoadNil,
    /// `R[a] = true`.
    LoadTrue,
    /// `R[a] = false`.
    LoadFalse,
    /// `R[a] = G[c]`; if the slot is undefined: `Undefined variable 'NAME'.`
    GetGlobal,
    /// `G[c] = R[a]`; if the slot is undefined: `Undefined variable 'NAME'.`
    SetGlobal,
    /// `G[c] = R[a]` (defines or redefines the global).
    DefGlobal,
    /// `R[a] = new cell holding R[a]` (boxes a captured local in place).
    NewCell,
    /// `R[a] = contents of the cell in R[b]`.
    GetCell,
    /// `contents of the cell in R[a] = R[b]`.
    SetCell,
    /// `R[a] = contents of U[b]`.
    GetUpval,
    /// `contents of U[b] = R[a]`.
    SetUpval,
    /// `R[a] = new closure over the `Const::Proto` at K[c]`; its upvalues are
    /// taken, in order, from the proto's `captures` (`Local(i)`: the cell in
    /// this frame's `R[i]`; `Upvalue(i)`: this closure's `U[i]`).
    Closure,
    /// `R[a] = R[b] + R[c]` (numbers add, strings concatenate; else
    /// `Operands must be two numbers or two strings.`).
    Add,
    /// `R[a] = R[b] - R[c]` (`Operands must be numbers.`).
    Sub,
    /// `R[a] = R[b] * R[c]`.
    Mul,
    /// `R[a] = R[b] / R[c]`.
    Div,
    /// `R[a] = fmod(R[b], R[c])`.
    Mod,
    /// `R[a] = R[b] + sc` (sc a small integer; error as `Add`).
    AddI,
    /// `R[a] = R[b] - sc` (error as `Sub`).
    SubI,
    /// `R[a] = R[b] * sc` (error as `Mul`).
    MulI,
    /// `R[a] = fmod(R[b], sc)` (error as `Mod`).
    ModI,
    /// `R[a] = fmod(R[b], sc)` for `sc` a positive power of two: what the
    /// compiler emits for such a `ModI`, so that the interpreter takes the
    /// remainder from the dividend's low bits without testing the divisor
    /// (error as `Mod`).
    ModP2,
    /// `R[a] = -R[b]` (`Operand must be a number.`).
    Neg,
    /// `R[a] = !truthy(R[b])`.
    Not,
    /// `R[a] = R[b] == R[c]`.
    Eq,
    /// `R[a] = R[b] != R[c]`.
    Ne,
    /// `R[a] = R[b] < R[c]` (`Operands must be numbers.`).
    Lt,
    /// `R[a] = R[b] <= R[c]`.
    Le,
    /// `R[a] = R[b] > R[c]`.
    Gt,
    /// `R[a] = R[b] >= R[c]`.
    Ge,
    /// `pc += sc`.
    Jmp,
    /// `pc += sc` — a loop back-edge: also a preemption/GC safepoint.
    Loop,
    /// `if !truthy(R[a]) { pc += sc }`.
    JmpFalse,
    /// `if truthy(R[a]) { pc += sc }`.
    JmpTrue,
    /// `if !(R[a] < R[b]) { pc += sc }` (errors as `Lt`).
    JNotLt,
    /// `if !(R[a] <= R[b]) { pc += sc }`.
    JNotLe,
    /// `if !(R[a] > R[b]) { pc += sc }`.
    JNotGt,
    /// `if !(R[a] >= R[b]) { pc += sc }`.
    JNotGe,
    /// `if !(R[a] == R[b]) { pc += sc }`.
    JNotEq,
    /// `if R[a] == R[b] { pc += sc }`.
    JEq,
    /// `if !(R[a] < sb) { pc += sc }` with `sb` the signed 16-bit immediate in `b`.
    JNotLtI,
    /// `if !(R[a] <= sb) { pc += sc }`.
    JNotLeI,
    /// `if !(R[a] > sb) { pc += sc }`.
    JNotGtI,
    /// `if !(R[a] >= sb) { pc += sc }`.
    JNotGeI,
    /// `if !(R[a] == sb) { pc += sc }` (equal only to a number, as `==`).
    JNotEqI,
    /// `if R[a] == sb { pc += sc }`.
    JEqI,
    /// Call `R[a]` with the `b` arguments `R[a+1] ..= R[a+b]`; result in `R[a]`.
    /// A safepoint.
    Call,
    /// Method call: receiver `R[a]`, `b` arguments `R[a+1] ..= R[a+b]`, method
    /// name `K[c]`. A field holding a callable shadows a method (then the
    /// field's value is called with the arguments). Result in `R[a]`.
    Invoke,
    /// Super call: receiver (`this`) `R[a]`, `b` arguments `R[a+1] ..=
    /// R[a+b]`, the superclass in `R[a+b+1]`, method name `K[c]`. Result in
    /// `R[a]`. Missing method: `Undefined property 'NAME'.`
    SuperInvoke,
    /// `R[a] = method K[c] of superclass R[b], bound to the receiver R[a]`.
    GetSuper,
    /// Return `R[a]` to the caller (initializers: codegen passes `a = 0`).
    Return,
    /// `R[a] = new class named K[c]`.
    Class,
    /// Copy the methods of class `R[b]` into class `R[a]` (`Superclass must
    /// be a class.` when `R[b]` is not a class).
    Inherit,
    /// Define method `K[c]` with closure `R[b]` on class `R[a]`.
    Method,
    /// `R[a] = R[b].K[c]` (field, else bound method; `Only instances have
    /// properties.` / `Undefined property 'NAME'.`; modules: member).
    GetProp,
    /// `R[a].K[c] = R[b]` (`Only instances have fields.`).
    SetProp,
    /// `R[a].K[c] = R[b]` for the construction entry of an initializer
    /// (see [`Proto::construct_entry`]): `R[a]` is the instance the class
    /// call just made, which nothing else can reach yet, and `K[c]` is not
    /// one of its fields yet, so the field is appended without the
    /// object's writer lock or a lookup.
    InitProp,
    /// `R[a] = R[b][R[c]]` (lists, maps, strings).
    GetIndex,
    /// `R[a] = R[b][c]`, `c` an index written as a literal (`pair[0]`):
    /// `GetIndex` without the register load of the index.
    GetIndexI,
    /// `R[a][R[b]] = R[c]` (lists, maps).
    SetIndex,
    /// `R[a] = [R[b], R[b+1], ..., R[b+c-1]]`.
    NewList,
    /// `R[a] = {R[b]: R[b+1], R[b+2]: R[b+3], ...}` with `c` pairs.
    NewMap,
    /// Prepare a `for-in` over `R[a]`: check that it is iterable (`Can only
    /// iterate over lists, maps, strings and channels.`) and set the hidden
    /// cursor `R[a+1] = 0`.
    IterPrep,
    /// Advance the `for-in` whose iterable is `R[a]` and cursor `R[a+1]`: if an
    /// element remains, `R[b] =` that element (list element, map key, one-byte
    /// string, received value) and advance the cursor; otherwise `pc += sc`.
    /// A safepoint.
    IterNext,
    /// Print `R[a]` and a newline. With `b = 1` (a REPL entry's value) a
    /// string is shown quoted and escaped, as inside a list.
    Print,
    /// `go R[a](R[a+1] ..= R[a+b])`: evaluate nothing more; start the call in
    /// a new goroutine and continue at once. The callee is checked when the
    /// new goroutine first runs (as a `Call` would).
    Go,
    /// Send `R[b]` on the channel `R[a]` (`R[a] <- R[b];`). May park the
    /// goroutine. `nil` blocks forever; a closed channel is `Send on closed
    /// channel.`; any other non-channel is `Can only send on a channel.`.
    Send,
    /// `R[a] = <-R[b]`. May park. A closed, drained channel gives `nil`; a
    /// `nil` channel blocks forever; any other non-channel is `Can only
    /// receive from a channel.`.
    Recv,
    /// `select`. Cases sit in registers from `R[a]`: first `b` receive cases
    /// (the channel in `R[a+i]`), then `c >> 1` send cases (the channel in
    /// `R[a+b+2j]`, the value in `R[a+b+2j+1]`); `c & 1` says whether there
    /// is a `default`. Afterwards `R[a]` is the chosen case's index in that
    /// register order (`-1` for `default`), `R[a+1]` the received value
    /// (`nil` for a send or `default`) and `R[a+2]` whether a receive got a
    /// sent value (`false` when the channel was closed; `true` for a send,
    /// `false` for `default`), so the codegen must reserve at least three
    /// registers from `a`. May park; with no case and no default it blocks
    /// forever. A `nil` channel case is never ready.
    Select,
    // New opcodes go last: inserted after `Add`, `Concat` and `Args`
    // renumbered every later opcode, and the interpreter loop's new layout
    // ran fib 13% and loop 8% slower in wall time on the same instructions.
    /// `R[a] = R[x0] + R[x1] + ... + R[x(c-1)]` (3 <= c <= `MAX_CONCAT`),
    /// left to right as a chain of `Add`s: when every operand is a string,
    /// one new string of them all (no intermediate strings); otherwise each
    /// step adds or concatenates, or fails, as `Add` does. The operand
    /// registers `x0, x1, ...` are the fields `a, b, c` of the `Args` words
    /// that follow (three a word), which execution skips.
    Concat,
    /// Three operand registers of the `Concat` before it (`a`, `b`, `c`;
    /// unused fields are 0). Never executed.
    Args,
}

impl Op {
    /// Decodes an opcode byte, if valid.
    pub fn from_u8(b: u8) -> Option<Op> {
        Op::ALL.get(b as usize).copied()
    }
}

impl Proto {
    /// Disassembles this prototype and every nested one, clox style.
    pub fn disassemble(&self) -> String {
        let mut out = String::new();
        self.disassemble_into(&mut out);
        out
    }

    fn disassemble_into(&self, out: &mut String) {
        let title = self.name.as_deref().unwrap_or("<script>");
        let _ = writeln!(
            out,
            "== {} (arity {}, {} registers, {} upvalues) ==",
            title,
            self.arity,
            self.num_regs,
            self.captures.len()
        );
        let mut last_line = u32::MAX;
        for (pc, ins) in self.code.iter().enumerate() {
            let line = self.lines.get(pc).copied().unwrap_or(0);
            let line_col = if line == last_line {
                "   |".to_string()
            } else {
                format!("{line:4}")
            };
            last_line = line;
            let _ = writeln!(out, "{pc:04} {line_col} {}", self.describe(pc, *ins));
        }
        for k in &self.consts {
            if let Const::Proto(p) = k {
                out.push('\n');
                p.disassemble_into(out);
            }
        }
    }

    fn konst(&self, i: usize) -> String {
        match self.consts.get(i) {
            Some(Const::Num(n)) => format!("{n}"),
            Some(Const::Str(s)) => format!("{s:?}"),
            Some(Const::Proto(p)) => format!("<fn {}>", p.name.as_deref().unwrap_or("?")),
            None => "?".into(),
        }
    }

    fn describe(&self, pc: usize, i: Instr) -> String {
        use Op::*;
        let (a, b, c, sc) = (i.a(), i.b(), i.c(), i.sc());
        let target = pc as isize + 1 + sc;
        let name = i.op().name();
        match i.op() {
            Move | NewCell | GetCell | SetCell | Neg | Not | Inherit => {
                format!("{name:<12} r{a} r{b}")
            }
            LoadK | Class => format!("{name:<12} r{a} k{c} ; {}", self.konst(c)),
            LoadI => format!("{name:<12} r{a} {sc}"),
            Print if b == 1 => format!("{name:<12} r{a} quoted"),
            LoadNil | LoadTrue | LoadFalse | Print | Return | IterPrep => {
                format!("{name:<12} r{a}")
            }
            GetGlobal | SetGlobal | DefGlobal => format!("{name:<12} r{a} g{c}"),
            GetUpval | SetUpval => format!("{name:<12} r{a} u{b}"),
            Closure => format!("{name:<12} r{a} k{c} ; {}", self.konst(c)),
            Add | Sub | Mul | Div | Mod | Eq | Ne | Lt | Le | Gt | Ge | GetIndex | SetIndex => {
                format!("{name:<12} r{a} r{b} r{c}")
            }
            AddI | SubI | MulI | ModI | ModP2 => format!("{name:<12} r{a} r{b} {sc}"),
            GetIndexI => format!("{name:<12} r{a} r{b} {c}"),
            Jmp | Loop => format!("{name:<12} -> {target:04}"),
            JmpFalse | JmpTrue => format!("{name:<12} r{a} -> {target:04}"),
            JNotLt | JNotLe | JNotGt | JNotGe | JNotEq | JEq => {
                format!("{name:<12} r{a} r{b} -> {target:04}")
            }
            JNotLtI | JNotLeI | JNotGtI | JNotGeI | JNotEqI | JEqI => {
                format!("{name:<12} r{a} {} -> {target:04}", i.sb())
            }
            Call => format!("{name:<12} r{a} {b} args"),
            Invoke | SuperInvoke => {
                format!("{name:<12} r{a} {b} args k{c} ; {}", self.konst(c))
            }
            GetSuper | GetProp | SetProp | InitProp | Method => {
                format!("{name:<12} r{a} r{b} k{c} ; {}", self.konst(c))
            }
            NewList => format!("{name:<12} r{a} r{b} {c} items"),
            Concat => format!("{name:<12} r{a} {c} operands"),
            Args => format!("{name:<12} r{a} r{b} r{c}"),
            NewMap => format!("{name:<12} r{a} r{b} {c} pairs"),
            IterNext => format!("{name:<12} r{a} r{b} -> {target:04}"),
            Go => format!("{name:<12} r{a} {b} args"),
            Send => format!("{name:<12} r{a} <- r{b}"),
            Recv => format!("{name:<12} r{a} <- r{b}"),
            Select => format!("{name:<12} r{a} {b} recv {} send default={}", c >> 1, c & 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_fields_round_trip() {
        let i = Instr::abc(Op::Add, 65535, 1234, MAX_C);
        assert_eq!(i.op(), Op::Add);
        assert_eq!((i.a(), i.b(), i.c()), (65535, 1234, MAX_C as usize));
        let j = Instr::absc(Op::Jmp, 0, 0, MIN_SC);
        assert_eq!(j.sc(), MIN_SC as isize);
        let k = j.with_sc(-5);
        assert_eq!((k.op(), k.sc()), (Op::Jmp, -5));
        let l = Instr::abc(Op::JNotLtI, 3, (-2i16) as u16, 0);
        assert_eq!(l.sb(), -2);
    }

    /// Opcodes must fit the 8-bit opcode field.
    const _: () = assert!(Op::COUNT <= 256);

    #[test]
    fn opcodes_decode_from_their_byte() {
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(Op::from_u8(i as u8), Some(*op));
        }
    }
}
