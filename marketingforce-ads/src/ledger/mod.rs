//! A double-entry ledger in the manner of TigerBeetle.
//!
//! - **Accounts** carry a currency, a client code and owner, and optional **balance
//!   constraints** checked when a transfer is written ([`AccountFlags`]): a prepaid deposit whose
//!   debits may never exceed its credits, prepaid funds at a platform whose credits may never
//!   exceed its debits.
//! - **Transfers** have **client-chosen ids** ([`TransferId`]): submitting an id again with the
//!   same content is a no-op ([`Outcome::Exists`]), with different content an error. A transfer
//!   has two or more [`Leg`]s that must **balance per currency**. Transfers are **immutable**:
//!   corrections are new transfers.
//! - **Two-phase transfers**: a [`TransferKind::Pending`] transfer reserves its amounts (counted
//!   against constraints) until a [`TransferKind::PostPending`] or [`TransferKind::VoidPending`]
//!   resolves it — e.g. a top-up awaiting the platform's confirmation.
//! - **Balances as of any time**: every transfer gets a strictly increasing commit timestamp;
//!   [`LedgerEngine::balance_at`] answers for any instant.
//!
//! [`LedgerEngine`] is the pure in-memory engine (over a million two-leg transfers a second on
//! one core); [`Ledger`] makes it durable through the storage contract with group commit.

mod durable;
mod engine;
mod error;
mod ids;
mod model;

pub use durable::{Ledger, LedgerCommit, DEFAULT_JOURNAL};
pub use engine::{Checkpoint, LedgerEngine, TransferView, MAX_LEGS};
pub use error::{AccountError, TransferError};
pub use ids::{AccountId, IdBuildHasher, IdHasher, TransferId};
pub use model::{
    minor_to_money, Account, AccountFlags, Balance, Leg, Outcome, PendingState, Side, Transfer,
    TransferKind, TransferSpec,
};
