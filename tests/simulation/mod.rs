//! A deterministic simulation of the whole SDK with fault injection, after TigerBeetle's VOPR
//! and FoundationDB's simulation testing.
//!
//! One seed drives everything: which operations run for which tenant, the request contents, how
//! time passes, which storage calls fail (through
//! [`FaultyStore`](marketingforce_core::storage::FaultyStore)), when the simulated platforms
//! and channels misbehave and when the process crashes. Clients retry failed commands with the
//! same idempotency key; acknowledged results feed a model, and after every step the services
//! and the store are checked against it (see `checks.rs`). The same seed replays exactly.
//!
//! Used by `tests/simulation.rs` (short runs) and `examples/simulate.rs` (long runs).

#![allow(dead_code, unused_imports)]

pub mod checks;
pub mod driver;
pub mod model;
pub mod ops_ads;
pub mod ops_content;
pub mod ops_crm;
pub mod ops_modules;
pub mod ops_probe;
pub mod rng;
pub mod setup;
pub mod trace;
pub mod world;

pub use driver::{run, run_blocking, Report};
pub use world::{Backend, Failure, Settings};
