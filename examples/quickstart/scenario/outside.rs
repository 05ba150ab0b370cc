//! The world outside the platform: the media platforms content is published on and the ad
//! platform traffic is bought from — deterministic simulators — and the clock.
//!
//! They are not the platform's services: a restart of the platform does not restart them, just
//! as a real restart does not reset Douyin or Baidu. [`Scenario::stop`](super::Scenario::stop)
//! hands them back and [`Scenario::resume`](super::Scenario::resume) takes them again.

use std::sync::Arc;

use marketingforce_ads::platform::sim::{SimConfig, SimulatedPlatform};
use marketingforce_content::distribution::{ChannelCatalogue, SimulatedChannel};
use marketingforce_core::adapters::channel::{AccountStatus, Verification};
use marketingforce_core::time::{Clock, ManualClock};

use super::cast::Cast;
use super::script;

/// Seed of the content channels' simulations (fixed: the figures do not depend on the run).
const CHANNEL_SEED: u64 = 20_260_304;
/// Seed of the ad platform's auctions.
const AD_PLATFORM_SEED: u64 = 20_260_301;

/// The simulated media platforms and the story's clock.
#[derive(Debug, Clone)]
pub struct OutsideWorld {
    pub(crate) clock: ManualClock,
    pub(crate) channels: Vec<Arc<SimulatedChannel>>,
    pub(crate) ad_platform: Arc<SimulatedPlatform>,
}

impl OutsideWorld {
    /// The platforms as they are before the story starts: every channel of the built-in
    /// catalogue, with tenant A's real-name-verified account on each, and the ad platform.
    pub fn new(cast: &Cast) -> OutsideWorld {
        let clock = ManualClock::new(script::start_of_story());
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let channels = ChannelCatalogue::builtin()
            .channels
            .into_iter()
            .map(|info| {
                let c = SimulatedChannel::new(info, CHANNEL_SEED, shared.clone());
                c.add_account(
                    &cast.jinggong,
                    script::CHANNEL_ACCOUNT,
                    AccountStatus {
                        verification: Verification::Verified,
                        suspended: None,
                    },
                );
                Arc::new(c)
            })
            .collect();
        let mut config = SimConfig::new(script::AD_PLATFORM_CODE, AD_PLATFORM_SEED);
        config.rebates = script::platform_rebate_policy();
        OutsideWorld {
            clock,
            channels,
            ad_platform: Arc::new(SimulatedPlatform::new(config)),
        }
    }

    /// The story's clock (shared by the simulators and the services).
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// Content items published on all channels so far.
    pub fn items_published(&self) -> usize {
        self.channels.iter().map(|c| c.published_count()).sum()
    }
}
