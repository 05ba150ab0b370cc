//! Customers, their qualification review and framework agreements; platforms and their
//! agreements.

use chrono::NaiveDate;
use marketingforce_core::storage::{Batch, Collection, Entity, Expect, Versioned};
use marketingforce_core::telemetry::operation;
use marketingforce_core::IdempotencyKey;
use serde::{Deserialize, Serialize};

use super::AdOps;
use crate::agreement::{
    AgreementTerms, FrameworkAgreement, MediaPlatform, PlatformAgreement, PlatformAgreementTerms,
    PlatformCategory,
};
use crate::config::Config;
use crate::error::{AdsError, Result};
use crate::ids::{AgreementId, CustomerId, PlatformAgreementId, PlatformId};
use crate::party::{
    review, Customer, NewCustomer, QualificationDossier, QualificationReview, QualificationStatus,
    ReviewOutcome,
};

/// A record that makes two processes' concurrent writes of one thing conflict in the store
/// (neither sees the other's reads): the claim of a unique value, written only if absent
/// (`licence:{number}`), or the roster of an owner's agreements, written at the version read
/// before the agreements were (`agreements:customer:{id}`, `agreements:platform:{id}`), so a
/// check read before it ("no overlapping agreement", "no customer with this licence") holds
/// when the write commits, or the write is refused as a conflict and its retry checks again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Guard {
    key: String,
    /// Writes made under the guard.
    writes: u64,
}

impl Entity for Guard {
    const COLLECTION: &'static str = "ads.guards";

    fn key(&self) -> String {
        self.key.clone()
    }
}

impl AdOps {
    /// The guard `key` as read now, and how to write it back in the batch its check guards.
    async fn guard(&self, key: String) -> Result<(Guard, Expect)> {
        let stored = Collection::<Guard>::new(self.store.clone())
            .get(&self.tenant, &key)
            .await?;
        Ok(match stored {
            Some(v) => (
                Guard {
                    key,
                    writes: v.value.writes.saturating_add(1),
                },
                Expect::Version(v.version),
            ),
            None => (Guard { key, writes: 1 }, Expect::Absent),
        })
    }

    fn customers(&self) -> Collection<Customer> {
        Collection::new(self.store.clone())
    }

    fn agreements(&self) -> Collection<FrameworkAgreement> {
        Collection::new(self.store.clone())
    }

    fn platforms(&self) -> Collection<MediaPlatform> {
        Collection::new(self.store.clone())
    }

    fn platform_agreements(&self) -> Collection<PlatformAgreement> {
        Collection::new(self.store.clone())
    }

    /// Register an advertising customer (pending qualification) and open its ledger accounts.
    ///
    /// # Errors
    /// Invalid input naming the field, a licence number already registered, storage errors,
    /// an idempotency mismatch.
    #[operation("ads.register_customer", tenant = self.tenant, key = key)]
    pub async fn register_customer(
        &self,
        new: NewCustomer,
        key: &IdempotencyKey,
    ) -> Result<Customer> {
        let key = key.as_str();
        let (idem, previous) = self.idempotent("register_customer", key, &new).await?;
        if let Some(c) = previous {
            return Ok(c);
        }
        new.validate()?;
        let licence = new.licence_number.trim().to_string();
        // Claimed with the customer: two processes registering one licence cannot both succeed.
        let claim = Guard {
            key: format!("licence:{licence}"),
            writes: 1,
        };
        if let Some(existing) = self
            .customers()
            .lookup_all(&self.tenant, "licence", &licence)
            .await?
            .first()
        {
            return Err(AdsError::validation(
                "licence_number",
                format!("already registered as customer {}", existing.value.id),
            ));
        }
        let customer = Customer {
            id: CustomerId::generate(self.ids.as_ref()),
            name: new.name.trim().to_string(),
            kind: new.kind,
            industry: new.industry.trim().to_lowercase(),
            licence_number: licence,
            qualification: QualificationStatus::Pending,
            registered_at: self.clock.now(),
        };
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &customer, Expect::Absent)?;
        batch.put_entity(&self.tenant, &claim, Expect::Absent)?;
        let accounts = self.chart.customer_accounts(&customer.id);
        self.commit(&idem, accounts, vec![], batch, customer).await
    }

    /// A customer.
    ///
    /// # Errors
    /// [`AdsError::Core`] not found, or storage errors.
    #[operation("ads.customer", tenant = self.tenant)]
    pub async fn customer(&self, id: &CustomerId) -> Result<Customer> {
        Ok(self
            .customers()
            .require(&self.tenant, &id.to_string())
            .await?
            .value)
    }

    /// Review a customer's qualification dossier against the configured policy: approved, or
    /// rejected with every reason.
    ///
    /// # Errors
    /// An unknown customer, a dossier for another licence, storage errors.
    #[operation("ads.review_customer", tenant = self.tenant, key = key)]
    pub async fn review_customer(
        &self,
        customer: &CustomerId,
        dossier: &QualificationDossier,
        reviewer: &str,
        key: &IdempotencyKey,
    ) -> Result<QualificationReview> {
        let key = key.as_str();
        #[derive(Serialize)]
        struct Req<'a> {
            customer: &'a CustomerId,
            dossier: &'a QualificationDossier,
            reviewer: &'a str,
        }
        let req = Req {
            customer,
            dossier,
            reviewer,
        };
        let (idem, previous) = self.idempotent("review_customer", key, &req).await?;
        if let Some(r) = previous {
            return Ok(r);
        }
        if reviewer.trim().is_empty() {
            return Err(AdsError::validation("reviewer", "must not be blank"));
        }
        let Versioned {
            value: mut c,
            version,
        } = self
            .customers()
            .require(&self.tenant, &customer.to_string())
            .await?;
        if dossier.licence.number.trim() != c.licence_number {
            // The number is not quoted: licence numbers identify their holders.
            return Err(AdsError::validation(
                "dossier.licence.number",
                "is not the licence the customer registered with",
            ));
        }
        let result = review(
            &self.config.qualification_policy,
            dossier,
            self.today(),
            reviewer,
        );
        c.qualification = match result.outcome {
            ReviewOutcome::Approved => QualificationStatus::Approved {
                review: result.clone(),
            },
            ReviewOutcome::Rejected => QualificationStatus::Rejected {
                review: result.clone(),
            },
        };
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &c, Expect::Version(version))?;
        self.commit(&idem, vec![], vec![], batch, result).await
    }

    pub(crate) async fn approved_customer(&self, id: &CustomerId) -> Result<Customer> {
        let c = self.customer(id).await?;
        if !c.qualification.is_approved() {
            return Err(AdsError::CustomerNotApproved {
                customer: c.id,
                status: c.qualification.to_string(),
            });
        }
        Ok(c)
    }

    /// Sign a framework agreement with an approved customer.
    ///
    /// # Errors
    /// [`AdsError::CustomerNotApproved`], invalid terms naming the field (credit terms beyond
    /// the policy, a term longer than a year…), a term overlapping another agreement, storage
    /// errors.
    #[operation("ads.sign_agreement", tenant = self.tenant, key = key)]
    pub async fn sign_agreement(
        &self,
        customer: &CustomerId,
        terms: AgreementTerms,
        key: &IdempotencyKey,
    ) -> Result<FrameworkAgreement> {
        let key = key.as_str();
        let (idem, previous) = self
            .idempotent("sign_agreement", key, &(customer, &terms))
            .await?;
        if let Some(a) = previous {
            return Ok(a);
        }
        self.approved_customer(customer).await?;
        self.store_agreement(&idem, *customer, terms, None).await
    }

    /// Renew an agreement for the following year on the same terms.
    ///
    /// # Errors
    /// An unknown agreement, an overlap with an agreement already covering the next year,
    /// a customer no longer approved, storage errors.
    #[operation("ads.renew_agreement", tenant = self.tenant, key = key)]
    pub async fn renew_agreement(
        &self,
        agreement: &AgreementId,
        key: &IdempotencyKey,
    ) -> Result<FrameworkAgreement> {
        let key = key.as_str();
        let (idem, previous) = self.idempotent("renew_agreement", key, agreement).await?;
        if let Some(a) = previous {
            return Ok(a);
        }
        let current = self
            .agreements()
            .require(&self.tenant, &agreement.to_string())
            .await?
            .value;
        self.approved_customer(&current.customer).await?;
        self.store_agreement(
            &idem,
            current.customer,
            current.renewal_terms(),
            Some(current.id),
        )
        .await
    }

    async fn store_agreement(
        &self,
        idem: &marketingforce_core::storage::Idempotent,
        customer: CustomerId,
        terms: AgreementTerms,
        renews: Option<AgreementId>,
    ) -> Result<FrameworkAgreement> {
        terms.validate(&self.config.credit_policy)?;
        if terms.credit_limit.currency() != self.config.currency {
            return Err(AdsError::validation(
                "credit_limit",
                format!(
                    "{} is not in the books' currency {}",
                    terms.credit_limit, self.config.currency
                ),
            ));
        }
        // The roster first: an agreement committed after this read moves it, and this one's
        // commit is then refused.
        let (roster, expect) = self
            .guard(format!("agreements:customer:{customer}"))
            .await?;
        for a in self.agreements_of(&customer).await? {
            if a.terms.start <= terms.end && terms.start <= a.terms.end {
                return Err(AdsError::validation(
                    "start",
                    format!(
                        "{}..{} overlaps agreement {} ({}..{})",
                        terms.start, terms.end, a.id, a.terms.start, a.terms.end
                    ),
                ));
            }
        }
        let agreement = FrameworkAgreement {
            id: AgreementId::generate(self.ids.as_ref()),
            customer,
            renews,
            terms,
        };
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &agreement, Expect::Absent)?;
        batch.put_entity(&self.tenant, &roster, expect)?;
        self.commit(idem, vec![], vec![], batch, agreement).await
    }

    /// A customer's agreements.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("ads.agreements_of", tenant = self.tenant)]
    pub async fn agreements_of(&self, customer: &CustomerId) -> Result<Vec<FrameworkAgreement>> {
        Ok(self
            .agreements()
            .lookup_all(&self.tenant, "customer", &customer.to_string())
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// The customer's agreement covering `date`.
    ///
    /// # Errors
    /// [`AdsError::NoAgreement`], storage errors.
    #[operation("ads.agreement_on", tenant = self.tenant)]
    pub async fn agreement_on(
        &self,
        customer: &CustomerId,
        date: NaiveDate,
    ) -> Result<FrameworkAgreement> {
        self.agreements_of(customer)
            .await?
            .into_iter()
            .find(|a| a.covers(date))
            .ok_or(AdsError::NoAgreement {
                customer: *customer,
                date,
            })
    }

    /// Register a media platform and open its ledger accounts.
    ///
    /// # Errors
    /// A blank name or code, a code already registered, storage errors.
    #[operation("ads.register_platform", tenant = self.tenant, key = key)]
    pub async fn register_platform(
        &self,
        name: &str,
        code: &str,
        category: PlatformCategory,
        key: &IdempotencyKey,
    ) -> Result<MediaPlatform> {
        let key = key.as_str();
        let (idem, previous) = self
            .idempotent("register_platform", key, &(name, code, category))
            .await?;
        if let Some(p) = previous {
            return Ok(p);
        }
        if name.trim().is_empty() {
            return Err(AdsError::validation("name", "must not be blank"));
        }
        if code.trim().is_empty() {
            return Err(AdsError::validation("code", "must not be blank"));
        }
        if !self
            .platforms()
            .lookup_all(&self.tenant, "code", code)
            .await?
            .is_empty()
        {
            return Err(AdsError::validation(
                "code",
                format!("platform {code:?} is already registered"),
            ));
        }
        let platform = MediaPlatform {
            id: PlatformId::generate(self.ids.as_ref()),
            name: name.trim().to_string(),
            code: code.trim().to_string(),
            category,
        };
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &platform, Expect::Absent)?;
        let accounts = self.chart.platform_accounts(&platform.id);
        self.commit(&idem, accounts, vec![], batch, platform).await
    }

    /// A platform.
    ///
    /// # Errors
    /// Not found, storage errors.
    #[operation("ads.platform", tenant = self.tenant)]
    pub async fn platform(&self, id: &PlatformId) -> Result<MediaPlatform> {
        Ok(self
            .platforms()
            .require(&self.tenant, &id.to_string())
            .await?
            .value)
    }

    /// Record our agreement with a platform.
    ///
    /// # Errors
    /// Invalid terms naming the field, a currency other than the books', an overlap with another
    /// agreement, storage errors.
    #[operation("ads.sign_platform_agreement", tenant = self.tenant, key = key)]
    pub async fn sign_platform_agreement(
        &self,
        platform: &PlatformId,
        terms: PlatformAgreementTerms,
        key: &IdempotencyKey,
    ) -> Result<PlatformAgreement> {
        let key = key.as_str();
        let (idem, previous) = self
            .idempotent("sign_platform_agreement", key, &(platform, &terms))
            .await?;
        if let Some(a) = previous {
            return Ok(a);
        }
        self.platform(platform).await?;
        terms.validate()?;
        if terms.currency != self.config.currency {
            return Err(AdsError::validation(
                "currency",
                format!(
                    "{} is not the books' currency {}",
                    terms.currency, self.config.currency
                ),
            ));
        }
        let (roster, expect) = self
            .guard(format!("agreements:platform:{platform}"))
            .await?;
        for a in self.platform_agreements_of(platform).await? {
            if a.terms.start <= terms.end && terms.start <= a.terms.end {
                return Err(AdsError::validation(
                    "start",
                    format!("overlaps platform agreement {}", a.id),
                ));
            }
        }
        let agreement = PlatformAgreement {
            id: PlatformAgreementId::generate(self.ids.as_ref()),
            platform: *platform,
            terms,
        };
        let mut batch = Batch::new();
        batch.put_entity(&self.tenant, &agreement, Expect::Absent)?;
        batch.put_entity(&self.tenant, &roster, expect)?;
        self.commit(&idem, vec![], vec![], batch, agreement).await
    }

    /// A platform's agreements.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("ads.platform_agreements_of", tenant = self.tenant)]
    pub async fn platform_agreements_of(
        &self,
        platform: &PlatformId,
    ) -> Result<Vec<PlatformAgreement>> {
        Ok(self
            .platform_agreements()
            .lookup_all(&self.tenant, "platform", &platform.to_string())
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// The platform agreement covering `date`.
    ///
    /// # Errors
    /// [`AdsError::NoPlatformAgreement`], storage errors.
    #[operation("ads.platform_agreement_on", tenant = self.tenant)]
    pub async fn platform_agreement_on(
        &self,
        platform: &PlatformId,
        date: NaiveDate,
    ) -> Result<PlatformAgreement> {
        self.platform_agreements_of(platform)
            .await?
            .into_iter()
            .find(|a| a.covers(date))
            .ok_or(AdsError::NoPlatformAgreement {
                platform: *platform,
                date,
            })
    }
}
