//! Telemetry of the quickstart's day: spans and events carry tenant ids, operations and
//! outcomes, and never a mobile, an email or a name of the story's people; with the `metrics`
//! feature, the documented counters and histograms are emitted with bounded labels, and the
//! tenant label appears only when the operator opts in.

use std::fmt;
use std::sync::{Arc, Mutex};

// The quickstart's scenario lives with its example (demo code is not in the library).
#[path = "../examples/quickstart/scenario/mod.rs"]
#[allow(dead_code, unused_imports)]
mod scenario;

use marketingforce::core::storage::{MemoryStore, Store};
use scenario::Cast;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Every span name, field and event message a subscriber saw, as `name field=value` strings.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<String>>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!(" {}={value}", field.name()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl<S: Subscriber> Layer<S> for Captured {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut line = format!("span {}", attrs.metadata().name());
        attrs.record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
    }

    fn on_record(&self, _span: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut line = "record".to_string();
        values.record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = format!("event {}", event.metadata().target());
        event.record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
    }
}

/// The tests of this file run one at a time: a callsite first hit on another thread while a
/// scoped subscriber is being installed may have its interest cached without it (`tracing`
/// computes interest per callsite across all dispatchers), which would hide spans from the
/// capture.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run_day() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
            scenario::run(store).await.expect("the quickstart day");
        });
}

/// The personal data found in `lines`, with the line it was found in.
fn leaks(lines: &[String], personal: &[String]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|line| {
            personal
                .iter()
                .filter(|p| line.contains(p.as_str()))
                .map(move |p| format!("{p:?} in {line:?}"))
        })
        .collect()
}

#[test]
fn no_personal_data_reaches_a_span_or_an_event() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    tracing::subscriber::with_default(subscriber, run_day);
    let lines = captured.lines();
    if let Ok(path) = std::env::var("MF_TELEMETRY_DUMP") {
        std::fs::write(path, lines.join("\n")).expect("dump");
    }

    // The capture works: it saw the day's operations, with their tenants and outcomes.
    let cast = Cast::new(0);
    for tenant in [cast.jinggong, cast.yunfan] {
        let id = tenant.to_string();
        assert!(
            lines.iter().any(|l| l.contains(&format!("tenant={id}"))),
            "no span carries tenant {id}"
        );
    }
    for expected in [
        "span crm.capture ",
        "span modules.metering.commit_durable ",
        "span modules.entitlements.assign_seat ",
        "span content.publisher.publish ",
        "span ads.top_up ",
        "span store.commit ",
        "span crm.phase phase=engine rows=",
        "span crm.phase phase=seal rows=",
        "span crm.phase phase=store rows=",
        " outcome=ok",
        " error.kind=limit_exceeded",
        " key_hash=",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(expected)),
            "nothing recorded {expected:?} ({} lines)",
            lines.len()
        );
    }

    // And nothing personal in any of it.
    let personal = scenario::personal_data();
    assert!(personal.len() > 40, "{} items", personal.len());
    let found = leaks(&lines, &personal);
    assert!(
        found.is_empty(),
        "personal data in telemetry:\n{}",
        found.join("\n")
    );

    // The check itself can fail: a field holding a mobile of the cast is caught.
    let planted = vec![format!(
        "event test mobile={}",
        personal.iter().find(|p| p.starts_with("139")).unwrap()
    )];
    assert_eq!(leaks(&planted, &personal).len(), 1);
}

#[cfg(feature = "metrics")]
mod metrics_recorded {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use metrics::{
        Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
        SharedString, Unit,
    };

    use marketingforce::core::telemetry::{self, names};

    /// A series: its name and sorted labels.
    type SeriesKey = (String, Vec<(String, String)>);

    /// Sums of counters and counts of histogram records, by series.
    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<BTreeMap<SeriesKey, u64>>>);

    struct Series(Recorded, Key);

    impl Series {
        fn add(&self, n: u64) {
            let mut labels: Vec<(String, String)> = self
                .1
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            labels.sort();
            *self
                .0
                 .0
                .lock()
                .unwrap()
                .entry((self.1.name().to_string(), labels))
                .or_default() += n;
        }
    }

    impl CounterFn for Series {
        fn increment(&self, value: u64) {
            self.add(value);
        }
        fn absolute(&self, value: u64) {
            self.add(value);
        }
    }

    impl HistogramFn for Series {
        fn record(&self, _value: f64) {
            self.add(1);
        }
    }

    impl Recorder for Recorded {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::new(Series(self.clone(), key.clone())))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(Arc::new(Series(self.clone(), key.clone())))
        }
    }

    impl Recorded {
        fn series(&self, name: &str) -> Vec<(Vec<(String, String)>, u64)> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .filter(|((n, _), _)| n == name)
                .map(|((_, l), v)| (l.clone(), *v))
                .collect()
        }

        fn total(&self, name: &str, label: (&str, &str)) -> u64 {
            self.series(name)
                .iter()
                .filter(|(l, _)| l.iter().any(|(k, v)| k == label.0 && v == label.1))
                .map(|(_, v)| v)
                .sum()
        }
    }

    #[test]
    fn the_day_is_counted_with_bounded_labels_and_tenants_only_on_request() {
        let _serial = super::ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let recorded = Recorded::default();
        metrics::with_local_recorder(&recorded, super::run_day);

        assert!(recorded.total(names::OPERATIONS, ("operation", "crm.capture")) > 0);
        assert!(recorded.total(names::OPERATIONS, ("error_kind", "limit_exceeded")) > 0);
        assert!(recorded.total(names::LEADS, ("result", "created")) > 0);
        assert!(recorded.total(names::LEADS, ("result", "merged")) > 0);
        // The day consumes quota (its refusals are seat limits and a disabled module, not quota).
        assert!(
            !recorded.series(names::QUOTA_CONSUMED).is_empty(),
            "no quota counted"
        );
        assert!(recorded.total(names::LEDGER_TRANSFERS, ("outcome", "posted")) > 0);
        assert!(!recorded.series(names::PUBLICATIONS).is_empty());
        assert!(recorded.total(names::STORE_COMMITS, ("backend", "memory")) > 0);
        assert!(recorded.total(names::STORE_COMMIT_DURATION, ("backend", "memory")) > 0);
        assert!(!recorded.series(names::OPERATION_DURATION).is_empty());
        // No tenant label by default.
        let all = recorded.0.lock().unwrap().clone();
        assert!(
            all.keys()
                .all(|(_, labels)| labels.iter().all(|(k, _)| k != "tenant")),
            "a tenant label without the opt-in"
        );

        // With the opt-in, the operation counters carry the tenant.
        telemetry::include_tenant_label(true);
        let with_tenant = Recorded::default();
        metrics::with_local_recorder(&with_tenant, super::run_day);
        telemetry::include_tenant_label(false);
        let jinggong = super::Cast::new(0).jinggong.to_string();
        assert!(with_tenant.total(names::OPERATIONS, ("tenant", &jinggong)) > 0);
        assert!(with_tenant.total(names::LEADS, ("tenant", &jinggong)) > 0);
    }
}
