//! Wed 1 April: month-end. Staff costs are booked, March is settled with the platform's and
//! the customers' rebates on both bases, and the books are reconciled with the platform.

use marketingforce_ads::agreement::ServiceType;
use marketingforce_ads::period::Month;
use marketingforce_ads::settlement::SettlementMode;
use marketingforce_core::IdempotencyKey;

use crate::scenario::error::Result;
use crate::scenario::report::money;
use crate::scenario::runner::Ctx;
use crate::scenario::script;

/// The month the story settles.
pub(crate) fn march() -> Result<Month> {
    Ok(Month::new(2026, 3)?)
}

pub(super) async fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let ops = &ctx.svc.ads;
    let month = march()?;
    for (service, amount) in script::staff_costs()? {
        let key = match service {
            ServiceType::Solution => "staff-costs-2026-03-solution",
            ServiceType::Distribution => "staff-costs-2026-03-distribution",
        };
        ops.record_staff_costs(month, service, amount, &IdempotencyKey::new(key).unwrap())
            .await?;
    }
    let statement = ops.settle_month(month, SettlementMode::Final).await?;
    let overall = statement.figures.overall();
    ctx.say(format!(
        "March settled from the ledger: spend RMB {}, platform rebates {}, customer rebates {}, KPI compensation {}",
        money(&overall.spend),
        money(&overall.platform_rebates),
        money(&overall.customer_rebates),
        money(&overall.kpi_compensation)
    ));
    for inv in &statement.customer_invoices {
        let name = ops.customer(&inv.customer).await?.name;
        ctx.say(format!(
            "invoice to {name}: RMB {} (prepayment applied {}), due {}",
            money(&inv.amount),
            money(&inv.deposit_applied),
            inv.due_on
        ));
    }
    let recon = ops.reconcile(month).await?;
    if !recon.mismatches.is_empty() {
        return Err(ctx.unexpected(format!(
            "the platform disagrees with our books: {:?}",
            recon.mismatches
        )));
    }
    ctx.say("reconciled with the platform: rebate statement, balances and spend agree");
    Ok(())
}
