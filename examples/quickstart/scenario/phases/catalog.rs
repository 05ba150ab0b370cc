//! Mon 2 March, 09:00: the vendor's catalog and bundles; a channel partner signs up.

use marketingforce_core::IdempotencyKey;
use marketingforce_modules::products::{BundlePricing, Product};

use crate::scenario::error::Result;
use crate::scenario::report::money;
use crate::scenario::runner::Ctx;
use crate::scenario::script;

pub(super) async fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let engine = ctx.svc.subscriptions.engine();
    let (catalog, products) = (engine.catalog(), engine.products());
    let mut areas: Vec<String> = catalog
        .modules()
        .iter()
        .map(|m| format!("{:?}", m.area))
        .collect();
    areas.sort();
    areas.dedup();
    ctx.say(format!(
        "catalog {}: {} functional modules in {} key areas; {} bundles; {} usage packs",
        catalog.version(),
        catalog.modules().len(),
        areas.len(),
        products.bundles().len(),
        products.packs().len()
    ));
    let t_cloud: Vec<String> = products
        .bundles()
        .iter()
        .filter(|b| b.product == Product::TCloud)
        .filter_map(|b| match &b.pricing {
            BundlePricing::Flat { annual } => Some(format!(
                "{} {}",
                b.id.trim_start_matches("tcloud."),
                money(annual)
            )),
            BundlePricing::PerAccount { .. } => None,
        })
        .collect();
    ctx.say(format!(
        "T Cloud versions (RMB a year): {}",
        t_cloud.join(" · ")
    ));
    let partner = ctx
        .svc
        .channel
        .register(
            &script::partner_terms()?,
            &IdempotencyKey::from_static("partner-east-china"),
        )
        .await?;
    ctx.say(format!(
        "channel partner {} signs up: areas {}, {} commission, prepaid RMB {}",
        partner.name,
        partner
            .areas
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(" + "),
        partner.commission,
        money(&partner.prepayment)
    ));
    Ok(())
}
