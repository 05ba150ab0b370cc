//! Tags, behaviour profiles and scoring.
//!
//! - **Behaviour events** (search, click, view, share, form submit, message reply, material
//!   received) feed a [`Profile`]: per-topic interest weights that decay with a half-life, and
//!   per-kind counts.
//! - **Scoring** ([`ScoringConfig`]): point rules on events, captures and present fields, with
//!   per-rule caps, negative points, decay and a floor/ceiling; [`ScoreThreshold`]s turn a score
//!   into tags and stage changes (a hot prospect becomes `qualified`).
//! - **Tag rules** ([`TagRule`]): conditions over the lead's fields and behaviour → tags.
//!
//! ```
//! use marketingforce_crm::profile::{BehaviourKind, ScoringConfig};
//!
//! let scoring = ScoringConfig::default();
//! scoring.validate().unwrap();
//! // A form submission is worth more than a page view.
//! let points = |k| scoring.rules.iter().filter(|r| r.matches_event(k, None)).map(|r| r.points).sum::<i64>();
//! assert!(points(BehaviourKind::FormSubmit) > points(BehaviourKind::View));
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::ids::LeadId;
use crate::model::{IdentityPresence, Lead, Source, Stage};
use crate::survivorship::Field;

/// The journal of behaviour events.
pub const BEHAVIOUR_JOURNAL: &str = "crm.behaviour";

/// A kind of behaviour on marketing content or in conversation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BehaviourKind {
    /// Searched (a keyword is the topic).
    Search,
    /// Clicked a link or ad.
    Click,
    /// Viewed content.
    View,
    /// Shared content.
    Share,
    /// Submitted a form.
    FormSubmit,
    /// Replied to a message.
    MessageReply,
    /// Was sent a phrase or material by a salesperson.
    MaterialReceived,
    /// Added a salesperson as a WeCom contact (the private domain).
    ContactAdded,
    /// Removed the salesperson from their WeCom contacts (or was removed by them).
    ContactRemoved,
    /// Joined a customer group chat.
    GroupJoined,
    /// Left a customer group chat.
    GroupLeft,
}

/// One behaviour event of a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BehaviourEvent {
    /// The lead.
    pub lead: LeadId,
    /// What happened.
    pub kind: BehaviourKind,
    /// When.
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc",
        deserialize_with = "marketingforce_core::time::deserialize_utc"
    )]
    pub at: DateTime<Utc>,
    /// The topic (product model, keyword, content category), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The content or material involved, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

fn decay_factor(from: DateTime<Utc>, to: DateTime<Utc>, half_life_days: f64) -> f64 {
    let days = (to - from).num_seconds() as f64 / 86_400.0;
    if days <= 0.0 || half_life_days <= 0.0 {
        1.0
    } else {
        0.5f64.powf(days / half_life_days)
    }
}

/// Profile settings: weight of each behaviour kind and the half-life of interest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// Weight each kind adds to its topic.
    pub weights: BTreeMap<BehaviourKind, f64>,
    /// Days after which an interest counts half.
    pub half_life_days: f64,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        use BehaviourKind::*;
        ProfileConfig {
            weights: BTreeMap::from([
                (Search, 2.0),
                (Click, 1.0),
                (View, 1.0),
                (Share, 3.0),
                (FormSubmit, 5.0),
                (MessageReply, 3.0),
                (MaterialReceived, 0.5),
            ]),
            half_life_days: 30.0,
        }
    }
}

impl ProfileConfig {
    /// Check the settings.
    ///
    /// # Errors
    /// A validation error on `half_life_days` or `weights.<kind>`.
    pub fn validate(&self) -> Result<()> {
        if !(self.half_life_days.is_finite() && self.half_life_days > 0.0) {
            return Err(CrmError::validation(
                "half_life_days",
                "must be a positive number",
            ));
        }
        for (k, w) in &self.weights {
            if !w.is_finite() || *w < 0.0 {
                return Err(CrmError::validation(
                    format!(
                        "weights.{}",
                        serde_json::to_value(k)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default()
                    ),
                    "must be a non-negative number",
                ));
            }
        }
        Ok(())
    }
}

/// A lead's behaviour profile: decayed interest per topic, counts per kind.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Profile {
    /// Interest weight per topic, as of `as_of`.
    #[serde(default)]
    pub topics: BTreeMap<String, f64>,
    /// Events seen per kind.
    #[serde(default)]
    pub counts: BTreeMap<BehaviourKind, u32>,
    /// The instant the weights are decayed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc_opt",
        deserialize_with = "marketingforce_core::time::deserialize_utc_opt"
    )]
    pub as_of: Option<DateTime<Utc>>,
}

impl Profile {
    /// Nothing observed yet (as a new lead's profile).
    pub fn is_empty(&self) -> bool {
        *self == Profile::default()
    }

    /// Decay the weights to `at` (no-op for earlier instants).
    pub fn decay_to(&mut self, at: DateTime<Utc>, cfg: &ProfileConfig) {
        if let Some(prev) = self.as_of {
            if at <= prev {
                return;
            }
            let f = decay_factor(prev, at, cfg.half_life_days);
            for w in self.topics.values_mut() {
                *w *= f;
            }
            self.topics.retain(|_, w| *w >= 0.01);
        }
        self.as_of = Some(at);
    }

    /// Apply an event.
    pub fn apply(&mut self, event: &BehaviourEvent, cfg: &ProfileConfig) {
        *self.counts.entry(event.kind).or_default() += 1;
        let at = self.as_of.map_or(event.at, |a| a.max(event.at));
        self.decay_to(at, cfg);
        if let Some(topic) = &event.topic {
            let w = cfg.weights.get(&event.kind).copied().unwrap_or(0.0)
                * decay_factor(event.at, at, cfg.half_life_days);
            *self.topics.entry(topic.clone()).or_default() += w;
        }
    }

    /// The `n` strongest topics, strongest first.
    pub fn top_topics(&self, n: usize) -> Vec<(&str, f64)> {
        let mut v: Vec<_> = self.topics.iter().map(|(k, w)| (k.as_str(), *w)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(n);
        v
    }
}

/// What earns (or costs) points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ScoreTrigger {
    /// A behaviour event, optionally only on a topic.
    Event {
        /// The kind.
        kind: BehaviourKind,
        /// Only this topic.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
    },
    /// A capture, optionally only from a source.
    Captured {
        /// Only this source.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<Source>,
    },
    /// An identity field is present (counted once, not accumulated).
    HasField {
        /// The field.
        field: Field,
    },
}

/// A point rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreRule {
    /// Name (unique), recorded in the score state.
    pub name: String,
    /// What triggers it.
    pub when: ScoreTrigger,
    /// Points per trigger (negative points subtract).
    pub points: i64,
    /// Most points (in absolute value) this rule can contribute in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<i64>,
}

impl ScoreRule {
    /// Whether an event of `kind` on `topic` triggers this rule.
    pub fn matches_event(&self, kind: BehaviourKind, topic: Option<&str>) -> bool {
        match &self.when {
            ScoreTrigger::Event { kind: k, topic: t } => {
                *k == kind && t.as_deref().is_none_or(|t| Some(t) == topic)
            }
            _ => false,
        }
    }

    fn matches_capture(&self, source: Source) -> bool {
        matches!(&self.when, ScoreTrigger::Captured { source: s } if s.is_none_or(|s| s == source))
    }
}

/// A score threshold: at or above `at_least`, add `tag` and move to `stage` (when the lifecycle
/// allows it from the current stage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreThreshold {
    /// The score.
    pub at_least: i64,
    /// Tag to add (removed again when the score drops below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Stage to move to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
}

/// Scoring rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoringConfig {
    /// Point rules.
    pub rules: Vec<ScoreRule>,
    /// Days after which accumulated points count half (`None`: no decay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_life_days: Option<f64>,
    /// Lowest score.
    pub min_score: i64,
    /// Highest score.
    pub max_score: i64,
    /// Thresholds, ascending.
    #[serde(default)]
    pub thresholds: Vec<ScoreThreshold>,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        let rule = |name: &str, when, points, cap| ScoreRule {
            name: name.into(),
            when,
            points,
            cap,
        };
        let ev = |kind| ScoreTrigger::Event { kind, topic: None };
        ScoringConfig {
            rules: vec![
                rule(
                    "has_mobile",
                    ScoreTrigger::HasField {
                        field: Field::Mobile,
                    },
                    10,
                    None,
                ),
                rule(
                    "has_company",
                    ScoreTrigger::HasField {
                        field: Field::Company,
                    },
                    5,
                    None,
                ),
                rule(
                    "captured",
                    ScoreTrigger::Captured { source: None },
                    5,
                    Some(15),
                ),
                rule("view", ev(BehaviourKind::View), 2, Some(20)),
                rule("click", ev(BehaviourKind::Click), 3, Some(15)),
                rule("search", ev(BehaviourKind::Search), 3, Some(15)),
                rule("share", ev(BehaviourKind::Share), 5, Some(20)),
                rule("form_submit", ev(BehaviourKind::FormSubmit), 20, Some(40)),
                rule(
                    "message_reply",
                    ev(BehaviourKind::MessageReply),
                    10,
                    Some(30),
                ),
            ],
            half_life_days: Some(30.0),
            min_score: -100,
            max_score: 100,
            thresholds: vec![
                ScoreThreshold {
                    at_least: 40,
                    tag: Some("warm".into()),
                    stage: None,
                },
                ScoreThreshold {
                    at_least: 60,
                    tag: Some("hot".into()),
                    stage: Some(Stage::Qualified),
                },
            ],
        }
    }
}

impl ScoringConfig {
    /// Check the rules.
    ///
    /// # Errors
    /// A validation error naming the offending path (`rules[2].cap`, `thresholds[1].at_least`…).
    pub fn validate(&self) -> Result<()> {
        for (i, r) in self.rules.iter().enumerate() {
            if r.name.trim().is_empty() {
                return Err(CrmError::validation(
                    format!("rules[{i}].name"),
                    "must not be blank",
                ));
            }
            if self.rules[..i].iter().any(|o| o.name == r.name) {
                return Err(CrmError::validation(
                    format!("rules[{i}].name"),
                    format!("{:?} is used twice", r.name),
                ));
            }
            if r.cap.is_some_and(|c| c <= 0) {
                return Err(CrmError::validation(
                    format!("rules[{i}].cap"),
                    "must be positive",
                ));
            }
        }
        if let Some(h) = self.half_life_days {
            if !(h.is_finite() && h > 0.0) {
                return Err(CrmError::validation(
                    "half_life_days",
                    "must be a positive number",
                ));
            }
        }
        if self.min_score > self.max_score {
            return Err(CrmError::validation("min_score", "is above max_score"));
        }
        for (i, t) in self.thresholds.iter().enumerate() {
            if i > 0 && self.thresholds[i - 1].at_least >= t.at_least {
                return Err(CrmError::validation(
                    format!("thresholds[{i}].at_least"),
                    "thresholds must be strictly ascending",
                ));
            }
        }
        Ok(())
    }
}

/// Per-rule accumulated points of a lead, decayed to `as_of`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ScoreState {
    /// Accumulated points per rule name.
    #[serde(default)]
    pub totals: BTreeMap<String, f64>,
    /// The instant the totals are decayed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(
        serialize_with = "marketingforce_core::time::serialize_utc_opt",
        deserialize_with = "marketingforce_core::time::deserialize_utc_opt"
    )]
    pub as_of: Option<DateTime<Utc>>,
}

impl ScoreState {
    fn decay_to(&mut self, at: DateTime<Utc>, cfg: &ScoringConfig) {
        if let (Some(prev), Some(h)) = (self.as_of, cfg.half_life_days) {
            if at > prev {
                let f = decay_factor(prev, at, h);
                for v in self.totals.values_mut() {
                    *v *= f;
                }
            }
        }
        self.as_of = Some(self.as_of.map_or(at, |p| p.max(at)));
    }

    fn add(&mut self, rule: &ScoreRule, at: DateTime<Utc>, cfg: &ScoringConfig) {
        self.decay_to(at, cfg);
        let when = self.as_of.unwrap_or(at);
        let f = cfg
            .half_life_days
            .map_or(1.0, |h| decay_factor(at, when, h));
        let v = self.totals.entry(rule.name.clone()).or_default();
        *v += rule.points as f64 * f;
        if let Some(cap) = rule.cap {
            *v = v.clamp(-(cap as f64), cap as f64);
        }
    }

    /// Apply a behaviour event.
    pub fn on_event(&mut self, event: &BehaviourEvent, cfg: &ScoringConfig) {
        for r in cfg
            .rules
            .iter()
            .filter(|r| r.matches_event(event.kind, event.topic.as_deref()))
        {
            self.add(r, event.at, cfg);
        }
    }

    /// Apply a capture.
    pub fn on_capture(&mut self, source: Source, at: DateTime<Utc>, cfg: &ScoringConfig) {
        for r in cfg.rules.iter().filter(|r| r.matches_capture(source)) {
            self.add(r, at, cfg);
        }
    }

    /// The score: decayed totals plus present-field rules, rounded and clamped. Sums past the
    /// `i64` range saturate (the score is clamped to `max_score` / `min_score` anyway).
    pub fn score(&self, identity: &IdentityPresence, cfg: &ScoringConfig) -> i64 {
        let accumulated: f64 = self.totals.values().sum();
        let fields = cfg
            .rules
            .iter()
            .filter_map(|r| match &r.when {
                ScoreTrigger::HasField { field } if has_field(identity, *field) => Some(r.points),
                _ => None,
            })
            .fold(0i64, i64::saturating_add);
        // `as` saturates a float out of the `i64` range.
        let raw = (accumulated.round() as i64).saturating_add(fields);
        raw.clamp(cfg.min_score, cfg.max_score)
    }
}

/// Whether the identity has `field`.
pub fn has_field(identity: &IdentityPresence, field: Field) -> bool {
    match field {
        Field::Name => identity.name,
        Field::Mobile => identity.mobile,
        Field::Phone => identity.phone,
        Field::Email => identity.email,
        Field::WecomId => identity.wecom_id,
        Field::Company => identity.company,
        Field::Region => false,
    }
}

/// A condition over a lead's fields and behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Condition {
    /// All hold.
    All(Vec<Condition>),
    /// Any holds.
    Any(Vec<Condition>),
    /// Does not hold.
    Not(Box<Condition>),
    /// The first capture came from one of these sources.
    SourceIn(Vec<Source>),
    /// The region is one of these.
    RegionIn(Vec<String>),
    /// The lead is interested in this product.
    ProductInterest(String),
    /// The stage is one of these.
    StageIn(Vec<Stage>),
    /// The score is at least this.
    ScoreAtLeast(i64),
    /// At least `at_least` events of `kind`.
    EventCount {
        /// The kind.
        kind: BehaviourKind,
        /// Minimum count.
        at_least: u32,
    },
    /// The profile weight of `topic` is at least `at_least`.
    TopicWeight {
        /// The topic.
        topic: String,
        /// Minimum weight.
        at_least: f64,
    },
    /// The identity field is present.
    HasField(Field),
}

impl Condition {
    /// Evaluate on a lead.
    pub fn eval(&self, lead: &Lead) -> bool {
        match self {
            Condition::All(cs) => cs.iter().all(|c| c.eval(lead)),
            Condition::Any(cs) => cs.iter().any(|c| c.eval(lead)),
            Condition::Not(c) => !c.eval(lead),
            Condition::SourceIn(s) => lead.source().is_some_and(|t| s.contains(&t.source)),
            Condition::RegionIn(r) => lead.region.as_ref().is_some_and(|x| r.contains(x)),
            Condition::ProductInterest(p) => lead.product_interest.contains(p),
            Condition::StageIn(s) => s.contains(&lead.stage),
            Condition::ScoreAtLeast(n) => lead.score >= *n,
            Condition::EventCount { kind, at_least } => {
                lead.profile.counts.get(kind).copied().unwrap_or(0) >= *at_least
            }
            Condition::TopicWeight { topic, at_least } => {
                lead.profile.topics.get(topic).copied().unwrap_or(0.0) >= *at_least
            }
            Condition::HasField(f) => has_field(&lead.identity, *f),
        }
    }

    fn validate(&self, path: &str, depth: usize) -> Result<()> {
        if depth > 8 {
            return Err(CrmError::validation(
                path,
                "conditions nest deeper than 8 levels",
            ));
        }
        match self {
            Condition::All(cs) | Condition::Any(cs) => {
                if cs.is_empty() {
                    return Err(CrmError::validation(path, "needs at least one condition"));
                }
                for (i, c) in cs.iter().enumerate() {
                    c.validate(&format!("{path}[{i}]"), depth + 1)?;
                }
                Ok(())
            }
            Condition::Not(c) => c.validate(&format!("{path}.not"), depth + 1),
            Condition::TopicWeight { at_least, .. } if !at_least.is_finite() => Err(
                CrmError::validation(format!("{path}.at_least"), "must be a number"),
            ),
            _ => Ok(()),
        }
    }
}

/// A classification rule: leads matching `when` get `tag`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRule {
    /// The tag.
    pub tag: String,
    /// The condition.
    pub when: Condition,
    /// Remove the tag when the condition stops holding.
    #[serde(default)]
    pub sticky: bool,
}

/// Validate tag rules.
///
/// # Errors
/// A validation error on `tag_rules[i].tag` or `tag_rules[i].when…`.
pub fn validate_tag_rules(rules: &[TagRule]) -> Result<()> {
    for (i, r) in rules.iter().enumerate() {
        if r.tag.trim().is_empty() || r.tag.len() > 64 {
            return Err(CrmError::validation(
                format!("tag_rules[{i}].tag"),
                "must be 1-64 characters",
            ));
        }
        r.when.validate(&format!("tag_rules[{i}].when"), 0)?;
    }
    Ok(())
}

/// Apply tag rules and score thresholds to a lead; returns (added, removed) tags.
pub fn apply_tags(
    lead: &mut Lead,
    rules: &[TagRule],
    scoring: &ScoringConfig,
) -> (Vec<String>, Vec<String>) {
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for r in rules {
        let holds = r.when.eval(lead);
        if holds {
            if lead.tags.insert(r.tag.clone()) {
                added.push(r.tag.clone());
            }
        } else if !r.sticky && lead.tags.remove(&r.tag) {
            removed.push(r.tag.clone());
        }
    }
    for t in &scoring.thresholds {
        if let Some(tag) = &t.tag {
            if lead.score >= t.at_least {
                if lead.tags.insert(tag.clone()) {
                    added.push(tag.clone());
                }
            } else if lead.tags.remove(tag) {
                removed.push(tag.clone());
            }
        }
    }
    (added, removed)
}

/// The stage the highest reached threshold asks for, if any.
pub fn threshold_stage(score: i64, scoring: &ScoringConfig) -> Option<Stage> {
    scoring
        .thresholds
        .iter()
        .rev()
        .find(|t| score >= t.at_least && t.stage.is_some())
        .and_then(|t| t.stage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn ev(kind: BehaviourKind, at: DateTime<Utc>) -> BehaviourEvent {
        BehaviourEvent {
            lead: LeadId::new(),
            kind,
            at,
            topic: Some("excavator".into()),
            content: None,
        }
    }

    #[test]
    fn caps_decay_and_negative_points() {
        let mut cfg = ScoringConfig::default();
        cfg.rules.push(ScoreRule {
            name: "unsubscribe".into(),
            when: ScoreTrigger::Event {
                kind: BehaviourKind::Click,
                topic: Some("unsubscribe".into()),
            },
            points: -30,
            cap: Some(50),
        });
        cfg.validate().unwrap();
        let t0 = Utc::now();
        let mut s = ScoreState::default();
        let id = IdentityPresence::default();
        for _ in 0..10 {
            s.on_event(&ev(BehaviourKind::FormSubmit, t0), &cfg);
        }
        assert_eq!(s.score(&id, &cfg), 40); // capped at 40
        let mut later = ev(BehaviourKind::View, t0 + Duration::days(30));
        later.topic = None;
        s.on_event(&later, &cfg);
        assert_eq!(s.score(&id, &cfg), 22); // 40 halves to 20, plus 2
        let mut unsub = ev(BehaviourKind::Click, t0 + Duration::days(30));
        unsub.topic = Some("unsubscribe".into());
        s.on_event(&unsub, &cfg);
        s.on_event(&unsub, &cfg);
        // click +3 twice (capped 15), unsubscribe -30 twice capped at -50
        assert_eq!(s.score(&id, &cfg), 22 + 6 - 50);
    }

    #[test]
    fn profile_decays() {
        let cfg = ProfileConfig::default();
        let t0 = Utc::now();
        let mut p = Profile::default();
        p.apply(&ev(BehaviourKind::FormSubmit, t0), &cfg);
        p.apply(&ev(BehaviourKind::View, t0 + Duration::days(30)), &cfg);
        let w = p.topics["excavator"];
        assert!((w - 3.5).abs() < 1e-9, "{w}");
        assert_eq!(p.counts[&BehaviourKind::View], 1);
        assert_eq!(p.top_topics(1)[0].0, "excavator");
    }

    #[test]
    fn bad_configs_name_paths() {
        let mut cfg = ScoringConfig::default();
        cfg.thresholds.swap(0, 1);
        assert_eq!(
            cfg.validate().unwrap_err().field(),
            Some("thresholds[1].at_least")
        );
        let rules = vec![TagRule {
            tag: "x".into(),
            when: Condition::All(vec![Condition::Any(vec![])]),
            sticky: false,
        }];
        assert_eq!(
            validate_tag_rules(&rules).unwrap_err().field(),
            Some("tag_rules[0].when[0]")
        );
    }
}
