//! Adapter traits for what lives outside the SDK: content channels, ad platforms and AI
//! generators. Implementations come with the domain crates.
