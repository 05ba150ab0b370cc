//! Poster, banner and product-image layouts rendered to SVG.

use std::fmt::Write as _;

use base64::Engine as _;
use marketingforce_core::adapters::generation::{ImageKind, ImageRequest};

use super::layout::{fit, Fitted, TextBox};
use super::theme::{Pattern, Theme};
use crate::error::{ContentError, Result};
use crate::rng::SeededRng;
use crate::text::document::escape_html;

/// Font stack: CJK families first.
pub const FONT_FAMILY: &str = "'WenQuanYi Micro Hei','Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',sans-serif";

#[derive(Debug, Clone, Copy)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Center,
}

struct Layout {
    headline: (Rect, f64, f64),
    sub: Option<(Rect, f64, f64)>,
    body: Option<(Rect, f64, f64)>,
    cta: Option<(Rect, f64, f64)>,
    contact: Option<(Rect, f64, f64)>,
    image: Option<Rect>,
    badge: Rect,
    align: Align,
}

fn r(x: f64, y: f64, w: f64, h: f64) -> Rect {
    Rect { x, y, w, h }
}

/// Default size of each kind.
pub fn default_size(kind: ImageKind) -> (u32, u32) {
    match kind {
        ImageKind::Poster => (1080, 1920),
        ImageKind::Banner => (1920, 600),
        ImageKind::ProductImage => (800, 800),
    }
}

fn layout(kind: ImageKind, has_image: bool) -> Layout {
    match kind {
        ImageKind::Poster => {
            let (img, below) = if has_image {
                (Some(r(90.0, 400.0, 900.0, 680.0)), 1120.0)
            } else {
                (None, 440.0)
            };
            Layout {
                badge: r(60.0, 60.0, 320.0, 72.0),
                headline: (r(90.0, 170.0, 900.0, 210.0), 96.0, 44.0),
                image: img,
                sub: Some((r(90.0, below, 900.0, 120.0), 52.0, 28.0)),
                body: Some((
                    r(
                        120.0,
                        below + 140.0,
                        840.0,
                        if has_image { 360.0 } else { 900.0 },
                    ),
                    42.0,
                    24.0,
                )),
                cta: Some((r(190.0, 1650.0, 700.0, 120.0), 50.0, 28.0)),
                contact: Some((r(90.0, 1800.0, 900.0, 80.0), 34.0, 20.0)),
                align: Align::Center,
            }
        }
        ImageKind::Banner => Layout {
            badge: r(80.0, 24.0, 280.0, 52.0),
            headline: (
                r(80.0, 90.0, if has_image { 1100.0 } else { 1760.0 }, 190.0),
                88.0,
                40.0,
            ),
            image: has_image.then(|| r(1240.0, 60.0, 620.0, 480.0)),
            sub: Some((
                r(80.0, 290.0, if has_image { 1100.0 } else { 1760.0 }, 80.0),
                44.0,
                24.0,
            )),
            body: Some((
                r(80.0, 375.0, if has_image { 1100.0 } else { 1760.0 }, 70.0),
                32.0,
                20.0,
            )),
            cta: Some((r(80.0, 455.0, 420.0, 80.0), 38.0, 22.0)),
            contact: Some((
                r(540.0, 465.0, if has_image { 660.0 } else { 1300.0 }, 60.0),
                28.0,
                18.0,
            )),
            align: Align::Left,
        },
        ImageKind::ProductImage => Layout {
            badge: r(24.0, 24.0, 220.0, 48.0),
            headline: (r(40.0, 590.0, 720.0, 110.0), 56.0, 28.0),
            image: Some(r(0.0, 0.0, 800.0, 570.0)),
            sub: Some((r(40.0, 705.0, 720.0, 70.0), 32.0, 20.0)),
            body: None,
            cta: Some((r(540.0, 24.0, 236.0, 64.0), 30.0, 18.0)),
            contact: None,
            align: Align::Center,
        },
    }
}

/// The SVG of a request, with notes on text that was wrapped or shrunk.
///
/// # Errors
/// [`ContentError::TextDoesNotFit`] naming the field; validation errors for text the kind does
/// not carry (body or contact on a product image) or a missing picture on a product image.
pub fn render(
    req: &ImageRequest,
    theme: &Theme,
    images: &[(String, &[u8])],
    seed: u64,
) -> Result<(String, u32, u32, Vec<String>)> {
    let (dw, dh) = default_size(req.kind);
    let (w, h) = req.size.unwrap_or((dw, dh));
    if w < 100 || h < 100 || w > 8000 || h > 8000 {
        return Err(ContentError::validation(
            "size",
            format!("{w}x{h} is outside 100..8000 px"),
        ));
    }
    let (sx, sy) = (f64::from(w) / f64::from(dw), f64::from(h) / f64::from(dh));
    let scale = sx.min(sy);
    let lay = layout(req.kind, !images.is_empty());
    if req.kind == ImageKind::ProductImage {
        if images.is_empty() {
            return Err(ContentError::BadImage {
                name: "images[0]".into(),
                reason: "missing: a product image needs the product picture".into(),
            });
        }
        if !req.body.is_empty() {
            return Err(ContentError::validation(
                "body",
                "product images carry a headline, subheadline and call to action only",
            ));
        }
        if req.contact.is_some() {
            return Err(ContentError::validation(
                "contact",
                "product images carry a headline, subheadline and call to action only",
            ));
        }
    }
    let sc = |b: Rect| Rect {
        x: b.x * sx,
        y: b.y * sy,
        w: b.w * sx,
        h: b.h * sy,
    };
    let mut rng = SeededRng::derive(seed, &theme.id);
    let mut notes = Vec::new();
    let mut svg = String::with_capacity(
        8 * 1024 + images.iter().map(|(_, b)| b.len() * 4 / 3).sum::<usize>(),
    );
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><defs><linearGradient id="bg" x1="0" y1="0" x2="{}" y2="1"><stop offset="0" stop-color="{}"/><stop offset="1" stop-color="{}"/></linearGradient><clipPath id="pic"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="{:.1}"/></clipPath></defs><rect width="{w}" height="{h}" fill="url(#bg)"/>"#,
        ["0", "0.35", "0.7"][rng.below(3)],
        theme.background[0],
        theme.background[1],
        lay.image.map_or(0.0, |i| sc(i).x),
        lay.image.map_or(0.0, |i| sc(i).y),
        lay.image.map_or(0.0, |i| sc(i).w),
        lay.image.map_or(0.0, |i| sc(i).h),
        if req.kind == ImageKind::ProductImage {
            0.0
        } else {
            24.0 * scale
        },
    );
    pattern(&mut svg, theme, w, h, &mut rng);
    if let (Some(area), Some((name, bytes))) = (lay.image, images.first()) {
        let a = sc(area);
        let mime = super::assets::sniff(bytes).map_or("image/png", |f| f.media_type());
        let _ = write!(
            svg,
            r#"<image x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" preserveAspectRatio="xMidYMid slice" clip-path="url(#pic)" href="data:{mime};base64,"#,
            a.x, a.y, a.w, a.h
        );
        base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut svg);
        svg.push_str("\"/>");
        if images.len() > 1 {
            notes.push(format!(
                "{} images supplied; this layout shows the first ({name})",
                images.len()
            ));
        }
    }
    if let Some(b) = theme.badge_text(req.language) {
        let bx = sc(lay.badge);
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="{:.1}" fill="{}"/>"#,
            bx.x,
            bx.y,
            bx.w,
            bx.h,
            bx.h / 2.0,
            theme.accent
        );
        let fitted = fit(
            "badge",
            b,
            &TextBox {
                width: bx.w * 0.85,
                height: bx.h,
                max_font: bx.h * 0.6,
                min_font: bx.h * 0.3,
                line_height: 1.2,
            },
        )?;
        text_lines(
            &mut svg,
            &fitted,
            bx,
            Align::Center,
            &theme.background[0],
            true,
        );
    }
    let put = |field: &str,
               text: &str,
               spec: (Rect, f64, f64),
               colour: &str,
               bold: bool,
               notes: &mut Vec<String>,
               svg: &mut String|
     -> Result<()> {
        let b = sc(spec.0);
        let fitted = fit(
            field,
            text,
            &TextBox {
                width: b.w,
                height: b.h,
                max_font: spec.1 * scale,
                min_font: spec.2 * scale,
                line_height: 1.25,
            },
        )?;
        if fitted.shrunk {
            notes.push(format!(
                "{field}: font reduced from {:.0}px to {:.0}px to fit",
                spec.1 * scale,
                fitted.font_size
            ));
        }
        if fitted.lines.len() > 1 {
            notes.push(format!(
                "{field}: wrapped into {} lines",
                fitted.lines.len()
            ));
        }
        text_lines(svg, &fitted, b, lay.align, colour, bold);
        Ok(())
    };
    if req.headline.trim().is_empty() {
        return Err(ContentError::validation("headline", "must not be blank"));
    }
    put(
        "headline",
        &req.headline,
        lay.headline,
        &theme.text,
        true,
        &mut notes,
        &mut svg,
    )?;
    if let (Some(s), Some(spec)) = (&req.subheadline, lay.sub) {
        put(
            "subheadline",
            s,
            spec,
            &theme.subtext,
            false,
            &mut notes,
            &mut svg,
        )?;
    }
    if !req.body.is_empty() {
        let spec = lay
            .body
            .ok_or_else(|| ContentError::validation("body", "this layout has no body"))?;
        let text = if req.kind == ImageKind::Banner {
            req.body.join(" · ")
        } else {
            req.body
                .iter()
                .map(|l| format!("• {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        put(
            "body",
            &text,
            spec,
            &theme.text,
            false,
            &mut notes,
            &mut svg,
        )?;
    }
    if let (Some(c), Some(spec)) = (&req.call_to_action, lay.cta) {
        let b = sc(spec.0);
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="{:.1}" fill="{}"/>"#,
            b.x,
            b.y,
            b.w,
            b.h,
            b.h / 2.0,
            theme.accent
        );
        let fitted = fit(
            "call_to_action",
            c,
            &TextBox {
                width: b.w * 0.86,
                height: b.h * 0.9,
                max_font: spec.1 * scale,
                min_font: spec.2 * scale,
                line_height: 1.2,
            },
        )?;
        if fitted.shrunk {
            notes.push(format!(
                "call_to_action: font reduced to {:.0}px to fit",
                fitted.font_size
            ));
        }
        text_lines(
            &mut svg,
            &fitted,
            b,
            Align::Center,
            &theme.background[0],
            true,
        );
    }
    if let Some(c) = &req.contact {
        let spec = lay.contact.ok_or_else(|| {
            ContentError::validation("contact", "this layout has no contact line")
        })?;
        put(
            "contact",
            c,
            spec,
            &theme.subtext,
            false,
            &mut notes,
            &mut svg,
        )?;
    }
    svg.push_str("</svg>");
    Ok((svg, w, h, notes))
}

fn text_lines(svg: &mut String, f: &Fitted, b: Rect, align: Align, colour: &str, bold: bool) {
    let lh = f.font_size * 1.25;
    let total = lh * f.lines.len() as f64;
    let top = b.y + ((b.h - total) / 2.0).max(0.0);
    let (x, anchor) = match align {
        Align::Left => (b.x, "start"),
        Align::Center => (b.x + b.w / 2.0, "middle"),
    };
    for (i, line) in f.lines.iter().enumerate() {
        let baseline = top + lh * i as f64 + f.font_size * 1.05;
        let _ = write!(
            svg,
            r#"<text x="{x:.1}" y="{baseline:.1}" font-family="{FONT_FAMILY}" font-size="{:.1}" font-weight="{}" fill="{colour}" text-anchor="{anchor}">{}</text>"#,
            f.font_size,
            if bold { "bold" } else { "normal" },
            escape_html(line)
        );
    }
}

fn pattern(svg: &mut String, t: &Theme, w: u32, h: u32, rng: &mut SeededRng) {
    let (w, h) = (f64::from(w), f64::from(h));
    match t.pattern {
        Pattern::None => {}
        Pattern::Grid => {
            let step = 60.0 + rng.below(4) as f64 * 10.0;
            let _ = write!(
                svg,
                r#"<g stroke="{}" stroke-opacity="0.08" stroke-width="1">"#,
                t.text
            );
            let mut x = step;
            while x < w {
                let _ = write!(svg, r#"<line x1="{x:.0}" y1="0" x2="{x:.0}" y2="{h:.0}"/>"#);
                x += step;
            }
            let mut y = step;
            while y < h {
                let _ = write!(svg, r#"<line x1="0" y1="{y:.0}" x2="{w:.0}" y2="{y:.0}"/>"#);
                y += step;
            }
            svg.push_str("</g>");
        }
        Pattern::Dots => {
            let _ = write!(svg, r#"<g fill="{}" fill-opacity="0.12">"#, t.accent);
            for _ in 0..18 {
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.0}" cy="{:.0}" r="{:.0}"/>"#,
                    rng.unit() * w,
                    rng.unit() * h,
                    4.0 + rng.unit() * 28.0
                );
            }
            svg.push_str("</g>");
        }
        Pattern::Waves => {
            let y0 = h * (0.78 + rng.unit() * 0.08);
            let _ = write!(
                svg,
                r#"<path d="M0 {y0:.0} C {:.0} {:.0}, {:.0} {:.0}, {w:.0} {y0:.0} L {w:.0} {h:.0} L 0 {h:.0} Z" fill="{}" fill-opacity="0.15"/>"#,
                w * 0.3,
                y0 - h * 0.08,
                w * 0.7,
                y0 + h * 0.08,
                t.accent
            );
        }
        Pattern::Lanterns => {
            for i in 0..3 {
                let cx = w * (0.72 + 0.1 * i as f64);
                let cy = h * (0.06 + 0.03 * (i % 2) as f64);
                let rr = w * 0.035;
                let _ = write!(
                    svg,
                    r#"<line x1="{cx:.0}" y1="0" x2="{cx:.0}" y2="{:.0}" stroke="{}" stroke-width="3"/><ellipse cx="{cx:.0}" cy="{cy:.0}" rx="{rr:.0}" ry="{:.0}" fill="{}" fill-opacity="0.9"/>"#,
                    cy - rr,
                    t.accent,
                    rr * 1.2,
                    t.accent
                );
            }
        }
        Pattern::Moon => {
            let _ = write!(
                svg,
                r#"<circle cx="{:.0}" cy="{:.0}" r="{:.0}" fill="{}" fill-opacity="0.85"/>"#,
                w * 0.8,
                h * 0.1,
                w * 0.1,
                t.accent
            );
        }
    }
}
