//! 2–3 March: tenant A signs directly, the partner sells tenant B; both pay, both are
//! activated (the vendor activates the partner's end user itself).

use marketingforce_core::IdempotencyKey;
use marketingforce_modules::channel::OrderRequest;
use marketingforce_modules::subscriptions::{Payment, Signing, Subscription, SubscriptionState};

use crate::scenario::cast::{day, PARTNER, SALESPERSON};
use crate::scenario::error::Result;
use crate::scenario::report::money;
use crate::scenario::runner::Ctx;
use crate::scenario::script;

/// The idempotency key of the partner's sign-up (replaying it returns the partner).
pub(crate) const PARTNER_KEY: &str = "partner-east-china";

fn describe(s: &Subscription) -> String {
    s.quote
        .lines
        .iter()
        .map(|l| format!("{} {}", l.item.trim_start_matches("mf."), money(&l.amount)))
        .collect::<Vec<_>>()
        .join(" + ")
}

pub(super) async fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let (a, b) = (ctx.cast.jinggong, ctx.cast.yunfan);
    let subs = &ctx.svc.subscriptions;
    let signed_on = day(3, 2);

    // Tenant A: T Cloud Standard with three add-ons, sold by a direct salesperson.
    let quote = subs
        .create_quote(
            &a,
            &script::jinggong_quote(),
            &IdempotencyKey::from_static("a-quote"),
        )
        .await?;
    let sa = subs
        .sign(
            &a,
            &quote.id,
            &Signing {
                on: signed_on,
                credit_months: 0,
                salesperson: Some(SALESPERSON.into()),
                partner: None,
            },
            &IdempotencyKey::from_static("a-sign"),
        )
        .await?;
    let due = sa.payment_due.map(|d| d.to_string()).unwrap_or_default();
    let line = format!(
        "{} signs {} = RMB {} directly (payment due {due})",
        ctx.cast.name_of(&a),
        describe(&sa),
        money(&sa.quote.total)
    );
    ctx.say(line);

    // Tenant B: True Client Standard, 8 accounts, sold by the partner at list price.
    let partner = ctx
        .svc
        .channel
        .register(
            &script::partner_terms()?,
            &IdempotencyKey::from_static(PARTNER_KEY),
        )
        .await?;
    let order = ctx
        .svc
        .channel
        .place_order(
            &partner.id,
            &OrderRequest {
                end_user: b,
                end_user_region: script::yunfan_region()?,
                quote: script::yunfan_quote(),
                on: signed_on,
            },
            &IdempotencyKey::from_static("b-order"),
        )
        .await?;
    if order.out_of_area {
        return Err(ctx.unexpected("Suzhou is inside the partner's Jiangsu area"));
    }
    ctx.say(format!(
        "{PARTNER} sells {} {} × 8 accounts at list RMB {}: keeps {} commission, {} drawn from its prepayment (left {})",
        ctx.cast.name_of(&b),
        order.bundle,
        money(&order.list_price),
        money(&order.commission),
        money(&order.charged),
        money(&order.balance_after)
    ));
    let quote = subs
        .create_quote(
            &b,
            &script::yunfan_quote(),
            &IdempotencyKey::from_static("b-quote"),
        )
        .await?;
    let sb = subs
        .sign(
            &b,
            &quote.id,
            &Signing {
                on: signed_on,
                credit_months: 0,
                salesperson: None,
                partner: Some(partner.id),
            },
            &IdempotencyKey::from_static("b-sign"),
        )
        .await?;

    // Tuesday 3 March: paid in full (within 3 business days), activated; revenue starts.
    let paid_on = day(3, 3);
    ctx.at(paid_on, 10, 0);
    for (tenant, s, key) in [(a, &sa, "a"), (b, &sb, "b")] {
        subs.record_payment(
            &tenant,
            &s.id,
            &Payment {
                on: paid_on,
                amount: s.quote.total,
            },
            &IdempotencyKey::new(format!("{key}-pay")).unwrap(),
        )
        .await?;
        let active = subs
            .activate(
                &tenant,
                &s.id,
                paid_on,
                &IdempotencyKey::new(format!("{key}-activate")).unwrap(),
            )
            .await?;
        if active.state != SubscriptionState::Active {
            return Err(ctx.unexpected(format!("{} not active", s.id)));
        }
        let end = active.term_end.map(|d| d.to_string()).unwrap_or_default();
        let line = format!(
            "{} pays RMB {} on {paid_on} and is activated: term {paid_on} – {end}, revenue starts",
            ctx.cast.name_of(&tenant),
            money(&s.quote.total)
        );
        ctx.say(line);
    }
    ctx.svc
        .channel
        .record_activation(&order.id, "ops.wang", paid_on)
        .await?;
    Ok(())
}
