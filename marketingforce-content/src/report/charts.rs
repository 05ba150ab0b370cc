//! Hand-written SVG charts (no plotting dependency): radar, grouped bars, lines, score ring.

use std::fmt::Write as _;

use crate::text::document::escape_html;

const FONT: &str = "font-family=\"'WenQuanYi Micro Hei','Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif\"";
/// The company's colour.
pub const OURS: &str = "#1565c0";
/// The peers' colour.
pub const PEERS: &str = "#9e9e9e";
/// A second series colour.
pub const SECOND: &str = "#ef6c00";

/// A radar chart of scores 0–100: `ours` against `peers` on `labels`.
pub fn radar(labels: &[&str], ours: &[f64], peers: &[f64]) -> String {
    let (w, h, cx, cy, r) = (460.0, 380.0, 230.0, 195.0, 135.0);
    let n = labels.len().max(3);
    let point = |i: usize, v: f64| {
        let a = -std::f64::consts::FRAC_PI_2 + std::f64::consts::TAU * i as f64 / n as f64;
        (cx + r * v / 100.0 * a.cos(), cy + r * v / 100.0 * a.sin())
    };
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="五个方面得分雷达图">"#
    );
    for ring in [25.0, 50.0, 75.0, 100.0] {
        let pts: Vec<String> = (0..n)
            .map(|i| point(i, ring))
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = write!(
            s,
            r##"<polygon points="{}" fill="none" stroke="#e0e0e0"/>"##,
            pts.join(" ")
        );
    }
    for (i, label) in labels.iter().enumerate() {
        let (x, y) = point(i, 100.0);
        let (lx, ly) = point(i, 118.0);
        let anchor = if (lx - cx).abs() < 5.0 {
            "middle"
        } else if lx > cx {
            "start"
        } else {
            "end"
        };
        let _ = write!(
            s,
            r##"<line x1="{cx}" y1="{cy}" x2="{x:.1}" y2="{y:.1}" stroke="#e0e0e0"/><text x="{lx:.1}" y="{:.1}" {FONT} font-size="13" fill="#424242" text-anchor="{anchor}">{}</text>"##,
            ly + 4.0,
            escape_html(label)
        );
    }
    for (vals, colour, opacity) in [(peers, PEERS, 0.15), (ours, OURS, 0.3)] {
        let pts: Vec<String> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| point(i, v.clamp(0.0, 100.0)))
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = write!(
            s,
            r#"<polygon points="{}" fill="{colour}" fill-opacity="{opacity}" stroke="{colour}" stroke-width="2"/>"#,
            pts.join(" ")
        );
    }
    let _ = write!(
        s,
        r##"<rect x="16" y="{}" width="12" height="12" fill="{OURS}"/><text x="34" y="{}" {FONT} font-size="12" fill="#424242">本企业</text><rect x="96" y="{}" width="12" height="12" fill="{PEERS}"/><text x="114" y="{}" {FONT} font-size="12" fill="#424242">同行中位数</text></svg>"##,
        h - 22.0,
        h - 12.0,
        h - 22.0,
        h - 12.0
    );
    s
}

/// Grouped horizontal bars: for each label, one bar per series (values are scaled per series).
pub fn bars(labels: &[String], series: &[(&str, &str, Vec<f64>)]) -> String {
    let row = 18.0 * series.len() as f64 + 14.0;
    let (w, left, top) = (560.0, 130.0, 30.0);
    let h = top + row * labels.len() as f64 + 10.0;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="渠道表现">"#
    );
    for (k, (name, colour, _)) in series.iter().enumerate() {
        let x = left + 130.0 * k as f64;
        let _ = write!(
            s,
            r##"<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/><text x="{}" y="16" {FONT} font-size="12" fill="#424242">{}</text>"##,
            x + 18.0,
            escape_html(name)
        );
    }
    for (i, label) in labels.iter().enumerate() {
        let y0 = top + row * i as f64;
        let _ = write!(
            s,
            r##"<text x="{}" y="{:.1}" {FONT} font-size="13" fill="#424242" text-anchor="end">{}</text>"##,
            left - 8.0,
            y0 + row / 2.0,
            escape_html(label)
        );
        for (k, (_, colour, values)) in series.iter().enumerate() {
            let max = values.iter().copied().fold(0.0f64, f64::max).max(1e-9);
            let v = values.get(i).copied().unwrap_or(0.0);
            let bw = (w - left - 80.0) * v / max;
            let y = y0 + 18.0 * k as f64;
            let _ = write!(
                s,
                r##"<rect x="{left}" y="{y:.1}" width="{bw:.1}" height="14" rx="2" fill="{colour}"/><text x="{:.1}" y="{:.1}" {FONT} font-size="11" fill="#616161">{}</text>"##,
                left + bw + 4.0,
                y + 11.0,
                fmt_num(v)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// A line chart of daily series sharing an x axis (each series scaled to its own maximum,
/// labelled at its peak).
pub fn lines(dates: &[String], series: &[(&str, &str, Vec<f64>)]) -> String {
    let (w, h, l, r, t, b) = (1000.0, 260.0, 20.0, 20.0, 30.0, 30.0);
    let n = dates.len().max(2);
    let x = |i: usize| l + (w - l - r) * i as f64 / (n - 1) as f64;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="每日趋势">"#
    );
    let _ = write!(
        s,
        r##"<line x1="{l}" y1="{}" x2="{}" y2="{}" stroke="#bdbdbd"/>"##,
        h - b,
        w - r,
        h - b
    );
    for (k, (name, colour, values)) in series.iter().enumerate() {
        let max = values.iter().copied().fold(0.0f64, f64::max).max(1e-9);
        let y = |v: f64| h - b - (h - t - b) * v / max;
        let pts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            pts.join(" ")
        );
        let lx = l + 150.0 * k as f64;
        let _ = write!(
            s,
            r##"<rect x="{lx}" y="6" width="12" height="12" fill="{colour}"/><text x="{}" y="16" {FONT} font-size="12" fill="#424242">{}（峰值 {}）</text>"##,
            lx + 18.0,
            escape_html(name),
            fmt_num(max)
        );
    }
    if let (Some(first), Some(last)) = (dates.first(), dates.last()) {
        let _ = write!(
            s,
            r##"<text x="{l}" y="{}" {FONT} font-size="11" fill="#757575">{}</text><text x="{}" y="{}" {FONT} font-size="11" fill="#757575" text-anchor="end">{}</text>"##,
            h - 10.0,
            escape_html(first),
            w - r,
            h - 10.0,
            escape_html(last)
        );
    }
    s.push_str("</svg>");
    s
}

/// A ring showing a score out of 100.
pub fn score_ring(score: f64) -> String {
    let c = std::f64::consts::TAU * 52.0;
    let filled = c * score.clamp(0.0, 100.0) / 100.0;
    let colour = if score >= 70.0 {
        "#2e7d32"
    } else if score >= 50.0 {
        "#f9a825"
    } else {
        "#c62828"
    };
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 130 130" width="130" height="130" role="img" aria-label="综合得分"><circle cx="65" cy="65" r="52" fill="none" stroke="#eeeeee" stroke-width="12"/><circle cx="65" cy="65" r="52" fill="none" stroke="{colour}" stroke-width="12" stroke-dasharray="{filled:.1} {c:.1}" transform="rotate(-90 65 65)" stroke-linecap="round"/><text x="65" y="74" {FONT} font-size="30" font-weight="bold" fill="#212121" text-anchor="middle">{score:.0}</text></svg>"##
    )
}

/// Compact number formatting (12,345 / 1.2万).
pub fn fmt_num(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}万", v / 10_000.0)
    } else if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}
