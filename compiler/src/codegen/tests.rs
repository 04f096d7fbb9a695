//! Unit tests of the code generator: exact disassembly of small programs,
//! the structural invariants of every prototype (`check_proto`), captures
//! and upvalues, immediates and fused branches, lines, clox's scope and
//! limit errors, and the concurrency statements. Most tests build their AST
//! with [`super::ast_builder`]; the concurrency tests compile source text
//! through the whole pipeline.

use skein_bytecode::{Capture, Const, Proto};

use super::ast_builder::*;
use super::*;
use crate::ast::BinaryOp::*;
use crate::ast::LogicalOp::*;
use crate::ast::{Expr, ExprKind, RecvInto, SelectCase};
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
            | SetProp | InitProp | Method | AddI | SubI | MulI | ModI | ModP2 | GetIndexI => {
                vec![a, b]
            }
            LoadK | LoadI | LoadNil | LoadTrue | LoadFalse | GetGlobal | SetGlobal | DefGlobal
            | Closure | Return | Class | Print | GetUpval | SetUpval | JmpFalse | JmpTrue
            | JNotLtI | JNotLeI | JNotGtI | JNotGeI | JNotEqI | JEqI => vec![a],
            Add | Sub | Mul | Div | Mod | Eq | Ne | Lt | Le | Gt | Ge | GetIndex | SetIndex => {
                vec![a, b, c]
            }
            JNotLt | JNotLe | JNotGt | JNotGe | JNotEq | JEq => vec![a, b],
            Jmp | Loop => vec![],
            Call | Invoke => vec![a, a + b],
            SuperInvoke => vec![a, a + b + 1],
            NewList => vec![a, b + c.saturating_sub(1)],
            Concat => {
                assert!(
                    (3..=skein_bytecode::MAX_CONCAT).contains(&c),
                    "{pc}: {ins:?} fuses {c} operands"
                );
                for w in 1..=c.div_ceil(3) {
                    assert_eq!(p.code.get(pc + w).map(|i| i.op()), Some(Args), "{pc}+{w}");
                }
                vec![a]
            }
            Args => vec![a, b, c],
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
                | JNotEqI
                | JEqI
                | IterNext
        ) {
            let target = pc as isize + 1 + ins.sc();
            assert!(target >= 0 && target as usize <= p.code.len());
            assert_eq!(ins.op() == Loop, target as usize <= pc, "{pc}: {ins:?}");
        }
        match ins.op() {
            GetGlobal | SetGlobal | DefGlobal | Class | GetProp | SetProp | InitProp | Method
            | Invoke | SuperInvoke | GetSuper => assert!(is_str(c), "{pc}: {ins:?}"),
            LoadK => assert!(matches!(p.consts[c], Const::Num(_) | Const::Str(_))),
            Closure => assert!(matches!(p.consts[c], Const::Proto(_))),
            GetUpval | SetUpval => assert!(b < p.captures.len()),
            _ => {}
        }
    }
    // A construction entry: only in an initializer, after the jump that
    // ends the first copy of its field assignments, at `InitProp`s on
    // `this` only; and `InitProp` nowhere else.
    let entry = p.construct_entry as usize;
    if entry != 0 {
        assert_eq!(p.kind, FnKind::Initializer);
        assert_eq!(p.code[entry - 1].op(), Jmp);
        let end = (entry as isize + p.code[entry - 1].sc()) as usize;
        assert!(end > entry && end <= p.code.len());
        assert!(p.code[entry..end]
            .iter()
            .all(|i| i.op() != InitProp || i.a() == 0));
    }
    for (pc, ins) in p.code.iter().enumerate() {
        if ins.op() == InitProp {
            assert!(
                entry != 0 && pc >= entry,
                "{pc}: InitProp outside the entry"
            );
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
0001    | Jmp          -> 0003
0002    | InitProp     r0 r1 k0 ; "x"
0003    | Return       r0
0004    | Return       r0

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
        r#"== <script> (arity 0, 6 registers, 0 upvalues) ==
0000    1 LoadI        r2 1
0001    | LoadI        r3 2
0002    | NewList      r1 r2 2 items
0003    | IterPrep     r1
0004    | IterNext     r1 r3 -> 0012
0005    | NewCell      r3 r3
0006    | Closure      r4 k0 ; <fn f>
0007    | GetCell      r5 r3
0008    | JNotEqI      r5 2 -> 0010
0009    | Loop         -> 0004
0010    | Jmp          -> 0012
0011    | Loop         -> 0004
0012    | LoadNil      r1
0013    | Return       r1

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
        r#"== <script> (arity 0, 4 registers, 0 upvalues) ==
0000    1 LoadTrue     r1
0001    | Move         r2 r1
0002    | JmpFalse     r2 -> 0006
0003    | LoadNil      r2
0004    | JmpTrue      r2 -> 0006
0005    | LoadK        r2 k0 ; "x"
0006    | JNotLe       r1 r2 -> 0013
0007    | JmpTrue      r1 -> 0013
0008    | Move         r3 r1
0009    | JmpFalse     r3 -> 0011
0010    | NewList      r3 r1 1 items
0011    | Move         r1 r3
0012    | Loop         -> 0006
0013    | JEq          r1 r2 -> 0016
0014    | Print        r1
0015    | Jmp          -> 0017
0016    | Print        r2
0017    | LoadNil      r1
0018    | Return       r1
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
        print(bin(Mod, v("g"), num(8.0))),
        print(bin(Mod, v("g"), neg(num(8.0)))),
        print(bin(Mod, v("g"), num(1.0))),
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
0026    | GetGlobal    r2 g4
0027    | ModP2        r1 r2 8
0028    | Print        r1
0029    | GetGlobal    r2 g4
0030    | ModI         r1 r2 -8
0031    | Print        r1
0032    | GetGlobal    r2 g4
0033    | ModP2        r1 r2 1
0034    | Print        r1
0035    | LoadNil      r1
0036    | Return       r1
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
0008    | GetIndexI    r3 r1 0
0009    | Print        r3
0010    | Move         r3 r1
0011    | Move         r4 r1
0012    | LoadNil      r1
0013    | SetIndex     r3 r4 r1
0014    | NewList      r3 r4 0 items
0015    | Print        r3
0016    | LoadNil      r1
0017    | Return       r1
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
    let out =
        dis_src("select {}\nselect { default: print 1; }\nselect { case var v = <-c: print v; }\n");
    assert_eq!(
        out,
        r#"== <script> (arity 0, 4 registers, 0 upvalues) ==
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
        into: RecvInto::Discard,
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

#[test]
fn a_repl_expression_entry_echoes_its_value_quoted() {
    let echoes = |src: &str| -> Vec<usize> {
        let p = crate::compile_repl(src).expect("compiles");
        check_proto(&p.main, None);
        p.main
            .code
            .iter()
            .filter(|i| i.op() == Op::Print)
            .map(|i| i.b())
            .collect()
    };
    // A lone expression (an assignment too) is echoed: `Print` with b = 1.
    assert_eq!(echoes("\"1\";"), [1]);
    assert_eq!(echoes("x = 1 + 2;"), [1]);
    assert!(crate::compile_repl("\"1\";")
        .expect("compiles")
        .main
        .disassemble()
        .contains("quoted"));
    // A `print` statement, several statements and scripts print plainly.
    assert_eq!(echoes("print \"1\";"), [0]);
    assert_eq!(echoes("1; 2;"), Vec::<usize>::new());
    let script = crate::compile("\"1\";").expect("compiles");
    assert!(script.main.code.iter().all(|i| i.op() != Op::Print));
}

/// A run of `+` with a string literal among its operands becomes one
/// `Concat` whose `Args` words name the operands' registers (locals read
/// in place, an unused field r0), when the operands after the
/// second are pure (locals, upvalues, literals) and the run is on one
/// line. A global operand (line 5), a run split over lines (6-7), or a run
/// without a string literal (8, 9) stays a chain of `Add`s (line 8's
/// literal on the left becomes an `AddI`: `+` on numbers commutes). A run longer
/// than `MAX_CONCAT` operands is cut (10): the first seven links hold no
/// string literal, so the first stays an `AddI`, the next seven fuse, and
/// the last is an `Add`.
#[test]
fn concat_fuses_string_runs_of_add() {
    let src = "\
{
  var w = \"a\";
  var v = \"b\";
  print w + \"-\" + v;
  print w + v + g;
  print w + \"-\"
    + v;
  print 1 + w + 2;
  print w + w + w;
  print w + 1 + 2 + 3 + 4 + 5 + 6 + 7 + \"!\" + w;
}
";
    assert_eq!(
        dis_src(src),
        r#"== <script> (arity 0, 11 registers, 0 upvalues) ==
0000    2 LoadK        r1 k0 ; "a"
0001    3 LoadK        r2 k1 ; "b"
0002    4 LoadK        r4 k2 ; "-"
0003    | Concat       r3 3 operands
0004    | Args         r1 r4 r2
0005    | Print        r3
0006    5 Add          r3 r1 r2
0007    | GetGlobal    r4 g3
0008    | Add          r3 r3 r4
0009    | Print        r3
0010    6 LoadK        r4 k2 ; "-"
0011    | Add          r3 r1 r4
0012    7 Add          r3 r3 r2
0013    | Print        r3
0014    8 AddI         r3 r1 1
0015    | AddI         r3 r3 2
0016    | Print        r3
0017    9 Add          r3 r1 r1
0018    | Add          r3 r3 r1
0019    | Print        r3
0020   10 AddI         r3 r1 1
0021    | LoadI        r4 2
0022    | LoadI        r5 3
0023    | LoadI        r6 4
0024    | LoadI        r7 5
0025    | LoadI        r8 6
0026    | LoadI        r9 7
0027    | LoadK        r10 k4 ; "!"
0028    | Concat       r3 8 operands
0029    | Args         r3 r4 r5
0030    | Args         r6 r7 r8
0031    | Args         r9 r10 r0
0032    | Add          r3 r3 r1
0033    | Print        r3
0034    | LoadNil      r1
0035    | Return       r1
"#
    );
}

/// An initializer's leading field assignments are compiled twice: as
/// `SetProp`s from the start (a call of `init` as a method), then, past a
/// jump, as `InitProp`s where a class call enters (`construct_entry`).
/// The copy stops at the first statement that could let `this` out or
/// assigns a name again.
#[test]
fn initializer_field_assignments_get_a_construction_entry() {
    let src = "\
class P {
  init(x, y) {
    this.x = x;
    this.y = [y, x + 1];
    this.x = 3;
    print this.x;
  }
}
";
    let out = dis_src(src);
    let init = &out[out.find("== init").unwrap()..];
    assert_eq!(
        init.lines().take(12).collect::<Vec<_>>(),
        [
            "== init (arity 2, 6 registers, 0 upvalues) ==",
            "0000    3 SetProp      r0 r1 k0 ; \"x\"",
            "0001    4 Move         r4 r2",
            "0002    | AddI         r5 r1 1",
            "0003    | NewList      r3 r4 2 items",
            "0004    | SetProp      r0 r3 k1 ; \"y\"",
            "0005    | Jmp          -> 0011",
            "0006    3 InitProp     r0 r1 k0 ; \"x\"",
            "0007    4 Move         r4 r2",
            "0008    | AddI         r5 r1 1",
            "0009    | NewList      r3 r4 2 items",
            "0010    | InitProp     r0 r3 k1 ; \"y\"",
        ]
    );
    let p = crate::compile(src).unwrap().main;
    assert_eq!(find(&p, "init").construct_entry, 6);
}

/// No construction entry where the first statement can let `this` out
/// (a call, a value that reads `this`), where `this` or a parameter is
/// captured (the entry would skip the boxing), or in a method.
#[test]
fn no_construction_entry_where_this_could_escape() {
    for body in [
        "f(this); this.x = 1;",
        "this.x = f(1);",
        "this.x = this;",
        "this.x = [this];",
        "this.x = a; fun g() { return a; }",
        "this.x = 1; fun g() { return this; }",
        "this.x = <-c;",
    ] {
        let src = format!("fun f(v) {{ return v; }}\nvar c;\nclass P {{ init(a) {{ {body} }} }}\n");
        let p = crate::compile(&src).unwrap().main;
        check_proto(&p, None);
        assert_eq!(find(&p, "init").construct_entry, 0, "{body}");
    }
    let p = crate::compile("class P { m(a) { this.x = a; } }")
        .unwrap()
        .main;
    assert_eq!(find(&p, "m").construct_entry, 0);
}

/// A field assignment whose value is a chain of 60,000 operators is
/// checked for a construction entry without recursing along the chain: the
/// compiler runs on a thread with a 256 KiB stack, which a recursion per
/// operator would overflow.
#[test]
fn a_long_chain_in_an_initializer_compiles() {
    let run = || {
        let chain = vec!["a"; 60_000].join(" + ");
        let src = format!("class P {{ init(a) {{ this.x = {chain}; }} }}\n");
        let p = crate::compile(&src).unwrap().main;
        let with_entry = find(&p, "init").construct_entry;
        let src = format!("class P {{ init(a) {{ this.x = {chain} + this; }} }}\n");
        let p = crate::compile(&src).unwrap().main;
        (with_entry, find(&p, "init").construct_entry)
    };
    let (with_entry, without) = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
    assert_ne!(with_entry, 0);
    assert_eq!(without, 0);
}
