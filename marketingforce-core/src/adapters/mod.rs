//! Adapter traits for what lives outside the SDK: content channels, ad platforms and AI
//! generators. Implementations come with the domain crates.

/// Content channels: publish content to an account on a media platform, read its statistics.
pub mod channel;
/// AI generators for text, images and video, with their request and output types.
pub mod generation;
