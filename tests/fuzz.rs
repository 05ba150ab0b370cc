//! Fuzzing of every parser that takes outside input, as bounded property tests that run in CI:
//! arbitrary and near-valid inputs must give a value or a typed error — never a panic, never an
//! error message that carries a long input back (at most a short prefix), never an error for
//! the wrong reason on a valid input.
//!
//! Targets: `Money`, `Rate`, `Quantity` and `Currency` parsing; the store URL; the CRM's CSV
//! import and its identity parsers (mobile, phone, email, WeCom id); the JSON loaders of the
//! module catalog, the product catalogue, PaaS manifests, holiday calendars, the compliance
//! lexicon, text templates and the event envelope.
//!
//! `FUZZ_CASES` sets the cases per target (default 512, CI); a long run:
//! `FUZZ_CASES=200000 cargo test --release --all-features --test fuzz`. The regression corpus
//! in `tests/fuzz-corpus/` (one input per line: numbers, store URLs, identities, JSON) is
//! replayed through the same checks on every run; inputs proptest ever finds failing are kept
//! in `tests/fuzz.proptest-regressions` and replayed first.

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use marketingforce::core::money::{Currency, Money, Quantity, Rate};
use marketingforce::core::storage::{MemoryStore, StoreUrl};
use marketingforce::core::tenant::TenantId;
use marketingforce::crm::crypto::KeyRing;
use marketingforce::crm::identity::{Email, MobileNumber, Phone, WeComId};
use marketingforce::crm::model::Source;
use marketingforce::crm::Crm;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    }
}

/// An error message must not carry a long input back.
fn short_echo(input: &str, message: &str) -> Result<(), TestCaseError> {
    if input.chars().count() > 64 {
        prop_assert!(
            !message.contains(input),
            "the whole input came back in the error: {message}"
        );
    }
    Ok(())
}

/// Text that looks like what the parser expects, with the usual damage.
fn numberish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[-+]?[0-9]{0,40}(\\.[0-9]{0,40})?(e[-+]?[0-9]{1,4})?%?",
        "[0-9０-９,，. ]{0,30}(CNY|USD|元|%|‰)?",
        "(¥|￥|\\$)?[0-9]{1,12}\\.[0-9]{1,6} ?[A-Z]{0,4}",
    ]
}

fn json_ish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\{(\"[a-z_]{1,12}\": ?(\"[^\"]{0,12}\"|[0-9]{1,6}|true|null|\\[\\]|\\{\\}),? ?){0,6}\\}",
        "\\[(\\{\"[a-z_]{1,8}\":[0-9]{1,3}\\},?){0,4}\\]",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn money_parsing(s in numberish()) {
        check_numbers(&s)?;
    }

    #[test]
    fn store_urls(s in prop_oneof![
        any::<String>(),
        "(memory|sqlite:[a-z/._]{0,20}|postgres(ql)?://[a-z:@%./?=&_0-9]{0,40})",
    ]) {
        check_store_url(&s)?;
    }

    #[test]
    fn identities(s in prop_oneof![
        any::<String>(),
        "\\+?[0-9０-９ ()-]{0,20}",
        "[a-zA-Z0-9._%+=-]{0,20}@[a-z0-9.-]{0,20}",
    ]) {
        check_identities(&s)?;
    }

    #[test]
    fn json_loaders(s in json_ish()) {
        check_json(&s);
    }
}

fn check_numbers(s: &str) -> Result<(), TestCaseError> {
    match Money::parse(s) {
        Ok(m) => prop_assert_eq!(Money::parse(&m.to_string()).ok(), Some(m)),
        Err(e) => short_echo(s, &e.to_string())?,
    }
    if let Err(e) = s.parse::<Rate>() {
        short_echo(s, &e.to_string())?;
    }
    if let Err(e) = s.parse::<Quantity>() {
        short_echo(s, &e.to_string())?;
    }
    if let Err(e) = s.parse::<Currency>() {
        short_echo(s, &e.to_string())?;
    }
    Ok(())
}

fn check_store_url(s: &str) -> Result<(), TestCaseError> {
    {
        if let Ok(url) = StoreUrl::parse(s) {
            // The loggable form never shows a password.
            let shown = url.to_string();
            if let Some((_, rest)) = s.split_once("://") {
                if let Some((userinfo, _)) = rest.split_once('@') {
                    if let Some((_, password)) = userinfo.split_once(':') {
                        if password.len() >= 4 {
                            prop_assert!(!shown.contains(password), "{shown}");
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn check_identities(s: &str) -> Result<(), TestCaseError> {
    for message in [
        MobileNumber::parse(s).err().map(|e| e.to_string()),
        Phone::parse(s).err().map(|e| e.to_string()),
        Email::parse(s).err().map(|e| e.to_string()),
        WeComId::parse(s).err().map(|e| e.to_string()),
    ]
    .into_iter()
    .flatten()
    {
        // Identity errors name the rule, never the value (long enough that it cannot be a
        // word of the message by chance).
        if s.trim().chars().count() >= 12 {
            prop_assert!(!message.contains(s.trim()), "{message}");
        }
    }
    Ok(())
}

fn check_json(s: &str) {
    use marketingforce::modules::catalog::Catalog;
    let _ = Catalog::from_json(s);
    let _ = marketingforce::modules::products::Products::from_json(s, &Catalog::builtin());
    let _ = marketingforce::modules::paas::ModuleManifest::from_json(s, &Catalog::builtin());
    let _ = marketingforce::core::time::HolidayCalendar::from_json(s);
    let _ = marketingforce::content::compliance::Lexicon::from_json(s);
    let _ = marketingforce::content::text::template::TextTemplates::from_json(s);
    let _ = marketingforce::core::events::EventEnvelope::from_json(s.as_bytes());
}

/// The regression corpus: every input of `tests/fuzz-corpus/` through the same checks.
#[test]
fn the_corpus_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let mut n = 0;
    for line in read("numbers.txt").lines() {
        check_numbers(line).unwrap_or_else(|e| panic!("numbers {line:?}: {e}"));
        n += 1;
    }
    for line in read("store_urls.txt").lines() {
        check_store_url(line).unwrap_or_else(|e| panic!("store url {line:?}: {e}"));
        n += 1;
    }
    for line in read("identities.txt").lines() {
        check_identities(line).unwrap_or_else(|e| panic!("identity {line:?}: {e}"));
        n += 1;
    }
    for line in read("json.txt").lines() {
        check_json(line);
        n += 1;
    }
    assert!(n > 60, "the corpus is read ({n} inputs)");
}

fn csv_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\p{Han}a-zA-Z]{0,6}",
        "1[3-9][0-9]{9}",
        "[a-z]{1,6}@[a-z]{1,6}\\.cn",
        "=HYPERLINK\\(\"[a-z]{1,5}\"\\)",
        "\"[^\"]{0,8}\"\"[^\"]{0,8}\"",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases() / 8 + 1, ..ProptestConfig::default() })]

    /// Arbitrary CSV files (with CRLF, quotes, formulas, junk columns) import without a panic;
    /// every row is accounted for; no reason quotes a mobile.
    #[test]
    fn csv_import(
        header in prop_oneof![Just("name,mobile,email,company".to_string()), any::<String>()],
        rows in proptest::collection::vec(proptest::collection::vec(csv_cell(), 0..6), 0..12),
        crlf in any::<bool>(),
    ) {
        let newline = if crlf { "\r\n" } else { "\n" };
        let mut text = header.clone();
        for r in &rows {
            text.push_str(newline);
            text.push_str(&r.join(","));
        }
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let report = rt.block_on(async {
            let crm = Crm::builder(&marketingforce_core::env::Env::builder(Arc::new(MemoryStore::new())).keys(Arc::new(KeyRing::new("k1", [3; 32]))).build())
                .build()
                .unwrap();
            crm.import_csv(&TenantId::new(), &text, Source::Import, &IdempotencyKey::from_static("fuzz")).await
        });
        match report {
            Ok(report) => {
                for e in &report.errors {
                    for r in &rows {
                        for cell in r {
                            if cell.len() == 11 && cell.chars().all(|c| c.is_ascii_digit()) {
                                prop_assert!(!e.reason.contains(cell.as_str()), "{}", e.reason);
                            }
                        }
                    }
                }
            }
            Err(e) => short_echo(&text, &e.to_string())?,
        }
    }
}
