//! Tue 3 March, 11:00: what each tenant may use — modules, seats, quotas — is in force. Staff
//! accounts take seats; the ninth salesperson of tenant B finds none left.

use marketingforce_crm::library::{ItemKind, LibraryItem};
use marketingforce_crm::sop::{SopKind, SopStep, SopTemplate, StepAction, Trigger};
use marketingforce_crm::staff::{Role, Staff};
use marketingforce_crm::CrmError;
use marketingforce_modules::catalog::{ModuleId, UsageUnit};

use crate::scenario::cast::Person;
use crate::scenario::error::Result;
use crate::scenario::runner::Ctx;

/// Tenant B's follow-up SOP: call within 2 hours, send the brochure the next day, visit.
pub(crate) fn b_sop(ctx: &Ctx<'_>) -> SopTemplate {
    let step = |title: &str, offset_hours, action, escalate| SopStep {
        title: title.into(),
        offset_hours,
        action,
        remind_before_minutes: 30,
        escalate_after_hours: escalate,
    };
    SopTemplate {
        id: ctx.cast.b_sop,
        name: "新线索跟进".into(),
        kind: SopKind::Customer,
        trigger: Trigger::Assigned,
        steps: vec![
            step("首次电话联系", 2, StepAction::Call, Some(4)),
            step(
                "发送产品资料",
                24,
                StepAction::SendMaterial {
                    material: ctx.cast.b_brochure,
                },
                None,
            ),
            step("上门拜访", 72, StepAction::Visit, None),
        ],
    }
}

fn staff(
    ctx: &Ctx<'_>,
    p: &Person,
    team: marketingforce_crm::ids::TeamId,
    tenant: marketingforce_core::tenant::TenantId,
) -> Staff {
    let s = Staff::new(p.id, tenant, p.name, p.role, p.level, ctx.now()).in_team(team);
    if p.role == Role::Manager {
        s.managing(team)
    } else {
        s
    }
}

pub(super) async fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let (a, b) = (ctx.cast.jinggong, ctx.cast.yunfan);
    let registry = &ctx.svc.registry;

    // Tenant A: T Cloud Standard and its add-ons, not the T-video of the higher versions.
    let ents = registry.load(&a).await?;
    for m in [
        ModuleId::T_TEXT,
        ModuleId::T_IMAGE,
        ModuleId::SMART_DISTRIBUTION,
        ModuleId::LEAD_MANAGEMENT,
        ModuleId::MEMBERSHIP,
        ModuleId::SOCIAL_FISSION,
    ] {
        ents.require(&m)?;
    }
    match ents.require(&ModuleId::T_VIDEO) {
        Ok(()) => return Err(ctx.unexpected("T-video is not part of T Cloud Standard")),
        Err(e) => {
            // Said without the tenant id, so every run prints the same.
            let why = e.to_string().replace(&format!(" for tenant {a}"), "");
            ctx.say(format!("{}: T-video refused — {why}", ctx.cast.name_of(&a)));
        }
    }
    let meter = ents.meter();
    let quotas: Vec<String> = [
        UsageUnit::ArticlesPublished,
        UsageUnit::ImagesGenerated,
        UsageUnit::Publications,
        UsageUnit::LeadsStored,
    ]
    .iter()
    .map(|u| format!("{u} {}", meter.balance(u).limit.get()))
    .collect();
    ctx.say(format!(
        "{}: {} modules enabled; monthly / term quotas {}",
        ctx.cast.name_of(&a),
        ents.snapshot().modules().len(),
        quotas.join(", ")
    ));

    // Staff accounts take seats: A's marketing team from marketing team management (5 in
    // T Cloud Standard), B's salespeople from the 8 True Client accounts it bought.
    for p in &ctx.cast.a_staff {
        let s = staff(ctx, p, ctx.cast.a_team, a);
        ctx.svc.crm_a.upsert_staff(&a, s).await?;
    }
    let ents_a = registry.load(&a).await?;
    ctx.say(format!(
        "{}: {} marketing staff take {} of the {} marketing-team seats of T Cloud Standard",
        ctx.cast.name_of(&a),
        ctx.cast.a_staff.len(),
        ents_a.seats_assigned(&ModuleId::MARKETING_TEAM_MANAGEMENT),
        ents_a
            .seat_limit(&ModuleId::MARKETING_TEAM_MANAGEMENT)
            .unwrap_or_default()
    ));

    let (last, hired) = match ctx.cast.b_staff.split_last() {
        Some(x) => x,
        None => return Err(ctx.unexpected("tenant B has no staff")),
    };
    for p in hired {
        let s = staff(ctx, p, ctx.cast.b_team, b);
        ctx.svc.crm_b.upsert_staff(&b, s).await?;
    }
    let s = staff(ctx, last, ctx.cast.b_team, b);
    match ctx.svc.crm_b.upsert_staff(&b, s).await {
        Err(CrmError::SeatLimitReached { reason, .. }) => ctx.say(format!(
            "{}: {} staff take the {} True Client accounts bought; a ninth, {}, is refused — {reason}",
            ctx.cast.name_of(&b),
            hired.len(),
            hired.len(),
            last.name
        )),
        Err(e) => return Err(e.into()),
        Ok(()) => return Err(ctx.unexpected("a ninth account was accepted on 8 bought")),
    }
    // Tenant B's sales playbook: a brochure in the conversation library and a follow-up SOP.
    ctx.svc
        .library
        .save(
            &b,
            &LibraryItem::new(
                ctx.cast.b_brochure,
                "产品介绍",
                ItemKind::Brochure,
                "云帆工业品目录 2026",
                "https://www.yunfan.example.cn/catalog-2026.pdf",
            ),
        )
        .await?;
    let sop = b_sop(ctx);
    ctx.svc.sops.save_template(&b, &sop).await?;
    ctx.say(format!(
        "{}: sales playbook — a brochure in the conversation library and the SOP \"{}\" ({})",
        ctx.cast.name_of(&b),
        sop.name,
        sop.steps
            .iter()
            .map(|s| format!("{} +{} h", s.title, s.offset_hours))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(())
}
