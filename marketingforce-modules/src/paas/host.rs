//! [`ModuleHost`]: runs third-party modules for entitled tenants, metered and rate-limited.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use marketingforce_core::money::Quantity;
use marketingforce_core::storage::{Collection, Entity, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use serde::{Deserialize, Serialize};

use super::manifest::{ModuleManifest, Scope};
use super::schema::validate_instance;
use crate::catalog::{Catalog, ModuleId, UsageUnit};
use crate::entitlements::Entitlements;
use crate::error::{ModulesError, Result};

/// What a module receives for one invocation: only the calling tenant's data. Built afresh by
/// the host for every call and owned by it, so nothing of one tenant can reach another's call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationContext {
    /// The calling tenant.
    pub tenant: TenantId,
    /// The module invoked.
    pub module: ModuleId,
    /// The tenant's configuration of the module (validated against its schema).
    pub config: serde_json::Value,
    /// The scopes granted.
    pub scopes: Vec<Scope>,
    /// The invocation key.
    pub key: String,
    /// When the call started.
    pub at: DateTime<Utc>,
}

/// What a module returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModuleOutput {
    /// The result.
    pub value: serde_json::Value,
    /// Usage beyond the per-call units, by declared unit (metered after the call).
    pub usage: Vec<(UsageUnit, Quantity)>,
}

/// A module's own failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ModuleFailure {
    /// What went wrong.
    pub message: String,
}

impl ModuleFailure {
    /// A failure with `message`.
    pub fn new(message: impl Into<String>) -> ModuleFailure {
        ModuleFailure {
            message: message.into(),
        }
    }
}

/// What third-party code implements to run on the platform.
#[async_trait]
pub trait FunctionalModule: Send + Sync + 'static {
    /// The module's manifest.
    fn manifest(&self) -> &ModuleManifest;

    /// Do the work for the tenant in `ctx`.
    async fn invoke(
        &self,
        ctx: InvocationContext,
        input: serde_json::Value,
    ) -> Result<ModuleOutput, ModuleFailure>;
}

/// The result of [`ModuleHost::invoke`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The module's result.
    pub value: serde_json::Value,
    /// Every unit metered for the call.
    pub metered: Vec<(UsageUnit, Quantity)>,
}

/// A tenant's stored configuration of a module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleConfig {
    /// The tenant.
    pub tenant: TenantId,
    /// The module.
    pub module: ModuleId,
    /// The configuration.
    pub config: serde_json::Value,
}

impl Entity for ModuleConfig {
    const COLLECTION: &'static str = "modules.module_configs";
    fn key(&self) -> String {
        self.module.to_string()
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

/// Registers third-party modules and invokes them for tenants.
///
/// An invocation goes: module registered → tenant entitled
/// ([`Entitlements::require`]) → per-tenant rate limit (token bucket from the manifest) →
/// the tenant's configuration → reserve the declared per-call usage → call → commit the usage
/// (or release it if the module failed) → meter any extra usage the module reported (declared
/// units only).
///
/// See `examples/third_party_module.rs` for a complete module.
pub struct ModuleHost {
    catalog: RwLock<Arc<Catalog>>,
    modules: RwLock<HashMap<ModuleId, Arc<dyn FunctionalModule>>>,
    configs: Collection<ModuleConfig>,
    limits: Mutex<HashMap<(TenantId, ModuleId), Bucket>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ModuleHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let modules: Vec<String> = self
            .modules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .map(ToString::to_string)
            .collect();
        f.debug_struct("ModuleHost")
            .field("modules", &modules)
            .finish()
    }
}

impl ModuleHost {
    /// A host over `catalog` (usually [`Catalog::builtin`]), storing tenant configurations in
    /// `store`.
    pub fn new(catalog: Arc<Catalog>, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> ModuleHost {
        ModuleHost {
            catalog: RwLock::new(catalog),
            modules: RwLock::new(HashMap::new()),
            configs: Collection::new(store),
            limits: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// The catalog with every registered module added: build the
    /// [`EntitlementRegistry`](crate::entitlements::EntitlementRegistry) and
    /// [`QuoteEngine`](crate::pricing::QuoteEngine) with it so tenants can be granted and sold
    /// third-party modules.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Register a module after validating its manifest.
    ///
    /// # Errors
    /// As [`ModuleManifest::validate`] (namespace clash with a built-in or registered module,
    /// invalid schema, …).
    pub fn register(&self, module: Arc<dyn FunctionalModule>) -> Result<()> {
        let manifest = module.manifest();
        let mut catalog = self.catalog.write().unwrap_or_else(PoisonError::into_inner);
        manifest.validate(&catalog)?;
        let next = catalog.with_module(manifest.catalog_module())?;
        *catalog = Arc::new(next);
        self.modules
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(manifest.id.clone(), module);
        Ok(())
    }

    fn module(&self, id: &ModuleId) -> Result<Arc<dyn FunctionalModule>> {
        self.modules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
            .ok_or_else(|| ModulesError::UnknownModule {
                id: id.to_string(),
                path: "module".into(),
            })
    }

    /// Set a tenant's configuration of a module (validated against the module's schema).
    ///
    /// # Errors
    /// Unknown module, the tenant not entitled, a configuration that does not match the schema
    /// (the error names the path inside it, under `config`), storage errors.
    pub async fn configure(
        &self,
        ents: &Entitlements,
        module: &ModuleId,
        config: serde_json::Value,
    ) -> Result<()> {
        let m = self.module(module)?;
        ents.require(module)?;
        validate_instance(&m.manifest().config_schema, &config)
            .map_err(|e| e.in_field("config"))?;
        self.configs
            .upsert(
                &ents.tenant(),
                &ModuleConfig {
                    tenant: ents.tenant(),
                    module: module.clone(),
                    config,
                },
            )
            .await?;
        Ok(())
    }

    fn admit(&self, tenant: TenantId, manifest: &ModuleManifest) -> Result<()> {
        let now = self.clock.now();
        let rate = manifest.rate_limit;
        let capacity = f64::from(rate.calls);
        let per_ms = capacity / (f64::from(rate.per_seconds) * 1000.0);
        let mut limits = self.limits.lock().unwrap_or_else(PoisonError::into_inner);
        let b = limits
            .entry((tenant, manifest.id.clone()))
            .or_insert(Bucket {
                tokens: capacity,
                at: now,
            });
        let elapsed = (now - b.at).num_milliseconds().max(0) as f64;
        b.tokens = (b.tokens + elapsed * per_ms).min(capacity);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / per_ms).ceil();
            Err(ModulesError::RateLimited {
                tenant: tenant.to_string(),
                module: manifest.id.clone(),
                retry_after_ms: if wait.is_finite() && wait > 0.0 {
                    wait as u64
                } else {
                    1
                },
            })
        }
    }

    /// Invoke `module` for the tenant of `ents`, once per invocation `key`.
    ///
    /// # Errors
    /// [`ModulesError::UnknownModule`], [`ModulesError::NotEntitled`],
    /// [`ModulesError::RateLimited`], [`ModulesError::NoQuota`] /
    /// [`ModulesError::QuotaExceeded`] for the declared usage (nothing runs then),
    /// [`ModulesError::ReservationNotOpen`] for a key already used,
    /// [`ModulesError::ModuleFailed`] when the module fails (its reserved usage is released)
    /// or reports usage of an undeclared unit, a configuration error when the tenant's
    /// configuration is missing required settings.
    pub async fn invoke(
        &self,
        ents: &Entitlements,
        module: &ModuleId,
        key: &str,
        input: serde_json::Value,
    ) -> Result<Invocation> {
        let m = self.module(module)?;
        let manifest = m.manifest().clone();
        ents.require(module)?;
        let tenant = ents.tenant();
        self.admit(tenant, &manifest)?;
        let config = self
            .configs
            .get(&tenant, module.as_str())
            .await?
            .map_or_else(|| serde_json::json!({}), |v| v.value.config);
        validate_instance(&manifest.config_schema, &config).map_err(|e| e.in_field("config"))?;

        let meter = ents.meter();
        let per_call: Vec<(UsageUnit, Quantity, String)> = manifest
            .metered
            .iter()
            .filter(|u| !u.per_call.is_zero())
            .map(|u| (u.unit.clone(), u.per_call, format!("{key}:{}", u.unit)))
            .collect();
        let mut held: Vec<&str> = Vec::new();
        for (unit, q, k) in &per_call {
            if let Err(e) = meter.reserve(unit, *q, k) {
                for h in held {
                    meter.release(h);
                }
                return Err(e);
            }
            held.push(k);
        }
        let ctx = InvocationContext {
            tenant,
            module: module.clone(),
            config,
            scopes: manifest.scopes.clone(),
            key: key.to_string(),
            at: self.clock.now(),
        };
        let output = match m.invoke(ctx, input).await {
            Ok(o) => o,
            Err(f) => {
                for (_, _, k) in &per_call {
                    meter.release(k);
                }
                return Err(ModulesError::ModuleFailed {
                    module: module.clone(),
                    message: f.message,
                });
            }
        };
        if let Some((u, _)) = output
            .usage
            .iter()
            .find(|(u, _)| !manifest.metered.iter().any(|d| d.unit == *u))
        {
            for (_, _, k) in &per_call {
                meter.release(k);
            }
            return Err(ModulesError::ModuleFailed {
                module: module.clone(),
                message: format!("reported usage of {u}, which its manifest does not declare"),
            });
        }
        let mut metered = Vec::new();
        for (unit, q, k) in &per_call {
            meter.commit(k, *q)?;
            metered.push((unit.clone(), *q));
        }
        for (i, (unit, q)) in output.usage.iter().enumerate() {
            if q.is_zero() {
                continue;
            }
            meter.consume(unit, *q, &format!("{key}:{unit}:extra{i}"))?;
            metered.push((unit.clone(), *q));
        }
        Ok(Invocation {
            value: output.value,
            metered,
        })
    }
}
