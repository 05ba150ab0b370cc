//! Seat assignments: which staff accounts hold the seats of a seat-limited module.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use marketingforce_core::storage::{Entity, IndexEntry};
use marketingforce_core::tenant::TenantId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::ModuleId;
use crate::error::{ModulesError, Result};

/// A staff account (a salesperson, an operator) that can hold a seat: the caller's own user id
/// in text form, 1–128 characters without control characters.
///
/// ```
/// use marketingforce_modules::entitlements::AccountId;
///
/// let a = AccountId::new("user_0192f0c1e3d47a8b").unwrap();
/// assert_eq!(a.as_str(), "user_0192f0c1e3d47a8b");
/// assert!(AccountId::new("").is_err());
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    /// Validate an account id.
    ///
    /// # Errors
    /// A validation error on `account`.
    pub fn new(id: impl Into<String>) -> Result<AccountId> {
        let id = id.into();
        if id.trim().is_empty() {
            return Err(ModulesError::validation("account", "must not be blank"));
        }
        if id.len() > 128 {
            return Err(ModulesError::validation("account", "longer than 128 bytes"));
        }
        if id.chars().any(char::is_control) {
            return Err(ModulesError::validation(
                "account",
                "must not contain control characters",
            ));
        }
        Ok(AccountId(id))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountId {
    type Error = ModulesError;
    fn try_from(s: String) -> Result<Self> {
        AccountId::new(s)
    }
}

impl From<AccountId> for String {
    fn from(a: AccountId) -> String {
        a.0
    }
}

impl FromStr for AccountId {
    type Err = ModulesError;
    fn from_str(s: &str) -> Result<Self> {
        AccountId::new(s)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Borrow<str> for AccountId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A stored seat assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatAssignment {
    /// The tenant.
    pub tenant: TenantId,
    /// The seat-limited module.
    pub module: ModuleId,
    /// The account holding the seat.
    pub account: AccountId,
    /// When it was assigned.
    pub assigned_at: DateTime<Utc>,
}

impl Entity for SeatAssignment {
    const COLLECTION: &'static str = "modules.seats";
    fn key(&self) -> String {
        format!("{}/{}", self.module, self.account)
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new("module", self.module.as_str())]
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

/// A journaled seat change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatEvent {
    /// The module.
    pub module: ModuleId,
    /// The account.
    pub account: AccountId,
    /// What happened.
    pub change: SeatChange,
    /// When.
    pub at: DateTime<Utc>,
}

/// The journal of seat changes.
pub const SEAT_JOURNAL: &str = "modules.seat_events";

/// The outcome of an assign or unassign call (both are idempotent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatChange {
    /// The account now holds a seat.
    Assigned,
    /// The account already held a seat; nothing changed.
    AlreadyAssigned,
    /// The account's seat was freed.
    Unassigned,
    /// The account held no seat; nothing changed.
    NotAssigned,
}
