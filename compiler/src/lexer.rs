//! The scanner: source text in, a vector of positioned tokens out.
//!
//! The token kinds are derived with logos. On top of the derived DFA this
//! module adds what clox's scanner does by hand:
//!
//! 1. Strings are scanned by a callback, so they may span lines, their
//!    escapes (`\n \t \r \" \\ \0`, `docs/language.md`) are decoded, and the two ways
//!    a string can be wrong (`Unterminated string.`, `Invalid escape
//!    sequence.`) become error tokens instead of aborting the scan.
//! 2. Every input byte sequence that no rule matches becomes an error token
//!    with the message `Unexpected character.`.
//! 3. Each token gets its 1-based line. clox stamps a token with the line
//!    the scanner is on when the token *ends*, so a string spanning lines
//!    carries the line of its closing quote, an unterminated string the
//!    line of the end of input. An invalid escape is attributed to the line
//!    of its backslash, which is where a reader has to look.
//!
//! [`tokenize`] never fails: errors are tokens ([`Tok::Error`]) so that the
//! parser can report them in order, exactly once, honouring panic mode the
//! way clox's `advance` loop does. The final token is always [`Tok::Eof`].
//!
//! Invariants: tokens are in source order and do not overlap; every token's
//! `start < end` except `Eof`, whose span is empty and sits at the end.

use logos::Logos;

/// Why a stretch of input is not a valid token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LexError {
    /// A character that starts no token.
    #[default]
    UnexpectedChar,
    /// A string literal without its closing quote.
    UnterminatedString,
    /// A string literal with a backslash sequence other than the six escapes; the
    /// payload is the byte offset of the backslash.
    InvalidEscape(usize),
}

impl LexError {
    /// The scanner message clox (and Skein, for escapes) prints for this error.
    pub fn message(self) -> &'static str {
        match self {
            LexError::UnexpectedChar => "Unexpected character.",
            LexError::UnterminatedString => "Unterminated string.",
            LexError::InvalidEscape(_) => "Invalid escape sequence.",
        }
    }
}

/// A token kind with its payload.
#[derive(Logos, Clone, Debug, PartialEq)]
// clox skips exactly these four whitespace characters; anything else
// (a form feed, a non-breaking space) is an unexpected character.
#[logos(skip r"[ \t\r\n]+")]
#[logos(skip(r"//[^\n]*", allow_greedy = true))]
#[logos(error = LexError)]
pub enum Tok<'s> {
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token(".")]
    Dot,
    #[token("-")]
    Minus,
    #[token("+")]
    Plus,
    #[token(";")]
    Semicolon,
    #[token("/")]
    Slash,
    #[token("*")]
    Star,
    #[token("%")]
    Percent,
    #[token("!")]
    Bang,
    #[token("!=")]
    BangEqual,
    #[token("=")]
    Equal,
    #[token("==")]
    EqualEqual,
    #[token(">")]
    Greater,
    #[token(">=")]
    GreaterEqual,
    #[token("<")]
    Less,
    #[token("<=")]
    LessEqual,
    /// `<-`: send (infix, statement level) or receive (prefix).
    #[token("<-")]
    Arrow,
    #[token(":")]
    Colon,

    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'s str),
    /// The payload is the decoded text, without quotes.
    #[token("\"", scan_string)]
    Str(String),
    // Digits with an optional fraction always parse (overlong ones round,
    // or become infinity), so the fallback value is never used.
    #[regex(r"[0-9]+(\.[0-9]+)?", |lex| lex.slice().parse::<f64>().unwrap_or(f64::NAN))]
    Number(f64),

    #[token("and")]
    And,
    #[token("class")]
    Class,
    #[token("else")]
    Else,
    #[token("false")]
    False,
    #[token("for")]
    For,
    #[token("fun")]
    Fun,
    #[token("if")]
    If,
    #[token("nil")]
    Nil,
    #[token("or")]
    Or,
    #[token("print")]
    Print,
    #[token("return")]
    Return,
    #[token("super")]
    Super,
    #[token("this")]
    This,
    #[token("true")]
    True,
    #[token("var")]
    Var,
    #[token("while")]
    While,
    #[token("go")]
    Go,
    #[token("select")]
    Select,
    #[token("case")]
    Case,
    #[token("default")]
    Default,
    #[token("in")]
    In,
    #[token("break")]
    Break,
    #[token("continue")]
    Continue,

    /// A scanner error; never produced by the derived DFA itself, only by
    /// [`tokenize`] when logos reports an error.
    Error(LexError),
    /// End of input; [`tokenize`] appends exactly one.
    Eof,
}

/// One token with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Token<'s> {
    pub tok: Tok<'s>,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// 1-based line, as clox attributes it (see the module notes).
    pub line: u32,
    /// The source text of the token (empty for `Eof`).
    pub lexeme: &'s str,
}

/// Scans all of `src`. The result always ends with one [`Tok::Eof`].
pub fn tokenize(src: &str) -> Vec<Token<'_>> {
    let lines = LineTable::new(src);
    let mut out = Vec::new();
    let mut lex = Tok::lexer(src);
    while let Some(result) = lex.next() {
        let span = lex.span();
        let lexeme = &src[span.clone()];
        let (tok, line) = match result {
            Ok(tok) => (
                tok,
                lines.line_of(span.end.saturating_sub(1).max(span.start)),
            ),
            Err(LexError::InvalidEscape(at)) => {
                (Tok::Error(LexError::InvalidEscape(at)), lines.line_of(at))
            }
            // The scan of an unterminated string ran to the end of input,
            // and clox reports it on the line it stopped at.
            Err(LexError::UnterminatedString) => (
                Tok::Error(LexError::UnterminatedString),
                lines.line_of(src.len()),
            ),
            Err(e) => (Tok::Error(e), lines.line_of(span.start)),
        };
        out.push(Token {
            tok,
            start: span.start,
            end: span.end,
            line,
            lexeme,
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
        line: lines.line_of(src.len()),
        lexeme: "",
    });
    out
}

/// Maps byte offsets to 1-based line numbers.
pub struct LineTable {
    /// Offsets of every `\n` in the source, ascending.
    newlines: Vec<usize>,
}

impl LineTable {
    /// Indexes the newlines of `src`.
    pub fn new(src: &str) -> LineTable {
        LineTable {
            newlines: src
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        }
    }

    /// The line that byte `offset` is on: one more than the number of
    /// newlines strictly before it.
    pub fn line_of(&self, offset: usize) -> u32 {
        let before = self.newlines.partition_point(|&nl| nl < offset);
        u32::try_from(before + 1).unwrap_or(u32::MAX)
    }
}

/// Scans the rest of a string literal after its opening quote, decoding
/// escapes. On an invalid escape the scan still runs to the closing quote,
/// so the string's remainder is not mistaken for code.
fn scan_string<'s>(lex: &mut logos::Lexer<'s, Tok<'s>>) -> Result<String, LexError> {
    let rest = lex.remainder();
    let base = lex.span().end;
    let mut text = String::new();
    let mut bad_escape = None;
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                lex.bump(i + 1);
                return match bad_escape {
                    Some(at) => Err(LexError::InvalidEscape(at)),
                    None => Ok(text),
                };
            }
            '\\' => {
                let decoded = match chars.next() {
                    Some((_, 'n')) => '\n',
                    Some((_, 't')) => '\t',
                    Some((_, 'r')) => '\r',
                    Some((_, '"')) => '"',
                    Some((_, '\\')) => '\\',
                    Some((_, '0')) => '\0',
                    Some(_) => {
                        bad_escape.get_or_insert(base + i);
                        continue;
                    }
                    None => break,
                };
                text.push(decoded);
            }
            _ => text.push(c),
        }
    }
    lex.bump(rest.len());
    Err(LexError::UnterminatedString)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok<'_>> {
        tokenize(src).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn arrow_is_maximal_munch() {
        assert_eq!(
            kinds("a<-b a < -b"),
            vec![
                Tok::Ident("a"),
                Tok::Arrow,
                Tok::Ident("b"),
                Tok::Ident("a"),
                Tok::Less,
                Tok::Minus,
                Tok::Ident("b"),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn numbers_have_no_leading_or_trailing_dot() {
        assert_eq!(
            kinds("1.5 2. .3"),
            vec![
                Tok::Number(1.5),
                Tok::Number(2.0),
                Tok::Dot,
                Tok::Dot,
                Tok::Number(3.0),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn keywords_and_identifiers() {
        assert_eq!(
            kinds("select selector go gox in"),
            vec![
                Tok::Select,
                Tok::Ident("selector"),
                Tok::Go,
                Tok::Ident("gox"),
                Tok::In,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn strings_decode_escapes_and_span_lines() {
        let toks = tokenize("\"a\\n\\t\\\"\\\\\\0b\"\n\"x\ny\" z");
        assert_eq!(toks[0].tok, Tok::Str("a\n\t\"\\\0b".to_string()));
        assert_eq!(toks[0].line, 1);
        assert_eq!(toks[1].tok, Tok::Str("x\ny".to_string()));
        assert_eq!(toks[1].line, 3);
        assert_eq!(toks[1].lexeme, "\"x\ny\"");
        assert_eq!(toks[2].line, 3);
    }

    #[test]
    fn scanner_errors_are_tokens() {
        let toks = tokenize("a | \"b\\q\" c\n\"open\n");
        assert_eq!(toks[1].tok, Tok::Error(LexError::UnexpectedChar));
        assert_eq!(toks[2].tok, Tok::Error(LexError::InvalidEscape(6)));
        assert_eq!(toks[3].tok, Tok::Ident("c"));
        assert_eq!(toks[4].tok, Tok::Error(LexError::UnterminatedString));
        assert_eq!(toks[4].line, 3);
        assert_eq!(toks[5].tok, Tok::Eof);
        assert_eq!(toks[5].line, 3);
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(
            kinds("1 // two\n3"),
            vec![Tok::Number(1.0), Tok::Number(3.0), Tok::Eof]
        );
    }
}
