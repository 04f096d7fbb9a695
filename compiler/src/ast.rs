//! The abstract syntax tree: what the parser produces and the resolver and
//! code generator consume.
//!
//! The tree is plain data. Every node that can cause a runtime error or a
//! compile error carries the source line that clox would attribute to it:
//! the line of the last token before clox emits the instruction (for a
//! binary operator the right operand's last token, for a call its closing
//! parenthesis, for a property access the name, for an assignment the
//! value's last token; `parser.rs` lists them all).
//!
//! Every place that *declares* a variable (a `var`, a parameter, a `fun` or
//! `class` name, a `for-in` variable, a `select` binding) carries a [`DeclId`]
//! that is unique within one parse. The resolver uses it to tell the code
//! generator which declarations are captured by closures, so that exactly
//! those locals are boxed in heap cells (nothing points into a
//! goroutine's stack).
//!
//! # Chains are flat, nesting is bounded
//!
//! Binary and short-circuit operators are left-associative, so
//! `1 + 2 + ... + n` is a tree whose *left spine* is `n - 1` nodes long even
//! though nothing in the source is nested. Every pass over the tree walks
//! such a spine with a loop ([`Expr::spine`]) and recurses only into the
//! operands hanging off it; an `else if` chain (`If` nodes linked through
//! their `els`) is walked the same way ([`Stmt::else_chain`]). Both types
//! implement `Drop` by the same loops, since the compiler's default drop
//! would recurse once per link. Only real nesting (parentheses, unary
//! operators, blocks, bodies, arguments, right operands) makes recursion
//! deeper, and the parser bounds that (see `parser.rs`, "Depth"). The
//! derived `Clone`, `Debug` and `PartialEq` still recurse per link; they are
//! for tests and small trees.
//!
//! Invariants:
//! - The parser never fails: a statement it could not parse becomes
//!   [`Stmt::Error`] and the error is reported as a diagnostic.
//! - `DeclId`s are dense, starting at 0, in source order.

/// Identifies one variable declaration within one parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeclId(pub u32);

/// A name as written in the source, with its line.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub line: u32,
}

/// A declaration site: the declared name plus its unique id.
#[derive(Clone, Debug, PartialEq)]
pub struct Decl {
    pub ident: Ident,
    pub id: DeclId,
}

/// A function, method or initializer body.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// The function's own name (a `Decl` because a `fun` statement declares it).
    pub name: Decl,
    pub params: Vec<Decl>,
    pub body: Vec<Stmt>,
    /// Line of the closing `}` (the implicit `return nil` is attributed here).
    pub end_line: u32,
}

/// A class declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct Class {
    pub name: Decl,
    pub superclass: Option<Ident>,
    /// The hidden local that holds the superclass for `super` expressions.
    /// Present exactly when `superclass` is; methods capture it.
    pub super_decl: Option<DeclId>,
    pub methods: Vec<Function>,
}

/// Where a `select` receive case puts what it received.
#[derive(Clone, Debug, PartialEq)]
pub enum RecvInto {
    /// `case <-ch:` drops the value.
    Discard,
    /// `case var v = <-ch:` or `case var v, ok = <-ch:` declares `v` (and
    /// `ok`: `true` when the value came from a send, `false` when the
    /// channel is closed) in the case's scope.
    Bind { value: Decl, ok: Option<Decl> },
    /// `case TARGET = <-ch:` assigns to an existing variable, property or
    /// element: an `Expr` of kind `Var`, `Get` or `Index`, evaluated only
    /// when the case is chosen.
    Assign(Expr),
}

/// One arm of a `select` statement. Each body is one statement.
#[derive(Clone, Debug, PartialEq)]
pub enum SelectCase {
    /// `case ... <-ch: body`.
    Recv {
        into: RecvInto,
        chan: Expr,
        body: Box<Stmt>,
        line: u32,
    },
    /// `case ch <- value: body`.
    Send {
        chan: Expr,
        value: Expr,
        body: Box<Stmt>,
        line: u32,
    },
    /// `default: body`.
    Default { body: Box<Stmt>, line: u32 },
}

/// A statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `expr;`
    Expr(Expr),
    /// `print expr;`
    Print(Expr),
    /// `var name = init;`
    Var { decl: Decl, init: Option<Expr> },
    /// `fun name(params) { body }`
    Fun(Function),
    /// `class Name < Super { methods }`
    Class(Class),
    /// `{ stmts }`
    Block(Vec<Stmt>),
    /// `if (cond) then else els`
    If {
        cond: Expr,
        then: Box<Stmt>,
        els: Option<Box<Stmt>>,
    },
    /// `while (cond) body`
    While { cond: Expr, body: Box<Stmt> },
    /// `for (init; cond; incr) body`; `init` is a `Var` or `Expr` statement.
    For {
        init: Option<Box<Stmt>>,
        cond: Option<Expr>,
        incr: Option<Expr>,
        body: Box<Stmt>,
    },
    /// `for (var x in iter) body`
    ForIn {
        var: Decl,
        iter: Expr,
        body: Box<Stmt>,
        line: u32,
    },
    /// `return;` / `return value;` (`line` is the `return` keyword's line).
    Return { value: Option<Expr>, line: u32 },
    /// `break;`
    Break { line: u32 },
    /// `continue;`
    Continue { line: u32 },
    /// `go call;` — `call` is always an `ExprKind::Call`.
    Go { call: Expr, line: u32 },
    /// `chan <- value;`
    Send { chan: Expr, value: Expr, line: u32 },
    /// `select { cases }`
    Select { cases: Vec<SelectCase>, line: u32 },
    /// A statement that failed to parse; its diagnostic is already recorded.
    Error,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

/// Binary (non short-circuit) operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Short-circuit operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogicalOp {
    And,
    Or,
}

/// An expression with the line clox would attribute to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub line: u32,
}

/// Expression forms.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Nil,
    True,
    False,
    Number(f64),
    /// A string literal with escapes already decoded.
    Str(String),
    /// A variable read.
    Var(Ident),
    /// `name = value`
    Assign {
        name: Ident,
        value: Box<Expr>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Logical {
        op: LogicalOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `callee(args)`; `line` of the `Expr` is the closing paren's line.
    Call {
        callee: Box<Expr>,
        args: Vec<Expr>,
    },
    /// `object.name`
    Get {
        object: Box<Expr>,
        name: Ident,
    },
    /// `object.name = value`
    Set {
        object: Box<Expr>,
        name: Ident,
        value: Box<Expr>,
    },
    /// `object[index]`
    Index {
        object: Box<Expr>,
        index: Box<Expr>,
    },
    /// `object[index] = value`
    IndexSet {
        object: Box<Expr>,
        index: Box<Expr>,
        value: Box<Expr>,
    },
    /// `this`
    This,
    /// `super.method`
    Super {
        method: Ident,
    },
    /// `[a, b, c]`
    List(Vec<Expr>),
    /// `{k: v, ...}`
    Map(Vec<(Expr, Expr)>),
    /// `<-chan`
    Recv(Box<Expr>),
    /// `(expr)` — kept so that `(a) = 1` can be rejected as clox does.
    Grouping(Box<Expr>),
}

impl Expr {
    /// Builds an expression node.
    pub fn new(kind: ExprKind, line: u32) -> Expr {
        Expr { kind, line }
    }

    /// A placeholder left behind where a node was moved out of the tree.
    pub fn placeholder() -> Expr {
        Expr::new(ExprKind::Nil, 0)
    }

    /// The operands of a link of a left spine: a binary or short-circuit
    /// node. `None` for every other node.
    pub fn link(&self) -> Option<(&Expr, &Expr)> {
        match &self.kind {
            ExprKind::Binary { left, right, .. } | ExprKind::Logical { left, right, .. } => {
                Some((left, right))
            }
            _ => None,
        }
    }

    /// Splits `self` along its left spine: the leftmost operand (the first
    /// one evaluated, itself not a link) and the links from the innermost
    /// (evaluated first) out to `self`. A node that is not a link is its own
    /// leftmost operand, with no links. Walks the spine with a loop, so a
    /// chain of any length costs no recursion.
    pub fn spine(&self) -> (&Expr, Vec<&Expr>) {
        let mut links = Vec::new();
        let mut node = self;
        while let Some((left, _)) = node.link() {
            links.push(node);
            node = left;
        }
        links.reverse();
        (node, links)
    }

    /// Whether `f` holds for this node or any node inside it. Walks left
    /// spines with a loop ([`Expr::spine`]), so a chain of any length costs
    /// no recursion; other nesting is bounded by the parser.
    pub fn any_node(&self, f: &mut dyn FnMut(&Expr) -> bool) -> bool {
        let (first, links) = self.spine();
        f(first)
            || first.any_child(f)
            || links
                .iter()
                .any(|l| f(l) || l.link().is_some_and(|(_, right)| right.any_node(f)))
    }

    /// [`Expr::any_node`] over the operands of `self`.
    fn any_child(&self, f: &mut dyn FnMut(&Expr) -> bool) -> bool {
        match &self.kind {
            ExprKind::Nil
            | ExprKind::True
            | ExprKind::False
            | ExprKind::Number(_)
            | ExprKind::Str(_)
            | ExprKind::Var(_)
            | ExprKind::This
            | ExprKind::Super { .. } => false,
            ExprKind::Assign { value, .. } => value.any_node(f),
            ExprKind::Unary { operand, .. } => operand.any_node(f),
            ExprKind::Binary { left, right, .. } | ExprKind::Logical { left, right, .. } => {
                left.any_node(f) || right.any_node(f)
            }
            ExprKind::Call { callee, args } => {
                callee.any_node(f) || args.iter().any(|a| a.any_node(f))
            }
            ExprKind::Get { object, .. } => object.any_node(f),
            ExprKind::Set { object, value, .. } => object.any_node(f) || value.any_node(f),
            ExprKind::Index { object, index } => object.any_node(f) || index.any_node(f),
            ExprKind::IndexSet {
                object,
                index,
                value,
            } => object.any_node(f) || index.any_node(f) || value.any_node(f),
            ExprKind::List(items) => items.iter().any(|i| i.any_node(f)),
            ExprKind::Map(pairs) => pairs.iter().any(|(k, v)| k.any_node(f) || v.any_node(f)),
            ExprKind::Recv(inner) | ExprKind::Grouping(inner) => inner.any_node(f),
        }
    }

    /// Detaches the left operand of a link when it is a link itself, leaving
    /// a placeholder, so that dropping `self` does not recurse into it.
    fn take_left_link(&mut self) -> Option<Expr> {
        match &mut self.kind {
            ExprKind::Binary { left, .. } | ExprKind::Logical { left, .. }
                if left.link().is_some() =>
            {
                Some(std::mem::replace(&mut **left, Expr::placeholder()))
            }
            _ => None,
        }
    }
}

impl Drop for Expr {
    /// Drops a left spine link by link (see the module docs); everything
    /// else is dropped recursively, as deep as the parser allows.
    fn drop(&mut self) {
        let mut next = self.take_left_link();
        while let Some(mut link) = next {
            next = link.take_left_link();
        }
    }
}

impl Stmt {
    /// Splits an `if` / `else if` / ... / `else` chain, following `els`
    /// while it is another `If` with a loop: the `(condition, branch)`
    /// pairs in order (`self`'s first) and the final `else` branch, if any.
    /// A statement that is not an `If` gives no pairs.
    pub fn else_chain(&self) -> (Vec<(&Expr, &Stmt)>, Option<&Stmt>) {
        let mut branches = Vec::new();
        let mut node = self;
        while let Stmt::If { cond, then, els } = node {
            branches.push((cond, &**then));
            match els {
                Some(next) => node = next,
                None => return (branches, None),
            }
        }
        let otherwise = (!branches.is_empty()).then_some(node);
        (branches, otherwise)
    }

    /// Detaches the `else` branch of an `If` when it is another `If`,
    /// leaving a placeholder, so that dropping `self` does not recurse
    /// into it.
    fn take_else_if(&mut self) -> Option<Stmt> {
        match self {
            Stmt::If { els: Some(els), .. } if matches!(**els, Stmt::If { .. }) => {
                Some(std::mem::replace(&mut **els, Stmt::Error))
            }
            _ => None,
        }
    }
}

impl Drop for Stmt {
    /// Drops an `else if` chain branch by branch (see the module docs).
    fn drop(&mut self) {
        let mut next = self.take_else_if();
        while let Some(mut branch) = next {
            next = branch.take_else_if();
        }
    }
}
