//! Domain events of the ads crate: each state change leaves exactly its event in the tenant's
//! outbox, in the same commit as the change (for money: with the ledger's transfers); replays
//! leave none; a failed commit leaves neither the change nor the event; a commit rebuilt after a
//! stale view carries its event once.

mod common;

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use common::*;
use marketingforce_ads::account::{Funding, TopUpRequest, TopUpState};
use marketingforce_ads::events::{
    InvoiceIssued, RebateAccrued, SettlementClosed, SpendRecorded, TopUpCredited, TopUpFailed,
};
use marketingforce_ads::period::Month;
use marketingforce_ads::platform::sim::{SimFailure, SimOp};
use marketingforce_ads::settlement::SettlementMode;
use marketingforce_ads::AdsError;
use marketingforce_core::events::{DomainEvent, EventEnvelope, OUTBOX_JOURNAL};
use marketingforce_core::storage::{Fault, FaultPlan, FaultyStore, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;

/// Every event in the tenant's outbox, decoded as envelopes.
async fn outbox(store: &dyn Store, tenant: &TenantId) -> Vec<EventEnvelope> {
    store
        .read_journal(tenant, OUTBOX_JOURNAL, 0, 100_000)
        .await
        .unwrap()
        .iter()
        .flat_map(|e| EventEnvelope::all_from_entry(&e.payload).unwrap())
        .collect()
}

fn of<E: DomainEvent>(events: &[EventEnvelope]) -> Vec<E> {
    events
        .iter()
        .filter(|e| e.is::<E>())
        .map(|e| e.decode::<E>().unwrap())
        .collect()
}

#[test]
fn top_ups_credited_and_failed_are_events_and_refusals_are_not() {
    runtime().block_on(async {
        let w = world().await;
        assert!(outbox(&*w.store, &w.tenant).await.is_empty());
        let plan = accounts_and_campaigns(&w).await;
        let events = outbox(&*w.store, &w.tenant).await;
        let credited = of::<TopUpCredited>(&events);
        assert_eq!(credited.len(), 4, "one per confirmed top-up");
        assert_eq!(credited[0].account, plan.s1.id);
        assert_eq!(credited[0].customer, w.solution.id);
        assert_eq!(credited[0].amount, cny("200000"));
        assert_eq!(credited[0].funding, Funding::Credit);
        assert!(!credited[0].platform_ref.is_empty());
        for e in &events {
            assert_eq!(e.tenant(), &w.tenant);
            // No customer names (personal or business contact data) leave in events.
            let json = String::from_utf8(e.to_json().unwrap()).unwrap();
            assert!(!json.contains(&w.solution.name), "{json}");
        }

        // A replay under the same key: nothing new.
        let again = w
            .ops
            .top_up(
                TopUpRequest {
                    account: plan.s1.id,
                    amount: cny("200000"),
                    funding: Funding::Credit,
                },
                &IdempotencyKey::from_static("t-s1"),
            )
            .await
            .unwrap();
        assert!(matches!(again.state, TopUpState::Confirmed { .. }));
        assert_eq!(outbox(&*w.store, &w.tenant).await.len(), events.len());

        // Refused by the SDK (credit limit): nothing is written, so no event.
        let refused = w
            .ops
            .top_up(
                TopUpRequest {
                    account: plan.s1.id,
                    amount: cny("90000000"),
                    funding: Funding::Credit,
                },
                &IdempotencyKey::from_static("t-big"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(refused, AdsError::CreditLimitExceeded { .. }),
            "{refused}"
        );
        assert_eq!(outbox(&*w.store, &w.tenant).await.len(), events.len());

        // Refused by the platform (the account is suspended there): recorded, and an event.
        w.sim1.suspend(&plan.s1.external_id, "违规素材");
        let failed = w
            .ops
            .top_up(
                TopUpRequest {
                    account: plan.s1.id,
                    amount: cny("1000"),
                    funding: Funding::Credit,
                },
                &IdempotencyKey::from_static("t-s1-b"),
            )
            .await
            .unwrap();
        assert!(matches!(failed.state, TopUpState::Failed { .. }));
        let events = outbox(&*w.store, &w.tenant).await;
        let failures = of::<TopUpFailed>(&events);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].top_up, failed.id);
        assert!(!failures[0].unknown_to_platform);
        // The platform's free-text reason stays in the record, out of the event.
        let json = String::from_utf8(events.last().unwrap().to_json().unwrap()).unwrap();
        assert!(!json.contains("违规素材"), "{json}");
        // Confirming a resolved top-up again changes nothing.
        w.ops.confirm_top_up(&failed.id).await.unwrap();
        assert_eq!(outbox(&*w.store, &w.tenant).await.len(), events.len());
    });
}

#[test]
fn spend_settlement_rebates_and_invoices_are_events_once() {
    runtime().block_on(async {
        let w = world().await;
        let _plan = accounts_and_campaigns(&w).await;
        let before = outbox(&*w.store, &w.tenant).await.len();
        deliver_march(&w, march()).await;
        ingest(&w, march()).await;
        let events = outbox(&*w.store, &w.tenant).await;
        let spend = of::<SpendRecorded>(&events);
        // One per account-day report stored: 4 accounts x 31 days.
        assert_eq!(spend.len(), 4 * 31);
        assert_eq!(events.len(), before + spend.len());
        assert!(spend
            .iter()
            .all(|s| s.revision >= 1 && s.previous_revision.is_none()));
        // The same reports again are duplicates: nothing new.
        ingest(&w, march()).await;
        assert_eq!(outbox(&*w.store, &w.tenant).await.len(), events.len());

        after_month(&w);
        let month: Month = "2026-03".parse().unwrap();
        let statement = w
            .ops
            .settle_month(month, SettlementMode::Final)
            .await
            .unwrap();
        let events = outbox(&*w.store, &w.tenant).await;
        let closed = of::<SettlementClosed>(&events);
        assert_eq!(closed.len(), 1);
        let total = statement.figures.overall();
        assert_eq!(closed[0].month, month);
        assert_eq!(closed[0].revision, 1);
        assert_eq!(closed[0].spend, total.spend);
        assert_eq!(closed[0].platform_rebates, total.platform_rebates);
        assert_eq!(closed[0].customer_rebates, total.customer_rebates);
        assert_eq!(closed[0].gross_profit, total.gross_profit);
        let invoices = of::<InvoiceIssued>(&events);
        assert_eq!(invoices.len(), statement.customer_invoices.len());
        assert_eq!(closed[0].invoices_issued, invoices.len());
        for (event, invoice) in invoices.iter().zip(&statement.customer_invoices) {
            assert_eq!(event.customer, invoice.customer);
            assert_eq!(event.amount, invoice.amount);
            assert!(!event.revised);
        }
        let rebates = of::<RebateAccrued>(&events);
        assert_eq!(rebates.len(), 2, "both platforms pay rebates");
        for r in &rebates {
            let (_, s) = statement
                .figures
                .by_platform()
                .into_iter()
                .find(|(p, _)| *p == r.platform)
                .unwrap();
            assert_eq!((r.spend, r.platform_rebates), (s.spend, s.platform_rebates));
        }
        // The settlement's events follow every spend event, and the settlement closes last.
        assert_eq!(events.last().unwrap().name(), SettlementClosed::NAME);

        // Settling again with the same data posts nothing and emits nothing.
        w.ops
            .settle_month(month, SettlementMode::Final)
            .await
            .unwrap();
        assert_eq!(outbox(&*w.store, &w.tenant).await.len(), events.len());
    });
}

#[test]
fn a_failed_commit_leaves_neither_the_settlement_nor_its_events() {
    runtime().block_on(async {
        let faulty = Arc::new(FaultyStore::new(
            Arc::new(MemoryStore::new()),
            FaultPlan::new(11),
        ));
        let w = world_with(faulty.clone(), TenantId::new(), 7).await;
        let _plan = accounts_and_campaigns(&w).await;
        deliver_march(&w, march()).await;
        ingest(&w, march()).await;
        after_month(&w);
        let month: Month = "2026-03".parse().unwrap();
        let before = outbox(&*w.store, &w.tenant).await.len();
        for fault in [Fault::ErrorBeforeCommit, Fault::PartialWriteRolledBack] {
            faulty.script_matching(fault, "ads.invoices");
            assert!(w
                .ops
                .settle_month(month, SettlementMode::Final)
                .await
                .is_err());
            assert!(w.ops.settlement_record(month).await.unwrap().is_none());
            assert_eq!(outbox(&*w.store, &w.tenant).await.len(), before);
        }
        w.ops
            .settle_month(month, SettlementMode::Final)
            .await
            .unwrap();
        let events = outbox(&*w.store, &w.tenant).await;
        assert_eq!(of::<SettlementClosed>(&events).len(), 1);
        assert_eq!(
            w.ops
                .settlement_record(month)
                .await
                .unwrap()
                .unwrap()
                .revision,
            1
        );
    });
}

#[test]
fn a_top_up_resolved_after_a_stale_view_carries_one_event() {
    runtime().block_on(async {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let tenant = TenantId::new();
        let w = world_with(store.clone(), tenant, 7).await;
        let plan = accounts_and_campaigns(&w).await;
        // Process A's top-up times out at the platform: held, pending.
        w.sim1.inject(SimOp::TopUp, SimFailure::Timeout, 1);
        let err = w
            .ops
            .top_up(
                TopUpRequest {
                    account: plan.s1.id,
                    amount: cny("500"),
                    funding: Funding::Credit,
                },
                &IdempotencyKey::from_static("t-pending"),
            )
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        let pending = w.ops.pending_top_ups().await.unwrap();
        assert_eq!(pending.len(), 1);
        let before = outbox(&*store, &tenant).await.len();
        // Process B moves the ledger on (another top-up of the same tenant).
        let b = open_ops(store.clone(), tenant, w.clock.clone(), 99).await;
        b.attach_platform(w.p2.id, w.sim2.clone());
        b.top_up(
            TopUpRequest {
                account: plan.s2.id,
                amount: cny("700"),
                funding: Funding::Credit,
            },
            &IdempotencyKey::from_static("t-b"),
        )
        .await
        .unwrap();
        assert_eq!(outbox(&*store, &tenant).await.len(), before + 1);
        // A's view of the ledger is behind: its first write is refused as stale, caught up and
        // retried — the committed batch carries the credit's event exactly once.
        let resolved = w.ops.confirm_top_up(&pending[0].id).await.unwrap();
        assert!(matches!(resolved.state, TopUpState::Failed { .. }));
        let events = outbox(&*store, &tenant).await;
        assert_eq!(events.len(), before + 2);
        let failures = of::<TopUpFailed>(&events);
        assert_eq!(failures.len(), 1);
        assert!(failures[0].unknown_to_platform, "the platform never saw it");
        // A third process replaying the store sees A's void and B's credit.
        let c = open_ops(store.clone(), tenant, w.clock.clone(), 5).await;
        assert_eq!(
            c.ledger().read(|e| e.transfer_count()).await.unwrap(),
            w.ops.ledger().read(|e| e.transfer_count()).await.unwrap()
        );
    });
}
