//! The loader: turns a compiled, plain-data `Proto` tree into function
//! objects on the heap.
//!
//! Steps: convert each constant (numbers stay numbers, strings are interned,
//! nested protos are loaded recursively), then rewrite the `c` operand of
//! `GetGlobal`/`SetGlobal`/`DefGlobal` from "index of the name constant" to
//! "global slot index" (binding new names to undefined slots), and give every
//! instruction an inline-cache hint.
//!
//! Loading allocates but never collects (no safepoint runs inside it); the
//! result is rooted by the caller before the next safepoint.

use std::sync::atomic::AtomicU32;

use skein_bytecode::{Const, Op, Proto};

use crate::object::*;
use crate::value::Value;
use crate::Ctx;

/// Loads `proto` (and everything nested in it) and returns its function.
pub fn load(vm: &mut Ctx, proto: &Proto) -> Value {
    load_with(vm, proto, false)
}

/// Loads a built-in written in Skein: as [`load`], but the functions are
/// `hidden` (left out of stack traces, as natives are).
pub fn load_hidden(vm: &mut Ctx, proto: &Proto) -> Value {
    load_with(vm, proto, true)
}

fn load_with(vm: &mut Ctx, proto: &Proto, hidden: bool) -> Value {
    let consts: Box<[Value]> = proto
        .consts
        .iter()
        .map(|k| match k {
            Const::Num(n) => Value::number(*n),
            Const::Str(s) => vm.intern(s.as_bytes()),
            Const::Proto(p) => load_with(vm, p, hidden),
        })
        .collect();
    let code: Box<[_]> = proto
        .code
        .iter()
        .map(|ins| match ins.op() {
            Op::GetGlobal | Op::SetGlobal | Op::DefGlobal => {
                let name = match proto.consts.get(ins.c()) {
                    Some(Const::Str(s)) => s.as_str(),
                    _ => "?",
                };
                let slot = vm.rt.globals.bind(name);
                ins.with_c(slot as u32)
            }
            _ => *ins,
        })
        .collect();
    let name = proto.name.as_ref().map(|n| vm.intern(n.as_bytes()));
    let caches: Box<[AtomicU32]> = (0..code.len()).map(|_| AtomicU32::new(0)).collect();
    let extra = code.len() * 12 + consts.len() * 8 + proto.lines.len() * 4;
    vm.alloc(
        Kind::Function,
        Function {
            name,
            kind: proto.kind,
            arity: proto.arity,
            num_regs: proto.num_regs.max(1 + proto.arity as u16),
            captures: proto.captures.clone().into_boxed_slice(),
            code,
            lines: proto.lines.clone().into_boxed_slice(),
            consts,
            caches,
            hidden,
            construct_entry: proto.construct_entry,
        },
        extra,
    )
}
