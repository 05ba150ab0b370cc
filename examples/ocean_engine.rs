//! Switching the ad platform from the simulation to Ocean Engine (巨量引擎) by configuration.
//!
//! The agency's code — open the customer's ad account, top it up, create a campaign, pull the
//! day's report into the ledger twice (the second pull must change nothing) — is the same for
//! every platform; only the adapter given to `AdOps::attach_platform` changes, and it is chosen
//! by a configuration document:
//!
//! ```text
//! {"platform": "simulated", "seed": 7}
//! {"platform": "ocean_engine", "ocean_engine": {"app_id": "…", "secret": "…", "agent_id": "…"},
//!  "licence_number": "<the customer's licence, as on the account the agent opened>",
//!  "redirect_uri": "https://agency.example.com/oauth/oceanengine", "top_up": null}
//! ```
//!
//! ```text
//! cargo run --example ocean_engine --features testing                          # simulated (default)
//! cargo run --example ocean_engine --features testing -- --fake                # Ocean Engine's protocol, loopback fake
//! cargo run --example ocean_engine --features testing -- --config oe.json \
//!     --store target/ocean_engine/mf.sqlite [--code <auth_code>]               # your real app
//! ```
//!
//! With a real app the grant must exist first: without one the example prints the
//! authorisation link and stops; run it again with `--code` and the code your redirect URL
//! received (the grant is kept in the SQLite store for the next runs). Against the real
//! platform the example reads by default — it links the account, pulls yesterday's report —
//! and only moves money when the document sets `top_up` (an amount in yuan), and only creates
//! a campaign when `create_campaign` is `true`.

use marketingforce::core::env::Env;
use marketingforce_core::IdempotencyKey;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use marketingforce::ads::account::{Funding, TopUpRequest};
use marketingforce::ads::agreement::{
    AgreementTerms, PlatformAgreementTerms, PlatformCategory, ServiceType, SettlementTerms,
};
use marketingforce::ads::campaign::{Budget, CampaignDraft, Objective, Schedule};
use marketingforce::ads::config::Config;
use marketingforce::ads::party::*;
use marketingforce::ads::platform::oceanengine::fake::{
    FakeAdvertiser, FakeOceanEngine, FakeRow, FakeSetup,
};
use marketingforce::ads::platform::oceanengine::{
    OceanEngineConfig, OceanEnginePlatform, ReportLevel, Secret,
};
use marketingforce::ads::platform::sim::{SimConfig, SimulatedPlatform};
use marketingforce::ads::rebate::{CustomerRebatePolicy, PlatformRebatePolicy};
use marketingforce::ads::report::IngestOutcome;
use marketingforce::ads::AdOps;
use marketingforce::core::adapters::ad_platform::{AdPlatform, Audience, Pricing, PricingModel};
use marketingforce::core::id::SeededIds;
use marketingforce::core::money::{Currency, Money};
use marketingforce::core::storage::{MemoryStore, SqliteStore, Store};
use marketingforce::core::tenant::TenantId;
use marketingforce::core::time::{Clock, ManualClock, SystemClock, TimeZone};
use serde::Deserialize;

/// Which platform, as configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// `simulated` or `ocean_engine`.
    pub platform: PlatformKind,
    /// Seed of the simulation.
    #[serde(default)]
    pub seed: u64,
    /// The connector's settings (for `ocean_engine`).
    #[serde(default)]
    pub ocean_engine: Option<OceanEngineConfig>,
    /// The customer's licence number (an account with it must exist under the agent).
    #[serde(default)]
    pub licence_number: Option<String>,
    /// Where the platform sends the authorisation code.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// Move this many yuan into the account (real platform: only when set).
    #[serde(default)]
    pub top_up: Option<String>,
    /// Create a campaign (real platform: only when `true`).
    #[serde(default)]
    pub create_campaign: bool,
}

/// The kind of platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformKind {
    /// The deterministic simulation (the default everywhere).
    Simulated,
    /// The Ocean Engine Marketing API connector.
    OceanEngine,
}

/// The outside world the demo drives (nothing, for a real platform).
pub enum Outside {
    /// The simulation delivers a day when told.
    Simulated(Arc<SimulatedPlatform>),
    /// The loopback fake serves the report rows it is given.
    Fake(FakeOceanEngine),
    /// The real platform.
    Real,
}

/// What the run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The platform code.
    pub platform: String,
    /// The account's id at the platform.
    pub account: String,
    /// Outcome of the first pull and of the repeated pull of the day's report.
    pub pulls: Vec<String>,
    /// Spend recorded for the day.
    pub spend: String,
}

/// The adapter the configuration asks for. The only place the platforms differ.
///
/// # Errors
/// An invalid configuration, or (real platform) no grant yet: the message says what to do.
pub async fn platform_from(
    choice: &Choice,
    store: Arc<dyn Store>,
    tenant: TenantId,
    clock: Arc<dyn Clock>,
    fake: Option<FakeOceanEngine>,
    code: Option<&str>,
) -> Result<(Arc<dyn AdPlatform>, Outside), String> {
    match choice.platform {
        PlatformKind::Simulated => {
            let sim = Arc::new(SimulatedPlatform::new(SimConfig::new("sim", choice.seed)));
            Ok((sim.clone(), Outside::Simulated(sim)))
        }
        PlatformKind::OceanEngine => {
            let mut config = choice
                .ocean_engine
                .clone()
                .ok_or("platform ocean_engine needs an `ocean_engine` section")?;
            if let Some(f) = &fake {
                config.base_url = f.base_url();
            }
            let oe = OceanEnginePlatform::new(config, store, tenant, clock)
                .map_err(|e| e.to_string())?;
            if oe.grant().await.map_err(|e| e.to_string())?.is_none() {
                let Some(code) = code else {
                    let redirect = choice
                        .redirect_uri
                        .as_deref()
                        .ok_or("set `redirect_uri` (the URL registered with your app)")?;
                    return Err(format!(
                        "no grant yet: open\n  {}\napprove, then run again with --code <auth_code>",
                        oe.authorize_url(redirect, "marketingforce-example")
                            .map_err(|e| e.to_string())?
                    ));
                };
                let grant = oe
                    .exchange_code(&Secret::new(code))
                    .await
                    .map_err(|e| e.to_string())?;
                println!(
                    "authorised for {} advertiser account(s)",
                    grant.advertiser_ids.len()
                );
            }
            let outside = fake.map_or(Outside::Real, Outside::Fake);
            Ok((Arc::new(oe), outside))
        }
    }
}

/// The agency's day, the same whatever the platform.
///
/// # Errors
/// A message naming the step that failed.
pub async fn run(
    choice: &Choice,
    ops: &AdOps,
    adapter: Arc<dyn AdPlatform>,
    outside: &Outside,
    day: NaiveDate,
) -> Result<Summary, String> {
    let cny = |s: &str| Money::cny(s).map_err(|e| e.to_string());
    let step = |what: &'static str| move |e: marketingforce::ads::AdsError| format!("{what}: {e}");
    let code = adapter.platform_code().to_string();
    let platform = ops
        .register_platform(
            "短视频平台",
            &code,
            PlatformCategory::ShortVideo,
            &IdempotencyKey::from_static("platform"),
        )
        .await
        .map_err(step("register the platform"))?;
    ops.sign_platform_agreement(
        &platform.id,
        PlatformAgreementTerms {
            start: day - Duration::days(60),
            end: day + Duration::days(300),
            currency: Currency::CNY,
            pricing_models: vec![PricingModel::Cpc, PricingModel::Cpm],
            settlement_terms: SettlementTerms::Prepay,
            rebate_policy: PlatformRebatePolicy::standard("5%".parse().map_err(|_| "rate")?),
        },
        &IdempotencyKey::from_static("platform-agreement"),
    )
    .await
    .map_err(step("sign the platform agreement"))?;
    ops.attach_platform(platform.id, adapter.clone());
    ops.record_platform_prepayment(
        &platform.id,
        cny("500000")?,
        day,
        &IdempotencyKey::from_static("prepay"),
    )
    .await
    .map_err(step("record the prepayment"))?;
    let licence = match &choice.licence_number {
        Some(l) => l.clone(),
        None => uscc_with_check_digit("91310000MA1FL8XQ3").map_err(|e| e.to_string())?,
    };
    let customer = ops
        .register_customer(
            NewCustomer {
                name: "上海某品牌有限公司".into(),
                kind: CustomerKind::DirectAdvertiser,
                industry: "retail".into(),
                licence_number: licence.clone(),
            },
            &IdempotencyKey::from_static("customer"),
        )
        .await
        .map_err(step("register the customer"))?;
    ops.review_customer(
        &customer.id,
        &QualificationDossier {
            licence: BusinessLicence {
                number: customer.licence_number.clone(),
                registered_name: customer.name.clone(),
                expires_on: None,
            },
            industry: "retail".into(),
            permits: vec![],
            reputation: Reputation::default(),
            credit_rating: CreditRating::A,
            financials: Financials {
                net_assets: cny("5000000")?,
                debt_ratio: "40%".parse().map_err(|_| "ratio")?,
                loss_making_years: 0,
            },
        },
        "审核员",
        &IdempotencyKey::from_static("review"),
    )
    .await
    .map_err(step("review the customer"))?;
    ops.sign_agreement(
        &customer.id,
        AgreementTerms {
            service_type: ServiceType::Distribution,
            start: day - Duration::days(60),
            end: day + Duration::days(300),
            auto_renew: true,
            credit_terms_days: 60,
            credit_exception: None,
            credit_limit: cny("300000")?,
            customer_rebate: CustomerRebatePolicy::Fixed {
                rate: "3%".parse().map_err(|_| "rate")?,
            },
        },
        &IdempotencyKey::from_static("agreement"),
    )
    .await
    .map_err(step("sign the customer agreement"))?;
    if let Outside::Fake(fake) = outside {
        // The agent opened the account in the console for the customer's licence.
        fake.add_advertiser(FakeAdvertiser::new("1760000000000001", &licence));
    }
    let account = ops
        .open_ad_account(
            &customer.id,
            &platform.id,
            &IdempotencyKey::from_static("account"),
        )
        .await
        .map_err(step("open (link) the ad account"))?;
    let real = matches!(outside, Outside::Real);
    let top_up = match (&choice.top_up, real) {
        (Some(amount), _) => Some(cny(amount)?),
        (None, false) => Some(cny("20000")?),
        (None, true) => None,
    };
    if let Some(amount) = top_up {
        ops.top_up(
            TopUpRequest {
                account: account.id,
                amount,
                funding: Funding::Credit,
            },
            &IdempotencyKey::from_static("top-up"),
        )
        .await
        .map_err(step("top up"))?;
    }
    let mut campaign = None;
    if !real || choice.create_campaign {
        let c = ops
            .create_campaign(
                &account.id,
                CampaignDraft {
                    name: "春季上新".into(),
                    objective: Objective::Traffic,
                    budget: Budget {
                        daily: Some(cny("2000")?),
                        total: None,
                    },
                    schedule: Schedule {
                        start: day,
                        end: None,
                        hours: vec![],
                    },
                    audience: Audience {
                        description: "一二线城市 25-40 岁女性".into(),
                        estimated_daily_reach: Some(300_000),
                        ..Audience::default()
                    },
                    pricing: Pricing::Cpc {
                        max_bid: cny("1.20")?,
                    },
                    kpis: vec![],
                },
                &IdempotencyKey::from_static("campaign"),
            )
            .await
            .map_err(step("create the campaign"))?;
        campaign = Some(c);
    }
    match (outside, &campaign) {
        (Outside::Simulated(sim), _) => sim.run_day(day),
        (Outside::Fake(fake), Some(c)) => fake.set_report(
            &account.external_id,
            day,
            ReportLevel::Campaign,
            vec![FakeRow::new(&c.external_id, "1234.56", 80_000, 1600, 32)],
        ),
        _ => {}
    }
    let mut pulls = Vec::new();
    for _ in 0..2 {
        let summary = ops
            .fetch_reports(&platform.id, day)
            .await
            .map_err(step("pull the report"))?;
        if let Some(f) = summary.failed.first() {
            return Err(format!("the report of {} failed: {}", f.account, f.error));
        }
        pulls.extend(summary.ingested.iter().map(|(_, outcome)| match outcome {
            IngestOutcome::Stored { .. } => "stored".to_string(),
            IngestOutcome::Duplicate => "duplicate".to_string(),
            IngestOutcome::Restated { .. } => "restated".to_string(),
            IngestOutcome::Superseded { .. } => "superseded".to_string(),
        }));
    }
    let spend = match &campaign {
        Some(c) => ops
            .campaign_performance(&c.id, day, day)
            .await
            .map_err(step("read the performance"))?
            .first()
            .map_or_else(|| "0".to_string(), |d| d.metrics.spend.to_string()),
        None => "no campaign created".to_string(),
    };
    Ok(Summary {
        platform: code,
        account: account.external_id,
        pulls,
        spend,
    })
}

struct Args {
    fake: bool,
    config: Option<String>,
    store: Option<String>,
    code: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        fake: false,
        config: None,
        store: None,
        code: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--fake" => a.fake = true,
            "--config" => a.config = Some(it.next().ok_or("--config needs a file")?),
            "--store" => a.store = Some(it.next().ok_or("--store needs a SQLite path")?),
            "--code" => a.code = Some(it.next().ok_or("--code needs the authorisation code")?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

/// The configuration of `--fake`: the connector, pointed at the loopback fake.
pub fn fake_choice() -> Choice {
    let setup = FakeSetup::default();
    let mut config = OceanEngineConfig::new(setup.app_id, Secret::new(setup.secret));
    config.agent_id = Some(setup.agent_id);
    Choice {
        platform: PlatformKind::OceanEngine,
        seed: 0,
        ocean_engine: Some(config),
        licence_number: None,
        redirect_uri: None,
        top_up: None,
        create_campaign: true,
    }
}

async fn main_async() -> Result<Summary, String> {
    let a = args()?;
    let choice = match (&a.config, a.fake) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
            if let Some(oe) = value.get("ocean_engine") {
                // Validated with the error naming the field.
                OceanEngineConfig::from_json(&oe.to_string())
                    .map_err(|e| format!("{path}: ocean_engine.{e}"))?;
            }
            serde_json::from_value::<Choice>(value).map_err(|e| format!("{path}: {e}"))?
        }
        (None, true) => fake_choice(),
        (None, false) => Choice {
            platform: PlatformKind::Simulated,
            seed: 7,
            ocean_engine: None,
            licence_number: None,
            redirect_uri: None,
            top_up: None,
            create_campaign: true,
        },
    };
    let real = choice.platform == PlatformKind::OceanEngine && !a.fake;
    let store: Arc<dyn Store> = match &a.store {
        Some(path) => Arc::new(SqliteStore::open(path).await.map_err(|e| e.to_string())?),
        None if real => {
            return Err("a real platform needs --store <sqlite path> to keep its grant".into())
        }
        None => Arc::new(MemoryStore::new()),
    };
    let (clock, day): (Arc<dyn Clock>, NaiveDate) = if real {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let yesterday = TimeZone::SHANGHAI.date_of(clock.now()) - Duration::days(1);
        (clock, yesterday)
    } else {
        let manual =
            ManualClock::at_rfc3339("2026-03-01T10:00:00+08:00").map_err(|e| e.to_string())?;
        (
            Arc::new(manual),
            NaiveDate::from_ymd_opt(2026, 3, 1).ok_or("date")?,
        )
    };
    let tenant = TenantId::new();
    let fake = if a.fake {
        Some(
            FakeOceanEngine::start(FakeSetup::default())
                .await
                .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    let code = if a.fake {
        if let Some(f) = &fake {
            f.issue_auth_code("example-code");
        }
        Some("example-code".to_string())
    } else {
        a.code.clone()
    };
    let (adapter, outside) = platform_from(
        &choice,
        store.clone(),
        tenant,
        clock.clone(),
        fake,
        code.as_deref(),
    )
    .await?;
    let ops = AdOps::builder(
        &Env::builder(store)
            .clock(clock.clone())
            .ids(Arc::new(SeededIds::new(7, clock.clone())))
            .build(),
        tenant,
    )
    .open()
    .await
    .map_err(|e| e.to_string())?;
    run(&choice, &ops, adapter, &outside, day).await
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main_async()) {
        Ok(s) => {
            println!(
                "{}: account {}, report pulls {:?}, spend recorded {}",
                s.platform, s.account, s.pulls, s.spend
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
