//! The lifecycle state machine: stages, configurable transitions, and the journaled history of
//! every lead (who, when, why).
//!
//! ```
//! use marketingforce_crm::lifecycle::LifecycleConfig;
//! use marketingforce_crm::model::Stage;
//!
//! let cfg = LifecycleConfig::default();
//! assert!(cfg.allows(Stage::New, Stage::Assigned));
//! assert!(!cfg.allows(Stage::New, Stage::Converted)); // cannot skip the sales stages
//! assert!(cfg.reason_required(Stage::Contacting, Stage::Lost));
//! assert_eq!(cfg.next_stages(Stage::Member), vec![Stage::Promoter, Stage::Lost]);
//! ```
//!
//! History entries carry ids, stages and reasons, never personal data, so erasing a contact
//! leaves the history (and every aggregate built from it) intact.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::ids::{LeadId, UserId};
use crate::model::{Actor, Source, Stage};

/// The journal of lead history.
pub const HISTORY_JOURNAL: &str = "crm.history";

/// One allowed transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRule {
    /// From this stage.
    pub from: Stage,
    /// To this stage.
    pub to: Stage,
    /// Whether the caller must say why.
    #[serde(default)]
    pub reason_required: bool,
}

/// The transitions a tenant allows. Anything not listed is an
/// [`IllegalTransition`](CrmError::IllegalTransition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleConfig {
    /// The allowed transitions.
    pub transitions: Vec<TransitionRule>,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        use Stage::*;
        let t = |from, to| TransitionRule {
            from,
            to,
            reason_required: false,
        };
        let r = |from, to| TransitionRule {
            from,
            to,
            reason_required: true,
        };
        LifecycleConfig {
            transitions: vec![
                t(New, Assigned),
                r(New, Invalid),
                t(New, Pool),
                t(Assigned, Contacting),
                t(Assigned, Qualified),
                r(Assigned, Invalid),
                r(Assigned, Lost),
                t(Assigned, Pool),
                t(Contacting, Qualified),
                r(Contacting, Invalid),
                r(Contacting, Lost),
                t(Contacting, Pool),
                t(Qualified, Converted),
                t(Qualified, Contacting),
                r(Qualified, Lost),
                t(Qualified, Pool),
                t(Converted, Member),
                t(Converted, Promoter),
                r(Converted, Lost),
                t(Member, Promoter),
                r(Member, Lost),
                r(Invalid, Pool),
                r(Lost, Pool),
                r(Lost, Contacting),
                t(Pool, Assigned),
            ],
        }
    }
}

impl LifecycleConfig {
    /// Check the rules.
    ///
    /// # Errors
    /// A validation error on `transitions[i]` for a self-loop or a duplicate.
    pub fn validate(&self) -> Result<()> {
        for (i, r) in self.transitions.iter().enumerate() {
            if r.from == r.to {
                return Err(CrmError::validation(
                    format!("transitions[{i}].to"),
                    format!("{} to itself is not a transition", r.from),
                ));
            }
            if self.transitions[..i]
                .iter()
                .any(|o| o.from == r.from && o.to == r.to)
            {
                return Err(CrmError::validation(
                    format!("transitions[{i}]"),
                    format!("{} -> {} is listed twice", r.from, r.to),
                ));
            }
        }
        Ok(())
    }

    fn rule(&self, from: Stage, to: Stage) -> Option<&TransitionRule> {
        self.transitions
            .iter()
            .find(|r| r.from == from && r.to == to)
    }

    /// Whether `from → to` is allowed.
    pub fn allows(&self, from: Stage, to: Stage) -> bool {
        self.rule(from, to).is_some()
    }

    /// Whether `from → to` needs a reason.
    pub fn reason_required(&self, from: Stage, to: Stage) -> bool {
        self.rule(from, to).is_some_and(|r| r.reason_required)
    }

    /// The stages reachable from `from` in one step, in configuration order.
    pub fn next_stages(&self, from: Stage) -> Vec<Stage> {
        self.transitions
            .iter()
            .filter(|r| r.from == from)
            .map(|r| r.to)
            .collect()
    }

    /// Check a transition of `lead`.
    ///
    /// # Errors
    /// [`CrmError::IllegalTransition`] naming the allowed next stages, or
    /// [`CrmError::ReasonRequired`].
    pub fn check(&self, lead: LeadId, from: Stage, to: Stage, reason: Option<&str>) -> Result<()> {
        let Some(rule) = self.rule(from, to) else {
            let allowed = self
                .next_stages(from)
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(CrmError::IllegalTransition {
                lead,
                from: from.to_string(),
                to: to.to_string(),
                allowed: if allowed.is_empty() {
                    "none".into()
                } else {
                    allowed
                },
            });
        };
        if rule.reason_required && reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(CrmError::ReasonRequired {
                lead,
                to: to.to_string(),
            });
        }
        Ok(())
    }
}

/// An entry of the lead history journal ([`HISTORY_JOURNAL`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LeadEvent {
    /// The lead.
    pub lead: LeadId,
    /// When.
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc",
        deserialize_with = "marketingforce_core::time::deserialize_utc"
    )]
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// What happened.
    pub event: LeadEventKind,
}

/// What happened to a lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LeadEventKind {
    /// A capture created the lead or was merged into it.
    Captured {
        /// Source of the capture.
        source: Source,
        /// Campaign, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        campaign: Option<String>,
        /// Whether it created the lead.
        created: bool,
        /// The matching rule that joined it (`mobile`, `email`, `wecom_id`, `phone`, `fuzzy`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        matched_by: Option<String>,
    },
    /// The stage changed.
    Transition {
        /// From.
        from: Stage,
        /// To.
        to: Stage,
        /// Why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Another lead was merged into this one; its values were kept as alternates.
    Merged {
        /// The absorbed lead.
        absorbed: LeadId,
        /// The rule that matched them.
        rule: String,
    },
    /// This lead was merged into `survivor`.
    MergedInto {
        /// The survivor.
        survivor: LeadId,
    },
    /// A merge was undone: `restored` was split off this lead again.
    Unmerged {
        /// The restored lead.
        restored: LeadId,
    },
    /// The owner changed.
    Assigned {
        /// Previous owner.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<UserId>,
        /// New owner (`None`: returned to the pool).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<UserId>,
        /// The allocation rule that decided it, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        /// Why (`allocation`, `sla`, `departure`, `recycle`, `claim`, `manual`, `no_match`).
        reason: String,
    },
    /// The owner followed the lead up.
    FollowedUp,
    /// The SLA escalated the lead to a manager.
    Escalated {
        /// The manager, if one was found.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<UserId>,
    },
    /// Tags were added or removed by rules.
    Tagged {
        /// Added.
        added: Vec<String>,
        /// Removed.
        removed: Vec<String>,
    },
    /// A consent was recorded or withdrawn.
    Consent {
        /// Purpose.
        purpose: String,
        /// Whether it was withdrawn.
        withdrawn: bool,
    },
    /// Personal data was erased on request.
    Erased,
}
