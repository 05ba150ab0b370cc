//! The structured article the generators assemble, and its Markdown, HTML and plain renderings.

use marketingforce_core::adapters::generation::Link;

/// A run of inline content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    /// Plain text.
    Text(String),
    /// Bold text.
    Strong(String),
    /// A hyperlink.
    Link(Link),
}

impl Span {
    /// The visible text.
    pub fn text(&self) -> &str {
        match self {
            Span::Text(t) | Span::Strong(t) => t,
            Span::Link(l) => &l.text,
        }
    }
}

/// A block of an article body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A section heading.
    Heading(String),
    /// A paragraph of inline spans.
    Paragraph(Vec<Span>),
    /// A bulleted list, one item of spans per entry.
    List(Vec<Vec<Span>>),
    /// The contact block: a heading and lines.
    Contact {
        /// Heading (`联系我们`).
        heading: String,
        /// Lines (`电话：…`).
        lines: Vec<String>,
    },
}

/// An article body as blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// The blocks in order.
    pub blocks: Vec<Block>,
}

impl Document {
    /// Visible text of every block except the contact block, one block per line.
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        for b in &self.blocks {
            match b {
                Block::Heading(h) => out.push_str(h),
                Block::Paragraph(spans) => spans.iter().for_each(|s| out.push_str(s.text())),
                Block::List(items) => {
                    for item in items {
                        item.iter().for_each(|s| out.push_str(s.text()));
                        out.push('\n');
                    }
                }
                Block::Contact { .. } => continue,
            }
            out.push('\n');
        }
        out
    }

    /// The body as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::with_capacity(4096);
        for b in &self.blocks {
            match b {
                Block::Heading(h) => {
                    out.push_str("## ");
                    md_escape(h, &mut out);
                }
                Block::Paragraph(spans) => md_spans(spans, &mut out),
                Block::List(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push('\n');
                        }
                        out.push_str("- ");
                        md_spans(item, &mut out);
                    }
                }
                Block::Contact { heading, lines } => {
                    out.push_str("### ");
                    md_escape(heading, &mut out);
                    for l in lines {
                        out.push_str("\n\n> ");
                        md_escape(l, &mut out);
                    }
                }
            }
            out.push_str("\n\n");
        }
        while out.ends_with('\n') {
            out.pop();
        }
        out.push('\n');
        out
    }

    /// The body as HTML (a fragment; every text is escaped).
    pub fn to_html(&self) -> String {
        let mut out = String::with_capacity(5120);
        for b in &self.blocks {
            match b {
                Block::Heading(h) => {
                    out.push_str("<h2>");
                    html_escape(h, &mut out);
                    out.push_str("</h2>\n");
                }
                Block::Paragraph(spans) => {
                    out.push_str("<p>");
                    html_spans(spans, &mut out);
                    out.push_str("</p>\n");
                }
                Block::List(items) => {
                    out.push_str("<ul>\n");
                    for item in items {
                        out.push_str("<li>");
                        html_spans(item, &mut out);
                        out.push_str("</li>\n");
                    }
                    out.push_str("</ul>\n");
                }
                Block::Contact { heading, lines } => {
                    out.push_str("<section class=\"contact\">\n<h3>");
                    html_escape(heading, &mut out);
                    out.push_str("</h3>\n<p>");
                    for (i, l) in lines.iter().enumerate() {
                        if i > 0 {
                            out.push_str("<br>\n");
                        }
                        html_escape(l, &mut out);
                    }
                    out.push_str("</p>\n</section>\n");
                }
            }
        }
        out
    }
}

fn md_spans(spans: &[Span], out: &mut String) {
    for s in spans {
        match s {
            Span::Text(t) => md_escape(t, out),
            Span::Strong(t) => {
                out.push_str("**");
                md_escape(t, out);
                out.push_str("**");
            }
            Span::Link(l) => {
                out.push('[');
                md_escape(&l.text, out);
                out.push_str("](");
                for c in l.url.chars() {
                    match c {
                        '(' => out.push_str("%28"),
                        ')' => out.push_str("%29"),
                        ' ' => out.push_str("%20"),
                        c => out.push(c),
                    }
                }
                out.push(')');
            }
        }
    }
}

fn html_spans(spans: &[Span], out: &mut String) {
    for s in spans {
        match s {
            Span::Text(t) => html_escape(t, out),
            Span::Strong(t) => {
                out.push_str("<strong>");
                html_escape(t, out);
                out.push_str("</strong>");
            }
            Span::Link(l) => {
                out.push_str("<a href=\"");
                html_escape(&l.url, out);
                out.push_str("\">");
                html_escape(&l.text, out);
                out.push_str("</a>");
            }
        }
    }
}

/// Escape Markdown metacharacters.
pub(crate) fn md_escape(s: &str, out: &mut String) {
    if !s.bytes().any(|b| b"\\*_[]<>`#|".contains(&b)) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '[' | ']' | '<' | '>' | '`' | '#' | '|'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Escape HTML text and attribute values.
pub fn html_escape(s: &str, out: &mut String) {
    if !s.bytes().any(|b| b"<>&\"'".contains(&b)) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `html_escape` into a new string.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    html_escape(s, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_escape_user_text() {
        let doc = Document {
            blocks: vec![
                Block::Heading("A <b> & *c*".into()),
                Block::Paragraph(vec![
                    Span::Text("see ".into()),
                    Span::Link(Link {
                        text: "x[1]".into(),
                        url: "https://e.cn/a(b)?q=\"".into(),
                    }),
                ]),
            ],
        };
        let html = doc.to_html();
        assert!(html.contains("<h2>A &lt;b&gt; &amp; *c*</h2>"), "{html}");
        assert!(
            html.contains("href=\"https://e.cn/a(b)?q=&quot;\""),
            "{html}"
        );
        let md = doc.to_markdown();
        assert!(md.contains("## A \\<b\\> & \\*c\\*"), "{md}");
        assert!(
            md.contains("[x\\[1\\]](https://e.cn/a%28b%29?q=\")"),
            "{md}"
        );
    }
}
