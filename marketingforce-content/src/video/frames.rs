//! One SVG frame per scene: the theme's background, the scene's picture and its caption.

use std::fmt::Write as _;

use base64::Engine as _;

use super::storyboard::{Scene, SceneKind, Storyboard};
use crate::error::Result;
use crate::image::layout::{fit, TextBox};
use crate::image::svg::FONT_FAMILY;
use crate::image::Theme;
use crate::text::document::escape_html;

/// The SVG frame of `scene`.
///
/// # Errors
/// [`ContentError::TextDoesNotFit`](crate::ContentError::TextDoesNotFit) for a caption too long
/// for the frame.
pub fn frame_svg(
    sb: &Storyboard,
    scene: &Scene,
    theme: &Theme,
    images: &[&[u8]],
) -> Result<String> {
    let (w, h) = (f64::from(sb.size.0), f64::from(sb.size.1));
    let unit = w.min(h);
    let mut svg = String::with_capacity(4096);
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><defs><linearGradient id="bg" x1="0" y1="0" x2="0.4" y2="1"><stop offset="0" stop-color="{}"/><stop offset="1" stop-color="{}"/></linearGradient></defs><rect width="{w}" height="{h}" fill="url(#bg)"/>"#,
        theme.background[0], theme.background[1]
    );
    let portrait = h >= w;
    let picture = scene
        .image
        .and_then(|i| images.get(i))
        .filter(|_| scene.kind == SceneKind::Content);
    // Caption box: below (portrait) or beside (landscape) the picture, or centred without one.
    let caption_box = match (picture, portrait) {
        (Some(_), true) => (w * 0.08, h * 0.62, w * 0.84, h * 0.28),
        (Some(_), false) => (w * 0.56, h * 0.15, w * 0.38, h * 0.7),
        (None, _) => (w * 0.1, h * 0.3, w * 0.8, h * 0.4),
    };
    if let Some(bytes) = picture {
        let (x, y, pw, ph) = if portrait {
            (w * 0.06, h * 0.08, w * 0.88, h * 0.5)
        } else {
            (w * 0.05, h * 0.1, w * 0.48, h * 0.8)
        };
        let mime = crate::image::assets::sniff(bytes).map_or("image/png", |f| f.media_type());
        let _ = write!(
            svg,
            r#"<image x="{x:.1}" y="{y:.1}" width="{pw:.1}" height="{ph:.1}" preserveAspectRatio="xMidYMid slice" href="data:{mime};base64,"#
        );
        base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut svg);
        svg.push_str("\"/>");
    }
    let (max_font, min_font, colour, bold) = match scene.kind {
        SceneKind::Title => (unit * 0.11, unit * 0.045, &theme.text, true),
        SceneKind::Content => (unit * 0.07, unit * 0.035, &theme.text, false),
        SceneKind::End => (unit * 0.08, unit * 0.04, &theme.accent, true),
    };
    let (bx, by, bw, bh) = caption_box;
    let fitted = fit(
        &format!("scenes[{}].caption", scene.index),
        &scene.caption,
        &TextBox {
            width: bw,
            height: bh,
            max_font,
            min_font,
            line_height: 1.3,
        },
    )?;
    let lh = fitted.font_size * 1.3;
    let top = by + ((bh - lh * fitted.lines.len() as f64) / 2.0).max(0.0);
    for (i, line) in fitted.lines.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-family="{FONT_FAMILY}" font-size="{:.1}" font-weight="{}" fill="{colour}" text-anchor="middle">{}</text>"#,
            bx + bw / 2.0,
            top + lh * i as f64 + fitted.font_size * 1.05,
            fitted.font_size,
            if bold { "bold" } else { "normal" },
            escape_html(line)
        );
    }
    if scene.kind == SceneKind::End {
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
            w * 0.3,
            by + bh + unit * 0.02,
            w * 0.4,
            unit * 0.012,
            theme.accent
        );
    }
    svg.push_str("</svg>");
    Ok(svg)
}
