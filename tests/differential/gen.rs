//! Random Lox programs that clox accepts, for the differential test.
//!
//! The generator is type-directed, so that most programs run for a while
//! instead of stopping at their first line:
//!
//! 1. It keeps the variables in scope with their types (number, string,
//!    boolean, nil, function, instance), the functions with their
//!    signatures, and the classes with their fields and methods.
//! 2. A statement is drawn from a weighted menu (print, var, assignment,
//!    if, while, for, block, function, class, call), and each expression is
//!    built for the type its slot needs, from literals, variables,
//!    operators, calls, fields, methods, `this`, `super` and closures.
//! 3. Rarely (about one expression in 70) a slot gets a value of the wrong
//!    kind, an undefined name, a call with the wrong arity or a missing
//!    property, so that the runtime errors of clox's VM are reached at
//!    random places, deep in calls as well as at the top level.
//! 4. The program is a token list; [`render`] joins the tokens with a
//!    space, a newline or a comment, so that operators, assignments and
//!    calls are split across lines everywhere (that is where lines
//!    attributed to instructions differ).
//!
//! Invariants: programs use only clox's tokens and never the names of
//! Skein's built-ins or keywords; loops are counted (at most 4 iterations)
//! and nothing recurses, and a work estimate bounds calls inside loops, so
//! every program ends quickly in both interpreters; strings have no
//! backslash (escapes are a documented deviation).

use fastrand::Rng;

/// A program as tokens; `render` turns it into source text.
pub type Tokens = Vec<String>;

#[derive(Clone, Debug, PartialEq)]
enum Ty {
    Num,
    Str,
    Bool,
    Nil,
    /// A function with this signature (index into `Gen::sigs`).
    Fun(usize),
    /// An instance of this class (index into `Gen::classes`).
    Inst(usize),
}

#[derive(Clone, Debug)]
struct Sig {
    params: Vec<Ty>,
    ret: Ty,
    /// Estimated work of one call, in statements executed.
    cost: u64,
}

#[derive(Clone, Debug)]
struct Var {
    name: String,
    ty: Ty,
    assignable: bool,
}

#[derive(Clone, Debug)]
struct ClassInfo {
    name: String,
    superclass: Option<usize>,
    fields: Vec<(String, Ty)>,
    /// Methods declared by this class (not inherited): name and signature.
    methods: Vec<(String, usize)>,
    /// The signature of `init` (its parameters; returns the instance).
    init: Option<usize>,
    /// Set once the class declaration is complete.
    complete: bool,
}

/// What the body being generated is inside of.
#[derive(Clone, Copy)]
struct Frame {
    /// The return type when inside a function or method.
    ret: Option<usize>,
    /// The class when inside a method.
    class: Option<usize>,
    /// Whether the function is an initializer (`return;` only).
    init: bool,
}

/// Work budget for the whole program's top level, in statements.
const PROGRAM_WORK: u64 = 20_000;
/// Work budget for one function body.
const FUNCTION_WORK: u64 = 400;
/// Deepest statement nesting.
const MAX_STMT_DEPTH: u32 = 3;
/// Deepest expression nesting.
const MAX_EXPR_DEPTH: u32 = 4;

pub struct Gen {
    rng: Rng,
    out: Tokens,
    scopes: Vec<Vec<Var>>,
    sigs: Vec<Sig>,
    classes: Vec<ClassInfo>,
    frame: Frame,
    /// Iterations the current statement runs per execution of its body.
    multiplier: u64,
    /// Work spent in the current body (program or function).
    work: u64,
    budget: u64,
    next_name: u32,
    depth: u32,
}

impl Gen {
    /// Generates a program from `seed`.
    pub fn program(seed: u64) -> Tokens {
        let mut g = Gen {
            rng: Rng::with_seed(seed),
            out: Vec::new(),
            scopes: vec![Vec::new()],
            sigs: Vec::new(),
            classes: Vec::new(),
            frame: Frame {
                ret: None,
                class: None,
                init: false,
            },
            multiplier: 1,
            work: 0,
            budget: PROGRAM_WORK,
            next_name: 0,
            depth: 0,
        };
        // Up to 20 top-level statements keeps nearly every program under
        // clox's 256 constants per function (a lifted limit in Skein).
        let n = 3 + g.rng.usize(..18);
        for _ in 0..n {
            g.statement();
        }
        g.out
    }

    fn t(&mut self, tok: &str) {
        self.out.push(tok.to_string());
    }

    fn ts(&mut self, toks: &[&str]) {
        self.out.extend(toks.iter().map(|t| t.to_string()));
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.next_name += 1;
        format!("{prefix}{}", self.next_name)
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.rng.u32(..100) < percent
    }

    fn declare(&mut self, name: String, ty: Ty, assignable: bool) {
        self.scopes.last_mut().expect("a scope").push(Var {
            name,
            ty,
            assignable,
        });
    }

    fn vars_of(&self, ty: &Ty, assignable: bool) -> Vec<String> {
        let mut seen: Vec<&str> = Vec::new();
        let mut found = Vec::new();
        for scope in self.scopes.iter().rev() {
            for v in scope.iter().rev() {
                if seen.contains(&v.name.as_str()) {
                    continue;
                }
                seen.push(&v.name);
                if &v.ty == ty && (v.assignable || !assignable) {
                    found.push(v.name.clone());
                }
            }
        }
        found
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.rng.usize(..items.len())].clone())
        }
    }

    fn spend(&mut self, cost: u64) -> bool {
        let total = self.work + cost.saturating_mul(self.multiplier);
        if total > self.budget {
            return false;
        }
        self.work = total;
        true
    }

    // ----- Statements -----

    fn statement(&mut self) {
        self.spend(1);
        let deep = self.depth >= MAX_STMT_DEPTH;
        match self.rng.u32(..100) {
            0..=29 => self.print_stmt(),
            30..=47 => self.var_stmt(),
            48..=55 => self.assign_stmt(),
            56..=63 => self.call_stmt(),
            64..=71 if !deep => self.if_stmt(),
            72..=77 if !deep => self.while_stmt(),
            78..=83 if !deep => self.for_stmt(),
            84..=87 if !deep => self.block_stmt(),
            88..=94 if !deep => self.fun_decl(),
            95..=99 if !deep && self.frame.ret.is_none() => self.class_decl(),
            _ => self.print_stmt(),
        }
    }

    fn nested(&mut self, f: impl FnOnce(&mut Gen)) {
        self.depth += 1;
        f(self);
        self.depth -= 1;
    }

    fn print_stmt(&mut self) {
        self.t("print");
        let ty = self.any_type();
        self.expr(&ty, 0);
        self.t(";");
    }

    fn var_stmt(&mut self) {
        let ty = self.any_type();
        let name = self.fresh("v");
        self.t("var");
        self.t(&name);
        if matches!(ty, Ty::Nil) && self.chance(50) {
            self.t(";");
        } else {
            self.t("=");
            self.expr(&ty, 0);
            self.t(";");
        }
        self.declare(name, ty, true);
    }

    fn assign_stmt(&mut self) {
        let ty = self.any_type();
        match self.pick(&self.vars_of(&ty, true)) {
            Some(name) => {
                self.t(&name);
                self.t("=");
                self.expr(&ty, 0);
                self.t(";");
            }
            None => self.field_set_stmt(),
        }
    }

    fn field_set_stmt(&mut self) {
        let insts: Vec<(String, usize)> = self
            .scopes
            .iter()
            .flatten()
            .filter_map(|v| match v.ty {
                Ty::Inst(c) => Some((v.name.clone(), c)),
                _ => None,
            })
            .collect();
        let Some((name, c)) = self.pick(&insts) else {
            return self.print_stmt();
        };
        let fields = self.all_fields(c);
        let Some((field, ty)) = self.pick(&fields) else {
            return self.print_stmt();
        };
        self.ts(&[&name, ".", &field, "="]);
        self.expr(&ty, 0);
        self.t(";");
    }

    fn call_stmt(&mut self) {
        let ty = self.any_type();
        if !self.call_expr(&ty, 0) {
            self.expr(&ty, 0);
        }
        self.t(";");
    }

    fn if_stmt(&mut self) {
        self.t("if");
        self.t("(");
        self.expr(&Ty::Bool, 0);
        self.t(")");
        self.nested(|g| g.scoped_statement());
        if self.chance(40) {
            self.t("else");
            self.nested(|g| g.scoped_statement());
        }
    }

    /// A statement that may declare: wrapped in a block, as Lox requires
    /// for a declaration in a branch or a loop body.
    fn scoped_statement(&mut self) {
        self.block_stmt();
    }

    fn block_stmt(&mut self) {
        self.t("{");
        self.scopes.push(Vec::new());
        let n = 1 + self.rng.usize(..4);
        self.nested(|g| {
            for _ in 0..n {
                g.statement();
            }
        });
        self.scopes.pop();
        self.t("}");
    }

    fn loop_count(&mut self) -> u64 {
        self.rng.u64(0..=4)
    }

    fn while_stmt(&mut self) {
        let k = self.loop_count();
        let i = self.fresh("i");
        self.t("{");
        self.scopes.push(Vec::new());
        self.ts(&["var", &i, "=", "0", ";"]);
        self.declare(i.clone(), Ty::Num, false);
        self.ts(&["while", "(", &i, "<", &k.to_string(), ")", "{"]);
        self.scopes.push(Vec::new());
        let saved = self.multiplier;
        self.multiplier = saved.saturating_mul(k.max(1));
        let n = 1 + self.rng.usize(..3);
        self.nested(|g| {
            for _ in 0..n {
                g.statement();
            }
        });
        self.multiplier = saved;
        self.scopes.pop();
        self.ts(&[&i, "=", &i, "+", "1", ";", "}"]);
        self.scopes.pop();
        self.t("}");
    }

    fn for_stmt(&mut self) {
        let k = self.loop_count();
        let i = self.fresh("i");
        self.ts(&[
            "for",
            "(",
            "var",
            &i,
            "=",
            "0",
            ";",
            &i,
            "<",
            &k.to_string(),
            ";",
            &i,
            "=",
            &i,
            "+",
            "1",
            ")",
        ]);
        self.scopes.push(Vec::new());
        self.declare(i, Ty::Num, false);
        let saved = self.multiplier;
        self.multiplier = saved.saturating_mul(k.max(1));
        self.nested(|g| g.scoped_statement());
        self.multiplier = saved;
        self.scopes.pop();
    }

    /// Generates a function body (after `{`) in a fresh frame and scope.
    fn body(&mut self, params: &[(String, Ty)], frame: Frame, ret: &Ty) -> u64 {
        let saved = (self.frame, self.multiplier, self.work, self.budget);
        self.frame = frame;
        self.multiplier = 1;
        self.work = 0;
        self.budget = FUNCTION_WORK;
        self.scopes.push(Vec::new());
        for (p, ty) in params {
            self.declare(p.clone(), ty.clone(), true);
        }
        let n = self.rng.usize(..4);
        self.nested(|g| {
            for _ in 0..n {
                g.statement();
            }
        });
        if frame.init {
            if self.chance(30) {
                self.t("return");
                self.t(";");
            }
        } else if *ret != Ty::Nil || self.chance(50) {
            self.t("return");
            self.expr(ret, 0);
            self.t(";");
        }
        self.scopes.pop();
        let cost = self.work + 1;
        (self.frame, self.multiplier, self.work, self.budget) = saved;
        cost
    }

    fn params(&mut self) -> Vec<(String, Ty)> {
        let n = self.rng.usize(..4);
        (0..n)
            .map(|_| {
                let ty = if self.chance(70) { Ty::Num } else { Ty::Str };
                (self.fresh("p"), ty)
            })
            .collect()
    }

    fn emit_params(&mut self, params: &[(String, Ty)]) {
        self.t("(");
        for (i, (p, _)) in params.iter().enumerate() {
            if i > 0 {
                self.t(",");
            }
            self.t(p);
        }
        self.t(")");
    }

    fn fun_decl(&mut self) {
        let name = self.fresh("f");
        let params = self.params();
        // A closure factory: a function whose local is captured and
        // updated by the function it returns.
        if self.chance(25) {
            return self.closure_factory(name, params);
        }
        let ret = self.value_type();
        self.t("fun");
        self.t(&name);
        self.emit_params(&params);
        self.t("{");
        let frame = Frame {
            ret: Some(0),
            class: self.frame.class,
            init: false,
        };
        let cost = self.body(&params, frame, &ret);
        self.t("}");
        let sig = self.add_sig(params.iter().map(|p| p.1.clone()).collect(), ret, cost);
        self.declare(name, Ty::Fun(sig), false);
    }

    fn add_sig(&mut self, params: Vec<Ty>, ret: Ty, cost: u64) -> usize {
        self.sigs.push(Sig { params, ret, cost });
        self.sigs.len() - 1
    }

    fn closure_factory(&mut self, name: String, params: Vec<(String, Ty)>) {
        let counter = self.fresh("c");
        let inner = self.fresh("g");
        self.t("fun");
        self.t(&name);
        self.emit_params(&params);
        self.t("{");
        self.scopes.push(Vec::new());
        for (p, ty) in &params {
            self.declare(p.clone(), ty.clone(), true);
        }
        self.ts(&["var", &counter, "="]);
        self.expr(&Ty::Num, 2);
        self.t(";");
        self.declare(counter.clone(), Ty::Num, true);
        self.ts(&["fun", &inner, "(", ")", "{", &counter, "=", &counter, "+"]);
        self.expr(&Ty::Num, 2);
        self.ts(&[";", "return", &counter, ";", "}", "return", &inner, ";"]);
        self.scopes.pop();
        self.t("}");
        let inner_sig = self.add_sig(Vec::new(), Ty::Num, 2);
        let sig = self.add_sig(
            params.iter().map(|p| p.1.clone()).collect(),
            Ty::Fun(inner_sig),
            4,
        );
        self.declare(name, Ty::Fun(sig), false);
    }

    fn class_decl(&mut self) {
        let name = self.fresh("C");
        let complete: Vec<usize> = (0..self.classes.len())
            .filter(|&c| self.classes[c].complete)
            .collect();
        let superclass = if self.chance(40) {
            self.pick(&complete)
        } else {
            None
        };
        self.t("class");
        self.t(&name);
        if let Some(s) = superclass {
            self.t("<");
            let sname = self.classes[s].name.clone();
            self.t(&sname);
        }
        self.t("{");
        let idx = self.classes.len();
        let inherited = superclass.map(|s| self.all_fields(s)).unwrap_or_default();
        self.classes.push(ClassInfo {
            name: name.clone(),
            superclass,
            fields: inherited,
            methods: Vec::new(),
            init: None,
            complete: false,
        });
        // `init` sets every field, so fields always exist when read.
        if self.chance(80) || superclass.is_some_and(|s| self.init_of(s).is_some()) {
            let params = self.params();
            self.t("init");
            self.emit_params(&params);
            self.t("{");
            self.scopes.push(Vec::new());
            for (p, ty) in &params {
                self.declare(p.clone(), ty.clone(), true);
            }
            let frame = Frame {
                ret: Some(0),
                class: Some(idx),
                init: true,
            };
            let saved = self.frame;
            self.frame = frame;
            if let Some(s) = superclass.and_then(|s| self.init_of(s)) {
                // Chain to the superclass's initializer.
                self.ts(&["super", ".", "init"]);
                self.call_args(s);
                self.t(";");
            }
            let nfields = 1 + self.rng.usize(..3);
            for _ in 0..nfields {
                let field = self.fresh("x");
                let ty = self.value_type();
                self.ts(&["this", ".", &field, "="]);
                self.expr(&ty, 1);
                self.t(";");
                self.classes[idx].fields.push((field, ty));
            }
            self.frame = saved;
            self.scopes.pop();
            self.t("}");
            let sig = self.add_sig(params.iter().map(|p| p.1.clone()).collect(), Ty::Nil, 4);
            self.classes[idx].init = Some(sig);
        }
        let nmethods = self.rng.usize(..3);
        for _ in 0..nmethods {
            let m = self.fresh("m");
            let params = self.params();
            let ret = self.value_type();
            self.t(&m);
            self.emit_params(&params);
            self.t("{");
            let frame = Frame {
                ret: Some(0),
                class: Some(idx),
                init: false,
            };
            let cost = self.body(&params, frame, &ret);
            self.t("}");
            let sig = self.add_sig(params.iter().map(|p| p.1.clone()).collect(), ret, cost);
            self.classes[idx].methods.push((m, sig));
        }
        self.t("}");
        self.classes[idx].complete = true;
        // Classes are not values in the type system; a variable holding
        // an instance is declared right away so the class gets used.
        let v = self.fresh("o");
        self.ts(&["var", &v, "="]);
        self.construct(idx);
        self.t(";");
        self.declare(v, Ty::Inst(idx), true);
    }

    fn init_of(&self, c: usize) -> Option<usize> {
        let mut k = Some(c);
        while let Some(i) = k {
            if let Some(s) = self.classes[i].init {
                return Some(s);
            }
            k = self.classes[i].superclass;
        }
        None
    }

    fn all_fields(&self, c: usize) -> Vec<(String, Ty)> {
        self.classes[c].fields.clone()
    }

    fn all_methods(&self, c: usize) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let mut k = Some(c);
        while let Some(i) = k {
            for m in &self.classes[i].methods {
                if !out.iter().any(|(n, _): &(String, usize)| *n == m.0) {
                    out.push(m.clone());
                }
            }
            k = self.classes[i].superclass;
        }
        out
    }

    fn construct(&mut self, c: usize) {
        let name = self.classes[c].name.clone();
        self.t(&name);
        match self.init_of(c) {
            Some(sig) => self.call_args(sig),
            None => {
                self.t("(");
                self.t(")");
            }
        }
    }

    fn call_args(&mut self, sig: usize) {
        let params = self.sigs[sig].params.clone();
        self.t("(");
        let wrong = self.chance(2);
        let n = if wrong {
            params.len() + 1
        } else {
            params.len()
        };
        for i in 0..n {
            if i > 0 {
                self.t(",");
            }
            let ty = params.get(i).cloned().unwrap_or(Ty::Num);
            self.expr(&ty, 2);
        }
        self.t(")");
    }

    // ----- Types -----

    fn value_type(&mut self) -> Ty {
        match self.rng.u32(..10) {
            0..=4 => Ty::Num,
            5..=6 => Ty::Str,
            7..=8 => Ty::Bool,
            _ => Ty::Nil,
        }
    }

    /// Any type a slot can hold, including functions and instances in scope.
    fn any_type(&mut self) -> Ty {
        if self.chance(15) {
            let held: Vec<Ty> = self
                .scopes
                .iter()
                .flatten()
                .filter(|v| matches!(v.ty, Ty::Fun(_) | Ty::Inst(_)))
                .map(|v| v.ty.clone())
                .collect();
            if let Some(ty) = self.pick(&held) {
                return ty;
            }
        }
        self.value_type()
    }

    // ----- Expressions -----

    fn expr(&mut self, ty: &Ty, depth: u32) {
        if self.chance(1) && self.chance(70) {
            return self.wrong_expr(depth);
        }
        if depth >= MAX_EXPR_DEPTH || self.chance(30) {
            return self.leaf(ty);
        }
        let d = depth + 1;
        match ty {
            Ty::Num => match self.rng.u32(..12) {
                0..=3 => {
                    self.expr(ty, d);
                    let op = ["+", "-", "*", "/"][self.rng.usize(..4)];
                    self.t(op);
                    self.expr(ty, d);
                }
                4 => {
                    self.t("-");
                    self.expr(ty, d);
                }
                5 => self.group(ty, d),
                6..=7 => {
                    if !self.call_expr(ty, d) {
                        self.leaf(ty);
                    }
                }
                8 => self.assign_expr(ty, d),
                _ => self.leaf(ty),
            },
            Ty::Str => match self.rng.u32(..8) {
                0..=2 => {
                    self.expr(ty, d);
                    self.t("+");
                    self.expr(ty, d);
                }
                3 => self.group(ty, d),
                4..=5 => {
                    if !self.call_expr(ty, d) {
                        self.leaf(ty);
                    }
                }
                6 => self.assign_expr(ty, d),
                _ => self.leaf(ty),
            },
            Ty::Bool => match self.rng.u32(..10) {
                0..=2 => {
                    self.expr(&Ty::Num, d);
                    let op = ["<", "<=", ">", ">="][self.rng.usize(..4)];
                    self.t(op);
                    self.expr(&Ty::Num, d);
                }
                3..=4 => {
                    let other = self.value_type();
                    self.expr(&other, d);
                    let op = ["==", "!="][self.rng.usize(..2)];
                    self.t(op);
                    let other = if self.chance(60) {
                        other
                    } else {
                        self.value_type()
                    };
                    self.expr(&other, d);
                }
                5 => {
                    self.t("!");
                    self.expr(ty, d);
                }
                6..=7 => {
                    self.expr(ty, d);
                    let op = ["and", "or"][self.rng.usize(..2)];
                    self.t(op);
                    self.expr(ty, d);
                }
                8 => self.group(ty, d),
                _ => {
                    if !self.call_expr(ty, d) {
                        self.leaf(ty);
                    }
                }
            },
            Ty::Nil | Ty::Fun(_) | Ty::Inst(_) => {
                if !(self.chance(40) && self.call_expr(ty, d)) {
                    self.leaf(ty);
                }
            }
        }
    }

    fn group(&mut self, ty: &Ty, depth: u32) {
        self.t("(");
        self.expr(ty, depth);
        self.t(")");
    }

    fn assign_expr(&mut self, ty: &Ty, depth: u32) {
        match self.pick(&self.vars_of(ty, true)) {
            Some(name) => {
                self.ts(&["(", &name, "="]);
                self.expr(ty, depth);
                self.t(")");
            }
            None => self.leaf(ty),
        }
    }

    /// A value of the wrong kind where anything may be expected: the
    /// source of runtime errors.
    fn wrong_expr(&mut self, depth: u32) {
        match self.rng.u32(..7) {
            0 => {
                self.t("-");
                self.t("nil");
            }
            1 => {
                let name = self.fresh("undefined");
                self.t(&name);
            }
            2 => {
                self.t("\"s\"");
                self.t("+");
                self.expr(&Ty::Num, depth + 1);
            }
            3 => {
                self.ts(&["true", "(", ")"]);
            }
            4 => {
                self.ts(&["nil", ".", "x0"]);
            }
            5 => {
                self.expr(&Ty::Num, depth + 1);
                self.t("<");
                self.t("\"a\"");
            }
            _ => {
                let insts: Vec<String> = self
                    .scopes
                    .iter()
                    .flatten()
                    .filter(|v| matches!(v.ty, Ty::Inst(_)))
                    .map(|v| v.name.clone())
                    .collect();
                match self.pick(&insts) {
                    Some(name) => {
                        self.ts(&[&name, ".", "missing"]);
                    }
                    None => {
                        self.ts(&["nil", "*", "2"]);
                    }
                }
            }
        }
    }

    /// A call, method call or field read producing `ty`, if one exists
    /// within the work budget.
    fn call_expr(&mut self, ty: &Ty, _depth: u32) -> bool {
        let mut options: Vec<(u8, String, usize)> = Vec::new();
        for scope in &self.scopes {
            for v in scope {
                match v.ty {
                    Ty::Fun(s) if self.sigs[s].ret == *ty => options.push((0, v.name.clone(), s)),
                    Ty::Inst(c) => {
                        for (m, s) in self.all_methods(c) {
                            if self.sigs[s].ret == *ty {
                                options.push((1, format!("{}.{m}", v.name), s));
                            }
                        }
                        for (i, (_, fty)) in self.all_fields(c).iter().enumerate() {
                            if fty == ty {
                                options.push((2, v.name.clone(), i));
                            }
                        }
                        if let Ty::Inst(want) = ty {
                            if *want == c {
                                options.push((3, v.name.clone(), c));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        // Inside a method: `this.field`, `this.method()`, `super.method()`.
        if let Some(c) = self.frame.class {
            for (m, s) in self.all_methods(c) {
                if self.sigs[s].ret == *ty && self.classes[c].complete {
                    options.push((4, m, s));
                }
            }
            for (i, (_, fty)) in self.all_fields(c).iter().enumerate() {
                if fty == ty {
                    options.push((5, String::new(), i));
                }
            }
            if let Some(s) = self.classes[c].superclass {
                for (m, sig) in self.all_methods(s) {
                    if self.sigs[sig].ret == *ty {
                        options.push((6, m, sig));
                    }
                }
            }
        }
        let Some((kind, name, k)) = self.pick(&options) else {
            return false;
        };
        match kind {
            0 | 1 | 4 | 6 => {
                if !self.spend(self.sigs[k].cost) {
                    return false;
                }
                match kind {
                    0 => self.t(&name),
                    1 => {
                        let (obj, m) = name.split_once('.').expect("object.method");
                        self.ts(&[obj, ".", m]);
                    }
                    4 => {
                        self.ts(&["this", ".", &name]);
                    }
                    _ => {
                        self.ts(&["super", ".", &name]);
                    }
                }
                self.call_args(k);
            }
            2 | 5 => {
                let c = if kind == 2 {
                    let Some(Ty::Inst(c)) = self
                        .scopes
                        .iter()
                        .flatten()
                        .rev()
                        .find(|v| v.name == name)
                        .map(|v| v.ty.clone())
                    else {
                        return false;
                    };
                    self.t(&name);
                    c
                } else {
                    self.t("this");
                    self.frame.class.expect("in a method")
                };
                let field = self.all_fields(c)[k].0.clone();
                self.t(".");
                self.t(&field);
            }
            _ => self.t(&name),
        }
        true
    }

    fn leaf(&mut self, ty: &Ty) {
        if self.chance(50) {
            if let Some(name) = self.pick(&self.vars_of(ty, false)) {
                return self.t(&name);
            }
        }
        match ty {
            Ty::Num => {
                let n = if self.chance(80) {
                    self.rng.u32(..100).to_string()
                } else {
                    format!("{}.{}", self.rng.u32(..10), 1 + self.rng.u32(..99))
                };
                self.t(&n);
            }
            Ty::Str => {
                const WORDS: [&str; 8] = ["a", "bc", "lox", "", "x y", "clox", "9", "end"];
                let w = WORDS[self.rng.usize(..WORDS.len())];
                if self.chance(5) {
                    self.t(&format!("\"{w}\n{w}\""));
                } else {
                    self.t(&format!("\"{w}\""));
                }
            }
            Ty::Bool => {
                let b = if self.chance(50) { "true" } else { "false" };
                self.t(b);
            }
            Ty::Nil => self.t("nil"),
            Ty::Fun(_) | Ty::Inst(_) => {
                if let Ty::Inst(c) = ty {
                    if self.classes[*c].complete {
                        return self.construct(*c);
                    }
                }
                match self.pick(&self.vars_of(ty, false)) {
                    Some(name) => self.t(&name),
                    None => self.t("nil"),
                }
            }
        }
    }
}

/// The separators [`render`] puts after a token.
const SEPARATORS: [&str; 4] = [" ", "\n", "\n\n  ", " // note\n"];

/// The token of a piece that [`render`] made.
pub fn token_of(piece: &str) -> &str {
    SEPARATORS
        .iter()
        .rev()
        .find_map(|sep| piece.strip_suffix(sep))
        .unwrap_or(piece)
}

/// Gives each token the whitespace that follows it: a space, a newline
/// or a line comment. The source text is the concatenation of the pieces.
pub fn render(tokens: &[String], seed: u64) -> Vec<String> {
    let mut rng = Rng::with_seed(seed ^ 0x9e37_79b9_7f4a_7c15);
    tokens
        .iter()
        .map(|t| {
            let sep = SEPARATORS[match rng.u32(..100) {
                0..=74 => 0,
                75..=96 => 1,
                97..=98 => 2,
                _ => 3,
            }];
            format!("{t}{sep}")
        })
        .collect()
}
