//! The JSON Schema of every configuration type of the SDK, generated from the Rust types with
//! `schemars` and committed under `schemas/<crate>/` with an index in `schemas/README.md`.
//!
//! This test fails when a committed schema (or the index) differs from what the types generate
//! now. Regenerate everything with:
//!
//! ```text
//! UPDATE_SCHEMAS=1 cargo test -p marketingforce --test schemas
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use marketingforce::{ads, content, core, crm, modules, sites};
use schemars::JsonSchema;

/// One committed schema: where it lives, the type it is generated from, what it configures.
struct Entry {
    file: &'static str,
    rust_type: &'static str,
    describes: &'static str,
    generate: fn() -> String,
}

/// The pretty-printed schema of `T`, as every crate's committed schemas are written.
fn schema<T: JsonSchema>() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(T)).expect("a schema serialises") + "\n"
}

macro_rules! entry {
    ($file:literal, $ty:ty, $describes:literal) => {
        Entry {
            file: $file,
            rust_type: stringify!($ty),
            describes: $describes,
            generate: schema::<$ty>,
        }
    };
}

fn entries() -> Vec<Entry> {
    vec![
        // marketingforce-core
        entry!(
            "core/holiday-calendar.schema.json",
            core::time::HolidaySchedule,
            "A holiday calendar: weekend days, public holidays and make-up working days per year \
             (`HolidayCalendar::from_json`; e.g. `marketingforce-core/data/cn-holidays.json`)."
        ),
        entry!(
            "core/tenant.schema.json",
            core::tenant::Tenant,
            "A tenant profile: id, name, time zone of its civil dates, contract currency."
        ),
        // marketingforce-modules
        entry!(
            "modules/catalog.schema.json",
            modules::catalog::CatalogData,
            "The vendor's module catalog and price list (`Catalog::from_json`; e.g. \
             `marketingforce-modules/data/catalog.json`)."
        ),
        entry!(
            "modules/products.schema.json",
            modules::products::ProductsData,
            "Bundles (product versions), included seats and usage, usage packs \
             (`Products::from_json`; e.g. `marketingforce-modules/data/products.json`)."
        ),
        entry!(
            "modules/price-schedule.schema.json",
            modules::pricing::PriceSchedule,
            "How a quantity of usage units is priced: packages, volume or graduated tiers."
        ),
        entry!(
            "modules/module-manifest.schema.json",
            modules::paas::ModuleManifest,
            "A third-party PaaS module manifest: scopes, metered units, rate limits, config schema \
             (`ModuleManifest::from_json`)."
        ),
        entry!(
            "modules/entitlement-grant.schema.json",
            modules::entitlements::Grant,
            "An entitlement grant: modules, seats and usage quotas for a term."
        ),
        entry!(
            "modules/partner-terms.schema.json",
            modules::channel::PartnerTerms,
            "The terms a channel partner signs up on: commission, prepayment, areas."
        ),
        entry!(
            "modules/commission-plan.schema.json",
            modules::channel::CommissionPlan,
            "Direct sales commission rates."
        ),
        // marketingforce-crm
        entry!(
            "crm/crm-config.schema.json",
            crm::CrmConfig,
            "Every CRM rule in one document: lifecycle, dedupe, survivorship, profile, scoring, \
             tags, allocation, access (`CrmConfig::from_json`)."
        ),
        entry!(
            "crm/allocation-config.schema.json",
            crm::allocation::AllocationConfig,
            "Lead allocation rules and strategies, SLA and recycling (the `allocation` part of the \
             CRM config)."
        ),
        entry!(
            "crm/scoring-config.schema.json",
            crm::profile::ScoringConfig,
            "Lead scoring rules, thresholds, decay half-life, bounds (the `scoring` part of the \
             CRM config)."
        ),
        entry!(
            "crm/sop-template.schema.json",
            crm::sop::SopTemplate,
            "A customer or activity SOP template: kind, trigger and steps."
        ),
        entry!(
            "crm/community-sop.schema.json",
            crm::sop::CommunitySop,
            "A community (group chat) SOP: group filter and scheduled messages."
        ),
        entry!(
            "crm/membership-program.schema.json",
            crm::membership::MembershipProgram,
            "A membership program: levels, earn and redemption rules, point expiry."
        ),
        entry!(
            "crm/fission-campaign.schema.json",
            crm::fission::FissionCampaign,
            "A fission (referral) campaign: goal, rewards per level, points, budget, end."
        ),
        // marketingforce-ads
        entry!(
            "ads/ad-ops-config.schema.json",
            ads::AdOpsConfig,
            "Ad operations settings: qualification and credit policies, currency, rounding, time \
             zone (`AdOpsConfig::from_json`)."
        ),
        entry!(
            "ads/platform-rebate-policy.schema.json",
            ads::rebate::PlatformRebatePolicy,
            "A media platform's rebate policy: standard and progressive rebates, payout (e.g. \
             `marketingforce-ads/data/platform-rebate-policy.example.json`)."
        ),
        entry!(
            "ads/customer-rebate-policy.schema.json",
            ads::rebate::CustomerRebatePolicy,
            "The rebate given to an advertiser, on a gross or net basis."
        ),
        entry!(
            "ads/tier-schedule.schema.json",
            ads::rebate::TierSchedule,
            "A progressive rebate tier schedule (marginal or whole-volume)."
        ),
        entry!(
            "ads/qualification-policy.schema.json",
            ads::party::QualificationPolicy,
            "Customer qualification review rules."
        ),
        entry!(
            "ads/credit-policy.schema.json",
            ads::agreement::CreditPolicy,
            "Credit limits and terms for advertisers."
        ),
        entry!(
            "ads/agreement-terms.schema.json",
            ads::agreement::AgreementTerms,
            "The terms of a framework agreement with an advertiser."
        ),
        entry!(
            "ads/platform-agreement-terms.schema.json",
            ads::agreement::PlatformAgreementTerms,
            "The terms of an agency agreement with a media platform."
        ),
        entry!(
            "ads/http-platform-config.schema.json",
            ads::platform::http::HttpPlatformConfig,
            "The HTTP ad-platform adapter: base URL, token, timeouts and retries, report field \
             mapping, money unit."
        ),
        // marketingforce-content
        entry!(
            "content/compliance-lexicon.schema.json",
            content::compliance::Lexicon,
            "A compliance word list: categories with their legal basis, terms, families, \
             exemptions, waivers (`Lexicon::from_json`; e.g. the files of \
             `marketingforce-content/data/compliance/`)."
        ),
        entry!(
            "content/channel-catalogue.schema.json",
            content::distribution::ChannelCatalogue,
            "The channel catalogue: publishing channels, base rates, rate limits \
             (`ChannelCatalogue::from_json`; e.g. `marketingforce-content/data/channels.json`)."
        ),
        entry!(
            "content/recommendation-weights.schema.json",
            content::distribution::RecommendationWeights,
            "Weights of the channel recommendation score."
        ),
        entry!(
            "content/text-templates.schema.json",
            content::text::TextTemplates,
            "Text templates of the offline article generator (`TextTemplates::from_json`; e.g. \
             `marketingforce-content/data/text-templates.json`)."
        ),
        entry!(
            "content/text-limits.schema.json",
            content::text::TextLimits,
            "Size limits on text generation requests."
        ),
        entry!(
            "content/image-themes.schema.json",
            content::image::Themes,
            "Poster themes: palettes, patterns, badges (`Themes::from_json`; e.g. \
             `marketingforce-content/data/image-themes.json`)."
        ),
        entry!(
            "content/video-templates.schema.json",
            content::video::storyboard::VideoTemplates,
            "Video templates and music tracks (`VideoTemplates::from_json`; e.g. \
             `marketingforce-content/data/video-templates.json`)."
        ),
        entry!(
            "content/audience-rule.schema.json",
            content::optimise::AudienceRule,
            "A remarketing audience rule."
        ),
        entry!(
            "content/peer-benchmarks.schema.json",
            content::report::PeerBenchmarks,
            "Peer benchmarks of the evaluation report (`PeerBenchmarks::from_json`; e.g. \
             `marketingforce-content/data/peer-benchmarks.json`)."
        ),
        // marketingforce-sites
        entry!(
            "sites/site.schema.json",
            sites::model::Site,
            "A whole official site: locales, theme, navigation, pages of blocks, assets, forms, footer with the ICP filing, the derived mobile variant (`Site::from_json`; e.g. `marketingforce-sites/data/templates/machinery.json`)."
        ),
        entry!(
            "sites/page.schema.json",
            sites::model::Page,
            "One page: slug, title, SEO fields, its tree of blocks."
        ),
        entry!(
            "sites/block.schema.json",
            sites::model::Block,
            "Any block of a page, tagged by `type` (hero, rich_text, product_grid, case_studies, contact_form, map, video, article_list, poster, section)."
        ),
        entry!(
            "sites/hero.schema.json",
            sites::model::Hero,
            "The `hero` block: heading, subheading, image, call to action."
        ),
        entry!(
            "sites/rich-text.schema.json",
            sites::model::RichText,
            "The `rich_text` block: safe-subset Markdown per locale."
        ),
        entry!(
            "sites/product-grid.schema.json",
            sites::model::ProductGrid,
            "The `product_grid` block: products with images and specifications."
        ),
        entry!(
            "sites/case-studies.schema.json",
            sites::model::CaseStudies,
            "The `case_studies` block."
        ),
        entry!(
            "sites/contact-form.schema.json",
            sites::model::ContactForm,
            "The `contact_form` block: a form of the site by id."
        ),
        entry!(
            "sites/map.schema.json",
            sites::model::MapBlock,
            "The `map` block: address and coordinates."
        ),
        entry!(
            "sites/video.schema.json",
            sites::model::VideoBlock,
            "The `video` block: video, poster frame, captions."
        ),
        entry!(
            "sites/article-list.schema.json",
            sites::model::ArticleList,
            "The `article_list` block: the latest published T-text articles."
        ),
        entry!(
            "sites/poster.schema.json",
            sites::model::PosterBlock,
            "The `poster` block: a T-image poster with a link."
        ),
        entry!(
            "sites/section.schema.json",
            sites::model::Section,
            "The `section` block: children laid out in columns (the tree's inner node)."
        ),
        entry!(
            "sites/theme.schema.json",
            sites::model::Theme,
            "A site theme: colours, font, radius, width, logo."
        ),
        entry!(
            "sites/nav-item.schema.json",
            sites::model::NavItem,
            "A navigation entry with one level of children."
        ),
        entry!(
            "sites/form.schema.json",
            sites::model::FormSpec,
            "An inquiry form: fields, PIPL consent, texts, rate limit."
        ),
    ]
}

const UPDATE_HINT: &str = "UPDATE_SCHEMAS=1 cargo test -p marketingforce --test schemas";

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

fn updating() -> bool {
    std::env::var_os("UPDATE_SCHEMAS").is_some()
}

/// Compare (or, when updating, write) one generated file; returns a complaint when stale.
fn sync(path: &Path, generated: &str) -> Option<String> {
    if updating() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the schema directory");
        }
        std::fs::write(path, generated).expect("write the schema");
    }
    match std::fs::read_to_string(path) {
        Ok(committed) if committed == generated => None,
        Ok(_) => Some(format!("{} is out of date", path.display())),
        Err(_) => Some(format!("{} is missing", path.display())),
    }
}

fn index(entries: &[Entry]) -> String {
    let mut s = String::from(
        "# JSON Schemas of the configuration types\n\n\
         Generated from the Rust types with `schemars` (JSON Schema draft 2020-12); do not edit by \
         hand. `tests/schemas.rs` fails when a file here is out of date; regenerate with\n\n\
         ```sh\nUPDATE_SCHEMAS=1 cargo test -p marketingforce --test schemas\n```\n\n\
         Map your configuration files to these schemas in your editor (e.g. VS Code's \
         `json.schemas` setting with a `fileMatch`) for completion and validation while you \
         write them; do not add a `$schema` key to the files themselves, as the loaders reject \
         unknown fields. The loaders (`from_json`) also check what a schema cannot \
         (cross-references, tier continuity, …) and name the offending path, e.g. \
         `tiers[2].from`.\n\n\
         | schema | Rust type | configures |\n|---|---|---|\n",
    );
    for e in entries {
        let ty = e.rust_type.replace(' ', "");
        s.push_str(&format!(
            "| [`{}`]({}) | `marketingforce::{ty}` | {} |\n",
            e.file, e.file, e.describes
        ));
    }
    s
}

#[test]
fn committed_schemas_are_up_to_date() {
    let entries = entries();
    let dir = schemas_dir();
    let mut stale: Vec<String> = entries
        .iter()
        .filter_map(|e| sync(&dir.join(e.file), &(e.generate)()))
        .collect();
    stale.extend(sync(&dir.join("README.md"), &index(&entries)));

    // No schema is committed that the list above does not generate (e.g. after a rename).
    let known: BTreeSet<PathBuf> = entries.iter().map(|e| dir.join(e.file)).collect();
    for sub in std::fs::read_dir(&dir).expect("schemas/ exists").flatten() {
        // schemas/events/ is the event catalogue's, checked by tests/event_schemas.rs.
        if !sub.path().is_dir() || sub.file_name() == "events" {
            continue;
        }
        for file in std::fs::read_dir(sub.path()).expect("readable").flatten() {
            let path = file.path();
            if path.to_string_lossy().ends_with(".schema.json") && !known.contains(&path) {
                stale.push(format!("{} is not generated by any type", path.display()));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "the committed JSON Schemas are stale:\n  {}\nregenerate them with: {UPDATE_HINT}",
        stale.join("\n  ")
    );
}

#[test]
fn every_schema_names_its_type_and_dialect() {
    for e in entries() {
        let value: serde_json::Value =
            serde_json::from_str(&(e.generate)()).expect("a schema is JSON");
        assert_eq!(
            value["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{}",
            e.file
        );
        let last = e.rust_type.rsplit("::").next().unwrap_or_default().trim();
        assert_eq!(value["title"], last, "{} is titled after its type", e.file);
        assert!(
            value.get("description").is_some(),
            "{} has a description (the type's doc comment)",
            e.file
        );
    }
}

#[test]
fn crate_level_schemas_agree_with_the_workspace_ones() {
    // Some crates also commit their own schemas next to their sources; they must not drift.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut compared = 0;
    for e in entries() {
        let (krate, file) = e.file.split_once('/').expect("crate/file");
        let own = root
            .join(format!("marketingforce-{krate}"))
            .join("schemas")
            .join(file);
        if let Ok(text) = std::fs::read_to_string(&own) {
            assert_eq!(
                text,
                (e.generate)(),
                "{} differs from schemas/{}",
                own.display(),
                e.file
            );
            compared += 1;
        }
    }
    assert!(compared >= 12, "only {compared} crate-level schemas found");
}

#[test]
fn shipped_data_files_have_the_shape_their_schema_describes() {
    // Each shipped data file deserialises (unknown fields denied) as the type its schema comes
    // from, so the schema describes the file a user copies and edits.
    fn parses<T: serde::de::DeserializeOwned>(name: &str, json: &str) {
        if let Err(e) = serde_json::from_str::<T>(json) {
            panic!("{name} does not match its schema type: {e}");
        }
    }
    parses::<core::time::HolidaySchedule>(
        "cn-holidays.json",
        include_str!("../marketingforce-core/data/cn-holidays.json"),
    );
    parses::<modules::catalog::CatalogData>(
        "catalog.json",
        include_str!("../marketingforce-modules/data/catalog.json"),
    );
    parses::<modules::products::ProductsData>(
        "products.json",
        include_str!("../marketingforce-modules/data/products.json"),
    );
    parses::<ads::rebate::PlatformRebatePolicy>(
        "platform-rebate-policy.example.json",
        include_str!("../marketingforce-ads/data/platform-rebate-policy.example.json"),
    );
    for (file, json) in content::compliance::BUILTIN_LEXICONS {
        parses::<content::compliance::Lexicon>(file, json);
    }
    parses::<content::distribution::ChannelCatalogue>(
        "channels.json",
        include_str!("../marketingforce-content/data/channels.json"),
    );
    parses::<content::text::TextTemplates>(
        "text-templates.json",
        include_str!("../marketingforce-content/data/text-templates.json"),
    );
    parses::<content::image::Themes>(
        "image-themes.json",
        include_str!("../marketingforce-content/data/image-themes.json"),
    );
    parses::<content::video::storyboard::VideoTemplates>(
        "video-templates.json",
        include_str!("../marketingforce-content/data/video-templates.json"),
    );
    parses::<content::report::PeerBenchmarks>(
        "peer-benchmarks.json",
        include_str!("../marketingforce-content/data/peer-benchmarks.json"),
    );
    parses::<sites::model::Site>(
        "machinery.json",
        include_str!("../marketingforce-sites/data/templates/machinery.json"),
    );
    parses::<sites::model::Site>(
        "retail.json",
        include_str!("../marketingforce-sites/data/templates/retail.json"),
    );
}

#[test]
fn defaults_are_valid_configuration_documents() {
    // The documented defaults serialise to documents their own schema type reads back.
    fn round_trip<T>(value: &T)
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let json = serde_json::to_string(value).expect("serialise");
        let back: T = serde_json::from_str(&json).expect("read back");
        assert_eq!(&back, value);
    }
    round_trip(&crm::CrmConfig::default());
    round_trip(&ads::AdOpsConfig::default());
}
