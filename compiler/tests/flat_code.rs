//! Flat code is not nesting (issue 11, §3): long left-associative chains
//! and long `else if` chains go through every pass (checker, grammar,
//! resolver, code generator, and the drop of the tree) on a test thread's
//! small stack, in a debug build, and compile to code whose register use
//! does not grow with the chain. Real nesting past the limit is still
//! rejected. The programs are generated: they are too large to keep as
//! files. (`tests/flat_code.rs` in the root package runs them.)

use skein_compiler::{compile, compile_repl};

/// Registers the script's top level needs, or the diagnostics as text.
fn registers(src: &str) -> Result<u16, String> {
    match compile(src) {
        Ok(program) => Ok(program.main.num_regs),
        Err(diags) => Err(diags
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

/// `first OP operand OP operand ...` with `count` operands after `first`.
fn chain(first: &str, op: &str, operand: &str, count: usize) -> String {
    let mut s = String::from(first);
    for _ in 0..count {
        s.push_str(op);
        s.push_str(operand);
    }
    s
}

#[test]
fn a_sum_of_ten_thousand_terms_compiles_in_constant_registers() {
    let small = registers(&format!("var x = 1; print {};", chain("x", " + ", "x", 10)));
    let large = registers(&format!(
        "var x = 1; print {};",
        chain("x", " + ", "x", 10_000)
    ));
    assert_eq!(large, small, "register use grew with the chain");
    let literals = |n| registers(&format!("print {};", chain("1", " + ", "1", n)));
    assert_eq!(literals(9_999), literals(2));
}

#[test]
fn a_long_chain_into_a_local_compiles_in_constant_registers() {
    // Assigned to an existing local, the chain works in one temporary and
    // writes the local only with its last instruction.
    let src = |n| format!("{{ var a = 1; a = {}; }}", chain("a", " * ", "a - 1", n));
    assert_eq!(registers(&src(5_000)), registers(&src(3)));
}

#[test]
fn a_string_concatenation_of_five_thousand_parts_compiles() {
    // A run of string `+`s fuses into `Concat`s of up to eight operands,
    // each in its own temporary, so a short chain uses fewer; from a
    // chain of a few `Concat`s on the count stays the same.
    let src = |n| format!("print {};", chain("\"a\"", " + ", "\"b\"", n));
    assert_eq!(registers(&src(4_999)), registers(&src(30)));
}

#[test]
fn mixed_and_or_and_comparison_chains_compile_in_constant_registers() {
    let link = " or x * 2 - 1 < y and z";
    let src = |n| {
        format!(
            "var x = 1; var y = 2; var z = 3; print x{};",
            link.repeat(n)
        )
    };
    assert_eq!(registers(&src(4_000)), registers(&src(2)));
    let cond = |n| format!("var a = 1; if ({}) print 1;", chain("a", " and ", "a", n));
    assert_eq!(registers(&cond(5_000)), registers(&cond(2)));
    let loop_ = |n| format!("var a = 1; while ({}) a = nil;", chain("a", " or ", "a", n));
    assert_eq!(registers(&loop_(5_000)), registers(&loop_(2)));
}

#[test]
fn a_chain_inside_a_function_with_captures_compiles() {
    // The resolver walks the chain too: `v` is captured by `inner`.
    let src = format!(
        "fun outer(v) {{ fun inner() {{ return {}; }} return inner; }} print outer(1)();",
        chain("v", " + ", "v", 10_000)
    );
    registers(&src).expect("compiles");
}

#[test]
fn an_else_if_chain_of_two_thousand_branches_compiles() {
    let mut src = String::from("var x = 1999;\n");
    for i in 0..2_000 {
        src.push_str(&format!("if (x == {i}) print {i}; else "));
    }
    src.push_str("print -1;\n");
    registers(&src).expect("compiles");
    // Inside a function, without a final `else`, and in a REPL entry.
    let branches: String = (0..3_000)
        .map(|i| format!("if (n < {i}) return {i}; else "))
        .collect();
    let src = format!("fun f(n) {{ {} }}", branches.trim_end_matches(" else "));
    registers(&src).expect("compiles");
    let entry: String = (0..3_000)
        .map(|i| format!("if (x < {i}) print {i}; else "))
        .collect();
    compile_repl(&format!("{entry}{{}}")).expect("a REPL entry compiles");
}

#[test]
fn a_long_chain_as_a_repl_entry_compiles() {
    // A lone expression entry prints its value: the chain is moved into
    // the `print`, not cloned (a clone would recurse down the chain).
    compile_repl(&format!("{};", chain("1", " + ", "1", 10_000))).expect("compiles");
}

#[test]
fn real_nesting_past_the_limit_is_rejected_with_the_reason() {
    let parens = format!("print {}1{};", "(".repeat(2_000), ")".repeat(2_000));
    let err = registers(&parens).expect_err("too deep");
    assert_eq!(err, "[line 1] Error at '(': Expression nesting too deep.");
    let blocks = format!("{}{}", "{".repeat(2_000), "}".repeat(2_000));
    let err = registers(&blocks).expect_err("too deep");
    assert_eq!(err, "[line 1] Error at '{': Statement nesting too deep.");
    // Nested `else { if ... }` is real nesting, unlike `else if`.
    let nested: String = (0..2_000).map(|_| "if (x) 1; else { ").collect();
    let err = registers(&format!("{nested}{}", "}".repeat(2_000))).expect_err("too deep");
    assert!(err.ends_with("Statement nesting too deep."), "{err}");
}
