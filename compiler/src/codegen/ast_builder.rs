//! Test-only helpers that build ASTs by hand (the parser is developed in
//! parallel). Every node is on line 1 unless a test moves it with `at`.
//!
//! The resolver's tests use them too, which is why this module is
//! `pub(crate)` and sits beside `tests` rather than inside it.

use crate::ast::*;

/// Hands out fresh `DeclId`s.
#[derive(Default)]
pub struct B {
    next: std::cell::Cell<u32>,
}

impl B {
    pub fn decl(&self, name: &str) -> Decl {
        self.decl_at(name, 1)
    }
    pub fn decl_at(&self, name: &str, line: u32) -> Decl {
        let id = self.next.get();
        self.next.set(id + 1);
        Decl {
            ident: ident_at(name, line),
            id: DeclId(id),
        }
    }
    pub fn var(&self, name: &str, init: Option<Expr>) -> Stmt {
        Stmt::Var {
            decl: self.decl(name),
            init,
        }
    }
    pub fn func(&self, name: &str, params: &[&str], body: Vec<Stmt>) -> Function {
        Function {
            name: self.decl(name),
            params: params.iter().map(|p| self.decl(p)).collect(),
            body,
            end_line: 1,
        }
    }
    pub fn fun(&self, name: &str, params: &[&str], body: Vec<Stmt>) -> Stmt {
        Stmt::Fun(self.func(name, params, body))
    }
    pub fn class(&self, name: &str, sup: Option<&str>, methods: Vec<Function>) -> Stmt {
        let name = self.decl(name);
        let super_decl = sup.map(|_| self.decl("super").id);
        Stmt::Class(Class {
            name,
            superclass: sup.map(ident),
            super_decl,
            methods,
        })
    }
    pub fn for_in(&self, name: &str, iter: Expr, body: Stmt) -> Stmt {
        Stmt::ForIn {
            var: self.decl(name),
            iter,
            body: Box::new(body),
            line: 1,
        }
    }
}

pub fn ident(name: &str) -> Ident {
    ident_at(name, 1)
}
pub fn ident_at(name: &str, line: u32) -> Ident {
    Ident {
        name: name.to_string(),
        line,
    }
}
pub fn e(kind: ExprKind) -> Expr {
    Expr::new(kind, 1)
}
pub fn at(mut x: Expr, line: u32) -> Expr {
    x.line = line;
    x
}
pub fn num(n: f64) -> Expr {
    e(ExprKind::Number(n))
}
pub fn s(v: &str) -> Expr {
    e(ExprKind::Str(v.to_string()))
}
pub fn nil() -> Expr {
    e(ExprKind::Nil)
}
pub fn tru() -> Expr {
    e(ExprKind::True)
}
pub fn v(name: &str) -> Expr {
    e(ExprKind::Var(ident(name)))
}
pub fn assign(name: &str, value: Expr) -> Expr {
    e(ExprKind::Assign {
        name: ident(name),
        value: Box::new(value),
    })
}
pub fn bin(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    e(ExprKind::Binary {
        op,
        left: Box::new(l),
        right: Box::new(r),
    })
}
pub fn logical(op: LogicalOp, l: Expr, r: Expr) -> Expr {
    e(ExprKind::Logical {
        op,
        left: Box::new(l),
        right: Box::new(r),
    })
}
pub fn neg(x: Expr) -> Expr {
    e(ExprKind::Unary {
        op: UnaryOp::Neg,
        operand: Box::new(x),
    })
}
pub fn not(x: Expr) -> Expr {
    e(ExprKind::Unary {
        op: UnaryOp::Not,
        operand: Box::new(x),
    })
}
pub fn group(x: Expr) -> Expr {
    e(ExprKind::Grouping(Box::new(x)))
}
pub fn call(callee: Expr, args: Vec<Expr>) -> Expr {
    e(ExprKind::Call {
        callee: Box::new(callee),
        args,
    })
}
pub fn get(o: Expr, name: &str) -> Expr {
    e(ExprKind::Get {
        object: Box::new(o),
        name: ident(name),
    })
}
pub fn set(o: Expr, name: &str, value: Expr) -> Expr {
    e(ExprKind::Set {
        object: Box::new(o),
        name: ident(name),
        value: Box::new(value),
    })
}
pub fn index(o: Expr, i: Expr) -> Expr {
    e(ExprKind::Index {
        object: Box::new(o),
        index: Box::new(i),
    })
}
pub fn index_set(o: Expr, i: Expr, value: Expr) -> Expr {
    e(ExprKind::IndexSet {
        object: Box::new(o),
        index: Box::new(i),
        value: Box::new(value),
    })
}
pub fn this() -> Expr {
    e(ExprKind::This)
}
pub fn sup(method: &str) -> Expr {
    e(ExprKind::Super {
        method: ident(method),
    })
}
pub fn list(items: Vec<Expr>) -> Expr {
    e(ExprKind::List(items))
}
pub fn map(pairs: Vec<(Expr, Expr)>) -> Expr {
    e(ExprKind::Map(pairs))
}
pub fn print(x: Expr) -> Stmt {
    Stmt::Print(x)
}
pub fn expr(x: Expr) -> Stmt {
    Stmt::Expr(x)
}
pub fn block(stmts: Vec<Stmt>) -> Stmt {
    Stmt::Block(stmts)
}
pub fn ret(value: Option<Expr>) -> Stmt {
    Stmt::Return { value, line: 1 }
}
pub fn if_(cond: Expr, then: Stmt, els: Option<Stmt>) -> Stmt {
    Stmt::If {
        cond,
        then: Box::new(then),
        els: els.map(Box::new),
    }
}
pub fn while_(cond: Expr, body: Stmt) -> Stmt {
    Stmt::While {
        cond,
        body: Box::new(body),
    }
}
pub fn for_(init: Option<Stmt>, cond: Option<Expr>, incr: Option<Expr>, body: Stmt) -> Stmt {
    Stmt::For {
        init: init.map(Box::new),
        cond,
        incr,
        body: Box::new(body),
    }
}
