//! Entitlements: what each tenant may use, checked locally and fast.
//!
//! Active subscriptions (and manual grants) become [`Grant`]s: modules enabled, seats of
//! seat-limited modules, usage quotas per unit and period. A tenant's grants compile into an
//! [`EntitlementSet`] for the current date — enabled modules with every module they require,
//! seat limits per function (seats of one module from several grants add up), quotas per unit —
//! held in memory by the tenant's [`Entitlements`] handle. Checks never touch storage.
//!
//! ## Where to start
//! - Other crates check against [`Entitlements`]: [`is_enabled`](Entitlements::is_enabled),
//!   [`require`](Entitlements::require), [`seat_available`](Entitlements::seat_available),
//!   [`assign_seat`](Entitlements::assign_seat) / [`unassign_seat`](Entitlements::unassign_seat),
//!   and [`meter`](Entitlements::meter) for usage
//!   ([`UsageMeter`](crate::metering::UsageMeter)).
//! - In tests, build one from a [`Grant`] with [`Entitlements::from_grant`].
//! - In services, get them from an [`EntitlementRegistry`] over the [`Store`].
//!
//! ## What happens on renewal
//! A grant covers one term. Renewing a subscription writes a new grant for the new term: the
//! included quotas start afresh at the new term's amounts, seats follow the renewed seat
//! count (assignments are kept; if fewer seats were renewed than are assigned, no new
//! assignment is accepted until enough are freed), and **usage packs bought in a term expire
//! with that term** (they are co-terminated with it and do not carry over). Monthly quotas
//! reset on the first day of each calendar month in the tenant's zone, and never carry over.
//!
//! [`Store`]: marketingforce_core::storage::Store

mod grant;
pub(crate) mod handle;
mod registry;
mod seats;
mod set;

pub use grant::{Grant, GrantId, GrantSource, QuotaGrant, QuotaSource, SeatGrant};
pub use handle::{Entitlements, EntitlementsReport, SalesHints};
pub use registry::{EntitlementRegistry, RegistryBuilder, GRANTS_JOURNAL};
pub use seats::{AccountId, SeatAssignment, SeatChange, SeatEvent, SEAT_JOURNAL};
pub use set::{EntitlementSet, QuotaLine};
