//! Our article HTML, converted to what the Official Account editor accepts.
//!
//! WeChat keeps a limited set of tags, ignores `<style>` blocks and classes (only inline
//! styles survive), and shows only images hosted on its own servers. [`prepare`] therefore:
//!
//! - keeps an allowlist of tags (paragraphs, headings, emphasis, lists, quotes, code, tables,
//!   links, images), turns `div` into `section`, unwraps any other tag (its text stays);
//! - drops `script`, `style`, `iframe`, forms, media players and the like *with* their content,
//!   every `on…` event handler, `class` and `id`, and `javascript:` links;
//! - gives headings, paragraphs, quotes, code, tables and images WeChat-friendly inline styles
//!   (an author's own `style` wins, after dangerous values — `url(`, `expression`,
//!   `javascript:` — are removed);
//! - collects every image to rehost through `media/uploadimg` (data URIs and attachments named
//!   by `src`, `cid:` or `attachment:`), keeps images already on `mmbiz.qpic.cn`, and refuses
//!   others (an external URL would show as a broken image).
//!
//! ```
//! use marketingforce_content::distribution::wechat::html::prepare;
//!
//! let p = prepare(r#"<h2 onclick="x()">选型</h2><script>alert(1)</script><p class="a">正文 <img src="cid:chart.png"></p>"#,
//!     &[marketingforce_core::adapters::channel::MediaAttachment {
//!         media_type: "image/png".into(), name: "chart.png".into(),
//!         bytes: b"\x89PNG\r\n\x1a\n....".to_vec() }]).unwrap();
//! assert_eq!(p.images().len(), 1);
//! let html = p.render(&["http://mmbiz.qpic.cn/chart".to_string()]).unwrap();
//! assert!(html.starts_with("<h2 style=\""));
//! assert!(!html.contains("onclick") && !html.contains("alert") && !html.contains("class"));
//! assert!(html.contains(r#"<img src="http://mmbiz.qpic.cn/chart""#));
//! ```

use base64::Engine as _;
use marketingforce_core::adapters::channel::MediaAttachment;
use marketingforce_core::storage::Fingerprint;

use crate::error::{ContentError, Result};

/// Body images `media/uploadimg` accepts: JPEG or PNG under 1 MB.
pub const MAX_BODY_IMAGE_BYTES: usize = 1024 * 1024;
/// Article content must stay under 20,000 characters.
pub const MAX_CONTENT_CHARS: usize = 20_000;

/// An image of the body, to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyImage {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// `image/jpeg` or `image/png` (from the bytes, not the declared type).
    pub media_type: &'static str,
    /// A file name for the upload.
    pub filename: String,
    /// SHA-256 of the bytes (the same image is uploaded once).
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Html(String),
    /// An image to rehost: its index in `images` and the rest of its attributes.
    Image(usize, String),
}

/// A converted article, waiting for its images' WeChat URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pieces: Vec<Piece>,
    images: Vec<BodyImage>,
}

impl Prepared {
    /// The images to upload, in order of first appearance, each once.
    pub fn images(&self) -> &[BodyImage] {
        &self.images
    }

    /// The final HTML, with `urls[i]` the WeChat URL of `images()[i]`.
    ///
    /// # Errors
    /// A validation error on `urls` when one is missing, or on `body_html` when the content is
    /// longer than the platform accepts.
    pub fn render(&self, urls: &[String]) -> Result<String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Html(h) => out.push_str(h),
                Piece::Image(i, attrs) => {
                    let url = urls.get(*i).ok_or_else(|| {
                        ContentError::validation("urls", format!("no URL for image {i}"))
                    })?;
                    out.push_str(&format!("<img src=\"{}\"{attrs}>", escape_attr(url)));
                }
            }
        }
        let chars = out.chars().count();
        if chars >= MAX_CONTENT_CHARS {
            return Err(ContentError::validation(
                "body_html",
                format!(
                    "{chars} characters after conversion; WeChat takes fewer than {MAX_CONTENT_CHARS}"
                ),
            ));
        }
        Ok(out)
    }
}

/// Elements removed together with everything inside them.
const DROPPED: &[&str] = &[
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "noscript",
    "template", "form", "input", "button", "select", "textarea", "option", "svg", "math", "head",
    "title", "canvas", "audio", "video", "source", "track", "link", "meta", "base", "param",
];

/// Elements kept (`div` becomes `section`).
const KEPT: &[&str] = &[
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "b",
    "em",
    "i",
    "u",
    "s",
    "del",
    "sub",
    "sup",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "img",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "td",
    "th",
    "caption",
    "pre",
    "code",
    "span",
    "section",
    "figure",
    "figcaption",
];

const VOID: &[&str] = &["br", "hr", "img"];

fn default_style(tag: &str) -> &'static str {
    match tag {
        "h1" => "font-size:22px;font-weight:bold;line-height:1.4;margin:24px 0 12px;",
        "h2" => "font-size:20px;font-weight:bold;line-height:1.4;margin:22px 0 12px;",
        "h3" => "font-size:18px;font-weight:bold;line-height:1.4;margin:20px 0 10px;",
        "h4" | "h5" | "h6" => "font-size:16px;font-weight:bold;margin:16px 0 8px;",
        "p" => "margin:0 0 16px;line-height:1.75;",
        "blockquote" => {
            "margin:16px 0;padding:8px 16px;border-left:4px solid #d0d7de;color:#57606a;"
        }
        "pre" => "background:#f6f8fa;padding:12px;border-radius:4px;white-space:pre-wrap;",
        "code" => "font-family:Menlo,Consolas,monospace;font-size:14px;",
        "img" => "max-width:100%;height:auto;",
        "table" => "border-collapse:collapse;width:100%;margin:0 0 16px;",
        "td" | "th" => "border:1px solid #d0d7de;padding:6px 8px;",
        "ul" | "ol" => "padding-left:2em;margin:0 0 16px;",
        _ => "",
    }
}

/// Keep the safe declarations of an author's `style`.
fn clean_style(style: &str) -> String {
    let mut out = String::new();
    for decl in style.split(';') {
        let Some((prop, value)) = decl.split_once(':') else {
            continue;
        };
        let prop = prop.trim().to_ascii_lowercase();
        let value = value.trim();
        let lower = value.to_ascii_lowercase();
        let dangerous = ["url(", "expression", "javascript:", "@import", "behavior"]
            .iter()
            .any(|d| lower.contains(d))
            || value.contains(['<', '>', '"', '\\'])
            || !prop.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-')
            || matches!(prop.as_str(), "position" | "behavior" | "-moz-binding" | "");
        if !dangerous {
            out.push_str(&format!("{prop}:{value};"));
        }
    }
    out
}

fn escape_attr(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn decode_attr(v: &str) -> String {
    v.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Parse the attributes of a start tag (names lower-cased, values entity-decoded).
fn attributes(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        if start == i {
            break;
        }
        let name = s[start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let vs = i + 1;
                i = vs;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                value = decode_attr(&s[vs..i.min(b.len())]);
                i += 1;
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = decode_attr(&s[vs..i]);
            }
        }
        out.push((name, value));
    }
    out
}

fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else {
        None
    }
}

/// The media type of an image by its bytes (`image/jpeg` or `image/png`).
pub(crate) fn image_type(bytes: &[u8]) -> Option<&'static str> {
    sniff(bytes)
}

fn on_wechat_cdn(src: &str) -> bool {
    let rest = src
        .strip_prefix("https://")
        .or_else(|| src.strip_prefix("http://"))
        .unwrap_or("");
    let host = rest.split(['/', '?']).next().unwrap_or("");
    host == "mmbiz.qpic.cn" || host == "mmbiz.qlogo.cn"
}

struct Builder<'a> {
    media: &'a [MediaAttachment],
    pieces: Vec<Piece>,
    html: String,
    images: Vec<BodyImage>,
    stack: Vec<&'static str>,
    seen_images: usize,
}

impl Builder<'_> {
    fn flush(&mut self) {
        if !self.html.is_empty() {
            self.pieces
                .push(Piece::Html(std::mem::take(&mut self.html)));
        }
    }

    fn image_bytes(&self, src: &str, n: usize) -> Result<Vec<u8>> {
        let field = format!("body_html.img[{n}]");
        if let Some(data) = src.strip_prefix("data:") {
            let (meta, payload) = data
                .split_once(',')
                .ok_or_else(|| ContentError::validation(&field, "a data URI without data"))?;
            if !meta.ends_with(";base64") {
                return Err(ContentError::validation(&field, "data URIs must be base64"));
            }
            return base64::engine::general_purpose::STANDARD
                .decode(payload.trim())
                .map_err(|_| ContentError::validation(&field, "the data URI is not base64"));
        }
        let name = src
            .strip_prefix("cid:")
            .or_else(|| src.strip_prefix("attachment:"))
            .unwrap_or(src);
        self.media
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.bytes.clone())
            .ok_or_else(|| {
                let shown: String = src.chars().take(80).collect();
                ContentError::validation(
                    field,
                    format!(
                        "{shown:?} is neither a data URI nor an attached file: attach the image \
                         so it can be rehosted on WeChat (external images do not display)"
                    ),
                )
            })
    }

    fn image(&mut self, attrs: &[(String, String)]) -> Result<()> {
        let n = self.seen_images;
        self.seen_images += 1;
        let src = attrs
            .iter()
            .find(|(k, _)| k == "src")
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        let mut rest = format!(" style=\"{}\"", default_style("img"));
        if let Some((_, alt)) = attrs.iter().find(|(k, _)| k == "alt") {
            rest.push_str(&format!(" alt=\"{}\"", escape_attr(alt)));
        }
        if on_wechat_cdn(&src) {
            self.html
                .push_str(&format!("<img src=\"{}\"{rest}>", escape_attr(&src)));
            return Ok(());
        }
        let bytes = self.image_bytes(&src, n)?;
        let field = format!("body_html.img[{n}]");
        let media_type = sniff(&bytes).ok_or_else(|| {
            ContentError::validation(
                &field,
                "is not a JPEG or PNG (media/uploadimg takes only those)",
            )
        })?;
        if bytes.len() >= MAX_BODY_IMAGE_BYTES {
            return Err(ContentError::validation(
                field,
                format!(
                    "{} bytes; media/uploadimg takes images under 1 MB",
                    bytes.len()
                ),
            ));
        }
        let digest = Fingerprint::of_bytes(&bytes).as_str().to_string();
        let index = match self.images.iter().position(|i| i.digest == digest) {
            Some(i) => i,
            None => {
                let ext = if media_type == "image/png" {
                    "png"
                } else {
                    "jpg"
                };
                self.images.push(BodyImage {
                    filename: format!("body-{}.{ext}", &digest[..12]),
                    bytes,
                    media_type,
                    digest,
                });
                self.images.len() - 1
            }
        };
        self.flush();
        self.pieces.push(Piece::Image(index, rest));
        Ok(())
    }

    fn start(&mut self, raw_name: &str, attr_text: &str) -> Result<()> {
        let name = raw_name.to_ascii_lowercase();
        let tag: &'static str = match name.as_str() {
            "div" => "section",
            n => match KEPT.iter().find(|k| **k == n) {
                Some(k) => k,
                None => return Ok(()), // unwrapped
            },
        };
        let attrs = attributes(attr_text);
        if tag == "img" {
            return self.image(&attrs);
        }
        let mut out = format!("<{tag}");
        let mut style = default_style(tag).to_string();
        for (k, v) in &attrs {
            match k.as_str() {
                "style" => style.push_str(&clean_style(v)),
                "href" if tag == "a" => {
                    let v = v.trim();
                    let lower = v.to_ascii_lowercase();
                    if lower.starts_with("http://") || lower.starts_with("https://") {
                        out.push_str(&format!(" href=\"{}\"", escape_attr(v)));
                    }
                }
                "colspan" | "rowspan" if v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty() => {
                    out.push_str(&format!(" {k}=\"{v}\""));
                }
                "title" | "alt" => out.push_str(&format!(" {k}=\"{}\"", escape_attr(v))),
                _ => {} // event handlers, class, id, data-*, unknown
            }
        }
        if !style.is_empty() {
            out.push_str(&format!(" style=\"{}\"", escape_attr(&style)));
        }
        out.push('>');
        self.html.push_str(&out);
        if !VOID.contains(&tag) {
            self.stack.push(tag);
        }
        Ok(())
    }

    fn end(&mut self, raw_name: &str) {
        let name = raw_name.trim().to_ascii_lowercase();
        let tag = if name == "div" {
            "section"
        } else {
            name.as_str()
        };
        if let Some(pos) = self.stack.iter().rposition(|t| *t == tag) {
            while self.stack.len() > pos {
                if let Some(t) = self.stack.pop() {
                    self.html.push_str(&format!("</{t}>"));
                }
            }
        }
    }
}

/// Convert article HTML, resolving images against `media` (see the [module docs](self)).
///
/// # Errors
/// A validation error naming the image (`body_html.img[2]`) that cannot be rehosted: an
/// external URL, not JPEG or PNG, 1 MB or larger.
pub fn prepare(body_html: &str, media: &[MediaAttachment]) -> Result<Prepared> {
    let mut b = Builder {
        media,
        pieces: Vec::new(),
        html: String::new(),
        images: Vec::new(),
        stack: Vec::new(),
        seen_images: 0,
    };
    let s = body_html;
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let Some(lt) = rest.find('<') else {
            b.html.push_str(&rest.replace('>', "&gt;"));
            break;
        };
        b.html.push_str(&rest[..lt].replace('>', "&gt;"));
        i += lt;
        let rest = &s[i..];
        if let Some(after) = rest.strip_prefix("<!--") {
            i += 4 + after.find("-->").map_or(after.len(), |e| e + 3);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            i += rest.find('>').map_or(rest.len(), |e| e + 1);
            continue;
        }
        let is_end = rest.starts_with("</");
        let name_start = if is_end { 2 } else { 1 };
        let name_len = rest[name_start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len() - name_start);
        if name_len == 0 || !rest[name_start..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            b.html.push_str("&lt;");
            i += 1;
            continue;
        }
        let name = &rest[name_start..name_start + name_len];
        let Some(close) = tag_end(rest) else {
            // An unterminated tag: the rest is text.
            b.html
                .push_str(&rest.replace('<', "&lt;").replace('>', "&gt;"));
            break;
        };
        let inner = &rest[name_start + name_len..close];
        i += close + 1;
        let lower = name.to_ascii_lowercase();
        if is_end {
            b.end(&lower);
        } else if DROPPED.contains(&lower.as_str()) {
            if !inner.trim_end().ends_with('/') {
                i += skip_element(&s[i..], &lower);
            }
        } else {
            b.start(&lower, inner)?;
        }
    }
    while let Some(t) = b.stack.pop() {
        b.html.push_str(&format!("</{t}>"));
    }
    b.flush();
    Ok(Prepared {
        pieces: b.pieces,
        images: b.images,
    })
}

/// Index of the `>` closing the tag that starts `s` (quotes respected).
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Bytes to skip past the end of a dropped element named `name` (nested ones included).
fn skip_element(s: &str, name: &str) -> usize {
    let lower = s.to_ascii_lowercase();
    let open = format!("<{name}");
    let close = format!("</{name}");
    let mut depth = 1;
    let mut i = 0;
    while depth > 0 {
        let next_open = lower[i..].find(&open).map(|p| p + i);
        let Some(c) = lower[i..].find(&close).map(|p| p + i) else {
            return s.len();
        };
        match next_open {
            Some(o) if o < c => {
                depth += 1;
                i = o + open.len();
            }
            _ => {
                depth -= 1;
                i = c + close.len();
            }
        }
    }
    i + lower[i..].find('>').map_or(lower.len() - i, |e| e + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(html: &str) -> String {
        prepare(html, &[]).unwrap().render(&[]).unwrap()
    }

    #[test]
    fn dangerous_markup_is_removed() {
        let out = convert(
            "<div onmouseover=\"steal()\"><style>p{}</style><p style=\"color:red;background:url(x);position:fixed\">a</p>\
             <script type=x>document.cookie</script><iframe src=x><p>in</p></iframe>\
             <a href=\"javascript:alert(1)\">x</a><a href=\"https://example.com/?a=1&amp;b=2\">y</a></div>",
        );
        for bad in [
            "onmouseover",
            "steal",
            "script",
            "cookie",
            "iframe",
            "javascript",
            "url(",
            "position",
            "in</p>",
        ] {
            assert!(!out.contains(bad), "{bad} in {out}");
        }
        assert!(out.starts_with("<section>"), "{out}");
        assert!(out.contains("color:red;"), "{out}");
        assert!(
            out.contains("href=\"https://example.com/?a=1&amp;b=2\""),
            "{out}"
        );
        assert!(out.ends_with("</section>"), "{out}");
    }

    #[test]
    fn unknown_tags_are_unwrapped_and_unclosed_ones_closed() {
        let out = convert("<article><mark>重点</mark><p>未闭合 <b>粗体</article> 1 < 2");
        assert!(out.contains("重点"), "{out}");
        assert!(!out.contains("mark") && !out.contains("article"), "{out}");
        // Unclosed elements are closed at the end; a stray `<` in text is escaped.
        assert!(out.ends_with("<b>粗体 1 &lt; 2</b></p>"), "{out}");
    }

    #[test]
    fn images_are_collected_once_or_refused() {
        let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
        let data = format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&png)
        );
        let p = prepare(
            &format!(
                "<img src=\"{data}\"><img src='{data}' alt=a><img src=\"http://mmbiz.qpic.cn/x\">"
            ),
            &[],
        )
        .unwrap();
        assert_eq!(p.images().len(), 1);
        let html = p.render(&["U".into()]).unwrap();
        assert_eq!(html.matches("src=\"U\"").count(), 2);
        assert!(html.contains("mmbiz.qpic.cn/x"));
        let e = prepare("<p><img src=\"https://elsewhere.example/a.png\"></p>", &[]).unwrap_err();
        assert!(e.to_string().contains("body_html.img[0]"), "{e}");
        let gif = prepare("<img src=\"data:image/gif;base64,R0lGODlh\">", &[]).unwrap_err();
        assert!(gif.to_string().contains("JPEG or PNG"), "{gif}");
    }
}
