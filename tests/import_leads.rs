//! The `import_leads` example on its sample file: every bad row is reported with its line, field
//! and reason, the good rows are imported, duplicates merge (full-width digits included), and a
//! re-import changes nothing.

#[path = "../examples/import_leads.rs"]
#[allow(dead_code)]
mod import_leads;

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use marketingforce::core::id::SeededIds;
use marketingforce::core::storage::{MemoryStore, Store};
use marketingforce::core::tenant::TenantId;
use marketingforce::core::time::ManualClock;
use marketingforce::crm::crypto::KeyRing;
use marketingforce::crm::{Crm, CrmError, ImportReport};

fn sample() -> String {
    std::fs::read_to_string(import_leads::sample_path())
        .expect("the sample file ships with the example")
}

fn crm() -> Crm {
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").expect("clock"));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    Crm::builder(
        &marketingforce_core::env::Env::builder(store)
            .keys(Arc::new(KeyRing::new("k1", [7; 32])))
            .clock(clock.clone())
            .ids(Arc::new(SeededIds::new(11, clock)))
            .build(),
    )
    .build()
    .expect("crm")
}

async fn imported() -> (Crm, TenantId, ImportReport) {
    let crm = crm();
    let tenant = TenantId::new();
    let report = import_leads::import(&crm, &tenant, &sample())
        .await
        .expect("the sample imports");
    (crm, tenant, report)
}

/// (line, field, part of the reason) of every row the sample should reject.
const REJECTED: &[(usize, Option<&str>, &str)] = &[
    (5, Some("mobile"), "does not start with 13-19"),
    (6, Some("email"), "does not have a valid domain"),
    (7, None, "no identity"),
    (10, Some("mobile"), "has 10 digits"),
    (13, Some("mobile"), "country code other than +86"),
    (14, Some("row"), "6 fields, the header has 11"),
    (15, Some("source"), "is not a known source"),
    (19, Some("email"), "does not have a valid domain"),
    (21, None, "no identity"),
];

#[tokio::test]
async fn every_bad_row_is_reported_with_line_field_and_reason() {
    let (_, _, report) = imported().await;
    let got: Vec<(usize, Option<&str>)> = report
        .errors
        .iter()
        .map(|e| (e.line, e.field.as_deref()))
        .collect();
    let want: Vec<(usize, Option<&str>)> = REJECTED.iter().map(|(l, f, _)| (*l, *f)).collect();
    assert_eq!(got, want);
    for (e, (line, _, reason)) in report.errors.iter().zip(REJECTED) {
        assert!(
            e.reason.contains(reason),
            "line {line}: {:?} does not say {reason:?}",
            e.reason
        );
    }
}

#[tokio::test]
async fn good_rows_are_imported_and_duplicates_merge() {
    let (crm, tenant, report) = imported().await;
    let data_rows = sample().lines().count() - 1;
    assert_eq!(
        (
            report.created,
            report.merged,
            report.unchanged,
            report.rejected
        ),
        (8, 4, 1, 9)
    );
    assert_eq!(
        report.created + report.merged + report.unchanged + report.rejected,
        data_rows
    );

    let leads = crm.all_leads(&tenant).await.expect("leads");
    assert_eq!(leads.len(), 8);
    assert!(leads.iter().all(|l| l.is_active()));

    // Full-width digits (line 4) and a spaced half-width number (line 12) are one person.
    let wang = crm
        .find_by_mobile(&tenant, "13700005678")
        .await
        .expect("mobile");
    assert_eq!(wang.len(), 1);
    assert_eq!(
        crm.find_by_email(&tenant, "wang.fang@qhdata.cn")
            .await
            .expect("email"),
        wang
    );
    let lead = crm.lead(&tenant, &wang[0]).await.expect("lead");
    assert_eq!(lead.touches.len(), 2);

    // Zhang Wei: line 2, the same mobile on line 8, the same email in upper case on line 22.
    let zhang = crm
        .find_by_mobile(&tenant, "13812345678")
        .await
        .expect("mobile");
    assert_eq!(
        crm.find_by_email(&tenant, "Zhang.Wei@hzjx.com.cn")
            .await
            .expect("email"),
        zhang
    );
    assert_eq!(
        crm.lead(&tenant, &zhang[0])
            .await
            .expect("lead")
            .touches
            .len(),
        3
    );

    // Li Na on line 16 has no number: the same person at the same company merges.
    let li = crm
        .find_by_mobile(&tenant, "13900001234")
        .await
        .expect("mobile");
    assert_eq!(
        crm.lead(&tenant, &li[0]).await.expect("lead").touches.len(),
        2
    );

    // The ideographic space inside full-width digits (line 20) is fine too.
    assert_eq!(
        crm.find_by_mobile(&tenant, "15900003333")
            .await
            .expect("m")
            .len(),
        1
    );
    // Rejected rows left nothing behind.
    assert!(crm
        .find_by_mobile(&tenant, "13512345678")
        .await
        .expect("m")
        .is_empty());
    assert!(crm
        .find_by_mobile(&tenant, "13698765432")
        .await
        .expect("m")
        .is_empty());
}

#[tokio::test]
async fn a_reimport_replays_the_report_and_writes_nothing() {
    let (crm, tenant, first) = imported().await;
    let again = import_leads::import(&crm, &tenant, &sample())
        .await
        .expect("re-import");
    assert_eq!(again, first);
    assert_eq!(crm.all_leads(&tenant).await.expect("leads").len(), 8);

    // The same rows under another file key create nothing new either.
    let other = crm
        .import_csv(
            &tenant,
            &sample(),
            marketingforce::crm::model::Source::Import,
            &IdempotencyKey::from_static("another-key"),
        )
        .await
        .expect("import");
    assert_eq!((other.created, other.merged), (0, 0));
    assert_eq!(other.unchanged, 13);
    assert_eq!(other.rejected, 9);
    assert_eq!(crm.all_leads(&tenant).await.expect("leads").len(), 8);
}

#[tokio::test]
async fn the_printed_report_names_each_bad_line() {
    let (_, _, report) = imported().await;
    let text = import_leads::render("leads.csv", &report);
    assert!(text.starts_with(
        "leads.csv: 22 rows — 8 created, 4 merged into existing leads, 1 unchanged, 9 rejected\n"
    ));
    assert!(text.contains("  line   5 [mobile] invalid mobile: does not start with 13-19\n"));
    assert!(text.contains("  line   7 lead has no identity"));
    assert_eq!(text.lines().count(), 1 + REJECTED.len());
}

#[tokio::test]
async fn an_unusable_header_is_refused_naming_the_header() {
    let crm = crm();
    let tenant = TenantId::new();
    let csv = "name,phone_number\n张伟,13812345678\n";
    match import_leads::import(&crm, &tenant, csv).await {
        Err(e @ CrmError::Core(_)) => {
            assert_eq!(e.field(), Some("header"));
            assert!(
                e.to_string().contains("column 2 is not a known column"),
                "{e}"
            );
        }
        other => panic!("expected a header error, got {other:?}"),
    }
    assert!(crm.all_leads(&tenant).await.expect("leads").is_empty());
}
