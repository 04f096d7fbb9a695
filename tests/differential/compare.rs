//! Comparing one program's outcome under clox and under Skein, modulo the
//! deviations `docs/language.md` documents ("Differences from clox").
//!
//! 1. Exit codes must be equal, and stderr must be equal line for line
//!    (compile errors, runtime errors, stack traces).
//! 2. stdout must be equal line for line, where a line that Skein printed
//!    as a number also matches when clox's `%g` rendering of that number
//!    (six significant digits, `1e+06`, `nan` for either sign of NaN) is
//!    what clox printed: number printing is a documented deviation.
//! 3. Outcomes that differ only because of another documented deviation
//!    are counted, by name, and not reported as differences: a map literal
//!    (a `{` where an expression is expected, which clox rejects and
//!    Skein reads as a map), a lifted limit (clox reports too many constants or too long a
//!    jump), and a program that runs past the deadline in both.

use crate::oracle::Outcome;

/// The verdict on one program.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Same,
    /// Different, for a documented reason (its name).
    Deviation(&'static str),
    Differs,
}

/// Compares the outcomes of the program whose tokens are `tokens`.
pub fn compare(tokens: &[&str], clox: &Outcome, skein: &Outcome) -> Verdict {
    if clox.timed_out && skein.timed_out {
        return Verdict::Deviation("both run past the deadline");
    }
    if !clox.timed_out
        && !skein.timed_out
        && clox.code == skein.code
        && clox.stderr == skein.stderr
        && same_stdout(&clox.stdout, &skein.stdout)
    {
        return Verdict::Same;
    }
    if has_map_literal(tokens) {
        return Verdict::Deviation("map literal");
    }
    let lifted = [
        "Too many constants in one chunk.",
        "Too much code to jump over.",
        "Loop body too large.",
    ];
    if lifted.iter().any(|m| clox.stderr.contains(m)) {
        return Verdict::Deviation("lifted limit");
    }
    Verdict::Differs
}

/// True when a `{` follows a token after which clox expects an
/// expression: there Skein reads a map literal.
fn has_map_literal(tokens: &[&str]) -> bool {
    // `while` and `if`: when their `(` is missing, clox goes on to parse
    // the condition, so the `{` is where it expects an expression.
    const BEFORE_EXPRESSION: [&str; 22] = [
        "=", "(", ",", "return", "print", "+", "-", "*", "/", "!", "==", "!=", "<", "<=", ">",
        ">=", "and", "or", "[", ":", "while", "if",
    ];
    tokens
        .windows(2)
        .any(|w| w[1] == "{" && BEFORE_EXPRESSION.contains(&w[0]))
}

fn same_stdout(clox: &str, skein: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (clox.lines().collect(), skein.lines().collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(c, s)| c == s || same_number(c, s))
}

fn same_number(clox: &str, skein: &str) -> bool {
    match skein.parse::<f64>() {
        Ok(x) if x.is_nan() => clox == "nan" || clox == "-nan",
        Ok(x) => format_g(x) == clox,
        Err(_) => false,
    }
}

/// C's `printf("%g", x)`: six significant digits, trailing zeros removed,
/// exponent form when the exponent is below -4 or at least 6.
pub fn format_g(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let sci = format!("{x:.5e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("an integer exponent");
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip_zeros(mantissa), exp.abs())
    } else {
        strip_zeros(&format!("{x:.*}", (5 - exp) as usize)).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[test]
fn format_g_matches_c() {
    for (x, want) in [
        (1.0 / 3.0, "0.333333"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (1234567.0, "1.23457e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5, "-2.5"),
        (1e20, "1e+20"),
        (-0.0, "-0"),
        (999999.5, "1e+06"),
    ] {
        assert_eq!(format_g(x), want, "{x}");
    }
}
