//! The `http_service` example driven over loopback: the test starts the router on
//! `127.0.0.1:0` and talks to it with a real HTTP client. Happy paths for tenants, leads, usage
//! and settlement; every bad input the service promises to refuse; idempotent replays (same
//! response, nothing changed) and replays with another body (refused); a backend failure; lost
//! commit acknowledgements (unknown outcomes); a restart on SQLite; two instances over one
//! store; keyed fingerprints; connection limits (slowloris); bearer-token authentication.

// The service module of the example, compiled into this test; the test does not use every item.
#[path = "../examples/http_service/service/mod.rs"]
#[allow(dead_code, unused_imports)]
mod service;

use marketingforce_core::IdempotencyKey;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use marketingforce::ads::account::{Funding, TopUpRequest};
use marketingforce::ads::agreement::*;
use marketingforce::ads::campaign::{Budget, CampaignDraft, Objective, Schedule};
use marketingforce::ads::party::*;
use marketingforce::ads::platform::sim::{SimConfig, SimulatedPlatform};
use marketingforce::ads::rebate::{CustomerRebatePolicy, PlatformRebatePolicy};
use marketingforce::core::adapters::ad_platform::{Audience, Pricing, PricingModel};
use marketingforce::core::id::SeededIds;
use marketingforce::core::money::{Currency, Money};
use marketingforce::core::storage::postgres::PostgresOptions;
use marketingforce::core::storage::{
    Batch, Collection, CommitOutcome, JournalEntry, MemoryStore, Page, PageRequest, PostgresStore,
    Record, SqliteStore, Store,
};
use marketingforce::core::tenant::TenantId;
use marketingforce::core::time::ManualClock;
use marketingforce::core::Error as CoreError;
use marketingforce::crm::crypto::KeyRing;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use service::{AppState, ServiceConfig};
use tokio::task::JoinHandle;

const BODY_LIMIT: usize = 16 * 1024;

/// A running service and a client for it.
struct Server {
    base: String,
    client: reqwest::Client,
    state: AppState,
    clock: Arc<ManualClock>,
    task: JoinHandle<()>,
}

/// One response, decoded.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Assert an RFC 9457 problem of `kind` with `status`; returns the body.
    #[track_caller]
    fn problem(&self, status: u16, kind: &str) -> &Value {
        assert_eq!(self.status, status, "{:#}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{:#}",
            self.body
        );
        assert_eq!(self.body["status"], json!(status));
        assert_eq!(
            self.body["type"],
            json!(format!("tag:marketingforce.example,2026:problems/{kind}")),
            "{:#}",
            self.body
        );
        assert!(self.body["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        &self.body
    }

    /// Assert a 422 validation problem naming `field`.
    #[track_caller]
    fn invalid(&self, field: &str) -> &Value {
        let body = self.problem(422, "validation");
        assert_eq!(body["field"], json!(field), "{body:#}");
        body
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-01T09:00:00+08:00").expect("clock"))
}

async fn start() -> Server {
    start_on(Arc::new(MemoryStore::new()), clock()).await
}

async fn start_on(store: Arc<dyn Store>, clock: Arc<ManualClock>) -> Server {
    start_with(store, clock, 5, config(), None).await
}

fn config() -> ServiceConfig {
    ServiceConfig {
        body_limit: BODY_LIMIT,
        ..ServiceConfig::default()
    }
}

/// A server over `store`; `seed` seeds its ids (two instances over one store need different
/// seeds, as two processes draw different random ids).
async fn start_with(
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    seed: u64,
    config: ServiceConfig,
    auth: Option<Arc<dyn service::Authenticator>>,
) -> Server {
    let mut builder = AppState::builder(store, Arc::new(KeyRing::new("k1", [9; 32])))
        .clock(clock.clone())
        .ids(Arc::new(SeededIds::new(seed, clock.clone())))
        .config(config);
    if let Some(auth) = auth {
        builder = builder.authenticator(auth);
    }
    let state = builder.build().expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn({
        let state = state.clone();
        async move {
            service::serve(listener, state).await.expect("serve");
        }
    });
    Server {
        base,
        client: reqwest::Client::new(),
        state,
        clock,
        task,
    }
}

impl Server {
    async fn send(&self, request: reqwest::RequestBuilder) -> Resp {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("every response body is JSON")
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> Resp {
        let body = serde_json::to_vec(&body).expect("json");
        self.post_raw(path, key, Some("application/json"), body)
            .await
    }

    async fn post_raw(
        &self,
        path: &str,
        key: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        let mut request = self.client.post(format!("{}{path}", self.base)).body(body);
        if let Some(k) = key {
            request = request.header("Idempotency-Key", k);
        }
        if let Some(t) = content_type {
            request = request.header("Content-Type", t);
        }
        self.send(request).await
    }

    /// Create a tenant on `bundle`; returns its id.
    async fn tenant(&self, key: &str, body: Value) -> String {
        let r = self.post("/tenants", Some(key), body).await;
        assert_eq!(r.status, 201, "{:#}", r.body);
        r.body["id"].as_str().expect("id").to_string()
    }

    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// T Cloud Basic with lead management (capture needs it).
fn basic(name: &str) -> Value {
    json!({"name": name, "bundle": "tcloud.basic", "add_ons": ["mf.lead_management"]})
}

#[tokio::test]
async fn tenants_are_created_once_per_key_and_read_back() {
    let s = start().await;
    let body =
        json!({"name": "上海恒泽机械有限公司", "bundle": "trueclient.standard", "accounts": 8});
    let created = s.post("/tenants", Some("tenant-1"), body.clone()).await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    assert_eq!(created.header("content-type"), Some("application/json"));
    let id = created.body["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("tenant_"));
    assert_eq!(
        created.header("location"),
        Some(format!("/tenants/{id}").as_str())
    );
    assert_eq!(created.body["name"], json!("上海恒泽机械有限公司"));
    assert_eq!(created.body["time_zone"], json!("Asia/Shanghai"));
    assert_eq!(created.body["currency"], json!("CNY"));
    assert_eq!(created.body["bundle"], json!("trueclient.standard"));
    assert_eq!(created.body["accounts"], json!(8));
    assert_eq!(created.body["term_start"], json!("2026-03-01"));
    assert_eq!(created.body["term_end"], json!("2027-03-01"));
    assert_eq!(created.body["seat_limits"]["mf.sales_workbench"], json!(8));
    assert!(created.header("idempotent-replayed").is_none());

    // A retry returns the first response and creates nothing.
    let replay = s.post("/tenants", Some("tenant-1"), body.clone()).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body, created.body);
    assert_eq!(replay.header("location"), created.header("location"));
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    // The same key for another tenant is refused; a quoted key is the same key.
    let reused = s
        .post(
            "/tenants",
            Some("\"tenant-1\""),
            basic("杭州云帆贸易有限公司"),
        )
        .await;
    assert_eq!(
        reused.problem(422, "idempotency-key-reused")["field"],
        json!("Idempotency-Key")
    );

    let read = s.get(&format!("/tenants/{id}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, created.body);

    // Another key is another tenant.
    let other = s.tenant("tenant-2", basic("杭州云帆贸易有限公司")).await;
    assert_ne!(other, id);
    let read = s.get(&format!("/tenants/{other}")).await;
    assert_eq!(read.body["bundle"], json!("tcloud.basic"));
    assert!(read.body["modules"]
        .as_array()
        .expect("modules")
        .contains(&json!("mf.t_text")));
    s.stop().await;
}

#[tokio::test]
async fn tenant_creation_refuses_bad_input_naming_the_field() {
    let s = start().await;
    let cases = [
        (json!({"name": " ", "bundle": "tcloud.basic"}), "name"),
        (
            json!({"name": "某公司", "bundle": "tcloud.platinum"}),
            "bundle",
        ),
        (
            json!({"name": "某公司", "bundle": "trueclient.standard", "accounts": 3}),
            "accounts",
        ),
        (
            json!({"name": "某公司", "bundle": "trueclient.standard"}),
            "accounts",
        ),
        (
            json!({"name": "某公司", "bundle": "tcloud.basic", "accounts": 5}),
            "accounts",
        ),
        (
            json!({"name": "某公司", "bundle": "tcloud.basic", "time_zone": "UTC"}),
            "time_zone",
        ),
        (json!({"bundle": "tcloud.basic"}), "name"),
        (json!({"name": 42, "bundle": "tcloud.basic"}), "name"),
        (
            json!({"name": "某公司", "bundle": "tcloud.basic", "accounts": -1}),
            "accounts",
        ),
        (json!(["tcloud.basic"]), "body"),
    ];
    for (i, (body, field)) in cases.into_iter().enumerate() {
        let r = s.post("/tenants", Some(&format!("bad-{i}")), body).await;
        r.invalid(field);
    }
    // A refused request recorded nothing: its key still works for a good request.
    s.tenant("bad-0", basic("某公司")).await;

    // Unknown and malformed tenant ids are the same 404.
    let unknown = s.get(&format!("/tenants/{}", TenantId::new())).await;
    unknown.problem(404, "not-found");
    s.get("/tenants/not-a-tenant")
        .await
        .problem(404, "not-found");
    s.get(&format!("/tenants/{}", service::OPERATOR_SCOPE))
        .await
        .problem(404, "not-found");
    s.stop().await;
}

#[tokio::test]
async fn leads_are_captured_deduped_masked_and_listed() {
    let s = start().await;
    let t = s.tenant("t", basic("上海恒泽机械有限公司")).await;
    let leads = format!("/tenants/{t}/leads");

    let first_body = json!({
        "source": "own_site", "name": "张伟", "mobile": "138 1234 5678",
        "email": "zhang.wei@hzjx.com.cn", "company": "上海恒泽机械有限公司",
        "region": "上海", "product_interest": ["T Cloud"]
    });
    let first = s.post(&leads, Some("lead-1"), first_body.clone()).await;
    assert_eq!(first.status, 201, "{:#}", first.body);
    assert_eq!(first.body["outcome"], json!("created"));
    let lead = first.body["lead"].as_str().expect("lead").to_string();
    assert_eq!(
        first.header("location"),
        Some(format!("/tenants/{t}/leads/{lead}").as_str())
    );

    // Replay: same response, nothing new.
    let replay = s.post(&leads, Some("lead-1"), first_body.clone()).await;
    assert_eq!((replay.status, &replay.body), (201, &first.body));
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    // Same key, different body: refused.
    let mut changed = first_body.clone();
    changed["region"] = json!("北京");
    s.post(&leads, Some("lead-1"), changed)
        .await
        .problem(422, "idempotency-key-reused");

    // The same person typed in full-width digits through T Cloud: merged, 200.
    let again = s
        .post(
            &leads,
            Some("lead-2"),
            json!({"source": "t_cloud_inquiry", "mobile": "１３８１２３４５６７８", "campaign": "2026-expo"}),
        )
        .await;
    assert_eq!(again.status, 200, "{:#}", again.body);
    assert_eq!(again.body["outcome"], json!("merged"));
    assert_eq!(again.body["lead"], json!(lead));

    // A second person.
    let other = s
        .post(
            &leads,
            Some("lead-3"),
            json!({"source": "we_com", "wecom_id": "wm_lina_01", "name": "李娜"}),
        )
        .await;
    assert_eq!(other.status, 201);

    // The masked view: no personal data in clear.
    let view = s.get(&format!("{leads}/{lead}")).await;
    assert_eq!(view.status, 200, "{:#}", view.body);
    assert_eq!(view.body["mobile"], json!("138****5678"));
    assert_eq!(view.body["stage"], json!("new"));
    assert_eq!(view.body["unmasked"], json!([]));
    let text = view.body.to_string();
    for secret in ["13812345678", "zhang.wei@hzjx.com.cn", "张伟", "恒泽"] {
        assert!(!text.contains(secret), "{secret} leaked in {text}");
    }

    // Listing, a page at a time.
    let all = s.get(&leads).await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body["items"].as_array().expect("items").len(), 2);
    assert_eq!(all.body["next"], Value::Null);
    let page = s.get(&format!("{leads}?limit=1")).await;
    assert_eq!(page.body["items"].as_array().expect("items").len(), 1);
    let next = page.body["next"].as_str().expect("next").to_string();
    let rest = s.get(&format!("{leads}?limit=1&after={next}")).await;
    assert_eq!(rest.body["items"].as_array().expect("items").len(), 1);
    assert_ne!(rest.body["items"][0]["lead"], page.body["items"][0]["lead"]);
    s.get(&format!("{leads}?limit=0")).await.invalid("limit");
    s.get(&format!("{leads}?limit=101")).await.invalid("limit");
    let ten = s.get(&format!("{leads}?limit=ten")).await;
    let detail = ten.invalid("limit")["detail"].as_str().expect("detail");
    assert!(
        !detail.contains("ten"),
        "the refused value is not quoted: {detail}"
    );
    s.get(&format!("{leads}?after=lead_x"))
        .await
        .invalid("after");
    s.get(&format!("{leads}?sort=name"))
        .await
        .problem(422, "validation");

    // Bad captures, each naming the field.
    let bad = [
        (
            json!({"source": "own_site", "mobile": "12812345678"}),
            "mobile",
        ),
        (json!({"source": "own_site", "mobile": "138123"}), "mobile"),
        (json!({"source": "own_site", "email": "zhang@"}), "email"),
        (
            json!({"source": "tiktok", "mobile": "13812345678"}),
            "source",
        ),
        (json!({"mobile": "13812345678"}), "source"),
        (
            json!({"source": "own_site", "mobile": "13812345678", "product_interest": ["ok", ""]}),
            "product_interest[1]",
        ),
        (
            json!({"source": "own_site", "mobile": 13812345678u64}),
            "mobile",
        ),
    ];
    for (i, (body, field)) in bad.into_iter().enumerate() {
        let r = s.post(&leads, Some(&format!("bad-{i}")), body).await;
        let detail = r.invalid(field)["detail"].as_str().expect("detail");
        // The reason, never the refused value (a mobile sent as a number, a mistyped source).
        assert!(
            !detail.contains("138") && !detail.contains("tiktok"),
            "{detail}"
        );
    }
    let r = s
        .post(
            &leads,
            Some("bad-type"),
            json!({"source": "own_site", "mobile": 13812345678u64}),
        )
        .await;
    assert_eq!(
        r.invalid("mobile")["detail"],
        json!("invalid type: integer, expected a string")
    );
    assert_eq!(
        s.post(
            &leads,
            Some("no-id"),
            json!({"source": "own_site", "region": "北京"}),
        )
        .await
        .problem(422, "validation")["code"],
        json!("no_identity")
    );

    // Unknown leads and ids that are not lead ids are 404.
    s.get(&format!("{leads}/lead_0192f0c1e3d47a8b9c0d1e2f3a4b5c6d"))
        .await
        .problem(404, "not-found");
    s.get(&format!("{leads}/13812345678"))
        .await
        .problem(404, "not-found");
    // Nothing of the refused captures landed.
    assert_eq!(
        s.get(&leads).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        2
    );
    s.stop().await;
}

#[tokio::test]
async fn another_tenants_lead_is_indistinguishable_from_a_missing_one() {
    let s = start().await;
    let a = s.tenant("a", basic("甲公司")).await;
    let b = s.tenant("b", basic("乙公司")).await;
    let created = s
        .post(
            &format!("/tenants/{a}/leads"),
            Some("k"),
            json!({"source": "own_site", "mobile": "13900001234"}),
        )
        .await;
    let lead = created.body["lead"].as_str().expect("lead");

    let crossed = s.get(&format!("/tenants/{b}/leads/{lead}")).await;
    let missing = s
        .get(&format!(
            "/tenants/{b}/leads/lead_0192f0c1e3d47a8b9c0d1e2f3a4b5c6d"
        ))
        .await;
    crossed.problem(404, "not-found");
    missing.problem(404, "not-found");
    assert_eq!(crossed.body["title"], missing.body["title"]);
    assert!(!crossed.body.to_string().contains(a.as_str()));
    // B sees none of A's leads, and the same key in B is B's own.
    assert_eq!(
        s.get(&format!("/tenants/{b}/leads")).await.body["items"],
        json!([])
    );
    let in_b = s
        .post(
            &format!("/tenants/{b}/leads"),
            Some("k"),
            json!({"source": "own_site", "mobile": "13900001234"}),
        )
        .await;
    assert_eq!(in_b.status, 201);
    assert_ne!(in_b.body["lead"], created.body["lead"]);
    // Unknown tenants are 404 on every route, mutating or not.
    let ghost = TenantId::new();
    s.post(
        &format!("/tenants/{ghost}/leads"),
        Some("k"),
        json!({"source": "own_site", "mobile": "13900001234"}),
    )
    .await
    .problem(404, "not-found");
    s.get(&format!("/tenants/{ghost}/usage"))
        .await
        .problem(404, "not-found");
    s.post(
        &format!("/tenants/{ghost}/usage"),
        Some("k"),
        json!({"unit": "articles_published", "quantity": 1}),
    )
    .await
    .problem(404, "not-found");
    s.stop().await;
}

#[tokio::test]
async fn usage_is_metered_against_the_quota() {
    let s = start().await;
    let t = s.tenant("t", basic("上海恒泽机械有限公司")).await;
    let usage = format!("/tenants/{t}/usage");
    let articles = |n: u64| json!({"unit": "articles_published", "quantity": n});

    // T Cloud Basic includes 100 articles a month.
    let first = s.post(&usage, Some("u-1"), articles(60)).await;
    assert_eq!(first.status, 200, "{:#}", first.body);
    assert_eq!(first.body["remaining"], json!(40));
    assert_eq!(first.body["replayed"], json!(false));

    let replay = s.post(&usage, Some("u-1"), articles(60)).await;
    assert_eq!((replay.status, &replay.body), (200, &first.body));
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    s.post(&usage, Some("u-1"), articles(61))
        .await
        .problem(422, "idempotency-key-reused");

    let over = s.post(&usage, Some("u-2"), articles(50)).await;
    let body = over.problem(429, "quota-exceeded");
    assert_eq!(body["remaining"], json!(40));
    assert_eq!(body["limit"], json!(100));
    assert_eq!(body["requested"], json!(50));
    assert_eq!(body["window_end"], json!("2026-04-01"));
    assert!(!body["can_buy"].as_array().expect("offers").is_empty());
    // The refusal changed nothing and recorded nothing: the key works for what fits.
    let fits = s.post(&usage, Some("u-2"), articles(40)).await;
    assert_eq!(fits.body["remaining"], json!(0));

    // No quota of videos in T Cloud Basic: forbidden, not throttled.
    let videos = s
        .post(
            &usage,
            Some("u-3"),
            json!({"unit": "videos_rendered", "quantity": 1}),
        )
        .await;
    let body = videos.problem(403, "limit-exceeded");
    assert_eq!(body["unit"], json!("videos_rendered"));
    assert_eq!(body["code"], json!("no_quota"));

    // Bad input.
    s.post(&usage, Some("u-4"), json!({"unit": "pages", "quantity": 1}))
        .await
        .invalid("unit");
    s.post(&usage, Some("u-5"), articles(0))
        .await
        .invalid("quantity");
    s.post(
        &usage,
        Some("u-6"),
        json!({"unit": "articles_published", "quantity": -1}),
    )
    .await
    .invalid("quantity");
    s.post(&usage, Some("u-7"), json!({"unit": "articles_published"}))
        .await
        .invalid("quantity");
    s.post(
        &usage,
        Some("u-8"),
        json!({"unit": "articles_published", "quantity": 1, "n": 1}),
    )
    .await
    .invalid("n");

    // Balances.
    let all = s.get(&usage).await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body["date"], json!("2026-03-01"));
    let units = all.body["units"].as_array().expect("units");
    let art = units
        .iter()
        .find(|u| u["unit"] == json!("articles_published"))
        .expect("articles balance");
    assert_eq!(
        (art["used"].clone(), art["remaining"].clone()),
        (json!(100), json!(0))
    );
    let one = s.get(&format!("{usage}/articles_published")).await;
    assert_eq!(&one.body, art);
    s.get(&format!("{usage}/pages"))
        .await
        .problem(404, "not-found");

    // A new month resets the monthly quota.
    s.clock.advance(Duration::days(31));
    let april = s.post(&usage, Some("u-9"), articles(1)).await;
    assert_eq!(april.body["remaining"], json!(99));
    s.stop().await;
}

fn cny(s: &str) -> Money {
    Money::cny(s).expect("money")
}

fn day(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

/// A month of ad operations for `tenant` through its `AdOps`: a simulated platform paying a 5%
/// standard rebate, a distribution customer getting 3% back, a CPC campaign running March 2026.
async fn run_march(s: &Server, tenant: &str) {
    let record = s.state.tenant(tenant).await.expect("tenant");
    let ops = s.state.ads(&record).await.expect("ads");
    let platform = ops
        .register_platform(
            "短视频平台",
            "sim",
            PlatformCategory::ShortVideo,
            &IdempotencyKey::from_static("p"),
        )
        .await
        .expect("platform");
    ops.sign_platform_agreement(
        &platform.id,
        PlatformAgreementTerms {
            start: day("2026-01-01"),
            end: day("2026-12-31"),
            currency: Currency::CNY,
            pricing_models: vec![PricingModel::Cpc, PricingModel::Cpm],
            settlement_terms: SettlementTerms::Prepay,
            rebate_policy: PlatformRebatePolicy::standard("5%".parse().expect("rate")),
        },
        &IdempotencyKey::from_static("pa"),
    )
    .await
    .expect("platform agreement");
    let sim = Arc::new(SimulatedPlatform::new(SimConfig::new("sim", 7)));
    ops.attach_platform(platform.id, sim.clone());
    ops.record_platform_prepayment(
        &platform.id,
        cny("500000"),
        day("2026-03-01"),
        &IdempotencyKey::from_static("prepay"),
    )
    .await
    .expect("prepayment");
    let customer = ops
        .register_customer(
            NewCustomer {
                name: "上海某品牌有限公司".into(),
                kind: CustomerKind::DirectAdvertiser,
                industry: "retail".into(),
                licence_number: uscc_with_check_digit("91310000MA1FL8XQ3").expect("uscc"),
            },
            &IdempotencyKey::from_static("c"),
        )
        .await
        .expect("customer");
    ops.review_customer(
        &customer.id,
        &QualificationDossier {
            licence: BusinessLicence {
                number: customer.licence_number.clone(),
                registered_name: customer.name.clone(),
                expires_on: None,
            },
            industry: "retail".into(),
            permits: vec![],
            reputation: Reputation::default(),
            credit_rating: CreditRating::A,
            financials: Financials {
                net_assets: cny("5000000"),
                debt_ratio: "40%".parse().expect("rate"),
                loss_making_years: 0,
            },
        },
        "审核员",
        &IdempotencyKey::from_static("r"),
    )
    .await
    .expect("review");
    ops.sign_agreement(
        &customer.id,
        AgreementTerms {
            service_type: ServiceType::Distribution,
            start: day("2026-01-01"),
            end: day("2026-12-31"),
            auto_renew: true,
            credit_terms_days: 60,
            credit_exception: None,
            credit_limit: cny("300000"),
            customer_rebate: CustomerRebatePolicy::Fixed {
                rate: "3%".parse().expect("rate"),
            },
        },
        &IdempotencyKey::from_static("a"),
    )
    .await
    .expect("agreement");
    let account = ops
        .open_ad_account(
            &customer.id,
            &platform.id,
            &IdempotencyKey::from_static("acct"),
        )
        .await
        .expect("account");
    ops.top_up(
        TopUpRequest {
            account: account.id,
            amount: cny("100000"),
            funding: Funding::Credit,
        },
        &IdempotencyKey::from_static("t"),
    )
    .await
    .expect("top-up");
    ops.create_campaign(
        &account.id,
        CampaignDraft {
            name: "春季上新".into(),
            objective: Objective::Traffic,
            budget: Budget {
                daily: Some(cny("2000")),
                total: None,
            },
            schedule: Schedule {
                start: day("2026-03-01"),
                end: None,
                hours: vec![],
            },
            audience: Audience::default(),
            pricing: Pricing::Cpc {
                max_bid: cny("1.20"),
            },
            kpis: vec![],
        },
        &IdempotencyKey::from_static("camp"),
    )
    .await
    .expect("campaign");
    for d in day("2026-03-01").iter_days().take(31) {
        sim.run_day(d);
        let fetched = ops.fetch_reports(&platform.id, d).await.expect("reports");
        assert!(fetched.failed.is_empty());
    }
}

#[tokio::test]
async fn a_month_is_settled_once_and_read_back_from_the_ledger() {
    let s = start().await;
    let t = s.tenant("t", basic("上海某广告代理有限公司")).await;
    run_march(&s, &t).await;
    let march = format!("/tenants/{t}/settlements/2026-03");

    // Before the month is over: refused.
    assert_eq!(
        s.post(&march, Some("settle-early"), json!({}))
            .await
            .problem(409, "invalid-state")["code"],
        json!("month_not_over")
    );
    s.get(&march).await.problem(404, "not-found");

    s.clock.advance(Duration::days(31));
    s.post_raw(&march, None, None, Vec::new())
        .await
        .problem(400, "missing-idempotency-key");
    // An empty body means the default mode (final).
    let settled = s.post_raw(&march, Some("settle-1"), None, Vec::new()).await;
    assert_eq!(settled.status, 200, "{:#}", settled.body);
    assert_eq!(settled.body["month"], json!("2026-03"));
    assert_eq!(settled.body["provisional"], json!(false));
    assert_eq!(
        settled.body["customer_invoices"]
            .as_array()
            .expect("invoices")
            .len(),
        1
    );

    let replay = s.post_raw(&march, Some("settle-1"), None, Vec::new()).await;
    assert_eq!((replay.status, &replay.body), (200, &settled.body));
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    s.post(&march, Some("settle-1"), json!({"mode": "provisional"}))
        .await
        .problem(422, "idempotency-key-reused");

    let read = s.get(&march).await;
    assert_eq!(read.status, 200, "{:#}", read.body);
    assert_eq!(read.body["figures"], settled.body["figures"]);
    assert_eq!(read.body["record"]["revision"], json!(1));
    assert_eq!(read.body["invoices"].as_array().expect("invoices").len(), 1);
    let overall = &read.body["overall"];
    let amount = |v: &Value| -> rust_decimal::Decimal {
        v["amount"]
            .as_str()
            .expect("amount")
            .parse()
            .expect("decimal")
    };
    assert!(amount(&overall["spend"]) > rust_decimal::Decimal::ZERO);
    // Net basis: revenue = platform rebates (5%) − customer rebates (3%).
    assert_eq!(
        amount(&overall["revenue"]),
        amount(&overall["platform_rebates"]) - amount(&overall["customer_rebates"])
    );
    assert_eq!(overall["net_rebate_rate"], json!("0.02"));

    // Settling again under a new key posts nothing new: the same figures.
    let again = s
        .post(&march, Some("settle-2"), json!({"mode": "final"}))
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["figures"], settled.body["figures"]);
    assert_eq!(s.get(&march).await.body["record"]["revision"], json!(1));

    // Bad input.
    let months = format!("/tenants/{t}/settlements");
    s.post(&format!("{months}/2026-13"), Some("m"), json!({}))
        .await
        .invalid("month");
    s.get(&format!("{months}/march")).await.invalid("month");
    s.post(&march, Some("m"), json!({"mode": "eventually"}))
        .await
        .invalid("mode");
    s.get(&format!("{months}/2026-02"))
        .await
        .problem(404, "not-found");
    s.stop().await;
}

#[tokio::test]
async fn malformed_oversized_and_unkeyed_requests_are_problems() {
    let s = start().await;
    let t = s.tenant("t", basic("某公司")).await;
    let leads = format!("/tenants/{t}/leads");
    let capture = json!({"source": "own_site", "mobile": "13812345678"});

    // Every mutating route needs a key.
    for path in [
        "/tenants".to_string(),
        leads.clone(),
        format!("/tenants/{t}/usage"),
        format!("/tenants/{t}/settlements/2026-03"),
    ] {
        s.post(&path, None, capture.clone())
            .await
            .problem(400, "missing-idempotency-key");
    }
    for bad in ["", "   ", "\"\""] {
        s.post(&leads, Some(bad), capture.clone())
            .await
            .problem(400, "invalid-idempotency-key");
    }
    let long = "k".repeat(129);
    s.post(&leads, Some(&long), capture.clone())
        .await
        .problem(400, "invalid-idempotency-key");
    let ok = "k".repeat(128);
    assert_eq!(s.post(&leads, Some(&ok), capture.clone()).await.status, 201);

    // Malformed JSON: syntax, truncation, trailing data, empty.
    for raw in [
        &b"{\"source\": \"own_site\", "[..],
        b"{source: own_site}",
        b"{\"source\": \"own_site\", \"mobile\": \"13812345678\"} {}",
        b"",
    ] {
        s.post_raw(&leads, Some("m"), Some("application/json"), raw.to_vec())
            .await
            .problem(400, "malformed-json");
    }
    // Not JSON at all, by media type.
    s.post_raw(
        &leads,
        Some("m"),
        Some("text/plain"),
        b"mobile=138".to_vec(),
    )
    .await
    .problem(415, "unsupported-media-type");
    s.post_raw(
        &leads,
        Some("m"),
        None,
        serde_json::to_vec(&capture).expect("json"),
    )
    .await
    .problem(415, "unsupported-media-type");
    // A +json media type with parameters is JSON.
    let ld = s
        .post_raw(
            &leads,
            Some("ld"),
            Some("application/merge-patch+json; charset=utf-8"),
            serde_json::to_vec(&json!({"source": "own_site", "mobile": "13900001111"}))
                .expect("json"),
        )
        .await;
    assert_eq!(ld.status, 201, "{:#}", ld.body);

    // Oversized bodies.
    let big =
        json!({"source": "own_site", "mobile": "13812345678", "campaign": "x".repeat(BODY_LIMIT)});
    let r = s.post(&leads, Some("big"), big).await;
    assert_eq!(
        r.problem(413, "payload-too-large")["limit"],
        json!(BODY_LIMIT)
    );

    // Unknown routes and methods.
    s.get("/nowhere").await.problem(404, "not-found");
    s.post("/tenants/x/nowhere", Some("k"), json!({}))
        .await
        .problem(404, "not-found");
    let deleted = s.send(s.client.delete(format!("{}{leads}", s.base))).await;
    deleted.problem(405, "method-not-allowed");
    let allow = deleted.header("allow").unwrap_or_default();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow:?}");
    s.stop().await;
}

/// A memory store whose commits fail on demand.
#[derive(Debug, Default)]
struct FlakyStore {
    inner: MemoryStore,
    /// Every commit fails.
    failing: AtomicBool,
    /// Commits recording an HTTP reply fail: the call's own writes land, its record does not
    /// (a crash between the two).
    failing_replies: AtomicBool,
}

#[async_trait]
impl Store for FlakyStore {
    fn backend(&self) -> &'static str {
        "flaky"
    }
    async fn get(&self, t: &TenantId, c: &str, k: &str) -> Result<Option<Record>, CoreError> {
        self.inner.get(t, c, k).await
    }
    async fn list(
        &self,
        t: &TenantId,
        c: &str,
        p: &PageRequest,
    ) -> Result<Page<Record>, CoreError> {
        self.inner.list(t, c, p).await
    }
    async fn lookup(
        &self,
        t: &TenantId,
        c: &str,
        i: &str,
        v: &str,
        p: &PageRequest,
    ) -> Result<Page<Record>, CoreError> {
        self.inner.lookup(t, c, i, v, p).await
    }
    async fn read_journal(
        &self,
        t: &TenantId,
        j: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, CoreError> {
        self.inner.read_journal(t, j, after, limit).await
    }
    async fn journal_head(&self, t: &TenantId, j: &str) -> Result<u64, CoreError> {
        self.inner.journal_head(t, j).await
    }
    async fn idempotency(
        &self,
        t: &TenantId,
        k: &str,
    ) -> Result<Option<(String, Vec<u8>)>, CoreError> {
        self.inner.idempotency(t, k).await
    }
    async fn commit(&self, t: &TenantId, b: Batch) -> Result<CommitOutcome, CoreError> {
        let reply = b.idempotency().is_some_and(|c| c.key.starts_with("http."));
        if self.failing.load(Ordering::SeqCst)
            || (reply && self.failing_replies.load(Ordering::SeqCst))
        {
            return Err(CoreError::backend_message("flaky", true, "disk on fire"));
        }
        self.inner.commit(t, b).await
    }
}

#[tokio::test]
async fn a_backend_failure_is_503_and_changes_nothing() {
    let store = Arc::new(FlakyStore::default());
    let s = start_on(store.clone(), clock()).await;
    let t = s.tenant("t", basic("某公司")).await;
    let leads = format!("/tenants/{t}/leads");
    let body = json!({"source": "own_site", "mobile": "13812345678"});

    store.failing.store(true, Ordering::SeqCst);
    let failed = s.post(&leads, Some("k"), body.clone()).await;
    failed.problem(503, "backend-unavailable");
    assert_eq!(failed.header("retry-after"), Some("1"));
    assert!(!failed.body.to_string().contains("disk on fire"));
    let usage = s
        .post(
            &format!("/tenants/{t}/usage"),
            Some("u"),
            json!({"unit": "articles_published", "quantity": 1}),
        )
        .await;
    usage.problem(503, "backend-unavailable");

    store.failing.store(false, Ordering::SeqCst);
    let retried = s.post(&leads, Some("k"), body).await;
    assert_eq!(retried.status, 201, "{:#}", retried.body);
    assert_eq!(retried.body["outcome"], json!("created"));
    assert_eq!(
        s.get(&leads).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        1
    );
    s.stop().await;
}

#[tokio::test]
async fn a_crash_before_the_reply_is_recorded_still_runs_each_call_once() {
    let store = Arc::new(FlakyStore::default());
    let s = start_on(store.clone(), clock()).await;
    let t = s.tenant("t", basic("某公司")).await;
    store.failing_replies.store(true, Ordering::SeqCst);

    // Tenant creation: the plan and the provisioning land, the directory entry does not.
    let body = basic("乙公司");
    s.post("/tenants", Some("t2"), body.clone())
        .await
        .problem(503, "backend-unavailable");
    let plans = Collection::<service::Provisioning>::new(store.clone())
        .list_all(&service::OPERATOR_SCOPE)
        .await
        .expect("plans");
    assert_eq!(plans.len(), 1);
    let planned = plans[0].value.record.tenant.id.to_string();
    s.get(&format!("/tenants/{planned}"))
        .await
        .problem(404, "not-found");

    // A lead capture and a usage event land in the CRM and the meter.
    let leads = format!("/tenants/{t}/leads");
    let lead = json!({"source": "own_site", "mobile": "13812345678"});
    s.post(&leads, Some("l"), lead.clone())
        .await
        .problem(503, "backend-unavailable");
    let usage = format!("/tenants/{t}/usage");
    let ten = json!({"unit": "articles_published", "quantity": 10});
    s.post(&usage, Some("u"), ten.clone())
        .await
        .problem(503, "backend-unavailable");

    // Retries after recovery resume or replay; nothing happens twice.
    store.failing_replies.store(false, Ordering::SeqCst);
    let created = s.post("/tenants", Some("t2"), body).await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    assert_eq!(created.body["id"], json!(planned));
    assert!(Collection::<service::Provisioning>::new(store.clone())
        .list_all(&service::OPERATOR_SCOPE)
        .await
        .expect("plans")
        .is_empty());
    let captured = s.post(&leads, Some("l"), lead).await;
    assert_eq!(captured.status, 201);
    assert_eq!(captured.body["outcome"], json!("created"));
    assert_eq!(
        s.get(&leads).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        1
    );
    let consumed = s.post(&usage, Some("u"), ten).await;
    assert_eq!(consumed.status, 200);
    assert_eq!(consumed.body["remaining"], json!(90));
    assert_eq!(
        s.get(&format!("{usage}/articles_published")).await.body["used"],
        json!(10)
    );
    s.stop().await;
}

/// Create a tenant, a lead and some usage on `first`, stop, open the same database again with
/// `reopen` (a new process), and read the same state back; the capture's reply replays.
async fn survives_restart<F, Fut>(first: Arc<dyn Store>, reopen: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn Store>>,
{
    let clock = clock();
    let s = start_on(first, clock.clone()).await;
    // Keys unique per run, so a shared database can be reused across runs.
    let run = TenantId::new().to_string();
    let t = s
        .tenant(&format!("t-{run}"), basic("上海恒泽机械有限公司"))
        .await;
    let lead_body = json!({"source": "own_site", "name": "张伟", "mobile": "13812345678"});
    let lead = s
        .post(&format!("/tenants/{t}/leads"), Some("l"), lead_body.clone())
        .await;
    assert_eq!(lead.status, 201, "{:#}", lead.body);
    let used = s
        .post(
            &format!("/tenants/{t}/usage"),
            Some("u"),
            json!({"unit": "articles_published", "quantity": 7}),
        )
        .await;
    assert_eq!(used.status, 200);
    let paths = [
        format!("/tenants/{t}"),
        format!("/tenants/{t}/leads"),
        format!("/tenants/{t}/usage"),
    ];
    let mut before = Vec::new();
    for p in &paths {
        before.push(s.get(p).await.body);
    }
    s.stop().await;

    let s = start_on(reopen().await, clock).await;
    for (p, b) in paths.iter().zip(&before) {
        assert_eq!(&s.get(p).await.body, b, "{p}");
    }
    let replay = s
        .post(&format!("/tenants/{t}/leads"), Some("l"), lead_body)
        .await;
    assert_eq!((replay.status, &replay.body), (201, &lead.body));
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    s.stop().await;
}

#[tokio::test]
async fn state_survives_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mf.db");
    let url: service::StoreUrl = format!("sqlite:{}", path.display())
        .parse()
        .expect("store url");
    let first = url.open().await.expect("sqlite");
    survives_restart(first, || async move {
        Arc::new(SqliteStore::open(path).await.expect("reopen")) as Arc<dyn Store>
    })
    .await;
}

#[tokio::test]
async fn state_survives_a_restart_on_postgres() {
    let Ok(url) = std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") else {
        eprintln!("skipped: MARKETINGFORCE_TEST_POSTGRES_URL is not set");
        return;
    };
    let id = TenantId::new().to_string();
    let schema = format!("mf_http_{}", &id[id.len() - 12..]);
    let open = || async {
        Arc::new(
            PostgresStore::connect_with(PostgresOptions::new(url.clone()).schema(schema.clone()))
                .await
                .expect("connect to PostgreSQL"),
        ) as Arc<dyn Store>
    };
    survives_restart(open().await, open).await;
}

#[test]
fn store_urls_parse_and_redact() {
    use service::StoreUrl;
    assert_eq!(
        "memory".parse::<StoreUrl>().expect("memory"),
        StoreUrl::Memory
    );
    assert_eq!(
        "sqlite:./mf.db"
            .parse::<StoreUrl>()
            .expect("sqlite")
            .to_string(),
        "sqlite:./mf.db"
    );
    let pg: StoreUrl = "postgres://mf:s3cret@db:5432/mf".parse().expect("pg");
    assert_eq!(pg.to_string(), "postgres://mf:***@db:5432/mf");
    assert!(pg.is_durable());
    for bad in ["", "sqlite:", "mysql://x", "redis://y"] {
        let e = bad.parse::<StoreUrl>().expect_err(bad);
        assert!(e.to_string().starts_with("invalid store_url"), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Two instances over one store.

/// One call with `client` to `base`, retried (same key) while the answer is a retryable
/// 409/503, as a client following `Retry-After` would.
async fn post_retrying(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> (u16, Value, Option<String>) {
    for attempt in 0.. {
        let r = client
            .post(format!("{base}{path}"))
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let replayed = r
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body: Value = r.json().await.expect("json");
        if (status == 409 || status == 503) && attempt < 20 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        }
        return (status, body, replayed);
    }
    unreachable!()
}

/// Two instances (each its own `AppState`: own caches, own CRM and meter, as two processes)
/// over one database, requests routed alternately.
async fn two_instances(first: Arc<dyn Store>, second: Arc<dyn Store>) {
    let clock = clock();
    let a = start_with(first, clock.clone(), 5, config(), None).await;
    let b = start_with(second, clock.clone(), 6, config(), None).await;
    let run = TenantId::new().to_string();
    let t = a
        .tenant(&format!("t-{run}"), basic("上海恒泽机械有限公司"))
        .await;
    let balance_path = format!("/tenants/{t}/usage/articles_published");
    let balance = b.get(&balance_path).await;
    assert_eq!(balance.status, 200, "{:#}", balance.body);
    let quota = balance.body["limit"].as_u64().expect("limit");
    assert!(quota > 0);

    // 3 × quota consumes of one unit, alternating instances, 16 at a time.
    let usage = format!("/tenants/{t}/usage");
    let one = json!({"unit": "articles_published", "quantity": 1});
    let targets = [
        (a.client.clone(), a.base.clone()),
        (b.client.clone(), b.base.clone()),
    ];
    let mut results = Vec::new();
    let total = (quota * 3) as usize;
    for chunk in (0..total).collect::<Vec<_>>().chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for &i in chunk {
            let (client, base) = targets[i % 2].clone();
            let (usage, one, key) = (usage.clone(), one.clone(), format!("u-{run}-{i}"));
            set.spawn(async move {
                let (status, body, _) = post_retrying(&client, &base, &usage, &key, &one).await;
                (i, status, body)
            });
        }
        while let Some(r) = set.join_next().await {
            results.push(r.expect("task"));
        }
    }
    let accepted: Vec<_> = results.iter().filter(|r| r.1 == 200).collect();
    assert_eq!(
        accepted.len() as u64,
        quota,
        "exactly the quota is accepted"
    );
    for (_, status, body) in &results {
        assert!(
            *status == 200
                || (*status == 429
                    && body["type"]
                        .as_str()
                        .unwrap_or("")
                        .ends_with("/quota-exceeded")),
            "{status} {body:#}"
        );
    }
    for s in [&a, &b] {
        let read = s.get(&balance_path).await;
        assert_eq!(read.body["used"], json!(quota), "{:#}", read.body);
        assert_eq!(read.body["used"], read.body["limit"]);
    }

    // A consume's key replayed on the other instance returns the first result.
    let (i, _, first_body) = accepted[0];
    let (client, base) = targets[(i + 1) % 2].clone();
    let (status, body, replayed) =
        post_retrying(&client, &base, &usage, &format!("u-{run}-{i}"), &one).await;
    assert_eq!((status, &body), (200, first_body));
    assert_eq!(replayed.as_deref(), Some("true"));

    // The same mobile captured on A, then on B: one lead.
    let leads = format!("/tenants/{t}/leads");
    let first = a
        .post(
            &leads,
            Some("l-a"),
            json!({"source": "own_site", "name": "张伟", "mobile": "13812345678"}),
        )
        .await;
    assert_eq!(first.status, 201, "{:#}", first.body);
    let second = b
        .post(
            &leads,
            Some("l-b"),
            json!({"source": "own_site", "email": "zw@example.com", "mobile": "138 1234 5678"}),
        )
        .await;
    assert_eq!(second.status, 200, "{:#}", second.body);
    assert_ne!(second.body["outcome"], json!("created"));
    assert_eq!(second.body["lead"], first.body["lead"]);
    for s in [&a, &b] {
        let items = s.get(&leads).await.body["items"].clone();
        assert_eq!(items.as_array().expect("items").len(), 1, "{items:#}");
    }

    // A capture's key replayed on the other instance returns the first result.
    let body = json!({"source": "own_site", "mobile": "13900000001"});
    let on_a = a.post(&leads, Some("l-c"), body.clone()).await;
    assert_eq!(on_a.status, 201, "{:#}", on_a.body);
    let on_b = b.post(&leads, Some("l-c"), body).await;
    assert_eq!((on_b.status, &on_b.body), (201, &on_a.body));
    assert_eq!(on_b.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        a.get(&leads).await.body["items"]
            .as_array()
            .expect("items")
            .len(),
        2
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_over_one_sqlite_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mf.db");
    let first = Arc::new(SqliteStore::open(path.clone()).await.expect("sqlite"));
    let second = Arc::new(SqliteStore::open(path).await.expect("sqlite again"));
    two_instances(first, second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_over_one_postgres_schema() {
    let Ok(url) = std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") else {
        eprintln!("skipped: MARKETINGFORCE_TEST_POSTGRES_URL is not set");
        return;
    };
    let id = TenantId::new().to_string();
    let schema = format!("mf_http2_{}", &id[id.len() - 12..]);
    let open = || async {
        Arc::new(
            PostgresStore::connect_with(PostgresOptions::new(url.clone()).schema(schema.clone()))
                .await
                .expect("connect to PostgreSQL"),
        ) as Arc<dyn Store>
    };
    two_instances(open().await, open().await).await;
}

// ---------------------------------------------------------------------------------------------
// Keyed fingerprints.

#[tokio::test]
async fn a_captures_stored_fingerprint_is_keyed_and_does_not_confirm_a_guessed_mobile() {
    use marketingforce::core::storage::Fingerprint;
    use marketingforce::crm::request::CaptureRequest;

    let s = start().await;
    let t = s.tenant("t", basic("某公司")).await;
    let tenant: TenantId = t.parse().expect("tenant id");
    let leads = format!("/tenants/{t}/leads");
    let capture = |mobile: &str| json!({"source": "own_site", "name": "张伟", "mobile": mobile});
    let body = capture("13812345678");
    let first = s.post(&leads, Some("l-1"), body.clone()).await;
    assert_eq!(first.status, 201, "{:#}", first.body);

    // The reply's record, under the scoped key (or the old unscoped one).
    let store = s.state.store();
    let mut stored = None;
    for claim in ["http.capture_lead/l-1", "http:l-1"] {
        if let Some((fp, _)) = store.idempotency(&tenant, claim).await.expect("read") {
            stored = Some(fp);
        }
    }
    let stored = stored.expect("the reply is recorded");

    // Not a plain SHA-256 of the request in any obvious encoding …
    let request: CaptureRequest = serde_json::from_value(body.clone()).expect("request");
    for plain in [
        Fingerprint::of(&("capture_lead", &request)).expect("fp"),
        Fingerprint::of(&request).expect("fp"),
        Fingerprint::of(&body).expect("fp"),
        Fingerprint::of(&("capture_lead", &body)).expect("fp"),
    ] {
        assert_ne!(plain.as_str(), stored);
    }
    // … so hashing candidate mobiles confirms none of them, not even the right one.
    for guess in ["13812345676", "13812345677", "13812345678", "13812345679"] {
        let guessed: CaptureRequest = serde_json::from_value(capture(guess)).expect("request");
        let candidate = Fingerprint::of(&("capture_lead", &guessed)).expect("fp");
        assert_ne!(candidate.as_str(), stored, "{guess}");
    }
    // It is the HMAC under the tenant's fingerprint key, which is not stored with it.
    let secret = s.state.keys().fingerprint_key(&tenant).expect("key");
    let keyed = Fingerprint::keyed(secret.bytes(), &("capture_lead", &request)).expect("fp");
    assert_eq!(keyed.as_str(), stored);

    // Replays and reuse still behave.
    let replay = s.post(&leads, Some("l-1"), body).await;
    assert_eq!((replay.status, &replay.body), (201, &first.body));
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    s.post(&leads, Some("l-1"), capture("13812345679"))
        .await
        .problem(422, "idempotency-key-reused");
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Honest answers when a commit's outcome is unknown.

#[tokio::test]
async fn a_lost_usage_acknowledgement_is_an_unknown_outcome_and_the_same_key_settles_it_once() {
    use marketingforce_core::storage::{Fault, FaultPlan, FaultyStore};

    let faulty = Arc::new(FaultyStore::new(
        Arc::new(MemoryStore::new()),
        FaultPlan::new(7),
    ));
    let s = start_on(faulty.clone(), clock()).await;
    let t = s.tenant("t", basic("某公司")).await;
    let usage = format!("/tenants/{t}/usage");
    let five = json!({"unit": "articles_published", "quantity": 5});
    for (i, fault) in [Fault::ErrorAfterCommit, Fault::TimeoutAfterCommit]
        .into_iter()
        .enumerate()
    {
        faulty.script_matching(fault, "modules.usage");
        let key = format!("u-{i}");
        let lost = s.post(&usage, Some(&key), five.clone()).await;
        assert!(
            lost.status == 503 || lost.status == 504,
            "{fault:?}: {} {:#}",
            lost.status,
            lost.body
        );
        let body = lost.problem(lost.status, "outcome-unknown");
        let detail = body["detail"].as_str().expect("detail");
        assert!(!detail.contains("nothing"), "{fault:?}: {detail}");
        assert!(detail.contains("may or may not"), "{detail}");
        assert!(detail.contains("same Idempotency-Key"), "{detail}");
        assert_eq!(body["retryable"], json!(true));
        assert_eq!(lost.header("retry-after"), Some("1"));

        // The write did land: the retry with the same key finishes it exactly once.
        let retried = s.post(&usage, Some(&key), five.clone()).await;
        assert_eq!(retried.status, 200, "{fault:?}: {:#}", retried.body);
        let used = s.get(&format!("{usage}/articles_published")).await.body["used"].clone();
        assert_eq!(used, json!(5 * (i + 1)), "{fault:?}");
    }
    s.stop().await;
}

/// Every crate's errors through the one table: the kind gives status and type, three codes
/// refine it, the body carries the code (not on a 404) and the field of bad input.
#[test]
fn domain_errors_are_answered_by_kind_and_code() {
    use marketingforce::ads::AdsError;
    use marketingforce::crm::ids::LeadId;
    use marketingforce::crm::CrmError;
    use marketingforce::modules::catalog::ModuleId;
    use marketingforce::modules::ModulesError;
    let (lead, into) = (LeadId::new(), LeadId::new());
    let cases: Vec<(service::Problem, u16, &str, Option<&str>)> = vec![
        (
            CrmError::LeadErased(lead).into(),
            410,
            "lead-erased",
            Some("lead_erased"),
        ),
        (
            CrmError::LeadMerged { lead, into }.into(),
            409,
            "invalid-state",
            Some("lead_merged"),
        ),
        (
            CrmError::NoIdentity.into(),
            422,
            "validation",
            Some("no_identity"),
        ),
        (
            CoreError::TenantIsolation {
                what: "lead".into(),
                owner: "t1".into(),
                caller: "t2".into(),
            }
            .into(),
            404,
            "not-found",
            None,
        ),
        (
            ModulesError::SeatLimitReached {
                module: ModuleId::LEADS_ALLOCATION,
                limit: 1,
                assigned: 1,
            }
            .into(),
            403,
            "limit-exceeded",
            Some("seat_limit_reached"),
        ),
        (
            ModulesError::BelowMinimumSeats {
                bundle: "trueclient.standard".into(),
                minimum: 5,
                requested: 3,
            }
            .into(),
            422,
            "validation",
            Some("below_minimum_seats"),
        ),
        (
            AdsError::MonthNotOver {
                month: "2026-03".parse().expect("month"),
            }
            .into(),
            409,
            "invalid-state",
            Some("month_not_over"),
        ),
    ];
    for (p, status, kind, code) in cases {
        let body = p.body();
        assert_eq!(p.status().as_u16(), status, "{body:#}");
        assert!(p.type_uri().ends_with(&format!("/{kind}")), "{body:#}");
        assert_eq!(body.get("code").and_then(Value::as_str), code, "{body:#}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    let merged: service::Problem = CrmError::LeadMerged { lead, into }.into();
    assert_eq!(merged.body()["survivor"], json!(into.to_string()));
    let few: service::Problem = ModulesError::BelowMinimumSeats {
        bundle: "trueclient.standard".into(),
        minimum: 5,
        requested: 3,
    }
    .into();
    assert_eq!(few.body()["field"], json!("accounts"));
    let hidden: service::Problem = CoreError::TenantIsolation {
        what: "lead".into(),
        owner: "t1".into(),
        caller: "t2".into(),
    }
    .into();
    assert!(
        !hidden.body().to_string().contains("t1"),
        "{:#}",
        hidden.body()
    );
}

#[test]
fn core_errors_are_answered_by_kind() {
    use axum::response::IntoResponse;
    let cases = [
        (
            CoreError::outcome_unknown("commit", "reset"),
            503,
            "outcome-unknown",
            true,
        ),
        (
            CoreError::Timeout {
                operation: "commit".into(),
            },
            503,
            "outcome-unknown",
            true,
        ),
        (
            CoreError::backend_message("pg", true, "busy"),
            503,
            "backend-unavailable",
            true,
        ),
        (
            CoreError::backend_message("pg", false, "corrupt"),
            500,
            "internal",
            false,
        ),
        (
            CoreError::StaleView {
                journal: "modules.usage".into(),
                expected: 1,
                actual: 2,
            },
            409,
            "conflict",
            true,
        ),
    ];
    for (e, status, kind, retry) in cases {
        let p = service::Problem::from(e);
        assert_eq!(p.status().as_u16(), status);
        assert!(p.type_uri().ends_with(kind), "{}", p.type_uri());
        let body = p.body();
        let detail = body["detail"].as_str().expect("detail").to_string();
        assert!(!detail.contains("nothing"), "{kind}: {detail}");
        let response = p.into_response();
        assert_eq!(
            response.headers().contains_key("retry-after"),
            retry,
            "{kind}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Connection limits: slowloris, idle keep-alive, the connection cap.

fn limited(header_ms: u64, idle_ms: u64, max_connections: usize) -> ServiceConfig {
    ServiceConfig {
        header_read_timeout: std::time::Duration::from_millis(header_ms),
        idle_timeout: std::time::Duration::from_millis(idle_ms),
        max_connections,
        ..config()
    }
}

/// Read from `conn` until it is closed (EOF or reset); panics after `within`.
async fn closed_within(conn: &mut tokio::net::TcpStream, within: std::time::Duration) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the service closes the connection in time; got {:?}",
            String::from_utf8_lossy(&got)
        )
    });
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_header_is_cut_off_after_the_header_read_timeout() {
    use tokio::io::AsyncWriteExt;
    let s = start_with(
        Arc::new(MemoryStore::new()),
        clock(),
        5,
        limited(400, 5_000, 64),
        None,
    )
    .await;
    let addr = s.base.trim_start_matches("http://").to_string();

    // Half a header, then silence.
    let started = std::time::Instant::now();
    let mut conn = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    conn.write_all(b"POST /tenants HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .await
        .expect("write");
    let answer = closed_within(&mut conn, std::time::Duration::from_secs(3)).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(started.elapsed() >= std::time::Duration::from_millis(350));

    // Trickling a byte every 100 ms does not keep the connection: the header has a deadline.
    let started = std::time::Instant::now();
    let conn = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (mut read, mut write) = conn.into_split();
    let trickle = tokio::spawn(async move {
        let _ = write.write_all(b"GET /tenants/x HTTP/1.1\r\n").await;
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if write.write_all(b"X").await.is_err() {
                break;
            }
        }
    });
    tokio::time::timeout(std::time::Duration::from_secs(3), async {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 256];
        while let Ok(n) = read.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
    .expect("a trickling header is cut off");
    assert!(started.elapsed() < std::time::Duration::from_millis(2_500));
    trickle.abort();

    // A whole request is served, and a keep-alive connection idling afterwards is closed
    // after the idle timeout... of this server, 5 s; a second server shows it quickly.
    let mut conn = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    conn.write_all(b"GET /tenants/x HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 12];
    use tokio::io::AsyncReadExt;
    conn.read_exact(&mut buf).await.expect("response");
    assert_eq!(&buf, b"HTTP/1.1 404");
    s.stop().await;

    let quick = start_with(
        Arc::new(MemoryStore::new()),
        clock(),
        5,
        limited(5_000, 300, 64),
        None,
    )
    .await;
    let started = std::time::Instant::now();
    let mut conn = tokio::net::TcpStream::connect(quick.base.trim_start_matches("http://"))
        .await
        .expect("connect");
    conn.write_all(b"GET /tenants/x HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let answer = closed_within(&mut conn, std::time::Duration::from_secs(3)).await;
    assert!(answer.starts_with(b"HTTP/1.1 404"));
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    quick.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let s = start_with(
        Arc::new(MemoryStore::new()),
        clock(),
        5,
        limited(1_000, 1_000, 1),
        None,
    )
    .await;
    let addr = s.base.trim_start_matches("http://").to_string();
    // One silent connection takes the only slot …
    let hog = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let client = reqwest::Client::new();
    let waiting = client
        .get(format!("{}/tenants/x", s.base))
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;
    assert!(waiting.is_err(), "served beyond the limit: {waiting:?}");
    // … until it goes (here: its header timeout closes it).
    drop(hog);
    let served = client
        .get(format!("{}/tenants/x", s.base))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .expect("served once a slot is free");
    assert_eq!(served.status().as_u16(), 404);
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Authentication.

const OPERATOR_TOKEN: &str = "op-0123456789abcdef";
const WRITER_A: &str = "wa-0123456789abcdef";
const READER_A: &str = "ra-0123456789abcdef";
const WRITER_B: &str = "wb-0123456789abcdef";

impl Server {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        authorization: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(a) = authorization {
            request = request.header("Authorization", a);
        }
        if let Some(k) = key {
            request = request.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        self.send(request).await
    }
}

#[tokio::test]
async fn bearer_tokens_name_the_tenant_and_the_role() {
    use reqwest::Method;
    // Tenants are created first (open mode), then the service restarts with tokens for them.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let open = start_on(store.clone(), clock()).await;
    let a = open.tenant("ta", basic("甲公司")).await;
    let b = open.tenant("tb", basic("乙公司")).await;
    open.stop().await;
    let tokens = service::TokenTable::parse(&format!(
        "{OPERATOR_TOKEN}=*:operator, {WRITER_A}={a}:writer, {READER_A}={a}:reader, {WRITER_B}={b}:writer"
    ))
    .expect("tokens");
    let s = start_with(store, clock(), 6, config(), Some(Arc::new(tokens))).await;
    let bearer = |t: &str| format!("Bearer {t}");
    let lead = json!({"source": "own_site", "mobile": "13812345678"});

    // No, a malformed or an unknown token: 401 with a challenge, whatever the route.
    for auth in [
        None,
        Some("Basic d2E6MDEyMzQ1Njc4OWFiY2RlZg==".to_string()),
        Some("Bearer".to_string()),
        Some(bearer("wa-0123456789abcdeX")),
        Some(bearer("wa-0123456789abcde")),
        Some(bearer(&format!("{WRITER_A}0"))),
    ] {
        for path in [format!("/tenants/{a}"), "/nowhere".to_string()] {
            let r = s
                .call(Method::GET, &path, auth.as_deref(), None, None)
                .await;
            r.problem(401, "unauthenticated");
            assert!(
                r.header("www-authenticate")
                    .is_some_and(|c| c.starts_with("Bearer")),
                "{auth:?}"
            );
        }
    }

    // A tenant's writer: its own tenant only.
    let wa = bearer(WRITER_A);
    let own = s
        .call(Method::GET, &format!("/tenants/{a}"), Some(&wa), None, None)
        .await;
    assert_eq!(own.status, 200, "{:#}", own.body);
    s.call(Method::GET, &format!("/tenants/{b}"), Some(&wa), None, None)
        .await
        .problem(403, "forbidden");
    s.call(
        Method::POST,
        &format!("/tenants/{b}/leads"),
        Some(&wa),
        Some("l"),
        Some(lead.clone()),
    )
    .await
    .problem(403, "forbidden");
    s.call(
        Method::POST,
        "/tenants",
        Some(&wa),
        Some("t"),
        Some(basic("丙公司")),
    )
    .await
    .problem(403, "forbidden");
    let captured = s
        .call(
            Method::POST,
            &format!("/tenants/{a}/leads"),
            Some(&wa),
            Some("l"),
            Some(lead.clone()),
        )
        .await;
    assert_eq!(captured.status, 201, "{:#}", captured.body);

    // A reader reads and may not write.
    let ra = bearer(READER_A);
    assert_eq!(
        s.call(
            Method::GET,
            &format!("/tenants/{a}/leads"),
            Some(&ra),
            None,
            None
        )
        .await
        .status,
        200
    );
    s.call(
        Method::POST,
        &format!("/tenants/{a}/usage"),
        Some(&ra),
        Some("u"),
        Some(json!({"unit": "articles_published", "quantity": 1})),
    )
    .await
    .problem(403, "forbidden");

    // B's writer cannot see A's lead; the operator sees every tenant and creates tenants.
    s.call(
        Method::GET,
        &format!("/tenants/{a}/leads"),
        Some(&bearer(WRITER_B)),
        None,
        None,
    )
    .await
    .problem(403, "forbidden");
    let op = bearer(OPERATOR_TOKEN);
    assert_eq!(
        s.call(Method::GET, &format!("/tenants/{b}"), Some(&op), None, None)
            .await
            .status,
        200
    );
    let created = s
        .call(
            Method::POST,
            "/tenants",
            Some(&op),
            Some("t"),
            Some(basic("丙公司")),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    s.stop().await;
}

#[test]
fn token_tables_refuse_bad_entries_without_quoting_tokens() {
    use service::{Authenticator, Principal, Role, TokenTable};
    let id = TenantId::new();
    for bad in [
        "",
        "short=*:operator",
        "op-0123456789abcdef=*:writer",
        &format!("op-0123456789abcdef={id}:operator"),
        "op-0123456789abcdef=not-a-tenant:writer",
        "op-0123456789abcdef=*:root",
        "op-0123456789abcdef",
    ] {
        let e = TokenTable::parse(bad).expect_err(bad);
        assert!(!e.contains("0123456789abcdef"), "{e}");
    }
    let table = TokenTable::parse(&format!("wa-0123456789abcdef={id}:writer")).expect("table");
    assert_eq!(
        table.authenticate("wa-0123456789abcdef"),
        Some(Principal {
            tenant: Some(id),
            role: Role::Writer
        })
    );
    assert_eq!(table.authenticate("wa-0123456789abcde"), None);
    assert_eq!(table.authenticate(""), None);
    assert!(!format!("{table:?}").contains("0123456789abcdef"));
}

/// The demo site of `marketingforce-sites`, as JSON for `PUT …/sites/{site}`.
fn demo_site() -> (Value, String) {
    let demo = marketingforce::sites::demo::jinggong().expect("demo site");
    let origin = demo.site.base_url.trim_end_matches('/').to_string();
    (serde_json::to_value(&demo.site).expect("site json"), origin)
}

impl Server {
    async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(self.client.put(format!("{}{path}", self.base)).json(&body))
            .await
    }

    /// A browser's request to a public route, from `origin`.
    async fn beacon(&self, path: &str, origin: &str, agent: &str, body: Value) -> Resp {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("Origin", origin)
                .header("User-Agent", agent)
                .json(&body),
        )
        .await
    }
}

const BROWSER: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0";

/// A page view on `server`: start, then dwell and scroll; returns the token.
async fn page_view(server: &Server, origin: &str, page: &str, visitor: &str, dwell: u64) -> String {
    let start = server
        .beacon(
            "/mf/collect/start",
            origin,
            BROWSER,
            json!({"site": "jinggong", "page": page, "locale": "zh-CN", "variant": "pc",
                   "url": format!("{origin}/{page}.html?utm_source=baidu&utm_medium=cpc"),
                   "visitor": visitor}),
        )
        .await;
    assert_eq!(start.status, 200, "{:#}", start.body);
    let token = start.body["token"].as_str().expect("token").to_string();
    server.clock.advance(Duration::seconds(30));
    let events = server
        .beacon(
            "/mf/collect/events",
            origin,
            BROWSER,
            json!({"token": token, "events": [{"type": "dwell", "visible_ms": dwell},
                                               {"type": "scroll", "depth_pct": 80}]}),
        )
        .await;
    assert_eq!(events.status, 204, "{:#}", events.body);
    token
}

#[tokio::test]
async fn a_sites_beacons_and_forms_reach_analytics_and_the_crm() {
    let s = start().await;
    let t = s
        .tenant(
            "t-site",
            json!({"name": "上海精工机械有限公司", "bundle": "tcloud.standard", "add_ons": ["mf.lead_management"]}),
        )
        .await;
    let (site, origin) = demo_site();
    let put = s
        .put(&format!("/tenants/{t}/sites/jinggong"), site.clone())
        .await;
    assert_eq!(put.status, 201, "{:#}", put.body);
    // Registering again replaces; the id must match the path; the model is validated.
    assert_eq!(
        s.put(&format!("/tenants/{t}/sites/jinggong"), site.clone())
            .await
            .status,
        200
    );
    s.put(&format!("/tenants/{t}/sites/other"), site.clone())
        .await
        .invalid("id");
    let mut broken = site.clone();
    broken["base_url"] = json!("ftp://nowhere");
    s.put(&format!("/tenants/{t}/sites/jinggong"), broken)
        .await
        .invalid("base_url");
    // Another tenant cannot take the id.
    let other = s.tenant("t-other", basic("苏州另一家公司")).await;
    s.put(&format!("/tenants/{other}/sites/jinggong"), site)
        .await
        .problem(409, "invalid-state");

    // Two visitors; the second sends the inquiry form.
    page_view(&s, &origin, "home", "visitor-0001", 12_000).await;
    let token = page_view(&s, &origin, "contact", "visitor-0002", 40_000).await;
    let form = json!({"fields": {"name": "钱立新", "mobile": "13770001234",
                                 "company": "无锡恒达精密部件有限公司", "product": "XK-850"},
                      "consent": true, "consent_version": "2026-03", "page": "contact",
                      "visitor": "visitor-0002", "token": token,
                      "url": format!("{origin}/contact.html?utm_source=baidu"),
                      "submission": "form-0000-0001"});
    let sent = s
        .beacon("/mf/forms/jinggong/inquiry", &origin, BROWSER, form.clone())
        .await;
    assert_eq!(sent.status, 200, "{:#}", sent.body);
    assert_eq!(sent.body["accepted"], json!(true));
    // The same submission again captures once.
    let again = s
        .beacon("/mf/forms/jinggong/inquiry", &origin, BROWSER, form.clone())
        .await;
    assert_eq!(again.body, sent.body);
    let leads = s.get(&format!("/tenants/{t}/leads")).await;
    assert_eq!(leads.status, 200, "{:#}", leads.body);
    assert_eq!(
        leads.body["items"].as_array().map(Vec::len),
        Some(1),
        "{:#}",
        leads.body
    );
    assert!(!leads.body.to_string().contains("13770001234"), "masked");

    // A form with errors names every field, never the values.
    let mut bad = form.clone();
    bad["fields"]["mobile"] = json!("12345");
    bad["submission"] = json!("form-0000-0002");
    let refused = s
        .beacon("/mf/forms/jinggong/inquiry", &origin, BROWSER, bad)
        .await;
    let body = refused.invalid("mobile");
    assert!(!body.to_string().contains("12345"), "{body:#}");

    // Refusals: a bot (204, nothing recorded), a foreign origin (403), an unknown site.
    let bot = s
        .beacon(
            "/mf/collect/start",
            &origin,
            "Mozilla/5.0 (compatible; Baiduspider/2.0)",
            json!({"site": "jinggong", "page": "home", "url": format!("{origin}/index.html"),
                   "visitor": "crawler"}),
        )
        .await;
    assert_eq!(bot.status, 204);
    let foreign = s
        .beacon(
            "/mf/collect/start",
            "https://evil.example",
            BROWSER,
            json!({"site": "jinggong", "page": "home", "url": format!("{origin}/index.html"),
                   "visitor": "visitor-0003"}),
        )
        .await;
    assert_eq!(foreign.status, 403, "{:#}", foreign.body);
    let unknown = s
        .beacon(
            "/mf/collect/start",
            &origin,
            BROWSER,
            json!({"site": "nosuchsite", "page": "home", "url": format!("{origin}/index.html"),
                   "visitor": "visitor-0004"}),
        )
        .await;
    assert_eq!(unknown.status, 400, "{:#}", unknown.body);

    // The analytics: two page views, one form, the dwell as sent; only the owner reads them.
    let today = "2026-03-01";
    let by_page = s
        .get(&format!(
            "/tenants/{t}/sites/jinggong/analytics?from={today}&to={today}&by=page"
        ))
        .await;
    assert_eq!(by_page.status, 200, "{:#}", by_page.body);
    let rows = by_page.body.as_array().expect("rows");
    let row = |page: &str| rows.iter().find(|r| r["key"] == json!(page)).expect(page);
    assert_eq!(row("home")["pageviews"], json!(1));
    assert_eq!(row("home")["avg_dwell_ms"], json!(12_000));
    assert_eq!(row("contact")["avg_dwell_ms"], json!(40_000));
    s.get(&format!(
        "/tenants/{other}/sites/jinggong/analytics?from={today}&to={today}"
    ))
    .await
    .problem(404, "not-found");
    s.get(&format!(
        "/tenants/{t}/sites/jinggong/analytics?from={today}&to=2026-02-01"
    ))
    .await
    .invalid("to");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_registered_on_one_instance_is_served_by_another() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("sites.sqlite");
    let first: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.expect("sqlite"));
    let second: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.expect("sqlite"));
    let clock = clock();
    let a = start_with(first, clock.clone(), 5, config(), None).await;
    let b = start_with(second, clock.clone(), 6, config(), None).await;
    let t = a
        .tenant(
            "t-site",
            json!({"name": "上海精工机械有限公司", "bundle": "tcloud.standard", "add_ons": ["mf.lead_management"]}),
        )
        .await;
    let (site, origin) = demo_site();
    assert_eq!(
        a.put(&format!("/tenants/{t}/sites/jinggong"), site)
            .await
            .status,
        201
    );
    // B never saw the registration: its first beacon catches up from the store. A token
    // issued by B is verified by A (the site key is derived from the shared keys).
    let token = page_view(&b, &origin, "home", "visitor-0001", 9_000).await;
    let events = a
        .beacon(
            "/mf/collect/events",
            &origin,
            BROWSER,
            json!({"token": token, "events": [{"type": "dwell", "visible_ms": 15_000}]}),
        )
        .await;
    assert_eq!(events.status, 204, "{:#}", events.body);
    let rows = a
        .get(&format!(
            "/tenants/{t}/sites/jinggong/analytics?from=2026-03-01&to=2026-03-01&by=page"
        ))
        .await;
    assert_eq!(rows.body[0]["pageviews"], json!(1), "{:#}", rows.body);
    assert_eq!(
        rows.body[0]["avg_dwell_ms"],
        json!(15_000),
        "{:#}",
        rows.body
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn capture_needs_lead_management_and_add_ons_are_checked() {
    let s = start().await;
    let t = s
        .tenant("t", json!({"name": "某公司", "bundle": "tcloud.basic"}))
        .await;
    let lead = json!({"source": "own_site", "name": "张伟", "mobile": "138 1234 5678"});
    let refused = s
        .post(&format!("/tenants/{t}/leads"), Some("l1"), lead.clone())
        .await;
    let body = refused.problem(403, "forbidden");
    assert_eq!(body["code"], json!("not_entitled"));
    assert!(!body.to_string().contains("1234"), "{body:#}");
    let listed = s.get(&format!("/tenants/{t}/leads")).await;
    assert_eq!(listed.body["items"], json!([]), "nothing was written");
    s.post(
        "/tenants",
        Some("t2"),
        json!({"name": "乙公司", "bundle": "tcloud.basic", "add_ons": ["mf.no_such_module"]}),
    )
    .await
    .invalid("add_ons[0]");
    s.post(
        "/tenants",
        Some("t3"),
        json!({"name": "丙公司", "bundle": "trueclient.pro.growth", "add_ons": ["mf.lead_management"]}),
    )
    .await
    .invalid("add_ons[0]");
    // With the add-on the same capture goes in, and the level is metered.
    let t = s.tenant("t4", basic("丁公司")).await;
    let r = s
        .post(&format!("/tenants/{t}/leads"), Some("l1"), lead)
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    let usage = s.get(&format!("/tenants/{t}/usage/leads_stored")).await;
    assert_eq!(usage.body["used"], json!(1), "{:#}", usage.body);
    s.stop().await;
}
