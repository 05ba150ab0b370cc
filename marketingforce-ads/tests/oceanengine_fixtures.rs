//! The Ocean Engine connector against replayed fixtures (tests/fixtures/oceanengine/*.jsonl),
//! no network: exact money across pages, floats and exponents refused, oversized pages,
//! malformed JSON, rate limits, data moving while read, unknown enum values, partial failures,
//! token expiry mid-run, gateway errors.

mod oceanengine_support;

use chrono::NaiveDate;
use marketingforce_ads::platform::oceanengine::{ApiModel, OceanEngineError, ReportLevel};
use marketingforce_core::adapters::ad_platform::{
    AdPlatform, CampaignStatus, PlatformAccountStatus, ReportRequest,
};
use marketingforce_core::Error;
use oceanengine_support::*;

fn day() -> NaiveDate {
    "2026-03-01".parse().unwrap()
}

fn report() -> ReportRequest {
    ReportRequest {
        account_id: ADV.into(),
        date: day(),
    }
}

#[tokio::test]
async fn a_report_across_pages_is_exact_to_the_fen_and_keeps_ids_above_2_pow_53() {
    let (platform, replay, _) = replaying("campaign_report_pages.jsonl", |_| {}).await;
    let r = platform.daily_report(&report()).await.unwrap();
    assert!(replay.unused().is_empty(), "both pages were read");
    let lines: Vec<(String, String, u64, u64, u64)> = r
        .lines
        .iter()
        .map(|l| {
            (
                l.campaign_id.clone(),
                l.spend.amount().to_string(),
                l.impressions,
                l.clicks,
                l.conversions,
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            (
                "7160000000000000001".into(),
                "1234.56".into(),
                100_000,
                2300,
                41
            ),
            ("7160000000000000002".into(), "0.10".into(), 12, 1, 0),
            ("7160000000000000003".into(), "-12.30".into(), 0, 0, 0),
        ]
    );
    assert_eq!(
        r.report_id,
        format!("oceanengine:{ADV}:2026-03-01:campaign")
    );
    assert_eq!(r.revision, 1);
    assert!(
        r.complete,
        "2026-03-01 is past the finality delay on 03-03 at noon"
    );
}

#[tokio::test]
async fn a_float_artefact_in_money_is_refused_naming_the_row() {
    let (platform, _, _) = replaying("report_float_artefact.jsonl", |_| {}).await;
    let e = platform.daily_report(&report()).await.unwrap_err();
    match &e {
        Error::Validation { field, reason } => {
            assert_eq!(field, "page 1.data.list[1].stat_cost");
            assert!(
                reason.contains("0.30000000000000004") && reason.contains("refused"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Nothing was recorded: the next pull starts from revision 1 again.
    let (platform, _, _) = replaying("campaign_report_pages.jsonl", |_| {}).await;
    assert_eq!(platform.daily_report(&report()).await.unwrap().revision, 1);
}

#[tokio::test]
async fn an_exponent_in_money_is_refused() {
    let (platform, _, _) = replaying("report_exponent.jsonl", |_| {}).await;
    let e = platform.daily_report(&report()).await.unwrap_err();
    assert!(
        matches!(&e, Error::Validation { field, .. } if field == "page 1.data.list[0].stat_cost"),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_page_larger_than_asked_is_refused() {
    let (platform, _, _) = replaying("report_oversized_page.jsonl", |_| {}).await;
    let e = platform.daily_report(&report()).await.unwrap_err();
    match OceanEngineError::find(&e) {
        Some(OceanEngineError::OversizedPage { what, .. }) => {
            assert!(what.contains("3 rows on page 1, 2 asked for"), "{what}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn more_pages_than_the_limit_are_refused() {
    let (platform, _, _) = replaying("campaign_report_pages.jsonl", |c| {
        c.max_report_pages = 1;
    })
    .await;
    let e = platform.daily_report(&report()).await.unwrap_err();
    assert!(
        matches!(OceanEngineError::find(&e), Some(OceanEngineError::OversizedPage { what, .. }) if what.contains("max_report_pages")),
        "{e}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_typed_error_without_the_body() {
    let (platform, _, _) = replaying("report_malformed.jsonl", |_| {}).await;
    let e = platform.daily_report(&report()).await.unwrap_err();
    match OceanEngineError::find(&e) {
        Some(OceanEngineError::Malformed { endpoint, reason }) => {
            assert_eq!(endpoint, "2/report/campaign/get/");
            assert!(reason.contains("at byte"), "{reason}");
            assert!(
                !e.to_string().contains("7160000000000000001"),
                "no body in the error: {e}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!e.is_retryable());
    let e = platform.account(ADV).await.unwrap_err();
    assert!(
        matches!(
            OceanEngineError::find(&e),
            Some(OceanEngineError::Malformed { .. })
        ),
        "{e}"
    );
}

#[tokio::test]
async fn rate_limit_answers_are_retried_with_backoff() {
    let (platform, replay, _) = replaying("report_rate_limited.jsonl", |_| {}).await;
    let r = platform.daily_report(&report()).await.unwrap();
    assert_eq!(r.lines[0].spend.amount().to_string(), "500.00");
    assert!(
        replay.unused().is_empty(),
        "both refusals and the answer were used"
    );
    // With fewer retries than refusals, a retryable typed error.
    let (platform, _, _) = replaying("report_rate_limited.jsonl", |c| c.max_retries = 1).await;
    let e = platform.daily_report(&report()).await.unwrap_err();
    assert!(e.is_retryable());
    match OceanEngineError::find(&e) {
        Some(OceanEngineError::RateLimited { code, attempts, .. }) => {
            assert_eq!((*code, *attempts), (429, 2))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_report_that_moves_while_read_asks_for_a_new_pull() {
    let (platform, _, _) = replaying("report_pages_moved.jsonl", |_| {}).await;
    let e = platform.daily_report(&report()).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(e.to_string().contains("total_page went from 2 to 3"), "{e}");
}

#[tokio::test]
async fn an_unknown_account_status_is_kept_and_reported() {
    let (platform, _, _) = replaying("account_unknown_status.jsonl", |_| {}).await;
    let account = platform.account(ADV).await.unwrap();
    assert_eq!(account.balance.to_string(), "98765.43 CNY");
    match &account.status {
        PlatformAccountStatus::Suspended { reason } => {
            assert!(reason.contains("STATUS_FROZEN_BY_RISK_2027"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let notices = platform.take_notices();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].field, "advertiser.status");
    assert_eq!(notices[0].value, "STATUS_FROZEN_BY_RISK_2027");
    assert!(platform.take_notices().is_empty(), "taken once");
}

#[tokio::test]
async fn a_refused_object_in_a_batch_answer_is_a_partial_failure() {
    let (platform, _, _) = replaying("project_status_partial.jsonl", |c| {
        c.model = ApiModel::ProjectPromotion;
    })
    .await;
    let e = platform
        .set_campaign_status(ADV, "7160000000000000001", CampaignStatus::Paused)
        .await
        .unwrap_err();
    match OceanEngineError::find(&e) {
        Some(OceanEngineError::PartialFailure { failures, .. }) => {
            assert_eq!(failures[0].id, "7160000000000000001");
            assert_eq!(failures[0].code, Some(40001));
            assert!(failures[0].message.contains("已被删除"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_v3_custom_report_reads_string_metrics_and_drops_idle_rows() {
    let (platform, _, _) = replaying("custom_report_v3.jsonl", |c| {
        c.model = ApiModel::ProjectPromotion;
        c.report_page_size = 200;
    })
    .await;
    let r = platform
        .level_report(ADV, day(), ReportLevel::Campaign)
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 1, "the project without delivery is left out");
    assert_eq!(r.rows[0].id, "7160000000000000011");
    assert_eq!(r.rows[0].spend.to_string(), "2048.00 CNY");
    assert_eq!(
        (
            r.rows[0].impressions,
            r.rows[0].clicks,
            r.rows[0].conversions
        ),
        (512_000, 6400, 128)
    );
}

/// Counts each within `u64` but summing past it are read as they are (the idle-row filter
/// summed them: a panic in debug builds, a wrapped sum in release).
#[tokio::test]
async fn report_counts_summing_past_u64_are_read_without_overflow() {
    let (platform, _, _) = replaying("custom_report_v3_huge_counts.jsonl", |c| {
        c.model = ApiModel::ProjectPromotion;
        c.report_page_size = 200;
    })
    .await;
    let r = platform
        .level_report(ADV, day(), ReportLevel::Campaign)
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 1, "the project without delivery is left out");
    assert_eq!(r.rows[0].impressions, u64::MAX);
}

#[tokio::test]
async fn an_access_token_expiring_mid_run_is_refreshed_once_and_the_call_repeated() {
    let (platform, replay, _) = replaying("token_expired_mid_run.jsonl", |_| {}).await;
    let fund = platform.fund(ADV).await.unwrap();
    assert_eq!(fund.balance.to_string(), "100.00 CNY");
    assert!(replay.unused().is_empty());
    assert_eq!(platform.grant().await.unwrap().unwrap().generation, 2);
}

#[tokio::test]
async fn gateway_errors_are_retried_then_reported_as_retryable() {
    let (platform, _, _) = replaying("gateway_errors.jsonl", |c| c.max_retries = 2).await;
    let e = platform.fund(ADV).await.unwrap_err();
    assert!(e.is_retryable());
    assert!(
        matches!(
            OceanEngineError::find(&e),
            Some(OceanEngineError::Http { status: 502, .. })
        ),
        "{e}"
    );
}

#[tokio::test]
async fn a_second_pull_of_the_same_figures_keeps_the_revision() {
    let (platform, _, _) = replaying("custom_report_v3.jsonl", |c| {
        c.model = ApiModel::ProjectPromotion;
        c.report_page_size = 200;
    })
    .await;
    let first = platform
        .level_report(ADV, day(), ReportLevel::Campaign)
        .await
        .unwrap();
    // The fixture's entry is used; serve it again through a new replay on the same store.
    let again = platform
        .with_transport(std::sync::Arc::new(
            marketingforce_ads::platform::oceanengine::ReplayTransport::new(
                marketingforce_ads::platform::oceanengine::Fixture::load(
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("tests/fixtures/oceanengine/custom_report_v3.jsonl"),
                )
                .unwrap(),
            ),
        ))
        .level_report(ADV, day(), ReportLevel::Campaign)
        .await
        .unwrap();
    assert_eq!((first.revision, again.revision), (1, 1));
    assert_eq!(first, again);
}

#[tokio::test]
async fn a_top_up_refused_as_a_duplicate_answers_with_the_first_transfer() {
    let (platform, replay, _) = replaying("transfer_duplicate.jsonl", |_| {}).await;
    let receipt = platform
        .top_up(&marketingforce_core::adapters::ad_platform::TopUpRequest {
            request_id: "topup-0001".into(),
            account_id: ADV.into(),
            amount: marketingforce_core::money::Money::cny("500.25").unwrap(),
        })
        .await
        .unwrap();
    assert_eq!(
        receipt.status,
        marketingforce_core::adapters::ad_platform::TopUpStatus::Succeeded
    );
    assert_eq!(receipt.platform_ref, "TS20260301000001");
    assert_eq!(receipt.amount.to_string(), "500.25 CNY");
    assert!(replay.unused().is_empty());
}
