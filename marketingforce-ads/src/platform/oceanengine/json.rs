//! Exact JSON on the wire, without a float in sight.
//!
//! `serde_json` (without its workspace-wide `arbitrary_precision` feature, which would change
//! every crate's number handling) reads a JSON number with a fraction into an `f64`, and
//! `123.45` as a binary float is not 123.45. Ocean Engine sends money as JSON numbers in yuan
//! (`"stat_cost": 123.45`), so this module works on the text instead:
//!
//! - [`rewrite`] walks a document once and re-emits it compactly, quoting every number literal
//!   (`123.45` → `"123.45"`) so that `serde_json` keeps its exact text, and optionally replacing
//!   the values of named members (`access_token`, `secret`, …) with `"REDACTED"`;
//! - [`members`] returns the raw text of each top-level member, so a fixture line can hand back a
//!   response body byte for byte;
//! - [`Out`] builds request bodies whose numbers are written from decimal strings.
//!
//! The walker validates the JSON grammar as it goes (strings, escapes, number syntax, nesting
//! depth) and reports the byte offset of the first error; it never panics on bad input.

use std::fmt;

/// Deepest nesting the walker accepts (the platform's documents are a few levels deep).
const MAX_DEPTH: usize = 64;

/// Why a document is not JSON, with the byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What was wrong.
    pub reason: &'static str,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for SyntaxError {}

/// What [`rewrite`] does besides compacting.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rewrite<'a> {
    /// Quote every number literal, keeping its exact text.
    pub quote_numbers: bool,
    /// Replace the value of every object member with one of these names by `"REDACTED"`.
    pub redact: &'a [&'a str],
}

/// Re-emit `text` compactly with the changes `how` asks for.
///
/// # Errors
/// A [`SyntaxError`] for text that is not one JSON value.
pub fn rewrite(text: &str, how: Rewrite<'_>) -> Result<String, SyntaxError> {
    let mut walker = Walker::new(text);
    let mut out = String::with_capacity(text.len() + 16);
    walker.ws();
    walker.value(&mut out, how, 0)?;
    walker.ws();
    walker.end()?;
    Ok(out)
}

/// The raw text of each member of a top-level object, in document order.
///
/// # Errors
/// A [`SyntaxError`] when `text` is not a JSON object.
pub fn members(text: &str) -> Result<Vec<(String, &str)>, SyntaxError> {
    let mut walker = Walker::new(text);
    let mut scratch = String::new();
    let mut found = Vec::new();
    walker.ws();
    walker.expect(b'{', "expected an object")?;
    walker.ws();
    if walker.peek() == Some(b'}') {
        walker.i += 1;
    } else {
        loop {
            walker.ws();
            let key = walker.key()?;
            walker.ws();
            walker.expect(b':', "expected ':'")?;
            walker.ws();
            let start = walker.i;
            scratch.clear();
            walker.value(&mut scratch, Rewrite::default(), 1)?;
            found.push((key, &text[start..walker.i]));
            walker.ws();
            match walker.next_byte() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => return Err(walker.error("expected ',' or '}'")),
            }
        }
    }
    walker.ws();
    walker.end()?;
    Ok(found)
}

struct Walker<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Walker<'a> {
    fn new(text: &'a str) -> Walker<'a> {
        Walker {
            text,
            b: text.as_bytes(),
            i: 0,
        }
    }

    fn error(&self, reason: &'static str) -> SyntaxError {
        SyntaxError {
            offset: self.i,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let c = self.peek();
        if c.is_some() {
            self.i += 1;
        }
        c
    }

    fn expect(&mut self, c: u8, reason: &'static str) -> Result<(), SyntaxError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(reason))
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn end(&self) -> Result<(), SyntaxError> {
        if self.i == self.b.len() {
            Ok(())
        } else {
            Err(self.error("trailing characters after the document"))
        }
    }

    fn value(
        &mut self,
        out: &mut String,
        how: Rewrite<'_>,
        depth: usize,
    ) -> Result<(), SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        match self.peek() {
            Some(b'{') => self.object(out, how, depth),
            Some(b'[') => self.array(out, how, depth),
            Some(b'"') => {
                let (start, end) = self.string()?;
                out.push_str(&self.text[start..end]);
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => {
                let (start, end) = self.number()?;
                if how.quote_numbers {
                    out.push('"');
                    out.push_str(&self.text[start..end]);
                    out.push('"');
                } else {
                    out.push_str(&self.text[start..end]);
                }
                Ok(())
            }
            Some(b't') => self.literal("true", out),
            Some(b'f') => self.literal("false", out),
            Some(b'n') => self.literal("null", out),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end of the document")),
        }
    }

    fn literal(&mut self, word: &'static str, out: &mut String) -> Result<(), SyntaxError> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            out.push_str(word);
            Ok(())
        } else {
            Err(self.error("unknown literal"))
        }
    }

    fn object(
        &mut self,
        out: &mut String,
        how: Rewrite<'_>,
        depth: usize,
    ) -> Result<(), SyntaxError> {
        self.i += 1;
        out.push('{');
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            out.push('}');
            return Ok(());
        }
        loop {
            self.ws();
            let key_start = self.i;
            let key = self.key()?;
            out.push_str(&self.text[key_start..self.i]);
            self.ws();
            self.expect(b':', "expected ':'")?;
            out.push(':');
            self.ws();
            if how.redact.contains(&key.as_str()) {
                let mut discarded = String::new();
                self.value(&mut discarded, Rewrite::default(), depth + 1)?;
                out.push_str("\"REDACTED\"");
            } else {
                self.value(out, how, depth + 1)?;
            }
            self.ws();
            match self.next_byte() {
                Some(b',') => out.push(','),
                Some(b'}') => {
                    out.push('}');
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(
        &mut self,
        out: &mut String,
        how: Rewrite<'_>,
        depth: usize,
    ) -> Result<(), SyntaxError> {
        self.i += 1;
        out.push('[');
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            out.push(']');
            return Ok(());
        }
        loop {
            self.ws();
            self.value(out, how, depth + 1)?;
            self.ws();
            match self.next_byte() {
                Some(b',') => out.push(','),
                Some(b']') => {
                    out.push(']');
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or ']' in an array")),
            }
        }
    }

    /// An object key, decoded (escapes resolved by `serde_json`).
    fn key(&mut self) -> Result<String, SyntaxError> {
        if self.peek() != Some(b'"') {
            return Err(self.error("expected a string key"));
        }
        let (start, end) = self.string()?;
        serde_json::from_str(&self.text[start..end]).map_err(|_| SyntaxError {
            offset: start,
            reason: "invalid string key",
        })
    }

    /// The span of a string literal, quotes included.
    fn string(&mut self) -> Result<(usize, usize), SyntaxError> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.next_byte() {
                Some(b'"') => return Ok((start, self.i)),
                Some(b'\\') => match self.next_byte() {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                    Some(b'u') => {
                        for _ in 0..4 {
                            match self.next_byte() {
                                Some(c) if c.is_ascii_hexdigit() => {}
                                _ => return Err(self.error("bad \\u escape")),
                            }
                        }
                    }
                    _ => return Err(self.error("bad escape")),
                },
                Some(c) if c < 0x20 => return Err(self.error("control character in a string")),
                Some(_) => {}
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    /// The span of a number literal: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<(usize, usize), SyntaxError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("bad number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("bad number: no digit after '.'"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("bad number: no exponent digits"));
            }
            self.digits();
        }
        Ok((start, self.i))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }
}

/// A request body built without floats: numbers are written from exact decimal text.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// A string.
    Str(String),
    /// A number, written as this literal (built only from integers and decimals).
    Num(String),
    /// An array.
    Arr(Vec<Out>),
    /// An object, members in order.
    Obj(Vec<(String, Out)>),
    /// A value taken as is from configuration.
    Value(serde_json::Value),
}

impl Out {
    /// An object from `(name, value)` pairs.
    pub fn obj<const N: usize>(pairs: [(&str, Out); N]) -> Out {
        Out::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// A string.
    pub fn str(s: impl Into<String>) -> Out {
        Out::Str(s.into())
    }

    /// An integer.
    pub fn int(n: impl Into<i128>) -> Out {
        Out::Num(n.into().to_string())
    }

    /// An exact decimal (`rust_decimal` prints plain decimals, never an exponent).
    pub fn decimal(d: rust_decimal::Decimal) -> Out {
        Out::Num(d.to_string())
    }

    /// A numeric id the caller has checked is all digits (ids go out as JSON numbers, as the
    /// platform documents them; they may exceed 2^53, which is why they are never floats here).
    pub fn id(digits: &str) -> Out {
        Out::Num(digits.to_string())
    }

    /// An array of strings.
    pub fn strs<'s>(items: impl IntoIterator<Item = &'s str>) -> Out {
        Out::Arr(items.into_iter().map(Out::str).collect())
    }

    /// Add a member to an object (no-op on other values).
    #[must_use]
    pub fn with(mut self, name: &str, value: Out) -> Out {
        if let Out::Obj(members) = &mut self {
            members.retain(|(k, _)| k != name);
            members.push((name.to_string(), value));
        }
        self
    }

    /// Add members from configuration that the object does not set itself.
    #[must_use]
    pub fn with_defaults(mut self, defaults: &serde_json::Map<String, serde_json::Value>) -> Out {
        if let Out::Obj(members) = &mut self {
            for (k, v) in defaults {
                if !members.iter().any(|(name, _)| name == k) {
                    members.push((k.clone(), Out::Value(v.clone())));
                }
            }
        }
        self
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }

    fn write(&self, s: &mut String) {
        match self {
            Out::Str(v) => s.push_str(&quote(v)),
            Out::Num(n) => s.push_str(n),
            Out::Arr(items) => {
                s.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    item.write(s);
                }
                s.push(']');
            }
            Out::Obj(members) => {
                s.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str(&quote(k));
                    s.push(':');
                    v.write(s);
                }
                s.push('}');
            }
            Out::Value(v) => s.push_str(&v.to_string()),
        }
    }
}

/// A JSON string literal.
pub fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(text: &str) -> String {
        rewrite(
            text,
            Rewrite {
                quote_numbers: true,
                ..Rewrite::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn numbers_keep_their_exact_text() {
        assert_eq!(
            quoted(r#"{"a": 123.45, "b": [0, -1e-7, 0.30000000000000004], "c": "x\"1.5"}"#),
            r#"{"a":"123.45","b":["0","-1e-7","0.30000000000000004"],"c":"x\"1.5"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&quoted("7160000000000000123")).unwrap();
        assert_eq!(v, serde_json::json!("7160000000000000123"));
    }

    #[test]
    fn redaction_replaces_whole_values_at_any_depth() {
        let out = rewrite(
            r#"{"data":{"access_token":"at-1","list":[{"refresh_token":{"x":1}}]},"n":1}"#,
            Rewrite {
                quote_numbers: false,
                redact: &["access_token", "refresh_token"],
            },
        )
        .unwrap();
        assert_eq!(
            out,
            r#"{"data":{"access_token":"REDACTED","list":[{"refresh_token":"REDACTED"}]},"n":1}"#
        );
    }

    #[test]
    fn bad_documents_name_the_offset() {
        for bad in [
            "",
            "{",
            "{\"a\" 1}",
            "[1,]",
            "01",
            "1.",
            "-",
            "1e",
            "\"\\x\"",
            "{\"a\":1} x",
            "nul",
            "\"\u{1}\"",
            "{1:2}",
        ] {
            let e = rewrite(bad, Rewrite::default()).unwrap_err();
            assert!(e.offset <= bad.len(), "{bad:?}: {e}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(
            rewrite(&deep, Rewrite::default()).unwrap_err().reason,
            "nested too deeply"
        );
    }

    #[test]
    fn members_return_raw_spans() {
        let m =
            members(r#" {"request": {"a": 1.10}, "response" : {"body": [1, 2.50]} } "#).unwrap();
        assert_eq!(m[0], ("request".to_string(), r#"{"a": 1.10}"#));
        assert_eq!(m[1], ("response".to_string(), r#"{"body": [1, 2.50]}"#));
        assert!(members("[1]").is_err());
        assert!(members("{}").unwrap().is_empty());
    }

    #[test]
    fn out_writes_exact_numbers_and_escaped_strings() {
        let body = Out::obj([
            ("budget", Out::decimal("300.10".parse().unwrap())),
            ("id", Out::id("7160000000000000123")),
            ("name", Out::str("春季\"上新\"")),
            ("list", Out::strs(["a", "b"])),
        ])
        .with("none", Out::Value(serde_json::Value::Null));
        assert_eq!(
            body.to_json(),
            r#"{"budget":300.10,"id":7160000000000000123,"name":"春季\"上新\"","list":["a","b"],"none":null}"#
        );
    }
}
