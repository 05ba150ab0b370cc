//! Distribution: the channel catalogue, channel recommendation, publishing through the
//! [`ContentChannel`](marketingforce_core::adapters::channel::ContentChannel) adapters with
//! release quotas, rate limits and scheduling, a simulated channel, an HTTP channel and the
//! WeChat Official Account channel ([`wechat`], feature `wechat-oa`).

mod catalogue;
#[cfg(feature = "http-channel")]
pub mod http;
mod modules_quota;
mod publisher;
pub mod quota;
mod ratelimit;
mod recommend;
mod simulated;
#[cfg(feature = "wechat-oa")]
pub mod wechat;

pub use catalogue::{BaseRates, ChannelCatalogue, ChannelInfo, RateLimit, BUILTIN_CHANNELS};
pub use modules_quota::ModulesQuota;
pub use publisher::{
    Publication, PublicationId, PublicationStatus, PublishCommand, Publisher, PublisherBuilder,
    PUBLICATION_JOURNAL,
};
pub use quota::{meters, InMemoryQuota, Meter, QuotaGate, QuotaGrant, Unlimited};
pub use ratelimit::RateLimiter;
pub use recommend::{
    expected_inquiries, industry_id, recommend, ChannelScore, ObservedPerformance,
    RecommendationRequest, RecommendationWeights,
};
pub use simulated::{Fault, SimulatedChannel};
