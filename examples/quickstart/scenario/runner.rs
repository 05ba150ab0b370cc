//! [`Scenario`]: runs the phases over a store, stops, restarts, resumes.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use marketingforce_ads::agreement::MediaPlatform;
use marketingforce_ads::ids::PlatformId;
use marketingforce_core::storage::{Collection, Entity, Store};
use serde::{Deserialize, Serialize};

use super::cast::{Cast, PhaseIds};
use super::error::{Result, ScenarioError};
use super::figures::Figures;
use super::outside::OutsideWorld;
use super::phase::Phase;
use super::phases;
use super::script;
use super::services::Services;

/// How far a run got, stored under the operator tenant after every phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Progress {
    run: u64,
    completed: Phase,
}

impl Entity for Progress {
    const COLLECTION: &'static str = "scenario.progress";
    fn key(&self) -> String {
        "progress".into()
    }
}

async fn progress_of(store: &Arc<dyn Store>, run: u64) -> Result<Option<Phase>> {
    let cast = Cast::new(run);
    Ok(Collection::<Progress>::new(store.clone())
        .get(&cast.operator, "progress")
        .await?
        .map(|v| v.value.completed))
}

/// What one phase did, in words (for the console report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseReport {
    /// The phase.
    pub phase: Phase,
    /// When it started on the story's clock.
    pub started_at: DateTime<Utc>,
    /// What happened, one line per step.
    pub lines: Vec<String>,
}

/// The day-in-the-life scenario over one store (see the [module docs](super)).
#[derive(Debug)]
pub struct Scenario {
    cast: Cast,
    outside: OutsideWorld,
    ids: Arc<PhaseIds>,
    services: Services,
    completed: Option<Phase>,
}

impl Scenario {
    /// Start run `run` on `store` with a fresh outside world. Runs are numbered so one durable
    /// store can hold several (their tenants differ); the figures do not depend on the number.
    ///
    /// # Errors
    /// [`ScenarioError::AlreadyStarted`] when the store holds this run; storage errors.
    pub async fn start(store: Arc<dyn Store>, run: u64) -> Result<Scenario> {
        if let Some(completed) = progress_of(&store, run).await? {
            return Err(ScenarioError::AlreadyStarted {
                run,
                completed,
                next_free: Scenario::next_free_run(&store, run).await?,
            });
        }
        let cast = Cast::new(run);
        let outside = OutsideWorld::new(&cast);
        Scenario::open(store, cast, outside, None).await
    }

    /// Resume run `run` on `store` after a restart: every service is rebuilt from the store,
    /// and the story continues with the phase after the last one completed. `outside` is the
    /// world the run started with ([`Scenario::stop`] hands it back).
    ///
    /// # Errors
    /// [`ScenarioError::NotStarted`] when the store holds no progress of the run; storage
    /// errors while rebuilding.
    pub async fn resume(
        store: Arc<dyn Store>,
        run: u64,
        outside: OutsideWorld,
    ) -> Result<Scenario> {
        let completed = progress_of(&store, run)
            .await?
            .ok_or(ScenarioError::NotStarted { run })?;
        Scenario::open(store, Cast::new(run), outside, Some(completed)).await
    }

    async fn open(
        store: Arc<dyn Store>,
        cast: Cast,
        outside: OutsideWorld,
        completed: Option<Phase>,
    ) -> Result<Scenario> {
        let ids = Arc::new(PhaseIds::new(cast.run, Arc::new(outside.clock.clone())));
        let services = Services::open(store, &cast, &outside, ids.clone()).await?;
        Ok(Scenario {
            cast,
            outside,
            ids,
            services,
            completed,
        })
    }

    /// The first run number from `from` on that `store` does not hold.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn next_free_run(store: &Arc<dyn Store>, from: u64) -> Result<u64> {
        let mut run = from;
        while progress_of(store, run).await?.is_some() {
            run = run.wrapping_add(1);
        }
        Ok(run)
    }

    /// The cast: tenants and staff of this run.
    pub fn cast(&self) -> &Cast {
        &self.cast
    }

    /// The simulated media platforms and the clock.
    pub fn outside(&self) -> &OutsideWorld {
        &self.outside
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.services.store
    }

    /// The last phase completed, if any.
    pub fn completed(&self) -> Option<Phase> {
        self.completed
    }

    /// The phase that runs next, if any is left.
    pub fn next_phase(&self) -> Option<Phase> {
        match self.completed {
            None => Phase::ALL.first().copied(),
            Some(p) => p.next(),
        }
    }

    /// Run the next phase, then record the progress in the store.
    ///
    /// # Errors
    /// [`ScenarioError::Finished`] when nothing is left; any error of the phase (the phase can
    /// be run again: every command is idempotent).
    pub async fn run_next(&mut self) -> Result<PhaseReport> {
        let phase = self
            .next_phase()
            .ok_or(ScenarioError::Finished { run: self.cast.run })?;
        self.ids.enter(phase);
        self.outside.clock.set(phase.starts_at());
        let mut ctx = Ctx {
            phase,
            cast: &self.cast,
            outside: &self.outside,
            svc: &self.services,
            lines: Vec::new(),
        };
        phases::run(&mut ctx).await?;
        let lines = ctx.lines;
        self.services.flush().await?;
        Collection::<Progress>::new(self.services.store.clone())
            .upsert(
                &self.cast.operator,
                &Progress {
                    run: self.cast.run,
                    completed: phase,
                },
            )
            .await?;
        self.completed = Some(phase);
        Ok(PhaseReport {
            phase,
            started_at: phase.starts_at(),
            lines,
        })
    }

    /// Run phases up to and including `last` (nothing when it already ran).
    ///
    /// # Errors
    /// As [`run_next`](Self::run_next).
    pub async fn run_through(&mut self, last: Phase) -> Result<Vec<PhaseReport>> {
        let mut out = Vec::new();
        while self.completed.is_none_or(|c| c < last) {
            out.push(self.run_next().await?);
        }
        Ok(out)
    }

    /// Run every phase left and compute the figures.
    ///
    /// # Errors
    /// As [`run_next`](Self::run_next) and [`figures`](Self::figures).
    pub async fn run_to_end(&mut self) -> Result<Figures> {
        if let Some(last) = Phase::ALL.last() {
            self.run_through(*last).await?;
        }
        self.figures().await
    }

    /// The key figures, computed from the store alone.
    ///
    /// # Errors
    /// [`ScenarioError::NotFinished`] before month-end; storage errors.
    pub async fn figures(&self) -> Result<Figures> {
        if self.completed != Phase::ALL.last().copied() {
            return Err(ScenarioError::NotFinished {
                completed: self.completed,
            });
        }
        Figures::compute(&self.cast, &self.services).await
    }

    /// Stop the platform: write what is queued, drop every service (and with them every
    /// in-memory state and the store handle), and hand back the outside world.
    ///
    /// # Errors
    /// Storage errors of the final flush.
    pub async fn stop(self) -> Result<OutsideWorld> {
        self.services.flush().await?;
        Ok(self.outside)
    }
}

/// What a phase works with.
pub(crate) struct Ctx<'a> {
    pub phase: Phase,
    pub cast: &'a Cast,
    pub outside: &'a OutsideWorld,
    pub svc: &'a Services,
    pub lines: Vec<String>,
}

impl Ctx<'_> {
    /// Say what happened.
    pub fn say(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    /// Now, on the story's clock.
    pub fn now(&self) -> DateTime<Utc> {
        marketingforce_core::time::Clock::now(&self.outside.clock)
    }

    /// Set the clock to `hour:minute` Shanghai time on `date`.
    pub fn at(&self, date: NaiveDate, hour: u32, minute: u32) {
        self.outside
            .clock
            .set(super::cast::shanghai(date, hour, minute));
    }

    /// A failure of the story's expectations.
    pub fn unexpected(&self, what: impl Into<String>) -> ScenarioError {
        ScenarioError::unexpected(self.phase, what)
    }

    /// The registered ad platform (after the ads set-up).
    pub async fn ad_platform(&self) -> Result<Option<PlatformId>> {
        Ok(Collection::<MediaPlatform>::new(self.svc.store.clone())
            .lookup_all(&self.cast.operator, "code", script::AD_PLATFORM_CODE)
            .await?
            .first()
            .map(|v| v.value.id))
    }

    /// Close the days `from..=to`: the ad platform delivers each day, its reports are fetched,
    /// and entitlements are recompiled for the next day.
    pub async fn close_days(&mut self, from: NaiveDate, to: NaiveDate) -> Result<()> {
        let platform = self.ad_platform().await?;
        let mut d = from;
        while d <= to {
            self.at(d, 23, 30);
            self.outside.ad_platform.run_day(d);
            if let Some(p) = platform {
                let fetched = self.svc.ads.fetch_reports(&p, d).await?;
                if let Some(f) = fetched.failed.first() {
                    return Err(self.unexpected(format!("report of {d} not fetched: {f:?}")));
                }
            }
            self.svc.registry.tick()?;
            d = match d.succ_opt() {
                Some(n) => n,
                None => break,
            };
        }
        Ok(())
    }
}
