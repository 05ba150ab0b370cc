//! Batch import of a CSV of leads into True Client (the CRM), reporting every bad row with its
//! line and reason and importing the rest.
//!
//! ```text
//! cargo run --example import_leads                      # the sample: examples/data/leads.csv
//! cargo run --example import_leads -- path/to/leads.csv
//! ```
//!
//! The file is UTF-8 with a header row; the known columns are `name, mobile, phone, email,
//! wecom_id, company, region, product` (`;`-separated), `campaign, source, platform`. What the
//! import does with each row:
//! - numbers are accepted as people type them (full-width digits, `+86`, spaces, dashes) and
//!   normalised, so `１３７００００５６７８` and `137 0000 5678` are the same person;
//! - a row matching an existing lead (same mobile, phone, email or WeCom id, or the same person
//!   at the same company) is merged into it; an identical row is recognised and changes nothing;
//! - a bad row (malformed phone or email, no identity at all, an unknown source, a wrong number
//!   of fields) is reported with its file line, the offending field and the reason, and the
//!   other rows go in.
//!
//! The import is idempotent: its key is a digest of the file, so importing the same file again
//! replays the first report and writes nothing.

use marketingforce_core::IdempotencyKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use marketingforce::core::storage::{Fingerprint, MemoryStore, Store};
use marketingforce::core::tenant::TenantId;
use marketingforce::crm::crypto::KeyRing;
use marketingforce::crm::model::Source;
use marketingforce::crm::{Crm, CrmError, ImportReport};

/// The sample file shipped with the example.
pub fn sample_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/leads.csv")
}

/// The import key of a file's contents: the same bytes give the same key, so a re-import is a
/// replay.
pub fn file_key(csv: &str) -> String {
    let digest = Fingerprint::of_bytes(csv.as_bytes());
    format!("leads-csv-{}", &digest.as_str()[..16])
}

/// Import `csv` into `tenant`'s leads (rows without a `source` count as `import`).
///
/// # Errors
/// A validation error on `header` when the header is unusable; storage errors. Bad rows are
/// not errors: they are in the report.
pub async fn import(crm: &Crm, tenant: &TenantId, csv: &str) -> Result<ImportReport, CrmError> {
    crm.import_csv(
        tenant,
        csv,
        Source::Import,
        &IdempotencyKey::new(file_key(csv)).unwrap(),
    )
    .await
}

/// The report as printed: the counts, then one line per rejected row.
pub fn render(file: &str, report: &ImportReport) -> String {
    let rows = report.created + report.merged + report.unchanged + report.rejected;
    let mut out = format!(
        "{file}: {rows} rows — {} created, {} merged into existing leads, {} unchanged, {} rejected\n",
        report.created, report.merged, report.unchanged, report.rejected
    );
    for e in &report.errors {
        match &e.field {
            Some(field) => out.push_str(&format!("  line {:>3} [{field}] {}\n", e.line, e.reason)),
            None => out.push_str(&format!("  line {:>3} {}\n", e.line, e.reason)),
        }
    }
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let path = std::env::args_os()
        .nth(1)
        .map_or_else(sample_path, PathBuf::from);
    let csv = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("import_leads: cannot read {}: {e}", path.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    // An in-memory store and a development key: swap in `SqliteStore`/`PostgresStore` and a
    // key from your key management to import for real.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let keys = Arc::new(KeyRing::new("dev", *b"marketingforce-dev-key-not-prod!"));
    let crm = match Crm::builder(
        &marketingforce_core::env::Env::builder(store)
            .keys(keys)
            .build(),
    )
    .build()
    {
        Ok(crm) => crm,
        Err(e) => {
            eprintln!("import_leads: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let tenant = TenantId::new();
    let report = match import(&crm, &tenant, &csv).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("import_leads: {}: {e}", path.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    print!("{}", render(&path.display().to_string(), &report));
    match crm.all_leads(&tenant).await {
        Ok(leads) => {
            let live = leads.iter().filter(|l| l.is_active()).count();
            println!("{live} live leads in the CRM");
        }
        Err(e) => eprintln!("import_leads: cannot count leads: {e}"),
    }
    std::process::ExitCode::SUCCESS
}
