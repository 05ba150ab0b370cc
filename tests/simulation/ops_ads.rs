//! Ad operations on the simulated platforms: top-ups (with platform timeouts), receipts,
//! delivery days, daily reports delivered late, out of order, twice and restated, refunds, and
//! month-end settlement (settled again to prove it posts nothing new).

use chrono::{Duration, NaiveDate, TimeZone as _, Utc};
use marketingforce_ads::account::{Funding, TopUpRequest, TopUpState};
use marketingforce_ads::period::Month;
use marketingforce_ads::platform::sim::{SimFailure, SimOp};
use marketingforce_ads::report::IngestOutcome;
use marketingforce_ads::settlement::SettlementMode;
use marketingforce_ads::AdsError;
use marketingforce_core::adapters::ad_platform::{
    AdPlatform, DailyReport, ReportRequest, TopUpRequest as PlatformTopUp,
};
use marketingforce_core::time::Clock;
use marketingforce_core::IdempotencyKey;

use super::model::Replay;
use super::setup::{cny, start_day};
use super::world::{Failure, World};

/// The simulated business stops moving days forward here (within every agreement and grant).
pub fn horizon() -> NaiveDate {
    NaiveDate::from_ymd_opt(2030, 6, 30).unwrap_or_default()
}

impl World {
    /// Top up an account (on credit, or from the distribution customer's deposit), sometimes
    /// with the platform timing out or failing first.
    pub async fn op_top_up(&mut self, i: usize) -> Result<(), Failure> {
        let a = self.rng.index(self.models[i].ads.accounts.len());
        let account = self.models[i].ads.accounts[a].clone();
        let funding = if account.customer == 1 && self.rng.chance(400) {
            Funding::CustomerPrepayment
        } else {
            Funding::Credit
        };
        let amount = cny(500 * self.rng.range(4, 60) as i64);
        let request = TopUpRequest {
            account: account.id,
            amount,
            funding,
        };
        let (customer, limit) = self.models[i].ads.customers[account.customer];
        let before = match self.svc.ads[i].exposure(&customer).await {
            Ok(e) => e,
            Err(e) => {
                // The ledger could not be brought up to date (an injected store fault): the
                // read says so instead of answering stale; no top-up this turn.
                self.note(format!("t{i} top-up skipped, exposure unreadable: {e}"));
                return Ok(());
            }
        };
        let injected = self.rng.chance(150);
        if injected {
            let failure = *self
                .rng
                .pick(&[
                    SimFailure::Timeout,
                    SimFailure::TimeoutAfterApplying,
                    SimFailure::ServerError,
                ])
                .unwrap_or(&SimFailure::Timeout);
            self.note(format!(
                "  platform {} will fail the top-up: {failure:?}",
                account.platform
            ));
            self.ext.platforms[i][account.platform].inject(SimOp::TopUp, failure, 1);
        }
        let key = self.models[i].key("top-up");
        let r = self
            .call("top_up", async |s| {
                s.ads[i]
                    .top_up(request.clone(), &IdempotencyKey::new(key.clone()).unwrap())
                    .await
            })
            .await?;
        if injected && !matches!(r.result, Ok(_) | Err(AdsError::Platform { .. })) {
            // Refused before the platform was asked: the injected failure is still queued
            // there. A call for an account the platform does not have takes it off.
            let _ = self.ext.platforms[i][account.platform]
                .top_up(&PlatformTopUp {
                    request_id: format!("drain-{key}"),
                    account_id: "no-such-account".into(),
                    amount,
                })
                .await;
        }
        match r.result {
            Ok(top_up) => {
                if !matches!(top_up.state, TopUpState::Confirmed { .. }) {
                    return Err(self.fail(format!("top-up {key}: ended {:?}", top_up.state)));
                }
                let after = before
                    .exposure
                    .checked_add(&amount)
                    .map_err(|e| self.fail(e.to_string()))?;
                if funding == Funding::Credit && after.amount() > limit.amount() {
                    return Err(self.fail(format!(
                        "top-up {key}: {amount} on credit accepted at exposure {} (limit {limit})",
                        before.exposure
                    )));
                }
                self.note(format!(
                    "t{i} top-up {key} {amount} {funding:?} on {} → {}",
                    account.id, top_up.id
                ));
                self.models[i]
                    .ads
                    .top_ups
                    .insert(top_up.id, request.clone());
                self.models[i].remember(Replay::TopUp {
                    key,
                    request,
                    id: top_up.id,
                });
            }
            Err(AdsError::CreditLimitExceeded { exposure, .. }) => {
                let after = exposure
                    .checked_add(&amount)
                    .map_err(|e| self.fail(e.to_string()))?;
                if after.amount() <= limit.amount() || exposure != before.exposure {
                    return Err(self.fail(format!(
                        "top-up {key}: {amount} refused at exposure {exposure} (before the call \
                         {}; limit {limit})",
                        before.exposure
                    )));
                }
                self.note(format!("t{i} top-up {key} {amount}: credit limit"));
            }
            Err(AdsError::PrepaymentInsufficient { available, .. }) => {
                if funding != Funding::CustomerPrepayment || available.amount() >= amount.amount() {
                    return Err(self.fail(format!(
                        "top-up {key}: {amount} {funding:?} refused with {available} of deposit"
                    )));
                }
                self.note(format!("t{i} top-up {key} {amount}: deposit too small"));
            }
            Err(AdsError::PlatformFundsInsufficient { .. }) if account.platform == 0 => {
                self.note(format!(
                    "t{i} top-up {key} {amount}: platform prepayment used up"
                ));
            }
            Err(e) => return Err(self.fail(format!("top-up {key}: unexpected error: {e}"))),
        }
        Ok(())
    }

    /// A customer pays (settles invoices first, the rest is a deposit).
    pub async fn op_receipt(&mut self, i: usize) -> Result<(), Failure> {
        let c = self.rng.index(2);
        let customer = self.models[i].ads.customers[c].0;
        let amount = cny(1000 * self.rng.range(2, 40) as i64);
        let day = self.today();
        let key = self.models[i].key("receipt");
        let r = self
            .call("record_receipt", async |s| {
                s.ads[i]
                    .record_receipt(
                        &customer,
                        amount,
                        day,
                        &IdempotencyKey::new(key.clone()).unwrap(),
                    )
                    .await
            })
            .await?;
        r.result
            .map_err(|e| self.fail(format!("receipt {key}: unexpected error: {e}")))?;
        self.note(format!("t{i} receipt {key} {amount} from customer {c}"));
        Ok(())
    }

    /// Prepay the prepaid platform again.
    pub async fn op_prepay(&mut self, i: usize) -> Result<(), Failure> {
        let platform = self.models[i].ads.platform_ids[0];
        let day = self.today();
        let key = self.models[i].key("prepay");
        let r = self
            .call("record_platform_prepayment", async |s| {
                s.ads[i]
                    .record_platform_prepayment(
                        &platform,
                        cny(200_000),
                        day,
                        &IdempotencyKey::new(key.clone()).unwrap(),
                    )
                    .await
            })
            .await?;
        r.result
            .map_err(|e| self.fail(format!("prepayment {key}: unexpected error: {e}")))?;
        self.note(format!("t{i} prepay {key}"));
        Ok(())
    }

    /// The next morning: the platforms deliver every day not yet delivered, and their reports
    /// for those days are fetched (sometimes a partial one first) into the mailbox.
    pub async fn op_new_day(&mut self) -> Result<(), Failure> {
        let today = self.today();
        let next = today + Duration::days(1);
        if next > horizon() {
            self.note("new day: the simulated business stops at its horizon");
            return Ok(());
        }
        let at = Utc.from_utc_datetime(&next.and_hms_opt(1, 0, 0).unwrap_or_default());
        self.clock.set(at);
        for i in 0..self.tenants.len() {
            let first = self.models[i]
                .ads
                .ran_through
                .map_or(start_day(), |d| d + Duration::days(1));
            let mut day = first;
            while day < next {
                for p in 0..2 {
                    self.ext.platforms[i][p].run_day(day);
                }
                let accounts = self.models[i].ads.accounts.clone();
                for a in &accounts {
                    let sim = self.ext.platforms[i][a.platform].clone();
                    if self.rng.chance(80) {
                        sim.inject(SimOp::DailyReport, SimFailure::PartialReport, 1);
                        self.fetch_report(i, a.platform, &a.external, day).await;
                    }
                    self.fetch_report(i, a.platform, &a.external, day).await;
                }
                self.models[i].ads.ran_through = Some(day);
                day += Duration::days(1);
            }
        }
        for i in 0..self.tenants.len() {
            self.renew_agreements(i, next).await?;
        }
        let ticked = self
            .svc
            .registry
            .tick()
            .map_err(|e| self.fail(e.to_string()))?;
        self.note(format!(
            "new day {next} (entitlements recompiled for {ticked} tenants)"
        ));
        Ok(())
    }

    /// Customer agreements run a year: renew them in the last month.
    async fn renew_agreements(&mut self, i: usize, today: NaiveDate) -> Result<(), Failure> {
        for c in 0..self.models[i].ads.agreements.len() {
            let (current, end) = self.models[i].ads.agreements[c];
            if today + Duration::days(31) < end {
                continue;
            }
            let key = format!("renew-{c}-{end}");
            let r = self
                .call("renew_agreement", async |s| {
                    s.ads[i]
                        .renew_agreement(&current, &IdempotencyKey::new(key.clone()).unwrap())
                        .await
                })
                .await?;
            let renewed = r
                .result
                .map_err(|e| self.fail(format!("renew {key}: unexpected error: {e}")))?;
            if renewed.terms.start != end + Duration::days(1) {
                return Err(self.fail(format!(
                    "renew {key}: the renewal starts {}, the agreement ends {end}",
                    renewed.terms.start
                )));
            }
            self.note(format!(
                "t{i} renewed customer {c}'s agreement to {}",
                renewed.terms.end
            ));
            self.models[i].ads.agreements[c] = (renewed.id, renewed.terms.end);
        }
        Ok(())
    }

    async fn fetch_report(&mut self, i: usize, platform: usize, account: &str, date: NaiveDate) {
        let sim = self.ext.platforms[i][platform].clone();
        match sim
            .daily_report(&ReportRequest {
                account_id: account.to_string(),
                date,
            })
            .await
        {
            Ok(report) => self.models[i].ads.mailbox.push(report),
            Err(e) => self.note(format!("  t{i} report {account} {date} not fetched: {e}")),
        }
    }

    fn platform_of(&self, i: usize, account: &str) -> Option<usize> {
        self.models[i]
            .ads
            .accounts
            .iter()
            .find(|a| a.external == account)
            .map(|a| a.platform)
    }

    /// Deliver one report to the service and check what it made of it.
    async fn deliver(&mut self, i: usize, report: DailyReport) -> Result<(), Failure> {
        let Some(p) = self.platform_of(i, &report.account_id) else {
            return Err(self.fail(format!("report for unknown account {}", report.account_id)));
        };
        let platform = self.models[i].ads.platform_ids[p];
        let slot = (report.account_id.clone(), report.date);
        let stored = self.models[i].ads.delivered.get(&slot).copied();
        let r = self
            .call("ingest_report", async |s| {
                s.ads[i].ingest_report(&platform, &report).await
            })
            .await?;
        let outcome = r.result.map_err(|e| {
            self.fail(format!(
                "ingest {} {} r{}: unexpected error: {e}",
                report.account_id, report.date, report.revision
            ))
        })?;
        let retried = r.attempts > 1;
        let expected_ok = match (&outcome, stored) {
            (IngestOutcome::Stored { .. }, None) => true,
            (
                IngestOutcome::Restated {
                    previous_revision, ..
                },
                Some(s),
            ) => *previous_revision == s && report.revision > s,
            (IngestOutcome::Duplicate, Some(s)) if s == report.revision => true,
            // An earlier attempt stored it and the acknowledgement was lost.
            (IngestOutcome::Duplicate, s) => retried && s.is_none_or(|s| report.revision > s),
            (IngestOutcome::Superseded { stored_revision }, Some(s)) => {
                *stored_revision == s && report.revision < s
            }
            _ => false,
        };
        if !expected_ok {
            return Err(self.fail(format!(
                "ingest {} {} r{}: {outcome:?} but revision {stored:?} was delivered before",
                report.account_id, report.date, report.revision
            )));
        }
        let best = stored.map_or(report.revision, |s| s.max(report.revision));
        self.models[i].ads.delivered.insert(slot, best);
        self.note(format!(
            "t{i} ingest {} {} r{} → {outcome:?}",
            report.account_id, report.date, report.revision
        ));
        Ok(())
    }

    /// Deliver 1–4 reports from the mailbox, in random order, duplicates and stale revisions
    /// included.
    pub async fn op_deliver(&mut self, i: usize) -> Result<(), Failure> {
        let n = self.models[i].ads.mailbox.len();
        if n == 0 {
            self.note(format!("t{i} deliver: mailbox empty"));
            return Ok(());
        }
        let k = self.rng.range(1, 4);
        let mut picked = Vec::new();
        for _ in 0..k {
            // Recent reports more often.
            let window = self.rng.range(1, n as u64);
            let back = self.rng.below(window) as usize;
            picked.push(self.models[i].ads.mailbox[n - 1 - back.min(n - 1)].clone());
        }
        self.rng.shuffle(&mut picked);
        for report in picked {
            self.deliver(i, report).await?;
        }
        Ok(())
    }

    /// The platform refunds part of a day's spend (invalid traffic): a restated report.
    pub async fn op_refund(&mut self, i: usize) -> Result<(), Failure> {
        let candidates: Vec<DailyReport> = self.models[i]
            .ads
            .mailbox
            .iter()
            .filter(|r| {
                r.complete
                    && r.lines
                        .iter()
                        .any(|l| l.spend.amount() > rust_decimal::Decimal::new(50, 0))
            })
            .cloned()
            .collect();
        let Some(report) = self.rng.pick(&candidates).cloned() else {
            self.note(format!("t{i} refund: no spend yet"));
            return Ok(());
        };
        let Some(line) = report
            .lines
            .iter()
            .find(|l| l.spend.amount() > rust_decimal::Decimal::new(50, 0))
        else {
            return Ok(());
        };
        let Some(p) = self.platform_of(i, &report.account_id) else {
            return Ok(());
        };
        let amount = cny(self.rng.range(1, 40) as i64);
        self.ext.platforms[i][p].refund(&report.account_id, report.date, &line.campaign_id, amount);
        self.fetch_report(i, p, &report.account_id, report.date)
            .await;
        self.note(format!(
            "t{i} platform refunds {amount} of {} {}",
            report.account_id, report.date
        ));
        Ok(())
    }

    /// Settle the earliest month that is over and not settled (or has restated reports): first
    /// deliver the latest revision of every report of the month, then settle, then settle again
    /// and check that nothing more is posted.
    pub async fn op_settle(&mut self, i: usize) -> Result<(), Failure> {
        let Some(ran) = self.models[i].ads.ran_through else {
            return Ok(());
        };
        let mut month = Month::of(start_day());
        let month = loop {
            if month.last_day() > ran {
                self.note(format!("t{i} settle: no month is over"));
                return Ok(());
            }
            let latest = self.latest_reports(i, month);
            let stale = latest.iter().any(|r| {
                self.models[i]
                    .ads
                    .delivered
                    .get(&(r.account_id.clone(), r.date))
                    .is_none_or(|d| *d < r.revision)
            });
            if !self.models[i].ads.settled.contains(&month) || stale {
                break month;
            }
            month = month.next();
        };
        for report in self.latest_reports(i, month) {
            let delivered = self.models[i]
                .ads
                .delivered
                .get(&(report.account_id.clone(), report.date))
                .copied();
            if delivered.is_none_or(|d| d < report.revision) {
                self.deliver(i, report).await?;
            }
        }
        let r = self
            .call("settle_month", async |s| {
                s.ads[i].settle_month(month, SettlementMode::Final).await
            })
            .await?;
        let statement = r
            .result
            .map_err(|e| self.fail(format!("settle {month}: unexpected error: {e}")))?;
        // A read that cannot bring the ledger up to date says so (an injected fault): read
        // again, as a caller would.
        let figures = self
            .call("settlement_figures", async |s| {
                s.ads[i].settlement_figures(month).await
            })
            .await?
            .result
            .map_err(|e| self.fail(format!("figures of {month}: {e}")))?;
        if figures != statement.figures {
            return Err(self.fail(format!(
                "settle {month}: the ledger's figures differ from the statement's:\n{figures:?}\n{:?}",
                statement.figures
            )));
        }
        let transfers = self
            .call("ledger transfers", async |s| {
                s.ads[i].ledger().read(|e| e.transfer_count()).await
            })
            .await?
            .result
            .map_err(|e| self.fail(format!("ledger of {month}: {e}")))?;
        let r = self
            .call("settle_month again", async |s| {
                s.ads[i].settle_month(month, SettlementMode::Final).await
            })
            .await?;
        let again = r
            .result
            .map_err(|e| self.fail(format!("settle {month} again: {e}")))?;
        let after = self
            .call("ledger transfers", async |s| {
                s.ads[i].ledger().read(|e| e.transfer_count()).await
            })
            .await?
            .result
            .map_err(|e| self.fail(format!("ledger of {month}: {e}")))?;
        if again != statement || after != transfers {
            return Err(self.fail(format!(
                "settle {month} again: statement changed ({}) or transfers {transfers} → {after}",
                again != statement
            )));
        }
        let o = statement.figures.overall();
        self.note(format!(
            "t{i} settle {month}: spend {} revenue {} ({} transfers)",
            o.spend, o.revenue, transfers
        ));
        self.models[i].ads.settled.insert(month);
        Ok(())
    }

    /// The highest revision fetched of every report of `month`.
    fn latest_reports(&self, i: usize, month: Month) -> Vec<DailyReport> {
        let mut best: std::collections::BTreeMap<(String, NaiveDate), DailyReport> =
            std::collections::BTreeMap::new();
        for r in &self.models[i].ads.mailbox {
            if Month::of(r.date) != month || !r.complete {
                continue;
            }
            let slot = (r.account_id.clone(), r.date);
            if best.get(&slot).is_none_or(|b| b.revision < r.revision) {
                best.insert(slot, r.clone());
            }
        }
        best.into_values().collect()
    }

    /// Now, as the ads service sees it.
    pub fn now(&self) -> chrono::DateTime<Utc> {
        self.clock.now()
    }
}
