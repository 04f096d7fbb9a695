//! Flat code is not nesting (issue 11, §3): generated programs too large to
//! keep in the corpus, run both in-process through the library API (on a
//! test thread's 2 MiB stack) and through the `skein` binary (on its main
//! thread with the default stack), checking their output; and real nesting
//! past the limit, which must fail with exit code 65 and a message that
//! names the nesting, not crash.
//!
//! The three programs are a sum of 10,000 terms, a string concatenation of
//! 5,000 parts and an `if` / `else if` chain of 2,000 branches.

mod common;

use std::path::PathBuf;

/// `1 + 1 + ... + 1`: 10,000 terms.
fn sum_program() -> (String, String) {
    let terms = vec!["1"; 10_000].join(" + ");
    (format!("print {terms};\n"), "10000\n".into())
}

/// `"a" + "b" + "a" + ...`: 5,000 parts, printed with its length.
fn concat_program() -> (String, String) {
    let parts: Vec<&str> = (0..5_000)
        .map(|i| if i % 2 == 0 { "\"a\"" } else { "\"b\"" })
        .collect();
    let src = format!(
        "var s = {};\nprint len(s);\nprint slice(s, 0, 6);\n",
        parts.join(" + ")
    );
    (src, "5000\nababab\n".into())
}

/// An `else if` chain of 2,000 branches, taken at its first, a middle and
/// its last branch and at the final `else`.
fn else_if_program() -> (String, String) {
    let mut src = String::from("fun pick(x) {\n");
    for i in 0..2_000 {
        let keyword = if i == 0 { "  if" } else { "  else if" };
        src.push_str(&format!("{keyword} (x == {i}) return \"branch {i}\";\n"));
    }
    src.push_str("  else return \"none\";\n}\n");
    src.push_str("print pick(0);\nprint pick(1234);\nprint pick(1999);\nprint pick(2000);\n");
    (src, "branch 0\nbranch 1234\nbranch 1999\nnone\n".into())
}

fn programs() -> [(&'static str, (String, String)); 3] {
    [
        ("sum", sum_program()),
        ("concat", concat_program()),
        ("else_if", else_if_program()),
    ]
}

/// A scratch directory for one test under Cargo's target tmpdir.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Writes `src` to a file and runs it with the binary.
fn run_file(dir: &std::path::Path, name: &str, src: &str) -> common::Outcome {
    let path = dir.join(format!("{name}.sk"));
    std::fs::write(&path, src).expect("write program");
    let args = vec!["run".to_string(), path.display().to_string()];
    common::run_skein(&args, &[], common::TIMEOUT).expect("skein starts")
}

#[test]
fn long_chains_run_in_process() {
    for (name, (src, expected)) in programs() {
        let out = skein::run_source(&src, &skein::Options::new());
        assert_eq!(out.exit_code, 0, "{name}: {}", out.stderr);
        assert_eq!(out.stdout, expected, "{name}");
    }
}

#[test]
fn long_chains_run_through_the_binary() {
    let dir = scratch("flat_code_binary");
    for (name, (src, expected)) in programs() {
        let out = run_file(&dir, name, &src);
        assert_eq!(out.code, Some(0), "{name}: {}", out.stderr);
        assert_eq!(out.stdout, expected, "{name}");
        assert_eq!(out.stderr, "", "{name}");
    }
}

#[test]
fn real_nesting_past_the_limit_exits_65_with_the_reason() {
    let dir = scratch("flat_code_nesting");
    let cases = [
        (
            "parens",
            format!("print {}1{};\n", "(".repeat(2_000), ")".repeat(2_000)),
            "[line 1] Error at '(': Expression nesting too deep.\n",
        ),
        (
            "blocks",
            format!("{}\n{}\n", "{".repeat(2_000), "}".repeat(2_000)),
            "[line 1] Error at '{': Statement nesting too deep.\n",
        ),
    ];
    for (name, src, message) in cases {
        let out = run_file(&dir, name, &src);
        assert_eq!(out.code, Some(65), "{name}: {}", out.stderr);
        assert_eq!(out.stderr, message, "{name}");
        assert_eq!(out.stdout, "", "{name}");
        let out = skein::run_source(&src, &skein::Options::new());
        assert_eq!(out.exit_code, 65, "{name}: {}", out.stderr);
        assert_eq!(out.stderr, message, "{name}");
    }
}
