//! Adapter traits for what lives outside the SDK: content channels, ad platforms and AI
//! generators. Implementations come with the domain crates.
//!
//! Shared pieces for connectors to real platforms: [`secret::Secret`] (credentials that never
//! print), [`token::SharedTokenCache`] (access tokens shared by every process through the
//! store, refreshed one at a time), [`cassette`] (the record/replay fixture format of the
//! protocol fakes) and, with the feature `wechat-crypto`, `wechat` (the callback encryption
//! scheme of WeChat Official Accounts and WeCom).

// Each module documents itself with inner docs, so its links resolve in its own scope.
pub mod ad_platform;
pub mod cassette;
pub mod channel;
pub mod generation;
pub mod secret;
pub mod token;
#[cfg(feature = "wechat-crypto")]
pub mod wechat;
