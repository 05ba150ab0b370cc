//! Tue 3 March, 14:00: the agency's side of the platform. The ad platform is signed and
//! prepaid; two advertisers pass the qualification review and sign framework agreements — one
//! for solution services (gross basis), one for distribution (net basis); their accounts are
//! opened and topped up; the solution creative goes through the content compliance review; the
//! campaigns start on 4 March.

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use marketingforce_ads::account::{Funding, TopUpRequest};
use marketingforce_ads::agreement::{PlatformCategory, ServiceType};
use marketingforce_ads::party::{uscc_with_check_digit, CustomerKind, NewCustomer, ReviewOutcome};
use marketingforce_ads::review::CreativeDraft;
use marketingforce_core::adapters::ad_platform::AdPlatform;

use crate::scenario::cast::day;
use crate::scenario::error::Result;
use crate::scenario::report::money;
use crate::scenario::runner::Ctx;
use crate::scenario::script::{self, cny, Advertiser, ADVERTISERS};

/// Register (or, on a replay, read back) an advertiser with its review and agreement.
pub(crate) async fn advertiser(
    ctx: &Ctx<'_>,
    a: &Advertiser,
) -> Result<marketingforce_ads::party::Customer> {
    let ops = &ctx.svc.ads;
    let licence = uscc_with_check_digit(a.licence17)?;
    let c = ops
        .register_customer(
            NewCustomer {
                name: a.name.into(),
                kind: CustomerKind::DirectAdvertiser,
                industry: a.industry.into(),
                licence_number: licence,
            },
            &IdempotencyKey::new(a.key).unwrap(),
        )
        .await?;
    Ok(c)
}

pub(super) async fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let ops = &ctx.svc.ads;
    let platform = ops
        .register_platform(
            script::AD_PLATFORM_NAME,
            script::AD_PLATFORM_CODE,
            PlatformCategory::ShortVideo,
            &IdempotencyKey::from_static("platform-sim-video"),
        )
        .await?;
    let adapter: Arc<dyn AdPlatform> = ctx.outside.ad_platform.clone();
    ops.attach_platform(platform.id, adapter);
    ops.sign_platform_agreement(
        &platform.id,
        script::platform_agreement(),
        &IdempotencyKey::from_static("platform-agreement-2026"),
    )
    .await?;
    let prepaid = script::platform_prepayment()?;
    ops.record_platform_prepayment(
        &platform.id,
        prepaid,
        day(3, 3),
        &IdempotencyKey::from_static("platform-prepay-1"),
    )
    .await?;
    ctx.say(format!(
        "{}: 2026 agreement, 4% standard rebate + quarterly tiers (1% above 50k, 2% above 200k); prepaid RMB {}",
        platform.name,
        money(&prepaid)
    ));

    for a in &ADVERTISERS {
        let c = advertiser(ctx, a).await?;
        let review = ops
            .review_customer(
                &c.id,
                &script::dossier(a.name, &c.licence_number, a.industry)?,
                "资质审核-孙",
                &IdempotencyKey::new(format!("{}-review", a.key)).unwrap(),
            )
            .await?;
        if review.outcome != ReviewOutcome::Approved {
            return Err(ctx.unexpected(format!("{} not approved: {:?}", a.name, review.reasons)));
        }
        ops.sign_agreement(
            &c.id,
            script::agreement(a)?,
            &IdempotencyKey::new(format!("{}-agreement", a.key)).unwrap(),
        )
        .await?;
        if let Some(prepay) = a.prepays {
            ops.record_receipt(
                &c.id,
                cny(prepay)?,
                day(3, 3),
                &IdempotencyKey::new(format!("{}-prepay", a.key)).unwrap(),
            )
            .await?;
        }
        let account = ops
            .open_ad_account(
                &c.id,
                &platform.id,
                &IdempotencyKey::new(format!("{}-account", a.key)).unwrap(),
            )
            .await?;
        let funding = if a.prepays.is_some() {
            Funding::CustomerPrepayment
        } else {
            Funding::Credit
        };
        ops.top_up(
            TopUpRequest {
                account: account.id,
                amount: cny(a.top_up)?,
                funding,
            },
            &IdempotencyKey::new(format!("{}-topup-1", a.key)).unwrap(),
        )
        .await?;
        let campaign = ops
            .create_campaign(
                &account.id,
                script::campaign(a)?,
                &IdempotencyKey::new(format!("{}-campaign", a.key)).unwrap(),
            )
            .await?;
        let basis = match a.service {
            ServiceType::Solution => "solution (principal, gross basis)",
            ServiceType::Distribution => "distribution (agent, net basis)",
        };
        ctx.say(format!(
            "{}: {basis}, {} back, {} days' credit; account topped up RMB {} ({}); campaign \"{}\" from 4 Mar",
            a.name,
            a.rebate,
            a.credit_days,
            money(&cny(a.top_up)?),
            match funding {
                Funding::Credit => "advanced on credit",
                Funding::CustomerPrepayment => "from the customer's prepayment",
            },
            campaign.draft.name
        ));
        if a.service == ServiceType::Solution {
            // The creative is placed only once T Cloud's compliance review (the
            // `ComplianceReview` bridge AdOps was built with) passed its exact content.
            let creative = ops
                .register_creative(
                    &c.id,
                    CreativeDraft {
                        title: "XK-850 立式加工中心 春季订货会".into(),
                        body: "定位精度 ±0.005 mm，长三角 48 小时上门服务，欢迎预约现场试切。"
                            .into(),
                        media: vec!["https://cdn.jinggong.example.cn/xk850.mp4".into()],
                        landing_url: "https://www.jinggong.example.cn/xk850".into(),
                    },
                    &IdempotencyKey::new(format!("{}-creative-1", a.key)).unwrap(),
                )
                .await?;
            ops.place_creative(
                &campaign.id,
                &creative.id,
                &IdempotencyKey::new(format!("{}-placement-1", a.key)).unwrap(),
            )
            .await?;
            ctx.say("its creative passes T Cloud's compliance review and is placed");
        }
    }
    ctx.close_days(day(3, 3), day(3, 3)).await
}
