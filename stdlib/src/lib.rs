//! Skein's built-in functions and modules (SPEC §2.11–§2.12).
//!
//! [`install`] binds every built-in as a global of a [`Vm`]: the functions
//! (`clock len push pop slice keys has delete str num type panic cap`) and the
//! modules `math`, `time` and `runtime`. Each native is a plain Rust function
//! over the VM and its arguments (see `skein_vm::native`). A wrong argument
//! type is a runtime error naming the function, e.g. `push() expects a
//! list.`; the message table lives in `tests/corpus/README.md`.
//!
//! Natives never collect: `runtime.gc()` only asks for a collection, which the
//! interpreter runs at the safepoint right after the call returns.
//! Concurrency built-ins (`chan close recv sleep`, `time.after`, `sync`) arrive
//! with the scheduler.

use skein_vm::object::*;
use skein_vm::print;
use skein_vm::value::Value;
use skein_vm::Vm;

type R = Result<Value, String>;

/// Installs every built-in function and module into `vm`'s globals.
pub fn install(vm: &mut Vm) {
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
    ];
    for (name, arity, f) in fns {
        let v = vm.new_native(name, *arity, *f);
        vm.define_global(name, v);
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
    vm.define_global("math", m);

    let time: &[(&'static str, Option<u8>, skein_vm::native::NativeFn)] =
        &[("now", Some(0), t_now)];
    let m = make_module(vm, "time", time, &[]);
    vm.define_global("time", m);

    let runtime: &[(&'static str, Option<u8>, skein_vm::native::NativeFn)] = &[
        ("gc", Some(0), rt_gc),
        ("memstats", Some(0), rt_memstats),
        ("setgcpercent", Some(1), rt_setgcpercent),
        ("gomaxprocs", Some(1), rt_gomaxprocs),
        ("numgoroutine", Some(0), rt_numgoroutine),
        ("gosched", Some(0), rt_gosched),
    ];
    let m = make_module(vm, "runtime", runtime, &[]);
    vm.define_global("runtime", m);
}

fn make_module(
    vm: &mut Vm,
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

fn start() -> std::time::Instant {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *START.get_or_init(std::time::Instant::now)
}

fn clock(_vm: &mut Vm, _a: &[Value]) -> R {
    Ok(Value::number(start().elapsed().as_secs_f64()))
}

fn len(_vm: &mut Vm, a: &[Value]) -> R {
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
    Err("len() expects a list, map, string or channel.".into())
}

fn cap(_vm: &mut Vm, _a: &[Value]) -> R {
    Err("cap() expects a channel.".into())
}

fn push(vm: &mut Vm, a: &[Value]) -> R {
    if as_list(a[0]).is_none() {
        return Err("push() expects a list.".into());
    }
    vm.list_push(a[0], a[1]);
    Ok(Value::NIL)
}

fn pop(_vm: &mut Vm, a: &[Value]) -> R {
    let Some(l) = as_list(a[0]) else {
        return Err("pop() expects a list.".into());
    };
    l.pop()
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

fn slice(vm: &mut Vm, a: &[Value]) -> R {
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

fn keys(vm: &mut Vm, a: &[Value]) -> R {
    let Some(m) = as_map(a[0]) else {
        return Err("keys() expects a map.".into());
    };
    let ks: Vec<Value> = m.table.lock().entries.keys().map(|k| k.0).collect();
    Ok(vm.new_list(&ks))
}

fn has(_vm: &mut Vm, a: &[Value]) -> R {
    let Some(m) = as_map(a[0]) else {
        return Err("has() expects a map.".into());
    };
    Ok(Value::bool(m.table.lock().get(a[1]).is_some()))
}

fn delete(_vm: &mut Vm, a: &[Value]) -> R {
    let Some(m) = as_map(a[0]) else {
        return Err("delete() expects a map.".into());
    };
    Ok(Value::bool(m.table.lock().remove(a[1]).is_some()))
}

fn str_(vm: &mut Vm, a: &[Value]) -> R {
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

fn num(_vm: &mut Vm, a: &[Value]) -> R {
    let Some(s) = as_string(a[0]) else {
        return Err("num() expects a string.".into());
    };
    Ok(std::str::from_utf8(s.bytes())
        .ok()
        .and_then(parse_number)
        .map_or(Value::NIL, Value::number))
}

fn type_(vm: &mut Vm, a: &[Value]) -> R {
    let v = a[0];
    let name: &str = if v.is_number() {
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
            _ => "nil",
        }
    };
    Ok(vm.heap.intern(name.as_bytes()))
}

fn panic_(_vm: &mut Vm, a: &[Value]) -> R {
    Err(String::from_utf8_lossy(&print::to_bytes(a[0])).into_owned())
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
        fn $fname(_vm: &mut Vm, a: &[Value]) -> R {
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

fn m_pow(_vm: &mut Vm, a: &[Value]) -> R {
    let x = number_arg(a[0], "pow")?;
    let y = number_arg(a[1], "pow")?;
    Ok(Value::number(x.powf(y)))
}

fn fold(a: &[Value], name: &str, pick: fn(f64, f64) -> f64) -> R {
    if a.is_empty() {
        return Err(format!("{name}() expects at least one number."));
    }
    let mut acc = number_arg(a[0], name)?;
    for v in &a[1..] {
        acc = pick(acc, number_arg(*v, name)?);
    }
    Ok(Value::number(acc))
}

fn m_min(_vm: &mut Vm, a: &[Value]) -> R {
    fold(a, "min", f64::min)
}

fn m_max(_vm: &mut Vm, a: &[Value]) -> R {
    fold(a, "max", f64::max)
}

fn m_random(vm: &mut Vm, _a: &[Value]) -> R {
    Ok(Value::number(vm.random()))
}

fn t_now(_vm: &mut Vm, _a: &[Value]) -> R {
    Ok(Value::number(start().elapsed().as_secs_f64() * 1000.0))
}

fn rt_gc(vm: &mut Vm, _a: &[Value]) -> R {
    vm.request_gc();
    Ok(Value::NIL)
}

fn rt_memstats(vm: &mut Vm, _a: &[Value]) -> R {
    let stats = vm.memstats();
    let m = vm.new_map();
    for (k, v) in stats {
        let key = vm.heap.intern(k.as_bytes());
        as_map(m)
            .expect("map")
            .table
            .lock()
            .insert(key, Value::number(v));
    }
    Ok(m)
}

fn rt_setgcpercent(vm: &mut Vm, a: &[Value]) -> R {
    let n = number_arg(a[0], "setgcpercent")?;
    let new = if n < 0.0 { None } else { Some(n as u32) };
    let old = vm.set_gc_percent(new);
    Ok(Value::number(old.map_or(-1.0, |p| p as f64)))
}

fn rt_gomaxprocs(_vm: &mut Vm, a: &[Value]) -> R {
    number_arg(a[0], "gomaxprocs")?;
    Ok(Value::number(1.0))
}

fn rt_numgoroutine(_vm: &mut Vm, _a: &[Value]) -> R {
    Ok(Value::number(1.0))
}

fn rt_gosched(_vm: &mut Vm, _a: &[Value]) -> R {
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
