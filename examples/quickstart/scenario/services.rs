//! The platform's services, wired over one store. Everything here is in memory and rebuilt
//! from the store when opened: dropping a [`Services`] and opening another on the same store is
//! a restart.

use std::sync::Arc;

use marketingforce_ads::agreement::MediaPlatform;
use marketingforce_ads::AdOps;
use marketingforce_content::compliance::ReviewService;
use marketingforce_content::distribution::{ChannelCatalogue, ModulesQuota, Publisher};
use marketingforce_content::optimise::InquiryForwarder;
use marketingforce_core::adapters::ad_platform::AdPlatform;
use marketingforce_core::adapters::channel::ContentChannel;
use marketingforce_core::env::Env;
use marketingforce_core::storage::{Collection, Store};
use marketingforce_core::time::Clock;
use marketingforce_crm::allocation::{AllocationRule, Strategy};
use marketingforce_crm::crypto::KeyRing;
use marketingforce_crm::fission::Fission;
use marketingforce_crm::library::Library;
use marketingforce_crm::membership::Membership;
use marketingforce_crm::seats::EntitlementSeats;
use marketingforce_crm::sop::Sops;
use marketingforce_crm::{Crm, CrmConfig};
use marketingforce_modules::catalog::ModuleId;
use marketingforce_modules::channel::ChannelService;
use marketingforce_modules::entitlements::EntitlementRegistry;
use marketingforce_modules::pricing::QuoteEngine;
use marketingforce_modules::subscriptions::Subscriptions;

use marketingforce_sites::analytics::{
    Collector, CsvRangeTable, SiteRegistry, VisitAnalytics, VisitLog,
};
use marketingforce_sites::forms::FormService;
use marketingforce_sites::keys::SiteKey;
use marketingforce_sites::publish::SitePublisher;

use super::cast::{Cast, PhaseIds};
use super::error::Result;
use super::outside::OutsideWorld;
use super::script;
use marketingforce::bridges::{ComplianceReview, CrmInquirySink};

/// The demo master secret of the CRM's personal-data encryption and blind indexes. A real
/// deployment takes its keys from a KMS through its own `KeyProvider`.
const DEMO_MASTER_KEY: [u8; 32] = *b"marketingforce-quickstart-demo!!";

/// The demo key of the site's beacon tokens and form digests.
const DEMO_SITE_KEY: [u8; 32] = *b"marketingforce-quickstart-sites!";

/// Tenant A's official site: publishing, the beacon collector, the inquiry form and the
/// visitor analytics over the store.
#[derive(Debug)]
pub(crate) struct SiteServices {
    pub publisher: SitePublisher,
    pub collector: Collector,
    pub forms: FormService,
    pub analytics: Arc<VisitAnalytics>,
}

impl SiteServices {
    fn open(
        store: &Arc<dyn Store>,
        clock: &Arc<dyn Clock>,
        ids: &Arc<PhaseIds>,
        cast: &Cast,
        reviews: &ReviewService,
        crm_a: &Arc<Crm>,
    ) -> Result<SiteServices> {
        let env = Env::builder(store.clone())
            .clock(clock.clone())
            .ids(ids.clone())
            .build();
        // Which tenant owns which site is configuration: registered at every start.
        let registry = Arc::new(SiteRegistry::new());
        let site = marketingforce_sites::demo::jinggong()?;
        registry.register(cast.jinggong, &site.site, &[])?;
        let locator = Arc::new(CsvRangeTable::test_table());
        let analytics = Arc::new(VisitAnalytics::new(&env));
        let collector = Collector::new(
            registry,
            SiteKey::new(DEMO_SITE_KEY),
            clock.clone(),
            ids.clone(),
            Arc::new(VisitLog::new(store.clone(), 1_000)),
        )
        .with_locator(locator.clone());
        let forms = FormService::builder(
            &env,
            Arc::new(marketingforce_sites::forms::CrmLeadSink::new(crm_a.clone())),
            SiteKey::new(DEMO_SITE_KEY),
        )
        .locator(locator)
        .analytics(analytics.clone())
        .build();
        Ok(SiteServices {
            publisher: SitePublisher::builder(&env)
                .reviews(reviews.clone())
                .build(),
            collector,
            forms,
            analytics,
        })
    }
}

/// Every service of the story, over one store.
#[derive(Debug)]
pub(crate) struct Services {
    pub store: Arc<dyn Store>,
    pub registry: Arc<EntitlementRegistry>,
    pub subscriptions: Subscriptions,
    pub channel: ChannelService,
    pub crm_a: Arc<Crm>,
    pub crm_b: Arc<Crm>,
    pub membership: Membership,
    pub fission: Fission,
    pub sops: Sops,
    pub library: Library,
    pub reviews: ReviewService,
    pub publisher: Arc<Publisher>,
    pub forwarder: InquiryForwarder,
    pub ads: AdOps,
    pub sites: SiteServices,
}

/// Tenant A's allocation: East China leads in turn to the two specialists, the rest to the
/// least-loaded of them and the manager.
fn config_a(cast: &Cast) -> CrmConfig {
    let ids: Vec<_> = cast.a_staff.iter().map(|p| p.id).collect();
    let mut cfg = CrmConfig::default();
    if let [manager, li, chen] = ids[..] {
        cfg.allocation.rules = vec![
            AllocationRule::new("华东", Strategy::RoundRobin, vec![li, chen])
                .regions(["上海", "江苏", "浙江"]),
            AllocationRule::new("其他地区", Strategy::LeastLoaded, vec![li, chen, manager]),
        ];
    }
    cfg
}

/// Tenant B's allocation: Jiangsu to three salespeople, Shanghai and Zhejiang to two, the rest
/// to the least loaded of the last two.
fn config_b(cast: &Cast) -> CrmConfig {
    let ids: Vec<_> = cast.b_staff.iter().map(|p| p.id).collect();
    let mut cfg = CrmConfig::default();
    if let [_, s1, s2, s3, s4, s5, s6, s7, _] = ids[..] {
        cfg.allocation.rules = vec![
            AllocationRule::new("苏南", Strategy::RoundRobin, vec![s1, s2, s3]).regions(["江苏"]),
            AllocationRule::new("沪浙", Strategy::RoundRobin, vec![s4, s5])
                .regions(["上海", "浙江"]),
            AllocationRule::new("其他地区", Strategy::LeastLoaded, vec![s6, s7]),
        ];
    }
    cfg
}

impl Services {
    /// Open every service on `store`, rebuilding in-memory state from it.
    pub async fn open(
        store: Arc<dyn Store>,
        cast: &Cast,
        outside: &OutsideWorld,
        ids: Arc<PhaseIds>,
    ) -> Result<Services> {
        let clock: Arc<dyn Clock> = Arc::new(outside.clock.clone());
        let engine = QuoteEngine::builtin();
        let registry = Arc::new(
            EntitlementRegistry::builder(
                &marketingforce_core::env::Env::builder(store.clone())
                    .clock(clock.clone())
                    .build(),
            )
            .build(),
        );
        let env = Env::builder(store.clone())
            .clock(clock.clone())
            .ids(ids.clone())
            .build();
        let subscriptions = Subscriptions::builder(&env)
            .engine(engine.clone())
            .registry(registry.clone())
            .build();
        let channel = ChannelService::builder(&env, cast.operator)
            .engine(engine)
            .build();
        let keys = Arc::new(KeyRing::new("demo-1", DEMO_MASTER_KEY));
        let crm = |config: CrmConfig, seats: EntitlementSeats| {
            Crm::builder(
                &marketingforce_core::env::Env::builder(store.clone())
                    .keys(keys.clone())
                    .clock(clock.clone())
                    .ids(ids.clone())
                    .build(),
            )
            .seats(Arc::new(seats))
            .config(config)
            .build()
            .map(Arc::new)
        };
        // Tenant A's marketing staff hold seats of marketing team management (T Cloud); tenant
        // B's salespeople hold the True Client accounts it bought (sales workbench seats).
        let crm_a = crm(
            config_a(cast),
            EntitlementSeats::for_module(registry.clone(), ModuleId::MARKETING_TEAM_MANAGEMENT),
        )?;
        let crm_b = crm(config_b(cast), EntitlementSeats::new(registry.clone()))?;
        let reviews = ReviewService::new(&env);
        let sites = SiteServices::open(&store, &clock, &ids, cast, &reviews, &crm_a)?;
        let mut publisher = Publisher::builder(&env, Arc::new(ChannelCatalogue::builtin()))
            .quota(Arc::new(ModulesQuota::new(registry.clone())))
            .require_review(reviews.clone());
        for c in &outside.channels {
            let channel: Arc<dyn ContentChannel> = c.clone();
            publisher = publisher.channel(channel)?;
        }
        let publisher = Arc::new(publisher.build());
        let forwarder = InquiryForwarder::new(
            &env,
            publisher.clone(),
            Arc::new(CrmInquirySink::new(crm_a.clone(), script::CONTENT_CAMPAIGN)),
        );
        let ads = AdOps::builder(&env, cast.operator)
            // Creatives are placed only after T Cloud's compliance review passed their content.
            .review_checker(Arc::new(ComplianceReview::new(
                reviews.clone(),
                store.clone(),
            )))
            .open()
            .await?;
        // Re-attach the ad platform if it was registered before a restart.
        for p in Collection::<MediaPlatform>::new(store.clone())
            .lookup_all(&cast.operator, "code", script::AD_PLATFORM_CODE)
            .await?
        {
            let adapter: Arc<dyn AdPlatform> = outside.ad_platform.clone();
            ads.attach_platform(p.value.id, adapter);
        }
        Ok(Services {
            membership: Membership::new(&env),
            fission: Fission::new(&env),
            sops: Sops::new(&env),
            library: Library::new(&env),
            store,
            registry,
            subscriptions,
            channel,
            crm_a,
            crm_b,
            reviews,
            publisher,
            forwarder,
            ads,
            sites,
        })
    }

    /// The CRM serving `tenant` (each tenant has its own allocation rules).
    pub fn crm(&self, cast: &Cast, tenant: &marketingforce_core::tenant::TenantId) -> &Arc<Crm> {
        if *tenant == cast.yunfan {
            &self.crm_b
        } else {
            &self.crm_a
        }
    }

    /// Write everything queued in memory (usage events) so the store is complete.
    pub async fn flush(&self) -> Result<()> {
        self.registry.flush().await?;
        self.sites.collector.flush().await?;
        Ok(())
    }
}
