//! The capture gate: lead capture is a paid function. Before a capture the CRM asks a
//! [`CaptureGate`] whether the tenant may capture at all (it bought lead management) and how
//! many live leads it may keep (its information-volume quota, `leads_stored`); a capture that
//! would create a lead beyond it is refused with nothing written. After a capture that created
//! leads the gate is told the tenant's new number of live leads, so the usage meter shows it.
//!
//! [`OpenCapture`] (the default) admits everything. [`EntitlementCaptureGate`] is the adapter
//! onto the entitlements of `marketingforce-modules`: module `mf.lead_management` required,
//! the `leads_stored` quota as the ceiling, the level metered as usage.
//!
//! | operation | module required | unit metered |
//! |---|---|---|
//! | `Crm::capture`, `capture_inquiry`, `capture_batch`, `import_csv` | `mf.lead_management` | `leads_stored` (a level: live leads) |
//!
//! ## Several processes
//!
//! The ceiling is checked against the CRM's own count of live leads, which is part of the
//! tenant state every capture proves current against the store before it commits (a capture
//! of another process moves the journal head, and the command is decided again on the rebuilt
//! state). Two processes can therefore not both take the last lead of the quota. The usage
//! level written afterwards is a report, idempotent per level (the same level is recorded once
//! whichever process records it); a failure to record it does not fail the capture, which did
//! happen, and the next capture records the level again.

use marketingforce_core::IdempotencyKey;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use marketingforce_core::tenant::TenantId;
use marketingforce_modules::catalog::{ModuleId, UsageUnit};
use marketingforce_modules::entitlements::EntitlementRegistry;

use crate::error::Result;

/// What a tenant's captures may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CaptureAllowance {
    /// The most live leads the tenant may keep (`None`: no ceiling).
    pub max_live_leads: Option<u64>,
}

/// Decides whether a tenant may capture leads, and learns how many it keeps.
#[async_trait]
pub trait CaptureGate: Send + Sync + fmt::Debug {
    /// May `tenant` capture, and up to how many live leads?
    ///
    /// # Errors
    /// The tenant is not entitled ([`CrmError::Entitlements`](crate::CrmError::Entitlements));
    /// backend errors.
    async fn admit(&self, tenant: &TenantId) -> Result<CaptureAllowance>;

    /// `tenant` now keeps `live` live leads (after a capture that created some).
    ///
    /// # Errors
    /// Backend errors (the caller does not fail the capture for them).
    async fn stored(&self, tenant: &TenantId, live: u64) -> Result<()>;
}

/// No gate: every tenant may capture without a ceiling (the default; for embedders that sell
/// nothing by module).
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenCapture;

#[async_trait]
impl CaptureGate for OpenCapture {
    async fn admit(&self, _: &TenantId) -> Result<CaptureAllowance> {
        Ok(CaptureAllowance::default())
    }

    async fn stored(&self, _: &TenantId, _: u64) -> Result<()> {
        Ok(())
    }
}

/// Capture under the tenant's entitlements: `module` (default `mf.lead_management`)
/// required, the `leads_stored` quota the ceiling, the number of live leads metered.
#[derive(Debug, Clone)]
pub struct EntitlementCaptureGate {
    registry: Arc<EntitlementRegistry>,
    module: ModuleId,
}

impl EntitlementCaptureGate {
    /// Gate on `mf.lead_management` of `registry`'s tenants.
    pub fn new(registry: Arc<EntitlementRegistry>) -> EntitlementCaptureGate {
        EntitlementCaptureGate {
            registry,
            module: ModuleId::LEAD_MANAGEMENT,
        }
    }

    /// Require `module` instead.
    #[must_use]
    pub fn module(mut self, module: ModuleId) -> EntitlementCaptureGate {
        self.module = module;
        self
    }
}

#[async_trait]
impl CaptureGate for EntitlementCaptureGate {
    async fn admit(&self, tenant: &TenantId) -> Result<CaptureAllowance> {
        let entitlements = self.registry.load(tenant).await?;
        entitlements.require(&self.module)?;
        let balance = entitlements.meter().balance(&UsageUnit::LeadsStored);
        Ok(CaptureAllowance {
            max_live_leads: Some(balance.limit.get()),
        })
    }

    async fn stored(&self, tenant: &TenantId, live: u64) -> Result<()> {
        let meter = self.registry.load(tenant).await?.meter();
        let used = meter.balance(&UsageUnit::LeadsStored).used.get();
        if live > used {
            // One key per level: two processes recording the same level record it once.
            meter.consume(
                &UsageUnit::LeadsStored,
                live - used,
                &IdempotencyKey::new(format!("crm.leads_stored.level.{live}"))?,
            )?;
        }
        Ok(())
    }
}
