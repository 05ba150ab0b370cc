//! The Ocean Engine connector over HTTP against the loopback protocol fake (feature
//! `testing`): OAuth, token expiry mid-run and ahead of expiry, rate limits, accounts, agent
//! transfers, both delivery models, lost answers, paginated reports, and AdOps on top — a
//! retried report pull never records spend twice.

mod common;
mod oceanengine_support;

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use chrono::Duration;
use common::{cny, customer, day, open_ops};
use marketingforce_ads::account::{Funding, TopUpRequest as OurTopUp};
use marketingforce_ads::agreement::{
    PlatformAgreementTerms, PlatformCategory, ServiceType, SettlementTerms,
};
use marketingforce_ads::campaign::{Budget, CampaignDraft, Objective, Schedule};
use marketingforce_ads::platform::oceanengine::fake::{
    FakeAdvertiser, FakeOceanEngine, FakeRow, FakeSetup,
};
use marketingforce_ads::platform::oceanengine::{
    ApiModel, Fixture, OceanEngineError, OceanEnginePlatform, RecordingTransport, ReplayTransport,
    ReportLevel, Secret, TokenRecord,
};
use marketingforce_ads::rebate::PlatformRebatePolicy;
use marketingforce_ads::report::IngestOutcome;
use marketingforce_core::adapters::ad_platform::*;
use marketingforce_core::storage::{Collection, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::ManualClock;
use marketingforce_core::Error;
use oceanengine_support::*;

const LICENCE: &str = "91310000MA1FL8XQ30";

struct Rig {
    fake: FakeOceanEngine,
    store: Arc<dyn Store>,
    tenant: TenantId,
    clock: Arc<ManualClock>,
}

async fn rig() -> Rig {
    let fake = FakeOceanEngine::start(FakeSetup::default()).await.unwrap();
    fake.add_advertiser(FakeAdvertiser::new(ADV, LICENCE).with_balance_fen(1_000_000));
    Rig {
        fake,
        store: Arc::new(MemoryStore::new()),
        tenant: TenantId::new(),
        clock: clock(),
    }
}

impl Rig {
    fn platform(
        &self,
        model: ApiModel,
        tune: impl FnOnce(&mut marketingforce_ads::platform::oceanengine::OceanEngineConfig),
    ) -> OceanEnginePlatform {
        let mut c = config(&self.fake.base_url());
        c.model = model;
        tune(&mut c);
        connector(c, self.store.clone(), self.tenant, self.clock.clone())
    }

    async fn authorised(&self, model: ApiModel) -> OceanEnginePlatform {
        let p = self.platform(model, |_| {});
        self.fake.issue_auth_code("code-1");
        p.exchange_code(&Secret::new("code-1")).await.unwrap();
        p
    }
}

fn reason_of(e: &Error) -> Option<&OceanEngineError> {
    OceanEngineError::find(e)
}

#[tokio::test]
async fn the_oauth_code_becomes_a_stored_grant_that_every_call_uses() {
    let r = rig().await;
    let p = r.platform(ApiModel::ProjectPromotion, |_| {});
    // No grant yet: a person must authorise the app.
    let e = p.account(ADV).await.unwrap_err();
    assert!(
        matches!(
            reason_of(&e),
            Some(OceanEngineError::ReauthorisationRequired { .. })
        ),
        "{e}"
    );
    r.fake.issue_auth_code("code-1");
    let grant = p.exchange_code(&Secret::new("code-1")).await.unwrap();
    assert_eq!(grant.advertiser_ids, vec![ADV.to_string()]);
    assert_eq!(grant.generation, 1);
    let account = p.account(ADV).await.unwrap();
    assert_eq!(account.status, PlatformAccountStatus::Active);
    assert_eq!(account.balance.to_string(), "10000.00 CNY");
    // A code works once.
    let e = p.exchange_code(&Secret::new("code-1")).await.unwrap_err();
    assert_eq!(reason_of(&e).and_then(OceanEngineError::code), Some(40113));
    assert!(!e.is_retryable());
    // The stored record holds the tokens; nothing prints them.
    let stored = Collection::<TokenRecord>::new(r.store.clone())
        .get(&r.tenant, APP)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert!(stored.access_token.expose().starts_with("fake-access-"));
    for shown in [
        format!("{stored:?}"),
        format!("{p:?}"),
        format!("{:?}", p.config()),
        e.to_string(),
    ] {
        assert!(
            !shown.contains("fake-access")
                && !shown.contains("fake-refresh")
                && !shown.contains(SECRET),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn an_access_token_expiring_mid_run_is_refreshed_once_and_the_call_repeated() {
    let r = rig().await;
    let p = r.authorised(ApiModel::ProjectPromotion).await;
    p.account(ADV).await.unwrap();
    r.fake.expire_access_tokens();
    let account = p.account(ADV).await.unwrap();
    assert_eq!(account.status, PlatformAccountStatus::Active);
    assert_eq!(r.fake.count("oauth2/refresh_token/"), 1);
    assert_eq!(r.fake.refresh_token_reuses(), 0);
    assert_eq!(p.grant().await.unwrap().unwrap().generation, 2);
    // Again later: one more refresh, with the new refresh token.
    r.fake.expire_access_tokens();
    p.fund(ADV).await.unwrap();
    assert_eq!(r.fake.count("oauth2/refresh_token/"), 2);
    assert_eq!(r.fake.refresh_token_reuses(), 0);
}

#[tokio::test]
async fn tokens_are_refreshed_ahead_of_expiry_and_an_expired_refresh_token_needs_a_person() {
    let r = rig().await;
    let p = r.authorised(ApiModel::ProjectPromotion).await;
    // Within refresh_ahead_secs (1 h) of the day-long token: refreshed before the call.
    r.clock.advance(Duration::minutes(23 * 60 + 30));
    p.fund(ADV).await.unwrap();
    let paths: Vec<String> = r.fake.calls().into_iter().map(|c| c.path).collect();
    assert_eq!(
        paths[paths.len() - 2..],
        [
            "oauth2/refresh_token/".to_string(),
            "2/advertiser/fund/get/".to_string()
        ]
    );
    // A month later the refresh token itself has expired: no call, a re-authorisation error.
    r.clock.advance(Duration::days(31));
    let calls = r.fake.calls().len();
    let e = p.fund(ADV).await.unwrap_err();
    assert!(
        matches!(reason_of(&e), Some(OceanEngineError::ReauthorisationRequired { reason }) if reason.contains("expired")),
        "{e}"
    );
    assert_eq!(r.fake.calls().len(), calls);
}

#[tokio::test]
async fn a_refresh_token_already_used_elsewhere_means_authorise_again() {
    let r = rig().await;
    let p = r.authorised(ApiModel::ProjectPromotion).await;
    let stored = Collection::<TokenRecord>::new(r.store.clone())
        .get(&r.tenant, APP)
        .await
        .unwrap()
        .unwrap()
        .value;
    // Something outside the store (a crashed process, another tool) used the refresh token.
    let body = serde_json::json!({
        "app_id": APP.parse::<u64>().unwrap(), "secret": SECRET,
        "grant_type": "refresh_token", "refresh_token": stored.refresh_token.expose(),
    });
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}oauth2/refresh_token/", r.fake.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["code"], 0);
    r.fake.expire_access_tokens();
    let e = p.fund(ADV).await.unwrap_err();
    assert!(
        matches!(
            reason_of(&e),
            Some(OceanEngineError::ReauthorisationRequired { .. })
        ),
        "{e}"
    );
}

#[tokio::test]
async fn rate_limits_are_waited_out_or_reported_typed_and_retryable() {
    let r = rig().await;
    let p = r.authorised(ApiModel::ProjectPromotion).await;
    r.fake.throttle(3);
    assert_eq!(
        p.fund(ADV).await.unwrap().balance.to_string(),
        "10000.00 CNY"
    );
    let impatient = r.platform(ApiModel::ProjectPromotion, |c| c.max_retries = 2);
    r.fake.throttle(10);
    let e = impatient.fund(ADV).await.unwrap_err();
    assert!(e.is_retryable());
    match reason_of(&e) {
        Some(OceanEngineError::RateLimited {
            code,
            attempts,
            message,
            ..
        }) => {
            assert_eq!((*code, *attempts), (40100, 3));
            assert!(message.contains("频繁"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn agent_transfers_are_idempotent_by_request_id() {
    let r = rig().await;
    let p = r.authorised(ApiModel::ProjectPromotion).await;
    let request = TopUpRequest {
        request_id: "topup-0001".into(),
        account_id: ADV.into(),
        amount: cny("500.25"),
    };
    let receipt = p.top_up(&request).await.unwrap();
    assert_eq!(receipt.status, TopUpStatus::Succeeded);
    assert!(receipt.platform_ref.starts_with("TS"));
    assert_eq!(receipt.amount.to_string(), "500.25 CNY");
    assert_eq!(r.fake.balance_fen(ADV), Some(1_050_025));
    // The same request again: the same transfer, no second credit.
    let again = p.top_up(&request).await.unwrap();
    assert_eq!(again, receipt);
    assert_eq!(r.fake.balance_fen(ADV), Some(1_050_025));
    let status = p.top_up_status(ADV, "topup-0001").await.unwrap().unwrap();
    assert_eq!(
        (status.status, status.amount.to_string()),
        (TopUpStatus::Succeeded, "500.25 CNY".to_string())
    );
    assert_eq!(p.top_up_status(ADV, "never-sent").await.unwrap(), None);
    // A sub-fen amount is refused before anything is sent.
    let calls = r.fake.calls().len();
    let e = p
        .top_up(&TopUpRequest {
            amount: cny("1.005"),
            request_id: "topup-0002".into(),
            ..request.clone()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Validation { field, .. } if field == "amount"),
        "{e}"
    );
    assert_eq!(r.fake.calls().len(), calls);
    // A transfer to a restricted account fails at the platform: a failed receipt.
    r.fake.set_status(ADV, "STATUS_LIMIT");
    let failed = p
        .top_up(&TopUpRequest {
            request_id: "topup-0003".into(),
            ..request
        })
        .await
        .unwrap();
    assert!(
        matches!(failed.status, TopUpStatus::Failed { ref reason } if reason.contains("状态异常")),
        "{failed:?}"
    );
}

#[tokio::test]
async fn open_account_links_each_opened_account_to_one_request() {
    let r = rig().await;
    r.fake
        .add_advertiser(FakeAdvertiser::new("1760000000000002", LICENCE));
    r.fake.add_advertiser(FakeAdvertiser::new(
        "1760000000000003",
        "91110000600037341L",
    ));
    let p = r.authorised(ApiModel::ProjectPromotion).await;
    let open = |id: &str| OpenAccountRequest {
        request_id: id.into(),
        advertiser_name: "上海某品牌有限公司".into(),
        licence_number: LICENCE.to_lowercase(),
        industry: "retail".into(),
        currency: marketingforce_core::money::Currency::CNY,
    };
    let first = p.open_account(&open("open-1")).await.unwrap();
    assert_eq!(first.account_id, ADV);
    assert_eq!(
        p.open_account(&open("open-1")).await.unwrap(),
        first,
        "a replay"
    );
    let second = p.open_account(&open("open-2")).await.unwrap();
    assert_eq!(second.account_id, "1760000000000002");
    let e = p.open_account(&open("open-3")).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
}

fn campaign_request(id: &str, name: &str, pricing: Pricing) -> CampaignRequest {
    CampaignRequest {
        request_id: id.into(),
        account_id: ADV.into(),
        name: name.into(),
        objective: "traffic".into(),
        pricing,
        daily_budget: Some(cny("2000.50")),
        total_budget: None,
        start: day("2026-03-01"),
        end: Some(day("2026-03-31")),
        audience: Audience::default(),
    }
}

#[tokio::test]
async fn api2_campaigns_are_created_once_and_batch_refusals_are_partial_failures() {
    let r = rig().await;
    let p = r.authorised(ApiModel::CampaignAd).await;
    let cpc = Pricing::Cpc {
        max_bid: cny("1.20"),
    };
    let c = p
        .create_campaign(&campaign_request("camp-1", "春季上新", cpc))
        .await
        .unwrap();
    assert_eq!(c.status, CampaignStatus::Active);
    assert!(
        c.campaign_id.len() == 19,
        "an id above 2^53: {}",
        c.campaign_id
    );
    assert_eq!(
        r.fake.sent_number(&c.campaign_id, "budget").as_deref(),
        Some("2000.50")
    );
    // unique_fk: a replay gets the same campaign.
    let again = p
        .create_campaign(&campaign_request("camp-1", "春季上新", cpc))
        .await
        .unwrap();
    assert_eq!(again.campaign_id, c.campaign_id);
    assert_eq!(r.fake.campaigns(ADV).len(), 1);
    let paused = p
        .set_campaign_status(ADV, &c.campaign_id, CampaignStatus::Paused)
        .await
        .unwrap();
    assert_eq!(paused.status, CampaignStatus::Paused);
    assert_eq!(
        r.fake.campaigns(ADV),
        vec![(c.campaign_id.clone(), "disable".to_string())]
    );
    r.fake.refuse_status_change(&c.campaign_id);
    let e = p
        .set_campaign_status(ADV, &c.campaign_id, CampaignStatus::Active)
        .await
        .unwrap_err();
    assert!(
        matches!(reason_of(&e), Some(OceanEngineError::PartialFailure { failures, .. }) if failures[0].id == c.campaign_id),
        "{e}"
    );
    // Not offered in this model, and CPT not at all.
    let ad = PlaceAdRequest {
        request_id: "ad-1".into(),
        account_id: ADV.into(),
        campaign_id: c.campaign_id.clone(),
        creative_id: "cr-1".into(),
        title: "t".into(),
        body: String::new(),
        media: vec!["image:i".into()],
        landing_url: "https://x.example".into(),
        approval_ref: "a".into(),
    };
    assert!(matches!(
        reason_of(&p.place_ad(&ad).await.unwrap_err()),
        Some(OceanEngineError::Unsupported { .. })
    ));
    let cpt = Pricing::Cpt {
        price: cny("8000"),
        period: CptPeriod::Day,
    };
    assert!(matches!(
        reason_of(
            &p.create_campaign(&campaign_request("camp-2", "开屏", cpt))
                .await
                .unwrap_err()
        ),
        Some(OceanEngineError::Unsupported { .. })
    ));
}

#[tokio::test]
async fn v3_projects_and_promotions_are_created_once_even_when_an_answer_is_lost() {
    let r = rig().await;
    let p = r.authorised(ApiModel::ProjectPromotion).await;
    let cpc = Pricing::Cpc {
        max_bid: cny("1.20"),
    };
    let project = p
        .create_campaign(&campaign_request("proj-1", "春季上新", cpc))
        .await
        .unwrap();
    assert_eq!(
        r.fake
            .sent_number(&project.campaign_id, "budget")
            .as_deref(),
        Some("2000.50")
    );
    // The platform creates the project but the answer is lost: the outcome is unknown.
    r.fake.lose_next_answer("v3.0/project/create/");
    let e = p
        .create_campaign(&campaign_request("proj-2", "夏季预热", cpc))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert_eq!(r.fake.campaigns(ADV).len(), 2, "it was created");
    assert_eq!(
        r.fake.count("v3.0/project/create/"),
        2,
        "and not sent again blindly"
    );
    // The retry adopts it instead of creating a duplicate.
    r.clock.advance(Duration::seconds(31));
    let adopted = p
        .create_campaign(&campaign_request("proj-2", "夏季预热", cpc))
        .await
        .unwrap();
    assert_eq!(r.fake.campaigns(ADV).len(), 2);
    assert_eq!(r.fake.count("v3.0/project/create/"), 2);
    assert!(r
        .fake
        .campaigns(ADV)
        .iter()
        .any(|(id, _)| *id == adopted.campaign_id));
    // A promotion in the first project: materials, the bid exactly.
    let mut ad = PlaceAdRequest {
        request_id: "promo-1".into(),
        account_id: ADV.into(),
        campaign_id: project.campaign_id.clone(),
        creative_id: "creative-0192f0c1".into(),
        title: "春季上新 全场8折".into(),
        body: "限时".into(),
        media: vec![
            "image:tos-cn-i-1".into(),
            "video:v0d00f-2:tos-cn-i-3".into(),
        ],
        landing_url: "https://shop.example.com/spring".into(),
        approval_ref: "review-7".into(),
    };
    let placed = p.place_ad(&ad).await.unwrap();
    assert_eq!(
        r.fake.sent_number(&placed.ad_id, "cpa_bid").as_deref(),
        Some("1.20")
    );
    assert_eq!(p.place_ad(&ad).await.unwrap(), placed, "a replay");
    assert_eq!(r.fake.promotions(ADV), vec![placed.ad_id.clone()]);
    p.set_ad_status(ADV, &placed.ad_id, CampaignStatus::Paused)
        .await
        .unwrap();
    p.set_ad_status(ADV, &placed.ad_id, CampaignStatus::Ended)
        .await
        .unwrap();
    // Media must be uploaded materials.
    ad.request_id = "promo-2".into();
    ad.media = vec!["https://cdn.example.com/a.jpg".into()];
    let e = p.place_ad(&ad).await.unwrap_err();
    assert!(
        matches!(&e, Error::Validation { field, .. } if field == "media[0]"),
        "{e}"
    );
    let ended = p
        .set_campaign_status(ADV, &project.campaign_id, CampaignStatus::Ended)
        .await
        .unwrap();
    assert_eq!(ended.status, CampaignStatus::Ended);
    assert!(r
        .fake
        .campaigns(ADV)
        .contains(&(project.campaign_id.clone(), "delete".into())));
}

fn rows(n: usize) -> Vec<FakeRow> {
    (1..=n)
        .map(|i| {
            FakeRow::new(
                &format!("71600000000000000{i:02}"),
                &format!("{i}.{i:02}"),
                100 * i as u64,
                i as u64,
                0,
            )
        })
        .collect()
}

#[tokio::test]
async fn reports_read_every_page_at_every_level_in_both_models() {
    let r = rig().await;
    let date = day("2026-03-01");
    r.fake.set_report(ADV, date, ReportLevel::Campaign, rows(5));
    r.fake.set_report(ADV, date, ReportLevel::Ad, rows(3));
    r.fake.set_report(
        ADV,
        date,
        ReportLevel::Advertiser,
        vec![FakeRow::new(ADV, "15.15", 1500, 15, 1)],
    );
    for (model, path) in [
        (ApiModel::CampaignAd, "2/report/campaign/get/"),
        (ApiModel::ProjectPromotion, "v3.0/report/custom/get/"),
    ] {
        let p = r.authorised(model).await;
        let before = r.fake.count(path);
        let campaigns = p
            .level_report(ADV, date, ReportLevel::Campaign)
            .await
            .unwrap();
        assert_eq!(
            r.fake.count(path) - before,
            3,
            "5 rows, 2 a page: 3 pages ({model:?})"
        );
        assert_eq!(campaigns.rows.len(), 5);
        assert_eq!(campaigns.rows[4].spend.to_string(), "5.05 CNY");
        let ads = p.level_report(ADV, date, ReportLevel::Ad).await.unwrap();
        assert_eq!(ads.rows.len(), 3);
        let whole = p
            .level_report(ADV, date, ReportLevel::Advertiser)
            .await
            .unwrap();
        assert_eq!(whole.rows[0].id, ADV);
        assert_eq!(whole.rows[0].spend.to_string(), "15.15 CNY");
        assert!(whole.complete);
    }
}

#[tokio::test]
async fn fixtures_served_by_the_fake_take_precedence_over_its_behaviour() {
    let r = rig().await;
    let p = r.authorised(ApiModel::CampaignAd).await;
    let fixture = Fixture::load(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/oceanengine/report_float_artefact.jsonl"),
    )
    .unwrap();
    r.fake.script(fixture);
    let e = p
        .daily_report(&ReportRequest {
            account_id: ADV.into(),
            date: day("2026-03-01"),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Validation { field, .. } if field.ends_with("stat_cost")),
        "{e}"
    );
    assert!(r.fake.unused_script().is_empty());
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_refused_while_it_is_read() {
    let r = rig().await;
    let date = day("2026-03-01");
    r.fake
        .set_report(ADV, date, ReportLevel::Campaign, rows(40));
    let p = r.authorised(ApiModel::CampaignAd).await;
    let small = r.platform(ApiModel::CampaignAd, |c| {
        c.max_response_bytes = 1024;
        c.report_page_size = 1000;
    });
    let e = small
        .level_report(ADV, date, ReportLevel::Campaign)
        .await
        .unwrap_err();
    assert!(
        matches!(reason_of(&e), Some(OceanEngineError::OversizedPage { what, .. }) if what.contains("max_response_bytes")),
        "{e}"
    );
    // The same report with the default limit is fine.
    assert_eq!(
        p.level_report(ADV, date, ReportLevel::Campaign)
            .await
            .unwrap()
            .rows
            .len(),
        40
    );
}

#[tokio::test]
async fn a_recorded_session_is_redacted_and_replays_identically() {
    let r = rig().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("session.jsonl");
    let real = Arc::new(
        marketingforce_ads::platform::oceanengine::HttpTransport::new(
            &r.fake.base_url(),
            std::time::Duration::from_secs(5),
            1 << 20,
        )
        .unwrap(),
    );
    let recorder = Arc::new(RecordingTransport::create(real, &file).unwrap());
    let p = r
        .platform(ApiModel::ProjectPromotion, |_| {})
        .with_transport(recorder);
    r.fake.issue_auth_code("code-rec");
    p.exchange_code(&Secret::new("code-rec")).await.unwrap();
    let live = p.account(ADV).await.unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 3);
    for secret in [
        SECRET,
        "code-rec",
        "fake-access-",
        "fake-refresh-",
        "finance@advertiser.example",
    ] {
        assert!(!text.contains(secret), "{secret} in the recording:\n{text}");
    }
    // Replayed on a fresh store, without the fake: the same answers.
    let replay = Arc::new(ReplayTransport::new(Fixture::parse(&text).unwrap()));
    let fresh: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let offline = connector(
        config("http://replay.invalid/open_api/"),
        fresh,
        TenantId::new(),
        clock(),
    )
    .with_transport(replay.clone());
    offline
        .exchange_code(&Secret::new("any-code"))
        .await
        .unwrap();
    assert_eq!(offline.account(ADV).await.unwrap(), live);
    assert!(replay.unused().is_empty());
}

#[tokio::test]
async fn ad_ops_on_ocean_engine_never_records_a_retried_pull_twice() {
    let r = rig().await;
    // Everything opens on 2026-03-01; reports are pulled on 03-03.
    r.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-03-01T10:00:00+08:00")
            .unwrap()
            .into(),
    );
    let ops = open_ops(r.store.clone(), r.tenant, r.clock.clone(), 7).await;
    let platform = ops
        .register_platform(
            "巨量引擎",
            "ocean-engine",
            PlatformCategory::ShortVideo,
            &IdempotencyKey::from_static("oe"),
        )
        .await
        .unwrap();
    ops.sign_platform_agreement(
        &platform.id,
        PlatformAgreementTerms {
            start: day("2026-01-01"),
            end: day("2026-12-31"),
            currency: marketingforce_core::money::Currency::CNY,
            pricing_models: vec![PricingModel::Cpc, PricingModel::Cpm],
            settlement_terms: SettlementTerms::Prepay,
            rebate_policy: PlatformRebatePolicy::standard("5%".parse().unwrap()),
        },
        &IdempotencyKey::from_static("oe-agreement"),
    )
    .await
    .unwrap();
    let oe = Arc::new(r.authorised(ApiModel::ProjectPromotion).await);
    ops.attach_platform(platform.id, oe.clone());
    ops.record_platform_prepayment(
        &platform.id,
        cny("500000"),
        day("2026-03-01"),
        &IdempotencyKey::from_static("prepay"),
    )
    .await
    .unwrap();
    let c = customer(
        &ops,
        "c",
        "上海某品牌有限公司",
        "91310000MA1FL8XQ3",
        ServiceType::Distribution,
        "3%",
        60,
        "300000",
    )
    .await;
    // The agent opened the account in the console for this licence.
    r.fake
        .add_advertiser(FakeAdvertiser::new("1760000000000005", &c.licence_number));
    let account = ops
        .open_ad_account(&c.id, &platform.id, &IdempotencyKey::from_static("acct"))
        .await
        .unwrap();
    assert_eq!(account.external_id, "1760000000000005");
    ops.top_up(
        OurTopUp {
            account: account.id,
            amount: cny("20000"),
            funding: Funding::Credit,
        },
        &IdempotencyKey::from_static("t"),
    )
    .await
    .unwrap();
    assert_eq!(r.fake.balance_fen("1760000000000005"), Some(2_000_000));
    let campaign = ops
        .create_campaign(
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
        .unwrap();
    let date = day("2026-03-01");
    r.fake.set_report(
        "1760000000000005",
        date,
        ReportLevel::Campaign,
        vec![FakeRow::new(
            &campaign.external_id,
            "1234.56",
            80_000,
            1600,
            32,
        )],
    );
    r.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-03-03T12:00:00+08:00")
            .unwrap()
            .into(),
    );
    let spend = |perf: Vec<marketingforce_ads::campaign::DailyPerformance>| {
        perf[0].metrics.spend.to_string()
    };
    let first = ops.fetch_reports(&platform.id, date).await.unwrap();
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    assert!(matches!(first.ingested[0].1, IngestOutcome::Stored { .. }));
    // The pull retried (a timeout, a re-run of the job): a duplicate, nothing added.
    let again = ops.fetch_reports(&platform.id, date).await.unwrap();
    assert_eq!(again.ingested[0].1, IngestOutcome::Duplicate);
    assert_eq!(
        spend(
            ops.campaign_performance(&campaign.id, date, date)
                .await
                .unwrap()
        ),
        "1234.56 CNY"
    );
    // The platform restates the day (an invalid-traffic refund): restated, not added.
    r.fake.set_report(
        "1760000000000005",
        date,
        ReportLevel::Campaign,
        vec![FakeRow::new(
            &campaign.external_id,
            "1200.06",
            80_000,
            1600,
            32,
        )],
    );
    let restated = ops.fetch_reports(&platform.id, date).await.unwrap();
    assert!(
        matches!(
            restated.ingested[0].1,
            IngestOutcome::Restated {
                previous_revision: 1,
                ..
            }
        ),
        "{:?}",
        restated.ingested
    );
    assert_eq!(
        spend(
            ops.campaign_performance(&campaign.id, date, date)
                .await
                .unwrap()
        ),
        "1200.06 CNY"
    );
    assert_eq!(
        ops.fetch_reports(&platform.id, date)
            .await
            .unwrap()
            .ingested[0]
            .1,
        IngestOutcome::Duplicate
    );
}

#[tokio::test]
async fn a_report_of_the_calendar_s_last_days_is_never_final_before_it_ends() {
    let r = rig().await;
    let p = r.platform(ApiModel::CampaignAd, |c| c.final_after_hours = 24 * 31);
    r.fake.issue_auth_code("code-1");
    p.exchange_code(&Secret::new("code-1")).await.unwrap();
    // A day without delivery (no rows), whose finality delay runs past the calendar's end.
    let date = chrono::NaiveDate::MAX.pred_opt().unwrap();
    let report = p
        .level_report(ADV, date, ReportLevel::Campaign)
        .await
        .unwrap();
    assert!(report.rows.is_empty());
    assert!(!report.complete);
}
