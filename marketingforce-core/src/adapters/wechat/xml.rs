//! The small XML subset WeChat and WeCom callbacks use: nested elements with text or CDATA,
//! no namespaces, attributes ignored, no DTDs.
//!
//! ```
//! use marketingforce_core::adapters::wechat::xml::{self, XmlWriter};
//!
//! let doc = xml::parse("<xml><Event><![CDATA[PUBLISHJOBFINISH]]></Event>\
//!     <PublishEventInfo><publish_id>2247483800</publish_id></PublishEventInfo></xml>").unwrap();
//! assert_eq!(doc.text_of("Event"), Some("PUBLISHJOBFINISH"));
//! assert_eq!(doc.path(&["PublishEventInfo", "publish_id"]).unwrap().text, "2247483800");
//!
//! let mut w = XmlWriter::new();
//! w.cdata("Encrypt", "a]]>b").number("TimeStamp", 1_700_000_000);
//! assert_eq!(xml::parse(&w.finish()).unwrap().text_of("Encrypt"), Some("a]]>b"));
//! ```

use crate::error::{Error, Result};

/// Largest document accepted (callbacks are a few kilobytes).
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 16;

/// An element: its name, its text (concatenated, entities decoded, surrounding whitespace kept
/// as sent) and its child elements in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XmlElement {
    /// Tag name.
    pub name: String,
    /// Text and CDATA directly inside the element.
    pub text: String,
    /// Child elements.
    pub children: Vec<XmlElement>,
}

impl XmlElement {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&XmlElement> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a XmlElement> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// The element reached by following child names.
    pub fn path(&self, names: &[&str]) -> Option<&XmlElement> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }
}

fn bad(reason: impl Into<String>) -> Error {
    Error::validation("xml", reason)
}

/// Parse a document and return its root element.
///
/// # Errors
/// A validation error on `xml` saying what is malformed (unclosed or mismatched tags, a DTD,
/// too deep, too large, text outside the root).
pub fn parse(input: &str) -> Result<XmlElement> {
    if input.len() > MAX_DOCUMENT_BYTES {
        return Err(bad(format!(
            "document of {} bytes exceeds {MAX_DOCUMENT_BYTES}",
            input.len()
        )));
    }
    let mut p = Parser { s: input, pos: 0 };
    p.skip_misc()?;
    let root = p.element(0)?;
    p.skip_misc()?;
    if p.pos != p.s.len() {
        return Err(bad("content after the root element"));
    }
    Ok(root)
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.s.len() - trimmed.len();
    }

    /// Whitespace, the XML declaration, processing instructions and comments.
    fn skip_misc(&mut self) -> Result<()> {
        loop {
            self.skip_ws();
            let r = self.rest();
            if r.starts_with("<?") {
                let end = r.find("?>").ok_or_else(|| bad("unclosed declaration"))?;
                self.pos += end + 2;
            } else if r.starts_with("<!--") {
                let end = r.find("-->").ok_or_else(|| bad("unclosed comment"))?;
                self.pos += end + 3;
            } else if r.starts_with("<!") && !r.starts_with("<![CDATA[") {
                return Err(bad("document type declarations are not accepted"));
            } else {
                return Ok(());
            }
        }
    }

    fn name(&mut self) -> Result<String> {
        let r = self.rest();
        let len = r
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(r.len());
        if len == 0 {
            return Err(bad("an element without a name"));
        }
        let name = &r[..len];
        if name
            .chars()
            .any(|c| matches!(c, '<' | '&' | '"' | '\'' | '='))
        {
            return Err(bad("an element name with markup characters"));
        }
        self.pos += len;
        Ok(name.to_string())
    }

    fn element(&mut self, depth: usize) -> Result<XmlElement> {
        if depth >= MAX_DEPTH {
            return Err(bad(format!("nesting deeper than {MAX_DEPTH}")));
        }
        if !self.rest().starts_with('<') {
            return Err(bad("expected an element"));
        }
        self.pos += 1;
        let name = self.name()?;
        // Attributes are skipped (quoted values may hold '>').
        let mut quote: Option<char> = None;
        let mut self_closing = false;
        let mut consumed = None;
        for (i, c) in self.rest().char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '>') => {
                    self_closing = self.rest()[..i].trim_end().ends_with('/');
                    consumed = Some(i + 1);
                    break;
                }
                (None, '<') => return Err(bad(format!("malformed start tag <{name}>"))),
                (None, _) => {}
            }
        }
        self.pos += consumed.ok_or_else(|| bad(format!("unclosed start tag <{name}>")))?;
        let mut el = XmlElement {
            name,
            ..XmlElement::default()
        };
        if self_closing {
            return Ok(el);
        }
        loop {
            let r = self.rest();
            if r.is_empty() {
                return Err(bad(format!("<{}> is never closed", el.name)));
            }
            if let Some(after) = r.strip_prefix("<![CDATA[") {
                let end = after.find("]]>").ok_or_else(|| bad("unclosed CDATA"))?;
                el.text.push_str(&after[..end]);
                self.pos += 9 + end + 3;
            } else if r.starts_with("<!--") {
                let end = r.find("-->").ok_or_else(|| bad("unclosed comment"))?;
                self.pos += end + 3;
            } else if let Some(after) = r.strip_prefix("</") {
                let end = after
                    .find('>')
                    .ok_or_else(|| bad(format!("unclosed end tag of <{}>", el.name)))?;
                if after[..end].trim() != el.name {
                    return Err(bad(format!(
                        "<{}> closed by </{}>",
                        el.name,
                        after[..end].trim()
                    )));
                }
                self.pos += 2 + end + 1;
                return Ok(el);
            } else if r.starts_with('<') {
                let child = self.element(depth + 1)?;
                el.children.push(child);
            } else {
                let end = r.find('<').unwrap_or(r.len());
                el.text.push_str(&decode_entities(&r[..end])?);
                self.pos += end;
            }
        }
    }
}

/// Decode the five predefined entities and numeric character references.
fn decode_entities(s: &str) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after
            .find(';')
            .filter(|&e| e <= 10)
            .ok_or_else(|| bad("an unterminated entity"))?;
        let entity = &after[..end];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| bad(format!("unknown entity &{entity};")))?
            }
        };
        out.push(c);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Writes flat `<xml>` documents (passive replies, test fakes).
#[derive(Debug, Clone, Default)]
pub struct XmlWriter {
    body: String,
}

impl XmlWriter {
    /// An empty document.
    pub fn new() -> XmlWriter {
        XmlWriter::default()
    }

    /// A text element, as CDATA (a `]]>` inside is split across sections).
    pub fn cdata(&mut self, name: &str, value: &str) -> &mut XmlWriter {
        self.body.push('<');
        self.body.push_str(name);
        self.body.push_str("><![CDATA[");
        self.body.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
        self.body.push_str("]]></");
        self.body.push_str(name);
        self.body.push('>');
        self
    }

    /// A numeric element.
    pub fn number(&mut self, name: &str, value: i64) -> &mut XmlWriter {
        self.body.push_str(&format!("<{name}>{value}</{name}>"));
        self
    }

    /// A nested element written by `inner`.
    pub fn nested(&mut self, name: &str, inner: impl FnOnce(&mut XmlWriter)) -> &mut XmlWriter {
        let mut w = XmlWriter::new();
        inner(&mut w);
        self.body.push_str(&format!("<{name}>{}</{name}>", w.body));
        self
    }

    /// The document, wrapped in `<xml>`.
    pub fn finish(&self) -> String {
        format!("<xml>{}</xml>", self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_callback_shapes() {
        let doc = parse(
            "<?xml version=\"1.0\"?>\n<xml><ToUserName><![CDATA[ww1]]></ToUserName>\
             <CreateTime>1403610513</CreateTime><Note a=\"x>y\">a &amp; b &#x4e2d;</Note>\
             <Empty/><!-- c --></xml>",
        )
        .unwrap();
        assert_eq!(doc.text_of("ToUserName"), Some("ww1"));
        assert_eq!(doc.text_of("Note"), Some("a & b 中"));
        assert_eq!(doc.text_of("Empty"), Some(""));
    }

    #[test]
    fn malformed_documents_are_refused_with_a_reason() {
        for (doc, why) in [
            ("<xml><a></xml>", "closed by"),
            ("<xml>", "never closed"),
            ("<!DOCTYPE x><xml/>", "document type"),
            ("<xml/>trailing", "after the root"),
            ("<xml>&bogus;</xml>", "unknown entity"),
            ("", "expected an element"),
        ] {
            let e = parse(doc).unwrap_err().to_string();
            assert!(e.contains(why), "{doc}: {e}");
        }
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(parse(&deep).unwrap_err().to_string().contains("deeper"));
    }
}
