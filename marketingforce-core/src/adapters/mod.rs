//! Adapter traits for what lives outside the SDK: content channels, ad platforms and AI
//! generators. Implementations come with the domain crates.

// Each module documents itself with inner docs, so its links resolve in its own scope.
pub mod ad_platform;
pub mod channel;
pub mod generation;
