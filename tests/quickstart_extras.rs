//! The quickstart's `--trace` and `--broker`, function by function: the span tree of the day
//! has one top-level line per phase, the SDK's operations under them and no personal data;
//! the day's outboxes relayed to NATS JetStream are acknowledged event for event
//! (`MARKETINGFORCE_TEST_NATS_URL`; skipped without it, except under CI).

use std::io::Write;
use std::sync::{Arc, Mutex};

// The quickstart's scenario and its option modules live with the example.
#[path = "../examples/quickstart/broker.rs"]
mod broker;
#[path = "../examples/quickstart/scenario/mod.rs"]
#[allow(dead_code, unused_imports)]
mod scenario;
#[path = "../examples/quickstart/trace_tree.rs"]
#[allow(dead_code)]
mod trace_tree;

use marketingforce::core::storage::{MemoryStore, Store};
use marketingforce::core::tenant::TenantId;
use marketingforce::events::nats::NatsSettings;
use scenario::{Phase, Scenario};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// One test at a time: a callsite first hit on another thread while a scoped subscriber is
/// being installed may have its interest cached without it (see tests/telemetry.rs).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Run the whole day on `store` as the quickstart does (each phase in its span); returns the
/// scopes whose outboxes hold its events.
async fn run_day(store: Arc<dyn Store>) -> Vec<TenantId> {
    let mut scenario = Scenario::start(store, 0)
        .instrument(trace_tree::start_span())
        .await
        .expect("start");
    while let Some(phase) = scenario.next_phase() {
        scenario
            .run_next()
            .instrument(trace_tree::phase_span(phase))
            .await
            .expect("phase");
    }
    let cast = scenario.cast();
    vec![cast.operator, cast.jinggong, cast.yunfan]
}

/// A writer into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_trace_tree_has_a_line_per_phase_with_operations_under_them() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::registry().with(
        trace_tree::TreeLayer::new(Arc::new(Mutex::new(buffer.clone())))
            .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG),
    );
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(run_day(Arc::new(MemoryStore::new())));
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();

    // Top level: the setup, then the ten phases in the order of the day, each with its
    // duration.
    let top: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.starts_with(' '))
        .collect();
    let expected: Vec<String> = std::iter::once("quickstart.start  ".to_string())
        .chain(
            Phase::ALL
                .iter()
                .map(|p| format!("quickstart.phase phase={p:?}  ")),
        )
        .collect();
    assert_eq!(
        top.len(),
        expected.len(),
        "top-level lines:\n{}",
        top.join("\n")
    );
    for (line, prefix) in top.iter().zip(&expected) {
        assert!(
            line.starts_with(prefix.as_str()),
            "{line:?} is not {prefix:?}…"
        );
        assert!(line.ends_with(" ms"), "{line:?} has no duration");
    }

    // Under each phase, indented, the SDK's operations with tenants and outcomes; the lead
    // captures under the Leads phase.
    let leads_at = lines
        .iter()
        .position(|l| l.starts_with("quickstart.phase phase=Leads "))
        .expect("the Leads phase");
    let under_leads: Vec<&str> = lines[leads_at + 1..]
        .iter()
        .copied()
        .take_while(|l| l.starts_with(' '))
        .collect();
    assert!(
        under_leads
            .iter()
            .any(|l| l.starts_with("  crm.capture") && l.contains(" outcome=ok")),
        "no capture under Leads:\n{}",
        under_leads.join("\n")
    );
    let cast = scenario::Cast::new(0);
    assert!(text.contains(&format!("tenant={}", cast.jinggong)));
    // Store commits are trace-level: not in the tree.
    assert!(!text.contains("store.commit"));

    // No personal data of the story's people.
    let leaks: Vec<String> = scenario::personal_data()
        .into_iter()
        .filter(|p| text.contains(p.as_str()))
        .collect();
    assert!(leaks.is_empty(), "personal data in the tree: {leaks:?}");
}

/// The NATS server of the tests, if configured; under CI a missing one fails the test.
fn nats_url() -> Option<String> {
    match std::env::var("MARKETINGFORCE_TEST_NATS_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("MARKETINGFORCE_CI").is_ok_and(|v| v == "1")
            || std::env::var_os("CI").is_some() =>
        {
            panic!("CI is set but MARKETINGFORCE_TEST_NATS_URL is not: .ci/run starts NATS and exports it")
        }
        _ => {
            eprintln!("skipping the --broker test: MARKETINGFORCE_TEST_NATS_URL is not set");
            None
        }
    }
}

#[test]
fn the_broker_acknowledges_every_event_of_the_outboxes() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(url) = nats_url() else { return };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
            let tenants = run_day(store.clone()).await;
            let outboxes = broker::outbox_counts(&store, &tenants)
                .await
                .expect("outboxes");
            assert!(
                outboxes.values().sum::<usize>() > 0,
                "the day emitted events"
            );

            // A stream of this run's own (in memory on the server).
            let tag = marketingforce::core::id::Uuid::now_v7()
                .simple()
                .to_string();
            let tag = &tag[tag.len() - 10..];
            let mut settings = NatsSettings::named(format!("MFQS_{tag}"), format!("mfqs{tag}"));
            settings.memory_storage = true;
            let acked = broker::relay_to_nats(store.clone(), &tenants, &url, settings.clone())
                .await
                .expect("relayed");
            assert_eq!(acked, outboxes, "acked per type = the outboxes per type");
            let summary = broker::summary(&url, &acked);
            assert!(summary.contains(&format!(
                "acked {} events",
                outboxes.values().sum::<usize>()
            )));

            // The cursors are durable: relaying again has nothing left to send.
            let again = broker::relay_to_nats(store, &tenants, &url, settings)
                .await
                .expect("relayed again");
            assert!(again.is_empty(), "{again:?}");
        });
}
