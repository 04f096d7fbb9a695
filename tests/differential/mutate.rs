//! Token-level mutations of a valid program: how the differential test
//! reaches clox's error reporting and panic-mode recovery.
//!
//! Each mutated program applies one to three edits to a generated
//! program's tokens: delete a token, duplicate one, swap two neighbours,
//! or insert or overwrite with a token drawn from clox's vocabulary (its
//! punctuation and keywords, an identifier of the program, a number, a
//! string). Only clox's tokens are ever introduced, so the result is a
//! program clox can scan; Skein's extra tokens (`%`, `[`, `:`, `<-`, its
//! keywords) never appear.

use fastrand::Rng;

/// clox's punctuation and keywords.
const VOCABULARY: [&str; 37] = [
    "(", ")", "{", "}", ",", ".", "-", "+", ";", "/", "*", "!", "!=", "=", "==", ">", ">=", "<",
    "<=", "and", "class", "else", "false", "for", "fun", "if", "nil", "or", "print", "return",
    "super", "this", "true", "var", "while", "init", "\"s\"",
];

/// Returns `tokens` with one to three random edits.
pub fn mutate(tokens: &[String], seed: u64) -> Vec<String> {
    let mut rng = Rng::with_seed(seed ^ 0x5bd1_e995);
    let mut out = tokens.to_vec();
    let edits = 1 + rng.usize(..3);
    for _ in 0..edits {
        if out.is_empty() {
            out.push(";".to_string());
        }
        let at = rng.usize(..out.len());
        match rng.u32(..6) {
            0 | 1 => {
                out.remove(at);
            }
            2 => {
                let t = out[at].clone();
                out.insert(at, t);
            }
            3 if at + 1 < out.len() => out.swap(at, at + 1),
            4 => {
                let t = new_token(&mut rng, tokens);
                out.insert(at, t);
            }
            _ => out[at] = new_token(&mut rng, tokens),
        }
    }
    out
}

fn new_token(rng: &mut Rng, program: &[String]) -> String {
    match rng.u32(..10) {
        0 => {
            let names: Vec<&String> = program
                .iter()
                .filter(|t| t.starts_with(|c: char| c.is_ascii_alphabetic()))
                .collect();
            match names.get(rng.usize(..names.len().max(1))) {
                Some(n) => (*n).clone(),
                None => "a".to_string(),
            }
        }
        1 => rng.u32(..10).to_string(),
        _ => VOCABULARY[rng.usize(..VOCABULARY.len())].to_string(),
    }
}
