//! Shrinking a program that clox and Skein disagree on.
//!
//! The program is a list of pieces (a token with the whitespace after it).
//! Delta debugging removes chunks of pieces, halving the chunk size down to
//! one piece, and keeps a removal whenever the smaller program still shows
//! a difference; it stops at a fixed point or after [`MAX_RUNS`] tries.
//! Whitespace stays with its token, so a difference in the line numbers
//! that an instruction gets survives the shrinking.

/// At most this many candidate programs are tried (each runs both
/// interpreters): enough to reduce a generated program to a few lines.
const MAX_RUNS: usize = 600;

/// Returns the smallest list of pieces found for which `differs` holds.
pub fn minimize(pieces: Vec<String>, mut differs: impl FnMut(&[String]) -> bool) -> Vec<String> {
    let mut best = pieces;
    let mut runs = 0;
    let mut chunk = best.len().div_ceil(2).max(1);
    loop {
        let mut removed = false;
        let mut at = 0;
        while at < best.len() && runs < MAX_RUNS {
            let end = (at + chunk).min(best.len());
            let candidate: Vec<String> = best[..at].iter().chain(&best[end..]).cloned().collect();
            runs += 1;
            if differs(&candidate) {
                best = candidate;
                removed = true;
            } else {
                at = end;
            }
        }
        if runs >= MAX_RUNS || (chunk == 1 && !removed) {
            return best;
        }
        if !removed {
            chunk = chunk.div_ceil(2);
        }
    }
}
