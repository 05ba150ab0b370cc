#![allow(dead_code)]

use std::sync::Arc;

use marketingforce_core::id::SeededIds;
use marketingforce_core::storage::{MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_crm::crypto::KeyRing;
use marketingforce_crm::ids::{TeamId, UserId};
use marketingforce_crm::staff::{Role, Staff};
use marketingforce_crm::{Crm, CrmConfig};

pub fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// The durable stores a test runs on besides memory: a SQLite file in `dir`, and PostgreSQL
/// (schema `schema`) when `MARKETINGFORCE_TEST_POSTGRES_URL` is set (else a message says that
/// part is skipped).
pub async fn durable_stores(dir: &std::path::Path, schema: &str) -> Vec<Arc<dyn Store>> {
    let sqlite = marketingforce_core::storage::SqliteStore::open(dir.join("test.db"))
        .await
        .expect("sqlite");
    let mut out: Vec<Arc<dyn Store>> = vec![Arc::new(sqlite)];
    match std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") {
        Ok(url) => {
            let options = marketingforce_core::storage::PostgresOptions::new(url).schema(schema);
            let pg = marketingforce_core::storage::PostgresStore::connect_with(options)
                .await
                .expect("postgres");
            out.push(Arc::new(pg));
        }
        Err(_) => eprintln!("skipped on PostgreSQL: MARKETINGFORCE_TEST_POSTGRES_URL is not set"),
    }
    out
}

/// The requests of `leads` synthetic captures, 30% of them planted duplicates.
pub fn synthetic(leads: usize, seed: u64) -> Vec<marketingforce_crm::request::CaptureRequest> {
    use marketingforce_crm::synth::{Synth, SynthConfig};
    Synth::new(SynthConfig {
        leads,
        duplicate_rate: 0.3,
        seed,
    })
    .generate()
    .into_iter()
    .map(|d| d.request)
    .collect()
}

pub struct Env {
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyRing>,
    pub clock: ManualClock,
    pub ids: Arc<SeededIds>,
    pub crm: Crm,
    pub tenant: TenantId,
}

impl Env {
    pub fn new(config: CrmConfig) -> Env {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        Env::on(store, config)
    }

    pub fn on(store: Arc<dyn Store>, config: CrmConfig) -> Env {
        let clock = ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").expect("clock");
        let ids = Arc::new(SeededIds::new(42, Arc::new(clock.clone())));
        let keys = Arc::new(KeyRing::new("k1", [7; 32]));
        let crm = Crm::builder(
            &marketingforce_core::env::Env::builder(store.clone())
                .keys(keys.clone())
                .clock(Arc::new(clock.clone()))
                .ids(ids.clone())
                .build(),
        )
        .config(config)
        .build()
        .expect("crm");
        Env {
            store,
            keys,
            clock,
            ids,
            crm,
            tenant: TenantId::new(),
        }
    }

    /// The SDK environment of this test world (its store, clock and ids), for the services
    /// built from one (`Sops::new(&env.core())`).
    pub fn core(&self) -> marketingforce_core::env::Env {
        marketingforce_core::env::Env::builder(self.store.clone())
            .clock(Arc::new(self.clock.clone()))
            .ids(self.ids.clone())
            .build()
    }

    /// A new process over the same store and keys.
    pub fn restart(&self) -> Crm {
        self.process_over(self.store.clone())
    }

    /// A process over `store` (another connection to this world's database, or a wrapper of
    /// its store) with this world's keys, clock, ids and configuration.
    pub fn process_over(&self, store: Arc<dyn Store>) -> Crm {
        Crm::builder(
            &marketingforce_core::env::Env::builder(store)
                .keys(self.keys.clone())
                .clock(Arc::new(self.clock.clone()))
                .ids(self.ids.clone())
                .build(),
        )
        .config(self.crm.config().clone())
        .build()
        .expect("crm")
    }

    pub async fn staff(&self, role: Role, level: u8, team: Option<TeamId>) -> UserId {
        let id = UserId::generate(self.ids.as_ref());
        let mut s = Staff::new(
            id,
            self.tenant,
            format!("staff-{level}"),
            role,
            level,
            self.clock.now(),
        );
        s.team = team;
        if role == Role::Manager {
            if let Some(t) = team {
                s.manages.push(t);
            }
        }
        self.crm.upsert_staff(&self.tenant, s).await.expect("staff");
        id
    }
}
