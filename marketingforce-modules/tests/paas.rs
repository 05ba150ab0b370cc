//! Third-party modules: manifests, entitlement checks, metering, rate limits, tenant isolation.

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use chrono::Duration;
use marketingforce_core::env::Env;
use marketingforce_core::money::Quantity;
use marketingforce_core::storage::{Fault, FaultPlan, FaultyStore, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_modules::catalog::{Catalog, ModuleId, QuotaPeriod, UsageUnit};
use marketingforce_modules::entitlements::{Entitlements, Grant};
use marketingforce_modules::paas::{
    async_trait, FunctionalModule, InvocationContext, ModuleFailure, ModuleHost, ModuleManifest,
    ModuleOutput,
};
use marketingforce_modules::ModulesError;
use serde_json::{json, Value};

const MANIFEST: &str = r#"{
  "id": "acme.echo", "version": "0.3.1", "name": "Echo", "description": "Echoes its context.",
  "area": "data_analytics",
  "metered": [{"unit": "acme.calls", "per_call": 2}, {"unit": "acme.bytes"}],
  "scopes": ["content:read"],
  "config_schema": {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]},
  "price": {"amount": "1200", "currency": "CNY"},
  "rate_limit": {"calls": 3, "per_seconds": 10}
}"#;

struct Echo(ModuleManifest);

#[async_trait]
impl FunctionalModule for Echo {
    fn manifest(&self) -> &ModuleManifest {
        &self.0
    }
    async fn invoke(
        &self,
        ctx: InvocationContext,
        input: Value,
    ) -> Result<ModuleOutput, ModuleFailure> {
        tokio::task::yield_now().await;
        if input["fail"].as_bool() == Some(true) {
            return Err(ModuleFailure::new("asked to fail"));
        }
        let extra = input["bytes"].as_u64().unwrap_or(0);
        let unit = input["unit"].as_str().unwrap_or("acme.bytes");
        Ok(ModuleOutput {
            value: json!({"tenant": ctx.tenant.to_string(), "label": ctx.config["label"]}),
            usage: vec![(
                UsageUnit::parse(unit).map_err(|e| ModuleFailure::new(e.to_string()))?,
                Quantity::new(extra),
            )],
        })
    }
}

fn manifest(json: &str) -> Result<ModuleManifest, ModulesError> {
    ModuleManifest::from_json(json, &Catalog::builtin())
}

#[test]
fn bad_manifests_name_the_path() {
    manifest(MANIFEST).unwrap();
    assert!(matches!(
        manifest(&MANIFEST.replace("acme.echo", "mf.echo")),
        Err(ModulesError::NamespaceClash { .. })
    ));
    let e = manifest(&MANIFEST.replace(r#""type": "string""#, r#""type": "text""#)).unwrap_err();
    assert_eq!(
        e.field(),
        Some("config_schema.properties.label.type"),
        "{e}"
    );
    let e = manifest(&MANIFEST.replace(r#""required": ["label"]"#, r#""required": ["lable"]"#))
        .unwrap_err();
    assert_eq!(e.field(), Some("config_schema.required[0]"), "{e}");
    let e = manifest(&MANIFEST.replace("acme.calls", "other.calls")).unwrap_err();
    assert_eq!(e.field(), Some("metered[0].unit"), "{e}");
    let e = manifest(&MANIFEST.replace(r#""content:read""#, r#""content:sell""#)).unwrap_err();
    assert_eq!(e.field(), Some("scopes[0]"), "{e}");
    let e = manifest(&MANIFEST.replace("0.3.1", "0.3")).unwrap_err();
    assert_eq!(e.field(), Some("version"), "{e}");
    let e = manifest(&MANIFEST.replace(r#""calls": 3"#, r#""calls": 0"#)).unwrap_err();
    assert_eq!(e.field(), Some("rate_limit"), "{e}");
    // A second registration of the same id clashes.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock: Arc<dyn Clock> =
        Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
    let host = ModuleHost::new(&Env::builder(store).clock(clock).build());
    host.register(Arc::new(Echo(manifest(MANIFEST).unwrap())))
        .unwrap();
    assert!(matches!(
        host.register(Arc::new(Echo(manifest(MANIFEST).unwrap()))),
        Err(ModulesError::NamespaceClash { .. })
    ));
}

struct Setup {
    host: ModuleHost,
    clock: Arc<ManualClock>,
    id: ModuleId,
}

fn setup() -> Setup {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
    let host = ModuleHost::new(&Env::builder(store).clock(clock.clone()).build());
    host.register(Arc::new(Echo(manifest(MANIFEST).unwrap())))
        .unwrap();
    Setup {
        host,
        clock,
        id: ModuleId::new("acme.echo").unwrap(),
    }
}

fn tenant(s: &Setup, calls: u64) -> Entitlements {
    let t = TenantId::new();
    let g = Grant::new(
        t,
        "2026-03-01".parse().unwrap(),
        "2027-03-01".parse().unwrap(),
    )
    .module(s.id.clone())
    .quota(
        UsageUnit::parse("acme.calls").unwrap(),
        calls,
        QuotaPeriod::Term,
    )
    .quota(
        UsageUnit::parse("acme.bytes").unwrap(),
        1000,
        QuotaPeriod::Term,
    );
    Entitlements::in_memory(s.host.catalog(), t, vec![g], s.clock.clone()).unwrap()
}

#[tokio::test]
async fn host_checks_entitlement_meters_and_rate_limits() {
    let s = setup();
    let ents = tenant(&s, 5);
    let calls = UsageUnit::parse("acme.calls").unwrap();
    // Configuration is required by the schema.
    let e = s
        .host
        .invoke(&ents, &s.id, json!({}), &IdempotencyKey::from_static("k0"))
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("config.label"), "{e}");
    s.host
        .configure(&ents, &s.id, json!({"label": "A"}))
        .await
        .unwrap();
    let out = s
        .host
        .invoke(
            &ents,
            &s.id,
            json!({"bytes": 10}),
            &IdempotencyKey::from_static("k1"),
        )
        .await
        .unwrap();
    assert_eq!(out.value["label"], "A");
    assert_eq!(ents.meter().remaining(&calls).get(), 3);
    // A failing module gets its reservation back.
    let e = s
        .host
        .invoke(
            &ents,
            &s.id,
            json!({"fail": true}),
            &IdempotencyKey::from_static("k2"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ModulesError::ModuleFailed { .. }));
    assert_eq!(ents.meter().remaining(&calls).get(), 3);
    // Rate limit: 3 calls per 10 s, and three were admitted.
    let e = s
        .host
        .invoke(&ents, &s.id, json!({}), &IdempotencyKey::from_static("k3"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ModulesError::RateLimited { retry_after_ms, .. } if retry_after_ms > 0),
        "{e}"
    );
    s.clock.advance(Duration::seconds(10));
    // A used key with another request is refused (a replay of the same request is tested in
    // `a_replayed_invocation_returns_the_stored_result`).
    let e = s
        .host
        .invoke(&ents, &s.id, json!({}), &IdempotencyKey::from_static("k1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ModulesError::Core(marketingforce_core::Error::IdempotencyMismatch { .. })
        ),
        "{e}"
    );
    // Undeclared units are refused and nothing is metered.
    let e = s
        .host
        .invoke(
            &ents,
            &s.id,
            json!({"bytes": 1, "unit": "acme.other"}),
            &IdempotencyKey::from_static("k4"),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("does not declare"), "{e}");
    assert_eq!(ents.meter().remaining(&calls).get(), 3);
    s.clock.advance(Duration::seconds(10));
    s.host
        .invoke(&ents, &s.id, json!({}), &IdempotencyKey::from_static("k5"))
        .await
        .unwrap();
    // Quota: 1 call unit left, 2 needed per call.
    let e = s
        .host
        .invoke(&ents, &s.id, json!({}), &IdempotencyKey::from_static("k6"))
        .await
        .unwrap_err();
    assert!(matches!(e, ModulesError::QuotaExceeded { .. }), "{e}");
    // Not entitled.
    let stranger =
        Entitlements::in_memory(s.host.catalog(), TenantId::new(), vec![], s.clock.clone())
            .unwrap();
    assert!(matches!(
        s.host
            .invoke(
                &stranger,
                &s.id,
                json!({}),
                &IdempotencyKey::from_static("z")
            )
            .await,
        Err(ModulesError::NotEntitled { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tenants_never_see_each_others_context() {
    let s = Arc::new(setup());
    let mut tenants = Vec::new();
    for i in 0..6 {
        let e = tenant(&s, 1000);
        s.host
            .configure(&e, &s.id, json!({"label": format!("tenant-{i}")}))
            .await
            .unwrap();
        tenants.push((e, format!("tenant-{i}")));
    }
    let mut tasks = Vec::new();
    for round in 0..3 {
        for (e, label) in &tenants {
            let (s, e, label) = (s.clone(), e.clone(), label.clone());
            tasks.push(tokio::spawn(async move {
                let out = s
                    .host
                    .invoke(
                        &e,
                        &s.id,
                        json!({}),
                        &IdempotencyKey::new(format!("r{round}")).unwrap(),
                    )
                    .await
                    .unwrap();
                assert_eq!(out.value["label"], label.as_str());
                assert_eq!(out.value["tenant"], e.tenant().to_string());
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
}

const TALLY: &str = r#"{
  "id": "acme.tally", "version": "1.0.0", "name": "Tally", "description": "Counts its runs.",
  "area": "data_analytics",
  "metered": [{"unit": "acme.calls", "per_call": 2}, {"unit": "acme.bytes"}],
  "scopes": ["content:read"],
  "config_schema": {"type": "object"},
  "price": {"amount": "100", "currency": "CNY"},
  "rate_limit": {"calls": 2, "per_seconds": 60}
}"#;

/// A module whose every run gives a different result (its run number), so a replay that ran
/// it again would show.
struct Tally {
    manifest: ModuleManifest,
    runs: std::sync::atomic::AtomicU64,
}

#[async_trait]
impl FunctionalModule for Tally {
    fn manifest(&self) -> &ModuleManifest {
        &self.manifest
    }
    async fn invoke(
        &self,
        _ctx: InvocationContext,
        input: Value,
    ) -> Result<ModuleOutput, ModuleFailure> {
        let run = self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if let Some(ms) = input["sleep_ms"].as_u64() {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        Ok(ModuleOutput {
            value: json!({ "run": run, "input": input }),
            usage: vec![(
                UsageUnit::parse("acme.bytes").map_err(|e| ModuleFailure::new(e.to_string()))?,
                Quantity::new(input["bytes"].as_u64().unwrap_or(0)),
            )],
        })
    }
}

fn tally_host(store: Arc<dyn Store>, clock: Arc<ManualClock>) -> (ModuleHost, Arc<Tally>) {
    let host = ModuleHost::new(&Env::builder(store).clock(clock).build());
    let tally = Arc::new(Tally {
        manifest: manifest(TALLY).unwrap(),
        runs: std::sync::atomic::AtomicU64::new(0),
    });
    host.register(tally.clone()).unwrap();
    (host, tally)
}

fn tally_tenant(host: &ModuleHost, clock: Arc<ManualClock>) -> Entitlements {
    let t = TenantId::new();
    let g = Grant::new(
        t,
        "2026-03-01".parse().unwrap(),
        "2027-03-01".parse().unwrap(),
    )
    .module(ModuleId::new("acme.tally").unwrap())
    .quota(
        UsageUnit::parse("acme.calls").unwrap(),
        100,
        QuotaPeriod::Term,
    )
    .quota(
        UsageUnit::parse("acme.bytes").unwrap(),
        100,
        QuotaPeriod::Term,
    );
    Entitlements::in_memory(host.catalog(), t, vec![g], clock).unwrap()
}

#[tokio::test]
async fn a_replayed_invocation_returns_the_stored_result() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
    let (host, tally) = tally_host(store.clone(), clock.clone());
    let ents = tally_tenant(&host, clock.clone());
    let id = ModuleId::new("acme.tally").unwrap();
    let (calls, bytes) = (
        UsageUnit::parse("acme.calls").unwrap(),
        UsageUnit::parse("acme.bytes").unwrap(),
    );
    let runs = || tally.runs.load(std::sync::atomic::Ordering::SeqCst);

    let first = host
        .invoke(
            &ents,
            &id,
            json!({"bytes": 7, "label": "x"}),
            &IdempotencyKey::from_static("job-1"),
        )
        .await
        .unwrap();
    assert!(!first.replayed);
    assert_eq!(first.value["run"], 1);
    assert_eq!(
        first.metered,
        vec![
            (calls.clone(), Quantity::new(2)),
            (bytes.clone(), Quantity::new(7))
        ]
    );
    assert_eq!(ents.meter().remaining(&calls).get(), 98);
    assert_eq!(ents.meter().remaining(&bytes).get(), 93);

    // The same request again (keys in another order): the stored result, nothing ran, nothing
    // metered, no rate-limit token taken (the limit is 2 calls a minute).
    for _ in 0..3 {
        let again = host
            .invoke(
                &ents,
                &id,
                json!({"label": "x", "bytes": 7}),
                &IdempotencyKey::from_static("job-1"),
            )
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.value, first.value);
        assert_eq!(again.metered, first.metered);
    }
    assert_eq!(runs(), 1);
    assert_eq!(ents.meter().remaining(&calls).get(), 98);
    assert_eq!(ents.meter().remaining(&bytes).get(), 93);

    // The same key with another request: a typed mismatch, nothing ran or was metered.
    let e = host
        .invoke(
            &ents,
            &id,
            json!({"bytes": 8, "label": "x"}),
            &IdempotencyKey::from_static("job-1"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ModulesError::Core(marketingforce_core::Error::IdempotencyMismatch { key }) if key.ends_with("job-1")),
        "{e}"
    );
    assert_eq!(runs(), 1);
    assert_eq!(ents.meter().remaining(&calls).get(), 98);

    // The result is in the host's store: a restarted host over it replays it too.
    let (restarted, tally2) = tally_host(store.clone(), clock.clone());
    let again = restarted
        .invoke(
            &ents,
            &id,
            json!({"bytes": 7, "label": "x"}),
            &IdempotencyKey::from_static("job-1"),
        )
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.value, first.value);
    assert_eq!(tally2.runs.load(std::sync::atomic::Ordering::SeqCst), 0);

    // Keys are per tenant: another tenant's "job-1" is its own invocation.
    let other = tally_tenant(&host, clock.clone());
    let theirs = host
        .invoke(
            &other,
            &id,
            json!({"bytes": 7, "label": "x"}),
            &IdempotencyKey::from_static("job-1"),
        )
        .await
        .unwrap();
    assert!(!theirs.replayed);
    assert_eq!(theirs.value["run"], 2);

    // A blank or overlong key cannot be made, so nothing runs under it.
    for bad in [" ".to_string(), "k".repeat(129)] {
        let e = IdempotencyKey::new(bad).unwrap_err();
        assert!(
            matches!(&e, marketingforce_core::Error::Validation { field, .. } if field == "idempotency_key"),
            "{e}"
        );
    }
    assert_eq!(tally.runs.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_key_is_invoked_by_one_call_at_a_time() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
    let (host, tally) = tally_host(store, clock.clone());
    let ents = tally_tenant(&host, clock);
    let id = ModuleId::new("acme.tally").unwrap();
    let input = json!({"sleep_ms": 30});
    let key = IdempotencyKey::from_static("job-1");
    let (a, b) = tokio::join!(
        host.invoke(&ents, &id, input.clone(), &key),
        host.invoke(&ents, &id, input.clone(), &key)
    );
    let a = a.unwrap();
    assert!(
        matches!(b, Err(ModulesError::ReservationNotOpen { .. })),
        "{b:?}"
    );
    // Once it is done, the same request replays.
    let c = host
        .invoke(&ents, &id, input, &IdempotencyKey::from_static("job-1"))
        .await
        .unwrap();
    assert!(c.replayed);
    assert_eq!(c.value, a.value);
    assert_eq!(tally.runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        ents.meter()
            .remaining(&UsageUnit::parse("acme.calls").unwrap())
            .get(),
        98
    );
}

#[tokio::test]
async fn a_result_that_could_not_be_stored_reruns_without_metering_twice() {
    // The first commit that stores an idempotent result (the invocation's) fails, retryably.
    let store = Arc::new(FaultyStore::new(
        Arc::new(MemoryStore::new()),
        FaultPlan::new(1),
    ));
    store.script_matching(Fault::ErrorBeforeCommit, "idempotency key");
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
    let (host, tally) = tally_host(store.clone() as Arc<dyn Store>, clock.clone());
    let ents = tally_tenant(&host, clock.clone());
    let id = ModuleId::new("acme.tally").unwrap();
    let calls = UsageUnit::parse("acme.calls").unwrap();
    let bytes = UsageUnit::parse("acme.bytes").unwrap();
    let e = host
        .invoke(
            &ents,
            &id,
            json!({"bytes": 5}),
            &IdempotencyKey::from_static("job-9"),
        )
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
    // The module ran and its usage is metered (and stored) once.
    assert_eq!(ents.meter().remaining(&calls).get(), 98);
    assert_eq!(ents.meter().remaining(&bytes).get(), 95);
    // The retry runs the module again (there is no result to replay) but meters nothing more.
    clock.advance(Duration::seconds(60));
    let retried = host
        .invoke(
            &ents,
            &id,
            json!({"bytes": 5}),
            &IdempotencyKey::from_static("job-9"),
        )
        .await
        .unwrap();
    assert!(!retried.replayed);
    assert_eq!(retried.value["run"], 2);
    assert_eq!(
        retried.metered,
        vec![
            (calls.clone(), Quantity::new(2)),
            (bytes.clone(), Quantity::new(5))
        ]
    );
    assert_eq!(ents.meter().remaining(&calls).get(), 98);
    assert_eq!(ents.meter().remaining(&bytes).get(), 95);
    assert_eq!(ents.meter().events_recorded(), 2);
    // From now on it replays.
    let again = host
        .invoke(
            &ents,
            &id,
            json!({"bytes": 5}),
            &IdempotencyKey::from_static("job-9"),
        )
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.value, retried.value);
    assert_eq!(tally.runs.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// A caller that gives up on a running invocation (a request timeout drops the future while the
/// module runs) must not leave its per-call reservation behind: reservations live in memory
/// only, so a leaked one holds the tenant's quota until the process restarts.
#[tokio::test]
async fn an_invocation_dropped_while_the_module_runs_releases_its_reservation() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
    let (host, tally) = tally_host(store, clock.clone());
    let ents = tally_tenant(&host, clock);
    let id = ModuleId::new("acme.tally").unwrap();
    let calls = UsageUnit::parse("acme.calls").unwrap();
    let key = IdempotencyKey::from_static("job-slow");
    let slow = host.invoke(&ents, &id, json!({"sleep_ms": 60_000}), &key);
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(20), slow).await;
    assert!(gave_up.is_err(), "the module was still running");
    assert_eq!(tally.runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(ents.meter().open_reservations(), 0, "reservation leaked");
    assert_eq!(ents.meter().remaining(&calls).get(), 100);
}

/// A module that ran but reported more usage than is left is answered as having run
/// (`ReportedUsageRefused`, not the `QuotaExceeded` that means nothing ran): its per-call
/// usage is metered, and a retry under the key does not meter it twice.
#[tokio::test]
async fn usage_reported_past_the_quota_is_refused_as_usage_of_a_call_that_ran() {
    let s = setup();
    let ents = tenant(&s, 10);
    s.host
        .configure(&ents, &s.id, json!({"label": "A"}))
        .await
        .unwrap();
    let calls = UsageUnit::parse("acme.calls").unwrap();
    let key = IdempotencyKey::from_static("big");
    for attempt in 0..2 {
        let e = s
            .host
            .invoke(&ents, &s.id, json!({"bytes": 5000}), &key)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ModulesError::ReportedUsageRefused { refused, .. }
                if matches!(**refused, ModulesError::QuotaExceeded { .. })),
            "attempt {attempt}: {e}"
        );
        assert_eq!(
            marketingforce_core::Classify::kind(&e),
            marketingforce_core::ErrorKind::LimitExceeded
        );
        assert_eq!(ents.meter().remaining(&calls).get(), 8, "attempt {attempt}");
    }
}
