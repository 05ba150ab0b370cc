//! SOPs: customer and activity SOP templates (steps at offsets from a trigger event, with
//! reminders and escalation), and community SOPs for group chats classified by location, user
//! type and purchase history (scheduled messages with reminders). Due tasks are queryable per
//! salesperson; overdue steps escalate.
//!
//! ```
//! use marketingforce_crm::sop::{SopKind, SopStep, SopTemplate, StepAction, Trigger};
//! use marketingforce_crm::ids::SopId;
//!
//! let t = SopTemplate {
//!     id: SopId::new(),
//!     name: "新线索跟进".into(),
//!     kind: SopKind::Customer,
//!     trigger: Trigger::Assigned,
//!     steps: vec![
//!         SopStep { title: "首次电话".into(), offset_hours: 2, action: StepAction::Call, remind_before_minutes: 30, escalate_after_hours: Some(4) },
//!         SopStep { title: "发送产品资料".into(), offset_hours: 24, action: StepAction::Message { text: "您好，这是资料".into() }, remind_before_minutes: 60, escalate_after_hours: None },
//!     ],
//! };
//! t.validate().unwrap();
//! ```

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use marketingforce_core::env::Env;
use marketingforce_core::id::IdGenerator;
use marketingforce_core::storage::{
    Batch, Collection, Entity, Expect, Idempotent, IndexEntry, Store,
};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::ids::{GroupId, LeadId, MaterialId, SopId, TaskId, UserId};
use crate::model::Stage;

/// The kind of SOP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SopKind {
    /// Daily customer follow-up.
    Customer,
    /// Around a marketing activity (event, live stream, promotion).
    Activity,
}

/// What starts an SOP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Trigger {
    /// The lead was assigned.
    Assigned,
    /// The lead entered a stage.
    StageEntered(Stage),
    /// The lead registered for an activity.
    Activity(String),
    /// Started by hand.
    Manual,
}

/// What a step asks the salesperson to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StepAction {
    /// Call.
    Call,
    /// Send a message.
    Message {
        /// The text.
        text: String,
    },
    /// Visit.
    Visit,
    /// Send a library material.
    SendMaterial {
        /// The material.
        material: MaterialId,
    },
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SopStep {
    /// Title.
    pub title: String,
    /// Hours after the trigger the step is due.
    pub offset_hours: i64,
    /// The action.
    pub action: StepAction,
    /// Minutes before the due time to remind.
    pub remind_before_minutes: u32,
    /// Hours after the due time an open step escalates to the manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_after_hours: Option<u32>,
}

/// A customer or activity SOP template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SopTemplate {
    /// Id.
    pub id: SopId,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: SopKind,
    /// Trigger.
    pub trigger: Trigger,
    /// Steps.
    pub steps: Vec<SopStep>,
}

impl Entity for SopTemplate {
    const COLLECTION: &'static str = "crm.sop_templates";
    fn key(&self) -> String {
        self.id.to_string()
    }
}

/// The longest a step may be due after its trigger, or escalate after its due time: one year
/// (366 days) in hours.
pub const MAX_STEP_HOURS: i64 = 24 * 366;

impl SopTemplate {
    /// Check the template.
    ///
    /// # Errors
    /// A validation error naming the path (`steps[1].offset_hours`).
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(CrmError::validation("name", "must not be blank"));
        }
        if self.steps.is_empty() {
            return Err(CrmError::validation("steps", "needs at least one step"));
        }
        for (i, s) in self.steps.iter().enumerate() {
            if s.title.trim().is_empty() {
                return Err(CrmError::validation(
                    format!("steps[{i}].title"),
                    "must not be blank",
                ));
            }
            if !(0..=MAX_STEP_HOURS).contains(&s.offset_hours) {
                return Err(CrmError::validation(
                    format!("steps[{i}].offset_hours"),
                    "must be 0 to one year",
                ));
            }
            if s.escalate_after_hours
                .is_some_and(|h| i64::from(h) > MAX_STEP_HOURS)
            {
                return Err(CrmError::validation(
                    format!("steps[{i}].escalate_after_hours"),
                    "must be at most one year",
                ));
            }
            if i > 0 && self.steps[i - 1].offset_hours > s.offset_hours {
                return Err(CrmError::validation(
                    format!("steps[{i}].offset_hours"),
                    "steps must be in time order",
                ));
            }
        }
        Ok(())
    }
}

/// Purchase history segment of a group chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseSegment {
    /// Members have not bought yet.
    Prospects,
    /// First-time buyers.
    FirstTime,
    /// Repeat buyers.
    Repeat,
    /// Bought long ago.
    Lapsed,
}

/// A group chat managed by community SOPs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GroupChat {
    /// Id.
    pub id: GroupId,
    /// Name.
    pub name: String,
    /// Location (city).
    pub location: String,
    /// User type (e.g. `dealer`, `end_user`, `distributor`).
    pub user_type: String,
    /// Purchase history segment.
    pub purchase: PurchaseSegment,
    /// The staff member running it.
    pub owner: UserId,
}

/// Which groups a community SOP applies to (empty lists match anything).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupFilter {
    /// Locations.
    #[serde(default)]
    pub locations: Vec<String>,
    /// User types.
    #[serde(default)]
    pub user_types: Vec<String>,
    /// Purchase segments.
    #[serde(default)]
    pub purchase: Vec<PurchaseSegment>,
}

impl GroupFilter {
    /// Whether the group matches.
    pub fn matches(&self, g: &GroupChat) -> bool {
        (self.locations.is_empty() || self.locations.contains(&g.location))
            && (self.user_types.is_empty() || self.user_types.contains(&g.user_type))
            && (self.purchase.is_empty() || self.purchase.contains(&g.purchase))
    }
}

/// A scheduled group message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduledMessage {
    /// Hours after the SOP starts.
    pub offset_hours: i64,
    /// The text.
    pub text: String,
    /// Minutes before to remind the group owner.
    pub remind_before_minutes: u32,
}

/// A community SOP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommunitySop {
    /// Id.
    pub id: SopId,
    /// Name.
    pub name: String,
    /// Groups it applies to.
    pub filter: GroupFilter,
    /// Messages.
    pub messages: Vec<ScheduledMessage>,
}

/// What a task is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// A lead.
    Lead(LeadId),
    /// A group chat.
    Group(GroupId),
}

/// A task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// To do.
    Open,
    /// Done.
    Done,
    /// Overdue and escalated.
    Escalated,
}

/// One step of an SOP for one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SopTask {
    /// Id.
    pub id: TaskId,
    /// The SOP.
    pub sop: SopId,
    /// Step index.
    pub step: usize,
    /// Subject.
    pub subject: Subject,
    /// Who must do it.
    pub assignee: UserId,
    /// Title (or message text for community SOPs).
    pub title: String,
    /// Due.
    pub due_at: DateTime<Utc>,
    /// Remind at.
    pub remind_at: DateTime<Utc>,
    /// Escalate at, if the step escalates.
    pub escalate_at: Option<DateTime<Utc>>,
    /// Status.
    pub status: TaskStatus,
    /// Escalated to.
    pub escalated_to: Option<UserId>,
}

impl Entity for SopTask {
    const COLLECTION: &'static str = "crm.sop_tasks";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        let status = match self.status {
            TaskStatus::Open => "open",
            TaskStatus::Done => "done",
            TaskStatus::Escalated => "escalated",
        };
        vec![
            IndexEntry::new("assignee_status", format!("{}:{status}", self.assignee)),
            IndexEntry::new("status", status),
        ]
    }
}

/// The SOP service over a [`Store`].
#[derive(Debug)]
pub struct Sops {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    max_clock_skew: Duration,
}

/// Builds [`Sops`] ([`Sops::builder`]).
#[derive(Debug)]
#[must_use]
pub struct SopsBuilder {
    env: Env,
    max_clock_skew: Duration,
}

impl SopsBuilder {
    /// How far ahead of the service's clock a lead SOP's `trigger_at` may be (default
    /// [`DEFAULT_MAX_CLOCK_SKEW`](crate::request::DEFAULT_MAX_CLOCK_SKEW), 5 minutes).
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew.abs();
        self
    }

    /// The service.
    pub fn build(self) -> Sops {
        Sops {
            store: self.env.store().clone(),
            clock: self.env.clock().clone(),
            ids: self.env.ids().clone(),
            max_clock_skew: self.max_clock_skew,
        }
    }
}

/// How far ahead a community SOP may be scheduled: 366 days.
pub const MAX_COMMUNITY_SCHEDULE_DAYS: i64 = 366;

impl Sops {
    /// A service on `env` (its store, clock and ids) with the default clock skew.
    pub fn new(env: &Env) -> Sops {
        Sops::builder(env).build()
    }

    /// Start building a service on `env` (see [`SopsBuilder`]).
    pub fn builder(env: &Env) -> SopsBuilder {
        SopsBuilder {
            env: env.clone(),
            max_clock_skew: crate::request::DEFAULT_MAX_CLOCK_SKEW,
        }
    }

    /// The trigger of a lead SOP happened (assignment, stage change): it is not in the future
    /// beyond the clock skew, nor before 2000.
    fn check_trigger(&self, trigger_at: DateTime<Utc>) -> Result<()> {
        crate::request::check_client_time(
            "trigger_at",
            trigger_at,
            self.clock.now(),
            self.max_clock_skew,
        )
    }

    /// A community SOP is a schedule: it may start in the future, up to
    /// [`MAX_COMMUNITY_SCHEDULE_DAYS`] ahead, and not before 2000.
    fn check_schedule(&self, start: DateTime<Utc>) -> Result<()> {
        crate::request::check_client_time(
            "start",
            start,
            self.clock.now(),
            Duration::days(MAX_COMMUNITY_SCHEDULE_DAYS),
        )
    }

    fn tasks(&self) -> Collection<SopTask> {
        Collection::new(self.store.clone())
    }

    /// Save a template after validating it.
    ///
    /// # Errors
    /// The validation error; storage errors.
    #[operation("crm.sop.save_template", tenant = tenant)]
    pub async fn save_template(&self, tenant: &TenantId, t: &SopTemplate) -> Result<()> {
        t.validate()?;
        Collection::<SopTemplate>::new(self.store.clone())
            .upsert(tenant, t)
            .await?;
        Ok(())
    }

    /// Start a template for a lead whose trigger happened at `trigger_at`: one task per step,
    /// at most once per `key` — retrying with the same key and the same arguments returns the
    /// tasks of the first run and writes nothing.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use marketingforce_core::IdempotencyKey;
    /// # use marketingforce_core::env::Env;
    /// # use marketingforce_core::storage::MemoryStore;
    /// # use marketingforce_core::tenant::TenantId;
    /// # use marketingforce_core::time::{Clock, SystemClock};
    /// # use marketingforce_crm::ids::{LeadId, SopId, UserId};
    /// # use marketingforce_crm::sop::{SopKind, SopStep, SopTemplate, Sops, StepAction, Trigger};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let sops = Sops::new(&Env::new(Arc::new(MemoryStore::new())));
    /// let tenant = TenantId::new();
    /// let step = SopStep { title: "首次电话".into(), offset_hours: 2, action: StepAction::Call, remind_before_minutes: 30, escalate_after_hours: None };
    /// let t = SopTemplate { id: SopId::new(), name: "跟进".into(), kind: SopKind::Customer, trigger: Trigger::Assigned, steps: vec![step] };
    /// sops.save_template(&tenant, &t).await.unwrap();
    /// let (lead, user, at) = (LeadId::new(), UserId::new(), SystemClock.now());
    /// let key = IdempotencyKey::from_static("sop-1");
    /// let first = sops.start(&tenant, &t.id, &lead, &user, at, &key).await.unwrap();
    /// let again = sops.start(&tenant, &t.id, &lead, &user, at, &key).await.unwrap();
    /// assert_eq!(first, again);
    /// // The same key for another lead is refused.
    /// assert!(sops.start(&tenant, &t.id, &LeadId::new(), &user, at, &key).await.is_err());
    /// # });
    /// ```
    ///
    /// # Errors
    /// An idempotency mismatch ([`marketingforce_core::Error::IdempotencyMismatch`]) when the
    /// key was used for another request; a validation error on `trigger_at` more than the
    /// clock skew ahead of the service clock or before 2000; an unknown template; storage
    /// errors.
    #[operation("crm.sop.start", tenant = tenant, key = key)]
    pub async fn start(
        &self,
        tenant: &TenantId,
        template: &SopId,
        lead: &LeadId,
        assignee: &UserId,
        trigger_at: DateTime<Utc>,
        key: &IdempotencyKey,
    ) -> Result<Vec<SopTask>> {
        self.check_trigger(trigger_at)?;
        // The claim is stored under the key as given (the pre-0.2 form), not scoped by
        // operation: keys of SOP starts already stored keep answering their retries.
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(
            key.as_str(),
            &("sop_start", template, lead, assignee, trigger_at),
        )?;
        if let Some(prev) = idem.check(self.store.as_ref(), tenant).await? {
            return Ok(prev);
        }
        let tasks = self
            .plan(tenant, template, lead, assignee, trigger_at)
            .await?;
        self.save_all_once(tenant, &idem, tasks).await
    }

    async fn plan(
        &self,
        tenant: &TenantId,
        template: &SopId,
        lead: &LeadId,
        assignee: &UserId,
        trigger_at: DateTime<Utc>,
    ) -> Result<Vec<SopTask>> {
        let t = Collection::<SopTemplate>::new(self.store.clone())
            .require(tenant, &template.to_string())
            .await?
            .value;
        // The template was validated when saved, but may have been stored before `validate`
        // bounded every time of a step: the dates are checked again.
        let out_of_range = |i: usize, f: &str| {
            CrmError::validation(format!("steps[{i}].{f}"), "puts the step past the calendar")
        };
        let mut tasks = Vec::with_capacity(t.steps.len());
        for (i, s) in t.steps.iter().enumerate() {
            let due = trigger_at
                .checked_add_signed(Duration::hours(s.offset_hours))
                .ok_or_else(|| out_of_range(i, "offset_hours"))?;
            let remind_at = due
                .checked_sub_signed(Duration::minutes(i64::from(s.remind_before_minutes)))
                .ok_or_else(|| out_of_range(i, "remind_before_minutes"))?;
            let escalate_at = match s.escalate_after_hours {
                Some(h) => Some(
                    due.checked_add_signed(Duration::hours(i64::from(h)))
                        .ok_or_else(|| out_of_range(i, "escalate_after_hours"))?,
                ),
                None => None,
            };
            tasks.push(SopTask {
                id: TaskId::generate(self.ids.as_ref()),
                sop: t.id,
                step: i,
                subject: Subject::Lead(*lead),
                assignee: *assignee,
                title: s.title.clone(),
                due_at: due,
                remind_at,
                escalate_at,
                status: TaskStatus::Open,
                escalated_to: None,
            });
        }
        Ok(tasks)
    }

    /// Start a community SOP on every group it matches, starting at `start`, at most once per
    /// `key`: retrying with the same key and the same SOP, groups and start returns the tasks
    /// of the first run and writes nothing.
    ///
    /// # Errors
    /// A validation error on the SOP, or on a `start` more than
    /// [`MAX_COMMUNITY_SCHEDULE_DAYS`] ahead or before 2000; an idempotency mismatch
    /// ([`marketingforce_core::Error::IdempotencyMismatch`]) when the key was used for another
    /// request; storage errors.
    #[operation("crm.sop.start_community", tenant = tenant, key = key)]
    pub async fn start_community(
        &self,
        tenant: &TenantId,
        sop: &CommunitySop,
        groups: &[GroupChat],
        start: DateTime<Utc>,
        key: &IdempotencyKey,
    ) -> Result<Vec<SopTask>> {
        self.check_schedule(start)?;
        // Claim stored under the key as given (the pre-0.2 form); see `start`.
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(key.as_str(), &("sop_start_community", sop, groups, start))?;
        if let Some(prev) = idem.check(self.store.as_ref(), tenant).await? {
            return Ok(prev);
        }
        let tasks = self.plan_community(sop, groups, start)?;
        self.save_all_once(tenant, &idem, tasks).await
    }

    fn plan_community(
        &self,
        sop: &CommunitySop,
        groups: &[GroupChat],
        start: DateTime<Utc>,
    ) -> Result<Vec<SopTask>> {
        if sop.messages.is_empty() {
            return Err(CrmError::validation(
                "messages",
                "needs at least one message",
            ));
        }
        for (i, m) in sop.messages.iter().enumerate() {
            if !(0..=MAX_STEP_HOURS).contains(&m.offset_hours) {
                return Err(CrmError::validation(
                    format!("messages[{i}].offset_hours"),
                    "must be 0 to one year",
                ));
            }
        }
        let mut tasks = Vec::new();
        for g in groups.iter().filter(|g| sop.filter.matches(g)) {
            for (i, m) in sop.messages.iter().enumerate() {
                let due = start + Duration::hours(m.offset_hours);
                tasks.push(SopTask {
                    id: TaskId::generate(self.ids.as_ref()),
                    sop: sop.id,
                    step: i,
                    subject: Subject::Group(g.id),
                    assignee: g.owner,
                    title: m.text.clone(),
                    due_at: due,
                    remind_at: due - Duration::minutes(i64::from(m.remind_before_minutes)),
                    escalate_at: None,
                    status: TaskStatus::Open,
                    escalated_to: None,
                });
            }
        }
        Ok(tasks)
    }

    fn batch_of(tenant: &TenantId, tasks: &[SopTask]) -> Result<Batch> {
        let mut b = Batch::new();
        for t in tasks {
            b.put_entity(tenant, t, Expect::Absent)?;
        }
        Ok(b)
    }

    /// Save `tasks` together with the idempotency key; a concurrent run that committed the key
    /// first wins and its tasks are returned instead.
    async fn save_all_once(
        &self,
        tenant: &TenantId,
        idem: &Idempotent,
        tasks: Vec<SopTask>,
    ) -> Result<Vec<SopTask>> {
        let batch = Self::batch_of(tenant, &tasks)?;
        Ok(idem
            .commit(self.store.as_ref(), tenant, batch, tasks)
            .await?)
    }

    /// Open tasks of `assignee` due by `until`, soonest first.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("crm.sop.due_tasks", tenant = tenant)]
    pub async fn due_tasks(
        &self,
        tenant: &TenantId,
        assignee: &UserId,
        until: DateTime<Utc>,
    ) -> Result<Vec<SopTask>> {
        let mut v: Vec<SopTask> = self
            .tasks()
            .lookup_all(tenant, "assignee_status", &format!("{assignee}:open"))
            .await?
            .into_iter()
            .map(|t| t.value)
            .filter(|t| t.due_at <= until)
            .collect();
        v.sort_by_key(|t| (t.due_at, t.id));
        Ok(v)
    }

    /// Open tasks whose reminder time has come.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("crm.sop.reminders", tenant = tenant)]
    pub async fn reminders(&self, tenant: &TenantId) -> Result<Vec<SopTask>> {
        let now = self.clock.now();
        let mut v: Vec<SopTask> = self
            .tasks()
            .lookup_all(tenant, "status", "open")
            .await?
            .into_iter()
            .map(|t| t.value)
            .filter(|t| t.remind_at <= now)
            .collect();
        v.sort_by_key(|t| (t.remind_at, t.id));
        Ok(v)
    }

    /// Mark a task done.
    ///
    /// # Errors
    /// Not found; storage errors.
    #[operation("crm.sop.complete", tenant = tenant)]
    pub async fn complete(&self, tenant: &TenantId, task: &TaskId) -> Result<()> {
        let mut t = self.tasks().require(tenant, &task.to_string()).await?;
        if t.value.status == TaskStatus::Done {
            return Ok(());
        }
        t.value.status = TaskStatus::Done;
        self.tasks().update(tenant, &t.value, t.version).await?;
        Ok(())
    }

    /// Escalate open tasks past their escalation time to the assignee's manager (as
    /// `manager_of` says). Returns the escalated tasks.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn escalate_overdue(
        &self,
        tenant: &TenantId,
        manager_of: impl Fn(&UserId) -> Option<UserId>,
    ) -> Result<Vec<SopTask>> {
        let now = self.clock.now();
        let mut b = Batch::new();
        let mut out = Vec::new();
        for t in self.tasks().lookup_all(tenant, "status", "open").await? {
            if t.value.escalate_at.is_some_and(|e| e <= now) {
                let mut v = t.value.clone();
                v.status = TaskStatus::Escalated;
                v.escalated_to = manager_of(&v.assignee);
                b.put_entity(tenant, &v, Expect::Version(t.version))?;
                out.push(v);
            }
        }
        if !out.is_empty() {
            self.store.commit(tenant, b).await?;
        }
        Ok(out)
    }
}
