//! The resolver: finds which declarations closures capture.
//!
//! Skein never lets anything point into a goroutine's register stack
//! (invariant 2 of `ARCHITECTURE.md`), so a local variable that a nested
//! function refers to must live in a heap cell from the moment it is
//! declared. The code generator
//! emits code in one forward pass and has to know *at the declaration*
//! whether a later closure will capture the variable; this pass answers that
//! question ahead of time.
//!
//! Algorithm:
//! 1. Walk the statements in source order, keeping a stack of lexical scopes
//!    (each a list of `(name, DeclId)` pairs, tagged with the index of the
//!    function that owns it) and a stack of enclosing functions.
//! 2. Declare names exactly where the code generator does: a `var` before its
//!    initializer, a `fun` name before its body, a class name before its
//!    methods, the hidden `super` local in a scope of its own around the
//!    methods, parameters in the function's outermost scope, a `for-in`
//!    variable after its iterable, a `select` binding around its case body.
//!    Top-level declarations (no scope open in the script) are globals and
//!    are never recorded.
//! 3. At every variable read or assignment, look the name up from the
//!    innermost scope outwards. When the scope that declares it belongs to an
//!    enclosing function, the declaration is captured.
//! 4. `this` belongs to the nearest enclosing method (or initializer); when
//!    it is used from a function nested inside that method, the method's
//!    `this` is captured (keyed by the method's name `DeclId`). `super` is
//!    looked up like a variable named `super`, which is what the hidden
//!    local is called.
//!
//! Invariant: the result may over-approximate (boxing a variable that is
//! never captured is merely slower, because the code generator always
//! accesses a local according to this set) but must never miss a capture
//! that the code generator will resolve, since an unboxed register cannot be
//! shared with a closure. Both passes therefore use the same scoping rules.
//! The resolver reports no errors: the code generator reports them all.
//! Like every pass, it walks left spines and `else if` chains with loops
//! (`ast.rs`), so its recursion is as deep as the source's real nesting.

use std::collections::HashSet;

use crate::ast::{Class, DeclId, Expr, ExprKind, Function, RecvInto, SelectCase, Stmt};

/// What the code generator needs to know about captures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Captured {
    /// Declarations that a nested function refers to.
    decls: HashSet<DeclId>,
    /// Methods (by the `DeclId` of their name) whose `this` is used from a
    /// function nested inside them.
    this_in: HashSet<DeclId>,
}

impl Captured {
    /// True when the declaration `id` must be boxed in a cell.
    pub fn is_captured(&self, id: DeclId) -> bool {
        self.decls.contains(&id)
    }

    /// True when a closure inside the method named by `method` uses `this`.
    pub fn this_captured(&self, method: DeclId) -> bool {
        self.this_in.contains(&method)
    }

    /// Number of captured declarations (used by tests and diagnostics).
    pub fn len(&self) -> usize {
        self.decls.len()
    }

    /// True when nothing is captured.
    pub fn is_empty(&self) -> bool {
        self.decls.is_empty() && self.this_in.is_empty()
    }
}

/// Finds every captured declaration in `stmts` (one whole script or REPL
/// entry).
pub fn resolve(stmts: &[Stmt]) -> Captured {
    let mut r = Resolver {
        scopes: Vec::new(),
        fns: vec![FnInfo { method: None }],
        out: Captured::default(),
    };
    for s in stmts {
        r.stmt(s);
    }
    r.out
}

/// Name the hidden superclass local is looked up by. It cannot clash with a
/// user variable because `super` is a keyword.
pub(crate) const SUPER_NAME: &str = "super";

/// One lexical scope.
struct Scope {
    /// Index into `Resolver::fns` of the function owning the scope.
    func: usize,
    names: Vec<(String, DeclId)>,
}

/// One function being walked.
struct FnInfo {
    /// `Some(name id)` for methods and initializers, whose `R[0]` is `this`.
    method: Option<DeclId>,
}

struct Resolver {
    scopes: Vec<Scope>,
    fns: Vec<FnInfo>,
    out: Captured,
}

impl Resolver {
    fn current_fn(&self) -> usize {
        self.fns.len() - 1
    }

    fn begin_scope(&mut self) {
        let func = self.current_fn();
        self.scopes.push(Scope {
            func,
            names: Vec::new(),
        });
    }

    fn end_scope(&mut self) {
        self.scopes.pop();
    }

    /// Declares `name` in the innermost scope; at top level it is a global
    /// and nothing is recorded.
    fn declare(&mut self, name: &str, id: DeclId) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.names.push((name.to_string(), id));
        }
    }

    /// Records a use of `name`, marking its declaration captured when it
    /// belongs to an enclosing function.
    fn use_name(&mut self, name: &str) {
        let here = self.current_fn();
        for scope in self.scopes.iter().rev() {
            if let Some((_, id)) = scope.names.iter().rev().find(|(n, _)| n == name) {
                if scope.func < here {
                    self.out.decls.insert(*id);
                }
                return;
            }
        }
    }

    fn use_this(&mut self) {
        let here = self.current_fn();
        for (i, f) in self.fns.iter().enumerate().rev() {
            if let Some(id) = f.method {
                if i < here {
                    self.out.this_in.insert(id);
                }
                return;
            }
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::Expr(e) | Stmt::Print(e) => self.expr(e),
            Stmt::Var { decl, init } => {
                self.declare(&decl.ident.name, decl.id);
                if let Some(e) = init {
                    self.expr(e);
                }
            }
            Stmt::Fun(f) => {
                self.declare(&f.name.ident.name, f.name.id);
                self.function(f, None);
            }
            Stmt::Class(c) => self.class(c),
            Stmt::Block(body) => {
                self.begin_scope();
                for s in body {
                    self.stmt(s);
                }
                self.end_scope();
            }
            Stmt::If { .. } => {
                // An `else if` chain, branch by branch with a loop.
                let (branches, otherwise) = s.else_chain();
                for (cond, then) in branches {
                    self.expr(cond);
                    self.stmt(then);
                }
                if let Some(last) = otherwise {
                    self.stmt(last);
                }
            }
            Stmt::While { cond, body } => {
                self.expr(cond);
                self.stmt(body);
            }
            Stmt::For {
                init,
                cond,
                incr,
                body,
            } => {
                self.begin_scope();
                if let Some(i) = init {
                    self.stmt(i);
                }
                if let Some(c) = cond {
                    self.expr(c);
                }
                self.stmt(body);
                if let Some(i) = incr {
                    self.expr(i);
                }
                self.end_scope();
            }
            Stmt::ForIn {
                var, iter, body, ..
            } => {
                self.expr(iter);
                self.begin_scope();
                self.declare(&var.ident.name, var.id);
                self.stmt(body);
                self.end_scope();
            }
            Stmt::Return { value, .. } => {
                if let Some(v) = value {
                    self.expr(v);
                }
            }
            Stmt::Break { .. } | Stmt::Continue { .. } | Stmt::Error => {}
            Stmt::Go { call, .. } => self.expr(call),
            Stmt::Send { chan, value, .. } => {
                self.expr(chan);
                self.expr(value);
            }
            Stmt::Select { cases, .. } => {
                for case in cases {
                    match case {
                        SelectCase::Recv {
                            into, chan, body, ..
                        } => {
                            self.expr(chan);
                            self.begin_scope();
                            match into {
                                RecvInto::Discard => {}
                                RecvInto::Bind { value, ok } => {
                                    for d in std::iter::once(value).chain(ok) {
                                        self.declare(&d.ident.name, d.id);
                                    }
                                }
                                RecvInto::Assign(target) => self.expr(target),
                            }
                            self.stmt(body);
                            self.end_scope();
                        }
                        SelectCase::Send {
                            chan, value, body, ..
                        } => {
                            self.expr(chan);
                            self.expr(value);
                            self.begin_scope();
                            self.stmt(body);
                            self.end_scope();
                        }
                        SelectCase::Default { body, .. } => {
                            self.begin_scope();
                            self.stmt(body);
                            self.end_scope();
                        }
                    }
                }
            }
        }
    }

    fn class(&mut self, c: &Class) {
        self.declare(&c.name.ident.name, c.name.id);
        let has_super = c.superclass.is_some();
        if let Some(sup) = &c.superclass {
            self.use_name(&sup.name);
            self.begin_scope();
            if let Some(id) = c.super_decl {
                self.declare(SUPER_NAME, id);
            }
        }
        for m in &c.methods {
            self.function(m, Some(m.name.id));
        }
        if has_super {
            self.end_scope();
        }
    }

    /// Walks a function body in a new function context; `method` is the
    /// method's name id for methods and initializers.
    fn function(&mut self, f: &Function, method: Option<DeclId>) {
        self.fns.push(FnInfo { method });
        self.begin_scope();
        for p in &f.params {
            self.declare(&p.ident.name, p.id);
        }
        for s in &f.body {
            self.stmt(s);
        }
        self.end_scope();
        self.fns.pop();
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Nil
            | ExprKind::True
            | ExprKind::False
            | ExprKind::Number(_)
            | ExprKind::Str(_) => {}
            ExprKind::Var(id) => self.use_name(&id.name),
            ExprKind::Assign { name, value } => {
                self.expr(value);
                self.use_name(&name.name);
            }
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { .. } | ExprKind::Logical { .. } => {
                // A left spine, link by link with a loop.
                let (first, links) = e.spine();
                self.expr(first);
                for link in links {
                    if let Some((_, right)) = link.link() {
                        self.expr(right);
                    }
                }
            }
            ExprKind::Call { callee, args } => {
                self.expr(callee);
                for a in args {
                    self.expr(a);
                }
            }
            ExprKind::Get { object, .. } => self.expr(object),
            ExprKind::Set { object, value, .. } => {
                self.expr(object);
                self.expr(value);
            }
            ExprKind::Index { object, index } => {
                self.expr(object);
                self.expr(index);
            }
            ExprKind::IndexSet {
                object,
                index,
                value,
            } => {
                self.expr(object);
                self.expr(index);
                self.expr(value);
            }
            ExprKind::This => self.use_this(),
            ExprKind::Super { .. } => {
                self.use_this();
                self.use_name(SUPER_NAME);
            }
            ExprKind::List(items) => {
                for i in items {
                    self.expr(i);
                }
            }
            ExprKind::Map(pairs) => {
                for (k, v) in pairs {
                    self.expr(k);
                    self.expr(v);
                }
            }
            ExprKind::Recv(ch) => self.expr(ch),
            ExprKind::Grouping(inner) => self.expr(inner),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Decl, Stmt};
    use crate::codegen::ast_builder::*;

    fn decl_of(s: &Stmt) -> Decl {
        match s {
            Stmt::Var { decl, .. } => decl.clone(),
            Stmt::Fun(f) => f.name.clone(),
            Stmt::Class(c) => c.name.clone(),
            _ => panic!("not a declaration"),
        }
    }

    #[test]
    fn globals_are_never_captured() {
        let b = B::default();
        let g = b.var("g", None);
        let gid = decl_of(&g).id;
        let prog = vec![g, b.fun("f", &[], vec![print(v("g"))])];
        let c = resolve(&prog);
        assert!(!c.is_captured(gid));
        assert!(c.is_empty());
    }

    #[test]
    fn locals_used_by_nested_functions_are_captured() {
        let b = B::default();
        let a = b.var("a", None);
        let unused = b.var("u", None);
        let (aid, uid) = (decl_of(&a).id, decl_of(&unused).id);
        let f = b.func("f", &["p", "q"], vec![]);
        let (pid, qid) = (f.params[0].id, f.params[1].id);
        let mut f = f;
        f.body = vec![b.fun("inner", &[], vec![print(v("p")), print(v("a"))])];
        let prog = vec![block(vec![a, unused, print(v("u")), Stmt::Fun(f)])];
        let c = resolve(&prog);
        assert!(c.is_captured(aid));
        assert!(c.is_captured(pid));
        assert!(!c.is_captured(qid));
        assert!(!c.is_captured(uid));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn early_binding_and_shadowing_follow_declaration_order() {
        // `{ fun f() { print a; } var a; }`: `a` in `f` is the global.
        let b = B::default();
        let later = b.var("a", None);
        let id = decl_of(&later).id;
        let prog = vec![block(vec![b.fun("f", &[], vec![print(v("a"))]), later])];
        assert!(!resolve(&prog).is_captured(id));
        // An inner shadowing declaration hides the outer one.
        let outer = b.var("x", None);
        let oid = decl_of(&outer).id;
        let prog = vec![block(vec![
            outer,
            b.fun("f", &[], vec![b.var("x", None), print(v("x"))]),
        ])];
        assert!(!resolve(&prog).is_captured(oid));
    }

    #[test]
    fn this_and_super_captures() {
        let b = B::default();
        let m = b.func("m", &[], vec![b.fun("g", &[], vec![expr(sup("x"))])]);
        let plain = b.func("p", &[], vec![print(this())]);
        let (mid, pid) = (m.name.id, plain.name.id);
        let class = b.class("C", Some("A"), vec![m, plain]);
        let sid = match &class {
            Stmt::Class(c) => c.super_decl.expect("has a superclass"),
            _ => unreachable!(),
        };
        let c = resolve(&[class]);
        assert!(c.this_captured(mid));
        assert!(!c.this_captured(pid));
        assert!(c.is_captured(sid));
    }

    #[test]
    fn for_in_variable_and_local_class_and_function() {
        let b = B::default();
        let fun = b.fun("rec", &[], vec![expr(call(v("rec"), vec![]))]);
        let fid = decl_of(&fun).id;
        let class = b.class("K", None, vec![b.func("m", &[], vec![print(v("K"))])]);
        let kid = decl_of(&class).id;
        let loop_ = b.for_in("x", list(vec![]), b.fun("f", &[], vec![print(v("x"))]));
        let xid = match &loop_ {
            Stmt::ForIn { var, .. } => var.id,
            _ => unreachable!(),
        };
        let c = resolve(&[block(vec![fun, class, loop_])]);
        assert!(c.is_captured(fid));
        assert!(c.is_captured(kid));
        assert!(c.is_captured(xid));
    }
}
