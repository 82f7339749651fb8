//! Foreign text made safe for a terminal. Names, descriptions, paths and server messages
//! come from the back ends and may hold escape sequences (a snapshot named
//! `"\e]0;TITLE\a\e[2J"` would retitle and clear the operator's terminal), newlines that
//! break a table's lines, or bidirectional controls (U+202E) that reverse what follows.
//! Every human-readable line the CLI writes goes through [`terminal`] (the `say!`/`tell!`
//! macros); JSON output is escaped by serde_json.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is: C0 controls (newline and tab included),
/// DEL, C1 controls, and the bidirectional embedding, override and isolate controls.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character a terminal would act on written out visibly, as Rust
/// writes it in a string: `\n`, `\t`, `\r`, `\x1b`, `\u{202e}`. Borrowed when nothing
/// had to change (the usual case), so it costs a scan.
pub fn terminal(text: &str) -> Cow<'_, str> {
    written_out(text, &[])
}

/// As [`terminal`], but newlines and tabs are kept: for a cell of a CSV document, whose
/// quoting holds a newline inside its cell.
pub fn lines(text: &str) -> Cow<'_, str> {
    written_out(text, &['\n', '\t'])
}

/// `text` with every unsafe character but those in `keep` written out.
fn written_out<'a>(text: &'a str, keep: &[char]) -> Cow<'a, str> {
    let unsafe_here = |c: char| unsafe_char(c) && !keep.contains(&c);
    if !text.chars().any(unsafe_here) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if keep.contains(&c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) && u32::from(c) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// JSON text (as serde_json writes it, C0 controls already escaped) with the characters a
/// terminal would still act on (DEL, C1, bidirectional controls) as `\uXXXX` escapes:
/// the same JSON value, safe to print.
pub fn json(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{:04x}", u);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// At most `max` characters of `text` (a server's message quoted in an error), with the
/// number left out said at the end.
pub fn capped(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((at, _)) => {
            let left = text[at..].chars().count();
            Cow::Owned(format!("{}… ({left} more characters)", &text[..at]))
        }
    }
}

/// `text` cut to `cols` cells with "…" (by display width), for a line rewritten in place
/// on a terminal: one that wraps leaves its first rows behind at each rewrite.
pub fn fit(text: &str, cols: usize) -> Cow<'_, str> {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    if text.width() <= cols {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > cols {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    Cow::Owned(out)
}

/// Write one line to stdout, made safe; a closed stdout (`| head -1`) ends the process
/// quietly with 0, never a panic.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!($($arg)*);
        if let Err(e) = writeln!(std::io::stdout(), "{}", $crate::safe::terminal(&line)) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

/// Write one JSON document to stdout on its line, made safe by [`json`]; a closed stdout
/// ends the process quietly.
#[macro_export]
macro_rules! say_json {
    ($value:expr) => {{
        use std::io::Write as _;
        let text = $value.to_string();
        if let Err(e) = writeln!(std::io::stdout(), "{}", $crate::safe::json(&text)) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

/// Write one line to stderr, made safe; a closed stderr is ignored, never a panic.
#[macro_export]
macro_rules! tell {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!($($arg)*);
        let _ = writeln!(std::io::stderr(), "{}", $crate::safe::terminal(&line));
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_line_is_fitted_to_the_terminal() {
        assert_eq!(fit("short", 80), "short");
        let long =
            "take pve/gitlab: running · saving VM state and RAM using storage 'local-lvm' (0s)";
        let cut = fit(long, 40);
        assert_eq!(unicode_width::UnicodeWidthStr::width(cut.as_ref()), 40);
        assert!(cut.ends_with('…') && long.starts_with(cut.trim_end_matches('…')));
        // A wide character takes two cells.
        assert_eq!(fit("日本語テキスト", 7), "日本語…");
    }

    #[test]
    fn escapes_reach_the_terminal_written_out() {
        let hostile = "a\u{1b}]0;TITLE\u{7}\u{1b}[2Jb\nc\u{202e}d\u{9b}e";
        assert_eq!(
            terminal(hostile),
            "a\\x1b]0;TITLE\\x07\\x1b[2Jb\\nc\\u{202e}d\\x9be"
        );
        assert!(matches!(terminal("web-01 ▶ été"), Cow::Borrowed(_)));
        // A CSV cell keeps its lines and tabs, nothing else.
        assert_eq!(lines("a\nb\tc\r\u{1b}[2J"), "a\nb\tc\\r\\x1b[2J");
    }

    #[test]
    fn json_stays_json_and_safe() {
        let v = serde_json::json!({"name": "a\u{1b}[2J\u{202e}b\u{7f}"});
        let text = v.to_string();
        let safe = json(&text);
        assert!(!safe.chars().any(unsafe_char), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn long_text_is_capped_with_the_count_left_out() {
        assert_eq!(capped("abcdef", 4), "abcd… (2 more characters)");
        assert_eq!(capped("abc", 4), "abc");
    }
}
