//! The quickstart: a day in the life of the Marketingforce platform, end to end, on embedded
//! defaults — no services needed.
//!
//! ```text
//! cargo run --example quickstart                                  # in memory
//! cargo run --example quickstart -- --store sqlite:target/quickstart/mf.sqlite
//! cargo run --example quickstart -- --store postgres://postgres@127.0.0.1:5432/test
//! MARKETINGFORCE_STORE=sqlite:/tmp/mf.sqlite cargo run --example quickstart
//! ```
//!
//! Options: `--store memory | sqlite:<path> | postgres:<url>` (or the environment variable
//! `MARKETINGFORCE_STORE`), `--out <dir>` (default `target/quickstart`), `--quiet` (figures
//! only, without the story). Every backend prints the same figures.
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

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use marketingforce::content::image::raster::Rasterizer;
use marketingforce::content::image::TemplateImageGenerator;
use marketingforce::core::adapters::generation::ImageFormat;
use marketingforce::core::storage::postgres::PostgresOptions;
use marketingforce::core::storage::{MemoryStore, PostgresStore, SqliteStore, Store};
use scenario::{poster_request, report, Scenario};

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
}

fn args() -> Result<Args, String> {
    let mut store = std::env::var("MARKETINGFORCE_STORE").ok();
    let mut out = PathBuf::from("target/quickstart");
    let mut quiet = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--store" => store = Some(it.next().ok_or("--store needs a value")?),
            "--out" => out = PathBuf::from(it.next().ok_or("--out needs a directory")?),
            "--quiet" | "-q" => quiet = true,
            "--help" | "-h" => {
                return Err("usage: quickstart [--store memory|sqlite:<path>|postgres:<url>] [--out <dir>] [--quiet]\n       (or set MARKETINGFORCE_STORE)".into())
            }
            other => match other.strip_prefix("--store=") {
                Some(v) => store = Some(v.to_string()),
                None => return Err(format!("unknown argument {other:?} (try --help)")),
            },
        }
    }
    Ok(Args {
        store: StoreArg::parse(store.as_deref().unwrap_or("memory"))?,
        out,
        quiet,
    })
}

/// What the day emitted: the domain events in the outboxes of the tenants and the operator,
/// counted per event type (they would go to NATS JetStream or webhooks through
/// `marketingforce::events`' relay).
async fn emitted(scenario: &Scenario) -> Result<String, String> {
    use marketingforce::core::events::{EventEnvelope, OUTBOX_JOURNAL};
    let cast = scenario.cast();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for tenant in [cast.operator, cast.jinggong, cast.yunfan] {
        let mut after = 0;
        loop {
            let entries = scenario
                .store()
                .read_journal(&tenant, OUTBOX_JOURNAL, after, 1_000)
                .await
                .map_err(|e| format!("cannot read the outbox: {e}"))?;
            let Some(last) = entries.last().map(|e| e.seq) else {
                break;
            };
            for entry in &entries {
                let event = EventEnvelope::from_json(&entry.payload)
                    .map_err(|e| format!("an outbox entry does not decode: {e}"))?;
                *counts.entry(event.name().to_string()).or_default() += 1;
            }
            after = last;
        }
    }
    let total: usize = counts.values().sum();
    let listed: Vec<String> = counts.iter().map(|(n, c)| format!("{n} {c}")).collect();
    Ok(format!(
        "Events      {total} domain events in the outboxes: {}",
        listed.join(" · ")
    ))
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
        .await
        .map_err(|e| e.to_string())?;
    let mut phases = Vec::new();
    while scenario.next_phase().is_some() {
        let p = scenario.run_next().await.map_err(|e| e.to_string())?;
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
        "wrote {0}/report.html, {0}/site/ (open site/index.html), {0}/{2}poster.svg, {0}/figures.json in {1:.1} s",
        args.out.display(),
        started.elapsed().as_secs_f64(),
        if png.is_ok() {
            format!("{}/poster.png, ", args.out.display())
        } else {
            String::new()
        }
    );
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
