//! The evaluation report: figures against peers, bad input, HTML with charts.

use marketingforce_content::report::{
    evaluate, render_html, Aspect, EvaluationInput, PeerBenchmarks,
};
use rust_decimal::Decimal;

fn input() -> EvaluationInput {
    serde_json::from_str(include_str!("data/evaluation-input.json")).unwrap()
}

#[test]
fn figures_are_quantified_against_peers() {
    let r = evaluate(&input(), &PeerBenchmarks::builtin()).unwrap();
    assert_eq!(r.aspects.len(), 5);
    assert_eq!(r.traffic.value, 6400 + 10_800);
    assert_eq!(r.exposure.value, 193_800);
    assert_eq!(r.engagement_rate.value, Decimal::new(156, 4)); // 168 / 10,800
    let cpl = r.cost_per_lead.value.as_ref().unwrap();
    assert_eq!(cpl.to_string(), "157.01 CNY"); // 16,800 / 107, half-up to the fen
    assert_eq!(r.cost_per_lead.ratio, Some(Decimal::new(87, 2)));
    let site = r.aspects.iter().find(|a| a.aspect == Aspect::Site).unwrap();
    assert_eq!(site.score, 58.0);
    assert!(site.findings.iter().any(|f| f.contains("缺少在线客服")));
    assert!(r.overall > 0.0 && r.overall <= 100.0);
    assert!(!r.recommendations.is_empty());
    // A shorter period is scaled to 30 days for the comparison.
    let mut half = input();
    half.to = half.from + chrono::Duration::days(14);
    assert_eq!(
        evaluate(&half, &PeerBenchmarks::builtin())
            .unwrap()
            .exposure
            .value,
        387_600
    );
}

#[test]
fn bad_input_is_named() {
    let peers = PeerBenchmarks::builtin();
    let mut i = input();
    i.industry = "space-travel".into();
    assert!(matches!(
        evaluate(&i, &peers).unwrap_err(),
        marketingforce_content::ContentError::Core(marketingforce_core::Error::NotFound { .. })
    ));
    let mut i = input();
    i.to = i.from - chrono::Duration::days(1);
    assert!(evaluate(&i, &peers).unwrap_err().to_string().contains("to"));
    let mut i = input();
    i.promotion.inquiry_response_rate = 1.5;
    assert!(evaluate(&i, &peers)
        .unwrap_err()
        .to_string()
        .contains("promotion.inquiry_response_rate"));
    let mut i = input();
    i.spend = marketingforce_core::money::Money::parse("100 USD").unwrap();
    assert!(evaluate(&i, &peers)
        .unwrap_err()
        .to_string()
        .contains("spend"));
    let mut i = input();
    i.leads = 0;
    let r = evaluate(&i, &peers).unwrap();
    assert!(
        r.cost_per_lead.value.is_none()
            && r.recommendations.iter().any(|x| x.contains("没有获得线索"))
    );
    assert!(PeerBenchmarks::from_json(r#"{"version":1,"source":"x","industries":[{"industry":"a","traffic":1,"exposure":1,"engagement_rate":"2","cost_per_lead":{"amount":"1","currency":"CNY"},"aspects":{"site":1,"exposure":1,"promotion_service":1,"reputation":1,"information":1}}]}"#).unwrap_err().to_string().contains("industries[0].engagement_rate"));
}

#[test]
fn html_has_cards_charts_and_escaped_text() {
    let mut i = input();
    i.company = "<script>alert(1)</script>精机".into();
    let r = evaluate(&i, &PeerBenchmarks::builtin()).unwrap();
    let html = render_html(&r);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
    assert_eq!(html.matches("<svg").count(), 4, "ring, radar, bars, trend");
    for s in [
        "获客成本",
        "¥157.01",
        "同行中位数",
        "官网营销功能",
        "品牌口碑",
        "machine-portal",
        "建议",
    ] {
        assert!(html.contains(s), "{s}");
    }
    if std::env::var_os("MF_WRITE_SAMPLES").is_some() {
        std::fs::write("/tmp/report-sample.html", &html).unwrap();
    }
}

fn count() -> impl proptest::strategy::Strategy<Value = u64> {
    use proptest::prelude::*;
    prop_oneof![0..100_000u64, any::<u64>(), Just(u64::MAX)]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Counts of any size are evaluated or refused with the field named, never overflowed.
    #[test]
    fn counts_of_any_size_are_evaluated_or_named(
        views in proptest::collection::vec(count(), 4),
        exposures in proptest::collection::vec(count(), 4),
        engagements in proptest::collection::vec(count(), 4),
        site_visits in count(),
        reputation in (count(), count(), count()),
    ) {
        let mut i = input();
        for (k, c) in i.channels.iter_mut().enumerate() {
            c.views = views[k];
            c.exposures = exposures[k];
            c.engagements = engagements[k];
        }
        i.site_visits = site_visits;
        (i.reputation.positive, i.reputation.neutral, i.reputation.negative) = reputation;
        match evaluate(&i, &PeerBenchmarks::builtin()) {
            Ok(r) => {
                proptest::prop_assert!(r.overall >= 0.0 && r.overall <= 100.0);
                proptest::prop_assert!(render_html(&r).starts_with("<!DOCTYPE html>"));
            }
            Err(e) => {
                let text = e.to_string();
                proptest::prop_assert!(
                    ["channels", "site_visits", "reputation"].iter().any(|f| text.contains(f)),
                    "{}", text
                );
            }
        }
    }
}
