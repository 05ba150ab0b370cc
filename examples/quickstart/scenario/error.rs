//! [`ScenarioError`]: what can stop the quickstart scenario.

use super::Phase;

/// Result alias of the scenario.
pub type Result<T, E = ScenarioError> = std::result::Result<T, E>;

/// Everything that can stop the scenario. The domain crates' errors are wrapped unchanged; the
/// scenario's own variants say which phase expected what.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// A core error: storage, validation with a field path, idempotency, isolation…
    #[error(transparent)]
    Core(#[from] marketingforce_core::Error),

    /// From `marketingforce-modules` (catalog, subscriptions, entitlements, metering, revenue).
    #[error(transparent)]
    Modules(#[from] marketingforce_modules::ModulesError),

    /// From `marketingforce-crm` (leads, membership, fission, SOPs).
    #[error(transparent)]
    Crm(#[from] marketingforce_crm::CrmError),

    /// From `marketingforce-ads` (ad operations, ledger, settlement).
    #[error(transparent)]
    Ads(#[from] marketingforce_ads::AdsError),

    /// From `marketingforce-content` (generation, compliance, publishing).
    #[error(transparent)]
    Content(#[from] marketingforce_content::ContentError),

    /// From `marketingforce-sites` (official site, forms, visitor analytics).
    #[error(transparent)]
    Sites(#[from] marketingforce_sites::SitesError),

    /// The store already holds this run (every command is idempotent, but a finished story
    /// cannot be told twice): use a fresh store, another run number, or
    /// [`Scenario::resume`](super::Scenario::resume).
    #[error("the store already holds scenario run {run} (completed through {completed}); start run {next_free} instead or resume it")]
    AlreadyStarted {
        /// The run number asked for.
        run: u64,
        /// The last phase it completed.
        completed: Phase,
        /// A run number whose tenants the store does not know yet.
        next_free: u64,
    },

    /// [`Scenario::resume`](super::Scenario::resume) found no progress of this run in the store.
    #[error("the store holds no progress of scenario run {run}: start it instead")]
    NotStarted {
        /// The run number.
        run: u64,
    },

    /// Every phase has run already.
    #[error("scenario run {run} is finished: nothing left to run")]
    Finished {
        /// The run number.
        run: u64,
    },

    /// The figures are only complete after month-end.
    #[error("the figures need every phase; the run completed through {completed:?}")]
    NotFinished {
        /// The last phase completed, if any.
        completed: Option<Phase>,
    },

    /// A step of the story did not do what the story (and the domain rules) say it must: the
    /// SDK behaved unexpectedly.
    #[error("phase {phase}: {what}")]
    Unexpected {
        /// The phase.
        phase: Phase,
        /// What was expected and what happened.
        what: String,
    },
}

impl ScenarioError {
    pub(crate) fn unexpected(phase: Phase, what: impl Into<String>) -> ScenarioError {
        ScenarioError::Unexpected {
            phase,
            what: what.into(),
        }
    }
}
