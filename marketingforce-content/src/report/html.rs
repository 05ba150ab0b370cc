//! The report as one self-contained HTML page.

use std::fmt::Write as _;

use rust_decimal::Decimal;

use super::charts::{self, fmt_num, OURS, PEERS, SECOND};
use super::EvaluationReport;
use crate::text::document::escape_html;

fn delta(ratio: Option<Decimal>, lower_is_better: bool) -> String {
    match ratio {
        None => "<span class=\"muted\">无可比数据</span>".into(),
        Some(r) => {
            let pct = (r - Decimal::ONE) * Decimal::from(100);
            let better = if lower_is_better {
                r <= Decimal::ONE
            } else {
                r >= Decimal::ONE
            };
            let arrow = if pct >= Decimal::ZERO { "▲" } else { "▼" };
            format!(
                "<span class=\"{}\">{arrow} {}% 对比同行</span>",
                if better { "good" } else { "bad" },
                pct.abs().round_dp(0)
            )
        }
    }
}

/// Render the report: KPI cards against peers, a radar of the five aspects, channel bars, the
/// daily trend, findings and recommendations. All text is escaped; charts are inline SVG.
///
/// ```
/// use marketingforce_content::report::{evaluate, render_html, PeerBenchmarks};
/// # use marketingforce_content::report::*;
/// # use marketingforce_core::money::Money;
/// # let input: EvaluationInput = serde_json::from_str(include_str!("../../tests/data/evaluation-input.json")).unwrap();
/// let report = evaluate(&input, &PeerBenchmarks::builtin()).unwrap();
/// let html = render_html(&report);
/// assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
/// ```
pub fn render_html(r: &EvaluationReport) -> String {
    let mut h = String::with_capacity(32 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{} 营销评估报告</title><style>{}</style></head><body><main>",
        escape_html(&r.company),
        STYLE
    );
    let _ = write!(
        h,
        "<header><div><h1>{}</h1><p class=\"muted\">营销评估报告 · {} 至 {} · 行业：{}</p></div><div class=\"ring\">{}<div class=\"muted\">综合得分</div></div></header>",
        escape_html(&r.company),
        r.from,
        r.to,
        escape_html(&r.industry),
        charts::score_ring(r.overall)
    );
    h.push_str("<section class=\"cards\">");
    let cpl = |m: &Option<marketingforce_core::money::Money>| {
        m.as_ref()
            .map_or("—".to_string(), |m| format!("¥{}", m.amount()))
    };
    for (title, value, peer, d) in [
        (
            "流量（30天）",
            fmt_num(r.traffic.value as f64),
            fmt_num(r.traffic.peer as f64),
            delta(r.traffic.ratio, false),
        ),
        (
            "曝光（30天）",
            fmt_num(r.exposure.value as f64),
            fmt_num(r.exposure.peer as f64),
            delta(r.exposure.ratio, false),
        ),
        (
            "互动率",
            format!(
                "{}%",
                (r.engagement_rate.value * Decimal::from(100)).round_dp(2)
            ),
            format!(
                "{}%",
                (r.engagement_rate.peer * Decimal::from(100)).round_dp(2)
            ),
            delta(r.engagement_rate.ratio, false),
        ),
        (
            "获客成本（每条线索）",
            cpl(&r.cost_per_lead.value),
            cpl(&r.cost_per_lead.peer),
            delta(r.cost_per_lead.ratio, true),
        ),
    ] {
        let _ = write!(h, "<div class=\"card\"><div class=\"muted\">{title}</div><div class=\"big\">{}</div><div>同行中位数 {}</div><div>{d}</div></div>", escape_html(&value), escape_html(&peer));
    }
    h.push_str("</section><section class=\"grid\"><div class=\"panel\"><h2>五个方面</h2>");
    let labels: Vec<&str> = r.aspects.iter().map(|a| a.aspect.name()).collect();
    let ours: Vec<f64> = r.aspects.iter().map(|a| a.score).collect();
    let peers: Vec<f64> = r.aspects.iter().map(|a| a.peer).collect();
    h.push_str(&charts::radar(&labels, &ours, &peers));
    h.push_str("</div><div class=\"panel\"><h2>渠道表现</h2>");
    let names: Vec<String> = r.channels.iter().map(|c| c.channel.clone()).collect();
    h.push_str(&charts::bars(
        &names,
        &[
            (
                "曝光",
                OURS,
                r.channels.iter().map(|c| c.exposures as f64).collect(),
            ),
            (
                "询盘",
                SECOND,
                r.channels.iter().map(|c| c.inquiries as f64).collect(),
            ),
        ],
    ));
    h.push_str("</div></section>");
    if r.daily.len() >= 2 {
        h.push_str("<section class=\"panel\"><h2>每日趋势</h2>");
        let dates: Vec<String> = r.daily.iter().map(|d| d.date.to_string()).collect();
        h.push_str(&charts::lines(
            &dates,
            &[
                (
                    "浏览",
                    OURS,
                    r.daily.iter().map(|d| d.views as f64).collect(),
                ),
                (
                    "询盘",
                    SECOND,
                    r.daily.iter().map(|d| d.inquiries as f64).collect(),
                ),
            ],
        ));
        h.push_str("</section>");
    }
    h.push_str("<section class=\"panel\"><h2>分项得分</h2><table><thead><tr><th>方面</th><th>得分</th><th>同行</th><th>依据</th></tr></thead><tbody>");
    for a in &r.aspects {
        let bar = format!("<div class=\"bar\"><span style=\"width:{:.0}%;background:{}\"></span><i style=\"left:{:.0}%\"></i></div>", a.score, if a.score >= a.peer { OURS } else { "#c62828" }, a.peer);
        let _ = write!(
            h,
            "<tr><td>{}</td><td><b>{:.0}</b>{bar}</td><td style=\"color:{PEERS}\">{:.0}</td><td>{}</td></tr>",
            a.aspect.name(),
            a.score,
            a.peer,
            a.findings.iter().map(|f| escape_html(f)).collect::<Vec<_>>().join("；")
        );
    }
    h.push_str("</tbody></table></section><section class=\"panel\"><h2>建议</h2><ol>");
    for rec in &r.recommendations {
        let _ = write!(h, "<li>{}</li>", escape_html(rec));
    }
    let _ = writeln!(
        h,
        "</ol></section><footer class=\"muted\">同行数据来源：{}</footer></main></body></html>",
        escape_html(&r.benchmark_source)
    );
    h
}

const STYLE: &str = "body{margin:0;background:#f5f7fa;color:#212121;font-family:'WenQuanYi Micro Hei','Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif}\
main{max-width:1100px;margin:0 auto;padding:24px}\
header{display:flex;justify-content:space-between;align-items:center;background:#fff;border-radius:12px;padding:20px 28px;box-shadow:0 1px 3px rgba(0,0,0,.08)}\
h1{margin:0 0 6px;font-size:26px}h2{font-size:17px;margin:0 0 12px}\
.muted{color:#757575;font-size:13px}.ring{text-align:center}\
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:16px;margin:18px 0}\
.card,.panel{background:#fff;border-radius:12px;padding:16px 20px;box-shadow:0 1px 3px rgba(0,0,0,.08)}\
.panel{margin-bottom:18px}.big{font-size:28px;font-weight:bold;margin:6px 0}\
.good{color:#2e7d32}.bad{color:#c62828}\
.grid{display:grid;grid-template-columns:1fr 1.2fr;gap:18px}.grid .panel{margin:0}\
table{width:100%;border-collapse:collapse;font-size:14px}td,th{padding:8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\
.bar{position:relative;height:6px;background:#eee;border-radius:3px;margin-top:4px;width:120px}.bar span{position:absolute;left:0;top:0;height:6px;border-radius:3px}\
.bar i{position:absolute;top:-3px;width:2px;height:12px;background:#616161}\
svg{max-width:100%;height:auto}footer{margin-top:12px}";
