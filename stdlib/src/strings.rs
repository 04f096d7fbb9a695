//! The `strings` module: byte-string utilities in the manner of Go's
//! `strings` package.
//!
//! Skein strings are byte strings (usually UTF-8), so every function here
//! works on bytes: indices are byte offsets, `upper`/`lower` change ASCII
//! letters only, and whitespace is ASCII whitespace (space, `\t`, `\n`,
//! `\v`, `\f`, `\r`).
//!
//! | function | result |
//! |---|---|
//! | `split(s, sep)` | the pieces of `s` between occurrences of `sep` |
//! | `fields(s)` | the pieces of `s` between runs of whitespace |
//! | `join(list, sep)` | the strings of `list` with `sep` between them |
//! | `contains(s, sub)` | whether `sub` occurs in `s` |
//! | `index(s, sub)` | the byte index of the first `sub` in `s`, or -1 |
//! | `has_prefix(s, p)`, `has_suffix(s, p)` | whether `s` starts / ends with `p` |
//! | `replace(s, old, new)` | `s` with every `old` replaced by `new` |
//! | `upper(s)`, `lower(s)` | ASCII case mapping |
//! | `trim(s)` | `s` without leading and trailing whitespace |
//! | `repeat(s, n)` | `n` copies of `s` |
//! | `compare(a, b)` | -1, 0 or 1, comparing bytes |
//! | `code(s)` | the first byte of `s` as a number |
//! | `char(n)` | the one-byte string with byte `n` (0 to 255) |
//!
//! Edge cases follow Go:
//! - `split(s, sep)` with `sep` absent gives `[s]`, so `split("", ",")` is
//!   `[""]`; `split(s, "")` splits into one-byte strings (Go splits into
//!   UTF-8 sequences), and `split("", "")` is `[]`.
//! - `fields` of an empty or all-whitespace string is `[]`.
//! - `contains(s, "")` is true, `index(s, "")` is 0, and every string has
//!   the prefix and suffix `""`.
//! - `replace(s, "", new)` is Go's `strings.ReplaceAll`: `new` goes before
//!   every UTF-8 sequence and at the end (`replace("ab", "", "-")` is
//!   `-a-b-`; a byte that starts no valid sequence counts as one).
//! - `repeat(s, 0)` is `""`.
//!
//! Each wrong argument type is a runtime error naming the function, e.g.
//! `split() expects two strings.` (the table in `tests/corpus/README.md`).
//!
//! Searching uses the `memchr` crate (SIMD byte and substring search), and
//! every result string is built straight in its heap object: `join` writes
//! into a string of the summed length (`Ctx::new_string_with`), `replace`
//! hands its pieces to `string_parts`; there is no intermediate buffer.

use skein_vm::object::{as_list, as_string, Str};
use skein_vm::value::Value;
use skein_vm::Ctx;

use crate::R;

/// The module's members.
pub(crate) const FUNCTIONS: &[(&str, Option<u8>, skein_vm::native::NativeFn)] = &[
    ("split", Some(2), split),
    ("fields", Some(1), fields),
    ("join", Some(2), join),
    ("contains", Some(2), contains),
    ("index", Some(2), index),
    ("has_prefix", Some(2), has_prefix),
    ("has_suffix", Some(2), has_suffix),
    ("replace", Some(3), replace),
    ("upper", Some(1), upper),
    ("lower", Some(1), lower),
    ("trim", Some(1), trim),
    ("repeat", Some(2), repeat),
    ("compare", Some(2), compare),
    ("code", Some(1), code),
    ("char", Some(1), char_),
];

/// ASCII whitespace, as Go's `unicode.IsSpace` for bytes below 0x80.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The string argument, or `err`.
fn text<'a>(v: Value, err: &str) -> Result<&'a Str, String> {
    as_string(v).ok_or_else(|| err.to_string())
}

/// Both arguments as strings, or `NAME() expects two strings.`.
fn two<'a>(a: &[Value], name: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    match (as_string(a[0]), as_string(a[1])) {
        (Some(x), Some(y)) => Ok((x.bytes(), y.bytes())),
        _ => Err(format!("{name}() expects two strings.")),
    }
}

fn split(vm: &mut Ctx, a: &[Value]) -> R {
    let (s, sep) = two(a, "split")?;
    if sep.is_empty() {
        let items: Vec<Value> = s.iter().map(|&b| vm.rt.one_byte(b)).collect();
        return Ok(vm.new_list(&items));
    }
    // Counting first lets the pieces go straight into a list of the right
    // length (a cheap SIMD pass next to allocating the pieces). No
    // collection runs inside a native, so the list, not yet reachable from
    // anything, stays alive while it fills.
    let n = memchr::memmem::find_iter(s, sep).count() + 1;
    let list = vm.new_list_nils(n);
    let l = as_list(list).expect("a new list");
    let mut start = 0;
    for (i, at) in memchr::memmem::find_iter(s, sep).enumerate() {
        // Matches never overlap: `find_iter` resumes after each one.
        l.set(i, vm.new_string(&s[start..at]));
        start = at + sep.len();
    }
    l.set(n - 1, vm.new_string(&s[start..]));
    Ok(list)
}

fn fields(vm: &mut Ctx, a: &[Value]) -> R {
    let s = text(a[0], "fields() expects a string.")?.bytes();
    let mut items = Vec::new();
    let mut i = 0;
    while i < s.len() {
        while i < s.len() && is_space(s[i]) {
            i += 1;
        }
        let start = i;
        while i < s.len() && !is_space(s[i]) {
            i += 1;
        }
        if i > start {
            items.push(vm.new_string(&s[start..i]));
        }
    }
    Ok(vm.new_list(&items))
}

fn join(vm: &mut Ctx, a: &[Value]) -> R {
    let (Some(list), Some(sep)) = (as_list(a[0]), as_string(a[1])) else {
        return Err("join() expects a list and a string.".into());
    };
    // The elements are read in place (a block stays valid while a native
    // runs: retired blocks are freed only when the world stops). Another
    // goroutine may change them between the two passes; the second pass
    // then stays within the length the first one summed (a racy program
    // gets some string, never a fault).
    let block = list.block();
    let slots = &block.slots()[..block.len()];
    let mut len = sep.len() * slots.len().saturating_sub(1);
    for slot in slots {
        match as_string(slot.get()) {
            Some(s) => len += s.len(),
            None => return Err("join() expects a list of strings.".into()),
        }
    }
    let sep = sep.bytes();
    Ok(vm.new_string_with(len, |out| {
        let mut at = 0;
        for (i, slot) in slots.iter().enumerate() {
            let piece = as_string(slot.get()).map_or(&[][..], |s| s.bytes());
            for part in [if i > 0 { sep } else { &[][..] }, piece] {
                let take = part.len().min(out.len() - at);
                out[at..at + take].copy_from_slice(&part[..take]);
                at += take;
            }
        }
    }))
}

fn contains(_vm: &mut Ctx, a: &[Value]) -> R {
    let (s, sub) = two(a, "contains")?;
    Ok(Value::bool(memchr::memmem::find(s, sub).is_some()))
}

fn index(_vm: &mut Ctx, a: &[Value]) -> R {
    let (s, sub) = two(a, "index")?;
    let at = memchr::memmem::find(s, sub).map_or(-1.0, |i| i as f64);
    Ok(Value::number(at))
}

fn has_prefix(_vm: &mut Ctx, a: &[Value]) -> R {
    let (s, p) = two(a, "has_prefix")?;
    Ok(Value::bool(s.starts_with(p)))
}

fn has_suffix(_vm: &mut Ctx, a: &[Value]) -> R {
    let (s, p) = two(a, "has_suffix")?;
    Ok(Value::bool(s.ends_with(p)))
}

/// The length of the UTF-8 sequence at the start of `s` (at least 1; a
/// byte that starts no valid sequence counts alone, as Go's
/// `utf8.DecodeRuneInString` does).
fn utf8_width(s: &[u8]) -> usize {
    let n = match s[0] {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return 1,
    };
    match s.get(..n).map(std::str::from_utf8) {
        Some(Ok(_)) => n,
        _ => 1,
    }
}

fn replace(vm: &mut Ctx, a: &[Value]) -> R {
    let (Some(s), Some(old), Some(new)) = (as_string(a[0]), as_string(a[1]), as_string(a[2]))
    else {
        return Err("replace() expects three strings.".into());
    };
    let (s, old, new) = (s.bytes(), old.bytes(), new.bytes());
    let mut parts: Vec<&[u8]> = Vec::new();
    if old.is_empty() {
        let mut i = 0;
        while i < s.len() {
            let w = utf8_width(&s[i..]);
            parts.push(new);
            parts.push(&s[i..i + w]);
            i += w;
        }
        parts.push(new);
    } else {
        let mut start = 0;
        for at in memchr::memmem::find_iter(s, old) {
            parts.push(&s[start..at]);
            parts.push(new);
            start = at + old.len();
        }
        if start == 0 {
            // No occurrence: the string itself (strings are immutable).
            return Ok(a[0]);
        }
        parts.push(&s[start..]);
    }
    Ok(vm.string_parts(&parts))
}

fn upper(vm: &mut Ctx, a: &[Value]) -> R {
    let s = text(a[0], "upper() expects a string.")?;
    Ok(vm.new_string(&s.bytes().to_ascii_uppercase()))
}

fn lower(vm: &mut Ctx, a: &[Value]) -> R {
    let s = text(a[0], "lower() expects a string.")?;
    Ok(vm.new_string(&s.bytes().to_ascii_lowercase()))
}

fn trim(vm: &mut Ctx, a: &[Value]) -> R {
    let s = text(a[0], "trim() expects a string.")?.bytes();
    let start = s.iter().position(|&b| !is_space(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |i| i + 1);
    if start == 0 && end == s.len() {
        return Ok(a[0]);
    }
    Ok(vm.new_string(&s[start..end]))
}

fn repeat(vm: &mut Ctx, a: &[Value]) -> R {
    const ERR: &str = "repeat() expects a string and a non-negative integer.";
    let s = text(a[0], ERR)?.bytes();
    let n = match a[1].as_integer() {
        Some(n) if n >= 0 => n as usize,
        _ => return Err(ERR.into()),
    };
    // A result beyond the address space cannot be allocated; say so rather
    // than abort.
    if s.len()
        .checked_mul(n)
        .is_none_or(|len| len > isize::MAX as usize)
    {
        return Err("Out of memory.".into());
    }
    Ok(vm.new_string(&s.repeat(n)))
}

fn compare(_vm: &mut Ctx, a: &[Value]) -> R {
    let (x, y) = two(a, "compare")?;
    Ok(Value::number(x.cmp(y) as i8 as f64))
}

fn code(_vm: &mut Ctx, a: &[Value]) -> R {
    let s = text(a[0], "code() expects a string.")?.bytes();
    match s.first() {
        Some(&b) => Ok(Value::number(b as f64)),
        None => Err("code() expects a non-empty string.".into()),
    }
}

fn char_(vm: &mut Ctx, a: &[Value]) -> R {
    match a[0].as_integer() {
        Some(n @ 0..=255) => Ok(vm.rt.one_byte(n as u8)),
        _ => Err("char() expects an integer from 0 to 255.".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::utf8_width;

    #[test]
    fn utf8_width_counts_sequences_and_lone_bytes() {
        assert_eq!(utf8_width(b"a"), 1);
        assert_eq!(utf8_width("é!".as_bytes()), 2);
        assert_eq!(utf8_width("€".as_bytes()), 3);
        assert_eq!(utf8_width("😀".as_bytes()), 4);
        assert_eq!(utf8_width(b"\xff"), 1);
        assert_eq!(utf8_width(b"\xc3"), 1);
        assert_eq!(utf8_width(b"\xe2\x82"), 1);
    }
}
