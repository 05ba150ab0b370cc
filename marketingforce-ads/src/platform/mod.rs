//! Ad platform adapters: implementations of the core
//! [`AdPlatform`](marketingforce_core::adapters::ad_platform::AdPlatform) trait.
//!
//! - [`sim::SimulatedPlatform`]: deterministic, seeded, with injectable failures — for tests,
//!   simulations and demos.
//! - [`http::HttpAdPlatform`]: a real adapter over `reqwest` speaking a documented JSON
//!   protocol with configurable field names and money units.
//! - [`oceanengine::OceanEnginePlatform`]: the Ocean Engine (巨量引擎) Marketing API, wire-faithful.

pub mod http;
pub mod oceanengine;
pub mod sim;
