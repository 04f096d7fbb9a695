//! The documentation's examples are tests: every code block marked as
//! Skein in `docs/*.md` and `README.md` is run, and what it prints must be
//! what the page shows, so the docs cannot go stale.
//!
//! # The block convention
//!
//! A block fenced as ` ```skein ` is a program. It is run in-process
//! through [`skein::run_source`] with the default [`skein::Options`] (the
//! environment is not read; no script arguments; stdin is whatever the
//! test process has, so examples must not read it). What may follow it,
//! separated from it only by blank lines:
//!
//! 1. A ` ```output ` block: the program's stdout, exactly, each line
//!    followed by a newline.
//! 2. Then, or instead, an ` ```error ` block: its first line is
//!    `exit: N`, the exit status the `skein` command would give (65 for a
//!    compile error, 70 for a runtime error, or the status given to
//!    `os.exit`); the lines after it are the program's stderr, exactly.
//!
//! A program without an `output` block must print nothing, and one without
//! an `error` block must exit 0 with an empty stderr. An `output` or
//! `error` block that follows no program is itself an error (it would be
//! checked by nothing). Blocks in any other language (` ```text `,
//! ` ```sh `, ` ```rust `) are not run; examples that need stdin,
//! arguments, a terminal, timing or flags are shown that way.
//!
//! Examples must be deterministic: each program runs once in real mode and
//! then in deterministic mode (`--sim`) with several seeds and processor
//! counts, and every run must match the page. Output that depends on the
//! schedule, the clock or `math.random` cannot pass.
//!
//! # Steps
//!
//! 1. Read each page, split it into fenced blocks (an opening fence is a
//!    line that starts, after any indentation, with three backticks; its
//!    info string's first word is the language; the block ends at the next
//!    line that is just three backticks), remembering each block's line
//!    and what lies between it and the next.
//! 2. Pair every `skein` block with the `output` and `error` blocks right
//!    after it.
//! 3. Run each program in every configuration and compare stdout, stderr
//!    and the exit status with the page.
//! 4. Fail once, naming every page, block line and difference.
//!
//! The README's Rust example is not run here: it is the body of
//! `tests/gc_trace_example.rs`, and [`readme_rust_example_is_the_tested_one`]
//! checks that the two stay the same text.

use std::path::{Path, PathBuf};

use skein::Options;

/// One fenced block of a page.
#[derive(Debug)]
struct Block {
    /// The info string's first word (`skein`, `output`, `text`, ...).
    lang: String,
    /// The block's text, without the fences, each line ending in `\n`.
    text: String,
    /// The 1-based line of the opening fence.
    line: usize,
    /// Whether only blank lines separate this block from the previous one.
    adjacent: bool,
}

/// A program from a page and what the page says it does.
#[derive(Debug)]
struct Example {
    page: String,
    line: usize,
    src: String,
    stdout: String,
    stderr: String,
    exit: i32,
}

/// The pages whose Skein blocks are run.
fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("the docs folder exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The name a report gives a page: its path from the repository root.
fn page_name(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Splits a page into its fenced blocks. An unclosed fence is an error.
fn blocks(text: &str) -> Result<Vec<Block>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    let mut gap_blank = true;
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            gap_blank &= line.trim().is_empty();
            continue;
        };
        let indent = line.len() - trimmed.len();
        let lang = info.split_whitespace().next().unwrap_or("").to_string();
        let mut body = String::new();
        let mut closed = false;
        for (_, inner) in lines.by_ref() {
            if inner.trim() == "```" {
                closed = true;
                break;
            }
            // Lines of an indented block (in a list) lose that indentation.
            let cut = inner.len() - inner.trim_start().len();
            body.push_str(&inner[cut.min(indent)..]);
            body.push('\n');
        }
        if !closed {
            return Err(format!("line {}: the block is never closed", i + 1));
        }
        out.push(Block {
            lang,
            text: body,
            line: i + 1,
            adjacent: gap_blank && !out.is_empty(),
        });
        gap_blank = true;
    }
    Ok(out)
}

/// Pairs the programs of one page with their expectations; an `output` or
/// `error` block that belongs to no program, or a malformed `error` block,
/// is reported in `problems`.
fn examples(page: &str, blocks: &[Block], problems: &mut Vec<String>) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    // What the block before this one was: a program, its output, or its
    // error (nothing may follow an error).
    let mut last: Option<&str> = None;
    for b in blocks {
        let attached = b.adjacent && last.is_some();
        match b.lang.as_str() {
            "skein" => {
                out.push(Example {
                    page: page.to_string(),
                    line: b.line,
                    src: b.text.clone(),
                    stdout: String::new(),
                    stderr: String::new(),
                    exit: 0,
                });
                last = Some("skein");
                continue;
            }
            "output" if attached && last == Some("skein") => {
                out.last_mut().expect("a program").stdout = b.text.clone();
                last = Some("output");
                continue;
            }
            "error" if attached && matches!(last, Some("skein" | "output")) => {
                let (first, rest) = b.text.split_once('\n').unwrap_or((&b.text, ""));
                match first
                    .strip_prefix("exit: ")
                    .and_then(|n| n.trim().parse().ok())
                {
                    Some(code) => {
                        let ex = out.last_mut().expect("a program");
                        ex.exit = code;
                        ex.stderr = rest.to_string();
                    }
                    None => problems.push(format!(
                        "{page}:{}: an error block must start with `exit: N`, not {first:?}",
                        b.line
                    )),
                }
                last = Some("error");
                continue;
            }
            "output" | "error" => problems.push(format!(
                "{page}:{}: this {} block follows no skein block (or comes in the wrong order: \
                 skein, then output, then error, separated only by blank lines)",
                b.line, b.lang
            )),
            _ => {}
        }
        last = None;
    }
    out
}

/// The configurations every example runs in: real mode with the default
/// processors, then deterministic mode with a few seeds and P counts.
fn configurations() -> Vec<(String, Options)> {
    let mut configs = vec![("default options".to_string(), Options::new())];
    for (seed, procs) in [(1, 1), (2, 4), (3, 2)] {
        configs.push((
            format!("--sim {seed} --procs {procs}"),
            Options::new().sim_seed(seed).procs(procs),
        ));
    }
    configs
}

/// Runs one example in every configuration; returns the report of the
/// first mismatch.
fn check(ex: &Example) -> Result<(), String> {
    for (name, opts) in configurations() {
        let run = skein::run_source(&ex.src, &opts);
        let mut diffs = Vec::new();
        if run.exit_code != ex.exit {
            diffs.push(format!(
                "exit status: the page says {}, the program gave {}",
                ex.exit, run.exit_code
            ));
        }
        if run.stdout != ex.stdout {
            diffs.push(format!(
                "stdout differs:\n{}",
                diff(&ex.stdout, &run.stdout)
            ));
        }
        if run.stderr != ex.stderr {
            diffs.push(format!(
                "stderr differs:\n{}",
                diff(&ex.stderr, &run.stderr)
            ));
        }
        if !diffs.is_empty() {
            return Err(format!(
                "{}:{} (run with {name}):\n  {}",
                ex.page,
                ex.line,
                diffs.join("\n  ").replace('\n', "\n  ")
            ));
        }
    }
    Ok(())
}

/// A line-by-line comparison: `  ` equal, `- ` on the page, `+ ` printed.
fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = Vec::new();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => out.push(format!("    {x}")),
            (x, y) => {
                if let Some(x) = x {
                    out.push(format!("  - {x}"));
                }
                if let Some(y) = y {
                    out.push(format!("  + {y}"));
                }
            }
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') && !actual.is_empty() {
        out.push("  (the final newline differs)".to_string());
    }
    out.truncate(40);
    out.join("\n")
}

#[test]
fn every_skein_block_prints_what_the_page_shows() {
    let mut problems = Vec::new();
    let mut all = Vec::new();
    for path in pages() {
        let name = page_name(&path);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        match blocks(&text) {
            Ok(bs) => all.extend(examples(&name, &bs, &mut problems)),
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    for page in ["docs/language.md", "docs/runtime.md", "docs/stdlib.md"] {
        if !all.iter().any(|ex| ex.page == page) {
            problems.push(format!("{page}: no skein block found"));
        }
    }
    for ex in &all {
        if let Err(report) = check(ex) {
            problems.push(report);
        }
    }
    eprintln!("docs: {} skein blocks checked", all.len());
    assert!(
        problems.is_empty(),
        "{} problem(s) in the documentation's examples:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn readme_rust_example_is_the_tested_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    // The README's rust blocks, in order, and the test files they are
    // the text of.
    let tests = ["tests/gc_trace_example.rs", "tests/explore_example.rs"];
    let rust: Vec<Block> = blocks(&readme)
        .expect("README.md parses")
        .into_iter()
        .filter(|b| b.lang == "rust")
        .collect();
    assert_eq!(
        rust.len(),
        tests.len(),
        "README.md should have one rust block per example test"
    );
    for (block, file) in rust.iter().zip(tests) {
        let test = std::fs::read_to_string(root.join(file)).expect(file);
        assert!(
            test.contains(&block.text),
            "README.md:{}: the rust block is not the text of {file}; change both together",
            block.line
        );
    }
}

#[test]
fn the_block_parser_pairs_programs_with_their_expectations() {
    let page = "text\n```skein\nprint 1;\n```\n\n```output\n1\n```\n```skein\n```\nx\n```output\n```\n  ```error\n  exit: 70\n  boom\n  ```\n";
    let bs = blocks(page).expect("parses");
    assert_eq!(bs.len(), 5);
    let mut problems = Vec::new();
    let exs = examples("p", &bs, &mut problems);
    assert_eq!(exs.len(), 2);
    assert_eq!(exs[0].stdout, "1\n");
    assert_eq!((exs[0].line, exs[1].line), (2, 9));
    // The second program's output block is separated from it by text.
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("p:12"), "{problems:?}");
    // The error block follows an orphan, so it is an orphan too.
    assert!(problems[1].contains("p:14"), "{problems:?}");
    assert!(blocks("```skein\nprint 1;\n").is_err());
}
