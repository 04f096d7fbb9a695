//! Skein's compiler: source text in, plain-data bytecode out.
//!
//! Pipeline:
//! 1. [`lexer`]: logos turns bytes into tokens; bad characters,
//!    unterminated strings and invalid escapes become error tokens, which
//!    the parser reports as scanner diagnostics.
//! 2. [`parser`]: a checker that walks the tokens with clox's own control
//!    flow reports every syntax error with clox's messages and panic-mode
//!    recovery; the lalrpop grammar (`grammar.lalrpop`) builds the [`ast`].
//! 3. [`resolve`]: finds which declarations closures capture.
//! 4. [`codegen`]: emits register bytecode ([`skein_bytecode::Program`]) and
//!    reports clox's scope and limit errors.
//!
//! Architecture invariant: the compiler never touches the GC heap. Constants
//! are plain data; the VM interns strings when it loads a program.
//! API boundary: [`parse`], [`compile`], [`compile_repl`], [`is_incomplete`].

pub mod ast;
pub mod codegen;
pub mod diagnostic;
pub mod lexer;
pub mod parser;
pub mod resolve;

pub use diagnostic::{Diagnostic, Location};
pub use skein_bytecode as bytecode;

/// Parses `src` into statements plus every diagnostic the scanner and parser
/// found (sorted by position). Never fails: unparseable statements become
/// `Stmt::Error`.
pub fn parse(src: &str) -> (Vec<ast::Stmt>, Vec<Diagnostic>) {
    parser::parse(src)
}

/// Compiles a whole script. On any error returns every diagnostic, sorted by
/// source position.
pub fn compile(src: &str) -> Result<bytecode::Program, Vec<Diagnostic>> {
    let (stmts, diags) = parse(src);
    generate(&stmts, diags, false)
}

/// Compiles one REPL entry. Like [`compile`], except that when the entry is a
/// single expression statement the program prints the expression's value as
/// the REPL echoes it: like `print`, but a string is shown quoted (`"1"`,
/// not `1`), escaped as inside a list.
pub fn compile_repl(src: &str) -> Result<bytecode::Program, Vec<Diagnostic>> {
    let (stmts, diags) = parse(src);
    generate(&stmts, diags, true)
}

/// Resolves and generates code for parsed statements. The parser's
/// checker makes every check clox makes while compiling, so when it found
/// errors they are the whole answer; the code generator's own errors (its
/// limits) are reported only for a program the checker accepted.
fn generate(
    stmts: &[ast::Stmt],
    diags: Vec<Diagnostic>,
    repl: bool,
) -> Result<bytecode::Program, Vec<Diagnostic>> {
    if !diags.is_empty() {
        return Err(diags);
    }
    let captured = resolve::resolve(stmts);
    codegen::generate(stmts, &captured, repl)
}

/// True when `src` is merely unfinished: it ends inside an unterminated
/// string, or its first error is at the end of input and it lacks more than
/// its final `;` (an open `(`, `[` or `{`, a trailing operator as in `1 +`,
/// `var y =`, `if (c)`). A REPL then keeps reading lines instead of
/// reporting an error. A statement that only lacks its `;` is an error, not
/// unfinished, and so is input whose first error comes before its end.
pub fn is_incomplete(src: &str) -> bool {
    parser::is_incomplete(src)
}
