//! Tue 3 March, 14:00: the agency's side of the platform. The ad platform is signed and
//! prepaid; two advertisers pass the qualification review and sign framework agreements — one
//! for solution services (gross basis), one for distribution (net basis); their accounts are
//! opened and topped up; the solution creative goes through the content compliance review; the
//! campaigns start on 4 March.

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
            a.key,
            NewCustomer {
                name: a.name.into(),
                kind: CustomerKind::DirectAdvertiser,
                industry: a.industry.into(),
                licence_number: licence,
            },
        )
        .await?;
    Ok(c)
}

pub(super) async fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let ops = &ctx.svc.ads;
    let platform = ops
        .register_platform(
            "platform-sim-video",
            script::AD_PLATFORM_NAME,
            script::AD_PLATFORM_CODE,
            PlatformCategory::ShortVideo,
        )
        .await?;
    let adapter: Arc<dyn AdPlatform> = ctx.outside.ad_platform.clone();
    ops.attach_platform(platform.id, adapter);
    ops.sign_platform_agreement(
        "platform-agreement-2026",
        &platform.id,
        script::platform_agreement(),
    )
    .await?;
    let prepaid = script::platform_prepayment()?;
    ops.record_platform_prepayment("platform-prepay-1", &platform.id, prepaid, day(3, 3))
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
                &format!("{}-review", a.key),
                &c.id,
                &script::dossier(a.name, &c.licence_number, a.industry)?,
                "资质审核-孙",
            )
            .await?;
        if review.outcome != ReviewOutcome::Approved {
            return Err(ctx.unexpected(format!("{} not approved: {:?}", a.name, review.reasons)));
        }
        ops.sign_agreement(
            &format!("{}-agreement", a.key),
            &c.id,
            script::agreement(a)?,
        )
        .await?;
        if let Some(prepay) = a.prepays {
            ops.record_receipt(&format!("{}-prepay", a.key), &c.id, cny(prepay)?, day(3, 3))
                .await?;
        }
        let account = ops
            .open_ad_account(&format!("{}-account", a.key), &c.id, &platform.id)
            .await?;
        let funding = if a.prepays.is_some() {
            Funding::CustomerPrepayment
        } else {
            Funding::Credit
        };
        ops.top_up(
            &format!("{}-topup-1", a.key),
            TopUpRequest {
                account: account.id,
                amount: cny(a.top_up)?,
                funding,
            },
        )
        .await?;
        let campaign = ops
            .create_campaign(
                &format!("{}-campaign", a.key),
                &account.id,
                script::campaign(a)?,
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
                    &format!("{}-creative-1", a.key),
                    &c.id,
                    CreativeDraft {
                        title: "XK-850 立式加工中心 春季订货会".into(),
                        body: "定位精度 ±0.005 mm，长三角 48 小时上门服务，欢迎预约现场试切。"
                            .into(),
                        media: vec!["https://cdn.jinggong.example.cn/xk850.mp4".into()],
                        landing_url: "https://www.jinggong.example.cn/xk850".into(),
                    },
                )
                .await?;
            ops.place_creative(
                &format!("{}-placement-1", a.key),
                &campaign.id,
                &creative.id,
            )
            .await?;
            ctx.say("its creative passes T Cloud's compliance review and is placed");
        }
    }
    ctx.close_days(day(3, 3), day(3, 3)).await
}
