//! A third-party module on the Marketingforce PaaS layer.
//!
//! The vendor "acme" ships a keyword-gap report: given a tenant's configured competitors, it
//! lists keywords the competitors rank for and the tenant does not. The module declares a
//! manifest (namespace, version, metered unit, scopes, configuration schema, price, rate limit);
//! the platform's `ModuleHost` registers it, checks each caller's entitlement, meters one
//! `acme.gap_reports` per call against the tenant's quota, rate-limits per tenant, and hands the
//! module only the calling tenant's configuration.
//!
//! Run with `cargo run --example third_party_module`.

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use marketingforce::core::env::Env;
use marketingforce::core::storage::{MemoryStore, Store};
use marketingforce::core::tenant::TenantId;
use marketingforce::core::time::ManualClock;
use marketingforce::modules::catalog::{ModuleId, QuotaPeriod, UsageUnit};
use marketingforce::modules::entitlements::{Entitlements, Grant};
use marketingforce::modules::paas::{
    async_trait, FunctionalModule, InvocationContext, ModuleFailure, ModuleHost, ModuleManifest,
    ModuleOutput,
};
use marketingforce::modules::ModulesError;
use serde_json::{json, Value};

const MANIFEST: &str = r#"{
  "id": "acme.keyword_gap",
  "version": "1.4.2",
  "name": "Keyword gap report",
  "description": "Keywords your competitors rank for and you do not.",
  "area": "data_analytics",
  "metered": [{ "unit": "acme.gap_reports", "per_call": 1, "included": 50 }],
  "scopes": ["analytics:read", "content:read"],
  "config_schema": {
    "type": "object",
    "properties": {
      "competitors": { "type": "array", "items": { "type": "string", "minLength": 3 }, "minItems": 1, "maxItems": 5 },
      "depth": { "type": "integer", "minimum": 1, "maximum": 3 }
    },
    "required": ["competitors"],
    "additionalProperties": false
  },
  "price": { "amount": "3600", "currency": "CNY" },
  "rate_limit": { "calls": 5, "per_seconds": 60 }
}"#;

/// The vendor's module.
struct KeywordGap {
    manifest: ModuleManifest,
}

#[async_trait]
impl FunctionalModule for KeywordGap {
    fn manifest(&self) -> &ModuleManifest {
        &self.manifest
    }

    async fn invoke(
        &self,
        ctx: InvocationContext,
        input: Value,
    ) -> Result<ModuleOutput, ModuleFailure> {
        let ours: Vec<&str> = input["keywords"]
            .as_array()
            .ok_or_else(|| {
                ModuleFailure::new("input.keywords must be a list of the tenant's keywords")
            })?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let depth = ctx.config["depth"].as_u64().unwrap_or(1);
        // A real module would query a search index; this one derives candidate keywords from
        // the competitors' names so the example is deterministic and offline.
        let mut gaps = Vec::new();
        for c in ctx.config["competitors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            for suffix in ["报价", "厂家", "官网"].iter().take(depth as usize) {
                let kw = format!("{c}{suffix}");
                if !ours.contains(&kw.as_str()) {
                    gaps.push(kw);
                }
            }
        }
        Ok(ModuleOutput {
            value: json!({ "tenant": ctx.tenant.to_string(), "gaps": gaps }),
            usage: Vec::new(),
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00")?);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let host = ModuleHost::new(&Env::builder(store).clock(clock.clone()).build());

    // 1. The vendor's manifest is validated against the platform catalog, then registered.
    let manifest = ModuleManifest::from_json(MANIFEST, &host.catalog())?;
    host.register(Arc::new(KeywordGap { manifest }))?;
    let module = ModuleId::new("acme.keyword_gap")?;
    println!(
        "registered {module}; catalog now has {} modules",
        host.catalog().modules().len()
    );

    // 2. A tenant buys it: entitled to the module with 3 reports for the term.
    let buyer = TenantId::new();
    let grant = Grant::new(buyer, "2026-03-01".parse()?, "2027-03-01".parse()?)
        .module(module.clone())
        .quota(UsageUnit::parse("acme.gap_reports")?, 3, QuotaPeriod::Term);
    let ents = Entitlements::in_memory(host.catalog(), buyer, vec![grant], clock.clone())?;

    // 3. Its configuration is checked against the module's schema.
    let bad = host
        .configure(&ents, &module, json!({ "competitors": [], "depth": 9 }))
        .await;
    println!(
        "bad configuration refused: {}",
        bad.err().map(|e| e.to_string()).unwrap_or_default()
    );
    host.configure(
        &ents,
        &module,
        json!({ "competitors": ["速达机械", "华工科技"], "depth": 2 }),
    )
    .await?;

    // 4. Invocations are metered: one report each, until the quota runs out.
    for i in 1..=4 {
        let input = json!({ "keywords": ["速达机械报价"] });
        match host
            .invoke(
                &ents,
                &module,
                input,
                &IdempotencyKey::new(format!("run-{i}")).unwrap(),
            )
            .await
        {
            Ok(out) => println!("run {i}: {} (metered {:?})", out.value["gaps"], out.metered),
            Err(ModulesError::QuotaExceeded { remaining, .. }) => {
                println!("run {i}: refused, {remaining} reports left")
            }
            Err(e) => return Err(e.into()),
        }
    }

    // 5. A tenant that did not buy the module is refused before the module runs.
    let stranger = Entitlements::in_memory(host.catalog(), TenantId::new(), vec![], clock)?;
    match host
        .invoke(
            &stranger,
            &module,
            json!({ "keywords": [] }),
            &IdempotencyKey::from_static("x-1"),
        )
        .await
    {
        Err(e @ ModulesError::NotEntitled { .. }) => println!("other tenant: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
