//! Compile-time diagnostics in clox's format (`docs/language.md`, "Errors
//! and exit codes").
//!
//! A [`Diagnostic`] is data; its `Display` is exactly the line clox prints:
//! `[line N] Error at 'TOKEN': MESSAGE`, `[line N] Error at end: MESSAGE`, or
//! `[line N] Error: MESSAGE` for scanner errors. Diagnostics from every stage
//! (scanner, parser, resolver, code generator) are merged and sorted by
//! their position in the source before they are shown, so the output reads
//! in source order as clox's single pass would produce it.

use std::fmt;

/// Where an error is reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// At a token: its lexeme is quoted in the message.
    Token(String),
    /// At the end of the input.
    End,
    /// A scanner error: no location part.
    None,
}

/// One compile error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: u32,
    /// Byte offset in the source, used to order diagnostics.
    pub offset: usize,
    pub location: Location,
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at a token whose lexeme is `lexeme`.
    pub fn at_token(line: u32, offset: usize, lexeme: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            line,
            offset,
            location: Location::Token(lexeme.to_string()),
            message: message.into(),
        }
    }
    /// A diagnostic at the end of the input.
    pub fn at_end(line: u32, offset: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            line,
            offset,
            location: Location::End,
            message: message.into(),
        }
    }
    /// A scanner diagnostic (no location).
    pub fn scanner(line: u32, offset: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            line,
            offset,
            location: Location::None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::Token(t) => {
                write!(f, "[line {}] Error at '{}': {}", self.line, t, self.message)
            }
            Location::End => write!(f, "[line {}] Error at end: {}", self.line, self.message),
            Location::None => write!(f, "[line {}] Error: {}", self.line, self.message),
        }
    }
}
