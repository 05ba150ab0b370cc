//! The quickstart: a day in the life of the Marketingforce platform, end to end, on embedded
//! defaults — no services needed.
//!
//! ```text
//! cargo run --example quickstart                                  # in memory
//! cargo run --example quickstart -- --store sqlite:target/quickstart/mf.sqlite
//! cargo run --example quickstart -- --store postgres://postgres@127.0.0.1:5432/test
//! MARKETINGFORCE_STORE=sqlite:/tmp/mf.sqlite cargo run --example quickstart
//! cargo run --example quickstart -- --trace                       # the span tree on stderr
//! cargo run --example quickstart -- --broker nats://127.0.0.1:4222 # events to JetStream
//! ```
//!
//! Options: `--store memory | sqlite:<path> | postgres:<url>` (or the environment variable
//! `MARKETINGFORCE_STORE`), `--out <dir>` (default `target/quickstart`), `--quiet` (figures
//! only, without the story), `--trace` (the span tree of the day on stderr: each phase, the
//! SDK operations under it with tenant ids, outcomes and durations, no personal data),
//! `--broker nats://host:port` (relay the day's domain events from every outbox to NATS
//! JetStream, stream `MARKETINGFORCE`, subjects `mf.<tenant>.<event>`, and print the events
//! acknowledged per type). Every backend prints the same figures.
//!
//! It writes to the output folder: `report.html` (the figures with SVG charts: lead funnel,
//! revenue waterfall, rebate breakdown, the official site's visitor figures), `site/` (上海精工's
//! official site as published: PC pages, the mobile variant under `site/m/`, sitemap.xml,
//! robots.txt — open `site/index.html`), `poster.png` and `poster.svg` (the T-image poster;
//! PNG needs a CJK font such as Debian's `fonts-wqy-microhei` — without one the PNG is skipped
//! with a note and the report shows the SVG), and `figures.json`.

// The story's demo code; tests/quickstart.rs includes it too and uses more of it.
#[allow(dead_code, unused_imports)]
mod scenario;
// `--broker`: the outboxes to NATS JetStream (shared with tests/quickstart_extras.rs).
mod broker;
// `--trace`: the span tree of the day (shared with tests/quickstart_extras.rs).
mod trace_tree;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use marketingforce::content::image::raster::Rasterizer;
use marketingforce::content::image::TemplateImageGenerator;
use marketingforce::core::adapters::generation::ImageFormat;
use marketingforce::core::storage::postgres::PostgresOptions;
use marketingforce::core::storage::{MemoryStore, PostgresStore, SqliteStore, Store};
use marketingforce::core::tenant::TenantId;
use scenario::{poster_request, report, Scenario};
use tracing::Instrument;

/// Where the figures live.
enum StoreArg {
    Memory,
    Sqlite(PathBuf),
    Postgres(String),
}

impl StoreArg {
    fn parse(s: &str) -> Result<StoreArg, String> {
        if s == "memory" {
            Ok(StoreArg::Memory)
        } else if let Some(path) = s.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(
                    "sqlite: needs a file path, e.g. sqlite:target/quickstart/mf.sqlite".into(),
                );
            }
            Ok(StoreArg::Sqlite(PathBuf::from(path)))
        } else if let Some(url) = s.strip_prefix("postgres:") {
            let url = if url.starts_with("//") {
                format!("postgres:{url}")
            } else {
                url.to_string()
            };
            Ok(StoreArg::Postgres(url))
        } else if s.starts_with("postgresql://") {
            Ok(StoreArg::Postgres(s.to_string()))
        } else {
            Err(format!(
                "unknown store {s:?}: use memory, sqlite:<path> or postgres:<url>"
            ))
        }
    }

    fn describe(&self) -> String {
        match self {
            StoreArg::Memory => "memory".into(),
            StoreArg::Sqlite(p) => format!("sqlite ({})", p.display()),
            StoreArg::Postgres(url) => {
                // Never print a password.
                let shown = match (url.find("://"), url.find('@')) {
                    (Some(s), Some(at)) if at > s => format!("{}{}", &url[..s + 3], &url[at + 1..]),
                    _ => url.clone(),
                };
                format!("postgres ({shown})")
            }
        }
    }

    async fn open(&self) -> Result<Arc<dyn Store>, String> {
        Ok(match self {
            StoreArg::Memory => Arc::new(MemoryStore::new()),
            StoreArg::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                }
                Arc::new(
                    SqliteStore::open(path)
                        .await
                        .map_err(|e| format!("cannot open SQLite at {}: {e}", path.display()))?,
                )
            }
            StoreArg::Postgres(url) => Arc::new(
                PostgresStore::connect_with(PostgresOptions::new(url.clone()))
                    .await
                    .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?,
            ),
        })
    }
}

struct Args {
    store: StoreArg,
    out: PathBuf,
    quiet: bool,
    /// `--trace`: print the span tree of the day to stderr.
    trace: bool,
    /// `--broker nats://host:port`: relay the outboxes to NATS JetStream.
    broker: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut store = std::env::var("MARKETINGFORCE_STORE").ok();
    let mut out = PathBuf::from("target/quickstart");
    let mut quiet = false;
    let mut trace = false;
    let mut broker = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--store" => store = Some(it.next().ok_or("--store needs a value")?),
            "--out" => out = PathBuf::from(it.next().ok_or("--out needs a directory")?),
            "--quiet" | "-q" => quiet = true,
            "--trace" => trace = true,
            "--broker" => broker = Some(broker_url(it.next())?),
            "--help" | "-h" => {
                return Err("usage: quickstart [--store memory|sqlite:<path>|postgres:<url>] [--out <dir>] [--quiet]\n                  [--trace] [--broker nats://host:port]\n       (or set MARKETINGFORCE_STORE)".into())
            }
            other => {
                if let Some(v) = other.strip_prefix("--store=") {
                    store = Some(v.to_string());
                } else if let Some(v) = other.strip_prefix("--broker=") {
                    broker = Some(broker_url(Some(v.to_string()))?);
                } else {
                    return Err(format!("unknown argument {other:?} (try --help)"));
                }
            }
        }
    }
    Ok(Args {
        store: StoreArg::parse(store.as_deref().unwrap_or("memory"))?,
        out,
        quiet,
        trace,
        broker,
    })
}

/// The value of `--broker`: a `nats://` (or `tls://`) URL.
fn broker_url(value: Option<String>) -> Result<String, String> {
    let url = value.ok_or("--broker needs a URL, e.g. nats://127.0.0.1:4222")?;
    if url.starts_with("nats://") || url.starts_with("tls://") {
        Ok(url)
    } else {
        Err(format!(
            "--broker {url:?}: expected nats://host:port (NATS JetStream)"
        ))
    }
}

/// What the day emitted: the domain events in the outboxes of the tenants and the operator,
/// counted per event type (`--broker` relays them to NATS JetStream).
async fn emitted(scenario: &Scenario) -> Result<String, String> {
    let counts = broker::outbox_counts(scenario.store(), &tenants(scenario)).await?;
    let total: usize = counts.values().sum();
    let listed: Vec<String> = counts.iter().map(|(n, c)| format!("{n} {c}")).collect();
    Ok(format!(
        "Events      {total} domain events in the outboxes: {}",
        listed.join(" · ")
    ))
}

/// The scopes whose outboxes hold the day's events: the operator and both tenants.
fn tenants(scenario: &Scenario) -> [TenantId; 3] {
    let cast = scenario.cast();
    [cast.operator, cast.jinggong, cast.yunfan]
}

/// The poster as PNG, or why it cannot be made (an optional artefact: the run goes on without
/// it).
fn poster_png() -> Result<Vec<u8>, String> {
    let rasterizer = Rasterizer::system()
        .map_err(|e| format!("poster.png skipped: {e} — poster.svg has the same poster"))?;
    let mut req = poster_request();
    req.format = ImageFormat::Png;
    TemplateImageGenerator::new()
        .with_rasterizer(rasterizer)
        .generate_image(&req)
        .map(|img| img.bytes)
        .map_err(|e| format!("cannot rasterise the T-image poster: {e}"))
}

async fn run(args: Args) -> Result<(), String> {
    let started = Instant::now();
    // The PNG needs a CJK font; without one the day runs all the same (the SVG has the poster).
    let png = poster_png();
    if let Err(why) = &png {
        eprintln!("note: {why}");
    }
    let svg = TemplateImageGenerator::new()
        .generate_image(&poster_request())
        .map_err(|e| format!("cannot draw the poster: {e}"))?
        .bytes;
    let store = args.store.open().await?;
    let described = args.store.describe();
    // A durable store may hold earlier runs: tell the story again under a fresh run number
    // (new tenants); the figures are the same.
    let run = Scenario::next_free_run(&store, 0)
        .await
        .map_err(|e| e.to_string())?;
    if run > 0 && !args.quiet {
        println!("(the store already holds {run} earlier run(s); this is run {run})\n");
    }
    let mut scenario = Scenario::start(store, run)
        .instrument(trace_tree::start_span())
        .await
        .map_err(|e| e.to_string())?;
    let mut phases = Vec::new();
    while let Some(phase) = scenario.next_phase() {
        let p = scenario
            .run_next()
            .instrument(trace_tree::phase_span(phase))
            .await
            .map_err(|e| e.to_string())?;
        if !args.quiet {
            println!(
                "▸ {} — {}",
                (p.started_at + chrono::Duration::hours(8)).format("%a %-d %b"),
                p.phase.title()
            );
            for line in &p.lines {
                println!("    {line}");
            }
        }
        phases.push(p);
    }
    let figures = scenario.figures().await.map_err(|e| e.to_string())?;
    println!("\n{}", report::text(&figures, &described));
    println!("{}", emitted(&scenario).await?);

    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = args.out.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    let poster = match &png {
        Ok(png) => {
            write("poster.png", png)?;
            "poster.png"
        }
        Err(_) => "poster.svg",
    };
    write("poster.svg", &svg)?;
    write(
        "report.html",
        report::html(&figures, &phases, &described, Some(poster)).as_bytes(),
    )?;
    let json = serde_json::to_vec_pretty(&figures).map_err(|e| e.to_string())?;
    write("figures.json", &json)?;
    // The official site the story published, byte for byte (the renderer is deterministic).
    let site = marketingforce::sites::demo::write_jinggong_site(&args.out.join("site"))
        .map_err(|e| format!("cannot write the site: {e}"))?;
    if site.digest() != figures.site.digest {
        return Err("the site written differs from the one published".into());
    }
    println!(
        "wrote {0}/report.html, {0}/site/ (open site/index.html), {2}{0}/poster.svg, {0}/figures.json in {1:.1} s",
        args.out.display(),
        started.elapsed().as_secs_f64(),
        if png.is_ok() {
            format!("{}/poster.png, ", args.out.display())
        } else {
            String::new()
        }
    );
    // The day's events to the broker, after the files are written (a broker that cannot be
    // reached fails the run, with the report already on disk).
    if let Some(url) = &args.broker {
        let acked = broker::relay_to_nats(
            scenario.store().clone(),
            &tenants(&scenario),
            url,
            marketingforce::events::nats::NatsSettings::default(),
        )
        .await?;
        println!("{}", broker::summary(url, &acked));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if args.trace {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::Layer;
        // The phases and the SDK's operations (debug); the store's commits (trace) would drown
        // the tree.
        let subscriber = tracing_subscriber::registry().with(
            trace_tree::TreeLayer::stderr()
                .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG),
        );
        if let Err(e) = tracing::subscriber::set_global_default(subscriber) {
            eprintln!("cannot install the --trace subscriber: {e}");
            return ExitCode::FAILURE;
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            ExitCode::FAILURE
        }
    }
}
