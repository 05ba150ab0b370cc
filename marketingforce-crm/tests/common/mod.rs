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
        Crm::builder(
            &marketingforce_core::env::Env::builder(self.store.clone())
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
