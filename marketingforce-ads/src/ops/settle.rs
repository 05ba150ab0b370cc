//! Monthly settlement, reconciliation against the platforms, and the receivables views.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use marketingforce_core::adapters::ad_platform::{RebateKind, RebateStatementRequest};
use marketingforce_core::money::Money;
use marketingforce_core::storage::{Batch, Collection, Entity, Expect};
use marketingforce_core::telemetry::operation;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::AdOps;
use crate::account::{AdAccount, TopUpState};
use crate::error::{AdsError, Result};
use crate::events::{InvoiceIssued, RebateAccrued, SettlementClosed};
use crate::ids::{AdAccountId, CustomerId, PlatformId};
use crate::period::Month;
use crate::receivables::{
    self, AgeingReport, CashFlowDay, CustomerExposure, Invoice, OverdueInvoice, TurnoverDays,
};
use crate::settlement::{
    plan, AccountInfo, CustomerTerms, PlatformTerms, ReportDay, ReportLine, SettlementFigures,
    SettlementInput, SettlementMode, SettlementStatement,
};

/// The record that a month was settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettlementRecord {
    /// The month.
    pub month: Month,
    /// Settled with report days missing.
    pub provisional: bool,
    /// How many account-days were missing.
    pub missing_days: usize,
    /// Incremented each time a settlement run posted something.
    pub revision: u32,
    /// When last posted.
    pub settled_at: DateTime<Utc>,
}

impl Entity for SettlementRecord {
    const COLLECTION: &'static str = "ads.settlements";
    fn key(&self) -> String {
        self.month.to_string()
    }
}

/// A difference between our books and what a platform says; reported, never absorbed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "mismatch", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Mismatch {
    /// The platform's rebate statement differs from our accrual.
    RebateStatement {
        /// The platform.
        platform: PlatformId,
        /// Standard or progressive.
        kind: RebateKind,
        /// Our figure.
        ours: Money,
        /// The platform's.
        theirs: Money,
    },
    /// An account's balance at the platform differs from confirmed top-ups less reported spend.
    AccountBalance {
        /// The account.
        account: AdAccountId,
        /// Our figure.
        ours: Money,
        /// The platform's.
        theirs: Money,
    },
    /// The ledger's spend for a settled month differs from the reports now held (a report was
    /// restated after settlement: settle the month again to post the correction).
    SettledSpend {
        /// The customer.
        customer: CustomerId,
        /// The platform.
        platform: PlatformId,
        /// Spend in the ledger.
        ledger: Money,
        /// Spend in the reports.
        reports: Money,
    },
    /// The platform could not be asked.
    PlatformUnavailable {
        /// The platform.
        platform: PlatformId,
        /// What failed.
        error: String,
    },
}

/// The result of reconciling a month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReconciliationReport {
    /// The month.
    pub month: Month,
    /// Every difference found.
    pub mismatches: Vec<Mismatch>,
}

impl AdOps {
    fn settlements(&self) -> Collection<SettlementRecord> {
        Collection::new(self.store.clone())
    }

    /// The settlement record of a month, if it was settled.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("ads.settlement_record", tenant = self.tenant)]
    pub async fn settlement_record(&self, month: Month) -> Result<Option<SettlementRecord>> {
        Ok(self
            .settlements()
            .get(&self.tenant, &month.to_string())
            .await?
            .map(|v| v.value))
    }

    /// Gather a month's settlement input from the store.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("ads.settlement_input", tenant = self.tenant)]
    pub async fn settlement_input(&self, month: Month) -> Result<SettlementInput> {
        let accounts: Vec<AdAccount> = self
            .ad_accounts()
            .await?
            .into_iter()
            .filter(|a| {
                a.opened_on <= month.last_day() && a.closed_on.is_none_or(|c| c > month.first_day())
            })
            .collect();
        let mut customers = HashMap::new();
        let mut platforms = HashMap::new();
        let mut kpis = HashMap::new();
        let customer_ids: BTreeSet<CustomerId> = accounts.iter().map(|a| a.customer).collect();
        let platform_ids: BTreeSet<PlatformId> = accounts.iter().map(|a| a.platform).collect();
        let covers = |start: NaiveDate, end: NaiveDate| {
            start <= month.last_day() && month.first_day() <= end
        };
        for c in customer_ids {
            let mut agreements = self.agreements_of(&c).await?;
            agreements.sort_by_key(|a| std::cmp::Reverse(a.terms.start));
            if let Some(a) = agreements
                .into_iter()
                .find(|a| covers(a.terms.start, a.terms.end))
            {
                customers.insert(
                    c,
                    CustomerTerms {
                        service_type: a.terms.service_type,
                        rebate: a.terms.customer_rebate.clone(),
                        credit_terms_days: a.terms.credit_terms_days,
                    },
                );
            }
        }
        for p in platform_ids {
            let mut agreements = self.platform_agreements_of(&p).await?;
            agreements.sort_by_key(|a| std::cmp::Reverse(a.terms.start));
            if let Some(a) = agreements
                .into_iter()
                .find(|a| covers(a.terms.start, a.terms.end))
            {
                platforms.insert(
                    p,
                    PlatformTerms {
                        rebates: a.terms.rebate_policy,
                        settlement_terms: a.terms.settlement_terms,
                    },
                );
            }
        }
        for a in &accounts {
            for c in self
                .campaigns()
                .lookup_all(&self.tenant, "account", &a.id.to_string())
                .await?
            {
                if !c.value.draft.kpis.is_empty() {
                    kpis.insert(c.value.id, c.value.draft.kpis.clone());
                }
            }
        }
        let reports = self
            .reports()
            .lookup_all(&self.tenant, "month", &month.to_string())
            .await?
            .into_iter()
            .map(|v| ReportDay {
                account: v.value.account,
                date: v.value.date,
                complete: v.value.complete,
                lines: v
                    .value
                    .lines
                    .into_iter()
                    .map(|l| ReportLine {
                        campaign: l.campaign,
                        impressions: l.impressions,
                        clicks: l.clicks,
                        conversions: l.conversions,
                        spend: l.spend,
                    })
                    .collect(),
            })
            .collect();
        Ok(SettlementInput {
            month,
            currency: self.config.currency,
            rounding: self.config.rounding,
            customers,
            platforms,
            accounts: accounts
                .iter()
                .map(|a| {
                    (
                        a.id,
                        AccountInfo {
                            customer: a.customer,
                            platform: a.platform,
                            opened_on: a.opened_on,
                            closed_on: a.closed_on,
                        },
                    )
                })
                .collect(),
            kpis,
            reports,
        })
    }

    /// Settle a month: compute everything from the reports and the ledger and post it as ledger
    /// transfers with the invoices, in one commit. Settling again with the same data posts
    /// nothing; with restated or late reports it posts the corrections.
    ///
    /// # Errors
    /// [`AdsError::MonthNotOver`], [`AdsError::PreviousMonthUnsettled`],
    /// [`AdsError::MissingReports`] (in [`SettlementMode::Final`]), [`AdsError::NoAgreement`],
    /// [`AdsError::SpendExceedsFunds`], storage errors.
    #[operation("ads.settle_month", tenant = self.tenant)]
    pub async fn settle_month(
        &self,
        month: Month,
        mode: SettlementMode,
    ) -> Result<SettlementStatement> {
        if self.today() <= month.last_day() {
            return Err(AdsError::MonthNotOver { month });
        }
        let _money = self.money.lock().await;
        let prev = month.prev();
        let had_accounts_before = self
            .ad_accounts()
            .await?
            .iter()
            .any(|a| a.opened_on <= prev.last_day());
        if had_accounts_before && self.settlement_record(prev).await?.is_none() {
            return Err(AdsError::PreviousMonthUnsettled {
                month,
                previous: prev,
            });
        }
        let input = self.settlement_input(month).await?;
        let chart = self.chart;
        let planned = self
            .ledger
            .read(|e| plan(&input, e, &chart, mode))
            .await??;
        let statement = planned.statement;

        let mut batch = Batch::new();
        let mut invoices = Vec::new();
        for inv in &statement.customer_invoices {
            let key = Invoice::key_of(&inv.customer, month);
            let existing = self.invoices().get(&self.tenant, &key).await?;
            let next = Invoice {
                customer: inv.customer,
                month,
                issued_on: inv.issued_on,
                due_on: inv.due_on,
                lines: inv.lines.clone(),
                amount: inv.amount,
                deposit_applied: inv.deposit_applied,
                collected: existing
                    .as_ref()
                    .map_or(Money::zero(self.config.currency), |v| v.value.collected),
                provisional: statement.provisional,
            };
            match existing {
                Some(v) if v.value == next => {}
                Some(v) => {
                    batch.put_entity(&self.tenant, &next, Expect::Version(v.version))?;
                    invoices.push((next, true));
                }
                None => {
                    batch.put_entity(&self.tenant, &next, Expect::Absent)?;
                    invoices.push((next, false));
                }
            }
        }
        let record = self
            .settlements()
            .get(&self.tenant, &month.to_string())
            .await?;
        let changed = !planned.transfers.is_empty() || !batch.is_empty();
        let record_stale = record.as_ref().is_none_or(|r| {
            r.value.provisional != statement.provisional
                || r.value.missing_days != statement.missing.len()
        });
        if changed || record_stale {
            let next = SettlementRecord {
                month,
                provisional: statement.provisional,
                missing_days: statement.missing.len(),
                revision: record.as_ref().map_or(1, |r| r.value.revision + 1),
                settled_at: self.clock.now(),
            };
            let expect = record
                .as_ref()
                .map_or(Expect::Absent, |r| Expect::Version(r.version));
            batch.put_entity(&self.tenant, &next, expect)?;
            self.stage_settlement_events(&mut batch, &statement, &next, &invoices)
                .await?;
            self.ledger.commit(vec![], planned.transfers, batch).await?;
        }
        Ok(statement)
    }

    /// Stage the events of a settlement (revision `record`): each invoice written, each
    /// platform's rebates, and the settlement itself, in the batch that commits them.
    async fn stage_settlement_events(
        &self,
        batch: &mut Batch,
        statement: &SettlementStatement,
        record: &SettlementRecord,
        invoices: &[(Invoice, bool)],
    ) -> Result<()> {
        for (inv, revised) in invoices {
            let event = InvoiceIssued {
                customer: inv.customer,
                month: inv.month,
                issued_on: inv.issued_on,
                due_on: inv.due_on,
                amount: inv.amount,
                deposit_applied: inv.deposit_applied,
                provisional: inv.provisional,
                revised: *revised,
            };
            self.stage(batch, &event).await?;
        }
        for (platform, s) in statement.figures.by_platform() {
            if s.platform_rebates.is_zero() && s.customer_rebates.is_zero() {
                continue;
            }
            let event = RebateAccrued {
                month: record.month,
                revision: record.revision,
                platform,
                spend: s.spend,
                platform_rebates: s.platform_rebates,
                customer_rebates: s.customer_rebates,
                kpi_compensation: s.kpi_compensation,
            };
            self.stage(batch, &event).await?;
        }
        let total = statement.figures.overall();
        let event = SettlementClosed {
            month: record.month,
            revision: record.revision,
            provisional: record.provisional,
            missing_days: record.missing_days,
            spend: total.spend,
            platform_rebates: total.platform_rebates,
            customer_rebates: total.customer_rebates,
            kpi_compensation: total.kpi_compensation,
            revenue: total.revenue,
            gross_profit: total.gross_profit,
            invoices_issued: invoices.len(),
        };
        self.stage(batch, &event).await
    }

    /// A month's settlement figures, read back from the ledger alone.
    ///
    /// # Errors
    /// The ledger cannot be brought up to date from the store.
    #[operation("ads.settlement_figures", tenant = self.tenant)]
    pub async fn settlement_figures(&self, month: Month) -> Result<SettlementFigures> {
        let chart = self.chart;
        self.ledger
            .read(|e| SettlementFigures::from_ledger(e, &chart, month))
            .await?
    }

    /// Reconcile a settled month with the platforms: their rebate statements against our
    /// accruals, their account balances against confirmed top-ups less reported spend, and the
    /// settled spend against the reports now held.
    ///
    /// # Errors
    /// Storage errors (platform failures are reported as mismatches).
    #[operation("ads.reconcile", tenant = self.tenant)]
    pub async fn reconcile(&self, month: Month) -> Result<ReconciliationReport> {
        let figures = self.settlement_figures(month).await?;
        let mut mismatches = Vec::new();
        let cur = self.config.currency;
        let input = self.settlement_input(month).await?;
        let mut platforms: Vec<PlatformId> = input.accounts.values().map(|a| a.platform).collect();
        platforms.sort();
        platforms.dedup();

        // Spend settled vs the reports held now.
        let mut report_spend: BTreeMap<(CustomerId, PlatformId), Money> = BTreeMap::new();
        for r in &input.reports {
            if let Some(info) = input.accounts.get(&r.account) {
                let e = report_spend
                    .entry((info.customer, info.platform))
                    .or_insert(Money::zero(cur));
                for l in &r.lines {
                    *e = e.checked_add(&l.spend)?;
                }
            }
        }
        let mut ledger_spend: BTreeMap<(CustomerId, PlatformId), Money> = figures
            .lines
            .iter()
            .map(|l| ((l.customer, l.platform), l.spend))
            .collect();
        for (key, reports) in &report_spend {
            let reports = reports.round(self.config.rounding);
            let ledger = ledger_spend.remove(key).unwrap_or(Money::zero(cur));
            if ledger != reports && (self.settlement_record(month).await?.is_some()) {
                mismatches.push(Mismatch::SettledSpend {
                    customer: key.0,
                    platform: key.1,
                    ledger,
                    reports,
                });
            }
        }

        for p in platforms {
            let adapter = match self.adapter(&p) {
                Ok(a) => a,
                Err(e) => {
                    mismatches.push(Mismatch::PlatformUnavailable {
                        platform: p,
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            // Rebate statement.
            match adapter
                .rebate_statement(&RebateStatementRequest {
                    from: month.first_day(),
                    to: month.last_day(),
                })
                .await
            {
                Ok(statement) => {
                    let lines: Vec<_> = figures.lines.iter().filter(|l| l.platform == p).collect();
                    let ours_std = Money::sum(cur, lines.iter().map(|l| &l.standard_rebate))?;
                    let theirs_std = Money::sum(
                        cur,
                        statement
                            .lines
                            .iter()
                            .filter(|l| l.kind == RebateKind::Standard)
                            .map(|l| &l.amount),
                    )?;
                    if ours_std != theirs_std.round(self.config.rounding) {
                        mismatches.push(Mismatch::RebateStatement {
                            platform: p,
                            kind: RebateKind::Standard,
                            ours: ours_std,
                            theirs: theirs_std,
                        });
                    }
                    let theirs_prog: Vec<&Money> = statement
                        .lines
                        .iter()
                        .filter(|l| l.kind == RebateKind::Progressive)
                        .map(|l| &l.amount)
                        .collect();
                    if !theirs_prog.is_empty() {
                        let theirs = Money::sum(cur, theirs_prog)?;
                        let period = input
                            .platforms
                            .get(&p)
                            .and_then(|t| t.rebates.progressive.as_ref().map(|x| x.period));
                        let mut ours = Money::zero(cur);
                        if let Some(period) = period {
                            for m in month.months_to_date(period) {
                                let f = self.settlement_figures(m).await?;
                                for l in f.lines.iter().filter(|l| l.platform == p) {
                                    ours = ours
                                        .checked_add(&l.tier_rebate)?
                                        .checked_add(&l.tier_true_up)?;
                                }
                            }
                        }
                        if ours != theirs.round(self.config.rounding) {
                            mismatches.push(Mismatch::RebateStatement {
                                platform: p,
                                kind: RebateKind::Progressive,
                                ours,
                                theirs,
                            });
                        }
                    }
                }
                Err(e) => mismatches.push(Mismatch::PlatformUnavailable {
                    platform: p,
                    error: e.to_string(),
                }),
            }
            // Account balances.
            for a in self
                .accounts()
                .lookup_all(&self.tenant, "platform", &p.to_string())
                .await?
            {
                let a = a.value;
                let ours = self.expected_balance(&a).await?;
                match adapter.account(&a.external_id).await {
                    Ok(theirs) => {
                        if theirs.balance.round(self.config.rounding) != ours {
                            mismatches.push(Mismatch::AccountBalance {
                                account: a.id,
                                ours,
                                theirs: theirs.balance,
                            });
                        }
                    }
                    Err(e) => mismatches.push(Mismatch::PlatformUnavailable {
                        platform: p,
                        error: e.to_string(),
                    }),
                }
            }
        }
        Ok(ReconciliationReport { month, mismatches })
    }

    /// Confirmed top-ups less all reported spend of an account.
    async fn expected_balance(&self, a: &AdAccount) -> Result<Money> {
        let cur = a.currency;
        let mut total = Money::zero(cur);
        for t in self.top_ups_of(&a.id).await? {
            if matches!(t.state, TopUpState::Confirmed { .. }) {
                total = total.checked_add(&t.amount)?;
            }
        }
        let mut month = Month::of(a.opened_on);
        let end = Month::of(self.today());
        while month <= end {
            for r in self
                .reports()
                .lookup_all(&self.tenant, "account_month", &format!("{}:{month}", a.id))
                .await?
            {
                total = total.checked_sub(&r.value.spend()?)?;
            }
            month = month.next();
        }
        Ok(total.round(self.config.rounding))
    }

    async fn top_ups_of(&self, account: &AdAccountId) -> Result<Vec<crate::account::TopUp>> {
        Ok(Collection::<crate::account::TopUp>::new(self.store.clone())
            .lookup_all(&self.tenant, "account", &account.to_string())
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    async fn all_invoices(&self) -> Result<Vec<Invoice>> {
        Ok(self
            .invoices()
            .list_all(&self.tenant)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// Open receivables by age (days past due) as of a date.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("ads.ageing", tenant = self.tenant)]
    pub async fn ageing(&self, as_of: NaiveDate) -> Result<AgeingReport> {
        Ok(receivables::age(
            &self.all_invoices().await?,
            as_of,
            self.config.currency,
        ))
    }

    /// Invoices past due as of a date, most overdue first.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("ads.overdue", tenant = self.tenant)]
    pub async fn overdue(&self, as_of: NaiveDate) -> Result<Vec<OverdueInvoice>> {
        Ok(receivables::overdue(&self.all_invoices().await?, as_of))
    }

    /// Turnover days of trade and other receivables over a period.
    ///
    /// # Errors
    /// The ledger cannot be brought up to date from the store.
    pub async fn turnover_days(&self, from: NaiveDate, to: NaiveDate) -> Result<TurnoverDays> {
        let chart = self.chart;
        self.ledger
            .read(|e| receivables::turnover(e, &chart, from, to))
            .await
    }

    /// Cash in and out by date.
    ///
    /// # Errors
    /// The ledger cannot be brought up to date from the store.
    pub async fn cash_flow(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<CashFlowDay>> {
        let chart = self.chart;
        self.ledger
            .read(|e| receivables::cash_flow(e, &chart, from, to))
            .await
    }

    /// Advances and exposure of every customer with an ad account.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("ads.exposures", tenant = self.tenant)]
    pub async fn exposures(&self) -> Result<Vec<CustomerExposure>> {
        let customers: BTreeSet<CustomerId> = self
            .ad_accounts()
            .await?
            .iter()
            .map(|a| a.customer)
            .collect();
        let chart = self.chart;
        self.ledger
            .read(|e| {
                customers
                    .iter()
                    .map(|c| receivables::exposure(e, &chart, c))
                    .collect()
            })
            .await
    }
}
