//! 9–11 March: leads. Tenant A's inquiries are handed from T Cloud to the CRM (dedupe runs on
//! hand-off) and some inquirers show up again at an expo; tenant B captures leads from its site,
//! WeCom and an imported visitor list. Leads are allocated by rule, followed up, put on tenant
//! B's SOP, scored from their behaviour; the SLA escalates and then reassigns the ones nobody
//! called.

use marketingforce_core::tenant::TenantId;
use marketingforce_core::IdempotencyKey;
use marketingforce_crm::model::{Actor, LeadStatus, Source};
use marketingforce_crm::profile::{BehaviourEvent, BehaviourKind};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::sop::TaskStatus;
use marketingforce_crm::{Allocation, CaptureOutcome};
use marketingforce_modules::catalog::UsageUnit;

use crate::scenario::cast::day;
use crate::scenario::error::Result;
use crate::scenario::runner::Ctx;
use crate::scenario::script;

/// Inquirers of tenant A who also scan the QR code at the expo preview.
const EXPO_REPEATS: usize = 4;

/// The behaviour each lead shows, by its position among the tenant's live leads: one in six
/// is keen (two forms and a reply: hot), two are warm, the rest only look.
fn behaviour(i: usize) -> &'static [BehaviourKind] {
    use BehaviourKind::*;
    match i % 6 {
        0 => &[FormSubmit, FormSubmit, MessageReply, View],
        1 | 4 => &[FormSubmit, View, Click],
        2 => &[View, Click, Search, MessageReply],
        _ => &[View],
    }
}

/// Bring the leads-stored level of `tenant` to its live leads (information volume is metered
/// as a level: True Client charges by the volume of information managed).
pub(crate) async fn sync_leads_stored(ctx: &Ctx<'_>, tenant: &TenantId, key: &str) -> Result<u64> {
    let live = ctx
        .svc
        .crm(ctx.cast, tenant)
        .all_leads(tenant)
        .await?
        .iter()
        .filter(|l| l.is_active())
        .count() as u64;
    let meter = ctx.svc.registry.load(tenant).await?.meter();
    let used = meter.balance(&UsageUnit::LeadsStored).used.get();
    if live > used {
        meter.consume(
            &UsageUnit::LeadsStored,
            live - used,
            &IdempotencyKey::new(key).unwrap(),
        )?;
    }
    Ok(live)
}

async fn capture_b(ctx: &mut Ctx<'_>) -> Result<()> {
    let (b, crm) = (ctx.cast.yunfan, ctx.svc.crm_b.clone());
    let (mut created, mut merged) = (0, 0);
    for (n, l) in script::site_leads().iter().enumerate() {
        let req = CaptureRequest::new(Source::OwnSite)
            .name(l.name.clone())
            .mobile(l.mobile.clone())
            .company(l.company)
            .region(l.region)
            .product("工业轴承");
        match crm
            .capture(
                &b,
                req,
                &IdempotencyKey::new(format!("b-site-{n}")).unwrap(),
            )
            .await?
        {
            CaptureOutcome::Created { .. } => created += 1,
            _ => merged += 1,
        }
    }
    for (n, l) in script::wecom_contacts().iter().enumerate() {
        let mut req = CaptureRequest::new(Source::WeCom)
            .name(l.name.clone())
            .mobile(l.mobile.clone())
            .region(l.region);
        req.wecom_id.clone_from(&l.wecom_id);
        match crm
            .capture(
                &b,
                req,
                &IdempotencyKey::new(format!("b-wecom-{n}")).unwrap(),
            )
            .await?
        {
            CaptureOutcome::Created { .. } => created += 1,
            _ => merged += 1,
        }
    }
    let report = crm
        .import_csv(
            &b,
            &script::import_csv(),
            Source::Import,
            &IdempotencyKey::from_static("b-import-2026-03-09"),
        )
        .await?;
    if report.rejected != script::IMPORT_BAD_ROWS {
        return Err(ctx.unexpected(format!(
            "import rejected {} rows, expected {}: {:?}",
            report.rejected,
            script::IMPORT_BAD_ROWS,
            report.errors
        )));
    }
    ctx.say(format!(
        "{}: site form and WeCom give {created} new leads and {merged} duplicates merged; the expo CSV import {} new, {} merged, {} bad rows reported ({})",
        ctx.cast.name_of(&b),
        report.created,
        report.merged,
        report.rejected,
        report
            .errors
            .iter()
            .map(|e| format!("line {}: {}", e.line, e.field.as_deref().unwrap_or("row")))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    Ok(())
}

async fn forward_a(ctx: &mut Ctx<'_>) -> Result<()> {
    let a = ctx.cast.jinggong;
    let report = ctx.svc.forwarder.run(&a).await?;
    let records = ctx.svc.forwarder.recorded(&a).await?;
    let mut merged = 0;
    for (n, r) in records.iter().take(EXPO_REPEATS).enumerate() {
        let i = &r.inquiry;
        let mut req = CaptureRequest::new(Source::OfflineQr);
        req.name.clone_from(&i.name);
        req.mobile.clone_from(&i.phone);
        req.region.clone_from(&i.region);
        req.campaign = Some("2026 工博会预热".into());
        if let CaptureOutcome::Merged { .. } = ctx
            .svc
            .crm_a
            .capture(
                &a,
                req,
                &IdempotencyKey::new(format!("a-expo-{n}")).unwrap(),
            )
            .await?
        {
            merged += 1;
        }
    }
    ctx.say(format!(
        "{}: {} inquiries from the published content handed to the CRM ({} delivered, deduped on hand-off); {merged} inquirers also scan the expo QR code and are merged",
        ctx.cast.name_of(&a),
        report.new,
        report.delivered
    ));
    Ok(())
}

async fn allocate(ctx: &mut Ctx<'_>, tenant: TenantId, key: &str) -> Result<Vec<Allocation>> {
    let crm = ctx.svc.crm(ctx.cast, &tenant).clone();
    let done = crm
        .allocate_pending(&tenant, &IdempotencyKey::new(key).unwrap())
        .await?;
    let assigned = done
        .iter()
        .filter(|a| matches!(a, Allocation::Assigned { .. }))
        .count();
    if assigned != done.len() {
        return Err(ctx.unexpected(format!(
            "{} of {} leads went to the pool: every region has a rule",
            done.len() - assigned,
            done.len()
        )));
    }
    Ok(done)
}

/// Start tenant B's SOP for every lead assigned in `done`, at the assignment time.
async fn start_sops(ctx: &Ctx<'_>, done: &[Allocation]) -> Result<usize> {
    let b = ctx.cast.yunfan;
    let mut tasks = 0;
    for a in done {
        if let Allocation::Assigned { lead, to, .. } = a {
            tasks += ctx
                .svc
                .sops
                .start(
                    &b,
                    &ctx.cast.b_sop,
                    lead,
                    to,
                    ctx.now(),
                    &IdempotencyKey::new(format!(
                        "sop-start:{lead}:{to}:{}",
                        ctx.now().timestamp()
                    ))?,
                )
                .await?
                .len();
        }
    }
    Ok(tasks)
}

/// Owners follow up their assigned leads not yet called — on the first day except every fifth
/// lead of tenant B (nobody calls it: the SLA will notice). Tenant B's owners tick off the
/// SOP's first step.
async fn follow_up(
    ctx: &mut Ctx<'_>,
    tenant: TenantId,
    key: &str,
    first_day: bool,
) -> Result<usize> {
    let crm = ctx.svc.crm(ctx.cast, &tenant).clone();
    let mut n = 0;
    let leads = crm.all_leads(&tenant).await?;
    for (i, l) in leads.iter().filter(|l| l.is_active()).enumerate() {
        let Some(owner) = l.owner else { continue };
        if l.first_follow_up_at.is_some() || (first_day && tenant == ctx.cast.yunfan && i % 5 == 4)
        {
            continue;
        }
        crm.record_follow_up(
            &tenant,
            &l.id,
            &Actor::User(owner),
            &IdempotencyKey::new(format!("{key}-{}", l.id)).unwrap(),
        )
        .await?;
        n += 1;
        if tenant == ctx.cast.yunfan {
            for t in ctx
                .svc
                .sops
                .due_tasks(&tenant, &owner, ctx.now() + chrono::Duration::days(30))
                .await?
            {
                let mine =
                    matches!(t.subject, marketingforce_crm::sop::Subject::Lead(x) if x == l.id);
                if mine && t.step == 0 && t.status == TaskStatus::Open {
                    ctx.svc.sops.complete(&tenant, &t.id).await?;
                }
            }
        }
    }
    Ok(n)
}

async fn score(ctx: &mut Ctx<'_>, tenant: TenantId) -> Result<usize> {
    let crm = ctx.svc.crm(ctx.cast, &tenant).clone();
    let leads = crm.all_leads(&tenant).await?;
    let mut hot = 0;
    for (i, l) in leads
        .iter()
        .filter(|l| matches!(l.status, LeadStatus::Active))
        .enumerate()
    {
        let mut score = l.score;
        for (k, kind) in behaviour(i).iter().enumerate() {
            let event = BehaviourEvent {
                lead: l.id,
                kind: *kind,
                at: ctx.now(),
                topic: Some("XK-850".into()),
                content: None,
            };
            score = crm
                .record_behaviour(
                    &tenant,
                    event,
                    &IdempotencyKey::new(format!("behaviour:{}:{k}", l.id)).unwrap(),
                )
                .await?;
        }
        if score >= 60 {
            hot += 1;
        }
    }
    Ok(hot)
}

/// Tenant B's owners send the brochure from the conversation library (the SOP's second step).
async fn send_brochures(ctx: &mut Ctx<'_>) -> Result<usize> {
    let b = ctx.cast.yunfan;
    let crm = ctx.svc.crm_b.clone();
    let mut sent = 0;
    for l in crm.all_leads(&b).await? {
        let (Some(owner), true) = (l.owner, l.is_active() && l.first_follow_up_at.is_some()) else {
            continue;
        };
        ctx.svc
            .library
            .send(
                &crm,
                &b,
                &ctx.cast.b_brochure,
                &l.id,
                &owner,
                &IdempotencyKey::new(format!("brochure-{}", l.id)).unwrap(),
            )
            .await?;
        for t in ctx
            .svc
            .sops
            .due_tasks(&b, &owner, ctx.now() + chrono::Duration::days(30))
            .await?
        {
            let mine = matches!(t.subject, marketingforce_crm::sop::Subject::Lead(x) if x == l.id);
            if mine && t.step == 1 && t.status == TaskStatus::Open {
                ctx.svc.sops.complete(&b, &t.id).await?;
            }
        }
        sent += 1;
    }
    Ok(sent)
}

pub(super) async fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let (a, b) = (ctx.cast.jinggong, ctx.cast.yunfan);
    // 5–8 March were closed day by day by the site phase.

    ctx.at(day(3, 9), 9, 0);
    forward_a(ctx).await?;
    capture_b(ctx).await?;

    ctx.at(day(3, 9), 10, 0);
    let done_a = allocate(ctx, a, "a-allocate-0309").await?;
    let done_b = allocate(ctx, b, "b-allocate-0309").await?;
    let tasks = start_sops(ctx, &done_b).await?;
    ctx.say(format!(
        "allocation rules (by region, round robin / least loaded) assign {} leads to 精工's marketing team and {} to 云帆's salespeople; 云帆's SOP \"新线索跟进\" creates {tasks} tasks",
        done_a.len(),
        done_b.len()
    ));

    ctx.at(day(3, 9), 11, 30);
    let fa = follow_up(ctx, a, "a-follow-0309", true).await?;
    let fb = follow_up(ctx, b, "b-follow-0309", true).await?;
    ctx.say(format!(
        "first calls within 1.5 hours: {fa} leads of 精工, {fb} of 云帆 (the rest wait)"
    ));

    ctx.at(day(3, 9), 14, 0);
    let hot_a = score(ctx, a).await?;
    let hot_b = score(ctx, b).await?;
    ctx.at(day(3, 9), 15, 0);
    let sent = send_brochures(ctx).await?;
    ctx.say(format!(
        "behaviour scoring (views, clicks, searches, forms, replies): {hot_a} hot prospects at 精工, {hot_b} at 云帆, moved to qualified; 云帆 sends its brochure from the conversation library to {sent} leads"
    ));
    ctx.close_days(day(3, 9), day(3, 9)).await?;

    // The SLA: 24 hours without a call escalates to the manager, 24 more reassigns.
    ctx.at(day(3, 10), 12, 0);
    let first = ctx
        .svc
        .crm_b
        .sweep(&b, &IdempotencyKey::from_static("b-sla-0310"))
        .await?;
    ctx.close_days(day(3, 10), day(3, 10)).await?;
    ctx.at(day(3, 11), 13, 0);
    let second = ctx
        .svc
        .crm_b
        .sweep(&b, &IdempotencyKey::from_static("b-sla-0311"))
        .await?;
    let reassigned: Vec<Allocation> = second.reassigned.clone();
    let tasks = start_sops(ctx, &reassigned).await?;
    ctx.at(day(3, 11), 14, 0);
    let fb = follow_up(ctx, b, "b-follow-0311", false).await?;
    ctx.say(format!(
        "{}: the SLA escalates {} uncalled leads to the manager after 24 h, reassigns them after 24 more ({} moved, {tasks} new SOP tasks); all {fb} called by their new owners",
        ctx.cast.name_of(&b),
        first.escalated.len(),
        second.reassigned.len()
    ));
    ctx.close_days(day(3, 11), day(3, 11)).await?;

    let la = sync_leads_stored(ctx, &a, "leads-stored-0311").await?;
    let lb = sync_leads_stored(ctx, &b, "leads-stored-0311").await?;
    ctx.say(format!(
        "information volume metered as leads stored: {la} at 精工, {lb} at 云帆 (of 20,000 each)"
    ));
    Ok(())
}
