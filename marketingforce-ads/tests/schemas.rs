//! The JSON Schemas of the configuration types are generated from the types (schemars) and
//! committed under `schemas/`; this test fails when they are stale. Regenerate with
//! `UPDATE_SCHEMAS=1 cargo test -p marketingforce-ads --test schemas`.

use marketingforce_ads::agreement::{AgreementTerms, CreditPolicy, PlatformAgreementTerms};
use marketingforce_ads::config::{json_schema, Config};
use marketingforce_ads::party::QualificationPolicy;
use marketingforce_ads::platform::http::HttpPlatformConfig;
use marketingforce_ads::platform::oceanengine::OceanEngineConfig;
use marketingforce_ads::rebate::{CustomerRebatePolicy, PlatformRebatePolicy, TierSchedule};
use marketingforce_ads::AdOpsConfig;

fn check(file: &str, generated: String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(file);
    let generated = generated + "\n";
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: run UPDATE_SCHEMAS=1 cargo test -p marketingforce-ads --test schemas",
        path.display()
    );
}

#[test]
fn committed_schemas_are_up_to_date() {
    check("ad-ops-config.schema.json", json_schema::<AdOpsConfig>());
    check(
        "platform-rebate-policy.schema.json",
        json_schema::<PlatformRebatePolicy>(),
    );
    check(
        "customer-rebate-policy.schema.json",
        json_schema::<CustomerRebatePolicy>(),
    );
    check("tier-schedule.schema.json", json_schema::<TierSchedule>());
    check(
        "qualification-policy.schema.json",
        json_schema::<QualificationPolicy>(),
    );
    check("credit-policy.schema.json", json_schema::<CreditPolicy>());
    check(
        "agreement-terms.schema.json",
        json_schema::<AgreementTerms>(),
    );
    check(
        "platform-agreement-terms.schema.json",
        json_schema::<PlatformAgreementTerms>(),
    );
    check(
        "http-platform-config.schema.json",
        json_schema::<HttpPlatformConfig>(),
    );
    check(
        "ocean-engine-config.schema.json",
        json_schema::<OceanEngineConfig>(),
    );
}

#[test]
fn shipped_examples_load_and_defaults_round_trip() {
    let policy = PlatformRebatePolicy::from_json(include_str!(
        "../data/platform-rebate-policy.example.json"
    ))
    .unwrap();
    assert_eq!(policy.standard.rate.to_string(), "5%");
    let config = AdOpsConfig::default();
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(AdOpsConfig::from_json(&json).unwrap(), config);
    // A bad nested value names its full path.
    let bad = json.replace("\"max_debt_ratio\":\"0.8\"", "\"max_debt_ratio\":\"180%\"");
    assert_eq!(
        AdOpsConfig::from_json(&bad).unwrap_err().field(),
        Some("qualification_policy.max_debt_ratio")
    );
}
