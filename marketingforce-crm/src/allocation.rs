//! Allocation: rules mapping leads (by region, product, source, score) to salespeople, teams
//! and dealers, with round-robin, weighted and least-loaded strategies; SLA escalation,
//! departures and recycling to the public pool are in `Crm` (see [`crate::Crm::allocate`]).
//!
//! The [`Allocator`] is the in-memory engine: it holds the rules, the staff snapshot, the open
//! load of every assignee and the round-robin / weighted cursors. `Crm` persists its cursors in
//! the same batch as each assignment, so fairness survives restarts.
//!
//! ```
//! use marketingforce_crm::allocation::{AllocationConfig, AllocationRule, Allocator, LeadFacts, Strategy, Decision};
//! use marketingforce_crm::ids::UserId;
//! use marketingforce_crm::model::Source;
//!
//! let (a, b) = (UserId::new(), UserId::new());
//! let cfg = AllocationConfig {
//!     rules: vec![AllocationRule::new("shanghai", Strategy::RoundRobin, vec![a, b]).regions(["上海"])],
//!     ..AllocationConfig::default()
//! };
//! let mut alloc = Allocator::new(&cfg);
//! alloc.set_staff(a, true, None, None);
//! alloc.set_staff(b, true, None, None);
//! let facts = LeadFacts { region: Some("上海"), products: &[], source: Source::OwnSite, score: 0 };
//! let first = alloc.decide(&facts, None);
//! let second = alloc.decide(&facts, None);
//! assert!(matches!((first, second), (Decision::Assign { to: x, .. }, Decision::Assign { to: y, .. }) if x == a && y == b));
//! let beijing = LeadFacts { region: Some("北京"), ..facts };
//! assert!(matches!(alloc.decide(&beijing, None), Decision::NoMatch { .. }));
//! ```

use std::collections::{BTreeMap, HashMap};

use marketingforce_core::storage::Entity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::ids::{TeamId, UserId};
use crate::model::Source;

/// How a rule picks among its assignees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Strategy {
    /// In turn; skips inactive or full assignees. Within one of fair for a stable pool.
    RoundRobin,
    /// Smooth weighted round robin; `weights` parallel to the assignees.
    Weighted {
        /// Weight of each assignee (positive).
        weights: Vec<u32>,
    },
    /// The assignee with the fewest open leads, respecting capacity caps.
    LeastLoaded,
}

/// One allocation rule. Empty criteria match anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationRule {
    /// Unique name, recorded with every assignment it makes.
    pub name: String,
    /// Regions matched.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Product models matched (any of the lead's interests).
    #[serde(default)]
    pub products: Vec<String>,
    /// Sources matched.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// Minimum score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<i64>,
    /// Salespeople or dealer accounts.
    #[serde(default)]
    pub assignees: Vec<UserId>,
    /// Teams whose active members are added to the assignees.
    #[serde(default)]
    pub teams: Vec<TeamId>,
    /// How to pick.
    pub strategy: Strategy,
}

impl AllocationRule {
    /// A rule matching anything.
    pub fn new(
        name: impl Into<String>,
        strategy: Strategy,
        assignees: Vec<UserId>,
    ) -> AllocationRule {
        AllocationRule {
            name: name.into(),
            regions: Vec::new(),
            products: Vec::new(),
            sources: Vec::new(),
            min_score: None,
            assignees,
            teams: Vec::new(),
            strategy,
        }
    }

    /// Restrict to regions.
    #[must_use]
    pub fn regions<S: Into<String>>(mut self, r: impl IntoIterator<Item = S>) -> Self {
        self.regions = r.into_iter().map(Into::into).collect();
        self
    }

    /// Restrict to products.
    #[must_use]
    pub fn products<S: Into<String>>(mut self, p: impl IntoIterator<Item = S>) -> Self {
        self.products = p.into_iter().map(Into::into).collect();
        self
    }

    /// Restrict to sources.
    #[must_use]
    pub fn sources(mut self, s: impl IntoIterator<Item = Source>) -> Self {
        self.sources = s.into_iter().collect();
        self
    }

    /// Require a minimum score.
    #[must_use]
    pub fn min_score(mut self, s: i64) -> Self {
        self.min_score = Some(s);
        self
    }

    /// Add teams.
    #[must_use]
    pub fn teams(mut self, t: impl IntoIterator<Item = TeamId>) -> Self {
        self.teams = t.into_iter().collect();
        self
    }

    fn matches(&self, f: &LeadFacts<'_>) -> bool {
        (self.regions.is_empty()
            || f.region
                .is_some_and(|r| self.regions.iter().any(|x| x == r)))
            && (self.products.is_empty()
                || f.products
                    .iter()
                    .any(|p| self.products.iter().any(|x| x == p)))
            && (self.sources.is_empty() || self.sources.contains(&f.source))
            && self.min_score.is_none_or(|m| f.score >= m)
    }
}

/// What to do when a lead is not followed up in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Breach {
    /// Allocate again, to someone else.
    Reassign,
    /// Return to the public pool.
    ReturnToPool,
}

/// Follow-up SLA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    /// Hours after assignment within which the owner must follow up; then it escalates.
    pub follow_up_within_hours: u32,
    /// Hours after the escalation before `on_breach` applies.
    pub escalation_grace_hours: u32,
    /// What happens then.
    pub on_breach: Breach,
}

/// Recycling of stale leads to the public pool (公海).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecycleConfig {
    /// Open leads not converted within this many days of assignment go to the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_conversion_days: Option<u32>,
}

/// Allocation configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationConfig {
    /// Rules, first match wins (a matching rule nobody in it can take falls through).
    pub rules: Vec<AllocationRule>,
    /// Follow-up SLA.
    pub sla: SlaConfig,
    /// Recycling.
    pub recycle: RecycleConfig,
}

impl Default for AllocationConfig {
    fn default() -> Self {
        AllocationConfig {
            rules: Vec::new(),
            sla: SlaConfig {
                follow_up_within_hours: 24,
                escalation_grace_hours: 24,
                on_breach: Breach::Reassign,
            },
            recycle: RecycleConfig {
                no_conversion_days: Some(180),
            },
        }
    }
}

impl AllocationConfig {
    /// Check the configuration.
    ///
    /// # Errors
    /// A validation error naming the path (`rules[1].strategy.weights`, `rules[0].name`, …).
    pub fn validate(&self) -> Result<()> {
        for (i, r) in self.rules.iter().enumerate() {
            let p = |f: &str| format!("rules[{i}].{f}");
            if r.name.trim().is_empty() || r.name.len() > 64 {
                return Err(CrmError::validation(p("name"), "must be 1-64 characters"));
            }
            if self.rules[..i].iter().any(|o| o.name == r.name) {
                return Err(CrmError::validation(
                    p("name"),
                    format!("{:?} is used twice", r.name),
                ));
            }
            if r.assignees.is_empty() && r.teams.is_empty() {
                return Err(CrmError::validation(
                    p("assignees"),
                    "needs assignees or teams",
                ));
            }
            if let Strategy::Weighted { weights } = &r.strategy {
                if !r.teams.is_empty() {
                    return Err(CrmError::validation(
                        p("teams"),
                        "weighted rules list assignees only",
                    ));
                }
                if weights.len() != r.assignees.len() {
                    return Err(CrmError::validation(
                        p("strategy.weights"),
                        format!(
                            "{} weights for {} assignees",
                            weights.len(),
                            r.assignees.len()
                        ),
                    ));
                }
                if let Some(j) = weights.iter().position(|w| *w == 0) {
                    return Err(CrmError::validation(
                        p(&format!("strategy.weights[{j}]")),
                        "must be positive",
                    ));
                }
            }
        }
        if self.sla.follow_up_within_hours == 0 {
            return Err(CrmError::validation(
                "sla.follow_up_within_hours",
                "must be positive",
            ));
        }
        if self.recycle.no_conversion_days == Some(0) {
            return Err(CrmError::validation(
                "recycle.no_conversion_days",
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// What the allocator needs to know about a lead.
#[derive(Debug, Clone, Copy)]
pub struct LeadFacts<'a> {
    /// Region.
    pub region: Option<&'a str>,
    /// Products of interest.
    pub products: &'a [String],
    /// First source.
    pub source: Source,
    /// Score.
    pub score: i64,
}

/// The allocator's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Assign to `to` by rule `rule`.
    Assign {
        /// The assignee.
        to: UserId,
        /// The rule's name.
        rule: String,
    },
    /// Nobody: the lead goes to the public pool, with the reason.
    NoMatch {
        /// Why.
        reason: String,
    },
}

/// Persisted cursor of a rule (round-robin position, weighted current weights).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RuleCursor {
    /// The rule's name.
    pub rule: String,
    /// Round-robin position.
    pub next: u64,
    /// Smooth weighted round robin: current weight per assignee.
    pub current: Vec<i64>,
}

impl Entity for RuleCursor {
    const COLLECTION: &'static str = "crm.alloc_cursors";
    fn key(&self) -> String {
        self.rule.clone()
    }
}

#[derive(Debug, Clone, Copy)]
struct Member {
    active: bool,
    capacity: Option<u32>,
}

/// The in-memory allocation engine (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Allocator {
    rules: Vec<AllocationRule>,
    staff: HashMap<UserId, Member>,
    teams: BTreeMap<TeamId, Vec<UserId>>,
    load: HashMap<UserId, u32>,
    cursors: Vec<RuleCursor>,
    touched: Vec<bool>,
}

impl Allocator {
    /// An allocator for `cfg` with no staff yet.
    pub fn new(cfg: &AllocationConfig) -> Allocator {
        Allocator {
            rules: cfg.rules.clone(),
            staff: HashMap::new(),
            teams: BTreeMap::new(),
            load: HashMap::new(),
            cursors: cfg
                .rules
                .iter()
                .map(|r| RuleCursor {
                    rule: r.name.clone(),
                    next: 0,
                    current: vec![0; r.assignees.len()],
                })
                .collect(),
            touched: vec![false; cfg.rules.len()],
        }
    }

    /// Add or update a staff member (active flag, capacity, team).
    pub fn set_staff(
        &mut self,
        id: UserId,
        active: bool,
        capacity: Option<u32>,
        team: Option<TeamId>,
    ) {
        self.staff.insert(id, Member { active, capacity });
        for members in self.teams.values_mut() {
            members.retain(|m| *m != id);
        }
        if let Some(t) = team {
            let v = self.teams.entry(t).or_default();
            v.push(id);
            v.sort();
        }
    }

    /// Restore a persisted cursor.
    pub fn restore_cursor(&mut self, cursor: RuleCursor) {
        if let Some(c) = self.cursors.iter_mut().find(|c| c.rule == cursor.rule) {
            if cursor.current.len() == c.current.len() {
                *c = cursor;
            } else {
                c.next = cursor.next;
            }
        }
    }

    /// Cursors changed since the last call (to persist with the assignments).
    pub fn take_touched(&mut self) -> Vec<RuleCursor> {
        let mut out = Vec::new();
        for (i, t) in self.touched.iter_mut().enumerate() {
            if std::mem::take(t) {
                if let Some(c) = self.cursors.get(i) {
                    out.push(c.clone());
                }
            }
        }
        out
    }

    /// Open leads held by each user holding any, in user order.
    pub fn loads(&self) -> BTreeMap<UserId, u32> {
        self.load
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(u, n)| (*u, *n))
            .collect()
    }

    /// Open leads held by `user`.
    pub fn load(&self, user: &UserId) -> u32 {
        self.load.get(user).copied().unwrap_or(0)
    }

    /// Adjust `user`'s open load by `delta`.
    pub fn add_load(&mut self, user: UserId, delta: i64) {
        let l = self.load.entry(user).or_default();
        *l = (i64::from(*l) + delta).clamp(0, i64::from(u32::MAX)) as u32;
    }

    fn eligible(&self, u: &UserId, exclude: Option<UserId>) -> bool {
        Some(*u) != exclude
            && self
                .staff
                .get(u)
                .is_some_and(|m| m.active && m.capacity.is_none_or(|c| self.load(u) < c))
    }

    fn pool_of(&self, rule: &AllocationRule) -> Vec<UserId> {
        let mut pool = rule.assignees.clone();
        for t in &rule.teams {
            for m in self.teams.get(t).into_iter().flatten() {
                if !pool.contains(m) {
                    pool.push(*m);
                }
            }
        }
        pool
    }

    /// Pick an assignee for a lead (never `exclude`), updating cursors and loads.
    pub fn decide(&mut self, facts: &LeadFacts<'_>, exclude: Option<UserId>) -> Decision {
        let decision = self.choose(facts, exclude);
        if let Decision::Assign { to, .. } = &decision {
            self.add_load(*to, 1);
        }
        decision
    }

    /// Pick an assignee for a lead (never `exclude`), updating the cursors but not the loads:
    /// for a caller that counts loads from the leads' owners itself (the CRM service settles
    /// them from the lead records it writes, so an assignment counted here too would count
    /// twice).
    pub fn choose(&mut self, facts: &LeadFacts<'_>, exclude: Option<UserId>) -> Decision {
        let mut matched_any: Option<String> = None;
        for i in 0..self.rules.len() {
            let Some(rule) = self.rules.get(i) else { break };
            if !rule.matches(facts) {
                continue;
            }
            if matched_any.is_none() {
                matched_any = Some(rule.name.clone());
            }
            if let Some(to) = self.pick(i, exclude) {
                let name = self
                    .rules
                    .get(i)
                    .map(|r| r.name.clone())
                    .unwrap_or_default();
                return Decision::Assign { to, rule: name };
            }
        }
        Decision::NoMatch {
            reason: match matched_any {
                Some(r) => format!("rule {r} matched but no assignee is active with free capacity"),
                None => "no allocation rule matched".into(),
            },
        }
    }

    fn pick(&mut self, i: usize, exclude: Option<UserId>) -> Option<UserId> {
        let rule = self.rules.get(i)?;
        let pool = if rule.teams.is_empty() {
            None
        } else {
            Some(self.pool_of(rule))
        };
        let pool: &[UserId] = pool.as_deref().unwrap_or(&rule.assignees);
        let n = pool.len();
        if n == 0 {
            return None;
        }
        match &rule.strategy {
            Strategy::RoundRobin => {
                let start = self.cursors.get(i).map_or(0, |c| c.next);
                let chosen = (0..n as u64)
                    .map(|k| ((start + k) % n as u64) as usize)
                    .find(|&p| pool.get(p).is_some_and(|u| self.eligible(u, exclude)))?;
                let to = *pool.get(chosen)?;
                if let Some(c) = self.cursors.get_mut(i) {
                    c.next = chosen as u64 + 1;
                }
                self.mark(i);
                Some(to)
            }
            Strategy::Weighted { weights } => {
                let eligible: Vec<usize> = (0..n)
                    .filter(|&p| pool.get(p).is_some_and(|u| self.eligible(u, exclude)))
                    .collect();
                if eligible.is_empty() {
                    return None;
                }
                let total: i64 = eligible
                    .iter()
                    .map(|&p| i64::from(weights.get(p).copied().unwrap_or(1)))
                    .sum();
                let cursor = self.cursors.get_mut(i)?;
                let mut best: Option<usize> = None;
                for &p in &eligible {
                    let w = i64::from(weights.get(p).copied().unwrap_or(1));
                    if let Some(cw) = cursor.current.get_mut(p) {
                        *cw += w;
                    }
                    let cur = cursor.current.get(p).copied().unwrap_or(0);
                    if best.is_none_or(|b| cur > cursor.current.get(b).copied().unwrap_or(0)) {
                        best = Some(p);
                    }
                }
                let b = best?;
                if let Some(cw) = cursor.current.get_mut(b) {
                    *cw -= total;
                }
                let to = *pool.get(b)?;
                self.mark(i);
                Some(to)
            }
            Strategy::LeastLoaded => pool
                .iter()
                .filter(|u| self.eligible(u, exclude))
                .min_by_key(|u| self.load(u))
                .copied(),
        }
    }

    fn mark(&mut self, i: usize) {
        if let Some(t) = self.touched.get_mut(i) {
            *t = true;
        }
    }
}
