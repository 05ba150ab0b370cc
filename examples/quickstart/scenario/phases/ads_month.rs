//! 17–31 March: the campaigns deliver every day and their reports are fetched; when the 7-day
//! return window of the first orders has passed, the members' points unlock and their levels
//! follow.

use marketingforce_core::storage::Collection;
use marketingforce_core::IdempotencyKey;
use marketingforce_crm::membership::Member;

use crate::scenario::cast::day;
use crate::scenario::error::Result;
use crate::scenario::runner::Ctx;

pub(super) async fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.close_days(day(3, 17), day(3, 23)).await?;
    ctx.at(day(3, 24), 10, 0);
    let a = ctx.cast.jinggong;
    let members = Collection::<Member>::new(ctx.svc.store.clone())
        .list_all(&a)
        .await?;
    let mut levels = Vec::new();
    for m in &members {
        let m = &m.value;
        ctx.svc
            .membership
            .settle(
                &a,
                &m.program,
                &m.lead,
                &IdempotencyKey::new(format!("settle-0324-{}", m.lead)).unwrap(),
            )
            .await?;
        levels.push(
            ctx.svc
                .membership
                .member(&a, &m.program, &m.lead)
                .await?
                .level_name,
        );
    }
    ctx.say(format!(
        "{}: the return window is over, points unlock and levels follow: {}",
        ctx.cast.name_of(&a),
        levels.join(", ")
    ));
    ctx.close_days(day(3, 24), day(3, 31)).await?;
    ctx.say(
        "both campaigns deliver every day to 31 March; every daily report is fetched and stored",
    );
    Ok(())
}
