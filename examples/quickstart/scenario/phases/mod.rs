//! The phases of the story, one module each. Every command carries an idempotency key derived
//! from the story, so a phase interrupted by a crash can simply run again.

mod ads_month;
mod ads_setup;
mod catalog;
mod content;
mod conversion;
mod entitlements;
mod leads;
mod month_end;
mod site;
mod subscriptions;

use super::error::Result;
use super::phase::Phase;
use super::runner::Ctx;

/// Run `ctx.phase`.
pub(crate) async fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    match ctx.phase {
        Phase::Catalog => catalog::run(ctx).await,
        Phase::Subscriptions => subscriptions::run(ctx).await,
        Phase::Entitlements => entitlements::run(ctx).await,
        Phase::AdsSetup => ads_setup::run(ctx).await,
        Phase::Content => content::run(ctx).await,
        Phase::Site => site::run(ctx).await,
        Phase::Leads => leads::run(ctx).await,
        Phase::Conversion => conversion::run(ctx).await,
        Phase::AdsMonth => ads_month::run(ctx).await,
        Phase::MonthEnd => month_end::run(ctx).await,
    }
}

pub(crate) use month_end::march as month_end_month;
