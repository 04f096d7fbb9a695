//! Unit tests of the parser: AST shapes, lines, DeclIds, clox's
//! diagnostics, REPL incompleteness, nesting limits and robustness.

use super::*;
use crate::ast::{RecvInto, SelectCase};

/// The diagnostics of `src`, as clox would print them.
fn errors(src: &str) -> Vec<String> {
    parse(src).1.iter().map(|d| d.to_string()).collect()
}

/// The statements of `src`, which must parse without diagnostics.
fn ok(src: &str) -> Vec<Stmt> {
    let (stmts, diags) = parse(src);
    // Generated sources run to megabytes; their start is enough to tell.
    let start: String = src.chars().take(200).collect();
    assert!(diags.is_empty(), "{start:?}...: {diags:?}");
    stmts
}

/// The expression of the single expression statement `src`.
fn expr(src: &str) -> Expr {
    match ok(src).last_mut() {
        // `Stmt` has a `Drop`, so the expression is taken, not moved out.
        Some(Stmt::Expr(e)) | Some(Stmt::Print(e)) => std::mem::replace(e, Expr::placeholder()),
        other => panic!("not an expression statement: {other:?}"),
    }
}

fn var(name: &str, line: u32) -> Expr {
    Expr::new(
        ExprKind::Var(Ident {
            name: name.to_string(),
            line,
        }),
        line,
    )
}

#[test]
fn binary_operators_carry_the_right_operands_last_line_and_associate_left() {
    let e = expr("a\n-\nb\n*\nc\n%\nd\n-\ne;");
    let ExprKind::Binary { op, left, right } = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!((*op, e.line), (BinaryOp::Sub, 9));
    assert_eq!(**right, var("e", 9));
    let ExprKind::Binary { op, right, .. } = &left.kind else {
        panic!()
    };
    assert_eq!((*op, left.line), (BinaryOp::Sub, 7));
    let ExprKind::Binary { op, left, .. } = &right.kind else {
        panic!()
    };
    assert_eq!((*op, right.line), (BinaryOp::Mod, 7));
    assert!(matches!(
        left.kind,
        ExprKind::Binary {
            op: BinaryOp::Mul,
            ..
        }
    ));
}

#[test]
fn precedence_ladder() {
    // `or` < `and` < equality < comparison < term < factor < unary.
    let e = expr("a or b and c == d < e + f * -g;");
    let ExprKind::Logical {
        op: LogicalOp::Or,
        right,
        ..
    } = &e.kind
    else {
        panic!()
    };
    let ExprKind::Logical {
        op: LogicalOp::And,
        right,
        ..
    } = &right.kind
    else {
        panic!()
    };
    let ExprKind::Binary {
        op: BinaryOp::Eq,
        right,
        ..
    } = &right.kind
    else {
        panic!()
    };
    let ExprKind::Binary {
        op: BinaryOp::Lt,
        right,
        ..
    } = &right.kind
    else {
        panic!()
    };
    let ExprKind::Binary {
        op: BinaryOp::Add,
        right,
        ..
    } = &right.kind
    else {
        panic!()
    };
    let ExprKind::Binary {
        op: BinaryOp::Mul,
        right,
        ..
    } = &right.kind
    else {
        panic!()
    };
    assert!(matches!(
        right.kind,
        ExprKind::Unary {
            op: UnaryOp::Neg,
            ..
        }
    ));
}

#[test]
fn receive_binds_like_unary_minus() {
    let e = expr("<-a + <-b.c;");
    let ExprKind::Binary { left, right, .. } = &e.kind else {
        panic!()
    };
    assert!(matches!(left.kind, ExprKind::Recv(_)));
    let ExprKind::Recv(inner) = &right.kind else {
        panic!()
    };
    assert!(matches!(inner.kind, ExprKind::Get { .. }));
}

#[test]
fn calls_carry_the_closing_paren_line_and_properties_the_name_line() {
    let e = expr("f(\n1,\n2\n).\nx;");
    assert_eq!(e.line, 5);
    let ExprKind::Get { object, name } = &e.kind else {
        panic!()
    };
    assert_eq!(name.line, 5);
    assert_eq!(object.line, 4);
    let ExprKind::Call { args, .. } = &object.kind else {
        panic!()
    };
    assert_eq!(args.len(), 2);
}

#[test]
fn assignment_targets() {
    let e = expr("a = b = 1;");
    let ExprKind::Assign { name, value } = &e.kind else {
        panic!()
    };
    assert_eq!(name.name, "a");
    assert!(matches!(value.kind, ExprKind::Assign { .. }));

    // A store is attributed to the value's last token, as clox emits it.
    let e = expr("o.p\n= 1;");
    assert_eq!(e.line, 2);
    assert!(matches!(e.kind, ExprKind::Set { .. }));

    let e = expr("xs[i][j] = v;");
    let ExprKind::IndexSet { object, .. } = &e.kind else {
        panic!()
    };
    assert!(matches!(object.kind, ExprKind::Index { .. }));
}

/// The checks the checker makes beyond the grammar (clox's resolver-like
/// checks, made while parsing).
const SCOPE_ERRORS: [&str; 12] = [
    "Can't return from top-level code.",
    "Can't return a value from an initializer.",
    "Can't use 'this' outside of a class.",
    "Can't use 'super' outside of a class.",
    "Can't use 'super' in a class with no superclass.",
    "Can't use 'break' outside of a loop.",
    "Can't use 'continue' outside of a loop.",
    "Already a variable with this name in this scope.",
    "Can't read local variable in its own initializer.",
    "A class can't inherit from itself.",
    "Too many local variables in function.",
    "Too many closure variables in function.",
];

#[test]
fn clox_scope_checks_follow_its_recovery() {
    // Each source with exactly the errors clox prints, in order.
    let cases: [(&str, &[&str]); 8] = [
        // The body of a function whose header failed is still a function.
        (
            "fun ;\nreturn ;\n}",
            &["[line 1] Error at ';': Expect function name."],
        ),
        (
            "class ;\nthis.b;",
            &[
                "[line 1] Error at ';': Expect class name.",
                "[line 2] Error at end: Expect '}' after block.",
            ],
        ),
        (
            "class Foo init { ) return \"result\";",
            &[
                "[line 1] Error at 'init': Expect '{' before class body.",
                "[line 1] Error at 'return': Can't return a value from an initializer.",
                "[line 1] Error at end: Expect '}' after block.",
            ],
        ),
        // Checks inside a block that never closes still happen.
        (
            "if (x) { var q = q;",
            &[
                "[line 1] Error at 'q': Can't read local variable in its own initializer.",
                "[line 1] Error at end: Expect '}' after block.",
            ],
        ),
        // One error per block left open at the end.
        (
            "{ {\n{",
            &[
                "[line 2] Error at end: Expect '}' after block.",
                "[line 2] Error at end: Expect '}' after block.",
                "[line 2] Error at end: Expect '}' after block.",
            ],
        ),
        (
            "this.x = 1;",
            &["[line 1] Error at 'this': Can't use 'this' outside of a class."],
        ),
        (
            "{ var a; var a; } fun f(b, b) {}",
            &[
                "[line 1] Error at 'a': Already a variable with this name in this scope.",
                "[line 1] Error at 'b': Already a variable with this name in this scope.",
            ],
        ),
        (
            "while (true) { fun f() { break; } } continue;",
            &[
                "[line 1] Error at 'break': Can't use 'break' outside of a loop.",
                "[line 1] Error at 'continue': Can't use 'continue' outside of a loop.",
            ],
        ),
    ];
    for (src, want) in cases {
        let (_, diags) = parse(src);
        let got: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        assert_eq!(got, want, "{src:?}");
    }
}

#[test]
fn invalid_assignment_targets_are_reported_at_the_equals() {
    for src in [
        "a + b = c;",
        "(a) = 1;",
        "-a = 1;",
        "f() = 1;",
        "a.b() = 1;",
    ] {
        let col = src.find('=').unwrap();
        let (_, diags) = parse(src);
        assert_eq!(diags.len(), 1, "{src}");
        assert_eq!(
            diags[0].to_string(),
            "[line 1] Error at '=': Invalid assignment target.",
            "{src}"
        );
        assert_eq!(diags[0].offset, col, "{src}");
    }
}

#[test]
fn decl_ids_are_dense_and_in_source_order() {
    let stmts = ok(
        "var a; fun f(p, q) { var r; } class C < B { m(s) { var t; } } \
                    for (var x in xs) { select { case var v = <-c: print v; } }",
    );
    let Stmt::Var { decl, .. } = &stmts[0] else {
        panic!()
    };
    assert_eq!(decl.id, DeclId(0));
    let Stmt::Fun(f) = &stmts[1] else { panic!() };
    assert_eq!(f.name.id, DeclId(1));
    assert_eq!(
        f.params.iter().map(|p| p.id.0).collect::<Vec<_>>(),
        vec![2, 3]
    );
    let Stmt::Var { decl, .. } = &f.body[0] else {
        panic!()
    };
    assert_eq!(decl.id, DeclId(4));
    let Stmt::Class(c) = &stmts[2] else { panic!() };
    assert_eq!(c.name.id, DeclId(5));
    assert_eq!(c.superclass.as_ref().map(|s| s.name.as_str()), Some("B"));
    assert_eq!(c.super_decl, Some(DeclId(6)));
    assert_eq!(c.methods[0].name.id, DeclId(7));
    assert_eq!(c.methods[0].params[0].id, DeclId(8));
    let Stmt::ForIn { var, body, .. } = &stmts[3] else {
        panic!()
    };
    assert_eq!(var.id, DeclId(10));
    let Stmt::Block(b) = &**body else { panic!() };
    let Stmt::Select { cases, .. } = &b[0] else {
        panic!()
    };
    let SelectCase::Recv {
        into: RecvInto::Bind { value, ok: None },
        ..
    } = &cases[0]
    else {
        panic!()
    };
    assert_eq!(value.id, DeclId(11));
}

#[test]
fn select_receive_forms() {
    let stmts = ok(
        "select { case var v, ok = <-c: print v; case x.a = <-c: print 1; \
                    case xs[i] = <-c: print 2; case y = <-c: print 3; }",
    );
    let Stmt::Select { cases, .. } = &stmts[0] else {
        panic!()
    };
    let SelectCase::Recv {
        into: RecvInto::Bind {
            value,
            ok: Some(ok),
        },
        ..
    } = &cases[0]
    else {
        panic!("{:?}", cases[0])
    };
    assert_eq!((value.id, ok.id), (DeclId(0), DeclId(1)));
    let kinds: Vec<bool> = cases[1..]
        .iter()
        .map(|c| match c {
            SelectCase::Recv {
                into: RecvInto::Assign(t),
                ..
            } => matches!(
                t.kind,
                ExprKind::Get { .. } | ExprKind::Index { .. } | ExprKind::Var(_)
            ),
            _ => false,
        })
        .collect();
    assert_eq!(kinds, [true, true, true]);
    // A target that cannot be assigned is the checker's error.
    let (_, diags) = parse("select { case a + b = <-c: print 1; }");
    assert_eq!(
        diags[0].to_string(),
        "[line 1] Error at '=': Invalid assignment target."
    );
}

#[test]
fn class_without_superclass_has_no_super_decl() {
    let stmts = ok("class A { init() {} }");
    let Stmt::Class(c) = &stmts[0] else { panic!() };
    assert_eq!((c.superclass.clone(), c.super_decl), (None, None));
    assert_eq!(c.methods[0].name.ident.name, "init");
}

#[test]
fn function_end_line_is_the_closing_brace() {
    let stmts = ok("fun f() {\n  return 1;\n}");
    let Stmt::Fun(f) = &stmts[0] else { panic!() };
    assert_eq!(f.end_line, 3);
    assert!(matches!(f.body[0], Stmt::Return { line: 2, .. }));
}

#[test]
fn dangling_else_binds_to_the_nearest_if() {
    let stmts = ok("if (a) if (b) print 1; else print 2;");
    let Stmt::If { then, els, .. } = &stmts[0] else {
        panic!()
    };
    assert!(els.is_none());
    assert!(matches!(**then, Stmt::If { els: Some(_), .. }));
}

#[test]
fn for_loops() {
    let stmts =
        ok("for (;;) break; for (var i = 0; i < 3; i = i + 1) continue; for (i = 0; ; ) {}");
    assert!(matches!(
        &stmts[0],
        Stmt::For {
            init: None,
            cond: None,
            incr: None,
            ..
        }
    ));
    assert!(matches!(
        &stmts[1],
        Stmt::For { init: Some(i), cond: Some(_), incr: Some(_), .. } if matches!(**i, Stmt::Var { .. })
    ));
    assert!(matches!(
        &stmts[2],
        Stmt::For { init: Some(i), cond: None, .. } if matches!(**i, Stmt::Expr(_))
    ));
    let stmts = ok("for (var x in\n xs) print x;");
    assert!(matches!(&stmts[0], Stmt::ForIn { line: 1, .. }));
}

#[test]
fn braces_are_blocks_at_statement_start_and_maps_elsewhere() {
    assert!(matches!(ok("{}").as_slice(), [Stmt::Block(b)] if b.is_empty()));
    let e = expr("({});");
    assert!(matches!(&e.kind, ExprKind::Grouping(m) if matches!(m.kind, ExprKind::Map(_))));
    let stmts = ok("var m = {\"k\": 1, 2: [true, nil]}; print {};");
    let Stmt::Var { init: Some(m), .. } = &stmts[0] else {
        panic!()
    };
    let ExprKind::Map(entries) = &m.kind else {
        panic!()
    };
    assert_eq!(entries.len(), 2);
    assert!(matches!(&entries[1].1.kind, ExprKind::List(items) if items.len() == 2));
}

#[test]
fn map_literal_may_not_start_a_for_clause() {
    assert_eq!(
        errors("for (;; {}) {}"),
        vec!["[line 1] Error at '{': Expect expression."]
    );
    ok("for (;; ({})) {}");
}

#[test]
fn concurrency_statements() {
    let stmts = ok("go f(1);\ngo o.m();\nch <- 1 + 2;\nselect {}\nselect {\n case a <- 1: {}\n default: print 0;\n}");
    assert!(
        matches!(&stmts[0], Stmt::Go { line: 1, call } if matches!(call.kind, ExprKind::Call { .. }))
    );
    assert!(matches!(&stmts[1], Stmt::Go { line: 2, .. }));
    assert!(
        matches!(&stmts[2], Stmt::Send { line: 3, value, .. } if matches!(value.kind, ExprKind::Binary { .. }))
    );
    assert!(matches!(&stmts[3], Stmt::Select { cases, line: 4 } if cases.is_empty()));
    let Stmt::Select { cases, .. } = &stmts[4] else {
        panic!()
    };
    assert!(matches!(&cases[0], SelectCase::Send { line: 6, .. }));
    assert!(matches!(&cases[1], SelectCase::Default { line: 7, .. }));
}

#[test]
fn select_case_sending_to_a_received_channel() {
    let stmts = ok("select { case <-a <- 1: print 1; case <-b: print 2; }");
    let Stmt::Select { cases, .. } = &stmts[0] else {
        panic!()
    };
    assert!(
        matches!(&cases[0], SelectCase::Send { chan, .. } if matches!(chan.kind, ExprKind::Recv(_)))
    );
    assert!(matches!(
        &cases[1],
        SelectCase::Recv {
            into: RecvInto::Discard,
            ..
        }
    ));
}

#[test]
fn go_requires_a_call() {
    assert_eq!(
        errors("go f;\ngo (f());\ngo f();"),
        vec![
            "[line 1] Error at 'f': Expect function call after 'go'.",
            "[line 2] Error at '(': Expect function call after 'go'.",
        ]
    );
}

#[test]
fn select_errors() {
    assert_eq!(
        errors("select { default: print 1; default: print 2; }"),
        vec!["[line 1] Error at 'default': Can't have more than one 'default' in select."]
    );
    assert_eq!(
        errors("select { print 1; }"),
        vec!["[line 1] Error at 'print': Expect 'case' or 'default' in select."]
    );
}

#[test]
fn clox_statement_messages() {
    let cases = [
        ("print 1", "[line 1] Error at end: Expect ';' after value."),
        (
            "1 2;",
            "[line 1] Error at '2': Expect ';' after expression.",
        ),
        (
            "var x = 1",
            "[line 1] Error at end: Expect ';' after variable declaration.",
        ),
        ("var 1;", "[line 1] Error at '1': Expect variable name."),
        (
            "fun f() { return 1 }",
            "[line 1] Error at '}': Expect ';' after return value.",
        ),
        (
            "return var",
            "[line 1] Error at 'return': Can't return from top-level code.",
        ),
        (
            "super a",
            "[line 1] Error at 'super': Can't use 'super' outside of a class.",
        ),
        (
            "if x) print 1;",
            "[line 1] Error at 'x': Expect '(' after 'if'.",
        ),
        (
            "if (x print 1;",
            "[line 1] Error at 'print': Expect ')' after condition.",
        ),
        (
            "while x",
            "[line 1] Error at 'x': Expect '(' after 'while'.",
        ),
        ("for x", "[line 1] Error at 'x': Expect '(' after 'for'."),
        (
            "for (;x)",
            "[line 1] Error at ')': Expect ';' after loop condition.",
        ),
        (
            "for (;;x;",
            "[line 1] Error at ';': Expect ')' after for clauses.",
        ),
        ("class {}", "[line 1] Error at '{': Expect class name."),
        (
            "class A < {}",
            "[line 1] Error at '{': Expect superclass name.",
        ),
        (
            "class A }",
            "[line 1] Error at '}': Expect '{' before class body.",
        ),
        (
            "class A { m() {}",
            "[line 1] Error at end: Expect '}' after class body.",
        ),
        ("fun () {}", "[line 1] Error at '(': Expect function name."),
        (
            "fun f {}",
            "[line 1] Error at '{': Expect '(' after function name.",
        ),
        (
            "fun f(1) {}",
            "[line 1] Error at '1': Expect parameter name.",
        ),
        (
            "fun f(a;",
            "[line 1] Error at ';': Expect ')' after parameters.",
        ),
        (
            "fun f() x",
            "[line 1] Error at 'x': Expect '{' before function body.",
        ),
        (
            "{ print 1;",
            "[line 1] Error at end: Expect '}' after block.",
        ),
        ("f(1;", "[line 1] Error at ';': Expect ')' after arguments."),
        ("(1;", "[line 1] Error at ';': Expect ')' after expression."),
        (
            "a.1;",
            "[line 1] Error at '1': Expect property name after '.'.",
        ),
        (
            "class A < B { m() { super; } }",
            "[line 1] Error at ';': Expect '.' after 'super'.",
        ),
        (
            "class A < B { m() { super.1; } }",
            "[line 1] Error at '1': Expect superclass method name.",
        ),
        ("print;", "[line 1] Error at ';': Expect expression."),
        (
            "print \"a\nb\" c;",
            "[line 2] Error at 'c': Expect ';' after value.",
        ),
        (
            "class A < A {}",
            "[line 1] Error at 'A': A class can't inherit from itself.",
        ),
        ("xs[1;", "[line 1] Error at ';': Expect ']' after index."),
        (
            "[1;",
            "[line 1] Error at ';': Expect ']' after list elements.",
        ),
        (
            "({1 2});",
            "[line 1] Error at '2': Expect ':' after map key.",
        ),
        (
            "({1: 2;",
            "[line 1] Error at ';': Expect '}' after map entries.",
        ),
        (
            "while (x) break",
            "[line 1] Error at end: Expect ';' after 'break'.",
        ),
        ("f(a,);", "[line 1] Error at ')': Expect expression."),
    ];
    // Only the first error is checked here: several of these inputs also
    // get clox's cascade (tested in `panic_mode_...`).
    for (src, want) in cases {
        assert_eq!(
            errors(src).first().map(String::as_str),
            Some(want),
            "{src:?}"
        );
    }
}

#[test]
fn string_tokens_are_quoted_with_their_quotes() {
    assert_eq!(
        errors("print \"a\" \"b\";"),
        vec!["[line 1] Error at '\"b\"': Expect ';' after value."]
    );
}

#[test]
fn argument_and_parameter_limits() {
    let args = vec!["a"; 256].join(", ");
    assert_eq!(
        errors(&format!("f({args});")),
        vec!["[line 1] Error at 'a': Can't have more than 255 arguments."]
    );
    let ok_args = vec!["a"; 255].join(", ");
    ok(&format!("f({ok_args});"));
    let params: Vec<String> = (0..256).map(|i| format!("p{i}")).collect();
    assert_eq!(
        errors(&format!("fun f({}) {{}}", params.join(", "))),
        vec!["[line 1] Error at 'p255': Can't have more than 255 parameters."]
    );
}

#[test]
fn scanner_errors_are_reported_once_and_skipped() {
    assert_eq!(
        errors("print 1;\nfoo(a | b);\nprint \"x\\q\";\nprint 2;\n$"),
        vec![
            "[line 2] Error: Unexpected character.",
            "[line 3] Error: Invalid escape sequence.",
            "[line 5] Error: Unexpected character.",
        ]
    );
    // As in clox, the error token puts the parser in panic mode, so the
    // statement's own syntax errors are not reported on top of it.
    assert_eq!(
        errors("print \"x\\q\";$"),
        vec!["[line 1] Error: Invalid escape sequence."]
    );
    // The body of a method without a name is still parsed, as a block.
    assert_eq!(
        errors("class A { 1 }"),
        vec![
            "[line 1] Error at '1': Expect method name.",
            "[line 1] Error at end: Expect '}' after block.",
        ]
    );
    // clox's synchronisation skips the `}` after a missing `;`.
    assert_eq!(
        errors("fun f() { return 1 }"),
        vec![
            "[line 1] Error at '}': Expect ';' after return value.",
            "[line 1] Error at end: Expect '}' after block.",
        ]
    );
    assert_eq!(
        errors("print 1;\n\"abc\ndef"),
        vec!["[line 3] Error: Unterminated string."]
    );
    // A bad character alone does not break the statement around it.
    let (stmts, diags) = parse("print 1 # ;");
    assert_eq!(diags.len(), 1);
    assert!(matches!(stmts[0], Stmt::Print(_)));
}

#[test]
fn panic_mode_reports_one_error_per_statement_and_recovers() {
    assert_eq!(
        errors("print 1 + ;\nprint (;\nvar = 2;\nprint 3;\nx y z;"),
        vec![
            "[line 1] Error at ';': Expect expression.",
            "[line 2] Error at ';': Expect expression.",
            "[line 3] Error at '=': Expect variable name.",
            "[line 5] Error at 'y': Expect ';' after expression.",
        ]
    );
    // Recovery stays inside the block, then reports the next error there.
    assert_eq!(
        errors("fun f() {\n  a b;\n  print 1;\n  c d;\n}\nprint 2"),
        vec![
            "[line 2] Error at 'b': Expect ';' after expression.",
            "[line 4] Error at 'd': Expect ';' after expression.",
            "[line 6] Error at end: Expect ';' after value.",
        ]
    );
    // clox's synchronisation may swallow a `}` (as the suite expects).
    assert_eq!(
        errors("fun f(a b) {}\n"),
        vec![
            "[line 1] Error at 'b': Expect ')' after parameters.",
            "[line 2] Error at end: Expect '}' after block.",
        ]
    );
}

#[test]
fn recovered_statements_are_kept() {
    let (stmts, diags) = parse("print 1;\nprint 1 +;\nprint 2;");
    assert_eq!(diags.len(), 1);
    assert_eq!(stmts.len(), 3);
    assert!(matches!(stmts[1], Stmt::Error));
    assert!(matches!(stmts[2], Stmt::Print(_)));
}

#[test]
fn diagnostics_are_sorted() {
    let (_, diags) = parse("1 2;\n3 4;\n5 6;");
    let keys: Vec<_> = diags.iter().map(|d| (d.line, d.offset)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(keys.len(), 3);
}

#[test]
fn incomplete_input() {
    for src in [
        "{",
        "fun f() {\n print 1;",
        "print (1 +",
        "var l = [1,",
        "print \"abc",
        "select {",
        "1 +",
        "var y =",
        "if (c)",
        "if (c) print 1; else",
        "while (x)",
        "for (var i = 0; i < 3; i = i + 1)",
        "fun f()",
        "class A < B",
        "x.",
        "print 1 + // a comment",
        "a = b =",
        "go",
    ] {
        assert!(is_incomplete(src), "{src:?}");
    }
    for src in [
        "print 1",
        "print 1;",
        "1 + 2",
        "var x",
        "var y = 2",
        "print (1;",
        "}",
        "{ print 1 2 ",
        "print )(",
        "1 + ;",
        "if c",
        "var 1",
        "// only a comment",
        "",
    ] {
        assert!(!is_incomplete(src), "{src:?}");
    }
}

#[test]
fn nesting_limit() {
    let deep = "(".repeat(100_000);
    let (stmts, diags) = parse(&deep);
    assert!(stmts.is_empty());
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].message, "Expression nesting too deep.");

    let nested_ok = format!("print {}1{};", "(".repeat(900), ")".repeat(900));
    ok(&nested_ok);
    let blocks_ok = format!("{}{}", "{".repeat(450), "}".repeat(450));
    ok(&blocks_ok);
    let blocks = format!("{}{}", "{".repeat(2_000), "}".repeat(2_000));
    assert_eq!(
        errors(&blocks),
        ["[line 1] Error at '{': Statement nesting too deep."]
    );
    // The limit is met inside the condition of the 1,000th `if`, but what
    // nests is the statements.
    let ifs = format!("{}print 1;", "if (x) ".repeat(5_000));
    assert_eq!(
        errors(&ifs),
        ["[line 1] Error at 'x': Statement nesting too deep."]
    );
    let unary = format!("print {}1;", "-".repeat(5_000));
    assert_eq!(
        errors(&unary),
        ["[line 1] Error at '-': Expression nesting too deep."]
    );
}

#[test]
fn flat_chains_are_not_nesting() {
    // Left-associative chains of any operators, mixed, are one level deep.
    let sum = format!("print {}1;", "1 + ".repeat(20_000));
    ok(&sum);
    let mixed = format!("print {}x;", "x * 2 - 1 < y and z or ".repeat(3_000));
    ok(&mixed);
    let branches: String = (0..5_000)
        .map(|i| format!("if (x == {i}) print {i}; else "))
        .collect();
    ok(&format!("{branches}print -1;"));
    ok(&format!("{branches}{{}}"));
    let without_else = format!("{}print 0;", branches.trim_end_matches("else "));
    assert!(!without_else.ends_with("else print 0;"));
}

#[test]
fn a_chain_is_as_deep_as_its_deepest_operand_plus_one() {
    // An operand of a chain nests only as deep as itself: 990 parentheses
    // (a few levels under the limit, which also counts the statement and
    // the chain) are fine anywhere in a long chain, 1,000 are not.
    let operand = |n: usize| format!("{}1{}", "(".repeat(n), ")".repeat(n));
    let chain = |n: usize| format!("print 1 + {} + 2 + {} + 3;", operand(n), operand(n));
    ok(&chain(990));
    let errs = errors(&chain(1_000));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].ends_with("Expression nesting too deep."),
        "{errs:?}"
    );
    // The leftmost operand counts the same way.
    ok(&format!("print {} + 2 + 3;", operand(990)));
    // A branch of an `else if` chain is one level inside the chain.
    let blocks = |n: usize| format!("{}{}", "{".repeat(n), "}".repeat(n));
    ok(&format!("if (a) 1; else if (b) {} else 2;", blocks(450)));
    let errs = errors(&format!("if (a) 1; else if (b) {} else 2;", blocks(2_000)));
    assert_eq!(
        errs,
        ["[line 1] Error at '{': Statement nesting too deep."],
        "{errs:?}"
    );
}

#[test]
fn an_else_if_chain_keeps_its_shape() {
    let stmts = ok("if (a) print 1; else if (b) print 2; else if (c) print 3; else print 4;");
    let (branches, otherwise) = stmts[0].else_chain();
    let conds: Vec<_> = branches
        .iter()
        .map(|(c, _)| match &c.kind {
            ExprKind::Var(v) => v.name.as_str(),
            _ => "?",
        })
        .collect();
    assert_eq!(conds, ["a", "b", "c"]);
    assert!(matches!(otherwise, Some(Stmt::Print(_))));
    let stmts = ok("if (a) print 1; else if (b) print 2;");
    let (branches, otherwise) = stmts[0].else_chain();
    assert_eq!(branches.len(), 2);
    assert!(otherwise.is_none());
}

#[test]
fn a_spine_lists_its_links_innermost_first() {
    let e = expr("a - b and c + d or e;");
    let (first, links) = e.spine();
    assert_eq!(*first, var("a", 1));
    let ops: Vec<_> = links
        .iter()
        .map(|l| match &l.kind {
            ExprKind::Binary { op, .. } => format!("{op:?}"),
            ExprKind::Logical { op, .. } => format!("{op:?}"),
            _ => "?".into(),
        })
        .collect();
    assert_eq!(ops, ["Sub", "And", "Or"]);
    // Parentheses end a spine: they are real nesting.
    let e = expr("(a - b) + c;");
    let (first, links) = e.spine();
    assert!(matches!(first.kind, ExprKind::Grouping(_)));
    assert_eq!(links.len(), 1);
}

/// A tiny deterministic generator (xorshift) for the robustness tests.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn random_token_soup_never_panics_and_both_passes_agree() {
    // Single tokens plus statement fragments, so that a fair share of
    // the inputs is valid or nearly so.
    const WORDS: &[&str] = &[
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        ",",
        ".",
        "-",
        "+",
        ";",
        "/",
        "*",
        "%",
        "!",
        "!=",
        "=",
        "==",
        ">",
        "<",
        "<-",
        ":",
        "a",
        "b",
        "1",
        "\"s\"",
        "and",
        "or",
        "class",
        "fun",
        "var",
        "if",
        "else",
        "for",
        "while",
        "print",
        "return",
        "this",
        "super",
        "nil",
        "go",
        "select",
        "case",
        "default",
        "in",
        "break",
        "continue",
        "#",
        "\"",
        "class A",
        "fun f",
        "var x",
        "var x =",
        "if (a)",
        "for (;;)",
        "for (var x in a)",
        "while (a)",
        "super.m",
        "go f()",
        "select {",
        "case var v = <-a:",
        "default:",
        "break;",
        "f(x)",
        "x = 1;",
        "print 1;",
        "a.b",
        "a[1]",
        "{1: 2}",
        "[1, 2]",
        "(a)",
        "() {}",
        "< B",
        "a <- 1;",
        "case a <- 1:",
        "case <-a:",
    ];
    let iterations = std::env::var("SKEIN_FUZZ_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..iterations {
        let len = 1 + rng.below(16);
        let src: Vec<&str> = (0..len).map(|_| WORDS[rng.below(WORDS.len())]).collect();
        let src = src.join(" ");
        let tokens = lexer::tokenize(&src);
        let checked = Checker::run(&tokens).diags;
        let ctx = ParseCtx::new(&src, &tokens);
        let stream = tokens
            .iter()
            .filter(|t| !matches!(t.tok, Tok::Error(_) | Tok::Eof))
            .map(|t| Ok::<_, LexError>((Pos::of_start(t), t.tok.clone(), Pos::of_end(t))));
        let lr_ok = grammar::ProgramParser::new().parse(&ctx, stream).is_ok()
            && ctx.fallback.borrow().is_empty();
        let scanner_error = tokens.iter().any(|t| matches!(t.tok, Tok::Error(_)));
        if !scanner_error {
            // The checker also makes clox's scope checks, which the grammar
            // does not: a program the grammar accepts may still fail them,
            // but then its first error is one of them.
            if checked.is_empty() {
                assert!(lr_ok, "{src:?}: the checker accepts, the grammar does not");
            } else if lr_ok {
                assert!(
                    SCOPE_ERRORS.contains(&checked[0].message.as_str()),
                    "{src:?}: the grammar accepts, the checker says {checked:?}"
                );
            }
        }
        let _ = is_incomplete(&src);
    }
}
