//! Skein's built-in functions and modules (`docs/stdlib.md`).
//!
//! [`install`] binds every built-in as a global of a [`Vm`]: the functions
//! (`clock len push pop slice keys has delete str num type panic cap chan
//! close recv sleep sort`) and the modules `math`, `time`, `runtime`,
//! `sync`, `strings`, `os` and `io`. Each native is a plain Rust function
//! over the VM and its arguments (see `skein_vm::native`). A wrong argument
//! type is a runtime error naming the function, e.g. `push() expects a
//! list.`; the message table lives in `tests/corpus/README.md`.
//!
//! Files: this one holds the core built-ins and `math`, `time`, `runtime`
//! and `sync`; `strings.rs`, `sort.rs`, `os.rs` and `io.rs` hold the rest,
//! each with its own essay.
//!
//! The VM is reached only through its public API: `Ctx` methods
//! (allocation, tables, printing, random numbers, `Ctx::collect`), the
//! `Runtime` queries (`now_ms`, `num_goroutine`, `native_class`,
//! `set_gc_percent`, `memstats`, `args`, `builtin`), and
//! `skein_vm::sched::{chan, sema, stw, timer, syscall, proc}`, `native`,
//! `object`, `value` and `print`.
//!
//! Natives never collect: allocation only raises requests, which the
//! interpreter acts on at its next allocation safepoint (`gc::safepoint`).
//! So a native may keep the values it makes in Rust locals until it
//! returns; anything that must outlive the call lives in heap objects or
//! registers. `runtime.gc()` (`Ctx::collect`) asks the collector's
//! coordinator for a full cycle and parks the goroutine until that cycle
//! is done.
//! Natives that wait (`recv`, `sleep`, `sync`'s `lock`/`wait`, the runtime
//! functions that stop the world, a full `io.lines` channel) park the
//! goroutine through `skein_vm::sched` and never block the OS thread;
//! natives that may block in the kernel for long (stdin, reading files,
//! pipes and FIFOs) return `Flow::Syscall`, so the scheduler hands their P
//! to another M while they block (`skein_vm::sched::syscall`).
//!
//! Built-ins written in Skein. A native cannot call Skein code (the
//! interpreter is not re-entrant), so the two built-ins that must, `sort`
//! with a `less` function and the goroutine behind `io.lines`, are Skein
//! functions compiled here at install time ([`skein_builtin`]), loaded
//! *hidden* (their frames never show in stack traces, so they look like
//! natives) and kept alive under a name (`Runtime::builtin`). They use no
//! global (a program may redefine any): natives hand them everything they
//! need as arguments, `sort` by finishing with a tail call
//! (`Flow::TailCall`), `io.lines` by starting a goroutine on one.
//!
//! `sync.WaitGroup` and `sync.Mutex` are classes whose methods are natives
//! receiving their instance; each instance keeps its state in a hidden
//! `sema` object (a field named `_state`).

mod io;
mod os;
mod sort;
mod strings;

use skein_vm::bytecode::Const;
use skein_vm::native::Flow;
use skein_vm::object::*;
use skein_vm::print;
use skein_vm::sched::{chan, sema, stw, timer, Resume};
use skein_vm::value::Value;
use skein_vm::{Ctx, Vm};

type R = Result<Value, Flow>;

/// Installs every built-in function and module into `vm`'s globals.
pub fn install(vm: &mut Vm) {
    let globals = vm.with_ctx(build);
    for (name, v) in globals {
        vm.define_global(name, v);
    }
}

/// Makes every built-in; returns the globals to define.
fn build(vm: &mut Ctx) -> Vec<(&'static str, Value)> {
    let mut globals = Vec::new();
    let fns: &[(&'static str, Option<u8>, skein_vm::native::NativeFn)] = &[
        ("clock", Some(0), clock),
        ("len", Some(1), len),
        ("cap", Some(1), cap),
        ("push", Some(2), push),
        ("pop", Some(1), pop),
        ("slice", Some(3), slice),
        ("keys", Some(1), keys),
        ("has", Some(2), has),
        ("delete", Some(2), delete),
        ("str", Some(1), str_),
        ("num", Some(1), num),
        ("type", Some(1), type_),
        ("panic", Some(1), panic_),
        ("chan", None, chan_),
        ("close", Some(1), close_),
        ("recv", Some(1), recv_),
        ("sleep", Some(1), sleep_),
        ("sort", None, sort::sort),
    ];
    for (name, arity, f) in fns {
        let v = vm.new_native(name, *arity, *f);
        globals.push((*name, v));
    }

    let math: &[(&'static str, Option<u8>, skein_vm::native::NativeFn)] = &[
        ("sqrt", Some(1), m_sqrt),
        ("floor", Some(1), m_floor),
        ("ceil", Some(1), m_ceil),
        ("abs", Some(1), m_abs),
        ("sin", Some(1), m_sin),
        ("cos", Some(1), m_cos),
        ("pow", Some(2), m_pow),
        ("min", None, m_min),
        ("max", None, m_max),
        ("random", Some(0), m_random),
    ];
    let m = make_module(
        vm,
        "math",
        math,
        &[("pi", Value::number(std::f64::consts::PI))],
    );
    globals.push(("math", m));

    let time: &[(&'static str, Option<u8>, skein_vm::native::NativeFn)] =
        &[("now", Some(0), t_now), ("after", Some(1), t_after)];
    let m = make_module(vm, "time", time, &[]);
    globals.push(("time", m));

    let runtime: &[(&'static str, Option<u8>, skein_vm::native::NativeFn)] = &[
        ("gc", Some(0), rt_gc),
        ("memstats", Some(0), rt_memstats),
        ("setgcpercent", Some(1), rt_setgcpercent),
        ("gomaxprocs", Some(1), rt_gomaxprocs),
        ("numgoroutine", Some(0), rt_numgoroutine),
        ("gosched", Some(0), rt_gosched),
        ("trace_start", Some(1), rt_trace_start),
        ("trace_stop", Some(0), rt_trace_stop),
        ("trace_snapshot", Some(1), rt_trace_snapshot),
    ];
    let m = make_module(vm, "runtime", runtime, &[]);
    globals.push(("runtime", m));

    let wg_methods: Vec<(&str, Value)> = vec![
        ("add", vm.new_native_method("add", Some(1), wg_add)),
        ("done", vm.new_native_method("done", Some(0), wg_done)),
        ("wait", vm.new_native_method("wait", Some(0), wg_wait)),
    ];
    let wg_class = vm.new_native_class("WaitGroup", &wg_methods);
    let mu_methods: Vec<(&str, Value)> = vec![
        ("lock", vm.new_native_method("lock", Some(0), mu_lock)),
        ("unlock", vm.new_native_method("unlock", Some(0), mu_unlock)),
    ];
    let mu_class = vm.new_native_class("Mutex", &mu_methods);
    let sync: &[(&'static str, Option<u8>, skein_vm::native::NativeFn)] = &[
        ("WaitGroup", Some(0), sync_waitgroup),
        ("Mutex", Some(0), sync_mutex),
    ];
    let m = make_module(vm, "sync", sync, &[]);
    globals.push(("sync", m));
    let _ = (wg_class, mu_class);

    let m = make_module(vm, "strings", strings::FUNCTIONS, &[]);
    globals.push(("strings", m));
    let args = os::args(vm);
    let m = make_module(vm, "os", os::FUNCTIONS, &[("args", args)]);
    globals.push(("os", m));
    let m = make_module(vm, "io", io::FUNCTIONS, &[]);
    globals.push(("io", m));

    skein_builtin(
        vm,
        sort::MERGE_KEY,
        &sort::merge_sort_source(),
        "merge_sort",
    );
    let finish = vm.new_native("sort", Some(2), sort::finish);
    vm.keep_builtin(sort::FINISH_KEY, finish);
    skein_builtin(vm, io::FILLER_KEY, io::FILLER, "lines");
    let fill = vm.new_native("lines", Some(2), io::fill);
    vm.keep_builtin(io::FILL_KEY, fill);
    globals
}

/// Compiles `src`, a built-in written in Skein, and keeps its top-level
/// function `name` under `key` (`Runtime::builtin`) as a closure whose
/// frames never show in stack traces (`loader::load_hidden`). The function
/// must capture nothing and use no global (a program may redefine any
/// global): what it needs comes in its arguments.
fn skein_builtin(vm: &mut Ctx, key: &str, src: &str, name: &str) {
    let program = skein_compiler::compile(src).expect("a built-in's Skein source compiles");
    let proto = program
        .main
        .consts
        .iter()
        .find_map(|k| match k {
            Const::Proto(p) if p.name.as_deref() == Some(name) => Some(p),
            _ => None,
        })
        .expect("the built-in's function is in its source");
    assert!(proto.captures.is_empty(), "a built-in captures nothing");
    let f = skein_vm::loader::load_hidden(vm, proto);
    let closure = vm.alloc(
        Kind::Closure,
        Closure {
            function: f.as_obj() as *const Obj<Function>,
            upvals: Box::new([]),
        },
        0,
    );
    vm.keep_builtin(key, closure);
}

/// A file name or environment variable name from a Skein string's bytes.
fn os_str(bytes: &[u8]) -> std::ffi::OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(bytes).to_os_string()
    }
    #[cfg(not(unix))]
    {
        String::from_utf8_lossy(bytes).into_owned().into()
    }
}

fn make_module(
    vm: &mut Ctx,
    name: &'static str,
    fns: &[(&'static str, Option<u8>, skein_vm::native::NativeFn)],
    consts: &[(&'static str, Value)],
) -> Value {
    let mut members: Vec<(&str, Value)> = Vec::new();
    for (n, arity, f) in fns {
        members.push((n, vm.new_native(n, *arity, *f)));
    }
    members.extend_from_slice(consts);
    vm.new_module(name, &members)
}

fn clock(vm: &mut Ctx, _a: &[Value]) -> R {
    Ok(Value::number(vm.rt.now_ms() / 1000.0))
}

fn len(_vm: &mut Ctx, a: &[Value]) -> R {
    let v = a[0];
    if let Some(s) = as_string(v) {
        return Ok(Value::number(s.len() as f64));
    }
    if let Some(l) = as_list(v) {
        return Ok(Value::number(l.len() as f64));
    }
    if let Some(m) = as_map(v) {
        return Ok(Value::number(m.table.lock().len() as f64));
    }
    if let Some(c) = chan::as_chan(v) {
        return Ok(Value::number(c.len() as f64));
    }
    Err("len() expects a list, map, string or channel.".into())
}

fn cap(_vm: &mut Ctx, a: &[Value]) -> R {
    match chan::as_chan(a[0]) {
        Some(c) => Ok(Value::number(c.cap as f64)),
        None => Err("cap() expects a channel.".into()),
    }
}

fn chan_(vm: &mut Ctx, a: &[Value]) -> R {
    let cap = match a {
        [] => 0,
        [n] if n.is_number() && n.as_number() >= 0.0 && n.as_number().fract() == 0.0 => {
            n.as_number() as usize
        }
        [_] => return Err("chan() expects a non-negative integer capacity.".into()),
        _ => return Err(format!("Expected 0 or 1 arguments but got {}.", a.len()).into()),
    };
    Ok(vm.alloc(Kind::Chan, chan::Chan::new(cap), cap * 8))
}

fn close_(vm: &mut Ctx, a: &[Value]) -> R {
    chan::close(vm, a[0])?;
    Ok(Value::NIL)
}

fn recv_(vm: &mut Ctx, a: &[Value]) -> R {
    // `usize::MAX`: the interpreter fills in the call's result slot.
    let (v, ok) = chan::recv(vm, a[0], Resume::StoreOk(usize::MAX))?;
    Ok(vm.new_list(&[v, Value::bool(ok)]))
}

fn sleep_(vm: &mut Ctx, a: &[Value]) -> R {
    let ms = number_arg(a[0], "sleep")?;
    timer::sleep(vm, ms)
}

fn push(vm: &mut Ctx, a: &[Value]) -> R {
    if as_list(a[0]).is_none() {
        return Err("push() expects a list.".into());
    }
    vm.list_push(a[0], a[1]);
    Ok(Value::NIL)
}

fn pop(vm: &mut Ctx, a: &[Value]) -> R {
    if as_list(a[0]).is_none() {
        return Err("pop() expects a list.".into());
    }
    vm.list_pop(a[0])
        .ok_or_else(|| "pop() expects a non-empty list.".into())
}

/// Converts a slice bound to an index in `0..=len`.
fn bound(v: Value, len: usize) -> Result<usize, String> {
    let Some(i) = v.as_integer() else {
        return Err("slice() expects integer bounds.".into());
    };
    if i < 0 || i as usize > len {
        return Err("slice() bounds out of range.".into());
    }
    Ok(i as usize)
}

fn slice(vm: &mut Ctx, a: &[Value]) -> R {
    if let Some(l) = as_list(a[0]) {
        let items = l.to_vec();
        let (from, to) = (bound(a[1], items.len())?, bound(a[2], items.len())?);
        if from > to {
            return Err("slice() bounds out of range.".into());
        }
        return Ok(vm.new_list(&items[from..to]));
    }
    if let Some(s) = as_string(a[0]) {
        let (from, to) = (bound(a[1], s.len())?, bound(a[2], s.len())?);
        if from > to {
            return Err("slice() bounds out of range.".into());
        }
        let bytes = s.bytes()[from..to].to_vec();
        return Ok(vm.new_string(&bytes));
    }
    Err("slice() expects a list or string.".into())
}

fn keys(vm: &mut Ctx, a: &[Value]) -> R {
    let Some(m) = as_map(a[0]) else {
        return Err("keys() expects a map.".into());
    };
    let ks: Vec<Value> = m.table.lock().entries.keys().map(|k| k.0).collect();
    Ok(vm.new_list(&ks))
}

fn has(_vm: &mut Ctx, a: &[Value]) -> R {
    let Some(m) = as_map(a[0]) else {
        return Err("has() expects a map.".into());
    };
    Ok(Value::bool(m.table.lock().get(a[1]).is_some()))
}

fn delete(_vm: &mut Ctx, a: &[Value]) -> R {
    let Some(m) = as_map(a[0]) else {
        return Err("delete() expects a map.".into());
    };
    Ok(Value::bool(m.table.lock().remove(a[1]).is_some()))
}

fn str_(vm: &mut Ctx, a: &[Value]) -> R {
    if a[0].is_kind(Kind::String) {
        return Ok(a[0]);
    }
    let bytes = print::to_bytes(a[0]);
    Ok(vm.new_string(&bytes))
}

/// Parses what a Skein number literal accepts, plus a leading `-` and an
/// exponent (`-1.5e3`, so that `num(str(x))` reads back every printed
/// number); anything else (whitespace, `inf`, `nan`, hex, `""`) is not a
/// number.
fn parse_number(s: &str) -> Option<f64> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    let mant_ok = match mant.split_once('.') {
        Some((i, f)) => digits(i) && digits(f),
        None => digits(mant),
    };
    let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    if mant_ok && exp_ok {
        s.parse::<f64>().ok()
    } else {
        None
    }
}

fn num(_vm: &mut Ctx, a: &[Value]) -> R {
    let Some(s) = as_string(a[0]) else {
        return Err("num() expects a string.".into());
    };
    Ok(std::str::from_utf8(s.bytes())
        .ok()
        .and_then(parse_number)
        .map_or(Value::NIL, Value::number))
}

fn type_(vm: &mut Ctx, a: &[Value]) -> R {
    let name = type_name(a[0]);
    Ok(vm.intern(name.as_bytes()))
}

/// The name of `v`'s type, as `type()` gives it.
fn type_name(v: Value) -> &'static str {
    if v.is_number() {
        "number"
    } else if v.is_nil() {
        "nil"
    } else if v.is_bool() {
        "bool"
    } else {
        match v.kind() {
            Some(Kind::String) => "string",
            Some(Kind::List) => "list",
            Some(Kind::Map) => "map",
            Some(Kind::Closure | Kind::Function | Kind::Native | Kind::BoundMethod) => "function",
            Some(Kind::Class) => "class",
            Some(Kind::Instance) => "instance",
            Some(Kind::Module) => "module",
            Some(Kind::Chan) => "channel",
            _ => "nil",
        }
    }
}

fn panic_(_vm: &mut Ctx, a: &[Value]) -> R {
    Err(String::from_utf8_lossy(&print::to_bytes(a[0]))
        .into_owned()
        .into())
}

fn number_arg(a: Value, name: &str) -> Result<f64, String> {
    if a.is_number() {
        Ok(a.as_number())
    } else {
        Err(format!("{name}() expects a number."))
    }
}

macro_rules! math1 {
    ($fname:ident, $label:literal, $op:expr) => {
        fn $fname(_vm: &mut Ctx, a: &[Value]) -> R {
            let x = number_arg(a[0], $label)?;
            let f: fn(f64) -> f64 = $op;
            Ok(Value::number(f(x)))
        }
    };
}

math1!(m_sqrt, "sqrt", f64::sqrt);
math1!(m_floor, "floor", f64::floor);
math1!(m_ceil, "ceil", f64::ceil);
math1!(m_abs, "abs", f64::abs);
math1!(m_sin, "sin", f64::sin);
math1!(m_cos, "cos", f64::cos);

fn m_pow(_vm: &mut Ctx, a: &[Value]) -> R {
    let x = number_arg(a[0], "pow")?;
    let y = number_arg(a[1], "pow")?;
    Ok(Value::number(x.powf(y)))
}

fn fold(a: &[Value], name: &str, pick: fn(f64, f64) -> f64) -> R {
    if a.is_empty() {
        return Err(format!("{name}() expects at least one number.").into());
    }
    let mut acc = number_arg(a[0], name)?;
    for v in &a[1..] {
        acc = pick(acc, number_arg(*v, name)?);
    }
    Ok(Value::number(acc))
}

fn m_min(_vm: &mut Ctx, a: &[Value]) -> R {
    fold(a, "min", f64::min)
}

fn m_max(_vm: &mut Ctx, a: &[Value]) -> R {
    fold(a, "max", f64::max)
}

fn m_random(vm: &mut Ctx, _a: &[Value]) -> R {
    Ok(Value::number(vm.random()))
}

fn t_now(vm: &mut Ctx, _a: &[Value]) -> R {
    Ok(Value::number(vm.rt.now_ms()))
}

fn t_after(vm: &mut Ctx, a: &[Value]) -> R {
    let ms = number_arg(a[0], "after")?;
    let ch = vm.alloc(Kind::Chan, chan::Chan::new(1), 0);
    timer::after(vm, ms, ch);
    Ok(ch)
}

fn rt_gc(vm: &mut Ctx, _a: &[Value]) -> R {
    vm.collect().map(|()| Value::NIL)
}

fn rt_memstats(vm: &mut Ctx, _a: &[Value]) -> R {
    let stats = stw::memstats(vm)?;
    let m = vm.new_map();
    for (k, v) in stats {
        let key = vm.intern(k.as_bytes());
        as_map(m)
            .expect("map")
            .table
            .lock()
            .insert(key, Value::number(v));
    }
    Ok(m)
}

fn rt_setgcpercent(vm: &mut Ctx, a: &[Value]) -> R {
    let n = number_arg(a[0], "setgcpercent")?;
    let new = if n < 0.0 { None } else { Some(n as u32) };
    let old = vm.rt.set_gc_percent(new);
    Ok(Value::number(old.map_or(-1.0, |p| p as f64)))
}

fn rt_gomaxprocs(vm: &mut Ctx, a: &[Value]) -> R {
    let n = number_arg(a[0], "gomaxprocs")?;
    let n = if n.is_nan() || n < 1.0 { 0 } else { n as usize };
    Ok(Value::number(stw::gomaxprocs(vm, n)? as f64))
}

fn rt_numgoroutine(vm: &mut Ctx, _a: &[Value]) -> R {
    Ok(Value::number(vm.rt.num_goroutine() as f64))
}

fn rt_gosched(_vm: &mut Ctx, _a: &[Value]) -> R {
    Err(Flow::Gosched)
}

fn rt_trace_start(vm: &mut Ctx, a: &[Value]) -> R {
    let Some(path) = as_string(a[0]) else {
        return Err("trace_start() expects a file name.".into());
    };
    stw::trace_start(vm, str_text(path).into_owned())?;
    Ok(Value::NIL)
}

fn rt_trace_stop(vm: &mut Ctx, _a: &[Value]) -> R {
    stw::trace_stop(vm)?;
    Ok(Value::NIL)
}

fn rt_trace_snapshot(vm: &mut Ctx, a: &[Value]) -> R {
    let Some(path) = as_string(a[0]) else {
        return Err("trace_snapshot() expects a file name.".into());
    };
    stw::trace_snapshot(vm, str_text(path).into_owned())?;
    Ok(Value::NIL)
}

/// A new instance of the `sync` class `name` whose `_state` field holds a
/// fresh semaphore object.
fn sync_instance(vm: &mut Ctx, class_name: &str) -> R {
    let class = vm
        .rt
        .native_class(class_name)
        .expect("sync classes are installed");
    let inst = vm.alloc(
        Kind::Instance,
        Instance {
            class: class.as_obj() as *const Obj<Class>,
            fields: Table::new(),
        },
        0,
    );
    let state = vm.alloc(Kind::Sema, sema::SemaCore::default(), 0);
    let key = vm.intern(b"_state");
    let fields = &as_instance(inst).expect("instance").fields;
    vm.table_insert(inst, fields, key, state);
    Ok(inst)
}

fn sync_waitgroup(vm: &mut Ctx, _a: &[Value]) -> R {
    sync_instance(vm, "WaitGroup")
}

fn sync_mutex(vm: &mut Ctx, _a: &[Value]) -> R {
    sync_instance(vm, "Mutex")
}

/// The semaphore behind a `sync` instance (`a[0]` is the receiver).
fn state_of<'a>(vm: &mut Ctx, a: &[Value], what: &str) -> Result<&'a sema::SemaCore, Flow> {
    let key = vm.intern(b"_state");
    let s = as_instance(a[0])
        .and_then(|i| i.fields.get(key.as_obj()))
        .filter(|v| v.is_kind(Kind::Sema))
        .ok_or_else(|| Flow::from(format!("{what} expects a sync object.")))?;
    // SAFETY: the kind was just checked; the instance keeps the object alive
    // while the method runs.
    Ok(unsafe { body::<sema::SemaCore>(s) })
}

fn wg_add(vm: &mut Ctx, a: &[Value]) -> R {
    let s = state_of(vm, a, "add()")?;
    let n = number_arg(a[1], "add")?;
    sema::wg_add(vm, s, n as i64)?;
    Ok(Value::NIL)
}

fn wg_done(vm: &mut Ctx, a: &[Value]) -> R {
    let s = state_of(vm, a, "done()")?;
    sema::wg_add(vm, s, -1)?;
    Ok(Value::NIL)
}

fn wg_wait(vm: &mut Ctx, a: &[Value]) -> R {
    let s = state_of(vm, a, "wait()")?;
    sema::wg_wait(vm, s)?;
    Ok(Value::NIL)
}

fn mu_lock(vm: &mut Ctx, a: &[Value]) -> R {
    let s = state_of(vm, a, "lock()")?;
    sema::mutex_lock(vm, s)?;
    Ok(Value::NIL)
}

fn mu_unlock(vm: &mut Ctx, a: &[Value]) -> R {
    let s = state_of(vm, a, "unlock()")?;
    sema::mutex_unlock(vm, s)?;
    Ok(Value::NIL)
}

#[cfg(test)]
mod tests {
    use super::parse_number;

    #[test]
    fn num_accepts_only_number_syntax() {
        assert_eq!(parse_number("42"), Some(42.0));
        assert_eq!(parse_number("-1.5e3"), Some(-1500.0));
        assert_eq!(parse_number("1e+21"), Some(1e21));
        for bad in [
            "", " 1", "abc", "inf", "nan", "1e", "0x10", "1.2.3", "-", "3.", ".5", "12abc",
        ] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }
}
