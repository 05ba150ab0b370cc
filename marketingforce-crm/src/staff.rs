//! Staff: salespeople, managers, administrators, dealer accounts and auditors, with levels and
//! teams. Staff accounts are seat-limited (see [`crate::seats`]).

use chrono::{DateTime, Utc};
use marketingforce_core::storage::{Entity, IndexEntry};
use marketingforce_core::tenant::TenantId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::ids::{TeamId, UserId};

/// What a staff member does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Works assigned leads.
    Salesperson,
    /// A dealer's account: works the leads allocated to the dealer.
    Dealer,
    /// Manages teams: sees their leads, receives escalations.
    Manager,
    /// Sees and does everything in the tenant.
    Admin,
    /// Reviews access logs; sees masked data only.
    Auditor,
}

impl Role {
    /// Whether leads can be assigned to this role.
    pub fn takes_leads(self) -> bool {
        matches!(self, Role::Salesperson | Role::Dealer | Role::Manager)
    }
}

/// A staff member of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Staff {
    /// Id.
    pub id: UserId,
    /// Tenant.
    pub tenant: TenantId,
    /// Display name (staff, not customer data).
    pub name: String,
    /// Role.
    pub role: Role,
    /// Seniority level 1–9; masking and visibility depend on it.
    pub level: u8,
    /// The team the member belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamId>,
    /// Teams the member manages.
    #[serde(default)]
    pub manages: Vec<TeamId>,
    /// Whether the member is still active (departed members keep their record).
    pub active: bool,
    /// Most open leads the member may hold (least-loaded allocation respects it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// When the member joined.
    pub joined_at: DateTime<Utc>,
}

impl Staff {
    /// A new active member.
    pub fn new(
        id: UserId,
        tenant: TenantId,
        name: impl Into<String>,
        role: Role,
        level: u8,
        at: DateTime<Utc>,
    ) -> Staff {
        Staff {
            id,
            tenant,
            name: name.into(),
            role,
            level,
            team: None,
            manages: Vec::new(),
            active: true,
            capacity: None,
            joined_at: at,
        }
    }

    /// Put the member in a team.
    #[must_use]
    pub fn in_team(mut self, team: TeamId) -> Staff {
        self.team = Some(team);
        self
    }

    /// Make the member manage a team.
    #[must_use]
    pub fn managing(mut self, team: TeamId) -> Staff {
        self.manages.push(team);
        self
    }

    /// Cap the member's open leads.
    #[must_use]
    pub fn with_capacity(mut self, capacity: u32) -> Staff {
        self.capacity = Some(capacity);
        self
    }

    /// Check the record.
    ///
    /// # Errors
    /// A validation error on `name` or `level`.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() || self.name.chars().count() > 100 {
            return Err(CrmError::validation("name", "must be 1-100 characters"));
        }
        if !(1..=9).contains(&self.level) {
            return Err(CrmError::validation(
                "level",
                format!("{} is outside 1-9", self.level),
            ));
        }
        Ok(())
    }
}

impl Entity for Staff {
    const COLLECTION: &'static str = "crm.staff";

    fn key(&self) -> String {
        self.id.to_string()
    }

    fn indexes(&self) -> Vec<IndexEntry> {
        let mut ix = Vec::new();
        if let Some(t) = &self.team {
            ix.push(IndexEntry::new("team", t.to_string()));
        }
        ix
    }

    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}
