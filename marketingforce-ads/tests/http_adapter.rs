//! The HTTP adapter against a fake platform the test starts on 127.0.0.1: field mappings,
//! money units, retries on 429, refusals, timeouts, and AdOps on top of it.

mod common;

use marketingforce_core::IdempotencyKey;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::*;
use marketingforce_ads::account::{Funding, TopUpRequest as OurTopUp};
use marketingforce_ads::agreement::{PlatformAgreementTerms, PlatformCategory, SettlementTerms};
use marketingforce_ads::platform::http::{
    HttpAdPlatform, HttpPlatformConfig, MoneyUnit, ReportFields,
};
use marketingforce_ads::rebate::PlatformRebatePolicy;
use marketingforce_ads::report::IngestOutcome;
use marketingforce_core::adapters::ad_platform::*;
use marketingforce_core::money::Currency;
use marketingforce_core::Error;
use serde_json::{json, Value};

#[derive(Default)]
struct Fake {
    balances: Mutex<HashMap<String, i64>>,
    top_ups: Mutex<HashMap<String, Value>>,
    throttle: AtomicU32,
    calls: AtomicU32,
}

type S = State<Arc<Fake>>;
type Reply = (StatusCode, Json<Value>);

fn ok(data: Value) -> Reply {
    (
        StatusCode::OK,
        Json(json!({"code": 0, "message": "OK", "data": data})),
    )
}

fn authorised(h: &HeaderMap) -> Option<Reply> {
    (h.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer secret")).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": 40100, "message": "bad token"})),
        )
    })
}

fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn open(State(s): S, h: HeaderMap, Json(body): Json<Value>) -> Reply {
    if let Some(r) = authorised(&h) {
        return r;
    }
    let id = format!("acc-{}", body["request_id"].as_str().unwrap_or("x").len());
    s.balances.lock().unwrap().entry(id.clone()).or_insert(0);
    ok(json!({"account_id": id, "status": "active", "balance": 0}))
}

async fn account(State(s): S, Path(id): Path<String>) -> Reply {
    match s.balances.lock().unwrap().get(&id) {
        Some(b) => ok(json!({"account_id": id, "status": "active", "balance": b})),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"code": 40400, "message": "no such account"})),
        ),
    }
}

async fn top_up(State(s): S, Path(id): Path<String>, Json(body): Json<Value>) -> Reply {
    let rid = body["request_id"].as_str().unwrap_or_default().to_string();
    let amount = body["amount"].as_i64().unwrap_or_default();
    let mut done = s.top_ups.lock().unwrap();
    if let Some(v) = done.get(&rid) {
        return ok(v.clone());
    }
    *s.balances.lock().unwrap().entry(id.clone()).or_default() += amount;
    let v = json!({"request_id": rid, "account_id": id, "amount": amount, "status": "succeeded", "platform_ref": "tx-1"});
    done.insert(rid, v.clone());
    ok(v)
}

async fn top_up_status(State(s): S, Path((_id, rid)): Path<(String, String)>) -> Reply {
    match s.top_ups.lock().unwrap().get(&rid) {
        Some(v) => ok(v.clone()),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"code": 40400, "message": "unknown request"})),
        ),
    }
}

async fn campaign(Json(body): Json<Value>) -> Reply {
    if body["name"] == "refuse" {
        return (
            StatusCode::OK,
            Json(json!({"code": 40001, "message": "bid below the floor price"})),
        );
    }
    assert_eq!(
        body["bid"],
        json!(120_000),
        "a 1.20 bid in thousandths of a fen"
    );
    ok(json!({"campaign_id": "c-1", "status": "active"}))
}

async fn report(State(s): S, uri: Uri) -> Reply {
    s.calls.fetch_add(1, Ordering::SeqCst);
    if s.throttle.load(Ordering::SeqCst) > 0 {
        s.throttle.fetch_sub(1, Ordering::SeqCst);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"code": 42900, "message": "slow down"})),
        );
    }
    let q = query(&uri);
    let date = q.get("date").cloned().unwrap_or_default();
    if date == "2026-03-31" {
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    if date == "2026-03-30" {
        return ok(
            json!({"report_id": "r", "revision": 1, "complete": true, "rows": [
                {"cid": "c-1", "cost_milli": 12.5, "imp": 1, "clk": 0, "conv": 0}
            ]}),
        );
    }
    ok(json!({
        "report_id": format!("{}-{date}", q.get("account_id").cloned().unwrap_or_default()),
        "revision": 1,
        "complete": true,
        "currency": "CNY",
        "rows": [{"cid": "c-1", "cost_milli": 123_456_789, "imp": "41000", "clk": 1025, "conv": 20}]
    }))
}

async fn rebates() -> Reply {
    ok(
        json!({"statement_id": "s-1", "gross_spend": 1_000_000_000, "lines": [
        {"kind": "standard", "basis": 1_000_000_000, "rate": "0.05", "amount": 50_000_000}
    ], "total": 50_000_000}),
    )
}

async fn conversions() -> Reply {
    ok(
        json!({"list": [{"order_id": "o-1", "click_id": "k-1", "campaign_id": "c-1",
        "click_time": "2026-03-02T10:00:00+08:00", "conversion_time": "2026-03-02T11:00:00+08:00",
        "order_value": 19_900_000}]}),
    )
}

async fn serve(fake: Arc<Fake>) -> String {
    let app = Router::new()
        .route("/open_api/v1/accounts", post(open))
        .route("/open_api/v1/accounts/{id}", get(account))
        .route("/open_api/v1/accounts/{id}/topups", post(top_up))
        .route(
            "/open_api/v1/accounts/{id}/topups/{rid}",
            get(top_up_status),
        )
        .route("/open_api/v1/campaigns", post(campaign))
        .route("/open_api/v1/reports/daily", get(report))
        .route("/open_api/v1/rebates/statement", get(rebates))
        .route("/open_api/v1/conversions", get(conversions))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}/open_api/v1")
}

fn config(base_url: String, token: &str) -> HttpPlatformConfig {
    HttpPlatformConfig {
        code: "ocean-http".into(),
        base_url,
        token: token.into(),
        currency: Currency::CNY,
        money_unit: MoneyUnit::MilliMinor,
        report_fields: ReportFields {
            list: "rows".into(),
            campaign_id: "cid".into(),
            cost: "cost_milli".into(),
            impressions: "imp".into(),
            clicks: "clk".into(),
            conversions: "conv".into(),
        },
        timeout_ms: 300,
        max_retries: 3,
        backoff_ms: 5,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn speaks_the_protocol_with_mapped_fields_and_units() {
    rt().block_on(async {
        let fake = Arc::new(Fake::default());
        let base = serve(fake.clone()).await;
        let http = HttpAdPlatform::new(config(base.clone(), "secret")).unwrap();

        let acct = http
            .open_account(&OpenAccountRequest {
                request_id: "open-1".into(),
                advertiser_name: "某品牌".into(),
                licence_number: "91350100M000100Y43".into(),
                industry: "retail".into(),
                currency: Currency::CNY,
            })
            .await
            .unwrap();
        let receipt = http
            .top_up(&TopUpRequest {
                request_id: "t-1".into(),
                account_id: acct.account_id.clone(),
                amount: cny("500.00"),
            })
            .await
            .unwrap();
        assert_eq!(receipt.status, TopUpStatus::Succeeded);
        assert_eq!(
            http.account(&acct.account_id).await.unwrap().balance,
            cny("500.00")
        );
        assert_eq!(
            http.top_up_status(&acct.account_id, "t-1")
                .await
                .unwrap()
                .unwrap()
                .amount,
            cny("500.00")
        );
        assert_eq!(
            http.top_up_status(&acct.account_id, "never").await.unwrap(),
            None
        );
        assert!(matches!(
            http.account("ghost").await.unwrap_err(),
            Error::NotFound { .. }
        ));

        // Report rows through the field mapping; cost in thousandths of a fen, kept exact.
        fake.throttle.store(2, Ordering::SeqCst);
        let report = http
            .daily_report(&ReportRequest {
                account_id: acct.account_id.clone(),
                date: day("2026-03-02"),
            })
            .await
            .unwrap();
        assert_eq!(fake.calls.load(Ordering::SeqCst), 3, "two 429s retried");
        let line = &report.lines[0];
        assert_eq!(
            (line.impressions, line.clicks, line.conversions),
            (41_000, 1_025, 20)
        );
        assert_eq!(line.spend.amount().to_string(), "1234.56789");
        // Too many 429s: a retryable error naming the status.
        fake.throttle.store(10, Ordering::SeqCst);
        let e = http
            .daily_report(&ReportRequest {
                account_id: acct.account_id.clone(),
                date: day("2026-03-02"),
            })
            .await
            .unwrap_err();
        assert!(e.is_retryable() && e.to_string().contains("429"), "{e}");
        fake.throttle.store(0, Ordering::SeqCst);
        // Floats are refused with the row's path, never rounded.
        let e = http
            .daily_report(&ReportRequest {
                account_id: acct.account_id.clone(),
                date: day("2026-03-30"),
            })
            .await
            .unwrap_err();
        assert!(e.to_string().contains("rows[0].cost_milli"), "{e}");
        // A slow answer is a timeout: outcome unknown.
        let e = http
            .daily_report(&ReportRequest {
                account_id: acct.account_id.clone(),
                date: day("2026-03-31"),
            })
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Timeout { .. }), "{e}");

        // Refusals carry the platform's message.
        let request = |name: &str| CampaignRequest {
            request_id: "c".into(),
            account_id: acct.account_id.clone(),
            name: name.into(),
            objective: "traffic".into(),
            pricing: Pricing::Cpc {
                max_bid: cny("1.20"),
            },
            daily_budget: Some(cny("100")),
            total_budget: None,
            start: day("2026-03-01"),
            end: None,
            audience: Audience::default(),
        };
        assert_eq!(
            http.create_campaign(&request("ok"))
                .await
                .unwrap()
                .campaign_id,
            "c-1"
        );
        let e = http.create_campaign(&request("refuse")).await.unwrap_err();
        assert!(
            !e.is_retryable() && e.to_string().contains("bid below the floor price"),
            "{e}"
        );

        let statement = http
            .rebate_statement(&RebateStatementRequest {
                from: day("2026-03-01"),
                to: day("2026-03-31"),
            })
            .await
            .unwrap();
        assert_eq!(statement.total, cny("500.00"));
        assert_eq!(statement.lines[0].rate.to_string(), "5%");
        let events = http
            .conversions(&ReportRequest {
                account_id: acct.account_id.clone(),
                date: day("2026-03-02"),
            })
            .await
            .unwrap();
        assert_eq!(events[0].order_value, Some(cny("199.00")));

        // A wrong token is refused, not retried.
        let bad = HttpAdPlatform::new(config(base, "wrong")).unwrap();
        let e = bad
            .open_account(&OpenAccountRequest {
                request_id: "x".into(),
                advertiser_name: "x".into(),
                licence_number: "x".into(),
                industry: "x".into(),
                currency: Currency::CNY,
            })
            .await
            .unwrap_err();
        assert!(!e.is_retryable() && e.to_string().contains("401"), "{e}");
    });
}

#[test]
fn ad_ops_runs_over_the_http_adapter() {
    rt().block_on(async {
        let fake = Arc::new(Fake::default());
        let base = serve(fake.clone()).await;
        let w = world().await;
        let p = w
            .ops
            .register_platform(
                "HTTP 平台",
                "ocean-http",
                PlatformCategory::ShortVideo,
                &IdempotencyKey::from_static("ph"),
            )
            .await
            .unwrap();
        w.ops
            .sign_platform_agreement(
                &p.id,
                PlatformAgreementTerms {
                    start: day("2026-01-01"),
                    end: day("2026-12-31"),
                    currency: Currency::CNY,
                    pricing_models: vec![PricingModel::Cpc],
                    settlement_terms: SettlementTerms::Monthly {
                        pay_within_days: 28,
                    },
                    rebate_policy: PlatformRebatePolicy::standard("5%".parse().unwrap()),
                },
                &IdempotencyKey::from_static("pah"),
            )
            .await
            .unwrap();
        w.ops.attach_platform(
            p.id,
            Arc::new(HttpAdPlatform::new(config(base, "secret")).unwrap()),
        );
        let account = w
            .ops
            .open_ad_account(
                &w.distribution.id,
                &p.id,
                &IdempotencyKey::from_static("h1"),
            )
            .await
            .unwrap();
        let t = w
            .ops
            .top_up(
                OurTopUp {
                    account: account.id,
                    amount: cny("2000"),
                    funding: Funding::Credit,
                },
                &IdempotencyKey::from_static("ht"),
            )
            .await
            .unwrap();
        assert!(matches!(
            t.state,
            marketingforce_ads::account::TopUpState::Confirmed { .. }
        ));
        let mut d = draft(
            "HTTP 引流",
            Pricing::Cpc {
                max_bid: cny("1.20"),
            },
            "500",
            vec![],
        );
        d.name = "ok".into();
        w.ops
            .create_campaign(&account.id, d, &IdempotencyKey::from_static("hc"))
            .await
            .unwrap();
        let summary = w.ops.fetch_reports(&p.id, day("2026-03-02")).await.unwrap();
        assert!(
            matches!(summary.ingested[0].1, IngestOutcome::Stored { .. }),
            "{summary:?}"
        );
        let again = w.ops.fetch_reports(&p.id, day("2026-03-02")).await.unwrap();
        assert_eq!(again.ingested[0].1, IngestOutcome::Duplicate);
    });
}
