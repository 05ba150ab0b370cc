//! Adapter traits for what lives outside the SDK: content channels, ad platforms and AI
//! generators. Implementations come with the domain crates.

/// Ad platforms: ad accounts, top-ups, campaigns and ads, spend and performance reports, rebate
/// statements.
pub mod ad_platform;
/// Content channels: publish content to an account on a media platform, read its statistics.
pub mod channel;
/// AI generators for text, images and video, with their request and output types.
pub mod generation;
