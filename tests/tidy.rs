//! Tidy checks over the source tree, in the spirit of rust-analyzer's tidy
//! test: every Rust file starts with a `//!` essay, every `unsafe` block is
//! preceded by a `// SAFETY:` comment, no file contains a `dbg` macro call
//! or an `ignore` / `should_panic` test attribute, and `ARCHITECTURE.md`'s
//! code map names every source file and only files that exist, and neither
//! the sources nor the documentation point at documents outside the
//! repository (a user has only the clone).
//!
//! The code map check, step by step:
//! 1. Collect the files the map must name: every `.rs` file under `src/`,
//!    `compiler/src/`, `vm/src/`, `vm/bytecode/src/` and `stdlib/src/`, the
//!    top-level `.rs` files of `tests/` and `vm/tests/` (the integration
//!    test crates; their helper modules in subdirectories may be named but
//!    need not be), and `compiler/src/grammar.lalrpop`.
//! 2. Collect the files `ARCHITECTURE.md` names: every inline code span
//!    (outside fenced blocks) that looks like a path (letters, digits,
//!    `_`, `-`, `.` and `/` only) and ends in `.rs` or `.lalrpop`. Spans
//!    with other characters (globs such as `tests/corpus/**/*.sk`) are not
//!    file names and are skipped.
//! 3. Every named path must be a file, taken relative to the repository
//!    root: the map names files by their full path (`vm/src/gc/mod.rs`,
//!    never a bare `mod.rs`), so no name is ambiguous.
//! 4. Every collected file must be named.
//!
//! Both failures list the offending paths.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') && name != "snapshots" {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

fn sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "compiler", "vm", "stdlib", "tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    assert!(files.len() > 10, "tidy found too few files: {files:?}");
    files
}

#[test]
fn every_module_starts_with_an_essay() {
    let bad: Vec<_> = sources()
        .into_iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(
        bad.is_empty(),
        "files without a leading //! comment: {bad:#?}"
    );
}

#[test]
fn every_unsafe_block_has_a_safety_comment() {
    let mut bad = Vec::new();
    for p in sources() {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let kw = concat!("uns", "afe");
            if !code.contains(&format!("{kw} {{")) && !code.trim_end().ends_with(kw) {
                continue;
            }
            // The comment may sit up to a few lines above (a statement can
            // span lines between the comment and the `unsafe` keyword).
            let from = i.saturating_sub(6);
            let ok = lines[from..=i].iter().any(|l| l.contains("SAFETY:"));
            if !ok {
                bad.push(format!("{}:{}", p.display(), i + 1));
            }
        }
    }
    assert!(bad.is_empty(), "unsafe blocks without // SAFETY: {bad:#?}");
}

#[test]
fn no_debugging_leftovers_or_disabled_tests() {
    let needles = [
        concat!("dbg", "!("),
        concat!("#[", "ignore"),
        concat!("#[", "should_panic"),
    ];
    let mut bad = Vec::new();
    for p in sources() {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        for n in needles {
            if text.contains(n) {
                bad.push(format!("{}: {n}", p.display()));
            }
        }
    }
    assert!(bad.is_empty(), "forbidden constructs: {bad:#?}");
}

/// The repository root (the root package's manifest directory).
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `p` relative to the repository root, with `/` separators.
fn repo_path(p: &Path) -> String {
    let rel = p.strip_prefix(root()).unwrap_or(p);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The files `ARCHITECTURE.md`'s code map must name (step 1 of the module
/// docs).
fn code_map_sources() -> BTreeSet<String> {
    let root = root();
    let mut files = Vec::new();
    for dir in [
        "src",
        "compiler/src",
        "vm/src",
        "vm/bytecode/src",
        "stdlib/src",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    for dir in ["tests", "vm/tests"] {
        let entries =
            std::fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("cannot read {dir}: {e}"));
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file() && p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    files.push(root.join("compiler/src/grammar.lalrpop"));
    let set: BTreeSet<String> = files.iter().map(|p| repo_path(p)).collect();
    assert!(
        set.len() > 40,
        "the code map check found too few files: {set:#?}"
    );
    set
}

/// The file names in a markdown text's inline code spans (step 2 of the
/// module docs), in order of appearance.
fn named_files(markdown: &str) -> Vec<String> {
    // Drop fenced code blocks: their backticks are not code spans.
    let mut prose = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    let path_like = |t: &str| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
    };
    // Code spans are the odd-numbered pieces between backticks; a span may
    // run over a line break.
    prose
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::trim)
        .filter(|t| (t.ends_with(".rs") || t.ends_with(".lalrpop")) && path_like(t))
        .map(|t| t.trim_start_matches("./").to_string())
        .collect()
}

#[test]
fn named_files_reads_code_spans_outside_fences() {
    let md = "A `vm/src/a.rs` and `b.lalrpop`, not `x.rs::f` nor\n\
              `tests/**/*.rs`; a span over a `line\nc.rs` break.\n\
              ```\n`fenced/d.rs`\n```\n`src/e.rs`\n";
    // `x.rs::f` is not a file name, the glob and the span holding a line
    // break are not path-like, and the fenced name is not a code span.
    assert_eq!(named_files(md), ["vm/src/a.rs", "b.lalrpop", "src/e.rs"]);
}

#[test]
fn code_map_names_every_source_file() {
    let root = root();
    let text =
        std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md is readable");
    let named: BTreeSet<String> = named_files(&text).into_iter().collect();
    let missing_files: Vec<&String> = named
        .iter()
        .filter(|p| !root.join(p.as_str()).is_file())
        .collect();
    let unnamed: Vec<String> = code_map_sources()
        .into_iter()
        .filter(|p| !named.contains(p))
        .collect();
    let mut report = String::new();
    if !missing_files.is_empty() {
        report.push_str(&format!(
            "ARCHITECTURE.md names files that do not exist (name files by \
             their path from the repository root, e.g. `vm/src/gc/mod.rs`): \
             {missing_files:#?}\n"
        ));
    }
    if !unnamed.is_empty() {
        report.push_str(&format!(
            "source files that ARCHITECTURE.md's code map does not name: \
             {unnamed:#?}\n"
        ));
    }
    assert!(report.is_empty(), "{report}");
}

#[test]
fn no_references_outside_the_repository() {
    // Spelled in pieces so that this file does not match itself.
    let needles = [
        concat!("../", "shared"),
        concat!("SPEC", ".md"),
        concat!("DESIGN", ".md"),
        concat!("SPEC", " §"),
        concat!("DESIGN", " §"),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = sources();
    for doc in [
        "README.md",
        "ARCHITECTURE.md",
        "tests/corpus/README.md",
        "compiler/src/grammar.lalrpop",
    ] {
        files.push(root.join(doc));
    }
    if let Ok(entries) = std::fs::read_dir(root.join("docs")) {
        files.extend(entries.flatten().map(|e| e.path()));
    }
    let mut bad = Vec::new();
    for p in files {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            if let Some(n) = needles.iter().find(|n| line.contains(*n)) {
                bad.push(format!("{}:{}: {n}", p.display(), i + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "references to documents outside the repository: {bad:#?}"
    );
}
