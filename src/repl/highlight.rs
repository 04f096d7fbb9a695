//! Syntax highlighting for the REPL's line editor: keywords, strings,
//! numbers and comments in colour, and the bracket at the cursor with its
//! partner in bold.
//!
//! Algorithm:
//! 1. [`scan`] splits the text (one line, or several for an entry recalled
//!    from history) into spans, by the lexer's rules but forgiving: a
//!    string runs to its closing quote (a backslash escapes the next
//!    character) or to the end of the text, a `//` comment to the end of
//!    its line, a number is `digits[.digits]`, a word is a keyword when it
//!    is one of [`KEYWORDS`]. Brackets inside strings and comments are
//!    text, not brackets.
//! 2. Brackets are paired with a stack; a closing bracket that does not
//!    match the innermost open one pairs with nothing.
//! 3. The bracket under the cursor, or else the one just before it, and
//!    its partner (when it has one) are marked.
//! 4. Each coloured span is wrapped in an SGR sequence and a reset. The
//!    text itself is unchanged, so its display width is too (rustyline
//!    lays the line out from the plain text).
//!
//! rustyline calls the highlighter only when colours are enabled: stdout
//! is a terminal and `NO_COLOR` is unset.

use super::KEYWORDS;

/// SGR colours, chosen from the basic 16 so that any terminal theme has
/// them.
const KEYWORD: &str = "\x1b[1;35m";
const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[33m";
const COMMENT: &str = "\x1b[90m";
const BRACKET: &str = "\x1b[1;4m";
const RESET: &str = "\x1b[0m";

/// What a span of the text is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Keyword,
    Str,
    Number,
    Comment,
    /// An opening or closing bracket outside strings and comments.
    Bracket,
    /// Anything else (names, operators, spaces).
    Plain,
}

/// A byte range of the text and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

/// Splits `text` into spans covering it entirely (step 1 of the module
/// docs).
pub fn scan(text: &str) -> Vec<Span> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let b = bytes[i];
        let kind = if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            Kind::Comment
        } else if b == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
            Kind::Str
        } else if b.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if bytes.get(i) == Some(&b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            Kind::Number
        } else if b.is_ascii_alphabetic() || b == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            if KEYWORDS.contains(&&text[start..i]) {
                Kind::Keyword
            } else {
                Kind::Plain
            }
        } else if matches!(b, b'(' | b')' | b'[' | b']' | b'{' | b'}') {
            i += 1;
            Kind::Bracket
        } else {
            // One character of anything else (whole, so spans end on
            // character boundaries).
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            Kind::Plain
        };
        spans.push(Span {
            start,
            end: i,
            kind,
        });
    }
    spans
}

/// The partner of the bracket at byte `at` in `text`, if `at` is a
/// bracket outside strings and comments and has one (step 2).
pub fn partner(spans: &[Span], text: &str, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut open: Vec<usize> = Vec::new();
    for s in spans.iter().filter(|s| s.kind == Kind::Bracket) {
        let b = bytes[s.start];
        if matches!(b, b'(' | b'[' | b'{') {
            open.push(s.start);
            continue;
        }
        let want = match b {
            b')' => b'(',
            b']' => b'[',
            _ => b'{',
        };
        match open.last() {
            Some(&o) if bytes[o] == want => {
                open.pop();
                if o == at {
                    return Some(s.start);
                }
                if s.start == at {
                    return Some(o);
                }
            }
            // A stray closing bracket: it pairs with nothing.
            _ => {}
        }
    }
    None
}

/// `text` with ANSI colours; when `cursor` is a byte position, the bracket
/// under it (or else just before it) and its partner are marked (steps 3
/// and 4).
pub fn highlight(text: &str, cursor: Option<usize>) -> String {
    let spans = scan(text);
    let is_bracket = |at: usize| {
        spans
            .iter()
            .any(|s| s.kind == Kind::Bracket && s.start == at)
    };
    let pair = cursor.and_then(|pos| {
        let candidates = [Some(pos), pos.checked_sub(1)];
        candidates
            .into_iter()
            .flatten()
            .filter(|&at| is_bracket(at))
            .find_map(|at| partner(&spans, text, at).map(|other| (at, other)))
    });
    let mut out = String::with_capacity(text.len() * 2);
    for s in &spans {
        let piece = &text[s.start..s.end];
        let colour = match s.kind {
            Kind::Bracket if pair.is_some_and(|(a, b)| s.start == a || s.start == b) => {
                Some(BRACKET)
            }
            Kind::Keyword => Some(KEYWORD),
            Kind::Str => Some(STRING),
            Kind::Number => Some(NUMBER),
            Kind::Comment => Some(COMMENT),
            Kind::Bracket | Kind::Plain => None,
        };
        match colour {
            Some(c) => {
                out.push_str(c);
                out.push_str(piece);
                out.push_str(RESET);
            }
            None => out.push_str(piece),
        }
    }
    out
}

/// `text` with every ANSI SGR sequence removed.
#[cfg(test)]
pub fn strip(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(&str, Kind)> {
        scan(text)
            .into_iter()
            .filter(|s| s.kind != Kind::Plain)
            .map(|s| (&text[s.start..s.end], s.kind))
            .collect()
    }

    #[test]
    fn scans_keywords_strings_numbers_comments_and_brackets() {
        assert_eq!(
            kinds("var x = \"a(\\\"b\" + 12.5; // done ("),
            [
                ("var", Kind::Keyword),
                ("\"a(\\\"b\"", Kind::Str),
                ("12.5", Kind::Number),
                ("// done (", Kind::Comment),
            ]
        );
        assert_eq!(
            kinds("if (nil) {}"),
            [
                ("if", Kind::Keyword),
                ("(", Kind::Bracket),
                ("nil", Kind::Keyword),
                (")", Kind::Bracket),
                ("{", Kind::Bracket),
                ("}", Kind::Bracket),
            ]
        );
        // Names that start like keywords, `1.` and an unterminated string.
        assert_eq!(
            kinds("printer ifx 1. \"open"),
            [("1", Kind::Number), ("\"open", Kind::Str)]
        );
        // Comments end at the line's end; the next line is code again.
        assert_eq!(
            kinds("// c\nnil"),
            [("// c", Kind::Comment), ("nil", Kind::Keyword)]
        );
    }

    #[test]
    fn highlighting_keeps_the_text() {
        for text in [
            "print \"é\" + 1; // ü",
            "fun f(a) { return [a]; }",
            "\"unterminated",
            "",
        ] {
            assert_eq!(strip(&highlight(text, Some(3))), text);
        }
        assert_eq!(
            highlight("print 1;", None),
            format!("{KEYWORD}print{RESET} {NUMBER}1{RESET};")
        );
        assert_eq!(
            highlight("\"s\" // c", None),
            format!("{STRING}\"s\"{RESET} {COMMENT}// c{RESET}")
        );
    }

    #[test]
    fn pairs_brackets_ignoring_strings_and_comments() {
        let text = "f(\")\", [1], {}) // )";
        let spans = scan(text);
        assert_eq!(partner(&spans, text, 1), Some(14));
        assert_eq!(partner(&spans, text, 14), Some(1));
        assert_eq!(partner(&spans, text, 7), Some(9));
        assert_eq!(partner(&spans, text, 12), Some(13));
        // A bracket inside the string is no bracket; nor is a stray one.
        assert_eq!(partner(&spans, text, 3), None);
        let stray = "(]";
        assert_eq!(partner(&scan(stray), stray, 0), None);
        let open = "((x)";
        assert_eq!(partner(&scan(open), open, 0), None);
        assert_eq!(partner(&scan(open), open, 1), Some(3));
    }

    #[test]
    fn marks_the_bracket_at_or_before_the_cursor_and_its_partner() {
        let text = "(a)";
        let marked = format!("{BRACKET}({RESET}a{BRACKET}){RESET}");
        // Under the cursor, just after it, and never without a cursor.
        assert_eq!(highlight(text, Some(0)), marked);
        assert_eq!(highlight(text, Some(3)), marked);
        assert_eq!(highlight(text, Some(2)), marked);
        assert_eq!(highlight(text, None), text);
        // A cursor next to nothing marks nothing.
        assert_eq!(highlight("(a) b", Some(5)), "(a) b");
    }
}
