//! The parser: tokens in, AST plus clox-exact diagnostics out.
//!
//! # Why two passes over the tokens
//!
//! The official Lox suite is checked strictly: every error clox prints must
//! be printed, with clox's message, the token it quotes and its line, and
//! nothing else may be printed. clox's recovery is a side effect of its
//! recursive descent: after the first error it keeps parsing *silently*
//! (in "panic mode") until the enclosing declaration returns, then skips
//! tokens until just after a `;` or just before a statement keyword. Which
//! tokens that silent parse eats decides the later errors, e.g. the suite
//! expects `Expect '}' after block.` at the end of a file whose function
//! header was broken, because the skip swallowed the body's `}`. An LR
//! parser with `!` recovery pops states and drops tokens by a different
//! rule, so its later errors cannot match clox's in general.
//!
//! So the work is split:
//!
//! 1. [`crate::lexer::tokenize`] scans the whole input into a token
//!    vector; scanner errors are error tokens.
//! 2. The *checker* (`Checker` below) walks the token vector with the
//!    control flow of clox's single-pass compiler, minus code generation:
//!    a Pratt expression parser, `consume`/`match`/`check`, panic mode and
//!    `synchronize`. It produces all syntax diagnostics, the scanner
//!    diagnostics (an error token is reported once when `advance` meets
//!    it, and skipped), and every check clox's compiler makes while
//!    parsing: invalid assignment targets, more than 255 arguments or
//!    parameters, a class inheriting from itself, and the scope checks
//!    (`return` at top level or with a value in an initializer, `this` and
//!    `super` outside a class or without a superclass, a name declared
//!    twice in one scope, a local read in its own initializer, 256 locals
//!    or captured variables), plus Skein's `break`/`continue` outside a
//!    loop. To make them at clox's moments, it keeps clox's compiler
//!    state: a stack of functions with their locals, scope depth and
//!    captured variables, and a stack of classes. Because the checks run
//!    inside the same panic-mode parse, they are made (or silenced) exactly
//!    where clox makes them, also in code after a broken declaration header
//!    or in a block that never closes. It also measures nesting (see
//!    "Depth" below).
//! 3. The lalrpop grammar (`grammar.lalrpop`) parses the same tokens
//!    (error tokens removed) into the AST. Its recovery is deliberately
//!    simple: a statement that fails skips to the next `;` and becomes
//!    [`Stmt::Error`] (in whatever block it was in), and an error that no
//!    `;` can repair ends the parse, keeping the statements before it.
//!    That keeps most statements for the code generator's own diagnostics
//!    (which clox would also report after resynchronizing). If the
//!    checker found nothing but the grammar did (which would be a bug: the
//!    two describe the same language), the grammar's errors are turned into
//!    generic diagnostics so that an invalid program is never accepted.
//!
//! The checker's diagnostics are the answer whenever there are any, in the
//! order clox prints them (which is source order); the code generator then
//! does not run. The grammar's fallback diagnostics are used only when the
//! checker found nothing, sorted by (line, offset).
//!
//! # Depth
//!
//! Later passes (resolver, code generator, `Drop` of the tree) recurse over
//! the AST, so the depth of their recursion must be bounded; flat code must
//! not be. The checker computes that depth for the tree the grammar would
//! build: 1 + the deepest child, for statements and expressions alike,
//! except for the two shapes that every pass walks with a loop (see
//! `ast.rs`):
//!
//! - A left-associative chain of binary and short-circuit operators
//!   (`1 + 2 + ... + n`, `a and b or c`) is one level deep plus its deepest
//!   operand, however long it is. An operator applied to a chain keeps the
//!   chain's depth, or the right operand's plus one if that is deeper.
//! - An `if` / `else if` / ... / `else` chain is one level deep plus its
//!   deepest condition or branch; the checker walks it with a loop too.
//!
//! The checker also bounds its own recursion level. Past [`MAX_DEPTH`] it
//! reports `Expression nesting too deep.` (inside an expression) or
//! `Statement nesting too deep.` (blocks, bodies, nested statements) at the
//! token it is looking at and stops; the grammar is then not run at all, so
//! no deep tree ever exists. The LR parser itself keeps its stack on the
//! heap, and its actions build one node each without recursion.
//!
//! # Lines
//!
//! Every node carries the line clox would give the instruction it becomes:
//! clox's `emitByte` uses the line of the token *before* the instruction,
//! which is the last token the construct consumed. So unary operators
//! (`-`, `!`, prefix `<-`) and binary operators carry the line of their
//! (right) operand's last token; assignments (to a variable, a property or
//! an element) the line of the value's last token; calls and index
//! expressions the line of the closing `)` / `]`; property gets and
//! `super.name` the name's line; literals and names their own token's
//! line (for a string, the line where it ends, as clox's scanner counts).
//! `and` / `or` carry the operator's line (their jumps cannot fail). A
//! token's line for this rule is the `line` of its [`Pos`]. Statements
//! with a `line` field carry their keyword's (`return`, `go`, `select`,
//! `for`, `case`, `default`, `break`, `continue`), a send the line of its
//! value's last token.
//!
//! # The language accepted beyond clox (`docs/language.md`)
//!
//! - `{` in expression position starts a map literal, except as the first
//!   token of an expression statement or of a `for` clause, where clox
//!   says `Expect expression.` (the suite checks this for all three `for`
//!   clauses); write `({})` there.
//! - `ch <- v;` is an expression statement followed by `<-`; `<-x` is a
//!   prefix operator at the precedence of unary `-`.
//! - `go EXPR;` requires the expression to be a call, otherwise
//!   `Expect function call after 'go'.` at the first token of the
//!   expression.
//! - `select { case var v = <-ch: S  case <-ch: S  case ch <- v: S
//!   default: S }`; at most one `default`.
//! - Panic mode also resynchronizes before `go`, `select`, `break` and
//!   `continue` (statement keywords clox does not have).
//!
//! Invariants: [`parse`] never panics and never fails; DeclIds are dense
//! and in source order when there is no diagnostic; no pass recurses more
//! than [`MAX_DEPTH`] levels (plus a small constant) into the AST.

use std::cell::{Cell, RefCell};

use lalrpop_util::{ErrorRecovery, ParseError};

use crate::ast::{
    BinaryOp, Class, Decl, DeclId, Expr, ExprKind, Function, Ident, LogicalOp, RecvInto,
    SelectCase, Stmt, UnaryOp,
};
use crate::diagnostic::{Diagnostic, Location};
use crate::lexer::{self, LexError, Tok, Token};

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused)]
    grammar
);

/// The deepest nesting (and checker recursion) accepted, counted as the
/// module docs describe. The resolver and the code generator recurse once
/// or twice per level; at a few hundred bytes per frame (debug builds)
/// 1,000 levels stay well inside the 2 MiB stack of a Rust test thread, and
/// no hand-written program nests anywhere near that deeply.
pub const MAX_DEPTH: u32 = 1000;

/// Parses `src`. Never fails: statements that do not parse become
/// [`Stmt::Error`]; every diagnostic (scanner, parser and clox's
/// compile-time checks) is returned, in the order clox reports them,
/// which is source order.
pub fn parse(src: &str) -> (Vec<Stmt>, Vec<Diagnostic>) {
    let tokens = lexer::tokenize(src);
    let report = Checker::run(&tokens);
    let mut diags = report.diags;
    if report.too_deep {
        return (Vec::new(), diags);
    }
    let ctx = ParseCtx::new(src, &tokens);
    let stream = tokens
        .iter()
        .filter(|t| !matches!(t.tok, Tok::Error(_) | Tok::Eof))
        .map(|t| Ok::<_, LexError>((Pos::of_start(t), t.tok.clone(), Pos::of_end(t))));
    let stmts = match grammar::ProgramParser::new().parse(&ctx, stream) {
        Ok(stmts) => stmts,
        Err(e) => {
            ctx.report(e);
            Vec::new()
        }
    };
    if diags.is_empty() {
        diags = ctx.fallback.into_inner();
        diags.sort_by_key(|d| (d.line, d.offset));
        diags.dedup();
    }
    (stmts, diags)
}

/// True when `src` is merely unfinished, so a REPL should read another
/// line: the input ends inside a string, or its first error is at the end
/// of input and more than a final `;` is missing, because a `(`, `[` or
/// `{` is still open or because the input followed by a `;` (on a line of
/// its own, after any comment) still does not parse: `1 +`, `var y =`,
/// `if (c)`, `fun f()`. An input that only lacks its `;` (`print 1`) or
/// whose first error comes before its end (`print )`) is not unfinished.
pub fn is_incomplete(src: &str) -> bool {
    let tokens = lexer::tokenize(src);
    if tokens
        .iter()
        .any(|t| t.tok == Tok::Error(LexError::UnterminatedString))
    {
        return true;
    }
    let ends_early = Checker::run(&tokens)
        .diags
        .iter()
        .min_by_key(|d| (d.line, d.offset))
        .is_some_and(|d| d.location == Location::End);
    if !ends_early {
        return false;
    }
    let mut open: i64 = 0;
    for t in &tokens {
        match t.tok {
            Tok::LParen | Tok::LBracket | Tok::LBrace => open += 1,
            Tok::RParen | Tok::RBracket | Tok::RBrace => open -= 1,
            _ => {}
        }
    }
    if open > 0 {
        return true;
    }
    let with_semicolon = format!("{src}\n;");
    !Checker::run(&lexer::tokenize(&with_semicolon))
        .diags
        .is_empty()
}

/// A position as the grammar sees it: byte offset plus the line clox
/// attributes to the token it belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub offset: usize,
    pub line: u32,
}

impl Pos {
    fn of_start(t: &Token<'_>) -> Pos {
        Pos {
            offset: t.start,
            line: t.line,
        }
    }

    fn of_end(t: &Token<'_>) -> Pos {
        Pos {
            offset: t.end,
            line: t.line,
        }
    }
}

/// State shared by the grammar's actions: the DeclId counter and the
/// grammar's own (fallback) diagnostics.
pub struct ParseCtx<'s> {
    src: &'s str,
    eof: Pos,
    next_id: Cell<u32>,
    fallback: RefCell<Vec<Diagnostic>>,
}

/// The header of a `for` statement, before its body is known.
pub enum ForHeader {
    Classic {
        init: Option<Box<Stmt>>,
        cond: Option<Expr>,
        incr: Option<Expr>,
    },
    In {
        var: Decl,
        iter: Expr,
        line: u32,
    },
}

impl ForHeader {
    /// Completes the statement with its body.
    pub fn build(self, body: Stmt) -> Stmt {
        let body = Box::new(body);
        match self {
            ForHeader::Classic { init, cond, incr } => Stmt::For {
                init,
                cond,
                incr,
                body,
            },
            ForHeader::In { var, iter, line } => Stmt::ForIn {
                var,
                iter,
                body,
                line,
            },
        }
    }
}

impl<'s> ParseCtx<'s> {
    fn new(src: &'s str, tokens: &[Token<'s>]) -> ParseCtx<'s> {
        let eof = tokens.last().map_or(Pos::default(), Pos::of_start);
        ParseCtx {
            src,
            eof,
            next_id: Cell::new(0),
            fallback: RefCell::new(Vec::new()),
        }
    }

    /// Allocates the next DeclId.
    pub fn fresh_id(&self) -> DeclId {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        DeclId(id)
    }

    /// A declaration site for `name` at `p`.
    pub fn decl(&self, name: &str, p: Pos) -> Decl {
        Decl {
            ident: Ident {
                name: name.to_string(),
                line: p.line,
            },
            id: self.fresh_id(),
        }
    }

    /// `class name < superclass { methods }`.
    pub fn class(
        &self,
        name: Decl,
        superclass: Option<(Ident, DeclId)>,
        methods: Vec<Function>,
    ) -> Stmt {
        let (superclass, super_decl) = match superclass {
            Some((ident, id)) => (Some(ident), Some(id)),
            None => (None, None),
        };
        Stmt::Class(Class {
            name,
            superclass,
            super_decl,
            methods,
        })
    }

    /// `target = value`, where only variables, properties and index
    /// expressions are valid targets (the checker reports the others). The
    /// store is attributed to the line of the value's last token (`end`),
    /// where clox emits it.
    pub fn assign(&self, mut target: Expr, value: Expr, eq: Pos, end: Pos) -> Expr {
        let value = Box::new(value);
        let line = end.line;
        // `Expr` has a `Drop`, so its kind is taken rather than moved out.
        let kind = match std::mem::replace(&mut target.kind, ExprKind::Nil) {
            ExprKind::Var(name) => ExprKind::Assign { name, value },
            ExprKind::Get { object, name } => ExprKind::Set {
                object,
                name,
                value,
            },
            ExprKind::Index { object, index } => ExprKind::IndexSet {
                object,
                index,
                value,
            },
            _ => {
                self.note(eq, "=", "Invalid assignment target.");
                return *value;
            }
        };
        Expr::new(kind, line)
    }

    /// `case target = <-chan: body`, where only variables, properties and
    /// index expressions are valid targets (the checker reports the
    /// others; the case then receives and drops the value).
    pub fn recv_assign(&self, target: Expr, chan: Expr, body: Stmt, p: Pos, eq: Pos) -> SelectCase {
        let assignable = matches!(
            target.kind,
            ExprKind::Var(_) | ExprKind::Get { .. } | ExprKind::Index { .. }
        );
        let into = if assignable {
            RecvInto::Assign(target)
        } else {
            self.note(eq, "=", "Invalid assignment target.");
            RecvInto::Discard
        };
        SelectCase::Recv {
            into,
            chan,
            body: Box::new(body),
            line: p.line,
        }
    }

    /// `go call;` — anything but a call is an error (the checker's).
    pub fn go(&self, call: Expr, p: Pos) -> Stmt {
        if matches!(call.kind, ExprKind::Call { .. }) {
            Stmt::Go { call, line: p.line }
        } else {
            self.note(p, "go", "Expect function call after 'go'.");
            Stmt::Error
        }
    }

    /// Records an error the grammar recovered from.
    pub fn recovered(&self, e: ErrorRecovery<Pos, Tok<'s>, LexError>) {
        self.report(e.error);
    }

    /// Turns a grammar error into a generic fallback diagnostic.
    fn report(&self, e: ParseError<Pos, Tok<'s>, LexError>) {
        let diag = match e {
            ParseError::UnrecognizedEof { expected, .. } => {
                Diagnostic::at_end(self.eof.line, self.eof.offset, fallback_message(&expected))
            }
            ParseError::UnrecognizedToken {
                token: (l, _, r),
                expected,
            } => Diagnostic::at_token(
                l.line,
                l.offset,
                self.src.get(l.offset..r.offset).unwrap_or(""),
                fallback_message(&expected),
            ),
            ParseError::ExtraToken { token: (l, _, r) } => Diagnostic::at_token(
                l.line,
                l.offset,
                self.src.get(l.offset..r.offset).unwrap_or(""),
                "Expect end of file.",
            ),
            ParseError::InvalidToken { location } => {
                Diagnostic::scanner(location.line, location.offset, "Unexpected character.")
            }
            ParseError::User { error } => {
                Diagnostic::scanner(self.eof.line, self.eof.offset, error.message())
            }
        };
        self.fallback.borrow_mut().push(diag);
    }

    /// Records a fallback diagnostic at the token `lexeme` starting at `p`.
    fn note(&self, p: Pos, lexeme: &str, message: &str) {
        self.fallback
            .borrow_mut()
            .push(Diagnostic::at_token(p.line, p.offset, lexeme, message));
    }
}

/// Builds a binary node carrying the line of its right operand's last
/// token (`end`), where clox emits the operator's instruction.
pub fn binary(op: BinaryOp, left: Expr, right: Expr, end: Pos) -> Expr {
    Expr::new(
        ExprKind::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        },
        end.line,
    )
}

/// Builds a short-circuit node carrying the operator's line.
pub fn logical(op: LogicalOp, left: Expr, right: Expr, p: Pos) -> Expr {
    Expr::new(
        ExprKind::Logical {
            op,
            left: Box::new(left),
            right: Box::new(right),
        },
        p.line,
    )
}

/// Builds a unary node carrying the line of its operand's last token
/// (`end`), where clox emits the operator's instruction.
pub fn unary(op: UnaryOp, operand: Expr, end: Pos) -> Expr {
    Expr::new(
        ExprKind::Unary {
            op,
            operand: Box::new(operand),
        },
        end.line,
    )
}

/// A generic message for a grammar error, from the terminals it expected.
fn fallback_message(expected: &[String]) -> &'static str {
    let has = |t: &str| expected.iter().any(|e| e.trim_matches('"') == t);
    if has("number") || has("ident") {
        "Expect expression."
    } else if has(";") {
        "Expect ';' after expression."
    } else {
        "Unexpected token."
    }
}

// ---------------------------------------------------------------------
// The checker: clox's parser control flow, producing diagnostics only.

/// What the checker found.
struct Report {
    diags: Vec<Diagnostic>,
    /// The input nests deeper than [`MAX_DEPTH`]; checking stopped there.
    too_deep: bool,
}

/// Raised (as `Err`) to unwind the checker when nesting is too deep.
struct TooDeep;

type Check<T> = Result<T, TooDeep>;

/// What the checker knows about an expression it has parsed.
#[derive(Clone, Copy)]
struct ExprInfo {
    /// Depth of the AST node the grammar would build for it, counted as
    /// the later passes recurse (see "Depth" in the module docs).
    depth: u32,
    /// Whether the outermost node is a call (for `go`).
    is_call: bool,
    /// Whether the outermost node is a link of a left spine (a binary or
    /// short-circuit operator), which a further operator extends.
    chain: bool,
    /// Whether it is a variable, a property or an element: something a
    /// `case TARGET = <-ch:` may assign.
    assignable: bool,
}

impl ExprInfo {
    fn leaf() -> ExprInfo {
        ExprInfo {
            depth: 1,
            is_call: false,
            chain: false,
            assignable: false,
        }
    }
}

/// What was nested too deeply, for the message.
#[derive(Clone, Copy)]
enum Nest {
    Expression,
    Statement,
}

/// Binding power of infix operators, loosest first (clox's `Precedence`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    None,
    Assignment,
    Or,
    And,
    Equality,
    Comparison,
    Term,
    Factor,
    Unary,
    Call,
}

impl Prec {
    fn next(self) -> Prec {
        match self {
            Prec::None => Prec::Assignment,
            Prec::Assignment => Prec::Or,
            Prec::Or => Prec::And,
            Prec::And => Prec::Equality,
            Prec::Equality => Prec::Comparison,
            Prec::Comparison => Prec::Term,
            Prec::Term => Prec::Factor,
            Prec::Factor => Prec::Unary,
            Prec::Unary | Prec::Call => Prec::Call,
        }
    }
}

/// The precedence of `tok` as an infix operator (`None` if it is not one).
fn infix_prec(tok: &Tok<'_>) -> Prec {
    match tok {
        Tok::LParen | Tok::Dot | Tok::LBracket => Prec::Call,
        Tok::Minus | Tok::Plus => Prec::Term,
        Tok::Slash | Tok::Star | Tok::Percent => Prec::Factor,
        Tok::BangEqual | Tok::EqualEqual => Prec::Equality,
        Tok::Greater | Tok::GreaterEqual | Tok::Less | Tok::LessEqual => Prec::Comparison,
        Tok::And => Prec::And,
        Tok::Or => Prec::Or,
        _ => Prec::None,
    }
}

/// clox's argument and parameter limit (one byte of operand in clox).
const MAX_ARGS: usize = 255;

/// clox's limit on locals in scope, and on captured variables, per
/// function (`UINT8_COUNT`: slots are one-byte operands in clox).
const MAX_SLOTS: usize = 256;

/// What kind of function body the checker is in (clox's `FunctionType`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum FnKind {
    Script,
    Function,
    Method,
    Initializer,
}

/// A local variable as clox's compiler tracks it: its name and the scope
/// depth it was declared at, `None` until its initializer is done.
struct Local<'s> {
    name: &'s str,
    depth: Option<u32>,
}

/// One function being checked (clox's `Compiler`, minus the code).
struct FnScope<'s> {
    kind: FnKind,
    locals: Vec<Local<'s>>,
    /// Captured variables: (index in the enclosing function's locals or
    /// upvalues, whether it is a local there).
    upvalues: Vec<(usize, bool)>,
    scope_depth: u32,
    /// Loops enclosing the current statement (for `break` and `continue`).
    loops: u32,
}

impl<'s> FnScope<'s> {
    /// A new function: slot 0 holds the receiver in methods and
    /// initializers and is unnamed otherwise, as in clox.
    fn new(kind: FnKind) -> FnScope<'s> {
        let slot0 = match kind {
            FnKind::Method | FnKind::Initializer => "this",
            FnKind::Script | FnKind::Function => "",
        };
        FnScope {
            kind,
            locals: vec![Local {
                name: slot0,
                depth: Some(0),
            }],
            upvalues: Vec::new(),
            scope_depth: 0,
            loops: 0,
        }
    }
}

struct Checker<'t, 's> {
    toks: &'t [Token<'s>],
    /// Index of the current (lookahead) token.
    current: usize,
    /// Index of the previous (last consumed) token.
    previous: usize,
    panic: bool,
    diags: Vec<Diagnostic>,
    /// Recursion level, bounded by [`MAX_DEPTH`].
    level: u32,
    /// How many of those levels are expressions (`parse_precedence`).
    expr_level: u32,
    /// The functions being checked, innermost last (clox's `current`
    /// chain).
    fns: Vec<FnScope<'s>>,
    /// The classes being checked, innermost last: whether each has a
    /// superclass (clox's `currentClass` chain).
    classes: Vec<bool>,
}

impl<'t, 's> Checker<'t, 's> {
    fn run(toks: &'t [Token<'s>]) -> Report {
        let mut c = Checker {
            toks,
            current: 0,
            previous: 0,
            panic: false,
            diags: Vec::new(),
            level: 0,
            expr_level: 0,
            fns: vec![FnScope::new(FnKind::Script)],
            classes: Vec::new(),
        };
        c.skip_error_tokens();
        let mut too_deep = false;
        while !c.check(&Tok::Eof) {
            if c.declaration().is_err() {
                too_deep = true;
                break;
            }
        }
        Report {
            diags: c.diags,
            too_deep,
        }
    }

    // --- Token plumbing (clox's advance / check / match / consume). ---

    fn skip_error_tokens(&mut self) {
        while let Tok::Error(e) = self.toks[self.current].tok {
            self.error_at(self.current, e.message());
            self.current += 1;
        }
    }

    fn advance(&mut self) {
        self.previous = self.current;
        if self.toks[self.current].tok != Tok::Eof {
            self.current += 1;
            self.skip_error_tokens();
        }
    }

    fn check(&self, t: &Tok<'_>) -> bool {
        std::mem::discriminant(&self.toks[self.current].tok) == std::mem::discriminant(t)
    }

    fn eat(&mut self, t: &Tok<'_>) -> bool {
        if self.check(t) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn consume(&mut self, t: &Tok<'_>, message: &str) {
        if self.check(t) {
            self.advance();
        } else {
            self.error_at(self.current, message);
        }
    }

    fn error(&mut self, message: &str) {
        self.error_at(self.previous, message);
    }

    fn error_at(&mut self, index: usize, message: &str) {
        if self.panic {
            return;
        }
        self.panic = true;
        let t = &self.toks[index];
        self.diags.push(match t.tok {
            Tok::Eof => Diagnostic::at_end(t.line, t.start, message),
            Tok::Error(_) => Diagnostic::scanner(t.line, t.start, message),
            _ => Diagnostic::at_token(t.line, t.start, t.lexeme, message),
        });
    }

    /// Enters one level of recursion, or stops everything if too deep.
    /// The message blames expressions when they make up most of the
    /// levels, statements otherwise.
    fn enter(&mut self, what: Nest) -> Check<()> {
        self.level += 1;
        if matches!(what, Nest::Expression) {
            self.expr_level += 1;
        }
        if self.level > MAX_DEPTH {
            let what = if 2 * self.expr_level > self.level {
                Nest::Expression
            } else {
                Nest::Statement
            };
            return Err(self.too_deep(self.current, what));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.level -= 1;
    }

    /// Checks the depth of a statement just completed.
    fn bound(&mut self, depth: u32) -> Check<u32> {
        self.bound_as(depth, Nest::Statement)
    }

    /// Checks the depth of a node just completed.
    fn bound_as(&mut self, depth: u32, what: Nest) -> Check<u32> {
        if depth > MAX_DEPTH {
            return Err(self.too_deep(self.previous, what));
        }
        Ok(depth)
    }

    /// Reports the nesting error (even in panic mode: it ends checking).
    fn too_deep(&mut self, index: usize, what: Nest) -> TooDeep {
        self.panic = false;
        let message = match what {
            Nest::Expression => "Expression nesting too deep.",
            Nest::Statement => "Statement nesting too deep.",
        };
        self.error_at(index, message);
        TooDeep
    }

    fn synchronize(&mut self) {
        self.panic = false;
        while !self.check(&Tok::Eof) {
            if self.toks[self.previous].tok == Tok::Semicolon {
                return;
            }
            match self.toks[self.current].tok {
                Tok::Class
                | Tok::Fun
                | Tok::Var
                | Tok::For
                | Tok::If
                | Tok::While
                | Tok::Print
                | Tok::Return
                | Tok::Go
                | Tok::Select
                | Tok::Break
                | Tok::Continue => return,
                _ => self.advance(),
            }
        }
    }

    // --- Scopes and variables (clox's resolution, without slots). ---

    fn current(&mut self) -> &mut FnScope<'s> {
        self.fns
            .last_mut()
            .expect("the script scope is never popped")
    }

    fn begin_scope(&mut self) {
        self.current().scope_depth += 1;
    }

    fn end_scope(&mut self) {
        let f = self.current();
        f.scope_depth -= 1;
        let depth = f.scope_depth;
        while f
            .locals
            .last()
            .is_some_and(|l| l.depth.is_none_or(|d| d > depth))
        {
            f.locals.pop();
        }
    }

    /// clox's `declareVariable` for the previous token: globals are late
    /// bound; a local may not repeat a name of its own scope.
    fn declare_variable(&mut self) {
        let name = self.toks[self.previous].lexeme;
        let f = self.fns.last().expect("a function");
        if f.scope_depth == 0 {
            return;
        }
        let depth = f.scope_depth;
        let duplicate = f
            .locals
            .iter()
            .rev()
            .take_while(|l| l.depth.is_none_or(|d| d >= depth))
            .any(|l| l.name == name);
        if duplicate {
            self.error("Already a variable with this name in this scope.");
        }
        self.add_local(name);
    }

    fn add_local(&mut self, name: &'s str) {
        if self.current().locals.len() == MAX_SLOTS {
            self.error("Too many local variables in function.");
            return;
        }
        self.current().locals.push(Local { name, depth: None });
    }

    /// clox's `parseVariable`: the name, declared.
    fn parse_variable(&mut self, message: &str) {
        self.consume(&Tok::Ident(""), message);
        self.declare_variable();
    }

    /// clox's `markInitialized`: the newest local may now be read.
    fn mark_initialized(&mut self) {
        let f = self.current();
        if f.scope_depth == 0 {
            return;
        }
        let depth = f.scope_depth;
        if let Some(l) = f.locals.last_mut() {
            l.depth = Some(depth);
        }
    }

    /// clox's `resolveLocal` in function `fi`.
    fn resolve_local(&mut self, fi: usize, name: &str) -> Option<usize> {
        let i = self.fns[fi].locals.iter().rposition(|l| l.name == name)?;
        if self.fns[fi].locals[i].depth.is_none() {
            self.error("Can't read local variable in its own initializer.");
        }
        Some(i)
    }

    /// clox's `resolveUpvalue` in function `fi`.
    fn resolve_upvalue(&mut self, fi: usize, name: &str) -> Option<usize> {
        if fi == 0 {
            return None;
        }
        if let Some(local) = self.resolve_local(fi - 1, name) {
            return Some(self.add_upvalue(fi, local, true));
        }
        let up = self.resolve_upvalue(fi - 1, name)?;
        Some(self.add_upvalue(fi, up, false))
    }

    fn add_upvalue(&mut self, fi: usize, index: usize, is_local: bool) -> usize {
        let ups = &self.fns[fi].upvalues;
        if let Some(i) = ups.iter().position(|&u| u == (index, is_local)) {
            return i;
        }
        if ups.len() == MAX_SLOTS {
            self.error("Too many closure variables in function.");
            return 0;
        }
        self.fns[fi].upvalues.push((index, is_local));
        self.fns[fi].upvalues.len() - 1
    }

    /// Resolves a use of `name` (clox's `namedVariable`, minus the store).
    fn named_variable(&mut self, name: &str) {
        let fi = self.fns.len() - 1;
        if self.resolve_local(fi, name).is_none() {
            self.resolve_upvalue(fi, name);
        }
    }

    // --- Declarations and statements. Each returns the node's depth. ---

    fn declaration(&mut self) -> Check<u32> {
        let depth = if self.eat(&Tok::Class) {
            self.class_declaration()?
        } else if self.eat(&Tok::Fun) {
            self.parse_variable("Expect function name.");
            self.mark_initialized();
            self.function(FnKind::Function)?
        } else if self.eat(&Tok::Var) {
            self.var_declaration()?
        } else {
            self.statement()?
        };
        if self.panic {
            self.synchronize();
        }
        Ok(depth)
    }

    fn class_declaration(&mut self) -> Check<u32> {
        self.consume(&Tok::Ident(""), "Expect class name.");
        let name = self.toks[self.previous].lexeme;
        self.declare_variable();
        self.mark_initialized();
        self.classes.push(false);
        let mut has_superclass = false;
        if self.eat(&Tok::Less) {
            self.consume(&Tok::Ident(""), "Expect superclass name.");
            let superclass = self.toks[self.previous].lexeme;
            self.named_variable(superclass);
            if superclass == name {
                self.error("A class can't inherit from itself.");
            }
            self.begin_scope();
            self.add_local("super");
            self.mark_initialized();
            has_superclass = true;
            *self.classes.last_mut().expect("just pushed") = true;
        }
        self.named_variable(name);
        self.consume(&Tok::LBrace, "Expect '{' before class body.");
        let mut depth = 1;
        while !self.check(&Tok::RBrace) && !self.check(&Tok::Eof) {
            self.consume(&Tok::Ident(""), "Expect method name.");
            let kind = if self.toks[self.previous].lexeme == "init" {
                FnKind::Initializer
            } else {
                FnKind::Method
            };
            depth = depth.max(1 + self.function(kind)?);
        }
        self.consume(&Tok::RBrace, "Expect '}' after class body.");
        if has_superclass {
            self.end_scope();
        }
        self.classes.pop();
        self.bound(depth)
    }

    /// Parameters and body, after the name (clox's `function`).
    fn function(&mut self, kind: FnKind) -> Check<u32> {
        self.enter(Nest::Statement)?;
        self.fns.push(FnScope::new(kind));
        self.begin_scope();
        self.consume(&Tok::LParen, "Expect '(' after function name.");
        if !self.check(&Tok::RParen) {
            let mut arity = 0;
            loop {
                arity += 1;
                if arity > MAX_ARGS {
                    self.error_at(self.current, "Can't have more than 255 parameters.");
                }
                self.parse_variable("Expect parameter name.");
                self.mark_initialized();
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        self.consume(&Tok::RParen, "Expect ')' after parameters.");
        self.consume(&Tok::LBrace, "Expect '{' before function body.");
        let depth = 1 + self.block()?;
        self.fns.pop();
        self.leave();
        self.bound(depth)
    }

    fn var_declaration(&mut self) -> Check<u32> {
        self.parse_variable("Expect variable name.");
        self.var_rest()
    }

    /// A `var` declaration after its (declared) name.
    fn var_rest(&mut self) -> Check<u32> {
        let mut depth = 1;
        if self.eat(&Tok::Equal) {
            depth += self.expression()?.depth;
        }
        self.consume(&Tok::Semicolon, "Expect ';' after variable declaration.");
        self.mark_initialized();
        self.bound(depth)
    }

    fn statement(&mut self) -> Check<u32> {
        self.enter(Nest::Statement)?;
        let depth = if self.eat(&Tok::Print) {
            let d = self.expression()?.depth;
            self.consume(&Tok::Semicolon, "Expect ';' after value.");
            d + 1
        } else if self.eat(&Tok::For) {
            self.for_statement()?
        } else if self.eat(&Tok::If) {
            // An `else if` chain is one level deep however long it is: a
            // loop here, as in every later pass. (clox recurses, through
            // `statement`, into the `if` after `else`; the tokens consumed
            // and the errors reported are the same.)
            let mut d = 0;
            loop {
                self.consume(&Tok::LParen, "Expect '(' after 'if'.");
                d = d.max(self.expression()?.depth);
                self.consume(&Tok::RParen, "Expect ')' after condition.");
                d = d.max(self.statement()?);
                if !self.eat(&Tok::Else) {
                    break;
                }
                if !self.eat(&Tok::If) {
                    d = d.max(self.statement()?);
                    break;
                }
            }
            d + 1
        } else if self.eat(&Tok::Return) {
            if self.fns.last().expect("a function").kind == FnKind::Script {
                self.error("Can't return from top-level code.");
            }
            let mut d = 1;
            if !self.eat(&Tok::Semicolon) {
                if self.fns.last().expect("a function").kind == FnKind::Initializer {
                    self.error("Can't return a value from an initializer.");
                }
                d += self.expression()?.depth;
                self.consume(&Tok::Semicolon, "Expect ';' after return value.");
            }
            d
        } else if self.eat(&Tok::While) {
            self.consume(&Tok::LParen, "Expect '(' after 'while'.");
            let c = self.expression()?.depth;
            self.consume(&Tok::RParen, "Expect ')' after condition.");
            1 + c.max(self.loop_body()?)
        } else if self.eat(&Tok::LBrace) {
            self.begin_scope();
            let d = 1 + self.block()?;
            self.end_scope();
            d
        } else if self.eat(&Tok::Break) {
            if self.fns.last().expect("a function").loops == 0 {
                self.error("Can't use 'break' outside of a loop.");
            }
            self.consume(&Tok::Semicolon, "Expect ';' after 'break'.");
            1
        } else if self.eat(&Tok::Continue) {
            if self.fns.last().expect("a function").loops == 0 {
                self.error("Can't use 'continue' outside of a loop.");
            }
            self.consume(&Tok::Semicolon, "Expect ';' after 'continue'.");
            1
        } else if self.eat(&Tok::Go) {
            let first = self.current;
            let e = self.expression()?;
            if !e.is_call {
                self.error_at(first, "Expect function call after 'go'.");
            }
            self.consume(&Tok::Semicolon, "Expect ';' after expression.");
            1 + e.depth
        } else if self.eat(&Tok::Select) {
            self.select_statement()?
        } else {
            let mut d = self.expression_nb()?.depth;
            if self.eat(&Tok::Arrow) {
                d = d.max(self.expression()?.depth);
                self.consume(&Tok::Semicolon, "Expect ';' after value.");
            } else {
                self.consume(&Tok::Semicolon, "Expect ';' after expression.");
            }
            d + 1
        };
        self.leave();
        self.bound(depth)
    }

    /// The declarations of a block up to and including its `}`; returns
    /// the depth of the deepest one.
    fn block(&mut self) -> Check<u32> {
        let mut depth = 0;
        while !self.check(&Tok::RBrace) && !self.check(&Tok::Eof) {
            depth = depth.max(self.declaration()?);
        }
        self.consume(&Tok::RBrace, "Expect '}' after block.");
        Ok(depth)
    }

    /// A loop's body statement, inside the loop for `break` and
    /// `continue`.
    fn loop_body(&mut self) -> Check<u32> {
        self.current().loops += 1;
        let depth = self.statement();
        self.current().loops -= 1;
        depth
    }

    fn for_statement(&mut self) -> Check<u32> {
        self.begin_scope();
        let depth = self.for_clauses();
        self.end_scope();
        depth
    }

    /// A `for` statement after the keyword, in the loop's own scope.
    fn for_clauses(&mut self) -> Check<u32> {
        self.consume(&Tok::LParen, "Expect '(' after 'for'.");
        let mut depth = 1;
        if self.eat(&Tok::Semicolon) {
        } else if self.eat(&Tok::Var) {
            self.consume(&Tok::Ident(""), "Expect variable name.");
            let name = self.toks[self.previous].lexeme;
            if self.eat(&Tok::In) {
                // The iterable is evaluated before the variable exists.
                let d = self.expression()?.depth;
                self.consume(&Tok::RParen, "Expect ')' after for clauses.");
                self.add_local(name);
                self.mark_initialized();
                let body = self.loop_body()?;
                return Ok(1 + d.max(body));
            }
            self.declare_variable();
            depth = depth.max(1 + self.var_rest()?);
        } else {
            depth = depth.max(2 + self.expression_nb()?.depth);
            self.consume(&Tok::Semicolon, "Expect ';' after expression.");
        }
        if !self.eat(&Tok::Semicolon) {
            depth = depth.max(1 + self.expression_nb()?.depth);
            self.consume(&Tok::Semicolon, "Expect ';' after loop condition.");
        }
        if !self.eat(&Tok::RParen) {
            depth = depth.max(1 + self.expression_nb()?.depth);
            self.consume(&Tok::RParen, "Expect ')' after for clauses.");
        }
        Ok(depth.max(1 + self.loop_body()?))
    }

    fn select_statement(&mut self) -> Check<u32> {
        self.consume(&Tok::LBrace, "Expect '{' after 'select'.");
        let mut depth = 1;
        let mut seen_default = false;
        while !self.check(&Tok::RBrace) && !self.check(&Tok::Eof) {
            let d = if self.eat(&Tok::Case) {
                // The variables a receive declares, in scope in its body.
                let mut binds: Vec<&'s str> = Vec::new();
                let mut d = if self.eat(&Tok::Var) {
                    self.consume(&Tok::Ident(""), "Expect variable name.");
                    binds.push(self.toks[self.previous].lexeme);
                    if self.eat(&Tok::Comma) {
                        self.consume(&Tok::Ident(""), "Expect variable name.");
                        let ok = self.toks[self.previous].lexeme;
                        if binds.contains(&ok) {
                            self.error("Already a variable with this name in this scope.");
                        }
                        binds.push(ok);
                    }
                    self.consume(&Tok::Equal, "Expect '=' after case variable.");
                    self.consume(&Tok::Arrow, "Expect '<-' after '='.");
                    self.parse_precedence(Prec::Unary)?.depth + 1
                } else if self.eat(&Tok::Arrow) {
                    // `case <-ch:` receives; `case <-a <- v:` sends to the
                    // channel that `<-a` yields.
                    let recv = self.parse_precedence(Prec::Unary)?;
                    let recv = ExprInfo {
                        depth: self.bound_as(recv.depth + 1, Nest::Expression)?,
                        ..ExprInfo::leaf()
                    };
                    if self.check(&Tok::Colon) {
                        recv.depth
                    } else {
                        let chan = self.infix_loop(Prec::Assignment, recv, true)?;
                        self.consume(&Tok::Arrow, "Expect '<-' or ':' after case channel.");
                        chan.depth.max(self.expression()?.depth)
                    }
                } else {
                    // `case TARGET = <-ch:` receives into a variable,
                    // property or element; `case ch <- v:` sends.
                    let left = self.parse_precedence(Prec::Or)?;
                    if self.eat(&Tok::Equal) {
                        if !left.assignable {
                            self.error("Invalid assignment target.");
                        }
                        self.consume(&Tok::Arrow, "Expect '<-' after '='.");
                        left.depth
                            .max(self.parse_precedence(Prec::Unary)?.depth + 1)
                    } else {
                        self.consume(&Tok::Arrow, "Expect '<-' after case channel.");
                        left.depth.max(self.expression()?.depth)
                    }
                };
                self.consume(&Tok::Colon, "Expect ':' after case.");
                self.begin_scope();
                for name in binds {
                    self.add_local(name);
                    self.mark_initialized();
                }
                d = d.max(self.statement()?);
                self.end_scope();
                d
            } else if self.eat(&Tok::Default) {
                if seen_default {
                    self.error("Can't have more than one 'default' in select.");
                }
                seen_default = true;
                self.consume(&Tok::Colon, "Expect ':' after 'default'.");
                self.statement()?
            } else {
                self.error_at(self.current, "Expect 'case' or 'default' in select.");
                self.advance();
                0
            };
            depth = depth.max(d + 1);
        }
        self.consume(&Tok::RBrace, "Expect '}' after select cases.");
        self.bound(depth + 1)
    }

    // --- Expressions (clox's Pratt parser). ---

    fn expression(&mut self) -> Check<ExprInfo> {
        self.parse_precedence(Prec::Assignment)
    }

    /// An expression that may not begin with `{` (statement and `for`
    /// clause position): clox has no prefix rule for `{`.
    fn expression_nb(&mut self) -> Check<ExprInfo> {
        if self.check(&Tok::LBrace) {
            self.advance();
            self.error("Expect expression.");
            return Ok(ExprInfo::leaf());
        }
        self.expression()
    }

    fn parse_precedence(&mut self, prec: Prec) -> Check<ExprInfo> {
        self.enter(Nest::Expression)?;
        self.advance();
        let can_assign = prec <= Prec::Assignment;
        let info = match self.prefix(can_assign)? {
            Some(left) => self.infix_loop(prec, left, can_assign)?,
            None => {
                self.error("Expect expression.");
                ExprInfo::leaf()
            }
        };
        self.expr_level -= 1;
        self.leave();
        Ok(info)
    }

    /// Applies infix operators binding at least as tightly as `prec` to
    /// `left`, then rejects a stray `=` (clox's invalid assignment target).
    fn infix_loop(&mut self, prec: Prec, mut left: ExprInfo, can_assign: bool) -> Check<ExprInfo> {
        while prec <= infix_prec(&self.toks[self.current].tok) {
            self.advance();
            left = self.infix(left, can_assign)?;
        }
        if can_assign && self.eat(&Tok::Equal) {
            self.error("Invalid assignment target.");
        }
        Ok(left)
    }

    /// The prefix rule of the previous token; `None` if it has none.
    fn prefix(&mut self, can_assign: bool) -> Check<Option<ExprInfo>> {
        let leaf = ExprInfo::leaf();
        let info = match self.toks[self.previous].tok {
            Tok::LParen => {
                let inner = self.expression()?;
                self.consume(&Tok::RParen, "Expect ')' after expression.");
                self.node(inner.depth + 1, false)?
            }
            Tok::Minus | Tok::Bang | Tok::Arrow => {
                let operand = self.parse_precedence(Prec::Unary)?;
                self.node(operand.depth + 1, false)?
            }
            Tok::Ident(name) => {
                self.named_variable(name);
                self.assignment_tail(can_assign, 1)?
            }
            Tok::Str(_) | Tok::Number(_) | Tok::False | Tok::True | Tok::Nil => leaf,
            Tok::This => {
                if self.classes.is_empty() {
                    self.error("Can't use 'this' outside of a class.");
                } else {
                    self.named_variable("this");
                }
                leaf
            }
            Tok::Super => {
                match self.classes.last() {
                    None => self.error("Can't use 'super' outside of a class."),
                    Some(false) => self.error("Can't use 'super' in a class with no superclass."),
                    Some(true) => {}
                }
                self.consume(&Tok::Dot, "Expect '.' after 'super'.");
                self.consume(&Tok::Ident(""), "Expect superclass method name.");
                self.named_variable("this");
                self.named_variable("super");
                leaf
            }
            Tok::LBracket => {
                let mut depth = 1;
                if !self.check(&Tok::RBracket) {
                    loop {
                        depth = depth.max(self.expression()?.depth + 1);
                        if !self.eat(&Tok::Comma) {
                            break;
                        }
                    }
                }
                self.consume(&Tok::RBracket, "Expect ']' after list elements.");
                self.node(depth, false)?
            }
            Tok::LBrace => {
                let mut depth = 1;
                if !self.check(&Tok::RBrace) {
                    loop {
                        depth = depth.max(self.expression()?.depth + 1);
                        self.consume(&Tok::Colon, "Expect ':' after map key.");
                        depth = depth.max(self.expression()?.depth + 1);
                        if !self.eat(&Tok::Comma) {
                            break;
                        }
                    }
                }
                self.consume(&Tok::RBrace, "Expect '}' after map entries.");
                self.node(depth, false)?
            }
            _ => return Ok(None),
        };
        Ok(Some(info))
    }

    /// The infix rule of the previous token, applied to `left`.
    fn infix(&mut self, left: ExprInfo, can_assign: bool) -> Check<ExprInfo> {
        match self.toks[self.previous].tok {
            Tok::LParen => {
                let mut depth = left.depth + 1;
                if !self.check(&Tok::RParen) {
                    let mut count = 0;
                    loop {
                        depth = depth.max(self.expression()?.depth + 1);
                        if count == MAX_ARGS {
                            self.error("Can't have more than 255 arguments.");
                        }
                        count += 1;
                        if !self.eat(&Tok::Comma) {
                            break;
                        }
                    }
                }
                self.consume(&Tok::RParen, "Expect ')' after arguments.");
                self.node(depth, true)
            }
            Tok::Dot => {
                self.consume(&Tok::Ident(""), "Expect property name after '.'.");
                self.assignment_tail(can_assign, left.depth + 1)
            }
            Tok::LBracket => {
                let index = self.expression()?;
                self.consume(&Tok::RBracket, "Expect ']' after index.");
                self.assignment_tail(can_assign, left.depth.max(index.depth) + 1)
            }
            // clox parses the right operand of `and` / `or` at the
            // operator's own precedence, which nests `a or b or c` to the
            // right; one level tighter, as for the other operators, it
            // nests to the left as the grammar does, so a long chain is a
            // loop here. The tokens consumed and the errors are the same:
            // the operand's own loop stops at the next `or` and this loop
            // takes it instead, and neither may assign.
            ref op => {
                let prec = infix_prec(op).next();
                let right = self.parse_precedence(prec)?;
                self.link(left, right)
            }
        }
    }

    /// After an assignable expression of the given depth: an optional
    /// `= value` when assignment is allowed here.
    fn assignment_tail(&mut self, can_assign: bool, depth: u32) -> Check<ExprInfo> {
        if can_assign && self.eat(&Tok::Equal) {
            let value = self.expression()?;
            return self.node(depth.max(value.depth) + 1, false);
        }
        Ok(ExprInfo {
            assignable: true,
            ..self.node(depth, false)?
        })
    }

    fn node(&mut self, depth: u32, is_call: bool) -> Check<ExprInfo> {
        Ok(ExprInfo {
            depth: self.bound_as(depth, Nest::Expression)?,
            is_call,
            ..ExprInfo::leaf()
        })
    }

    /// A binary or short-circuit node over `left` and `right`. Passes walk
    /// a left spine with a loop, so a link added to a chain sits at the
    /// chain's own level; only its right operand is one level further in.
    fn link(&mut self, left: ExprInfo, right: ExprInfo) -> Check<ExprInfo> {
        let depth = if left.chain {
            left.depth.max(right.depth + 1)
        } else {
            left.depth.max(right.depth) + 1
        };
        Ok(ExprInfo {
            depth: self.bound_as(depth, Nest::Expression)?,
            chain: true,
            ..ExprInfo::leaf()
        })
    }
}

#[cfg(test)]
mod tests;
