//! Runs hand-assembled bytecode through the VM, independent of the compiler:
//! checks the calling convention, globals, compare-branches and printing.

use std::io::Write;
use std::sync::{Arc, Mutex};

use skein_bytecode::{Const, FnKind, Instr, Op, Program, Proto};
use skein_vm::{Vm, VmOptions};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn fib_program(n: i32) -> Program {
    // fun fib(n) { if (n < 2) return n; return fib(n - 2) + fib(n - 1); }
    let fib = Proto {
        name: Some("fib".into()),
        kind: FnKind::Function,
        arity: 1,
        num_regs: 5,
        captures: vec![],
        code: vec![
            Instr::absc(Op::JNotLtI, 1, 2, 1),
            Instr::abc(Op::Return, 1, 0, 0),
            Instr::abc(Op::GetGlobal, 2, 0, 0),
            Instr::absc(Op::SubI, 3, 1, 2),
            Instr::abc(Op::Call, 2, 1, 0),
            Instr::abc(Op::GetGlobal, 3, 0, 0),
            Instr::absc(Op::SubI, 4, 1, 1),
            Instr::abc(Op::Call, 3, 1, 0),
            Instr::abc(Op::Add, 2, 2, 3),
            Instr::abc(Op::Return, 2, 0, 0),
        ],
        lines: vec![1; 10],
        consts: vec![Const::Str("fib".into())],
        construct_entry: 0,
    };
    let main = Proto {
        name: None,
        kind: FnKind::Script,
        arity: 0,
        num_regs: 3,
        captures: vec![],
        code: vec![
            Instr::abc(Op::Closure, 1, 0, 1),
            Instr::abc(Op::DefGlobal, 1, 0, 0),
            Instr::abc(Op::GetGlobal, 1, 0, 0),
            Instr::absc(Op::LoadI, 2, 0, n),
            Instr::abc(Op::Call, 1, 1, 0),
            Instr::abc(Op::Print, 1, 0, 0),
            Instr::abc(Op::LoadNil, 1, 0, 0),
            Instr::abc(Op::Return, 1, 0, 0),
        ],
        lines: vec![2; 8],
        consts: vec![Const::Str("fib".into()), Const::Proto(Box::new(fib))],
        construct_entry: 0,
    };
    Program { main }
}

#[test]
fn hand_assembled_fib_runs() {
    let buf = Buf::default();
    let mut vm = Vm::new(VmOptions {
        stdout: Box::new(buf.clone()),
        ..VmOptions::default()
    });
    vm.run(&fib_program(20)).unwrap();
    assert_eq!(
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap(),
        "6765\n"
    );
}

#[test]
fn hand_assembled_deep_recursion_gives_the_right_sum() {
    // Not a timing assertion (speed lives in bench/): prints the time so a
    // developer can read it with --nocapture.
    let buf = Buf::default();
    let mut vm = Vm::new(VmOptions {
        stdout: Box::new(buf.clone()),
        ..VmOptions::default()
    });
    let t = std::time::Instant::now();
    vm.run(&fib_program(32)).unwrap();
    eprintln!("fib(32): {:?}", t.elapsed());
    assert_eq!(
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap(),
        "2178309\n"
    );
}
