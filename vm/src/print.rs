//! Printing values: `print`, `str()` and the REPL all use [`write_value`];
//! the REPL echoes an entry's value with [`write_quoted_value`].
//!
//! Rules (`docs/language.md`, "Printing"):
//! - Numbers: the shortest text that reads back to the same double;
//!   integral values without a fraction; exponent form only when the decimal
//!   exponent is ≥ 21 or ≤ −7 (JavaScript's rule: `1e+21`, `1e-7`); `-0`,
//!   `nan`, `inf`, `-inf`.
//! - A top-level string prints raw; strings inside lists and maps are quoted
//!   with `\n \t \r \" \\` escaped.
//! - A container met again while it is being printed shows as `[...]` /
//!   `{...}`; nesting deeper than [`MAX_DEPTH`] is elided the same way, so
//!   printing never overflows the host stack.

use crate::object::*;
use crate::value::Value;

/// Containers nested deeper than this print as `[...]`/`{...}`. Deep enough
/// for any readable output, shallow enough for the host stack.
pub const MAX_DEPTH: usize = 256;

/// Formats a number (the rules above).
pub fn format_number(n: f64, out: &mut Vec<u8>) {
    use std::io::Write;
    if n.is_nan() {
        out.extend_from_slice(b"nan");
        return;
    }
    if n.is_infinite() {
        out.extend_from_slice(if n > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    if n == 0.0 {
        out.extend_from_slice(if n.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    // Integral values of modest size print directly (the common case).
    if n.fract() == 0.0 && n.abs() < 1e15 {
        let _ = write!(out, "{}", n as i64);
        return;
    }
    // `{:e}` yields the shortest round-trip digits as `d.ddde±x`.
    let s = format!("{:e}", n);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    if neg {
        out.push(b'-');
    }
    let k = digits.len() as i32;
    let point = exp + 1; // position of the decimal point after the first digits
    if (-6..=20).contains(&exp) {
        if point >= k {
            out.extend_from_slice(digits.as_bytes());
            out.extend(std::iter::repeat_n(b'0', (point - k) as usize));
        } else if point > 0 {
            out.extend_from_slice(&digits.as_bytes()[..point as usize]);
            out.push(b'.');
            out.extend_from_slice(&digits.as_bytes()[point as usize..]);
        } else {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-point) as usize));
            out.extend_from_slice(digits.as_bytes());
        }
    } else {
        out.push(digits.as_bytes()[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits.as_bytes()[1..]);
        }
        let _ = write!(out, "e{}{}", if exp >= 0 { "+" } else { "-" }, exp.abs());
    }
}

/// Appends the printed form of `v` to `out`.
pub fn write_value(v: Value, out: &mut Vec<u8>) {
    let mut seen = Vec::new();
    write_inner(v, out, false, &mut seen);
}

/// Appends the form of `v` it has inside a list: a string is quoted and
/// escaped (the REPL echoes an entry's value this way).
pub fn write_quoted_value(v: Value, out: &mut Vec<u8>) {
    let mut seen = Vec::new();
    write_inner(v, out, true, &mut seen);
}

/// The printed form of `v` as a byte vector.
pub fn to_bytes(v: Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(v, &mut out);
    out
}

fn write_quoted(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn write_inner(v: Value, out: &mut Vec<u8>, nested: bool, seen: &mut Vec<*mut Header>) {
    if v.is_number() {
        return format_number(v.as_number(), out);
    }
    if v.is_nil() {
        return out.extend_from_slice(b"nil");
    }
    if v == Value::TRUE {
        return out.extend_from_slice(b"true");
    }
    if v == Value::FALSE {
        return out.extend_from_slice(b"false");
    }
    let Some(kind) = v.kind() else {
        return out.extend_from_slice(b"<undefined>");
    };
    match kind {
        Kind::String => {
            let s = as_string(v).expect("kind checked");
            if nested {
                write_quoted(s.bytes(), out)
            } else {
                out.extend_from_slice(s.bytes())
            }
        }
        Kind::List => {
            let p = v.as_obj();
            if seen.contains(&p) || seen.len() >= MAX_DEPTH {
                return out.extend_from_slice(b"[...]");
            }
            seen.push(p);
            out.push(b'[');
            let items = as_list(v).expect("kind checked").to_vec();
            for (i, x) in items.into_iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_inner(x, out, true, seen);
            }
            out.push(b']');
            seen.pop();
        }
        Kind::Map => {
            let p = v.as_obj();
            if seen.contains(&p) || seen.len() >= MAX_DEPTH {
                return out.extend_from_slice(b"{...}");
            }
            seen.push(p);
            out.push(b'{');
            let pairs: Vec<(Value, Value)> = {
                let t = as_map(v).expect("kind checked").table.lock();
                t.entries.iter().map(|(k, s)| (k.0, s.get())).collect()
            };
            for (i, (k, x)) in pairs.into_iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_inner(k, out, true, seen);
                out.extend_from_slice(b": ");
                write_inner(x, out, true, seen);
            }
            out.push(b'}');
            seen.pop();
        }
        Kind::Function => {
            let f = as_function(v).expect("kind checked");
            write_fn_name(f, out);
        }
        Kind::Closure => {
            let c = as_closure(v).expect("kind checked");
            // SAFETY: a closure's function is kept alive by the closure.
            let f = unsafe { &(*c.function).body };
            write_fn_name(f, out);
        }
        Kind::BoundMethod => {
            let b = as_bound(v).expect("kind checked");
            write_inner(b.method, out, nested, seen);
        }
        Kind::Native => out.extend_from_slice(b"<native fn>"),
        Kind::Class => {
            let c = as_class(v).expect("kind checked");
            write_inner(c.name, out, false, seen);
        }
        Kind::Instance => {
            let i = as_instance(v).expect("kind checked");
            // SAFETY: an instance keeps its class alive.
            let c = unsafe { &(*i.class).body };
            write_inner(c.name, out, false, seen);
            out.extend_from_slice(b" instance");
        }
        Kind::Module => {
            let m = as_module(v).expect("kind checked");
            out.extend_from_slice(b"<module ");
            write_inner(m.name, out, false, seen);
            out.push(b'>');
        }
        Kind::Cell => out.extend_from_slice(b"<cell>"),
        Kind::Chan => out.extend_from_slice(b"<chan>"),
        Kind::Sema => out.extend_from_slice(b"<sync>"),
        Kind::Handle => out.extend_from_slice(b"<handle>"),
    }
}

fn write_fn_name(f: &Function, out: &mut Vec<u8>) {
    match f.name.and_then(as_string) {
        Some(n) => {
            out.extend_from_slice(b"<fn ");
            out.extend_from_slice(n.bytes());
            out.push(b'>');
        }
        None => out.extend_from_slice(b"<script>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(n: f64) -> String {
        let mut v = Vec::new();
        format_number(n, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn numbers_follow_the_javascript_rule() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(-0.0), "-0");
        assert_eq!(num(0.1), "0.1");
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(1e21), "1e+21");
        assert_eq!(num(1e20), "100000000000000000000");
        assert_eq!(num(1e-7), "1e-7");
        assert_eq!(num(1.5e-7), "1.5e-7");
        assert_eq!(num(0.000001), "0.000001");
        assert_eq!(num(123456.789), "123456.789");
        assert_eq!(num(-2.5e30), "-2.5e+30");
        assert_eq!(num(f64::NAN), "nan");
        assert_eq!(num(f64::NEG_INFINITY), "-inf");
        assert_eq!(num(1e15), "1000000000000000");
        assert_eq!(num(0.30000000000000004), "0.30000000000000004");
    }
}
