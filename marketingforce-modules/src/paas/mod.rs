//! Third-party modules on the open PaaS layer.
//!
//! - [`ModuleManifest`]: a vendor-namespaced id, a semver version, metered units, required
//!   scopes, a configuration JSON Schema and a price — validated with errors naming the path,
//!   refusing the platform's `mf` namespace and ids already in the catalog.
//! - [`FunctionalModule`]: what third-party code implements.
//! - [`ModuleHost`]: registers modules and invokes them for a tenant only if the tenant is
//!   entitled, meters their declared usage automatically, rate-limits per tenant, and builds a
//!   fresh [`InvocationContext`] from the calling tenant's own data for every call. Invocations
//!   are idempotent by key: a replay returns the stored first result.
//!
//! A complete example lives in `examples/third_party_module.rs` at the workspace root.

mod host;
mod manifest;
mod schema;

/// Re-exported so module authors implement [`FunctionalModule`] without another dependency.
pub use async_trait::async_trait;
pub use host::{
    FunctionalModule, Invocation, InvocationContext, ModuleConfig, ModuleFailure, ModuleHost,
    ModuleHostBuilder, ModuleOutput,
};
pub use manifest::{MeteredUnit, ModuleManifest, RateLimit, Scope};
pub use schema::{validate_instance, validate_schema};
