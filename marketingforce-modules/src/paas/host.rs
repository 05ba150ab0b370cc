//! [`ModuleHost`]: runs third-party modules for entitled tenants, metered and rate-limited.

use marketingforce_core::IdempotencyKey;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use marketingforce_core::env::Env;
use marketingforce_core::money::Quantity;
use marketingforce_core::storage::{Batch, Collection, Entity, Idempotent};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use serde::{Deserialize, Serialize};

use super::manifest::{ModuleManifest, Scope};
use super::schema::validate_instance;
use crate::catalog::{Catalog, ModuleId, UsageUnit};
use crate::entitlements::Entitlements;
use crate::error::{ModulesError, Result};
use crate::metering::{UsageKind, UsageMeter};

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
    /// True when the key had been invoked before with the same request: this is the stored
    /// result of that first invocation, and nothing ran or was metered this time.
    pub replayed: bool,
}

/// The prefix of the tenant idempotency keys under which invocation results are stored.
const INVOCATION_KEYS: &str = "modules.paas.invoke/";

/// What identifies an invocation request: a replay must match it.
#[derive(Serialize)]
struct InvocationRequest<'a> {
    module: &'a ModuleId,
    input: serde_json::Value,
}

/// The result kept for replays.
#[derive(Serialize, Deserialize)]
struct StoredInvocation {
    value: serde_json::Value,
    metered: Vec<(UsageUnit, Quantity)>,
}

impl StoredInvocation {
    fn into_invocation(self, replayed: bool) -> Invocation {
        Invocation {
            value: self.value,
            metered: self.metered,
            replayed,
        }
    }
}

/// `value` with every object's keys in sorted order, so a request's fingerprint does not
/// depend on the order its keys were written in.
fn canonical(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            serde_json::Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&map[k])))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(canonical).collect())
        }
        other => other.clone(),
    }
}

/// An invocation key claimed by a running invocation; released when dropped (also when the
/// invocation's future is dropped half-way).
struct InFlight<'a> {
    set: &'a Mutex<HashSet<(TenantId, String)>>,
    entry: (TenantId, String),
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.entry);
    }
}

/// The per-call reservations an invocation holds: released when dropped — on a failure, or
/// when the caller's future is dropped while the module runs — so that none outlives its
/// invocation (a committed one is no longer open, and releasing it changes nothing).
struct Holds<'a> {
    meter: &'a UsageMeter,
    keys: Vec<&'a str>,
}

impl Holds<'_> {
    fn contains(&self, key: &str) -> bool {
        self.keys.contains(&key)
    }
}

impl Drop for Holds<'_> {
    fn drop(&mut self) {
        for k in self.keys.drain(..) {
            self.meter.release_under(k);
        }
    }
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
/// ([`Entitlements::require`]) → a replayed key returns the stored result → per-tenant rate
/// limit (token bucket from the manifest) → the tenant's configuration → reserve the declared
/// per-call usage → call → commit the usage (or release it if the module failed) → meter any
/// extra usage the module reported (declared units only) → wait until the usage is stored →
/// store the result for replays (see [`ModuleHost::invoke`]).
///
/// See `examples/third_party_module.rs` for a complete module.
pub struct ModuleHost {
    catalog: RwLock<Arc<Catalog>>,
    modules: RwLock<HashMap<ModuleId, Arc<dyn FunctionalModule>>>,
    configs: Collection<ModuleConfig>,
    limits: Mutex<HashMap<(TenantId, ModuleId), Bucket>>,
    in_flight: Mutex<HashSet<(TenantId, String)>>,
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

/// Builds a [`ModuleHost`] ([`ModuleHost::builder`]).
#[derive(Debug)]
#[must_use]
pub struct ModuleHostBuilder {
    env: Env,
    catalog: Option<Arc<Catalog>>,
}

impl ModuleHostBuilder {
    /// Host modules over `catalog` (default: [`Catalog::builtin`]).
    pub fn catalog(mut self, catalog: Arc<Catalog>) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// The host.
    pub fn build(self) -> ModuleHost {
        ModuleHost {
            catalog: RwLock::new(self.catalog.unwrap_or_else(Catalog::builtin)),
            modules: RwLock::new(HashMap::new()),
            configs: Collection::new(self.env.store().clone()),
            limits: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
            clock: self.env.clock().clone(),
        }
    }
}

impl ModuleHost {
    /// A host over the built-in catalog ([`Catalog::builtin`]) on `env` (tenant
    /// configurations in its store, rate limits on its clock).
    pub fn new(env: &Env) -> ModuleHost {
        ModuleHost::builder(env).build()
    }

    /// Start building a host on `env` (see [`ModuleHostBuilder`]).
    pub fn builder(env: &Env) -> ModuleHostBuilder {
        ModuleHostBuilder {
            env: env.clone(),
            catalog: None,
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
    #[operation("modules.paas.configure")]
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

    fn claim(&self, tenant: TenantId, key: &str) -> Result<InFlight<'_>> {
        let entry = (tenant, key.to_string());
        let mut set = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !set.insert(entry.clone()) {
            return Err(ModulesError::ReservationNotOpen {
                key: key.to_string(),
                reason: "an invocation under this key is still running; retry when it is done"
                    .into(),
            });
        }
        Ok(InFlight {
            set: &self.in_flight,
            entry,
        })
    }

    /// Invoke `module` for the tenant of `ents`, once per invocation `key`.
    ///
    /// **Idempotent.** Invoking again with the same key and the same request (module and
    /// input) returns the stored result of the first successful invocation with
    /// [`Invocation::replayed`] set: the module does not run again and nothing is metered or
    /// rate-limited. The same key with another request is an
    /// [`Error::IdempotencyMismatch`](marketingforce_core::Error::IdempotencyMismatch). A failed
    /// invocation stores nothing, so retrying it runs the module again.
    ///
    /// **Where the result lives.** In the host's store (the one of the [`Env`] given to [`ModuleHost::new`],
    /// which also holds tenant configurations), as the tenant's idempotency record of the
    /// invocation: durable when that store is. Usage is metered through the tenant's
    /// [`UsageMeter`](crate::metering::UsageMeter) and made durable *before* the result is
    /// stored; the two are separate writes (often separate stores), so if the process stops or
    /// the result cannot be stored in between, the call returns an error and its retry runs
    /// the module again without metering its per-call usage a second time (usage events are
    /// keyed by the invocation key). Extra usage the module reports on that re-run is metered
    /// under the same keys: the same figures count once, different ones are a
    /// [`ModulesError::UsageEventMismatch`].
    ///
    /// # Errors
    /// [`ModulesError::UnknownModule`], [`ModulesError::NotEntitled`],
    /// [`Error::IdempotencyMismatch`](marketingforce_core::Error::IdempotencyMismatch) for a key
    /// first used with another request, [`ModulesError::ReservationNotOpen`] while another
    /// invocation under the key is running, [`ModulesError::RateLimited`],
    /// [`ModulesError::NoQuota`] / [`ModulesError::QuotaExceeded`] for the declared usage
    /// (nothing runs then), [`ModulesError::ReportedUsageRefused`] when the module ran but the
    /// usage it reported exceeds what is left, [`ModulesError::ModuleFailed`] when the module fails (its reserved
    /// usage is released) or reports usage of an undeclared unit, a configuration error when
    /// the tenant's configuration is missing required settings, storage errors.
    #[operation("modules.paas.invoke", key = key)]
    pub async fn invoke(
        &self,
        ents: &Entitlements,
        module: &ModuleId,
        input: serde_json::Value,
        key: &IdempotencyKey,
    ) -> Result<Invocation> {
        let key = key.as_str();
        let m = self.module(module)?;
        let manifest = m.manifest().clone();
        ents.require(module)?;
        let tenant = ents.tenant();
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(
            format!("{INVOCATION_KEYS}{key}"),
            &InvocationRequest {
                module,
                input: canonical(&input),
            },
        )?;
        let _claim = self.claim(tenant, key)?;
        let store = self.configs.store().clone();
        if let Some(first) = idem
            .check::<StoredInvocation>(store.as_ref(), &tenant)
            .await?
        {
            return Ok(first.into_invocation(true));
        }
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
        // Reserve the per-call usage, except what an earlier attempt under this key already
        // committed (it ran, but its result was not stored): that is not metered again.
        let mut held = Holds {
            meter: &meter,
            keys: Vec::new(),
        };
        for (unit, q, k) in &per_call {
            if let Some((first_unit, first_quantity, kind)) = meter.recorded(k) {
                if first_unit != *unit || first_quantity != *q || kind != UsageKind::Consume {
                    return Err(ModulesError::UsageEventMismatch {
                        key: k.clone(),
                        first_unit,
                        first_quantity,
                        unit: unit.clone(),
                        quantity: *q,
                    });
                }
                continue;
            }
            meter.reserve_under(unit, *q, k)?;
            held.keys.push(k);
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
            return Err(ModulesError::ModuleFailed {
                module: module.clone(),
                message: format!("reported usage of {u}, which its manifest does not declare"),
            });
        }
        let mut metered = Vec::new();
        let mut recorded = Vec::new();
        for (unit, q, k) in &per_call {
            if held.contains(k) {
                recorded.push(meter.commit_under(*q, k)?);
            }
            metered.push((unit.clone(), *q));
        }
        for (i, (unit, q)) in output.usage.iter().enumerate() {
            if q.is_zero() {
                continue;
            }
            let extra = meter
                .consume_under(unit, *q, &format!("{key}:{unit}:extra{i}"))
                .map_err(|e| match e {
                    ModulesError::QuotaExceeded { .. } | ModulesError::NoQuota { .. } => {
                        ModulesError::ReportedUsageRefused {
                            module: module.clone(),
                            refused: Box::new(e),
                        }
                    }
                    other => other,
                })?;
            recorded.push(extra);
            metered.push((unit.clone(), *q));
        }
        // The usage is durable before the result is: a result stored without its usage
        // would let a replay skip metering that never reached storage.
        // Another process may have used the quota meanwhile: a refused event fails the call.
        for c in recorded {
            meter.wait(c).await?;
        }
        let first = idem
            .commit(
                store.as_ref(),
                &tenant,
                Batch::new(),
                StoredInvocation {
                    value: output.value,
                    metered,
                },
            )
            .await?;
        Ok(first.into_invocation(false))
    }
}
