//! Tidy checks over the source tree, in the spirit of rust-analyzer's tidy
//! test: every Rust file starts with a `//!` essay, every `unsafe` block is
//! preceded by a `// SAFETY:` comment, no file contains a `dbg` macro call
//! or an `ignore` / `should_panic` test attribute, and neither the sources
//! nor the documentation point at documents outside the repository (a user
//! has only the clone).

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
