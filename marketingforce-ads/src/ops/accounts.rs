//! Ad accounts, suspensions, top-ups, and the cash movements of the business (customer
//! receipts, platform prepayments and payments, rebates received in cash, staff costs).

use chrono::NaiveDate;
use marketingforce_core::adapters::ad_platform::{
    OpenAccountRequest, TopUpReceipt, TopUpRequest as PlatformTopUp, TopUpStatus,
};
use marketingforce_core::money::Money;
use marketingforce_core::storage::{Batch, Collection, Expect, Versioned};
use marketingforce_core::telemetry::operation;
use marketingforce_core::IdempotencyKey;
use serde::Serialize;

use super::AdOps;
use crate::account::{AdAccount, Funding, Suspension, TopUp, TopUpRequest, TopUpState};
use crate::agreement::{ServiceType, SettlementTerms};
use crate::chart::{AccountKind, PostingCode, PostingMeta};
use crate::error::{AdsError, Result};
use crate::events::{TopUpCredited, TopUpFailed};
use crate::ids::{AdAccountId, CustomerId, PlatformId, ReceiptId, TopUpId};
use crate::ledger::{Leg, Side, TransferId, TransferSpec};
use crate::period::{date_key, Month};
use crate::receivables::{apply_fifo, exposure, CustomerExposure, Invoice, Receipt};

impl AdOps {
    pub(crate) fn accounts(&self) -> Collection<AdAccount> {
        Collection::new(self.store.clone())
    }

    fn top_ups(&self) -> Collection<TopUp> {
        Collection::new(self.store.clone())
    }

    pub(crate) fn invoices(&self) -> Collection<Invoice> {
        Collection::new(self.store.clone())
    }

    /// Open an ad account for an approved customer on a platform (through its adapter).
    ///
    /// # Errors
    /// [`AdsError::CustomerNotApproved`], no agreement with the customer or the platform today,
    /// no adapter, a platform failure ([`AdsError::Platform`]), storage errors.
    #[operation("ads.open_ad_account", tenant = self.tenant, key = key)]
    pub async fn open_ad_account(
        &self,
        customer: &CustomerId,
        platform: &PlatformId,
        key: &IdempotencyKey,
    ) -> Result<AdAccount> {
        let key = key.as_str();
        let (idem, previous) = self
            .idempotent("open_ad_account", key, &(customer, platform))
            .await?;
        if let Some(a) = previous {
            return Ok(a);
        }
        let c = self.approved_customer(customer).await?;
        let today = self.today();
        self.agreement_on(customer, today).await?;
        self.platform_agreement_on(platform, today).await?;
        let adapter = self.adapter(platform)?;
        let opened = adapter
            .open_account(&OpenAccountRequest {
                request_id: idem.key().to_string(),
                advertiser_name: c.name.clone(),
                licence_number: c.licence_number.clone(),
                industry: c.industry.clone(),
                currency: self.config.currency,
            })
            .await
            .map_err(|source| AdsError::platform(adapter.platform_code(), source))?;
        let key_ext = AdAccount::external_key(platform, &opened.account_id);
        if let Some(existing) = self
            .accounts()
            .lookup_all(&self.tenant, "external", &key_ext)
            .await?
            .first()
        {
            return Err(AdsError::validation(
                "account_id",
                format!(
                    "platform account {} is already ad account {}",
                    opened.account_id, existing.value.id
                ),
            ));
        }
        let account = AdAccount {
            id: AdAccountId::generate(self.ids.as_ref()),
            customer: *customer,
            platform: *platform,
            external_id: opened.account_id,
            currency: self.config.currency,
            opened_on: today,
            closed_on: None,
            suspensions: Vec::new(),
        };
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &account, Expect::Absent)?;
        self.commit(&idem, vec![], vec![], batch, account).await
    }

    /// An ad account.
    ///
    /// # Errors
    /// Not found, storage errors.
    #[operation("ads.ad_account", tenant = self.tenant)]
    pub async fn ad_account(&self, id: &AdAccountId) -> Result<AdAccount> {
        Ok(self
            .accounts()
            .require(&self.tenant, &id.to_string())
            .await?
            .value)
    }

    /// Every ad account.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("ads.ad_accounts", tenant = self.tenant)]
    pub async fn ad_accounts(&self) -> Result<Vec<AdAccount>> {
        Ok(self
            .accounts()
            .list_all(&self.tenant)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// Record a suspension of an account for a policy violation, from today: no top-ups and no
    /// spend while suspended.
    ///
    /// # Errors
    /// An account already suspended or closed, storage errors.
    #[operation("ads.suspend_account", tenant = self.tenant, key = key)]
    pub async fn suspend_account(
        &self,
        account: &AdAccountId,
        reason: &str,
        key: &IdempotencyKey,
    ) -> Result<AdAccount> {
        let key = key.as_str();
        let (idem, previous) = self
            .idempotent("suspend_account", key, &(account, reason))
            .await?;
        if let Some(a) = previous {
            return Ok(a);
        }
        if reason.trim().is_empty() {
            return Err(AdsError::validation("reason", "must not be blank"));
        }
        let Versioned {
            value: mut a,
            version,
        } = self
            .accounts()
            .require(&self.tenant, &account.to_string())
            .await?;
        let today = self.today();
        let status = a.status_on(today);
        if status != crate::account::AccountStatus::Active {
            return Err(AdsError::Core(marketingforce_core::Error::invalid_state(
                "ad account",
                format!("{status:?}"),
                "suspended",
                "only an active account can be suspended",
            )));
        }
        a.suspensions.push(Suspension {
            from: today,
            until: None,
            reason: reason.trim().to_string(),
        });
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &a, Expect::Version(version))?;
        self.commit(&idem, vec![], vec![], batch, a).await
    }

    /// Lift the current suspension of an account from today.
    ///
    /// # Errors
    /// An account not suspended, storage errors.
    #[operation("ads.reinstate_account", tenant = self.tenant, key = key)]
    pub async fn reinstate_account(
        &self,
        account: &AdAccountId,
        key: &IdempotencyKey,
    ) -> Result<AdAccount> {
        let key = key.as_str();
        let (idem, previous) = self.idempotent("reinstate_account", key, account).await?;
        if let Some(a) = previous {
            return Ok(a);
        }
        let Versioned {
            value: mut a,
            version,
        } = self
            .accounts()
            .require(&self.tenant, &account.to_string())
            .await?;
        let today = self.today();
        let Some(s) = a.suspensions.iter_mut().find(|s| s.covers(today)) else {
            return Err(AdsError::Core(marketingforce_core::Error::invalid_state(
                "ad account",
                "active",
                "reinstated",
                "the account is not suspended",
            )));
        };
        s.until = Some(today);
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &a, Expect::Version(version))?;
        self.commit(&idem, vec![], vec![], batch, a).await
    }

    /// A customer's working-capital position from the ledger.
    ///
    /// # Errors
    /// The ledger cannot be brought up to date from the store (never a stale position).
    pub async fn exposure(&self, customer: &CustomerId) -> Result<CustomerExposure> {
        let chart = self.chart;
        self.ledger.read(|e| exposure(e, &chart, customer)).await
    }

    /// Top up an ad account: checks, holds the amount in the ledger (pending), asks the platform,
    /// and posts or voids the hold on its answer. Retrying the call with the same key resumes a
    /// top-up left pending by a timeout.
    ///
    /// # Errors
    /// [`AdsError::CustomerNotApproved`], [`AdsError::AccountSuspended`],
    /// [`AdsError::AccountClosed`], [`AdsError::CreditLimitExceeded`],
    /// [`AdsError::PrepaymentInsufficient`], [`AdsError::PlatformFundsInsufficient`], an amount
    /// that is not positive whole fen in the books' currency, a platform failure (the top-up
    /// then stays pending; retry or [`AdOps::confirm_top_up`]), storage errors.
    #[operation("ads.top_up", tenant = self.tenant, key = key)]
    pub async fn top_up(&self, request: TopUpRequest, key: &IdempotencyKey) -> Result<TopUp> {
        let key = key.as_str();
        let held = {
            let _money = self.money.lock().await;
            self.hold_top_up(key, &request).await?
        };
        if held.state != TopUpState::Pending {
            return Ok(held);
        }
        let account = self.ad_account(&held.account).await?;
        let adapter = self.adapter(&held.platform)?;
        let answer = adapter
            .top_up(&PlatformTopUp {
                request_id: held.id.to_string(),
                account_id: account.external_id.clone(),
                amount: held.amount,
            })
            .await;
        match answer {
            Ok(receipt) => self.resolve_top_up(&held.id, Some(receipt)).await,
            Err(source) => Err(AdsError::platform(adapter.platform_code(), source)),
        }
    }

    pub(super) async fn hold_top_up(&self, key: &str, request: &TopUpRequest) -> Result<TopUp> {
        let (idem, previous) = self.idempotent::<TopUp>("top_up", key, request).await?;
        if let Some(t) = previous {
            // The stored result is the hold; the record tells where it stands now.
            return Ok(self
                .top_ups()
                .require(&self.tenant, &t.id.to_string())
                .await?
                .value);
        }
        self.money_in_books(&request.amount, "amount")?;
        let account = self.ad_account(&request.account).await?;
        let today = self.today();
        match account.status_on(today) {
            crate::account::AccountStatus::Active => {}
            crate::account::AccountStatus::Suspended { reason } => {
                return Err(AdsError::AccountSuspended {
                    account: account.id,
                    reason,
                })
            }
            crate::account::AccountStatus::Closed => {
                return Err(AdsError::AccountClosed {
                    account: account.id,
                })
            }
        }
        self.approved_customer(&account.customer).await?;
        let agreement = self.agreement_on(&account.customer, today).await?;
        let platform_terms = self.platform_agreement_on(&account.platform, today).await?;
        let chart = self.chart;
        let amount = request.amount;
        let funding = request.funding;
        let limit = agreement.terms.credit_limit;
        let prepay = matches!(
            platform_terms.terms.settlement_terms,
            SettlementTerms::Prepay
        );
        let funding_account = if prepay {
            chart.platform(AccountKind::PlatformPrepayments, &account.platform)
        } else {
            chart.platform(AccountKind::PlatformCreditDrawn, &account.platform)
        };
        // The balance checks run on the ledger as it is when the hold is written: again, on the
        // caught-up ledger, if another process's writes made the first decision stale.
        let (customer, platform) = (account.customer, account.platform);
        let check = move |e: &crate::ledger::LedgerEngine| -> Result<()> {
            let position = exposure(e, &chart, &customer);
            match funding {
                Funding::Credit => {
                    let after = position.exposure.checked_add(&amount)?;
                    if after.amount() > limit.amount() {
                        let available = limit.checked_sub(&position.exposure)?;
                        return Err(AdsError::CreditLimitExceeded {
                            customer,
                            requested: amount,
                            exposure: position.exposure,
                            available: if available.is_negative() {
                                Money::zero(amount.currency())
                            } else {
                                available
                            },
                            limit,
                        });
                    }
                }
                Funding::CustomerPrepayment => {
                    let available = position.exposure.negate();
                    if amount.amount() > available.amount() {
                        return Err(AdsError::PrepaymentInsufficient {
                            customer,
                            requested: amount,
                            available: if available.is_negative() {
                                Money::zero(amount.currency())
                            } else {
                                available
                            },
                        });
                    }
                }
            }
            if prepay {
                let funds = e
                    .balance(chart.platform(AccountKind::PlatformPrepayments, &platform))
                    .unwrap_or_default();
                let available = i128::try_from(funds.debits_posted).unwrap_or(i128::MAX)
                    - i128::try_from(funds.credits_posted + funds.credits_pending)
                        .unwrap_or(i128::MAX);
                if amount.to_minor().unwrap_or(0) > available {
                    return Err(AdsError::PlatformFundsInsufficient {
                        platform,
                        requested: amount,
                    });
                }
            }
            Ok(())
        };
        let id = TopUpId::generate(self.ids.as_ref());
        let hold = TransferId::derive(&format!("topup:{id}"));
        let top_up = TopUp {
            id,
            account: account.id,
            customer: account.customer,
            platform: account.platform,
            amount,
            funding: request.funding,
            requested_on: today,
            requested_at: self.clock.now(),
            hold,
            state: TopUpState::Pending,
        };
        let transfer = TransferSpec::pending(
            hold,
            vec![
                Leg::of_money(
                    chart.customer(AccountKind::OtherReceivables, &account.customer),
                    Side::Debit,
                    &amount,
                )?,
                Leg::of_money(funding_account, Side::Credit, &amount)?,
            ],
        )
        .with_meta(
            PostingCode::TopUp.code(),
            date_key(today),
            account.customer.as_uuid().as_u128(),
            account.platform.as_uuid().as_u128(),
        );
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &top_up, Expect::Absent)?;
        self.commit_checked(&idem, vec![], vec![transfer], batch, top_up, check)
            .await
    }

    /// A top-up.
    ///
    /// # Errors
    /// Not found, storage errors.
    #[operation("ads.top_up_record", tenant = self.tenant)]
    pub async fn top_up_record(&self, id: &TopUpId) -> Result<TopUp> {
        Ok(self
            .top_ups()
            .require(&self.tenant, &id.to_string())
            .await?
            .value)
    }

    /// Ask the platform what became of a pending top-up and post or void its hold: posted when
    /// it succeeded, voided when it failed or the platform never received it.
    ///
    /// # Errors
    /// Platform failures (the top-up stays pending), storage errors.
    #[operation("ads.confirm_top_up", tenant = self.tenant)]
    pub async fn confirm_top_up(&self, id: &TopUpId) -> Result<TopUp> {
        let t = self.top_up_record(id).await?;
        if t.state != TopUpState::Pending {
            return Ok(t);
        }
        let account = self.ad_account(&t.account).await?;
        let adapter = self.adapter(&t.platform)?;
        let status = adapter
            .top_up_status(&account.external_id, &t.id.to_string())
            .await
            .map_err(|source| AdsError::platform(adapter.platform_code(), source))?;
        self.resolve_top_up(id, status).await
    }

    pub(super) async fn resolve_top_up(
        &self,
        id: &TopUpId,
        receipt: Option<TopUpReceipt>,
    ) -> Result<TopUp> {
        let Versioned {
            value: mut t,
            version,
        } = self
            .top_ups()
            .require(&self.tenant, &id.to_string())
            .await?;
        if t.state != TopUpState::Pending {
            return Ok(t);
        }
        let unknown_to_platform = receipt.is_none();
        let (state, transfer) = match receipt.map(|r| (r.status, r.platform_ref)) {
            Some((TopUpStatus::Processing, _)) => return Ok(t),
            Some((TopUpStatus::Succeeded, platform_ref)) => (
                TopUpState::Confirmed { platform_ref },
                TransferSpec::post_pending(t.post_id(), t.hold).with_meta(
                    PostingCode::TopUpConfirmed.code(),
                    date_key(self.today()),
                    t.customer.as_uuid().as_u128(),
                    t.platform.as_uuid().as_u128(),
                ),
            ),
            Some((TopUpStatus::Failed { reason }, _)) => (
                TopUpState::Failed { reason },
                TransferSpec::void_pending(t.void_id(), t.hold).with_meta(
                    PostingCode::TopUpFailed.code(),
                    date_key(self.today()),
                    t.customer.as_uuid().as_u128(),
                    t.platform.as_uuid().as_u128(),
                ),
            ),
            None => (
                TopUpState::Failed {
                    reason: "the platform has no record of the top-up".into(),
                },
                TransferSpec::void_pending(t.void_id(), t.hold).with_meta(
                    PostingCode::TopUpFailed.code(),
                    date_key(self.today()),
                    t.customer.as_uuid().as_u128(),
                    t.platform.as_uuid().as_u128(),
                ),
            ),
        };
        t.state = state;
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &t, Expect::Version(version))?;
        match &t.state {
            TopUpState::Confirmed { platform_ref } => {
                let event = TopUpCredited {
                    top_up: t.id,
                    account: t.account,
                    customer: t.customer,
                    platform: t.platform,
                    amount: t.amount,
                    funding: t.funding,
                    platform_ref: platform_ref.clone(),
                    requested_on: t.requested_on,
                };
                self.stage(&mut batch, &event).await?;
            }
            TopUpState::Failed { .. } => {
                let event = TopUpFailed {
                    top_up: t.id,
                    account: t.account,
                    customer: t.customer,
                    platform: t.platform,
                    amount: t.amount,
                    funding: t.funding,
                    unknown_to_platform,
                };
                self.stage(&mut batch, &event).await?;
            }
            TopUpState::Pending => {}
        }
        self.ledger.commit(vec![], vec![transfer], batch).await?;
        Ok(t)
    }

    /// Pending top-ups (awaiting the platform).
    ///
    /// # Errors
    /// Storage errors.
    #[operation("ads.pending_top_ups", tenant = self.tenant)]
    pub async fn pending_top_ups(&self) -> Result<Vec<TopUp>> {
        Ok(self
            .top_ups()
            .lookup_all(&self.tenant, "state", "pending")
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    async fn cash_entry(
        &self,
        op: &str,
        key: &str,
        request: &(impl Serialize + ?Sized),
        legs: Vec<Leg>,
        meta: PostingMeta,
    ) -> Result<TransferId> {
        let (idem, previous) = self.idempotent(op, key, request).await?;
        if let Some(id) = previous {
            return Ok(id);
        }
        let id = TransferId::derive(idem.key());
        let t = TransferSpec::posted(id, legs).with_meta(
            meta.code.code(),
            meta.period,
            meta.party,
            meta.counterparty,
        );
        self.commit(&idem, vec![], vec![t], Batch::new(), id).await
    }

    /// Record a prepayment to a platform (cash → prepaid funds at the platform).
    ///
    /// # Errors
    /// A bad amount, an unknown platform, storage errors.
    #[operation("ads.record_platform_prepayment", tenant = self.tenant, key = key)]
    pub async fn record_platform_prepayment(
        &self,
        platform: &PlatformId,
        amount: Money,
        on: NaiveDate,
        key: &IdempotencyKey,
    ) -> Result<TransferId> {
        let key = key.as_str();
        self.money_in_books(&amount, "amount")?;
        self.platform(platform).await?;
        let legs = vec![
            Leg::of_money(
                self.chart
                    .platform(AccountKind::PlatformPrepayments, platform),
                Side::Debit,
                &amount,
            )?,
            Leg::of_money(self.chart.cash(), Side::Credit, &amount)?,
        ];
        let pid = platform.as_uuid().as_u128();
        self.cash_entry(
            "platform_prepayment",
            key,
            &(platform, amount, on),
            legs,
            PostingMeta {
                code: PostingCode::PlatformPrepayment,
                period: date_key(on),
                party: 0,
                counterparty: pid,
            },
        )
        .await
    }

    /// Record a payment of a platform invoice (cash → trade payables).
    ///
    /// # Errors
    /// A bad amount, an unknown platform, storage errors.
    #[operation("ads.record_platform_payment", tenant = self.tenant, key = key)]
    pub async fn record_platform_payment(
        &self,
        platform: &PlatformId,
        amount: Money,
        on: NaiveDate,
        key: &IdempotencyKey,
    ) -> Result<TransferId> {
        let key = key.as_str();
        self.money_in_books(&amount, "amount")?;
        self.platform(platform).await?;
        let legs = vec![
            Leg::of_money(
                self.chart.platform(AccountKind::TradePayables, platform),
                Side::Debit,
                &amount,
            )?,
            Leg::of_money(self.chart.cash(), Side::Credit, &amount)?,
        ];
        let pid = platform.as_uuid().as_u128();
        self.cash_entry(
            "platform_payment",
            key,
            &(platform, amount, on),
            legs,
            PostingMeta {
                code: PostingCode::PlatformPayment,
                period: date_key(on),
                party: 0,
                counterparty: pid,
            },
        )
        .await
    }

    /// Record a rebate a platform paid in cash.
    ///
    /// # Errors
    /// A bad amount, an unknown platform, storage errors.
    #[operation("ads.record_platform_rebate_cash", tenant = self.tenant, key = key)]
    pub async fn record_platform_rebate_cash(
        &self,
        platform: &PlatformId,
        amount: Money,
        on: NaiveDate,
        key: &IdempotencyKey,
    ) -> Result<TransferId> {
        let key = key.as_str();
        self.money_in_books(&amount, "amount")?;
        self.platform(platform).await?;
        let legs = vec![
            Leg::of_money(self.chart.cash(), Side::Debit, &amount)?,
            Leg::of_money(
                self.chart
                    .platform(AccountKind::RebatesReceivable, platform),
                Side::Credit,
                &amount,
            )?,
        ];
        let pid = platform.as_uuid().as_u128();
        self.cash_entry(
            "platform_rebate_cash",
            key,
            &(platform, amount, on),
            legs,
            PostingMeta {
                code: PostingCode::PlatformRebateCash,
                period: date_key(on),
                party: 0,
                counterparty: pid,
            },
        )
        .await
    }

    /// Record staff costs of a service type for a month (part of cost on the gross basis).
    ///
    /// # Errors
    /// A bad amount, storage errors.
    #[operation("ads.record_staff_costs", tenant = self.tenant, key = key)]
    pub async fn record_staff_costs(
        &self,
        month: Month,
        service: ServiceType,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<TransferId> {
        let key = key.as_str();
        self.money_in_books(&amount, "amount")?;
        let legs = vec![
            Leg::of_money(
                self.chart.service(AccountKind::StaffCosts, service),
                Side::Debit,
                &amount,
            )?,
            Leg::of_money(self.chart.cash(), Side::Credit, &amount)?,
        ];
        self.cash_entry(
            "staff_costs",
            key,
            &(month, service, amount),
            legs,
            PostingMeta {
                code: PostingCode::StaffCosts,
                period: month.key(),
                party: service.code(),
                counterparty: 0,
            },
        )
        .await
    }

    /// Record a payment from a customer: applied to its open invoices, oldest due first; the
    /// rest is kept as a prepayment.
    ///
    /// # Errors
    /// A bad amount, an unknown customer, storage errors.
    #[operation("ads.record_receipt", tenant = self.tenant, key = key)]
    pub async fn record_receipt(
        &self,
        customer: &CustomerId,
        amount: Money,
        on: NaiveDate,
        key: &IdempotencyKey,
    ) -> Result<Receipt> {
        let key = key.as_str();
        let _money = self.money.lock().await;
        let (idem, previous) = self
            .idempotent("receipt", key, &(customer, amount, on))
            .await?;
        if let Some(r) = previous {
            return Ok(r);
        }
        self.money_in_books(&amount, "amount")?;
        self.customer(customer).await?;
        let open: Vec<Versioned<Invoice>> = self
            .invoices()
            .lookup_all(&self.tenant, "customer", &customer.to_string())
            .await?;
        let refs: Vec<&Invoice> = open.iter().map(|v| &v.value).collect();
        let (applied, rest) = apply_fifo(amount, &refs)?;
        let mut batch = Batch::new();
        for (month, part) in &applied {
            if let Some(v) = open.iter().find(|v| v.value.month == *month) {
                let mut inv = v.value.clone();
                inv.collected = inv.collected.checked_add(part)?;
                batch.put_entity(&self.tenant, &inv, Expect::Version(v.version))?;
            }
        }
        let receipt = Receipt {
            id: ReceiptId::generate(self.ids.as_ref()),
            customer: *customer,
            amount,
            received_on: on,
            applied: applied.clone(),
            to_deposit: rest,
        };
        batch.put_entity(&self.tenant, &receipt, Expect::Absent)?;
        let to_invoices = amount.checked_sub(&rest)?;
        let mut legs = vec![Leg::of_money(self.chart.cash(), Side::Debit, &amount)?];
        if to_invoices.is_positive() {
            legs.push(Leg::of_money(
                self.chart.customer(AccountKind::TradeReceivables, customer),
                Side::Credit,
                &to_invoices,
            )?);
        }
        if rest.is_positive() {
            legs.push(Leg::of_money(
                self.chart.customer(AccountKind::CustomerDeposits, customer),
                Side::Credit,
                &rest,
            )?);
        }
        let t = TransferSpec::posted(TransferId::derive(idem.key()), legs).with_meta(
            PostingCode::CustomerReceipt.code(),
            date_key(on),
            customer.as_uuid().as_u128(),
            0,
        );
        self.commit(&idem, vec![], vec![t], batch, receipt).await
    }

    /// A customer's invoices.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("ads.invoices_of", tenant = self.tenant)]
    pub async fn invoices_of(&self, customer: &CustomerId) -> Result<Vec<Invoice>> {
        Ok(self
            .invoices()
            .lookup_all(&self.tenant, "customer", &customer.to_string())
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }
}
