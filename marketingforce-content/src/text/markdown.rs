//! A small, safe Markdown reader for model output: headings, paragraphs, bullet and numbered
//! lists, `**bold**` and `[links](https://…)`. Everything else is text (and HTML in model output
//! is escaped when rendered), so a model cannot inject markup.

use marketingforce_core::adapters::generation::Link;

use super::document::{Block, Document, Span};

/// Parse Markdown into a [`Document`].
///
/// ```
/// use marketingforce_content::text::markdown::parse;
/// let doc = parse("## 选型\n\n看**精度**，见[手册](https://e.cn/m)。\n\n- 一\n- 二\n\n<script>x</script>");
/// let html = doc.to_html();
/// assert!(html.contains("<h2>选型</h2>"));
/// assert!(html.contains("<strong>精度</strong>"));
/// assert!(html.contains("<a href=\"https://e.cn/m\">手册</a>"));
/// assert!(html.contains("<li>二</li>"));
/// assert!(html.contains("&lt;script&gt;"));
/// ```
pub fn parse(markdown: &str) -> Document {
    let mut blocks = Vec::new();
    let mut para: Vec<String> = Vec::new();
    let mut list: Vec<Vec<Span>> = Vec::new();
    let flush_para = |para: &mut Vec<String>, blocks: &mut Vec<Block>| {
        if !para.is_empty() {
            blocks.push(Block::Paragraph(inline(&para.join(""))));
            para.clear();
        }
    };
    let flush_list = |list: &mut Vec<Vec<Span>>, blocks: &mut Vec<Block>| {
        if !list.is_empty() {
            blocks.push(Block::List(std::mem::take(list)));
        }
    };
    for raw in markdown.lines() {
        let line = raw.trim();
        if line.is_empty() {
            flush_para(&mut para, &mut blocks);
            flush_list(&mut list, &mut blocks);
            continue;
        }
        if let Some(h) = heading(line) {
            flush_para(&mut para, &mut blocks);
            flush_list(&mut list, &mut blocks);
            blocks.push(Block::Heading(strip_emphasis(h)));
            continue;
        }
        if let Some(item) = list_item(line) {
            flush_para(&mut para, &mut blocks);
            list.push(inline(item));
            continue;
        }
        flush_list(&mut list, &mut blocks);
        if !para.is_empty() && line.is_ascii() {
            para.push(" ".into());
        }
        para.push(line.to_string());
    }
    flush_para(&mut para, &mut blocks);
    flush_list(&mut list, &mut blocks);
    Document { blocks }
}

fn heading(line: &str) -> Option<&str> {
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    if (1..=6).contains(&hashes) {
        let rest = &line[hashes..];
        if rest.starts_with(' ') {
            return Some(rest.trim());
        }
    }
    None
}

fn list_item(line: &str) -> Option<&str> {
    for p in ["- ", "* ", "+ ", "• "] {
        if let Some(rest) = line.strip_prefix(p) {
            return Some(rest.trim());
        }
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && digits < 4 {
        let rest = &line[digits..];
        if let Some(r) = rest
            .strip_prefix(". ")
            .or_else(|| rest.strip_prefix("、"))
            .or_else(|| rest.strip_prefix(") "))
        {
            return Some(r.trim());
        }
    }
    None
}

fn strip_emphasis(s: &str) -> String {
    s.replace("**", "")
}

/// Parse inline `**bold**` and `[text](url)`; links to anything but http(s) stay text.
pub(crate) fn inline(s: &str) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    let push_text = |text: &mut String, spans: &mut Vec<Span>| {
        if !text.is_empty() {
            spans.push(Span::Text(std::mem::take(text)));
        }
    };
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("**") {
            if let Some(end) = after.find("**") {
                push_text(&mut text, &mut spans);
                spans.push(Span::Strong(after[..end].to_string()));
                rest = &after[end + 2..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix('[') {
            if let Some(close) = after.find("](") {
                let label = &after[..close];
                let tail = &after[close + 2..];
                if let Some(end) = tail.find(')') {
                    let url = tail[..end].trim();
                    if super::check_url("link", url).is_ok() && !label.contains('[') {
                        push_text(&mut text, &mut spans);
                        spans.push(Span::Link(Link {
                            text: label.to_string(),
                            url: url.to_string(),
                        }));
                        rest = &tail[end + 1..];
                        continue;
                    }
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            text.push(c);
        }
        rest = chars.as_str();
    }
    push_text(&mut text, &mut spans);
    spans
}
