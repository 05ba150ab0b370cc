//! Reports of a run: a concise [`text`] report for the console and an [`html`] page with
//! hand-written SVG charts — the lead funnel, the revenue waterfall, the rebate breakdown.
//!
//! ```text
//! assert_eq!(money(&Money::cny("1234567.8").unwrap()), "1,234,567.80");
//! ```

use std::fmt::Write as _;

use marketingforce_core::money::{Decimal, Money};

use super::figures::{Figures, LeadFigures};
use super::runner::PhaseReport;

/// An amount with thousands separators and two decimals (`73,200.00`).
pub fn money(m: &Money) -> String {
    let text = format!("{:.2}", m.amount());
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{frac}")
}

/// A rate as a percentage with two decimals (`2.03%`).
pub fn percent(rate: Option<Decimal>) -> String {
    rate.map_or_else(
        || "–".into(),
        |r| format!("{:.2}%", r * Decimal::ONE_HUNDRED),
    )
}

/// Milliseconds as seconds with one decimal.
fn secs(ms: u64) -> String {
    format!("{}.{}", ms / 1000, ms % 1000 / 100)
}

fn f64_of(m: &Money) -> f64 {
    m.amount().to_string().parse().unwrap_or(0.0)
}

fn short(name: &str) -> &str {
    // 上海精工机械有限公司 → 上海精工机械
    name.strip_suffix("有限公司").unwrap_or(name)
}

fn lead_line(l: &LeadFigures) -> String {
    format!(
        "{}: {} captures → {} leads ({} duplicates merged) → {} allocated → {} followed up → {} qualified → {} converted → {} members; {} SOP tasks ({} done); SLA {} escalated, {} reassigned",
        short(&l.customer),
        l.captured,
        l.created,
        l.merged,
        l.allocated,
        l.followed_up,
        l.qualified,
        l.converted,
        l.members,
        l.sop_tasks,
        l.sop_tasks_done,
        l.escalated,
        l.reassigned
    )
}

/// The console report: one block per subject, a few lines each.
pub fn text(f: &Figures, store: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Marketingforce quickstart — a day in the life of the platform (store: {store}, figures as of {})",
        f.as_of
    );
    let c = &f.catalog;
    let _ = writeln!(
        s,
        "\nCatalog     {} modules in {} key areas · {} bundles · {} usage packs · T Cloud {} versions RMB {}–{} a year · True Client RMB {} per account",
        c.modules,
        c.key_areas,
        c.bundles,
        c.usage_packs,
        c.t_cloud_versions,
        money(&c.t_cloud_from),
        money(&c.t_cloud_to),
        money(&c.true_client_per_account)
    );
    let _ = writeln!(s, "\nContracts");
    for k in &f.contracts {
        let what = match k.accounts {
            Some(n) => format!("{} × {n} accounts", k.bundle),
            None if k.add_ons.is_empty() => k.bundle.clone(),
            None => format!("{} + {}", k.bundle, k.add_ons.join(", ")),
        };
        let _ = writeln!(
            s,
            "  {:<8} {what}: RMB {} ({}, commission {}, vendor receives {}), active {} – {}",
            short(&k.customer),
            money(&k.value),
            k.sold_by,
            money(&k.commission),
            money(&k.vendor_receives),
            k.term_start.map(|d| d.to_string()).unwrap_or_default(),
            k.term_end.map(|d| d.to_string()).unwrap_or_default()
        );
    }
    let p = &f.partner;
    let _ = writeln!(
        s,
        "  {}: prepaid {}, {} order drawn {}, balance {}",
        p.name,
        money(&p.prepayment),
        p.orders,
        money(&p.drawn),
        money(&p.balance)
    );
    let r = &f.revenue;
    let _ = writeln!(
        s,
        "\nRevenue     booked {} · recognised to {} {} · RPO {} · deferred {}",
        money(&r.booked),
        r.as_of,
        money(&r.recognised),
        money(&r.rpo),
        money(&r.deferred)
    );
    let usage: Vec<String> = f
        .usage
        .iter()
        .map(|u| {
            format!(
                "{} {} {}/{} ({})",
                short(&u.customer),
                u.unit,
                u.used,
                u.quota,
                u.window
            )
        })
        .collect();
    let _ = writeln!(s, "Usage       {}", usage.join(" · "));
    let seats: Vec<String> = f
        .seats
        .iter()
        .map(|x| format!("{} {} {}/{}", short(&x.customer), x.module, x.used, x.limit))
        .collect();
    let _ = writeln!(s, "Seats       {}", seats.join(" · "));
    let k = &f.content;
    let _ = writeln!(
        s,
        "\nContent     {} articles + {} poster, {} versions reviewed ({} rejected) → {} publications on {} ({} release units) → {} inquiries",
        k.articles_generated,
        k.posters_generated,
        k.versions_reviewed,
        k.versions_rejected,
        k.publications,
        k.channels.join(", "),
        k.release_units,
        k.inquiries
    );
    let w = &f.site;
    let v = &w.visits;
    let _ = writeln!(
        s,
        "Site        {} ({}): {} pages, {} files, {} texts reviewed · {} visits, {} page views, {} visitors, {} s mean dwell, {} inquiries, median load {} ms",
        short(&w.customer),
        w.base_url,
        w.pages,
        w.files,
        w.texts_reviewed,
        v.visits,
        v.pageviews,
        v.visitors,
        secs(v.avg_dwell_ms),
        v.inquiries,
        v.median_load_ms.map_or("-".to_string(), |m| m.to_string())
    );
    let pairs = |rows: &[(String, u64)]| {
        rows.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    let _ = writeln!(s, "            sources: {}", pairs(&w.sources));
    let _ = writeln!(s, "            regions: {}", pairs(&w.regions));
    for l in &f.leads {
        let _ = writeln!(s, "Leads       {}", lead_line(l));
    }
    let x = &f.fission;
    let _ = writeln!(
        s,
        "Fission     \"{}\": {} participants, {} referred, {} shares, {} reward(s) paid RMB {} of {}",
        x.campaign,
        x.participants,
        x.referrals,
        x.shares,
        x.rewards,
        money(&x.reward_cost),
        money(&x.budget)
    );
    let a = &f.ads;
    let _ = writeln!(
        s,
        "\nAds {}     {} impressions, {} clicks; spend {} (solution {}, distribution {})",
        a.month,
        a.impressions,
        a.clicks,
        money(&a.spend),
        money(&a.solution.spend),
        money(&a.distribution.spend)
    );
    let _ = writeln!(
        s,
        "            rebates received {} ({}: standard {} + tiers {}) · offered {} ({}) · net rebate rate {}",
        money(&a.rebates_received),
        percent(a.rate_received),
        money(&a.standard_rebates),
        money(&a.tier_rebates),
        money(&a.rebates_offered),
        percent(a.rate_offered),
        percent(a.net_rebate_rate)
    );
    let _ = writeln!(
        s,
        "            revenue {} = gross basis (solution) {} + net basis (distribution) {}; KPI compensation {}",
        money(&a.revenue),
        money(&a.solution.revenue),
        money(&a.distribution.revenue),
        money(&a.kpi_compensation)
    );
    let _ = writeln!(
        s,
        "            cost {} (solution traffic {} + staff {}) → gross profit {}; gross billing {}; ledger balanced: {}",
        money(&a.cost),
        money(&a.cost.checked_sub(&a.staff_costs).unwrap_or(a.cost)),
        money(&a.staff_costs),
        money(&a.gross_profit),
        money(&a.gross_billing),
        if a.ledger_balanced { "yes" } else { "NO" }
    );
    let m = &f.saas;
    let _ = writeln!(
        s,
        "\nSaaS {}    {} users · average contract value {} · monthly ARPU {} · CAC {} (selling expenses {}) · monthly CAC {}",
        m.year,
        m.total_users,
        m.average_contract_value.as_ref().map_or("–".into(), money),
        money(&m.monthly_arpu),
        m.cac.as_ref().map_or("–".into(), money),
        money(&m.selling_expenses),
        m.monthly_cac.as_ref().map_or("–".into(), money)
    );
    let t = &f.totals;
    let _ = writeln!(
        s,
        "March       platform revenue {} = SaaS {} + ads {}",
        money(&t.revenue),
        money(&t.saas_revenue),
        money(&t.ads_revenue)
    );
    s
}

// ---- HTML and SVG ----------------------------------------------------------------------------

const FONT: &str =
    "'WenQuanYi Micro Hei','Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif";
const BLUE: &str = "#1565c0";
const TEAL: &str = "#00897b";
const ORANGE: &str = "#ef6c00";
const GREY: &str = "#9e9e9e";
const RED: &str = "#c62828";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn svg_open(w: f64, h: f64, label: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" style="max-width:{w}px;height:auto" role="img" aria-label="{}" font-family="{FONT}">"#,
        esc(label)
    )
}

/// The lead funnel of both tenants: one centred bar per stage, widths proportional to the
/// leads that reached it, the conversion from the previous stage on the right.
pub fn funnel_svg(leads: &[LeadFigures]) -> String {
    let stages: Vec<String> = leads
        .first()
        .map(|l| l.funnel.iter().map(|(s, _)| s.clone()).collect())
        .unwrap_or_default();
    let colours = [BLUE, TEAL];
    let (w, row, top) = (640.0, 40.0, 34.0);
    let h = top + row * stages.len() as f64 + 16.0;
    let totals: Vec<u64> = stages
        .iter()
        .map(|s| {
            leads
                .iter()
                .flat_map(|l| l.funnel.iter().filter(|(n, _)| n == s).map(|(_, v)| *v))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().max().unwrap_or(1).max(1) as f64;
    let (cx, span) = (300.0, 380.0);
    let mut s = svg_open(w, h, "lead funnel");
    for (i, l) in leads.iter().enumerate() {
        let _ = write!(
            s,
            r##"<rect x="{}" y="8" width="12" height="12" fill="{}"/><text x="{}" y="18" font-size="12" fill="#424242">{}</text>"##,
            20.0 + i as f64 * 170.0,
            colours[i % 2],
            36.0 + i as f64 * 170.0,
            esc(short(&l.customer))
        );
    }
    for (k, stage) in stages.iter().enumerate() {
        let y = top + row * k as f64;
        let total = totals.get(k).copied().unwrap_or(0) as f64;
        let width = span * total / max;
        let mut x = cx - width / 2.0;
        for (i, l) in leads.iter().enumerate() {
            let v = l
                .funnel
                .iter()
                .find(|(n, _)| n == stage)
                .map_or(0, |(_, v)| *v) as f64;
            let part = span * v / max;
            if part > 0.0 {
                let _ = write!(
                    s,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{part:.1}" height="{}" rx="3" fill="{}"/>"#,
                    row - 8.0,
                    colours[i % 2]
                );
                if part > 22.0 {
                    let _ = write!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" font-size="12" fill="white" text-anchor="middle">{v}</text>"#,
                        x + part / 2.0,
                        y + row / 2.0 + 1.0
                    );
                }
            }
            x += part;
        }
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="13" fill="#212121" text-anchor="end">{}</text>"##,
            cx - span / 2.0 - 10.0,
            y + row / 2.0 + 1.0,
            esc(stage)
        );
        let conv = match (k, totals.get(k.wrapping_sub(1))) {
            (0, _) | (_, None) => format!("{total}"),
            (_, Some(prev)) if *prev > 0 => {
                format!("{total} ({:.0}%)", 100.0 * total / *prev as f64)
            }
            _ => format!("{total}"),
        };
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" fill="#616161">{conv}</text>"##,
            cx + span / 2.0 + 10.0,
            y + row / 2.0 + 1.0
        );
    }
    s.push_str("</svg>");
    s
}

/// The revenue waterfall of the SaaS contracts: bookings, then each month's recognised revenue
/// stepping down, and the remaining performance obligation at the end.
pub fn waterfall_svg(f: &Figures) -> String {
    let booked = f64_of(&f.revenue.booked);
    let months = &f.revenue.waterfall;
    let n = months.len() + 2;
    let (w, h, left, top, bottom) = (680.0, 320.0, 64.0, 24.0, 52.0);
    let plot_h = h - top - bottom;
    let step = (w - left - 16.0) / n as f64;
    let bar = step * 0.7;
    let y_of = |v: f64| top + plot_h * (1.0 - v / booked.max(1.0));
    let mut s = svg_open(w, h, "revenue waterfall");
    for k in 0..=4 {
        let v = booked * k as f64 / 4.0;
        let y = y_of(v);
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eeeeee"/><text x="{}" y="{:.1}" font-size="11" fill="#757575" text-anchor="end">{:.0}k</text>"##,
            w - 12.0,
            left - 6.0,
            y + 4.0,
            v / 1000.0
        );
    }
    let mut level = booked;
    let column = |s: &mut String,
                  i: usize,
                  from: f64,
                  to: f64,
                  colour: &str,
                  label: &str,
                  value: f64| {
        let x = left + step * i as f64 + (step - bar) / 2.0;
        let (y1, y2) = (y_of(from.max(to)), y_of(from.min(to)));
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{y1:.1}" width="{bar:.1}" height="{:.1}" fill="{colour}" rx="2"/>"#,
            (y2 - y1).max(1.0)
        );
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#424242" text-anchor="middle">{:.1}k</text>"##,
            x + bar / 2.0,
            y1 - 4.0,
            value / 1000.0
        );
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#616161" text-anchor="middle">{}</text>"##,
            x + bar / 2.0,
            h - bottom + 16.0,
            esc(label)
        );
    };
    column(&mut s, 0, 0.0, booked, BLUE, "booked", booked);
    for (i, (month, m)) in months.iter().enumerate() {
        let v = f64_of(m);
        let colour = if i == 0 { ORANGE } else { TEAL };
        let label = month.get(5..).unwrap_or(month);
        column(&mut s, i + 1, level, level - v, colour, label, v);
        level -= v;
    }
    column(&mut s, n - 1, 0.0, level, GREY, "RPO", level);
    let _ = write!(
        s,
        r##"<text x="{left}" y="{}" font-size="11" fill="#757575">orange: recognised to {} · teal: the rest of 2026, ratably by day · grey: obligation left at year end</text></svg>"##,
        h - 10.0,
        f.revenue.as_of
    );
    s
}

/// One segment of a stacked bar: label, value, colour.
type Segment = (&'static str, f64, &'static str);

/// Where the ad margin comes from: rebates received (standard, tiers) against rebates offered
/// and KPI compensation, and what is left on each basis.
pub fn rebates_svg(f: &Figures) -> String {
    let a = &f.ads;
    let rows: [(&str, Vec<Segment>); 3] = [
        (
            "received from the platform",
            vec![
                ("standard 4%", f64_of(&a.standard_rebates), BLUE),
                ("tiers", f64_of(&a.tier_rebates), TEAL),
            ],
        ),
        (
            "offered to customers",
            vec![
                ("customer rebates", f64_of(&a.rebates_offered), ORANGE),
                ("KPI compensation", f64_of(&a.kpi_compensation), RED),
            ],
        ),
        (
            "net rebate",
            vec![(
                "net",
                f64_of(&a.rebates_received) - f64_of(&a.rebates_offered),
                GREY,
            )],
        ),
    ];
    let max = rows
        .iter()
        .map(|(_, parts)| parts.iter().map(|p| p.1.max(0.0)).sum::<f64>())
        .fold(1.0, f64::max);
    let (w, left, row) = (680.0, 190.0, 56.0);
    let h = 30.0 + row * rows.len() as f64 + 40.0;
    let span = w - left - 120.0;
    let mut s = svg_open(w, h, "rebate breakdown");
    for (i, (label, parts)) in rows.iter().enumerate() {
        let y = 20.0 + row * i as f64;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="13" fill="#212121" text-anchor="end">{}</text>"##,
            left - 10.0,
            y + 22.0,
            esc(label)
        );
        let mut x = left;
        let mut total = 0.0;
        for (name, v, colour) in parts {
            let width = span * v.max(0.0) / max;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{width:.1}" height="34" fill="{colour}" rx="2"><title>{}: {v:.2}</title></rect>"#,
                esc(name)
            );
            if width > 70.0 {
                let _ = write!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" font-size="11" fill="white" text-anchor="middle">{} {:.0}</text>"#,
                    x + width / 2.0,
                    y + 21.0,
                    esc(name),
                    v
                );
            }
            x += width;
            total += v;
        }
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" fill="#424242">RMB {:.0}</text>"##,
            x + 8.0,
            y + 22.0,
            total
        );
    }
    let _ = write!(
        s,
        r##"<text x="{left}" y="{:.1}" font-size="12" fill="#424242">rate received {} − rate offered {} = net rebate rate {} of RMB {} spend</text></svg>"##,
        h - 14.0,
        percent(a.rate_received),
        percent(a.rate_offered),
        percent(a.net_rebate_rate),
        money(&a.spend)
    );
    s
}

fn card(label: &str, value: &str, note: &str) -> String {
    format!(
        r#"<div class="card"><div class="label">{}</div><div class="value">{}</div><div class="note">{}</div></div>"#,
        esc(label),
        esc(value),
        esc(note)
    )
}

fn bar(used: u64, quota: u64) -> String {
    let pct = if quota == 0 {
        0.0
    } else {
        100.0 * used as f64 / quota as f64
    };
    format!(
        r#"<div class="meter"><div style="width:{:.1}%"></div></div>"#,
        pct.clamp(0.5, 100.0)
    )
}

/// The HTML report: headline cards, the three charts, the tables, the poster (`poster` is the
/// image's file name next to the page, if it was written) and the story phase by phase.
pub fn html(f: &Figures, phases: &[PhaseReport], store: &str, poster: Option<&str>) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>Marketingforce quickstart</title><style>
body{{font-family:{FONT};margin:0;background:#f5f7fa;color:#212121}}
header{{background:linear-gradient(90deg,#0d47a1,#1976d2);color:white;padding:28px 40px}}
header h1{{margin:0;font-size:26px}} header p{{margin:6px 0 0;opacity:.85}}
main{{max-width:1120px;margin:0 auto;padding:24px 40px 60px}}
.cards{{display:grid;grid-template-columns:repeat(4,1fr);gap:14px;margin-bottom:24px}}
.card{{background:white;border-radius:10px;padding:16px 18px;box-shadow:0 1px 3px rgba(0,0,0,.08)}}
.card .label{{font-size:12px;color:#757575;text-transform:uppercase;letter-spacing:.04em}}
.card .value{{font-size:24px;font-weight:600;margin:6px 0 2px;color:#0d47a1}}
.card .note{{font-size:12px;color:#616161}}
section{{background:white;border-radius:10px;padding:18px 22px;margin-bottom:20px;box-shadow:0 1px 3px rgba(0,0,0,.08)}}
section h2{{font-size:18px;margin:0 0 12px}}
.grid{{display:grid;grid-template-columns:1fr 1fr;gap:20px}}
table{{border-collapse:collapse;width:100%;font-size:13px}} th,td{{text-align:left;padding:6px 8px;border-bottom:1px solid #eee}}
th{{color:#616161;font-weight:600}} td.num{{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}}
.meter{{background:#e3f2fd;border-radius:4px;height:8px;width:140px}} .meter div{{background:#1976d2;height:8px;border-radius:4px}}
.poster img{{max-height:560px;max-width:100%;display:block;margin:0 auto;border-radius:8px;box-shadow:0 2px 8px rgba(0,0,0,.2)}}
td:first-child{{white-space:nowrap}}
ol.story li{{margin-bottom:10px}} ol.story ul{{margin:4px 0;padding-left:18px;font-size:13px;color:#424242}}
</style></head><body><header><h1>Marketingforce · a day in the life of the platform</h1><p>March 2026 on the {} store — figures as of {}</p></header><main>"#,
        esc(store),
        f.as_of
    );
    let leads: usize = f.leads.iter().map(|l| l.live).sum();
    let converted: usize = f.leads.iter().map(|l| l.converted).sum();
    s.push_str(r#"<div class="cards">"#);
    s.push_str(&card(
        "SaaS booked",
        &money(&f.revenue.booked),
        &format!(
            "{} contracts · RPO {}",
            f.contracts.len(),
            money(&f.revenue.rpo)
        ),
    ));
    s.push_str(&card(
        "Platform revenue, March",
        &money(&f.totals.revenue),
        &format!(
            "SaaS {} + ads {}",
            money(&f.totals.saas_revenue),
            money(&f.totals.ads_revenue)
        ),
    ));
    s.push_str(&card(
        "Net rebate rate",
        &percent(f.ads.net_rebate_rate),
        &format!(
            "{} − {} of {} spend",
            percent(f.ads.rate_received),
            percent(f.ads.rate_offered),
            money(&f.ads.spend)
        ),
    ));
    s.push_str(&card(
        "Leads → customers",
        &format!("{leads} → {converted}"),
        &format!(
            "{} inquiries from {} publications",
            f.content.inquiries, f.content.publications
        ),
    ));
    s.push_str("</div>");

    let _ = write!(
        s,
        r#"<section><h2>Lead funnel</h2>{}</section>"#,
        funnel_svg(&f.leads)
    );
    let _ = write!(
        s,
        r#"<section><h2>Revenue waterfall (SaaS contracts, 2026)</h2>{}</section><section><h2>Rebate breakdown and the two bases, {}</h2>{}"#,
        waterfall_svg(f),
        esc(&f.ads.month),
        rebates_svg(f)
    );
    let a = &f.ads;
    let row = |label: &str, x: &Money, y: &Money| {
        format!(
            r#"<tr><td>{label}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            money(x),
            money(y)
        )
    };
    let (g, n) = (&a.solution, &a.distribution);
    let _ = write!(
        s,
        r#"<table style="max-width:680px;margin-top:12px"><tr><th></th><th>gross basis (solution)</th><th>net basis (distribution)</th></tr>{}{}{}{}{}{}{}</table><p style="font-size:13px">ledger balanced: {}</p></section>"#,
        row("spend", &g.spend, &n.spend),
        row("rebates received", &g.rebates_received, &n.rebates_received),
        row("rebates offered", &g.rebates_offered, &n.rebates_offered),
        row("KPI compensation", &g.kpi_compensation, &n.kpi_compensation),
        row("<b>revenue</b>", &g.revenue, &n.revenue),
        row("cost (traffic + staff)", &g.cost, &n.cost),
        row("<b>gross profit</b>", &g.gross_profit, &n.gross_profit),
        if a.ledger_balanced { "yes" } else { "NO" }
    );

    s.push_str(r#"<div class="grid"><section><h2>Contracts</h2><table><tr><th>customer</th><th>what</th><th>sold by</th><th>value</th><th>recognised</th></tr>"#);
    for k in &f.contracts {
        let recognised = f
            .revenue
            .recognised_by_customer
            .iter()
            .find(|(c, _)| *c == k.customer)
            .map_or("–".into(), |(_, m)| money(m));
        let what = match k.accounts {
            Some(n) => format!("{} × {n}", k.bundle),
            None => format!("{} + {} add-ons", k.bundle, k.add_ons.len()),
        };
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{recognised}</td></tr>"#,
            esc(short(&k.customer)),
            esc(&what),
            esc(&k.sold_by),
            money(&k.value)
        );
    }
    s.push_str(r#"</table><h2 style="margin-top:18px">Usage and seats</h2><table><tr><th>customer</th><th>unit</th><th>used / quota</th><th></th></tr>"#);
    for u in &f.usage {
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td>{} ({})</td><td class="num">{} / {}</td><td>{}</td></tr>"#,
            esc(short(&u.customer)),
            esc(&u.unit),
            esc(&u.window),
            u.used,
            u.quota,
            bar(u.used, u.quota)
        );
    }
    for x in &f.seats {
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td>seats: {}</td><td class="num">{} / {}</td><td>{}</td></tr>"#,
            esc(short(&x.customer)),
            esc(&x.module),
            x.used,
            x.limit,
            bar(u64::from(x.used), u64::from(x.limit))
        );
    }
    s.push_str("</table></section>");
    s.push_str(r#"<section class="poster"><h2>T-image poster</h2>"#);
    match poster {
        Some(file) => {
            let _ = write!(s, r#"<img src="{}" alt="poster">"#, esc(file));
        }
        None => s.push_str("<p>(not rendered)</p>"),
    }
    let k = &f.content;
    let _ = write!(
        s,
        r#"<p style="font-size:13px">{} articles and {} poster reviewed ({} versions, {} rejected), {} publications on {} → {} inquiries</p></section></div>"#,
        k.articles_generated,
        k.posters_generated,
        k.versions_reviewed,
        k.versions_rejected,
        k.publications,
        esc(&k.channels.join(", ")),
        k.inquiries
    );

    let w = &f.site;
    let v = &w.visits;
    let _ = write!(
        s,
        r#"<section><h2>Official site — <a href="site/index.html">{}</a></h2><p style="font-size:13px">{}: {} pages in Chinese and English, PC and mobile ({} files, {} text blocks reviewed). Open <a href="site/index.html">site/index.html</a> (PC) or <a href="site/m/index.html">site/m/index.html</a> (mobile).</p><div class="cards"><div class="card"><div class="label">visits</div><div class="value">{}</div><div class="note">{} page views · {} visitors</div></div><div class="card"><div class="label">mean dwell</div><div class="value">{} s</div><div class="note">per page view</div></div><div class="card"><div class="label">inquiries</div><div class="value">{}</div><div class="note">forms → CRM leads</div></div><div class="card"><div class="label">median load</div><div class="value">{}</div><div class="note">ms, real visits</div></div></div><div class="grid"><table><tr><th>source</th><th>visits</th></tr>"#,
        esc(&w.base_url),
        esc(short(&w.customer)),
        w.pages,
        w.files,
        w.texts_reviewed,
        v.visits,
        v.pageviews,
        v.visitors,
        secs(v.avg_dwell_ms),
        v.inquiries,
        v.median_load_ms.map_or("-".to_string(), |m| m.to_string())
    );
    for (k, n) in &w.sources {
        let _ = write!(s, r#"<tr><td>{}</td><td class="num">{n}</td></tr>"#, esc(k));
    }
    s.push_str(r#"</table><table><tr><th>region</th><th>visits</th></tr>"#);
    for (k, n) in &w.regions {
        let _ = write!(s, r#"<tr><td>{}</td><td class="num">{n}</td></tr>"#, esc(k));
    }
    s.push_str("</table></div></section>");

    s.push_str(r#"<section><h2>Leads</h2><table><tr><th>tenant</th><th>captures</th><th>merged</th><th>allocated</th><th>followed up</th><th>qualified</th><th>converted</th><th>members</th><th>SOP tasks</th></tr>"#);
    for l in &f.leads {
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{} ({} done)</td></tr>"#,
            esc(short(&l.customer)),
            l.captured,
            l.merged,
            l.allocated,
            l.followed_up,
            l.qualified,
            l.converted,
            l.members,
            l.sop_tasks,
            l.sop_tasks_done
        );
    }
    let x = &f.fission;
    let m = &f.saas;
    let _ = write!(
        s,
        r#"</table><p style="font-size:13px">Fission “{}”: {} participants, {} referred, {} reward(s) paid RMB {} of {}. SaaS {}: {} users, average contract value {}, monthly ARPU {}, CAC {}.</p></section>"#,
        esc(&x.campaign),
        x.participants,
        x.referrals,
        x.rewards,
        money(&x.reward_cost),
        money(&x.budget),
        m.year,
        m.total_users,
        m.average_contract_value.as_ref().map_or("–".into(), money),
        money(&m.monthly_arpu),
        m.cac.as_ref().map_or("–".into(), money)
    );

    if !phases.is_empty() {
        s.push_str(r#"<section><h2>The story</h2><ol class="story">"#);
        for p in phases {
            let _ = write!(
                s,
                "<li><b>{}</b> <span style=\"color:#757575\">{}</span><ul>",
                esc(p.phase.title()),
                (p.started_at + chrono::Duration::hours(8)).format("%a %d %b %H:%M")
            );
            for line in &p.lines {
                let _ = write!(s, "<li>{}</li>", esc(line));
            }
            s.push_str("</ul></li>");
        }
        s.push_str("</ol></section>");
    }
    s.push_str("</main></body></html>");
    s
}
