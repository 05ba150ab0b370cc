//! Mon 16 March: hot prospects sign. Tenant A's new customers join its membership programme
//! with their first orders; one of them runs the "refer a friend" fission campaign, whose
//! referrals arrive as new leads.

use chrono::Duration;
use marketingforce_content::optimise::Delivery;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::IdempotencyKey;
use marketingforce_crm::fission::{FissionCampaign, Goal};
use marketingforce_crm::ids::LeadId;
use marketingforce_crm::membership::MembershipProgram;
use marketingforce_crm::model::{Actor, Source, Stage};
use marketingforce_crm::request::CaptureRequest;

use crate::scenario::cast::day;
use crate::scenario::error::Result;
use crate::scenario::phases::leads::sync_leads_stored;
use crate::scenario::report::money;
use crate::scenario::runner::Ctx;
use crate::scenario::script::cny;

/// First orders of tenant A's new customers (spare parts and service packages), in turn.
const FIRST_ORDERS: [&str; 4] = ["12800", "3680", "6500", "860"];

/// Every second qualified lead signs (in id order): the rest keep being worked.
async fn convert(ctx: &mut Ctx<'_>, tenant: TenantId) -> Result<Vec<LeadId>> {
    let crm = ctx.svc.crm(ctx.cast, &tenant).clone();
    let qualified: Vec<_> = crm
        .all_leads(&tenant)
        .await?
        .into_iter()
        .filter(|l| l.is_active() && l.stage == Stage::Qualified)
        .collect();
    let mut won = Vec::new();
    for l in qualified.iter().step_by(2) {
        let Some(owner) = l.owner else { continue };
        crm.transition(
            &tenant,
            &l.id,
            Stage::Converted,
            &Actor::User(owner),
            Some("签约"),
            &IdempotencyKey::new(format!("convert-{}", l.id)).unwrap(),
        )
        .await?;
        won.push(l.id);
    }
    ctx.say(format!(
        "{}: {} of {} qualified prospects sign",
        ctx.cast.name_of(&tenant),
        won.len(),
        qualified.len()
    ));
    Ok(won)
}

fn program(ctx: &Ctx<'_>) -> MembershipProgram {
    let mut p = MembershipProgram::example(ctx.cast.a_program);
    p.name = "精工客户俱乐部".into();
    p
}

async fn members(ctx: &mut Ctx<'_>, won: &[LeadId]) -> Result<()> {
    let a = ctx.cast.jinggong;
    let p = program(ctx);
    ctx.svc.membership.save_program(&a, &p).await?;
    let mut points = 0;
    for (n, lead) in won.iter().enumerate() {
        ctx.svc.membership.enroll(&a, &p.id, lead).await?;
        let amount = cny(FIRST_ORDERS[n % FIRST_ORDERS.len()])?;
        points += ctx
            .svc
            .membership
            .earn_purchase(
                &a,
                &p.id,
                lead,
                &amount,
                &format!("order-{n}"),
                &IdempotencyKey::new(format!("earn-{lead}")).unwrap(),
            )
            .await?;
        ctx.svc
            .crm_a
            .transition(
                &a,
                lead,
                Stage::Member,
                &Actor::system("membership"),
                None,
                &IdempotencyKey::new(format!("member-{lead}")).unwrap(),
            )
            .await?;
    }
    ctx.say(format!(
        "{}: {} new customers join \"{}\"; first orders earn {points} points, locked for the 7-day return window",
        ctx.cast.name_of(&a),
        won.len(),
        p.name
    ));
    Ok(())
}

/// The people the campaign runner refers: two new, and one who had already inquired.
fn referral(n: usize, existing: Option<&str>) -> CaptureRequest {
    let mobile = existing.map_or_else(|| format!("1358800{:04}", 4000 + n * 61), str::to_string);
    CaptureRequest::new(Source::Referral)
        .name(format!("推荐客户{}", n + 1))
        .mobile(mobile)
        .company("昆山精密模具有限公司")
        .region("江苏")
        .campaign("老客户推荐有礼")
}

/// The mobile of the first inquirer whose lead is still being followed up (not a customer).
async fn known_inquirer(ctx: &Ctx<'_>) -> Result<Option<String>> {
    let a = ctx.cast.jinggong;
    let leads = ctx.svc.crm_a.all_leads(&a).await?;
    for r in ctx.svc.forwarder.recorded(&a).await? {
        let Delivery::Delivered { lead_id, .. } = &r.delivery else {
            continue;
        };
        let working = leads
            .iter()
            .any(|l| l.id.to_string() == *lead_id && l.is_active() && l.stage == Stage::Contacting);
        if working {
            return Ok(r.inquiry.phone);
        }
    }
    Ok(None)
}

async fn fission(ctx: &mut Ctx<'_>, won: &[LeadId]) -> Result<()> {
    let a = ctx.cast.jinggong;
    let f = &ctx.svc.fission;
    let id = ctx.cast.a_fission;
    // Saving the campaign again (a replay) keeps what its rewards spent.
    let now = ctx.now();
    let campaign = FissionCampaign::new(
        id,
        "老客户推荐有礼",
        now,
        now + Duration::days(30),
        cny("3000")?,
        cny("500")?,
        Goal {
            shares: 1,
            referrals: 2,
        },
    );
    f.save_campaign(&a, &campaign).await?;
    let (Some(runner), second) = (won.first().copied(), won.get(1).copied()) else {
        return Err(ctx.unexpected("no member to run the fission campaign"));
    };
    let joined = f
        .join(
            &a,
            &id,
            &runner,
            None,
            &IdempotencyKey::from_static("fission-join-runner"),
        )
        .await?;
    f.share(
        &a,
        &id,
        &runner,
        &IdempotencyKey::from_static("fission-share-runner"),
    )
    .await?;
    // Someone who already inquired about the XK-850 and is still being worked.
    let known = known_inquirer(ctx).await?;
    let mut rewarded = 0;
    for n in 0..3 {
        let existing = (n == 2).then_some(known.as_deref()).flatten();
        let outcome = ctx
            .svc
            .crm_a
            .capture(
                &a,
                referral(n, existing),
                &IdempotencyKey::new(format!("referral-{n}")).unwrap(),
            )
            .await?;
        let r = f
            .join(
                &a,
                &id,
                &outcome.lead(),
                Some(&joined.code),
                &IdempotencyKey::new(format!("fission-join-{n}")).unwrap(),
            )
            .await?;
        rewarded += r.rewarded.len();
    }
    if let Some(second) = second {
        let j = f
            .join(
                &a,
                &id,
                &second,
                None,
                &IdempotencyKey::from_static("fission-join-second"),
            )
            .await?;
        f.share(
            &a,
            &id,
            &second,
            &IdempotencyKey::from_static("fission-share-second"),
        )
        .await?;
        let outcome = ctx
            .svc
            .crm_a
            .capture(
                &a,
                referral(3, None),
                &IdempotencyKey::from_static("referral-3"),
            )
            .await?;
        f.join(
            &a,
            &id,
            &outcome.lead(),
            Some(&j.code),
            &IdempotencyKey::from_static("fission-join-3"),
        )
        .await?;
    }
    ctx.svc
        .crm_a
        .transition(
            &a,
            &runner,
            Stage::Promoter,
            &Actor::system("fission"),
            None,
            &IdempotencyKey::from_static("promoter-runner"),
        )
        .await?;
    let c = f.campaign(&a, &id).await?;
    ctx.say(format!(
        "fission \"{}\": one member shares the poster and refers 3 friends (one already a lead), another refers 1; {rewarded} reward of RMB {} paid (RMB {} of {} spent); the referrals become leads",
        c.name,
        money(&c.reward),
        money(&c.spent),
        money(&c.budget)
    ));
    let done = ctx
        .svc
        .crm_a
        .allocate_pending(&a, &IdempotencyKey::from_static("a-allocate-0316"))
        .await?;
    ctx.say(format!(
        "{}: {} referred leads allocated; the member who ran the campaign becomes a promoter",
        ctx.cast.name_of(&a),
        done.len()
    ));
    Ok(())
}

pub(super) async fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let (a, b) = (ctx.cast.jinggong, ctx.cast.yunfan);
    ctx.close_days(day(3, 12), day(3, 15)).await?;
    ctx.at(day(3, 16), 10, 0);
    let won = convert(ctx, a).await?;
    convert(ctx, b).await?;
    ctx.at(day(3, 16), 11, 0);
    members(ctx, &won).await?;
    ctx.at(day(3, 16), 15, 0);
    fission(ctx, &won).await?;
    sync_leads_stored(ctx, &a, "leads-stored-0316").await?;
    ctx.close_days(day(3, 16), day(3, 16)).await
}
