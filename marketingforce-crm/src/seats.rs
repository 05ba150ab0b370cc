//! The seat seam: staff accounts are seat-limited ("functions designed for individual staff are
//! limited to the number of accounts bought"). The CRM asks a [`SeatGate`] before activating a
//! staff account and tells it when one is released.
//!
//! [`UnlimitedSeats`] is the default. [`EntitlementSeats`] is the adapter onto the
//! entitlements of `marketingforce-modules`: each staff account holds a seat of a seat-limited
//! module (the sales workbench by default), bought with the tenant's subscription. Any other
//! policy (a fixed count, an external licence server) implements the trait.
//!
//! ```
//! use marketingforce_crm::seats::{FixedSeats, SeatGate};
//! use marketingforce_crm::ids::UserId;
//! use marketingforce_core::tenant::TenantId;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let seats = FixedSeats::new(1);
//! let t = TenantId::new();
//! seats.assign(&t, &UserId::new()).await.unwrap();
//! assert!(seats.assign(&t, &UserId::new()).await.is_err());
//! # });
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use marketingforce_core::tenant::TenantId;

use std::sync::Arc;

use marketingforce_modules::catalog::ModuleId;
use marketingforce_modules::entitlements::{AccountId, EntitlementRegistry};
use marketingforce_modules::ModulesError;

use crate::error::{CrmError, Result};
use crate::ids::UserId;

/// Decides whether a staff member may hold a seat of the CRM.
#[async_trait]
pub trait SeatGate: Send + Sync + fmt::Debug {
    /// Give `user` a seat (idempotent for a user who has one).
    ///
    /// # Errors
    /// [`CrmError::SeatLimitReached`] when no seat is free.
    async fn assign(&self, tenant: &TenantId, user: &UserId) -> Result<()>;

    /// Release `user`'s seat (no-op when none is held).
    ///
    /// # Errors
    /// Backend errors of the policy's store.
    async fn release(&self, tenant: &TenantId, user: &UserId) -> Result<()>;
}

/// No limit.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnlimitedSeats;

#[async_trait]
impl SeatGate for UnlimitedSeats {
    async fn assign(&self, _: &TenantId, _: &UserId) -> Result<()> {
        Ok(())
    }
    async fn release(&self, _: &TenantId, _: &UserId) -> Result<()> {
        Ok(())
    }
}

/// A fixed number of seats per tenant, held in memory (tests, embedded use).
#[derive(Debug, Default)]
pub struct FixedSeats {
    seats: usize,
    held: Mutex<HashMap<TenantId, HashSet<UserId>>>,
}

impl FixedSeats {
    /// `seats` seats per tenant.
    pub fn new(seats: usize) -> FixedSeats {
        FixedSeats {
            seats,
            held: Mutex::default(),
        }
    }
}

#[async_trait]
impl SeatGate for FixedSeats {
    async fn assign(&self, tenant: &TenantId, user: &UserId) -> Result<()> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let set = held.entry(*tenant).or_default();
        if set.contains(user) {
            return Ok(());
        }
        if set.len() >= self.seats {
            return Err(CrmError::SeatLimitReached {
                user: *user,
                reason: format!("all {} seats are taken", self.seats),
            });
        }
        set.insert(*user);
        Ok(())
    }

    async fn release(&self, tenant: &TenantId, user: &UserId) -> Result<()> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(set) = held.get_mut(tenant) {
            set.remove(user);
        }
        Ok(())
    }
}

/// Seats from the tenant's entitlements (`marketingforce-modules`): activating a staff account
/// assigns it a seat of `module` (default: the seat-limited sales workbench); departures free it.
#[derive(Debug, Clone)]
pub struct EntitlementSeats {
    registry: Arc<EntitlementRegistry>,
    module: ModuleId,
}

impl EntitlementSeats {
    /// Seats of the sales workbench module.
    pub fn new(registry: Arc<EntitlementRegistry>) -> EntitlementSeats {
        EntitlementSeats::for_module(registry, ModuleId::SALES_WORKBENCH)
    }

    /// Seats of another seat-limited module.
    pub fn for_module(registry: Arc<EntitlementRegistry>, module: ModuleId) -> EntitlementSeats {
        EntitlementSeats { registry, module }
    }
}

fn seat_error(user: &UserId, e: ModulesError) -> CrmError {
    match e {
        ModulesError::Core(core) => CrmError::Core(core),
        other => CrmError::SeatLimitReached {
            user: *user,
            reason: other.to_string(),
        },
    }
}

#[async_trait]
impl SeatGate for EntitlementSeats {
    async fn assign(&self, tenant: &TenantId, user: &UserId) -> Result<()> {
        let ents = self
            .registry
            .load(tenant)
            .await
            .map_err(|e| seat_error(user, e))?;
        let account = AccountId::new(user.to_string()).map_err(|e| seat_error(user, e))?;
        ents.assign_seat(&self.module, &account)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                ModulesError::Core(marketingforce_core::Error::Validation { reason, .. }) => {
                    CrmError::SeatLimitReached {
                        user: *user,
                        reason,
                    }
                }
                other => seat_error(user, other),
            })
    }

    async fn release(&self, tenant: &TenantId, user: &UserId) -> Result<()> {
        let ents = self
            .registry
            .load(tenant)
            .await
            .map_err(|e| seat_error(user, e))?;
        let account = AccountId::new(user.to_string()).map_err(|e| seat_error(user, e))?;
        ents.unassign_seat(&self.module, &account)
            .await
            .map(|_| ())
            .map_err(|e| seat_error(user, e))
    }
}
